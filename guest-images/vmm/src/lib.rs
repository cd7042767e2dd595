//! zxv-vmm: an EL1 host program for zxvisor that runs unmodified arm64
//! guests (Linux) with nothing but the zx hypervisor calls, the way
//! Fuchsia's VMM does: it lays out guest RAM, loads the kernel, initrd and a
//! device tree it writes, emulates the GIC distributor (and redistributors)
//! and a PL011 behind MEM traps, and time-slices its vCPUs on the physical
//! CPUs (vCPU i on CPU i mod N; one each when there are CPUs enough). It
//! runs several guests side by side, each with its own RAM, vCPUs, devices
//! and console.
//!
//! The modules at the top are pure logic, host-tested with `cargo test`; the
//! rest runs only on the target (bare-metal aarch64, under the monitor).
#![cfg_attr(not(test), no_std)]
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]
// Failures carry a fixed-size reason string; only failing paths pay for it.
#![allow(clippy::result_large_err)]

extern crate alloc;

pub mod canary;
pub mod config;
pub mod console_mux;
pub mod devmap;
pub mod exit_counts;
pub mod guest_console;
pub mod guest_dtb;
pub mod hostram;
pub mod image;
pub mod layout;
pub mod sched;
pub mod switch;
pub mod unclaimed;

/// Why something the VMM was asked to do cannot be done, in one line.
pub type Error = arrayvec::ArrayString<200>;

/// Formats an [`Error`]; text beyond its capacity is cut off.
pub fn error(args: core::fmt::Arguments) -> Error {
    let mut e = Error::new();
    let _ = core::fmt::Write::write_fmt(&mut e, args);
    e
}

#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => { $crate::error(format_args!($($arg)*)) };
}

/// Prints a VMM report line ([`output::report`]): on a line of its own,
/// never inside one of the guest's.
#[cfg(target_os = "none")]
macro_rules! report {
    ($($arg:tt)*) => { $crate::output::report(format_args!($($arg)*)) };
}

#[cfg(target_os = "none")]
mod bus;
#[cfg(target_os = "none")]
mod console_input;
#[cfg(target_os = "none")]
mod disk;
#[cfg(target_os = "none")]
mod enter;
#[cfg(target_os = "none")]
mod entropy;
#[cfg(target_os = "none")]
mod guest_copy;
#[cfg(target_os = "none")]
mod guest_net;
#[cfg(target_os = "none")]
mod guest_ram;
#[cfg(target_os = "none")]
mod heap;
#[cfg(target_os = "none")]
mod host_disk;
#[cfg(target_os = "none")]
mod host_net;
#[cfg(target_os = "none")]
mod host_virtio;
#[cfg(target_os = "none")]
mod kept_ram;
#[cfg(target_os = "none")]
mod machine;
#[cfg(target_os = "none")]
mod output;
#[cfg(any(test, target_os = "none"))]
mod phys_copy;
#[cfg(target_os = "none")]
mod runqueues;
#[cfg(target_os = "none")]
mod setup;
#[cfg(target_os = "none")]
mod start;
#[cfg(target_os = "none")]
mod stop;
#[cfg(target_os = "none")]
mod ticks;
#[cfg(target_os = "none")]
mod vcpus;
#[cfg(target_os = "none")]
mod vm;

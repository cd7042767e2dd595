//! The runtime every zxvisor EL1 program is built on (the default host with
//! the on-target suite, the VMM): the entry from the monitor's hand-off
//! (entry.S: stacks, FP/SIMD on, EL1 vectors), the polled PL011 console,
//! what the DTB says about the board, secondary CPUs started with PSCI and
//! given jobs, the host's own timer interrupt (the EL1h IRQ vector),
//! cache maintenance, fault-tolerant memory probes, and the profile-window
//! markers of scripts/profile.sh.
//!
//! A program links with `linker.ld` from this crate (its build.rs passes
//! `-T`) and defines the symbols entry.S calls:
//! - `extern "C" fn host_main(dtb: u64, resource: u64) -> !` on the boot CPU;
//! - `extern "C" fn el1_unexpected(esr: u64, elr: u64, far: u64) -> !` for
//!   any exception other than an IRQ the host timer handles;
//! - its `#[panic_handler]`.
//!
//! Bare-metal aarch64 only: built for the build machine the crate is empty.
#![cfg(target_os = "none")]
#![no_std]
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]
// Failures carry a fixed-size reason string; only failing paths pay for it.
#![allow(clippy::result_large_err)]

pub mod cache;
pub mod console;
pub mod cpus;
pub mod host_timer;
pub mod platform;
pub mod probe;
pub mod profile;
pub mod stack;

core::arch::global_asm!(include_str!("entry.S"));

/// A short message saying why something failed, formatted without a heap.
pub type Reason = arrayvec::ArrayString<160>;

/// Formats a [`Reason`]; text beyond its capacity is cut off.
pub fn reason(args: core::fmt::Arguments) -> Reason {
    let mut r = Reason::new();
    let _ = core::fmt::Write::write_fmt(&mut r, args);
    r
}

/// Entered from entry.S on a CPU started by [`cpus::start`].
#[no_mangle]
extern "C" fn host_secondary(index: u64) -> ! {
    cpus::secondary(index as usize)
}

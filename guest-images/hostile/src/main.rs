//! `zxv-hostile`: a raw-binary guest for the VMM that attacks every virtio device its device
//! tree lists through the virtio-mmio registers: malformed queues (descriptor indices out of
//! range, chains that loop, buffers past guest RAM or in device space, unaligned rings, bad
//! queue sizes), block requests the disk cannot serve, and stray register accesses. Each
//! case checks the outcome the device promises (docs/design.md, "Bad input from a guest"),
//! then that a reset brings the device back, and prints one line on the PL011:
//! `hostile: DEVICE.CASE ok` or `hostile: DEVICE.CASE FAIL why`; the last line counts them
//! (`hostile: N cases, M failed`) and the guest powers off with PSCI SYSTEM_OFF. With the
//! command line `scan` it scans its whole IPA space for anything but its own RAM and
//! devices instead (`scan.rs`); with `victim` it fills its RAM with canaries for another
//! guest's scan to look for (`victim.rs`; the command line's words: `mode.rs`).
//! Built for the build machine it is a stub saying how to build it.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod arch;
#[cfg(any(test, target_os = "none"))]
mod canary;
#[cfg(target_os = "none")]
mod cases;
#[cfg(target_os = "none")]
mod driver;
#[cfg(any(test, target_os = "none"))]
mod mode;
#[cfg(any(test, target_os = "none"))]
mod probes;
#[cfg(any(test, target_os = "none"))]
mod regions;
#[cfg(target_os = "none")]
mod scan;
#[cfg(any(test, target_os = "none"))]
mod victim;

/// The build machine's stand-in: says how to build the real program.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "zxv-hostile is a raw aarch64 guest binary: build it with `cargo build -p zxv-hostile --release --target aarch64-unknown-none` and `llvm-objcopy -O binary`"
    );
    std::process::exit(1);
}

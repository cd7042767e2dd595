//! The monitor binary: everything lives in the `el2` library; the entry
//! point `_start` is in its boot assembly. It runs only at EL2 on bare-metal
//! aarch64 (`--target aarch64-unknown-none-softfloat`); built for the build
//! machine it is a stub saying so.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate el2;

/// The build machine's stand-in: says how to build the real monitor.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "zxvisor runs at EL2 on bare-metal aarch64: build its image with scripts/qemu-run.sh (or the ELF alone with `cargo monitor`)"
    );
    std::process::exit(1);
}

//! The fuzzer binary: everything lives in the `zxv_fuzz` library, whose
//! `host_main` el1rt's entry calls. It runs only at EL1 under the monitor
//! (`--target aarch64-unknown-none`); built for the build machine it is a
//! stub saying so.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate zxv_fuzz;

/// The build machine's stand-in: says how to build and run the real fuzzer.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "zxv-fuzz is an EL1 program for zxvisor: build it with `cargo build -p zxv-fuzz --release --target aarch64-unknown-none`, run it with scripts/qemu-run.sh --host"
    );
    std::process::exit(1);
}

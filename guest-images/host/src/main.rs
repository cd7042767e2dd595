//! The default zxvisor host: an EL1 program that runs the on-target
//! conformance suite against the monitor's service calls, prints `ok NAME` /
//! `FAIL NAME: why` per test (`skip NAME: why` for one this machine cannot
//! run) and a closing `N passed, N failed` line (`, N skipped` appended when
//! some were skipped), and powers the machine off. On the command line (/chosen bootargs),
//! `zxv.test=reset` makes it end with PSCI SYSTEM_RESET instead, and
//! `zxv.bench` runs the benchmarks (scripts/bench.sh) instead of the suite,
//! `zxv.bench=NAME` only the one named (scripts/profile.sh).
//!
//! It runs only at EL1 under the monitor (`--target aarch64-unknown-none`);
//! built for the build machine it is a stub saying so.
#![cfg_attr(target_os = "none", no_std, no_main)]
// Test failures carry a fixed-size reason string; only failing paths pay for it.
#![allow(clippy::result_large_err)]

#[cfg(target_os = "none")]
mod bench;
#[cfg(target_os = "none")]
mod guest_code;
#[cfg(target_os = "none")]
mod suite;
#[cfg(target_os = "none")]
mod tests;

#[cfg(target_os = "none")]
use syscalls::{psci, Handle};

#[cfg(target_os = "none")]
use el1rt::{console, cpus, platform, println, probe};

#[cfg(target_os = "none")]
core::arch::global_asm!(include_str!("test_calls.S"));

/// The build machine's stand-in: says how to build and run the real host.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "zxv-host is an EL1 program for zxvisor: build it with `cargo host-image`, run it with `cargo run-host`"
    );
    std::process::exit(1);
}

/// Entered from el1rt's entry.S on the boot CPU with the monitor's hand-off.
#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn host_main(dtb: u64, resource: u64) -> ! {
    let board = platform::Board::from_dtb(dtb);
    console::init(board.uart);
    println!(
        "zxvisor host: DTB at {dtb:#x}, resource handle {resource:#x}, {} CPUs",
        board.cpus.len()
    );
    let arg = |a: &str| board.bootargs.split_whitespace().any(|b| b == a);
    let resource = Handle::from_raw(resource as u32);
    let bench = board.bootargs.split_whitespace().find_map(|b| match b {
        "zxv.bench" => Some(None),
        _ => b.strip_prefix("zxv.bench=").map(Some),
    });
    if let Some(only) = bench {
        bench::run(resource, &board, only);
    } else {
        let mut suite = suite::Suite::default();
        tests::run_all(&mut suite, &board, resource);
        if suite.skipped > 0 {
            println!(
                "{} passed, {} failed, {} skipped",
                suite.passed, suite.failed, suite.skipped
            );
        } else {
            println!("{} passed, {} failed", suite.passed, suite.failed);
        }
    }
    let reset = arg("zxv.test=reset");
    let fid = if reset {
        psci::SYSTEM_RESET
    } else {
        psci::SYSTEM_OFF
    };
    // SAFETY: SYSTEM_OFF/RESET end the machine; nothing is left to run.
    unsafe { syscalls::client::psci_call(fid, 0, 0, 0) };
    panic!("PSCI {fid:#x} returned")
}

/// An exception the host did not expect: report it and stop.
#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn el1_unexpected(esr: u64, elr: u64, far: u64) -> ! {
    console::print_unlocked(format_args!(
        "\nFAIL host: unexpected exception ESR {esr:#x} ELR {elr:#x} FAR {far:#x}\n"
    ));
    suite::abort()
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    console::print_unlocked(format_args!("\nFAIL host: panic: {info}\n"));
    suite::abort()
}

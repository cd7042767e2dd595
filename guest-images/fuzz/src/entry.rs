//! The fuzzer's entry from el1rt on the boot CPU, and what ends it early:
//! a command line it cannot use, an exception or a panic in the fuzzer
//! itself (each a failed test, then the closing line and SYSTEM_OFF).

use crate::config;
use el1rt::platform::Board;
use el1rt::{console, println};
use syscalls::psci;

fn fail_and_stop(args: core::fmt::Arguments) -> ! {
    console::print_unlocked(format_args!(
        "\nFAIL fuzz_host: {args}\n0 passed, 1 failed\n"
    ));
    // SAFETY: SYSTEM_OFF ends the machine.
    unsafe { syscalls::client::psci_call(psci::SYSTEM_OFF, 0, 0, 0) };
    loop {
        core::hint::spin_loop();
    }
}

/// Entered from el1rt's entry.S on the boot CPU with the monitor's hand-off.
#[no_mangle]
extern "C" fn host_main(dtb: u64, resource: u64) -> ! {
    let board = Board::from_dtb(dtb);
    console::init(board.uart);
    println!(
        "zxv-fuzz: DTB at {dtb:#x}, resource handle {resource:#x}, {} CPUs",
        board.cpus.len()
    );
    match config::parse(board.bootargs) {
        Ok(config) => crate::run::run(&board, resource as u32, config),
        Err(e) => fail_and_stop(format_args!("{e}")),
    }
}

/// An exception the fuzzer did not expect: the monitor reflected
/// something to the host that it should not have, or the fuzzer broke.
#[no_mangle]
extern "C" fn el1_unexpected(esr: u64, elr: u64, far: u64) -> ! {
    fail_and_stop(format_args!(
        "unexpected exception ESR {esr:#x} ELR {elr:#x} FAR {far:#x}"
    ))
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    fail_and_stop(format_args!("panic: {info}"))
}

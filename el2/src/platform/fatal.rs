//! The end of the line: reports that stop the machine, with a failing exit
//! code under QEMU (semihosting), else powered off the platform's way (PSCI
//! SYSTEM_OFF or the PM watchdog), else a halt.

use crate::arch::{self, semihosting};
use crate::platform::console::print_unlocked;
use crate::platform::power::{self, Request};
use vcpu::regs::RegisterFile;

/// Stops the machine, reporting `code` to QEMU when it listens.
pub fn stop(code: u32) -> ! {
    semihosting::exit(code);
    power::request(Request::Off);
    arch::halt()
}

/// Prints an unexpected exception with the full register state and stops.
pub fn exception(what: &str, frame: &RegisterFile, esr: u64, far: u64) -> ! {
    let cpu = crate::platform::percpu::current();
    print_unlocked(format_args!(
        "\n*** zxvisor: {what} on cpu{cpu}\n    {:?}\n",
        vcpu::esr::Esr(esr)
    ));
    print_unlocked(format_args!(
        "    FAR {far:#018x}  ELR {:#018x}  SPSR {:#x}\n",
        frame.pc, frame.pstate
    ));
    for (i, pair) in frame.x.chunks(4).enumerate() {
        print_unlocked(format_args!("   "));
        for (j, x) in pair.iter().enumerate() {
            print_unlocked(format_args!(" x{:<2} {x:#018x}", i * 4 + j));
        }
        print_unlocked(format_args!("\n"));
    }
    stop(1)
}

/// The monitor's panic handler (the build machine's tests have std's).
#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let cpu = crate::platform::percpu::current();
    match info.location() {
        Some(l) => print_unlocked(format_args!(
            "\n*** zxvisor panic on cpu{cpu} at {}:{}: {}\n",
            l.file(),
            l.line(),
            info.message()
        )),
        None => print_unlocked(format_args!(
            "\n*** zxvisor panic on cpu{cpu}: {}\n",
            info.message()
        )),
    }
    stop(1)
}

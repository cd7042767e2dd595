//! Ending the machine once the guest is over: PSCI SYSTEM_OFF after a clean
//! stop, SYSTEM_RESET after the guest's reset, and for a failure an Arm
//! semihosting exit with status 1 (QEMU `-semihosting`), falling back to
//! SYSTEM_OFF where nobody listens.

use core::arch::asm;
use syscalls::psci;

/// `hlt #0xf000`, the A64 semihosting call.
const SEMIHOSTING_HLT: u32 = 0xd45e_0000;
/// SYS_EXIT with ADP_Stopped_ApplicationExit.
const SYS_EXIT: u64 = 0x18;
const APPLICATION_EXIT: u64 = 0x2_0026;

extern "C" {
    /// The VMM's code, from el1rt's linker script.
    static __text_start: [u8; 0];
    static __text_end: [u8; 0];
}

/// Whether the exception at `elr` is a semihosting call on a machine
/// without semihosting (the instruction is undefined there). Only an
/// `elr` inside the VMM's own code is read: after an instruction abort it
/// may be any address, and reading it would fault again.
pub fn is_semihosting_trap(elr: u64) -> bool {
    let text = core::ptr::addr_of!(__text_start) as u64..core::ptr::addr_of!(__text_end) as u64;
    let in_text = elr.is_multiple_of(4) && text.contains(&elr) && elr + 4 <= text.end;
    // SAFETY: `elr` is an aligned word inside the VMM's own code, which is
    // mapped and readable (the MMU is off; el1rt never writes over it).
    in_text && unsafe { core::ptr::read_volatile(elr as *const u32) } == SEMIHOSTING_HLT
}

fn psci_end(fid: u32) -> ! {
    // SAFETY: SYSTEM_OFF and SYSTEM_RESET end the machine; nothing is left
    // to run.
    unsafe { syscalls::client::psci_call(fid, 0, 0, 0) };
    loop {
        // SAFETY: waiting for an interrupt has no effect on program state.
        unsafe { asm!("wfi") };
    }
}

pub fn power_off() -> ! {
    psci_end(psci::SYSTEM_OFF)
}

pub fn reset() -> ! {
    psci_end(psci::SYSTEM_RESET)
}

/// Ends the machine with a failing exit status.
pub fn fail() -> ! {
    let block = [APPLICATION_EXIT, 1];
    // SAFETY: the semihosting call reads `block`, which outlives it; without
    // semihosting the HLT traps and `el1_unexpected` powers off.
    unsafe { asm!("hlt #0xf000", in("x0") SYS_EXIT, in("x1") block.as_ptr()) };
    power_off()
}

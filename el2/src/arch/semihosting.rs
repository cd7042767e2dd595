//! Arm semihosting exit, so a QEMU run ends with the monitor's verdict as its
//! exit code. Without a semihosting host the HLT is undefined; the EL2 fault
//! handler recognises `semihosting_trap` and skips it, and we return.

#[cfg(target_arch = "aarch64")]
const SYS_EXIT: u64 = 0x18;
#[cfg(target_arch = "aarch64")]
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".global semihosting_call",
    ".global semihosting_trap",
    "semihosting_call:",
    "semihosting_trap:",
    "    hlt #0xf000",
    "    ret",
);

#[cfg(target_arch = "aarch64")]
extern "C" {
    fn semihosting_call(op: u64, block: *const u64) -> u64;
    static semihosting_trap: u8;
}

/// Asks the debugger/emulator to exit with `code`. Returns if nobody listens.
#[cfg(target_arch = "aarch64")]
pub fn exit(code: u32) {
    let block = [ADP_STOPPED_APPLICATION_EXIT, code as u64];
    // SAFETY: the HLT either performs the semihosting call on `block` (which
    // stays alive across it) or traps to our handler, which skips it.
    unsafe { semihosting_call(SYS_EXIT, block.as_ptr()) };
}

/// Address of the HLT instruction, for the fault handler.
#[cfg(target_arch = "aarch64")]
pub fn trap_address() -> u64 {
    // SAFETY: only the address of the assembly label is taken.
    unsafe { &semihosting_trap as *const u8 as u64 }
}

/// The build machine has no semihosting host: nobody listens.
#[cfg(not(target_arch = "aarch64"))]
pub fn exit(_code: u32) {}

/// The build machine's HLT is nowhere.
#[cfg(not(target_arch = "aarch64"))]
pub fn trap_address() -> u64 {
    0
}

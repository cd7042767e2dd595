//! Calls into the platform firmware (PSCI at EL3) through SMC.

/// An SMCCC fast call with up to three arguments; returns x0.
#[cfg(target_arch = "aarch64")]
pub fn smc(function: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    let ret: i64;
    // SAFETY: an SMCCC 1.1 call preserves x4-x17 (we clobber them anyway for
    // older firmware) and does not touch our memory.
    unsafe {
        core::arch::asm!("smc #0",
            inlateout("x0") function as u64 => ret,
            inlateout("x1") a1 => _, inlateout("x2") a2 => _, inlateout("x3") a3 => _,
            lateout("x4") _, lateout("x5") _, lateout("x6") _, lateout("x7") _,
            lateout("x8") _, lateout("x9") _, lateout("x10") _, lateout("x11") _,
            lateout("x12") _, lateout("x13") _, lateout("x14") _, lateout("x15") _,
            lateout("x16") _, lateout("x17") _,
            options(nostack));
    }
    ret
}

/// The build machine has no firmware: every call is SMCCC NOT_SUPPORTED.
#[cfg(not(target_arch = "aarch64"))]
pub fn smc(_function: u32, _a1: u64, _a2: u64, _a3: u64) -> i64 {
    syscalls::ids::SMCCC_NOT_SUPPORTED
}

//! One service call as the fuzzer makes it: `hvc #0` with x0..x6 set, and
//! x7..x17 holding values the monitor must give back (docs/abi.md §2: only
//! x0..x2 are outputs), checked afterwards. Never retried, so the fuzzer
//! sees INTERNAL_INTR_RETRY.

use core::arch::asm;
use syscalls::Status;

/// What a call left in the registers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ret {
    pub x0: u64,
    pub x1: u64,
    pub x2: u64,
    /// The first of x3..x17 that came back changed: (register, value).
    pub clobbered: Option<(u8, u64)>,
}

impl Ret {
    pub fn status(&self) -> Status {
        Status::from_raw(self.x0 as i32)
    }

    /// x0 is a sign-extended 32-bit status (docs/abi.md §2).
    pub fn sign_extended(&self) -> bool {
        self.x0 as i32 as i64 as u64 == self.x0
    }
}

/// The value x`n` (7..=17) carries through a call.
fn marker(n: u64) -> u64 {
    0x5A5A_0000_0000_0000 | n << 32 | n
}

/// Makes the call `id` once.
///
/// # Safety
///
/// Every pointer among `args` must be valid for what call `id` writes
/// through it, or be one the monitor must refuse (outside host RAM); calls
/// the fuzzer makes never start code (no PSCI).
pub unsafe fn call(id: u32, args: [u64; 6]) -> Ret {
    let (x0, x1, x2, x3, x4, x5, x6): (u64, u64, u64, u64, u64, u64, u64);
    let (x7, x8, x9, x10, x11, x12, x13, x14, x15, x16, x17): (
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
    );
    // SAFETY: `hvc #0` traps to the monitor, which reads x0..x6, writes
    // x0..x2 and returns after the hvc; every register it could change is
    // an output here, x18..x30 and SP are the ABI's to keep, and memory
    // behind the pointers is the caller's contract (not `nomem`).
    unsafe {
        asm!(
            "hvc #0",
            inlateout("x0") u64::from(id) => x0,
            inlateout("x1") args[0] => x1,
            inlateout("x2") args[1] => x2,
            inlateout("x3") args[2] => x3,
            inlateout("x4") args[3] => x4,
            inlateout("x5") args[4] => x5,
            inlateout("x6") args[5] => x6,
            inlateout("x7") marker(7) => x7,
            inlateout("x8") marker(8) => x8,
            inlateout("x9") marker(9) => x9,
            inlateout("x10") marker(10) => x10,
            inlateout("x11") marker(11) => x11,
            inlateout("x12") marker(12) => x12,
            inlateout("x13") marker(13) => x13,
            inlateout("x14") marker(14) => x14,
            inlateout("x15") marker(15) => x15,
            inlateout("x16") marker(16) => x16,
            inlateout("x17") marker(17) => x17,
            options(nostack),
        );
    }
    let kept = [
        (3, x3, args[2]),
        (4, x4, args[3]),
        (5, x5, args[4]),
        (6, x6, args[5]),
        (7, x7, marker(7)),
        (8, x8, marker(8)),
        (9, x9, marker(9)),
        (10, x10, marker(10)),
        (11, x11, marker(11)),
        (12, x12, marker(12)),
        (13, x13, marker(13)),
        (14, x14, marker(14)),
        (15, x15, marker(15)),
        (16, x16, marker(16)),
        (17, x17, marker(17)),
    ];
    let clobbered = kept
        .iter()
        .find(|(_, got, want)| got != want)
        .map(|&(n, got, _)| (n, got));
    Ret {
        x0,
        x1,
        x2,
        clobbered,
    }
}

/// `hvc` with a non-zero immediate: not a service call (SMCCC
/// NOT_SUPPORTED in x0, everything else kept).
pub fn hvc_imm1(x0: u64) -> u64 {
    let out: u64;
    // SAFETY: the monitor answers any hvc with a non-zero immediate with
    // NOT_SUPPORTED in x0 and touches nothing else; x1..x17 are declared
    // clobbered all the same.
    unsafe {
        asm!("hvc #1", inlateout("x0") x0 => out,
             lateout("x1") _, lateout("x2") _, lateout("x3") _, lateout("x4") _, lateout("x5") _,
             lateout("x6") _, lateout("x7") _, lateout("x8") _, lateout("x9") _, lateout("x10") _,
             lateout("x11") _, lateout("x12") _, lateout("x13") _, lateout("x14") _, lateout("x15") _,
             lateout("x16") _, lateout("x17") _, options(nostack));
    }
    out
}

//! The generic counter (monotonic time for deadlines, in ticks and in ns),
//! the guest's virtual timer as the monitor sees it while the guest's EL1
//! context is loaded (CNTV_CTL/CVAL hold the guest's values, CNTVOFF is 0),
//! and the EL2 physical timer (CNTHP) the monitor sets to a guest timer
//! deadline: while it waits in WFI for that guest, and while the guest runs
//! with its emulated EL1 physical timer (ptimer.rs) enabled.

use crate::arch::sysreg::CNTHP_CVAL_EL2;
use aarch64_cpu::registers::{
    Readable, Writeable, CNTFRQ_EL0, CNTHP_CTL_EL2, CNTPCT_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0,
};

const ENABLE: u64 = 1 << 0;
const IMASK: u64 = 1 << 1;
const ISTATUS: u64 = 1 << 2;

/// The guest's timer condition is met and not masked: PPI 27 is due.
pub fn guest_timer_asserted() -> bool {
    CNTV_CTL_EL0.get() & (ENABLE | IMASK | ISTATUS) == ENABLE | ISTATUS
}

/// The guest timer's deadline in counter ticks, if it is enabled and unmasked.
pub fn guest_deadline() -> Option<u64> {
    (CNTV_CTL_EL0.get() & (ENABLE | IMASK) == ENABLE).then(|| CNTV_CVAL_EL0.get())
}

/// Whether the counter has reached `deadline`.
pub fn passed(deadline: u64) -> bool {
    crate::arch::insn::isb();
    CNTPCT_EL0.get() >= deadline
}

/// Fires the EL2 timer interrupt at `deadline` (wakes a WFI in EL2).
pub fn arm_hyp_timer(deadline: u64) {
    CNTHP_CVAL_EL2.set(deadline);
    CNTHP_CTL_EL2.set(ENABLE);
}

pub fn disarm_hyp_timer() {
    CNTHP_CTL_EL2.set(0);
}

/// Monotonic time in ns: CNTPCT scaled by CNTFRQ (docs/abi.md §2), saturating
/// into i64 like Zircon's zx_time_t.
pub fn now_ns() -> i64 {
    let ticks = now() as u128;
    let ns = ticks * 1_000_000_000 / CNTFRQ_EL0.get().max(1) as u128;
    ns.min(i64::MAX as u128) as i64
}

/// The counter now (CNTPCT_EL0, which guests read untrapped too).
pub fn now() -> u64 {
    crate::arch::insn::isb();
    CNTPCT_EL0.get()
}

/// The EL2 timer as one run of a guest sets it for the guest's emulated
/// physical timer: written only when the deadline changes.
#[derive(Default)]
pub struct HypTimer {
    armed: Option<u64>,
}

impl HypTimer {
    pub fn arm(&mut self, deadline: u64) {
        if self.armed != Some(deadline) {
            arm_hyp_timer(deadline);
            self.armed = Some(deadline);
        }
    }

    pub fn disarm(&mut self) {
        if self.armed.take().is_some() {
            disarm_hyp_timer();
        }
    }
}

//! Monotonic time for deadlines (the generic counter in ns) and whether the
//! host has an interrupt waiting while the monitor holds its CPU.

use aarch64_cpu::registers::{Readable, CNTFRQ_EL0, CNTPCT_EL0};
use core::arch::asm;

/// Monotonic time in ns: CNTPCT scaled by CNTFRQ (docs/abi.md §2), saturating
/// into i64 like Zircon's zx_time_t.
pub fn now_ns() -> i64 {
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    let ticks = CNTPCT_EL0.get() as u128;
    let ns = ticks * 1_000_000_000 / CNTFRQ_EL0.get().max(1) as u128;
    ns.min(i64::MAX as u128) as i64
}

/// Whether a physical IRQ or FIQ is pending for the host (ISR_EL1, which at
/// EL2 with HCR_EL2.IMO/FMO clear shows the physical interrupt lines).
pub fn host_interrupt_pending() -> bool {
    let isr: u64;
    // SAFETY: reading ISR_EL1 has no side effects.
    unsafe { asm!("mrs {}, isr_el1", out(reg) isr, options(nomem, nostack)) };
    isr & (0b11 << 6) != 0
}

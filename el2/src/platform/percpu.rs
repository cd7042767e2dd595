//! Per-CPU state: which CPU we are (TPIDR_EL2 holds the index) and each
//! CPU's power state and pending host entry for PSCI CPU_ON.

use crate::arch::sysreg::TPIDR_EL2;
use crate::platform::MAX_CPUS;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// PSCI AFFINITY_INFO values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Power {
    On = 0,
    Off = 1,
    OnPending = 2,
}

pub struct CpuSlot {
    power: AtomicU8,
    /// Where the host asked this CPU to start, and its context id.
    entry: AtomicU64,
    context: AtomicU64,
}

pub static CPUS: [CpuSlot; MAX_CPUS] = [const {
    CpuSlot {
        power: AtomicU8::new(Power::Off as u8),
        entry: AtomicU64::new(0),
        context: AtomicU64::new(0),
    }
}; MAX_CPUS];

impl CpuSlot {
    pub fn power(&self) -> Power {
        match self.power.load(Ordering::Acquire) {
            0 => Power::On,
            2 => Power::OnPending,
            _ => Power::Off,
        }
    }

    pub fn set_power(&self, p: Power) {
        self.power.store(p as u8, Ordering::Release);
    }

    /// Records where the host wants this CPU to start (before it is started).
    pub fn set_start(&self, entry: u64, context: u64) {
        self.entry.store(entry, Ordering::Relaxed);
        self.context.store(context, Ordering::Release);
    }

    pub fn entry(&self) -> u64 {
        self.entry.load(Ordering::Relaxed)
    }

    pub fn context(&self) -> u64 {
        self.context.load(Ordering::Acquire)
    }

    /// Claims an OFF CPU for starting; false when it is not OFF.
    pub fn claim_for_start(&self) -> bool {
        self.power
            .compare_exchange(
                Power::Off as u8,
                Power::OnPending as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }
}

/// Index of the running CPU. (Masked to MAX_CPUS, a power of two, which
/// changes nothing, as `set_current` stores an index below it, but tells
/// the compiler so: the per-CPU arrays are indexed without a bounds check.)
#[inline(always)]
pub fn current() -> usize {
    TPIDR_EL2.get() as usize & (MAX_CPUS - 1)
}

const _: () = assert!(MAX_CPUS.is_power_of_two());

pub fn set_current(index: usize) {
    assert!(index < MAX_CPUS, "CPU index {index} out of range");
    TPIDR_EL2.set(index as u64);
}

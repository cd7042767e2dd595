//! Secondary CPUs the suite starts with PSCI CPU_ON: each makes a service
//! call, reports back, and waits to be told to turn itself off.

use crate::platform::MAX_CPUS;
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

const IDLE: u32 = 0;
const UP: u32 = 1;
const OFF_REQUESTED: u32 = 2;

pub struct Report {
    state: AtomicU32,
    pub mpidr: AtomicU64,
    /// Status of the service call the CPU made (zxv_info).
    pub status: AtomicI32,
    /// num_cpus that call returned.
    pub num_cpus: AtomicU32,
}

pub static REPORTS: [Report; MAX_CPUS] = [const {
    Report {
        state: AtomicU32::new(IDLE),
        mpidr: AtomicU64::new(0),
        status: AtomicI32::new(0),
        num_cpus: AtomicU32::new(0),
    }
}; MAX_CPUS];

extern "C" {
    fn secondary_start();
}

/// Where PSCI CPU_ON should start a secondary (x0 = its index).
pub fn entry_address() -> u64 {
    secondary_start as *const () as u64
}

impl Report {
    pub fn reset(&self) {
        self.state.store(IDLE, Ordering::SeqCst);
    }

    pub fn is_up(&self) -> bool {
        self.state.load(Ordering::SeqCst) == UP
    }

    pub fn request_off(&self) {
        self.state.store(OFF_REQUESTED, Ordering::SeqCst);
    }
}

pub fn secondary(index: usize) -> ! {
    let report = &REPORTS[index];
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { core::arch::asm!("mrs {}, mpidr_el1", out(reg) mpidr) };
    report.mpidr.store(mpidr & 0xff_00ff_ffff, Ordering::SeqCst);
    match syscalls::client::zxv_info() {
        Ok(info) => {
            report.num_cpus.store(info.num_cpus, Ordering::SeqCst);
            report.status.store(0, Ordering::SeqCst);
        }
        Err(s) => report.status.store(s.into_raw(), Ordering::SeqCst),
    }
    report.state.store(UP, Ordering::SeqCst);
    while report.state.load(Ordering::SeqCst) != OFF_REQUESTED {
        core::hint::spin_loop();
    }
    report.state.store(IDLE, Ordering::SeqCst);
    // SAFETY: CPU_OFF stops this CPU; it only returns on failure.
    let ret = unsafe { syscalls::client::psci_call(syscalls::psci::CPU_OFF, 0, 0, 0) };
    panic!("PSCI CPU_OFF returned {ret}")
}

/// Waits up to `ms` milliseconds (generic counter) for `cond`.
pub fn wait_for(ms: u64, cond: impl Fn() -> bool) -> bool {
    let (freq, start): (u64, u64);
    // SAFETY: reading the counter and its frequency has no side effects.
    unsafe {
        core::arch::asm!("mrs {}, cntfrq_el0", out(reg) freq);
        core::arch::asm!("isb", "mrs {}, cntpct_el0", out(reg) start);
    }
    loop {
        if cond() {
            return true;
        }
        let now: u64;
        // SAFETY: as above.
        unsafe { core::arch::asm!("isb", "mrs {}, cntpct_el0", out(reg) now) };
        if now - start > freq / 1000 * ms {
            return false;
        }
        core::hint::spin_loop();
    }
}

//! Secondary CPUs a program starts with PSCI CPU_ON: each makes a service
//! call, reports back, then runs the jobs it is given until it is told to
//! turn itself off.

use crate::platform::{Board, MAX_CPUS};
use crate::{reason, Reason};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use syscalls::psci;

const IDLE: u32 = 0;
const UP: u32 = 1;
const OFF_REQUESTED: u32 = 2;

/// Work for a secondary CPU: called with the argument given to [`run_on`];
/// returns a result code for [`wait_job`].
pub type Job = fn(usize) -> i32;

pub struct Report {
    state: AtomicU32,
    pub mpidr: AtomicU64,
    /// Status of the service call the CPU made (zxv_info).
    pub status: AtomicI32,
    /// num_cpus that call returned.
    pub num_cpus: AtomicU32,
    job: spin::Mutex<Option<(Job, usize)>>,
    job_done: AtomicBool,
    job_result: AtomicI32,
}

pub static REPORTS: [Report; MAX_CPUS] = [const {
    Report {
        state: AtomicU32::new(IDLE),
        mpidr: AtomicU64::new(0),
        status: AtomicI32::new(0),
        num_cpus: AtomicU32::new(0),
        job: spin::Mutex::new(None),
        job_done: AtomicBool::new(false),
        job_result: AtomicI32::new(0),
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
        let job = report.job.lock().take();
        if let Some((job, arg)) = job {
            report.job_result.store(job(arg), Ordering::SeqCst);
            report.job_done.store(true, Ordering::SeqCst);
        }
        core::hint::spin_loop();
    }
    report.state.store(IDLE, Ordering::SeqCst);
    // SAFETY: CPU_OFF stops this CPU; it only returns on failure.
    let ret = unsafe { syscalls::client::psci_call(psci::CPU_OFF, 0, 0, 0) };
    panic!("PSCI CPU_OFF returned {ret}")
}

/// PSCI AFFINITY_INFO says the CPU is OFF.
fn is_off(mpidr: u64) -> bool {
    // SAFETY: AFFINITY_INFO is a query.
    let r = unsafe { syscalls::client::psci_call(psci::AFFINITY_INFO_64, mpidr, 0, 0) };
    r == psci::AFFINITY_OFF
}

/// Starts CPU `index` of the board unless it is already up and waiting for
/// work.
pub fn start(board: &Board, index: usize) -> Result<(), Reason> {
    let Some(&mpidr) = board.cpus.get(index) else {
        return Err(reason(format_args!(
            "needs CPU {index}, the board has {} (run with -smp 2 or more)",
            board.cpus.len()
        )));
    };
    let report = &REPORTS[index];
    if report.is_up() {
        return Ok(());
    }
    let off = wait_for(2000, || is_off(mpidr));
    if !off {
        return Err(reason(format_args!(
            "CPU {index} is neither OFF nor waiting for work"
        )));
    }
    report.reset();
    power_on(mpidr, index)?;
    if !wait_for(2000, || report.is_up()) {
        return Err(reason(format_args!(
            "CPU {index} did not come up within 2 s"
        )));
    }
    Ok(())
}

/// PSCI CPU_ON of CPU `index` (MPIDR `mpidr`) at the secondary entry.
fn power_on(mpidr: u64, index: usize) -> Result<(), Reason> {
    // SAFETY: the CPU starts at the program's own secondary entry point,
    // which sets up its own stack and only runs `secondary`.
    let r = unsafe {
        syscalls::client::psci_call(psci::CPU_ON_64, mpidr, entry_address(), index as u64)
    };
    if r != psci::SUCCESS {
        return Err(reason(format_args!("CPU_ON({mpidr:#x}) = {r}, want 0")));
    }
    Ok(())
}

/// Makes CPU `index` run `job(arg)`: hands it over if the CPU is up and
/// waiting for work, else powers the CPU on with the job waiting for it.
/// Does not wait for the CPU (a program that must not spin while the CPU
/// starts).
pub fn launch(board: &Board, index: usize, job: Job, arg: usize) -> Result<(), Reason> {
    let Some(&mpidr) = board.cpus.get(index) else {
        return Err(reason(format_args!(
            "no CPU {index}: the board has {}",
            board.cpus.len()
        )));
    };
    let report = &REPORTS[index];
    run_on(index, job, arg);
    if report.is_up() {
        return Ok(());
    }
    report.reset();
    power_on(mpidr, index)
}

/// Turns off every secondary CPU that is up, waiting up to 2 s for each.
pub fn stop_all(board: &Board) {
    for (index, &mpidr) in board.cpus.iter().enumerate().skip(1) {
        if REPORTS[index].is_up() {
            REPORTS[index].request_off();
            wait_for(2000, || is_off(mpidr));
        }
    }
}

/// Hands `job(arg)` to CPU `index`, which must be up ([`start`]).
pub fn run_on(index: usize, job: Job, arg: usize) {
    let report = &REPORTS[index];
    report.job_done.store(false, Ordering::SeqCst);
    *report.job.lock() = Some((job, arg));
}

/// The result of the job last given to CPU `index`, or None if it has not
/// finished within `ms` milliseconds.
pub fn wait_job(index: usize, ms: u64) -> Option<i32> {
    let report = &REPORTS[index];
    wait_for(ms, || report.job_done.load(Ordering::SeqCst))
        .then(|| report.job_result.load(Ordering::SeqCst))
}

/// Waits up to `ms` milliseconds (generic counter) for `cond`, with a
/// YIELD between two tries: a hint that does nothing on hardware, but on
/// QEMU's one-thread round-robin TCG (`-icount`) it ends this CPU's time
/// slice, so that the CPU being waited for runs at once. That is what makes
/// the cross-CPU benchmark's figure the instructions of the path itself
/// rather than of this loop.
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
        // SAFETY: YIELD is a hint with no effect on program state.
        unsafe { core::arch::asm!("yield", options(nomem, nostack, preserves_flags)) };
    }
}

//! How guests end, and the machine with the last of them. A guest ends on
//! PSCI SYSTEM_OFF or SYSTEM_RESET, when every vCPU of it turned off, or
//! when it failed: the first vCPU to see it reports why, from which vCPU,
//! the exits by kind (and for a failure the guest's last console lines),
//! and marks the guest ending; its other vCPUs are kicked and closed at
//! their next turns (vcpus.rs). Once the last is closed, a guest that reset
//! while others run is started again (its devices reset, its kernel, initrd
//! and DTB loaded again; its disks keep what was written); any other is
//! over. The machine ends with the last guest: powered off (or, for a
//! single guest's reset, reset), or ended with a failing status if any
//! guest failed. A failure of the VMM itself (set-up, the watchdog) ends
//! the machine at once, after a report on every guest still running.

use crate::vm::{self, GuestVm};
use crate::{machine, vcpus, Error};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub enum Stop {
    /// PSCI SYSTEM_OFF from this vCPU.
    SystemOff(usize),
    /// PSCI SYSTEM_RESET from this vCPU.
    SystemReset(usize),
    /// Every vCPU turned itself off.
    AllOff,
    Failed(Error),
}

/// Where a guest stands.
pub struct Life {
    /// Its end was reported; its vCPUs close at their next turns.
    ending: AtomicBool,
    /// It ends with a reset and starts again.
    restarts: AtomicBool,
}

impl Life {
    pub const fn new() -> Self {
        Life {
            ending: AtomicBool::new(false),
            restarts: AtomicBool::new(false),
        }
    }

    pub fn is_ending(&self) -> bool {
        self.ending.load(Ordering::SeqCst)
    }
}

/// Guests not over yet (restarting ones count).
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// A guest failed: the machine ends with a failing status.
static FAILED: AtomicBool = AtomicBool::new(false);
/// The machine is ending: one CPU does it, any other waits.
static ENDING: AtomicBool = AtomicBool::new(false);

/// The guests are set up: `n` of them run.
pub fn running(n: usize) {
    RUNNING.store(n, Ordering::SeqCst);
}

/// Guest `g` ends for `stop` (a later call for it does nothing). The last
/// guest running ends the machine now, unless it is to start again.
pub fn guest(g: &'static GuestVm, stop: Stop) {
    if g.life.ending.swap(true, Ordering::SeqCst) {
        return;
    }
    let restarts = matches!(stop, Stop::SystemReset(_)) && vm::get().guests.len() > 1;
    g.life.restarts.store(restarts, Ordering::SeqCst);
    if matches!(stop, Stop::Failed(_)) {
        FAILED.store(true, Ordering::SeqCst);
    }
    report(g, &stop);
    if !restarts && RUNNING.load(Ordering::SeqCst) == 1 {
        finish(&stop);
    }
    vcpus::stop_all(g);
}

/// Every vCPU of guest `g` is closed: it ended (reported here if nobody
/// did, when its vCPUs all turned themselves off), and starts again or is
/// over.
pub fn all_off(g: &'static GuestVm) {
    guest(g, Stop::AllOff);
    if g.life.restarts.load(Ordering::SeqCst) {
        report!("vmm: guest {}: restarting", g.config.name);
        g.devices.reset();
        g.guest.load();
        g.life.restarts.store(false, Ordering::SeqCst);
        g.life.ending.store(false, Ordering::SeqCst);
        vcpus::boot(g);
        return;
    }
    let left = RUNNING.fetch_sub(1, Ordering::SeqCst) - 1;
    report!(
        "vmm: guest {}: stopped; {left} guest{} still running",
        g.config.name,
        if left == 1 { "" } else { "s" }
    );
    if left == 0 {
        finish(&Stop::AllOff);
    }
}

/// What is said when guest `g` ends for `stop`.
fn report(g: &GuestVm, stop: &Stop) {
    let name = g.config.name;
    g.devices.flush_open_line();
    match stop {
        Stop::SystemOff(i) => report!("vmm: guest {name}: SYSTEM_OFF from vCPU {i}"),
        Stop::SystemReset(i) if g.life.restarts.load(Ordering::SeqCst) => {
            report!("vmm: guest {name}: SYSTEM_RESET from vCPU {i}")
        }
        Stop::SystemReset(i) => {
            report!("vmm: guest {name}: SYSTEM_RESET from vCPU {i}; resetting the machine")
        }
        Stop::AllOff => report!("vmm: guest {name}: every vCPU is off"),
        Stop::Failed(why) => report!("vmm: guest {name} failed: {why}"),
    }
    let mut summary = arrayvec::ArrayString::<512>::new();
    let _ = vcpus::exit_summary(g).write(name, &mut summary);
    report!("{}", summary.trim_end());
    g.devices.net_report();
    if matches!(stop, Stop::Failed(_)) {
        g.devices.last_lines();
    }
}

/// A failure of the VMM itself: every guest still running is reported
/// failed with it, and the machine ends.
pub fn fail(why: Error) -> ! {
    match vm::try_get() {
        Some(vm) => {
            let stop = Stop::Failed(why);
            for g in &vm.guests {
                if !g.life.ending.swap(true, Ordering::SeqCst) {
                    report(g, &stop);
                }
            }
        }
        None => report!("vmm: guest {} failed: {why}", vm::name()),
    }
    FAILED.store(true, Ordering::SeqCst);
    finish(&Stop::AllOff)
}

/// Powers the machine off, or resets it after a single guest's reset, or
/// ends it with a failing status if any guest failed.
fn finish(stop: &Stop) -> ! {
    if ENDING.swap(true, Ordering::SeqCst) {
        loop {
            // SAFETY: waiting for an interrupt has no effect on program state.
            unsafe { core::arch::asm!("wfi") };
        }
    }
    if FAILED.load(Ordering::SeqCst) {
        machine::fail()
    }
    match stop {
        Stop::SystemReset(_) => machine::reset(),
        _ => machine::power_off(),
    }
}

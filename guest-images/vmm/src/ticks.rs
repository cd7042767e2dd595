//! The host's tick: the boot CPU's EL1 physical timer at 100 Hz
//! (el1rt::host_timer). Its interrupt makes `zx_vcpu_enter` return
//! INTR_RETRY; the run loop then comes here, where the guest's UART gets
//! what the real one received, a line the guest left open is printed, and
//! the watchdog (`vmm.timeout`) looks at the clock, and every CPU's run
//! queue is looked at (runqueues.rs: time slices and timer wake-ups), and
//! every CPU's stack guard (el1rt::stack). Each
//! guest's devices are tended to; the real UART's input goes to the guest
//! it is switched to (console_input.rs).

use crate::stop;
use crate::{console_input, runqueues, vm, Error};
use core::sync::atomic::{AtomicU64, Ordering};
use el1rt::host_timer::{self, HostTimer};
use el1rt::platform::Board;
use el1rt::stack;

const HZ: u64 = 100;

static TIMER: spin::Once<HostTimer> = spin::Once::new();
/// Ticks already tended to.
static SEEN: AtomicU64 = AtomicU64::new(0);
/// The counter when ticking started, and its frequency.
static START: AtomicU64 = AtomicU64::new(0);
static FREQ: AtomicU64 = AtomicU64::new(1);

fn counter() -> (u64, u64) {
    let (freq, now): (u64, u64);
    // SAFETY: reading the counter and its frequency has no side effects.
    unsafe {
        core::arch::asm!("mrs {}, cntfrq_el0", out(reg) freq);
        core::arch::asm!("isb", "mrs {}, cntpct_el0", out(reg) now);
    }
    (freq, now)
}

/// The counter now.
pub fn now() -> u64 {
    counter().1
}

/// Starts the tick on this CPU (IRQs unmasked from here on), with every
/// CPU's stack guard armed for the tick to check.
pub fn start(board: &Board) -> Result<(), Error> {
    for cpu in 0..board.cpus.len() {
        stack::arm_guard(cpu);
    }
    let (freq, now) = counter();
    FREQ.store(freq.max(1), Ordering::Relaxed);
    START.store(now, Ordering::Relaxed);
    runqueues::set_clock(freq, freq / HZ);
    let timer = host_timer::start(board, freq / HZ).map_err(|why| err!("the host timer: {why}"))?;
    TIMER.call_once(|| timer);
    el1rt::console::enable_input();
    Ok(())
}

/// Seconds since ticking started (the guest's clock, the PL031, counts from then).
pub fn seconds() -> u64 {
    let (freq, now) = counter();
    now.saturating_sub(START.load(Ordering::Relaxed)) / freq.max(1)
}

/// Does what each new tick asks for; nothing between ticks.
pub fn tend() {
    let Some(timer) = TIMER.get() else { return };
    let ticks = timer.ticks();
    if SEEN.swap(ticks, Ordering::Relaxed) == ticks {
        return;
    }
    let vm = vm::get();
    if let Some(cpu) = (0..vm.board.cpus.len()).find(|&cpu| !stack::guard_intact(cpu)) {
        stop::fail(err!(
            "the VMM's stack on CPU {cpu} overflowed, or came within {} bytes of it",
            stack::GUARD
        ));
    }
    runqueues::tick();
    console_input::pump();
    for g in &vm.guests {
        if g.life.is_ending() {
            console_input::discard_for(g.id);
        } else {
            g.devices.tick(&mut || console_input::read_for(g.id));
        }
    }
    if let Some(limit) = vm.timeout_s {
        let (freq, now) = counter();
        let elapsed = (now - START.load(Ordering::Relaxed)) / freq;
        if elapsed >= limit {
            stop::fail(err!("still running after {limit} s (vmm.timeout)"));
        }
    }
}

/// Waits on the boot CPU, while none of its vCPUs is on, for the next
/// interrupt.
pub fn wait() {
    // SAFETY: WFI only waits; the tick's interrupt ends it.
    unsafe { core::arch::asm!("wfi") };
    tend();
}

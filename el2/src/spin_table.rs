//! CPUs without PSCI: the firmware holds them in a spin table (the
//! Raspberry Pi 4's armstub: each waits in WFE until its `cpu-release-addr`
//! holds an address, then jumps there at EL2 with the MMU off). A CPU leaves
//! the firmware once and never goes back, so the monitor releases each CPU
//! on its first PSCI CPU_ON, and parks a CPU the host turns off in its own
//! WFE loop, from which the next CPU_ON wakes it.

use crate::arch::{self, cache};
use crate::platform::MAX_CPUS;
use core::sync::atomic::{AtomicBool, Ordering};

/// Whether each CPU runs monitor code (left the firmware's spin loop).
static IN_MONITOR: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// Set by CPU_ON (after the start address is recorded) for a parked CPU.
static GO: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// Records that `cpu` is running in the monitor (the boot CPU).
pub fn mark_in_monitor(cpu: usize) {
    IN_MONITOR[cpu].store(true, Ordering::Release);
}

/// Whether `cpu` is in the monitor, where CPU_OFF parks it.
pub fn in_monitor(cpu: usize) -> bool {
    IN_MONITOR[cpu].load(Ordering::Acquire)
}

/// Starts `cpu`, already claimed by CPU_ON with its start recorded: wakes
/// it when parked, else writes its entry to `release` (its spin-table
/// slot, when it has one). False when it has neither.
pub fn start(cpu: usize, release: Option<u64>) -> bool {
    if in_monitor(cpu) {
        GO[cpu].store(true, Ordering::Release);
    } else {
        let Some(slot) = release else { return false };
        IN_MONITOR[cpu].store(true, Ordering::Release);
        // SAFETY: the release address comes from the DTB's cpu node, lies in
        // RAM mapped RW in EL2 stage 1 and is kept out of the host's reach
        // (boot.rs); the firmware's spin loop only reads it.
        unsafe { core::ptr::write_volatile(slot as *mut u64, arch::spin_table_entry(cpu)) };
        // The spinning CPU reads with its MMU (and caches) off.
        cache::clean_to_poc(slot, 8);
    }
    aarch64_cpu::asm::sev();
    true
}

/// Parks the calling CPU after CPU_OFF: back on a fresh stack, it waits in
/// `secondary_parked` for the next CPU_ON.
pub fn park(cpu: usize) -> ! {
    arch::park_cpu(cpu)
}

/// Entered by `park_cpu` on a fresh stack: waits for CPU_ON, then joins
/// like a newly started CPU.
#[no_mangle]
extern "C" fn secondary_parked(cpu: u64) -> ! {
    let cpu = cpu as usize;
    while !GO[cpu].swap(false, Ordering::Acquire) {
        aarch64_cpu::asm::wfe();
    }
    crate::boot::secondary_main(cpu as u64)
}

//! CPUs without PSCI: the firmware holds them in a spin table (the
//! Raspberry Pi 4's armstub: each waits in WFE until its `cpu-release-addr`
//! holds an address, then jumps there at EL2 with the MMU off). A CPU leaves
//! the firmware once and never goes back, so the monitor takes every such
//! CPU at boot and parks it in its own WFI loop (a CPU the host turns off
//! goes back there too); PSCI CPU_ON wakes it with the kick SGI. Waiting in
//! WFI rather than in the firmware's WFE loop lets an OFF CPU really sleep
//! (an emulator spins on WFE).

use crate::arch::{self, cache};
use crate::mm::range::Range;
use crate::platform::irq;
use crate::platform::{EnableMethod, Platform, MAX_CPUS};
use aarch64_cpu::registers::{Readable, MPIDR_EL1};
use core::sync::atomic::{fence, AtomicBool, Ordering};

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

/// At boot, on the boot CPU: releases every other spin-table CPU into the
/// monitor, where it parks (its power state is OFF until CPU_ON). A
/// release address outside RAM, or inside the monitor, is not written; that
/// CPU stays with the firmware and CPU_ON of it fails.
pub fn take_all(platform: &Platform, monitor: Range) {
    let this_cpu = platform.cpu_index(MPIDR_EL1.get());
    for (cpu, c) in platform.cpus.iter().enumerate() {
        let EnableMethod::SpinTable(slot) = c.enable else {
            continue;
        };
        if Some(cpu) == this_cpu {
            continue;
        }
        let word = Range::new(slot, 8);
        if !platform.memory.iter().any(|m| m.covers(&word)) || monitor.overlaps(&word) {
            log::warn!("cpu{cpu}: cpu-release-addr {slot:#x} is not RAM outside the monitor; left to the firmware");
            continue;
        }
        // SAFETY: the word was checked just above.
        unsafe { release(cpu, slot) };
    }
}

/// Writes the monitor's entry for `cpu` to its spin-table slot.
///
/// # Safety
///
/// `slot` must be the 8-byte release word of `cpu`, in RAM outside the
/// monitor (EL2 stage 1 maps all RAM read-write, and the host cannot reach
/// the page: boot/start.rs), which only the firmware's spin loop reads.
unsafe fn release(cpu: usize, slot: u64) {
    IN_MONITOR[cpu].store(true, Ordering::Release);
    // SAFETY: as the caller promises.
    unsafe { core::ptr::write_volatile(slot as *mut u64, arch::spin_table_entry(cpu)) };
    // The spinning CPU reads with its MMU (and caches) off.
    cache::clean_to_poc(slot, 8);
    crate::arch::insn::sev();
}

/// Starts `cpu`, already claimed by CPU_ON with its start recorded, when it
/// is parked in the monitor (or on its way there); false when the monitor
/// does not hold it.
pub fn start(cpu: usize) -> bool {
    if !in_monitor(cpu) {
        return false;
    }
    GO[cpu].store(true, Ordering::SeqCst);
    // Pairs with the fence in `wait_for_release`: either the CPU sees GO
    // before it waits, or it is set up to receive the kick.
    fence(Ordering::SeqCst);
    irq::send_kick(cpu);
    true
}

/// Parks the calling CPU after CPU_OFF: back on a fresh stack, it waits in
/// `wait_for_release` for the next CPU_ON.
pub fn park(cpu: usize) -> ! {
    arch::park_cpu(cpu)
}

/// Sleeps in WFI, on the fresh stack `park_cpu` gave this CPU and with its
/// GIC interface set up (irq::init_cpu), until CPU_ON sets GO and kicks.
pub fn wait_for_release(cpu: usize) {
    let host_gic = irq::open_cpu_interface();
    loop {
        fence(Ordering::SeqCst);
        if GO[cpu].swap(false, Ordering::AcqRel) {
            break;
        }
        crate::arch::insn::wfi();
        while irq::take_monitor_irq().is_some() {}
    }
    irq::restore(host_gic);
}

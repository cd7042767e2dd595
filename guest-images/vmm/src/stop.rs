//! How the guest ends, and the VMM with it: the report (why, from which
//! vCPU, the exits by kind, and for a failure the guest's last console
//! lines), then the machine is powered off, reset, or ended with a failing
//! status. The first CPU to get here does it; any other waits.

use crate::{machine, vcpus, vm, Error};
use core::sync::atomic::{AtomicBool, Ordering};

pub enum Stop {
    /// PSCI SYSTEM_OFF from this vCPU.
    SystemOff(usize),
    /// PSCI SYSTEM_RESET from this vCPU.
    SystemReset(usize),
    /// Every vCPU turned itself off.
    AllOff,
    Failed(Error),
}

static ENDING: AtomicBool = AtomicBool::new(false);

pub fn end(stop: Stop) -> ! {
    if ENDING.swap(true, Ordering::SeqCst) {
        loop {
            // SAFETY: waiting for an interrupt has no effect on program state.
            unsafe { core::arch::asm!("wfi") };
        }
    }
    let name = vm::name();
    let vm = vm::try_get();
    if let Some(vm) = vm {
        vm.devices.flush_open_line();
    }
    match &stop {
        Stop::SystemOff(i) => report!("vmm: guest {name}: SYSTEM_OFF from vCPU {i}"),
        Stop::SystemReset(i) => {
            report!("vmm: guest {name}: SYSTEM_RESET from vCPU {i}; resetting the machine")
        }
        Stop::AllOff => report!("vmm: guest {name}: every vCPU is off"),
        Stop::Failed(why) => report!("vmm: guest {name} failed: {why}"),
    }
    if vm.is_some() {
        let mut report = arrayvec::ArrayString::<512>::new();
        let _ = vcpus::exit_summary().write(name, &mut report);
        report!("{}", report.trim_end());
    }
    match stop {
        Stop::SystemOff(_) | Stop::AllOff => machine::power_off(),
        Stop::SystemReset(_) => machine::reset(),
        Stop::Failed(_) => {
            if let Some(vm) = vm {
                vm.devices.last_lines();
            }
            machine::fail()
        }
    }
}

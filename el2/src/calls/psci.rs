//! PSCI 1.1 for the host (docs/abi.md §2): CPU_ON/OFF, AFFINITY_INFO, SYSTEM_OFF
//! and RESET, VERSION, FEATURES, carried out with the platform firmware's
//! PSCI, or without one (Raspberry Pi 4) with the spin table and the PM
//! watchdog, while the monitor keeps track of which CPUs are up.

use crate::arch::{self, firmware};
use crate::boot::spin_table;
use crate::platform::percpu::{Power, CPUS};
use crate::platform::power::{self, Request};
use crate::platform::system;
use crate::platform::{Conduit, EnableMethod};
use syscalls::psci::*;
use vcpu::psci::{self, PsciAction};
use vcpu::regs::RegisterFile;

/// Handles a PSCI function in x0 (decoded as a guest's are, by
/// `vcpu::psci::decode`); returns false when x0 is not PSCI.
pub fn handle(frame: &mut RegisterFile) -> bool {
    if !psci::is_psci(frame.x[0] as u32) {
        return false;
    }
    let ret = match psci::decode(frame.x[0], frame.x[1], frame.x[2], frame.x[3]) {
        PsciAction::Return(value) => value as i64,
        PsciAction::CpuOn {
            target,
            entry,
            context,
        } => cpu_on(target, entry, context),
        PsciAction::CpuOff => cpu_off(),
        PsciAction::AffinityInfo { target, level } => affinity_info(target, level),
        PsciAction::SystemOff => system_call(SYSTEM_OFF),
        PsciAction::SystemReset => system_call(SYSTEM_RESET),
    };
    frame.x[0] = ret as u64;
    true
}

fn firmware_psci() -> bool {
    system::get().platform.psci == Some(Conduit::Smc)
}

fn cpu_on(target: u64, entry: u64, context: u64) -> i64 {
    let sys = system::get();
    let Some(index) = sys.platform.cpu_index(target) else {
        return INVALID_PARAMETERS;
    };
    if !entry.is_multiple_of(4) || !sys.is_host_ram(entry, 4) {
        return INVALID_ADDRESS;
    }
    let slot = &CPUS[index];
    if !slot.claim_for_start() {
        return match slot.power() {
            Power::OnPending => ON_PENDING,
            _ => ALREADY_ON,
        };
    }
    slot.set_start(entry, context);
    let cpu = sys.platform.cpus[index];
    let ret = match cpu.enable {
        EnableMethod::Psci if firmware_psci() => firmware::smc(
            CPU_ON_64,
            cpu.mpidr,
            arch::secondary_entry_address(),
            index as u64,
        ),
        _ if spin_table::start(index) => SUCCESS,
        _ => INTERNAL_FAILURE,
    };
    if ret != SUCCESS {
        slot.set_power(Power::Off);
        log::warn!("PSCI CPU_ON of cpu{index} failed: {ret}");
        return if ret == ALREADY_ON {
            ALREADY_ON
        } else {
            INTERNAL_FAILURE
        };
    }
    SUCCESS
}

/// Whether CPU `index` came up through the firmware's PSCI (and goes back
/// to it on CPU_OFF).
fn psci_cpu(index: usize) -> bool {
    firmware_psci() && !spin_table::in_monitor(index)
}

fn cpu_off() -> i64 {
    let cpu = crate::platform::percpu::current();
    CPUS[cpu].set_power(Power::Off);
    if !psci_cpu(cpu) {
        spin_table::park(cpu);
    }
    firmware::smc(CPU_OFF, 0, 0, 0);
    // The firmware only returns from CPU_OFF on failure.
    CPUS[cpu].set_power(Power::On);
    DENIED
}

/// A CPU that called CPU_OFF is OFF only once the firmware has really
/// turned it off; until then the firmware still reports it ON, and so do we.
fn affinity_info(target: u64, level: u64) -> i64 {
    if level != 0 {
        return INVALID_PARAMETERS;
    }
    let sys = system::get();
    let Some(index) = sys.platform.cpu_index(target) else {
        return INVALID_PARAMETERS;
    };
    match CPUS[index].power() {
        Power::Off if psci_cpu(index) => {
            firmware::smc(AFFINITY_INFO_64, sys.platform.cpus[index].mpidr, 0, 0)
        }
        power => power as i64,
    }
}

fn system_call(fid: u32) -> i64 {
    let (request, name) = if fid == SYSTEM_OFF {
        (Request::Off, "SYSTEM_OFF")
    } else {
        (Request::Reset, "SYSTEM_RESET")
    };
    log::info!("host requested {name}");
    power::request(request);
    crate::platform::fatal::stop(0)
}

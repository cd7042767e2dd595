//! The boot banner: what the monitor found and how it split the machine.

use crate::mm::range::Range;
use crate::platform::system::System;
use crate::platform::{EnableMethod, GicVersion};
use log::info;

const MIB: u64 = 1 << 20;

pub fn print(sys: &System, handoff: Range) {
    let p = &sys.platform;
    info!("zxvisor {} (EL2) on {}", env!("CARGO_PKG_VERSION"), p.model);
    let gic = match p.gic.map(|g| g.version) {
        Some(GicVersion::V3) => "GICv3",
        Some(GicVersion::V2) => "GICv2",
        None => "no GIC",
    };
    let spin_table = p
        .cpus
        .iter()
        .any(|c| matches!(c.enable, EnableMethod::SpinTable(_)));
    info!(
        "{} CPUs{}, {gic} with {} list registers, {}",
        p.cpus.len(),
        if spin_table { " (spin table)" } else { "" },
        sys.list_registers,
        crate::platform::power::describe(p)
    );
    let total: u64 = p.memory.iter().map(|r| r.size).sum();
    let host: u64 = sys.host_ram.iter().map(|r| r.size).sum();
    info!(
        "RAM {} MiB: host {} MiB, monitor {} MiB at {:#x}..{:#x} (free heap {} KiB)",
        total / MIB,
        host / MIB,
        sys.monitor.size / MIB,
        sys.monitor.base,
        sys.monitor.end(),
        crate::mm::heap::free_bytes() / 1024
    );
    for bank in &sys.host_ram {
        info!("  host RAM {:#x}..{:#x}", bank.base, bank.end());
    }
    info!(
        "  host DTB hand-off area {:#x}..{:#x}",
        handoff.base,
        handoff.end()
    );
    if let Some(t) = p.timer {
        info!(
            "timer PPIs: phys {} virt {} hyp {}; counter {} Hz",
            t.phys,
            t.virt,
            t.hyp,
            crate::arch::el2config::counter_frequency()
        );
    }
}

//! Per-CPU EL2 configuration for running the host: traps, stage 2, timers,
//! PMU and GIC system-register access as the host should see them.

use crate::platform::{GicVersion, Platform};
use crate::system::System;
use crate::vgic::{Vgic, V2, V3};
use aarch64_cpu::registers::*;
use core::arch::asm;

/// HCR_EL2 while the host runs: EL1 is AArch64, stage 2 on, SMC trapped
/// (the host's PSCI goes through the monitor). Interrupts go straight to it.
const HCR_HOST: u64 = (1 << 31) | (1 << 19) | (1 << 0);
/// CPTR_EL2 RES1 bits; no FP/SIMD or trace traps.
pub const CPTR_NO_TRAPS: u64 = 0x33ff;

pub fn configure_for_host(sys: &System) {
    HCR_EL2.set(HCR_HOST);
    CPTR_EL2.set(CPTR_NO_TRAPS);
    // EL1 may use the physical counter and timer; no virtual offset.
    CNTHCTL_EL2.set(3);
    CNTVOFF_EL2.set(0);
    VMPIDR_EL2.set(MPIDR_EL1.get());
    VTCR_EL2.set(sys.host_stage2.vtcr);
    VTTBR_EL2.set(sys.host_stage2.root);
    // SAFETY: plain EL2 configuration writes: the host sees the real MIDR,
    // owns every PMU counter (HPMN = PMCR_EL0.N), and no CP15 traps.
    unsafe {
        asm!(
            "mrs {t}, midr_el1", "msr vpidr_el2, {t}",
            "mrs {t}, pmcr_el0", "ubfx {t}, {t}, #11, #5", "msr mdcr_el2, {t}",
            "msr hstr_el2, xzr",
            t = out(reg) _, options(nostack),
        );
    }
    if gic_system_registers() {
        // SRE and Enable: EL1 uses the GICv3 system-register interface.
        ICC_SRE_EL2.set(0b1001);
    }
    // SAFETY: drops any stale stage-1+2 TLB entries of VMID 0 on this CPU.
    unsafe { asm!("isb", "tlbi vmalls12e1", "dsb nsh", "isb", options(nostack)) };
}

/// Whether this CPU has the GICv3 system-register CPU interface.
fn gic_system_registers() -> bool {
    // ID_AA64PFR0_EL1.GIC, bits [27:24] (not described by aarch64-cpu).
    (ID_AA64PFR0_EL1.get() >> 24) & 0xf != 0
}

/// The GIC virtual CPU interface, with its number of list registers
/// (ICH_VTR_EL2 on GICv3, GICH_VTR on GICv2); None without one.
pub fn virtual_interface(p: &Platform) -> Option<Vgic> {
    match p.gic.map(|g| (g.version, g.hyp)) {
        Some((GicVersion::V3, _)) if gic_system_registers() => Some(Vgic::V3(V3 {
            num_lrs: gic::lr::num_lrs_from_ich_vtr(ICH_VTR_EL2.get()),
        })),
        Some((GicVersion::V2, Some(gich))) => {
            // SAFETY: GICH is mapped as device memory in EL2 stage 1 (mmu.rs);
            // GICH_VTR (offset 4) is a read-only register.
            let vtr = unsafe { core::ptr::read_volatile((gich.base + 4) as *const u32) };
            Some(Vgic::V2(V2 { base: gich.base, num_lrs: gic::lr::num_lrs_from_gich_vtr(vtr) }))
        }
        _ => None,
    }
}

/// The generic counter's frequency (CNTFRQ_EL0).
pub fn counter_frequency() -> u64 {
    CNTFRQ_EL0.get()
}

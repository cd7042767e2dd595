//! Per-CPU EL2 configuration for running the host: traps, stage 2, timers,
//! PMU and GIC system-register access as the host should see them, and the
//! controls a guest's world adds (the CPU features each world may use are
//! in vcpu::idregs).

use crate::arch::bits::{CPTR_RES1, CPTR_TTA, CPTR_TZ_TSM, HCRX_MSCEN, HCR_HOST, MPAM2_TRAPS};
use crate::arch::mmio::Frame;
use crate::arch::{insn, sysreg};
use crate::platform::system::System;
use crate::platform::vgic::{Vgic, V2, V3};
use crate::platform::{GicVersion, Platform};
use aarch64_cpu::registers::*;
use vcpu::idregs::Features;

/// The features of this CPU whose controls depend on them.
pub fn features() -> Features {
    Features::from_id_registers(crate::arch::id_registers::read)
}

/// HCR_EL2 for the host on a CPU with `f`: also pointer authentication and
/// SCXTNUM usable (API, APK, EnSCXT), as vcpu::idregs::HOST advertises them.
fn hcr_host(f: Features) -> u64 {
    let mut hcr = HCR_HOST;
    if f.pauth {
        hcr |= HCR_EL2::API::DisableTrapPointerAuthInstToEl2.value
            | HCR_EL2::APK::DisableTrapPointerAuthKeyRegsToEl2.value;
    }
    if f.scxtnum {
        hcr |= HCR_EL2::EnSCXT::SET.value;
    }
    hcr
}

/// CPTR_EL2 of both worlds but for the guests' FP/SIMD trap: SVE, SME,
/// activity monitors and trace registers trap (none is advertised).
fn cptr(f: Features) -> u64 {
    let mut cptr = CPTR_RES1 | CPTR_TZ_TSM;
    if f.trace {
        cptr |= CPTR_TTA;
    }
    if f.amu {
        cptr |= CPTR_EL2::TAM::SET.value;
    }
    cptr
}

/// MDCR_EL2 of the host: it owns every PMU counter (HPMN = PMCR_EL0.N);
/// the trace filter and profiling registers trap (not advertised), and so
/// do the profiling and trace buffers (E2PB, E2TB 0).
fn mdcr_host(f: Features) -> u64 {
    let mut mdcr = (sysreg::PMCR_EL0.get() >> 11) & 0x1f;
    if f.trace_filter {
        mdcr |= MDCR_EL2::TTRF::SET.value;
    }
    if f.spe {
        mdcr |= MDCR_EL2::TPMS::SET.value;
    }
    mdcr
}

pub fn configure_for_host(sys: &System) {
    let f = features();
    HCR_EL2.set(hcr_host(f));
    CPTR_EL2.set(cptr(f));
    MDCR_EL2.set(mdcr_host(f));
    // EL1 may use the physical counter and timer; no virtual offset.
    CNTHCTL_EL2.set(3);
    CNTVOFF_EL2.set(0);
    VMPIDR_EL2.set(MPIDR_EL1.get());
    VTCR_EL2.set(sys.host_stage2.vtcr);
    VTTBR_EL2.set(sys.host_stage2.root);
    // The host sees the real MIDR and no CP15 traps.
    sysreg::VPIDR_EL2.set(MIDR_EL1.get());
    sysreg::HSTR_EL2.set(0);
    configure_optional_controls(f);
    if gic_system_registers() {
        // SRE and Enable: EL1 uses the GICv3 system-register interface.
        ICC_SRE_EL2.set(0b1001);
    }
    // Drops any stale stage-1+2 TLB entries of VMID 0 on this CPU.
    insn::isb();
    insn::tlbi_vmalls12e1();
    insn::dsb_nsh();
    insn::isb();
}

/// The EL2 controls that exist only with some features, the same in both
/// worlds: HCRX_EL2 (only MSCEn: the extended controls of TCR2, SCTLR2, GCS,
/// FPMR, LS64 stay off, and their registers trap), the fine-grained traps
/// (all 0: no trap, but for the "n" bits of registers neither world is
/// given, which trap), MPAM (trapped).
fn configure_optional_controls(f: Features) {
    let hcrx = if f.mops { HCRX_MSCEN } else { 0 };
    // Each register is written only when the feature that defines it is
    // implemented; the values give EL1 no more than vcpu::idregs says.
    if f.hcx {
        sysreg::HCRX_EL2.set(hcrx);
    }
    if f.fgt >= 1 {
        sysreg::HFGRTR_EL2.set(0);
        sysreg::HFGWTR_EL2.set(0);
        sysreg::HFGITR_EL2.set(0);
        sysreg::HDFGRTR_EL2.set(0);
        sysreg::HDFGWTR_EL2.set(0);
    }
    if f.fgt >= 1 && f.amu {
        sysreg::HAFGRTR_EL2.set(0);
    }
    if f.fgt >= 2 {
        sysreg::HDFGRTR2_EL2.set(0);
        sysreg::HDFGWTR2_EL2.set(0);
        sysreg::HFGRTR2_EL2.set(0);
        sysreg::HFGWTR2_EL2.set(0);
        sysreg::HFGITR2_EL2.set(0);
    }
    if f.mpam {
        sysreg::MPAM2_EL2.set(MPAM2_TRAPS);
    }
}

/// HCR_EL2 for a guest on this CPU: `base` (the fixed controls), with the
/// RAS error records (TERR), LORegions (TLOR), ACTLR_EL1 (TACR) and the
/// IMPLEMENTATION DEFINED registers (TIDCP) trapped.
pub fn hcr_guest(base: u64) -> u64 {
    let f = features();
    let mut hcr = base | HCR_EL2::TACR::SET.value | HCR_EL2::TIDCP::SET.value;
    if f.ras {
        hcr |= HCR_EL2::TERR::SET.value;
    }
    if f.lor {
        hcr |= HCR_EL2::TLOR::SET.value;
    }
    hcr
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
            // SAFETY: mm::mmu::build_el2 maps GICH as device memory in EL2
            // stage 1, for good.
            let gich = unsafe { Frame::new(gich) };
            Some(Vgic::V2(V2 {
                gich,
                // GICH_VTR.
                num_lrs: gic::lr::num_lrs_from_gich_vtr(gich.read(4)),
            }))
        }
        _ => None,
    }
}

/// The generic counter's frequency (CNTFRQ_EL0).
pub fn counter_frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// Turns the EL2 MMU on with MAIR_EL2, TCR_EL2, TTBR0_EL2 = `root` and
/// SCTLR_EL2 as given, after dropping EL2's stale TLB entries. The tables at
/// `root` must identity-map this code, its stack and data with the
/// attributes they already had (mm::mmu::build_el2 makes them so).
#[cfg(target_arch = "aarch64")]
pub fn enable_mmu(mair: u64, tcr: u64, root: u64, sctlr: u64) {
    // SAFETY: as said above, execution continues seamlessly with the MMU on;
    // one asm block, so that no memory access falls between the writes.
    unsafe {
        core::arch::asm!(
            "msr mair_el2, {mair}", "msr tcr_el2, {tcr}", "msr ttbr0_el2, {root}", "isb",
            "tlbi alle2", "dsb nsh", "isb",
            "msr sctlr_el2, {sctlr}", "isb",
            mair = in(reg) mair, tcr = in(reg) tcr, root = in(reg) root, sctlr = in(reg) sctlr,
            options(nostack),
        );
    }
}

/// The build machine's monitor has no MMU to turn on.
#[cfg(not(target_arch = "aarch64"))]
pub fn enable_mmu(_mair: u64, _tcr: u64, _root: u64, _sctlr: u64) {}

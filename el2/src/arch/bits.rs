//! The values and bits the monitor writes to system registers, in one place,
//! built from aarch64-cpu's named fields where it has them; the rest are
//! named here with their positions from the Arm ARM. Pure: the values are
//! checked by unit tests on the build machine.

use aarch64_cpu::registers::{HCR_EL2, MDCR_EL2, MDSCR_EL1};

/// HCR_EL2 while the host runs: EL1 is AArch64, stage 2 on, SMC trapped
/// (the host's PSCI goes through the monitor), the ID registers trapped for
/// the host's view of them (vcpu::idregs::HOST). Interrupts go straight to it.
pub const HCR_HOST: u64 = HCR_EL2::RW::EL1IsAarch64.value
    | HCR_EL2::TSC::EnableTrapEl1SmcToEl2.value
    | HCR_EL2::TID3::SET.value
    | HCR_EL2::VM::SET.value;

/// HCR_EL2.DC: stage 1 off means cacheable (a guest with its MMU off).
pub const HCR_DC: u64 = HCR_EL2::DC::SET.value;
/// HCR_EL2.TVM: the guest's writes to its translation controls trap.
pub const HCR_TVM: u64 = HCR_EL2::TVM::SET.value;

/// HCR_EL2 for guests: Zircon's controls (stage 2, its table walks,
/// virtual IRQs, FIQs and SErrors, DC, WFI/WFE, SMC, set/way and TVM traps,
/// AArch64 EL1) plus TID3, so that guests see only the features the monitor
/// virtualises (vcpu::idregs); `el2config::hcr_guest` adds what this CPU
/// needs.
pub const HCR_GUEST: u64 = HCR_EL2::VM::SET.value
    | HCR_EL2::PTW::SET.value
    | HCR_EL2::FMO::SET.value
    | HCR_EL2::IMO::SET.value
    | HCR_EL2::AMO::SET.value
    | HCR_DC
    | HCR_EL2::TWI::SET.value
    | HCR_EL2::TWE::SET.value
    | HCR_EL2::TID3::SET.value
    | HCR_EL2::TSC::SET.value
    | HCR_EL2::TSW::SET.value
    | HCR_TVM
    | HCR_EL2::RW::EL1IsAarch64.value;

/// SCTLR_EL1 with its RES1 bits only (EOS 11, TSCXT 20, EIS 22, SPAN 23,
/// nTLSMD 28, LSMAOE 29; aarch64-cpu does not name them): MMU, caches and
/// alignment checks off. How the host and every new vCPU start.
pub const SCTLR_EL1_RESET: u64 =
    (1 << 11) | (1 << 20) | (1 << 22) | (1 << 23) | (1 << 28) | (1 << 29);

/// MDCR_EL2 bits for guests, on top of the host's: the PMU traps (TPM,
/// TPMCR; guests have none), the OS-lock and power-down registers (TDOSA)
/// and MDRAR_EL1 (TDRA) are emulated, and the other debug registers (TDA)
/// trap until the guest first touches one (`world::LazyDebug`), as KVM does
/// for a guest that does not use debug.
pub const MDCR_GUEST_TRAPS: u64 = MDCR_EL2::TPM::SET.value
    | MDCR_EL2::TPMCR::SET.value
    | MDCR_EL2::TDOSA::SET.value
    | MDCR_EL2::TDRA::SET.value
    | MDCR_EL2::TDA::SET.value;

/// MDSCR_EL1 bits that make debug events possible: MDE (breakpoints,
/// watchpoints), KDE (debug exceptions at EL1), SS (software step).
pub const MDSCR_DEBUG_ON: u64 =
    MDSCR_EL1::MDE::SET.value | MDSCR_EL1::KDE::SET.value | MDSCR_EL1::SS::SET.value;

/// CPTR_EL2 RES1 bits: 13, 9 and 7:0.
pub const CPTR_RES1: u64 = 0x22ff;
/// CPTR_EL2.TFP: FP/SIMD use at EL0/EL1 (and EL2) traps to EL2.
pub const CPTR_TFP: u64 = 1 << 10;
/// CPTR_EL2.TZ and TSM: SVE and SME (and their registers) trap, in both
/// worlds (vcpu::idregs hides them); RES1 where they are not implemented.
pub const CPTR_TZ_TSM: u64 = (1 << 8) | (1 << 12);
/// CPTR_EL2.TTA: trace unit registers trap.
pub const CPTR_TTA: u64 = 1 << 20;
/// HCRX_EL2.MSCEn: the memory copy and set instructions work at EL1 and EL0.
pub const HCRX_MSCEN: u64 = 1 << 11;
/// MPAM2_EL2.TRAPMPAM0EL1 and TRAPMPAM1EL1: MPAM0_EL1 and MPAM1_EL1 trap.
pub const MPAM2_TRAPS: u64 = (1 << 49) | (1 << 48);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_and_host_controls_are_the_documented_bits() {
        // VM, PTW, FMO, IMO, AMO, DC, TWI, TWE, TID3, TSC, TSW, TVM, RW.
        assert_eq!(HCR_GUEST, 0x844c_703d);
        // VM, TID3, TSC, RW.
        assert_eq!(HCR_HOST, (1 << 31) | (1 << 19) | (1 << 18) | 1);
        assert_eq!(HCR_GUEST & (HCR_DC | HCR_TVM), (1 << 12) | (1 << 26));
        assert_eq!(SCTLR_EL1_RESET, 0x30d0_0800);
        assert_eq!(MDSCR_DEBUG_ON, (1 << 15) | (1 << 13) | 1);
    }
}

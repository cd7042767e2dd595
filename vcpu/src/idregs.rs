//! What a guest sees in the ID registers (Op0 3, Op1 0, CRn 0, CRm 1-7; HCR_EL2.TID3 traps
//! its reads): the hardware's values with every feature the monitor does not virtualise
//! removed. A feature stays hidden when using it would need EL2 support the monitor lacks:
//! EL1 state it does not switch between worlds (SVE/SME vectors, MTE tags and registers,
//! pointer-authentication keys, LORegions, the extended translation controls), traps it
//! does not emulate (PMU, AMU, statistical profiling, trace, MPAM, MOPS, LS64), or timed
//! waits its WFI handling would turn into unbounded ones (WFxT). Linux reads these
//! registers to choose what to use, so hiding a field keeps it away from the feature.

/// An ID register by (CRm, Op2).
type Encoding = (u8, u8);

/// A 4-bit field at bit `shift`.
const fn field(shift: u32) -> u64 {
    0xF << shift
}

/// The ID registers a guest may read, with the fields kept from the hardware value
/// (all others read as zero, "not implemented"). Encodings not listed read as zero.
const VISIBLE: &[(Encoding, u64)] = &[
    // AArch32 ID registers, for AArch32 EL0; no PMU or trace in ID_DFR0.
    ((1, 0), u64::MAX),                                        // ID_PFR0_EL1
    ((1, 1), u64::MAX),                                        // ID_PFR1_EL1
    ((1, 2), !(field(24) | field(16) | field(12) | field(4))), // ID_DFR0_EL1
    ((1, 3), u64::MAX),                                        // ID_AFR0_EL1
    ((1, 4), u64::MAX),                                        // ID_MMFR0_EL1
    ((1, 5), u64::MAX),                                        // ID_MMFR1_EL1
    ((1, 6), u64::MAX),                                        // ID_MMFR2_EL1
    ((1, 7), u64::MAX),                                        // ID_MMFR3_EL1
    ((2, 0), u64::MAX),                                        // ID_ISAR0_EL1
    ((2, 1), u64::MAX),                                        // ID_ISAR1_EL1
    ((2, 2), u64::MAX),                                        // ID_ISAR2_EL1
    ((2, 3), u64::MAX),                                        // ID_ISAR3_EL1
    ((2, 4), u64::MAX),                                        // ID_ISAR4_EL1
    ((2, 5), u64::MAX),                                        // ID_ISAR5_EL1
    ((2, 6), u64::MAX),                                        // ID_MMFR4_EL1
    ((2, 7), u64::MAX),                                        // ID_ISAR6_EL1
    ((3, 0), u64::MAX),                                        // MVFR0_EL1
    ((3, 1), u64::MAX),                                        // MVFR1_EL1
    ((3, 2), u64::MAX),                                        // MVFR2_EL1
    ((3, 4), u64::MAX),                                        // ID_PFR2_EL1
    ((3, 6), u64::MAX),                                        // ID_MMFR5_EL1
    // ID_AA64PFR0_EL1: EL0-EL3, FP, AdvSIMD, GIC, RAS, SEL2, DIT, CSV2, CSV3;
    // not SVE [35:32], MPAM [43:40], AMU [47:44], RME [55:52].
    ((4, 0), !(field(32) | field(40) | field(44) | field(52))),
    // ID_AA64PFR1_EL1: BT, SSBS, RAS_frac, CSV2_frac only.
    ((4, 1), field(0) | field(4) | field(12) | field(32)),
    // ID_AA64DFR0_EL1: DebugVer, BRPs, WRPs, CTX_CMPs, DoubleLock only (no TraceVer,
    // PMUVer, PMSVer, TraceFilt, TraceBuffer, MTPMU, BRBE, HPMN0).
    (
        (5, 0),
        field(0) | field(12) | field(20) | field(28) | field(36),
    ),
    ((5, 4), u64::MAX), // ID_AA64AFR0_EL1
    ((5, 5), u64::MAX), // ID_AA64AFR1_EL1
    // ID_AA64ISAR0_EL1: everything but TME [27:24].
    ((6, 0), !field(24)),
    // ID_AA64ISAR1_EL1: everything but APA [7:4], API [11:8], GPA [27:24], GPI [31:28],
    // LS64 [63:60].
    (
        (6, 1),
        !(field(4) | field(8) | field(24) | field(28) | field(60)),
    ),
    // ID_AA64ISAR2_EL1: RPRES [7:4], BC [23:20], CLRBHB [31:28] only (no WFxT, pointer
    // authentication, MOPS or 128-bit system registers).
    ((6, 2), field(4) | field(20) | field(28)),
    ((7, 0), u64::MAX), // ID_AA64MMFR0_EL1
    // ID_AA64MMFR1_EL1: everything but LO [19:16] (LORegions).
    ((7, 1), !field(16)),
    // ID_AA64MMFR2_EL1: everything but NV [27:24].
    ((7, 2), !field(24)),
];

/// Whether (Op0, Op1, CRn, CRm) is in the ID register space that HCR_EL2.TID3 traps.
pub fn is_id_register(op0: u8, op1: u8, crn: u8, crm: u8) -> bool {
    op0 == 3 && op1 == 0 && crn == 0 && (1..=7).contains(&crm)
}

/// The value a guest reads from the ID register (CRm, Op2) when the hardware holds `hw`.
pub fn guest_view(crm: u8, op2: u8, hw: u64) -> u64 {
    VISIBLE
        .iter()
        .find(|(encoding, _)| *encoding == (crm, op2))
        .map_or(0, |(_, keep)| hw & keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Extracts the 4-bit field at `shift`.
    fn get(value: u64, shift: u32) -> u64 {
        (value >> shift) & 0xF
    }

    #[test]
    fn the_id_space_is_crm_1_to_7() {
        assert!(is_id_register(3, 0, 0, 1));
        assert!(is_id_register(3, 0, 0, 7));
        // MIDR/MPIDR (CRm 0) are virtualised by VPIDR/VMPIDR, not trapped.
        assert!(!is_id_register(3, 0, 0, 0));
        assert!(!is_id_register(3, 1, 0, 1)); // CCSIDR space
        assert!(!is_id_register(3, 0, 1, 1));
        assert!(!is_id_register(2, 0, 0, 1));
    }

    #[test]
    fn pfr0_hides_sve_mpam_amu_and_keeps_the_rest() {
        let hw = 0x1201_1111_2222_2222u64 | 1 << 32 | 1 << 40 | 1 << 44 | 1 << 52;
        let seen = guest_view(4, 0, hw);
        for shift in [32, 40, 44, 52] {
            assert_eq!(get(seen, shift), 0, "field at {shift}");
        }
        for shift in [0, 4, 8, 12, 16, 20, 24, 28, 48, 56, 60] {
            assert_eq!(get(seen, shift), get(hw, shift), "field at {shift}");
        }
    }

    #[test]
    fn pfr1_hides_mte_and_sme_but_keeps_bti_and_ssbs() {
        // BT 1, SSBS 2, MTE 3, RAS_frac 1, SME 2, NMI 1, CSV2_frac 2, GCS 1.
        let hw: u64 = 1 | 2 << 4 | 3 << 8 | 1 << 12 | 2 << 24 | 1 << 36 | 2 << 32 | 1 << 44;
        let seen = guest_view(4, 1, hw);
        assert_eq!(seen, 1 | 2 << 4 | 1 << 12 | 2 << 32);
    }

    #[test]
    fn sve_sme_and_fp8_feature_registers_read_zero() {
        for (crm, op2) in [(4, 4), (4, 5), (4, 7), (4, 2)] {
            assert_eq!(guest_view(crm, op2, u64::MAX), 0, "({crm}, {op2})");
        }
    }

    #[test]
    fn dfr0_hides_pmu_spe_trace() {
        // QEMU -cpu max's ID_AA64DFR0_EL1.
        let hw = 0x0000_0001_f210_5119u64 | 1 << 32 | 1 << 44;
        let seen = guest_view(5, 0, hw);
        assert_eq!(get(seen, 8), 0, "PMUVer");
        assert_eq!(get(seen, 4), 0, "TraceVer");
        assert_eq!(get(seen, 32), 0, "PMSVer");
        assert_eq!(get(seen, 44), 0, "TraceBuffer");
        assert_eq!(get(seen, 0), 9, "DebugVer kept");
        assert_eq!(get(seen, 12), get(hw, 12), "BRPs kept");
        assert_eq!(get(seen, 20), get(hw, 20), "WRPs kept");
    }

    #[test]
    fn pointer_authentication_is_hidden() {
        let isar1 = guest_view(6, 1, u64::MAX);
        for shift in [4, 8, 24, 28, 60] {
            assert_eq!(get(isar1, shift), 0, "ISAR1 field at {shift}");
        }
        assert_eq!(get(isar1, 0), 0xF, "DPB kept");
        let isar2 = guest_view(6, 2, u64::MAX);
        assert_eq!(get(isar2, 8), 0, "GPA3");
        assert_eq!(get(isar2, 12), 0, "APA3");
        assert_eq!(get(isar2, 0), 0, "WFxT");
        assert_eq!(get(isar2, 16), 0, "MOPS");
        assert_eq!(get(isar2, 28), 0xF, "CLRBHB kept");
    }

    #[test]
    fn unlisted_and_reserved_encodings_read_zero() {
        assert_eq!(guest_view(7, 3, u64::MAX), 0, "ID_AA64MMFR3_EL1");
        assert_eq!(guest_view(6, 3, u64::MAX), 0, "ID_AA64ISAR3_EL1");
        assert_eq!(guest_view(3, 7, u64::MAX), 0, "reserved");
        assert_eq!(guest_view(5, 1, u64::MAX), 0, "ID_AA64DFR1_EL1");
    }

    #[test]
    fn memory_model_registers_pass_through_but_for_lo_and_nv() {
        assert_eq!(guest_view(7, 0, 0x1234_5678), 0x1234_5678);
        assert_eq!(get(guest_view(7, 1, u64::MAX), 16), 0);
        assert_eq!(get(guest_view(7, 2, u64::MAX), 24), 0);
        assert_eq!(get(guest_view(7, 2, u64::MAX), 20), 0xF);
    }
}

//! What the host and the guests see in the ID registers (Op0 3, Op1 0, CRn 0, CRm 1-7;
//! HCR_EL2.TID3 traps their reads in both worlds): the hardware's values with every
//! feature removed that the monitor does not let that world use. Linux reads these
//! registers to choose what to use, so hiding a field keeps it away from the feature,
//! and a feature left visible must work: its instructions and registers do not trap,
//! and whatever of it a guest could change is switched or trapped (docs/design.md,
//! "CPU features").
//!
//! Hidden from both worlds: SVE and SME (their vector state is not switched, and the
//! monitor keeps CPTR_EL2.TZ/TSM set), MTE (no tag memory at stage 2; HCR_EL2.ATA is
//! clear), RAS (a CPU may have no error record registers at all, as QEMU's, and
//! guests' accesses to them trap: HCR_EL2.TERR), AMU, MPAM, RME, TME, LS64,
//! statistical profiling, trace, BRBE, the
//! EL2-only VHE and nested-virtualisation fields, and every register of CRm 4-7 the
//! monitor does not list (ID_AA64PFR2, ID_AA64ZFR0, ID_AA64SMFR0, ID_AA64FPFR0,
//! ID_AA64ISAR3, ID_AA64MMFR3, ID_AA64MMFR4, ID_AA64DFR1: FPMR, GCS, SCTLR2, TCR2,
//! permission indirection and overlays, ...), whose EL1 registers stay trapped.
//!
//! The host also sees the PMU (it owns every counter), pointer authentication
//! (HCR_EL2.API/APK are set while it runs), SCXTNUM (HCR_EL2.EnSCXT), LORegions,
//! WFET/WFIT and MOPS (HCRX_EL2.MSCEn). Guests do not: the PMU and pointer
//! authentication keys are not switched, SCXTNUM and LORegions trap
//! (HCR_EL2.EnSCXT clear, TLOR set), a timed wait would become an unbounded one in the
//! monitor's WFI handling, and MOPS stays off in HCRX_EL2.

/// An ID register by (CRm, Op2).
type Encoding = (u8, u8);

/// A 4-bit field at bit `shift`.
const fn field(shift: u32) -> u64 {
    0xF << shift
}

/// Every field.
const ALL: u64 = u64::MAX;

/// What one world reads from the ID registers: per register, the fields kept from the
/// hardware value (the others read as zero, "not implemented"; registers not listed
/// read as zero), and fields capped at a highest value.
pub struct View {
    keep: &'static [(Encoding, u64)],
    caps: &'static [(Encoding, u32, u64)],
}

/// The AArch32 ID registers (for AArch32 EL0), as both worlds see them; each view
/// lists ID_DFR0_EL1 (1, 2) itself, without trace or what it hides of debug and PMU.
const AARCH32: &[Encoding] = &[
    (1, 0), // ID_PFR0_EL1
    (1, 1), // ID_PFR1_EL1
    (1, 3), // ID_AFR0_EL1
    (1, 4), // ID_MMFR0_EL1
    (1, 5), // ID_MMFR1_EL1
    (1, 6), // ID_MMFR2_EL1
    (1, 7), // ID_MMFR3_EL1
    (2, 0), // ID_ISAR0_EL1
    (2, 1), // ID_ISAR1_EL1
    (2, 2), // ID_ISAR2_EL1
    (2, 3), // ID_ISAR3_EL1
    (2, 4), // ID_ISAR4_EL1
    (2, 5), // ID_ISAR5_EL1
    (2, 6), // ID_MMFR4_EL1
    (2, 7), // ID_ISAR6_EL1
    (3, 0), // MVFR0_EL1
    (3, 1), // MVFR1_EL1
    (3, 2), // MVFR2_EL1
    (3, 4), // ID_PFR2_EL1
    (3, 6), // ID_MMFR5_EL1
];

/// ID_DFR0_EL1 trace fields: CopTrc [15:12], MMapTrc [19:16], TraceFilt [31:28].
const DFR0_AARCH32_TRACE: u64 = field(12) | field(16) | field(28);

/// ID_AA64PFR0_EL1: EL0-EL3, FP, AdvSIMD, GIC, SEL2, DIT, CSV2, CSV3; not RAS [31:28],
/// SVE [35:32], MPAM [43:40], AMU [47:44], RME [55:52].
const PFR0: u64 = !(field(28) | field(32) | field(40) | field(44) | field(52));
/// ID_AA64PFR0_EL1.CSV2 [59:56]: 2 and up add the SCXTNUM registers.
const CSV2: u32 = 56;
/// ID_AA64PFR1_EL1: BT [3:0], SSBS [7:4], CSV2_frac [35:32].
const PFR1: u64 = field(0) | field(4) | field(32);
/// ID_AA64DFR0_EL1: DebugVer [3:0], BRPs [15:12], WRPs [23:20], CTX_CMPs [31:28],
/// DoubleLock [39:36] (no trace, PMU, SPE, TRBE, MTPMU, BRBE, HPMN0 ...).
const DFR0_DEBUG: u64 = field(0) | field(12) | field(20) | field(28) | field(36);
/// ID_AA64DFR0_EL1.PMUVer [11:8].
const DFR0_PMU: u64 = field(8);
/// ID_AA64ISAR0_EL1: everything but TME [27:24].
const ISAR0: u64 = !field(24);
/// ID_AA64ISAR1_EL1 pointer authentication: APA [7:4], API [11:8], GPA [27:24],
/// GPI [31:28].
const ISAR1_PAUTH: u64 = field(4) | field(8) | field(24) | field(28);
/// ID_AA64ISAR1_EL1 without pointer authentication and LS64 [63:60].
const ISAR1: u64 = !(ISAR1_PAUTH | field(60));
/// ID_AA64ISAR2_EL1: RPRES [7:4], BC [23:20], CLRBHB [31:28].
const ISAR2: u64 = field(4) | field(20) | field(28);
/// ID_AA64ISAR2_EL1: WFxT [3:0], GPA3 [11:8], APA3 [15:12], MOPS [19:16],
/// PAC_frac [27:24].
const ISAR2_HOST: u64 = field(0) | field(8) | field(12) | field(16) | field(24);
/// ID_AA64MMFR1_EL1: everything but VH [11:8] (an EL2 feature) and LO [19:16].
const MMFR1: u64 = !(field(8) | field(16));
/// ID_AA64MMFR1_EL1.LO.
const MMFR1_LO: u64 = field(16);
/// ID_AA64MMFR2_EL1: everything but NV [27:24] (an EL2 feature).
const MMFR2: u64 = !field(24);

/// What a guest reads: also no PMU, pointer authentication, WFxT, MOPS, LORegions or
/// SCXTNUM (CSV2 capped at 1, and no CSV2_frac, which qualifies CSV2 = 1 only).
pub const GUEST: View = View {
    keep: &[
        // Nor secure debug (CopSDbg [7:4]) or the PMU (PerfMon [27:24]).
        ((1, 2), !(DFR0_AARCH32_TRACE | field(4) | field(24))),
        ((4, 0), PFR0),
        ((4, 1), PFR1 & !field(32)),
        ((5, 0), DFR0_DEBUG),
        ((5, 4), ALL), // ID_AA64AFR0_EL1
        ((5, 5), ALL), // ID_AA64AFR1_EL1
        ((6, 0), ISAR0),
        ((6, 1), ISAR1),
        ((6, 2), ISAR2),
        ((7, 0), ALL), // ID_AA64MMFR0_EL1
        ((7, 1), MMFR1),
        ((7, 2), MMFR2),
    ],
    caps: &[((4, 0), CSV2, 1)],
};

/// What the host reads.
pub const HOST: View = View {
    keep: &[
        ((1, 2), !DFR0_AARCH32_TRACE),
        ((4, 0), PFR0),
        ((4, 1), PFR1),
        ((5, 0), DFR0_DEBUG | DFR0_PMU),
        ((5, 4), ALL),
        ((5, 5), ALL),
        ((6, 0), ISAR0),
        ((6, 1), ISAR1 | ISAR1_PAUTH),
        ((6, 2), ISAR2 | ISAR2_HOST),
        ((7, 0), ALL),
        ((7, 1), MMFR1 | MMFR1_LO),
        ((7, 2), MMFR2),
    ],
    caps: &[],
};

impl View {
    /// The value this world reads from the ID register (CRm, Op2) when the hardware holds
    /// `hw`.
    pub fn read(&self, crm: u8, op2: u8, hw: u64) -> u64 {
        let keep = match self
            .keep
            .iter()
            .find(|(encoding, _)| *encoding == (crm, op2))
        {
            Some((_, keep)) => *keep,
            None if AARCH32.contains(&(crm, op2)) => ALL,
            None => 0,
        };
        self.caps
            .iter()
            .filter(|(encoding, _, _)| *encoding == (crm, op2))
            .fold(hw & keep, |value, &(_, shift, max)| {
                if (value >> shift) & 0xF > max {
                    value & !field(shift) | max << shift
                } else {
                    value
                }
            })
    }
}

/// What the CPU implements of the features whose EL2 controls the monitor sets by what
/// is there: a control bit of a missing feature is RES0, or names a register that does
/// not exist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// RAS (ID_AA64PFR0_EL1.RAS): HCR_EL2.TERR (RES0 without it).
    pub ras: bool,
    /// SCXTNUM_EL0/EL1 (ID_AA64PFR0_EL1.CSV2 >= 2): HCR_EL2.EnSCXT.
    pub scxtnum: bool,
    /// Activity monitors (ID_AA64PFR0_EL1.AMU): CPTR_EL2.TAM, HAFGRTR_EL2.
    pub amu: bool,
    /// MPAM (ID_AA64PFR0_EL1.MPAM or ID_AA64PFR1_EL1.MPAM_frac): MPAM2_EL2.
    pub mpam: bool,
    /// Pointer authentication (ID_AA64ISAR1_EL1.APA/API/GPA/GPI, ISAR2.APA3/GPA3):
    /// HCR_EL2.API/APK.
    pub pauth: bool,
    /// Memory copy and set instructions (ID_AA64ISAR2_EL1.MOPS): HCRX_EL2.MSCEn.
    pub mops: bool,
    /// LORegions (ID_AA64MMFR1_EL1.LO): HCR_EL2.TLOR.
    pub lor: bool,
    /// HCRX_EL2 (ID_AA64MMFR1_EL1.HCX).
    pub hcx: bool,
    /// Fine-grained traps (ID_AA64MMFR0_EL1.FGT): 1 for HFG*TR_EL2 and HDFG*TR_EL2,
    /// 2 for their *2 registers as well.
    pub fgt: u8,
    /// The trace unit's system registers (ID_AA64DFR0_EL1.TraceVer): CPTR_EL2.TTA.
    pub trace: bool,
    /// TRFCR_EL1 (ID_AA64DFR0_EL1.TraceFilt): MDCR_EL2.TTRF.
    pub trace_filter: bool,
    /// Statistical profiling (ID_AA64DFR0_EL1.PMSVer): MDCR_EL2.TPMS.
    pub spe: bool,
}

impl Features {
    /// The features of the CPU whose ID register (CRm, Op2) holds `read(crm, op2)`.
    pub fn from_id_registers(read: impl Fn(u8, u8) -> u64) -> Self {
        let get = |crm, op2, shift: u32| (read(crm, op2) >> shift) & 0xF;
        let isar1 = read(6, 1) & ISAR1_PAUTH;
        let isar2 = read(6, 2) & (field(8) | field(12));
        Self {
            ras: get(4, 0, 28) != 0,
            scxtnum: get(4, 0, CSV2) >= 2,
            amu: get(4, 0, 44) != 0,
            mpam: get(4, 0, 40) != 0 || get(4, 1, 16) != 0,
            pauth: isar1 != 0 || isar2 != 0,
            mops: get(6, 2, 16) != 0,
            lor: get(7, 1, 16) != 0,
            hcx: get(7, 1, 40) != 0,
            fgt: get(7, 0, 56) as u8,
            trace: get(5, 0, 4) != 0,
            trace_filter: get(5, 0, 40) != 0,
            spe: get(5, 0, 32) != 0,
        }
    }
}

/// Whether (Op0, Op1, CRn, CRm) is in the ID register space that HCR_EL2.TID3 traps.
pub fn is_id_register(op0: u8, op1: u8, crn: u8, crm: u8) -> bool {
    op0 == 3 && op1 == 0 && crn == 0 && (1..=7).contains(&crm)
}

/// The value a guest reads from the ID register (CRm, Op2) when the hardware holds `hw`.
pub fn guest_view(crm: u8, op2: u8, hw: u64) -> u64 {
    GUEST.read(crm, op2, hw)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Extracts the 4-bit field at `shift`.
    fn get(value: u64, shift: u32) -> u64 {
        (value >> shift) & 0xF
    }

    /// QEMU 10 `-cpu max`'s ID registers (CRm 4-7), as the monitor reads them at EL2.
    fn qemu_max(crm: u8, op2: u8) -> u64 {
        match (crm, op2) {
            (4, 0) => 0x1301_0011_2111_0222,
            (4, 1) => 0x0000_0010_0100_0121,
            (4, 4) => 0x0110_1101_0021_0021,
            (5, 0) => 0x1000_0000_1030_560a,
            (6, 0) => 0x1221_1111_1021_2120,
            (6, 1) => 0x0111_2111_1021_1502,
            (6, 2) => 0x0000_0000_0011_0012,
            (7, 0) => 0x2100_0323_1020_1126,
            (7, 1) => 0x0110_1120_1031_2122,
            (7, 2) => 0x1221_0111_1201_1011,
            (7, 3) => 0x1000_0000_0000_0000,
            _ => 0,
        }
    }

    #[test]
    fn features_of_qemu_max() {
        let f = Features::from_id_registers(qemu_max);
        assert_eq!(
            f,
            Features {
                ras: true,
                scxtnum: true,
                amu: false,
                mpam: false,
                pauth: true,
                mops: true,
                lor: true,
                hcx: true,
                fgt: 1,
                trace: false,
                trace_filter: false,
                spe: false,
            }
        );
        // A Cortex-A72 (QEMU raspi4b) has none of them.
        let a72 = |crm, op2| match (crm, op2) {
            (4, 0) => 0x0000_0000_0000_2222,
            (5, 0) => 0x0000_0000_1030_5106,
            (7, 0) => 0x0000_0000_0000_1124,
            _ => 0,
        };
        assert_eq!(Features::from_id_registers(a72), Features::default());
        // Pointer authentication by QARMA3 alone (ISAR2.APA3) counts too.
        let apa3 = |crm, op2| if (crm, op2) == (6, 2) { 1 << 12 } else { 0 };
        assert!(Features::from_id_registers(apa3).pauth);
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
    fn pfr0_hides_ras_sve_mpam_amu_and_keeps_the_rest() {
        let hw = 0x1201_1111_2222_2222u64 | 1 << 32 | 1 << 40 | 1 << 44 | 1 << 52;
        let seen = guest_view(4, 0, hw);
        for shift in [28, 32, 40, 44, 52] {
            assert_eq!(get(seen, shift), 0, "field at {shift}");
        }
        for shift in [0, 4, 8, 12, 16, 20, 24, 48, 60] {
            assert_eq!(get(seen, shift), get(hw, shift), "field at {shift}");
        }
        // CSV2 2 (SCXTNUM) reads as 1 for guests, as it is for the host.
        assert_eq!(get(seen, 56), 1, "CSV2");
        assert_eq!(get(HOST.read(4, 0, hw), 56), 2, "host CSV2");
        assert_eq!(
            get(guest_view(4, 0, 0), 56),
            0,
            "a cap never adds a feature"
        );
    }

    #[test]
    fn host_sees_the_same_pfr0_but_csv2() {
        // QEMU -cpu max: RAS 2, SVE 1, CSV2 3.
        let hw = 0x1301_0011_2111_0222;
        let without = hw & !(field(28) | field(32));
        assert_eq!(HOST.read(4, 0, hw), without);
        assert_eq!(guest_view(4, 0, hw), without & !field(56) | 1 << 56);
    }

    #[test]
    fn pfr1_hides_mte_ras_and_sme_but_keeps_bti_and_ssbs() {
        // BT 1, SSBS 2, MTE 3, RAS_frac 1, SME 2, NMI 1, CSV2_frac 2, GCS 1.
        let hw: u64 = 1 | 2 << 4 | 3 << 8 | 1 << 12 | 2 << 24 | 1 << 36 | 2 << 32 | 1 << 44;
        let seen = guest_view(4, 1, hw);
        assert_eq!(seen, 1 | 2 << 4);
        assert_eq!(HOST.read(4, 1, hw), 1 | 2 << 4 | 2 << 32);
    }

    #[test]
    fn host_sees_pmu_pauth_wfxt_mops_and_lo() {
        // QEMU -cpu max's ID_AA64DFR0_EL1, ISAR1, ISAR2, MMFR1.
        let dfr0 = 0x1000_0000_1030_560a;
        assert_eq!(get(HOST.read(5, 0, dfr0), 8), 6, "PMUVer");
        assert_eq!(HOST.read(5, 0, dfr0), 0x1030_560a, "HPMN0 hidden");
        let isar1 = 0x0111_2111_1021_1502;
        assert_eq!(HOST.read(6, 1, isar1), isar1);
        let isar2 = 0x0000_0000_0011_0012;
        assert_eq!(HOST.read(6, 2, isar2), isar2);
        assert_eq!(
            guest_view(6, 2, isar2),
            0x10_0010,
            "guests: RPRES and BC only"
        );
        let mmfr1 = 0x0110_1120_1031_2122;
        assert_eq!(get(HOST.read(7, 1, mmfr1), 16), 1, "LO");
        assert_eq!(get(HOST.read(7, 1, mmfr1), 8), 0, "VH");
        assert_eq!(get(guest_view(7, 1, mmfr1), 8), 0, "VH");
    }

    #[test]
    fn neither_world_sees_sve_sme_mte_gcs_or_the_mmfr3_features() {
        for view in [&GUEST, &HOST] {
            for (crm, op2) in [
                (4, 2),
                (4, 4),
                (4, 5),
                (4, 7),
                (5, 1),
                (6, 3),
                (7, 3),
                (7, 4),
            ] {
                assert_eq!(view.read(crm, op2, u64::MAX), 0, "({crm}, {op2})");
            }
            let pfr1 = view.read(4, 1, u64::MAX);
            for (name, shift) in [
                ("MTE", 8),
                ("RAS_frac", 12),
                ("SME", 24),
                ("NMI", 36),
                ("GCS", 44),
            ] {
                assert_eq!(get(pfr1, shift), 0, "{name}");
            }
            assert_eq!(get(view.read(4, 0, u64::MAX), 28), 0, "RAS");
            assert_eq!(get(view.read(4, 0, u64::MAX), 32), 0, "SVE");
            let dfr0 = view.read(5, 0, u64::MAX);
            for (name, shift) in [
                ("TraceVer", 4),
                ("PMSVer", 32),
                ("TraceFilt", 40),
                ("TraceBuffer", 44),
                ("BRBE", 52),
            ] {
                assert_eq!(get(dfr0, shift), 0, "{name}");
            }
            assert_eq!(get(view.read(7, 2, u64::MAX), 24), 0, "NV");
        }
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

//! Decoding trapped MSR, MRS and SYS instructions (ESR_EL2.EC 0x18) into the system register
//! or operation they access (reference §5.9).

/// A system register or SYS operation, named when the monitor traps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysReg {
    /// SCTLR_EL1 (3, 0, 1, 0, 0).
    Sctlr,
    /// TTBR0_EL1 (3, 0, 2, 0, 0).
    Ttbr0,
    /// TTBR1_EL1 (3, 0, 2, 0, 1).
    Ttbr1,
    /// TCR_EL1 (3, 0, 2, 0, 2).
    Tcr,
    /// MAIR_EL1 (3, 0, 10, 2, 0).
    Mair,
    /// AMAIR_EL1 (3, 0, 10, 3, 0).
    Amair,
    /// CONTEXTIDR_EL1 (3, 0, 13, 0, 1).
    ContextIdr,
    /// ESR_EL1 (3, 0, 5, 2, 0).
    Esr,
    /// FAR_EL1 (3, 0, 6, 0, 0).
    Far,
    /// AFSR0_EL1 (3, 0, 5, 1, 0).
    Afsr0,
    /// AFSR1_EL1 (3, 0, 5, 1, 1).
    Afsr1,
    /// DC ISW, data cache invalidate by set/way (SYS 1, 0, 7, 6, 2).
    DcIsw,
    /// DC CSW, data cache clean by set/way (SYS 1, 0, 7, 10, 2).
    DcCsw,
    /// DC CISW, data cache clean and invalidate by set/way (SYS 1, 0, 7, 14, 2).
    DcCisw,
    /// ICC_SGI1R_EL1, the GICv3 group-1 SGI generation register (3, 0, 12, 11, 5).
    IccSgi1r,
    /// OSLAR_EL1 (2, 0, 1, 0, 4).
    OsLar,
    /// OSLSR_EL1 (2, 0, 1, 1, 4).
    OsLsr,
    /// OSDLR_EL1 (2, 0, 1, 3, 4).
    OsDlr,
    /// DBGPRCR_EL1 (2, 0, 1, 4, 4).
    DbgPrcr,
    /// MDRAR_EL1 (2, 0, 1, 0, 0).
    Mdrar,
    /// ACTLR_EL1 (3, 0, 1, 0, 1).
    Actlr,
    /// CNTP_TVAL_EL0 (3, 3, 14, 2, 0), the EL1 physical timer's countdown (CNTHCTL_EL2.EL1PCEN
    /// traps the physical timer for guests; the monitor emulates it).
    CntpTval,
    /// CNTP_CTL_EL0 (3, 3, 14, 2, 1).
    CntpCtl,
    /// CNTP_CVAL_EL0 (3, 3, 14, 2, 2).
    CntpCval,
    /// An ID register (3, 0, 0, CRm 1-7, Op2), trapped by HCR_EL2.TID3 (see idregs.rs).
    IdReg {
        /// CRm.
        crm: u8,
        /// Op2.
        op2: u8,
    },
    /// Any other encoding.
    Other {
        /// Op0.
        op0: u8,
        /// Op1.
        op1: u8,
        /// CRn.
        crn: u8,
        /// CRm.
        crm: u8,
        /// Op2.
        op2: u8,
    },
}

impl SysReg {
    /// The register or operation with the encoding (Op0, Op1, CRn, CRm, Op2).
    pub fn from_encoding(op0: u8, op1: u8, crn: u8, crm: u8, op2: u8) -> Self {
        if crate::idregs::is_id_register(op0, op1, crn, crm) {
            return Self::IdReg { crm, op2 };
        }
        match (op0, op1, crn, crm, op2) {
            (3, 0, 1, 0, 0) => Self::Sctlr,
            (3, 0, 2, 0, 0) => Self::Ttbr0,
            (3, 0, 2, 0, 1) => Self::Ttbr1,
            (3, 0, 2, 0, 2) => Self::Tcr,
            (3, 0, 10, 2, 0) => Self::Mair,
            (3, 0, 10, 3, 0) => Self::Amair,
            (3, 0, 13, 0, 1) => Self::ContextIdr,
            (3, 0, 5, 2, 0) => Self::Esr,
            (3, 0, 6, 0, 0) => Self::Far,
            (3, 0, 5, 1, 0) => Self::Afsr0,
            (3, 0, 5, 1, 1) => Self::Afsr1,
            (1, 0, 7, 6, 2) => Self::DcIsw,
            (1, 0, 7, 10, 2) => Self::DcCsw,
            (1, 0, 7, 14, 2) => Self::DcCisw,
            (3, 0, 12, 11, 5) => Self::IccSgi1r,
            (2, 0, 1, 0, 4) => Self::OsLar,
            (2, 0, 1, 1, 4) => Self::OsLsr,
            (2, 0, 1, 3, 4) => Self::OsDlr,
            (2, 0, 1, 4, 4) => Self::DbgPrcr,
            (2, 0, 1, 0, 0) => Self::Mdrar,
            (3, 0, 1, 0, 1) => Self::Actlr,
            (3, 3, 14, 2, 0) => Self::CntpTval,
            (3, 3, 14, 2, 1) => Self::CntpCtl,
            (3, 3, 14, 2, 2) => Self::CntpCval,
            _ => Self::Other {
                op0,
                op1,
                crn,
                crm,
                op2,
            },
        }
    }
}

/// A trapped MSR, MRS or SYS instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysRegAccess {
    /// The register or operation accessed.
    pub reg: SysReg,
    /// The general-purpose register transferred (31 = XZR).
    pub rt: u8,
    /// MRS (a read into `rt`) rather than MSR or SYS.
    pub read: bool,
}

/// Decodes the ISS of an EC 0x18 exception: Op0 \[21:20\], Op2 \[19:17\], Op1 \[16:14\],
/// CRn \[13:10\], Rt \[9:5\], CRm \[4:1\], Dir \[0\] (1 = read).
/// The register's architectural name (`DC ISW` for the set/way operations), or for the
/// rest its generic assembler name `S<op0>_<op1>_C<n>_C<m>_<op2>`.
impl core::fmt::Display for SysReg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = match *self {
            Self::Sctlr => "SCTLR_EL1",
            Self::Ttbr0 => "TTBR0_EL1",
            Self::Ttbr1 => "TTBR1_EL1",
            Self::Tcr => "TCR_EL1",
            Self::Mair => "MAIR_EL1",
            Self::Amair => "AMAIR_EL1",
            Self::ContextIdr => "CONTEXTIDR_EL1",
            Self::Esr => "ESR_EL1",
            Self::Far => "FAR_EL1",
            Self::Afsr0 => "AFSR0_EL1",
            Self::Afsr1 => "AFSR1_EL1",
            Self::DcIsw => "DC ISW",
            Self::DcCsw => "DC CSW",
            Self::DcCisw => "DC CISW",
            Self::IccSgi1r => "ICC_SGI1R_EL1",
            Self::OsLar => "OSLAR_EL1",
            Self::OsLsr => "OSLSR_EL1",
            Self::OsDlr => "OSDLR_EL1",
            Self::DbgPrcr => "DBGPRCR_EL1",
            Self::Mdrar => "MDRAR_EL1",
            Self::Actlr => "ACTLR_EL1",
            Self::CntpTval => "CNTP_TVAL_EL0",
            Self::CntpCtl => "CNTP_CTL_EL0",
            Self::CntpCval => "CNTP_CVAL_EL0",
            Self::IdReg { crm, op2 } => return write!(f, "S3_0_C0_C{crm}_{op2}"),
            Self::Other {
                op0,
                op1,
                crn,
                crm,
                op2,
            } => return write!(f, "S{op0}_{op1}_C{crn}_C{crm}_{op2}"),
        };
        f.write_str(name)
    }
}

/// A general-purpose register operand: `x0`-`x30`, or `xzr` for 31.
struct Operand(u8);

impl core::fmt::Display for Operand {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            31 => f.write_str("xzr"),
            n => write!(f, "x{n}"),
        }
    }
}

/// The trapped instruction, as an assembler would write it (`MSR S3_3_C14_C2_1, x0`), for
/// the monitor's reports.
impl core::fmt::Display for SysRegAccess {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (reg, rt) = (self.reg, Operand(self.rt));
        match reg {
            _ if self.read => write!(f, "MRS {rt}, {reg}"),
            SysReg::DcIsw | SysReg::DcCsw | SysReg::DcCisw => write!(f, "{reg}, {rt}"),
            SysReg::Other { op0: 1, .. } => write!(f, "SYS {reg}, {rt}"),
            _ => write!(f, "MSR {reg}, {rt}"),
        }
    }
}

pub fn decode(iss: u32) -> SysRegAccess {
    let field = |shift: u32, width: u32| ((iss >> shift) & ((1 << width) - 1)) as u8;
    SysRegAccess {
        reg: SysReg::from_encoding(
            field(20, 2),
            field(14, 3),
            field(10, 4),
            field(1, 4),
            field(17, 3),
        ),
        rt: field(5, 5),
        read: iss & 1 != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Arm ARM encodings (Op0, Op1, CRn, CRm, Op2) of the named registers.
    const NAMED: [(SysReg, [u32; 5]); 24] = [
        (SysReg::Sctlr, [3, 0, 1, 0, 0]),
        (SysReg::Ttbr0, [3, 0, 2, 0, 0]),
        (SysReg::Ttbr1, [3, 0, 2, 0, 1]),
        (SysReg::Tcr, [3, 0, 2, 0, 2]),
        (SysReg::Mair, [3, 0, 10, 2, 0]),
        (SysReg::Amair, [3, 0, 10, 3, 0]),
        (SysReg::ContextIdr, [3, 0, 13, 0, 1]),
        (SysReg::Esr, [3, 0, 5, 2, 0]),
        (SysReg::Far, [3, 0, 6, 0, 0]),
        (SysReg::Afsr0, [3, 0, 5, 1, 0]),
        (SysReg::Afsr1, [3, 0, 5, 1, 1]),
        (SysReg::DcIsw, [1, 0, 7, 6, 2]),
        (SysReg::DcCsw, [1, 0, 7, 10, 2]),
        (SysReg::DcCisw, [1, 0, 7, 14, 2]),
        (SysReg::IccSgi1r, [3, 0, 12, 11, 5]),
        (SysReg::OsLar, [2, 0, 1, 0, 4]),
        (SysReg::OsLsr, [2, 0, 1, 1, 4]),
        (SysReg::OsDlr, [2, 0, 1, 3, 4]),
        (SysReg::DbgPrcr, [2, 0, 1, 4, 4]),
        (SysReg::Mdrar, [2, 0, 1, 0, 0]),
        (SysReg::Actlr, [3, 0, 1, 0, 1]),
        (SysReg::CntpTval, [3, 3, 14, 2, 0]),
        (SysReg::CntpCtl, [3, 3, 14, 2, 1]),
        (SysReg::CntpCval, [3, 3, 14, 2, 2]),
    ];

    /// The ISS of a trapped access to (Op0, Op1, CRn, CRm, Op2).
    fn iss([op0, op1, crn, crm, op2]: [u32; 5], rt: u32, read: bool) -> u32 {
        op0 << 20 | op2 << 17 | op1 << 14 | crn << 10 | rt << 5 | crm << 1 | u32::from(read)
    }

    /// The ISS for a Zircon register key (`Op0:Op2:Op1:CRn:CRm`).
    fn iss_from_zircon_key(key: u32, rt: u32, read: bool) -> u32 {
        let enc = [
            key >> 14,
            (key >> 8) & 7,
            (key >> 4) & 0xF,
            key & 0xF,
            (key >> 11) & 7,
        ];
        iss(enc, rt, read)
    }

    #[test]
    fn decodes_each_named_register() {
        for (reg, enc) in NAMED {
            for (rt, read) in [(0, false), (17, true), (31, false), (30, true)] {
                assert_eq!(
                    decode(iss(enc, rt, read)),
                    SysRegAccess {
                        reg,
                        rt: rt as u8,
                        read
                    },
                    "{enc:?}"
                );
            }
        }
    }

    #[test]
    fn reports_name_the_instruction() {
        let text = |enc, rt, read| decode(iss(enc, rt, read)).to_string();
        assert_eq!(text([3, 3, 14, 2, 1], 0, false), "MSR CNTP_CTL_EL0, x0");
        assert_eq!(text([3, 3, 14, 2, 1], 31, true), "MRS xzr, CNTP_CTL_EL0");
        // PMCCNTR_EL0, which guests do not have.
        assert_eq!(text([3, 3, 9, 13, 0], 1, true), "MRS x1, S3_3_C9_C13_0");
        assert_eq!(text([3, 0, 1, 0, 0], 3, false), "MSR SCTLR_EL1, x3");
        assert_eq!(text([3, 0, 0, 4, 0], 2, true), "MRS x2, S3_0_C0_C4_0");
        assert_eq!(text([1, 0, 7, 14, 2], 5, false), "DC CISW, x5");
        assert_eq!(text([1, 0, 7, 5, 1], 9, false), "SYS S1_0_C7_C5_1, x9");
        assert_eq!(text([3, 0, 12, 11, 5], 31, false), "MSR ICC_SGI1R_EL1, xzr");
    }

    #[test]
    fn decodes_id_registers() {
        // ID_AA64PFR0_EL1 (3, 0, 0, 4, 0) and ID_AA64MMFR2_EL1 (3, 0, 0, 7, 2).
        assert_eq!(
            decode(iss([3, 0, 0, 4, 0], 2, true)).reg,
            SysReg::IdReg { crm: 4, op2: 0 }
        );
        assert_eq!(
            decode(iss([3, 0, 0, 7, 2], 2, true)).reg,
            SysReg::IdReg { crm: 7, op2: 2 }
        );
        // MIDR_EL1 (CRm 0) is not in the trapped space.
        assert!(matches!(
            decode(iss([3, 0, 0, 0, 0], 2, true)).reg,
            SysReg::Other { .. }
        ));
    }

    #[test]
    fn agrees_with_zircon_keys() {
        let keys = [
            (0xC0A2, SysReg::Mair),
            (0xC010, SysReg::Sctlr),
            (0xD020, SysReg::Tcr),
            (0xC020, SysReg::Ttbr0),
            (0xC820, SysReg::Ttbr1),
            (0xA010, SysReg::OsLar),
            (0xA011, SysReg::OsLsr),
            (0xA013, SysReg::OsDlr),
            (0xA014, SysReg::DbgPrcr),
            (0xE8CB, SysReg::IccSgi1r),
            (0x5076, SysReg::DcIsw),
            (0x507E, SysReg::DcCisw),
            (0x507A, SysReg::DcCsw),
        ];
        for (key, reg) in keys {
            assert_eq!(
                decode(iss_from_zircon_key(key, 5, false)).reg,
                reg,
                "{key:#x}"
            );
            // Zircon's own folding of the ISS gives the key back.
            let iss = iss_from_zircon_key(key, 9, true);
            assert_eq!(((iss & 0x3F_FC00) >> 6) | ((iss >> 1) & 0xF), key);
        }
    }

    #[test]
    fn real_instruction_syndromes() {
        // msr sctlr_el1, x0
        assert_eq!(
            decode(0x30_0400),
            SysRegAccess {
                reg: SysReg::Sctlr,
                rt: 0,
                read: false
            }
        );
        // mrs x1, ttbr1_el1
        assert_eq!(
            decode(0x32_0821),
            SysRegAccess {
                reg: SysReg::Ttbr1,
                rt: 1,
                read: true
            }
        );
        // dc cisw, x3
        assert_eq!(
            decode(0x14_1C7C),
            SysRegAccess {
                reg: SysReg::DcCisw,
                rt: 3,
                read: false
            }
        );
    }

    #[test]
    fn other_encodings_keep_their_fields() {
        // mrs x4, cntvct_el0 (3, 3, 14, 0, 2)
        assert_eq!(
            decode(iss([3, 3, 14, 0, 2], 4, true)),
            SysRegAccess {
                reg: SysReg::Other {
                    op0: 3,
                    op1: 3,
                    crn: 14,
                    crm: 0,
                    op2: 2
                },
                rt: 4,
                read: true
            }
        );
        // A neighbour of a named register differing only in Op1 is not that register:
        // SCTLR_EL2 is (3, 4, 1, 0, 0).
        assert!(matches!(
            decode(iss([3, 4, 1, 0, 0], 0, false)).reg,
            SysReg::Other { op1: 4, .. }
        ));
    }
}

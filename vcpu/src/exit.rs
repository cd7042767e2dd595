//! Decoding a guest exit: what the guest did, from ESR_EL2, FAR_EL2 and HPFAR_EL2 as the
//! world switch saved them (reference §5.3).

use crate::esr::{Esr, ExceptionClass};
use crate::regs::PendingRead;
use crate::sysreg::{self, SysRegAccess};

/// HPFAR_EL2.FIPA, bits \[43:4\], holding IPA bits \[51:12\].
const HPFAR_FIPA_MASK: u64 = 0x0000_0FFF_FFFF_FFF0;

/// A guest data access that stage 2 trapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mmio {
    /// The exact faulting IPA: the page from HPFAR_EL2, the offset from FAR_EL2.
    pub ipa: u64,
    /// The access is a store (ISS.WnR).
    pub write: bool,
    /// The transfer register, size and extension (ISS.SRT, SAS, SSE, SF), in the form a read
    /// leaves pending; `None` when the syndrome is not valid (ISS.ISV = 0, e.g. LDP/STP or a
    /// write-back addressing mode).
    pub syndrome: Option<PendingRead>,
}

/// Why the guest stopped running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// WFI (or WFIT).
    Wfi,
    /// WFE (or WFET).
    Wfe,
    /// HVC with its immediate.
    Hvc {
        /// The instruction's 16-bit immediate.
        imm: u16,
    },
    /// SMC (trapped by HCR_EL2.TSC) with its immediate.
    Smc {
        /// The instruction's 16-bit immediate.
        imm: u16,
    },
    /// A trapped MSR, MRS or SYS instruction.
    SysReg(SysRegAccess),
    /// A stage-2 data abort with a trustworthy HPFAR_EL2.
    DataAbort(Mmio),
    /// A stage-2 instruction abort (every kind: the guest gets a prefetch abort).
    InstructionAbort {
        /// The exact faulting IPA, when HPFAR_EL2 holds it.
        ipa: Option<u64>,
    },
    /// A data abort for which HPFAR_EL2 does not hold the IPA (any fault but a translation,
    /// access-flag or address-size fault, or a permission fault on a stage-1 table walk), so
    /// it cannot be handled.
    BadAbort {
        /// The full ESR_EL2 value, for the report.
        esr: u64,
    },
    /// An FP/SIMD access trapped by CPTR_EL2.TFP.
    FpSimd,
    /// An SError interrupt.
    SError,
    /// Any other exception class.
    Other {
        /// ESR_EL2.EC.
        ec: u8,
    },
}

/// Decodes an exit from the guest's ESR_EL2, FAR_EL2 and HPFAR_EL2.
pub fn decode(esr: u64, far: u64, hpfar: u64) -> Exit {
    let e = Esr(esr);
    let ipa = ((hpfar & HPFAR_FIPA_MASK) << 8) | (far & 0xFFF);
    match e.class() {
        ExceptionClass::WfiWfe if e.iss() & 1 != 0 => Exit::Wfe,
        ExceptionClass::WfiWfe => Exit::Wfi,
        ExceptionClass::Hvc64 => Exit::Hvc { imm: e.imm16() },
        ExceptionClass::Smc64 => Exit::Smc { imm: e.imm16() },
        ExceptionClass::SysReg => Exit::SysReg(sysreg::decode(e.iss())),
        ExceptionClass::FpSimd => Exit::FpSimd,
        ExceptionClass::SError => Exit::SError,
        ExceptionClass::InstAbortLower => Exit::InstructionAbort {
            ipa: hpfar_valid(e.iss()).then_some(ipa),
        },
        ExceptionClass::DataAbortLower if !hpfar_valid(e.iss()) => Exit::BadAbort { esr },
        ExceptionClass::DataAbortLower => {
            let da = e.data_abort();
            Exit::DataAbort(Mmio {
                ipa,
                write: da.write,
                syndrome: da.valid.then_some(PendingRead {
                    xt: da.xt,
                    access_size: da.access_size,
                    sign_extend: da.sign_extend,
                    sixty_four: da.sixty_four,
                }),
            })
        }
        _ => Exit::Other { ec: e.ec() },
    }
}

/// Whether HPFAR_EL2 holds the faulting IPA for an abort with this ISS (data and instruction
/// aborts share the FSC \[5:0\] and S1PTW \[7\] fields): for translation, access-flag and
/// address-size faults, and for permission faults only on a stage-1 table walk.
fn hpfar_valid(iss: u32) -> bool {
    let fsc = iss & 0x3F;
    let s1ptw = iss & (1 << 7) != 0;
    match fsc >> 2 {
        0b0000..=0b0010 => true,
        0b0011 => s1ptw,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysreg::SysReg;

    /// HPFAR_EL2 for the page of `ipa`.
    fn hpfar(ipa: u64) -> u64 {
        (ipa >> 12) << 4
    }

    #[test]
    fn store_of_x1_to_a_trapped_page() {
        // str x1, [x0]: EC 0x24, IL, ISV, SAS = 3, SRT = 1, SF, WnR, DFSC = translation L3.
        let exit = decode(0x93C1_8047, 0xFFFF_0000_00AB_C123, hpfar(0xFFE000));
        assert_eq!(
            exit,
            Exit::DataAbort(Mmio {
                ipa: 0xFFE123,
                write: true,
                syndrome: Some(PendingRead {
                    xt: 1,
                    access_size: 8,
                    sign_extend: false,
                    sixty_four: true
                }),
            })
        );
    }

    #[test]
    fn signed_byte_load_into_w3() {
        // ldrsb w3, [x2]: ISV, SAS = 0, SSE, SRT = 3, SF = 0, a read, DFSC = translation L2.
        let exit = decode(0x9323_0006, 0x0800_0FFF, hpfar(0x0800_0000));
        assert_eq!(
            exit,
            Exit::DataAbort(Mmio {
                ipa: 0x0800_0FFF,
                write: false,
                syndrome: Some(PendingRead {
                    xt: 3,
                    access_size: 1,
                    sign_extend: true,
                    sixty_four: false
                }),
            })
        );
    }

    #[test]
    fn load_pair_has_no_syndrome() {
        // ldp x0, x1, [x2]: ISV = 0.
        match decode(0x9200_0007, 0x10, hpfar(0x9000_0000)) {
            Exit::DataAbort(mmio) => {
                assert_eq!(mmio.ipa, 0x9000_0010);
                assert!(!mmio.write);
                assert_eq!(mmio.syndrome, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ipa_uses_only_hpfar_fipa_and_the_far_page_offset() {
        let top = 0x000F_FFFF_FFFF_F000;
        let hpfar = hpfar(top) | 0xF | 0xFFFF_F000_0000_0000;
        match decode(0x93C1_8047, u64::MAX, hpfar) {
            Exit::DataAbort(mmio) => assert_eq!(mmio.ipa, 0x000F_FFFF_FFFF_FFFF),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hpfar_is_trusted_only_for_the_architected_fault_kinds() {
        // Address-size, translation and access-flag faults at levels 0..3.
        for dfsc in 0x00..0x0C {
            let exit = decode(0x9200_0000 | dfsc, 0x4, hpfar(0x5000));
            assert!(
                matches!(exit, Exit::DataAbort(m) if m.ipa == 0x5004),
                "{dfsc:#x}"
            );
        }
        // Permission faults, synchronous external aborts, alignment and TLB-conflict faults.
        for dfsc in [0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x15, 0x21, 0x30] {
            let esr = 0x9200_0040 | dfsc;
            assert_eq!(
                decode(esr, 0, hpfar(0x5000)),
                Exit::BadAbort { esr },
                "{dfsc:#x}"
            );
        }
    }

    #[test]
    fn permission_fault_needs_a_stage1_walk() {
        // A stage-2 permission fault (L3) on a store: HPFAR is UNKNOWN.
        assert_eq!(
            decode(0x9200_004F, 0x123, hpfar(0x4000_0000)),
            Exit::BadAbort { esr: 0x9200_004F }
        );
        // The same fault during a stage-1 table walk (S1PTW): HPFAR holds the IPA.
        assert_eq!(
            decode(0x9200_008F, 0x123, hpfar(0x4000_0000)),
            Exit::DataAbort(Mmio {
                ipa: 0x4000_0123,
                write: false,
                syndrome: None
            })
        );
    }

    #[test]
    fn instruction_aborts() {
        // Translation fault L3 on an instruction fetch.
        assert_eq!(
            decode(0x8200_0007, 0xFFFF_0000_0000_0A88, hpfar(0x4008_0000)),
            Exit::InstructionAbort {
                ipa: Some(0x4008_0A88)
            }
        );
        // Permission fault: the IPA only with S1PTW.
        assert_eq!(
            decode(0x8200_000F, 0, hpfar(0x4008_0000)),
            Exit::InstructionAbort { ipa: None }
        );
        assert_eq!(
            decode(0x8200_008F, 0, hpfar(0x4008_0000)),
            Exit::InstructionAbort {
                ipa: Some(0x4008_0000)
            }
        );
        // Synchronous external abort on a fetch.
        assert_eq!(
            decode(0x8200_0010, 0, hpfar(0x4008_0000)),
            Exit::InstructionAbort { ipa: None }
        );
    }

    #[test]
    fn hvc_and_smc_carry_their_immediates() {
        assert_eq!(decode(0x5A00_0000, 0, 0), Exit::Hvc { imm: 0 });
        assert_eq!(decode(0x5A00_1234, 0, 0), Exit::Hvc { imm: 0x1234 });
        assert_eq!(decode(0x5E00_0000, 0, 0), Exit::Smc { imm: 0 });
        assert_eq!(decode(0x5E00_FFFF, 0, 0), Exit::Smc { imm: 0xFFFF });
    }

    #[test]
    fn wfi_and_wfe() {
        // EC 0x01, IL, CV = 1, COND = 0b1110; TI = 0 is WFI, 1 is WFE.
        assert_eq!(decode(0x07E0_0000, 0, 0), Exit::Wfi);
        assert_eq!(decode(0x07E0_0001, 0, 0), Exit::Wfe);
    }

    #[test]
    fn msr_sctlr_el1() {
        // msr sctlr_el1, x2: EC 0x18, IL, Op0 = 3, CRn = 1, Rt = 2, a write.
        assert_eq!(
            decode(0x6230_0440, 0, 0),
            Exit::SysReg(SysRegAccess {
                reg: SysReg::Sctlr,
                rt: 2,
                read: false
            })
        );
    }

    #[test]
    fn fp_serror_and_other_classes() {
        assert_eq!(decode(0x1E00_0000, 0, 0), Exit::FpSimd);
        assert_eq!(decode(0xBE00_0000, 0, 0), Exit::SError);
        assert_eq!(decode(0xF200_0000, 0, 0), Exit::Other { ec: 0x3C });
        assert_eq!(decode(0x0200_0000, 0, 0), Exit::Other { ec: 0 });
        // Aborts taken at EL2 itself are not guest exits.
        assert_eq!(decode(0x9600_0007, 0, 0), Exit::Other { ec: 0x25 });
    }
}

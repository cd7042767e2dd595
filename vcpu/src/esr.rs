//! Exception Syndrome Register (ESR_ELx) decoding: exception classes and the
//! data-abort, system-register and HVC/SMC syndromes.

/// An ESR_ELx value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Esr(pub u64);

/// Exception classes (ESR bits \[31:26\]) the monitor handles or reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExceptionClass {
    Unknown,
    WfiWfe,
    FpSimd,
    Svc64,
    Hvc64,
    Smc64,
    SysReg,
    InstAbortLower,
    InstAbortSame,
    PcAlignment,
    DataAbortLower,
    DataAbortSame,
    SpAlignment,
    SError,
    BreakpointLower,
    SoftwareStepLower,
    WatchpointLower,
    Brk,
    Other(u8),
}

impl ExceptionClass {
    #[inline]
    pub fn from_code(ec: u8) -> Self {
        match ec {
            0x00 => Self::Unknown,
            0x01 => Self::WfiWfe,
            0x07 => Self::FpSimd,
            0x15 => Self::Svc64,
            0x16 => Self::Hvc64,
            0x17 => Self::Smc64,
            0x18 => Self::SysReg,
            0x20 => Self::InstAbortLower,
            0x21 => Self::InstAbortSame,
            0x22 => Self::PcAlignment,
            0x24 => Self::DataAbortLower,
            0x25 => Self::DataAbortSame,
            0x26 => Self::SpAlignment,
            0x2f => Self::SError,
            0x30 => Self::BreakpointLower,
            0x32 => Self::SoftwareStepLower,
            0x34 => Self::WatchpointLower,
            0x3c => Self::Brk,
            other => Self::Other(other),
        }
    }

    /// A short human-readable name for fault reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown reason (undefined instruction)",
            Self::WfiWfe => "WFI/WFE",
            Self::FpSimd => "FP/SIMD access",
            Self::Svc64 => "SVC",
            Self::Hvc64 => "HVC",
            Self::Smc64 => "SMC",
            Self::SysReg => "MSR/MRS/system instruction",
            Self::InstAbortLower => "instruction abort from a lower EL",
            Self::InstAbortSame => "instruction abort at EL2",
            Self::PcAlignment => "PC alignment fault",
            Self::DataAbortLower => "data abort from a lower EL",
            Self::DataAbortSame => "data abort at EL2",
            Self::SpAlignment => "SP alignment fault",
            Self::SError => "SError",
            Self::BreakpointLower => "breakpoint from a lower EL",
            Self::SoftwareStepLower => "software step from a lower EL",
            Self::WatchpointLower => "watchpoint from a lower EL",
            Self::Brk => "BRK instruction",
            Self::Other(_) => "other",
        }
    }
}

/// A decoded data-abort syndrome (ISS of EC 0x24/0x25).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataAbort {
    /// ISV: the fields below describing the access are valid.
    pub valid: bool,
    /// Access size in bytes (1, 2, 4, 8).
    pub access_size: u8,
    pub sign_extend: bool,
    /// Transfer register (31 = XZR/WZR).
    pub xt: u8,
    /// SF: the register is 64 bits wide.
    pub sixty_four: bool,
    pub write: bool,
    /// S1PTW: the fault happened on a stage-1 table walk.
    pub s1ptw: bool,
    /// DFSC, the data fault status code.
    pub fsc: u8,
}

impl Esr {
    #[inline]
    pub fn class(self) -> ExceptionClass {
        ExceptionClass::from_code(self.ec())
    }

    #[inline]
    pub fn ec(self) -> u8 {
        ((self.0 >> 26) & 0x3f) as u8
    }

    /// IL: the trapped instruction is 32 bits long.
    #[inline]
    pub fn il(self) -> bool {
        self.0 & (1 << 25) != 0
    }

    /// Length in bytes of the trapped instruction.
    #[inline]
    pub fn instruction_len(self) -> u64 {
        if self.il() {
            4
        } else {
            2
        }
    }

    #[inline]
    pub fn iss(self) -> u32 {
        (self.0 & 0x1ff_ffff) as u32
    }

    /// The 16-bit immediate of an HVC/SMC.
    #[inline]
    pub fn imm16(self) -> u16 {
        (self.0 & 0xffff) as u16
    }

    /// Whether a data or instruction abort is a translation fault, at any
    /// level (DFSC/IFSC 0b0001LL): what an entry that is invalid for the
    /// moment gives, as opposed to a permission or address-size fault.
    #[inline]
    pub fn translation_fault(self) -> bool {
        self.iss() & 0x3c == 0x04
    }

    pub fn data_abort(self) -> DataAbort {
        let iss = self.iss();
        DataAbort {
            valid: iss & (1 << 24) != 0,
            access_size: 1 << ((iss >> 22) & 3),
            sign_extend: iss & (1 << 21) != 0,
            xt: ((iss >> 16) & 0x1f) as u8,
            sixty_four: iss & (1 << 15) != 0,
            write: iss & (1 << 6) != 0,
            s1ptw: iss & (1 << 7) != 0,
            fsc: (iss & 0x3f) as u8,
        }
    }
}

impl core::fmt::Debug for Esr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "ESR {:#x} (EC {:#04x}: {}, ISS {:#x})",
            self.0,
            self.ec(),
            self.class().name(),
            self.iss()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_hvc_and_smc() {
        let hvc = Esr(0x5a00_0000);
        assert_eq!(hvc.class(), ExceptionClass::Hvc64);
        assert_eq!(hvc.imm16(), 0);
        assert!(hvc.il());
        let smc = Esr(0x5e00_0001);
        assert_eq!(smc.class(), ExceptionClass::Smc64);
        assert_eq!(smc.imm16(), 1);
    }

    #[test]
    fn decodes_a_stage2_store_abort() {
        // str x1, [x0] (64-bit): ISV, SAS=3, SRT=1, SF, WnR, DFSC = translation fault L3.
        let esr = Esr((0x24 << 26)
            | (1 << 25)
            | (1 << 24)
            | (3 << 22)
            | (1 << 16)
            | (1 << 15)
            | (1 << 6)
            | 0x07);
        assert_eq!(esr.class(), ExceptionClass::DataAbortLower);
        let da = esr.data_abort();
        assert_eq!(
            da,
            DataAbort {
                valid: true,
                access_size: 8,
                sign_extend: false,
                xt: 1,
                sixty_four: true,
                write: true,
                s1ptw: false,
                fsc: 7
            }
        );
        assert_eq!(esr.instruction_len(), 4);
    }

    #[test]
    fn decodes_a_signed_byte_load_into_wzr() {
        // SAS = 0 (one byte), SSE, SRT = 31, a read, 16-bit instruction (IL = 0).
        let esr = Esr((0x24 << 26) | (1 << 24) | (1 << 21) | (31 << 16) | 0x06);
        let da = esr.data_abort();
        assert_eq!(
            (
                da.access_size,
                da.sign_extend,
                da.xt,
                da.write,
                da.sixty_four
            ),
            (1, true, 31, false, false)
        );
        assert_eq!(esr.instruction_len(), 2);
    }

    #[test]
    fn tells_translation_faults_from_other_aborts() {
        for fsc in 0x04..0x08 {
            assert!(Esr((0x24 << 26) | fsc).translation_fault(), "{fsc:#x}");
            assert!(
                Esr((0x20 << 26) | (1 << 7) | fsc).translation_fault(),
                "{fsc:#x}"
            );
        }
        for fsc in [0x00, 0x03, 0x09, 0x0b, 0x0d, 0x0f, 0x10, 0x21, 0x30] {
            assert!(!Esr((0x24 << 26) | fsc).translation_fault(), "{fsc:#x}");
        }
    }

    #[test]
    fn names_unknown_classes() {
        assert_eq!(Esr(0x3f << 26).class(), ExceptionClass::Other(0x3f));
        assert_eq!(
            format!("{:?}", Esr(0x9600_0045)),
            "ESR 0x96000045 (EC 0x25: data abort at EL2, ISS 0x45)"
        );
    }
}

//! Reads the hardware ID registers for the host's and the guests' trapped
//! ID-register reads (HCR_EL2.TID3; vcpu::idregs decides what each world may
//! see of them).

use vcpu::idregs::View;
use vcpu::sysreg::{SysReg, SysRegAccess};

/// Expands to a match on (CRm, Op2) with one `mrs` per encoding listed.
macro_rules! read_by_encoding {
    ($crm:expr, $op2:expr; $($c:literal => [$($o:literal),*]),* $(,)?) => {
        match ($crm, $op2) {
            $($(
                ($c, $o) => {
                    let value: u64;
                    // SAFETY: reading an ID register (Op0 3, Op1 0, CRn 0,
                    // CRm 1-7) at EL2 has no side effects; encodings not yet
                    // allocated in this space read as zero.
                    unsafe {
                        core::arch::asm!(
                            concat!("mrs {}, S3_0_C0_C", $c, "_", $o),
                            out(reg) value,
                            options(nomem, nostack, preserves_flags)
                        )
                    };
                    value
                }
            )*)*
            _ => 0,
        }
    };
}

/// The hardware value of ID register (3, 0, 0, `crm`, `op2`); zero outside
/// CRm 1-7.
pub fn read(crm: u8, op2: u8) -> u64 {
    read_by_encoding!(crm, op2;
        1 => [0, 1, 2, 3, 4, 5, 6, 7],
        2 => [0, 1, 2, 3, 4, 5, 6, 7],
        3 => [0, 1, 2, 3, 4, 5, 6, 7],
        4 => [0, 1, 2, 3, 4, 5, 6, 7],
        5 => [0, 1, 2, 3, 4, 5, 6, 7],
        6 => [0, 1, 2, 3, 4, 5, 6, 7],
        7 => [0, 1, 2, 3, 4, 5, 6, 7],
    )
}

/// The value a trapped read of an ID register returns to `view`'s world; None
/// for any other access.
pub fn emulate(view: &View, access: &SysRegAccess) -> Option<u64> {
    match access.reg {
        SysReg::IdReg { crm, op2 } if access.read => Some(view.read(crm, op2, read(crm, op2))),
        _ => None,
    }
}

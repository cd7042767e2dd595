//! Reads the hardware ID registers for the host's and the guests' trapped
//! ID-register reads (HCR_EL2.TID3; vcpu::idregs decides what each world may
//! see of them).

use super::sysreg::IdRegisters;
use vcpu::idregs::View;
use vcpu::sysreg::{SysReg, SysRegAccess};

/// The hardware value of ID register (3, 0, 0, `crm`, `op2`); zero outside
/// CRm 1-7.
pub fn read(crm: u8, op2: u8) -> u64 {
    IdRegisters.get(crm, op2)
}

/// The value a trapped read of an ID register returns to `view`'s world; None
/// for any other access.
pub fn emulate(view: &View, access: &SysRegAccess) -> Option<u64> {
    match access.reg {
        SysReg::IdReg { crm, op2 } if access.read => Some(view.read(crm, op2, read(crm, op2))),
        _ => None,
    }
}

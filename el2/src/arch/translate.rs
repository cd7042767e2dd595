//! Address translation of the current EL1 context (the host's), through its
//! stage 1 and our stage 2, with the AT instructions. On the build machine's
//! fake the host is identity-mapped.

use super::insn;
use super::sysreg::PAR_EL1;

/// Translates the EL1 virtual address `va` for a read (or a write when
/// `write`), returning the physical address, or None when either stage
/// faults.
pub fn el1_va_to_pa(va: u64, write: bool) -> Option<u64> {
    // AT writes only PAR_EL1, which is saved and restored around it because
    // it belongs to the EL1 context being translated.
    let saved = PAR_EL1.get();
    insn::at_s12e1(va, write);
    insn::isb();
    let par = PAR_EL1.get();
    PAR_EL1.set(saved);
    if par & 1 != 0 {
        return None;
    }
    Some((par & 0x000f_ffff_ffff_f000) | (va & 0xfff))
}

//! Address translation of the current EL1 context (the host's), through its
//! stage 1 and our stage 2, with the AT instructions.

use core::arch::asm;

/// Translates the EL1 virtual address `va` for a read (or a write when
/// `write`), returning the physical address, or None when either stage
/// faults.
pub fn el1_va_to_pa(va: u64, write: bool) -> Option<u64> {
    let par: u64;
    // SAFETY: AT writes only PAR_EL1, which is saved and restored around it
    // because it belongs to the EL1 context being translated.
    unsafe {
        let saved: u64;
        asm!("mrs {}, par_el1", out(reg) saved, options(nomem, nostack));
        if write {
            asm!("at s12e1w, {}", "isb", in(reg) va, options(nostack));
        } else {
            asm!("at s12e1r, {}", "isb", in(reg) va, options(nostack));
        }
        asm!("mrs {}, par_el1", out(reg) par, options(nomem, nostack));
        asm!("msr par_el1, {}", in(reg) saved, options(nomem, nostack));
    }
    if par & 1 != 0 {
        return None;
    }
    Some((par & 0x000f_ffff_ffff_f000) | (va & 0xfff))
}

//! Stage-2 TLB maintenance for a guest's VMID.

use core::arch::asm;

/// Drops every stage-1 and stage-2 TLB entry of the VMID in `vttbr`, on all
/// CPUs of the inner shareable domain.
pub fn flush_vmid(vttbr: u64) {
    // SAFETY: VTTBR_EL2 is switched to the guest's VMID only for the TLBI
    // (which acts on the current VMID) and restored before returning; EL2
    // runs with interrupts masked, so no exception sees the temporary value.
    unsafe {
        asm!(
            "mrs {old}, vttbr_el2",
            "msr vttbr_el2, {new}",
            "isb",
            "dsb ishst",
            "tlbi vmalls12e1is",
            "dsb ish",
            "isb",
            "msr vttbr_el2, {old}",
            "isb",
            old = out(reg) _,
            new = in(reg) vttbr,
            options(nostack),
        );
    }
}

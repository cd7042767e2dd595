//! Stage-2 TLB maintenance for a guest's VMID: a whole-VMID flush, and the
//! per-IPA invalidation a guest's tables get while they change
//! ([`GuestTlb`], the [`Tlb`] of docs/design.md "Stage 2"). The TLBI
//! instructions act on the VMID in VTTBR_EL2, which is the host's between
//! guest runs, so each switches it to the guest's for its duration.

use super::insn;
use super::sysreg::VTTBR_EL2;
use crate::mm::pagetable::Tlb;

/// Leaf invalidations by IPA after which one flush of the whole VMID is
/// cheaper than more: each TLBI IPAS2E1IS is broadcast to every CPU, and
/// 512 of them cover 2 MiB of pages (the cut-off Linux uses for its own
/// ranges); an unmap or protect of more drops the guest's TLB entries
/// instead.
pub const MAX_IPA_INVALIDATIONS: usize = 512;

/// Drops every stage-1 and stage-2 TLB entry of the VMID in `vttbr`, on all
/// CPUs of the inner shareable domain.
pub fn flush_vmid(vttbr: u64) {
    let scope = GuestTlb::new(vttbr);
    scope.flush_all();
}

/// TLB maintenance of one guest's stage 2 while its tables change: created
/// with the guest's VTTBR, it makes that VMID current (the host's is back
/// when it is dropped) and issues each invalidation as the Arm ARM orders
/// them for a stage-2 change: the table write, DSB ISHST, TLBI IPAS2E1IS
/// for each entry; then DSB ISH, TLBI VMALLE1IS (stage-1 and combined
/// entries, which a by-IPA invalidation does not reach), DSB ISH, ISB.
pub struct GuestTlb {
    host_vttbr: u64,
    /// Invalidations by IPA since the last sync.
    pending: usize,
}

impl GuestTlb {
    /// Makes the VMID of `vttbr` current on this CPU.
    pub fn new(vttbr: u64) -> Self {
        // Only the VMID and table base that TLB maintenance and address
        // translation instructions use change; EL2 itself does not translate
        // through VTTBR_EL2, no guest runs on this CPU while a host call is
        // handled, and EL2 runs with interrupts masked, so nothing sees the
        // guest's value before `drop` puts the host's back.
        let host_vttbr = VTTBR_EL2.get();
        VTTBR_EL2.set(vttbr);
        insn::isb();
        Self {
            host_vttbr,
            pending: 0,
        }
    }

    /// Drops every stage-1 and stage-2 entry of the VMID, on every CPU.
    fn flush_all(&self) {
        // The current VMID is the guest's (see `new`).
        insn::dsb_ishst();
        insn::tlbi_vmalls12e1is();
        insn::dsb_ish();
        insn::isb();
    }
}

impl Tlb for GuestTlb {
    fn invalidate(&mut self, ipa: u64, _level: usize) {
        self.pending += 1;
        if self.pending > MAX_IPA_INVALIDATIONS {
            return;
        }
        // By IPA (bits 47:12 in bits 35:0 of the operand) for the current
        // VMID, the guest's (see `new`), after a barrier that makes the table
        // write it follows visible to walks.
        insn::dsb_ishst();
        insn::tlbi_ipas2e1is(ipa >> 12);
    }

    fn sync(&mut self) {
        if self.pending > MAX_IPA_INVALIDATIONS {
            self.flush_all();
        } else if self.pending > 0 {
            // The current VMID's stage-1 entries (the guest's, see `new`).
            insn::dsb_ish();
            insn::tlbi_vmalle1is();
            insn::dsb_ish();
            insn::isb();
        } else {
            // New entries visible to every walker.
            insn::dsb_ish();
            insn::isb();
        }
        self.pending = 0;
    }
}

impl Drop for GuestTlb {
    fn drop(&mut self) {
        // Puts back the VTTBR_EL2 value `new` found (the host's).
        VTTBR_EL2.set(self.host_vttbr);
        insn::isb();
    }
}

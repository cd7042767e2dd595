//! Stage 2 VMIDs for guests: the 8-bit IDs tagging their TLB entries
//! (VTTBR_EL2.VMID). ID 0 is the host's and never handed out.

/// The host's VMID.
pub const HOST_VMID: u16 = 0;
/// The largest 8-bit VMID.
pub const MAX_VMID: u16 = 255;

/// Hands out VMIDs 1..=[`MAX_VMID`] round-robin, continuing after the last
/// one allocated, so a freed ID is reused as late as possible (its stale TLB
/// entries have the longest time to be invalidated).
#[derive(Debug, Default)]
pub struct VmidAllocator {
    /// Bit `id` set when `id` is in use.
    used: [u64; 4],
    /// The last ID handed out (0 before the first).
    last: u16,
    in_use: usize,
}

impl VmidAllocator {
    /// An allocator with every guest VMID free.
    pub const fn new() -> Self {
        Self {
            used: [0; 4],
            last: HOST_VMID,
            in_use: 0,
        }
    }

    /// A free VMID, the first after the last one handed out (wrapping from
    /// [`MAX_VMID`] to 1); None when all are in use.
    pub fn alloc(&mut self) -> Option<u16> {
        let id = (1..=MAX_VMID)
            .map(|step| (self.last + step - 1) % MAX_VMID + 1)
            .find(|&id| !self.is_used(id))?;
        self.used[usize::from(id / 64)] |= 1 << (id % 64);
        self.last = id;
        self.in_use += 1;
        Some(id)
    }

    /// Returns `id` to the pool. Freeing an ID that is not in use (a double
    /// free, the host's 0, or one out of range) does nothing.
    pub fn free(&mut self, id: u16) {
        if (1..=MAX_VMID).contains(&id) && self.is_used(id) {
            self.used[usize::from(id / 64)] &= !(1 << (id % 64));
            self.in_use -= 1;
        }
    }

    /// How many VMIDs are allocated.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    fn is_used(&self, id: u16) -> bool {
        self.used[usize::from(id / 64)] & (1 << (id % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn hands_out_1_to_255_then_none() {
        let mut vmids = VmidAllocator::new();
        let ids: Vec<u16> = (0..255).map(|_| vmids.alloc().unwrap()).collect();
        assert_eq!(ids, (1..=255).collect::<Vec<u16>>());
        assert_eq!(vmids.in_use(), 255);
        assert_eq!(vmids.alloc(), None);
        assert_eq!(vmids.in_use(), 255);
    }

    #[test]
    fn freed_ids_come_back_round_robin() {
        let mut vmids = VmidAllocator::new();
        for _ in 0..3 {
            vmids.alloc();
        }
        vmids.free(2);
        assert_eq!(vmids.in_use(), 2);
        assert_eq!(vmids.alloc(), Some(4), "not the just-freed 2");
        for _ in 5..=255 {
            vmids.alloc().unwrap();
        }
        assert_eq!(vmids.alloc(), Some(2), "after wrapping");
        assert_eq!(vmids.alloc(), None);
        vmids.free(255);
        vmids.free(7);
        assert_eq!(vmids.alloc(), Some(7), "the next free one after 2");
        assert_eq!(vmids.alloc(), Some(255));
    }

    #[test]
    fn double_and_bogus_frees_are_harmless() {
        let mut vmids = VmidAllocator::new();
        let id = vmids.alloc().unwrap();
        vmids.alloc().unwrap();
        vmids.free(id);
        vmids.free(id);
        vmids.free(HOST_VMID);
        vmids.free(256);
        vmids.free(u16::MAX);
        assert_eq!(vmids.in_use(), 1);
        assert_eq!(vmids.alloc(), Some(3));
        assert_eq!(vmids.in_use(), 2);
    }
}

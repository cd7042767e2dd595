//! Per-vCPU list-register bookkeeping, independent of how the registers are reached: the
//! monitor reads the hardware list registers back after each exit ([`LrTracker::sync_from_hw`]),
//! moves pending vectors into free ones before each entry ([`LrTracker::fill`]), and writes
//! [`LrTracker::lrs`] back to the hardware.

use crate::lr::{ListRegister, LrState};
use crate::pending::{key_of_vintid, vintid_of_key, PendingSet, NUM_VECTORS};

/// The first shared peripheral interrupt; lower INTIDs are SGIs (0-15) and PPIs (16-31).
pub const FIRST_SPI: u32 = 32;

/// The priority of injected SGIs and PPIs (INTID < 32), as in Zircon: the most urgent.
pub const PRIORITY_SGI_PPI: u8 = 0x00;

/// The priority of injected SPIs, as in Zircon: one step below SGIs and PPIs on a GIC with as
/// few as 16 priority levels.
pub const PRIORITY_SPI: u8 = 0x10;

/// The priority `vector` (a pending-set key) is injected with.
pub fn priority_of(vector: u32) -> u8 {
    if !(FIRST_SPI..NUM_VECTORS).contains(&vector) {
        PRIORITY_SGI_PPI
    } else {
        PRIORITY_SPI
    }
}

/// What the monitor must do after [`LrTracker::fill`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FillResult {
    /// Vectors are still pending that did not fit in the list registers: set the underflow
    /// interrupt enable (`ICH_HCR_EL2.UIE` / `GICH_HCR.UIE`) so that the guest exits once the
    /// list registers drain, and clear it otherwise.
    pub needs_underflow_irq: bool,
    /// How many vectors went into free list registers. Free ones are taken lowest first, so
    /// a fill of list registers that were all empty changed only the first `added`: the rest
    /// need not be written to hardware that holds none either.
    pub added: usize,
}

/// The shadow copy of one vCPU's list registers (at most `N` of them).
#[derive(Clone, Debug)]
pub struct LrTracker<const N: usize = 16> {
    num_lrs: usize,
    group1: bool,
    /// INTIDs below 32 whose LRs ask for the EOI maintenance interrupt (bit n = INTID n).
    eoi_notify: u32,
    /// Whether an LR with the EOI bit may be in use (set by `fill`, cleared when `holds`
    /// finds none): `holds` of those INTIDs is then a single test.
    eoi_in_lrs: bool,
    lrs: [ListRegister; N],
}

impl<const N: usize> LrTracker<N> {
    /// A tracker of `num_lrs` empty list registers (`ListRegs + 1` from `ICH_VTR_EL2` or
    /// `GICH_VTR`), clamped to `N`; hardware list registers beyond `N` stay unused (keep them
    /// Invalid).
    ///
    /// `group1` is the group of the injected interrupts: `true` on GICv3, whose guest interface
    /// is enabled for Group 1 by [`VMCR_V3_DEFAULT`](crate::VMCR_V3_DEFAULT), and `false` on
    /// GICv2, whose [`VMCR_V2_DEFAULT`](crate::VMCR_V2_DEFAULT) enables Group 0 (signalled as
    /// IRQ), as Zircon does.
    pub fn new(num_lrs: usize, group1: bool) -> Self {
        Self {
            num_lrs: num_lrs.min(N),
            group1,
            eoi_notify: 0,
            eoi_in_lrs: false,
            lrs: [ListRegister::INVALID; N],
        }
    }

    /// From now on, the LRs of the private interrupts in `intids` (bit n = INTID n) set the EOI
    /// bit, so that the guest's deactivation of one raises the EOI maintenance interrupt: the
    /// monitor then looks again at the level of the line (a timer still firing is pending
    /// again, one that stopped is unmasked at the physical GIC).
    pub fn notify_eoi_of(&mut self, intids: u32) {
        self.eoi_notify = intids;
    }

    /// The number of list registers tracked.
    pub fn num_lrs(&self) -> usize {
        self.num_lrs
    }

    /// After an exit: takes the hardware list-register values read back, in order, as the
    /// shadow copy (extra entries are ignored).
    ///
    /// An LR whose ELRSR bit reads 1 (empty) must be passed with state
    /// [`LrState::Invalid`]; the monitor may skip reading it and pass
    /// [`ListRegister::INVALID`]. An LR with the EOI bit that the guest deactivated reads back
    /// Invalid with the EOI bit still set (its ELRSR bit 0, its EISR bit 1): it is kept as
    /// [`ListRegister::INVALID`], so writing [`lrs`](Self::lrs) back clears the EOI
    /// maintenance interrupt.
    pub fn sync_from_hw(&mut self, lrs: &[ListRegister]) {
        self.sync_with(|shadow| {
            for (shadow, hw) in shadow.iter_mut().zip(lrs) {
                *shadow = *hw;
            }
        });
    }

    /// [`sync_from_hw`](Self::sync_from_hw) with `read` filling the shadow list registers in
    /// place (what the hardware holds, as `VirtualInterface::read_lrs` gives it), with no copy
    /// in between.
    #[inline]
    pub fn sync_with(&mut self, read: impl FnOnce(&mut [ListRegister])) {
        let shadow = &mut self.lrs[..self.num_lrs];
        read(shadow);
        for lr in shadow {
            if !lr.state.is_valid() {
                *lr = ListRegister::INVALID;
            }
        }
    }

    /// Before an entry: moves pending vectors into the list registers, lowest INTID first.
    ///
    /// A vector goes into a free (Invalid) LR as Pending, at the priority [`priority_of`]
    /// gives, in the group given to [`new`](Self::new). A vector
    /// that an LR already holds never takes a second LR (two LRs with the same vINTID are
    /// UNPREDICTABLE): it is removed from `pending` and
    /// - an Active LR becomes PendingActive, so the guest takes it again after its EOI;
    /// - a Pending or PendingActive LR is left as it is: the new injection coalesces with the
    ///   one the guest has not acknowledged yet, as a second edge of an edge-triggered
    ///   interrupt does. Keeping it in `pending` would deliver it twice.
    ///
    /// Vectors that find no free LR stay in `pending`.
    pub fn fill(&mut self, pending: &PendingSet) -> FillResult {
        let held = self.any_in_use();
        self.fill_held(pending, held)
    }

    /// [`fill`](Self::fill) of list registers the caller knows hold nothing (none was
    /// loaded since they were last emptied), without looking at them for that.
    pub fn fill_empty(&mut self, pending: &PendingSet) -> FillResult {
        debug_assert!(!self.any_in_use(), "fill_empty with a list register in use");
        self.fill_held(pending, false)
    }

    /// [`fill`](Self::fill), `held` saying whether an LR holds anything a new vector could
    /// be a second copy of: with none (a vCPU that took its last interrupt), no LR is
    /// searched for one.
    fn fill_held(&mut self, pending: &PendingSet, mut held: bool) -> FillResult {
        let mut added = 0;
        loop {
            let Some(free) = self.lrs().iter().position(|lr| !lr.state.is_valid()) else {
                return self.merge(pending, added);
            };
            let Some(vector) = pending.take_next() else {
                return Self::drained(added);
            };
            match if held { self.slot_of(vector) } else { None } {
                Some(slot) => self.repend(slot),
                None => {
                    self.lrs[free] = ListRegister {
                        vintid: vintid_of_key(vector),
                        priority: priority_of(vector),
                        state: LrState::Pending,
                        group1: self.group1,
                        eoi: vector < 32 && self.eoi_notify & (1 << vector) != 0,
                    };
                    self.eoi_in_lrs |= self.lrs[free].eoi;
                    added += 1;
                    held = true;
                }
            }
            // Cheaper than the whole scan of a take_next that finds nothing.
            if pending.is_empty() {
                return Self::drained(added);
            }
        }
    }

    /// The end of [`fill`](Self::fill) with nothing left pending: nothing to merge and no
    /// underflow interrupt (what another CPU marks from now on comes with its kick, and a
    /// refill before the next entry).
    fn drained(added: usize) -> FillResult {
        FillResult {
            needs_underflow_irq: false,
            added,
        }
    }

    /// The end of [`fill`](Self::fill) with every LR in use: vectors the LRs already hold can
    /// still be merged.
    fn merge(&mut self, pending: &PendingSet, added: usize) -> FillResult {
        for slot in 0..self.num_lrs {
            let lr = self.lrs[slot];
            if lr.state.is_valid() && pending.clear(key_of_vintid(lr.vintid)) {
                self.repend(slot);
            }
        }
        // UIE signals when at most one LR holds an interrupt, so with a single LR it would
        // fire at once on every entry; Zircon leaves it off then, and so do we. The remaining
        // vectors go in at the next exit (a WFI must not block while `pending` is not empty).
        FillResult {
            needs_underflow_irq: self.num_lrs > 1 && !pending.is_empty(),
            added,
        }
    }

    /// The list registers to write to the hardware, `num_lrs` of them.
    pub fn lrs(&self) -> &[ListRegister] {
        &self.lrs[..self.num_lrs]
    }

    /// Whether a list register holds an interrupt (pending or active): WFI then returns to the
    /// guest at once.
    pub fn any_in_use(&self) -> bool {
        // One OR over all of them, without a branch per LR.
        self.lrs()
            .iter()
            .fold(false, |any, lr| any | lr.state.is_valid())
    }

    /// Whether a list register holds an interrupt the guest has not acknowledged yet
    /// (Pending or PendingActive).
    pub fn has_pending(&self) -> bool {
        self.lrs().iter().any(|lr| lr.state.is_pending())
    }

    /// The state of the LR that holds `vector` (Invalid when none does).
    pub fn state_of(&self, vector: u32) -> LrState {
        self.slot_of(vector)
            .map_or(LrState::Invalid, |slot| self.lrs[slot].state)
    }

    /// Whether an LR holds `vector` (pending, active or both).
    pub fn holds(&self, vector: u32) -> bool {
        self.slot_of(vector).is_some()
    }

    /// Whether an LR holds `intid`, one of the interrupts given to
    /// [`notify_eoi_of`](Self::notify_eoi_of): without a look at the LRs when none of those
    /// was put in one since the last time none was found.
    pub fn holds_notified(&mut self, intid: u32) -> bool {
        if !self.eoi_in_lrs {
            return false;
        }
        self.eoi_in_lrs = self.lrs().iter().any(|lr| lr.eoi && lr.state.is_valid());
        self.eoi_in_lrs && self.holds(intid)
    }

    /// The LR that holds `vector`, if any.
    fn slot_of(&self, vector: u32) -> Option<usize> {
        let vintid = vintid_of_key(vector);
        self.lrs()
            .iter()
            .position(|lr| lr.vintid == vintid && lr.state.is_valid())
    }

    /// Makes the interrupt in LR `slot` pending again: Active becomes PendingActive; a pending
    /// one is already pending.
    fn repend(&mut self, slot: usize) {
        let lr = &mut self.lrs[slot];
        if lr.state == LrState::Active {
            lr.state = LrState::PendingActive;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending_lr(vintid: u32, priority: u8) -> ListRegister {
        ListRegister {
            vintid,
            priority,
            state: LrState::Pending,
            group1: true,
            eoi: false,
        }
    }

    fn states<const N: usize>(t: &LrTracker<N>) -> Vec<(u32, LrState)> {
        t.lrs().iter().map(|lr| (lr.vintid, lr.state)).collect()
    }

    #[test]
    fn more_pending_than_lrs_fills_lowest_first_then_refills_after_eoi() {
        let set = PendingSet::new();
        let mut t: LrTracker = LrTracker::new(4, true);
        for v in [40, 27, 100, 33, 32, 1] {
            set.set(v);
        }
        let r = t.fill(&set);
        assert!(r.needs_underflow_irq);
        assert_eq!(
            t.lrs(),
            [
                pending_lr(1, 0x00),
                pending_lr(27, 0x00),
                pending_lr(32, 0x10),
                pending_lr(33, 0x10),
            ]
        );
        assert!((0..256).filter(|&v| set.contains(v)).eq([40, 100]));

        // The guest took and EOIed 27 and 32; their LRs read back Invalid with the old INTID.
        let mut hw = t.lrs().to_vec();
        hw[1].state = LrState::Invalid;
        hw[2].state = LrState::Invalid;
        hw[3].state = LrState::Active;
        t.sync_from_hw(&hw);
        let r = t.fill(&set);
        assert!(!r.needs_underflow_irq);
        assert!(set.is_empty());
        assert_eq!(
            states(&t),
            [
                (1, LrState::Pending),
                (40, LrState::Pending),
                (100, LrState::Pending),
                (33, LrState::Active),
            ]
        );
    }

    #[test]
    fn fill_empty_fills_as_fill_does() {
        let (set, other) = (PendingSet::new(), PendingSet::new());
        for v in [27, 40, 41, 42, 43, 44] {
            set.set(v);
            other.set(v);
        }
        let (mut a, mut b): (LrTracker, LrTracker) =
            (LrTracker::new(4, true), LrTracker::new(4, true));
        let (ra, rb) = (a.fill(&set), b.fill_empty(&other));
        assert_eq!(
            (ra.added, ra.needs_underflow_irq),
            (rb.added, rb.needs_underflow_irq)
        );
        assert_eq!(a.lrs(), b.lrs());
        assert_eq!(set.take_next(), other.take_next());
    }

    #[test]
    fn vector_already_pending_in_an_lr_is_consumed_not_duplicated() {
        let set = PendingSet::new();
        let mut t: LrTracker = LrTracker::new(4, true);
        set.set(32);
        t.fill(&set);
        set.set(32);
        let r = t.fill(&set);
        assert!(!r.needs_underflow_irq);
        assert!(set.is_empty());
        assert_eq!(
            states(&t),
            [
                (32, LrState::Pending),
                (0, LrState::Invalid),
                (0, LrState::Invalid),
                (0, LrState::Invalid),
            ]
        );
    }

    #[test]
    fn active_vector_injected_again_becomes_pending_active_in_the_same_lr() {
        let set = PendingSet::new();
        let mut t: LrTracker = LrTracker::new(4, true);
        set.set(33);
        set.set(32);
        t.fill(&set);
        let mut hw = t.lrs().to_vec();
        hw[1].state = LrState::Active;
        t.sync_from_hw(&hw);
        set.set(33);
        set.set(34);
        t.fill(&set);
        assert!(set.is_empty());
        assert_eq!(
            states(&t),
            [
                (32, LrState::Pending),
                (33, LrState::PendingActive),
                (34, LrState::Pending),
                (0, LrState::Invalid),
            ]
        );
        assert_eq!(t.lrs()[1].priority, 0x10);
    }

    #[test]
    fn active_vector_merges_even_when_every_lr_is_in_use() {
        let set = PendingSet::new();
        let mut t: LrTracker = LrTracker::new(2, true);
        set.set(32);
        set.set(33);
        t.fill(&set);
        let mut hw = t.lrs().to_vec();
        hw[0].state = LrState::Active;
        t.sync_from_hw(&hw);
        set.set(40);
        set.set(32);
        set.set(33);
        let r = t.fill(&set);
        assert_eq!(
            states(&t),
            [(32, LrState::PendingActive), (33, LrState::Pending)]
        );
        assert!((0..256).filter(|&v| set.contains(v)).eq([40]));
        assert!(r.needs_underflow_irq);
    }

    #[test]
    fn stale_intid_of_an_invalid_lr_does_not_count_as_held() {
        let set = PendingSet::new();
        let mut t: LrTracker = LrTracker::new(2, true);
        set.set(32);
        t.fill(&set);
        let mut hw = t.lrs().to_vec();
        hw[0].state = LrState::Invalid;
        t.sync_from_hw(&hw);
        assert!(!t.any_in_use());
        set.set(32);
        t.fill(&set);
        assert!(set.is_empty());
        assert_eq!(states(&t), [(32, LrState::Pending), (0, LrState::Invalid)]);
    }

    #[test]
    fn a_single_lr_never_asks_for_the_underflow_interrupt() {
        let set = PendingSet::new();
        let mut t: LrTracker = LrTracker::new(1, true);
        set.set(32);
        set.set(33);
        let r = t.fill(&set);
        assert!(!r.needs_underflow_irq);
        assert_eq!(states(&t), [(32, LrState::Pending)]);
        assert!(set.contains(33));

        let mut two: LrTracker = LrTracker::new(2, true);
        set.set(34);
        set.set(35);
        assert!(two.fill(&set).needs_underflow_irq);
    }

    #[test]
    fn eoi_notify_marks_only_the_named_ppis_and_a_deactivated_one_reads_back_empty() {
        let set = PendingSet::new();
        let mut t: LrTracker = LrTracker::new(4, true);
        t.notify_eoi_of(1 << 27 | 1 << 30);
        for v in [27, 30, 26, 32] {
            set.set(v);
        }
        t.fill(&set);
        let eoi: Vec<(u32, bool)> = t.lrs().iter().map(|lr| (lr.vintid, lr.eoi)).collect();
        assert_eq!(eoi, [(26, false), (27, true), (30, true), (32, false)]);
        assert!(t.holds(27) && t.holds(30) && !t.holds(31));
        assert_eq!(
            (t.state_of(27), t.state_of(31)),
            (LrState::Pending, LrState::Invalid)
        );
        assert!(t.holds_notified(27) && t.holds_notified(30));

        // The guest deactivated 27: Invalid, EOI bit still set in the hardware LR.
        let mut hw = t.lrs().to_vec();
        hw[1].state = LrState::Invalid;
        t.sync_from_hw(&hw);
        assert!(!t.holds(27) && !t.holds_notified(27) && t.holds_notified(30));
        assert_eq!(t.lrs()[1], ListRegister::INVALID);
        hw[2].state = LrState::Invalid;
        t.sync_from_hw(&hw);
        assert!(!t.holds_notified(30) && !t.holds_notified(27));
        assert_eq!(t.lrs()[1].encode_v3(), 0);
    }

    #[test]
    fn sgis_from_two_sources_take_two_lrs_with_their_cpuids() {
        let set = PendingSet::new();
        let mut t: LrTracker = LrTracker::new(4, false);
        let from_2 = crate::key_of_vector(3 | 2 << 10, true).unwrap();
        set.set(3);
        set.set(from_2);
        t.fill(&set);
        let v: Vec<(u32, u8)> = t.lrs().iter().map(|lr| (lr.vintid, lr.priority)).collect();
        assert_eq!(v, [(3, 0), (3 | 2 << 10, 0), (0, 0), (0, 0)]);
        assert!(t.holds(from_2) && t.holds(3));
        // The same SGI from the same source again coalesces with the one in its LR.
        set.set(from_2);
        t.fill(&set);
        assert!(set.is_empty());
        assert_eq!(t.lrs().iter().filter(|lr| lr.state.is_valid()).count(), 2);
    }

    #[test]
    fn group_follows_the_constructor() {
        let set = PendingSet::new();
        let mut v2: LrTracker = LrTracker::new(4, false);
        set.set(27);
        v2.fill(&set);
        assert_eq!(
            v2.lrs()[0],
            ListRegister {
                vintid: 27,
                priority: 0,
                state: LrState::Pending,
                group1: false,
                eoi: false,
            }
        );
        assert_eq!(v2.lrs()[0].encode_v2(), 0x1000_001b);
    }

    #[test]
    fn in_use_and_pending_follow_the_lr_states() {
        let mut t: LrTracker = LrTracker::new(2, true);
        assert!(!t.any_in_use());
        assert!(!t.has_pending());
        let mut hw = [ListRegister::INVALID; 2];
        for (state, in_use, pending) in [
            (LrState::Pending, true, true),
            (LrState::Active, true, false),
            (LrState::PendingActive, true, true),
            (LrState::Invalid, false, false),
        ] {
            hw[1] = ListRegister {
                state,
                ..pending_lr(32, 0x10)
            };
            t.sync_from_hw(&hw);
            assert_eq!(t.any_in_use(), in_use, "{state:?}");
            assert_eq!(t.has_pending(), pending, "{state:?}");
        }
    }

    #[test]
    fn num_lrs_is_clamped_to_capacity() {
        let t: LrTracker<4> = LrTracker::new(64, true);
        assert_eq!(t.num_lrs(), 4);
        assert_eq!(t.lrs().len(), 4);
        let t: LrTracker = LrTracker::new(3, true);
        assert_eq!(t.num_lrs(), 3);
        assert_eq!(t.lrs(), [ListRegister::INVALID; 3]);
    }

    #[test]
    fn priorities() {
        assert_eq!(priority_of(0), 0x00);
        assert_eq!(priority_of(27), 0x00);
        assert_eq!(priority_of(31), 0x00);
        assert_eq!(priority_of(32), 0x10);
        assert_eq!(priority_of(255), 0x10);
    }

    /// xorshift64: a deterministic stream of pseudo-random numbers.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// The hardware list registers, stored as raw register values so that the encodings take
    /// part in the round trip.
    struct Hardware {
        v3: bool,
        raw: Vec<u64>,
    }

    impl Hardware {
        fn write(&mut self, lrs: &[ListRegister]) {
            self.raw = lrs
                .iter()
                .map(|lr| match self.v3 {
                    true => lr.encode_v3(),
                    false => u64::from(lr.encode_v2()),
                })
                .collect();
        }

        fn read(&self) -> Vec<ListRegister> {
            self.raw
                .iter()
                .map(|&raw| match self.v3 {
                    true => ListRegister::decode_v3(raw),
                    false => ListRegister::decode_v2(raw as u32),
                })
                .collect()
        }
    }

    /// The interrupts as the guest should see them: each vector is pending or not, and an
    /// injection while it is pending coalesces. Deliveries (acknowledgements) must match.
    struct Model {
        pending: [bool; 256],
        injected: [u32; 256],
        delivered: [u32; 256],
    }

    impl Model {
        fn inject(&mut self, set: &PendingSet, vector: u32) {
            let v = vector as usize;
            if !self.pending[v] {
                self.pending[v] = true;
                self.injected[v] += 1;
            }
            assert!(set.set(vector));
        }

        fn acknowledge(&mut self, vector: u32) {
            let v = vector as usize;
            assert!(self.pending[v], "vector {vector} delivered twice");
            self.pending[v] = false;
            self.delivered[v] += 1;
        }
    }

    /// The guest acknowledges a Pending LR (it becomes Active) or EOIs an active one (Active
    /// becomes Invalid, PendingActive becomes Pending); the LR keeps its other fields.
    fn guest_step(rng: &mut Rng, model: &mut Model, lrs: &mut [ListRegister], ack: bool) {
        let wanted = |s: LrState| match ack {
            true => s == LrState::Pending,
            false => matches!(s, LrState::Active | LrState::PendingActive),
        };
        let candidates: Vec<usize> = (0..lrs.len()).filter(|&i| wanted(lrs[i].state)).collect();
        if candidates.is_empty() {
            return;
        }
        let lr = &mut lrs[candidates[rng.below(candidates.len())]];
        lr.state = match lr.state {
            LrState::Pending => {
                model.acknowledge(lr.vintid);
                LrState::Active
            }
            LrState::Active => LrState::Invalid,
            _ => LrState::Pending,
        };
    }

    fn check_fill<const N: usize>(t: &LrTracker<N>, set: &PendingSet, r: FillResult) {
        let held: Vec<u32> = t
            .lrs()
            .iter()
            .filter(|lr| lr.state.is_valid())
            .map(|lr| lr.vintid)
            .collect();
        for (i, v) in held.iter().enumerate() {
            assert!(!held[i + 1..].contains(v), "vector {v} in two LRs");
            assert!(!set.contains(*v), "vector {v} both in an LR and pending");
        }
        if !set.is_empty() {
            assert_eq!(held.len(), t.num_lrs(), "a free LR left while vectors pend");
        }
        assert_eq!(r.needs_underflow_irq, t.num_lrs() > 1 && !set.is_empty());
    }

    /// 10,000 rounds of injections (before entry and while the guest runs), entries, guest
    /// acknowledgements and EOIs, and exits, then a drain: every injection that did not
    /// coalesce with a pending one is delivered exactly once.
    fn random_cycles(num_lrs: usize, v3: bool, seed: u64) {
        const VECTORS: [u32; 12] = [0, 1, 15, 16, 25, 27, 31, 32, 33, 34, 100, 255];
        let mut rng = Rng(seed);
        let set = PendingSet::new();
        let mut t: LrTracker = LrTracker::new(num_lrs, v3);
        let mut hw = Hardware {
            v3,
            raw: Vec::new(),
        };
        let mut model = Model {
            pending: [false; 256],
            injected: [0; 256],
            delivered: [0; 256],
        };
        // How often the interesting paths ran: fills that left vectors pending, fills that did
        // not, and Active LRs made PendingActive.
        let (mut overflowed, mut fitted, mut repended) = (0, 0, 0);
        for _ in 0..10_000 {
            for _ in 0..rng.below(3) {
                model.inject(&set, VECTORS[rng.below(VECTORS.len())]);
            }
            let before = t.lrs().to_vec();
            let r = t.fill(&set);
            check_fill(&t, &set, r);
            let valid = |lrs: &[ListRegister]| lrs.iter().filter(|lr| lr.state.is_valid()).count();
            assert_eq!(valid(t.lrs()), valid(&before) + r.added);
            if valid(&before) == 0 {
                assert_eq!(
                    valid(&t.lrs()[..r.added]),
                    r.added,
                    "added past the first LRs"
                );
            }
            match r.needs_underflow_irq {
                true => overflowed += 1,
                false => fitted += 1,
            }
            repended += before
                .iter()
                .zip(t.lrs())
                .filter(|(b, a)| b.state == LrState::Active && a.state == LrState::PendingActive)
                .count();
            hw.write(t.lrs());
            let mut lrs = hw.read();
            assert_eq!(lrs, t.lrs());
            for _ in 0..rng.below(10) {
                match rng.below(10) {
                    0..4 => guest_step(&mut rng, &mut model, &mut lrs, true),
                    4..8 => guest_step(&mut rng, &mut model, &mut lrs, false),
                    // An injection from another CPU: its IPI makes the guest exit.
                    _ => {
                        model.inject(&set, VECTORS[rng.below(VECTORS.len())]);
                        break;
                    }
                }
            }
            hw.write(&lrs);
            t.sync_from_hw(&hw.read());
        }
        for _ in 0..1000 {
            if set.is_empty() && !t.any_in_use() {
                break;
            }
            let r = t.fill(&set);
            check_fill(&t, &set, r);
            let mut lrs = t.lrs().to_vec();
            for _ in 0..2 * num_lrs {
                guest_step(&mut rng, &mut model, &mut lrs, true);
                guest_step(&mut rng, &mut model, &mut lrs, false);
            }
            t.sync_from_hw(&lrs);
        }
        assert!(set.is_empty() && !t.any_in_use(), "drain did not finish");
        assert_eq!(model.pending, [false; 256], "pending interrupts lost");
        assert_eq!(model.delivered, model.injected);
        assert!(model.injected.iter().sum::<u32>() > 2_000);
        assert!(fitted > 0 && repended > 0);
        if num_lrs > 1 && num_lrs < VECTORS.len() {
            assert!(overflowed > 0);
        }
    }

    #[test]
    fn random_cycles_v3_four_lrs() {
        random_cycles(4, true, 0x9e37_79b9_7f4a_7c15);
    }

    #[test]
    fn random_cycles_v2_four_lrs() {
        random_cycles(4, false, 0x2545_f491_4f6c_dd1d);
    }

    #[test]
    fn random_cycles_two_lrs() {
        random_cycles(2, true, 1);
    }

    #[test]
    fn random_cycles_one_lr() {
        random_cycles(1, false, 0xdead_beef);
    }

    #[test]
    fn random_cycles_sixteen_lrs() {
        random_cycles(16, true, 42);
    }
}

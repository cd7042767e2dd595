//! The record of what is mapped into a guest's physical address space (its
//! VMAR): which host-physical memory backs each IPA range, with which
//! `ZX_VM_PERM_*` permissions. It is kept apart from the stage 2 tables,
//! which can be rebuilt from it.

use alloc::vec::Vec;
use core::ops::Range;
use syscalls::Status;

/// One stretch of guest-physical space backed by host-physical memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Guest-physical start address.
    pub ipa: u64,
    /// Length in bytes.
    pub size: u64,
    /// Host-physical address backing `ipa`.
    pub pa: u64,
    /// `ZX_VM_PERM_READ` (1) | `WRITE` (2) | `EXECUTE` (4).
    pub perms: u32,
}

impl Mapping {
    /// One past the last guest-physical byte.
    pub fn end(&self) -> u64 {
        self.ipa + self.size
    }

    /// Whether `ipa` lies in this mapping.
    pub fn contains(&self, ipa: u64) -> bool {
        ipa >= self.ipa && ipa - self.ipa < self.size
    }

    /// The part of this mapping covering `[from, to)`, which lies inside it.
    fn slice(&self, from: u64, to: u64) -> Mapping {
        Mapping {
            ipa: from,
            size: to - from,
            pa: self.pa + (from - self.ipa),
            perms: self.perms,
        }
    }
}

/// Non-overlapping [`Mapping`]s, by guest-physical address. Mappings split
/// by [`Mappings::remove`] or [`Mappings::protect`] are not merged again.
/// The record grows only fallibly (`NO_MEMORY`), and every change that
/// fails leaves it as it was.
#[derive(Debug, Default)]
pub struct Mappings {
    /// In ascending address order; the ranges never intersect, so their
    /// ends ascend too.
    by_ipa: Vec<Mapping>,
}

impl Mappings {
    /// Nothing mapped.
    pub const fn new() -> Self {
        Self { by_ipa: Vec::new() }
    }

    /// Records `m`. `INVALID_ARGS` when it is empty, `OUT_OF_RANGE` when its
    /// IPA or PA range wraps, `ALREADY_EXISTS` when it overlaps a mapping,
    /// `NO_MEMORY` when the record cannot grow.
    pub fn add(&mut self, m: Mapping) -> Result<(), Status> {
        if m.size == 0 {
            return Err(Status::INVALID_ARGS);
        }
        let end = m.ipa.checked_add(m.size).ok_or(Status::OUT_OF_RANGE)?;
        m.pa.checked_add(m.size).ok_or(Status::OUT_OF_RANGE)?;
        let within = self.within(m.ipa, end);
        if !within.is_empty() {
            return Err(Status::ALREADY_EXISTS);
        }
        self.by_ipa.try_reserve(1).map_err(|_| Status::NO_MEMORY)?;
        self.by_ipa.insert(within.start, m);
        Ok(())
    }

    /// Removes whatever is mapped in `[ipa, ipa + size)` (up to the top of
    /// the address space if that wraps), splitting mappings that straddle
    /// its edges, and returns how many bytes were mapped there (0 when
    /// nothing was). `NO_MEMORY` (and no change) when a split needs room
    /// the record cannot get; removing whole mappings never allocates.
    pub fn remove(&mut self, ipa: u64, size: u64) -> Result<u64, Status> {
        let pieces = self.carve(ipa, ipa.saturating_add(size))?;
        Ok(self.by_ipa.drain(pieces).map(|m| m.size).sum())
    }

    /// Gives `[ipa, ipa + size)` the permissions `perms`, splitting mappings
    /// that straddle its edges. Every byte of the range must be mapped, else
    /// `NOT_FOUND`; `OUT_OF_RANGE` when it wraps; `NO_MEMORY` when a split
    /// needs room the record cannot get. On an error nothing changes.
    pub fn protect(&mut self, ipa: u64, size: u64, perms: u32) -> Result<(), Status> {
        let end = ipa.checked_add(size).ok_or(Status::OUT_OF_RANGE)?;
        if !self.covers(ipa, end) {
            return Err(Status::NOT_FOUND);
        }
        let pieces = self.carve(ipa, end)?;
        for piece in &mut self.by_ipa[pieces] {
            piece.perms = perms;
        }
        Ok(())
    }

    /// Whether any mapping intersects `[start, end)`.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        !self.within(start, end).is_empty()
    }

    /// Whether every byte of `[start, end)` is mapped.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        let mut covered = start;
        for m in &self.by_ipa[self.within(start, end)] {
            if m.ipa > covered {
                break;
            }
            covered = m.end();
        }
        covered >= end
    }

    /// The mapping containing `ipa`.
    pub fn lookup(&self, ipa: u64) -> Option<&Mapping> {
        let i = self.by_ipa.partition_point(|m| m.end() <= ipa);
        self.by_ipa.get(i).filter(|m| m.contains(ipa))
    }

    /// The mappings in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Mapping> {
        self.by_ipa.iter()
    }

    /// The number of mappings.
    pub fn len(&self) -> usize {
        self.by_ipa.len()
    }

    /// Whether nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.by_ipa.is_empty()
    }

    /// Bytes mapped in all.
    pub fn total_size(&self) -> u64 {
        self.iter().map(|m| m.size).sum()
    }

    /// The indices of the mappings intersecting `[start, end)`; none when
    /// the range is empty.
    fn within(&self, start: u64, end: u64) -> Range<usize> {
        if start >= end {
            return 0..0;
        }
        let first = self.by_ipa.partition_point(|m| m.end() <= start);
        let last = self.by_ipa.partition_point(|m| m.ipa < end);
        first..last.max(first)
    }

    /// The index of the mapping that `at` falls strictly inside of (not on
    /// its first byte), if any.
    fn straddling(&self, at: u64) -> Option<usize> {
        let i = self.by_ipa.partition_point(|m| m.end() <= at);
        self.by_ipa
            .get(i)
            .filter(|m| m.ipa < at && at < m.end())
            .map(|_| i)
    }

    /// Cuts the mapping `at` is strictly inside of in two there; the
    /// record must have room for one more.
    fn split_at(&mut self, at: u64) {
        if let Some(i) = self.straddling(at) {
            let m = self.by_ipa[i];
            self.by_ipa[i] = m.slice(m.ipa, at);
            self.by_ipa.insert(i + 1, m.slice(at, m.end()));
        }
    }

    /// Splits the mappings straddling the edges of `[start, end)` so that
    /// the range is made of whole mappings, and returns their indices.
    /// `NO_MEMORY`, with nothing changed, when the splits need room the
    /// record cannot get.
    fn carve(&mut self, start: u64, end: u64) -> Result<Range<usize>, Status> {
        if start >= end {
            return Ok(0..0);
        }
        let splits = [start, end]
            .iter()
            .filter(|&&at| self.straddling(at).is_some())
            .count();
        self.by_ipa
            .try_reserve(splits)
            .map_err(|_| Status::NO_MEMORY)?;
        self.split_at(start);
        self.split_at(end);
        Ok(self.within(start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: u32 = 1;
    const RW: u32 = 3;
    const RX: u32 = 5;
    const RWX: u32 = 7;

    fn m(ipa: u64, size: u64, pa: u64, perms: u32) -> Mapping {
        Mapping {
            ipa,
            size,
            pa,
            perms,
        }
    }

    /// `[0x10000, 0x14000)` from PA 0x8000_0000 and the adjacent
    /// `[0x14000, 0x16000)` from PA 0x9000_0000, both RWX.
    fn two_adjacent() -> Mappings {
        let mut maps = Mappings::new();
        maps.add(m(0x10000, 0x4000, 0x8000_0000, RWX)).unwrap();
        maps.add(m(0x14000, 0x2000, 0x9000_0000, RWX)).unwrap();
        maps
    }

    fn all(maps: &Mappings) -> Vec<Mapping> {
        maps.iter().copied().collect()
    }

    #[test]
    fn add_refuses_overlaps_and_bad_ranges() {
        let mut maps = two_adjacent();
        for (ipa, size) in [
            (0xf000, 0x2000),
            (0x13000, 0x2000),
            (0x15fff, 1),
            (0x11000, 0x1000),
            (0, 0x100000),
        ] {
            assert_eq!(
                maps.add(m(ipa, size, 0, R)),
                Err(Status::ALREADY_EXISTS),
                "{ipa:#x}+{size:#x}"
            );
        }
        assert_eq!(maps.add(m(0x20000, 0, 0, R)), Err(Status::INVALID_ARGS));
        assert_eq!(maps.add(m(u64::MAX, 2, 0, R)), Err(Status::OUT_OF_RANGE));
        assert_eq!(
            maps.add(m(0x20000, 0x1000, u64::MAX, R)),
            Err(Status::OUT_OF_RANGE)
        );
        maps.add(m(0xf000, 0x1000, 0, R)).unwrap();
        maps.add(m(0x16000, 0x1000, 0, R)).unwrap();
        assert_eq!((maps.len(), maps.total_size()), (4, 0x8000));
    }

    #[test]
    fn lookup_finds_the_containing_mapping() {
        let maps = two_adjacent();
        assert_eq!(maps.lookup(0x10000).map(|m| m.pa), Some(0x8000_0000));
        assert_eq!(maps.lookup(0x13fff).map(|m| m.pa), Some(0x8000_0000));
        assert_eq!(maps.lookup(0x14000).map(|m| m.pa), Some(0x9000_0000));
        assert_eq!(maps.lookup(0x15fff).map(|m| m.pa), Some(0x9000_0000));
        assert_eq!(maps.lookup(0xffff), None);
        assert_eq!(maps.lookup(0x16000), None);
    }

    #[test]
    fn remove_splits_at_both_ends_and_the_middle() {
        let mut maps = two_adjacent();
        // The middle of the first mapping.
        assert_eq!(maps.remove(0x11000, 0x1000), Ok(0x1000));
        assert_eq!(
            all(&maps),
            [
                m(0x10000, 0x1000, 0x8000_0000, RWX),
                m(0x12000, 0x2000, 0x8000_2000, RWX),
                m(0x14000, 0x2000, 0x9000_0000, RWX),
            ]
        );
        // The start of one piece and the end of another.
        assert_eq!(maps.remove(0xf000, 0x2000), Ok(0x1000));
        assert_eq!(maps.remove(0x15000, 0x4000), Ok(0x1000));
        assert_eq!(
            all(&maps),
            [
                m(0x12000, 0x2000, 0x8000_2000, RWX),
                m(0x14000, 0x1000, 0x9000_0000, RWX),
            ]
        );
        assert_eq!(maps.total_size(), 0x3000);
    }

    #[test]
    fn remove_across_adjacent_mappings() {
        let mut maps = two_adjacent();
        assert_eq!(maps.remove(0x13000, 0x2000), Ok(0x2000));
        assert_eq!(
            all(&maps),
            [
                m(0x10000, 0x3000, 0x8000_0000, RWX),
                m(0x15000, 0x1000, 0x9000_1000, RWX),
            ]
        );
        // Everything, with a range that wraps.
        assert_eq!(maps.remove(0x1000, u64::MAX), Ok(0x4000));
        assert!(maps.is_empty());
    }

    #[test]
    fn remove_of_nothing_is_empty() {
        let mut maps = two_adjacent();
        assert_eq!(maps.remove(0x20000, 0x1000), Ok(0));
        assert_eq!(maps.remove(0, 0x10000), Ok(0));
        assert_eq!(maps.remove(0x12000, 0), Ok(0));
        assert_eq!(all(&maps), all(&two_adjacent()));
    }

    #[test]
    fn protect_splits_at_the_edges() {
        let mut maps = two_adjacent();
        assert_eq!(maps.protect(0x13000, 0x2000, RX), Ok(()));
        assert_eq!(
            all(&maps),
            [
                m(0x10000, 0x3000, 0x8000_0000, RWX),
                m(0x13000, 0x1000, 0x8000_3000, RX),
                m(0x14000, 0x1000, 0x9000_0000, RX),
                m(0x15000, 0x1000, 0x9000_1000, RWX),
            ]
        );
        // The middle of a mapping, then exactly one mapping.
        assert_eq!(maps.protect(0x11000, 0x1000, R), Ok(()));
        assert_eq!(maps.protect(0x15000, 0x1000, RW), Ok(()));
        assert_eq!(
            all(&maps),
            [
                m(0x10000, 0x1000, 0x8000_0000, RWX),
                m(0x11000, 0x1000, 0x8000_1000, R),
                m(0x12000, 0x1000, 0x8000_2000, RWX),
                m(0x13000, 0x1000, 0x8000_3000, RX),
                m(0x14000, 0x1000, 0x9000_0000, RX),
                m(0x15000, 0x1000, 0x9000_1000, RW),
            ]
        );
        assert_eq!(maps.lookup(0x10fff).map(|m| m.perms), Some(RWX));
        assert_eq!(maps.lookup(0x11000).map(|m| m.perms), Some(R));
        assert_eq!(
            maps.lookup(0x12000).map(|m| (m.pa, m.perms)),
            Some((0x8000_2000, RWX))
        );
        assert_eq!(maps.total_size(), 0x6000);
        assert_eq!(maps.protect(0x12000, 0, R), Ok(()));
        assert_eq!(maps.len(), 6);
    }

    #[test]
    fn overlaps_and_covers() {
        let mut maps = two_adjacent();
        maps.remove(0x12000, 0x1000).unwrap();
        for (start, end, overlaps, covers) in [
            (0x10000, 0x12000, true, true),
            (0x13000, 0x16000, true, true),
            (0x11000, 0x13000, true, false),
            (0x12000, 0x13000, false, false),
            (0xf000, 0x10001, true, false),
            (0x15fff, 0x20000, true, false),
            (0x16000, 0x20000, false, false),
            (0x11000, 0x11000, false, true),
        ] {
            assert_eq!(maps.overlaps(start, end), overlaps, "{start:#x}..{end:#x}");
            assert_eq!(maps.covers(start, end), covers, "{start:#x}..{end:#x}");
        }
    }

    #[test]
    fn protect_needs_every_byte_mapped() {
        let mut maps = two_adjacent();
        maps.remove(0x12000, 0x1000).unwrap();
        let before = all(&maps);
        for (ipa, size) in [
            (0x11000, 0x2000), // runs into the hole
            (0x12000, 0x1000), // the hole itself
            (0xf000, 0x2000),  // starts below everything
            (0x15000, 0x2000), // runs past the end
            (0x30000, 0x1000), // nowhere near
        ] {
            assert_eq!(
                maps.protect(ipa, size, R),
                Err(Status::NOT_FOUND),
                "{ipa:#x}+{size:#x}"
            );
        }
        assert_eq!(
            maps.protect(0x10000, u64::MAX, R),
            Err(Status::OUT_OF_RANGE)
        );
        assert_eq!(all(&maps), before);
    }

    #[test]
    fn removing_whole_mappings_needs_no_room() {
        let mut maps = two_adjacent();
        maps.by_ipa.shrink_to_fit();
        let room = maps.by_ipa.capacity();
        assert_eq!(maps.remove(0x14000, 0x2000), Ok(0x2000));
        assert_eq!(maps.remove(0x10000, 0x4000), Ok(0x4000));
        assert!(maps.is_empty());
        assert_eq!(maps.by_ipa.capacity(), room);
    }

    #[test]
    fn many_mappings_stay_sorted() {
        let mut maps = Mappings::new();
        for i in [7u64, 3, 9, 1, 5, 0, 8, 2, 6, 4] {
            maps.add(m(i * 0x2000, 0x1000, i << 20, R)).unwrap();
        }
        let starts: Vec<u64> = maps.iter().map(|m| m.ipa).collect();
        assert_eq!(starts, (0..10).map(|i| i * 0x2000).collect::<Vec<_>>());
        assert_eq!(maps.lookup(0xafff).map(|m| m.pa), Some(5 << 20));
        assert_eq!(maps.lookup(0xb000), None);
        // A range over holes removes only what is mapped.
        assert_eq!(maps.remove(0x1800, 0x5000), Ok(0x2800));
        assert_eq!(maps.len(), 8);
        assert_eq!(maps.lookup(0x1000), None);
        assert_eq!(maps.lookup(0x1fff), None);
        assert_eq!(maps.lookup(0x8000).map(|m| m.pa), Some(4 << 20));
    }
}

//! A guest's traps, keyed by guest-physical (IPA) range: BELL and MEM traps
//! share one space, in which ranges never intersect (`zx_guest_set_trap`,
//! reference §3.2).

use alloc::vec::Vec;
use syscalls::Status;

/// Non-overlapping IPA ranges, each with a value of type `T`, kept sorted
/// by start address: a guest has a handful of traps, and the lookup on
/// every trapped access is a binary search over a small array.
#[derive(Debug)]
pub struct TrapMap<T> {
    /// (start, size, value), in ascending start order.
    traps: Vec<(u64, u64, T)>,
}

impl<T> Default for TrapMap<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> TrapMap<T> {
    /// An empty map.
    pub const fn new() -> Self {
        Self { traps: Vec::new() }
    }

    /// Makes room for one more trap, so that the next [`TrapMap::insert`]
    /// does not allocate; `NO_MEMORY` when there is none.
    pub fn try_reserve(&mut self) -> Result<(), Status> {
        self.traps.try_reserve(1).map_err(|_| Status::NO_MEMORY)
    }

    /// Adds a trap on `[addr, addr + size)`. `OUT_OF_RANGE` when `size` is 0
    /// or the range wraps past the end of the address space,
    /// `ALREADY_EXISTS` when it intersects a trap already there, `NO_MEMORY`
    /// when the map cannot grow (see [`TrapMap::try_reserve`]).
    pub fn insert(&mut self, addr: u64, size: u64, value: T) -> Result<(), Status> {
        if size == 0 || addr.checked_add(size).is_none() {
            return Err(Status::OUT_OF_RANGE);
        }
        if self.overlapping(addr, size) {
            return Err(Status::ALREADY_EXISTS);
        }
        self.try_reserve()?;
        let at = self.traps.partition_point(|&(start, _, _)| start < addr);
        self.traps.insert(at, (addr, size, value));
        Ok(())
    }

    /// Index of the last trap starting below `end` (exclusive), if any.
    fn last_before(&self, end: u64) -> Option<usize> {
        self.traps
            .partition_point(|&(start, _, _)| start < end)
            .checked_sub(1)
    }

    /// The trap whose range contains `ipa`: its start address and value.
    pub fn find(&self, ipa: u64) -> Option<(u64, &T)> {
        let (start, size, value) = &self.traps[self.last_before(ipa.checked_add(1)?)?];
        (ipa - start < *size).then_some((*start, value))
    }

    /// Whether any trap intersects `[addr, addr + size)` (taken to end at the
    /// top of the address space if it would wrap). An empty range intersects
    /// nothing.
    pub fn overlapping(&self, addr: u64, size: u64) -> bool {
        if size == 0 {
            return false;
        }
        // Ranges are disjoint, so the last one starting before the end of
        // `[addr, addr + size)` is the one reaching furthest.
        let last = match addr.checked_add(size) {
            Some(end) => self.last_before(end),
            None => self.traps.len().checked_sub(1),
        };
        last.is_some_and(|i| self.traps[i].0 + self.traps[i].1 > addr)
    }

    /// The traps intersecting `[start, end)`, in address order: start,
    /// size and value.
    pub fn in_range(&self, start: u64, end: u64) -> impl Iterator<Item = (u64, u64, &T)> {
        // Ranges are disjoint: only the last one starting at or below
        // `start` can reach into the range from below.
        let first = self.last_before(start.saturating_add(1)).unwrap_or(0);
        self.traps[first..]
            .iter()
            .take_while(move |(s, _, _)| *s < end)
            .filter(move |(s, size, _)| s + size > start)
            .map(|(s, size, value)| (*s, *size, value))
    }

    /// The traps in address order: start, size and value.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64, &T)> {
        self.traps
            .iter()
            .map(|(start, size, value)| (*start, *size, value))
    }

    /// The number of traps.
    pub fn len(&self) -> usize {
        self.traps.len()
    }

    /// Whether there are no traps.
    pub fn is_empty(&self) -> bool {
        self.traps.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn two_traps() -> TrapMap<&'static str> {
        let mut map = TrapMap::new();
        map.insert(0x1000, 0x1000, "a").unwrap();
        map.insert(0x4000, 0x2000, "b").unwrap();
        map
    }

    #[test]
    fn find_at_first_and_last_byte() {
        let map = two_traps();
        assert_eq!(map.find(0x1000), Some((0x1000, &"a")));
        assert_eq!(map.find(0x1fff), Some((0x1000, &"a")));
        assert_eq!(map.find(0x4000), Some((0x4000, &"b")));
        assert_eq!(map.find(0x5fff), Some((0x4000, &"b")));
        for ipa in [0, 0xfff, 0x2000, 0x3fff, 0x6000, u64::MAX] {
            assert_eq!(map.find(ipa), None, "{ipa:#x}");
        }
    }

    #[test]
    fn adjacent_ranges_do_not_overlap() {
        let mut map = two_traps();
        map.insert(0x2000, 0x2000, "between").unwrap();
        map.insert(0, 0x1000, "below").unwrap();
        map.insert(0x6000, 0x1000, "above").unwrap();
        assert_eq!(map.len(), 5);
        assert_eq!(map.find(0x1fff), Some((0x1000, &"a")));
        assert_eq!(map.find(0x2000), Some((0x2000, &"between")));
        assert_eq!(map.find(0x3fff), Some((0x2000, &"between")));
        assert_eq!(map.find(0x6000), Some((0x6000, &"above")));
        let starts: Vec<u64> = map.iter().map(|(start, _, _)| start).collect();
        assert_eq!(starts, [0, 0x1000, 0x2000, 0x4000, 0x6000]);
    }

    #[test]
    fn intersecting_ranges_are_refused() {
        let mut map = two_traps();
        let cases = [
            (0x800, 0x1000),    // over the start of "a"
            (0x1800, 0x1000),   // over the end of "a"
            (0x1400, 0x100),    // inside "a"
            (0x1000, 0x1000),   // exactly "a"
            (0x1000, 1),        // same start
            (0, 0x10000),       // containing both
            (0x1fff, 0x2002),   // last byte of "a" to first of "b"
            (0x5fff, u64::MAX), // from the last byte of "b", wrapping
        ];
        for (addr, size) in cases {
            assert!(map.overlapping(addr, size), "{addr:#x}+{size:#x}");
            if addr.checked_add(size).is_some() {
                assert_eq!(map.insert(addr, size, "x"), Err(Status::ALREADY_EXISTS));
            }
        }
        assert_eq!(map.len(), 2);
        assert!(!map.overlapping(0x2000, 0x2000));
        assert!(!map.overlapping(0x1800, 0));
        assert!(!map.overlapping(0x6000, u64::MAX));
    }

    #[test]
    fn empty_or_wrapping_ranges_are_out_of_range() {
        let mut map = TrapMap::new();
        assert_eq!(map.insert(0x1000, 0, ()), Err(Status::OUT_OF_RANGE));
        assert_eq!(map.insert(u64::MAX, 2, ()), Err(Status::OUT_OF_RANGE));
        assert_eq!(map.insert(1, u64::MAX, ()), Err(Status::OUT_OF_RANGE));
        assert!(map.is_empty());
        map.insert(u64::MAX - 1, 1, ()).unwrap();
        assert_eq!(map.find(u64::MAX - 1), Some((u64::MAX - 1, &())));
        assert_eq!(map.find(u64::MAX), None);
    }

    #[test]
    fn in_range_lists_exactly_the_intersecting_traps() {
        let map = two_traps();
        let starts =
            |start, end| -> Vec<u64> { map.in_range(start, end).map(|(s, _, _)| s).collect() };
        assert_eq!(starts(0, 0x10000), [0x1000, 0x4000]);
        assert_eq!(starts(0x1fff, 0x4001), [0x1000, 0x4000]);
        assert_eq!(starts(0x2000, 0x4000), []);
        assert_eq!(starts(0x1800, 0x1900), [0x1000]);
        assert_eq!(starts(0x5000, u64::MAX), [0x4000]);
        assert_eq!(starts(0x6000, u64::MAX), []);
        assert_eq!(starts(0, 0x1000), []);
        assert_eq!(TrapMap::<()>::new().in_range(0, u64::MAX).count(), 0);
    }

    #[test]
    fn iterates_in_address_order_whatever_the_insertion_order() {
        let mut map = TrapMap::new();
        for (addr, name) in [(0x9000, "c"), (0x1000, "a"), (0x5000, "b")] {
            map.insert(addr, 0x1000, name).unwrap();
        }
        let order: Vec<_> = map.iter().map(|(start, _, v)| (start, *v)).collect();
        assert_eq!(order, [(0x1000, "a"), (0x5000, "b"), (0x9000, "c")]);
        assert_eq!(map.len(), 3);
        assert_eq!(map.find(0x5fff), Some((0x5000, &"b")));
        assert_eq!(map.find(0x6000), None);
    }

    #[test]
    fn reserved_room_is_what_insert_uses() {
        let mut map = TrapMap::new();
        map.try_reserve().unwrap();
        let room = map.traps.capacity();
        assert!(room >= 1);
        map.insert(0x1000, 0x1000, ()).unwrap();
        assert_eq!(
            map.traps.capacity(),
            room,
            "insert allocated after try_reserve"
        );
    }
}

//! The handle table: the host's handle values, the objects they name and their rights
//! (docs/abi.md §3).
//!
//! This module owns the mapping from 32-bit handle values to `(object, rights)` and the rules
//! of `zx_handle_duplicate`. It is generic over the object type so it is tested on the build
//! machine; it allocates only in [`HandleTable::new`].
//!
//! # Handle encoding
//!
//! ```text
//!  31          20 19                  2 1  0
//! +--------------+---------------------+----+
//! |  generation  |        slot         | 11 |
//! +--------------+---------------------+----+
//! ```
//!
//! - bits 1:0 are always `0b11`, so a value is never 0 (`ZX_HANDLE_INVALID`) and three in four
//!   garbage values are rejected at once;
//! - `slot` (18 bits) indexes the table; the capacity is below `1 << 18`, so the all-ones slot
//!   (and with it `0xFFFF_FFFF`) is never valid;
//! - `generation` (12 bits, never 0) starts at 1 and is bumped on every close of the slot,
//!   wrapping from 4095 to 1; a value is valid only while it matches the slot's generation.
//!
//! Free slots are reused least recently freed first (FIFO), and never-used slots before any
//! freed one. A closed value therefore comes back only after its slot has been closed 4095
//! more times, and each of those reuses waits for every other free slot to be used first.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use syscalls::{Rights, Status};

/// Bits 1:0 of every handle value.
const TAG: u32 = 0b11;
const TAG_BITS: u32 = 2;
const SLOT_BITS: u32 = 18;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
const GENERATION_SHIFT: u32 = TAG_BITS + SLOT_BITS;
const MAX_GENERATION: u16 = (1 << (32 - GENERATION_SHIFT)) - 1;

/// Largest capacity [`HandleTable::new`] accepts: every slot but the all-ones one.
pub const MAX_CAPACITY: usize = SLOT_MASK as usize;

/// One table slot: its generation and, while a handle is open, the object and rights.
struct Slot<T> {
    generation: u16,
    entry: Option<(T, Rights)>,
}

/// A fixed-capacity table of handles, each naming an object of type `T` with some rights.
///
/// `T` is typically a cheaply clonable reference to an object; [`HandleTable::duplicate`]
/// clones it.
pub struct HandleTable<T: Clone> {
    slots: Vec<Slot<T>>,
    /// Freed slot indices, least recently freed first.
    free: VecDeque<u32>,
    capacity: usize,
}

impl<T: Clone> HandleTable<T> {
    /// An empty table holding at most `capacity` handles; allocates all its memory now.
    ///
    /// # Panics
    ///
    /// If `capacity` exceeds [`MAX_CAPACITY`].
    pub fn new(capacity: usize) -> Self {
        assert!(
            capacity <= MAX_CAPACITY,
            "handle table capacity {capacity} too large"
        );
        Self {
            slots: Vec::with_capacity(capacity),
            free: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Opens a handle to `obj` with `rights`; `NO_RESOURCES` when the table is full.
    pub fn insert(&mut self, obj: T, rights: Rights) -> Result<u32, Status> {
        let index = if self.slots.len() < self.capacity {
            self.slots.push(Slot {
                generation: 1,
                entry: None,
            });
            self.slots.len() - 1
        } else {
            self.free.pop_front().ok_or(Status::NO_RESOURCES)? as usize
        };
        let slot = &mut self.slots[index];
        slot.entry = Some((obj, rights));
        Ok(encode(index, slot.generation))
    }

    /// The object and rights `handle` names; `BAD_HANDLE` unless it is open.
    pub fn get(&self, handle: u32) -> Result<(&T, Rights), Status> {
        let index = self.lookup(handle)?;
        match &self.slots[index].entry {
            Some((obj, rights)) => Ok((obj, *rights)),
            None => Err(Status::BAD_HANDLE),
        }
    }

    /// Closes `handle`, returning its object and rights; `BAD_HANDLE` unless it is open.
    pub fn remove(&mut self, handle: u32) -> Result<(T, Rights), Status> {
        let index = self.lookup(handle)?;
        let slot = &mut self.slots[index];
        let entry = slot.entry.take().ok_or(Status::BAD_HANDLE)?;
        slot.generation = if slot.generation == MAX_GENERATION {
            1
        } else {
            slot.generation + 1
        };
        self.free.push_back(index as u32);
        Ok(entry)
    }

    /// Opens a second handle to `handle`'s object, as `zx_handle_duplicate`.
    ///
    /// Checks, in order: `handle` open (else `BAD_HANDLE`), it has [`Rights::DUPLICATE`] (else
    /// `ACCESS_DENIED`), `rights` is [`Rights::SAME_RIGHTS`] (keep the rights) or a subset of
    /// the handle's (else `INVALID_ARGS`), room in the table (else `NO_RESOURCES`).
    pub fn duplicate(&mut self, handle: u32, rights: Rights) -> Result<u32, Status> {
        let (obj, current) = self.get(handle)?;
        if !current.contains(Rights::DUPLICATE) {
            return Err(Status::ACCESS_DENIED);
        }
        let new_rights = if rights == Rights::SAME_RIGHTS {
            current
        } else if current.contains(rights) {
            rights
        } else {
            return Err(Status::INVALID_ARGS);
        };
        let obj = obj.clone();
        self.insert(obj, new_rights)
    }

    /// Number of open handles.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// True if no handle is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The slot index `handle` encodes if its tag and generation match; `BAD_HANDLE` otherwise.
    fn lookup(&self, handle: u32) -> Result<usize, Status> {
        if handle & TAG != TAG {
            return Err(Status::BAD_HANDLE);
        }
        let index = ((handle >> TAG_BITS) & SLOT_MASK) as usize;
        let generation = handle >> GENERATION_SHIFT;
        match self.slots.get(index) {
            Some(slot) if u32::from(slot.generation) == generation => Ok(index),
            _ => Err(Status::BAD_HANDLE),
        }
    }
}

/// The handle value for `index` (below [`MAX_CAPACITY`]) at `generation`.
fn encode(index: usize, generation: u16) -> u32 {
    u32::from(generation) << GENERATION_SHIFT | (index as u32) << TAG_BITS | TAG
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: Rights = Rights::READ.union(Rights::WRITE);
    const DRW: Rights = Rights::DUPLICATE.union(RW);

    #[test]
    fn insert_get_remove() {
        let mut t = HandleTable::new(4);
        assert!(t.is_empty());
        let a = t.insert("a", RW).unwrap();
        let b = t.insert("b", DRW).unwrap();
        assert_ne!(a, b);
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(a), Ok((&"a", RW)));
        assert_eq!(t.get(b), Ok((&"b", DRW)));
        assert_eq!(t.remove(a), Ok(("a", RW)));
        assert_eq!(t.len(), 1);
        assert_eq!(t.get(a), Err(Status::BAD_HANDLE));
        assert_eq!(t.remove(a), Err(Status::BAD_HANDLE));
        assert_eq!(t.get(b), Ok((&"b", DRW)));
    }

    #[test]
    fn values_are_tagged_and_never_zero() {
        let mut t = HandleTable::new(16);
        for i in 0..16 {
            let h = t.insert(i, RW).unwrap();
            assert_ne!(h, 0);
            assert_eq!(h & 0b11, 0b11);
            assert_ne!(h >> GENERATION_SHIFT, 0);
        }
    }

    #[test]
    fn garbage_values_are_bad_handles() {
        let mut t = HandleTable::new(MAX_CAPACITY);
        let h = t.insert(7u8, RW).unwrap();
        for bad in [
            0,
            0xFFFF_FFFF,
            h & !0b11,
            h & !0b01,
            h & !0b10,
            h ^ (1 << 31),
            h ^ (1 << 2),
        ] {
            assert_eq!(t.get(bad), Err(Status::BAD_HANDLE), "{bad:#x}");
        }
        // A never-opened slot with the right tag and generation.
        assert_eq!(t.get(encode(1, 1)), Err(Status::BAD_HANDLE));
        // The all-ones value names slot 0x3FFFF, which no table has.
        assert_eq!(
            t.get(encode(SLOT_MASK as usize, MAX_GENERATION)),
            Err(Status::BAD_HANDLE)
        );
        assert_eq!(t.get(h), Ok((&7, RW)));
    }

    #[test]
    fn closed_value_is_not_reused_soon() {
        for capacity in [1, 2, 64] {
            let mut t = HandleTable::new(capacity);
            let stale = t.insert(0u32, RW).unwrap();
            t.remove(stale).unwrap();
            for i in 0..1000 {
                let h = t.insert(i, RW).unwrap();
                assert_ne!(h, stale, "capacity {capacity}, round {i}");
                assert_eq!(t.get(stale), Err(Status::BAD_HANDLE));
                t.remove(h).unwrap();
            }
            assert!(t.is_empty());
        }
    }

    #[test]
    fn freed_slots_are_reused_fifo_after_fresh_ones() {
        let mut t = HandleTable::new(3);
        let a = t.insert('a', RW).unwrap();
        let b = t.insert('b', RW).unwrap();
        t.remove(b).unwrap();
        t.remove(a).unwrap();
        let slot = |h: u32| (h >> TAG_BITS) & SLOT_MASK;
        // Slot 2 was never used; then slot 1 (freed first), then slot 0.
        assert_eq!(slot(t.insert('c', RW).unwrap()), 2);
        assert_eq!(slot(t.insert('d', RW).unwrap()), slot(b));
        assert_eq!(slot(t.insert('e', RW).unwrap()), slot(a));
    }

    #[test]
    fn generation_wraps_past_zero() {
        let mut t = HandleTable::new(1);
        let first = t.insert((), RW).unwrap();
        t.remove(first).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..usize::from(MAX_GENERATION) - 1 {
            let h = t.insert((), RW).unwrap();
            assert!(seen.insert(h), "{h:#x} repeated");
            assert_ne!(h >> GENERATION_SHIFT, 0);
            t.remove(h).unwrap();
        }
        assert!(!seen.contains(&first));
        // After 4095 closes the slot is back at its first generation.
        assert_eq!(t.insert((), RW), Ok(first));
    }

    #[test]
    fn duplicate_keeps_or_reduces_rights() {
        let mut t = HandleTable::new(8);
        let h = t.insert("obj", DRW).unwrap();
        let same = t.duplicate(h, Rights::SAME_RIGHTS).unwrap();
        assert_eq!(t.get(same), Ok((&"obj", DRW)));
        let ro = t.duplicate(h, Rights::READ).unwrap();
        assert_eq!(t.get(ro), Ok((&"obj", Rights::READ)));
        let none = t.duplicate(h, Rights::NONE).unwrap();
        assert_eq!(t.get(none), Ok((&"obj", Rights::NONE)));
        let all = t.duplicate(h, DRW).unwrap();
        assert_eq!(t.get(all), Ok((&"obj", DRW)));
        assert_eq!(t.len(), 5);
        // The original stays open and unchanged.
        assert_eq!(t.remove(h), Ok(("obj", DRW)));
        assert_eq!(t.get(same), Ok((&"obj", DRW)));
    }

    #[test]
    fn duplicate_errors_in_order() {
        let mut t = HandleTable::new(2);
        let dup = t.insert(1, DRW).unwrap();
        let nodup = t.insert(2, RW).unwrap();
        // Invalid handle first, whatever else is wrong.
        assert_eq!(t.duplicate(0, Rights::EXECUTE), Err(Status::BAD_HANDLE));
        assert_eq!(
            t.duplicate(dup ^ (1 << 31), Rights::SAME_RIGHTS),
            Err(Status::BAD_HANDLE)
        );
        // Missing DUPLICATE before bad rights and before a full table.
        assert_eq!(
            t.duplicate(nodup, Rights::EXECUTE),
            Err(Status::ACCESS_DENIED)
        );
        assert_eq!(
            t.duplicate(nodup, Rights::SAME_RIGHTS),
            Err(Status::ACCESS_DENIED)
        );
        // Rights beyond the handle's before a full table.
        assert_eq!(
            t.duplicate(dup, DRW | Rights::EXECUTE),
            Err(Status::INVALID_ARGS)
        );
        assert_eq!(
            t.duplicate(dup, Rights::SAME_RIGHTS | Rights::READ),
            Err(Status::INVALID_ARGS)
        );
        // Finally the table is full.
        assert_eq!(t.duplicate(dup, Rights::READ), Err(Status::NO_RESOURCES));
        assert_eq!(
            t.duplicate(dup, Rights::SAME_RIGHTS),
            Err(Status::NO_RESOURCES)
        );
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn full_table_recovers_after_remove() {
        let mut t = HandleTable::new(3);
        let hs: Vec<u32> = (0..3).map(|i| t.insert(i, RW).unwrap()).collect();
        assert_eq!(t.insert(9, RW), Err(Status::NO_RESOURCES));
        assert_eq!(t.len(), 3);
        t.remove(hs[1]).unwrap();
        let h = t.insert(9, RW).unwrap();
        assert_eq!(t.get(h), Ok((&9, RW)));
        assert_eq!(t.get(hs[1]), Err(Status::BAD_HANDLE));
        assert_eq!(t.insert(10, RW), Err(Status::NO_RESOURCES));
    }

    #[test]
    fn zero_capacity_table_is_always_full() {
        let mut t = HandleTable::new(0);
        assert_eq!(t.insert((), RW), Err(Status::NO_RESOURCES));
        assert!(t.is_empty());
    }

    #[test]
    #[should_panic]
    fn capacity_above_maximum_panics() {
        let _ = HandleTable::<()>::new(MAX_CAPACITY + 1);
    }
}

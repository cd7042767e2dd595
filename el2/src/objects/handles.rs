//! The handle table: the host's handle values, the objects they name and their rights
//! (docs/abi.md §3).
//!
//! This module owns the mapping from 32-bit handle values to `(object, rights)` and the rules
//! of `zx_handle_duplicate`. It is generic over the object type and its capacity so it is
//! tested on the build machine; it never allocates (a table is one fixed array, built by a
//! `const fn`).
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
//!
//! # Readers take no lock
//!
//! Each slot has one tag word: open or not, the generation and the rights. [`HandleTable::get`]
//! reads it with an acquire load and, when it is open at the handle's generation, borrows the
//! object in place: no lock, no reference count. Writers ([`insert`](HandleTable::insert),
//! [`close`](HandleTable::close), [`duplicate`](HandleTable::duplicate)) hold the table's lock.
//! An insert writes the object and then publishes the tag (a release store). A close is two
//! steps: [`close`](HandleTable::close) clears the tag's open bit, so every lookup from then
//! on fails, but leaves the object in its slot; [`reclaim`](HandleTable::reclaim), which its
//! caller may call only once no reader can still be using the object (the registry waits for
//! every CPU's read section that might have seen the slot open, `objects::readers`), takes
//! the object out and frees the slot. A slot is therefore never refilled while a reader that
//! saw it open is still reading it.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;
use syscalls::{Rights, Status};

/// Bits 1:0 of every handle value.
const TAG: u32 = 0b11;
const TAG_BITS: u32 = 2;
const SLOT_BITS: u32 = 18;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
const GENERATION_SHIFT: u32 = TAG_BITS + SLOT_BITS;
const MAX_GENERATION: u32 = (1 << (32 - GENERATION_SHIFT)) - 1;

/// Largest capacity a [`HandleTable`] may have: every slot but the all-ones one.
pub const MAX_CAPACITY: usize = SLOT_MASK as usize;

/// A slot's tag word: the handle is open (lookups find it).
const OPEN: u64 = 1 << 63;
/// A slot's tag word: the slot holds an object (open, or closed and not yet reclaimed).
const HELD: u64 = 1 << 62;
/// A slot's tag word: where the generation is (its rights are bits 31:0).
const TAG_GENERATION_SHIFT: u32 = 32;
const TAG_GENERATION_MASK: u64 = MAX_GENERATION as u64;

/// One table slot.
struct Slot<T> {
    /// [`OPEN`] | [`HELD`] | generation << 32 | rights; 0 for a never-used slot (whose first
    /// generation is 1).
    tag: AtomicU64,
    /// The object while [`HELD`]. Written only under the table's lock while no reader can
    /// look at it (the slot is not open, and any reader that saw it open has finished).
    object: UnsafeCell<MaybeUninit<T>>,
}

impl<T> Slot<T> {
    const fn empty() -> Self {
        Slot {
            tag: AtomicU64::new(0),
            object: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    fn generation(tag: u64) -> u32 {
        (tag >> TAG_GENERATION_SHIFT & TAG_GENERATION_MASK) as u32
    }
}

/// The writers' state: which slots are free.
struct Alloc<const N: usize> {
    /// Slots `fresh..N` have never been used.
    fresh: usize,
    /// Freed slot indices, least recently freed first: a ring of `free_len` entries from
    /// `free_head`.
    free: [u32; N],
    free_head: usize,
    free_len: usize,
}

impl<const N: usize> Alloc<N> {
    /// A slot for an insert: a never-used one, else the least recently freed.
    fn take(&mut self) -> Option<usize> {
        if self.fresh < N {
            self.fresh += 1;
            return Some(self.fresh - 1);
        }
        if self.free_len == 0 {
            return None;
        }
        let index = self.free[self.free_head] as usize;
        self.free_head = (self.free_head + 1) % N;
        self.free_len -= 1;
        Some(index)
    }

    fn give_back(&mut self, index: usize) {
        self.free[(self.free_head + self.free_len) % N] = index as u32;
        self.free_len += 1;
    }
}

/// A fixed-capacity table of at most `N` handles, each naming an object of type `T` with some
/// rights.
///
/// `T` is typically a cheaply clonable reference to an object; [`HandleTable::duplicate`]
/// clones it.
pub struct HandleTable<T, const N: usize> {
    slots: [Slot<T>; N],
    alloc: Mutex<Alloc<N>>,
}

// SAFETY: the table hands out `&T` to any thread (so `T: Sync`) and moves objects in and out
// from any thread (so `T: Send`); its cells are written only under `alloc`'s lock while no
// reader can see them (module comment).
unsafe impl<T: Send + Sync, const N: usize> Sync for HandleTable<T, N> {}

/// A handle [`HandleTable::close`] has closed, whose object is still in its slot until
/// [`HandleTable::reclaim`].
#[must_use = "the slot and its object stay taken until reclaimed"]
pub struct Closing {
    index: usize,
}

impl<T, const N: usize> HandleTable<T, N> {
    const CAPACITY_FITS: () = assert!(N <= MAX_CAPACITY, "handle table capacity too large");

    /// An empty table.
    pub const fn new() -> Self {
        let () = Self::CAPACITY_FITS;
        Self {
            slots: [const { Slot::empty() }; N],
            alloc: Mutex::new(Alloc {
                fresh: 0,
                free: [0; N],
                free_head: 0,
                free_len: 0,
            }),
        }
    }

    /// Opens a handle to `obj` with `rights`; `NO_RESOURCES` when the table is full.
    pub fn insert(&self, obj: T, rights: Rights) -> Result<u32, Status> {
        self.insert_locked(&mut self.alloc.lock(), obj, rights)
    }

    fn insert_locked(&self, alloc: &mut Alloc<N>, obj: T, rights: Rights) -> Result<u32, Status> {
        let index = alloc.take().ok_or(Status::NO_RESOURCES)?;
        let slot = &self.slots[index];
        let generation = match Slot::<T>::generation(slot.tag.load(Ordering::Relaxed)) {
            0 => 1,
            g => g,
        };
        // SAFETY: a slot `take` gives holds no object (never used, or reclaimed), and no
        // reader looks at its cell: it is not open, and reclaim waited for every reader that
        // saw it open. We hold the lock, so no other writer touches it.
        unsafe { (*slot.object.get()).write(obj) };
        let tag =
            OPEN | HELD | u64::from(generation) << TAG_GENERATION_SHIFT | u64::from(rights.bits());
        // Release: a reader that sees the tag open sees the object written above.
        slot.tag.store(tag, Ordering::Release);
        Ok(encode(index, generation))
    }

    /// The object and rights `handle` names; `BAD_HANDLE` unless it is open. Takes no lock.
    ///
    /// The reference stays valid until the handle's [`reclaim`](Self::reclaim), whose caller
    /// makes sure no reference from here is still in use.
    #[inline(always)]
    pub fn get(&self, handle: u32) -> Result<(&T, Rights), Status> {
        let slot = self.slot(handle)?;
        // Acquire: pairs with insert's release, so the object is there.
        let tag = slot.tag.load(Ordering::Acquire);
        if tag >> TAG_GENERATION_SHIFT
            != (OPEN | HELD) >> TAG_GENERATION_SHIFT | u64::from(handle >> GENERATION_SHIFT)
        {
            return Err(Status::BAD_HANDLE);
        }
        // SAFETY: the slot is open at the handle's generation, so it holds the object insert
        // wrote before publishing this tag; it stays there until reclaim (see above).
        let obj = unsafe { (*slot.object.get()).assume_init_ref() };
        Ok((obj, Rights::from_bits(tag as u32)))
    }

    /// Closes `handle`: from now on lookups fail with `BAD_HANDLE`, and so does a second
    /// close; `BAD_HANDLE` unless it is open. Its object stays in the slot, which is not
    /// reused, until [`reclaim`](Self::reclaim).
    pub fn close(&self, handle: u32) -> Result<Closing, Status> {
        let _alloc = self.alloc.lock();
        let slot = self.slot(handle)?;
        let tag = slot.tag.load(Ordering::Relaxed);
        if tag & OPEN == 0 || Slot::<T>::generation(tag) != handle >> GENERATION_SHIFT {
            return Err(Status::BAD_HANDLE);
        }
        let generation = Slot::<T>::generation(tag) % MAX_GENERATION + 1;
        let closed = tag & !(OPEN | TAG_GENERATION_MASK << TAG_GENERATION_SHIFT)
            | u64::from(generation) << TAG_GENERATION_SHIFT;
        // Readers that load the tag from here on fail; the caller orders this store before
        // its look at the readers (`objects::readers::wait`, a full barrier).
        slot.tag.store(closed, Ordering::Relaxed);
        Ok(Closing {
            index: slot_index(handle),
        })
    }

    /// Takes a closed handle's object and rights out of its slot, which becomes free.
    ///
    /// # Safety
    ///
    /// No reference [`get`](Self::get) returned to this slot's object may still be in use, nor
    /// may a `get` that read the slot's tag before the [`close`](Self::close) still be running.
    pub unsafe fn reclaim(&self, closing: Closing) -> (T, Rights) {
        let mut alloc = self.alloc.lock();
        let slot = &self.slots[closing.index];
        let tag = slot.tag.load(Ordering::Relaxed);
        debug_assert!(tag & (OPEN | HELD) == HELD, "reclaim of a slot not closing");
        slot.tag.store(tag & !HELD, Ordering::Relaxed);
        // SAFETY: the slot was closed (so it holds its object and no new reader can reach
        // it) and, by the caller's promise, no old reader is left; we hold the lock.
        let obj = unsafe { (*slot.object.get()).assume_init_read() };
        alloc.give_back(closing.index);
        (obj, Rights::from_bits(tag as u32))
    }

    /// Opens a second handle to `handle`'s object, as `zx_handle_duplicate`.
    ///
    /// Checks, in order: `handle` open (else `BAD_HANDLE`), it has [`Rights::DUPLICATE`] (else
    /// `ACCESS_DENIED`), `rights` is [`Rights::SAME_RIGHTS`] (keep the rights) or a subset of
    /// the handle's (else `INVALID_ARGS`), room in the table (else `NO_RESOURCES`).
    pub fn duplicate(&self, handle: u32, rights: Rights) -> Result<u32, Status>
    where
        T: Clone,
    {
        // Under the lock no close or reclaim runs, so the object stays while it is cloned.
        let mut alloc = self.alloc.lock();
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
        self.insert_locked(&mut alloc, obj, new_rights)
    }

    /// Number of slots taken: open handles, and closed ones not yet reclaimed.
    pub fn len(&self) -> usize {
        let alloc = self.alloc.lock();
        alloc.fresh - alloc.free_len
    }

    /// True if no slot is taken.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The slot `handle` names if its tag bits are right and the slot exists; `BAD_HANDLE`
    /// otherwise.
    #[inline(always)]
    fn slot(&self, handle: u32) -> Result<&Slot<T>, Status> {
        if handle & TAG != TAG {
            return Err(Status::BAD_HANDLE);
        }
        self.slots.get(slot_index(handle)).ok_or(Status::BAD_HANDLE)
    }
}

impl<T, const N: usize> Default for HandleTable<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> Drop for HandleTable<T, N> {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            if *slot.tag.get_mut() & HELD != 0 {
                // SAFETY: HELD slots hold an object, and `&mut self` excludes every reader.
                unsafe { slot.object.get_mut().assume_init_drop() };
            }
        }
    }
}

/// The slot index bits of a handle value.
#[inline(always)]
fn slot_index(handle: u32) -> usize {
    ((handle >> TAG_BITS) & SLOT_MASK) as usize
}

/// The handle value for `index` (below [`MAX_CAPACITY`]) at `generation`.
fn encode(index: usize, generation: u32) -> u32 {
    generation << GENERATION_SHIFT | (index as u32) << TAG_BITS | TAG
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: Rights = Rights::READ.union(Rights::WRITE);
    const DRW: Rights = Rights::DUPLICATE.union(RW);

    /// Closes `h` and reclaims its slot at once (one thread, no reader in between).
    fn remove<T, const N: usize>(t: &HandleTable<T, N>, h: u32) -> Result<(T, Rights), Status> {
        let closing = t.close(h)?;
        // SAFETY: the tests hold no reference from `get` across a remove.
        Ok(unsafe { t.reclaim(closing) })
    }

    #[test]
    fn insert_get_remove() {
        let t = HandleTable::<_, 4>::new();
        assert!(t.is_empty());
        let a = t.insert("a", RW).unwrap();
        let b = t.insert("b", DRW).unwrap();
        assert_ne!(a, b);
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(a), Ok((&"a", RW)));
        assert_eq!(t.get(b), Ok((&"b", DRW)));
        assert_eq!(remove(&t, a), Ok(("a", RW)));
        assert_eq!(t.len(), 1);
        assert_eq!(t.get(a), Err(Status::BAD_HANDLE));
        assert_eq!(remove(&t, a).err(), Some(Status::BAD_HANDLE));
        assert_eq!(t.get(b), Ok((&"b", DRW)));
    }

    #[test]
    fn a_closed_handle_is_gone_at_once_and_its_slot_kept_until_reclaimed() {
        let t = HandleTable::<_, 1>::new();
        let h = t.insert(String::from("obj"), RW).unwrap();
        let closing = t.close(h).unwrap();
        assert_eq!(t.get(h), Err(Status::BAD_HANDLE));
        assert_eq!(t.close(h).err(), Some(Status::BAD_HANDLE));
        assert_eq!(t.duplicate(h, Rights::SAME_RIGHTS), Err(Status::BAD_HANDLE));
        // The slot is still taken: the only one, so the table is full.
        assert_eq!(t.len(), 1);
        assert_eq!(t.insert(String::from("new"), RW), Err(Status::NO_RESOURCES));
        // SAFETY: no reference from `get` is held.
        let (obj, rights) = unsafe { t.reclaim(closing) };
        assert_eq!((obj.as_str(), rights), ("obj", RW));
        assert!(t.is_empty());
        let again = t.insert(String::from("new"), RW).unwrap();
        assert_ne!(again, h);
        assert_eq!(t.get(again).map(|(o, _)| o.as_str()), Ok("new"));
    }

    #[test]
    fn a_dropped_table_drops_its_objects() {
        let obj = std::sync::Arc::new(());
        {
            let t = HandleTable::<_, 4>::new();
            t.insert(obj.clone(), RW).unwrap();
            let closed = t.insert(obj.clone(), RW).unwrap();
            let _ = t.close(closed).unwrap();
            let gone = t.insert(obj.clone(), RW).unwrap();
            remove(&t, gone).unwrap();
            assert_eq!(std::sync::Arc::strong_count(&obj), 3);
        }
        assert_eq!(std::sync::Arc::strong_count(&obj), 1);
    }

    #[test]
    fn values_are_tagged_and_never_zero() {
        let t = HandleTable::<_, 16>::new();
        for i in 0..16 {
            let h = t.insert(i, RW).unwrap();
            assert_ne!(h, 0);
            assert_eq!(h & 0b11, 0b11);
            assert_ne!(h >> GENERATION_SHIFT, 0);
        }
    }

    #[test]
    fn garbage_values_are_bad_handles() {
        let t = HandleTable::<_, 16>::new();
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
            assert_eq!(t.close(bad).err(), Some(Status::BAD_HANDLE), "{bad:#x}");
        }
        // A never-opened slot with the right tag and generation.
        assert_eq!(t.get(encode(1, 1)), Err(Status::BAD_HANDLE));
        // A slot beyond the table, and the all-ones slot no table has.
        assert_eq!(t.get(encode(16, 1)), Err(Status::BAD_HANDLE));
        assert_eq!(
            t.get(encode(SLOT_MASK as usize, MAX_GENERATION)),
            Err(Status::BAD_HANDLE)
        );
        assert_eq!(t.get(h), Ok((&7, RW)));
    }

    #[test]
    fn closed_value_is_not_reused_soon() {
        fn check<const N: usize>() {
            let t = HandleTable::<_, N>::new();
            let stale = t.insert(0u32, RW).unwrap();
            remove(&t, stale).unwrap();
            for i in 0..1000 {
                let h = t.insert(i, RW).unwrap();
                assert_ne!(h, stale, "capacity {N}, round {i}");
                assert_eq!(t.get(stale), Err(Status::BAD_HANDLE));
                remove(&t, h).unwrap();
            }
            assert!(t.is_empty());
        }
        check::<1>();
        check::<2>();
        check::<64>();
    }

    #[test]
    fn freed_slots_are_reused_fifo_after_fresh_ones() {
        let t = HandleTable::<_, 3>::new();
        let a = t.insert('a', RW).unwrap();
        let b = t.insert('b', RW).unwrap();
        remove(&t, b).unwrap();
        remove(&t, a).unwrap();
        let slot = |h: u32| (h >> TAG_BITS) & SLOT_MASK;
        // Slot 2 was never used; then slot 1 (freed first), then slot 0.
        assert_eq!(slot(t.insert('c', RW).unwrap()), 2);
        assert_eq!(slot(t.insert('d', RW).unwrap()), slot(b));
        assert_eq!(slot(t.insert('e', RW).unwrap()), slot(a));
    }

    #[test]
    fn generation_wraps_past_zero() {
        let t = HandleTable::<_, 1>::new();
        let first = t.insert((), RW).unwrap();
        remove(&t, first).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..MAX_GENERATION - 1 {
            let h = t.insert((), RW).unwrap();
            assert!(seen.insert(h), "{h:#x} repeated");
            assert_ne!(h >> GENERATION_SHIFT, 0);
            remove(&t, h).unwrap();
        }
        assert!(!seen.contains(&first));
        // After 4095 closes the slot is back at its first generation.
        assert_eq!(t.insert((), RW), Ok(first));
    }

    #[test]
    fn duplicate_keeps_or_reduces_rights() {
        let t = HandleTable::<_, 8>::new();
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
        assert_eq!(remove(&t, h), Ok(("obj", DRW)));
        assert_eq!(t.get(same), Ok((&"obj", DRW)));
    }

    #[test]
    fn duplicate_errors_in_order() {
        let t = HandleTable::<_, 2>::new();
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
        let t = HandleTable::<_, 3>::new();
        let hs: Vec<u32> = (0..3).map(|i| t.insert(i, RW).unwrap()).collect();
        assert_eq!(t.insert(9, RW), Err(Status::NO_RESOURCES));
        assert_eq!(t.len(), 3);
        remove(&t, hs[1]).unwrap();
        let h = t.insert(9, RW).unwrap();
        assert_eq!(t.get(h), Ok((&9, RW)));
        assert_eq!(t.get(hs[1]), Err(Status::BAD_HANDLE));
        assert_eq!(t.insert(10, RW), Err(Status::NO_RESOURCES));
    }

    #[test]
    fn zero_capacity_table_is_always_full() {
        let t = HandleTable::<(), 0>::new();
        assert_eq!(t.insert((), RW), Err(Status::NO_RESOURCES));
        assert!(t.is_empty());
    }
}

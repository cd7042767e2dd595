//! A guest's guest-physical address space: what the host mapped there (the
//! VMAR's record, [`Mappings`]), its traps ([`TrapMap`]), the frame the
//! monitor maps for itself (GICv2's GICV), and the stage-2 tables that carry
//! them out. A guest keeps all of it behind one lock (docs/design.md, "Locks
//! and their order").
//!
//! Stage 2 always maps exactly the record and the monitor's frame, minus the
//! traps. Every call checks all it can first, then takes what can run out
//! (tables to map with, tables to split blocks at the edges of the range),
//! then commits the record and last the tables, which can no longer fail. So
//! a call that fails has changed nothing the host or the guest can see: not
//! the record, not the traps, not what stage 2 translates. (Splitting a
//! block changes no translation, so a split left behind by a later failure
//! is harmless.)

use crate::mm::mappings::{Mapping, Mappings};
use crate::mm::pagetable::{Attrs, MapError, MemType, PageTable, Piece, Regime, TableMemory, Tlb};
use crate::mm::range::{subtract, Range};
use crate::mm::trapmap::TrapMap;
use syscalls::hypervisor::{VM_PERM_EXECUTE, VM_PERM_WRITE};
use syscalls::{Status, ZxResult};

/// Bits of a guest's physical address space (64 GiB, as Zircon on arm64).
pub const IPA_BITS: u32 = 36;
pub const IPA_SIZE: u64 = 1 << IPA_BITS;

const PAGE: u64 = 4096;

/// What a guest access to an IPA meets in stage 2.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a, T> {
    /// A trap: the access is for the host (MEM) or its port (BELL).
    Trap(&'a T),
    /// Mapped memory: a fault there was a passing one (a block being split
    /// break-before-make, or a map that had not finished), and the guest
    /// only has to try again.
    Mapped,
    /// Nothing.
    Unmapped,
}

pub struct AddressSpace<T> {
    tables: PageTable,
    mappings: Mappings,
    traps: TrapMap<T>,
    /// The monitor's own frame (GICv2's GICV): mapped at creation, never in
    /// the record; the host can neither map over it nor unmap or protect
    /// it.
    fixed: Option<Range>,
    /// Bytes of guest-physical space.
    size: u64,
}

/// Stage-2 attributes of guest RAM with `ZX_VM_PERM_*` permissions `perms`.
fn attrs(perms: u32) -> Attrs {
    Attrs {
        mem: MemType::Normal,
        write: perms & VM_PERM_WRITE != 0,
        exec: perms & VM_PERM_EXECUTE != 0,
    }
}

fn map_error(e: MapError) -> Status {
    match e {
        MapError::OutOfMemory => Status::NO_MEMORY,
        MapError::Misaligned => Status::INVALID_ARGS,
        MapError::OutOfRange => Status::OUT_OF_RANGE,
        MapError::AlreadyMapped => Status::ALREADY_EXISTS,
        MapError::NotMapped => Status::NOT_FOUND,
    }
}

/// The end of `[addr, addr + size)`: INVALID_ARGS when it is empty, not
/// page aligned or wraps.
fn page_range(addr: u64, size: u64) -> Result<u64, Status> {
    if size == 0 || !addr.is_multiple_of(PAGE) || !size.is_multiple_of(PAGE) {
        return Err(Status::INVALID_ARGS);
    }
    addr.checked_add(size).ok_or(Status::INVALID_ARGS)
}

/// The parts of `[start, end)` no trap of `traps` covers, in order.
fn untrapped<T>(traps: &TrapMap<T>, start: u64, end: u64) -> impl Iterator<Item = Range> + '_ {
    let mut cursor = start;
    traps
        .in_range(start, end)
        .map(|(s, size, _)| (s, s + size))
        .chain(core::iter::once((end, end)))
        .filter_map(move |(s, e)| {
            let piece = (cursor < s).then(|| Range::new(cursor, s - cursor));
            cursor = cursor.max(e);
            piece
        })
}

impl<T> AddressSpace<T> {
    /// An empty space of `1 << ipa_bits` bytes (a stage 2 starting at level 1).
    pub fn new(mem: &mut impl TableMemory, ipa_bits: u32) -> ZxResult<Self> {
        let tables = PageTable::new(mem, Regime::Stage2, ipa_bits, 1).map_err(map_error)?;
        Ok(Self {
            tables,
            mappings: Mappings::new(),
            traps: TrapMap::new(),
            fixed: None,
            size: 1 << ipa_bits,
        })
    }

    /// The physical address of the stage-2 root table (for VTTBR_EL2).
    pub fn root(&self) -> u64 {
        self.tables.root()
    }

    /// Maps the monitor's frame `[ipa, ipa + size)` -> `[pa, pa + size)`
    /// as device memory, once, before the guest runs.
    pub fn map_fixed(
        &mut self,
        mem: &mut impl TableMemory,
        ipa: u64,
        pa: u64,
        size: u64,
    ) -> ZxResult {
        if self.fixed.is_some() {
            return Err(Status::ALREADY_EXISTS);
        }
        self.tables
            .map(mem, ipa, pa, size, Attrs::DEVICE)
            .map_err(map_error)?;
        self.fixed = Some(Range::new(ipa, size));
        Ok(())
    }

    /// zx_vmar_map: `m.ipa..` -> `m.pa..` with permissions `m.perms`; pages
    /// under a trap stay unmapped. INVALID_ARGS, OUT_OF_RANGE past the
    /// space, ALREADY_EXISTS over a mapping or the monitor's frame,
    /// NO_MEMORY.
    pub fn map<M: TableMemory + Tlb>(&mut self, mem: &mut M, m: Mapping) -> ZxResult {
        let end = page_range(m.ipa, m.size)?;
        if end > self.size {
            return Err(Status::OUT_OF_RANGE);
        }
        let over_fixed = self
            .fixed
            .is_some_and(|f| f.overlaps(&Range::new(m.ipa, m.size)));
        if over_fixed || self.mappings.overlaps(m.ipa, end) {
            return Err(Status::ALREADY_EXISTS);
        }
        let traps = &self.traps;
        let pieces = || {
            untrapped(traps, m.ipa, end).map(|r| Piece {
                va: r.base,
                pa: m.pa + (r.base - m.ipa),
                size: r.size,
            })
        };
        let tables = self.tables.prepare_map(mem, pieces()).map_err(map_error)?;
        if let Err(e) = self.mappings.add(m) {
            tables.release(mem);
            return Err(e);
        }
        let mapped = self
            .tables
            .map_prepared(mem, tables, pieces(), attrs(m.perms));
        mem.sync();
        mapped.map_err(map_error)
    }

    /// zx_vmar_unmap: INVALID_ARGS, OUT_OF_RANGE past the space, NOT_FOUND
    /// when nothing is mapped in the range, NO_MEMORY. The monitor's frame
    /// stays.
    pub fn unmap<M: TableMemory + Tlb>(&mut self, mem: &mut M, ipa: u64, size: u64) -> ZxResult {
        let end = page_range(ipa, size)?;
        if end > self.size {
            return Err(Status::OUT_OF_RANGE);
        }
        if !self.mappings.overlaps(ipa, end) {
            return Err(Status::NOT_FOUND);
        }
        self.tables.split_edges(mem, ipa, size).map_err(map_error)?;
        // The record's room for its own split: NO_MEMORY before any change
        // a guest can see (a split block translates as before).
        self.mappings.remove(ipa, size)?;
        let hole = self.fixed.unwrap_or_default();
        for piece in subtract(Range::new(ipa, size), hole).into_iter().flatten() {
            self.tables
                .unmap(mem, piece.base, piece.size)
                .map_err(map_error)?;
        }
        Ok(())
    }

    /// zx_vmar_protect: INVALID_ARGS, NOT_FOUND unless every page of the
    /// range is mapped (the monitor's frame is not), NO_MEMORY.
    pub fn protect<M: TableMemory + Tlb>(
        &mut self,
        mem: &mut M,
        ipa: u64,
        size: u64,
        perms: u32,
    ) -> ZxResult {
        let end = page_range(ipa, size)?;
        if !self.mappings.covers(ipa, end) {
            return Err(Status::NOT_FOUND);
        }
        self.tables.split_edges(mem, ipa, size).map_err(map_error)?;
        self.mappings.protect(ipa, size, perms)?;
        for piece in untrapped(&self.traps, ipa, end) {
            self.tables
                .protect(mem, piece.base, piece.size, attrs(perms))
                .map_err(map_error)?;
        }
        Ok(())
    }

    /// zx_guest_set_trap: `value` on `[addr, addr + size)`, which stage 2
    /// stops translating. INVALID_ARGS, OUT_OF_RANGE past the space,
    /// ALREADY_EXISTS over a trap, NO_MEMORY.
    pub fn set_trap<M: TableMemory + Tlb>(
        &mut self,
        mem: &mut M,
        addr: u64,
        size: u64,
        value: T,
    ) -> ZxResult {
        let end = page_range(addr, size)?;
        if end > self.size {
            return Err(Status::OUT_OF_RANGE);
        }
        if self.traps.overlapping(addr, size) {
            return Err(Status::ALREADY_EXISTS);
        }
        self.tables
            .split_edges(mem, addr, size)
            .map_err(map_error)?;
        self.traps.insert(addr, size, value)?;
        self.tables.unmap(mem, addr, size).map_err(map_error)
    }

    /// What a guest access to `ipa` meets.
    #[inline]
    pub fn lookup(&self, mem: &mut impl TableMemory, ipa: u64) -> Lookup<'_, T> {
        if let Some((_, trap)) = self.traps.find(ipa) {
            return Lookup::Trap(trap);
        }
        if ipa < self.size && self.tables.translate(mem, ipa).is_some() {
            Lookup::Mapped
        } else {
            Lookup::Unmapped
        }
    }

    /// The host's mappings, in address order.
    pub fn mappings(&self) -> impl Iterator<Item = &Mapping> {
        self.mappings.iter()
    }

    /// Frees every table. For the owner's `Drop`, once no CPU runs the
    /// guest and its TLB entries are gone.
    pub fn destroy(&mut self, mem: &mut impl TableMemory) {
        self.tables.destroy(mem);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::pagetable::testing::FakeMemory;
    use alloc::vec::Vec;
    use syscalls::hypervisor::VM_PERM_READ;

    const R: u32 = VM_PERM_READ;
    const RW: u32 = VM_PERM_READ | VM_PERM_WRITE;
    const GICV: u64 = 0x8_0000_1000;
    const GICV_PA: u64 = 0x0804_0000;
    /// Guest RAM: 16 MiB at IPA 0 from PA 0x4400_0000 (2 MiB blocks).
    const RAM_PA: u64 = 0x4400_0000;
    const RAM: u64 = 0x100_0000;

    fn ram(ipa: u64, size: u64, perms: u32) -> Mapping {
        Mapping {
            ipa,
            size,
            pa: RAM_PA + ipa,
            perms,
        }
    }

    /// A space like a fixture's guest: RAM at 0, a trap on its last page,
    /// the GICV frame.
    fn fixture() -> (AddressSpace<u32>, FakeMemory) {
        let mut mem = FakeMemory::new(64);
        let mut space = AddressSpace::new(&mut mem, 36).unwrap();
        space.map_fixed(&mut mem, GICV, GICV_PA, 2 * PAGE).unwrap();
        space
            .map(&mut mem, ram(0, RAM, RW | VM_PERM_EXECUTE))
            .unwrap();
        space.set_trap(&mut mem, RAM - PAGE, PAGE, 1).unwrap();
        (space, mem)
    }

    /// Everything the host and the guest can see of a space: the record,
    /// the traps and what stage 2 translates at each page of interest.
    #[derive(Debug, PartialEq, Eq)]
    struct View {
        mappings: Vec<Mapping>,
        traps: Vec<(u64, u64, u32)>,
        stage2: Vec<Option<(u64, u64)>>,
    }

    /// Pages sampled: every page of RAM and around the GICV frame, and
    /// the last page of the space.
    fn pages() -> impl Iterator<Item = u64> {
        (0..RAM + 2 * PAGE)
            .step_by(PAGE as usize)
            .chain((GICV - 2 * PAGE..GICV + 4 * PAGE).step_by(PAGE as usize))
            .chain([(1 << 36) - PAGE])
    }

    fn view(space: &AddressSpace<u32>, mem: &mut FakeMemory) -> View {
        View {
            mappings: space.mappings().copied().collect(),
            traps: space.traps.iter().map(|(s, l, v)| (s, l, *v)).collect(),
            stage2: pages().map(|va| space.tables.translate(mem, va)).collect(),
        }
    }

    fn translates(space: &AddressSpace<u32>, mem: &mut FakeMemory, ipa: u64) -> Option<u64> {
        space.tables.translate(mem, ipa).map(|(pa, _)| pa)
    }

    /// A call on the fixture that is to fail: what it is, the status it
    /// must give, the call.
    type FailingCall<'a> = (
        &'a str,
        Status,
        &'a dyn Fn(&mut AddressSpace<u32>, &mut FakeMemory) -> ZxResult,
    );

    /// Runs each failing call on a fresh fixture, with `tables` more tables
    /// allowed, and checks its status and that nothing changed.
    fn expect_unchanged(tables: usize, cases: &[FailingCall]) {
        for (what, want, call) in cases {
            let (mut space, mut mem) = fixture();
            mem.limit = mem.tables.len() + tables;
            let before = view(&space, &mut mem);
            assert_eq!(call(&mut space, &mut mem), Err(*want), "{what}");
            assert_eq!(view(&space, &mut mem), before, "{what} changed something");
        }
    }

    #[test]
    fn failed_unmaps_change_nothing() {
        let a = 0x10_0000;
        expect_unchanged(
            64,
            &[
                ("len 1 << 36", Status::OUT_OF_RANGE, &|s, m| {
                    s.unmap(m, a, 1 << 36)
                }),
                ("past the end", Status::OUT_OF_RANGE, &|s, m| {
                    s.unmap(m, (1 << 36) - PAGE, 2 * PAGE)
                }),
                ("misaligned", Status::INVALID_ARGS, &|s, m| {
                    s.unmap(m, a + 0x800, PAGE)
                }),
                ("empty", Status::INVALID_ARGS, &|s, m| s.unmap(m, a, 0)),
                ("wrapping", Status::INVALID_ARGS, &|s, m| {
                    s.unmap(m, a, a.wrapping_neg() + PAGE)
                }),
                ("nothing there", Status::NOT_FOUND, &|s, m| {
                    s.unmap(m, 0x2000_0000, PAGE)
                }),
                ("the GICV frame", Status::NOT_FOUND, &|s, m| {
                    s.unmap(m, GICV, 2 * PAGE)
                }),
                ("above RAM", Status::NOT_FOUND, &|s, m| {
                    s.unmap(m, RAM, 4 * PAGE)
                }),
            ],
        );
        // Splitting the 2 MiB block around one page needs a table.
        expect_unchanged(
            0,
            &[("out of memory", Status::NO_MEMORY, &|s, m| {
                s.unmap(m, a + PAGE, PAGE)
            })],
        );
    }

    #[test]
    fn issue_16_unmap_sequence() {
        let (mut space, mut mem) = fixture();
        let a = 0x10_0000;
        assert_eq!(space.unmap(&mut mem, a, 1 << 36), Err(Status::OUT_OF_RANGE));
        assert_eq!(space.protect(&mut mem, a, PAGE, R), Ok(()));
        assert_eq!(space.unmap(&mut mem, a, PAGE), Ok(()));
        assert_eq!(translates(&space, &mut mem, a), None);
        assert_eq!(
            translates(&space, &mut mem, a + PAGE),
            Some(RAM_PA + a + PAGE)
        );
        assert_eq!(space.unmap(&mut mem, a, PAGE), Err(Status::NOT_FOUND));
        assert_eq!(space.protect(&mut mem, a, PAGE, R), Err(Status::NOT_FOUND));
    }

    #[test]
    fn failed_protects_change_nothing() {
        let a = 0x10_0000;
        expect_unchanged(
            64,
            &[
                ("past the end", Status::NOT_FOUND, &|s, m| {
                    s.protect(m, a, 1 << 36, R)
                }),
                ("beyond RAM", Status::NOT_FOUND, &|s, m| {
                    s.protect(m, RAM - PAGE, 2 * PAGE, R)
                }),
                ("the GICV frame", Status::NOT_FOUND, &|s, m| {
                    s.protect(m, GICV, PAGE, R)
                }),
                ("misaligned", Status::INVALID_ARGS, &|s, m| {
                    s.protect(m, a, 0x800, R)
                }),
                ("wrapping", Status::INVALID_ARGS, &|s, m| {
                    s.protect(m, a, a.wrapping_neg() + PAGE, R)
                }),
            ],
        );
        expect_unchanged(
            0,
            &[("out of memory", Status::NO_MEMORY, &|s, m| {
                s.protect(m, a + PAGE, PAGE, R)
            })],
        );
    }

    #[test]
    fn failed_maps_change_nothing() {
        let far = 0x2000_0000;
        expect_unchanged(
            64,
            &[
                ("over RAM", Status::ALREADY_EXISTS, &|s, m| {
                    s.map(m, ram(RAM - 2 * PAGE, 4 * PAGE, RW))
                }),
                // Issue 16 item 6: the refused map used to take the frame with it.
                ("over GICV and around", Status::ALREADY_EXISTS, &|s, m| {
                    s.map(
                        m,
                        Mapping {
                            ipa: GICV - PAGE,
                            size: 4 * PAGE,
                            pa: RAM_PA,
                            perms: RW,
                        },
                    )
                }),
                ("GICV's second page", Status::ALREADY_EXISTS, &|s, m| {
                    s.map(
                        m,
                        Mapping {
                            ipa: GICV + PAGE,
                            size: PAGE,
                            pa: RAM_PA,
                            perms: RW,
                        },
                    )
                }),
                ("past the end", Status::OUT_OF_RANGE, &|s, m| {
                    s.map(m, ram((1 << 36) - PAGE, 2 * PAGE, RW))
                }),
                ("pa wraps", Status::OUT_OF_RANGE, &|s, m| {
                    s.map(
                        m,
                        Mapping {
                            ipa: far,
                            size: 2 * PAGE,
                            pa: u64::MAX - PAGE + 1,
                            perms: RW,
                        },
                    )
                }),
                ("misaligned", Status::INVALID_ARGS, &|s, m| {
                    s.map(m, ram(far + 0x800, PAGE, RW))
                }),
                ("empty", Status::INVALID_ARGS, &|s, m| {
                    s.map(m, ram(far, 0, RW))
                }),
            ],
        );
        // A page in the fifth GiB needs an L2 and an L3 table; one is there.
        expect_unchanged(
            1,
            &[("out of memory", Status::NO_MEMORY, &|s, m| {
                s.map(m, ram(4 << 30, PAGE, RW))
            })],
        );
    }

    #[test]
    fn failed_set_traps_change_nothing() {
        let a = 0x10_0000;
        expect_unchanged(
            64,
            &[
                ("over the trap", Status::ALREADY_EXISTS, &|s, m| {
                    s.set_trap(m, RAM - 2 * PAGE, 2 * PAGE, 2)
                }),
                ("past the end", Status::OUT_OF_RANGE, &|s, m| {
                    s.set_trap(m, a, 1 << 36, 2)
                }),
                ("misaligned", Status::INVALID_ARGS, &|s, m| {
                    s.set_trap(m, a, 0x800, 2)
                }),
            ],
        );
        expect_unchanged(
            0,
            &[("out of memory", Status::NO_MEMORY, &|s, m| {
                s.set_trap(m, a + PAGE, PAGE, 2)
            })],
        );
    }

    #[test]
    fn the_gicv_frame_stays_through_unmaps_around_it() {
        let (mut space, mut mem) = fixture();
        let (below, above) = (GICV - PAGE, GICV + 2 * PAGE);
        space.map(&mut mem, ram(0x2000_0000, PAGE, RW)).unwrap();
        space
            .map(
                &mut mem,
                Mapping {
                    ipa: below,
                    size: PAGE,
                    pa: RAM_PA,
                    perms: RW,
                },
            )
            .unwrap();
        space
            .map(
                &mut mem,
                Mapping {
                    ipa: above,
                    size: PAGE,
                    pa: RAM_PA,
                    perms: RW,
                },
            )
            .unwrap();
        assert_eq!(space.unmap(&mut mem, below, 4 * PAGE), Ok(()));
        assert_eq!(translates(&space, &mut mem, GICV), Some(GICV_PA));
        assert_eq!(
            translates(&space, &mut mem, GICV + PAGE),
            Some(GICV_PA + PAGE)
        );
        assert_eq!(translates(&space, &mut mem, below), None);
        assert_eq!(translates(&space, &mut mem, above), None);
        assert_eq!(
            space.protect(&mut mem, GICV, PAGE, RW),
            Err(Status::NOT_FOUND)
        );
        assert_eq!(
            space.map_fixed(&mut mem, 0x9_0000_0000, 0, PAGE),
            Err(Status::ALREADY_EXISTS)
        );
        // A trap over the frame is the host's choice: the trap wins.
        space.set_trap(&mut mem, GICV, PAGE, 9).unwrap();
        assert_eq!(space.lookup(&mut mem, GICV), Lookup::Trap(&9));
        assert_eq!(space.lookup(&mut mem, GICV + PAGE), Lookup::Mapped);
    }

    #[test]
    fn traps_stay_unmapped_through_map_and_protect() {
        let (mut space, mut mem) = fixture();
        let far = 0x2000_0000;
        space.set_trap(&mut mem, far + PAGE, PAGE, 2).unwrap();
        space.map(&mut mem, ram(far, 3 * PAGE, RW)).unwrap();
        assert_eq!(space.lookup(&mut mem, far), Lookup::Mapped);
        assert_eq!(space.lookup(&mut mem, far + PAGE), Lookup::Trap(&2));
        assert_eq!(space.lookup(&mut mem, far + 2 * PAGE), Lookup::Mapped);
        assert_eq!(space.protect(&mut mem, far, 3 * PAGE, R), Ok(()));
        assert_eq!(space.lookup(&mut mem, far + PAGE), Lookup::Trap(&2));
        let (_, ro) = space.tables.translate(&mut mem, far + 2 * PAGE).unwrap();
        assert_eq!(ro & (1 << 7), 0, "read-only");
        assert_eq!(space.lookup(&mut mem, far + 3 * PAGE), Lookup::Unmapped);
        assert_eq!(space.lookup(&mut mem, 1 << 36), Lookup::Unmapped);
        assert_eq!(space.lookup(&mut mem, RAM - PAGE), Lookup::Trap(&1));
    }

    #[test]
    fn destroy_frees_every_table() {
        let (mut space, mut mem) = fixture();
        space.unmap(&mut mem, 0x10_1000, PAGE).unwrap();
        space.destroy(&mut mem);
        assert_eq!(mem.live(), 0);
    }
}

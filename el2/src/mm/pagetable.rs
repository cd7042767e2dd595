//! Translation tables with the 4 KiB granule, for the monitor's own EL2
//! stage 1 and for stage 2 (the host's and guests'). Maps ranges with the
//! largest block that alignment allows (1 GiB, 2 MiB, 4 KiB) and refuses to
//! overwrite a live mapping; unmaps and re-protects ranges, splitting blocks
//! that straddle their edges. Table memory comes through [`TableMemory`] and
//! TLB maintenance through [`Tlb`], so the logic runs on the build machine
//! with fake physical addresses and a TLB that records what it is told.
//!
//! Every operation checks before it changes: a map first counts and takes
//! the tables it needs ([`PageTable::prepare_map`]), so when it fails no
//! translation has changed. Trees that CPUs may be using while they change
//! (a guest's stage 2) are changed as the Arm ARM requires: a live block is
//! split break-before-make (invalid entry, invalidation, then the table);
//! every removed or rewritten entry is invalidated and waited for before
//! the call returns; and a table taken out of the tree is freed only after
//! that wait, so no CPU can still be walking it when it is reused.

use core::ops::Range;

/// Entries in one table.
pub const ENTRIES: usize = 512;
/// One translation table: 512 descriptors, 4 KiB.
pub type Table = [u64; ENTRIES];

const VALID: u64 = 1 << 0;
const TABLE_OR_PAGE: u64 = 1 << 1;
const AF: u64 = 1 << 10;
const SH_INNER: u64 = 3 << 8;
const ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;

/// Where tables live: allocation and access by physical address.
pub trait TableMemory {
    /// A zeroed, 4 KiB-aligned table; None when out of memory.
    fn alloc_table(&mut self) -> Option<u64>;
    /// The table at `pa`, which came from [`TableMemory::alloc_table`].
    fn table(&mut self, pa: u64) -> &mut Table;
    /// Takes back a table that is no longer referenced. Memory that is never
    /// returned (boot tables) may ignore this, as the default does.
    fn free_table(&mut self, _pa: u64) {}
}

/// TLB maintenance for a tree that CPUs may be using while it changes.
pub trait Tlb {
    /// Called after the entry translating `va` at `level` (a leaf, or a
    /// table descriptor that walks may have cached) was removed or
    /// rewritten: starts dropping every cached copy of it on every CPU.
    fn invalidate(&mut self, va: u64, level: usize);
    /// Waits until every invalidation started has completed on every CPU,
    /// together with whatever the CPUs cached from the old entries in
    /// combined stage 1 and 2 form, and makes the tree's new entries
    /// visible to every CPU's table walks.
    fn sync(&mut self);
}

/// Which translation regime the descriptors are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Regime {
    /// EL2 stage 1; MAIR_EL2 index 0 = Normal WB, index 1 = Device-nGnRE.
    El2,
    /// Stage 2 of an EL1&0 regime (host or guest).
    Stage2,
}

/// The memory type of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemType {
    Normal,
    Device,
}

/// What a mapping allows: memory type, write and execute permission
/// (reads are always allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attrs {
    pub mem: MemType,
    pub write: bool,
    pub exec: bool,
}

impl Attrs {
    pub const RAM_RW: Attrs = Attrs {
        mem: MemType::Normal,
        write: true,
        exec: false,
    };
    pub const RAM_RWX: Attrs = Attrs {
        mem: MemType::Normal,
        write: true,
        exec: true,
    };
    pub const RAM_RO: Attrs = Attrs {
        mem: MemType::Normal,
        write: false,
        exec: false,
    };
    pub const RAM_RX: Attrs = Attrs {
        mem: MemType::Normal,
        write: false,
        exec: true,
    };
    pub const DEVICE: Attrs = Attrs {
        mem: MemType::Device,
        write: true,
        exec: false,
    };
}

/// Why a table operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// [`TableMemory::alloc_table`] had no table to give.
    OutOfMemory,
    /// An address or size is not a multiple of 4 KiB.
    Misaligned,
    /// The range wraps or leaves the input (or output) address space.
    OutOfRange,
    /// Part of a range to map is mapped already.
    AlreadyMapped,
    /// Part of a range to re-protect has no mapping.
    NotMapped,
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        f.write_str(match self {
            Self::OutOfMemory => "out of memory for translation tables",
            Self::Misaligned => "an address or size is not a multiple of 4 KiB",
            Self::OutOfRange => "a range wraps or leaves the address space",
            Self::AlreadyMapped => "part of the range is mapped already",
            Self::NotMapped => "part of the range is not mapped",
        })
    }
}

/// Bytes one entry maps at `level` (0..=3).
pub const fn level_size(level: usize) -> u64 {
    1 << (12 + 9 * (3 - level))
}

fn index(va: u64, level: usize) -> usize {
    ((va >> (12 + 9 * (3 - level))) & 0x1ff) as usize
}

fn leaf(regime: Regime, attrs: Attrs, level: usize, pa: u64) -> u64 {
    let kind = if level == 3 {
        VALID | TABLE_OR_PAGE
    } else {
        VALID
    };
    let mem = match (regime, attrs.mem) {
        (Regime::El2, MemType::Normal) => SH_INNER,
        (Regime::El2, MemType::Device) => 1 << 2,
        (Regime::Stage2, MemType::Normal) => SH_INNER | 0xf << 2,
        (Regime::Stage2, MemType::Device) => 0x1 << 2,
    };
    let access = match regime {
        // AP[2] = read-only; XN at bit 54.
        Regime::El2 => ((!attrs.write as u64) << 7) | ((!attrs.exec as u64) << 54),
        // S2AP read (bit 6) and write (bit 7); XN[1] at bit 54.
        Regime::Stage2 => (1 << 6) | ((attrs.write as u64) << 7) | ((!attrs.exec as u64) << 54),
    };
    pa | kind | mem | access | AF
}

/// One translation table tree.
#[derive(Debug)]
pub struct PageTable {
    root: u64,
    start_level: usize,
    va_bits: u32,
    regime: Regime,
}

impl PageTable {
    /// An empty tree translating `va_bits` of input address, starting at
    /// `start_level` (the level whose table the root is).
    pub fn new(
        mem: &mut impl TableMemory,
        regime: Regime,
        va_bits: u32,
        start_level: usize,
    ) -> Result<Self, MapError> {
        let root = mem.alloc_table().ok_or(MapError::OutOfMemory)?;
        Ok(Self {
            root,
            start_level,
            va_bits,
            regime,
        })
    }

    /// The physical address of the root table (for TTBR/VTTBR).
    pub fn root(&self) -> u64 {
        self.root
    }

    /// Maps `[va, va + size)` to `[pa, pa + size)`; on an error nothing
    /// has changed.
    pub fn map(
        &mut self,
        mem: &mut impl TableMemory,
        va: u64,
        pa: u64,
        size: u64,
        attrs: Attrs,
    ) -> Result<(), MapError> {
        let piece = [Piece { va, pa, size }];
        let tables = self.prepare_map(mem, piece)?;
        self.map_prepared(mem, tables, piece, attrs)
    }

    /// Checks that every piece (in ascending order of `va`) can be mapped:
    /// aligned, inside the address spaces, over nothing mapped; and takes
    /// the tables mapping them needs. Changes nothing; the tables go to
    /// [`PageTable::map_prepared`] (or back with [`Reserved::release`]).
    pub fn prepare_map(
        &self,
        mem: &mut impl TableMemory,
        pieces: impl IntoIterator<Item = Piece>,
    ) -> Result<Reserved, MapError> {
        let mut count = TableCount::default();
        for piece in pieces {
            let end = self.check_range(piece.va, piece.size)?;
            if !piece.pa.is_multiple_of(level_size(3)) {
                return Err(MapError::Misaligned);
            }
            if piece
                .pa
                .checked_add(piece.size)
                .is_none_or(|e| e > ADDR_MASK + 1)
            {
                return Err(MapError::OutOfRange);
            }
            let (mut va, mut pa) = (piece.va, piece.pa);
            while va < end {
                let level = self.block_level(va, pa, end - va);
                self.count_leaf(mem, &mut count, va, level)?;
                va += level_size(level);
                pa += level_size(level);
            }
        }
        Reserved::take(mem, count.tables)
    }

    /// Maps the pieces [`PageTable::prepare_map`] checked, from the tables
    /// it took, and gives back those left over. With the same pieces and
    /// the tree unchanged since, this cannot fail.
    pub fn map_prepared(
        &mut self,
        mem: &mut impl TableMemory,
        mut tables: Reserved,
        pieces: impl IntoIterator<Item = Piece>,
        attrs: Attrs,
    ) -> Result<(), MapError> {
        let mut from = FromReserved {
            mem: &mut *mem,
            tables: &mut tables,
        };
        let mut result = Ok(());
        'pieces: for piece in pieces {
            let end = piece.va + piece.size;
            let (mut va, mut pa) = (piece.va, piece.pa);
            while va < end {
                let level = self.block_level(va, pa, end - va);
                result = self.set_leaf(&mut from, va, pa, level, attrs);
                if result.is_err() {
                    break 'pieces;
                }
                va += level_size(level);
                pa += level_size(level);
            }
        }
        tables.release(mem);
        result
    }

    /// Counts, in `count`, the table a leaf at `va` and `level` would need
    /// at each level above it that has none yet; `AlreadyMapped` when
    /// something is mapped there.
    fn count_leaf(
        &self,
        mem: &mut impl TableMemory,
        count: &mut TableCount,
        va: u64,
        level: usize,
    ) -> Result<(), MapError> {
        let mut table = Some(self.root);
        for l in self.start_level..level {
            let entry = table.map_or(0, |t| mem.table(t)[index(va, l)]);
            table = if entry & VALID == 0 {
                // The next-level table under this entry is to be made, once
                // for the whole region the entry covers.
                if count.counted_until[l] <= va {
                    count.tables += 1;
                    count.counted_until[l] = (va & !(level_size(l) - 1)) + level_size(l);
                }
                None
            } else if entry & TABLE_OR_PAGE != 0 {
                Some(entry & ADDR_MASK)
            } else {
                return Err(MapError::AlreadyMapped);
            };
        }
        match table {
            Some(t) if mem.table(t)[index(va, level)] & VALID != 0 => Err(MapError::AlreadyMapped),
            _ => Ok(()),
        }
    }

    /// The coarsest level at which one entry can map from `va`/`pa` without
    /// exceeding `remaining`. Blocks exist at levels 1 and 2; pages at 3.
    fn block_level(&self, va: u64, pa: u64, remaining: u64) -> usize {
        (self.start_level.max(1)..=3)
            .find(|&l| {
                let s = level_size(l);
                va.is_multiple_of(s) && pa.is_multiple_of(s) && remaining >= s
            })
            .unwrap_or(3)
    }

    fn set_leaf(
        &mut self,
        mem: &mut impl TableMemory,
        va: u64,
        pa: u64,
        level: usize,
        attrs: Attrs,
    ) -> Result<(), MapError> {
        let mut table = self.root;
        for l in self.start_level..level {
            let entry = mem.table(table)[index(va, l)];
            table = if entry & VALID == 0 {
                let next = mem.alloc_table().ok_or(MapError::OutOfMemory)?;
                mem.table(table)[index(va, l)] = next | VALID | TABLE_OR_PAGE;
                next
            } else if entry & TABLE_OR_PAGE != 0 {
                entry & ADDR_MASK
            } else {
                return Err(MapError::AlreadyMapped);
            };
        }
        let slot = &mut mem.table(table)[index(va, level)];
        if *slot & VALID != 0 {
            return Err(MapError::AlreadyMapped);
        }
        *slot = leaf(self.regime, attrs, level, pa);
        Ok(())
    }

    /// Walks the tree to the entry that decides `va`: its level and
    /// descriptor, which is a leaf or invalid.
    fn lookup(&self, mem: &mut impl TableMemory, va: u64) -> (usize, u64) {
        walk(mem, self.root, self.start_level, va)
    }

    /// Walks the tree: the output address and leaf descriptor for `va`.
    pub fn translate(&self, mem: &mut impl TableMemory, va: u64) -> Option<(u64, u64)> {
        let (level, entry) = self.lookup(mem, va);
        if entry & VALID == 0 {
            return None;
        }
        let offset_mask = level_size(level) - 1;
        Some((
            (entry & ADDR_MASK & !offset_mask) + (va & offset_mask),
            entry,
        ))
    }

    /// Checks that `[va, va + size)` is page aligned and inside the input
    /// address space; returns its end.
    fn check_range(&self, va: u64, size: u64) -> Result<u64, MapError> {
        let page = level_size(3);
        if !va.is_multiple_of(page) || !size.is_multiple_of(page) {
            return Err(MapError::Misaligned);
        }
        let end = va.checked_add(size).ok_or(MapError::OutOfRange)?;
        if end > 1u64 << self.va_bits {
            return Err(MapError::OutOfRange);
        }
        Ok(end)
    }

    /// Removes every mapping in `[va, va + size)`; space already unmapped is
    /// skipped. Blocks straddling the edges are first split so their outside
    /// parts stay mapped, and tables left empty are freed once no CPU can
    /// be using them. On an error (out of memory while splitting) no
    /// translation has changed.
    pub fn unmap<M: TableMemory + Tlb>(
        &mut self,
        mem: &mut M,
        va: u64,
        size: u64,
    ) -> Result<(), MapError> {
        self.split_edges(mem, va, size)?;
        if size == 0 {
            return Ok(());
        }
        let end = va + size;
        let mut detached = Detached::default();
        self.unmap_in(
            mem,
            self.root,
            self.start_level,
            0,
            &(va..end),
            &mut detached,
        );
        detached.free_after_sync(mem);
        Ok(())
    }

    /// Gives every mapping in `[va, va + size)` the attributes `attrs`,
    /// splitting blocks that straddle the edges. The whole range must be
    /// mapped, else `NotMapped`; on any error no translation has changed.
    pub fn protect<M: TableMemory + Tlb>(
        &mut self,
        mem: &mut M,
        va: u64,
        size: u64,
        attrs: Attrs,
    ) -> Result<(), MapError> {
        let end = self.check_range(va, size)?;
        if size == 0 {
            return Ok(());
        }
        let mut cursor = va;
        while cursor < end {
            let (level, entry) = self.lookup(mem, cursor);
            if entry & VALID == 0 {
                return Err(MapError::NotMapped);
            }
            cursor = (cursor & !(level_size(level) - 1)) + level_size(level);
        }
        self.split_edges(mem, va, size)?;
        self.protect_in(mem, self.root, self.start_level, 0, &(va..end), attrs);
        mem.sync();
        Ok(())
    }

    /// Splits the blocks that straddle either edge of `[va, va + size)`, so
    /// that an unmap or protect of the range cannot need a table. Changes no
    /// translation, also when it runs out of memory halfway.
    pub fn split_edges<M: TableMemory + Tlb>(
        &mut self,
        mem: &mut M,
        va: u64,
        size: u64,
    ) -> Result<(), MapError> {
        let end = self.check_range(va, size)?;
        if size == 0 {
            return Ok(());
        }
        self.split_at(mem, va)?;
        if end < 1u64 << self.va_bits {
            self.split_at(mem, end)?;
        }
        Ok(())
    }

    /// Frees every table of the tree, the root included. For the owner's
    /// `Drop`: the tree must not be used afterwards.
    pub fn destroy(&mut self, mem: &mut impl TableMemory) {
        free_tree(mem, self.root, self.start_level);
        self.root = 0;
    }

    /// Replaces blocks containing `va` with tables of next-level entries
    /// mapping the same output with the same attributes, down to the level
    /// where `va` is an entry boundary. Break-before-make: the block entry
    /// is made invalid and invalidated everywhere before the table entry
    /// replaces it, so no CPU ever holds both.
    fn split_at<M: TableMemory + Tlb>(&mut self, mem: &mut M, va: u64) -> Result<(), MapError> {
        let mut table = self.root;
        for level in self.start_level..3 {
            let slot = index(va, level);
            let entry = mem.table(table)[slot];
            if entry & VALID == 0 || va.is_multiple_of(level_size(level)) {
                return Ok(());
            }
            if entry & TABLE_OR_PAGE == 0 {
                let child = mem.alloc_table().ok_or(MapError::OutOfMemory)?;
                let kind = if level + 1 == 3 { TABLE_OR_PAGE } else { 0 };
                let attrs = entry & !ADDR_MASK & !TABLE_OR_PAGE;
                let base = entry & ADDR_MASK & !(level_size(level) - 1);
                let step = level_size(level + 1);
                for (i, e) in mem.table(child).iter_mut().enumerate() {
                    *e = attrs | kind | (base + i as u64 * step);
                }
                mem.table(table)[slot] = 0;
                mem.invalidate(va & !(level_size(level) - 1), level);
                mem.sync();
                mem.table(table)[slot] = child | VALID | TABLE_OR_PAGE;
            }
            table = mem.table(table)[slot] & ADDR_MASK;
        }
        Ok(())
    }

    /// Clears the entries of `table` (at `level`, translating from
    /// `table_va`) inside `span`, invalidating each, and hands subtrees
    /// taken out (whole, or left empty) to `detached`. Returns whether
    /// `table` is left empty.
    fn unmap_in<M: TableMemory + Tlb>(
        &self,
        mem: &mut M,
        table: u64,
        level: usize,
        table_va: u64,
        span: &Range<u64>,
        detached: &mut Detached,
    ) -> bool {
        for (i, entry_va) in entries_in(level, table_va, span) {
            let entry = mem.table(table)[i];
            if entry & VALID == 0 {
                continue;
            }
            let is_table = level < 3 && entry & TABLE_OR_PAGE != 0;
            let child = entry & ADDR_MASK;
            // split_edges left only tables straddling an edge of `span`.
            let inside = entry_va >= span.start && entry_va + level_size(level) <= span.end;
            if inside && is_table {
                invalidate_leaves(mem, child, level + 1, entry_va);
            }
            if inside || is_table && self.unmap_in(mem, child, level + 1, entry_va, span, detached)
            {
                mem.table(table)[i] = 0;
                mem.invalidate(entry_va, level);
                if is_table {
                    detached.push(mem, child, level + 1);
                }
            }
        }
        mem.table(table).iter().all(|e| e & VALID == 0)
    }

    /// Rewrites the leaves under `table` (at `level`, translating from
    /// `table_va`) inside `span` with `attrs`, invalidating each.
    fn protect_in<M: TableMemory + Tlb>(
        &self,
        mem: &mut M,
        table: u64,
        level: usize,
        table_va: u64,
        span: &Range<u64>,
        attrs: Attrs,
    ) {
        for (i, entry_va) in entries_in(level, table_va, span) {
            let entry = mem.table(table)[i];
            if entry & VALID == 0 {
                continue;
            }
            if level < 3 && entry & TABLE_OR_PAGE != 0 {
                self.protect_in(mem, entry & ADDR_MASK, level + 1, entry_va, span, attrs);
            } else {
                let pa = entry & ADDR_MASK & !(level_size(level) - 1);
                mem.table(table)[i] = leaf(self.regime, attrs, level, pa);
                mem.invalidate(entry_va, level);
            }
        }
    }
}

/// The indices, and the input addresses they start at, of the entries of a
/// table at `level` translating from `table_va` that intersect `span`.
fn entries_in(
    level: usize,
    table_va: u64,
    span: &Range<u64>,
) -> impl Iterator<Item = (usize, u64)> {
    let size = level_size(level);
    let first = span.start.saturating_sub(table_va) / size;
    let last = (span.end - table_va).div_ceil(size).min(ENTRIES as u64);
    (first..last).map(move |i| (i as usize, table_va + i * size))
}

/// Frees the table at `table` (at `level`) and every table below it.
fn free_tree(mem: &mut impl TableMemory, table: u64, level: usize) {
    if level < 3 {
        for i in 0..ENTRIES {
            let entry = mem.table(table)[i];
            if entry & VALID != 0 && entry & TABLE_OR_PAGE != 0 {
                free_tree(mem, entry & ADDR_MASK, level + 1);
            }
        }
    }
    mem.free_table(table);
}

/// Walks the tree with root `root` (at `start_level`) to the entry that
/// decides `va`: its level and descriptor, which is a leaf or invalid.
fn walk(mem: &mut impl TableMemory, root: u64, start_level: usize, va: u64) -> (usize, u64) {
    let mut table = root;
    for level in start_level..3 {
        let entry = mem.table(table)[index(va, level)];
        if entry & VALID == 0 || entry & TABLE_OR_PAGE == 0 {
            return (level, entry);
        }
        table = entry & ADDR_MASK;
    }
    (3, mem.table(table)[index(va, 3)])
}

/// Invalidates every leaf of the subtree at `table` (at `level`,
/// translating from `table_va`), which has just been taken out of the tree.
fn invalidate_leaves<M: TableMemory + Tlb>(mem: &mut M, table: u64, level: usize, table_va: u64) {
    for i in 0..ENTRIES {
        let entry = mem.table(table)[i];
        let va = table_va + i as u64 * level_size(level);
        if entry & VALID == 0 {
            continue;
        }
        if level < 3 && entry & TABLE_OR_PAGE != 0 {
            invalidate_leaves(mem, entry & ADDR_MASK, level + 1, va);
        }
        mem.invalidate(va, level);
    }
}

/// One stretch to map: `[va, va + size)` to `[pa, pa + size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub va: u64,
    pub pa: u64,
    pub size: u64,
}

/// The tables a map will make, counted before it changes anything.
#[derive(Default)]
struct TableCount {
    tables: usize,
    /// Per level: the end of the last region whose missing next-level table
    /// is counted (pieces are counted in ascending order).
    counted_until: [u64; 4],
}

/// Tables taken for a map before it changes anything, chained through
/// their first entry (no table lives at physical address 0).
#[derive(Debug)]
#[must_use = "tables taken for a map go to map_prepared or back with release"]
pub struct Reserved {
    head: u64,
}

impl Reserved {
    /// Takes `n` tables, or none when there are not that many.
    fn take(mem: &mut impl TableMemory, n: usize) -> Result<Self, MapError> {
        let mut tables = Reserved { head: 0 };
        for _ in 0..n {
            let Some(table) = mem.alloc_table() else {
                tables.release(mem);
                return Err(MapError::OutOfMemory);
            };
            mem.table(table)[0] = tables.head;
            tables.head = table;
        }
        Ok(tables)
    }

    /// One of the tables, zeroed again.
    fn pop(&mut self, mem: &mut impl TableMemory) -> Option<u64> {
        let table = self.head;
        if table == 0 {
            return None;
        }
        self.head = core::mem::take(&mut mem.table(table)[0]);
        Some(table)
    }

    /// Gives back the tables not used.
    pub fn release(mut self, mem: &mut impl TableMemory) {
        while let Some(table) = self.pop(mem) {
            mem.free_table(table);
        }
    }
}

/// Table memory that allocates from a [`Reserved`] set only.
struct FromReserved<'a, M> {
    mem: &'a mut M,
    tables: &'a mut Reserved,
}

impl<M: TableMemory> TableMemory for FromReserved<'_, M> {
    fn alloc_table(&mut self) -> Option<u64> {
        self.tables.pop(self.mem)
    }

    fn table(&mut self, pa: u64) -> &mut Table {
        self.mem.table(pa)
    }

    fn free_table(&mut self, pa: u64) {
        self.mem.free_table(pa);
    }
}

/// Subtrees taken out of a tree by an unmap, to be freed once the TLB
/// invalidations of their entries are complete.
#[derive(Default)]
struct Detached {
    /// Root table and its level.
    subtrees: [(u64, usize); 16],
    len: usize,
}

impl Detached {
    /// Adds a subtree; when the list is full, first waits for the
    /// invalidations so far and frees the subtrees already listed.
    fn push<M: TableMemory + Tlb>(&mut self, mem: &mut M, table: u64, level: usize) {
        if self.len == self.subtrees.len() {
            self.free_after_sync(mem);
        }
        self.subtrees[self.len] = (table, level);
        self.len += 1;
    }

    /// Waits for the invalidations so far, then frees every listed subtree.
    fn free_after_sync<M: TableMemory + Tlb>(&mut self, mem: &mut M) {
        mem.sync();
        for &(table, level) in &self.subtrees[..self.len] {
            free_tree(mem, table, level);
        }
        self.len = 0;
    }
}

/// A fake [`TableMemory`] and [`Tlb`] for the build machine's tests of
/// this module and of the address spaces built on it.
#[cfg(test)]
pub mod testing {
    use super::*;
    use alloc::{boxed::Box, vec::Vec};

    /// Tables in ordinary heap memory, at fake physical addresses. A freed
    /// table is gone: touching or freeing it again panics. Allocations,
    /// frees and TLB maintenance are logged in `events`, each TLB event with
    /// what the tree `watch` names decides for its address at that moment.
    pub struct FakeMemory {
        pub tables: Vec<Option<Box<Table>>>,
        pub limit: usize,
        pub events: Vec<Event>,
        pub watch: Option<Watch>,
    }

    /// An address to look up at each TLB event: root, start level, address.
    #[derive(Clone, Copy)]
    pub struct Watch(pub u64, pub usize, pub u64);

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Event {
        Alloc(u64),
        Free(u64),
        /// Address and level invalidated; the level and descriptor deciding
        /// the watched address then.
        Invalidate(u64, usize, (usize, u64)),
        Sync((usize, u64)),
    }

    impl FakeMemory {
        /// What the watched address resolves to now ((0, 0) unwatched).
        pub fn watched(&mut self) -> (usize, u64) {
            match self.watch {
                Some(Watch(root, start, va)) => walk(self, root, start, va),
                None => (0, 0),
            }
        }
    }

    impl Tlb for FakeMemory {
        fn invalidate(&mut self, va: u64, level: usize) {
            let seen = self.watched();
            self.events.push(Event::Invalidate(va, level, seen));
        }
        fn sync(&mut self) {
            let seen = self.watched();
            self.events.push(Event::Sync(seen));
        }
    }

    const FAKE_BASE: u64 = 0x1_0000_0000;

    impl FakeMemory {
        pub fn new(limit: usize) -> Self {
            Self {
                tables: Vec::new(),
                limit,
                events: Vec::new(),
                watch: None,
            }
        }

        /// Tables allocated and not freed.
        pub fn live(&self) -> usize {
            self.tables.iter().flatten().count()
        }

        fn slot(&mut self, pa: u64) -> &mut Option<Box<Table>> {
            &mut self.tables[((pa - FAKE_BASE) / 4096) as usize]
        }
    }

    impl TableMemory for FakeMemory {
        fn alloc_table(&mut self) -> Option<u64> {
            if self.tables.len() == self.limit {
                return None;
            }
            self.tables.push(Some(Box::new([0; ENTRIES])));
            let pa = FAKE_BASE + (self.tables.len() as u64 - 1) * 4096;
            self.events.push(Event::Alloc(pa));
            Some(pa)
        }
        fn table(&mut self, pa: u64) -> &mut Table {
            self.slot(pa).as_mut().expect("use after free")
        }
        fn free_table(&mut self, pa: u64) {
            assert!(self.slot(pa).take().is_some(), "double free");
            self.events.push(Event::Free(pa));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn uses_the_largest_blocks_alignment_allows() {
        let mut mem = FakeMemory::new(16);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 40, 0).unwrap();
        // 1 GiB + 2 MiB + 4 KiB starting 1 GiB aligned: one L1 block, one L2 block, one page.
        pt.map(
            &mut mem,
            0x4000_0000,
            0x4000_0000,
            (1 << 30) + (2 << 20) + 4096,
            Attrs::RAM_RW,
        )
        .unwrap();
        assert_eq!(mem.tables.len(), 4, "root, L1, L2, L3");
        let (pa, d) = pt.translate(&mut mem, 0x4000_1234).unwrap();
        assert_eq!(pa, 0x4000_1234);
        assert_eq!(d & 3, 1, "a block descriptor");
        let (pa, d) = pt.translate(&mut mem, 0x8020_0010).unwrap();
        assert_eq!((pa, d & 3), (0x8020_0010, 3), "a page descriptor");
        assert_eq!(pt.translate(&mut mem, 0x8020_1000), None);
    }

    #[test]
    fn stage2_attributes() {
        let mut mem = FakeMemory::new(8);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 36, 1).unwrap();
        pt.map(&mut mem, 0, 0x8000_0000, 1 << 21, Attrs::RAM_RWX)
            .unwrap();
        pt.map(&mut mem, 0x20_0000, 0x0800_0000, 4096, Attrs::DEVICE)
            .unwrap();
        let (_, ram) = pt.translate(&mut mem, 0).unwrap();
        assert_eq!(ram, 0x8000_0000 | 1 | 0xf << 2 | 3 << 6 | 3 << 8 | 1 << 10);
        let (_, dev) = pt.translate(&mut mem, 0x20_0000).unwrap();
        assert_eq!(dev, 0x0800_0000 | 3 | 1 << 2 | 3 << 6 | 1 << 10 | 1 << 54);
    }

    #[test]
    fn el2_attributes() {
        let mut mem = FakeMemory::new(8);
        let mut pt = PageTable::new(&mut mem, Regime::El2, 48, 0).unwrap();
        pt.map(&mut mem, 0x1000, 0x1000, 4096, Attrs::RAM_RX)
            .unwrap();
        pt.map(&mut mem, 0x2000, 0x2000, 4096, Attrs::RAM_RO)
            .unwrap();
        let (_, rx) = pt.translate(&mut mem, 0x1000).unwrap();
        assert_eq!(rx, 0x1000 | 3 | 1 << 7 | 3 << 8 | 1 << 10);
        let (_, ro) = pt.translate(&mut mem, 0x2000).unwrap();
        assert_eq!(ro, 0x2000 | 3 | 1 << 7 | 3 << 8 | 1 << 10 | 1 << 54);
    }

    #[test]
    fn refuses_overlap_misalignment_and_range() {
        let mut mem = FakeMemory::new(8);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 36, 1).unwrap();
        pt.map(&mut mem, 0, 0, 1 << 21, Attrs::RAM_RW).unwrap();
        assert_eq!(
            pt.map(&mut mem, 0x1000, 0x1000, 4096, Attrs::RAM_RW),
            Err(MapError::AlreadyMapped)
        );
        assert_eq!(
            pt.map(&mut mem, 0, 0, 1 << 21, Attrs::RAM_RW),
            Err(MapError::AlreadyMapped)
        );
        assert_eq!(
            pt.map(&mut mem, 0x10, 0, 4096, Attrs::RAM_RW),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            pt.map(&mut mem, 1 << 36, 0, 4096, Attrs::RAM_RW),
            Err(MapError::OutOfRange)
        );
        assert_eq!(
            pt.map(&mut mem, u64::MAX - 0xfff, 0, 4096, Attrs::RAM_RW),
            Err(MapError::OutOfRange)
        );
    }

    #[test]
    fn reports_out_of_memory() {
        let mut mem = FakeMemory::new(2);
        let mut pt = PageTable::new(&mut mem, Regime::El2, 48, 0).unwrap();
        let e = pt.map(&mut mem, 0x1000, 0x1000, 4096, Attrs::RAM_RW);
        assert_eq!(e, Err(MapError::OutOfMemory));
        assert_eq!(
            e.unwrap_err().to_string(),
            "out of memory for translation tables"
        );
    }

    const GIB: u64 = 1 << 30;
    const MIB2: u64 = 2 << 20;
    const PAGE: u64 = 4096;

    /// Checks that `[va, va + size)` translates to `[pa, pa + size)` with
    /// the descriptor attributes of `attrs`, sampling every page.
    fn assert_mapped(
        pt: &PageTable,
        mem: &mut FakeMemory,
        va: u64,
        pa: u64,
        size: u64,
        attrs: Attrs,
    ) {
        let want = leaf(pt.regime, attrs, 3, 0) & !ADDR_MASK & !TABLE_OR_PAGE;
        for off in (0..size).step_by(PAGE as usize) {
            let (out, d) = pt
                .translate(mem, va + off)
                .unwrap_or_else(|| panic!("{:#x} unmapped", va + off));
            assert_eq!(out, pa + off, "output of {:#x}", va + off);
            assert_eq!(
                d & !ADDR_MASK & !TABLE_OR_PAGE,
                want,
                "attributes of {:#x}",
                va + off
            );
        }
    }

    fn assert_unmapped(pt: &PageTable, mem: &mut FakeMemory, va: u64, size: u64) {
        for off in (0..size).step_by(PAGE as usize) {
            assert_eq!(pt.translate(mem, va + off), None, "{:#x} mapped", va + off);
        }
    }

    #[test]
    fn unmapping_a_page_splits_a_2m_block() {
        let mut mem = FakeMemory::new(8);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 36, 1).unwrap();
        pt.map(&mut mem, 0x4000_0000, 0x8000_0000, MIB2, Attrs::RAM_RWX)
            .unwrap();
        assert_eq!(pt.lookup(&mut mem, 0x4000_0000).0, 2);
        pt.unmap(&mut mem, 0x4008_0000, PAGE).unwrap();
        assert_mapped(
            &pt,
            &mut mem,
            0x4000_0000,
            0x8000_0000,
            0x8_0000,
            Attrs::RAM_RWX,
        );
        assert_unmapped(&pt, &mut mem, 0x4008_0000, PAGE);
        assert_mapped(
            &pt,
            &mut mem,
            0x4008_1000,
            0x8008_1000,
            MIB2 - 0x8_1000,
            Attrs::RAM_RWX,
        );
        let (level, d) = pt.lookup(&mut mem, 0x4000_0000);
        assert_eq!((level, d & 3), (3, 3), "pages after the split");
        assert_eq!(mem.live(), 3, "root, L2, the new L3");
        // Unmapping again is harmless.
        pt.unmap(&mut mem, 0x4008_0000, PAGE).unwrap();
        assert_eq!(mem.live(), 3);
    }

    #[test]
    fn unmapping_a_page_splits_a_1g_block() {
        let mut mem = FakeMemory::new(8);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 40, 0).unwrap();
        pt.map(&mut mem, GIB, 4 * GIB, GIB, Attrs::RAM_RW).unwrap();
        assert_eq!(pt.lookup(&mut mem, GIB).0, 1);
        let hole = GIB + 0x1234_5000;
        pt.unmap(&mut mem, hole, PAGE).unwrap();
        assert_unmapped(&pt, &mut mem, hole, PAGE);
        for va in [GIB, hole - PAGE, hole + PAGE, 2 * GIB - PAGE] {
            assert_mapped(&pt, &mut mem, va, va + 3 * GIB, PAGE, Attrs::RAM_RW);
        }
        assert_eq!(
            pt.lookup(&mut mem, GIB).0,
            2,
            "2 MiB blocks away from the hole"
        );
        assert_eq!(pt.lookup(&mut mem, hole + PAGE).0, 3, "pages next to it");
        assert_eq!(mem.live(), 4, "L0, L1, new L2, new L3");
        assert_mapped(
            &pt,
            &mut mem,
            hole & !(MIB2 - 1),
            (hole & !(MIB2 - 1)) + 3 * GIB,
            hole % MIB2,
            Attrs::RAM_RW,
        );
    }

    #[test]
    fn unmap_across_block_boundaries() {
        let mut mem = FakeMemory::new(16);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 36, 1).unwrap();
        // Pages, a 2 MiB block, a 1 GiB block, a 2 MiB block.
        let base = GIB - MIB2 - 4 * PAGE;
        let size = 4 * PAGE + MIB2 + GIB + MIB2;
        pt.map(&mut mem, base, base, size, Attrs::RAM_RW).unwrap();
        assert_eq!(pt.lookup(&mut mem, GIB).0, 1);
        // From the middle of the pages to the middle of the last block.
        let (start, end) = (base + 2 * PAGE, 2 * GIB + MIB2 / 2);
        pt.unmap(&mut mem, start, end - start).unwrap();
        assert_mapped(&pt, &mut mem, base, base, 2 * PAGE, Attrs::RAM_RW);
        assert_unmapped(&pt, &mut mem, start, 2 * PAGE);
        assert_unmapped(&pt, &mut mem, GIB - MIB2, MIB2);
        for va in [GIB, GIB + 0x1234_5000, 2 * GIB - PAGE, 2 * GIB, end - PAGE] {
            assert_eq!(pt.translate(&mut mem, va), None);
        }
        assert_mapped(&pt, &mut mem, end, end, 2 * GIB + MIB2 - end, Attrs::RAM_RW);
        assert_eq!(pt.translate(&mut mem, 2 * GIB + MIB2), None);
        // Unmapping the rest empties the tree down to the root.
        pt.unmap(&mut mem, 0, 4 * GIB).unwrap();
        assert_eq!(mem.live(), 1, "only the root is left");
        assert_eq!(mem.table(pt.root()).iter().filter(|&&e| e != 0).count(), 0);
        // Unmapping nothing, or nowhere mapped, is fine.
        pt.unmap(&mut mem, 0, 0).unwrap();
        pt.unmap(&mut mem, 8 * GIB, GIB).unwrap();
        pt.map(&mut mem, base, base, size, Attrs::RAM_RW).unwrap();
        assert_mapped(&pt, &mut mem, base, base, 4 * PAGE, Attrs::RAM_RW);
    }

    #[test]
    fn unmap_checks_alignment_and_range() {
        let mut mem = FakeMemory::new(8);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 36, 1).unwrap();
        pt.map(&mut mem, 0, 0, MIB2, Attrs::RAM_RW).unwrap();
        assert_eq!(pt.unmap(&mut mem, 0x10, PAGE), Err(MapError::Misaligned));
        assert_eq!(pt.unmap(&mut mem, 0, 0x10), Err(MapError::Misaligned));
        assert_eq!(pt.unmap(&mut mem, 1 << 36, PAGE), Err(MapError::OutOfRange));
        assert_eq!(
            pt.unmap(&mut mem, u64::MAX - 0xfff, PAGE),
            Err(MapError::OutOfRange)
        );
        // The top of the input address space is a valid end.
        pt.unmap(&mut mem, (1 << 36) - GIB, GIB).unwrap();
        assert_mapped(&pt, &mut mem, 0, 0, MIB2, Attrs::RAM_RW);
    }

    #[test]
    fn unmap_out_of_memory_changes_nothing() {
        let mut mem = FakeMemory::new(2);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 36, 1).unwrap();
        pt.map(&mut mem, 0, 0, 2 * GIB, Attrs::RAM_RW).unwrap();
        // Splitting the 1 GiB block around the hole needs an L2 and an L3
        // table; only the L2 fits.
        assert_eq!(
            pt.unmap(&mut mem, 0x10_1000, PAGE),
            Err(MapError::OutOfMemory)
        );
        assert_mapped(&pt, &mut mem, 0, 0, MIB2, Attrs::RAM_RW);
        assert_mapped(&pt, &mut mem, GIB, GIB, PAGE, Attrs::RAM_RW);
    }

    #[test]
    fn protect_part_of_a_block() {
        let mut mem = FakeMemory::new(8);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 36, 1).unwrap();
        pt.map(&mut mem, 0x20_0000, 0x8020_0000, MIB2, Attrs::RAM_RW)
            .unwrap();
        pt.protect(&mut mem, 0x20_3000, 2 * PAGE, Attrs::RAM_RO)
            .unwrap();
        assert_mapped(
            &pt,
            &mut mem,
            0x20_0000,
            0x8020_0000,
            3 * PAGE,
            Attrs::RAM_RW,
        );
        assert_mapped(
            &pt,
            &mut mem,
            0x20_3000,
            0x8020_3000,
            2 * PAGE,
            Attrs::RAM_RO,
        );
        assert_mapped(
            &pt,
            &mut mem,
            0x20_5000,
            0x8020_5000,
            MIB2 - 5 * PAGE,
            Attrs::RAM_RW,
        );
        // Exact descriptors on both sides of the lower edge.
        let (_, rw) = pt.translate(&mut mem, 0x20_2000).unwrap();
        assert_eq!(
            rw,
            0x8020_2000 | 3 | 0xf << 2 | 3 << 6 | 3 << 8 | 1 << 10 | 1 << 54
        );
        let (_, ro) = pt.translate(&mut mem, 0x20_3000).unwrap();
        assert_eq!(
            ro,
            0x8020_3000 | 3 | 0xf << 2 | 1 << 6 | 3 << 8 | 1 << 10 | 1 << 54
        );
        // Still live: map refuses to overwrite.
        assert_eq!(
            pt.map(&mut mem, 0x20_3000, 0x20_3000, PAGE, Attrs::RAM_RW),
            Err(MapError::AlreadyMapped)
        );
    }

    #[test]
    fn protect_whole_blocks_keeps_them() {
        let mut mem = FakeMemory::new(8);
        let mut pt = PageTable::new(&mut mem, Regime::El2, 48, 0).unwrap();
        pt.map(&mut mem, GIB, GIB, GIB + MIB2, Attrs::RAM_RW)
            .unwrap();
        let before = mem.live();
        pt.protect(&mut mem, GIB, GIB + MIB2, Attrs::RAM_RX)
            .unwrap();
        assert_eq!(mem.live(), before, "no splits");
        assert_eq!(pt.lookup(&mut mem, GIB).0, 1);
        assert_mapped(&pt, &mut mem, GIB, GIB, PAGE, Attrs::RAM_RX);
        assert_mapped(&pt, &mut mem, 2 * GIB, 2 * GIB, MIB2, Attrs::RAM_RX);
    }

    #[test]
    fn protect_of_a_partly_unmapped_range_changes_nothing() {
        let mut mem = FakeMemory::new(8);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 36, 1).unwrap();
        pt.map(&mut mem, 0, 0, MIB2, Attrs::RAM_RW).unwrap();
        pt.map(&mut mem, MIB2 + PAGE, MIB2 + PAGE, PAGE, Attrs::RAM_RW)
            .unwrap();
        let live = mem.live();
        let snapshot: Vec<Table> = mem.tables.iter().flatten().map(|t| **t).collect();
        // The gap is the first page of the second 2 MiB region.
        assert_eq!(
            pt.protect(&mut mem, MIB2 / 2, MIB2, Attrs::RAM_RO),
            Err(MapError::NotMapped)
        );
        assert_eq!(
            pt.protect(&mut mem, 4 * GIB, PAGE, Attrs::RAM_RO),
            Err(MapError::NotMapped)
        );
        assert_eq!(mem.live(), live);
        let after: Vec<Table> = mem.tables.iter().flatten().map(|t| **t).collect();
        assert!(snapshot == after, "tables changed");
        assert_eq!(
            pt.protect(&mut mem, 0x800, PAGE, Attrs::RAM_RO),
            Err(MapError::Misaligned)
        );
    }

    /// Every table's contents, for comparing before and after.
    fn snapshot(mem: &FakeMemory) -> Vec<Table> {
        mem.tables.iter().flatten().map(|t| **t).collect()
    }

    #[test]
    fn map_needing_more_tables_than_there_are_changes_nothing() {
        // Root, then an L2 and two L3 tables for pages on both sides of a
        // 2 MiB boundary: four tables in all.
        let (va, size) = (MIB2 - 2 * PAGE, 4 * PAGE);
        for limit in 1..4 {
            let mut mem = FakeMemory::new(limit);
            let mut pt = PageTable::new(&mut mem, Regime::Stage2, 36, 1).unwrap();
            let before = snapshot(&mem);
            assert_eq!(
                pt.map(&mut mem, va, va, size, Attrs::RAM_RW),
                Err(MapError::OutOfMemory),
                "with {limit} tables"
            );
            assert_eq!(mem.live(), 1, "reserved tables given back");
            assert!(snapshot(&mem) == before, "tables changed");
        }
        let mut mem = FakeMemory::new(4);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 36, 1).unwrap();
        pt.map(&mut mem, va, va, size, Attrs::RAM_RW).unwrap();
        assert_mapped(&pt, &mut mem, va, va, size, Attrs::RAM_RW);
        assert!(
            !mem.events.iter().any(|e| matches!(e, Event::Free(_))),
            "exactly the tables needed were taken"
        );
    }

    #[test]
    fn map_over_a_live_page_changes_nothing() {
        let mut mem = FakeMemory::new(16);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 36, 1).unwrap();
        pt.map(&mut mem, GIB + 3 * PAGE, 0, PAGE, Attrs::RAM_RW)
            .unwrap();
        let (before, live) = (snapshot(&mem), mem.live());
        mem.events.clear();
        // Free pages first, a new 2 MiB region after: nothing may be mapped.
        assert_eq!(
            pt.map(&mut mem, GIB, 0, 4 * MIB2, Attrs::RAM_RW),
            Err(MapError::AlreadyMapped)
        );
        assert!(snapshot(&mem) == before, "tables changed");
        assert_eq!(mem.live(), live);
        assert!(
            !mem.events.iter().any(|e| matches!(e, Event::Alloc(_))),
            "refused before taking tables"
        );
    }

    #[test]
    fn prepared_pieces_share_the_tables_they_need() {
        let mut mem = FakeMemory::new(3);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 36, 1).unwrap();
        // Two pieces with a hole between, in one new L2 and one new L3.
        let pieces = [
            Piece {
                va: 0x1000,
                pa: 0x8000_1000,
                size: PAGE,
            },
            Piece {
                va: 0x3000,
                pa: 0x8000_3000,
                size: 2 * PAGE,
            },
        ];
        let tables = pt.prepare_map(&mut mem, pieces).unwrap();
        assert_eq!(mem.live(), 3);
        pt.map_prepared(&mut mem, tables, pieces, Attrs::RAM_RW)
            .unwrap();
        assert_mapped(&pt, &mut mem, 0x1000, 0x8000_1000, PAGE, Attrs::RAM_RW);
        assert_unmapped(&pt, &mut mem, 0x2000, PAGE);
        assert_mapped(&pt, &mut mem, 0x3000, 0x8000_3000, 2 * PAGE, Attrs::RAM_RW);
        // A prepared map given up frees what it took.
        let refused = pt.prepare_map(
            &mut mem,
            [Piece {
                va: GIB,
                pa: 0,
                size: PAGE,
            }],
        );
        assert_eq!(refused.unwrap_err(), MapError::OutOfMemory);
        let tables = pt
            .prepare_map(
                &mut mem,
                [Piece {
                    va: 0x5000,
                    pa: 0,
                    size: PAGE,
                }],
            )
            .unwrap();
        tables.release(&mut mem);
        assert_eq!(mem.live(), 3);
    }

    #[test]
    fn splitting_a_live_block_is_break_before_make() {
        let mut mem = FakeMemory::new(8);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 36, 1).unwrap();
        pt.map(&mut mem, GIB, 0x8000_0000, MIB2, Attrs::RAM_RW)
            .unwrap();
        let block = pt.lookup(&mut mem, GIB);
        mem.watch = Some(Watch(pt.root(), 1, GIB));
        mem.events.clear();
        pt.unmap(&mut mem, GIB + 0x8_0000, PAGE).unwrap();
        let child = match mem.events[0] {
            Event::Alloc(child) => child,
            other => panic!("first the table for the split, not {other:?}"),
        };
        // Break: the block is invalid when it is invalidated and when the
        // invalidation is waited for; make: then the table is linked.
        assert_eq!(mem.events[1], Event::Invalidate(GIB, 2, (2, 0)));
        assert_eq!(mem.events[2], Event::Sync((2, 0)));
        let page = (3, (block.1 & !ADDR_MASK) | TABLE_OR_PAGE | 0x8000_0000);
        assert_eq!(
            mem.events[3..],
            [
                Event::Invalidate(GIB + 0x8_0000, 3, page),
                Event::Sync(page),
            ]
        );
        let l2 = mem.table(pt.root())[1] & ADDR_MASK;
        assert_eq!(
            mem.table(l2)[0],
            child | 3,
            "the new table replaced the block"
        );
    }

    #[test]
    fn unmap_frees_tables_only_after_the_invalidations_complete() {
        let mut mem = FakeMemory::new(8);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 36, 1).unwrap();
        pt.map(&mut mem, GIB + 0x1000, 0x8000_0000, PAGE, Attrs::RAM_RW)
            .unwrap();
        let l2 = mem.table(pt.root())[1] & ADDR_MASK;
        let l3 = mem.table(l2)[0] & ADDR_MASK;
        mem.events.clear();
        pt.unmap(&mut mem, GIB, MIB2).unwrap();
        assert_eq!(
            mem.events,
            [
                Event::Invalidate(GIB + 0x1000, 3, (0, 0)),
                Event::Invalidate(GIB, 2, (0, 0)),
                Event::Invalidate(GIB, 1, (0, 0)),
                Event::Sync((0, 0)),
                Event::Free(l3),
                Event::Free(l2),
            ]
        );
        assert_eq!(mem.live(), 1);
    }

    #[test]
    fn unmap_of_a_subtree_invalidates_its_leaves_before_freeing_it() {
        let mut mem = FakeMemory::new(8);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 36, 1).unwrap();
        pt.map(&mut mem, 0, 0x8000_0000, 2 * PAGE, Attrs::RAM_RW)
            .unwrap();
        pt.map(&mut mem, MIB2, 0x8020_0000, MIB2, Attrs::RAM_RW)
            .unwrap();
        let l2 = mem.table(pt.root())[0] & ADDR_MASK;
        let l3 = mem.table(l2)[0] & ADDR_MASK;
        mem.events.clear();
        pt.unmap(&mut mem, 0, GIB).unwrap();
        let invalidated: Vec<(u64, usize)> = mem
            .events
            .iter()
            .filter_map(|e| match *e {
                Event::Invalidate(va, level, _) => Some((va, level)),
                _ => None,
            })
            .collect();
        for leaf in [(0, 3), (PAGE, 3), (0, 2), (MIB2, 2), (0, 1)] {
            assert!(invalidated.contains(&leaf), "{leaf:x?} not invalidated");
        }
        let sync = mem
            .events
            .iter()
            .position(|e| matches!(e, Event::Sync(_)))
            .unwrap();
        let frees: Vec<usize> = (0..mem.events.len())
            .filter(|&i| matches!(mem.events[i], Event::Free(_)))
            .collect();
        assert_eq!(frees.len(), 2, "the L2 and its L3");
        assert!(
            frees.iter().all(|&i| i > sync),
            "freed before the sync: {:?}",
            mem.events
        );
        assert!(mem.events.contains(&Event::Free(l3)) && mem.events.contains(&Event::Free(l2)));
    }

    #[test]
    fn protect_invalidates_every_rewritten_leaf_then_waits() {
        let mut mem = FakeMemory::new(8);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 36, 1).unwrap();
        // A page, then a 2 MiB block.
        pt.map(
            &mut mem,
            MIB2 - PAGE,
            0x7FFF_F000,
            PAGE + MIB2,
            Attrs::RAM_RW,
        )
        .unwrap();
        mem.events.clear();
        pt.protect(&mut mem, MIB2 - PAGE, PAGE + MIB2, Attrs::RAM_RO)
            .unwrap();
        assert_eq!(
            mem.events
                .iter()
                .map(|e| match *e {
                    Event::Invalidate(va, level, _) => Some((va, level)),
                    _ => None,
                })
                .collect::<Vec<_>>(),
            [Some((MIB2 - PAGE, 3)), Some((MIB2, 2)), None]
        );
        assert!(matches!(mem.events.last(), Some(Event::Sync(_))));
    }

    #[test]
    fn destroy_frees_every_table() {
        let mut mem = FakeMemory::new(64);
        let mut pt = PageTable::new(&mut mem, Regime::Stage2, 40, 0).unwrap();
        pt.map(&mut mem, 0, 0, 3 * GIB + MIB2 + 5 * PAGE, Attrs::RAM_RW)
            .unwrap();
        pt.map(&mut mem, 600 * GIB, 0, PAGE, Attrs::DEVICE).unwrap();
        pt.unmap(&mut mem, GIB + 0x3000, PAGE).unwrap();
        pt.protect(&mut mem, 2 * GIB + MIB2 + PAGE, PAGE, Attrs::RAM_RO)
            .unwrap();
        pt.unmap(&mut mem, 600 * GIB, PAGE).unwrap();
        assert!(mem.tables.len() > 6);
        pt.destroy(&mut mem);
        assert_eq!(mem.live(), 0, "every allocated table freed exactly once");
    }
}

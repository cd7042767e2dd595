//! Translation tables with the 4 KiB granule, for the monitor's own EL2
//! stage 1 and for stage 2 (the host's and, later, guests'). Maps ranges with
//! the largest block that alignment allows (1 GiB, 2 MiB, 4 KiB) and refuses
//! to overwrite a live mapping. Table memory comes through [`TableMemory`], so
//! the logic runs on the build machine with fake physical addresses.

/// Entries in one table.
pub const ENTRIES: usize = 512;
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
    fn table(&mut self, pa: u64) -> &mut Table;
}

/// Which translation regime the descriptors are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Regime {
    /// EL2 stage 1; MAIR_EL2 index 0 = Normal WB, index 1 = Device-nGnRE.
    El2,
    /// Stage 2 of an EL1&0 regime (host or guest).
    Stage2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemType {
    Normal,
    Device,
}

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    OutOfMemory,
    Misaligned,
    OutOfRange,
    AlreadyMapped,
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

    pub fn root(&self) -> u64 {
        self.root
    }

    /// Maps `[va, va + size)` to `[pa, pa + size)`.
    pub fn map(
        &mut self,
        mem: &mut impl TableMemory,
        va: u64,
        pa: u64,
        size: u64,
        attrs: Attrs,
    ) -> Result<(), MapError> {
        let page = level_size(3);
        if !va.is_multiple_of(page) || !pa.is_multiple_of(page) || !size.is_multiple_of(page) {
            return Err(MapError::Misaligned);
        }
        let end = va.checked_add(size).ok_or(MapError::OutOfRange)?;
        if end > 1u64 << self.va_bits || pa.checked_add(size).is_none_or(|e| e > ADDR_MASK + 1) {
            return Err(MapError::OutOfRange);
        }
        let (mut va, mut pa) = (va, pa);
        while va < end {
            let level = self.block_level(va, pa, end - va);
            self.set_leaf(mem, va, pa, level, attrs)?;
            va += level_size(level);
            pa += level_size(level);
        }
        Ok(())
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

    /// Walks the tree: the output address and leaf descriptor for `va`.
    pub fn translate(&self, mem: &mut impl TableMemory, va: u64) -> Option<(u64, u64)> {
        let mut table = self.root;
        for level in self.start_level..=3 {
            let entry = mem.table(table)[index(va, level)];
            if entry & VALID == 0 {
                return None;
            }
            if level == 3 || entry & TABLE_OR_PAGE == 0 {
                let offset = va & (level_size(level) - 1);
                return Some((
                    (entry & ADDR_MASK & !(level_size(level) - 1)) + offset,
                    entry,
                ));
            }
            table = entry & ADDR_MASK;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::{boxed::Box, vec::Vec};

    /// Tables in ordinary heap memory, at fake physical addresses.
    struct FakeMemory {
        tables: Vec<Box<Table>>,
        limit: usize,
    }

    const FAKE_BASE: u64 = 0x1_0000_0000;

    impl FakeMemory {
        fn new(limit: usize) -> Self {
            Self {
                tables: Vec::new(),
                limit,
            }
        }
    }

    impl TableMemory for FakeMemory {
        fn alloc_table(&mut self) -> Option<u64> {
            if self.tables.len() == self.limit {
                return None;
            }
            self.tables.push(Box::new([0; ENTRIES]));
            Some(FAKE_BASE + (self.tables.len() as u64 - 1) * 4096)
        }
        fn table(&mut self, pa: u64) -> &mut Table {
            &mut self.tables[((pa - FAKE_BASE) / 4096) as usize]
        }
    }

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
        assert_eq!(
            pt.map(&mut mem, 0x1000, 0x1000, 4096, Attrs::RAM_RW),
            Err(MapError::OutOfMemory)
        );
    }
}

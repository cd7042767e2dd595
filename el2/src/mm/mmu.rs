//! The monitor's own address space (EL2 stage 1, identity-mapped, W^X) and the
//! host's stage 2 (identity map of everything but monitor-owned memory).

use crate::arch::{cache, ImageLayout};
use crate::mm::pagetable::{Attrs, MapError, PageTable, Regime, Table, TableMemory, ENTRIES};
use crate::mm::range::{align_down, align_up, subtract, Range};
use crate::platform::Platform;
use aarch64_cpu::registers::{Readable, ID_AA64MMFR0_EL1};
use arrayvec::ArrayVec;
use core::sync::atomic::{AtomicU64, Ordering};

const PAGE: u64 = 4096;

/// Tables carved from a reserved stretch of monitor memory, usable before
/// the heap exists.
pub struct BootTables {
    next: u64,
    end: u64,
}

impl BootTables {
    pub fn new(area: Range) -> Self {
        Self {
            next: area.base,
            end: area.end(),
        }
    }
}

impl TableMemory for BootTables {
    fn alloc_table(&mut self) -> Option<u64> {
        if self.next + PAGE > self.end {
            return None;
        }
        let pa = self.next;
        self.next += PAGE;
        self.table(pa).fill(0);
        Some(pa)
    }

    fn table(&mut self, pa: u64) -> &mut Table {
        // SAFETY: `pa` lies in the area handed to `new`, which is monitor
        // memory reserved for tables, identity-mapped (or the MMU is off),
        // page aligned, and each page is handed out once.
        unsafe { &mut *(pa as *mut [u64; ENTRIES]) }
    }
}

/// Physical address bits this CPU supports (ID_AA64MMFR0_EL1.PARange), and
/// the field value itself.
pub fn pa_range() -> (u32, u64) {
    let field = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange);
    let bits = match field {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        _ => 48,
    };
    (bits, field.min(5))
}

fn page_round(r: Range) -> Range {
    let base = align_down(r.base, PAGE);
    let end = align_up(r.end(), PAGE).unwrap_or(!(PAGE - 1));
    Range::new(base, end - base)
}

/// Device frames the monitor itself touches.
fn monitor_devices(p: &Platform) -> ArrayVec<Range, 7> {
    let gic = p
        .gic
        .iter()
        .flat_map(|g| [Some(g.distributor), Some(g.cpu), g.hyp, g.vcpu])
        .flatten();
    p.uart
        .into_iter()
        .chain(p.pm)
        .chain(gic)
        .map(page_round)
        .collect()
}

/// Builds the EL2 identity map: host RAM RW, the image RX/RO/RW by section,
/// heap and stacks RW, and the device frames the monitor uses.
pub fn build_el2(
    p: &Platform,
    monitor: Range,
    image: &ImageLayout,
    tables: &mut BootTables,
) -> Result<u64, MapError> {
    let mut pt = PageTable::new(tables, Regime::El2, 48, 0)?;
    for bank in &p.memory {
        for piece in subtract(*bank, monitor).into_iter().flatten() {
            pt.map(tables, piece.base, piece.base, piece.size, Attrs::RAM_RW)?;
        }
    }
    let sections = [
        (image.start, image.text_end, Attrs::RAM_RX),
        (image.text_end, image.rodata_end, Attrs::RAM_RO),
        (image.rodata_end, monitor.end(), Attrs::RAM_RW),
    ];
    for (start, end, attrs) in sections {
        pt.map(tables, start, start, end - start, attrs)?;
    }
    for dev in monitor_devices(p) {
        pt.map(tables, dev.base, dev.base, dev.size, Attrs::DEVICE)?;
    }
    Ok(pt.root())
}

/// MAIR_EL2, TCR_EL2, TTBR0_EL2, SCTLR_EL2 for secondaries (read by
/// boot.S with the MMU off, hence cleaned to the point of coherency).
#[no_mangle]
static EL2_MMU: [AtomicU64; 4] = [
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
];

const MAIR_EL2: u64 = 0x04ff; // index 0 Normal WB RA/WA, index 1 Device-nGnRE
const SCTLR_EL2_RES1: u64 = 0x30c5_0830;
const SCTLR_M: u64 = 1 << 0;
const SCTLR_C: u64 = 1 << 2;
const SCTLR_SA: u64 = 1 << 3;
const SCTLR_I: u64 = 1 << 12;
const SCTLR_WXN: u64 = 1 << 19;

/// Turns the EL2 MMU and caches on with the tables at `root`.
pub fn enable_el2(root: u64) {
    let (_, ps) = pa_range();
    // RES1 bits 31 and 23; PS; 4 KiB granule; inner shareable WB WA walks; 48-bit VA.
    let tcr = (1 << 31) | (1 << 23) | (ps << 16) | (3 << 12) | (1 << 10) | (1 << 8) | 16;
    let sctlr = SCTLR_EL2_RES1 | SCTLR_M | SCTLR_C | SCTLR_SA | SCTLR_I | SCTLR_WXN;
    for (slot, value) in EL2_MMU.iter().zip([MAIR_EL2, tcr, root, sctlr]) {
        slot.store(value, Ordering::Relaxed);
    }
    cache::clean_to_poc(
        EL2_MMU.as_ptr() as u64,
        core::mem::size_of_val(&EL2_MMU) as u64,
    );
    crate::arch::el2config::enable_mmu(MAIR_EL2, tcr, root, sctlr);
}

/// The host's stage 2: its translation root and VTCR_EL2.
#[derive(Clone, Copy, Debug)]
pub struct HostStage2 {
    pub root: u64,
    pub vtcr: u64,
}

/// Identity-maps the whole IPA space for the host (RAM as normal memory,
/// everything else as device memory) except the `holes` (monitor memory and
/// monitor-owned device frames), which stay unmapped so any access faults.
pub fn build_host_stage2(
    p: &Platform,
    holes: &[Range],
    tables: &mut BootTables,
) -> Result<HostStage2, MapError> {
    let (pa_bits, ps) = pa_range();
    // 40 bits from a level-0 root where the CPU has 44 bits of PA or more
    // (Cortex-A72, max); otherwise at most 39 bits from a level-1 root,
    // which every 4 KiB-granule CPU supports (Cortex-A53 has 40-bit PA).
    let (ipa_bits, start_level) = if pa_bits >= 44 {
        (40, 0)
    } else {
        (pa_bits.min(39), 1)
    };
    let mut pt = PageTable::new(tables, Regime::Stage2, ipa_bits, start_level)?;
    let space = 1u64 << ipa_bits;
    let mut cursor = 0;
    for bank in p.memory.iter().filter(|b| b.base < space) {
        let bank = Range::new(bank.base, bank.size.min(space - bank.base));
        map_except(
            &mut pt,
            tables,
            Range::new(cursor, bank.base - cursor),
            holes,
            Attrs::DEVICE,
        )?;
        map_except(&mut pt, tables, bank, holes, Attrs::RAM_RWX)?;
        cursor = bank.end();
    }
    map_except(
        &mut pt,
        tables,
        Range::new(cursor, space - cursor),
        holes,
        Attrs::DEVICE,
    )?;
    let sl0 = if start_level == 0 { 2 } else { 1 };
    let vtcr = (1 << 31)
        | (ps << 16)
        | (3 << 12)
        | (1 << 10)
        | (1 << 8)
        | (sl0 << 6)
        | (64 - ipa_bits as u64);
    Ok(HostStage2 {
        root: pt.root(),
        vtcr,
    })
}

fn map_except(
    pt: &mut PageTable,
    tables: &mut BootTables,
    r: Range,
    holes: &[Range],
    attrs: Attrs,
) -> Result<(), MapError> {
    if r.size == 0 {
        return Ok(());
    }
    match holes.iter().find(|h| h.overlaps(&r)) {
        None => pt.map(tables, r.base, r.base, r.size, attrs),
        Some(hole) => {
            for piece in subtract(r, page_round(*hole)).into_iter().flatten() {
                map_except(pt, tables, piece, holes, attrs)?;
            }
            Ok(())
        }
    }
}

/// VTCR_EL2 for guests: 36-bit IPA (as Zircon), walks starting at level 1,
/// 4 KiB granule, inner shareable write-back table walks.
pub fn guest_vtcr() -> u64 {
    let (_, ps) = pa_range();
    (1 << 31)
        | (ps << 16)
        | (3 << 12)
        | (1 << 10)
        | (1 << 8)
        | (1 << 6)
        | (64 - crate::mm::space::IPA_BITS as u64)
}

//! What the fuzzer believes a guest's address space holds: which pages the
//! VMAR record maps (and to which host page), which are trapped, and by
//! what. The fuzzer's valid VMAR and trap calls stay inside a few zones of
//! guest-physical space, so the model is a page bitmap per zone; from it
//! the fuzzer predicts the exact status of those calls and what a guest
//! finds when it reads a page. A call that changed state although it
//! failed, or did something else than it said, shows up as a later
//! prediction the monitor does not meet.

use arrayvec::ArrayVec;
use syscalls::Status;

pub const PAGE: u64 = 4096;

/// The zones: low memory (the guest's code at 0, its RAM), across the
/// 1 GiB boundary (two level-1 entries), the top of the 64 GiB, and around
/// the GICv2 GICV frame.
pub const ZONES: [(u64, u64); 4] = [
    (0, 16 << 20),
    ((1 << 30) - (2 << 20), 4 << 20),
    ((1 << 36) - (4 << 20), 4 << 20),
    (GICV_IPA - PAGE, 16 * PAGE),
];
/// Where the monitor maps a GICv2 guest's CPU interface (docs/abi.md
/// "The world switch"), 8 KiB; in stage 2, not in the VMAR record.
pub const GICV_IPA: u64 = 0x8_0000_1000;
pub const GICV_SIZE: u64 = 0x2000;

const fn zone_pages(i: usize) -> usize {
    (ZONES[i].1 / PAGE) as usize
}
const PAGES: usize = zone_pages(0) + zone_pages(1) + zone_pages(2) + zone_pages(3);
const WORDS: usize = PAGES.div_ceil(64);
/// Most traps the model keeps per guest.
pub const MAX_TRAPS: usize = 64;

/// The index of the page at `ipa` among all zones' pages, if it is in one.
fn page_index(ipa: u64) -> Option<usize> {
    let mut first = 0;
    for (i, &(base, size)) in ZONES.iter().enumerate() {
        if ipa >= base && ipa - base < size {
            return Some(first + ((ipa - base) / PAGE) as usize);
        }
        first += zone_pages(i);
    }
    None
}

/// The page indices of `[ipa, ipa + len)` that lie in zones (wrapping
/// ranges end at the top of the address space).
fn pages_of(ipa: u64, len: u64) -> impl Iterator<Item = usize> {
    let end = ipa.saturating_add(len);
    let mut first = 0;
    ZONES
        .iter()
        .enumerate()
        .flat_map(move |(i, &(base, size))| {
            let (from, to) = (ipa.max(base), end.min(base + size));
            let start = first;
            first += zone_pages(i);
            if from < to {
                start + ((from - base) / PAGE) as usize..start + (to - base).div_ceil(PAGE) as usize
            } else {
                start..start
            }
        })
}

#[derive(Clone)]
struct Pages([u64; WORDS]);

impl Pages {
    const EMPTY: Pages = Pages([0; WORDS]);

    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, i: usize, on: bool) {
        if on {
            self.0[i / 64] |= 1 << (i % 64);
        } else {
            self.0[i / 64] &= !(1 << (i % 64));
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapKind {
    Bell,
    Mem,
}

#[derive(Clone, Copy, Debug)]
pub struct Trap {
    pub addr: u64,
    pub size: u64,
    pub kind: TrapKind,
    pub key: u64,
    /// BELL: the model's port number.
    pub port: usize,
}

/// What a guest load from a page finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    /// The trap's exit: a MEM packet with its key, or NOT_SUPPORTED (a
    /// load from a BELL trap).
    Trap(TrapKind, u64),
    /// Host memory at this physical address.
    Ram(u64),
    /// Nothing: NOT_FOUND.
    Nothing,
    /// The GICV frame (GICv2): the hardware's registers.
    Device,
}

/// One guest's address space, as the fuzzer believes it is.
#[derive(Clone)]
pub struct Space {
    mapped: Pages,
    trapped: Pages,
    /// Host page frame of each mapped page.
    frame: [u32; PAGES],
    traps: ArrayVec<Trap, MAX_TRAPS>,
    /// GICv2: the GICV frame is in stage 2.
    gicv: bool,
}

impl Space {
    /// Nothing mapped or trapped, and no GICV frame.
    pub const fn empty() -> Self {
        Space {
            mapped: Pages::EMPTY,
            trapped: Pages::EMPTY,
            frame: [0; PAGES],
            traps: ArrayVec::new_const(),
            gicv: false,
        }
    }

    /// A new guest's space: empty, with the GICV frame on GICv2.
    pub fn reset(&mut self, gicv: bool) {
        self.mapped = Pages::EMPTY;
        self.trapped = Pages::EMPTY;
        self.traps.clear();
        self.gicv = gicv;
    }

    fn any_mapped(&self, ipa: u64, len: u64) -> bool {
        pages_of(ipa, len).any(|i| self.mapped.get(i))
    }

    fn overlaps_gicv(&self, ipa: u64, len: u64) -> bool {
        self.gicv && ipa < GICV_IPA + GICV_SIZE && ipa.saturating_add(len) > GICV_IPA
    }

    /// Whether the fuzzer's model covers `[ipa, ipa + len)` (inside one
    /// zone), so it can predict calls on it.
    pub fn covers(ipa: u64, len: u64) -> bool {
        len > 0
            && ZONES.iter().any(|&(base, size)| {
                ipa >= base && ipa.checked_add(len).is_some_and(|end| end <= base + size)
            })
    }

    /// A valid zx_vmar_map of `[ipa, ipa + len)` (within a zone): OK, or
    /// ALREADY_EXISTS over a mapping or the GICV frame.
    pub fn map_status(&self, ipa: u64, len: u64) -> Status {
        if self.any_mapped(ipa, len) || self.overlaps_gicv(ipa, len) {
            Status::ALREADY_EXISTS
        } else {
            Status::OK
        }
    }

    /// Records a map that returned OK: host memory from `pa`.
    pub fn map(&mut self, ipa: u64, len: u64, pa: u64) {
        for (n, i) in pages_of(ipa, len).enumerate() {
            self.mapped.set(i, true);
            self.frame[i] = ((pa / PAGE) + n as u64) as u32;
        }
    }

    /// A valid zx_vmar_unmap: OK when something is mapped there.
    pub fn unmap_status(&self, ipa: u64, len: u64) -> Status {
        if self.any_mapped(ipa, len) {
            Status::OK
        } else {
            Status::NOT_FOUND
        }
    }

    pub fn unmap(&mut self, ipa: u64, len: u64) {
        for i in pages_of(ipa, len) {
            self.mapped.set(i, false);
        }
    }

    /// A valid zx_vmar_protect: every page must be mapped.
    pub fn protect_status(&self, ipa: u64, len: u64) -> Status {
        if Self::covers(ipa, len) && pages_of(ipa, len).all(|i| self.mapped.get(i)) {
            Status::OK
        } else {
            Status::NOT_FOUND
        }
    }

    /// A valid zx_guest_set_trap: ALREADY_EXISTS over another trap.
    pub fn trap_status(&self, addr: u64, size: u64) -> Status {
        let end = addr.saturating_add(size);
        if self
            .traps
            .iter()
            .any(|t| t.addr < end && addr < t.addr + t.size)
        {
            Status::ALREADY_EXISTS
        } else {
            Status::OK
        }
    }

    /// Whether another trap can be recorded.
    pub fn has_room_for_a_trap(&self) -> bool {
        !self.traps.is_full()
    }

    /// Records a trap that was set (OK).
    pub fn add_trap(&mut self, trap: Trap) {
        for i in pages_of(trap.addr, trap.size) {
            self.trapped.set(i, true);
        }
        let _ = self.traps.try_push(trap);
    }

    /// The traps.
    pub fn traps(&self) -> &[Trap] {
        &self.traps
    }

    /// The trap at `ipa`.
    pub fn trap_at(&self, ipa: u64) -> Option<&Trap> {
        self.traps
            .iter()
            .find(|t| ipa >= t.addr && ipa - t.addr < t.size)
    }

    /// What a guest load at `ipa` (in a zone) finds.
    pub fn reads(&self, ipa: u64) -> Reads {
        if let Some(t) = self.trap_at(ipa) {
            return Reads::Trap(t.kind, t.key);
        }
        if self.overlaps_gicv(ipa, 1) {
            return Reads::Device;
        }
        match page_index(ipa) {
            Some(i) if self.mapped.get(i) => {
                Reads::Ram(u64::from(self.frame[i]) * PAGE + ipa % PAGE)
            }
            _ => Reads::Nothing,
        }
    }

    /// Whether the page at `ipa` is in the record.
    pub fn is_mapped(&self, ipa: u64) -> bool {
        page_index(ipa).is_some_and(|i| self.mapped.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: u64 = 0x5000_0000;

    fn new(gicv: bool) -> Space {
        let mut s = Space::empty();
        s.reset(gicv);
        s
    }

    #[test]
    fn map_unmap_protect_predictions() {
        let mut s = new(false);
        assert_eq!(s.map_status(0x10000, 0x4000), Status::OK);
        s.map(0x10000, 0x4000, RAM);
        assert_eq!(s.map_status(0x13000, 0x2000), Status::ALREADY_EXISTS);
        assert_eq!(s.map_status(0x14000, 0x1000), Status::OK);
        assert_eq!(s.protect_status(0x10000, 0x4000), Status::OK);
        assert_eq!(s.protect_status(0x10000, 0x5000), Status::NOT_FOUND);
        assert_eq!(s.unmap_status(0xf000, 0x2000), Status::OK);
        s.unmap(0x11000, 0x1000);
        assert_eq!(s.protect_status(0x10000, 0x4000), Status::NOT_FOUND);
        assert_eq!(s.reads(0x12008), Reads::Ram(RAM + 0x2008));
        assert_eq!(s.reads(0x11000), Reads::Nothing);
        // Unmapping a huge range takes everything in every zone.
        s.map((1 << 36) - PAGE, PAGE, RAM);
        assert_eq!(s.unmap_status(0, u64::MAX), Status::OK);
        s.unmap(0, u64::MAX);
        assert_eq!(s.unmap_status(0, 1 << 36), Status::NOT_FOUND);
    }

    #[test]
    fn the_gicv_frame_refuses_maps_but_is_not_in_the_record() {
        let s = new(true);
        assert_eq!(
            s.map_status(GICV_IPA - PAGE, 4 * PAGE),
            Status::ALREADY_EXISTS
        );
        assert_eq!(s.map_status(GICV_IPA - PAGE, PAGE), Status::OK);
        assert_eq!(s.unmap_status(GICV_IPA, PAGE), Status::NOT_FOUND);
        assert_eq!(s.reads(GICV_IPA + 4), Reads::Device);
        assert_eq!(new(false).map_status(GICV_IPA, PAGE), Status::OK);
    }

    #[test]
    fn traps_overlap_and_win_reads() {
        let mut s = new(false);
        s.map(0x20000, 0x10000, RAM);
        s.add_trap(Trap {
            addr: 0x22000,
            size: 0x2000,
            kind: TrapKind::Mem,
            key: 7,
            port: 0,
        });
        assert_eq!(s.trap_status(0x23000, 0x1000), Status::ALREADY_EXISTS);
        assert_eq!(s.trap_status(0x24000, 0x1000), Status::OK);
        assert_eq!(s.reads(0x23ff8), Reads::Trap(TrapKind::Mem, 7));
        assert_eq!(s.reads(0x24000), Reads::Ram(RAM + 0x4000));
    }

    #[test]
    fn zones_and_covers() {
        assert!(Space::covers(0, 16 << 20));
        assert!(!Space::covers(0, (16 << 20) + PAGE));
        assert!(Space::covers((1 << 36) - PAGE, PAGE));
        assert!(!Space::covers(1 << 36, PAGE));
        assert!(!Space::covers(u64::MAX - PAGE + 1, PAGE));
        assert_eq!(pages_of(0, 2 * PAGE).count(), 2);
        assert_eq!(pages_of(PAGE - 1, 2).count(), 2);
        assert_eq!(pages_of(u64::MAX - 5, 100).count(), 0);
    }
}

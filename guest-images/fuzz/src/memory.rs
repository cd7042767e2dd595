//! Memory the fuzzer hands out: the scratch pages its output buffers lie
//! in (with a canary page on each side), the guest RAM area guests' VMOs
//! come from (with a canary page on each side that no VMO covers), and
//! the pointers a call must refuse.

use core::cell::UnsafeCell;

pub const PAGE: u64 = 4096;
/// Host RAM for guests: 4 slices of 16 MiB, one per guest slot.
pub const GUEST_AREA: u64 = 0x4400_0000;
pub const GUEST_AREA_SIZE: u64 = 64 << 20;
pub const SLICE: u64 = 16 << 20;
/// Pages of scratch between the two canary pages.
const SCRATCH_PAGES: usize = 3;
const CANARY_BYTE: u8 = 0xC5;

#[repr(C, align(4096))]
struct Pages(UnsafeCell<[u8; (SCRATCH_PAGES + 2) * PAGE as usize]>);

// SAFETY: only CPU 0 hands out and checks these pages; the monitor writes
// them behind Rust's back, so every access is volatile through raw
// pointers and no reference to them is ever made.
unsafe impl Sync for Pages {}

static SCRATCH: Pages = Pages(UnsafeCell::new([0; (SCRATCH_PAGES + 2) * PAGE as usize]));

fn base() -> u64 {
    SCRATCH.0.get() as u64
}

/// The scratch pages (after the first canary page).
pub fn scratch() -> (u64, u64) {
    (base() + PAGE, SCRATCH_PAGES as u64 * PAGE)
}

/// Reads a byte of memory the fuzzer owns (scratch, guest RAM, canaries).
pub fn read_u8(addr: u64) -> u8 {
    // SAFETY: callers pass addresses in the scratch pages or the guest
    // area and its canaries: host RAM no Rust object lives in.
    unsafe { core::ptr::read_volatile(addr as *const u8) }
}

pub fn write_u8(addr: u64, v: u8) {
    // SAFETY: as for `read_u8`.
    unsafe { core::ptr::write_volatile(addr as *mut u8, v) }
}

/// Reads an aligned u64 of memory the fuzzer owns.
pub fn read_u64(addr: u64) -> u64 {
    // SAFETY: as for `read_u8`; callers pass 8-byte aligned addresses.
    unsafe { core::ptr::read_volatile(addr as *const u64) }
}

pub fn write_u64(addr: u64, v: u64) {
    // SAFETY: as for `read_u64`.
    unsafe { core::ptr::write_volatile(addr as *mut u64, v) }
}

/// Fills `[addr, addr + len)` with `byte`.
pub fn fill(addr: u64, len: u64, byte: u8) {
    for a in addr..addr + len {
        write_u8(a, byte);
    }
}

/// The first address of `[addr, addr + len)` that does not hold `byte`.
pub fn differs(addr: u64, len: u64, byte: u8) -> Option<u64> {
    (addr..addr + len).find(|&a| read_u8(a) != byte)
}

/// The canary pages: one on each side of the scratch pages and of the
/// guest area.
fn canaries() -> [u64; 4] {
    [
        base(),
        base() + (SCRATCH_PAGES as u64 + 1) * PAGE,
        GUEST_AREA - PAGE,
        GUEST_AREA + GUEST_AREA_SIZE,
    ]
}

pub fn set_canaries() {
    for page in canaries() {
        fill(page, PAGE, CANARY_BYTE);
    }
}

/// The first canary byte that changed.
pub fn canary_changed() -> Option<u64> {
    canaries().into_iter().find_map(|page| {
        (page..page + PAGE)
            .step_by(8)
            .find(|&a| read_u64(a) != u64::from_ne_bytes([CANARY_BYTE; 8]))
    })
}

/// Writes guest code: `words` at host physical `pa`, then makes them
/// visible to the guest's instruction fetches.
pub fn write_code(pa: u64, words: &[u32]) {
    for (i, &w) in words.iter().enumerate() {
        let at = pa + 4 * i as u64;
        // SAFETY: `pa` is in the guest area (a guest's code page), host RAM
        // no Rust object lives in; 4-byte aligned.
        unsafe { core::ptr::write_volatile(at as *mut u32, w) };
    }
    el1rt::cache::clean_invalidate(pa, 4 * words.len() as u64);
    // SAFETY: barriers and an instruction-cache invalidation change no
    // program state.
    unsafe { core::arch::asm!("dsb sy", "ic iallu", "dsb sy", "isb") };
}

/// Pointers a call must refuse (docs/abi.md §2: INVALID_ARGS), given
/// monitor memory and the board's UART, for a buffer of `len` bytes.
pub fn refused_pointers(monitor: (u64, u64), uart: u64, len: u64) -> [u64; 9] {
    let (mbase, msize) = monitor;
    [
        0,
        mbase,
        mbase + msize / 2,
        mbase + msize - 8,
        // Starts in host RAM (the DTB hand-off area), ends in monitor memory.
        mbase - len.max(2) / 2,
        uart,
        1 << 44,
        u64::MAX - len.max(2) / 2,
        0xFFFF_0000_0000_0000,
    ]
}

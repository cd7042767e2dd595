//! Host pointers (ABI.md §2): every buffer a service call reads or writes is
//! translated page by page through the host's stage 1 and stage 2 (AT
//! S12E1R/W), and each page must be host RAM, before the monitor touches
//! any of it. Buffers are at most two pages long (the largest the ABI
//! passes is 264 bytes), so the translation is done once, into pieces.

use crate::arch::{cache, translate};
use crate::system;
use aarch64_cpu::registers::{Readable, SCTLR_EL1};
use arrayvec::ArrayVec;
use syscalls::{Status, ZxResult};

const PAGE: u64 = 4096;
/// Longest buffer a call may pass.
const MAX_LEN: usize = PAGE as usize;

/// A physically contiguous piece of a host buffer.
struct Piece {
    pa: u64,
    offset: usize,
    len: usize,
}

/// Translates `[va, va + len)` for reading (or writing) into pieces that
/// are each host RAM; INVALID_ARGS for anything else.
fn pieces(va: u64, len: usize, write: bool) -> ZxResult<ArrayVec<Piece, 2>> {
    if len > MAX_LEN {
        return Err(Status::INVALID_ARGS);
    }
    va.checked_add(len as u64).ok_or(Status::INVALID_ARGS)?;
    let sys = system::get();
    let mut out = ArrayVec::new();
    let mut offset = 0;
    while offset < len {
        let at = va + offset as u64;
        let chunk = ((PAGE - at % PAGE) as usize).min(len - offset);
        let pa = translate::el1_va_to_pa(at, write).ok_or(Status::INVALID_ARGS)?;
        if !sys.is_host_ram(pa, chunk as u64) {
            return Err(Status::INVALID_ARGS);
        }
        out.push(Piece {
            pa,
            offset,
            len: chunk,
        });
        offset += chunk;
    }
    Ok(out)
}

/// With its data cache off the host reads and writes memory directly, so
/// the monitor's cached view of the buffer must be dropped or written back.
fn host_caches_off() -> bool {
    !SCTLR_EL1.is_set(SCTLR_EL1::C)
}

/// Checks that `[va, va + len)` is host RAM the host may read (or write).
pub fn check(va: u64, len: usize, write: bool) -> ZxResult {
    pieces(va, len, write).map(drop)
}

/// The bytes of host RAM at `pa`.
fn ram(pa: u64, len: usize) -> &'static mut [u8] {
    // SAFETY: callers pass a piece `pieces` checked to be host RAM, which EL2
    // maps read-write; the host is stopped in this service call on this CPU,
    // and no other reference to it is kept past the copy.
    unsafe { core::slice::from_raw_parts_mut(pa as *mut u8, len) }
}

/// The words of host RAM at `pa` (8-byte aligned).
fn ram_words(pa: u64, words: usize) -> &'static mut [u64] {
    // SAFETY: as for `ram`; `pa` is 8-byte aligned (checked by the caller).
    unsafe { core::slice::from_raw_parts_mut(pa as *mut u64, words) }
}

/// Copies `out.len()` bytes from host address `va`.
pub fn read(va: u64, out: &mut [u8]) -> ZxResult {
    let uncached = host_caches_off();
    for p in pieces(va, out.len(), false)? {
        if uncached {
            cache::clean_invalidate_to_poc(p.pa, p.len as u64);
        }
        out[p.offset..p.offset + p.len].copy_from_slice(ram(p.pa, p.len));
    }
    Ok(())
}

/// Copies `data` to host address `va`, which must be writable by the host.
/// Nothing is written unless the whole buffer is valid.
pub fn write(va: u64, data: &[u8]) -> ZxResult {
    let uncached = host_caches_off();
    for p in pieces(va, data.len(), true)? {
        ram(p.pa, p.len).copy_from_slice(&data[p.offset..p.offset + p.len]);
        if uncached {
            cache::clean_invalidate_to_poc(p.pa, p.len as u64);
        }
    }
    Ok(())
}

/// Reads a structure's memory image of little-endian words from `va`,
/// word by word when the host buffer is 8-byte aligned.
pub fn read_words<const W: usize>(va: u64) -> ZxResult<[u64; W]> {
    let mut out = [0u64; W];
    if !va.is_multiple_of(8) {
        let mut bytes = [0u8; MAX_LEN];
        read(va, &mut bytes[..W * 8])?;
        for (w, b) in out.iter_mut().zip(bytes.chunks_exact(8)) {
            *w = u64::from_le_bytes(b.try_into().unwrap_or_default());
        }
        return Ok(out);
    }
    let uncached = host_caches_off();
    for p in pieces(va, W * 8, false)? {
        if uncached {
            cache::clean_invalidate_to_poc(p.pa, p.len as u64);
        }
        out[p.offset / 8..(p.offset + p.len) / 8].copy_from_slice(ram_words(p.pa, p.len / 8));
    }
    Ok(out)
}

/// Writes a structure's memory image of little-endian words to `va`.
pub fn write_words(va: u64, data: &[u64]) -> ZxResult {
    if !va.is_multiple_of(8) {
        let mut bytes = [0u8; MAX_LEN];
        for (b, w) in bytes.chunks_exact_mut(8).zip(data) {
            b.copy_from_slice(&w.to_le_bytes());
        }
        return write(va, &bytes[..data.len() * 8]);
    }
    let uncached = host_caches_off();
    for p in pieces(va, data.len() * 8, true)? {
        ram_words(p.pa, p.len / 8).copy_from_slice(&data[p.offset / 8..(p.offset + p.len) / 8]);
        if uncached {
            cache::clean_invalidate_to_poc(p.pa, p.len as u64);
        }
    }
    Ok(())
}

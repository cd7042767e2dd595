//! Host pointers (ABI.md §2): every buffer a service call reads or writes is
//! translated page by page through the host's stage 1 and stage 2 (AT
//! S12E1R/W), and each page must be host RAM, before the monitor touches it.

use crate::arch::{cache, translate};
use crate::system;
use aarch64_cpu::registers::{Readable, SCTLR_EL1};
use syscalls::{Status, ZxResult};

const PAGE: u64 = 4096;

/// Calls `f(pa, offset, len)` for each page-sized piece of `[va, va + len)`,
/// after checking it translates (for writing, when `write`) to host RAM.
fn for_each_piece(
    va: u64,
    len: usize,
    write: bool,
    mut f: impl FnMut(u64, usize, usize),
) -> ZxResult {
    let len64 = len as u64;
    va.checked_add(len64).ok_or(Status::INVALID_ARGS)?;
    let sys = system::get();
    let mut done = 0;
    while done < len64 {
        let at = va + done;
        let chunk = (PAGE - at % PAGE).min(len64 - done);
        let pa = translate::el1_va_to_pa(at, write).ok_or(Status::INVALID_ARGS)?;
        if !sys.is_host_ram(pa, chunk) {
            return Err(Status::INVALID_ARGS);
        }
        f(pa, done as usize, chunk as usize);
        done += chunk;
    }
    Ok(())
}

/// With its data cache off the host reads and writes memory directly, so
/// the monitor's cached view of the buffer must be dropped or written back.
fn host_caches_off() -> bool {
    !SCTLR_EL1.is_set(SCTLR_EL1::C)
}

/// Checks that `[va, va + len)` is host RAM the host may read (or write).
pub fn check(va: u64, len: usize, write: bool) -> ZxResult {
    for_each_piece(va, len, write, |_, _, _| {})
}

/// Copies `out.len()` bytes from host address `va`.
pub fn read(va: u64, out: &mut [u8]) -> ZxResult {
    check(va, out.len(), false)?;
    let uncached = host_caches_off();
    for_each_piece(va, out.len(), false, |pa, offset, len| {
        if uncached {
            cache::clean_invalidate_to_poc(pa, len as u64);
        }
        // SAFETY: `pa..pa+len` was checked to be host RAM, which EL2 maps
        // read-write; the host is stopped in this service call on this CPU.
        let src = unsafe { core::slice::from_raw_parts(pa as *const u8, len) };
        out[offset..offset + len].copy_from_slice(src);
    })
}

/// Copies `data` to host address `va`, which must be writable by the host.
/// Nothing is written unless the whole buffer is valid.
pub fn write(va: u64, data: &[u8]) -> ZxResult {
    check(va, data.len(), true)?;
    let uncached = host_caches_off();
    for_each_piece(va, data.len(), true, |pa, offset, len| {
        // SAFETY: `pa..pa+len` was checked to be host RAM the host may write,
        // which EL2 maps read-write; the host is stopped in this service call
        // on this CPU.
        let dst = unsafe { core::slice::from_raw_parts_mut(pa as *mut u8, len) };
        dst.copy_from_slice(&data[offset..offset + len]);
        if uncached {
            cache::clean_invalidate_to_poc(pa, len as u64);
        }
    })
}

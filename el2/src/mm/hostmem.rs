//! Host pointers (docs/abi.md §2): every buffer a service call reads or writes is
//! translated page by page through the host's stage 1 and stage 2 (AT
//! S12E1R/W), and each page must be host RAM, before the monitor touches
//! any of it. A call translates its buffer once into a [`HostBuf`] and
//! copies through that. Buffers are at most one page long (the largest the
//! ABI passes is 264 bytes), so a buffer spans at most two pages.

use crate::arch::sysreg::SCTLR_EL1;
use crate::arch::{cache, translate};
use crate::platform::system;
use syscalls::{Status, ZxResult};

const PAGE: u64 = 4096;

/// A checked host buffer: `len` bytes, the first `first` of them at
/// physical `pa[0]`, the rest at `pa[1]`.
pub struct HostBuf {
    pa: [u64; 2],
    first: usize,
    len: usize,
}

impl HostBuf {
    /// Translates `[va, va + len)` for reading (or writing, when `write`);
    /// INVALID_ARGS unless every byte is host RAM the host may access so.
    pub fn new(va: u64, len: usize, write: bool) -> ZxResult<HostBuf> {
        if len as u64 > PAGE || va.checked_add(len as u64).is_none() {
            return Err(Status::INVALID_ARGS);
        }
        let first = ((PAGE - va % PAGE) as usize).min(len);
        let sys = system::get();
        let mut pa = [0; 2];
        for (i, (at, n)) in [(va, first), (va + first as u64, len - first)]
            .into_iter()
            .enumerate()
        {
            if n == 0 {
                continue;
            }
            pa[i] = translate::el1_va_to_pa(at, write).ok_or(Status::INVALID_ARGS)?;
            if !sys.is_host_ram(pa[i], n as u64) {
                return Err(Status::INVALID_ARGS);
            }
        }
        Ok(HostBuf { pa, first, len })
    }

    /// The two physical pieces: (pa, offset in the buffer, length).
    fn pieces(&self) -> [(u64, usize, usize); 2] {
        [
            (self.pa[0], 0, self.first),
            (self.pa[1], self.first, self.len - self.first),
        ]
    }

    /// Whether the buffer can be copied by whole aligned words.
    fn word_aligned(&self) -> bool {
        self.pa[0].is_multiple_of(8) && self.first.is_multiple_of(8) && self.len.is_multiple_of(8)
    }

    /// Copies the buffer into `out` (as long as the buffer).
    pub fn read(&self, out: &mut [u8]) {
        let uncached = host_caches_off();
        for (pa, offset, len) in self.pieces() {
            if uncached && len != 0 {
                cache::clean_invalidate_to_poc(pa, len as u64);
            }
            for (i, byte) in out[offset..offset + len].iter_mut().enumerate() {
                // SAFETY: `pa..pa+len` was checked to be host RAM, which EL2
                // maps read-write; the host is stopped in this call.
                *byte = unsafe { core::ptr::read_volatile((pa + i as u64) as *const u8) };
            }
        }
    }

    /// Copies `data` (as long as the buffer) into the buffer.
    pub fn write(&self, data: &[u8]) {
        let uncached = host_caches_off();
        for (pa, offset, len) in self.pieces() {
            for (i, byte) in data[offset..offset + len].iter().enumerate() {
                // SAFETY: as in `read`, and the buffer was checked writable.
                unsafe { core::ptr::write_volatile((pa + i as u64) as *mut u8, *byte) };
            }
            if uncached && len != 0 {
                cache::clean_invalidate_to_poc(pa, len as u64);
            }
        }
    }

    /// Reads a structure's memory image of little-endian words.
    #[inline(always)]
    pub fn read_words<const W: usize>(&self) -> [u64; W] {
        let mut out = [0u64; W];
        if !self.word_aligned() {
            let mut bytes = [0u8; PAGE as usize];
            self.read(&mut bytes[..W * 8]);
            for (w, b) in out.iter_mut().zip(bytes.chunks_exact(8)) {
                *w = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            }
            return out;
        }
        let uncached = host_caches_off();
        for (pa, offset, len) in self.pieces() {
            if uncached && len != 0 {
                cache::clean_invalidate_to_poc(pa, len as u64);
            }
            for (i, word) in out[offset / 8..(offset + len) / 8].iter_mut().enumerate() {
                // SAFETY: as in `read`; `pa` is 8-byte aligned.
                *word = unsafe { core::ptr::read_volatile((pa + 8 * i as u64) as *const u64) };
            }
        }
        out
    }

    /// Writes a structure's memory image of little-endian words.
    #[inline(always)]
    pub fn write_words(&self, data: &[u64]) {
        if !self.word_aligned() {
            let mut bytes = [0u8; PAGE as usize];
            for (b, w) in bytes.chunks_exact_mut(8).zip(data) {
                b.copy_from_slice(&w.to_le_bytes());
            }
            return self.write(&bytes[..data.len() * 8]);
        }
        let uncached = host_caches_off();
        for (pa, offset, len) in self.pieces() {
            for (i, word) in data[offset / 8..(offset + len) / 8].iter().enumerate() {
                // SAFETY: as in `write`; `pa` is 8-byte aligned.
                unsafe { core::ptr::write_volatile((pa + 8 * i as u64) as *mut u64, *word) };
            }
            if uncached && len != 0 {
                cache::clean_invalidate_to_poc(pa, len as u64);
            }
        }
    }
}

/// With its data cache off the host reads and writes memory directly, so
/// the monitor's cached view of the buffer must be dropped or written back.
fn host_caches_off() -> bool {
    SCTLR_EL1.get() & aarch64_cpu::registers::SCTLR_EL1::C::SET.value == 0
}

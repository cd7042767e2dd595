//! Host pointers (docs/abi.md §2): every buffer a service call reads or writes is
//! translated page by page through the host's stage 1 and stage 2 (AT
//! S12E1R/W), and each page must be host RAM, before the monitor touches
//! any of it. A call translates its buffer once into a [`HostBuf`] and
//! copies through that. Buffers are at most one page long (the largest the
//! ABI passes is 264 bytes), so a buffer spans at most two pages.

use crate::arch::sysreg::SCTLR_EL1;
use crate::arch::{cache, copy, translate};
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

    /// Copies `data` (as long as the buffer) into the buffer.
    pub fn write(&self, data: &[u8]) {
        let uncached = host_caches_off();
        for (pa, offset, len) in self.pieces() {
            for (i, byte) in data[offset..offset + len].iter().enumerate() {
                // SAFETY: `pa..pa+len` was checked to be host RAM the host
                // may write, which EL2 maps read-write; the host is stopped
                // in this call.
                unsafe { core::ptr::write_volatile((pa + i as u64) as *mut u8, *byte) };
            }
            if uncached && len != 0 {
                cache::clean_invalidate_to_poc(pa, len as u64);
            }
        }
    }

    /// The parts of the buffer's bytes `[start, start + len)` on each of
    /// its two pages: (pa, offset from `start`, length); a length may be 0.
    #[inline(always)]
    fn span(&self, start: usize, len: usize) -> [(u64, usize, usize); 2] {
        assert!(start + len <= self.len, "outside the host buffer");
        let split = self.first.clamp(start, start + len);
        [
            (self.pa[0] + start as u64, 0, split - start),
            (
                self.pa[1] + split.saturating_sub(self.first) as u64,
                split - start,
                start + len - split,
            ),
        ]
    }

    /// Where the buffer's `n` words from word `at` on are, if they lie on
    /// its first page and can be copied by whole aligned words (the first
    /// page's piece starts 8-byte aligned): one piece, one copy.
    #[inline(always)]
    fn one_piece(&self, at: usize, n: usize) -> Option<u64> {
        (8 * (at + n) <= self.first && self.pa[0].is_multiple_of(8))
            .then(|| self.pa[0] + 8 * at as u64)
    }

    /// With the host's data cache off, the host reads and writes memory
    /// directly: cleans and invalidates the monitor's cached view of the
    /// buffer's bytes `[start, start + len)`, before the monitor reads them
    /// and after it writes them. Nothing with the cache on.
    #[inline(always)]
    fn maintain(&self, start: usize, len: usize) {
        if !host_caches_off() {
            return;
        }
        if start + len <= self.first {
            cache::clean_invalidate_to_poc(self.pa[0] + start as u64, len as u64);
            return;
        }
        for (pa, _, n) in self.span(start, len) {
            if n != 0 {
                cache::clean_invalidate_to_poc(pa, n as u64);
            }
        }
    }

    /// [`maintain`](Self::maintain) for the whole buffer: before
    /// [`copy_in`](Self::copy_in)s, after [`copy_out`](Self::copy_out)s.
    #[inline(always)]
    pub fn maintain_all(&self) {
        self.maintain(0, self.len);
    }

    /// Copies the buffer's little-endian words from word `at` on into
    /// `out`, with the cache maintenance the host needs
    /// ([`maintain`](Self::maintain)).
    #[inline(always)]
    pub fn load_words<const N: usize>(&self, at: usize, out: &mut [u64; N]) {
        if let Some(pa) = self.one_piece(at, N) {
            if host_caches_off() {
                cache::clean_invalidate_to_poc(pa, 8 * N as u64);
            }
            // SAFETY: as in `copy_in`.
            unsafe { copy::words_n::<N>(out.as_mut_ptr(), pa as *const u64) };
            return;
        }
        self.maintain(8 * at, 8 * N);
        self.copy_in(at, out);
    }

    /// Copies `data`, as little-endian words, into the buffer from word
    /// `at` on, with the cache maintenance the host needs.
    #[inline(always)]
    pub fn store_words<const N: usize>(&self, at: usize, data: &[u64; N]) {
        if let Some(pa) = self.one_piece(at, N) {
            // SAFETY: as in `copy_out`.
            unsafe { copy::words_n::<N>(pa as *mut u64, data.as_ptr()) };
            if host_caches_off() {
                cache::clean_invalidate_to_poc(pa, 8 * N as u64);
            }
            return;
        }
        self.copy_out(at, data);
        self.maintain(8 * at, 8 * N);
    }

    /// [`load_words`](Self::load_words) without the cache maintenance, for
    /// a caller that did [`maintain_all`](Self::maintain_all) first: straight
    /// into the caller's memory (one bulk copy per page, unrolled when it is
    /// all on one page; bytes when the buffer is not word-aligned).
    #[inline(always)]
    pub fn copy_in<const N: usize>(&self, at: usize, out: &mut [u64; N]) {
        if let Some(pa) = self.one_piece(at, N) {
            // SAFETY: `pa..pa+8N` was checked to be host RAM, which EL2
            // maps read-write; it is 8-byte aligned and `out` is ours.
            unsafe { copy::words_n::<N>(out.as_mut_ptr(), pa as *const u64) };
            return;
        }
        let aligned = self.word_aligned();
        for (pa, offset, len) in self.span(8 * at, 8 * N) {
            if len == 0 {
                continue;
            }
            if aligned {
                let to = &mut out[offset / 8..(offset + len) / 8];
                // SAFETY: `pa..pa+len` was checked to be host RAM, which EL2
                // maps read-write; `pa` is 8-byte aligned and `to` is ours.
                unsafe { copy::words(to.as_mut_ptr(), pa as *const u64, to.len()) };
                continue;
            }
            for i in 0..len {
                let (word, shift) = ((offset + i) / 8, 8 * ((offset + i) % 8));
                // SAFETY: as above, one byte at a time.
                let byte = unsafe { core::ptr::read_volatile((pa + i as u64) as *const u8) };
                out[word] = out[word] & !(0xff << shift) | u64::from(byte) << shift;
            }
        }
    }

    /// [`store_words`](Self::store_words) without the cache maintenance,
    /// for a caller that does [`maintain_all`](Self::maintain_all) after.
    #[inline(always)]
    pub fn copy_out<const N: usize>(&self, at: usize, data: &[u64; N]) {
        if let Some(pa) = self.one_piece(at, N) {
            // SAFETY: as in `copy_in`, and the buffer was checked writable.
            unsafe { copy::words_n::<N>(pa as *mut u64, data.as_ptr()) };
            return;
        }
        let aligned = self.word_aligned();
        for (pa, offset, len) in self.span(8 * at, 8 * N) {
            if len == 0 {
                continue;
            }
            if aligned {
                let from = &data[offset / 8..(offset + len) / 8];
                // SAFETY: as in `copy_in`, and the buffer was checked
                // writable.
                unsafe { copy::words(pa as *mut u64, from.as_ptr(), from.len()) };
                continue;
            }
            for i in 0..len {
                let byte = (data[(offset + i) / 8] >> (8 * ((offset + i) % 8))) as u8;
                // SAFETY: as above, one byte at a time.
                unsafe { core::ptr::write_volatile((pa + i as u64) as *mut u8, byte) };
            }
        }
    }

    /// Reads a structure's memory image of little-endian words.
    #[inline(always)]
    pub fn read_words<const W: usize>(&self) -> [u64; W] {
        let mut out = [0u64; W];
        self.load_words(0, &mut out);
        out
    }

    /// Writes a structure's memory image of little-endian words.
    #[inline(always)]
    pub fn write_words<const N: usize>(&self, data: &[u64; N]) {
        self.store_words(0, data);
    }
}

/// With its data cache off the host reads and writes memory directly, so
/// the monitor's cached view of the buffer must be dropped or written back.
fn host_caches_off() -> bool {
    SCTLR_EL1.get() & aarch64_cpu::registers::SCTLR_EL1::C::SET.value == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn words_go_in_and_out_as_their_image_across_a_page_at_any_alignment() {
        let words: [u64; 33] = core::array::from_fn(|i| 0x0102_0304_0506_0708 * (i as u64 + 1));
        for first in [264, 8, 16, 12, 3] {
            let ram = testing::host_buffer(3 * PAGE as usize);
            let base = ram.as_ptr() as u64;
            let va = (base + PAGE).next_multiple_of(PAGE) - first;
            let at = (va - base) as usize;
            let buf = HostBuf::new(va, 264, true).unwrap();
            assert_eq!(buf.first, first as usize);
            buf.store_words::<31>(0, words[..31].try_into().unwrap());
            buf.store_words::<2>(31, words[31..].try_into().unwrap());
            for (i, w) in words.iter().enumerate() {
                assert_eq!(ram[at + 8 * i..at + 8 * i + 8], w.to_le_bytes(), "word {i}");
            }
            assert_eq!(ram[at - 1], 0, "before the buffer");
            assert_eq!(ram[at + 264], 0, "after the buffer");
            let mut back = [0u64; 33];
            let (x, tail) = back.split_at_mut(31);
            buf.load_words::<2>(31, tail.try_into().unwrap());
            buf.load_words::<31>(0, x.try_into().unwrap());
            assert_eq!(back, words, "{first} bytes on the first page");
        }
    }
}

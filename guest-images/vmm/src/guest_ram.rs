//! Guest RAM as the virtio devices reach it: guest-physical ranges checked to lie in guest
//! RAM (`RamRange`), then copied to or from the host RAM behind it. The host runs with its
//! MMU off, so its accesses are uncached and must be aligned: copies go by aligned words
//! where they can and by bytes otherwise, and the guest's cache lines over the range are
//! cleaned and invalidated around each copy (the guest runs with its caches on).

use el1rt::cache::clean_invalidate;
use zxv_devices::virtio::{GuestMemory, OutOfRange, RamRange};

#[derive(Clone, Copy)]
pub struct GuestRam {
    pub range: RamRange,
    /// Where guest RAM's first byte lies in host RAM.
    pub host_base: u64,
}

/// Copies `len` bytes from host physical `src` to `dst`, by aligned 8-byte words when both
/// and the length allow it, else by bytes.
///
/// # Safety
///
/// Both ranges are host RAM the caller may read and write (guest RAM, or the caller's
/// own buffers), and they do not overlap.
pub unsafe fn copy_physical(dst: u64, src: u64, len: u64) {
    if (dst | src | len).is_multiple_of(8) {
        for i in (0..len).step_by(8) {
            // SAFETY: aligned words inside the ranges the caller vouches for.
            unsafe {
                core::ptr::write_volatile(
                    (dst + i) as *mut u64,
                    core::ptr::read_volatile((src + i) as *const u64),
                )
            };
        }
    } else {
        for i in 0..len {
            // SAFETY: bytes inside the ranges the caller vouches for.
            unsafe {
                core::ptr::write_volatile(
                    (dst + i) as *mut u8,
                    core::ptr::read_volatile((src + i) as *const u8),
                )
            };
        }
    }
}

impl GuestRam {
    /// The host physical address of guest range `[addr, addr + len)`.
    pub fn host_addr(&self, addr: u64, len: u64) -> Result<u64, OutOfRange> {
        Ok(self.host_base + self.range.offset(addr, len)?)
    }
}

impl GuestMemory for GuestRam {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), OutOfRange> {
        let host = self.host_addr(addr, buf.len() as u64)?;
        clean_invalidate(host, buf.len() as u64);
        // SAFETY: `host` is guest RAM (checked above), which no Rust object lives in; `buf`
        // is borrowed for the call.
        unsafe { copy_physical(buf.as_mut_ptr() as u64, host, buf.len() as u64) };
        Ok(())
    }

    fn write(&self, addr: u64, data: &[u8]) -> Result<(), OutOfRange> {
        let host = self.host_addr(addr, data.len() as u64)?;
        clean_invalidate(host, data.len() as u64);
        // SAFETY: as for `read`.
        unsafe { copy_physical(host, data.as_ptr() as u64, data.len() as u64) };
        clean_invalidate(host, data.len() as u64);
        Ok(())
    }

    fn contains(&self, addr: u64, len: u64) -> bool {
        self.range.offset(addr, len).is_ok()
    }
}

//! Guest RAM as the virtio devices reach it: guest-physical ranges checked to lie in guest
//! RAM (`RamRange`), then copied to or from the host RAM behind it. The host runs with its
//! MMU off, so its accesses are uncached and must be aligned (`phys_copy`), and the guest's
//! cache lines over the range are cleaned and invalidated around each copy (the guest runs
//! with its caches on).

use crate::phys_copy::copy_physical;
use el1rt::cache::clean_invalidate;
use zxv_devices::virtio::{GuestMemory, OutOfRange, RamRange};

#[derive(Clone, Copy)]
pub struct GuestRam {
    pub range: RamRange,
    /// Where guest RAM's first byte lies in host RAM.
    pub host_base: u64,
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

//! Memory-mapped device registers: a [`Frame`] is a range of 32-bit
//! registers, made with an `unsafe` constructor whose caller vouches that
//! the range is device memory mapped for the monitor, then read and written
//! safely at addresses it checks lie inside. On the build machine (not
//! aarch64) frames are a fake: each register is a per-thread cell.

use crate::mm::range::Range;

/// A frame of 32-bit device registers.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    range: Range,
}

impl Frame {
    /// The registers in `range`.
    ///
    /// # Safety
    ///
    /// `range` must be device memory mapped in the EL2 stage 1 (mm::mmu
    /// maps every device frame the monitor uses) for as long as the frame is
    /// used, and 32-bit accesses anywhere in it must touch only the device's
    /// registers, never memory the monitor uses.
    pub const unsafe fn new(range: Range) -> Self {
        Self { range }
    }

    /// Whether the register at `addr` is in this frame.
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.range.base && addr.saturating_add(4) <= self.range.end()
    }

    /// The register at `offset` from the base.
    #[inline]
    pub fn read(&self, offset: u64) -> u32 {
        self.read_at(self.range.base.wrapping_add(offset))
    }

    /// Writes the register at `offset` from the base.
    #[inline]
    pub fn write(&self, offset: u64, value: u32) {
        self.write_at(self.range.base.wrapping_add(offset), value)
    }

    /// The register at physical address `addr`, which must be in the frame.
    #[inline]
    pub fn read_at(&self, addr: u64) -> u32 {
        assert!(self.contains(addr), "{addr:#x} is outside {:?}", self.range);
        #[cfg(target_arch = "aarch64")]
        {
            // SAFETY: `addr` is a register of the frame (checked above),
            // which `new`'s caller vouched is mapped device memory.
            unsafe { core::ptr::read_volatile(addr as *const u32) }
        }
        #[cfg(not(target_arch = "aarch64"))]
        {
            fake::get(addr)
        }
    }

    /// Writes the register at physical address `addr`, which must be in the frame.
    #[inline]
    pub fn write_at(&self, addr: u64, value: u32) {
        assert!(self.contains(addr), "{addr:#x} is outside {:?}", self.range);
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as in `read_at`.
        unsafe {
            core::ptr::write_volatile(addr as *mut u32, value)
        };
        #[cfg(not(target_arch = "aarch64"))]
        fake::set(addr, value);
    }
}

/// The build machine's device registers: one value per address and thread,
/// 0 until written.
#[cfg(not(target_arch = "aarch64"))]
pub mod fake {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    std::thread_local! {
        static REGS: RefCell<BTreeMap<u64, u32>> = const { RefCell::new(BTreeMap::new()) };
    }

    pub fn get(addr: u64) -> u32 {
        REGS.with(|r| r.borrow().get(&addr).copied().unwrap_or(0))
    }

    pub fn set(addr: u64, value: u32) {
        REGS.with(|r| r.borrow_mut().insert(addr, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accesses_stay_inside_the_frame() {
        // SAFETY: on the build machine frames are the fake.
        let frame = unsafe { Frame::new(Range::new(0x1000, 0x100)) };
        frame.write(0xfc, 7);
        assert_eq!(frame.read_at(0x10fc), 7);
        assert!(frame.contains(0x1000) && !frame.contains(0x10fd) && !frame.contains(0xffc));
        assert!(std::panic::catch_unwind(|| frame.read(0x100)).is_err());
        assert!(std::panic::catch_unwind(|| frame.write(u64::MAX - 1, 0)).is_err());
    }
}

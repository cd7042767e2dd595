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
        addr.checked_sub(self.range.base)
            .is_some_and(|offset| self.holds(offset))
    }

    /// Whether the frame has a register at `offset` (all 4 bytes of it).
    #[inline]
    fn holds(&self, offset: u64) -> bool {
        offset < self.range.size && self.range.size - offset >= 4
    }

    /// The register at `offset` from the base, which must be in the frame.
    #[inline]
    pub fn read(&self, offset: u64) -> u32 {
        let addr = self.checked(offset);
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

    /// Writes the register at `offset` from the base, which must be in the frame.
    #[inline]
    pub fn write(&self, offset: u64, value: u32) {
        let addr = self.checked(offset);
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as in `read`.
        unsafe {
            core::ptr::write_volatile(addr as *mut u32, value)
        };
        #[cfg(not(target_arch = "aarch64"))]
        fake::set(addr, value);
    }

    /// The `count` consecutive registers from `offset`, read in order as
    /// the iterator is advanced; one bounds check for them all.
    #[inline]
    pub fn read_run(&self, offset: u64, count: usize) -> impl Iterator<Item = u32> {
        let base = match count {
            0 => 0,
            _ => {
                self.checked(offset + 4 * (count as u64 - 1));
                self.checked(offset)
            }
        };
        (0..count as u64).map(move |i| {
            let addr = base + 4 * i;
            #[cfg(target_arch = "aarch64")]
            {
                // SAFETY: `addr` is between the first and the last register
                // of the run, both checked to be in the frame above.
                unsafe { core::ptr::read_volatile(addr as *const u32) }
            }
            #[cfg(not(target_arch = "aarch64"))]
            {
                fake::get(addr)
            }
        })
    }

    /// Writes consecutive registers from `offset` with `values`; one
    /// bounds check for them all.
    #[inline]
    pub fn write_run(&self, offset: u64, values: impl ExactSizeIterator<Item = u32>) {
        let count = values.len();
        if count == 0 {
            return;
        }
        self.checked(offset + 4 * (count as u64 - 1));
        let base = self.checked(offset);
        for (i, value) in values.take(count).enumerate() {
            let addr = base + 4 * i as u64;
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as in `read_run`.
            unsafe {
                core::ptr::write_volatile(addr as *mut u32, value)
            };
            #[cfg(not(target_arch = "aarch64"))]
            fake::set(addr, value);
        }
    }

    /// The register at physical address `addr`, which must be in the frame.
    #[inline]
    pub fn read_at(&self, addr: u64) -> u32 {
        self.read(addr.wrapping_sub(self.range.base))
    }

    /// Writes the register at physical address `addr`, which must be in the frame.
    #[inline]
    pub fn write_at(&self, addr: u64, value: u32) {
        self.write(addr.wrapping_sub(self.range.base), value)
    }

    /// The address of the register at `offset`; panics if the frame has
    /// none there (out of line, so the accessors stay a compare and a branch).
    #[inline]
    fn checked(&self, offset: u64) -> u64 {
        if !self.holds(offset) {
            outside(offset, self.range);
        }
        self.range.base + offset
    }
}

#[cold]
#[inline(never)]
fn outside(offset: u64, range: Range) -> ! {
    panic!("offset {offset:#x} is outside {range:?}")
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
        assert!(std::panic::catch_unwind(|| frame.read(0xfd)).is_err());
    }

    #[test]
    fn runs_are_checked_once_and_stay_inside() {
        // SAFETY: on the build machine frames are the fake.
        let frame = unsafe { Frame::new(Range::new(0x2000, 0x10)) };
        frame.write_run(0x4, [1, 2, 3].into_iter());
        assert!(frame.read_run(0x4, 3).eq([1, 2, 3]));
        assert_eq!(frame.read(0x0), 0);
        assert_eq!(frame.read_run(0x10, 0).count(), 0);
        assert!(std::panic::catch_unwind(|| frame.read_run(0x8, 3).count()).is_err());
        assert!(std::panic::catch_unwind(|| frame.write_run(0xc, [0, 0].into_iter())).is_err());
    }
}

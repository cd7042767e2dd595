//! Accesses to device space no device claims: they read 0 and writes are
//! dropped, and each page is reported once, the first time it is touched,
//! so a guest probing for hardware leaves a short trail and no flood.

use crate::layout::RAM_BASE;
use core::sync::atomic::{AtomicU64, Ordering};

const PAGE_SHIFT: u32 = 12;
const PAGES: usize = (RAM_BASE >> PAGE_SHIFT) as usize;

/// One bit per page of [0, RAM_BASE): set once the page has been reported.
pub struct PageLog {
    seen: [AtomicU64; PAGES / 64],
}

impl PageLog {
    pub const fn new() -> Self {
        PageLog {
            seen: [const { AtomicU64::new(0) }; PAGES / 64],
        }
    }

    /// True the first time an access to `addr`'s page is noted (from any
    /// CPU: exactly one caller sees true); addresses beyond device space
    /// are never reported.
    pub fn first_touch(&self, addr: u64) -> bool {
        let page = (addr >> PAGE_SHIFT) as usize;
        let Some(word) = self.seen.get(page / 64) else {
            return false;
        };
        let bit = 1u64 << (page % 64);
        word.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }
}

impl Default for PageLog {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_page() {
        let log = PageLog::new();
        assert!(log.first_touch(0x0a00_0000));
        assert!(!log.first_touch(0x0a00_0ff8));
        assert!(log.first_touch(0x0a00_1000));
        assert!(log.first_touch(0));
        assert!(log.first_touch(RAM_BASE - 4));
        assert!(!log.first_touch(RAM_BASE - 8));
        assert!(!log.first_touch(RAM_BASE));
        assert!(!log.first_touch(u64::MAX));
    }
}

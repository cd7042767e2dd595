//! Reports a guest can trigger again and again (an unknown system register,
//! an instruction the guest's CPU lacks), made once per cause: a small
//! lock-free set of what was already reported, keyed by a hash of the cause
//! as it is printed. When the set is full, nothing more is reported.

use core::fmt::{Display, Write};
use core::sync::atomic::{AtomicU64, Ordering};

/// The causes reported so far (0 marks a free slot).
pub struct Seen<const N: usize> {
    keys: [AtomicU64; N],
}

impl<const N: usize> Seen<N> {
    pub const fn new() -> Self {
        Self {
            keys: [const { AtomicU64::new(0) }; N],
        }
    }

    /// Whether `cause` is reported for the first time (and records it).
    pub fn first(&self, cause: &dyn Display) -> bool {
        let key = key_of(cause);
        for slot in &self.keys {
            match slot.compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(k) if k == key => return false,
                Err(_) => {}
            }
        }
        false
    }
}

impl<const N: usize> Default for Seen<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// FNV-1a of the text, never 0.
struct Fnv(u64);

impl Write for Fnv {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        Ok(())
    }
}

fn key_of(cause: &dyn Display) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    let _ = write!(h, "{cause}");
    h.0.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_first_once() {
        let seen: Seen<4> = Seen::new();
        assert!(seen.first(&"S3_0_C15_C0_0"));
        assert!(!seen.first(&"S3_0_C15_C0_0"));
        assert!(seen.first(&"S3_0_C15_C0_1"));
        assert!(!seen.first(&"S3_0_C15_C0_1"));
        assert!(!seen.first(&"S3_0_C15_C0_0"));
    }

    #[test]
    fn a_full_set_reports_nothing_new() {
        let seen: Seen<2> = Seen::new();
        assert!(seen.first(&1));
        assert!(seen.first(&2));
        assert!(!seen.first(&3));
        assert!(!seen.first(&1));
    }
}

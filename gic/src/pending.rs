//! The set of interrupt vectors pending on one vCPU: 256 bits in four atomic words, so
//! `zx_vcpu_interrupt` can mark a vector from any CPU while the vCPU's CPU drains it.

use core::sync::atomic::{AtomicU64, Ordering};

/// The number of interrupt vectors a vCPU accepts (`kNumInterrupts` in Zircon); a larger
/// vector makes `zx_vcpu_interrupt` return `ZX_ERR_OUT_OF_RANGE`.
pub const NUM_VECTORS: u32 = 256;

const WORDS: usize = NUM_VECTORS as usize / 64;

/// A lock-free set of pending interrupt vectors (GIC INTIDs 0..256).
///
/// Setting a vector that is already pending has no further effect: like an edge-triggered
/// interrupt, two injections before the vCPU takes the vector are delivered once.
#[derive(Debug, Default)]
pub struct PendingSet {
    words: [AtomicU64; WORDS],
}

/// The word index and bit mask of `vector`, or `None` if it is out of range.
fn locate(vector: u32) -> Option<(usize, u64)> {
    (vector < NUM_VECTORS).then(|| ((vector / 64) as usize, 1 << (vector % 64)))
}

impl PendingSet {
    /// An empty set; `const` so that it can live in a `static`.
    pub const fn new() -> Self {
        Self {
            words: [const { AtomicU64::new(0) }; WORDS],
        }
    }

    /// Marks `vector` pending. Returns `false`, changing nothing, if `vector >= 256`
    /// (the caller's `ZX_ERR_OUT_OF_RANGE`).
    pub fn set(&self, vector: u32) -> bool {
        match locate(vector) {
            Some((word, bit)) => {
                self.words[word].fetch_or(bit, Ordering::Release);
                true
            }
            None => false,
        }
    }

    /// Removes and returns the vector to inject next: the lowest pending INTID, as Zircon
    /// does on arm64 (SGIs and PPIs, such as the virtual timer, before SPIs).
    ///
    /// Each call that returns a vector cleared that vector's bit itself, so a vector set once
    /// is returned once even with several concurrent callers.
    pub fn take_next(&self) -> Option<u32> {
        for (index, word) in self.words.iter().enumerate() {
            let mut value = word.load(Ordering::Acquire);
            while value != 0 {
                let bit = 1u64 << value.trailing_zeros();
                let before = word.fetch_and(!bit, Ordering::AcqRel);
                if before & bit != 0 {
                    return Some(index as u32 * 64 + bit.trailing_zeros());
                }
                value = before & !bit;
            }
        }
        None
    }

    /// Whether no vector is pending.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| w.load(Ordering::Acquire) == 0)
    }

    /// Whether `vector` is pending (`false` for vectors >= 256).
    pub fn contains(&self, vector: u32) -> bool {
        locate(vector)
            .is_some_and(|(word, bit)| self.words[word].load(Ordering::Acquire) & bit != 0)
    }

    /// Removes `vector` from the set. Returns whether it was pending, i.e. whether this call
    /// took it (`false` for vectors >= 256).
    pub fn clear(&self, vector: u32) -> bool {
        locate(vector).is_some_and(|(word, bit)| {
            self.words[word].fetch_and(!bit, Ordering::AcqRel) & bit != 0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn new_set_is_empty() {
        let set = PendingSet::new();
        assert!(set.is_empty());
        assert_eq!(set.take_next(), None);
        assert!((0..NUM_VECTORS).all(|v| !set.contains(v)));
    }

    #[test]
    fn take_next_returns_lowest_first_across_words() {
        let set = PendingSet::new();
        for v in [200, 3, 64, 63, 255, 0, 128] {
            assert!(set.set(v));
        }
        assert!(!set.is_empty());
        let order: Vec<u32> = core::iter::from_fn(|| set.take_next()).collect();
        assert_eq!(order, [0, 3, 63, 64, 128, 200, 255]);
        assert!(set.is_empty());
    }

    #[test]
    fn vector_256_and_above_are_out_of_range() {
        let set = PendingSet::new();
        assert!(set.set(255));
        assert!(set.contains(255));
        assert!(!set.is_empty());
        for v in [256, 257, 1000, u32::MAX] {
            assert!(!set.set(v), "{v}");
            assert!(!set.contains(v), "{v}");
            assert!(!set.clear(v), "{v}");
        }
        assert_eq!(set.take_next(), Some(255));
        assert_eq!(set.take_next(), None);
    }

    #[test]
    fn setting_a_pending_vector_coalesces() {
        let set = PendingSet::new();
        assert!(set.set(32));
        assert!(set.set(32));
        assert_eq!(set.take_next(), Some(32));
        assert_eq!(set.take_next(), None);
    }

    #[test]
    fn clear_reports_whether_it_took_the_vector() {
        let set = PendingSet::new();
        set.set(27);
        set.set(33);
        assert!(set.contains(27));
        assert!(set.clear(27));
        assert!(!set.contains(27));
        assert!(!set.clear(27));
        assert!(!set.clear(34));
        assert_eq!(set.take_next(), Some(33));
        assert!(set.is_empty());
    }

    /// Four producer threads each set their own quarter of the vectors once while two
    /// consumer threads drain the set: every vector is taken exactly once.
    #[test]
    fn concurrent_setters_and_takers_neither_lose_nor_duplicate() {
        static SET: PendingSet = PendingSet::new();
        static PRODUCING: AtomicBool = AtomicBool::new(true);
        std::thread::scope(|s| {
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        let mut taken = Vec::new();
                        while PRODUCING.load(Ordering::Acquire) {
                            taken.extend(SET.take_next());
                        }
                        taken
                    })
                })
                .collect();
            let producers: Vec<_> = (0..4u32)
                .map(|quarter| {
                    s.spawn(move || {
                        for v in (quarter..NUM_VECTORS).step_by(4) {
                            assert!(SET.set(v));
                        }
                    })
                })
                .collect();
            for producer in producers {
                producer.join().unwrap();
            }
            PRODUCING.store(false, Ordering::Release);
            let mut all: Vec<u32> = consumers
                .into_iter()
                .flat_map(|c| c.join().unwrap())
                .collect();
            // What the consumers had not taken yet when the producers finished.
            all.extend(core::iter::from_fn(|| SET.take_next()));
            all.sort_unstable();
            assert_eq!(all, (0..NUM_VECTORS).collect::<Vec<_>>());
        });
    }
}

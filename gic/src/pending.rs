//! The set of interrupt vectors pending on one vCPU, in atomic words, so `zx_vcpu_interrupt`
//! can mark a vector from any CPU while the vCPU's CPU drains it. Its keys are the INTIDs
//! 0..256, and on GICv2 the SGIs from sending vCPUs 1-7 (an SGI from vCPU 0 is its plain INTID),
//! which are distinct interrupts there: each is acknowledged with its source in GICC_IAR.

use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The number of interrupt vectors a vCPU accepts (`kNumInterrupts` in Zircon); a larger
/// vector makes `zx_vcpu_interrupt` return `ZX_ERR_OUT_OF_RANGE`.
pub const NUM_VECTORS: u32 = 256;

/// Keys 256.. are the GICv2 SGIs with a source: 256 + (source - 1) * 16 + INTID.
const SOURCED_SGIS: u32 = 7 * 16;
const KEYS: u32 = NUM_VECTORS + SOURCED_SGIS;
const WORDS: usize = KEYS.div_ceil(64) as usize;

/// The key of a `zx_vcpu_interrupt` vector (docs/abi.md §2): an INTID below 256, or on
/// GICv2 (`v2`) an SGI INTID with its source vCPU in bits 12:10 (`intid | source << 10`).
/// `None` for anything else (the caller's `ZX_ERR_OUT_OF_RANGE`).
pub fn key_of_vector(vector: u32, v2: bool) -> Option<u32> {
    let (intid, source) = (vector & 0x3ff, vector >> 10);
    match (vector < NUM_VECTORS, v2 && intid < 16 && source < 8) {
        (true, _) => Some(vector),
        (false, true) => Some(NUM_VECTORS + (source - 1) * 16 + intid),
        (false, false) => None,
    }
}

/// The virtual INTID a list register holds for `key`: the key itself, or for a GICv2 SGI
/// with a source the INTID with the source in bits 12:10 (the GICH_LR CPUID field).
pub fn vintid_of_key(key: u32) -> u32 {
    match key.checked_sub(NUM_VECTORS) {
        Some(k) => (k % 16) | (k / 16 + 1) << 10,
        None => key,
    }
}

/// The key of the interrupt a list register holds (the inverse of [`vintid_of_key`]).
pub fn key_of_vintid(vintid: u32) -> u32 {
    match vintid >> 10 {
        0 => vintid,
        source => NUM_VECTORS + (source - 1) * 16 + (vintid & 0xf),
    }
}

/// A lock-free set of pending interrupt keys (GIC INTIDs 0..256, and GICv2 SGIs with a source:
/// [`key_of_vector`]).
///
/// Setting a vector that is already pending has no further effect: like an edge-triggered
/// interrupt, two injections before the vCPU takes the vector are delivered once.
#[derive(Debug, Default)]
pub struct PendingSet {
    words: [AtomicU64; WORDS],
    /// How many keys are set: raised after a key's bit is set, lowered after
    /// it is taken or cleared (each by the one call that changed the bit),
    /// so that [`is_empty`](Self::is_empty) is one load. Between a bit's
    /// change and this count's it is one off, and below zero when a taker
    /// got in between a setter's two steps.
    count: AtomicI64,
}

/// The word index and bit mask of `key`, or `None` if it is out of range.
fn locate(key: u32) -> Option<(usize, u64)> {
    (key < KEYS).then(|| ((key / 64) as usize, 1 << (key % 64)))
}

impl PendingSet {
    /// An empty set; `const` so that it can live in a `static`.
    pub const fn new() -> Self {
        Self {
            words: [const { AtomicU64::new(0) }; WORDS],
            count: AtomicI64::new(0),
        }
    }

    /// Marks `vector` (a key) pending. Returns `false`, changing nothing, for a key out of
    /// range.
    pub fn set(&self, vector: u32) -> bool {
        match locate(vector) {
            Some((word, bit)) => {
                if self.words[word].fetch_or(bit, Ordering::Release) & bit == 0 {
                    self.count.fetch_add(1, Ordering::Release);
                }
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
                    self.count.fetch_sub(1, Ordering::Relaxed);
                    return Some(index as u32 * 64 + bit.trailing_zeros());
                }
                value = before & !bit;
            }
        }
        None
    }

    /// Whether no vector is pending: the run loop's check before every
    /// entry, one load of the count. A key being set by another CPU at that
    /// moment may be missed; its setter then notifies the vCPU's CPU (the
    /// caller's protocol), which looks again.
    pub fn is_empty(&self) -> bool {
        // Acquire: a count raised by a setter comes with its bit.
        self.count.load(Ordering::Acquire) <= 0
    }

    /// Whether `vector` (a key) is pending (`false` for keys out of range).
    pub fn contains(&self, vector: u32) -> bool {
        locate(vector)
            .is_some_and(|(word, bit)| self.words[word].load(Ordering::Acquire) & bit != 0)
    }

    /// Removes `vector` from the set. Returns whether it was pending, i.e. whether this call
    /// took it (`false` for keys out of range).
    pub fn clear(&self, vector: u32) -> bool {
        locate(vector).is_some_and(|(word, bit)| {
            let took = self.words[word].fetch_and(!bit, Ordering::AcqRel) & bit != 0;
            if took {
                self.count.fetch_sub(1, Ordering::Relaxed);
            }
            took
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
    fn keys_past_the_sourced_sgis_are_out_of_range() {
        let set = PendingSet::new();
        assert!(set.set(255));
        assert!(set.contains(255));
        assert!(!set.is_empty());
        for v in [KEYS, KEYS + 1, 1000, u32::MAX] {
            assert!(!set.set(v), "{v}");
            assert!(!set.contains(v), "{v}");
            assert!(!set.clear(v), "{v}");
        }
        assert_eq!(set.take_next(), Some(255));
        assert_eq!(set.take_next(), None);
    }

    #[test]
    fn vectors_map_to_keys_as_the_abi_says() {
        for v in 0..256 {
            assert_eq!(key_of_vector(v, false), Some(v));
            assert_eq!(key_of_vector(v, true), Some(v));
        }
        // GICv2: SGI 5 from vCPU 3; from vCPU 0 it is plain SGI 5.
        assert_eq!(key_of_vector(5 | 3 << 10, true), Some(256 + 2 * 16 + 5));
        assert_eq!(key_of_vector(5 | 7 << 10, true), Some(KEYS - 16 + 5));
        // GICv3, PPIs and SPIs with a source, and bits above 12: out of range.
        assert_eq!(key_of_vector(5 | 3 << 10, false), None);
        assert_eq!(key_of_vector(16 | 1 << 10, true), None);
        assert_eq!(key_of_vector(32 | 1 << 10, true), None);
        assert_eq!(key_of_vector(5 | 1 << 13, true), None);
        assert_eq!(key_of_vector(256, true), None);
    }

    #[test]
    fn sourced_sgi_keys_round_trip_through_list_register_vintids() {
        for source in 1..8 {
            for intid in 0..16 {
                let key = key_of_vector(intid | source << 10, true).unwrap();
                assert_eq!(vintid_of_key(key), intid | source << 10);
                assert_eq!(key_of_vintid(vintid_of_key(key)), key);
            }
        }
        for key in 0..256 {
            assert_eq!(vintid_of_key(key), key);
            assert_eq!(key_of_vintid(key), key);
        }
        let set = PendingSet::new();
        let from_7 = key_of_vector(15 | 7 << 10, true).unwrap();
        assert!(set.set(from_7) && set.set(15));
        assert_eq!(set.take_next(), Some(15));
        assert_eq!(set.take_next(), Some(from_7));
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
    fn the_count_follows_the_bits_through_repeats_and_misses() {
        let set = PendingSet::new();
        assert!(set.set(5) && set.set(5), "a second set of a pending key");
        assert!(!set.is_empty());
        assert!(set.clear(5));
        assert!(set.is_empty(), "one key set twice is one key");
        assert!(!set.clear(5) && set.take_next().is_none());
        assert!(!set.set(KEYS) && set.is_empty(), "a key out of range");
        assert!(set.set(6));
        assert!(!set.is_empty(), "a miss did not take the count below zero");
        assert_eq!(set.take_next(), Some(6));
        assert!(set.is_empty());
    }

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
            assert!(SET.is_empty(), "the count is back at zero");
        });
    }
}

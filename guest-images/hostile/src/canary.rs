//! The VMM's isolation canary (`zxv_vmm::canary`) as the scan looks for it: a 16-byte
//! aligned word holding the magic. The magic itself must never be in this program's memory,
//! which the scan reads as part of its RAM, so it is kept inverted and compared inverted.

/// The magic, inverted.
const MAGIC_INVERTED: u64 = !u64::from_le_bytes(*b"zxvCnry!");
/// Where the canary may start: every 16th byte.
pub const ALIGN: usize = 16;

/// Whether `word` is the magic. The constant goes through `black_box`, so that the compiler
/// cannot fold it into the magic itself.
pub fn is_magic(word: u64) -> bool {
    !word == core::hint::black_box(MAGIC_INVERTED)
}

/// The magic, for the scan's self-test, which plants a canary of its own.
pub fn magic() -> u64 {
    !core::hint::black_box(MAGIC_INVERTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vmms_canary() {
        assert!(is_magic(zxv_vmm::canary::MAGIC));
        assert_eq!(magic(), zxv_vmm::canary::MAGIC);
        assert!(!is_magic(!zxv_vmm::canary::MAGIC) && !is_magic(0));
        assert_eq!(ALIGN as u64, zxv_vmm::canary::ALIGN);
        let c = zxv_vmm::canary::Canary::new(7);
        assert!(is_magic(u64::from_le_bytes(c.0[..8].try_into().unwrap())));
    }
}

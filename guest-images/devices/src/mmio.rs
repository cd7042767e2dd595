//! Guest loads and stores of 1, 2, 4 or 8 bytes, carried out on devices built from 32-bit
//! registers. An access touches the byte lanes of one register (or, 8 bytes wide, two whole
//! registers, low one first). A size other than 1, 2, 4 or 8, or an offset not aligned to the
//! size, reads 0 and writes nothing.

/// The byte mask of an access `size` bytes wide, or `None` for an unsupported size.
fn size_mask(size: u8) -> Option<u64> {
    match size {
        1 => Some(0xFF),
        2 => Some(0xFFFF),
        4 => Some(0xFFFF_FFFF),
        8 => Some(u64::MAX),
        _ => None,
    }
}

/// Whether `offset` and `size` make an access the devices carry out.
fn supported(offset: u64, size: u8) -> bool {
    size_mask(size).is_some() && offset.is_multiple_of(u64::from(size))
}

/// Reads `size` bytes at `offset` through `read_word(word_offset)`, which returns the 32-bit
/// register at a 4-aligned offset.
pub fn read(offset: u64, size: u8, mut read_word: impl FnMut(u64) -> u32) -> u64 {
    if !supported(offset, size) {
        return 0;
    }
    if size == 8 {
        let low = u64::from(read_word(offset));
        return low | u64::from(read_word(offset + 4)) << 32;
    }
    let shift = (offset % 4) * 8;
    let mask = size_mask(size).unwrap_or(0);
    (u64::from(read_word(offset - offset % 4)) >> shift) & mask
}

/// Writes `size` bytes of `value` at `offset` through `write_word(word_offset, value, lanes)`:
/// `lanes` has ones in the bits of the register the access writes, and `value` holds the new
/// bits in those positions (zero elsewhere).
pub fn write(offset: u64, size: u8, value: u64, mut write_word: impl FnMut(u64, u32, u32)) {
    if !supported(offset, size) {
        return;
    }
    if size == 8 {
        write_word(offset, value as u32, u32::MAX);
        write_word(offset + 4, (value >> 32) as u32, u32::MAX);
        return;
    }
    let shift = (offset % 4) * 8;
    let lanes = (size_mask(size).unwrap_or(0) << shift) as u32;
    write_word(
        offset - offset % 4,
        ((value << shift) as u32) & lanes,
        lanes,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(offset: u64) -> u32 {
        0x4433_2211 + offset as u32 * 0x100_0000
    }

    #[test]
    fn a_word_read_returns_the_register() {
        assert_eq!(read(0x10, 4, word), u64::from(word(0x10)));
    }

    #[test]
    fn a_byte_read_returns_its_lane() {
        assert_eq!(read(0x0, 1, word), 0x11);
        assert_eq!(read(0x2, 1, word), 0x33);
        assert_eq!(read(0x3, 1, word), 0x44);
    }

    #[test]
    fn a_halfword_read_returns_its_two_lanes() {
        assert_eq!(read(0x2, 2, word), 0x4433);
    }

    #[test]
    fn a_doubleword_read_joins_two_registers_low_first() {
        let expected = u64::from(word(0x8)) | u64::from(word(0xC)) << 32;
        assert_eq!(read(0x8, 8, word), expected);
    }

    #[test]
    fn misaligned_or_odd_sized_reads_are_zero_and_touch_nothing() {
        let mut touched = false;
        for (offset, size) in [(1, 2), (2, 4), (4, 8), (0, 3), (0, 0), (0, 16)] {
            assert_eq!(
                read(offset, size, |_| {
                    touched = true;
                    1
                }),
                0
            );
        }
        assert!(!touched);
    }

    fn record(offset: u64, size: u8, value: u64) -> Vec<(u64, u32, u32)> {
        let mut seen = Vec::new();
        write(offset, size, value, |o, v, l| seen.push((o, v, l)));
        seen
    }

    #[test]
    fn a_byte_write_names_its_lane() {
        assert_eq!(
            record(0x403, 1, 0x1A0),
            vec![(0x400, 0xA000_0000, 0xFF00_0000)]
        );
    }

    #[test]
    fn a_halfword_write_names_two_lanes() {
        assert_eq!(
            record(0x2, 2, 0xBEEF),
            vec![(0x0, 0xBEEF_0000, 0xFFFF_0000)]
        );
    }

    #[test]
    fn a_doubleword_write_is_two_whole_registers_low_first() {
        assert_eq!(
            record(0x6100, 8, 0x1_0000_0002),
            vec![(0x6100, 2, u32::MAX), (0x6104, 1, u32::MAX)]
        );
    }

    #[test]
    fn misaligned_or_odd_sized_writes_do_nothing() {
        for (offset, size) in [(1, 2), (2, 4), (4, 8), (0, 5), (0, 0)] {
            assert!(record(offset, size, u64::MAX).is_empty());
        }
    }

    #[test]
    fn the_last_doubleword_of_the_address_space_does_not_overflow() {
        assert_eq!(read(u64::MAX - 7, 8, |_| 0), 0);
        assert_eq!(record(u64::MAX - 7, 8, 0).len(), 2);
    }
}

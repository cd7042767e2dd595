//! Little-endian field access on the byte images of the ABI structures.

/// Reads the `u32` stored at `bytes[at..at + 4]`.
pub(crate) fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

/// Reads the `u64` stored at `bytes[at..at + 8]`.
pub(crate) fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Stores `value` at `bytes[at..at + 4]`.
pub(crate) fn write_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// Stores `value` at `bytes[at..at + 8]`.
pub(crate) fn write_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_little_endian_at_the_given_offset() {
        let mut buf = [0u8; 16];
        write_u64(&mut buf, 4, 0x0102_0304_0506_0708);
        write_u32(&mut buf, 12, 0xAABB_CCDD);
        assert_eq!(
            buf,
            [0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1, 0xDD, 0xCC, 0xBB, 0xAA]
        );
        assert_eq!(read_u64(&buf, 4), 0x0102_0304_0506_0708);
        assert_eq!(read_u32(&buf, 12), 0xAABB_CCDD);
    }
}

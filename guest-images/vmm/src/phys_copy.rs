//! Copies between host physical ranges for a host that runs with its MMU off, where every
//! access is uncached and must be aligned. A few single bytes align the destination to 8;
//! then, if the source is aligned too, 8-byte words go across as they are, and otherwise
//! each destination word is put together from two aligned source words, shifted
//! (little-endian), so that no access reaches outside the ranges; the last bytes go singly.
//! A 1514-byte Ethernet frame goes in about 190 words, whatever the two alignments.

/// Copies `len` bytes from host physical `src` to `dst`.
///
/// # Safety
///
/// Both ranges are host RAM the caller may read and write (guest RAM, or the caller's
/// own buffers), and they do not overlap.
pub unsafe fn copy_physical(dst: u64, src: u64, len: u64) {
    let head = (dst.wrapping_neg() % 8).min(len);
    let (mut d, mut s, end) = (dst + head, src + head, src + len);
    // SAFETY: every access below lies inside the ranges the caller vouches for and is
    // aligned to its size: bytes, words at `d` (8-aligned after the head) and at `s` or
    // `next` (8-aligned where they are read as words).
    unsafe {
        copy_bytes(dst, src, head);
        let shift = 8 * (s % 8);
        if shift == 0 {
            while end - s >= 8 {
                write::<u64>(d, read::<u64>(s));
                (d, s) = (d + 8, s + 8);
            }
        } else if end - s >= 16 {
            // `carry` holds the source bytes from `s` up to the next aligned word, `next`.
            let mut next = s - s % 8 + 8;
            let mut carry = 0u64;
            for i in s..next {
                carry |= u64::from(read::<u8>(i)) << (8 * (i - s));
            }
            let kept = 64 - shift;
            while end - next >= 8 {
                let word = read::<u64>(next);
                write::<u64>(d, carry | word << kept);
                carry = word >> shift;
                (d, next) = (d + 8, next + 8);
            }
            for i in 0..kept / 8 {
                write::<u8>(d + i, (carry >> (8 * i)) as u8);
            }
            (d, s) = (d + kept / 8, next);
        }
        copy_bytes(d, s, end - s);
    }
}

/// # Safety
///
/// As for [`copy_physical`].
unsafe fn copy_bytes(dst: u64, src: u64, len: u64) {
    for i in 0..len {
        // SAFETY: bytes inside the ranges the caller vouches for.
        unsafe { write::<u8>(dst + i, read::<u8>(src + i)) };
    }
}

/// # Safety
///
/// `at` is host RAM the caller may read, aligned to `T`'s size.
unsafe fn read<T>(at: u64) -> T {
    // SAFETY: as the caller vouches.
    unsafe { core::ptr::read_volatile(at as *const T) }
}

/// # Safety
///
/// `at` is host RAM the caller may write, aligned to `T`'s size.
unsafe fn write<T>(at: u64, value: T) {
    // SAFETY: as the caller vouches.
    unsafe { core::ptr::write_volatile(at as *mut T, value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alignment_and_length_copies_exactly_the_range() {
        let src: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        for s in 0..8 {
            for d in 0..8 {
                for len in (0..40).chain([63, 64, 65, 100, 150, 255]) {
                    let mut dst = vec![0xEEu8; 300];
                    // SAFETY: both buffers are ours and hold the ranges (at most 7 + 255).
                    unsafe {
                        copy_physical(dst.as_mut_ptr() as u64 + d, src.as_ptr() as u64 + s, len)
                    };
                    let (d, s, len) = (d as usize, s as usize, len as usize);
                    assert_eq!(&dst[d..d + len], &src[s..s + len], "{s} -> {d}, {len}");
                    assert!(dst[..d].iter().chain(&dst[d + len..]).all(|&b| b == 0xEE));
                }
            }
        }
    }
}

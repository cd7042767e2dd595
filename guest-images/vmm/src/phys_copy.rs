//! Copies between host physical ranges for a host that runs with its MMU off, where every
//! access is uncached and must be aligned: by the widest accesses that the two addresses
//! can be aligned to at once (8, 4 or 2 bytes, after a few single bytes), else by bytes.
//! A 1514-byte Ethernet frame between 8-byte aligned buffers goes in 190 words instead of
//! 1514 bytes.

/// Copies `len` bytes from host physical `src` to `dst`.
///
/// # Safety
///
/// Both ranges are host RAM the caller may read and write (guest RAM, or the caller's
/// own buffers), and they do not overlap.
pub unsafe fn copy_physical(dst: u64, src: u64, len: u64) {
    let (width, head, body) = plan(dst, src, len);
    // SAFETY: the three parts lie inside the ranges the caller vouches for, each access
    // aligned to its size (`plan`).
    unsafe {
        copy_by::<u8>(dst, src, head);
        let (d, s) = (dst + head, src + head);
        match width {
            8 => copy_by::<u64>(d, s, body),
            4 => copy_by::<u32>(d, s, body),
            2 => copy_by::<u16>(d, s, body),
            _ => copy_by::<u8>(d, s, body),
        }
        copy_by::<u8>(d + body, s + body, len - head - body);
    }
}

/// How [`copy_physical`] splits a copy: the access width both addresses can be aligned to
/// at once, the bytes copied singly first to align them, and the bytes then copied by
/// that width (a multiple of it); the rest goes by single bytes.
fn plan(dst: u64, src: u64, len: u64) -> (u64, u64, u64) {
    let width = match (dst ^ src) % 8 {
        0 => 8,
        4 => 4,
        2 | 6 => 2,
        _ => 1,
    };
    let head = (dst.wrapping_neg() % width).min(len);
    (width, head, (len - head) / width * width)
}

/// Copies `len` bytes, a multiple of `T`'s size, by volatile accesses of `T`.
///
/// # Safety
///
/// As for [`copy_physical`]; both addresses are aligned to `T`'s size.
unsafe fn copy_by<T>(dst: u64, src: u64, len: u64) {
    let size = core::mem::size_of::<T>() as u64;
    let mut at = 0;
    while at < len {
        // SAFETY: aligned accesses inside the ranges the caller vouches for.
        unsafe {
            core::ptr::write_volatile(
                (dst + at) as *mut T,
                core::ptr::read_volatile((src + at) as *const T),
            )
        };
        at += size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_widest_access_both_addresses_allow() {
        assert_eq!(plan(0x1000, 0x2000, 1514), (8, 0, 1512));
        assert_eq!(plan(0x1003, 0x2003, 1514), (8, 5, 1504));
        assert_eq!(plan(0x1000, 0x200c, 1526), (4, 0, 1524));
        assert_eq!(plan(0x1002, 0x2000, 10), (2, 0, 10));
        assert_eq!(plan(0x1001, 0x2000, 10), (1, 0, 10));
        assert_eq!(plan(0x1005, 0x2005, 2), (8, 2, 0));
        assert_eq!(plan(0x1000, 0x2000, 0), (8, 0, 0));
    }

    #[test]
    fn every_alignment_and_length_copies_exactly_the_range() {
        let src: Vec<u8> = (0..200u8).collect();
        for s in 0..8 {
            for d in 0..8 {
                for len in [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 100, 150] {
                    let mut dst = vec![0xEEu8; 200];
                    // SAFETY: both buffers are ours and hold the ranges (at most 8 + 150).
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

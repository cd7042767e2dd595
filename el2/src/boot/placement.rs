//! Where the monitor puts itself: the highest suitably aligned stretch of RAM
//! that avoids the DTB, the initrd, reserved memory and the image's current
//! location, so the host keeps the low RAM its images are usually linked at.

use crate::mm::range::{align_down, Range};

/// Returns the highest `align`-aligned base of a `size`-byte region inside
/// one of `memory` that overlaps none of `avoid`.
pub fn highest_fit(memory: &[Range], avoid: &[Range], size: u64, align: u64) -> Option<u64> {
    memory
        .iter()
        .filter_map(|bank| highest_in_bank(bank, avoid, size, align))
        .max()
}

fn highest_in_bank(bank: &Range, avoid: &[Range], size: u64, align: u64) -> Option<u64> {
    let mut top = bank.end();
    loop {
        let base = align_down(top.checked_sub(size)?, align);
        if base < bank.base {
            return None;
        }
        let candidate = Range::new(base, size);
        match avoid
            .iter()
            .filter(|a| a.overlaps(&candidate))
            .map(|a| a.base)
            .min()
        {
            None => return Some(base),
            Some(blocker) => top = blocker,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const MB: u64 = 1 << 20;

    #[test]
    fn takes_the_top_of_ram() {
        let ram = [Range::new(0x4000_0000, 1024 * MB)];
        assert_eq!(highest_fit(&ram, &[], 18 * MB, 2 * MB), Some(0x7EE0_0000));
    }

    #[test]
    fn steps_below_everything_it_must_avoid() {
        let ram = [Range::new(0x4000_0000, 1024 * MB)];
        // The DTB near the top pushes the region down to 0x7EC0_0000, where it
        // meets the initrd, which pushes it below 0x7E00_0000.
        let avoid = [
            Range::new(0x7FF0_0000, 0x1000),
            Range::new(0x7E00_0000, 16 * MB),
        ];
        assert_eq!(
            highest_fit(&ram, &avoid[..1], 18 * MB, 2 * MB),
            Some(0x7EC0_0000)
        );
        assert_eq!(
            highest_fit(&ram, &avoid, 18 * MB, 2 * MB),
            Some(0x7CE0_0000)
        );
    }

    #[test]
    fn picks_the_highest_bank_that_fits() {
        let ram = [Range::new(0, 0x3B40_0000), Range::new(0x4000_0000, 4 * MB)];
        assert_eq!(highest_fit(&ram, &[], 18 * MB, 2 * MB), Some(0x3A20_0000));
    }

    #[test]
    fn none_when_nothing_fits() {
        let ram = [Range::new(0x4000_0000, 16 * MB)];
        assert_eq!(highest_fit(&ram, &[], 18 * MB, 2 * MB), None);
        let avoid = [Range::new(0x4000_0000, 16 * MB)];
        assert_eq!(
            highest_fit(&[Range::new(0x4000_0000, 32 * MB)], &avoid, 18 * MB, 2 * MB),
            None
        );
    }
}

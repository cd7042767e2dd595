//! Physical address ranges and the arithmetic the monitor does on them. The
//! range type itself is the `dtb` crate's [`dtb::Region`], which the
//! devicetree reader and rewriter use too.

use arrayvec::ArrayVec;

pub use dtb::Region as Range;

/// The parts of `r` outside `hole` (up to two).
pub fn subtract(r: Range, hole: Range) -> [Option<Range>; 2] {
    if !r.overlaps(&hole) {
        return [Some(r).filter(|r| r.size != 0), None];
    }
    let below = (hole.base > r.base).then(|| Range::new(r.base, hole.base - r.base));
    let above = (hole.end() < r.end()).then(|| Range::new(hole.end(), r.end() - hole.end()));
    [below, above]
}

/// The parts of `r` outside every range of `holes`, in ascending order
/// (at most one more piece than there are holes).
pub fn subtract_all<const N: usize>(r: Range, holes: &[Range]) -> ArrayVec<Range, N> {
    let mut pieces: ArrayVec<Range, N> = [r].into_iter().filter(|r| r.size != 0).collect();
    for hole in holes {
        let before = core::mem::take(&mut pieces);
        for piece in before.iter().flat_map(|p| subtract(*p, *hole)).flatten() {
            let _ = pieces.try_push(piece);
        }
    }
    pieces
}

pub const fn align_down(value: u64, align: u64) -> u64 {
    value & !(align - 1)
}

pub const fn align_up(value: u64, align: u64) -> Option<u64> {
    match value.checked_add(align - 1) {
        Some(v) => Some(v & !(align - 1)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_is_half_open() {
        let a = Range::new(0x1000, 0x1000);
        assert!(a.overlaps(&Range::new(0x1fff, 1)));
        assert!(!a.overlaps(&Range::new(0x2000, 0x1000)));
        assert!(!a.overlaps(&Range::new(0, 0x1000)));
        assert!(!a.overlaps(&Range::new(0x1800, 0)));
    }

    #[test]
    fn subtract_cuts_holes() {
        let r = Range::new(0x1000, 0x3000);
        assert_eq!(
            subtract(r, Range::new(0x2000, 0x1000)),
            [
                Some(Range::new(0x1000, 0x1000)),
                Some(Range::new(0x3000, 0x1000))
            ]
        );
        assert_eq!(
            subtract(r, Range::new(0, 0x2000)),
            [None, Some(Range::new(0x2000, 0x2000))]
        );
        assert_eq!(
            subtract(r, Range::new(0x3000, 0x8000)),
            [Some(Range::new(0x1000, 0x2000)), None]
        );
        assert_eq!(subtract(r, Range::new(0, 0x8000)), [None, None]);
        assert_eq!(subtract(r, Range::new(0x8000, 0x10)), [Some(r), None]);
    }

    #[test]
    fn subtract_all_cuts_every_hole() {
        let r = Range::new(0, 0x10000);
        let holes = [
            Range::new(0x8000, 0x1000),
            Range::new(0, 0x1000),
            Range::new(0xf000, 0x2000),
        ];
        let pieces: ArrayVec<Range, 4> = subtract_all(r, &holes);
        assert_eq!(
            pieces.as_slice(),
            &[Range::new(0x1000, 0x7000), Range::new(0x9000, 0x6000)]
        );
        let whole: ArrayVec<Range, 2> = subtract_all(r, &[]);
        assert_eq!(whole.as_slice(), &[r]);
        let none: ArrayVec<Range, 2> = subtract_all(r, &[Range::new(0, 0x10000)]);
        assert!(none.is_empty());
    }

    #[test]
    fn end_saturates_and_alignment() {
        assert_eq!(Range::new(u64::MAX - 1, 10).end(), u64::MAX);
        assert_eq!(align_down(0x1fff, 0x1000), 0x1000);
        assert_eq!(align_up(0x1001, 0x1000), Some(0x2000));
        assert_eq!(align_up(u64::MAX, 0x1000), None);
        assert!(Range::new(0, 0x2000).covers(&Range::new(0x1000, 0x1000)));
        assert!(!Range::new(0, 0x2000).covers(&Range::new(0x1000, 0x1001)));
    }
}

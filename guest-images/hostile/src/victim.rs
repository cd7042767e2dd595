//! The victim (command line `victim`), for the isolation scan of another guest of the same
//! VMM: it fills every 16-byte slot of its free RAM (all of it but this image and the DTB)
//! with a canary, the isolation canary's magic (computed, as the scan does, never held)
//! and [`MARK`], says how many it planted, and idles in WFI until a key comes in on its
//! console; then it counts the canaries still in place and powers off. A scan that sees any
//! of them reads this guest's memory.

use crate::canary::ALIGN;
use arrayvec::ArrayVec;
use core::ops::Range;

/// The second half of each of the victim's canaries, which tells them from the VMM's.
pub const MARK: u64 = u64::from_le_bytes(*b"zxvVictm");
/// Ranges left out of RAM at most, and so pieces of free RAM at most one more.
pub const MAX_TAKEN: usize = 3;
const ALIGN64: u64 = ALIGN as u64;

/// `ram` less the `taken` ranges (which may overlap, or reach outside it), in address order,
/// each piece cut to whole canary slots.
pub fn free(ram: Range<u64>, taken: &[Range<u64>]) -> ArrayVec<Range<u64>, { MAX_TAKEN + 1 }> {
    assert!(
        taken.len() <= MAX_TAKEN,
        "more than {MAX_TAKEN} ranges taken"
    );
    let mut cuts: ArrayVec<Range<u64>, MAX_TAKEN> = taken
        .iter()
        .filter(|t| t.start < t.end && t.start < ram.end && ram.start < t.end)
        .cloned()
        .collect();
    cuts.sort_unstable_by_key(|t| t.start);
    let mut pieces = ArrayVec::new();
    let mut at = ram.start;
    for cut in cuts.iter().chain(core::iter::once(&(ram.end..ram.end))) {
        let end = cut.start.min(ram.end) & !(ALIGN64 - 1);
        // `at` below `end` rounds up to at most `end`, without overflowing.
        if at < end && at.next_multiple_of(ALIGN64) < end {
            pieces.push(at.next_multiple_of(ALIGN64)..end);
        }
        at = at.max(cut.end);
    }
    pieces
}

/// How many canaries fit in `pieces`.
pub fn slots(pieces: &[Range<u64>]) -> u64 {
    pieces.iter().map(|p| (p.end - p.start) / ALIGN64).sum()
}

/// Plants, idles until a key comes in, counts what is left and powers off.
#[cfg(target_os = "none")]
pub fn run(fdt: &fdt::Fdt, dtb: u64) -> ! {
    use crate::arch::{read64, write64};
    use crate::{canary, say};
    let Some(ram) = fdt.memory().regions().next().map(|r| {
        let base = r.starting_address as u64;
        base..base + r.size.unwrap_or(0) as u64
    }) else {
        say!("victim: FAIL the device tree has no memory");
        crate::arch::system_off()
    };
    let pieces = free(
        ram.clone(),
        &[crate::arch::image(), dtb..dtb + fdt.total_size() as u64],
    );
    let slots_of = || pieces.iter().flat_map(|p| p.clone().step_by(ALIGN));
    let magic = canary::magic();
    for at in slots_of() {
        write64(at, magic);
        write64(at + 8, MARK);
    }
    let planted = slots(&pieces);
    say!(
        "victim: {planted} canaries planted in {} KiB of its {} KiB of RAM at {:#x}",
        (planted * ALIGN64) >> 10,
        (ram.end - ram.start) >> 10,
        ram.start
    );
    say!("victim: idling in WFI until a key comes in on the console");
    let key = crate::arch::wait_for_key();
    let kept = slots_of()
        .filter(|&at| canary::is_magic(read64(at)) && read64(at + 8) == MARK)
        .count();
    say!("victim: key {key:#04x}: {kept} of {planted} canaries still in place");
    crate::arch::system_off()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: Range<u64> = 0x4000_0000..0x4400_0000;

    /// `ram` less one range.
    fn without(ram: Range<u64>, cut: Range<u64>) -> Vec<Range<u64>> {
        free(ram, core::slice::from_ref(&cut)).to_vec()
    }

    #[test]
    fn ram_less_the_image_and_the_dtb() {
        let image = 0x4000_0000..0x4002_3458;
        let dtb = 0x43e0_0000..0x43e0_1234;
        let pieces = free(RAM, &[dtb.clone(), image]);
        assert_eq!(
            pieces.as_slice(),
            [0x4002_3460..0x43e0_0000, 0x43e0_1240..0x4400_0000]
        );
        let bytes = (RAM.end - RAM.start) - 0x2_3460 - 0x1240;
        assert_eq!(slots(&pieces), bytes / 16);
    }

    #[test]
    fn overlapping_and_outside_ranges() {
        let pieces = free(
            RAM,
            &[
                0x4100_0000..0x4200_0000,
                0x4180_0000..0x4280_0000,
                0x3000_0000..0x4000_1000,
            ],
        );
        assert_eq!(
            pieces.as_slice(),
            [0x4000_1000..0x4100_0000, 0x4280_0000..0x4400_0000]
        );
        assert_eq!(
            free(RAM, &[0x5000_0000..0x5100_0000, 3..3]).as_slice(),
            [RAM]
        );
        assert!(without(RAM, 0..u64::MAX).is_empty());
    }

    #[test]
    fn a_piece_too_small_for_a_slot_is_left_out() {
        let pieces = without(0x1000..0x2000, 0x1008..0x1ff8);
        assert!(pieces.is_empty());
        assert_eq!(slots(&pieces), 0);
        assert_eq!(
            without(0x1000..0x2000, 0x1010..0x1ff0),
            [0x1000..0x1010, 0x1ff0..0x2000]
        );
    }

    #[test]
    fn the_mark_is_not_the_magic() {
        assert!(!crate::canary::is_magic(MARK));
    }
}

//! Which pages of a region the isolation scan probes. All of RAM, page by page (its accesses
//! cost no exit). Outside RAM and devices every access is an exit to the VMM or an injected
//! abort, so the scan takes the first and the last page of each region, where a trap or a
//! mapping that is off by a page shows, and the first page of every 2 MiB block in
//! between: stage 2 maps with 4 KiB pages, 2 MiB and 1 GiB blocks, so any block mapping and
//! any run of pages of 2 MiB or more that leaked into the guest's IPA space is met, in
//! 32768 probes for the VMM's 64 GiB. A single stray page inside a large gap would be
//! missed; the scan of every page would take 16 million exits (hours under TCG).

use crate::regions::{Kind, Region, PAGE};

/// The stride between probed pages outside RAM.
pub const BLOCK: u64 = 2 << 20;

/// The pages of `region` to probe, in address order, each once.
pub fn pages(region: &Region) -> impl Iterator<Item = u64> {
    let (base, end) = (region.base, region.end());
    let step = match region.kind {
        Kind::Ram => PAGE,
        Kind::Outside => BLOCK,
        Kind::Device(_) => 0,
    };
    // The first page, each block's first page after it, and the last page.
    let first = (step != 0).then_some(base);
    let blocks = (step != 0)
        .then(|| (base / step + 1..end.div_ceil(step)).map(move |b| b * step))
        .into_iter()
        .flatten();
    let last = end - PAGE;
    let last = (step != 0 && last > base && !last.is_multiple_of(step)).then_some(last);
    first.into_iter().chain(blocks).chain(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regions::Check;

    fn of(base: u64, size: u64, kind: Kind) -> Vec<u64> {
        pages(&Region {
            base,
            size,
            kind,
            name: "r",
        })
        .collect()
    }

    #[test]
    fn ram_page_by_page() {
        assert_eq!(
            of(0x4000_0000, 3 * PAGE, Kind::Ram),
            [0x4000_0000, 0x4000_1000, 0x4000_2000]
        );
        assert_eq!(of(0x4000_0000, 64 << 20, Kind::Ram).len(), 16384);
    }

    #[test]
    fn outside_first_and_last_page_and_every_block() {
        assert_eq!(
            of(0x0801_0000, 0x9_0000, Kind::Outside),
            [0x0801_0000, 0x0809_f000]
        );
        // A block start is probed once, the last page among them.
        assert_eq!(
            of(0x0900_1000, 0x20_0000, Kind::Outside),
            [0x0900_1000, 0x0920_0000]
        );
        assert_eq!(of(0x1000, PAGE, Kind::Outside), [0x1000]);
        let blocks = of(0, 1 << 30, Kind::Outside);
        assert_eq!(blocks.len(), 512 + 1);
        assert_eq!(blocks[511], 511 * BLOCK);
        assert_eq!(blocks[512], (1 << 30) - PAGE);
        assert!(blocks.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn the_vmms_whole_ipa_space_outside_ram() {
        let top = 1u64 << 36;
        let n = of(0x4400_0000, top - 0x4400_0000, Kind::Outside).len();
        assert_eq!(n as u64, (top - 0x4400_0000) / BLOCK + 1);
    }

    #[test]
    fn devices_are_not_paged() {
        assert!(of(0x0b00_0000, PAGE, Kind::Device(Check::Virtio)).is_empty());
    }
}

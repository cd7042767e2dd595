//! Host RAM bookkeeping: what is in use (the VMM's image, the DTB, the
//! kernel and initrd blobs), checks that the blobs lie in free RAM, and the
//! choice of the host RAM that becomes guest RAM: the highest 2 MiB aligned
//! stretch of the requested size that touches nothing in use.

use crate::{err, Error};
use arrayvec::ArrayVec;
use core::ops::Range;

/// Guest RAM is 2 MiB aligned in host RAM, so the monitor's stage 2 can
/// map it with blocks.
pub const GUEST_RAM_ALIGN: u64 = 2 << 20;
const MAX_BANKS: usize = 16;
const MAX_USED: usize = 16;

pub struct HostRam {
    banks: ArrayVec<Range<u64>, MAX_BANKS>,
    used: ArrayVec<(&'static str, Range<u64>), MAX_USED>,
}

fn overlap(a: &Range<u64>, b: &Range<u64>) -> bool {
    a.start < b.end && b.start < a.end
}

impl HostRam {
    /// Host RAM as the DTB's `/memory` nodes give it (monitor memory is
    /// already cut out of them).
    pub fn new(banks: &[(u64, u64)]) -> Self {
        let banks = banks
            .iter()
            .filter(|(_, size)| *size > 0)
            .map(|&(base, size)| base..base.saturating_add(size))
            .take(MAX_BANKS)
            .collect();
        HostRam {
            banks,
            used: ArrayVec::new(),
        }
    }

    /// Marks `range` as in use by `what`. With `must_be_ram`, the range must
    /// lie inside one bank and clear of everything used so far (for the
    /// blobs the VMM reads); otherwise it only has to be avoided.
    pub fn claim(
        &mut self,
        what: &'static str,
        range: Range<u64>,
        must_be_ram: bool,
    ) -> Result<(), Error> {
        if must_be_ram {
            if !self
                .banks
                .iter()
                .any(|b| b.start <= range.start && range.end <= b.end)
            {
                return Err(err!(
                    "{what} {:#x}..{:#x} is not inside host RAM",
                    range.start,
                    range.end
                ));
            }
            if let Some((other, r)) = self.used.iter().find(|(_, r)| overlap(r, &range)) {
                return Err(err!(
                    "{what} {:#x}..{:#x} overlaps {other} {:#x}..{:#x}",
                    range.start,
                    range.end,
                    r.start,
                    r.end
                ));
            }
        }
        self.used
            .try_push((what, range))
            .map_err(|_| err!("more than {MAX_USED} host memory ranges in use"))
    }

    /// The highest free, 2 MiB aligned `size` bytes, claimed for `what`.
    pub fn take(&mut self, what: &'static str, size: u64) -> Result<u64, Error> {
        let mut best: Option<u64> = None;
        let mut largest = 0;
        for bank in &self.banks {
            let mut top = bank.end;
            while let Some(start) = top.checked_sub(size).map(|s| s & !(GUEST_RAM_ALIGN - 1)) {
                if start < bank.start {
                    break;
                }
                let candidate = start..start + size;
                match self
                    .used
                    .iter()
                    .filter(|(_, r)| overlap(r, &candidate))
                    .map(|(_, r)| r.start)
                    .min()
                {
                    Some(blocker) => top = blocker,
                    None => {
                        best = best.max(Some(start));
                        break;
                    }
                }
            }
            largest = largest.max(self.largest_free_in(bank));
        }
        let start = best.ok_or_else(|| {
            err!(
                "no {} MiB of free host RAM for {what} (the largest free stretch is {} MiB): \
                 give the machine more memory or lower vmm.mem",
                size >> 20,
                largest >> 20
            )
        })?;
        self.claim(what, start..start + size, false)?;
        Ok(start)
    }

    /// The longest stretch of `bank` that nothing uses (for error messages).
    fn largest_free_in(&self, bank: &Range<u64>) -> u64 {
        let mut edges: ArrayVec<Range<u64>, MAX_USED> = self
            .used
            .iter()
            .filter(|(_, r)| overlap(r, bank))
            .map(|(_, r)| r.clone())
            .collect();
        edges.sort_unstable_by_key(|r| r.start);
        let mut largest = 0;
        let mut from = bank.start;
        for r in edges {
            largest = largest.max(r.start.saturating_sub(from));
            from = from.max(r.end);
        }
        largest.max(bank.end.saturating_sub(from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    /// QEMU virt with -m 1G under the monitor: host RAM below the monitor.
    fn virt_1g() -> HostRam {
        let mut ram = HostRam::new(&[(0x4000_0000, 0x3e20_0000)]);
        ram.claim("the VMM image", 0x4020_0000..0x4060_0000, true)
            .unwrap();
        ram.claim("the DTB hand-off area", 0x7e00_0000..0x7e20_0000, false)
            .unwrap();
        ram
    }

    #[test]
    fn takes_the_highest_free_stretch() {
        let mut ram = virt_1g();
        ram.claim("vmm.kernel", 0x5000_0000..0x51f6_e000, true)
            .unwrap();
        assert_eq!(ram.take("guest RAM", 256 * MB), Ok(0x6e00_0000));
        // The next ones go below the first, then below the kernel.
        assert_eq!(ram.take("more", 256 * MB), Ok(0x5e00_0000));
        assert_eq!(ram.take("still more", 192 * MB), Ok(0x5200_0000));
        assert_eq!(ram.take("the rest", 64 * MB), Ok(0x4c00_0000));
    }

    #[test]
    fn blobs_must_be_in_free_ram() {
        let mut ram = virt_1g();
        let e = ram
            .claim("vmm.kernel", 0x4040_0000..0x4140_0000, true)
            .unwrap_err();
        assert_eq!(
            e.as_str(),
            "vmm.kernel 0x40400000..0x41400000 overlaps the VMM image 0x40200000..0x40600000"
        );
        let e = ram
            .claim("vmm.initrd", 0x7f00_0000..0x7f10_0000, true)
            .unwrap_err();
        assert!(e.contains("is not inside host RAM"), "{e}");
        let e = ram
            .claim("vmm.initrd", 0x7e10_0000..0x7e10_0010, true)
            .unwrap_err();
        assert!(e.contains("overlaps the DTB hand-off area"), "{e}");
    }

    #[test]
    fn says_how_much_is_free_when_nothing_fits() {
        let mut ram = virt_1g();
        ram.claim("vmm.kernel", 0x6000_0000..0x6000_1000, true)
            .unwrap();
        let e = ram.take("guest RAM", 768 * MB).unwrap_err();
        assert!(
            e.contains("no 768 MiB of free host RAM for guest RAM"),
            "{e}"
        );
        assert!(e.contains("largest free stretch is 506 MiB"), "{e}");
    }

    #[test]
    fn several_banks() {
        let mut ram = HostRam::new(&[(0x4000_0000, 64 * MB), (0x1_0000_0000, 16 * MB), (0, 0)]);
        assert_eq!(ram.take("a", 32 * MB), Ok(0x4200_0000));
        assert_eq!(ram.take("b", 16 * MB), Ok(0x1_0000_0000));
        assert_eq!(ram.take("c", 32 * MB), Ok(0x4000_0000));
        assert!(ram.take("d", 2 * MB).is_err());
    }
}

//! The isolation scan's map of the guest's IPA space, from its device tree: RAM (the
//! `/memory` regions), each device's register frames (every `reg` entry with a size of a
//! node with a `compatible`, the CPUs' MPIDRs aside) with what they must answer, and
//! everything else up to the top of the IPA space as outside: where an access must abort
//! or read 0 and drop writes, never reach memory. Nothing here depends on the VMM that
//! made the tree: a second guest's scan gets its own map from its own tree.

use arrayvec::ArrayVec;

pub const PAGE: u64 = 4096;
/// Regions at most: RAM, devices and the gaps around them.
pub const MAX_REGIONS: usize = 64;

/// What a device's registers must answer, by its compatible string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// virtio-mmio: MagicValue "virt" (0x000) and Version 2 (0x004).
    Virtio,
    /// A PrimeCell (PL011, PL031): PeriphID0 (0xFE0) is `part`, PCellID0-3 0xB105F00D.
    PrimeCell { part: u32 },
    /// GIC frames (a distributor, or the redistributors `stride` apart): PIDR2.ArchRev at
    /// `pidr2` in each is `rev`.
    GicArch { pidr2: u64, rev: u32, stride: u64 },
    /// A GICv2 CPU interface: GICC_IIDR (0x0FC) names architecture version 2.
    GicCpu,
    /// A device the scan has no check for: its frames are left alone.
    Unchecked,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ram,
    Device(Check),
    Outside,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region<'a> {
    pub base: u64,
    pub size: u64,
    pub kind: Kind,
    /// The device tree node's name ("outside" for the gaps).
    pub name: &'a str,
}

impl Region<'_> {
    pub fn end(&self) -> u64 {
        self.base + self.size
    }
}

/// Why the device tree cannot be mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    NoRam,
    TooManyRegions,
    /// Two regions overlap, or one is empty, not page-aligned or past the IPA space.
    Bad {
        base: u64,
        size: u64,
    },
}

/// What the frame `index` of a node with `compatible` strings must answer.
fn check<'a>(mut compatible: impl Iterator<Item = &'a str>, index: usize) -> Check {
    let gic3 = |stride| Check::GicArch {
        pidr2: 0xFFE8,
        rev: 3,
        stride,
    };
    let found = compatible.find_map(|c| match (c, index) {
        ("virtio,mmio", _) => Some(Check::Virtio),
        ("arm,pl011", _) => Some(Check::PrimeCell { part: 0x11 }),
        ("arm,pl031", _) => Some(Check::PrimeCell { part: 0x31 }),
        ("arm,gic-v3", 0) => Some(gic3(1 << 16)),
        // RD_base and SGI_base: 128 KiB a redistributor.
        ("arm,gic-v3", 1) => Some(gic3(2 << 16)),
        ("arm,cortex-a15-gic" | "arm,gic-400", 0) => Some(Check::GicArch {
            pidr2: 0xFE8,
            rev: 2,
            stride: PAGE,
        }),
        ("arm,cortex-a15-gic" | "arm,gic-400", 1) => Some(Check::GicCpu),
        _ => None,
    });
    found.unwrap_or(Check::Unchecked)
}

/// The map of `[0, top)` the device tree `fdt` describes, in address order, every byte in
/// exactly one region.
pub fn map<'a>(
    fdt: &fdt::Fdt<'a>,
    top: u64,
) -> Result<ArrayVec<Region<'a>, MAX_REGIONS>, MapError> {
    let mut found: ArrayVec<Region<'a>, MAX_REGIONS> = ArrayVec::new();
    let push = |found: &mut ArrayVec<Region<'a>, MAX_REGIONS>, r| {
        found.try_push(r).map_err(|_| MapError::TooManyRegions)
    };
    for r in fdt.memory().regions() {
        let size = r.size.unwrap_or(0) as u64;
        let base = r.starting_address as u64;
        push(
            &mut found,
            Region {
                base,
                size,
                kind: Kind::Ram,
                name: "ram",
            },
        )?;
    }
    if found.is_empty() {
        return Err(MapError::NoRam);
    }
    let devices = fdt.all_nodes().filter(|n| !n.name.starts_with("cpu"));
    for node in devices {
        let (Some(compatible), Some(regs)) = (node.compatible(), node.reg()) else {
            continue;
        };
        for (index, r) in regs.enumerate() {
            let Some(size) = r.size else { continue };
            push(
                &mut found,
                Region {
                    base: r.starting_address as u64,
                    size: size as u64,
                    kind: Kind::Device(check(compatible.all(), index)),
                    name: node.name,
                },
            )?;
        }
    }
    tile(found, top)
}

/// `claimed` sorted, checked, and with the gaps between its regions (and up to `top`)
/// filled with outside regions.
pub fn tile(
    mut claimed: ArrayVec<Region<'_>, MAX_REGIONS>,
    top: u64,
) -> Result<ArrayVec<Region<'_>, MAX_REGIONS>, MapError> {
    claimed.sort_unstable_by_key(|r| r.base);
    let mut all = ArrayVec::new();
    let mut next = 0;
    for r in claimed {
        let bad = MapError::Bad {
            base: r.base,
            size: r.size,
        };
        let aligned = (r.base | r.size) % PAGE == 0;
        if r.size == 0
            || !aligned
            || r.base < next
            || r.base.checked_add(r.size).is_none_or(|e| e > top)
        {
            return Err(bad);
        }
        if r.base > next {
            all.try_push(outside(next, r.base))
                .map_err(|_| MapError::TooManyRegions)?;
        }
        next = r.end();
        all.try_push(r).map_err(|_| MapError::TooManyRegions)?;
    }
    if next < top {
        all.try_push(outside(next, top))
            .map_err(|_| MapError::TooManyRegions)?;
    }
    Ok(all)
}

/// `map` with `hole` taken out of its RAM and made outside: for the scan's self-test, where
/// RAM the scan can write must be found wrongly readable.
pub fn punch<'a>(
    map: &[Region<'a>],
    hole: core::ops::Range<u64>,
    top: u64,
) -> Result<ArrayVec<Region<'a>, MAX_REGIONS>, MapError> {
    let mut claimed = ArrayVec::new();
    for r in map.iter().filter(|r| r.kind != Kind::Outside) {
        let parts = if r.kind == Kind::Ram {
            [
                (r.base, hole.start.clamp(r.base, r.end())),
                (hole.end.clamp(r.base, r.end()), r.end()),
            ]
        } else {
            [(r.base, r.end()), (0, 0)]
        };
        for (base, end) in parts.into_iter().filter(|(b, e)| b < e) {
            claimed
                .try_push(Region {
                    base,
                    size: end - base,
                    ..*r
                })
                .map_err(|_| MapError::TooManyRegions)?;
        }
    }
    tile(claimed, top)
}

fn outside(base: u64, end: u64) -> Region<'static> {
    Region {
        base,
        size: end - base,
        kind: Kind::Outside,
        name: "outside",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syscalls::hypervisor::GUEST_PHYS_ASPACE_SIZE;
    use zxv_devices::GicVersion;
    use zxv_vmm::config::Conduit;
    use zxv_vmm::devmap::{Device, DeviceMap, Optional};
    use zxv_vmm::guest_dtb::GuestDtb;

    const RAM: core::ops::Range<u64> = 0x4000_0000..0x4400_0000;

    fn dtb(gic: GicVersion, has: Optional) -> Vec<u8> {
        GuestDtb {
            cpus: 2,
            ram: RAM,
            gic,
            psci: Conduit::Hvc,
            bootargs: "scan",
            initrd: None,
            has,
        }
        .build()
        .unwrap()
    }

    /// The map of the VMM's own tree: RAM, every device region of the VMM's device map
    /// with its check, and the VMM's unclaimed space as outside.
    fn check_against_the_vmm(gic: GicVersion, has: Optional) {
        let blob = dtb(gic, has);
        let fdt = fdt::Fdt::new(&blob).unwrap();
        let map = map(&fdt, GUEST_PHYS_ASPACE_SIZE).unwrap();
        assert_eq!(map[0].base, 0);
        assert_eq!(map.last().unwrap().end(), GUEST_PHYS_ASPACE_SIZE);
        assert!(map.windows(2).all(|w| w[0].end() == w[1].base));
        let ram: Vec<_> = map.iter().filter(|r| r.kind == Kind::Ram).collect();
        assert_eq!(ram.len(), 1);
        assert_eq!((ram[0].base, ram[0].end()), (RAM.start, RAM.end));
        let vmm = DeviceMap::new(gic, 2, has, RAM);
        for r in vmm.regions() {
            let kinds: Vec<_> = map
                .iter()
                .filter(|m| m.base < r.end() && r.base < m.end())
                .map(|m| m.kind)
                .collect();
            match r.device {
                Device::Unclaimed => assert!(kinds.iter().all(|k| *k == Kind::Outside)),
                _ => {
                    assert_eq!(kinds.len(), 1, "{r:?}: {kinds:?}");
                    let Kind::Device(check) = kinds[0] else {
                        panic!("{r:?} is {kinds:?}")
                    };
                    assert_ne!(check, Check::Unchecked, "{r:?}");
                }
            }
        }
        let devices = map.iter().filter(|r| matches!(r.kind, Kind::Device(_)));
        let vmm_devices = vmm
            .regions()
            .iter()
            .filter(|r| r.device != Device::Unclaimed);
        // GICv2's CPU interface is the monitor's GICV frame, not a VMM device.
        let gicv = usize::from(gic == GicVersion::V2);
        assert_eq!(devices.count(), vmm_devices.count() + gicv);
    }

    /// Every combination of GIC and optional devices the VMM makes.
    #[test]
    fn every_guest_the_vmm_makes() {
        for gic in [GicVersion::V3, GicVersion::V2] {
            for (disk, net) in [(false, false), (true, false), (false, true), (true, true)] {
                check_against_the_vmm(gic, Optional { disk, net });
            }
        }
    }

    #[test]
    fn the_gicv2_cpu_interface_is_the_gicv_frame() {
        let blob = dtb(GicVersion::V2, Optional::default());
        let fdt = fdt::Fdt::new(&blob).unwrap();
        let map = map(&fdt, GUEST_PHYS_ASPACE_SIZE).unwrap();
        let gicc = map.iter().find(|r| r.kind == Kind::Device(Check::GicCpu));
        assert_eq!(
            gicc.map(|r| (r.base, r.size)),
            Some((0x8_0000_1000, 0x2000))
        );
    }

    #[test]
    fn a_hole_punched_in_ram_is_outside() {
        let has = Optional::default();
        let blob = dtb(GicVersion::V3, has);
        let fdt = fdt::Fdt::new(&blob).unwrap();
        let map = map(&fdt, GUEST_PHYS_ASPACE_SIZE).unwrap();
        let hole = RAM.end - (4 << 20)..RAM.end - (2 << 20);
        let punched = punch(&map, hole.clone(), GUEST_PHYS_ASPACE_SIZE).unwrap();
        assert_eq!(punched.len(), map.len() + 2);
        let around: Vec<_> = punched
            .iter()
            .filter(|r| r.base >= RAM.start && r.end() <= RAM.end)
            .map(|r| (r.base, r.end(), r.kind))
            .collect();
        assert_eq!(
            around,
            [
                (RAM.start, hole.start, Kind::Ram),
                (hole.start, hole.end, Kind::Outside),
                (hole.end, RAM.end, Kind::Ram),
            ]
        );
        let devices = |m: &[Region]| {
            m.iter()
                .filter(|r| matches!(r.kind, Kind::Device(_)))
                .count()
        };
        assert_eq!(devices(&punched), devices(&map));
    }

    fn region(base: u64, size: u64) -> Region<'static> {
        Region {
            base,
            size,
            kind: Kind::Device(Check::Virtio),
            name: "d",
        }
    }

    #[test]
    fn overlaps_and_misfits_are_refused() {
        let tiled = |rs: &[Region<'static>]| tile(rs.iter().copied().collect(), 1 << 36);
        assert_eq!(
            tiled(&[region(0x1000, 0x2000), region(0x2000, 0x1000)]),
            Err(MapError::Bad {
                base: 0x2000,
                size: 0x1000
            })
        );
        assert!(
            tiled(&[region(0x1800, 0x1000)]).is_err(),
            "not page-aligned"
        );
        assert!(tiled(&[region(0x1000, 0)]).is_err(), "empty");
        assert!(tiled(&[region(1 << 36, 0x1000)]).is_err(), "past the top");
        assert!(tiled(&[region(!0xfff, 0x1000)]).is_err(), "wraps");
        let ok = tiled(&[region(0, 0x1000), region(0x3000, 0x1000)]).unwrap();
        let spans: Vec<_> = ok.iter().map(|r| (r.base, r.end(), r.kind)).collect();
        assert_eq!(
            spans,
            [
                (0, 0x1000, Kind::Device(Check::Virtio)),
                (0x1000, 0x3000, Kind::Outside),
                (0x3000, 0x4000, Kind::Device(Check::Virtio)),
                (0x4000, 1 << 36, Kind::Outside),
            ]
        );
    }
}

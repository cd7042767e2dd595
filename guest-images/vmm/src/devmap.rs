//! The guest's device space, laid out like QEMU virt's: the GIC distributor
//! (and GICv3 redistributors), the PL011, the PL031, the virtio-mmio devices
//! (one page each), and everything else of the guest's 64 GiB IPA space
//! that is not RAM (below it and above it) as unclaimed space that reads 0
//! and ignores writes, so that no access within it stops the guest. Each
//! region is one MEM trap; its index in the map is the trap's key.
//!
//! The virtio devices are MEM traps, not BELL traps: virtio-mmio's
//! QueueNotify (offset 0x50) shares its page with registers the driver
//! reads, and a BELL page cannot be read.

use arrayvec::ArrayVec;
use core::ops::Range;
use syscalls::hypervisor::GUEST_PHYS_ASPACE_SIZE;
use zxv_devices::{GicVersion, Pl011, GICD_SIZE};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Distributor,
    Redistributors,
    Uart,
    Rtc,
    VirtioConsole,
    VirtioRng,
    VirtioBlk,
    VirtioNet,
    Unclaimed,
}

impl Device {
    pub const ALL: [Device; 9] = [
        Device::Distributor,
        Device::Redistributors,
        Device::Uart,
        Device::Rtc,
        Device::VirtioConsole,
        Device::VirtioRng,
        Device::VirtioBlk,
        Device::VirtioNet,
        Device::Unclaimed,
    ];

    /// The virtio devices, in slot order.
    pub const VIRTIO: [Device; 4] = [
        Device::VirtioConsole,
        Device::VirtioRng,
        Device::VirtioBlk,
        Device::VirtioNet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Device::Distributor => "gicd",
            Device::Redistributors => "gicr",
            Device::Uart => "pl011",
            Device::Rtc => "pl031",
            Device::VirtioConsole => "virtio-console",
            Device::VirtioRng => "virtio-rng",
            Device::VirtioBlk => "virtio-blk",
            Device::VirtioNet => "virtio-net",
            Device::Unclaimed => "unclaimed",
        }
    }

    /// A virtio device's slot: its page at `VIRTIO_BASE + slot * VIRTIO_SIZE` and its SPI
    /// `VIRTIO_SPI + slot`.
    pub fn virtio_slot(self) -> Option<u64> {
        match self {
            Device::VirtioConsole => Some(0),
            Device::VirtioRng => Some(1),
            Device::VirtioBlk => Some(2),
            Device::VirtioNet => Some(3),
            _ => None,
        }
    }

    /// Whether a guest with the optional devices `has` has this device.
    pub fn present(self, has: Optional) -> bool {
        match self {
            Device::VirtioBlk => has.disk,
            Device::VirtioNet => has.net,
            _ => true,
        }
    }

    /// The SPI of a device that has one.
    pub fn spi(self) -> Option<u32> {
        match self {
            Device::Uart => Some(UART_SPI),
            Device::Rtc => Some(RTC_SPI),
            _ => self.virtio_slot().map(|s| VIRTIO_SPI + s as u32),
        }
    }
}

/// The devices a guest may have or not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Optional {
    pub disk: bool,
    pub net: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub device: Device,
    pub base: u64,
    pub size: u64,
}

impl Region {
    pub fn end(&self) -> u64 {
        self.base + self.size
    }
}

/// GICv3 distributor and redistributors, as on QEMU virt.
pub const GICV3_DIST: u64 = 0x0800_0000;
pub const GICV3_REDIST: u64 = 0x080A_0000;
/// GICv2: the distributor in the page below the hardware GICV frame, which
/// the monitor maps at 0x8_0000_1000 (docs/abi.md, docs/design.md).
pub const GICV2_DIST: u64 = 0x8_0000_0000;
pub const GICV2_CPU: u64 = 0x8_0000_1000;
/// GICv2 registers fill the first 4 KiB of the distributor region.
pub const GICV2_DIST_SIZE: u64 = 0x1000;
pub const GICV2_CPU_SIZE: u64 = 0x2000;
pub const GICV3_DIST_SIZE: u64 = GICD_SIZE;
pub const UART: u64 = 0x0900_0000;
pub const UART_SIZE: u64 = Pl011::SIZE;
/// The PL011's interrupt: SPI 1 (INTID 33), as on QEMU virt.
pub const UART_SPI: u32 = 1;

/// The PL031 and its interrupt (SPI 2), as on QEMU virt.
pub const RTC: u64 = 0x0901_0000;
pub const RTC_SIZE: u64 = zxv_devices::Pl031::SIZE;
pub const RTC_SPI: u32 = 2;
/// The virtio-mmio devices: a page each from here (QEMU virt has nothing there), with SPIs
/// from 16 (as QEMU virt's virtio-mmio transports).
pub const VIRTIO_BASE: u64 = 0x0b00_0000;
pub const VIRTIO_SIZE: u64 = zxv_devices::virtio::MMIO_SIZE;
pub const VIRTIO_SPI: u32 = 16;

/// Regions: up to nine devices, and a gap before each of them, RAM and the GICV frame, and
/// after the last.
const MAX_REGIONS: usize = 20;

pub struct DeviceMap {
    regions: ArrayVec<Region, MAX_REGIONS>,
}

impl DeviceMap {
    /// The map for a guest with `cpus` vCPUs on `gic`, with the optional virtio devices
    /// `has` lets in and RAM at `ram`: the devices, and unclaimed space over every part of
    /// the guest's IPA space that is neither one of them, nor RAM, nor (GICv2) the GICV
    /// frame the monitor maps.
    pub fn new(gic: GicVersion, cpus: usize, has: Optional, ram: Range<u64>) -> Self {
        let mut devices: ArrayVec<Region, 9> = ArrayVec::new();
        let region = |device, base, size| Region { device, base, size };
        match gic {
            GicVersion::V3 => {
                devices.push(region(Device::Distributor, GICV3_DIST, GICV3_DIST_SIZE));
                let size = gic.redistributor_region_size(cpus);
                devices.push(region(Device::Redistributors, GICV3_REDIST, size));
            }
            GicVersion::V2 => {
                devices.push(region(Device::Distributor, GICV2_DIST, GICV2_DIST_SIZE))
            }
        }
        devices.push(region(Device::Uart, UART, UART_SIZE));
        devices.push(region(Device::Rtc, RTC, RTC_SIZE));
        for d in Device::VIRTIO.into_iter().filter(|d| d.present(has)) {
            let base = VIRTIO_BASE + d.virtio_slot().unwrap_or(0) * VIRTIO_SIZE;
            devices.push(region(d, base, VIRTIO_SIZE));
        }
        devices.sort_unstable_by_key(|r| r.base);
        let mut taken: ArrayVec<Range<u64>, 11> = devices.iter().map(|d| d.base..d.end()).collect();
        taken.push(ram);
        if gic == GicVersion::V2 {
            taken.push(GICV2_CPU..GICV2_CPU + GICV2_CPU_SIZE);
        }
        taken.sort_unstable_by_key(|r| r.start);
        let mut regions = ArrayVec::new();
        let mut next = 0;
        for r in taken.iter().chain(core::iter::once(
            &(GUEST_PHYS_ASPACE_SIZE..GUEST_PHYS_ASPACE_SIZE),
        )) {
            if r.start > next {
                regions.push(region(Device::Unclaimed, next, r.start - next));
            }
            next = next.max(r.end);
        }
        regions.extend(devices);
        DeviceMap { regions }
    }

    /// Every region, in trap-key order.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The region trapped with `key`.
    pub fn by_key(&self, key: u64) -> Option<&Region> {
        self.regions.get(usize::try_from(key).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::RAM_BASE;

    fn find(map: &DeviceMap, device: Device) -> Option<&Region> {
        map.regions().iter().find(|r| r.device == device)
    }

    fn sorted(map: &DeviceMap) -> Vec<Region> {
        let mut r = map.regions().to_vec();
        r.sort_by_key(|r| r.base);
        r
    }

    const RAM: Range<u64> = RAM_BASE..RAM_BASE + (64 << 20);

    /// The regions, RAM and (GICv2) the GICV frame tile the IPA space exactly.
    fn assert_tiles_device_space(map: &DeviceMap, ram: Range<u64>) {
        let mut next = 0;
        let mut holes = vec![ram];
        if find(map, Device::Redistributors).is_none() {
            holes.push(GICV2_CPU..GICV2_CPU + GICV2_CPU_SIZE);
        }
        let past_holes = |mut at: u64| {
            while let Some(h) = holes.iter().find(|h| h.start == at) {
                at = h.end;
            }
            at
        };
        for r in sorted(map) {
            next = past_holes(next);
            assert_eq!(r.base, next, "gap or overlap at {:#x}", r.base);
            assert_eq!(r.base % 4096 + r.size % 4096, 0, "trap not page-aligned");
            next = r.end();
        }
        assert_eq!(past_holes(next), GUEST_PHYS_ASPACE_SIZE);
    }

    #[test]
    fn gicv3_two_cpus() {
        let map = DeviceMap::new(GicVersion::V3, 2, Optional::default(), RAM);
        assert_tiles_device_space(&map, RAM);
        let gicr = find(&map, Device::Redistributors).unwrap();
        assert_eq!((gicr.base, gicr.size), (0x080A_0000, 0x4_0000));
        assert_eq!(find(&map, Device::Distributor).unwrap().base, 0x0800_0000);
        assert_eq!(find(&map, Device::Uart).unwrap().base, 0x0900_0000);
        let gaps = map
            .regions()
            .iter()
            .filter(|r| r.device == Device::Unclaimed)
            .count();
        assert_eq!(gaps, 7, "six below RAM, one above it");
        assert_eq!(find(&map, Device::Rtc).unwrap().base, 0x0901_0000);
        assert_eq!(find(&map, Device::VirtioConsole).unwrap().base, 0x0b00_0000);
        assert_eq!(find(&map, Device::VirtioRng).unwrap().base, 0x0b00_1000);
        assert_eq!(find(&map, Device::VirtioBlk), None, "no disk");
        assert_eq!(find(&map, Device::VirtioNet), None, "no network");
    }

    #[test]
    fn a_disk_gets_the_third_virtio_page_and_spi() {
        let map = DeviceMap::new(
            GicVersion::V3,
            2,
            Optional {
                disk: true,
                net: false,
            },
            RAM,
        );
        assert_tiles_device_space(&map, RAM);
        let blk = find(&map, Device::VirtioBlk).unwrap();
        assert_eq!((blk.base, blk.size), (0x0b00_2000, 0x1000));
        assert_eq!(Device::VirtioBlk.spi(), Some(18));
        assert_eq!(Device::Rtc.spi(), Some(2));
        assert_eq!(Device::Uart.spi(), Some(1));
        assert_eq!(Device::Distributor.spi(), None);
    }

    #[test]
    fn a_network_gets_the_fourth_virtio_page_and_spi_with_or_without_a_disk() {
        for disk in [false, true] {
            let map = DeviceMap::new(GicVersion::V3, 2, Optional { disk, net: true }, RAM);
            assert_tiles_device_space(&map, RAM);
            let net = find(&map, Device::VirtioNet).unwrap();
            assert_eq!((net.base, net.size), (0x0b00_3000, 0x1000));
            assert_eq!(find(&map, Device::VirtioBlk).is_some(), disk);
        }
        assert_eq!(Device::VirtioNet.spi(), Some(19));
    }

    #[test]
    fn gicv2_distributor_lies_beyond_device_space() {
        let map = DeviceMap::new(
            GicVersion::V2,
            2,
            Optional {
                disk: true,
                net: true,
            },
            RAM,
        );
        assert_tiles_device_space(&map, RAM);
        assert_eq!(find(&map, Device::Redistributors), None);
        let gicd = find(&map, Device::Distributor).unwrap();
        assert_eq!((gicd.base, gicd.size), (GICV2_DIST, 0x1000));
        assert_eq!(gicd.end(), GICV2_CPU);
        let above = map.regions().iter().filter(|r| r.base >= RAM.end);
        let gaps: Vec<_> = above.map(|r| (r.device, r.base, r.end())).collect();
        assert!(gaps.contains(&(Device::Unclaimed, RAM.end, GICV2_DIST)));
        let after = (
            Device::Unclaimed,
            GICV2_CPU + GICV2_CPU_SIZE,
            GUEST_PHYS_ASPACE_SIZE,
        );
        assert!(gaps.contains(&after), "{gaps:x?}");
    }

    /// RAM that fills the IPA space up to its end leaves nothing above it.
    #[test]
    fn ram_up_to_the_end_of_the_ipa_space() {
        let ram = RAM_BASE..GUEST_PHYS_ASPACE_SIZE;
        let map = DeviceMap::new(GicVersion::V3, 1, Optional::default(), ram.clone());
        assert_tiles_device_space(&map, ram);
        assert!(map.regions().iter().all(|r| r.end() <= RAM_BASE));
    }

    #[test]
    fn keys_name_regions() {
        let map = DeviceMap::new(
            GicVersion::V3,
            8,
            Optional {
                disk: true,
                net: true,
            },
            RAM,
        );
        for (key, r) in map.regions().iter().enumerate() {
            assert_eq!(map.by_key(key as u64), Some(r));
        }
        assert_eq!(map.by_key(map.regions().len() as u64), None);
        assert_eq!(map.by_key(u64::MAX), None);
    }
}

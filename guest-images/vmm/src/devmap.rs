//! The guest's device space, laid out like QEMU virt's: the GIC distributor
//! (and GICv3 redistributors), the PL011, the PL031, the virtio-mmio devices
//! (one page each), and everything else below RAM as unclaimed space that
//! reads 0 and ignores writes. Each region is one MEM trap; its index in the
//! map is the trap's key.
//!
//! The virtio devices are MEM traps, not BELL traps: virtio-mmio's
//! QueueNotify (offset 0x50) shares its page with registers the driver
//! reads, and a BELL page cannot be read.

use crate::layout::RAM_BASE;
use arrayvec::ArrayVec;
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
    Unclaimed,
}

impl Device {
    pub const ALL: [Device; 8] = [
        Device::Distributor,
        Device::Redistributors,
        Device::Uart,
        Device::Rtc,
        Device::VirtioConsole,
        Device::VirtioRng,
        Device::VirtioBlk,
        Device::Unclaimed,
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
            _ => None,
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

/// Regions: up to eight devices and a gap before each and after the last.
const MAX_REGIONS: usize = 17;

pub struct DeviceMap {
    regions: ArrayVec<Region, MAX_REGIONS>,
}

impl DeviceMap {
    /// The map for a guest with `cpus` vCPUs on `gic`, with a virtio disk or not.
    pub fn new(gic: GicVersion, cpus: usize, disk: bool) -> Self {
        let mut devices: ArrayVec<Region, 8> = ArrayVec::new();
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
        let virtio = [Device::VirtioConsole, Device::VirtioRng, Device::VirtioBlk];
        for d in virtio
            .into_iter()
            .filter(|&d| disk || d != Device::VirtioBlk)
        {
            let base = VIRTIO_BASE + d.virtio_slot().unwrap_or(0) * VIRTIO_SIZE;
            devices.push(region(d, base, VIRTIO_SIZE));
        }
        devices.sort_unstable_by_key(|r| r.base);
        let mut regions = ArrayVec::new();
        let mut next = 0;
        for d in devices.iter().filter(|d| d.end() <= RAM_BASE) {
            if d.base > next {
                regions.push(region(Device::Unclaimed, next, d.base - next));
            }
            next = d.end();
        }
        if next < RAM_BASE {
            regions.push(region(Device::Unclaimed, next, RAM_BASE - next));
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

    fn find(map: &DeviceMap, device: Device) -> Option<&Region> {
        map.regions().iter().find(|r| r.device == device)
    }

    fn sorted(map: &DeviceMap) -> Vec<Region> {
        let mut r = map.regions().to_vec();
        r.sort_by_key(|r| r.base);
        r
    }

    /// The regions below RAM tile [0, RAM_BASE) exactly.
    fn assert_tiles_device_space(map: &DeviceMap) {
        let mut next = 0;
        for r in sorted(map).iter().filter(|r| r.base < RAM_BASE) {
            assert_eq!(r.base, next, "gap or overlap at {:#x}", r.base);
            assert_eq!(r.base % 4096 + r.size % 4096, 0, "trap not page-aligned");
            next = r.end();
        }
        assert_eq!(next, RAM_BASE);
    }

    #[test]
    fn gicv3_two_cpus() {
        let map = DeviceMap::new(GicVersion::V3, 2, false);
        assert_tiles_device_space(&map);
        let gicr = find(&map, Device::Redistributors).unwrap();
        assert_eq!((gicr.base, gicr.size), (0x080A_0000, 0x4_0000));
        assert_eq!(find(&map, Device::Distributor).unwrap().base, 0x0800_0000);
        assert_eq!(find(&map, Device::Uart).unwrap().base, 0x0900_0000);
        let gaps = map
            .regions()
            .iter()
            .filter(|r| r.device == Device::Unclaimed)
            .count();
        assert_eq!(gaps, 6);
        assert_eq!(find(&map, Device::Rtc).unwrap().base, 0x0901_0000);
        assert_eq!(find(&map, Device::VirtioConsole).unwrap().base, 0x0b00_0000);
        assert_eq!(find(&map, Device::VirtioRng).unwrap().base, 0x0b00_1000);
        assert_eq!(find(&map, Device::VirtioBlk), None, "no disk");
    }

    #[test]
    fn a_disk_gets_the_third_virtio_page_and_spi() {
        let map = DeviceMap::new(GicVersion::V3, 2, true);
        assert_tiles_device_space(&map);
        let blk = find(&map, Device::VirtioBlk).unwrap();
        assert_eq!((blk.base, blk.size), (0x0b00_2000, 0x1000));
        assert_eq!(Device::VirtioBlk.spi(), Some(18));
        assert_eq!(Device::Rtc.spi(), Some(2));
        assert_eq!(Device::Uart.spi(), Some(1));
        assert_eq!(Device::Distributor.spi(), None);
    }

    #[test]
    fn gicv2_distributor_lies_beyond_device_space() {
        let map = DeviceMap::new(GicVersion::V2, 2, true);
        assert_tiles_device_space(&map);
        assert_eq!(find(&map, Device::Redistributors), None);
        let gicd = find(&map, Device::Distributor).unwrap();
        assert_eq!((gicd.base, gicd.size), (GICV2_DIST, 0x1000));
        assert_eq!(gicd.end(), GICV2_CPU);
    }

    #[test]
    fn keys_name_regions() {
        let map = DeviceMap::new(GicVersion::V3, 8, true);
        for (key, r) in map.regions().iter().enumerate() {
            assert_eq!(map.by_key(key as u64), Some(r));
        }
        assert_eq!(map.by_key(map.regions().len() as u64), None);
        assert_eq!(map.by_key(u64::MAX), None);
    }
}

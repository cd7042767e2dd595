//! The guest's device tree, written with `vm-fdt`: memory, CPUs, PSCI, the
//! GIC (v3: distributor and redistributors; v2: distributor and the CPU
//! interface at the hardware GICV frame), the architected timer, the PL011
//! and PL031 with the fixed clock their AMBA probes need, the virtio-mmio
//! devices, and `/chosen`.

use crate::config::Conduit;
use crate::devmap::{self, Device};
use crate::{err, Error};
use alloc::string::ToString;
use alloc::vec::Vec;
use core::ops::Range;
use vm_fdt::FdtWriter;
use zxv_devices::GicVersion;

const GIC_PHANDLE: u32 = 1;
const CLOCK_PHANDLE: u32 = 2;
/// `interrupts` cell 0: SPI or PPI.
const SPI: u32 = 0;
const PPI: u32 = 1;
const IRQ_TYPE_LEVEL_HIGH: u32 = 4;
const IRQ_TYPE_LEVEL_LOW: u32 = 8;
/// The architected timer's PPIs (DT numbering, INTID - 16): secure and
/// non-secure physical, virtual, hypervisor.
const TIMER_PPIS: [u32; 4] = [13, 14, 11, 10];
const UART_CLOCK_HZ: u32 = 24_000_000;
const UART_NODE: &str = "/pl011@9000000";

pub struct GuestDtb<'a> {
    pub cpus: usize,
    pub ram: Range<u64>,
    pub gic: GicVersion,
    pub psci: Conduit,
    pub bootargs: &'a str,
    pub initrd: Option<Range<u64>>,
    /// The guest has a virtio disk.
    pub disk: bool,
}

fn fdt_err(e: vm_fdt::Error) -> Error {
    err!("building the guest DTB: {e}")
}

/// Two-cell address and size pairs, as `reg` wants them here.
fn reg(ranges: &[(u64, u64)]) -> Vec<u64> {
    ranges
        .iter()
        .flat_map(|&(base, size)| [base, size])
        .collect()
}

impl GuestDtb<'_> {
    pub fn build(&self) -> Result<Vec<u8>, Error> {
        self.write().map_err(fdt_err)
    }

    fn write(&self) -> Result<Vec<u8>, vm_fdt::Error> {
        let mut fdt = FdtWriter::new()?;
        let root = fdt.begin_node("")?;
        fdt.property_string("compatible", "zxvisor,guest")?;
        fdt.property_string("model", "zxvisor guest")?;
        fdt.property_u32("#address-cells", 2)?;
        fdt.property_u32("#size-cells", 2)?;
        fdt.property_u32("interrupt-parent", GIC_PHANDLE)?;
        self.chosen(&mut fdt)?;
        let aliases = fdt.begin_node("aliases")?;
        fdt.property_string("serial0", UART_NODE)?;
        fdt.end_node(aliases)?;
        let memory = fdt.begin_node(&alloc::format!("memory@{:x}", self.ram.start))?;
        fdt.property_string("device_type", "memory")?;
        fdt.property_array_u64(
            "reg",
            &reg(&[(self.ram.start, self.ram.end - self.ram.start)]),
        )?;
        fdt.end_node(memory)?;
        self.cpus(&mut fdt)?;
        self.psci(&mut fdt)?;
        self.gic(&mut fdt)?;
        self.timer(&mut fdt)?;
        self.uart(&mut fdt)?;
        self.rtc(&mut fdt)?;
        self.virtio(&mut fdt)?;
        fdt.end_node(root)?;
        fdt.finish()
    }

    fn chosen(&self, fdt: &mut FdtWriter) -> Result<(), vm_fdt::Error> {
        let chosen = fdt.begin_node("chosen")?;
        fdt.property_string("bootargs", self.bootargs)?;
        fdt.property_string("stdout-path", UART_NODE)?;
        if let Some(initrd) = &self.initrd {
            fdt.property_u64("linux,initrd-start", initrd.start)?;
            fdt.property_u64("linux,initrd-end", initrd.end)?;
        }
        fdt.end_node(chosen)
    }

    fn cpus(&self, fdt: &mut FdtWriter) -> Result<(), vm_fdt::Error> {
        let cpus = fdt.begin_node("cpus")?;
        fdt.property_u32("#address-cells", 1)?;
        fdt.property_u32("#size-cells", 0)?;
        // vCPU i has MPIDR Aff0 = i (the monitor's VMPIDR).
        for i in 0..self.cpus as u32 {
            let cpu = fdt.begin_node(&alloc::format!("cpu@{i}"))?;
            fdt.property_string("device_type", "cpu")?;
            fdt.property_string("compatible", "arm,arm-v8")?;
            fdt.property_u32("reg", i)?;
            fdt.property_string("enable-method", "psci")?;
            fdt.end_node(cpu)?;
        }
        fdt.end_node(cpus)
    }

    fn psci(&self, fdt: &mut FdtWriter) -> Result<(), vm_fdt::Error> {
        let psci = fdt.begin_node("psci")?;
        let compatible = ["arm,psci-1.0", "arm,psci-0.2"].map(|s| s.to_string());
        fdt.property_string_list("compatible", compatible.to_vec())?;
        let method = match self.psci {
            Conduit::Hvc => "hvc",
            Conduit::Smc => "smc",
        };
        fdt.property_string("method", method)?;
        fdt.end_node(psci)
    }

    fn gic(&self, fdt: &mut FdtWriter) -> Result<(), vm_fdt::Error> {
        let (name, compatible, regs) = match self.gic {
            GicVersion::V3 => (
                devmap::GICV3_DIST,
                "arm,gic-v3",
                reg(&[
                    (devmap::GICV3_DIST, devmap::GICV3_DIST_SIZE),
                    (
                        devmap::GICV3_REDIST,
                        GicVersion::V3.redistributor_region_size(self.cpus),
                    ),
                ]),
            ),
            GicVersion::V2 => (
                devmap::GICV2_DIST,
                "arm,cortex-a15-gic",
                reg(&[
                    (devmap::GICV2_DIST, devmap::GICV2_DIST_SIZE),
                    (devmap::GICV2_CPU, devmap::GICV2_CPU_SIZE),
                ]),
            ),
        };
        let gic = fdt.begin_node(&alloc::format!("interrupt-controller@{name:x}"))?;
        fdt.property_string("compatible", compatible)?;
        fdt.property_null("interrupt-controller")?;
        fdt.property_u32("#interrupt-cells", 3)?;
        fdt.property_array_u64("reg", &regs)?;
        if self.gic == GicVersion::V3 {
            fdt.property_u32("#redistributor-regions", 1)?;
        }
        fdt.property_phandle(GIC_PHANDLE)?;
        fdt.end_node(gic)
    }

    fn timer(&self, fdt: &mut FdtWriter) -> Result<(), vm_fdt::Error> {
        // GICv2 PPIs name the CPUs they reach in bits 15:8 of the flags.
        let cpu_mask = match self.gic {
            GicVersion::V2 => ((1u32 << self.cpus) - 1) << 8,
            GicVersion::V3 => 0,
        };
        let cells: Vec<u32> = TIMER_PPIS
            .iter()
            .flat_map(|&ppi| [PPI, ppi, cpu_mask | IRQ_TYPE_LEVEL_LOW])
            .collect();
        let timer = fdt.begin_node("timer")?;
        fdt.property_string("compatible", "arm,armv8-timer")?;
        fdt.property_array_u32("interrupts", &cells)?;
        fdt.property_null("always-on")?;
        fdt.end_node(timer)
    }

    fn uart(&self, fdt: &mut FdtWriter) -> Result<(), vm_fdt::Error> {
        let clock = fdt.begin_node("apb-pclk")?;
        fdt.property_string("compatible", "fixed-clock")?;
        fdt.property_u32("#clock-cells", 0)?;
        fdt.property_u32("clock-frequency", UART_CLOCK_HZ)?;
        fdt.property_string("clock-output-names", "clk24mhz")?;
        fdt.property_phandle(CLOCK_PHANDLE)?;
        fdt.end_node(clock)?;
        let uart = fdt.begin_node(&UART_NODE[1..])?;
        let compatible = ["arm,pl011", "arm,primecell"].map(|s| s.to_string());
        fdt.property_string_list("compatible", compatible.to_vec())?;
        fdt.property_array_u64("reg", &reg(&[(devmap::UART, devmap::UART_SIZE)]))?;
        fdt.property_array_u32("interrupts", &[SPI, devmap::UART_SPI, IRQ_TYPE_LEVEL_HIGH])?;
        fdt.property_array_u32("clocks", &[CLOCK_PHANDLE, CLOCK_PHANDLE])?;
        let names = ["uartclk", "apb_pclk"].map(|s| s.to_string());
        fdt.property_string_list("clock-names", names.to_vec())?;
        fdt.end_node(uart)
    }

    fn rtc(&self, fdt: &mut FdtWriter) -> Result<(), vm_fdt::Error> {
        let rtc = fdt.begin_node(&alloc::format!("pl031@{:x}", devmap::RTC))?;
        let compatible = ["arm,pl031", "arm,primecell"].map(|s| s.to_string());
        fdt.property_string_list("compatible", compatible.to_vec())?;
        fdt.property_array_u64("reg", &reg(&[(devmap::RTC, devmap::RTC_SIZE)]))?;
        fdt.property_array_u32("interrupts", &[SPI, devmap::RTC_SPI, IRQ_TYPE_LEVEL_HIGH])?;
        fdt.property_u32("clocks", CLOCK_PHANDLE)?;
        fdt.property_string("clock-names", "apb_pclk")?;
        fdt.end_node(rtc)
    }

    /// One `virtio,mmio` node per virtio device, as QEMU virt describes its transports.
    fn virtio(&self, fdt: &mut FdtWriter) -> Result<(), vm_fdt::Error> {
        let devices = [Device::VirtioConsole, Device::VirtioRng, Device::VirtioBlk];
        for d in devices
            .into_iter()
            .filter(|&d| self.disk || d != Device::VirtioBlk)
        {
            let (Some(slot), Some(spi)) = (d.virtio_slot(), d.spi()) else {
                continue;
            };
            let base = devmap::VIRTIO_BASE + slot * devmap::VIRTIO_SIZE;
            let node = fdt.begin_node(&alloc::format!("virtio_mmio@{base:x}"))?;
            fdt.property_string("compatible", "virtio,mmio")?;
            fdt.property_array_u64("reg", &reg(&[(base, devmap::VIRTIO_SIZE)]))?;
            fdt.property_array_u32("interrupts", &[SPI, spi, IRQ_TYPE_LEVEL_HIGH])?;
            fdt.property_null("dma-coherent")?;
            fdt.end_node(node)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fdt::Fdt;

    fn build(gic: GicVersion, cpus: usize, psci: Conduit) -> Vec<u8> {
        GuestDtb {
            cpus,
            ram: 0x4000_0000..0x5000_0000,
            gic,
            psci,
            bootargs: "console=ttyAMA0 quiet",
            initrd: Some(0x4fc0_0000..0x4fd0_0123),
            disk: gic == GicVersion::V2,
        }
        .build()
        .unwrap()
    }

    fn u32s(value: &[u8]) -> Vec<u32> {
        value
            .chunks(4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn regs(fdt: &Fdt, path: &str) -> Vec<(usize, Option<usize>)> {
        let node = fdt.find_node(path).unwrap_or_else(|| panic!("no {path}"));
        node.reg()
            .unwrap()
            .map(|r| (r.starting_address as usize, r.size))
            .collect()
    }

    #[test]
    fn gicv3_guest() {
        let blob = build(GicVersion::V3, 2, Conduit::Hvc);
        let fdt = Fdt::new(&blob).unwrap();
        assert_eq!(fdt.chosen().bootargs(), Some("console=ttyAMA0 quiet"));
        assert_eq!(fdt.chosen().stdout().unwrap().name, "pl011@9000000");
        let memory: Vec<_> = fdt
            .memory()
            .regions()
            .map(|r| (r.starting_address as usize, r.size))
            .collect();
        assert_eq!(memory, [(0x4000_0000, Some(0x1000_0000))]);
        assert_eq!(
            fdt.cpus().map(|c| c.ids().first()).collect::<Vec<_>>(),
            [0, 1]
        );
        let psci = fdt.find_node("/psci").unwrap();
        assert_eq!(psci.property("method").unwrap().as_str(), Some("hvc"));
        assert!(psci
            .compatible()
            .unwrap()
            .all()
            .any(|c| c == "arm,psci-0.2"));
        let gic = fdt.find_compatible(&["arm,gic-v3"]).unwrap();
        assert_eq!(gic.interrupt_cells(), Some(3));
        assert_eq!(
            regs(&fdt, "/interrupt-controller@8000000"),
            [(0x0800_0000, Some(0x1_0000)), (0x080A_0000, Some(0x4_0000))]
        );
        let timer = fdt.find_compatible(&["arm,armv8-timer"]).unwrap();
        assert_eq!(
            u32s(timer.property("interrupts").unwrap().value),
            [1, 13, 8, 1, 14, 8, 1, 11, 8, 1, 10, 8]
        );
        let uart = fdt.find_compatible(&["arm,pl011"]).unwrap();
        assert_eq!(u32s(uart.property("interrupts").unwrap().value), [0, 1, 4]);
        assert_eq!(u32s(uart.property("clocks").unwrap().value), [2, 2]);
        assert_eq!(
            uart.property("clock-names").unwrap().value,
            b"uartclk\0apb_pclk\0"
        );
        let clock = fdt.find_compatible(&["fixed-clock"]).unwrap();
        assert_eq!(u32s(clock.property("phandle").unwrap().value), [2]);
        assert_eq!(u32s(gic.property("phandle").unwrap().value), [1]);
    }

    #[test]
    fn rtc_and_virtio_devices() {
        let blob = build(GicVersion::V3, 2, Conduit::Hvc);
        let fdt = Fdt::new(&blob).unwrap();
        let rtc = fdt.find_compatible(&["arm,pl031"]).unwrap();
        assert_eq!(u32s(rtc.property("interrupts").unwrap().value), [0, 2, 4]);
        assert_eq!(regs(&fdt, "/pl031@9010000"), [(0x0901_0000, Some(0x1000))]);
        let virtio: Vec<_> = fdt
            .all_nodes()
            .filter(|n| n.name.starts_with("virtio_mmio@"))
            .collect();
        assert_eq!(virtio.len(), 2, "console and rng, no disk");
        assert_eq!(
            regs(&fdt, "/virtio_mmio@b001000"),
            [(0x0b00_1000, Some(0x1000))]
        );
        assert_eq!(
            u32s(virtio[1].property("interrupts").unwrap().value),
            [0, 17, 4]
        );
        let with_disk = build(GicVersion::V2, 2, Conduit::Hvc);
        let fdt = Fdt::new(&with_disk).unwrap();
        let blk = fdt.find_node("/virtio_mmio@b002000").unwrap();
        assert_eq!(u32s(blk.property("interrupts").unwrap().value), [0, 18, 4]);
        assert_eq!(blk.compatible().unwrap().first(), "virtio,mmio");
    }

    #[test]
    fn initrd_in_chosen() {
        let blob = build(GicVersion::V3, 1, Conduit::Hvc);
        let fdt = Fdt::new(&blob).unwrap();
        let chosen = fdt.find_node("/chosen").unwrap();
        let start = chosen.property("linux,initrd-start").unwrap().as_usize();
        let end = chosen.property("linux,initrd-end").unwrap().as_usize();
        assert_eq!((start, end), (Some(0x4fc0_0000), Some(0x4fd0_0123)));
    }

    #[test]
    fn gicv2_guest_with_smc() {
        let blob = build(GicVersion::V2, 2, Conduit::Smc);
        let fdt = Fdt::new(&blob).unwrap();
        assert!(fdt.find_compatible(&["arm,gic-v3"]).is_none());
        assert!(fdt.find_compatible(&["arm,cortex-a15-gic"]).is_some());
        assert_eq!(
            regs(&fdt, "/interrupt-controller@800000000"),
            [(0x8_0000_0000, Some(0x1000)), (0x8_0000_1000, Some(0x2000))]
        );
        let timer = fdt.find_compatible(&["arm,armv8-timer"]).unwrap();
        assert_eq!(u32s(timer.property("interrupts").unwrap().value)[2], 0x308);
        let psci = fdt.find_node("/psci").unwrap();
        assert_eq!(psci.property("method").unwrap().as_str(), Some("smc"));
    }
}

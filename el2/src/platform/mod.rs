//! Platform discovery: everything the monitor needs to know about the machine,
//! read from the devicetree the loader passed in x0 (memory, CPUs and how
//! they start, console, GIC, PSCI conduit or the BCM2835 power-management
//! watchdog, timer interrupts, initrd). Device addresses are CPU physical
//! addresses, translated through bus `ranges` by the `dtb` crate. Pure: it
//! runs before the heap exists (fixed-capacity lists) and is host-tested on
//! QEMU's own DTBs and a synthetic Raspberry Pi 4 one.
//!
//! Its submodules drive the machine's devices and hold the facts and
//! per-CPU state every part of the monitor reads: the console and logger,
//! the GIC (`irq`, `vgic`), the timers, power and the Pi's PM watchdog, the
//! boot facts (`system`), per-CPU state (`percpu`), fatal reports.

pub mod bcm2835_pm;

pub(crate) mod console;
pub(crate) mod fatal;
pub(crate) mod irq;
pub(crate) mod logger;
pub(crate) mod percpu;
pub(crate) mod power;
pub(crate) mod system;
pub(crate) mod timer;
pub(crate) mod vgic;

use crate::mm::range::Range;
use arrayvec::ArrayVec;
use fdt::{node::FdtNode, Fdt};

/// Most CPUs the monitor supports (stacks and per-CPU data are sized by it).
pub const MAX_CPUS: usize = 8;
/// Most memory (or reserved) ranges kept from the DTB.
pub const MAX_RANGES: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    V2 = 2,
    V3 = 3,
}

/// The interrupt controller's register frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gic {
    pub version: GicVersion,
    /// GICD.
    pub distributor: Range,
    /// GICv3: the redistributor region; GICv2: the CPU interface (GICC).
    pub cpu: Range,
    /// GICv2 only: the hypervisor control interface (GICH).
    pub hyp: Option<Range>,
    /// GICv2 only: the virtual CPU interface (GICV).
    pub vcpu: Option<Range>,
}

/// How the monitor reaches the firmware's PSCI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    Smc,
    Hvc,
}

/// How a secondary CPU is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnableMethod {
    Psci,
    /// Write the entry point to this address and `sev`.
    SpinTable(u64),
    /// The boot CPU, or a CPU without a known method.
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu {
    /// MPIDR affinity fields as listed in the DTB `reg`.
    pub mpidr: u64,
    pub enable: EnableMethod,
}

/// Architected timer PPIs (INTIDs, i.e. already offset by 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerIrqs {
    pub phys: u32,
    pub virt: u32,
    pub hyp: u32,
}

/// Why the devicetree cannot be used; its `Display` names the limit and
/// the facts, for the boot's one-line fatal message.
#[derive(Debug, PartialEq, Eq)]
pub enum PlatformError {
    BadDtb,
    NoMemory,
    NoCpus,
    /// `/cpus` lists this many CPUs, more than [`MAX_CPUS`].
    TooManyCpus(usize),
}

impl core::fmt::Display for PlatformError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::BadDtb => f.write_str("not a flattened devicetree (bad header or structure)"),
            Self::NoMemory => f.write_str("the DTB has no memory node with a non-empty `reg`"),
            Self::NoCpus => f.write_str("the DTB lists no CPU under /cpus"),
            Self::TooManyCpus(listed) => write!(
                f,
                "the DTB lists {listed} CPUs; zxvisor supports at most {MAX_CPUS}"
            ),
        }
    }
}

/// The machine, as its devicetree describes it.
#[derive(Debug)]
pub struct Platform<'a> {
    pub model: &'a str,
    pub dtb: Range,
    pub memory: ArrayVec<Range, MAX_RANGES>,
    /// `/memreserve/` entries and `/reserved-memory` children.
    pub reserved: ArrayVec<Range, MAX_RANGES>,
    pub initrd: Option<Range>,
    pub cpus: ArrayVec<Cpu, MAX_CPUS>,
    /// PL011 console registers (from `/chosen/stdout-path`, else the first PL011).
    pub uart: Option<Range>,
    /// The console's UART clock in Hz, when the DTB tells.
    pub uart_clock: Option<u64>,
    /// The BCM2711 GPIO block, when the console is its UART0: the monitor
    /// routes UART0 to the 40-pin header (GPIO 14/15).
    pub header_gpio: Option<Range>,
    pub gic: Option<Gic>,
    pub psci: Option<Conduit>,
    /// BCM2835/BCM2711 power-management block (its watchdog resets the SoC).
    pub pm: Option<Range>,
    pub timer: Option<TimerIrqs>,
}

impl<'a> Platform<'a> {
    /// Parses the devicetree blob located at physical address `dtb_pa`.
    pub fn parse(dtb: &'a [u8], dtb_pa: u64) -> Result<Self, PlatformError> {
        let fdt = Fdt::new(dtb).map_err(|_| PlatformError::BadDtb)?;
        let memory = memory_ranges(&fdt);
        if memory.is_empty() {
            return Err(PlatformError::NoMemory);
        }
        let cpus = cpus(&fdt)?;
        Ok(Self {
            model: fdt
                .find_node("/")
                .and_then(|n| n.property("model"))
                .and_then(|p| p.as_str())
                .unwrap_or("unknown"),
            dtb: Range::new(dtb_pa, fdt.total_size() as u64),
            memory,
            reserved: reserved_ranges(&fdt),
            initrd: initrd(&fdt),
            cpus,
            uart: dtb::console_pl011(&fdt).map(range),
            uart_clock: dtb::console_pl011_node(&fdt).and_then(|n| uart_clock(&fdt, &n)),
            header_gpio: header_gpio(&fdt),
            gic: gic(&fdt),
            psci: psci(&fdt),
            pm: pm(&fdt),
            timer: timer(&fdt),
        })
    }

    /// Index of the CPU whose MPIDR affinity matches `mpidr`.
    pub fn cpu_index(&self, mpidr: u64) -> Option<usize> {
        const AFFINITY: u64 = 0xff_00ff_ffff;
        self.cpus
            .iter()
            .position(|c| c.mpidr & AFFINITY == mpidr & AFFINITY)
    }
}

/// Reads the total size from a DTB header (big-endian u32 at offset 4),
/// so a caller holding only a pointer knows how much to map.
pub fn header_total_size(header: &[u8; 8]) -> Option<usize> {
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    (magic == 0xd00d_feed).then_some(size as usize)
}

fn range(r: dtb::Region) -> Range {
    Range::new(r.base, r.size)
}

/// The node's non-empty `reg` regions, in CPU physical addresses.
fn regs(fdt: &Fdt, node: &FdtNode) -> impl Iterator<Item = Range> {
    dtb::regs(fdt, node)
        .into_iter()
        .filter(|r| r.size != 0)
        .map(range)
}

fn memory_ranges(fdt: &Fdt) -> ArrayVec<Range, MAX_RANGES> {
    let mut out: ArrayVec<Range, MAX_RANGES> =
        dtb::memory(fdt).map(range).take(MAX_RANGES).collect();
    out.sort_unstable_by_key(|r| r.base);
    out
}

fn reserved_ranges(fdt: &Fdt) -> ArrayVec<Range, MAX_RANGES> {
    let from_header = fdt
        .memory_reservations()
        .map(|r| Range::new(r.address() as u64, r.size() as u64));
    let from_nodes = fdt
        .find_node("/reserved-memory")
        .into_iter()
        .flat_map(|n| n.children())
        .flat_map(|n| regs(fdt, &n));
    from_header
        .chain(from_nodes)
        .filter(|r| r.size != 0)
        .take(MAX_RANGES)
        .collect()
}

fn be_uint(bytes: &[u8]) -> Option<u64> {
    match bytes.len() {
        4 => Some(u32::from_be_bytes(bytes.try_into().ok()?) as u64),
        8 => Some(u64::from_be_bytes(bytes.try_into().ok()?)),
        _ => None,
    }
}

fn initrd(fdt: &Fdt) -> Option<Range> {
    let chosen = fdt.find_node("/chosen")?;
    let start = be_uint(chosen.property("linux,initrd-start")?.value)?;
    let end = be_uint(chosen.property("linux,initrd-end")?.value)?;
    (end > start).then(|| Range::new(start, end - start))
}

fn cpus(fdt: &Fdt) -> Result<ArrayVec<Cpu, MAX_CPUS>, PlatformError> {
    let parent = fdt.find_node("/cpus").ok_or(PlatformError::NoCpus)?;
    let mut out = ArrayVec::new();
    let nodes = || {
        parent
            .children()
            .filter(|c| c.name == "cpu" || c.name.starts_with("cpu@"))
    };
    for node in nodes() {
        let Some(mpidr) = node.property("reg").and_then(|p| be_uint(p.value)) else {
            continue;
        };
        let enable = match node.property("enable-method").and_then(|p| p.as_str()) {
            Some("psci") => EnableMethod::Psci,
            Some("spin-table") => node
                .property("cpu-release-addr")
                .and_then(|p| be_uint(p.value))
                .map_or(EnableMethod::None, EnableMethod::SpinTable),
            _ => EnableMethod::None,
        };
        if out.try_push(Cpu { mpidr, enable }).is_err() {
            return Err(PlatformError::TooManyCpus(nodes().count()));
        }
    }
    if out.is_empty() {
        return Err(PlatformError::NoCpus);
    }
    Ok(out)
}

fn gic(fdt: &Fdt) -> Option<Gic> {
    const V2: [&str; 4] = [
        "arm,cortex-a15-gic",
        "arm,gic-400",
        "arm,cortex-a7-gic",
        "arm,arm11mp-gic",
    ];
    if let Some(node) = fdt.find_compatible(&["arm,gic-v3"]) {
        let mut r = regs(fdt, &node);
        return Some(Gic {
            version: GicVersion::V3,
            distributor: r.next()?,
            cpu: r.next()?,
            hyp: None,
            vcpu: None,
        });
    }
    let node = fdt.find_compatible(&V2)?;
    let mut r = regs(fdt, &node);
    Some(Gic {
        version: GicVersion::V2,
        distributor: r.next()?,
        cpu: r.next()?,
        hyp: r.next(),
        vcpu: r.next(),
    })
}

fn psci(fdt: &Fdt) -> Option<Conduit> {
    let node = fdt.all_nodes().find(|n| {
        n.compatible()
            .is_some_and(|c| c.all().any(|s| s.starts_with("arm,psci")))
    })?;
    match node.property("method")?.as_str()? {
        "smc" => Some(Conduit::Smc),
        "hvc" => Some(Conduit::Hvc),
        _ => None,
    }
}

/// The rate of the console's clock: a fixed clock's `clock-frequency`, or
/// 48 MHz from the Raspberry Pi firmware's clocks (the UART clock the
/// firmware sets up, pinned by `init_uart_clock` in the SD image's
/// config.txt).
fn uart_clock(fdt: &Fdt, uart: &FdtNode) -> Option<u64> {
    let phandle = uart.property("clocks")?.value.get(..4)?;
    let clock = fdt.find_phandle(u32::from_be_bytes(phandle.try_into().ok()?))?;
    match clock.property("clock-frequency") {
        Some(rate) => be_uint(rate.value),
        None => dtb::is_compatible(&clock, &["raspberrypi,firmware-clocks"]).then_some(48_000_000),
    }
}

/// The BCM2711 GPIO block when the console is UART0 (the `serial0` alias).
fn header_gpio(fdt: &Fdt) -> Option<Range> {
    let console = dtb::console_pl011_node(fdt)?;
    let uart0 = fdt.find_node("serial0")?;
    if !dtb::same_node(&console, &uart0) {
        return None;
    }
    let gpio = fdt.find_compatible(&["brcm,bcm2711-gpio"])?;
    regs(fdt, &gpio).next()
}

/// The power-management block: its first `reg` ("pm") holds the watchdog
/// (ignored when too small for its registers).
fn pm(fdt: &Fdt) -> Option<Range> {
    let node = fdt.all_nodes().find(|n| {
        dtb::is_enabled(n)
            && dtb::is_compatible(
                n,
                &["brcm,bcm2835-pm-wdt", "brcm,bcm2835-pm", "brcm,bcm2711-pm"],
            )
    })?;
    let frame = regs(fdt, &node).next()?;
    let needed = core::mem::size_of::<crate::platform::bcm2835_pm::PmRegs>() as u64;
    (frame.size >= needed).then_some(frame)
}

fn timer(fdt: &Fdt) -> Option<TimerIrqs> {
    let node = fdt.find_compatible(&["arm,armv8-timer", "arm,armv7-timer"])?;
    let cells = node.property("interrupts")?.value;
    // Four interrupts of three cells (type, number, flags): secure phys,
    // non-secure phys, virt, hyp. PPI numbers are offset by 16.
    let ppi = |i: usize| -> Option<u32> {
        let at = (i * 3 + 1) * 4;
        Some(u32::from_be_bytes(cells.get(at..at + 4)?.try_into().ok()?) + 16)
    };
    Some(TimerIrqs {
        phys: ppi(1)?,
        virt: ppi(2)?,
        hyp: ppi(3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V3: &[u8] = include_bytes!("../../testdata/virt-gicv3-smp4.dtb");
    const V2: &[u8] = include_bytes!("../../testdata/virt-gicv2-smp2.dtb");

    #[test]
    fn virt_gicv3() {
        let p = Platform::parse(V3, 0x4800_1000).unwrap();
        assert_eq!(p.memory.as_slice(), &[Range::new(0x4000_0000, 0x4000_0000)]);
        assert_eq!(p.cpus.len(), 4);
        assert_eq!(
            p.cpus[3],
            Cpu {
                mpidr: 3,
                enable: EnableMethod::Psci
            }
        );
        assert_eq!(p.cpu_index(0x8000_0002), Some(2));
        assert_eq!(p.cpu_index(7), None);
        assert_eq!(p.uart, Some(Range::new(0x0900_0000, 0x1000)));
        assert_eq!(p.uart_clock, Some(24_000_000));
        assert_eq!(p.header_gpio, None);
        let gic = p.gic.unwrap();
        assert_eq!(gic.version, GicVersion::V3);
        assert_eq!(gic.distributor, Range::new(0x0800_0000, 0x1_0000));
        assert_eq!(gic.cpu, Range::new(0x080a_0000, 0xf6_0000));
        assert_eq!(p.psci, Some(Conduit::Smc));
        assert_eq!(
            p.timer,
            Some(TimerIrqs {
                phys: 30,
                virt: 27,
                hyp: 26
            })
        );
        assert_eq!(p.initrd, Some(Range::new(0x4800_0000, 3)));
        assert_eq!(p.dtb, Range::new(0x4800_1000, V3.len() as u64));
    }

    #[test]
    fn virt_gicv2() {
        let p = Platform::parse(V2, 0).unwrap();
        assert_eq!(p.cpus.len(), 2);
        let gic = p.gic.unwrap();
        assert_eq!(gic.version, GicVersion::V2);
        assert_eq!(gic.cpu, Range::new(0x0801_0000, 0x1_0000));
        assert_eq!(gic.hyp, Some(Range::new(0x0803_0000, 0x1_0000)));
        assert_eq!(gic.vcpu, Some(Range::new(0x0804_0000, 0x1_0000)));
        assert_eq!(p.initrd, None);
        assert_eq!(p.pm, None);
    }

    /// The parts of the Raspberry Pi 4 devicetree the monitor reads, as the
    /// firmware hands it over: peripherals behind /soc's `ranges`, spin-table
    /// CPUs, RAM in two ranges and the spin-table page reserved.
    fn pi4() -> Vec<u8> {
        let mut b = dtb::builder::Builder::new();
        b.reservations.push((0, 0x1000));
        b.begin("")
            .prop("model", b"Raspberry Pi 4 Model B Rev 1.4\0")
            .bcm2711_root()
            .begin("memory@0")
            .prop("device_type", b"memory\0")
            .cells("reg", &[0, 0, 0x3b40_0000, 0, 0x4000_0000, 0x4000_0000])
            .end()
            .begin("cpus")
            .cells("#address-cells", &[1])
            .cells("#size-cells", &[0]);
        for cpu in 0..4u32 {
            b.begin(&format!("cpu@{cpu}"))
                .prop("device_type", b"cpu\0")
                .cells("reg", &[cpu])
                .prop("enable-method", b"spin-table\0")
                .cells("cpu-release-addr", &[0, 0xd8 + 8 * cpu])
                .end();
        }
        b.end().bcm2711_soc().end();
        b.build()
    }

    #[test]
    fn raspberry_pi_4() {
        let blob = pi4();
        let p = Platform::parse(&blob, 0x2eff_2000).unwrap();
        assert_eq!(p.model, "Raspberry Pi 4 Model B Rev 1.4");
        assert_eq!(
            p.memory.as_slice(),
            &[
                Range::new(0, 0x3b40_0000),
                Range::new(0x4000_0000, 0x4000_0000)
            ]
        );
        assert_eq!(p.reserved.as_slice(), &[Range::new(0, 0x1000)]);
        assert_eq!(p.cpus.len(), 4);
        assert_eq!(p.cpus[3].enable, EnableMethod::SpinTable(0xf0));
        assert_eq!(p.uart, Some(Range::new(0xfe20_1000, 0x200)));
        assert_eq!(p.uart_clock, Some(48_000_000));
        assert_eq!(p.header_gpio, Some(Range::new(0xfe20_0000, 0xb4)));
        assert_eq!(p.pm, Some(Range::new(0xfe10_0000, 0x114)));
        assert_eq!(p.psci, None);
        let gic = p.gic.unwrap();
        assert_eq!(gic.version, GicVersion::V2);
        assert_eq!(gic.distributor, Range::new(0xff84_1000, 0x1000));
        assert_eq!(gic.cpu, Range::new(0xff84_2000, 0x2000));
        assert_eq!(gic.hyp, Some(Range::new(0xff84_4000, 0x2000)));
        assert_eq!(gic.vcpu, Some(Range::new(0xff84_6000, 0x2000)));
    }

    #[test]
    fn a_pm_block_too_small_for_the_watchdog_is_ignored() {
        let mut blob = pi4();
        let reg = [0x7e10_0000u32.to_be_bytes(), 0x114u32.to_be_bytes()].concat();
        let at = blob.windows(8).position(|w| w == reg).unwrap();
        blob[at + 4..at + 8].copy_from_slice(&0x20u32.to_be_bytes());
        let p = Platform::parse(&blob, 0x2eff_2000).unwrap();
        assert_eq!(p.pm, None, "0x20 bytes cannot hold PM_WDOG at 0x24");
    }

    /// A QEMU virt-like DTB with `count` PSCI CPUs and 1 GiB of RAM.
    fn virt_with_cpus(count: u32) -> Vec<u8> {
        let mut b = dtb::builder::Builder::new();
        b.begin("")
            .cells("#address-cells", &[2])
            .cells("#size-cells", &[2])
            .begin("memory@40000000")
            .prop("device_type", b"memory\0")
            .cells("reg", &[0, 0x4000_0000, 0, 0x4000_0000])
            .end()
            .begin("cpus")
            .cells("#address-cells", &[1])
            .cells("#size-cells", &[0]);
        for cpu in 0..count {
            b.begin(&format!("cpu@{cpu}"))
                .prop("device_type", b"cpu\0")
                .cells("reg", &[cpu])
                .prop("enable-method", b"psci\0")
                .end();
        }
        b.end().end();
        b.build()
    }

    #[test]
    fn too_many_cpus_names_the_count_and_the_limit() {
        let eight = virt_with_cpus(8);
        assert_eq!(Platform::parse(&eight, 0).unwrap().cpus.len(), MAX_CPUS);
        let e = Platform::parse(&virt_with_cpus(9), 0).unwrap_err();
        assert_eq!(e, PlatformError::TooManyCpus(9));
        assert_eq!(
            e.to_string(),
            "the DTB lists 9 CPUs; zxvisor supports at most 8"
        );
        let e = Platform::parse(&virt_with_cpus(12), 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the DTB lists 12 CPUs; zxvisor supports at most 8"
        );
    }

    #[test]
    fn every_platform_error_says_what_is_wrong() {
        assert_eq!(
            PlatformError::BadDtb.to_string(),
            "not a flattened devicetree (bad header or structure)"
        );
        assert_eq!(
            Platform::parse(&virt_with_cpus(0), 0)
                .unwrap_err()
                .to_string(),
            "the DTB lists no CPU under /cpus"
        );
        let mut b = dtb::builder::Builder::new();
        b.begin("").begin("cpus").end().end();
        assert_eq!(
            Platform::parse(&b.build(), 0).unwrap_err().to_string(),
            "the DTB has no memory node with a non-empty `reg`"
        );
    }

    #[test]
    fn rejects_garbage_and_reads_header() {
        assert_eq!(
            Platform::parse(&[0u8; 64], 0).unwrap_err(),
            PlatformError::BadDtb
        );
        assert_eq!(
            header_total_size(V3[..8].try_into().unwrap()),
            Some(V3.len())
        );
        assert_eq!(header_total_size(&[0; 8]), None);
    }
}

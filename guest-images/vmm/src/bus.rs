//! The guest's devices behind its MEM traps: the GIC distributor and
//! redistributors, the PL011, the PL031 and the virtio-mmio console, rng and
//! disk (zxv-devices models), and unclaimed device space. A trapped access goes to its model; the interrupts the model
//! makes deliverable are injected with `zx_vcpu_interrupt`; the UART's
//! output goes to the real console (line by line or byte for byte, see
//! guest_console; printed after the UART's lock is let go) and its input
//! comes from the real UART, or from it through the virtio console once the
//! guest's driver runs it (`hvc0`). The virtio console's output joins the
//! PL011's on the guest console.

use crate::devmap::{self, Device, Region};
use crate::disk::Disk;
use crate::entropy::Entropy;
use crate::guest_console::{GuestConsole, Mode, Text, HISTORY, LINE_MAX};
use crate::guest_ram::GuestRam;
use crate::unclaimed::{Note, PageLog, REPORTED_PAGES};
use crate::{output, ticks, vcpus, vm};
use arrayvec::{ArrayString, ArrayVec};
use core::sync::atomic::{AtomicBool, Ordering};
use el1rt::console;
use syscalls::hypervisor::TIMER_PPI_MASK;
use syscalls::port::PacketGuestMem;
use zxv_devices::virtio::{Blk, Console, MmioTransport, Rng, VirtioDevice};
use zxv_devices::{Deliveries, Gic, GicVersion, Pl011, Pl011Effect, Pl031, PrivateStatus};

const UART_INTID: u32 = 32 + devmap::UART_SPI;
/// The guest's PL011 starts as firmware leaves it: on, 115200 8N1 from the
/// DTB's 24 MHz clock (Linux's console takes its settings from there).
const UART_CLOCK_HZ: u32 = 24_000_000;
const UART_BAUD: u32 = 115_200;

pub struct Devices {
    name: &'static str,
    /// The guest console's line prefix, to print without the UART's lock.
    prefix: ArrayString<24>,
    gic: Gic,
    uart: spin::Mutex<Uart>,
    rtc: spin::Mutex<Pl031>,
    ram: GuestRam,
    console: spin::Mutex<Virtio<HvcConsole>>,
    rng: spin::Mutex<Virtio<Rng<Entropy>>>,
    disk: Option<spin::Mutex<Virtio<Blk<Disk>>>>,
    /// Console input read from the real UART and not yet taken by the virtio console.
    input: spin::Mutex<ArrayVec<u8, 64>>,
    /// Pages of unclaimed device space already reported.
    unclaimed: PageLog,
}

/// A virtio device on its transport, with its interrupt line's level as last given to the
/// GIC and whether its first failure was reported.
pub struct Virtio<D> {
    transport: MmioTransport<D>,
    line: bool,
    reported: AtomicBool,
}

impl<D: VirtioDevice> Virtio<D> {
    fn new(device: D) -> spin::Mutex<Self> {
        spin::Mutex::new(Virtio {
            transport: MmioTransport::new(device),
            line: false,
            reported: AtomicBool::new(false),
        })
    }
}

/// The virtio console, its output going to [`console_output`].
type HvcConsole = Console<fn(&[u8])>;

/// What the guest transmits on the virtio console.
fn console_output(bytes: &[u8]) {
    vm::get().devices.guest_text(bytes);
}

struct Uart {
    model: Pl011,
    console: GuestConsole,
    /// The interrupt line's level as last given to the GIC.
    line: bool,
    /// The guest transmitted since the last tick.
    busy: bool,
}

pub struct DeviceSetup {
    pub name: &'static str,
    pub console: Mode,
    pub gic: GicVersion,
    pub cpus: usize,
    pub ram: GuestRam,
    /// The disk and whether it is read-only.
    pub disk: Option<(Disk, bool)>,
    /// The PL031's reading at boot (seconds since 1970).
    pub time: u32,
}

impl Devices {
    pub fn new(setup: DeviceSetup) -> Self {
        let DeviceSetup {
            name,
            console,
            gic,
            cpus,
            ram,
            disk,
            time,
        } = setup;
        let entropy = Entropy::new();
        report!("vmm: guest {name}: virtio-rng from {}", entropy.source());
        let console = GuestConsole::new(name, console);
        Devices {
            name,
            prefix: console.prefix(),
            gic: Gic::new(gic, cpus),
            uart: spin::Mutex::new(Uart {
                model: Pl011::with_firmware_setup(UART_CLOCK_HZ, UART_BAUD),
                console,
                line: false,
                busy: false,
            }),
            rtc: spin::Mutex::new(Pl031::new(time)),
            ram,
            console: Virtio::new(Console::new(console_output as fn(&[u8]))),
            rng: Virtio::new(Rng::new(entropy)),
            disk: disk.map(|(d, read_only)| Virtio::new(Blk::new(d, read_only))),
            input: spin::Mutex::new(ArrayVec::new()),
            unclaimed: PageLog::new(),
        }
    }

    /// A trapped access to a virtio device's register page.
    fn virtio<D: VirtioDevice>(
        &self,
        device: Device,
        slot: &spin::Mutex<Virtio<D>>,
        offset: u64,
        mem: &PacketGuestMem,
        out: &mut Deliveries,
    ) -> u64 {
        let mut v = slot.lock();
        let value = if mem.read() {
            v.transport.read(offset, mem.access_size)
        } else {
            v.transport
                .write(offset, mem.access_size, mem.data, &self.ram);
            0
        };
        self.virtio_line(device, &mut v, out);
        value
    }

    /// Passes a virtio device's interrupt line to the GIC, and reports its first failure.
    fn virtio_line<D: VirtioDevice>(
        &self,
        device: Device,
        v: &mut Virtio<D>,
        out: &mut Deliveries,
    ) {
        if let Some(e) = v.transport.take_error() {
            if !v.reported.swap(true, Ordering::Relaxed) {
                report!(
                    "vmm: guest {}: {} needs a reset (DEVICE_NEEDS_RESET): {e:?} (reported once)",
                    self.name,
                    device.name()
                );
            }
        }
        let line = v.transport.line();
        if line != v.line {
            v.line = line;
            if let Some(spi) = device.spi() {
                self.gic.set_level(32 + spi, line, out);
            }
        }
    }

    /// Text the guest wrote on the virtio console, on the guest console like the PL011's.
    fn guest_text(&self, bytes: &[u8]) {
        for &byte in bytes {
            self.with_uart(|uart, text| {
                let _ = uart.console.push(byte, text);
                uart.busy = true;
            });
        }
    }

    /// Carries out a trapped access by `vcpu` to `region`; returns the
    /// value of a read (0 for a write).
    pub fn access(&self, vcpu: usize, region: &Region, mem: &PacketGuestMem) -> u64 {
        let offset = mem.addr - region.base;
        let size = mem.access_size;
        let mut out = Deliveries::new();
        let value = match (region.device, mem.read()) {
            (Device::Distributor, true) => self.gic.distributor_read(vcpu, offset, size),
            (Device::Distributor, false) => {
                self.gic
                    .distributor_write(vcpu, offset, size, mem.data, &mut out);
                0
            }
            (Device::Redistributors, true) => self.gic.redistributor_read(vcpu, offset, size),
            (Device::Redistributors, false) => {
                self.gic
                    .redistributor_write(vcpu, offset, size, mem.data, &mut out);
                0
            }
            (Device::Uart, true) => self.with_uart(|uart, text| {
                let (value, effect) = uart.model.read(offset, size);
                self.uart_effect(uart, effect, &mut out, text);
                value
            }),
            (Device::Uart, false) => self.with_uart(|uart, text| {
                let effect = uart.model.write(offset, size, mem.data);
                self.uart_effect(uart, effect, &mut out, text);
                0
            }),
            (Device::Rtc, true) => self.rtc.lock().read(offset, size, ticks::seconds()),
            (Device::Rtc, false) => {
                self.rtc
                    .lock()
                    .write(offset, size, mem.data, ticks::seconds());
                0
            }
            (Device::VirtioConsole, _) => {
                self.virtio(region.device, &self.console, offset, mem, &mut out)
            }
            (Device::VirtioRng, _) => self.virtio(region.device, &self.rng, offset, mem, &mut out),
            (Device::VirtioBlk, _) => match &self.disk {
                Some(disk) => self.virtio(region.device, disk, offset, mem, &mut out),
                None => 0,
            },
            (Device::Unclaimed, read) => {
                let what = if read { "read" } else { "write" };
                match self.unclaimed.note(mem.addr) {
                    Note::NewPage => report!(
                        "vmm: guest {}: {what} of unclaimed device space at {:#x} (reads 0, writes ignored; once per page)",
                        self.name, mem.addr
                    ),
                    Note::Limit => report!(
                        "vmm: guest {}: {what} of unclaimed device space at {:#x}; further unclaimed accesses are not reported (after {REPORTED_PAGES} pages)",
                        self.name, mem.addr
                    ),
                    Note::Quiet => {}
                }
                0
            }
        };
        deliver(&out);
        match region.device {
            Device::Distributor | Device::Redistributors => {
                self.timer_ppis(vcpu, region, mem, value)
            }
            _ => value,
        }
    }

    /// The guest timers' interrupts live in the monitor (docs/abi.md §6):
    /// a read of the vCPU's own pending or active word gets their bits from
    /// there, and a write that changed its enables passes them on.
    fn timer_ppis(&self, vcpu: usize, region: &Region, mem: &PacketGuestMem, value: u64) -> u64 {
        if !mem.read() {
            vcpus::timer_enables_changed(vcpu, self.timer_enables(vcpu));
            return value;
        }
        let redistributor = region.device == Device::Redistributors;
        let offset = mem.addr - region.base;
        match self
            .gic
            .private_status(redistributor, vcpu, offset, mem.access_size)
        {
            Some(PrivateStatus::Pending) => {
                value | u64::from(vcpus::timer_status(vcpu).pending & TIMER_PPI_MASK)
            }
            Some(PrivateStatus::Active) => {
                value | u64::from(vcpus::timer_status(vcpu).active & TIMER_PPI_MASK)
            }
            None => value,
        }
    }

    /// The timer PPIs vCPU `vcpu` has enabled in the model.
    pub fn timer_enables(&self, vcpu: usize) -> u32 {
        self.gic.private_enabled(vcpu) & TIMER_PPI_MASK
    }

    /// Runs `f` on the UART under its lock, then prints the guest console
    /// text it wrote, in order with every other CPU's output but after the
    /// UART's lock is let go.
    fn with_uart<R>(&self, f: impl FnOnce(&mut Uart, &mut Text) -> R) -> R {
        let mut uart = self.uart.lock();
        let continues = uart.console.is_open();
        let mode = uart.console.mode();
        let mut text = Text::new();
        let result = f(&mut uart, &mut text);
        let mut real = output::lock();
        drop(uart);
        real.guest(&self.prefix, text.as_bytes(), continues, mode);
        result
    }

    fn uart_effect(
        &self,
        uart: &mut Uart,
        effect: Pl011Effect,
        out: &mut Deliveries,
        text: &mut Text,
    ) {
        if let Some(byte) = effect.tx {
            let _ = uart.console.push(byte, text);
            uart.busy = true;
        }
        if effect.line != uart.line {
            uart.line = effect.line;
            self.gic.set_level(UART_INTID, effect.line, out);
        }
    }

    /// A GICv3 guest's SGI (ICC_SGI1R_EL1, reported in a packet).
    pub fn sgi(&self, from: usize, targets: u64, intid: u32) {
        let mut out = Deliveries::new();
        self.gic.send_sgi(from, targets, intid, &mut out);
        deliver(&out);
    }

    /// Once per host tick: passes what the real UART received to the
    /// guest's (as far as its FIFO has room; the rest waits in the real
    /// one), and prints a line the guest left open and has not added to
    /// since the last tick (a prompt).
    pub fn tick(&self) {
        let mut out = Deliveries::new();
        let to_virtio = self.virtio_input(&mut out);
        self.with_uart(|uart, text| {
            while !to_virtio && uart.model.rx_space() > 0 {
                let Some(byte) = console::read_byte() else {
                    break;
                };
                let effect = uart.model.receive(byte);
                self.uart_effect(uart, effect, &mut out, text);
            }
            if !uart.busy && uart.console.has_pending() {
                let _ = uart.console.flush(text);
            }
            uart.busy = false;
        });
        deliver(&out);
    }

    /// Gives the virtio console what the real UART received, once the guest's driver runs
    /// it; returns whether it does (then the PL011 gets no input).
    fn virtio_input(&self, out: &mut Deliveries) -> bool {
        let mut v = self.console.lock();
        if !v.transport.running() {
            return false;
        }
        let mut input = self.input.lock();
        while !input.is_full() {
            let Some(byte) = console::read_byte() else {
                break;
            };
            input.push(byte);
        }
        if !input.is_empty() {
            let mut taken = 0;
            let pending: ArrayVec<u8, 64> = input.clone();
            v.transport.with_device(&self.ram, |_, queues, mem| {
                HvcConsole::receive(queues, mem, &pending, &mut taken)
            });
            input.drain(..taken);
        }
        drop(input);
        self.virtio_line(Device::VirtioConsole, &mut v, out);
        true
    }

    /// Prints the guest's last lines (the open one included), for a report.
    /// Each line is copied out under the UART's lock and printed after it,
    /// one at a time (the boot CPU's stack has little room to spare here).
    pub fn last_lines(&self) {
        self.flush_open_line();
        report!("");
        report!("vmm: guest {}: its last console lines:", self.name);
        for n in 0..=HISTORY {
            let uart = self.uart.lock();
            let line = uart
                .console
                .last_lines()
                .nth(n)
                .and_then(|l| ArrayString::<LINE_MAX>::from(l).ok());
            drop(uart);
            let Some(line) = line else { break };
            report!("    | {line}");
        }
    }

    /// Prints what the guest's open line holds, so that nothing it wrote
    /// is missing above a report (which ends the line).
    pub fn flush_open_line(&self) {
        self.with_uart(|uart, text| {
            let _ = uart.console.flush(text);
        });
    }
}

fn deliver(out: &Deliveries) {
    for d in out {
        vcpus::interrupt(d.vcpu, d.intid);
    }
}

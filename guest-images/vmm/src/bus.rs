//! The guest's devices behind its MEM traps: the GIC distributor and
//! redistributors, the PL011, the PL031 and the virtio-mmio console, rng,
//! disk and network (zxv-devices models), and unclaimed device space. A trapped access goes to its model; the interrupts the model
//! makes deliverable are injected with `zx_vcpu_interrupt`; the UART's
//! output goes to the real console (line by line or byte for byte, see
//! guest_console; printed after the UART's lock is let go) and its input
//! comes from the real UART, or from it through the virtio console once the
//! guest's driver runs it (`hvc0`). The virtio console's output joins the
//! PL011's on the guest console. The network device is switched to the
//! machine's (host_net): the frames the guest transmits go out as it
//! notifies, and the frames the machine's device received come in on each
//! tick and whenever the guest notifies its network device (dropped and
//! counted when the guest has no receive buffer for them).

use crate::devmap::{self, Device, Region};
use crate::disk::Disk;
use crate::entropy::Entropy;
use crate::guest_console::{GuestConsole, Mode, Text, HISTORY, LINE_MAX};
use crate::guest_net::{NetSetup, Network, Output};
use crate::guest_ram::GuestRam;
use crate::unclaimed::{Note, PageLog, REPORTED_PAGES};
use crate::{output, ticks, vcpus, vm};
use alloc::boxed::Box;
use arrayvec::{ArrayString, ArrayVec};
use core::sync::atomic::{AtomicBool, Ordering};
use syscalls::hypervisor::TIMER_PPI_MASK;
use syscalls::port::PacketGuestMem;
use zxv_devices::virtio::{Blk, Console, MmioTransport, Net, Rng, VirtioDevice, DEFAULT_MAC};
use zxv_devices::{Deliveries, Gic, GicVersion, Pl011, Pl011Effect, Pl031, PrivateStatus};

const UART_INTID: u32 = 32 + devmap::UART_SPI;
/// virtio-mmio's QueueNotify register.
const NOTIFY: u64 = 0x050;
/// The guest's PL011 starts as firmware leaves it: on, 115200 8N1 from the
/// DTB's 24 MHz clock (Linux's console takes its settings from there).
const UART_CLOCK_HZ: u32 = 24_000_000;
const UART_BAUD: u32 = 115_200;

pub struct Devices {
    /// The guest's number (vm.rs), for its vCPUs.
    guest: usize,
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
    net: Option<Network>,
    /// Console input read from the real UART and not yet taken by the virtio console.
    input: spin::Mutex<ArrayVec<u8, 64>>,
    /// Pages of unclaimed device space already reported.
    unclaimed: PageLog,
}

/// A virtio device on its transport, with its interrupt line's level as last given to the
/// GIC and whether its first failure was reported.
pub struct Virtio<D> {
    pub transport: MmioTransport<D>,
    line: bool,
    reported: AtomicBool,
}

impl<D: VirtioDevice> Virtio<D> {
    pub fn new(device: D) -> spin::Mutex<Self> {
        spin::Mutex::new(Virtio {
            transport: MmioTransport::new(device),
            line: false,
            reported: AtomicBool::new(false),
        })
    }
}

/// The virtio console, its output going to the guest console.
type HvcConsole = Console<Output>;

struct Uart {
    model: Pl011,
    console: GuestConsole,
    /// The interrupt line's level as last given to the GIC.
    line: bool,
    /// The guest transmitted since the last tick.
    busy: bool,
}

pub struct DeviceSetup {
    pub guest: usize,
    pub name: &'static str,
    pub console: Mode,
    pub gic: GicVersion,
    pub cpus: usize,
    pub ram: GuestRam,
    /// The disk and whether it is read-only.
    pub disk: Option<(Disk, bool)>,
    /// What the guest's network is switched to, if it has one.
    pub net: Option<NetSetup>,
    /// The PL031's reading at boot (seconds since 1970).
    pub time: u32,
}

impl Devices {
    pub fn new(setup: DeviceSetup) -> Self {
        let DeviceSetup {
            guest,
            name,
            console,
            gic,
            cpus,
            ram,
            disk,
            net,
            time,
        } = setup;
        let entropy = Entropy::new();
        report!("vmm: guest {name}: virtio-rng from {}", entropy.source());
        let console = GuestConsole::new(name, console);
        let console_output: Output =
            Box::new(move |bytes| vm::guest(guest).devices.guest_text(bytes));
        let net_output: Output =
            Box::new(move |frame| vm::guest(guest).devices.net_transmit(frame));
        Devices {
            guest,
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
            console: Virtio::new(Console::new(console_output)),
            rng: Virtio::new(Rng::new(entropy)),
            disk: disk.map(|(d, read_only)| Virtio::new(Blk::new(d, read_only))),
            net: net.map(|setup| Network::new(setup, Net::new(mac(guest), net_output))),
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

    /// A frame the guest transmitted.
    fn net_transmit(&self, frame: &[u8]) {
        if let Some(net) = &self.net {
            net.transmit(frame);
        }
    }

    /// Puts the frames waiting for the guest into its network device's receive buffers.
    fn net_receive(&self, net: &Network, out: &mut Deliveries) {
        let mut v = net.device.lock();
        net.receive(&mut v, &self.ram);
        self.virtio_line(Device::VirtioNet, &mut v, out);
    }

    /// After an access by one of the guest's vCPUs, outside [`Devices::access`]'s frame
    /// (which holds a [`Deliveries`]): the guests the switch queued the guest's frames for
    /// get them now.
    #[inline(never)]
    pub fn hand_over(&self) {
        let Some(net) = &self.net else { return };
        for g in net.take_receivers() {
            let devices = &vm::guest(g).devices;
            if let Some(theirs) = &devices.net {
                let mut out = Deliveries::new();
                devices.net_receive(theirs, &mut out);
                devices.deliver(&out);
            }
        }
    }

    /// Reports what the guest's network carried and dropped, for the end of the run.
    pub fn net_report(&self) {
        if let Some(net) = &self.net {
            net.report(self.name);
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
    /// value of a read (0 for a write). Frames the guest transmitted to
    /// other guests wait for [`Devices::hand_over`].
    #[inline(never)]
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
            (Device::VirtioNet, read) => match &self.net {
                Some(net) => {
                    let value = self.virtio(region.device, &net.device, offset, mem, &mut out);
                    // A notify: transmitted frames went out, or receive buffers came in.
                    if !read && offset == NOTIFY {
                        self.net_receive(net, &mut out);
                    }
                    value
                }
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
        self.deliver(&out);
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
        let g = vm::guest(self.guest);
        if !mem.read() {
            vcpus::timer_enables_changed(g, vcpu, self.timer_enables(vcpu));
            return value;
        }
        let redistributor = region.device == Device::Redistributors;
        let offset = mem.addr - region.base;
        match self
            .gic
            .private_status(redistributor, vcpu, offset, mem.access_size)
        {
            Some(PrivateStatus::Pending) => {
                value | u64::from(vcpus::timer_status(g, vcpu).pending & TIMER_PPI_MASK)
            }
            Some(PrivateStatus::Active) => {
                value | u64::from(vcpus::timer_status(g, vcpu).active & TIMER_PPI_MASK)
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
        real.guest(self.guest, &self.prefix, text.as_bytes(), continues, mode);
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

    /// A GICv3 guest's SGI (ICC_SGI1R_EL1, reported in a packet). Not inlined, as none of
    /// the calls that hold a [`Deliveries`] is: the run loop's frame stays small.
    #[inline(never)]
    pub fn sgi(&self, from: usize, targets: u64, intid: u32) {
        let mut out = Deliveries::new();
        self.gic.send_sgi(from, targets, intid, &mut out);
        self.deliver(&out);
    }

    /// Once per host tick: passes what the machine's network device received
    /// to the guest's (so a guest idle in WFI gets it too), the console input
    /// `input` gives to the guest's UART (as far as its FIFO has room; the
    /// rest waits in the real one), and prints a line the guest left open
    /// and has not added to since the last tick (a prompt).
    #[inline(never)]
    pub fn tick(&self, input: &mut dyn FnMut() -> Option<u8>) {
        let mut out = Deliveries::new();
        if let Some(net) = &self.net {
            self.net_receive(net, &mut out);
        }
        let to_virtio = self.virtio_input(input, &mut out);
        self.with_uart(|uart, text| {
            while !to_virtio && uart.model.rx_space() > 0 {
                let Some(byte) = input() else {
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
        self.deliver(&out);
    }

    /// Gives the virtio console the console input `input` gives, once the guest's driver
    /// runs it; returns whether it does (then the PL011 gets no input).
    fn virtio_input(&self, input_of: &mut dyn FnMut() -> Option<u8>, out: &mut Deliveries) -> bool {
        let mut v = self.console.lock();
        if !v.transport.running() {
            return false;
        }
        let mut input = self.input.lock();
        while !input.is_full() {
            let Some(byte) = input_of() else {
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

impl Devices {
    /// Injects the interrupts a model made deliverable into the guest's vCPUs.
    fn deliver(&self, out: &Deliveries) {
        let g = vm::guest(self.guest);
        for d in out {
            vcpus::interrupt(g, d.vcpu, d.intid);
        }
    }

    /// Puts every device back as at power-on, for a restart of the guest
    /// (no vCPU of it runs): the GIC, the UART, the virtio transports (as a
    /// driver's reset does; a disk keeps what was written) and the console
    /// input not yet taken. The clock runs on.
    pub fn reset(&self) {
        {
            let mut uart = self.uart.lock();
            uart.model = Pl011::with_firmware_setup(UART_CLOCK_HZ, UART_BAUD);
            uart.line = false;
        }
        reset_virtio(&self.console);
        reset_virtio(&self.rng);
        if let Some(disk) = &self.disk {
            reset_virtio(disk);
        }
        if let Some(net) = &self.net {
            reset_virtio(&net.device);
        }
        self.input.lock().clear();
        // Last: another guest's hand-over may still reach the network
        // device until its reset above, and a line it raised at the GIC
        // in between would stay high for the new life.
        self.gic.reset();
    }
}

/// Guest `guest`'s MAC address: the devices' default, its last byte counting
/// the guests, so that the guests on a switch differ.
pub fn mac(guest: usize) -> [u8; 6] {
    let mut mac = DEFAULT_MAC;
    mac[5] = mac[5].wrapping_add(guest as u8);
    mac
}

fn reset_virtio<D: VirtioDevice>(slot: &spin::Mutex<Virtio<D>>) {
    let mut v = slot.lock();
    v.transport.reset();
    v.line = false;
    v.reported.store(false, Ordering::Relaxed);
}

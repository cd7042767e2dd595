//! The guest's devices behind its MEM traps: the GIC distributor and
//! redistributors and the PL011 (zxv-devices models), and unclaimed device
//! space. A trapped access goes to its model; the interrupts the model
//! makes deliverable are injected with `zx_vcpu_interrupt`; the UART's
//! output goes to the real console (line by line or byte for byte, see
//! guest_console; printed after the UART's lock is let go) and its input
//! comes from the real UART.

use crate::devmap::{self, Device, Region};
use crate::guest_console::{GuestConsole, Mode, Text, HISTORY, LINE_MAX};
use crate::unclaimed::{Note, PageLog, REPORTED_PAGES};
use crate::{output, vcpus};
use arrayvec::ArrayString;
use el1rt::console;
use syscalls::hypervisor::TIMER_PPI_MASK;
use syscalls::port::PacketGuestMem;
use zxv_devices::{Deliveries, Gic, GicVersion, Pl011, Pl011Effect, PrivateStatus};

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
    /// Pages of unclaimed device space already reported.
    unclaimed: PageLog,
}

struct Uart {
    model: Pl011,
    console: GuestConsole,
    /// The interrupt line's level as last given to the GIC.
    line: bool,
    /// The guest transmitted since the last tick.
    busy: bool,
}

impl Devices {
    pub fn new(name: &'static str, console: Mode, gic: GicVersion, cpus: usize) -> Self {
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
            unclaimed: PageLog::new(),
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
        self.with_uart(|uart, text| {
            while uart.model.rx_space() > 0 {
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

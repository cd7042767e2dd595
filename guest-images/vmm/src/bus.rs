//! The guest's devices behind its MEM traps: the GIC distributor and
//! redistributors and the PL011 (zxv-devices models), and unclaimed device
//! space. A trapped access goes to its model; the interrupts the model
//! makes deliverable are injected with `zx_vcpu_interrupt`; the UART's
//! output goes to the real console and its input comes from the real UART.

use crate::devmap::{self, Device, Region};
use crate::guest_console::GuestConsole;
use crate::unclaimed::{Note, PageLog, REPORTED_PAGES};
use crate::vcpus;
use el1rt::{console, println};
use core::fmt;
use syscalls::port::PacketGuestMem;
use zxv_devices::{Deliveries, Gic, GicVersion, Pl011, Pl011Effect};

const UART_INTID: u32 = 32 + devmap::UART_SPI;
/// The guest's PL011 starts as firmware leaves it: on, 115200 8N1 from the
/// DTB's 24 MHz clock (Linux's console takes its settings from there).
const UART_CLOCK_HZ: u32 = 24_000_000;
const UART_BAUD: u32 = 115_200;

pub struct Devices {
    name: &'static str,
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

/// The real console, as a `fmt::Write` for the guest's lines.
struct RealConsole;

impl fmt::Write for RealConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        console::print(format_args!("{s}"));
        Ok(())
    }
}

impl Devices {
    pub fn new(name: &'static str, gic: GicVersion, cpus: usize) -> Self {
        Devices {
            name,
            gic: Gic::new(gic, cpus),
            uart: spin::Mutex::new(Uart {
                model: Pl011::with_firmware_setup(UART_CLOCK_HZ, UART_BAUD),
                console: GuestConsole::new(name),
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
                self.gic.distributor_write(vcpu, offset, size, mem.data, &mut out);
                0
            }
            (Device::Redistributors, true) => self.gic.redistributor_read(vcpu, offset, size),
            (Device::Redistributors, false) => {
                self.gic.redistributor_write(vcpu, offset, size, mem.data, &mut out);
                0
            }
            (Device::Uart, true) => {
                let mut uart = self.uart.lock();
                let (value, effect) = uart.model.read(offset, size);
                self.uart_effect(&mut uart, effect, &mut out);
                value
            }
            (Device::Uart, false) => {
                let mut uart = self.uart.lock();
                let effect = uart.model.write(offset, size, mem.data);
                self.uart_effect(&mut uart, effect, &mut out);
                0
            }
            (Device::Unclaimed, read) => {
                let what = if read { "read" } else { "write" };
                match self.unclaimed.note(mem.addr) {
                    Note::NewPage => println!(
                        "vmm: guest {}: {what} of unclaimed device space at {:#x} (reads 0, writes ignored; once per page)",
                        self.name, mem.addr
                    ),
                    Note::Limit => println!(
                        "vmm: guest {}: {what} of unclaimed device space at {:#x}; further unclaimed accesses are not reported (after {REPORTED_PAGES} pages)",
                        self.name, mem.addr
                    ),
                    Note::Quiet => {}
                }
                0
            }
        };
        deliver(&out);
        value
    }

    fn uart_effect(&self, uart: &mut Uart, effect: Pl011Effect, out: &mut Deliveries) {
        if let Some(byte) = effect.tx {
            let _ = uart.console.push(byte, &mut RealConsole);
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
        let mut uart = self.uart.lock();
        while uart.model.rx_space() > 0 {
            let Some(byte) = console::read_byte() else { break };
            let effect = uart.model.receive(byte);
            self.uart_effect(&mut uart, effect, &mut out);
        }
        if !uart.busy && uart.console.has_pending() {
            let _ = uart.console.flush(&mut RealConsole);
        }
        uart.busy = false;
        drop(uart);
        deliver(&out);
    }

    /// Prints the open line and then the guest's last lines, for a report.
    pub fn last_lines(&self) {
        let mut uart = self.uart.lock();
        let _ = uart.console.flush(&mut RealConsole);
        println!("");
        println!("vmm: guest {}: its last console lines:", self.name);
        for line in uart.console.last_lines() {
            println!("    | {line}");
        }
    }

    /// Ends the guest's open line, if any, so reports start on their own.
    pub fn end_open_line(&self) {
        let mut uart = self.uart.lock();
        if uart.console.has_pending() {
            let _ = uart.console.flush(&mut RealConsole);
        }
        if uart.console.is_open() {
            let _ = uart.console.push(b'\n', &mut RealConsole);
        }
    }
}

fn deliver(out: &Deliveries) {
    for d in out {
        vcpus::interrupt(d.vcpu, d.intid);
    }
}

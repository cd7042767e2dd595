//! The PL011 console: polled output, shared by all CPUs under a lock, plus an
//! unlocked path for fatal reports (a CPU that dies holding the lock must not
//! silence the one reporting it). At boot the UART is set to 115200 8N1 when
//! the DTB gives its clock, and on the Raspberry Pi 4 routed to the header
//! pins (its firmware leaves GPIO 14/15 to the mini UART and the PL011 to
//! Bluetooth).

use crate::platform::Platform;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite};
use tock_registers::{register_bitfields, register_structs};

register_bitfields![u32,
    FR [
        BUSY OFFSET(3) NUMBITS(1) [],
        TXFF OFFSET(5) NUMBITS(1) []
    ],
    LCRH [
        FEN OFFSET(4) NUMBITS(1) [],
        WLEN OFFSET(5) NUMBITS(2) [Eight = 3]
    ],
    CR [
        UARTEN OFFSET(0) NUMBITS(1) [],
        TXE OFFSET(8) NUMBITS(1) [],
        RXE OFFSET(9) NUMBITS(1) []
    ],
    GPFSEL1 [
        FSEL14 OFFSET(12) NUMBITS(3) [Alt0 = 4],
        FSEL15 OFFSET(15) NUMBITS(3) [Alt0 = 4]
    ]
];

register_structs! {
    Pl011Regs {
        (0x00 => dr: ReadWrite<u32>),
        (0x04 => _reserved),
        (0x18 => fr: ReadOnly<u32, FR::Register>),
        (0x1c => _reserved2),
        (0x24 => ibrd: ReadWrite<u32>),
        (0x28 => fbrd: ReadWrite<u32>),
        (0x2c => lcrh: ReadWrite<u32, LCRH::Register>),
        (0x30 => cr: ReadWrite<u32, CR::Register>),
        (0x34 => @END),
    },
    GpioRegs {
        (0x00 => _gpfsel0),
        (0x04 => gpfsel1: ReadWrite<u32, GPFSEL1::Register>),
        (0x08 => @END),
    }
}

const BAUD: u64 = 115_200;

/// QEMU virt's PL011, used only when the DTB names none.
pub const FALLBACK_BASE: u64 = 0x0900_0000;

static BASE: AtomicU64 = AtomicU64::new(0);
static LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// Points the console at the PL011 registers at `base` (identity-mapped).
pub fn init(base: u64) {
    BASE.store(base, Ordering::Relaxed);
}

/// Sets up the console UART the platform names (before the MMU is on):
/// UART0's pins on the Pi's header, then 115200 8N1 from the UART clock.
pub fn setup(p: &Platform) {
    if let Some(gpio) = p.header_gpio {
        // SAFETY: the BCM2711 GPIO block named by the DTB, accessed with the
        // MMU off (device memory); GPFSEL1 selects pins 10-19's functions and
        // only GPIO 14/15's fields change (to TXD0/RXD0).
        let regs = unsafe { &*(gpio.base as *const GpioRegs) };
        regs.gpfsel1
            .modify(GPFSEL1::FSEL14::Alt0 + GPFSEL1::FSEL15::Alt0);
    }
    let (Some(uart), Some(clock)) = (p.uart, p.uart_clock) else {
        return;
    };
    // SAFETY: the console PL011 named by the DTB, with the MMU off; the
    // registers are only accessed through volatile tock-registers.
    let regs = unsafe { &*(uart.base as *const Pl011Regs) };
    regs.cr.set(0);
    while regs.fr.is_set(FR::BUSY) {
        core::hint::spin_loop();
    }
    // The divisor in 64ths: clock / (16 * baud), rounded.
    let divisor = (clock * 8 / BAUD).div_ceil(2);
    regs.ibrd.set((divisor >> 6) as u32);
    regs.fbrd.set((divisor & 63) as u32);
    regs.lcrh.write(LCRH::WLEN::Eight + LCRH::FEN::SET);
    regs.cr.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
}

struct Pl011;

impl Write for Pl011 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let base = BASE.load(Ordering::Relaxed);
        if base == 0 {
            return Ok(());
        }
        // SAFETY: `base` came from the DTB (or the virt fallback) and is
        // mapped as device memory in EL2 stage 1 (or the MMU is off); the
        // registers are only accessed through volatile tock-registers.
        let regs = unsafe { &*(base as *const Pl011Regs) };
        for b in s.bytes() {
            if b == b'\n' {
                put(regs, b'\r');
            }
            put(regs, b);
        }
        Ok(())
    }
}

fn put(regs: &Pl011Regs, b: u8) {
    while regs.fr.is_set(FR::TXFF) {
        core::hint::spin_loop();
    }
    regs.dr.set(b as u32);
}

/// Prints under the console lock, so lines of different CPUs do not mix.
pub fn print(args: fmt::Arguments) {
    let _guard = LOCK.lock();
    let _ = Pl011.write_fmt(args);
}

/// Prints without taking the lock: for reports from a dying CPU.
pub fn print_unlocked(args: fmt::Arguments) {
    let _ = Pl011.write_fmt(args);
}

/// Prints a line on the console (under the lock).
macro_rules! println {
    ($($arg:tt)*) => { $crate::platform::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
pub(crate) use println;

//! The PL011 console: polled output, shared by all CPUs under a lock, plus an
//! unlocked path for fatal reports (a CPU that dies holding the lock must not
//! silence the one reporting it).

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite};
use tock_registers::{register_bitfields, register_structs};

register_bitfields![u32, FR [TXFF OFFSET(5) NUMBITS(1) []]];

register_structs! {
    Pl011Regs {
        (0x00 => dr: ReadWrite<u32>),
        (0x04 => _reserved),
        (0x18 => fr: ReadOnly<u32, FR::Register>),
        (0x1c => @END),
    }
}

/// QEMU virt's PL011, used only when the DTB names none.
pub const FALLBACK_BASE: u64 = 0x0900_0000;

static BASE: AtomicU64 = AtomicU64::new(0);
static LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// Points the console at the PL011 registers at `base` (identity-mapped).
pub fn init(base: u64) {
    BASE.store(base, Ordering::Relaxed);
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
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
pub(crate) use println;

//! The host's PL011, polled: output, and input for programs that pass the
//! console on (the monitor leaves the UART to the host).

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

static BASE: AtomicU64 = AtomicU64::new(0x0900_0000);
static LOCK: spin::Mutex<()> = spin::Mutex::new(());

pub fn init(base: u64) {
    BASE.store(base, Ordering::Relaxed);
}

struct Uart;

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        put_bytes(s.as_bytes(), false);
        Ok(())
    }
}

/// Sends `bytes`, each `\n` as `\r\n` unless `raw`.
fn put_bytes(bytes: &[u8], raw: bool) {
    let base = BASE.load(Ordering::Relaxed);
    for &b in bytes {
        if b == b'\n' && !raw {
            put(base, b'\r');
        }
        put(base, b);
    }
}

fn put(base: u64, b: u8) {
    // SAFETY: `base` is the PL011 named by the DTB, identity-mapped device
    // memory in the host's stage 2; FR (0x18) and DR (0x00) are its registers.
    unsafe {
        while core::ptr::read_volatile((base + 0x18) as *const u32) & (1 << 5) != 0 {}
        core::ptr::write_volatile(base as *mut u32, b as u32);
    }
}

/// Turns the UART's receiver on (UARTCR: UARTEN, TXE, RXE), for a program
/// that reads input with [`read_byte`]; firmware or an emulator may leave
/// it off and drop what arrives.
pub fn enable_input() {
    let cr = BASE.load(Ordering::Relaxed) + 0x30;
    // SAFETY: as in `put`; CR (0x30) enables the UART and both directions,
    // which output does not mind.
    unsafe {
        let value = core::ptr::read_volatile(cr as *const u32);
        core::ptr::write_volatile(cr as *mut u32, value | 0x301);
    }
}

/// A byte the UART has received, if one is waiting.
pub fn read_byte() -> Option<u8> {
    let base = BASE.load(Ordering::Relaxed);
    // SAFETY: as in `put`; FR bit 4 (RXFE) says whether DR holds a byte,
    // and reading DR takes it.
    unsafe {
        if core::ptr::read_volatile((base + 0x18) as *const u32) & (1 << 4) != 0 {
            return None;
        }
        Some(core::ptr::read_volatile(base as *const u32) as u8)
    }
}

pub fn print(args: fmt::Arguments) {
    let _guard = LOCK.lock();
    let _ = Uart.write_fmt(args);
}

/// Prints bytes that need not be UTF-8: as they are if `raw` (a guest's
/// console passed through), else with each `\n` sent as `\r\n` like
/// [`print`].
pub fn print_bytes(bytes: &[u8], raw: bool) {
    let _guard = LOCK.lock();
    put_bytes(bytes, raw);
}

pub fn print_unlocked(args: fmt::Arguments) {
    let _ = Uart.write_fmt(args);
}

#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}

//! The host's PL011 output (polled; the monitor leaves the UART to the host).

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
        let base = BASE.load(Ordering::Relaxed);
        for b in s.bytes() {
            if b == b'\n' {
                put(base, b'\r');
            }
            put(base, b);
        }
        Ok(())
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

pub fn print(args: fmt::Arguments) {
    let _guard = LOCK.lock();
    let _ = Uart.write_fmt(args);
}

pub fn print_unlocked(args: fmt::Arguments) {
    let _ = Uart.write_fmt(args);
}

#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}

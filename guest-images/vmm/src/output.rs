//! The real console, shared by the guests' lines and the VMM's reports.
//! Each guest line and each report goes out in one print, under one lock
//! that also knows which guest left a line open (a prompt): a report, or
//! another guest's text, first ends that line, so it starts a line of its
//! own (the checks in scripts/qemu-test.sh are anchored at `^vmm: `), and
//! the rest of the guest's line follows behind its prefix again. In raw mode
//! (`vmm.console=raw`) the guest's bytes go out as they are, and a report
//! still starts on a fresh line after them.

use crate::guest_console::Mode;
use core::fmt;
use el1rt::console;

pub struct Output {
    /// The guest whose last text did not end its line.
    open: Option<usize>,
}

static OUTPUT: spin::Mutex<Output> = spin::Mutex::new(Output { open: None });

/// The console, for output that must keep its order with other CPUs'.
pub fn lock() -> spin::MutexGuard<'static, Output> {
    OUTPUT.lock()
}

/// Prints one report line, on a line of its own.
pub fn report(args: fmt::Arguments) {
    lock().report(args);
}

impl Output {
    /// Prints `text` from guest `guest`'s console, written in `mode`;
    /// `continues` says that it goes on with a line whose start, behind
    /// `prefix`, is already out.
    pub fn guest(&mut self, guest: usize, prefix: &str, text: &[u8], continues: bool, mode: Mode) {
        let Some(&last) = text.last() else {
            return;
        };
        let other = self.open.is_some_and(|g| g != guest);
        if other {
            console::print(format_args!("\n"));
        }
        if continues && (other || self.open.is_none()) {
            console::print(format_args!("{prefix}"));
        }
        console::print_bytes(text, mode == Mode::Raw);
        self.open = (last != b'\n').then_some(guest);
    }

    pub fn report(&mut self, args: fmt::Arguments) {
        let end = if self.open.is_some() { "\n" } else { "" };
        console::print(format_args!("{end}{args}\n"));
        self.open = None;
    }
}

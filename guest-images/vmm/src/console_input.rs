//! The real console's input, for the guest it is switched to: the first
//! guest at start.

use core::sync::atomic::{AtomicUsize, Ordering};
use el1rt::console;

/// The guest the console's input goes to.
static SELECTED: AtomicUsize = AtomicUsize::new(0);

/// The next byte the real console received, for guest `guest`: none while
/// the input goes to another guest.
pub fn read_for(guest: usize) -> Option<u8> {
    if SELECTED.load(Ordering::Relaxed) != guest {
        return None;
    }
    console::read_byte()
}

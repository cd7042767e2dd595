//! The real console's input, for the guest it is switched to: the first
//! guest at start, another after its switch key (console_mux.rs). A switch
//! is reported on the console, and so is the help after a key that is none.
//! Input for a guest that has stopped is dropped.

use crate::config::MAX_GUESTS;
use crate::console_mux::{Action, ConsoleMux};
use crate::vm;
use arrayvec::ArrayVec;
use el1rt::console;

static MUX: spin::Once<spin::Mutex<ConsoleMux>> = spin::Once::new();

/// The next byte the real console received, for guest `guest`: none while
/// the input goes to another guest (it waits in the real UART).
pub fn read_for(guest: usize) -> Option<u8> {
    let guests = &vm::get().guests;
    let mut mux = MUX
        .call_once(|| spin::Mutex::new(ConsoleMux::new(guests.len())))
        .lock();
    while mux.selected() == guest {
        match mux.input(console::read_byte()?) {
            Action::ToGuest(_, byte) => return Some(byte),
            Action::Switched(to) => {
                let g = guests[to];
                let stopped = if g.life.is_ending() {
                    ", which is stopped"
                } else {
                    ""
                };
                report!(
                    "vmm: console: input to guest {}{stopped} (Ctrl-] {})",
                    g.config.name,
                    to + 1
                );
            }
            Action::Help => {
                let names: ArrayVec<&str, MAX_GUESTS> =
                    guests.iter().map(|g| g.config.name).collect();
                report!("vmm: console: {}", mux.help(&names));
            }
            Action::Nothing => {}
        }
    }
    None
}

/// Drops what the real console received for guest `guest`, which has
/// stopped (or is starting again), so that the switch key still gets
/// through.
pub fn discard_for(guest: usize) {
    while read_for(guest).is_some() {}
}

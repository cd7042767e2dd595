//! The real console's input, for the guest it is switched to: the first
//! guest at start, another after its switch key (console_mux.rs). A switch
//! is reported on the console, and so is the help after a key that is none.
//! On every tick the real UART is read dry through the multiplexer ([`pump`])
//! into the selected guest's buffer, whether that guest takes input or not,
//! so that the switch key always gets through: a guest that never reads its
//! UART (hung, hostile, still booting) cannot keep the console to itself.
//! The guest's devices then take their input from its buffer ([`read_for`]).
//! Input for a guest that has stopped, or beyond its buffer, is dropped
//! (the latter reported once).

use crate::config::MAX_GUESTS;
use crate::console_mux::{Action, ConsoleMux};
use crate::vm;
use arrayvec::ArrayVec;
use core::sync::atomic::{AtomicBool, Ordering};
use el1rt::console;

/// Bytes held for a guest that has not taken them yet: some ticks' worth
/// of what the real UART's FIFO gives per tick.
const BUFFER: usize = 256;

struct Input {
    mux: ConsoleMux,
    pending: [ArrayVec<u8, BUFFER>; MAX_GUESTS],
}

static INPUT: spin::Once<spin::Mutex<Input>> = spin::Once::new();
static DROPPED: AtomicBool = AtomicBool::new(false);

fn input() -> spin::MutexGuard<'static, Input> {
    let guests = vm::get().guests.len();
    INPUT
        .call_once(|| {
            spin::Mutex::new(Input {
                mux: ConsoleMux::new(guests),
                pending: [const { ArrayVec::new_const() }; MAX_GUESTS],
            })
        })
        .lock()
}

/// Reads everything the real console received, through the multiplexer,
/// into the buffer of the guest it is for.
pub fn pump() {
    let guests = &vm::get().guests;
    let mut input = input();
    while let Some(byte) = console::read_byte() {
        match input.mux.input(byte) {
            Action::ToGuest(to, byte) => {
                let g = guests[to];
                if g.life.is_ending() {
                    continue;
                }
                if input.pending[to].try_push(byte).is_err()
                    && !DROPPED.swap(true, Ordering::Relaxed)
                {
                    report!(
                        "vmm: console: guest {} takes no input; what it did not take of {BUFFER} bytes is dropped (reported once)",
                        g.config.name
                    );
                }
            }
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
                report!("vmm: console: {}", input.mux.help(&names));
            }
            Action::Nothing => {}
        }
    }
}

/// The next byte of console input for guest `guest`, if [`pump`] holds one.
pub fn read_for(guest: usize) -> Option<u8> {
    let mut input = input();
    let pending = &mut input.pending[guest];
    (!pending.is_empty()).then(|| pending.remove(0))
}

/// Drops the console input held for guest `guest`, which has stopped (or
/// is starting again).
pub fn discard_for(guest: usize) {
    input().pending[guest].clear();
}

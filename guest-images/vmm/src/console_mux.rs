//! Console input with several guests: which guest the real UART's input goes to, and the
//! switch key that changes it. Input goes to one selected guest, the first at start.
//! Ctrl-] ([`ESCAPE`]) and the byte after it are the VMM's:
//!
//! - `Ctrl-] 1` to `Ctrl-] 9` select guest 1 to 9 (command-line order);
//! - `Ctrl-] n` selects the next guest (after the last, the first);
//! - `Ctrl-] Ctrl-]` sends one Ctrl-] to the selected guest;
//! - anything else after Ctrl-] (a guest that does not exist included) is dropped, and the
//!   VMM prints the [`help`](ConsoleMux::help).
//!
//! With one guest Ctrl-] is not special: every byte goes to it.

use core::fmt;

/// Ctrl-], the switch key.
pub const ESCAPE: u8 = 0x1d;

/// What to do with an input byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Give the byte to the guest (numbered from 0).
    ToGuest(usize, u8),
    /// Input goes to this guest from now on: say so.
    Switched(usize),
    /// Print the help.
    Help,
    /// Nothing yet (a Ctrl-] waits for the byte after it).
    Nothing,
}

pub struct ConsoleMux {
    guests: usize,
    selected: usize,
    /// The last byte was a Ctrl-].
    escaped: bool,
}

impl ConsoleMux {
    /// Input for `guests` guests (at least one), going to the first.
    pub fn new(guests: usize) -> Self {
        assert!(guests >= 1, "the console needs a guest");
        ConsoleMux {
            guests,
            selected: 0,
            escaped: false,
        }
    }

    /// The guest that input goes to (numbered from 0).
    pub fn selected(&self) -> usize {
        self.selected
    }

    /// Takes one byte of input.
    pub fn input(&mut self, byte: u8) -> Action {
        if self.guests == 1 {
            return Action::ToGuest(0, byte);
        }
        if !self.escaped {
            if byte == ESCAPE {
                self.escaped = true;
                return Action::Nothing;
            }
            return Action::ToGuest(self.selected, byte);
        }
        self.escaped = false;
        let chosen = match byte {
            ESCAPE => return Action::ToGuest(self.selected, ESCAPE),
            b'n' => (self.selected + 1) % self.guests,
            b'1'..=b'9' if usize::from(byte - b'1') < self.guests => usize::from(byte - b'1'),
            _ => return Action::Help,
        };
        self.selected = chosen;
        Action::Switched(chosen)
    }

    /// The help, on one line: which guest input goes to, and the keys. `names[g]` is guest
    /// g's name.
    pub fn help<'a>(&self, names: &'a [&'a str]) -> Help<'a> {
        Help {
            names,
            selected: self.selected,
        }
    }
}

/// The help's text ([`ConsoleMux::help`]).
pub struct Help<'a> {
    names: &'a [&'a str],
    selected: usize,
}

impl fmt::Display for Help<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let selected = self.names.get(self.selected).copied().unwrap_or("?");
        write!(
            f,
            "input to guest {selected} (Ctrl-] {}); keys: ",
            self.selected + 1
        )?;
        for (g, name) in self.names.iter().enumerate() {
            write!(f, "Ctrl-] {} guest {name}, ", g + 1)?;
        }
        write!(
            f,
            "Ctrl-] n the next guest, Ctrl-] Ctrl-] sends Ctrl-] to {selected}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    fn feed(mux: &mut ConsoleMux, bytes: &[u8]) -> Vec<Action> {
        bytes.iter().map(|&b| mux.input(b)).collect()
    }

    #[test]
    fn input_goes_to_the_first_guest_at_start() {
        let mut mux = ConsoleMux::new(3);
        assert_eq!(mux.selected(), 0);
        assert_eq!(
            feed(&mut mux, b"ls\r"),
            [ToGuest(0, b'l'), ToGuest(0, b's'), ToGuest(0, b'\r')]
        );
    }

    #[test]
    fn one_guest_gets_every_byte() {
        let mut mux = ConsoleMux::new(1);
        let all: Vec<u8> = (0..=255).collect();
        let actions = feed(&mut mux, &all);
        assert!(actions.iter().zip(&all).all(|(a, &b)| *a == ToGuest(0, b)));
        assert_eq!(
            feed(&mut mux, &[ESCAPE, b'2', ESCAPE, b'n']),
            [
                ToGuest(0, ESCAPE),
                ToGuest(0, b'2'),
                ToGuest(0, ESCAPE),
                ToGuest(0, b'n')
            ]
        );
    }

    #[test]
    fn a_digit_selects_that_guest() {
        let mut mux = ConsoleMux::new(3);
        assert_eq!(
            feed(&mut mux, &[ESCAPE, b'3', b'x']),
            [Nothing, Switched(2), ToGuest(2, b'x')]
        );
        assert_eq!(
            feed(&mut mux, &[ESCAPE, b'1', b'y']),
            [Nothing, Switched(0), ToGuest(0, b'y')]
        );
        // The guest already selected: said again.
        assert_eq!(feed(&mut mux, &[ESCAPE, b'1']), [Nothing, Switched(0)]);
        assert_eq!(mux.selected(), 0);
    }

    #[test]
    fn n_selects_the_next_guest_and_wraps_around() {
        let mut mux = ConsoleMux::new(3);
        let switches: Vec<_> = (0..4)
            .flat_map(|_| feed(&mut mux, &[ESCAPE, b'n']))
            .collect();
        assert_eq!(
            switches,
            [
                Nothing,
                Switched(1),
                Nothing,
                Switched(2),
                Nothing,
                Switched(0),
                Nothing,
                Switched(1)
            ]
        );
    }

    #[test]
    fn escape_twice_sends_one_escape() {
        let mut mux = ConsoleMux::new(2);
        feed(&mut mux, &[ESCAPE, b'2']);
        assert_eq!(
            feed(&mut mux, &[ESCAPE, ESCAPE]),
            [Nothing, ToGuest(1, ESCAPE)]
        );
        // The escape sent ends the sequence: the next Ctrl-] starts a new one.
        assert_eq!(
            feed(&mut mux, &[ESCAPE, ESCAPE, ESCAPE, b'1']),
            [Nothing, ToGuest(1, ESCAPE), Nothing, Switched(0)]
        );
    }

    #[test]
    fn anything_else_after_escape_is_dropped_for_the_help() {
        let mut mux = ConsoleMux::new(2);
        feed(&mut mux, &[ESCAPE, b'2']);
        // Guest 3 does not exist; 0, a letter, a control character are no keys.
        for key in [b'3', b'9', b'0', b'x', b'N', b'\r', 0x03] {
            assert_eq!(
                feed(&mut mux, &[ESCAPE, key, b'a']),
                [Nothing, Help, ToGuest(1, b'a')]
            );
        }
        assert_eq!(mux.selected(), 1);
    }

    #[test]
    fn nine_guests_have_a_key_each() {
        let mut mux = ConsoleMux::new(9);
        for g in 0..9u8 {
            assert_eq!(
                feed(&mut mux, &[ESCAPE, b'1' + g]),
                [Nothing, Switched(usize::from(g))]
            );
        }
    }

    #[test]
    fn the_help_names_the_guests_and_the_keys() {
        let mut mux = ConsoleMux::new(3);
        feed(&mut mux, &[ESCAPE, b'2']);
        let help = mux.help(&["web", "db", "cache"]).to_string();
        assert_eq!(
            help,
            "input to guest db (Ctrl-] 2); keys: Ctrl-] 1 guest web, Ctrl-] 2 guest db, \
             Ctrl-] 3 guest cache, Ctrl-] n the next guest, Ctrl-] Ctrl-] sends Ctrl-] to db"
        );
    }
}

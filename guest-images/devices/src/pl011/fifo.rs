//! The PL011's receive FIFO: 32 entries of a character and its error flags (the upper bits of
//! UARTDR), or a single holding register while the FIFOs are disabled (LCR_H.FEN = 0).

/// Entries of the FIFO of a PL011 r1p5 (32; earlier revisions had 16).
pub const DEPTH: usize = 32;

/// UARTDR.OE: characters were lost after this one because the FIFO was full.
pub const OVERRUN: u16 = 1 << 11;

#[derive(Clone, Debug, Default)]
pub struct RxFifo {
    entries: [u16; DEPTH],
    head: usize,
    len: usize,
}

impl RxFifo {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `byte` if fewer than `capacity` entries are held; otherwise the byte is lost
    /// and the newest entry is marked [`OVERRUN`]. Returns whether it was stored.
    pub fn push(&mut self, byte: u8, capacity: usize) -> bool {
        if self.len >= capacity.min(DEPTH) {
            if let Some(newest) = self.len.checked_sub(1) {
                self.entries[(self.head + newest) % DEPTH] |= OVERRUN;
            }
            return false;
        }
        self.entries[(self.head + self.len) % DEPTH] = u16::from(byte);
        self.len += 1;
        true
    }

    /// The oldest entry (character and error flags), removed.
    pub fn pop(&mut self) -> Option<u16> {
        if self.len == 0 {
            return None;
        }
        let entry = self.entries[self.head];
        self.head = (self.head + 1) % DEPTH;
        self.len -= 1;
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_out_in_order() {
        let mut fifo = RxFifo::default();
        for byte in b"abc" {
            assert!(fifo.push(*byte, DEPTH));
        }
        assert_eq!(fifo.len(), 3);
        assert_eq!(
            [fifo.pop(), fifo.pop(), fifo.pop(), fifo.pop()],
            [Some(97), Some(98), Some(99), None]
        );
        assert!(fifo.is_empty());
    }

    #[test]
    fn a_full_fifo_drops_and_marks_the_newest_entry() {
        let mut fifo = RxFifo::default();
        assert!(fifo.push(b'x', 1));
        assert!(!fifo.push(b'y', 1));
        assert_eq!(fifo.pop(), Some(OVERRUN | u16::from(b'x')));
        assert_eq!(fifo.pop(), None);
    }

    #[test]
    fn it_wraps_around() {
        let mut fifo = RxFifo::default();
        for round in 0..3 * DEPTH {
            assert!(fifo.push(round as u8, DEPTH));
            assert_eq!(fifo.pop(), Some(round as u16 & 0xFF));
        }
    }

    #[test]
    fn it_holds_no_more_than_its_depth() {
        let mut fifo = RxFifo::default();
        let stored = (0..100).filter(|&b| fifo.push(b, usize::MAX)).count();
        assert_eq!(stored, DEPTH);
    }

    #[test]
    fn an_empty_fifo_with_no_room_loses_the_byte_quietly() {
        let mut fifo = RxFifo::default();
        assert!(!fifo.push(1, 0));
        assert!(fifo.is_empty());
    }
}

//! The guest's console output on the real console: collected into lines,
//! each printed with the guest's name in front (`linux| ...`), and the last
//! lines kept for a report when the guest fails. A line still open when the
//! guest falls quiet (a shell prompt) can be flushed early; the rest of it
//! follows on the same console line. One call writes at most one line
//! ([`Text`]), for the caller to print in one piece.

use arrayvec::{ArrayString, ArrayVec};
use core::fmt::{self, Write};

/// Longer lines are printed in pieces of this size.
pub const LINE_MAX: usize = 240;
/// Lines kept for [`GuestConsole::last_lines`].
pub const HISTORY: usize = 24;
const PREFIX_MAX: usize = 24;

/// Room for what one call of [`GuestConsole::push`] or
/// [`GuestConsole::flush`] writes: a prefix, a line and its newline.
pub type Text = ArrayString<{ PREFIX_MAX + LINE_MAX + 1 }>;

pub struct GuestConsole {
    prefix: ArrayString<PREFIX_MAX>,
    pending: ArrayVec<u8, LINE_MAX>,
    /// The current line's prefix (and maybe its start) is already out.
    open: bool,
    /// The current line so far, as printed (for the history).
    line: ArrayString<LINE_MAX>,
    history: [ArrayString<LINE_MAX>; HISTORY],
    /// Lines completed so far; `history[n % HISTORY]` is the next slot.
    lines: usize,
}

impl GuestConsole {
    pub fn new(name: &str) -> Self {
        let mut prefix = ArrayString::new();
        let _ = write!(prefix, "{name}| ");
        GuestConsole {
            prefix,
            pending: ArrayVec::new(),
            open: false,
            line: ArrayString::new(),
            history: [ArrayString::new(); HISTORY],
            lines: 0,
        }
    }

    /// Takes one byte the guest transmitted; prints a line to `out` when
    /// it is complete. Carriage returns are dropped.
    pub fn push(&mut self, byte: u8, out: &mut dyn Write) -> fmt::Result {
        match byte {
            b'\r' => Ok(()),
            b'\n' => {
                self.flush(out)?;
                if !self.open {
                    out.write_str(&self.prefix)?;
                }
                out.write_char('\n')?;
                self.end_line();
                Ok(())
            }
            _ => {
                if self.pending.len() + self.line.len() + 1 >= LINE_MAX {
                    self.flush(out)?;
                    out.write_char('\n')?;
                    self.end_line();
                }
                self.pending.push(byte);
                Ok(())
            }
        }
    }

    /// Prints what the current line holds and is not out yet.
    pub fn flush(&mut self, out: &mut dyn Write) -> fmt::Result {
        if self.pending.is_empty() {
            return Ok(());
        }
        if !self.open {
            out.write_str(&self.prefix)?;
            self.open = true;
        }
        for chunk in self.pending.utf8_chunks() {
            for text in [
                chunk.valid(),
                if chunk.invalid().is_empty() { "" } else { "?" },
            ] {
                out.write_str(text)?;
                let room = LINE_MAX - 1 - self.line.len();
                let cut = (0..=text.len().min(room))
                    .rev()
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(0);
                self.line.push_str(&text[..cut]);
            }
        }
        self.pending.clear();
        Ok(())
    }

    /// Whether part of a line is waiting for its end or a [`flush`](Self::flush).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether part of the current line is already on the real console.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// What each line starts with: the guest's name and `| `.
    pub fn prefix(&self) -> ArrayString<PREFIX_MAX> {
        self.prefix
    }

    fn end_line(&mut self) {
        if !self.open {
            // An empty line: still a line the guest printed.
            self.history[self.lines % HISTORY].clear();
        } else {
            self.history[self.lines % HISTORY] = self.line;
        }
        self.lines += 1;
        self.open = false;
        self.line.clear();
    }

    /// The last lines the guest completed, oldest first, then the line it
    /// is still writing, as far as it has been flushed.
    pub fn last_lines(&self) -> impl Iterator<Item = &str> {
        let kept = self.lines.min(HISTORY);
        let complete = (self.lines - kept..self.lines).map(|n| self.history[n % HISTORY].as_str());
        let partial = self.open.then_some(self.line.as_str());
        complete.chain(partial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(console: &mut GuestConsole, bytes: &[u8]) -> String {
        let mut out = String::new();
        for &b in bytes {
            console.push(b, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn prefixes_whole_lines() {
        let mut c = GuestConsole::new("linux");
        assert_eq!(
            feed(&mut c, b"Linux version 6.1\r\n\r\nhal"),
            "linux| Linux version 6.1\nlinux| \n"
        );
        assert!(c.has_pending());
        assert_eq!(feed(&mut c, b"f\n"), "linux| half\n");
        assert!(!c.has_pending());
    }

    #[test]
    fn flushed_prompt_continues_on_its_line() {
        let mut c = GuestConsole::new("deb");
        let mut out = feed(&mut c, b"/ # ");
        assert_eq!(out, "");
        c.flush(&mut out).unwrap();
        assert_eq!(out, "deb| / # ");
        assert!(c.is_open() && !c.has_pending());
        out += &feed(&mut c, b"ls\r\n");
        assert!(!c.is_open());
        assert_eq!(out, "deb| / # ls\n");
        assert_eq!(c.last_lines().collect::<Vec<_>>(), ["/ # ls"]);
    }

    #[test]
    fn long_lines_are_split() {
        let mut c = GuestConsole::new("g");
        let mut out = feed(&mut c, &[b'x'; 2 * LINE_MAX]);
        c.flush(&mut out).unwrap();
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines
            .iter()
            .all(|l| l.starts_with("g| x") && l.len() < LINE_MAX + 4));
    }

    #[test]
    fn keeps_the_last_lines() {
        let mut c = GuestConsole::new("g");
        for i in 0..HISTORY + 5 {
            feed(&mut c, format!("line {i}\n").as_bytes());
        }
        feed(&mut c, b"\npartial");
        c.flush(&mut String::new()).unwrap();
        let last: Vec<_> = c.last_lines().collect();
        assert_eq!(last.len(), HISTORY + 1);
        assert_eq!(last[0], "line 6");
        assert_eq!(last[HISTORY - 2], format!("line {}", HISTORY + 4));
        assert_eq!(last[HISTORY - 1], "");
        assert_eq!(last[HISTORY], "partial");
    }

    #[test]
    fn invalid_utf8_shows_as_question_marks() {
        let mut c = GuestConsole::new("g");
        assert_eq!(feed(&mut c, b"a\xffb \xc3\xa9\n"), "g| a?b \u{e9}\n");
    }

    /// However the guest writes, one call's output fits one [`Text`].
    #[test]
    fn one_call_fits_one_text() {
        let mut c = GuestConsole::new("sixteen-letters_");
        let mut bytes = vec![b'a'; 3 * LINE_MAX];
        bytes.extend([0xc3, b'\n', b'\n', 0xff, 0xff, b'x']);
        bytes.extend([0xe2, 0x82, 0xac].repeat(LINE_MAX));
        for b in bytes {
            let mut text = Text::new();
            c.push(b, &mut text).unwrap();
            let mut text = Text::new();
            c.flush(&mut text).unwrap();
        }
    }
}

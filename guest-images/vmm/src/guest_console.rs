//! The guest's console output on the real console, in one of two modes
//! (`vmm.console`). Tagged (the default): collected into lines, each
//! printed with the guest's name in front (`linux| ...`); a line still open
//! when the guest falls quiet (a shell prompt) can be flushed early, and the
//! rest of it follows on the same console line; longer lines are printed in
//! pieces. Raw: every byte goes out as the guest sent it, for interactive
//! use (escape sequences, long lines, `\r`). Both keep the last lines for a
//! report when the guest fails. One call writes at most one line
//! ([`Text`]), for the caller to print in one piece.

use arrayvec::{ArrayString, ArrayVec};
use core::fmt::{self, Write};

/// Longer lines are printed in pieces of this size (tagged mode) and kept
/// cut to it in the history.
pub const LINE_MAX: usize = 240;
/// Lines kept for [`GuestConsole::last_lines`].
pub const HISTORY: usize = 24;
const PREFIX_MAX: usize = 24;

/// How the guest's output reaches the real console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Line by line behind the guest's name (`vmm.console=tagged`).
    Tagged,
    /// Byte for byte, unchanged (`vmm.console=raw`).
    Raw,
}

/// What one call of [`GuestConsole::push`] or [`GuestConsole::flush`]
/// writes: a prefix, a line and its newline, or in raw mode the guest's
/// byte (which need not be UTF-8 on its own).
#[derive(Default)]
pub struct Text(ArrayVec<u8, { PREFIX_MAX + LINE_MAX + 1 }>);

impl Text {
    pub fn new() -> Self {
        Text::default()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn push_byte(&mut self, byte: u8) -> fmt::Result {
        self.0.try_push(byte).map_err(|_| fmt::Error)
    }
}

impl Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0
            .try_extend_from_slice(s.as_bytes())
            .map_err(|_| fmt::Error)
    }
}

/// Where raw mode's line bookkeeping writes: nowhere.
struct Discard;

impl Write for Discard {
    fn write_str(&mut self, _: &str) -> fmt::Result {
        Ok(())
    }
}

pub struct GuestConsole {
    mode: Mode,
    prefix: ArrayString<PREFIX_MAX>,
    pending: ArrayVec<u8, LINE_MAX>,
    /// The current line's prefix (and maybe its start) is already out
    /// (in raw mode: in the history's bookkeeping only).
    open: bool,
    /// The current line so far, as printed (for the history).
    line: ArrayString<LINE_MAX>,
    history: [ArrayString<LINE_MAX>; HISTORY],
    /// Lines completed so far; `history[n % HISTORY]` is the next slot.
    lines: usize,
}

impl GuestConsole {
    pub fn new(name: &str, mode: Mode) -> Self {
        let mut prefix = ArrayString::new();
        let _ = write!(prefix, "{name}| ");
        GuestConsole {
            mode,
            prefix,
            pending: ArrayVec::new(),
            open: false,
            line: ArrayString::new(),
            history: [ArrayString::new(); HISTORY],
            lines: 0,
        }
    }

    /// Takes one byte the guest transmitted. Tagged: prints a line to
    /// `out` when it is complete, carriage returns dropped. Raw: prints the
    /// byte.
    pub fn push(&mut self, byte: u8, out: &mut Text) -> fmt::Result {
        match self.mode {
            Mode::Tagged => self.collect(byte, out),
            Mode::Raw => {
                out.push_byte(byte)?;
                self.collect(byte, &mut Discard)
            }
        }
    }

    /// Prints what the current line holds and is not out yet (tagged
    /// mode; raw mode has printed it already).
    pub fn flush(&mut self, out: &mut Text) -> fmt::Result {
        match self.mode {
            Mode::Tagged => self.flush_to(out),
            Mode::Raw => self.flush_to(&mut Discard),
        }
    }

    /// Adds `byte` to the current line (the history's and, tagged, the
    /// console's).
    fn collect(&mut self, byte: u8, out: &mut dyn Write) -> fmt::Result {
        match byte {
            b'\r' => Ok(()),
            b'\n' => {
                self.flush_to(out)?;
                if !self.open {
                    out.write_str(&self.prefix)?;
                }
                out.write_char('\n')?;
                self.end_line();
                Ok(())
            }
            _ => {
                if self.pending.len() + self.line.len() + 1 >= LINE_MAX {
                    self.flush_to(out)?;
                    out.write_char('\n')?;
                    self.end_line();
                }
                self.pending.push(byte);
                Ok(())
            }
        }
    }

    fn flush_to(&mut self, out: &mut dyn Write) -> fmt::Result {
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

    /// Whether part of a line is waiting for its end or a
    /// [`flush`](Self::flush) to reach the real console.
    pub fn has_pending(&self) -> bool {
        self.mode == Mode::Tagged && !self.pending.is_empty()
    }

    /// Whether part of the current line is already on the real console
    /// behind its prefix (which a continuation must repeat after a report).
    pub fn is_open(&self) -> bool {
        self.mode == Mode::Tagged && self.open
    }

    pub fn mode(&self) -> Mode {
        self.mode
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

    /// What the console prints for `bytes`, one call at a time.
    fn feed_bytes(console: &mut GuestConsole, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in bytes {
            let mut text = Text::new();
            console.push(b, &mut text).unwrap();
            out.extend_from_slice(text.as_bytes());
        }
        out
    }

    fn feed(console: &mut GuestConsole, bytes: &[u8]) -> String {
        String::from_utf8(feed_bytes(console, bytes)).unwrap()
    }

    fn flush(console: &mut GuestConsole) -> String {
        let mut text = Text::new();
        console.flush(&mut text).unwrap();
        String::from_utf8(text.as_bytes().to_vec()).unwrap()
    }

    fn tagged(name: &str) -> GuestConsole {
        GuestConsole::new(name, Mode::Tagged)
    }

    #[test]
    fn prefixes_whole_lines() {
        let mut c = tagged("linux");
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
        let mut c = tagged("deb");
        let mut out = feed(&mut c, b"/ # ");
        assert_eq!(out, "");
        out += &flush(&mut c);
        assert_eq!(out, "deb| / # ");
        assert!(c.is_open() && !c.has_pending());
        out += &feed(&mut c, b"ls\r\n");
        assert!(!c.is_open());
        assert_eq!(out, "deb| / # ls\n");
        assert_eq!(c.last_lines().collect::<Vec<_>>(), ["/ # ls"]);
    }

    #[test]
    fn long_lines_are_split() {
        let mut c = tagged("g");
        let mut out = feed(&mut c, &[b'x'; 2 * LINE_MAX]);
        out += &flush(&mut c);
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines
            .iter()
            .all(|l| l.starts_with("g| x") && l.len() < LINE_MAX + 4));
    }

    #[test]
    fn keeps_the_last_lines() {
        for mode in [Mode::Tagged, Mode::Raw] {
            let mut c = GuestConsole::new("g", mode);
            for i in 0..HISTORY + 5 {
                feed_bytes(&mut c, format!("line {i}\r\n").as_bytes());
            }
            feed_bytes(&mut c, b"\npartial");
            flush(&mut c);
            let last: Vec<_> = c.last_lines().collect();
            assert_eq!(last.len(), HISTORY + 1, "{mode:?}");
            assert_eq!(last[0], "line 6");
            assert_eq!(last[HISTORY - 2], format!("line {}", HISTORY + 4));
            assert_eq!(last[HISTORY - 1], "");
            assert_eq!(last[HISTORY], "partial");
        }
    }

    #[test]
    fn invalid_utf8_shows_as_question_marks() {
        let mut c = tagged("g");
        assert_eq!(feed(&mut c, b"a\xffb \xc3\xa9\n"), "g| a?b \u{e9}\n");
    }

    /// However the guest writes, one call's output fits one [`Text`].
    #[test]
    fn one_call_fits_one_text() {
        let mut bytes = vec![b'a'; 3 * LINE_MAX];
        bytes.extend([0xc3, b'\n', b'\n', 0xff, 0xff, b'x']);
        bytes.extend([0xe2, 0x82, 0xac].repeat(LINE_MAX));
        for mode in [Mode::Tagged, Mode::Raw] {
            let mut c = GuestConsole::new("sixteen-letters_", mode);
            for &b in &bytes {
                let mut text = Text::new();
                c.push(b, &mut text).unwrap();
                let mut text = Text::new();
                c.flush(&mut text).unwrap();
            }
        }
    }

    /// Raw mode passes every byte through as it came: no prefix, no
    /// splitting, carriage returns, escape sequences and invalid UTF-8 kept.
    #[test]
    fn raw_passes_bytes_through() {
        let mut c = GuestConsole::new("linux", Mode::Raw);
        let mut bytes = b"\x1b[H\x1b[2Jtop - 10:00\r\n".to_vec();
        bytes.extend([b'f'; 3 * LINE_MAX]);
        bytes.extend(b"\xff\xc3\xa9\r\n/ # ");
        assert_eq!(feed_bytes(&mut c, &bytes), bytes);
        assert!(!c.has_pending() && !c.is_open());
        assert_eq!(flush(&mut c), "");
        // The history keeps long lines in pieces, as tagged mode prints them.
        let last: Vec<_> = c.last_lines().collect();
        assert_eq!(last[0], "\x1b[H\x1b[2Jtop - 10:00");
        assert_eq!(last[last.len() - 2], "fff?\u{e9}");
        assert_eq!(last[last.len() - 1], "/ # ");
        assert!(last[1..last.len() - 1]
            .iter()
            .all(|l| l.starts_with("fff") && l.len() < LINE_MAX));
    }
}

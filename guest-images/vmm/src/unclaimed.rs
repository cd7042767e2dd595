//! Accesses to device space no device claims: they read 0 and writes are
//! dropped. The first access to each of the first [`REPORTED_PAGES`] pages
//! touched is reported, then one line says that no more are, so a guest
//! probing for hardware leaves a short trail and no flood.

use arrayvec::ArrayVec;

/// Pages reported, at most.
pub const REPORTED_PAGES: usize = 16;
const PAGE_SHIFT: u32 = 12;

/// What to say about one unclaimed access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    /// The first access to a page: report it.
    NewPage,
    /// The first access beyond the last page reported: say that further
    /// accesses are not reported.
    Limit,
    /// Nothing.
    Quiet,
}

/// The pages reported so far (from any CPU).
pub struct PageLog {
    inner: spin::Mutex<Seen>,
}

struct Seen {
    pages: ArrayVec<u64, REPORTED_PAGES>,
    full: bool,
}

impl PageLog {
    pub const fn new() -> Self {
        PageLog {
            inner: spin::Mutex::new(Seen {
                pages: ArrayVec::new_const(),
                full: false,
            }),
        }
    }

    /// Notes an access to `addr`; exactly one caller hears of each page
    /// reported and of the limit.
    pub fn note(&self, addr: u64) -> Note {
        let page = addr >> PAGE_SHIFT;
        let mut seen = self.inner.lock();
        if seen.full || seen.pages.contains(&page) {
            Note::Quiet
        } else if seen.pages.try_push(page).is_ok() {
            Note::NewPage
        } else {
            seen.full = true;
            Note::Limit
        }
    }
}

impl Default for PageLog {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_page() {
        let log = PageLog::new();
        assert_eq!(log.note(0x0a00_0000), Note::NewPage);
        assert_eq!(log.note(0x0a00_0ff8), Note::Quiet);
        assert_eq!(log.note(0x0a00_1000), Note::NewPage);
        assert_eq!(log.note(0), Note::NewPage);
        assert_eq!(log.note(0x3fff_fffc), Note::NewPage);
        assert_eq!(log.note(0x3fff_f000), Note::Quiet);
    }

    /// A guest probing all of device space gets 16 lines and one more.
    #[test]
    fn a_probe_of_every_page_is_cut_short() {
        let log = PageLog::new();
        let notes: Vec<_> = (0..0x4000_0000u64)
            .step_by(4096)
            .map(|addr| log.note(addr))
            .collect();
        let count = |n| notes.iter().filter(|&&x| x == n).count();
        assert_eq!(count(Note::NewPage), REPORTED_PAGES);
        assert_eq!(count(Note::Limit), 1);
        assert_eq!(notes[REPORTED_PAGES], Note::Limit);
        assert_eq!(log.note(0), Note::Quiet);
    }
}

//! Rate limits for the messages a guest can cause: the first few are
//! logged, the rest only counted, so a guest exiting in a loop cannot flood
//! the console (on a real UART, a line costs the CPU that prints it about a
//! millisecond).

use core::sync::atomic::{AtomicU64, Ordering};

/// Messages logged before the rest are only counted.
pub const FIRST: u64 = 10;

/// What to do with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Log it.
    Log,
    /// Log it, saying that the next ones will not be.
    LogLast,
    /// Count it only.
    Suppress,
}

/// One source's count of messages (atomic: the vCPUs of a guest run on
/// several CPUs).
#[derive(Debug, Default)]
pub struct RateLimit {
    seen: AtomicU64,
}

impl RateLimit {
    pub const fn new() -> Self {
        Self {
            seen: AtomicU64::new(0),
        }
    }

    /// Counts one message and says whether it is logged.
    pub fn admit(&self) -> Verdict {
        match self.seen.fetch_add(1, Ordering::Relaxed) + 1 {
            n if n < FIRST => Verdict::Log,
            FIRST => Verdict::LogLast,
            _ => Verdict::Suppress,
        }
    }

    /// How many messages were counted and not logged.
    pub fn suppressed(&self) -> u64 {
        self.seen.load(Ordering::Relaxed).saturating_sub(FIRST)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::vec::Vec;

    #[test]
    fn first_messages_are_logged_then_counted() {
        let limit = RateLimit::new();
        for _ in 1..FIRST {
            assert_eq!(limit.admit(), Verdict::Log);
        }
        assert_eq!(limit.admit(), Verdict::LogLast);
        assert_eq!(limit.suppressed(), 0);
        for n in 1..=5000 {
            assert_eq!(limit.admit(), Verdict::Suppress);
            assert_eq!(limit.suppressed(), n);
        }
    }

    #[test]
    fn nothing_suppressed_without_messages() {
        assert_eq!(RateLimit::new().suppressed(), 0);
    }

    #[test]
    fn racing_cpus_log_exactly_the_first() {
        let limit = Arc::new(RateLimit::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let limit = limit.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .map(|_| limit.admit())
                        .filter(|v| *v != Verdict::Suppress)
                        .count() as u64
                })
            })
            .collect();
        let logged: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(logged, FIRST);
        assert_eq!(limit.suppressed(), 8000 - FIRST);
    }
}

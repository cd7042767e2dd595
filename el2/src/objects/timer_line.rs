//! A guest timer's interrupt line as a level, followed through one run of
//! zx_vcpu_enter (docs/design.md, "vGIC and timers"). While the line is
//! asserted and the guest has not yet deactivated the virtual interrupt, the
//! monitor keeps the source quiet (the physical PPI masked at the GIC, or
//! the EL2 timer not armed for an emulated timer), so a level that stays up
//! does not make the guest exit again and again. Once the guest has
//! deactivated it (the list register's EOI bit raises the maintenance
//! interrupt, and the run loop checks before every entry, as that interrupt
//! can be lost), the line is looked at again: still asserted, it is pending again at once;
//! gone, the source is let through, so the next expiry reaches the guest at
//! its deadline whatever the guest is doing.

use core::cell::Cell;

/// What the run loop does to the interrupt and its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Make the virtual interrupt pending and quiet the source.
    PendAndQuiet,
    /// Make the virtual interrupt pending again (the source is still quiet).
    Pend,
    /// Quiet the source only: the guest has the interrupt disabled at its
    /// GIC, so the asserted line waits there (until the next run looks again).
    Quiet,
    /// Let the source through again.
    Release,
}

/// One timer line during one run. Its state is a `Cell`, so that the run
/// loop can change it while the vectors' `hvc` path (`exit::fast`, given
/// the lines by reference for each entry) reads it.
#[derive(Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct TimerLine {
    quiet: Cell<bool>,
}

impl TimerLine {
    /// At the start of a run: a virtual interrupt that a list register
    /// still holds from the last run keeps its source quiet until the guest
    /// deactivates it. Whether the source starts quiet is `is_quiet`.
    pub fn start(held: bool) -> Self {
        Self {
            quiet: Cell::new(held),
        }
    }

    /// Whether the source is kept quiet now.
    pub fn is_quiet(&self) -> bool {
        self.quiet.get()
    }

    /// The line's level, seen before an entry or when its physical
    /// interrupt fired, and whether the guest has the interrupt enabled.
    pub fn level(&self, asserted: bool, enabled: bool) -> Action {
        match (asserted && !self.is_quiet(), enabled) {
            (false, _) => Action::None,
            (true, true) => {
                self.quiet.set(true);
                Action::PendAndQuiet
            }
            (true, false) => {
                self.quiet.set(true);
                Action::Quiet
            }
        }
    }

    /// Once the guest is done with the interrupt (no list register holds it
    /// and it is not pending): the line's level now, and whether the guest
    /// has it enabled (a disabled one still asserted stays quiet, pending at
    /// its GIC).
    pub fn deactivated(&self, asserted: bool, enabled: bool) -> Action {
        match (self.is_quiet(), asserted) {
            (false, _) => Action::None,
            (true, true) if enabled => Action::Pend,
            (true, true) => Action::None,
            (true, false) => {
                self.quiet.set(false);
                Action::Release
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_firing_timer_is_pended_once_and_released_after_the_guest_handles_it() {
        let line = TimerLine::start(false);
        assert!(!line.is_quiet());
        assert_eq!(line.level(false, true), Action::None);
        assert_eq!(line.level(true, true), Action::PendAndQuiet);
        // Exits while the guest handles it: no second injection.
        assert_eq!(line.level(true, true), Action::None);
        assert!(line.is_quiet());
        // The guest reprogrammed the timer and deactivated the interrupt.
        assert_eq!(line.deactivated(false, true), Action::Release);
        assert!(!line.is_quiet());
        assert_eq!(line.level(true, true), Action::PendAndQuiet);
    }

    #[test]
    fn a_line_still_asserted_after_deactivation_is_pending_again() {
        let line = TimerLine::start(false);
        line.level(true, true);
        assert_eq!(line.deactivated(true, true), Action::Pend);
        assert!(line.is_quiet());
        assert_eq!(line.deactivated(false, true), Action::Release);
    }

    #[test]
    fn a_line_not_kept_quiet_is_left_alone() {
        let line = TimerLine::start(false);
        assert_eq!(line.deactivated(false, true), Action::None);
        assert!(!line.is_quiet());
    }

    #[test]
    fn a_disabled_interrupt_quiets_its_source_without_pending() {
        let line = TimerLine::start(false);
        assert_eq!(line.level(true, false), Action::Quiet);
        assert!(line.is_quiet());
        assert_eq!(line.level(true, true), Action::None);
        // Disabled while the guest handled it: not pending again on its EOI.
        let line = TimerLine::start(false);
        line.level(true, true);
        assert_eq!(line.deactivated(true, false), Action::None);
        assert!(line.is_quiet());
    }

    #[test]
    fn an_interrupt_held_from_the_last_run_starts_quiet() {
        let line = TimerLine::start(true);
        assert!(line.is_quiet());
        assert_eq!(line.level(true, true), Action::None);
        assert_eq!(line.deactivated(false, true), Action::Release);
    }
}

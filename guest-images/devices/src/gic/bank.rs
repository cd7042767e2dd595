//! The distributor state of 32 consecutive interrupts: the SGIs and PPIs of one vCPU, or 32
//! SPIs. One bit per interrupt in each bitmap, as the GIC's own registers lay it out.

/// The state of interrupts `32 * n .. 32 * n + 32` (bit `i` is interrupt `32 * n + i`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bank {
    /// IGROUPR: 1 = Group 1.
    pub group: u32,
    /// IGRPMODR (GICv3): stored, no effect.
    pub group_mod: u32,
    pub enabled: u32,
    /// Latched pending state, cleared by delivery (the list registers take over from there).
    pub pending: u32,
    /// ISACTIVER/ICACTIVER as the guest wrote them.
    pub active: u32,
    /// ICFGR: 1 = edge-triggered, 0 = level-sensitive.
    pub edge: u32,
    /// The level of each device's interrupt line (SPIs, from `Gic::set_level`).
    pub line: u32,
    pub priority: [u8; 32],
}

/// The SGIs' bits in a vCPU's bank: always edge-triggered.
pub const SGI_BITS: u32 = 0x0000_FFFF;

impl Bank {
    /// The reset state of a vCPU's SGIs and PPIs.
    pub const fn private() -> Self {
        Self::with_edges(SGI_BITS)
    }

    /// The reset state of 32 SPIs.
    pub const fn shared() -> Self {
        Self::with_edges(0)
    }

    const fn with_edges(edge: u32) -> Self {
        Self {
            group: 0,
            group_mod: 0,
            enabled: 0,
            pending: 0,
            active: 0,
            edge,
            line: 0,
            priority: [0; 32],
        }
    }

    /// Enables `bits`. A level-sensitive interrupt whose line is high becomes pending as it is
    /// enabled, as on hardware where its pending state follows the line.
    pub fn enable(&mut self, bits: u32) {
        let newly = bits & !self.enabled;
        self.enabled |= bits;
        self.pending |= newly & self.line & !self.edge;
    }

    /// Sets the line of the interrupts in `bits` to `high`. A rising edge latches the
    /// interrupt pending; a falling edge withdraws a level-sensitive interrupt that is still
    /// latched (never delivered).
    pub fn set_line(&mut self, bits: u32, high: bool) {
        if high {
            self.pending |= bits & !self.line;
            self.line |= bits;
        } else {
            self.pending &= !(bits & self.line & !self.edge);
            self.line &= !bits;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgis_reset_edge_triggered_and_everything_else_level() {
        assert_eq!(Bank::private().edge, SGI_BITS);
        assert_eq!(Bank::shared().edge, 0);
    }

    #[test]
    fn a_rising_line_latches_pending_once() {
        let mut bank = Bank::shared();
        bank.set_line(1 << 3, true);
        assert_eq!(bank.pending, 1 << 3);
        bank.pending = 0;
        bank.set_line(1 << 3, true);
        assert_eq!(bank.pending, 0, "staying high is no new edge");
    }

    #[test]
    fn a_falling_line_withdraws_a_latched_level_interrupt() {
        let mut bank = Bank::shared();
        bank.set_line(1, true);
        bank.set_line(1, false);
        assert_eq!(bank.pending, 0);
    }

    #[test]
    fn a_falling_line_keeps_a_latched_edge_interrupt() {
        let mut bank = Bank::shared();
        bank.edge = 1;
        bank.set_line(1, true);
        bank.set_line(1, false);
        assert_eq!(bank.pending, 1);
    }

    #[test]
    fn enabling_a_level_interrupt_with_its_line_high_makes_it_pending() {
        let mut bank = Bank::shared();
        bank.set_line(1 << 5, true);
        bank.pending = 0;
        bank.enable(1 << 5);
        assert_eq!(bank.pending, 1 << 5);
    }

    #[test]
    fn enabling_an_edge_interrupt_with_its_line_high_does_not() {
        let mut bank = Bank::shared();
        bank.edge = 1 << 5;
        bank.set_line(1 << 5, true);
        bank.pending = 0;
        bank.enable(1 << 5);
        assert_eq!(bank.pending, 0);
    }

    #[test]
    fn enabling_again_while_enabled_changes_nothing() {
        let mut bank = Bank::shared();
        bank.enable(1);
        bank.set_line(1, true);
        bank.pending = 0;
        bank.enable(1);
        assert_eq!(bank.pending, 0);
    }
}

//! A guest's EL1 physical timer (CNTP, PPI 30), emulated: CNTHCTL_EL2
//! traps the guest's CNTP_CTL/CVAL/TVAL accesses (the host keeps the real
//! one, which it ticks with), and this model answers them as the Arm ARM
//! says the timer behaves. The guest's physical counter is the real one
//! (CNTPCT_EL0 is not trapped), so the condition is CNTPCT >= CVAL. The run
//! loop fires the interrupt at the deadline with the EL2 timer (CNTHP).

/// CNTP_CTL_EL0 fields.
pub const ENABLE: u64 = 1 << 0;
pub const IMASK: u64 = 1 << 1;
pub const ISTATUS: u64 = 1 << 2;

/// Which CNTP register a trapped access names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Register {
    Ctl,
    Cval,
    Tval,
}

/// One vCPU's EL1 physical timer; it resets disabled (CTL 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysicalTimer {
    ctl: u64,
    cval: u64,
}

impl PhysicalTimer {
    /// A read of `reg` with the counter at `now`: CTL with ISTATUS set when
    /// the condition is met (enabled or not masked alike), CVAL, or TVAL as
    /// the low 32 bits of CVAL - CNTPCT.
    pub fn read(&self, reg: Register, now: u64) -> u64 {
        match reg {
            Register::Ctl => {
                self.ctl
                    | if self.ctl & ENABLE != 0 && now >= self.cval {
                        ISTATUS
                    } else {
                        0
                    }
            }
            Register::Cval => self.cval,
            Register::Tval => self.cval.wrapping_sub(now) & 0xffff_ffff,
        }
    }

    /// A write of `value` to `reg` with the counter at `now`: CTL keeps
    /// ENABLE and IMASK (ISTATUS is read-only), TVAL sets CVAL to
    /// CNTPCT + the signed 32-bit value.
    pub fn write(&mut self, reg: Register, value: u64, now: u64) {
        match reg {
            Register::Ctl => self.ctl = value & (ENABLE | IMASK),
            Register::Cval => self.cval = value,
            Register::Tval => self.cval = now.wrapping_add(value as u32 as i32 as i64 as u64),
        }
    }

    /// When the timer's interrupt is due, if it is enabled and not masked.
    pub fn deadline(&self) -> Option<u64> {
        (self.ctl & (ENABLE | IMASK) == ENABLE).then_some(self.cval)
    }

    /// Whether the interrupt line is asserted with the counter at `now`.
    pub fn asserted(&self, now: u64) -> bool {
        condition(self.ctl, self.cval, now)
    }
}

/// Whether a generic timer with control `ctl` and compare value `cval`
/// asserts its interrupt with the counter at `now` (enabled, not masked,
/// condition met); for the saved virtual timer too.
pub fn condition(ctl: u64, cval: u64, now: u64) -> bool {
    ctl & (ENABLE | IMASK) == ENABLE && now >= cval
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_disabled_and_quiet() {
        let t = PhysicalTimer::default();
        assert_eq!(t.read(Register::Ctl, 1000), 0);
        assert_eq!(t.deadline(), None);
        assert!(!t.asserted(u64::MAX));
    }

    #[test]
    fn istatus_follows_the_condition_and_the_line_follows_the_mask() {
        let mut t = PhysicalTimer::default();
        t.write(Register::Cval, 500, 0);
        t.write(Register::Ctl, ENABLE | ISTATUS, 0);
        assert_eq!(t.read(Register::Ctl, 499), ENABLE);
        assert!(!t.asserted(499));
        assert_eq!(t.read(Register::Ctl, 500), ENABLE | ISTATUS);
        assert!(t.asserted(500));
        t.write(Register::Ctl, ENABLE | IMASK, 600);
        assert_eq!(t.read(Register::Ctl, 600), ENABLE | IMASK | ISTATUS);
        assert!(!t.asserted(600));
        assert_eq!(t.deadline(), None);
        t.write(Register::Ctl, 0, 600);
        assert_eq!(t.read(Register::Ctl, 600), 0);
    }

    #[test]
    fn tval_counts_down_signed_32_bits() {
        let mut t = PhysicalTimer::default();
        t.write(Register::Tval, 1000, 5000);
        assert_eq!(t.read(Register::Cval, 0), 6000);
        assert_eq!(t.read(Register::Tval, 5400), 600);
        // Past the deadline TVAL reads negative (as 32 bits).
        assert_eq!(t.read(Register::Tval, 6001), 0xffff_ffff);
        // A negative TVAL puts the deadline in the past; bits 63:32 are ignored.
        t.write(Register::Tval, 0xdead_0000_ffff_fff6, 5000);
        assert_eq!(t.read(Register::Cval, 0), 4990);
    }
}

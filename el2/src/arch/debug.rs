//! The self-hosted debug registers of EL1 (breakpoints, watchpoints, the
//! claim tags, the DCC interrupt enables, the OS lock and double lock), saved
//! from and loaded into the hardware for the lazy debug switch
//! (world::LazyDebug).

use super::insn;
use super::sysreg::{
    DBGBCR_EL1, DBGBVR_EL1, DBGCLAIMCLR_EL1, DBGCLAIMSET_EL1, DBGWCR_EL1, DBGWVR_EL1, MDCCINT_EL1,
    OSDLR_EL1, OSECCR_EL1, OSLAR_EL1, OSLSR_EL1,
};
use aarch64_cpu::registers::{Readable, ID_AA64DFR0_EL1};

/// Breakpoint and watchpoint register pairs an implementation may have.
pub const MAX_PAIRS: usize = 16;

/// The debug state of one world.
#[derive(Clone, Debug, Default)]
pub struct DebugRegs {
    pub bvr: [u64; MAX_PAIRS],
    pub bcr: [u64; MAX_PAIRS],
    pub wvr: [u64; MAX_PAIRS],
    pub wcr: [u64; MAX_PAIRS],
    /// MDCCINT_EL1.
    pub mdccint: u64,
    /// The claim tags set (DBGCLAIMCLR_EL1 reads them).
    pub claim: u64,
    /// OSECCR_EL1.
    pub oseccr: u64,
    /// OSLSR_EL1.OSLK: the OS lock is set.
    pub os_lock: bool,
    /// OSDLR_EL1.DLK: the OS double lock is set.
    pub os_double_lock: bool,
}

/// How many breakpoint and watchpoint pairs this CPU has.
pub fn pairs() -> (usize, usize) {
    let dfr0 = ID_AA64DFR0_EL1.get();
    let count = |shift: u32| ((dfr0 >> shift) & 0xF) as usize + 1;
    (count(12), count(20))
}

/// The hardware's debug state.
pub fn save() -> DebugRegs {
    let mut regs = DebugRegs::default();
    let (brps, wrps) = pairs();
    for i in 0..brps {
        regs.bvr[i] = DBGBVR_EL1.get(i);
        regs.bcr[i] = DBGBCR_EL1.get(i);
    }
    for i in 0..wrps {
        regs.wvr[i] = DBGWVR_EL1.get(i);
        regs.wcr[i] = DBGWCR_EL1.get(i);
    }
    let (mdccint, claim, oseccr) = (MDCCINT_EL1.get(), DBGCLAIMCLR_EL1.get(), OSECCR_EL1.get());
    let (oslsr, osdlr) = (OSLSR_EL1.get(), OSDLR_EL1.get());
    regs.mdccint = mdccint;
    regs.claim = claim & 0xFF;
    regs.oseccr = oseccr;
    regs.os_lock = oslsr & 0b10 != 0;
    regs.os_double_lock = osdlr & 1 != 0;
    regs
}

/// Loads `regs` into the hardware.
pub fn load(regs: &DebugRegs) {
    let (brps, wrps) = pairs();
    for i in 0..brps {
        DBGBVR_EL1.set(i, regs.bvr[i]);
        DBGBCR_EL1.set(i, regs.bcr[i]);
    }
    for i in 0..wrps {
        DBGWVR_EL1.set(i, regs.wvr[i]);
        DBGWCR_EL1.set(i, regs.wcr[i]);
    }
    // The claim tags are cleared, then set.
    MDCCINT_EL1.set(regs.mdccint);
    DBGCLAIMCLR_EL1.set(0xFF);
    DBGCLAIMSET_EL1.set(regs.claim);
    OSECCR_EL1.set(regs.oseccr);
    insn::isb();
    set_os_lock(regs.os_lock);
    set_os_double_lock(regs.os_double_lock);
}

/// Sets or clears the OS lock of the hardware (OSLAR_EL1).
pub fn set_os_lock(locked: bool) {
    OSLAR_EL1.set(u64::from(locked));
    insn::isb();
}

/// Sets or clears the OS double lock of the hardware (OSDLR_EL1.DLK; RAZ/WI
/// without FEAT_DoubleLock).
pub fn set_os_double_lock(locked: bool) {
    OSDLR_EL1.set(u64::from(locked));
    insn::isb();
}

//! The self-hosted debug registers of EL1 (breakpoints, watchpoints, the
//! claim tags, the DCC interrupt enables, the OS lock and double lock), saved
//! from and loaded into the hardware for the lazy debug switch
//! (world::LazyDebug).

use core::arch::asm;

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

/// Expands to a `match` from a pair number to an `mrs` (or `msr`) of the
/// numbered register `prefix<n>suffix`, for every n the architecture allows.
macro_rules! numbered {
    (read $n:expr, $prefix:literal, $suffix:literal) => {
        numbered!(@read $n, $prefix, $suffix; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
    };
    (write $n:expr, $value:expr, $prefix:literal, $suffix:literal) => {
        numbered!(@write $n, $value, $prefix, $suffix; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
    };
    (@read $n:expr, $prefix:literal, $suffix:literal; $($i:literal)*) => {
        match $n {
            $($i => {
                let v: u64;
                // SAFETY: callers pass a pair the CPU implements
                // (ID_AA64DFR0_EL1.BRPs/WRPs); reading it has no side effect.
                unsafe { asm!(concat!("mrs {}, ", $prefix, $i, $suffix), out(reg) v, options(nomem, nostack)) };
                v
            })*
            _ => 0,
        }
    };
    (@write $n:expr, $value:expr, $prefix:literal, $suffix:literal; $($i:literal)*) => {
        match $n {
            $($i => {
                // SAFETY: as for reads; the register takes effect only in
                // the world whose debug state is loaded.
                unsafe { asm!(concat!("msr ", $prefix, $i, $suffix, ", {}"), in(reg) $value, options(nomem, nostack)) }
            })*
            _ => {}
        }
    };
}

/// How many breakpoint and watchpoint pairs this CPU has.
pub fn pairs() -> (usize, usize) {
    let dfr0: u64;
    // SAFETY: reading an ID register has no side effects.
    unsafe { asm!("mrs {}, id_aa64dfr0_el1", out(reg) dfr0, options(nomem, nostack)) };
    let count = |shift: u32| ((dfr0 >> shift) & 0xF) as usize + 1;
    (count(12), count(20))
}

/// The hardware's debug state.
pub fn save() -> DebugRegs {
    let mut regs = DebugRegs::default();
    let (brps, wrps) = pairs();
    for i in 0..brps {
        regs.bvr[i] = numbered!(read i, "dbgbvr", "_el1");
        regs.bcr[i] = numbered!(read i, "dbgbcr", "_el1");
    }
    for i in 0..wrps {
        regs.wvr[i] = numbered!(read i, "dbgwvr", "_el1");
        regs.wcr[i] = numbered!(read i, "dbgwcr", "_el1");
    }
    let (mdccint, claim, oseccr, oslsr, osdlr): (u64, u64, u64, u64, u64);
    // SAFETY: reads of EL1 debug registers at EL2 have no side effects.
    unsafe {
        asm!(
            "mrs {}, mdccint_el1",
            "mrs {}, dbgclaimclr_el1",
            "mrs {}, oseccr_el1",
            "mrs {}, oslsr_el1",
            "mrs {}, osdlr_el1",
            out(reg) mdccint, out(reg) claim, out(reg) oseccr, out(reg) oslsr, out(reg) osdlr,
            options(nomem, nostack),
        )
    };
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
        numbered!(write i, regs.bvr[i], "dbgbvr", "_el1");
        numbered!(write i, regs.bcr[i], "dbgbcr", "_el1");
    }
    for i in 0..wrps {
        numbered!(write i, regs.wvr[i], "dbgwvr", "_el1");
        numbered!(write i, regs.wcr[i], "dbgwcr", "_el1");
    }
    // SAFETY: writes of EL1 debug registers at EL2, for the world whose debug
    // state is being loaded; the claim tags are cleared, then set.
    unsafe {
        asm!(
            "msr mdccint_el1, {}",
            "msr dbgclaimclr_el1, {}",
            "msr dbgclaimset_el1, {}",
            "msr oseccr_el1, {}",
            "isb",
            in(reg) regs.mdccint, in(reg) 0xFFu64, in(reg) regs.claim, in(reg) regs.oseccr,
            options(nostack),
        )
    };
    set_os_lock(regs.os_lock);
    set_os_double_lock(regs.os_double_lock);
}

/// Sets or clears the OS lock of the hardware (OSLAR_EL1).
pub fn set_os_lock(locked: bool) {
    // SAFETY: OSLAR_EL1 only locks or unlocks self-hosted debug of EL1/EL0.
    unsafe { asm!("msr oslar_el1, {}", "isb", in(reg) u64::from(locked), options(nostack)) };
}

/// Sets or clears the OS double lock of the hardware (OSDLR_EL1.DLK; RAZ/WI
/// without FEAT_DoubleLock).
pub fn set_os_double_lock(locked: bool) {
    // SAFETY: OSDLR_EL1 only locks or unlocks self-hosted debug of EL1/EL0
    // (while the core is not asked to stay powered up).
    unsafe { asm!("msr osdlr_el1, {}", "isb", in(reg) u64::from(locked), options(nostack)) };
}

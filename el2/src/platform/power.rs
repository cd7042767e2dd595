//! Ending the machine the way the platform can: PSCI SYSTEM_OFF or
//! SYSTEM_RESET through the firmware, else the BCM2835 PM watchdog (the
//! Raspberry Pi 4). Returns when the request is under way or impossible;
//! the caller then halts its CPU.

use crate::arch::firmware;
use crate::platform::bcm2835_pm::{PmRegs, Watchdog};
use crate::platform::system;
use crate::platform::Conduit;
use syscalls::psci;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Off,
    Reset,
}

/// Powers the machine off or resets it; does nothing before boot has
/// learned the platform.
pub fn request(what: Request) {
    let Some(sys) = system::try_get() else { return };
    let p = &sys.platform;
    if p.psci == Some(Conduit::Smc) {
        let fid = match what {
            Request::Off => psci::SYSTEM_OFF,
            Request::Reset => psci::SYSTEM_RESET,
        };
        firmware::smc(fid, 0, 0, 0);
    } else if let Some(pm) = p.pm {
        // SAFETY: the PM block's frame came from the DTB and is mapped as
        // device memory in EL2 stage 1 (mmu.rs); PmRegs covers its first
        // 0x28 bytes, inside that frame.
        let watchdog = Watchdog::new(unsafe { &*(pm.base as *const PmRegs) });
        match what {
            Request::Off => watchdog.power_off(),
            Request::Reset => watchdog.reset(),
        }
    }
}

/// How the machine is turned off and reset, for the boot banner.
pub fn describe(p: &crate::platform::Platform) -> &'static str {
    match (p.psci, p.pm) {
        (Some(Conduit::Smc), _) => "PSCI via smc",
        (Some(Conduit::Hvc), _) => "PSCI via hvc (unusable from EL2)",
        (None, Some(_)) => "no PSCI: off/reset through the PM watchdog",
        (None, None) => "no PSCI, no way to power off",
    }
}

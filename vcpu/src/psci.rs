//! The PSCI 1.1 interface the monitor offers a guest (over `smc #0` or `hvc #0`) and the host
//! (docs/abi.md §2, §5): one decode of a call into what it asks for ([`decode`]); which a
//! world answers in place and which stop a vCPU is the caller's to say (reference §5.8).

use core::sync::atomic::{AtomicU8, Ordering};
use syscalls::psci::{
    AFFINITY_INFO_32, AFFINITY_INFO_64, AFFINITY_OFF, AFFINITY_ON, ALREADY_ON, CPU_OFF, CPU_ON_32,
    CPU_ON_64, INVALID_PARAMETERS, MIGRATE_INFO_TYPE, NOT_SUPPORTED, ON_PENDING, PSCI_FEATURES,
    PSCI_VERSION, SUCCESS, SYSTEM_OFF, SYSTEM_RESET, VERSION_1_1,
};

/// `MIGRATE_INFO_TYPE` result: no Trusted OS, or one that needs no migration.
const MIGRATE_INFO_NOT_PRESENT: u64 = 2;

/// What a PSCI call asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciAction {
    /// Write this value to the guest's X0; the guest keeps running.
    Return(u64),
    /// `CPU_ON`: the host is asked to start another vCPU.
    CpuOn {
        /// The target's MPIDR (affinity fields).
        target: u64,
        /// Its entry point (guest physical address).
        entry: u64,
        /// The context id, the target's X0 at entry.
        context: u64,
    },
    /// `AFFINITY_INFO`: the state of another vCPU of the guest ([`affinity_info`] answers).
    AffinityInfo {
        /// The target's MPIDR (affinity fields).
        target: u64,
        /// The lowest affinity level asked about.
        level: u64,
    },
    /// `CPU_OFF`: this vCPU stops.
    CpuOff,
    /// `SYSTEM_OFF`: the guest shuts down.
    SystemOff,
    /// `SYSTEM_RESET`: the guest resets.
    SystemReset,
}

/// The PSCI functions [`decode`] knows, as `PSCI_FEATURES` reports them.
const SUPPORTED: [u32; 10] = [
    PSCI_VERSION,
    PSCI_FEATURES,
    CPU_ON_32,
    CPU_ON_64,
    AFFINITY_INFO_32,
    AFFINITY_INFO_64,
    CPU_OFF,
    SYSTEM_OFF,
    SYSTEM_RESET,
    MIGRATE_INFO_TYPE,
];

/// Whether function ID `fid` lies in PSCI's ranges (SMC32 and SMC64 0x00..=0x1f of the
/// standard secure service calls), known or not.
#[inline]
pub fn is_psci(fid: u32) -> bool {
    matches!(fid, 0x8400_0000..=0x8400_001f | 0xc400_0000..=0xc400_001f)
}

/// Decodes a PSCI call from its X0 (function ID; only W0 counts) and X1..X3 (arguments;
/// SMC32 functions see only their low 32 bits). Unknown function IDs, PSCI or not, return
/// SMCCC `NOT_SUPPORTED` (-1).
pub fn decode(x0: u64, x1: u64, x2: u64, x3: u64) -> PsciAction {
    let w = |x: u64| x & 0xFFFF_FFFF;
    match x0 as u32 {
        PSCI_VERSION => PsciAction::Return(VERSION_1_1 as u64),
        PSCI_FEATURES if SUPPORTED.contains(&(x1 as u32)) => PsciAction::Return(SUCCESS as u64),
        MIGRATE_INFO_TYPE => PsciAction::Return(MIGRATE_INFO_NOT_PRESENT),
        CPU_ON_32 => PsciAction::CpuOn {
            target: w(x1),
            entry: w(x2),
            context: w(x3),
        },
        CPU_ON_64 => PsciAction::CpuOn {
            target: x1,
            entry: x2,
            context: x3,
        },
        AFFINITY_INFO_32 => PsciAction::AffinityInfo {
            target: w(x1),
            level: w(x2),
        },
        AFFINITY_INFO_64 => PsciAction::AffinityInfo {
            target: x1,
            level: x2,
        },
        CPU_OFF => PsciAction::CpuOff,
        SYSTEM_OFF => PsciAction::SystemOff,
        SYSTEM_RESET => PsciAction::SystemReset,
        _ => PsciAction::Return(NOT_SUPPORTED as u64),
    }
}

/// `AFFINITY_INFO` for a guest whose vCPU i is on when bit i of `on` is
/// set (vCPU i has MPIDR Aff0 = i, Aff1-3 = 0): ON or OFF at level 0, the
/// only level with vCPUs; INVALID_PARAMETERS for another level or an
/// affinity no vCPU can have.
pub fn affinity_info(target: u64, level: u64, on: u8) -> u64 {
    let Some(index) = vcpu_index(target).filter(|_| level == 0) else {
        return INVALID_PARAMETERS as u64;
    };
    let state = if on & (1 << index) != 0 {
        AFFINITY_ON
    } else {
        AFFINITY_OFF
    };
    state as u64
}

/// The vCPU a target MPIDR names (vCPU i has Aff0 = i): Aff1-Aff3 must be
/// 0 and Aff0 below 8. Bits outside the affinity fields are ignored.
pub fn vcpu_index(target: u64) -> Option<usize> {
    let aff0 = target & 0xFF;
    let higher = target & 0xFF_00FF_FF00;
    (higher == 0 && aff0 < u64::from(u8::BITS)).then_some(aff0 as usize)
}

/// Guest CPU_ON of vCPU `index`, given the vCPUs that are on (`on`, bit i
/// for vCPU i) and those whose STARTUP is pending (`startups`, shared by
/// the guest's vCPUs): Ok when this caller is the one to start it (its bit
/// is now set in `startups`), else ALREADY_ON for a vCPU that is on, or
/// ON_PENDING for one whose STARTUP was produced and which has not run
/// since. Of callers racing to start the same vCPU, exactly one gets Ok.
pub fn claim_startup(startups: &AtomicU8, on: u8, index: usize) -> Result<(), i64> {
    let bit = 1 << index;
    if on & bit != 0 {
        return Err(ALREADY_ON);
    }
    if startups.fetch_or(bit, Ordering::AcqRel) & bit != 0 {
        return Err(ON_PENDING);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use syscalls::psci::{CPU_SUSPEND_64, MIGRATE_64, SYSTEM_SUSPEND_64};

    #[test]
    fn cpu_on_targets_name_vcpus_by_aff0_below_8() {
        assert_eq!(vcpu_index(0), Some(0));
        assert_eq!(vcpu_index(7), Some(7));
        assert_eq!(vcpu_index(8), None);
        assert_eq!(vcpu_index(0x100), None);
        assert_eq!(vcpu_index(0x1_0000), None);
        assert_eq!(vcpu_index(0x1_0000_0000), None);
        // Bit 31 (RES1 in MPIDR) and bit 30 (U) are not affinity.
        assert_eq!(vcpu_index(0x8000_0001), Some(1));
    }

    #[test]
    fn cpu_on_of_a_vcpu_that_is_on_or_pending_is_refused() {
        let startups = AtomicU8::new(0);
        assert_eq!(claim_startup(&startups, 0b01, 0), Err(ALREADY_ON));
        assert_eq!(claim_startup(&startups, 0b01, 1), Ok(()));
        assert_eq!(claim_startup(&startups, 0b01, 1), Err(ON_PENDING));
        // Once on, ALREADY_ON comes first.
        assert_eq!(claim_startup(&startups, 0b11, 1), Err(ALREADY_ON));
        assert_eq!(startups.load(Ordering::Relaxed), 0b10);
    }

    #[test]
    fn of_racing_callers_exactly_one_starts_the_vcpu() {
        for _ in 0..200 {
            let startups = AtomicU8::new(0);
            let wins = std::thread::scope(|s| {
                let racers: Vec<_> = (0..3)
                    .map(|_| s.spawn(|| claim_startup(&startups, 0b1, 1)))
                    .collect();
                racers
                    .into_iter()
                    .map(|r| r.join().unwrap())
                    .collect::<Vec<_>>()
            });
            assert_eq!(wins.iter().filter(|w| w.is_ok()).count(), 1, "{wins:?}");
            assert!(wins.iter().all(|w| *w == Ok(()) || *w == Err(ON_PENDING)));
        }
    }

    const MINUS_ONE: PsciAction = PsciAction::Return(0xFFFF_FFFF_FFFF_FFFF);

    fn call(fid: u32, x1: u64) -> PsciAction {
        decode(u64::from(fid), x1, 0, 0)
    }

    #[test]
    fn version_is_1_1() {
        assert_eq!(call(PSCI_VERSION, 0), PsciAction::Return(0x1_0001));
    }

    #[test]
    fn features_reports_the_implemented_functions() {
        for fid in [
            PSCI_VERSION,
            PSCI_FEATURES,
            CPU_ON_32,
            CPU_ON_64,
            AFFINITY_INFO_32,
            AFFINITY_INFO_64,
            CPU_OFF,
            SYSTEM_OFF,
            SYSTEM_RESET,
            MIGRATE_INFO_TYPE,
        ] {
            assert_eq!(
                call(PSCI_FEATURES, u64::from(fid)),
                PsciAction::Return(0),
                "{fid:#x}"
            );
        }
        for fid in [
            CPU_SUSPEND_64,
            MIGRATE_64,
            SYSTEM_SUSPEND_64,
            0xC600_0001,
            0,
        ] {
            assert_eq!(call(PSCI_FEATURES, u64::from(fid)), MINUS_ONE, "{fid:#x}");
        }
        // PSCI_FEATURES is an SMC32 call: its argument's upper half is ignored.
        assert_eq!(
            call(PSCI_FEATURES, 0xFFFF_FFFF_8400_0000),
            PsciAction::Return(0)
        );
    }

    #[test]
    fn affinity_info_passes_target_and_level() {
        assert_eq!(
            decode(u64::from(AFFINITY_INFO_64), 0x1_0000_0002, 1 << 32, 0),
            PsciAction::AffinityInfo {
                target: 0x1_0000_0002,
                level: 1 << 32
            }
        );
        assert_eq!(
            decode(
                u64::from(AFFINITY_INFO_32),
                0xFFFF_FFFF_0000_0003,
                1 << 32,
                0
            ),
            PsciAction::AffinityInfo {
                target: 3,
                level: 0
            }
        );
    }

    #[test]
    fn affinity_info_reports_each_vcpu_on_or_off() {
        let on = 0b0000_0101;
        assert_eq!(affinity_info(0, 0, on), 0, "vCPU 0 ON");
        assert_eq!(affinity_info(1, 0, on), 1, "vCPU 1 OFF");
        assert_eq!(affinity_info(2, 0, on), 0, "vCPU 2 ON");
        assert_eq!(affinity_info(7, 0, on), 1, "vCPU 7 OFF");
    }

    #[test]
    fn affinity_info_rejects_other_levels_and_affinities() {
        let invalid = INVALID_PARAMETERS as u64;
        assert_eq!(affinity_info(0, 1, 0xFF), invalid, "level 1");
        assert_eq!(affinity_info(8, 0, 0xFF), invalid, "Aff0 8");
        assert_eq!(affinity_info(0x100, 0, 0xFF), invalid, "Aff1 1");
        assert_eq!(affinity_info(0x1_0000, 0, 0xFF), invalid, "Aff2 1");
        assert_eq!(affinity_info(0x1_0000_0000, 0, 0xFF), invalid, "Aff3 1");
        // MPIDR bit 31 (RES1) and the MT/U bits are not affinity.
        assert_eq!(affinity_info(0x8000_0000, 0, 1), 0, "RES1 bit 31");
    }

    #[test]
    fn migrate_info_type_says_no_migration_needed() {
        assert_eq!(call(MIGRATE_INFO_TYPE, 0), PsciAction::Return(2));
    }

    #[test]
    fn cpu_on_64_passes_full_arguments() {
        assert_eq!(
            decode(
                u64::from(CPU_ON_64),
                0x1_0000_0101,
                0x8_4008_0000,
                0xDEAD_BEEF_CAFE_F00D
            ),
            PsciAction::CpuOn {
                target: 0x1_0000_0101,
                entry: 0x8_4008_0000,
                context: 0xDEAD_BEEF_CAFE_F00D
            }
        );
    }

    #[test]
    fn cpu_on_32_truncates_arguments() {
        assert_eq!(
            decode(
                u64::from(CPU_ON_32),
                0xFFFF_FFFF_0000_0001,
                0x1_4008_0000,
                0xDEAD_BEEF_CAFE_F00D
            ),
            PsciAction::CpuOn {
                target: 1,
                entry: 0x4008_0000,
                context: 0xCAFE_F00D
            }
        );
    }

    #[test]
    fn power_state_calls() {
        assert_eq!(call(CPU_OFF, 0), PsciAction::CpuOff);
        assert_eq!(call(SYSTEM_OFF, 0), PsciAction::SystemOff);
        assert_eq!(call(SYSTEM_RESET, 0), PsciAction::SystemReset);
    }

    #[test]
    fn function_id_is_w0() {
        assert_eq!(
            decode(0xFFFF_FFFF_8400_0008, 0, 0, 0),
            PsciAction::SystemOff
        );
        assert_eq!(decode(0x1_8400_0000, 0, 0, 0), PsciAction::Return(0x1_0001));
    }

    #[test]
    fn other_functions_are_not_supported() {
        for fid in [
            CPU_SUSPEND_64,
            SYSTEM_SUSPEND_64,
            MIGRATE_64,
            0x8400_001F,
            0xC600_0001,
            0xC600_00FF,
            0x8600_FF01,
            0,
        ] {
            assert_eq!(call(fid, 0), MINUS_ONE, "{fid:#x}");
        }
    }

    #[test]
    fn psci_ranges_are_smc32_and_smc64_0_to_0x1f() {
        for fid in [
            PSCI_VERSION,
            CPU_ON_64,
            SYSTEM_RESET,
            0x8400_001F,
            0xC400_001F,
        ] {
            assert!(is_psci(fid), "{fid:#x}");
        }
        for fid in [0x8400_0020, 0xC400_0020, 0xC600_0001, 0x8200_0000, 0] {
            assert!(!is_psci(fid), "{fid:#x}");
        }
    }
}

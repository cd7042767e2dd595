//! PSCI 1.1 function IDs and return codes, for the host's PSCI calls that the monitor
//! handles and for the guest PSCI calls it turns into exits (reference §5.8).

/// `PSCI_VERSION`.
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// `CPU_SUSPEND`, SMC32.
pub const CPU_SUSPEND_32: u32 = 0x8400_0001;
/// `CPU_SUSPEND`, SMC64.
pub const CPU_SUSPEND_64: u32 = 0xC400_0001;
/// `CPU_OFF`.
pub const CPU_OFF: u32 = 0x8400_0002;
/// `CPU_ON`, SMC32.
pub const CPU_ON_32: u32 = 0x8400_0003;
/// `CPU_ON`, SMC64: target MPIDR, entry point, context id.
pub const CPU_ON_64: u32 = 0xC400_0003;
/// `AFFINITY_INFO`, SMC32.
pub const AFFINITY_INFO_32: u32 = 0x8400_0004;
/// `AFFINITY_INFO`, SMC64: target affinity, lowest affinity level.
pub const AFFINITY_INFO_64: u32 = 0xC400_0004;
/// `MIGRATE`, SMC64.
pub const MIGRATE_64: u32 = 0xC400_0005;
/// `MIGRATE_INFO_TYPE`.
pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
/// `SYSTEM_OFF`.
pub const SYSTEM_OFF: u32 = 0x8400_0008;
/// `SYSTEM_RESET`.
pub const SYSTEM_RESET: u32 = 0x8400_0009;
/// `PSCI_FEATURES`: function ID to query.
pub const PSCI_FEATURES: u32 = 0x8400_000A;
/// `SYSTEM_SUSPEND`, SMC64.
pub const SYSTEM_SUSPEND_64: u32 = 0xC400_000E;

/// `PSCI_VERSION` result for PSCI 1.1 (major in bits 31:16, minor in 15:0).
pub const VERSION_1_1: i64 = 0x0001_0001;

/// `SUCCESS`.
pub const SUCCESS: i64 = 0;
/// `NOT_SUPPORTED`.
pub const NOT_SUPPORTED: i64 = -1;
/// `INVALID_PARAMETERS`.
pub const INVALID_PARAMETERS: i64 = -2;
/// `DENIED`.
pub const DENIED: i64 = -3;
/// `ALREADY_ON`.
pub const ALREADY_ON: i64 = -4;
/// `ON_PENDING`.
pub const ON_PENDING: i64 = -5;
/// `INTERNAL_FAILURE`.
pub const INTERNAL_FAILURE: i64 = -6;
/// `NOT_PRESENT`.
pub const NOT_PRESENT: i64 = -7;
/// `DISABLED`.
pub const DISABLED: i64 = -8;
/// `INVALID_ADDRESS`.
pub const INVALID_ADDRESS: i64 = -9;

/// `AFFINITY_INFO` result: the CPU is on.
pub const AFFINITY_ON: i64 = 0;
/// `AFFINITY_INFO` result: the CPU is off.
pub const AFFINITY_OFF: i64 = 1;
/// `AFFINITY_INFO` result: the CPU is being turned on.
pub const AFFINITY_ON_PENDING: i64 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_ids_match_the_reference() {
        assert_eq!(PSCI_VERSION, 0x8400_0000);
        assert_eq!(CPU_SUSPEND_64, 0xC400_0001);
        assert_eq!(CPU_OFF, 0x8400_0002);
        assert_eq!(CPU_ON_64, 0xC400_0003);
        assert_eq!(CPU_ON_32, 0x8400_0003);
        assert_eq!(AFFINITY_INFO_64, 0xC400_0004);
        assert_eq!(AFFINITY_INFO_32, 0x8400_0004);
        assert_eq!(MIGRATE_64, 0xC400_0005);
        assert_eq!(MIGRATE_INFO_TYPE, 0x8400_0006);
        assert_eq!(SYSTEM_OFF, 0x8400_0008);
        assert_eq!(SYSTEM_RESET, 0x8400_0009);
        assert_eq!(PSCI_FEATURES, 0x8400_000A);
        assert_eq!(SYSTEM_SUSPEND_64, 0xC400_000E);
        // SMC64 IDs are the SMC32 IDs with bit 30 set.
        assert_eq!(CPU_SUSPEND_32 | 1 << 30, CPU_SUSPEND_64);
    }

    #[test]
    fn return_codes_match_the_reference() {
        assert_eq!(
            [
                SUCCESS,
                NOT_SUPPORTED,
                INVALID_PARAMETERS,
                DENIED,
                ALREADY_ON,
                ON_PENDING,
                INTERNAL_FAILURE,
                NOT_PRESENT,
                DISABLED,
                INVALID_ADDRESS
            ],
            [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]
        );
        assert_eq!((AFFINITY_ON, AFFINITY_OFF, AFFINITY_ON_PENDING), (0, 1, 2));
        assert_eq!(VERSION_1_1 >> 16, 1);
        assert_eq!(VERSION_1_1 & 0xFFFF, 1);
    }
}

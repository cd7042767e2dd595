//! `ZXV_INFO_VCPU_EXITS`, a zxvisor extension to `zx_object_get_info`: how
//! many times a vCPU left the guest, by kind, counted by the monitor since
//! the vCPU was created (exits the monitor handles itself included, which a
//! VMM cannot otherwise see).

use crate::wire::{read_u64, write_u64};

/// `zx_object_get_info` topic (vCPU handle, INSPECT right) returning a [`VcpuExits`].
pub const ZXV_INFO_VCPU_EXITS: u32 = 0x7A58_0001;

/// The kinds of exit counted, in the order of [`VcpuExits::counts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// A data abort on a MEM trap: a GUEST_MEM packet for the VMM.
    MemTrap,
    /// A store to a BELL trap.
    BellTrap,
    /// HVC from the guest (PSCI and other SMCCC calls).
    Hvc,
    /// SMC from the guest.
    Smc,
    /// WFI.
    Wfi,
    /// WFE.
    Wfe,
    /// A trapped system-register access other than an SGI (TVM, TSW, TID3, debug).
    SysReg,
    /// A GICv3 SGI (ICC_SGI1R_EL1 write).
    Sgi,
    /// The guest's first FP/SIMD use in an enter (lazy switch).
    FpSimd,
    /// A physical interrupt (the monitor's own, or the host's).
    Interrupt,
    /// Anything else (aborts outside traps, SErrors, unknown syndromes).
    Other,
}

impl ExitKind {
    /// Number of kinds.
    pub const COUNT: usize = 11;
    /// Every kind, in counter order.
    pub const ALL: [ExitKind; Self::COUNT] = [
        Self::MemTrap,
        Self::BellTrap,
        Self::Hvc,
        Self::Smc,
        Self::Wfi,
        Self::Wfe,
        Self::SysReg,
        Self::Sgi,
        Self::FpSimd,
        Self::Interrupt,
        Self::Other,
    ];

    /// A short lowercase name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::MemTrap => "mem-trap",
            Self::BellTrap => "bell-trap",
            Self::Hvc => "hvc",
            Self::Smc => "smc",
            Self::Wfi => "wfi",
            Self::Wfe => "wfe",
            Self::SysReg => "sysreg",
            Self::Sgi => "sgi",
            Self::FpSimd => "fp-simd",
            Self::Interrupt => "interrupt",
            Self::Other => "other",
        }
    }
}

/// The record of [`ZXV_INFO_VCPU_EXITS`]: one little-endian u64 per
/// [`ExitKind`], in [`ExitKind::ALL`] order (88 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct VcpuExits {
    /// Exits of each kind.
    pub counts: [u64; ExitKind::COUNT],
}

impl VcpuExits {
    /// Size of the record in bytes.
    pub const SIZE: usize = 8 * ExitKind::COUNT;

    /// Exits of `kind`.
    pub fn get(&self, kind: ExitKind) -> u64 {
        self.counts[kind as usize]
    }

    /// Exits of every kind together.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The record's memory image.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        for (i, count) in self.counts.iter().enumerate() {
            write_u64(&mut b, 8 * i, *count);
        }
        b
    }

    /// The record held in a memory image.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let mut counts = [0; ExitKind::COUNT];
        for (i, count) in counts.iter_mut().enumerate() {
            *count = read_u64(b, 8 * i);
        }
        VcpuExits { counts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_numbered_in_counter_order() {
        for (i, kind) in ExitKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i);
        }
        assert_eq!(ExitKind::Other as usize, ExitKind::COUNT - 1);
    }

    #[test]
    fn record_is_88_bytes_of_little_endian_counts() {
        let mut exits = VcpuExits::default();
        exits.counts[ExitKind::Hvc as usize] = 0x0102_0304_0506_0708;
        exits.counts[ExitKind::Other as usize] = 9;
        let b = exits.to_bytes();
        assert_eq!(VcpuExits::SIZE, 88);
        assert_eq!(b[16..24], [8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(b[80], 9);
        assert_eq!(VcpuExits::from_bytes(&b), exits);
        assert_eq!(exits.get(ExitKind::Other), 9);
        assert_eq!(exits.total(), 0x0102_0304_0506_0711);
    }

    #[test]
    fn names_are_distinct() {
        for a in ExitKind::ALL {
            for b in ExitKind::ALL {
                assert_eq!(a == b, a.name() == b.name());
            }
        }
    }
}

//! List-register encodings of the GIC virtual interface: GICv3 `ICH_LR<n>_EL2` (64 bits) and
//! GICv2 `GICH_LR<n>` (32 bits), and the `ListRegs`/`PREbits` fields of the VTR registers.
//!
//! Only purely virtual interrupts are encoded: the HW bit is always 0, so the physical INTID
//! field is written as 0 and ignored when decoding, except for its EOI bit (GICv3 bit 41,
//! GICv2 bit 19), which asks for a maintenance interrupt when the guest deactivates the
//! interrupt.

/// The state of the interrupt a list register holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LrState {
    /// The list register holds no interrupt (its ELRSR bit reads 1).
    Invalid,
    /// Pending: the guest has not acknowledged it yet.
    Pending,
    /// Active: acknowledged, not yet deactivated (EOIed) by the guest.
    Active,
    /// Active and pending again: injected anew while the guest was still handling it.
    PendingActive,
}

impl LrState {
    /// The two-bit State field, identical on GICv2 and GICv3.
    fn bits(self) -> u8 {
        match self {
            Self::Invalid => 0,
            Self::Pending => 1,
            Self::Active => 2,
            Self::PendingActive => 3,
        }
    }

    fn from_bits(bits: u8) -> Self {
        match bits & 3 {
            0 => Self::Invalid,
            1 => Self::Pending,
            2 => Self::Active,
            _ => Self::PendingActive,
        }
    }

    /// Whether the interrupt waits to be acknowledged (Pending or PendingActive).
    pub fn is_pending(self) -> bool {
        matches!(self, Self::Pending | Self::PendingActive)
    }

    /// Whether the list register holds an interrupt (any state but Invalid).
    pub fn is_valid(self) -> bool {
        self != Self::Invalid
    }
}

/// One list register: a virtual interrupt presented to the guest's CPU interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListRegister {
    /// The virtual INTID the guest acknowledges (32 bits on GICv3, 10 on GICv2).
    pub vintid: u32,
    /// The 8-bit GIC priority (lower is more urgent). Hardware keeps only its implemented
    /// high-order bits: on GICv2 the top five, so decoding returns a multiple of 8.
    pub priority: u8,
    /// The interrupt's state.
    pub state: LrState,
    /// Group 1 (`true`) or Group 0 (`false`).
    pub group1: bool,
    /// Signal the EOI maintenance interrupt when the guest deactivates it (the LR's EOI bit;
    /// the monitor uses it for level-sensitive interrupts such as the timers).
    pub eoi: bool,
}

const V3_PRIORITY_SHIFT: u32 = 48;
const V3_GROUP1: u64 = 1 << 60;
const V3_EOI: u64 = 1 << 41;
const V3_STATE_SHIFT: u32 = 62;

/// VirtualID (bits 9:0) and, for an SGI, the CPUID of its source (bits 12:10).
const V2_VINTID_MASK: u32 = 0x1fff;
const V2_PRIORITY_SHIFT: u32 = 23;
const V2_PRIORITY_MASK: u32 = 0x1f;
const V2_STATE_SHIFT: u32 = 28;
const V2_GROUP1: u32 = 1 << 30;
const V2_EOI: u32 = 1 << 19;
const V2_HW: u32 = 1 << 31;

impl ListRegister {
    /// An empty list register.
    pub const INVALID: Self = Self {
        vintid: 0,
        priority: 0,
        state: LrState::Invalid,
        group1: false,
        eoi: false,
    };

    /// The GICv3 `ICH_LR<n>_EL2` value: vINTID in bits 31:0, Priority in bits 55:48, Group
    /// in bit 60, HW (bit 61) = 0, State in bits 63:62, EOI in bit 41.
    pub fn encode_v3(&self) -> u64 {
        u64::from(self.vintid)
            | if self.eoi { V3_EOI } else { 0 }
            | u64::from(self.priority) << V3_PRIORITY_SHIFT
            | if self.group1 { V3_GROUP1 } else { 0 }
            | u64::from(self.state.bits()) << V3_STATE_SHIFT
    }

    /// Decodes an `ICH_LR<n>_EL2` value; the HW bit and the rest of the pINTID field are
    /// ignored.
    pub fn decode_v3(raw: u64) -> Self {
        Self {
            vintid: raw as u32,
            priority: (raw >> V3_PRIORITY_SHIFT) as u8,
            state: LrState::from_bits((raw >> V3_STATE_SHIFT) as u8),
            group1: raw & V3_GROUP1 != 0,
            eoi: raw & V3_EOI != 0,
        }
    }

    /// The GICv2 `GICH_LR<n>` value: VirtualID in bits 9:0 (and an SGI's source CPUID in bits
    /// 12:10), Priority in bits 27:23, State in
    /// bits 29:28, Grp1 in bit 30, HW (bit 31) = 0, EOI in bit 19.
    ///
    /// The Priority field holds the five most significant bits of the 8-bit priority
    /// (`priority >> 3`), as the GICv2 architecture defines it; its low three bits are lost.
    /// Zircon writes `priority & 0x1f` there instead, so its SPI priority 0x10 becomes 0x80
    /// in the guest (`0x1800_0020` for pending vector 32); here 0x10 stays 0x10
    /// (`0x1100_0020`). Bits of `vintid` above bit 12 are dropped.
    pub fn encode_v2(&self) -> u32 {
        (self.vintid & V2_VINTID_MASK)
            | u32::from(self.priority >> 3) << V2_PRIORITY_SHIFT
            | u32::from(self.state.bits()) << V2_STATE_SHIFT
            | if self.group1 { V2_GROUP1 } else { 0 }
            | if self.eoi { V2_EOI } else { 0 }
    }

    /// Decodes a `GICH_LR<n>` value; the priority comes back as `field << 3`, and the HW bit
    /// and the rest of the PhysicalID field are ignored.
    pub fn decode_v2(raw: u32) -> Self {
        Self {
            // With HW set, bits 19:10 are the physical INTID instead.
            vintid: raw
                & if raw & V2_HW != 0 {
                    0x3ff
                } else {
                    V2_VINTID_MASK
                },
            priority: (((raw >> V2_PRIORITY_SHIFT) & V2_PRIORITY_MASK) << 3) as u8,
            state: LrState::from_bits((raw >> V2_STATE_SHIFT) as u8),
            group1: raw & V2_GROUP1 != 0,
            eoi: raw & V2_EOI != 0,
        }
    }
}

/// The number of list registers from `ICH_VTR_EL2`, whose ListRegs field (bits 4:0) holds the
/// count minus 1.
pub fn num_lrs_from_ich_vtr(vtr: u64) -> usize {
    (vtr & 0x1f) as usize + 1
}

/// The number of list registers from `GICH_VTR`, whose ListRegs field (bits 5:0) holds the
/// count minus 1.
pub fn num_lrs_from_gich_vtr(vtr: u32) -> usize {
    (vtr & 0x3f) as usize + 1
}

/// The number of `ICH_AP0R<n>_EL2`/`ICH_AP1R<n>_EL2` registers to save and restore:
/// `1 << (preemption bits - 5)`, where the PREbits field (bits 28:26) of `ICH_VTR_EL2` holds
/// the number of preemption bits minus 1 (so 1, 2 or 4).
pub fn num_aprs_from_ich_vtr(vtr: u64) -> usize {
    let preemption_bits = ((vtr >> 26) & 7) as u32 + 1;
    1 << preemption_bits.saturating_sub(5)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: [LrState; 4] = [
        LrState::Invalid,
        LrState::Pending,
        LrState::Active,
        LrState::PendingActive,
    ];

    fn lr(vintid: u32, priority: u8, state: LrState, group1: bool) -> ListRegister {
        ListRegister {
            vintid,
            priority,
            state,
            group1,
            eoi: false,
        }
    }

    #[test]
    fn v3_reference_example() {
        let pending_32 = lr(32, 0x10, LrState::Pending, true);
        assert_eq!(pending_32.encode_v3(), 0x5010_0000_0000_0020);
        assert_eq!(ListRegister::decode_v3(0x5010_0000_0000_0020), pending_32);
    }

    #[test]
    fn v3_fields() {
        assert_eq!(
            lr(27, 0, LrState::Active, true).encode_v3(),
            0x9000_0000_0000_001b
        );
        assert_eq!(
            lr(25, 0xf8, LrState::PendingActive, false).encode_v3(),
            0xc0f8_0000_0000_0019
        );
        assert_eq!(ListRegister::INVALID.encode_v3(), 0);
        assert_eq!(
            lr(0xffff_ffff, 0xff, LrState::Pending, false).encode_v3(),
            0x40ff_0000_ffff_ffff
        );
    }

    #[test]
    fn v3_round_trips_every_state_priority_and_group() {
        for state in STATES {
            for priority in 0..=255u8 {
                for group1 in [false, true] {
                    for vintid in [0, 31, 32, 255, 1020, 8192, u32::MAX] {
                        let x = lr(vintid, priority, state, group1);
                        assert_eq!(ListRegister::decode_v3(x.encode_v3()), x);
                    }
                }
            }
        }
    }

    #[test]
    fn v3_decode_ignores_hw_and_pintid() {
        let raw = 0x5010_0000_0000_0020 | 1 << 61 | 0x1ff << 32;
        assert_eq!(
            ListRegister::decode_v3(raw),
            lr(32, 0x10, LrState::Pending, true)
        );
    }

    #[test]
    fn v2_priority_holds_the_top_five_bits() {
        // Architectural encoding: 0x10 >> 3 = 2 in Priority [27:23].
        let pending_32 = lr(32, 0x10, LrState::Pending, false);
        assert_eq!(pending_32.encode_v2(), 0x1100_0020);
        assert_eq!(ListRegister::decode_v2(0x1100_0020), pending_32);
        assert_eq!(
            lr(32, 0x10, LrState::Pending, true).encode_v2(),
            0x5100_0020
        );
        // Zircon's value for the same interrupt (`0x10 & 0x1f` in the field) is priority 0x80.
        assert_eq!(
            ListRegister::decode_v2(0x1800_0020),
            lr(32, 0x80, LrState::Pending, false)
        );
    }

    #[test]
    fn v2_fields() {
        assert_eq!(lr(27, 0, LrState::Active, false).encode_v2(), 0x2000_001b);
        assert_eq!(
            lr(1023, 0xff, LrState::PendingActive, true).encode_v2(),
            0x7f80_03ff
        );
        assert_eq!(ListRegister::INVALID.encode_v2(), 0);
    }

    #[test]
    fn v2_round_trips_priorities_that_are_multiples_of_8() {
        for state in STATES {
            for priority in (0..=255u8).step_by(8) {
                for group1 in [false, true] {
                    for vintid in [0, 31, 32, 255, 1023] {
                        let x = lr(vintid, priority, state, group1);
                        assert_eq!(ListRegister::decode_v2(x.encode_v2()), x);
                    }
                }
            }
        }
    }

    #[test]
    fn v2_drops_low_priority_bits_and_high_vintid_bits() {
        let x = lr(0x2000 | 40, 0x17, LrState::Pending, false);
        assert_eq!(
            ListRegister::decode_v2(x.encode_v2()),
            lr(40, 0x10, LrState::Pending, false)
        );
    }

    #[test]
    fn v2_decode_ignores_hw_and_physical_id() {
        let raw = 0x1100_0020 | 1 << 31 | 0x1ff << 10;
        assert_eq!(
            ListRegister::decode_v2(raw),
            lr(32, 0x10, LrState::Pending, false)
        );
    }

    #[test]
    fn v2_sgi_source_is_in_bits_12_10() {
        let x = lr(3 | 5 << 10, 0, LrState::Pending, false);
        assert_eq!(x.encode_v2(), 0x1000_1403);
        assert_eq!(ListRegister::decode_v2(0x1000_1403), x);
    }

    #[test]
    fn eoi_bit_round_trips_on_both_versions() {
        let x = ListRegister {
            eoi: true,
            ..lr(27, 0, LrState::Pending, true)
        };
        assert_eq!(x.encode_v3(), 0x5000_0200_0000_001b);
        assert_eq!(ListRegister::decode_v3(x.encode_v3()), x);
        let y = ListRegister {
            eoi: true,
            ..lr(27, 0, LrState::Pending, false)
        };
        assert_eq!(y.encode_v2(), 0x1008_001b);
        assert_eq!(ListRegister::decode_v2(y.encode_v2()), y);
    }

    #[test]
    fn state_predicates() {
        let pending: Vec<bool> = STATES.iter().map(|s| s.is_pending()).collect();
        let valid: Vec<bool> = STATES.iter().map(|s| s.is_valid()).collect();
        assert_eq!(pending, [false, true, false, true]);
        assert_eq!(valid, [false, true, true, true]);
    }

    #[test]
    fn vtr_fields() {
        // QEMU's GICv3: ListRegs = 3, TDS, PREbits = 4 (5 bits), PRIbits = 4.
        let ich_vtr = 0x9008_0003;
        assert_eq!(num_lrs_from_ich_vtr(ich_vtr), 4);
        assert_eq!(num_aprs_from_ich_vtr(ich_vtr), 1);
        assert_eq!(num_aprs_from_ich_vtr(5 << 26), 2);
        assert_eq!(num_aprs_from_ich_vtr(6 << 26 | 0xf), 4);
        assert_eq!(num_lrs_from_ich_vtr(0xffff_ffe0 | 15), 16);
        // GIC-400: ListRegs = 3, PREbits = 4, PRIbits = 4.
        assert_eq!(num_lrs_from_gich_vtr(0x9000_0003), 4);
        assert_eq!(num_lrs_from_gich_vtr(0xffff_ffc0 | 63), 64);
    }
}

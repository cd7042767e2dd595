//! GICv2's software-generated interrupt registers: GICD_SGIR (send), and GICD_SPENDSGIR /
//! GICD_CPENDSGIR, which show and change a vCPU's latched SGIs one byte per SGI, bit n of the
//! byte being a request from CPU n.

use super::routing::vcpu_mask;
use super::state::State;

/// The targets (bit n = vCPU n) and INTID of a GICD_SGIR write by `from`: TargetListFilter
/// 0 = CPUTargetList, 1 = all but the sender, 2 = the sender; 3 is reserved (no targets).
pub fn sgir(value: u32, from: usize, num_vcpus: usize) -> (u64, u32) {
    let all = u64::from(vcpu_mask(num_vcpus));
    let sender = 1u64.checked_shl(from as u32).unwrap_or(0);
    let targets = match value >> 24 & 0b11 {
        0 => u64::from(value >> 16 & 0xFF),
        1 => all & !sender,
        2 => sender,
        _ => 0,
    };
    (targets & all, value & 0xF)
}

/// GICD_SPENDSGIR/CPENDSGIR word covering SGIs `first..first + 4` as `vcpu` reads it.
pub fn read_pending(state: &State, vcpu: usize, first: usize) -> u32 {
    u32::from_le_bytes([0, 1, 2, 3].map(|k| state.sgi_sources[vcpu][first + k]))
}

/// A GICD_SPENDSGIR (`set`) or GICD_CPENDSGIR write by `vcpu` to the word covering SGIs
/// `first..first + 4`: adds or removes requesting CPUs; an SGI is pending while any remain.
pub fn write_pending(
    state: &mut State,
    vcpu: usize,
    first: usize,
    set: bool,
    value: u32,
    lanes: u32,
) {
    let cpus = vcpu_mask(state.num_vcpus) as u8;
    let written = lanes.to_le_bytes().map(|lane| lane != 0);
    for (k, byte) in (value & lanes).to_le_bytes().into_iter().enumerate() {
        if !written[k] {
            continue;
        }
        let sources = &mut state.sgi_sources[vcpu][first + k];
        if set {
            *sources |= byte & cpus;
        } else {
            *sources &= !byte;
        }
        let bit = 1 << (first + k);
        if *sources != 0 {
            state.banks[vcpu].pending |= bit;
        } else {
            state.banks[vcpu].pending &= !bit;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gic::GicVersion;

    #[test]
    fn filter_0_sends_to_the_target_list() {
        assert_eq!(sgir(0b0110 << 16 | 3, 0, 4), (0b0110, 3));
    }

    #[test]
    fn filter_0_drops_targets_that_do_not_exist() {
        assert_eq!(sgir(0xFF << 16 | 1, 0, 2), (0b11, 1));
    }

    #[test]
    fn filter_1_sends_to_all_but_the_sender() {
        assert_eq!(sgir(1 << 24 | 0xFF << 16 | 7, 1, 3), (0b101, 7));
    }

    #[test]
    fn filter_2_sends_to_the_sender_only() {
        assert_eq!(sgir(2 << 24 | 0xFF << 16 | 15, 2, 3), (0b100, 15));
    }

    #[test]
    fn filter_3_is_reserved_and_sends_nothing() {
        assert_eq!(sgir(3 << 24 | 0xFF << 16, 0, 2).0, 0);
    }

    #[test]
    fn nsatt_and_reserved_bits_do_not_change_the_intid() {
        assert_eq!(sgir(1 << 15 | 0x3F0 | 9, 0, 1).1, 9);
    }

    #[test]
    fn spendsgir_latches_and_cpendsgir_withdraws_per_source() {
        let mut state = State::new(GicVersion::V2, 2);
        write_pending(&mut state, 1, 4, true, 0x0003_0000, u32::MAX);
        assert_eq!(state.banks[1].pending, 1 << 6);
        assert_eq!(read_pending(&state, 1, 4), 0x0003_0000);
        write_pending(&mut state, 1, 4, false, 0x0001_0000, 0x00FF_0000);
        assert_eq!(state.banks[1].pending, 1 << 6, "CPU1's request remains");
        write_pending(&mut state, 1, 4, false, 0x0002_0000, u32::MAX);
        assert_eq!(state.banks[1].pending, 0);
        assert_eq!(read_pending(&state, 1, 4), 0);
    }

    #[test]
    fn lanes_not_written_keep_their_state() {
        let mut state = State::new(GicVersion::V2, 2);
        state.banks[0].pending = 1 << 1;
        write_pending(&mut state, 0, 0, false, 0, 0x0000_00FF);
        assert_eq!(state.banks[0].pending, 1 << 1);
    }

    #[test]
    fn spendsgir_ignores_cpus_that_do_not_exist() {
        let mut state = State::new(GicVersion::V2, 2);
        write_pending(&mut state, 0, 0, true, 0xFC, u32::MAX);
        assert_eq!(state.banks[0].pending, 0);
    }
}

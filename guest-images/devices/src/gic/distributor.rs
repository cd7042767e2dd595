//! The distributor's registers (GICD), GICv2 and GICv3, one 32-bit word at a time.
//!
//! GICv2 banks the registers of INTIDs 0-31 per CPU (the accessing vCPU's SGIs and PPIs) and
//! makes ITARGETSR0-7 read the accessing CPU's own bit in every byte, as `gic_get_cpumask`
//! expects. GICv3 always has affinity routing on (GICD_CTLR.ARE reads 1) and a single
//! security state (DS reads 1), so the GICD registers of INTIDs 0-31 are RAZ/WI: those live
//! in the redistributors. Offsets that name no register read 0 and ignore writes.

use super::ids::{id_register, IIDR};
use super::irqregs::{self, IrqReg, IrqWord};
use super::routing::{vcpu_mask, ROUTER_BITS};
use super::sgi;
use super::state::{State, CTLR_ENABLE_GRP0, CTLR_ENABLE_GRP1, NUM_SPIS};
use super::GicVersion;
use crate::NUM_INTIDS;

/// GICD_CTLR.ARE (ARE_NS) and DS: affinity routing, single security state (GICv3).
const CTLR_ARE: u32 = 1 << 4;
const CTLR_DS: u32 = 1 << 6;

/// GICD_TYPER.ITLinesNumber: 32 * (N + 1) INTIDs.
const IT_LINES: u32 = NUM_INTIDS / 32 - 1;

/// GICD_TYPER.IDbits (GICv3): 10 INTID bits (SPIs up to 1019; no LPIs).
const ID_BITS: u32 = 10 - 1;

/// A distributor register word, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reg {
    Ctlr,
    Typer,
    Iidr,
    /// A word of the per-interrupt block, in bank `bank`.
    Irq {
        bank: usize,
        word: IrqWord,
    },
    /// GICv2 ITARGETSR word of INTIDs `first..first + 4`.
    Targets {
        first: u32,
    },
    /// GICv2 GICD_SGIR.
    Sgir,
    /// GICv2 GICD_SPENDSGIR (`set`) / GICD_CPENDSGIR word of SGIs `first..first + 4`.
    SgiPending {
        set: bool,
        first: usize,
    },
    /// GICv3 IROUTER of SPI `spi` (0 = INTID 32), its high word if `high`.
    Router {
        spi: usize,
        high: bool,
    },
    Id(u32),
}

/// Decodes the 4-aligned `offset` as `vcpu` accesses it.
fn decode(state: &State, vcpu: usize, offset: u64) -> Option<Reg> {
    let v2 = state.version == GicVersion::V2;
    let own = vcpu < state.num_vcpus;
    let reg = match offset {
        0x000 => Reg::Ctlr,
        0x004 => Reg::Typer,
        0x008 => Reg::Iidr,
        0x800..=0xBFF if v2 => Reg::Targets {
            first: (offset - 0x800) as u32,
        },
        0x080..=0xD7F => {
            let word = irqregs::decode(offset)?;
            let private = word.first < 32;
            if (private && !v2) || (word.reg == IrqReg::GroupMod && v2) {
                return None;
            }
            Reg::Irq {
                bank: state.bank_index(vcpu, word.first)?,
                word,
            }
        }
        0xF00 if v2 => Reg::Sgir,
        0xF10..=0xF2F if v2 && own => Reg::SgiPending {
            set: offset >= 0xF20,
            first: (offset % 0x10) as usize,
        },
        0x6100..=0x67FF if !v2 => Reg::Router {
            spi: ((offset - 0x6100) / 8) as usize,
            high: offset % 8 == 4,
        },
        0xFD0..=0xFFF if v2 => Reg::Id(id_register(offset, 2)?),
        0xFFD0..=0xFFFF => Reg::Id(id_register(offset & 0xFFF, if v2 { 2 } else { 3 })?),
        _ => return None,
    };
    Some(reg)
}

/// The register at the 4-aligned `offset` as `vcpu` reads it.
pub fn read(state: &State, vcpu: usize, offset: u64) -> u32 {
    let Some(reg) = decode(state, vcpu, offset) else {
        return 0;
    };
    match reg {
        Reg::Ctlr => match state.version {
            GicVersion::V2 => state.ctlr,
            GicVersion::V3 => state.ctlr | CTLR_ARE | CTLR_DS,
        },
        Reg::Typer => typer(state),
        Reg::Iidr => IIDR,
        Reg::Irq { bank, word } => irqregs::read(&state.banks[bank], word),
        Reg::Targets { first } => read_targets(state, vcpu, first),
        Reg::Sgir => 0,
        Reg::SgiPending { first, .. } => sgi::read_pending(state, vcpu, first),
        Reg::Router { spi, high } => (state.routers[spi] >> if high { 32 } else { 0 }) as u32,
        Reg::Id(value) => value,
    }
}

/// Writes the byte lanes `lanes` of `value` to the register at the 4-aligned `offset` as
/// `vcpu` does.
pub fn write(state: &mut State, vcpu: usize, offset: u64, value: u32, lanes: u32) {
    let Some(reg) = decode(state, vcpu, offset) else {
        return;
    };
    match reg {
        Reg::Ctlr => {
            let enables = match state.version {
                GicVersion::V2 => CTLR_ENABLE_GRP0,
                GicVersion::V3 => CTLR_ENABLE_GRP0 | CTLR_ENABLE_GRP1,
            };
            state.ctlr = (state.ctlr & !lanes | value & lanes) & enables;
        }
        Reg::Irq { bank, word } => {
            let sgi_pending = matches!(word.reg, IrqReg::SetPending | IrqReg::ClearPending);
            // GICv2: SGIs are made pending through GICD_SGIR and GICD_SPENDSGIR only.
            let lanes = if sgi_pending && word.first == 0 {
                lanes & 0xFFFF_0000
            } else {
                lanes
            };
            irqregs::write(&mut state.banks[bank], word, value, lanes);
        }
        Reg::Targets { first } => write_targets(state, first, value, lanes),
        Reg::Sgir if lanes == u32::MAX => {
            let (targets, intid) = sgi::sgir(value, vcpu, state.num_vcpus);
            state.send_sgi(vcpu, targets, intid);
        }
        Reg::SgiPending { set, first } => sgi::write_pending(state, vcpu, first, set, value, lanes),
        Reg::Router { spi, high } => {
            let shift = if high { 32 } else { 0 };
            let lanes = u64::from(lanes) << shift;
            let old = state.routers[spi];
            state.routers[spi] = (old & !lanes | u64::from(value) << shift & lanes) & ROUTER_BITS;
        }
        Reg::Typer | Reg::Iidr | Reg::Sgir | Reg::Id(_) => {}
    }
}

/// GICD_TYPER: ITLinesNumber, CPUNumber (vCPUs - 1), and on GICv3 IDbits; no security
/// extension, LPIs, MBIs, extended SPIs or Range Selector.
fn typer(state: &State) -> u32 {
    let cpus = (state.num_vcpus as u32 - 1) << 5;
    match state.version {
        GicVersion::V2 => IT_LINES | cpus,
        GicVersion::V3 => IT_LINES | cpus | ID_BITS << 19,
    }
}

/// GICv2 ITARGETSR word of INTIDs `first..first + 4`: for SGIs and PPIs, the reading CPU's own
/// bit in every byte; for SPIs, the stored targets.
fn read_targets(state: &State, vcpu: usize, first: u32) -> u32 {
    if first < 32 {
        let own = 1u32.checked_shl(vcpu as u32).unwrap_or(0) & vcpu_mask(state.num_vcpus);
        return own * 0x0101_0101;
    }
    let spi = first as usize - 32;
    state
        .targets
        .get(spi..spi + 4)
        .map_or(0, |t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]))
}

/// Writes GICv2 ITARGETSR lanes of SPIs; targets that are no vCPU read as zero. The bytes of
/// SGIs and PPIs are read-only.
fn write_targets(state: &mut State, first: u32, value: u32, lanes: u32) {
    let Some(spi) = (first as usize).checked_sub(32).filter(|&s| s < NUM_SPIS) else {
        return;
    };
    let cpus = vcpu_mask(state.num_vcpus) as u8;
    let lanes = lanes.to_le_bytes();
    for (k, byte) in value.to_le_bytes().into_iter().enumerate() {
        if lanes[k] != 0 {
            state.targets[spi + k] = byte & cpus;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(num_vcpus: usize) -> State {
        State::new(GicVersion::V2, num_vcpus)
    }

    fn v3(num_vcpus: usize) -> State {
        State::new(GicVersion::V3, num_vcpus)
    }

    #[test]
    fn gicv3_ctlr_reads_are_and_ds_and_keeps_the_group_enables() {
        let mut state = v3(2);
        assert_eq!(read(&state, 0, 0x0), 0x50);
        write(&mut state, 0, 0x0, 0x8000_0013, u32::MAX);
        assert_eq!(read(&state, 0, 0x0), 0x53, "RWP reads 0; ARE and DS stay 1");
        write(&mut state, 0, 0x0, 0, u32::MAX);
        assert_eq!(read(&state, 0, 0x0), 0x50);
    }

    #[test]
    fn gicv2_ctlr_has_only_enable() {
        let mut state = v2(2);
        write(&mut state, 0, 0x0, 0xFF, u32::MAX);
        assert_eq!(read(&state, 1, 0x0), 1);
    }

    #[test]
    fn typer_reports_256_intids_and_the_cpus() {
        assert_eq!(read(&v2(2), 0, 0x4), 0x27);
        assert_eq!(read(&v2(8), 0, 0x4), 0xE7);
        let typer = read(&v3(2), 0, 0x4);
        assert_eq!(typer & 0x1F, 7, "ITLinesNumber");
        assert_eq!(typer >> 19 & 0x1F, 9, "IDbits");
        assert_eq!(
            typer & (1 << 16 | 1 << 17 | 1 << 8 | 1 << 26 | 1 << 10),
            0,
            "no MBIS, LPIS, ESPI, RSS, SecurityExtn"
        );
    }

    #[test]
    fn iidr_and_typer2() {
        assert_eq!(read(&v3(1), 0, 0x8), IIDR);
        assert_eq!(read(&v3(1), 0, 0xC), 0);
        assert_eq!(read(&v2(1), 0, 0x8), IIDR);
    }

    #[test]
    fn pidr2_is_at_0xffe8_for_both_and_at_0xfe8_for_gicv2() {
        assert_eq!(read(&v3(1), 0, 0xFFE8) >> 4 & 0xF, 3);
        assert_eq!(read(&v2(1), 0, 0xFFE8) >> 4 & 0xF, 2);
        assert_eq!(read(&v2(1), 0, 0xFE8) >> 4 & 0xF, 2);
        assert_eq!(
            read(&v3(1), 0, 0xFE8),
            0,
            "GICv3: priorities of INTIDs 0-31 live elsewhere"
        );
    }

    #[test]
    fn gicv2_banks_the_first_enable_word_per_vcpu() {
        let mut state = v2(2);
        write(&mut state, 1, 0x100, 0x0001_0001, u32::MAX);
        assert_eq!(read(&state, 1, 0x100), 0x0001_0001);
        assert_eq!(read(&state, 0, 0x100), 0);
        write(&mut state, 0, 0x104, 1, u32::MAX);
        assert_eq!(read(&state, 1, 0x104), 1, "SPIs are shared");
    }

    #[test]
    fn gicv2_banks_private_priorities_and_config() {
        let mut state = v2(2);
        write(&mut state, 0, 0x41C, 0xA0A0_A0A0, u32::MAX);
        write(&mut state, 1, 0xC04, 0x0080_0000, u32::MAX);
        assert_eq!(read(&state, 0, 0x41C), 0xA0A0_A0A0);
        assert_eq!(read(&state, 1, 0x41C), 0);
        assert_eq!(read(&state, 1, 0xC04), 0x0080_0000);
        assert_eq!(read(&state, 0, 0xC04), 0);
    }

    #[test]
    fn gicv3_gicd_registers_of_intids_below_32_are_raz_wi() {
        let mut state = v3(2);
        for offset in [
            0x080, 0x100, 0x180, 0x200, 0x280, 0x300, 0x380, 0x400, 0x41C, 0xC00, 0xC04, 0xD00,
        ] {
            write(&mut state, 0, offset, u32::MAX, u32::MAX);
            assert_eq!(read(&state, 0, offset), 0, "offset {offset:#x}");
        }
        assert_eq!(state.banks[0], super::super::bank::Bank::private());
    }

    #[test]
    fn gicv3_stores_group_modifiers_and_gicv2_has_none() {
        let mut state = v3(1);
        write(&mut state, 0, 0xD04, 0xF0, u32::MAX);
        assert_eq!(read(&state, 0, 0xD04), 0xF0);
        let mut state = v2(1);
        write(&mut state, 0, 0xD04, 0xF0, u32::MAX);
        assert_eq!(read(&state, 0, 0xD04), 0);
    }

    #[test]
    fn gicv2_sgi_pending_bits_of_ispendr0_are_write_ignored() {
        let mut state = v2(1);
        write(&mut state, 0, 0x200, u32::MAX, u32::MAX);
        assert_eq!(read(&state, 0, 0x200), 0xFFFF_0000);
        write(&mut state, 0, 0x280, u32::MAX, u32::MAX);
        assert_eq!(read(&state, 0, 0x200), 0);
    }

    #[test]
    fn gicv2_itargetsr0_to_7_read_the_readers_own_bit_in_every_byte() {
        let mut state = v2(2);
        for word in 0..8 {
            assert_eq!(read(&state, 0, 0x800 + 4 * word), 0x0101_0101);
            assert_eq!(read(&state, 1, 0x800 + 4 * word), 0x0202_0202);
        }
        write(&mut state, 1, 0x800, 0, u32::MAX);
        assert_eq!(read(&state, 1, 0x800), 0x0202_0202, "read-only");
    }

    #[test]
    fn gicv2_spi_targets_take_bytes_and_keep_existing_cpus_only() {
        let mut state = v2(2);
        write(&mut state, 0, 0x820, 0x0101_0101, u32::MAX);
        write(&mut state, 0, 0x820, 0xFF << 16, 0x00FF_0000);
        assert_eq!(read(&state, 0, 0x820), 0x0103_0101);
        assert_eq!(state.targets[2], 3);
        assert_eq!(read(&state, 0, 0x8FC), 0);
        write(&mut state, 0, 0x900, u32::MAX, u32::MAX);
        assert_eq!(read(&state, 0, 0x900), 0, "INTIDs past 255");
    }

    #[test]
    fn gicv3_has_no_itargetsr() {
        let mut state = v3(2);
        write(&mut state, 0, 0x820, u32::MAX, u32::MAX);
        assert_eq!(read(&state, 0, 0x820), 0);
    }

    #[test]
    fn irouter_takes_64_bit_writes_as_two_halves_and_keeps_aff0_to_aff2_and_irm() {
        let mut state = v3(2);
        write(&mut state, 0, 0x6108, 0xFFFF_FFFF, u32::MAX);
        write(&mut state, 0, 0x610C, 0xFFFF_FFFF, u32::MAX);
        assert_eq!(state.routers[1], ROUTER_BITS);
        assert_eq!(read(&state, 0, 0x6108), 0x80FF_FFFF);
        assert_eq!(read(&state, 0, 0x610C), 0);
        write(&mut state, 0, 0x6108, 1, 0xFF);
        assert_eq!(state.routers[1], 0x80FF_FF01);
    }

    #[test]
    fn irouter_of_intids_below_32_or_on_gicv2_is_raz_wi() {
        let mut state = v3(2);
        write(&mut state, 0, 0x60F8, 1, u32::MAX);
        assert_eq!(read(&state, 0, 0x60F8), 0);
        let mut state = v2(2);
        write(&mut state, 0, 0x6100, 1, u32::MAX);
        assert_eq!(read(&state, 0, 0x6100), 0);
    }

    #[test]
    fn the_last_irouter_is_intid_255() {
        let mut state = v3(2);
        write(&mut state, 0, 0x6000 + 8 * 255, 1, u32::MAX);
        assert_eq!(state.routers[223], 1);
        assert_eq!(read(&state, 0, 0x6000 + 8 * 256), 0);
    }

    #[test]
    fn sgir_needs_a_whole_word() {
        let mut state = v2(2);
        write(&mut state, 0, 0xF00, 2 << 24 | 1, 0xFF);
        assert_eq!(state.banks[0].pending, 0);
        write(&mut state, 0, 0xF00, 2 << 24 | 1, u32::MAX);
        assert_eq!(state.banks[0].pending, 1 << 1);
        assert_eq!(read(&state, 0, 0xF00), 0, "write-only");
    }

    #[test]
    fn spendsgir_is_banked_per_vcpu() {
        let mut state = v2(2);
        write(&mut state, 1, 0xF20, 0x01 << 8, u32::MAX);
        assert_eq!(read(&state, 1, 0xF20), 0x0100);
        assert_eq!(read(&state, 1, 0xF10), 0x0100, "CPENDSGIR reads the same");
        assert_eq!(read(&state, 0, 0xF20), 0);
        write(&mut state, 1, 0xF10, 0x01 << 8, u32::MAX);
        assert_eq!(state.banks[1].pending, 0);
    }

    #[test]
    fn a_vcpu_that_does_not_exist_sees_no_banked_registers() {
        let mut state = v2(2);
        write(&mut state, 5, 0x100, u32::MAX, u32::MAX);
        assert_eq!(read(&state, 5, 0x100), 0);
        assert_eq!(read(&state, 5, 0x800), 0);
        write(&mut state, 5, 0xF20, u32::MAX, u32::MAX);
        assert_eq!(read(&state, 5, 0x104), 0);
    }
}

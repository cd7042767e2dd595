//! The GICv3 redistributors (GICR), one 128 KiB frame per vCPU in vCPU order: RD_base (control,
//! identification, power) then SGI_base (the vCPU's SGIs and PPIs, laid out like the
//! distributor's first words). Any vCPU may access any frame. No LPIs: PROPBASER, PENDBASER
//! and the LPI registers are RAZ/WI, and neither RWP nor UWP is ever set. GICR_WAKER is
//! RAZ/WI, as KVM has it: a redistributor is always awake, so a guest that never clears
//! ProcessorSleep still gets its interrupts, and one that does sees ChildrenAsleep = 0 at once.

use super::ids::{id_register, IIDR};
use super::irqregs::{self, IrqWord};
use super::state::State;
use super::GicVersion;
use crate::GICR_FRAME_SIZE;

/// Where SGI_base starts within a frame.
pub const SGI_BASE: u64 = 0x1_0000;

/// GICR_TYPER.Last.
const TYPER_LAST: u32 = 1 << 4;

/// A redistributor register word, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reg {
    Iidr,
    TyperLow,
    TyperHigh,
    /// SGI_base: a word of the vCPU's SGI/PPI block.
    Irq(IrqWord),
    Id(u32),
}

/// Decodes the 4-aligned `offset` within the whole region into (frame = vCPU, register).
fn decode(state: &State, offset: u64) -> Option<(usize, Reg)> {
    if state.version != GicVersion::V3 {
        return None;
    }
    let vcpu = usize::try_from(offset / GICR_FRAME_SIZE)
        .ok()
        .filter(|&v| v < state.num_vcpus)?;
    let reg = match offset % GICR_FRAME_SIZE {
        0x0004 => Reg::Iidr,
        0x0008 => Reg::TyperLow,
        0x000C => Reg::TyperHigh,
        within @ 0xFFD0..=0xFFFF => Reg::Id(id_register(within & 0xFFF, 3)?),
        within @ SGI_BASE.. => {
            Reg::Irq(irqregs::decode(within - SGI_BASE).filter(|w| w.first < 32)?)
        }
        _ => return None,
    };
    Some((vcpu, reg))
}

/// The register at the 4-aligned `offset` of the redistributor region.
pub fn read(state: &State, offset: u64) -> u32 {
    let Some((vcpu, reg)) = decode(state, offset) else {
        return 0;
    };
    match reg {
        Reg::Iidr => IIDR,
        Reg::TyperLow => {
            let last = if vcpu + 1 == state.num_vcpus {
                TYPER_LAST
            } else {
                0
            };
            (vcpu as u32) << 8 | last
        }
        Reg::TyperHigh => vcpu as u32,
        Reg::Irq(word) => irqregs::read(&state.banks[vcpu], word),
        Reg::Id(value) => value,
    }
}

/// Writes the byte lanes `lanes` of `value` to the register at the 4-aligned `offset` of the
/// redistributor region.
pub fn write(state: &mut State, offset: u64, value: u32, lanes: u32) {
    let Some((vcpu, reg)) = decode(state, offset) else {
        return;
    };
    match reg {
        Reg::Irq(word) => irqregs::write(&mut state.banks[vcpu], word, value, lanes),
        Reg::Iidr | Reg::TyperLow | Reg::TyperHigh | Reg::Id(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: u64 = GICR_FRAME_SIZE;

    fn v3(num_vcpus: usize) -> State {
        State::new(GicVersion::V3, num_vcpus)
    }

    fn typer(state: &State, vcpu: u64) -> u64 {
        u64::from(read(state, vcpu * FRAME + 8)) | u64::from(read(state, vcpu * FRAME + 0xC)) << 32
    }

    #[test]
    fn typer_names_the_vcpu_by_number_and_affinity() {
        let state = v3(3);
        assert_eq!(typer(&state, 1), 1 << 32 | 1 << 8);
        assert_eq!(typer(&state, 0), 0);
    }

    #[test]
    fn only_the_final_frame_is_last() {
        let state = v3(3);
        assert_eq!(typer(&state, 0) & 0x10, 0);
        assert_eq!(typer(&state, 1) & 0x10, 0);
        assert_eq!(typer(&state, 2) & 0x10, 0x10);
    }

    #[test]
    fn typer_reports_no_lpis_and_16_ppis() {
        let state = v3(1);
        assert_eq!(typer(&state, 0) & 0xF800_00EF, 0);
    }

    #[test]
    fn frames_past_the_vcpus_are_raz() {
        let state = v3(2);
        assert_eq!(read(&state, 2 * FRAME + 0xFFE8), 0);
        assert_eq!(read(&state, 2 * FRAME + 0x8), 0);
    }

    #[test]
    fn every_frame_reports_gicv3_in_pidr2() {
        let state = v3(2);
        assert_eq!(read(&state, 0xFFE8) & 0xF0, 0x30);
        assert_eq!(read(&state, FRAME + 0xFFE8) & 0xF0, 0x30);
        assert_eq!(read(&state, 4), IIDR);
    }

    #[test]
    fn ctlr_and_lpi_registers_read_zero() {
        let mut state = v3(1);
        for offset in [0x0, 0x10, 0x70, 0x74, 0x78, 0x7C, 0xC0] {
            write(&mut state, offset, u32::MAX, u32::MAX);
            assert_eq!(read(&state, offset), 0, "offset {offset:#x}");
        }
    }

    #[test]
    fn waker_is_raz_wi() {
        let mut state = v3(2);
        for frame in [0, FRAME] {
            assert_eq!(read(&state, frame + 0x14), 0, "awake from reset");
            write(&mut state, frame + 0x14, 0b110, u32::MAX);
            assert_eq!(read(&state, frame + 0x14), 0, "ProcessorSleep is ignored");
        }
    }

    #[test]
    fn the_sgi_frame_reaches_its_vcpus_bank() {
        let mut state = v3(2);
        write(&mut state, FRAME + SGI_BASE + 0x100, 0x0000_FFFF, u32::MAX);
        write(&mut state, FRAME + SGI_BASE + 0x080, u32::MAX, u32::MAX);
        write(&mut state, FRAME + SGI_BASE + 0x41C, 0xA0A0_A0A0, u32::MAX);
        assert_eq!(state.banks[1].enabled, 0xFFFF);
        assert_eq!(state.banks[1].group, u32::MAX);
        assert_eq!(state.banks[1].priority[28..], [0xA0; 4]);
        assert_eq!(state.banks[0].enabled, 0);
        assert_eq!(read(&state, FRAME + SGI_BASE + 0x100), 0xFFFF);
    }

    #[test]
    fn the_sgi_frame_has_only_the_first_word_of_each_register() {
        let mut state = v3(1);
        write(&mut state, SGI_BASE + 0x104, u32::MAX, u32::MAX);
        write(&mut state, SGI_BASE + 0x420, u32::MAX, u32::MAX);
        assert_eq!(read(&state, SGI_BASE + 0x104), 0);
        assert_eq!(state.banks[crate::MAX_VCPUS].enabled, 0, "no SPI touched");
    }

    #[test]
    fn sgi_config_is_edge_and_ppi_config_writable() {
        let mut state = v3(1);
        assert_eq!(read(&state, SGI_BASE + 0xC00), 0xAAAA_AAAA);
        write(&mut state, SGI_BASE + 0xC04, 0x8, u32::MAX);
        assert_eq!(read(&state, SGI_BASE + 0xC04), 0x8);
    }

    #[test]
    fn gicv2_has_no_redistributors() {
        let mut state = State::new(GicVersion::V2, 2);
        write(&mut state, SGI_BASE + 0x100, u32::MAX, u32::MAX);
        assert_eq!(read(&state, 0xFFE8), 0);
        assert_eq!(state.banks[0].enabled, 0);
    }
}

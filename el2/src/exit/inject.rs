//! Reflecting a synchronous exception into EL1: what the monitor writes to the
//! EL1 exception registers, and where the lower EL resumes, when a host access
//! to memory it does not own faults in stage 2 (docs/abi.md §1) or it executes an
//! instruction the monitor does not emulate.

/// The exception to take in EL1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abort {
    Data {
        write: bool,
    },
    Instruction,
    /// An instruction the monitor does not emulate: EC 0 (unknown reason).
    Undefined,
}

/// The register writes that take an exception to EL1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Injection {
    pub esr_el1: u64,
    pub far_el1: u64,
    pub elr_el1: u64,
    pub spsr_el1: u64,
    /// Where the lower EL resumes (VBAR_EL1 + vector offset) and its PSTATE.
    pub elr_el2: u64,
    pub spsr_el2: u64,
}

const IL: u64 = 1 << 25;
const WNR: u64 = 1 << 6;
/// Fault status code: synchronous external abort, not on a table walk.
const FSC_EXTERNAL: u64 = 0x10;

/// Builds the injection of `abort` at `far`, taken from the context with
/// PC `elr` and PSTATE `spsr`, into an EL1 whose vectors are at `vbar_el1`.
pub fn abort_to_el1(abort: Abort, far: u64, elr: u64, spsr: u64, vbar_el1: u64) -> Injection {
    let aarch32 = spsr & 0x10 != 0;
    let from_el1 = !aarch32 && (spsr >> 2) & 3 == 1;
    let offset = match (aarch32, from_el1, spsr & 1) {
        (true, _, _) => 0x600,
        (false, false, _) => 0x400,
        (false, true, 0) => 0x000,
        (false, true, _) => 0x200,
    };
    let (ec, wnr) = match abort {
        Abort::Data { write } => (
            if from_el1 { 0x25 } else { 0x24 },
            if write { WNR } else { 0 },
        ),
        Abort::Instruction => (if from_el1 { 0x21 } else { 0x20 }, 0),
        Abort::Undefined => (0, 0),
    };
    let fsc = if ec == 0 { 0 } else { FSC_EXTERNAL };
    Injection {
        esr_el1: (ec << 26) | IL | wnr | fsc,
        far_el1: far,
        elr_el1: elr,
        spsr_el1: spsr,
        elr_el2: vbar_el1 + offset,
        spsr_el2: vcpu::regs::INITIAL_PSTATE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_abort_from_el1h_goes_to_current_el_spx() {
        let i = abort_to_el1(
            Abort::Data { write: false },
            0x7fe0_0000,
            0x4020_1000,
            0x3c5,
            0x4021_0000,
        );
        assert_eq!(i.esr_el1 >> 26, 0x25);
        assert_eq!(i.esr_el1 & 0x3f, 0x10);
        assert_eq!(i.esr_el1 & WNR, 0);
        assert_eq!(
            (i.far_el1, i.elr_el1, i.spsr_el1),
            (0x7fe0_0000, 0x4020_1000, 0x3c5)
        );
        assert_eq!(i.elr_el2, 0x4021_0200);
        assert_eq!(i.spsr_el2, 0x3c5);
    }

    #[test]
    fn vector_offsets_follow_the_source_mode() {
        let at = |spsr| abort_to_el1(Abort::Data { write: true }, 0, 0, spsr, 0x1000);
        assert_eq!(at(0x3c4).elr_el2, 0x1000, "EL1t");
        assert_eq!(at(0x3c0).elr_el2, 0x1400, "EL0 AArch64");
        assert_eq!(at(0x3c0).esr_el1 >> 26, 0x24, "lower-EL data abort");
        assert_eq!(at(0x3c0).esr_el1 & WNR, WNR);
        assert_eq!(at(0x1d0).elr_el2, 0x1600, "EL0 AArch32");
    }

    #[test]
    fn instruction_abort_classes() {
        assert_eq!(
            abort_to_el1(Abort::Instruction, 0, 0, 0x3c5, 0).esr_el1 >> 26,
            0x21
        );
        assert_eq!(
            abort_to_el1(Abort::Instruction, 0, 0, 0x3c0, 0).esr_el1 >> 26,
            0x20
        );
        assert_eq!(abort_to_el1(Abort::Undefined, 0, 0, 0x3c5, 0).esr_el1, IL);
    }
}

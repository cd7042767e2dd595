//! The host's CPU is consistent (docs/design.md, "CPU features"): what its ID
//! registers advertise works at EL1 (the feature's registers and instructions
//! do not UNDEF), and what the monitor does not support for the host is
//! hidden from them.

use crate::probe::{instruction, read_sysreg, write_sysreg};
use crate::suite::{Suite, TestResult};
use crate::{ensure, why};
use arrayvec::ArrayString;
use core::fmt::Write;

pub fn run(suite: &mut Suite) {
    suite.run("cpu_probe_catches_undefined", probe_catches_undefined);
    suite.run("cpu_host_id_registers_hide_what_is_not_supported", hidden);
    suite.run(
        "cpu_host_advertised_features_work",
        advertised_features_work,
    );
}

/// A host ID register (Op0 3, Op1 0, CRn 0, CRm, Op2) as the host reads it.
fn id(crm: u8, op2: u8) -> u64 {
    read_sysreg([3, 0, 0, crm, op2]).unwrap_or_else(|esr| {
        panic!("reading ID register (3, 0, 0, {crm}, {op2}) faulted: ESR {esr:#x}")
    })
}

/// The 4-bit field at `shift` of the host's ID register (CRm, Op2).
fn id_field(crm: u8, op2: u8, shift: u32) -> u64 {
    (id(crm, op2) >> shift) & 0xF
}

/// Features the monitor does not give the host read as not implemented.
fn hidden() -> TestResult {
    let fields: [(&str, u8, u8, u32); 24] = [
        ("ID_AA64PFR0.RAS", 4, 0, 28),
        ("ID_AA64PFR1.RAS_frac", 4, 1, 12),
        ("ID_AA64PFR0.SVE", 4, 0, 32),
        ("ID_AA64PFR0.MPAM", 4, 0, 40),
        ("ID_AA64PFR0.AMU", 4, 0, 44),
        ("ID_AA64PFR0.RME", 4, 0, 52),
        ("ID_AA64PFR1.MTE", 4, 1, 8),
        ("ID_AA64PFR1.SME", 4, 1, 24),
        ("ID_AA64PFR1.NMI", 4, 1, 36),
        ("ID_AA64PFR1.GCS", 4, 1, 44),
        ("ID_AA64DFR0.TraceVer", 5, 0, 4),
        ("ID_AA64DFR0.PMSVer", 5, 0, 32),
        ("ID_AA64DFR0.TraceFilt", 5, 0, 40),
        ("ID_AA64DFR0.TraceBuffer", 5, 0, 44),
        ("ID_AA64DFR0.BRBE", 5, 0, 52),
        ("ID_AA64ISAR0.TME", 6, 0, 24),
        ("ID_AA64ISAR1.LS64", 6, 1, 60),
        ("ID_AA64MMFR1.VH", 7, 1, 8),
        ("ID_AA64MMFR2.NV", 7, 2, 24),
        ("ID_AA64MMFR3.TCRX", 7, 3, 0),
        ("ID_AA64MMFR3.SCTLRX", 7, 3, 4),
        ("ID_AA64MMFR3.S1PIE", 7, 3, 8),
        ("ID_AA64MMFR3.S1POE", 7, 3, 16),
        ("ID_AA64DFR0.HPMN0", 5, 0, 60),
    ];
    for (name, crm, op2, shift) in fields {
        let value = id_field(crm, op2, shift);
        ensure!(value == 0, "the host sees {name} = {value}");
    }
    // ID_AA64PFR2, ZFR0 (SVE), SMFR0 (SME), FPFR0, DFR1, ISAR3, MMFR4.
    for (crm, op2) in [(4, 2), (4, 4), (4, 5), (4, 7), (5, 1), (6, 3), (7, 4)] {
        let value = id(crm, op2);
        ensure!(
            value == 0,
            "the host's ID register (3, 0, 0, {crm}, {op2}) = {value:#x}, want 0"
        );
    }
    Ok(())
}

/// How a probe touches a register: read it, or read it and write the value
/// back (which changes nothing).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    ReadWrite,
}
pub(crate) use Access::{Read, ReadWrite};

/// A feature, present when the 4-bit field at `shift` of ID register
/// (CRm, Op2) is at least `min` (every field probed here is unsigned).
pub(crate) struct Feature {
    pub name: &'static str,
    pub id: (u8, u8),
    shift: u32,
    min: u64,
    pub registers: &'static [(&'static str, [u8; 5], Access)],
    /// Instructions of the feature, run with x1 = 0 (and x3 = scratch).
    pub instructions: &'static [(&'static str, u32)],
}

/// A feature that brings registers only.
const fn regs(
    name: &'static str,
    id: (u8, u8),
    shift: u32,
    min: u64,
    registers: &'static [(&'static str, [u8; 5], Access)],
) -> Feature {
    Feature {
        name,
        id,
        shift,
        min,
        registers,
        instructions: &[],
    }
}

impl Feature {
    /// Whether the feature is there when ID register (CRm, Op2) reads `id`.
    pub fn present(&self, id: u64) -> bool {
        (id >> self.shift) & 0xF >= self.min
    }
}

/// The registers every AArch64 EL1 has (ID_AA64PFR0.EL1 >= 1): the host's
/// EL1/EL0 context, the cache and identification registers, and debug.
const BASE: &[(&str, [u8; 5], Access)] = &[
    ("SCTLR_EL1", [3, 0, 1, 0, 0], ReadWrite),
    ("ACTLR_EL1", [3, 0, 1, 0, 1], ReadWrite),
    ("CPACR_EL1", [3, 0, 1, 0, 2], ReadWrite),
    ("TTBR0_EL1", [3, 0, 2, 0, 0], ReadWrite),
    ("TTBR1_EL1", [3, 0, 2, 0, 1], ReadWrite),
    ("TCR_EL1", [3, 0, 2, 0, 2], ReadWrite),
    ("SPSR_EL1", [3, 0, 4, 0, 0], ReadWrite),
    ("ELR_EL1", [3, 0, 4, 0, 1], ReadWrite),
    ("SP_EL0", [3, 0, 4, 1, 0], ReadWrite),
    ("AFSR0_EL1", [3, 0, 5, 1, 0], ReadWrite),
    ("AFSR1_EL1", [3, 0, 5, 1, 1], ReadWrite),
    ("ESR_EL1", [3, 0, 5, 2, 0], ReadWrite),
    ("FAR_EL1", [3, 0, 6, 0, 0], ReadWrite),
    ("PAR_EL1", [3, 0, 7, 4, 0], ReadWrite),
    ("MAIR_EL1", [3, 0, 10, 2, 0], ReadWrite),
    ("AMAIR_EL1", [3, 0, 10, 3, 0], ReadWrite),
    ("VBAR_EL1", [3, 0, 12, 0, 0], ReadWrite),
    ("CONTEXTIDR_EL1", [3, 0, 13, 0, 1], ReadWrite),
    ("TPIDR_EL1", [3, 0, 13, 0, 4], ReadWrite),
    ("TPIDR_EL0", [3, 3, 13, 0, 2], ReadWrite),
    ("TPIDRRO_EL0", [3, 3, 13, 0, 3], ReadWrite),
    ("CSSELR_EL1", [3, 2, 0, 0, 0], ReadWrite),
    ("MIDR_EL1", [3, 0, 0, 0, 0], Read),
    ("MPIDR_EL1", [3, 0, 0, 0, 5], Read),
    ("REVIDR_EL1", [3, 0, 0, 0, 6], Read),
    ("CCSIDR_EL1", [3, 1, 0, 0, 0], Read),
    ("CLIDR_EL1", [3, 1, 0, 0, 1], Read),
    ("AIDR_EL1", [3, 1, 0, 0, 7], Read),
    ("CTR_EL0", [3, 3, 0, 0, 1], Read),
    ("DCZID_EL0", [3, 3, 0, 0, 7], Read),
    ("MDSCR_EL1", [2, 0, 0, 2, 2], ReadWrite),
    ("MDCCINT_EL1", [2, 0, 0, 2, 0], ReadWrite),
    ("MDRAR_EL1", [2, 0, 1, 0, 0], Read),
    ("OSLSR_EL1", [2, 0, 1, 1, 4], Read),
    ("OSDLR_EL1", [2, 0, 1, 3, 4], ReadWrite),
    ("DBGCLAIMCLR_EL1", [2, 0, 7, 9, 6], Read),
    ("DBGBVR0_EL1", [2, 0, 0, 0, 4], ReadWrite),
    ("DBGBCR0_EL1", [2, 0, 0, 0, 5], ReadWrite),
    ("DBGWVR0_EL1", [2, 0, 0, 0, 6], ReadWrite),
    ("DBGWCR0_EL1", [2, 0, 0, 0, 7], ReadWrite),
];

/// Each feature with the ID field that advertises it and what it brings.
pub(crate) const FEATURES: &[Feature] = &[
    regs("AArch64 EL1", (4, 0), 4, 1, BASE),
    regs(
        "RAS",
        (4, 0),
        28,
        1,
        &[
            ("ERRIDR_EL1", [3, 0, 5, 3, 0], Read),
            ("ERRSELR_EL1", [3, 0, 5, 3, 1], ReadWrite),
            ("ERXFR_EL1", [3, 0, 5, 4, 0], Read),
            ("ERXCTLR_EL1", [3, 0, 5, 4, 1], ReadWrite),
            ("ERXSTATUS_EL1", [3, 0, 5, 4, 2], Read),
            ("ERXADDR_EL1", [3, 0, 5, 4, 3], ReadWrite),
            ("ERXMISC0_EL1", [3, 0, 5, 5, 0], ReadWrite),
            ("ERXMISC1_EL1", [3, 0, 5, 5, 1], ReadWrite),
            ("DISR_EL1", [3, 0, 12, 1, 1], ReadWrite),
        ],
    ),
    regs(
        "RASv1p1",
        (4, 0),
        28,
        2,
        &[
            ("ERXMISC2_EL1", [3, 0, 5, 5, 2], ReadWrite),
            ("ERXMISC3_EL1", [3, 0, 5, 5, 3], ReadWrite),
        ],
    ),
    regs(
        "SVE",
        (4, 0),
        32,
        1,
        &[("ZCR_EL1", [3, 0, 1, 2, 0], ReadWrite)],
    ),
    regs(
        "AMU",
        (4, 0),
        44,
        1,
        &[
            ("AMCR_EL0", [3, 3, 13, 2, 0], Read),
            ("AMUSERENR_EL0", [3, 3, 13, 2, 3], ReadWrite),
        ],
    ),
    regs(
        "MPAM",
        (4, 0),
        40,
        1,
        &[
            ("MPAMIDR_EL1", [3, 0, 10, 4, 4], Read),
            ("MPAM1_EL1", [3, 0, 10, 5, 0], ReadWrite),
        ],
    ),
    regs("DIT", (4, 0), 48, 1, &[("DIT", [3, 3, 4, 2, 5], ReadWrite)]),
    regs(
        "CSV2_2 (SCXTNUM)",
        (4, 0),
        56,
        2,
        &[
            ("SCXTNUM_EL1", [3, 0, 13, 0, 7], ReadWrite),
            ("SCXTNUM_EL0", [3, 3, 13, 0, 7], ReadWrite),
        ],
    ),
    regs(
        "SSBS2",
        (4, 1),
        4,
        2,
        &[("SSBS", [3, 3, 4, 2, 6], ReadWrite)],
    ),
    regs("MTE", (4, 1), 8, 1, &[("TCO", [3, 3, 4, 2, 7], ReadWrite)]),
    regs(
        "MTE2",
        (4, 1),
        8,
        2,
        &[
            ("RGSR_EL1", [3, 0, 1, 0, 5], ReadWrite),
            ("GCR_EL1", [3, 0, 1, 0, 6], ReadWrite),
            ("TFSR_EL1", [3, 0, 5, 6, 0], ReadWrite),
            ("TFSRE0_EL1", [3, 0, 5, 6, 1], ReadWrite),
            ("GMID_EL1", [3, 1, 0, 0, 4], Read),
        ],
    ),
    regs(
        "SME",
        (4, 1),
        24,
        1,
        &[
            ("SMCR_EL1", [3, 0, 1, 2, 6], ReadWrite),
            ("SMPRI_EL1", [3, 0, 1, 2, 4], ReadWrite),
            ("SMIDR_EL1", [3, 1, 0, 0, 6], Read),
            ("SVCR", [3, 3, 4, 2, 2], ReadWrite),
            ("TPIDR2_EL0", [3, 3, 13, 0, 5], ReadWrite),
        ],
    ),
    regs(
        "NMI",
        (4, 1),
        36,
        1,
        &[("ALLINT", [3, 0, 4, 3, 0], ReadWrite)],
    ),
    regs(
        "GCS",
        (4, 1),
        44,
        1,
        &[
            ("GCSCR_EL1", [3, 0, 2, 5, 0], ReadWrite),
            ("GCSPR_EL1", [3, 0, 2, 5, 1], ReadWrite),
            ("GCSCRE0_EL1", [3, 0, 2, 5, 2], ReadWrite),
            ("GCSPR_EL0", [3, 3, 2, 5, 1], ReadWrite),
        ],
    ),
    regs(
        "FPMR",
        (4, 2),
        32,
        1,
        &[("FPMR", [3, 3, 4, 4, 2], ReadWrite)],
    ),
    regs(
        "PMUv3",
        (5, 0),
        8,
        1,
        &[
            ("PMCR_EL0", [3, 3, 9, 12, 0], ReadWrite),
            ("PMCNTENSET_EL0", [3, 3, 9, 12, 1], ReadWrite),
            ("PMCNTENCLR_EL0", [3, 3, 9, 12, 2], Read),
            ("PMOVSCLR_EL0", [3, 3, 9, 12, 3], Read),
            ("PMSELR_EL0", [3, 3, 9, 12, 5], ReadWrite),
            ("PMCEID0_EL0", [3, 3, 9, 12, 6], Read),
            ("PMCEID1_EL0", [3, 3, 9, 12, 7], Read),
            ("PMCCNTR_EL0", [3, 3, 9, 13, 0], Read),
            ("PMUSERENR_EL0", [3, 3, 9, 14, 0], ReadWrite),
            ("PMINTENSET_EL1", [3, 0, 9, 14, 1], ReadWrite),
            ("PMCCFILTR_EL0", [3, 3, 14, 15, 7], ReadWrite),
        ],
    ),
    regs(
        "TRF",
        (5, 0),
        40,
        1,
        &[("TRFCR_EL1", [3, 0, 1, 2, 1], ReadWrite)],
    ),
    regs(
        "SPE",
        (5, 0),
        32,
        1,
        &[
            ("PMSIDR_EL1", [3, 0, 9, 9, 7], Read),
            ("PMSCR_EL1", [3, 0, 9, 9, 0], ReadWrite),
        ],
    ),
    regs(
        "TRBE",
        (5, 0),
        44,
        1,
        &[("TRBIDR_EL1", [3, 0, 9, 11, 7], Read)],
    ),
    regs(
        "BRBE",
        (5, 0),
        52,
        1,
        &[("BRBIDR0_EL1", [2, 1, 9, 2, 0], Read)],
    ),
    regs("RNDR", (6, 0), 60, 1, &[("RNDR", [3, 3, 2, 4, 0], Read)]),
    regs("PAuth (address, QARMA5)", (6, 1), 4, 1, PAUTH_KEYS),
    regs(
        "PAuth (address, IMPLEMENTATION DEFINED)",
        (6, 1),
        8,
        1,
        PAUTH_KEYS,
    ),
    regs("PAuth (address, QARMA3)", (6, 2), 12, 1, PAUTH_KEYS),
    Feature {
        name: "PAuth (generic, QARMA5)",
        id: (6, 1),
        shift: 24,
        min: 1,
        registers: PAUTH_GENERIC_KEY,
        instructions: PACGA,
    },
    Feature {
        name: "PAuth (generic, IMPLEMENTATION DEFINED)",
        id: (6, 1),
        shift: 28,
        min: 1,
        registers: PAUTH_GENERIC_KEY,
        instructions: PACGA,
    },
    Feature {
        name: "PAuth (generic, QARMA3)",
        id: (6, 2),
        shift: 8,
        min: 1,
        registers: PAUTH_GENERIC_KEY,
        instructions: PACGA,
    },
    Feature {
        name: "WFxT",
        id: (6, 2),
        shift: 0,
        min: 2,
        registers: &[],
        // With x1 = 0 the deadline has passed: they return at once.
        instructions: &[("WFET x1", 0xD503_1001), ("WFIT x1", 0xD503_1021)],
    },
    Feature {
        name: "MOPS",
        id: (6, 2),
        shift: 16,
        min: 1,
        registers: &[],
        // A set of 0 bytes at x3.
        instructions: &[("SETP [x3]!, x1!, xzr", 0x19DF_0423)],
    },
    regs(
        "LORegions",
        (7, 1),
        16,
        1,
        &[
            ("LORSA_EL1", [3, 0, 10, 4, 0], ReadWrite),
            ("LOREA_EL1", [3, 0, 10, 4, 1], ReadWrite),
            ("LORN_EL1", [3, 0, 10, 4, 2], ReadWrite),
            ("LORC_EL1", [3, 0, 10, 4, 3], ReadWrite),
            ("LORID_EL1", [3, 0, 10, 4, 7], Read),
        ],
    ),
    regs(
        "VHE",
        (7, 1),
        8,
        1,
        &[("CONTEXTIDR_EL2", [3, 4, 13, 0, 1], Read)],
    ),
    regs("PAN", (7, 1), 20, 1, &[("PAN", [3, 0, 4, 2, 3], ReadWrite)]),
    regs("UAO", (7, 2), 4, 1, &[("UAO", [3, 0, 4, 2, 4], ReadWrite)]),
    regs(
        "TCR2",
        (7, 3),
        0,
        1,
        &[("TCR2_EL1", [3, 0, 2, 0, 3], ReadWrite)],
    ),
    regs(
        "SCTLR2",
        (7, 3),
        4,
        1,
        &[("SCTLR2_EL1", [3, 0, 1, 0, 3], ReadWrite)],
    ),
    regs(
        "S1PIE",
        (7, 3),
        8,
        1,
        &[
            ("PIRE0_EL1", [3, 0, 10, 2, 2], ReadWrite),
            ("PIR_EL1", [3, 0, 10, 2, 3], ReadWrite),
        ],
    ),
    regs(
        "S1POE",
        (7, 3),
        16,
        1,
        &[
            ("POR_EL1", [3, 0, 10, 2, 4], ReadWrite),
            ("POR_EL0", [3, 3, 10, 2, 4], ReadWrite),
        ],
    ),
];

const PAUTH_KEYS: &[(&str, [u8; 5], Access)] = &[
    ("APIAKeyLo_EL1", [3, 0, 2, 1, 0], ReadWrite),
    ("APIAKeyHi_EL1", [3, 0, 2, 1, 1], ReadWrite),
    ("APIBKeyLo_EL1", [3, 0, 2, 1, 2], ReadWrite),
    ("APIBKeyHi_EL1", [3, 0, 2, 1, 3], ReadWrite),
    ("APDAKeyLo_EL1", [3, 0, 2, 2, 0], ReadWrite),
    ("APDAKeyHi_EL1", [3, 0, 2, 2, 1], ReadWrite),
    ("APDBKeyLo_EL1", [3, 0, 2, 2, 2], ReadWrite),
    ("APDBKeyHi_EL1", [3, 0, 2, 2, 3], ReadWrite),
];

const PAUTH_GENERIC_KEY: &[(&str, [u8; 5], Access)] = &[
    ("APGAKeyLo_EL1", [3, 0, 2, 3, 0], ReadWrite),
    ("APGAKeyHi_EL1", [3, 0, 2, 3, 1], ReadWrite),
];

const PACGA: &[(&str, u32)] = &[("PACGA x1, x1, x1", 0x9AC1_3021)];

/// Every register and instruction of every feature the host's ID registers
/// advertise can be used: reads (and writes of the value read) do not fault.
fn advertised_features_work() -> TestResult {
    // The first failures (as many as fit in a reason), and how many there are.
    let mut failures = ArrayString::<100>::new();
    let mut count = 0;
    let mut note = |feature: &str, what: &str, esr: u64| {
        count += 1;
        let mut one = ArrayString::<100>::new();
        let _ = write!(one, "{what} ({feature}, EC {:#x}), ", esr >> 26);
        let _ = failures.try_push_str(&one);
    };
    for feature in FEATURES.iter().filter(|f| f.present(id(f.id.0, f.id.1))) {
        for &(name, enc, access) in feature.registers {
            match read_sysreg(enc) {
                Err(esr) => note(feature.name, name, esr),
                Ok(value) => {
                    if let (ReadWrite, Err(esr)) = (access, write_sysreg(enc, value)) {
                        note(feature.name, name, esr);
                    }
                }
            }
        }
        for &(name, insn) in feature.instructions {
            if let Err(esr) = instruction(insn, 0) {
                note(feature.name, name, esr);
            }
        }
    }
    ensure!(
        count == 0,
        "{count} advertised register(s) or instruction(s) fault: {failures}"
    );
    Ok(())
}

/// The probe's own check, so that a pass above means something: a register no
/// CPU has (unallocated debug space) faults, and one every CPU has reads.
fn probe_catches_undefined() -> TestResult {
    let esr = read_sysreg([2, 0, 0, 0, 1]).err();
    ensure!(
        esr.map(|e| e >> 26) == Some(0),
        "an unallocated register read gave ESR {esr:?}, want EC 0"
    );
    read_sysreg([3, 3, 13, 0, 2]).map_err(|esr| why!("TPIDR_EL0 read faulted: ESR {esr:#x}"))?;
    Ok(())
}

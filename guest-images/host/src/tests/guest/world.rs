//! The EL1/EL0 system registers belong to their world (docs/design.md, "The
//! world switch"): what a guest writes, debug registers included, never
//! reaches the host, what the host writes between enters never reaches the
//! guest, and a guest's own hardware breakpoint fires in it.

use super::fixture::*;
use crate::guest_code;
use crate::suite::{Reason, Suite, TestResult};
use crate::tests::cpu::{Access, FEATURES};
use crate::{ensure, why};
use arrayvec::{ArrayString, ArrayVec};
use core::fmt::Write;
use el1rt::cache::clean_invalidate;
use el1rt::probe::{read_sysreg, sysreg_insn, write_sysreg};
use syscalls::Handle;

pub fn run(suite: &mut Suite, resource: Handle) {
    suite.run("guest_el1_registers_are_per_world", || {
        el1_registers(resource)
    });
    suite.run("guest_hardware_breakpoint_fires", || breakpoint(resource));
    suite.run("guest_advertised_features_work", || {
        advertised_features_work(resource)
    });
}

/// Guest PA of the guest_code `insn_table` snippet's table.
const INSN_TABLE: u64 = 0x28000;
/// Bytes of one table entry: u32 insn, u32 flags, u64 x1 in, x1 out, ESR.
const ENTRY: u64 = 32;
/// The guest's own address of the table (its x20 points into it).
const GUEST_RAM_TABLE: u64 = INSN_TABLE;
/// The table entry that makes the guest exit to the host.
const EXIT_TO_HOST: u32 = 1;

/// One register of the test: its name, the encodings written and read back
/// (they differ for the claim tags and the OS lock), and the values the host
/// writes before the first enter, before the second, and the guest writes.
#[derive(Clone, Copy)]
struct Reg {
    name: &'static str,
    write: [u8; 5],
    read: [u8; 5],
    values: [u64; 3],
}

const fn reg(name: &'static str, enc: [u8; 5], values: [u64; 3]) -> Reg {
    Reg {
        name,
        write: enc,
        read: enc,
        values,
    }
}

/// The EL1/EL0 registers both worlds can write (without a trap, or through
/// the monitor's emulation) and that have no effect on a host and a guest
/// running with their MMUs off: the values are such (breakpoints and
/// watchpoints disabled, MDSCR_EL1 without MDE or SS).
const FIXED: &[Reg] = &[
    reg("TTBR0_EL1", [3, 0, 2, 0, 0], [0x1000, 0x2000, 0x3000]),
    reg("TTBR1_EL1", [3, 0, 2, 0, 1], [0x11000, 0x12000, 0x13000]),
    reg("TCR_EL1", [3, 0, 2, 0, 2], [0x10, 0x11, 0x12]),
    reg("SPSR_EL1", [3, 0, 4, 0, 0], [0x3c5, 0x3c4, 0x5]),
    reg(
        "ELR_EL1",
        [3, 0, 4, 0, 1],
        [0x4021_0000, 0x4022_0000, 0x1234_5678],
    ),
    reg(
        "SP_EL0",
        [3, 0, 4, 1, 0],
        [0x4030_0000, 0x4031_0000, 0x8_0000],
    ),
    reg("AFSR0_EL1", [3, 0, 5, 1, 0], [0x1, 0x2, 0x3]),
    reg("AFSR1_EL1", [3, 0, 5, 1, 1], [0x1, 0x2, 0x3]),
    reg(
        "ESR_EL1",
        [3, 0, 5, 2, 0],
        [0x5600_0000, 0x5600_0001, 0x9200_0000],
    ),
    reg(
        "FAR_EL1",
        [3, 0, 6, 0, 0],
        [0xaaaa_0000, 0xbbbb_0000, 0xcccc_0000],
    ),
    reg("PAR_EL1", [3, 0, 7, 4, 0], [0x1000, 0x2000, 0x3000]),
    reg("MAIR_EL1", [3, 0, 10, 2, 0], [0x44, 0x4400, 0xff]),
    reg("AMAIR_EL1", [3, 0, 10, 3, 0], [0x1, 0x2, 0x3]),
    reg("CONTEXTIDR_EL1", [3, 0, 13, 0, 1], [0x11, 0x22, 0x33]),
    reg(
        "TPIDR_EL1",
        [3, 0, 13, 0, 4],
        [0x1111_0001, 0x1111_0002, 0x2222_0003],
    ),
    reg(
        "TPIDR_EL0",
        [3, 3, 13, 0, 2],
        [0x3333_0001, 0x3333_0002, 0x4444_0003],
    ),
    reg(
        "TPIDRRO_EL0",
        [3, 3, 13, 0, 3],
        [0x5555_0001, 0x5555_0002, 0x6666_0003],
    ),
    reg("CSSELR_EL1", [3, 2, 0, 0, 0], [0, 1, 2]),
    reg("ACTLR_EL1", [3, 0, 1, 0, 1], [0, 0, 0x1]),
    reg("MDSCR_EL1", [2, 0, 0, 2, 2], [0x1000, 0, 0x2000]),
    reg("MDCCINT_EL1", [2, 0, 0, 2, 0], [0, 0, 0x2000_0000]),
    reg("OSECCR_EL1", [2, 0, 0, 6, 2], [0x1, 0x2, 0x3]),
    reg("OSDLR_EL1", [2, 0, 1, 3, 4], [0, 0, 1]),
    // Claim tags set (they add up); DBGCLAIMCLR_EL1 reads them.
    Reg {
        name: "DBGCLAIMSET_EL1",
        write: [2, 0, 7, 8, 6],
        read: [2, 0, 7, 9, 6],
        values: [0x5, 0x3, 0xa],
    },
    // OSLAR_EL1 written, OSLSR_EL1.OSLK read.
    Reg {
        name: "OSLAR_EL1",
        write: [2, 0, 1, 0, 4],
        read: [2, 0, 1, 1, 4],
        values: [0, 0, 1],
    },
];

/// SCTLR_EL1 of a guest: its reset value (RES1 bits) with UCT (EL0 reads of
/// CTR_EL0), MMU and caches still off.
const GUEST_SCTLR: u64 = 0x30d0_0800 | 1 << 15;

/// Registers the host keeps as they are (it runs on them) and a guest sets
/// to its own: (name, encoding, the guest's value).
const LIVE: &[(&str, [u8; 5], u64)] = &[
    ("SCTLR_EL1", [3, 0, 1, 0, 0], GUEST_SCTLR),
    ("CPACR_EL1", [3, 0, 1, 0, 2], 0),
    ("VBAR_EL1", [3, 0, 12, 0, 0], 0),
];

/// The registers of the test on this CPU: FIXED and every breakpoint and
/// watchpoint pair (ID_AA64DFR0_EL1.BRPs and WRPs), disabled.
fn registers() -> Result<ArrayVec<Reg, 96>, Reason> {
    let dfr0 = read_sysreg([3, 0, 0, 5, 0]).map_err(|esr| why!("ID_AA64DFR0_EL1: ESR {esr:#x}"))?;
    let (brps, wrps) = (((dfr0 >> 12) & 0xF) + 1, ((dfr0 >> 20) & 0xF) + 1);
    let mut regs: ArrayVec<Reg, 96> = FIXED.iter().copied().collect();
    for &(name, enc, guest) in LIVE {
        let host = read_sysreg(enc).map_err(|esr| why!("{name}: ESR {esr:#x}"))?;
        regs.push(reg(name, enc, [host, host, guest]));
    }
    for n in 0..brps as u8 {
        let off = u64::from(n) << 4;
        regs.push(reg(
            "DBGBVRn_EL1",
            [2, 0, 0, n, 4],
            [0x4000_1000 + off, 0x4000_2000 + off, 0x4020_bee0 + off],
        ));
        // BAS 0xF, PMC EL1 / EL0 / both, not enabled (E = 0).
        regs.push(reg("DBGBCRn_EL1", [2, 0, 0, n, 5], [0x1e2, 0x1e4, 0x1e6]));
    }
    for n in 0..wrps as u8 {
        let off = u64::from(n) << 4;
        regs.push(reg(
            "DBGWVRn_EL1",
            [2, 0, 0, n, 6],
            [0x4000_3000 + off, 0x4000_4000 + off, 0x5000_0000 + off],
        ));
        // BAS 0xFF, LSC store / load / both, not enabled.
        regs.push(reg(
            "DBGWCRn_EL1",
            [2, 0, 0, n, 7],
            [0x1ff0, 0x1fe8, 0x1ff8],
        ));
    }
    Ok(regs)
}

/// Writes `values[which]` of every register from the host and returns what
/// each then reads back (the registers' own masks applied).
fn host_write(regs: &[Reg], which: usize) -> Result<ArrayVec<u64, 96>, Reason> {
    let mut back = ArrayVec::new();
    for r in regs {
        write_sysreg(r.write, r.values[which]).map_err(|esr| {
            why!(
                "the host cannot write {} ({:?}): ESR {esr:#x}",
                r.name,
                r.write
            )
        })?;
        back.push(host_read(r)?);
    }
    Ok(back)
}

fn host_read(r: &Reg) -> Result<u64, Reason> {
    read_sysreg(r.read).map_err(|esr| {
        why!(
            "the host cannot read {} ({:?}): ESR {esr:#x}",
            r.name,
            r.read
        )
    })
}

/// Checks that the host reads `want` from every register.
fn host_check(regs: &[Reg], want: &[u64], after: &str) -> TestResult {
    for (r, &want) in regs.iter().zip(want) {
        let got = host_read(r)?;
        ensure!(
            got == want,
            "{after}, the host's {} {:?} is {got:#x}, it wrote {want:#x}",
            r.name,
            r.read
        );
    }
    Ok(())
}

/// A table for the guest_code `insn_table` snippet, written into the guest's
/// memory entry by entry.
struct Table {
    base: u64,
    at: u64,
}

impl Table {
    fn new(ram: u64) -> Self {
        Self {
            base: ram + INSN_TABLE,
            at: ram + INSN_TABLE,
        }
    }

    /// The index of the next entry.
    fn len(&self) -> usize {
        ((self.at - self.base) / ENTRY) as usize
    }

    /// Adds an entry: `insn` run with x1 = `x1`, or with `flags` 1, with the
    /// previous entry's x1 after it.
    fn push(&mut self, insn: u32, flags: u32, x1: u64) -> usize {
        let i = self.len();
        write_u32(self.at, insn);
        write_u32(self.at + 4, flags);
        write_u64(self.at + 8, x1);
        write_u64(self.at + 16, 0);
        write_u64(self.at + 24, u64::MAX);
        self.at += ENTRY;
        i
    }

    /// Ends the table and makes it visible to the guest.
    fn finish(mut self) {
        self.push(0, 0, 0);
        clean_invalidate(self.base, self.at - self.base);
    }
}

/// Entry `i` of the table after the guest ran it: x1 after the instruction,
/// or the ESR of the exception it took.
fn table_entry(ram: u64, i: usize) -> Result<u64, u64> {
    let at = ram + INSN_TABLE + i as u64 * ENTRY;
    clean_invalidate(at, ENTRY);
    match read_u64(at + 24) {
        0 => Ok(read_u64(at + 16)),
        esr => Err(esr),
    }
}

/// As [`table_entry`], an exception being a failure about `name`.
fn table_result(ram: u64, i: usize, name: &str) -> Result<u64, Reason> {
    table_entry(ram, i).map_err(|esr| {
        why!("the guest's access to {name} (entry {i}) took an exception: ESR {esr:#x}")
    })
}

/// The guest's table: every register written with the guest's value and
/// read back, an exit to the host, every register read again.
fn write_table(ram: u64, regs: &[Reg]) {
    let mut table = Table::new(ram);
    for r in regs {
        table.push(sysreg_insn(r.write, true), 0, r.values[2]);
        table.push(sysreg_insn(r.read, false), 0, 0);
    }
    table.push(EXIT_TO_HOST, 0, 0);
    for r in regs {
        table.push(sysreg_insn(r.read, false), 0, 0);
    }
    table.finish();
}

/// The host's and a guest's values of every EL1/EL0 register they can both
/// write stay apart: host writes, guest writes its own and exits, the host
/// reads its own back and writes new ones, the guest reads its own back.
fn el1_registers(resource: Handle) -> TestResult {
    let regs = registers()?;
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::insn_table())?;
    write_table(GUEST_RAM, &regs);
    let before = host_write(&regs, 0)?;
    let p = enter(fx.vcpu()).map_err(|s| why!("first enter: got {s}, want ZX_OK"))?;
    ensure!(
        p.guest_mem().addr == EXIT_TEST_ADDR + 0x10,
        "first enter: exit at {:#x}, want the table's exit to the host at {:#x}",
        p.guest_mem().addr,
        EXIT_TEST_ADDR + 0x10
    );
    host_check(&regs, &before, "after the guest wrote its values")?;
    let between = host_write(&regs, 1)?;
    enter_and_clean_exit(fx.vcpu())?;
    host_check(&regs, &between, "after the second enter")?;
    let n = regs.len();
    for (i, r) in regs.iter().enumerate() {
        // Entry 2i wrote the register, 2i + 1 read it, 2n is the exit,
        // 2n + 1 + i read it again after the host's writes.
        let written = table_result(GUEST_RAM, 2 * i + 1, r.name)?;
        let later = table_result(GUEST_RAM, 2 * n + 1 + i, r.name)?;
        ensure!(
            later == written,
            "the guest's {} {:?} was {written:#x}, and {later:#x} after the host wrote {:#x}",
            r.name,
            r.read,
            between[i]
        );
    }
    // The test means something: the guest's own breakpoint value took.
    let bvr0 = regs
        .iter()
        .position(|r| r.write == [2, 0, 0, 0, 4])
        .unwrap_or(0);
    let got = table_result(GUEST_RAM, 2 * bvr0 + 1, "DBGBVR0_EL1")?;
    ensure!(
        got == regs[bvr0].values[2],
        "the guest read DBGBVR0_EL1 = {got:#x}, it wrote {:#x}",
        regs[bvr0].values[2]
    );
    Ok(())
}

/// A guest that programs breakpoint 0 and enables debug takes the
/// breakpoint exception at its own EL1 (EC 0x31): its debug registers and
/// OS lock are live while it runs, though the host's OS lock is set.
fn breakpoint(resource: Handle) -> TestResult {
    write_sysreg([2, 0, 1, 0, 4], 1).map_err(|esr| why!("the host's OSLAR_EL1: ESR {esr:#x}"))?;
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::hw_breakpoint())?;
    enter_and_clean_exit(fx.vcpu())?;
    let x = read_state(fx.vcpu())?.x;
    let ec = x[6] >> 26;
    ensure!(
        ec == 0x31,
        "the guest's exception: ESR {:#x} at {:#x}, want a breakpoint (EC 0x31)",
        x[6],
        x[7]
    );
    Ok(())
}

/// The rule of tests/cpu.rs for guests: every register and instruction of
/// every feature a guest's ID registers advertise works in the guest (reads,
/// and writes of the value read, take no exception; nothing stops the vCPU).
fn advertised_features_work(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::insn_table())?;
    // First the guest's ID registers, as it reads them.
    let mut ids: ArrayVec<((u8, u8), usize), 32> = ArrayVec::new();
    let mut table = Table::new(GUEST_RAM);
    for f in FEATURES {
        if !ids.iter().any(|(id, _)| *id == f.id) {
            let i = table.push(sysreg_insn([3, 0, 0, f.id.0, f.id.1], false), 0, 0);
            ids.push((f.id, i));
        }
    }
    table.finish();
    enter_and_clean_exit(fx.vcpu())?;
    let mut values: ArrayVec<((u8, u8), u64), 32> = ArrayVec::new();
    for &(enc, i) in &ids {
        values.push((enc, table_result(GUEST_RAM, i, "an ID register")?));
    }
    let id = |enc: (u8, u8)| {
        values
            .iter()
            .find(|(e, _)| *e == enc)
            .map_or(0, |&(_, v)| v)
    };
    // Then everything of the features they advertise.
    let mut probes: ArrayVec<(&str, &str, usize), 128> = ArrayVec::new();
    let mut table = Table::new(GUEST_RAM);
    for f in FEATURES {
        if !f.present(id(f.id)) {
            continue;
        }
        for &(name, enc, access) in f.registers {
            probes.push((f.name, name, table.push(sysreg_insn(enc, false), 0, 0)));
            if access == Access::ReadWrite {
                probes.push((f.name, name, table.push(sysreg_insn(enc, true), 1, 0)));
            }
        }
        for &(name, insn) in f.instructions {
            probes.push((f.name, name, table.push(insn, 0, 0)));
        }
    }
    table.finish();
    enter_and_clean_exit(fx.vcpu()).map_err(|why| {
        let at = read_state(fx.vcpu()).map(|s| s.x[20]).unwrap_or(0);
        why!(
            "{why} (the guest was at table entry {})",
            at.saturating_sub(GUEST_RAM_TABLE) / ENTRY
        )
    })?;
    let mut failures = ArrayString::<100>::new();
    let mut count = 0;
    for &(feature, name, i) in &probes {
        if let Err(esr) = table_entry(GUEST_RAM, i) {
            count += 1;
            let mut one = ArrayString::<100>::new();
            let _ = write!(one, "{name} ({feature}, EC {:#x}), ", esr >> 26);
            let _ = failures.try_push_str(&one);
        }
    }
    ensure!(
        count == 0,
        "{count} advertised register access(es) or instruction(s) fault in the guest: {failures}"
    );
    Ok(())
}

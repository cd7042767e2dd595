//! Touching memory that should fault, and running instructions that may be
//! UNDEFINED: the probes in entry.S return the ESR (and FAR) of the exception
//! instead of dying.

extern "C" {
    fn probe_read(addr: u64) -> Fault;
    fn probe_write(addr: u64) -> Fault;
    fn probe_insn(insn: u32, x1: u64) -> Fault;
}

/// x0 = ESR_EL1 (0 when the access completed), x1 = FAR_EL1.
#[repr(C)]
pub struct Fault {
    pub esr: u64,
    pub far: u64,
}

/// Reads 8 bytes at `addr`; Some(fault) when the access aborted.
pub fn read(addr: u64) -> Option<Fault> {
    // SAFETY: the probe's only memory access is the load; an abort is
    // caught by the EL1 vector and reported instead of propagating.
    let f = unsafe { probe_read(addr) };
    (f.esr != 0).then_some(f)
}

/// Writes 8 zero bytes at `addr`; Some(fault) when the access aborted.
/// Only for addresses that must not be writable (a success would corrupt them).
pub fn write(addr: u64) -> Option<Fault> {
    // SAFETY: as for `read`; callers pass memory the host does not own.
    let f = unsafe { probe_write(addr) };
    (f.esr != 0).then_some(f)
}

/// Runs the one A64 instruction `insn` with x1 = `x1` (and x3 pointing at 64
/// bytes of scratch memory below the stack): Ok(x1 after it), or Err(ESR_EL1)
/// of the exception it took. The instruction must touch no other register or
/// memory. The probe has one instruction slot: call it from one CPU at a time.
pub fn instruction(insn: u32, x1: u64) -> Result<u64, u64> {
    // SAFETY: the probe writes `insn` into its own slot in .text (writable
    // with the MMU off) and runs it; callers pass system-register accesses
    // and instructions whose only effects are on x1, x3's scratch and the
    // register they name, and an exception is caught by the EL1 vector.
    let f = unsafe { probe_insn(insn, x1) };
    if f.esr == 0 {
        Ok(f.far)
    } else {
        Err(f.esr)
    }
}

/// MRS x1 (or, with `write`, MSR ... x1) of the system register (Op0 2 or 3,
/// Op1, CRn, CRm, Op2).
pub fn sysreg_insn([op0, op1, crn, crm, op2]: [u8; 5], write: bool) -> u32 {
    let base = if write { 0xD510_0000 } else { 0xD530_0000 };
    base | u32::from(op0 & 1) << 19
        | u32::from(op1) << 16
        | u32::from(crn) << 12
        | u32::from(crm) << 8
        | u32::from(op2) << 5
        | 1
}

/// Reads a system register: Ok(value) or Err(ESR_EL1) of the exception.
pub fn read_sysreg(enc: [u8; 5]) -> Result<u64, u64> {
    instruction(sysreg_insn(enc, false), 0)
}

/// Writes a system register: Ok or Err(ESR_EL1) of the exception.
pub fn write_sysreg(enc: [u8; 5], value: u64) -> Result<(), u64> {
    instruction(sysreg_insn(enc, true), value).map(|_| ())
}

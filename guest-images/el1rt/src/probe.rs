//! Touching memory that should fault: the probes in entry.S return the ESR
//! and FAR of the data abort instead of dying.

extern "C" {
    fn probe_read(addr: u64) -> Fault;
    fn probe_write(addr: u64) -> Fault;
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

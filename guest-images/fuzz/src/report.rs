//! Findings: what each check found, printed with the sequence that
//! reproduces it (the seed, the CPU, the call's index, the call and its
//! arguments, and the calls before it on that CPU), the first few in full
//! and the rest counted. Each check is one test line at the end.

use crate::hvc::Ret;
use crate::statuses;
use core::sync::atomic::{AtomicU64, Ordering};
use el1rt::{println, Reason};
use spin::Mutex;

/// What the fuzzer checks; each is one test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// A status the ABI does not document for the call, or not the one a
    /// call with exactly one thing wrong (or nothing) must give.
    Status,
    /// A failed call changed what the fuzzer can see: an output buffer, a
    /// vCPU's registers, a handle.
    Unchanged,
    /// x1/x2 not 0 after a failure, x3..x17 not kept, x0 not sign-extended.
    Registers,
    /// A packet from zx_vcpu_enter or zx_port_wait that cannot be.
    Packets,
    /// A call (an enter included) that did not return within its bound.
    Bound,
    /// Memory no call and no guest may write was written.
    Canaries,
    /// Monitor memory could be read by the host.
    MonitorMemory,
    /// The free heap was not back at its baseline with everything closed.
    Heap,
    /// A guest read something else than the VMAR record and traps say.
    GuestView,
    /// The VMAR record predicted from the calls' statuses was not the
    /// monitor's (issue 16 items 1 and 6 were such: a failed unmap or map
    /// changed it).
    VmarRecord,
    /// zx_vcpu_write_state(ZX_VCPU_IO) accepted without a pending load
    /// (issue 16 item 4 was such).
    IoCompletion,
    /// The host's EL1 registers changed across an enter (issue 16 item 2).
    HostRegisters,
}

pub const CHECKS: [Check; 12] = [
    Check::Status,
    Check::Unchanged,
    Check::Registers,
    Check::Packets,
    Check::Bound,
    Check::Canaries,
    Check::MonitorMemory,
    Check::Heap,
    Check::GuestView,
    Check::VmarRecord,
    Check::IoCompletion,
    Check::HostRegisters,
];

impl Check {
    pub fn test_name(self) -> &'static str {
        match self {
            Check::Status => "fuzz_statuses_as_documented",
            Check::Unchanged => "fuzz_failed_calls_change_nothing",
            Check::Registers => "fuzz_registers_as_documented",
            Check::Packets => "fuzz_packets_make_sense",
            Check::Bound => "fuzz_calls_return_within_bound",
            Check::Canaries => "fuzz_canaries_unchanged",
            Check::MonitorMemory => "fuzz_monitor_memory_unreadable",
            Check::Heap => "fuzz_heap_back_at_baseline",
            Check::GuestView => "fuzz_guest_reads_match_the_record",
            Check::VmarRecord => "fuzz_vmar_record_as_predicted",
            Check::IoCompletion => "fuzz_io_completion_needs_a_pending_load",
            Check::HostRegisters => "fuzz_host_el1_registers_kept",
        }
    }
}

/// One call as made: for the reproduction.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallRecord {
    pub index: u64,
    pub id: u32,
    pub args: [u64; 6],
    pub ret: Ret,
}

impl core::fmt::Display for CallRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        let a = self.args;
        write!(
            f,
            "#{} {}({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x}) [x0={:#x}] -> {} x1={:#x} x2={:#x}",
            self.index,
            statuses::name(self.id),
            a[0],
            a[1],
            a[2],
            a[3],
            a[4],
            a[5],
            self.id,
            self.ret.status(),
            self.ret.x1,
            self.ret.x2
        )
    }
}

/// Findings printed in full per check; the rest are counted.
const SHOWN: u64 = 3;

static COUNTS: [AtomicU64; CHECKS.len()] = [const { AtomicU64::new(0) }; CHECKS.len()];
static FIRST: [Mutex<Option<Reason>>; CHECKS.len()] = [const { Mutex::new(None) }; CHECKS.len()];
static SEED: AtomicU64 = AtomicU64::new(0);
static PRINT: Mutex<()> = Mutex::new(());

fn slot(check: Check) -> usize {
    CHECKS.iter().position(|&c| c == check).unwrap_or(0)
}

pub fn set_seed(seed: u64) {
    SEED.store(seed, Ordering::Relaxed);
}

/// Reports what `check` found on `cpu`: `what`, the call it found it in
/// (if any) and the calls before it, oldest first.
pub fn finding(
    check: Check,
    cpu: usize,
    what: core::fmt::Arguments,
    call: Option<&CallRecord>,
    before: &[CallRecord],
) {
    let n = COUNTS[slot(check)].fetch_add(1, Ordering::Relaxed);
    if n == 0 {
        *FIRST[slot(check)].lock() = Some(el1rt::reason(what));
    }
    if n >= SHOWN {
        return;
    }
    let _lock = PRINT.lock();
    println!("finding {}: {what}", check.test_name());
    let seed = SEED.load(Ordering::Relaxed);
    match call {
        Some(c) => println!("  seed {seed:#x}, cpu{cpu}, call {c}"),
        None => println!("  seed {seed:#x}, cpu{cpu}"),
    }
    for c in before {
        println!("  before it: {c}");
    }
}

/// Prints one test line per check and returns (passed, failed).
pub fn summary() -> (u32, u32) {
    let (mut passed, mut failed) = (0, 0);
    for check in CHECKS {
        let n = COUNTS[slot(check)].load(Ordering::Relaxed);
        let first = *FIRST[slot(check)].lock();
        if n == 0 {
            passed += 1;
            println!("ok {}", check.test_name());
        } else {
            failed += 1;
            println!(
                "FAIL {}: {n} finding(s), first: {}",
                check.test_name(),
                first.unwrap_or_default()
            );
        }
    }
    (passed, failed)
}

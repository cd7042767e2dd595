//! Guest `hvc` calls answered straight from the vectors (world.S,
//! `guest_sync_exit`), Hafnium-style: the guest resumes from the exception
//! handler itself, with only the registers the Rust code may change (x0-x18
//! and x30) saved and loaded, and without going back to the run loop.
//!
//! Only calls that change nothing but the guest's X0 qualify (an unknown
//! function or a PSCI query: `handle::decode_call` gives
//! `PsciAction::Return`), and only while the run loop has nothing to do
//! before the next entry: neither of the run's timer lines is kept quiet
//! (a quiet line is polled before every entry), which the run loop lets
//! this path see through [`FastHvc`] (`world::enter` hands it to
//! `guest_enter`, which keeps it in its frame). What else the loop
//! looks at before an entry arrives with a physical interrupt, which is
//! pending at this CPU while the monitor runs and is taken as soon as the
//! guest resumes, so the exit it makes goes the long way: a kick or a new pending interrupt from another CPU (its
//! SGI), a timer's expiry (its PPI, or the EL2 timer of the emulated
//! physical timer), the host's own interrupts, and the vGIC's maintenance
//! interrupt. Anything else takes the long way at once.

use crate::exit::handle::{decode_call, ExitCounts};
use crate::objects::timer_line::TimerLine;
use aarch64_cpu::registers::{Readable, ESR_EL2};
use syscalls::exit_counts::ExitKind;
use vcpu::esr::Esr;
use vcpu::psci::PsciAction;
use vcpu::regs::RegisterFile;

/// What the vectors' `hvc` path needs of a run: the vCPU's exit counts and
/// its timer lines, which the run loop keeps here.
#[repr(C)]
pub struct FastHvc<'a> {
    pub counts: &'a ExitCounts,
    pub vtimer: TimerLine,
    pub ptimer: TimerLine,
}

/// A guest's `hvc` (world.S `guest_sync_exit`, ESR_EL2's class checked),
/// with X0-X18 and X30 in `regs` and nothing else of it up to date, and
/// `run` the entry's [`FastHvc`]: answered here if it may be (true: the
/// guest resumes with `regs`' X0-X18 and X30); false, with `regs`
/// untouched, for the long way.
#[no_mangle]
extern "C" fn guest_hvc_fast(regs: &mut RegisterFile, run: &FastHvc) -> bool {
    if run.vtimer.is_quiet() || run.ptimer.is_quiet() {
        return false;
    }
    let imm = Esr(ESR_EL2.get()).imm16();
    let x = &regs.x;
    let PsciAction::Return(value) = decode_call(imm, [x[0], x[1], x[2], x[3]]) else {
        return false;
    };
    run.counts.count(ExitKind::Hvc);
    regs.x[0] = value;
    true
}

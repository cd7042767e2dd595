//! The monitor's kick SGI never reaches the host (docs/abi.md §2, issue 16
//! item 7): CPU 1 kicks the main CPU's vCPU without pause while the main
//! CPU enters it again and again (a guest that exits at once), so kicks
//! race with the ends of enters. After every enter SGI 15 must not be
//! pending at the main CPU, no enter may return INTERNAL_INTR_RETRY (there
//! is no host interrupt), and at the end a zx_port_wait with a short
//! deadline times out. The host's CPU interface is open with IRQs masked,
//! so a stray SGI 15 would be signalled to it. And a vCPU kicked and closed
//! by another CPU while it runs (its last handle gone) still ends its
//! enter with CANCELED. And a vCPU handle closed while another CPU calls
//! on it without pause (the monitor's lock-free lookups, whose close waits
//! for the other CPU's call in progress): each of that CPU's calls ends
//! with OK until the close and BAD_HANDLE after it, and the closed vCPUs
//! are freed (a guest takes at most a few vCPUs, and every round makes one).

use super::fixture::*;
use crate::cpus;
use crate::ensure;
use crate::guest_code;
use crate::platform::Board;
use crate::suite::{Suite, TestResult};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use el1rt::host_timer::CpuInterface;
use syscalls::client::{
    handle_close, hvc_raw, object_get_info_vcpu, port_create, vcpu_create, vcpu_interrupt,
    vcpu_kick, vcpu_write_state,
};
use syscalls::port::PortPacket;
use syscalls::{ids, Handle, Status};

/// The CPU that kicks.
const KICKER: usize = 1;
const ENTERS: u32 = 3000;
const KICK_SGI: u32 = 15;
/// zx_port_wait's deadline at the end: 2 ms from now.
const WAIT_NS: i64 = 2_000_000;

static STOP: AtomicBool = AtomicBool::new(false);
/// Kick-and-close rounds: the vCPU CPU 0 is about to enter, and the round
/// CPU 1 has kicked and closed it in (0: not yet).
static ROUND_VCPU: AtomicU32 = AtomicU32::new(0);
static ROUND_DONE: AtomicU32 = AtomicU32::new(0);
const ROUNDS: usize = 300;

pub fn run(suite: &mut Suite, board: &Board, resource: Handle) {
    suite.run("guest_kicks_racing_enters_never_reach_the_host", || {
        kicks_racing_enters(board, resource)
    });
    suite.run("guest_kick_then_close_running_vcpu", || {
        kick_then_close(board, resource)
    });
    suite.run("guest_vcpu_closed_while_another_cpu_calls_on_it", || {
        close_under_calls(board, resource)
    });
}

/// CPU 1: kicks `vcpu` until told to stop; the job's result is the number
/// of kicks (negative: a kick failed with that status).
fn kick_until_stopped(vcpu: usize) -> i32 {
    let vcpu = Handle::from_raw(vcpu as u32);
    let mut kicks = 0;
    while !STOP.load(Ordering::SeqCst) {
        if let Err(s) = vcpu_kick(vcpu) {
            return s.into_raw();
        }
        kicks += 1;
        // A little slack between kicks, different each time, so that they
        // land at every point of the other CPU's enters.
        for _ in 0..kicks % 64 {
            core::hint::spin_loop();
        }
    }
    kicks
}

/// One zx_vcpu_enter, not retried: its status.
fn enter_once(vcpu: Handle, packet: &mut PortPacket) -> Status {
    let args = [
        vcpu.raw().into(),
        packet as *mut PortPacket as u64,
        0,
        0,
        0,
        0,
    ];
    // SAFETY: `packet` is a PortPacket the monitor may write.
    unsafe { hvc_raw(ids::VCPU_ENTER, args) }.status()
}

fn kicks_racing_enters(board: &Board, resource: Handle) -> TestResult {
    cpus::start(board, KICKER)?;
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_exit_loop())?;
    let port = Owned(ok("port_create", port_create(0))?);
    let interface = CpuInterface::open(board)?;
    STOP.store(false, Ordering::SeqCst);
    cpus::run_on(KICKER, kick_until_stopped, fx.vcpu().raw() as usize);
    let mut packet = PortPacket::default();
    let (mut canceled, mut strays) = (0, 0);
    let mut failure = None;
    for i in 0..ENTERS {
        match enter_once(fx.vcpu(), &mut packet) {
            Status::OK => {}
            Status::CANCELED => canceled += 1,
            s => {
                failure = Some(crate::why!(
                    "enter {i}: got {s}, want ZX_OK or ZX_ERR_CANCELED"
                ));
                break;
            }
        }
        if interface.private_pending(KICK_SGI) {
            strays += 1;
        }
    }
    STOP.store(true, Ordering::SeqCst);
    let kicks = cpus::wait_job(KICKER, 10_000)
        .ok_or_else(|| crate::why!("CPU {KICKER} did not stop kicking"))?;
    // Late SGIs have had time to arrive; none may be left for the host.
    let wait = port_wait_raw(
        port.h(),
        now_ns() + WAIT_NS,
        &mut packet as *mut PortPacket as u64,
    );
    let pending_at_end = interface.private_pending(KICK_SGI);
    drop(interface);
    if let Some(why) = failure {
        return Err(why);
    }
    ensure!(
        kicks > 0,
        "CPU {KICKER}: vcpu_kick failed with status {kicks} (or never kicked)"
    );
    ensure!(
        canceled > 0,
        "no enter of {ENTERS} was canceled by CPU {KICKER}'s {kicks} kicks"
    );
    ensure!(
        strays == 0,
        "SGI 15 was pending at the host after {strays} of {ENTERS} enters ({canceled} canceled, {kicks} kicks)"
    );
    ensure!(!pending_at_end, "SGI 15 pending at the host at the end");
    expect_status(
        "port_wait(2 ms, empty port) after the kicks",
        wait,
        Status::TIMED_OUT,
    )
}

/// The guest's started flag (guest_code.S `mark_started`).
const STARTED: u64 = GUEST_RAM + 0x20000;

/// CPU 1: in each round, once the guest CPU 0 entered has marked itself
/// started (and a little more), kicks its vCPU and closes its only handle.
fn kick_close_job(rounds: usize) -> i32 {
    for r in 1..=rounds as u32 {
        if !cpus::wait_for(10_000, || {
            ROUND_VCPU.load(Ordering::SeqCst) != 0 && read_u64(STARTED) != 0
        }) {
            return -1;
        }
        let vcpu = Handle::from_raw(ROUND_VCPU.swap(0, Ordering::SeqCst));
        for _ in 0..(r * 7919) % 20_000 {
            core::hint::spin_loop();
        }
        let _ = vcpu_kick(vcpu);
        let _ = handle_close(vcpu);
        ROUND_DONE.store(r, Ordering::SeqCst);
        if !cpus::wait_for(10_000, || ROUND_DONE.load(Ordering::SeqCst) == 0) {
            return -2;
        }
    }
    0
}

/// A guest spinning (without exits) is entered; once it runs, CPU 1 kicks
/// it and closes the vCPU's handle: the enter returns CANCELED every time.
fn kick_then_close(board: &Board, resource: Handle) -> TestResult {
    cpus::start(board, KICKER)?;
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::spin_irq())?;
    ROUND_DONE.store(0, Ordering::SeqCst);
    cpus::run_on(KICKER, kick_close_job, ROUNDS);
    let mut packet = PortPacket::default();
    for r in 0..ROUNDS {
        let vcpu = ok("vcpu_create", vcpu_create(fx.guest(), 0, 0))?;
        let mut state = read_state(vcpu)?;
        // Spin for ever: x9 seconds (11 days).
        state.x[9] = 1_000_000;
        ok("write_state", vcpu_write_state(vcpu, &state))?;
        write_u64(STARTED, 0);
        ROUND_VCPU.store(vcpu.raw(), Ordering::SeqCst);
        let got = enter_once(vcpu, &mut packet);
        ensure!(
            cpus::wait_for(10_000, || ROUND_DONE.load(Ordering::SeqCst) != 0),
            "round {r}: CPU {KICKER} did not kick and close the vcpu"
        );
        ROUND_DONE.store(0, Ordering::SeqCst);
        ensure!(
            got == Status::CANCELED,
            "round {r}: enter gave {got}, want ZX_ERR_CANCELED"
        );
    }
    match cpus::wait_job(KICKER, 10_000) {
        Some(0) => Ok(()),
        other => Err(crate::why!("CPU {KICKER}'s job ended with {other:?}")),
    }
}

/// A vCPU handle closed in each round of [`close_under_calls`].
static CALLED_VCPU: AtomicU32 = AtomicU32::new(0);
/// The round whose handle CPU 1 has seen closed (0: not yet).
static CALLS_DONE: AtomicU32 = AtomicU32::new(0);
const CLOSE_ROUNDS: u32 = 200;

/// CPU 1: in each round, calls zx_vcpu_interrupt, zx_vcpu_kick and
/// zx_object_get_info(INFO_VCPU) on the round's vCPU until one gives
/// BAD_HANDLE; every call before must give OK. The job's result: 0, or
/// the failed round's number (negative: timed out waiting for a round).
fn call_until_closed(rounds: usize) -> i32 {
    for r in 1..=rounds as u32 {
        if !cpus::wait_for(10_000, || CALLED_VCPU.load(Ordering::SeqCst) != 0) {
            return -(r as i32);
        }
        let vcpu = Handle::from_raw(CALLED_VCPU.swap(0, Ordering::SeqCst));
        let closed = loop {
            let calls = [
                vcpu_interrupt(vcpu, 40),
                vcpu_kick(vcpu),
                object_get_info_vcpu(vcpu).map(|_| ()),
            ];
            match calls.iter().find(|c| c.is_err()) {
                None => {}
                Some(Err(Status::BAD_HANDLE)) => break true,
                Some(_) => break false,
            }
        };
        if !closed {
            return r as i32;
        }
        CALLS_DONE.store(r, Ordering::SeqCst);
    }
    0
}

/// CPU 0 creates a vCPU, hands it to CPU 1, reads its state a few times
/// (a different number each round, so that the close lands at every point
/// of CPU 1's calls) and closes it; CPU 1's calls must all give OK until
/// they give BAD_HANDLE.
fn close_under_calls(board: &Board, resource: Handle) -> TestResult {
    cpus::start(board, KICKER)?;
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_exit_loop())?;
    CALLED_VCPU.store(0, Ordering::SeqCst);
    CALLS_DONE.store(0, Ordering::SeqCst);
    cpus::run_on(KICKER, call_until_closed, CLOSE_ROUNDS as usize);
    for r in 1..=CLOSE_ROUNDS {
        let vcpu = ok("vcpu_create", vcpu_create(fx.guest(), 0, 0))?;
        CALLED_VCPU.store(vcpu.raw(), Ordering::SeqCst);
        for _ in 0..r % 7 {
            read_state(vcpu)?;
        }
        for _ in 0..(r * 7919) % 5000 {
            core::hint::spin_loop();
        }
        ok("closing the vcpu CPU 1 calls on", handle_close(vcpu))?;
        ensure!(
            cpus::wait_for(10_000, || CALLS_DONE.load(Ordering::SeqCst) == r),
            "round {r}: CPU {KICKER} did not see the vcpu closed (its job: {:?})",
            cpus::wait_job(KICKER, 0)
        );
    }
    match cpus::wait_job(KICKER, 10_000) {
        Some(0) => Ok(()),
        other => Err(crate::why!(
            "CPU {KICKER}'s job ended with {other:?} (the round whose calls failed otherwise than BAD_HANDLE; negative: timed out)"
        )),
    }
}

//! vCPUs and the CPUs that own them (docs/abi.md §4): Zircon's
//! VcpuDeleteFromOtherThread with a second physical CPU as the thread, and
//! the calls another CPU may not make on a vCPU; and two CPUs changing one
//! guest's memory at once (issue 16: map/unmap against set_trap), or one
//! changing the tables a vCPU on the other reads through (issue 11: blocks
//! split break-before-make).

use super::fixture::*;
use crate::cpus;
use crate::ensure;
use crate::guest_code;
use crate::platform::Board;
use crate::suite::{Reason, Suite, TestResult};
use core::sync::atomic::{AtomicU32, Ordering};
use syscalls::client::{
    guest_set_trap, handle_close, vcpu_kick, vcpu_write_state, vmar_map, vmar_protect, vmar_unmap,
    vmo_create_physical,
};
use syscalls::hypervisor::{VcpuState, GUEST_TRAP_MEM, VCPU_IO, VCPU_STATE, VM_PERM_READ};
use syscalls::{Handle, Rights, Status};

/// The CPU that plays the other thread.
const CHILD: usize = 1;
/// How long either side waits for the other.
const WAIT_MS: u64 = 10_000;

/// Why the child's job failed.
static CHILD_WHY: spin::Mutex<Reason> = spin::Mutex::new(Reason::new_const());
/// The raw value of the vCPU handle the child created.
static CHILD_VCPU: AtomicU32 = AtomicU32::new(0);
static STAGE: AtomicU32 = AtomicU32::new(START);
const START: u32 = 0;
const ENTERED: u32 = 1;
const CLOSED: u32 = 2;
const FAILED: u32 = 3;

pub fn run(suite: &mut Suite, board: &Board, resource: Handle) {
    suite.run("guest_vcpu_delete_from_other_thread", || {
        delete_from_other_thread(board, resource)
    });
    suite.run("guest_vcpu_wrong_cpu", || wrong_cpu(board, resource));
    suite.run("guest_map_and_set_trap_on_two_cpus", || {
        map_and_trap(board, resource)
    });
    suite.run("guest_reads_through_blocks_split_on_another_cpu", || {
        split_under_reads(board, resource)
    });
}

/// A job's result code, keeping the reason of a failure for the main CPU.
fn job_result(r: TestResult) -> i32 {
    match r {
        Ok(()) => 0,
        Err(why) => {
            *CHILD_WHY.lock() = why;
            STAGE.store(FAILED, Ordering::SeqCst);
            1
        }
    }
}

/// Waits for the child's job and turns its result into the test's.
fn child_outcome() -> TestResult {
    match cpus::wait_job(CHILD, WAIT_MS) {
        None => Err(crate::why!(
            "the job on CPU {CHILD} did not finish within 10 s"
        )),
        Some(0) => Ok(()),
        Some(_) => Err(crate::why!("CPU {CHILD}: {}", *CHILD_WHY.lock())),
    }
}

fn delete_from_other_thread(board: &Board, resource: Handle) -> TestResult {
    cpus::start(board, CHILD)?;
    STAGE.store(START, Ordering::SeqCst);
    CHILD_VCPU.store(0, Ordering::SeqCst);
    cpus::run_on(CHILD, delete_child, resource.raw() as usize);
    let told = cpus::wait_for(WAIT_MS, || STAGE.load(Ordering::SeqCst) != START);
    ensure!(
        told,
        "CPU {CHILD} did not enter its guest three times within 10 s"
    );
    if STAGE.load(Ordering::SeqCst) == FAILED {
        return child_outcome();
    }
    let vcpu = Handle::from_raw(CHILD_VCPU.load(Ordering::SeqCst));
    let closed = handle_close(vcpu);
    STAGE.store(CLOSED, Ordering::SeqCst);
    ok("closing the other CPU's vcpu", closed)?;
    child_outcome()
}

/// On the child CPU: SetupGuest, three MEM exits, then, once the main CPU
/// has closed the vCPU handle, an enter on it fails with BAD_HANDLE.
fn delete_child(resource: usize) -> i32 {
    job_result(delete_child_steps(Handle::from_raw(resource as u32)))
}

fn delete_child_steps(resource: Handle) -> TestResult {
    let mut fx = Fixture::new(resource, GUEST_RAM_2, guest_code::vcpu_always_exit())?;
    fx.trap(GUEST_TRAP_MEM, TRAP_ADDR, Handle::INVALID, TRAP_KEY)?;
    let want = TRAP_STORE;
    for what in ["enter 1", "enter 2", "enter 3"] {
        let p = ok(what, enter(fx.vcpu()))?;
        check_mem(what, &p, &want)?;
    }
    let vcpu = core::mem::replace(&mut fx.vcpu.0, Handle::INVALID);
    CHILD_VCPU.store(vcpu.raw(), Ordering::SeqCst);
    STAGE.store(ENTERED, Ordering::SeqCst);
    ensure!(
        cpus::wait_for(WAIT_MS, || STAGE.load(Ordering::SeqCst) == CLOSED),
        "the main CPU did not close the vcpu within 10 s"
    );
    expect_enter(vcpu, Status::BAD_HANDLE)
}

fn wrong_cpu(board: &Board, resource: Handle) -> TestResult {
    cpus::start(board, CHILD)?;
    // Exits on every entry: an enter wrongly allowed elsewhere cannot leave
    // it spinning.
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_exit_loop())?;
    let before = read_state(fx.vcpu())?;
    STAGE.store(START, Ordering::SeqCst);
    cpus::run_on(CHILD, wrong_cpu_child, fx.vcpu().raw() as usize);
    child_outcome()?;
    let after = read_state(fx.vcpu())?;
    ensure!(
        after == before,
        "the vcpu's state changed while another CPU was refused"
    );
    enter_and_clean_exit(fx.vcpu())
}

/// On the child CPU: every state call on the main CPU's vCPU is refused,
/// with the kind/size and rights checks before the CPU check and the CPU
/// check before the buffer pointer.
fn wrong_cpu_child(vcpu: usize) -> i32 {
    job_result(wrong_cpu_steps(Handle::from_raw(vcpu as u32)))
}

fn wrong_cpu_steps(vcpu: Handle) -> TestResult {
    let mut buf = RawBuf([0; 512]);
    buf.0[..VcpuState::SIZE].copy_from_slice(&VcpuState::default().to_bytes());
    let b = buf.0.as_mut_ptr() as u64;
    let mut io = RawBuf([0; 512]);
    io.0[0] = 4;
    let io = io.0.as_mut_ptr() as u64;
    let no_read = dup_vcpu_without(vcpu, Rights::READ)?;
    #[rustfmt::skip]
    let reads = [
        ("kind 7", vcpu, 7, b, 264, Status::INVALID_ARGS),
        ("size 263", vcpu, VCPU_STATE, b, 263, Status::INVALID_ARGS),
        ("without READ", no_read.h(), VCPU_STATE, b, 264, Status::ACCESS_DENIED),
        ("VCPU_STATE", vcpu, VCPU_STATE, b, 264, Status::BAD_STATE),
        ("VCPU_STATE into NULL", vcpu, VCPU_STATE, 0, 264, Status::BAD_STATE),
    ];
    for (what, h, kind, p, size, want) in reads {
        let got = read_state_raw(h, kind, p, size);
        ensure!(
            got == want,
            "read_state({what}) from another CPU: got {got}, want {want}"
        );
    }
    #[rustfmt::skip]
    let writes = [
        ("kind 7", 7, b, 264, Status::INVALID_ARGS),
        ("VCPU_IO, size 8", VCPU_IO, io, 8, Status::INVALID_ARGS),
        ("VCPU_STATE", VCPU_STATE, b, 264, Status::BAD_STATE),
        ("VCPU_STATE from NULL", VCPU_STATE, 0, 264, Status::BAD_STATE),
        ("VCPU_IO", VCPU_IO, io, 16, Status::BAD_STATE),
    ];
    for (what, kind, p, size, want) in writes {
        let got = write_state_raw(vcpu, kind, p, size);
        ensure!(
            got == want,
            "write_state({what}) from another CPU: got {got}, want {want}"
        );
    }
    expect_enter(vcpu, Status::BAD_STATE)
}

/// Rounds of the map/trap race, each on a new guest, and the calls each
/// CPU makes per round.
const RACE_ROUNDS: u32 = 20;
const RACE_CALLS: u64 = 1000;
/// The guest of the current round (a raw handle), and the round: 0 before
/// the first, RACE_DONE once the main CPU is finished.
static RACE_GUEST: AtomicU32 = AtomicU32::new(0);
static RACE_ROUND: AtomicU32 = AtomicU32::new(0);
const RACE_DONE: u32 = u32::MAX;
/// The last round the child finished.
static RACE_FINISHED: AtomicU32 = AtomicU32::new(0);
/// Where the child's traps start: fresh pages in every call of a round.
const RACE_TRAPS: u64 = 0x1000_0000;
/// The page the main CPU maps and unmaps.
const RACE_PAGE: u64 = 0x10_0000;

/// CPU 0 maps and unmaps one page of a guest while CPU 1 sets traps on
/// fresh pages of the same guest (issue 16 item 3): both take the guest's
/// memory lock(s), and neither may wait for the other forever.
fn map_and_trap(board: &Board, resource: Handle) -> TestResult {
    cpus::start(board, CHILD)?;
    let vmo = Owned(ok(
        "vmo_create_physical",
        vmo_create_physical(resource, GUEST_RAM, PAGE),
    )?);
    STAGE.store(START, Ordering::SeqCst);
    RACE_ROUND.store(0, Ordering::SeqCst);
    RACE_FINISHED.store(0, Ordering::SeqCst);
    cpus::run_on(CHILD, trap_child, 0);
    let result = race_rounds(resource, vmo.h());
    RACE_ROUND.store(RACE_DONE, Ordering::SeqCst);
    let child = child_outcome();
    result.and(child)
}

fn race_rounds(resource: Handle, vmo: Handle) -> TestResult {
    for round in 1..=RACE_ROUNDS {
        let fx = Fixture::bare(resource)?;
        RACE_GUEST.store(fx.guest().raw(), Ordering::SeqCst);
        RACE_ROUND.store(round, Ordering::SeqCst);
        for i in 0..RACE_CALLS {
            let mapped = vmar_map(fx.vmar(), RWX_SPECIFIC, RACE_PAGE, vmo, 0, PAGE);
            ok(&crate::why!("round {round} vmar_map {i}"), mapped)?;
            let unmapped = vmar_unmap(fx.vmar(), RACE_PAGE, PAGE);
            ok(&crate::why!("round {round} vmar_unmap {i}"), unmapped)?;
        }
        let finished = cpus::wait_for(WAIT_MS, || {
            RACE_FINISHED.load(Ordering::SeqCst) == round || STAGE.load(Ordering::SeqCst) == FAILED
        });
        ensure!(
            finished,
            "CPU {CHILD} did not finish round {round} within 10 s"
        );
        if STAGE.load(Ordering::SeqCst) == FAILED {
            return Ok(());
        }
    }
    Ok(())
}

/// On the child CPU: each round, RACE_CALLS traps on fresh pages of the
/// round's guest.
fn trap_child(_: usize) -> i32 {
    job_result(trap_rounds())
}

fn trap_rounds() -> TestResult {
    let mut seen = 0;
    loop {
        let next = cpus::wait_for(WAIT_MS, || RACE_ROUND.load(Ordering::SeqCst) != seen);
        ensure!(next, "no new round after round {seen} within 10 s");
        let round = RACE_ROUND.load(Ordering::SeqCst);
        if round == RACE_DONE {
            return Ok(());
        }
        let guest = Handle::from_raw(RACE_GUEST.load(Ordering::SeqCst));
        for i in 0..RACE_CALLS {
            let addr = RACE_TRAPS + i * PAGE;
            let set = guest_set_trap(guest, GUEST_TRAP_MEM, addr, PAGE, Handle::INVALID, i);
            ok(&crate::why!("round {round} guest_set_trap {i}"), set)?;
        }
        RACE_FINISHED.store(round, Ordering::SeqCst);
        seen = round;
    }
}

/// Where the split test maps its guest RAM again and again: 64 windows of
/// the fixture's 16 MiB, 512 blocks of 2 MiB in all.
const SPLIT_WINDOWS: u64 = 0x1_0000_0000;
const SPLIT_WINDOW_COUNT: u64 = 64;
const BLOCK: u64 = 0x20_0000;
/// Raw handles of the child's vCPU and VMAR, and of its RAM's VMO.
static SPLIT_VCPU: AtomicU32 = AtomicU32::new(0);
static SPLIT_VMAR: AtomicU32 = AtomicU32::new(0);
static SPLIT_VMO: AtomicU32 = AtomicU32::new(0);
/// The main CPU mapped the windows: the child may enter.
const MAPPED: u32 = 4;
/// How long the child's guest reads before the splits start.
const SPLIT_HEAD_START_MS: u64 = 20;

/// A vCPU on CPU 1 loads from every block of the windows while CPU 0
/// splits each block (protecting a page inside it): between the
/// break and the make of a split, the guest's load meets an invalid entry,
/// and the monitor must send it back to try again, not stop it with
/// NOT_FOUND. Only the kick at the end may end the enter.
fn split_under_reads(board: &Board, resource: Handle) -> TestResult {
    cpus::start(board, CHILD)?;
    STAGE.store(START, Ordering::SeqCst);
    cpus::run_on(CHILD, split_child, resource.raw() as usize);
    let ready = cpus::wait_for(WAIT_MS, || STAGE.load(Ordering::SeqCst) != START);
    ensure!(ready, "CPU {CHILD} did not set up its guest within 10 s");
    if STAGE.load(Ordering::SeqCst) == FAILED {
        return child_outcome();
    }
    let vmar = Handle::from_raw(SPLIT_VMAR.load(Ordering::SeqCst));
    let vmo = Handle::from_raw(SPLIT_VMO.load(Ordering::SeqCst));
    let split = split_blocks(vmar, vmo);
    let kicked = vcpu_kick(Handle::from_raw(SPLIT_VCPU.load(Ordering::SeqCst)));
    // The child's reason first: once it failed, its handles may be gone.
    child_outcome().and(split).and(ok("vcpu_kick", kicked))
}

/// On the main CPU: maps the windows, lets the child's guest run, then
/// splits every block under it.
fn split_blocks(vmar: Handle, vmo: Handle) -> TestResult {
    for w in 0..SPLIT_WINDOW_COUNT {
        let at = SPLIT_WINDOWS + w * VMO_SIZE;
        ok(
            "vmar_map(window)",
            vmar_map(vmar, RWX_SPECIFIC, at, vmo, 0, VMO_SIZE),
        )?;
    }
    STAGE.store(MAPPED, Ordering::SeqCst);
    let _ = cpus::wait_for(SPLIT_HEAD_START_MS, || {
        STAGE.load(Ordering::SeqCst) == FAILED
    });
    for block in 0..SPLIT_WINDOW_COUNT * VMO_SIZE / BLOCK {
        if STAGE.load(Ordering::SeqCst) == FAILED {
            break;
        }
        let page = SPLIT_WINDOWS + block * BLOCK + BLOCK / 2;
        ok(
            "vmar_protect(R) in a block",
            vmar_protect(vmar, VM_PERM_READ, page, PAGE),
        )?;
    }
    Ok(())
}

fn split_child(resource: usize) -> i32 {
    job_result(split_child_steps(Handle::from_raw(resource as u32)))
}

/// On the child CPU: the guest, then one enter that only the main CPU's
/// kick may end.
fn split_child_steps(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM_2, guest_code::block_reads())?;
    let mut state = VcpuState::default();
    state.x[1] = SPLIT_WINDOWS;
    state.x[5] = SPLIT_WINDOWS + SPLIT_WINDOW_COUNT * VMO_SIZE;
    ok("write_state", vcpu_write_state(fx.vcpu(), &state))?;
    SPLIT_VCPU.store(fx.vcpu().raw(), Ordering::SeqCst);
    SPLIT_VMAR.store(fx.vmar().raw(), Ordering::SeqCst);
    SPLIT_VMO.store(fx.vmo.h().raw(), Ordering::SeqCst);
    STAGE.store(ENTERED, Ordering::SeqCst);
    ensure!(
        cpus::wait_for(WAIT_MS, || STAGE.load(Ordering::SeqCst) == MAPPED),
        "the main CPU did not map the windows within 10 s"
    );
    expect_enter(fx.vcpu(), Status::CANCELED)
}

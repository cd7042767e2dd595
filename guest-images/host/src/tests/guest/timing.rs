//! WFI, WFE and the virtual timer, kicks and interrupts that wake or stop a
//! guest, guest SGIs, FP from guest EL0, and the host's own timer while a
//! guest runs (docs/abi.md §2, §5; reference §4.4, §5.4, §5.6, §5.7; §6.2 #10,
//! #12, #13, #14, #21, #25). CPU 1 plays the other thread: it kicks or
//! interrupts the main CPU's vCPU, and as a watchdog kicks any enter that
//! has not returned after 1 s (five kicks at most). Guests that wait give
//! up on their own after a bounded time; one of them waits calling `hvc`
//! without pause, which the monitor answers in its vectors (exit::fast), so
//! that interrupts and kicks are seen to get through the calls as well.

use super::fixture::*;
use crate::cpus;
use crate::ensure;
use crate::guest_code::{self, Code};
use crate::platform::Board;
use crate::suite::{Reason, Suite, TestResult};
use crate::why;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use el1rt::host_timer;
use syscalls::client::{
    self, object_get_info_vcpu_exits, vcpu_interrupt, vcpu_kick, vcpu_write_state,
};
use syscalls::exit_counts::ExitKind;
use syscalls::port::{
    PortPacket, PKT_GUEST_VCPU_INTERRUPT, PKT_TYPE_GUEST_MEM, PKT_TYPE_GUEST_VCPU,
};
use syscalls::{Handle, Status, ZxResult};

/// The CPU that kicks, interrupts and watches.
const OTHER: usize = 1;
/// How long the main CPU waits for a job on the other CPU.
const WAIT_MS: u64 = 10_000;
/// The watchdog kicks an enter that has not returned once a second...
const KICK_EVERY_MS: u64 = 1000;
/// ...five times at most (a kick the test asked for counts).
const MAX_KICKS: i32 = 5;
/// How long the other CPU waits for a guest to mark itself started.
const START_WAIT_MS: u64 = 2000;
/// kInterruptVector.
const VECTOR: u32 = 32;
/// The virtual timer's PPI.
const VTIMER_INTID: u64 = 27;
/// Guest memory of guest_code.S: the started flag, the storm's counts.
const STARTED_ADDR: u64 = 0x20000;
const STORM_COUNT_ADDR: u64 = 0x20008;
const STORM_SPURIOUS_ADDR: u64 = 0x20010;
const STORM_COUNT: u64 = 10_000;
/// The x6 codes guest_code.S leaves before test_failure.
const NO_IRQ: u64 = 1;
const TIMED_OUT: u64 = 2;
const STALLED: u64 = 3;
const WRONG_INTID: u64 = 4;
const SYNC_EL1: u64 = 0x200;
const SYNC_EL0_A64: u64 = 0x400;
const SYNC_EL0_A32: u64 = 0x600;

pub fn run(suite: &mut Suite, board: &Board, resource: Handle) {
    let v3 = board.gic_version == 3;
    suite.run("guest_vcpu_wfi", || {
        returns_at_once(board, resource, guest_code::vcpu_wfi(), "WFI")
    });
    suite.run("guest_vcpu_wfe", || {
        returns_at_once(board, resource, guest_code::vcpu_wfe(), "WFE")
    });
    suite.run("guest_wfi_blocks_until_timer", || {
        wfi_blocks_until_timer(board, resource)
    });
    suite.run("guest_timer_wakes_wfi", || timer_wakes_wfi(board, resource));
    suite.run("guest_wfi_yields_to_the_host", || wfi_yields(resource));
    suite.run("guest_timer_interrupts_a_spinning_guest", || {
        timer_interrupts_spinning_guest(board, resource)
    });
    suite.run("guest_physical_timer", || physical_timer(board, resource));
    suite.run("guest_timer_ppi_enable_and_pending", || {
        timer_ppi_enable(board, resource)
    });
    suite.run("guest_vcpu_kick_in_wfi", || kick_in_wfi(board, resource));
    suite.run("guest_interrupt_wakes_wfi", || {
        interrupt_wakes_wfi(board, resource)
    });
    suite.run("guest_interrupt_running_guest", || {
        interrupt_running_guest(board, resource)
    });
    suite.run("guest_kick_running_guest", || {
        kick_running_guest(board, resource)
    });
    suite.run("guest_interrupt_guest_in_hvc_loop", || {
        interrupt_hvc_loop(board, resource)
    });
    suite.run("guest_kick_guest_in_hvc_loop", || {
        kick_hvc_loop(board, resource)
    });
    suite.run("guest_interrupt_storm", || interrupt_storm(board, resource));
    suite.run("guest_vcpu_use_after_thread_exits", || {
        use_after_thread_exits(board, resource)
    });
    let no_sgi1r = "GICv2 has no ICC_SGI1R_EL1";
    if v3 {
        suite.run("guest_sgi_packet", || sgi_packet(resource));
        suite.run("guest_two_vcpus_exchange_sgis", || {
            exchange_sgis(board, resource)
        });
    } else {
        suite.skip("guest_sgi_packet", no_sgi1r);
        suite.skip("guest_two_vcpus_exchange_sgis", no_sgi1r);
    }
    suite.run("guest_vcpu_fp", || vcpu_fp(resource));
    let el0 = aarch32_el0();
    if el0 == 0b0010 {
        suite.run("guest_vcpu_wfi_aarch32", || wfi_aarch32(board, resource));
        suite.run("guest_vcpu_fp_aarch32", || fp_aarch32(resource));
        suite.run("guest_debug_register_aarch32", || debug_aarch32(resource));
    } else {
        let why = why!("ID_AA64PFR0_EL1.EL0 = {el0:#06b}: no AArch32 at EL0");
        suite.skip("guest_vcpu_wfi_aarch32", &why);
        suite.skip("guest_vcpu_fp_aarch32", &why);
        suite.skip("guest_debug_register_aarch32", &why);
    }
    suite.run("host_timer_ticks_while_guest_spins", || {
        host_timer_ticks(board, resource)
    });
}

/// ID_AA64PFR0_EL1.EL0: 0b0010 when EL0 can run AArch32 (the guest's CPU
/// is this one).
fn aarch32_el0() -> u64 {
    let pfr0: u64;
    // SAFETY: reading an ID register has no side effects.
    unsafe { core::arch::asm!("mrs {}, id_aa64pfr0_el1", out(reg) pfr0) };
    pfr0 & 0xf
}

/// The guest's code for the board's GIC.
fn for_gic(board: &Board, v2: Code, v3: Code) -> Code {
    if board.gic_version == 3 {
        v3
    } else {
        v2
    }
}

/// The INTID field of an IAR value (GICv3 \[23:0\], GICv2 \[9:0\]).
fn intid(board: &Board, iar: u64) -> u64 {
    iar & if board.gic_version == 3 {
        0xFF_FFFF
    } else {
        0x3FF
    }
}

/// Sets the guest's x`n` before it runs.
fn set_x(vcpu: Handle, n: usize, value: u64) -> TestResult {
    let mut s = read_state(vcpu)?;
    s.x[n] = value;
    ok("write_state", vcpu_write_state(vcpu, &s))
}

/// Counter ticks as microseconds.
fn micros(ticks: u64) -> u64 {
    let (_, freq) = counter();
    (u128::from(ticks) * 1_000_000 / u128::from(freq)) as u64
}

/// True if `p` is the guest's test_failure exit.
fn is_failure(p: &PortPacket) -> bool {
    p.type_ == PKT_TYPE_GUEST_MEM && p.guest_mem().addr == EXIT_TEST_FAILURE_ADDR
}

/// Why a guest reported test_failure (the x6/x7/x8 codes of guest_code.S);
/// `waited` says what it was waiting for.
fn guest_failure(vcpu: Handle, waited: &str) -> Reason {
    let s = match read_state(vcpu) {
        Ok(s) => s,
        Err(why) => return why!("the guest reported test_failure; then {why}"),
    };
    match s.x[6] {
        NO_IRQ | TIMED_OUT => why!("the guest gave up waiting for {waited}"),
        STALLED => why!(
            "the guest's IRQ count stayed at {} for 3 s",
            read_u64(GUEST_RAM + STORM_COUNT_ADDR)
        ),
        WRONG_INTID => why!(
            "the guest's IRQ handler acknowledged IAR {:#x}, want INTID 32",
            s.x[7]
        ),
        v @ (SYNC_EL1 | SYNC_EL0_A64 | SYNC_EL0_A32) => why!(
            "the guest took an unexpected exception at vector {v:#x}: ESR_EL1 {:#x} ELR_EL1 {:#x}",
            s.x[7],
            s.x[8]
        ),
        code => why!("the guest reported test_failure with x6 = {code:#x}"),
    }
}

/// Checks that an enter gave the guest's clean exit; `waited` says what a
/// guest that gave up was waiting for.
fn finished(vcpu: Handle, entered: ZxResult<PortPacket>, waited: &str) -> TestResult {
    let p = entered.map_err(|s| why!("enter: got {s}, want ZX_OK (clean exit)"))?;
    if is_failure(&p) {
        return Err(guest_failure(vcpu, waited));
    }
    clean_exit(&p)
}

/// What CPU 1 does to the main CPU's vCPU before watching it.
#[derive(Clone, Copy)]
#[repr(u32)]
enum Action {
    Nothing = 0,
    Kick = 1,
    Interrupt = 2,
}

/// Set by the main CPU when its enter has returned.
static ENTER_DONE: AtomicBool = AtomicBool::new(false);
static POKE_ACTION: AtomicU32 = AtomicU32::new(0);
static POKE_AFTER_START: AtomicBool = AtomicBool::new(false);
static POKE_DELAY_MS: AtomicU64 = AtomicU64::new(0);
/// A job's failure, for the main CPU.
static JOB_FAILED: AtomicBool = AtomicBool::new(false);
static JOB_WHY: spin::Mutex<Reason> = spin::Mutex::new(Reason::new_const());

fn job_failed(why: Reason) {
    *JOB_WHY.lock() = why;
    JOB_FAILED.store(true, Ordering::SeqCst);
}

fn enter_done() -> bool {
    ENTER_DONE.load(Ordering::SeqCst)
}

/// The main CPU's guest has marked itself started (guest_code.S).
fn started() -> bool {
    read_u64(GUEST_RAM + STARTED_ADDR) != 0
}

/// On the other CPU: waits (for the guest to start, if asked, then the
/// delay), kicks or interrupts the vCPU, then kicks it once a second until
/// the main CPU's enter returns, MAX_KICKS kicks in all. Returns the kicks.
fn poke_job(vcpu: usize) -> i32 {
    let vcpu = Handle::from_raw(vcpu as u32);
    let action = match POKE_ACTION.load(Ordering::SeqCst) {
        1 => Action::Kick,
        2 => Action::Interrupt,
        _ => Action::Nothing,
    };
    let mut kicks = 0;
    let mut act = true;
    if POKE_AFTER_START.load(Ordering::SeqCst)
        && !cpus::wait_for(START_WAIT_MS, || started() || enter_done())
    {
        job_failed(why!("the guest did not mark itself started within 2 s"));
        act = false;
    }
    if cpus::wait_for(POKE_DELAY_MS.load(Ordering::SeqCst), enter_done) {
        return 0;
    }
    if act {
        match action {
            Action::Nothing => {}
            Action::Kick => {
                kicks = 1;
                if let Err(s) = vcpu_kick(vcpu) {
                    job_failed(why!("vcpu_kick from CPU {OTHER}: got {s}, want ZX_OK"));
                }
            }
            Action::Interrupt => {
                if let Err(s) = vcpu_interrupt(vcpu, VECTOR) {
                    job_failed(why!(
                        "vcpu_interrupt(32) from CPU {OTHER}: got {s}, want ZX_OK"
                    ));
                }
            }
        }
    }
    while kicks < MAX_KICKS && !cpus::wait_for(KICK_EVERY_MS, enter_done) {
        let _ = vcpu_kick(vcpu);
        kicks += 1;
    }
    kicks
}

/// An enter with CPU 1 poking and watching, and the kicks CPU 1 made.
struct Outcome {
    entered: ZxResult<PortPacket>,
    kicks: i32,
}

/// Enters the vCPU while CPU 1 runs [`poke_job`] with `action`, after the
/// guest has started (if `after_start`) and `delay_ms`.
fn enter_poked(
    board: &Board,
    vcpu: Handle,
    action: Action,
    after_start: bool,
    delay_ms: u64,
) -> Result<Outcome, Reason> {
    cpus::start(board, OTHER)?;
    ENTER_DONE.store(false, Ordering::SeqCst);
    JOB_FAILED.store(false, Ordering::SeqCst);
    POKE_ACTION.store(action as u32, Ordering::SeqCst);
    POKE_AFTER_START.store(after_start, Ordering::SeqCst);
    POKE_DELAY_MS.store(delay_ms, Ordering::SeqCst);
    cpus::run_on(OTHER, poke_job, vcpu.raw() as usize);
    let entered = enter(vcpu);
    ENTER_DONE.store(true, Ordering::SeqCst);
    let Some(kicks) = cpus::wait_job(OTHER, WAIT_MS) else {
        return Err(why!("the job on CPU {OTHER} did not finish within 10 s"));
    };
    if JOB_FAILED.load(Ordering::SeqCst) {
        return Err(why!("CPU {OTHER}: {}", *JOB_WHY.lock()));
    }
    Ok(Outcome { entered, kicks })
}

/// What an enter gave, for failure reasons.
fn gave(entered: &ZxResult<PortPacket>) -> Reason {
    match entered {
        Ok(p) if is_failure(p) => why!("the guest's test_failure"),
        Ok(p) => why!("ZX_OK, packet type {}", p.type_),
        Err(s) => why!("{s}"),
    }
}

/// Checks for the guest's clean exit without any watchdog kick.
fn clean_unkicked(vcpu: Handle, o: Outcome, waited: &str) -> TestResult {
    if o.kicks > 0 && o.entered.is_err() {
        return Err(why!(
            "enter had not returned after 1 s: CPU {OTHER}'s watchdog kicked the vcpu ({} \
             kicks, 1 s apart), then it gave {}",
            o.kicks,
            gave(&o.entered)
        ));
    }
    finished(vcpu, o.entered, waited)?;
    ensure!(
        o.kicks == 0,
        "the clean exit came only after {} watchdog kicks (1 s apart)",
        o.kicks
    );
    Ok(())
}

/// Checks that a kicked enter returned CANCELED after the first kick.
fn canceled_by_first_kick(vcpu: Handle, o: Outcome) -> TestResult {
    match o.entered {
        Err(Status::CANCELED) => {}
        Ok(p) if is_failure(&p) => {
            return Err(why!(
                "no kick ended the enter ({} kicks, 1 s apart): {}",
                o.kicks,
                guest_failure(vcpu, "a kick")
            ))
        }
        other => {
            return Err(why!(
                "enter: got {}, want ZX_ERR_CANCELED ({} kicks)",
                gave(&other),
                o.kicks
            ))
        }
    }
    ensure!(
        o.kicks == 1,
        "enter returned CANCELED only after {} kicks from CPU {OTHER} (1 s apart): the first \
         kick was lost",
        o.kicks
    );
    Ok(())
}

/// #10 VcpuWfi and WFE: the instruction returns at once (x3 = its ticks).
fn returns_at_once(board: &Board, resource: Handle, code: Code, insn: &str) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, code)?;
    let o = enter_poked(board, fx.vcpu(), Action::Nothing, false, 0)?;
    clean_unkicked(fx.vcpu(), o, "nothing")?;
    let ticks = read_state(fx.vcpu())?.x[3];
    let (_, freq) = counter();
    ensure!(
        ticks < freq / 4,
        "the guest's {insn} took {} ms, want an immediate return",
        micros(ticks) / 1000
    );
    Ok(())
}

/// With the timer 20 ms ahead and nothing pending, WFI blocks until the
/// deadline: it returns a few times at most before then.
fn wfi_blocks_until_timer(board: &Board, resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::wfi_until_timer())?;
    let o = enter_poked(board, fx.vcpu(), Action::Nothing, false, 0)?;
    clean_unkicked(fx.vcpu(), o, "nothing")?;
    let returns = read_state(fx.vcpu())?.x[5];
    ensure!(
        returns <= 10,
        "WFI returned {returns} times in the 20 ms before the timer deadline with nothing \
         pending, want it to block until the deadline"
    );
    Ok(())
}

/// ZXV_VCPU_WFI (docs/abi.md §6): waits in the monitor until the YIELD
/// flag is written; then each WFI before the timer's deadline returns
/// SHOULD_WAIT with that deadline, the guest going on after it, until its
/// timer has expired and it completes; records with other bits are
/// INVALID_ARGS and change nothing.
fn wfi_yields(resource: Handle) -> TestResult {
    use syscalls::client::{vcpu_read_wfi, vcpu_write_wfi_yield};
    use syscalls::hypervisor::{VcpuWfi, VCPU_WFI_YIELD, ZXV_VCPU_WFI};
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::wfi_until_timer())?;
    let vcpu = fx.vcpu();
    let wfi = ok("read_state(WFI)", vcpu_read_wfi(vcpu))?;
    ensure!(
        wfi.flags == 0 && wfi.deadline == u64::MAX,
        "a new vCPU's WFI: {wfi:x?}, want flags 0 and no deadline"
    );
    for bad in [
        VcpuWfi {
            flags: 2,
            ..VcpuWfi::default()
        },
        VcpuWfi {
            flags: VCPU_WFI_YIELD,
            reserved: 1,
            deadline: 0,
        },
        VcpuWfi {
            flags: VCPU_WFI_YIELD,
            reserved: 0,
            deadline: 1,
        },
    ] {
        let record = bad.to_words();
        let got = write_state_raw(vcpu, ZXV_VCPU_WFI, record.as_ptr() as u64, 16);
        ensure!(
            got == Status::INVALID_ARGS,
            "write_state(WFI, {bad:x?}): got {got}, want INVALID_ARGS"
        );
    }
    let got = write_state_raw(vcpu, ZXV_VCPU_WFI, [0u64; 2].as_ptr() as u64, 8);
    ensure!(
        got == Status::INVALID_ARGS,
        "write_state(WFI) of 8 bytes: got {got}, want INVALID_ARGS"
    );
    ensure!(
        ok("read_state(WFI)", vcpu_read_wfi(vcpu))?.flags == 0,
        "a refused write set flags"
    );
    ok("write_state(WFI, YIELD)", vcpu_write_wfi_yield(vcpu, true))?;
    let mut yields = 0u64;
    let entered = loop {
        match enter(vcpu) {
            Err(Status::SHOULD_WAIT) if yields < 100_000 => yields += 1,
            other => break other,
        }
        let wfi = ok("read_state(WFI)", vcpu_read_wfi(vcpu))?;
        let deadline = read_state(vcpu)?.x[4];
        ensure!(
            wfi.flags == VCPU_WFI_YIELD && wfi.deadline == deadline,
            "after SHOULD_WAIT: {wfi:x?}, want flags YIELD and the guest's deadline {deadline:#x}"
        );
    };
    finished(vcpu, entered, "its timer")?;
    let returns = read_state(vcpu)?.x[5];
    ensure!(
        yields >= 1 && returns >= yields,
        "{yields} SHOULD_WAIT returns, the guest saw {returns} WFIs end: want at least one, each \
         ending a WFI"
    );
    ok("write_state(WFI, 0)", vcpu_write_wfi_yield(vcpu, false))?;
    ensure!(
        ok("read_state(WFI)", vcpu_read_wfi(vcpu))?.flags == 0,
        "flags stay set after writing 0"
    );
    Ok(())
}

/// Tries of [`timer_wakes_wfi`]: QEMU's own scheduling now and then delays
/// a wake-up by a few milliseconds, so one on-time IRQ out of three passes
/// (an early one never does).
const TIMER_TRIES: usize = 3;
/// How late the IRQ may be in this wall-clock run. The 1 ms bound of the
/// issue is checked in virtual time, under -icount, by scripts/qemu-test.sh
/// on the benchmark run (timer_wfi), where it is deterministic; here, under
/// plain TCG on a loaded machine, only a coarse bound is reliable.
const TIMER_LATE_MS: u64 = 5;

/// The virtual timer's deadline wakes a WFI with PPI 27, on time.
fn timer_wakes_wfi(board: &Board, resource: Handle) -> TestResult {
    let (_, freq) = counter();
    let mut late_us = [0; TIMER_TRIES];
    for late in late_us.iter_mut() {
        let late_ticks = timer_irq_delay(board, resource)?;
        *late = micros(late_ticks);
        if late_ticks <= freq / 1000 * TIMER_LATE_MS {
            return Ok(());
        }
    }
    Err(why!(
        "the timer IRQ arrived {late_us:?} us after its deadline in {TIMER_TRIES} tries, want \
         {TIMER_LATE_MS} ms at most"
    ))
}

/// Rounds of the spinning guest's timer, 1 ms apart.
const SPIN_ROUNDS: u64 = 50;
/// The largest delay allowed for one round, and for their mean. Without
/// -icount QEMU's CPU threads share the machine's cores with everything
/// else, so these are loose (an idle machine sees tens of microseconds, one
/// at load 7 on two cores a mean of 10 ms);
/// the exact cost is bench.sh's `timer_spin`. Before the fix the second
/// interrupt never came: the host has no tick here, and the guest gives up
/// 100 ms after the deadline.
const SPIN_LATE_MAX_MS: u64 = 90;
const SPIN_LATE_MEAN_US: u64 = 20_000;

/// A guest that spins without exits takes every one of its timer
/// interrupts at its deadline: the monitor does not wait for the host (its
/// tick, an interrupt, a kick) to let the next one through. Before, only the
/// first one arrived and the rest waited for the enter to return.
fn timer_interrupts_spinning_guest(board: &Board, resource: Handle) -> TestResult {
    let (_, freq) = counter();
    let code = for_gic(
        board,
        guest_code::timer_spin_v2(),
        guest_code::timer_spin_v3(),
    );
    let fx = Fixture::new(resource, GUEST_RAM, code)?;
    let mut s = read_state(fx.vcpu())?;
    s.x[9] = SPIN_ROUNDS;
    s.x[10] = freq / 1000;
    s.x[11] = freq / 10;
    ok("write_state", vcpu_write_state(fx.vcpu(), &s))?;
    let o = enter_poked(board, fx.vcpu(), Action::Nothing, false, 0)?;
    clean_unkicked(fx.vcpu(), o, "a timer IRQ for 100 ms after its deadline")?;
    let s = read_state(fx.vcpu())?;
    let (mean, max) = (micros(s.x[20] / SPIN_ROUNDS), micros(s.x[22]));
    ensure!(
        max <= SPIN_LATE_MAX_MS * 1000 && mean <= SPIN_LATE_MEAN_US,
        "{SPIN_ROUNDS} timer IRQs of a spinning guest came {mean} us late on average, {max} us \
         at most; want {SPIN_LATE_MEAN_US} us and {SPIN_LATE_MAX_MS} ms"
    );
    Ok(())
}

/// The guest's EL1 physical timer (CNTP_*, PPI 30) works as the virtual one
/// does, emulated by the monitor: 20 rounds 1 ms apart, spinning and in WFI,
/// each interrupt acknowledged as INTID 30 with ISTATUS set. Before, the
/// guest's first CNTP access stopped it with NOT_SUPPORTED.
fn physical_timer(board: &Board, resource: Handle) -> TestResult {
    const ROUNDS: u64 = 20;
    let (_, freq) = counter();
    let code = for_gic(
        board,
        guest_code::ptimer_rounds_v2(),
        guest_code::ptimer_rounds_v3(),
    );
    let fx = Fixture::new(resource, GUEST_RAM, code)?;
    let mut s = read_state(fx.vcpu())?;
    s.x[9] = ROUNDS;
    s.x[10] = freq / 1000;
    s.x[11] = freq / 10;
    ok("write_state", vcpu_write_state(fx.vcpu(), &s))?;
    let o = enter_poked(board, fx.vcpu(), Action::Nothing, false, 0)?;
    if let Ok(p) = &o.entered {
        if is_failure(p) {
            let s = read_state(fx.vcpu())?;
            if s.x[6] == 5 {
                return Err(why!(
                    "CNTP_CTL_EL0 read {:#x} in the handler: no ISTATUS",
                    s.x[7]
                ));
            }
            if s.x[6] == WRONG_INTID {
                return Err(why!(
                    "the handler acknowledged IAR {:#x}, want INTID 30",
                    s.x[7]
                ));
            }
        }
    }
    clean_unkicked(
        fx.vcpu(),
        o,
        "a physical timer IRQ for 100 ms after its deadline",
    )?;
    let s = read_state(fx.vcpu())?;
    let (mean, max) = (micros(s.x[20] / ROUNDS), micros(s.x[22]));
    ensure!(
        max <= SPIN_LATE_MAX_MS * 1000 && mean <= SPIN_LATE_MEAN_US,
        "{ROUNDS} physical timer IRQs came {mean} us late on average, {max} us at most; want \
         {SPIN_LATE_MEAN_US} us and {SPIN_LATE_MAX_MS} ms"
    );
    Ok(())
}

/// The timer PPIs' GIC state lives in the monitor (docs/abi.md §6,
/// ZXV_VCPU_TIMER_PPIS): while the VMM says the guest has PPI 27 disabled,
/// an expired timer does not interrupt the guest and reads as pending; once
/// enabled, it is taken; bad records are INVALID_ARGS.
fn timer_ppi_enable(board: &Board, resource: Handle) -> TestResult {
    use syscalls::client::{vcpu_read_timer_ppis, vcpu_write_timer_enables};
    const VTIMER: u32 = 1 << 27;
    let (_, freq) = counter();
    let code = for_gic(
        board,
        guest_code::timer_gic_enable_v2(),
        guest_code::timer_gic_enable_v3(),
    );
    let fx = Fixture::new(resource, GUEST_RAM, code)?;
    let vcpu = fx.vcpu();
    for bad in [1 << 5, 1 << 26, u32::MAX] {
        crate::suite::expect(
            &why!("write_state(TIMER_PPIS, enabled {bad:#x})"),
            vcpu_write_timer_enables(vcpu, bad),
            Status::INVALID_ARGS,
        )?;
    }
    set_x(vcpu, 10, freq / 50)?;
    ok(
        "write_state(TIMER_PPIS, enabled 0)",
        vcpu_write_timer_enables(vcpu, 0),
    )?;
    finished(vcpu, enter(vcpu), "the spin")?;
    ensure!(
        read_state(vcpu)?.x[21] == 0,
        "the guest took its timer IRQ while PPI 27 was disabled"
    );
    let ppis = ok("read_state(TIMER_PPIS)", vcpu_read_timer_ppis(vcpu))?;
    ensure!(
        ppis.enabled == 0 && ppis.pending & VTIMER != 0 && ppis.active == 0,
        "with the timer expired and PPI 27 disabled: {ppis:x?}, want pending {VTIMER:#x}"
    );
    ok(
        "write_state(TIMER_PPIS, enabled 27)",
        vcpu_write_timer_enables(vcpu, VTIMER),
    )?;
    finished(vcpu, enter(vcpu), "the IRQ")?;
    let s = read_state(vcpu)?;
    ensure!(
        s.x[21] == 1 && intid(board, s.x[2]) == VTIMER_INTID,
        "once PPI 27 was enabled: x21 {} IAR {:#x}, want the timer's IRQ",
        s.x[21],
        s.x[2]
    );
    let ppis = ok("read_state(TIMER_PPIS)", vcpu_read_timer_ppis(vcpu))?;
    ensure!(
        ppis.pending & VTIMER == 0 && ppis.active & VTIMER == 0,
        "after the handler masked the timer and EOIed: {ppis:x?}, want neither pending nor active"
    );
    Ok(())
}

/// One run of the timer guest: how many ticks after its deadline the timer
/// IRQ arrived.
fn timer_irq_delay(board: &Board, resource: Handle) -> Result<u64, Reason> {
    let code = for_gic(
        board,
        guest_code::timer_wakes_wfi_v2(),
        guest_code::timer_wakes_wfi_v3(),
    );
    let fx = Fixture::new(resource, GUEST_RAM, code)?;
    let o = enter_poked(board, fx.vcpu(), Action::Nothing, false, 0)?;
    clean_unkicked(
        fx.vcpu(),
        o,
        "an IRQ for 500 ms (the timer deadline was 2 ms ahead)",
    )?;
    let s = read_state(fx.vcpu())?;
    let (iar, arrived, deadline) = (s.x[2], s.x[3], s.x[4]);
    let id = intid(board, iar);
    ensure!(
        id == VTIMER_INTID,
        "the guest acknowledged IAR {iar:#x} (INTID {id}), want INTID 27 (the virtual timer)"
    );
    ensure!(
        arrived >= deadline,
        "the timer IRQ arrived {} us before its deadline",
        micros(deadline - arrived)
    );
    Ok(arrived - deadline)
}

/// #21 VcpuKick: a kick ends an enter blocked in WFI with CANCELED.
fn kick_in_wfi(board: &Board, resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::wfi_loop())?;
    let o = enter_poked(board, fx.vcpu(), Action::Kick, false, 50)?;
    canceled_by_first_kick(fx.vcpu(), o)
}

/// zx_vcpu_interrupt from CPU 1 wakes a vCPU in WFI, which takes the IRQ.
fn interrupt_wakes_wfi(board: &Board, resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::wfi_irq_loop())?;
    let o = enter_poked(board, fx.vcpu(), Action::Interrupt, false, 50)?;
    clean_unkicked(fx.vcpu(), o, "the IRQ from CPU 1 for 8 s in WFI")
}

/// zx_vcpu_interrupt from CPU 1 reaches a guest that is running (spinning).
fn interrupt_running_guest(board: &Board, resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::spin_irq())?;
    set_x(fx.vcpu(), 9, 2)?;
    let o = enter_poked(board, fx.vcpu(), Action::Interrupt, true, 20)?;
    clean_unkicked(fx.vcpu(), o, "the IRQ from CPU 1 for 2 s while running")
}

/// zx_vcpu_kick from CPU 1 stops a guest that is running (spinning).
fn kick_running_guest(board: &Board, resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::spin_irq())?;
    set_x(fx.vcpu(), 9, 6)?;
    let o = enter_poked(board, fx.vcpu(), Action::Kick, true, 20)?;
    canceled_by_first_kick(fx.vcpu(), o)
}

/// The hvc calls `vcpu` has made so far (ZXV_INFO_VCPU_EXITS).
fn hvc_exits(vcpu: Handle) -> Result<u64, Reason> {
    let exits = ok(
        "object_get_info(ZXV_INFO_VCPU_EXITS)",
        object_get_info_vcpu_exits(vcpu),
    )?;
    Ok(exits.counts[ExitKind::Hvc as usize])
}

/// A guest that calls `hvc` without pause while it waits, each call
/// answered in the monitor's vectors: an interrupt from CPU 1 still
/// reaches it, and every call was counted.
fn interrupt_hvc_loop(board: &Board, resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::hvc_spin_irq())?;
    set_x(fx.vcpu(), 9, 2)?;
    let o = enter_poked(board, fx.vcpu(), Action::Interrupt, true, 20)?;
    clean_unkicked(fx.vcpu(), o, "the IRQ from CPU 1 for 2 s while calling hvc")?;
    let calls = hvc_exits(fx.vcpu())?;
    ensure!(
        calls > 100,
        "{calls} hvc exits counted in 20 ms of a guest calling hvc in a loop"
    );
    Ok(())
}

/// zx_vcpu_kick from CPU 1 stops a guest calling `hvc` in a loop.
fn kick_hvc_loop(board: &Board, resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::hvc_spin_irq())?;
    set_x(fx.vcpu(), 9, 6)?;
    let o = enter_poked(board, fx.vcpu(), Action::Kick, true, 20)?;
    canceled_by_first_kick(fx.vcpu(), o)
}

/// The storm guest's count of IRQs.
fn storm_count() -> u64 {
    read_u64(GUEST_RAM + STORM_COUNT_ADDR)
}

/// On the other CPU: STORM_COUNT interrupts, each sent once the guest has
/// counted the one before. On failure the vCPU is kicked so the enter ends.
fn storm_job(vcpu: usize) -> i32 {
    let vcpu = Handle::from_raw(vcpu as u32);
    match storm_steps(vcpu) {
        Ok(()) => 0,
        Err(why) => {
            job_failed(why);
            let _ = vcpu_kick(vcpu);
            1
        }
    }
}

fn storm_steps(vcpu: Handle) -> TestResult {
    ensure!(
        cpus::wait_for(START_WAIT_MS, || started() || enter_done()),
        "the guest did not mark itself started within 2 s"
    );
    for sent in 0..STORM_COUNT {
        let count = storm_count();
        ensure!(
            count == sent,
            "after {sent} interrupts the guest had counted {count}"
        );
        ensure!(!enter_done(), "the enter returned after {sent} interrupts");
        if let Err(s) = vcpu_interrupt(vcpu, VECTOR) {
            return Err(why!("vcpu_interrupt #{}: got {s}, want ZX_OK", sent + 1));
        }
        ensure!(
            cpus::wait_for(1000, || storm_count() != sent || enter_done()),
            "interrupt #{} was not taken within 1 s (lost)",
            sent + 1
        );
    }
    Ok(())
}

/// 10,000 interrupts from CPU 1 into a running guest, each taken once.
fn interrupt_storm(board: &Board, resource: Handle) -> TestResult {
    let code = for_gic(
        board,
        guest_code::interrupt_storm_v2(),
        guest_code::interrupt_storm_v3(),
    );
    let fx = Fixture::new(resource, GUEST_RAM, code)?;
    cpus::start(board, OTHER)?;
    ENTER_DONE.store(false, Ordering::SeqCst);
    JOB_FAILED.store(false, Ordering::SeqCst);
    cpus::run_on(OTHER, storm_job, fx.vcpu().raw() as usize);
    let entered = enter(fx.vcpu());
    ENTER_DONE.store(true, Ordering::SeqCst);
    let job = cpus::wait_job(OTHER, WAIT_MS);
    if matches!(&entered, Ok(p) if is_failure(p)) {
        let waited = why!("10000 IRQs for 120 s ({} came)", storm_count());
        return Err(guest_failure(fx.vcpu(), &waited));
    }
    ensure!(
        job.is_some(),
        "the job on CPU {OTHER} did not finish within 10 s"
    );
    if JOB_FAILED.load(Ordering::SeqCst) {
        return Err(why!(
            "CPU {OTHER}: {} (enter gave {})",
            *JOB_WHY.lock(),
            gave(&entered)
        ));
    }
    finished(fx.vcpu(), entered, "10000 IRQs for 120 s")?;
    let count = storm_count();
    ensure!(
        count == STORM_COUNT,
        "the guest counted {count} IRQs for 10000 interrupts"
    );
    let spurious = read_u64(GUEST_RAM + STORM_SPURIOUS_ADDR);
    ensure!(
        spurious == 0,
        "{spurious} of the guest's IRQs found nothing to acknowledge (IAR 1023)"
    );
    Ok(())
}

/// The handles of a guest the other CPU set up (raw values, 0 for none).
static LEFT: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];

/// On the other CPU: SetupGuest, one clean exit, then return, leaving the
/// vCPU (and its guest) to the main CPU.
fn leave_vcpu_job(resource: usize) -> i32 {
    match leave_vcpu_steps(Handle::from_raw(resource as u32)) {
        Ok(()) => 0,
        Err(why) => {
            job_failed(why);
            1
        }
    }
}

fn leave_vcpu_steps(resource: Handle) -> TestResult {
    let mut fx = Fixture::new(resource, GUEST_RAM_2, guest_code::vcpu_enter())?;
    enter_and_clean_exit(fx.vcpu())?;
    let parts = [&mut fx.vcpu, &mut fx.guest, &mut fx.vmar, &mut fx.vmo];
    for (slot, part) in LEFT.iter().zip(parts) {
        let h = core::mem::replace(&mut part.0, Handle::INVALID);
        slot.store(h.raw(), Ordering::SeqCst);
    }
    Ok(())
}

/// #25 VcpuUseAfterThreadExits: the vCPU outlives the job that made it; an
/// interrupt and a close from the main CPU do no harm.
fn use_after_thread_exits(board: &Board, resource: Handle) -> TestResult {
    cpus::start(board, OTHER)?;
    JOB_FAILED.store(false, Ordering::SeqCst);
    for slot in &LEFT {
        slot.store(0, Ordering::SeqCst);
    }
    cpus::run_on(OTHER, leave_vcpu_job, resource.raw() as usize);
    let done = cpus::wait_job(OTHER, WAIT_MS);
    // Whatever the job left is closed when this goes, in the usual order.
    let left = |i: usize| Owned(Handle::from_raw(LEFT[i].load(Ordering::SeqCst)));
    let mut fx = Fixture {
        vcpu: left(0),
        guest: left(1),
        vmar: left(2),
        vmo: left(3),
    };
    ensure!(
        done.is_some(),
        "the job on CPU {OTHER} did not finish within 10 s"
    );
    if JOB_FAILED.load(Ordering::SeqCst) {
        return Err(why!("CPU {OTHER}: {}", *JOB_WHY.lock()));
    }
    let _ = vcpu_interrupt(fx.vcpu(), VECTOR);
    ok("closing the vcpu of the finished job", fx.vcpu.close())?;
    drop(fx);
    ok("zxv_info afterwards", client::zxv_info()).map(|_| ())
}

/// Checks that `entered` is a GUEST_VCPU INTERRUPT packet for `mask` and
/// `vector`; `what` names the SGI.
fn expect_sgi(
    vcpu: Handle,
    entered: ZxResult<PortPacket>,
    what: &str,
    mask: u64,
    vector: u8,
) -> TestResult {
    let p = match entered {
        Ok(p) if is_failure(&p) => return Err(why!("{what}: {}", guest_failure(vcpu, "an SGI"))),
        Ok(p) => p,
        Err(s) => {
            return Err(why!(
                "{what}: enter got {s}, want ZX_OK with a GUEST_VCPU INTERRUPT packet"
            ))
        }
    };
    ensure!(
        p.type_ == PKT_TYPE_GUEST_VCPU && p.key == 0,
        "{what}: packet type {} key {:#x}, want GUEST_VCPU (6) and 0",
        p.type_,
        p.key
    );
    let v = p.guest_vcpu();
    ensure!(
        v.type_ == PKT_GUEST_VCPU_INTERRUPT,
        "{what}: guest_vcpu type {}, want INTERRUPT (0)",
        v.type_
    );
    let (got_mask, got_vector) = (v.interrupt_mask(), v.interrupt_vector());
    ensure!(
        got_mask == mask && got_vector == vector,
        "{what}: mask {got_mask:#x} vector {got_vector}, want {mask:#x} and {vector}"
    );
    Ok(())
}

/// ICC_SGI1R_EL1 writes become INTERRUPT packets: a target list, then IRM.
fn sgi_packet(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::sgi_packet())?;
    let vcpu = fx.vcpu();
    expect_sgi(vcpu, enter(vcpu), "SGI 5 to target list 0b10", 0b10, 5)?;
    expect_sgi(vcpu, enter(vcpu), "SGI 6 with IRM = 1", !1, 6)?;
    finished(vcpu, enter(vcpu), "nothing")
}

/// vCPU 1's handle, once the other CPU has created it (0 before).
static PEER: AtomicU32 = AtomicU32::new(0);

/// On the other CPU: creates vCPU 1 of the guest (arg: guest | vcpu0 << 32),
/// waits for SGI 3, passes its SGI 4 on to vCPU 0, and completes.
fn peer_job(arg: usize) -> i32 {
    let guest = Handle::from_raw(arg as u32);
    let vcpu0 = Handle::from_raw((arg >> 32) as u32);
    match peer_steps(guest, vcpu0) {
        Ok(()) => 0,
        Err(why) => {
            job_failed(why);
            1
        }
    }
}

fn peer_steps(guest: Handle, vcpu0: Handle) -> TestResult {
    let vcpu1 = Owned(ok(
        "vcpu_create of vCPU 1",
        client::vcpu_create(guest, 0, 0),
    )?);
    PEER.store(vcpu1.h().raw(), Ordering::SeqCst);
    let entered = enter(vcpu1.h());
    expect_sgi(vcpu1.h(), entered, "vCPU 1's SGI 4 to vCPU 0", 0b01, 4)?;
    ok("vcpu_interrupt(vCPU 0, 4)", vcpu_interrupt(vcpu0, 4))?;
    finished(vcpu1.h(), enter(vcpu1.h()), "nothing")?;
    let iar = read_state(vcpu1.h())?.x[2];
    ensure!(
        iar & 0xFF_FFFF == 3,
        "vCPU 1 acknowledged IAR {iar:#x}, want INTID 3"
    );
    Ok(())
}

/// Two vCPUs of one guest on two CPUs trade SGIs through their hosts.
fn exchange_sgis(board: &Board, resource: Handle) -> TestResult {
    cpus::start(board, OTHER)?;
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::sgi_exchange())?;
    PEER.store(0, Ordering::SeqCst);
    JOB_FAILED.store(false, Ordering::SeqCst);
    let arg = fx.guest().raw() as usize | (fx.vcpu().raw() as usize) << 32;
    cpus::run_on(OTHER, peer_job, arg);
    let mine = (|| {
        ensure!(
            cpus::wait_for(2000, || PEER.load(Ordering::SeqCst) != 0
                || JOB_FAILED.load(Ordering::SeqCst)),
            "CPU {OTHER} did not create vCPU 1 within 2 s"
        );
        let peer = Handle::from_raw(PEER.load(Ordering::SeqCst));
        ensure!(peer.is_valid(), "CPU {OTHER} could not create vCPU 1");
        let vcpu = fx.vcpu();
        expect_sgi(vcpu, enter(vcpu), "vCPU 0's SGI 3 to vCPU 1", 0b10, 3)?;
        ok("vcpu_interrupt(vCPU 1, 3)", vcpu_interrupt(peer, 3))?;
        finished(vcpu, enter(vcpu), "SGI 4 from vCPU 1 for 5 s")?;
        let iar = read_state(vcpu)?.x[2];
        ensure!(
            iar & 0xFF_FFFF == 4,
            "vCPU 0 acknowledged IAR {iar:#x}, want INTID 4"
        );
        Ok(())
    })();
    // vCPU 1 waits for an SGI that will not come if vCPU 0 failed: kick it.
    let peer = Handle::from_raw(PEER.load(Ordering::SeqCst));
    if mine.is_err() {
        let _ = vcpu_kick(peer);
    }
    let mut done = cpus::wait_job(OTHER, WAIT_MS);
    if done.is_none() {
        let _ = vcpu_kick(peer);
        done = cpus::wait_job(OTHER, WAIT_MS);
    }
    mine.map_err(|why| why!("vCPU 0: {why}"))?;
    ensure!(
        done.is_some(),
        "the job on CPU {OTHER} did not finish within 20 s"
    );
    if JOB_FAILED.load(Ordering::SeqCst) {
        return Err(why!("CPU {OTHER}: {}", *JOB_WHY.lock()));
    }
    Ok(())
}

/// #13 VcpuFp: EL0's first SIMD instruction traps to guest EL1, which turns
/// FP on; the retry goes through the monitor's lazy FP trap.
fn vcpu_fp(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_fp())?;
    finished(fx.vcpu(), enter(fx.vcpu()), "nothing")?;
    read_state(fx.vcpu()).map(|_| ())
}

/// #12/#14: a MEM exit at 0xFFF000, a store (read = false) of 0.
fn aarch32_exit(vcpu: Handle, entered: ZxResult<PortPacket>) -> TestResult {
    let p = entered.map_err(|s| why!("enter: got {s}, want ZX_OK (a MEM exit)"))?;
    if is_failure(&p) {
        return Err(guest_failure(vcpu, "nothing"));
    }
    ensure!(
        p.type_ == PKT_TYPE_GUEST_MEM,
        "exit packet type got {}, want GUEST_MEM (4)",
        p.type_
    );
    let m = p.guest_mem();
    ensure!(
        m.addr == EXIT_TEST_ADDR && m.read == 0 && m.data == 0,
        "exit addr {:#x} read {} data {:#x}, want {EXIT_TEST_ADDR:#x}, false and 0",
        m.addr,
        m.read,
        m.data
    );
    Ok(())
}

/// #12 VcpuWfiAarch32: A32 WFI at EL0 (trapped to guest EL1 or completed).
fn wfi_aarch32(board: &Board, resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_wfi_aarch32())?;
    let o = enter_poked(board, fx.vcpu(), Action::Nothing, false, 0)?;
    ensure!(
        o.kicks == 0,
        "enter had not returned after 1 s: CPU {OTHER}'s watchdog kicked the vcpu ({} kicks), \
         then it gave {}",
        o.kicks,
        gave(&o.entered)
    );
    aarch32_exit(fx.vcpu(), o.entered)
}

/// #14 VcpuFpAarch32: A32 vldr at EL0 traps to guest EL1, which turns FP on.
fn fp_aarch32(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_fp_aarch32())?;
    aarch32_exit(fx.vcpu(), enter(fx.vcpu()))
}

/// An AArch32 EL0 read of a cp14 debug register (DBGDIDR), trapped by
/// MDCR_EL2.TDA, loads the guest's debug registers and runs as without a
/// hypervisor, as an AArch64 one does.
fn debug_aarch32(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::debug_aarch32())?;
    aarch32_exit(fx.vcpu(), enter(fx.vcpu()))
}

/// The host's own 1 ms timer keeps interrupting it while a guest spins for
/// 200 ms: the enter returns INTERNAL_INTR_RETRY, the client takes the
/// interrupt and enters again.
fn host_timer_ticks(board: &Board, resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::spin_then_complete())?;
    let (_, freq) = counter();
    set_x(fx.vcpu(), 9, freq / 5)?;
    cpus::start(board, OTHER)?;
    let timer = host_timer::start(board, freq / 1000)?;
    let intid = timer.intid();
    let warm = cpus::wait_for(100, || timer.ticks() >= 5);
    ensure!(
        warm,
        "the host's timer (PPI {intid}) interrupted it {} times in 100 ms before any guest \
         ran, want 5 or more",
        timer.ticks()
    );
    let before = timer.ticks();
    let o = enter_poked(board, fx.vcpu(), Action::Nothing, false, 0);
    let during = timer.ticks() - before;
    let (others, last_other) = timer.others();
    drop(timer);
    clean_unkicked(fx.vcpu(), o?, "nothing")?;
    ensure!(
        others == 0,
        "the host took {others} interrupts that were not its timer's (last INTID {last_other})"
    );
    ensure!(
        during >= 100,
        "the host's timer (PPI {intid}, 1 ms period) interrupted it {during} times during a \
         200 ms guest run, want 100 or more"
    );
    Ok(())
}

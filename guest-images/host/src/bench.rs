//! Benchmark mode (`zxv.bench` on the command line, run by scripts/bench.sh
//! under `-icount shift=0`): instructions per operation on the hot paths,
//! averaged over many iterations, one line per operation:
//! `bench NAME|INSTRUCTIONS|TARGET|DESCRIPTION` (or `bench-fail NAME: why`).
//! `zxv.bench=NAME` runs only that one (scripts/profile.sh).
//!
//! Each operation is also a profile window for scripts/profile.sh: opened
//! (`hint #126`) where the operation starts and closed (`hint #127`) where
//! it ends, here or in the guest code, so that the plugin's count per
//! window is the operation's path.

use crate::cpus;
use crate::guest_code::{self, Code};
use crate::platform::Board;
use crate::suite::Reason;
use crate::tests::guest::fixture::{ok, read_state, Fixture, GUEST_RAM, TRAP_ADDR, TRAP_KEY};
use core::sync::atomic::{AtomicU64, Ordering};
use el1rt::profile;
use syscalls::client::{self, hvc_raw};
use syscalls::hypervisor::{VcpuIo, GUEST_TRAP_BELL, GUEST_TRAP_MEM};
use syscalls::ids::OBJECT_GET_INFO;
use syscalls::port::PortPacket;
use syscalls::{Handle, Status};

const ITERATIONS: u64 = 10_000;
/// BELL stores per guest entry: below the trap's pool of 256 packets.
const BELL_BATCH: u64 = 200;

fn counter() -> u64 {
    let now: u64;
    // SAFETY: reading the virtual counter has no side effects.
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) now) };
    now
}

fn report(name: &str, target: u64, what: &str, result: Result<u64, Reason>) {
    match result {
        Ok(per_op) => crate::println!("bench {name}|{per_op}|{target}|{what}"),
        Err(why) => crate::println!("bench-fail {name}: {why}"),
    }
}

/// One benchmark: its name (for `zxv.bench=NAME` and the table), its
/// instruction target, what it measures, and how.
struct Operation<'a> {
    name: &'static str,
    target: u64,
    what: &'static str,
    measure: &'a dyn Fn() -> Result<u64, Reason>,
}

/// Runs the benchmarks, or with `only` the one of that name (for
/// scripts/profile.sh); an unknown name is reported as a failure.
pub fn run(resource: Handle, board: &Board, only: Option<&str>) {
    let v3 = board.gic_version == 3;
    let operations = [
        Operation {
            name: "null_call",
            target: 80,
            what: "host null service call (`zx_object_get_info` on a bad handle) round trip",
            measure: &|| Ok(null_call()),
        },
        Operation {
            name: "guest_hvc",
            target: 120,
            what: "guest `hvc` with an unknown function, back in the guest",
            measure: &|| guest_hvc(resource),
        },
        Operation {
            name: "mem_store",
            target: 900,
            what: "guest store to a MEM trap → packet in the host → `zx_vcpu_enter` → next guest instruction",
            measure: &|| mem_store(resource),
        },
        Operation {
            name: "mem_load",
            target: 1100,
            what: "guest load from a MEM trap → host → `write_state(ZX_VCPU_IO)` → enter → value in the register",
            measure: &|| mem_load(resource),
        },
        Operation {
            name: "bell_store",
            target: 300,
            what: "guest store to a BELL trap, packet queued, guest continues",
            measure: &|| bell_store(resource),
        },
        Operation {
            name: "irq_inject",
            target: 600,
            what: "`zx_vcpu_interrupt` on a vCPU of the same CPU → guest IRQ handler entered",
            measure: &|| irq_inject(resource, v3),
        },
        Operation {
            name: "guest_eoi",
            target: 0,
            what: "guest EOI of an injected interrupt, instructions in the guest (0 exits: a trap would cost hundreds)",
            measure: &|| guest_eoi(resource, v3),
        },
        Operation {
            name: "timer_wfi",
            target: 600,
            what: "virtual timer expiry → guest IRQ handler entered, guest in WFI",
            measure: &|| timer_wfi(resource, v3),
        },
        Operation {
            name: "timer_spin",
            target: 1000,
            what: "virtual timer expiry → guest IRQ handler entered, guest spinning (no WFI)",
            measure: &|| timer_spin(resource, v3),
        },
        Operation {
            name: "state_pair",
            target: 400,
            what: "`zx_vcpu_read_state` + `zx_vcpu_write_state` pair",
            measure: &|| state_pair(resource),
        },
        // Last: CPU 1 stays busy afterwards, and under -icount its
        // instructions would count in the other figures.
        Operation {
            name: "irq_cross_cpu",
            target: 2500,
            what: "cross-CPU `zx_vcpu_interrupt` into a running guest → guest handler",
            measure: &|| cross_cpu(resource, board, v3),
        },
    ];
    let mut ran = false;
    for op in operations
        .iter()
        .filter(|op| only.is_none_or(|name| name == op.name))
    {
        report(op.name, op.target, op.what, (op.measure)());
        ran = true;
    }
    if !ran {
        crate::println!("bench-fail {}: no such benchmark", only.unwrap_or_default());
    }
    cpus::stop_all(board);
}

/// `hvc #0` calling get_info on handle 0, in a tight loop, less the loop.
fn null_call() -> u64 {
    let timed = |call: bool| {
        let start = counter();
        for _ in 0..ITERATIONS {
            if call {
                profile::open_window();
                // SAFETY: get_info on an invalid handle touches no memory.
                core::hint::black_box(unsafe { hvc_raw(OBJECT_GET_INFO, [0; 6]) });
                profile::close_window();
            } else {
                // The same two marker instructions, so that they cancel out.
                profile::empty_window();
                core::hint::black_box(());
            }
        }
        counter() - start
    };
    (timed(true) - timed(false)) / ITERATIONS
}

/// A guest running `code` with x9 = `iterations`, returning the guest's own
/// timing: (x11 - x12) / iterations.
fn guest_timed(fx: &Fixture, iterations: u64) -> Result<u64, Reason> {
    let mut state = read_state(fx.vcpu())?;
    state.x[9] = iterations;
    ok("write_state", client::vcpu_write_state(fx.vcpu(), &state))?;
    let mut packet = PortPacket::default();
    ok("enter", client::vcpu_enter(fx.vcpu(), &mut packet))?;
    let state = read_state(fx.vcpu())?;
    Ok((state.x[11] - state.x[12]) / iterations)
}

fn guest(resource: Handle, code: Code) -> Result<Fixture, Reason> {
    Fixture::new(resource, GUEST_RAM, code)
}

fn guest_hvc(resource: Handle) -> Result<u64, Reason> {
    guest_timed(&guest(resource, guest_code::bench_hvc())?, ITERATIONS)
}

fn bell_store(resource: Handle) -> Result<u64, Reason> {
    let port = ok("port_create", client::port_create(0))?;
    let total = (|| {
        let mut total = 0;
        for _ in 0..ITERATIONS / BELL_BATCH {
            let fx = guest(resource, guest_code::bench_bell())?;
            fx.trap(GUEST_TRAP_BELL, TRAP_ADDR, port, TRAP_KEY)?;
            total += guest_timed(&fx, BELL_BATCH)?;
            let mut packet = PortPacket::default();
            while client::port_wait(port, 0, &mut packet).is_ok() {}
        }
        Ok(total / (ITERATIONS / BELL_BATCH))
    })();
    let _ = client::handle_close(port);
    total
}

/// Host-side loop of `step` over a guest running `code` with a MEM trap.
fn host_loop(
    resource: Handle,
    code: Code,
    mut step: impl FnMut(Handle) -> Result<(), Status>,
) -> Result<u64, Reason> {
    let fx = guest(resource, code)?;
    fx.trap(GUEST_TRAP_MEM, TRAP_ADDR, Handle::INVALID, TRAP_KEY)?;
    // One warm-up round, so the loop measures steady state.
    ok("first round", step(fx.vcpu()))?;
    let start = counter();
    for _ in 0..ITERATIONS {
        profile::open_window();
        ok("round", step(fx.vcpu()))?;
        profile::close_window();
    }
    Ok((counter() - start) / ITERATIONS)
}

fn mem_store(resource: Handle) -> Result<u64, Reason> {
    let mut packet = PortPacket::default();
    host_loop(resource, guest_code::bench_mem_store(), |vcpu| {
        client::vcpu_enter(vcpu, &mut packet)
    })
}

fn mem_load(resource: Handle) -> Result<u64, Reason> {
    let mut packet = PortPacket::default();
    host_loop(resource, guest_code::bench_mem_load(), |vcpu| {
        client::vcpu_enter(vcpu, &mut packet)?;
        client::vcpu_write_io(vcpu, &VcpuIo::new(8, 0x1234_5678))
    })
}

fn state_pair(resource: Handle) -> Result<u64, Reason> {
    let fx = guest(resource, guest_code::bench_mem_store())?;
    let mut state = read_state(fx.vcpu())?;
    let start = counter();
    for _ in 0..ITERATIONS {
        profile::open_window();
        ok("read_state", client::vcpu_read_state(fx.vcpu(), &mut state))?;
        ok("write_state", client::vcpu_write_state(fx.vcpu(), &state))?;
        profile::close_window();
    }
    Ok((counter() - start) / ITERATIONS)
}

/// Guest RAM the interrupt benchmarks' guests write (BENCH_STAMP in
/// bench.S): handler-entry stamp, EOI ticks, IRQs handled.
const STAMP: u64 = GUEST_RAM + 0x30000;
const TIMER_ROUNDS: u64 = 1_000;
const CROSS_CPU_ROUNDS: u64 = 1_000;

fn stamp(word: u64) -> u64 {
    // SAFETY: guest RAM the host gave the guest (identity-mapped for the
    // host); the guest writes these words, the host only reads them.
    unsafe { core::ptr::read_volatile((STAMP + 8 * word) as *const u64) }
}

/// A guest for the interrupt benchmarks, its stamps cleared: guest RAM is
/// the same for every fixture, and a count left by an earlier benchmark
/// would end a wait for the handler at once.
fn irq_guest(resource: Handle, v3: bool, report: bool) -> Result<Fixture, Reason> {
    let fx = guest(resource, irq_code(v3, report))?;
    for word in 0..3 {
        // SAFETY: as in `stamp`; the vCPU has not run yet.
        unsafe { core::ptr::write_volatile((STAMP + 8 * word) as *mut u64, 0) };
    }
    el1rt::cache::clean_invalidate(STAMP, 3 * 8);
    Ok(fx)
}

fn irq_code(v3: bool, report: bool) -> Code {
    match (v3, report) {
        (true, true) => guest_code::bench_irq_v3(),
        (false, true) => guest_code::bench_irq_v2(),
        (true, false) => guest_code::bench_irq_quiet_v3(),
        (false, false) => guest_code::bench_irq_quiet_v2(),
    }
}

/// From just before `zx_vcpu_interrupt` to the guest's handler, with the
/// vCPU entered right after; the handler reports with a MEM exit. The
/// profile window closes in the guest's handler.
fn irq_inject(resource: Handle, v3: bool) -> Result<u64, Reason> {
    interrupt_rounds(resource, v3, ITERATIONS)
}

/// `rounds` interrupts as in [`irq_inject`]: their average latency.
fn interrupt_rounds(resource: Handle, v3: bool, rounds: u64) -> Result<u64, Reason> {
    let fx = irq_guest(resource, v3, true)?;
    let mut packet = PortPacket::default();
    let mut total = 0;
    for _ in 0..rounds {
        let start = counter();
        profile::open_window();
        ok("vcpu_interrupt", client::vcpu_interrupt(fx.vcpu(), 32))?;
        ok("enter", client::vcpu_enter(fx.vcpu(), &mut packet))?;
        total += stamp(0) - start;
    }
    Ok(total / rounds)
}

/// The EOI of an injected interrupt, timed by the guest's handler (counter
/// ticks around it).
fn guest_eoi(resource: Handle, v3: bool) -> Result<u64, Reason> {
    interrupt_rounds(resource, v3, 1)?;
    Ok(stamp(1))
}

fn timer_wfi(resource: Handle, v3: bool) -> Result<u64, Reason> {
    let fx = guest(
        resource,
        if v3 {
            guest_code::bench_timer_v3()
        } else {
            guest_code::bench_timer_v2()
        },
    )?;
    let mut state = read_state(fx.vcpu())?;
    state.x[9] = TIMER_ROUNDS;
    ok("write_state", client::vcpu_write_state(fx.vcpu(), &state))?;
    let mut packet = PortPacket::default();
    ok("enter", client::vcpu_enter(fx.vcpu(), &mut packet))?;
    Ok(read_state(fx.vcpu())?.x[20] / TIMER_ROUNDS)
}

fn timer_spin(resource: Handle, v3: bool) -> Result<u64, Reason> {
    let fx = guest(
        resource,
        if v3 {
            guest_code::timer_spin_v3()
        } else {
            guest_code::timer_spin_v2()
        },
    )?;
    let mut state = read_state(fx.vcpu())?;
    state.x[9] = TIMER_ROUNDS;
    state.x[10] = 10_000;
    state.x[11] = u64::MAX / 2;
    ok("write_state", client::vcpu_write_state(fx.vcpu(), &state))?;
    let mut packet = PortPacket::default();
    ok("enter", client::vcpu_enter(fx.vcpu(), &mut packet))?;
    Ok(read_state(fx.vcpu())?.x[20] / TIMER_ROUNDS)
}

/// Each round's delay, written by the job on CPU 1.
static CROSS_CPU_DELAYS: [AtomicU64; CROSS_CPU_ROUNDS as usize] =
    [const { AtomicU64::new(0) }; CROSS_CPU_ROUNDS as usize];

/// On CPU 1: interrupts the vCPU running on CPU 0, waits for its handler,
/// and records each round's delay; kicks it at the end.
///
/// Under `-icount` QEMU runs the CPUs round-robin on one thread and the
/// counter counts the instructions of all of them, so a delay is the
/// instructions of both CPUs from the counter read here to the handler's:
/// the call on CPU 1 up to the YIELD of `cpus::wait_for`, which hands the
/// thread to CPU 0, then CPU 0's path from the kick SGI to the handler.
fn cross_cpu_job(vcpu: usize) -> i32 {
    let vcpu = Handle::from_raw(vcpu as u32);
    for (round, delay) in (0..).zip(&CROSS_CPU_DELAYS) {
        let start = counter();
        profile::open_window();
        if client::vcpu_interrupt(vcpu, 32).is_err() {
            return -1;
        }
        if !cpus::wait_for(1000, || stamp(2) > round) {
            return -2;
        }
        match stamp(0).checked_sub(start) {
            Some(ticks) => delay.store(ticks, Ordering::SeqCst),
            None => {
                // The handler ran before this round's interrupt was sent.
                let _ = client::vcpu_kick(vcpu);
                return -4;
            }
        }
    }
    if client::vcpu_kick(vcpu).is_err() {
        -3
    } else {
        0
    }
}

fn cross_cpu(resource: Handle, board: &Board, v3: bool) -> Result<u64, Reason> {
    let fx = irq_guest(resource, v3, false)?;
    cpus::start(board, 1)?;
    cpus::run_on(1, cross_cpu_job, fx.vcpu().raw() as usize);
    let mut packet = PortPacket::default();
    let entered = client::vcpu_enter(fx.vcpu(), &mut packet);
    let job = cpus::wait_job(1, 10_000);
    crate::ensure!(
        entered == Err(Status::CANCELED),
        "enter: {entered:?}, want the job's kick (ZX_ERR_CANCELED)"
    );
    crate::ensure!(
        job != Some(-4),
        "the handler's stamp came before the sender's counter read: a stale stamp, or a handler run by another interrupt"
    );
    crate::ensure!(job == Some(0), "the job on CPU 1 ended with {job:?}");
    // The median, not the mean: on raspi4b (4 CPUs, 2 of them idle) one
    // round in about 36 waits 25 ms of virtual time for QEMU's scheduler to
    // come back to CPU 0, with no exception taken meanwhile (`-d int`).
    let mut delays = [0; CROSS_CPU_ROUNDS as usize];
    for (d, recorded) in delays.iter_mut().zip(&CROSS_CPU_DELAYS) {
        *d = recorded.load(Ordering::SeqCst);
    }
    delays.sort_unstable();
    Ok(delays[delays.len() / 2])
}

//! Benchmark mode (`zxv.bench` on the command line, run by scripts/bench.sh
//! under `-icount shift=0`): instructions per operation on the hot paths,
//! averaged over many iterations, one line per operation:
//! `bench NAME|INSTRUCTIONS|TARGET|DESCRIPTION` (or `bench-fail NAME: why`).

use crate::guest_code::{self, Code};
use crate::suite::Reason;
use crate::tests::guest::fixture::{ok, read_state, Fixture, GUEST_RAM, TRAP_ADDR, TRAP_KEY};
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

pub fn run(resource: Handle) {
    report(
        "null_call",
        80,
        "host null service call (`zx_object_get_info` on a bad handle) round trip",
        Ok(null_call()),
    );
    report(
        "guest_hvc",
        120,
        "guest `hvc` with an unknown function, back in the guest",
        guest_hvc(resource),
    );
    report(
        "mem_store",
        900,
        "guest store to a MEM trap → packet in the host → `zx_vcpu_enter` → next guest instruction",
        mem_store(resource),
    );
    report("mem_load", 1100, "guest load from a MEM trap → host → `write_state(ZX_VCPU_IO)` → enter → value in the register", mem_load(resource));
    report(
        "bell_store",
        300,
        "guest store to a BELL trap, packet queued, guest continues",
        bell_store(resource),
    );
    report(
        "state_pair",
        400,
        "`zx_vcpu_read_state` + `zx_vcpu_write_state` pair",
        state_pair(resource),
    );
}

/// `hvc #0` calling get_info on handle 0, in a tight loop, less the loop.
fn null_call() -> u64 {
    let timed = |call: bool| {
        let start = counter();
        for _ in 0..ITERATIONS {
            if call {
                // SAFETY: get_info on an invalid handle touches no memory.
                core::hint::black_box(unsafe { hvc_raw(OBJECT_GET_INFO, [0; 6]) });
            } else {
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
        ok("round", step(fx.vcpu()))?;
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
        ok("read_state", client::vcpu_read_state(fx.vcpu(), &mut state))?;
        ok("write_state", client::vcpu_write_state(fx.vcpu(), &state))?;
    }
    Ok((counter() - start) / ITERATIONS)
}

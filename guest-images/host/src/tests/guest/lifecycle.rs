//! Creating and destroying guests in a loop gives all monitor memory back.

use super::fixture::*;
use crate::ensure;
use crate::guest_code;
use crate::suite::{Suite, TestResult};
use syscalls::client::{
    guest_create, guest_set_trap, port_create, vcpu_create, vmar_map, vmo_create_physical,
};
use syscalls::hypervisor::{GUEST_TRAP_BELL, GUEST_TRAP_MEM};
use syscalls::Handle;

const ROUNDS: u32 = 1000;

pub fn run(suite: &mut Suite, resource: Handle) {
    suite.run("guest_create_destroy_loop", || {
        create_destroy_loop(resource)
    });
}

fn create_destroy_loop(resource: Handle) -> TestResult {
    // One full SetupGuest loads the guest code the rounds reuse, and warms
    // up whatever the monitor allocates once.
    {
        let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_enter())?;
        enter_and_clean_exit(fx.vcpu())?;
    }
    let before = monitor_free_heap()?;
    for i in 0..ROUNDS {
        round(resource).map_err(|why| crate::why!("round {i}: {why}"))?;
    }
    let after = monitor_free_heap()?;
    ensure!(
        after == before,
        "monitor free heap got {after} bytes after {ROUNDS} guests, want {before} as before"
    );
    Ok(())
}

/// One guest with memory, a MEM and a BELL trap, a port and a vCPU, run to
/// its clean exit and closed. The guest code is already in GUEST_RAM.
fn round(resource: Handle) -> TestResult {
    let vmo = Owned(ok(
        "vmo_create_physical",
        vmo_create_physical(resource, GUEST_RAM, VMO_SIZE),
    )?);
    let (guest, vmar) = ok("guest_create", guest_create(resource, 0))?;
    let mut fx = Fixture {
        vcpu: Owned(Handle::INVALID),
        guest: Owned(guest),
        vmar: Owned(vmar),
        vmo,
    };
    ok(
        "vmar_map",
        vmar_map(fx.vmar(), RWX_SPECIFIC, 0, fx.vmo.h(), 0, VMO_SIZE),
    )?;
    let exit = Handle::INVALID;
    ok(
        "guest_set_trap(MEM)",
        guest_set_trap(fx.guest(), GUEST_TRAP_MEM, EXIT_TEST_ADDR, PAGE, exit, 0),
    )?;
    let port = Owned(ok("port_create", port_create(0))?);
    ok(
        "guest_set_trap(BELL)",
        guest_set_trap(
            fx.guest(),
            GUEST_TRAP_BELL,
            TRAP_ADDR,
            PAGE,
            port.h(),
            TRAP_KEY,
        ),
    )?;
    fx.vcpu = Owned(ok("vcpu_create", vcpu_create(fx.guest(), 0, 0))?);
    enter_and_clean_exit(fx.vcpu())
}

//! Guest exits beyond the Zircon suite (ABI.md §5): guest PSCI and HVC/SMC
//! calls, and the accesses the monitor cannot complete.

use super::fixture::*;
use crate::ensure;
use crate::guest_code;
use crate::suite::{Suite, TestResult};
use syscalls::client::{object_get_info_handle_basic, port_create, vcpu_write_state};
use syscalls::hypervisor::{GUEST_TRAP_BELL, GUEST_TRAP_MEM};
use syscalls::port::{PKT_GUEST_VCPU_STARTUP, PKT_TYPE_GUEST_VCPU};
use syscalls::{Handle, Rights, Status};

pub fn run(suite: &mut Suite, resource: Handle) {
    suite.run("guest_psci_cpu_off", || {
        let fx = Fixture::new(resource, GUEST_RAM, guest_code::psci_cpu_off())?;
        expect_enter(fx.vcpu(), Status::STOP)
    });
    suite.run("guest_psci_cpu_on", || cpu_on(resource));
    suite.run("guest_psci_version", || psci_version(resource));
    suite.run("guest_hvc_unknown_function", || hvc_unknown(resource));
    suite.run("guest_unmapped_access", || {
        let fx = Fixture::new(resource, GUEST_RAM, guest_code::unmapped_access())?;
        expect_enter(fx.vcpu(), Status::NOT_FOUND)
    });
    suite.run("guest_bell_read", || bell_read(resource));
    suite.run("guest_mem_trap_no_syndrome", || {
        let fx = Fixture::new(resource, GUEST_RAM, guest_code::mem_trap_store_pair())?;
        fx.trap(GUEST_TRAP_MEM, TRAP_ADDR, Handle::INVALID, TRAP_KEY)?;
        expect_enter(fx.vcpu(), Status::IO_DATA_INTEGRITY)
    });
}

/// CPU_ON(1, 0x1000, 7): a STARTUP packet, then PSCI SUCCESS in x0.
fn cpu_on(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::psci_cpu_on())?;
    let p = ok("enter", enter(fx.vcpu()))?;
    ensure!(
        p.type_ == PKT_TYPE_GUEST_VCPU,
        "packet type got {}, want GUEST_VCPU (6)",
        p.type_
    );
    let vcpu = p.guest_vcpu();
    ensure!(
        vcpu.type_ == PKT_GUEST_VCPU_STARTUP,
        "guest_vcpu.type got {}, want STARTUP (1)",
        vcpu.type_
    );
    ensure!(
        vcpu.startup_id() == 1,
        "startup.id got {:#x}, want 1",
        vcpu.startup_id()
    );
    ensure!(
        vcpu.startup_entry() == 0x1000,
        "startup.entry got {:#x}, want 0x1000",
        vcpu.startup_entry()
    );
    enter_and_clean_exit(fx.vcpu())?;
    let x1 = read_state(fx.vcpu())?.x[1];
    ensure!(
        x1 == 0,
        "CPU_ON returned {x1:#x} to the guest, want 0 (SUCCESS)"
    );
    Ok(())
}

/// PSCI_VERSION through HVC gives PSCI 1.1.
fn psci_version(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::psci_version())?;
    enter_and_clean_exit(fx.vcpu())?;
    let x1 = read_state(fx.vcpu())?.x[1];
    ensure!(x1 == 0x1_0001, "PSCI_VERSION got {x1:#x}, want 0x10001");
    Ok(())
}

/// Host service-call IDs from a guest are unknown functions (-1): HVC
/// zx_handle_close with x1 = a live handle, and SMC zxv_info.
fn hvc_unknown(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::hvc_unknown_function())?;
    let witness = dup(fx.guest(), Rights::SAME_RIGHTS)?;
    let mut state = read_state(fx.vcpu())?;
    state.x[1] = witness.h().raw().into();
    ok("write_state", vcpu_write_state(fx.vcpu(), &state))?;
    enter_and_clean_exit(fx.vcpu())?;
    let state = read_state(fx.vcpu())?;
    ensure!(
        state.x[1] == u64::MAX,
        "hvc #0 with x0 = 0xc6000001 returned {:#x}, want -1",
        state.x[1]
    );
    ensure!(
        state.x[2] == u64::MAX,
        "smc #0 with x0 = 0xc60000ff returned {:#x}, want -1",
        state.x[2]
    );
    ok(
        "the handle the guest passed to 0xc6000001",
        object_get_info_handle_basic(witness.h()),
    )?;
    Ok(())
}

/// A load from a BELL page.
fn bell_read(resource: Handle) -> TestResult {
    let port = Owned(ok("port_create", port_create(0))?);
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::trap_load())?;
    fx.trap(GUEST_TRAP_BELL, TRAP_ADDR, port.h(), TRAP_KEY)?;
    expect_enter(fx.vcpu(), Status::NOT_SUPPORTED)
}

//! Ports of the Zircon hypervisor tests for arm64 that need no interrupts
//! (reference §6.2 #1, #2, #4-#9, #16-#20, #28).

use super::fixture::*;
use crate::ensure;
use crate::guest_code;
use crate::suite::{Suite, TestResult};
use syscalls::client::{port_create, port_queue, port_wait, vcpu_write_state, vmar_protect};
use syscalls::hypervisor::{
    VcpuState, GUEST_TRAP_BELL, GUEST_TRAP_MEM, VM_PERM_EXECUTE, VM_PERM_READ, VM_PERM_WRITE,
};
use syscalls::port::{PortPacket, PKT_TYPE_GUEST_BELL, PKT_TYPE_USER};
use syscalls::{Handle, Status};

pub fn run(suite: &mut Suite, resource: Handle) {
    suite.run("guest_vcpu_enter", || vcpu_enter(resource));
    suite.run("guest_vcpu_read_write_state", || read_write_state(resource));
    suite.run("guest_set_trap_with_mem", || trap_with_mem(resource));
    suite.run("guest_set_trap_with_bell", || trap_with_bell(resource));
    suite.run("guest_set_trap_with_bell_drop", || bell_drop(resource));
    suite.run("guest_set_trap_with_bell_and_user", || {
        bell_and_user(resource)
    });
    suite.run("guest_set_trap_with_bell_and_max_user", || {
        bell_and_max_user(resource)
    });
    suite.run("guest_set_trap_close_port", || close_port(resource));
    suite.run("guest_vcpu_psci_system_off", || {
        let fx = Fixture::new(resource, GUEST_RAM, guest_code::psci_system_off())?;
        expect_enter(fx.vcpu(), Status::UNAVAILABLE)
    });
    suite.run("guest_vcpu_psci_system_restart", || {
        let fx = Fixture::new(resource, GUEST_RAM, guest_code::psci_system_reset())?;
        expect_enter(fx.vcpu(), Status::CANCELED)
    });
    suite.run("guest_data_cache_set_way_operations", || {
        let fx = Fixture::new(resource, GUEST_RAM, guest_code::dc_set_way_ops())?;
        enter_and_clean_exit(fx.vcpu())
    });
    suite.run("guest_enable_mmu", || {
        let fx = Fixture::new(resource, GUEST_RAM, guest_code::enable_mmu())?;
        enter_and_clean_exit(fx.vcpu())
    });
    suite.run("guest_disable_mmu", || {
        let fx = Fixture::new(resource, GUEST_RAM, guest_code::disable_mmu())?;
        enter_and_clean_exit(fx.vcpu())
    });
    suite.run("guest_vmar_protect", || {
        let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_enter())?;
        let rwx = VM_PERM_READ | VM_PERM_WRITE | VM_PERM_EXECUTE;
        ok(
            "vmar_protect(RWX, 0, 4096)",
            vmar_protect(fx.vmar(), rwx, 0, PAGE),
        )?;
        enter_and_clean_exit(fx.vcpu())
    });
}

fn vcpu_enter(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_enter())?;
    let p = ok("enter", enter(fx.vcpu()))?;
    let want = MemExit {
        key: 0,
        addr: EXIT_TEST_ADDR,
        ..TRAP_STORE
    };
    check_mem("test_complete exit", &p, &want)
}

fn read_write_state(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_read_write_state())?;
    let mut state = VcpuState::default();
    for (i, x) in state.x.iter_mut().enumerate() {
        *x = i as u64;
    }
    state.sp = 64;
    ok("write_state", vcpu_write_state(fx.vcpu(), &state))?;
    enter_and_clean_exit(fx.vcpu())?;
    let state = read_state(fx.vcpu())?;
    ensure!(
        state.x[0] == EXIT_TEST_ADDR,
        "x0 got {:#x}, want {EXIT_TEST_ADDR:#x}",
        state.x[0]
    );
    for (i, &x) in state.x.iter().enumerate().skip(1) {
        let want = 2 * i as u64;
        ensure!(x == want, "x{i} got {x:#x}, want {want:#x}");
    }
    ensure!(state.sp == 128, "sp got {:#x}, want 0x80", state.sp);
    ensure!(
        state.cpsr == 0x6000_0000,
        "cpsr got {:#x}, want 0x60000000 (Z and C)",
        state.cpsr
    );
    Ok(())
}

fn trap_with_mem(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::guest_set_trap())?;
    fx.trap(GUEST_TRAP_MEM, TRAP_ADDR, Handle::INVALID, TRAP_KEY)?;
    let p = ok("first enter", enter(fx.vcpu()))?;
    check_mem("store to the MEM trap", &p, &TRAP_STORE)?;
    enter_and_clean_exit(fx.vcpu())
}

fn new_port() -> Result<Owned, crate::suite::Reason> {
    ok("port_create", port_create(0)).map(Owned)
}

/// Waits up to 1 s for a packet on `port`.
fn wait_1s(port: Handle) -> Result<PortPacket, crate::suite::Reason> {
    let mut p = PortPacket::default();
    ok(
        "port_wait",
        port_wait(port, now_ns() + 1_000_000_000, &mut p),
    )?;
    Ok(p)
}

fn expect_empty(port: Handle, what: &str) -> TestResult {
    let mut p = PortPacket::default();
    match port_wait(port, 0, &mut p) {
        Err(Status::TIMED_OUT) => Ok(()),
        Ok(()) => Err(crate::why!(
            "{what}: port_wait got a packet (type {} key {:#x}), want ZX_ERR_TIMED_OUT",
            p.type_,
            p.key
        )),
        Err(s) => Err(crate::why!(
            "{what}: port_wait got {s}, want ZX_ERR_TIMED_OUT"
        )),
    }
}

fn check_bell(p: &PortPacket) -> TestResult {
    ensure!(
        p.type_ == PKT_TYPE_GUEST_BELL,
        "packet type got {}, want GUEST_BELL (3)",
        p.type_
    );
    ensure!(
        p.key == TRAP_KEY,
        "bell key got {:#x}, want {TRAP_KEY:#x}",
        p.key
    );
    let addr = p.guest_bell().addr;
    ensure!(
        addr == TRAP_ADDR,
        "bell addr got {addr:#x}, want {TRAP_ADDR:#x}"
    );
    Ok(())
}

fn trap_with_bell(resource: Handle) -> TestResult {
    let port = new_port()?;
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::guest_set_trap())?;
    fx.trap(GUEST_TRAP_BELL, TRAP_ADDR, port.h(), TRAP_KEY)?;
    enter_and_clean_exit(fx.vcpu())?;
    check_bell(&wait_1s(port.h())?)
}

fn bell_drop(resource: Handle) -> TestResult {
    let port = new_port()?;
    {
        let fx = Fixture::new(resource, GUEST_RAM, guest_code::guest_set_trap())?;
        fx.trap(GUEST_TRAP_BELL, TRAP_ADDR, port.h(), TRAP_KEY)?;
        enter_and_clean_exit(fx.vcpu())?;
    }
    expect_empty(port.h(), "after the guest was closed")
}

fn bell_and_user(resource: Handle) -> TestResult {
    let port = new_port()?;
    let user = PortPacket::new_user(TRAP_KEY, [1, 2, 3, 4]);
    ok("port_queue", port_queue(port.h(), &user))?;
    {
        let fx = Fixture::new(resource, GUEST_RAM, guest_code::guest_set_trap())?;
        fx.trap(GUEST_TRAP_BELL, TRAP_ADDR, port.h(), TRAP_KEY)?;
        enter_and_clean_exit(fx.vcpu())?;
    }
    let mut p = PortPacket::default();
    ok("port_wait", port_wait(port.h(), 0, &mut p))?;
    ensure!(
        p.type_ == PKT_TYPE_USER,
        "packet type got {}, want USER (0)",
        p.type_
    );
    ensure!(
        p.key == TRAP_KEY,
        "key got {:#x}, want {TRAP_KEY:#x}",
        p.key
    );
    ensure!(
        p.payload == user.payload,
        "payload got {:x?}, want [1, 2, 3, 4]",
        p.payload
    );
    expect_empty(port.h(), "after the user packet")
}

/// The most user packets a port holds.
const MAX_USER_PACKETS: u32 = 2048;

fn bell_and_max_user(resource: Handle) -> TestResult {
    let port = new_port()?;
    let mut queued = 0u32;
    loop {
        let user = PortPacket::new_user(u64::from(queued), [0; 4]);
        match port_queue(port.h(), &user) {
            Ok(()) => queued += 1,
            Err(Status::SHOULD_WAIT) => break,
            Err(s) => return Err(crate::why!("port_queue #{queued}: got {s}")),
        }
        ensure!(
            queued <= 2 * MAX_USER_PACKETS,
            "port_queue accepted {queued} packets without ZX_ERR_SHOULD_WAIT"
        );
    }
    ensure!(
        queued == MAX_USER_PACKETS,
        "port_queue gave ZX_ERR_SHOULD_WAIT after {queued} packets, want {MAX_USER_PACKETS}"
    );
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::guest_set_trap())?;
    fx.trap(GUEST_TRAP_BELL, TRAP_ADDR, port.h(), TRAP_KEY)?;
    enter_and_clean_exit(fx.vcpu())?;
    let mut p = PortPacket::default();
    for i in 0..MAX_USER_PACKETS {
        ok("port_wait (draining)", port_wait(port.h(), 0, &mut p))?;
        ensure!(
            p.type_ == PKT_TYPE_USER && p.key == u64::from(i),
            "packet {i}: type {} key {:#x}, want USER key {i:#x}",
            p.type_,
            p.key
        );
    }
    ok("port_wait (the bell)", port_wait(port.h(), 0, &mut p))?;
    check_bell(&p)
}

fn close_port(resource: Handle) -> TestResult {
    let mut port = new_port()?;
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::guest_set_trap())?;
    fx.trap(GUEST_TRAP_BELL, TRAP_ADDR, port.h(), TRAP_KEY)?;
    ok("close the port", port.close())?;
    expect_enter(fx.vcpu(), Status::BAD_STATE)?;
    enter_and_clean_exit(fx.vcpu())
}

//! MMIO through MEM traps (docs/abi.md §4-§5): read exits completed with
//! `zx_vcpu_write_state(ZX_VCPU_IO)`, its errors, and the data of writes.

use super::fixture::*;
use crate::ensure;
use crate::guest_code;
use crate::suite::{Suite, TestResult};
use syscalls::client::{vcpu_kick, vcpu_write_io, vcpu_write_state};
use syscalls::hypervisor::{VcpuIo, VcpuState, GUEST_TRAP_MEM, VCPU_IO};
use syscalls::{Handle, Status};

/// Key of the MMIO trap page.
const IO_KEY: u64 = 0x77;

pub fn run(suite: &mut Suite, resource: Handle) {
    suite.run("guest_vcpu_write_state_io_x86_form", || x86_form(resource));
    suite.run("guest_vcpu_write_state_io_no_pending_read", || {
        no_pending_read(resource)
    });
    suite.run("guest_vcpu_write_state_io_loads", || loads(resource));
    suite.run("guest_vcpu_write_state_io_wrong_size", || {
        wrong_size(resource)
    });
    suite.run("guest_vcpu_write_state_io_twice", || twice(resource));
    suite.run("guest_vcpu_write_state_io_after_state_write", || {
        after_state_write(resource)
    });
    suite.run("guest_vcpu_write_state_io_stale_after_later_exits", || {
        stale_after_later_exits(resource)
    });
    suite.run("guest_vcpu_read_state_io", || read_state_io(resource));
    suite.run("guest_mem_trap_store_data", || store_data(resource));
}

fn expect_io(what: &str, vcpu: Handle, access_size: u8, data: u64, want: Status) -> TestResult {
    let got = vcpu_write_io(vcpu, &VcpuIo::new(access_size, data))
        .err()
        .unwrap_or(Status::OK);
    ensure!(
        got == want,
        "{what}: write_state(VCPU_IO, size {access_size}): got {got}, want {want}"
    );
    Ok(())
}

/// An MMIO read exit of the trap page at `offset`.
const fn read_exit(offset: u64, access_size: u8, sign_extend: bool, xt: u8) -> MemExit {
    MemExit {
        key: IO_KEY,
        addr: TRAP_ADDR + offset,
        access_size,
        sign_extend,
        xt,
        read: true,
        data: 0,
    }
}

/// A fixture running `code` with the MMIO trap page in place.
fn io_fixture(
    resource: Handle,
    code: crate::guest_code::Code,
) -> Result<Fixture, crate::suite::Reason> {
    let fx = Fixture::new(resource, GUEST_RAM, code)?;
    fx.trap(GUEST_TRAP_MEM, TRAP_ADDR, Handle::INVALID, IO_KEY)?;
    Ok(fx)
}

/// (a) Zircon's VcpuWriteStateIoAarch32: the 8-byte x86 record.
fn x86_form(resource: Handle) -> TestResult {
    let fx = Fixture::vcpu_only(resource)?;
    let mut buf = RawBuf([0; 512]);
    buf.0[0] = 1;
    let got = write_state_raw(fx.vcpu(), VCPU_IO, buf.0.as_mut_ptr() as u64, 8);
    expect_status(
        "write_state(VCPU_IO, {access_size 1}, 8)",
        got,
        Status::INVALID_ARGS,
    )
}

/// (b) Completing a read that is not pending: before any entry, after a
/// clean (write) exit.
fn no_pending_read(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_enter())?;
    expect_io("before the first enter", fx.vcpu(), 4, 0, Status::BAD_STATE)?;
    enter_and_clean_exit(fx.vcpu())?;
    expect_io("after a store exit", fx.vcpu(), 8, 0, Status::BAD_STATE)
}

/// (c) Loads of every size into W, X and the zero register, with and
/// without sign extension.
fn loads(resource: Handle) -> TestResult {
    let fx = io_fixture(resource, guest_code::vcpu_io_loads())?;
    let mut initial = VcpuState::default();
    for (i, x) in initial.x.iter_mut().enumerate() {
        *x = 0xA5A5_A5A5_0000_0000 | i as u64;
    }
    initial.sp = 0x8000;
    ok("write_state", vcpu_write_state(fx.vcpu(), &initial))?;
    // (instruction, exit, completion data, register, value it must hold)
    #[rustfmt::skip]
    let steps = [
        ("ldr w1, [x0, #4]", read_exit(4, 4, false, 1), 0xAAAA_BBBB_8765_4321, 0x8765_4321),
        ("ldrsb x2, [x0, #1]", read_exit(1, 1, true, 2), 0x1234_5678_9ABC_DE80, 0xFFFF_FFFF_FFFF_FF80),
        ("ldrsh w3, [x0, #2]", read_exit(2, 2, true, 3), 0x1111_2222_3333_8001, 0xFFFF_8001),
        ("ldr x4, [x0, #8]", read_exit(8, 8, false, 4), 0x0123_4567_89AB_CDEF, 0x0123_4567_89AB_CDEF),
        ("ldrb wzr, [x0, #3]", read_exit(3, 1, false, 31), 0xFF, 0),
        ("ldrsb w5, [x0, #5]", read_exit(5, 1, true, 5), 0xFFFF_FFFF_FFFF_FF7F, 0x7F),
        ("ldrh w6, [x0, #6]", read_exit(6, 2, false, 6), 0xFFFF_FFFF_FFFF_8001, 0x8001),
    ];
    for (insn, exit, data, _) in &steps {
        let p = ok(insn, enter(fx.vcpu()))?;
        check_mem(insn, &p, exit)?;
        expect_io(insn, fx.vcpu(), exit.access_size, *data, Status::OK)?;
    }
    enter_and_clean_exit(fx.vcpu())?;
    let state = read_state(fx.vcpu())?;
    for (insn, exit, _, want) in &steps {
        if exit.xt != 31 {
            let got = state.x[exit.xt as usize];
            ensure!(
                got == *want,
                "{insn}: x{} got {got:#x}, want {want:#x}",
                exit.xt
            );
        }
    }
    for i in 7..31 {
        ensure!(
            state.x[i] == initial.x[i],
            "x{i} got {:#x}, want {:#x} (untouched)",
            state.x[i],
            initial.x[i]
        );
    }
    ensure!(
        state.sp == initial.sp,
        "sp got {:#x}, want {:#x}: completing xt 31 must write nothing",
        state.sp,
        initial.sp
    );
    Ok(())
}

/// The read exit of `vcpu_io_one_load`.
const ONE_LOAD: MemExit = read_exit(0, 4, false, 1);

/// (d) A completion of the wrong size, or of no valid size, or in the
/// x86 form, or through a bad pointer, leaves the read pending.
fn wrong_size(resource: Handle) -> TestResult {
    let fx = io_fixture(resource, guest_code::vcpu_io_one_load())?;
    let p = ok("enter", enter(fx.vcpu()))?;
    check_mem("ldr w1, [x0]", &p, &ONE_LOAD)?;
    for size in [8, 2, 1, 3, 0, 16] {
        expect_io(
            "pending 4-byte read",
            fx.vcpu(),
            size,
            0x1111,
            Status::INVALID_ARGS,
        )?;
    }
    let mut buf = RawBuf([0; 512]);
    buf.0[0] = 4;
    let got = write_state_raw(fx.vcpu(), VCPU_IO, buf.0.as_mut_ptr() as u64, 8);
    expect_status(
        "write_state(VCPU_IO, buffer_size 8)",
        got,
        Status::INVALID_ARGS,
    )?;
    for bad in bad_pointers()? {
        let got = write_state_raw(fx.vcpu(), VCPU_IO, bad, 16);
        expect_status(
            "write_state(VCPU_IO) from a bad pointer",
            got,
            Status::INVALID_ARGS,
        )?;
    }
    expect_io(
        "pending 4-byte read",
        fx.vcpu(),
        4,
        0xFEED_0000_CAFE_F00D,
        Status::OK,
    )?;
    enter_and_clean_exit(fx.vcpu())?;
    let x1 = read_state(fx.vcpu())?.x[1];
    ensure!(x1 == 0xCAFE_F00D, "x1 got {x1:#x}, want 0xcafef00d");
    Ok(())
}

/// (e) A read completes once.
fn twice(resource: Handle) -> TestResult {
    let fx = io_fixture(resource, guest_code::vcpu_io_one_load())?;
    let p = ok("enter", enter(fx.vcpu()))?;
    check_mem("ldr w1, [x0]", &p, &ONE_LOAD)?;
    expect_io("first completion", fx.vcpu(), 4, 0x1111, Status::OK)?;
    expect_io("second completion", fx.vcpu(), 4, 0x2222, Status::BAD_STATE)?;
    enter_and_clean_exit(fx.vcpu())?;
    let x1 = read_state(fx.vcpu())?.x[1];
    ensure!(
        x1 == 0x1111,
        "x1 got {x1:#x}, want 0x1111 (the first completion)"
    );
    Ok(())
}

/// (f) Writing ZX_VCPU_STATE after a read exit drops the pending read.
fn after_state_write(resource: Handle) -> TestResult {
    let fx = io_fixture(resource, guest_code::vcpu_io_one_load())?;
    let p = ok("enter", enter(fx.vcpu()))?;
    check_mem("ldr w1, [x0]", &p, &ONE_LOAD)?;
    let mut state = read_state(fx.vcpu())?;
    state.x[1] = 0xABCD;
    ok("write_state", vcpu_write_state(fx.vcpu(), &state))?;
    expect_io(
        "after write_state(VCPU_STATE)",
        fx.vcpu(),
        4,
        0x2222,
        Status::BAD_STATE,
    )?;
    enter_and_clean_exit(fx.vcpu())?;
    let x1 = read_state(fx.vcpu())?.x[1];
    ensure!(
        x1 == 0xABCD,
        "x1 got {x1:#x}, want 0xabcd (from write_state)"
    );
    Ok(())
}

/// (f2) A read the host leaves uncompleted is no longer pending once a
/// later enter returned: after a MEM write exit, after a kick's CANCELED,
/// and after an enter whose exits were handled in EL2 (PSCI_VERSION) until
/// SYSTEM_OFF. The completion is BAD_STATE and writes no register.
fn stale_after_later_exits(resource: Handle) -> TestResult {
    let fx = io_fixture(resource, guest_code::stale_io_reads())?;
    let vcpu = fx.vcpu();
    let load = read_exit(0, 4, false, 1);
    // x1 gets `mark` before each read exit; a stale completion would
    // overwrite it with 0x5555.
    let set_x1 = |mark: u64| -> TestResult {
        let mut state = read_state(vcpu)?;
        state.x[1] = mark;
        state.x[5] = 0x77;
        ok("write_state", vcpu_write_state(vcpu, &state))
    };
    let check_x1 = |mark: u64, after: &str| -> TestResult {
        expect_io(after, vcpu, 4, 0x5555, Status::BAD_STATE)?;
        let x1 = read_state(vcpu)?.x[1];
        ensure!(x1 == mark, "{after}: x1 got {x1:#x}, want {mark:#x}");
        Ok(())
    };
    set_x1(0xA1)?;
    check_mem("ldr w1 (1)", &ok("enter 1", enter(vcpu))?, &load)?;
    let store = MemExit {
        read: false,
        xt: 5,
        data: 0x77,
        ..load
    };
    check_mem("str w5", &ok("enter 2", enter(vcpu))?, &store)?;
    check_x1(0xA1, "after a MEM write exit")?;
    set_x1(0xA2)?;
    check_mem("ldr w1 (2)", &ok("enter 3", enter(vcpu))?, &load)?;
    ok("vcpu_kick", vcpu_kick(vcpu))?;
    expect_enter(vcpu, Status::CANCELED)?;
    check_x1(0xA2, "after a kicked enter")?;
    set_x1(0xA3)?;
    check_mem("ldr w1 (3)", &ok("enter 5", enter(vcpu))?, &load)?;
    expect_enter(vcpu, Status::UNAVAILABLE)?;
    check_x1(0xA3, "after PSCI_VERSION in EL2, then SYSTEM_OFF")
}

/// (g) ZX_VCPU_IO cannot be read.
fn read_state_io(resource: Handle) -> TestResult {
    let fx = Fixture::vcpu_only(resource)?;
    let mut buf = RawBuf([0; 512]);
    for size in [16, 8] {
        let got = read_state_raw(fx.vcpu(), VCPU_IO, buf.0.as_mut_ptr() as u64, size);
        expect_status("read_state(VCPU_IO)", got, Status::INVALID_ARGS)?;
    }
    Ok(())
}

/// (h) Stores report the full X\[xt\] (0 for XZR), and leave no read pending.
fn store_data(resource: Handle) -> TestResult {
    let fx = io_fixture(resource, guest_code::mem_trap_stores())?;
    let mut state = VcpuState::default();
    state.x[5] = 0x1122_3344_5566_7788;
    state.x[6] = 0xAABB_CCDD_EEFF_0099;
    ok("write_state", vcpu_write_state(fx.vcpu(), &state))?;
    let store = |offset, access_size, xt, data| MemExit {
        key: IO_KEY,
        addr: TRAP_ADDR + offset,
        access_size,
        sign_extend: false,
        xt,
        read: false,
        data,
    };
    #[rustfmt::skip]
    let steps = [
        ("str w5, [x0]", store(0, 4, 5, state.x[5])),
        ("str xzr, [x0, #8]", store(8, 8, 31, 0)),
        ("strb w6, [x0, #1]", store(1, 1, 6, state.x[6])),
    ];
    for (insn, exit) in &steps {
        let p = ok(insn, enter(fx.vcpu()))?;
        check_mem(insn, &p, exit)?;
        expect_io(insn, fx.vcpu(), exit.access_size, 0, Status::BAD_STATE)?;
    }
    enter_and_clean_exit(fx.vcpu())
}

//! zx_vcpu_read_state / zx_vcpu_write_state on the owning CPU (docs/abi.md §4):
//! the cpsr rule, kinds, sizes and pointers, and every error of the
//! zx_vcpu_write_state documentation in the ABI's check order.

use super::fixture::*;
use crate::ensure;
use crate::guest_code;
use crate::suite::{Suite, TestResult};
use syscalls::client::{port_create, vcpu_write_state};
use syscalls::hypervisor::{VcpuState, VCPU_IO, VCPU_STATE};
use syscalls::{Handle, Rights, Status};

pub fn run(suite: &mut Suite, resource: Handle) {
    suite.run("guest_write_state_cpsr", || cpsr(resource));
    suite.run("guest_state_sizes", || sizes(resource));
    suite.run("guest_vcpu_read_state_errors", || read_errors(resource));
    suite.run("guest_vcpu_write_state_errors", || write_errors(resource));
}

/// Checks that `got` equals `want` field by field.
fn same_state(what: &str, got: &VcpuState, want: &VcpuState) -> TestResult {
    for i in 0..31 {
        ensure!(
            got.x[i] == want.x[i],
            "{what}: x{i} got {:#x}, want {:#x}",
            got.x[i],
            want.x[i]
        );
    }
    ensure!(
        got.sp == want.sp,
        "{what}: sp got {:#x}, want {:#x}",
        got.sp,
        want.sp
    );
    ensure!(
        got.cpsr == want.cpsr,
        "{what}: cpsr got {:#x}, want {:#x}",
        got.cpsr,
        want.cpsr
    );
    ensure!(
        got.padding1 == [0; 4],
        "{what}: padding got {:x?}, want zeros",
        got.padding1
    );
    Ok(())
}

/// A state unlike the one a test wrote, for writes that must be refused.
fn other_state(cpsr: u32) -> VcpuState {
    VcpuState {
        x: [0xBAD; 31],
        sp: 0xBAD0,
        cpsr,
        padding1: [0; 4],
    }
}

fn cpsr(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_enter())?;
    let mut good = VcpuState::default();
    for (i, x) in good.x.iter_mut().enumerate() {
        *x = 0x100 + i as u64;
    }
    good.sp = 0x7000;
    good.cpsr = 0x2000_0000;
    ok("write_state", vcpu_write_state(fx.vcpu(), &good))?;
    same_state("read back", &read_state(fx.vcpu())?, &good)?;
    for bad in [0x3C5, 0x4, 0x9, 0x1, 0x3C0, 0x0800_0000, 0xF000_0005] {
        let got = vcpu_write_state(fx.vcpu(), &other_state(bad))
            .err()
            .unwrap_or(Status::OK);
        ensure!(
            got == Status::INVALID_ARGS,
            "write_state with cpsr {bad:#x}: got {got}, want ZX_ERR_INVALID_ARGS"
        );
        same_state("after a refused write", &read_state(fx.vcpu())?, &good)?;
    }
    for nzcv in [0x9000_0000, 0x6000_0000, 0] {
        good.cpsr = nzcv;
        ok("write_state", vcpu_write_state(fx.vcpu(), &good))?;
        same_state("NZCV replaced", &read_state(fx.vcpu())?, &good)?;
    }
    enter_and_clean_exit(fx.vcpu())
}

fn sizes(resource: Handle) -> TestResult {
    let fx = Fixture::vcpu_only(resource)?;
    let vcpu = fx.vcpu();
    let before = read_state(vcpu)?;
    let mut buf = RawBuf([0; 512]);
    buf.0[..VcpuState::SIZE].copy_from_slice(&other_state(0).to_bytes());
    let b = buf.0.as_mut_ptr() as u64;
    #[rustfmt::skip]
    let cases: [(u32, u64); 8] = [
        (VCPU_STATE, 263),
        (VCPU_STATE, 265),
        (VCPU_STATE, 0),
        (VCPU_STATE, 512),
        (2, 264),
        (7, 264),
        (u32::MAX, 264),
        (VCPU_IO, 264),
    ];
    for (kind, size) in cases {
        let got = write_state_raw(vcpu, kind, b, size);
        ensure!(
            got == Status::INVALID_ARGS,
            "write_state(kind {kind}, size {size}): got {got}, want ZX_ERR_INVALID_ARGS"
        );
        let got = read_state_raw(vcpu, kind, b, size);
        ensure!(
            got == Status::INVALID_ARGS,
            "read_state(kind {kind}, size {size}): got {got}, want ZX_ERR_INVALID_ARGS"
        );
    }
    for size in [8, 15, 17, 0] {
        let got = write_state_raw(vcpu, VCPU_IO, b, size);
        ensure!(
            got == Status::INVALID_ARGS,
            "write_state(VCPU_IO, size {size}): got {got}, want ZX_ERR_INVALID_ARGS"
        );
    }
    let info = ok("zxv_info", syscalls::client::zxv_info())?;
    let [null, monitor] = bad_pointers()?;
    for p in [
        null,
        monitor,
        info.monitor_base + info.monitor_size - 8,
        u64::MAX - 100,
    ] {
        let got = read_state_raw(vcpu, VCPU_STATE, p, 264);
        ensure!(
            got == Status::INVALID_ARGS,
            "read_state into {p:#x}: got {got}, want ZX_ERR_INVALID_ARGS"
        );
    }
    for p in [null, monitor, info.monitor_base - 100, u64::MAX - 100] {
        let got = write_state_raw(vcpu, VCPU_STATE, p, 264);
        ensure!(
            got == Status::INVALID_ARGS,
            "write_state from {p:#x}: got {got}, want ZX_ERR_INVALID_ARGS"
        );
    }
    same_state("after the refused writes", &read_state(vcpu)?, &before)?;
    // A buffer crossing a page boundary works.
    let mut big = [0u8; 2 * 4096];
    let base = big.as_mut_ptr() as u64;
    // 100 bytes before a page boundary.
    let start = ((2 * 4096 - 100 - base % 4096) % 4096) as usize;
    let got = read_state_raw(vcpu, VCPU_STATE, base + start as u64, 264);
    ensure!(
        got == Status::OK,
        "read_state into a buffer crossing a page: got {got}, want ZX_OK"
    );
    ensure!(
        big[start..start + VcpuState::SIZE] == before.to_bytes(),
        "read_state into a buffer crossing a page wrote a different state"
    );
    big[start..start + VcpuState::SIZE].copy_from_slice(&other_state(0).to_bytes());
    let got = write_state_raw(vcpu, VCPU_STATE, base + start as u64, 264);
    ensure!(
        got == Status::OK,
        "write_state from a buffer crossing a page: got {got}, want ZX_OK"
    );
    same_state("written across a page", &read_state(vcpu)?, &other_state(0))
}

/// Rights on a vCPU: its defaults without `without`.
fn read_errors(resource: Handle) -> TestResult {
    let fx = Fixture::vcpu_only(resource)?;
    let port = Owned(ok("port_create", port_create(0))?);
    let no_read = dup_vcpu_without(fx.vcpu(), Rights::READ)?;
    let mut buf = RawBuf([0; 512]);
    let b = buf.0.as_mut_ptr() as u64;
    #[rustfmt::skip]
    let cases = [
        ("ZX_HANDLE_INVALID", Handle::INVALID, VCPU_STATE, b, Status::BAD_HANDLE),
        ("an unused handle", Handle::from_raw(0xDEAD_BEEC), VCPU_STATE, b, Status::BAD_HANDLE),
        ("ZX_HANDLE_INVALID, kind 7", Handle::INVALID, 7, b, Status::BAD_HANDLE),
        ("the guest", fx.guest(), VCPU_STATE, b, Status::WRONG_TYPE),
        ("a port, kind 7", port.h(), 7, b, Status::WRONG_TYPE),
        ("a vcpu without READ", no_read.h(), VCPU_STATE, b, Status::ACCESS_DENIED),
        ("a vcpu without READ, kind 7", no_read.h(), 7, b, Status::ACCESS_DENIED),
        ("a vcpu without READ, NULL", no_read.h(), VCPU_STATE, 0, Status::ACCESS_DENIED),
        ("kind 7", fx.vcpu(), 7, b, Status::INVALID_ARGS),
        ("kind 7, NULL", fx.vcpu(), 7, 0, Status::INVALID_ARGS),
        ("NULL", fx.vcpu(), VCPU_STATE, 0, Status::INVALID_ARGS),
        ("the vcpu", fx.vcpu(), VCPU_STATE, b, Status::OK),
    ];
    for (what, h, kind, p, want) in cases {
        let got = read_state_raw(h, kind, p, 264);
        ensure!(got == want, "read_state({what}): got {got}, want {want}");
    }
    Ok(())
}

fn write_errors(resource: Handle) -> TestResult {
    let fx = Fixture::vcpu_only(resource)?;
    let port = Owned(ok("port_create", port_create(0))?);
    let no_write = dup_vcpu_without(fx.vcpu(), Rights::WRITE)?;
    let mut state_buf = RawBuf([0; 512]);
    let s = state_buf.0.as_mut_ptr() as u64;
    let mut io_buf = RawBuf([0; 512]);
    io_buf.0[0] = 4;
    let io = io_buf.0.as_mut_ptr() as u64;
    let mut bad_cpsr = RawBuf([0; 512]);
    bad_cpsr.0[..VcpuState::SIZE].copy_from_slice(&other_state(0x3C5).to_bytes());
    let bad = bad_cpsr.0.as_mut_ptr() as u64;
    #[rustfmt::skip]
    let cases = [
        ("ZX_HANDLE_INVALID", Handle::INVALID, VCPU_STATE, s, 264, Status::BAD_HANDLE),
        ("an unused handle", Handle::from_raw(0xDEAD_BEEC), VCPU_STATE, s, 264, Status::BAD_HANDLE),
        ("ZX_HANDLE_INVALID, kind 7", Handle::INVALID, 7, s, 264, Status::BAD_HANDLE),
        ("the guest", fx.guest(), VCPU_STATE, s, 264, Status::WRONG_TYPE),
        ("a port, kind 7", port.h(), 7, s, 264, Status::WRONG_TYPE),
        ("a vcpu without WRITE", no_write.h(), VCPU_STATE, s, 264, Status::ACCESS_DENIED),
        ("a vcpu without WRITE, size 8", no_write.h(), VCPU_IO, io, 8, Status::ACCESS_DENIED),
        ("a vcpu without WRITE, NULL", no_write.h(), VCPU_STATE, 0, 264, Status::ACCESS_DENIED),
        ("kind 7", fx.vcpu(), 7, s, 264, Status::INVALID_ARGS),
        ("VCPU_STATE, size 263", fx.vcpu(), VCPU_STATE, s, 263, Status::INVALID_ARGS),
        ("VCPU_IO, size 8", fx.vcpu(), VCPU_IO, io, 8, Status::INVALID_ARGS),
        ("NULL", fx.vcpu(), VCPU_STATE, 0, 264, Status::INVALID_ARGS),
        ("VCPU_IO from NULL, no read pending", fx.vcpu(), VCPU_IO, 0, 16, Status::INVALID_ARGS),
        ("cpsr 0x3c5", fx.vcpu(), VCPU_STATE, bad, 264, Status::INVALID_ARGS),
        ("VCPU_IO, no read pending", fx.vcpu(), VCPU_IO, io, 16, Status::BAD_STATE),
        ("the vcpu", fx.vcpu(), VCPU_STATE, s, 264, Status::OK),
    ];
    for (what, h, kind, p, size, want) in cases {
        let got = write_state_raw(h, kind, p, size);
        ensure!(got == want, "write_state({what}): got {got}, want {want}");
    }
    Ok(())
}

//! FP/SIMD registers belong to their world: the guest's d0 survives between
//! enters while the host changes its own, and the host's d0 survives a
//! guest that uses FP (the monitor switches them lazily).

use super::fixture::*;
use crate::ensure;
use crate::guest_code;
use crate::suite::{Reason, Suite, TestResult};
use syscalls::port::PortPacket;
use syscalls::{Handle, Status};

extern "C" {
    fn fp_enter_probe(vcpu: u32, packet: *mut PortPacket, pattern: u64) -> FpProbe;
}

#[repr(C)]
struct FpProbe {
    status: i64,
    d0: u64,
}

fn enter_with_host_d0(vcpu: Handle, d0: u64) -> Result<u64, Reason> {
    let mut packet = PortPacket::default();
    // SAFETY: the probe makes one zx_vcpu_enter with a packet buffer we own.
    let r = unsafe { fp_enter_probe(vcpu.raw(), &mut packet, d0) };
    let status = Status::from_raw(r.status as i32);
    ensure!(
        status == Status::OK,
        "zx_vcpu_enter: got {status}, want ZX_OK"
    );
    clean_exit(&packet)?;
    Ok(r.d0)
}

pub fn run(suite: &mut Suite, resource: Handle) {
    suite.run("guest_fp_state_is_per_world", || fp_state(resource));
}

fn fp_state(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::fp_state())?;
    let guest_value = 0x1122_3344_5566_7788;
    let mut state = read_state(fx.vcpu())?;
    state.x[1] = guest_value;
    ok(
        "write_state",
        syscalls::client::vcpu_write_state(fx.vcpu(), &state),
    )?;
    let host_d0 = enter_with_host_d0(fx.vcpu(), 0xAAAA_AAAA_AAAA_AAAA)?;
    ensure!(
        host_d0 == 0xAAAA_AAAA_AAAA_AAAA,
        "host d0 after the guest used FP: {host_d0:#x}"
    );
    let host_d0 = enter_with_host_d0(fx.vcpu(), 0xBBBB_BBBB_BBBB_BBBB)?;
    ensure!(
        host_d0 == 0xBBBB_BBBB_BBBB_BBBB,
        "host d0 after the second enter: {host_d0:#x}"
    );
    let x2 = read_state(fx.vcpu())?.x[2];
    ensure!(
        x2 == guest_value,
        "guest d0 across enters: {x2:#x}, want {guest_value:#x}"
    );
    Ok(())
}

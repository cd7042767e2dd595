//! Service-call dispatch (docs/abi.md §2): decode the function ID in w0, run the
//! call with x1..x6, and put the status and outputs in x0..x2. Registers
//! x3..x30 are left as the host had them.

use crate::calls::{guest, port, vcpu};
use crate::trapframe::TrapFrame;
use crate::{info, objects};
use syscalls::ids::*;
use syscalls::{Rights, Status, ZxResult};

/// What a call returns: its status and the two output registers.
pub struct Reply {
    pub status: Status,
    pub out: [u64; 2],
}

impl Reply {
    pub fn ok(out1: u64, out2: u64) -> Self {
        Self {
            status: Status::OK,
            out: [out1, out2],
        }
    }

    pub fn status(status: Status) -> Self {
        Self {
            status,
            out: [0, 0],
        }
    }
}

impl From<ZxResult> for Reply {
    fn from(r: ZxResult) -> Self {
        Self::status(r.err().unwrap_or(Status::OK))
    }
}

impl From<ZxResult<u64>> for Reply {
    fn from(r: ZxResult<u64>) -> Self {
        match r {
            Ok(v) => Self::ok(v, 0),
            Err(s) => Self::status(s),
        }
    }
}

impl From<ZxResult<(u64, u64)>> for Reply {
    fn from(r: ZxResult<(u64, u64)>) -> Self {
        match r {
            Ok((a, b)) => Self::ok(a, b),
            Err(s) => Self::status(s),
        }
    }
}

pub fn service_call(frame: &mut TrapFrame) {
    let id = frame.x[0] as u32;
    let a = [
        frame.x[1], frame.x[2], frame.x[3], frame.x[4], frame.x[5], frame.x[6],
    ];
    let handle = a[0] as u32;
    let reply: Reply = match id {
        HANDLE_CLOSE => objects::close(handle).into(),
        HANDLE_DUPLICATE => objects::duplicate(handle, Rights::from_bits(a[1] as u32))
            .map(u64::from)
            .into(),
        OBJECT_GET_INFO => info::object_get_info(handle, a[1] as u32, a[2], a[3]),
        ZXV_INFO => info::zxv_info(a[0], a[1]),
        GUEST_CREATE => guest::create(handle, a[1]).into(),
        GUEST_SET_TRAP => guest::set_trap(handle, a[1], a[2], a[3], a[4] as u32, a[5]).into(),
        VMO_CREATE_PHYSICAL => guest::vmo_create_physical(handle, a[1], a[2]).into(),
        VMAR_MAP => guest::vmar_map(handle, a[1], a[2], a[3] as u32, a[4], a[5]).into(),
        VMAR_UNMAP => guest::vmar_unmap(handle, a[1], a[2]).into(),
        VMAR_PROTECT => guest::vmar_protect(handle, a[1], a[2], a[3]).into(),
        VCPU_CREATE => vcpu::create(handle, a[1], a[2]).into(),
        VCPU_ENTER => vcpu::enter(handle, a[1]).into(),
        VCPU_KICK => vcpu::kick(handle).into(),
        VCPU_INTERRUPT => vcpu::interrupt(handle, a[1]).into(),
        VCPU_READ_STATE => vcpu::read_state(handle, a[1], a[2], a[3]).into(),
        VCPU_WRITE_STATE => vcpu::write_state(handle, a[1], a[2], a[3]).into(),
        PORT_CREATE => port::create(a[0]).into(),
        PORT_WAIT => port::wait(handle, a[1] as i64, a[2]).into(),
        PORT_QUEUE => port::queue(handle, a[1]).into(),
        _ => {
            frame.x[0] = SMCCC_NOT_SUPPORTED as u64;
            return;
        }
    };
    frame.set_result(reply.status.into_raw(), reply.out[0], reply.out[1]);
}

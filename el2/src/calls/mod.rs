//! The host's calls into the monitor. `exceptions` is where a host
//! exception arrives from the vectors; PSCI goes to `psci`, service calls to
//! [`service_call`] here (docs/abi.md §2): decode the function ID in w0, run
//! the call with x1..x6, and put the status and outputs in x0..x2. Registers
//! x3..x30 are left as the host had them. The calls are grouped by the
//! objects they act on (`guests`, `vcpus`, `ports`, `info`); each checks its
//! arguments in the order docs/abi.md and Zircon give, then does the work.

pub mod exceptions;
pub mod guests;
pub mod info;
pub mod ports;
pub mod psci;
mod reply;
pub mod vcpus;

use crate::objects;
use reply::Reply;
use syscalls::ids::*;
use syscalls::Rights;
use vcpu::regs::RegisterFile;

pub fn service_call(frame: &mut RegisterFile) {
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
        GUEST_CREATE => guests::create(handle, a[1]).into(),
        GUEST_SET_TRAP => guests::set_trap(handle, a[1], a[2], a[3], a[4] as u32, a[5]).into(),
        VMO_CREATE_PHYSICAL => guests::vmo_create_physical(handle, a[1], a[2]).into(),
        VMAR_MAP => guests::vmar_map(handle, a[1], a[2], a[3] as u32, a[4], a[5]).into(),
        VMAR_UNMAP => guests::vmar_unmap(handle, a[1], a[2]).into(),
        VMAR_PROTECT => guests::vmar_protect(handle, a[1], a[2], a[3]).into(),
        VCPU_CREATE => vcpus::create(handle, a[1], a[2]).into(),
        VCPU_ENTER => vcpus::enter(handle, a[1]).into(),
        VCPU_KICK => vcpus::kick(handle).into(),
        VCPU_INTERRUPT => vcpus::interrupt(handle, a[1]).into(),
        VCPU_READ_STATE => vcpus::read_state(handle, a[1], a[2], a[3]).into(),
        VCPU_WRITE_STATE => vcpus::write_state(handle, a[1], a[2], a[3]).into(),
        PORT_CREATE => ports::create(a[0]).into(),
        PORT_WAIT => ports::wait(handle, a[1] as i64, a[2]).into(),
        PORT_QUEUE => ports::queue(handle, a[1]).into(),
        _ => {
            frame.x[0] = SMCCC_NOT_SUPPORTED as u64;
            return;
        }
    };
    reply.write_to(frame);
}

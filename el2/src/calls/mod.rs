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

/// Whether `id` is in the zxvisor service calls' range: SMCCC fast SMC64
/// calls of the vendor-specific hypervisor service (owner 6).
#[inline(always)]
pub fn is_service_call(id: u32) -> bool {
    id >> 16 == 0xC600
}

/// Runs the service call in the host's x0 with its arguments in x1..x6
/// and puts its status and outputs in x0..x2; SMCCC NOT_SUPPORTED in x0
/// for an unknown function.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    use syscalls::object::ZxvInfo;
    use syscalls::port::PortPacket;
    use syscalls::Status;

    /// The host's registers after it calls `id` with `args` in x1..x6 (x7
    /// and up hold markers).
    fn call(id: u32, args: [u64; 6]) -> RegisterFile {
        testing::boot();
        let mut frame = RegisterFile::default();
        frame.x[0] = id as u64;
        frame.x[1..7].copy_from_slice(&args);
        for (i, x) in frame.x.iter_mut().enumerate().skip(7) {
            *x = 0x5a00 + i as u64;
        }
        service_call(&mut frame);
        for (i, x) in frame.x.iter().enumerate().skip(7) {
            assert_eq!(*x, 0x5a00 + i as u64, "x{i} changed");
        }
        frame
    }

    fn status(frame: &RegisterFile) -> Status {
        Status::from_raw(frame.x[0] as i64 as i32)
    }

    #[test]
    fn an_unknown_function_is_smccc_not_supported_with_x1_up_as_they_were() {
        let frame = call(0xC600_0EEE, [1, 2, 3, 4, 5, 6]);
        assert_eq!(frame.x[0], u64::MAX);
        assert_eq!(frame.x[1..7], [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn hvc_0_takes_service_calls_psci_and_nothing_else() {
        let host_call = |id: u32| {
            testing::boot();
            let mut frame = RegisterFile::default();
            frame.x[0] = id as u64;
            frame.x[1] = 0x7777;
            crate::calls::exceptions::host_call(&mut frame);
            frame.x[0]
        };
        assert_eq!(host_call(syscalls::psci::PSCI_VERSION), 0x1_0001);
        assert_eq!(
            host_call(HANDLE_CLOSE),
            Status::BAD_HANDLE.into_raw() as i64 as u64
        );
        for other in [0xC601_0000, 0xC500_FFFF, 0x8600_0001, 0xC400_0100] {
            assert_eq!(host_call(other), u64::MAX, "{other:#x}");
        }
        assert!(is_service_call(0xC600_0000) && is_service_call(0xC600_FFFF));
    }

    #[test]
    fn a_failed_call_sign_extends_its_status_and_zeroes_the_outputs() {
        let frame = call(HANDLE_CLOSE, [0x7777, 9, 9, 0, 0, 0]);
        assert_eq!(frame.x[0], Status::BAD_HANDLE.into_raw() as i64 as u64);
        assert_eq!(frame.x[1..3], [0, 0]);
    }

    #[test]
    fn a_port_takes_a_packet_and_its_handle_closes_once() {
        let created = call(PORT_CREATE, [0; 6]);
        assert_eq!(status(&created), Status::OK);
        let port = created.x[1];
        let buffer = testing::host_buffer(PortPacket::SIZE);
        let packet = PortPacket::new_user(42, [1, 2, 3, 4]);
        for (chunk, word) in buffer.chunks_mut(8).zip(packet.to_words()) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        let queued = call(PORT_QUEUE, [port, buffer.as_ptr() as u64, 0, 0, 0, 0]);
        assert_eq!(status(&queued), Status::OK);
        assert_eq!(
            status(&call(HANDLE_CLOSE, [port, 0, 0, 0, 0, 0])),
            Status::OK
        );
        let again = call(HANDLE_CLOSE, [port, 0, 0, 0, 0, 0]);
        assert_eq!(status(&again), Status::BAD_HANDLE);
    }

    #[test]
    fn zxv_info_reports_the_platform_and_the_free_heap() {
        let buffer = testing::host_buffer(ZxvInfo::SIZE + 8);
        let frame = call(
            ZXV_INFO,
            [buffer.as_ptr() as u64, buffer.len() as u64, 0, 0, 0, 0],
        );
        assert_eq!(status(&frame), Status::OK);
        assert_eq!(frame.x[1..3], [1, 1], "actual, avail");
        let word = |i: usize| u32::from_le_bytes(buffer[4 * i..4 * i + 4].try_into().unwrap());
        assert_eq!(
            (word(1), word(2), word(3)),
            (3, 4, 4),
            "GIC version, CPUs, list registers"
        );
        let free = u64::from_le_bytes(buffer[ZxvInfo::SIZE..].try_into().unwrap());
        assert!(free > 0 && free <= 8 << 20, "{free}");
    }
}

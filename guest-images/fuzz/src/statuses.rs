//! The statuses each service call may return, as the binding ABI
//! (`/work/shared/ABI.md`), docs/abi.md §3-§5 and, where those are silent,
//! Zircon (the reference's §3) document them. A call that returns anything
//! else is a finding.

use syscalls::ids::*;
use syscalls::Status;

const HANDLE: [Status; 3] = [Status::BAD_HANDLE, Status::WRONG_TYPE, Status::ACCESS_DENIED];

/// The statuses documented for the call `id`; None for an ID that is not a
/// call (SMCCC NOT_SUPPORTED in x0, x1 and x2 untouched).
pub fn documented(id: u32) -> Option<&'static [Status]> {
    use Status as S;
    Some(match id {
        HANDLE_CLOSE => &[S::OK, S::BAD_HANDLE],
        HANDLE_DUPLICATE => &[
            S::OK,
            S::BAD_HANDLE,
            S::ACCESS_DENIED,
            S::INVALID_ARGS,
            S::NO_RESOURCES,
        ],
        OBJECT_GET_INFO => &[
            S::OK,
            HANDLE[0],
            HANDLE[1],
            HANDLE[2],
            S::BUFFER_TOO_SMALL,
            S::INVALID_ARGS,
            S::NOT_SUPPORTED,
        ],
        GUEST_CREATE => &[
            S::OK,
            HANDLE[0],
            HANDLE[1],
            HANDLE[2],
            S::INVALID_ARGS,
            S::NO_RESOURCES,
            S::NO_MEMORY,
        ],
        GUEST_SET_TRAP => &[
            S::OK,
            HANDLE[0],
            HANDLE[1],
            HANDLE[2],
            S::INVALID_ARGS,
            S::NOT_SUPPORTED,
            S::OUT_OF_RANGE,
            S::ALREADY_EXISTS,
            S::NO_MEMORY,
        ],
        VMO_CREATE_PHYSICAL => &[
            S::OK,
            HANDLE[0],
            HANDLE[1],
            HANDLE[2],
            S::INVALID_ARGS,
            S::NO_RESOURCES,
            S::NO_MEMORY,
        ],
        VMAR_MAP => &[
            S::OK,
            HANDLE[0],
            HANDLE[1],
            HANDLE[2],
            S::INVALID_ARGS,
            S::NOT_SUPPORTED,
            S::OUT_OF_RANGE,
            S::ALREADY_EXISTS,
            S::NO_MEMORY,
        ],
        // A range past the VMAR's 64 GiB: the ABIs do not say which of
        // INVALID_ARGS (Zircon) and OUT_OF_RANGE it is; either, if nothing
        // changes (the record model checks that).
        VMAR_UNMAP | VMAR_PROTECT => &[
            S::OK,
            HANDLE[0],
            HANDLE[1],
            HANDLE[2],
            S::INVALID_ARGS,
            S::OUT_OF_RANGE,
            S::NOT_FOUND,
            S::NO_MEMORY,
        ],
        VCPU_CREATE => &[
            S::OK,
            HANDLE[0],
            HANDLE[1],
            HANDLE[2],
            S::INVALID_ARGS,
            S::NO_RESOURCES,
            S::NO_MEMORY,
        ],
        // Not retried by the fuzzer: INTERNAL_INTR_RETRY comes back.
        VCPU_ENTER => &[
            S::OK,
            HANDLE[0],
            HANDLE[1],
            HANDLE[2],
            S::BAD_STATE,
            S::INVALID_ARGS,
            S::CANCELED,
            S::UNAVAILABLE,
            S::STOP,
            S::INTERNAL_INTR_RETRY,
            S::IO_DATA_INTEGRITY,
            S::NOT_FOUND,
            S::NOT_SUPPORTED,
        ],
        VCPU_KICK => &[S::OK, HANDLE[0], HANDLE[1], HANDLE[2]],
        VCPU_INTERRUPT => &[S::OK, HANDLE[0], HANDLE[1], HANDLE[2], S::OUT_OF_RANGE],
        VCPU_READ_STATE | VCPU_WRITE_STATE => &[
            S::OK,
            HANDLE[0],
            HANDLE[1],
            HANDLE[2],
            S::INVALID_ARGS,
            S::BAD_STATE,
        ],
        PORT_CREATE => &[S::OK, S::INVALID_ARGS, S::NO_RESOURCES, S::NO_MEMORY],
        PORT_WAIT => &[
            S::OK,
            HANDLE[0],
            HANDLE[1],
            HANDLE[2],
            S::INVALID_ARGS,
            S::TIMED_OUT,
            S::INTERNAL_INTR_RETRY,
        ],
        PORT_QUEUE => &[
            S::OK,
            HANDLE[0],
            HANDLE[1],
            HANDLE[2],
            S::INVALID_ARGS,
            S::SHOULD_WAIT,
            S::NO_MEMORY,
        ],
        ZXV_INFO => &[S::OK, S::BUFFER_TOO_SMALL, S::INVALID_ARGS],
        _ => return None,
    })
}

/// The name of the call `id`, for reports.
pub fn name(id: u32) -> &'static str {
    match id {
        HANDLE_CLOSE => "zx_handle_close",
        HANDLE_DUPLICATE => "zx_handle_duplicate",
        OBJECT_GET_INFO => "zx_object_get_info",
        GUEST_CREATE => "zx_guest_create",
        GUEST_SET_TRAP => "zx_guest_set_trap",
        VMO_CREATE_PHYSICAL => "zx_vmo_create_physical",
        VMAR_MAP => "zx_vmar_map",
        VMAR_UNMAP => "zx_vmar_unmap",
        VMAR_PROTECT => "zx_vmar_protect",
        VCPU_CREATE => "zx_vcpu_create",
        VCPU_ENTER => "zx_vcpu_enter",
        VCPU_KICK => "zx_vcpu_kick",
        VCPU_INTERRUPT => "zx_vcpu_interrupt",
        VCPU_READ_STATE => "zx_vcpu_read_state",
        VCPU_WRITE_STATE => "zx_vcpu_write_state",
        PORT_CREATE => "zx_port_create",
        PORT_WAIT => "zx_port_wait",
        PORT_QUEUE => "zx_port_queue",
        ZXV_INFO => "zxv_info",
        _ => "(not a call)",
    }
}

/// The calls the fuzzer makes, in ID order.
pub const CALLS: [u32; 19] = [
    HANDLE_CLOSE,
    HANDLE_DUPLICATE,
    OBJECT_GET_INFO,
    GUEST_CREATE,
    GUEST_SET_TRAP,
    VMO_CREATE_PHYSICAL,
    VMAR_MAP,
    VMAR_UNMAP,
    VMAR_PROTECT,
    VCPU_CREATE,
    VCPU_ENTER,
    VCPU_KICK,
    VCPU_INTERRUPT,
    VCPU_READ_STATE,
    VCPU_WRITE_STATE,
    PORT_CREATE,
    PORT_WAIT,
    PORT_QUEUE,
    ZXV_INFO,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_has_ok_and_a_name() {
        for id in CALLS {
            let set = documented(id).unwrap();
            assert_eq!(set[0], Status::OK, "{}", name(id));
            assert_ne!(name(id), "(not a call)");
        }
    }

    #[test]
    fn handle_calls_document_the_handle_errors() {
        for id in CALLS {
            if matches!(id, PORT_CREATE | ZXV_INFO) {
                continue;
            }
            assert!(documented(id).unwrap().contains(&Status::BAD_HANDLE), "{}", name(id));
        }
    }

    #[test]
    fn other_ids_are_not_calls() {
        for id in [0, 0xC600_0000, 0xC600_0004, 0xC600_00FE, 0x8400_0000, u32::MAX] {
            assert_eq!(documented(id), None, "{id:#x}");
        }
    }
}

//! The statuses each service call may return, as the binding ABI
//! (`/work/shared/ABI.md`), docs/abi.md §3-§5 and, where those are silent,
//! Zircon (the reference's §3) document them. A call that returns anything
//! else is a finding.

use syscalls::ids::*;
use syscalls::Status;

/// OK, the handle errors, and `more`.
macro_rules! with_handle {
    ($($more:ident),* $(,)?) => {
        &[Status::OK, Status::BAD_HANDLE, Status::WRONG_TYPE, Status::ACCESS_DENIED, $(Status::$more),*]
    };
}

/// The statuses documented for the call `id`; None for an ID that is not a
/// call (SMCCC NOT_SUPPORTED in x0, x1 and x2 untouched).
pub fn documented(id: u32) -> Option<&'static [Status]> {
    Some(match id {
        HANDLE_CLOSE => &[Status::OK, Status::BAD_HANDLE],
        HANDLE_DUPLICATE => &[
            Status::OK,
            Status::BAD_HANDLE,
            Status::ACCESS_DENIED,
            Status::INVALID_ARGS,
            Status::NO_RESOURCES,
        ],
        OBJECT_GET_INFO => with_handle![BUFFER_TOO_SMALL, INVALID_ARGS, NOT_SUPPORTED],
        GUEST_CREATE | VMO_CREATE_PHYSICAL | VCPU_CREATE => {
            with_handle![INVALID_ARGS, NO_RESOURCES, NO_MEMORY]
        }
        GUEST_SET_TRAP | VMAR_MAP => with_handle![
            INVALID_ARGS,
            NOT_SUPPORTED,
            OUT_OF_RANGE,
            ALREADY_EXISTS,
            NO_MEMORY
        ],
        // A range past the VMAR's 64 GiB: the ABIs do not say which of
        // INVALID_ARGS (Zircon) and OUT_OF_RANGE it is; either, if nothing
        // changes (the record model checks that).
        VMAR_UNMAP | VMAR_PROTECT => with_handle![INVALID_ARGS, OUT_OF_RANGE, NOT_FOUND, NO_MEMORY],
        // Not retried by the fuzzer: INTERNAL_INTR_RETRY comes back.
        VCPU_ENTER => with_handle![
            BAD_STATE,
            INVALID_ARGS,
            CANCELED,
            UNAVAILABLE,
            STOP,
            INTERNAL_INTR_RETRY,
            IO_DATA_INTEGRITY,
            NOT_FOUND,
            NOT_SUPPORTED
        ],
        VCPU_KICK => with_handle![],
        VCPU_INTERRUPT => with_handle![OUT_OF_RANGE],
        VCPU_READ_STATE | VCPU_WRITE_STATE => with_handle![INVALID_ARGS, BAD_STATE],
        PORT_CREATE => &[
            Status::OK,
            Status::INVALID_ARGS,
            Status::NO_RESOURCES,
            Status::NO_MEMORY,
        ],
        PORT_WAIT => with_handle![INVALID_ARGS, TIMED_OUT, INTERNAL_INTR_RETRY],
        PORT_QUEUE => with_handle![INVALID_ARGS, SHOULD_WAIT, NO_MEMORY],
        ZXV_INFO => &[Status::OK, Status::BUFFER_TOO_SMALL, Status::INVALID_ARGS],
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
            assert!(
                documented(id).unwrap().contains(&Status::BAD_HANDLE),
                "{}",
                name(id)
            );
        }
    }

    #[test]
    fn other_ids_are_not_calls() {
        for id in [
            0,
            0xC600_0000,
            0xC600_0004,
            0xC600_00FE,
            0x8400_0000,
            u32::MAX,
        ] {
            assert_eq!(documented(id), None, "{id:#x}");
        }
    }
}

//! Function IDs of the zxvisor service calls, passed in `x0` to `hvc #0` (docs/abi.md §2).
//! They are SMCCC SMC64 fast calls owned by the vendor-specific hypervisor service.

/// `zx_handle_close(handle)`.
pub const HANDLE_CLOSE: u32 = 0xC600_0001;
/// `zx_handle_duplicate(handle, rights)` → x1 = new handle.
pub const HANDLE_DUPLICATE: u32 = 0xC600_0002;
/// `zx_object_get_info(handle, topic, buffer, buffer_size)` → x1 = actual, x2 = avail.
pub const OBJECT_GET_INFO: u32 = 0xC600_0003;
/// `zx_guest_create(resource, options)` → x1 = guest, x2 = vmar.
pub const GUEST_CREATE: u32 = 0xC600_0010;
/// `zx_guest_set_trap(guest, kind, addr, size, port, key)`.
pub const GUEST_SET_TRAP: u32 = 0xC600_0011;
/// `zx_vmo_create_physical(resource, paddr, size)` → x1 = vmo.
pub const VMO_CREATE_PHYSICAL: u32 = 0xC600_0012;
/// `zx_vmar_map(vmar, options, vmar_offset, vmo, vmo_offset, len)` → x1 = mapped address.
pub const VMAR_MAP: u32 = 0xC600_0013;
/// `zx_vmar_unmap(vmar, addr, len)`.
pub const VMAR_UNMAP: u32 = 0xC600_0014;
/// `zx_vmar_protect(vmar, options, addr, len)`.
pub const VMAR_PROTECT: u32 = 0xC600_0015;
/// `zx_vcpu_create(guest, options, entry)` → x1 = vcpu.
pub const VCPU_CREATE: u32 = 0xC600_0020;
/// `zx_vcpu_enter(vcpu, packet)`.
pub const VCPU_ENTER: u32 = 0xC600_0021;
/// `zx_vcpu_resume`: the old name of `zx_vcpu_enter`, same ID.
pub const VCPU_RESUME: u32 = VCPU_ENTER;
/// `zx_vcpu_kick(vcpu)`.
pub const VCPU_KICK: u32 = 0xC600_0022;
/// `zx_vcpu_interrupt(vcpu, vector)`.
pub const VCPU_INTERRUPT: u32 = 0xC600_0023;
/// `zx_vcpu_read_state(vcpu, kind, buffer, buffer_size)`.
pub const VCPU_READ_STATE: u32 = 0xC600_0024;
/// `zx_vcpu_write_state(vcpu, kind, buffer, buffer_size)`.
pub const VCPU_WRITE_STATE: u32 = 0xC600_0025;
/// `zx_port_create(options)` → x1 = port.
pub const PORT_CREATE: u32 = 0xC600_0030;
/// `zx_port_wait(port, deadline, packet)`.
pub const PORT_WAIT: u32 = 0xC600_0031;
/// `zx_port_queue(port, packet)`.
pub const PORT_QUEUE: u32 = 0xC600_0032;
/// `zxv_info(buffer, buffer_size)`: fills a [`ZxvInfo`](crate::object::ZxvInfo).
pub const ZXV_INFO: u32 = 0xC600_00FF;

/// SMCCC `NOT_SUPPORTED`: `x0` for an unknown function ID.
pub const SMCCC_NOT_SUPPORTED: i64 = -1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_abi_table() {
        let expected = [
            (HANDLE_CLOSE, 0xC600_0001),
            (HANDLE_DUPLICATE, 0xC600_0002),
            (OBJECT_GET_INFO, 0xC600_0003),
            (GUEST_CREATE, 0xC600_0010),
            (GUEST_SET_TRAP, 0xC600_0011),
            (VMO_CREATE_PHYSICAL, 0xC600_0012),
            (VMAR_MAP, 0xC600_0013),
            (VMAR_UNMAP, 0xC600_0014),
            (VMAR_PROTECT, 0xC600_0015),
            (VCPU_CREATE, 0xC600_0020),
            (VCPU_ENTER, 0xC600_0021),
            (VCPU_RESUME, 0xC600_0021),
            (VCPU_KICK, 0xC600_0022),
            (VCPU_INTERRUPT, 0xC600_0023),
            (VCPU_READ_STATE, 0xC600_0024),
            (VCPU_WRITE_STATE, 0xC600_0025),
            (PORT_CREATE, 0xC600_0030),
            (PORT_WAIT, 0xC600_0031),
            (PORT_QUEUE, 0xC600_0032),
            (ZXV_INFO, 0xC600_00FF),
        ];
        for (id, value) in expected {
            assert_eq!(id, value);
        }
        assert_eq!(SMCCC_NOT_SUPPORTED as u64, u64::MAX);
    }
}

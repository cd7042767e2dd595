//! Kernel objects as the caller sees them: handles, object types, the hypervisor resource,
//! and the records returned by `zx_object_get_info` and `zxv_info` (docs/abi.md §2-§3).

use core::mem::{offset_of, size_of};

use crate::rights::Rights;
use crate::wire::{read_u32, read_u64, write_u32, write_u64};

/// An object type (`zx_obj_type_t`).
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct ObjType(u32);

impl ObjType {
    /// `ZX_OBJ_TYPE_NONE`.
    pub const NONE: ObjType = ObjType(0);
    /// `ZX_OBJ_TYPE_VMO`.
    pub const VMO: ObjType = ObjType(3);
    /// `ZX_OBJ_TYPE_PORT`.
    pub const PORT: ObjType = ObjType(6);
    /// `ZX_OBJ_TYPE_VMAR`.
    pub const VMAR: ObjType = ObjType(10);
    /// `ZX_OBJ_TYPE_RESOURCE`.
    pub const RESOURCE: ObjType = ObjType(15);
    /// `ZX_OBJ_TYPE_GUEST`.
    pub const GUEST: ObjType = ObjType(20);
    /// `ZX_OBJ_TYPE_VCPU`.
    pub const VCPU: ObjType = ObjType(21);

    /// Wraps a raw `zx_obj_type_t`.
    pub const fn from_raw(raw: u32) -> ObjType {
        ObjType(raw)
    }

    /// The raw `zx_obj_type_t`.
    pub const fn raw(self) -> u32 {
        self.0
    }
}

/// A handle (`zx_handle_t`): a 32-bit name for an object, never 0 when valid.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Handle(u32);

impl Handle {
    /// `ZX_HANDLE_INVALID`.
    pub const INVALID: Handle = Handle(0);

    /// Wraps a raw `zx_handle_t`.
    pub const fn from_raw(raw: u32) -> Handle {
        Handle(raw)
    }

    /// The raw `zx_handle_t`.
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// True unless this is `ZX_HANDLE_INVALID`.
    pub const fn is_valid(self) -> bool {
        self.0 != Self::INVALID.0
    }
}

/// `ZX_RSRC_KIND_SYSTEM`: the kind of the hypervisor resource handed to the host in `x1`.
pub const RSRC_KIND_SYSTEM: u32 = 5;
/// `ZX_RSRC_SYSTEM_HYPERVISOR_BASE`: the base of the hypervisor resource (size 1).
pub const RSRC_SYSTEM_HYPERVISOR_BASE: u64 = 0;

/// `ZX_INFO_HANDLE_BASIC`: `zx_object_get_info` topic returning an [`InfoHandleBasic`].
pub const INFO_HANDLE_BASIC: u32 = 2;
/// `ZX_INFO_VCPU`: `zx_object_get_info` topic returning an [`InfoVcpu`].
pub const INFO_VCPU: u32 = 32;
/// `ZX_INFO_VCPU_FLAG_KICKED`: a kick is pending on the vCPU.
pub const INFO_VCPU_FLAG_KICKED: u32 = 1;

/// `ZX_OBJ_PROP_NONE`: `InfoHandleBasic::props` for an object that cannot be waited on.
pub const OBJ_PROP_NONE: u32 = 0;
/// `ZX_OBJ_PROP_WAITABLE`: `InfoHandleBasic::props` for an object that can be waited on.
pub const OBJ_PROP_WAITABLE: u32 = 1;

/// `zx_info_handle_basic_t`, 32 bytes.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct InfoHandleBasic {
    /// The object's kernel object id.
    pub koid: u64,
    /// The handle's rights (`zx_rights_t`).
    pub rights: u32,
    /// The object type (`zx_obj_type_t`).
    pub type_: u32,
    /// The koid of a related object (e.g. a channel's peer), or 0.
    pub related_koid: u64,
    /// `OBJ_PROP_NONE` or `OBJ_PROP_WAITABLE`.
    pub props: u32,
    /// Always zero.
    pub padding1: [u8; 4],
}

const _: () = {
    assert!(size_of::<InfoHandleBasic>() == 32);
    assert!(offset_of!(InfoHandleBasic, koid) == 0);
    assert!(offset_of!(InfoHandleBasic, rights) == 8);
    assert!(offset_of!(InfoHandleBasic, type_) == 12);
    assert!(offset_of!(InfoHandleBasic, related_koid) == 16);
    assert!(offset_of!(InfoHandleBasic, props) == 24);
    assert!(offset_of!(InfoHandleBasic, padding1) == 28);
};

impl InfoHandleBasic {
    /// Size of the C structure in bytes.
    pub const SIZE: usize = 32;

    /// The `rights` field as [`Rights`].
    pub const fn handle_rights(&self) -> Rights {
        Rights::from_bits(self.rights)
    }

    /// The `type_` field as [`ObjType`].
    pub const fn obj_type(&self) -> ObjType {
        ObjType::from_raw(self.type_)
    }

    /// The structure's memory image.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        write_u64(&mut b, 0, self.koid);
        write_u32(&mut b, 8, self.rights);
        write_u32(&mut b, 12, self.type_);
        write_u64(&mut b, 16, self.related_koid);
        write_u32(&mut b, 24, self.props);
        b[28..32].copy_from_slice(&self.padding1);
        b
    }

    /// The structure held in a memory image.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        InfoHandleBasic {
            koid: read_u64(b, 0),
            rights: read_u32(b, 8),
            type_: read_u32(b, 12),
            related_koid: read_u64(b, 16),
            props: read_u32(b, 24),
            padding1: [b[28], b[29], b[30], b[31]],
        }
    }
}

/// `zx_info_vcpu_t`, 4 bytes.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct InfoVcpu {
    /// `INFO_VCPU_FLAG_*` bits.
    pub flags: u32,
}

const _: () = {
    assert!(size_of::<InfoVcpu>() == 4);
    assert!(offset_of!(InfoVcpu, flags) == 0);
};

impl InfoVcpu {
    /// Size of the C structure in bytes.
    pub const SIZE: usize = 4;

    /// The structure's memory image.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        self.flags.to_le_bytes()
    }

    /// The structure held in a memory image.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        InfoVcpu {
            flags: u32::from_le_bytes(*b),
        }
    }
}

/// The `abi_version` that `zxv_info` reports for this ABI.
pub const ZXV_ABI_VERSION: u32 = 1;

/// The record `zxv_info` fills in, 32 bytes.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ZxvInfo {
    /// [`ZXV_ABI_VERSION`].
    pub abi_version: u32,
    /// GIC architecture version of the platform (2 or 3).
    pub gic_version: u32,
    /// Number of physical CPUs.
    pub num_cpus: u32,
    /// Number of GIC list registers per CPU.
    pub num_list_registers: u32,
    /// Physical address of the memory the monitor keeps for itself.
    pub monitor_base: u64,
    /// Size in bytes of the memory the monitor keeps for itself.
    pub monitor_size: u64,
}

const _: () = {
    assert!(size_of::<ZxvInfo>() == 32);
    assert!(offset_of!(ZxvInfo, abi_version) == 0);
    assert!(offset_of!(ZxvInfo, gic_version) == 4);
    assert!(offset_of!(ZxvInfo, num_cpus) == 8);
    assert!(offset_of!(ZxvInfo, num_list_registers) == 12);
    assert!(offset_of!(ZxvInfo, monitor_base) == 16);
    assert!(offset_of!(ZxvInfo, monitor_size) == 24);
};

impl ZxvInfo {
    /// Size of the C structure in bytes.
    pub const SIZE: usize = 32;

    /// The structure's memory image.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        write_u32(&mut b, 0, self.abi_version);
        write_u32(&mut b, 4, self.gic_version);
        write_u32(&mut b, 8, self.num_cpus);
        write_u32(&mut b, 12, self.num_list_registers);
        write_u64(&mut b, 16, self.monitor_base);
        write_u64(&mut b, 24, self.monitor_size);
        b
    }

    /// The structure held in a memory image.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        ZxvInfo {
            abi_version: read_u32(b, 0),
            gic_version: read_u32(b, 4),
            num_cpus: read_u32(b, 8),
            num_list_registers: read_u32(b, 12),
            monitor_base: read_u64(b, 16),
            monitor_size: read_u64(b, 24),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_the_abi() {
        assert_eq!(ObjType::NONE.raw(), 0);
        assert_eq!(ObjType::VMO.raw(), 3);
        assert_eq!(ObjType::PORT.raw(), 6);
        assert_eq!(ObjType::VMAR.raw(), 10);
        assert_eq!(ObjType::RESOURCE.raw(), 15);
        assert_eq!(ObjType::GUEST.raw(), 20);
        assert_eq!(ObjType::VCPU.raw(), 21);
        assert_eq!(Handle::INVALID.raw(), 0);
        assert_eq!(RSRC_KIND_SYSTEM, 5);
        assert_eq!(RSRC_SYSTEM_HYPERVISOR_BASE, 0);
        assert_eq!(INFO_HANDLE_BASIC, 2);
        assert_eq!(INFO_VCPU, 32);
        assert_eq!(INFO_VCPU_FLAG_KICKED, 1);
        assert_eq!((OBJ_PROP_NONE, OBJ_PROP_WAITABLE), (0, 1));
        assert_eq!(ZXV_ABI_VERSION, 1);
    }

    #[test]
    fn handles() {
        assert!(!Handle::INVALID.is_valid());
        let h = Handle::from_raw(0x1234_5678);
        assert!(h.is_valid());
        assert_eq!(h.raw(), 0x1234_5678);
        assert_eq!(Handle::default(), Handle::INVALID);
    }

    #[test]
    fn handle_basic_image_follows_the_c_layout() {
        let info = InfoHandleBasic {
            koid: 0x1111_2222_3333_4444,
            rights: Rights::DEFAULT_VCPU.bits(),
            type_: ObjType::VCPU.raw(),
            related_koid: 0x5555_6666_7777_8888,
            props: OBJ_PROP_WAITABLE,
            padding1: [0; 4],
        };
        let b = info.to_bytes();
        assert_eq!(b[0..8], 0x1111_2222_3333_4444u64.to_le_bytes());
        assert_eq!(b[8..12], 0xD01Fu32.to_le_bytes());
        assert_eq!(b[12..16], 21u32.to_le_bytes());
        assert_eq!(b[16..24], 0x5555_6666_7777_8888u64.to_le_bytes());
        assert_eq!(b[24..28], 1u32.to_le_bytes());
        assert_eq!(InfoHandleBasic::from_bytes(&b), info);
        assert_eq!(info.handle_rights(), Rights::DEFAULT_VCPU);
        assert_eq!(info.obj_type(), ObjType::VCPU);
    }

    #[test]
    fn info_vcpu_image() {
        let info = InfoVcpu {
            flags: INFO_VCPU_FLAG_KICKED,
        };
        assert_eq!(info.to_bytes(), [1, 0, 0, 0]);
        assert_eq!(InfoVcpu::from_bytes(&[1, 0, 0, 0]), info);
    }

    #[test]
    fn zxv_info_image_follows_the_abi_layout() {
        let info = ZxvInfo {
            abi_version: ZXV_ABI_VERSION,
            gic_version: 3,
            num_cpus: 4,
            num_list_registers: 16,
            monitor_base: 0x4000_0000,
            monitor_size: 0x20_0000,
        };
        let b = info.to_bytes();
        assert_eq!(b[0..4], 1u32.to_le_bytes());
        assert_eq!(b[4..8], 3u32.to_le_bytes());
        assert_eq!(b[8..12], 4u32.to_le_bytes());
        assert_eq!(b[12..16], 16u32.to_le_bytes());
        assert_eq!(b[16..24], 0x4000_0000u64.to_le_bytes());
        assert_eq!(b[24..32], 0x20_0000u64.to_le_bytes());
        assert_eq!(ZxvInfo::from_bytes(&b), info);
    }
}

//! `zx_rights_t`: handle rights, their groups and the default rights of each object type
//! (reference §2, docs/abi.md §3).

use core::fmt;
use core::ops::{BitAnd, BitOr, Not};

/// A set of handle rights (`zx_rights_t`).
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rights(u32);

impl Rights {
    /// `ZX_RIGHT_NONE`.
    pub const NONE: Rights = Rights(0);
    /// `ZX_RIGHT_DUPLICATE`.
    pub const DUPLICATE: Rights = Rights(1 << 0);
    /// `ZX_RIGHT_TRANSFER`.
    pub const TRANSFER: Rights = Rights(1 << 1);
    /// `ZX_RIGHT_READ`.
    pub const READ: Rights = Rights(1 << 2);
    /// `ZX_RIGHT_WRITE`.
    pub const WRITE: Rights = Rights(1 << 3);
    /// `ZX_RIGHT_EXECUTE`.
    pub const EXECUTE: Rights = Rights(1 << 4);
    /// `ZX_RIGHT_MAP`.
    pub const MAP: Rights = Rights(1 << 5);
    /// `ZX_RIGHT_GET_PROPERTY`.
    pub const GET_PROPERTY: Rights = Rights(1 << 6);
    /// `ZX_RIGHT_SET_PROPERTY`.
    pub const SET_PROPERTY: Rights = Rights(1 << 7);
    /// `ZX_RIGHT_ENUMERATE`.
    pub const ENUMERATE: Rights = Rights(1 << 8);
    /// `ZX_RIGHT_DESTROY`.
    pub const DESTROY: Rights = Rights(1 << 9);
    /// `ZX_RIGHT_SET_POLICY`.
    pub const SET_POLICY: Rights = Rights(1 << 10);
    /// `ZX_RIGHT_GET_POLICY`.
    pub const GET_POLICY: Rights = Rights(1 << 11);
    /// `ZX_RIGHT_SIGNAL`.
    pub const SIGNAL: Rights = Rights(1 << 12);
    /// `ZX_RIGHT_SIGNAL_PEER`.
    pub const SIGNAL_PEER: Rights = Rights(1 << 13);
    /// `ZX_RIGHT_WAIT`.
    pub const WAIT: Rights = Rights(1 << 14);
    /// `ZX_RIGHT_INSPECT`.
    pub const INSPECT: Rights = Rights(1 << 15);
    /// `ZX_RIGHT_MANAGE_JOB`.
    pub const MANAGE_JOB: Rights = Rights(1 << 16);
    /// `ZX_RIGHT_MANAGE_PROCESS`.
    pub const MANAGE_PROCESS: Rights = Rights(1 << 17);
    /// `ZX_RIGHT_MANAGE_THREAD`.
    pub const MANAGE_THREAD: Rights = Rights(1 << 18);
    /// `ZX_RIGHT_APPLY_PROFILE`.
    pub const APPLY_PROFILE: Rights = Rights(1 << 19);
    /// `ZX_RIGHT_MANAGE_SOCKET`.
    pub const MANAGE_SOCKET: Rights = Rights(1 << 20);
    /// `ZX_RIGHT_OP_CHILDREN`.
    pub const OP_CHILDREN: Rights = Rights(1 << 21);
    /// `ZX_RIGHT_RESIZE`.
    pub const RESIZE: Rights = Rights(1 << 22);
    /// `ZX_RIGHT_SAME_RIGHTS`: for `zx_handle_duplicate`, keep the source handle's rights.
    pub const SAME_RIGHTS: Rights = Rights(1 << 31);

    /// `ZX_RIGHTS_BASIC`: transfer, duplicate, wait, inspect.
    pub const BASIC: Rights = Self::TRANSFER
        .union(Self::DUPLICATE)
        .union(Self::WAIT)
        .union(Self::INSPECT);
    /// `ZX_RIGHTS_IO`: read, write.
    pub const IO: Rights = Self::READ.union(Self::WRITE);
    /// `ZX_RIGHTS_PROPERTY`: get and set property.
    pub const PROPERTY: Rights = Self::GET_PROPERTY.union(Self::SET_PROPERTY);
    /// `ZX_RIGHTS_POLICY`: get and set policy.
    pub const POLICY: Rights = Self::GET_POLICY.union(Self::SET_POLICY);

    /// `ZX_DEFAULT_GUEST_RIGHTS` (F2023): transfer, duplicate, write, inspect, manage thread.
    pub const DEFAULT_GUEST: Rights = Self::TRANSFER
        .union(Self::DUPLICATE)
        .union(Self::WRITE)
        .union(Self::INSPECT)
        .union(Self::MANAGE_THREAD);
    /// `ZX_DEFAULT_VCPU_RIGHTS`: basic, I/O, execute, signal.
    pub const DEFAULT_VCPU: Rights = Self::BASIC
        .union(Self::IO)
        .union(Self::EXECUTE)
        .union(Self::SIGNAL);
    /// `ZX_DEFAULT_PORT_RIGHTS`: basic without wait, plus I/O.
    pub const DEFAULT_PORT: Rights = Self::BASIC.difference(Self::WAIT).union(Self::IO);
    /// `ZX_DEFAULT_RESOURCE_RIGHTS`: transfer, duplicate, write, inspect. Not in the
    /// reference; taken from Fuchsia's `zircon/rights.h` (2023).
    pub const DEFAULT_RESOURCE: Rights = Self::TRANSFER
        .union(Self::DUPLICATE)
        .union(Self::WRITE)
        .union(Self::INSPECT);
    /// `ZX_DEFAULT_VMO_RIGHTS`: basic, I/O, property, map, signal. Not in the reference;
    /// taken from Fuchsia's `zircon/rights.h` (2023).
    pub const DEFAULT_VMO: Rights = Self::BASIC
        .union(Self::IO)
        .union(Self::PROPERTY)
        .union(Self::MAP)
        .union(Self::SIGNAL);
    /// `ZX_DEFAULT_VMAR_RIGHTS`: basic without wait, plus op-children. Not in the reference;
    /// taken from Fuchsia's `zircon/rights.h` (2023). Zircon adds read, write and execute to
    /// a VMAR handle according to the permissions the VMAR may map.
    pub const DEFAULT_VMAR: Rights = Self::BASIC.difference(Self::WAIT).union(Self::OP_CHILDREN);

    /// The raw `zx_rights_t`.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Wraps a raw `zx_rights_t`; every bit pattern is accepted.
    pub const fn from_bits(bits: u32) -> Rights {
        Rights(bits)
    }

    /// True if every right in `other` is also in `self`.
    pub const fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if no right is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The rights in `self` or in `other` (usable in `const` context, unlike `|`).
    pub const fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    /// The rights in `self` but not in `other`.
    pub const fn difference(self, other: Rights) -> Rights {
        Rights(self.0 & !other.0)
    }
}

impl BitOr for Rights {
    type Output = Rights;
    fn bitor(self, rhs: Rights) -> Rights {
        self.union(rhs)
    }
}

impl BitAnd for Rights {
    type Output = Rights;
    fn bitand(self, rhs: Rights) -> Rights {
        Rights(self.0 & rhs.0)
    }
}

impl Not for Rights {
    type Output = Rights;
    fn not(self) -> Rights {
        Rights(!self.0)
    }
}

impl fmt::Debug for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rights({:#x})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_rights_match_the_reference() {
        let expected = [
            (Rights::NONE, 0x0),
            (Rights::DUPLICATE, 0x1),
            (Rights::TRANSFER, 0x2),
            (Rights::READ, 0x4),
            (Rights::WRITE, 0x8),
            (Rights::EXECUTE, 0x10),
            (Rights::MAP, 0x20),
            (Rights::GET_PROPERTY, 0x40),
            (Rights::SET_PROPERTY, 0x80),
            (Rights::ENUMERATE, 0x100),
            (Rights::DESTROY, 0x200),
            (Rights::SET_POLICY, 0x400),
            (Rights::GET_POLICY, 0x800),
            (Rights::SIGNAL, 0x1000),
            (Rights::SIGNAL_PEER, 0x2000),
            (Rights::WAIT, 0x4000),
            (Rights::INSPECT, 0x8000),
            (Rights::MANAGE_JOB, 0x10000),
            (Rights::MANAGE_PROCESS, 0x20000),
            (Rights::MANAGE_THREAD, 0x40000),
            (Rights::APPLY_PROFILE, 0x80000),
            (Rights::MANAGE_SOCKET, 0x100000),
            (Rights::OP_CHILDREN, 0x200000),
            (Rights::RESIZE, 0x400000),
            (Rights::SAME_RIGHTS, 0x8000_0000),
        ];
        for (rights, bits) in expected {
            assert_eq!(rights.bits(), bits, "{rights:?}");
        }
    }

    #[test]
    fn groups_and_defaults_match_the_reference() {
        assert_eq!(Rights::BASIC.bits(), 0xC003);
        assert_eq!(Rights::IO.bits(), 0xC);
        assert_eq!(Rights::PROPERTY.bits(), 0xC0);
        assert_eq!(Rights::POLICY.bits(), 0xC00);
        assert_eq!(Rights::DEFAULT_GUEST.bits(), 0x4800B);
        assert_eq!(Rights::DEFAULT_VCPU.bits(), 0xD01F);
        assert_eq!(Rights::DEFAULT_PORT.bits(), 0x800F);
        assert_eq!(Rights::DEFAULT_RESOURCE.bits(), 0x800B);
        assert_eq!(Rights::DEFAULT_VMO.bits(), 0xD0EF);
        assert_eq!(Rights::DEFAULT_VMAR.bits(), 0x20_8003);
    }

    #[test]
    fn set_operations() {
        let rw = Rights::READ | Rights::WRITE;
        assert_eq!(rw, Rights::IO);
        assert!(Rights::DEFAULT_VCPU.contains(rw));
        assert!(!Rights::DEFAULT_GUEST.contains(Rights::READ));
        assert!(rw.contains(Rights::NONE));
        assert_eq!(rw & Rights::WRITE, Rights::WRITE);
        assert_eq!((!Rights::WAIT).bits(), 0xFFFF_BFFF);
        assert_eq!(Rights::from_bits(0x1234).bits(), 0x1234);
        assert!(Rights::NONE.is_empty() && !Rights::READ.is_empty());
        assert_eq!(format!("{:?}", Rights::BASIC), "Rights(0xc003)");
    }
}

//! Guest and vCPU call arguments: trap kinds, options, state kinds, mapping flags, limits, and
//! the arm64 `zx_vcpu_state_t` / `zx_vcpu_io_t` records (reference §4, docs/abi.md §4).

use core::mem::{offset_of, size_of};

use crate::wire::{read_u32, read_u64, write_u32, write_u64};
use crate::Rights;

/// `ZX_GUEST_TRAP_BELL`: asynchronous write trap, delivered to a port.
pub const GUEST_TRAP_BELL: u32 = 0;
/// `ZX_GUEST_TRAP_MEM`: synchronous trap, returned from `zx_vcpu_enter`.
pub const GUEST_TRAP_MEM: u32 = 1;
/// `ZX_GUEST_TRAP_IO`: x86 port I/O; `ZX_ERR_NOT_SUPPORTED` on arm64.
pub const GUEST_TRAP_IO: u32 = 2;

/// `ZX_GUEST_OPT_NORMAL`: the only `zx_guest_create` option accepted on arm64.
pub const GUEST_OPT_NORMAL: u32 = 0;
/// `ZX_GUEST_OPT_DIRECT`: x86 only; `ZX_ERR_INVALID_ARGS` on arm64.
pub const GUEST_OPT_DIRECT: u32 = 1;

/// `ZX_VCPU_STATE`: state kind for a [`VcpuState`].
pub const VCPU_STATE: u32 = 0;
/// `ZX_VCPU_IO`: state kind for a [`VcpuIo`] (write only).
pub const VCPU_IO: u32 = 1;

/// `ZXV_VCPU_TIMER_PPIS` (a zxvisor extension, docs/abi.md §6): the state kind for a
/// [`TimerPpis`], the guest timers' interrupts, whose state lives in the monitor.
pub const ZXV_VCPU_TIMER_PPIS: u32 = 0x7A58_0002;
/// The guest timers' PPIs in [`TimerPpis`] masks: the EL1 virtual (27) and physical (30) timers.
pub const TIMER_PPI_MASK: u32 = 1 << 27 | 1 << 30;

/// The guest timers' interrupts as a GIC model shows them, bit n for INTID n (only the bits of
/// [`TIMER_PPI_MASK`] are used). Read: what the guest's GICR_ISENABLER0/ISPENDR0/ISACTIVER0
/// (GICD_ on GICv2) show for them. Written: `enabled` only, the guest's enables (the monitor
/// delivers a timer interrupt only while it is enabled); the other fields must be 0.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TimerPpis {
    /// Enabled in the guest's GIC (written by the VMM; reads back what was written).
    pub enabled: u32,
    /// Pending: the timer's condition holds, or the interrupt waits in a list register.
    pub pending: u32,
    /// Active: the guest acknowledged it and has not deactivated it yet.
    pub active: u32,
    /// Always 0.
    pub reserved: u32,
}

const _: () = assert!(size_of::<TimerPpis>() == 16);

impl TimerPpis {
    /// Size in bytes.
    pub const SIZE: usize = 16;

    /// The memory image as two little-endian 64-bit words.
    pub fn to_words(&self) -> [u64; 2] {
        [
            u64::from(self.enabled) | u64::from(self.pending) << 32,
            u64::from(self.active) | u64::from(self.reserved) << 32,
        ]
    }

    /// The structure held in two little-endian 64-bit words.
    pub fn from_words(w: &[u64; 2]) -> Self {
        Self {
            enabled: w[0] as u32,
            pending: (w[0] >> 32) as u32,
            active: w[1] as u32,
            reserved: (w[1] >> 32) as u32,
        }
    }
}

/// `ZXV_VCPU_WFI` (a zxvisor extension, docs/abi.md §6): the state kind for a [`VcpuWfi`],
/// whether the vCPU's WFI gives its CPU back to the host instead of waiting in the monitor.
pub const ZXV_VCPU_WFI: u32 = 0x7A58_0003;
/// [`VcpuWfi::flags`]: a WFI that would wait makes `zx_vcpu_enter` return
/// `ZX_ERR_SHOULD_WAIT` instead.
pub const VCPU_WFI_YIELD: u32 = 1;

/// A vCPU's WFI as the host sees it. Written: `flags` only ([`VCPU_WFI_YIELD`] or 0), the other
/// fields 0. Read: `flags` as written, and `deadline`, the counter value (CNTPCT) at which the
/// guest's timers would have ended the last WFI that returned `ZX_ERR_SHOULD_WAIT`
/// (`u64::MAX`: no timer armed).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct VcpuWfi {
    /// [`VCPU_WFI_YIELD`] or 0.
    pub flags: u32,
    /// Always 0.
    pub reserved: u32,
    /// Read: the last yielding WFI's deadline (counter ticks, `u64::MAX` for none); written: 0.
    pub deadline: u64,
}

const _: () = assert!(size_of::<VcpuWfi>() == 16);

impl VcpuWfi {
    /// Size in bytes.
    pub const SIZE: usize = 16;

    /// The memory image as two little-endian 64-bit words.
    pub fn to_words(&self) -> [u64; 2] {
        [
            u64::from(self.flags) | u64::from(self.reserved) << 32,
            self.deadline,
        ]
    }

    /// The structure held in two little-endian 64-bit words.
    pub fn from_words(w: &[u64; 2]) -> Self {
        Self {
            flags: w[0] as u32,
            reserved: (w[0] >> 32) as u32,
            deadline: w[1],
        }
    }
}

/// `ZX_VM_PERM_READ`.
pub const VM_PERM_READ: u32 = 1;
/// `ZX_VM_PERM_WRITE`.
pub const VM_PERM_WRITE: u32 = 2;
/// `ZX_VM_PERM_EXECUTE`.
pub const VM_PERM_EXECUTE: u32 = 4;
/// `ZX_VM_SPECIFIC`: map at exactly `vmar_offset`.
pub const VM_SPECIFIC: u32 = 0x400;

/// The rights a VMAR (and a VMO) handle needs to map with, or protect to,
/// the `ZX_VM_PERM_*` bits of `perms`: READ, WRITE, EXECUTE for each.
pub const fn vm_perm_rights(perms: u32) -> Rights {
    let mut r = Rights::NONE;
    if perms & VM_PERM_READ != 0 {
        r = r.union(Rights::READ);
    }
    if perms & VM_PERM_WRITE != 0 {
        r = r.union(Rights::WRITE);
    }
    if perms & VM_PERM_EXECUTE != 0 {
        r = r.union(Rights::EXECUTE);
    }
    r
}

/// Size of the guest-physical address space (the guest VMAR): 64 GiB, a 36-bit IPA.
pub const GUEST_PHYS_ASPACE_SIZE: u64 = 1 << 36;
/// Most vCPUs one guest may have.
pub const MAX_VCPUS_PER_GUEST: usize = 8;
/// Number of interrupt vectors (GIC INTIDs) `zx_vcpu_interrupt` accepts: `0..NUM_INTERRUPTS`.
pub const NUM_INTERRUPTS: u32 = 256;

/// The `cpsr` bits of a [`VcpuState`] that carry state: NZCV, bits 31:28.
pub const CPSR_NZCV_MASK: u32 = 0xF000_0000;

/// arm64 `zx_vcpu_state_t`, 264 bytes.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct VcpuState {
    /// X0..X30.
    pub x: [u64; 31],
    /// The guest's SP_EL1.
    pub sp: u64,
    /// NZCV in bits 31:28 ([`CPSR_NZCV_MASK`]); every other bit is zero.
    pub cpsr: u32,
    /// Always zero.
    pub padding1: [u8; 4],
}

const _: () = {
    assert!(size_of::<VcpuState>() == 264);
    assert!(offset_of!(VcpuState, x) == 0);
    assert!(offset_of!(VcpuState, sp) == 248);
    assert!(offset_of!(VcpuState, cpsr) == 256);
    assert!(offset_of!(VcpuState, padding1) == 260);
};

impl VcpuState {
    /// Size of the C structure in bytes.
    pub const SIZE: usize = 264;
    /// Size in 64-bit words.
    pub const WORDS: usize = 33;

    /// The structure's memory image.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        for (i, x) in self.x.iter().enumerate() {
            write_u64(&mut b, i * 8, *x);
        }
        write_u64(&mut b, 248, self.sp);
        write_u32(&mut b, 256, self.cpsr);
        b[260..264].copy_from_slice(&self.padding1);
        b
    }

    /// The memory image as little-endian 64-bit words (what a copy by words
    /// moves): x[0..31], sp, then cpsr and the padding.
    #[inline]
    pub fn to_words(&self) -> [u64; Self::WORDS] {
        let mut w = [0; Self::WORDS];
        w[..31].copy_from_slice(&self.x);
        w[31] = self.sp;
        w[32] = self.cpsr as u64 | (u32::from_le_bytes(self.padding1) as u64) << 32;
        w
    }

    /// The structure held in a memory image of little-endian 64-bit words.
    #[inline]
    pub fn from_words(w: &[u64; Self::WORDS]) -> Self {
        let mut x = [0; 31];
        x.copy_from_slice(&w[..31]);
        VcpuState {
            x,
            sp: w[31],
            cpsr: w[32] as u32,
            padding1: ((w[32] >> 32) as u32).to_le_bytes(),
        }
    }

    /// The structure held in a memory image.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let mut x = [0; 31];
        for (i, reg) in x.iter_mut().enumerate() {
            *reg = read_u64(b, i * 8);
        }
        VcpuState {
            x,
            sp: read_u64(b, 248),
            cpsr: read_u32(b, 256),
            padding1: [b[260], b[261], b[262], b[263]],
        }
    }
}

/// arm64 `zx_vcpu_io_t`, 16 bytes: completes the MMIO read of the last `GUEST_MEM` exit.
/// (Zircon's x86 form is 8 bytes; this ABI uses a 64-bit `data`.)
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct VcpuIo {
    /// Bytes read: 1, 2, 4 or 8, equal to the pending access's size.
    pub access_size: u8,
    /// Always zero.
    pub padding1: [u8; 7],
    /// The value read, in the low `access_size` bytes.
    pub data: u64,
}

const _: () = {
    assert!(size_of::<VcpuIo>() == 16);
    assert!(offset_of!(VcpuIo, access_size) == 0);
    assert!(offset_of!(VcpuIo, padding1) == 1);
    assert!(offset_of!(VcpuIo, data) == 8);
};

impl VcpuIo {
    /// Size of the C structure in bytes.
    pub const SIZE: usize = 16;
    /// Size in 64-bit words.
    pub const WORDS: usize = 2;

    /// The structure held in a memory image of little-endian 64-bit words.
    pub fn from_words(w: &[u64; Self::WORDS]) -> Self {
        let b = w[0].to_le_bytes();
        VcpuIo {
            access_size: b[0],
            padding1: [b[1], b[2], b[3], b[4], b[5], b[6], b[7]],
            data: w[1],
        }
    }

    /// A completion record of `access_size` bytes holding `data`.
    pub const fn new(access_size: u8, data: u64) -> Self {
        VcpuIo {
            access_size,
            padding1: [0; 7],
            data,
        }
    }

    /// The structure's memory image.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        b[0] = self.access_size;
        b[1..8].copy_from_slice(&self.padding1);
        write_u64(&mut b, 8, self.data);
        b
    }

    /// The structure held in a memory image.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let mut padding1 = [0; 7];
        padding1.copy_from_slice(&b[1..8]);
        VcpuIo {
            access_size: b[0],
            padding1,
            data: read_u64(b, 8),
        }
    }
}

#[cfg(test)]
mod timer_ppis_tests {
    use super::*;

    #[test]
    fn words_round_trip_in_field_order() {
        let t = TimerPpis {
            enabled: 1,
            pending: 2,
            active: 3,
            reserved: 4,
        };
        assert_eq!(t.to_words(), [1 | 2 << 32, 3 | 4 << 32]);
        assert_eq!(TimerPpis::from_words(&t.to_words()), t);
    }

    #[test]
    fn vcpu_wfi_words_round_trip_in_field_order() {
        let w = VcpuWfi {
            flags: VCPU_WFI_YIELD,
            reserved: 2,
            deadline: 3,
        };
        assert_eq!(w.to_words(), [1 | 2 << 32, 3]);
        assert_eq!(VcpuWfi::from_words(&w.to_words()), w);
        assert_eq!(core::mem::offset_of!(VcpuWfi, deadline), 8);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn vm_perm_rights_names_a_right_per_permission() {
        assert_eq!(vm_perm_rights(0), Rights::NONE);
        assert_eq!(vm_perm_rights(VM_PERM_READ | VM_SPECIFIC), Rights::READ);
        assert_eq!(
            vm_perm_rights(VM_PERM_READ | VM_PERM_WRITE | VM_PERM_EXECUTE),
            Rights::READ.union(Rights::WRITE).union(Rights::EXECUTE)
        );
        assert_eq!(vm_perm_rights(VM_PERM_EXECUTE), Rights::EXECUTE);
    }

    /// Little-endian words of a byte image, as a copy by words sees it.
    fn le_words<const W: usize>(bytes: &[u8]) -> [u64; W] {
        core::array::from_fn(|i| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap()))
    }

    #[test]
    fn vcpu_state_words_are_its_memory_image() {
        let mut s = VcpuState {
            sp: 0x1122_3344_5566_7788,
            cpsr: 0x6000_0000,
            padding1: [1, 2, 3, 4],
            ..Default::default()
        };
        for (i, x) in s.x.iter_mut().enumerate() {
            *x = 0x0101_0101_0101_0101 * i as u64;
        }
        assert_eq!(s.to_words(), le_words::<33>(&s.to_bytes()));
        assert_eq!(VcpuState::from_words(&s.to_words()), s);
    }

    #[test]
    fn vcpu_io_words_are_its_memory_image() {
        let io = VcpuIo {
            access_size: 4,
            padding1: [0, 0, 0, 0, 0, 0, 9],
            data: 0xdead_beef,
        };
        assert_eq!(VcpuIo::from_words(&le_words::<2>(&io.to_bytes())), io);
    }

    use super::*;

    #[test]
    fn constants_match_the_reference() {
        assert_eq!((GUEST_TRAP_BELL, GUEST_TRAP_MEM, GUEST_TRAP_IO), (0, 1, 2));
        assert_eq!((GUEST_OPT_NORMAL, GUEST_OPT_DIRECT), (0, 1));
        assert_eq!((VCPU_STATE, VCPU_IO), (0, 1));
        assert_eq!((VM_PERM_READ, VM_PERM_WRITE, VM_PERM_EXECUTE), (1, 2, 4));
        assert_eq!(VM_SPECIFIC, 0x400);
        assert_eq!(GUEST_PHYS_ASPACE_SIZE, 0x10_0000_0000);
        assert_eq!(MAX_VCPUS_PER_GUEST, 8);
        assert_eq!(NUM_INTERRUPTS, 256);
        assert_eq!(CPSR_NZCV_MASK, 0xF000_0000);
    }

    #[test]
    fn vcpu_state_image_follows_the_c_layout() {
        let mut state = VcpuState::default();
        for (i, x) in state.x.iter_mut().enumerate() {
            *x = 0x0101_0101_0101_0101 * (i as u64 + 1);
        }
        state.sp = 0xDEAD_BEEF_0000_0040;
        state.cpsr = 0x6000_0000;
        let b = state.to_bytes();
        assert_eq!(b[0..8], 0x0101_0101_0101_0101u64.to_le_bytes());
        assert_eq!(b[240..248], (0x0101_0101_0101_0101u64 * 31).to_le_bytes());
        assert_eq!(b[248..256], 0xDEAD_BEEF_0000_0040u64.to_le_bytes());
        assert_eq!(b[256..260], 0x6000_0000u32.to_le_bytes());
        assert_eq!(b[260..264], [0; 4]);
        assert_eq!(VcpuState::from_bytes(&b), state);
    }

    #[test]
    fn vcpu_io_image_follows_the_abi_layout() {
        let io = VcpuIo::new(2, 0x8000);
        let b = io.to_bytes();
        assert_eq!(b[0], 2);
        assert_eq!(b[1..8], [0; 7]);
        assert_eq!(b[8..16], 0x8000u64.to_le_bytes());
        assert_eq!(VcpuIo::from_bytes(&b), io);
    }
}

//! Port packets: `zx_port_packet_t`, the payloads the hypervisor produces, and the
//! `zx_port_wait` deadlines (reference §4.1, §4.4).
//!
//! The payload is kept as four `u64` words, as the C union's memory image; each payload
//! structure converts to and from those words, so no `unsafe` reinterpretation is needed.

use core::mem::{offset_of, size_of};

use crate::wire::{read_u32, read_u64, write_u32, write_u64};

/// `ZX_PKT_TYPE_USER`: queued by `zx_port_queue`.
pub const PKT_TYPE_USER: u32 = 0x00;
/// `ZX_PKT_TYPE_SIGNAL_ONE`.
pub const PKT_TYPE_SIGNAL_ONE: u32 = 0x01;
/// `ZX_PKT_TYPE_GUEST_BELL`: a guest write to a BELL trap.
pub const PKT_TYPE_GUEST_BELL: u32 = 0x03;
/// `ZX_PKT_TYPE_GUEST_MEM`: a guest access to a MEM trap.
pub const PKT_TYPE_GUEST_MEM: u32 = 0x04;
/// `ZX_PKT_TYPE_GUEST_IO`: x86 port I/O.
pub const PKT_TYPE_GUEST_IO: u32 = 0x05;
/// `ZX_PKT_TYPE_GUEST_VCPU`: a vCPU request (startup, SGI).
pub const PKT_TYPE_GUEST_VCPU: u32 = 0x06;
/// `ZX_PKT_TYPE_INTERRUPT`.
pub const PKT_TYPE_INTERRUPT: u32 = 0x07;

/// `ZX_PKT_GUEST_VCPU_INTERRUPT`: the guest sent an SGI to the vCPUs in `mask`.
pub const PKT_GUEST_VCPU_INTERRUPT: u32 = 0;
/// `ZX_PKT_GUEST_VCPU_STARTUP`: the guest asked (PSCI CPU_ON) to start a vCPU.
pub const PKT_GUEST_VCPU_STARTUP: u32 = 1;
/// `ZX_PKT_GUEST_VCPU_EXIT`: x86 direct mode only.
pub const PKT_GUEST_VCPU_EXIT: u32 = 2;

/// `ZX_TIME_INFINITE`: a `zx_port_wait` deadline that never passes.
pub const TIME_INFINITE: i64 = i64::MAX;
/// `ZX_TIME_INFINITE_PAST`: a `zx_port_wait` deadline that has always passed (poll).
pub const TIME_INFINITE_PAST: i64 = i64::MIN;

/// `zx_port_packet_t`, 48 bytes.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PortPacket {
    /// The trap or user key; 0 for `GUEST_VCPU` packets.
    pub key: u64,
    /// A `PKT_TYPE_*` value; selects the payload.
    pub type_: u32,
    /// A `zx_status_t`; 0 for hypervisor packets.
    pub status: i32,
    /// The payload union's memory image.
    pub payload: [u64; 4],
}

const _: () = {
    assert!(size_of::<PortPacket>() == 48);
    assert!(core::mem::align_of::<PortPacket>() == 8);
    assert!(offset_of!(PortPacket, key) == 0);
    assert!(offset_of!(PortPacket, type_) == 8);
    assert!(offset_of!(PortPacket, status) == 12);
    assert!(offset_of!(PortPacket, payload) == 16);
};

impl PortPacket {
    /// Size of the C structure in bytes.
    pub const SIZE: usize = 48;
    /// Size in 64-bit words.
    pub const WORDS: usize = 6;

    /// The memory image as little-endian 64-bit words.
    pub const fn to_words(&self) -> [u64; Self::WORDS] {
        let p = self.payload;
        [
            self.key,
            self.type_ as u64 | (self.status as u32 as u64) << 32,
            p[0],
            p[1],
            p[2],
            p[3],
        ]
    }

    /// The structure held in a memory image of little-endian 64-bit words.
    pub const fn from_words(w: &[u64; Self::WORDS]) -> Self {
        PortPacket {
            key: w[0],
            type_: w[1] as u32,
            status: (w[1] >> 32) as u32 as i32,
            payload: [w[2], w[3], w[4], w[5]],
        }
    }

    /// A `PKT_TYPE_USER` packet carrying `words`.
    pub const fn new_user(key: u64, words: [u64; 4]) -> Self {
        PortPacket {
            key,
            type_: PKT_TYPE_USER,
            status: 0,
            payload: words,
        }
    }

    /// A `PKT_TYPE_GUEST_BELL` packet.
    pub const fn new_guest_bell(key: u64, bell: PacketGuestBell) -> Self {
        PortPacket {
            key,
            type_: PKT_TYPE_GUEST_BELL,
            status: 0,
            payload: bell.to_words(),
        }
    }

    /// A `PKT_TYPE_GUEST_MEM` packet.
    pub const fn new_guest_mem(key: u64, mem: PacketGuestMem) -> Self {
        PortPacket {
            key,
            type_: PKT_TYPE_GUEST_MEM,
            status: 0,
            payload: mem.to_words(),
        }
    }

    /// A `PKT_TYPE_GUEST_VCPU` packet (the monitor uses key 0).
    pub const fn new_guest_vcpu(key: u64, vcpu: PacketGuestVcpu) -> Self {
        PortPacket {
            key,
            type_: PKT_TYPE_GUEST_VCPU,
            status: 0,
            payload: vcpu.to_words(),
        }
    }

    /// The payload read as a user packet, whatever `type_` says.
    pub const fn user(&self) -> PacketUser {
        PacketUser { u64: self.payload }
    }

    /// The payload read as a guest bell packet, whatever `type_` says.
    pub const fn guest_bell(&self) -> PacketGuestBell {
        PacketGuestBell::from_words(self.payload)
    }

    /// The payload read as a guest memory packet, whatever `type_` says.
    pub const fn guest_mem(&self) -> PacketGuestMem {
        PacketGuestMem::from_words(self.payload)
    }

    /// The payload read as a guest vCPU packet, whatever `type_` says.
    pub const fn guest_vcpu(&self) -> PacketGuestVcpu {
        PacketGuestVcpu::from_words(self.payload)
    }

    /// The structure's memory image.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        write_u64(&mut b, 0, self.key);
        write_u32(&mut b, 8, self.type_);
        write_u32(&mut b, 12, self.status as u32);
        for (i, word) in self.payload.iter().enumerate() {
            write_u64(&mut b, 16 + i * 8, *word);
        }
        b
    }

    /// The structure held in a memory image.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let mut payload = [0; 4];
        for (i, word) in payload.iter_mut().enumerate() {
            *word = read_u64(b, 16 + i * 8);
        }
        PortPacket {
            key: read_u64(b, 0),
            type_: read_u32(b, 8),
            status: read_u32(b, 12) as i32,
            payload,
        }
    }
}

/// `zx_packet_user_t`: 32 bytes of caller data.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PacketUser {
    /// The data as four `u64` words.
    pub u64: [u64; 4],
}

const _: () = assert!(size_of::<PacketUser>() == 32);

/// `zx_packet_guest_bell_t`, 32 bytes.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PacketGuestBell {
    /// Exact guest-physical address of the write.
    pub addr: u64,
    /// Always zero.
    pub reserved0: u64,
    /// Always zero.
    pub reserved1: u64,
    /// Always zero.
    pub reserved2: u64,
}

const _: () = {
    assert!(size_of::<PacketGuestBell>() == 32);
    assert!(offset_of!(PacketGuestBell, addr) == 0);
    assert!(offset_of!(PacketGuestBell, reserved0) == 8);
    assert!(offset_of!(PacketGuestBell, reserved1) == 16);
    assert!(offset_of!(PacketGuestBell, reserved2) == 24);
};

impl PacketGuestBell {
    /// A bell packet for a write to `addr`.
    pub const fn new(addr: u64) -> Self {
        PacketGuestBell {
            addr,
            reserved0: 0,
            reserved1: 0,
            reserved2: 0,
        }
    }

    /// The packet as the payload words of a [`PortPacket`].
    pub const fn to_words(&self) -> [u64; 4] {
        [self.addr, self.reserved0, self.reserved1, self.reserved2]
    }

    /// The packet held in payload words.
    pub const fn from_words(w: [u64; 4]) -> Self {
        PacketGuestBell {
            addr: w[0],
            reserved0: w[1],
            reserved1: w[2],
            reserved2: w[3],
        }
    }
}

/// arm64 `zx_packet_guest_mem_t`, 32 bytes. The C `bool` fields are `u8` here (0 or 1);
/// [`sign_extend`](Self::sign_extend) and [`read`](Self::read) give them as `bool`.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PacketGuestMem {
    /// Exact guest-physical address of the access.
    pub addr: u64,
    /// Bytes accessed: 1, 2, 4 or 8.
    pub access_size: u8,
    /// Nonzero if a read must be sign-extended (ESR.ISS.SSE).
    pub sign_extend: u8,
    /// The transfer register (ESR.ISS.SRT); 31 is XZR/WZR.
    pub xt: u8,
    /// Nonzero for a read, zero for a write.
    pub read: u8,
    /// Always zero.
    pub padding1: [u8; 4],
    /// For a write, the full 64-bit value of `X[xt]` (0 for XZR); 0 for a read.
    pub data: u64,
    /// Always zero.
    pub reserved: u64,
}

const _: () = {
    assert!(size_of::<PacketGuestMem>() == 32);
    assert!(offset_of!(PacketGuestMem, addr) == 0);
    assert!(offset_of!(PacketGuestMem, access_size) == 8);
    assert!(offset_of!(PacketGuestMem, sign_extend) == 9);
    assert!(offset_of!(PacketGuestMem, xt) == 10);
    assert!(offset_of!(PacketGuestMem, read) == 11);
    assert!(offset_of!(PacketGuestMem, padding1) == 12);
    assert!(offset_of!(PacketGuestMem, data) == 16);
    assert!(offset_of!(PacketGuestMem, reserved) == 24);
};

impl PacketGuestMem {
    /// A memory packet; `data` is the stored value for a write and 0 for a read.
    pub const fn new(
        addr: u64,
        access_size: u8,
        sign_extend: bool,
        xt: u8,
        read: bool,
        data: u64,
    ) -> Self {
        PacketGuestMem {
            addr,
            access_size,
            sign_extend: sign_extend as u8,
            xt,
            read: read as u8,
            padding1: [0; 4],
            data,
            reserved: 0,
        }
    }

    /// True if a read must be sign-extended.
    pub const fn sign_extend(&self) -> bool {
        self.sign_extend != 0
    }

    /// True for a read, false for a write.
    pub const fn read(&self) -> bool {
        self.read != 0
    }

    /// The packet as the payload words of a [`PortPacket`].
    pub const fn to_words(&self) -> [u64; 4] {
        let p = self.padding1;
        let flags = u64::from_le_bytes([
            self.access_size,
            self.sign_extend,
            self.xt,
            self.read,
            p[0],
            p[1],
            p[2],
            p[3],
        ]);
        [self.addr, flags, self.data, self.reserved]
    }

    /// The packet held in payload words.
    pub const fn from_words(w: [u64; 4]) -> Self {
        let f = w[1].to_le_bytes();
        PacketGuestMem {
            addr: w[0],
            access_size: f[0],
            sign_extend: f[1],
            xt: f[2],
            read: f[3],
            padding1: [f[4], f[5], f[6], f[7]],
            data: w[2],
            reserved: w[3],
        }
    }
}

/// `zx_packet_guest_vcpu_t` (F2020+ layout), 32 bytes. The C union at offset 8 is kept as
/// the two words `a` and `b`; the accessors name them per packet type.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PacketGuestVcpu {
    /// A `PKT_GUEST_VCPU_*` value.
    pub type_: u32,
    /// Always zero.
    pub padding1: [u8; 4],
    /// `interrupt.mask` or `startup.id`.
    pub a: u64,
    /// `interrupt.vector` (low byte, the rest zero) or `startup.entry`.
    pub b: u64,
    /// Always zero.
    pub reserved: u64,
}

const _: () = {
    assert!(size_of::<PacketGuestVcpu>() == 32);
    assert!(offset_of!(PacketGuestVcpu, type_) == 0);
    assert!(offset_of!(PacketGuestVcpu, padding1) == 4);
    assert!(offset_of!(PacketGuestVcpu, a) == 8);
    assert!(offset_of!(PacketGuestVcpu, b) == 16);
    assert!(offset_of!(PacketGuestVcpu, reserved) == 24);
};

impl PacketGuestVcpu {
    /// A `PKT_GUEST_VCPU_INTERRUPT` request: raise `vector` on the vCPUs in `mask`.
    pub const fn interrupt(mask: u64, vector: u8) -> Self {
        PacketGuestVcpu {
            type_: PKT_GUEST_VCPU_INTERRUPT,
            padding1: [0; 4],
            a: mask,
            b: vector as u64,
            reserved: 0,
        }
    }

    /// A `PKT_GUEST_VCPU_STARTUP` request: start the vCPU with MPIDR `id` at `entry`.
    pub const fn startup(id: u64, entry: u64) -> Self {
        PacketGuestVcpu {
            type_: PKT_GUEST_VCPU_STARTUP,
            padding1: [0; 4],
            a: id,
            b: entry,
            reserved: 0,
        }
    }

    /// `interrupt.mask`: the target vCPUs, one bit per vCPU.
    pub const fn interrupt_mask(&self) -> u64 {
        self.a
    }

    /// `interrupt.vector`: the SGI's INTID.
    pub const fn interrupt_vector(&self) -> u8 {
        self.b as u8
    }

    /// `startup.id`: the target vCPU's MPIDR.
    pub const fn startup_id(&self) -> u64 {
        self.a
    }

    /// `startup.entry`: the guest-physical entry point.
    pub const fn startup_entry(&self) -> u64 {
        self.b
    }

    /// The packet as the payload words of a [`PortPacket`].
    pub const fn to_words(&self) -> [u64; 4] {
        let t = self.type_.to_le_bytes();
        let p = self.padding1;
        let head = u64::from_le_bytes([t[0], t[1], t[2], t[3], p[0], p[1], p[2], p[3]]);
        [head, self.a, self.b, self.reserved]
    }

    /// The packet held in payload words.
    pub const fn from_words(w: [u64; 4]) -> Self {
        let h = w[0].to_le_bytes();
        PacketGuestVcpu {
            type_: u32::from_le_bytes([h[0], h[1], h[2], h[3]]),
            padding1: [h[4], h[5], h[6], h[7]],
            a: w[1],
            b: w[2],
            reserved: w[3],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where a payload field lands in the 48-byte packet image, per the C layout.
    fn at_payload(offset_in_union: usize) -> usize {
        offset_of!(PortPacket, payload) + offset_in_union
    }

    #[test]
    fn constants_match_the_reference() {
        assert_eq!(PKT_TYPE_USER, 0);
        assert_eq!(PKT_TYPE_SIGNAL_ONE, 1);
        assert_eq!(PKT_TYPE_GUEST_BELL, 3);
        assert_eq!(PKT_TYPE_GUEST_MEM, 4);
        assert_eq!(PKT_TYPE_GUEST_IO, 5);
        assert_eq!(PKT_TYPE_GUEST_VCPU, 6);
        assert_eq!(PKT_TYPE_INTERRUPT, 7);
        assert_eq!(
            (
                PKT_GUEST_VCPU_INTERRUPT,
                PKT_GUEST_VCPU_STARTUP,
                PKT_GUEST_VCPU_EXIT
            ),
            (0, 1, 2)
        );
        assert_eq!(TIME_INFINITE, 0x7FFF_FFFF_FFFF_FFFF);
        assert_eq!(TIME_INFINITE_PAST, -0x8000_0000_0000_0000);
    }

    #[test]
    fn header_image_follows_the_c_layout() {
        let mut packet = PortPacket::new_user(0x0102_0304_0506_0708, [1, 2, 3, 4]);
        packet.status = -11;
        let b = packet.to_bytes();
        assert_eq!(b[0..8], 0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(b[8..12], PKT_TYPE_USER.to_le_bytes());
        assert_eq!(b[12..16], (-11i32).to_le_bytes());
        for i in 0..4 {
            assert_eq!(b[16 + i * 8..24 + i * 8], (i as u64 + 1).to_le_bytes());
        }
        assert_eq!(PortPacket::from_bytes(&b), packet);
        assert_eq!(packet.user(), PacketUser { u64: [1, 2, 3, 4] });
    }

    #[test]
    fn guest_mem_image_follows_the_c_layout() {
        let mem = PacketGuestMem::new(0xFFE_0008, 4, true, 7, false, 0x1122_3344_5566_7788);
        let packet = PortPacket::new_guest_mem(0x1234, mem);
        let b = packet.to_bytes();
        assert_eq!(b[8..12], 4u32.to_le_bytes());
        assert_eq!(b[16..24], 0xFFE_0008u64.to_le_bytes());
        assert_eq!(b[24], 4, "access_size");
        assert_eq!(b[25], 1, "sign_extend");
        assert_eq!(b[26], 7, "xt");
        assert_eq!(b[27], 0, "read");
        assert_eq!(b[28..32], [0; 4]);
        assert_eq!(b[32..40], 0x1122_3344_5566_7788u64.to_le_bytes());
        assert_eq!(b[40..48], [0; 8]);
        assert_eq!(b[at_payload(offset_of!(PacketGuestMem, access_size))], 4);
        assert_eq!(b[at_payload(offset_of!(PacketGuestMem, xt))], 7);
        let data_at = at_payload(offset_of!(PacketGuestMem, data));
        assert_eq!(
            b[data_at..data_at + 8],
            0x1122_3344_5566_7788u64.to_le_bytes()
        );

        let back = PortPacket::from_bytes(&b).guest_mem();
        assert_eq!(back, mem);
        assert!(back.sign_extend());
        assert!(!back.read());
    }

    #[test]
    fn guest_mem_read_flag() {
        let mem = PacketGuestMem::new(0xFFF000, 8, false, 31, true, 0);
        let b = PortPacket::new_guest_mem(0, mem).to_bytes();
        assert_eq!(b[at_payload(offset_of!(PacketGuestMem, read))], 1);
        assert_eq!(b[at_payload(offset_of!(PacketGuestMem, sign_extend))], 0);
        let back = PortPacket::from_bytes(&b).guest_mem();
        assert!(back.read() && !back.sign_extend());
        assert_eq!(back.xt, 31);
    }

    #[test]
    fn guest_bell_image_follows_the_c_layout() {
        let packet = PortPacket::new_guest_bell(0x1234, PacketGuestBell::new(0xFFE000));
        let b = packet.to_bytes();
        assert_eq!(b[0..8], 0x1234u64.to_le_bytes());
        assert_eq!(b[8..12], 3u32.to_le_bytes());
        assert_eq!(b[16..24], 0xFFE000u64.to_le_bytes());
        assert_eq!(b[24..48], [0; 24]);
        assert_eq!(PortPacket::from_bytes(&b).guest_bell().addr, 0xFFE000);
    }

    #[test]
    fn guest_vcpu_interrupt_image_follows_the_c_layout() {
        let packet = PortPacket::new_guest_vcpu(0, PacketGuestVcpu::interrupt(0b1010, 5));
        let b = packet.to_bytes();
        assert_eq!(b[8..12], 6u32.to_le_bytes());
        assert_eq!(b[16..20], PKT_GUEST_VCPU_INTERRUPT.to_le_bytes());
        assert_eq!(b[24..32], 0b1010u64.to_le_bytes(), "interrupt.mask @8");
        assert_eq!(b[32], 5, "interrupt.vector @16");
        assert_eq!(b[33..48], [0; 15]);
        let back = PortPacket::from_bytes(&b).guest_vcpu();
        assert_eq!(back.type_, PKT_GUEST_VCPU_INTERRUPT);
        assert_eq!(back.interrupt_mask(), 0b1010);
        assert_eq!(back.interrupt_vector(), 5);
    }

    #[test]
    fn guest_vcpu_startup_image_follows_the_c_layout() {
        let packet =
            PortPacket::new_guest_vcpu(0, PacketGuestVcpu::startup(0x8000_0001, 0x4008_0000));
        let b = packet.to_bytes();
        assert_eq!(b[16..20], PKT_GUEST_VCPU_STARTUP.to_le_bytes());
        assert_eq!(b[20..24], [0; 4]);
        assert_eq!(b[24..32], 0x8000_0001u64.to_le_bytes(), "startup.id @8");
        assert_eq!(b[32..40], 0x4008_0000u64.to_le_bytes(), "startup.entry @16");
        let back = PortPacket::from_bytes(&b).guest_vcpu();
        assert_eq!(back.type_, PKT_GUEST_VCPU_STARTUP);
        assert_eq!(
            (back.startup_id(), back.startup_entry()),
            (0x8000_0001, 0x4008_0000)
        );
    }

    #[test]
    fn packet_words_are_its_memory_image() {
        let mut p = PortPacket::new_user(0x1234, [1, 2, 3, 0xffff_ffff_ffff_ffff]);
        p.status = -11;
        let bytes = p.to_bytes();
        let words: [u64; 6] = core::array::from_fn(|i| {
            u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap())
        });
        assert_eq!(p.to_words(), words);
        assert_eq!(PortPacket::from_words(&words), p);
    }

    #[test]
    fn payload_words_round_trip_every_byte() {
        let words = [
            0x0807_0605_0403_0201,
            0x100F_0E0D_0C0B_0A09,
            0x1817_1615_1413_1211,
            0x201F_1E1D_1C1B_1A19,
        ];
        assert_eq!(PacketGuestMem::from_words(words).to_words(), words);
        assert_eq!(PacketGuestVcpu::from_words(words).to_words(), words);
        assert_eq!(PacketGuestBell::from_words(words).to_words(), words);
        let mem = PacketGuestMem::from_words(words);
        assert_eq!(
            (mem.access_size, mem.sign_extend, mem.xt, mem.read),
            (9, 10, 11, 12)
        );
        assert_eq!(mem.padding1, [13, 14, 15, 16]);
        let vcpu = PacketGuestVcpu::from_words(words);
        assert_eq!(vcpu.type_, 0x0403_0201);
        assert_eq!(vcpu.padding1, [5, 6, 7, 8]);
    }
}

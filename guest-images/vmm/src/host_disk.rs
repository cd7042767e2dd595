//! The VMM's own driver of the machine's virtio-blk device (QEMU `-device
//! virtio-blk-device` on one of QEMU virt's virtio-mmio transports, found and set up by
//! `host_virtio`). One request at a time, polled: the descriptors point straight at the
//! guest's buffers in host RAM (the device has checked them against guest RAM), so the
//! data is never copied, and the request is complete when the used ring says so, which
//! the driver reads once the device's InterruptStatus says it used a buffer. The machine's
//! device interrupt is left disabled.

use crate::guest_ram::GuestRam;
use crate::host_virtio::{counter, Rings, Transport};
use crate::Error;
use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};
use el1rt::cache::clean_invalidate;
use el1rt::platform::Board;
use zxv_devices::virtio::{
    IoError, BLK_SECTOR, BLK_S_OK, BLK_T_FLUSH, BLK_T_IN, BLK_T_OUT, DESC_F_NEXT, DESC_F_WRITE,
    ID_BLOCK,
};

const QUEUE: usize = 128;
const F_RO: u64 = 1 << 5;
const F_FLUSH: u64 = 1 << 9;
/// How long a request may take before it counts as failed.
const TIMEOUT_S: u64 = 30;
/// InterruptStatus reads between two looks at the clock while a request is waited for.
const POLLS: u32 = 64;
const WHAT: &str = "virtio-blk";

/// The split queue and a request's header and status, in one page of the VMM's memory
/// (host RAM, which the device reads and writes).
#[repr(C, align(4096))]
struct Area {
    desc: [[u64; 2]; QUEUE],
    avail: [u16; 3 + QUEUE],
    used: [u32; 2 + 2 * QUEUE],
    header: [u64; 2],
    status: u64,
}

static mut AREA: Area = Area {
    desc: [[0; 2]; QUEUE],
    avail: [0; 3 + QUEUE],
    used: [0; 2 + 2 * QUEUE],
    header: [0; 2],
    status: 0,
};

pub struct HostDisk {
    device: Transport,
    rings: Rings,
    capacity: u64,
    read_only: bool,
    flush: bool,
    size: u16,
    next_avail: u16,
    ram: GuestRam,
}

impl HostDisk {
    /// Finds the machine's virtio-blk device in the host's DTB and brings it up.
    pub fn probe(board: &Board, ram: GuestRam) -> Result<HostDisk, Error> {
        let device = Transport::find(board, ID_BLOCK, WHAT, "virtio-blk-device", "vmm.disk=host")?;
        let accepted = device.negotiate(F_RO | F_FLUSH, WHAT)?;
        // SAFETY: the area is this driver's alone; the device does not use it yet.
        let rings = unsafe {
            AREA = Area {
                desc: [[0; 2]; QUEUE],
                avail: [0; 3 + QUEUE],
                used: [0; 2 + 2 * QUEUE],
                header: [0; 2],
                status: 0,
            };
            Rings {
                desc: addr_of!(AREA.desc) as u64,
                avail: addr_of!(AREA.avail) as u64,
                used: addr_of!(AREA.used) as u64,
            }
        };
        clean_invalidate(rings.desc, core::mem::size_of::<Area>() as u64);
        let size = device.queue(0, &rings, QUEUE as u16, true, WHAT)?;
        device.driver_ok();
        let capacity =
            (u64::from(device.config(0)) | u64::from(device.config(4)) << 32) * BLK_SECTOR;
        Ok(HostDisk {
            device,
            rings,
            capacity,
            read_only: accepted & F_RO != 0,
            flush: accepted & F_FLUSH != 0,
            size,
            next_avail: 0,
            ram,
        })
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Whether the machine's device is read-only (QEMU `readonly=on`).
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Reads or writes the guest's segments at byte `offset` of the disk.
    pub fn transfer(
        &mut self,
        offset: u64,
        segments: &[(u64, u32)],
        write: bool,
    ) -> Result<(), IoError> {
        let kind = if write { BLK_T_OUT } else { BLK_T_IN };
        self.request(kind, offset / BLK_SECTOR, segments, !write)
    }

    pub fn flush(&mut self) -> Result<(), IoError> {
        if !self.flush {
            return Ok(());
        }
        self.request(BLK_T_FLUSH, 0, &[], false)
    }

    /// One request, waited for: header, the guest's segments (written by the device when
    /// `device_writes`), status.
    fn request(
        &mut self,
        kind: u32,
        sector: u64,
        segments: &[(u64, u32)],
        device_writes: bool,
    ) -> Result<(), IoError> {
        let count = segments.len() + 2;
        if count > usize::from(self.size) {
            return Err(IoError);
        }
        let area = addr_of_mut!(AREA);
        // SAFETY: the area is this driver's; the device reads it only after the notify
        // below and is done with it when the used ring moves.
        unsafe {
            write_volatile(addr_of_mut!((*area).header), [u64::from(kind), sector]);
            write_volatile(addr_of_mut!((*area).status), 0xFF);
        }
        // Descriptor 0 the header, 1..=n the segments, n + 1 the status, each chained to
        // the next and written straight into the table (cleaned by `set_desc`).
        // SAFETY: only the fields' addresses are taken.
        let (header_at, status_at) = unsafe {
            (
                addr_of!((*area).header) as u64,
                addr_of!((*area).status) as u64,
            )
        };
        self.rings.set_desc(0, header_at, 16, DESC_F_NEXT, 1);
        let flags = DESC_F_NEXT | if device_writes { DESC_F_WRITE } else { 0 };
        for (i, &(gpa, len)) in (1u16..).zip(segments) {
            let host = self
                .ram
                .host_addr(gpa, u64::from(len))
                .map_err(|_| IoError)?;
            clean_invalidate(host, u64::from(len));
            self.rings.set_desc(i, host, len, flags, i + 1);
        }
        self.rings
            .set_desc(count as u16 - 1, status_at, 1, DESC_F_WRITE, 0);
        let used_before = self.rings.used_idx();
        clean_invalidate(header_at, status_at + 8 - header_at);
        self.rings.make_available(self.next_avail, self.size, 0);
        self.next_avail = self.next_avail.wrapping_add(1);
        self.device.notify(0);
        // Waits on InterruptStatus, reading the used index only once it is set (the device
        // writes the used ring before it raises the status), and on the clock every
        // `POLLS` reads.
        let (freq, start) = counter();
        let limit = freq.saturating_mul(TIMEOUT_S);
        'wait: loop {
            for _ in 0..POLLS {
                if self.device.used_signalled() && self.rings.used_idx() != used_before {
                    break 'wait;
                }
            }
            if counter().1.wrapping_sub(start) > limit {
                return Err(IoError);
            }
        }
        self.device.ack_interrupt();
        for &(gpa, len) in segments {
            if let Ok(host) = self.ram.host_addr(gpa, u64::from(len)) {
                clean_invalidate(host, u64::from(len));
            }
        }
        // SAFETY: the device is done with the status byte.
        let status = unsafe { read_volatile(addr_of!((*area).status)) } as u8;
        if status == BLK_S_OK {
            Ok(())
        } else {
            Err(IoError)
        }
    }
}

//! The VMM's own driver of the machine's virtio-blk device (QEMU `-device
//! virtio-blk-device` on one of QEMU virt's virtio-mmio transports, version 2: QEMU needs
//! `-global virtio-mmio.force-legacy=false`). One request at a time, polled: the
//! descriptors point straight at the guest's buffers in host RAM (the device has checked
//! them against guest RAM), so the data is never copied, and the request is complete when
//! the used ring says so. The machine's device interrupt is left disabled.

use crate::guest_ram::GuestRam;
use crate::Error;
use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};
use el1rt::cache::clean_invalidate;
use el1rt::platform::Board;
use zxv_devices::virtio::{
    IoError, BLK_SECTOR, BLK_S_OK, BLK_T_FLUSH, BLK_T_IN, BLK_T_OUT, DESC_F_NEXT, DESC_F_WRITE,
    F_VERSION_1, ID_BLOCK, STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_DRIVER_OK, STATUS_FEATURES_OK,
};

const QUEUE: usize = 128;
const F_RO: u64 = 1 << 5;
const F_FLUSH: u64 = 1 << 9;
/// How long a request may take before it counts as failed.
const TIMEOUT_S: u64 = 30;

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
    base: u64,
    capacity: u64,
    read_only: bool,
    flush: bool,
    size: u16,
    next_avail: u16,
    ram: GuestRam,
}

fn reg_read(base: u64, offset: u64) -> u32 {
    // SAFETY: `base` is a virtio-mmio transport from the host's DTB, identity-mapped device
    // memory; a register read has no effect beyond the device.
    unsafe { read_volatile((base + offset) as *const u32) }
}

fn reg_write(base: u64, offset: u64, value: u32) {
    // SAFETY: as for `reg_read`; only this driver writes the transport.
    unsafe { write_volatile((base + offset) as *mut u32, value) }
}

fn counter() -> (u64, u64) {
    let (freq, now): (u64, u64);
    // SAFETY: reading the counter and its frequency has no side effects.
    unsafe {
        core::arch::asm!("mrs {}, cntfrq_el0", "isb", "mrs {}, cntpct_el0", out(reg) freq, out(reg) now)
    };
    (freq.max(1), now)
}

fn barrier() {
    // SAFETY: a barrier has no effect on program state.
    unsafe { core::arch::asm!("dsb sy") };
}

impl HostDisk {
    /// Finds the machine's virtio-blk device in the host's DTB and brings it up.
    pub fn probe(board: &Board, ram: GuestRam) -> Result<HostDisk, Error> {
        let fdt = board
            .fdt()
            .ok_or_else(|| err!("vmm.disk=host: the host DTB cannot be read"))?;
        let mut legacy = false;
        let transports = fdt.all_nodes().filter(|n| {
            n.compatible()
                .is_some_and(|c| c.all().any(|c| c == "virtio,mmio"))
        });
        for node in transports {
            let Some(base) = node
                .reg()
                .and_then(|mut r| r.next())
                .map(|r| r.starting_address as u64)
            else {
                continue;
            };
            if reg_read(base, 0x000) != 0x7472_6976 || reg_read(base, 0x008) != ID_BLOCK {
                continue;
            }
            if reg_read(base, 0x004) != 2 {
                legacy = true;
                continue;
            }
            return Self::start(base, ram);
        }
        Err(if legacy {
            err!("vmm.disk=host: the machine's virtio-blk device is legacy (QEMU: -global virtio-mmio.force-legacy=false)")
        } else {
            err!("vmm.disk=host: the machine has no virtio-blk device (QEMU: -device virtio-blk-device)")
        })
    }

    fn start(base: u64, ram: GuestRam) -> Result<HostDisk, Error> {
        reg_write(base, 0x070, 0);
        reg_write(base, 0x070, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        reg_write(base, 0x014, 0);
        let low = u64::from(reg_read(base, 0x010));
        reg_write(base, 0x014, 1);
        let offered = low | u64::from(reg_read(base, 0x010)) << 32;
        let accepted = offered & (F_VERSION_1 | F_RO | F_FLUSH);
        for (sel, word) in [(0, accepted as u32), (1, (accepted >> 32) as u32)] {
            reg_write(base, 0x024, sel);
            reg_write(base, 0x020, word);
        }
        reg_write(
            base,
            0x070,
            STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK,
        );
        if reg_read(base, 0x070) & STATUS_FEATURES_OK == 0 || accepted & F_VERSION_1 == 0 {
            return Err(err!(
                "vmm.disk=host: the machine's virtio-blk device refused features {accepted:#x}"
            ));
        }
        reg_write(base, 0x030, 0);
        let max = reg_read(base, 0x034);
        if max < 4 {
            return Err(err!(
                "vmm.disk=host: the machine's virtio-blk queue holds {max} entries"
            ));
        }
        let size = (max.min(QUEUE as u32) as u16)
            .next_power_of_two()
            .min(QUEUE as u16);
        let size = if u32::from(size) > max {
            size / 2
        } else {
            size
        };
        // SAFETY: the area is this driver's alone; the device does not use it yet.
        let (desc, avail, used) = unsafe {
            AREA = Area {
                desc: [[0; 2]; QUEUE],
                avail: [0; 3 + QUEUE],
                used: [0; 2 + 2 * QUEUE],
                header: [0; 2],
                status: 0,
            };
            (
                addr_of!(AREA.desc) as u64,
                addr_of!(AREA.avail) as u64,
                addr_of!(AREA.used) as u64,
            )
        };
        clean_invalidate(desc, core::mem::size_of::<Area>() as u64);
        reg_write(base, 0x038, u32::from(size));
        for (reg, addr) in [(0x080, desc), (0x090, avail), (0x0a0, used)] {
            reg_write(base, reg, addr as u32);
            reg_write(base, reg + 4, (addr >> 32) as u32);
        }
        reg_write(base, 0x044, 1);
        reg_write(
            base,
            0x070,
            STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK,
        );
        let capacity = (u64::from(reg_read(base, 0x100)) | u64::from(reg_read(base, 0x104)) << 32)
            * BLK_SECTOR;
        Ok(HostDisk {
            base,
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
        let mut descs = [(0u64, 0u32, 0u16); QUEUE];
        // SAFETY: only the field's address is taken.
        descs[0] = (unsafe { addr_of!((*area).header) } as u64, 16, 0);
        for (i, &(gpa, len)) in segments.iter().enumerate() {
            let host = self
                .ram
                .host_addr(gpa, u64::from(len))
                .map_err(|_| IoError)?;
            clean_invalidate(host, u64::from(len));
            descs[i + 1] = (host, len, if device_writes { DESC_F_WRITE } else { 0 });
        }
        // SAFETY: only the field's address is taken.
        descs[count - 1] = (unsafe { addr_of!((*area).status) } as u64, 1, DESC_F_WRITE);
        for (i, &(addr, len, flags)) in descs[..count].iter().enumerate() {
            let next = if i + 1 < count { DESC_F_NEXT } else { 0 };
            let word = u64::from(len) | u64::from(flags | next) << 32 | ((i as u64 + 1) << 48);
            // SAFETY: writes to this driver's descriptor table, inside `area`.
            unsafe {
                write_volatile(addr_of_mut!((*area).desc[i][0]), addr);
                write_volatile(addr_of_mut!((*area).desc[i][1]), word);
            }
        }
        let used_before = self.used_idx(area);
        // SAFETY: the available ring is this driver's, inside `area`.
        unsafe {
            write_volatile(
                addr_of_mut!((*area).avail[2 + usize::from(self.next_avail % self.size)]),
                0,
            );
            barrier();
            self.next_avail = self.next_avail.wrapping_add(1);
            write_volatile(addr_of_mut!((*area).avail[1]), self.next_avail);
        }
        clean_invalidate(area as u64, core::mem::size_of::<Area>() as u64);
        barrier();
        reg_write(self.base, 0x050, 0);
        let (freq, start) = counter();
        while self.used_idx(area) == used_before {
            if (counter().1 - start) / freq > TIMEOUT_S {
                return Err(IoError);
            }
            core::hint::spin_loop();
        }
        reg_write(self.base, 0x064, reg_read(self.base, 0x060));
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

    fn used_idx(&self, area: *const Area) -> u16 {
        // SAFETY: the used ring's first word, which the device writes; read as it stands.
        let word = unsafe { addr_of!((*area).used[0]) };
        clean_invalidate(word as u64, 4);
        // SAFETY: as above.
        (unsafe { read_volatile(word) } >> 16) as u16
    }
}

//! The guest disk's backends: a RAM image (a blob QEMU or the boot loader put in host RAM;
//! what the guest writes is lost at power-off) and the machine's own virtio-blk device
//! (`host_disk`), whose writes reach the file behind it.

use crate::host_disk::HostDisk;
use crate::phys_copy::copy_physical;
use el1rt::cache::clean_invalidate;
use zxv_devices::virtio::{BlockBackend, GuestMemory, IoError};

pub enum Disk {
    /// Host RAM `[base, base + size)`, claimed for the disk.
    Ram {
        base: u64,
        size: u64,
    },
    Host(HostDisk),
}

impl BlockBackend for Disk {
    fn capacity(&self) -> u64 {
        match self {
            Disk::Ram { size, .. } => *size,
            Disk::Host(d) => d.capacity(),
        }
    }

    fn read(
        &mut self,
        mem: &dyn GuestMemory,
        offset: u64,
        segments: &[(u64, u32)],
    ) -> Result<(), IoError> {
        match self {
            Disk::Ram { base, .. } => ram_copy(mem, *base + offset, segments, false),
            Disk::Host(d) => d.transfer(offset, segments, false),
        }
    }

    fn write(
        &mut self,
        mem: &dyn GuestMemory,
        offset: u64,
        segments: &[(u64, u32)],
    ) -> Result<(), IoError> {
        match self {
            Disk::Ram { base, .. } => ram_copy(mem, *base + offset, segments, true),
            Disk::Host(d) => d.transfer(offset, segments, true),
        }
    }

    fn flush(&mut self) -> Result<(), IoError> {
        match self {
            Disk::Ram { .. } => Ok(()),
            Disk::Host(d) => d.flush(),
        }
    }
}

/// A bounce buffer word-aligned, so that the copies go by words.
#[repr(align(8))]
struct Chunk([u8; 512]);

/// Copies between the RAM image at host address `at` and the guest's segments (the device
/// has checked that they lie in the image).
fn ram_copy(
    mem: &dyn GuestMemory,
    mut at: u64,
    segments: &[(u64, u32)],
    to_disk: bool,
) -> Result<(), IoError> {
    for &(addr, len) in segments {
        let len = u64::from(len);
        let mut chunk = Chunk([0; 512]);
        let mut done = 0;
        while done < len {
            let n = (len - done).min(512);
            let bytes = &mut chunk.0[..n as usize];
            if to_disk {
                mem.read(addr + done, bytes).map_err(|_| IoError)?;
                // SAFETY: `at` is inside the image, host RAM claimed for the disk alone.
                unsafe { copy_physical(at, bytes.as_ptr() as u64, n) };
                clean_invalidate(at, n);
            } else {
                clean_invalidate(at, n);
                // SAFETY: as above.
                unsafe { copy_physical(bytes.as_mut_ptr() as u64, at, n) };
                mem.write(addr + done, bytes).map_err(|_| IoError)?;
            }
            done += n;
            at += n;
        }
    }
    Ok(())
}

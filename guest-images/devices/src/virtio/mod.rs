//! Virtio 1.x devices over the virtio-mmio transport (version 2, no legacy interface): the
//! transport's registers ([`MmioTransport`]), split virtqueues whose every access to guest
//! memory is bounds-checked ([`Queue`]), and the devices behind them: block ([`Blk`]),
//! console ([`Console`]) and entropy ([`Rng`]).
//!
//! Guest memory is reached only through [`GuestMemory`], which refuses any range outside guest
//! RAM. A malformed queue (a ring outside RAM or unaligned, a descriptor index out of range, a
//! chain that loops or is longer than the queue, a buffer past the end of RAM, an available
//! index that runs ahead of the queue) never hangs or panics a model: the device stops using
//! it, sets `DEVICE_NEEDS_RESET` in its status and raises a configuration-change interrupt,
//! and a reset (status 0) brings it back. A well-formed request the device cannot serve (a
//! block beyond the disk's end, a write to a read-only disk, an unknown type) completes with
//! the device's error status instead. A device serves nothing before FEATURES_OK and
//! DRIVER_OK, and a notify at most one queue's worth of chains. docs/design.md lists every
//! kind of bad input and its outcome.

mod blk;
mod console;
mod queue;
mod rng;
mod transport;

pub use blk::{
    Blk, BlockBackend, IoError, BLK_SECTOR, BLK_S_IOERR, BLK_S_OK, BLK_S_UNSUPP, BLK_T_FLUSH,
    BLK_T_GET_ID, BLK_T_IN, BLK_T_OUT,
};
pub use console::Console;
pub use queue::{Chain, Desc, Queue, QueueError, DESC_F_NEXT, DESC_F_WRITE, QUEUE_MAX};
pub use rng::{EntropySource, Rng};
pub use transport::{MmioTransport, VirtioDevice};

/// The transport's register block: one page, so that each device is one MEM trap.
pub const MMIO_SIZE: u64 = 0x1000;

/// Device status bits (virtio 1.x §2.1).
pub const STATUS_ACKNOWLEDGE: u32 = 1;
pub const STATUS_DRIVER: u32 = 2;
pub const STATUS_DRIVER_OK: u32 = 4;
pub const STATUS_FEATURES_OK: u32 = 8;
pub const STATUS_DEVICE_NEEDS_RESET: u32 = 0x40;
pub const STATUS_FAILED: u32 = 0x80;

/// VIRTIO_F_VERSION_1: the non-legacy interface, which every device offers and needs.
pub const F_VERSION_1: u64 = 1 << 32;

/// Device IDs (virtio 1.x §5).
pub const ID_NET: u32 = 1;
pub const ID_BLOCK: u32 = 2;
pub const ID_CONSOLE: u32 = 3;
pub const ID_ENTROPY: u32 = 4;

/// A guest-physical range that is not guest RAM (or wraps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfRange {
    pub addr: u64,
    pub len: u64,
}

/// Guest RAM as the devices see it. Implementations check the whole range first and touch
/// nothing when any of it lies outside guest RAM.
pub trait GuestMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), OutOfRange>;
    fn write(&self, addr: u64, data: &[u8]) -> Result<(), OutOfRange>;

    /// Whether `[addr, addr + len)` lies inside guest RAM.
    fn contains(&self, addr: u64, len: u64) -> bool;

    fn read_u16(&self, addr: u64) -> Result<u16, OutOfRange> {
        let mut b = [0; 2];
        self.read(addr, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    fn read_u32(&self, addr: u64) -> Result<u32, OutOfRange> {
        let mut b = [0; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn read_u64(&self, addr: u64) -> Result<u64, OutOfRange> {
        let mut b = [0; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}

/// Guest RAM `[base, base + size)` as a range check, for [`GuestMemory`] implementations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RamRange {
    pub base: u64,
    pub size: u64,
}

impl RamRange {
    /// The offset of `[addr, addr + len)` in RAM, if it lies wholly inside.
    pub fn offset(&self, addr: u64, len: u64) -> Result<u64, OutOfRange> {
        let offset = addr
            .checked_sub(self.base)
            .ok_or(OutOfRange { addr, len })?;
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(offset),
            _ => Err(OutOfRange { addr, len }),
        }
    }
}

#[cfg(test)]
pub(crate) mod testmem;

#[cfg(test)]
mod tests;

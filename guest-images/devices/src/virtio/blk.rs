//! virtio-blk (virtio 1.x §5.2): reads, writes, flushes and the device ID request, served
//! from a [`BlockBackend`] (a RAM image, or the VMM's driver of the machine's own disk). Each
//! request's data buffers go to the backend as guest-physical segments, so a backend that
//! can reach guest RAM directly copies nothing.

use super::queue::{Chain, Queue, QueueError};
use super::{GuestMemory, VirtioDevice, ID_BLOCK};
use arrayvec::ArrayVec;

pub const BLK_SECTOR: u64 = 512;
pub const BLK_T_IN: u32 = 0;
pub const BLK_T_OUT: u32 = 1;
pub const BLK_T_FLUSH: u32 = 4;
pub const BLK_T_GET_ID: u32 = 8;
pub const BLK_S_OK: u8 = 0;
pub const BLK_S_IOERR: u8 = 1;
pub const BLK_S_UNSUPP: u8 = 2;

const F_SEG_MAX: u64 = 1 << 2;
const F_RO: u64 = 1 << 5;
const F_FLUSH: u64 = 1 << 9;
/// The data segments of one request: the queue less the header and the status.
pub const SEG_MAX: usize = super::QUEUE_MAX as usize - 2;
const HEADER: u64 = 16;
/// The ID the device reports (VIRTIO_BLK_T_GET_ID: up to 20 bytes).
const DEVICE_ID: &[u8] = b"zxvisor-disk";

/// A backend's failure: the request completes with VIRTIO_BLK_S_IOERR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoError;

/// The disk behind the device. `offset` is in bytes (a multiple of 512); the segments are
/// guest-physical ranges inside guest RAM, in order.
pub trait BlockBackend {
    /// The disk's size in bytes (a multiple of 512).
    fn capacity(&self) -> u64;
    fn read(
        &mut self,
        mem: &dyn GuestMemory,
        offset: u64,
        segments: &[(u64, u32)],
    ) -> Result<(), IoError>;
    fn write(
        &mut self,
        mem: &dyn GuestMemory,
        offset: u64,
        segments: &[(u64, u32)],
    ) -> Result<(), IoError>;
    fn flush(&mut self) -> Result<(), IoError>;
}

pub struct Blk<B> {
    pub backend: B,
    read_only: bool,
}

type Segments = ArrayVec<(u64, u32), { super::QUEUE_MAX as usize }>;

/// Fills `out` with the bytes `[start, end)` of the buffers `descs`, as segments.
fn segments<'a>(
    out: &mut Segments,
    descs: impl Iterator<Item = &'a super::Desc>,
    start: u64,
    end: u64,
) {
    out.clear();
    let mut at = 0u64;
    for d in descs {
        let (lo, hi) = (at.max(start), (at + u64::from(d.len)).min(end));
        if lo < hi {
            out.push((d.addr + (lo - at), (hi - lo) as u32));
        }
        at += u64::from(d.len);
    }
}

impl<B: BlockBackend> Blk<B> {
    pub fn new(backend: B, read_only: bool) -> Self {
        Blk { backend, read_only }
    }

    /// Serves one request; returns the bytes written into it and its status byte's place.
    fn serve(&mut self, chain: &Chain, mem: &dyn GuestMemory) -> Option<(u32, u8)> {
        let mut header = [0u8; HEADER as usize];
        let (readable, writable) = chain.lengths();
        // A request needs its header and a status byte; without them it cannot even be
        // answered, and goes back with nothing written.
        if chain.read(mem, &mut header) < header.len() || writable == 0 {
            return None;
        }
        let kind = u32::from_le_bytes(header[0..4].try_into().unwrap_or_default());
        let sector = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
        // Built in place: the segments take 2 KiB, which a move would copy.
        let mut segs = Segments::new();
        let (status, data) = match kind {
            BLK_T_IN => {
                segments(&mut segs, chain.writable(), 0, writable - 1);
                (
                    self.transfer(mem, sector, writable - 1, &segs, false),
                    writable - 1,
                )
            }
            BLK_T_OUT => {
                segments(&mut segs, chain.readable(), HEADER, readable);
                (
                    self.transfer(mem, sector, readable - HEADER, &segs, true),
                    0,
                )
            }
            BLK_T_FLUSH => (
                if self.backend.flush().is_ok() {
                    BLK_S_OK
                } else {
                    BLK_S_IOERR
                },
                0,
            ),
            BLK_T_GET_ID => {
                segments(&mut segs, chain.writable(), 0, writable - 1);
                let mut id = [0u8; 20];
                id[..DEVICE_ID.len()].copy_from_slice(DEVICE_ID);
                let mut done = 0u64;
                for &(addr, len) in &segs {
                    let n = (len as usize).min(id.len() - done as usize);
                    let _ = mem.write(addr, &id[done as usize..done as usize + n]);
                    done += n as u64;
                }
                (BLK_S_OK, done)
            }
            _ => (BLK_S_UNSUPP, 0),
        };
        // What the device wrote: the data and the status, or after a failure the status
        // alone (the data buffers may be far larger than 32 bits can count).
        let written = if status == BLK_S_OK { data + 1 } else { 1 };
        Some((u32::try_from(written).unwrap_or(u32::MAX), status))
    }

    fn transfer(
        &mut self,
        mem: &dyn GuestMemory,
        sector: u64,
        len: u64,
        segs: &Segments,
        write: bool,
    ) -> u8 {
        let in_disk = sector
            .checked_mul(BLK_SECTOR)
            .and_then(|offset| Some((offset, offset.checked_add(len)?)))
            .filter(|&(_, end)| end <= self.backend.capacity());
        let Some((offset, _)) = in_disk else {
            return BLK_S_IOERR;
        };
        if !len.is_multiple_of(BLK_SECTOR) || (write && self.read_only) {
            return BLK_S_IOERR;
        }
        let done = if write {
            self.backend.write(mem, offset, segs)
        } else {
            self.backend.read(mem, offset, segs)
        };
        if done.is_ok() {
            BLK_S_OK
        } else {
            BLK_S_IOERR
        }
    }
}

impl<B: BlockBackend> VirtioDevice for Blk<B> {
    fn device_id(&self) -> u32 {
        ID_BLOCK
    }

    fn features(&self) -> u64 {
        F_SEG_MAX | F_FLUSH | if self.read_only { F_RO } else { 0 }
    }

    fn num_queues(&self) -> usize {
        1
    }

    fn config_byte(&self, offset: u64) -> u8 {
        // capacity (u64, in sectors) at 0, size_max (u32) at 8, seg_max (u32) at 12.
        let capacity = self.backend.capacity() / BLK_SECTOR;
        match offset {
            0..=7 => capacity.to_le_bytes()[offset as usize],
            12..=15 => (SEG_MAX as u32).to_le_bytes()[offset as usize - 12],
            _ => 0,
        }
    }

    fn notify(
        &mut self,
        _queue: usize,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, QueueError> {
        queues[0].serve_all(mem, |chain| match self.serve(chain, mem) {
            Some((written, status)) => {
                let last = chain
                    .writable()
                    .filter(|d| d.len > 0)
                    .last()
                    .map(|d| d.addr + u64::from(d.len) - 1);
                if let Some(at) = last {
                    let _ = mem.write(at, &[status]);
                }
                written
            }
            None => 0,
        })
    }
}

//! The split virtqueue (virtio 1.x §2.7) as a device uses it: taking descriptor chains from
//! the available ring and returning them on the used ring. Every address it reads or writes
//! goes through [`GuestMemory`] and is checked before use: the rings when the driver makes the
//! queue ready, every descriptor's buffer when its chain is taken.

use super::GuestMemory;
use arrayvec::ArrayVec;

/// The largest queue the devices offer (QueueNumMax), and so the longest chain.
pub const QUEUE_MAX: u16 = 128;

pub const DESC_F_NEXT: u16 = 1;
pub const DESC_F_WRITE: u16 = 2;
/// Indirect descriptors are not offered; a descriptor with this flag is malformed.
const DESC_F_INDIRECT: u16 = 4;
const DESC_SIZE: u64 = 16;

/// Why a queue cannot be used any more (the device then needs a reset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// QueueNum is 0, above QueueNumMax or not a power of two.
    Size(u16),
    /// A ring's address is not aligned as the ring needs (16, 2 and 4 bytes).
    Unaligned(u64),
    /// A ring, or a descriptor's buffer, is not inside guest RAM.
    OutsideRam(u64, u64),
    /// The available index ran more than the queue's size ahead of the device.
    AvailIndex(u16),
    /// A head or `next` index is not below the queue's size.
    DescIndex(u16),
    /// A chain longer than the queue: it loops.
    Loop,
    /// A descriptor asks for indirect descriptors, which are not offered.
    Indirect,
}

/// One descriptor of a chain, its buffer already checked to lie in guest RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Desc {
    pub addr: u64,
    pub len: u32,
    pub flags: u16,
}

impl Desc {
    pub fn writable(&self) -> bool {
        self.flags & DESC_F_WRITE != 0
    }
}

/// A descriptor chain taken from the available ring; give it back with [`Queue::push`].
/// Its descriptors take 2 KiB: [`Queue::pop`] fills one the caller keeps, so that no chain
/// is moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub head: u16,
    pub descs: ArrayVec<Desc, { QUEUE_MAX as usize }>,
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

impl Chain {
    /// An empty chain, for [`Queue::pop`] to fill.
    pub const fn new() -> Self {
        Chain {
            head: 0,
            descs: ArrayVec::new_const(),
        }
    }

    /// The buffers the device reads, in order.
    pub fn readable(&self) -> impl Iterator<Item = &Desc> + Clone {
        self.descs.iter().filter(|d| !d.writable())
    }

    /// The buffers the device writes, in order.
    pub fn writable(&self) -> impl Iterator<Item = &Desc> + Clone {
        self.descs.iter().filter(|d| d.writable())
    }

    /// Reads up to `buf.len()` bytes from the start of the readable buffers; returns how many.
    pub fn read(&self, mem: &dyn GuestMemory, buf: &mut [u8]) -> usize {
        let mut done = 0;
        for d in self.readable() {
            let n = (d.len as usize).min(buf.len() - done);
            if mem.read(d.addr, &mut buf[done..done + n]).is_err() {
                break;
            }
            done += n;
            if done == buf.len() {
                break;
            }
        }
        done
    }

    /// Writes up to `data.len()` bytes to the start of the writable buffers; returns how
    /// many.
    pub fn write(&self, mem: &dyn GuestMemory, data: &[u8]) -> usize {
        self.write_parts(mem, &[data])
    }

    /// Writes `parts` one after the other, as [`Chain::write`] writes one, without their
    /// being put together first; returns how many bytes went.
    pub fn write_parts(&self, mem: &dyn GuestMemory, parts: &[&[u8]]) -> usize {
        let mut done = 0;
        let mut descs = self.writable();
        // The rest of the buffer being written: its address and room.
        let (mut at, mut room) = (0u64, 0usize);
        for &part in parts {
            let mut part = part;
            while !part.is_empty() {
                while room == 0 {
                    let Some(d) = descs.next() else {
                        return done;
                    };
                    (at, room) = (d.addr, d.len as usize);
                }
                let n = room.min(part.len());
                if mem.write(at, &part[..n]).is_err() {
                    return done;
                }
                (at, room) = (at + n as u64, room - n);
                part = &part[n..];
                done += n;
            }
        }
        done
    }

    /// The total length of the readable and of the writable buffers.
    pub fn lengths(&self) -> (u64, u64) {
        let sum = |it: &mut dyn Iterator<Item = &Desc>| it.map(|d| u64::from(d.len)).sum();
        (sum(&mut self.readable()), sum(&mut self.writable()))
    }
}

/// A queue's registers as the driver set them, and the device's place in its rings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queue {
    /// QueueNum: the queue's size, once the driver chose it.
    pub size: u16,
    pub ready: bool,
    /// QueueDesc, QueueDriver (the available ring), QueueDevice (the used ring).
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
    next_avail: u16,
    next_used: u16,
    /// Chains [`Queue::pop`] may still take in this batch (see [`Queue::start_batch`]).
    budget: u16,
}

impl Default for Queue {
    fn default() -> Self {
        Self::new()
    }
}

impl Queue {
    pub const fn new() -> Self {
        Queue {
            size: QUEUE_MAX,
            ready: false,
            desc: 0,
            avail: 0,
            used: 0,
            next_avail: 0,
            next_used: 0,
            budget: 0,
        }
    }

    /// Lets the next pops take at most one queue's worth of chains: what the driver had made
    /// available when it notified. Chains another vCPU adds meanwhile come with their own
    /// notify (the device never suppresses them), so a notify cannot be kept going for as
    /// long as another vCPU feeds the queue.
    pub fn start_batch(&mut self) {
        self.budget = self.size;
    }

    /// Checks the rings the driver gave (size, alignment, inside RAM) before the queue is
    /// used; the device's places in them start at 0.
    pub fn activate(&mut self, mem: &dyn GuestMemory) -> Result<(), QueueError> {
        let size = self.size;
        if size == 0 || size > QUEUE_MAX || !size.is_power_of_two() {
            return Err(QueueError::Size(size));
        }
        let n = u64::from(size);
        for (addr, align, len) in [
            (self.desc, 16, DESC_SIZE * n),
            (self.avail, 2, 4 + 2 * n + 2),
            (self.used, 4, 4 + 8 * n + 2),
        ] {
            if addr % align != 0 {
                return Err(QueueError::Unaligned(addr));
            }
            if !mem.contains(addr, len) {
                return Err(QueueError::OutsideRam(addr, len));
            }
        }
        self.next_avail = 0;
        self.next_used = 0;
        self.ready = true;
        Ok(())
    }

    fn index(&self, i: u16) -> u64 {
        u64::from(i % self.size)
    }

    fn ram<T>(r: Result<T, super::OutOfRange>) -> Result<T, QueueError> {
        r.map_err(|e| QueueError::OutsideRam(e.addr, e.len))
    }

    /// Whether the driver has made chains available that the device has not taken.
    pub fn has_available(&self, mem: &dyn GuestMemory) -> Result<bool, QueueError> {
        if !self.ready {
            return Ok(false);
        }
        let idx = Self::ram(mem.read_u16(self.avail + 2))?;
        let pending = idx.wrapping_sub(self.next_avail);
        if pending > self.size {
            return Err(QueueError::AvailIndex(idx));
        }
        Ok(pending > 0)
    }

    /// Takes the next available chain into `chain`, if there is one and the batch allows,
    /// checking every descriptor in it; returns whether it took one. After an error
    /// `chain` holds part of a chain, which must not be used.
    pub fn pop(&mut self, mem: &dyn GuestMemory, chain: &mut Chain) -> Result<bool, QueueError> {
        if self.budget == 0 || !self.has_available(mem)? {
            return Ok(false);
        }
        let slot = self.avail + 4 + 2 * self.index(self.next_avail);
        let head = Self::ram(mem.read_u16(slot))?;
        chain.head = head;
        chain.descs.clear();
        let mut i = head;
        loop {
            if i >= self.size {
                return Err(QueueError::DescIndex(i));
            }
            let at = self.desc + DESC_SIZE * u64::from(i);
            let mut raw = [0u8; DESC_SIZE as usize];
            Self::ram(mem.read(at, &mut raw))?;
            let addr = u64::from_le_bytes(raw[0..8].try_into().unwrap_or_default());
            let len = u32::from_le_bytes(raw[8..12].try_into().unwrap_or_default());
            let flags = u16::from_le_bytes([raw[12], raw[13]]);
            let next = u16::from_le_bytes([raw[14], raw[15]]);
            if flags & DESC_F_INDIRECT != 0 {
                return Err(QueueError::Indirect);
            }
            if !mem.contains(addr, u64::from(len)) {
                return Err(QueueError::OutsideRam(addr, u64::from(len)));
            }
            chain
                .descs
                .try_push(Desc { addr, len, flags })
                .map_err(|_| QueueError::Loop)?;
            if chain.descs.len() > usize::from(self.size) {
                return Err(QueueError::Loop);
            }
            if flags & DESC_F_NEXT == 0 {
                break;
            }
            i = next;
        }
        self.next_avail = self.next_avail.wrapping_add(1);
        self.budget -= 1;
        Ok(true)
    }

    /// Takes every available chain, gives it to `serve`, and returns it with the bytes
    /// `serve` says it wrote. Returns whether any chain went back (an interrupt is due).
    pub fn serve_all(
        &mut self,
        mem: &dyn GuestMemory,
        mut serve: impl FnMut(&Chain) -> u32,
    ) -> Result<bool, QueueError> {
        let mut used = false;
        let mut chain = Chain::new();
        while self.pop(mem, &mut chain)? {
            let written = serve(&chain);
            self.push(mem, chain.head, written)?;
            used = true;
        }
        Ok(used)
    }

    /// Returns the chain whose head is `head` to the driver, `written` bytes written into it.
    pub fn push(
        &mut self,
        mem: &dyn GuestMemory,
        head: u16,
        written: u32,
    ) -> Result<(), QueueError> {
        let slot = self.used + 4 + 8 * self.index(self.next_used);
        let mut elem = [0u8; 8];
        elem[..4].copy_from_slice(&u32::from(head).to_le_bytes());
        elem[4..].copy_from_slice(&written.to_le_bytes());
        Self::ram(mem.write(slot, &elem))?;
        self.next_used = self.next_used.wrapping_add(1);
        Self::ram(mem.write(self.used + 2, &self.next_used.to_le_bytes()))
    }
}

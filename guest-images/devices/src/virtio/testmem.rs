//! For the tests: guest RAM in a vector, and a driver that lays out a queue in it, makes
//! chains available and reads the used ring back, as Linux's virtio_ring does.

use super::{GuestMemory, OutOfRange, RamRange, DESC_F_NEXT, DESC_F_WRITE};
use core::cell::RefCell;

pub const RAM_BASE: u64 = 0x4000_0000;

pub struct VecMemory {
    pub range: RamRange,
    pub bytes: RefCell<Vec<u8>>,
}

impl VecMemory {
    pub fn new(size: usize) -> Self {
        VecMemory {
            range: RamRange {
                base: RAM_BASE,
                size: size as u64,
            },
            bytes: RefCell::new(vec![0; size]),
        }
    }

    pub fn put(&self, addr: u64, data: &[u8]) {
        self.write(addr, data).unwrap();
    }

    pub fn get(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.read(addr, &mut v).unwrap();
        v
    }
}

impl GuestMemory for VecMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), OutOfRange> {
        let o = self.range.offset(addr, buf.len() as u64)? as usize;
        buf.copy_from_slice(&self.bytes.borrow()[o..o + buf.len()]);
        Ok(())
    }

    fn write(&self, addr: u64, data: &[u8]) -> Result<(), OutOfRange> {
        let o = self.range.offset(addr, data.len() as u64)? as usize;
        self.bytes.borrow_mut()[o..o + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn contains(&self, addr: u64, len: u64) -> bool {
        self.range.offset(addr, len).is_ok()
    }
}

/// A driver's view of one queue of `size` entries whose rings start at `base`.
pub struct Driver {
    pub size: u16,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
    next_desc: u16,
    avail_idx: u16,
    used_seen: u16,
}

impl Driver {
    pub fn new(size: u16, base: u64) -> Self {
        let n = u64::from(size);
        let desc = base;
        let avail = desc + 16 * n;
        let used = (avail + 6 + 2 * n + 3) & !3;
        Driver {
            size,
            desc,
            avail,
            used,
            next_desc: 0,
            avail_idx: 0,
            used_seen: 0,
        }
    }

    /// Writes descriptor `i` as it stands.
    pub fn set_desc(&self, mem: &VecMemory, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let mut raw = [0u8; 16];
        raw[0..8].copy_from_slice(&addr.to_le_bytes());
        raw[8..12].copy_from_slice(&len.to_le_bytes());
        raw[12..14].copy_from_slice(&flags.to_le_bytes());
        raw[14..16].copy_from_slice(&next.to_le_bytes());
        mem.put(self.desc + 16 * u64::from(i), &raw);
    }

    /// Makes the chain starting at descriptor `head` available.
    pub fn offer(&mut self, mem: &VecMemory, head: u16) {
        let slot = self.avail + 4 + 2 * u64::from(self.avail_idx % self.size);
        mem.put(slot, &head.to_le_bytes());
        self.avail_idx = self.avail_idx.wrapping_add(1);
        mem.put(self.avail + 2, &self.avail_idx.to_le_bytes());
    }

    /// Sets the available index as a (hostile) driver pleases.
    pub fn set_avail_idx(&mut self, mem: &VecMemory, idx: u16) {
        self.avail_idx = idx;
        mem.put(self.avail + 2, &idx.to_le_bytes());
    }

    /// Adds a chain of (addr, len, device-writable) buffers and makes it available; returns
    /// its head.
    pub fn add(&mut self, mem: &VecMemory, buffers: &[(u64, u32, bool)]) -> u16 {
        let head = self.next_desc;
        for (k, &(addr, len, writable)) in buffers.iter().enumerate() {
            let i = (self.next_desc + k as u16) % self.size;
            let last = k + 1 == buffers.len();
            let flags =
                if writable { DESC_F_WRITE } else { 0 } | if last { 0 } else { DESC_F_NEXT };
            self.set_desc(mem, i, addr, len, flags, (i + 1) % self.size);
        }
        self.next_desc = (self.next_desc + buffers.len() as u16) % self.size;
        self.offer(mem, head);
        head
    }

    /// The used elements the device added since the last call: (head, written).
    pub fn take_used(&mut self, mem: &VecMemory) -> Vec<(u32, u32)> {
        let idx = u16::from_le_bytes(mem.get(self.used + 2, 2).try_into().unwrap());
        let mut out = Vec::new();
        while self.used_seen != idx {
            let at = self.used + 4 + 8 * u64::from(self.used_seen % self.size);
            let e = mem.get(at, 8);
            out.push((
                u32::from_le_bytes(e[0..4].try_into().unwrap()),
                u32::from_le_bytes(e[4..8].try_into().unwrap()),
            ));
            self.used_seen = self.used_seen.wrapping_add(1);
        }
        out
    }
}

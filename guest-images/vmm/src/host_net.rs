//! The VMM's own driver of the machine's virtio-net device (QEMU `-device
//! virtio-net-device,netdev=...` on one of QEMU virt's virtio-mmio transports, found and set
//! up by `host_virtio`), through which the guest's virtio-net reaches QEMU's network (user
//! networking). VERSION_1 and nothing else: every buffer is the 12-byte header and one whole
//! Ethernet frame, no offloads, so frames pass between the guest and the device unchanged.
//!
//! Polled, with the device's interrupt disabled: every receive buffer is handed to the
//! device at start, and [`HostNet::receive`] (called on each host tick, 100 Hz, and whenever
//! the guest notifies its network device) takes what the device filled and gives the buffers
//! straight back. A tick's poll is what lets a guest idle in WFI get its frames; it costs one
//! used-index read when nothing came, and a frame waits at most a tick (10 ms). Transmitting
//! copies the frame into a free transmit buffer and notifies the device; when the device still
//! holds every transmit buffer the frame is dropped (counted), never waited for.

use crate::host_virtio::{Rings, Transport};
use crate::phys_copy::copy_physical;
use crate::Error;
use arrayvec::ArrayVec;
use core::ptr::addr_of;
use el1rt::cache::clean_invalidate;
use el1rt::platform::Board;
use zxv_devices::virtio::{DESC_F_WRITE, FRAME_MAX, ID_NET, NET_HDR};

/// Entries per queue (QEMU's virtio-net queues hold 256).
const QUEUE: usize = 256;
/// A buffer: padding, so that the frame after the header starts 8-byte aligned (copies then
/// go by words), the header and the frame.
const BUF: usize = 2048;
const PAD: usize = 4;
const RECEIVEQ: u32 = 0;
const TRANSMITQ: u32 = 1;
const WHAT: &str = "virtio-net";

#[repr(C, align(4096))]
struct QueueArea {
    desc: [[u64; 2]; QUEUE],
    avail: [u16; 3 + QUEUE],
    used: [u32; 2 + 2 * QUEUE],
}

/// Both queues and their buffers, in the VMM's memory (host RAM, which the device reads and
/// writes); zero from the start (bss).
#[repr(C, align(4096))]
struct Area {
    rx: QueueArea,
    tx: QueueArea,
    rx_buf: [[u8; BUF]; QUEUE],
    tx_buf: [[u8; BUF]; QUEUE],
}

const _: () = assert!(PAD + NET_HDR + FRAME_MAX <= BUF && (PAD + NET_HDR).is_multiple_of(8));

static mut AREA: Area = Area {
    rx: QueueArea {
        desc: [[0; 2]; QUEUE],
        avail: [0; 3 + QUEUE],
        used: [0; 2 + 2 * QUEUE],
    },
    tx: QueueArea {
        desc: [[0; 2]; QUEUE],
        avail: [0; 3 + QUEUE],
        used: [0; 2 + 2 * QUEUE],
    },
    rx_buf: [[0; BUF]; QUEUE],
    tx_buf: [[0; BUF]; QUEUE],
};

/// One of the device's queues as this driver keeps it.
struct Ring {
    rings: Rings,
    size: u16,
    next_avail: u16,
    last_used: u16,
    /// The host address of buffer 0 (buffer `i` is `BUF * i` after it).
    buffers: u64,
}

impl Ring {
    fn buffer(&self, i: u16) -> u64 {
        self.buffers + BUF as u64 * u64::from(i)
    }

    fn give(&mut self, head: u16) {
        self.rings.make_available(self.next_avail, self.size, head);
        self.next_avail = self.next_avail.wrapping_add(1);
    }
}

/// What went through the machine's device.
#[derive(Clone, Copy, Default)]
pub struct Counts {
    pub received: u64,
    pub sent: u64,
    /// Frames the guest sent while the device still held every transmit buffer.
    pub tx_busy: u64,
}

pub struct HostNet {
    device: Transport,
    rx: Ring,
    tx: Ring,
    /// Transmit buffers (descriptors) the device does not hold.
    tx_free: ArrayVec<u16, QUEUE>,
    /// Which transmit buffers the device holds.
    tx_held: [bool; QUEUE],
    pub counts: Counts,
}

fn rings(q: *const QueueArea) -> Rings {
    // SAFETY: only the fields' addresses are taken.
    unsafe {
        Rings {
            desc: addr_of!((*q).desc) as u64,
            avail: addr_of!((*q).avail) as u64,
            used: addr_of!((*q).used) as u64,
        }
    }
}

impl HostNet {
    /// Finds the machine's virtio-net device in the host's DTB and brings it up, every
    /// receive buffer given to it.
    pub fn probe(board: &Board) -> Result<HostNet, Error> {
        let device = Transport::find(
            board,
            ID_NET,
            WHAT,
            "virtio-net-device,netdev=...",
            "vmm.net=host",
        )?;
        device.negotiate(0, WHAT)?;
        let area = core::ptr::addr_of!(AREA);
        // SAFETY: only the fields' addresses are taken; the area is this driver's alone.
        let (rx, tx, rx_buf, tx_buf) = unsafe {
            (
                rings(addr_of!((*area).rx)),
                rings(addr_of!((*area).tx)),
                addr_of!((*area).rx_buf) as u64,
                addr_of!((*area).tx_buf) as u64,
            )
        };
        clean_invalidate(area as u64, core::mem::size_of::<Area>() as u64);
        let rx_size = device.queue(RECEIVEQ, &rx, QUEUE as u16, false, WHAT)?;
        let tx_size = device.queue(TRANSMITQ, &tx, QUEUE as u16, false, WHAT)?;
        let mut net = HostNet {
            device,
            rx: Ring {
                rings: rx,
                size: rx_size,
                next_avail: 0,
                last_used: 0,
                buffers: rx_buf,
            },
            tx: Ring {
                rings: tx,
                size: tx_size,
                next_avail: 0,
                last_used: 0,
                buffers: tx_buf,
            },
            tx_free: (0..tx_size).rev().collect(),
            tx_held: [false; QUEUE],
            counts: Counts::default(),
        };
        for i in 0..rx_size {
            let at = net.rx.buffer(i) + PAD as u64;
            net.rx
                .rings
                .set_desc(i, at, (BUF - PAD) as u32, DESC_F_WRITE, 0);
            net.rx.give(i);
        }
        net.device.driver_ok();
        net.device.notify(RECEIVEQ);
        Ok(net)
    }

    /// Hands the frames the device received to `take`, oldest first, each without its
    /// header; `take` says whether it is done with the frame (delivered or dropped), and a
    /// `false` leaves it and those after it with the device until the next call. The
    /// buffers taken go back to the device at once.
    pub fn receive(&mut self, mut take: impl FnMut(&[u8]) -> bool) {
        let used = self.rx.rings.used_idx();
        let mut gave = false;
        while self.rx.last_used != used {
            let (id, len) = self.rx.rings.used_elem(self.rx.last_used, self.rx.size);
            if id < self.rx.size {
                let len = (len as usize).clamp(NET_HDR, BUF - PAD) - NET_HDR;
                let at = self.rx.buffer(id) + (PAD + NET_HDR) as u64;
                clean_invalidate(at, len as u64);
                // SAFETY: a receive buffer inside the area, which the device has given back
                // and does not write until it is made available again below.
                let frame = unsafe { core::slice::from_raw_parts(at as *const u8, len) };
                if !take(frame) {
                    break;
                }
                self.rx.give(id);
                gave = true;
                self.counts.received += 1;
            }
            self.rx.last_used = self.rx.last_used.wrapping_add(1);
        }
        if gave {
            self.device.notify(RECEIVEQ);
        }
        self.device.ack_interrupt();
    }

    /// Sends `frame` (an Ethernet frame without its header); false when it was dropped
    /// because the device still holds every transmit buffer.
    pub fn transmit(&mut self, frame: &[u8]) -> bool {
        let used = self.tx.rings.used_idx();
        while self.tx.last_used != used {
            let (id, _) = self.tx.rings.used_elem(self.tx.last_used, self.tx.size);
            if let Some(held) = self.tx_held.get_mut(usize::from(id)).filter(|h| **h) {
                *held = false;
                self.tx_free.push(id);
            }
            self.tx.last_used = self.tx.last_used.wrapping_add(1);
        }
        let Some(id) = self.tx_free.pop() else {
            self.counts.tx_busy += 1;
            return false;
        };
        let len = frame.len().min(FRAME_MAX);
        let at = self.tx.buffer(id) + PAD as u64;
        let header = [0u64; 2];
        // SAFETY: a transmit buffer inside the area, which the device does not hold (it is
        // on the free list) and nothing else uses; the header and the frame fit in it.
        unsafe {
            copy_physical(at - PAD as u64, header.as_ptr() as u64, 16);
            copy_physical(at + NET_HDR as u64, frame.as_ptr() as u64, len as u64);
        }
        clean_invalidate(at, (NET_HDR + len) as u64);
        self.tx.rings.set_desc(id, at, (NET_HDR + len) as u32, 0, 0);
        self.tx_held[usize::from(id)] = true;
        self.tx.give(id);
        self.device.notify(TRANSMITQ);
        self.counts.sent += 1;
        true
    }
}

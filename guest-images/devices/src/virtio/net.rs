//! virtio-net (virtio 1.x §5.1) with a MAC address and no offloads: VIRTIO_NET_F_MAC and
//! VERSION_1 only, so every buffer carries the 12-byte `virtio_net_hdr` of version 1 followed
//! by one whole Ethernet frame (no checksum or segmentation work, no merged receive buffers).
//! Transmitted frames go to the VMM as they come; received frames go into the buffers the
//! driver left in the receive queue. A frame that breaks these rules (shorter than an
//! Ethernet header, longer than 1514 bytes, or a header that asks for an offload that was not
//! negotiated) is dropped and counted; a malformed queue needs a reset as on every device.

use super::queue::{Chain, Queue, QueueError};
use super::{GuestMemory, VirtioDevice, ID_NET};

const RECEIVEQ: usize = 0;
const TRANSMITQ: usize = 1;

/// VIRTIO_NET_F_MAC: the device has a MAC address in its configuration space.
const F_MAC: u64 = 1 << 5;
/// The size of `virtio_net_hdr` with VERSION_1 (num_buffers always present).
pub const NET_HDR: usize = 12;
/// The shortest frame: an Ethernet header.
pub const FRAME_MIN: usize = 14;
/// The longest frame: 1500 bytes of payload and the Ethernet header (no FCS, no VLAN tag).
pub const FRAME_MAX: usize = 1514;
/// A MAC address the devices use when none is configured: locally administered, unicast.
pub const DEFAULT_MAC: [u8; 6] = [0x02, 0x5a, 0x58, 0x56, 0x00, 0x01];

/// What the device dropped, for the VMM's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetDrops {
    /// Transmitted chains whose frame was too short or too long, or whose header asked for
    /// an offload.
    pub tx_malformed: u64,
    /// Received frames of a bad size, or larger than the buffer the driver offered.
    pub rx_malformed: u64,
}

/// The network device; `T` takes each frame the guest transmits (without its header).
pub struct Net<T> {
    pub mac: [u8; 6],
    pub output: T,
    pub drops: NetDrops,
    /// Where a transmitted chain is read to: kept, so that no frame-sized array is zeroed
    /// for each one.
    tx: [u8; NET_HDR + FRAME_MAX],
}

/// Whether a transmitted header asks for nothing beyond what was negotiated: no
/// NEEDS_CSUM/DATA_VALID flags and gso_type NONE (num_buffers is ignored on transmit).
fn plain_header(hdr: &[u8]) -> bool {
    hdr[0] == 0 && hdr[1] == 0
}

/// The header of a received frame: no flags, no GSO, one buffer.
const RX_HEADER: [u8; NET_HDR] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];

impl<T: FnMut(&[u8])> Net<T> {
    pub fn new(mac: [u8; 6], output: T) -> Self {
        Net {
            mac,
            output,
            drops: NetDrops::default(),
            tx: [0; NET_HDR + FRAME_MAX],
        }
    }

    /// Puts `frame` into the guest's next receive buffer. Returns whether the frame was
    /// consumed (delivered or dropped as malformed); `false` means the driver has no buffer
    /// waiting and the caller should keep the frame. For `MmioTransport::with_device`:
    /// `used` tells whether a buffer went back (an interrupt is due).
    pub fn receive(
        &mut self,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
        frame: &[u8],
        used: &mut bool,
    ) -> Result<bool, QueueError> {
        if !(FRAME_MIN..=FRAME_MAX).contains(&frame.len()) {
            self.drops.rx_malformed += 1;
            return Ok(true);
        }
        let q = &mut queues[RECEIVEQ];
        let mut chain = Chain::new();
        if !q.pop(mem, &mut chain)? {
            return Ok(false);
        }
        let (_, room) = chain.lengths();
        let written = if room < (NET_HDR + frame.len()) as u64 {
            // Without merged buffers each buffer must hold a whole frame; this one cannot, and
            // goes back empty (the driver counts a short packet).
            self.drops.rx_malformed += 1;
            0
        } else {
            chain.write_parts(mem, &[&RX_HEADER, frame]) as u32
        };
        q.push(mem, chain.head, written)?;
        *used = true;
        Ok(true)
    }

    /// Whether the driver has receive buffers waiting (the queue's batch aside: a `false`
    /// from [`Net::receive`] while this is true means the batch is used up).
    pub fn can_receive(queues: &[Queue], mem: &dyn GuestMemory) -> Result<bool, QueueError> {
        queues[RECEIVEQ].has_available(mem)
    }

    /// One transmitted chain: its frame to `output` if it is well-formed.
    fn transmit(&mut self, chain: &Chain, mem: &dyn GuestMemory) {
        let (readable, _) = chain.lengths();
        let len = readable as usize;
        if !(NET_HDR + FRAME_MIN..=NET_HDR + FRAME_MAX).contains(&len)
            || chain.read(mem, &mut self.tx[..len]) < len
        {
            self.drops.tx_malformed += 1;
            return;
        }
        if !plain_header(&self.tx[..NET_HDR]) {
            self.drops.tx_malformed += 1;
            return;
        }
        (self.output)(&self.tx[NET_HDR..len]);
    }
}

impl<T: FnMut(&[u8])> VirtioDevice for Net<T> {
    fn device_id(&self) -> u32 {
        ID_NET
    }

    fn features(&self) -> u64 {
        F_MAC
    }

    fn num_queues(&self) -> usize {
        2
    }

    fn config_byte(&self, offset: u64) -> u8 {
        // mac[6] at 0; status and the rest need features that are not offered.
        self.mac.get(offset as usize).copied().unwrap_or(0)
    }

    fn notify(
        &mut self,
        queue: usize,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, QueueError> {
        if queue != TRANSMITQ {
            return Ok(false);
        }
        queues[TRANSMITQ].serve_all(mem, |chain| {
            self.transmit(chain, mem);
            0
        })
    }
}

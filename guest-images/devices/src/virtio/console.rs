//! virtio-console (virtio 1.x §5.3) with one port and no multiport or size features: the
//! guest's `hvc0`. Transmitted bytes are handed to the VMM as they come; received bytes go
//! into the buffers the driver left in the receive queue.

use super::queue::{Chain, Queue, QueueError};
use super::{GuestMemory, VirtioDevice, ID_CONSOLE};

const RECEIVEQ: usize = 0;
const TRANSMITQ: usize = 1;
/// The most one transmit chain prints: Linux sends at most a page (hvc) or 32 KiB (a port
/// write) at a time, and a hostile chain of 128 buffers over all of guest RAM must not keep
/// the VMM printing for hours. The rest of a longer chain is dropped.
const MAX_TRANSMIT: u64 = 64 << 10;

/// The console device; `T` takes what the guest transmits.
pub struct Console<T> {
    pub output: T,
}

impl<T: FnMut(&[u8])> Console<T> {
    pub fn new(output: T) -> Self {
        Console { output }
    }

    /// Puts `input` into the guest's receive buffers; returns how many bytes it took (fewer
    /// when the driver has left too little room). For `MmioTransport::with_device`.
    pub fn receive(
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
        input: &[u8],
        taken: &mut usize,
    ) -> Result<bool, QueueError> {
        let q = &mut queues[RECEIVEQ];
        let mut used = false;
        let mut chain = Chain::new();
        while *taken < input.len() && q.pop(mem, &mut chain)? {
            let n = chain.write(mem, &input[*taken..]);
            *taken += n;
            q.push(mem, chain.head, n as u32)?;
            used = true;
        }
        Ok(used)
    }

    /// Whether the driver has receive buffers waiting.
    pub fn can_receive(queues: &[Queue], mem: &dyn GuestMemory) -> bool {
        queues[RECEIVEQ].has_available(mem).unwrap_or(false)
    }
}

impl<T: FnMut(&[u8])> VirtioDevice for Console<T> {
    fn device_id(&self) -> u32 {
        ID_CONSOLE
    }

    fn features(&self) -> u64 {
        0
    }

    fn num_queues(&self) -> usize {
        2
    }

    fn config_byte(&self, _offset: u64) -> u8 {
        0
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
        let output = &mut self.output;
        queues[TRANSMITQ].serve_all(mem, |chain| {
            let mut chunk = [0u8; 256];
            let mut budget = MAX_TRANSMIT;
            for d in chain.readable() {
                let len = u64::from(d.len).min(budget);
                budget -= len;
                let mut at = 0u64;
                while at < len {
                    let n = (len - at).min(chunk.len() as u64) as usize;
                    if mem.read(d.addr + at, &mut chunk[..n]).is_ok() {
                        output(&chunk[..n]);
                    }
                    at += n as u64;
                }
            }
            0
        })
    }
}

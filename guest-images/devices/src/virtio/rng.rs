//! virtio-rng (virtio 1.x §5.4): every buffer the driver offers is filled from an
//! [`EntropySource`] (the VMM's: the CPU's RNDR where it has one).

use super::queue::{Queue, QueueError};
use super::{GuestMemory, VirtioDevice, ID_ENTROPY};

/// Where the random bytes come from.
pub trait EntropySource {
    fn fill(&mut self, buf: &mut [u8]);
}

/// The most bytes one request gets: the driver asks for little at a time, and a huge buffer
/// from a hostile guest must not keep the device busy for long.
const MAX_PER_REQUEST: u32 = 4096;

pub struct Rng<S> {
    pub source: S,
}

impl<S: EntropySource> Rng<S> {
    pub fn new(source: S) -> Self {
        Rng { source }
    }
}

impl<S: EntropySource> VirtioDevice for Rng<S> {
    fn device_id(&self) -> u32 {
        ID_ENTROPY
    }

    fn features(&self) -> u64 {
        0
    }

    fn num_queues(&self) -> usize {
        1
    }

    fn config_byte(&self, _offset: u64) -> u8 {
        0
    }

    fn notify(
        &mut self,
        _queue: usize,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, QueueError> {
        let q = &mut queues[0];
        let mut used = false;
        while let Some(chain) = q.pop(mem)? {
            let mut written = 0u32;
            let mut chunk = [0u8; 64];
            for d in chain.writable() {
                let len = d.len.min(MAX_PER_REQUEST - written);
                let mut at = 0u32;
                while at < len {
                    let n = (len - at).min(chunk.len() as u32) as usize;
                    self.source.fill(&mut chunk[..n]);
                    if mem.write(d.addr + u64::from(at), &chunk[..n]).is_ok() {
                        written += n as u32;
                    }
                    at += n as u32;
                }
            }
            q.push(mem, chain.head, written)?;
            used = true;
        }
        Ok(used)
    }
}

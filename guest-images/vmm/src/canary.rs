//! The isolation canary: 16 bytes, a fixed magic and 8 random ones, which the
//! VMM writes at start into its own image and into a page of host RAM outside
//! the guest's, and reports, but passes nothing of to the guest. A guest that
//! found it would be reading the VMM's memory: the hostile guest's isolation
//! scan (`guest-images/hostile`, command line `scan`) looks for the magic in
//! everything it can read, and the suite for the reported bytes in the
//! guest's output.

use core::fmt;

/// The first 8 bytes (little-endian): "zxvCnry!". A scanner must not hold it
/// in its own memory (it would find itself): it computes it.
pub const MAGIC: u64 = u64::from_le_bytes(*b"zxvCnry!");
/// How the canary is aligned wherever it is written, so that a scan need
/// only look at every 16th byte.
pub const ALIGN: u64 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(16))]
pub struct Canary(pub [u8; 16]);

impl Canary {
    /// The canary with `random` as its second half.
    pub fn new(random: u64) -> Self {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&MAGIC.to_le_bytes());
        bytes[8..].copy_from_slice(&random.to_le_bytes());
        Canary(bytes)
    }
}

/// Its bytes in hex, in memory order, as the VMM reports them.
impl fmt::Display for Canary {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_then_random_in_memory_order() {
        let c = Canary::new(0x0123_4567_89ab_cdef);
        assert_eq!(&c.0[..8], b"zxvCnry!");
        assert_eq!(c.to_string(), "7a7876436e727921efcdab8967452301");
        assert_eq!(core::mem::align_of::<Canary>() as u64, ALIGN);
    }
}

//! What kind of kernel the VMM was given: an arm64 Linux `Image` (its
//! 64-byte header says where in RAM it goes and how much memory it needs,
//! Documentation/arch/arm64/booting.rst) or a raw binary entered at its
//! first byte.

use crate::{err, Error};

const HEADER_SIZE: usize = 64;
const MAGIC_OFFSET: usize = 56;
/// "ARM\x64", little-endian.
const MAGIC: u32 = 0x644d_5241;
/// Kernels older than 3.17 leave image_size 0; they expect this offset.
const LEGACY_TEXT_OFFSET: u64 = 0x8_0000;
const FLAG_BIG_ENDIAN: u64 = 1 << 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// An arm64 Linux Image: loaded `text_offset` bytes above a 2 MiB
    /// aligned base, with `image_size` bytes of memory (its BSS included)
    /// from there on.
    Linux { text_offset: u64, image_size: u64 },
    /// Anything else: loaded at the start of RAM and entered there.
    Raw,
}

impl Kernel {
    /// Reads the header at the start of `image` (the whole file, or at
    /// least its first 64 bytes).
    pub fn identify(image: &[u8]) -> Result<Self, Error> {
        let Some(header) = image.get(..HEADER_SIZE) else {
            return Ok(Kernel::Raw);
        };
        let word = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().unwrap());
        let magic = u32::from_le_bytes(header[MAGIC_OFFSET..MAGIC_OFFSET + 4].try_into().unwrap());
        if magic != MAGIC {
            return Ok(Kernel::Raw);
        }
        let (text_offset, image_size, flags) = (word(8), word(16), word(24));
        if image_size == 0 {
            return Ok(Kernel::Linux {
                text_offset: LEGACY_TEXT_OFFSET,
                image_size: image.len() as u64,
            });
        }
        if flags & FLAG_BIG_ENDIAN != 0 {
            return Err(err!(
                "the kernel is a big-endian arm64 Image; guests run little-endian"
            ));
        }
        if !text_offset.is_multiple_of(4096) || text_offset >= 2 << 20 {
            return Err(err!(
                "the kernel Image's text_offset {text_offset:#x} is not a page offset below 2 MiB"
            ));
        }
        Ok(Kernel::Linux {
            text_offset,
            image_size: image_size.max(image.len() as u64),
        })
    }

    /// Where the first byte goes, relative to a 2 MiB aligned RAM base.
    pub fn load_offset(&self) -> u64 {
        match *self {
            Kernel::Linux { text_offset, .. } => text_offset,
            Kernel::Raw => 0,
        }
    }

    /// Bytes of RAM the kernel occupies from its load address, given the
    /// size of its file.
    pub fn footprint(&self, file_size: u64) -> u64 {
        match *self {
            Kernel::Linux { image_size, .. } => image_size.max(file_size),
            Kernel::Raw => file_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text_offset: u64, image_size: u64, flags: u64) -> Vec<u8> {
        let mut h = vec![0u8; 4096];
        h[8..16].copy_from_slice(&text_offset.to_le_bytes());
        h[16..24].copy_from_slice(&image_size.to_le_bytes());
        h[24..32].copy_from_slice(&flags.to_le_bytes());
        h[56..60].copy_from_slice(b"ARM\x64");
        h
    }

    #[test]
    fn debian_image_header() {
        // linux-image-6.1.0-*-arm64: text_offset 0, image_size 0x2010000,
        // flags 0xa (4 KiB pages, anywhere in RAM).
        let k = Kernel::identify(&header(0, 0x201_0000, 0xa)).unwrap();
        assert_eq!(
            k,
            Kernel::Linux {
                text_offset: 0,
                image_size: 0x201_0000
            }
        );
        assert_eq!(k.load_offset(), 0);
        assert_eq!(k.footprint(0x1f6_e000), 0x201_0000);
    }

    #[test]
    fn text_offset_is_honoured() {
        let k = Kernel::identify(&header(0x8_0000, 0x100_0000, 0x2)).unwrap();
        assert_eq!(k.load_offset(), 0x8_0000);
    }

    #[test]
    fn old_kernels_without_image_size() {
        let k = Kernel::identify(&header(0, 0, 0)).unwrap();
        assert_eq!(
            k,
            Kernel::Linux {
                text_offset: 0x8_0000,
                image_size: 4096
            }
        );
    }

    #[test]
    fn raw_binaries() {
        let k = Kernel::identify(&[0x1f, 0x20, 0x03, 0xd5]).unwrap();
        assert_eq!((k, k.load_offset(), k.footprint(4)), (Kernel::Raw, 0, 4));
        let mut no_magic = header(0, 0x1000, 0);
        no_magic[56] = b'X';
        assert_eq!(Kernel::identify(&no_magic).unwrap(), Kernel::Raw);
    }

    #[test]
    fn refuses_what_cannot_boot() {
        let e = Kernel::identify(&header(0, 0x1000, 1)).unwrap_err();
        assert!(e.contains("big-endian"), "{e}");
        let e = Kernel::identify(&header(0x20_0000, 0x1000, 0)).unwrap_err();
        assert!(e.contains("text_offset"), "{e}");
    }
}

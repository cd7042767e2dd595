//! Checking an EL1 host ELF before it is loaded (docs/abi.md §1): an ELF64
//! little-endian AArch64 executable whose PT_LOAD segments lie in host RAM
//! and clear of everything the monitor must keep (its own memory, the DTB it
//! hands over, the initrd being read).

use crate::mm::range::Range;
use arrayvec::ArrayVec;
use core::fmt;
use elf::{abi, endian::LittleEndian, ElfBytes};

pub const MAX_SEGMENTS: usize = 16;

/// One PT_LOAD segment: `file_size` bytes from `offset` in the file go to
/// `paddr`; the rest up to `mem_size` is zeroed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub paddr: u64,
    pub offset: u64,
    pub file_size: u64,
    pub mem_size: u64,
}

impl Segment {
    pub fn range(&self) -> Range {
        Range::new(self.paddr, self.mem_size)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct HostImage {
    pub entry: u64,
    pub segments: ArrayVec<Segment, MAX_SEGMENTS>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum LoadError {
    NotElf,
    WrongKind,
    NoSegments,
    TooManySegments,
    BadSegment(u64),
    OutsideRam(Range),
    Overlaps(Range, &'static str),
    EntryNotLoaded(u64),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotElf => write!(f, "not an ELF file"),
            Self::WrongKind => write!(f, "not an ELF64 little-endian AArch64 executable"),
            Self::NoSegments => write!(f, "no PT_LOAD segments"),
            Self::TooManySegments => write!(f, "more than {MAX_SEGMENTS} PT_LOAD segments"),
            Self::BadSegment(p) => write!(
                f,
                "segment at {p:#x} has file data beyond the file or its memory size"
            ),
            Self::OutsideRam(r) => write!(
                f,
                "segment {:#x}..{:#x} is not inside host RAM",
                r.base,
                r.end()
            ),
            Self::Overlaps(r, what) => {
                write!(f, "segment {:#x}..{:#x} overlaps {what}", r.base, r.end())
            }
            Self::EntryNotLoaded(e) => write!(
                f,
                "entry point {e:#x} is not in a loaded executable segment"
            ),
        }
    }
}

/// Parses `file` as a host image.
pub fn parse(file: &[u8]) -> Result<HostImage, LoadError> {
    let elf = ElfBytes::<LittleEndian>::minimal_parse(file).map_err(|_| LoadError::NotElf)?;
    let hdr = &elf.ehdr;
    if hdr.class != elf::file::Class::ELF64
        || hdr.e_machine != abi::EM_AARCH64
        || hdr.e_type != abi::ET_EXEC
    {
        return Err(LoadError::WrongKind);
    }
    let mut segments = ArrayVec::new();
    let mut entry = None;
    for ph in elf
        .segments()
        .ok_or(LoadError::NoSegments)?
        .iter()
        .filter(|p| p.p_type == abi::PT_LOAD)
    {
        let seg = Segment {
            paddr: ph.p_paddr,
            offset: ph.p_offset,
            file_size: ph.p_filesz,
            mem_size: ph.p_memsz,
        };
        let file_end = seg.offset.checked_add(seg.file_size);
        if seg.file_size > seg.mem_size
            || file_end.is_none_or(|e| e > file.len() as u64)
            || seg.paddr.checked_add(seg.mem_size).is_none()
        {
            return Err(LoadError::BadSegment(seg.paddr));
        }
        // e_entry is a link (virtual) address; the host starts with the MMU
        // off, so it is translated to the physical address it is loaded at.
        if ph.p_flags & abi::PF_X != 0 && Range::new(ph.p_vaddr, ph.p_memsz).contains(hdr.e_entry) {
            entry = Some(hdr.e_entry - ph.p_vaddr + ph.p_paddr);
        }
        segments
            .try_push(seg)
            .map_err(|_| LoadError::TooManySegments)?;
    }
    if segments.is_empty() {
        return Err(LoadError::NoSegments);
    }
    let entry = entry.ok_or(LoadError::EntryNotLoaded(hdr.e_entry))?;
    Ok(HostImage { entry, segments })
}

impl HostImage {
    /// Checks every segment lies inside one of `ram` and overlaps none of
    /// the `keep` ranges (each with a name for the error message).
    pub fn check_placement(
        &self,
        ram: &[Range],
        keep: &[(Range, &'static str)],
    ) -> Result<(), LoadError> {
        for seg in self.segments.iter().filter(|s| s.mem_size != 0) {
            let r = seg.range();
            if let Some((_, what)) = keep.iter().find(|(k, _)| k.overlaps(&r)) {
                return Err(LoadError::Overlaps(r, what));
            }
            if !ram.iter().any(|bank| bank.covers(&r)) {
                return Err(LoadError::OutsideRam(r));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// A minimal ELF64 AArch64 executable with one PT_LOAD segment.
    fn elf(entry: u64, paddr: u64, flags: u32, machine: u16) -> Vec<u8> {
        elf_at(entry, paddr, paddr, flags, machine)
    }

    fn elf_at(entry: u64, vaddr: u64, paddr: u64, flags: u32, machine: u16) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        f.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        f.extend_from_slice(&machine.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        f.extend_from_slice(&entry.to_le_bytes());
        f.extend_from_slice(&64u64.to_le_bytes()); // phoff
        f.extend_from_slice(&0u64.to_le_bytes()); // shoff
        f.extend_from_slice(&0u32.to_le_bytes());
        for v in [64u16, 56, 1, 64, 0, 0] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        f.extend_from_slice(&flags.to_le_bytes());
        for v in [120u64, vaddr, paddr, 8, 0x2000, 0x1000] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(&[0xd5; 8]);
        f
    }

    #[test]
    fn parses_a_host() {
        let img = parse(&elf(
            0x4020_0000,
            0x4020_0000,
            abi::PF_R | abi::PF_X,
            abi::EM_AARCH64,
        ))
        .unwrap();
        assert_eq!(img.entry, 0x4020_0000);
        assert_eq!(
            img.segments[0],
            Segment {
                paddr: 0x4020_0000,
                offset: 120,
                file_size: 8,
                mem_size: 0x2000
            }
        );
    }

    #[test]
    fn translates_a_virtual_entry_to_its_load_address() {
        let img = parse(&elf_at(
            0xffff_0000_0000_0040,
            0xffff_0000_0000_0000,
            0x4008_0000,
            abi::PF_X,
            abi::EM_AARCH64,
        ))
        .unwrap();
        assert_eq!(img.entry, 0x4008_0040);
        assert_eq!(img.segments[0].paddr, 0x4008_0000);
    }

    #[test]
    fn rejects_wrong_files() {
        assert_eq!(parse(b"not an elf"), Err(LoadError::NotElf));
        assert_eq!(
            parse(&elf(0x4020_0000, 0x4020_0000, abi::PF_X, abi::EM_X86_64)),
            Err(LoadError::WrongKind)
        );
        assert_eq!(
            parse(&elf(0x5000_0000, 0x4020_0000, abi::PF_X, abi::EM_AARCH64)),
            Err(LoadError::EntryNotLoaded(0x5000_0000))
        );
        assert_eq!(
            parse(&elf(0x4020_0000, 0x4020_0000, abi::PF_R, abi::EM_AARCH64)),
            Err(LoadError::EntryNotLoaded(0x4020_0000))
        );
        let mut truncated = elf(0x4020_0000, 0x4020_0000, abi::PF_X, abi::EM_AARCH64);
        truncated.truncate(124);
        assert_eq!(parse(&truncated), Err(LoadError::BadSegment(0x4020_0000)));
    }

    #[test]
    fn placement_checks() {
        let img = parse(&elf(0x4020_0000, 0x4020_0000, abi::PF_X, abi::EM_AARCH64)).unwrap();
        let ram = [Range::new(0x4000_0000, 0x4000_0000)];
        assert_eq!(img.check_placement(&ram, &[]), Ok(()));
        let monitor = Range::new(0x4020_1000, 0x1000);
        assert_eq!(
            img.check_placement(&ram, &[(monitor, "monitor memory")]),
            Err(LoadError::Overlaps(
                Range::new(0x4020_0000, 0x2000),
                "monitor memory"
            ))
        );
        assert_eq!(
            img.check_placement(&[Range::new(0x4020_1000, 0x10000)], &[]),
            Err(LoadError::OutsideRam(Range::new(0x4020_0000, 0x2000)))
        );
        assert_eq!(
            format!(
                "{}",
                LoadError::Overlaps(Range::new(0x10, 0x10), "the initrd")
            ),
            "segment 0x10..0x20 overlaps the initrd"
        );
    }
}

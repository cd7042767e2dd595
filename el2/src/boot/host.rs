//! Starting the EL1 host (docs/abi.md §1): load its ELF (from the initrd or the
//! built-in default), write its DTB (monitor memory and initrd removed) into
//! the hand-off area, and drop to EL1h with MMU off and DAIF masked.

use crate::arch::bits::SCTLR_EL1_RESET;
use crate::arch::{self, cache};
use crate::boot::hostload::{self, LoadError};
use crate::mm::range::Range;
use crate::platform::system::System;
use aarch64_cpu::registers::{Writeable, SCTLR_EL1};
use core::fmt;
use dtb::edit::{self as dtb_edit, Edit};
use vcpu::regs::RegisterFile;

/// The default host, embedded at build time (empty when built without one).
static DEFAULT_HOST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/default-host.elf"));

pub struct Host {
    pub entry: u64,
    pub dtb: u64,
}

pub enum HostError {
    NoImage,
    Load(LoadError),
    Dtb(dtb_edit::DtbError),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoImage => write!(
                f,
                "no host image: pass one with -initrd, or build the monitor with a default host"
            ),
            Self::Load(e) => write!(f, "host ELF rejected: {e}"),
            Self::Dtb(e) => write!(f, "cannot write the host DTB: {e}"),
        }
    }
}

/// Physical memory as a byte slice, through the EL2 identity map.
///
/// # Safety
///
/// `range` must be host RAM (mapped RW in EL2 stage 1) that nothing else
/// uses while the slice lives: the host is not running yet.
unsafe fn phys(range: Range) -> &'static mut [u8] {
    // SAFETY: as the caller promises.
    unsafe { core::slice::from_raw_parts_mut(range.base as *mut u8, range.size as usize) }
}

/// Loads the host and writes its DTB into `handoff`, with `kept` (monitor
/// memory and the other RAM the monitor keeps) cut out of its memory nodes.
pub fn prepare(
    sys: &System,
    dtb: &[u8],
    kept: &[Range],
    handoff: Range,
) -> Result<Host, HostError> {
    let initrd = sys
        .platform
        .initrd
        .filter(|r| sys.is_host_ram(r.base, r.size));
    let (file, source): (&[u8], &str) = match initrd {
        // SAFETY: the initrd was checked to be host RAM just above.
        Some(r) => (unsafe { phys(r) }, "the initrd"),
        None => (DEFAULT_HOST, "the built-in default host"),
    };
    if file.is_empty() {
        return Err(HostError::NoImage);
    }
    let image = hostload::parse(file).map_err(HostError::Load)?;
    let keep = [
        (sys.monitor, "monitor memory"),
        (handoff, "the DTB hand-off area below the monitor"),
        (initrd.unwrap_or_default(), "the initrd it is loaded from"),
    ];
    image
        .check_placement(&sys.host_ram, &keep)
        .map_err(HostError::Load)?;
    for seg in &image.segments {
        // SAFETY: `check_placement` put the segment in host RAM, clear of
        // monitor memory, the hand-off area and the initrd it is read from.
        let dst = unsafe { phys(seg.range()) };
        let (data, bss) = dst.split_at_mut(seg.file_size as usize);
        data.copy_from_slice(&file[seg.offset as usize..(seg.offset + seg.file_size) as usize]);
        bss.fill(0);
        cache::clean_to_poc(seg.paddr, seg.mem_size);
    }
    cache::invalidate_icache();
    log::info!(
        "loaded the host from {source}: {} segment(s), entry {:#x}",
        image.segments.len(),
        image.entry
    );

    let edit = Edit {
        remove_memory: kept,
        drop_chosen_props: &["linux,initrd-start", "linux,initrd-end"],
        add_memreserve: &[handoff],
    };
    // SAFETY: the hand-off area is host RAM the loaded segments stay clear of.
    let out = unsafe { phys(handoff) };
    let size = dtb_edit::rewrite(dtb, &edit, out).map_err(HostError::Dtb)?;
    cache::clean_to_poc(handoff.base, size as u64);
    Ok(Host {
        entry: image.entry,
        dtb: handoff.base,
    })
}

/// Drops to the host at `entry` in EL1h, MMU off, DAIF masked, with x0/x1.
pub fn enter(entry: u64, x0: u64, x1: u64) -> ! {
    SCTLR_EL1.set(SCTLR_EL1_RESET);
    arch::drop_to_lower(&RegisterFile::el1_entry(entry, x0, x1))
}

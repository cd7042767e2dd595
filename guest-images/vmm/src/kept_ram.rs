//! The host RAM the VMM may not give away, from what it knows about itself
//! and what the DTB says: its own image (stacks and heap included), the DTB
//! it was handed, `/memreserve/` entries and `/reserved-memory` nodes.

use crate::hostram::HostRam;
use crate::Error;
use core::ops::Range;
use el1rt::platform::Board;

extern "C" {
    static __bss_end: [u8; 0];
    fn _start();
}

/// The VMM's own image in host RAM, its stacks and heap included.
pub fn vmm_image() -> Range<u64> {
    _start as *const () as u64..core::ptr::addr_of!(__bss_end) as u64
}

pub fn host_ram(board: &Board) -> Result<HostRam, Error> {
    let mut ram = HostRam::new(&board.memory);
    ram.claim("the VMM image", vmm_image(), false)?;
    let dtb = board.dtb.as_ptr() as u64;
    ram.claim("the host DTB", dtb..dtb + board.dtb.len() as u64, false)?;
    let Some(fdt) = board.fdt() else {
        return Ok(ram);
    };
    for r in fdt.memory_reservations() {
        let base = r.address() as u64;
        ram.claim("reserved memory", base..base + r.size() as u64, false)?;
    }
    if let Some(reserved) = fdt.find_node("/reserved-memory") {
        for region in reserved
            .children()
            .flat_map(|n| n.reg().into_iter().flatten())
        {
            let base = region.starting_address as u64;
            let size = region.size.unwrap_or(0) as u64;
            ram.claim("reserved memory", base..base + size, false)?;
        }
    }
    Ok(ram)
}

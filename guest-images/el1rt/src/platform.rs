//! What the host learns from the DTB the monitor hands it (device addresses
//! translated to CPU physical addresses by the `dtb` crate, as the monitor
//! reads them).

use arrayvec::ArrayVec;
use fdt::Fdt;

pub const MAX_CPUS: usize = 8;

pub struct Board {
    pub dtb: &'static [u8],
    /// The console PL011 (the monitor's choice: `dtb::console_pl011`).
    pub uart: u64,
    /// MPIDR of each CPU, in DTB order.
    pub cpus: ArrayVec<u64, MAX_CPUS>,
    /// (base, size) of each /memory range.
    pub memory: ArrayVec<(u64, u64), 16>,
    pub bootargs: &'static str,
    pub gic_version: u32,
}

impl Board {
    pub fn from_dtb(pa: u64) -> Self {
        // SAFETY: the monitor passes a valid DTB in x0 (docs/abi.md §1); its header
        // gives its size. A bad DTB fails the suite's first test.
        let dtb = unsafe {
            let size = u32::from_be(core::ptr::read_volatile((pa + 4) as *const u32)) as usize;
            core::slice::from_raw_parts(pa as *const u8, size.min(1 << 21))
        };
        let mut board = Board {
            dtb,
            uart: 0x0900_0000,
            cpus: ArrayVec::new(),
            memory: ArrayVec::new(),
            bootargs: "",
            gic_version: 0,
        };
        let Ok(fdt) = Fdt::new(dtb) else { return board };
        if let Some(uart) = dtb::console_pl011(&fdt) {
            board.uart = uart.base;
        }
        board.bootargs = fdt.chosen().bootargs().unwrap_or("");
        if let Some(cpus) = fdt.find_node("/cpus") {
            for cpu in cpus.children().filter(|c| c.name.starts_with("cpu@")) {
                if let Some(reg) = cpu.property("reg").and_then(|p| p.as_usize()) {
                    let _ = board.cpus.try_push(reg as u64);
                }
            }
        }
        for r in dtb::memory(&fdt) {
            let _ = board.memory.try_push((r.base, r.size));
        }
        board.gic_version = if fdt.find_compatible(&["arm,gic-v3"]).is_some() {
            3
        } else {
            2
        };
        board
    }

    pub fn fdt(&self) -> Option<Fdt<'static>> {
        Fdt::new(self.dtb).ok()
    }
}

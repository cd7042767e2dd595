//! What the monitor learned at boot and keeps for the rest of its life: the
//! platform (parsed from a private copy of the DTB), its own memory, the RAM
//! the host owns, and the host's stage 2.

use crate::mm::mmu::HostStage2;
use crate::mm::range::Range;
use crate::platform::vgic::Vgic;
use crate::platform::{Platform, MAX_RANGES};
use arrayvec::ArrayVec;
use spin::Once;

pub struct System {
    pub platform: Platform<'static>,
    /// Monitor-owned memory: image, stacks, tables, heap.
    pub monitor: Range,
    /// RAM the host owns: every memory bank minus monitor memory and the
    /// firmware's spin-table pages.
    pub host_ram: ArrayVec<Range, MAX_RANGES>,
    pub host_stage2: HostStage2,
    pub list_registers: u32,
    /// The GIC virtual CPU interface guests' interrupts go through.
    pub vgic: Option<Vgic>,
}

static SYSTEM: Once<System> = Once::new();

pub fn init(system: System) -> &'static System {
    SYSTEM.call_once(|| system)
}

/// The boot-time facts; only valid after `init` (primary boot).
pub fn get() -> &'static System {
    SYSTEM.get().expect("system::get before boot finished")
}

/// The boot-time facts, if boot got that far (for the fatal paths).
pub fn try_get() -> Option<&'static System> {
    SYSTEM.get()
}

impl System {
    /// Whether `[pa, pa + len)` lies inside one host RAM range.
    /// (On every host buffer of a service call: the end is computed once,
    /// each range is one subtraction and two compares, and the first, which
    /// on most machines is all the host has, is tried before any loop.)
    #[inline(always)]
    pub fn is_host_ram(&self, pa: u64, len: u64) -> bool {
        let Some(end) = pa.checked_add(len) else {
            return false;
        };
        let inside = |r: &Range| pa >= r.base && end - r.base <= r.size;
        match self.host_ram.split_first() {
            Some((first, rest)) => inside(first) || rest.iter().any(inside),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing;

    #[test]
    fn host_ram_is_inside_one_range_with_no_overflow() {
        let sys = testing::boot();
        let r = sys.host_ram[0];
        assert!(sys.is_host_ram(r.base, r.size));
        assert!(sys.is_host_ram(r.base + r.size - 8, 8));
        assert!(!sys.is_host_ram(r.base + r.size - 8, 9), "past the end");
        assert!(!sys.is_host_ram(r.base - 1, 2), "before the start");
        assert!(!sys.is_host_ram(r.base + r.size, 1), "just after");
        assert!(!sys.is_host_ram(r.base + 8, u64::MAX), "wrapping length");
        assert!(!sys.is_host_ram(u64::MAX, 2), "wrapping address");
    }
}

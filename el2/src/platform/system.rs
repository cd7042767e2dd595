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
    pub fn is_host_ram(&self, pa: u64, len: u64) -> bool {
        self.host_ram.iter().any(|r| r.covers(&Range::new(pa, len)))
    }
}

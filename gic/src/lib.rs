//! The GIC virtual interface of zxvisor, following Zircon: the monitor owns the list registers
//! and injects the vectors `zx_vcpu_interrupt` marks pending; the guest's distributor is
//! emulated elsewhere. This crate holds the hardware-independent part: the pending set, the
//! list-register encodings and their allocation, and the trait the monitor implements for
//! GICv3 (`ICH_*_EL2` system registers) and GICv2 (the GICH frame).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod lr;
pub mod pending;
pub mod tracker;

pub use lr::{ListRegister, LrState};
pub use pending::{key_of_vector, key_of_vintid, vintid_of_key, PendingSet, NUM_VECTORS};
pub use tracker::{FillResult, LrTracker};

/// The initial `ICH_VMCR_EL2` of a vCPU (GICv3): VPMR (bits 31:24) = 0xFF lets every priority
/// through, VFIQEn (bit 3) would signal Group 0 as FIQ, VENG1 (bit 1) enables Group 1, the
/// group the injected interrupts use; the binary points are 0.
pub const VMCR_V3_DEFAULT: u32 = 0xFF00_000A;

/// The initial `GICH_VMCR` of a vCPU (GICv2): VMPriMask (bits 31:27) = 0x1F (priority mask 0xF8)
/// lets every priority through, VMGrp0En (bit 0) enables Group 0, the group the injected
/// interrupts use, and with VMFIQEn (bit 3) clear Group 0 is signalled as IRQ.
pub const VMCR_V2_DEFAULT: u32 = 0xF800_0001;

/// The PPI of the GIC maintenance interrupt (underflow), taken by the monitor at EL2.
pub const MAINTENANCE_PPI: u32 = 25;

/// The PPI of the EL1 virtual timer, which the monitor injects into the guest when it fires.
pub const VIRTUAL_TIMER_PPI: u32 = 27;

/// The PPI of the EL1 (non-secure) physical timer, which the monitor emulates for guests.
pub const PHYSICAL_TIMER_PPI: u32 = 30;

/// The GIC virtual CPU interface of one physical CPU (GICv3 ICH_* registers or the GICv2
/// GICH frame).
pub trait VirtualInterface {
    /// The number of list registers (`ListRegs + 1` of `ICH_VTR_EL2` or `GICH_VTR`).
    fn num_lrs(&self) -> usize;

    /// Reads the first `out.len()` list registers (at most [`num_lrs`](Self::num_lrs)),
    /// decoded; an empty one (ELRSR bit 1) may be returned as [`ListRegister::INVALID`].
    fn read_lrs(&self, out: &mut [ListRegister]);

    /// Writes `lrs` to the first `lrs.len()` list registers.
    fn write_lrs(&self, lrs: &[ListRegister]);

    /// Empties the first `count` list registers (at most [`num_lrs`](Self::num_lrs)).
    fn clear_lrs(&self, count: usize);

    /// Sets or clears the underflow maintenance interrupt enable (`HCR.UIE`).
    fn set_underflow_irq(&self, on: bool);

    /// Before a vCPU runs: restores its VMCR and active priorities and enables the virtual
    /// CPU interface (`HCR.En`, with `HCR.UIE` clear).
    fn open(&self, state: InterfaceState);

    /// After a vCPU ran: its VMCR and active priorities, and the virtual CPU interface
    /// disabled (`HCR` = 0).
    fn close(&self) -> InterfaceState;
}

/// A vCPU's virtual CPU interface state besides its list registers; the guest changes both
/// without an exit (its ICV_*/GICV_* registers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceState {
    /// The virtual machine control register (`ICH_VMCR_EL2` / `GICH_VMCR`).
    pub vmcr: u32,
    /// The active priorities of the group the guest uses (`ICH_AP1R0_EL2` / `GICH_APR`).
    pub apr: u32,
}

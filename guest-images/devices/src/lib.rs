//! Device models for a VMM that runs an unmodified Linux guest on zxvisor: the guest's GIC
//! distributor (GICv2 or GICv3) with its GICv3 redistributors, a PL011 UART, a PL031 clock, and
//! virtio 1.x devices (block, console, entropy) over virtio-mmio ([`virtio`]).
//!
//! The models are pure state machines. The VMM feeds them the guest's trapped loads and stores
//! (offset within the device's region, access size, value) and carries out what they return:
//! the bytes a UART transmits, the level of its interrupt line, and the interrupts to inject
//! with `zx_vcpu_interrupt` ([`Delivery`]). The guest's CPU interface is the hardware virtual
//! interface and the monitor owns the list registers, so an interrupt's life here ends at its
//! delivery. No heap, no `unsafe`, and no guest access can make a model panic.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod gic;
mod mmio;
mod pl011;
mod pl031;
pub mod virtio;

pub use gic::{Gic, GicVersion, PrivateStatus};
pub use pl011::{Pl011, Pl011Effect};
pub use pl031::Pl031;

/// The most vCPUs a [`Gic`] serves (GICv2's limit of eight CPU interfaces).
pub const MAX_VCPUS: usize = 8;

/// The interrupt IDs the GIC implements: SGIs 0-15, PPIs 16-31, SPIs 32-255.
pub const NUM_INTIDS: u32 = 256;

/// The size of the distributor region; GICv2 uses its first 4 KiB.
pub const GICD_SIZE: u64 = 0x1_0000;

/// The size of one GICv3 redistributor: its RD_base frame and its SGI_base frame.
pub const GICR_FRAME_SIZE: u64 = 0x2_0000;

/// An interrupt to inject: the VMM calls `zx_vcpu_interrupt(vcpu, intid)`. On GICv2 an SGI's
/// `intid` carries its sending vCPU in bits 12:10, as GICC_IAR does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub vcpu: usize,
    pub intid: u32,
}

/// The most deliveries one call can produce: every SPI once, every PPI of every vCPU once,
/// and every SGI of every vCPU once per sending vCPU (GICv2). A delivery clears the
/// interrupt's latched pending state, and a call delivers only latched interrupts, so no call
/// can produce more.
pub const MAX_DELIVERIES: usize = (NUM_INTIDS as usize - 32) + MAX_VCPUS * (16 + 16 * MAX_VCPUS);

/// Where the [`Gic`] appends the interrupts a call delivers. Calls append; the VMM injects and
/// clears. When it is full, the rest stay latched and come out of a later call.
pub type Deliveries = arrayvec::ArrayVec<Delivery, MAX_DELIVERIES>;

//! Everything that touches the CPU directly: the boot, vector and world-switch
//! assembly, EL2 configuration, cache and TLB maintenance, address
//! translation, firmware calls, ID and debug registers. Each item is a small
//! safe face over one instruction sequence.

pub mod bits;
pub(crate) mod insn;
pub(crate) mod mmio;
pub(crate) mod sysreg;

pub(crate) mod cache;
pub(crate) mod copy;
pub(crate) mod debug;
pub(crate) mod el2config;
pub(crate) mod firmware;
pub(crate) mod id_registers;
pub(crate) mod image;
pub(crate) mod semihosting;
pub(crate) mod tlb;
pub(crate) mod translate;
pub(crate) mod world;

pub use image::{
    drop_to_lower, halt, image_layout, park_cpu, secondary_entry_address, spin_table_entry,
    vectors_address, ImageLayout, STACK_SIZE,
};

//! Everything that touches the CPU directly: the boot, vector and world-switch
//! assembly, EL2 configuration, cache and TLB maintenance, address
//! translation, firmware calls, ID and debug registers. Each item is a small
//! safe face over one instruction sequence.

pub mod bits;
pub mod insn;
pub mod mmio;
pub mod sysreg;

pub mod cache;
pub mod debug;
pub mod el2config;
pub mod firmware;
pub mod id_registers;
pub mod image;
pub mod semihosting;
pub mod tlb;
pub mod translate;
pub mod world;

pub use image::{
    drop_to_lower, halt, image_layout, park_cpu, secondary_entry_address, spin_table_entry,
    vectors_address, ImageLayout, STACK_SIZE,
};

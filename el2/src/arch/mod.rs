//! Everything that touches the CPU directly: the boot, vector and world-switch
//! assembly, EL2 configuration, cache and TLB maintenance, address
//! translation, firmware calls, ID and debug registers. Each item is a small
//! safe face over one instruction sequence.

pub mod bits;

#[cfg(target_os = "none")]
pub mod cache;
#[cfg(target_os = "none")]
pub mod debug;
#[cfg(target_os = "none")]
pub mod el2config;
#[cfg(target_os = "none")]
pub mod firmware;
#[cfg(target_os = "none")]
pub mod id_registers;
#[cfg(target_os = "none")]
pub mod image;
#[cfg(target_os = "none")]
pub mod semihosting;
#[cfg(target_os = "none")]
pub mod tlb;
#[cfg(target_os = "none")]
pub mod translate;
#[cfg(target_os = "none")]
pub mod world;

#[cfg(target_os = "none")]
pub use image::{
    drop_to_lower, halt, image_layout, park_cpu, secondary_entry_address, spin_table_entry,
    vectors_address, ImageLayout, STACK_SIZE,
};

//! Everything that touches the CPU directly: the boot, vector and world-switch
//! assembly, EL2 configuration, cache and TLB maintenance, address
//! translation, firmware calls, ID and debug registers. Each item is a small
//! safe face over one instruction sequence.

/// Declares modules that exist only in the bare-metal monitor build.
macro_rules! target_only {
    ($($module:ident),* $(,)?) => { $(#[cfg(target_os = "none")] pub mod $module;)* };
}
pub(crate) use target_only;

pub mod bits;

target_only!(
    cache,
    debug,
    el2config,
    firmware,
    id_registers,
    image,
    semihosting,
    tlb,
    translate,
    world
);

#[cfg(target_os = "none")]
pub use image::{
    drop_to_lower, halt, image_layout, park_cpu, secondary_entry_address, spin_table_entry,
    vectors_address, ImageLayout, STACK_SIZE,
};

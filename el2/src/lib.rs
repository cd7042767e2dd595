//! zxvisor's EL2 monitor, laid out by subsystem (docs/design.md, "The
//! layout"): `arch` touches the CPU, `platform` the machine's devices and
//! facts, `mm` memory and translation tables, `objects` the kernel objects,
//! `exit` a guest's exits, `calls` the host's calls, and `boot` brings it all
//! up. Modules that run only on the target are declared
//! `#[cfg(target_os = "none")]`, where rustfmt and clippy still see them; the
//! rest are host-tested with `cargo test`.
// On the build machine the library has std: its fakes (arch::sysreg::fake,
// arch::insn::fake) keep per-thread state.
#![cfg_attr(target_os = "none", no_std)]
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub mod arch;
pub mod boot;
pub mod exit;
pub mod mm;
pub mod objects;
pub mod platform;
#[cfg(test)]
pub mod testing;

// The target-side modules are pub(crate) (each folder's mod.rs), so that
// LLVM sees all callers of the hot paths' functions and inlines them as when
// they were private.
mod calls;

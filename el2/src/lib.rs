//! zxvisor's EL2 monitor, laid out by subsystem (docs/design.md, "The
//! layout"): `arch` touches the CPU, `platform` the machine's devices and
//! facts, `mm` memory and translation tables, `objects` the kernel objects,
//! `exit` a guest's exits, `calls` the host's calls, and `boot` brings it all
//! up. Modules that run only on the target are declared with
//! `arch::target_only!`; the rest are host-tested with `cargo test`.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod arch;
pub mod boot;
pub mod exit;
pub mod mm;
pub mod objects;
pub mod platform;

#[cfg(target_os = "none")]
mod calls;

//! zxvisor's EL2 monitor. The modules at the top are pure logic, host-tested
//! with `cargo test`; the rest run only on the target (bare-metal aarch64).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod dtb_edit;
pub mod handles;
pub mod hostload;
pub mod inject;
pub mod mappings;
pub mod pagetable;
pub mod placement;
pub mod platform;
pub mod port;
pub mod range;
pub mod trapframe;
pub mod trapmap;
pub mod vmid;

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod banner;
#[cfg(target_os = "none")]
mod boot;
#[cfg(target_os = "none")]
mod calls;
#[cfg(target_os = "none")]
mod console;
#[cfg(target_os = "none")]
mod dispatch;
#[cfg(target_os = "none")]
mod el2config;
#[cfg(target_os = "none")]
mod exceptions;
#[cfg(target_os = "none")]
mod exits;
#[cfg(target_os = "none")]
mod fatal;
#[cfg(target_os = "none")]
mod guest;
#[cfg(target_os = "none")]
mod heap;
#[cfg(target_os = "none")]
mod host;
#[cfg(target_os = "none")]
mod host_psci;
#[cfg(target_os = "none")]
mod hostmem;
#[cfg(target_os = "none")]
mod info;
#[cfg(target_os = "none")]
mod logger;
#[cfg(target_os = "none")]
mod mmu;
#[cfg(target_os = "none")]
mod objects;
#[cfg(target_os = "none")]
mod percpu;
#[cfg(target_os = "none")]
mod system;
#[cfg(target_os = "none")]
mod time;
#[cfg(target_os = "none")]
mod virtual_cpu;
#[cfg(target_os = "none")]
mod world;

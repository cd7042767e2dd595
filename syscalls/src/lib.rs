//! The zxvisor service-call ABI (`docs/abi.md`), shared by the EL2 monitor and the
//! EL1 programs that call it.
//!
//! Values and structure layouts are Zircon's. Every `#[repr(C)]` structure carries
//! compile-time checks of its size and field offsets, and `to_bytes`/`from_bytes` conversions
//! to and from its little-endian memory image, so the monitor can copy them to and from
//! caller memory without `unsafe`. The `client` module (aarch64 only) issues the calls.

#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code, unsafe_op_in_unsafe_fn, missing_docs)]

pub mod exit_counts;
pub mod hypervisor;
pub mod ids;
pub mod object;
pub mod port;
pub mod psci;
pub mod rights;
pub mod status;
mod wire;

#[cfg(target_arch = "aarch64")]
#[allow(unsafe_code)]
pub mod client;

pub use object::{Handle, ObjType};
pub use rights::Rights;
pub use status::{Status, ZxResult};

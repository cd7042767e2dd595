//! The kernel objects the host holds handles to: the handle table
//! (`handles`, `registry`, and the read sections its lock-free lookups
//! run in, `readers`), guests, vCPUs, ports, and the per-vCPU models
//! they keep (the emulated physical timer, timer lines, rate limits, the
//! host's choice for WFI).

pub mod handles;
pub mod port;
pub mod ptimer;
pub mod ratelimit;
pub mod timer_line;
pub mod wfi;

pub(crate) mod guest;
pub(crate) mod readers;
pub(crate) mod registry;
pub(crate) mod virtual_cpu;

pub use registry::{
    close, duplicate, get, get_as, insert, install_hypervisor_resource, new_koid, with_as, Object,
    Resource, Vmo,
};

//! Per-vCPU logic of zxvisor that is independent of the monitor binary: decoding exception
//! syndromes into typed exits, the guest register file with its `ZX_VCPU_STATE` and
//! `ZX_VCPU_IO` rules, trapped system registers, the ID registers guests see, and the guest's PSCI interface.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod esr;
pub mod exit;
pub mod idregs;
pub mod psci;
pub mod regs;
pub mod sysreg;

//! zxv-fuzz: a hostile EL1 host for zxvisor (issue 16). Seeded and
//! randomized, it attacks the service-call ABI with random and semi-valid
//! calls and random guest code, from every CPU, and checks after every call
//! that the status is one the ABI documents and that a failed call changed
//! nothing it can see; throughout, that canary pages stay as they were,
//! monitor memory stays out of reach, every enter returns within a bound,
//! and the free heap comes back to its baseline once everything is closed.
//! README "The hostile host" says how to run it.
//!
//! The modules at the top are pure logic, host-tested with `cargo test`;
//! the rest runs only on the target (bare-metal aarch64, under the monitor).
#![cfg_attr(not(test), no_std)]

pub mod code;
pub mod config;
pub mod model;
pub mod rng;
pub mod statuses;

#[cfg(target_os = "none")]
mod entry;
#[cfg(target_os = "none")]
mod hvc;
#[cfg(target_os = "none")]
mod memory;
#[cfg(target_os = "none")]
mod others;
#[cfg(target_os = "none")]
mod report;
#[cfg(target_os = "none")]
mod run;

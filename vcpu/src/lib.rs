//! Per-vCPU logic of zxvisor that is independent of the monitor binary:
//! decoding exception syndromes into typed exits. The world switch and vCPU
//! state rules build on this (see DESIGN.md).
#![cfg_attr(not(test), no_std)]

pub mod esr;

//! The VMM binary: everything lives in the `zxv_vmm` library, whose
//! `host_main` el1rt's entry calls.
#![no_std]
#![no_main]

extern crate zxv_vmm;

//! The monitor binary: everything lives in the `el2` library; the entry
//! point `_start` is in its boot assembly.
#![no_std]
#![no_main]

extern crate el2;

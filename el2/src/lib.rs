//! zxvisor's EL2 monitor. The modules at the top are pure logic, host-tested
//! with `cargo test`; the rest run only on the target (bare-metal aarch64).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod bcm2835_pm;
pub mod dtb_edit;
pub mod handles;
pub mod hostload;
pub mod inject;
pub mod mappings;
pub mod once;
pub mod pagetable;
pub mod placement;
pub mod platform;
pub mod port;
pub mod ptimer;
pub mod range;
pub mod space;
pub mod timer_line;
pub mod trapframe;
pub mod trapmap;
pub mod vmid;

/// Declares modules that exist only in the bare-metal monitor build.
macro_rules! target_only {
    ($($module:ident),* $(,)?) => { $(#[cfg(target_os = "none")] mod $module;)* };
}

target_only!(
    arch,
    banner,
    boot,
    calls,
    console,
    dispatch,
    el2config,
    exceptions,
    exits,
    fatal,
    guest,
    heap,
    host,
    host_psci,
    hostmem,
    id_registers,
    irq,
    info,
    logger,
    mmu,
    objects,
    percpu,
    power,
    spin_table,
    system,
    time,
    timer,
    vgic,
    virtual_cpu,
    world,
);

//! `zx_vcpu_enter` issued once: unlike the client's wrapper, it returns
//! `ZX_ERR_INTERNAL_INTR_RETRY` to the run loop, which takes the host's
//! interrupt (the boot CPU's tick: console input, prompt flushing, the
//! watchdog) before entering again.

use core::ptr;
use syscalls::client::hvc_raw;
use syscalls::port::PortPacket;
use syscalls::{ids, Handle, Status};

pub fn enter_once(vcpu: Handle, packet: &mut PortPacket) -> Result<(), Status> {
    let args = [
        u64::from(vcpu.raw()),
        ptr::from_mut(packet) as u64,
        0,
        0,
        0,
        0,
    ];
    // SAFETY: the monitor writes one 48-byte packet into `packet`, which is
    // exclusively borrowed for the call; every bit pattern is a valid
    // `PortPacket`.
    let status = unsafe { hvc_raw(ids::VCPU_ENTER, args) }.status();
    if status == Status::INTERNAL_INTR_RETRY {
        // SAFETY: a context synchronisation point lets a pending IRQ be
        // taken now (the host timer's handler) where IRQs are unmasked.
        unsafe { core::arch::asm!("isb") };
    }
    Status::ok(status.into_raw())
}

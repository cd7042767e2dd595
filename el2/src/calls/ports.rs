//! zx_port_create, zx_port_wait, zx_port_queue.

use crate::mm::heap;
use crate::mm::hostmem::HostBuf;
use crate::objects::port::Port;
use crate::objects::{self, new_koid, Object};
use crate::platform::irq;
use crate::platform::timer;
use syscalls::port::PortPacket;
use syscalls::{Rights, Status, ZxResult};

/// zx_port_create(options) -> port.
#[inline(never)]
pub fn create(options: u64) -> ZxResult<u64> {
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let port = heap::try_arc(Port::new(new_koid()))?;
    objects::insert(Object::Port(port), Rights::DEFAULT_PORT).map(u64::from)
}

/// zx_port_queue(port, packet): a user packet.
pub fn queue(port: u32, packet: u64) -> ZxResult {
    let p = objects::get_as(port, Rights::WRITE, Object::port)?;
    let words = HostBuf::new(packet, PortPacket::SIZE, false)?.read_words();
    p.queue_user(PortPacket::from_words(&words))
}

/// zx_port_wait(port, deadline, packet): `deadline` is absolute monotonic
/// time in ns; one in the past polls. While waiting, a pending host
/// interrupt ends the call with INTERNAL_INTR_RETRY (the client retries);
/// one of the monitor's own is consumed.
pub fn wait(port: u32, deadline: i64, packet: u64) -> ZxResult {
    let p = objects::get_as(port, Rights::READ, Object::port)?;
    let packet = HostBuf::new(packet, PortPacket::SIZE, true)?;
    loop {
        if let Some(out) = p.pop() {
            packet.write_words(&out.to_words());
            return Ok(());
        }
        if timer::now_ns() >= deadline {
            return Err(Status::TIMED_OUT);
        }
        // A kick SGI that came after its run ended is the monitor's.
        if irq::take_monitor_irq().is_some() {
            continue;
        }
        if irq::host_irq_pending() {
            return Err(Status::INTERNAL_INTR_RETRY);
        }
        core::hint::spin_loop();
    }
}

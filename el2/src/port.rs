//! Ports: packet queues the host waits on. User packets (zx_port_queue) are
//! limited per port; packets from a BELL trap come from that trap's own pool
//! of 256 (they never use the user quota), return to it when dequeued, and
//! are cancelled when the trap goes away.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, Ordering};
use spin::Mutex;
use syscalls::port::{PortPacket, PKT_TYPE_USER};
use syscalls::{Status, ZxResult};

/// Most user packets a port holds before zx_port_queue says SHOULD_WAIT.
pub const MAX_USER_PACKETS: usize = 2048;
/// Packets one BELL trap may have queued at once.
pub const TRAP_PACKETS: u32 = 256;

/// A BELL trap's packet budget, shared by the trap and its queued packets.
#[derive(Debug)]
pub struct PacketPool {
    id: u64,
    in_flight: AtomicU32,
}

impl PacketPool {
    pub fn new(id: u64) -> Arc<Self> {
        Arc::new(Self {
            id,
            in_flight: AtomicU32::new(0),
        })
    }

    fn try_take(&self) -> bool {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < TRAP_PACKETS).then_some(n + 1)
            })
            .is_ok()
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }
}

struct Queued {
    packet: PortPacket,
    pool: Option<Arc<PacketPool>>,
}

impl Drop for Queued {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            pool.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[derive(Default)]
struct Queue {
    packets: VecDeque<Queued>,
    user: usize,
}

pub struct Port {
    pub koid: u64,
    queue: Mutex<Queue>,
}

impl Port {
    pub fn new(koid: u64) -> Self {
        Self {
            koid,
            queue: Mutex::new(Queue::default()),
        }
    }

    /// zx_port_queue: the packet keeps its key, status and payload; its type
    /// becomes ZX_PKT_TYPE_USER.
    pub fn queue_user(&self, mut packet: PortPacket) -> ZxResult {
        let mut q = self.queue.lock();
        if q.user >= MAX_USER_PACKETS {
            return Err(Status::SHOULD_WAIT);
        }
        packet.type_ = PKT_TYPE_USER;
        q.user += 1;
        q.packets.push_back(Queued { packet, pool: None });
        Ok(())
    }

    /// Queues a trap's packet; SHOULD_WAIT when its pool is exhausted.
    pub fn queue_from_trap(&self, packet: PortPacket, pool: &Arc<PacketPool>) -> ZxResult {
        if !pool.try_take() {
            return Err(Status::SHOULD_WAIT);
        }
        self.queue.lock().packets.push_back(Queued {
            packet,
            pool: Some(pool.clone()),
        });
        Ok(())
    }

    /// The oldest packet, if any.
    pub fn pop(&self) -> Option<PortPacket> {
        let mut q = self.queue.lock();
        let queued = q.packets.pop_front()?;
        if queued.pool.is_none() {
            q.user -= 1;
        }
        let packet = queued.packet;
        drop(q);
        Some(packet)
    }

    /// Drops the queued packets of the pool `pool_id` (a trap being destroyed).
    pub fn cancel(&self, pool_id: u64) {
        let mut q = self.queue.lock();
        q.packets
            .retain(|p| p.pool.as_ref().is_none_or(|pool| pool.id != pool_id));
    }

    pub fn len(&self) -> usize {
        self.queue.lock().packets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syscalls::port::{PacketGuestBell, PKT_TYPE_GUEST_BELL};

    fn bell(key: u64) -> PortPacket {
        PortPacket::new_guest_bell(key, PacketGuestBell::new(0xffe000))
    }

    #[test]
    fn user_packets_become_user_type_and_are_limited() {
        let port = Port::new(1);
        let mut p = bell(7);
        p.status = -3;
        port.queue_user(p).unwrap();
        let got = port.pop().unwrap();
        assert_eq!((got.key, got.type_, got.status), (7, PKT_TYPE_USER, -3));
        for _ in 0..MAX_USER_PACKETS {
            port.queue_user(PortPacket::new_user(1, [0; 4])).unwrap();
        }
        assert_eq!(
            port.queue_user(PortPacket::new_user(1, [0; 4])),
            Err(Status::SHOULD_WAIT)
        );
        port.pop().unwrap();
        assert_eq!(port.queue_user(PortPacket::new_user(1, [0; 4])), Ok(()));
    }

    #[test]
    fn trap_packets_use_their_own_pool_not_the_user_quota() {
        let port = Port::new(1);
        for _ in 0..MAX_USER_PACKETS {
            port.queue_user(PortPacket::new_user(1, [0; 4])).unwrap();
        }
        let pool = PacketPool::new(9);
        for _ in 0..TRAP_PACKETS {
            port.queue_from_trap(bell(2), &pool).unwrap();
        }
        assert_eq!(
            port.queue_from_trap(bell(2), &pool),
            Err(Status::SHOULD_WAIT)
        );
        assert_eq!(pool.in_flight(), TRAP_PACKETS);
        for _ in 0..MAX_USER_PACKETS + 1 {
            port.pop().unwrap();
        }
        assert_eq!(
            pool.in_flight(),
            TRAP_PACKETS - 1,
            "a dequeued packet returns to its pool"
        );
    }

    #[test]
    fn cancel_drops_only_that_traps_packets() {
        let port = Port::new(1);
        let (a, b) = (PacketPool::new(1), PacketPool::new(2));
        port.queue_user(PortPacket::new_user(0x1234, [5; 4]))
            .unwrap();
        port.queue_from_trap(bell(0x1234), &a).unwrap();
        port.queue_from_trap(bell(0x1234), &b).unwrap();
        port.cancel(1);
        assert_eq!(a.in_flight(), 0);
        assert_eq!(port.len(), 2);
        assert_eq!(port.pop().unwrap().type_, PKT_TYPE_USER);
        assert_eq!(port.pop().unwrap().type_, PKT_TYPE_GUEST_BELL);
        assert!(port.pop().is_none());
        assert_eq!(b.in_flight(), 0);
    }
}

//! Ports: packet queues the host waits on. User packets (zx_port_queue) are
//! limited per port; packets from a BELL trap come from that trap's own pool
//! of 256 (they never use the user quota), return to it when dequeued, and
//! are cancelled when the trap goes away.
//!
//! A port's queue grows only fallibly, in zx_port_queue and when a BELL
//! trap is attached to it: attaching makes room for all the trap's 256
//! packets at once, so a guest's store to the trap (the exit path) never
//! allocates.

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
    pub fn new(id: u64) -> Self {
        Self {
            id,
            in_flight: AtomicU32::new(0),
        }
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
    /// Packets the attached BELL traps may still queue; `packets` always
    /// has room for them on top of its length.
    trap_room: usize,
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
    /// NO_MEMORY when the queue cannot grow.
    pub fn queue_user(&self, mut packet: PortPacket) -> ZxResult {
        let mut q = self.queue.lock();
        if q.user >= MAX_USER_PACKETS {
            return Err(Status::SHOULD_WAIT);
        }
        let room = q.trap_room + 1;
        q.packets.try_reserve(room).map_err(|_| Status::NO_MEMORY)?;
        packet.type_ = PKT_TYPE_USER;
        q.user += 1;
        q.packets.push_back(Queued { packet, pool: None });
        Ok(())
    }

    /// Makes room for the packets of a new BELL trap, whose pool is then
    /// [`Port::queue_from_trap`]'s to use; NO_MEMORY when the queue cannot
    /// grow. [`Port::detach_trap`] undoes it.
    pub fn attach_trap(&self) -> ZxResult {
        let mut q = self.queue.lock();
        let room = q.trap_room + TRAP_PACKETS as usize;
        q.packets.try_reserve(room).map_err(|_| Status::NO_MEMORY)?;
        q.trap_room = room;
        Ok(())
    }

    /// Queues a packet of an attached trap's pool, without allocating;
    /// SHOULD_WAIT when the pool is exhausted. The queued packet keeps the
    /// caller's reference to the pool.
    pub fn queue_from_trap(&self, packet: PortPacket, pool: Arc<PacketPool>) -> ZxResult {
        let mut q = self.queue.lock();
        if !pool.try_take() {
            return Err(Status::SHOULD_WAIT);
        }
        // The pool had a packet left, so its trap's room was not used up.
        q.trap_room -= 1;
        q.packets.push_back(Queued {
            packet,
            pool: Some(pool),
        });
        Ok(())
    }

    /// The oldest packet, if any.
    pub fn pop(&self) -> Option<PortPacket> {
        let mut q = self.queue.lock();
        let queued = q.packets.pop_front()?;
        if queued.pool.is_none() {
            q.user -= 1;
        } else {
            q.trap_room += 1;
        }
        let packet = queued.packet;
        drop(q);
        Some(packet)
    }

    /// A trap attached with [`Port::attach_trap`] goes away: drops the
    /// queued packets of its pool `pool_id`, and the room kept for them.
    pub fn detach_trap(&self, pool_id: u64) {
        let mut q = self.queue.lock();
        let before = q.packets.len();
        q.packets
            .retain(|p| p.pool.as_ref().is_none_or(|pool| pool.id != pool_id));
        let cancelled = before - q.packets.len();
        q.trap_room = q.trap_room + cancelled - TRAP_PACKETS as usize;
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

    /// A trap's pool, attached to `port`.
    fn attached(port: &Port, id: u64) -> Arc<PacketPool> {
        port.attach_trap().unwrap();
        Arc::new(PacketPool::new(id))
    }

    fn capacity(port: &Port) -> usize {
        port.queue.lock().packets.capacity()
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
        let pool = attached(&port, 9);
        for _ in 0..TRAP_PACKETS {
            port.queue_from_trap(bell(2), pool.clone()).unwrap();
        }
        assert_eq!(
            port.queue_from_trap(bell(2), pool.clone()),
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
    fn detach_drops_only_that_traps_packets() {
        let port = Port::new(1);
        let (a, b) = (attached(&port, 1), attached(&port, 2));
        port.queue_user(PortPacket::new_user(0x1234, [5; 4]))
            .unwrap();
        port.queue_from_trap(bell(0x1234), a.clone()).unwrap();
        port.queue_from_trap(bell(0x1234), b.clone()).unwrap();
        port.detach_trap(1);
        assert_eq!(a.in_flight(), 0);
        assert_eq!(port.len(), 2);
        assert_eq!(port.pop().unwrap().type_, PKT_TYPE_USER);
        assert_eq!(port.pop().unwrap().type_, PKT_TYPE_GUEST_BELL);
        assert!(port.pop().is_none());
        assert_eq!(b.in_flight(), 0);
    }

    #[test]
    fn trap_packets_never_grow_the_queue() {
        let port = Port::new(1);
        let pools = [attached(&port, 1), attached(&port, 2)];
        let room = capacity(&port);
        assert!(room >= 2 * TRAP_PACKETS as usize);
        // User packets keep the traps' room free: they grow the queue past it.
        for _ in 0..100 {
            port.queue_user(PortPacket::new_user(1, [0; 4])).unwrap();
        }
        let with_user = capacity(&port);
        assert!(with_user >= 100 + 2 * TRAP_PACKETS as usize);
        for pool in &pools {
            for _ in 0..TRAP_PACKETS {
                port.queue_from_trap(bell(2), pool.clone()).unwrap();
            }
        }
        assert_eq!(capacity(&port), with_user, "a trap's store allocated");
        assert_eq!(port.len(), 100 + 2 * TRAP_PACKETS as usize);
        // Popping gives the room back to the pools; detaching takes it away.
        while port.pop().is_some() {}
        assert_eq!(port.queue.lock().trap_room, 2 * TRAP_PACKETS as usize);
        port.detach_trap(1);
        assert_eq!(port.queue.lock().trap_room, TRAP_PACKETS as usize);
        for _ in 0..3 {
            port.queue_from_trap(bell(2), pools[1].clone()).unwrap();
        }
        port.detach_trap(2);
        assert_eq!(port.queue.lock().trap_room, 0);
        assert!(port.is_empty());
        assert_eq!(pools[1].in_flight(), 0);
    }
}

//! The guests' virtual Ethernet switch (`vmm.net=switch`): one port per guest on it, and
//! a learning switch between them as a hardware one is. It owns which MAC address was last
//! seen on which port, each port's queue of frames waiting for its guest, and the port's
//! counters; the guests' virtio-net devices are the VMM's (bus.rs).
//!
//! [`Switch::forward`] takes a frame a guest transmitted, from the sender's vCPU: it learns
//! the frame's source address on the sender's port, and queues a copy for the port its
//! destination was learned on, or for every other port when that is unknown or the
//! destination is a broadcast or multicast address; never for the sender's own port. It
//! locks only the switch (a moment for the address table, then each destination's queue in
//! turn), so it may run under the sender's device lock. [`Switch::drain`] hands a port's
//! frames to its guest later, oldest first, from wherever the receiver's device lock can be
//! taken; with the order "a guest's device, then the switch" and no switch lock held while
//! another is taken, two guests sending to each other cannot deadlock.
//!
//! A guest with no receive buffer stalls its port rather than losing frames, as a full
//! receive ring does under QEMU or vhost-net (the backend stops and the frames wait): the
//! drain stops, and the frames stay queued for the next drain. A guest that takes none for
//! long fills its queue ([`QUEUE_FRAMES`]); frames for it are then dropped on arrival and
//! counted. Short stalls (a driver that has not refilled its ring yet) so cost nothing, and
//! a guest that stopped receiving costs a bounded queue.
//!
//! Frames are stored in each port's queue, allocated with the switch; nothing is allocated
//! per frame.

use alloc::boxed::Box;
use alloc::vec;
use arrayvec::ArrayVec;
use zxv_devices::virtio::{FRAME_MAX, FRAME_MIN};

/// Ports of a switch, at most: one per guest.
pub const MAX_PORTS: usize = 4;
/// Frames a port holds for its guest, each up to [`FRAME_MAX`] bytes (the longest frame a
/// virtio-net device transmits without offloads).
pub const QUEUE_FRAMES: usize = 64;
/// MAC addresses the switch remembers: several per guest (a guest may bridge others
/// behind it); a new one beyond them replaces the one not seen for longest.
const TABLE: usize = 32;
const MAC: usize = 6;

/// A set of ports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ports(u8);

impl Ports {
    fn insert(&mut self, port: usize) {
        self.0 |= 1 << port;
    }

    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..MAX_PORTS).filter(move |&p| self.0 & (1 << p) != 0)
    }
}

/// What went through a port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Frames from the port's guest the switch took.
    pub received: u64,
    /// Frames from the port's guest dropped as malformed: shorter than an Ethernet header,
    /// longer than [`FRAME_MAX`], or from a source address no station has (multicast or
    /// zero; Linux's bridge drops those too).
    pub malformed: u64,
    /// Frames from the port's guest dropped because their source address is another
    /// port's own ([`Switch::with_owners`]): one guest posing as another.
    pub spoofed: u64,
    /// Frames queued for the port's guest.
    pub forwarded: u64,
    /// Frames for the port's guest dropped because its queue was full.
    pub queue_full: u64,
}

pub struct Switch {
    /// The learned addresses and what came in on each port; locked for a moment per frame.
    table: spin::Mutex<Table>,
    /// Each port's frames for its guest; locked while a frame is queued and while a drain
    /// runs.
    ports: ArrayVec<spin::Mutex<Queue>, MAX_PORTS>,
    /// The address each port's guest was given, if the switch was told: frames for it go
    /// there, whatever was learned, and no other port may send from it.
    owners: [Option<[u8; MAC]>; MAX_PORTS],
}

struct Learned {
    mac: [u8; MAC],
    port: usize,
    /// The table's clock when the address was last seen.
    seen: u64,
}

/// What came in on a port ([`Counts`]).
#[derive(Clone, Copy, Default)]
struct Inbound {
    received: u64,
    malformed: u64,
    spoofed: u64,
}

struct Table {
    learned: ArrayVec<Learned, TABLE>,
    clock: u64,
    inbound: [Inbound; MAX_PORTS],
}

impl Table {
    /// Notes that `mac` was seen on `port`.
    fn learn(&mut self, mac: [u8; MAC], port: usize) {
        self.clock += 1;
        let entry = Learned {
            mac,
            port,
            seen: self.clock,
        };
        if let Some(known) = self.learned.iter_mut().find(|l| l.mac == mac) {
            *known = entry;
        } else if let Err(e) = self.learned.try_push(entry) {
            if let Some(oldest) = self.learned.iter_mut().min_by_key(|l| l.seen) {
                *oldest = e.element();
            }
        }
    }

    fn port_of(&self, mac: [u8; MAC]) -> Option<usize> {
        self.learned.iter().find(|l| l.mac == mac).map(|l| l.port)
    }
}

/// A ring of frames: `len` of them from slot `head` on.
struct Queue {
    /// [`QUEUE_FRAMES`] slots of [`FRAME_MAX`] bytes.
    slots: Box<[u8]>,
    lens: [u16; QUEUE_FRAMES],
    head: usize,
    len: usize,
    forwarded: u64,
    queue_full: u64,
}

impl Queue {
    fn new() -> Self {
        Queue {
            slots: vec![0; QUEUE_FRAMES * FRAME_MAX].into_boxed_slice(),
            lens: [0; QUEUE_FRAMES],
            head: 0,
            len: 0,
            forwarded: 0,
            queue_full: 0,
        }
    }

    /// Queues a copy of `frame` (at most [`FRAME_MAX`] bytes); false when the queue is full.
    fn push(&mut self, frame: &[u8]) -> bool {
        if self.len == QUEUE_FRAMES {
            self.queue_full += 1;
            return false;
        }
        let slot = (self.head + self.len) % QUEUE_FRAMES;
        self.slots[slot * FRAME_MAX..][..frame.len()].copy_from_slice(frame);
        self.lens[slot] = frame.len() as u16;
        self.len += 1;
        self.forwarded += 1;
        true
    }

    fn head_frame(&self) -> &[u8] {
        &self.slots[self.head * FRAME_MAX..][..usize::from(self.lens[self.head])]
    }
}

impl Switch {
    /// A switch with `ports` ports (numbered from 0), which allocates their queues.
    pub fn new(ports: usize) -> Self {
        assert!(ports <= MAX_PORTS, "a switch has at most {MAX_PORTS} ports");
        Switch {
            table: spin::Mutex::new(Table {
                learned: ArrayVec::new(),
                clock: 0,
                inbound: [Inbound::default(); MAX_PORTS],
            }),
            ports: (0..ports).map(|_| spin::Mutex::new(Queue::new())).collect(),
            owners: [None; MAX_PORTS],
        }
    }

    /// The switch with `macs[p]` the address of port `p`'s guest, as the VMM gave it:
    /// learning never moves it to another port, and a frame from it on another port is
    /// dropped ([`Counts::spoofed`]).
    pub fn with_owners(mut self, macs: &[[u8; MAC]]) -> Self {
        for (owner, &mac) in self.owners.iter_mut().zip(macs) {
            *owner = Some(mac);
        }
        self
    }

    fn owner_of(&self, mac: [u8; MAC]) -> Option<usize> {
        self.owners.iter().position(|o| *o == Some(mac))
    }

    /// Takes `frame` (an Ethernet frame without virtio's header), which the guest on port
    /// `from` transmitted: learns its source address on `from` and queues a copy for each
    /// port it goes to. Returns those ports (none for a malformed frame, one whose
    /// destination was learned on `from`, or one whose every destination queue was full).
    pub fn forward(&self, from: usize, frame: &[u8]) -> Ports {
        let mut to = Ports::default();
        let mut table = self.table.lock();
        let Some((dst, src)) = addresses(frame) else {
            table.inbound[from].malformed += 1;
            return to;
        };
        match self.owner_of(src) {
            Some(owner) if owner != from => {
                table.inbound[from].spoofed += 1;
                return to;
            }
            Some(_) => {}
            None => table.learn(src, from),
        }
        table.inbound[from].received += 1;
        // Never a broadcast or multicast address: no source is one.
        let known = self.owner_of(dst).or_else(|| table.port_of(dst));
        drop(table);
        for port in 0..self.ports.len() {
            let wanted = known.is_none_or(|k| k == port);
            if port != from && wanted && self.ports[port].lock().push(frame) {
                to.insert(port);
            }
        }
        to
    }

    /// Hands the frames queued for port `port` to `take`, oldest first; `take` says whether
    /// it took the frame (delivered it, or dropped it for a reason of its own), and a `false`
    /// leaves that frame and those after it queued for the next drain. Returns how many
    /// were taken. `take` runs under the port's lock: it may use the receiving guest's
    /// device (locked before the drain) but not the switch.
    pub fn drain(&self, port: usize, mut take: impl FnMut(&[u8]) -> bool) -> usize {
        let mut queue = self.ports[port].lock();
        let mut taken = 0;
        while queue.len > 0 && take(queue.head_frame()) {
            queue.head = (queue.head + 1) % QUEUE_FRAMES;
            queue.len -= 1;
            taken += 1;
        }
        taken
    }

    /// What went through port `port` so far; none while the switch is locked, so that a
    /// report at the end of a run cannot wait for a CPU that stopped holding a lock.
    pub fn counts(&self, port: usize) -> Option<Counts> {
        let Inbound {
            received,
            malformed,
            spoofed,
        } = self.table.try_lock()?.inbound[port];
        let queue = self.ports[port].try_lock()?;
        Some(Counts {
            received,
            malformed,
            spoofed,
            forwarded: queue.forwarded,
            queue_full: queue.queue_full,
        })
    }
}

/// A frame's destination and source addresses, unless it is malformed
/// ([`Counts::malformed`]).
fn addresses(frame: &[u8]) -> Option<([u8; MAC], [u8; MAC])> {
    if !(FRAME_MIN..=FRAME_MAX).contains(&frame.len()) {
        return None;
    }
    let dst = frame[..MAC].try_into().ok()?;
    let src: [u8; MAC] = frame[MAC..2 * MAC].try_into().ok()?;
    let station = src[0] & 1 == 0 && src != [0; MAC];
    station.then_some((dst, src))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROADCAST: [u8; MAC] = [0xff; MAC];

    fn mac(n: u8) -> [u8; MAC] {
        [0x52, 0x54, 0, 0x12, 0x34, 0x56 + n]
    }

    /// An Ethernet frame from `src` to `dst` whose payload is `tag`, padded to the shortest
    /// Ethernet frame.
    fn frame(dst: [u8; MAC], src: [u8; MAC], tag: u8) -> Vec<u8> {
        let mut f = [dst, src].concat();
        f.extend_from_slice(&[0x08, 0x00]);
        f.resize(60, tag);
        f
    }

    fn counts(s: &Switch, port: usize) -> Counts {
        s.counts(port).expect("the switch is not locked")
    }

    fn ports(to: Ports) -> Vec<usize> {
        to.iter().collect()
    }

    /// Every frame queued for `port`, taken.
    fn take_all(switch: &Switch, port: usize) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        switch.drain(port, |f| {
            got.push(f.to_vec());
            true
        });
        got
    }

    #[test]
    fn learns_where_each_address_is() {
        let s = Switch::new(3);
        // Guest 1 is not known yet: the frame floods.
        assert_eq!(ports(s.forward(0, &frame(mac(1), mac(0), 1))), [1, 2]);
        // Its answer goes to where guest 0 was seen only, and teaches the switch guest 1.
        assert_eq!(ports(s.forward(1, &frame(mac(0), mac(1), 2))), [0]);
        assert_eq!(ports(s.forward(0, &frame(mac(1), mac(0), 3))), [1]);
        assert_eq!(take_all(&s, 1).len(), 2);
        assert_eq!(take_all(&s, 2), [frame(mac(1), mac(0), 1)]);
        assert_eq!(take_all(&s, 0), [frame(mac(0), mac(1), 2)]);
    }

    #[test]
    fn an_address_that_moves_is_learned_again() {
        let s = Switch::new(3);
        s.forward(1, &frame(BROADCAST, mac(1), 0));
        assert_eq!(ports(s.forward(0, &frame(mac(1), mac(0), 0))), [1]);
        s.forward(2, &frame(BROADCAST, mac(1), 0));
        assert_eq!(ports(s.forward(0, &frame(mac(1), mac(0), 0))), [2]);
    }

    #[test]
    fn unknown_unicast_floods_to_every_other_port() {
        let s = Switch::new(4);
        s.forward(0, &frame(BROADCAST, mac(0), 0));
        assert_eq!(ports(s.forward(2, &frame(mac(9), mac(2), 0))), [0, 1, 3]);
        // Alone on its switch, a guest's frames go nowhere.
        let alone = Switch::new(1);
        assert_eq!(ports(alone.forward(0, &frame(mac(9), mac(0), 0))), []);
        assert_eq!(counts(&alone, 0).received, 1);
    }

    #[test]
    fn broadcast_and_multicast_go_to_every_other_port() {
        let s = Switch::new(4);
        for p in 0..4 {
            s.forward(p, &frame(BROADCAST, mac(p as u8), 0));
        }
        // Every guest is known now, and that changes nothing for these.
        assert_eq!(ports(s.forward(1, &frame(BROADCAST, mac(1), 0))), [0, 2, 3]);
        let ipv6_all_nodes = [0x33, 0x33, 0, 0, 0, 1];
        assert_eq!(
            ports(s.forward(3, &frame(ipv6_all_nodes, mac(3), 0))),
            [0, 1, 2]
        );
    }

    #[test]
    fn nothing_goes_back_to_its_own_port() {
        let s = Switch::new(2);
        s.forward(0, &frame(BROADCAST, mac(0), 0));
        assert_eq!(ports(s.forward(0, &frame(mac(0), mac(0), 0))), []);
        // Another address behind port 0 (a guest bridging others) is no different.
        s.forward(0, &frame(BROADCAST, mac(5), 0));
        assert_eq!(ports(s.forward(0, &frame(mac(5), mac(0), 0))), []);
        assert_eq!(take_all(&s, 0), Vec::<Vec<u8>>::new());
        assert_eq!(counts(&s, 0).forwarded, 0);
        assert_eq!(counts(&s, 0).received, 4);
    }

    #[test]
    fn malformed_frames_are_dropped_and_counted() {
        let s = Switch::new(2);
        let short = &frame(BROADCAST, mac(0), 0)[..FRAME_MIN - 1];
        let long = [frame(BROADCAST, mac(0), 0), vec![0; FRAME_MAX]].concat();
        let multicast_source = frame(mac(1), BROADCAST, 0);
        let zero_source = frame(mac(1), [0; MAC], 0);
        for bad in [short, &long, &multicast_source, &zero_source] {
            assert_eq!(ports(s.forward(0, bad)), []);
        }
        // A bare header and the longest frame are fine.
        assert_eq!(
            ports(s.forward(0, &frame(BROADCAST, mac(0), 0)[..FRAME_MIN])),
            [1]
        );
        assert_eq!(ports(s.forward(0, &long[..FRAME_MAX])), [1]);
        let port0 = counts(&s, 0);
        assert_eq!((port0.malformed, port0.received), (4, 2));
        assert_eq!(counts(&s, 1).forwarded, 2);
        // What was dropped taught the switch nothing.
        assert_eq!(ports(s.forward(1, &frame(BROADCAST, mac(1), 0))), [0]);
        assert_eq!(ports(s.forward(1, &frame(mac(1), mac(1), 0))), []);
    }

    #[test]
    fn a_full_queue_drops_what_comes_and_counts_it() {
        let s = Switch::new(3);
        for n in 0..QUEUE_FRAMES {
            assert_eq!(
                ports(s.forward(0, &frame(BROADCAST, mac(0), n as u8))),
                [1, 2]
            );
        }
        take_all(&s, 2);
        // Port 1's guest took nothing: its queue is full, port 2's is not.
        assert_eq!(ports(s.forward(0, &frame(BROADCAST, mac(0), 0xee))), [2]);
        assert_eq!(ports(s.forward(0, &frame(mac(1), mac(0), 0xef))), [2]);
        let port1 = counts(&s, 1);
        assert_eq!(
            (port1.forwarded, port1.queue_full),
            (QUEUE_FRAMES as u64, 2)
        );
        // The frames kept are the first ones; the queue takes frames again once drained.
        let got = take_all(&s, 1);
        assert_eq!(got.len(), QUEUE_FRAMES);
        assert!(got.iter().enumerate().all(|(n, f)| f[59] == n as u8));
        assert_eq!(ports(s.forward(0, &frame(BROADCAST, mac(0), 0))), [1, 2]);
    }

    #[test]
    fn no_counts_while_the_switch_is_locked() {
        let s = Switch::new(2);
        let held = s.ports[1].lock();
        assert_eq!(s.counts(1), None);
        drop(held);
        let held = s.table.lock();
        assert_eq!(s.counts(0), None);
        drop(held);
        assert_eq!(s.counts(0), Some(Counts::default()));
    }

    #[test]
    fn drains_oldest_first_around_the_ring() {
        let s = Switch::new(2);
        let mut sent = Vec::new();
        // Three queues' worth, drained as they come in, so the ring wraps around.
        for n in 0..3 * QUEUE_FRAMES {
            let mut f = frame(BROADCAST, mac(0), n as u8);
            f.resize(FRAME_MIN + n % 100, n as u8);
            s.forward(0, &f);
            sent.push(f);
            if n % 50 == 49 {
                assert_eq!(take_all(&s, 1), core::mem::take(&mut sent));
            }
        }
        assert_eq!(take_all(&s, 1), sent);
        assert_eq!(s.drain(1, |_| true), 0);
    }

    #[test]
    fn a_drain_that_stops_keeps_the_rest_for_the_next() {
        let s = Switch::new(2);
        for n in 0..5 {
            s.forward(0, &frame(BROADCAST, mac(0), n));
        }
        // Room for two frames in the guest's receive queue.
        let mut room = 2;
        let mut got = Vec::new();
        let taken = s.drain(1, |f| {
            if room == 0 {
                return false;
            }
            room -= 1;
            got.push(f[59]);
            true
        });
        assert_eq!((taken, got), (2, vec![0, 1]));
        // No room at all: nothing is lost.
        assert_eq!(s.drain(1, |_| false), 0);
        let rest: Vec<u8> = take_all(&s, 1).iter().map(|f| f[59]).collect();
        assert_eq!(rest, [2, 3, 4]);
    }

    /// Two guests sending to each other at once, each transmitting and draining under its
    /// own device's lock as the VMM does: nothing deadlocks, and every frame is delivered
    /// once, in order, or counted as dropped.
    #[test]
    fn two_guests_sending_to_each_other() {
        const FRAMES: u32 = 20_000;
        let s = Switch::new(2);
        let devices = [spin::Mutex::new(()), spin::Mutex::new(())];
        let got: Vec<Vec<u32>> = std::thread::scope(|scope| {
            let guests: Vec<_> = (0..2)
                .map(|me| {
                    let (s, device) = (&s, &devices[me]);
                    scope.spawn(move || {
                        let mut got = Vec::new();
                        let mut take = |f: &[u8]| {
                            got.push(u32::from_le_bytes(f[14..18].try_into().unwrap()));
                            true
                        };
                        for n in 0..FRAMES {
                            let mut f = frame(mac(1 - me as u8), mac(me as u8), 0);
                            f[14..18].copy_from_slice(&n.to_le_bytes());
                            let _device = device.lock();
                            s.forward(me, &f);
                            if n % 7 == 0 {
                                s.drain(me, &mut take);
                            }
                        }
                        let _device = device.lock();
                        s.drain(me, &mut take);
                        got
                    })
                })
                .collect();
            guests.into_iter().map(|g| g.join().unwrap()).collect()
        });
        for (me, got) in got.iter().enumerate() {
            let c = counts(&s, me);
            assert_eq!(c.forwarded + c.queue_full, u64::from(FRAMES));
            assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order");
            // The other guest's frames after this one's last drain are still queued.
            let queued = c.forwarded - got.len() as u64;
            assert!(queued <= QUEUE_FRAMES as u64);
            assert_eq!(s.drain(me, |_| true) as u64, queued);
        }
    }

    #[test]
    fn a_full_table_forgets_the_address_not_seen_for_longest() {
        let s = Switch::new(3);
        let behind = |n: usize| [0x02, 0, 0, 0, (n >> 8) as u8, n as u8];
        for n in 0..TABLE - 1 {
            s.forward(2, &frame(BROADCAST, behind(n), 0));
        }
        s.forward(1, &frame(BROADCAST, mac(1), 0));
        // The table is full: guest 0's address takes the place of the oldest.
        assert_eq!(ports(s.forward(0, &frame(behind(1), mac(0), 0))), [2]);
        assert_eq!(ports(s.forward(0, &frame(behind(0), mac(0), 0))), [1, 2]);
        assert_eq!(ports(s.forward(0, &frame(mac(1), mac(0), 0))), [1]);
    }

    #[test]
    fn no_guest_sends_from_another_guests_address() {
        let s = Switch::new(3).with_owners(&[mac(0), mac(1), mac(2)]);
        // Port 2 posing as port 1's guest: dropped, and unicast for port 1 still goes there.
        assert_eq!(
            ports(s.forward(2, &frame(BROADCAST, mac(1), 1))),
            Vec::<usize>::new()
        );
        assert_eq!(ports(s.forward(0, &frame(mac(1), mac(0), 2))), vec![1]);
        assert_eq!(counts(&s, 2).spoofed, 1);
        assert_eq!(counts(&s, 2).received, 0);
        // Its own address and others behind it (a bridge) are fine.
        assert_eq!(ports(s.forward(2, &frame(mac(0), mac(2), 3))), vec![0]);
        assert_eq!(ports(s.forward(2, &frame(mac(0), mac(9), 4))), vec![0]);
        assert_eq!(ports(s.forward(0, &frame(mac(9), mac(0), 5))), vec![2]);
    }

    #[test]
    fn an_owned_address_is_never_evicted() {
        let s = Switch::new(2).with_owners(&[mac(0), mac(1)]);
        for n in 0..200u8 {
            let mut src = mac(50);
            src[4] = n;
            s.forward(0, &frame(BROADCAST, src, n));
        }
        take_all(&s, 1);
        assert_eq!(ports(s.forward(0, &frame(mac(1), mac(0), 1))), vec![1]);
    }
}

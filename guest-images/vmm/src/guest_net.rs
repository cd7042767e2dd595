//! A guest's network: its virtio-net device and what that is switched to,
//! either the machine's own network device (`vmm.net=host`, host_net.rs) or
//! a port of the guests' switch (`vmm.net=switch`, switch.rs). What the
//! guest transmits goes out as it notifies: to the machine's device, or
//! into the switch queues of the guests it is for, which are handed their
//! frames right after the notify (outside the sender's device lock, see
//! switch.rs for the lock order). What comes in is put in the guest's
//! receive buffers on each tick and whenever the guest notifies: from the
//! machine's device, dropped (counted) when the guest has no buffer; from
//! the switch, left queued there until it has one.

use crate::bus::Virtio;
use crate::guest_ram::GuestRam;
use crate::host_net::HostNet;
use crate::switch::Switch;
use crate::vm;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use zxv_devices::virtio::{Net, QueueError};

/// Where what a guest's device transmits goes (one allocation, at set-up).
pub type Output = alloc::boxed::Box<dyn FnMut(&[u8]) + Send>;

/// The virtio network device, its transmitted frames going to
/// [`Network::transmit`].
pub type NetDevice = Net<Output>;

/// What a guest's network is switched to, as set up.
// One per guest, made once and moved once: boxing the machine's device
// would save nothing.
#[allow(clippy::large_enum_variant)]
pub enum NetSetup {
    Host(HostNet),
    /// This port of the guests' switch.
    Switch(usize),
}

pub struct Network {
    pub device: spin::Mutex<Virtio<NetDevice>>,
    uplink: Uplink,
    /// Frames for the guest dropped because no driver ran its device (and,
    /// from the machine's device, because it had no receive buffer).
    no_buffer: AtomicU64,
    /// The switch ports the guest's frames were queued for since they were
    /// last handed over.
    sent_to: AtomicU8,
}

// One per guest, never moved once the guest is built.
#[allow(clippy::large_enum_variant)]
enum Uplink {
    /// Taken after the device when both are (a transmit holds the
    /// device's lock).
    Host(spin::Mutex<HostNet>),
    Switch(usize),
}

/// The guests' switch and the guest on each of its ports; only called for
/// a guest on it, which exists only with the switch.
fn switch() -> &'static (
    Switch,
    arrayvec::ArrayVec<usize, { crate::switch::MAX_PORTS }>,
) {
    vm::get()
        .switch
        .as_ref()
        .expect("a guest on the switch without one")
}

impl Network {
    pub fn new(setup: NetSetup, device: NetDevice) -> Self {
        Network {
            device: Virtio::new(device),
            uplink: match setup {
                NetSetup::Host(host) => Uplink::Host(spin::Mutex::new(host)),
                NetSetup::Switch(port) => Uplink::Switch(port),
            },
            no_buffer: AtomicU64::new(0),
            sent_to: AtomicU8::new(0),
        }
    }

    /// A frame the guest transmitted (under its device's lock): to the
    /// machine's network device (dropped and counted there when it is
    /// busy), or into the switch.
    pub fn transmit(&self, frame: &[u8]) {
        match &self.uplink {
            Uplink::Host(host) => {
                host.lock().transmit(frame);
            }
            Uplink::Switch(port) => {
                for to in switch().0.forward(*port, frame).iter() {
                    self.sent_to.fetch_or(1 << to, Ordering::Relaxed);
                }
            }
        }
    }

    /// The guests that frames were queued for since the last call, to hand
    /// them over (by their number on the command line).
    pub fn take_receivers(&self) -> impl Iterator<Item = usize> {
        let ports = self.sent_to.swap(0, Ordering::Relaxed);
        let guests = match self.uplink {
            Uplink::Switch(_) => switch().1.as_slice(),
            Uplink::Host(_) => &[],
        };
        let mut port = 0;
        guests.iter().filter_map(move |&g| {
            port += 1;
            (ports & (1 << (port - 1)) != 0).then_some(g)
        })
    }

    /// Puts the frames waiting for the guest into its receive buffers
    /// (`v`: its device, locked); beyond one queue's worth they wait for
    /// the next call.
    pub fn receive(&self, v: &mut Virtio<NetDevice>, ram: &GuestRam) {
        match &self.uplink {
            Uplink::Host(host) => self.receive_from(v, ram, false, |take| {
                host.lock().receive(take);
            }),
            Uplink::Switch(port) => self.receive_from(v, ram, true, |take| {
                switch().0.drain(*port, take);
            }),
        }
    }

    /// Hands the frames `source` offers to the guest's device: with no
    /// driver running it they are dropped (counted); with no receive buffer
    /// they stay with `source` if it `stalls`, else they are dropped too.
    fn receive_from(
        &self,
        v: &mut Virtio<NetDevice>,
        ram: &GuestRam,
        stalls: bool,
        source: impl FnOnce(&mut dyn FnMut(&[u8]) -> bool),
    ) {
        let dropped = || {
            self.no_buffer.fetch_add(1, Ordering::Relaxed);
            true
        };
        if !v.transport.running() {
            source(&mut |_| dropped());
            return;
        }
        v.transport.with_device(ram, |device, queues, mem| {
            let mut used = false;
            let mut error: Option<QueueError> = None;
            source(&mut |frame| {
                if error.is_some() {
                    return dropped();
                }
                let delivered = NetDevice::can_receive(queues, mem).and_then(|can| {
                    if can {
                        device.receive(queues, mem, frame, &mut used)
                    } else {
                        Ok(!stalls && dropped())
                    }
                });
                delivered.unwrap_or_else(|e| {
                    error = Some(e);
                    dropped()
                })
            });
            error.map_or(Ok(used), Err)
        });
    }

    /// Reports what the guest's network carried and dropped, for the end of
    /// the run (not when a CPU that stopped holds the network's locks).
    pub fn report(&self, name: &str) {
        let Some(v) = self.device.try_lock() else {
            return;
        };
        let drops = v.transport.device.drops;
        let no_buffer = self.no_buffer.load(Ordering::Relaxed);
        match &self.uplink {
            Uplink::Host(host) => {
                let Some(host) = host.try_lock() else { return };
                let counts = host.counts;
                report!(
                    "vmm: guest {name}: virtio-net: {} frames to the guest, {} from it; dropped: {no_buffer} with no guest buffer, {} with the machine's device busy, {} malformed from the guest, {} malformed to it",
                    counts.received.saturating_sub(no_buffer + drops.rx_malformed),
                    counts.sent,
                    counts.tx_busy,
                    drops.tx_malformed,
                    drops.rx_malformed
                );
            }
            Uplink::Switch(port) => {
                let Some(counts) = switch().0.counts(*port) else {
                    return;
                };
                report!(
                    "vmm: guest {name}: virtio-net: switch port {port}: {} frames for the guest, {} from it; dropped: {no_buffer} with no driver, {} with its queue full, {} from another guest's address, {} malformed from the guest, {} malformed to it",
                    counts.forwarded,
                    counts.received,
                    counts.queue_full,
                    counts.spoofed,
                    drops.tx_malformed + counts.malformed,
                    drops.rx_malformed
                );
            }
        }
    }
}

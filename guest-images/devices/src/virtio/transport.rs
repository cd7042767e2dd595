//! The virtio-mmio transport, version 2 (virtio 1.x §4.2.2), with no legacy interface: the
//! register page of one device, its feature negotiation, status and queues, and the
//! interrupt line (high while InterruptStatus has a bit set).

use super::queue::{Queue, QueueError};
use super::{
    GuestMemory, F_VERSION_1, STATUS_DEVICE_NEEDS_RESET, STATUS_DRIVER_OK, STATUS_FEATURES_OK,
};

const MAGIC: u32 = 0x7472_6976; // "virt"
const VERSION: u32 = 2;
/// "ZXV\0" as a little-endian word.
const VENDOR: u32 = 0x0056_585A;
/// The most queues a device here has (console and network: receive and transmit).
pub const MAX_QUEUES: usize = 2;

const INT_USED_BUFFER: u32 = 1;
const INT_CONFIG_CHANGE: u32 = 2;

/// What a device does behind the transport.
pub trait VirtioDevice {
    fn device_id(&self) -> u32;
    /// The device-specific feature bits it offers (the transport adds VERSION_1).
    fn features(&self) -> u64;
    fn num_queues(&self) -> usize;
    /// A byte of its configuration space (0 beyond it).
    fn config_byte(&self, offset: u64) -> u8;
    /// The driver notified `queue`: serve what it made available. Returns whether buffers
    /// were used (an interrupt is due).
    fn notify(
        &mut self,
        queue: usize,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, QueueError>;
    /// Back to the device's reset state (the driver wrote 0 to Status).
    fn reset(&mut self) {}
}

/// One device behind a virtio-mmio register page.
pub struct MmioTransport<D> {
    pub device: D,
    status: u32,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    queues: [Queue; MAX_QUEUES],
    interrupt_status: u32,
    config_generation: u32,
    /// Why the device last set DEVICE_NEEDS_RESET, until the VMM has seen it.
    error: Option<QueueError>,
}

impl<D: VirtioDevice> MmioTransport<D> {
    pub fn new(device: D) -> Self {
        MmioTransport {
            device,
            status: 0,
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            queue_sel: 0,
            queues: [const { Queue::new() }; MAX_QUEUES],
            interrupt_status: 0,
            config_generation: 0,
            error: None,
        }
    }

    fn offered(&self) -> u64 {
        self.device.features() | F_VERSION_1
    }

    /// The feature bits both sides agreed on (0 before FEATURES_OK).
    pub fn negotiated(&self) -> u64 {
        if self.status & STATUS_FEATURES_OK != 0 {
            self.driver_features
        } else {
            0
        }
    }

    pub fn status(&self) -> u32 {
        self.status
    }

    /// The interrupt line's level.
    pub fn line(&self) -> bool {
        self.interrupt_status != 0
    }

    /// The error that made the device need a reset, once.
    pub fn take_error(&mut self) -> Option<QueueError> {
        self.error.take()
    }

    fn selected(&mut self) -> Option<&mut Queue> {
        let n = self.device.num_queues().min(MAX_QUEUES);
        self.queues[..n].get_mut(self.queue_sel as usize)
    }

    /// Puts the transport and its device back as at power-on, as a driver's write of 0 to
    /// Status does.
    pub fn reset(&mut self) {
        self.status = 0;
        self.driver_features = 0;
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.queue_sel = 0;
        self.queues = [const { Queue::new() }; MAX_QUEUES];
        self.interrupt_status = 0;
        self.device.reset();
    }

    /// Whether the driver has the device running (and it has not failed): DRIVER_OK after
    /// FEATURES_OK, since without it no interface was agreed on.
    pub fn running(&self) -> bool {
        let on = STATUS_FEATURES_OK | STATUS_DRIVER_OK;
        self.status & (on | STATUS_DEVICE_NEEDS_RESET) == on
    }

    fn fail(&mut self, e: QueueError) {
        self.status |= STATUS_DEVICE_NEEDS_RESET;
        self.interrupt_status |= INT_CONFIG_CHANGE;
        self.config_generation = self.config_generation.wrapping_add(1);
        self.error = Some(e);
    }

    /// Runs `work` on the device and its queues while the device is running: a `true`
    /// result raises the used-buffer interrupt, an error makes the device need a reset.
    /// `work` takes at most one queue's worth of chains from each queue.
    pub fn with_device(
        &mut self,
        mem: &dyn GuestMemory,
        work: impl FnOnce(&mut D, &mut [Queue], &dyn GuestMemory) -> Result<bool, QueueError>,
    ) {
        if !self.running() {
            return;
        }
        let n = self.device.num_queues().min(MAX_QUEUES);
        self.queues[..n].iter_mut().for_each(Queue::start_batch);
        match work(&mut self.device, &mut self.queues[..n], mem) {
            Ok(true) => self.interrupt_status |= INT_USED_BUFFER,
            Ok(false) => {}
            Err(e) => self.fail(e),
        }
    }

    /// A guest load of `size` bytes at `offset` in the register page.
    pub fn read(&mut self, offset: u64, size: u8) -> u64 {
        if offset >= 0x100 {
            let mut value = 0u64;
            for i in 0..u64::from(size.min(8)) {
                value |= u64::from(self.device.config_byte(offset - 0x100 + i)) << (8 * i);
            }
            return value;
        }
        if size != 4 || !offset.is_multiple_of(4) {
            return 0;
        }
        let q = self
            .queues
            .get(self.queue_sel as usize)
            .filter(|_| (self.queue_sel as usize) < self.device.num_queues());
        u64::from(match offset {
            0x000 => MAGIC,
            0x004 => VERSION,
            0x008 => self.device.device_id(),
            0x00c => VENDOR,
            0x010 => match self.device_features_sel {
                0 => self.offered() as u32,
                1 => (self.offered() >> 32) as u32,
                _ => 0,
            },
            0x034 => q.map_or(0, |_| u32::from(super::QUEUE_MAX)),
            0x044 => q.map_or(0, |q| u32::from(q.ready)),
            0x060 => self.interrupt_status,
            0x070 => self.status,
            0x0fc => self.config_generation,
            _ => 0,
        })
    }

    /// A guest store of `size` bytes of `value` at `offset` in the register page.
    pub fn write(&mut self, offset: u64, size: u8, value: u64, mem: &dyn GuestMemory) {
        if size != 4 || !offset.is_multiple_of(4) || offset >= 0x100 {
            return;
        }
        let v = value as u32;
        let features_open = self.status & STATUS_FEATURES_OK == 0;
        match offset {
            0x014 => self.device_features_sel = v,
            0x020 if features_open => match self.driver_features_sel {
                0 => self.driver_features = (self.driver_features & !0xFFFF_FFFF) | u64::from(v),
                1 => {
                    self.driver_features = (self.driver_features & 0xFFFF_FFFF) | u64::from(v) << 32
                }
                _ => {}
            },
            0x024 => self.driver_features_sel = v,
            0x030 => self.queue_sel = v,
            0x038 => self.set_queue(|q| q.size = v.min(u32::from(u16::MAX)) as u16),
            0x044 => self.queue_ready(v != 0, mem),
            0x050 => self.notify(v as usize, mem),
            0x064 => self.interrupt_status &= !v,
            0x070 => self.write_status(v),
            0x080 => self.set_queue(|q| q.desc = low(q.desc, v)),
            0x084 => self.set_queue(|q| q.desc = high(q.desc, v)),
            0x090 => self.set_queue(|q| q.avail = low(q.avail, v)),
            0x094 => self.set_queue(|q| q.avail = high(q.avail, v)),
            0x0a0 => self.set_queue(|q| q.used = low(q.used, v)),
            0x0a4 => self.set_queue(|q| q.used = high(q.used, v)),
            _ => {}
        }
    }

    /// Changes the selected queue's set-up, which is allowed only while it is not ready.
    fn set_queue(&mut self, f: impl FnOnce(&mut Queue)) {
        if let Some(q) = self.selected().filter(|q| !q.ready) {
            f(q);
        }
    }

    fn queue_ready(&mut self, ready: bool, mem: &dyn GuestMemory) {
        let Some(q) = self.selected() else { return };
        if !ready {
            q.ready = false;
            return;
        }
        if q.ready {
            return;
        }
        if let Err(e) = q.activate(mem) {
            self.fail(e);
        }
    }

    fn write_status(&mut self, v: u32) {
        if v == 0 {
            self.reset();
            return;
        }
        let mut v = v & !STATUS_DEVICE_NEEDS_RESET;
        if v & STATUS_FEATURES_OK != 0 && self.status & STATUS_FEATURES_OK == 0 {
            let acceptable = self.driver_features & !self.offered() == 0
                && self.driver_features & F_VERSION_1 != 0;
            if !acceptable {
                v &= !STATUS_FEATURES_OK;
            }
        }
        // Status bits are only ever added; a clear needs a reset.
        self.status |= v;
    }

    fn notify(&mut self, queue: usize, mem: &dyn GuestMemory) {
        if queue >= self.device.num_queues().min(MAX_QUEUES) || !self.queues[queue].ready {
            return;
        }
        self.with_device(mem, |device, queues, mem| device.notify(queue, queues, mem));
    }
}

fn low(old: u64, v: u32) -> u64 {
    (old & !0xFFFF_FFFF) | u64::from(v)
}

fn high(old: u64, v: u32) -> u64 {
    (old & 0xFFFF_FFFF) | u64::from(v) << 32
}

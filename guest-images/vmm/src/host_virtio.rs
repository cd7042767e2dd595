//! What the VMM's own drivers of the machine's virtio devices share (`host_disk`,
//! `host_net`): finding a device on one of QEMU virt's virtio-mmio transports in the host's
//! DTB (version 2 only: QEMU needs `-global virtio-mmio.force-legacy=false`), negotiating
//! features, and setting up split queues whose rings lie in the driver's own memory. The
//! machine's device interrupts stay disabled; the drivers poll.

use crate::Error;
use core::ptr::{read_volatile, write_volatile};
use el1rt::cache::clean_invalidate;
use el1rt::platform::Board;
use zxv_devices::virtio::{
    F_VERSION_1, STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_DRIVER_OK, STATUS_FEATURES_OK,
};

const MAGIC: u32 = 0x7472_6976;
/// The available ring's flag that asks the device for no interrupts.
const AVAIL_F_NO_INTERRUPT: u16 = 1;
/// InterruptStatus: the device used buffers.
const INTERRUPT_USED: u32 = 1;

/// One virtio-mmio transport of the machine, identity-mapped device memory.
#[derive(Clone, Copy)]
pub struct Transport {
    base: u64,
    /// The VMM option the device is for (`vmm.disk=host`), for error messages.
    option: &'static str,
}

/// A split queue's rings in the driver's memory (host RAM, which the device reads and
/// writes): the descriptor table (16-byte aligned), the available and the used ring.
pub struct Rings {
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
}

impl Rings {
    /// The used ring's index, as the device last wrote it.
    pub fn used_idx(&self) -> u16 {
        clean_invalidate(self.used, 4);
        // SAFETY: the used ring's first word, in the driver's memory, which the device
        // writes; read as it stands.
        (unsafe { read_volatile(self.used as *const u32) } >> 16) as u16
    }

    /// Element `slot` of the used ring: the head of a chain the device is done with and the
    /// bytes it wrote into it.
    pub fn used_elem(&self, slot: u16, size: u16) -> (u16, u32) {
        let at = self.used + 4 + 8 * u64::from(slot % size);
        clean_invalidate(at, 8);
        // SAFETY: inside the used ring (`size` entries), in the driver's memory.
        let (id, len) = unsafe {
            (
                read_volatile(at as *const u32),
                read_volatile((at + 4) as *const u32),
            )
        };
        (id as u16, len)
    }

    /// Writes descriptor `index`: a buffer, and the descriptor after it when `flags` has
    /// NEXT.
    pub fn set_desc(&self, index: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let at = self.desc + 16 * u64::from(index);
        // SAFETY: inside the descriptor table, in the driver's memory; the device reads the
        // descriptor only once it is made available.
        unsafe {
            write_volatile(at as *mut u64, addr);
            write_volatile(
                (at + 8) as *mut u64,
                u64::from(len) | u64::from(flags) << 32 | u64::from(next) << 48,
            );
        }
        clean_invalidate(at, 16);
    }

    /// Makes descriptor `head` available in slot `idx` and publishes `idx + 1` as the
    /// available index.
    pub fn make_available(&self, idx: u16, size: u16, head: u16) {
        let slot = self.avail + 4 + 2 * u64::from(idx % size);
        // SAFETY: inside the available ring (`size` entries), in the driver's memory.
        unsafe { write_volatile(slot as *mut u16, head) };
        clean_invalidate(slot, 2);
        barrier();
        // SAFETY: the available ring's index, in the driver's memory.
        unsafe { write_volatile((self.avail + 2) as *mut u16, idx.wrapping_add(1)) };
        clean_invalidate(self.avail, 4);
        barrier();
    }
}

fn reg_read(base: u64, offset: u64) -> u32 {
    // SAFETY: `base` is a virtio-mmio transport from the host's DTB, identity-mapped device
    // memory; a register read has no effect beyond the device.
    unsafe { read_volatile((base + offset) as *const u32) }
}

fn reg_write(base: u64, offset: u64, value: u32) {
    // SAFETY: as for `reg_read`; only the VMM's driver of this device writes the transport.
    unsafe { write_volatile((base + offset) as *mut u32, value) }
}

pub fn barrier() {
    // SAFETY: a barrier has no effect on program state.
    unsafe { core::arch::asm!("dsb sy") };
}

/// The generic counter's frequency and reading.
pub fn counter() -> (u64, u64) {
    let (freq, now): (u64, u64);
    // SAFETY: reading the counter and its frequency has no side effects.
    unsafe {
        core::arch::asm!("mrs {}, cntfrq_el0", "isb", "mrs {}, cntpct_el0", out(reg) freq, out(reg) now)
    };
    (freq.max(1), now)
}

impl Transport {
    /// The machine's virtio device with ID `id` (`what`, e.g. "virtio-blk", which QEMU makes
    /// with `-device QEMU_DEVICE`), for VMM option `option`.
    pub fn find(
        board: &Board,
        id: u32,
        what: &str,
        qemu_device: &str,
        option: &'static str,
    ) -> Result<Transport, Error> {
        let fdt = board
            .fdt()
            .ok_or_else(|| err!("{option}: the host DTB cannot be read"))?;
        let mut legacy = false;
        let transports = fdt.all_nodes().filter(|n| {
            n.compatible()
                .is_some_and(|c| c.all().any(|c| c == "virtio,mmio"))
        });
        for node in transports {
            let Some(base) = node
                .reg()
                .and_then(|mut r| r.next())
                .map(|r| r.starting_address as u64)
            else {
                continue;
            };
            if reg_read(base, 0x000) != MAGIC || reg_read(base, 0x008) != id {
                continue;
            }
            if reg_read(base, 0x004) != 2 {
                legacy = true;
                continue;
            }
            return Ok(Transport { base, option });
        }
        Err(if legacy {
            err!("{option}: the machine's {what} device is legacy (QEMU: -global virtio-mmio.force-legacy=false)")
        } else {
            err!("{option}: the machine has no {what} device (QEMU: -device {qemu_device})")
        })
    }

    /// Resets the device and agrees on what it offers of `wanted` (which must include
    /// VERSION_1); returns the features agreed on.
    pub fn negotiate(&self, wanted: u64, what: &str) -> Result<u64, Error> {
        let base = self.base;
        reg_write(base, 0x070, 0);
        reg_write(base, 0x070, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        reg_write(base, 0x014, 0);
        let low = u64::from(reg_read(base, 0x010));
        reg_write(base, 0x014, 1);
        let offered = low | u64::from(reg_read(base, 0x010)) << 32;
        let accepted = offered & (wanted | F_VERSION_1);
        for (sel, word) in [(0, accepted as u32), (1, (accepted >> 32) as u32)] {
            reg_write(base, 0x024, sel);
            reg_write(base, 0x020, word);
        }
        reg_write(
            base,
            0x070,
            STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK,
        );
        if reg_read(base, 0x070) & STATUS_FEATURES_OK == 0 || accepted & F_VERSION_1 == 0 {
            return Err(err!(
                "{}: the machine's {what} device refused features {accepted:#x}",
                self.option
            ));
        }
        Ok(accepted)
    }

    /// Sets up queue `index` on `rings` (room for `room` entries, a power of two); returns
    /// its size (the largest power of two both allow). With `signal`, the device raises
    /// InterruptStatus when it uses buffers (see [`Transport::used_signalled`]; the
    /// machine's interrupt itself stays disabled), else the driver asks it for no
    /// interrupts.
    pub fn queue(
        &self,
        index: u32,
        rings: &Rings,
        room: u16,
        signal: bool,
        what: &str,
    ) -> Result<u16, Error> {
        let base = self.base;
        reg_write(base, 0x030, index);
        let max = reg_read(base, 0x034);
        if max < 4 {
            return Err(err!(
                "{}: the machine's {what} queue {index} holds {max} entries",
                self.option
            ));
        }
        let mut size = room;
        while u32::from(size) > max {
            size /= 2;
        }
        // SAFETY: the available ring's flags, in the driver's memory; the device does not
        // use the queue yet.
        unsafe {
            write_volatile(
                rings.avail as *mut u16,
                if signal { 0 } else { AVAIL_F_NO_INTERRUPT },
            )
        };
        clean_invalidate(rings.avail, 2);
        reg_write(base, 0x038, u32::from(size));
        for (reg, addr) in [
            (0x080, rings.desc),
            (0x090, rings.avail),
            (0x0a0, rings.used),
        ] {
            reg_write(base, reg, addr as u32);
            reg_write(base, reg + 4, (addr >> 32) as u32);
        }
        reg_write(base, 0x044, 1);
        Ok(size)
    }

    /// The device may run: every queue is set up.
    pub fn driver_ok(&self) {
        reg_write(
            self.base,
            0x070,
            STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK,
        );
    }

    pub fn notify(&self, queue: u32) {
        barrier();
        reg_write(self.base, 0x050, queue);
    }

    /// Whether the device has used buffers of a queue set up with `signal` since the last
    /// [`Transport::ack_interrupt`] (InterruptStatus bit 0). One register read, and no
    /// cache maintenance, where the used index costs a clean and invalidate: under an
    /// emulator a device register also takes far longer to read than memory, so a driver
    /// waiting on it runs fewer instructions in the same time.
    pub fn used_signalled(&self) -> bool {
        reg_read(self.base, 0x060) & INTERRUPT_USED != 0
    }

    /// Acknowledges whatever interrupt the device raised (it reaches no CPU).
    pub fn ack_interrupt(&self) {
        reg_write(self.base, 0x064, reg_read(self.base, 0x060));
    }

    /// A word of the device's configuration space.
    pub fn config(&self, offset: u64) -> u32 {
        reg_read(self.base, 0x100 + offset)
    }
}

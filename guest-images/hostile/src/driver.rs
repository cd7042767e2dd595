//! A small virtio-mmio driver with every step exposed, so that a case can do one step wrong:
//! bring a device up (reset, features, queues, DRIVER_OK), lay out descriptors and make
//! chains available, notify, and read the used ring. The device serves a notify before the
//! guest's store completes (the VMM handles the MEM trap synchronously), so a request's
//! outcome is in the used ring as soon as `notify` returns.

use crate::arch::{read16, read32, read64, write16, write32, write64, write8};
use arrayvec::ArrayString;
use core::fmt::Write;
use zxv_devices::virtio::{
    DESC_F_NEXT, F_VERSION_1, QUEUE_MAX, STATUS_ACKNOWLEDGE, STATUS_DEVICE_NEEDS_RESET,
    STATUS_DRIVER, STATUS_DRIVER_OK, STATUS_FEATURES_OK,
};

/// Why a case failed, for its line.
pub type Why = ArrayString<120>;

#[macro_export]
macro_rules! why {
    ($($arg:tt)*) => {{
        let mut w = $crate::driver::Why::new();
        let _ = core::fmt::Write::write_fmt(&mut w, format_args!($($arg)*));
        w
    }};
}

/// Fails the case with `why` unless `cond`.
#[macro_export]
macro_rules! expect {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err($crate::why!($($arg)*));
        }
    };
}

pub type Outcome = Result<(), Why>;

// Register offsets (virtio 1.x §4.2.2).
pub const MAGIC: u64 = 0x000;
pub const VERSION: u64 = 0x004;
pub const DEVICE_ID: u64 = 0x008;
pub const VENDOR: u64 = 0x00c;
pub const DEVICE_FEATURES: u64 = 0x010;
pub const DEVICE_FEATURES_SEL: u64 = 0x014;
pub const DRIVER_FEATURES: u64 = 0x020;
pub const DRIVER_FEATURES_SEL: u64 = 0x024;
pub const QUEUE_SEL: u64 = 0x030;
pub const QUEUE_NUM_MAX: u64 = 0x034;
pub const QUEUE_NUM: u64 = 0x038;
pub const QUEUE_READY: u64 = 0x044;
pub const QUEUE_NOTIFY: u64 = 0x050;
pub const INTERRUPT_STATUS: u64 = 0x060;
pub const INTERRUPT_ACK: u64 = 0x064;
pub const STATUS: u64 = 0x070;
pub const QUEUE_DESC: u64 = 0x080;
pub const QUEUE_DRIVER: u64 = 0x090;
pub const QUEUE_DEVICE: u64 = 0x0a0;
pub const CONFIG_GENERATION: u64 = 0x0fc;
pub const CONFIG: u64 = 0x100;

pub const INT_CONFIG_CHANGE: u32 = 2;
/// A descriptor flag the devices do not offer (VIRTQ_DESC_F_INDIRECT).
pub const DESC_F_INDIRECT: u16 = 4;
/// Each queue's rings in its 8 KiB: descriptors, then the available and used rings.
const AVAIL_AT: u64 = 0x800;
const USED_AT: u64 = 0x1000;
pub const QUEUE_AREA: u64 = 0x2000;

/// Guest RAM and the places in it the cases use.
#[derive(Clone, Copy)]
pub struct Ram {
    pub base: u64,
    pub end: u64,
}

/// One queue as the driver laid it out.
#[derive(Clone, Copy, Default)]
pub struct Vq {
    pub size: u16,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
    avail_idx: u16,
    used_seen: u16,
}

impl Vq {
    fn at(base: u64, size: u16) -> Vq {
        Vq {
            size,
            desc: base,
            avail: base + AVAIL_AT,
            used: base + USED_AT,
            avail_idx: 0,
            used_seen: 0,
        }
    }

    pub fn set_desc(&self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let at = self.desc + 16 * u64::from(i);
        write64(at, addr);
        write32(at + 8, len);
        write16(at + 12, flags);
        write16(at + 14, next);
    }

    /// Puts `head` in the next available slot and moves the available index on.
    pub fn offer(&mut self, head: u16) {
        write16(
            self.avail + 4 + 2 * u64::from(self.avail_idx % self.size),
            head,
        );
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.set_avail_idx(self.avail_idx);
    }

    /// Sets the available index as a hostile driver pleases.
    pub fn set_avail_idx(&mut self, idx: u16) {
        crate::arch::barrier();
        self.avail_idx = idx;
        write16(self.avail + 2, idx);
    }

    pub fn avail_idx(&self) -> u16 {
        self.avail_idx
    }

    /// The used ring's index as the device left it.
    pub fn used_idx(&self) -> u16 {
        read16(self.used + 2)
    }

    /// The next used element, (head, written), if the device added one.
    pub fn take_used(&mut self) -> Option<(u32, u32)> {
        if self.used_idx() == self.used_seen {
            return None;
        }
        let at = self.used + 4 + 8 * u64::from(self.used_seen % self.size);
        self.used_seen = self.used_seen.wrapping_add(1);
        Some((read32(at), read32(at + 4)))
    }
}

/// One virtio-mmio device from the device tree.
pub struct Dev {
    pub base: u64,
    pub id: u32,
    pub name: &'static str,
    /// Queues the device has, and the one a notify makes it read chains from.
    pub queues: usize,
    pub work: usize,
    /// This device's 64 KiB for rings and buffers, and its scratch buffers.
    pub area: u64,
    pub bufs: u64,
    pub vq: [Vq; 2],
    /// The feature bits the device offered at the last bring-up.
    pub offered: u64,
}

impl Dev {
    pub fn reg(&self, offset: u64) -> u32 {
        read32(self.base + offset)
    }

    pub fn set(&self, offset: u64, v: u32) {
        write32(self.base + offset, v);
    }

    pub fn status(&self) -> u32 {
        self.reg(STATUS)
    }

    pub fn needs_reset(&self) -> bool {
        self.status() & STATUS_DEVICE_NEEDS_RESET != 0
    }

    /// Status 0, then ACKNOWLEDGE and DRIVER; reads what the device offers.
    pub fn begin(&mut self) -> Outcome {
        self.set(STATUS, 0);
        expect!(
            self.status() == 0,
            "Status {:#x} after a reset",
            self.status()
        );
        self.set(INTERRUPT_ACK, u32::MAX);
        self.set(STATUS, STATUS_ACKNOWLEDGE);
        self.set(STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        self.set(DEVICE_FEATURES_SEL, 0);
        let low = u64::from(self.reg(DEVICE_FEATURES));
        self.set(DEVICE_FEATURES_SEL, 1);
        self.offered = low | u64::from(self.reg(DEVICE_FEATURES)) << 32;
        Ok(())
    }

    pub fn write_features(&self, features: u64) {
        for (sel, word) in [(0, features as u32), (1, (features >> 32) as u32)] {
            self.set(DRIVER_FEATURES_SEL, sel);
            self.set(DRIVER_FEATURES, word);
        }
    }

    /// Accepts VERSION_1 alone (and so no optional feature) and sets FEATURES_OK.
    pub fn negotiate(&mut self) -> Outcome {
        expect!(
            self.offered & F_VERSION_1 != 0,
            "VERSION_1 not offered ({:#x})",
            self.offered
        );
        self.write_features(F_VERSION_1);
        self.set(
            STATUS,
            STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK,
        );
        expect!(
            self.status() & STATUS_FEATURES_OK != 0,
            "FEATURES_OK refused"
        );
        Ok(())
    }

    /// Lays queue `q` out with `size` entries and zeroed rings, and writes its registers
    /// (without QueueReady).
    pub fn lay_out(&mut self, q: usize, size: u16) -> Outcome {
        let vq = Vq::at(self.area + QUEUE_AREA * q as u64, size);
        for off in (0..QUEUE_AREA).step_by(8) {
            write64(vq.desc + off, 0);
        }
        self.set(QUEUE_SEL, q as u32);
        expect!(self.reg(QUEUE_READY) == 0, "queue {q} ready before set-up");
        let max = self.reg(QUEUE_NUM_MAX);
        expect!(
            max >= u32::from(size),
            "queue {q}: QueueNumMax {max} < {size}"
        );
        self.set(QUEUE_NUM, u32::from(size));
        self.set_rings(vq.desc, vq.avail, vq.used);
        self.vq[q] = vq;
        Ok(())
    }

    /// Writes the selected queue's three ring addresses.
    pub fn set_rings(&self, desc: u64, avail: u64, used: u64) {
        for (reg, addr) in [
            (QUEUE_DESC, desc),
            (QUEUE_DRIVER, avail),
            (QUEUE_DEVICE, used),
        ] {
            self.set(reg, addr as u32);
            self.set(reg + 4, (addr >> 32) as u32);
        }
    }

    /// The whole bring-up with every queue of `size` entries, as Linux does it.
    pub fn init_with(&mut self, size: u16) -> Outcome {
        self.begin()?;
        self.negotiate()?;
        for q in 0..self.queues {
            self.lay_out(q, size)?;
            self.set(QUEUE_READY, 1);
            expect!(
                self.reg(QUEUE_READY) == 1,
                "queue {q} not ready (Status {:#x})",
                self.status()
            );
        }
        self.set(
            STATUS,
            STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK,
        );
        expect!(
            self.status()
                == STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK,
            "Status {:#x} after DRIVER_OK",
            self.status()
        );
        Ok(())
    }

    pub fn init(&mut self) -> Outcome {
        self.init_with(QUEUE_MAX)
    }

    pub fn notify(&self, q: u32) {
        crate::arch::barrier();
        self.set(QUEUE_NOTIFY, q);
    }

    /// Writes the chain of `bufs` (addr, len, flags; NEXT is added) on queue `q` from
    /// descriptor 0.
    pub fn chain(&mut self, q: usize, bufs: &[(u64, u32, u16)]) {
        for (i, &(addr, len, flags)) in bufs.iter().enumerate() {
            let next = if i + 1 < bufs.len() { DESC_F_NEXT } else { 0 };
            self.vq[q].set_desc(i as u16, addr, len, flags | next, i as u16 + 1);
        }
    }

    /// `chain`, made available, and a notify.
    pub fn post(&mut self, q: usize, bufs: &[(u64, u32, u16)]) {
        self.chain(q, bufs);
        self.vq[q].offer(0);
        self.notify(q as u32);
    }

    /// `post`, and the used element it must have produced: (head, written).
    pub fn request(&mut self, q: usize, bufs: &[(u64, u32, u16)]) -> Result<(u32, u32), Why> {
        self.post(q, bufs);
        let used = self.vq[q].take_used();
        let Some((head, len)) = used else {
            return Err(why!("no used element (Status {:#x})", self.status()));
        };
        expect!(head == 0, "used head {head}, want 0");
        Ok((head, len))
    }

    /// Whether the device used nothing on queue `q` since the last look.
    pub fn nothing_used(&mut self, q: usize) -> Outcome {
        let used = self.vq[q].take_used();
        expect!(used.is_none(), "the device used {:?}", used);
        Ok(())
    }

    /// DEVICE_NEEDS_RESET set, with the configuration-change interrupt.
    pub fn expect_needs_reset(&self) -> Outcome {
        expect!(
            self.needs_reset(),
            "no DEVICE_NEEDS_RESET (Status {:#x})",
            self.status()
        );
        let int = self.reg(INTERRUPT_STATUS);
        expect!(
            int & INT_CONFIG_CHANGE != 0,
            "InterruptStatus {int:#x}, no configuration change"
        );
        Ok(())
    }

    pub fn expect_running(&self) -> Outcome {
        let s = self.status();
        expect!(
            s & STATUS_DRIVER_OK != 0 && s & STATUS_DEVICE_NEEDS_RESET == 0,
            "Status {s:#x}, not running"
        );
        Ok(())
    }

    pub fn config64(&self, offset: u64) -> u64 {
        u64::from(self.reg(CONFIG + offset)) | u64::from(self.reg(CONFIG + offset + 4)) << 32
    }

    pub fn read_sized(&self, offset: u64, size: u8) -> u64 {
        let a = self.base + offset;
        match size {
            1 => u64::from(crate::arch::read8(a)),
            2 => u64::from(read16(a)),
            4 => u64::from(read32(a)),
            _ => read64(a),
        }
    }

    pub fn write_sized(&self, offset: u64, size: u8, v: u64) {
        let a = self.base + offset;
        match size {
            1 => write8(a, v as u8),
            2 => write16(a, v as u16),
            4 => write32(a, v as u32),
            _ => write64(a, v),
        }
    }
}

/// Fills `[addr, addr + len)` of guest RAM with `byte` (both 8-byte aligned).
pub fn fill(addr: u64, len: u64, byte: u8) {
    let word = u64::from_ne_bytes([byte; 8]);
    for off in (0..len).step_by(8) {
        write64(addr + off, word);
    }
}

/// Whether every byte of `[addr, addr + len)` (8-byte aligned) is `byte`.
pub fn all(addr: u64, len: u64, byte: u8) -> bool {
    let word = u64::from_ne_bytes([byte; 8]);
    (0..len).step_by(8).all(|off| read64(addr + off) == word)
}

/// For messages: a short hex dump of the first bytes at `addr`.
pub fn peek(addr: u64) -> ArrayString<24> {
    let mut s = ArrayString::new();
    let _ = write!(s, "{:016x}", read64(addr).swap_bytes());
    s
}

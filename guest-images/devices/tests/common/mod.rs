//! A guest CPU for the driver replays: the distributor loads and stores a driver makes on
//! one vCPU, and the deliveries they caused.

use zxv_devices::{Deliveries, Delivery, Gic};

pub struct Cpu<'a> {
    pub gic: &'a Gic,
    pub vcpu: usize,
    pub delivered: Vec<Delivery>,
}

impl<'a> Cpu<'a> {
    pub fn new(gic: &'a Gic, vcpu: usize) -> Self {
        Self {
            gic,
            vcpu,
            delivered: Vec::new(),
        }
    }

    /// readl_relaxed of a distributor register.
    pub fn readl(&self, offset: u64) -> u32 {
        self.gic.distributor_read(self.vcpu, offset, 4) as u32
    }

    /// A distributor store of `size` bytes (writeb, writel, writeq).
    pub fn write(&mut self, value: u64, offset: u64, size: u8) {
        let mut out = Deliveries::new();
        self.gic
            .distributor_write(self.vcpu, offset, size, value, &mut out);
        self.delivered.extend(out);
    }

    /// writel_relaxed of a distributor register.
    pub fn writel(&mut self, value: u32, offset: u64) {
        self.write(value.into(), offset, 4);
    }

    /// gic_configure_irq for a level-sensitive interrupt `irq`: read-modify-write of its
    /// ICFGR word through `read` and `write`, which must read back as written.
    pub fn configure_level(
        &mut self,
        read: impl Fn(&Self) -> u32,
        write: impl Fn(&mut Self, u32),
        irq: u32,
    ) {
        let old = read(self);
        let val = old & !(2 << ((irq % 16) * 2));
        if val != old {
            write(self, val);
            assert_eq!(read(self), val, "the configuration sticks");
        }
    }
}

/// What a device's line rising on SPI `intid` delivers.
pub fn raise_line(gic: &Gic, intid: u32) -> Vec<Delivery> {
    let mut out = Deliveries::new();
    gic.set_level(intid, true, &mut out);
    out.to_vec()
}

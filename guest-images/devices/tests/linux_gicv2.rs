//! Replays the GICv2 distributor accesses of Linux 6.1's drivers/irqchip/irq-gic.c (and
//! irq-gic-common.c) on a two-vCPU guest: gic_init_bases (TYPER), gic_dist_init with
//! gic_get_cpumask, gic_cpu_init on each CPU, IPIs through GICD_SGIR with the CPU map the
//! driver learnt, and an SPI requested (byte write of ITARGETSR) and raised.

mod common;

use common::{raise_line, Cpu};
use zxv_devices::{Delivery, Gic, GicVersion};

const GIC_DIST_CTRL: u64 = 0x000;
const GIC_DIST_CTR: u64 = 0x004;
const GIC_DIST_ENABLE_SET: u64 = 0x100;
const GIC_DIST_ENABLE_CLEAR: u64 = 0x180;
const GIC_DIST_ACTIVE_CLEAR: u64 = 0x380;
const GIC_DIST_PRI: u64 = 0x400;
const GIC_DIST_TARGET: u64 = 0x800;
const GIC_DIST_CONFIG: u64 = 0xC00;
const GIC_DIST_SOFTINT: u64 = 0xF00;
const GIC_DIST_SGI_PENDING_SET: u64 = 0xF20;
const GICD_PIDR2: u64 = 0xFE8;

const DEF_PRI_X4: u32 = 0xA0A0_A0A0;
const UART_SPI: u32 = 33;

impl Cpu<'_> {
    /// gic_get_cpumask: the first non-zero ITARGETSR0-7, folded into one byte.
    fn get_cpumask(&self) -> u8 {
        for i in (0..32).step_by(4) {
            let mut mask = self.readl(GIC_DIST_TARGET + i);
            mask |= mask >> 16;
            mask |= mask >> 8;
            if mask != 0 {
                return mask as u8;
            }
        }
        0
    }

    /// gic_dist_init.
    fn dist_init(&mut self, gic_irqs: u32) {
        self.writel(0, GIC_DIST_CTRL);
        let mut cpumask = u32::from(self.get_cpumask());
        cpumask |= cpumask << 8;
        cpumask |= cpumask << 16;
        for i in (32..gic_irqs).step_by(4) {
            self.writel(cpumask, GIC_DIST_TARGET + u64::from(i));
        }
        // gic_dist_config.
        for i in (32..gic_irqs).step_by(16) {
            self.writel(0, GIC_DIST_CONFIG + u64::from(i / 4));
        }
        for i in (32..gic_irqs).step_by(4) {
            self.writel(DEF_PRI_X4, GIC_DIST_PRI + u64::from(i));
        }
        for i in (32..gic_irqs).step_by(32) {
            self.writel(!0, GIC_DIST_ACTIVE_CLEAR + u64::from(i / 8));
            self.writel(!0, GIC_DIST_ENABLE_CLEAR + u64::from(i / 8));
        }
        self.writel(1, GIC_DIST_CTRL);
    }

    /// gic_cpu_init's distributor part; returns the CPU's map entry.
    fn cpu_init(&mut self) -> u8 {
        let cpu_mask = self.get_cpumask();
        // gic_cpu_config(dist_base, 32, NULL).
        self.writel(!0, GIC_DIST_ACTIVE_CLEAR);
        self.writel(!0, GIC_DIST_ENABLE_CLEAR);
        for i in (0..32).step_by(4) {
            self.writel(DEF_PRI_X4, GIC_DIST_PRI + i);
        }
        cpu_mask
    }

    /// gic_unmask_irq.
    fn unmask(&mut self, intid: u32) {
        self.writel(
            1 << (intid % 32),
            GIC_DIST_ENABLE_SET + u64::from(intid / 32) * 4,
        );
    }

    /// gic_ipi_send_mask to the CPUs whose map entries are `map`.
    fn send_ipi(&mut self, map: u8, intid: u32) {
        self.writel(u32::from(map) << 16 | intid, GIC_DIST_SOFTINT);
    }

    /// request_irq of a level SPI: gic_set_type (read-modify-write, read back),
    /// gic_set_affinity (a byte write of ITARGETSR), unmask.
    fn request_spi(&mut self, intid: u32, cpu_map: u8) {
        let cfg = GIC_DIST_CONFIG + u64::from(intid / 16) * 4;
        self.configure_level(|c| c.readl(cfg), |c, v| c.writel(v, cfg), intid);
        self.write(cpu_map.into(), GIC_DIST_TARGET + u64::from(intid), 1);
        self.unmask(intid);
    }
}

/// Boot on two vCPUs; returns the CPUs and the driver's gic_cpu_map.
fn boot(gic: &Gic) -> (Cpu<'_>, Cpu<'_>, [u8; 2]) {
    let mut cpu0 = Cpu::new(gic, 0);
    let mut cpu1 = Cpu::new(gic, 1);
    let gic_irqs = ((cpu0.readl(GIC_DIST_CTR) & 0x1F) + 1) * 32;
    assert_eq!(gic_irqs, 256);
    cpu0.dist_init(gic_irqs);
    let map = [cpu0.cpu_init(), cpu1.cpu_init()];
    for cpu in [&mut cpu0, &mut cpu1] {
        for ipi in 0..8 {
            cpu.unmask(ipi);
        }
    }
    (cpu0, cpu1, map)
}

#[test]
fn typer_and_pidr2_describe_a_two_cpu_gicv2() {
    let gic = Gic::new(GicVersion::V2, 2);
    let cpu = Cpu::new(&gic, 0);
    assert_eq!(cpu.readl(GIC_DIST_CTR) >> 5 & 7, 1, "CPUNumber = CPUs - 1");
    assert_eq!(cpu.readl(GICD_PIDR2) & 0xF0, 0x20);
}

#[test]
fn each_cpu_learns_its_own_interface_bit() {
    let gic = Gic::new(GicVersion::V2, 2);
    let (.., map) = boot(&gic);
    assert_eq!(map, [0b01, 0b10]);
}

#[test]
fn boot_targets_every_spi_at_the_boot_cpu_and_enables_the_distributor() {
    let gic = Gic::new(GicVersion::V2, 2);
    let (cpu0, cpu1, _) = boot(&gic);
    assert_eq!(cpu0.readl(GIC_DIST_CTRL), 1);
    for i in (32..256).step_by(4) {
        assert_eq!(cpu1.readl(GIC_DIST_TARGET + i), 0x0101_0101);
        assert_eq!(cpu1.readl(GIC_DIST_PRI + i), DEF_PRI_X4);
    }
    assert!(cpu0.delivered.is_empty() && cpu1.delivered.is_empty());
}

#[test]
fn boot_banks_each_cpus_sgi_and_ppi_setup() {
    let gic = Gic::new(GicVersion::V2, 2);
    let (mut cpu0, cpu1, _) = boot(&gic);
    cpu0.unmask(27);
    assert_eq!(cpu0.readl(GIC_DIST_ENABLE_SET), 0xFF | 1 << 27);
    assert_eq!(cpu1.readl(GIC_DIST_ENABLE_SET), 0xFF);
    assert_eq!(cpu1.readl(GIC_DIST_PRI + 0x1C), DEF_PRI_X4);
    assert_eq!(cpu1.readl(GIC_DIST_CONFIG), 0xAAAA_AAAA);
}

#[test]
fn ipis_go_to_the_cpus_of_the_map() {
    let gic = Gic::new(GicVersion::V2, 2);
    let (mut cpu0, mut cpu1, map) = boot(&gic);
    cpu0.send_ipi(map[1], 1);
    cpu1.send_ipi(map[0] | map[1], 2);
    assert_eq!(cpu0.delivered, [Delivery { vcpu: 1, intid: 1 }]);
    assert_eq!(
        cpu1.delivered,
        [
            Delivery {
                vcpu: 0,
                intid: 2 | 1 << 10
            },
            Delivery {
                vcpu: 1,
                intid: 2 | 1 << 10
            }
        ]
    );
}

#[test]
fn a_single_cpu_self_ipi_uses_filter_2() {
    let gic = Gic::new(GicVersion::V2, 1);
    let mut cpu0 = Cpu::new(&gic, 0);
    cpu0.dist_init(256);
    cpu0.cpu_init();
    cpu0.unmask(3);
    cpu0.writel(2 << 24 | 3, GIC_DIST_SOFTINT);
    assert_eq!(cpu0.delivered, [Delivery { vcpu: 0, intid: 3 }]);
}

#[test]
fn an_ipi_to_a_cpu_not_yet_up_waits_in_its_spendsgir() {
    let gic = Gic::new(GicVersion::V2, 2);
    let mut cpu0 = Cpu::new(&gic, 0);
    let mut cpu1 = Cpu::new(&gic, 1);
    cpu0.dist_init(256);
    cpu0.cpu_init();
    cpu0.send_ipi(0b10, 5);
    assert!(cpu0.delivered.is_empty());
    assert_eq!(
        cpu1.readl(GIC_DIST_SGI_PENDING_SET + 4),
        0x0000_0100,
        "SGI 5 from CPU 0"
    );
    cpu1.cpu_init();
    cpu1.unmask(5);
    assert_eq!(cpu1.delivered, [Delivery { vcpu: 1, intid: 5 }]);
}

#[test]
fn a_requested_spi_goes_to_the_cpu_its_affinity_names() {
    let gic = Gic::new(GicVersion::V2, 2);
    let (mut cpu0, _, map) = boot(&gic);
    cpu0.request_spi(UART_SPI, map[1]);
    assert_eq!(cpu0.readl(GIC_DIST_TARGET + 32), 0x0101_0201);
    assert_eq!(
        raise_line(&gic, UART_SPI),
        [Delivery {
            vcpu: 1,
            intid: UART_SPI
        }]
    );
}

#[test]
fn an_spi_raised_before_the_distributor_is_enabled_arrives_with_it() {
    let gic = Gic::new(GicVersion::V2, 2);
    let (mut cpu0, _, map) = boot(&gic);
    cpu0.request_spi(UART_SPI, map[0]);
    cpu0.writel(0, GIC_DIST_CTRL);
    assert!(raise_line(&gic, UART_SPI).is_empty());
    cpu0.writel(1, GIC_DIST_CTRL);
    assert_eq!(
        cpu0.delivered,
        [Delivery {
            vcpu: 0,
            intid: UART_SPI
        }]
    );
}

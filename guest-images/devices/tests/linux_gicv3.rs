//! Replays the GICv3 register accesses of Linux 6.1's drivers/irqchip/irq-gic-v3.c (and
//! irq-gic-common.c) on a two-vCPU guest: probe (gic_validate_dist_version, gic_init_bases,
//! gic_update_rdist_properties), gic_dist_init, gic_cpu_init with gic_populate_rdist and
//! gic_enable_redist on each CPU, the IPIs, and a level-triggered SPI requested and raised.

mod common;

use common::{raise_line, Cpu};
use zxv_devices::{Deliveries, Delivery, Gic, GicVersion, GICR_FRAME_SIZE};

const GICD_CTLR: u64 = 0x0;
const GICD_TYPER: u64 = 0x4;
const GICD_IIDR: u64 = 0x8;
const GICD_TYPER2: u64 = 0xC;
const GICD_IGROUPR: u64 = 0x80;
const GICD_ISENABLER: u64 = 0x100;
const GICD_ICENABLER: u64 = 0x180;
const GICD_ICACTIVER: u64 = 0x380;
const GICD_IPRIORITYR: u64 = 0x400;
const GICD_ICFGR: u64 = 0xC00;
const GICD_IROUTER: u64 = 0x6000;
const GICD_PIDR2: u64 = 0xFFE8;
const GICR_CTLR: u64 = 0x0;
const GICR_TYPER: u64 = 0x8;
const GICR_WAKER: u64 = 0x14;
const GICR_PIDR2: u64 = 0xFFE8;
const SGI_BASE: u64 = 0x1_0000;

const RWP: u32 = 1 << 31;
const DEF_PRI_X4: u64 = 0xA0A0_A0A0;
const UART_SPI: u32 = 33;
const TIMER_PPI: u32 = 27;

impl Cpu<'_> {
    fn writeq(&mut self, value: u64, offset: u64) {
        self.write(value, offset, 8);
    }

    fn rd_readl(&self, offset: u64) -> u32 {
        self.gic.redistributor_read(self.vcpu, offset, 4) as u32
    }

    fn rd_readq(&self, offset: u64) -> u64 {
        self.gic.redistributor_read(self.vcpu, offset, 8)
    }

    fn rd_writel(&mut self, value: u32, offset: u64) {
        let mut out = Deliveries::new();
        self.gic
            .redistributor_write(self.vcpu, offset, 4, value.into(), &mut out);
        self.delivered.extend(out);
    }

    /// gic_dist_wait_for_rwp: must not spin.
    fn dist_wait_for_rwp(&self) {
        assert_eq!(self.readl(GICD_CTLR) & RWP, 0);
    }

    /// gic_redist_wait_for_rwp on this CPU's RD_base (bit 31 of GICR_CTLR).
    fn redist_wait_for_rwp(&self, rd: u64) {
        assert_eq!(self.rd_readl(rd + GICR_CTLR) & RWP, 0);
    }

    /// gic_validate_dist_version and the reads of gic_init_bases; returns GIC_LINE_NR.
    fn probe(&self) -> u32 {
        assert_eq!(self.readl(GICD_PIDR2) & 0xF0, 0x30, "GIC_PIDR2_ARCH_GICv3");
        let typer = self.readl(GICD_TYPER);
        assert_eq!(self.readl(GICD_IIDR) & 0xFFF, 0x43B);
        assert_eq!(self.readl(GICD_TYPER2), 0, "no nASSGIcap");
        assert_eq!(
            typer & (1 << 16 | 1 << 17 | 1 << 26),
            0,
            "no MBIS, LPIS, RSS"
        );
        assert_eq!(typer & (1 << 8), 0, "no extended SPIs");
        ((typer & 0x1F) + 1) * 32
    }

    /// gic_iterate_rdists with `found` deciding on each frame's GICR_TYPER; returns the
    /// frame's offset where `found` said yes.
    fn iterate_rdists(&self, mut found: impl FnMut(u64) -> bool) -> Option<u64> {
        assert_eq!(
            self.rd_readl(GICR_PIDR2) & 0xF0,
            0x30,
            "a redistributor is present"
        );
        let mut frame = 0;
        loop {
            let typer = self.rd_readq(frame + GICR_TYPER);
            if found(typer) {
                return Some(frame);
            }
            if typer & 1 << 4 != 0 {
                return None;
            }
            frame += GICR_FRAME_SIZE;
        }
    }

    /// gic_dist_init.
    fn dist_init(&mut self, lines: u32) {
        self.writel(0, GICD_CTLR);
        self.dist_wait_for_rwp();
        for i in (32..lines).step_by(32) {
            self.writel(!0, GICD_IGROUPR + u64::from(i / 8));
        }
        // gic_dist_config.
        for i in (32..lines).step_by(16) {
            self.writel(0, GICD_ICFGR + u64::from(i / 4));
        }
        for i in (32..lines).step_by(4) {
            self.writel(DEF_PRI_X4 as u32, GICD_IPRIORITYR + u64::from(i));
        }
        for i in (32..lines).step_by(32) {
            self.writel(!0, GICD_ICACTIVER + u64::from(i / 8));
            self.writel(!0, GICD_ICENABLER + u64::from(i / 8));
        }
        self.dist_wait_for_rwp();
        self.writel(1 << 4 | 1 << 1 | 1, GICD_CTLR);
        for i in 32..lines {
            self.writeq(0, GICD_IROUTER + u64::from(i) * 8);
        }
    }

    /// gic_cpu_init: find our redistributor by affinity, wake it, configure SGIs and PPIs.
    /// Returns its RD_base.
    fn cpu_init(&mut self) -> u64 {
        let aff = self.vcpu as u64;
        let rd = self
            .iterate_rdists(|typer| typer >> 32 == aff)
            .expect("our redistributor");
        // gic_enable_redist(true).
        let waker = self.rd_readl(rd + GICR_WAKER) & !(1 << 1);
        self.rd_writel(waker, rd + GICR_WAKER);
        let woke = (0..1000).any(|_| self.rd_readl(rd + GICR_WAKER) & 1 << 2 == 0);
        assert!(woke, "ChildrenAsleep clears");
        let sgi = rd + SGI_BASE;
        self.rd_writel(!0, sgi + GICD_IGROUPR);
        // gic_cpu_config(rbase, 32, gic_redist_wait_for_rwp).
        self.rd_writel(!0, sgi + GICD_ICACTIVER);
        self.rd_writel(!0, sgi + GICD_ICENABLER);
        for i in (0..32).step_by(4) {
            self.rd_writel(DEF_PRI_X4 as u32, sgi + GICD_IPRIORITYR + i);
        }
        self.redist_wait_for_rwp(rd);
        rd
    }

    /// gic_unmask_irq of a private interrupt (gic_poke_irq on SGI_base, then RWP).
    fn unmask_private(&mut self, rd: u64, intid: u32) {
        self.rd_writel(1 << intid, rd + SGI_BASE + GICD_ISENABLER);
        self.redist_wait_for_rwp(rd);
    }

    /// request_irq of an SPI on this CPU: level type, affinity to this CPU, unmask.
    fn request_spi(&mut self, intid: u32) {
        let cfg = GICD_ICFGR + u64::from(intid / 16) * 4;
        self.configure_level(|c| c.readl(cfg), |c, v| c.writel(v, cfg), intid);
        // gic_set_affinity: peek ISENABLER, write IROUTER, wait.
        let enabled = self.readl(GICD_ISENABLER + u64::from(intid / 32) * 4) & 1 << (intid % 32);
        assert_eq!(enabled, 0);
        self.writeq(self.vcpu as u64, GICD_IROUTER + u64::from(intid) * 8);
        self.dist_wait_for_rwp();
        // gic_unmask_irq.
        self.writel(
            1 << (intid % 32),
            GICD_ISENABLER + u64::from(intid / 32) * 4,
        );
        self.dist_wait_for_rwp();
    }
}

/// The whole boot on two vCPUs; returns each CPU's RD_base.
fn boot(gic: &Gic) -> (Cpu<'_>, Cpu<'_>, u64, u64) {
    let mut cpu0 = Cpu::new(gic, 0);
    let mut cpu1 = Cpu::new(gic, 1);
    let lines = cpu0.probe();
    assert_eq!(lines, 256);
    let mut frames = 0;
    cpu0.iterate_rdists(|typer| {
        assert_eq!(typer >> 27 & 0x1F, 0, "16 PPIs");
        frames += 1;
        false
    });
    assert_eq!(frames, 2, "gic_update_rdist_properties sees both frames");
    cpu0.dist_init(lines);
    let rd0 = cpu0.cpu_init();
    let rd1 = cpu1.cpu_init();
    // IPIs 0-7 (set_smp_ipi_range) and the virtual timer, enabled per CPU.
    for (cpu, rd) in [(&mut cpu0, rd0), (&mut cpu1, rd1)] {
        for ipi in 0..8 {
            cpu.unmask_private(rd, ipi);
        }
        let icfgr1 = rd + SGI_BASE + GICD_ICFGR + 4;
        cpu.configure_level(
            |c| c.rd_readl(icfgr1),
            |c, v| c.rd_writel(v, icfgr1),
            TIMER_PPI,
        );
        cpu.unmask_private(rd, TIMER_PPI);
    }
    (cpu0, cpu1, rd0, rd1)
}

#[test]
fn boot_finds_a_redistributor_for_each_cpu_and_delivers_nothing() {
    let gic = Gic::new(GicVersion::V3, 2);
    let (cpu0, cpu1, rd0, rd1) = boot(&gic);
    assert_eq!((rd0, rd1), (0, GICR_FRAME_SIZE));
    assert!(cpu0.delivered.is_empty() && cpu1.delivered.is_empty());
}

#[test]
fn boot_leaves_the_distributor_enabled_with_affinity_routing() {
    let gic = Gic::new(GicVersion::V3, 2);
    let (cpu0, ..) = boot(&gic);
    assert_eq!(
        cpu0.readl(GICD_CTLR),
        0x53,
        "ARE, DS, EnableGrp1, EnableGrp0"
    );
    for i in (32..256).step_by(32) {
        assert_eq!(cpu0.readl(GICD_IGROUPR + i / 8), !0);
        assert_eq!(cpu0.readl(GICD_ISENABLER + i / 8), 0);
    }
    for i in (32..256).step_by(4) {
        assert_eq!(cpu0.readl(GICD_IPRIORITYR + i), DEF_PRI_X4 as u32);
    }
    for i in 32..256 {
        assert_eq!(gic.distributor_read(0, GICD_IROUTER + i * 8, 8), 0);
    }
}

#[test]
fn boot_wakes_both_redistributors_and_sets_up_their_sgis_and_ppis() {
    let gic = Gic::new(GicVersion::V3, 2);
    let (cpu0, _, rd0, rd1) = boot(&gic);
    for rd in [rd0, rd1] {
        assert_eq!(cpu0.rd_readl(rd + GICR_WAKER), 0);
        assert_eq!(cpu0.rd_readl(rd + SGI_BASE + GICD_IGROUPR), !0);
        assert_eq!(
            cpu0.rd_readl(rd + SGI_BASE + GICD_ISENABLER),
            0xFF | 1 << TIMER_PPI
        );
        assert_eq!(
            cpu0.rd_readl(rd + SGI_BASE + GICD_IPRIORITYR + 0x1C),
            DEF_PRI_X4 as u32
        );
        assert_eq!(cpu0.rd_readl(rd + SGI_BASE + GICD_ICFGR), 0xAAAA_AAAA);
    }
}

#[test]
fn ipis_reach_the_other_cpu_after_boot() {
    let gic = Gic::new(GicVersion::V3, 2);
    boot(&gic);
    let mut out = Deliveries::new();
    gic.send_sgi(0, 0b10, 1, &mut out);
    gic.send_sgi(1, 0b01, 0, &mut out);
    assert_eq!(
        out.as_slice(),
        [
            Delivery { vcpu: 1, intid: 1 },
            Delivery { vcpu: 0, intid: 0 }
        ]
    );
}

#[test]
fn an_ipi_sent_before_its_target_enabled_it_arrives_on_enable() {
    let gic = Gic::new(GicVersion::V3, 2);
    let mut cpu0 = Cpu::new(&gic, 0);
    let mut cpu1 = Cpu::new(&gic, 1);
    let lines = cpu0.probe();
    cpu0.dist_init(lines);
    cpu0.cpu_init();
    let mut out = Deliveries::new();
    gic.send_sgi(0, 0b10, 2, &mut out);
    assert!(out.is_empty(), "CPU 1 has not enabled SGI 2 yet");
    let rd1 = cpu1.cpu_init();
    cpu1.unmask_private(rd1, 2);
    assert_eq!(cpu1.delivered, [Delivery { vcpu: 1, intid: 2 }]);
}

#[test]
fn a_requested_uart_spi_is_delivered_on_its_rising_line() {
    let gic = Gic::new(GicVersion::V3, 2);
    let (mut cpu0, ..) = boot(&gic);
    cpu0.request_spi(UART_SPI);
    assert!(cpu0.delivered.is_empty());
    assert_eq!(
        raise_line(&gic, UART_SPI),
        [Delivery {
            vcpu: 0,
            intid: UART_SPI
        }]
    );
}

#[test]
fn an_spi_moved_to_cpu_1_goes_there() {
    let gic = Gic::new(GicVersion::V3, 2);
    let (_, mut cpu1, ..) = boot(&gic);
    cpu1.request_spi(UART_SPI);
    assert_eq!(
        raise_line(&gic, UART_SPI),
        [Delivery {
            vcpu: 1,
            intid: UART_SPI
        }]
    );
}

#[test]
fn a_cpu_pm_sleep_finds_no_power_management() {
    let gic = Gic::new(GicVersion::V3, 2);
    let (mut cpu0, _, rd0, _) = boot(&gic);
    // gic_enable_redist(false) first checks that ProcessorSleep sticks; on a RAZ/WI
    // GICR_WAKER it does not, and Linux leaves the redistributor awake.
    let waker = cpu0.rd_readl(rd0 + GICR_WAKER) | 1 << 1;
    cpu0.rd_writel(waker, rd0 + GICR_WAKER);
    assert_eq!(cpu0.rd_readl(rd0 + GICR_WAKER), 0);
    let mut out = Deliveries::new();
    gic.send_sgi(1, 0b01, 3, &mut out);
    assert_eq!(out.to_vec(), [Delivery { vcpu: 0, intid: 3 }]);
}

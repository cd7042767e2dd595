//! The delivery rule through the public API: when a device line, an SGI, a PPI or a register
//! write makes an interrupt deliverable, and to which vCPU.

use zxv_devices::{Deliveries, Delivery, Gic, GicVersion, GICR_FRAME_SIZE};

const SGI_BASE: u64 = 0x1_0000;
const UART_SPI: u32 = 33;

fn d(vcpu: usize, intid: u32) -> Delivery {
    Delivery { vcpu, intid }
}

/// Writes a word and returns what it delivered.
fn dist(gic: &Gic, vcpu: usize, offset: u64, value: u64) -> Vec<Delivery> {
    let mut out = Deliveries::new();
    gic.distributor_write(vcpu, offset, 4, value, &mut out);
    out.to_vec()
}

fn redist(gic: &Gic, offset: u64, value: u64) -> Vec<Delivery> {
    let mut out = Deliveries::new();
    gic.redistributor_write(0, offset, 4, value, &mut out);
    out.to_vec()
}

fn level(gic: &Gic, intid: u32, high: bool) -> Vec<Delivery> {
    let mut out = Deliveries::new();
    gic.set_level(intid, high, &mut out);
    out.to_vec()
}

/// A GICv3 with its distributor and both redistributors on, all interrupts Group 1.
fn v3_ready() -> Gic {
    let gic = Gic::new(GicVersion::V3, 2);
    dist(&gic, 0, 0x0, 0x13);
    dist(&gic, 0, 0x84, u64::from(u32::MAX));
    for vcpu in 0..2 {
        let frame = vcpu * GICR_FRAME_SIZE;
        redist(&gic, frame + 0x14, 0);
        redist(&gic, frame + SGI_BASE + 0x80, u64::from(u32::MAX));
    }
    gic
}

/// A GICv2 with its distributor on and the UART's SPI targeted at vCPU 1.
fn v2_ready() -> Gic {
    let gic = Gic::new(GicVersion::V2, 2);
    dist(&gic, 0, 0x0, 1);
    dist(&gic, 0, 0x820, 0x0000_0200);
    gic
}

#[test]
fn a_rising_line_of_an_enabled_spi_is_delivered_to_its_route() {
    let gic = v3_ready();
    gic.distributor_write(0, 0x6108, 8, 1, &mut Deliveries::new());
    dist(&gic, 0, 0x104, 1 << 1);
    assert_eq!(level(&gic, UART_SPI, true), [d(1, UART_SPI)]);
}

#[test]
fn a_line_that_stays_high_is_delivered_once() {
    let gic = v3_ready();
    dist(&gic, 0, 0x104, 1 << 1);
    assert_eq!(level(&gic, UART_SPI, true).len(), 1);
    assert_eq!(level(&gic, UART_SPI, true), []);
    assert_eq!(level(&gic, UART_SPI, false), []);
    assert_eq!(level(&gic, UART_SPI, true).len(), 1, "a new edge");
}

#[test]
fn a_disabled_spi_is_latched_and_delivered_when_enabled() {
    let gic = v3_ready();
    gic.distributor_write(0, 0x6108, 8, 1 << 31, &mut Deliveries::new());
    dist(&gic, 0, 0xC08, 0b10 << 2);
    assert_eq!(level(&gic, UART_SPI, true), []);
    level(&gic, UART_SPI, false);
    assert_eq!(
        gic.distributor_read(0, 0x204, 4),
        1 << 1,
        "ISPENDR shows the latch"
    );
    assert_eq!(dist(&gic, 0, 0x104, 1 << 1), [d(0, UART_SPI)]);
    assert_eq!(
        gic.distributor_read(0, 0x204, 4),
        0,
        "the list registers own it now"
    );
}

#[test]
fn icpendr_drops_a_latched_edge_spi() {
    let gic = v3_ready();
    dist(&gic, 0, 0xC08, 0b10 << 2);
    level(&gic, UART_SPI, true);
    dist(&gic, 0, 0x284, 1 << 1);
    assert_eq!(dist(&gic, 0, 0x104, 1 << 1), []);
}

#[test]
fn a_level_spi_whose_line_is_high_is_pending_again_when_enabled() {
    let gic = v3_ready();
    level(&gic, UART_SPI, true);
    dist(&gic, 0, 0x284, 1 << 1);
    assert_eq!(gic.distributor_read(0, 0x204, 4), 0);
    assert_eq!(
        dist(&gic, 0, 0x104, 1 << 1),
        [d(0, UART_SPI)],
        "its pending state follows the line"
    );
}

#[test]
fn a_level_spi_whose_line_fell_while_disabled_is_not_delivered() {
    let gic = v3_ready();
    level(&gic, UART_SPI, true);
    level(&gic, UART_SPI, false);
    assert_eq!(dist(&gic, 0, 0x104, 1 << 1), []);
}

#[test]
fn re_enabling_a_level_spi_whose_line_is_still_high_delivers_it_again() {
    let gic = v3_ready();
    dist(&gic, 0, 0x104, 1 << 1);
    assert_eq!(level(&gic, UART_SPI, true).len(), 1);
    dist(&gic, 0, 0x184, 1 << 1);
    assert_eq!(dist(&gic, 0, 0x104, 1 << 1), [d(0, UART_SPI)]);
}

#[test]
fn ispendr_delivers_like_an_edge() {
    let gic = v3_ready();
    dist(&gic, 0, 0x104, 1 << 1);
    assert_eq!(dist(&gic, 0, 0x204, 1 << 1), [d(0, UART_SPI)]);
}

#[test]
fn the_distributor_enable_releases_everything_latched() {
    let gic = v3_ready();
    dist(&gic, 0, 0x0, 0);
    dist(&gic, 0, 0x104, 0b11);
    level(&gic, 32, true);
    level(&gic, 33, true);
    assert_eq!(dist(&gic, 0, 0x0, 0x12), [d(0, 32), d(0, 33)]);
}

#[test]
fn an_spi_routed_to_a_missing_vcpu_is_held() {
    let gic = v3_ready();
    gic.distributor_write(0, 0x6108, 8, 7, &mut Deliveries::new());
    dist(&gic, 0, 0x104, 1 << 1);
    assert_eq!(level(&gic, UART_SPI, true), []);
    let mut out = Deliveries::new();
    gic.distributor_write(0, 0x6108, 8, 1, &mut out);
    assert_eq!(out.to_vec(), [d(1, UART_SPI)], "rerouting releases it");
}

#[test]
fn irm_routing_picks_vcpu_0_with_no_waker_write() {
    let gic = Gic::new(GicVersion::V3, 2);
    dist(&gic, 0, 0x0, 0x13);
    dist(&gic, 0, 0x84, u64::from(u32::MAX));
    gic.distributor_write(0, 0x6108, 8, 1 << 31, &mut Deliveries::new());
    dist(&gic, 0, 0x104, 1 << 1);
    assert_eq!(level(&gic, UART_SPI, true), [d(0, UART_SPI)]);
}

#[test]
fn a_guest_that_never_writes_gicr_waker_gets_its_sgis() {
    let gic = Gic::new(GicVersion::V3, 2);
    dist(&gic, 0, 0x0, 0x13);
    redist(&gic, GICR_FRAME_SIZE + SGI_BASE + 0x80, u64::from(u32::MAX));
    redist(&gic, GICR_FRAME_SIZE + SGI_BASE + 0x100, 1 << 5);
    let mut out = Deliveries::new();
    gic.send_sgi(0, 0b10, 5, &mut out);
    assert_eq!(out.to_vec(), [d(1, 5)]);
}

#[test]
fn a_v3_sgi_reaches_each_target_whose_sgi_is_enabled() {
    let gic = v3_ready();
    redist(&gic, SGI_BASE + 0x100, 1 << 2);
    let mut out = Deliveries::new();
    gic.send_sgi(1, 0b11, 2, &mut out);
    assert_eq!(out.to_vec(), [d(0, 2)]);
    assert_eq!(
        redist(&gic, GICR_FRAME_SIZE + SGI_BASE + 0x100, 1 << 2),
        [d(1, 2)]
    );
}

#[test]
fn a_pending_ppi_is_delivered_to_its_vcpu_when_enabled() {
    let gic = v3_ready();
    assert_eq!(
        redist(&gic, GICR_FRAME_SIZE + SGI_BASE + 0x200, 1 << 23),
        []
    );
    assert_eq!(
        redist(&gic, GICR_FRAME_SIZE + SGI_BASE + 0x100, 1 << 23),
        [d(1, 23)]
    );
}

#[test]
fn sgis_outside_their_range_are_ignored() {
    let gic = v3_ready();
    let mut out = Deliveries::new();
    redist(&gic, SGI_BASE + 0x100, u64::from(u32::MAX));
    gic.send_sgi(0, 1, 16, &mut out);
    assert!(out.is_empty());
}

#[test]
fn v2_spis_go_to_their_target() {
    let gic = v2_ready();
    dist(&gic, 0, 0x104, 1 << 1);
    assert_eq!(level(&gic, UART_SPI, true), [d(1, UART_SPI)]);
}

#[test]
fn v2_sgir_sends_to_the_target_list_and_filters() {
    let gic = v2_ready();
    dist(&gic, 0, 0x100, 0xFFFF);
    dist(&gic, 1, 0x100, 0xFFFF);
    assert_eq!(dist(&gic, 0, 0xF00, 0b10 << 16 | 1), [d(1, 1)]);
    // From CPU 1: the source is in bits 12:10.
    assert_eq!(dist(&gic, 1, 0xF00, 1 << 24 | 2), [d(0, 2 | 1 << 10)]);
    assert_eq!(dist(&gic, 1, 0xF00, 2 << 24 | 3), [d(1, 3 | 1 << 10)]);
}

#[test]
fn a_v2_sgi_to_a_disabled_target_waits_in_spendsgir() {
    let gic = v2_ready();
    dist(&gic, 1, 0xF00, 0b01 << 16 | 6);
    assert_eq!(
        gic.distributor_read(0, 0xF24, 4),
        0x0002_0000,
        "SGI 6 from CPU 1"
    );
    assert_eq!(gic.distributor_read(0, 0x200, 4), 1 << 6);
    assert_eq!(dist(&gic, 0, 0x100, 1 << 6), [d(0, 6 | 1 << 10)]);
    assert_eq!(gic.distributor_read(0, 0xF24, 4), 0);
}

#[test]
fn v2_group_1_interrupts_are_delivered_with_enable_alone() {
    let gic = v2_ready();
    dist(&gic, 0, 0x84, u64::from(u32::MAX));
    dist(&gic, 0, 0x104, 1 << 1);
    assert_eq!(level(&gic, UART_SPI, true), [d(1, UART_SPI)]);
}

#[test]
fn byte_and_doubleword_accesses_reach_the_registers() {
    let gic = v3_ready();
    let mut out = Deliveries::new();
    gic.distributor_write(0, 0x421, 1, 0x80, &mut out);
    assert_eq!(gic.distributor_read(0, 0x420, 4), 0x8000);
    assert_eq!(gic.distributor_read(0, 0x421, 1), 0x80);
    gic.distributor_write(0, 0x6110, 8, 0x8000_0001, &mut out);
    assert_eq!(gic.distributor_read(0, 0x6110, 8), 0x8000_0001);
    assert_eq!(gic.redistributor_read(0, GICR_FRAME_SIZE + 8, 8) >> 32, 1);
}

#[test]
fn the_reset_state_delivers_nothing() {
    for version in [GicVersion::V2, GicVersion::V3] {
        let gic = Gic::new(version, 2);
        assert_eq!(level(&gic, UART_SPI, true), []);
        let mut out = Deliveries::new();
        gic.send_sgi(0, 0b11, 1, &mut out);
        assert!(out.is_empty(), "{version:?}");
    }
}

#[test]
fn vcpu_threads_share_one_gic_and_every_sgi_arrives_once() {
    let gic = v3_ready();
    redist(&gic, SGI_BASE + 0x100, 0xFFFF);
    redist(&gic, GICR_FRAME_SIZE + SGI_BASE + 0x100, 0xFFFF);
    let per_thread = 2000;
    let delivered: Vec<Vec<Delivery>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let gic = &gic;
                scope.spawn(move || {
                    let mut seen = Vec::new();
                    for i in 0..per_thread {
                        let mut out = Deliveries::new();
                        gic.send_sgi(thread % 2, 1 << (i % 2), (thread + i) as u32 % 16, &mut out);
                        seen.extend(out);
                    }
                    seen
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for (thread, seen) in delivered.iter().enumerate() {
        assert_eq!(seen.len(), per_thread, "thread {thread}");
        for (i, delivery) in seen.iter().enumerate() {
            assert_eq!(*delivery, d(i % 2, (thread + i) as u32 % 16));
        }
    }
}

#[test]
fn private_status_words_are_the_accessing_vcpus_own() {
    use zxv_devices::PrivateStatus::{Active, Pending};
    let v3 = v3_ready();
    let frame1 = GICR_FRAME_SIZE + SGI_BASE;
    assert_eq!(v3.private_status(true, 1, frame1 + 0x200, 4), Some(Pending));
    assert_eq!(v3.private_status(true, 1, frame1 + 0x280, 4), Some(Pending));
    assert_eq!(v3.private_status(true, 1, frame1 + 0x300, 4), Some(Active));
    assert_eq!(v3.private_status(true, 1, frame1 + 0x380, 4), Some(Active));
    // Another vCPU's frame, another register, a byte, the GICv3 distributor.
    assert_eq!(v3.private_status(true, 0, frame1 + 0x200, 4), None);
    assert_eq!(v3.private_status(true, 1, frame1 + 0x100, 4), None);
    assert_eq!(v3.private_status(true, 1, frame1 + 0x203, 1), None);
    assert_eq!(v3.private_status(false, 0, 0x200, 4), None);
    let v2 = v2_ready();
    assert_eq!(v2.private_status(false, 1, 0x200, 4), Some(Pending));
    assert_eq!(v2.private_status(false, 0, 0x300, 4), Some(Active));
    assert_eq!(v2.private_status(false, 0, 0x204, 4), None);
    assert_eq!(v2.private_status(true, 0, 0x200, 4), None);
}

#[test]
fn private_enables_follow_the_vcpus_bank() {
    let v2 = v2_ready();
    dist(&v2, 1, 0x100, 1 << 27);
    assert_eq!(v2.private_enabled(1) & 1 << 27, 1 << 27);
    assert_eq!(v2.private_enabled(0) & 1 << 27, 0);
    dist(&v2, 1, 0x180, 1 << 27);
    assert_eq!(v2.private_enabled(1) & 1 << 27, 0);
}

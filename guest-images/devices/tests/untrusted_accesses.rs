//! Guest accesses are untrusted: every offset of every region (and beyond), with every size,
//! reading and writing all-ones and zeros, must neither panic nor wedge the models.

use zxv_devices::{Deliveries, Gic, GicVersion, Pl011, GICD_SIZE, GICR_FRAME_SIZE, MAX_VCPUS};

const SIZES: [u8; 7] = [0, 1, 2, 3, 4, 8, 16];
const VALUES: [u64; 3] = [u64::MAX, 0, 0x5555_5555_5555_5555];

/// Offsets to try in a region of `size` bytes: all of them, and a few far past the end.
fn offsets(size: u64) -> impl Iterator<Item = u64> {
    (0..size + 16).chain([size * 2, u64::MAX - 7, u64::MAX])
}

/// Every access of `region` bytes (and past them) through `read` and `write`.
fn hammer_region(
    region: u64,
    mut read: impl FnMut(u64, u8) -> u64,
    mut write: impl FnMut(u64, u8, u64, &mut Deliveries),
) {
    let mut out = Deliveries::new();
    for offset in offsets(region) {
        for size in SIZES {
            read(offset, size);
            for value in VALUES {
                write(offset, size, value, &mut out);
                out.clear();
            }
        }
    }
}

fn hammer(gic: &Gic, vcpu: usize) {
    hammer_region(
        GICD_SIZE,
        |offset, size| gic.distributor_read(vcpu, offset, size),
        |offset, size, value, out| gic.distributor_write(vcpu, offset, size, value, out),
    );
    hammer_region(
        // Both models here serve 2 vCPUs: GICv3's region, and more than GICv2's none.
        2 * GICR_FRAME_SIZE,
        |offset, size| gic.redistributor_read(vcpu, offset, size),
        |offset, size, value, out| gic.redistributor_write(vcpu, offset, size, value, out),
    );
    let mut out = Deliveries::new();
    for intid in [0, 15, 16, 31, 32, 255, 256, u32::MAX] {
        gic.set_level(intid, true, &mut out);
        gic.set_level(intid, false, &mut out);
        gic.send_sgi(vcpu, u64::MAX, intid, &mut out);
        out.clear();
    }
}

#[test]
fn the_gicv3_model_survives_every_offset_and_size() {
    let gic = Gic::new(GicVersion::V3, 2);
    hammer(&gic, 0);
    hammer(&gic, MAX_VCPUS + 3);
    assert_eq!(
        gic.distributor_read(0, 0xFFE8, 4) >> 4 & 0xF,
        3,
        "still a GICv3"
    );
}

#[test]
fn the_gicv2_model_survives_every_offset_and_size() {
    let gic = Gic::new(GicVersion::V2, 2);
    hammer(&gic, 1);
    hammer(&gic, usize::MAX);
    assert_eq!(
        gic.distributor_read(0, 0x800, 4),
        0x0101_0101,
        "still answers"
    );
}

#[test]
fn the_pl011_model_survives_every_offset_and_size() {
    let mut uart = Pl011::new();
    for offset in offsets(Pl011::SIZE) {
        for size in SIZES {
            uart.read(offset, size);
            for value in VALUES {
                uart.write(offset, size, value);
                uart.receive(value as u8);
            }
        }
    }
    assert_eq!(uart.read(0xFE0, 4).0, 0x11, "still a PL011");
}

#[test]
fn a_gic_takes_one_to_eight_vcpus() {
    for vcpus in 1..=MAX_VCPUS {
        assert_eq!(
            GicVersion::V3.redistributor_region_size(vcpus),
            vcpus as u64 * GICR_FRAME_SIZE
        );
    }
}

#[test]
#[should_panic]
fn a_gic_without_vcpus_is_refused() {
    Gic::new(GicVersion::V2, 0);
}

#[test]
#[should_panic]
fn a_gic_with_more_vcpus_than_it_can_serve_is_refused() {
    Gic::new(GicVersion::V3, MAX_VCPUS + 1);
}

//! A minimal FDT writer for the tests of this workspace: nodes, properties,
//! memory reservations and raw tokens (for malformed blobs), written as a
//! version 17 blob.

use crate::{FDT_BEGIN_NODE, FDT_END, FDT_END_NODE, FDT_MAGIC, FDT_PROP};

const HEADER_SIZE: usize = 40;
const RSV_ENTRY_SIZE: usize = 16;

/// Big-endian bytes of `values`.
pub fn cells(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// Builds a devicetree blob token by token.
#[derive(Default)]
pub struct Builder {
    structs: Vec<u8>,
    strings: Vec<u8>,
    /// `/memreserve/` entries (address, size).
    pub reservations: Vec<(u64, u64)>,
    pub boot_cpuid_phys: u32,
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a raw structure-block word.
    pub fn token(&mut self, t: u32) -> &mut Self {
        self.structs.extend_from_slice(&t.to_be_bytes());
        self
    }

    fn pad(&mut self) {
        while !self.structs.len().is_multiple_of(4) {
            self.structs.push(0);
        }
    }

    pub fn begin(&mut self, name: &str) -> &mut Self {
        self.token(FDT_BEGIN_NODE);
        self.structs.extend_from_slice(name.as_bytes());
        self.structs.push(0);
        self.pad();
        self
    }

    pub fn end(&mut self) -> &mut Self {
        self.token(FDT_END_NODE)
    }

    pub fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let mut needle = name.as_bytes().to_vec();
        needle.push(0);
        let nameoff = match self.strings.windows(needle.len()).position(|w| w == needle) {
            Some(off) => off,
            None => {
                self.strings.extend_from_slice(&needle);
                self.strings.len() - needle.len()
            }
        };
        self.token(FDT_PROP)
            .token(value.len() as u32)
            .token(nameoff as u32);
        self.structs.extend_from_slice(value);
        self.pad();
        self
    }

    pub fn cells(&mut self, name: &str, values: &[u32]) -> &mut Self {
        self.prop(name, &cells(values))
    }

    /// The Raspberry Pi 4's root cells (2 address, 1 size), `/aliases`
    /// (serial0 the PL011, serial1 the mini UART) and `/chosen` with the
    /// mini UART as stdout, inside an open root node.
    pub fn bcm2711_root(&mut self) -> &mut Self {
        self.cells("#address-cells", &[2])
            .cells("#size-cells", &[1])
            .begin("aliases")
            .prop("serial0", b"/soc/serial@7e201000\0")
            .prop("serial1", b"/soc/serial@7e215040\0")
            .end()
            .begin("chosen")
            .prop("stdout-path", b"serial1:115200n8\0")
            .end()
    }

    /// A BCM2711 (Raspberry Pi 4) `/soc` with the nodes zxvisor reads, as
    /// the Pi's devicetree has them: bus addresses 0x7e000000 and
    /// 0x40000000 seen by the CPU at 0xfe000000 and 0xff800000, the PM
    /// watchdog, the GPIO block, the PL011 (clocked by the firmware's clock
    /// provider, phandle 0x11) and a disabled second one, the mini UART, the
    /// GIC-400 with its four frames, and the firmware node: a child bus
    /// without `ranges`.
    pub fn bcm2711_soc(&mut self) -> &mut Self {
        self.begin("soc")
            .cells("#address-cells", &[1])
            .cells("#size-cells", &[1])
            .cells(
                "ranges",
                &[
                    0x7e00_0000,
                    0,
                    0xfe00_0000,
                    0x180_0000,
                    0x4000_0000,
                    0,
                    0xff80_0000,
                    0x80_0000,
                ],
            )
            .begin("watchdog@7e100000")
            .prop("compatible", b"brcm,bcm2711-pm\0brcm,bcm2835-pm-wdt\0")
            .cells("reg", &[0x7e10_0000, 0x114, 0x7e00_a000, 0x24])
            .end()
            .begin("gpio@7e200000")
            .prop("compatible", b"brcm,bcm2711-gpio\0")
            .cells("reg", &[0x7e20_0000, 0xb4])
            .end()
            .begin("serial@7e201000")
            .prop("compatible", b"arm,pl011\0arm,primecell\0")
            .prop("status", b"okay\0")
            .cells("clocks", &[0x11, 0x13, 0x11, 0x14])
            .cells("reg", &[0x7e20_1000, 0x200])
            .end()
            .begin("serial@7e201400")
            .prop("compatible", b"arm,pl011\0arm,primecell\0")
            .prop("status", b"disabled\0")
            .cells("reg", &[0x7e20_1400, 0x200])
            .end()
            .begin("serial@7e215040")
            .prop("compatible", b"brcm,bcm2835-aux-uart\0")
            .cells("reg", &[0x7e21_5040, 0x40])
            .end()
            .begin("interrupt-controller@40041000")
            .prop("compatible", b"arm,gic-400\0")
            .cells(
                "reg",
                &[
                    0x4004_1000,
                    0x1000,
                    0x4004_2000,
                    0x2000,
                    0x4004_4000,
                    0x2000,
                    0x4004_6000,
                    0x2000,
                ],
            )
            .end()
            .begin("firmware")
            .cells("#address-cells", &[1])
            .cells("#size-cells", &[1])
            .begin("child@10")
            .cells("reg", &[0x10, 4])
            .end()
            .begin("clocks")
            .prop("compatible", b"raspberrypi,firmware-clocks\0")
            .cells("phandle", &[0x11])
            .end()
            .end()
            .end()
    }

    pub fn build(&self) -> Vec<u8> {
        let mut structs = self.structs.clone();
        structs.extend_from_slice(&FDT_END.to_be_bytes());
        let off_struct = HEADER_SIZE + RSV_ENTRY_SIZE * (self.reservations.len() + 1);
        let off_strings = off_struct + structs.len();
        let total = off_strings + self.strings.len();
        let mut blob = cells(&[
            FDT_MAGIC,
            total as u32,
            off_struct as u32,
            off_strings as u32,
            HEADER_SIZE as u32,
            17,
            16,
            self.boot_cpuid_phys,
            self.strings.len() as u32,
            structs.len() as u32,
        ]);
        for &(a, s) in self.reservations.iter().chain(&[(0, 0)]) {
            blob.extend_from_slice(&a.to_be_bytes());
            blob.extend_from_slice(&s.to_be_bytes());
        }
        blob.extend_from_slice(&structs);
        blob.extend_from_slice(&self.strings);
        blob
    }
}

//! The BCM2835/BCM2711 power-management watchdog, the Raspberry Pi's only
//! way to reset or power off (it has no PSCI). A reset arms the watchdog
//! with a 10-tick (about 150 µs) timeout and selects a full reset; power
//! off first marks the reset as a "halt" (boot partition 63 in RSTS), which
//! the Pi's boot firmware obeys by staying off. Every write carries the PM
//! password. Pure register logic: host-tested on a fake register block.

use tock_registers::fields::FieldValue;
use tock_registers::interfaces::{ReadWriteable, Writeable};
use tock_registers::registers::ReadWrite;
use tock_registers::{register_bitfields, register_structs};

register_bitfields![u32,
    RSTC [
        /// Watchdog reset configuration: what happens at timeout.
        WRCFG OFFSET(4) NUMBITS(2) [FullReset = 2],
        PASSWORD OFFSET(24) NUMBITS(8) [Pm = 0x5a]
    ],
    RSTS [
        PASSWORD OFFSET(24) NUMBITS(8) [Pm = 0x5a]
    ],
    WDOG [
        TIME OFFSET(0) NUMBITS(20) [],
        PASSWORD OFFSET(24) NUMBITS(8) [Pm = 0x5a]
    ]
];

register_structs! {
    pub PmRegs {
        (0x00 => _reserved),
        (0x1c => rstc: ReadWrite<u32, RSTC::Register>),
        (0x20 => rsts: ReadWrite<u32, RSTS::Register>),
        (0x24 => wdog: ReadWrite<u32, WDOG::Register>),
        (0x28 => @END),
    }
}

/// Watchdog ticks before the reset (one tick is about 15 µs).
const RESET_TICKS: u32 = 10;
/// RSTS boot-partition bits: partition number bit i sits at bit 2i.
const PARTITION_BITS: u32 = 0x555;
/// The partition the Pi firmware treats as "halt, do not boot".
const HALT_PARTITION: u32 = 63;

/// RSTS encoding of boot partition `p` (0..=63).
pub fn partition_bits(p: u32) -> u32 {
    (0..6)
        .filter(|i| p & (1 << i) != 0)
        .fold(0, |acc, i| acc | 1 << (2 * i))
}

pub struct Watchdog<'a> {
    regs: &'a PmRegs,
}

impl<'a> Watchdog<'a> {
    pub fn new(regs: &'a PmRegs) -> Self {
        Self { regs }
    }

    /// Starts a full reset of the SoC, due in about 150 µs.
    pub fn reset(&self) {
        self.regs
            .wdog
            .write(WDOG::PASSWORD::Pm + WDOG::TIME.val(RESET_TICKS));
        self.regs
            .rstc
            .modify(RSTC::PASSWORD::Pm + RSTC::WRCFG::FullReset);
    }

    /// Resets into the firmware's halt partition: the board stays off.
    pub fn power_off(&self) {
        let halt = FieldValue::<u32, RSTS::Register>::new(
            PARTITION_BITS,
            0,
            partition_bits(HALT_PARTITION),
        );
        self.regs.rsts.modify(RSTS::PASSWORD::Pm + halt);
        self.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake register block: words 0x00..0x28.
    struct Fake([u32; 10]);

    impl Fake {
        fn regs(&self) -> &PmRegs {
            // SAFETY: PmRegs is 0x28 bytes of u32 registers, as is the array,
            // and the array lives as long as the borrow.
            unsafe { &*(self.0.as_ptr() as *const PmRegs) }
        }
    }

    #[test]
    fn partition_63_is_every_even_bit() {
        assert_eq!(partition_bits(63), 0x555);
        assert_eq!(partition_bits(0), 0);
        assert_eq!(partition_bits(5), 0b1_0001);
    }

    #[test]
    fn reset_arms_a_short_full_reset_with_the_password() {
        let mut fake = Fake([0; 10]);
        fake.0[0x1c / 4] = 0x0100_0133;
        Watchdog::new(fake.regs()).reset();
        assert_eq!(fake.0[0x24 / 4], 0x5a00_000a);
        // WRCFG (bits 4-5) replaced by full reset, other bits kept.
        assert_eq!(fake.0[0x1c / 4], 0x5a00_0123);
        assert_eq!(fake.0[0x20 / 4], 0);
    }

    #[test]
    fn power_off_selects_the_halt_partition_then_resets() {
        let mut fake = Fake([0; 10]);
        fake.0[0x20 / 4] = 0x0000_1aaa;
        Watchdog::new(fake.regs()).power_off();
        assert_eq!(fake.0[0x20 / 4], 0x5a00_1fff);
        assert_eq!(fake.0[0x24 / 4], 0x5a00_000a);
        assert_eq!(fake.0[0x1c / 4], 0x5a00_0020);
    }
}

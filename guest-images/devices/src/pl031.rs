//! A PL031 real-time clock as Linux's rtc-pl031 uses it: the data register counts seconds
//! from a base the VMM sets at boot (the build machine's time, read from the machine's own
//! RTC) and the time since, and a load-register write sets the clock. The match register is
//! stored but raises no interrupt (Linux uses it only for wake alarms).

use crate::mmio;

const DR: u64 = 0x000;
const MR: u64 = 0x004;
const LR: u64 = 0x008;
const CR: u64 = 0x00C;
const IMSC: u64 = 0x010;
const RIS: u64 = 0x014;
const MIS: u64 = 0x018;
/// PeriphID0-3 and PCellID0-3, which the AMBA bus probe reads.
const IDS: [(u64, u32); 8] = [
    (0xFE0, 0x31),
    (0xFE4, 0x10),
    (0xFE8, 0x04),
    (0xFEC, 0x00),
    (0xFF0, 0x0D),
    (0xFF4, 0xF0),
    (0xFF8, 0x05),
    (0xFFC, 0xB1),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pl031 {
    /// The clock's reading when `now` was 0.
    base: u32,
    mr: u32,
    imsc: u32,
}

impl Pl031 {
    /// The size of the RTC's register region.
    pub const SIZE: u64 = 0x1000;

    /// A clock that reads `seconds` (since 1970, UTC) when `now` is 0.
    pub fn new(seconds: u32) -> Self {
        Pl031 {
            base: seconds,
            mr: 0,
            imsc: 0,
        }
    }

    /// A guest load; `now` is the seconds since the clock was made.
    pub fn read(&self, offset: u64, size: u8, now: u64) -> u64 {
        mmio::read(offset, size, |word| match word {
            DR => self.base.wrapping_add(now as u32),
            MR => self.mr,
            CR => 1,
            IMSC => self.imsc,
            RIS | MIS | LR => 0,
            _ => IDS.iter().find(|(o, _)| *o == word).map_or(0, |(_, v)| *v),
        })
    }

    /// A guest store; `now` as for [`Pl031::read`].
    pub fn write(&mut self, offset: u64, size: u8, value: u64, now: u64) {
        mmio::write(offset, size, value, |word, bits, lanes| {
            let merge = |old: u32| (old & !lanes) | bits;
            match word {
                LR => {
                    self.base = merge(self.base.wrapping_add(now as u32)).wrapping_sub(now as u32)
                }
                MR => self.mr = merge(self.mr),
                IMSC => self.imsc = merge(self.imsc) & 1,
                _ => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_counts_from_its_base() {
        let rtc = Pl031::new(1_700_000_000);
        assert_eq!(rtc.read(DR, 4, 0), 1_700_000_000);
        assert_eq!(rtc.read(DR, 4, 61), 1_700_000_061);
        assert_eq!(rtc.read(CR, 4, 0), 1);
    }

    #[test]
    fn a_load_sets_the_clock() {
        let mut rtc = Pl031::new(1000);
        rtc.write(LR, 4, 5000, 10);
        assert_eq!(rtc.read(DR, 4, 10), 5000);
        assert_eq!(rtc.read(DR, 4, 15), 5005);
    }

    #[test]
    fn the_amba_ids_say_pl031() {
        let rtc = Pl031::new(0);
        let id = |base: u64| {
            (0..4).fold(0u32, |v, i| {
                v | (rtc.read(base + 4 * i, 4, 0) as u32) << (8 * i)
            })
        };
        assert_eq!(id(0xFE0) & 0x000F_FFFF, 0x0004_1031);
        assert_eq!(id(0xFF0), 0xB105_F00D);
    }

    #[test]
    fn stray_accesses_do_nothing() {
        let mut rtc = Pl031::new(7);
        rtc.write(DR, 4, 99, 0);
        rtc.write(0x800, 4, 1, 0);
        rtc.write(LR, 3, 1, 0);
        assert_eq!(rtc.read(DR, 4, 0), 7);
        assert_eq!(rtc.read(0x800, 4, 0), 0);
    }
}

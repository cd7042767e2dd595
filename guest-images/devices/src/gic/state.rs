//! The whole state of the emulated GIC and the delivery rule: an interrupt that is latched
//! pending, enabled, in an enabled group and routed to a vCPU that can take it is delivered
//! (appended to the caller's deliveries) and its latch cleared. Every operation ends with one
//! scan, so no deliverable interrupt is ever left latched.

use super::bank::Bank;
use super::routing;
use super::GicVersion;
use crate::{Deliveries, Delivery, MAX_VCPUS, NUM_INTIDS};

/// The SPIs (INTIDs 32..NUM_INTIDS).
pub const NUM_SPIS: usize = NUM_INTIDS as usize - 32;

/// GICD_CTLR group enables: EnableGrp0 (GICv2: Enable) and EnableGrp1.
pub const CTLR_ENABLE_GRP0: u32 = 1 << 0;
pub const CTLR_ENABLE_GRP1: u32 = 1 << 1;

#[derive(Clone, Debug)]
pub struct State {
    pub version: GicVersion,
    pub num_vcpus: usize,
    /// GICD_CTLR's group enable bits.
    pub ctlr: u32,
    /// Bank `v < MAX_VCPUS`: vCPU v's SGIs and PPIs (banked GICD registers on GICv2, its
    /// redistributor on GICv3); bank `MAX_VCPUS + n`: SPIs `32 * (n + 1)..`.
    pub banks: [Bank; BANKS],
    /// GICv2 GICD_ITARGETSR of each SPI.
    pub targets: [u8; NUM_SPIS],
    /// GICv3 GICD_IROUTER of each SPI.
    pub routers: [u64; NUM_SPIS],
    /// GICv2: for each vCPU and SGI, the CPUs whose latched request is pending (SPENDSGIR).
    pub sgi_sources: [[u8; 16]; MAX_VCPUS],
}

/// All banks: the vCPUs' private ones, then the SPIs'.
const BANKS: usize = MAX_VCPUS + NUM_SPIS / 32;

impl State {
    pub fn new(version: GicVersion, num_vcpus: usize) -> Self {
        let mut banks = [Bank::shared(); BANKS];
        banks[..MAX_VCPUS].fill(Bank::private());
        Self {
            version,
            num_vcpus,
            ctlr: 0,
            banks,
            targets: [0; NUM_SPIS],
            routers: [0; NUM_SPIS],
            sgi_sources: [[0; 16]; MAX_VCPUS],
        }
    }

    /// The index of the bank holding `intid` as `vcpu` sees it (its own SGIs and PPIs), or
    /// `None` if `vcpu` or `intid` does not exist.
    pub fn bank_index(&self, vcpu: usize, intid: u32) -> Option<usize> {
        match intid {
            0..=31 => (vcpu < self.num_vcpus).then_some(vcpu),
            _ => (intid < NUM_INTIDS).then(|| MAX_VCPUS + intid as usize / 32 - 1),
        }
    }

    /// Latches SGI `intid` pending on every vCPU in `targets` (bit n = vCPU n), sent by
    /// `from`.
    pub fn send_sgi(&mut self, from: usize, targets: u64, intid: u32) {
        if intid >= 16 {
            return;
        }
        for vcpu in (0..self.num_vcpus).filter(|&v| targets >> v & 1 != 0) {
            self.banks[vcpu].pending |= 1 << intid;
            self.sgi_sources[vcpu][intid as usize] |= 1u8.checked_shl(from as u32).unwrap_or(0);
        }
    }

    /// The interrupts of `bank` whose group is enabled in GICD_CTLR.
    fn group_enabled(&self, bank: &Bank) -> u32 {
        let grp1 = if self.ctlr & CTLR_ENABLE_GRP1 != 0 {
            bank.group
        } else {
            0
        };
        let grp0 = if self.ctlr & CTLR_ENABLE_GRP0 != 0 {
            !bank.group
        } else {
            0
        };
        match self.version {
            GicVersion::V2 if self.ctlr & CTLR_ENABLE_GRP0 != 0 => u32::MAX,
            GicVersion::V2 => 0,
            GicVersion::V3 => grp0 | grp1,
        }
    }

    /// The vCPU interrupt `bit` of bank `index` goes to now, if any.
    fn target(&self, index: usize, bit: u32) -> Option<usize> {
        if index < MAX_VCPUS {
            Some(index).filter(|&v| v < self.num_vcpus)
        } else {
            let spi = (index - MAX_VCPUS) * 32 + bit as usize;
            match self.version {
                GicVersion::V2 => routing::by_targets(self.targets[spi], self.num_vcpus),
                GicVersion::V3 => routing::by_router(self.routers[spi], self.num_vcpus),
            }
        }
    }

    /// Delivers every interrupt that is latched and deliverable, appending to `out` while it
    /// has room (the rest stay latched), and clears their latches.
    pub fn deliver(&mut self, out: &mut Deliveries) {
        for index in 0..BANKS {
            let bank = &self.banks[index];
            let latched = bank.pending & bank.enabled;
            if latched == 0 {
                continue;
            }
            let ready = latched & self.group_enabled(bank);
            for bit in bits(ready) {
                let Some(vcpu) = self.target(index, bit) else {
                    continue;
                };
                let intid = bit
                    + if index < MAX_VCPUS {
                        0
                    } else {
                        (index - MAX_VCPUS + 1) as u32 * 32
                    };
                if intid < 16 && self.version == GicVersion::V2 {
                    // One delivery per sending vCPU, which the guest reads
                    // from GICC_IAR's CPUID field (docs/abi.md §2).
                    let sources = self.sgi_sources[vcpu][bit as usize];
                    if out.remaining_capacity() < sources.count_ones().max(1) as usize {
                        return;
                    }
                    for source in bits(u32::from(sources)) {
                        out.push(Delivery {
                            vcpu,
                            intid: intid | source << 10,
                        });
                    }
                    if sources == 0 {
                        out.push(Delivery { vcpu, intid });
                    }
                } else if out.try_push(Delivery { vcpu, intid }).is_err() {
                    return;
                }
                self.banks[index].pending &= !(1 << bit);
                if intid < 16 {
                    self.sgi_sources[vcpu][bit as usize] = 0;
                }
            }
        }
    }
}

/// The positions of the ones in `word`, lowest first.
fn bits(mut word: u32) -> impl Iterator<Item = u32> {
    core::iter::from_fn(move || {
        let bit = word.trailing_zeros();
        word &= word.wrapping_sub(1);
        (bit < 32).then_some(bit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first SPI bank.
    const SPI: usize = MAX_VCPUS;

    fn v3(num_vcpus: usize) -> State {
        let mut state = State::new(GicVersion::V3, num_vcpus);
        state.ctlr = CTLR_ENABLE_GRP0 | CTLR_ENABLE_GRP1;
        state
    }

    fn delivered(state: &mut State) -> Vec<(usize, u32)> {
        let mut out = Deliveries::new();
        state.deliver(&mut out);
        out.iter().map(|d| (d.vcpu, d.intid)).collect()
    }

    #[test]
    fn a_pending_enabled_spi_is_delivered_once() {
        let mut state = v3(2);
        state.routers[1] = 1;
        state.banks[SPI].enabled = 1 << 1;
        state.banks[SPI].pending = 1 << 1;
        assert_eq!(delivered(&mut state), [(1, 33)]);
        assert_eq!(delivered(&mut state), []);
        assert_eq!(state.banks[SPI].pending, 0);
    }

    #[test]
    fn a_disabled_interrupt_stays_latched() {
        let mut state = v3(1);
        state.banks[SPI].pending = 1;
        assert_eq!(delivered(&mut state), []);
        assert_eq!(state.banks[SPI].pending, 1);
    }

    #[test]
    fn the_group_of_an_interrupt_must_be_enabled() {
        let mut state = v3(1);
        state.banks[0].enabled = 1 << 20;
        state.banks[0].pending = 1 << 20;
        state.banks[0].group = 1 << 20;
        state.ctlr = CTLR_ENABLE_GRP0;
        assert_eq!(delivered(&mut state), []);
        state.ctlr = CTLR_ENABLE_GRP1;
        assert_eq!(delivered(&mut state), [(0, 20)]);
    }

    #[test]
    fn a_group_0_interrupt_needs_enable_grp0() {
        let mut state = v3(1);
        state.banks[0].enabled = 1;
        state.banks[0].pending = 1;
        state.ctlr = CTLR_ENABLE_GRP1;
        assert_eq!(delivered(&mut state), []);
        state.ctlr = CTLR_ENABLE_GRP0;
        assert_eq!(delivered(&mut state), [(0, 0)]);
    }

    #[test]
    fn gicv2_enable_opens_both_groups() {
        let mut state = State::new(GicVersion::V2, 1);
        state.banks[0].enabled = 0b11;
        state.banks[0].pending = 0b11;
        state.banks[0].group = 0b10;
        assert_eq!(delivered(&mut state), []);
        state.ctlr = CTLR_ENABLE_GRP0;
        assert_eq!(delivered(&mut state), [(0, 0), (0, 1)]);
    }

    #[test]
    fn an_spi_routed_nowhere_stays_latched_until_routed() {
        let mut state = v3(2);
        state.routers[0] = 5;
        state.banks[SPI].enabled = 1;
        state.banks[SPI].pending = 1;
        assert_eq!(delivered(&mut state), []);
        state.routers[0] = 0;
        assert_eq!(delivered(&mut state), [(0, 32)]);
    }

    #[test]
    fn a_full_output_keeps_the_rest_latched() {
        let mut state = v3(1);
        state.banks[SPI + 1].enabled = u32::MAX;
        state.banks[SPI + 1].pending = u32::MAX;
        let mut out = Deliveries::new();
        while !out.is_full() {
            out.push(Delivery { vcpu: 0, intid: 0 });
        }
        out.truncate(out.capacity() - 2);
        state.deliver(&mut out);
        assert_eq!(
            &out[out.len() - 2..],
            [
                Delivery { vcpu: 0, intid: 64 },
                Delivery { vcpu: 0, intid: 65 }
            ]
        );
        assert_eq!(state.banks[SPI + 1].pending, !0b11);
    }

    #[test]
    fn everything_latched_fits_one_output() {
        let mut state = v3(crate::MAX_VCPUS);
        for bank in state.banks.iter_mut() {
            bank.enabled = u32::MAX;
            bank.pending = u32::MAX;
        }
        let mut out = Deliveries::new();
        state.deliver(&mut out);
        assert!(state.banks.iter().all(|b| b.pending == 0));
        assert_eq!(
            out.len(),
            crate::MAX_VCPUS * 32 + (NUM_INTIDS as usize - 32)
        );
    }

    #[test]
    fn every_sgi_from_every_source_fits_one_output_on_gicv2() {
        let mut state = State::new(GicVersion::V2, crate::MAX_VCPUS);
        state.ctlr = CTLR_ENABLE_GRP0 | CTLR_ENABLE_GRP1;
        for bank in state.banks.iter_mut() {
            bank.enabled = u32::MAX;
            bank.pending = u32::MAX;
        }
        for sources in state.sgi_sources.iter_mut() {
            *sources = [0xff; 16];
        }
        let mut out = Deliveries::new();
        state.deliver(&mut out);
        assert!(state.banks[..crate::MAX_VCPUS]
            .iter()
            .all(|b| b.pending == 0));
        let sgis = out.iter().filter(|d| d.intid & 0x3ff < 16).count();
        assert_eq!(sgis, crate::MAX_VCPUS * 16 * crate::MAX_VCPUS);
    }

    #[test]
    fn sgis_remember_their_sources_until_delivered() {
        let mut state = State::new(GicVersion::V2, 4);
        state.send_sgi(2, 0b1001, 5);
        state.send_sgi(1, 0b0001, 5);
        assert_eq!(state.sgi_sources[0][5], 0b110);
        assert_eq!(state.sgi_sources[3][5], 0b100);
        state.ctlr = CTLR_ENABLE_GRP0;
        state.banks[0].enabled = 1 << 5;
        // One delivery per source, with the source in bits 12:10 (GICC_IAR's CPUID).
        assert_eq!(delivered(&mut state), [(0, 5 | 1 << 10), (0, 5 | 2 << 10)]);
        assert_eq!(state.sgi_sources[0][5], 0);
        assert_eq!(state.sgi_sources[3][5], 0b100);
    }

    #[test]
    fn sgis_to_missing_vcpus_or_past_15_are_dropped() {
        let mut state = State::new(GicVersion::V3, 2);
        state.send_sgi(0, u64::MAX, 16);
        state.send_sgi(9, 0b100, 1);
        assert!(state.banks.iter().all(|b| b.pending == 0));
    }

    #[test]
    fn bits_lists_the_ones_lowest_first() {
        assert_eq!(bits(0x8000_0005).collect::<Vec<_>>(), [0, 2, 31]);
        assert_eq!(bits(0).count(), 0);
        assert_eq!(bits(u32::MAX).count(), 32);
    }

    #[test]
    fn banks_are_per_vcpu_below_32_and_shared_above() {
        let state = State::new(GicVersion::V2, 2);
        assert_eq!(state.bank_index(1, 5), Some(1));
        assert_eq!(state.bank_index(2, 5), None);
        assert_eq!(state.bank_index(7, 40), Some(SPI));
        assert_eq!(state.bank_index(0, 63), Some(SPI));
        assert_eq!(state.bank_index(0, 255), Some(SPI + 6));
        assert_eq!(state.bank_index(0, 256), None);
    }
}

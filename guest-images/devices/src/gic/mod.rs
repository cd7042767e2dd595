//! The guest's GIC as the VMM emulates it: the distributor (GICv2 or GICv3) and the GICv3
//! redistributors. All vCPU threads share one [`Gic`]; its state sits behind a spin lock held
//! for one access. Every call that can make an interrupt deliverable appends the deliveries
//! to the caller's [`Deliveries`], for the VMM to inject with `zx_vcpu_interrupt`.

mod bank;
mod distributor;
mod ids;
mod irqregs;
mod redistributor;
mod routing;
mod sgi;
mod state;

use crate::{mmio, Deliveries, GICR_FRAME_SIZE, MAX_VCPUS, NUM_INTIDS};
use spin::Mutex;
use state::State;

/// The GIC architecture the guest sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    V2,
    V3,
}

impl GicVersion {
    /// The size of the redistributor region for `num_vcpus` vCPUs: one [`GICR_FRAME_SIZE`]
    /// frame per vCPU on GICv3, none on GICv2.
    pub fn redistributor_region_size(self, num_vcpus: usize) -> u64 {
        match self {
            GicVersion::V2 => 0,
            GicVersion::V3 => num_vcpus as u64 * GICR_FRAME_SIZE,
        }
    }
}

/// A private status register (see [`Gic::private_status`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrivateStatus {
    Pending,
    Active,
}

/// The emulated distributor and redistributors of one guest.
pub struct Gic {
    state: Mutex<State>,
}

impl Gic {
    /// A GIC in its reset state for `num_vcpus` vCPUs (the distributor disabled, every interrupt disabled).
    ///
    /// # Panics
    /// If `num_vcpus` is 0 or more than [`MAX_VCPUS`].
    pub fn new(version: GicVersion, num_vcpus: usize) -> Self {
        assert!(
            (1..=MAX_VCPUS).contains(&num_vcpus),
            "a GIC serves 1 to {MAX_VCPUS} vCPUs"
        );
        Self {
            state: Mutex::new(State::new(version, num_vcpus)),
        }
    }

    /// Puts the GIC back in its reset state, as [`Gic::new`] made it.
    pub fn reset(&self) {
        let mut state = self.state.lock();
        *state = State::new(state.version, state.num_vcpus);
    }

    /// A load of `size` bytes by `vcpu` at `offset` in the distributor region.
    pub fn distributor_read(&self, vcpu: usize, offset: u64, size: u8) -> u64 {
        let state = self.state.lock();
        mmio::read(offset, size, |word| distributor::read(&state, vcpu, word))
    }

    /// A store of `size` bytes of `value` by `vcpu` at `offset` in the distributor region.
    pub fn distributor_write(
        &self,
        vcpu: usize,
        offset: u64,
        size: u8,
        value: u64,
        out: &mut Deliveries,
    ) {
        self.update(out, |state| {
            mmio::write(offset, size, value, |word, value, lanes| {
                distributor::write(state, vcpu, word, value, lanes)
            })
        });
    }

    /// A load at `offset` in the redistributor region (frame `offset / GICR_FRAME_SIZE` is
    /// vCPU `offset / GICR_FRAME_SIZE`'s); `vcpu`, the accessing one, does not matter.
    pub fn redistributor_read(&self, _vcpu: usize, offset: u64, size: u8) -> u64 {
        let state = self.state.lock();
        mmio::read(offset, size, |word| redistributor::read(&state, word))
    }

    /// A store at `offset` in the redistributor region.
    pub fn redistributor_write(
        &self,
        _vcpu: usize,
        offset: u64,
        size: u8,
        value: u64,
        out: &mut Deliveries,
    ) {
        self.update(out, |state| {
            mmio::write(offset, size, value, |word, value, lanes| {
                redistributor::write(state, word, value, lanes)
            })
        });
    }

    /// The private interrupts (SGIs and PPIs, bit n = INTID n) `vcpu` has enabled.
    pub fn private_enabled(&self, vcpu: usize) -> u32 {
        self.state.lock().banks.get(vcpu).map_or(0, |b| b.enabled)
    }

    /// Which private status register of `vcpu` itself a 32-bit access at `offset` reads:
    /// GICD_IS/ICPENDR0 or IS/ICACTIVER0 on GICv2 (`redistributor` false, banked per CPU),
    /// GICR_IS/ICPENDR0 or IS/ICACTIVER0 of `vcpu`'s own SGI_base frame on GICv3. The VMM adds
    /// to them what the monitor keeps itself (the guest timers' interrupts). `None` for any
    /// other register, another vCPU's frame, or a GICv3 distributor (its bank-0 words are RAZ
    /// with affinity routing).
    pub fn private_status(
        &self,
        redistributor: bool,
        vcpu: usize,
        offset: u64,
        size: u8,
    ) -> Option<PrivateStatus> {
        let version = self.state.lock().version;
        let within = match (version, redistributor) {
            (GicVersion::V2, false) => offset,
            (GicVersion::V3, true) if offset / GICR_FRAME_SIZE == vcpu as u64 => {
                (offset % GICR_FRAME_SIZE).checked_sub(redistributor::SGI_BASE)?
            }
            _ => return None,
        };
        match (within, size) {
            (0x200 | 0x280, 4) => Some(PrivateStatus::Pending),
            (0x300 | 0x380, 4) => Some(PrivateStatus::Active),
            _ => None,
        }
    }

    /// A device's interrupt line, SPI `intid`, is now `high`. A rising edge latches the SPI
    /// pending: delivered at once if enabled and routed, else when it becomes so (unless
    /// ICPENDR withdraws it, or, level-sensitive, its line falls first). As on hardware, a
    /// level-sensitive SPI whose line is high is pending again whenever it is enabled. Other
    /// INTIDs are ignored.
    pub fn set_level(&self, intid: u32, high: bool, out: &mut Deliveries) {
        if !(32..NUM_INTIDS).contains(&intid) {
            return;
        }
        self.update(out, |state| {
            if let Some(bank) = state.bank_index(0, intid) {
                state.banks[bank].set_line(1 << (intid % 32), high);
            }
        });
    }

    /// A guest SGI: `from` sent SGI `intid` (< 16) to the vCPUs in `target_mask` (bit n =
    /// vCPU n), as the monitor reports a GICv3 guest's ICC_SGI1R_EL1 write. Each target gets
    /// it when its SGI is enabled.
    pub fn send_sgi(&self, from: usize, target_mask: u64, intid: u32, out: &mut Deliveries) {
        self.update(out, |state| state.send_sgi(from, target_mask, intid));
    }

    /// Changes the state under the lock with `change`, then delivers what became deliverable.
    fn update(&self, out: &mut Deliveries, change: impl FnOnce(&mut State)) {
        let mut state = self.state.lock();
        change(&mut state);
        state.deliver(out);
    }
}

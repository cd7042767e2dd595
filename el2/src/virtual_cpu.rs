//! vCPU objects: a guest CPU bound to the physical CPU that created it (its
//! "thread", ABI.md §4), its registers, and the run loop of zx_vcpu_enter
//! that handles exits in EL2 until one needs the host.

use crate::exits::{self, Flow};
use crate::guest::Guest;
use crate::percpu;
use crate::world::{self, ExitKind, GuestWorld};
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use syscalls::port::PortPacket;
use syscalls::{Status, ZxResult};
use vcpu::regs::GuestRegs;

/// VMPIDR_EL2 of vCPU `index`: Aff0 = index, bit 31 RES1.
fn vmpidr(index: usize) -> u64 {
    (1 << 31) | index as u64
}

/// A vCPU's state; only its owner CPU touches it.
pub struct VcpuContext {
    pub regs: GuestRegs,
    pub world: GuestWorld,
}

pub struct Vcpu {
    pub koid: u64,
    pub guest: Arc<Guest>,
    index: usize,
    owner: usize,
    state: UnsafeCell<VcpuContext>,
}

// SAFETY: `state` is reached only through `state()`, which requires the
// caller to run on the owner CPU; each CPU handles one service call at a
// time and never re-enters one, so there is never more than one reference.
// Everything else is immutable or atomic.
unsafe impl Sync for Vcpu {}
// SAFETY: as above; a Vcpu may be dropped on any CPU once no call uses it.
unsafe impl Send for Vcpu {}

impl Vcpu {
    /// A vCPU of `guest` entering at `entry`, owned by the calling CPU.
    pub fn create(koid: u64, guest: Arc<Guest>, entry: u64, vtcr: u64) -> ZxResult<Arc<Vcpu>> {
        let index = guest.claim_vcpu_slot().ok_or(Status::NO_RESOURCES)?;
        let world = GuestWorld::new(vmpidr(index), guest.vttbr(), vtcr);
        let state = VcpuContext {
            regs: GuestRegs::new(entry),
            world,
        };
        Ok(Arc::new(Vcpu {
            koid,
            guest,
            index,
            owner: percpu::current(),
            state: UnsafeCell::new(state),
        }))
    }

    /// The state, for the owner CPU; BAD_STATE from any other.
    #[allow(clippy::mut_from_ref)]
    pub fn state(&self) -> ZxResult<&mut VcpuContext> {
        if percpu::current() != self.owner {
            return Err(Status::BAD_STATE);
        }
        // SAFETY: see `unsafe impl Sync`: only the owner CPU gets here, and it
        // holds no other reference to the state during this call.
        Ok(unsafe { &mut *self.state.get() })
    }

    /// Runs the guest until an exit the host must see: Ok with a packet,
    /// or the status zx_vcpu_enter returns.
    /// Exits handled in EL2 re-enter the guest without swapping its EL1
    /// and FP/SIMD context out.
    pub fn run(&self, state: &mut VcpuContext) -> ZxResult<PortPacket> {
        let VcpuContext { regs, world } = state;
        world::with_guest(world, |world, fp| loop {
            let (kind, syndrome) = world::enter(&mut regs.file, world.hcr);
            match kind {
                // A physical interrupt for the host: let it take it and retry.
                ExitKind::Irq | ExitKind::Fiq => return Err(Status::INTERNAL_INTR_RETRY),
                ExitKind::SError => {
                    log::warn!("vcpu {}: SError from the guest (ignored)", self.koid)
                }
                ExitKind::Sync => {
                    match exits::handle(&self.guest, regs, &mut world.hcr, syndrome) {
                        Flow::Continue => {}
                        Flow::LoadFp => fp.switch_to_guest(&world.fp),
                        Flow::Packet(packet) => return Ok(packet),
                        Flow::Stop(status) => return Err(status),
                    }
                }
            }
        })
    }
}

impl Drop for Vcpu {
    fn drop(&mut self) {
        self.guest.release_vcpu_slot(self.index);
    }
}

//! What this VMM runs, shared by every CPU: the board, the machine-wide
//! watchdog, and its guests, each with its configuration, its zx objects as
//! set up, its devices, its vCPUs and where it stands (running, ending,
//! restarting); and the switch between the guests' networks. The vCPUs of all guests are numbered in one row for the run
//! queues: guest g's vCPU i is vCPU `first_vcpu + i`.

use crate::bus::{DeviceSetup, Devices};
use crate::config::{self, Config, MAX_GUESTS};
use crate::setup::Guest;
use crate::stop::Life;
use crate::switch::{Switch, MAX_PORTS};
use crate::vcpus::Vcpus;
use alloc::boxed::Box;
use arrayvec::ArrayVec;
use el1rt::platform::Board;

pub struct Vm {
    pub board: Board,
    /// Give up on guests still running after this many seconds.
    pub timeout_s: Option<u64>,
    pub guests: ArrayVec<&'static GuestVm, MAX_GUESTS>,
    /// The guests' switch, if any is on it, and the guest on each port.
    pub switch: Option<(Switch, ArrayVec<usize, MAX_PORTS>)>,
}

/// One guest and everything it has.
pub struct GuestVm {
    /// Its place on the command line, from 0.
    pub id: usize,
    pub config: Config<'static>,
    pub guest: Guest,
    pub devices: Devices,
    pub vcpus: Vcpus,
    /// The run queues' number of its vCPU 0.
    pub first_vcpu: usize,
    pub life: Life,
}

impl GuestVm {
    /// Guest `id` as it runs, whose vCPU 0 is the run queues' `first_vcpu`:
    /// on the heap for good. A frame of its own, gone once the guest is built.
    #[inline(never)]
    pub fn new(
        id: usize,
        config: Config<'static>,
        guest: Guest,
        devices: DeviceSetup,
        first_vcpu: usize,
    ) -> &'static GuestVm {
        Box::leak(Box::new(GuestVm {
            id,
            config,
            guest,
            devices: Devices::new(devices),
            vcpus: Vcpus::new(),
            first_vcpu,
            life: Life::new(),
        }))
    }
}

impl Vm {
    /// Guest and vCPU index of the run queues' vCPU `vcpu`.
    pub fn vcpu(&self, vcpu: usize) -> (&'static GuestVm, usize) {
        let g = self
            .guests
            .iter()
            .rev()
            .find(|g| g.first_vcpu <= vcpu)
            .expect("a vCPU number below the first guest's");
        (g, vcpu - g.first_vcpu)
    }
}

static VM: spin::Once<Vm> = spin::Once::new();
/// The (single) guest's name from the command line, set before anything
/// can fail.
static NAME: spin::Once<&'static str> = spin::Once::new();

/// Names the guest from the host's command line, before it is parsed.
pub fn set_name(bootargs: &'static str) {
    NAME.call_once(|| config::name_in(bootargs));
}

/// Publishes the guests before any vCPU runs.
pub fn init(vm: Vm) -> &'static Vm {
    VM.call_once(|| vm)
}

/// The machine; only called once [`init`] has run (vCPUs start after it).
pub fn get() -> &'static Vm {
    VM.get().expect("vm::get before vm::init")
}

/// The machine, once [`init`] has run.
pub fn try_get() -> Option<&'static Vm> {
    VM.get()
}

/// Guest `id`.
pub fn guest(id: usize) -> &'static GuestVm {
    get().guests[id]
}

/// The guest's name, for reports that may come before the guests exist
/// (before [`set_name`]: the default name).
pub fn name() -> &'static str {
    NAME.get().copied().unwrap_or(config::DEFAULT_NAME)
}

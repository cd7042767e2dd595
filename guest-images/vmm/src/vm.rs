//! The one guest this VMM runs, shared by every CPU: its configuration,
//! the board, the guest as set up, and its devices.

use crate::bus::Devices;
use crate::config::{self, Config};
use crate::setup::Guest;
use el1rt::platform::Board;

pub struct Vm {
    pub config: Config<'static>,
    /// The machine's `vmm.timeout`.
    pub timeout_s: Option<u64>,
    pub board: Board,
    pub guest: Guest,
    pub devices: Devices,
}

static VM: spin::Once<Vm> = spin::Once::new();
/// The guest's name from the command line, set before anything can fail.
static NAME: spin::Once<&'static str> = spin::Once::new();

/// Names the guest from the host's command line, before it is parsed.
pub fn set_name(bootargs: &'static str) {
    NAME.call_once(|| config::name_in(bootargs));
}

/// Publishes the guest before any vCPU runs.
pub fn init(vm: Vm) -> &'static Vm {
    VM.call_once(|| vm)
}

/// The guest; only called once [`init`] has run (vCPUs start after it).
pub fn get() -> &'static Vm {
    VM.get().expect("vm::get before vm::init")
}

/// The guest, once [`init`] has run.
pub fn try_get() -> Option<&'static Vm> {
    VM.get()
}

/// The guest's name, for reports that may come before it exists (before
/// [`set_name`]: the default name).
pub fn name() -> &'static str {
    NAME.get().copied().unwrap_or(config::DEFAULT_NAME)
}

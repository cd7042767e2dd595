//! Guests, vCPUs, traps and ports (docs/abi.md §4-§5, reference §6): the Zircon
//! hypervisor tests for arm64 and the monitor's own rules. Runs after the
//! other groups; the secondary CPUs it starts are off again at the end.

mod errors;
mod exits;
pub(crate) mod fixture;
mod fp;
mod interrupts;
mod io;
mod kick_race;
mod lifecycle;
mod memory;
mod other_cpu;
mod quota;
mod state;
mod timer_eoi;
mod timing;
mod world;
mod zircon;

use crate::cpus;
use crate::platform::Board;
use crate::suite::Suite;
use syscalls::Handle;

pub fn run(suite: &mut Suite, board: &Board, resource: Handle) {
    zircon::run(suite, resource);
    io::run(suite, resource);
    exits::run(suite, resource);
    fp::run(suite, resource);
    world::run(suite, resource);
    state::run(suite, resource);
    errors::run(suite, board, resource);
    memory::run(suite, board, resource);
    other_cpu::run(suite, board, resource);
    interrupts::run(suite, board, resource);
    timing::run(suite, board, resource);
    timer_eoi::run(suite, board, resource);
    kick_race::run(suite, board, resource);
    cpus::stop_all(board);
    quota::run(suite, resource);
    lifecycle::run(suite, resource);
}

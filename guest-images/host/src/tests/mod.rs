//! The on-target suite, one module per area.

mod abi;
mod boot;
pub(crate) mod cpu;
pub(crate) mod guest;
mod handles;
mod info;
mod psci;

use crate::platform::Board;
use crate::suite::Suite;
use syscalls::Handle;

pub fn run_all(suite: &mut Suite, board: &Board, resource: Handle) {
    boot::run(suite, board);
    abi::run(suite);
    cpu::run(suite);
    handles::run(suite, resource);
    info::run(suite, board, resource);
    psci::run(suite, board);
    guest::run(suite, board, resource);
}

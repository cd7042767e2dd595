//! The calling convention (docs/abi.md §2): unknown IDs, HVC immediates, and the
//! registers a call must preserve.

use crate::ensure;
use crate::suite::{Suite, TestResult};
use syscalls::client::hvc_raw;
use syscalls::ids;

extern "C" {
    fn hvc_clobbers(id: u64, x1: u64, x2: u64) -> u64;
    fn hvc_imm1(id: u64) -> u64;
}

pub fn run(suite: &mut Suite) {
    suite.run("abi_unknown_function_id", unknown_function_id);
    suite.run("abi_hvc_nonzero_immediate", nonzero_immediate);
    suite.run("abi_registers_preserved", registers_preserved);
}

fn unknown_function_id() -> TestResult {
    for id in [0xC600_00EE_u32, 0xC600_0000, 0x8600_0001, 0, 0xFFFF_FFFF] {
        // SAFETY: an unknown ID touches no memory.
        let r = unsafe { hvc_raw(id, [0; 6]) };
        ensure!(
            r.x0 == u64::MAX,
            "function {id:#x}: x0 = {:#x}, want SMCCC NOT_SUPPORTED (-1)",
            r.x0
        );
    }
    Ok(())
}

fn nonzero_immediate() -> TestResult {
    // SAFETY: `hvc #1` is not a service call; the monitor refuses it.
    let x0 = unsafe { hvc_imm1(ids::ZXV_INFO as u64) };
    ensure!(x0 == u64::MAX, "hvc #1 returned {x0:#x}, want -1");
    Ok(())
}

fn registers_preserved() -> TestResult {
    let calls = [
        (ids::ZXV_INFO as u64, 0, 0),
        (ids::HANDLE_CLOSE as u64, 0x1234_5673, 0),
        (ids::OBJECT_GET_INFO as u64, 0, 2),
        (0xC600_00EE, 0, 0),
    ];
    for (id, x1, x2) in calls {
        // SAFETY: the calls take no pointers here (a zero-sized buffer).
        let changed = unsafe { hvc_clobbers(id, x1, x2) };
        ensure!(
            changed == 0,
            "call {id:#x} changed registers (mask {changed:#x} over x3..x30)"
        );
    }
    Ok(())
}

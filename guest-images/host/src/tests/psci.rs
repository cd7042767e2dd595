//! Host PSCI through the monitor (docs/abi.md §2): every function the monitor
//! offers, and bringing every CPU up, having each make a service call, and
//! turning it off and on again.

use crate::cpus::{self, REPORTS};
use crate::ensure;
use crate::platform::Board;
use crate::suite::{Suite, TestResult};
use syscalls::psci::*;

fn call(fid: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    // SAFETY: the suite only starts CPUs at its own secondary entry point,
    // and the other functions are queries.
    unsafe { syscalls::client::psci_call(fid, a1, a2, a3) }
}

pub fn run(suite: &mut Suite, board: &Board) {
    suite.run("psci_version", || {
        let v = call(PSCI_VERSION, 0, 0, 0);
        ensure!(v == VERSION_1_1, "version {v:#x}, want 1.1");
        Ok(())
    });
    suite.run("psci_features", features);
    suite.run("psci_affinity_info", || affinity_info(board));
    suite.run("psci_cpu_on_errors", || cpu_on_errors(board));
    suite.run("psci_cpu_on_every_cpu", || cpu_on_all(board));
    suite.run("psci_cpu_off_and_on_again", || cpu_off_and_on(board));
    suite.run("psci_smc_conduit", smc_conduit);
}

fn features() -> TestResult {
    for fid in [
        PSCI_VERSION,
        PSCI_FEATURES,
        CPU_ON_64,
        CPU_OFF,
        AFFINITY_INFO_64,
        SYSTEM_OFF,
        SYSTEM_RESET,
    ] {
        let r = call(PSCI_FEATURES, fid as u64, 0, 0);
        ensure!(r == SUCCESS, "FEATURES({fid:#x}) = {r}");
    }
    for fid in [CPU_SUSPEND_64, SYSTEM_SUSPEND_64, 0x8400_001F, 0xC600_0001] {
        let r = call(PSCI_FEATURES, fid as u64, 0, 0);
        ensure!(
            r == NOT_SUPPORTED,
            "FEATURES({fid:#x}) = {r}, want NOT_SUPPORTED"
        );
    }
    let r = call(0x8400_001E, 0, 0, 0);
    ensure!(r == NOT_SUPPORTED, "unknown PSCI function returned {r}");
    Ok(())
}

fn affinity_info(board: &Board) -> TestResult {
    let me = board.cpus[0];
    ensure!(
        call(AFFINITY_INFO_64, me, 0, 0) == AFFINITY_ON,
        "boot CPU not ON"
    );
    ensure!(
        call(AFFINITY_INFO_64, 0xff_00ff_fff0, 0, 0) == INVALID_PARAMETERS,
        "unknown MPIDR accepted"
    );
    ensure!(
        call(AFFINITY_INFO_64, me, 1, 0) == INVALID_PARAMETERS,
        "level 1 accepted"
    );
    if let Some(&other) = board.cpus.get(1) {
        let r = call(AFFINITY_INFO_64, other, 0, 0);
        ensure!(
            r == AFFINITY_OFF,
            "CPU {other:#x} before CPU_ON: {r}, want OFF"
        );
    }
    Ok(())
}

fn cpu_on_errors(board: &Board) -> TestResult {
    let entry = cpus::entry_address();
    let r = call(CPU_ON_64, board.cpus[0], entry, 0);
    ensure!(
        r == ALREADY_ON,
        "CPU_ON of the running CPU: {r}, want ALREADY_ON"
    );
    let r = call(CPU_ON_64, 0xff_00ff_fff0, entry, 0);
    ensure!(r == INVALID_PARAMETERS, "CPU_ON of an unknown MPIDR: {r}");
    if let Some(&other) = board.cpus.get(1) {
        let monitor = syscalls::client::zxv_info()
            .map(|i| i.monitor_base)
            .unwrap_or(0);
        let r = call(CPU_ON_64, other, monitor, 1);
        ensure!(
            r == INVALID_ADDRESS,
            "CPU_ON into monitor memory: {r}, want INVALID_ADDRESS"
        );
        ensure!(
            call(AFFINITY_INFO_64, other, 0, 0) == AFFINITY_OFF,
            "CPU left ON after a refused CPU_ON"
        );
    }
    Ok(())
}

fn start(board: &Board, index: usize) -> TestResult {
    let mpidr = board.cpus[index];
    REPORTS[index].reset();
    let r = call(CPU_ON_64, mpidr, cpus::entry_address(), index as u64);
    ensure!(r == SUCCESS, "CPU_ON({mpidr:#x}) = {r}");
    ensure!(
        cpus::wait_for(2000, || REPORTS[index].is_up()),
        "CPU {index} did not come up within 2 s"
    );
    let report = &REPORTS[index];
    let status = report.status.load(core::sync::atomic::Ordering::SeqCst);
    ensure!(status == 0, "CPU {index}'s service call failed: {status}");
    let seen = report.mpidr.load(core::sync::atomic::Ordering::SeqCst);
    ensure!(
        seen == mpidr,
        "CPU {index} reports MPIDR {seen:#x}, want {mpidr:#x}"
    );
    let n = report.num_cpus.load(core::sync::atomic::Ordering::SeqCst);
    ensure!(
        n as usize == board.cpus.len(),
        "CPU {index} saw num_cpus {n}"
    );
    ensure!(
        call(AFFINITY_INFO_64, mpidr, 0, 0) == AFFINITY_ON,
        "CPU {index} not ON after it came up"
    );
    Ok(())
}

fn cpu_on_all(board: &Board) -> TestResult {
    ensure!(
        board.cpus.len() > 1,
        "needs more than one CPU (run with -smp 2 or more)"
    );
    for index in 1..board.cpus.len() {
        start(board, index)?;
        let r = call(
            CPU_ON_64,
            board.cpus[index],
            cpus::entry_address(),
            index as u64,
        );
        ensure!(
            r == ALREADY_ON,
            "second CPU_ON of CPU {index}: {r}, want ALREADY_ON"
        );
    }
    Ok(())
}

fn cpu_off_and_on(board: &Board) -> TestResult {
    for (index, &mpidr) in board.cpus.iter().enumerate().skip(1) {
        REPORTS[index].request_off();
        let off = cpus::wait_for(2000, || call(AFFINITY_INFO_64, mpidr, 0, 0) == AFFINITY_OFF);
        ensure!(off, "CPU {index} not OFF within 2 s of its CPU_OFF");
        start(board, index)?;
        REPORTS[index].request_off();
        ensure!(
            cpus::wait_for(2000, || call(AFFINITY_INFO_64, mpidr, 0, 0) == AFFINITY_OFF),
            "CPU {index} did not turn off again"
        );
    }
    Ok(())
}

/// The host's DTB names `smc` on QEMU virt: SMC must reach the same PSCI.
fn smc_conduit() -> TestResult {
    let v: i64;
    // SAFETY: PSCI_VERSION through SMC is a query.
    unsafe {
        core::arch::asm!("smc #0", inlateout("x0") PSCI_VERSION as u64 => v,
            lateout("x1") _, lateout("x2") _, lateout("x3") _, options(nostack));
    }
    ensure!(v == VERSION_1_1, "PSCI_VERSION via smc = {v:#x}");
    Ok(())
}

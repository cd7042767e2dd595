//! The hand-off (docs/abi.md §1): the DTB the host got, and that monitor memory
//! and the firmware's spin table are neither listed nor reachable.

use crate::platform::Board;
use crate::suite::{Suite, TestResult};
use crate::{ensure, probe};
use arrayvec::ArrayVec;
use syscalls::client;

pub fn run(suite: &mut Suite, board: &Board) {
    suite.run("boot_dtb_received", || dtb_received(board));
    suite.run("boot_dtb_hides_monitor_memory", || dtb_hides_monitor(board));
    suite.run("boot_dtb_has_no_initrd", || dtb_has_no_initrd(board));
    suite.run("boot_monitor_memory_read_faults", monitor_read_faults);
    suite.run("boot_monitor_memory_write_faults", monitor_write_faults);
    suite.run("boot_host_ram_is_usable", || host_ram_usable(board));
    let releases = spin_table_releases(board);
    if releases.is_empty() {
        suite.skip(
            "boot_spin_table_kept_from_host",
            "no CPU of this machine starts through a spin table",
        );
    } else {
        suite.run("boot_spin_table_kept_from_host", || {
            spin_table_kept(board, &releases)
        });
    }
}

/// The `cpu-release-addr` of every spin-table CPU in the DTB.
fn spin_table_releases(board: &Board) -> ArrayVec<u64, { crate::platform::MAX_CPUS }> {
    let Some(fdt) = board.fdt() else {
        return ArrayVec::new();
    };
    let Some(cpus) = fdt.find_node("/cpus") else {
        return ArrayVec::new();
    };
    cpus.children()
        .filter(|c| c.property("enable-method").and_then(|p| p.as_str()) == Some("spin-table"))
        .filter_map(|c| c.property("cpu-release-addr"))
        .filter_map(|p| Some(u64::from_be_bytes(p.value.try_into().ok()?)))
        .take(crate::platform::MAX_CPUS)
        .collect()
}

/// A host that could write a release address would run its code at EL2 on
/// that CPU: the page is neither listed as RAM nor mapped.
fn spin_table_kept(board: &Board, releases: &[u64]) -> TestResult {
    for &addr in releases {
        ensure!(
            !board.memory.iter().any(|&(b, s)| addr >= b && addr < b + s),
            "the release address {addr:#x} is listed in /memory"
        );
        expect_abort("read", addr, probe::read(addr))?;
        expect_abort("write", addr, probe::write(addr))?;
    }
    Ok(())
}

fn dtb_received(board: &Board) -> TestResult {
    ensure!(board.fdt().is_some(), "x0 does not point at a valid DTB");
    ensure!(!board.memory.is_empty(), "DTB has no /memory");
    ensure!(!board.cpus.is_empty(), "DTB has no CPUs");
    Ok(())
}

fn monitor() -> Result<(u64, u64), crate::suite::Reason> {
    client::zxv_info()
        .map(|i| (i.monitor_base, i.monitor_size))
        .map_err(|s| crate::suite::reason(format_args!("zxv_info failed: {s}")))
}

fn dtb_hides_monitor(board: &Board) -> TestResult {
    let (base, size) = monitor()?;
    ensure!(size != 0, "zxv_info reports an empty monitor");
    for &(b, s) in &board.memory {
        ensure!(
            b + s <= base || b >= base + size,
            "/memory {b:#x}+{s:#x} overlaps the monitor at {base:#x}+{size:#x}"
        );
    }
    Ok(())
}

fn dtb_has_no_initrd(board: &Board) -> TestResult {
    let fdt = board
        .fdt()
        .ok_or_else(|| crate::suite::reason(format_args!("bad DTB")))?;
    let chosen = fdt.find_node("/chosen");
    for prop in ["linux,initrd-start", "linux,initrd-end"] {
        ensure!(
            chosen.and_then(|c| c.property(prop)).is_none(),
            "/chosen still has {prop}"
        );
    }
    Ok(())
}

fn expect_abort(what: &str, addr: u64, fault: Option<probe::Fault>) -> TestResult {
    let Some(f) = fault else {
        return Err(crate::suite::reason(format_args!(
            "{what} at {addr:#x} did not fault"
        )));
    };
    ensure!(
        f.esr >> 26 == 0x25,
        "{what} at {addr:#x}: ESR {:#x} is not a data abort from EL1 (EC 0x25)",
        f.esr
    );
    ensure!(f.far == addr, "{what} at {addr:#x}: FAR {:#x}", f.far);
    Ok(())
}

fn monitor_read_faults() -> TestResult {
    let (base, size) = monitor()?;
    for addr in [base, base + size / 2, base + size - 8] {
        expect_abort("read", addr, probe::read(addr))?;
    }
    Ok(())
}

fn monitor_write_faults() -> TestResult {
    let (base, size) = monitor()?;
    for addr in [base + 0x1000, base + size - 8] {
        expect_abort("write", addr, probe::write(addr))?;
    }
    // The monitor must still be alive and answering.
    monitor().map(|_| ())
}

fn host_ram_usable(board: &Board) -> TestResult {
    let (base, _) = monitor()?;
    // The page right below the monitor's hand-off area is plain host RAM.
    let below = base - (2 << 20) - 4096;
    ensure!(
        board
            .memory
            .iter()
            .any(|&(b, s)| below >= b && below + 8 <= b + s),
        "{below:#x} is not in /memory"
    );
    ensure!(
        probe::read(below).is_none(),
        "read of host RAM at {below:#x} faulted"
    );
    Ok(())
}

//! The host's heap quota (docs/abi.md §3, "Memory"): filling the monitor's
//! heap with ports and packets, BELL traps, MEM traps or mappings gives
//! ZX_ERR_NO_MEMORY, never stops the monitor, leaves no half-done change
//! behind and keeps the monitor's 1 MiB reserve; closing everything gives
//! every byte back.

use super::fixture::*;
use crate::ensure;
use crate::guest_code;
use crate::suite::{expect, Reason, Suite, TestResult};
use arrayvec::ArrayVec;
use spin::Mutex;
use syscalls::client::{
    guest_create, guest_set_trap, handle_close, port_create, port_queue, vcpu_create, vmar_map,
    vmar_unmap, vmo_create_physical,
};
use syscalls::hypervisor::{GUEST_TRAP_BELL, GUEST_TRAP_MEM, VM_PERM_READ, VM_SPECIFIC};
use syscalls::port::PortPacket;
use syscalls::{Handle, Status, ZxResult};

/// The heap the host's objects can never take (docs/abi.md §3).
const MONITOR_RESERVE: u64 = 1 << 20;
/// User packets a port holds (docs/abi.md §3).
const PORT_PACKETS: usize = 2048;
/// Most handles the exhaustion keeps open; far more than the heap allows
/// ports full of packets, and room for the small ones after them.
const MAX_HELD: usize = 8192;
/// 2 MiB: one page per stride needs a last-level table of its own.
const STRIDE: u64 = 2 << 20;

/// Handles the exhaustion holds, closed by [`release`].
static HELD: Mutex<ArrayVec<Handle, MAX_HELD>> = Mutex::new(ArrayVec::new_const());

pub fn run(suite: &mut Suite, resource: Handle) {
    suite.run("quota_ports_full_of_packets_no_memory", || {
        with_baseline(ports_full_of_packets)
    });
    suite.run("quota_calls_under_exhaustion_no_memory", || {
        with_baseline(|| calls_under_exhaustion(resource))
    });
    suite.run("quota_bell_traps_no_memory", || {
        with_baseline(|| bell_traps(resource))
    });
    suite.run("quota_mem_traps_no_memory", || {
        with_baseline(|| mem_traps(resource))
    });
    suite.run("quota_mappings_no_memory", || {
        with_baseline(|| mappings(resource))
    });
}

/// Runs `test`, then closes what it held and checks the monitor's free
/// heap is what it was before.
fn with_baseline(test: impl FnOnce() -> TestResult) -> TestResult {
    let before = monitor_free_heap()?;
    let result = test();
    release();
    let after = monitor_free_heap()?;
    result?;
    ensure!(
        after == before,
        "monitor free heap {after} bytes after closing everything, want {before} as before"
    );
    Ok(())
}

fn hold(h: Handle) -> TestResult {
    HELD.lock()
        .try_push(h)
        .map_err(|_| crate::why!("more than {MAX_HELD} handles without NO_MEMORY"))
}

fn release() {
    for h in HELD.lock().drain(..) {
        let _ = handle_close(h);
    }
}

/// `r`'s value; None for NO_MEMORY; any other status fails `what`.
fn or_no_memory<T>(what: &str, r: ZxResult<T>) -> Result<Option<T>, Reason> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Status::NO_MEMORY) => Ok(None),
        Err(s) => Err(crate::why!(
            "{what}: got {s}, want ZX_OK or ZX_ERR_NO_MEMORY"
        )),
    }
}

/// Checks the monitor kept its reserve: the heap is full to within it.
fn check_reserve_kept(what: &str) -> TestResult {
    let free = monitor_free_heap()?;
    ensure!(
        free >= MONITOR_RESERVE,
        "{what}: {free} bytes of heap left, less than the {MONITOR_RESERVE}-byte reserve"
    );
    Ok(())
}

/// The sequence: port after port, each filled with 2048 packets,
/// until NO_MEMORY. Returns the ports made.
fn fill_ports_with_packets() -> Result<usize, Reason> {
    let packet = PortPacket::new_user(0x5eed, [1, 2, 3, 4]);
    for n in 0..MAX_HELD {
        let Some(port) = or_no_memory("port_create", port_create(0))? else {
            return Ok(n);
        };
        hold(port)?;
        for i in 0..PORT_PACKETS {
            if or_no_memory("port_queue", port_queue(port, &packet))?.is_none() {
                ensure!(
                    i > 0,
                    "port {n}: NO_MEMORY for its first packet (ports are small)"
                );
                return Ok(n + 1);
            }
        }
    }
    Err(crate::why!(
        "no NO_MEMORY after {MAX_HELD} ports of {PORT_PACKETS} packets"
    ))
}

/// Takes what is left above the reserve with empty ports, the smallest
/// object a call makes, until port_create says NO_MEMORY.
fn fill_with_empty_ports() -> TestResult {
    loop {
        match or_no_memory("port_create", port_create(0))? {
            Some(port) => hold(port)?,
            None => return Ok(()),
        }
    }
}

fn ports_full_of_packets() -> TestResult {
    let ports = fill_ports_with_packets()?;
    ensure!(
        ports > 1,
        "NO_MEMORY after {ports} port(s): the heap is bigger than that"
    );
    check_reserve_kept("ports full of packets")?;
    // The monitor goes on serving calls.
    ok("zxv_info", syscalls::client::zxv_info())?;
    Ok(())
}

/// With the heap taken to its reserve, every call that needs memory says
/// NO_MEMORY and leaves nothing behind; a guest made before still runs.
fn calls_under_exhaustion(resource: Handle) -> TestResult {
    let mut fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_enter())?;
    let port = Owned(ok("port_create", port_create(0))?);
    fill_ports_with_packets()?;
    fill_with_empty_ports()?;
    check_reserve_kept("heap taken")?;
    expect_no_handle(
        "vcpu_create",
        vcpu_create(fx.guest(), 0, 0),
        Status::NO_MEMORY,
    )?;
    match guest_create(resource, 0) {
        Err(Status::NO_MEMORY) => {}
        Ok((guest, vmar)) => {
            let (_, _) = (handle_close(guest), handle_close(vmar));
            return Err(crate::why!(
                "guest_create: got ZX_OK, want ZX_ERR_NO_MEMORY"
            ));
        }
        Err(s) => return Err(crate::why!("guest_create: got {s}, want ZX_ERR_NO_MEMORY")),
    }
    // A page in a 2 MiB region with nothing mapped needs a new table.
    expect(
        "vmar_map(a new 2 MiB region)",
        vmar_map(fx.vmar(), RWX_SPECIFIC, 8 * STRIDE, fx.vmo.h(), 0, PAGE),
        Status::NO_MEMORY,
    )?;
    expect(
        "vmar_unmap(where the refused map was)",
        vmar_unmap(fx.vmar(), 8 * STRIDE, PAGE),
        Status::NOT_FOUND,
    )?;
    // A BELL trap makes room for its 256 packets on the port: over the
    // guest's code page, refused, the page stays mapped.
    expect(
        "guest_set_trap(BELL over the code page)",
        guest_set_trap(fx.guest(), GUEST_TRAP_BELL, 0, PAGE, port.h(), 1),
        Status::NO_MEMORY,
    )?;
    enter_and_clean_exit(fx.vcpu())?;
    // Memory back: the same calls work, the trap's range was left free.
    release();
    ok(
        "guest_set_trap(BELL over the code page) after release",
        guest_set_trap(fx.guest(), GUEST_TRAP_BELL, 0, PAGE, port.h(), 1),
    )?;
    let vcpu = Owned(ok(
        "vcpu_create after release",
        vcpu_create(fx.guest(), 0, 0),
    )?);
    drop(vcpu);
    ok(
        "vmar_map after release",
        vmar_map(fx.vmar(), RWX_SPECIFIC, 8 * STRIDE, fx.vmo.h(), 0, PAGE),
    )?;
    fx.vcpu
        .close()
        .map_err(|s| crate::why!("closing the vcpu: {s}"))?;
    Ok(())
}

/// BELL traps on one port until NO_MEMORY: each keeps room for its 256
/// packets on the port.
fn bell_traps(resource: Handle) -> TestResult {
    let fx = Fixture::bare(resource)?;
    let port = ok("port_create", port_create(0))?;
    hold(port)?;
    for i in 0..1 << 16 {
        let addr = i * PAGE;
        let set = guest_set_trap(fx.guest(), GUEST_TRAP_BELL, addr, PAGE, port, i);
        if or_no_memory("guest_set_trap(BELL)", set)?.is_none() {
            ensure!(i > 0, "NO_MEMORY for the first BELL trap");
            check_reserve_kept("BELL traps")?;
            // Nothing of the refused trap stayed: its range is free.
            release();
            return ok(
                "guest_set_trap(BELL) where the refused one was, after closing the port",
                guest_set_trap(fx.guest(), GUEST_TRAP_MEM, addr, PAGE, Handle::INVALID, 0),
            );
        }
    }
    Err(crate::why!(
        "no NO_MEMORY after 65536 BELL traps on one port"
    ))
}

/// MEM traps on one guest until NO_MEMORY: the trap map and the traps'
/// records take the heap.
fn mem_traps(resource: Handle) -> TestResult {
    let fx = Fixture::bare(resource)?;
    // Ports full of packets first, so the traps meet the quota soon.
    fill_ports_with_packets()?;
    for i in 0..1 << 20 {
        let set = guest_set_trap(
            fx.guest(),
            GUEST_TRAP_MEM,
            i * PAGE,
            PAGE,
            Handle::INVALID,
            i,
        );
        if or_no_memory("guest_set_trap(MEM)", set)?.is_none() {
            return check_reserve_kept("MEM traps");
        }
    }
    Err(crate::why!("no NO_MEMORY after 2^20 MEM traps"))
}

/// One page every 2 MiB of guest-physical space until NO_MEMORY: each
/// needs a table of its own.
fn mappings(resource: Handle) -> TestResult {
    let vmo = Owned(ok(
        "vmo_create_physical",
        vmo_create_physical(resource, GUEST_RAM, PAGE),
    )?);
    let fx = Fixture::bare(resource)?;
    let options = VM_PERM_READ | VM_SPECIFIC;
    for i in 0..(1u64 << 36) / STRIDE {
        let at = i * STRIDE;
        if or_no_memory(
            "vmar_map",
            vmar_map(fx.vmar(), options, at, vmo.h(), 0, PAGE),
        )?
        .is_none()
        {
            ensure!(i > 0, "NO_MEMORY for the first mapping");
            check_reserve_kept("mappings")?;
            return expect(
                "vmar_unmap(where the refused map was)",
                vmar_unmap(fx.vmar(), at, PAGE),
                Status::NOT_FOUND,
            );
        }
    }
    Err(crate::why!(
        "no NO_MEMORY with every 2 MiB of the guest's 64 GiB mapped"
    ))
}

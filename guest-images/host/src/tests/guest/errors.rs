//! The error matrix of the guest, VMO/VMAR, vCPU and port calls: each
//! documented error with an input that triggers it (docs/abi.md §2-§4,
//! reference §3), and the handle types and default rights on success.

use super::fixture::*;
use crate::ensure;
use crate::guest_code;
use crate::platform::Board;
use crate::suite::{Reason, Suite, TestResult};
use syscalls::client::{
    guest_create, guest_set_trap, object_get_info_handle_basic, port_create, port_queue, port_wait,
    vcpu_create, vcpu_resume, vmar_map, vmar_protect, vmar_unmap, vmo_create_physical, zxv_info,
};
use syscalls::hypervisor::{
    GUEST_PHYS_ASPACE_SIZE, GUEST_TRAP_BELL, GUEST_TRAP_IO, GUEST_TRAP_MEM, MAX_VCPUS_PER_GUEST,
    VM_PERM_EXECUTE, VM_PERM_READ, VM_PERM_WRITE,
};
use syscalls::port::{
    PortPacket, PKT_TYPE_GUEST_BELL, PKT_TYPE_USER, TIME_INFINITE, TIME_INFINITE_PAST,
};
use syscalls::{Handle, ObjType, Rights, Status, ZxResult};

pub fn run(suite: &mut Suite, board: &Board, resource: Handle) {
    suite.run("guest_create_errors", || create(resource));
    suite.run("guest_set_trap_errors", || set_trap(resource));
    suite.run("guest_vmo_create_physical_errors", || {
        vmo_create(board, resource)
    });
    suite.run("guest_vmar_map_errors", || map(resource));
    suite.run("guest_vmar_unmap_errors", || unmap(resource));
    suite.run("guest_vmar_protect_errors", || protect(resource));
    suite.run("guest_vcpu_create_errors", || vcpu(resource));
    suite.run("guest_vcpu_enter_errors", || vcpu_enter(resource));
    suite.run("guest_port_create_errors", port_create_errors);
    suite.run("guest_port_wait_errors", || port_wait_errors(resource));
    suite.run("guest_port_queue_errors", || port_queue_errors(resource));
}

/// Checks a call's status against `want` (a result it returned is dropped).
fn expect<T>(what: &str, got: ZxResult<T>, want: Status) -> TestResult {
    crate::suite::expect(what, got, want)
}

/// Checks a handle's type and rights.
fn check_info(what: &str, h: Handle, ty: ObjType, rights: Rights) -> TestResult {
    let info = ok(what, object_get_info_handle_basic(h))?;
    ensure!(
        info.type_ == ty.raw(),
        "{what}: type got {}, want {}",
        info.type_,
        ty.raw()
    );
    ensure!(
        info.rights == rights.bits(),
        "{what}: rights got {:#x}, want {:#x}",
        info.rights,
        rights.bits()
    );
    Ok(())
}

/// A handle value that was valid once and is closed now.
fn closed_handle(resource: Handle) -> Result<Handle, Reason> {
    let mut d = dup(resource, Rights::SAME_RIGHTS)?;
    let h = d.h();
    ok("close", d.close())?;
    Ok(h)
}

fn create(resource: Handle) -> TestResult {
    let port = Owned(ok("port_create", port_create(0))?);
    #[rustfmt::skip]
    let cases = [
        ("ZX_HANDLE_INVALID", Handle::INVALID, 0, Status::BAD_HANDLE),
        ("a closed handle", closed_handle(resource)?, 0, Status::BAD_HANDLE),
        ("a port", port.h(), 0, Status::WRONG_TYPE),
        ("a port, options 1", port.h(), 1, Status::WRONG_TYPE),
        ("options 1 (DIRECT)", resource, 1, Status::INVALID_ARGS),
        ("options 0x80000000", resource, 0x8000_0000, Status::INVALID_ARGS),
    ];
    for (what, res, options, want) in cases {
        match guest_create(res, options) {
            Ok((g, v)) => {
                drop((Owned(g), Owned(v)));
                return Err(crate::why!("guest_create({what}): got ZX_OK, want {want}"));
            }
            Err(s) => ensure!(s == want, "guest_create({what}): got {s}, want {want}"),
        }
    }
    let fx = Fixture::bare(resource)?;
    check_info("guest", fx.guest(), ObjType::GUEST, Rights::DEFAULT_GUEST)?;
    let info = ok("vmar", object_get_info_handle_basic(fx.vmar()))?;
    ensure!(
        info.type_ == ObjType::VMAR.raw(),
        "vmar type got {}, want {}",
        info.type_,
        ObjType::VMAR.raw()
    );
    Ok(())
}

fn set_trap(resource: Handle) -> TestResult {
    let fx = Fixture::vcpu_only(resource)?;
    let g = fx.guest();
    let port = Owned(ok("port_create", port_create(0))?);
    let p = port.h();
    let no_write = dup(g, Rights::DEFAULT_GUEST.difference(Rights::WRITE))?;
    let ro_port = dup(p, Rights::DEFAULT_PORT.difference(Rights::WRITE))?;
    let none = Handle::INVALID;
    let a = 0x2000_0000;
    let top = GUEST_PHYS_ASPACE_SIZE;
    let (mem, bell, io) = (GUEST_TRAP_MEM, GUEST_TRAP_BELL, GUEST_TRAP_IO);
    #[rustfmt::skip]
    let cases = [
        ("guest ZX_HANDLE_INVALID", none, mem, a, PAGE, none, Status::BAD_HANDLE),
        ("guest ZX_HANDLE_INVALID, kind 3", none, 3, a, PAGE, none, Status::BAD_HANDLE),
        ("a vcpu as guest", fx.vcpu(), mem, a, PAGE, none, Status::WRONG_TYPE),
        ("a port as guest", p, mem, a, PAGE, none, Status::WRONG_TYPE),
        ("guest without WRITE", no_write.h(), mem, a, PAGE, none, Status::ACCESS_DENIED),
        ("guest without WRITE, kind 3", no_write.h(), 3, a, PAGE, none, Status::ACCESS_DENIED),
        ("BELL, port without WRITE", g, bell, a, PAGE, ro_port.h(), Status::ACCESS_DENIED),
        ("MEM, port without WRITE", g, mem, a, PAGE, ro_port.h(), Status::ACCESS_DENIED),
        ("BELL, unused port handle", g, bell, a, PAGE, Handle::from_raw(0xDEAD_BEEC), Status::BAD_HANDLE),
        ("BELL, guest as port", g, bell, a, PAGE, g, Status::WRONG_TYPE),
        ("MEM with a port", g, mem, a, PAGE, p, Status::INVALID_ARGS),
        ("BELL without a port", g, bell, a, PAGE, none, Status::INVALID_ARGS),
        ("kind IO", g, io, a, PAGE, none, Status::NOT_SUPPORTED),
        ("kind IO, addr 0x1001", g, io, 0x1001, PAGE, none, Status::NOT_SUPPORTED),
        ("kind 3", g, 3, a, PAGE, none, Status::INVALID_ARGS),
        ("addr 0x1001", g, mem, 0x1001, PAGE, none, Status::INVALID_ARGS),
        ("size 0x1001", g, mem, a, 0x1001, none, Status::INVALID_ARGS),
        ("size 0", g, mem, a, 0, none, Status::OUT_OF_RANGE),
        ("addr 1 << 36", g, mem, top, PAGE, none, Status::OUT_OF_RANGE),
        ("range across 1 << 36", g, mem, top - PAGE, 2 * PAGE, none, Status::OUT_OF_RANGE),
        ("range wrapping", g, mem, 0u64.wrapping_sub(PAGE), 2 * PAGE, none, Status::OUT_OF_RANGE),
        ("MEM 0x10000+0x2000", g, mem, 0x10000, 2 * PAGE, none, Status::OK),
        ("inside it", g, mem, 0x11000, PAGE, none, Status::ALREADY_EXISTS),
        ("at its start", g, mem, 0x10000, PAGE, none, Status::ALREADY_EXISTS),
        ("across its start", g, mem, 0xF000, 2 * PAGE, none, Status::ALREADY_EXISTS),
        ("BELL over it", g, bell, 0x10000, PAGE, p, Status::ALREADY_EXISTS),
        ("MEM right after it", g, mem, 0x12000, PAGE, none, Status::OK),
        ("BELL right before it", g, bell, 0xF000, PAGE, p, Status::OK),
        ("the last page", g, mem, top - PAGE, PAGE, none, Status::OK),
    ];
    for (what, guest, kind, addr, size, port, want) in cases {
        let got = guest_set_trap(guest, kind, addr, size, port, 1);
        expect(&crate::why!("guest_set_trap({what})"), got, want)?;
    }
    Ok(())
}

fn vmo_create(board: &Board, resource: Handle) -> TestResult {
    let info = ok("zxv_info", zxv_info())?;
    let (mon, mon_end) = (info.monitor_base, info.monitor_base + info.monitor_size);
    let ram_end = board
        .memory
        .iter()
        .map(|&(b, s)| b + s)
        .fold(mon_end, u64::max);
    // Device space on virt; the firmware's spin-table page on the Pi.
    let below_ram = board.memory.iter().map(|&(b, _)| b).min().unwrap_or(PAGE) - PAGE;
    let port = Owned(ok("port_create", port_create(0))?);
    #[rustfmt::skip]
    let cases = [
        ("ZX_HANDLE_INVALID", Handle::INVALID, GUEST_RAM, PAGE, Status::BAD_HANDLE),
        ("a closed handle", closed_handle(resource)?, GUEST_RAM, PAGE, Status::BAD_HANDLE),
        ("a port", port.h(), GUEST_RAM, PAGE, Status::WRONG_TYPE),
        ("paddr + 1", resource, GUEST_RAM + 1, PAGE, Status::INVALID_ARGS),
        ("paddr + 0x800", resource, GUEST_RAM + 0x800, PAGE, Status::INVALID_ARGS),
        ("size 0x1001", resource, GUEST_RAM, 0x1001, Status::INVALID_ARGS),
        ("size 0", resource, GUEST_RAM, 0, Status::INVALID_ARGS),
        ("monitor memory", resource, mon, PAGE, Status::ACCESS_DENIED),
        ("the monitor's last page", resource, mon_end - PAGE, PAGE, Status::ACCESS_DENIED),
        ("host RAM into the monitor", resource, mon - PAGE, 2 * PAGE, Status::ACCESS_DENIED),
        ("the UART", resource, board.uart & !(PAGE - 1), PAGE, Status::ACCESS_DENIED),
        ("the page below host RAM", resource, below_ram, PAGE, Status::ACCESS_DENIED),
        ("beyond RAM", resource, ram_end, PAGE, Status::ACCESS_DENIED),
        ("RAM's last page and beyond", resource, ram_end - PAGE, 2 * PAGE, Status::ACCESS_DENIED),
    ];
    for (what, res, paddr, size, want) in cases {
        let got = vmo_create_physical(res, paddr, size);
        expect_no_handle(&crate::why!("vmo_create_physical({what})"), got, want)?;
    }
    let vmo = Owned(ok(
        "vmo_create_physical(16 MiB of host RAM)",
        vmo_create_physical(resource, GUEST_RAM, VMO_SIZE),
    )?);
    let info = ok("vmo", object_get_info_handle_basic(vmo.h()))?;
    ensure!(
        info.type_ == ObjType::VMO.raw(),
        "vmo type got {}, want {}",
        info.type_,
        ObjType::VMO.raw()
    );
    let need = Rights::MAP | Rights::READ | Rights::WRITE | Rights::EXECUTE;
    ensure!(
        Rights::from_bits(info.rights).contains(need),
        "vmo rights got {:#x}, want at least MAP|READ|WRITE|EXECUTE ({:#x})",
        info.rights,
        need.bits()
    );
    Ok(())
}

fn map(resource: Handle) -> TestResult {
    let fx = Fixture::bare(resource)?;
    let vmo = Owned(ok(
        "vmo_create_physical",
        vmo_create_physical(resource, GUEST_RAM, VMO_SIZE),
    )?);
    let (vmar, o) = (fx.vmar(), vmo.h());
    let rwx = VM_PERM_READ | VM_PERM_WRITE | VM_PERM_EXECUTE;
    let top = GUEST_PHYS_ASPACE_SIZE;
    let s = RWX_SPECIFIC;
    #[rustfmt::skip]
    let cases = [
        ("vmar ZX_HANDLE_INVALID", Handle::INVALID, s, 0, o, 0, VMO_SIZE, Status::BAD_HANDLE),
        ("vmo ZX_HANDLE_INVALID", vmar, s, 0, Handle::INVALID, 0, VMO_SIZE, Status::BAD_HANDLE),
        ("vmar and vmo swapped", o, s, 0, vmar, 0, VMO_SIZE, Status::WRONG_TYPE),
        ("the guest as vmar", fx.guest(), s, 0, o, 0, VMO_SIZE, Status::WRONG_TYPE),
        ("without ZX_VM_SPECIFIC", vmar, rwx, 0, o, 0, VMO_SIZE, Status::NOT_SUPPORTED),
        ("vmar_offset 0x800", vmar, s, 0x800, o, 0, PAGE, Status::INVALID_ARGS),
        ("vmo_offset 0x800", vmar, s, 0, o, 0x800, PAGE, Status::INVALID_ARGS),
        ("len 0", vmar, s, 0, o, 0, 0, Status::INVALID_ARGS),
        ("len past the vmo", vmar, s, 0, o, 0, VMO_SIZE + PAGE, Status::OUT_OF_RANGE),
        ("vmo_offset + len past the vmo", vmar, s, 0, o, PAGE, VMO_SIZE, Status::OUT_OF_RANGE),
        ("vmo_offset at the vmo's end", vmar, s, 0, o, VMO_SIZE, PAGE, Status::OUT_OF_RANGE),
        ("vmar_offset 1 << 36", vmar, s, top, o, 0, PAGE, Status::OUT_OF_RANGE),
        ("across 1 << 36", vmar, s, top - PAGE, o, 0, 2 * PAGE, Status::OUT_OF_RANGE),
    ];
    for (what, vmar, options, offset, vmo, vmo_offset, len, want) in cases {
        let got = vmar_map(vmar, options, offset, vmo, vmo_offset, len);
        expect(&crate::why!("vmar_map({what})"), got, want)?;
    }
    let placed = [
        (0, 0, VMO_SIZE),
        (VMO_SIZE, PAGE, PAGE),
        (top - PAGE, 0, PAGE),
    ];
    for (offset, vmo_offset, len) in placed {
        let at = ok("vmar_map", vmar_map(vmar, s, offset, o, vmo_offset, len))?;
        ensure!(
            at == offset,
            "vmar_map at {offset:#x}: mapped at {at:#x}, want {offset:#x}"
        );
    }
    let overlaps = [
        ("the same range", 0, VMO_SIZE),
        ("across the first mapping's end", 0x80_0000, VMO_SIZE),
        ("one page inside", 0xFFF000, PAGE),
        ("over the last page", top - PAGE, PAGE),
    ];
    for (what, offset, len) in overlaps {
        let got = vmar_map(vmar, s, offset, o, 0, len);
        expect(
            &crate::why!("vmar_map({what})"),
            got,
            Status::ALREADY_EXISTS,
        )?;
    }
    Ok(())
}

fn unmap(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::scratch_load())?;
    let vmar = fx.vmar();
    #[rustfmt::skip]
    let cases = [
        ("ZX_HANDLE_INVALID", Handle::INVALID, 0x20000, PAGE, Status::BAD_HANDLE),
        ("the vmo as vmar", fx.vmo.h(), 0x20000, PAGE, Status::WRONG_TYPE),
        ("addr 0x20800", vmar, 0x20800, PAGE, Status::INVALID_ARGS),
        ("len 0", vmar, 0x20000, 0, Status::INVALID_ARGS),
        ("nothing mapped at 0x20000000", vmar, 0x2000_0000, PAGE, Status::NOT_FOUND),
        ("the page at 0x20000", vmar, 0x20000, PAGE, Status::OK),
        ("0x20000 again", vmar, 0x20000, PAGE, Status::NOT_FOUND),
    ];
    for (what, h, addr, len, want) in cases {
        expect(
            &crate::why!("vmar_unmap({what})"),
            vmar_unmap(h, addr, len),
            want,
        )?;
    }
    expect_enter(fx.vcpu(), Status::NOT_FOUND)
}

fn protect(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_enter())?;
    let rwx = VM_PERM_READ | VM_PERM_WRITE | VM_PERM_EXECUTE;
    let vmar = fx.vmar();
    #[rustfmt::skip]
    let cases = [
        ("ZX_HANDLE_INVALID", Handle::INVALID, 0, Status::BAD_HANDLE),
        ("the vmo as vmar", fx.vmo.h(), 0, Status::WRONG_TYPE),
        ("addr 0x1001", vmar, 0x1001, Status::INVALID_ARGS),
        ("nothing mapped at 0x20000000", vmar, 0x2000_0000, Status::NOT_FOUND),
    ];
    for (what, h, addr, want) in cases {
        let got = vmar_protect(h, rwx, addr, PAGE);
        expect(&crate::why!("vmar_protect({what})"), got, want)?;
    }
    enter_and_clean_exit(fx.vcpu())
}

fn vcpu(resource: Handle) -> TestResult {
    let fx = Fixture::bare(resource)?;
    let g = fx.guest();
    let write_only = dup(g, Rights::WRITE)?;
    let top = GUEST_PHYS_ASPACE_SIZE;
    #[rustfmt::skip]
    let cases = [
        ("ZX_HANDLE_INVALID, options 1", Handle::INVALID, 1, 0, Status::INVALID_ARGS),
        ("options 1", g, 1, 0, Status::INVALID_ARGS),
        ("ZX_HANDLE_INVALID", Handle::INVALID, 0, 0, Status::BAD_HANDLE),
        ("a closed handle", closed_handle(g)?, 0, 0, Status::BAD_HANDLE),
        ("the vmar as guest", fx.vmar(), 0, 0, Status::WRONG_TYPE),
        ("the resource as guest", resource, 0, 0, Status::WRONG_TYPE),
        ("a guest with only WRITE", write_only.h(), 0, 0, Status::ACCESS_DENIED),
        ("entry 1 << 36", g, 0, top, Status::INVALID_ARGS),
        ("entry u64::MAX", g, 0, u64::MAX, Status::INVALID_ARGS),
    ];
    for (what, guest, options, entry, want) in cases {
        let got = vcpu_create(guest, options, entry);
        expect_no_handle(&crate::why!("vcpu_create({what})"), got, want)?;
    }
    let mut vcpus = arrayvec::ArrayVec::<Owned, MAX_VCPUS_PER_GUEST>::new();
    for i in 0..MAX_VCPUS_PER_GUEST {
        let entry = if i == 0 { top - 4 } else { 0 };
        let what = crate::why!("vcpu_create #{} of a guest", i + 1);
        vcpus.push(Owned(ok(&what, vcpu_create(g, 0, entry))?));
    }
    check_info("vcpu", vcpus[0].h(), ObjType::VCPU, Rights::DEFAULT_VCPU)?;
    expect_no_handle(
        "vcpu_create (ninth vcpu of a guest)",
        vcpu_create(g, 0, 0),
        Status::NO_RESOURCES,
    )
}

fn vcpu_enter(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_exit_loop())?;
    let vcpu = fx.vcpu();
    let no_exec = dup_vcpu_without(vcpu, Rights::EXECUTE)?;
    expect_vcpu_handle_errors("enter", &fx, no_exec.h(), "EXECUTE", enter)?;
    expect_status(
        "enter(a vcpu without EXECUTE, NULL packet)",
        enter_raw(no_exec.h(), 0),
        Status::ACCESS_DENIED,
    )?;
    for p in bad_pointers()? {
        let got = enter_raw(vcpu, p);
        expect_status(
            &crate::why!("enter(packet at {p:#x})"),
            got,
            Status::INVALID_ARGS,
        )?;
    }
    enter_and_clean_exit(vcpu)?;
    let mut packet = PortPacket::default();
    ok("vcpu_resume", vcpu_resume(vcpu, &mut packet))?;
    clean_exit(&packet)
}

fn port_create_errors() -> TestResult {
    expect_no_handle(
        "port_create(options 1)",
        port_create(1),
        Status::INVALID_ARGS,
    )?;
    let port = Owned(ok("port_create(0)", port_create(0))?);
    check_info("port", port.h(), ObjType::PORT, Rights::DEFAULT_PORT)
}

fn port_wait_errors(resource: Handle) -> TestResult {
    let port = Owned(ok("port_create", port_create(0))?);
    let p = port.h();
    let no_read = dup(p, Rights::DEFAULT_PORT.difference(Rights::READ))?;
    let mut packet = PortPacket::default();
    #[rustfmt::skip]
    let cases = [
        ("ZX_HANDLE_INVALID", Handle::INVALID, 0, Status::BAD_HANDLE),
        ("the resource", resource, 0, Status::WRONG_TYPE),
        ("a port without READ", no_read.h(), 0, Status::ACCESS_DENIED),
        ("an empty port, deadline 0", p, 0, Status::TIMED_OUT),
        ("an empty port, ZX_TIME_INFINITE_PAST", p, TIME_INFINITE_PAST, Status::TIMED_OUT),
    ];
    for (what, h, deadline, want) in cases {
        expect(
            &crate::why!("port_wait({what})"),
            port_wait(h, deadline, &mut packet),
            want,
        )?;
    }
    let (t0, freq) = counter();
    let got = port_wait(p, now_ns() + 1_000_000, &mut packet);
    let (t1, _) = counter();
    expect(
        "port_wait(an empty port, 1 ms ahead)",
        got,
        Status::TIMED_OUT,
    )?;
    ensure!(
        (t1 - t0) * 1_000_000 >= freq,
        "port_wait(1 ms ahead) timed out after {} us, want at least 1000",
        (t1 - t0) * 1_000_000 / freq
    );
    let user = PortPacket::new_user(0x5678, [5, 6, 7, 8]);
    ok("port_queue", port_queue(p, &user))?;
    ok(
        "port_wait(ZX_TIME_INFINITE) with a packet queued",
        port_wait(p, TIME_INFINITE, &mut packet),
    )?;
    ensure!(
        packet == user,
        "port_wait(ZX_TIME_INFINITE) got key {:#x} type {}, want the queued user packet",
        packet.key,
        packet.type_
    );
    for bad in bad_pointers()? {
        ok("port_queue", port_queue(p, &user))?;
        let got = port_wait_raw(p, 0, bad);
        expect_status(
            &crate::why!("port_wait(packet at {bad:#x})"),
            got,
            Status::INVALID_ARGS,
        )?;
    }
    Ok(())
}

fn port_queue_errors(resource: Handle) -> TestResult {
    let port = Owned(ok("port_create", port_create(0))?);
    let p = port.h();
    let no_write = dup(p, Rights::DEFAULT_PORT.difference(Rights::WRITE))?;
    let sent = PortPacket {
        key: 0xABCD,
        type_: PKT_TYPE_GUEST_BELL,
        status: 0,
        payload: [1, 2, 3, 4],
    };
    #[rustfmt::skip]
    let cases = [
        ("ZX_HANDLE_INVALID", Handle::INVALID, Status::BAD_HANDLE),
        ("the resource", resource, Status::WRONG_TYPE),
        ("a port without WRITE", no_write.h(), Status::ACCESS_DENIED),
    ];
    for (what, h, want) in cases {
        expect(
            &crate::why!("port_queue({what})"),
            port_queue(h, &sent),
            want,
        )?;
    }
    for bad in bad_pointers()? {
        let got = port_queue_raw(p, bad);
        expect_status(
            &crate::why!("port_queue(packet at {bad:#x})"),
            got,
            Status::INVALID_ARGS,
        )?;
    }
    ok("port_queue(type GUEST_BELL)", port_queue(p, &sent))?;
    let mut got = PortPacket::default();
    ok("port_wait", port_wait(p, 0, &mut got))?;
    ensure!(
        got.type_ == PKT_TYPE_USER,
        "queued with type GUEST_BELL, came back with type {}, want USER (0)",
        got.type_
    );
    ensure!(
        got.key == sent.key && got.payload == sent.payload,
        "came back with key {:#x} payload {:x?}, want 0xabcd [1, 2, 3, 4]",
        got.key,
        got.payload
    );
    Ok(())
}

//! Guest memory (issue 16): a guest-memory call that fails changes nothing,
//! neither the mapping record (a later unmap or protect of the real range
//! still works), nor stage 2, nor what the guest reads and writes; unmap and
//! protect reach the guest's TLBs; and on GICv2 the GICV frame the monitor
//! maps at guest creation is out of the host's reach.

use super::fixture::*;
use crate::ensure;
use crate::guest_code;
use crate::platform::Board;
use crate::suite::{expect, Reason, Suite, TestResult};
use el1rt::cache::clean_invalidate;
use syscalls::client::{
    guest_set_trap, vcpu_create, vcpu_write_state, vmar_map, vmar_protect, vmar_unmap,
};
use syscalls::hypervisor::{
    VcpuState, GUEST_TRAP_BELL, GUEST_TRAP_IO, GUEST_TRAP_MEM, VM_PERM_READ, VM_PERM_WRITE,
    VM_SPECIFIC,
};
use syscalls::port::{PortPacket, PKT_TYPE_GUEST_MEM};
use syscalls::{Handle, Status};

/// The end of guest-physical space (64 GiB).
const IPA_TOP: u64 = 1 << 36;
/// Where GICv2 guests find the GICV frame (two pages), as Zircon.
const GICV: u64 = 0x8_0000_1000;
const R: u32 = VM_PERM_READ;
const RW: u32 = VM_PERM_READ | VM_PERM_WRITE;
/// Entry points of the memory_probe snippet: load, store-then-load.
const PROBE_LOAD: u64 = 0;
const PROBE_STORE: u64 = 0x40;

pub fn run(suite: &mut Suite, board: &Board, resource: Handle) {
    suite.run("guest_vmar_unmap_errors_change_nothing", || {
        unmap_errors(resource)
    });
    suite.run("guest_vmar_protect_errors_change_nothing", || {
        protect_errors(resource)
    });
    suite.run("guest_vmar_map_errors_change_nothing", || {
        map_errors(resource)
    });
    suite.run("guest_set_trap_errors_change_nothing", || {
        set_trap_errors(resource)
    });
    suite.run("guest_vmar_unmap_reaches_the_guest_tlb", || {
        unmap_tlb(resource)
    });
    if board.gic_version == 2 {
        suite.run("guest_gicv_frame_out_of_the_host_reach", || gicv(resource));
    } else {
        suite.skip(
            "guest_gicv_frame_out_of_the_host_reach",
            "GICv3 has no GICV frame",
        );
    }
}

/// The word the test puts at the start of the page of guest RAM at `ipa`.
fn pattern(ipa: u64) -> u32 {
    0x5A00_0000 | (ipa >> 12) as u32
}

/// Writes [`pattern`] at the start of each page of `[ipa, ipa + size)` of
/// the fixture's guest RAM (guest PA x is host PA GUEST_RAM + x).
fn fill(ipa: u64, size: u64) {
    for page in (ipa..ipa + size).step_by(PAGE as usize) {
        write_u32(GUEST_RAM + page, pattern(page));
    }
    clean_invalidate(GUEST_RAM + ipa, size);
}

/// The word at guest PA `ipa` of the fixture's RAM, as the host sees it.
fn host_word(ipa: u64) -> u32 {
    clean_invalidate(GUEST_RAM + ipa, 4);
    read_u32(GUEST_RAM + ipa)
}

/// Runs one probe on a fresh vCPU of `fx`'s guest: a 32-bit load from
/// `ipa`, after a store of `store` when given. The exit packet, or the
/// status zx_vcpu_enter returned.
fn probe(fx: &Fixture, ipa: u64, store: Option<u32>) -> Result<Result<PortPacket, Status>, Reason> {
    let entry = if store.is_some() {
        PROBE_STORE
    } else {
        PROBE_LOAD
    };
    let vcpu = Owned(ok("vcpu_create", vcpu_create(fx.guest(), 0, entry))?);
    let mut state = VcpuState::default();
    state.x[1] = ipa;
    state.x[3] = store.unwrap_or(0).into();
    ok("write_state", vcpu_write_state(vcpu.h(), &state))?;
    Ok(enter(vcpu.h()))
}

/// What a probe found: the word it loaded, or the enter status.
fn probed(what: &str, got: Result<PortPacket, Status>) -> Result<Result<u32, Status>, Reason> {
    match got {
        Ok(p) => {
            clean_exit(&p).map_err(|why| crate::why!("{what}: {why}"))?;
            Ok(Ok(p.guest_mem().data as u32))
        }
        Err(s) => Ok(Err(s)),
    }
}

/// Checks that the guest loads `want` from `ipa` (`Err`: the status the
/// enter returns instead).
fn expect_load(fx: &Fixture, ipa: u64, want: Result<u32, Status>, when: &str) -> TestResult {
    let what = crate::why!("guest load from {ipa:#x} {when}");
    let got = probed(&what, probe(fx, ipa, None)?)?;
    ensure!(got == want, "{what}: got {got:x?}, want {want:x?}");
    Ok(())
}

/// Checks that a guest store to `ipa` lands in its RAM (`writable`), or
/// stops the vCPU and leaves the RAM as it was.
fn expect_store(fx: &Fixture, ipa: u64, writable: bool, when: &str) -> TestResult {
    let what = crate::why!("guest store to {ipa:#x} {when}");
    let before = host_word(ipa);
    let value = !before;
    let got = probed(&what, probe(fx, ipa, Some(value))?)?;
    let now = host_word(ipa);
    if writable {
        ensure!(
            got == Ok(value),
            "{what}: got {got:x?}, want Ok({value:#x})"
        );
        ensure!(now == value, "{what}: RAM holds {now:#x}, want {value:#x}");
        write_u32(GUEST_RAM + ipa, before);
        clean_invalidate(GUEST_RAM + ipa, 4);
    } else {
        ensure!(got.is_err(), "{what}: got {got:x?}, want the vCPU stopped");
        ensure!(now == before, "{what}: RAM changed to {now:#x}");
    }
    Ok(())
}

/// A guest with the fixture's 16 MiB at IPA 0 and the probe code.
fn probe_fixture(resource: Handle) -> Result<Fixture, Reason> {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::memory_probe())?;
    fill(0x100000, 0x300000);
    Ok(fx)
}

/// Issue 16's sequence and every other unmap error: the records, stage 2
/// and the guest's view stay as they were.
fn unmap_errors(resource: Handle) -> TestResult {
    let fx = probe_fixture(resource)?;
    let (a, b) = (0x100000, 0x101000);
    expect_load(&fx, a, Ok(pattern(a)), "before")?;
    #[rustfmt::skip]
    let cases = [
        ("len 1 << 36", a, IPA_TOP, Status::OUT_OF_RANGE),
        ("up to a page past 64 GiB", a, IPA_TOP + PAGE - a, Status::OUT_OF_RANGE),
        ("len 0x800", a, 0x800, Status::INVALID_ARGS),
        ("addr + 0x800", a + 0x800, PAGE, Status::INVALID_ARGS),
        ("len 0", a, 0, Status::INVALID_ARGS),
        ("wrapping", a, 0u64.wrapping_sub(a) + PAGE, Status::INVALID_ARGS),
    ];
    for (what, addr, len, want) in cases {
        let call = crate::why!("vmar_unmap({what})");
        expect(&call, vmar_unmap(fx.vmar(), addr, len), want)?;
        let after = crate::why!("after {call}");
        expect_load(&fx, a, Ok(pattern(a)), &after)?;
        expect_store(&fx, b, true, &after)?;
    }
    ok(
        "vmar_protect(R) of the page",
        vmar_protect(fx.vmar(), R, a, PAGE),
    )?;
    ok("vmar_unmap of the page", vmar_unmap(fx.vmar(), a, PAGE))?;
    expect_load(&fx, a, Err(Status::NOT_FOUND), "after its unmap")?;
    expect_load(&fx, b, Ok(pattern(b)), "after the unmap of the page below")?;
    expect(
        "vmar_unmap of the page again",
        vmar_unmap(fx.vmar(), a, PAGE),
        Status::NOT_FOUND,
    )?;
    ok(
        "vmar_protect(RW) of the next page",
        vmar_protect(fx.vmar(), RW, b, PAGE),
    )
}

/// Every protect error leaves the permissions as they were; then a real
/// protect to read-only reaches the guest, and back to read-write.
fn protect_errors(resource: Handle) -> TestResult {
    let fx = probe_fixture(resource)?;
    let (a, hole) = (0x100000, 0x103000);
    ok("vmar_unmap(hole)", vmar_unmap(fx.vmar(), hole, PAGE))?;
    expect_store(&fx, a, true, "before")?;
    #[rustfmt::skip]
    let cases = [
        ("past 64 GiB", R, a, IPA_TOP, Status::NOT_FOUND),
        ("into the hole", R, a, 4 * PAGE, Status::NOT_FOUND),
        ("the hole", R, hole, PAGE, Status::NOT_FOUND),
        ("without READ", VM_PERM_WRITE, a, PAGE, Status::INVALID_ARGS),
        ("with ZX_VM_SPECIFIC", R | VM_SPECIFIC, a, PAGE, Status::INVALID_ARGS),
        ("len 0x800", R, a, 0x800, Status::INVALID_ARGS),
        ("wrapping", R, a, 0u64.wrapping_sub(a) + PAGE, Status::INVALID_ARGS),
    ];
    for (what, perms, addr, len, want) in cases {
        let call = crate::why!("vmar_protect({what})");
        expect(&call, vmar_protect(fx.vmar(), perms, addr, len), want)?;
        let after = crate::why!("after {call}");
        expect_store(&fx, a, true, &after)?;
        expect_store(&fx, a + 2 * PAGE, true, &after)?;
        expect_load(&fx, hole, Err(Status::NOT_FOUND), &after)?;
    }
    ok("vmar_protect(R)", vmar_protect(fx.vmar(), R, a, 3 * PAGE))?;
    expect_store(&fx, a + PAGE, false, "after vmar_protect(R)")?;
    expect_load(
        &fx,
        a + PAGE,
        Ok(pattern(a + PAGE)),
        "after vmar_protect(R)",
    )?;
    expect_store(&fx, a + 3 * PAGE + PAGE, true, "above the hole")?;
    ok("vmar_protect(RW)", vmar_protect(fx.vmar(), RW, a, 3 * PAGE))?;
    expect_store(&fx, a + PAGE, true, "after vmar_protect(RW)")
}

/// Every map error maps nothing: a free page stays unmapped and its
/// neighbours keep their memory.
fn map_errors(resource: Handle) -> TestResult {
    let fx = probe_fixture(resource)?;
    let hole = 0x200000;
    ok("vmar_unmap(hole)", vmar_unmap(fx.vmar(), hole, PAGE))?;
    let (vmar, vmo, s) = (fx.vmar(), fx.vmo.h(), RW | VM_SPECIFIC);
    #[rustfmt::skip]
    let cases = [
        ("the hole and the page above", s, hole, hole, 2 * PAGE, Status::ALREADY_EXISTS),
        ("the page below and the hole", s, hole - PAGE, hole, 2 * PAGE, Status::ALREADY_EXISTS),
        ("past the vmo", s, hole, VMO_SIZE, PAGE, Status::OUT_OF_RANGE),
        ("without READ", VM_PERM_WRITE | VM_SPECIFIC, hole, hole, PAGE, Status::INVALID_ARGS),
        ("without ZX_VM_SPECIFIC", RW, hole, hole, PAGE, Status::NOT_SUPPORTED),
        ("across 64 GiB", s, IPA_TOP - PAGE, hole, 2 * PAGE, Status::OUT_OF_RANGE),
    ];
    for (what, options, offset, vmo_offset, len, want) in cases {
        let call = crate::why!("vmar_map({what})");
        let got = vmar_map(vmar, options, offset, vmo, vmo_offset, len);
        expect(&call, got, want)?;
        let after = crate::why!("after {call}");
        expect_load(&fx, hole, Err(Status::NOT_FOUND), &after)?;
        expect_load(&fx, hole - PAGE, Ok(pattern(hole - PAGE)), &after)?;
        expect_store(&fx, hole + PAGE, true, &after)?;
    }
    let at = ok("vmar_map(hole)", vmar_map(vmar, s, hole, vmo, hole, PAGE))?;
    ensure!(at == hole, "vmar_map(hole) mapped at {at:#x}");
    expect_load(&fx, hole, Ok(pattern(hole)), "after vmar_map(hole)")
}

/// Every set_trap error leaves the guest's memory mapped; then a real trap
/// on a mapped page makes the guest's load a MEM exit.
fn set_trap_errors(resource: Handle) -> TestResult {
    let fx = probe_fixture(resource)?;
    let (a, b, trapped) = (0x100000, 0x101000, 0x102000);
    fx.trap(GUEST_TRAP_MEM, trapped, Handle::INVALID, TRAP_KEY)?;
    let none = Handle::INVALID;
    #[rustfmt::skip]
    let cases = [
        ("over the trap", GUEST_TRAP_MEM, a, 3 * PAGE, Status::ALREADY_EXISTS),
        ("past 64 GiB", GUEST_TRAP_MEM, a, IPA_TOP, Status::OUT_OF_RANGE),
        ("BELL without a port", GUEST_TRAP_BELL, a, PAGE, Status::INVALID_ARGS),
        ("IO", GUEST_TRAP_IO, a, PAGE, Status::NOT_SUPPORTED),
        ("size 0x800", GUEST_TRAP_MEM, a, 0x800, Status::INVALID_ARGS),
    ];
    for (what, kind, addr, size, want) in cases {
        let call = crate::why!("guest_set_trap({what})");
        let got = guest_set_trap(fx.guest(), kind, addr, size, none, 7);
        expect(&call, got, want)?;
        let after = crate::why!("after {call}");
        expect_load(&fx, a, Ok(pattern(a)), &after)?;
        expect_store(&fx, b, true, &after)?;
    }
    fx.trap(GUEST_TRAP_MEM, a, Handle::INVALID, 7)?;
    let got = probe(&fx, a, None)?;
    let exit = got.map_err(|s| crate::why!("load from the new trap: enter got {s}"))?;
    let m = exit.guest_mem();
    ensure!(
        exit.type_ == PKT_TYPE_GUEST_MEM && exit.key == 7 && m.addr == a && m.read != 0,
        "load from the new trap: got packet type {} key {:#x} addr {:#x} read {}",
        exit.type_,
        exit.key,
        m.addr,
        m.read
    );
    expect_load(&fx, b, Ok(pattern(b)), "next to the new trap")
}

/// Unmapping reaches translations the guest has just used: a page in the
/// middle of a 2 MiB block (split first), and a range of more pages than
/// the monitor invalidates one by one.
fn unmap_tlb(resource: Handle) -> TestResult {
    let fx = probe_fixture(resource)?;
    let page = 0x305000;
    expect_load(&fx, page, Ok(pattern(page)), "before")?;
    ok("vmar_unmap(page)", vmar_unmap(fx.vmar(), page, PAGE))?;
    expect_load(&fx, page, Err(Status::NOT_FOUND), "after its unmap")?;
    for ipa in [0x300000, page - PAGE, page + PAGE, 0x3FF000] {
        expect_load(&fx, ipa, Ok(pattern(ipa)), "in the rest of the block")?;
    }
    // 4 MiB of 4 KiB pages: guest RAM shifted by a page, so no block fits.
    let (base, size) = (0x1000_0000, 0x40_0000);
    let at = vmar_map(fx.vmar(), RW | VM_SPECIFIC, base, fx.vmo.h(), PAGE, size);
    ok("vmar_map of 4 MiB of pages", at)?;
    fill(PAGE, size);
    let samples = [0, PAGE, 0x1F_F000, 0x20_0000, size - PAGE];
    for off in samples {
        let want = pattern(PAGE + off);
        expect_load(&fx, base + off, Ok(want), "before the unmap of 4 MiB")?;
    }
    ok("vmar_unmap of 4 MiB", vmar_unmap(fx.vmar(), base, size))?;
    for off in samples {
        let got = Err(Status::NOT_FOUND);
        expect_load(&fx, base + off, got, "after the unmap of 4 MiB")?;
    }
    Ok(())
}

/// GICv2: the GICV frame the monitor maps stays mapped through a refused
/// map over it, the host can neither map RAM over it nor unmap or protect
/// it, and unmapping RAM next to it leaves it alone.
fn gicv(resource: Handle) -> TestResult {
    let fx = probe_fixture(resource)?;
    let (vmar, vmo, s) = (fx.vmar(), fx.vmo.h(), RW | VM_SPECIFIC);
    let below = GICV - PAGE;
    let above = GICV + 2 * PAGE;
    let gicv_ok = |when: &str| -> TestResult {
        let what = crate::why!("guest load of GICV_CTLR {when}");
        probed(&what, probe(&fx, GICV, None)?)?
            .map_err(|s| crate::why!("{what}: enter got {s}, want a clean exit"))?;
        Ok(())
    };
    gicv_ok("at first")?;
    #[rustfmt::skip]
    let refused = [
        ("over the frame and a page either side", below, 4 * PAGE),
        ("over the frame", GICV, 2 * PAGE),
        ("over its first page", GICV, PAGE),
        ("over its second page", GICV + PAGE, PAGE),
        ("from below into it", below, 2 * PAGE),
    ];
    for (what, offset, len) in refused {
        let call = crate::why!("vmar_map({what})");
        expect(
            &call,
            vmar_map(vmar, s, offset, vmo, 0, len),
            Status::ALREADY_EXISTS,
        )?;
        let after = crate::why!("after {call}");
        gicv_ok(&after)?;
        expect_load(&fx, below, Err(Status::NOT_FOUND), &after)?;
        expect_load(&fx, above, Err(Status::NOT_FOUND), &after)?;
    }
    expect(
        "vmar_unmap(GICV)",
        vmar_unmap(vmar, GICV, 2 * PAGE),
        Status::NOT_FOUND,
    )?;
    expect(
        "vmar_protect(GICV)",
        vmar_protect(vmar, RW, GICV, 2 * PAGE),
        Status::NOT_FOUND,
    )?;
    gicv_ok("after its unmap and protect were refused")?;
    ok(
        "vmar_map(below)",
        vmar_map(vmar, s, below, vmo, 0x100000, PAGE),
    )?;
    ok(
        "vmar_map(above)",
        vmar_map(vmar, s, above, vmo, 0x101000, PAGE),
    )?;
    expect_load(&fx, below, Ok(pattern(0x100000)), "mapped below GICV")?;
    ok(
        "vmar_unmap(below .. above)",
        vmar_unmap(vmar, below, 4 * PAGE),
    )?;
    gicv_ok("after the unmap of the RAM around it")?;
    expect_load(&fx, below, Err(Status::NOT_FOUND), "unmapped below GICV")?;
    expect_load(&fx, above, Err(Status::NOT_FOUND), "unmapped above GICV")
}

//! Handles and rights (docs/abi.md §3): close, duplicate and their errors.

use crate::ensure;
use crate::suite::{expect, Suite, TestResult};
use syscalls::client::{handle_close, handle_duplicate, object_get_info_handle_basic};
use syscalls::{Handle, ObjType, Rights, Status};

pub fn run(suite: &mut Suite, resource: Handle) {
    suite.run("handle_resource_basic_info", || resource_info(resource));
    suite.run("handle_duplicate_same_rights", || duplicate_same(resource));
    suite.run("handle_duplicate_fewer_rights", || {
        duplicate_fewer(resource)
    });
    suite.run("handle_duplicate_needs_duplicate_right", || {
        needs_duplicate_right(resource)
    });
    suite.run("handle_duplicate_rights_not_held", || {
        rights_not_held(resource)
    });
    suite.run("handle_bad_handles", || bad_handles(resource));
    suite.run("handle_closed_value_not_reused", || not_reused(resource));
    suite.run("handle_close_invalid_is_ok", || {
        expect(
            "close(ZX_HANDLE_INVALID)",
            handle_close(Handle::INVALID),
            Status::OK,
        )
    });
}

fn resource_info(resource: Handle) -> TestResult {
    let info = object_get_info_handle_basic(resource)
        .map_err(|s| crate::suite::reason(format_args!("get_info: {s}")))?;
    ensure!(info.type_ == ObjType::RESOURCE.raw(), "type {}", info.type_);
    ensure!(
        info.rights == Rights::DEFAULT_RESOURCE.bits(),
        "rights {:#x}",
        info.rights
    );
    ensure!(info.koid != 0, "koid 0");
    Ok(())
}

fn dup(h: Handle, rights: Rights) -> Result<Handle, crate::suite::Reason> {
    handle_duplicate(h, rights).map_err(|s| {
        crate::suite::reason(format_args!("duplicate({:#x}, {rights:?}): {s}", h.raw()))
    })
}

fn duplicate_same(resource: Handle) -> TestResult {
    let copy = dup(resource, Rights::SAME_RIGHTS)?;
    ensure!(
        copy != resource && copy.is_valid(),
        "duplicate returned {:#x}",
        copy.raw()
    );
    let a = object_get_info_handle_basic(resource)
        .map_err(|s| crate::suite::reason(format_args!("{s}")))?;
    let b = object_get_info_handle_basic(copy)
        .map_err(|s| crate::suite::reason(format_args!("{s}")))?;
    ensure!(
        a.koid == b.koid && a.rights == b.rights,
        "copy differs: koid {} vs {}, rights {:#x} vs {:#x}",
        a.koid,
        b.koid,
        a.rights,
        b.rights
    );
    expect("close copy", handle_close(copy), Status::OK)
}

fn duplicate_fewer(resource: Handle) -> TestResult {
    let want = Rights::INSPECT | Rights::DUPLICATE;
    let copy = dup(resource, want)?;
    let info = object_get_info_handle_basic(copy)
        .map_err(|s| crate::suite::reason(format_args!("{s}")))?;
    ensure!(
        info.rights == want.bits(),
        "rights {:#x}, want {:#x}",
        info.rights,
        want.bits()
    );
    expect("close copy", handle_close(copy), Status::OK)
}

fn needs_duplicate_right(resource: Handle) -> TestResult {
    let weak = dup(resource, Rights::INSPECT)?;
    expect(
        "duplicate without DUPLICATE",
        handle_duplicate(weak, Rights::SAME_RIGHTS),
        Status::ACCESS_DENIED,
    )?;
    expect(
        "duplicate without DUPLICATE",
        handle_duplicate(weak, Rights::INSPECT),
        Status::ACCESS_DENIED,
    )?;
    expect("close", handle_close(weak), Status::OK)
}

fn rights_not_held(resource: Handle) -> TestResult {
    expect(
        "duplicate asking EXECUTE",
        handle_duplicate(resource, Rights::EXECUTE),
        Status::INVALID_ARGS,
    )?;
    expect(
        "duplicate asking SAME_RIGHTS|READ",
        handle_duplicate(resource, Rights::SAME_RIGHTS | Rights::READ),
        Status::INVALID_ARGS,
    )
}

fn bad_handles(resource: Handle) -> TestResult {
    expect(
        "duplicate(0)",
        handle_duplicate(Handle::INVALID, Rights::SAME_RIGHTS),
        Status::BAD_HANDLE,
    )?;
    for raw in [
        0xDEAD_BEEC_u32,
        0xFFFF_FFFF,
        0x1234_5673,
        resource.raw() ^ (1 << 20),
    ] {
        let h = Handle::from_raw(raw);
        expect("close(random)", handle_close(h), Status::BAD_HANDLE)?;
        expect(
            "duplicate(random)",
            handle_duplicate(h, Rights::SAME_RIGHTS),
            Status::BAD_HANDLE,
        )?;
        expect(
            "get_info(random)",
            object_get_info_handle_basic(h),
            Status::BAD_HANDLE,
        )?;
    }
    let copy = dup(resource, Rights::SAME_RIGHTS)?;
    expect("close", handle_close(copy), Status::OK)?;
    expect("close(closed)", handle_close(copy), Status::BAD_HANDLE)?;
    expect(
        "duplicate(closed)",
        handle_duplicate(copy, Rights::SAME_RIGHTS),
        Status::BAD_HANDLE,
    )?;
    expect(
        "get_info(closed)",
        object_get_info_handle_basic(copy),
        Status::BAD_HANDLE,
    )
}

fn not_reused(resource: Handle) -> TestResult {
    let first = dup(resource, Rights::SAME_RIGHTS)?;
    expect("close", handle_close(first), Status::OK)?;
    for _ in 0..64 {
        let next = dup(resource, Rights::SAME_RIGHTS)?;
        ensure!(
            next != first,
            "closed value {:#x} handed out again",
            first.raw()
        );
        expect("close", handle_close(next), Status::OK)?;
    }
    Ok(())
}

//! zx_object_get_info and zxv_info, including the pointer rules every call
//! follows (docs/abi.md §2): NULL, monitor memory, unmapped and device addresses,
//! wrapping ranges are INVALID_ARGS; buffers may cross pages.

use crate::ensure;
use crate::platform::Board;
use crate::suite::{reason, Suite, TestResult};
use syscalls::client::{hvc_raw, zxv_info};
use syscalls::ids::OBJECT_GET_INFO;
use syscalls::object::{InfoHandleBasic, INFO_HANDLE_BASIC};
use syscalls::{Handle, ObjType, Status};

pub fn run(suite: &mut Suite, board: &Board, resource: Handle) {
    suite.run("info_zxv_info", || zxv(board));
    suite.run("info_buffer_too_small", || too_small(resource));
    suite.run("info_buffer_crosses_page", || crosses_page(resource));
    suite.run("info_pointer_null", || bad_pointer(resource, 0));
    suite.run("info_pointer_monitor_memory", || {
        let info = zxv_info().map_err(|s| reason(format_args!("zxv_info: {s}")))?;
        bad_pointer(resource, info.monitor_base)?;
        bad_pointer(resource, info.monitor_base + info.monitor_size - 16)?;
        // A buffer starting in host RAM and running into monitor memory.
        bad_pointer(resource, info.monitor_base - 16)
    });
    suite.run("info_pointer_unmapped", || bad_pointer(resource, 1 << 47));
    suite.run("info_pointer_device", || bad_pointer(resource, board.uart));
    suite.run("info_pointer_wraps", || {
        bad_pointer(resource, u64::MAX - 15)
    });
    suite.run("info_unknown_topic", || {
        let mut buf = [0u8; 64];
        let status = get_info(resource, 0x7777, buf.as_mut_ptr() as u64, 64).0;
        ensure!(status == Status::NOT_SUPPORTED, "got {status}");
        Ok(())
    });
}

/// Raw get_info, so tests can pass any pointer: (status, actual, avail).
pub(crate) fn get_info(h: Handle, topic: u32, ptr: u64, size: u64) -> (Status, u64, u64) {
    // SAFETY: the monitor validates the pointer; the tests pass either a
    // buffer they own or one that must be rejected before any write.
    let r = unsafe {
        hvc_raw(
            OBJECT_GET_INFO,
            [h.raw() as u64, topic as u64, ptr, size, 0, 0],
        )
    };
    (Status::from_raw(r.x0 as i32), r.x1, r.x2)
}

fn zxv(board: &Board) -> TestResult {
    let info = zxv_info().map_err(|s| reason(format_args!("zxv_info: {s}")))?;
    ensure!(info.abi_version == 1, "abi_version {}", info.abi_version);
    ensure!(
        info.num_cpus as usize == board.cpus.len(),
        "num_cpus {} but the DTB lists {}",
        info.num_cpus,
        board.cpus.len()
    );
    ensure!(
        info.gic_version == board.gic_version,
        "gic_version {} but the DTB has GICv{}",
        info.gic_version,
        board.gic_version
    );
    ensure!(
        (1..=16).contains(&info.num_list_registers),
        "num_list_registers {}",
        info.num_list_registers
    );
    ensure!(
        info.monitor_base % 4096 == 0 && info.monitor_size >= 1 << 20,
        "monitor {:#x}+{:#x}",
        info.monitor_base,
        info.monitor_size
    );
    Ok(())
}

fn too_small(resource: Handle) -> TestResult {
    let mut buf = [0xAAu8; 32];
    let (status, actual, avail) =
        get_info(resource, INFO_HANDLE_BASIC, buf.as_mut_ptr() as u64, 31);
    ensure!(status == Status::BUFFER_TOO_SMALL, "got {status}");
    ensure!(
        (actual, avail) == (0, 1),
        "actual {actual} avail {avail}, want 0 and 1"
    );
    ensure!(buf.iter().all(|&b| b == 0xAA), "the buffer was written");
    Ok(())
}

fn crosses_page(resource: Handle) -> TestResult {
    let mut buf = [0u8; 3 * 4096];
    let base = buf.as_mut_ptr() as u64;
    let start = ((base + 4095) & !4095) + 4096 - 16 - base;
    let start = start as usize;
    let ptr = base + start as u64;
    let (status, actual, avail) = get_info(resource, INFO_HANDLE_BASIC, ptr, 32);
    ensure!(
        status == Status::OK && actual == 1 && avail == 1,
        "status {status}, actual {actual}, avail {avail}"
    );
    let bytes: &[u8; 32] = buf[start..start + 32]
        .try_into()
        .map_err(|_| reason(format_args!("slice")))?;
    let info = InfoHandleBasic::from_bytes(bytes);
    ensure!(
        info.type_ == ObjType::RESOURCE.raw() && info.koid != 0,
        "record read back wrong: type {} koid {}",
        info.type_,
        info.koid
    );
    Ok(())
}

fn bad_pointer(resource: Handle, ptr: u64) -> TestResult {
    let (status, _, _) = get_info(resource, INFO_HANDLE_BASIC, ptr, 32);
    ensure!(
        status == Status::INVALID_ARGS,
        "pointer {ptr:#x}: got {status}, want ZX_ERR_INVALID_ARGS"
    );
    Ok(())
}

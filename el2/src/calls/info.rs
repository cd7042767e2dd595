//! zx_object_get_info and zxv_info: reports about handles and the monitor.

use super::reply::Reply;
use crate::mm::hostmem::HostBuf;
use crate::objects;
use crate::platform::system;
use syscalls::exit_counts::ZXV_INFO_VCPU_EXITS;
use syscalls::object::{
    InfoHandleBasic, ZxvInfo, INFO_HANDLE_BASIC, INFO_VCPU, INFO_VCPU_FLAG_KICKED, ZXV_ABI_VERSION,
};
use syscalls::{Rights, Status};

/// Writes a one-record topic: BUFFER_TOO_SMALL (actual 0, avail 1) when the
/// buffer cannot hold it, else the record (actual 1, avail 1).
fn single_record(buffer: u64, size: u64, record: &[u8]) -> Reply {
    if size < record.len() as u64 {
        return Reply {
            status: Status::BUFFER_TOO_SMALL,
            out: [0, 1],
        };
    }
    match HostBuf::new(buffer, record.len(), true) {
        Ok(buf) => {
            buf.write(record);
            Reply::ok(1, 1)
        }
        Err(s) => Reply::status(s),
    }
}

pub fn object_get_info(handle: u32, topic: u32, buffer: u64, size: u64) -> Reply {
    let (object, rights) = match objects::get(handle) {
        Ok(found) => found,
        Err(s) => return Reply::status(s),
    };
    match topic {
        INFO_HANDLE_BASIC => {
            let info = InfoHandleBasic {
                koid: object.koid(),
                rights: rights.bits(),
                type_: object.obj_type().raw(),
                related_koid: object.related_koid(),
                props: object.props(),
                padding1: [0; 4],
            };
            single_record(buffer, size, &info.to_bytes())
        }
        // As in Zircon, the topics about an object (all but HANDLE_BASIC) need
        // ZX_RIGHT_INSPECT, checked after the object's type.
        INFO_VCPU | ZXV_INFO_VCPU_EXITS => match object.vcpu() {
            None => Reply::status(Status::WRONG_TYPE),
            Some(_) if !rights.contains(Rights::INSPECT) => Reply::status(Status::ACCESS_DENIED),
            Some(v) if topic == INFO_VCPU => {
                let flags = if v.is_kicked() {
                    INFO_VCPU_FLAG_KICKED
                } else {
                    0
                };
                single_record(buffer, size, &flags.to_le_bytes())
            }
            Some(v) => single_record(buffer, size, &v.exits().to_bytes()),
        },
        _ => Reply::status(Status::NOT_SUPPORTED),
    }
}

/// zxv_info: the 32-byte ZxvInfo of docs/abi.md §2; a buffer of 40 bytes or more
/// also gets the monitor's free heap bytes (u64 at offset 32), which tests
/// use to check that destroying objects gives all memory back.
#[inline(never)]
pub fn zxv_info(buffer: u64, size: u64) -> Reply {
    let sys = system::get();
    let info = ZxvInfo {
        abi_version: ZXV_ABI_VERSION,
        gic_version: sys.platform.gic.map_or(0, |g| g.version as u32),
        num_cpus: sys.platform.cpus.len() as u32,
        num_list_registers: sys.list_registers,
        monitor_base: sys.monitor.base,
        monitor_size: sys.monitor.size,
    };
    let mut record = [0u8; ZxvInfo::SIZE + 8];
    record[..ZxvInfo::SIZE].copy_from_slice(&info.to_bytes());
    record[ZxvInfo::SIZE..].copy_from_slice(&crate::mm::heap::free_bytes().to_le_bytes());
    let len = if size >= record.len() as u64 {
        record.len()
    } else {
        ZxvInfo::SIZE
    };
    single_record(buffer, size, &record[..len])
}

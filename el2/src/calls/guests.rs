//! zx_guest_create, zx_guest_set_trap, zx_vmo_create_physical and the guest
//! VMAR calls (zx_vmar_map/unmap/protect).

use crate::mm::heap;
use crate::mm::space::IPA_SIZE;
use crate::objects::guest::{Guest, TrapKind};
use crate::objects::{self, new_koid, Object, Vmo};
use crate::platform::system;
use alloc::sync::{Arc, Weak};
use syscalls::hypervisor::{
    vm_perm_rights, GUEST_OPT_NORMAL, GUEST_TRAP_BELL, GUEST_TRAP_IO, GUEST_TRAP_MEM,
    VM_PERM_EXECUTE, VM_PERM_READ, VM_PERM_WRITE, VM_SPECIFIC,
};
use syscalls::{Rights, Status, ZxResult};

const PAGE: u64 = 4096;
const PERMS: u32 = VM_PERM_READ | VM_PERM_WRITE | VM_PERM_EXECUTE;

fn page_aligned(values: &[u64]) -> bool {
    values.iter().all(|v| v % PAGE == 0)
}

/// Valid permission sets: READ is required (as for any guest memory).
fn check_perms(perms: u32) -> ZxResult {
    if perms & VM_PERM_READ == 0 {
        Err(Status::INVALID_ARGS)
    } else {
        Ok(())
    }
}

/// zx_guest_create(resource, options) -> (guest, vmar).
#[inline(never)]
pub fn create(resource: u32, options: u64) -> ZxResult<(u64, u64)> {
    objects::get_as(resource, Rights::NONE, Object::resource)?;
    if options != GUEST_OPT_NORMAL as u64 {
        return Err(Status::INVALID_ARGS);
    }
    let guest = Guest::create(new_koid(), new_koid())?;
    let vmar_rights = Rights::DEFAULT_VMAR | Rights::READ | Rights::WRITE | Rights::EXECUTE;
    let g = objects::insert(Object::Guest(guest.clone()), Rights::DEFAULT_GUEST)?;
    match objects::insert(Object::Vmar(guest), vmar_rights) {
        Ok(v) => Ok((g as u64, v as u64)),
        Err(e) => {
            let _ = objects::close(g);
            Err(e)
        }
    }
}

/// zx_guest_set_trap(guest, kind, addr, size, port, key), in Zircon's order.
#[inline(never)]
pub fn set_trap(guest: u32, kind: u64, addr: u64, size: u64, port: u32, key: u64) -> ZxResult {
    let g = objects::get_as(guest, Rights::WRITE, Object::guest)?;
    let port = if port != 0 {
        Some(objects::get_as(port, Rights::WRITE, Object::port)?)
    } else {
        None
    };
    let kind = match (kind, &port) {
        (k, None) if k == GUEST_TRAP_BELL as u64 => return Err(Status::INVALID_ARGS),
        (k, Some(_)) if k == GUEST_TRAP_BELL as u64 => TrapKind::Bell,
        (k, Some(_)) if k == GUEST_TRAP_MEM as u64 => return Err(Status::INVALID_ARGS),
        (k, None) if k == GUEST_TRAP_MEM as u64 => TrapKind::Mem,
        (k, _) if k == GUEST_TRAP_IO as u64 => return Err(Status::NOT_SUPPORTED),
        _ => return Err(Status::INVALID_ARGS),
    };
    if !page_aligned(&[addr, size]) {
        return Err(Status::INVALID_ARGS);
    }
    if size == 0 || addr.checked_add(size).is_none_or(|end| end > IPA_SIZE) {
        return Err(Status::OUT_OF_RANGE);
    }
    let port = port.as_ref().map_or_else(Weak::new, Arc::downgrade);
    g.set_trap(kind, addr, size, port, key, new_koid())
}

/// zx_vmo_create_physical(resource, paddr, size): host RAM only.
#[inline(never)]
pub fn vmo_create_physical(resource: u32, paddr: u64, size: u64) -> ZxResult<u64> {
    objects::get_as(resource, Rights::NONE, Object::resource)?;
    if size == 0 || !page_aligned(&[paddr, size]) || paddr.checked_add(size).is_none() {
        return Err(Status::INVALID_ARGS);
    }
    if !system::get().is_host_ram(paddr, size) {
        return Err(Status::ACCESS_DENIED);
    }
    let vmo = Vmo {
        koid: new_koid(),
        base: paddr,
        size,
    };
    let rights = Rights::DEFAULT_VMO | Rights::EXECUTE;
    objects::insert(Object::Vmo(heap::try_arc(vmo)?), rights).map(u64::from)
}

/// zx_vmar_map(vmar, options, vmar_offset, vmo, vmo_offset, len) -> addr.
#[inline(never)]
pub fn vmar_map(
    vmar: u32,
    options: u64,
    vmar_offset: u64,
    vmo: u32,
    vmo_offset: u64,
    len: u64,
) -> ZxResult<u64> {
    let perms = (options as u32) & PERMS;
    let need = vm_perm_rights(perms);
    let g = objects::get_as(vmar, need, Object::vmar)?;
    let v = objects::get_as(vmo, need | Rights::MAP, Object::vmo)?;
    if options & !((PERMS | VM_SPECIFIC) as u64) != 0 {
        return Err(Status::INVALID_ARGS);
    }
    check_perms(perms)?;
    if options & VM_SPECIFIC as u64 == 0 {
        return Err(Status::NOT_SUPPORTED);
    }
    if len == 0 || !page_aligned(&[vmar_offset, vmo_offset, len]) {
        return Err(Status::INVALID_ARGS);
    }
    if vmo_offset.checked_add(len).is_none_or(|end| end > v.size)
        || vmar_offset
            .checked_add(len)
            .is_none_or(|end| end > IPA_SIZE)
    {
        return Err(Status::OUT_OF_RANGE);
    }
    g.map(vmar_offset, v.base + vmo_offset, len, perms)?;
    Ok(vmar_offset)
}

fn range_args(addr: u64, len: u64) -> ZxResult {
    if len == 0 || !page_aligned(&[addr, len]) || addr.checked_add(len).is_none() {
        return Err(Status::INVALID_ARGS);
    }
    Ok(())
}

/// zx_vmar_unmap(vmar, addr, len).
#[inline(never)]
pub fn vmar_unmap(vmar: u32, addr: u64, len: u64) -> ZxResult {
    let g = objects::get_as(vmar, Rights::NONE, Object::vmar)?;
    range_args(addr, len)?;
    g.unmap(addr, len)
}

/// zx_vmar_protect(vmar, options, addr, len).
#[inline(never)]
pub fn vmar_protect(vmar: u32, options: u64, addr: u64, len: u64) -> ZxResult {
    let perms = (options as u32) & PERMS;
    let g = objects::get_as(vmar, vm_perm_rights(perms), Object::vmar)?;
    if options & !(PERMS as u64) != 0 {
        return Err(Status::INVALID_ARGS);
    }
    check_perms(perms)?;
    range_args(addr, len)?;
    g.protect(addr, len, perms)
}

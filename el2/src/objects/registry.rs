//! Kernel objects and the global handle table the host's handles name.

use crate::objects::guest::Guest;
use crate::objects::handles::HandleTable;
use crate::objects::port::Port;
use crate::objects::readers::{self, Section};
use crate::objects::virtual_cpu::Vcpu;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};
use syscalls::object::OBJ_PROP_NONE;
use syscalls::{ObjType, Rights, Status, ZxResult};

/// Most handles the host may hold at once.
const MAX_HANDLES: usize = 16 * 1024;

/// The hypervisor resource (ZX_RSRC_KIND_SYSTEM, base
/// ZX_RSRC_SYSTEM_HYPERVISOR_BASE, size 1): authority to create guests and
/// physical VMOs. It is the only resource the monitor hands out.
#[derive(Debug)]
pub struct Resource {
    pub koid: u64,
}

/// A physical VMO: a page-aligned range of host RAM.
#[derive(Debug)]
pub struct Vmo {
    pub koid: u64,
    pub base: u64,
    pub size: u64,
}

/// Everything a handle can refer to. A VMAR is its guest's address space.
#[derive(Clone)]
pub enum Object {
    Resource(Arc<Resource>),
    Guest(Arc<Guest>),
    Vmar(Arc<Guest>),
    Vmo(Arc<Vmo>),
    Vcpu(Arc<Vcpu>),
    Port(Arc<Port>),
}

impl Object {
    pub fn koid(&self) -> u64 {
        match self {
            Object::Resource(r) => r.koid,
            Object::Guest(g) => g.koid,
            Object::Vmar(g) => g.vmar_koid,
            Object::Vmo(v) => v.koid,
            Object::Vcpu(v) => v.koid,
            Object::Port(p) => p.koid,
        }
    }

    pub fn obj_type(&self) -> ObjType {
        match self {
            Object::Resource(_) => ObjType::RESOURCE,
            Object::Guest(_) => ObjType::GUEST,
            Object::Vmar(_) => ObjType::VMAR,
            Object::Vmo(_) => ObjType::VMO,
            Object::Vcpu(_) => ObjType::VCPU,
            Object::Port(_) => ObjType::PORT,
        }
    }

    /// Koid of the object this one belongs to: a vCPU's or VMAR's guest.
    pub fn related_koid(&self) -> u64 {
        match self {
            Object::Vmar(g) => g.koid,
            Object::Vcpu(v) => v.guest.koid,
            _ => 0,
        }
    }

    pub fn props(&self) -> u32 {
        OBJ_PROP_NONE
    }

    pub fn resource(&self) -> Option<&Arc<Resource>> {
        if let Object::Resource(r) = self {
            Some(r)
        } else {
            None
        }
    }

    pub fn guest(&self) -> Option<&Arc<Guest>> {
        if let Object::Guest(g) = self {
            Some(g)
        } else {
            None
        }
    }

    pub fn vmar(&self) -> Option<&Arc<Guest>> {
        if let Object::Vmar(g) = self {
            Some(g)
        } else {
            None
        }
    }

    pub fn vmo(&self) -> Option<&Arc<Vmo>> {
        if let Object::Vmo(v) = self {
            Some(v)
        } else {
            None
        }
    }

    pub fn vcpu(&self) -> Option<&Arc<Vcpu>> {
        if let Object::Vcpu(v) = self {
            Some(v)
        } else {
            None
        }
    }

    pub fn port(&self) -> Option<&Arc<Port>> {
        if let Object::Port(p) = self {
            Some(p)
        } else {
            None
        }
    }
}

static NEXT_KOID: AtomicU64 = AtomicU64::new(1024);

/// A fresh kernel object id.
pub fn new_koid() -> u64 {
    NEXT_KOID.fetch_add(1, Ordering::Relaxed)
}

/// The host's handles. Looked up without a lock inside a read section
/// (`readers`); see `handles` for how a close keeps the object alive for
/// the lookups that found it.
static HANDLES: HandleTable<Object, MAX_HANDLES> = HandleTable::new();

/// Creates the hypervisor resource the host receives in x1 at boot.
pub fn install_hypervisor_resource() -> u32 {
    insert(
        Object::Resource(Arc::new(Resource { koid: new_koid() })),
        Rights::DEFAULT_RESOURCE,
    )
    .expect("an empty handle table has room")
}

pub fn insert(object: Object, rights: Rights) -> ZxResult<u32> {
    HANDLES.insert(object, rights)
}

/// The object and rights behind `handle`.
pub fn get(handle: u32) -> ZxResult<(Object, Rights)> {
    let _section = Section::enter();
    HANDLES.get(handle).map(|(o, r)| (o.clone(), r))
}

/// Runs `f` on `handle`'s object as one type, with the rights `need`,
/// checking in Zircon's order: BAD_HANDLE, WRONG_TYPE, ACCESS_DENIED. The
/// object is used in place, inside a read section: no lock, no reference
/// taken; `f` must be short and must not block (`readers`).
#[inline(always)]
pub fn with_as<T: ?Sized, R>(
    handle: u32,
    need: Rights,
    pick: fn(&Object) -> Option<&T>,
    f: impl FnOnce(&T) -> ZxResult<R>,
) -> ZxResult<R> {
    let _section = Section::enter();
    let (object, rights) = HANDLES.get(handle)?;
    let object = pick(object).ok_or(Status::WRONG_TYPE)?;
    if !rights.contains(need) {
        return Err(Status::ACCESS_DENIED);
    }
    f(object)
}

/// A reference to `handle`'s object as one type, with the rights `need`
/// (the checks of [`with_as`]).
#[inline(always)]
pub fn get_as<T>(
    handle: u32,
    need: Rights,
    pick: fn(&Object) -> Option<&Arc<T>>,
) -> ZxResult<Arc<T>> {
    with_as(handle, need, pick, |object| Ok(object.clone()))
}

/// zx_handle_close: closing ZX_HANDLE_INVALID is not an error (Zircon).
#[inline(never)]
pub fn close(handle: u32) -> ZxResult {
    if handle == 0 {
        return Ok(());
    }
    let closing = HANDLES.close(handle)?;
    readers::wait();
    // SAFETY: every lookup that could have found the handle open ran in a
    // read section, which `wait` has seen end, and no reference a lookup
    // returns outlives its section (`get`, `with_as` and `get_as` clone what
    // they hand out).
    let (object, _) = unsafe { HANDLES.reclaim(closing) };
    // The object is dropped (and maybe destroyed) outside the table lock.
    drop(object);
    Ok(())
}

/// zx_handle_duplicate.
#[inline(never)]
pub fn duplicate(handle: u32, rights: Rights) -> ZxResult<u32> {
    HANDLES.duplicate(handle, rights)
}

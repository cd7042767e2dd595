//! Kernel objects and the global handle table the host's handles name.

use crate::handles::HandleTable;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::{Mutex, Once};
use syscalls::object::OBJ_PROP_NONE;
use syscalls::{ObjType, Rights, ZxResult};

/// Most handles the host may hold at once.
const MAX_HANDLES: usize = 16 * 1024;

/// The hypervisor resource (ZX_RSRC_KIND_SYSTEM, base
/// ZX_RSRC_SYSTEM_HYPERVISOR_BASE, size 1): authority to create guests and
/// physical VMOs. It is the only resource the monitor hands out.
#[derive(Debug)]
pub struct Resource {
    pub koid: u64,
}

/// Everything a handle can refer to.
#[derive(Clone, Debug)]
pub enum Object {
    Resource(Arc<Resource>),
}

impl Object {
    pub fn koid(&self) -> u64 {
        match self {
            Object::Resource(r) => r.koid,
        }
    }

    pub fn obj_type(&self) -> ObjType {
        match self {
            Object::Resource(_) => ObjType::RESOURCE,
        }
    }

    /// Koid of the object this one is tied to (none so far).
    pub fn related_koid(&self) -> u64 {
        0
    }

    pub fn props(&self) -> u32 {
        OBJ_PROP_NONE
    }
}

static NEXT_KOID: AtomicU64 = AtomicU64::new(1024);

/// A fresh kernel object id.
pub fn new_koid() -> u64 {
    NEXT_KOID.fetch_add(1, Ordering::Relaxed)
}

static HANDLES: Once<Mutex<HandleTable<Object>>> = Once::new();

fn handles() -> &'static Mutex<HandleTable<Object>> {
    HANDLES.call_once(|| Mutex::new(HandleTable::new(MAX_HANDLES)))
}

/// Creates the hypervisor resource the host receives in x1 at boot.
pub fn install_hypervisor_resource() -> u32 {
    let resource = Resource { koid: new_koid() };
    handles()
        .lock()
        .insert(
            Object::Resource(Arc::new(resource)),
            Rights::DEFAULT_RESOURCE,
        )
        .expect("an empty handle table has room")
}

/// The object and rights behind `handle`.
pub fn get(handle: u32) -> ZxResult<(Object, Rights)> {
    handles().lock().get(handle).map(|(o, r)| (o.clone(), r))
}

/// zx_handle_close: closing ZX_HANDLE_INVALID is not an error (Zircon).
pub fn close(handle: u32) -> ZxResult {
    if handle == 0 {
        return Ok(());
    }
    let (object, _) = handles().lock().remove(handle)?;
    drop(object);
    Ok(())
}

/// zx_handle_duplicate.
pub fn duplicate(handle: u32, rights: Rights) -> ZxResult<u32> {
    handles().lock().duplicate(handle, rights)
}

//! Guests: a VMID, a stage-2 address space (translation tables plus the
//! record of what is mapped where, which is the guest's VMAR), the traps on
//! it, and the vCPU slots.

use crate::arch::{cache, tlb};
use crate::mappings::{Mapping, Mappings};
use crate::pagetable::{Attrs, MapError, MemType, PageTable, Regime, Table, TableMemory, ENTRIES};
use crate::port::{PacketPool, Port};
use crate::trapmap::TrapMap;
use crate::system;
use crate::vmid::VmidAllocator;
use alloc::alloc::{alloc_zeroed, dealloc, Layout};
use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicU8, Ordering};
use spin::Mutex;
use syscalls::hypervisor::{MAX_VCPUS_PER_GUEST, VM_PERM_EXECUTE, VM_PERM_WRITE};
use syscalls::{Status, ZxResult};

/// Where GICv2 guests find their CPU interface (the GICV frame), as Zircon.
pub const GICV_IPA: u64 = 0x8_0000_1000;
/// The GICV frame: the 8 KiB of a GICv2 CPU interface.
const GICV_SIZE: u64 = 0x2000;

/// Bits of guest-physical address (64 GiB, as Zircon on arm64).
pub const IPA_BITS: u32 = 36;
pub const IPA_SIZE: u64 = 1 << IPA_BITS;

/// Translation tables from the monitor heap, identity-mapped at EL2.
pub struct HeapTables;

const TABLE_LAYOUT: Layout = match Layout::from_size_align(4096, 4096) {
    Ok(l) => l,
    Err(_) => panic!("4 KiB table layout"),
};

impl TableMemory for HeapTables {
    fn alloc_table(&mut self) -> Option<u64> {
        // SAFETY: a non-zero-sized layout; a null result is handled.
        let ptr = unsafe { alloc_zeroed(TABLE_LAYOUT) };
        (!ptr.is_null()).then_some(ptr as u64)
    }

    fn table(&mut self, pa: u64) -> &mut Table {
        // SAFETY: `pa` came from alloc_table (heap memory, identity-mapped,
        // 4 KiB aligned and sized) and is freed only through free_table.
        unsafe { &mut *(pa as *mut [u64; ENTRIES]) }
    }

    fn free_table(&mut self, pa: u64) {
        // SAFETY: `pa` was allocated by alloc_table with the same layout and
        // its parent entry no longer points at it.
        unsafe { dealloc(pa as *mut u8, TABLE_LAYOUT) };
    }
}

static VMIDS: Mutex<VmidAllocator> = Mutex::new(VmidAllocator::new());

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapKind {
    Bell,
    Mem,
}

pub struct Trap {
    pub kind: TrapKind,
    pub key: u64,
    /// BELL: where packets go; gone once the port's last handle is closed.
    pub port: Weak<Port>,
    pub pool: Arc<PacketPool>,
}

impl Drop for Trap {
    fn drop(&mut self) {
        if let Some(port) = self.port.upgrade() {
            port.cancel(self.pool.id());
        }
    }
}

/// What a guest access found at an IPA with a trap.
pub struct TrapHit {
    pub kind: TrapKind,
    pub key: u64,
    pub port: Weak<Port>,
    pub pool: Arc<PacketPool>,
}

struct Space {
    tables: PageTable,
    mappings: Mappings,
}

pub struct Guest {
    pub koid: u64,
    pub vmar_koid: u64,
    vmid: u16,
    root: u64,
    space: Mutex<Space>,
    traps: Mutex<TrapMap<Trap>>,
    /// Bit i set: vCPU index i is in use.
    vcpu_slots: AtomicU8,
    /// Bit i set: vCPU i called PSCI CPU_OFF and has not been entered since.
    vcpus_off: AtomicU8,
    /// Bit i: guest CPU_ON produced vCPU i's STARTUP packet, and vCPU i has
    /// not run since (ON_PENDING for another CPU_ON of it).
    startups: AtomicU8,
}

const _: () = assert!(MAX_VCPUS_PER_GUEST == 8, "vcpu_slots is one byte");

fn attrs(perms: u32) -> Attrs {
    Attrs {
        mem: MemType::Normal,
        write: perms & VM_PERM_WRITE != 0,
        exec: perms & VM_PERM_EXECUTE != 0,
    }
}

fn map_error(e: MapError) -> Status {
    match e {
        MapError::OutOfMemory => Status::NO_MEMORY,
        MapError::Misaligned => Status::INVALID_ARGS,
        MapError::OutOfRange => Status::OUT_OF_RANGE,
        MapError::AlreadyMapped => Status::ALREADY_EXISTS,
        MapError::NotMapped => Status::NOT_FOUND,
    }
}

impl Guest {
    pub fn create(koid: u64, vmar_koid: u64) -> ZxResult<Arc<Guest>> {
        let vmid = VMIDS.lock().alloc().ok_or(Status::NO_RESOURCES)?;
        let tables = match PageTable::new(&mut HeapTables, Regime::Stage2, IPA_BITS, 1) {
            Ok(t) => t,
            Err(_) => {
                VMIDS.lock().free(vmid);
                return Err(Status::NO_MEMORY);
            }
        };
        let mut tables = tables;
        // GICv2: the guest's CPU interface is the hardware GICV frame.
        let gicv = system::get().platform.gic.and_then(|g| g.vcpu);
        if let Some(gicv) = gicv {
            if tables.map(&mut HeapTables, GICV_IPA, gicv.base, GICV_SIZE, Attrs::DEVICE).is_err() {
                tables.destroy(&mut HeapTables);
                VMIDS.lock().free(vmid);
                return Err(Status::NO_MEMORY);
            }
        }
        let guest = Guest {
            koid,
            vmar_koid,
            vmid,
            root: tables.root(),
            space: Mutex::new(Space {
                tables,
                mappings: Mappings::new(),
            }),
            traps: Mutex::new(TrapMap::new()),
            vcpu_slots: AtomicU8::new(0),
            vcpus_off: AtomicU8::new(0),
            startups: AtomicU8::new(0),
        };
        // A reused VMID may still have TLB entries of its previous guest.
        tlb::flush_vmid(guest.vttbr());
        Ok(Arc::new(guest))
    }

    pub fn vttbr(&self) -> u64 {
        ((self.vmid as u64) << 48) | self.root
    }

    /// Calls `f` on each page-aligned piece of `[ipa, ipa + size)` no trap covers.
    fn untrapped(&self, ipa: u64, size: u64, mut f: impl FnMut(u64, u64) -> ZxResult) -> ZxResult {
        let traps = self.traps.lock();
        let mut cursor = ipa;
        let end = ipa + size;
        for (start, len, _) in traps.iter().filter(|&(s, l, _)| s < end && s + l > ipa) {
            if start > cursor {
                f(cursor, start - cursor)?;
            }
            cursor = cursor.max(start + len);
        }
        if cursor < end {
            f(cursor, end - cursor)?;
        }
        Ok(())
    }

    /// zx_vmar_map with ZX_VM_SPECIFIC: `[ipa, ipa + size)` -> `[pa, pa + size)`.
    /// Pages under a trap stay unmapped so accesses keep faulting.
    pub fn map(&self, ipa: u64, pa: u64, size: u64, perms: u32) -> ZxResult {
        let mut space = self.space.lock();
        space.mappings.add(Mapping {
            ipa,
            size,
            pa,
            perms,
        })?;
        let tables = &mut space.tables;
        let result = self.untrapped(ipa, size, |at, len| {
            tables
                .map(&mut HeapTables, at, pa + (at - ipa), len, attrs(perms))
                .map_err(map_error)
        });
        if result.is_err() {
            space.mappings.remove(ipa, size);
            let _ = space.tables.unmap(&mut HeapTables, ipa, size);
            tlb::flush_vmid(self.vttbr());
        }
        result
    }

    /// zx_vmar_unmap: NOT_FOUND when nothing was mapped there.
    pub fn unmap(&self, ipa: u64, size: u64) -> ZxResult {
        let mut space = self.space.lock();
        if space.mappings.remove(ipa, size).is_empty() {
            return Err(Status::NOT_FOUND);
        }
        space
            .tables
            .unmap(&mut HeapTables, ipa, size)
            .map_err(map_error)?;
        drop(space);
        tlb::flush_vmid(self.vttbr());
        Ok(())
    }

    /// zx_vmar_protect: every page of the range must be mapped (NOT_FOUND).
    pub fn protect(&self, ipa: u64, size: u64, perms: u32) -> ZxResult {
        let mut space = self.space.lock();
        space.mappings.protect(ipa, size, perms)?;
        let tables = &mut space.tables;
        self.untrapped(ipa, size, |at, len| {
            tables
                .protect(&mut HeapTables, at, len, attrs(perms))
                .map_err(map_error)
        })?;
        drop(space);
        tlb::flush_vmid(self.vttbr());
        Ok(())
    }

    /// zx_guest_set_trap after its argument checks: punches the range out of
    /// stage 2 and records the trap.
    pub fn set_trap(
        &self,
        kind: TrapKind,
        addr: u64,
        size: u64,
        port: Weak<Port>,
        key: u64,
        pool_id: u64,
    ) -> ZxResult {
        let mut traps = self.traps.lock();
        if traps.overlapping(addr, size) {
            return Err(Status::ALREADY_EXISTS);
        }
        self.space
            .lock()
            .tables
            .unmap(&mut HeapTables, addr, size)
            .map_err(map_error)?;
        tlb::flush_vmid(self.vttbr());
        traps.insert(
            addr,
            size,
            Trap {
                kind,
                key,
                port,
                pool: PacketPool::new(pool_id),
            },
        )
    }

    /// The trap covering `ipa`, if any.
    pub fn trap_at(&self, ipa: u64) -> Option<TrapHit> {
        let traps = self.traps.lock();
        let (_, t) = traps.find(ipa)?;
        Some(TrapHit {
            kind: t.kind,
            key: t.key,
            port: t.port.clone(),
            pool: t.pool.clone(),
        })
    }

    /// Cleans and invalidates all guest memory to the point of coherency
    /// (emulating the guest's set/way cache maintenance).
    pub fn clean_all_memory(&self) {
        let space = self.space.lock();
        for m in space.mappings.iter() {
            cache::clean_invalidate_to_poc(m.pa, m.size);
        }
        cache::invalidate_icache();
    }

    /// Takes a free vCPU index (0..8).
    pub fn claim_vcpu_slot(&self) -> Option<usize> {
        let mut current = self.vcpu_slots.load(Ordering::Acquire);
        loop {
            let index = (!current).trailing_zeros() as usize;
            if index >= MAX_VCPUS_PER_GUEST {
                return None;
            }
            match self.vcpu_slots.compare_exchange(
                current,
                current | (1 << index),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(index),
                Err(now) => current = now,
            }
        }
    }

    pub fn release_vcpu_slot(&self, index: usize) {
        self.vcpus_off.fetch_and(!(1 << index), Ordering::AcqRel);
        self.vcpu_slots.fetch_and(!(1 << index), Ordering::AcqRel);
    }

    /// Records that vCPU `index` turned itself off (PSCI CPU_OFF), or, when
    /// `off` is false, that it runs again (which also ends a pending
    /// STARTUP of it).
    pub fn set_vcpu_off(&self, index: usize, off: bool) {
        let bit = 1 << index;
        if off {
            self.vcpus_off.fetch_or(bit, Ordering::AcqRel);
            return;
        }
        if self.vcpus_off.load(Ordering::Acquire) & bit != 0 {
            self.vcpus_off.fetch_and(!bit, Ordering::AcqRel);
        }
        if self.startups.load(Ordering::Acquire) & bit != 0 {
            self.startups.fetch_and(!bit, Ordering::AcqRel);
        }
    }

    /// Guest PSCI CPU_ON of vCPU `index` (docs/abi.md §5): Ok when the
    /// caller is the one to start it (its STARTUP packet goes to the host),
    /// else the PSCI status (vcpu::psci::claim_startup).
    pub fn claim_startup(&self, index: usize) -> Result<(), i64> {
        vcpu::psci::claim_startup(&self.startups, self.vcpus_on(), index)
    }

    /// Bit i set: vCPU i exists and is on, for the guest's PSCI AFFINITY_INFO.
    pub fn vcpus_on(&self) -> u8 {
        self.vcpu_slots.load(Ordering::Acquire) & !self.vcpus_off.load(Ordering::Acquire)
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        self.space.get_mut().tables.destroy(&mut HeapTables);
        tlb::flush_vmid(self.vttbr());
        VMIDS.lock().free(self.vmid);
    }
}

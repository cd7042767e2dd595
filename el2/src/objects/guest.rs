//! Guests: a VMID, a guest-physical address space (the stage-2 tables, the
//! record of what is mapped where, which is the guest's VMAR, and the traps
//! on it: `space.rs`, under one lock), and the vCPU slots.

use crate::arch::{cache, tlb};
use crate::mm::heap;
use crate::mm::mappings::Mapping;
use crate::mm::pagetable::{Table, TableMemory, Tlb, ENTRIES};
use crate::mm::space::{AddressSpace, Lookup, IPA_BITS};
use crate::mm::vmid::VmidAllocator;
use crate::objects::port::{PacketPool, Port};
use crate::objects::ratelimit::{RateLimit, Verdict};
use crate::platform::system;
use alloc::alloc::{alloc_zeroed, dealloc, Layout};
use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicU8, Ordering};
use spin::Mutex;
use syscalls::hypervisor::MAX_VCPUS_PER_GUEST;
use syscalls::{Status, ZxResult};

/// Where GICv2 guests find their CPU interface (the GICV frame), as Zircon.
pub const GICV_IPA: u64 = 0x8_0000_1000;
/// The GICV frame: the 8 KiB of a GICv2 CPU interface.
const GICV_SIZE: u64 = 0x2000;

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

/// A live guest's tables: heap memory, and TLB maintenance for its VMID.
struct LiveTables {
    heap: HeapTables,
    tlb: tlb::GuestTlb,
}

impl TableMemory for LiveTables {
    fn alloc_table(&mut self) -> Option<u64> {
        self.heap.alloc_table()
    }

    fn table(&mut self, pa: u64) -> &mut Table {
        self.heap.table(pa)
    }

    fn free_table(&mut self, pa: u64) {
        self.heap.free_table(pa);
    }
}

impl Tlb for LiveTables {
    fn invalidate(&mut self, va: u64, level: usize) {
        self.tlb.invalidate(va, level);
    }

    fn sync(&mut self) {
        self.tlb.sync();
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
            port.detach_trap(self.pool.id());
        }
    }
}

/// What a guest access found at an IPA with a trap. Only a BELL trap
/// takes references to its port and packet pool (a MEM exit's packet goes
/// back with the exit).
pub enum TrapHit {
    Mem {
        key: u64,
    },
    Bell {
        key: u64,
        /// The trap's port, taken under the address space's lock; `None`
        /// once it is gone.
        port: Option<Arc<Port>>,
        /// For the packet to queue (which keeps this reference).
        pool: Arc<PacketPool>,
    },
}

/// What a stage-2 fault at an IPA means.
pub enum Fault {
    /// A trap.
    Trap(TrapHit),
    /// The IPA is mapped now: a translation fault there was a passing one
    /// (another CPU changing the tables), and the guest is to try again.
    Mapped,
    /// Nothing is mapped or trapped there.
    Unmapped,
}

pub struct Guest {
    pub koid: u64,
    pub vmar_koid: u64,
    vmid: u16,
    root: u64,
    /// The only lock of a guest's memory: mappings, traps and tables.
    space: Mutex<AddressSpace<Trap>>,
    /// Bit i set: vCPU index i is in use.
    vcpu_slots: AtomicU8,
    /// Bit i set: vCPU i called PSCI CPU_OFF and has not been entered since.
    vcpus_off: AtomicU8,
    /// Bit i: guest CPU_ON produced vCPU i's STARTUP packet, and vCPU i has
    /// not run since (ON_PENDING for another CPU_ON of it).
    startups: AtomicU8,
    /// The messages its exits cause (`Guest::warn`).
    messages: RateLimit,
}

const _: () = assert!(MAX_VCPUS_PER_GUEST == 8, "vcpu_slots is one byte");

/// A new guest's address space; on GICv2 with the hardware GICV frame,
/// the guest's CPU interface, mapped.
fn new_space() -> ZxResult<AddressSpace<Trap>> {
    let mut space = AddressSpace::new(&mut HeapTables, IPA_BITS)?;
    if let Some(gicv) = system::get().platform.gic.and_then(|g| g.vcpu) {
        if let Err(e) = space.map_fixed(&mut HeapTables, GICV_IPA, gicv.base, GICV_SIZE) {
            space.destroy(&mut HeapTables);
            return Err(e);
        }
    }
    Ok(space)
}

impl Guest {
    pub fn create(koid: u64, vmar_koid: u64) -> ZxResult<Arc<Guest>> {
        let vmid = VMIDS.lock().alloc().ok_or(Status::NO_RESOURCES)?;
        let space = new_space().inspect_err(|_| VMIDS.lock().free(vmid))?;
        let guest = Guest {
            koid,
            vmar_koid,
            vmid,
            root: space.root(),
            space: Mutex::new(space),
            vcpu_slots: AtomicU8::new(0),
            vcpus_off: AtomicU8::new(0),
            startups: AtomicU8::new(0),
            messages: RateLimit::new(),
        };
        // A reused VMID may still have TLB entries of its previous guest.
        tlb::flush_vmid(guest.vttbr());
        heap::try_arc(guest)
    }

    pub fn vttbr(&self) -> u64 {
        ((self.vmid as u64) << 48) | self.root
    }

    /// Runs `f` on the guest's address space with its tables live: TLB
    /// maintenance goes to the guest's VMID.
    fn change<R>(&self, f: impl FnOnce(&mut AddressSpace<Trap>, &mut LiveTables) -> R) -> R {
        let mut space = self.space.lock();
        let mut tables = LiveTables {
            heap: HeapTables,
            tlb: tlb::GuestTlb::new(self.vttbr()),
        };
        f(&mut space, &mut tables)
    }

    /// zx_vmar_map with ZX_VM_SPECIFIC: `[ipa, ipa + size)` -> `[pa, pa + size)`.
    /// Pages under a trap stay unmapped so accesses keep faulting.
    pub fn map(&self, ipa: u64, pa: u64, size: u64, perms: u32) -> ZxResult {
        let m = Mapping {
            ipa,
            size,
            pa,
            perms,
        };
        self.change(|space, tables| space.map(tables, m))
    }

    /// zx_vmar_unmap: NOT_FOUND when nothing was mapped there.
    pub fn unmap(&self, ipa: u64, size: u64) -> ZxResult {
        self.change(|space, tables| space.unmap(tables, ipa, size))
    }

    /// zx_vmar_protect: every page of the range must be mapped (NOT_FOUND).
    pub fn protect(&self, ipa: u64, size: u64, perms: u32) -> ZxResult {
        self.change(|space, tables| space.protect(tables, ipa, size, perms))
    }

    /// zx_guest_set_trap after its argument checks: punches the range out of
    /// stage 2 and records the trap. The trap's pool and, for BELL, the room
    /// for its packets on the port are taken first (NO_MEMORY); a Trap
    /// dropped on a later error detaches from its port again.
    pub fn set_trap(
        &self,
        kind: TrapKind,
        addr: u64,
        size: u64,
        port: Weak<Port>,
        key: u64,
        pool_id: u64,
    ) -> ZxResult {
        let pool = heap::try_arc(PacketPool::new(pool_id))?;
        if let Some(port) = port.upgrade() {
            port.attach_trap()?;
        }
        let trap = Trap {
            kind,
            key,
            port,
            pool,
        };
        self.change(|space, tables| space.set_trap(tables, addr, size, trap))
    }

    /// What a stage-2 fault at `ipa` met.
    pub fn fault_at(&self, ipa: u64) -> Fault {
        let space = self.space.lock();
        match space.lookup(&mut HeapTables, ipa) {
            Lookup::Trap(t) => Fault::Trap(match t.kind {
                TrapKind::Mem => TrapHit::Mem { key: t.key },
                TrapKind::Bell => TrapHit::Bell {
                    key: t.key,
                    port: t.port.upgrade(),
                    pool: t.pool.clone(),
                },
            }),
            Lookup::Mapped => Fault::Mapped,
            Lookup::Unmapped => Fault::Unmapped,
        }
    }

    /// Whether `ipa` is mapped now, for a fault on an instruction fetch
    /// (`fault_at` stays with its one caller on the data-abort path).
    pub fn is_mapped(&self, ipa: u64) -> bool {
        let space = self.space.lock();
        matches!(space.lookup(&mut HeapTables, ipa), Lookup::Mapped)
    }

    /// Cleans and invalidates all guest memory to the point of coherency
    /// (emulating the guest's set/way cache maintenance).
    pub fn clean_all_memory(&self) {
        let space = self.space.lock();
        for m in space.mappings() {
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

    /// Logs a warning this guest's exits caused, if it has not had its share
    /// (`ratelimit::FIRST`); the rest are counted and their number said
    /// when the guest goes.
    pub fn warn(&self, what: core::fmt::Arguments) {
        match self.messages.admit() {
            Verdict::Log => log::warn!("guest {}: {what}", self.koid),
            Verdict::LogLast => log::warn!(
                "guest {}: {what} (further messages about this guest are only counted)",
                self.koid
            ),
            Verdict::Suppress => {}
        }
    }

    /// Bit i set: vCPU i exists and is on, for the guest's PSCI AFFINITY_INFO.
    pub fn vcpus_on(&self) -> u8 {
        self.vcpu_slots.load(Ordering::Acquire) & !self.vcpus_off.load(Ordering::Acquire)
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let suppressed = self.messages.suppressed();
        if suppressed > 0 {
            log::warn!(
                "guest {}: {suppressed} more messages about it suppressed",
                self.koid
            );
        }
        // No vCPU runs the guest any more (each holds it): once its TLB
        // entries are gone, no CPU can walk its tables.
        tlb::flush_vmid(self.vttbr());
        self.space.get_mut().destroy(&mut HeapTables);
        VMIDS.lock().free(self.vmid);
    }
}

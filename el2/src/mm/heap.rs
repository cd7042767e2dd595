//! The monitor's heap: a buddy allocator over the part of monitor memory
//! after the image, serving objects and stage-2 tables, and the host's
//! quota on it (docs/abi.md §3, "Memory").
//!
//! Once the host runs ([`start_quota`], at the end of boot), every
//! allocation is made for the host, by one of its calls: one that would
//! leave less than [`MONITOR_RESERVE`] bytes free fails (returns null), so
//! the host's objects can never take the heap's last MiB, which stays for
//! the monitor. Code reachable from a call allocates only fallibly
//! (`try_reserve`, [`try_arc`]) and turns a failure into ZX_ERR_NO_MEMORY
//! before it changes anything. The check costs nothing on the paths that
//! do not allocate.

use crate::platform::percpu;
use crate::platform::MAX_CPUS;
use alloc::sync::Arc;
use buddy_system_allocator::Heap;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{null_mut, NonNull};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use spin::Mutex;
use syscalls::{Status, ZxResult};

/// Heap bytes the host's objects can never use.
pub const MONITOR_RESERVE: usize = 1 << 20;

struct MonitorHeap {
    heap: Mutex<Heap<33>>,
}

/// Set once the host runs: allocations are the host's from then on.
static QUOTA: AtomicBool = AtomicBool::new(false);
/// Per CPU: inside [`try_arc`]'s allocation of the Arc itself.
static EXEMPT: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

// The build machine's tests keep std's allocator (and find this heap empty).
#[cfg_attr(target_os = "none", global_allocator)]
static HEAP: MonitorHeap = MonitorHeap {
    heap: Mutex::new(Heap::new()),
};

/// The block the buddy allocator takes for `layout`.
fn block_size(layout: Layout) -> usize {
    layout
        .size()
        .next_power_of_two()
        .max(layout.align())
        .max(core::mem::size_of::<usize>())
}

fn free_of(heap: &Heap<33>) -> usize {
    heap.stats_total_bytes() - heap.stats_alloc_actual()
}

// SAFETY: allocation and deallocation go to the buddy allocator under its
// lock; the only addition is that an allocation under the quota may fail.
unsafe impl GlobalAlloc for MonitorHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.heap.lock();
        if QUOTA.load(Ordering::Relaxed)
            && !EXEMPT[percpu::current()].load(Ordering::Relaxed)
            && free_of(&heap) < block_size(layout) + MONITOR_RESERVE
        {
            return null_mut();
        }
        heap.alloc(layout).map_or(null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with this layout (GlobalAlloc's
        // contract), so it is a non-null block of this heap.
        unsafe {
            self.heap
                .lock()
                .dealloc(NonNull::new_unchecked(ptr), layout)
        }
    }
}

/// Hands `[base, base + size)` to the allocator; called once, with the MMU on.
pub fn init(base: u64, size: u64) {
    // SAFETY: the range is monitor memory reserved for the heap, mapped RW in
    // EL2 stage 1, used by nothing else, and this runs once.
    unsafe { HEAP.heap.lock().init(base as usize, size as usize) };
}

/// Bytes not currently allocated.
pub fn free_bytes() -> u64 {
    free_of(&HEAP.heap.lock()) as u64
}

/// From now on (the host is about to run) allocations stay out of the
/// reserve.
pub fn start_quota() {
    QUOTA.store(true, Ordering::Release);
}

/// `Arc::new(value)`, or NO_MEMORY when the heap has no room for it above
/// the reserve (Arc has no fallible constructor on stable Rust): a block
/// of the Arc's size is taken and given back first, so the Arc's own
/// allocation, exempt from the quota, cannot fail for want of memory. It
/// can at most dip into the reserve by what other CPUs take in between.
pub fn try_arc<T>(value: T) -> ZxResult<Arc<T>> {
    let counts = Layout::new::<[AtomicUsize; 2]>();
    let (inner, _) = counts
        .extend(Layout::new::<T>())
        .map_err(|_| Status::NO_MEMORY)?;
    // SAFETY: `inner` has a non-zero size (it holds the two counts); the
    // block is given back at once with the same layout.
    unsafe {
        let probe = HEAP.alloc(inner);
        if probe.is_null() {
            return Err(Status::NO_MEMORY);
        }
        HEAP.dealloc(probe, inner);
    }
    let exempt = &EXEMPT[percpu::current()];
    exempt.store(true, Ordering::Relaxed);
    let arc = Arc::new(value);
    exempt.store(false, Ordering::Relaxed);
    Ok(arc)
}

//! The monitor's heap: a buddy allocator over the part of monitor memory
//! after the image, serving objects and stage-2 tables.

use buddy_system_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap<33> = LockedHeap::empty();

/// Hands `[base, base + size)` to the allocator; called once, with the MMU on.
pub fn init(base: u64, size: u64) {
    // SAFETY: the range is monitor memory reserved for the heap, mapped RW in
    // EL2 stage 1, used by nothing else, and this runs once.
    unsafe { HEAP.lock().init(base as usize, size as usize) };
}

/// Bytes not currently allocated.
pub fn free_bytes() -> u64 {
    let heap = HEAP.lock();
    (heap.stats_total_bytes() - heap.stats_alloc_actual()) as u64
}

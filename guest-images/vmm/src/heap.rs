//! The VMM's heap: a buddy allocator over a static arena. Only setting up
//! the guests allocates (their device trees, devices and state, the
//! switch's queues); the exit path never does.

use buddy_system_allocator::LockedHeap;
use core::ptr::addr_of_mut;

const ARENA_SIZE: usize = 2 << 20;

#[repr(C, align(4096))]
struct Arena([u8; ARENA_SIZE]);

static mut ARENA: Arena = Arena([0; ARENA_SIZE]);

#[global_allocator]
static HEAP: LockedHeap<32> = LockedHeap::empty();

/// Hands the arena to the allocator; called once, on the boot CPU, before
/// anything allocates.
pub fn init() {
    // SAFETY: `ARENA` is used by nothing but the allocator, and this runs
    // once, before any allocation; the pointer is taken without a reference.
    unsafe { HEAP.lock().init(addr_of_mut!(ARENA) as usize, ARENA_SIZE) };
}

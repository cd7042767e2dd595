//! The CPUs' stacks (entry.S: STACK_SIZE bytes for each CPU index up to
//! `MAX_CPUS`, CPU i's below CPU i + 1's) and a guard at the bottom of each:
//! the MMU is off, so there is no guard page, and a stack that overflows
//! writes over whatever lies below it. The lowest [`GUARD`] bytes of each
//! stack hold a pattern that a program may check now and then; a deep
//! frame stores at least once in that range on its way down (the stack
//! probes of frames over 4 KiB store once per 4 KiB), so an overflow, or
//! a near one, leaves the pattern broken.

use crate::platform::MAX_CPUS;
use core::ptr::addr_of_mut;

/// Bytes of each CPU's stack (entry.S).
pub const STACK_SIZE: usize = 0x20000;
/// The guarded bottom of each stack.
pub const GUARD: usize = 4096;
const PATTERN: u64 = 0x5ac6_9a2d_57ac_6bad;
const WORDS: usize = GUARD / 8;

extern "C" {
    /// entry.S's stacks: `MAX_CPUS + 1` of them.
    static mut stacks: [u8; 0];
}

fn guard(cpu: usize) -> *mut u64 {
    assert!(cpu < MAX_CPUS, "no stack for CPU {cpu}");
    // Only the address of entry.S's stacks is taken: STACK_SIZE *
    // (MAX_CPUS + 1) bytes.
    let base = addr_of_mut!(stacks) as *mut u8;
    base.wrapping_add(cpu * STACK_SIZE).cast()
}

/// Fills the guard of CPU `cpu`'s stack with the pattern; before the CPU
/// runs, or on the CPU itself (its stack is far above its guard).
pub fn arm_guard(cpu: usize) {
    let words = guard(cpu);
    for i in 0..WORDS {
        // SAFETY: the guard is the lowest GUARD bytes of the CPU's stack,
        // which nothing but an overflowing frame uses.
        unsafe { words.add(i).write_volatile(PATTERN) };
    }
}

/// Whether the guard of CPU `cpu`'s stack is as [`arm_guard`] left it.
pub fn guard_intact(cpu: usize) -> bool {
    let words = guard(cpu);
    // SAFETY: as in `arm_guard`; reading has no effect.
    (0..WORDS).all(|i| unsafe { words.add(i).read_volatile() } == PATTERN)
}

//! Data cache maintenance for memory the host writes with its MMU off
//! (uncached) and a guest then reads with its caches on.

/// Cleans and invalidates the data cache lines of `[pa, pa + len)`.
pub fn clean_invalidate(pa: u64, len: u64) {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr) };
    let line = 4u64 << ((ctr >> 16) & 0xF);
    let mut addr = pa & !(line - 1);
    while addr < pa + len {
        // SAFETY: cleaning and invalidating a line writes back or drops
        // cached copies of memory; callers pass memory no Rust object lives
        // in (guest RAM), so no value the program holds changes.
        unsafe { core::arch::asm!("dc civac, {}", in(reg) addr) };
        addr += line;
    }
    // SAFETY: a barrier has no effect on program state.
    unsafe { core::arch::asm!("dsb sy") };
}

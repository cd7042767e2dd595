//! Data and instruction cache maintenance by virtual address.

use core::arch::asm;

fn line_size() -> u64 {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    4 << ((ctr >> 16) & 0xf)
}

macro_rules! by_line {
    ($name:ident, $op:literal, $doc:literal) => {
        #[doc = $doc]
        pub fn $name(start: u64, len: u64) {
            let line = line_size();
            let mut addr = start & !(line - 1);
            let end = start.saturating_add(len);
            while addr < end {
                // SAFETY: data cache maintenance by VA on a mapped address
                // does not change memory contents visible to the program.
                unsafe { asm!(concat!("dc ", $op, ", {}"), in(reg) addr, options(nostack)) };
                addr += line;
            }
            // SAFETY: barriers only.
            unsafe { asm!("dsb sy", options(nostack)) };
        }
    };
}

by_line!(
    clean_to_poc,
    "cvac",
    "Writes dirty lines of the range back to memory (for a reader with caches off)."
);
by_line!(
    clean_invalidate_to_poc,
    "civac",
    "Writes back and drops the lines of the range."
);

/// Invalidates the whole instruction cache (after code was written).
pub fn invalidate_icache() {
    // SAFETY: cache maintenance and barriers only.
    unsafe { asm!("dsb ish", "ic iallu", "dsb ish", "isb", options(nostack)) };
}

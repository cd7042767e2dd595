//! Data and instruction cache maintenance by virtual address.

use super::insn;
use super::sysreg::CTR_EL0;

/// The smallest data cache line (CTR_EL0.DminLine); 64 bytes on the build
/// machine's fake, whose CTR_EL0 reads 0.
fn line_size() -> u64 {
    match (CTR_EL0.get() >> 16) & 0xf {
        0 if cfg!(not(target_arch = "aarch64")) => 64,
        log2_words => 4 << log2_words,
    }
}

/// Writes dirty lines of the range back to memory (for a reader with caches off).
pub fn clean_to_poc(start: u64, len: u64) {
    by_line(start, len, insn::dc_cvac);
}

/// Writes back and drops the lines of the range.
pub fn clean_invalidate_to_poc(start: u64, len: u64) {
    by_line(start, len, insn::dc_civac);
}

fn by_line(start: u64, len: u64, op: impl Fn(u64)) {
    let line = line_size();
    let mut addr = start & !(line - 1);
    let end = start.saturating_add(len);
    while addr < end {
        op(addr);
        addr += line;
    }
    insn::dsb_sy();
}

/// Invalidates the whole instruction cache (after code was written).
pub fn invalidate_icache() {
    insn::dsb_ish();
    insn::ic_iallu();
    insn::dsb_ish();
    insn::isb();
}

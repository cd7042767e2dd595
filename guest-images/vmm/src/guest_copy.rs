//! Filling guest RAM from the host, which runs with its MMU off (so every
//! access is uncached and must be aligned): bulk copies 64 bytes at a time,
//! then the guest's view is made coherent for a guest with caches on.

/// Copies `src` to host physical address `dst` (host RAM given to the
/// guest), cleaning and invalidating the data cache lines it covers before
/// and after.
///
/// # Safety
///
/// `dst..dst + src.len()` is host RAM that no Rust object uses and that
/// nothing else writes meanwhile.
pub unsafe fn copy_to_guest(dst: u64, src: &[u8]) {
    let len = src.len() as u64;
    // On a restart the guest's last life may have left dirty lines over
    // the range (its freed initrd, its kernel's data): cleaned after the
    // uncached copy, they would be written back over it. Cleaned and
    // invalidated first, they are gone before it (GuestRam::write does
    // the same around its copies).
    el1rt::cache::clean_invalidate(dst, len);
    let src_addr = src.as_ptr() as u64;
    let bulk = if (dst | src_addr).is_multiple_of(16) {
        len & !63
    } else {
        0
    };
    if bulk > 0 {
        // SAFETY: both ranges are 16-byte aligned and `bulk` bytes long (a
        // multiple of 64); the caller vouches for the destination and
        // `src` is borrowed for the call. q0-q3 are declared clobbered.
        unsafe {
            core::arch::asm!(
                "1: ldp q0, q1, [{src}], #32",
                "ldp q2, q3, [{src}], #32",
                "stp q0, q1, [{dst}], #32",
                "stp q2, q3, [{dst}], #32",
                "subs {n}, {n}, #1",
                "b.ne 1b",
                src = inout(reg) src_addr => _,
                dst = inout(reg) dst => _,
                n = inout(reg) bulk / 64 => _,
                out("v0") _, out("v1") _, out("v2") _, out("v3") _,
                options(nostack),
            );
        }
    }
    for (i, &byte) in src.iter().enumerate().skip(bulk as usize) {
        // SAFETY: inside the destination range the caller vouches for.
        unsafe { core::ptr::write_volatile((dst + i as u64) as *mut u8, byte) };
    }
    el1rt::cache::clean_invalidate(dst, len);
}

/// Makes the instruction side see what was copied (the kernel's code).
pub fn sync_instructions() {
    // SAFETY: barriers and an instruction-cache invalidation have no effect
    // on the program's data.
    unsafe { core::arch::asm!("dsb sy", "ic iallu", "dsb sy", "isb") };
}

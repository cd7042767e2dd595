//! Word copies between the monitor's memory and physical memory it has
//! checked (a host buffer), with no call to `memcpy` (whose generic loop
//! costs several times as much for the few hundred bytes a service call
//! moves): [`words_n`] for a count known at compile time, unrolled to one
//! `ldp` and one `stp` per pair of words; [`words`] for any count, four
//! words per round of two `ldp` and two `stp`, then a pair and a word for
//! the rest.

/// Copies `N` 64-bit words from `src` to `dst`, unrolled: `N / 2` pairs
/// of `ldp`/`stp`, then a word if `N` is odd.
///
/// # Safety
/// As for [`words`] with `n` = `N`.
#[inline(always)]
pub unsafe fn words_n<const N: usize>(dst: *mut u64, src: *const u64) {
    // The build machine has no such copy: the general one does.
    #[cfg(not(target_arch = "aarch64"))]
    // SAFETY: the caller's contract.
    return unsafe { words(dst, src, N) };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: the caller's contract; `.rept` writes out N / 2 pairs, which
    // touch `src[..N]` and `dst[..N]` only.
    unsafe {
        core::arch::asm!(
            ".rept {pairs}",
            "ldp {a}, {b}, [{s}], #16",
            "stp {a}, {b}, [{d}], #16",
            ".endr",
            ".if {odd}",
            "ldr {a}, [{s}]",
            "str {a}, [{d}]",
            ".endif",
            pairs = const N / 2,
            odd = const N % 2,
            s = inout(reg) src => _,
            d = inout(reg) dst => _,
            a = out(reg) _,
            b = out(reg) _,
            options(nostack),
        )
    }
}

/// Copies `n` 64-bit words from `src` to `dst`.
///
/// # Safety
/// `src` must be readable and `dst` writable for `n` words, both 8-byte
/// aligned, and the two must not overlap. Memory another CPU may change
/// meanwhile (a host buffer) is fine: each word is read once, and what the
/// copy returns is only data.
#[inline(always)]
pub unsafe fn words(dst: *mut u64, src: *const u64, n: usize) {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: the caller's contract; the loop touches `src[..n]` and
    // `dst[..n]` only.
    unsafe {
        core::arch::asm!(
            "tbz {n}, #0, 2f",
            "ldr {a}, [{s}], #8",
            "str {a}, [{d}], #8",
            "2:",
            "tbz {n}, #1, 3f",
            "ldp {a}, {b}, [{s}], #16",
            "stp {a}, {b}, [{d}], #16",
            "3:",
            "lsr {n}, {n}, #2",
            "cbz {n}, 5f",
            "4:",
            "ldp {a}, {b}, [{s}], #16",
            "ldp {c}, {e}, [{s}], #16",
            "stp {a}, {b}, [{d}], #16",
            "stp {c}, {e}, [{d}], #16",
            "subs {n}, {n}, #1",
            "b.ne 4b",
            "5:",
            d = inout(reg) dst => _,
            s = inout(reg) src => _,
            n = inout(reg) n => _,
            a = out(reg) _,
            b = out(reg) _,
            c = out(reg) _,
            e = out(reg) _,
            options(nostack),
        );
    }
    #[cfg(not(target_arch = "aarch64"))]
    for i in 0..n {
        // SAFETY: the caller's contract.
        unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
    }
}

//! Profile-window markers for scripts/profile.sh: `hint #126` opens a
//! window and `hint #127` closes it. Both are NOPs for the architecture
//! (the hint space reserved for no operation), so they cost one instruction
//! each and stay in the benchmark code; only the QEMU plugin of
//! scripts/profile/windows.c gives them a meaning.

/// Opens a profile window.
#[inline(always)]
pub fn open_window() {
    // SAFETY: an unallocated HINT executes as a NOP.
    unsafe { core::arch::asm!("hint #126", options(nomem, nostack, preserves_flags)) };
}

/// Closes the open profile window, if any.
#[inline(always)]
pub fn close_window() {
    // SAFETY: an unallocated HINT executes as a NOP.
    unsafe { core::arch::asm!("hint #127", options(nomem, nostack, preserves_flags)) };
}

/// Both markers back to back: a window in which nothing runs, which the
/// plugin ignores. For a baseline loop, so that it costs what the markers
/// of the measured loop cost.
#[inline(always)]
pub fn empty_window() {
    // SAFETY: unallocated HINTs execute as NOPs.
    unsafe {
        core::arch::asm!(
            "hint #126",
            "hint #127",
            options(nomem, nostack, preserves_flags)
        )
    };
}

//! The instructions the monitor issues that are neither loads and stores nor
//! system-register moves: barriers, cache and TLB maintenance, address
//! translation, WFI/WFE/SEV. Each is a small safe function; on the build
//! machine (not aarch64) they do nothing but note themselves in a
//! per-thread log ([`fake`]).

/// Emits `$insn` (with its operands) on the target; notes it in the fake.
macro_rules! insn {
    ($what:literal $(, $operand:expr)?; $($asm:tt)+) => {{
        #[cfg(target_arch = "aarch64")]
        // SAFETY: barriers, cache cleaning (never invalidation without a
        // clean first), TLB invalidation, address translation into PAR_EL1
        // and waiting for events change no memory the monitor's code can
        // see; a translation fault on a bad address is reported as the
        // monitor's fault, never ignored.
        unsafe {
            core::arch::asm!($($asm)+)
        };
        #[cfg(not(target_arch = "aarch64"))]
        fake::note($what, 0 $(+ $operand)?);
    }};
}

/// ISB.
#[inline(always)]
pub fn isb() {
    insn!("isb"; "isb", options(nostack, preserves_flags));
}

/// DSB SY.
#[inline(always)]
pub fn dsb_sy() {
    insn!("dsb sy"; "dsb sy", options(nostack, preserves_flags));
}

/// DSB ISH.
#[inline(always)]
pub fn dsb_ish() {
    insn!("dsb ish"; "dsb ish", options(nostack, preserves_flags));
}

/// DSB ISHST.
#[inline(always)]
pub fn dsb_ishst() {
    insn!("dsb ishst"; "dsb ishst", options(nostack, preserves_flags));
}

/// DSB NSH.
#[inline(always)]
pub fn dsb_nsh() {
    insn!("dsb nsh"; "dsb nsh", options(nostack, preserves_flags));
}

/// DC CVAC: cleans the data cache line of `va` to the point of coherency.
#[inline(always)]
pub fn dc_cvac(va: u64) {
    insn!("dc cvac", va; "dc cvac, {}", in(reg) va, options(nostack, preserves_flags));
}

/// DC CIVAC: cleans and invalidates the line of `va` to the point of coherency.
#[inline(always)]
pub fn dc_civac(va: u64) {
    insn!("dc civac", va; "dc civac, {}", in(reg) va, options(nostack, preserves_flags));
}

/// IC IALLU: invalidates this CPU's instruction cache.
#[inline(always)]
pub fn ic_iallu() {
    insn!("ic iallu"; "ic iallu", options(nostack, preserves_flags));
}

/// TLBI IPAS2E1IS of `page` (IPA bits 47:12) for the current VMID.
#[inline(always)]
pub fn tlbi_ipas2e1is(page: u64) {
    insn!("tlbi ipas2e1is", page; "tlbi ipas2e1is, {}", in(reg) page, options(nostack, preserves_flags));
}

/// TLBI VMALLE1IS: the current VMID's stage-1 (and combined) entries.
#[inline(always)]
pub fn tlbi_vmalle1is() {
    insn!("tlbi vmalle1is"; "tlbi vmalle1is", options(nostack, preserves_flags));
}

/// TLBI VMALLS12E1IS: all of the current VMID's entries, inner shareable.
#[inline(always)]
pub fn tlbi_vmalls12e1is() {
    insn!("tlbi vmalls12e1is"; "tlbi vmalls12e1is", options(nostack, preserves_flags));
}

/// TLBI VMALLS12E1: all of the current VMID's entries, this CPU only.
#[inline(always)]
pub fn tlbi_vmalls12e1() {
    insn!("tlbi vmalls12e1"; "tlbi vmalls12e1", options(nostack, preserves_flags));
}

/// AT S12E1R (or S12E1W when `write`) of `va`: the result is in PAR_EL1
/// (on the build machine's fake: `va`'s page, as if identity-mapped).
#[inline(always)]
pub fn at_s12e1(va: u64, write: bool) {
    #[cfg(not(target_arch = "aarch64"))]
    super::sysreg::fake::set(("par_el1", 0), va & 0x000f_ffff_ffff_f000);
    if write {
        insn!("at s12e1w", va; "at s12e1w, {}", in(reg) va, options(nostack, preserves_flags));
    } else {
        insn!("at s12e1r", va; "at s12e1r, {}", in(reg) va, options(nostack, preserves_flags));
    }
}

/// WFI.
#[inline(always)]
pub fn wfi() {
    insn!("wfi"; "wfi", options(nomem, nostack, preserves_flags));
}

/// WFE.
#[inline(always)]
pub fn wfe() {
    insn!("wfe"; "wfe", options(nomem, nostack, preserves_flags));
}

/// SEV.
#[inline(always)]
pub fn sev() {
    insn!("sev"; "sev", options(nomem, nostack, preserves_flags));
}

/// The build machine's instructions: each is noted, with its operand, in a
/// per-thread log.
#[cfg(not(target_arch = "aarch64"))]
pub mod fake {
    use std::cell::RefCell;

    std::thread_local! {
        static LOG: RefCell<Vec<(&'static str, u64)>> = const { RefCell::new(Vec::new()) };
    }

    pub fn note(what: &'static str, operand: u64) {
        LOG.with(|l| l.borrow_mut().push((what, operand)));
    }
}

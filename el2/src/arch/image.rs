//! The monitor image: its boot and vector assembly (boot.S, vectors.S), the
//! linker's section symbols, and the entry points into and out of it (CPU
//! start stubs, parking, the drop to a lower EL).

use crate::platform::MAX_CPUS;
use vcpu::regs::RegisterFile;

/// Bytes of EL2 stack per CPU.
pub const STACK_SIZE: usize = 64 * 1024;

core::arch::global_asm!(
    include_str!("boot.S"),
    STACK_SIZE = const STACK_SIZE,
    MAX_CPUS = const MAX_CPUS,
);
core::arch::global_asm!(include_str!("vectors.S"));

extern "C" {
    static el2_vectors: u8;
    static __image_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __bss_end: u8;
    fn secondary_entry();
    static spin_table_entries: u8;
    fn park_cpu_asm(cpu: u64) -> !;
    fn enter_lower(frame: *const RegisterFile) -> !;
}

/// The monitor image's sections, as physical addresses.
pub struct ImageLayout {
    pub start: u64,
    pub text_end: u64,
    pub rodata_end: u64,
    pub end: u64,
}

pub fn image_layout() -> ImageLayout {
    // SAFETY: linker-script symbols; only their addresses are taken.
    unsafe {
        ImageLayout {
            start: &__image_start as *const u8 as u64,
            text_end: &__text_end as *const u8 as u64,
            rodata_end: &__rodata_end as *const u8 as u64,
            end: &__bss_end as *const u8 as u64,
        }
    }
}

pub fn vectors_address() -> u64 {
    // SAFETY: only the address of the assembly symbol is taken.
    unsafe { &el2_vectors as *const u8 as u64 }
}

/// Physical address secondaries start at (x0 = CPU index).
pub fn secondary_entry_address() -> u64 {
    secondary_entry as *const () as u64
}

/// Where a CPU released from a spin table starts: its own stub in boot.S
/// (the firmware passes no arguments), which supplies its index.
pub fn spin_table_entry(cpu: usize) -> u64 {
    // SAFETY: only the address of the assembly symbol is taken.
    let stubs = unsafe { &spin_table_entries as *const u8 as u64 };
    stubs + 8 * cpu as u64
}

/// Abandons this CPU's stack and waits, on a fresh one, for PSCI CPU_ON
/// (`boot::start::secondary_parked`).
pub fn park_cpu(cpu: usize) -> ! {
    // SAFETY: nothing on this CPU's stack is used again: the caller never
    // returns, and the exception it was handling is abandoned with it.
    unsafe { park_cpu_asm(cpu as u64) }
}

/// Drops to the lower EL described by `frame` on this CPU; never returns.
pub fn drop_to_lower(frame: &RegisterFile) -> ! {
    // SAFETY: enter_lower loads the frame's registers, ELR and SPSR and erets;
    // the SPSR was built by the caller to name EL1 or EL0, never EL2, and the
    // EL2 stack below the frame stays valid for later exceptions.
    unsafe { enter_lower(frame) }
}

/// Waits for an interrupt or event forever: the end of a CPU that cannot go on.
pub fn halt() -> ! {
    loop {
        aarch64_cpu::asm::wfe();
    }
}

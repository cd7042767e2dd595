//! The monitor image: its boot and vector assembly (boot.S, vectors.S), the
//! linker's section symbols, and the entry points into and out of it (CPU
//! start stubs, parking, the drop to a lower EL).

#[cfg(target_arch = "aarch64")]
use crate::platform::MAX_CPUS;
#[cfg(target_arch = "aarch64")]
use vcpu::regs::RegisterFile;

/// Bytes of EL2 stack per CPU.
pub const STACK_SIZE: usize = 64 * 1024;

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    include_str!("boot.S"),
    STACK_SIZE = const STACK_SIZE,
    MAX_CPUS = const MAX_CPUS,
);
#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(include_str!("vectors.S"));

#[cfg(target_arch = "aarch64")]
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

#[cfg(target_arch = "aarch64")]
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

#[cfg(target_arch = "aarch64")]
pub fn vectors_address() -> u64 {
    // SAFETY: only the address of the assembly symbol is taken.
    unsafe { &el2_vectors as *const u8 as u64 }
}

/// Physical address secondaries start at (x0 = CPU index).
#[cfg(target_arch = "aarch64")]
pub fn secondary_entry_address() -> u64 {
    secondary_entry as *const () as u64
}

/// Where a CPU released from a spin table starts: its own stub in boot.S
/// (the firmware passes no arguments), which supplies its index.
#[cfg(target_arch = "aarch64")]
pub fn spin_table_entry(cpu: usize) -> u64 {
    // SAFETY: only the address of the assembly symbol is taken.
    let stubs = unsafe { &spin_table_entries as *const u8 as u64 };
    stubs + 8 * cpu as u64
}

/// Abandons this CPU's stack and waits, on a fresh one, for PSCI CPU_ON
/// (`boot::start::secondary_parked`).
#[cfg(target_arch = "aarch64")]
pub fn park_cpu(cpu: usize) -> ! {
    // SAFETY: nothing on this CPU's stack is used again: the caller never
    // returns, and the exception it was handling is abandoned with it.
    unsafe { park_cpu_asm(cpu as u64) }
}

/// Drops to the lower EL described by `frame` on this CPU; never returns.
#[cfg(target_arch = "aarch64")]
pub fn drop_to_lower(frame: &RegisterFile) -> ! {
    // SAFETY: enter_lower loads the frame's registers, ELR and SPSR and erets;
    // the SPSR was built by the caller to name EL1 or EL0, never EL2, and the
    // EL2 stack below the frame stays valid for later exceptions.
    unsafe { enter_lower(frame) }
}

/// Waits for an interrupt or event forever: the end of a CPU that cannot go on.
pub fn halt() -> ! {
    loop {
        crate::arch::insn::wfe();
    }
}

/// The build machine has no monitor image: its symbols are stand-ins (an
/// empty layout, addresses 0), and nothing can drop to a lower EL or park.
#[cfg(not(target_arch = "aarch64"))]
mod no_image {
    use super::ImageLayout;
    use vcpu::regs::RegisterFile;

    pub fn image_layout() -> ImageLayout {
        ImageLayout {
            start: 0,
            text_end: 0,
            rodata_end: 0,
            end: 0,
        }
    }

    pub fn vectors_address() -> u64 {
        0
    }

    pub fn secondary_entry_address() -> u64 {
        0
    }

    pub fn spin_table_entry(cpu: usize) -> u64 {
        8 * cpu as u64
    }

    pub fn park_cpu(_cpu: usize) -> ! {
        unimplemented!("CPUs park only on aarch64")
    }

    pub fn drop_to_lower(_frame: &RegisterFile) -> ! {
        unimplemented!("lower ELs run only on aarch64")
    }
}
#[cfg(not(target_arch = "aarch64"))]
pub use no_image::{
    drop_to_lower, image_layout, park_cpu, secondary_entry_address, spin_table_entry,
    vectors_address,
};

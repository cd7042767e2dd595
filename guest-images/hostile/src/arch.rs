//! The guest's bare machine: the entry (stack, FP on, exception vectors, BSS cleared), sized
//! MMIO accesses that the monitor can decode (one `ldr`/`str` each, no writeback), the
//! PL011 for output, PSCI SYSTEM_OFF, probes (a load or store whose abort is skipped and
//! returned), and a vector that skips a probe's abort and reports any other exception and
//! powers off. The MMU stays off; the monitor then makes the guest's data accesses Normal
//! memory (HCR_EL2.DC), so misaligned ones are allowed, in RAM and towards device space
//! alike.

use core::arch::{asm, global_asm};
use core::fmt::{self, Write};

global_asm!(
    r#"
    .section .text.entry, "ax"
    // A CPU's start: interrupts masked, the stack at `top`, FP/SIMD on,
    // the vector table set.
    .macro cpu_start top
    msr     daifset, #0xf
    adrp    x9, \top
    add     x9, x9, :lo12:\top
    mov     sp, x9
    mov     x9, #(3 << 20)
    msr     cpacr_el1, x9
    adrp    x9, hostile_vectors
    add     x9, x9, :lo12:hostile_vectors
    msr     vbar_el1, x9
    isb
    .endm

    .global _start
_start:
    cpu_start __stack_top
    adrp    x9, __bss_start
    add     x9, x9, :lo12:__bss_start
    adrp    x10, __bss_end
    add     x10, x10, :lo12:__bss_end
1:  cmp     x9, x10
    b.hs    2f
    str     xzr, [x9]
    add     x9, x9, #8
    b       1b
2:  bl      hostile_main
    b       .

    .global hostile_secondary_entry
hostile_secondary_entry:
    cpu_start __stack2_top
    bl      hostile_secondary
    b       .

    .text
    .balign 2048
hostile_vectors:
    .rept 16
    .balign 128
    b       hostile_vector
    .endr

    // A probe's access that aborted is skipped with the syndrome in x1 (the
    // probe's second result); any other exception is reported.
hostile_vector:
    mrs     x16, elr_el1
    adr     x17, hostile_probe_load64_at
    cmp     x16, x17
    b.eq    1f
    adr     x17, hostile_probe_load32_at
    cmp     x16, x17
    b.eq    1f
    adr     x17, hostile_probe_store64_at
    cmp     x16, x17
    b.eq    1f
    mrs     x0, esr_el1
    mrs     x1, elr_el1
    mrs     x2, far_el1
    b       hostile_exception
1:  add     x16, x16, #4
    msr     elr_el1, x16
    mrs     x1, esr_el1
    eret

    // Probes (AAPCS64: x0 the address, x1 a value to store; the result in
    // x0 and x1 = 0, or the abort's ESR_EL1 if the access aborted).
    .global hostile_probe_load64
hostile_probe_load64:
    mov     x1, xzr
hostile_probe_load64_at:
    ldr     x0, [x0]
    ret

    .global hostile_probe_load32
hostile_probe_load32:
    mov     x1, xzr
hostile_probe_load32_at:
    ldr     w0, [x0]
    ret

    .global hostile_probe_store64
hostile_probe_store64:
    mov     x2, x1
    mov     x1, xzr
hostile_probe_store64_at:
    str     x2, [x0]
    mov     x0, xzr
    ret
"#
);

/// The guest's PL011 (the VMM's, as on QEMU virt): its data and flag registers, and the
/// flag of an empty receive FIFO.
const UART: u64 = 0x0900_0000;
const UART_DR: u64 = 0x000;
const UART_FR: u64 = 0x018;
const UART_FR_RXFE: u32 = 1 << 4;
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
const PSCI_CPU_ON: u64 = 0xC400_0003;
const PSCI_CPU_OFF: u64 = 0x8400_0002;

extern "C" {
    static _start: [u8; 0];
    static __stack2_top: [u8; 0];
    fn hostile_secondary_entry();
    fn hostile_probe_load64(addr: u64) -> Probed;
    fn hostile_probe_load32(addr: u64) -> Probed;
    fn hostile_probe_store64(addr: u64, value: u64) -> Probed;
}

/// What a probe found: the value loaded (0 for a store), and 0 or the syndrome (ESR_EL1)
/// of the abort the access took instead.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Probed {
    pub value: u64,
    pub esr: u64,
}

/// A 64-bit load from `addr` that may abort.
pub fn probe_load64(addr: u64) -> Probed {
    // SAFETY: the probe loads from `addr` and touches no Rust object; an abort it takes
    // is skipped by the vector, which returns it as the syndrome.
    unsafe { hostile_probe_load64(addr) }
}

/// A 32-bit load from `addr` that may abort.
pub fn probe_load32(addr: u64) -> Probed {
    // SAFETY: as for `probe_load64`.
    unsafe { hostile_probe_load32(addr) }
}

/// A 64-bit store of `value` to `addr` that may abort; the caller chooses an `addr` no Rust
/// object lives at.
pub fn probe_store64(addr: u64, value: u64) -> Probed {
    // SAFETY: as for `probe_load64`; the caller vouches that no Rust object is at `addr`.
    unsafe { hostile_probe_store64(addr, value) }
}

/// ID_AA64MMFR0_EL1.PARange in bits (the monitor passes the CPU's through).
pub fn pa_bits() -> u32 {
    use aarch64_cpu::registers::{Readable, ID_AA64MMFR0_EL1};
    use ID_AA64MMFR0_EL1::PARange::Value;
    match ID_AA64MMFR0_EL1.read_as_enum(ID_AA64MMFR0_EL1::PARange) {
        Some(Value::Bits_32) => 32,
        Some(Value::Bits_36) => 36,
        Some(Value::Bits_40) => 40,
        Some(Value::Bits_42) => 42,
        Some(Value::Bits_44) => 44,
        Some(Value::Bits_48) => 48,
        Some(Value::Bits_52) | None => 52,
    }
}

pub fn read8(addr: u64) -> u8 {
    let v: u32;
    // SAFETY: a device register load (or a load of guest RAM); no Rust object is touched.
    unsafe { asm!("ldrb {0:w}, [{1}]", out(reg) v, in(reg) addr, options(nostack)) };
    v as u8
}

pub fn read16(addr: u64) -> u16 {
    let v: u32;
    // SAFETY: as for `read8`.
    unsafe { asm!("ldrh {0:w}, [{1}]", out(reg) v, in(reg) addr, options(nostack)) };
    v as u16
}

pub fn read32(addr: u64) -> u32 {
    let v: u32;
    // SAFETY: as for `read8`.
    unsafe { asm!("ldr {0:w}, [{1}]", out(reg) v, in(reg) addr, options(nostack)) };
    v
}

pub fn read64(addr: u64) -> u64 {
    let v: u64;
    // SAFETY: as for `read8`.
    unsafe { asm!("ldr {0}, [{1}]", out(reg) v, in(reg) addr, options(nostack)) };
    v
}

/// Two words at once (LDP), which a data abort describes without a syndrome.
pub fn read_pair(addr: u64) -> (u64, u64) {
    let (a, b): (u64, u64);
    // SAFETY: as for `read8`.
    unsafe { asm!("ldp {0}, {1}, [{2}]", out(reg) a, out(reg) b, in(reg) addr, options(nostack)) };
    (a, b)
}

pub fn write8(addr: u64, v: u8) {
    // SAFETY: a store to a device register or to guest RAM no Rust object lives in.
    unsafe { asm!("strb {0:w}, [{1}]", in(reg) u32::from(v), in(reg) addr, options(nostack)) };
}

pub fn write16(addr: u64, v: u16) {
    // SAFETY: as for `write8`.
    unsafe { asm!("strh {0:w}, [{1}]", in(reg) u32::from(v), in(reg) addr, options(nostack)) };
}

pub fn write32(addr: u64, v: u32) {
    // SAFETY: as for `write8`.
    unsafe { asm!("str {0:w}, [{1}]", in(reg) v, in(reg) addr, options(nostack)) };
}

pub fn write64(addr: u64, v: u64) {
    // SAFETY: as for `write8`.
    unsafe { asm!("str {0}, [{1}]", in(reg) v, in(reg) addr, options(nostack)) };
}

/// The virtual counter's frequency and reading.
pub fn counter() -> (u64, u64) {
    let (freq, now): (u64, u64);
    // SAFETY: reading the counter and its frequency has no side effects.
    unsafe {
        asm!("mrs {}, cntfrq_el0", "isb", "mrs {}, cntvct_el0", out(reg) freq, out(reg) now, options(nostack))
    };
    (freq.max(1), now)
}

/// This program's image, its BSS and stacks included.
pub fn image() -> core::ops::Range<u64> {
    core::ptr::addr_of!(_start) as u64..core::ptr::addr_of!(__stack2_top) as u64
}

/// Waits in WFI for `ms` milliseconds: the virtual timer, armed at the deadline, wakes the
/// WFI then (its interrupt stays masked here, and the timer is off again on return); a WFI
/// that ends earlier (the VMM's tick) is waited again.
pub fn doze(ms: u64) {
    use aarch64_cpu::asm::barrier::{isb, SY};
    use aarch64_cpu::registers::{Writeable, CNTV_CTL_EL0, CNTV_CVAL_EL0};
    let (freq, now) = counter();
    let deadline = now + freq * ms / 1000;
    CNTV_CVAL_EL0.set(deadline);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
    isb(SY);
    while counter().1 < deadline {
        aarch64_cpu::asm::wfi();
    }
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR);
    isb(SY);
}

/// The next byte typed on the console: the PL011's receive FIFO looked at every 100 ms,
/// dozing in WFI in between.
pub fn wait_for_key() -> u8 {
    loop {
        if read32(UART + UART_FR) & UART_FR_RXFE == 0 {
            return read32(UART + UART_DR) as u8;
        }
        doze(100);
    }
}

/// Barrier between filling rings and notifying the device.
pub fn barrier() {
    // SAFETY: a barrier has no effect on program state.
    unsafe { asm!("dsb sy", options(nostack)) };
}

pub struct Uart;

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            write32(UART, u32::from(b));
        }
        Ok(())
    }
}

#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use core::fmt::Write;
        let _ = writeln!($crate::arch::Uart, $($arg)*);
    }};
}

pub fn system_off() -> ! {
    // SAFETY: PSCI SYSTEM_OFF through the VMM's conduit (hvc); it does not return.
    unsafe { asm!("hvc #0", in("x0") PSCI_SYSTEM_OFF, options(nostack, noreturn)) }
}

/// Starts vCPU 1 at `hostile_secondary` on its own stack; returns PSCI's status.
pub fn start_cpu1() -> i64 {
    let status: i64;
    // SAFETY: PSCI CPU_ON for MPIDR 1 with the entry above; vCPU 1 touches only its stack
    // and the mailbox its work names.
    unsafe {
        asm!("hvc #0", inlateout("x0") PSCI_CPU_ON as i64 => status, in("x1") 1u64,
            in("x2") hostile_secondary_entry as *const () as u64, in("x3") 0u64, options(nostack))
    };
    status
}

pub fn cpu_off() -> ! {
    // SAFETY: PSCI CPU_OFF of this vCPU; it does not return.
    unsafe { asm!("hvc #0", in("x0") PSCI_CPU_OFF, options(nostack, noreturn)) }
}

#[no_mangle]
extern "C" fn hostile_exception(esr: u64, elr: u64, far: u64) -> ! {
    say!("hostile: FAIL exception ESR {esr:#x} ELR {elr:#x} FAR {far:#x}");
    system_off()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    say!("hostile: FAIL panic: {info}");
    system_off()
}

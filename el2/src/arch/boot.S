/*
 * Monitor entry: arm64 Image header, self-relocation, the move to the place
 * boot_plan() picks, per-CPU stacks and the EL2 MMU switch-on for secondaries.
 * Runs with the MMU off, so everything is PC-relative until relocations are
 * applied. Rust entry points: boot_wrong_el, boot_plan, primary_main,
 * secondary_main, secondary_parked.
 */

.macro adr_l reg, sym
    adrp    \reg, \sym
    add     \reg, \reg, :lo12:\sym
.endm

.section .text.head, "ax"
.global _start
_start:
    b       primary_entry
    .long   0
    .quad   0x80000                 /* text_offset */
    .quad   __image_size            /* image_size, bss included */
    .quad   0xa                     /* LE, 4 KiB pages, anywhere in RAM */
    .quad   0, 0, 0
    .ascii  "ARM\x64"
    .long   0

primary_entry:
    mov     x19, x0                 /* DTB physical address */
    adr_l   x20, __image_start      /* where the loader put us */
    mov     x22, x20
    bl      zero_bss
    adr_l   x0, __stacks
    add     sp, x0, #{STACK_SIZE}
    mov     x0, x20
    bl      apply_relocations
    mrs     x1, CurrentEL
    ubfx    x1, x1, #2, #2
    cmp     x1, #2
    b.eq    1f
    mov     x0, x19
    bl      boot_wrong_el           /* prints why and stops */
1:  bl      el2_sctlr_reset
    mov     x0, x19
    mov     x1, x20
    bl      boot_plan               /* x0 = final base of the image */
    cmp     x0, x20
    b.eq    3f
    /* Copy the file-backed part of the image to its final place. */
    mov     x21, x0
    adr_l   x2, __data_end
    mov     x3, x20
    mov     x4, x21
2:  ldp     x5, x6, [x3], #16
    stp     x5, x6, [x4], #16
    cmp     x3, x2
    b.lo    2b
    dsb     sy
    ic      iallu
    dsb     sy
    isb
    adr_l   x3, 3f
    sub     x3, x3, x20
    add     x3, x3, x21
    br      x3
3:  adr_l   x20, __image_start
    bl      zero_bss
    mov     x0, x20
    bl      apply_relocations
    adr_l   x0, __stacks
    add     sp, x0, #{STACK_SIZE}
    mov     x0, x19
    mov     x1, x22
    bl      primary_main
    b       .

/* sp = the top of the stack of CPU \idx (a register; x1-x3 clobbered). */
.macro cpu_stack idx
    adr_l   x1, __stacks
    add     x2, \idx, #1
    mov     x3, #{STACK_SIZE}
    madd    x2, x2, x3, x1
    mov     sp, x2
.endm

/*
 * Spin-table entries, one 8-byte stub per CPU: the firmware jumps to the
 * address in a CPU's cpu-release-addr with no arguments, so the stub
 * supplies the CPU index that PSCI CPU_ON would have passed.
 */
.balign 8
.global spin_table_entries
spin_table_entries:
    .set    spin_cpu, 0
    .rept   {MAX_CPUS}
    mov     x0, #spin_cpu
    b       secondary_entry
    .set    spin_cpu, spin_cpu + 1
    .endr

/*
 * Entered by the firmware's PSCI CPU_ON or a spin-table stub (x0 = our CPU
 * index) at EL2 with the MMU off. Turns the MMU on with the primary's
 * tables (EL2_MMU) and calls secondary_main.
 */
.global secondary_entry
secondary_entry:
    mov     x19, x0
    bl      el2_sctlr_reset
    cpu_stack x19
    adr_l   x1, EL2_MMU
    ldp     x2, x3, [x1]
    msr     mair_el2, x2
    msr     tcr_el2, x3
    ldp     x2, x3, [x1, #16]
    msr     ttbr0_el2, x2
    isb
    tlbi    alle2
    dsb     nsh
    isb
    msr     sctlr_el2, x3
    isb
    mov     x0, x19
    bl      secondary_main
    b       .

/*
 * A CPU the host turned off where the firmware cannot take it back (spin
 * table): x0 = its index, MMU on. Continues on a fresh stack in
 * secondary_parked, which waits for the next CPU_ON.
 */
.global park_cpu_asm
park_cpu_asm:
    mov     x19, x0
    cpu_stack x19
    mov     x0, x19
    bl      secondary_parked
    b       .

/* SCTLR_EL2: MMU and caches off, no alignment checks, little-endian. */
el2_sctlr_reset:
    mov     x0, #0x0830
    movk    x0, #0x30c5, lsl #16
    msr     sctlr_el2, x0
    isb
    ret

zero_bss:
    adr_l   x9, __bss_start
    adr_l   x10, __bss_end
1:  cmp     x9, x10
    b.hs    2f
    stp     xzr, xzr, [x9], #16
    b       1b
2:  ret

/* Applies the R_AARCH64_RELATIVE entries of .rela.dyn for base x0. */
apply_relocations:
    adr_l   x9, __rela_start
    adr_l   x10, __rela_end
1:  cmp     x9, x10
    b.hs    2f
    ldp     x11, x12, [x9], #16
    ldr     x13, [x9], #8
    cmp     x12, #0x403
    b.ne    .                       /* build_monitor (scripts/lib.sh) rejects other kinds */
    add     x13, x13, x0
    str     x13, [x0, x11]
    b       1b
2:  ret

.section .bss.stacks, "aw", %nobits
.balign 4096
.global __stacks
__stacks:
    .space  {STACK_SIZE} * {MAX_CPUS}

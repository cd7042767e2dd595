/*
 * Host entry from the monitor (x0 = DTB, x1 = hypervisor resource) and from
 * PSCI CPU_ON (x0 = CPU index): stack, FP on, EL1 vectors, then Rust.
 * Also the fault probes (probe.rs) for touching memory that must fault and
 * for running one instruction that may be UNDEFINED.
 */
.equ STACK_SIZE, 0x20000

.section .text.entry, "ax"
.global _start
_start:
    mov     x19, x0
    mov     x20, x1
    adrp    x9, __bss_start
    add     x9, x9, :lo12:__bss_start
    adrp    x10, __bss_end
    add     x10, x10, :lo12:__bss_end
1:  cmp     x9, x10
    b.hs    2f
    stp     xzr, xzr, [x9], #16
    b       1b
2:  mov     x0, #0
    bl      cpu_setup
    mov     x0, x19
    mov     x1, x20
    bl      host_main
    b       .

.global secondary_start
secondary_start:
    mov     x19, x0
    bl      cpu_setup
    mov     x0, x19
    bl      host_secondary
    b       .

/* x0 = CPU index: SP = top of its stack, FP/SIMD on, vectors installed. */
cpu_setup:
    adrp    x9, stacks
    add     x9, x9, :lo12:stacks
    add     x10, x0, #1
    mov     x11, #STACK_SIZE
    madd    x9, x10, x11, x9
    mov     sp, x9
    mov     x9, #(3 << 20)
    msr     cpacr_el1, x9
    adrp    x9, el1_vectors
    add     x9, x9, :lo12:el1_vectors
    msr     vbar_el1, x9
    isb
    ret

/*
 * probe_read(addr) / probe_write(addr): x0 = 0 when the access worked, else
 * the ESR_EL1 of the fault; x1 = FAR_EL1 of the fault. The vector below
 * resumes a faulting probe at probe_resume.
 */
.global probe_read
probe_read:
    mov     x2, x0
    mov     x0, #0
    mov     x1, #0
.global probe_read_insn
probe_read_insn:
    ldr     x3, [x2]
    ret

.global probe_write
probe_write:
    mov     x2, x0
    mov     x0, #0
    mov     x1, #0
.global probe_write_insn
probe_write_insn:
    str     xzr, [x2]
    ret

/*
 * probe_insn(insn, x1): runs the one instruction `insn`, written into the
 * slot below (so one CPU at a time), with x1 = the second argument and
 * x3 = scratch space below the stack. Returns x0 = 0 and x1 as the
 * instruction left it, or x0 = the ESR_EL1 of the exception it took (and
 * x1 = FAR_EL1). With the MMU off the slot is writable; the instruction
 * cache is invalidated for it.
 */
.global probe_insn
probe_insn:
    adr     x2, probe_insn_slot
    str     w0, [x2]
    dc      cvau, x2
    dsb     ish
    ic      ivau, x2
    dsb     ish
    isb
    mov     x0, #0
    sub     x3, sp, #64
.global probe_insn_slot
probe_insn_slot:
    nop
    ret

/* EL1h synchronous exceptions: a faulting probe returns its ESR and FAR;
 * IRQs go to the host timer's handler (host_timer.rs); anything else is
 * reported by el1_unexpected. */
.balign 2048
el1_vectors:
    .balign 0x80
    b       unexpected          /* current EL, SP_EL0: sync */
    .balign 0x80
    b       unexpected
    .balign 0x80
    b       unexpected
    .balign 0x80
    b       unexpected
    .balign 0x80                /* current EL, SP_ELx: sync */
    mrs     x9, elr_el1
    adrp    x10, probe_read_insn
    add     x10, x10, :lo12:probe_read_insn
    cmp     x9, x10
    b.eq    1f
    adrp    x10, probe_write_insn
    add     x10, x10, :lo12:probe_write_insn
    cmp     x9, x10
    b.eq    1f
    adrp    x10, probe_insn_slot
    add     x10, x10, :lo12:probe_insn_slot
    cmp     x9, x10
    b.ne    unexpected
1:  mrs     x0, esr_el1
    mrs     x1, far_el1
    add     x9, x9, #4
    msr     elr_el1, x9
    eret
    .balign 0x80                /* current EL, SP_ELx: IRQ (host_timer.rs) */
    b       host_irq
    .balign 0x80
    b       unexpected
    .balign 0x80
    b       unexpected
    .rept 8
    .balign 0x80
    b       unexpected
    .endr

unexpected:
    mrs     x0, esr_el1
    mrs     x1, elr_el1
    mrs     x2, far_el1
    b       el1_unexpected

.section .bss.stacks, "aw", %nobits
.balign 16
.global stacks
stacks:
    .space  STACK_SIZE * 9


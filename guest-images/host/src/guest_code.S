/*
 * Guest programs for the guest tests (reference §6.2, arm64). Each snippet
 * sits alone in its own section between NAME_start and NAME_end and is
 * copied byte for byte to guest PA 0, so an offset inside a snippet (`.org`)
 * is a guest address; with VBAR_EL1 = 0 that is where exception vectors go.
 * Guests start at EL1h with the MMU off.
 *
 * This file holds what several test modules share: the constants, the
 * macros and the snippets more than one module runs. Each module's own
 * snippets (and the macros only they use) are in the .S file beside it
 * (tests/guest/exits.S for exits.rs, bench.S for bench.rs, ...); build.rs
 * assembles this file first, then those, and makes guest_code::NAME() of
 * every `snippet NAME`.
 */

.equ TRAP_ADDR,         0xFFE000
.equ EXIT_TEST_ADDR,    0xFFF000
.equ PAGE_TABLE_PADDR,  0x10000
.equ SCRATCH_ADDR,      0x20000
.equ SCRATCH_SIZE,      0x200000
.equ GUEST_MAIR_EL1,    0xFF
.equ GUEST_TCR_EL1,     0x351E
.equ SCTLR_M_C_I,       0x1005
/* The GICv2 GICV frame in the guest (reference §5.6) and its registers. */
.equ GICC_BASE,         0x800001000
.equ GICC_IAR,          0xC
.equ GICC_EOIR,         0x10
/* How long an interrupt test guest waits for its IRQ, and the x6 code it
 * reports when none came. */
.equ IRQ_WAIT_LOOPS,    1000000
.equ NO_IRQ,            1

/* Loads a 64-bit constant into an X register. */
.macro movlit xreg, value
    movz    \xreg, #((\value) & 0xFFFF)
    movk    \xreg, #(((\value) >> 16) & 0xFFFF), lsl #16
    movk    \xreg, #(((\value) >> 32) & 0xFFFF), lsl #32
    movk    \xreg, #(((\value) >> 48) & 0xFFFF), lsl #48
.endm

/* Clean exit: a MEM-trap store of XZR to EXIT_TEST_ADDR, then spin. */
.macro test_complete
    mov     x0, #EXIT_TEST_ADDR
    str     xzr, [x0]
    b       .
.endm

/* Failure exit: the same store to EXIT_TEST_ADDR + 8. */
.macro test_failure
    movz    x0, #0xF008
    movk    x0, #0xFF, lsl #16
    str     xzr, [x0]
    b       .
.endm

/* Profile-window markers (scripts/profile.sh, el1rt::profile): NOPs. */
.macro open_window
    hint    #126
.endm
.macro close_window
    hint    #127
.endm

.macro snippet name
    .pushsection .text.guest_code.\name, "ax", %progbits
    .balign 16
    .global \name\()_start
\name\()_start:
.endm

.macro end_snippet name
    .global \name\()_end
\name\()_end:
    .popsection
.endm

/* #1 VcpuEnter. */
snippet vcpu_enter
    test_complete
end_snippet vcpu_enter

/* Every entry exits at EXIT_TEST_ADDR: entering again never spins. */
snippet vcpu_exit_loop
1:  mov     x0, #EXIT_TEST_ADDR
    str     xzr, [x0]
    b       1b
end_snippet vcpu_exit_loop

.macro unknown_hvc
    mov     x0, #0xEE
    hvc     #0
.endm

.macro bell_store
    str     xzr, [x8]
.endm

/*
 * Runs the instruction table at INSN_TABLE (tests/guest/world.rs), one
 * 32-byte entry at a time: u32 insn, u32 flags, u64 x1 in, u64 x1 out,
 * u64 ESR. Each instruction is written into the slot at 9: and run with x1
 * from its entry (flags 1: from the previous entry's x1 out); x1 after it
 * and 0 go back into the entry, or, when it takes an exception (the vector
 * at 0x200 steps over it), the ESR_EL1. An insn of 1 is an exit to the
 * host (a MEM-trap store to EXIT_TEST_ADDR + 0x10); 0 ends the table with
 * the clean exit, and the next entry runs the table from the start again.
 */
.equ INSN_TABLE,        0x28000

/* The vector at 0x200 (current EL with SP_ELx, synchronous): test_failure
 * with x6 = 0x200, x7 = ESR_EL1, x8 = ELR_EL1. */
.macro sync_failure_at_0x200
    .org    0x200
    mov     x6, #0x200
    mrs     x7, esr_el1
    mrs     x8, elr_el1
    test_failure
.endm

/* One instruction, timed: x3 = the virtual counter ticks it took.
 * Clobbers x4, x5. */
.macro timed op
    isb
    mrs     x4, cntvct_el0
    \op
    isb
    mrs     x5, cntvct_el0
    sub     x3, x5, x4
.endm

/*
 * WFI, WFE, the virtual timer, kicks and interrupts that wake or stop a
 * guest, SGIs, and FP from EL0 (timing.rs). Guests that wait give up after
 * a bounded time with test_failure and a code in x6; their wait loops use
 * x10-x13 (the storm also x19-x27), which the IRQ handlers leave alone.
 */
/* Guest memory the host reads: the guest sets STARTED_ADDR to 1 once it
 * waits; the interrupt storm counts IRQs at STORM_COUNT_ADDR and IRQs that
 * found nothing to acknowledge 8 bytes further; the EL0 trap handlers count
 * their calls at HANDLER_COUNT_ADDR. */
.equ STARTED_ADDR,      0x20000
.equ STORM_COUNT_ADDR,  0x20008
.equ HANDLER_COUNT_ADDR, 0x20018
.equ STORM_COUNT,       10000
/* x6 codes (timing.rs): the wait ran out of time; the storm made no
 * progress for 2 s; an IRQ had the wrong INTID (x7 = the IAR value). */
.equ TIMED_OUT,         2
.equ STALLED,           3
.equ WRONG_INTID,       4
/* SPSR_EL1 for an eret to EL0: AArch64 EL0t or AArch32 User, with DAIF
 * (AArch32: A, I, F) masked. */
.equ SPSR_EL0T,         0x3C0
.equ SPSR_USR32,        0x1D0
.equ EC_WFX,            0x01
.equ EC_FP,             0x07

/* x13 = the virtual counter `reg` seconds from now, x12 = now.
 * Clobbers x10. */
.macro deadline_after reg
    isb
    mrs     x12, cntvct_el0
    mrs     x10, cntfrq_el0
    madd    x13, x10, \reg, x12
.endm

/* Branches to `label` once the virtual counter has reached x13.
 * Clobbers x10. */
.macro on_deadline label
    isb
    mrs     x10, cntvct_el0
    cmp     x10, x13
    b.hs    \label
.endm

/* STARTED_ADDR = 1. Clobbers x0, x1. */
.macro mark_started
    movlit  x0, STARTED_ADDR
    mov     x1, #1
    str     x1, [x0]
.endm

/* Acknowledges the guest's highest pending IRQ: x1 = the IAR value
 * (GICv3 ICC_IAR1_EL1, GICv2 GICV_IAR). GICv2 clobbers x0. */
.macro ack_irq v3
.if \v3
    mrs     x1, icc_iar1_el1
.else
    movlit  x0, GICC_BASE
    ldr     w1, [x0, #GICC_IAR]
.endif
.endm

/* `dst` = the INTID of `src`, an IAR or HPPIR value (GICv3 bits 23:0,
 * GICv2 bits 9:0). */
.macro intid_of dst, src, v3
.if \v3
    and     \dst, \src, #0xFFFFFF
.else
    and     \dst, \src, #0x3FF
.endif
.endm

/* Ends the IRQ acknowledged as x1. GICv2 clobbers x0. */
.macro eoi_irq v3
.if \v3
    msr     icc_eoir1_el1, x1
    isb
.else
    movlit  x0, GICC_BASE
    str     w1, [x0, #GICC_EOIR]
.endif
.endm

/* In a timer's IRQ handler: x3 = how late it came (the counter `cnt` minus
 * the timer's compare value `cval`), added to x20, the largest kept in
 * x22. Clobbers x4. */
.macro timer_latency cnt, cval
    isb
    mrs     x3, \cnt
    close_window
    mrs     x4, \cval
    sub     x3, x3, x4
    add     x20, x20, x3
    cmp     x3, x22
    csel    x22, x3, x22, hi
.endm

/* Arms the virtual timer for the counter value in x4. Clobbers x0. */
.macro arm_vtimer_x4
    msr     cntv_cval_el0, x4
    mov     x0, #1
    msr     cntv_ctl_el0, x0
    isb
.endm

/* Arms the virtual timer x10 ticks ahead: x4 = its deadline, x13 = x11
 * ticks after it (when a wait for it gives up). Clobbers x0. */
.macro arm_vtimer_ahead
    isb
    mrs     x4, cntvct_el0
    add     x4, x4, x10
    add     x13, x4, x11
    arm_vtimer_x4
.endm

/* The virtual timer interrupts a guest that spins without ever exiting, x9
 * rounds: each round sets the deadline x10 ticks ahead and spins until the
 * handler has run, giving up x11 ticks after the deadline (x6 = TIMED_OUT,
 * test_failure). The handler adds (entry - deadline) to x20 and keeps the
 * largest in x22; it masks the timer before its EOI, as Linux does. */
.macro timer_spin v3
    mov     x20, #0
    mov     x22, #0
    msr     daifclr, #2
1:  mov     x21, #0
    arm_vtimer_ahead
    open_window
2:  cbnz    x21, 3f
    mrs     x5, cntvct_el0
    cmp     x5, x13
    b.lo    2b
    mov     x6, #TIMED_OUT
    test_failure
3:  subs    x9, x9, #1
    b.ne    1b
    test_complete
    sync_failure_at_0x200
    .org    0x280
    timer_latency cntvct_el0, cntv_cval_el0
    mov     x0, #3                  /* IMASK | ENABLE */
    msr     cntv_ctl_el0, x0
    isb
    ack_irq \v3
    eoi_irq \v3
    mov     x21, #1
    eret
.endm

snippet timer_spin_v2
    timer_spin 0
end_snippet timer_spin_v2
snippet timer_spin_v3
    timer_spin 1
end_snippet timer_spin_v3

/* Marks itself started, then spins with IRQs unmasked for x9 seconds (then
 * x6 = TIMED_OUT), running `work` (nothing, or a macro) in every round of
 * its wait; an IRQ at 0x280 is test_complete. */
.macro spin_irq_with work
    mark_started
    deadline_after x9
    msr     daifclr, #2
1:  on_deadline 2f
    \work
    b       1b
2:  mov     x6, #TIMED_OUT
    test_failure
    sync_failure_at_0x200
    .org    0x280
    test_complete
.endm

snippet spin_irq
    spin_irq_with
end_snippet spin_irq

/* spin_irq with an unknown `hvc` in every round of its wait: the monitor
 * answers those straight from its vectors (exit/fast.rs), and an IRQ or a
 * kick must still get through. */
snippet hvc_spin_irq
    spin_irq_with unknown_hvc
end_snippet hvc_spin_irq

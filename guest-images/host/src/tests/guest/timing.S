/* The guest programs of timing.rs (the shared macros and snippets are in
 * guest_code.S, assembled first). */

/* eret to the next instruction at EL0 in AArch64 (aarch32 = 0) or AArch32
 * (aarch32 = 1), DAIF masked. Clobbers x0. */
.macro drop_to_el0 aarch32
.if \aarch32
    mov     x0, #SPSR_USR32
.else
    mov     x0, #SPSR_EL0T
.endif
    msr     spsr_el1, x0
    adr     x0, 70f
    msr     elr_el1, x0
    eret
70:
.endm

/* The A32 completion: str r1 (= 0) to EXIT_TEST_ADDR, then b . */
.macro aarch32_complete
    .word   0xE3A01000              /* mov r1, #0 */
    .word   0xE30F0000              /* movw r0, #0xF000 */
    .word   0xE34000FF              /* movt r0, #0xFF */
    .word   0xE5801000              /* str r1, [r0] */
    .word   0xEAFFFFFE              /* b . */
.endm

/* A lower-EL synchronous vector: an FP/SIMD access trap (EC 0x07) turns FP
 * on (CPACR_EL1.FPEN = 0b11) and returns to run the instruction again; any
 * other exception, or a fourth trap, is test_failure with x6 = `code`,
 * x7 = ESR_EL1, x8 = ELR_EL1. Clobbers x10, x11 (not used by the EL0 code). */
.macro fp_trap_enables_fp code
    mrs     x7, esr_el1
    lsr     x10, x7, #26
    cmp     x10, #EC_FP
    b.ne    71f
    movlit  x10, HANDLER_COUNT_ADDR
    ldr     x11, [x10]
    add     x11, x11, #1
    str     x11, [x10]
    cmp     x11, #3
    b.hi    71f
    mov     x10, #(3 << 20)
    msr     cpacr_el1, x10
    eret
71: mov     x6, #\code
    mrs     x8, elr_el1
    test_failure
.endm

/* #10 VcpuWfi: the timer is enabled and its deadline (0) has passed, so
 * WFI returns at once. x3 = the WFI's ticks. */
snippet vcpu_wfi
    msr     cntv_cval_el0, xzr
    mov     x0, #1
    msr     cntv_ctl_el0, x0
    timed   wfi
    test_complete
end_snippet vcpu_wfi

/* WFE never blocks. x3 = its ticks. */
snippet vcpu_wfe
    timed   wfe
    test_complete
end_snippet vcpu_wfe

/* WFI with the virtual timer 20 ms ahead and IRQs masked, until the
 * deadline: x4 = the deadline, x5 = how many times WFI returned. */
snippet wfi_until_timer
    isb
    mrs     x12, cntvct_el0
    mrs     x10, cntfrq_el0
    mov     x11, #50
    udiv    x10, x10, x11
    add     x4, x12, x10
    arm_vtimer_x4
    mov     x5, #0
1:  wfi
    add     x5, x5, #1
    isb
    mrs     x3, cntvct_el0
    cmp     x3, x4
    b.lo    1b
    test_complete
end_snippet wfi_until_timer

/* The virtual timer wakes a WFI: deadline x4 = 2 ms ahead, IRQs unmasked,
 * WFI until an IRQ or 500 ms. At 0x280: x3 = the counter on arrival, x2 =
 * the IAR value; masks the timer, EOIs, test_complete. */
.macro timer_wakes_wfi v3
    isb
    mrs     x12, cntvct_el0
    mrs     x10, cntfrq_el0
    mov     x11, #500
    udiv    x11, x10, x11
    add     x4, x12, x11
    add     x13, x12, x10, lsr #1
    arm_vtimer_x4
    msr     daifclr, #2
1:  wfi
    on_deadline 2f
    b       1b
2:  mov     x6, #NO_IRQ
    test_failure
    sync_failure_at_0x200
    .org    0x280
    isb
    mrs     x3, cntvct_el0
    ack_irq \v3
    mov     x2, x1
    mov     x0, #3                  /* IMASK | ENABLE */
    msr     cntv_ctl_el0, x0
    isb
    eoi_irq \v3
    test_complete
.endm

/* The EL1 physical timer (CNTP, PPI 30, emulated by the monitor), x9
 * rounds: each sets CNTP_TVAL to x10 ticks and enables the timer, then
 * waits for the handler, spinning on odd rounds and in WFI on even ones,
 * giving up x11 ticks after the deadline (x6 = TIMED_OUT). The handler
 * checks the INTID (else x6 = WRONG_INTID, x7 = IAR) and that CNTP_CTL
 * reads ISTATUS, adds (entry - deadline) to x20, keeps the largest in x22,
 * masks the timer and EOIs. */
.macro ptimer_rounds v3
    mov     x20, #0
    mov     x22, #0
    msr     daifclr, #2
1:  mov     x21, #0
    msr     cntp_tval_el0, x10
    mov     x0, #1
    msr     cntp_ctl_el0, x0
    mrs     x13, cntp_cval_el0
    add     x13, x13, x11
2:  cbnz    x21, 3f
    tbz     x9, #0, 4f
    wfi
4:  isb
    mrs     x5, cntpct_el0
    cmp     x5, x13
    b.lo    2b
    mov     x6, #TIMED_OUT
    test_failure
3:  subs    x9, x9, #1
    b.ne    1b
    test_complete
    sync_failure_at_0x200
    .org    0x280
    timer_latency cntpct_el0, cntp_cval_el0
    ack_irq \v3
    and     x0, x1, #0x3ff
    cmp     x0, #30
    b.eq    5f
    mov     x7, x1
    mov     x6, #WRONG_INTID
    test_failure
5:  mrs     x0, cntp_ctl_el0
    tbnz    x0, #2, 6f
    mov     x7, x0
    mov     x6, #5
    test_failure
6:  mov     x0, #3                  /* IMASK | ENABLE */
    msr     cntp_ctl_el0, x0
    eoi_irq \v3
    mov     x21, #1
    eret
.endm

snippet ptimer_rounds_v2
    ptimer_rounds 0
end_snippet ptimer_rounds_v2

snippet ptimer_rounds_v3
    ptimer_rounds 1
end_snippet ptimer_rounds_v3

/* The virtual timer due at once, IRQs unmasked, then x10 ticks of
 * spinning and test_complete (x21 = 1 only if the IRQ came meanwhile). The
 * handler (x2 = the IAR) masks the timer, EOIs, sets x21 and ends with
 * test_complete too. */
.macro timer_gic_enable v3
    msr     daifclr, #2
    isb
    mrs     x4, cntvct_el0
    arm_vtimer_x4
    add     x13, x4, x10
1:  isb
    mrs     x5, cntvct_el0
    cmp     x5, x13
    b.lo    1b
    test_complete
    sync_failure_at_0x200
    .org    0x280
    ack_irq \v3
    mov     x2, x1
    mov     x0, #3                  /* IMASK | ENABLE */
    msr     cntv_ctl_el0, x0
    isb
    eoi_irq \v3
    mov     x21, #1
    test_complete
.endm

snippet timer_gic_enable_v2
    timer_gic_enable 0
end_snippet timer_gic_enable_v2

snippet timer_gic_enable_v3
    timer_gic_enable 1
end_snippet timer_gic_enable_v3

snippet timer_wakes_wfi_v2
    timer_wakes_wfi 0
end_snippet timer_wakes_wfi_v2

snippet timer_wakes_wfi_v3
    timer_wakes_wfi 1
end_snippet timer_wakes_wfi_v3

/* #21 VcpuKick, bounded: WFI with no timer and IRQs masked for 8 s, then
 * test_failure with x6 = TIMED_OUT. x5 = how many times WFI returned. */
snippet wfi_loop
    mov     x11, #8
    deadline_after x11
    mov     x5, #0
1:  wfi
    add     x5, x5, #1
    on_deadline 2f
    b       1b
2:  mov     x6, #TIMED_OUT
    test_failure
end_snippet wfi_loop

/* WFI with IRQs unmasked for 8 s (then x6 = TIMED_OUT); an IRQ at 0x280
 * is test_complete. */
snippet wfi_irq_loop
    mov     x11, #8
    deadline_after x11
    msr     daifclr, #2
1:  wfi
    on_deadline 2f
    b       1b
2:  mov     x6, #TIMED_OUT
    test_failure
    sync_failure_at_0x200
    .org    0x280
    test_complete
end_snippet wfi_irq_loop

/* Spins for x9 counter ticks with IRQs masked, then test_complete. */
snippet spin_then_complete
    isb
    mrs     x12, cntvct_el0
    add     x13, x12, x9
1:  on_deadline 2f
    b       1b
2:  test_complete
end_snippet spin_then_complete

/* The interrupt storm: IRQs unmasked, spin until STORM_COUNT IRQs were
 * counted (test_complete), 3 s pass without one (x6 = STALLED) or 120 s in
 * all (x6 = TIMED_OUT; it takes about 1 s on an idle QEMU host, but each
 * IRQ needs both CPUs' threads scheduled). The IRQ handler counts INTID 32 at [x19], IRQs with
 * nothing to acknowledge at [x19 + 8], and gives up on any other INTID
 * (x6 = WRONG_INTID, x7 = the IAR value); it uses x0-x3 only. */
.macro interrupt_storm v3
    movlit  x19, STORM_COUNT_ADDR
    mov     x20, #STORM_COUNT
    mov     x21, #0                 /* the count last seen */
    mov     x11, #120
    deadline_after x11
    mov     x22, x12                /* when the count last moved */
    mov     x11, #3
    mul     x23, x10, x11           /* 3 s of ticks */
    mark_started
    msr     daifclr, #2
1:  ldr     x25, [x19]
    cmp     x25, x20
    b.hs    3f
    isb
    mrs     x26, cntvct_el0
    cmp     x25, x21
    b.eq    2f
    mov     x21, x25
    mov     x22, x26
2:  sub     x27, x26, x22
    cmp     x27, x23
    b.hi    4f
    cmp     x26, x13
    b.lo    1b
    mov     x6, #TIMED_OUT
    test_failure
4:  mov     x6, #STALLED
    test_failure
3:  msr     daifset, #2
    test_complete
    sync_failure_at_0x200
    .org    0x280
    ack_irq \v3
    intid_of x2, x1, \v3
    cmp     x2, #1020
    b.hs    5f
    cmp     x2, #32
    b.ne    6f
    ldr     x3, [x19]
    add     x3, x3, #1
    str     x3, [x19]
    eoi_irq \v3
    eret
5:  ldr     x3, [x19, #8]
    add     x3, x3, #1
    str     x3, [x19, #8]
    eret
6:  mov     x6, #WRONG_INTID
    mov     x7, x1
    test_failure
.endm

snippet interrupt_storm_v2
    interrupt_storm 0
end_snippet interrupt_storm_v2

snippet interrupt_storm_v3
    interrupt_storm 1
end_snippet interrupt_storm_v3

/* GICv3 SGIs from the guest: ICC_SGI1R_EL1 with INTID 5 and target list
 * 0b10 (IRM = 0), then INTID 6 with IRM = 1 (every vCPU but this one). */
snippet sgi_packet
    movz    x1, #0x0500, lsl #16
    orr     x1, x1, #0b10
    msr     icc_sgi1r_el1, x1
    movz    x1, #0x0600, lsl #16
    orr     x1, x1, #(1 << 40)
    msr     icc_sgi1r_el1, x1
    test_complete
end_snippet sgi_packet

/* Two vCPUs trading SGIs (GICv3), branching on MPIDR_EL1.Aff0 (x9): vCPU 0
 * sends SGI 3 to vCPU 1, vCPU 1 waits for it and sends SGI 4 back, vCPU 0
 * waits for that. Each waits 5 s at most with IRQs unmasked (then x6 =
 * NO_IRQ); at 0x280, x2 = the IAR value, then EOI and test_complete (vCPU 1
 * sends its SGI first). */
snippet sgi_exchange
    mrs     x9, mpidr_el1
    and     x9, x9, #0xff
    cbnz    x9, 1f
    movz    x1, #0x0300, lsl #16
    orr     x1, x1, #0b10
    msr     icc_sgi1r_el1, x1
1:  mov     x11, #5
    deadline_after x11
    msr     daifclr, #2
2:  on_deadline 3f
    b       2b
3:  mov     x6, #NO_IRQ
    test_failure
    sync_failure_at_0x200
    .org    0x280
    mrs     x1, icc_iar1_el1
    mov     x2, x1
    msr     icc_eoir1_el1, x1
    isb
    cbz     x9, 4f
    movz    x1, #0x0400, lsl #16
    orr     x1, x1, #0b01
    msr     icc_sgi1r_el1, x1
4:  test_complete
end_snippet sgi_exchange

/* #13 VcpuFp: EL0 uses SIMD with CPACR_EL1.FPEN = 0; the trap to EL1
 * (0x400) turns FP on and the instruction runs again (then through the
 * monitor's lazy FP trap). EL0 then completes. */
snippet vcpu_fp
    drop_to_el0 0
    mov     w0, #0xff
    dup     v0.16b, w0
    test_complete
    sync_failure_at_0x200
    .org    0x400
    fp_trap_enables_fp 0x400
end_snippet vcpu_fp

/* #12 VcpuWfiAarch32: A32 WFI at EL0, then the A32 completion. A WFI
 * trapped to EL1 (0x600, EC 0x01) completes from there; any other
 * exception is test_failure with x6 = 0x600, x7 = ESR_EL1, x8 = ELR_EL1. */
snippet vcpu_wfi_aarch32
    drop_to_el0 1
    .word   0xE320F003              /* wfi */
    aarch32_complete
    sync_failure_at_0x200
    .org    0x600
    mrs     x7, esr_el1
    lsr     x10, x7, #26
    cmp     x10, #EC_WFX
    b.ne    1f
    test_complete
1:  mov     x6, #0x600
    mrs     x8, elr_el1
    test_failure
end_snippet vcpu_wfi_aarch32

/* An A32 read at EL0 of DBGDIDR (MRC p14, 0, r1, c0, c0, 0), which
 * MDCR_EL2.TDA traps until the guest's debug registers are loaded; then the
 * A32 completion. Any exception at EL1 (0x600) is test_failure with
 * x6 = 0x600, x7 = ESR_EL1, x8 = ELR_EL1. */
snippet debug_aarch32
    drop_to_el0 1
    .word   0xEE101E10              /* mrc p14, 0, r1, c0, c0, 0 */
    aarch32_complete
    sync_failure_at_0x200
    .org    0x600
    mov     x6, #0x600
    mrs     x7, esr_el1
    mrs     x8, elr_el1
    test_failure
end_snippet debug_aarch32

/* #14 VcpuFpAarch32: A32 vldr at EL0 traps to EL1 (0x600), which turns FP
 * on; then the A32 completion. */
snippet vcpu_fp_aarch32
    drop_to_el0 1
    .word   0xE3A00000              /* mov r0, #0 */
    .word   0xED900B00              /* vldr d0, [r0] */
    aarch32_complete
    sync_failure_at_0x200
    .org    0x600
    fp_trap_enables_fp 0x600
end_snippet vcpu_fp_aarch32

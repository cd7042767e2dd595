/* The guest program of timer_eoi.rs. */

.equ GICC_HPPIR,        0x18
.equ VTIMER_INTID,      27
.equ EXIT_TO_HOST_ADDR, 0xFFF010
/* x6 codes beyond guest_code.S's: the injected SPIs did not all arrive. */
.equ SPIS_MISSING,      6

/* x1 = the INTID of the highest pending interrupt (GICv3 ICC_HPPIR1_EL1,
 * GICv2 GICV_HPPIR). GICv2 clobbers x0. */
.macro hppir_intid v3
.if \v3
    mrs     x1, icc_hppir1_el1
.else
    movlit  x0, GICC_BASE
    ldr     w1, [x0, #GICC_HPPIR]
.endif
    intid_of x1, x1, \v3
.endm

/* Spins until x21 >= x2 and x23 >= x3, or the counter reaches x13 (then
 * test_failure with x6 = `code`). Clobbers x10. */
.macro wait_counts code
1:  cmp     x21, x2
    b.lo    2f
    cmp     x23, x3
    b.hs    3f
2:  on_deadline 4f
    b       1b
4:  mov     x6, #\code
    test_failure
3:
.endm

/*
 * The timer's line after an EOI, an exit at once and a refill of the freed
 * list register. x10 = 1 ms of ticks, x11 = how long each wait may take.
 * 1. The virtual timer is due at once with IRQs masked, so PPI 27 sits in a
 *    list register, pending (x6 = NO_IRQ if it never shows in HPPIR).
 * 2. An exit to the host, which injects SPIs 32-35: three take the free
 *    list registers, one stays pending in the monitor.
 * 3. IRQs unmasked: PPI 27 comes first (priority 0x00 against the SPIs'
 *    0x10). The handler masks the timer, EOIs and at once calls an unknown
 *    hvc; before the next entry the monitor puts the pending SPI into the
 *    freed list register.
 * 4. Once the SPIs are handled (x23 = 4; else x6 = SPIS_MISSING), the timer
 *    is set 1 ms ahead: its interrupt must arrive (x21 = 2) with no help from
 *    the host, which has no tick here (else x6 = TIMED_OUT).
 * The handler counts PPI 27 in x21 and SPIs 32-35 in x23; any other INTID is
 * x6 = WRONG_INTID, x7 = the IAR value.
 */
.macro timer_eoi_refill v3
    mov     x21, #0
    mov     x23, #0
    isb
    mrs     x4, cntvct_el0
    arm_vtimer_x4
    add     x13, x4, x11
1:  hppir_intid \v3
    cmp     x1, #VTIMER_INTID
    b.eq    2f
    on_deadline 3f
    b       1b
3:  mov     x6, #NO_IRQ
    test_failure
2:  movlit  x0, EXIT_TO_HOST_ADDR
    str     xzr, [x0]
    isb
    mrs     x4, cntvct_el0
    add     x13, x4, x11
    mov     x2, #1
    mov     x3, #4
    msr     daifclr, #2
    wait_counts SPIS_MISSING
    arm_vtimer_ahead
    mov     x2, #2
    wait_counts TIMED_OUT
    test_complete
    sync_failure_at_0x200
    .org    0x280
    ack_irq \v3
    intid_of x0, x1, \v3
    cmp     x0, #VTIMER_INTID
    b.eq    5f
    sub     x0, x0, #32
    cmp     x0, #4
    b.lo    6f
    mov     x7, x1
    mov     x6, #WRONG_INTID
    test_failure
6:  add     x23, x23, #1
    eoi_irq \v3
    eret
5:  mov     x0, #3                  /* IMASK | ENABLE */
    msr     cntv_ctl_el0, x0
    isb
    add     x21, x21, #1
    eoi_irq \v3
    unknown_hvc
    eret
.endm

snippet timer_eoi_refill_v2
    timer_eoi_refill 0
end_snippet timer_eoi_refill_v2

snippet timer_eoi_refill_v3
    timer_eoi_refill 1
end_snippet timer_eoi_refill_v3

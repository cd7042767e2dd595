/* The guest programs of interrupts.rs (the shared macros and snippets are in
 * guest_code.S, assembled first). */

/*
 * Interrupt tests (interrupts.rs): the host injects before entry; the guest
 * unmasks IRQs and waits, for IRQ_WAIT_LOOPS iterations at most, for the
 * IRQ at 0x280 (VBAR_EL1 = 0: current EL with SP_ELx). No IRQ: test_failure
 * with x6 = NO_IRQ. A synchronous exception instead (vector 0x200):
 * test_failure with x6 = 0x200, x7 = ESR_EL1, x8 = ELR_EL1. The snippet's
 * IRQ handler follows the macro. Clobbers x9.
 */
.macro irq_test_start
    msr     daifclr, #2
    movlit  x9, IRQ_WAIT_LOOPS
1:  subs    x9, x9, #1
    b.ne    1b
    mov     x6, #NO_IRQ
    test_failure
    sync_failure_at_0x200
    .org    0x280
.endm

.macro timed_wfi
    timed   wfi
.endm

/* #3 VcpuInterrupt: the injected IRQ reaches the guest's vector. */
snippet vcpu_interrupt
    irq_test_start
    test_complete
end_snippet vcpu_interrupt

/* #11 VcpuWfiPendingInterrupt, GICv2: acknowledge the first IRQ through the
 * GICV frame, then WFI with the second one still pending. x2 = the IAR
 * value, x3 = the WFI's ticks. */
snippet vcpu_wfi_pending_interrupt_v2
    irq_test_start
    movlit  x0, GICC_BASE
    ldr     w1, [x0, #GICC_IAR]
    timed_wfi
    mov     x2, x1
    test_complete
end_snippet vcpu_wfi_pending_interrupt_v2

/* #11 VcpuWfiPendingInterrupt, GICv3: as above through ICC_IAR1_EL1. */
snippet vcpu_wfi_pending_interrupt_v3
    irq_test_start
    mrs     x1, icc_iar1_el1
    dsb     sy
    timed_wfi
    mov     x2, x1
    test_complete
end_snippet vcpu_wfi_pending_interrupt_v3

/* An IRQ acknowledged and ended through the GICV frame (GICv2): x2 = the
 * IAR value, x3 = the IAR read again after the EOI. */
snippet irq_ack_eoi_v2
    irq_test_start
    movlit  x0, GICC_BASE
    ldr     w1, [x0, #GICC_IAR]
    mov     x2, x1
    str     w1, [x0, #GICC_EOIR]
    ldr     w3, [x0, #GICC_IAR]
    test_complete
end_snippet irq_ack_eoi_v2

/* The same through ICC_IAR1_EL1 and ICC_EOIR1_EL1 (GICv3). */
snippet irq_ack_eoi_v3
    irq_test_start
    mrs     x1, icc_iar1_el1
    mov     x2, x1
    msr     icc_eoir1_el1, x1
    isb
    mrs     x3, icc_iar1_el1
    test_complete
end_snippet irq_ack_eoi_v3

/*
 * More interrupts than list registers: the host injects vectors 32..39
 * before entry; the guest collects them (x20 bit n = vector 32 + n) and
 * completes once it has all eight, without any other exit, so the ones that
 * did not fit must come through the underflow maintenance interrupt. Gives
 * up at a deadline 2 s ahead (test_failure, x6 = NO_IRQ).
 */
.macro eight_irqs v3
    mov     x20, #0
    mov     x11, #2
    deadline_after x11
    msr     daifclr, #2
1:  cmp     x20, #0xff
    b.eq    2f
    on_deadline 3f
    b       1b
2:  test_complete
3:  mov     x6, #NO_IRQ
    test_failure
    sync_failure_at_0x200
    .org    0x280
    ack_irq \v3
    and     x2, x1, #0x3ff
    sub     x2, x2, #32
    mov     x3, #1
    lsl     x3, x3, x2
    orr     x20, x20, x3
    eoi_irq \v3
    eret
.endm

snippet eight_irqs_v2
    eight_irqs 0
end_snippet eight_irqs_v2

snippet eight_irqs_v3
    eight_irqs 1
end_snippet eight_irqs_v3

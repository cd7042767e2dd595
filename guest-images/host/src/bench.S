/* The guest programs of bench.rs (the shared macros and snippets are in
 * guest_code.S, assembled first). */

/*
 * Interrupt benchmarks (bench.rs). BENCH_STAMP: the counter when the IRQ
 * handler was entered; +8: counter ticks of the guest's EOI; +16: IRQs
 * handled. The guest spins with IRQs unmasked; each IRQ is acknowledged,
 * stamped and completed, then (bench_irq) reported with a MEM exit.
 */
.equ BENCH_STAMP, 0x30000

/*
 * Benchmark guests (bench.rs). Each times itself with the virtual counter,
 * which under `-icount shift=0` advances one tick per instruction: x9 is the
 * iteration count (set by the host), x12 gets the ticks of the loop without
 * the operation, x11 the ticks with it; then test_complete.
 */
.macro timed_loop op
    mov     x13, x9
    isb
    mrs     x10, cntvct_el0
1:  open_window                     /* as in the loop below: cancels out */
    close_window
    subs    x13, x13, #1
    b.ne    1b
    isb
    mrs     x12, cntvct_el0
    sub     x12, x12, x10
    mov     x13, x9
    isb
    mrs     x10, cntvct_el0
2:  open_window
    \op
    close_window
    subs    x13, x13, #1
    b.ne    2b
    isb
    mrs     x11, cntvct_el0
    sub     x11, x11, x10
.endm

/* Guest HVC with an unknown function, back in the guest. */
snippet bench_hvc
    timed_loop unknown_hvc
    test_complete
end_snippet bench_hvc

/* Stores to a BELL trap at TRAP_ADDR. */
snippet bench_bell
    mov     x8, #TRAP_ADDR
    timed_loop bell_store
    test_complete
end_snippet bench_bell

/* A store to a MEM trap, forever: one exit per enter. */
snippet bench_mem_store
    mov     x0, #TRAP_ADDR
1:  str     xzr, [x0]
    b       1b
end_snippet bench_mem_store

/* A load from a MEM trap, forever: one exit per enter. */
snippet bench_mem_load
    mov     x0, #TRAP_ADDR
1:  ldr     x1, [x0]
    b       1b
end_snippet bench_mem_load

.macro bench_irq v3, report
    msr     daifclr, #2
1:  b       1b
    .org    0x280
    isb
    mrs     x3, cntvct_el0
    close_window
    movlit  x2, BENCH_STAMP
    str     x3, [x2]
    ack_irq \v3
    isb
    mrs     x4, cntvct_el0
    eoi_irq \v3
    isb
    mrs     x5, cntvct_el0
    sub     x5, x5, x4
    movlit  x2, BENCH_STAMP
    str     x5, [x2, #8]
    ldr     x5, [x2, #16]
    add     x5, x5, #1
    str     x5, [x2, #16]
.if \report
    mov     x0, #EXIT_TEST_ADDR
    str     xzr, [x0]
.endif
    eret
.endm

snippet bench_irq_v2
    bench_irq 0, 1
end_snippet bench_irq_v2

snippet bench_irq_v3
    bench_irq 1, 1
end_snippet bench_irq_v3

snippet bench_irq_quiet_v2
    bench_irq 0, 0
end_snippet bench_irq_quiet_v2

snippet bench_irq_quiet_v3
    bench_irq 1, 0
end_snippet bench_irq_quiet_v3

/*
 * The virtual timer waking a guest in WFI, x9 times: each round sets the
 * deadline 10,000 ticks ahead and waits; the handler adds (entry - deadline)
 * to x20. Then test_complete.
 */
.macro bench_timer v3
    mov     x20, #0
    msr     daifclr, #2
1:  mov     x21, #0
    isb
    mrs     x4, cntvct_el0
    movz    x5, #10000
    add     x4, x4, x5
    arm_vtimer_x4
2:  open_window
    wfi
    cbz     x21, 2b
    subs    x9, x9, #1
    b.ne    1b
    test_complete
    .org    0x280
    isb
    mrs     x3, cntvct_el0
    close_window
    mrs     x4, cntv_cval_el0
    sub     x3, x3, x4
    add     x20, x20, x3
    mov     x0, #3
    msr     cntv_ctl_el0, x0
    ack_irq \v3
    eoi_irq \v3
    mov     x21, #1
    eret
.endm

snippet bench_timer_v2
    bench_timer 0
end_snippet bench_timer_v2

snippet bench_timer_v3
    bench_timer 1
end_snippet bench_timer_v3

/* The guest programs of world.rs (the shared macros and snippets are in
 * guest_code.S, assembled first). */

snippet insn_table
0:  movlit  x20, INSN_TABLE
1:  ldr     w0, [x20]
    cbz     w0, 3f
    cmp     w0, #1
    b.eq    2f
    adr     x2, 9f
    str     w0, [x2]
    dc      cvau, x2
    dsb     ish
    ic      ivau, x2
    dsb     ish
    isb
    ldr     w3, [x20, #4]
    ldr     x1, [x20, #8]
    cbz     w3, 8f
    ldur    x1, [x20, #-16]
8:  mov     x0, #0
9:  nop
    stp     x1, x0, [x20, #16]
    add     x20, x20, #32
    b       1b
2:  movlit  x0, (EXIT_TEST_ADDR + 0x10)
    str     xzr, [x0]
    add     x20, x20, #32
    b       1b
3:  mov     x0, #EXIT_TEST_ADDR
    str     xzr, [x0]
    b       0b
    .org    0x200
    mrs     x0, esr_el1
    mrs     x9, elr_el1
    add     x9, x9, #4
    msr     elr_el1, x9
    eret
end_snippet insn_table

/*
 * A hardware breakpoint in the guest (world.rs tests): unlocks the OS lock,
 * sets breakpoint 0 on `2:` for EL1 (BCR: BAS 0xF, PMC EL1, enabled),
 * enables debug events (MDSCR_EL1.MDE and KDE, PSTATE.D clear) and runs
 * into it. The breakpoint exception (vector 0x200) ends the test with x6 =
 * its ESR_EL1 and x7 = ELR_EL1; reaching 2:'s successor is test_failure.
 */
snippet hw_breakpoint
    msr     oslar_el1, xzr
    adr     x0, 2f
    msr     dbgbvr0_el1, x0
    mov     x0, #((0xF << 5) | (1 << 1) | 1)
    msr     dbgbcr0_el1, x0
    mov     x0, #((1 << 15) | (1 << 13))
    msr     mdscr_el1, x0
    isb
    msr     daifclr, #8
    isb
2:  nop
    test_failure
    .org    0x200
    mrs     x6, esr_el1
    mrs     x7, elr_el1
    msr     dbgbcr0_el1, xzr
    isb
    test_complete
end_snippet hw_breakpoint

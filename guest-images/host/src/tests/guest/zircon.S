/* The guest programs of zircon.rs (the shared macros and snippets are in
 * guest_code.S, assembled first). */

/* Stores `reg` to every 8 bytes of the scratch region. Clobbers x0, x1. */
.macro write_scratch reg
    movlit  x0, SCRATCH_ADDR
    movlit  x1, (SCRATCH_ADDR + SCRATCH_SIZE)
10: str     \reg, [x0], #8
    cmp     x0, x1
    b.ne    10b
.endm

/* Branches to `fail` unless every 8 bytes of the scratch region hold `reg`.
 * Clobbers x0-x2. */
.macro check_scratch reg, fail
    movlit  x0, SCRATCH_ADDR
    movlit  x1, (SCRATCH_ADDR + SCRATCH_SIZE)
11: ldr     x2, [x0], #8
    cmp     x2, \reg
    b.ne    \fail
    cmp     x0, x1
    b.ne    11b
.endm

/* MAIR/TCR/TTBR0 for the identity table at PAGE_TABLE_PADDR, then
 * SCTLR_EL1 |= M|C|I. Clobbers x0, x1. */
.macro enable_mmu
    mov     x0, #GUEST_MAIR_EL1
    msr     mair_el1, x0
    mov     x0, #GUEST_TCR_EL1
    msr     tcr_el1, x0
    mov     x0, #PAGE_TABLE_PADDR
    msr     ttbr0_el1, x0
    isb
    mrs     x0, sctlr_el1
    mov     x1, #SCTLR_M_C_I
    orr     x0, x0, x1
    msr     sctlr_el1, x0
    dsb     sy
    isb
.endm

/* SCTLR_EL1.M = 0. Clobbers x0. */
.macro disable_mmu
    mrs     x0, sctlr_el1
    bic     x0, x0, #1
    msr     sctlr_el1, x0
    dsb     sy
    isb
.endm

/*
 * Cleans the data caches by set/way, every level up to the point of
 * coherency (CLIDR_EL1.LoC), with the CCSIDR_EL1 layout that
 * ID_AA64MMFR2_EL1.CCIDX selects. Clobbers x0-x5, x7-x13, x16, x17.
 */
.macro clean_dcache_by_set_way
    mrs     x0, clidr_el1
    ubfx    x3, x0, #24, #3         /* LoC */
    lsl     x3, x3, #1              /* LoC * 2, compared with level * 2 */
    cbz     x3, 9f
    mrs     x12, id_aa64mmfr2_el1
    ubfx    x12, x12, #20, #4       /* CCIDX: 64-bit CCSIDR layout */
    mov     x10, #0                 /* level * 2, as CSSELR_EL1 wants it */
5:  add     x2, x10, x10, lsr #1    /* level * 3 */
    lsr     x1, x0, x2
    and     x1, x1, #7              /* cache type of this level */
    cmp     x1, #2
    b.lt    8f                      /* no data cache here */
    msr     csselr_el1, x10
    isb
    mrs     x1, ccsidr_el1
    and     x2, x1, #7
    add     x2, x2, #4              /* log2(line size) */
    cbnz    x12, 3f
    ubfx    x4, x1, #3, #10         /* ways - 1 */
    ubfx    x7, x1, #13, #15        /* sets - 1 */
    b       4f
3:  ubfx    x4, x1, #3, #21
    ubfx    x7, x1, #32, #24
4:  clz     w5, w4                  /* way field position (32: one way) */
    mov     x8, #1
    lsl     x16, x8, x5             /* way step */
    lsl     x9, x4, x5              /* highest way, in place */
    lsl     x17, x8, x2             /* set step */
    lsl     x13, x7, x2             /* highest set, in place */
6:  mov     x7, x13
7:  orr     x11, x10, x9
    orr     x11, x11, x7
    dc      csw, x11
    subs    x7, x7, x17
    b.ge    7b
    subs    x9, x9, x16
    b.ge    6b
8:  add     x10, x10, #2
    cmp     x3, x10
    b.gt    5b
9:  dsb     sy
    isb
.endm

/* #2 VcpuReadWriteState: x[n] += n, sp += 64, then NZCV from sp - 128. */
snippet vcpu_read_write_state
    .irp n,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
    add     x\n, x\n, #\n
    .endr
    add     sp, sp, #64
    cmp     sp, #128
    test_complete
end_snippet vcpu_read_write_state

/* #4-#9: one store of XZR to TRAP_ADDR, then a clean exit. */
snippet guest_set_trap
    mov     x0, #TRAP_ADDR
    str     xzr, [x0]
    test_complete
end_snippet guest_set_trap

/* #16 VcpuPsciSystemOff. */
snippet psci_system_off
    movz    x0, #0x8400, lsl #16
    movk    x0, #0x0008
    smc     #0
    b       .
end_snippet psci_system_off

/* #17 VcpuPsciSystemRestart. */
snippet psci_system_reset
    movz    x0, #0x8400, lsl #16
    movk    x0, #0x0009
    smc     #0
    b       .
end_snippet psci_system_reset

/* #18 DataCacheSetWayOperations. */
snippet dc_set_way_ops
    mov     x0, #0
    dc      csw, x0
    dc      cisw, x0
    dc      isw, x0
    test_complete
end_snippet dc_set_way_ops

/* #19 EnableMmu: memory written with the MMU off reads back with it on. */
snippet enable_mmu
    movlit  x14, 0x0123456789ABCDEF
    write_scratch x14
    enable_mmu
    check_scratch x14, 99f
    test_complete
99: test_failure
end_snippet enable_mmu

/* #20 DisableMmu: cached writes survive turning the MMU off and a set/way
 * clean; uncached writes are seen once it is on again. */
snippet disable_mmu
    enable_mmu
    movlit  x14, 0x1122334455667788
    write_scratch x14
    disable_mmu
    clean_dcache_by_set_way
    check_scratch x14, 99f
    movlit  x14, 0x8877665544332211
    write_scratch x14
    enable_mmu
    check_scratch x14, 99f
    test_complete
99: test_failure
end_snippet disable_mmu

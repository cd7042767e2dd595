/*
 * Guest programs for the guest tests (reference §6.2, arm64). Each snippet
 * sits alone in its own section between NAME_start and NAME_end and is
 * copied byte for byte to guest PA 0, so an offset inside a snippet (`.org`)
 * is a guest address; with VBAR_EL1 = 0 that is where exception vectors go.
 * Guests start at EL1h with the MMU off.
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

/* #26: exits at TRAP_ADDR on every entry. */
snippet vcpu_always_exit
1:  mov     x0, #TRAP_ADDR
    str     xzr, [x0]
    b       1b
end_snippet vcpu_always_exit

/* MMIO reads from a MEM trap page, one exit each (VcpuWriteStateIo). */
snippet vcpu_io_loads
    mov     x0, #TRAP_ADDR
    ldr     w1, [x0, #4]
    ldrsb   x2, [x0, #1]
    ldrsh   w3, [x0, #2]
    ldr     x4, [x0, #8]
    ldrb    wzr, [x0, #3]
    ldrsb   w5, [x0, #5]
    ldrh    w6, [x0, #6]
    test_complete
end_snippet vcpu_io_loads

/* One MMIO read into W1, then a clean exit. */
snippet vcpu_io_one_load
    mov     x0, #TRAP_ADDR
    ldr     w1, [x0]
    test_complete
end_snippet vcpu_io_one_load

/* MMIO writes to a MEM trap page: W5, XZR, a byte of W6. */
snippet mem_trap_stores
    mov     x0, #TRAP_ADDR
    str     w5, [x0]
    str     xzr, [x0, #8]
    strb    w6, [x0, #1]
    test_complete
end_snippet mem_trap_stores

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

/* PSCI CPU_OFF from the guest. */
snippet psci_cpu_off
    movz    x0, #0x8400, lsl #16
    movk    x0, #0x0002
    smc     #0
    b       .
end_snippet psci_cpu_off

/* PSCI CPU_ON(target 1, entry 0x1000, context 7); x1 = the result. */
snippet psci_cpu_on
    movz    x0, #0xC400, lsl #16
    movk    x0, #0x0003
    mov     x1, #1
    mov     x2, #0x1000
    mov     x3, #7
    smc     #0
    mov     x1, x0
    test_complete
end_snippet psci_cpu_on

/* PSCI_VERSION through HVC; x1 = the result. */
snippet psci_version
    movz    x0, #0x8400, lsl #16
    hvc     #0
    mov     x1, x0
    test_complete
end_snippet psci_version

/* Host service-call IDs from the guest: zx_handle_close through HVC
 * (result in x1), zxv_info through SMC (result in x2). */
snippet hvc_unknown_function
    movz    x0, #0xC600, lsl #16
    movk    x0, #0x0001
    hvc     #0
    mov     x1, x0
    movz    x0, #0xC600, lsl #16
    movk    x0, #0x00FF
    smc     #0
    mov     x2, x0
    test_complete
end_snippet hvc_unknown_function

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

/* A load from IPA 0x2000_0000, where nothing is mapped or trapped. */
snippet unmapped_access
    movz    x1, #0x2000, lsl #16
    ldr     x2, [x1]
    test_complete
end_snippet unmapped_access

/* A load from guest RAM at 0x20000 (unmapped by the test first). */
snippet scratch_load
    mov     x1, #SCRATCH_ADDR
    ldr     x2, [x1]
    test_complete
end_snippet scratch_load

/* A load from TRAP_ADDR (a BELL page in guest_bell_read). */
snippet trap_load
    mov     x0, #TRAP_ADDR
    ldr     x1, [x0]
    test_complete
end_snippet trap_load

/* A store pair to a MEM trap page: no instruction syndrome (ISV = 0). */
snippet mem_trap_store_pair
    mov     x2, #TRAP_ADDR
    stp     x0, x1, [x2]
    test_complete
end_snippet mem_trap_store_pair

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
1:  subs    x13, x13, #1
    b.ne    1b
    isb
    mrs     x12, cntvct_el0
    sub     x12, x12, x10
    mov     x13, x9
    isb
    mrs     x10, cntvct_el0
2:  \op
    subs    x13, x13, #1
    b.ne    2b
    isb
    mrs     x11, cntvct_el0
    sub     x11, x11, x10
.endm

.macro unknown_hvc
    mov     x0, #0xEE
    hvc     #0
.endm

.macro bell_store
    str     xzr, [x8]
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

/*
 * FP/SIMD state across exits: enables FP at EL1, puts x1 into d0, exits
 * (MEM store), then on the next entry copies d0 back to x2 and exits again.
 */
snippet fp_state
    mov     x0, #(3 << 20)
    msr     cpacr_el1, x0
    isb
    fmov    d0, x1
    mov     x0, #EXIT_TEST_ADDR
    str     xzr, [x0]
    fmov    x2, d0
    str     xzr, [x0]
    b       .
end_snippet fp_state

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
    .org    0x200
    mov     x6, #0x200
    mrs     x7, esr_el1
    mrs     x8, elr_el1
    test_failure
    .org    0x280
.endm

/* One WFI, timed: x3 = the virtual counter ticks it took. Clobbers x4, x5. */
.macro timed_wfi
    isb
    mrs     x4, cntvct_el0
    wfi
    isb
    mrs     x5, cntvct_el0
    sub     x3, x5, x4
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

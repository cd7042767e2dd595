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

/* One PSCI CPU_ON_64 call through HVC (entry 0x1000, context 7) of
 * `target`: x0 = the result. */
.macro cpu_on target
    movz    x0, #0xC400, lsl #16
    movk    x0, #0x0003
    mov     x1, #\target
    mov     x2, #0x1000
    mov     x3, #7
    hvc     #0
.endm

/* CPU_ON's refusals and its one STARTUP: an Aff1 target (x19) and Aff0 8
 * (x20), both INVALID_PARAMETERS; vCPU 0 itself (x21, ALREADY_ON); vCPU 1
 * (a STARTUP packet, then x22 = SUCCESS) and vCPU 1 again before it has
 * run (x23, ON_PENDING). */
snippet psci_cpu_on_codes
    cpu_on  0x100
    mov     x19, x0
    cpu_on  8
    mov     x20, x0
    cpu_on  0
    mov     x21, x0
    cpu_on  1
    mov     x22, x0
    cpu_on  1
    mov     x23, x0
    test_complete
end_snippet psci_cpu_on_codes

/* PSCI_VERSION through HVC; x1 = the result. */
snippet psci_version
    movz    x0, #0x8400, lsl #16
    hvc     #0
    mov     x1, x0
    test_complete
end_snippet psci_version

/* One PSCI AFFINITY_INFO_64 call: x0 = the result. */
.macro affinity_info target, level
    movz    x0, #0xC400, lsl #16
    movk    x0, #0x0004
    mov     x1, #\target
    mov     x2, #\level
    hvc     #0
.endm

/* PSCI AFFINITY_INFO from vCPU 0, once per entry (each round ends with a
 * clean exit): x19 = vCPU 0 (itself), x20 = vCPU 1, x21 = Aff1 1, x22 =
 * vCPU 0 at level 1. A second vCPU entered at 0x100 calls PSCI CPU_OFF. */
snippet psci_affinity_info
1:  affinity_info 0, 0
    mov     x19, x0
    affinity_info 1, 0
    mov     x20, x0
    affinity_info 0x100, 0
    mov     x21, x0
    affinity_info 0, 1
    mov     x22, x0
    mov     x0, #EXIT_TEST_ADDR
    str     xzr, [x0]
    b       1b
    .org    0x100
    movz    x0, #0x8400, lsl #16
    movk    x0, #0x0002
    hvc     #0
    b       .
end_snippet psci_affinity_info

/* The ID registers the guest sees (HCR_EL2.TID3): ID_AA64PFR0, PFR1, DFR0,
 * ISAR1, ISAR2 and ZFR0 in x1-x6. */
snippet id_registers
    mrs     x1, id_aa64pfr0_el1
    mrs     x2, id_aa64pfr1_el1
    mrs     x3, id_aa64dfr0_el1
    mrs     x4, id_aa64isar1_el1
    mrs     x5, id_aa64isar2_el1
    mrs     x6, S3_0_C0_C4_4
    mrs     x7, id_aa64mmfr1_el1
    test_complete
end_snippet id_registers

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

/* The vector at 0x200 (current EL with SP_ELx, synchronous) for guests
 * that expect an exception: x7 = ESR_EL1, x8 = ELR_EL1, x9 = FAR_EL1, then
 * test_complete. */
.macro sync_report_at_0x200
    .org    0x200
    mrs     x7, esr_el1
    mrs     x8, elr_el1
    mrs     x9, far_el1
    test_complete
.endm

/* A branch to IPA 0x20000000, neither RAM nor a trap: the fetch is a
 * prefetch abort at the guest's EL1 (sync_report_at_0x200). */
snippet fetch_unmapped
    movz    x1, #0x2000, lsl #16
    br      x1
    sync_report_at_0x200
end_snippet fetch_unmapped

/* VBAR_EL1 at 0x20000000, which is not mapped, then a branch there: the
 * prefetch abort's own vector cannot be fetched (an exception loop). */
snippet exception_loop
    movz    x1, #0x2000, lsl #16
    msr     vbar_el1, x1
    isb
    br      x1
end_snippet exception_loop

/* A read of PMCCNTR_EL0, a register guests do not have (the monitor traps
 * the PMU): UNDEFINED at the guest's EL1 (sync_report_at_0x200); x2 = the
 * address of the MRS. */
snippet undefined_sysreg
    adr     x2, 1f
1:  mrs     x3, pmccntr_el0
    mov     x6, #0x55
    test_failure
    sync_report_at_0x200
end_snippet undefined_sysreg

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

/*
 * What a guest sees of its memory (tests/guest/memory.rs), each probe on a
 * fresh vCPU: entered at 0, a 32-bit load from [x1]; entered at 0x40, a
 * 32-bit store of w3 to [x1], then the load. Either reports the loaded value
 * as the data of its clean-exit store.
 */
snippet memory_probe
    ldr     w2, [x1]
    mov     x0, #EXIT_TEST_ADDR
    str     x2, [x0]
    b       .
    .org    0x40
    str     w3, [x1]
    ldr     w2, [x1]
    mov     x0, #EXIT_TEST_ADDR
    str     x2, [x0]
    b       .
end_snippet memory_probe

/*
 * Loads the first word of each 2 MiB block of [x1, x5) over and over
 * (tests/guest/other_cpu.rs, while another CPU splits those blocks); only
 * a kick or a failed access ends it.
 */
snippet block_reads
1:  mov     x3, x1
2:  ldr     w4, [x3]
    add     x3, x3, #0x200000
    cmp     x3, x5
    b.lo    2b
    b       1b
end_snippet block_reads

/*
 * MMIO reads the host leaves uncompleted (tests/guest/io.rs): a load, a
 * store, two loads from the MEM trap page, then PSCI_VERSION (answered in
 * EL2) and PSCI SYSTEM_OFF.
 */
snippet stale_io_reads
    mov     x0, #TRAP_ADDR
    ldr     w1, [x0]
    str     w5, [x0]
    ldr     w1, [x0]
    ldr     w1, [x0]
    movz    x0, #0x8400, lsl #16
    hvc     #0
    movz    x0, #0x8400, lsl #16
    movk    x0, #0x0008
    smc     #0
    b       .
end_snippet stale_io_reads

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
    msr     cntv_cval_el0, x4
    mov     x0, #1
    msr     cntv_ctl_el0, x0
    isb
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
    msr     cntv_cval_el0, x4
    mov     x0, #1
    msr     cntv_ctl_el0, x0
    isb
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
    isb
    mrs     x4, cntvct_el0
    add     x4, x4, x10
    add     x13, x4, x11
    msr     cntv_cval_el0, x4
    mov     x0, #1
    msr     cntv_ctl_el0, x0
    isb
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
    msr     cntv_cval_el0, x4
    mov     x0, #1
    msr     cntv_ctl_el0, x0
    isb
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

snippet timer_spin_v2
    timer_spin 0
end_snippet timer_spin_v2
snippet timer_spin_v3
    timer_spin 1
end_snippet timer_spin_v3

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

/* Marks itself started, then spins with IRQs unmasked for x9 seconds (then
 * x6 = TIMED_OUT); an IRQ at 0x280 is test_complete. */
snippet spin_irq
    mark_started
    deadline_after x9
    msr     daifclr, #2
1:  on_deadline 2f
    b       1b
2:  mov     x6, #TIMED_OUT
    test_failure
    sync_failure_at_0x200
    .org    0x280
    test_complete
end_snippet spin_irq

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
.if \v3
    and     x2, x1, #0xffffff
.else
    and     x2, x1, #0x3ff
.endif
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

/*
 * Interrupt benchmarks (bench.rs). BENCH_STAMP: the counter when the IRQ
 * handler was entered; +8: counter ticks of the guest's EOI; +16: IRQs
 * handled. The guest spins with IRQs unmasked; each IRQ is acknowledged,
 * stamped and completed, then (bench_irq) reported with a MEM exit.
 */
.equ BENCH_STAMP, 0x30000

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
    msr     cntv_cval_el0, x4
    mov     x0, #1
    msr     cntv_ctl_el0, x0
    isb
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

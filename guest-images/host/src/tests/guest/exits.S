/* The guest programs of exits.rs (the shared macros and snippets are in
 * guest_code.S, assembled first). */

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

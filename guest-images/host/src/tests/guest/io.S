/* The guest programs of io.rs (the shared macros and snippets are in
 * guest_code.S, assembled first). */

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

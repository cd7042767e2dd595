/* The guest programs of fp.rs (the shared macros and snippets are in
 * guest_code.S, assembled first). */

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

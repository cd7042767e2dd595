/* The guest programs of memory.rs (the shared macros and snippets are in
 * guest_code.S, assembled first). */

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

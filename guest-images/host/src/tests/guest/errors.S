/* The guest programs of errors.rs (the shared macros and snippets are in
 * guest_code.S, assembled first). */

/* A load from guest RAM at 0x20000 (unmapped by the test first). */
snippet scratch_load
    mov     x1, #SCRATCH_ADDR
    ldr     x2, [x1]
    test_complete
end_snippet scratch_load

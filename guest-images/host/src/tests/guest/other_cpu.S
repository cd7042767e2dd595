/* The guest programs of other_cpu.rs (the shared macros and snippets are in
 * guest_code.S, assembled first). */

/* #26: exits at TRAP_ADDR on every entry. */
snippet vcpu_always_exit
1:  mov     x0, #TRAP_ADDR
    str     xzr, [x0]
    b       1b
end_snippet vcpu_always_exit

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

/*
 * Assembly the on-target tests need: service calls with every register
 * under observation.
 */
.section .text
/*
 * hvc_clobbers(id, x1, x2): fills x3..x30 with known values, makes the
 * service call `id`, and returns a mask of the registers x3..x30 whose
 * values changed (bit n = xn). docs/abi.md §2: none may change.
 */
.global hvc_clobbers
hvc_clobbers:
    stp     x19, x20, [sp, #-96]!
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    .irp n,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
    mov     x\n, #\n
    movk    x\n, #0x5a5a, lsl #16
    .endr
    hvc     #0
    mov     x1, #0
    .irp n,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
    mov     x2, #\n
    movk    x2, #0x5a5a, lsl #16
    cmp     x\n, x2
    cset    x2, ne
    orr     x1, x1, x2, lsl #\n
    .endr
    mov     x0, x1
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     x19, x20, [sp], #96
    ret

/* hvc_imm1(id): `hvc #1` with x0 = id; returns x0. */
.global hvc_imm1
hvc_imm1:
    hvc     #1
    ret

/*
 * fp_enter_probe(vcpu, packet, pattern): d0 = pattern, zx_vcpu_enter(vcpu,
 * packet), then returns x0 = the status and x1 = d0 as the host sees it.
 */
.global fp_enter_probe
fp_enter_probe:
    fmov    d0, x2
    mov     x2, x1
    mov     x1, x0
    movz    w0, #0x0021
    movk    w0, #0xC600, lsl #16
    hvc     #0
    fmov    x1, d0
    ret

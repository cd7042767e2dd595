/*
 * EL2 exception vectors. Every entry saves a RegisterFile (vcpu::regs;
 * x0-x30, ELR_EL2 as pc, SPSR_EL2 as pstate) on the current EL2 stack, calls the Rust handler for its row with
 * the frame, and returns with the (possibly edited) frame restored; except
 * that exceptions from a running guest leave through guest_exit (world.S),
 * and that the host's `hvc #0` (its service and PSCI calls) saves a light
 * frame, see host_sync.
 */

.equ FRAME_SIZE, 272
/* ESR_EL2 of an HVC #0 from AArch64: EC 0x16, IL 1, ISS (the immediate) 0. */
.equ ESR_HVC64_IMM0, 0x5a000000

/* x0-x17 into a frame at sp, at their RegisterFile offsets (`op` is stp
 * or ldp). */
.macro frame_x0_x17 op
    \op     x0, x1, [sp, #0]
    \op     x2, x3, [sp, #16]
    \op     x4, x5, [sp, #32]
    \op     x6, x7, [sp, #48]
    \op     x8, x9, [sp, #64]
    \op     x10, x11, [sp, #80]
    \op     x12, x13, [sp, #96]
    \op     x14, x15, [sp, #112]
    \op     x16, x17, [sp, #128]
.endm

/* x18-x29 of a full frame (`op` is stp or ldp). */
.macro frame_x18_x29 op
    \op     x18, x19, [sp, #144]
    \op     x20, x21, [sp, #160]
    \op     x22, x23, [sp, #176]
    \op     x24, x25, [sp, #192]
    \op     x26, x27, [sp, #208]
    \op     x28, x29, [sp, #224]
.endm

/* x30, ELR_EL2 and SPSR_EL2 into the frame; x0 is free. */
.macro save_x30_elr_spsr
    mrs     x0, elr_el2
    stp     x30, x0, [sp, #240]
    mrs     x0, spsr_el2
    str     x0, [sp, #256]
.endm

/* SPSR_EL2, ELR_EL2 and x30 from the frame; x0 is loaded after. */
.macro restore_spsr_elr_x30
    ldr     x0, [sp, #256]
    msr     spsr_el2, x0
    ldp     x30, x0, [sp, #240]
    msr     elr_el2, x0
.endm

.macro save_frame
    sub     sp, sp, #FRAME_SIZE
    frame_x0_x17 stp
    frame_x18_x29 stp
    save_x30_elr_spsr
.endm

.macro call_handler handler, kind
    save_frame
    mov     x0, sp
    mov     x1, #\kind
    bl      \handler
    b       exception_return
.endm

.macro vector handler, kind
.balign 0x80
    call_handler \handler, \kind
.endm

/*
 * From a lower EL: a guest exit when VTTBR_EL2 holds a guest VMID (world.S),
 * otherwise the host, handled like any other vector.
 */
/* The start of a lower-EL vector: with x0 and x1 pushed, a guest's
 * exception goes to `guest` (guest_exit, or guest_sync_exit for the
 * synchronous vector; x1 = `kind`); the host's falls through. */
.macro lower_vector_entry kind, guest=guest_exit
.balign 0x80
    stp     x0, x1, [sp, #-16]!
    mrs     x0, vttbr_el2
    tst     x0, #0xffff000000000000
    mov     x1, #\kind
    b.ne    \guest
.endm

.macro lower_vector handler, kind
    lower_vector_entry \kind
    ldp     x0, x1, [sp], #16
    call_handler \handler, \kind
.endm

.section .text.vectors, "ax"
.balign 2048
.global el2_vectors
el2_vectors:
    vector  el2_fault, 0            /* current EL, SP_EL0 */
    vector  el2_fault, 1
    vector  el2_fault, 2
    vector  el2_fault, 3
    vector  el2_sync, 0             /* current EL, SP_ELx */
    vector  el2_fault, 5
    vector  el2_fault, 6
    vector  el2_fault, 7
/* lower EL, AArch64: synchronous, from a guest or the host (host_sync) */
    lower_vector_entry 8, guest_sync_exit
    b       host_sync
    lower_vector lower_async, 9
    lower_vector lower_async, 10
    lower_vector lower_async, 11
    vector  el2_fault, 12           /* lower EL, AArch32: EL1 is always AArch64 */
    vector  el2_fault, 13
    vector  el2_fault, 14
    vector  el2_fault, 15

/*
 * A synchronous exception from the host, with its x0 and x1 at [sp]. An
 * `hvc #0` saves and restores only what the Rust code may change: x0-x18
 * and x30 (AAPCS64's caller-saved registers), ELR_EL2 and SPSR_EL2, at
 * their RegisterFile offsets. x19-x29 are callee-saved, so host_call keeps
 * them in the registers, and their slots in the frame are not written: the
 * calls look at x0-x6 only. Anything else takes the full frame.
 */
host_sync:
    mrs     x0, esr_el2
    mov     x1, #ESR_HVC64_IMM0
    cmp     x0, x1
    ldp     x0, x1, [sp], #16
    b.ne    host_sync_full
    sub     sp, sp, #FRAME_SIZE
    frame_x0_x17 stp
    str     x18, [sp, #144]
    save_x30_elr_spsr
    mov     x0, sp
    bl      host_call
    restore_spsr_elr_x30
    frame_x0_x17 ldp
    ldr     x18, [sp, #144]
    add     sp, sp, #FRAME_SIZE
    eret
host_sync_full:
    call_handler lower_sync, 8

exception_return:
    restore_spsr_elr_x30
    frame_x0_x17 ldp
    frame_x18_x29 ldp
    add     sp, sp, #FRAME_SIZE
    eret

/*
 * Drops to EL1 for the first time with the frame at x0 (a RegisterFile built by
 * Rust on this CPU's stack) and returns through it; SP_EL2 stays above it.
 */
.global enter_lower
enter_lower:
    mov     sp, x0
    b       exception_return

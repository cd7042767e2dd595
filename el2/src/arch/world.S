/*
 * The world switch. guest_enter(regs, run) runs the guest whose x0-x30, PC,
 * PSTATE and SP_EL1 are in the RegisterFile at x0, and returns when it
 * exits, with x0 = the kind of exit (the vector row: 8 sync, 9 IRQ, 10 FIQ,
 * 11 SError), except for the hvc calls guest_hvc_fast answers with the
 * run's FastHvc (x1; see guest_sync_exit). The vectors (vectors.S) send an exception from a lower EL here
 * whenever VTTBR_EL2 holds a guest VMID (non-zero).
 *
 * Also: the EL1 system registers and the FP/SIMD registers, saved to and
 * loaded from memory, for the host and guest copies.
 */

.equ REGS_PC, 248
.equ REGS_PSTATE, 256
.equ REGS_SP_EL1, 264
.equ ENTER_FRAME, 112       /* x19-x30, the RegisterFile pointer and guest_enter's run */

/* x2-x17 to or from the RegisterFile at `base` (`op` is stp or ldp). */
.macro regs_x2_x17 op, base
    \op     x2, x3, [\base, #16]
    \op     x4, x5, [\base, #32]
    \op     x6, x7, [\base, #48]
    \op     x8, x9, [\base, #64]
    \op     x10, x11, [\base, #80]
    \op     x12, x13, [\base, #96]
    \op     x14, x15, [\base, #112]
    \op     x16, x17, [\base, #128]
.endm

.section .text.world, "ax"

.global guest_enter
guest_enter:
    stp     x29, x30, [sp, #-ENTER_FRAME]!
    stp     x19, x20, [sp, #16]
    stp     x21, x22, [sp, #32]
    stp     x23, x24, [sp, #48]
    stp     x25, x26, [sp, #64]
    stp     x27, x28, [sp, #80]
    stp     x0, x1, [sp, #96]
    ldp     x1, x2, [x0, #REGS_PC]
    msr     elr_el2, x1
    msr     spsr_el2, x2
    ldr     x1, [x0, #REGS_SP_EL1]
    msr     sp_el1, x1
    regs_x2_x17 ldp, x0
    ldp     x18, x19, [x0, #144]
    ldp     x20, x21, [x0, #160]
    ldp     x22, x23, [x0, #176]
    ldp     x24, x25, [x0, #192]
    ldp     x26, x27, [x0, #208]
    ldp     x28, x29, [x0, #224]
    ldr     x30, [x0, #240]
    ldp     x0, x1, [x0]
    eret

/*
 * Entered from a lower-EL vector while a guest runs: the guest's x0 and x1
 * are at [sp], the exit kind is in x1, and guest_enter's frame is above.
 *
 * A synchronous exit comes to guest_sync_exit first. For an HVC64 it tries
 * guest_hvc_fast (exit/fast.rs, with guest_enter's second argument) with only what the Rust code may
 * change saved in the RegisterFile: x0-x18 and x30 (x19-x29 are
 * callee-saved, so they keep the guest's values through the call). When
 * that has answered, the guest resumes straight from here with those
 * registers loaded again; ELR_EL2, SPSR_EL2 and SP_EL1 were never touched.
 * Otherwise the rest is saved and the exit goes back to the run loop as
 * any other.
 */
.equ EC_HVC64, 0x16
.global guest_sync_exit
guest_sync_exit:
    mrs     x0, esr_el2
    lsr     x0, x0, #26
    cmp     x0, #EC_HVC64
    b.ne    guest_exit
    ldr     x1, [sp, #16 + 104]
    ldr     x0, [sp, #16 + 96]
    regs_x2_x17 stp, x0
    str     x18, [x0, #144]
    str     x30, [x0, #240]
    ldp     x2, x3, [sp]
    stp     x2, x3, [x0]
    bl      guest_hvc_fast
    ldr     x1, [sp, #16 + 96]
    cbz     w0, 1f
    regs_x2_x17 ldp, x1
    ldr     x18, [x1, #144]
    ldr     x30, [x1, #240]
    ldp     x0, x1, [x1]
    add     sp, sp, #16
    eret
1:  /* The long way: x0-x18 and x30 are saved already. */
    mov     x0, x1
    str     x19, [x0, #152]
    add     sp, sp, #16
    mov     x1, #8
    b       guest_exit_rest

.global guest_exit
guest_exit:
    ldr     x0, [sp, #16 + 96]
    regs_x2_x17 stp, x0
    stp     x18, x19, [x0, #144]
    str     x30, [x0, #240]
    ldp     x2, x3, [sp], #16
    stp     x2, x3, [x0]
/* x0 = the RegisterFile with x0-x19 and x30 saved, x1 = the exit kind. */
guest_exit_rest:
    stp     x20, x21, [x0, #160]
    stp     x22, x23, [x0, #176]
    stp     x24, x25, [x0, #192]
    stp     x26, x27, [x0, #208]
    stp     x28, x29, [x0, #224]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [x0, #REGS_PC]
    mrs     x2, sp_el1
    str     x2, [x0, #REGS_SP_EL1]
    mov     x0, x1
    ldp     x19, x20, [sp, #16]
    ldp     x21, x22, [sp, #32]
    ldp     x23, x24, [sp, #48]
    ldp     x25, x26, [sp, #64]
    ldp     x27, x28, [sp, #80]
    ldp     x29, x30, [sp], #ENTER_FRAME
    ret

/*
 * The EL1/EL0 context a world owns, in El1Sysregs order (world.rs): pairs
 * of registers moved with one stp or ldp, then the last one alone.
 */
.macro el1_pairs op
    \op     sctlr_el1, ttbr0_el1, 0
    \op     ttbr1_el1, tcr_el1, 16
    \op     mair_el1, amair_el1, 32
    \op     vbar_el1, contextidr_el1, 48
    \op     tpidr_el1, tpidr_el0, 64
    \op     tpidrro_el0, sp_el0, 80
    \op     elr_el1, spsr_el1, 96
    \op     esr_el1, far_el1, 112
    \op     par_el1, afsr0_el1, 128
    \op     afsr1_el1, cpacr_el1, 144
    \op     csselr_el1, cntkctl_el1, 160
    \op     mdscr_el1, cntv_cval_el0, 176
.endm

.macro save_pair a, b, off
    mrs     x1, \a
    mrs     x2, \b
    stp     x1, x2, [x0, #\off]
.endm

.macro load_pair a, b, off
    ldp     x1, x2, [x0, #\off]
    msr     \a, x1
    msr     \b, x2
.endm

.global el1_save
el1_save:
    el1_pairs save_pair
    mrs     x1, cntv_ctl_el0
    str     x1, [x0, #192]
    ret

.global el1_load
el1_load:
    el1_pairs load_pair
    ldr     x1, [x0, #192]
    msr     cntv_ctl_el0, x1
    ret

/* FP/SIMD state: q0-q31, then FPSR and FPCR (528 bytes). */
.arch_extension fp
.arch_extension simd

.global fp_save
fp_save:
    stp     q0, q1, [x0, #0]
    stp     q2, q3, [x0, #32]
    stp     q4, q5, [x0, #64]
    stp     q6, q7, [x0, #96]
    stp     q8, q9, [x0, #128]
    stp     q10, q11, [x0, #160]
    stp     q12, q13, [x0, #192]
    stp     q14, q15, [x0, #224]
    stp     q16, q17, [x0, #256]
    stp     q18, q19, [x0, #288]
    stp     q20, q21, [x0, #320]
    stp     q22, q23, [x0, #352]
    stp     q24, q25, [x0, #384]
    stp     q26, q27, [x0, #416]
    stp     q28, q29, [x0, #448]
    stp     q30, q31, [x0, #480]
    mrs     x1, fpsr
    mrs     x2, fpcr
    add     x0, x0, #512
    stp     x1, x2, [x0]
    ret

.global fp_load
fp_load:
    ldp     q0, q1, [x0, #0]
    ldp     q2, q3, [x0, #32]
    ldp     q4, q5, [x0, #64]
    ldp     q6, q7, [x0, #96]
    ldp     q8, q9, [x0, #128]
    ldp     q10, q11, [x0, #160]
    ldp     q12, q13, [x0, #192]
    ldp     q14, q15, [x0, #224]
    ldp     q16, q17, [x0, #256]
    ldp     q18, q19, [x0, #288]
    ldp     q20, q21, [x0, #320]
    ldp     q22, q23, [x0, #352]
    ldp     q24, q25, [x0, #384]
    ldp     q26, q27, [x0, #416]
    ldp     q28, q29, [x0, #448]
    ldp     q30, q31, [x0, #480]
    add     x0, x0, #512
    ldp     x1, x2, [x0]
    msr     fpsr, x1
    msr     fpcr, x2
    ret

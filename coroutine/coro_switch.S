/* coro_switch.S — the context switch, for x86-64 and aarch64 (coro.c uses
 * ucontext on every other architecture).
 *
 *     void coro_switch(void **save_sp, void *load_sp);
 *
 * Push the registers the calling convention says a called function must
 * preserve (callee-saved) onto the running stack, store the stack pointer in
 * *save_sp, load load_sp, pop the other context's registers from its stack and
 * return — into whichever coroutine (or main context) saved load_sp. To the C
 * code both sides are an ordinary call that returns later, so caller-saved
 * registers need no saving: the compiler already treats them as clobbered.
 *
 * No system call: the signal mask belongs to the thread and stays as it is.
 * (swapcontext saves and restores it with rt_sigprocmask on every switch.)
 *
 *     void coro_start(void);
 *
 * Where a new coroutine's first switch returns to: coro.c builds a stack whose
 * saved registers hold the coroutine and its C entry point, and whose return
 * address is coro_start, which calls entry(coro). The entry never returns. */

#if defined(__x86_64__) && !defined(CORO_UCONTEXT)

/* DOC: switch-x86-64
 * System V x86-64 ABI: rbx, rbp, r12-r15 and rsp are callee-saved, and so are
 * the control bits of MXCSR and the x87 control word (rounding, precision,
 * exception masks). A coroutine that changed the rounding mode would change it
 * for every other one without the last two; they cost a few cycles. The frame,
 * from the saved stack pointer up:
 *     0: MXCSR (4 bytes), x87 control word (2), padding (2)
 *     8: r15   16: r14   24: r13   32: r12   40: rbx   48: rbp   56: return address */
    .text
    .globl  coro_switch
    .hidden coro_switch
    .type   coro_switch, @function
    .p2align 4
coro_switch:
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)            /* *save_sp = where we are */
    movq    %rsi, %rsp              /* now on the other stack */
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret                             /* into the other context */
    .size   coro_switch, .-coro_switch

/* Entered by coro_switch's ret with rsp 16-byte aligned (coro.c places the
 * frame so), so the call below leaves the entry's stack as the ABI wants it:
 * rsp + 8 a multiple of 16 at its first instruction. SSE code such as
 * printf("%f") faults on a misaligned stack; that is what the rule is for.
 * rbp is 0 here: a backtrace (and ASan's frame-pointer unwinder) stops. */
    .globl  coro_start
    .hidden coro_start
    .type   coro_start, @function
    .p2align 4
coro_start:
    .cfi_startproc
    .cfi_undefined rip              /* the outermost frame: nothing to unwind to */
    movq    %r12, %rdi              /* entry(coro) */
    callq   *%r13
    ud2                             /* the entry never returns */
    .cfi_endproc
    .size   coro_start, .-coro_start

    .section .note.GNU-stack, "", @progbits

#elif defined(__aarch64__) && !defined(CORO_UCONTEXT)

/* DOC: switch-aarch64
 * AAPCS64: x19-x28, the frame pointer x29, the link register x30 (our return
 * address), sp, and the low 64 bits of v8-v15 (d8-d15) are callee-saved.
 * FPCR is not: the ABI makes it global state that only its own support
 * functions change, so it is left alone (unlike x86-64's MXCSR, see above).
 * The frame, 160 bytes from the saved stack pointer up (sp stays 16-aligned):
 *     0: x19 x20   16: x21 x22   32: x23 x24   48: x25 x26   64: x27 x28
 *    80: x29 x30   96: d8 d9    112: d10 d11  128: d12 d13  144: d14 d15 */
    .text
    .globl  coro_switch
    .hidden coro_switch
    .type   coro_switch, %function
    .p2align 4
coro_switch:
    sub     sp, sp, #160
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mov     x9, sp
    str     x9, [x0]                /* *save_sp = where we are */
    mov     sp, x1                  /* now on the other stack */
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #160
    ret                             /* to x30: into the other context */
    .size   coro_switch, .-coro_switch

/* Entered by coro_switch's ret with x19 = the coroutine, x20 = its entry and
 * x29 = 0 (the outermost frame: a backtrace stops here). */
    .globl  coro_start
    .hidden coro_start
    .type   coro_start, %function
    .p2align 4
coro_start:
    .cfi_startproc
    .cfi_undefined x30
    mov     x0, x19                 /* entry(coro) */
    blr     x20
    brk     #0                      /* the entry never returns */
    .cfi_endproc
    .size   coro_start, .-coro_start

    .section .note.GNU-stack, "", %progbits

#elif defined(__linux__) && defined(__ELF__)
/* Another architecture: coro.c switches with ucontext; nothing to assemble. */
    .section .note.GNU-stack, "", %progbits
#endif

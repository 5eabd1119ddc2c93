/*
 * shadow.S -- the instruction windows of shadow.c.  Each window repeats a
 * 3-byte pattern whose second instruction opens an interrupt shadow and
 * whose third is the one the shadow covers (SDM vol 3A 6.8.3):
 *
 *   mov ss:  8e d0 | 41     mov %ax, %ss ; inc %ecx
 *   pop ss:  50 17 | 41     push %eax ; pop %ss ; inc %ecx   (push+pop: 2 bytes)
 *   sti:     fa fb | 41     cli ; sti ; inc %ecx
 *
 * An IRQ pending at the boundary right after the shadowing instruction is
 * taken after the next one: an interrupted EIP at offset 2 of a pattern
 * breaks the rule.  Each window loops until the IRQ handler has counted
 * `shadow_target` interrupts inside it; EAX holds the SS selector to load.
 */
        .set REPS, 256

        .data
        .globl shadow_hits
shadow_hits:    .long 0
        .globl shadow_target
shadow_target:  .long 0

        .text
        .globl win_movss_start, win_movss_end, run_movss
run_movss:
1:
win_movss_start:
        .rept REPS
        movw %ax, %ss
        incl %ecx
        .endr
win_movss_end:
        movl shadow_hits, %edx
        cmpl shadow_target, %edx
        jb 1b
        ret

        .globl win_popss_start, win_popss_end, run_popss
run_popss:
1:
win_popss_start:
        .rept REPS
        pushl %eax
        popl %ss
        incl %ecx
        .endr
win_popss_end:
        movl shadow_hits, %edx
        cmpl shadow_target, %edx
        jb 1b
        ret

        .globl win_sti_start, win_sti_end, run_sti
run_sti:
1:
win_sti_start:
        .rept REPS
        cli
        sti
        incl %ecx
        .endr
win_sti_end:
        movl shadow_hits, %edx
        cmpl shadow_target, %edx
        jb 1b
        ret

/* ring 3: the three windows in turn with the user data selector, then int $0x80 */
        .globl user_code
user_code:
        movl $0x23, %eax
        call run_movss
        movl $0, shadow_hits
        call run_popss
        movl $0, shadow_hits
        call run_sti
        int $0x80
2:      jmp 2b

        .section .note.GNU-stack, "", @progbits

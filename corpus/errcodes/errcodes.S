/*
 * errcodes.S -- the instructions whose delivery faults in errcodes.c.
 * Ring-0 triggers store their resume address in `resume_eip` first: the
 * recording handler irets there.  Ring-3 triggers never come back (the
 * handler calls user_return).
 */
        .data
        .globl resume_eip
resume_eip:     .long 0

        .text
        .globl k_int41, k_ud2, k_wait_irq
k_int41:
        movl $1f, resume_eip
        int $0x41
1:      ret
k_ud2:
        movl $1f, resume_eip
        ud2
1:      ret
/* IF=1 until an IRQ is taken (the handler resumes past the loop) */
k_wait_irq:
        movl $1f, resume_eip
        sti
2:      jmp 2b
1:      cli
        ret

        .globl u_int41, u_ud2, u_int3, u_into, u_spin
u_int41:
        int $0x41
        jmp u_int41
u_ud2:
        ud2
u_int3:
        int3
u_into:
        pushl $0x802
        popfl
        into
u_spin:
        jmp u_spin

        .section .note.GNU-stack, "", @progbits

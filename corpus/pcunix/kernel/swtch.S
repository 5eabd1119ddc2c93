/*
 * pcunix/kernel/swtch.S -- void swtch(struct context **save, struct context *to)
 * Saves the callee-saved registers on the current stack, stores that stack
 * pointer in *save, and resumes the context `to` (its own stack).  The
 * return address pushed by the call is the context's eip.
 */
        .text
        .globl swtch
swtch:
        movl 4(%esp), %eax
        movl 8(%esp), %edx
        pushl %ebp
        pushl %ebx
        pushl %esi
        pushl %edi
        movl %esp, (%eax)
        movl %edx, %esp
        popl %edi
        popl %esi
        popl %ebx
        popl %ebp
        ret

        .section .note.GNU-stack, "", @progbits

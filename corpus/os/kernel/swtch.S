/*
 * corpus/os/kernel/swtch.S -- void swtch(struct context **old, struct context *new)
 *
 * Save the callee-saved registers on the current kernel stack, store that
 * stack pointer (a struct context *, proc.h) in *old, load new as the
 * stack pointer and pop its registers: the `ret` resumes the other kernel
 * thread where it called swtch (or, the first time, at its context->eip).
 */
        .text
        .globl swtch
swtch:
        movl    4(%esp), %eax           /* old */
        movl    8(%esp), %edx           /* new */
        pushl   %ebp
        pushl   %ebx
        pushl   %esi
        pushl   %edi
        movl    %esp, (%eax)
        movl    %edx, %esp
        popl    %edi
        popl    %esi
        popl    %ebx
        popl    %ebp
        ret

        .section .note.GNU-stack, "", @progbits

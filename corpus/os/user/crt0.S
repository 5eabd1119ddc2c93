/*
 * corpus/os/user/crt0.S -- a program's first instruction.  exec() leaves
 * argc at (%esp) and argv at 4(%esp) (kernel/exec.c), which is how a C
 * function finds its arguments after its return address: a plain call
 * gives main them, and main's return value goes to exit().
 */
        .section .text.start, "ax"
        .globl _start
_start:
        xorl    %ebp, %ebp              /* the end of the frame-pointer chain */
        call    main
        pushl   %eax
        call    exit
1:      jmp     1b                      /* exit does not return */

        .section .note.GNU-stack, "", @progbits

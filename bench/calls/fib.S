/* fib(n): naive recursion, placed so that its body straddles a page boundary */
        .text
        .p2align 12
        .skip 4096 - 12
        .globl fib
        .type fib, @function
fib:    movl 4(%esp), %eax
        cmpl $2, %eax
        jb 1f
        pushl %ebx
        decl %eax
        pushl %eax
        call fib
        movl %eax, %ebx
        decl (%esp)
        call fib
        addl $4, %esp
        addl %ebx, %eax
        popl %ebx
1:      ret
        .section .note.GNU-stack, "", @progbits

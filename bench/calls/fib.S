/* fib(n): naive recursion, placed so that its body straddles a page boundary 10
 * bytes in: unicorn then runs it as blocks whose keys collided in the bare machine's
 * old direct-mapped instruction-counter table (635,715 misses, a Python call each,
 * on this guest; 93 with the set-associative table, runtime/pc/_hooks.c) */
        .text
        .p2align 12
        .skip 4096 - 10
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

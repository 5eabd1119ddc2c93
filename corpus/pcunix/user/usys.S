/*
 * pcunix/user/usys.S -- _start and the system call stubs.  The kernel
 * starts a program with esp -> argc, argv (kernel/exec.c); a call pushes
 * the return address, so main(argc, argv) finds them as its arguments.
 * System calls: int $0x30, number in EAX, arguments in EBX, ECX, EDX.
 */
#include "../include/syscall.h"

        .section .text.start, "ax"
        .globl _start
_start:
        call main
        pushl %eax
        call exit
1:      jmp 1b

        .text
        .macro SYSCALL name, number
        .globl \name
\name:
        pushl %ebx
        movl 8(%esp), %ebx
        movl 12(%esp), %ecx
        movl 16(%esp), %edx
        movl $\number, %eax
        int $T_SYSCALL
        popl %ebx
        ret
        .endm

        SYSCALL exit, SYS_exit
        SYSCALL write, SYS_write
        SYSCALL read, SYS_read
        SYSCALL open, SYS_open
        SYSCALL close, SYS_close
        SYSCALL spawn, SYS_spawn
        SYSCALL wait, SYS_wait
        SYSCALL readdir, SYS_readdir
        SYSCALL meminfo, SYS_meminfo
        SYSCALL halt, SYS_halt
        SYSCALL getpid, SYS_getpid

        .section .note.GNU-stack, "", @progbits

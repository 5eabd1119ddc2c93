/*
 * corpus/os/user/usys.S -- the system call stubs: arguments from the C
 * stack into EBX, ECX, EDX, the number into EAX, then int $0x40 (ABI:
 * include/syscall.h).  EBX is callee-saved in the i386 ABI, so it is
 * preserved around the trap.
 */
#include "../include/syscall.h"

/* A C preprocessor macro (not .macro): SYS_##name must become a number. */
#define SYSCALL(name)                   \
        .globl name;                    \
        .type name, @function;          \
name:                                   \
        pushl   %ebx;                   \
        movl    8(%esp), %ebx;          \
        movl    12(%esp), %ecx;         \
        movl    16(%esp), %edx;         \
        movl    $SYS_##name, %eax;      \
        int     $T_SYSCALL;             \
        popl    %ebx;                   \
        ret

        .text
SYSCALL(fork)
SYSCALL(exit)
SYSCALL(wait)
SYSCALL(read)
SYSCALL(write)
SYSCALL(open)
SYSCALL(close)
SYSCALL(exec)
SYSCALL(sbrk)
SYSCALL(getpid)
SYSCALL(sleep)
SYSCALL(kill)
SYSCALL(fstat)
SYSCALL(poweroff)

        .section .note.GNU-stack, "", @progbits

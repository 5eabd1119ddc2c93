/*
 * iret.S -- IRET transitions for the iret guest (see iret.c).
 */
        .data
        .align 4
        .globl iret_back
iret_back:  .long 0             /* linear return address for seg30_target */
        .globl seg30_cs
seg30_cs:   .long 0

        .text
/* ------------------------------------------------------------------ *
 * seg30_target: reached by IRET into code segment 0x30 (base 0x1000) at
 * ring 0; records CS and IRETs back to 0x08:iret_back.
 */
        .globl seg30_target
seg30_target:
        movl %cs, %eax
        movl %eax, seg30_cs
        pushfl
        pushl $0x08
        pushl iret_back
        iretl

/* ------------------------------------------------------------------ *
 * user code.  Syscalls (int 0x80): eax = 0 exit, eax = N report N with
 * ebx=ds ecx=es edx=fs esi=gs edi=pushf ebp=esp as read at ring 3.
 * DS may be null on entry: no memory operand uses DS before it is
 * reloaded (pushf/push/pop use SS).
 */
        .macro REPORT num
        movl %ds, %ebx
        movl %es, %ecx
        movl %fs, %edx
        movl %gs, %esi
        pushfl
        popl %edi
        movl %esp, %ebp
        movl $\num, %eax
        int $0x80
        .endm

        .globl user1, user1_cli, user1_iret_gp, user1_iret_gp_resume
user1:
        REPORT 1
user1_cli:
        cli                             /* IOPL 0: #GP(0) */
        pushl $0x3003                   /* ask for IOPL 3, IF 0, CF 1 */
        pushl $0x1b
        pushl $1f
        iretl                           /* ring 3 -> ring 3 */
1:      REPORT 2
        pushl $0x2
        pushl $0x08
        pushl $2f
user1_iret_gp:
        iretl                           /* ring 3 -> ring 0: #GP(0x08) */
user1_iret_gp_resume:
        leal 12(%esp), %esp             /* no flags change */
        movw $0x23, %ax
        movw %ax, %ds
        REPORT 3
        movl $0, %eax
        int $0x80
2:      jmp 2b

        .globl user2
user2:
        REPORT 1
        cli                             /* IOPL 3: allowed */
        REPORT 2
        pushl $0x0203                   /* ask for IOPL 0, IF 1, CF 1 */
        pushl $0x1b
        pushl $1f
        iretl
1:      REPORT 3
        movl $0, %eax
        int $0x80
2:      jmp 2b

        .section .note.GNU-stack, "", @progbits

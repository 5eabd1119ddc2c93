/*
 * iret.S -- IRET transitions for the iret guest (see iret.c).
 */
        .bss
        .align 4
ksp:    .long 0

        .data
        .align 4
        .globl iret_back
iret_back:  .long 0             /* linear return address for seg30_target */
        .globl seg30_cs
seg30_cs:   .long 0

        .text
/* ------------------------------------------------------------------ *
 * uint32_t iret_to_user(uint32_t eip, uint32_t esp, uint32_t eflags,
 *                       uint32_t ds, uint32_t es, uint32_t fs, uint32_t gs)
 * Saves the kernel context, loads DS/ES/FS/GS with the given (ring-0
 * visible) selectors and IRETs to 0x1b:eip with SS:ESP = 0x23:esp.  The
 * user code comes back with int 0x80, whose handler calls
 * back_to_kernel(v): iret_to_user then returns v.
 */
        .globl iret_to_user
iret_to_user:
        pushl %ebp
        pushl %ebx
        pushl %esi
        pushl %edi
        pushfl
        movl %esp, ksp
        movl 24(%esp), %eax             /* eip */
        movl 28(%esp), %ecx             /* esp */
        movl 32(%esp), %edx             /* eflags */
        pushl $0x23
        pushl %ecx
        pushl %edx
        pushl $0x1b
        pushl %eax
        movl ksp, %ebp
        movl 40(%ebp), %eax
        movw %ax, %es
        movl 44(%ebp), %eax
        movw %ax, %fs
        movl 48(%ebp), %eax
        movw %ax, %gs
        movl 36(%ebp), %eax
        movw %ax, %ds                   /* last: memory accesses above use ds */
        iretl

        .globl back_to_kernel
back_to_kernel:
        movl 4(%esp), %eax
        movw $0x10, %cx
        movw %cx, %ds
        movw %cx, %es
        movw %cx, %fs
        movw %cx, %gs
        movw %cx, %ss
        movl ksp, %esp
        popfl
        popl %edi
        popl %esi
        popl %ebx
        popl %ebp
        ret

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

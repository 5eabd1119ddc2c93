/*
 * farcall.S -- callees and ring-3 code for the farcall guest (see farcall.c).
 *
 * SEG30 (selector 0x30) is a ring-0 code segment with base 0x1000, so code
 * reached through it runs at EIP = linear address - 0x1000.
 */
#define SEG30_BASE 0x1000

        .data
        .align 4
/* record filled by the callees: */
        .globl rec
rec:
rec_cs:     .long 0     /* 0  CS seen by the callee */
rec_eip:    .long 0     /* 4  EIP of the callee's label (via call/pop) */
rec_esp:    .long 0     /* 8  ESP at entry */
rec_ss:     .long 0     /* 12 SS at entry */
rec_stk:    .long 0, 0, 0, 0, 0, 0   /* 16.. 6 dwords at ESP at entry */

        .globl jmp_back
jmp_back:   .long 0, 0  /* m16:32 far pointer used by jmp_target to come back */

        .text
/* ------------------------------------------------------------------ *
 * far_callee / far_callee_pop8: run in any code segment (the only code
 * that depends on CS is the call/pop pair, which yields the offset).
 */
        .macro RECORD
        movl %esp, rec_esp
        movl %eax, rec_stk+20           /* scratch: keep eax */
        xorl %eax, %eax
        movw %cs, %ax
        movl %eax, rec_cs
        movw %ss, %ax
        movl %eax, rec_ss
        movl 0(%esp), %eax
        movl %eax, rec_stk+0
        movl 4(%esp), %eax
        movl %eax, rec_stk+4
        movl 8(%esp), %eax
        movl %eax, rec_stk+8
        movl 12(%esp), %eax
        movl %eax, rec_stk+12
        movl 16(%esp), %eax
        movl %eax, rec_stk+16
        movl 20(%esp), %eax
        xchgl %eax, rec_stk+20          /* restore eax, store dword 5 */
        call 9f
9:      popl rec_eip
        .endm

        .globl far_callee
far_callee:
        RECORD
        lret

        .globl far_callee_pop8
far_callee_pop8:
        RECORD
        lret $8

/* reached by ljmp; comes back with an indirect far jmp through jmp_back */
        .globl jmp_target
jmp_target:
        RECORD
        ljmp *jmp_back

/* ------------------------------------------------------------------ *
 * priv_callee: target of the DPL-3 call gate (selector 0x40, 2 params) to
 * 0x08:priv_callee.  Records the inner stack, then loads DS/ES with the
 * ring-0 data selector before returning to ring 3 with lret $8: the
 * processor must null DS and ES on the way out (DPL 0 < CPL 3).
 */
        .globl priv_callee
priv_callee:
        RECORD
        movw $0x10, %ax
        movw %ax, %ds
        movw %ax, %es
        lret $8

/* ------------------------------------------------------------------ *
 * ring-3 code.  Results in user_rec:
 *   0 esp before pushing the parameters
 *   4 esp after the gate call returned
 *   8 ds after return   12 es after return   16 fs   20 gs
 *  24 cs after return   28 ss after return
 *  32 #GP recovery marker (set by the kernel handler)
 */
        .data
        .globl user_rec
user_rec:   .long 0, 0, 0, 0, 0, 0, 0, 0, 0

        .text
        .globl user_code
user_code:
        movl %esp, user_rec+0
        pushl $0x11111111
        pushl $0x22222222
        lcall $0x43, $0                 /* gate 0x40, RPL 3 */
        .globl user_after_lcall
user_after_lcall:
        movl %ds, %eax                  /* read before touching memory */
        movl %es, %ebx
        movl %fs, %ecx
        movl %gs, %edx
        movw $0x23, %si
        movw %si, %ds
        movw %si, %es
        movl %esp, user_rec+4
        movl %eax, user_rec+8
        movl %ebx, user_rec+12
        movl %ecx, user_rec+16
        movl %edx, user_rec+20
        movl %cs, %eax
        movl %eax, user_rec+24
        movl %ss, %eax
        movl %eax, user_rec+28
        /* a DPL-0 call gate is out of reach from ring 3: #GP(0x38) */
        .globl user_gp_insn, user_gp_resume
user_gp_insn:
        lcall $0x3b, $0
user_gp_resume:
        movl $0, %eax
        int $0x80
1:      jmp 1b

        .section .note.GNU-stack, "", @progbits

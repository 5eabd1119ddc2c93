/*
 * corpus/sysmix/sysmix.S -- the pieces of the sysmix guest that must be
 * assembly (ring 3 is entered with the library's run_user_eflags): the far-call
 * and far-jump targets that run in code segments with a nonzero base, and
 * the ring-0 target of the ring-3 call gate.
 *
 * far_callee and far_jmp_target run in any code segment: their only
 * CS-dependent code is a call/pop pair, which yields the EIP (an offset
 * from the segment base, i.e. linear address - base).  Data accesses go
 * through DS, which is flat at both privilege levels.
 */

        .text
/* ------------------------------------------------------------------ *
 * far_callee: reached by a far call with one dword argument; records
 *   far_rec[0] CS, [1] EIP of far_label (offset in CS), [2] ESP at entry,
 *   [3] return EIP, [4] return CS slot, [5] the argument
 * and returns with lret $4 (pops the argument too).
 */
        .globl far_callee, far_label
        .type far_callee, @function
far_callee:
        movl %esp, far_rec+8
        pushl %eax
        xorl %eax, %eax
        movw %cs, %ax
        movl %eax, far_rec+0
        movl 4(%esp), %eax
        movl %eax, far_rec+12
        movl 8(%esp), %eax
        movl %eax, far_rec+16
        movl 12(%esp), %eax
        movl %eax, far_rec+20
        call far_label
far_label:
        popl far_rec+4
        popl %eax
        lret $4

/* far_jmp_target: reached by a far jmp (no stack use); records CS, the
 * EIP of jmp_label and ESP, then jumps back through the m16:32 pointer
 * jmp_back.  Clobbers EAX. */
        .globl far_jmp_target, jmp_label
        .type far_jmp_target, @function
far_jmp_target:
        xorl %eax, %eax
        movw %cs, %ax
        movl %eax, far_rec+0
        call jmp_label
jmp_label:
        popl far_rec+4
        movl %esp, far_rec+8
        ljmp *jmp_back

/* ------------------------------------------------------------------ *
 * gate_target: 0x08:gate_target behind the DPL-3 call gate 0x40 (3
 * parameters).  Records in gate_rec:
 *   [0] ESP at entry, [1] CS, [2] SS, [3..9] 7 dwords at ESP at entry
 *   (EIP, CS, 3 parameters, and on a privilege change the caller's ESP
 *   and SS), [10] CR0, [11] CMOS status register D, [12] EFLAGS
 * -- CR0 and port I/O prove it runs at CPL 0 -- and returns 0x600df00d in
 * EAX with lret $12.
 */
        .globl gate_target
        .type gate_target, @function
gate_target:
        movl %esp, gate_rec+0
        pushl %ecx
        xorl %eax, %eax
        movw %cs, %ax
        movl %eax, gate_rec+4
        movw %ss, %ax
        movl %eax, gate_rec+8
        movl gate_rec+0, %ecx
        movl 0(%ecx), %eax
        movl %eax, gate_rec+12
        movl 4(%ecx), %eax
        movl %eax, gate_rec+16
        movl 8(%ecx), %eax
        movl %eax, gate_rec+20
        movl 12(%ecx), %eax
        movl %eax, gate_rec+24
        movl 16(%ecx), %eax
        movl %eax, gate_rec+28
        movl 20(%ecx), %eax
        movl %eax, gate_rec+32
        movl 24(%ecx), %eax
        movl %eax, gate_rec+36
        movl %cr0, %eax
        movl %eax, gate_rec+40
        movb $0x0d, %al
        outb %al, $0x70
        inb $0x71, %al
        movzbl %al, %eax
        movl %eax, gate_rec+44
        pushfl
        popl gate_rec+48
        popl %ecx
        movl $0x600df00d, %eax
        lret $12

        .section .note.GNU-stack, "", @progbits

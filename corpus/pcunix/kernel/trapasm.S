/*
 * pcunix/kernel/trapasm.S -- the 256 interrupt entry points and the common
 * path into trap().  Each vector stub pushes a zero "error code" where the
 * CPU does not push one (SDM 3A 6.13: vectors 8, 10-14 and 17 do), then its
 * vector number; alltraps saves the segment and general registers to make
 * a struct trapframe (defs.h).
 */
        .macro VECTOR n
        .align 16
        .if (\n == 8) || (\n == 10) || (\n == 11) || (\n == 12) || (\n == 13) || (\n == 14) || (\n == 17)
        .else
        pushl $0
        .endif
        pushl $\n
        jmp alltraps
        .endm

        .text
        .altmacro
        .align 16
        .globl vectors
vectors:
        .set i, 0
        .rept 256
        VECTOR %i
        .set i, i + 1
        .endr
        .noaltmacro

alltraps:
        pushl %ds
        pushl %es
        pushl %fs
        pushl %gs
        pushal
        movw $0x10, %ax                 /* SEL(SEG_KDATA, 0) */
        movw %ax, %ds
        movw %ax, %es
        pushl %esp
        call trap
        addl $4, %esp
        .globl trapret
trapret:
        popal
        popl %gs
        popl %fs
        popl %es
        popl %ds
        addl $8, %esp                   /* trapno, err */
        iretl

        .section .note.GNU-stack, "", @progbits

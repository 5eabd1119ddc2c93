/*
 * corpus/os/kernel/vectors.S -- one entry stub per interrupt vector.
 * Each pushes a zero where the CPU pushes no error code (all but 8, 10-14
 * and 17: SDM vol. 3A, table 6-1), then its vector number, and joins
 * alltraps (trapasm.S).  `vectors` is the table of stub addresses for the
 * IDT.
 */
        .altmacro
        .macro STUB v
        .align 8
vector\v:
        .if (\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17)
        .else
        pushl   $0
        .endif
        pushl   $\v
        jmp     alltraps
        .endm

        .macro ADDR v
        .long   vector\v
        .endm

        .text
        .set    v, 0
        .rept   256
        STUB    %v
        .set    v, v + 1
        .endr

        .section .rodata
        .align 4
        .globl vectors
vectors:
        .set    v, 0
        .rept   256
        ADDR    %v
        .set    v, v + 1
        .endr

        .section .note.GNU-stack, "", @progbits

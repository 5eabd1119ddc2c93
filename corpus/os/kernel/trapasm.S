/*
 * corpus/os/kernel/trapasm.S -- the common interrupt path: build a struct
 * trapframe (trap.h), call trap(tf) on kernel data segments, and return
 * through the frame with iret (to ring 3 or to ring 0).
 */
        .text
        .globl alltraps
alltraps:
        pushl   %ds
        pushl   %es
        pushl   %fs
        pushl   %gs
        pushal
        movw    $0x10, %ax              /* KDATA_SEL */
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %fs
        movw    %ax, %gs
        cld
        pushl   %esp                    /* struct trapframe * */
        call    trap
        addl    $4, %esp

        /* A new process starts here too: forkret returns into trapret with
         * its kernel stack pointing at the trap frame fork() or exec() made. */
        .globl trapret
trapret:
        popal
        popl    %gs
        popl    %fs
        popl    %es
        popl    %ds
        addl    $8, %esp                /* vector and error code */
        iret

        .section .note.GNU-stack, "", @progbits

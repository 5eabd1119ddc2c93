/*
 * intn.S -- ring-3 code and a raw (frame-recording) handler for intn.c.
 */
        .data
        .align 4
/* raw_handler: the three dwords at ESP on entry (no C stub in between) */
        .globl raw_frame
raw_frame:  .long 0, 0, 0, 0
        .globl raw_count
raw_count:  .long 0

/* addresses of the interrupt instructions in user_code: start, end */
        .globl user_sites
user_sites:
        .long us0, ue0          /* int $0x40  (DPL-0 gate)        */
        .long us1, ue1          /* int3       (DPL-0 gate)        */
        .long us2, ue2          /* int $3     (DPL-0 gate)        */
        .long us3, ue3          /* into, OF=1 (DPL-0 gate)        */
        .long us4, ue4          /* int $0x41  (DPL-3 trap gate)   */
        .long us5, ue5          /* int $0x42  (DPL-3 intr gate)   */
        .long 0, 0

        .text
/* Vectors 8 and 14 normally carry an error code, but INT n never pushes
 * one: record the frame exactly as found and iret. */
        .globl raw_handler
raw_handler:
        pushl %eax
        movl 4(%esp), %eax
        movl %eax, raw_frame
        movl 8(%esp), %eax
        movl %eax, raw_frame+4
        movl 12(%esp), %eax
        movl %eax, raw_frame+8
        movl 16(%esp), %eax
        movl %eax, raw_frame+12
        incl raw_count
        popl %eax
        iret

/* ring-3 code: every interrupt instruction is bracketed by labels */
        .globl user_code
user_code:
        pushl $0x2                      /* deterministic flags in the frames */
        popfl
us0:    int $0x40
ue0:
us1:    int3
ue1:
us2:    int $3
ue2:
        pushl $0x802                    /* OF=1 (IF=0, IOPL=0 at ring 3) */
        popfl
us3:    into
ue3:
        pushl $0x2
        popfl
        pushl $0x8d7                    /* arithmetic flags visible in the frame */
        popfl
us4:    int $0x41
ue4:
us5:    int $0x42
ue5:
        pushl $0x2
        popfl
        movl $0, %eax
        int $0x80
1:      jmp 1b

        .section .note.GNU-stack, "", @progbits

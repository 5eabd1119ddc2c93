/*
 * rings.S -- entering rings 1 and 2, the one-instruction cases run there, a ring-1
 * service behind a DPL-2 call gate, a ring-1 interrupt handler, a ring-2 serial
 * "driver" (see rings.c).
 */
        .text
/* uint32_t run_ring(uint32_t cs, uint32_t ss, uint32_t eip, uint32_t esp, uint32_t eflags):
 * iret to cs:eip at its ring, ss:esp, ds = es = fs = gs = 0x23 (DPL 3: loadable at any
 * CPL); a ring-0 handler calls ring_return(v) to come back here, returning v. */
        .globl run_ring
run_ring:
        pushl %ebp
        pushl %ebx
        pushl %esi
        pushl %edi
        pushfl
        movl %esp, ring_ksp
        movl %esp, %ebp
        pushl 28(%ebp)                  /* ss */
        pushl 36(%ebp)                  /* esp */
        pushl 40(%ebp)                  /* eflags */
        pushl 24(%ebp)                  /* cs */
        pushl 32(%ebp)                  /* eip */
        movw $0x23, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %fs
        movw %ax, %gs
        iretl

/* void ring_return(uint32_t v) -- from a ring-0 handler */
        .globl ring_return
ring_return:
        movl 4(%esp), %eax
        movw $0x10, %cx
        movw %cx, %ds
        movw %cx, %es
        movw %cx, %fs
        movw %cx, %gs
        movw %cx, %ss
        movl ring_ksp, %esp
        popfl
        popl %edi
        popl %esi
        popl %ebx
        popl %ebp
        ret

/* the cases: t_NAME is entered; f_NAME is the instruction that may fault; int $0x81 ends */
        .macro CASE name
        .globl t_\name, f_\name
t_\name:
        .endm
        .macro FAULTS name
f_\name:
        .endm
        .macro END
        int $0x81
        .endm

CASE cli
FAULTS cli
        cli
END
CASE sti
FAULTS sti
        sti
END
CASE hlt
FAULTS hlt
        hlt
END
CASE lgdt
FAULTS lgdt
        lgdt gdt_ptr
END
CASE lidt
FAULTS lidt
        lidt gdt_ptr
END
CASE lldt
        xorl %eax, %eax
FAULTS lldt
        lldt %ax
END
CASE ltr
        movw $0x28, %ax
FAULTS ltr
        ltr %ax
END
CASE invlpg
FAULTS invlpg
        invlpg 0x1000
END
CASE movcr3
        xorl %eax, %eax
FAULTS movcr3
        movl %eax, %cr3
END
CASE readcr0
FAULTS readcr0
        movl %cr0, %eax
END
CASE readdr7
FAULTS readdr7
        movl %dr7, %eax
END
CASE clts
FAULTS clts
        clts
END
CASE lmsw
        smsw %ax
FAULTS lmsw
        lmsw %ax
END
CASE wbinvd
FAULTS wbinvd
        wbinvd
END
CASE rdmsr
        movl $0x10, %ecx
FAULTS rdmsr
        rdmsr
END
CASE wrmsr
        movl $0x174, %ecx
        xorl %eax, %eax
        xorl %edx, %edx
FAULTS wrmsr
        wrmsr
END
CASE inb
FAULTS inb
        inb $0x80, %al
END
CASE outdx
        movw $0x80, %dx
FAULTS outdx
        outb %al, %dx
END
CASE insb
        movw $0x80, %dx
        movl $scratch, %edi
FAULTS insb
        insb
END
/* pushf: eax = the image; popf of IF=1 IOPL=3, then eax = the flags that result */
CASE pushf
FAULTS pushf
        pushfl
        popl %eax
END
CASE popf
        pushl $0x3202
FAULTS popf
        popfl
        pushfl
        popl %eax
END
/* what ring 1/2 code sees of its privilege: eax = push cs, ebx = mov cs, ecx = mov ss */
CASE selectors
FAULTS selectors
        pushl %cs
        popl %eax
        movl %cs, %ebx
        movl %ss, %ecx
END
/* descriptor checks of the ring-1 data (0x39) and ring-2 data (0x4a) selectors:
 * eax = ZF of lar 0x39, ebx = ZF of lar 0x4a, ecx = ZF of verr 0x31, edx = ZF of verw 0x4a */
CASE descr
FAULTS descr
        movl $0x39, %esi
        larl %esi, %edi
        setz %al
        movl $0x4a, %esi
        larl %esi, %edi
        setz %bl
        movl $0x31, %esi
        verr %si
        setz %cl
        movl $0x4a, %esi
        verw %si
        setz %dl
        movzbl %al, %eax
        movzbl %bl, %ebx
        movzbl %cl, %ecx
        movzbl %dl, %edx
END
/* loading the ring-1 data selector into DS (DPL 1) and SS */
CASE loadds
        movw $0x39, %ax
FAULTS loadds
        movw %ax, %ds
        movw $0x23, %ax
        movw %ax, %ds
END
CASE loadss
        movw $0x39, %ax
FAULTS loadss
        movw %ax, %ss
END
/* far call through the DPL-2 gate 0x50 to the ring-1 service (stack from TSS.SS1:ESP1) */
CASE gate2
FAULTS gate2
        lcall $0x52, $0
END
/* far call through the DPL-1 gate 0x58 to the ring-0 service */
CASE gate1
FAULTS gate1
        lcall $0x59, $0
END
/* int 0x82: a DPL-3 interrupt gate to the ring-1 handler */
CASE int82
FAULTS int82
        int $0x82
END
/* ring 1 entered with IF=1 (IOPL 0) takes timer interrupts into ring 0 until three have
 * come (int 0x81 goes through an interrupt gate: IF is clear in the kernel again) */
CASE spin
FAULTS spin
1:      cmpl $3, ticks
        jb 1b
END
/* the ring-2 driver: writes the string at esi to COM1 polling the LSR (ports 0x3f8, 0x3fd),
 * then reads port 0x80 (outside the bitmap the kernel gives it) */
CASE driver
        movl $driver_text, %esi
2:      lodsb
        testb %al, %al
        jz 4f
        movb %al, %bl
        movw $0x3fd, %dx
3:      inb %dx, %al
        testb $0x20, %al
        jz 3b
        movw $0x3f8, %dx
        movb %bl, %al
        outb %al, %dx
        jmp 2b
4:
FAULTS driver
        inb $0x80, %al
END

/* the ring-1 service behind gate 0x50: records CS, SS, ESP and the four words the call
 * pushed (EIP, CS, ESP, SS of the caller), then lret to ring 2 */
        .globl ring1_service
ring1_service:
        movl %cs, %eax
        movl %eax, svc_rec
        movl %ss, %eax
        movl %eax, svc_rec+4
        movl %esp, svc_rec+8
        movl 4(%esp), %eax
        movl %eax, svc_rec+12
        movl 12(%esp), %eax
        movl %eax, svc_rec+16
        lret

/* the ring-0 service behind gate 0x58 */
        .globl ring0_service
ring0_service:
        movl %cs, %eax
        movl %eax, svc_rec
        movl %ss, %eax
        movl %eax, svc_rec+4
        movl %esp, svc_rec+8
        movl 4(%esp), %eax
        movl %eax, svc_rec+12
        movl 12(%esp), %eax
        movl %eax, svc_rec+16
        lret

/* the ring-1 interrupt handler of vector 0x82: records CS, SS, ESP, the frame's CS and SS */
        .globl ring1_int
ring1_int:
        movl %cs, %eax
        movl %eax, svc_rec
        movl %ss, %eax
        movl %eax, svc_rec+4
        movl %esp, svc_rec+8
        movl 4(%esp), %eax
        movl %eax, svc_rec+12
        movl 16(%esp), %eax
        movl %eax, svc_rec+16
        iretl

        .data
        .align 4
        .globl svc_rec, ticks, scratch, ring_ksp
svc_rec:    .long 0, 0, 0, 0, 0
ticks:      .long 0
scratch:    .long 0
ring_ksp:   .long 0
driver_text: .asciz "ring 2 driver: hello through ports 0x3f8/0x3fd\n"

        .section .note.GNU-stack, "", @progbits

/*
 * corpus/lib/boot.S -- multiboot v1 entry, library GDT, interrupt stubs,
 * ring-3 entry/return helpers.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003     /* page-align modules + memory info */

        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)

/* ------------------------------------------------------------------ GDT */
        .section .tables.gdt, "aw"
        .align 8
        .globl gdt
gdt:
        .quad 0x0000000000000000        /* 0x00 null */
/* The accessed bit is preset in every descriptor: real CPUs set it on
 * any segment load, qemu (7.2) only on mov/pop to a data segment register
 * (not on far jmp/call/ret/iret), so a preset bit keeps the GDT contents
 * identical everywhere. */
        .quad 0x00cf9b000000ffff        /* 0x08 ring-0 code, flat, 32-bit */
        .quad 0x00cf93000000ffff        /* 0x10 ring-0 data, flat */
        .quad 0x00cffb000000ffff        /* 0x18 ring-3 code, flat, 32-bit */
        .quad 0x00cff3000000ffff        /* 0x20 ring-3 data, flat */
        .quad 0                         /* 0x28 TSS (tss_init) */
        .quad 0, 0, 0, 0, 0, 0          /* 0x30..0x58 spare */
gdt_end:

        .section .data
        .align 4
        .word 0                         /* so that gdt_ptr.base is aligned */
        .globl gdt_ptr
gdt_ptr:
        .word gdt_end - gdt - 1
        .long gdt

/* ------------------------------------------------------------------ entry */
        .section .text
        .globl _start
        .type _start, @function
_start:
        cli
        cld
        movl %eax, %esi                 /* multiboot magic */
        movl %ebx, %edi                 /* multiboot info */
        lgdt gdt_ptr
        ljmp $0x08, $1f
1:      movw $0x10, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %fs
        movw %ax, %gs
        movw %ax, %ss
        /* zero .bss (our own stack lives there too) */
        movl %edi, %edx
        movl $__bss_start, %edi
        movl $__bss_end, %ecx
        subl %edi, %ecx
        xorl %eax, %eax
        rep stosb
        movl %edx, %edi
        movl $stack_top, %esp
        xorl %ebp, %ebp
        pushl $0
        popfl                           /* EFLAGS = 0x2: IF=0, DF=0, IOPL=0 */
        call serial_init
        pushl %edi
        pushl %esi
        call kmain
        addl $8, %esp
        pushl $0
        call exit
2:      cli
        hlt
        jmp 2b

/* ------------------------------------------------------------------ ISRs */
/* Each stub: [push $0 if the CPU pushes no error code], push $vector,
 * jmp isr_common.  Stubs are 16-byte aligned; use isr_stub_table. */
        .altmacro
        .macro ISRADDR vec
        .long isr_\vec
        .endm

        .macro ISR vec
        .align 16
isr_\vec:
        .if (\vec == 8) || (\vec == 10) || (\vec == 11) || (\vec == 12) || (\vec == 13) || (\vec == 14) || (\vec == 17)
        .else
        pushl $0
        .endif
        pushl $\vec
        jmp isr_common
        .endm

        .align 16
        .globl isr_stubs
isr_stubs:
        .set vec, 0
        .rept 256
        ISR %vec
        .set vec, vec + 1
        .endr

isr_common:
        pushal
        xorl %eax, %eax
        movw %ds, %ax
        pushl %eax
        movw %es, %ax
        pushl %eax
        movw %fs, %ax
        pushl %eax
        movw %gs, %ax
        pushl %eax
        movw $0x10, %ax
        movw %ax, %ds
        movw %ax, %es
        cld
        pushl %esp                      /* struct regs * */
        call isr_dispatch
        addl $4, %esp
isr_return:                             /* %esp: a struct regs to resume */
        popl %eax
        movw %ax, %gs
        popl %eax
        movw %ax, %fs
        popl %eax
        movw %ax, %es
        popl %eax
        movw %ax, %ds
        popal
        addl $8, %esp                   /* vector, error */
        iretl

        .section .data
        .align 4
        .globl isr_stub_table
isr_stub_table:
        .set vec, 0
        .rept 256
        ISRADDR %vec
        .set vec, vec + 1
        .endr
        .noaltmacro

/* ------------------------------------------------------------------ ring 3 */
        .section .bss
        .align 4
saved_ksp:
        .long 0

        .section .text
/* Every way into a guest's ring 3 (or into a prepared interrupt frame) first
 * saves the kernel context that user_return(v) gives back: callee-saved
 * registers and EFLAGS on the kernel stack, that stack in saved_ksp. */
        .macro SAVE_KERNEL
        pushl %ebp
        pushl %ebx
        pushl %esi
        pushl %edi
        pushfl
        movl %esp, saved_ksp
        .endm

/* uint32_t run_user(uint32_t eip, uint32_t esp) */
        .globl run_user
        .type run_user, @function
run_user:
        SAVE_KERNEL
        movl 24(%esp), %ecx             /* eip */
        movl 28(%esp), %edx             /* user esp */
        pushfl
        popl %eax
        andl $~0x4000, %eax             /* NT=0 so iret is not a task return */
        pushl $0x23                     /* ss */
        pushl %edx                      /* esp */
        pushl %eax                      /* eflags */
        pushl $0x1b                     /* cs */
        pushl %ecx                      /* eip */
        movw $0x23, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %fs
        movw %ax, %gs
        iretl

/* The entries below came after the guests had been written: they live in
 * .text_late, which the link script places after every guest's code and
 * read-only data, so that the code addresses guests print stay put. */
        .section .text_late, "ax"
/* uint32_t run_user_segs(uint32_t eip, uint32_t esp, uint32_t eflags,
 *                        uint32_t ds, uint32_t es, uint32_t fs, uint32_t gs) */
        .globl run_user_segs
        .type run_user_segs, @function
run_user_segs:
        SAVE_KERNEL
        movl 24(%esp), %ecx             /* eip */
        movl 28(%esp), %edx             /* user esp */
        movl 32(%esp), %eax             /* eflags */
        movl 36(%esp), %ebx             /* ds */
        movl 40(%esp), %esi             /* es */
        movl 44(%esp), %edi             /* fs */
        movl 48(%esp), %ebp             /* gs */
/* iret to 0x1b:%ecx, 0x23:%edx, EFLAGS %eax; DS ES FS GS from bx si di bp */
iret_to_ring3:
        pushl $0x23                     /* ss */
        pushl %edx                      /* esp */
        pushl %eax                      /* eflags */
        pushl $0x1b                     /* cs */
        pushl %ecx                      /* eip */
        movw %si, %es
        movw %di, %fs
        movw %bp, %gs
        movw %bx, %ds                   /* last: a ring-0 selector may be asked for */
        iretl

/* uint32_t run_user_eflags(uint32_t eip, uint32_t esp, uint32_t eflags) */
        .globl run_user_eflags
        .type run_user_eflags, @function
run_user_eflags:
        SAVE_KERNEL
        movl 24(%esp), %ecx             /* eip */
        movl 28(%esp), %edx             /* user esp */
        movl 32(%esp), %eax             /* eflags */
        movl $0x23, %ebx
        movl %ebx, %esi
        movl %ebx, %edi
        movl %ebx, %ebp
        jmp iret_to_ring3

/* uint32_t run_frame(struct regs *frame): resume a complete interrupt frame
 * (a task's first entry, built by its kernel); returns the value a handler
 * passes to user_return(). */
        .globl run_frame
        .type run_frame, @function
run_frame:
        SAVE_KERNEL
        movl 24(%esp), %esp
        jmp isr_return

        .section .text
/* void user_return(uint32_t v) -- called at ring 0 (from a handler) */
        .globl user_return
        .type user_return, @function
user_return:
        movl 4(%esp), %eax
        movw $0x10, %cx
        movw %cx, %ds
        movw %cx, %es
        movw %cx, %fs
        movw %cx, %gs
        movw %cx, %ss
        movl saved_ksp, %esp
        popfl
        popl %edi
        popl %esi
        popl %ebx
        popl %ebp
        ret

/* ------------------------------------------------------------------ stacks */
        .section .bss
        .align 16
        .globl stack_bottom, stack_top
stack_bottom:
        .skip 16384
stack_top:
        .globl istack_top
        .skip 8192
istack_top:

        .section .note.GNU-stack, "", @progbits

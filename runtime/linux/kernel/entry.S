/*
 * entry.S -- the guest kernel's machine level: the multiboot header, the
 * boot into the high half, interrupt and system call entry (one trap frame
 * layout for all, struct regs in kernel.h), return to ring 3, and the
 * kernel stack switch between processes.
 */
#define KBASE 0xC0000000
#define KCODE 0x60
#define KDATA 0x68
#define UDATA 0x7b
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003

        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .section .text
        .globl _start
_start:                                 /* paging off: we run at physical addresses */
        cli
        cld
        movl %eax, %esi
        movl %ebx, %edi
        /* boot page directory: 0-16 MiB identity and at KBASE, 4 MiB pages */
        movl $(boot_pd - KBASE), %edx
        movl $0x83, %eax                /* P | W | PS */
        xorl %ecx, %ecx
1:      movl %eax, (%edx,%ecx,4)
        movl %eax, 768*4(%edx,%ecx,4)
        addl $0x400000, %eax
        incl %ecx
        cmpl $4, %ecx
        jne 1b
        movl %cr4, %eax
        orl $0x10, %eax                 /* CR4.PSE */
        movl %eax, %cr4
        movl %edx, %cr3
        movl %cr0, %eax
        orl $0x80010000, %eax           /* PG | WP */
        movl %eax, %cr0
        movl $high, %eax
        jmp *%eax
high:
        lgdt gdt_ptr
        ljmp $KCODE, $2f
2:      movw $KDATA, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        xorw %ax, %ax
        movw %ax, %fs
        movw %ax, %gs
        movl $boot_stack_top, %esp
        xorl %ebp, %ebp
        pushl $0
        popfl
        pushl %edi
        pushl %esi
        call kmain
3:      cli
        hlt
        jmp 3b

/* ------------------------------------------------------------ interrupts */
        .altmacro
        .macro ISRADDR vec
        .long isr_\vec
        .endm
        .macro ISR vec
isr_\vec:
        .if (\vec == 8) || (\vec == 10) || (\vec == 11) || (\vec == 12) || (\vec == 13) || (\vec == 14) || (\vec == 17)
        .else
        pushl $0
        .endif
        pushl $\vec
        jmp isr_common
        .endm
        .set vec, 0
        .rept 48
        ISR %vec
        .set vec, vec + 1
        .endr
        ISR 128

/* The kernel runs on the user's flat data segment (0x7b) in DS/ES, as Linux does
 * on i386: a segment register load is a callout under the monitor, so on the
 * way in they are loaded only when they hold something else, and on the way out
 * the frame's segment registers are popped only when seg_reload says they may
 * differ from the live ones (a new program, a signal frame, another process's
 * TLS descriptors). */
isr_common:
        pushal
        pushl %ds
        pushl %es
        pushl %fs
        pushl %gs
        movw %ds, %ax
        movw %es, %dx
        cmpw $UDATA, %ax
        jne 1f
        cmpw $UDATA, %dx
        je 2f
1:      movw $UDATA, %ax
        movw %ax, %ds
        movw %ax, %es
        movl $1, seg_reload
2:      cld
        pushl %esp
        call trap
        addl $4, %esp
        .globl trap_return
trap_return:
        cmpl $0, seg_reload
        jne 3f
        addl $16, %esp
        popal
        addl $8, %esp
        iretl
3:      movl $0, seg_reload
        popl %gs
        popl %fs
        popl %es
        popl %ds
        popal
        addl $8, %esp
        iretl

        .section .rodata
        .align 4
        .globl isr_table
isr_table:
        .set vec, 0
        .rept 48
        ISRADDR %vec
        .set vec, vec + 1
        .endr
        .long isr_128
        .noaltmacro

        .section .text
/* void switch_stack(u32 *save_esp, u32 new_esp): callee-saved registers on the old
 * kernel stack, then the new one's (a fresh process's stack is built by proc.c to
 * "return" into trap_return). */
        .globl switch_stack
switch_stack:
        movl 4(%esp), %eax
        movl 8(%esp), %edx
        pushl %ebp
        pushl %ebx
        pushl %esi
        pushl %edi
        movl %esp, (%eax)
        movl %edx, %esp
        popl %edi
        popl %esi
        popl %ebx
        popl %ebp
        ret

/* ------------------------------------------------------------ tables */
        .section .data
        .align 4096
        .globl boot_pd
boot_pd:
        .fill 1024, 4, 0
        .align 8
        .globl gdt
gdt:    /* Linux's i386 layout: TLS 6-8, kernel 12/13, user 14/15 (0x73/0x7b), TSS 16 */
        .quad 0, 0, 0, 0, 0, 0
        .quad 0, 0, 0                   /* 6..8 TLS (set_thread_area) */
        .quad 0, 0, 0
        .quad 0x00cf9b000000ffff        /* 12 0x60 kernel code */
        .quad 0x00cf93000000ffff        /* 13 0x68 kernel data */
        .quad 0x00cffb000000ffff        /* 14 0x73 user code */
        .quad 0x00cff3000000ffff        /* 15 0x7b user data */
        .quad 0                         /* 16 0x80 TSS */
        .quad 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
gdt_end:
        .align 4
        .word 0
        .globl gdt_ptr
gdt_ptr:
        .word gdt_end - gdt - 1
        .long gdt

        .globl seg_reload
        .align 4
seg_reload:
        .long 1

        .section .bss
        .align 4096
        .space 16384
boot_stack_top:

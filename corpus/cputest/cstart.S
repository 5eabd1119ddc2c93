/*
 * cputest/cstart.S -- start-up code, in the manner of kvm-unit-tests'
 * x86/cstart.S for i386: a multiboot v1 header, a flat GDT, a page
 * directory that identity-maps all 4 GiB with 1024 4-MiB pages (CR4.PSE),
 * paging on (CR0.PG, CR0.WP), then main().
 *
 * The loader (any multiboot v1 loader; QEMU's -kernel) enters here in
 * 32-bit protected mode, paging off, EAX = 0x2BADB002, EBX = info.
 */
#define MB_MAGIC    0x1BADB002
#define MB_FLAGS    0x00000002          /* bit 1: want mem_lower/mem_upper */

#define CR0_WP      0x00010000          /* SDM 3A 2.5: supervisor writes honour R/W */
#define CR0_PG      0x80000000
#define CR4_PSE     0x00000010          /* SDM 3A 4.3: 4-MiB pages with PDE.PS */

#define PDE_P       0x001
#define PDE_RW      0x002
#define PDE_PWT     0x008
#define PDE_PCD     0x010
#define PDE_PS      0x080

        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .section .text
        .globl _start
_start:
        cli
        cld
        movl %eax, %esi                 /* keep the multiboot hand-off */
        movl %ebx, %edi
        lgdt gdt_desc
        ljmp $0x08, $1f
1:      movw $0x10, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %fs
        movw %ax, %gs
        movw %ax, %ss

        /* clear .bss (page directory and stack live there) */
        movl %edi, %edx
        movl $__bss_start, %edi
        movl $__bss_end, %ecx
        subl %edi, %ecx
        xorl %eax, %eax
        rep stosb
        movl %edx, %edi
        movl $stack_top, %esp
        movl %esi, mb_magic
        movl %edi, mb_info

        /* setup_page_table: PDE i maps [i*4M, i*4M+4M) onto itself */
        movl $ptl2, %edi
        movl $(PDE_P | PDE_RW | PDE_PS), %eax
        movl $1024, %ecx
2:      movl %eax, (%edi)
        addl $4, %edi
        addl $0x400000, %eax
        loop 2b
        /* the last-but-four 4 MiB (0xFEC00000: IOAPIC, LAPIC) uncached */
        orl $(PDE_PCD | PDE_PWT), ptl2 + (0xFEC00000 >> 22) * 4

        movl %cr4, %eax
        orl $CR4_PSE, %eax
        movl %eax, %cr4
        movl $ptl2, %eax
        movl %eax, %cr3
        movl %cr0, %eax
        orl $(CR0_PG | CR0_WP), %eax
        movl %eax, %cr0
        jmp 3f                          /* serialise after enabling paging */
3:
        pushl $0
        popfl                           /* EFLAGS = 0x2 */
        call main
        pushl %eax
        call exit_status
4:      cli
        hlt
        jmp 4b

/* ---------------------------------------------------------------- traps */
/* One 16-byte stub per vector: push a zero where the CPU pushes no error
 * code (SDM 3A 6.13: 8, 10-14, 17 push one), then the vector number. */
        .macro STUB vec
        .align 16
        .if (\vec == 8) || (\vec == 10) || (\vec == 11) || (\vec == 12) || (\vec == 13) || (\vec == 14) || (\vec == 17)
        .else
        pushl $0
        .endif
        pushl $\vec
        jmp trap_common
        .endm

        .altmacro
        .align 16
        .globl trap_stubs
trap_stubs:
        .set v, 0
        .rept 256
        STUB %v
        .set v, v + 1
        .endr
        .noaltmacro

/* frame layout (struct frame in x86.h): edi..eax (pushal), vector, error,
 * eip, cs, eflags */
trap_common:
        pushal
        pushl %esp
        call trap
        addl $4, %esp
        popal
        addl $8, %esp
        iretl

/* ---------------------------------------------------------------- data */
        .section .data
        .align 8
gdt:
        .quad 0                         /* 0x00 */
        .quad 0x00cf9b000000ffff        /* 0x08 code, flat, 32-bit, DPL 0 */
        .quad 0x00cf93000000ffff        /* 0x10 data, flat, DPL 0 */
gdt_end:
        .align 4
        .word 0
gdt_desc:
        .word gdt_end - gdt - 1
        .long gdt

        .section .bss
        .align 4096
        .globl ptl2
ptl2:   .skip 4096                      /* the page directory */
        .align 16
        .skip 16384
stack_top:
        .globl mb_magic, mb_info
mb_magic: .long 0
mb_info:  .long 0

        .section .note.GNU-stack, "", @progbits

/*
 * pcunix/kernel/entry.S -- the multiboot entry.  The loader jumps to
 * _start (a physical address) with paging off; the kernel is linked at
 * KERNLINK (0xC0100000) and loaded at 1 MiB.  A boot page directory with
 * two 4-MiB pages (CR4.PSE; SDM 3A 4.3) maps the first 4 MiB both at 0
 * (for the next few instructions) and at KERNBASE; kmain() then builds
 * the real page tables (kernel/vm.c).
 */
#define KERNBASE 0xC0000000
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003     /* bit 0 page-aligned modules, bit 1 memory info */

        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .section .text
        .globl entry
entry:
        cli
        cld
        movl %eax, %esi                 /* multiboot magic */
        /* EBX: multiboot info (physical), kept */
        movl %cr4, %eax
        orl $0x10, %eax                 /* CR4.PSE */
        movl %eax, %cr4
        movl $(bootpgdir - KERNBASE), %eax
        movl %eax, %cr3
        movl %cr0, %eax
        orl $0x80010000, %eax           /* CR0.PG | CR0.WP */
        movl %eax, %cr0
        movl $bootstack_top, %esp       /* from here on, high addresses */
        movl $1f, %eax
        jmp *%eax
1:      movl $__bss_start, %edi         /* clear .bss ourselves */
        movl $__bss_end, %ecx
        subl %edi, %ecx
        xorl %eax, %eax
        rep stosb
        pushl %ebx
        pushl %esi
        call kmain
2:      cli
        hlt
        jmp 2b

        .section .data
        .align 4096
        .globl bootpgdir
bootpgdir:
        .long 0x00000083                /* [0, 4M) -> 0: P | W | PS */
        .fill (KERNBASE >> 22) - 1, 4, 0
        .long 0x00000083                /* [KERNBASE, +4M) -> 0 */
        .fill 1024 - (KERNBASE >> 22) - 1, 4, 0

        .section .bss
        .align 16
        .skip 8192
        .globl bootstack_top
bootstack_top:

        .section .note.GNU-stack, "", @progbits

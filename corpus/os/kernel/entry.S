/*
 * corpus/os/kernel/entry.S -- the multiboot header and the first
 * instructions: turn on paging with a boot page directory, jump to the
 * higher half, call kmain.
 *
 * The kernel is linked at KERNBASE + 1 MiB (0xc0100000) and loaded at
 * physical 1 MiB: kernel.ld gives every program header p_paddr = p_vaddr -
 * KERNBASE, and the ELF entry point is the physical address of `start`
 * (xv6 does the same).  A multiboot loader (QEMU's -kernel, GRUB) loads
 * PT_LOAD segments at p_paddr and jumps to e_entry with paging off,
 * EAX = 0x2badb002, EBX = physical address of the multiboot information
 * (Multiboot 0.6.96, 3.2 "Machine state").  No a.out-kludge address fields
 * (flag bit 16): the ELF headers say it all.
 */
#include "param.h"

#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003             /* page-aligned modules, memory info */

        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)

        .section .text
        .globl _start
        _start = start - KERNBASE       /* the ELF entry: a physical address */

        .globl start
start:
        /* Paging off, running at physical addresses.  Zero .bss first (a
         * multiboot loader does so for ELF images; we do not rely on it):
         * EAX and EBX (the boot information) are kept in ESI and EBX. */
        movl    %eax, %esi
        movl    $(__bss_start - KERNBASE), %edi
        movl    $(__bss_end - KERNBASE), %ecx
        subl    %edi, %ecx
        xorl    %eax, %eax
        cld
        rep stosb
        /* boot_pgdir maps the
         * first 4 MiB twice: at 0 (so that the next instruction still
         * fetches) and at KERNBASE (where the kernel is linked). */
        movl    $(boot_pgdir - KERNBASE), %ecx
        movl    %ecx, %cr3
        movl    %cr0, %ecx
        orl     $0x80010000, %ecx       /* CR0.PG | CR0.WP */
        movl    %ecx, %cr0
        movl    $high, %ecx
        jmp     *%ecx                   /* to the higher half */
high:
        movl    $boot_stack_top, %esp   /* the scheduler's stack, from now on */
        xorl    %ebp, %ebp
        pushl   $0
        popfl                           /* IF=0, DF=0, IOPL=0 */
        pushl   %ebx                    /* multiboot information (physical) */
        pushl   %esi                    /* multiboot magic */
        call    kmain                   /* never returns */
1:      cli
        hlt
        jmp     1b

        .section .data
        .align 4096
boot_pgdir:                             /* PDE 0 and PDE 768 -> boot_pt */
        .long   (boot_pt - KERNBASE) + 0x003    /* present, writable */
        .fill   (KERNBASE >> 22) - 1, 4, 0
        .long   (boot_pt - KERNBASE) + 0x003
        .fill   1023 - (KERNBASE >> 22), 4, 0

        .align 4096
boot_pt:                                /* physical 0 .. 4 MiB, 4 KiB pages */
        .set    pfn, 0
        .rept   1024
        .long   (pfn << 12) | 0x003
        .set    pfn, pfn + 1
        .endr

        .section .bss
        .align 16
        .globl boot_stack, boot_stack_top
boot_stack:
        .skip   8192
boot_stack_top:

        .section .note.GNU-stack, "", @progbits

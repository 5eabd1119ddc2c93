/*
 * pcunix/kernel/mmu.h -- the address-space layout and x86 paging and
 * segmentation structures (SDM vol. 3A ch. 3 and 4, 32-bit paging).
 *
 *   0x00000000 - 0x003fffff   unmapped (null pointers fault)
 *   0x00400000 - USTACKTOP    user program and stack, per process
 *   0xc0000000 - ...          the kernel: physical memory mapped from 0
 *   0xfec00000, 0xfee00000    I/O APIC and local APIC, mapped 1:1, uncached
 */
#ifndef PCUNIX_MMU_H
#define PCUNIX_MMU_H

#define KERNBASE    0xC0000000u
#define KERNLINK    (KERNBASE + 0x100000)   /* where the kernel is linked */
#define DEVSPACE    0xFE000000u             /* memory-mapped devices, 1:1 */
#define MAXPHYS     0x30000000u             /* the most RAM the direct map covers */
#define USERBASE    0x00400000u
#define USTACKTOP   0xB0000000u
#define USTACKPAGES 4

#define PGSIZE      4096
#define PGROUNDUP(a)   (((a) + PGSIZE - 1) & ~(uint32_t)(PGSIZE - 1))
#define PGROUNDDOWN(a) ((a) & ~(uint32_t)(PGSIZE - 1))
#define PDX(va)     (((uint32_t)(va) >> 22) & 0x3FF)
#define PTX(va)     (((uint32_t)(va) >> 12) & 0x3FF)

#define PTE_P   0x001       /* present */
#define PTE_W   0x002       /* writable */
#define PTE_U   0x004       /* user */
#define PTE_PWT 0x008
#define PTE_PCD 0x010       /* cache disable: device registers */
#define PTE_PS  0x080       /* 4-MiB page (PDE, with CR4.PSE) */
#define PTE_G   0x100       /* global: survives CR3 loads (CR4.PGE) */
#define PTE_ADDR(e) ((e) & ~0xFFFu)

#define CR0_PG  0x80000000u
#define CR0_WP  0x00010000u
#define CR4_PSE 0x00000010u
#define CR4_PGE 0x00000080u

#define P2V(pa) ((void *)((uint32_t)(pa) + KERNBASE))
#define V2P(va) ((uint32_t)(va) - KERNBASE)

/* GDT selectors (kernel/seg.c) */
#define SEG_KCODE   1
#define SEG_KDATA   2
#define SEG_UCODE   3
#define SEG_UDATA   4
#define SEG_TSS     5
#define NSEGS       6
#define DPL_USER    3
#define SEL(seg, rpl) (((seg) << 3) | (rpl))

#define FL_IF   0x200

#endif

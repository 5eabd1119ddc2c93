/*
 * corpus/os/kernel/mmu.h -- IA-32 paging and segmentation constants
 * (Intel SDM vol. 3A, 4.3 "32-bit paging", 3.4.5 "segment descriptors").
 */
#ifndef BTOS_MMU_H
#define BTOS_MMU_H

#include <stdint.h>
#include "param.h"

#define PGSIZE      4096u
#define PGROUNDUP(a)   (((uint32_t)(a) + PGSIZE - 1) & ~(PGSIZE - 1))
#define PGROUNDDOWN(a) ((uint32_t)(a) & ~(PGSIZE - 1))

#define PDX(va)     (((uint32_t)(va) >> 22) & 0x3FF)    /* page directory index */
#define PTX(va)     (((uint32_t)(va) >> 12) & 0x3FF)    /* page table index */
#define PTE_ADDR(e) ((uint32_t)(e) & ~0xFFFu)

/* page directory / page table entry bits (SDM vol. 3A, table 4-5, 4-6) */
#define PTE_P   0x001       /* present */
#define PTE_W   0x002       /* writable */
#define PTE_U   0x004       /* user */
#define PTE_PWT 0x008       /* write-through */
#define PTE_PCD 0x010       /* cache disabled: device registers */
#define PTE_A   0x020
#define PTE_D   0x040

#define CR0_PE  0x00000001u
#define CR0_WP  0x00010000u
#define CR0_PG  0x80000000u

/* page fault error code bits (SDM vol. 3A, 4.7) */
#define PF_PROT  0x1        /* 0: not present, 1: protection violation */
#define PF_WRITE 0x2
#define PF_USER  0x4

/* physical <-> kernel virtual, through the direct map */
#define V2P(a) ((uint32_t)(a) - KERNBASE)
#define P2V(a) ((void *)((uint32_t)(a) + KERNBASE))

/* GDT selectors (gdt.c) */
#define SEG_KCODE 1
#define SEG_KDATA 2
#define SEG_UCODE 3
#define SEG_UDATA 4
#define SEG_TSS   5
#define NSEGS     6
#define KCODE_SEL (SEG_KCODE << 3)
#define KDATA_SEL (SEG_KDATA << 3)
#define UCODE_SEL ((SEG_UCODE << 3) | 3)
#define UDATA_SEL ((SEG_UDATA << 3) | 3)
#define TSS_SEL   (SEG_TSS << 3)

#define EFLAGS_IF 0x200u

typedef uint32_t pde_t;
typedef uint32_t pte_t;

#endif

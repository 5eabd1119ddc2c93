/*
 * corpus/os/kernel/gdt.c -- flat segments for rings 0 and 3 and the TSS
 * that gives the CPU the kernel stack of the running process
 * (SDM vol. 3A, 3.4.5 segment descriptors, 7.2 the TSS).
 */
#include "defs.h"
#include "x86.h"

struct tss {                            /* SDM vol. 3A, figure 7-2 */
    uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2;
    uint32_t cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
    uint32_t es, cs, ss, ds, fs, gs, ldt;
    uint16_t trap, iomap_base;
} __attribute__((packed));

static struct tss tss;
static uint64_t gdt[NSEGS];

/* access: P | DPL | S | type; flags: G (4 KiB units) | D/B (32-bit) */
static uint64_t descriptor(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
    return (uint64_t)(limit & 0xFFFF) | ((uint64_t)(base & 0xFFFFFF) << 16)
         | ((uint64_t)access << 40) | ((uint64_t)((limit >> 16) & 0xF) << 48)
         | ((uint64_t)(flags & 0xF) << 52) | ((uint64_t)(base >> 24) << 56);
}

void gdt_init(void)
{
    gdt[SEG_KCODE] = descriptor(0, 0xFFFFF, 0x9A, 0xC);    /* ring 0 code, 4 GiB */
    gdt[SEG_KDATA] = descriptor(0, 0xFFFFF, 0x92, 0xC);    /* ring 0 data */
    gdt[SEG_UCODE] = descriptor(0, 0xFFFFF, 0xFA, 0xC);    /* ring 3 code */
    gdt[SEG_UDATA] = descriptor(0, 0xFFFFF, 0xF2, 0xC);    /* ring 3 data */
    tss.ss0 = KDATA_SEL;
    tss.iomap_base = sizeof tss;        /* no I/O bitmap: ring 3 gets no ports */
    gdt[SEG_TSS] = descriptor((uint32_t)&tss, sizeof tss - 1, 0x89, 0x0);  /* 32-bit TSS */

    struct dtr d = { sizeof gdt - 1, (uint32_t)gdt };
    lgdt(&d);
    __asm__ volatile(
        "ljmp %0, $1f\n"
        "1: movw %w1, %%ax\n"
        "movw %%ax, %%ds\n movw %%ax, %%es\n movw %%ax, %%ss\n"
        "movw %%ax, %%fs\n movw %%ax, %%gs\n"
        :: "i"(KCODE_SEL), "i"(KDATA_SEL) : "eax", "memory");
    ltr(TSS_SEL);
}

/* Where the CPU switches the stack to on an interrupt from ring 3. */
void tss_set_kstack(uint32_t esp0)
{
    tss.esp0 = esp0;
}

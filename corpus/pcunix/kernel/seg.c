/*
 * pcunix/kernel/seg.c -- the GDT (flat kernel and user segments, one TSS),
 * the TSS (ring-0 stack for traps from ring 3), and the IDT.
 * SDM vol. 3A 3.4.5 (segment descriptors), 7.2 (TSS), 6.11 (IDT gates).
 */
#include "defs.h"
#include "mmu.h"
#include "x86.h"

struct tss {
    uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
    uint32_t eax, ecx, edx, ebx, esp, ebp, esi, edi;
    uint32_t es, cs, ss, ds, fs, gs, ldt;
    uint16_t trap, iomb;
};

static uint64_t gdt[NSEGS] __attribute__((aligned(8)));
static struct tss tss __attribute__((aligned(16)));

struct gate { uint16_t off_lo, sel; uint8_t zero, flags; uint16_t off_hi; };
static struct gate idt[256] __attribute__((aligned(8)));
extern char vectors[];                  /* trapasm.S: 256 stubs, 16 bytes apart */

/* type: 4 bits (S=1 types for code/data); s: descriptor type bit */
static uint64_t descriptor(uint32_t base, uint32_t limit, int type, int s, int dpl, int big)
{
    uint64_t d = (limit & 0xFFFF) | ((uint64_t)(base & 0xFFFFFF) << 16);
    d |= (uint64_t)(type | (s << 4) | (dpl << 5) | 0x80) << 40;     /* P = 1 */
    d |= (uint64_t)((limit >> 16) & 0xF) << 48;
    if (big)
        d |= (uint64_t)0xC << 52;                                   /* G = 1, D/B = 1 */
    d |= (uint64_t)(base >> 24) << 56;
    return d;
}

void seginit(void)
{
    gdt[SEG_KCODE] = descriptor(0, 0xFFFFF, 0xA, 1, 0, 1);          /* execute/read */
    gdt[SEG_KDATA] = descriptor(0, 0xFFFFF, 0x2, 1, 0, 1);          /* read/write */
    gdt[SEG_UCODE] = descriptor(0, 0xFFFFF, 0xA, 1, DPL_USER, 1);
    gdt[SEG_UDATA] = descriptor(0, 0xFFFFF, 0x2, 1, DPL_USER, 1);
    tss.ss0 = SEL(SEG_KDATA, 0);
    tss.iomb = sizeof tss;                      /* no I/O bitmap: ring 3 has no ports */
    gdt[SEG_TSS] = descriptor((uint32_t)&tss, sizeof tss - 1, 0x9, 0, 0, 0);

    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) gd = { sizeof gdt - 1, (uint32_t)gdt };
    asm volatile("lgdt %0\n\t"
                 "ljmp %1, $1f\n"
                 "1:\tmovw %w2, %%ax\n\t"
                 "movw %%ax, %%ds\n\tmovw %%ax, %%es\n\tmovw %%ax, %%ss\n\t"
                 "xorw %%ax, %%ax\n\tmovw %%ax, %%fs\n\tmovw %%ax, %%gs"
                 :: "m"(gd), "i"(SEL(SEG_KCODE, 0)), "r"(SEL(SEG_KDATA, 0)) : "eax", "memory");
    ltr(SEL(SEG_TSS, 0));
}

void tss_set_esp0(uint32_t esp0)
{
    tss.esp0 = esp0;
}

void idtinit(void)
{
    for (int i = 0; i < 256; i++) {
        uint32_t a = (uint32_t)vectors + 16 * i;
        /* 32-bit interrupt gates (IF cleared on entry); int 0x30 callable from ring 3 */
        uint8_t flags = 0x8E | (i == T_SYSCALL ? DPL_USER << 5 : 0);
        idt[i] = (struct gate){ a & 0xFFFF, SEL(SEG_KCODE, 0), 0, flags, a >> 16 };
    }
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) d = { sizeof idt - 1, (uint32_t)idt };
    asm volatile("lidt %0" :: "m"(d));
}

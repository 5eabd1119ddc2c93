/*
 * cputest/x86.h -- port I/O, control registers, MSRs, the trap frame, and
 * the local APIC / I/O APIC register maps used by the tests.
 */
#ifndef CPUTEST_X86_H
#define CPUTEST_X86_H

#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v) { asm volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void sti(void) { asm volatile("sti" ::: "memory"); }
static inline void cli(void) { asm volatile("cli" ::: "memory"); }
static inline void pause(void) { asm volatile("pause" ::: "memory"); }
static inline uint32_t read_cr2(void) { uint32_t v; asm volatile("movl %%cr2, %0" : "=r"(v)); return v; }
static inline void invlpg(uint32_t va) { asm volatile("invlpg (%0)" :: "r"(va) : "memory"); }

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static inline void cpuid(uint32_t leaf, uint32_t r[4])
{
    asm volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(0));
}

/* what trap_common in cstart.S leaves on the stack */
struct frame {
    uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax;   /* pushal */
    uint32_t vector, error;
    uint32_t eip, cs, eflags;                          /* pushed by the CPU */
};

#define MSR_IA32_APIC_BASE  0x1B        /* SDM 3A 10.4.4 */
#define APIC_BASE_BSP       (1u << 8)
#define APIC_BASE_EN        (1u << 11)

/* Local APIC registers, offsets from 0xFEE00000 (SDM 3A table 10-1) */
#define LAPIC_BASE  0xFEE00000u
#define LAPIC_ID    0x020
#define LAPIC_VER   0x030
#define LAPIC_TPR   0x080
#define LAPIC_PPR   0x0A0
#define LAPIC_EOI   0x0B0
#define LAPIC_SVR   0x0F0
#define LAPIC_ISR   0x100               /* 8 registers, 0x10 apart */
#define LAPIC_TMR   0x180
#define LAPIC_IRR   0x200
#define LAPIC_ESR   0x280
#define LAPIC_ICRLO 0x300
#define LAPIC_ICRHI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TICR  0x380               /* timer initial count */
#define LAPIC_TCCR  0x390               /* timer current count */
#define LAPIC_TDCR  0x3E0               /* timer divide configuration */

#define SVR_ENABLE      (1u << 8)       /* SDM 3A 10.9: APIC software enable */
#define LVT_MASKED      (1u << 16)
#define LVT_PERIODIC    (1u << 17)      /* timer mode bits 18:17 = 01 */
#define TDCR_BY_1       0xB             /* SDM 3A figure 10-10 */
#define TDCR_BY_16      0x3
#define ICR_DELIVS      (1u << 12)      /* delivery status: send pending */
#define ICR_ASSERT      (1u << 14)
#define ICR_SELF        (1u << 18)      /* destination shorthand 01 */

/* 82093AA I/O APIC: indirect access through IOREGSEL / IOWIN (datasheet 3.1) */
#define IOAPIC_BASE     0xFEC00000u
#define IOAPIC_IOREGSEL 0x00
#define IOAPIC_IOWIN    0x10
#define IOAPIC_ID       0x00
#define IOAPIC_VER      0x01
#define IOAPIC_REDTBL(n) (0x10 + 2 * (n))

static inline uint32_t lapic_read(uint32_t reg) { return *(volatile uint32_t *)(LAPIC_BASE + reg); }
static inline void lapic_write(uint32_t reg, uint32_t v) { *(volatile uint32_t *)(LAPIC_BASE + reg) = v; }

static inline uint32_t ioapic_read(uint32_t reg)
{
    *(volatile uint32_t *)(IOAPIC_BASE + IOAPIC_IOREGSEL) = reg;
    return *(volatile uint32_t *)(IOAPIC_BASE + IOAPIC_IOWIN);
}

static inline void ioapic_write(uint32_t reg, uint32_t v)
{
    *(volatile uint32_t *)(IOAPIC_BASE + IOAPIC_IOREGSEL) = reg;
    *(volatile uint32_t *)(IOAPIC_BASE + IOAPIC_IOWIN) = v;
}

/* print.c */
void serial_init(void);
void printf(const char *fmt, ...);
void exit_status(int code);

#endif

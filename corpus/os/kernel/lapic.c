/*
 * corpus/os/kernel/lapic.c -- the local APIC (Intel SDM vol. 3A, chapter
 * 10, xAPIC mode: registers memory-mapped, 16-byte aligned, 32-bit access).
 *
 * Registers used (offsets from the base, SDM table 10-1):
 *   0x020 ID (bits 24-31)           0x030 version (bits 16-23: max LVT)
 *   0x080 TPR                       0x0B0 EOI
 *   0x0F0 SVR (bit 8: APIC software enable; bits 0-7 spurious vector)
 *   0x280 ESR                       0x320 LVT timer
 *   0x330 LVT thermal (max LVT >= 5) 0x340 LVT performance (max LVT >= 4)
 *   0x350 LVT LINT0                 0x360 LVT LINT1
 *   0x370 LVT error                 0x380 timer initial count
 *   0x3E0 timer divide configuration
 * and the IA32_APIC_BASE MSR (0x1B, bit 11: global enable).
 *
 * The timer runs periodic (LVT timer bits 17-18 = 01, SDM 10.5.4) on
 * vector T_TIMER; it is the scheduler's clock.
 */
#include "defs.h"
#include "trap.h"
#include "x86.h"

#define ID      0x020
#define VER     0x030
#define TPR     0x080
#define EOI     0x0B0
#define SVR     0x0F0
#define ESR     0x280
#define LVT_TIMER   0x320
#define LVT_THERMAL 0x330
#define LVT_PERF    0x340
#define LVT_LINT0   0x350
#define LVT_LINT1   0x360
#define LVT_ERROR   0x370
#define TIMER_INIT  0x380
#define TIMER_DIV   0x3E0

#define SVR_ENABLE    0x100
#define LVT_MASKED    0x10000
#define LVT_PERIODIC  0x20000
#define DIV_BY_16     0x3             /* divide configuration 0011 (SDM figure 10-10) */

#define IA32_APIC_BASE 0x1B
#define APIC_BASE_ENABLE (1u << 11)

static uint32_t lapic;                 /* virtual = physical (vm.c identity device map) */
static uint32_t errors;

static uint32_t rd(uint32_t reg) { return mmio_read(lapic + reg); }
static void wr(uint32_t reg, uint32_t v) { mmio_write(lapic + reg, v); }

void lapic_init(uint32_t pa)
{
    uint64_t base = rdmsr(IA32_APIC_BASE);
    if (!(base & APIC_BASE_ENABLE))    /* globally disabled by the firmware: enable */
        wrmsr(IA32_APIC_BASE, base | APIC_BASE_ENABLE);
    lapic = (uint32_t)kvm_map_device(pa);

    wr(SVR, SVR_ENABLE | T_SPURIOUS);
    uint32_t maxlvt = (rd(VER) >> 16) & 0xFF;
    wr(TIMER_DIV, DIV_BY_16);
    wr(LVT_TIMER, LVT_MASKED | LVT_PERIODIC | T_TIMER);     /* lapic_timer_start */
    wr(LVT_LINT0, LVT_MASKED);         /* the 8259 (virtual wire): not used */
    wr(LVT_LINT1, LVT_MASKED);
    if (maxlvt >= 4)
        wr(LVT_PERF, LVT_MASKED);
    if (maxlvt >= 5)
        wr(LVT_THERMAL, LVT_MASKED);
    wr(LVT_ERROR, T_LAPIC_ERR);
    wr(ESR, 0);                        /* back-to-back writes clear the ESR (10.5.3) */
    wr(ESR, 0);
    wr(EOI, 0);                        /* acknowledge anything outstanding */
    wr(TPR, 0);                        /* accept every priority class */
}

/* Unmask the LVT timer, then write the initial count, which starts it
 * (SDM 10.5.4: "a write to the initial-count register starts the timer"). */
void lapic_timer_start(void)
{
    wr(LVT_TIMER, LVT_PERIODIC | T_TIMER);
    wr(TIMER_INIT, TIMER_COUNT);
}

uint32_t lapic_id(void)
{
    return rd(ID) >> 24;
}

void lapic_eoi(void)
{
    wr(EOI, 0);
}

/* LVT error: the ESR says what went wrong (write, then read: 10.5.3). */
void lapic_error_intr(void)
{
    wr(ESR, 0);
    (void)rd(ESR);
    errors++;
}

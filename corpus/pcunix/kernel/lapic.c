/*
 * pcunix/kernel/lapic.c -- the local APIC (Intel SDM vol. 3A ch. 10):
 * software enable through the spurious-interrupt vector register, the LVT
 * (timer periodic at T_TIMER; LINT0 masked, as interrupts come through the
 * I/O APIC; LINT1 NMI where the tables say so; error at T_APICERR), the
 * timer divide register, TPR 0 (accept every class), and EOI.
 */
#include "defs.h"
#include "mmu.h"

#define ID      0x020           /* bits 31:24 */
#define VER     0x030           /* bits 7:0 version, 23:16 max LVT entry */
#define TPR     0x080
#define EOI     0x0B0
#define SVR     0x0F0
#define ESR     0x280
#define LVT_TIMER 0x320
#define LVT_PERF  0x340
#define LVT_LINT0 0x350
#define LVT_LINT1 0x360
#define LVT_ERROR 0x370
#define TICR    0x380
#define TDCR    0x3E0

#define SVR_ENABLE   0x100
#define LVT_MASKED   0x10000
#define LVT_PERIODIC 0x20000
#define LVT_NMI      0x400      /* delivery mode 100 */
#define TDCR_DIV16   0x3        /* SDM figure 10-10 */

static volatile uint32_t *lapic;

static uint32_t rd(uint32_t reg) { return lapic[reg / 4]; }
static void wr(uint32_t reg, uint32_t v) { lapic[reg / 4] = v; (void)lapic[ID / 4]; }  /* read back: the write has landed */

int lapic_id(void)
{
    return lapic ? (int)(rd(ID) >> 24) : 0;
}

void lapic_init(void)
{
    map_mmio(platform.lapic_pa);
    lapic = (volatile uint32_t *)platform.lapic_pa;

    if (platform.bsp_apicid < 0)
        platform.bsp_apicid = lapic_id();
    else if (platform.bsp_apicid != lapic_id())
        kprintf("lapic: tables name APIC %d as the BSP, this CPU is %d\n", platform.bsp_apicid, lapic_id());
    platform.bsp_apicid = lapic_id();

    wr(SVR, SVR_ENABLE | T_SPURIOUS);
    wr(TDCR, TDCR_DIV16);
    wr(LVT_TIMER, LVT_PERIODIC | T_TIMER);
    wr(TICR, TIMER_INITIAL);

    wr(LVT_LINT0, platform.lint_nmi[0] ? LVT_NMI : LVT_MASKED);
    wr(LVT_LINT1, platform.lint_nmi[1] ? LVT_NMI : LVT_MASKED);
    if (((rd(VER) >> 16) & 0xFF) >= 4)
        wr(LVT_PERF, LVT_MASKED);       /* present from max LVT entry 4 on */
    wr(LVT_ERROR, T_APICERR);
    wr(ESR, 0);                         /* SDM 10.5.3: back-to-back writes clear it */
    wr(ESR, 0);
    wr(EOI, 0);                         /* anything the BIOS left in service */
    wr(TPR, 0);
}

void lapic_eoi(void)
{
    if (lapic)
        wr(EOI, 0);
}

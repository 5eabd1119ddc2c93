/*
 * corpus/os/kernel/firmware.c -- reading what the BIOS left in memory: the
 * BIOS data area, checksummed tables, signature scans.  Shared by mp.c
 * and acpi.c.  Low memory is reached through the direct map.
 */
#include "defs.h"
#include "firmware.h"
#include "platform.h"

/* Byte sum of a table; valid tables sum to 0 (MP spec 1.4 4.1, ACPI 5.2). */
uint8_t fw_sum(const void *p, uint32_t n)
{
    const uint8_t *b = p;
    uint8_t s = 0;
    while (n--)
        s += *b++;
    return s;
}

/* The first structure at a 16-byte boundary in [pa, pa + len) that starts
 * with `sig` and whose first `sumlen` bytes sum to 0, or 0. */
const void *fw_scan(uint32_t pa, uint32_t len, const char *sig, uint32_t sumlen)
{
    uint32_t siglen = strlen(sig), first;
    const uint8_t *base = phys_map(pa, len);
    if (!base || siglen < 4 || len < sumlen)
        return 0;
    memcpy(&first, sig, 4);             /* one compare per candidate: a tight loop */
    for (uint32_t off = 0; off + sumlen <= len; off += 16) {
        const uint8_t *p = base + off;
        if (*(const uint32_t *)p == first && memcmp(p, sig, siglen) == 0
            && fw_sum(p, sumlen) == 0)
            return p;
    }
    return 0;
}

/* BIOS data area (IBM PC/AT BIOS technical reference; SeaBIOS bda_s):
 * 40:0E the EBDA segment, 40:13 base memory in KiB. */
uint32_t fw_ebda(void)
{
    const uint8_t *bda = P2V(0x400);
    return ((uint32_t)bda[0x0F] << 8 | bda[0x0E]) << 4;
}

uint32_t fw_base_memory(void)
{
    const uint8_t *bda = P2V(0x400);
    return ((uint32_t)bda[0x14] << 8 | bda[0x13]) * 1024;
}

/* The ISA defaults: IRQ n on pin n, edge-triggered, active high; the
 * local and I/O APIC at their power-on addresses (MP spec 1.4, 5.1). */
void platform_defaults(struct platform *pf)
{
    memset(pf, 0, sizeof *pf);
    pf->lapic_pa = 0xFEE00000;
    pf->ioapic_pa = 0xFEC00000;
    for (int irq = 0; irq < 16; irq++)
        pf->isa[irq].pin = (uint8_t)irq;
}

/* Polarity and trigger mode from the MP spec's INTI flags (table 4-10),
 * which ACPI's MADT uses as well (ACPI 6.4, table 5.50):
 * bits 0-1 polarity 00 bus default, 01 high, 11 low;
 * bits 2-3 trigger 00 bus default, 01 edge, 11 level.  ISA defaults:
 * active high, edge. */
void fw_isa_route(struct platform *pf, int irq, int pin, uint16_t flags)
{
    if (irq < 0 || irq >= 16)
        return;
    pf->isa[irq].pin = (uint8_t)pin;
    pf->isa[irq].active_low = (flags & 3) == 3;
    pf->isa[irq].level = ((flags >> 2) & 3) == 3;
}

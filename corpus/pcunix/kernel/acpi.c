/*
 * pcunix/kernel/acpi.c -- the fallback when there are no MP tables: the
 * ACPI MADT (ACPI 6.4: 5.2.5 RSDP, 5.2.7 RSDT, 5.2.12 MADT).
 *
 * RSDP: "RSD PTR " on a 16-byte boundary in the first KiB of the EBDA or
 * 0xE0000-0xFFFFF, the first 20 bytes summing to 0; RsdtAddress at offset
 * 16.  The RSDT is a table header and 32-bit table addresses; the MADT
 * ("APIC") holds the local APIC address, flags, then (type, length)
 * entries: 0 processor local APIC, 1 I/O APIC, 2 interrupt source
 * override, 4 local APIC NMI.  ISA IRQ n is GSI n unless overridden.
 */
#include "defs.h"
#include "mmu.h"

struct sdt_header {                     /* 5.2.6 */
    char signature[4];
    uint32_t length;
    uint8_t revision, checksum;
    char oem_id[6], oem_table_id[8];
    uint32_t oem_revision, creator_id, creator_revision;
} __attribute__((packed));

struct madt {
    struct sdt_header h;
    uint32_t lapic_pa;
    uint32_t flags;                     /* bit 0 PCAT_COMPAT: 8259s present */
} __attribute__((packed));

enum { MADT_LAPIC = 0, MADT_IOAPIC = 1, MADT_OVERRIDE = 2, MADT_LAPIC_NMI = 4 };

static int rsdp_valid(const uint8_t *p)
{
    return checksum_ok(p, 20);
}

/* a table in the direct map whose bytes sum to 0, or 0 */
static const struct sdt_header *table(uint32_t pa, const char *sig)
{
    if (pa + sizeof(struct sdt_header) > direct_end)
        return 0;
    const struct sdt_header *h = P2V(pa);
    if (memcmp(h->signature, sig, 4) || pa + h->length > direct_end || !checksum_ok(h, h->length))
        return 0;
    return h;
}

static int ioapic_for_gsi(uint32_t gsi)
{
    int best = -1;
    for (int i = 0; i < platform.nioapic; i++)
        if (platform.ioapic[i].gsi_base <= gsi &&
            (best < 0 || platform.ioapic[i].gsi_base > platform.ioapic[best].gsi_base))
            best = i;
    return best;
}

int acpi_init(void)
{
    const uint8_t *rsdp = bios_scan("RSD PTR ", 8, 0xE0000, rsdp_valid);
    if (!rsdp)
        return -1;
    const struct sdt_header *rsdt = table(*(const uint32_t *)(rsdp + 16), "RSDT");
    if (!rsdt)
        return -1;
    const struct madt *madt = 0;
    const uint32_t *entry = (const uint32_t *)(rsdt + 1);
    for (uint32_t i = 0; i < (rsdt->length - sizeof *rsdt) / 4 && !madt; i++)
        madt = (const struct madt *)table(entry[i], "APIC");
    if (!madt)
        return -1;

    memset(&platform, 0, sizeof platform);
    platform.source = "ACPI";
    platform.lapic_pa = madt->lapic_pa;
    platform.bsp_apicid = -1;           /* ACPI does not say: lapic_init reads it */
    platform.lint_nmi[1] = 1;

    const uint8_t *p = (const uint8_t *)(madt + 1), *end = (const uint8_t *)madt + madt->h.length;
    for (; p + 2 <= end && p[1] >= 2; p += p[1]) {
        if (*p == MADT_LAPIC && (*(const uint32_t *)(p + 4) & 1))
            platform.ncpu++;
        if (*p == MADT_IOAPIC && platform.nioapic < NIOAPIC) {
            int i = platform.nioapic++;
            platform.ioapic[i].id = p[2];
            platform.ioapic[i].pa = *(const uint32_t *)(p + 4);
            platform.ioapic[i].gsi_base = *(const uint32_t *)(p + 8);
        }
    }
    if (!platform.ncpu || !platform.nioapic)
        return -1;

    for (int irq = 0; irq < 16; irq++) {
        int io = ioapic_for_gsi(irq);
        platform.isa[irq] = (struct intsrc){ io >= 0, io, irq - (int)platform.ioapic[io < 0 ? 0 : io].gsi_base, 0, 0 };
    }
    for (p = (const uint8_t *)(madt + 1); p + 2 <= end && p[1] >= 2; p += p[1]) {
        if (*p == MADT_OVERRIDE && p[2] == 0 && p[3] < 16) {
            uint32_t gsi = *(const uint32_t *)(p + 4);
            uint16_t flags = *(const uint16_t *)(p + 8);     /* MPS INTI flags */
            int io = ioapic_for_gsi(gsi);
            if (io < 0)
                continue;
            platform.isa[p[3]] = (struct intsrc){ 1, io, (int)(gsi - platform.ioapic[io].gsi_base),
                                                  (flags & 3) == 3, ((flags >> 2) & 3) == 3 };
        }
        if (*p == MADT_LAPIC_NMI && p[5] < 2)
            platform.lint_nmi[p[5]] = 1;
    }
    return 0;
}

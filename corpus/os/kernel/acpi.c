/*
 * corpus/os/kernel/acpi.c -- the ACPI tables, for boards without MP
 * tables (ACPI 6.4, 5.2): RSDP -> RSDT -> MADT ("APIC").
 *
 * The RSDP is searched in the first KiB of the EBDA and in 0xE0000-0xFFFFF
 * on 16-byte boundaries (5.2.5.1).  From the MADT (5.2.12) we read the
 * local APIC address, processor local APIC entries (type 0, counted when
 * enabled), the first I/O APIC (type 1; it must serve GSI 0), and
 * interrupt source overrides (type 2) for ISA IRQs: without an override
 * ISA IRQ n is GSI n, edge, active high.
 */
#include "defs.h"
#include "firmware.h"
#include "platform.h"

struct rsdp {                           /* 5.2.5.3, the ACPI 1.0 part */
    char signature[8];                  /* "RSD PTR " */
    uint8_t checksum;                   /* over these 20 bytes */
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt_pa;
} __attribute__((packed));

struct sdt_header {                     /* 5.2.6 */
    char signature[4];
    uint32_t length;
    uint8_t revision, checksum;
    char oem_id[6], oem_table_id[8];
    uint32_t oem_revision, creator_id, creator_revision;
} __attribute__((packed));

struct madt {                           /* 5.2.12 */
    struct sdt_header h;                /* "APIC" */
    uint32_t lapic_pa;
    uint32_t flags;                     /* bit 0 PCAT_COMPAT: 8259s present */
} __attribute__((packed));

enum { MADT_LAPIC = 0, MADT_IOAPIC = 1, MADT_OVERRIDE = 2 };

/* A whole, checksummed system description table at pa, or 0. */
static const struct sdt_header *sdt(uint32_t pa, const char *sig)
{
    const struct sdt_header *h = phys_map(pa, sizeof *h);
    if (!h || memcmp(h->signature, sig, 4) != 0 || h->length < sizeof *h)
        return 0;
    h = phys_map(pa, h->length);
    return h && fw_sum(h, h->length) == 0 ? h : 0;
}

static const struct madt *find_madt(void)
{
    const struct rsdp *rsdp = 0;
    uint32_t ebda = fw_ebda();
    if (ebda)
        rsdp = fw_scan(ebda, 1024, "RSD PTR ", sizeof *rsdp);
    if (!rsdp)
        rsdp = fw_scan(0xE0000, 0x20000, "RSD PTR ", sizeof *rsdp);
    if (!rsdp)
        return 0;
    const struct sdt_header *rsdt = sdt(rsdp->rsdt_pa, "RSDT");
    if (!rsdt)
        return 0;
    const uint32_t *entry = (const uint32_t *)(rsdt + 1);
    int n = (rsdt->length - sizeof *rsdt) / 4;
    for (int i = 0; i < n; i++) {
        const struct sdt_header *h = sdt(entry[i], "APIC");
        if (h && h->length >= sizeof(struct madt))
            return (const struct madt *)h;
    }
    return 0;
}

int acpi_find(struct platform *pf)
{
    const struct madt *madt = find_madt();
    if (!madt)
        return -1;
    platform_defaults(pf);
    pf->source = "ACPI";
    pf->lapic_pa = madt->lapic_pa;
    int have_ioapic = 0;
    const uint8_t *p = (const uint8_t *)(madt + 1), *end = (const uint8_t *)madt + madt->h.length;
    for (; p + 2 <= end && p[1] >= 2 && p + p[1] <= end; p += p[1]) {
        switch (p[0]) {
        case MADT_LAPIC:                /* uid, apic id, flags (bit 0 enabled) */
            if (p[4] & 1)
                pf->ncpu++;
            break;
        case MADT_IOAPIC:               /* id, reserved, address, GSI base */
            if (!have_ioapic && *(const uint32_t *)(p + 8) == 0) {
                pf->ioapic_id = p[2];
                pf->ioapic_pa = *(const uint32_t *)(p + 4);
                have_ioapic = 1;
            }
            break;
        case MADT_OVERRIDE:             /* bus 0 (ISA), source IRQ, GSI, INTI flags */
            if (p[2] == 0)
                fw_isa_route(pf, p[3], (int)*(const uint32_t *)(p + 4),
                             *(const uint16_t *)(p + 8));
            break;
        }
    }
    return have_ioapic ? 0 : -1;
}

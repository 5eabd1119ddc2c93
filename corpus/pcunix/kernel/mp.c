/*
 * pcunix/kernel/mp.c -- the CPU and interrupt configuration from the Intel
 * MultiProcessor Specification 1.4 tables, and the BIOS-area scan that the
 * ACPI RSDP search shares.
 *
 * MP spec 1.4, 4.1: the floating pointer structure ("_MP_", 16 bytes,
 * 16-byte aligned, byte sum 0) lies in (a) the first KiB of the EBDA, whose
 * segment is the word at 0x40E in the BIOS data area, (b) the last KiB of
 * base memory (the word at 0x413 is its size in KiB) or (c) the BIOS ROM,
 * 0xF0000-0xFFFFF.  It points to the configuration table ("PCMP", 4.2):
 * a header then entries (4.3): processor (type 0, 20 bytes), bus (1),
 * I/O APIC (2), I/O interrupt assignment (3), local interrupt assignment
 * (4), the last four 8 bytes each.
 */
#include "defs.h"
#include "mmu.h"

struct platform platform;

struct mpfloat {                        /* MP spec 4.1, table 4-1 */
    char signature[4];                  /* "_MP_" */
    uint32_t config_pa;
    uint8_t length;                     /* in 16-byte units: 1 */
    uint8_t spec_rev;                   /* 1 (1.1) or 4 (1.4) */
    uint8_t checksum;
    uint8_t feature1;                   /* 0: a configuration table exists */
    uint8_t feature2;                   /* bit 7 IMCRP: IMCR present, PIC mode */
    uint8_t feature3_5[3];
} __attribute__((packed));

struct mpconf {                         /* MP spec 4.2, table 4-2 */
    char signature[4];                  /* "PCMP" */
    uint16_t length;                    /* base table, header included */
    uint8_t spec_rev;
    uint8_t checksum;
    char oem_id[8], product_id[12];
    uint32_t oem_table;
    uint16_t oem_table_size;
    uint16_t entry_count;
    uint32_t lapic_pa;
    uint16_t ext_length;
    uint8_t ext_checksum, reserved;
} __attribute__((packed));

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_IOINTR, MP_LINTR };

struct mpproc {                         /* 4.3.1 */
    uint8_t type, apic_id, apic_version, flags;     /* flags: bit 0 EN, bit 1 BP */
    uint32_t signature, features, reserved[2];
} __attribute__((packed));

struct mpbus {                          /* 4.3.2 */
    uint8_t type, bus_id;
    char bus_type[6];                   /* "ISA   ", "PCI   ", ... */
} __attribute__((packed));

struct mpioapic {                       /* 4.3.3 */
    uint8_t type, apic_id, version, flags;          /* flags: bit 0 EN */
    uint32_t pa;
} __attribute__((packed));

struct mpintr {                         /* 4.3.4 and 4.3.5 */
    uint8_t type, intr_type;            /* 0 INT, 1 NMI, 2 SMI, 3 ExtINT */
    uint16_t flags;                     /* bits 1:0 polarity, 3:2 trigger */
    uint8_t src_bus, src_irq;
    uint8_t dst_apic, dst_pin;          /* I/O APIC id and INTIN#, or local APIC id and LINTIN# */
} __attribute__((packed));

#define MP_INT      0
#define MP_NMI      1
#define MP_EXTINT   3
#define MPPROC_EN   0x01
#define MPPROC_BP   0x02

int checksum_ok(const void *p, uint32_t len)
{
    uint8_t sum = 0;
    for (uint32_t i = 0; i < len; i++)
        sum += ((const uint8_t *)p)[i];
    return sum == 0;
}

static void *scan(uint32_t pa, uint32_t len, const char *sig, int siglen,
                  int (*valid)(const uint8_t *))
{
    for (uint32_t a = pa; a + 16 <= pa + len; a += 16) {
        const uint8_t *p = P2V(a);
        if (!memcmp(p, sig, siglen) && valid(p))
            return (void *)p;
    }
    return 0;
}

/* A 16-byte-aligned structure in the BIOS areas the MP spec (4.1) names,
 * in its order, the ROM from rom_start to 1 MiB.  The ACPI RSDP search
 * (ACPI 6.4, 5.2.5.1) is the same with the ROM from 0xE0000. */
void *bios_scan(const char *sig, int siglen, uint32_t rom_start, int (*valid)(const uint8_t *))
{
    uint32_t ebda = (uint32_t)*(uint16_t *)P2V(0x40E) << 4;
    uint32_t basemem = (uint32_t)*(uint16_t *)P2V(0x413) * 1024;
    void *p = 0;
    if (ebda)
        p = scan(ebda, 1024, sig, siglen, valid);
    if (!p && basemem >= 1024)
        p = scan(basemem - 1024, 1024, sig, siglen, valid);
    if (!p)
        p = scan(rom_start, 0x100000 - rom_start, sig, siglen, valid);
    return p;
}

static int mpfloat_valid(const uint8_t *p)
{
    const struct mpfloat *f = (const void *)p;
    return f->length == 1 && checksum_ok(p, 16) && (f->spec_rev == 1 || f->spec_rev == 4);
}

static int isa_bus[256];

static void intsrc(const struct mpintr *e)
{
    if (e->intr_type != MP_INT || !isa_bus[e->src_bus] || e->src_irq >= 16)
        return;
    int idx = -1;
    for (int i = 0; i < platform.nioapic; i++)
        if (platform.ioapic[i].id == e->dst_apic || e->dst_apic == 0xFF)
            idx = i;
    if (idx < 0)
        return;
    /* MP spec 4.3.4, table 4-10: polarity 01 high, 11 low; trigger 01
     * edge, 11 level; 00 "conforms to the bus": ISA is high and edge */
    struct intsrc *s = &platform.isa[e->src_irq];
    s->found = 1;
    s->ioapic = idx;
    s->pin = e->dst_pin;
    s->active_low = (e->flags & 3) == 3;
    s->level = ((e->flags >> 2) & 3) == 3;
}

int mp_init(void)
{
    const struct mpfloat *f = bios_scan("_MP_", 4, 0xF0000, mpfloat_valid);
    if (!f)
        return -1;
    if (f->feature1 != 0) {
        kprintf("mp: default configuration %u: not supported\n", f->feature1);
        return -1;
    }
    if (f->config_pa + sizeof(struct mpconf) > direct_end)
        return -1;
    const struct mpconf *c = P2V(f->config_pa);
    if (f->config_pa + c->length > direct_end)
        return -1;
    if (memcmp(c->signature, "PCMP", 4) || !checksum_ok(c, c->length) ||
        (c->spec_rev != 1 && c->spec_rev != 4))
        return -1;

    memset(&platform, 0, sizeof platform);
    memset(isa_bus, 0, sizeof isa_bus);
    platform.source = "MP";
    platform.lapic_pa = c->lapic_pa;
    platform.imcr = (f->feature2 & 0x80) != 0;
    platform.lint_nmi[1] = 1;           /* the default: LINT1 is NMI (MP spec 5.1) */

    /* two passes: buses and I/O APICs first, then the interrupts that name them */
    for (int pass = 0; pass < 2; pass++) {
        const uint8_t *p = (const uint8_t *)(c + 1), *end = (const uint8_t *)c + c->length;
        for (int n = 0; n < c->entry_count && p < end; n++) {
            switch (*p) {
            case MP_PROCESSOR: {
                const struct mpproc *e = (const void *)p;
                if (pass == 0 && (e->flags & MPPROC_EN)) {
                    platform.ncpu++;
                    if (e->flags & MPPROC_BP)
                        platform.bsp_apicid = e->apic_id;
                }
                p += sizeof *e;
                break;
            }
            case MP_BUS: {
                const struct mpbus *e = (const void *)p;
                if (pass == 0)
                    isa_bus[e->bus_id] = !memcmp(e->bus_type, "ISA   ", 6);
                p += sizeof *e;
                break;
            }
            case MP_IOAPIC: {
                const struct mpioapic *e = (const void *)p;
                if (pass == 0 && (e->flags & 1) && platform.nioapic < NIOAPIC) {
                    int i = platform.nioapic++;
                    platform.ioapic[i].id = e->apic_id;
                    platform.ioapic[i].pa = e->pa;
                }
                p += sizeof *e;
                break;
            }
            case MP_IOINTR:
                if (pass == 1)
                    intsrc((const void *)p);
                p += sizeof(struct mpintr);
                break;
            case MP_LINTR: {
                const struct mpintr *e = (const void *)p;
                if (pass == 1 && e->dst_pin < 2 &&
                    (e->dst_apic == 0xFF || e->dst_apic == platform.bsp_apicid))
                    platform.lint_nmi[e->dst_pin] = e->intr_type == MP_NMI;
                p += sizeof *e;
                break;
            }
            default:
                kprintf("mp: unknown entry type %u\n", *p);
                return -1;
            }
        }
    }
    return platform.ncpu && platform.nioapic ? 0 : -1;
}

/*
 * corpus/os/kernel/mp.c -- the Intel MultiProcessor Specification 1.4
 * tables: where the local APIC and the I/O APIC are, and which I/O APIC
 * pin each ISA IRQ arrives on.
 *
 * The MP floating pointer structure (MP spec 1.4, 4.1) is searched where
 * section 4 says: (a) the first KiB of the extended BIOS data area, or
 * (b) if there is no EBDA, the last KiB of base memory; then (c) the BIOS
 * ROM, 0xF0000-0xFFFFF.  It points to the MP configuration table (4.2),
 * whose entries (4.3) we read:
 *   type 0 processor         enabled CPUs are counted
 *   type 1 bus               which bus id is "ISA"
 *   type 2 I/O APIC          the first enabled one: its id and address
 *   type 3 I/O interrupt     INT entries from the ISA bus: IRQ -> INTIN#,
 *                            with polarity and trigger flags
 *   type 4 local interrupt   (not needed: LINT0/1 are masked)
 * Feature byte 2, bit 7 (IMCRP) says the board starts in PIC mode behind
 * the IMCR (3.6.2.1); pic.c then switches it to symmetric I/O mode.
 */
#include "defs.h"
#include "firmware.h"
#include "platform.h"

struct mp_fps {                         /* floating pointer structure, table 4-1 */
    char signature[4];                  /* "_MP_" */
    uint32_t config_pa;                 /* the configuration table, 0 if none */
    uint8_t length;                     /* in 16-byte units: 1 */
    uint8_t spec_rev;                   /* 1 or 4 */
    uint8_t checksum;
    uint8_t feature1;                   /* nonzero: a default configuration (ch. 5) */
    uint8_t feature2;                   /* bit 7: IMCR present */
    uint8_t reserved[3];
} __attribute__((packed));

struct mp_config {                      /* configuration table header, table 4-2 */
    char signature[4];                  /* "PCMP" */
    uint16_t length;                    /* base table, header included */
    uint8_t spec_rev;
    uint8_t checksum;
    char oem_id[8];
    char product_id[12];
    uint32_t oem_table_pa;
    uint16_t oem_table_size;
    uint16_t entry_count;
    uint32_t lapic_pa;
    uint16_t ext_length;
    uint8_t ext_checksum;
    uint8_t reserved;
} __attribute__((packed));

enum { MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_IOINTR = 3, MP_LINTR = 4 };

struct mp_processor {                   /* table 4-4, 20 bytes */
    uint8_t type, apic_id, apic_version, flags;     /* flags bit 0: enabled */
    uint32_t signature, features, reserved[2];
} __attribute__((packed));

struct mp_bus {                         /* table 4-6, 8 bytes */
    uint8_t type, bus_id;
    char bus_type[6];                   /* "ISA   ", "PCI   ", ... */
} __attribute__((packed));

struct mp_ioapic {                      /* table 4-7, 8 bytes */
    uint8_t type, id, version, flags;   /* flags bit 0: enabled */
    uint32_t address;
} __attribute__((packed));

struct mp_intr {                        /* tables 4-9 and 4-11, 8 bytes */
    uint8_t type, intr_type;            /* 0 INT, 1 NMI, 2 SMI, 3 ExtINT */
    uint16_t flags;                     /* polarity, trigger (table 4-10) */
    uint8_t src_bus, src_irq, dst_apic, dst_pin;
} __attribute__((packed));

static const struct mp_fps *find_fps(void)
{
    const struct mp_fps *fps;
    uint32_t ebda = fw_ebda(), base = fw_base_memory();
    if (ebda) {
        if ((fps = fw_scan(ebda, 1024, "_MP_", sizeof *fps)))
            return fps;
    } else if (base >= 1024 && base <= 0xA0000) {
        if ((fps = fw_scan(base - 1024, 1024, "_MP_", sizeof *fps)))
            return fps;
    }
    return fw_scan(0xF0000, 0x10000, "_MP_", sizeof *fps);
}

static int entry_size(uint8_t type)
{
    return type == MP_PROCESSOR ? 20 : 8;
}

/* Walk the base table's entries; returns -1 if the table is malformed. */
static int read_entries(const struct mp_config *conf, struct platform *pf)
{
    const uint8_t *p = (const uint8_t *)(conf + 1), *end = (const uint8_t *)conf + conf->length;
    int isa_bus = -1, have_ioapic = 0;
    /* Bus entries come before the interrupt entries that name them (4.3). */
    for (int i = 0; i < conf->entry_count && p < end; i++, p += entry_size(*p)) {
        switch (*p) {
        case MP_PROCESSOR:
            if (((const struct mp_processor *)p)->flags & 1)
                pf->ncpu++;
            break;
        case MP_BUS:
            if (memcmp(((const struct mp_bus *)p)->bus_type, "ISA", 3) == 0)
                isa_bus = ((const struct mp_bus *)p)->bus_id;
            break;
        case MP_IOAPIC: {
            const struct mp_ioapic *io = (const void *)p;
            if ((io->flags & 1) && !have_ioapic) {
                pf->ioapic_id = io->id;
                pf->ioapic_pa = io->address;
                have_ioapic = 1;
            }
            break;
        }
        case MP_IOINTR: {
            const struct mp_intr *in = (const void *)p;
            if (in->intr_type == 0 && in->src_bus == isa_bus
                && (in->dst_apic == pf->ioapic_id || in->dst_apic == 0xFF))
                fw_isa_route(pf, in->src_irq, in->dst_pin, in->flags);
            break;
        }
        case MP_LINTR:
            break;
        default:
            return -1;                  /* unknown entry type: its size is unknown */
        }
    }
    return have_ioapic ? 0 : -1;
}

int mp_find(struct platform *pf)
{
    const struct mp_fps *fps = find_fps();
    if (!fps)
        return -1;
    platform_defaults(pf);
    pf->source = "MP";
    pf->imcr = (fps->feature2 & 0x80) != 0;
    if (fps->feature1) {                /* default configuration: two CPUs (5.1) */
        pf->ncpu = 2;
        pf->ioapic_id = 2;
        return 0;
    }
    const struct mp_config *conf = phys_map(fps->config_pa, sizeof *conf);
    if (!conf || memcmp(conf->signature, "PCMP", 4) != 0)
        return -1;
    conf = phys_map(fps->config_pa, conf->length);
    if (!conf || fw_sum(conf, conf->length) != 0)
        return -1;
    pf->lapic_pa = conf->lapic_pa;
    return read_entries(conf, pf);
}

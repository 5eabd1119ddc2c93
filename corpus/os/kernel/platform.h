/*
 * corpus/os/kernel/platform.h -- what the firmware tables say about the
 * interrupt hardware: filled by mp.c (Intel MP tables) or, failing that,
 * acpi.c (RSDP/RSDT/MADT); used by lapic.c, ioapic.c and pic.c.
 */
#ifndef BTOS_PLATFORM_H
#define BTOS_PLATFORM_H

#include <stdint.h>

/* Where an ISA IRQ enters the I/O APIC, with its electrical properties
 * (the MP spec's I/O interrupt entry flags, table 4-10, which ACPI's MADT
 * interrupt source override reuses). */
struct irq_route {
    uint8_t pin;                /* INTIN# of the I/O APIC */
    uint8_t active_low;         /* polarity: 0 high (ISA default), 1 low */
    uint8_t level;              /* trigger: 0 edge (ISA default), 1 level */
};

struct platform {
    const char *source;         /* "MP" or "ACPI": which tables were used */
    uint32_t lapic_pa;          /* local APIC registers (physical) */
    uint32_t ioapic_pa;         /* the (first) I/O APIC's registers */
    uint32_t ioapic_id;
    int ncpu;                   /* enabled processors listed */
    int imcr;                   /* IMCR present: the board boots in PIC mode */
    struct irq_route isa[16];   /* ISA IRQ -> I/O APIC pin */
};

extern struct platform platform;

/* Each returns 0 and fills *pf, or -1 if its tables are not there.  They
 * start from the ISA defaults (IRQ n -> pin n, edge, active high). */
int mp_find(struct platform *pf);
int acpi_find(struct platform *pf);
void platform_defaults(struct platform *pf);

#endif

/*
 * corpus/os/kernel/ioapic.c -- the I/O APIC (Intel 82093AA datasheet):
 * routes ISA IRQs to local APIC vectors.
 *
 * Two registers are memory-mapped: IOREGSEL at +0x00 selects an indirect
 * register, IOWIN at +0x10 reads or writes it (datasheet 3.1).  Indirect
 * registers used:
 *   0x00 IOAPICID (bits 24-27)
 *   0x01 IOAPICVER (bits 16-23: highest redirection entry)
 *   0x10 + 2n, 0x11 + 2n  redirection table entry n, low and high dword
 *        (3.2.4): vector (0-7), delivery mode fixed (8-10 = 000),
 *        destination mode physical (11 = 0), polarity (13, 1 = active
 *        low), trigger mode (15, 1 = level), mask (16); destination local
 *        APIC id in bits 56-59.
 */
#include "defs.h"
#include "platform.h"
#include "trap.h"
#include "x86.h"

#define IOREGSEL 0x00
#define IOWIN    0x10
#define REG_ID   0x00
#define REG_VER  0x01
#define REG_TABLE 0x10

#define RTE_ACTIVE_LOW (1u << 13)
#define RTE_LEVEL      (1u << 15)
#define RTE_MASKED     (1u << 16)

static uint32_t ioapic;
static int npins;

static uint32_t rd(uint32_t reg)
{
    mmio_write(ioapic + IOREGSEL, reg);
    return mmio_read(ioapic + IOWIN);
}

static void wr(uint32_t reg, uint32_t v)
{
    mmio_write(ioapic + IOREGSEL, reg);
    mmio_write(ioapic + IOWIN, v);
}

/* Mask every pin (ioapic_route opens the ones we serve); the pin count.
 * The MP spec (3.6.6) lets the firmware leave the ID register to the OS:
 * if it differs from the id the tables gave, it is set to that id. */
int ioapic_init(uint32_t pa, uint32_t id)
{
    ioapic = (uint32_t)kvm_map_device(pa);
    if (((rd(REG_ID) >> 24) & 0x0F) != (id & 0x0F))
        wr(REG_ID, (id & 0x0F) << 24);
    npins = ((rd(REG_VER) >> 16) & 0xFF) + 1;
    for (int pin = 0; pin < npins; pin++) {
        wr(REG_TABLE + 2 * pin, RTE_MASKED | (T_IRQ0 + pin));
        wr(REG_TABLE + 2 * pin + 1, 0);
    }
    return npins;
}

/* Deliver ISA `irq` as `vector` (fixed, physical) to the local APIC
 * `dest`, with the polarity and trigger mode the firmware tables gave. */
void ioapic_route(int irq, int vector, uint32_t dest)
{
    const struct irq_route *r = &platform.isa[irq];
    if (r->pin >= npins)
        panic("ioapic: IRQ %d is on pin %d, but the I/O APIC has %d pins", irq, r->pin, npins);
    uint32_t low = (uint32_t)vector;
    if (r->active_low)
        low |= RTE_ACTIVE_LOW;
    if (r->level)
        low |= RTE_LEVEL;
    wr(REG_TABLE + 2 * r->pin + 1, dest << 24);
    wr(REG_TABLE + 2 * r->pin, low);    /* unmasked last, with its destination set */
}

/*
 * pcunix/kernel/ioapic.c -- the I/O APICs (Intel 82093AA datasheet).
 *
 * Registers are reached indirectly: the index goes to IOREGSEL (base +
 * 0x00), the value through IOWIN (base + 0x10).  Index 0x00 IOAPICID (bits
 * 27:24), 0x01 IOAPICVER (bits 7:0 version, 23:16 maximum redirection
 * entry), 0x10 + 2n / 0x11 + 2n redirection entry n: bits 7:0 vector,
 * 10:8 delivery mode (000 fixed), 11 destination mode (0 physical),
 * 13 polarity (1 low), 15 trigger (1 level), 16 mask; bits 63:56 the
 * destination APIC ID.
 */
#include "defs.h"
#include "mmu.h"

#define IOREGSEL 0x00
#define IOWIN    0x10
#define REG_ID   0x00
#define REG_VER  0x01
#define REG_TABLE 0x10

#define INT_MASKED   0x10000
#define INT_LEVEL    0x08000
#define INT_ACTIVELOW 0x02000

static int npins[NIOAPIC];

static uint32_t ioapic_read(int i, uint32_t reg)
{
    volatile uint32_t *base = (volatile uint32_t *)platform.ioapic[i].pa;
    base[IOREGSEL / 4] = reg;
    return base[IOWIN / 4];
}

static void ioapic_write(int i, uint32_t reg, uint32_t v)
{
    volatile uint32_t *base = (volatile uint32_t *)platform.ioapic[i].pa;
    base[IOREGSEL / 4] = reg;
    base[IOWIN / 4] = v;
}

void ioapic_init(void)
{
    for (int i = 0; i < platform.nioapic; i++) {
        map_mmio(platform.ioapic[i].pa);
        int id = (ioapic_read(i, REG_ID) >> 24) & 0xF;
        uint32_t ver = ioapic_read(i, REG_VER);
        npins[i] = ((ver >> 16) & 0xFF) + 1;
        kprintf("ioapic: id %d at 0x%x, %d pins\n", platform.ioapic[i].id, platform.ioapic[i].pa, npins[i]);
        if (id != platform.ioapic[i].id)
            kprintf("ioapic: ID register says %d\n", id);
        for (int pin = 0; pin < npins[i]; pin++) {       /* every pin masked */
            ioapic_write(i, REG_TABLE + 2 * pin, INT_MASKED | (T_IRQ0 + pin));
            ioapic_write(i, REG_TABLE + 2 * pin + 1, 0);
        }
    }
}

/* where ISA IRQ irq arrives: the table entry, or the ISA default pin = IRQ */
static struct intsrc isa_source(int irq)
{
    struct intsrc s = platform.isa[irq];
    if (!s.found) {
        s.ioapic = 0;
        s.pin = irq;
    }
    if (s.ioapic >= platform.nioapic || s.pin >= npins[s.ioapic])
        panic("ioapic: IRQ %d has no pin", irq);
    return s;
}

/* vector < 0: left masked */
static void describe(int irq, int vector, struct intsrc s)
{
    kprintf("ioapic: ISA IRQ %d -> ioapic %d pin %d (%s, active %s)%s -> ", irq,
            platform.ioapic[s.ioapic].id, s.pin, s.level ? "level" : "edge",
            s.active_low ? "low" : "high", s.found ? "" : " [no table entry]");
    if (vector < 0)
        kprintf("masked\n");
    else
        kprintf("vector 0x%x\n", vector);
}

/* ISA IRQ irq to vector on the boot CPU, as the tables wire and trigger it */
void ioapic_route(int irq, int vector)
{
    struct intsrc s = isa_source(irq);
    uint32_t lo = (uint32_t)vector | (s.level ? INT_LEVEL : 0) | (s.active_low ? INT_ACTIVELOW : 0);
    ioapic_write(s.ioapic, REG_TABLE + 2 * s.pin + 1, (uint32_t)platform.bsp_apicid << 24);
    ioapic_write(s.ioapic, REG_TABLE + 2 * s.pin, lo);
    describe(irq, vector, s);
}

/* an IRQ we leave masked, shown for what the tables say of it */
void ioapic_show(int irq)
{
    describe(irq, -1, isa_source(irq));
}

/*
 * pcunix/kernel/pic.c -- the two 8259A PICs and the IMCR.
 *
 * The PICs are remapped off the exception vectors (8259A datasheet: ICW1
 * 0x11 = edge, cascade, ICW4 follows; ICW2 the vector base; ICW3 the
 * cascade on IRQ 2; ICW4 8086 mode), then fully masked (OCW1 = 0xFF):
 * interrupts come through the I/O APIC.  A spurious IRQ 7/15 from a masked
 * PIC would arrive at T_PIC + 7 / + 15, which trap() ignores.
 *
 * MP spec 3.6.2.1: where the floating pointer's IMCRP bit is set the BIOS
 * left the machine in PIC mode, the 8259 wired straight to the CPU; writing
 * 0x70 to port 0x22 selects the IMCR and 0x01 to port 0x23 routes the
 * interrupts through the APIC instead.
 */
#include "defs.h"
#include "x86.h"

#define PIC1_CMD  0x20
#define PIC1_DATA 0x21
#define PIC2_CMD  0xA0
#define PIC2_DATA 0xA1

void pic_disable(void)
{
    outb(PIC1_CMD, 0x11);
    outb(PIC2_CMD, 0x11);
    outb(PIC1_DATA, T_PIC);
    outb(PIC2_DATA, T_PIC + 8);
    outb(PIC1_DATA, 1 << 2);            /* master: slave on IRQ 2 */
    outb(PIC2_DATA, 2);                 /* slave: cascade identity 2 */
    outb(PIC1_DATA, 0x01);
    outb(PIC2_DATA, 0x01);
    outb(PIC1_DATA, 0xFF);
    outb(PIC2_DATA, 0xFF);
}

void imcr_apic_mode(void)
{
    outb(0x22, 0x70);
    outb(0x23, inb(0x23) | 0x01);
}

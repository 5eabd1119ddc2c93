/*
 * corpus/os/kernel/pic.c -- put the legacy interrupt hardware out of the
 * way: the IMCR (if the board has one) and the two 8259A PICs.
 *
 * A board with an IMCR starts in PIC mode: the 8259's INTR goes straight
 * to the CPU.  Writing 0x70 to port 0x22 selects the IMCR and 0x01 to port
 * 0x23 connects INTR and NMI to the local APIC instead (MP spec 1.4,
 * 3.6.2.1).  Boards without it are in virtual-wire mode, the 8259 behind
 * LINT0, which lapic.c masks.  Either way we also reprogram both 8259As
 * (Intel 8259A datasheet, ICW1-ICW4) onto vectors 0xE0-0xEF, away from
 * exceptions and our own vectors, and mask all their lines (OCW1), so a
 * stray legacy interrupt could only show up as "unexpected".
 */
#include "defs.h"
#include "x86.h"

#define PIC1_CMD  0x20
#define PIC1_DATA 0x21
#define PIC2_CMD  0xA0
#define PIC2_DATA 0xA1
#define PIC_VECTORS 0xE0

void pic_disable(int imcr)
{
    if (imcr) {
        outb(0x22, 0x70);               /* select the IMCR */
        outb(0x23, 0x01);               /* INTR/NMI through the APIC */
    }
    outb(PIC1_CMD, 0x11);               /* ICW1: edge, cascade, ICW4 follows */
    outb(PIC2_CMD, 0x11);
    outb(PIC1_DATA, PIC_VECTORS);       /* ICW2: vector base */
    outb(PIC2_DATA, PIC_VECTORS + 8);
    outb(PIC1_DATA, 0x04);              /* ICW3: a slave on IR2 */
    outb(PIC2_DATA, 0x02);              /* ICW3: slave id 2 */
    outb(PIC1_DATA, 0x01);              /* ICW4: 8086 mode, normal EOI */
    outb(PIC2_DATA, 0x01);
    outb(PIC1_DATA, 0xFF);              /* OCW1: every line masked */
    outb(PIC2_DATA, 0xFF);
}

/*
 * pcunix/kernel/uart.c -- COM1, a 16550 UART at 0x3F8 on ISA IRQ 4: the
 * console.  Output is polled (THRE); input is interrupt-driven.
 *
 * National Semiconductor PC16550D datasheet, "Register descriptions":
 *   0 RBR/THR (DLL with LCR.DLAB)   1 IER (DLM with DLAB)   2 IIR/FCR
 *   3 LCR   4 MCR   5 LSR   6 MSR   7 SCR
 * On a PC the UART's interrupt output reaches the IRQ line only while
 * MCR.OUT2 is set (IBM PC/AT technical reference, serial adapter).
 */
#include "defs.h"
#include "x86.h"

#define COM1        0x3F8
#define RBR 0
#define THR 0
#define DLL 0
#define DLM 1
#define IER 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6

#define IER_ERBFI   0x01        /* received data available */
#define IIR_NOPEND  0x01        /* bit 0 set: no interrupt pending */
#define IIR_ID(v)   (((v) >> 1) & 7)
#define IIR_MODEM   0           /* modem status: read MSR */
#define IIR_THRE    1           /* transmitter empty: read IIR (done) */
#define IIR_RDA     2           /* received data: read RBR */
#define IIR_RLS     3           /* receiver line status: read LSR */
#define IIR_TIMEOUT 6           /* FIFO character timeout: read RBR */
#define LCR_DLAB    0x80
#define LCR_8N1     0x03
#define MCR_DTR     0x01
#define MCR_RTS     0x02
#define MCR_OUT2    0x08
#define LSR_DR      0x01
#define LSR_THRE    0x20

void uart_init(void)
{
    outb(COM1 + IER, 0);
    outb(COM1 + LCR, LCR_DLAB);
    outb(COM1 + DLL, 1);                /* 115200 / 1 = 115200 baud */
    outb(COM1 + DLM, 0);
    outb(COM1 + LCR, LCR_8N1);
    /* FIFOs off (16450 mode, as at reset): turning them on clears them
     * (PC16550D, FCR bit 0), and the byte a sender has already put in
     * RBR would be lost.  One byte at a time is plenty for a console. */
    outb(COM1 + FCR, 0);
    outb(COM1 + MCR, MCR_DTR | MCR_RTS | MCR_OUT2);
}

/* After the I/O APIC routes IRQ 4: take what arrived before (typed
 * ahead: it is input, not noise), clear stale status, then enable the
 * receive interrupt. */
void uart_enable_rx(void)
{
    while (inb(COM1 + LSR) & LSR_DR)
        console_input(inb(COM1 + RBR));
    (void)inb(COM1 + IIR);
    (void)inb(COM1 + MSR);
    outb(COM1 + IER, IER_ERBFI);
}

void uart_putc(int c)
{
    for (int i = 0; i < 100000 && !(inb(COM1 + LSR) & LSR_THRE); i++)
        asm volatile("pause");
    outb(COM1 + THR, (uint8_t)c);
}

/* IRQ 4: serve every pending cause, highest priority first, until IIR
 * says none is left. */
void uart_intr(void)
{
    for (int guard = 0; guard < 64; guard++) {
        uint8_t iir = inb(COM1 + IIR);
        if (iir & IIR_NOPEND)
            return;
        switch (IIR_ID(iir)) {
        case IIR_RLS:
            (void)inb(COM1 + LSR);
            break;
        case IIR_RDA:
        case IIR_TIMEOUT:
            while (inb(COM1 + LSR) & LSR_DR)
                console_input(inb(COM1 + RBR));
            break;
        case IIR_MODEM:
            (void)inb(COM1 + MSR);
            break;
        default:                        /* THRE: reading IIR cleared it */
            break;
        }
    }
}

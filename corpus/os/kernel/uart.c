/*
 * corpus/os/kernel/uart.c -- the 16550 UART on COM1 (I/O ports 0x3f8..0x3ff,
 * ISA IRQ 4): polled output, interrupt-driven input.
 *
 * Registers (National PC16550D datasheet, table 2):
 *   +0 RBR (read) / THR (write), DLL when LCR.DLAB=1
 *   +1 IER (bit 0 ERBFI: received-data interrupt), DLM when LCR.DLAB=1
 *   +2 IIR (read: bit 0 = 1 "no interrupt pending", bits 1-3 the cause)
 *      FCR (write)
 *   +3 LCR   +4 MCR (bit 3 OUT2 gates the interrupt line on a PC)
 *   +5 LSR (bit 0 DR data ready, bit 5 THRE transmitter holding empty)
 *   +6 MSR
 *
 * The FIFOs stay off (16450 mode, the state after reset): changing
 * FCR.FIFOE clears both FIFOs (datasheet, FCR bit 0), which would drop a
 * byte that arrived while the firmware ran.  So each received byte raises
 * its own interrupt.
 */
#include "defs.h"
#include "x86.h"

#define COM1 0x3F8
#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6

#define LSR_DR   0x01
#define LSR_THRE 0x20
#define IIR_NONE 0x01
#define IIR_ID   0x0E
#define IIR_MSI  0x00           /* modem status change */
#define IIR_THRI 0x02           /* transmitter holding register empty */
#define IIR_RDI  0x04           /* received data available */
#define IIR_RLSI 0x06           /* receiver line status (overrun, framing...) */
#define IIR_CTI  0x0C           /* character timeout (FIFO mode only) */

void uart_init(void)
{
    outb(COM1 + IER, 0x00);             /* no interrupts until the I/O APIC routes IRQ 4 */
    outb(COM1 + LCR, 0x80);             /* DLAB: the divisor latch */
    outb(COM1 + DLL, 0x01);             /* 115200 baud (1.8432 MHz / 16 / 1) */
    outb(COM1 + DLM, 0x00);
    outb(COM1 + LCR, 0x03);             /* 8 data bits, no parity, 1 stop bit */
    outb(COM1 + FCR, 0x00);             /* FIFOs off: unchanged since reset, nothing cleared */
    outb(COM1 + MCR, 0x0B);             /* DTR | RTS | OUT2 */
}

void uart_putc(int c)
{
    /* A real 16550 takes ~87 us a byte at 115200 baud; bounded so that a
     * missing UART (all ones on the bus: THRE set) cannot hang us. */
    for (int i = 0; i < 1000000 && !(inb(COM1 + LSR) & LSR_THRE); i++)
        ;
    outb(COM1 + THR, (uint8_t)c);
}

/* Enable the received-data interrupt.  If a byte is already waiting, the
 * line rises now, which is an edge the I/O APIC (already routed) sees. */
void uart_enable_rx(void)
{
    outb(COM1 + IER, 0x01);
}

/* IRQ 4.  Serve every pending cause until IIR says none is left, so that
 * the (edge-triggered) line falls and the next byte makes a fresh edge. */
void uart_intr(void)
{
    for (int guard = 0; guard < 64; guard++) {
        uint8_t iir = inb(COM1 + IIR);
        if (iir & IIR_NONE)
            return;
        switch (iir & IIR_ID) {
        case IIR_RDI:
        case IIR_CTI:
            while (inb(COM1 + LSR) & LSR_DR)
                console_rx(inb(COM1 + RBR));
            break;
        case IIR_RLSI:
            (void)inb(COM1 + LSR);      /* reading LSR clears the condition */
            break;
        case IIR_MSI:
            (void)inb(COM1 + MSR);
            break;
        case IIR_THRI:                  /* not enabled; reading IIR cleared it */
            break;
        }
    }
}

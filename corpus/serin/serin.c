/*
 * serin -- the 16550's receiver on IRQ 4: a line-echo console.
 *
 * COM1 as btos programs it (FIFOs off, IER = received data only), IRQ 4 through
 * the 8259A; the handler reads IIR until no interrupt is pending and RBR while
 * LSR.DR is set, into a ring. The main loop spins with interrupts enabled (no
 * hlt), takes whole lines and prints each as "> LINE" with its length; a line
 * "quit" (or 0x04, ^D) ends the run. Output depends only on the bytes received,
 * never on when they arrive, so a file sent at once reads as one typed by hand
 * (the first line is a sync line, skipped: see below).
 */
#include "lib.h"

#define COM1 0x3f8
static volatile uint8_t ring[1024];
static volatile uint32_t head, tail;
static volatile uint32_t irqs;

static void on_irq4(struct regs *r)
{
    (void)r;
    irqs++;
    while (!(inb(COM1 + 2) & 0x01)) {
        while (inb(COM1 + 5) & 0x01)
            ring[head++ % sizeof ring] = inb(COM1);
    }
    outb(0x20, 0x20);
}

static int getch(void)
{
    while (head == tail)
        __asm__ volatile("pause");
    return ring[tail++ % sizeof ring];
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    idt_init();
    set_handler(0x24, on_irq4);
    outb(0x20, 0x11); outb(0xa0, 0x11);
    outb(0x21, 0x20); outb(0xa1, 0x28);
    outb(0x21, 0x04); outb(0xa1, 0x02);
    outb(0x21, 0x01); outb(0xa1, 0x01);
    outb(0x21, 0xef); outb(0xa1, 0xff); /* IRQ 4 only */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x80); outb(COM1 + 0, 0x01); outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);
    outb(COM1 + 2, 0x00);
    outb(COM1 + 4, 0x0b);
    outb(COM1 + 1, 0x01);
    putln("serin: type lines; 'quit' ends");
    sti();
    /* the first line is discarded: input that arrived during the set-up above may have
     * been dropped by the FIFO change (qemu and btvmm both clear the receiver) */
    for (int c = 0; c != '\n' && c != '\r';)
        c = getch();
    char line[128];
    int lines = 0;
    for (;;) {
        int n = 0, c;
        while ((c = getch()) != '\n' && c != '\r' && c != 0x04)
            if (n < (int)sizeof line - 1)
                line[n++] = c;
        line[n] = 0;
        if (c == 0x04 || (n == 4 && line[0] == 'q' && line[1] == 'u' && line[2] == 'i' && line[3] == 't'))
            break;
        if (c == '\r' || n) {
            printf("> %s (%d)\n", line, n);
            lines++;
        }
    }
    cli();
    printf("%d lines, irq4 seen: %d\n", lines, irqs > 0);
    done();
}

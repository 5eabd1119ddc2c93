/*
 * cputest/print.c -- polled output on COM1 (a 16550 at 0x3F8) and a small
 * printf; the exit through QEMU's isa-debug-exit device at port 0xF4.
 *
 * 16550 programming (National Semiconductor PC16550D datasheet, "Registers"):
 * LCR bit 7 (DLAB) exposes the divisor latch at offsets 0/1; the divisor is
 * 115200 / baud; LCR = 0x03 is 8 data bits, no parity, 1 stop bit; LSR bit 5
 * (THRE) says the transmit holding register may take a byte.
 */
#include <stdarg.h>
#include "x86.h"

#define COM1 0x3F8
#define UART_THR 0
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_THRE 0x20

void serial_init(void)
{
    outb(COM1 + UART_IER, 0x00);        /* no interrupts: output is polled */
    outb(COM1 + UART_LCR, 0x80);        /* DLAB */
    outb(COM1 + 0, 1);                  /* divisor 1: 115200 baud */
    outb(COM1 + 1, 0);
    outb(COM1 + UART_LCR, 0x03);        /* 8N1 */
    outb(COM1 + UART_FCR, 0x07);        /* FIFO on, both cleared */
    outb(COM1 + UART_MCR, 0x03);        /* DTR, RTS */
}

static void putc(char c)
{
    for (int i = 0; i < 1000000 && !(inb(COM1 + UART_LSR) & LSR_THRE); i++)
        pause();
    outb(COM1 + UART_THR, (uint8_t)c);
}

static void putnum(uint32_t v, unsigned base, int width, char pad)
{
    char buf[12];
    int n = 0;
    do {
        buf[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n < width--)
        putc(pad);
    while (n)
        putc(buf[--n]);
}

/* %s %c %d %u %x with an optional zero pad and width (%08x) */
void printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            putc(*fmt);
            continue;
        }
        char pad = ' ';
        int width = 0;
        if (*++fmt == '0')
            pad = '0', fmt++;
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        switch (*fmt) {
        case 's': for (const char *s = va_arg(ap, const char *); *s; s++) putc(*s); break;
        case 'c': putc((char)va_arg(ap, int)); break;
        case 'd': {
            int v = va_arg(ap, int);
            if (v < 0)
                putc('-'), v = -v;
            putnum((uint32_t)v, 10, width, pad);
            break;
        }
        case 'u': putnum(va_arg(ap, uint32_t), 10, width, pad); break;
        case 'x': putnum(va_arg(ap, uint32_t), 16, width, pad); break;
        case '%': putc('%'); break;
        default: putc('%'); putc(*fmt); break;
        }
    }
    va_end(ap);
}

/* isa-debug-exit: a write of v makes QEMU exit with status (v << 1) | 1 */
void exit_status(int code)
{
    outb(0xF4, (uint8_t)code);
    for (;;)
        asm volatile("cli; hlt");
}

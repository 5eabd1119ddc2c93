/*
 * pcunix/kernel/printf.c -- kernel formatted output to the console, panic,
 * and power-off through QEMU's isa-debug-exit port (0xF4: a write of v ends
 * the emulator with status (v << 1) | 1).
 */
#include <stdarg.h>
#include "defs.h"
#include "x86.h"

#define DEBUG_EXIT_PORT 0xF4

struct out { char *buf; int size, len; };

static void emit(struct out *o, char c)
{
    if (o->buf) {
        if (o->len + 1 < o->size)
            o->buf[o->len] = c;
    } else {
        console_putc(c);
    }
    o->len++;
}

static void emit_num(struct out *o, uint32_t v, unsigned base, int width, char pad)
{
    char digits[12];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (width-- > n)
        emit(o, pad);
    while (n)
        emit(o, digits[--n]);
}

/* %d %u %x %s %c %%, with a zero pad, a width, and '-' for strings */
static void format(struct out *o, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(o, *fmt);
            continue;
        }
        char pad = ' ';
        int width = 0, left = 0;
        fmt++;
        if (*fmt == '-')
            left = 1, fmt++;
        if (*fmt == '0')
            pad = '0', fmt++;
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + *fmt++ - '0';
        switch (*fmt) {
        case 'd': {
            int v = va_arg(ap, int);
            if (v < 0) {
                emit(o, '-');
                v = -v;
            }
            emit_num(o, (uint32_t)v, 10, width, pad);
            break;
        }
        case 'u': emit_num(o, va_arg(ap, uint32_t), 10, width, pad); break;
        case 'x': emit_num(o, va_arg(ap, uint32_t), 16, width, pad); break;
        case 'c': emit(o, (char)va_arg(ap, int)); break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            int n = (int)strlen(s);
            for (; !left && width > n; width--)
                emit(o, ' ');
            while (*s)
                emit(o, *s++);
            for (; left && width > n; width--)
                emit(o, ' ');
            break;
        }
        case '%': emit(o, '%'); break;
        default: emit(o, '%'); emit(o, *fmt); break;
        }
    }
}

void kprintf(const char *fmt, ...)
{
    struct out o = { 0, 0, 0 };
    va_list ap;
    va_start(ap, fmt);
    format(&o, fmt, ap);
    va_end(ap);
}

int vsnprintf_k(char *buf, int size, const char *fmt, va_list ap)
{
    struct out o = { buf, size, 0 };
    format(&o, fmt, ap);
    if (size)
        buf[o.len < size ? o.len : size - 1] = 0;
    return o.len;
}

void poweroff(int code)
{
    cli();
    outb(DEBUG_EXIT_PORT, (uint8_t)code);
    for (;;)                            /* no debug-exit device: stop here */
        asm volatile("hlt");
}

void panic(const char *fmt, ...)
{
    va_list ap;
    cli();
    kprintf("panic: ");
    struct out o = { 0, 0, 0 };
    va_start(ap, fmt);
    format(&o, fmt, ap);
    va_end(ap);
    kprintf("\n");
    poweroff(0x7F);
}

/*
 * corpus/os/kernel/kprintf.c -- kernel messages on the console, panic and
 * power off.
 */
#include <stdarg.h>
#include "../lib/fmt.h"
#include "defs.h"
#include "x86.h"

static void put(int c, void *arg)
{
    (void)arg;
    uart_putc(c);
}

void cprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vformat(put, 0, fmt, ap);
    va_end(ap);
}

/* Leave through QEMU's isa-debug-exit device (port 0xf4): QEMU exits with
 * status (code << 1) | 1.  Without that device the write goes nowhere and
 * we stop the CPU for good. */
void poweroff(int code)
{
    cli();
    outl(0xF4, (uint32_t)code);
    cprintf("poweroff: no isa-debug-exit device at port 0xf4; halted\n");
    for (;;)
        __asm__ volatile("hlt");
}

void panic(const char *fmt, ...)
{
    va_list ap;
    cli();
    cprintf("panic: ");
    va_start(ap, fmt);
    vformat(put, 0, fmt, ap);
    va_end(ap);
    cprintf("\n");
    poweroff(3);
}

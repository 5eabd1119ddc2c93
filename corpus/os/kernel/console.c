/*
 * corpus/os/kernel/console.c -- the console: a Unix line discipline over
 * the UART (canonical input with echo, erase and kill; output as it is).
 *
 * Received bytes are queued raw by the interrupt handler and edited only
 * when a process reads.  Echo therefore happens at read time, after the
 * prompt the reader printed, never in the middle of other output: the
 * transcript of a session does not depend on when the bytes arrived
 * (typed by hand, or a whole script already waiting on the line).
 *
 *   CR or LF      ends the line (CR LF counts once)
 *   BS or DEL     erases one character ("\b \b")
 *   ^U            erases the line
 *   ^D            at the start of a line: end of file (read returns 0);
 *                 elsewhere: ends the line without a newline
 * Output is sent as it is ("\n" alone ends a line, like the rest of the
 * corpus; a terminal in QEMU's -serial stdio keeps OPOST/ONLCR).
 */
#include "defs.h"
#include "proc.h"

#define RAWSIZE  4096           /* typeahead */
#define LINESIZE 256

static struct {
    char raw[RAWSIZE];
    uint32_t r, w;              /* ring indexes, w - r bytes queued */
    uint32_t dropped;           /* bytes lost to a full ring */
    char line[LINESIZE];
    int len;                    /* bytes in line */
    int pos;                    /* bytes of a finished line already read */
    int done;                   /* line is finished: readers may take it */
    int eof;                    /* ... and it is an end of file */
    int after_cr;               /* the previous byte was CR */
} cons;

/* Interrupt context (uart_intr): queue one received byte. */
void console_rx(int c)
{
    if (cons.w - cons.r < RAWSIZE)
        cons.raw[cons.w++ % RAWSIZE] = (char)c;
    else
        cons.dropped++;
    wakeup(&cons.r);
}

static void echo(const char *s)
{
    while (*s)
        uart_putc(*s++);
}

/* Apply one input byte to the line being edited. */
static void edit(int c)
{
    if (c == '\n' && cons.after_cr) {
        cons.after_cr = 0;
        return;
    }
    cons.after_cr = (c == '\r');
    if (c == '\r')
        c = '\n';
    switch (c) {
    case '\n':
        cons.line[cons.len++] = '\n';   /* room kept: len < LINESIZE - 1 */
        uart_putc('\n');
        cons.done = 1;
        break;
    case 0x04:                          /* ^D */
        cons.done = 1;
        cons.eof = (cons.len == 0);
        break;
    case 0x08:
    case 0x7F:                          /* BS, DEL */
        if (cons.len > 0) {
            cons.len--;
            echo("\b \b");
        }
        break;
    case 0x15:                          /* ^U */
        for (; cons.len > 0; cons.len--)
            echo("\b \b");
        break;
    default:
        if ((c >= 0x20 && c < 0x7F) || c == '\t') {
            if (cons.len < LINESIZE - 1) {
                cons.line[cons.len++] = (char)c;
                uart_putc(c);
            }
        }
        break;
    }
}

/* read() on the console: block until a line is finished, then return up
 * to n bytes of it (the rest stays for the next read). */
int console_read(char *dst, int n)
{
    while (!cons.done) {
        while (cons.r == cons.w) {
            if (curproc->killed)
                return -1;
            sleep(&cons.r);
        }
        edit(cons.raw[cons.r++ % RAWSIZE]);
    }
    if (cons.eof) {
        cons.done = cons.eof = cons.len = cons.pos = 0;
        return 0;
    }
    int k = cons.len - cons.pos;
    if (k > n)
        k = n;
    memcpy(dst, cons.line + cons.pos, k);
    cons.pos += k;
    if (cons.pos == cons.len)
        cons.done = cons.len = cons.pos = 0;
    return k;
}

int console_write(const char *src, int n)
{
    for (int i = 0; i < n; i++)
        uart_putc(src[i]);
    return n;
}

/*
 * pcunix/kernel/console.c -- the console: output to the UART, input from
 * the UART and the keyboard (interrupt handlers call console_input), with
 * a line discipline: echo, backspace, and read() returns one whole line.
 *
 * Echo is of the line being read: a character typed while a reader waits
 * for its line is echoed at once; one typed ahead (while a program runs,
 * or before the kernel has booted) is echoed when a reader comes for its
 * line.  A transcript is then the same however fast the input arrives:
 * typed ahead or piped, each command appears after its prompt.
 *
 * With the word "script" on the multiboot command line the console types the lines of
 * script[] itself, one each time a reader finds no input: the transcript
 * is then what an operator typing them would see, and no more depends on
 * timing than it would for one.
 */
#include "defs.h"

#define INPUT_BUF 256

static struct {
    char buf[INPUT_BUF];
    uint32_t r, w, e;           /* read, committed (up to a newline), edit */
    uint32_t echoed;            /* input before this has been echoed */
    int echo_open;              /* a reader waits for the line being echoed */
} input;

/* the commands of a scripted run; the last one powers the machine off */
static const char *const script[] = {
    "echo hello from pcunix",
    "ls",
    "cat README",
    "mem",
    "count 3",
    "sum data.bin",
    "cat data.crc",
    "fault null",
    "fault kernel",
    "fault text",
    "fault cli",
    "cat nosuch",
    "nosuch",
    "halt",
};
static int scripted, script_next;

void console_init(int script)
{
    scripted = script;
}

void console_putc(int c)
{
    uart_putc(c);
}

int console_write(const char *src, int n)
{
    for (int i = 0; i < n; i++)
        console_putc(src[i]);
    return n;
}

/* echo input.buf[echoed], and close the echo after a newline */
static void echo_next(void)
{
    char c = input.buf[input.echoed++ % INPUT_BUF];
    console_putc(c);
    if (c == '\n')
        input.echo_open = 0;
}

/* one character of input (from an interrupt handler, or the script) */
void console_input(int c)
{
    if (c == '\r')
        c = '\n';
    if (c == '\b' || c == 0x7F) {
        if (input.e != input.w) {
            input.e--;
            if (input.echoed > input.e) {
                input.echoed--;
                console_write("\b \b", 3);
            }
        }
        return;
    }
    if (c == 0 || input.e - input.r >= INPUT_BUF - 1)
        return;
    input.buf[input.e++ % INPUT_BUF] = (char)c;
    if (input.echo_open && input.echoed == input.e - 1)
        echo_next();
    if (c == '\n') {
        input.w = input.e;
        wakeup(&input);
    }
}

static void type_script_line(void)
{
    for (const char *s = script[script_next++]; *s; s++)
        console_input(*s);
    console_input('\n');
}

/* read one line (or n bytes of it), sleeping until one is committed */
int console_read(char *dst, int n)
{
    input.echo_open = 1;                /* echo what was typed ahead of this line */
    while (input.echo_open && input.echoed != input.e)
        echo_next();
    while (input.r == input.w) {
        if (scripted && script_next < (int)(sizeof script / sizeof script[0]))
            type_script_line();
        else
            sleep(&input);
    }
    int got = 0;
    while (got < n && input.r != input.w) {
        char c = input.buf[input.r++ % INPUT_BUF];
        dst[got++] = c;
        if (c == '\n')
            break;
    }
    return got;
}

/*
 * pcunix/kernel/kbd.c -- the PC keyboard behind the 8042 controller (data
 * port 0x60, status port 0x64) on ISA IRQ 1.  The 8042 translates to scan
 * code set 1 (IBM PC/AT technical reference, keyboard): a make code, the
 * same code | 0x80 on release; 0xE0 prefixes extended keys (ignored here).
 */
#include "defs.h"
#include "x86.h"

#define KBD_DATA    0x60
#define KBD_STATUS  0x64
#define KBD_OBF     0x01        /* output buffer full: a byte to read */

#define LSHIFT 0x2A
#define RSHIFT 0x36

/* set 1 make codes 0x00-0x39 */
static const char normal[0x3A] = {
    0, 27, '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '-', '=', '\b',
    '\t', 'q', 'w', 'e', 'r', 't', 'y', 'u', 'i', 'o', 'p', '[', ']', '\n',
    0, 'a', 's', 'd', 'f', 'g', 'h', 'j', 'k', 'l', ';', '\'', '`',
    0, '\\', 'z', 'x', 'c', 'v', 'b', 'n', 'm', ',', '.', '/', 0, '*', 0, ' ',
};
static const char shifted[0x3A] = {
    0, 27, '!', '@', '#', '$', '%', '^', '&', '*', '(', ')', '_', '+', '\b',
    '\t', 'Q', 'W', 'E', 'R', 'T', 'Y', 'U', 'I', 'O', 'P', '{', '}', '\n',
    0, 'A', 'S', 'D', 'F', 'G', 'H', 'J', 'K', 'L', ':', '"', '~',
    0, '|', 'Z', 'X', 'C', 'V', 'B', 'N', 'M', '<', '>', '?', 0, '*', 0, ' ',
};

static int shift, extended;

/* Empty the output buffer so that the next byte raises a fresh edge on
 * IRQ 1 (the I/O APIC pin is edge-triggered). */
void kbd_init(void)
{
    for (int i = 0; i < 32 && (inb(KBD_STATUS) & KBD_OBF); i++)
        (void)inb(KBD_DATA);
}

void kbd_intr(void)
{
    while (inb(KBD_STATUS) & KBD_OBF) {
        uint8_t sc = inb(KBD_DATA);
        if (sc == 0xE0) {
            extended = 1;
            continue;
        }
        int release = sc & 0x80;
        sc &= 0x7F;
        if (extended) {
            extended = 0;
            continue;
        }
        if (sc == LSHIFT || sc == RSHIFT) {
            shift = !release;
            continue;
        }
        if (release || sc >= sizeof normal)
            continue;
        char c = shift ? shifted[sc] : normal[sc];
        if (c)
            console_input(c);
    }
}

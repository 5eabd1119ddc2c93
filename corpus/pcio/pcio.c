/*
 * pcio -- the PC's legacy I/O around a kernel's boot: the 8042 keyboard
 * controller (0x60/0x64) and its PS/2 keyboard, port 0x92, the colour text
 * display (text memory at 0xb8000, the CRTC at 0x3d4/0x3d5).
 *
 * Probes: the state SeaBIOS leaves the 8042 in (status, command byte), the
 * controller commands kernels send at boot (0x20/0x60 command byte, 0xaa
 * self-test, 0xab/0xa9 port tests, 0xad/0xae, 0xa7/0xa8), the keyboard's
 * replies (0xff reset, 0xf5, 0xf4, 0xf2 identify, 0xee echo, 0xf0 scancode
 * set), IRQ1 raised (the master 8259's IRR), port 0x92's A20 bit, CRTC cursor registers, text memory
 * read back. It leaves "pcio screen test" on the first line of the screen
 * and the cursor after it (bt run --screen shows it).
 */
#include "lib.h"

static int irq1(void) { return inb(0x20) & 0x02; }

static int wait_out(void)
{
    for (int i = 0; i < 200; i++) /* replies are at once in qemu and btvmm */
        if (inb(0x64) & 0x01)
            return 1;
    return 0;
}

static void drain(const char *what)
{
    printf("%s:", what);
    while (wait_out()) {
        printf(" %02x", inb(0x60));
    }
    printf(" (status %02x)\n", inb(0x64));
}

static void ctrl(uint8_t cmd, const char *what) { outb(0x64, cmd); drain(what); }
static void kbd(uint8_t b, const char *what) { outb(0x60, b); drain(what); }

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    outb(0x20, 0x11); outb(0xa0, 0x11);
    outb(0x21, 0x20); outb(0xa1, 0x28);
    outb(0x21, 0x04); outb(0xa1, 0x02);
    outb(0x21, 0x01); outb(0xa1, 0x01);
    pic_mask_all();
    outb(0x20, 0x0a);

    while (inb(0x64) & 0x01) /* whatever the firmware left */
        inb(0x60);
    printf("8042 status %02x\n", inb(0x64) & ~0x08);
    ctrl(0x20, "command byte");
    ctrl(0xad, "disable keyboard");
    ctrl(0xa7, "disable mouse");
    ctrl(0x20, "command byte");
    outb(0x64, 0x60);
    outb(0x60, 0x00); /* no interrupts, no translation */
    ctrl(0x20, "command byte now");
    ctrl(0xaa, "self-test");
    ctrl(0xab, "keyboard port test");
    ctrl(0xa9, "mouse port test");
    ctrl(0xae, "enable keyboard");
    ctrl(0xa8, "enable mouse");
    ctrl(0x20, "command byte");
    kbd(0xff, "keyboard reset");
    kbd(0xf5, "disable scanning");
    kbd(0xf2, "identify, untranslated");
    kbd(0xf0, "scancode set");
    kbd(0x00, "  get");
    kbd(0xee, "echo");
    outb(0x64, 0x60);
    outb(0x60, 0x41); /* interrupts, translation */
    ctrl(0x20, "command byte now");
    kbd(0xf2, "identify, translated");
    kbd(0xf0, "scancode set");
    kbd(0x00, "  get");
    kbd(0xf4, "enable scanning");
    outb(0x64, 0xd2);
    outb(0x60, 0x1e);
    drain("written to the output buffer");
    printf("irq1 raised: %d\n", irq1() != 0);

    /* (not A20 off: qemu then wraps addresses at 1 MiB, where this code runs) */
    printf("port 0x92: %02x\n", inb(0x92));

    /* the CRTC: cursor shape and position registers read back */
    outb(0x3d4, 0x0a); outb(0x3d5, 0x0e);
    outb(0x3d4, 0x0b); outb(0x3d5, 0x0f);
    outb(0x3d4, 0x0c); outb(0x3d5, 0x00);
    outb(0x3d4, 0x0d); outb(0x3d5, 0x00);
    volatile uint16_t *text = (volatile uint16_t *)0xb8000;
    for (int i = 0; i < 80 * 25; i++)
        text[i] = 0x0720;
    const char *msg = "pcio screen test";
    int n = 0;
    for (; msg[n]; n++)
        text[n] = 0x1f00 | (uint8_t)msg[n];
    text[80 * 2 + 5] = 0x0700 | 0xdb; /* a block character (cp437) on line 3 */
    outb(0x3d4, 0x0e); outb(0x3d5, 0);
    outb(0x3d4, 0x0f); outb(0x3d5, n);
    outb(0x3d4, 0x0a); printf("crtc cursor start %02x", inb(0x3d5));
    outb(0x3d4, 0x0b); printf(" end %02x", inb(0x3d5));
    outb(0x3d4, 0x0e); printf(" location %02x", inb(0x3d5));
    outb(0x3d4, 0x0f); printf("%02x\n", inb(0x3d5));
    check(text[0] == (0x1f00 | 'p') && text[80 * 2 + 5] == 0x07db, "text memory reads back");
    done();
}

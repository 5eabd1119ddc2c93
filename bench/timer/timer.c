/* timer -- a fixed amount of ring-0 compute with IF=1 while the PIT raises IRQ0 at
 * 1 kHz (handler: count, EOI): the cost of external interrupts into a spinning
 * guest.  The tick count depends on speed and is checked only to be non-zero. */
#include "bench.h"

#define ITERS 30000000u
#define RELOAD 1193u                    /* 1193182 Hz / 1193 = 1000.15 Hz */
static volatile uint32_t ticks;

static void on_irq0(struct regs *r)
{
    (void)r;
    ticks++;
    outb(0x20, 0x20);
}

static void on_spurious(struct regs *r) { (void)r; }

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    idt_init();
    set_handler(0x20, on_irq0);
    set_handler(0x27, on_spurious);
    outb(0x20, 0x11); outb(0xa0, 0x11);   /* ICW1 */
    outb(0x21, 0x20); outb(0xa1, 0x28);   /* ICW2: vectors */
    outb(0x21, 0x04); outb(0xa1, 0x02);   /* ICW3: cascade */
    outb(0x21, 0x01); outb(0xa1, 0x01);   /* ICW4: 8086 */
    outb(0x21, 0xfe); outb(0xa1, 0xff);   /* IRQ0 only */
    outb(0x43, 0x34);                     /* channel 0, lo/hi, mode 2 */
    outb(0x40, RELOAD & 0xff);
    outb(0x40, RELOAD >> 8);
    sti();
    uint32_t x = 1, s = 0;
    for (uint32_t i = 0; i < ITERS; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        s += x;
    }
    cli();
    check(ticks > 0, "IRQ0 arrived during the loop");
    bench_done("timer", s);
}

/* io -- port I/O: write a byte to the 16550's scratch register (COM1 + 7) and
 * read it back, in a loop.  Natively each access is one call into the device
 * model; under the monitor the ring-0 in/out is a callout as well. */
#include "bench.h"

#define ITERS 40000u
#define SCRATCH 0x3ffu

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    uint32_t s = 0, bad = 0;
    for (uint32_t i = 0; i < ITERS; i++) {
        uint8_t v = (uint8_t)(i * 37u + (i >> 8));
        outb(SCRATCH, v);
        uint8_t got = inb(SCRATCH);
        bad += got != v;
        s = s * 31 + got;
    }
    check_eq("scratch register read back what was written", bad, 0);
    bench_done("io", s);
}

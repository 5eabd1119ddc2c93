/* cold -- a large body of distinct straight-line register code (cold_body, made
 * by gen.py into the build directory), run once: the monitor translates every
 * instruction of it exactly once, so this measures translation speed. */
#include "bench.h"

extern uint32_t cold_body(uint32_t seed);

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    uint32_t a = cold_body(1), b = cold_body(2);
    check(a != b, "the body depends on its input");
    bench_done("cold", a ^ (b << 1));
}

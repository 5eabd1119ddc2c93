/* kernel-compute -- an ALU + load + store loop at ring 0 (lib/compute.h): under
 * the monitor, translated code that is all IDENT copies and chained jumps. */
#include "bench.h"
#include "compute.h"

#define ITERS 10000000u
static volatile uint32_t table[1024];

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    uint32_t s = compute(table, ITERS);
    check(table[ITERS & 1023] != 0 || ITERS < 1024, "the loop stored into its table");
    bench_done("kernel-compute", s);
}

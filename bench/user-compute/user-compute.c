/* user-compute -- the kernel-compute loop (lib/compute.h) at ring 3: under the
 * monitor, direct execution with no translation at all. */
#include "bench.h"
#include "compute.h"

#define ITERS 10000000u
static volatile uint32_t table[1024];

static void user_main(void)
{
    user_exit(compute(table, ITERS));
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    bench_user_init();
    uint32_t s = bench_run_user(user_main);
    check((read_cs() & 3) == 0, "back at ring 0");
    bench_done("user-compute", s);
}

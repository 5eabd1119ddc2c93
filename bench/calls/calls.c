/* calls -- recursive call/ret (fib, in calls.S, laid out to straddle a page
 * boundary, the layout that once made the bare machine's instruction counter miss
 * its table on every block) and indirect calls through a table of functions.
 * Under the monitor: ret and call * through the two-level lookup table. */
#include "bench.h"

extern uint32_t fib(uint32_t n);
#define FIB_N 28u                       /* fib(28) = 317811: ~1 M calls */
#define INDIRECT 2000000u

static uint32_t f0(uint32_t x) { return x + 1; }
static uint32_t f1(uint32_t x) { return x ^ 0x5a5a5a5a; }
static uint32_t f2(uint32_t x) { return x * 3; }
static uint32_t f3(uint32_t x) { return (x >> 1) | (x << 31); }
static uint32_t (*const volatile table[4])(uint32_t) = { f0, f1, f2, f3 };

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    uint32_t a = 0, b = 1;
    for (uint32_t i = 0; i < FIB_N; i++) {   /* the iterative answer, to check */
        uint32_t t = a + b; a = b; b = t;
    }
    uint32_t f = fib(FIB_N);
    check_eq("fib(28) by recursion equals the iterative answer", f, a);
    uint32_t x = 1;
    for (uint32_t i = 0; i < INDIRECT; i++)
        x = table[(i ^ (i >> 3)) & 3](x);
    bench_done("calls", f ^ x);
}

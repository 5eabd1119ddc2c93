/* bench/lib/compute.h -- the ALU + load + store loop of kernel-compute and
 * user-compute (one body, run at ring 0 by the one and ring 3 by the other). */
#ifndef BTVMM_BENCH_COMPUTE_H
#define BTVMM_BENCH_COMPUTE_H
#include <stdint.h>

static inline uint32_t compute(volatile uint32_t *a, uint32_t iters)
{
    uint32_t x = 0x12345678u, s = 0;
    for (uint32_t i = 0; i < iters; i++) {
        x = x * 1103515245u + 12345u;
        uint32_t v = a[(x >> 8) & 1023] ^ (x >> 3);
        a[i & 1023] = v + i;
        s += v ^ (s << 1);
    }
    return s;
}
#endif

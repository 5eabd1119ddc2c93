/* smc -- a loop that patches the immediate of a small function (mov $imm, %eax;
 * ret, on a page of its own) and then calls it: every pass runs code it has just
 * rewritten.  Natively unicorn retranslates its block; under the monitor the
 * write to a traced code page invalidates the translation. */
#include "bench.h"

#define ITERS 15000u
static uint8_t code[4096] __attribute__((aligned(4096)));

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    uint32_t (*fn)(void) = (uint32_t (*)(void))code;
    code[0] = 0xb8;                     /* mov $imm32, %eax */
    code[5] = 0xc3;                     /* ret */
    uint32_t s = 0, direct = 0;
    for (uint32_t i = 0; i < ITERS; i++) {
        uint32_t imm = i * 0x9e3779b9u;
        *(volatile uint32_t *)(code + 1) = imm;
        s += fn() ^ i;
        direct += imm ^ i;
    }
    check_eq("every call ran the immediate just written", s, direct);
    bench_done("smc", s);
}

/* bench/lib/bench.c -- see bench.h */
#include "bench.h"

void bench_done(const char *name, uint32_t checksum)
{
    printf("bench %s checksum 0x%08x\n", name, checksum);
    done();
}

static void on_user_exit(struct regs *r)
{
    user_return(r->eax);
}

void bench_user_init(void)
{
    idt_init();
    tss_init(0);
    idt_set_gate(0x81, isr_stub_table[0x81], SEL_KCODE, 0xE, 3);
    set_handler(0x81, on_user_exit);
}

/* the user stack: 16 KiB in .bss */
static uint8_t user_stack[16384] __attribute__((aligned(16)));

uint32_t bench_run_user(void (*fn)(void))
{
    return run_user((uint32_t)fn, (uint32_t)(user_stack + sizeof user_stack));
}

uint32_t *bench_paging_on(uint32_t *pd, uint32_t mib)
{
    uint32_t *pt = pd + 1024;
    memset(pd, 0, 4096);
    for (uint32_t i = 0; i < mib * 256; i++)
        pt[i] = (i << 12) | PTE_P | PTE_W | PTE_U;
    for (uint32_t t = 0; t < (mib + 3) / 4; t++)
        pd[t] = (uint32_t)(pt + t * 1024) | PTE_P | PTE_W | PTE_U;
    write_cr3((uint32_t)pd);
    write_cr0(read_cr0() | CR0_PG | CR0_WP);
    return pd;
}

uint32_t *bench_pte(uint32_t *pd, uint32_t va)
{
    uint32_t *pt = (uint32_t *)(pd[va >> 22] & ~0xfffu);
    return &pt[(va >> 12) & 1023];
}

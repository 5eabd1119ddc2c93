/* syscall -- ring-3 int 0x80 round trips into a kernel handler (the library's
 * stub, a C handler, iret).  Under the monitor: a trap out of direct user code,
 * delivery through the guest IDT, translated handler, the emulated iret. */
#include "bench.h"

#define CALLS 10000u
static volatile uint32_t sum, calls;

static void on_syscall(struct regs *r)
{
    calls++;
    sum += r->eax;
    r->eax = r->eax * 2;
}

static void user_main(void)
{
    uint32_t acc = 0;
    for (uint32_t i = 0; i < CALLS; i++) {
        uint32_t v = i;
        __asm__ volatile("int $0x80" : "+a"(v) :: "memory");
        acc += v;
    }
    user_exit(acc);
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    bench_user_init();
    idt_set_gate(0x80, isr_stub_table[0x80], SEL_KCODE, 0xE, 3);
    set_handler(0x80, on_syscall);
    uint32_t acc = bench_run_user(user_main);
    uint32_t expect = (uint32_t)((uint64_t)CALLS * (CALLS - 1) / 2);
    check_eq("system calls taken", calls, CALLS);
    check_eq("sum the kernel saw", sum, expect);
    check_eq("sum the user got back", acc, expect * 2);
    bench_done("syscall", acc ^ calls);
}

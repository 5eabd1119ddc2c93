/* flags -- the critical section of a real kernel's spinlock:
 * pushfd; cli; xchg (take the lock); work; mov (release); popfd, at ring 0 with IF=1.
 * Under the monitor cli and popfd stay IDENT at CPL 1 and pushfd is an inline
 * sequence (the guest's IOPL put back). */
#include "bench.h"

#define ITERS 2000000u
static volatile uint32_t lock, counter;

static inline uint32_t section(uint32_t i)
{
    uint32_t fl, one = 1;
    __asm__ volatile("pushfl; popl %0" : "=r"(fl) :: "memory");
    __asm__ volatile("pushfl; cli\n\t"
                     "xchgl %0, %1\n\t"
                     : "+r"(one), "+m"(lock) :: "memory");
    counter += i;
    __asm__ volatile("movl $0, %0\n\tpopfl" : "=m"(lock) :: "memory", "cc");
    return one + (fl & EFL_IF);
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    idt_init();
    pic_mask_all();
    sti();
    uint32_t taken = 0, s = 0;
    for (uint32_t i = 0; i < ITERS; i++) {
        uint32_t r = section(i);
        taken += (r & 1) == 0;           /* xchg found the lock free */
        s = s * 31 + r;
    }
    check_eq("lock free at every entry", taken, ITERS);
    check((read_eflags() & EFL_IF) != 0, "IF back on after every popfd");
    check_eq("counter", counter, (uint32_t)((uint64_t)ITERS * (ITERS - 1) / 2));
    bench_done("flags", s ^ counter);
}

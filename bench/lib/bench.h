/*
 * bench/lib/bench.h -- shared helpers of the benchmark guests (bench/NAME).
 *
 * Every benchmark does a fixed amount of work, checks its own result where an
 * independent check exists (a closed form, a count it knows in advance) and
 * prints one line "bench NAME checksum 0x........" before done(); the
 * checksum is compared with qemu-system-i386's output (bench/expected) by
 * the tests and with the native run's by `bt bench`.
 */
#ifndef BTVMM_BENCH_H
#define BTVMM_BENCH_H

#include "lib.h"

/* print the checksum line, then done() (exit 0 if every check passed) */
void bench_done(const char *name, uint32_t checksum) __attribute__((noreturn));

/* ring 3: a DPL-3 gate at vector 0x81 whose handler returns r->eax from run_user;
 * user code leaves with user_exit(v) */
void bench_user_init(void);
uint32_t bench_run_user(void (*fn)(void));
static inline void __attribute__((noreturn)) user_exit(uint32_t v)
{
    __asm__ volatile("int $0x81" :: "a"(v));
    __builtin_unreachable();
}

/* paging: identity-map the first `mib` MiB with 4 KiB pages (user, writable), page
 * directory at `pd` (page-aligned, the page tables follow it), CR0.PG|WP on */
#define PTE_P 1u
#define PTE_W 2u
#define PTE_U 4u
uint32_t *bench_paging_on(uint32_t *pd, uint32_t mib);
/* the PTE mapping linear address `va` under page directory `pd` */
uint32_t *bench_pte(uint32_t *pd, uint32_t va);

#endif

/*
 * corpus/os/kernel/param.h -- sizes and the memory layout of btos.
 *
 * Virtual address space (every process has its own page directory; the
 * kernel half, PDEs 768..1022, is the same in all of them):
 *
 *   0x00000000 .. 0x00000fff   unmapped (null pointers fault)
 *   0x00400000 ..              a user program (linked there by user/user.ld),
 *                              its heap above it (sbrk)
 *   USTACKTOP-USTACKSIZE .. USTACKTOP   the user stack
 *   KERNBASE = 0xc0000000 ..   all RAM, physical 0 .. phys_top (direct map);
 *                              the kernel itself at 0xc0100000 (phys 1 MiB)
 *   0xfec00000, 0xfee00000     I/O APIC and local APIC registers (identity,
 *                              uncached)
 *   0xffc00000 .. 0xffffffff   never mapped (room for a monitor)
 */
#ifndef BTOS_PARAM_H
#define BTOS_PARAM_H

#define KERNBASE    0xC0000000     /* start of the direct map of RAM */
#define KERNLINK    0xC0100000     /* where the kernel is linked (phys 1 MiB) */
#define PHYS_LIMIT  0x30000000     /* at most 768 MiB of RAM are direct-mapped */
#define DEVSPACE    0xFEC00000     /* APIC pages live above here */

#define USTACKTOP   KERNBASE
#define USTACKSIZE  0x4000          /* 16 KiB of user stack */
#define USERMIN     0x1000          /* lowest address a program may be loaded at */

#define NPROC       32              /* process table slots */
#define NOFILE      16              /* open files per process */
#define NFILE       64              /* open files in the system */
#define KSTACKSIZE  4096            /* one page of kernel stack per process */
#define MAXARG      16              /* exec argument count */
#define MAXARGLEN   512             /* total bytes of exec arguments */
#define MAXPATH     64

/* The local APIC timer: divide by 16, initial count 625000, periodic.
 * QEMU's APIC timer counts at 1 GHz (one count per nanosecond before the
 * divider), so a tick is 10 ms there; on real hardware it scales with the
 * bus clock.  Nothing in the output depends on the tick length. */
#define TIMER_DIVIDE 16
#define TIMER_COUNT  625000
#define TIMESLICE    2              /* ticks a process runs before it is preempted */

#endif

/* pcunix/kernel/param.h -- sizes of the kernel's tables. */
#ifndef PCUNIX_PARAM_H
#define PCUNIX_PARAM_H

#define NPROC       16      /* process table */
#define NOFILE      8       /* open files per process */
#define NBUF        16      /* block cache (1 KiB each) */
#define MAXARG      16      /* spawn: argv entries */
#define MAXARGLEN   256     /* spawn: bytes of argument strings */
#define MAXFILES    64      /* pcfs directory entries the kernel keeps */
#define NIOAPIC     4
#define NCPU        8
#define TIMER_INITIAL 625000 /* LAPIC timer count at divide-by-16: 10 ms at a 1 GHz APIC clock */

#endif

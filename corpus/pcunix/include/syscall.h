/*
 * pcunix/include/syscall.h -- the system call interface: int 0x30 with the
 * call number in EAX and arguments in EBX, ECX, EDX; the result in EAX
 * (negative on error).  Shared by the kernel (kernel/syscall.c) and the
 * user library (user/usys.S).
 */
#ifndef PCUNIX_SYSCALL_H
#define PCUNIX_SYSCALL_H

#define T_SYSCALL   0x30

#define SYS_exit    1   /* exit(status)                         never returns */
#define SYS_write   2   /* write(fd, buf, n)                    -> bytes */
#define SYS_read    3   /* read(fd, buf, n)                     -> bytes, 0 at end */
#define SYS_open    4   /* open(name)                           -> fd */
#define SYS_close   5   /* close(fd) */
#define SYS_spawn   6   /* spawn(name, argv)                    -> pid of a new process */
#define SYS_wait    7   /* wait(pid, &status, nohang)           -> pid, 0 if still running */
#define SYS_readdir 8   /* readdir(index, struct stat *)        -> 0, -1 past the end */
#define SYS_meminfo 9   /* meminfo(struct meminfo *) */
#define SYS_halt    10  /* halt(code): power off (isa-debug-exit) */
#define SYS_getpid  11
#define NSYSCALL    12

#ifndef __ASSEMBLER__
/* what readdir fills in */
struct stat {
    char name[24];
    unsigned size;
};

/* what meminfo fills in: the multiboot memory sizes, in KiB */
struct meminfo {
    unsigned lower_kib, upper_kib, total_kib;
};
#endif

#endif

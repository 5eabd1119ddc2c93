/*
 * corpus/os/include/syscall.h -- system call numbers of btos, shared by the
 * kernel (kernel/syscall.c, the dispatch table) and the user library
 * (user/usys.S, the stubs).
 *
 * ABI (the Linux i386 `int 0x80` convention, on vector 0x40): EAX holds the
 * number, EBX, ECX, EDX the arguments; the result comes back in EAX, a
 * negative value being -errno (include/errno.h).  Every other register is
 * preserved.
 */
#ifndef BTOS_SYSCALL_H
#define BTOS_SYSCALL_H

#define T_SYSCALL 0x40          /* the trap gate (DPL 3) */

#define SYS_fork      1         /* int fork(void) */
#define SYS_exit      2         /* void exit(int status) */
#define SYS_wait      3         /* int wait(int *status): pid of a dead child */
#define SYS_read      4         /* int read(int fd, void *buf, int n) */
#define SYS_write     5         /* int write(int fd, const void *buf, int n) */
#define SYS_open      6         /* int open(const char *path, int flags) */
#define SYS_close     7         /* int close(int fd) */
#define SYS_exec      8         /* int exec(const char *path, char **argv) */
#define SYS_sbrk      9         /* void *sbrk(int n): old break */
#define SYS_getpid   10         /* int getpid(void) */
#define SYS_sleep    11         /* int sleep(int ticks) */
#define SYS_kill     12         /* int kill(int pid) */
#define SYS_fstat    13         /* int fstat(int fd, struct stat *st) */
#define SYS_poweroff 14         /* void poweroff(int code): isa-debug-exit */
#define NSYSCALLS    15

#endif

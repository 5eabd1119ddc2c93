/* Freestanding checks of the guest kernel's system calls through int 0x80: memory
 * (brk, mmap2, mprotect, munmap), processes (fork, wait4, getppid), pipes and dup2,
 * files (open, read, lseek, fstat64), errors (-EBADF, -ENOENT, -ENOSYS).  Prints only
 * what is the same on every Linux, so that the host CPU's run is the reference. */
#include "sys.h"

void _start(void)
{
    /* brk grows the heap; the new memory reads as zero and is writable */
    int b0 = sys1(NR_brk, 0);
    int b1 = sys1(NR_brk, b0 + 65536);
    putnum("brk grew: ", b1 - b0);
    char *h = (char *)b0;
    int zero = 1;
    for (int i = 0; i < 65536; i += 4096)
        zero &= h[i] == 0, h[i] = 1;
    putnum("brk zeroed: ", zero);

    /* an anonymous mapping, written, made read-only, unmapped */
    char *m = (char *)sys6(NR_mmap2, 0, 8192, 3, 0x22, -1, 0);
    m[0] = 'x';
    m[8191] = 'y';
    putnum("mmap: ", m[0] + m[8191]);
    putnum("mprotect: ", sys3(NR_mprotect, m, 8192, 1));
    putnum("munmap: ", sys2(NR_munmap, m, 8192));

    /* errors */
    putnum("close(99): ", sys1(NR_close, 99));
    putnum("open(missing): ", sys3(NR_open, "/nonexistent/file", 0, 0));
    putnum("unknown syscall 500: ", sys0(500));

    /* a file of the host: its first bytes, a seek, its size */
    int fd = sys3(NR_open, "/proc/self/exe", 0, 0);
    char elf[4];
    putnum("read exe: ", sys3(NR_read, fd, elf, 4));
    putnum("ELF magic: ", elf[0] == 0x7f && elf[1] == 'E' && elf[2] == 'L' && elf[3] == 'F');
    putnum("lseek: ", sys3(NR_lseek, fd, 1, 0));
    sys3(NR_read, fd, elf, 3);
    putnum("ELF again: ", elf[0] == 'E' && elf[2] == 'F');
    unsigned st[24];
    putnum("fstat64: ", sys2(NR_fstat64, fd, st));
    putnum("regular file: ", (st[4] & 0170000) == 0100000);
    sys1(NR_close, fd);

    /* fork: the child writes into a pipe, the parent reads it and reaps the child */
    int p[2];
    putnum("pipe: ", sys1(NR_pipe, p));
    int parent = sys0(NR_getpid);
    int child = sys0(NR_fork);
    if (child == 0) {
        sys1(NR_close, p[0]);
        sys2(NR_dup2, p[1], 1);
        puts1(sys0(NR_getppid) == parent ? "child sees its parent\n" : "child: wrong parent\n");
        /* copy-on-write: the child's store is its own */
        h[0] = 42;
        sys1(NR_exit, 5);
    }
    sys1(NR_close, p[1]);
    char buf[64];
    int n = 0, r;
    while ((r = sys3(NR_read, p[0], buf + n, sizeof buf - n)) > 0)
        n += r;
    sys3(NR_write, 1, buf, n);
    int status = 0;
    putnum("wait4 is the child: ", sys4(NR_wait4, -1, &status, 0, 0) == child);
    putnum("child status: ", status >> 8);
    putnum("parent's page untouched: ", h[0]);
    putnum("wait4 again: ", sys4(NR_wait4, -1, &status, 0, 0));
    sys1(NR_exit_group, 0);
}

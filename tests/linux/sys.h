/* sys.h -- freestanding Linux i386 system calls through int 0x80, and tiny output helpers. */
#ifndef SYS_H
#define SYS_H
static inline int sys6(int nr, int a, int b, int c, int d, int e, int f)
{
    int r;
    __asm__ volatile("push %%ebp\n mov %7, %%ebp\n int $0x80\n pop %%ebp"
                     : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e), "m"(f)
                     : "memory");
    return r;
}
#define sys0(n) sys6(n, 0, 0, 0, 0, 0, 0)
#define sys1(n, a) sys6(n, (int)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (int)(a), (int)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (int)(a), (int)(b), (int)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (int)(a), (int)(b), (int)(c), (int)(d), 0, 0)
enum { NR_exit = 1, NR_fork = 2, NR_read = 3, NR_write = 4, NR_open = 5, NR_close = 6,
       NR_getpid = 20, NR_pipe = 42, NR_brk = 45, NR_dup2 = 63, NR_getppid = 64,
       NR_munmap = 91, NR_wait4 = 114, NR_uname = 122, NR_mprotect = 125, NR_mmap2 = 192,
       NR_getuid32 = 199, NR_exit_group = 252, NR_clock_gettime = 265, NR_openat = 295,
       NR_kill = 37, NR_rt_sigaction = 174, NR_lseek = 19, NR_fstat64 = 197 };

static int slen(const char *s) { int n = 0; while (s[n]) n++; return n; }
static __attribute__((unused)) void puts1(const char *s) { sys3(NR_write, 1, s, slen(s)); }
static __attribute__((unused)) void putnum(const char *label, int v)
{
    char buf[32];
    int i = 31, neg = v < 0;
    unsigned u = neg ? -(unsigned)v : (unsigned)v;
    buf[i--] = '\n';
    do buf[i--] = '0' + u % 10; while (u /= 10);
    if (neg) buf[i--] = '-';
    puts1(label);
    sys3(NR_write, 1, buf + i + 1, 31 - i);
}
/* _start for a program that reads its arguments: the initial stack (argc, argv[], NULL,
 * envp[], NULL, auxv) is passed to FN by address (i386 ABI, Linux fs/binfmt_elf.c) */
#define START(fn) void fn(int *sp); \
    __asm__(".globl _start\n_start:\n xor %ebp, %ebp\n push %esp\n call " #fn "\n hlt");

static __attribute__((unused)) int atoi1(const char *s)
{
    int v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + *s++ - '0';
    return v;
}
#endif

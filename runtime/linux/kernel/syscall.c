/* syscall.c -- the system call table (numbers of Linux's
 * arch/x86/entry/syscalls/syscall_32.tbl) and the calls too small for a file of
 * their own.  A call with no row returns -ENOSYS; every call is counted by
 * number and the counts go to the host at exit (bt run --stats).
 */
#include "kernel.h"

#define NSYS 460
typedef s32 (*handler)(u32, u32, u32, u32, u32, u32, struct regs *);
struct row { const char *name; handler fn; };
static u32 counts[NSYS];
extern u32 host_uid, host_gid;

s32 sys_openat(s32, u32, u32, u32);
s32 sys_open(u32, u32, u32);
s32 sys_close(s32);
s32 sys_readv(s32, u32, u32);
s32 sys_writev(s32, u32, u32);
s32 sys_pread64(s32, u32, u32, u32, u32);
s32 sys_lseek(s32, s32, u32);
s32 sys_llseek(s32, u32, u32, u32, u32);
s32 sys_stat64(u32, u32);
s32 sys_lstat64(u32, u32);
s32 sys_fstat64(s32, u32);
s32 sys_fstatat64(s32, u32, u32, u32);
s32 sys_statx(s32, u32, u32, u32, u32);
s32 sys_getdents64(s32, u32, u32);
s32 sys_getdents(s32, u32, u32);
s32 sys_faccessat(s32, u32, u32, u32);
s32 sys_access(u32, u32);
s32 sys_readlinkat(s32, u32, u32, u32);
s32 sys_readlink(u32, u32, u32);
s32 sys_getcwd(u32, u32);
s32 sys_chdir(u32);
s32 sys_fchdir(s32);
s32 sys_dup(s32);
s32 sys_dup2(s32, s32);
s32 sys_dup3(s32, s32, u32);
s32 sys_fcntl64(s32, u32, u32);
s32 sys_pipe(u32);
s32 sys_pipe2(u32, u32);
s32 sys_ioctl(s32, u32, u32);
s32 sys_poll(u32, u32, s32);
s32 sys_ppoll(u32, u32, u32, u32, u32, int);
s32 sys_newselect(s32, u32, u32, u32, u32);
s32 sys_old_select(u32);
s32 sys_pselect6(s32, u32, u32, u32, u32, int);

/* adapters from the six argument registers */
#define A1(f) static s32 w_##f(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t) \
    { (void)b; (void)c; (void)d; (void)e; (void)g; (void)t; return f(a); }
#define A2(f) static s32 w_##f(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t) \
    { (void)c; (void)d; (void)e; (void)g; (void)t; return f(a, b); }
#define A3(f) static s32 w_##f(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t) \
    { (void)d; (void)e; (void)g; (void)t; return f(a, b, c); }
#define A4(f) static s32 w_##f(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t) \
    { (void)e; (void)g; (void)t; return f(a, b, c, d); }
#define A5(f) static s32 w_##f(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t) \
    { (void)g; (void)t; return f(a, b, c, d, e); }
#define W(f) w_##f

static s32 sys_exit(u32 code) { proc_exit((code & 0xff) << 8); }
static s32 sys_getpid(void) { return cur->pid; }
static s32 sys_getppid(void) { return cur->ppid; }
static s32 sys_getuid(void) { return host_uid; }
static s32 sys_getgid(void) { return host_gid; }
static s32 sys_zero(void) { return 0; }
static s32 sys_erofs(void) { return -EROFS; }
static s32 sys_eperm(void) { return -EPERM; }
static s32 sys_enosys(void) { return -ENOSYS; }
static s32 sys_getpgrp(void) { return cur->pgid; }
static s32 sys_yield(void) { sched(); return 0; }

static s32 sys_setpgid(s32 pid, s32 pgid)
{
    struct proc *p = cur;
    if (pid && pid != cur->pid) {
        p = NULL;
        for (int i = 0; i < NPROC; i++)
            if (procs[i].state != P_FREE && procs[i].pid == pid && procs[i].ppid == cur->pid)
                p = &procs[i];
        if (!p)
            return -ESRCH;
    }
    if (pgid < 0)
        return -EINVAL;
    p->pgid = pgid ? pgid : p->pid;
    return 0;
}

static s32 sys_getpgid(s32 pid)
{
    if (!pid)
        return cur->pgid;
    for (int i = 0; i < NPROC; i++)
        if (procs[i].state != P_FREE && procs[i].pid == pid)
            return procs[i].pgid;
    return -ESRCH;
}

static s32 sys_getsid(s32 pid) { (void)pid; return cur->sid; }

static s32 sys_setsid(void)
{
    if (cur->pgid == cur->pid)
        return -EPERM;
    cur->sid = cur->pgid = cur->pid;
    return cur->sid;
}

static s32 sys_umask(u32 mask) { u32 old = cur->umask; cur->umask = mask & 0777; return old; }

static s32 sys_set_tid_address(u32 tidptr) { cur->clear_tid = tidptr; return cur->pid; }

static s32 sys_uname(u32 buf)
{
    static char u[390];
    struct hostreq *r = host_begin(H_UNAME);
    host_seg(r, u, sizeof u);
    host_go(r);
    if (!u[0]) {        /* a host that says nothing: Linux on i686 */
        strcpy(u, "Linux");
        strcpy(u + 260, "i686");
    }
    return copy_to_user(buf, u, sizeof u) < 0 ? -EFAULT : 0;
}

static void host_clock(u32 id, s64 *sec, u32 *nsec)
{
    struct hostreq *r = host_begin(H_CLOCK);
    r->a[0] = id;
    host_go(r);
    *sec = (s64)((u64)r->a[1] << 32 | r->a[0]);
    *nsec = r->a[2];
}

static s32 clock_id_ok(u32 id) { return id <= 11 ? 0 : -EINVAL; }

static s32 sys_clock_gettime(u32 id, u32 uts)
{
    if (clock_id_ok(id) < 0)
        return -EINVAL;
    s64 s; u32 ns;
    host_clock(id, &s, &ns);
    s32 t[2] = {(s32)s, (s32)ns};
    return copy_to_user(uts, t, 8) < 0 ? -EFAULT : 0;
}

static s32 sys_clock_gettime64(u32 id, u32 uts)
{
    if (clock_id_ok(id) < 0)
        return -EINVAL;
    s64 s; u32 ns;
    host_clock(id, &s, &ns);
    s64 t[2] = {s, ns};
    return copy_to_user(uts, t, 16) < 0 ? -EFAULT : 0;
}

static s32 sys_clock_getres(u32 id, u32 uts)
{
    if (clock_id_ok(id) < 0)
        return -EINVAL;
    s32 t[2] = {0, 1};
    return uts && copy_to_user(uts, t, 8) < 0 ? -EFAULT : 0;
}

static s32 sys_gettimeofday(u32 utv, u32 utz)
{
    s64 s; u32 ns;
    host_clock(0, &s, &ns);
    s32 tv[2] = {(s32)s, (s32)(ns / 1000)};
    if (utv && copy_to_user(utv, tv, 8) < 0)
        return -EFAULT;
    if (utz && clear_user(utz, 8) < 0)
        return -EFAULT;
    return 0;
}

static s32 sys_time(u32 ut)
{
    s64 s; u32 ns;
    host_clock(0, &s, &ns);
    s32 v = (s32)s;
    if (ut && copy_to_user(ut, &v, 4) < 0)
        return -EFAULT;
    return v;
}

static s32 sleep_ns(s64 ns)
{
    if (ns <= 0)
        return 0;
    cur->wake_ns = now_ns() + ns;
    while (cur->wake_ns && now_ns() < cur->wake_ns) {
        sleep_on(&cur->wake_ns);
        if (cur->sigpending & ~cur->sigmask) {
            cur->wake_ns = 0;
            return -EINTR;
        }
    }
    cur->wake_ns = 0;
    return 0;
}

static s32 sys_nanosleep(u32 req, u32 rem)
{
    s32 t[2];
    (void)rem;
    if (copy_from_user(t, req, 8) < 0)
        return -EFAULT;
    if (t[0] < 0 || (u32)t[1] >= 1000000000u)
        return -EINVAL;
    return sleep_ns((s64)t[0] * 1000000000ll + t[1]);
}

static s32 sys_clock_nanosleep(u32 id, u32 flags, u32 req, u32 rem, int time64)
{
    s64 t[2];
    (void)rem;
    if (time64) {
        if (copy_from_user(t, req, 16) < 0)
            return -EFAULT;
    } else {
        s32 t32[2];
        if (copy_from_user(t32, req, 8) < 0)
            return -EFAULT;
        t[0] = t32[0], t[1] = t32[1];
    }
    s64 ns = t[0] * 1000000000ll + t[1];
    if (flags & 1) {    /* TIMER_ABSTIME */
        s64 s; u32 n;
        host_clock(id, &s, &n);
        ns -= s * 1000000000ll + n;
    }
    return sleep_ns(ns);
}
static s32 sys_clock_nanosleep32(u32 a, u32 b, u32 c, u32 d) { return sys_clock_nanosleep(a, b, c, d, 0); }
static s32 sys_clock_nanosleep64(u32 a, u32 b, u32 c, u32 d) { return sys_clock_nanosleep(a, b, c, d, 1); }

static s32 sys_getrandom(u32 buf, u32 len, u32 flags)
{
    (void)flags;
    if (user_ok(buf, len, 1) < 0)
        return -EFAULT;
    struct hostreq *r = host_begin(H_RANDOM);
    int n = host_user_segs(r, buf, len, 1);
    if (n < 0)
        return n;
    host_go(r);
    return n;
}

/* resource limits: RLIMIT_STACK 8 MiB, RLIMIT_NOFILE NFD, the rest unlimited */
static void rlimit_of(u32 res, u64 *cur_, u64 *max)
{
    *cur_ = *max = ~0ull;
    if (res == 3)
        *cur_ = STACK_SIZE;
    if (res == 7)
        *cur_ = *max = NFD;
}

static s32 sys_prlimit64(s32 pid, u32 res, u32 newl, u32 oldl)
{
    (void)pid; (void)newl;
    if (res >= 16)
        return -EINVAL;
    u64 l[2];
    rlimit_of(res, &l[0], &l[1]);
    return oldl && copy_to_user(oldl, l, 16) < 0 ? -EFAULT : 0;
}

static s32 sys_ugetrlimit(u32 res, u32 ul)
{
    if (res >= 16)
        return -EINVAL;
    u64 c, m;
    rlimit_of(res, &c, &m);
    u32 l[2] = {c > 0xFFFFFFFFull ? 0xFFFFFFFFu : (u32)c, m > 0xFFFFFFFFull ? 0xFFFFFFFFu : (u32)m};
    return copy_to_user(ul, l, 8) < 0 ? -EFAULT : 0;
}

static s32 sys_sysinfo(u32 ubuf)
{
    u32 si[16];
    memset(si, 0, sizeof si);
    s64 s; u32 ns;
    host_clock(1, &s, &ns);
    si[0] = (u32)s;                     /* uptime */
    si[4] = frames_total() * PAGE;      /* totalram */
    si[5] = frames_free() * PAGE;       /* freeram */
    int n = 0;
    for (int i = 0; i < NPROC; i++)
        n += procs[i].state != P_FREE;
    ((u16 *)si)[20] = n;                /* procs */
    si[13] = 1;                         /* mem_unit */
    return copy_to_user(ubuf, si, 64) < 0 ? -EFAULT : 0;
}

static s32 sys_times(u32 ubuf)
{
    if (ubuf && clear_user(ubuf, 16) < 0)
        return -EFAULT;
    s64 s; u32 ns;
    host_clock(1, &s, &ns);
    return (s32)(s * 100 + ns / 10000000);
}

static s32 sys_getrusage(s32 who, u32 ubuf) { (void)who; return clear_user(ubuf, 72) < 0 ? -EFAULT : 0; }

static s32 sys_sched_getaffinity(s32 pid, u32 len, u32 mask)
{
    (void)pid;
    if (len < 4)
        return -EINVAL;
    u32 one = 1;
    if (clear_user(mask, len) < 0 || copy_to_user(mask, &one, 4) < 0)
        return -EFAULT;
    return 4;
}

static s32 sys_getgroups(s32 n, u32 list) { (void)list; return n < 0 ? -EINVAL : 0; }

static s32 sys_setid(u32 id) { return id == host_uid ? 0 : -EPERM; }

static s32 sys_sigaltstack(u32 uss, u32 uold)
{
    if (uold && copy_to_user(uold, cur->altstack, 12) < 0)
        return -EFAULT;
    if (uss) {
        u32 s[3];
        if (copy_from_user(s, uss, 12) < 0)
            return -EFAULT;
        if (s[1] & 2) {        /* SS_DISABLE */
            s[0] = s[2] = 0;
            s[1] = 2;
        } else if (s[2] < 2048) {
            return -ENOMEM;
        }
        memcpy(cur->altstack, s, 12);
    }
    return 0;
}

static s32 sys_rt_sigpending(u32 uset, u32 size)
{
    (void)size;
    u32 p[2] = {(u32)cur->sigpending, (u32)(cur->sigpending >> 32)};
    return copy_to_user(uset, p, 8) < 0 ? -EFAULT : 0;
}

static s32 sys_rt_sigsuspend(u32 uset, u32 size)
{
    u32 m[2];
    (void)size;
    if (copy_from_user(m, uset, 8) < 0)
        return -EFAULT;
    u64 old = cur->sigmask;
    cur->sigmask = (u64)m[1] << 32 | m[0];
    while (!(cur->sigpending & ~cur->sigmask))
        sleep_on(&cur->sigpending);
    (void)old;  /* restored by the handler's sigreturn, as Linux does */
    return -EINTR;
}

static s32 sys_pause(void)
{
    while (!(cur->sigpending & ~cur->sigmask))
        sleep_on(&cur->sigpending);
    return -EINTR;
}

static s32 sys_tkill(s32 tid, s32 sig) { return sys_kill(tid, sig); }
static s32 sys_tgkill(s32 tgid, s32 tid, s32 sig) { (void)tgid; return sys_kill(tid, sig); }

static s32 sys_futex(u32 uaddr, u32 op, u32 val)
{
    u32 v;
    switch (op & 0x7f) {
    case 0:     /* FUTEX_WAIT: one thread per process, so nobody can wake it */
    case 9:
        if (copy_from_user(&v, uaddr, 4) < 0)
            return -EFAULT;
        return v != val ? -EAGAIN : -EDEADLK;
    case 1:     /* FUTEX_WAKE */
    case 10:
        return 0;
    default:
        return -ENOSYS;
    }
}

static s32 sys_madvise(u32 addr, u32 len, u32 advice)
{
    if (addr & (PAGE - 1))
        return -EINVAL;
    if (advice == 4) {  /* MADV_DONTNEED: anonymous pages read back as zero */
        for (u32 a = addr; a < PGUP(addr + len);) {
            struct vma *v = vma_find(cur->mm, a);
            if (!v)
                return -ENOMEM;
            u32 e = v->end < PGUP(addr + len) ? v->end : PGUP(addr + len);
            struct vma save = *v;
            vma_unmap(cur->mm, a, e);
            vma_map(cur->mm, a, e, save.prot, save.flags);
            a = e;
        }
    }
    return 0;
}

static s32 sys_old_mmap(u32 uargs)
{
    u32 a[6];
    if (copy_from_user(a, uargs, 24) < 0)
        return -EFAULT;
    if (a[5] & (PAGE - 1))
        return -EINVAL;
    return sys_mmap(a[0], a[1], a[2], a[3], a[4], a[5]);
}

static s32 sys_mmap2(u32 a, u32 len, u32 prot, u32 flags, u32 fd, u32 pgoff)
{
    return sys_mmap(a, len, prot, flags, fd, (u64)pgoff * PAGE);
}

static s32 sys_waitpid(s32 pid, u32 st, u32 opt) { return sys_wait4(pid, st, opt, 0); }

static s32 sys_statfs64(u32 path, u32 size, u32 buf)
{
    (void)path;
    if (size < 84)
        return -EINVAL;
    u32 s[21];
    memset(s, 0, sizeof s);
    s[0] = 0xEF53;
    s[1] = 4096;
    s[12] = 255;
    s[13] = 4096;
    s[14] = 1;          /* ST_RDONLY */
    return copy_to_user(buf, s, 84) < 0 ? -EFAULT : 0;
}

static s32 sys_ftruncate(s32 fd) { return fd_file(fd) ? -EROFS : -EBADF; }
static s32 sys_fsync(s32 fd) { return fd_file(fd) ? 0 : -EBADF; }

A1(sys_exit) A3(sys_read) A3(sys_write) A3(sys_open) A1(sys_close) A3(sys_waitpid)
A1(sys_chdir) A1(sys_time) A3(sys_lseek) A2(sys_access) A2(sys_kill) A1(sys_dup) A1(sys_pipe)
A1(sys_times) A1(sys_brk) A3(sys_ioctl) A3(sys_fcntl64) A2(sys_setpgid) A1(sys_umask)
A2(sys_dup2) A2(sys_getrusage) A2(sys_gettimeofday) A1(sys_old_select) A3(sys_readlink)
A1(sys_old_mmap) A2(sys_munmap) A1(sys_ftruncate) A4(sys_wait4) A1(sys_sysinfo) A1(sys_fsync)
A1(sys_uname) A3(sys_mprotect) A1(sys_getpgid) A1(sys_fchdir) A5(sys_llseek) A3(sys_getdents)
A5(sys_newselect) A3(sys_readv) A3(sys_writev) A1(sys_getsid) A2(sys_nanosleep) A5(sys_mremap)
A3(sys_poll) A4(sys_rt_sigaction) A4(sys_rt_sigprocmask) A2(sys_rt_sigpending)
A2(sys_rt_sigsuspend) A5(sys_pread64) A2(sys_getcwd) A2(sys_sigaltstack) A2(sys_ugetrlimit)
A2(sys_stat64) A2(sys_lstat64) A2(sys_fstat64) A2(sys_getgroups) A1(sys_setid)
A3(sys_madvise) A3(sys_getdents64) A2(sys_tkill) A3(sys_futex) A3(sys_sched_getaffinity)
A1(sys_set_thread_area) A1(sys_get_thread_area) A1(sys_set_tid_address) A2(sys_clock_gettime)
A2(sys_clock_getres) A4(sys_clock_nanosleep32) A3(sys_statfs64) A3(sys_tgkill)
A4(sys_openat) A4(sys_fstatat64) A4(sys_readlinkat) A4(sys_faccessat) A3(sys_dup3)
A2(sys_pipe2) A4(sys_prlimit64) A3(sys_getrandom) A5(sys_statx) A2(sys_clock_gettime64)
A4(sys_clock_nanosleep64)

#define A0(f) static s32 w_##f(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t) \
    { (void)a; (void)b; (void)c; (void)d; (void)e; (void)g; (void)t; return f(); }
A0(sys_getpid) A0(sys_getppid) A0(sys_getuid) A0(sys_getgid) A0(sys_zero) A0(sys_erofs)
A0(sys_eperm) A0(sys_enosys) A0(sys_getpgrp) A0(sys_yield) A0(sys_setsid) A0(sys_pause)

static s32 w_fork(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t)
{ (void)a; (void)b; (void)c; (void)d; (void)e; (void)g; return sys_fork(t, 17, 0, 0, 0, 0); }
static s32 w_vfork(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t)
{ (void)a; (void)b; (void)c; (void)d; (void)e; (void)g; return sys_fork(t, 0x4000 | 17, 0, 0, 0, 0); }
static s32 w_clone(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t)
{ (void)g; return sys_fork(t, a, b, c, d, e); }
static s32 w_execve(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t)
{ (void)d; (void)e; (void)g; return sys_execve(a, b, c, t); }
static s32 w_sigreturn(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t)
{ (void)a; (void)b; (void)c; (void)d; (void)e; (void)g; return sys_sigreturn(t); }
static s32 w_rt_sigreturn(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t)
{ (void)a; (void)b; (void)c; (void)d; (void)e; (void)g; return sys_rt_sigreturn(t); }
static s32 w_mmap2(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t)
{ (void)t; return sys_mmap2(a, b, c, d, e, g); }
static s32 w_ppoll(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t)
{ (void)g; (void)t; return sys_ppoll(a, b, c, d, e, 0); }
static s32 w_ppoll64(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t)
{ (void)g; (void)t; return sys_ppoll(a, b, c, d, e, 1); }
static s32 w_pselect6(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t)
{ (void)g; (void)t; return sys_pselect6(a, b, c, d, e, 0); }
static s32 w_pselect6_64(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t)
{ (void)g; (void)t; return sys_pselect6(a, b, c, d, e, 1); }
static s32 w_exit_group(u32 a, u32 b, u32 c, u32 d, u32 e, u32 g, struct regs *t)
{ (void)b; (void)c; (void)d; (void)e; (void)g; (void)t; proc_exit((a & 0xff) << 8); }

/* The table: number -> (name, handler), numbers from syscall_32.tbl. */
static const struct row table[NSYS] = {
    [1] = {"exit", W(sys_exit)}, [2] = {"fork", w_fork}, [3] = {"read", W(sys_read)},
    [4] = {"write", W(sys_write)}, [5] = {"open", W(sys_open)}, [6] = {"close", W(sys_close)},
    [7] = {"waitpid", W(sys_waitpid)}, [8] = {"creat", W(sys_erofs)},
    [9] = {"link", W(sys_erofs)}, [10] = {"unlink", W(sys_erofs)},
    [11] = {"execve", w_execve}, [12] = {"chdir", W(sys_chdir)}, [13] = {"time", W(sys_time)},
    [14] = {"mknod", W(sys_erofs)}, [15] = {"chmod", W(sys_erofs)},
    [16] = {"lchown", W(sys_erofs)}, [19] = {"lseek", W(sys_lseek)},
    [20] = {"getpid", W(sys_getpid)}, [23] = {"setuid", W(sys_setid)},
    [24] = {"getuid", W(sys_getuid)}, [27] = {"alarm", W(sys_zero)},
    [29] = {"pause", W(sys_pause)}, [30] = {"utime", W(sys_erofs)},
    [33] = {"access", W(sys_access)}, [36] = {"sync", W(sys_zero)},
    [37] = {"kill", W(sys_kill)}, [38] = {"rename", W(sys_erofs)},
    [39] = {"mkdir", W(sys_erofs)}, [40] = {"rmdir", W(sys_erofs)}, [41] = {"dup", W(sys_dup)},
    [42] = {"pipe", W(sys_pipe)}, [43] = {"times", W(sys_times)}, [45] = {"brk", W(sys_brk)},
    [46] = {"setgid", W(sys_setid)}, [47] = {"getgid", W(sys_getgid)},
    [49] = {"geteuid", W(sys_getuid)}, [50] = {"getegid", W(sys_getgid)},
    [54] = {"ioctl", W(sys_ioctl)}, [55] = {"fcntl", W(sys_fcntl64)},
    [57] = {"setpgid", W(sys_setpgid)}, [60] = {"umask", W(sys_umask)},
    [61] = {"chroot", W(sys_eperm)}, [63] = {"dup2", W(sys_dup2)},
    [64] = {"getppid", W(sys_getppid)}, [65] = {"getpgrp", W(sys_getpgrp)},
    [66] = {"setsid", W(sys_setsid)}, [75] = {"setrlimit", W(sys_zero)},
    [77] = {"getrusage", W(sys_getrusage)}, [78] = {"gettimeofday", W(sys_gettimeofday)},
    [80] = {"getgroups", W(sys_getgroups)}, [82] = {"select", W(sys_old_select)},
    [83] = {"symlink", W(sys_erofs)}, [85] = {"readlink", W(sys_readlink)},
    [90] = {"old_mmap", W(sys_old_mmap)}, [91] = {"munmap", W(sys_munmap)},
    [92] = {"truncate", W(sys_erofs)}, [93] = {"ftruncate", W(sys_ftruncate)},
    [94] = {"fchmod", W(sys_erofs)}, [95] = {"fchown", W(sys_erofs)},
    [114] = {"wait4", W(sys_wait4)}, [116] = {"sysinfo", W(sys_sysinfo)},
    [118] = {"fsync", W(sys_fsync)}, [119] = {"sigreturn", w_sigreturn},
    [120] = {"clone", w_clone}, [122] = {"uname", W(sys_uname)},
    [125] = {"mprotect", W(sys_mprotect)}, [132] = {"getpgid", W(sys_getpgid)},
    [133] = {"fchdir", W(sys_fchdir)}, [140] = {"_llseek", W(sys_llseek)},
    [141] = {"getdents", W(sys_getdents)}, [142] = {"_newselect", W(sys_newselect)},
    [145] = {"readv", W(sys_readv)}, [146] = {"writev", W(sys_writev)},
    [147] = {"getsid", W(sys_getsid)}, [148] = {"fdatasync", W(sys_fsync)},
    [158] = {"sched_yield", W(sys_yield)}, [162] = {"nanosleep", W(sys_nanosleep)},
    [163] = {"mremap", W(sys_mremap)}, [168] = {"poll", W(sys_poll)},
    [173] = {"rt_sigreturn", w_rt_sigreturn}, [174] = {"rt_sigaction", W(sys_rt_sigaction)},
    [175] = {"rt_sigprocmask", W(sys_rt_sigprocmask)},
    [176] = {"rt_sigpending", W(sys_rt_sigpending)},
    [179] = {"rt_sigsuspend", W(sys_rt_sigsuspend)}, [180] = {"pread64", W(sys_pread64)},
    [181] = {"pwrite64", W(sys_ftruncate)}, [182] = {"chown", W(sys_erofs)},
    [183] = {"getcwd", W(sys_getcwd)}, [186] = {"sigaltstack", W(sys_sigaltstack)},
    [190] = {"vfork", w_vfork}, [191] = {"ugetrlimit", W(sys_ugetrlimit)},
    [192] = {"mmap2", w_mmap2}, [193] = {"truncate64", W(sys_erofs)},
    [194] = {"ftruncate64", W(sys_ftruncate)}, [195] = {"stat64", W(sys_stat64)},
    [196] = {"lstat64", W(sys_lstat64)}, [197] = {"fstat64", W(sys_fstat64)},
    [198] = {"lchown32", W(sys_erofs)}, [199] = {"getuid32", W(sys_getuid)},
    [200] = {"getgid32", W(sys_getgid)}, [201] = {"geteuid32", W(sys_getuid)},
    [202] = {"getegid32", W(sys_getgid)}, [205] = {"getgroups32", W(sys_getgroups)},
    [207] = {"fchown32", W(sys_erofs)}, [212] = {"chown32", W(sys_erofs)},
    [213] = {"setuid32", W(sys_setid)}, [214] = {"setgid32", W(sys_setid)},
    [219] = {"madvise", W(sys_madvise)}, [220] = {"getdents64", W(sys_getdents64)},
    [221] = {"fcntl64", W(sys_fcntl64)}, [224] = {"gettid", W(sys_getpid)},
    [238] = {"tkill", W(sys_tkill)}, [240] = {"futex", W(sys_futex)},
    [242] = {"sched_getaffinity", W(sys_sched_getaffinity)},
    [243] = {"set_thread_area", W(sys_set_thread_area)},
    [244] = {"get_thread_area", W(sys_get_thread_area)}, [252] = {"exit_group", w_exit_group},
    [258] = {"set_tid_address", W(sys_set_tid_address)},
    [265] = {"clock_gettime", W(sys_clock_gettime)}, [266] = {"clock_getres", W(sys_clock_getres)},
    [267] = {"clock_nanosleep", W(sys_clock_nanosleep32)}, [268] = {"statfs64", W(sys_statfs64)},
    [270] = {"tgkill", W(sys_tgkill)}, [271] = {"utimes", W(sys_erofs)},
    [295] = {"openat", W(sys_openat)}, [296] = {"mkdirat", W(sys_erofs)},
    [297] = {"mknodat", W(sys_erofs)}, [298] = {"fchownat", W(sys_erofs)},
    [299] = {"futimesat", W(sys_erofs)}, [300] = {"fstatat64", W(sys_fstatat64)},
    [301] = {"unlinkat", W(sys_erofs)}, [302] = {"renameat", W(sys_erofs)},
    [303] = {"linkat", W(sys_erofs)}, [304] = {"symlinkat", W(sys_erofs)},
    [305] = {"readlinkat", W(sys_readlinkat)}, [306] = {"fchmodat", W(sys_erofs)},
    [307] = {"faccessat", W(sys_faccessat)}, [308] = {"pselect6", w_pselect6},
    [309] = {"ppoll", w_ppoll}, [311] = {"set_robust_list", W(sys_zero)},
    [320] = {"utimensat", W(sys_erofs)}, [330] = {"dup3", W(sys_dup3)},
    [331] = {"pipe2", W(sys_pipe2)}, [340] = {"prlimit64", W(sys_prlimit64)},
    [353] = {"renameat2", W(sys_erofs)}, [355] = {"getrandom", W(sys_getrandom)},
    [383] = {"statx", W(sys_statx)}, [386] = {"rseq", W(sys_enosys)},
    [403] = {"clock_gettime64", W(sys_clock_gettime64)},
    [406] = {"clock_getres_time64", W(sys_clock_getres)},
    [407] = {"clock_nanosleep_time64", W(sys_clock_nanosleep64)},
    [412] = {"utimensat_time64", W(sys_erofs)}, [413] = {"pselect6_time64", w_pselect6_64},
    [414] = {"ppoll_time64", w_ppoll64}, [439] = {"faccessat2", W(sys_faccessat)},
};

/* numbers past the table: the first NFAR distinct ones counted each, the rest under
 * far_other (reported as number 0xffffffff) */
#define NFAR 16
static u32 far[NFAR][2], far_other;

static void count_far(u32 nr)
{
    for (int i = 0; i < NFAR; i++) {
        if (far[i][1] && far[i][0] == nr) {
            far[i][1]++;
            return;
        }
        if (!far[i][1]) {
            far[i][0] = nr;
            far[i][1] = 1;
            return;
        }
    }
    far_other++;
}

void syscall(struct regs *tf)
{
    u32 nr = tf->eax;
    if (nr < NSYS)
        counts[nr]++;
    else
        count_far(nr);
    if (nr >= NSYS || !table[nr].fn) {
        tf->eax = -ENOSYS;
        return;
    }
    tf->eax = table[nr].fn(tf->ebx, tf->ecx, tf->edx, tf->esi, tf->edi, tf->ebp, tf);
}

/* counts per number, which numbers have a row, and the (number, count) pairs past the
 * table: one request at exit */
void syscall_report(void)
{
    static u8 have[NSYS];
    for (int i = 0; i < NSYS; i++)
        have[i] = table[i].fn != NULL && table[i].fn != W(sys_enosys);
    struct hostreq *r = host_begin(H_STATS);
    host_seg(r, counts, sizeof counts);
    host_seg(r, have, sizeof have);
    if (far_other) {
        far[NFAR - 1][0] = 0xFFFFFFFFu;
        far[NFAR - 1][1] += far_other;
    }
    host_seg(r, far, sizeof far);
    host_go(r);
}

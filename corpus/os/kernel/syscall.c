/*
 * corpus/os/kernel/syscall.c -- the system call table (int 0x40).
 *
 * ABI (include/syscall.h): EAX the number, EBX, ECX, EDX the arguments,
 * the result in EAX (negative: -errno).  Each row of the table is a
 * number, a name and a handler taking the three argument registers;
 * pointers from user mode are checked against the process's page table
 * before the kernel touches them (vm.c user_range_ok, user_string_ok).
 */
#include "../include/errno.h"
#include "../include/syscall.h"
#include "defs.h"
#include "file.h"
#include "proc.h"
#include "x86.h"

typedef int (*sysfn)(uint32_t a, uint32_t b, uint32_t c);

static struct file *fd_file(uint32_t fd)
{
    return fd < NOFILE ? curproc->ofile[fd] : 0;
}

static int sys_fork(uint32_t a, uint32_t b, uint32_t c)
{
    (void)a, (void)b, (void)c;
    return fork();
}

static int sys_exit(uint32_t status, uint32_t b, uint32_t c)
{
    (void)b, (void)c;
    exit((int)status);
}

static int sys_wait(uint32_t status, uint32_t b, uint32_t c)
{
    (void)b, (void)c;
    if (status && !user_range_ok(status, sizeof(int), 1))
        return -EFAULT;
    int st = 0, pid = wait(&st);
    if (pid > 0 && status)
        *(int *)status = st;
    return pid;
}

static int sys_read(uint32_t fd, uint32_t buf, uint32_t n)
{
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    if ((int)n < 0 || !user_range_ok(buf, n, 1))
        return -EFAULT;
    return file_read(f, (char *)buf, (int)n);
}

static int sys_write(uint32_t fd, uint32_t buf, uint32_t n)
{
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    if ((int)n < 0 || !user_range_ok(buf, n, 0))
        return -EFAULT;
    return file_write(f, (const char *)buf, (int)n);
}

static int sys_open(uint32_t path, uint32_t flags, uint32_t c)
{
    (void)c;
    int len = user_string_ok((const char *)path, MAXPATH);
    if (len < 0)
        return -EFAULT;
    int fd = 0;
    while (fd < NOFILE && curproc->ofile[fd])
        fd++;
    if (fd == NOFILE)
        return -EMFILE;
    int err = 0;
    struct file *f = file_open((const char *)path, (int)flags, &err);
    if (!f)
        return err;
    curproc->ofile[fd] = f;
    return fd;
}

static int sys_close(uint32_t fd, uint32_t b, uint32_t c)
{
    (void)b, (void)c;
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    curproc->ofile[fd] = 0;
    file_close(f);
    return 0;
}

/* The path and arguments are copied into one kernel page first: exec
 * frees the address space they live in. */
static int sys_exec(uint32_t upath, uint32_t uargv, uint32_t c)
{
    (void)c;
    char *page = kalloc(), *p = page, *argv[MAXARG + 1];
    if (!page)
        return -ENOMEM;
    int err = -EFAULT, len = user_string_ok((const char *)upath, MAXPATH);
    if (len < 0)
        goto out;
    memcpy(p, (const char *)upath, (uint32_t)len + 1);
    const char *path = p;
    p += len + 1;
    for (int i = 0;; i++) {
        uint32_t slot = uargv + 4 * (uint32_t)i;
        if (!user_range_ok(slot, 4, 0))
            goto out;
        const char *arg = *(const char *const *)slot;
        if (!arg) {
            argv[i] = 0;
            break;
        }
        if (i >= MAXARG) {
            err = -E2BIG;
            goto out;
        }
        if ((len = user_string_ok(arg, MAXARGLEN)) < 0)
            goto out;
        if (p + len + 1 > page + PGSIZE) {
            err = -E2BIG;
            goto out;
        }
        memcpy(p, arg, (uint32_t)len + 1);
        argv[i] = p;
        p += len + 1;
    }
    err = exec(path, argv);
out:
    kfree(page);
    return err;
}

static int sys_sbrk(uint32_t n, uint32_t b, uint32_t c)
{
    (void)b, (void)c;
    uint32_t old;
    int err = growproc((int)n, &old);
    return err < 0 ? err : (int)old;
}

static int sys_getpid(uint32_t a, uint32_t b, uint32_t c)
{
    (void)a, (void)b, (void)c;
    return curproc->pid;
}

static int sys_sleep(uint32_t n, uint32_t b, uint32_t c)
{
    (void)b, (void)c;
    return sleep_ticks(n);
}

static int sys_kill(uint32_t pid, uint32_t b, uint32_t c)
{
    (void)b, (void)c;
    return kill((int)pid);
}

static int sys_fstat(uint32_t fd, uint32_t st, uint32_t c)
{
    (void)c;
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    if (!user_range_ok(st, sizeof(struct stat), 1))
        return -EFAULT;
    return file_stat(f, (struct stat *)st);
}

static int sys_poweroff(uint32_t code, uint32_t b, uint32_t c)
{
    (void)b, (void)c;
    cprintf("btos: power off\n");
    poweroff((int)code);
}

static const struct {
    const char *name;
    sysfn fn;
} syscalls[NSYSCALLS] = {
    [SYS_fork]     = { "fork", sys_fork },
    [SYS_exit]     = { "exit", sys_exit },
    [SYS_wait]     = { "wait", sys_wait },
    [SYS_read]     = { "read", sys_read },
    [SYS_write]    = { "write", sys_write },
    [SYS_open]     = { "open", sys_open },
    [SYS_close]    = { "close", sys_close },
    [SYS_exec]     = { "exec", sys_exec },
    [SYS_sbrk]     = { "sbrk", sys_sbrk },
    [SYS_getpid]   = { "getpid", sys_getpid },
    [SYS_sleep]    = { "sleep", sys_sleep },
    [SYS_kill]     = { "kill", sys_kill },
    [SYS_fstat]    = { "fstat", sys_fstat },
    [SYS_poweroff] = { "poweroff", sys_poweroff },
};

void syscall(struct trapframe *tf)
{
    uint32_t num = tf->eax;
    if (num >= NSYSCALLS || !syscalls[num].fn) {
        cprintf("kernel: %s (pid %d): unknown system call %u\n", curproc->name, curproc->pid, num);
        tf->eax = (uint32_t)-ENOSYS;
        return;
    }
    tf->eax = (uint32_t)syscalls[num].fn(tf->ebx, tf->ecx, tf->edx);
}

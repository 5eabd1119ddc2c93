/*
 * pcunix/kernel/syscall.c -- the system calls (include/syscall.h), one row
 * each in syscalls[].  Arguments come in EBX, ECX, EDX of the caller's trap
 * frame; user pointers go through copyin/copyout/fetchstr, which accept
 * only pages mapped for ring 3.
 */
#include "defs.h"
#include "mmu.h"

uint32_t mb_mem_lower, mb_mem_upper;    /* from the multiboot info (main.c) */
uint32_t free_pages_at_init;            /* after pid 1 started: the leak check at halt */

static struct file *fd_file(uint32_t fd, int type)
{
    if (fd >= NOFILE || curproc->ofile[fd].type != type)
        return 0;
    return &curproc->ofile[fd];
}

static int32_t sys_exit(struct trapframe *tf)
{
    exit((int)tf->ebx);
}

static int32_t sys_write(struct trapframe *tf)
{
    uint32_t va = tf->ecx, n = tf->edx;
    char buf[128];
    if (!fd_file(tf->ebx, FD_CONSOLE))
        return -1;
    for (uint32_t done = 0; done < n;) {
        uint32_t chunk = n - done < sizeof buf ? n - done : sizeof buf;
        if (copyin(curproc->pgdir, buf, va + done, chunk) < 0)
            return -1;
        console_write(buf, (int)chunk);
        done += chunk;
    }
    return (int32_t)n;
}

static int32_t sys_read(struct trapframe *tf)
{
    uint32_t va = tf->ecx, n = tf->edx;
    char buf[256];
    if (n > sizeof buf)
        n = sizeof buf;
    int got;
    struct file *f;
    if (fd_file(tf->ebx, FD_CONSOLE)) {
        got = console_read(buf, (int)n);
    } else if ((f = fd_file(tf->ebx, FD_PCFS))) {
        got = fs_read(f->ino, f->off, buf, n);
        if (got > 0)
            f->off += got;
    } else {
        return -1;
    }
    if (got > 0 && copyout(curproc->pgdir, va, buf, got) < 0)
        return -1;
    return got;
}

static int32_t sys_open(struct trapframe *tf)
{
    char name[PCFS_NAMELEN];
    if (fetchstr(curproc->pgdir, tf->ebx, name, sizeof name) < 0)
        return -1;
    int ino = fs_lookup(name);
    if (ino < 0)
        return -1;
    for (int fd = 0; fd < NOFILE; fd++) {
        if (curproc->ofile[fd].type == FD_NONE) {
            curproc->ofile[fd] = (struct file){ FD_PCFS, ino, 0 };
            return fd;
        }
    }
    return -1;
}

static int32_t sys_close(struct trapframe *tf)
{
    if (tf->ebx >= NOFILE || curproc->ofile[tf->ebx].type == FD_NONE)
        return -1;
    curproc->ofile[tf->ebx].type = FD_NONE;
    return 0;
}

static int32_t sys_spawn(struct trapframe *tf)
{
    char name[PCFS_NAMELEN], strings[MAXARGLEN], *argv[MAXARG + 1];
    if (fetchstr(curproc->pgdir, tf->ebx, name, sizeof name) < 0)
        return -1;
    int argc = 0, used = 0;
    for (;; argc++) {
        uint32_t uarg;
        if (copyin(curproc->pgdir, &uarg, tf->ecx + 4 * argc, 4) < 0)
            return -1;
        if (!uarg)
            break;
        if (argc == MAXARG)
            return -1;
        int n = fetchstr(curproc->pgdir, uarg, strings + used, MAXARGLEN - used);
        if (n < 0)
            return -1;
        argv[argc] = strings + used;
        used += n + 1;
    }
    argv[argc] = 0;
    return spawn(name, argv, argc);
}

static int32_t sys_wait(struct trapframe *tf)
{
    int status = 0;
    int pid = wait((int)tf->ebx, &status, (int)tf->edx);
    if (pid > 0 && tf->ecx && copyout(curproc->pgdir, tf->ecx, &status, sizeof status) < 0)
        return -1;
    return pid;
}

static int32_t sys_readdir(struct trapframe *tf)
{
    struct stat st;
    if (fs_stat((int)tf->ebx, &st) < 0)
        return -1;
    return copyout(curproc->pgdir, tf->ecx, &st, sizeof st);
}

static int32_t sys_meminfo(struct trapframe *tf)
{
    struct meminfo mi = { mb_mem_lower, mb_mem_upper, mb_mem_lower + mb_mem_upper };
    return copyout(curproc->pgdir, tf->ebx, &mi, sizeof mi);
}

static int32_t sys_halt(struct trapframe *tf)
{
    /* only pid 1 is alive now, as when free_pages_at_init was taken */
    uint32_t now = kfree_pages();
    if (now == free_pages_at_init)
        kprintf("pcunix: %d processes run, all their memory returned; halting\n", nspawned);
    else
        kprintf("pcunix: %d processes run, %d pages not returned; halting\n",
                nspawned, (int)(free_pages_at_init - now));
    poweroff((int)tf->ebx);
}

static int32_t sys_getpid(struct trapframe *tf)
{
    (void)tf;
    return curproc->pid;
}

static int32_t (*const syscalls[NSYSCALL])(struct trapframe *) = {
    [SYS_exit] = sys_exit,
    [SYS_write] = sys_write,
    [SYS_read] = sys_read,
    [SYS_open] = sys_open,
    [SYS_close] = sys_close,
    [SYS_spawn] = sys_spawn,
    [SYS_wait] = sys_wait,
    [SYS_readdir] = sys_readdir,
    [SYS_meminfo] = sys_meminfo,
    [SYS_halt] = sys_halt,
    [SYS_getpid] = sys_getpid,
};

int32_t syscall(struct trapframe *tf)
{
    uint32_t n = tf->eax;
    if (n >= NSYSCALL || !syscalls[n])
        return -1;
    return syscalls[n](tf);
}

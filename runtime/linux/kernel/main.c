/* main.c -- boot (the direct map, descriptor tables, the FPU) and the trap
 * handler: system calls, page faults, and the faults that become signals. */
#include "kernel.h"

struct tss tss __attribute__((aligned(128)));
static u64 idt[256] __attribute__((aligned(8)));
u32 hwcap;
extern u32 host_uid, host_gid;
extern u32 isr_table[];
extern char __kernel_end[];

static void set_gate(int vec, u32 handler, int dpl)
{
    idt[vec] = (u64)(handler & 0xFFFF) | (u64)KCODE << 16 | (u64)(0x8E00 | dpl << 13) << 32
               | (u64)(handler & 0xFFFF0000) << 32;
}

static void tables_init(void)
{
    for (int i = 0; i < 48; i++)
        set_gate(i, isr_table[i], i == 3 || i == 4 ? 3 : 0);
    set_gate(0x80, isr_table[48], 3);
    struct { u16 limit; u32 base; } __attribute__((packed)) idtr = {sizeof idt - 1, (u32)idt};
    __asm__ volatile("lidt %0" :: "m"(idtr));
    u32 base = (u32)&tss, limit = sizeof tss - 1;
    tss.ss0 = KDATA;
    tss.iomap = sizeof tss;
    gdt[TSS_SEL >> 3] = (u64)(limit & 0xFFFF) | (u64)(base & 0xFFFFFF) << 16
                        | (u64)0x89 << 40 | (u64)(base >> 24) << 56;
    __asm__ volatile("ltr %w0" :: "r"(TSS_SEL));
}

static void fpu_init(void)
{
    u32 cr0, cr4, a, b, c, d;
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    cr0 = (cr0 & ~0xCu) | 0x22;         /* EM, TS off; MP, NE on */
    __asm__ volatile("mov %0, %%cr0" :: "r"(cr0));
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    cr4 |= 0x600;                       /* OSFXSR, OSXMMEXCPT */
    __asm__ volatile("mov %0, %%cr4" :: "r"(cr4));
    __asm__ volatile("fninit");
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    hwcap = d;
}

static const char *const signame[] = {[4] = "SIGILL", [5] = "SIGTRAP", [7] = "SIGBUS",
                                      [8] = "SIGFPE", [11] = "SIGSEGV"};

static void fault_signal(struct regs *tf, int sig, u32 addr)
{
    if (cur->sa[sig].handler <= 1 || (cur->sigmask & (1ull << (sig - 1)))) {
        kprintf("bt: linux: pid %d (%s) killed by %s at eip 0x%x (address 0x%x)\n", cur->pid,
                cur->exe, signame[sig], tf->eip, addr);
        proc_exit(sig);
    }
    signal_send(cur, sig);
}

void trap(struct regs *tf)
{
    int user = (tf->cs & 3) == 3;
    cur->tf = tf;
    switch (tf->vector) {
    case 0x80:
        syscall(tf);
        break;
    case 14: {
        u32 addr = read_cr2();
        if (addr < USER_TOP && cur->mm && mm_fault(cur->mm, addr, tf->err & 2) == 0)
            break;
        if (!user)
            panic("linuxk: kernel page fault at 0x%x (eip 0x%x, error 0x%x)\n", addr, tf->eip, tf->err);
        fault_signal(tf, 11, addr);
        break;
    }
    default:
        if (!user)
            panic("linuxk: kernel exception %d at eip 0x%x (error 0x%x)\n", tf->vector, tf->eip,
                  tf->err);
        fault_signal(tf, tf->vector == 0 || tf->vector == 16 || tf->vector == 19 ? 8
                         : tf->vector == 6 ? 4 : tf->vector == 3 || tf->vector == 1 ? 5 : 11,
                     tf->eip);
    }
    if (user)
        signal_deliver(tf);
}

struct mbinfo { u32 flags, mem_lower, mem_upper; };

void kmain(u32 magic, u32 mbinfo_phys)
{
    struct mbinfo *mb = P2V(mbinfo_phys);
    u32 ram = magic == 0x2BADB002 ? (mb->mem_upper + 1024) * 1024 : 64u << 20;
    ram &= ~(0x3FFFFFu >> 10);
    mm_init(ram, V2P(__kernel_end));
    tables_init();
    fpu_init();

    /* the program, its arguments and environment, from the host */
    u32 size = 256 * 1024;
    char *args = kalloc(size);
    struct hostreq *r = host_begin(H_ARGS);
    host_seg(r, args, size);
    if (host_go(r) < 0)
        panic("linuxk: the host gave no program to run\n");
    u32 argc = r->a[0], envc = r->a[1];
    host_uid = r->a[2];
    host_gid = r->a[3];
    char **argv = kalloc(4 * (argc + 1)), **envp = kalloc(4 * (envc + 1));
    char *p = args;
    char *path = p;
    p += strlen(p) + 1;
    for (u32 i = 0; i < argc; i++, p += strlen(p) + 1)
        argv[i] = p;
    for (u32 i = 0; i < envc; i++, p += strlen(p) + 1)
        envp[i] = p;

    cur = proc_alloc();
    cur->pgid = cur->sid = cur->pid;
    cur->umask = 022;
    cur->tf = (struct regs *)(cur->kstack + 8192) - 1;
    r = host_begin(H_GETCWD);
    host_seg(r, cur->cwd, sizeof cur->cwd - 1);
    s32 n = host_go(r);
    if (n <= 0)
        strcpy(cur->cwd, "/");
    for (int fd = 0; fd < 3; fd++) {
        struct file *f = file_new(F_CONSOLE);
        f->host = fd;
        f->flags = fd == 0 ? O_RDONLY : O_WRONLY;
        cur->fd[fd] = f;
    }
    cur->mm = NULL;
    s32 e = do_execve(path, argv, argc, envp, envc, cur->tf);
    if (e < 0) {
        kprintf("bt: linux: cannot execute %s: error %d\n", path, -e);
        struct hostreq *x = host_begin(H_EXIT);
        x->a[0] = 127 << 8;
        host_go(x);
        for (;;)
            outb(0xf4, 0);
    }
    kfree(args);
    start_first();
}

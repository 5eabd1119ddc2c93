/* proc.c -- processes: the table, a cooperative scheduler (a process runs until it
 * blocks, exits or yields), fork/clone, exit, wait4, signals, TLS descriptors.
 *
 * Each process has its own address space (struct mm), kernel stack and saved
 * FPU/SSE state.  Blocking is sleep_on(channel) / wakeup(channel), as in Unix
 * V6; when nothing can run the kernel asks the host to wait for console input
 * or the nearest timeout (H_WAIT).
 */
#include "kernel.h"

#define KSTACK 8192
#define CLONE_VM 0x100
#define CLONE_VFORK 0x4000
#define CLONE_THREAD 0x10000
#define CLONE_SETTLS 0x80000
#define CLONE_PARENT_SETTID 0x100000
#define CLONE_CHILD_CLEARTID 0x200000
#define CLONE_CHILD_SETTID 0x1000000
#define SIGKILL 9
#define SIGCHLD 17
#define SIGCONT 18
#define SIGSTOP 19
#define SA_SIGINFO 4
#define SA_ONSTACK 0x08000000
#define SA_RESTART 0x10000000
#define SA_NODEFER 0x40000000
#define SA_RESETHAND 0x80000000

struct proc procs[NPROC];
struct proc *cur;
static int next_pid = 1;
static int stdin_wait;

void proc_init(void) {}

struct proc *proc_alloc(void)
{
    for (int i = 0; i < NPROC; i++) {
        struct proc *p = &procs[i];
        if (p->state == P_FREE) {
            memset(p, 0, sizeof *p);
            p->pid = next_pid++;
            p->kstack = kalloc(KSTACK);
            if (!p->kstack)
                return NULL;
            p->state = P_SLEEP;
            return p;
        }
    }
    return NULL;
}

u64 now_ns(void)
{
    struct hostreq *r = host_begin(H_CLOCK);
    r->a[0] = 1;                /* CLOCK_MONOTONIC */
    host_go(r);
    return ((u64)r->a[1] << 32 | r->a[0]) * 1000000000ull + r->a[2];
}

int stdin_waiters(void) { return stdin_wait; }

extern u32 seg_reload;

void load_tls(struct proc *p)
{
    seg_reload = 1;
    for (int i = 0; i < 3; i++)
        gdt[GDT_TLS + i] = (u64)p->tls[i][1] << 32 | p->tls[i][0];
}

static void fxsave(u8 *area) { __asm__ volatile("fxsave (%0)" :: "r"(area) : "memory"); }
static void fxrstor(u8 *area) { __asm__ volatile("fxrstor (%0)" :: "r"(area) : "memory"); }

/* nothing can run: wait on the host for console input or the nearest deadline */
static void idle(void)
{
    u64 deadline = 0;
    for (int i = 0; i < NPROC; i++)
        if (procs[i].state == P_SLEEP && procs[i].wake_ns && (!deadline || procs[i].wake_ns < deadline))
            deadline = procs[i].wake_ns;
    if (!deadline && !stdin_wait)
        panic("linuxk: every process is blocked for ever (deadlock)\n");
    struct hostreq *r = host_begin(H_WAIT);
    u64 wait = 0xFFFFFFFFull;
    if (deadline) {
        u64 now = now_ns();
        wait = deadline > now ? (deadline - now) / 1000 : 0;
        if (wait > 0xFFFFFFFEull)
            wait = 0xFFFFFFFEull;
    }
    r->a[0] = (u32)wait;        /* microseconds, 0xffffffff = no timeout */
    if (host_go(r) > 0)
        wakeup(&stdin_wait);
    if (deadline) {
        u64 now = now_ns();
        for (int i = 0; i < NPROC; i++)
            if (procs[i].state == P_SLEEP && procs[i].wake_ns && procs[i].wake_ns <= now)
                procs[i].state = P_RUN;
    }
}

void sched(void)
{
    struct proc *prev = cur, *next = NULL;
    int start = prev - procs;
    for (;;) {
        for (int k = 1; k <= NPROC; k++) {
            struct proc *p = &procs[(start + k) % NPROC];
            if (p->state == P_RUN) {
                next = p;
                break;
            }
        }
        if (next)
            break;
        idle();
    }
    if (next == prev)
        return;
    if (prev->state != P_ZOMBIE && prev->state != P_FREE)
        fxsave(prev->fpu);
    cur = next;
    tss.esp0 = (u32)next->kstack + KSTACK;
    mm_switch(next->mm);
    load_tls(next);
    fxrstor(next->fpu);
    switch_stack(&prev->kesp, next->kesp);
}

void sleep_on(void *chan)
{
    if (chan == (void *)&stdin_wait)
        stdin_wait++;
    cur->wchan = chan;
    cur->state = P_SLEEP;
    sched();
    cur->wchan = NULL;
    if (chan == (void *)&stdin_wait)
        stdin_wait--;
}

void wakeup(void *chan)
{
    for (int i = 0; i < NPROC; i++)
        if (procs[i].state == P_SLEEP && procs[i].wchan == chan)
            procs[i].state = P_RUN;
}

/* the stdin channel for file.c */
void *stdin_chan(void) { return &stdin_wait; }

void start_first(void)
{
    tss.esp0 = (u32)cur->kstack + KSTACK;
    mm_switch(cur->mm);
    load_tls(cur);
    fxrstor(cur->fpu);
    cur->state = P_RUN;
    __asm__ volatile("movl %0, %%esp\n jmp trap_return" :: "r"(cur->tf));
    __builtin_unreachable();
}

/* ---- fork, clone */
static void child_stack(struct proc *p, struct regs *tf)
{
    p->tf = (struct regs *)(p->kstack + KSTACK) - 1;
    *p->tf = *tf;
    u32 *sp = (u32 *)p->tf;
    extern char trap_return[];
    *--sp = (u32)trap_return;
    *--sp = 0;  /* ebp */
    *--sp = 0;  /* ebx */
    *--sp = 0;  /* esi */
    *--sp = 0;  /* edi */
    p->kesp = (u32)sp;
}

static s32 set_tls_entry(struct proc *p, u32 uinfo, int allow_alloc);

s32 sys_fork(struct regs *tf, u32 flags, u32 newsp, u32 ptid, u32 tls, u32 ctid)
{
    if (flags & CLONE_THREAD)
        return -EINVAL;
    struct proc *p = proc_alloc();
    if (!p)
        return -EAGAIN;
    p->ppid = cur->pid;
    p->pgid = cur->pgid;
    p->sid = cur->sid;
    p->mm = mm_fork(cur->mm);
    for (int i = 0; i < NFD; i++)
        if (cur->fd[i]) {
            p->fd[i] = file_get(cur->fd[i]);
            p->cloexec[i] = cur->cloexec[i];
        }
    memcpy(p->cwd, cur->cwd, sizeof p->cwd);
    memcpy(p->exe, cur->exe, sizeof p->exe);
    memcpy(p->tls, cur->tls, sizeof p->tls);
    memcpy(p->sa, cur->sa, sizeof p->sa);
    memcpy(p->altstack, cur->altstack, sizeof p->altstack);
    p->sigmask = cur->sigmask;
    p->umask = cur->umask;
    p->start_ns = now_ns();
    fxsave(cur->fpu);
    memcpy(p->fpu, cur->fpu, 512);
    child_stack(p, tf);
    p->tf->eax = 0;
    if (newsp)
        p->tf->esp = newsp;
    if (flags & CLONE_SETTLS) {
        s32 e = set_tls_entry(p, tls, 0);
        if (e < 0)
            kprintf("linuxk: clone: bad CLONE_SETTLS descriptor\n");
    }
    if (flags & CLONE_PARENT_SETTID)
        copy_to_user(ptid, &p->pid, 4);
    if (flags & CLONE_CHILD_SETTID) {
        struct proc *self = cur;
        cur = p;
        mm_switch(p->mm);
        copy_to_user(ctid, &p->pid, 4);
        cur = self;
        mm_switch(self->mm);
    }
    if (flags & CLONE_CHILD_CLEARTID)
        p->clear_tid = ctid;
    p->state = P_RUN;
    if (flags & CLONE_VFORK) {
        p->vfork_parent = cur;
        while (!p->vfork_done)
            sleep_on(p);
    }
    return p->pid;
}

/* ---- exit, wait */
void proc_exit(s32 wstatus)
{
    struct proc *p = cur;
    for (int i = 0; i < NFD; i++)
        if (p->fd[i]) {
            file_put(p->fd[i]);
            p->fd[i] = NULL;
        }
    if (p->clear_tid)
        copy_to_user(p->clear_tid, "\0\0\0\0", 4);
    if (p->vfork_parent) {
        p->vfork_done = 1;
        wakeup(p);
        p->vfork_parent = NULL;
    }
    mm_switch(NULL);
    mm_put(p->mm);
    p->mm = NULL;
    if (p->pid == 1) {
        syscall_report();
        struct hostreq *r = host_begin(H_EXIT);
        r->a[0] = wstatus;
        host_go(r);
        for (;;)
            outb(0xf4, 0);
    }
    for (int i = 0; i < NPROC; i++)
        if (procs[i].state != P_FREE && procs[i].ppid == p->pid)
            procs[i].ppid = 1;
    p->wstatus = wstatus;
    p->state = P_ZOMBIE;
    for (int i = 0; i < NPROC; i++)
        if (procs[i].state != P_FREE && procs[i].pid == p->ppid) {
            signal_send(&procs[i], SIGCHLD);
            wakeup(&procs[i]);
        }
    sched();
    panic("linuxk: a zombie ran\n");
}

#define WNOHANG 1
s32 sys_wait4(s32 pid, u32 status, u32 options, u32 rusage)
{
    for (;;) {
        int found = 0;
        for (int i = 0; i < NPROC; i++) {
            struct proc *p = &procs[i];
            if (p->state == P_FREE || p->ppid != cur->pid || p == cur)
                continue;
            if (pid > 0 ? p->pid != pid : pid == 0 ? p->pgid != cur->pgid
                : pid < -1 ? p->pgid != -pid : 0)
                continue;
            found = 1;
            if (p->state != P_ZOMBIE)
                continue;
            if (status && copy_to_user(status, &p->wstatus, 4) < 0)
                return -EFAULT;
            if (rusage && clear_user(rusage, 72) < 0)
                return -EFAULT;
            int id = p->pid;
            kfree(p->kstack);
            p->state = P_FREE;
            return id;
        }
        if (!found)
            return -ECHILD;
        if (options & WNOHANG)
            return 0;
        sleep_on(cur);
        if (cur->sigpending & ~cur->sigmask)
            return -EINTR;
    }
}

/* ---- signals */
static int default_ignored(int sig) { return sig == SIGCHLD || sig == SIGCONT || sig == 23 || sig == 28; }

void signal_send(struct proc *p, int sig)
{
    if (sig <= 0 || sig >= NSIG)
        return;
    u32 h = p->sa[sig].handler;
    if (sig != SIGKILL && (h == 1 || (h == 0 && default_ignored(sig))))
        return;
    p->sigpending |= 1ull << (sig - 1);
    if (p->state == P_SLEEP && ((~p->sigmask | (1ull << (SIGKILL - 1))) & (1ull << (sig - 1))))
        p->state = P_RUN;
}

s32 sys_kill(s32 pid, s32 sig)
{
    if (sig < 0 || sig >= NSIG)
        return -EINVAL;
    int hit = 0;
    for (int i = 0; i < NPROC; i++) {
        struct proc *p = &procs[i];
        if (p->state == P_FREE || p->state == P_ZOMBIE)
            continue;
        if (pid > 0 ? p->pid != pid : pid == 0 ? p->pgid != cur->pgid
            : pid < -1 ? p->pgid != -pid : p->pid == 1 && cur->pid != 1)
            continue;
        hit = 1;
        if (sig)
            signal_send(p, sig);
    }
    return hit ? 0 : -ESRCH;
}

struct sigframe_ctx {   /* struct sigcontext (arch/x86/include/uapi/asm/sigcontext.h, i386) */
    u32 gs, fs, es, ds, edi, esi, ebp, esp, ebx, edx, ecx, eax, trapno, err, eip, cs, eflags,
        esp_at_signal, ss, fpstate, oldmask, cr2;
};

static void save_ctx(struct sigframe_ctx *c, struct regs *tf, u32 mask)
{
    c->gs = tf->gs; c->fs = tf->fs; c->es = tf->es; c->ds = tf->ds;
    c->edi = tf->edi; c->esi = tf->esi; c->ebp = tf->ebp; c->esp = tf->esp;
    c->ebx = tf->ebx; c->edx = tf->edx; c->ecx = tf->ecx; c->eax = tf->eax;
    c->trapno = tf->vector; c->err = tf->err; c->eip = tf->eip; c->cs = tf->cs;
    c->eflags = tf->eflags; c->esp_at_signal = tf->esp; c->ss = tf->ss;
    c->fpstate = 0; c->oldmask = mask; c->cr2 = 0;
}

static int restore_ctx(struct regs *tf, u32 uctx)
{
    struct sigframe_ctx c;
    if (copy_from_user(&c, uctx, sizeof c) < 0)
        return -EFAULT;
    tf->gs = c.gs & 0xFFFF; tf->fs = c.fs & 0xFFFF; tf->es = UDATA; tf->ds = UDATA;
    tf->edi = c.edi; tf->esi = c.esi; tf->ebp = c.ebp; tf->esp = c.esp;
    tf->ebx = c.ebx; tf->edx = c.edx; tf->ecx = c.ecx; tf->eax = c.eax;
    tf->eip = c.eip; tf->cs = UCODE; tf->ss = UDATA;
    tf->eflags = (tf->eflags & ~0x40DD5u) | (c.eflags & 0x40DD5u);
    seg_reload = 1;
    return 0;
}

void signal_deliver(struct regs *tf)
{
    while (cur->sigpending & ~cur->sigmask) {
        u64 ready = cur->sigpending & ~cur->sigmask;
        int sig = 1;
        while (!(ready & 1))
            ready >>= 1, sig++;
        cur->sigpending &= ~(1ull << (sig - 1));
        struct sigaction_k *sa = &cur->sa[sig];
        if (sa->handler == 1)
            continue;
        if (sa->handler == 0) {
            if (default_ignored(sig) || sig == SIGSTOP || sig == 20 || sig == 21 || sig == 22)
                continue;
            proc_exit(sig);
        }
        u32 sp = tf->esp;
        if ((sa->flags & SA_ONSTACK) && cur->altstack[2] && !(cur->altstack[1] & 1)
            && !(sp > cur->altstack[0] && sp <= cur->altstack[0] + cur->altstack[2]))
            sp = cur->altstack[0] + cur->altstack[2];
        u32 oldmask = (u32)cur->sigmask;
        u32 oldmask_hi = (u32)(cur->sigmask >> 32);
        struct sigframe_ctx c;
        save_ctx(&c, tf, oldmask);
        u32 frame;
        if (sa->flags & SA_SIGINFO) {
            /* struct rt_sigframe: pretcode, sig, pinfo, puc, siginfo[128], ucontext */
            u32 size = 16 + 128 + 20 + sizeof c + 8;
            frame = ((sp - size) & ~15u) - 4;
            u32 info[32] = {sig, 0, 0};
            u32 head[4] = {sa->restorer, sig, frame + 16, frame + 144};
            u32 uc[5] = {0, 0, cur->altstack[0], cur->altstack[1], cur->altstack[2]};
            u32 mask[2] = {oldmask, oldmask_hi};
            if (copy_to_user(frame, head, 16) < 0 || copy_to_user(frame + 16, info, 128) < 0
                || copy_to_user(frame + 144, uc, 20) < 0
                || copy_to_user(frame + 164, &c, sizeof c) < 0
                || copy_to_user(frame + 164 + sizeof c, mask, 8) < 0)
                proc_exit(11);
            tf->eax = sig;
            tf->edx = frame + 16;
            tf->ecx = frame + 144;
        } else {
            /* struct sigframe: pretcode, sig, sigcontext, fpstate (unused), extramask */
            u32 size = 8 + sizeof c + 4;
            frame = ((sp - size) & ~15u) - 4;
            u32 head[2] = {sa->restorer, sig};
            if (copy_to_user(frame, head, 8) < 0 || copy_to_user(frame + 8, &c, sizeof c) < 0
                || copy_to_user(frame + 8 + sizeof c, &oldmask_hi, 4) < 0)
                proc_exit(11);
            tf->eax = sig;
        }
        tf->esp = frame;
        tf->eip = sa->handler;
        tf->eflags &= ~0x500u;  /* TF, DF */
        if (!(sa->flags & SA_NODEFER))
            cur->sigmask |= 1ull << (sig - 1);
        cur->sigmask |= sa->mask;
        cur->sigmask &= ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
        if (sa->flags & SA_RESETHAND)
            sa->handler = 0;
        return;
    }
}

s32 sys_rt_sigreturn(struct regs *tf)
{
    u32 frame = tf->esp - 4;
    u32 mask[2];
    if (copy_from_user(mask, frame + 164 + sizeof(struct sigframe_ctx), 8) < 0
        || restore_ctx(tf, frame + 164) < 0)
        proc_exit(11);
    cur->sigmask = ((u64)mask[1] << 32 | mask[0]) & ~((1ull << 8) | (1ull << 18));
    return tf->eax;
}

s32 sys_sigreturn(struct regs *tf)
{
    u32 sc = tf->esp;
    u32 hi;
    struct sigframe_ctx c;
    if (copy_from_user(&c, sc, sizeof c) < 0 || copy_from_user(&hi, sc + sizeof c, 4) < 0
        || restore_ctx(tf, sc) < 0)
        proc_exit(11);
    cur->sigmask = ((u64)hi << 32 | c.oldmask) & ~((1ull << 8) | (1ull << 18));
    return tf->eax;
}

s32 sys_rt_sigaction(s32 sig, u32 act, u32 old, u32 size)
{
    if (sig <= 0 || sig >= NSIG || size != 8)
        return -EINVAL;
    struct { u32 handler, flags, restorer; u32 mask[2]; } k;
    struct sigaction_k *sa = &cur->sa[sig];
    if (old) {
        k.handler = sa->handler; k.flags = sa->flags; k.restorer = sa->restorer;
        k.mask[0] = (u32)sa->mask; k.mask[1] = (u32)(sa->mask >> 32);
        if (copy_to_user(old, &k, sizeof k) < 0)
            return -EFAULT;
    }
    if (act) {
        if (sig == SIGKILL || sig == SIGSTOP)
            return -EINVAL;
        if (copy_from_user(&k, act, sizeof k) < 0)
            return -EFAULT;
        sa->handler = k.handler; sa->flags = k.flags; sa->restorer = k.restorer;
        sa->mask = (u64)k.mask[1] << 32 | k.mask[0];
        if (k.handler == 1 || (k.handler == 0 && default_ignored(sig)))
            cur->sigpending &= ~(1ull << (sig - 1));
    }
    return 0;
}

s32 sys_rt_sigprocmask(s32 how, u32 set, u32 old, u32 size)
{
    if (size != 8)
        return -EINVAL;
    u32 o[2] = {(u32)cur->sigmask, (u32)(cur->sigmask >> 32)};
    if (set) {
        u32 n[2];
        if (copy_from_user(n, set, 8) < 0)
            return -EFAULT;
        u64 m = (u64)n[1] << 32 | n[0];
        if (how == 0)
            cur->sigmask |= m;
        else if (how == 1)
            cur->sigmask &= ~m;
        else if (how == 2)
            cur->sigmask = m;
        else
            return -EINVAL;
        cur->sigmask &= ~((1ull << 8) | (1ull << 18));
    }
    if (old && copy_to_user(old, o, 8) < 0)
        return -EFAULT;
    return 0;
}

/* ---- TLS: struct user_desc (arch/x86/include/uapi/asm/ldt.h) into GDT entries 6-8 */
struct user_desc { u32 entry_number, base_addr, limit, flags; };

static s32 set_tls_entry(struct proc *p, u32 uinfo, int allow_alloc)
{
    struct user_desc d;
    if (copy_from_user(&d, uinfo, sizeof d) < 0)
        return -EFAULT;
    int idx = d.entry_number;
    if (idx == -1 && allow_alloc) {
        for (idx = 0; idx < 3; idx++)
            if (!p->tls[idx][0] && !p->tls[idx][1])
                break;
        if (idx == 3)
            return -ESRCH;
        idx += GDT_TLS;
        d.entry_number = idx;
        if (copy_to_user(uinfo, &d, 4) < 0)
            return -EFAULT;
    }
    if (idx < GDT_TLS || idx >= GDT_TLS + 3)
        return -EINVAL;
    u32 seg32 = d.flags & 1, contents = (d.flags >> 1) & 3, ro = (d.flags >> 3) & 1;
    u32 lim_pages = (d.flags >> 4) & 1, notp = (d.flags >> 5) & 1, useable = (d.flags >> 6) & 1;
    u32 lo = 0, hi = 0;
    if (!(d.base_addr == 0 && d.limit == 0 && notp)) {
        lo = (d.base_addr & 0xFFFF) << 16 | (d.limit & 0xFFFF);
        hi = (d.base_addr & 0xFF000000) | ((d.base_addr >> 16) & 0xFF) | (d.limit & 0xF0000)
            | ((!notp) << 15) | (3 << 13) | (1 << 12) | ((contents << 2 | !ro << 1) << 8)
            | (seg32 << 22) | (lim_pages << 23) | (useable << 20) | (1 << 8);
    }
    p->tls[idx - GDT_TLS][0] = lo;
    p->tls[idx - GDT_TLS][1] = hi;
    if (p == cur)
        load_tls(p);
    return 0;
}

s32 sys_set_thread_area(u32 uinfo) { return set_tls_entry(cur, uinfo, 1); }

s32 sys_get_thread_area(u32 uinfo)
{
    struct user_desc d;
    if (copy_from_user(&d, uinfo, 4) < 0)
        return -EFAULT;
    int idx = d.entry_number;
    if (idx < GDT_TLS || idx >= GDT_TLS + 3)
        return -EINVAL;
    u32 lo = cur->tls[idx - GDT_TLS][0], hi = cur->tls[idx - GDT_TLS][1];
    d.base_addr = (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF000000);
    d.limit = (lo & 0xFFFF) | (hi & 0xF0000);
    d.flags = ((hi >> 22) & 1) | (((hi >> 10) & 3) << 1) | ((!((hi >> 9) & 1)) << 3)
        | (((hi >> 23) & 1) << 4) | ((!((hi >> 15) & 1)) << 5) | (((hi >> 20) & 1) << 6);
    return copy_to_user(uinfo, &d, sizeof d) < 0 ? -EFAULT : 0;
}

/*
 * pcunix/kernel/proc.c -- processes: the table, the round-robin scheduler,
 * sleep and wakeup, exit and wait.
 *
 * One CPU; the kernel runs with interrupts disabled (every gate is an
 * interrupt gate) and takes them only at ring 3 or while idle, so kernel
 * data needs no locks and a wakeup cannot slip between a test and the
 * sleep that follows it.  The LAPIC timer preempts ring 3: trap() yields
 * on each tick that interrupts a user process.  The scheduler runs on the
 * boot stack with the kernel page directory, and picks the next RUNNABLE
 * process after the last one it ran (round robin).
 */
#include "defs.h"
#include "mmu.h"
#include "x86.h"

static struct proc procs[NPROC];
struct proc *curproc;
static struct context *scheduler_context;
static int nextpid = 1;

void swtch(struct context **save, struct context *to);
extern char trapret[];

/* a new process's first return from swtch(): on to trapret and ring 3 */
static void forkret(void)
{
}

struct proc *allocproc(void)
{
    struct proc *p = 0;
    for (int i = 0; i < NPROC && !p; i++)
        if (procs[i].state == UNUSED)
            p = &procs[i];
    if (!p || !(p->kstack = kalloc()))
        return 0;
    p->state = EMBRYO;
    p->pid = nextpid++;
    p->parent = 0;
    p->pgdir = 0;
    p->chan = 0;
    p->xstatus = 0;
    memset(p->ofile, 0, sizeof p->ofile);

    /* the kernel stack, top down: trap frame, trapret, context */
    char *sp = p->kstack + PGSIZE - sizeof *p->tf;
    p->tf = (struct trapframe *)sp;
    memset(p->tf, 0, sizeof *p->tf);
    sp -= 4;
    *(uint32_t *)sp = (uint32_t)trapret;
    sp -= sizeof *p->context;
    p->context = (struct context *)sp;
    memset(p->context, 0, sizeof *p->context);
    p->context->eip = (uint32_t)forkret;
    return p;
}

void freeproc(struct proc *p)
{
    if (p->pgdir)
        freeuvm(p->pgdir);
    kfree(p->kstack);
    p->pgdir = 0;
    p->kstack = 0;
    p->pid = 0;
    p->parent = 0;
    p->state = UNUSED;
}

void scheduler(void)
{
    int last = NPROC - 1;
    for (;;) {
        struct proc *p = 0;
        for (int k = 1; k <= NPROC && !p; k++) {
            struct proc *q = &procs[(last + k) % NPROC];
            if (q->state == ZOMBIE && !q->parent)
                freeproc(q);            /* an orphan: nobody will wait for it */
            else if (q->state == RUNNABLE)
                p = q, last = (last + k) % NPROC;
        }
        if (!p) {
            idle_wait();
            continue;
        }
        curproc = p;
        switchuvm(p);
        p->state = RUNNING;
        swtch(&scheduler_context, p->context);
        switchkvm();
        curproc = 0;
    }
}

/* back to the scheduler; the caller has set curproc->state */
void sched(void)
{
    swtch(&curproc->context, scheduler_context);
}

void yield(void)
{
    curproc->state = RUNNABLE;
    sched();
}

/* Sleep until a wakeup(chan); callers re-test their condition in a loop.
 * Before the first process (kernel start-up) there is nothing to switch
 * to: wait for the next interrupt instead. */
void sleep(const void *chan)
{
    if (!curproc) {
        idle_wait();
        return;
    }
    curproc->chan = chan;
    curproc->state = SLEEPING;
    sched();
    curproc->chan = 0;
}

void wakeup(const void *chan)
{
    for (int i = 0; i < NPROC; i++)
        if (procs[i].state == SLEEPING && procs[i].chan == chan)
            procs[i].state = RUNNABLE;
}

void exit(int status)
{
    struct proc *p = curproc;
    if (p->pid == 1)
        panic("init (pid 1) exited with status %d", status);
    for (int i = 0; i < NPROC; i++)
        if (procs[i].parent == p)
            procs[i].parent = 0;
    p->xstatus = status;
    p->state = ZOMBIE;
    if (p->parent)
        wakeup(p->parent);
    sched();
    panic("zombie %d ran", p->pid);
}

/* reap child pid: its pid, 0 if it still runs and nohang, -1 if no such child */
int wait(int pid, int *status, int nohang)
{
    for (;;) {
        struct proc *c = 0;
        for (int i = 0; i < NPROC && !c; i++)
            if (procs[i].state != UNUSED && procs[i].pid == pid && procs[i].parent == curproc)
                c = &procs[i];
        if (!c)
            return -1;
        if (c->state == ZOMBIE) {
            *status = c->xstatus;
            freeproc(c);
            return pid;
        }
        if (nohang)
            return 0;
        sleep(curproc);
    }
}

/*
 * corpus/os/kernel/proc.c -- the process table: creating a process (the
 * first one, fork), ending it (exit, kill) and reaping it (wait).
 *
 * A process's kernel stack is one page; at its top lies the trap frame
 * (the user registers), and below it, until the process first runs, a
 * return address and a struct context:
 *
 *   kstack + KSTACKSIZE  ->  +--------------------+
 *                            | struct trapframe   |  p->tf
 *                            +--------------------+
 *                            | trapret            |  forkret returns here
 *                            +--------------------+
 *                            | struct context     |  p->context (eip = forkret)
 *                            +--------------------+
 *
 * so the scheduler's first swtch() to it "returns" into forkret, forkret
 * returns into trapret, and trapret irets to ring 3 through the frame.
 * Single CPU, the kernel runs with interrupts off: no locks.
 */
#include "../include/errno.h"
#include "defs.h"
#include "proc.h"
#include "x86.h"

static struct proc procs[NPROC];
static struct proc *initproc;
static int nextpid = 1;
struct proc *curproc;

struct proc *proc_table(void)
{
    return procs;
}

/* A new child returns to user mode from here (see the picture above). */
static void forkret(void)
{
}

/* The first process starts here, in the kernel: it mounts the disk (the
 * IDE driver sleeps for its interrupts, so this needs a process) and then
 * becomes the shell. */
static void init_start(void)
{
    char *argv_interactive[] = { "sh", 0 };
    char *argv_autorun[] = { "sh", "autorun", 0 };

    fs_mount();
    int err = exec("sh", autorun ? argv_autorun : argv_interactive);
    if (err < 0)
        panic("cannot run sh from the disk (error %d)", -err);
    /* returns into trapret: to the shell's first instruction */
}

/* An UNUSED slot made EMBRYO, with a pid and a kernel stack laid out for
 * its first swtch(); 0 if the table or memory is full. */
static struct proc *allocproc(void)
{
    struct proc *p;
    for (p = procs; p < &procs[NPROC]; p++)
        if (p->state == UNUSED)
            break;
    if (p == &procs[NPROC])
        return 0;
    if (!(p->kstack = kalloc()))
        return 0;
    memset(p->ofile, 0, sizeof p->ofile);
    p->pid = nextpid++;
    p->state = EMBRYO;
    p->killed = 0;
    p->xstatus = 0;
    p->chan = 0;
    p->parent = 0;

    char *sp = p->kstack + KSTACKSIZE;
    sp -= sizeof *p->tf;
    p->tf = (struct trapframe *)sp;
    sp -= 4;
    *(uint32_t *)sp = (uint32_t)trapret;
    sp -= sizeof *p->context;
    p->context = (struct context *)sp;
    memset(p->context, 0, sizeof *p->context);
    p->context->eip = (uint32_t)forkret;
    return p;
}

/* Process 1: an empty address space and a ring-3 frame that exec() fills
 * in; it runs init_start in the kernel first. */
void userinit(void)
{
    struct proc *p = allocproc();
    if (!p || !(p->pgdir = uvm_create()))
        panic("userinit: out of memory");
    initproc = p;
    memset(p->tf, 0, sizeof *p->tf);
    p->tf->cs = UCODE_SEL;
    p->tf->ds = p->tf->es = p->tf->fs = p->tf->gs = p->tf->ss = UDATA_SEL;
    p->tf->eflags = EFLAGS_IF;
    p->context->eip = (uint32_t)init_start;
    p->ofile[0] = file_console();       /* stdin, stdout, stderr */
    p->ofile[1] = file_dup(p->ofile[0]);
    p->ofile[2] = file_dup(p->ofile[0]);
    strlcpy(p->name, "init", sizeof p->name);
    p->state = RUNNABLE;
}

/* A copy of the running process; the parent gets the child's pid, the
 * child (when it first runs) 0. */
int fork(void)
{
    struct proc *np = allocproc();
    if (!np)
        return -ENOMEM;
    if (!(np->pgdir = uvm_copy(curproc->pgdir))) {
        kfree(np->kstack);
        np->state = UNUSED;
        return -ENOMEM;
    }
    *np->tf = *curproc->tf;
    np->tf->eax = 0;                    /* fork() returns 0 in the child */
    np->image_end = curproc->image_end;
    np->brk = curproc->brk;
    np->parent = curproc;
    for (int fd = 0; fd < NOFILE; fd++)
        if (curproc->ofile[fd])
            np->ofile[fd] = file_dup(curproc->ofile[fd]);
    memcpy(np->name, curproc->name, sizeof np->name);
    np->state = RUNNABLE;
    return np->pid;
}

/* End the running process: close its files, give its children to init,
 * free its address space and leave a ZOMBIE for its parent's wait(),
 * which frees the kernel stack we are still running on.  When init
 * itself ends, so does the system. */
void exit(int status)
{
    for (int fd = 0; fd < NOFILE; fd++) {
        if (curproc->ofile[fd]) {
            file_close(curproc->ofile[fd]);
            curproc->ofile[fd] = 0;
        }
    }
    if (curproc == initproc) {
        cprintf("btos: init exited with status %d, powering off\n", status);
        poweroff(status & 0x7FFFFFFF);
    }
    for (struct proc *p = procs; p < &procs[NPROC]; p++) {
        if (p->parent == curproc) {
            p->parent = initproc;
            if (p->state == ZOMBIE)
                wakeup(initproc);
        }
    }
    kvm_switch();                       /* off the page directory we free */
    uvm_free(curproc->pgdir);
    curproc->pgdir = 0;
    curproc->xstatus = status;
    curproc->state = ZOMBIE;
    wakeup(curproc->parent);
    sched();
    panic("zombie %d ran", curproc->pid);
}

/* Reap one dead child: its pid, its exit status in *status (a kernel
 * pointer, or 0); -ECHILD if there are no children. */
int wait(int *status)
{
    for (;;) {
        int children = 0;
        for (struct proc *p = procs; p < &procs[NPROC]; p++) {
            if (p->parent != curproc)
                continue;
            children++;
            if (p->state != ZOMBIE)
                continue;
            int pid = p->pid;
            if (status)
                *status = p->xstatus;
            kfree(p->kstack);
            p->kstack = 0;
            p->parent = 0;
            p->pid = 0;
            p->name[0] = 0;
            p->state = UNUSED;
            return pid;
        }
        if (!children)
            return -ECHILD;
        if (curproc->killed)
            return -1;
        sleep(curproc);                 /* exit() wakes the parent */
    }
}

/* Mark a process to die: it exits at its next return to user mode (a
 * sleeping one is woken so that it gets there). */
int kill(int pid)
{
    for (struct proc *p = procs; p < &procs[NPROC]; p++) {
        if (p->pid == pid && p->state != UNUSED && p->state != ZOMBIE) {
            p->killed = 1;
            if (p->state == SLEEPING)
                p->state = RUNNABLE;
            return 0;
        }
    }
    return -ESRCH;
}

/* Move the program break by n bytes; the old break in *old_brk.  The heap
 * may grow up to a guard page below the user stack. */
int growproc(int n, uint32_t *old_brk)
{
    uint32_t old = curproc->brk, new = old + (uint32_t)n;
    if (n < 0 ? new > old || new < curproc->image_end
              : new < old || new > USTACKTOP - USTACKSIZE - PGSIZE)
        return -ENOMEM;
    if (n > 0 && uvm_alloc(curproc->pgdir, PGROUNDUP(old), new, PTE_U | PTE_W) < 0) {
        uvm_dealloc(curproc->pgdir, PGROUNDUP(old), PGROUNDUP(new));
        return -ENOMEM;
    }
    if (n < 0) {
        uvm_dealloc(curproc->pgdir, PGROUNDUP(new), PGROUNDUP(old));
        lcr3(V2P(curproc->pgdir));      /* flush the TLB of the freed pages */
    }
    curproc->brk = new;
    *old_brk = old;
    return 0;
}

/*
 * corpus/os/kernel/sched.c -- round-robin scheduling on the local APIC
 * timer, sleep and wakeup.
 *
 * The scheduler is a kernel thread of its own (the boot stack).  It picks
 * the next RUNNABLE process after the one it ran last, switches to its
 * address space and swtch()es to it; the process comes back with sched()
 * when it sleeps, exits, or is preempted: trap() calls yield() when a
 * timer interrupt from user mode finds its time slice used up.
 *
 * With nothing to run, the idle loop spins with interrupts enabled until
 * an interrupt handler wakes something (no `hlt`: many real kernels idle
 * this way, and a monitor must cope with it).
 */
#include "defs.h"
#include "proc.h"
#include "x86.h"

volatile uint32_t ticks;                /* timer interrupts since boot */
static volatile uint32_t wakeups;       /* bumped by every wakeup() */
static struct context *scheduler_context;

static struct proc *pick(int *last)
{
    struct proc *procs = proc_table();
    for (int i = 1; i <= NPROC; i++) {
        int k = (*last + i) % NPROC;
        if (procs[k].state == RUNNABLE) {
            *last = k;
            return &procs[k];
        }
    }
    return 0;
}

void scheduler(void)
{
    int last = NPROC - 1;
    for (;;) {
        struct proc *p = pick(&last);
        if (!p) {
            /* Idle: only an interrupt can make a process runnable. */
            uint32_t seen = wakeups;
            sti();
            while (wakeups == seen)
                __asm__ volatile("pause");
            cli();
            continue;
        }
        curproc = p;
        p->state = RUNNING;
        p->slice = TIMESLICE;
        uvm_switch(p);
        swtch(&scheduler_context, p->context);
        kvm_switch();
        curproc = 0;
    }
}

/* Give the CPU back to the scheduler; the caller has set curproc->state. */
void sched(void)
{
    if (curproc->state == RUNNING)
        panic("sched: %s (pid %d) is still running", curproc->name, curproc->pid);
    if (read_eflags() & EFLAGS_IF)
        panic("sched: interrupts enabled");
    swtch(&curproc->context, scheduler_context);
}

/* Preemption: back to the end of the round. */
void yield(void)
{
    curproc->state = RUNNABLE;
    sched();
}

/* Wait for wakeup(chan).  No lock is needed: interrupts stay off in the
 * kernel, so no wakeup can slip in between the caller's test and here. */
void sleep(void *chan)
{
    curproc->chan = chan;
    curproc->state = SLEEPING;
    sched();
    curproc->chan = 0;
}

void wakeup(void *chan)
{
    struct proc *procs = proc_table();
    for (int i = 0; i < NPROC; i++)
        if (procs[i].state == SLEEPING && procs[i].chan == chan)
            procs[i].state = RUNNABLE;
    wakeups++;
}

/* The LVT timer interrupt (lapic.c programs it periodic). */
void timer_tick(void)
{
    ticks++;
    wakeup((void *)&ticks);
    ide_check_timeout();
    if (curproc)
        curproc->slice--;
}

/* sleep(n) system call: at least n ticks; -1 if killed meanwhile. */
int sleep_ticks(uint32_t n)
{
    uint32_t start = ticks;
    while (ticks - start < n) {
        if (curproc->killed)
            return -1;
        sleep((void *)&ticks);
    }
    return 0;
}

/*
 * corpus/os/kernel/proc.h -- the process table entry.
 */
#ifndef BTOS_PROC_H
#define BTOS_PROC_H

#include <stdint.h>
#include "mmu.h"
#include "param.h"
#include "trap.h"

enum procstate { UNUSED, EMBRYO, SLEEPING, RUNNABLE, RUNNING, ZOMBIE };

/* Callee-saved registers of a kernel thread that gave up the CPU in
 * swtch(); the saved eip is where it resumes.  Everything else is on its
 * kernel stack already (cdecl: eax, ecx, edx are caller-saved). */
struct context {
    uint32_t edi, esi, ebx, ebp, eip;
};

struct proc {
    int pid;
    enum procstate state;
    pde_t *pgdir;               /* its own page directory (kernel virtual) */
    uint32_t image_end;         /* page-rounded end of the loaded program */
    uint32_t brk;               /* program break: the heap is [image_end, brk) */
    char *kstack;               /* bottom of its kernel stack page */
    struct trapframe *tf;       /* the user registers, at the top of kstack */
    struct context *context;    /* where swtch() left it */
    struct proc *parent;
    void *chan;                 /* sleeping on this, if SLEEPING */
    int killed;                 /* exit at the next return to user mode */
    int xstatus;                /* exit status for wait() */
    int slice;                  /* timer ticks left before preemption */
    struct file *ofile[NOFILE];
    char name[16];
};

extern struct proc *curproc;    /* the running process; NULL in the scheduler */

#endif

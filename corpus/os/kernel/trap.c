/*
 * corpus/os/kernel/trap.c -- the IDT and the one C entry for every
 * interrupt, exception and system call.
 *
 * All gates are interrupt gates (SDM vol. 3A, 6.12.1.2: IF is cleared on
 * entry), the system call gate included, so the kernel always runs with
 * interrupts off.  Interrupts are taken only in user mode and in the
 * scheduler's idle loop; a process in the kernel is never preempted, it
 * gives up the CPU only by sleeping.  The timer preempts user code.
 */
#include "../include/syscall.h"
#include "defs.h"
#include "proc.h"
#include "trap.h"
#include "x86.h"

extern uint32_t vectors[256];           /* vectors.S */
static uint64_t idt[256];

/* A 32-bit interrupt gate (type 0xE; SDM vol. 3A, figure 6-2). */
static uint64_t gate(uint32_t handler, int dpl)
{
    return (handler & 0xFFFF) | ((uint64_t)KCODE_SEL << 16)
         | ((uint64_t)(0x8E | (dpl << 5)) << 40) | ((uint64_t)(handler >> 16) << 48);
}

void idt_init(void)
{
    for (int v = 0; v < 256; v++)
        idt[v] = gate(vectors[v], 0);
    idt[T_SYSCALL] = gate(vectors[T_SYSCALL], 3);   /* int 0x40 allowed from ring 3 */
    struct dtr d = { sizeof idt - 1, (uint32_t)idt };
    lidt(&d);
}

static const char *const exception_names[32] = {
    [0] = "divide error", [1] = "debug exception", [2] = "NMI", [3] = "breakpoint",
    [4] = "overflow", [5] = "BOUND range exceeded", [6] = "invalid opcode",
    [7] = "device not available", [8] = "double fault", [10] = "invalid TSS",
    [11] = "segment not present", [12] = "stack fault", [13] = "general protection fault",
    [14] = "page fault", [16] = "x87 floating-point error", [17] = "alignment check",
    [18] = "machine check", [19] = "SIMD floating-point exception",
};

static const char *trap_name(uint32_t trapno)
{
    if (trapno < 32 && exception_names[trapno])
        return exception_names[trapno];
    return "unexpected trap";
}

/* An exception in user mode: report it and kill the process.  Only what
 * the program did is printed (the faulting address for a page fault), not
 * where its code happens to lie. */
static void user_fault(struct trapframe *tf)
{
    if (tf->trapno == T_PGFLT) {
        uint32_t cr2 = rcr2();
        cprintf("kernel: %s (pid %d): page fault %s 0x%x (%s), killed\n", curproc->name,
                curproc->pid, (tf->err & PF_WRITE) ? "writing" : "reading", cr2,
                (tf->err & PF_PROT) ? "protection violation" : "not mapped");
    } else {
        cprintf("kernel: %s (pid %d): %s, killed\n", curproc->name, curproc->pid,
                trap_name(tf->trapno));
    }
    curproc->killed = 1;
}

void trap(struct trapframe *tf)
{
    int from_user = (tf->cs & 3) == 3;

    switch (tf->trapno) {
    case T_SYSCALL:
        syscall(tf);
        break;
    case T_TIMER:
        timer_tick();
        lapic_eoi();
        break;
    case T_COM1:
        uart_intr();
        lapic_eoi();
        break;
    case T_IDE:
        ide_intr();
        lapic_eoi();
        break;
    case T_LAPIC_ERR:
        lapic_error_intr();
        lapic_eoi();
        break;
    case T_SPURIOUS:                    /* no EOI for a spurious interrupt (SDM 10.9) */
        break;
    default:
        if (tf->trapno >= T_IRQ0) {
            cprintf("kernel: unexpected interrupt vector %d\n", tf->trapno);
            lapic_eoi();
        } else if (from_user) {
            user_fault(tf);
        } else {
            panic("%s (vector %d, error %x) in the kernel at eip 0x%x, cr2 0x%x",
                  trap_name(tf->trapno), tf->trapno, tf->err, tf->eip, rcr2());
        }
        break;
    }

    if (!curproc || !from_user)
        return;
    if (curproc->killed)
        exit(-1);
    /* Round robin: a process that used up its time slice goes to the back. */
    if (tf->trapno == T_TIMER && curproc->slice <= 0)
        yield();
    if (curproc->killed)
        exit(-1);
}

/*
 * pcunix/kernel/trap.c -- where every interrupt, exception and system call
 * arrives (from trapasm.S).  Device interrupts are a table indexed by ISA
 * IRQ; a fault at ring 3 kills the process; one in the kernel is a panic.
 */
#include "defs.h"
#include "mmu.h"
#include "x86.h"

volatile uint32_t ticks;

static void (*const device_intr[16])(void) = {
    [IRQ_KBD] = kbd_intr,
    [IRQ_COM1] = uart_intr,
    [IRQ_IDE] = ide_intr,
};

static const char *const exception_name[32] = {
    "divide error", "debug", "NMI", "breakpoint", "overflow", "BOUND range exceeded",
    "invalid opcode", "device not available", "double fault", "coprocessor segment overrun",
    "invalid TSS", "segment not present", "stack fault", "general protection fault",
    "page fault", "reserved", "x87 floating-point error", "alignment check", "machine check",
    "SIMD floating-point exception",
};

/* #PF error code (SDM 3A 4.7): bit 0 P, bit 1 W/R, bit 2 U/S */
static void user_fault(struct trapframe *tf)
{
    const char *what = tf->trapno < 32 && exception_name[tf->trapno] ? exception_name[tf->trapno] : "trap";
    if (tf->trapno == T_PF)
        kprintf("pid %d (%s): page fault at 0x%08x, error 0x%x (%s %s, %s): killed\n",
                curproc->pid, curproc->name, rcr2(), tf->err, tf->err & 4 ? "user" : "kernel",
                tf->err & 2 ? "write" : "read", tf->err & 1 ? "protection" : "not present");
    else
        kprintf("pid %d (%s): %s (vector %u), error 0x%x: killed\n",
                curproc->pid, curproc->name, what, tf->trapno, tf->err);
    exit(-1);
}

void trap(struct trapframe *tf)
{
    uint32_t v = tf->trapno;
    int from_user = (tf->cs & 3) == DPL_USER;

    if (v == T_SYSCALL) {
        tf->eax = (uint32_t)syscall(tf);
        return;
    }
    if (v == T_TIMER) {
        ticks++;
        lapic_eoi();
        if (from_user && curproc)
            yield();                    /* round robin: the next runnable process */
        return;
    }
    if (v > T_IRQ0 && v < T_IRQ0 + 16 && device_intr[v - T_IRQ0]) {
        device_intr[v - T_IRQ0]();
        lapic_eoi();
        return;
    }
    if (v == T_SPURIOUS || (v >= T_PIC && v < T_PIC + 16))
        return;                         /* SDM 10.9: a spurious vector takes no EOI */
    if (v == T_APICERR) {
        kprintf("lapic: error interrupt\n");
        lapic_eoi();
        return;
    }
    if (from_user && curproc)
        user_fault(tf);
    panic("%s (vector %u) in the kernel: eip 0x%x error 0x%x cr2 0x%x",
          v < 32 && exception_name[v] ? exception_name[v] : "unexpected interrupt",
          v, tf->eip, tf->err, rcr2());
}

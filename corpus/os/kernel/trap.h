/*
 * corpus/os/kernel/trap.h -- interrupt vectors and the trap frame.
 */
#ifndef BTOS_TRAP_H
#define BTOS_TRAP_H

#include <stdint.h>

/* CPU exceptions (SDM vol. 3A, table 6-1) */
#define T_DIVIDE  0
#define T_DEBUG   1
#define T_NMI     2
#define T_BRKPT   3
#define T_ILLOP   6
#define T_DBLFLT  8
#define T_GPFLT  13
#define T_PGFLT  14

/* Device vectors.  ISA IRQ n arrives on vector T_IRQ0 + n through the I/O
 * APIC; the local APIC's own interrupts take vectors above them.  The
 * priority class of a vector is vector >> 4 (SDM vol. 3A, 10.8.3.1): all of
 * these are class 2 or 3, above nothing we mask with the TPR (TPR = 0). */
#define T_IRQ0       32
#define IRQ_COM1      4
#define IRQ_IDE      14
#define T_TIMER      (T_IRQ0 + 0)       /* LVT timer (IRQ 0 is masked) */
#define T_COM1       (T_IRQ0 + IRQ_COM1)
#define T_IDE        (T_IRQ0 + IRQ_IDE)
#define T_LAPIC_ERR  (T_IRQ0 + 19)      /* LVT error */
#define T_SPURIOUS   0xFF               /* SVR spurious vector: low nibble 1111 */

/* What trapasm.S pushes, low address first: pushal, the data segment
 * registers, the vector and error code (vectors.S), then the CPU's frame;
 * esp and ss only when the trap came from ring 3. */
struct trapframe {
    uint32_t edi, esi, ebp, oesp, ebx, edx, ecx, eax;
    uint16_t gs, pad1;
    uint16_t fs, pad2;
    uint16_t es, pad3;
    uint16_t ds, pad4;
    uint32_t trapno;
    uint32_t err;
    uint32_t eip;
    uint16_t cs, pad5;
    uint32_t eflags;
    uint32_t esp;
    uint16_t ss, pad6;
};

#endif

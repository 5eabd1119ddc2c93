/*
 * pcunix/kernel/defs.h -- the kernel's shared structures and the functions
 * each module exports.
 */
#ifndef PCUNIX_DEFS_H
#define PCUNIX_DEFS_H

#include <stdint.h>
#include <stddef.h>
#include "param.h"
#include "../include/pcfs.h"
#include "../include/syscall.h"

/* ---- interrupt vectors ---- */
#define T_DE        0
#define T_UD        6
#define T_GP        13
#define T_PF        14
#define T_IRQ0      0x20        /* ISA IRQ n arrives at T_IRQ0 + n through the I/O APIC */
#define T_TIMER     0x20        /* the local APIC timer (IRQ 0's slot; the PIT is unused) */
#define IRQ_KBD     1
#define IRQ_COM1    4
#define IRQ_IDE     14
#define T_APICERR   0x3E
#define T_SPURIOUS  0x3F        /* bits 3:0 all ones, as P6-family APICs require */
#define T_PIC       0x50        /* the 8259s are remapped here, then masked */

/* what trapasm.S builds on the kernel stack */
struct trapframe {
    uint32_t edi, esi, ebp, oesp, ebx, edx, ecx, eax;  /* pushal */
    uint32_t gs, fs, es, ds;
    uint32_t trapno, err;
    uint32_t eip, cs, eflags;                          /* pushed by the CPU */
    uint32_t esp, ss;                                  /* ... from ring 3 only */
};

/* callee-saved registers, what swtch() saves */
struct context {
    uint32_t edi, esi, ebx, ebp, eip;
};

/* ---- the platform, as the MP or ACPI tables describe it (mp.c, acpi.c) ---- */
struct intsrc {                 /* where one ISA IRQ arrives */
    int found;                  /* 0: no table entry, identity assumed */
    int ioapic;                 /* index into platform.ioapic[] */
    int pin;
    int active_low, level;
};

struct platform {
    const char *source;         /* "MP" or "ACPI" */
    int ncpu;
    int bsp_apicid;
    uint32_t lapic_pa;
    int nioapic;
    struct { int id; uint32_t pa; uint32_t gsi_base; } ioapic[NIOAPIC];   /* gsi_base: ACPI only */
    struct intsrc isa[16];
    int imcr;                   /* MP: IMCR present, the BIOS left us in PIC mode */
    int lint_nmi[2];            /* LINT0/1 wired to NMI */
};
extern struct platform platform;

/* ---- processes (proc.c) ---- */
enum procstate { UNUSED, EMBRYO, SLEEPING, RUNNABLE, RUNNING, ZOMBIE };

struct file {
    enum { FD_NONE, FD_CONSOLE, FD_PCFS } type;
    int ino;                    /* pcfs directory index */
    uint32_t off;
};

struct proc {
    enum procstate state;
    int pid;
    char name[16];
    struct proc *parent;
    uint32_t *pgdir;            /* kernel virtual address of the page directory */
    char *kstack;               /* one page; the trap frame sits at its top */
    struct trapframe *tf;
    struct context *context;
    const void *chan;           /* what it sleeps on */
    int xstatus;
    struct file ofile[NOFILE];
};
extern struct proc *curproc;

/* ---- block cache (bio.c) ---- */
#define B_BUSY  0x1
#define B_VALID 0x2
#define B_ERROR 0x4
struct buf {
    int flags;
    uint32_t blockno;
    uint32_t lru;
    uint8_t data[PCFS_BLOCK];
};

/* printf.c */
void kprintf(const char *fmt, ...);
int vsnprintf_k(char *buf, int size, const char *fmt, __builtin_va_list ap);
void panic(const char *fmt, ...) __attribute__((noreturn));
void poweroff(int code) __attribute__((noreturn));

/* string.c */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
char *strncpy_z(char *d, const char *s, size_t n);

/* uart.c, kbd.c, console.c */
void uart_init(void);
void uart_enable_rx(void);
void uart_putc(int c);
void uart_intr(void);
void kbd_init(void);
void kbd_intr(void);
void console_init(int script);
void console_putc(int c);
void console_input(int c);
int console_read(char *dst, int n);
int console_write(const char *src, int n);

/* kalloc.c, vm.c */
void kinit(uint32_t start_pa, uint32_t end_pa);
void *kalloc(void);
void kfree(void *v);
uint32_t kfree_pages(void);
extern uint32_t memtop, direct_end;
void seginit(void);
void tss_set_esp0(uint32_t esp0);
void idtinit(void);
void kvminit(uint32_t direct_map_end);
void map_mmio(uint32_t pa);
uint32_t *setupuvm(void);
int allocuvm(uint32_t *pgdir, uint32_t va, uint32_t len, int writable);
void freeuvm(uint32_t *pgdir);
void switchuvm(struct proc *p);
void switchkvm(void);
int loaduvm(uint32_t *pgdir, uint32_t va, int ino, uint32_t off, uint32_t n);
int copyout(uint32_t *pgdir, uint32_t va, const void *src, uint32_t n);
int copyin(uint32_t *pgdir, void *dst, uint32_t va, uint32_t n);
int fetchstr(uint32_t *pgdir, uint32_t va, char *dst, int max);

/* mp.c, acpi.c */
int mp_init(void);
int acpi_init(void);
void *bios_scan(const char *sig, int siglen, uint32_t rom_start, int (*valid)(const uint8_t *));
int checksum_ok(const void *p, uint32_t len);

/* pic.c, lapic.c, ioapic.c */
void pic_disable(void);
void imcr_apic_mode(void);
void lapic_init(void);
void lapic_eoi(void);
int lapic_id(void);
void ioapic_init(void);
void ioapic_route(int irq, int vector);
void ioapic_show(int irq);

/* ide.c, bio.c, fs.c */
int ide_init(void);
int ide_read(struct buf *b);
void ide_intr(void);
void binit(void);
struct buf *bread(uint32_t blockno);
void brelse(struct buf *b);
int fs_init(void);
int fs_lookup(const char *name);
int fs_stat(int ino, struct stat *st);
int fs_read(int ino, uint32_t off, void *dst, uint32_t n);

/* proc.c, exec.c */
void procinit(void);
struct proc *allocproc(void);
void freeproc(struct proc *p);
void scheduler(void) __attribute__((noreturn));
void sched(void);
void yield(void);
void sleep(const void *chan);
void wakeup(const void *chan);
void exit(int status) __attribute__((noreturn));
int wait(int pid, int *status, int nohang);
int spawn(const char *name, char *const argv[], int argc);
extern int nspawned;

/* trap.c, syscall.c */
void trap(struct trapframe *tf);
int32_t syscall(struct trapframe *tf);
extern volatile uint32_t ticks;

#endif

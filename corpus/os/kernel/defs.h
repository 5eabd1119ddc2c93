/*
 * corpus/os/kernel/defs.h -- the kernel's functions, module by module.
 */
#ifndef BTOS_DEFS_H
#define BTOS_DEFS_H

#include <stdint.h>
#include "../include/stat.h"
#include "../lib/str.h"
#include "mmu.h"

struct proc;
struct trapframe;
struct file;
struct context;

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* main.c */
extern int autorun;                     /* "autorun" on the command line */
extern int prefer_acpi;                 /* "acpi": skip the MP tables */

/* uart.c -- the 16550 on COM1 */
void uart_init(void);
void uart_putc(int c);
void uart_enable_rx(void);
void uart_intr(void);

/* console.c -- line discipline over the UART */
void console_rx(int c);
int console_read(char *dst, int n);
int console_write(const char *src, int n);

/* kprintf.c */
void cprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void poweroff(int code) __attribute__((noreturn));

/* gdt.c */
void gdt_init(void);
void tss_set_kstack(uint32_t esp0);

/* trap.c */
void idt_init(void);
void trap(struct trapframe *tf);
extern void trapret(void);              /* trapasm.S */

/* pic.c, lapic.c, ioapic.c */
void pic_disable(int imcr);
void lapic_init(uint32_t pa);
void lapic_timer_start(void);
void lapic_eoi(void);
uint32_t lapic_id(void);
void lapic_error_intr(void);
int ioapic_init(uint32_t pa, uint32_t id);
void ioapic_route(int irq, int vector, uint32_t dest_apic_id);

/* kalloc.c */
void kinit(uint32_t start_va, uint32_t end_va);
void *kalloc(void);                     /* a zeroed page, or 0 */
void kfree(void *page);

/* vm.c */
void kvm_init(uint32_t map_top, uint32_t ram_top);
void kvm_switch(void);
void *kvm_map_device(uint32_t pa);
pde_t *uvm_create(void);
int uvm_alloc(pde_t *pgdir, uint32_t start, uint32_t end, uint32_t perm);
void uvm_dealloc(pde_t *pgdir, uint32_t start, uint32_t end);
pde_t *uvm_copy(pde_t *pgdir);
void uvm_free(pde_t *pgdir);
void uvm_switch(struct proc *p);
void *uvm_lookup(pde_t *pgdir, uint32_t va, int write);
int copyout(pde_t *pgdir, uint32_t va, const void *src, uint32_t n);
int user_range_ok(uint32_t va, uint32_t n, int write);
int user_string_ok(const char *s, uint32_t max);  /* length, or -1 */
void *phys_map(uint32_t pa, uint32_t len);

/* proc.c */
void userinit(void);
int fork(void);
void exit(int status) __attribute__((noreturn));
int wait(int *status);
int kill(int pid);
int growproc(int n, uint32_t *old_brk);
struct proc *proc_table(void);

/* sched.c */
extern volatile uint32_t ticks;
void scheduler(void) __attribute__((noreturn));
void sched(void);
void yield(void);
void sleep(void *chan);
void wakeup(void *chan);
void timer_tick(void);
int sleep_ticks(uint32_t n);
void swtch(struct context **old, struct context *new);   /* swtch.S */

/* syscall.c */
void syscall(struct trapframe *tf);

/* exec.c */
int exec(const char *path, char *const argv[]);

/* ide.c -- ATA PIO, primary channel, master */
#define SECTOR_BYTES 512
#define IDE_MAXSECT  (PGSIZE / SECTOR_BYTES)   /* sectors per command: a page */
void ide_init(void);
uint32_t ide_identify(void);            /* the disk's size in sectors */
int ide_read(uint32_t lba, uint32_t count, void *dst);
void ide_intr(void);
void ide_check_timeout(void);

/* fs.c -- the read-only btfs on the IDE disk */
void fs_mount(void);
int fs_lookup(const char *name);        /* ino, or -ENOENT */
int fs_nfiles(void);
int fs_read(int ino, void *dst, uint32_t off, uint32_t n);
uint32_t fs_size(int ino);
void fs_dirent(int ino, struct dirent *de);

/* file.c -- open files */
struct file *file_open(const char *path, int flags, int *err);
struct file *file_console(void);
struct file *file_dup(struct file *f);
void file_close(struct file *f);
int file_read(struct file *f, char *dst, int n);
int file_write(struct file *f, const char *src, int n);
int file_stat(struct file *f, struct stat *st);

#endif

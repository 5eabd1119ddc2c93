/*
 * corpus/lib/lib.h -- tiny support library for btvmm guest kernels.
 *
 * Guests are 32-bit protected-mode multiboot v1 ELF kernels linked at
 * 1 MiB.  boot.S loads the library GDT, reloads every segment register,
 * zeroes .bss, sets up a 16 KiB stack, clears EFLAGS (push 0; popf),
 * calls serial_init() and then kmain(magic, mbi).  If kmain returns,
 * exit(0) is called.
 *
 * Fixed GDT layout (selectors everyone may rely on):
 *   (access bytes 0x9b/0x93/0xfb/0xf3: accessed bit preset, see boot.S)
 *   0x00 null
 *   0x08 ring-0 flat 32-bit code     (SEL_KCODE)
 *   0x10 ring-0 flat 32-bit data     (SEL_KDATA)
 *   0x18 ring-3 flat 32-bit code     (use 0x1b, SEL_UCODE)
 *   0x20 ring-3 flat 32-bit data     (use 0x23, SEL_UDATA)
 *   0x28 32-bit TSS                  (SEL_TSS, filled by tss_init)
 *   0x30..0x58 spare (GDT indices 6..11), all zero at boot; fill them
 *        with gdt_set().  GDT limit is 0x5f (12 entries).
 */
#ifndef BTVMM_LIB_H
#define BTVMM_LIB_H

#include <stdint.h>
#include <stdarg.h>

#define NULL ((void *)0)

#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UCODE 0x1b
#define SEL_UDATA 0x23
#define SEL_TSS   0x28
#define GDT_FIRST_SPARE 6      /* index of selector 0x30 */
#define GDT_ENTRIES     12     /* indices 0..11, limit 0x5f */

/* EFLAGS bits */
#define EFL_CF   (1u << 0)
#define EFL_1    (1u << 1)
#define EFL_PF   (1u << 2)
#define EFL_AF   (1u << 4)
#define EFL_ZF   (1u << 6)
#define EFL_SF   (1u << 7)
#define EFL_TF   (1u << 8)
#define EFL_IF   (1u << 9)
#define EFL_DF   (1u << 10)
#define EFL_OF   (1u << 11)
#define EFL_IOPL (3u << 12)
#define EFL_NT   (1u << 14)
#define EFL_RF   (1u << 16)
#define EFL_VM   (1u << 17)
#define EFL_AC   (1u << 18)
#define EFL_VIF  (1u << 19)
#define EFL_VIP  (1u << 20)
#define EFL_ID   (1u << 21)

/* CR0 bits */
#define CR0_PE (1u << 0)
#define CR0_MP (1u << 1)
#define CR0_EM (1u << 2)
#define CR0_TS (1u << 3)
#define CR0_ET (1u << 4)
#define CR0_NE (1u << 5)
#define CR0_WP (1u << 16)
#define CR0_AM (1u << 18)
#define CR0_NW (1u << 29)
#define CR0_CD (1u << 30)
#define CR0_PG (1u << 31)

/* 32-bit paging: page-directory and page-table entry bits, and the indices a
 * linear address selects (SDM vol 3A 4.3, tables 4-4 to 4-6) */
#define PG_P   0x001
#define PG_RW  0x002
#define PG_US  0x004
#define PG_A   0x020
#define PG_D   0x040
#define PG_PS  0x080            /* in a PDE: a 4 MiB page (CR4.PSE) */
#define PG_G   0x100
#define PDI(v) ((uint32_t)(v) >> 22)
#define PTI(v) (((uint32_t)(v) >> 12) & 0x3ff)

/* Descriptor access bytes (P | DPL | S | type) */
#define ACC_CODE_R0  0x9a   /* present, DPL0, code, exec/read */
#define ACC_DATA_R0  0x92   /* present, DPL0, data, read/write */
#define ACC_CODE_R3  0xfa
#define ACC_DATA_R3  0xf2
#define ACC_TSS32    0x89   /* present, DPL0, available 32-bit TSS */
#define ACC_LDT      0x82   /* present, DPL0, LDT */
/* gdt_set() flags nibble: G (4 KiB granularity) and D/B (32-bit) */
#define GDT_F_G   0x8
#define GDT_F_DB  0x4
#define GDT_F_32  (GDT_F_G | GDT_F_DB)   /* 0xC: flat 32-bit segments */

/* ---------------------------------------------------------------- multiboot */
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u

struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower;         /* KiB, valid if flags bit 0 */
    uint32_t mem_upper;         /* KiB, valid if flags bit 0 */
    uint32_t boot_device;
    uint32_t cmdline;
    uint32_t mods_count;
    uint32_t mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length;
    uint32_t mmap_addr;
    uint32_t drives_length;
    uint32_t drives_addr;
    uint32_t config_table;
    uint32_t boot_loader_name;
    uint32_t apm_table;
    uint32_t vbe_control_info;
    uint32_t vbe_mode_info;
    uint16_t vbe_mode;
    uint16_t vbe_interface_seg;
    uint16_t vbe_interface_off;
    uint16_t vbe_interface_len;
} __attribute__((packed));

/* ---------------------------------------------------------------- tables */
struct dtr {                    /* operand of lgdt/lidt/sgdt/sidt */
    uint16_t limit;
    uint32_t base;
} __attribute__((packed));

struct tss32 {
    uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2;
    uint32_t cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
    uint32_t es, cs, ss, ds, fs, gs, ldt;
    uint16_t trap, iomap_base;
} __attribute__((packed));      /* 104 bytes */

/* Interrupt frame handed to C handlers by the common stub.  Segment
 * register fields are zero-extended 16-bit values.  user_esp/user_ss are
 * only valid when (cs & 3) != 0 (privilege change; no VM86 here).
 * A handler may modify any field; the stub pops them and irets. */
struct regs {
    uint32_t gs, fs, es, ds;
    uint32_t edi, esi, ebp, esp_dummy, ebx, edx, ecx, eax;
    uint32_t vector, error;
    uint32_t eip, cs, eflags;
    uint32_t user_esp, user_ss;
};

typedef void (*handler_t)(struct regs *);

/* ---------------------------------------------------------------- lib API */
/* boot.S / lib data (gdt at 0x101000, tss at 0x101080, idt at 0x101800:
 * fixed by link.ld, whatever the code size) */
extern uint64_t gdt[GDT_ENTRIES];       /* the live GDT */
extern struct dtr gdt_ptr;               /* {0x5f, gdt} */
extern uint64_t idt[256];                /* the live IDT */
extern struct tss32 tss;                 /* the TSS behind selector 0x28 */
extern uint32_t isr_stub_table[256];     /* address of each vector's stub */
extern char stack_bottom[], stack_top[]; /* 16 KiB boot stack */
extern char _kernel_start[], _kernel_end[];
extern int check_failures;

void kmain(uint32_t magic, struct multiboot_info *mbi);

/* serial (COM1, 0x3f8), polled */
void serial_init(void);
void putc(char c);                      /* raw byte, no \n -> \r\n */
void puts(const char *s);               /* no newline appended */
void putln(const char *s);              /* puts(s) + '\n' */
void puthex(uint32_t v);                /* "0x%08x" */
void puthex_n(uint32_t v, int digits);  /* "0x" + `digits` hex digits */
void putdec(uint32_t v);                /* unsigned decimal */
/* printf subset: %s %c %d %i %u %x %X %p(=0x%08x) %%, flags '0' '-' '+',
 * width, 'l' ignored.  %x is lowercase.  Returns nothing. */
void printf(const char *fmt, ...);
void vprintf(const char *fmt, va_list ap);

/* exit: outl(0xf4, v) (isa-debug-exit: qemu status (v<<1)|1), then
 * cli;hlt forever. */
void exit(uint32_t v) __attribute__((noreturn));

/* self checks: print "ok: what" or "FAIL: what" (+ got/expected). */
void check(int cond, const char *what);
void check_eq(const char *what, uint32_t got, uint32_t expected);
void checkf(int cond, const char *fmt, ...);   /* check() with printf text */
/* prints "N checks failed" if any failed, then "done", then
 * exit(0) if every check passed, exit(1) otherwise. */
void done(void) __attribute__((noreturn));

/* GDT: index = selector >> 3.  limit is the raw 20-bit field (in 4 KiB
 * units when GDT_F_G is set).  access = P|DPL|S|type byte (e.g. 0x9a).
 * flags = G|DB|L|AVL nibble (e.g. 0xC = GDT_F_32); a value > 0xF is taken
 * as a full "granularity byte" and its high nibble is used (0xCF -> 0xC).
 * gdt_set does not reload any segment register. */
void gdt_set(int index, uint32_t base, uint32_t limit, uint8_t access, uint8_t flags);
uint64_t make_desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags);
/* call gate (type 0xC) / other system gate at GDT index */
void gdt_set_gate(int index, uint16_t selector, uint32_t offset,
                  uint8_t type, uint8_t dpl, uint8_t param_count);

/* TSS: fill tss (ss0 = 0x10, esp0; iomap_base = 104 => no I/O bitmap),
 * install descriptor 0x28 (available, so it may be called again), ltr 0x28.
 * esp0 == 0 selects the library's own 8 KiB interrupt stack. */
void tss_init(uint32_t esp0);
extern char istack_top[];

/* IDT: idt_init installs 256 ring-0 interrupt gates (type 0xE, DPL 0,
 * selector 0x08) to the library stubs and executes lidt.  Vectors
 * 8,10,11,12,13,14,17 have a CPU error code; the others get a dummy 0. */
void idt_init(void);
void idt_set_gate(int vec, uint32_t handler_addr, uint16_t selector,
                  uint8_t type, uint8_t dpl);
/* C handler for a vector (NULL = unhandled -> prints
 * "unhandled vector N err 0x.. eip 0x.." and exit(0x7f)). */
void set_handler(int vec, handler_t fn);

/* Ring 3: run_user irets to SEL_UCODE:eip with SEL_UDATA:esp (ds, es, fs,
 * gs = 0x23), eflags = current eflags (IF unchanged, NT cleared).
 * Needs tss_init() and a DPL-3 gate for the syscall vector the user code
 * uses.  A kernel-side handler calls user_return(v) (never returns) to
 * resume after the run_user() call, which then returns v with callee-saved
 * registers, EFLAGS and ring-0 segment registers (0x10) restored. */
uint32_t run_user(uint32_t eip, uint32_t esp);
void user_return(uint32_t v) __attribute__((noreturn));
/* The same with exactly `eflags` (IOPL, IF, TF... as given; NT as given). */
uint32_t run_user_eflags(uint32_t eip, uint32_t esp, uint32_t eflags);
/* The same with DS, ES, FS, GS loaded with the given selectors before the
 * iret (a ring-0 one is nulled by it, SDM vol 2 IRET); DS is loaded last. */
uint32_t run_user_segs(uint32_t eip, uint32_t esp, uint32_t eflags,
                       uint32_t ds, uint32_t es, uint32_t fs, uint32_t gs);
/* Resume `frame` (a complete ring-3 or ring-0 interrupt frame, the layout
 * isr_common builds) as an iret from isr_common would; a handler's
 * user_return(v) comes back here and run_frame returns v.  A kernel's way
 * into its first task. */
uint32_t run_frame(struct regs *frame);

/* The frame a kernel builds for a task's first entry at ring 3 (resumed by
 * run_frame or by an interrupt return): CS:EIP, SS:ESP, DS = ES = ds,
 * FS = GS = fsgs, EFLAGS IF = 1; the general registers are left as they are. */
static inline void user_frame(struct regs *r, uint32_t eip, uint32_t cs, uint32_t esp,
                              uint32_t ss, uint32_t ds, uint32_t fsgs)
{
    r->eip = eip;
    r->cs = cs;
    r->eflags = EFL_IF | EFL_1;
    r->user_esp = esp;
    r->user_ss = ss;
    r->ds = r->es = ds;
    r->fs = r->gs = fsgs;
}

/* Identity-map pages first..first+n-1 into consecutive page-table entries
 * (pt may span several tables laid out one after the other). */
static inline void map_identity(volatile uint32_t *pt, uint32_t first, uint32_t n, uint32_t flags)
{
    for (uint32_t i = first; i < first + n; i++)
        pt[i] = (i << 12) | flags;
}

/* string helpers (gcc may emit calls to these) */
void *memset(void *d, int c, uint32_t n);
void *memcpy(void *d, const void *s, uint32_t n);
int memcmp(const void *a, const void *b, uint32_t n);
uint32_t strlen(const char *s);

/* ---------------------------------------------------------------- inlines */
static inline void outb(uint16_t p, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outw(uint16_t p, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outl(uint16_t p, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(p)); }
static inline uint8_t inb(uint16_t p) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint16_t inw(uint16_t p) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint32_t inl(uint16_t p) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }

static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void hlt(void) { __asm__ volatile("hlt" ::: "memory"); }
static inline void clts(void) { __asm__ volatile("clts" ::: "memory"); }

#define DEF_CR(n) \
    static inline uint32_t read_cr##n(void) { uint32_t v; __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v)); return v; } \
    static inline void write_cr##n(uint32_t v) { __asm__ volatile("mov %0, %%cr" #n :: "r"(v) : "memory"); }
DEF_CR(0)
DEF_CR(2)
DEF_CR(3)
DEF_CR(4)
#undef DEF_CR

/* mask every line of both 8259 PICs (do this before sti when no IRQs
 * are wanted: the BIOS leaves the PIT running on IRQ0 = vector 8). */
static inline void pic_mask_all(void) { outb(0x21, 0xff); outb(0xa1, 0xff); }

static inline void invlpg(uint32_t addr) { __asm__ volatile("invlpg (%0)" :: "r"(addr) : "memory"); }

static inline void lgdt(const struct dtr *d) { __asm__ volatile("lgdt %0" :: "m"(*d) : "memory"); }
static inline void lidt(const struct dtr *d) { __asm__ volatile("lidt %0" :: "m"(*d) : "memory"); }
static inline void sgdt(struct dtr *d) { __asm__ volatile("sgdt %0" : "=m"(*d) :: "memory"); }
static inline void sidt(struct dtr *d) { __asm__ volatile("sidt %0" : "=m"(*d) :: "memory"); }
static inline void ltr(uint16_t sel) { __asm__ volatile("ltr %0" :: "rm"(sel) : "memory"); }
static inline void lldt(uint16_t sel) { __asm__ volatile("lldt %0" :: "rm"(sel) : "memory"); }
/* str/sldt into a 32-bit register: upper 16 bits are zero (P6+). */
static inline uint32_t str(void) { uint32_t v; __asm__ volatile("str %0" : "=r"(v)); return v; }
static inline uint32_t sldt(void) { uint32_t v; __asm__ volatile("sldt %0" : "=r"(v)); return v; }

static inline uint32_t read_eflags(void) { uint32_t v; __asm__ volatile("pushfl; popl %0" : "=r"(v) :: "memory"); return v; }
static inline void write_eflags(uint32_t v) { __asm__ volatile("pushl %0; popfl" :: "r"(v) : "memory", "cc"); }

/* segment register reads (movl %sreg, r32: upper bits zero on P6+) */
#define DEF_SREG(r) \
    static inline uint32_t read_##r(void) { uint32_t v; __asm__ volatile("movl %%" #r ", %0" : "=r"(v)); return v; }
DEF_SREG(cs)
DEF_SREG(ds)
DEF_SREG(es)
DEF_SREG(fs)
DEF_SREG(gs)
DEF_SREG(ss)
#undef DEF_SREG
static inline void load_ds(uint16_t s) { __asm__ volatile("movw %0, %%ds" :: "rm"(s) : "memory"); }
static inline void load_es(uint16_t s) { __asm__ volatile("movw %0, %%es" :: "rm"(s) : "memory"); }
static inline void load_fs(uint16_t s) { __asm__ volatile("movw %0, %%fs" :: "rm"(s) : "memory"); }
static inline void load_gs(uint16_t s) { __asm__ volatile("movw %0, %%gs" :: "rm"(s) : "memory"); }
static inline void load_ss(uint16_t s) { __asm__ volatile("movw %0, %%ss" :: "rm"(s) : "memory"); }

static inline uint32_t read_esp(void) { uint32_t v; __asm__ volatile("movl %%esp, %0" : "=r"(v)); return v; }

#endif

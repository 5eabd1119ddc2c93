/*
 * corpus/lib/attack.h -- shared by the attack_* guests (include once, from
 * the guest's one C file; header only, so that no other guest changes).
 *
 * The attack guests try to reach what a monitor keeps for itself (the top
 * 4 MiB of the linear address space, the physical memory right above guest
 * RAM, its descriptor tables and selectors) and print what the machine
 * shows them.  Every access that may fault goes through a try_* helper:
 * one instruction that may fault (label NAME_at) and a fixup (NAME_fix);
 * the guest's own fault handler (catch_fault, installed for vectors 0-19
 * except 2 and 8) records vector, error code and CR2 and resumes at the
 * fixup, at ring 0 and at ring 3 alike.  Results are noted in a log (plain
 * memory, so ring-3 code can note too) and printed at ring 0 by flush().
 *
 * Final probes: some accesses end the run on the bare machine (memory
 * outside guest RAM: btvmm stops with status 12 'guest error', where qemu
 * reads 0xff bytes and ignores writes; a triple fault: btvmm status 4,
 * qemu -no-reboot exits 0).  A guest does at most one of them, last, after
 * printing "final probe NAME: ..." and a line saying how it ends; the
 * multiboot command line picks it ("final=NAME"; the first is the default,
 * the one corpus/expected records).
 */
#ifndef BTVMM_ATTACK_H
#define BTVMM_ATTACK_H

#include "lib.h"

#define CR4_PSE 0x10

#define PAGE __attribute__((aligned(4096)))
#define RAM_TOP   0x08000000u   /* 128 MiB: qemu -m 128 and bt's default */
#define TOP4M     0xffc00000u   /* where the monitor sits by default */
#define FAULTED   0xfa17fa17u   /* eax after a caught fault */
#define V32(a)    (*(volatile uint32_t *)(a))

/* ------------------------------------------------------------ try helpers */
uint32_t try_read32(uint32_t addr);
uint32_t try_write32(uint32_t addr, uint32_t v);            /* returns v */
uint32_t try_xchg32(uint32_t addr, uint32_t v);             /* returns the old value */
uint32_t try_movs_from(uint32_t src, uint32_t *dst, uint32_t n); /* ecx left (0 = done) */
uint32_t try_movs_to(uint32_t dst, const uint32_t *src, uint32_t n);
uint32_t try_push_mem(uint32_t addr);                       /* pushl (addr); popl %eax */
uint32_t try_call(uint32_t addr);                           /* call *addr */
uint32_t try_load_ds(uint32_t sel);                         /* the selector DS got */
uint32_t try_load_ss(uint32_t sel);
uint32_t try_pop_es(uint32_t sel);
uint32_t try_read_fs(uint32_t sel, uint32_t off);           /* mov sel,%fs; mov %fs:off */
uint32_t try_write_fs(uint32_t sel, uint32_t off);          /* mov sel,%fs; mov $0x5e5e5e5e,%fs:off */
uint32_t try_lcall(uint32_t sel, uint32_t off);
uint32_t try_ljmp(uint32_t sel, uint32_t off);
uint32_t try_lret(uint32_t sel, uint32_t off);
uint32_t try_int3(void);
uint32_t try_lar(uint32_t sel);                             /* 0xffffffff if ZF=0 */
uint32_t try_lsl(uint32_t sel);
uint32_t try_verr(uint32_t sel);                            /* 1 if readable */
void user_exit(void) __attribute__((noreturn));             /* int $0x80 from ring 3 */
extern volatile uint32_t try_call_target;
extern volatile uint32_t far_ptr[2];

__asm__(
"       .text\n"
"       .globl try_read32\n"
"try_read32:\n"
"       movl 4(%esp), %edx\n"
"try_read32_at:\n"
"       movl (%edx), %eax\n"
"try_read32_fix:\n"
"       ret\n"
"       .globl try_write32\n"
"try_write32:\n"
"       movl 4(%esp), %edx\n"
"       movl 8(%esp), %eax\n"
"try_write32_at:\n"
"       movl %eax, (%edx)\n"
"try_write32_fix:\n"
"       ret\n"
"       .globl try_xchg32\n"
"try_xchg32:\n"
"       movl 4(%esp), %edx\n"
"       movl 8(%esp), %eax\n"
"try_xchg32_at:\n"
"       xchgl %eax, (%edx)\n"
"try_xchg32_fix:\n"
"       ret\n"
"       .globl try_movs_from, try_movs_to\n"
"try_movs_from:\n"
"       pushl %esi\n"
"       pushl %edi\n"
"       movl 12(%esp), %esi\n"
"       movl 16(%esp), %edi\n"
"       jmp 1f\n"
"try_movs_to:\n"
"       pushl %esi\n"
"       pushl %edi\n"
"       movl 12(%esp), %edi\n"
"       movl 16(%esp), %esi\n"
"1:     movl 20(%esp), %ecx\n"
"       cld\n"
"try_movs_at:\n"
"       rep movsl\n"
"try_movs_fix:\n"
"       movl %ecx, %eax\n"
"       popl %edi\n"
"       popl %esi\n"
"       ret\n"
"       .globl try_push_mem\n"
"try_push_mem:\n"
"       movl 4(%esp), %edx\n"
"try_push_mem_at:\n"
"       pushl (%edx)\n"
"       popl %eax\n"
"try_push_mem_fix:\n"
"       ret\n"
"       .globl try_call\n"
"try_call:\n"
"       pushl %ebp\n"
"       movl %esp, %ebp\n"
"       movl 8(%ebp), %eax\n"
"       movl %eax, try_call_target\n"
"       call *%eax\n"
"try_call_fix:\n"
"       movl %ebp, %esp\n"
"       popl %ebp\n"
"       ret\n"
"       .globl try_load_ds\n"
"try_load_ds:\n"
"       movl 4(%esp), %eax\n"
"       movl %ds, %ecx\n"
"try_load_ds_at:\n"
"       movw %ax, %ds\n"
"       movl %ds, %eax\n"
"       movw %cx, %ds\n"
"try_load_ds_fix:\n"
"       ret\n"
"       .globl try_load_ss\n"
"try_load_ss:\n"
"       movl 4(%esp), %eax\n"
"       movl %ss, %ecx\n"
"try_load_ss_at:\n"
"       movw %ax, %ss\n"
"       movl %ss, %eax\n"
"       movw %cx, %ss\n"
"try_load_ss_fix:\n"
"       ret\n"
"       .globl try_pop_es\n"
"try_pop_es:\n"
"       movl %es, %ecx\n"
"       pushl 4(%esp)\n"
"try_pop_es_at:\n"
"       popl %es\n"
"       movl %es, %eax\n"
"       movw %cx, %es\n"
"       ret\n"
"try_pop_es_fix:\n"
"       popl %edx\n"
"       ret\n"
"       .globl try_read_fs\n"
"try_read_fs:\n"
"       movl 4(%esp), %eax\n"
"       movl 8(%esp), %edx\n"
"       movl %fs, %ecx\n"
"try_read_fs_at:\n"
"       movw %ax, %fs\n"
"try_read_fs_at2:\n"
"       movl %fs:(%edx), %eax\n"
"try_read_fs_fix:\n"
"       movw %cx, %fs\n"
"       ret\n"
"       .globl try_write_fs\n"
"try_write_fs:\n"
"       movl 4(%esp), %eax\n"
"       movl 8(%esp), %edx\n"
"       movl %fs, %ecx\n"
"try_write_fs_at:\n"
"       movw %ax, %fs\n"
"try_write_fs_at2:\n"
"       movl $0x5e5e5e5e, %fs:(%edx)\n"
"try_write_fs_fix:\n"
"       movw %cx, %fs\n"
"       ret\n"
"       .globl try_lcall, try_ljmp, try_lret\n"
"try_lcall:\n"
"       movl 4(%esp), %eax\n"
"       movl 8(%esp), %edx\n"
"       movl %edx, far_ptr\n"
"       movl %eax, far_ptr+4\n"
"       pushl %ebp\n"
"       movl %esp, %ebp\n"
"try_lcall_at:\n"
"       lcall *far_ptr\n"
"try_far_fix:\n"
"       movl %ebp, %esp\n"
"       popl %ebp\n"
"       ret\n"
"try_ljmp:\n"
"       movl 4(%esp), %eax\n"
"       movl 8(%esp), %edx\n"
"       movl %edx, far_ptr\n"
"       movl %eax, far_ptr+4\n"
"       pushl %ebp\n"
"       movl %esp, %ebp\n"
"try_ljmp_at:\n"
"       ljmp *far_ptr\n"
"       jmp try_far_fix\n"
"try_lret:\n"
"       pushl %ebp\n"
"       movl %esp, %ebp\n"
"       pushl 8(%ebp)\n"
"       pushl 12(%ebp)\n"
"try_lret_at:\n"
"       lret\n"
"       jmp try_far_fix\n"
"       .globl try_int3\n"
"try_int3:\n"
"       movl $0x1e3, %eax\n"
"try_int3_at:\n"
"       int3\n"
"try_int3_fix:\n"
"       ret\n"
"       .globl try_lar, try_lsl, try_verr\n"
"try_lar:\n"
"       movl $0xffffffff, %eax\n"
"try_lar_at:\n"
"       larl 4(%esp), %eax\n"
"try_lar_fix:\n"
"       ret\n"
"try_lsl:\n"
"       movl $0xffffffff, %eax\n"
"try_lsl_at:\n"
"       lsll 4(%esp), %eax\n"
"try_lsl_fix:\n"
"       ret\n"
"try_verr:\n"
"       xorl %eax, %eax\n"
"try_verr_at:\n"
"       verr 4(%esp)\n"
"       setz %al\n"
"try_verr_fix:\n"
"       ret\n"
"       .globl user_exit\n"
"user_exit:\n"
"       int $0x80\n"
"       ud2\n"
"       .data\n"
"       .align 4\n"
"       .globl try_call_target, far_ptr\n"
"try_call_target: .long 0\n"
"far_ptr: .long 0, 0\n"
"       .text\n");

extern char try_read32_at[], try_read32_fix[], try_write32_at[], try_write32_fix[];
extern char try_xchg32_at[], try_xchg32_fix[], try_movs_at[], try_movs_fix[];
extern char try_push_mem_at[], try_push_mem_fix[], try_call_fix[];
extern char try_load_ds_at[], try_load_ds_fix[], try_load_ss_at[], try_load_ss_fix[];
extern char try_pop_es_at[], try_pop_es_fix[];
extern char try_read_fs_at[], try_read_fs_at2[], try_read_fs_fix[];
extern char try_write_fs_at[], try_write_fs_at2[], try_write_fs_fix[];
extern char try_lcall_at[], try_ljmp_at[], try_lret_at[], try_far_fix[];
extern char try_int3_at[], try_int3_fix[];
extern char try_lar_at[], try_lar_fix[], try_lsl_at[], try_lsl_fix[];
extern char try_verr_at[], try_verr_fix[];

static const struct { const char *at, *fix; } fixups[] = {
    {try_read32_at, try_read32_fix}, {try_write32_at, try_write32_fix},
    {try_xchg32_at, try_xchg32_fix}, {try_movs_at, try_movs_fix},
    {try_push_mem_at, try_push_mem_fix},
    {try_load_ds_at, try_load_ds_fix}, {try_load_ss_at, try_load_ss_fix},
    {try_pop_es_at, try_pop_es_fix},
    {try_read_fs_at, try_read_fs_fix}, {try_read_fs_at2, try_read_fs_fix},
    {try_write_fs_at, try_write_fs_fix}, {try_write_fs_at2, try_write_fs_fix},
    {try_lcall_at, try_far_fix}, {try_ljmp_at, try_far_fix}, {try_lret_at, try_far_fix},
    {try_int3_at, try_int3_fix},        /* a fault (#GP through a DPL-0 gate) */
    {try_int3_fix, try_int3_fix},       /* the #BP trap: eip after int3 */
    {try_lar_at, try_lar_fix}, {try_lsl_at, try_lsl_fix}, {try_verr_at, try_verr_fix},
};

/* ------------------------------------------------------------ the fault log */
struct fault_rec {
    uint32_t vec, err, cr2, ring;
};
static volatile uint32_t nfaults;
static volatile struct fault_rec last_fault;

struct note {
    const char *what;
    uint32_t value, faulted, ring;
    struct fault_rec f;
};
#define MAX_NOTES 96
static struct note notes[MAX_NOTES];
static volatile uint32_t nnotes;

static void catch_fault(struct regs *r)
{
    uint32_t cr2 = r->vector == 14 ? read_cr2() : 0;
    uint32_t fix = 0;
    for (uint32_t i = 0; i < sizeof fixups / sizeof fixups[0]; i++)
        if (r->eip == (uint32_t)fixups[i].at)
            fix = (uint32_t)fixups[i].fix;
    /* a fetch at (or a few bytes after) the target of try_call faulted: unicorn reports
     * the start of a block that runs into an unmapped page, qemu the first byte there */
    if (!fix && try_call_target && r->eip - try_call_target < 16)
        fix = (uint32_t)try_call_fix;
    if (fix) {
        last_fault.vec = r->vector;
        last_fault.err = r->error;
        last_fault.cr2 = cr2;
        last_fault.ring = r->cs & 3;
        nfaults++;
        r->eip = fix;
        r->eax = FAULTED;
        return;
    }
    printf("unexpected vector %u err 0x%x eip %p cr2 %p cs 0x%x\n", r->vector, r->error,
           r->eip, cr2, r->cs & 0xffff);
    exit(0x7f);
}

static __attribute__((unused)) void note(const char *what, uint32_t value, int faulted)
{
    if (nnotes >= MAX_NOTES)
        return;
    struct note *n = &notes[nnotes++];
    n->what = what;
    n->value = value;
    n->faulted = faulted;
    n->ring = read_cs() & 3;
    n->f.vec = last_fault.vec;
    n->f.err = last_fault.err;
    n->f.cr2 = last_fault.cr2;
    n->f.ring = last_fault.ring;
}

/* run EXPR (a try_* call) and note its value or its fault */
#define PROBE(what, expr) do {                                  \
        uint32_t before_ = nfaults;                             \
        uint32_t value_ = (expr);                               \
        note((what), value_, nfaults != before_);               \
    } while (0)

static const char *vec_name(uint32_t v)
{
    static const char *names[] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
                                  "#DF", "?9", "#TS", "#NP", "#SS", "#GP", "#PF", "?15",
                                  "#MF", "#AC", "#MC", "#XM"};
    return v < 20 ? names[v] : "?";
}

/* print the log (ring 0) */
static __attribute__((unused)) void flush(void)
{
    for (uint32_t i = 0; i < nnotes; i++) {
        struct note *n = &notes[i];
        printf("  [ring %u] %-36s ", n->ring, n->what);
        if (n->faulted) {
            printf("%s", vec_name(n->f.vec));
            if (n->f.vec == 8 || (n->f.vec >= 10 && n->f.vec <= 14) || n->f.vec == 17)
                printf(" err 0x%04x", n->f.err);
            if (n->f.vec == 14)
                printf(" cr2 %p", n->f.cr2);
            putc('\n');
        } else {
            printf("= %p\n", n->value);
        }
    }
    nnotes = 0;
}

/* ------------------------------------------------------------ setup */
static uint8_t attack_kstack[8192] __attribute__((aligned(16)));
static uint8_t attack_ustack[8192] __attribute__((aligned(16)));

static void sys_return(struct regs *r)
{
    user_return(r->eax);
}

/* IDT with catch_fault on vectors 0-19 (not NMI, not #DF), TSS, int $0x80 from ring 3 */
static void attack_init(void)
{
    idt_init();
    tss_init((uint32_t)attack_kstack + sizeof attack_kstack);
    for (int v = 0; v < 20; v++)
        if (v != 2 && v != 8)
            set_handler(v, catch_fault);
    idt_set_gate(0x80, isr_stub_table[0x80], SEL_KCODE, 0xe, 3);
    set_handler(0x80, sys_return);
}

/* run fn at ring 3 (it ends with user_exit()) */
static uint32_t ring3(void (*fn)(void))
{
    return run_user((uint32_t)fn, (uint32_t)attack_ustack + sizeof attack_ustack);
}

/* identity map of guest RAM only: 0-4 MiB in 4 KiB pages (pt), the rest of the
 * 128 MiB as 4 MiB pages; user, writable; everything above RAM unmapped */
static __attribute__((unused)) void identity_map(uint32_t *pd, uint32_t *pt)
{
    for (int i = 0; i < 1024; i++) {
        pt[i] = ((uint32_t)i << 12) | PG_P | PG_RW | PG_US;
        pd[i] = 0;
    }
    pd[0] = (uint32_t)pt | PG_P | PG_RW | PG_US;
    for (uint32_t i = 1; i < (RAM_TOP >> 22); i++)
        pd[i] = (i << 22) | PG_PS | PG_P | PG_RW | PG_US;
}

static __attribute__((unused)) void paging_on(uint32_t *pd)
{
    write_cr3((uint32_t)pd);
    write_cr4(read_cr4() | CR4_PSE);
    write_cr0(read_cr0() | CR0_PG | CR0_WP);
}

static __attribute__((unused)) void paging_off(void)
{
    write_cr0(read_cr0() & ~CR0_PG);
}

/* ------------------------------------------------------------ final probes */
struct final_probe {
    const char *name, *what, *ending;
    void (*run)(void);
};

/* does the multiboot command line hold the word "final=NAME"? */
static int cmdline_names(struct multiboot_info *mbi, const char *name)
{
    if (!(mbi->flags & 4) || !mbi->cmdline)
        return 0;
    const char *s = (const char *)mbi->cmdline;
    uint32_t n = strlen(name);
    for (; *s; s++)
        if (!memcmp(s, "final=", 6) && !memcmp(s + 6, name, n) && (s[6 + n] == ' ' || !s[6 + n]))
            return 1;
    return 0;
}

/* the probe "final=NAME" names (the first by default): announce it, run it */
static __attribute__((unused)) void final_probe(struct multiboot_info *mbi,
                                               const struct final_probe *probes, int count)
{
    const struct final_probe *p = &probes[0];
    for (int i = 0; i < count; i++) {
        if (cmdline_names(mbi, probes[i].name)) {
            p = &probes[i];
            break;
        }
    }
    printf("final probe %s: %s\n", p->name, p->what);
    printf("  (%s)\n", p->ending);
    p->run();
}

#endif

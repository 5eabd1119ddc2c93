/*
 * segregs -- reading, writing, pushing and popping segment registers at
 * CPL 0, the protection checks on segment loads, and the descriptor cache.
 *
 * A monitor that runs guest ring 0 at ring 1 cannot let the guest see RPL 1
 * in CS/SS, must emulate the DPL/RPL/CPL checks of segment loads as if
 * CPL were 0, and must keep the hidden part of each segment register
 * (base/limit/attributes cached at load time) independent of later writes
 * to the descriptor table.  SDM vol. 2 MOV (Move to/from Segment
 * Registers), PUSH, POP; vol. 3 3.4.3 (segment registers, hidden part),
 * 5.7 (privilege checks when loading SS and data segment registers),
 * 3.4.5.1 (accessed bit).
 *
 *  - mov sreg -> r32 zero-extends (P6 and later; SDM MOV note), mov sreg ->
 *    r16 keeps bits 31:16, mov sreg -> m16 stores 2 bytes.
 *  - push sreg with 32-bit operand size moves ESP by 4 but may write
 *    either a zero-extended dword or just 16 bits (SDM PUSH), so only
 *    the low 16 bits of the slot are printed; pushw moves ESP by 2.
 *  - pop sreg ignores bits 31:16 of the popped dword; a faulting pop
 *    leaves ESP unchanged.
 *  - loads into DS/ES/FS/GS: null (any RPL) is fine and reads back with
 *    its RPL; RPL > DPL -> #GP(sel); execute-only code, system segments,
 *    beyond the table limit -> #GP(sel); not present -> #NP(sel); readable
 *    code and conforming code are fine.
 *  - loads into SS: only writable data with RPL == DPL == CPL; null ->
 *    #GP(0); not present -> #SS(sel).
 *  - mov to CS and to the non-existent sreg 6 -> #UD.
 *  - the hidden descriptor cache: FS keeps its old base after the GDT
 *    entry is rewritten or zeroed, until FS is reloaded.
 * Fault error codes are selector & 0xfffc (EXT=0, IDT=0).
 */
#include "lib.h"

volatile uint32_t fault_recover;
static volatile uint32_t fault_vec, fault_err, fault_count;

static void on_fault(struct regs *r)
{
    fault_vec = r->vector;
    fault_err = r->error;
    fault_count++;
    r->eip = fault_recover;
}

static const char *vecname(uint32_t v)
{
    switch (v) {
    case 6: return "#UD";
    case 10: return "#TS";
    case 11: return "#NP";
    case 12: return "#SS";
    case 13: return "#GP";
    default: return "#??";
    }
}

/* results of one attempted load: vector 0xff = no fault */
struct load {
    uint32_t vec, err, rb;
};

#define TRY_LOAD(seg, sel, out)                                             \
    do {                                                                    \
        uint32_t rb_ = 0xdeadbeef;                                          \
        fault_vec = 0xff;                                                   \
        fault_err = 0;                                                      \
        __asm__ volatile(                                                   \
            "movl $1f, %[rec]\n\t"                                          \
            "movw %%" seg ", %%cx\n\t"                                      \
            "movw %w[s], %%" seg "\n\t"                                     \
            "movl %%" seg ", %[rb]\n\t"                                     \
            "1: movw %%cx, %%" seg "\n\t"                                   \
            : [rb] "+r"(rb_), [rec] "=m"(fault_recover)                     \
            : [s] "r"((uint32_t)(sel))                                      \
            : "ecx", "memory");                                             \
        (out)->vec = fault_vec;                                             \
        (out)->err = fault_err;                                             \
        (out)->rb = rb_;                                                    \
    } while (0)

/* exp_vec 0xff: the load must succeed and read back `sel` */
static void show_load(const char *seg, uint32_t sel, const struct load *l,
                      uint32_t exp_vec, uint32_t exp_err, const char *what)
{
    if (l->vec == 0xff)
        printf("mov %s, 0x%04x -> reads back %p  (%s)\n", seg, sel, l->rb, what);
    else
        printf("mov %s, 0x%04x -> %s(0x%04x)  (%s)\n", seg, sel, vecname(l->vec),
               l->err, what);
    if (exp_vec == 0xff)
        checkf(l->vec == 0xff && l->rb == sel, "mov %s, 0x%04x loads", seg, sel);
    else
        checkf(l->vec == exp_vec && l->err == exp_err && l->rb == 0xdeadbeef,
               "mov %s, 0x%04x faults %s(0x%04x)", seg, sel, vecname(exp_vec), exp_err);
}

static uint32_t buf_a[4] = { 0xaaaa0000, 0xaaaa0001, 0xaaaa0002, 0xaaaa0003 };
static uint32_t buf_b[4] = { 0xbbbb0000, 0xbbbb0001, 0xbbbb0002, 0xbbbb0003 };

static uint32_t read_fs0(void)
{
    uint32_t v;
    __asm__ volatile("movl %%fs:0, %0" : "=r"(v) :: "memory");
    return v;
}

struct dload {
    uint32_t sel, exp_vec, exp_err;
    const char *what;
};

static const struct dload data_loads[] = {
    { 0x0000, 0xff, 0, "null" },
    { 0x0003, 0xff, 0, "null with RPL 3" },
    { 0x0010, 0xff, 0, "ring-0 data" },
    { 0x0013, 13, 0x0010, "ring-0 data, RPL 3 > DPL" },
    { 0x0020, 0xff, 0, "ring-3 data, RPL 0" },
    { 0x0023, 0xff, 0, "ring-3 data" },
    { 0x0008, 0xff, 0, "readable code" },
    { 0x001b, 0xff, 0, "ring-3 readable code" },
    { 0x000b, 13, 0x0008, "ring-0 code, RPL 3" },
    { 0x0030, 13, 0x0030, "execute-only code" },
    { 0x0028, 13, 0x0028, "TSS" },
    { 0x0038, 11, 0x0038, "not-present data" },
    { 0x0048, 0xff, 0, "conforming readable code" },
    { 0x004b, 0xff, 0, "conforming readable code, RPL 3" },
    { 0x0050, 0xff, 0, "read-only data" },
    { 0x0060, 13, 0x0060, "beyond GDT limit" },
    { 0x0064, 13, 0x0064, "TI=1 with a null LDTR" },
};

static const struct dload ss_loads[] = {
    { 0x0010, 0xff, 0, "ring-0 data" },
    { 0x0000, 13, 0, "null" },
    { 0x0003, 13, 0, "null with RPL 3" },
    { 0x0013, 13, 0x0010, "RPL 3 != CPL" },
    { 0x0020, 13, 0x0020, "DPL 3 != CPL" },
    { 0x0023, 13, 0x0020, "ring-3 data" },
    { 0x0008, 13, 0x0008, "code" },
    { 0x0050, 13, 0x0050, "read-only data" },
    { 0x0038, 12, 0x0038, "not-present data" },
    { 0x0040, 0xff, 0, "writable data with base buf_a" },
    { 0x0058, 0xff, 0, "expand-down writable data" },
    { 0x0060, 13, 0x0060, "beyond GDT limit" },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static uint32_t desc_access(int i) { return (uint32_t)(gdt[i] >> 40) & 0xff; }

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    struct load l;

    putln("segregs: segment register moves, loads and the descriptor cache");
    idt_init();
    tss_init(0);
    lldt(0);
    set_handler(6, on_fault);
    set_handler(10, on_fault);
    set_handler(11, on_fault);
    set_handler(12, on_fault);
    set_handler(13, on_fault);

    gdt_set(6, 0, 0xfffff, 0x99, GDT_F_32);                   /* 0x30 exec-only */
    gdt_set(7, 0, 0xfffff, 0x13, GDT_F_32);                   /* 0x38 not present */
    gdt_set(8, (uint32_t)buf_a, 0xfff, 0x92, GDT_F_DB);       /* 0x40 base buf_a, not accessed */
    gdt_set(9, 0, 0xfffff, 0x9f, GDT_F_32);                   /* 0x48 conforming R */
    gdt_set(10, 0, 0xfffff, 0x91, GDT_F_32);                  /* 0x50 read-only */
    gdt_set(11, 0, 0xfff, 0x97, GDT_F_DB);                    /* 0x58 expand-down */

    /* ---- reading segment registers */
    {
        uint32_t r32[6], r16[6], m16[6];
#define RD(i, seg)                                                          \
        r32[i] = 0xdeadbeef; r16[i] = 0xdeadbeef; m16[i] = 0xffffffff;      \
        __asm__ volatile("movl %%" seg ", %0" : "+r"(r32[i]));              \
        __asm__ volatile("movw %%" seg ", %w0" : "+r"(r16[i]));             \
        __asm__ volatile("movw %%" seg ", %0" : "+m"(m16[i]));
        RD(0, "cs") RD(1, "ds") RD(2, "es") RD(3, "fs") RD(4, "gs") RD(5, "ss")
#undef RD
        static const char *names[6] = { "cs", "ds", "es", "fs", "gs", "ss" };
        static const uint32_t want[6] = { 0x08, 0x10, 0x10, 0x10, 0x10, 0x10 };
        for (int i = 0; i < 6; i++) {
            printf("mov %s -> r32 %p  r16 %p  m16 %p\n", names[i], r32[i], r16[i], m16[i]);
            checkf(r32[i] == want[i] && r16[i] == (0xdead0000 | want[i]) &&
                   m16[i] == (0xffff0000 | want[i]), "mov from %s", names[i]);
        }
    }

    /* ---- push / pop */
    {
        uint32_t d32, d16, v32, v16, dcs, vcs;
        __asm__ volatile(
            "movl %%esp, %%edx\n\t"
            "pushl %%ds\n\t"
            "movl %%edx, %0\n\t" "subl %%esp, %0\n\t"
            "movl (%%esp), %2\n\t"
            "movl %%edx, %%esp\n\t"
            "pushw %%es\n\t"
            "movl %%edx, %1\n\t" "subl %%esp, %1\n\t"
            "movzwl (%%esp), %3\n\t"
            "movl %%edx, %%esp\n\t"
            "pushl %%cs\n\t"
            "movl %%edx, %4\n\t" "subl %%esp, %4\n\t"
            "movl (%%esp), %5\n\t"
            "movl %%edx, %%esp\n\t"
            : "=&r"(d32), "=&r"(d16), "=&r"(v32), "=&r"(v16), "=&r"(dcs), "=&r"(vcs)
            :: "edx", "memory");
        printf("push ds: esp -%u, low16 0x%04x; pushw es: esp -%u, 0x%04x; push cs: esp -%u, low16 0x%04x\n",
               d32, v32 & 0xffff, d16, v16, dcs, vcs & 0xffff);
        check(d32 == 4 && (v32 & 0xffff) == 0x10 && d16 == 2 && v16 == 0x10 &&
              dcs == 4 && (vcs & 0xffff) == 0x08, "push sreg sizes and values");
    }
    {
        uint32_t es_v, fs_v, ss_v, de, df, ds_;
        __asm__ volatile(
            "movl %%esp, %%edx\n\t"
            "pushl $0xabcd0023\n\t"
            "popl %%es\n\t"
            "movl %%esp, %1\n\t" "subl %%edx, %1\n\t"
            "movl %%es, %0\n\t"
            "movw $0x10, %%cx\n\t"
            "movw %%cx, %%es\n\t"
            : "=&r"(es_v), "=&r"(de) :: "ecx", "edx", "memory");
        __asm__ volatile(
            "movl %%esp, %%edx\n\t"
            "pushw $0x0020\n\t"
            "popw %%fs\n\t"
            "movl %%esp, %1\n\t" "subl %%edx, %1\n\t"
            "movl %%fs, %0\n\t"
            "movw $0x10, %%cx\n\t"
            "movw %%cx, %%fs\n\t"
            : "=&r"(fs_v), "=&r"(df) :: "ecx", "edx", "memory");
        __asm__ volatile(
            "movl %%esp, %%edx\n\t"
            "pushl $0xffff0010\n\t"
            "popl %%ss\n\t"
            "movl %%esp, %1\n\t" "subl %%edx, %1\n\t"
            "movl %%ss, %0\n\t"
            : "=&r"(ss_v), "=&r"(ds_) :: "edx", "memory");
        printf("pop es (0xabcd0023) -> %p esp %+d; popw fs (0x0020) -> %p esp %+d; pop ss (0xffff0010) -> %p esp %+d\n",
               es_v, de, fs_v, df, ss_v, ds_);
        check(es_v == 0x23 && fs_v == 0x20 && ss_v == 0x10 && de == 0 && df == 0 && ds_ == 0,
              "pop sreg ignores bits 31:16, esp balanced");
    }
    {
        /* a faulting pop leaves ESP where it was */
        uint32_t delta;
        fault_vec = 0xff;
        __asm__ volatile(
            "movl $1f, %[rec]\n\t"
            "movl %%esp, %%edx\n\t"
            "pushl $0x0013\n\t"
            "popl %%ds\n\t"
            "1: movl %%esp, %0\n\t"
            "subl %%edx, %0\n\t"
            "movl %%edx, %%esp\n\t"
            : "=&r"(delta), [rec] "=m"(fault_recover) :: "edx", "memory");
        printf("pop ds (0x0013) -> %s(0x%04x), esp after fault %+d (relative to before the push)\n",
               vecname(fault_vec), fault_err, delta);
        check(fault_vec == 13 && fault_err == 0x10 && delta == (uint32_t)-4,
              "faulting pop ds: #GP(0x10), esp not incremented");
    }

    /* ---- loads into DS, ES, FS, GS */
    for (unsigned i = 0; i < N(data_loads); i++) {
        const struct dload *d = &data_loads[i];
        TRY_LOAD("ds", d->sel, &l);
        show_load("ds", d->sel, &l, d->exp_vec, d->exp_err, d->what);
    }
    {
        /* the other three behave the same; a few samples each */
        static const uint32_t sels[] = { 0x0023, 0x0003, 0x0013, 0x0038 };
        for (unsigned i = 0; i < N(sels); i++) {
            const struct dload *d = NULL;
            for (unsigned j = 0; j < N(data_loads); j++)
                if (data_loads[j].sel == sels[i])
                    d = &data_loads[j];
            TRY_LOAD("es", d->sel, &l);
            show_load("es", d->sel, &l, d->exp_vec, d->exp_err, d->what);
            TRY_LOAD("fs", d->sel, &l);
            show_load("fs", d->sel, &l, d->exp_vec, d->exp_err, d->what);
            TRY_LOAD("gs", d->sel, &l);
            show_load("gs", d->sel, &l, d->exp_vec, d->exp_err, d->what);
        }
    }

    /* ---- loads into SS */
    for (unsigned i = 0; i < N(ss_loads); i++) {
        const struct dload *d = &ss_loads[i];
        TRY_LOAD("ss", d->sel, &l);
        show_load("ss", d->sel, &l, d->exp_vec, d->exp_err, d->what);
    }

    /* ---- mov to CS / sreg 6: #UD */
    {
        fault_vec = 0xff;
        __asm__ volatile(
            "movl $1f, %[rec]\n\t"
            "movw $0x08, %%ax\n\t"
            ".byte 0x8e, 0xc8\n\t"      /* mov %ax, %cs */
            "1:\n\t"
            : [rec] "=m"(fault_recover) :: "eax", "memory");
        printf("mov cs, ax -> %s\n", vecname(fault_vec));
        check(fault_vec == 6, "mov to cs is #UD");
        fault_vec = 0xff;
        __asm__ volatile(
            "movl $1f, %[rec]\n\t"
            "movw $0x10, %%ax\n\t"
            ".byte 0x8e, 0xf0\n\t"      /* mov %ax, sreg6 */
            "1:\n\t"
            : [rec] "=m"(fault_recover) :: "eax", "memory");
        printf("mov sreg6, ax -> %s\n", vecname(fault_vec));
        check(fault_vec == 6, "mov to sreg 6 is #UD");
    }

    /* ---- descriptor cache (hidden part) */
    {
        uint32_t acc0, acc1, v0, v1, v2, v3, sel;
        gdt_set(8, (uint32_t)buf_a, 0xfff, 0x92, GDT_F_DB);  /* accessed clear */
        uint64_t saved = gdt[8];
        acc0 = desc_access(8);
        load_fs(0x40);
        acc1 = desc_access(8);
        v0 = read_fs0();
        gdt_set(8, (uint32_t)buf_b, 0xfff, 0x93, GDT_F_DB);   /* new base, no reload */
        v1 = read_fs0();
        gdt[8] = 0;                                           /* descriptor gone */
        v2 = read_fs0();
        sel = read_fs();
        gdt_set(8, (uint32_t)buf_b, 0xfff, 0x93, GDT_F_DB);
        load_fs(0x40);                                        /* reload */
        v3 = read_fs0();
        load_fs(0x10);
        gdt[8] = saved;
        printf("descriptor 0x40 access 0x%02x before mov fs, 0x%02x after\n", acc0, acc1);
        printf("fs:0 with base buf_a %p, after rewriting base %p, after zeroing %p (fs %p), after reload %p\n",
               v0, v1, v2, sel, v3);
        check(acc0 == 0x92 && acc1 == 0x93, "mov fs sets the accessed bit");
        check(v0 == 0xaaaa0000 && v1 == 0xaaaa0000 && v2 == 0xaaaa0000 && sel == 0x40,
              "fs keeps its cached base until reloaded");
        check(v3 == 0xbbbb0000, "reload picks up the new base");
    }

    /* every register back to the library values */
    printf("final cs %p ds %p es %p fs %p gs %p ss %p\n",
           read_cs(), read_ds(), read_es(), read_fs(), read_gs(), read_ss());
    check(read_cs() == 0x08 && read_ds() == 0x10 && read_es() == 0x10 &&
          read_fs() == 0x10 && read_gs() == 0x10 && read_ss() == 0x10,
          "segment registers restored");
    done();
}

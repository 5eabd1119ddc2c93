/*
 * seglimits -- LAR, LSL, VERR, VERW over a zoo of selectors, at CPL 0 and
 * at CPL 3.
 *
 * These four instructions are unprivileged and never fault on a bad
 * selector: they report through ZF (and a destination register) whether
 * the descriptor is visible at max(CPL, RPL).  They expose the current
 * privilege level and the descriptor tables directly, so a monitor that
 * runs guest ring 0 at ring 1, or that compresses/relocates descriptors
 * (DPL 0 -> 1), shows up here unless it emulates them.
 * SDM vol. 2 LAR, LSL, VERR/VERW; vol. 3 3.4.5 (descriptor types),
 * 5.5-5.7 (privilege checks), 5.8 (conforming code).
 *
 * Per selector the guest prints:
 *   lar ZF and the destination (access rights = descriptor dword 2 masked
 *     with 0x00FxFF00; bits 19:16 are undefined per SDM and are cleared
 *     before printing; on ZF=0 the destination is unchanged, 0xdeadbeef),
 *   lsl ZF and the destination (byte-granular limit; 4K-granular limits
 *     are scaled: (limit << 12) | 0xfff; unchanged 0xdeadbeef on ZF=0),
 *   verr ZF, verw ZF.
 * and checks them against a table derived from the SDM rules:
 *   - null selector (0..3) and selectors beyond the GDT/LDT limit: all fail;
 *   - LAR accepts code/data and system types 1,2,3,4,5,9,B,C;
 *     LSL accepts code/data and system types 1,2,3,9,B;
 *     VERR/VERW accept code/data only (readable / writable data);
 *   - privilege: DPL >= max(CPL, RPL), except conforming code segments
 *     (no check for LAR/LSL/VERR);
 *   - none of them checks the present bit.
 * LDT index 0 is an ordinary descriptor (selector 0x04 is not null).
 * All descriptors have the accessed bit preset (qemu does not set it on far
 * transfers, real CPUs do), and none of the LDT segments is ever loaded.
 */
#include "lib.h"

#define NOPE 0xdeadbeefu
#define F_L 1   /* lar ok */
#define F_S 2   /* lsl ok */
#define F_R 4   /* verr ok */
#define F_W 8   /* verw ok */

struct probe {
    uint32_t lar, lsl;
    uint8_t zl, zs, zr, zw;
};

struct sel_case {
    uint16_t sel;
    uint8_t exp0, exp3;     /* expected F_* at CPL 0 / CPL 3 */
    uint32_t limit;         /* expected lsl value when it succeeds */
    const char *what;
};

#define ALL (F_L | F_S | F_R | F_W)
#define LSR (F_L | F_S | F_R)
#define LS  (F_L | F_S)

static const struct sel_case cases[] = {
    { 0x0000, 0, 0, 0, "null" },
    { 0x0003, 0, 0, 0, "null, RPL 3" },
    { 0x0008, LSR, 0, 0xffffffff, "ring-0 code" },
    { 0x000b, 0, 0, 0xffffffff, "ring-0 code, RPL 3" },
    { 0x0010, ALL, 0, 0xffffffff, "ring-0 data" },
    { 0x0013, 0, 0, 0xffffffff, "ring-0 data, RPL 3" },
    { 0x0018, LSR, LSR, 0xffffffff, "ring-3 code, RPL 0" },
    { 0x001b, LSR, LSR, 0xffffffff, "ring-3 code" },
    { 0x0020, ALL, ALL, 0xffffffff, "ring-3 data, RPL 0" },
    { 0x0023, ALL, ALL, 0xffffffff, "ring-3 data" },
    { 0x0028, LS, 0, 0x67, "busy 32-bit TSS" },
    { 0x002b, 0, 0, 0x67, "busy 32-bit TSS, RPL 3" },
    { 0x0030, LS, 0, 0x5f, "LDT" },
    { 0x0038, F_L, F_L, 0, "call gate DPL 3" },
    { 0x003b, F_L, F_L, 0, "call gate DPL 3, RPL 3" },
    { 0x0040, 0, 0, 0, "386 interrupt gate (invalid for lar)" },
    { 0x0048, LS, 0, 0x2b, "16-bit available TSS" },
    { 0x0050, 0, 0, 0, "reserved system type 8" },
    { 0x0058, F_L, 0, 0, "task gate" },
    { 0x0060, 0, 0, 0, "beyond GDT limit" },
    { 0xfff8, 0, 0, 0, "far beyond GDT limit" },
    { 0x0004, ALL, 0, 0xffffffff, "LDT[0] flat data (not null)" },
    { 0x000c, ALL, 0, 0x00000fff, "LDT expand-down data" },
    { 0x0014, ALL, 0, 0x00000123, "LDT byte-granular limit 0x123" },
    { 0x001c, ALL, 0, 0x00012fff, "LDT 4K-granular limit 0x12" },
    { 0x0024, ALL, 0, 0xffffffff, "LDT not-present data" },
    { 0x002c, ALL, 0, 0xffffffff, "LDT DPL-1 data" },
    { 0x002d, ALL, 0, 0xffffffff, "LDT DPL-1 data, RPL 1" },
    { 0x002f, 0, 0, 0xffffffff, "LDT DPL-1 data, RPL 3" },
    { 0x0034, LSR, 0, 0xffffffff, "LDT DPL-2 readable code" },
    { 0x0037, 0, 0, 0xffffffff, "LDT DPL-2 readable code, RPL 3" },
    { 0x003c, LS, 0, 0xffffffff, "LDT execute-only code" },
    { 0x0044, LSR, LSR, 0xffffffff, "LDT conforming readable code DPL 0" },
    { 0x0047, LSR, LSR, 0xffffffff, "LDT conforming readable code, RPL 3" },
    { 0x004c, LS, LS, 0xffffffff, "LDT conforming execute-only DPL 0" },
    { 0x0054, LSR, 0, 0xffffffff, "LDT read-only data" },
    { 0x005c, ALL, ALL, 0x000abcde, "LDT DPL-3 data, limit 0xabcde" },
    { 0x005f, ALL, ALL, 0x000abcde, "LDT DPL-3 data, RPL 3" },
    { 0x0064, 0, 0, 0, "beyond LDT limit" },
};
#define NCASES (sizeof cases / sizeof cases[0])

static uint64_t ldt[12] __attribute__((aligned(8)));
static struct tss32 tss16_area;     /* only a base for the 16-bit TSS */
static struct probe res0[NCASES], res3[NCASES];
static uint8_t ustack[4096] __attribute__((aligned(16)));

static void probe_one(uint16_t sel, struct probe *p)
{
    uint32_t lar = NOPE, lsl = NOPE, s = sel;
    uint8_t zl, zs, zr, zw;
    __asm__ volatile("lar %2, %0\n\tsetz %1" : "+r"(lar), "=q"(zl) : "r"(s) : "cc");
    __asm__ volatile("lsl %2, %0\n\tsetz %1" : "+r"(lsl), "=q"(zs) : "r"(s) : "cc");
    __asm__ volatile("verr %w1\n\tsetz %0" : "=q"(zr) : "r"(s) : "cc");
    __asm__ volatile("verw %w1\n\tsetz %0" : "=q"(zw) : "r"(s) : "cc");
    p->lar = lar;
    p->lsl = lsl;
    p->zl = zl;
    p->zs = zs;
    p->zr = zr;
    p->zw = zw;
}

static void probe_all(struct probe *out)
{
    for (unsigned i = 0; i < NCASES; i++)
        probe_one(cases[i].sel, &out[i]);
}

/* ring-3 entry: probe everything, then int 0x80 back to the kernel */
void user_main(void);
void user_main(void)
{
    probe_all(res3);
    __asm__ volatile("int $0x80");
    for (;;)
        ;
}

static void sys_exit(struct regs *r)
{
    user_return(0);
}

static uint32_t expected_lar(uint16_t sel)
{
    uint64_t d = (sel & 4) ? ldt[sel >> 3] : gdt[sel >> 3];
    return (uint32_t)(d >> 32) & 0x00f0ff00;
}

static void report(int cpl, const struct probe *res)
{
    int bad = 0;
    printf("--- CPL %d\n", cpl);
    for (unsigned i = 0; i < NCASES; i++) {
        const struct sel_case *c = &cases[i];
        const struct probe *p = &res[i];
        uint32_t lar = p->zl ? (p->lar & ~0x000f0000u) : p->lar;
        printf("sel 0x%04x lar %d %p lsl %d %p verr %d verw %d  %s\n",
               c->sel, p->zl, lar, p->zs, p->lsl, p->zr, p->zw, c->what);
        uint8_t exp = cpl ? c->exp3 : c->exp0;
        uint8_t got = (p->zl ? F_L : 0) | (p->zs ? F_S : 0) |
                      (p->zr ? F_R : 0) | (p->zw ? F_W : 0);
        int ok = got == exp;
        ok &= p->zl ? lar == expected_lar(c->sel) : p->lar == NOPE;
        ok &= p->zs ? p->lsl == c->limit : p->lsl == NOPE;
        if (!ok) {
            bad++;
            printf("  ^ mismatch: expected ZF lar/lsl/verr/verw %d%d%d%d, lar %p, lsl %p\n",
                   !!(exp & F_L), !!(exp & F_S), !!(exp & F_R), !!(exp & F_W),
                   (exp & F_L) ? expected_lar(c->sel) : NOPE,
                   (exp & F_S) ? c->limit : NOPE);
        }
    }
    checkf(bad == 0, "CPL %d: all %d selectors as the SDM rules predict", cpl, (int)NCASES);
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    putln("seglimits: lar/lsl/verr/verw");

    idt_init();
    tss_init(0);
    idt_set_gate(0x80, isr_stub_table[0x80], SEL_KCODE, 0xe, 3);
    set_handler(0x80, sys_exit);

    /* GDT spare entries (system descriptors) */
    gdt_set(6, (uint32_t)ldt, sizeof ldt - 1, ACC_LDT, 0);          /* 0x30 */
    /* 0x38: 32-bit call gate, DPL 3, 2 parameters, to 0x08:0x12345678
     * (never called; lar shows dword 2 = offset 31:16 | P DPL type | count) */
    gdt_set_gate(7, SEL_KCODE, 0x12345678, 0xc, 3, 2);
    /* 0x40: a 386 interrupt gate in the GDT (invalid for lar/lsl) */
    gdt_set_gate(8, SEL_KCODE, 0x00105000, 0xe, 0, 0);
    /* 0x48: 16-bit available TSS */
    gdt_set(9, (uint32_t)&tss16_area, 0x2b, 0x81, 0);
    /* 0x50: reserved system type 8 */
    gdt_set(10, 0, 0xffff, 0x88, 0);
    /* 0x58: task gate to the TSS */
    gdt[11] = ((uint64_t)0x8500 << 32) | ((uint32_t)SEL_TSS << 16);

    /* LDT (accessed bit preset in every code/data entry) */
    ldt[0] = make_desc(0, 0xfffff, 0x93, GDT_F_32);         /* flat data */
    ldt[1] = make_desc(0x2000, 0xfff, 0x97, GDT_F_DB);      /* expand-down RW */
    ldt[2] = make_desc(0x3000, 0x123, 0x93, GDT_F_DB);      /* small byte-gran */
    ldt[3] = make_desc(0x4000, 0x12, 0x93, GDT_F_32);       /* 4K-gran */
    ldt[4] = make_desc(0, 0xfffff, 0x13, GDT_F_32);         /* not present */
    ldt[5] = make_desc(0, 0xfffff, 0xb3, GDT_F_32);         /* DPL 1 data */
    ldt[6] = make_desc(0, 0xfffff, 0xdb, GDT_F_32);         /* DPL 2 code R */
    ldt[7] = make_desc(0, 0xfffff, 0x99, GDT_F_32);         /* exec-only */
    ldt[8] = make_desc(0, 0xfffff, 0x9f, GDT_F_32);         /* conforming R */
    ldt[9] = make_desc(0, 0xfffff, 0x9d, GDT_F_32);         /* conforming X */
    ldt[10] = make_desc(0, 0xfffff, 0x91, GDT_F_32);        /* read-only */
    ldt[11] = make_desc(0x5000, 0xabcde, 0xf3, GDT_F_DB);   /* DPL 3 data */
    lldt(0x30);

    probe_all(res0);
    report(0, res0);

    run_user((uint32_t)user_main, (uint32_t)ustack + sizeof ustack);
    report(3, res3);

    /* high bits of the source register are ignored (16-bit selector) */
    {
        uint32_t lsl = NOPE;
        uint8_t z;
        __asm__ volatile("lsl %2, %0\n\tsetz %1" : "+r"(lsl), "=q"(z) : "r"(0xabcd005cu) : "cc");
        printf("lsl with source 0xabcd005c: ZF %d %p\n", z, lsl);
        check(z == 1 && lsl == 0xabcde, "lsl ignores source bits 31:16");
    }

    done();
}

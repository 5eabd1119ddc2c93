/*
 * attack_descr -- the descriptor-table registers and selectors a monitor
 * might keep for itself.
 *
 *  - SGDT, SIDT, SLDT, STR and SMSW are unprivileged (SDM vol 2; pre-VT
 *    hardware cannot trap them): ring 3 reads them and then uses the
 *    values: it reads every GDT descriptor through the SGDT base, the IDT
 *    gate of its system call through the SIDT base, its TSS (base from the
 *    descriptor STR names) and its LDT (base from the descriptor SLDT names)
 *    and loads DS from that LDT.  Everything must be the guest's own tables,
 *    with paging off and on.
 *  - Selectors past the GDT limit (0x5f) and past the LDT limit, and
 *    0xfff8/0xfffb/0xfffc/0xffff, loaded into DS, SS, ES (pop) and FS, and
 *    used by LCALL, LJMP and LRET, from ring 0 and ring 3: #GP(selector)
 *    (SDM vol 3A 5.4, 6.15); LAR/LSL/VERR just clear ZF.
 *  - A 64 KiB GDT (limit 0xffff) where 0xfff8 is an ordinary descriptor: a
 *    DPL-3 data segment loaded at ring 0 and ring 3, then a DPL-3 call gate
 *    called from ring 3 (a ring-3 target: no stack switch) and from ring 0
 *    (#GP: a call gate never leads outward), then a DPL-3 code segment.
 */
#include "attack.h"

static uint32_t pd[1024] PAGE;
static uint32_t pt0[1024] PAGE;
static uint64_t ldt[2] __attribute__((aligned(8)));
static uint64_t big_gdt[8192] __attribute__((aligned(4096)));
#define MARKER_ADDR 0x00300000u

#define SEL_LDT   0x30      /* GDT: the LDT */
#define SEL_GATE  0x38      /* GDT: DPL-3 call gate -> 0x1b:fn_a */

extern char fn_a[], fn_b[];
__asm__(".text\n"
        "fn_a: movl $0xaaaa0001, %eax\n lret\n"
        "fn_b: movl $0xbbbb0002, %eax\n lret\n");

/* ------------------------------------------------------------ (3) the registers at ring 3 */
static struct dtr u_gdtr, u_idtr;
static uint32_t u_ldtr, u_tr, u_msw;
static uint64_t u_gdt_copy[12];
static uint64_t u_gate80, u_ldt0;
static uint32_t u_tss_esp0, u_tss_ss0, u_ds_ldt, u_ldt_read, u_lar_ldt, u_lsl_ldt;

static uint32_t desc_base(uint64_t d)
{
    uint32_t lo = (uint32_t)d, hi = (uint32_t)(d >> 32);
    return (lo >> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000u);
}

static void user_registers(void)
{
    sgdt(&u_gdtr);
    sidt(&u_idtr);
    u_ldtr = sldt();
    u_tr = str();
    __asm__ volatile("smsw %0" : "=r"(u_msw));
    /* use them: the tables through the bases the registers show */
    const uint64_t *g = (const uint64_t *)u_gdtr.base;
    for (int i = 0; i < 12 && i * 8 + 7 <= u_gdtr.limit; i++)
        u_gdt_copy[i] = g[i];
    u_gate80 = ((const uint64_t *)u_idtr.base)[0x80];
    uint32_t tss_base = desc_base(g[u_tr >> 3]);
    u_tss_esp0 = ((const struct tss32 *)tss_base)->esp0;
    u_tss_ss0 = ((const struct tss32 *)tss_base)->ss0;
    uint32_t ldt_base = desc_base(g[u_ldtr >> 3]);
    u_ldt0 = ((const uint64_t *)ldt_base)[0];
    u_ds_ldt = try_load_ds(0x07);
    u_ldt_read = try_read_fs(0x07, 0);
    u_lar_ldt = try_lar(0x07);
    u_lsl_ldt = try_lsl(0x07);
    user_exit();
}

static void registers(const char *when)
{
    memset(u_gdt_copy, 0, sizeof u_gdt_copy);
    ring3(user_registers);
    printf("ring 3 (%s): sgdt %p/0x%04x sidt %p/0x%04x sldt 0x%04x str 0x%04x smsw 0x%04x\n",
           when, u_gdtr.base, u_gdtr.limit, u_idtr.base, u_idtr.limit, u_ldtr, u_tr,
           u_msw & 0xffff);
    check(u_gdtr.base == (uint32_t)gdt && u_gdtr.limit == 0x5f, "sgdt: the guest's GDT");
    check(u_idtr.base == (uint32_t)idt && u_idtr.limit == 0x7ff, "sidt: the guest's IDT");
    check(u_ldtr == SEL_LDT && u_tr == SEL_TSS, "sldt/str: the guest's selectors");
    check(!memcmp(u_gdt_copy, gdt, sizeof u_gdt_copy), "GDT read at ring 3 through sgdt");
    check(u_gate80 == idt[0x80], "IDT gate 0x80 read at ring 3 through sidt");
    check(u_tss_esp0 == tss.esp0 && u_tss_ss0 == SEL_KDATA, "TSS read at ring 3 through str");
    check(u_ldt0 == ldt[0], "LDT read at ring 3 through sldt");
    printf("ring 3: DS <- 0x07 gives 0x%04x, fs(0x07):0 = %p, lar 0x07 = %p, lsl 0x07 = %p\n",
           u_ds_ldt, u_ldt_read, u_lar_ldt, u_lsl_ldt);
    for (int i = 1; i < 6; i++)
        printf("  GDT[%d] seen at ring 3: %p %p\n", i, (uint32_t)(u_gdt_copy[i] >> 32),
               (uint32_t)u_gdt_copy[i]);
}

/* ------------------------------------------------------------ (4) selectors past the limits */
static const uint32_t bad[] = {0x60, 0x63, 0x17, 0xfff8, 0xfffb, 0xfffc, 0xffff};
static const char *const bad_names[][8] = {
    {"ds <- 0x60", "ss <- 0x60", "pop es 0x60", "fs <- 0x60", "lcall 0x60:0", "ljmp 0x60:0",
     "lret to 0x60:0", "lar/lsl/verr 0x60"},
    {"ds <- 0x63", "ss <- 0x63", "pop es 0x63", "fs <- 0x63", "lcall 0x63:0", "ljmp 0x63:0",
     "lret to 0x63:0", "lar/lsl/verr 0x63"},
    {"ds <- 0x17 (past the LDT)", "ss <- 0x17", "pop es 0x17", "fs <- 0x17", "lcall 0x17:0",
     "ljmp 0x17:0", "lret to 0x17:0", "lar/lsl/verr 0x17"},
    {"ds <- 0xfff8", "ss <- 0xfff8", "pop es 0xfff8", "fs <- 0xfff8", "lcall 0xfff8:0",
     "ljmp 0xfff8:0", "lret to 0xfff8:0", "lar/lsl/verr 0xfff8"},
    {"ds <- 0xfffb", "ss <- 0xfffb", "pop es 0xfffb", "fs <- 0xfffb", "lcall 0xfffb:0",
     "ljmp 0xfffb:0", "lret to 0xfffb:0", "lar/lsl/verr 0xfffb"},
    {"ds <- 0xfffc", "ss <- 0xfffc", "pop es 0xfffc", "fs <- 0xfffc", "lcall 0xfffc:0",
     "ljmp 0xfffc:0", "lret to 0xfffc:0", "lar/lsl/verr 0xfffc"},
    {"ds <- 0xffff", "ss <- 0xffff", "pop es 0xffff", "fs <- 0xffff", "lcall 0xffff:0",
     "ljmp 0xffff:0", "lret to 0xffff:0", "lar/lsl/verr 0xffff"},
};

static void bad_selectors(void)
{
    for (uint32_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t s = bad[i];
        PROBE(bad_names[i][0], try_load_ds(s));
        PROBE(bad_names[i][1], try_load_ss(s));
        PROBE(bad_names[i][2], try_pop_es(s));
        PROBE(bad_names[i][3], try_read_fs(s, 0));
        PROBE(bad_names[i][4], try_lcall(s, 0));
        PROBE(bad_names[i][5], try_ljmp(s, 0));
        PROBE(bad_names[i][6], try_lret(s, 0));
        PROBE(bad_names[i][7], try_lar(s) & try_lsl(s) & (try_verr(s) ? 0xffffffff : 0x7fffffff));
    }
}

static void user_bad_selectors(void)
{
    bad_selectors();
    user_exit();
}

/* ------------------------------------------------------------ 0xfff8 inside a 64 KiB GDT */
static void big_gdt_probes(void)
{
    PROBE("fs <- 0xfffb (DPL 3 data), fs:0", try_read_fs(0xfffb, 0));
    PROBE("ds <- 0xfffb", try_load_ds(0xfffb));
    PROBE("fs <- 0xfff0 (DPL 0 data), fs:0", try_read_fs(0xfff0, 0));
    PROBE("lar 0xfffb", try_lar(0xfffb));
    PROBE("lsl 0xfffb", try_lsl(0xfffb));
    PROBE("lcall 0xfffb:0 (a data segment)", try_lcall(0xfffb, 0));
}

static void user_big_gdt(void)
{
    big_gdt_probes();
    user_exit();
}

static void user_gate(void)
{
    PROBE("lcall 0xfffb:0 (call gate -> fn_a)", try_lcall(0xfffb, 0));
    PROBE("lcall 0x3b:0 (call gate -> fn_a)", try_lcall(SEL_GATE | 3, 0));
    user_exit();
}

static void user_code_fff8(void)
{
    PROBE("lcall 0xfffb:fn_a (DPL 3 code)", try_lcall(0xfffb, (uint32_t)fn_a));
    PROBE("lcall 0x3b:0 (call gate -> fn_a)", try_lcall(SEL_GATE | 3, 0));
    user_exit();
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    (void)mbi;
    putln("attack_descr: descriptor-table registers and selectors at ring 3 and ring 0");
    attack_init();
    V32(MARKER_ADDR) = 0x3a3a3a3a;
    ldt[0] = make_desc(MARKER_ADDR, 0xfff, ACC_DATA_R3 | 1, GDT_F_DB);   /* accessed preset */
    ldt[1] = make_desc(0, 0xfffff, ACC_CODE_R3 | 1, GDT_F_32);
    gdt_set(SEL_LDT >> 3, (uint32_t)ldt, sizeof ldt - 1, ACC_LDT, 0);
    gdt_set_gate(SEL_GATE >> 3, SEL_UCODE, (uint32_t)fn_a, 0xc, 3, 0);
    lldt(SEL_LDT);

    putln("-- (3) sgdt/sidt/sldt/str/smsw at ring 3, and what they point at");
    registers("paging off");
    identity_map(pd, pt0);
    paging_on(pd);
    registers("paging on");

    putln("-- (4) selectors past the limits, ring 0");
    bad_selectors();
    flush();
    putln("-- (4) the same at ring 3");
    ring3(user_bad_selectors);
    flush();

    putln("-- a 64 KiB GDT: 0xfff8 is a DPL 3 data segment, 0xfff0 a DPL 0 one");
    memcpy(big_gdt, gdt, sizeof gdt);
    big_gdt[0xfff8 >> 3] = make_desc(MARKER_ADDR, 0xfff, ACC_DATA_R3 | 1, GDT_F_DB);
    big_gdt[0xfff0 >> 3] = make_desc(MARKER_ADDR, 0xfff, ACC_DATA_R0 | 1, GDT_F_DB);
    struct dtr big = {0xffff, (uint32_t)big_gdt};
    lgdt(&big);
    big_gdt_probes();
    flush();
    ring3(user_big_gdt);
    flush();

    putln("-- 0xfff8 a DPL 3 call gate to ring-3 code (fn_a)");
    uint64_t save = gdt[SEL_GATE >> 3];
    big_gdt[0xfff8 >> 3] = save;
    big_gdt[SEL_GATE >> 3] = save;
    PROBE("lcall 0xfff8:0 at ring 0 (outward)", try_lcall(0xfff8, 0));
    flush();
    ring3(user_gate);
    flush();

    putln("-- 0xfff8 a DPL 3 code segment based at fn_b - fn_a");
    big_gdt[0xfff8 >> 3] = make_desc((uint32_t)fn_b - (uint32_t)fn_a, 0xfffff, ACC_CODE_R3 | 1,
                                     GDT_F_32);
    ring3(user_code_fff8);
    flush();
    lgdt(&gdt_ptr);
    struct dtr now;
    sgdt(&now);
    printf("back on the library GDT: sgdt %p/0x%04x\n", now.base, now.limit);
    printf("%u faults caught\n", nfaults);
    done();
}

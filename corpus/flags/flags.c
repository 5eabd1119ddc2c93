/*
 * flags -- EFLAGS as seen through PUSHF/POPF, LAHF/SAHF, CLI/STI, STD/CLD,
 * STC/CLC/CMC and arithmetic, at CPL 0.
 *
 * POPF is the textbook non-trapping sensitive instruction (Popek/Goldberg,
 * Robin & Irvine): at CPL 0 it writes IF and IOPL, at CPL > 0 it silently
 * drops them.  A monitor running this kernel deprivileged must make every
 * value below come out as on bare metal.  SDM vol. 1 3.4.3 (EFLAGS),
 * vol. 2 PUSHF/POPF, LAHF/SAHF, CLI/STI; vol. 3 2.3.
 *
 *  - bit 1 always reads 1, bits 3, 5, 15, 22..31 read 0;
 *  - at CPL 0 POPF writes CF PF AF ZF SF TF(not used) IF DF OF IOPL NT AC
 *    ID; RF is cleared, VM/VIF/VIP are unaffected (they are 0 here);
 *  - pushfw/popfw (16-bit operand size) move bits 15:0 only;
 *  - LAHF gives SF:ZF:0:AF:0:PF:1:CF, SAHF writes those five flags only;
 *  - flags produced by ADD/SUB/INC/XOR are printed masked only of the
 *    flags the SDM calls undefined for that instruction (AF after XOR).
 *  - at CPL 3 POPF never changes IOPL and changes IF only if CPL <= IOPL
 *    (entered via iret with IOPL 0 and 3; AC set at CPL 3 is harmless
 *    because CR0.AM is 0).
 * Every POPF sequence restores a clean EFLAGS in the same asm statement,
 * so C code never runs with DF/AC/NT set.  The PICs are masked before STI.
 */
#include "lib.h"

#define ARITH (EFL_CF | EFL_PF | EFL_AF | EFL_ZF | EFL_SF | EFL_OF)

/* popf v; pushf -> result; then restore 0x2 */
static uint32_t popf_pushf(uint32_t v)
{
    uint32_t r;
    __asm__ volatile(
        "pushfl\n\t"
        "pushl %1\n\t"
        "popfl\n\t"
        "pushfl\n\t"
        "popl %0\n\t"
        "popfl\n\t"
        : "=&r"(r) : "r"(v) : "memory", "cc");
    return r;
}

static void try_popf(const char *what, uint32_t v, uint32_t expect)
{
    uint32_t r = popf_pushf(v);
    printf("popf %p -> pushf %p  (%s)\n", v, r, what);
    checkf(r == expect, "%s", what);
}

/* ---- ring 3: popf drops IOPL always and IF unless CPL <= IOPL */
static volatile uint32_t user_res[4];
static uint8_t ustack[1024] __attribute__((aligned(16)));

static void sys_exit(struct regs *r)
{
    user_return(r->eax);
}

/* user_popf: res[0] = pushf on entry, res[1] = pushf after popf of
 * IF|IOPL=3|CF|AC, res[2] = pushf after popf of 0x2 */
void user_popf(void);
__asm__(
    ".text\n"
    "user_popf:\n"
    "  pushfl\n"
    "  popl user_res\n"
    "  pushl $0x00043203\n"
    "  popfl\n"
    "  pushfl\n"
    "  popl user_res+4\n"
    "  pushl $0x2\n"
    "  popfl\n"
    "  pushfl\n"
    "  popl user_res+8\n"
    "  movl $0, %eax\n"
    "  int $0x80\n"
    "  jmp .\n");

static void user_probe(uint32_t iopl, uint32_t e0, uint32_t e1, uint32_t e2)
{
    uint32_t saved = read_eflags();
    write_eflags(0x2 | (iopl << 12));
    run_user((uint32_t)user_popf, (uint32_t)ustack + sizeof ustack);
    write_eflags(saved);
    printf("ring 3, IOPL=%u: entry %p, popf 0x43203 -> %p, popf 0x2 -> %p\n",
           iopl, user_res[0], user_res[1], user_res[2]);
    checkf(user_res[0] == e0 && user_res[1] == e1 && user_res[2] == e2,
           "ring-3 popf with IOPL=%u", iopl);
}


void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    uint32_t f;

    putln("flags: pushf/popf at CPL 0");
    pic_mask_all();

    /* reads between C statements: the arithmetic flags there depend on
     * compiler-generated code, so they are masked out */
    f = read_eflags() & ~ARITH;
    printf("eflags at kmain (arith masked) %p\n", f);
    check_eq("eflags after boot (popf 0)", f, 0x2);

    /* ---- IF */
    cli();
    f = read_eflags() & ~ARITH;
    printf("after cli %p\n", f);
    check_eq("cli -> IF=0", f & EFL_IF, 0);
    sti();
    f = read_eflags() & ~ARITH;
    printf("after sti %p\n", f);
    check_eq("sti -> IF=1", f & EFL_IF, EFL_IF);
    cli();

    /* ---- reserved bits */
    try_popf("bit 1 reads 1", 0x0, 0x2);
    try_popf("bits 3,5,15 read 0", 0x8028, 0x2);
    try_popf("bits 22..31 read 0", 0xffc00000, 0x2);

    /* ---- IOPL 0..3 */
    for (uint32_t pl = 0; pl < 4; pl++) {
        f = popf_pushf(0x2 | (pl << 12));
        printf("popf IOPL=%u -> %p\n", pl, f);
        checkf(f == (0x2 | (pl << 12)), "IOPL=%u writable at CPL 0", pl);
    }

    /* ---- arithmetic flags, DF, NT, AC, ID, IF via popf */
    try_popf("all arithmetic flags set", 0x2 | ARITH, 0x2 | ARITH);
    try_popf("CF only", 0x2 | EFL_CF, 0x2 | EFL_CF);
    try_popf("PF only", 0x2 | EFL_PF, 0x2 | EFL_PF);
    try_popf("AF only", 0x2 | EFL_AF, 0x2 | EFL_AF);
    try_popf("ZF only", 0x2 | EFL_ZF, 0x2 | EFL_ZF);
    try_popf("SF only", 0x2 | EFL_SF, 0x2 | EFL_SF);
    try_popf("OF only", 0x2 | EFL_OF, 0x2 | EFL_OF);
    try_popf("DF", 0x2 | EFL_DF, 0x2 | EFL_DF);
    try_popf("IF via popf", 0x2 | EFL_IF, 0x2 | EFL_IF);
    try_popf("NT", 0x2 | EFL_NT, 0x2 | EFL_NT);
    try_popf("AC (486+)", 0x2 | EFL_AC, 0x2 | EFL_AC);
    try_popf("ID (CPUID-capable)", 0x2 | EFL_ID, 0x2 | EFL_ID);
    try_popf("RF is cleared by popf", 0x2 | EFL_RF, 0x2);
    try_popf("VM/VIF/VIP unaffected by popf", 0x2 | EFL_VM | EFL_VIF | EFL_VIP, 0x2);
    try_popf("everything but TF",
             0xffffffff & ~EFL_TF,
             0x2 | ARITH | EFL_IF | EFL_DF | EFL_IOPL | EFL_NT | EFL_AC | EFL_ID);

    /* ---- 16-bit pushf/popf: bits 31:16 unaffected */
    {
        uint32_t r16, r32;
        __asm__ volatile(
            "pushfl\n\t"
            "pushl $0x00240002\n\t"      /* AC|ID set */
            "popfl\n\t"
            "pushw $0x0ed7\n\t"          /* all arith + DF + OF + IOPL 0 + NT 0 */
            "popfw\n\t"
            "pushfw\n\t"
            "popw %w0\n\t"
            "pushfl\n\t"
            "popl %1\n\t"
            "popfl\n\t"
            : "=&r"(r16), "=&r"(r32) : "0"(0xdead0000) : "memory", "cc");
        printf("popfw 0x0ed7 over AC|ID: pushfw %p pushfl %p\n", r16, r32);
        check_eq("pushfw stores 16 bits", r16, 0xdead0ed7);
        check_eq("popfw keeps AC and ID", r32, 0x00240ed7 & ~0x28u);
    }

    /* ---- flag instructions */
    {
        uint32_t a, b, c, d, e;
        __asm__ volatile(
            "pushfl\n\t"
            "pushl $2\n\t" "popfl\n\t"
            "stc\n\t" "pushfl\n\t" "popl %0\n\t"
            "cmc\n\t" "pushfl\n\t" "popl %1\n\t"
            "cmc\n\t" "clc\n\t" "std\n\t" "pushfl\n\t" "popl %2\n\t"
            "cld\n\t" "sti\n\t" "pushfl\n\t" "popl %3\n\t"
            "cli\n\t" "pushfl\n\t" "popl %4\n\t"
            "popfl\n\t"
            : "=&r"(a), "=&r"(b), "=&r"(c), "=&r"(d), "=&r"(e) :: "memory", "cc");
        printf("stc %p cmc %p clc+std %p cld+sti %p cli %p\n", a, b, c, d, e);
        check(a == 0x3 && b == 0x2 && c == 0x402 && d == 0x202 && e == 0x2,
              "stc/cmc/clc/std/cld/sti/cli");
    }

    /* ---- LAHF / SAHF */
    {
        uint32_t ah, fl;
        __asm__ volatile(
            "pushfl\n\t"
            "pushl $0x8d7\n\t" "popfl\n\t"   /* CF PF AF ZF SF OF */
            "movl $0x12345678, %%eax\n\t"
            "lahf\n\t"
            "movl %%eax, %0\n\t"
            "popfl\n\t"
            : "=r"(ah) :: "eax", "memory", "cc");
        printf("lahf with all arith flags: eax %p\n", ah);
        check_eq("lahf = SF:ZF:0:AF:0:PF:1:CF", ah, 0x1234d778);
        __asm__ volatile(
            "pushfl\n\t"
            "pushl $0x802\n\t" "popfl\n\t"   /* OF set, rest clear */
            "movl $0x0000ff00, %%eax\n\t"
            "sahf\n\t"                      /* AH=0xff: sets SF ZF AF PF CF */
            "pushfl\n\t"
            "popl %0\n\t"
            "popfl\n\t"
            : "=r"(fl) :: "eax", "memory", "cc");
        printf("sahf 0xff over OF: eflags %p\n", fl);
        check_eq("sahf writes SF ZF AF PF CF only (OF kept, bits 3/5 0)", fl, 0x8d7);
    }

    /* ---- arithmetic results */
    {
        uint32_t add, sub, inc, xr, x = 0x7fffffff, y = 0, z = 0xffffffff;
        __asm__ volatile(
            "pushfl\n\t"
            "pushl $2\n\t" "popfl\n\t"
            "addl $1, %1\n\t" "pushfl\n\t" "popl %0\n\t"
            "popfl\n\t"
            : "=&r"(add), "+r"(x) :: "memory", "cc");
        __asm__ volatile(
            "pushfl\n\t"
            "pushl $2\n\t" "popfl\n\t"
            "subl $1, %1\n\t" "pushfl\n\t" "popl %0\n\t"
            "popfl\n\t"
            : "=&r"(sub), "+r"(y) :: "memory", "cc");
        __asm__ volatile(
            "pushfl\n\t"
            "pushl $3\n\t" "popfl\n\t"       /* CF=1: INC must keep it */
            "incl %1\n\t" "pushfl\n\t" "popl %0\n\t"
            "popfl\n\t"
            : "=&r"(inc), "+r"(z) :: "memory", "cc");
        __asm__ volatile(
            "pushfl\n\t"
            "pushl $0x8d7\n\t" "popfl\n\t"
            "xorl %%eax, %%eax\n\t" "pushfl\n\t" "popl %0\n\t"
            "popfl\n\t"
            : "=r"(xr) :: "eax", "memory", "cc");
        printf("0x7fffffff+1: %p  0-1: %p  inc 0xffffffff (CF in): %p  xor (AF masked): %p\n",
               add, sub, inc, xr & ~EFL_AF);
        check_eq("add overflow flags (OF SF AF PF)", add, 0x896);
        check_eq("sub borrow flags (CF PF AF SF)", sub, 0x97);
        check_eq("inc wraps: ZF PF AF, CF preserved", inc, 0x57);
        check_eq("xor: ZF PF, CF OF cleared", xr & ~EFL_AF, 0x46);
    }

    /* ---- ring 3 */
    idt_init();
    tss_init(0);
    idt_set_gate(0x80, isr_stub_table[0x80], SEL_KCODE, 0xe, 3);
    set_handler(0x80, sys_exit);
    /* IOPL 0: IF and IOPL ignored; CF and AC written */
    user_probe(0, 0x2, 0x40003, 0x2);
    /* IOPL 3: IF written (CPL <= IOPL), IOPL still ignored (CPL > 0) */
    user_probe(3, 0x3002, 0x43203, 0x3002);

    f = read_eflags() & ~ARITH;
    printf("eflags at end (arith masked) %p\n", f);
    check_eq("eflags at end", f, 0x2);
    done();
}

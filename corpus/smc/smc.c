/*
 * smc -- self-modifying code: stores into instructions that have already
 * been executed (and so translated / cached) or are about to be.
 *
 * Architecture (Intel SDM vol 3): 11.6 "Self-Modifying Code": a write to a
 * code location invalidates the cached line (physical address); P6 and
 * later also invalidate prefetched instructions hit by a write through the
 * same linear address, so a store to an instruction a few bytes ahead in
 * the same basic block takes effect (all processors since the P6 and
 * QEMU do this).  8.1.3 "Handling Self- and Cross-Modifying Code": the
 * portable form is store, then jump to the new code; the tests that write
 * through a different linear address (a paging alias) always jump (call)
 * afterwards, since the prefetch check is by linear address.
 *
 * Probes:
 *  - patch the imm32 of a MOV a few instructions ahead in the same block,
 *    and of the very next instruction;
 *  - a loop whose body increments the immediate of its own ADD each pass;
 *  - stores to data sharing a page with hot code (no code change: a
 *    page-granular write detector must not break anything);
 *  - rewrite a function after calling it many times (immediate, then whole
 *    new instruction sequences);
 *  - generate 256 different small functions into one buffer, at shifting
 *    offsets, calling each (stale translations give a wrong checksum);
 *  - patch a JMP rel32 and a JMP rel8 target, and a JZ into JNZ;
 *  - patch the half of an instruction that lies on the next page;
 *  - with paging: write through a second virtual mapping of a code page,
 *    then call through the first, and the reverse.
 * A binary translator must notice every one of these writes.
 */
#include "lib.h"

extern uint32_t smc_same_block(uint32_t), smc_next_insn(uint32_t), smc_loop(uint32_t);
extern uint32_t data_in_code_page(uint32_t);
extern uint32_t patch_target(void), jmp_site(void), short_site(void), cond_site(uint32_t);
extern uint32_t xpage_fn(void), alias_fn(void);
extern char jmp_rel32[], jt_a[], jt_b[], short_rel8[], st_a[], st_b[], cond_jcc[];

#define B(a) (*(volatile uint8_t *)(a))
#define W(a) (*(volatile uint32_t *)(a))

typedef uint32_t (*fn1_t)(uint32_t);

static uint8_t genbuf[64] __attribute__((aligned(16)));

/* emit one of four function shapes; returns its expected result for arg */
static uint32_t gen(uint8_t *p, uint32_t k, uint32_t arg)
{
    uint32_t imm = k * 0x9e3779b9u;
    int n = 0;
    switch (k & 3) {
    case 0:                             /* mov $imm, %eax; ret */
        p[n++] = 0xb8;
        break;
    case 1:                             /* mov 4(%esp),%eax; add $imm,%eax; ret */
        p[n++] = 0x8b; p[n++] = 0x44; p[n++] = 0x24; p[n++] = 0x04;
        p[n++] = 0x05;
        break;
    case 2:                             /* mov 4(%esp),%eax; imul $imm,%eax,%eax; ret */
        p[n++] = 0x8b; p[n++] = 0x44; p[n++] = 0x24; p[n++] = 0x04;
        p[n++] = 0x69; p[n++] = 0xc0;
        break;
    case 3:                             /* mov 4(%esp),%ecx; xor %eax,%eax;
                                           1: add %ecx,%eax; dec %ecx; jnz 1b;
                                           xor $imm,%eax; ret */
        p[n++] = 0x8b; p[n++] = 0x4c; p[n++] = 0x24; p[n++] = 0x04;
        p[n++] = 0x31; p[n++] = 0xc0;
        p[n++] = 0x01; p[n++] = 0xc8;
        p[n++] = 0x49;
        p[n++] = 0x75; p[n++] = 0xfb;
        p[n++] = 0x35;
        break;
    }
    for (int i = 0; i < 4; i++)
        p[n++] = (uint8_t)(imm >> (8 * i));
    p[n++] = 0xc3;
    switch (k & 3) {
    case 0: return imm;
    case 1: return arg + imm;
    case 2: return arg * imm;
    default: return (arg * (arg + 1) / 2) ^ imm;
    }
}

static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt[1024] __attribute__((aligned(4096)));

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    (void)mbi;
    putln("smc: self-modifying code");

    putln("-- same block");
    uint32_t a = smc_same_block(0x2a), b = smc_same_block(0x55);
    printf("patch imm 3 insns ahead: %p then %p\n", a, b);
    check(a == 0x2a && b == 0x55, "store into a later instruction of the running block");
    a = smc_next_insn(0x1234);
    b = smc_next_insn(0x5678);
    printf("patch the next insn: %p then %p\n", a, b);
    check(a == 0x1234 && b == 0x5678, "store into the very next instruction");
    a = smc_loop(100);
    b = smc_loop(10);
    printf("loop patching its own add: n=100 -> %u, n=10 -> %u\n", a, b);
    check(a == 5050 && b == 55, "immediate bumped every pass");
    a = data_in_code_page(1000);
    printf("data stores next to hot code: %u\n", a);
    check_eq("data in a code page", a, 3000);

    putln("-- rewrite a called function");
    uint32_t s = 0;
    for (int i = 0; i < 50; i++)
        s += patch_target();
    W((uint32_t)patch_target + 1) = 2;
    a = patch_target();
    static const uint8_t neg1[] = {0x31, 0xc0, 0x48, 0xc3};    /* xor; dec; ret */
    for (int i = 0; i < 4; i++)
        B((uint32_t)patch_target + i) = neg1[i];
    b = patch_target();
    static const uint8_t seq[] = {0xb8, 0x00, 0x00, 0x00, 0x00,  /* mov $0,%eax */
                                  0x05, 0x11, 0x00, 0x00, 0x00,  /* add $0x11,%eax */
                                  0xc1, 0xe0, 0x04,              /* shl $4,%eax */
                                  0x40,                          /* inc %eax */
                                  0xc3};
    for (unsigned i = 0; i < sizeof seq; i++)
        B((uint32_t)patch_target + i) = seq[i];
    uint32_t c = patch_target();
    printf("50 calls sum %u; imm patched -> %p; xor/dec -> %p; new sequence -> %p\n", s, a, b, c);
    check(s == 50 && a == 2 && b == 0xffffffff && c == 0x111, "function rewritten between calls");

    putln("-- generated code");
    uint32_t sum = 0, want = 0;
    for (uint32_t k = 0; k < 256; k++) {
        uint8_t *p = genbuf + (k % 5) * 3;
        uint32_t arg = k * 7 + 1;
        want = want * 31 + gen(p, k, arg);
        sum = sum * 31 + ((fn1_t)p)(arg);
    }
    printf("256 generated functions: checksum %p\n", sum);
    check_eq("generated code checksum", sum, want);

    putln("-- jump targets");
    a = jmp_site();
    W(jmp_rel32) = (uint32_t)jt_b - ((uint32_t)jmp_rel32 + 4);
    b = jmp_site();
    W(jmp_rel32) = (uint32_t)jt_a - ((uint32_t)jmp_rel32 + 4);
    c = jmp_site();
    printf("jmp rel32: %p, retargeted %p, back %p\n", a, b, c);
    check(a == 0xa && b == 0xb && c == 0xa, "jmp rel32 patched");
    a = short_site();
    B(short_rel8) = (uint8_t)((uint32_t)st_b - ((uint32_t)short_rel8 + 1));
    b = short_site();
    printf("jmp rel8: %p, retargeted %p\n", a, b);
    check(a == 0xc && b == 0xd, "jmp rel8 patched");
    a = cond_site(0);
    B(cond_jcc) = 0x75;                 /* jz -> jnz */
    b = cond_site(0);
    c = cond_site(1);
    printf("jz -> jnz: f(0) %p, then f(0) %p f(1) %p\n", a, b, c);
    check(a == 0x20 && b == 0x10 && c == 0x20, "condition patched");

    putln("-- instruction across a page boundary");
    a = xpage_fn();
    B((uint32_t)xpage_fn + 3) = 0xcc;  /* bytes on the second page */
    B((uint32_t)xpage_fn + 4) = 0xdd;
    b = xpage_fn();
    printf("xpage_fn at page offset 0x%x: %p, second-page bytes patched %p\n",
           (uint32_t)xpage_fn & 0xfff, a, b);
    check(a == 0x44332211 && b == 0xddcc2211, "second page of an instruction patched");

    putln("-- alias mapping (paging)");
    uint32_t code = (uint32_t)alias_fn;
    uint32_t alias = 0x00800000 + (code & 0xfff);
    pd[0] = 0x83;                       /* 0-4 MiB identity, 4 MiB page */
    pd[2] = (uint32_t)pt | 3;
    pt[0] = (code & ~0xfffu) | 3;       /* 0x00800000 -> alias_fn's page */
    write_cr3((uint32_t)pd);
    write_cr4(read_cr4() | 0x10);
    write_cr0(read_cr0() | CR0_PG | CR0_WP);
    uint32_t r0 = 0;
    for (int i = 0; i < 10; i++)
        r0 = alias_fn();
    W(alias + 1) = 0x0b0b0b0b;          /* write via the alias */
    uint32_t r1 = alias_fn();           /* call via the original */
    uint32_t r2 = ((uint32_t (*)(void))alias)();    /* call via the alias */
    W(code + 1) = 0x0c0c0c0c;           /* write via the original */
    uint32_t r3 = ((uint32_t (*)(void))alias)();
    uint32_t r4 = alias_fn();
    printf("alias_fn %p; written via alias -> %p (alias call %p);\n", r0, r1, r2);
    printf("  written via original -> alias call %p, original call %p\n", r3, r4);
    check(r0 == 0x0a0a0a0a && r1 == 0x0b0b0b0b && r2 == 0x0b0b0b0b && r3 == 0x0c0c0c0c &&
          r4 == 0x0c0c0c0c, "code written through one mapping runs through the other");
    write_cr0(read_cr0() & ~CR0_PG);
    done();
}

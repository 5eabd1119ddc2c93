/*
 * attack_alias -- modify kernel code that has already run (and so been
 * translated by a binary translator) through other mappings of the same
 * physical page, and run it again.  SDM vol 3A 8.1.3: after a store to
 * code, a jump (here: the call) makes the new bytes the ones executed;
 * code is cached by physical address, so an alias at another linear
 * address, a 4 MiB page alias, a ring-3 alias and paging turned off and on
 * all count.  (Remapping the linear address of code: attack_remap.)
 *
 * Steps (every call must return the value last written):
 *   patch through a 4 KiB alias (0x40000000), a 4 MiB alias (0x40400000);
 *   run the code through the alias, patch through the identity map;
 *   patch from ring 3 through a user alias (0x40800000), run at ring 3 too;
 *   copy a new function body over the old with REP MOVSB through the alias;
 *   a function that patches an instruction ahead of itself through the
 *   alias, then jumps to it;
 *   paging off: patch and run at the physical address; paging on again.
 */
#include "attack.h"

static uint32_t pd[1024] PAGE;
static uint32_t pt0[1024] PAGE;
static uint32_t pt_alias[1024] PAGE;    /* 0x40000000: supervisor alias of 0-4 MiB */
static uint32_t pt_ualias[1024] PAGE;   /* 0x40800000: user alias of 0-4 MiB */

#define ALIAS(a)  (0x40000000u + (uint32_t)(a))
#define ALIAS4M(a) (0x40400000u + (uint32_t)(a))
#define UALIAS(a) (0x40800000u + (uint32_t)(a))

extern char smc_fn[], smc_imm[], self_patch[], sp_imm[], new_body[],
    new_body_end[];
__asm__(".text\n"
        ".balign 4096\n"
        "smc_fn: .byte 0xb8\n"                  /* mov $imm32, %eax */
        "smc_imm: .long 0x11111111\n"
        "       ret\n"
        "       .balign 64\n"
        "self_patch:\n"                         /* (uint32_t where) */
        "       movl 4(%esp), %edx\n"
        "       movl $0x99999999, (%edx)\n"
        "       jmp 1f\n"
        "1:     .byte 0xb8\n"
        "sp_imm: .long 0x12345678\n"
        "       ret\n"
        ".balign 4096\n"
        "       .section .rodata\n"
        "new_body: movl $0x77777770, %eax\n addl $7, %eax\n ret\n"
        "new_body_end:\n"
        "       .text\n");

typedef uint32_t (*fn_t)(void);
static uint32_t call(uint32_t addr)
{
    return ((fn_t)addr)();
}

static uint32_t u_ret1, u_ret2;
static void user_patch(void)
{
    V32(UALIAS(smc_imm)) = 0x55555555;
    u_ret1 = call((uint32_t)smc_fn);
    user_exit();
}

static void user_run(void)
{
    u_ret2 = call((uint32_t)smc_fn);
    user_exit();
}

static void step(const char *what, uint32_t got, uint32_t want)
{
    printf("%-58s %p\n", what, got);
    if (got != want) {
        printf("FAIL: expected %p\n", want);
        check_failures++;
    }
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    (void)mbi;
    putln("attack_alias: kernel code modified through other mappings, run again");
    attack_init();
    identity_map(pd, pt0);
    for (int i = 0; i < 1024; i++) {
        pt_alias[i] = ((uint32_t)i << 12) | PG_P | PG_RW;
        pt_ualias[i] = ((uint32_t)i << 12) | PG_P | PG_RW | PG_US;
    }
    pd[256] = (uint32_t)pt_alias | PG_P | PG_RW | PG_US;
    pd[257] = 0 | PG_PS | PG_P | PG_RW;
    pd[258] = (uint32_t)pt_ualias | PG_P | PG_RW | PG_US;

    step("paging off: smc_fn", call((uint32_t)smc_fn), 0x11111111);
    paging_on(pd);
    step("paging on: smc_fn", call((uint32_t)smc_fn), 0x11111111);
    V32(ALIAS(smc_imm)) = 0x22222222;
    step("patched through the 4 KiB alias", call((uint32_t)smc_fn), 0x22222222);
    V32(ALIAS4M(smc_imm)) = 0x33333333;
    step("patched through the 4 MiB alias", call((uint32_t)smc_fn), 0x33333333);
    step("run through the alias", call(ALIAS(smc_fn)), 0x33333333);
    V32((uint32_t)smc_imm) = 0x44444444;
    step("patched through the identity map, run through the alias", call(ALIAS(smc_fn)),
         0x44444444);
    step("  and through the identity map", call((uint32_t)smc_fn), 0x44444444);
    ring3(user_patch);
    step("ring 3 patched through its alias, ran it", u_ret1, 0x55555555);
    step("ring 0 runs it", call((uint32_t)smc_fn), 0x55555555);
    V32(ALIAS(smc_imm)) = 0x66666666;
    ring3(user_run);
    step("ring 0 patched through the alias, ring 3 ran it", u_ret2, 0x66666666);
    step("ring 0 runs it", call((uint32_t)smc_fn), 0x66666666);
    {
        void *d = (void *)ALIAS(smc_fn);
        const void *s = new_body;
        uint32_t n = new_body_end - new_body;
        __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) :: "memory");
    }
    step("new body copied through the alias (rep movsb)", call((uint32_t)smc_fn), 0x77777777);
    step("self_patch (patches ahead of itself through the alias)",
         ((uint32_t (*)(uint32_t))self_patch)(ALIAS(sp_imm)), 0x99999999);
    step("self_patch again", ((uint32_t (*)(uint32_t))self_patch)(ALIAS(sp_imm)), 0x99999999);

    write_cr0(read_cr0() & ~CR0_PG);
    step("paging off: smc_fn", call((uint32_t)smc_fn), 0x77777777);
    V32((uint32_t)smc_fn + 1) = 0x77777000;
    step("paging off: patched at its physical address", call((uint32_t)smc_fn), 0x77777007);
    write_cr0(read_cr0() | CR0_PG);
    V32(ALIAS(smc_fn) + 1) = 0x77770000;
    step("paging on: patched through the alias", call((uint32_t)smc_fn), 0x77770007);
    printf("%u faults caught\n", nfaults);
    done();
}

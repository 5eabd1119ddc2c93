/*
 * attack_x87run -- a long straight run of x87 register instructions
 * (1024 x FXCH ST(1), no branch), ordinary unprivileged code any program may
 * contain: it must simply run (SDM vol 1 8.1; CR0.EM=0, TS=0).  Run at
 * ring 3 by default; final=r0 runs it at ring 0 instead.
 *
 * (unicorn 2.1.4 crashes the host process -- SIGSEGV in emu_start -- on a
 * straight run of a few hundred such instructions in one translation block.)
 */
#include "attack.h"

extern char x87_run[];
__asm__(".text\n"
        "x87_run:\n"
        "       fninit\n"
        "       fld1\n"
        "       fldz\n"
        "       .rept 1024\n"
        "       fxch %st(1)\n"
        "       .endr\n"
        "       fstp %st(0)\n"          /* the 1.0 or the 0.0: 1024 swaps leave 0.0 on top */
        "       fistpl x87_result\n"
        "       ret\n"
        "       .data\n"
        "       .globl x87_result\n"
        "x87_result: .long 0x7777\n"
        "       .text\n");

extern uint32_t x87_result;

static void user_run(void)
{
    ((void (*)(void))x87_run)();
    user_exit();
}

static void final_r3(void)
{
    ring3(user_run);
}

static void final_r0(void)
{
    ((void (*)(void))x87_run)();
}

static const struct final_probe finals[] = {
    {"r3", "1024 x fxch at ring 3", "it runs on every machine", final_r3},
    {"r0", "1024 x fxch at ring 0", "it runs on every machine", final_r0},
};

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    putln("attack_x87run: a straight run of 1024 x87 instructions");
    attack_init();
    final_probe(mbi, finals, sizeof finals / sizeof finals[0]);
    printf("after 1024 fxch the top of the stack was popped, then %u stored\n", x87_result);
    check_eq("fistp of the remaining 1.0", x87_result, 1);
    done();
}

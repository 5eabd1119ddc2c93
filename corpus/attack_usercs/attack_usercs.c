/*
 * attack_usercs -- ring-3 code changes CS on its own (a far call, a far
 * jump and a far return to another DPL-3 code segment, whose base is not
 * 0: the processor does these without the kernel), then traps.
 *
 * On any x86 the exception frame holds the CS the code was running in and
 * IRET resumes there (SDM vol 3A 6.12.1): the kernel's handler sees CS 0x4b
 * (base 0x1000) and the EIP relative to that base, and execution continues
 * in that segment.  A monitor running user code directly must follow CS
 * changes the processor made without it.
 */
#include "attack.h"

static uint32_t pd[1024] PAGE;
static uint32_t pt0[1024] PAGE;

#define SEL_CODE_B 0x48     /* DPL 3 code, base 0x1000 */
#define BASE_B     0x1000u

extern char in_b[], in_b_int[], in_b_ret[], jmp_b[], jmp_b_int[], back_to_flat[];
extern char lret_b[], lret_b_int[];
/* in_b: reached through lcall 0x4b:(in_b - 0x1000); int $0x81 there, then lret.
 * jmp_b: reached through ljmp; int $0x81, then ljmp back to 0x1b:back_to_flat.
 * lret_b: reached through lret (pushed 0x4b:(lret_b - 0x1000)); int $0x81, then
 *         ljmp back. */
__asm__(".text\n"
        "in_b:\n"
        "       movl $0xb0000001, %eax\n"
        "in_b_int:\n"
        "       int $0x81\n"
        "       addl $0x10, %eax\n"
        "in_b_ret:\n"
        "       lret\n"
        "jmp_b:\n"
        "       movl $0xb0000002, %eax\n"
        "jmp_b_int:\n"
        "       int $0x81\n"
        "       addl $0x10, %eax\n"
        "       ljmp *back_ptr\n"
        "lret_b:\n"
        "       movl $0xb0000003, %eax\n"
        "lret_b_int:\n"
        "       int $0x81\n"
        "       addl $0x10, %eax\n"
        "       ljmp *back_ptr\n"
        "       .data\n"
        "back_ptr: .long back_to_flat, 0x1b\n"
        "far_b: .long 0, 0x4b\n"
        "       .text\n"
        "       .globl user_far\n"
        "user_far:\n"
        "       movl $in_b - 0x1000, far_b\n"
        "       lcall *far_b\n"
        "       movl %eax, u_result\n"
        "       movl $jmp_b - 0x1000, far_b\n"
        "       ljmp *far_b\n"
        "back_to_flat:\n"
        "       movl %eax, u_result + 4\n"
        "       pushl $0x4b\n"
        "       pushl $lret_b - 0x1000\n"
        "       lret\n"
        "       .globl after_lret\n"
        "after_lret:\n");

void user_far(void);
void after_lret(void);
uint32_t u_result[3];
static uint32_t seen_cs[3], seen_eip[3], nseen;

static void on_81(struct regs *r)
{
    if (nseen < 3) {
        seen_cs[nseen] = r->cs & 0xffff;
        seen_eip[nseen] = r->eip;
        nseen++;
    }
    if (nseen == 3) {           /* the last one: back to flat code at ring 3 */
        u_result[2] = r->eax + 0x10;
        r->cs = SEL_UCODE;
        r->eip = (uint32_t)user_exit;
    }
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    (void)mbi;
    putln("attack_usercs: ring 3 changes CS by itself, then traps");
    attack_init();
    gdt_set(SEL_CODE_B >> 3, BASE_B, 0xfffff, ACC_CODE_R3 | 1, GDT_F_32);
    idt_set_gate(0x81, isr_stub_table[0x81], SEL_KCODE, 0xe, 3);
    set_handler(0x81, on_81);
    for (int pass = 0; pass < 2; pass++) {
        nseen = 0;
        memset(u_result, 0, sizeof u_result);
        ring3(user_far);
        printf("pass %d (%s):\n", pass, pass ? "paging on" : "paging off");
        printf("  lcall 0x4b: int at cs 0x%02x eip %p (in_b_int - 0x1000 = %p), result %p\n",
               seen_cs[0], seen_eip[0], (uint32_t)in_b_int + 2 - BASE_B, u_result[0]);
        printf("  ljmp  0x4b: int at cs 0x%02x eip %p (jmp_b_int - 0x1000 = %p), result %p\n",
               seen_cs[1], seen_eip[1], (uint32_t)jmp_b_int + 2 - BASE_B, u_result[1]);
        printf("  lret  0x4b: int at cs 0x%02x eip %p (lret_b_int - 0x1000 = %p), result %p\n",
               seen_cs[2], seen_eip[2], (uint32_t)lret_b_int + 2 - BASE_B, u_result[2]);
        check(seen_cs[0] == 0x4b && seen_cs[1] == 0x4b && seen_cs[2] == 0x4b,
              "the frames hold CS 0x4b");
        check(u_result[0] == 0xb0000011 && u_result[1] == 0xb0000012 &&
              u_result[2] == 0xb0000013, "execution went on in segment 0x4b after each iret");
        if (!pass) {
            identity_map(pd, pt0);
            paging_on(pd);
        }
    }
    done();
}

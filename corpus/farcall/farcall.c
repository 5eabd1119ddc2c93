/*
 * farcall -- far CALL/JMP/RET between code segments, through call gates,
 * and a call gate from ring 3 into ring 0 with parameter copying.
 *
 * Far transfers are where the CPL lives (CS.RPL): a monitor that runs the
 * guest kernel at ring 1 must make the callee see CS = 0x08/0x30 (RPL 0),
 * return CS slots with RPL 0, and must implement the privilege-changing
 * gate call/return (stack switch from the TSS, parameter copy, nulling of
 * data segment registers on the way out) exactly.  SDM vol. 2 CALL, JMP,
 * RET; vol. 3 5.8.2-5.8.6 (call gates, stack switching, returning from a
 * called procedure).
 *
 *  1. lcall 0x30:off to a ring-0 code segment with base 0x1000: the callee
 *     runs at EIP = linear - 0x1000, sees CS 0x30 and [EIP, CS] = the
 *     return address and 0x08 on the stack; lret returns.
 *     (The CS slot is 32 bits wide; its upper half is written with either
 *     zeros or nothing depending on the CPU -- only bits 15:0 are shown.)
 *  2. lcall with two pushed arguments to a callee ending in lret $8: ESP
 *     after the call is the value before the pushes.
 *  3. indirect lcall through an m16:32 pointer.
 *  4. ljmp 0x30:off and back with an indirect ljmp (no stack use).
 *  5. a DPL-0 call gate (0x38 -> 0x30:off, 0 params) from ring 0: same
 *     privilege, no stack switch, the offset in the instruction is ignored.
 *  6. from ring 3, lcall through a DPL-3 gate (0x40 -> 0x08:priv_callee,
 *     2 params).  The callee sees SS:ESP = TSS.SS0:ESP0 - 24 holding
 *     [EIP, CS=0x1b, param 1, param 2, old ESP, old SS=0x23] (parameters
 *     in the same order as on the caller's stack), then sets DS=ES=0x10 and
 *     does lret $8 back to ring 3, which pops the parameters from the
 *     caller's stack too and nulls DS and ES (DPL 0 < CPL 3).  FS/GS
 *     (0x23) survive.
 *  7. from ring 3, lcall through the DPL-0 gate 0x38 -> #GP(0x38).
 */
#include "lib.h"

#define SEG30_BASE 0x1000

extern uint32_t rec[10];
extern uint32_t jmp_back[2];
extern uint32_t user_rec[9];
extern char far_callee[], far_callee_pop8[], jmp_target[], priv_callee[];
extern char user_code[], user_after_lcall[], user_gp_insn[], user_gp_resume[];

static uint8_t ustack[4096] __attribute__((aligned(16)));
uint32_t farptr[2];   /* referenced from inline asm */
static volatile uint32_t gp_count, gp_err, gp_eip;

static void on_gp(struct regs *r)
{
    gp_count++;
    gp_err = r->error;
    gp_eip = r->eip;
    r->eip = (uint32_t)user_gp_resume;   /* only expected from user_gp_insn */
}

static void sys_exit(struct regs *r)
{
    user_return(r->eax);
}

static void clear_rec(void)
{
    memset(rec, 0, 10 * sizeof(uint32_t));
}

/* common report for calls from ring 0: ret = expected return EIP,
 * esp_before = ESP just before the lcall (after any argument pushes) */
static void report_same(const char *what, uint32_t cs, uint32_t label_linear,
                        uint32_t ret, uint32_t esp_before,
                        uint32_t esp_after, int nargs)
{
    uint32_t base = cs == 0x08 ? 0 : SEG30_BASE;
    printf("%s: callee cs 0x%04x, eip %s, esp = caller - %u, [esp] ret eip %s, [esp+4] cs 0x%04x",
           what, rec[0],
           rec[1] == label_linear - base ? "= linear - base" : "WRONG",
           esp_before - rec[2],
           rec[4] == ret ? "= after lcall" : "WRONG",
           rec[5] & 0xffff);
    if (nargs)
        printf(", args %p %p", rec[6], rec[7]);
    printf(", esp after return %+d\n", (int)(esp_after - esp_before));
    checkf(rec[0] == cs && rec[1] == label_linear - base && rec[4] == ret &&
           (rec[5] & 0xffff) == 0x08 && rec[3] == 0x10 &&
           esp_before - rec[2] == 8 && esp_after == esp_before,
           "%s", what);
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    uint32_t esp0, esp1, ret;

    putln("farcall: far call/jmp/ret, call gates");
    idt_init();
    tss_init(0);
    set_handler(13, on_gp);
    set_handler(0x80, sys_exit);
    idt_set_gate(0x80, isr_stub_table[0x80], SEL_KCODE, 0xe, 3);

    gdt_set(6, SEG30_BASE, 0xfffff, 0x9b, GDT_F_32);                 /* 0x30 */
    gdt_set_gate(7, 0x30, (uint32_t)far_callee - SEG30_BASE, 0xc, 0, 0);  /* 0x38 */
    gdt_set_gate(8, SEL_KCODE, (uint32_t)priv_callee, 0xc, 3, 2);    /* 0x40 */

    /* the "label" each callee records is the call/pop label at the end of
     * RECORD: find it from a plain near call first (CS base 0). */
    uint32_t lab_callee, lab_pop8, lab_jmp, lab_priv;
    {
        clear_rec();
        __asm__ volatile("pushl %%cs\n\tcall far_callee" ::: "memory", "cc");
        lab_callee = rec[1];
        __asm__ volatile("pushl $0\n\tpushl $0\n\tpushl %%cs\n\tcall far_callee_pop8" ::: "memory", "cc");
        lab_pop8 = rec[1];
        lab_jmp = lab_callee - (uint32_t)far_callee + (uint32_t)jmp_target;
        lab_priv = lab_callee - (uint32_t)far_callee + (uint32_t)priv_callee;
        printf("record label offset in callee: %u bytes\n", lab_callee - (uint32_t)far_callee);
        check(lab_pop8 - (uint32_t)far_callee_pop8 == lab_callee - (uint32_t)far_callee,
              "near-call calibration");
    }

    /* 1. lcall 0x30:off ; lret */
    clear_rec();
    __asm__ volatile(
        "movl %%esp, %0\n\t"
        "lcall $0x30, $far_callee - 0x1000\n\t"
        "1: movl $1b, %1\n\t"
        "movl %%esp, %2\n\t"
        : "=&r"(esp0), "=&r"(ret), "=&r"(esp1) :: "memory", "cc");
    report_same("lcall 0x30 / lret", 0x30, lab_callee, ret, esp0, esp1, 0);

    /* 2. lcall with two arguments ; lret $8 */
    clear_rec();
    __asm__ volatile(
        "movl %%esp, %0\n\t"
        "pushl $0xa2a2a2a2\n\t"
        "pushl $0xa1a1a1a1\n\t"
        "lcall $0x30, $far_callee_pop8 - 0x1000\n\t"
        "1: movl $1b, %1\n\t"
        "movl %%esp, %2\n\t"
        : "=&r"(esp0), "=&r"(ret), "=&r"(esp1) :: "memory", "cc");
    report_same("lcall 0x30 / lret $8", 0x30, lab_pop8, ret, esp0 - 8, esp1 - 8, 2);
    check(rec[6] == 0xa1a1a1a1 && rec[7] == 0xa2a2a2a2, "arguments at [esp+8], [esp+12]");
    check_eq("lret $8 popped the arguments", esp1, esp0);

    /* 3. indirect lcall m16:32 */
    clear_rec();
    farptr[0] = (uint32_t)far_callee - SEG30_BASE;
    farptr[1] = 0x30;
    __asm__ volatile(
        "movl %%esp, %0\n\t"
        "lcall *farptr\n\t"
        "1: movl $1b, %1\n\t"
        "movl %%esp, %2\n\t"
        : "=&r"(esp0), "=&r"(ret), "=&r"(esp1) :: "memory", "cc");
    report_same("lcall *m16:32 (0x30)", 0x30, lab_callee, ret, esp0, esp1, 0);

    /* 4. ljmp there and back */
    clear_rec();
    __asm__ volatile(
        "movl $1f, jmp_back\n\t"
        "movl $0x08, jmp_back+4\n\t"
        "movl %%esp, %0\n\t"
        "ljmp $0x30, $jmp_target - 0x1000\n\t"
        "1: movl %%esp, %1\n\t"
        : "=&r"(esp0), "=&r"(esp1) :: "memory", "cc");
    printf("ljmp 0x30 / ljmp *m16:32 back: callee cs 0x%04x, eip %s, esp unchanged %s; back in cs %p\n",
           rec[0], rec[1] == lab_jmp - SEG30_BASE ? "= linear - base" : "WRONG",
           rec[2] == esp0 ? "yes" : "no", read_cs());
    check(rec[0] == 0x30 && rec[1] == lab_jmp - SEG30_BASE && rec[2] == esp0 &&
          esp1 == esp0 && read_cs() == 0x08, "ljmp there and back");

    /* 5. call gate, same privilege */
    clear_rec();
    __asm__ volatile(
        "movl %%esp, %0\n\t"
        "lcall $0x38, $0x12345678\n\t"     /* offset is ignored for gates */
        "1: movl $1b, %1\n\t"
        "movl %%esp, %2\n\t"
        : "=&r"(esp0), "=&r"(ret), "=&r"(esp1) :: "memory", "cc");
    report_same("lcall gate 0x38 (DPL 0, -> 0x30)", 0x30, lab_callee, ret, esp0, esp1, 0);

    /* 6 + 7. ring 3 -> gate 0x40 -> ring 0 -> lret $8 -> ring 3 */
    clear_rec();
    memset(user_rec, 0, sizeof(uint32_t) * 9);
    gp_count = 0;
    uint32_t utop = (uint32_t)ustack + sizeof ustack;
    run_user((uint32_t)user_code, utop);
    printf("ring 3 -> gate 0x40: callee cs 0x%04x ss 0x%04x, esp = esp0 - %u, eip %s\n",
           rec[0], rec[3], (uint32_t)istack_top - rec[2],
           rec[1] == lab_priv ? "= priv_callee label" : "WRONG");
    printf("  inner stack: ret eip after the lcall %s, cs 0x%04x, params %p %p, old esp = user top - %u, old ss 0x%04x\n",
           rec[4] == (uint32_t)user_after_lcall ? "yes" : "no",
           rec[5] & 0xffff, rec[6], rec[7], utop - rec[8], rec[9] & 0xffff);
    check(rec[0] == 0x08 && rec[3] == 0x10 && rec[2] == (uint32_t)istack_top - 24 &&
          rec[1] == lab_priv, "gate call switched to ring 0 on the TSS stack");
    check(rec[4] == (uint32_t)user_after_lcall && (rec[5] & 0xffff) == 0x1b &&
          rec[6] == 0x22222222 && rec[7] == 0x11111111 &&
          rec[8] == utop - 8 && (rec[9] & 0xffff) == 0x23,
          "inner stack frame: eip, cs, 2 copied params, esp, ss");
    printf("  back in ring 3: cs %p ss %p esp = user top - %u, ds %p es %p fs %p gs %p\n",
           user_rec[6], user_rec[7], utop - user_rec[1],
           user_rec[2], user_rec[3], user_rec[4], user_rec[5]);
    check(user_rec[6] == 0x1b && user_rec[7] == 0x23 && user_rec[0] == utop &&
          user_rec[1] == utop, "lret $8 to ring 3 restored cs/ss/esp and popped params");
    check(user_rec[2] == 0 && user_rec[3] == 0, "ds/es (DPL 0) nulled on return to ring 3");
    check(user_rec[4] == 0x23 && user_rec[5] == 0x23, "fs/gs (DPL 3) kept");
    printf("ring 3 lcall 0x3b (DPL-0 gate): #GP count %u err 0x%04x at %s\n",
           gp_count, gp_err, gp_eip == (uint32_t)user_gp_insn ? "the lcall" : "WRONG EIP");
    check(gp_count == 1 && gp_err == 0x38 && gp_eip == (uint32_t)user_gp_insn,
          "DPL-0 gate from ring 3 -> #GP(0x38)");

    printf("final cs %p ds %p ss %p\n", read_cs(), read_ds(), read_ss());
    done();
}

/*
 * intn -- software interrupts: INT n, INT3, INTO through interrupt and trap
 * gates, the frame they push, and the gate checks.
 *
 * A deprivileging monitor must deliver guest INT n through the guest's
 * IDT with the guest's view of CS (RPL 0), EFLAGS (IF, IOPL) and the
 * guest's gate DPL checks.  SDM vol. 2 INT n/INTO/INT3/INT1; vol. 3 6.10
 * (IDT), 6.11 (gate descriptors), 6.12.1 (exception/interrupt handler
 * procedures: stack frame, IF/TF/NT/RF clearing), 6.13 (error codes),
 * 6.12.1.1 (DPL check for software interrupts).
 *
 * Ring 0 (PICs masked, IF=1 around each INT):
 *  - interrupt gate (0x40): IF=0 inside, trap gate (0x41): IF=1 inside;
 *    the pushed EIP is the address after the instruction, CS = 0x08, the
 *    pushed EFLAGS is the EFLAGS before the INT (arith flags preserved);
 *    IRET restores it;
 *  - INT3 (0xCC, 1 byte) and INT 3 (CD 03, 2 bytes) both go to vector 3;
 *  - INTO traps to vector 4 only when OF=1;
 *  - vectors above 32: 0x20, 0x80-ish, 0xff;
 *  - INT 8 / INT 14 push no error code although the exceptions do;
 *  - not-present gate -> #NP(vec*8+2); a vector beyond the IDT limit ->
 *    #GP(vec*8+2); a call gate in the IDT -> #GP(vec*8+2).
 * Ring 3:
 *  - INT 0x40 / INT3 / INT 3 / INTO to DPL-0 gates -> #GP(vec*8+2) with
 *    EIP at the faulting instruction;
 *  - INT to DPL-3 trap/interrupt gates: stack switch to TSS.ESP0, frame
 *    [EIP, CS=0x1b, EFLAGS, ESP, SS=0x23].
 */
#include "lib.h"

struct event {
    uint32_t vector, error, eip, cs, eflags, user_esp, user_ss;
    uint32_t if_inside, frame_end;
};

#define MAXEV 16
static struct event ev[MAXEV];
static volatile uint32_t nev;

extern uint32_t raw_frame[4], raw_count;
extern uint32_t user_sites[];
extern char user_code[];
extern void raw_handler(void);

static uint8_t ustack[4096] __attribute__((aligned(16)));

static void record(struct regs *r)
{
    if (nev < MAXEV) {
        struct event *e = &ev[nev];
        e->vector = r->vector;
        e->error = r->error;
        e->eip = r->eip;
        e->cs = r->cs;
        e->eflags = r->eflags;
        e->if_inside = read_eflags() & EFL_IF;
        if (r->cs & 3) {
            e->user_esp = r->user_esp;
            e->user_ss = r->user_ss;
            e->frame_end = (uint32_t)&r->user_ss + 4;
        } else {
            e->user_esp = e->user_ss = 0;
            e->frame_end = (uint32_t)&r->eflags + 4;
        }
    }
    nev++;
}

/* faults raised by an INT instruction: skip it (0xCC/0xCE: 1 byte, CD: 2) */
static void on_fault(struct regs *r)
{
    record(r);
    uint8_t op = *(uint8_t *)r->eip;
    r->eip += op == 0xcd ? 2 : 1;
}

static void sys_exit(struct regs *r)
{
    user_return(0);
}

/* where eip is relative to user interrupt instruction number i */
static const char *site_name(uint32_t eip, uint32_t i)
{
    if (eip == user_sites[2 * i])
        return "= the instruction";
    if (eip == user_sites[2 * i + 1])
        return "= after it";
    return "WRONG";
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    uint32_t a, b, efl;

    putln("intn: int n / int3 / into, gates and frames");
    pic_mask_all();
    idt_init();
    tss_init(0);
    set_handler(3, record);
    set_handler(4, record);
    set_handler(11, on_fault);
    set_handler(13, on_fault);
    set_handler(0x20, record);
    set_handler(0x40, record);
    set_handler(0x41, record);
    set_handler(0x42, record);
    set_handler(0xff, record);
    set_handler(0x80, sys_exit);
    idt_set_gate(0x41, isr_stub_table[0x41], SEL_KCODE, 0xf, 0);  /* trap gate */
    idt_set_gate(8, (uint32_t)raw_handler, SEL_KCODE, 0xe, 0);
    idt_set_gate(14, (uint32_t)raw_handler, SEL_KCODE, 0xe, 0);
    idt[0x50] &= ~(1ull << 47);                                    /* not present */
    idt[0x51] = ((uint64_t)0x8c00 << 32) | (SEL_KCODE << 16);      /* call gate */

    /* ---- interrupt gate vs trap gate, frame contents */
#define INT_AT(vec, flags, a, b, efl)                                       \
    __asm__ volatile(                                                       \
        "pushfl\n\t"                                                        \
        "pushl $" #flags "\n\t"                                             \
        "popfl\n\t"                                                         \
        "movl $1f, %0\n\t"                                                  \
        "movl $2f, %1\n\t"                                                  \
        "1: int $" #vec "\n\t"                                              \
        "2: pushfl\n\t"                                                     \
        "popl %2\n\t"                                                       \
        "popfl\n\t"                                                         \
        : "=&r"(a), "=&r"(b), "=&r"(efl) :: "memory", "cc")

    nev = 0;
    INT_AT(0x40, 0x2d7, a, b, efl);
    printf("int 0x40 (interrupt gate): eip %s, cs 0x%04x, pushed eflags %p, IF inside %d, eflags after iret %p\n",
           ev[0].eip == b ? "= after int" : "WRONG", ev[0].cs, ev[0].eflags,
           !!ev[0].if_inside, efl);
    check(nev == 1 && ev[0].vector == 0x40 && ev[0].eip == b && ev[0].cs == 0x08 &&
          ev[0].eflags == 0x2d7 && !ev[0].if_inside && efl == 0x2d7,
          "interrupt gate: frame ok, IF cleared inside, restored by iret");

    nev = 0;
    INT_AT(0x41, 0xad6, a, b, efl);
    printf("int 0x41 (trap gate): eip %s, cs 0x%04x, pushed eflags %p, IF inside %d, eflags after iret %p\n",
           ev[0].eip == b ? "= after int" : "WRONG", ev[0].cs, ev[0].eflags,
           !!ev[0].if_inside, efl);
    check(nev == 1 && ev[0].vector == 0x41 && ev[0].eip == b && ev[0].cs == 0x08 &&
          ev[0].eflags == 0xad6 && ev[0].if_inside && efl == 0xad6,
          "trap gate: IF stays set inside");

    /* ---- int3 vs int $3 */
    nev = 0;
    __asm__ volatile(
        "movl $1f, %0\n\t"
        "int3\n\t"
        "1: movl $2f, %1\n\t"
        ".byte 0xcd, 0x03\n\t"          /* int $3, long form */
        "2:\n\t"
        : "=&r"(a), "=&r"(b) :: "memory", "cc");
    printf("int3: vector %u eip %s; int $3: vector %u eip %s\n",
           ev[0].vector, ev[0].eip == a ? "= after (1 byte)" : "WRONG",
           ev[1].vector, ev[1].eip == b ? "= after (2 bytes)" : "WRONG");
    check(nev == 2 && ev[0].vector == 3 && ev[0].eip == a && ev[1].vector == 3 &&
          ev[1].eip == b, "int3 and int $3");

    /* ---- into */
    nev = 0;
    __asm__ volatile(
        "pushfl\n\t"
        "pushl $0x2\n\t" "popfl\n\t"
        "into\n\t"                      /* OF=0: nothing */
        "pushl $0x802\n\t" "popfl\n\t"
        "into\n\t"
        "1: movl $1b, %0\n\t"
        "popfl\n\t"
        : "=&r"(a) :: "memory", "cc");
    printf("into OF=0 then OF=1: %u event(s), vector %u, eip %s, pushed eflags %p\n",
           nev, ev[0].vector, ev[0].eip == a ? "= after into" : "WRONG", ev[0].eflags);
    check(nev == 1 && ev[0].vector == 4 && ev[0].eip == a && ev[0].eflags == 0x802,
          "into traps only with OF=1");

    /* ---- vectors above 32 */
    nev = 0;
    INT_AT(0x20, 0x2, a, b, efl);
    INT_AT(0xff, 0x2, a, b, efl);
    printf("int 0x20 -> vector 0x%02x, int 0xff -> vector 0x%02x, eip %s\n",
           ev[0].vector, ev[1].vector, ev[1].eip == b ? "= after int" : "WRONG");
    check(nev == 2 && ev[0].vector == 0x20 && ev[1].vector == 0xff && ev[1].eip == b,
          "vectors 0x20 and 0xff");

    /* ---- int 8 / int 14: no error code */
    raw_count = 0;
    INT_AT(8, 0x2, a, b, efl);
    printf("int 8: [esp] %s, [esp+4] 0x%04x, [esp+8] %p (no error code)\n",
           raw_frame[0] == b ? "= after int" : "WRONG", raw_frame[1] & 0xffff, raw_frame[2]);
    check(raw_count == 1 && raw_frame[0] == b && (raw_frame[1] & 0xffff) == 8 &&
          raw_frame[2] == 0x2, "int 8 pushes no error code");
    INT_AT(14, 0x202, a, b, efl);
    printf("int 14: [esp] %s, [esp+4] 0x%04x, [esp+8] %p (no error code)\n",
           raw_frame[0] == b ? "= after int" : "WRONG", raw_frame[1] & 0xffff, raw_frame[2]);
    check(raw_count == 2 && raw_frame[0] == b && (raw_frame[1] & 0xffff) == 8 &&
          raw_frame[2] == 0x202, "int 14 pushes no error code");

    /* ---- gate errors */
    nev = 0;
    INT_AT(0x50, 0x2, a, b, efl);
    printf("int 0x50 (not present): vector %u err 0x%04x eip %s\n",
           ev[0].vector, ev[0].error, ev[0].eip == a ? "= the int" : "WRONG");
    check(nev == 1 && ev[0].vector == 11 && ev[0].error == 0x282 && ev[0].eip == a,
          "not-present gate -> #NP(0x282)");
    nev = 0;
    INT_AT(0x51, 0x2, a, b, efl);
    printf("int 0x51 (call gate in IDT): vector %u err 0x%04x eip %s\n",
           ev[0].vector, ev[0].error, ev[0].eip == a ? "= the int" : "WRONG");
    check(nev == 1 && ev[0].vector == 13 && ev[0].error == 0x28a && ev[0].eip == a,
          "call gate in the IDT -> #GP(0x28a)");
    {
        struct dtr small = { .limit = 0x90 * 8 - 1, .base = (uint32_t)idt }, full;
        sidt(&full);
        lidt(&small);
        nev = 0;
        INT_AT(0x90, 0x2, a, b, efl);
        lidt(&full);
        printf("int 0x90 with IDT limit 0x%x: vector %u err 0x%04x eip %s\n",
               small.limit, ev[0].vector, ev[0].error, ev[0].eip == a ? "= the int" : "WRONG");
        check(nev == 1 && ev[0].vector == 13 && ev[0].error == 0x482 && ev[0].eip == a,
              "vector beyond IDT limit -> #GP(0x482)");
    }

    /* ---- ring 3 */
    idt_set_gate(0x80, isr_stub_table[0x80], SEL_KCODE, 0xe, 3);
    idt_set_gate(0x41, isr_stub_table[0x41], SEL_KCODE, 0xf, 3);
    idt_set_gate(0x42, isr_stub_table[0x42], SEL_KCODE, 0xe, 3);
    nev = 0;
    uint32_t utop = (uint32_t)ustack + sizeof ustack;
    run_user((uint32_t)user_code, utop);
    putln("ring 3:");
    static const struct { uint32_t vec, err, site_end; } want[] = {
        { 13, 0x202, 0 }, { 13, 0x01a, 0 }, { 13, 0x01a, 0 }, { 13, 0x022, 0 },
        { 0x41, 0, 1 }, { 0x42, 0, 1 },
    };
    for (uint32_t i = 0; i < nev && i < MAXEV; i++) {
        struct event *e = &ev[i];
        printf("  u%u: vector 0x%02x err 0x%04x eip %s cs 0x%04x eflags %p esp top-%u ss 0x%04x IF %d frame end %s\n",
               i, e->vector, e->error, site_name(e->eip, i), e->cs, e->eflags,
               utop - e->user_esp, e->user_ss, !!e->if_inside,
               e->frame_end == (uint32_t)istack_top ? "= esp0" : "WRONG");
    }
    int ok = nev == 6;
    for (uint32_t i = 0; ok && i < 6; i++) {
        struct event *e = &ev[i];
        uint32_t site = want[i].site_end ? user_sites[2 * i + 1] : user_sites[2 * i];
        ok &= e->vector == want[i].vec && e->error == want[i].err && e->eip == site &&
              e->cs == 0x1b && e->user_ss == 0x23 && e->user_esp == utop &&
              e->frame_end == (uint32_t)istack_top;
    }
    ok &= ev[3].eflags == 0x802 && ev[4].eflags == 0x8d7 && ev[4].if_inside == 0 &&
          ev[5].eflags == 0x8d7;
    check(ok, "ring-3 int: DPL checks, frames, stack switch");

    done();
}

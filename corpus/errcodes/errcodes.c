/*
 * errcodes -- the error code of every delivery path that faults (SDM vol 3A
 * 6.13 "Error Code", 6.12.1.1 and the INT n / interrupt-delivery pseudocode
 * of vol 2A INT n/INTO/INT3/INT1).
 *
 * A case breaks one thing on the way from an event to its handler and
 * records the exception raised instead (#TS, #NP, #SS or #GP) and its error
 * code; the expectation is the SDM's:
 *   - selector error codes: index | TI | IDT | EXT, with EXT = 1 when the
 *     event being delivered is external to the program (an IRQ, a processor
 *     exception such as ud2's #UD) and 0 for int n / int3 / into;
 *   - an IDT entry: vector * 8 + 2 (IDT bit) + EXT;
 *   - not-present gate #NP; gate of a wrong type, past the IDT limit, or a
 *     software interrupt past the gate's DPL #GP; gate code selector null
 *     #GP(EXT), past the GDT limit or not code #GP(sel+EXT), not present
 *     #NP(sel+EXT); the inner stack from the TSS null, past the GDT limit,
 *     of the wrong RPL/DPL or not writable #TS(SS+EXT), not present
 *     #SS(SS+EXT).
 * qemu-system-i386 7.2 departs from the SDM twice (runtime/check/deviations.py):
 * it never sets EXT when the delivery of an exception or IRQ faults, and it
 * raises #TS, not #SS, for a not-present inner stack segment.  The second is
 * shown apart by corpus/ssfault (this file built with SSFAULT), so that each
 * guest shows one deviation.
 */
#include "lib.h"

#define V 0x41                         /* the software vector under test */
#define SEL_R1CODE 0x31                /* GDT 6: DPL-1 code (RPL 1) */
#define SEL_R1DATA 0x39                /* GDT 7: DPL-1 data */
#define SEL_R1NP   0x41                /* GDT 8: DPL-1 data, not present */
#define SEL_NPCODE 0x48                /* GDT 9: DPL-0 code, not present */
#define SEL_DATA0  0x50                /* GDT 10: DPL-0 data */
#define SEL_R1RO   0x59                /* GDT 11: DPL-1 read-only data */

extern volatile uint32_t resume_eip;
void k_int41(void), k_ud2(void), k_wait_irq(void);
extern char u_int41[], u_ud2[], u_int3[], u_into[], u_spin[];

static volatile uint32_t got_vec, got_err, irq_pending_eoi, irq_taken;
static uint32_t user_stack[1024];

static void on_fault(struct regs *r)
{
    got_vec = r->vector;
    got_err = r->error;
    if (irq_pending_eoi) {                /* the IRQ was acknowledged, never serviced */
        outb(0x20, 0x20);
        irq_pending_eoi = 0;
    }
    if ((r->cs & 3) == 3)
        user_return(0);
    r->eip = resume_eip;
}

static void on_irq(struct regs *r)
{
    irq_taken++;
    outb(0x20, 0x20);
    if ((r->cs & 3) == 3)
        user_return(0);
    r->eip = resume_eip;
}

static void on_spurious(struct regs *r) { (void)r; }

static const char *name(uint32_t v)
{
    switch (v) {
    case 10: return "#TS";
    case 11: return "#NP";
    case 12: return "#SS";
    case 13: return "#GP";
    case 0xffffffff: return "nothing";
    default: return "other";
    }
}

static void expect(const char *what, uint32_t vec, uint32_t err)
{
    checkf(got_vec == vec && got_err == err, "%s: %s(%x), SDM %s(%x)", what,
           name(got_vec), got_err, name(vec), err);
    got_vec = 0xffffffff;
    got_err = 0;
}

static void gate(int vec, uint16_t sel, uint8_t type, uint8_t dpl)
{
    idt_set_gate(vec, isr_stub_table[vec], sel, type, dpl);
}

static inline void not_present(int vec)
{
    idt[vec] &= ~(1ull << 47);
}

static void pic_init(uint8_t base)
{
    outb(0x20, 0x11); outb(0xa0, 0x11);
    outb(0x21, base); outb(0xa1, base + 8);
    outb(0x21, 0x04); outb(0xa1, 0x02);
    outb(0x21, 0x01); outb(0xa1, 0x01);
    outb(0x21, 0xfe); outb(0xa1, 0xff);
}

/* one IRQ0 at IF=1 in ring 0, its gate (at `vec`) broken by the caller */
static inline void arm_pit(void)
{
    outb(0x43, 0x30);                      /* channel 0, mode 0: one interrupt */
    outb(0x40, 0x00); outb(0x40, 0x10);
}

static inline void irq_case(void)
{
    irq_pending_eoi = 1;
    arm_pit();
    k_wait_irq();
    irq_pending_eoi = 0;
}

static void user(char *eip)
{
    run_user((uint32_t)eip, (uint32_t)&user_stack[1024]);
}

static void restore(void)
{
    gate(V, SEL_KCODE, 0xe, 3);
    gate(6, SEL_KCODE, 0xe, 0);
    gate(3, SEL_KCODE, 0xe, 3);
    gate(4, SEL_KCODE, 0xe, 3);
    gate(0x20, SEL_KCODE, 0xe, 0);
    tss.ss1 = SEL_R1DATA;
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    idt_init();
    tss_init(0);
    for (int v = 10; v <= 13; v++)
        set_handler(v, on_fault);
    set_handler(0x20, on_irq);
    set_handler(0x27, on_spurious);
    set_handler(0x4f, on_spurious);
    gdt_set(6, 0, 0xfffff, 0xba, GDT_F_32);   /* DPL-1 code */
    gdt_set(7, 0, 0xfffff, 0xb2, GDT_F_32);   /* DPL-1 data */
    gdt_set(8, 0, 0xfffff, 0x32, GDT_F_32);   /* DPL-1 data, not present */
    gdt_set(9, 0, 0xfffff, 0x1a, GDT_F_32);   /* DPL-0 code, not present */
    gdt_set(10, 0, 0xfffff, 0x92, GDT_F_32);  /* DPL-0 data */
    gdt_set(11, 0, 0xfffff, 0xb0, GDT_F_32);  /* DPL-1 data, read-only */
    tss.esp1 = (uint32_t)&user_stack[512];
    pic_init(0x20);
    got_vec = 0xffffffff;
    restore();
#ifndef SSFAULT
    /* --- the gate itself: not present, wrong type, past the IDT limit --- */
    not_present(V); k_int41();
    expect("int 0x41, gate not present", 11, V * 8 + 2);
    not_present(6); k_ud2();
    expect("ud2, #UD gate not present", 11, 6 * 8 + 2 + 1);
    not_present(0x20); irq_case();
    expect("IRQ0, vector 0x20 gate not present", 11, 0x20 * 8 + 2 + 1);
    restore();
    gate(V, SEL_KCODE, 0x9, 3); k_int41();
    expect("int 0x41, gate of type 9 (a TSS)", 13, V * 8 + 2);
    gate(6, SEL_KCODE, 0x1, 0); k_ud2();
    expect("ud2, #UD gate of type 1", 13, 6 * 8 + 2 + 1);
    gate(0x20, SEL_KCODE, 0x3, 0); irq_case();
    expect("IRQ0, vector 0x20 gate of type 3", 13, 0x20 * 8 + 2 + 1);
    restore();
    {
        struct dtr small = {0x48 * 8 - 1, (uint32_t)idt}, full = {256 * 8 - 1, (uint32_t)idt};
        lidt(&small);                      /* vectors 0..0x47 */
        __asm__ volatile("movl $1f, resume_eip; int $0x50; 1:" ::: "memory");
        expect("int 0x50 past the IDT limit", 13, 0x50 * 8 + 2);
        pic_init(0x48);
        irq_case();
        expect("IRQ0 at vector 0x48 past the IDT limit", 13, 0x48 * 8 + 2 + 1);
        lidt(&full);
        pic_init(0x20);
    }

    /* --- the gate's code segment --- */
    gate(V, SEL_NPCODE, 0xe, 3); k_int41();
    expect("int 0x41, code segment not present", 11, SEL_NPCODE);
    gate(6, SEL_NPCODE, 0xe, 0); k_ud2();
    expect("ud2, code segment not present", 11, SEL_NPCODE + 1);
    gate(0x20, SEL_NPCODE, 0xe, 0); irq_case();
    expect("IRQ0, code segment not present", 11, SEL_NPCODE + 1);
    gate(V, 0, 0xe, 3); k_int41();
    expect("int 0x41, null code selector", 13, 0);
    gate(6, 0, 0xe, 0); k_ud2();
    expect("ud2, null code selector", 13, 1);
    gate(V, 0x100, 0xe, 3); k_int41();
    expect("int 0x41, code selector past the GDT limit", 13, 0x100);
    gate(6, 0x104, 0xe, 0); k_ud2();
    expect("ud2, LDT code selector with no LDT", 13, 0x104 + 1);
    gate(V, SEL_DATA0, 0xe, 3); k_int41();
    expect("int 0x41, gate selector names data", 13, SEL_DATA0);
    gate(6, SEL_DATA0, 0xe, 0); k_ud2();
    expect("ud2, gate selector names data", 13, SEL_DATA0 + 1);
    restore();

    /* --- software interrupts from CPL 3: the gate's DPL --- */
    gate(V, SEL_KCODE, 0xe, 0); user(u_int41);
    expect("CPL 3 int 0x41, DPL-0 gate", 13, V * 8 + 2);
    gate(3, SEL_KCODE, 0xe, 0); user(u_int3);
    expect("CPL 3 int3, DPL-0 gate", 13, 3 * 8 + 2);
    gate(4, SEL_KCODE, 0xe, 0); user(u_into);
    expect("CPL 3 into, DPL-0 gate", 13, 4 * 8 + 2);
    restore();
    not_present(V); user(u_int41);
    expect("CPL 3 int 0x41, DPL-3 gate not present", 11, V * 8 + 2);
    restore();
    write_eflags(read_eflags() | EFL_IF);
    irq_taken = 0;
    arm_pit();
    user(u_spin);                          /* DPL-0 gate: an IRQ is not checked against it */
    cli();
    checkf(irq_taken == 1 && got_vec == 0xffffffff, "CPL 3 IRQ0 through a DPL-0 gate: delivered");

    /* --- the stack switch to ring 1 (TSS.SS1) --- */
    gate(V, SEL_R1CODE & ~3, 0xe, 3);
    gate(6, SEL_R1CODE & ~3, 0xe, 0);
    tss.ss1 = 0; user(u_int41);
    expect("CPL 3 int 0x41 to ring 1, null SS1", 10, 0);
    tss.ss1 = SEL_KDATA; user(u_int41);
    expect("CPL 3 int 0x41 to ring 1, SS1 of RPL 0", 10, SEL_KDATA);
    tss.ss1 = SEL_KDATA; user(u_ud2);
    expect("CPL 3 ud2 to ring 1, SS1 of RPL 0", 10, SEL_KDATA + 1);
    tss.ss1 = 0x201; user(u_int41);
    expect("CPL 3 int 0x41 to ring 1, SS1 past the GDT limit", 10, 0x200);
    tss.ss1 = SEL_R1RO; user(u_int41);
    expect("CPL 3 int 0x41 to ring 1, SS1 read-only", 10, SEL_R1RO & ~3);
#else
    gate(V, SEL_R1CODE & ~3, 0xe, 3);
    gate(6, SEL_R1CODE & ~3, 0xe, 0);
    tss.ss1 = SEL_R1NP; user(u_int41);
    expect("CPL 3 int 0x41 to ring 1, SS1 not present", 12, SEL_R1NP & ~3);
    tss.ss1 = SEL_R1NP; user(u_ud2);
    expect("CPL 3 ud2 to ring 1, SS1 not present", 12, (SEL_R1NP & ~3) + 1);
#endif
    restore();
    done();
}

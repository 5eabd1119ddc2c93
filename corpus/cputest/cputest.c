/*
 * cputest -- a kvm-unit-tests-style unit test of the CPU's local APIC,
 * exceptions and paging, on a standard PC (one CPU, local APIC at
 * 0xFEE00000, I/O APIC at 0xFEC00000).
 *
 * cstart.S identity-maps 4 GiB with 4-MiB pages and turns paging on; main()
 * reads the local APIC ID and version registers before its first output,
 * then runs the tests.  Each prints "PASS: name" or "FAIL: name"; the
 * summary follows and the exit status through port 0xF4 is the number of
 * failures (QEMU status (n << 1) | 1, so 1 when all pass).
 *
 * Every check is deterministic: interrupt arrival is waited for with a
 * bounded busy loop and only "at least one" (or an exact count where the
 * architecture fixes it: one IPI is one interrupt) is asserted; no timing
 * is printed.
 *
 * References: Intel SDM vol. 3A ch. 6 (interrupts and exceptions), ch. 4
 * (paging), ch. 10 (APIC); Intel 82093AA I/O APIC datasheet.
 */
#include "x86.h"

#define VEC_TIMER       0x40
#define VEC_IPI_SELF    0x41
#define VEC_IPI_PHYS    0x42
#define VEC_IPI_CLI     0x43
#define VEC_CLASS4      0x45            /* priority class = vector[7:4] */
#define VEC_CLASS5      0x55
#define VEC_CLASS6      0x65
#define VEC_PIC         0x70            /* 8259s remapped here, then masked */
#define VEC_ERROR       0xFE
#define VEC_SPURIOUS    0xFF

#define WAIT_BOUND      20000000u       /* iterations before giving up on an interrupt
                                           (about 1.3 s under QEMU TCG) */
#define SETTLE          100000u         /* iterations to show something does NOT arrive */

extern char trap_stubs[];
extern uint32_t ptl2[1024];

/* ------------------------------------------------------------ the IDT */

struct gate {
    uint16_t off_lo, sel;
    uint8_t zero, type;                 /* 0x8E: present, DPL 0, 32-bit interrupt gate */
    uint16_t off_hi;
} __attribute__((packed));

static struct gate idt[256] __attribute__((aligned(8)));

static void idt_init(void)
{
    for (int i = 0; i < 256; i++) {
        uint32_t a = (uint32_t)trap_stubs + 16 * i;
        idt[i] = (struct gate){ a & 0xFFFF, 0x08, 0, 0x8E, a >> 16 };
    }
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) d = { sizeof idt - 1, (uint32_t)idt };
    asm volatile("lidt %0" :: "m"(d));
}

/* ------------------------------------------------------------ traps */

static volatile uint32_t count[256];    /* interrupts taken, per vector */
static volatile uint8_t order[16];      /* vectors in arrival order */
static volatile int norder;
static volatile uint32_t isr_in_handler, ppr_in_handler;

/* An expected exception: the handler records it and resumes at fixup. */
static struct {
    volatile uint32_t fixup;
    volatile uint32_t vector, error, eip, cr2;
} fault;
static volatile uint32_t probe_at;      /* address of the probed instruction */

static uint32_t isr_bit(uint32_t base, uint32_t vec)
{
    return lapic_read(base + 0x10 * (vec >> 5)) & (1u << (vec & 31));
}

void trap(struct frame *f)
{
    uint32_t v = f->vector;
    if (v < 32) {
        if (!fault.fixup) {
            printf("unexpected exception %u error 0x%x at eip 0x%08x\n", v, f->error, f->eip);
            exit_status(0x7F);
        }
        fault.vector = v;
        fault.error = f->error;
        fault.eip = f->eip;
        fault.cr2 = v == 14 ? read_cr2() : 0;
        f->eip = fault.fixup;
        fault.fixup = 0;
        return;
    }
    count[v]++;
    /* SDM 3A 10.9: the spurious vector is not in service, it takes no EOI;
     * neither does an 8259 (they are masked, and not EOI'd to the APIC). */
    if (v == VEC_SPURIOUS || (v >= VEC_PIC && v < VEC_PIC + 16))
        return;
    if (norder < (int)sizeof order)
        order[norder++] = (uint8_t)v;
    if (v == VEC_CLASS6) {
        isr_in_handler = isr_bit(LAPIC_ISR, v);
        ppr_in_handler = lapic_read(LAPIC_PPR);
    }
    lapic_write(LAPIC_EOI, 0);
}

/* Run `insn` at label 1 with a fixup at label 2, the instruction after. */
#define PROBE(setup, insn, ...)                                             \
    do {                                                                    \
        fault.vector = 0xFFFFFFFF;                                          \
        asm volatile("movl $1f, %[at]\n\t"                                  \
                     "movl $2f, %[fix]\n\t"                                 \
                     setup "\n"                                             \
                     "1:\t" insn "\n"                                       \
                     "2:\n\t"                                               \
                     : [at] "=m"(probe_at), [fix] "=m"(fault.fixup)         \
                     : __VA_ARGS__                                          \
                     : "eax", "ecx", "edx", "memory", "cc");                \
        fault.fixup = 0;                                                    \
    } while (0)

/* ------------------------------------------------------------ reporting */

static int tests, failures;

static int report(const char *name, int ok)
{
    tests++;
    if (!ok)
        failures++;
    printf("%s: %s\n", ok ? "PASS" : "FAIL", name);
    return ok;
}

static int wait_count(uint32_t vec, uint32_t at_least)
{
    for (uint32_t i = 0; i < WAIT_BOUND && count[vec] < at_least; i++)
        pause();
    return count[vec] >= at_least;
}

static void settle(void)
{
    for (uint32_t i = 0; i < SETTLE; i++)
        pause();
}

/* ------------------------------------------------------------ set-up */

/* 8259A: ICW1-4 move the master to VEC_PIC and the slave to VEC_PIC+8,
 * then OCW1 masks every line: only the APICs interrupt us. */
static void pic_disable(void)
{
    outb(0x20, 0x11); outb(0xA0, 0x11);
    outb(0x21, VEC_PIC); outb(0xA1, VEC_PIC + 8);
    outb(0x21, 0x04); outb(0xA1, 0x02);
    outb(0x21, 0x01); outb(0xA1, 0x01);
    outb(0x21, 0xFF); outb(0xA1, 0xFF);
}

static void lapic_init(void)
{
    lapic_write(LAPIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
    lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);   /* the BIOS's virtual-wire ExtINT */
    lapic_write(LAPIC_LVT_LINT1, LVT_MASKED);
    lapic_write(LAPIC_LVT_ERROR, VEC_ERROR);
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
    lapic_write(LAPIC_TICR, 0);
    lapic_write(LAPIC_ESR, 0);                  /* SDM 10.5.3: write, then read */
    lapic_write(LAPIC_ESR, 0);
    lapic_write(LAPIC_EOI, 0);
    lapic_write(LAPIC_TPR, 0);
}

/* ------------------------------------------------------------ tests */

static void test_identity(uint32_t id, uint32_t ver)
{
    uint32_t r[4];
    cpuid(1, r);
    report("cpuid.1: EDX.APIC (bit 9) set", (r[3] >> 9) & 1);
    report("cpuid.1: initial APIC ID (EBX[31:24]) equals the APIC ID register", (r[1] >> 24) == (id >> 24));

    uint64_t base = rdmsr(MSR_IA32_APIC_BASE);
    printf("IA32_APIC_BASE 0x%08x\n", (uint32_t)base);
    report("IA32_APIC_BASE: base 0xfee00000, global enable, BSP",
           ((uint32_t)base & 0xFFFFF000) == LAPIC_BASE && (base & APIC_BASE_EN) && (base & APIC_BASE_BSP));

    report("APIC version: integrated APIC (0x1X), at least 4 LVT entries",
           (ver & 0xF0) == 0x10 && ((ver >> 16) & 0xFF) >= 3);
}

static void test_svr(void)
{
    uint32_t svr = lapic_read(LAPIC_SVR);
    report("SVR: software enable and spurious vector 0xff read back", (svr & 0x1FF) == (SVR_ENABLE | VEC_SPURIOUS));
}

/* Mask and stop the timer (TICR = 0 stops it, SDM 10.5.4), then let in a
 * tick that became pending in IRR while IF was 0: masking the LVT entry
 * does not withdraw an interrupt the APIC has already accepted. */
static void timer_stop(void)
{
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
    lapic_write(LAPIC_TICR, 0);
    sti();
    settle();
    cli();
}

static void test_timer(void)
{
    /* one-shot (LVT timer mode 00): counts TICR down once, interrupts at 0 */
    count[VEC_TIMER] = 0;
    lapic_write(LAPIC_TDCR, TDCR_BY_16);
    lapic_write(LAPIC_LVT_TIMER, VEC_TIMER);
    report("timer divide configuration reads back", (lapic_read(LAPIC_TDCR) & 0xB) == TDCR_BY_16);
    sti();
    lapic_write(LAPIC_TICR, 10000);
    int got = wait_count(VEC_TIMER, 1);
    cli();
    report("timer one-shot: interrupt delivered", got);
    report("timer one-shot: current count stays 0 after expiry", lapic_read(LAPIC_TCCR) == 0);
    timer_stop();

    /* periodic (mode 01): reloads TICR at 0, so interrupts keep coming */
    count[VEC_TIMER] = 0;
    lapic_write(LAPIC_TDCR, TDCR_BY_1);
    lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | VEC_TIMER);
    sti();
    lapic_write(LAPIC_TICR, 200000);
    got = wait_count(VEC_TIMER, 3);
    cli();
    report("timer periodic: repeated interrupts", got);
    uint32_t cur = lapic_read(LAPIC_TCCR);
    report("timer periodic: mode reads back, current count at most the initial count", cur <= 200000 &&
           (lapic_read(LAPIC_LVT_TIMER) & LVT_PERIODIC));
    timer_stop();

    /* masked (LVT bit 16): the count runs out, no interrupt is delivered */
    count[VEC_TIMER] = 0;
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
    sti();
    lapic_write(LAPIC_TICR, 1000);
    uint32_t i;
    for (i = 0; i < WAIT_BOUND && lapic_read(LAPIC_TCCR) != 0; i++)
        pause();
    settle();
    cli();
    report("timer masked: count reaches 0, no interrupt", i < WAIT_BOUND && count[VEC_TIMER] == 0);
    timer_stop();
}

static void send_ipi(uint32_t dest_id, uint32_t low)
{
    lapic_write(LAPIC_ICRHI, dest_id << 24);
    lapic_write(LAPIC_ICRLO, low);      /* the write of the low half sends */
}

static int icr_idle(void)
{
    for (uint32_t i = 0; i < WAIT_BOUND; i++)
        if (!(lapic_read(LAPIC_ICRLO) & ICR_DELIVS))
            return 1;
    return 0;
}

static void test_ipi(uint32_t id)
{
    sti();
    send_ipi(0, ICR_SELF | ICR_ASSERT | VEC_IPI_SELF);     /* fixed, edge, shorthand "self" */
    int got = wait_count(VEC_IPI_SELF, 1);
    settle();
    report("self-IPI (shorthand self): exactly one interrupt", got && count[VEC_IPI_SELF] == 1);
    report("ICR delivery status idle after the IPI", icr_idle());

    send_ipi(id >> 24, ICR_ASSERT | VEC_IPI_PHYS);          /* physical destination = own ID */
    got = wait_count(VEC_IPI_PHYS, 1);
    settle();
    cli();
    report("IPI to own APIC ID (physical destination): exactly one interrupt",
           got && count[VEC_IPI_PHYS] == 1);

    /* with IF = 0 the IPI waits in IRR; sti lets it in (after one instruction) */
    send_ipi(0, ICR_SELF | ICR_ASSERT | VEC_IPI_CLI);
    settle();
    int held = count[VEC_IPI_CLI] == 0 && isr_bit(LAPIC_IRR, VEC_IPI_CLI);
    sti();
    got = wait_count(VEC_IPI_CLI, 1);
    cli();
    report("IPI with IF=0 held in IRR, delivered after sti", held && got);
}

static void test_tpr(void)
{
    lapic_write(LAPIC_TPR, 0x50);
    report("PPR equals TPR (0x50) with nothing in service", lapic_read(LAPIC_PPR) == 0x50);
    norder = 0;
    sti();
    send_ipi(0, ICR_SELF | ICR_ASSERT | VEC_CLASS4);
    send_ipi(0, ICR_SELF | ICR_ASSERT | VEC_CLASS5);
    settle();
    report("TPR 0x50 holds vectors 0x45 and 0x55 pending in IRR",
           count[VEC_CLASS4] == 0 && count[VEC_CLASS5] == 0 &&
           isr_bit(LAPIC_IRR, VEC_CLASS4) && isr_bit(LAPIC_IRR, VEC_CLASS5));

    send_ipi(0, ICR_SELF | ICR_ASSERT | VEC_CLASS6);
    int got = wait_count(VEC_CLASS6, 1);
    report("TPR 0x50 passes vector 0x65; in its handler ISR bit set, PPR 0x60",
           got && count[VEC_CLASS4] == 0 && count[VEC_CLASS5] == 0 &&
           isr_in_handler && ppr_in_handler == 0x60);

    lapic_write(LAPIC_TPR, 0x40);
    got = wait_count(VEC_CLASS5, 1);
    settle();
    report("TPR lowered to 0x40: 0x55 delivered, 0x45 still held",
           got && count[VEC_CLASS4] == 0 && isr_bit(LAPIC_IRR, VEC_CLASS4));

    lapic_write(LAPIC_TPR, 0x00);
    got = wait_count(VEC_CLASS4, 1);
    cli();
    report("TPR lowered to 0: 0x45 delivered; order 0x65, 0x55, 0x45",
           got && norder == 3 && order[0] == VEC_CLASS6 && order[1] == VEC_CLASS5 && order[2] == VEC_CLASS4);
    report("ISR empty after the EOIs", lapic_read(LAPIC_ISR + 0x20) == 0 && lapic_read(LAPIC_ISR + 0x30) == 0);
}

static void test_exceptions(void)
{
    PROBE("movl $1, %%eax\n\txorl %%edx, %%edx\n\txorl %%ecx, %%ecx", "divl %%ecx", );
    report("#DE: divide by zero, vector 0, eip at the div",
           fault.vector == 0 && fault.eip == probe_at);

    PROBE("", "ud2", );
    report("#UD: ud2, vector 6, eip at the ud2", fault.vector == 6 && fault.eip == probe_at);

    PROBE("", "int3", );
    report("#BP: int3, vector 3, eip after the int3 (a trap)", fault.vector == 3 && fault.eip == probe_at + 1);

    PROBE("movl $0x28, %%eax", "movw %%ax, %%ds", );
    report("#GP: load of selector 0x28 beyond the GDT limit, error code 0x28",
           fault.vector == 13 && fault.error == 0x28 && fault.eip == probe_at);

    /* #PF: take one 4-MiB page at 32 MiB (RAM we do not use) away */
    const uint32_t pde = 0x02000000u >> 22, addr = 0x02000ABCu;
    uint32_t saved = ptl2[pde];
    ptl2[pde] = 0;
    invlpg(addr);
    PROBE("", "movl (%[a]), %%eax", [a] "r"(addr));
    report("#PF: read of a not-present page, CR2 = address, error 0x0",
           fault.vector == 14 && fault.cr2 == addr && fault.error == 0 && fault.eip == probe_at);
    PROBE("", "movl $1, (%[a])", [a] "r"(addr));
    report("#PF: write to a not-present page, error 0x2 (W)",
           fault.vector == 14 && fault.cr2 == addr && fault.error == 2);

    ptl2[pde] = saved & ~2u;            /* present, read-only; CR0.WP is set */
    invlpg(addr);
    PROBE("", "movl $1, (%[a])", [a] "r"(addr));
    report("#PF: supervisor write to a read-only page with CR0.WP, error 0x3 (P|W)",
           fault.vector == 14 && fault.cr2 == addr && fault.error == 3);

    ptl2[pde] = saved;
    invlpg(addr);
    PROBE("", "movl $0x5a5aa5a5, (%[a])\n\tmovl (%[a]), %%eax\n\tcmpl $0x5a5aa5a5, %%eax\n\tje 2f\n\tud2", [a] "r"(addr));
    report("page restored: write and read back without a fault", fault.vector == 0xFFFFFFFF);
}

static void test_ioapic(void)
{
    uint32_t id = ioapic_read(IOAPIC_ID), ver = ioapic_read(IOAPIC_VER);
    printf("ioapic: id register 0x%08x, version register 0x%08x\n", id, ver);
    uint32_t v = ver & 0xFF, maxredir = (ver >> 16) & 0xFF;
    report("IOAPIC version register: version 0x11 or 0x20, 24 redirection entries",
           (v == 0x11 || v == 0x20) && maxredir == 23);

    /* pin 15's entry: write a masked vector and read it back (datasheet 3.2.4;
     * delivery status and remote IRR are read-only and 0 while masked) */
    uint32_t lo = ioapic_read(IOAPIC_REDTBL(15)), hi = ioapic_read(IOAPIC_REDTBL(15) + 1);
    ioapic_write(IOAPIC_REDTBL(15), LVT_MASKED | 0x99);
    ioapic_write(IOAPIC_REDTBL(15) + 1, 0x0F000000);
    uint32_t rlo = ioapic_read(IOAPIC_REDTBL(15)), rhi = ioapic_read(IOAPIC_REDTBL(15) + 1);
    ioapic_write(IOAPIC_REDTBL(15), lo);
    ioapic_write(IOAPIC_REDTBL(15) + 1, hi);
    report("IOAPIC redirection entry 15 reads back (masked, vector 0x99, destination 0x0f)",
           rlo == (LVT_MASKED | 0x99) && (rhi >> 24) == 0x0F);
}

static void test_quiet(void)
{
    lapic_write(LAPIC_ESR, 0);
    report("ESR: no APIC errors", lapic_read(LAPIC_ESR) == 0);
    uint32_t stray = count[VEC_ERROR] + count[VEC_SPURIOUS];
    for (int i = 0; i < 16; i++)
        stray += count[VEC_PIC + i];
    report("no stray interrupts (8259, APIC error, spurious)", stray == 0);
}

int main(void)
{
    /* before any output: the local APIC's identity (SDM 3A 10.4.6, 10.4.8) */
    uint32_t id = lapic_read(LAPIC_ID), ver = lapic_read(LAPIC_VER);

    serial_init();
    printf("cputest: local APIC id register 0x%08x, version register 0x%08x\n", id, ver);
    printf("cputest: APIC id %u, version 0x%x, max LVT entry %u\n", id >> 24, ver & 0xFF, (ver >> 16) & 0xFF);

    idt_init();
    pic_disable();
    lapic_init();

    test_identity(id, ver);
    test_svr();
    test_timer();
    test_ipi(id);
    test_tpr();
    test_exceptions();
    test_ioapic();
    test_quiet();

    printf("SUMMARY: %d tests, %d failures\n", tests, failures);
    return failures;
}

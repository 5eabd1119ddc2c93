/*
 * rings -- guest code at rings 1 and 2: the privilege rules, call gates and stack
 * switches into them, interrupts taken there, and a ring-2 "driver" doing port I/O.
 *
 * OS/2 ran its I/O code at ring 2, Xen's paravirtual kernels run at ring 1: a monitor
 * that runs all guest code below ring 3 translated at one real ring must keep the guest's
 * CPL itself and check every rule against it.  SDM vol 3A 5.5-5.9 (privilege levels,
 * segment loads, call gates, privileged instructions), 6.12 (the stack switch of an
 * interrupt), vol 1 19.5 (IOPL and the I/O permission bitmap), vol 2 CLI/STI/POPF/PUSHF.
 *
 *  1. one instruction per rule at CPL 1 and 2: privileged instructions -> #GP(0) at the
 *     instruction; cli/sti/in/out/ins against IOPL; pushf shows the guest's IOPL and IF,
 *     popf keeps IOPL and moves IF only at CPL <= IOPL; push cs / mov cs / mov ss show
 *     RPL = CPL; lar/verr/verw against CPL; loading a DPL-1 selector into DS/SS at CPL 2.
 *  2. lcall from ring 2 through a DPL-2 call gate into a ring-1 service: the stack comes
 *     from TSS.SS1:ESP1; from ring 1 through a DPL-1 gate into ring 0 (TSS.SS0:ESP0); from
 *     ring 2 through the DPL-1 gate: #GP(gate selector).
 *  3. int 0x82 from ring 2 through a DPL-3 gate to a ring-1 handler (TSS.SS1:ESP1).
 *  4. ring 1 with IF=1 (IOPL 0) takes three PIT interrupts into ring 0.
 *  5. a ring-2 driver writes to COM1 itself: under IOPL 2, then under IOPL 0 through a
 *     TSS I/O permission bitmap that allows 0x3f8-0x3ff only (port 0x80 then #GP(0)).
 */
#include "lib.h"

#define R1_CS 0x31
#define R1_SS 0x39
#define R2_CS 0x42
#define R2_SS 0x4a

uint32_t run_ring(uint32_t cs, uint32_t ss, uint32_t eip, uint32_t esp, uint32_t eflags);
void ring_return(uint32_t v) __attribute__((noreturn));
extern volatile uint32_t svc_rec[5], ticks;
extern char ring1_service[], ring0_service[], ring1_int[];

#define DECL(n) extern char t_##n[], f_##n[];
DECL(cli) DECL(sti) DECL(hlt) DECL(lgdt) DECL(lidt) DECL(lldt) DECL(ltr) DECL(invlpg)
DECL(movcr3) DECL(readcr0) DECL(readdr7) DECL(clts) DECL(lmsw) DECL(wbinvd) DECL(rdmsr)
DECL(wrmsr) DECL(inb) DECL(outdx) DECL(insb) DECL(pushf) DECL(popf) DECL(selectors)
DECL(descr) DECL(loadds) DECL(loadss) DECL(gate2) DECL(gate1) DECL(int82) DECL(spin)
DECL(driver)

static uint8_t stack1[4096] __attribute__((aligned(16)));
static uint8_t stack2[4096] __attribute__((aligned(16)));
static uint8_t stack0[4096] __attribute__((aligned(16)));

/* a TSS with an I/O permission bitmap for ports 0..0x3ff and the terminating 0xff byte */
static struct {
    struct tss32 t;
    uint8_t map[0x400 / 8 + 1];
} __attribute__((packed)) iotss;

/* what ended the last case */
static volatile uint32_t g_vec, g_err, g_eip, g_cs, g_eflags, g_eax, g_ebx, g_ecx, g_edx;
static volatile uint32_t irq_cs, irq_ss;

static void on_end(struct regs *r)       /* int 0x81 and #GP alike */
{
    g_vec = r->vector;
    g_err = r->error;
    g_eip = r->eip;
    g_cs = r->cs;
    g_eflags = r->eflags;
    g_eax = r->eax;
    g_ebx = r->ebx;
    g_ecx = r->ecx;
    g_edx = r->edx;
    if ((r->cs & 3) == 0) {
        printf("unexpected vector %u at ring 0, eip %p err %p\n", r->vector, r->eip, r->error);
        exit(0x7e);
    }
    ring_return(r->vector);
}

static void on_irq0(struct regs *r)
{
    ticks++;
    irq_cs = r->cs;
    irq_ss = (r->cs & 3) ? r->user_ss : 0;
    outb(0x20, 0x20);
}

static uint32_t run(int ring, int iopl, int ifl, char *eip)
{
    uint32_t eflags = EFL_1 | ((uint32_t)iopl << 12) | (ifl ? EFL_IF : 0);
    g_vec = g_err = g_eip = g_cs = 0;
    if (ring == 1)
        return run_ring(R1_CS, R1_SS, (uint32_t)eip, (uint32_t)stack1 + 2048, eflags);
    return run_ring(R2_CS, R2_SS, (uint32_t)eip, (uint32_t)stack2 + 2048, eflags);
}

/* "ring R iopl I NAME: #GP(err) at the instruction" or "ran" */
static void report(int ring, int iopl, const char *name, char *at)
{
    printf("ring %d iopl %d %s: ", ring, iopl, name);
    if (g_vec == 13)
        printf("#GP(%p) %s, cs rpl %u\n", g_err, g_eip == (uint32_t)at ? "at the instruction"
               : "ELSEWHERE", g_cs & 3);
    else
        printf("ran, cs rpl %u, eflags if %u iopl %u\n", g_cs & 3, (g_eflags >> 9) & 1,
               (g_eflags >> 12) & 3);
}

struct one { const char *name; char *t, *f; };
#define ONE(n) { #n, t_##n, f_##n }
static const struct one privileged[] = {
    ONE(cli), ONE(sti), ONE(hlt), ONE(lgdt), ONE(lidt), ONE(lldt), ONE(ltr), ONE(invlpg),
    ONE(movcr3), ONE(readcr0), ONE(readdr7), ONE(clts), ONE(lmsw), ONE(wbinvd), ONE(rdmsr),
    ONE(wrmsr), ONE(inb), ONE(outdx), ONE(insb),
};
static const struct one iopl_cases[] = { ONE(cli), ONE(sti), ONE(inb), ONE(outdx), ONE(insb) };

static void pic_init_timer(void)
{
    outb(0x20, 0x11); outb(0xa0, 0x11);
    outb(0x21, 0x20); outb(0xa1, 0x28);
    outb(0x21, 0x04); outb(0xa1, 0x02);
    outb(0x21, 0x01); outb(0xa1, 0x01);
    outb(0x21, 0xfe); outb(0xa1, 0xff);  /* IRQ0 only */
    outb(0x43, 0x34);                    /* ch0, lo/hi, mode 2 */
    outb(0x40, 0x00); outb(0x40, 0x10);  /* 4096: ~291 Hz */
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    putln("rings: guest code at CPL 1 and 2");
    gdt_set(6, 0, 0xfffff, 0xba, GDT_F_32);    /* 0x30 ring-1 code */
    gdt_set(7, 0, 0xfffff, 0xb2, GDT_F_32);    /* 0x38 ring-1 data */
    gdt_set(8, 0, 0xfffff, 0xda, GDT_F_32);    /* 0x40 ring-2 code */
    gdt_set(9, 0, 0xfffff, 0xd2, GDT_F_32);    /* 0x48 ring-2 data */
    gdt_set_gate(10, R1_CS & ~3, (uint32_t)ring1_service, 0xc, 2, 0);  /* 0x50: DPL 2 */
    gdt_set_gate(11, 0x08, (uint32_t)ring0_service, 0xc, 1, 0);        /* 0x58: DPL 1 */
    idt_init();
    pic_mask_all();
    set_handler(13, on_end);
    set_handler(0x81, on_end);
    idt_set_gate(0x81, isr_stub_table[0x81], 0x08, 0xe, 3);
    idt_set_gate(0x82, (uint32_t)ring1_int, R1_CS & ~3, 0xe, 3);
    set_handler(0x20, on_irq0);
    tss_init((uint32_t)stack0 + 4096);
    tss.esp1 = (uint32_t)stack1 + 4096; tss.ss1 = R1_SS;
    tss.esp2 = (uint32_t)stack2 + 4096; tss.ss2 = R2_SS;

    /* 1. privileged and IOPL-sensitive instructions at IOPL 0 */
    for (int ring = 1; ring <= 2; ring++)
        for (unsigned i = 0; i < sizeof privileged / sizeof privileged[0]; i++) {
            run(ring, 0, 0, privileged[i].t);
            report(ring, 0, privileged[i].name, privileged[i].f);
        }
    static const int pairs[][2] = { {1, 1}, {1, 3}, {2, 1}, {2, 2}, {2, 3} };
    for (unsigned p = 0; p < 5; p++)
        for (unsigned i = 0; i < sizeof iopl_cases / sizeof iopl_cases[0]; i++) {
            run(pairs[p][0], pairs[p][1], 0, iopl_cases[i].t);
            report(pairs[p][0], pairs[p][1], iopl_cases[i].name, iopl_cases[i].f);
        }
    static const int flag_pairs[][2] = { {1, 0}, {1, 1}, {2, 1}, {2, 2}, {2, 3} };
    for (unsigned p = 0; p < 5; p++)
        for (int ifl = 0; ifl <= 1; ifl++) {
            int ring = flag_pairs[p][0], iopl = flag_pairs[p][1];
            run(ring, iopl, ifl, t_pushf);  /* every PIC line is masked: no interrupt comes */
            uint32_t image = g_eax;
            run(ring, iopl, ifl, t_popf);
            printf("ring %d iopl %d if %d: pushf image iopl %u if %u; popf 0x3202 -> iopl %u if %u\n",
                   ring, iopl, ifl, (image >> 12) & 3, (image >> 9) & 1,
                   (g_eax >> 12) & 3, (g_eax >> 9) & 1);
        }
    for (int ring = 1; ring <= 2; ring++) {
        run(ring, 0, 0, t_selectors);
        printf("ring %d: push cs %p, mov cs %p, mov ss %p\n", ring, g_eax & 0xffff,
               g_ebx & 0xffff, g_ecx & 0xffff);
        run(ring, 0, 0, t_descr);
        printf("ring %d: lar 0x39 zf %u, lar 0x4a zf %u, verr 0x31 zf %u, verw 0x4a zf %u\n",
               ring, g_eax, g_ebx, g_ecx, g_edx);
        run(ring, 0, 0, t_loadds);
        report(ring, 0, "mov ds, 0x39", f_loadds);
        run(ring, 0, 0, t_loadss);
        report(ring, 0, "mov ss, 0x39", f_loadss);
    }

    /* 2. call gates into rings 1 and 0 */
    run(2, 0, 0, t_gate2);
    report(2, 0, "lcall gate 0x50 (DPL 2)", f_gate2);
    printf("  ring-1 service: cs %p ss %p esp = esp1 - %u, caller cs %p ss %p\n",
           svc_rec[0] & 0xffff, svc_rec[1] & 0xffff, tss.esp1 - svc_rec[2],
           svc_rec[3] & 0xffff, svc_rec[4] & 0xffff);
    run(1, 0, 0, t_gate1);
    report(1, 0, "lcall gate 0x58 (DPL 1)", f_gate1);
    printf("  ring-0 service: cs %p ss %p esp = esp0 - %u, caller cs %p ss %p\n",
           svc_rec[0] & 0xffff, svc_rec[1] & 0xffff, tss.esp0 - svc_rec[2],
           svc_rec[3] & 0xffff, svc_rec[4] & 0xffff);
    run(2, 0, 0, t_gate1);
    report(2, 0, "lcall gate 0x58 (DPL 1)", f_gate1);

    /* 3. an interrupt gate to a ring-1 handler, from ring 2 */
    run(2, 0, 0, t_int82);
    report(2, 0, "int 0x82 to ring 1", f_int82);
    printf("  ring-1 handler: cs %p ss %p esp = esp1 - %u, frame cs %p ss %p\n",
           svc_rec[0] & 0xffff, svc_rec[1] & 0xffff, tss.esp1 - svc_rec[2],
           svc_rec[3] & 0xffff, svc_rec[4] & 0xffff);

    /* 4. timer interrupts taken at ring 1 */
    pic_init_timer();
    run(1, 0, 1, t_spin);
    pic_mask_all();
    report(1, 0, "spin with IF=1", f_spin);
    printf("  %s3 ticks, interrupted cs %p ss %p\n", ticks >= 3 ? ">= " : "FEWER THAN ",
           irq_cs & 0xffff, irq_ss & 0xffff);

    /* 5. the ring-2 driver: IOPL 2, then IOPL 0 with an I/O bitmap */
    run(2, 2, 0, t_driver);
    report(2, 2, "driver, inb 0x80", f_driver);
    memcpy(&iotss.t, &tss, sizeof tss);
    memset(iotss.map, 0xff, sizeof iotss.map);
    iotss.map[0x3f8 / 8] = 0x00;              /* ports 0x3f8-0x3ff */
    iotss.t.iomap_base = sizeof(struct tss32);
    gdt_set(5, (uint32_t)&iotss, sizeof iotss - 1, 0x89, 0);
    ltr(0x28);
    run(2, 0, 0, t_driver);
    report(2, 0, "driver through the bitmap, inb 0x80", f_driver);
    done();
}

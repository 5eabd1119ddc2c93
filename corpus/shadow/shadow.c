/*
 * shadow -- the interrupt shadow of mov ss, pop ss and sti at CPL 0 and 3
 * (SDM vol 3A 6.8.3 "Masking Exceptions and Interrupts When Switching
 * Stacks"; vol 2B STI: "the processor responds to an external interrupt
 * after executing the next instruction").
 *
 * The PIT runs fast (reload 200, ~6 kHz) and its IRQ0 lands at arbitrary
 * boundaries of the windows in shadow.S.  The handler checks the saved EIP:
 * it must never point at the instruction a shadow covers.  Every window runs
 * until 24 interrupts were taken inside it, so a monitor that lets an IRQ
 * through one instruction early is caught with near certainty (about half of
 * the arrivals fall inside a shadow).  Only ok/FAIL lines are printed: where
 * the ticks land depends on speed, the rule does not.
 */
#include "lib.h"

#define TARGET 24

extern volatile uint32_t shadow_hits, shadow_target;
extern char win_movss_start[], win_movss_end[], win_popss_start[], win_popss_end[];
extern char win_sti_start[], win_sti_end[];
extern char user_code[];
void run_movss(void), run_popss(void), run_sti(void);

static const struct { const char *name; char *start, *end; } windows[] = {
    {"mov ss", win_movss_start, win_movss_end},
    {"pop ss", win_popss_start, win_popss_end},
    {"sti", win_sti_start, win_sti_end},
};

static volatile uint32_t in_shadow[3][4], taken[3][4];
static uint32_t user_stack[1024];

static void on_irq0(struct regs *r)
{
    for (int w = 0; w < 3; w++) {
        uint32_t start = (uint32_t)windows[w].start;
        if (r->eip >= start && r->eip < (uint32_t)windows[w].end) {
            int ring = r->cs & 3;
            taken[w][ring]++;
            if ((r->eip - start) % 3 == 2)
                in_shadow[w][ring]++;
            shadow_hits++;
        }
    }
    outb(0x20, 0x20);
}

static void on_spurious(struct regs *r) { (void)r; }

static void sys_return(struct regs *r) { (void)r; user_return(0); }

static void run_ring0(void (*fn)(void))
{
    shadow_hits = 0;
    __asm__ volatile("sti; call *%0; cli" :: "r"(fn), "a"(SEL_KDATA) : "ecx", "edx", "memory");
}

static void report(int ring)
{
    for (int w = 0; w < 3; w++) {
        checkf(taken[w][ring] >= TARGET && in_shadow[w][ring] == 0,
               "%s holds interrupts for one instruction at CPL %d", windows[w].name, ring);
        if (in_shadow[w][ring])
            printf("  %d of %d interrupts taken inside the shadow\n",
                   in_shadow[w][ring], taken[w][ring]);
    }
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    idt_init();
    tss_init(0);
    set_handler(0x20, on_irq0);
    set_handler(0x27, on_spurious);
    set_handler(0x80, sys_return);
    idt_set_gate(0x80, isr_stub_table[0x80], SEL_KCODE, 0xe, 3);
    outb(0x20, 0x11); outb(0xa0, 0x11);  /* ICW1 */
    outb(0x21, 0x20); outb(0xa1, 0x28);  /* ICW2: vector bases */
    outb(0x21, 0x04); outb(0xa1, 0x02);  /* ICW3: cascade on IRQ2 */
    outb(0x21, 0x01); outb(0xa1, 0x01);  /* ICW4: 8086 mode */
    outb(0x21, 0xfe); outb(0xa1, 0xff);  /* only IRQ0 */
    outb(0x43, 0x34);                    /* channel 0, lo/hi, mode 2 */
    outb(0x40, 200); outb(0x40, 0);
    shadow_target = TARGET;

    run_ring0(run_movss);
    run_ring0(run_popss);
    run_ring0(run_sti);
    report(0);

    shadow_hits = 0;
    write_eflags(read_eflags() | EFL_IOPL | EFL_IF);  /* IOPL 3: sti at CPL 3 */
    run_user((uint32_t)user_code, (uint32_t)&user_stack[1024]);
    cli();
    report(3);
    done();
}

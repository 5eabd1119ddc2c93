/*
 * exceptions -- the architectural exceptions at ring 0: vector, error
 * code, saved EIP (fault: the faulting instruction; trap: the next one),
 * CR2 for #PF, DR6 for #DB, and resumption after each.
 *
 * Probes (Intel SDM vol 3 ch. 6 "Interrupt and Exception Handling", 6.15
 * per-vector reference; vol 2 for the instructions):
 *  - #DE: DIV by zero, DIV quotient overflow, IDIV INT_MIN/-1 (32- and
 *    8-bit), AAM 0.
 *  - #UD: UD2, UD1, LOCK on a non-memory / non-lockable instruction, LEA
 *    with a register source, MOV to CS, MOV to CR5.  A translator's decoder
 *    must reject exactly these.
 *  - #GP: selector beyond the GDT limit, a TSS selector into ES, null /
 *    code / RPL-mismatched SS (error code = selector, 6.13), far JMP to a
 *    data segment, an instruction longer than 15 bytes (vol 2 2.3.11),
 *    INT n beyond the IDT limit (error vector*8+2, IDT bit set).
 *  - #NP: not-present data segment loaded into ES; INT n through a
 *    not-present gate (error vector*8+2).  #SS: not-present segment loaded
 *    into SS (#SS, not #NP).
 *  - #BP (INT3 and INT 3: traps, EIP after the instruction), #OF (INTO
 *    with OF=1; none with OF=0), #BR (BOUND).
 *  - #NM: x87 instruction with CR0.TS=1; WAIT faults only if MP=1 too.
 *    #MF: unmasked x87 zero-divide reported at the next WAIT (CR0.NE=1).
 *  - #PF with 4 MiB-page paging: not-present read (err 0) and write
 *    (err 2), a 4-byte write straddling into a not-present page (CR2 =
 *    first byte of the absent page), an instruction fetch from an absent
 *    page (err 0: the I/D bit is reported only with PAE+NXE or SMEP, 4.7).
 *  - #DB: single-stepping with the MOV SS / POP SS trap suppression (6.8.3,
 *    17.3.1.4), an instruction breakpoint resumed with EFLAGS.RF, a 4-byte
 *    data-write breakpoint (trap), DR6 status bits (kept sticky by the CPU,
 *    so the handler clears them).
 *  - Interrupt gate vs trap gate: IF cleared only through an interrupt
 *    gate (6.12.1.3).
 *  - #DF: #GP raised while the #GP gate is not present (contributory +
 *    contributory, table 6-5): vector 8, error 0; its saved EIP is
 *    undefined, so the handler resumes at a known label.
 * Not probed because QEMU 7.2's TCG (the reference) does not model them
 * as hardware does: segment limit / read-only / null-selector checks on
 * ordinary data accesses, #AC, LOCK MOV (#UD on hardware), MOV CR0 with
 * PG=1 PE=0 (#GP on hardware).
 */
#include "lib.h"

#define K_EIP 0
#define K_ANY 1
#define K_CR2 2

struct probe {
    uint32_t start, end;
    const char *name;
    uint32_t vector, error, eip_off, kind;
};

extern struct probe probe_table[];
extern void probes_de_ud(void), probes_seg(void), probes_misc(void);
extern void probes_pf(void), probes_df(void);
extern void db_singlestep(void), db_exec(void), db_data(void);
extern char db_ss_base[], db_ss_stop[], db_exec_insn[];
extern char db_data_base[], db_dw1[], db_dw2[], db_dw3[];
extern uint32_t db_exec_count;
extern uint16_t fpu_sw;

static const char *const mnem[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "-", "#TS", "#NP",
    "#SS", "#GP", "#PF", "-", "#MF", "#AC", "#MC", "#XM", "#VE",
};

static int cur;

static void on_exception(struct regs *r)
{
    struct probe *p = &probe_table[cur];
    if (!p->start) {
        printf("FAIL: unexpected vector %u err 0x%08x eip %p\n", r->vector, r->error, r->eip);
        check_failures++;
        done();
    }
    uint32_t off = r->eip - p->start;
    int ok = r->vector == p->vector && r->error == p->error;
    if (p->kind == K_EIP)
        ok = ok && off == p->eip_off;
    else if (p->kind == K_CR2)
        ok = ok && r->eip == read_cr2();
    printf("%s %-22s vector %2u %-3s err 0x%04x", ok ? "ok:  " : "FAIL:", p->name,
           r->vector, r->vector < 32 && mnem[r->vector] ? mnem[r->vector] : "?", r->error);
    if (p->kind == K_EIP)
        printf(" eip=start+%u", off);
    else if (p->kind == K_CR2)
        printf(" eip%scr2", r->eip == read_cr2() ? "=" : "!=");
    if (r->vector == 14)
        printf(" cr2 %p", read_cr2());
    putc('\n');
    if (!ok) {
        printf("       expected vector %u err 0x%04x eip=start+%u\n", p->vector, p->error,
               p->eip_off);
        check_failures++;
    }
    r->eip = p->end;
    r->cs = SEL_KCODE;          /* for #DF, where the saved CS is undefined too */
    cur++;
}

/* #DB recorder */
#define NDB 16
static uint32_t db_base, db_stop, db_n, db_eip[NDB], db_dr6[NDB];

static void on_debug(struct regs *r)
{
    uint32_t dr6;
    __asm__ volatile("movl %%dr6, %0" : "=r"(dr6));
    __asm__ volatile("movl %0, %%dr6" :: "r"(0u));
    if (db_n < NDB) {
        db_eip[db_n] = r->eip - db_base;
        db_dr6[db_n] = dr6 & 0xe00f;    /* BD BS BT B3..B0 */
        db_n++;
    }
    if (dr6 & 0x0f) {                   /* breakpoint: an exec bp is a fault */
        r->eflags |= EFL_RF;
    }
    if (r->eip == db_stop || db_n >= NDB)
        r->eflags &= ~EFL_TF;
}

static void db_run(const char *what, void (*fn)(void), uint32_t base, uint32_t stop)
{
    db_base = base;
    db_stop = stop;
    db_n = 0;
    fn();
    printf("%s: %u traps:", what, db_n);
    for (uint32_t i = 0; i < db_n; i++)
        printf(" +%u/dr6=%x", db_eip[i], db_dr6[i]);
    putc('\n');
}

static int db_expect(const uint32_t *eips, uint32_t dr6, uint32_t n)
{
    if (db_n != n)
        return 0;
    for (uint32_t i = 0; i < n; i++)
        if (db_eip[i] != eips[i] || db_dr6[i] != dr6)
            return 0;
    return 1;
}

static volatile uint32_t gate_if_inside, gate_if_frame;

static void on_gate(struct regs *r)
{
    gate_if_inside = read_eflags() & EFL_IF;
    gate_if_frame = r->eflags & EFL_IF;
}

static uint32_t pd[1024] __attribute__((aligned(4096)));


void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    (void)mbi;
    putln("exceptions: vectors, error codes, saved EIP");
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
    idt_init();
    for (int v = 0; v < 32; v++)
        set_handler(v, on_exception);
    set_handler(1, on_debug);
    /* spare GDT entry 0x30: a writable data segment that is not present */
    gdt_set(6, 0, 0xfffff, 0x12, GDT_F_32);
    /* IDT 0x42: present bit cleared */
    idt[0x42] &= ~(1ull << 47);

    putln("-- #DE #UD");
    probes_de_ud();
    putln("-- #GP #NP #SS");
    probes_seg();
    check_eq("ds/es/ss reloaded", read_ds() | read_es() << 8 | read_ss() << 16, 0x101010);
    putln("-- #BP #OF #BR #NM #MF");
    probes_misc();
    printf("x87 status after #MF: exceptions 0x%02x\n", fpu_sw & 0x3f);
    check_eq("x87 ZE flagged", fpu_sw & 0x3f, 0x04);

    putln("-- #PF (4 MiB pages: only 0-4 MiB present)");
    pd[0] = 0x00000083;                 /* P | RW | PS */
    write_cr3((uint32_t)pd);
    write_cr4(read_cr4() | 0x10);       /* PSE */
    write_cr0(read_cr0() | CR0_PG | CR0_WP);
    probes_pf();
    write_cr0(read_cr0() & ~CR0_PG);

    putln("-- #DB");
    db_run("single step", db_singlestep, (uint32_t)db_ss_base, (uint32_t)db_ss_stop);
    {
        static const uint32_t want[] = {1, 3, 6, 7, 9, 14};
        check(db_expect(want, 0x4000, 6), "single step skips the trap after mov ss / pop ss");
    }
    db_run("exec breakpoint x3", db_exec, (uint32_t)db_exec_insn, 0);
    {
        static const uint32_t want[] = {0, 0, 0};
        check(db_expect(want, 0x1, 3) && db_exec_count == 3,
              "instruction breakpoint: fault, RF resumes, hit on every pass");
    }
    db_run("data write breakpoint", db_data, (uint32_t)db_data_base, 0);
    {
        uint32_t b = (uint32_t)db_data_base;
        uint32_t want[] = {(uint32_t)db_dw1 - b, (uint32_t)db_dw2 - b, (uint32_t)db_dw3 - b};
        check(db_expect(want, 0x2, 3), "data breakpoint: traps after the 3 overlapping writes");
    }

    putln("-- interrupt gate vs trap gate");
    idt_set_gate(0x45, isr_stub_table[0x45], SEL_KCODE, 0xe, 0);
    idt_set_gate(0x46, isr_stub_table[0x46], SEL_KCODE, 0xf, 0);
    set_handler(0x45, on_gate);
    set_handler(0x46, on_gate);
    sti();
    __asm__ volatile("int $0x45" ::: "memory");
    uint32_t ig_in = gate_if_inside, ig_fr = gate_if_frame;
    __asm__ volatile("int $0x46" ::: "memory");
    uint32_t tg_in = gate_if_inside, tg_fr = gate_if_frame;
    cli();
    printf("interrupt gate: IF inside %u, IF in frame %u\n", ig_in >> 9, ig_fr >> 9);
    printf("trap gate:      IF inside %u, IF in frame %u\n", tg_in >> 9, tg_fr >> 9);
    check(!ig_in && ig_fr && tg_in && tg_fr, "only the interrupt gate clears IF");

    putln("-- #DF");
    idt[13] &= ~(1ull << 47);
    probes_df();
    idt[13] |= 1ull << 47;

    printf("%u exceptions taken as expected by the probe table\n", cur);
    uint32_t n = 0;
    for (struct probe *p = probe_table; p->start; p++)
        n++;
    check_eq("every probe faulted once", cur, n);
    done();
}

/*
 * usermode -- ring 3 under a ring-0 kernel: privilege transitions,
 * system calls, and what user code can observe of the machine.
 *
 * Probes (Intel SDM vol 3):
 *  - IRET to an outer privilege level and INT n through a DPL-3 interrupt
 *    gate with the stack switch to TSS.SS0:ESP0 (6.12.1, 7.2.1): the frame
 *    must sit exactly below ESP0 and hold the user CS/SS/ESP/EFLAGS.
 *  - What CPL-3 code sees with no virtualization support (2.8, 5.5, vol 1
 *    3.4.3): PUSH CS / MOV r,CS show RPL 3; PUSHF shows IF=1 IOPL=0; POPF
 *    silently keeps IF and IOPL; SGDT/SIDT/SLDT/STR/SMSW are unprivileged
 *    and return the kernel's real values; LAR/LSL/VERR/VERW apply the
 *    CPL/DPL rules.  A monitor running the guest kernel deprivileged must
 *    make all of these look like the guest's own ring 0 set-up.
 *  - Privileged and IOPL-sensitive instructions at CPL 3 raise #GP with the
 *    faulting EIP (6.15 "Interrupt 13"): CLI, STI, HLT, IN, OUT, MOV CR/DR,
 *    CLTS, LIDT, RDMSR; INT n / INT3 / INTO through a DPL-0 gate give
 *    #GP(vector*8+2) (6.12.1.1); segment loads that violate privilege give
 *    #GP(selector) (5.6-5.8); IRET to ring 0 gives #GP(CS).
 *  - With IOPL=3 (set by the kernel in the frame) CLI/STI/IN work at CPL 3,
 *    POPF may change IF but not IOPL, HLT still faults.
 *  - IRET to CPL 3 nulls a data segment register holding a DPL-0 segment
 *    (vol 2 IRET).  (The #GP(0) on a later access through it is not
 *    probed: QEMU's TCG, the reference, does not check null DS.)
 *  - #BP through a DPL-3 gate is a trap: the saved EIP follows the INT3.
 * User code also does ordinary work (adler32, an insertion sort) whose
 * results the kernel recomputes at ring 0.
 */
#include "lib.h"

#define SYS_EXIT    0
#define SYS_WRITE   1
#define SYS_PUTHEX  2
#define SYS_GETVAL  3
#define SYS_FRAME   4
#define SYS_SETIOPL 5
#define SYS_NULLDS  6
#define SYS_BPDPL3  7

struct probe {
    uint32_t start, end;
    const char *name;
    uint32_t kind;      /* 0 fault, 1 trap */
};

extern struct probe probe_table[];
extern char user_entry[];

extern uint32_t u_eflags_entry, u_push_cs, u_mov_cs, u_mov_ss, u_mov_ds;
extern uint32_t u_popf_result, u_sldt, u_str, u_smsw;
extern struct dtr u_sgdt, u_sidt;
extern uint32_t u_lsl_ucode, u_lsl_kcode, u_lar_udata;
extern uint8_t u_lsl_ucode_zf, u_lsl_kcode_zf, u_lsl_tss_zf, u_lar_udata_zf;
extern uint8_t u_verr_kcode, u_verr_ucode, u_verw_ucode, u_verw_udata;
extern uint32_t u_ds_code, u_ds_code_read, u_magic;
extern uint32_t u_fl_iopl3, u_fl_iopl3_cli, u_fl_iopl3_sti;
extern uint32_t u_fl_iopl3_popf0, u_fl_iopl3_popf1, u_fl_iopl0;
extern uint8_t u_in21_iopl3;
extern uint32_t u_esp_at_int, u_ds_after_null, u_es_after_null;

static uint8_t kstack[8192] __attribute__((aligned(16)));
static uint8_t ustack[8192] __attribute__((aligned(16)));
#define KSTACK_TOP ((uint32_t)kstack + sizeof kstack)
#define USTACK_TOP ((uint32_t)ustack + sizeof ustack)

/* ------------------------------------------------------------ user code */
/* Everything in this section runs at CPL 3. */
static inline uint32_t sys(uint32_t nr, uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b) : "memory");
    return r;
}

static void uputs(const char *s)
{
    uint32_t n = 0;
    while (s[n])
        n++;
    sys(SYS_WRITE, (uint32_t)s, n);
}

static void uputhex(const char *label, uint32_t v)
{
    uputs(label);
    sys(SYS_PUTHEX, v, 0);
    uputs("\n");
}

#define NBUF 4096
#define NSORT 32
static uint8_t ubuf[NBUF];
static uint32_t usort[NSORT];
uint32_t u_adler, u_sorted_ok, u_sort_hash, u_getval;

static uint32_t adler32(const uint8_t *p, uint32_t n)
{
    uint32_t a = 1, b = 0;
    for (uint32_t i = 0; i < n; i++) {
        a = (a + p[i]) % 65521;
        b = (b + a) % 65521;
    }
    return (b << 16) | a;
}

static void fill(uint8_t *buf, uint32_t *arr)
{
    uint32_t x = 12345;
    for (int i = 0; i < NBUF; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    for (int i = 0; i < NSORT; i++) {
        x = x * 1103515245u + 12345u;
        arr[i] = x >> 8;
    }
}

static void isort(uint32_t *a, int n)
{
    for (int i = 1; i < n; i++) {
        uint32_t v = a[i];
        int j = i - 1;
        while (j >= 0 && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

static uint32_t sort_hash(const uint32_t *a, int n)
{
    uint32_t h = 0;
    for (int i = 0; i < n; i++)
        h = (h ^ a[i]) * 16777619u + (uint32_t)i;
    return h;
}

uint32_t user_main(void);
uint32_t user_main(void)
{
    uputs("user: hello from ring 3\n");
    fill(ubuf, usort);
    u_adler = adler32(ubuf, NBUF);
    uputhex("user: adler32 of 4 KiB = ", u_adler);
    isort(usort, NSORT);
    u_sorted_ok = 1;
    for (int i = 1; i < NSORT; i++)
        if (usort[i - 1] > usort[i])
            u_sorted_ok = 0;
    u_sort_hash = sort_hash(usort, NSORT);
    uputhex("user: sorted min = ", usort[0]);
    uputhex("user: sorted max = ", usort[NSORT - 1]);
    uputhex("user: sort hash  = ", u_sort_hash);
    u_getval = sys(SYS_GETVAL, 0x1234, 0);
    uputhex("user: getval(0x1234) = ", u_getval);
    return 0;
}

/* ------------------------------------------------------------ kernel */
static uint32_t nsys, nfaults, exit_value;
static int frame_checked, frame_ok;
static uint32_t f_cs, f_ss, f_ds, f_eflags, f_user_esp, f_where;

static void fault(struct regs *r)
{
    for (struct probe *p = probe_table; p->start; p++) {
        uint32_t at = p->kind ? p->end : p->start;
        if (r->eip != at)
            continue;
        printf("ring3 %-13s -> vector %2u err 0x%04x cs 0x%02x eip=%s%s\n",
               p->name, r->vector, r->error, r->cs & 0xffff,
               p->kind ? "end" : "start", ((uint32_t)(r + 1) == KSTACK_TOP) ? "" : " BAD-STACK");
        nfaults++;
        r->eip = p->end;
        return;
    }
    printf("FAIL: unexpected vector %u err 0x%08x eip 0x%08x cs 0x%04x\n",
           r->vector, r->error, r->eip, r->cs & 0xffff);
    check_failures++;
    done();
}

static void syscall(struct regs *r)
{
    nsys++;
    if (!frame_checked) {
        frame_checked = 1;
        frame_ok = (uint32_t)(r + 1) == KSTACK_TOP;
    }
    switch (r->eax) {
    case SYS_EXIT:
        exit_value = r->ebx;
        user_return(r->ebx);
    case SYS_WRITE: {
        const char *s = (const char *)r->ebx;
        for (uint32_t i = 0; i < r->ecx; i++)
            putc(s[i]);
        break;
    }
    case SYS_PUTHEX:
        puthex(r->ebx);
        break;
    case SYS_GETVAL:
        r->eax = r->ebx * 3 + 7;
        break;
    case SYS_FRAME:
        f_cs = r->cs & 0xffff;
        f_ss = r->user_ss & 0xffff;
        f_ds = r->ds & 0xffff;
        f_eflags = r->eflags;
        f_user_esp = r->user_esp;
        f_where = (uint32_t)(r + 1);
        break;
    case SYS_SETIOPL:
        r->eflags = (r->eflags & ~EFL_IOPL) | ((r->ebx & 3) << 12);
        break;
    case SYS_NULLDS:
        r->ds = SEL_KDATA;
        break;
    case SYS_BPDPL3:
        idt_set_gate(3, isr_stub_table[3], SEL_KCODE, 0xe, 3);
        break;
    default:
        printf("FAIL: bad syscall %u\n", r->eax);
        check_failures++;
        break;
    }
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    (void)mbi;
    putln("usermode: ring 3, system calls, sensitive instructions");
    outb(0x21, 0xff);           /* mask every PIC line: IF=1 at ring 3 */
    outb(0xa1, 0xff);
    idt_init();
    tss_init(KSTACK_TOP);
    idt_set_gate(0x80, isr_stub_table[0x80], SEL_KCODE, 0xe, 3);
    set_handler(0x80, syscall);
    set_handler(3, fault);
    set_handler(13, fault);

    struct dtr kgdt, kidt;
    sgdt(&kgdt);
    sidt(&kidt);
    uint32_t kstr = str(), ksldt = sldt(), kmsw = read_cr0() & 0xffff;
    uint32_t klsl_tss;
    __asm__ volatile("lsl %1, %0" : "=r"(klsl_tss) : "r"((uint32_t)SEL_TSS));

    uint32_t v = run_user_eflags((uint32_t)user_entry, USTACK_TOP, 0x202);
    cli();
    putln("kernel: back at ring 0");
    check_eq("SYS_EXIT value", v, 0x55aa);
    check_eq("read_cs() at ring 0 again", read_cs(), SEL_KCODE);

    putln("-- what ring 3 saw");
    printf("user eflags at entry   %p\n", u_eflags_entry);
    check_eq("first user pushf = iret eflags", u_eflags_entry, 0x202);
    printf("user push cs           %p\n", u_push_cs);
    check_eq("push cs has RPL 3", u_push_cs, SEL_UCODE);
    check_eq("mov cs", u_mov_cs, SEL_UCODE);
    check_eq("mov ss", u_mov_ss, SEL_UDATA);
    check_eq("mov ds", u_mov_ds, SEL_UDATA);
    printf("popf 0x30d5 -> pushf   %p\n", u_popf_result);
    check_eq("popf at CPL3/IOPL0 keeps IF=1 IOPL=0", u_popf_result, 0x2d7);
    printf("sgdt limit 0x%04x, sidt limit 0x%04x\n", u_sgdt.limit, u_sidt.limit);
    check(u_sgdt.limit == kgdt.limit && u_sgdt.base == kgdt.base, "sgdt at ring 3 = kernel gdtr");
    check(u_sidt.limit == kidt.limit && u_sidt.base == kidt.base, "sidt at ring 3 = kernel idtr");
    printf("str %p sldt %p smsw&0xffff %p\n", u_str & 0xffff, u_sldt & 0xffff, u_smsw & 0xffff);
    check_eq("str at ring 3", u_str & 0xffff, kstr);
    check_eq("sldt at ring 3", u_sldt & 0xffff, ksldt);
    check_eq("smsw at ring 3 = cr0[15:0]", u_smsw & 0xffff, kmsw);
    printf("lsl 0x1b -> %p zf %u\n", u_lsl_ucode, u_lsl_ucode_zf);
    check(u_lsl_ucode == 0xffffffff && u_lsl_ucode_zf, "lsl user code");
    printf("lsl 0x08 -> zf %u (dest %p)\n", u_lsl_kcode_zf, u_lsl_kcode);
    check(!u_lsl_kcode_zf && u_lsl_kcode == 0x12345678, "lsl ring-0 code fails at CPL 3");
    printf("lsl 0x28 -> zf %u at CPL 3; %p at CPL 0\n", u_lsl_tss_zf, klsl_tss);
    check(!u_lsl_tss_zf && klsl_tss == 0x67, "lsl tss: CPL 3 fails, CPL 0 = 0x67");
    printf("lar 0x23 -> %p zf %u (accessed bit masked)\n", u_lar_udata & ~0x100u, u_lar_udata_zf);
    check(u_lar_udata_zf && (u_lar_udata & ~0x100u) == 0x00c0f200, "lar user data (mask 0x00f0ff00)");
    printf("verr 0x08 %u, verr 0x1b %u, verw 0x1b %u, verw 0x23 %u\n",
           u_verr_kcode, u_verr_ucode, u_verw_ucode, u_verw_udata);
    check(!u_verr_kcode && u_verr_ucode && !u_verw_ucode && u_verw_udata, "verr/verw");
    check(u_ds_code == SEL_UCODE && u_ds_code_read == 0xc0dec0de, "ds = readable code segment");

    putln("-- IOPL 3");
    printf("pushf after iopl=3     %p\n", u_fl_iopl3 & (EFL_IF | EFL_IOPL));
    printf("pushf after cli        %p\n", u_fl_iopl3_cli & (EFL_IF | EFL_IOPL));
    printf("in 0x21                0x%02x\n", u_in21_iopl3);
    printf("pushf after sti        %p\n", u_fl_iopl3_sti & (EFL_IF | EFL_IOPL));
    printf("popf 0 -> pushf        %p\n", u_fl_iopl3_popf0 & (EFL_IF | EFL_IOPL));
    printf("popf 0x202 -> pushf    %p\n", u_fl_iopl3_popf1 & (EFL_IF | EFL_IOPL));
    printf("pushf after iopl=0     %p\n", u_fl_iopl0 & (EFL_IF | EFL_IOPL));
    check(u_fl_iopl3_cli == (u_fl_iopl3 & ~EFL_IF) && (u_fl_iopl3 & 0x3200) == 0x3200,
          "cli at CPL 3 with IOPL 3 clears IF");
    check_eq("in at CPL 3 with IOPL 3", u_in21_iopl3, 0xff);
    check((u_fl_iopl3_popf0 & 0x3200) == 0x3000 && (u_fl_iopl3_popf1 & 0x3200) == 0x3200,
          "popf at CPL 3 IOPL 3: IF changes, IOPL does not");
    check_eq("IOPL back to 0", u_fl_iopl0 & (EFL_IF | EFL_IOPL), EFL_IF);

    putln("-- syscall frame");
    printf("frame cs %p ss %p ds %p eflags&0x3200 %p\n", f_cs, f_ss, f_ds, f_eflags & 0x3200);
    check(f_cs == SEL_UCODE && f_ss == SEL_UDATA && f_ds == SEL_UDATA, "frame selectors");
    check_eq("frame user_esp = esp at int", f_user_esp, u_esp_at_int);
    check_eq("frame ends at TSS.esp0", f_where, KSTACK_TOP);
    check(frame_ok, "first syscall frame at TSS.esp0");

    putln("-- iret with a DPL-0 data selector");
    printf("ds after iret %p, es %p\n", u_ds_after_null, u_es_after_null);
    check_eq("ds nulled by iret", u_ds_after_null, 0);
    check_eq("es kept", u_es_after_null, SEL_UDATA);

    putln("-- ring-0 recomputation");
    static uint8_t kbuf[NBUF];
    static uint32_t ksort[NSORT];
    fill(kbuf, ksort);
    check_eq("adler32", u_adler, adler32(kbuf, NBUF));
    isort(ksort, NSORT);
    check(u_sorted_ok, "user array sorted");
    check_eq("sort hash", u_sort_hash, sort_hash(ksort, NSORT));
    check_eq("getval", u_getval, 0x1234 * 3 + 7);

    printf("summary: %u system calls, %u ring-3 exceptions\n", nsys, nfaults);
    uint32_t nprobes = 0;
    for (struct probe *p = probe_table; p->start; p++)
        nprobes++;
    check_eq("every probe hit once", nfaults, nprobes);
    done();
}

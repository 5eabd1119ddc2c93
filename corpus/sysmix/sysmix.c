/*
 * sysmix -- a mixed workload of the instructions a VMware-style monitor
 * must virtualize, run at ring 0 and at ring 3, interleaved with plain
 * computation whose control flow (indirect calls, jump tables, computed
 * gotos, recursion, string instructions) the translator must get right.
 * Paging stays off throughout.
 *
 * Ring 0 (SDM vol. 2 for each instruction; vol. 3 2.5 and 2.8 for the
 * control and system registers):
 *  - CPUID leaf 0 vendor string;
 *  - SGDT/SIDT/STR/SLDT after LLDT; SMSW to r32 (low 16 bits), r16 (bits
 *    31:16 of the register kept) and m16 (2 bytes written);
 *  - MOV to/from CR0 (MP/NE/WP/AM read back, ET hardwired to 1), CR2,
 *    CR3, CR4 (DE/PSE/TSD), CLTS and LMSW (cannot clear PE), restored;
 *  - PUSHF/POPF with IF, IOPL, NT, AC, ID (VIF/VIP ignored), the 16-bit
 *    forms, CLI/STI, IRET to the same level changing IOPL;
 *  - PUSH/POP/MOV of segment registers incl. POP SS / MOV SS, LDS, LES,
 *    LFS (a data segment with a nonzero base), LGS (an LDT segment), LSS;
 *  - LAR/LSL/VERR/VERW on 18 selectors (GDT and LDT, code, conforming,
 *    execute-only, data, TSS busy/available, LDT, call gate, not present,
 *    null, beyond the limits), side by side with the ring-3 results;
 *  - far CALL/JMP/RET into a code segment with base 0x1000 (direct and
 *    m16:32 indirect), a DPL-3 call gate used from ring 0 (no stack
 *    switch, 3 parameters, lret $12);
 *  - INT n through interrupt and trap gates, INT3, INT 3, INTO;
 *  - port I/O: CMOS status registers B and D, memory-size bytes and a RAM
 *    byte written and read back; the UART's scratch, LCR, MCR, IER, IIR;
 *  - LGDT to a copy of the GDT at an odd address (modified after the LGDT)
 *    with CS reloaded by a far jump and a ring-3 trip through it; LGDT
 *    with a short limit (#GP(0x30) on a load, LAR fails); LIDT to a copy
 *    of the IDT at an odd address with a short limit, modified after the
 *    LIDT, INT past the limit -> #GP(0x212); odd values (base 0xfffff001,
 *    16-bit operand size: 24-bit base) read back by SGDT/SIDT; restored;
 *  - LTR of a second TSS (busy bit set, ring-3 interrupts now use its
 *    ESP0), LTR of a busy TSS -> #GP(sel), back to the first TSS;
 *  - 8254 PIT channel 0 at 1 kHz on IRQ0, 8259A pair remapped to 0x20:
 *    ticks taken while spinning at IF=1 without HLT, one HLT idle, ticks
 *    taken at ring 3 (stack switch to TSS.ESP0), and computation with the
 *    timer running (interrupted REP string instructions, DF=1 included)
 *    giving the same digest.
 * Ring 3, IOPL 0: what unprivileged code sees of the machine (SGDT, SIDT,
 * SLDT, STR, SMSW return the kernel's real values -- fixed by link.ld;
 * PUSHF shows IOPL 0; POPF and IRET silently keep IF and IOPL), CPUID,
 * segment register loads, far calls into a ring-3 code segment with base
 * 0x1000 and through the call gate into ring 0 (stack switch, parameter
 * copy), INT n/INT3/INTO through DPL-3 gates, RDTSC with CR4.TSD clear and
 * set, and #GP for CLI, STI, HLT, MOV CR, CLTS, LMSW, LGDT, LIDT, LTR,
 * LLDT, INVLPG, INT to a DPL-0 gate, bad segment loads, a far call to a
 * DPL-0 segment.  Ring 3, IOPL 3: CLI/STI work, POPF and IRET change IF
 * but never IOPL, IN/OUT work (printf straight to COM1, CMOS), HLT still
 * faults; IOPL lowered by the kernel in the interrupt frame.
 * Nothing timing-dependent is printed: tick counts only as "at least N".
 */
#include "lib.h"

#define SEL_K30   0x30          /* ring-0 code, base 0x1000 */
#define SEL_U38   0x3b          /* ring-3 code, base 0x1000 */
#define SEL_GATE  0x43          /* DPL-3 call gate -> 0x08:gate_target, 3 params */
#define SEL_TSS2  0x48          /* second TSS */
#define SEL_DSEG  0x53          /* ring-3 data, base dseg_buf, byte limit 0xfff */
#define SEL_LDT   0x58          /* the LDT */
#define CODE_BASE 0x1000

/* system calls (int $0x80, DPL-3 interrupt gate) */
#define SYS_EXIT  0
#define SYS_PUTS  1
#define SYS_FRAME 2
#define SYS_IOPL  3
#define SYS_TSD   4

#define IF_IOPL (EFL_IF | EFL_IOPL)
#define ARITH   (EFL_CF | EFL_PF | EFL_AF | EFL_ZF | EFL_SF | EFL_OF)
#define CR4_DE  (1u << 3)
#define CR4_PSE (1u << 4)
#define CR4_TSD (1u << 2)

static uint8_t kstack[8192] __attribute__((aligned(16)));
static uint8_t altstack[4096] __attribute__((aligned(16)));
static uint8_t ustack[8192] __attribute__((aligned(16)));
#define KSTACK_TOP ((uint32_t)kstack + sizeof kstack)
#define ALT_TOP    ((uint32_t)altstack + sizeof altstack)
#define USTACK_TOP ((uint32_t)ustack + sizeof ustack)

static uint64_t ldt[4] __attribute__((aligned(8)));
static uint32_t dseg_buf[16], dseg_alt[16], ldt_buf[16];
static struct tss32 tss2 __attribute__((aligned(16)));

struct farp {
    uint32_t off;
    uint16_t sel;
} __attribute__((packed));

/* referenced by name from assembly */
uint32_t far_rec[8], jmp_back[2], gate_rec[16], farptr[2];
volatile uint32_t fault_resume, fault_at;
struct dtr u_dtr;
struct farp fp_bad, fp_code, lss_ptr;

extern char far_callee[], far_label[], far_jmp_target[], jmp_label[], gate_target[];

/* ================================================================ shared code
 * Everything in this section is called at ring 0 and at ring 3. */

static inline uint32_t sys(uint32_t nr, uint32_t a)
{
    uint32_t r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a) : "memory");
    return r;
}

static uint32_t cpuid_vendor(char v[13])
{
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    memcpy(v, &b, 4);
    memcpy(v + 4, &d, 4);
    memcpy(v + 8, &c, 4);
    v[12] = 0;
    return a;
}

/* smsw to a 2-byte memory operand inside a dword preset to 0xaaaaaaaa */
static uint32_t smsw_m16(void)
{
    union {
        uint32_t d;
        uint16_t w[2];
    } m = { 0xaaaaaaaa };
    __asm__ volatile("smsw %0" : "+m"(m.w[0]) :: "memory");
    return m.d;
}

/* POPF v then PUSHF; the caller's EFLAGS are restored afterwards (at ring 3
 * the restore is subject to the same rules, so IF/IOPL were never changed) */
static uint32_t popf_probe(uint32_t v)
{
    uint32_t r;
    __asm__ volatile("pushfl\n\t"
                     "pushl %1\n\t"
                     "popfl\n\t"
                     "pushfl\n\t"
                     "popl %0\n\t"
                     "popfl"
                     : "=&r"(r) : "r"(v) : "memory", "cc");
    return r;
}

/* IRET to the next instruction at the same privilege level with EFLAGS
 * image v, then PUSHF */
static uint32_t iret_probe(uint32_t v)
{
    uint32_t r;
    __asm__ volatile("pushfl\n\t"
                     "pushl %1\n\t"
                     "pushl %%cs\n\t"
                     "pushl $1f\n\t"
                     "iretl\n"
                     "1:\tpushfl\n\t"
                     "popl %0\n\t"
                     "popfl"
                     : "=&r"(r) : "r"(v) : "memory", "cc");
    return r;
}

struct selres {
    uint32_t lar, lsl;
    uint8_t lar_ok, lsl_ok, verr, verw;
};

static const uint16_t probe_sels[] = {
    0x0000, 0x0008, 0x0010, 0x001b, 0x0023, 0x0028, 0x0030, 0x003b, 0x0043,
    0x0048, 0x0053, 0x0058, 0x0060, 0x0007, 0x000c, 0x0017, 0x001f, 0x0027,
};
#define NSELS (sizeof probe_sels / sizeof probe_sels[0])
static const char *const sel_names[NSELS] = {
    "null", "ring-0 code", "ring-0 data", "ring-3 code", "ring-3 data",
    "TSS (busy)", "ring-0 code base 0x1000", "ring-3 code base 0x1000",
    "call gate DPL 3", "TSS2 (available)", "ring-3 data base, byte limit",
    "LDT descriptor", "beyond GDT limit", "LDT: ring-3 data", "LDT: conforming code DPL 0",
    "LDT: execute-only code DPL 3", "LDT: not present data", "beyond LDT limit",
};

static void sel_probe(uint32_t sel, struct selres *o)
{
    uint32_t a = 0xdeadbeef, l = 0xdeadbeef;
    __asm__ volatile("lar %[s], %[a]\n\t"
                     "setz %[za]\n\t"
                     "lsl %[s], %[l]\n\t"
                     "setz %[zl]\n\t"
                     "verr %w[s]\n\t"
                     "setz %[zr]\n\t"
                     "verw %w[s]\n\t"
                     "setz %[zw]"
                     : [a] "+r"(a), [l] "+r"(l), [za] "=m"(o->lar_ok), [zl] "=m"(o->lsl_ok),
                       [zr] "=m"(o->verr), [zw] "=m"(o->verw)
                     : [s] "r"(sel)
                     : "cc");
    o->lar = a;
    o->lsl = l;
}

static void sel_probe_all(struct selres *o)
{
    for (uint32_t i = 0; i < NSELS; i++)
        sel_probe(probe_sels[i], &o[i]);
}

struct segres {
    uint32_t push_ds, pushw_delta, pop_es, pop_ss, mov_ss;
    uint32_t lfs_fs, lfs_off, lfs_read, lgs_gs, lgs_read;
    uint32_t les_es, les_off, lds_ds, lds_off, lss_ss, lss_esp_kept;
};

/* dsel: this ring's flat data selector; xsel: the data segment with base
 * dseg_buf; lsel: the LDT data segment (base ldt_buf) */
static void seg_ops(uint32_t dsel, uint32_t xsel, uint32_t lsel, struct segres *o)
{
    uint32_t v, w;
    struct farp fp;

    /* push ds with 32-bit operand size: ESP -= 4, the slot may get only
     * 16 bits written (SDM PUSH), so only bits 15:0 are kept */
    __asm__ volatile("pushl $0xffffffff\n\t"
                     "addl $4, %%esp\n\t"
                     "pushl %%ds\n\t"
                     "popl %0" : "=r"(v) :: "memory");
    o->push_ds = v & 0xffff;
    __asm__ volatile("movl %%esp, %0\n\t"
                     "pushw %%fs\n\t"
                     "movl %%esp, %1\n\t"
                     "popw %%fs" : "=&r"(v), "=&r"(w) :: "memory");
    o->pushw_delta = v - w;
    __asm__ volatile("pushl %1\n\t"
                     "popl %%es\n\t"
                     "movl %%es, %0\n\t"
                     "pushl %2\n\t"
                     "popl %%es" : "=&r"(v) : "r"(xsel), "r"(dsel) : "memory");
    o->pop_es = v;
    __asm__ volatile("pushl %1\n\t"
                     "popl %%ss\n\t"
                     "movl %%ss, %0" : "=r"(v) : "r"(dsel) : "memory");
    o->pop_ss = v;
    __asm__ volatile("movw %w1, %%ss\n\t"
                     "movl %%ss, %0" : "=r"(v) : "r"(dsel) : "memory");
    o->mov_ss = v;

    fp.off = 8;
    fp.sel = xsel;
    __asm__ volatile("lfs %3, %1\n\t"
                     "movl %%fs, %0\n\t"
                     "movl %%fs:(%1), %2\n\t"
                     "movw %w4, %%fs"
                     : "=&r"(o->lfs_fs), "=&r"(o->lfs_off), "=&r"(o->lfs_read)
                     : "m"(fp), "r"(dsel) : "memory");
    fp.off = 4;
    fp.sel = lsel;
    __asm__ volatile("lgs %2, %1\n\t"
                     "movl %%gs, %0\n\t"
                     "movl %%gs:(%1), %1\n\t"
                     "movw %w3, %%gs"
                     : "=&r"(o->lgs_gs), "=&r"(o->lgs_read)
                     : "m"(fp), "r"(dsel) : "memory");
    fp.off = 0x1234;
    fp.sel = dsel;
    __asm__ volatile("les %2, %1\n\t"
                     "movl %%es, %0"
                     : "=&r"(o->les_es), "=&r"(o->les_off) : "m"(fp) : "memory");
    fp.off = 0x5678;
    __asm__ volatile("lds %2, %1\n\t"
                     "movl %%ds, %0"
                     : "=&r"(o->lds_ds), "=&r"(o->lds_off) : "m"(fp) : "memory");
    /* lss with the current ESP: SS:ESP reloaded in one instruction */
    __asm__ volatile("movl %%esp, lss_ptr\n\t"
                     "movw %w2, lss_ptr+4\n\t"
                     "lss lss_ptr, %%esp\n\t"
                     "movl %%ss, %0\n\t"
                     "movl %%esp, %1"
                     : "=&r"(v), "=&r"(w) : "r"(dsel) : "memory");
    o->lss_ss = v;
    o->lss_esp_kept = w == lss_ptr.off;
}

struct farres {
    uint32_t c_cs, c_eip, c_depth, c_ret_ok, c_ret_cs, c_arg, c_balanced;
    uint32_t i_cs, i_eip, i_arg, i_balanced;
    uint32_t j_cs, j_eip, j_esp_kept, j_back_cs;
    uint32_t lret_ok;
};

/* far call/jmp/ret tests into code segment SEL (base 0x1000) */
#define FAR_TESTS(name, SEL)                                                    \
static void name(struct farres *o)                                              \
{                                                                               \
    uint32_t e0, e1, ret, cs;                                                   \
    memset(far_rec, 0, sizeof far_rec);                                         \
    __asm__ volatile("movl %%esp, %0\n\t"                                       \
                     "pushl $0xa5a5a5a5\n\t"                                    \
                     "lcall $" #SEL ", $far_callee - 0x1000\n"                  \
                     "1:\tmovl $1b, %1\n\t"                                     \
                     "movl %%esp, %2"                                           \
                     : "=&r"(e0), "=&r"(ret), "=&r"(e1) :: "memory", "cc");     \
    o->c_cs = far_rec[0];                                                       \
    o->c_eip = far_rec[1];                                                      \
    o->c_depth = e0 - far_rec[2];                                               \
    o->c_ret_ok = far_rec[3] == ret;                                            \
    o->c_ret_cs = far_rec[4] & 0xffff;                                          \
    o->c_arg = far_rec[5];                                                      \
    o->c_balanced = e0 == e1;                                                   \
    memset(far_rec, 0, sizeof far_rec);                                         \
    farptr[0] = (uint32_t)far_callee - CODE_BASE;                               \
    farptr[1] = SEL;                                                            \
    __asm__ volatile("movl %%esp, %0\n\t"                                       \
                     "pushl $0x5a5a5a5a\n\t"                                    \
                     "lcall *farptr\n\t"                                        \
                     "movl %%esp, %1"                                           \
                     : "=&r"(e0), "=&r"(e1) :: "memory", "cc");                 \
    o->i_cs = far_rec[0];                                                       \
    o->i_eip = far_rec[1];                                                      \
    o->i_arg = far_rec[5];                                                      \
    o->i_balanced = e0 == e1;                                                   \
    memset(far_rec, 0, sizeof far_rec);                                         \
    __asm__ volatile("movl $1f, jmp_back\n\t"                                   \
                     "movl %%cs, %%eax\n\t"                                     \
                     "movl %%eax, jmp_back+4\n\t"                               \
                     "movl %%esp, %0\n\t"                                       \
                     "ljmp $" #SEL ", $far_jmp_target - 0x1000\n"               \
                     "1:\tmovl %%cs, %1"                                        \
                     : "=&r"(e0), "=&r"(cs) :: "eax", "memory", "cc");          \
    o->j_cs = far_rec[0];                                                       \
    o->j_eip = far_rec[1];                                                      \
    o->j_esp_kept = far_rec[2] == e0;                                           \
    o->j_back_cs = cs;                                                          \
    __asm__ volatile("movl $0, %0\n\t"                                          \
                     "pushl %%cs\n\t"                                           \
                     "pushl $1f\n\t"                                            \
                     "lret\n\t"                                                 \
                     "ud2\n"                                                    \
                     "1:\tmovl $1, %0"                                          \
                     : "=&r"(o->lret_ok) :: "memory");                          \
}
FAR_TESTS(far_tests_r0, 0x30)
FAR_TESTS(far_tests_r3, 0x3b)

struct gateres {
    uint32_t e0, e1, ret, eax, cs_after, ss_after, ds_after;
};

#define GATE_CALL(SEL, o)                                                       \
    do {                                                                        \
        memset(gate_rec, 0, sizeof gate_rec);                                   \
        __asm__ volatile("movl %%esp, %0\n\t"                                   \
                         "pushl $0x11111111\n\t"                                \
                         "pushl $0x22222222\n\t"                                \
                         "pushl $0x33333333\n\t"                                \
                         "lcall $" #SEL ", $0\n"                                \
                         "1:\tmovl $1b, %1\n\t"                                 \
                         "movl %%esp, %2"                                       \
                         : "=&r"((o)->e0), "=&r"((o)->ret), "=&r"((o)->e1),     \
                           "=a"((o)->eax) :: "memory", "cc");                   \
        (o)->cs_after = read_cs();                                              \
        (o)->ss_after = read_ss();                                              \
        (o)->ds_after = read_ds();                                              \
    } while (0)

/* ---- interrupts: every recorded event */
struct event {
    uint32_t vector, error, eip, cs, eflags, if_inside, frame_end, user_esp, user_ss;
};
#define MAXEV 16
static struct event ev[MAXEV];
static volatile uint32_t nev;

struct intres {
    uint32_t before, after, efl;
};

/* run one INT-type instruction with EFLAGS = flags; record the addresses
 * of the instruction and of the next one and EFLAGS after the return */
#define INT_AT(insn, flags, r)                                                  \
    __asm__ volatile("pushfl\n\t"                                               \
                     "pushl $" #flags "\n\t"                                    \
                     "popfl\n\t"                                                \
                     "movl $1f, %0\n\t"                                         \
                     "movl $2f, %1\n"                                           \
                     "1:\t" insn "\n"                                           \
                     "2:\tpushfl\n\t"                                           \
                     "popl %2\n\t"                                              \
                     "popfl"                                                    \
                     : "=&r"((r)->before), "=&r"((r)->after), "=&r"((r)->efl)   \
                     :: "memory", "cc")

/* fault probes: a fault on `insn` resumes after it (see on_fault) */
const char *volatile fault_name;
static volatile uint32_t fault_hits;

#define PROBE(nm, insn, ...)                                                    \
    do {                                                                        \
        fault_name = (nm);                                                      \
        __asm__ volatile("movl $2f, fault_at\n\t"                               \
                         "movl $1f, fault_resume\n"                             \
                         "2:\t" insn "\n"                                       \
                         "1:\tmovl $0, fault_resume"                            \
                         :: __VA_ARGS__ : "eax", "edx", "memory", "cc");        \
    } while (0)
#define NOIN "i"(0)

/* ---- computation */
struct digest {
    uint32_t fib, hanoi, qsort, interp, strops, dispatch;
};

static uint32_t lcg;
static uint32_t rnd(void)
{
    lcg = lcg * 1103515245u + 12345u;
    return lcg >> 8;
}

static uint32_t fnv(const void *p, uint32_t n, uint32_t h)
{
    const uint8_t *b = p;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

__attribute__((noinline)) static uint32_t fib(uint32_t n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

typedef void (*move_fn)(int, int);
static uint32_t hanoi_h, hanoi_n;
static void move_a(int f, int t)
{
    hanoi_h = hanoi_h * 31u + (uint32_t)(f * 3 + t);
    hanoi_n++;
}
static void move_b(int f, int t)
{
    hanoi_h = (hanoi_h ^ (uint32_t)(t * 7 + f)) * 16777619u;
    hanoi_n++;
}
static move_fn const movers[2] = { move_a, move_b };

__attribute__((noinline)) static void hanoi(int n, int f, int t, int v)
{
    if (!n)
        return;
    hanoi(n - 1, f, v, t);
    movers[n & 1](f, t);                /* indirect call */
    hanoi(n - 1, v, t, f);
}

__attribute__((noinline)) static void qs(uint32_t *a, int lo, int hi)
{
    if (lo >= hi)
        return;
    uint32_t p = a[lo + (hi - lo) / 2];
    int i = lo, j = hi;
    while (i <= j) {
        while (a[i] < p)
            i++;
        while (a[j] > p)
            j--;
        if (i <= j) {
            uint32_t t = a[i];
            a[i] = a[j];
            a[j] = t;
            i++;
            j--;
        }
    }
    qs(a, lo, j);
    qs(a, i, hi);
}

/* a dense switch: a jump table */
__attribute__((noinline)) static uint32_t step(uint32_t op, uint32_t x, uint32_t y)
{
    switch (op) {
    case 0: return x + y;
    case 1: return x - y;
    case 2: return x ^ (y << 3);
    case 3: return x * 3 + y;
    case 4: return (x << 5) | (x >> 27);
    case 5: return x & ~y;
    case 6: return x | (y >> 2);
    case 7: return ~x + (y & 0xff);
    case 8: return x * y + 1;
    case 9: return (x >> 3) ^ y;
    case 10: return x + 0x9e3779b9u;
    default: return x ^ 0x55aa55aau;
    }
}

typedef uint32_t (*op_fn)(uint32_t, uint32_t);
static uint32_t f_add(uint32_t a, uint32_t b) { return a + b * 7; }
static uint32_t f_xor(uint32_t a, uint32_t b) { return a ^ (b * 0x01000193u); }
static uint32_t f_rol(uint32_t a, uint32_t b) { return (a << (b & 31)) | (a >> ((32 - (b & 31)) & 31)); }
static uint32_t f_mix(uint32_t a, uint32_t b) { return a * 0x85ebca6bu + b; }
static op_fn const optab[4] = { f_add, f_xor, f_rol, f_mix };

/* a register bytecode machine dispatched with computed gotos */
enum { B_HALT, B_LDI, B_ADD, B_MUL, B_XOR, B_DEC, B_JNZ, B_MOV };
static const uint8_t bytecode[] = {
    B_LDI, 1, 0,                /* 0:  r1 = 0          */
    B_MOV, 2, 0,                /* 3:  r2 = r0         */
    B_MUL, 2, 0,                /* 6:  r2 *= r0        */
    B_XOR, 2, 0,                /* 9:  r2 ^= r0        */
    B_ADD, 1, 2,                /* 12: r1 += r2        */
    B_DEC, 0,                   /* 15: r0--            */
    B_JNZ, 0, (uint8_t)-14,     /* 17: if r0 goto 3    */
    B_HALT,                     /* 20: return r1       */
};

__attribute__((noinline)) static uint32_t interp(const uint8_t *pc, uint32_t arg)
{
    static void *const ops[] = { &&halt, &&ldi, &&add, &&mul, &&xor, &&dec, &&jnz, &&mov };
    uint32_t r[4] = { arg, 0, 0, 0 };
#define NEXT goto *ops[*pc]
    NEXT;
ldi: r[pc[1]] = pc[2]; pc += 3; NEXT;
add: r[pc[1]] += r[pc[2]]; pc += 3; NEXT;
mul: r[pc[1]] *= r[pc[2]]; pc += 3; NEXT;
xor: r[pc[1]] ^= r[pc[2]]; pc += 3; NEXT;
dec: r[pc[1]]--; pc += 2; NEXT;
jnz: if (r[pc[1]]) pc += (int8_t)pc[2]; else pc += 3; NEXT;
mov: r[pc[1]] = r[pc[2]]; pc += 3; NEXT;
halt: return r[1];
#undef NEXT
}

#define SBUF 8192
static uint8_t sa[SBUF + 64], sb[SBUF + 64];
static uint32_t sd[2048];

static uint32_t strops(void)
{
    void *d, *s;
    const void *s1, *s2;
    uint32_t n, h;
    uint8_t eq;

    d = sd;
    n = 2048;
    __asm__ volatile("cld\n\trep stosl" : "+D"(d), "+c"(n) : "a"(0x5a5aa5a5u) : "memory");
    for (int i = 0; i < SBUF + 64; i++)
        sa[i] = (uint8_t)rnd();
    /* misaligned byte copy */
    d = sb + 3;
    s = sa + 1;
    n = SBUF - 3;
    __asm__ volatile("cld\n\trep movsb" : "+D"(d), "+S"(s), "+c"(n) :: "memory");
    s1 = sa + 1;
    s2 = sb + 3;
    n = SBUF - 3;
    __asm__ volatile("cld\n\trepe cmpsb\n\tsete %3"
                     : "+S"(s1), "+D"(s2), "+c"(n), "=q"(eq) :: "memory", "cc");
    h = fnv(&eq, 1, 2166136261u);
    h = fnv(&n, 4, h);
    sb[3 + 5000] ^= 0x40;
    s1 = sa + 1;
    s2 = sb + 3;
    n = SBUF - 3;
    __asm__ volatile("cld\n\trepe cmpsb\n\tsete %3"
                     : "+S"(s1), "+D"(s2), "+c"(n), "=q"(eq) :: "memory", "cc");
    h = fnv(&eq, 1, h);
    h = fnv(&n, 4, h);              /* (SBUF - 3) - 5001 */
    /* find a byte */
    d = sa;
    n = SBUF;
    __asm__ volatile("cld\n\trepne scasb" : "+D"(d), "+c"(n) : "a"(sa[3000]) : "memory", "cc");
    h = fnv(&n, 4, h);
    /* overlapping move upwards: backwards with DF=1 */
    s = sb + 3999;
    d = sb + 10 + 3999;
    n = 4000;
    __asm__ volatile("std\n\trep movsb\n\tcld" : "+D"(d), "+S"(s), "+c"(n) :: "memory", "cc");
    /* dword copy and a byte fill */
    d = sb + 4096;
    s = sd;
    n = 512;
    __asm__ volatile("cld\n\trep movsl" : "+D"(d), "+S"(s), "+c"(n) :: "memory");
    d = sb + 6000;
    n = 100;
    __asm__ volatile("cld\n\trep stosb" : "+D"(d), "+c"(n) : "a"(0xee) : "memory");
    h = fnv(sb, SBUF + 64, h);
    return fnv(sd, sizeof sd, h);
}

static uint32_t qarr[256];

static void compute_digest(struct digest *o)
{
    lcg = 12345;
    o->fib = fib(18);
    hanoi_h = 0;
    hanoi_n = 0;
    hanoi(10, 0, 2, 1);
    o->hanoi = hanoi_h ^ (hanoi_n << 20);
    for (int i = 0; i < 256; i++)
        qarr[i] = rnd();
    qs(qarr, 0, 255);
    uint32_t sorted = 1;
    for (int i = 1; i < 256; i++)
        if (qarr[i - 1] > qarr[i])
            sorted = 0;
    o->qsort = fnv(qarr, sizeof qarr, sorted);
    o->interp = interp(bytecode, 100);
    o->strops = strops();
    uint32_t x = 1;
    for (uint32_t i = 0; i < 600; i++) {
        x = step(rnd() % 12, x, i);
        x = optab[x & 3](x, i);
    }
    o->dispatch = x;
}

/* ================================================================ ring 3 */

struct ures {
    uint32_t a_entry, cs, ss, ds, tr, ldtr, smsw32, smsw16_eax, smsw_mem;
    struct dtr gdtr, idtr;
    char vendor[13];
    uint32_t popf_a, popf_b, iret_a;
    struct selres sel[NSELS];
    struct segres seg;
    struct farres far;
    struct gateres gate;
    struct intres int41, int3, into1, into0;
    uint32_t nev_into0;
    uint32_t tsc_faults;
    struct digest dig;
    /* IOPL 3 */
    uint32_t b_entry, b_cli, b_sti, b_popf0, b_popf1, b_iret, b_cmos_b, b_scratch, b_iopl0;
    /* moved GDT */
    struct dtr g_gdtr;
    uint32_t g_read;
    /* timer */
    uint32_t c_spins;
    struct digest c_dig;
};
static struct ures ur;
static volatile uint32_t ticks;

static void usys_puts(const char *s)
{
    sys(SYS_PUTS, (uint32_t)s);
}

__attribute__((noreturn)) static void user_a(void)
{
    ur.a_entry = read_eflags();
    usys_puts("user A: ring 3, IOPL 0\n");
    ur.cs = read_cs();
    ur.ss = read_ss();
    ur.ds = read_ds();
    sgdt(&ur.gdtr);
    sidt(&ur.idtr);
    ur.ldtr = sldt();
    ur.tr = str();
    __asm__ volatile("smsw %0" : "=r"(ur.smsw32));
    __asm__ volatile("movl $0xabcd0000, %%eax\n\tsmsw %%ax\n\tmovl %%eax, %0"
                     : "=r"(ur.smsw16_eax) :: "eax");
    ur.smsw_mem = smsw_m16();
    cpuid_vendor(ur.vendor);

    ur.popf_a = popf_probe(0x30d5);     /* IF=0 IOPL=3: both silently kept */
    ur.popf_b = popf_probe(0x0);
    ur.iret_a = iret_probe(0x3003);
    PROBE("cli", "cli", NOIN);
    PROBE("sti", "sti", NOIN);

    sel_probe_all(ur.sel);
    seg_ops(0x23, SEL_DSEG, 0x07, &ur.seg);
    far_tests_r3(&ur.far);
    GATE_CALL(0x43, &ur.gate);

    sys(SYS_FRAME, 0);
    nev = 0;
    INT_AT("int $0x41", 0x2d7, &ur.int41);
    INT_AT("int3", 0x2d7, &ur.int3);
    INT_AT("into", 0xa03, &ur.into1);
    ur.nev_into0 = nev;
    INT_AT("into", 0x203, &ur.into0);
    ur.nev_into0 = nev - ur.nev_into0;

    PROBE("hlt", "hlt", NOIN);
    PROBE("mov eax, cr0", "movl %%cr0, %%eax", NOIN);
    PROBE("mov cr3, ecx", "movl %%ecx, %%cr3", "c"(0));
    PROBE("clts", "clts", NOIN);
    PROBE("lmsw", "lmsw %%cx", "c"(1));
    PROBE("lgdt", "lgdt u_dtr", NOIN);
    PROBE("lidt", "lidt u_dtr", NOIN);
    PROBE("ltr 0x48", "ltr %%cx", "c"(0x48));
    PROBE("lldt 0", "lldt %%cx", "c"(0));
    PROBE("invlpg", "invlpg (%%ecx)", "c"(0x1000));
    PROBE("int $0x40 (DPL 0)", "int $0x40", NOIN);
    PROBE("mov ds, 0x10", "movw %%cx, %%ds", "c"(0x10));
    PROBE("mov ss, 0x20", "movw %%cx, %%ss", "c"(0x20));
    fp_bad.off = 0;
    fp_bad.sel = 0x17;
    PROBE("lds x-only 0x17", "lds fp_bad, %%eax", NOIN);
    fp_code.sel = 0x1b;
    __asm__ volatile("movl %%esp, fp_code" ::: "memory");   /* harmless if it loaded */
    PROBE("lss code 0x1b", "lss fp_code, %%esp", NOIN);
    PROBE("lcall 0x30 (DPL 0)", "lcall $0x30, $0", NOIN);

    fault_hits = 0;
    PROBE("rdtsc (TSD=0)", "rdtsc", NOIN);
    sys(SYS_TSD, 1);
    PROBE("rdtsc (TSD=1)", "rdtsc", NOIN);
    sys(SYS_TSD, 0);
    ur.tsc_faults = fault_hits;

    compute_digest(&ur.dig);
    sys(SYS_EXIT, 0x600d);
    for (;;)
        ;
}

static uint8_t cmos_read(uint8_t reg)
{
    outb(0x70, reg);
    return inb(0x71);
}

__attribute__((noreturn)) static void user_b(void)
{
    ur.b_entry = read_eflags();
    printf("user B: printf straight to COM1 from cs 0x%02x (IOPL 3)\n", read_cs());
    cli();
    ur.b_cli = read_eflags();
    sti();
    ur.b_sti = read_eflags();
    ur.b_popf0 = popf_probe(0x0);
    ur.b_popf1 = popf_probe(0x202);
    ur.b_iret = iret_probe(0x0003);
    ur.b_cmos_b = cmos_read(0x0b) | (uint32_t)cmos_read(0x0d) << 8;
    outb(0x3ff, 0x3c);
    ur.b_scratch = inb(0x3ff);
    printf("user B: CMOS B 0x%02x D 0x%02x, UART scratch 0x%02x\n",
           ur.b_cmos_b & 0xff, ur.b_cmos_b >> 8, ur.b_scratch);
    PROBE("hlt (IOPL 3)", "hlt", NOIN);
    sys(SYS_IOPL, 0);
    ur.b_iopl0 = read_eflags();
    PROBE("cli (IOPL 0 again)", "cli", NOIN);
    sys(SYS_EXIT, 0xb);
    for (;;)
        ;
}

__attribute__((noreturn)) static void user_g(void)
{
    uint32_t v;
    sgdt(&ur.g_gdtr);
    __asm__ volatile("movw %w1, %%fs\n\t"
                     "movl %%fs:0, %0\n\t"
                     "movw %w2, %%fs" : "=&r"(v) : "r"(SEL_DSEG), "r"(0x23) : "memory");
    ur.g_read = v;
    sys(SYS_EXIT, 0x9);
    for (;;)
        ;
}

__attribute__((noreturn)) static void user_t(void)
{
    sys(SYS_FRAME, 0);
    sys(SYS_EXIT, 0x7);
    for (;;)
        ;
}

__attribute__((noreturn)) static void user_c(void)
{
    uint32_t t0 = ticks;
    while (ticks - t0 < 2)
        ur.c_spins++;
    t0 = ticks;
    do
        compute_digest(&ur.c_dig);
    while (ticks - t0 < 2);
    sys(SYS_EXIT, 0xc);
    for (;;)
        ;
}

/* ================================================================ kernel */

static const char *vecname(uint32_t v)
{
    switch (v) {
    case 6: return "#UD";
    case 10: return "#TS";
    case 11: return "#NP";
    case 12: return "#SS";
    case 13: return "#GP";
    default: return "#??";
    }
}

static uint32_t nfaults[4];

static void on_fault(struct regs *r)
{
    if (!fault_resume) {
        printf("FAIL: unexpected %s(0x%04x) at eip %p cs 0x%04x\n", vecname(r->vector),
               r->error, r->eip, r->cs & 0xffff);
        check_failures++;
        done();
    }
    const char *where = r->eip == fault_at ? "at the instruction" : "WRONG EIP";
    if ((r->cs & 3) && (uint32_t)(r + 1) != KSTACK_TOP)
        where = "WRONG STACK";
    printf("ring %u %-20s -> %s(0x%04x) %s\n", r->cs & 3, fault_name, vecname(r->vector),
           r->error, where);
    if (r->eip != fault_at)
        check_failures++;
    nfaults[r->cs & 3]++;
    fault_hits++;
    r->eip = fault_resume;
    fault_resume = 0;
}

static void record(struct regs *r)
{
    if (nev < MAXEV) {
        struct event *e = &ev[nev];
        e->vector = r->vector;
        e->error = r->error;
        e->eip = r->eip;
        e->cs = r->cs & 0xffff;
        e->eflags = r->eflags;
        e->if_inside = !!(read_eflags() & EFL_IF);
        if (r->cs & 3) {
            e->user_esp = r->user_esp;
            e->user_ss = r->user_ss & 0xffff;
            e->frame_end = (uint32_t)&r->user_ss + 4;
        } else {
            e->user_esp = e->user_ss = 0;
            e->frame_end = (uint32_t)&r->eflags + 4;
        }
    }
    nev++;
}

static uint32_t f_where, f_cs, f_ss, f_eflags;

static void syscall(struct regs *r)
{
    switch (r->eax) {
    case SYS_EXIT:
        user_return(r->ebx);
    case SYS_PUTS:
        puts((const char *)r->ebx);
        break;
    case SYS_FRAME:
        f_where = (uint32_t)(r + 1);
        f_cs = r->cs & 0xffff;
        f_ss = r->user_ss & 0xffff;
        f_eflags = r->eflags;
        break;
    case SYS_IOPL:
        r->eflags = (r->eflags & ~EFL_IOPL) | ((r->ebx & 3) << 12);
        break;
    case SYS_TSD:
        write_cr4(r->ebx ? read_cr4() | CR4_TSD : read_cr4() & ~CR4_TSD);
        break;
    default:
        printf("FAIL: bad system call %u\n", r->eax);
        check_failures++;
        break;
    }
}

static volatile uint32_t ticks_r0, ticks_r3, ticks_bad, last_tick_eip;

static void on_tick(struct regs *r)
{
    ticks++;
    last_tick_eip = r->eip;
    if ((r->cs & 0xffff) == SEL_UCODE) {
        ticks_r3++;
        if ((uint32_t)(r + 1) != KSTACK_TOP || (r->user_ss & 0xffff) != SEL_UDATA)
            ticks_bad++;
    } else if ((r->cs & 0xffff) == SEL_KCODE) {
        ticks_r0++;
    } else {
        ticks_bad++;
    }
    outb(0x20, 0x20);
}

static void on_spurious(struct regs *r)
{
    (void)r;
}

static uint64_t make_gate(uint32_t off, uint16_t sel, uint8_t type, uint8_t dpl)
{
    uint32_t lo = (off & 0xffff) | ((uint32_t)sel << 16);
    uint32_t hi = (off & 0xffff0000) | 0x8000 | ((uint32_t)(dpl & 3) << 13) |
                  ((uint32_t)(type & 0xf) << 8);
    return ((uint64_t)hi << 32) | lo;
}

static void reload_segments(void)
{
    __asm__ volatile("ljmp $0x08, $1f\n"
                     "1:\tmovw $0x10, %%ax\n\t"
                     "movw %%ax, %%ds\n\t"
                     "movw %%ax, %%es\n\t"
                     "movw %%ax, %%fs\n\t"
                     "movw %%ax, %%gs\n\t"
                     "movw %%ax, %%ss" ::: "eax", "memory");
}

/* ---- printing helpers */
static void put_opt(int ok, uint32_t v)
{
    if (ok)
        printf("0x%08x ", v);
    else
        puts("---------- ");
}

static void print_far(const char *ring, uint32_t sel, uint32_t cs_self, const struct farres *o)
{
    uint32_t lab = (uint32_t)far_label - CODE_BASE;
    printf("%s lcall 0x%02x:far_callee: callee cs 0x%04x, eip %s, depth %u, ret eip %s, "
           "ret cs 0x%04x, arg %p, esp %s\n",
           ring, sel, o->c_cs, o->c_eip == lab ? "= linear - 0x1000" : "WRONG", o->c_depth,
           o->c_ret_ok ? "ok" : "WRONG", o->c_ret_cs, o->c_arg,
           o->c_balanced ? "balanced by lret $4" : "WRONG");
    checkf(o->c_cs == sel && o->c_eip == lab && o->c_depth == 12 && o->c_ret_ok &&
           o->c_ret_cs == cs_self && o->c_arg == 0xa5a5a5a5 && o->c_balanced,
           "%s direct far call into a segment with base 0x1000", ring);
    printf("%s lcall *m16:32: callee cs 0x%04x, eip %s, arg %p\n", ring, o->i_cs,
           o->i_eip == lab ? "= linear - 0x1000" : "WRONG", o->i_arg);
    checkf(o->i_cs == sel && o->i_eip == lab && o->i_arg == 0x5a5a5a5a && o->i_balanced,
           "%s indirect far call", ring);
    printf("%s ljmp 0x%02x / ljmp *m16:32 back: target cs 0x%04x, eip %s, back in cs 0x%04x\n",
           ring, sel, o->j_cs,
           o->j_eip == (uint32_t)jmp_label - CODE_BASE ? "= linear - 0x1000" : "WRONG",
           o->j_back_cs);
    checkf(o->j_cs == sel && o->j_eip == (uint32_t)jmp_label - CODE_BASE && o->j_esp_kept &&
           o->j_back_cs == cs_self && o->lret_ok, "%s far jumps there and back, lret", ring);
}

static void print_event(const char *what, const struct event *e, const struct intres *r,
                        uint32_t flags)
{
    const char *frame = "same stack";
    if (e->cs & 3)
        frame = e->frame_end == KSTACK_TOP ? "on TSS.esp0" : "WRONG STACK";
    printf("%-9s cs 0x%02x -> vector 0x%02x, eip %s, pushed eflags %p, IF in handler %u, %s\n",
           what, e->cs, e->vector,
           e->eip == r->after ? "after insn" : e->eip == r->before ? "at insn" : "WRONG",
           e->eflags, e->if_inside, frame);
    checkf(e->eip == r->after && e->eflags == flags && r->efl == flags, "%s frame and iret", what);
}

static void print_segres(const char *ring, const struct segres *s, uint32_t dsel,
                         uint32_t xsel, uint32_t lsel)
{
    printf("%s push ds -> 0x%04x, pushw fs moves esp by %u, pop es -> 0x%04x, "
           "pop ss -> 0x%04x, mov ss -> 0x%04x\n",
           ring, s->push_ds, s->pushw_delta, s->pop_es, s->pop_ss, s->mov_ss);
    printf("%s lfs -> fs 0x%04x off %u reads %p; lgs -> gs 0x%04x reads %p\n",
           ring, s->lfs_fs, s->lfs_off, s->lfs_read, s->lgs_gs, s->lgs_read);
    printf("%s les -> es 0x%04x off 0x%x; lds -> ds 0x%04x off 0x%x; lss -> ss 0x%04x, esp %s\n",
           ring, s->les_es, s->les_off, s->lds_ds, s->lds_off, s->lss_ss,
           s->lss_esp_kept ? "kept" : "WRONG");
    checkf(s->push_ds == dsel && s->pushw_delta == 2 && s->pop_es == xsel &&
           s->pop_ss == dsel && s->mov_ss == dsel, "%s push/pop/mov of segment registers", ring);
    checkf(s->lfs_fs == xsel && s->lfs_off == 8 && s->lfs_read == dseg_buf[2] &&
           s->lgs_gs == lsel && s->lgs_read == ldt_buf[1] && s->les_es == dsel &&
           s->les_off == 0x1234 && s->lds_ds == dsel && s->lds_off == 0x5678 &&
           s->lss_ss == dsel && s->lss_esp_kept, "%s lds/les/lfs/lgs/lss", ring);
}

static void print_digest(const char *what, const struct digest *d)
{
    printf("%s fib(18) %u, hanoi %p, qsort %p, bytecode %u, strings %p, dispatch %p\n",
           what, d->fib, d->hanoi, d->qsort, d->interp, d->strops, d->dispatch);
}

static int digest_eq(const struct digest *a, const struct digest *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

/* expected ZF results per selector: lar lsl verr verw at ring 0, then ring 3 */
static const char *const sel_expect[NSELS] = {
    "0000 0000", "1110 0000", "1111 0000", "1110 1110", "1111 1111", "1100 0000",
    "1110 0000", "1110 1110", "1000 1000", "1100 0000", "1111 1111", "1100 0000",
    "0000 0000", "1111 1111", "1110 1110", "1100 1100", "1111 1111", "0000 0000",
};

static int sel_matches(const struct selres *s, const char *exp)
{
    return s->lar_ok == (exp[0] == '1') && s->lsl_ok == (exp[1] == '1') &&
           s->verr == (exp[2] == '1') && s->verw == (exp[3] == '1');
}

static void pic_remap(void)
{
    outb(0x20, 0x11);
    outb(0xa0, 0x11);
    outb(0x21, 0x20);
    outb(0xa1, 0x28);
    outb(0x21, 0x04);
    outb(0xa1, 0x02);
    outb(0x21, 0x01);
    outb(0xa1, 0x01);
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}

extern char after_hlt[];

static uint8_t gcopy[GDT_ENTRIES * 8 + 8];
static uint8_t icopy[0x42 * 8 + 8];

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    (void)mbi;
    char vendor[13];
    struct dtr kgdtr, kidtr, d;
    uint32_t v, w, x;

    putln("sysmix: sensitive instructions at ring 0 and ring 3, timer, mixed control flow");
    pic_mask_all();
    idt_init();
    tss_init(KSTACK_TOP);
    idt_set_gate(3, isr_stub_table[3], SEL_KCODE, 0xe, 3);
    idt_set_gate(4, isr_stub_table[4], SEL_KCODE, 0xe, 3);
    idt_set_gate(0x41, isr_stub_table[0x41], SEL_KCODE, 0xf, 3);      /* trap gate */
    idt_set_gate(0x80, isr_stub_table[0x80], SEL_KCODE, 0xe, 3);
    set_handler(3, record);
    set_handler(4, record);
    set_handler(13, on_fault);
    set_handler(0x20, on_tick);
    set_handler(0x27, on_spurious);
    set_handler(0x2f, on_spurious);
    for (int i = 0x40; i <= 0x43; i++)
        set_handler(i, record);
    set_handler(0x80, syscall);

    for (int i = 0; i < 16; i++) {
        dseg_buf[i] = 0xd5e60000 + i;
        dseg_alt[i] = 0xa17e0000 + i;
        ldt_buf[i] = 0x1d700000 + i;
    }
    gdt_set(6, CODE_BASE, 0xfffff, 0x9b, GDT_F_32);                      /* 0x30 */
    gdt_set(7, CODE_BASE, 0xfffff, 0xfb, GDT_F_32);                      /* 0x38 */
    gdt_set_gate(8, SEL_KCODE, (uint32_t)gate_target, 0xc, 3, 3);        /* 0x40 */
    memset(&tss2, 0, sizeof tss2);
    tss2.esp0 = ALT_TOP;
    tss2.ss0 = SEL_KDATA;
    tss2.iomap_base = sizeof tss2;
    gdt_set(9, (uint32_t)&tss2, sizeof tss2 - 1, ACC_TSS32, 0);          /* 0x48 */
    gdt_set(10, (uint32_t)dseg_buf, 0xfff, 0xf3, GDT_F_DB);              /* 0x50 */
    ldt[0] = make_desc((uint32_t)ldt_buf, 0xff, 0xf3, GDT_F_DB);         /* 0x04 */
    ldt[1] = make_desc(0, 0xfffff, 0x9f, GDT_F_32);                      /* 0x0c conforming */
    ldt[2] = make_desc(0, 0xfffff, 0xf9, GDT_F_32);                      /* 0x14 exec-only */
    ldt[3] = make_desc(0, 0xfffff, 0x73, GDT_F_32);                      /* 0x1c not present */
    gdt_set(11, (uint32_t)ldt, sizeof ldt - 1, ACC_LDT, 0);              /* 0x58 */

    /* ------------------------------------------------------------ cpuid */
    putln("-- cpuid");
    v = cpuid_vendor(vendor);
    printf("cpuid 0 vendor \"%s\"\n", vendor);
    check(v >= 1, "cpuid max basic leaf >= 1");

    /* ------------------------------------------------------------ tables */
    putln("-- descriptor-table registers at ring 0");
    sgdt(&kgdtr);
    sidt(&kidtr);
    printf("sgdt base %p limit 0x%04x, sidt base %p limit 0x%04x\n",
           kgdtr.base, kgdtr.limit, kidtr.base, kidtr.limit);
    check(kgdtr.base == (uint32_t)gdt && kgdtr.limit == 0x5f, "sgdt = the library GDT");
    check(kidtr.base == (uint32_t)idt && kidtr.limit == 0x7ff, "sidt = the library IDT");
    printf("str 0x%04x, sldt before lldt 0x%04x", str(), sldt());
    lldt(SEL_LDT);
    printf(", after lldt 0x%04x\n", sldt());
    check(str() == SEL_TSS && sldt() == SEL_LDT, "str / sldt");

    /* ------------------------------------------------------------ control registers */
    putln("-- control registers (paging stays off)");
    uint32_t cr0 = read_cr0(), cr2 = read_cr2(), cr3 = read_cr3(), cr4 = read_cr4();
    printf("cr0 %p cr2 %p cr3 %p cr4 %p\n", cr0, cr2, cr3, cr4);
    check((cr0 & (CR0_PE | CR0_PG)) == CR0_PE, "protected mode, no paging");
    __asm__ volatile("smsw %0" : "=r"(v));
    __asm__ volatile("movl $0xabcd0000, %%eax\n\tsmsw %%ax\n\tmovl %%eax, %0" : "=r"(w) :: "eax");
    x = smsw_m16();
    printf("smsw r32 & 0xffff %p, smsw r16 -> eax %p, smsw m16 -> %p\n", v & 0xffff, w, x);
    check((v & 0xffff) == (cr0 & 0xffff) && w == (0xabcd0000 | (cr0 & 0xffff)) &&
          x == (0xaaaa0000 | (cr0 & 0xffff)), "smsw forms");
    write_cr0(cr0 | CR0_MP | CR0_NE | CR0_WP | CR0_AM);
    v = read_cr0();
    write_cr0(cr0 & ~CR0_ET);
    w = read_cr0();
    printf("cr0 | MP NE WP AM -> %p; cr0 & ~ET -> %p\n", v, w);
    check(v == (cr0 | CR0_MP | CR0_NE | CR0_WP | CR0_AM), "cr0 bits read back");
    check(w & CR0_ET, "ET is hardwired to 1");
    write_cr0(cr0 | CR0_TS);
    __asm__ volatile("smsw %0" : "=r"(v));
    clts();
    w = read_cr0();
    printf("TS set: smsw & 0xf 0x%x; after clts cr0 %p\n", v & 0xf, w);
    check((v & CR0_TS) && w == cr0, "clts clears TS");
    __asm__ volatile("lmsw %w0" :: "r"(0x000e) : "memory");
    v = read_cr0();
    __asm__ volatile("lmsw %w0" :: "r"(0x0000) : "memory");
    w = read_cr0();
    printf("lmsw 0xe -> cr0 %p; lmsw 0 -> cr0 %p (PE stays)\n", v, w);
    check(v == (cr0 | 0xf) && w == ((cr0 & ~0xfu) | CR0_PE), "lmsw sets MP EM TS, cannot clear PE");
    write_cr0(cr0);
    write_cr2(0xcafe1234);
    v = read_cr2();
    write_cr2(cr2);
    write_cr3(0x00345018);
    w = read_cr3();
    write_cr3(cr3);
    printf("cr2 <- 0xcafe1234 reads %p; cr3 <- 0x00345018 reads %p\n", v, w);
    check(v == 0xcafe1234 && w == 0x00345018, "cr2 and cr3 read back");
    write_cr4(cr4 | CR4_DE | CR4_PSE | CR4_TSD);
    v = read_cr4();
    __asm__ volatile("rdtsc" ::: "eax", "edx");     /* TSD only affects CPL > 0 */
    write_cr4(cr4);
    printf("cr4 | DE PSE TSD -> %p, restored %p\n", v, read_cr4());
    check(v == (cr4 | CR4_DE | CR4_PSE | CR4_TSD), "cr4 bits read back, rdtsc at ring 0 with TSD");
    check(read_cr0() == cr0 && read_cr2() == cr2 && read_cr3() == cr3 && read_cr4() == cr4,
          "control registers restored");

    /* ------------------------------------------------------------ eflags */
    putln("-- pushf/popf/cli/sti/iret at ring 0 (PIC masked)");
    printf("eflags now %p (arithmetic flags masked)\n", read_eflags() & ~ARITH);
    v = popf_probe(0x202);
    w = popf_probe(0x3002);
    x = popf_probe(0x1202 | 0x8d5);
    printf("popf 0x202 -> %p, 0x3002 -> %p, 0x1202|0x8d5 -> %p\n", v, w, x);
    check(v == 0x202 && w == 0x3002 && x == 0x1ad7, "IF and IOPL change at ring 0");
    v = popf_probe(0x4002);
    w = popf_probe(EFL_AC | EFL_ID | 0x2);
    x = popf_probe(EFL_VIF | EFL_VIP | 0x2);
    printf("popf NT -> %p, AC|ID -> %p, VIF|VIP -> %p\n", v, w, x);
    check(v == 0x4002 && w == (EFL_AC | EFL_ID | 0x2) && x == 0x2, "NT, AC, ID settable; VIF/VIP not");
    __asm__ volatile("pushfl\n\t"
                     "pushl %2\n\t"
                     "popfl\n\t"
                     "pushw $0x0202\n\t"
                     "popfw\n\t"
                     "pushfl\n\t"
                     "popl %0\n\t"
                     "pushfw\n\t"
                     "popw %w1\n\t"
                     "popfl" : "=&r"(v), "=&r"(w) : "r"(EFL_ID | 0x2) : "memory", "cc");
    printf("popfw 0x0202 over ID -> %p, pushfw -> 0x%04x\n", v, w & 0xffff);
    check(v == (EFL_ID | 0x202) && (w & 0xffff) == 0x202, "16-bit popf/pushf leave bits 31:16");
    sti();
    v = read_eflags();
    cli();
    w = read_eflags();
    printf("sti -> %p, cli -> %p\n", v, w);
    check(v == 0x202 && w == 0x2, "cli/sti");
    v = iret_probe(0x1203);
    printf("iret to ring 0 with eflags 0x1203 -> %p\n", v);
    check(v == 0x1203, "iret at ring 0 sets IOPL and IF");

    /* ------------------------------------------------------------ segments */
    putln("-- segment registers at ring 0");
    struct segres ks;
    seg_ops(0x10, 0x50, 0x04, &ks);
    print_segres("ring 0", &ks, 0x10, 0x50, 0x04);

    /* ------------------------------------------------------------ far transfers */
    putln("-- far call/jmp/ret at ring 0");
    struct farres kf;
    far_tests_r0(&kf);
    print_far("ring 0", 0x30, 0x08, &kf);
    struct gateres kg;
    GATE_CALL(0x40, &kg);
    printf("ring 0 lcall gate 0x40: target cs 0x%04x ss 0x%04x, depth %u, "
           "stack ret %s cs 0x%04x params %p %p %p, eax %p, esp %s\n",
           gate_rec[1], gate_rec[2], kg.e0 - gate_rec[0], gate_rec[3] == kg.ret ? "ok" : "WRONG",
           gate_rec[4] & 0xffff, gate_rec[5], gate_rec[6], gate_rec[7], kg.eax,
           kg.e0 == kg.e1 ? "balanced by lret $12" : "WRONG");
    check(gate_rec[1] == 0x08 && gate_rec[2] == 0x10 && kg.e0 - gate_rec[0] == 20 &&
          gate_rec[3] == kg.ret && (gate_rec[4] & 0xffff) == 0x08 &&
          gate_rec[5] == 0x33333333 && gate_rec[7] == 0x11111111 && kg.eax == 0x600df00d &&
          kg.e0 == kg.e1, "call gate at the same privilege: no stack switch");

    /* ------------------------------------------------------------ int n */
    putln("-- int n / int3 / into at ring 0");
    struct intres ki[6];
    nev = 0;
    INT_AT("int $0x40", 0x2d7, &ki[0]);
    INT_AT("int $0x41", 0x2d7, &ki[1]);
    INT_AT("int3", 0x2d7, &ki[2]);
    INT_AT("int $3", 0x2d7, &ki[3]);
    INT_AT("into", 0xa03, &ki[4]);
    v = nev;
    INT_AT("into", 0x203, &ki[5]);      /* OF=0: nothing */
    w = nev;
    const char *knames[5] = { "int $0x40", "int $0x41", "int3", "int $3", "into" };
    for (int i = 0; i < 4; i++)
        print_event(knames[i], &ev[i], &ki[i], 0x2d7);
    print_event(knames[4], &ev[4], &ki[4], 0xa03);
    check(v == 5 && w == 5 && ev[0].vector == 0x40 && ev[1].vector == 0x41 && ev[2].vector == 3 &&
          ev[3].vector == 3 && ev[4].vector == 4 && ki[5].efl == 0x203,
          "vectors; into with OF=0 does nothing");
    check(!ev[0].if_inside && ev[1].if_inside, "interrupt gate clears IF, trap gate keeps it");

    /* ------------------------------------------------------------ port I/O */
    putln("-- port I/O at ring 0: CMOS and COM1");
    printf("CMOS B 0x%02x D 0x%02x, base memory 0x%02x%02x KiB, extended 0x%02x%02x KiB, "
           "above 16M 0x%02x%02x x64K\n",
           cmos_read(0x0b), cmos_read(0x0d), cmos_read(0x16), cmos_read(0x15),
           cmos_read(0x18), cmos_read(0x17), cmos_read(0x35), cmos_read(0x34));
    check(cmos_read(0x0b) == 0x02 && cmos_read(0x0d) == 0x80, "CMOS status B (24h, BCD) and D (VRT)");
    outb(0x70, 0x7e);
    outb(0x71, 0x5a);
    v = cmos_read(0x7e);
    printf("CMOS RAM 0x7e <- 0x5a reads 0x%02x\n", v);
    check_eq("CMOS RAM byte", v, 0x5a);
    outb(0x3ff, 0xa5);
    v = inb(0x3ff);
    printf("COM1 scratch <- 0xa5 reads 0x%02x, LCR 0x%02x, MCR 0x%02x, IER 0x%02x, IIR 0x%02x\n",
           v, inb(0x3fb), inb(0x3fc), inb(0x3f9), inb(0x3fa));
    check(v == 0xa5 && inb(0x3fb) == 0x03 && inb(0x3fc) == 0x03 && inb(0x3f9) == 0 &&
          inb(0x3fa) == 0xc1, "COM1 registers");

    /* ------------------------------------------------------------ ring 3, IOPL 0 */
    putln("-- ring 3, IOPL 0");
    struct selres ksel[NSELS];
    sel_probe_all(ksel);
    memset(&u_dtr, 0, sizeof u_dtr);
    nfaults[3] = 0;
    v = run_user_eflags((uint32_t)user_a, USTACK_TOP, 0x202);
    cli();
    check_eq("user A exit value", v, 0x600d);
    check_eq("back at ring 0", read_cs(), SEL_KCODE);
    printf("user A entry eflags %p, cs 0x%04x ss 0x%04x ds 0x%04x\n", ur.a_entry, ur.cs, ur.ss, ur.ds);
    check(ur.a_entry == 0x202 && ur.cs == 0x1b && ur.ss == 0x23 && ur.ds == 0x23,
          "iret to ring 3: eflags and selectors");
    printf("ring 3 sgdt base %p limit 0x%04x, sidt base %p limit 0x%04x\n",
           ur.gdtr.base, ur.gdtr.limit, ur.idtr.base, ur.idtr.limit);
    check(ur.gdtr.base == 0x101000 && ur.gdtr.limit == 0x5f && ur.idtr.base == 0x101800 &&
          ur.idtr.limit == 0x7ff, "ring 3 sgdt/sidt see the real tables");
    printf("ring 3 str 0x%04x sldt 0x%04x smsw r32&0xffff 0x%04x, r16 -> eax %p, m16 -> %p\n",
           ur.tr, ur.ldtr, ur.smsw32 & 0xffff, ur.smsw16_eax, ur.smsw_mem);
    check(ur.tr == SEL_TSS && ur.ldtr == SEL_LDT && (ur.smsw32 & 0xffff) == (cr0 & 0xffff) &&
          ur.smsw16_eax == (0xabcd0000 | (cr0 & 0xffff)) &&
          ur.smsw_mem == (0xaaaa0000 | (cr0 & 0xffff)), "ring 3 str/sldt/smsw");
    printf("ring 3 cpuid 0 vendor \"%s\"\n", ur.vendor);
    check(memcmp(ur.vendor, vendor, 13) == 0, "same vendor at both rings");
    printf("ring 3 popf 0x30d5 -> %p, popf 0 -> %p, iret eflags 0x3003 -> %p\n",
           ur.popf_a, ur.popf_b, ur.iret_a);
    check(ur.popf_a == 0x2d7 && ur.popf_b == 0x202 && ur.iret_a == 0x203,
          "popf/iret at CPL 3 IOPL 0 silently keep IF=1 and IOPL=0");

    putln("selector r0: lar        lsl        rw | r3: lar        lsl        rw");
    int sel_ok = 1;
    for (uint32_t i = 0; i < NSELS; i++) {
        const struct selres *a = &ksel[i], *b = &ur.sel[i];
        printf("0x%04x      ", probe_sels[i]);
        put_opt(a->lar_ok, a->lar & 0x00f0ff00);
        put_opt(a->lsl_ok, a->lsl);
        printf("%u%u |     ", a->verr, a->verw);
        put_opt(b->lar_ok, b->lar & 0x00f0ff00);
        put_opt(b->lsl_ok, b->lsl);
        printf("%u%u  %s\n", b->verr, b->verw, sel_names[i]);
        if (!sel_matches(a, sel_expect[i]) || !sel_matches(b, sel_expect[i] + 5) ||
            (a->lar_ok && b->lar_ok && a->lar != b->lar) ||
            (a->lsl_ok && b->lsl_ok && a->lsl != b->lsl))
            sel_ok = 0;
    }
    check(sel_ok, "lar/lsl/verr/verw privilege and type rules at both rings");

    print_segres("ring 3", &ur.seg, 0x23, SEL_DSEG, 0x07);
    print_far("ring 3", SEL_U38, 0x1b, &ur.far);
    printf("ring 3 lcall gate 0x43: target cs 0x%04x ss 0x%04x esp %s, IF|IOPL %p, cr0 %p, "
           "CMOS D 0x%02x\n",
           gate_rec[1], gate_rec[2], gate_rec[0] == KSTACK_TOP - 28 ? "= esp0 - 28" : "WRONG",
           gate_rec[12] & IF_IOPL, gate_rec[10], gate_rec[11]);
    printf("  inner stack: ret %s cs 0x%04x, params %p %p %p, old esp %s, old ss 0x%04x\n",
           gate_rec[3] == ur.gate.ret ? "ok" : "WRONG", gate_rec[4] & 0xffff, gate_rec[5],
           gate_rec[6], gate_rec[7], gate_rec[8] == ur.gate.e0 - 12 ? "ok" : "WRONG",
           gate_rec[9] & 0xffff);
    printf("  back at ring 3: cs 0x%04x ss 0x%04x ds 0x%04x, eax %p, esp %s\n",
           ur.gate.cs_after, ur.gate.ss_after, ur.gate.ds_after, ur.gate.eax,
           ur.gate.e0 == ur.gate.e1 ? "balanced by lret $12" : "WRONG");
    check(gate_rec[1] == 0x08 && gate_rec[2] == 0x10 && gate_rec[0] == KSTACK_TOP - 28 &&
          gate_rec[10] == cr0 && gate_rec[11] == 0x80, "gate call to ring 0 on the TSS stack");
    check(gate_rec[3] == ur.gate.ret && (gate_rec[4] & 0xffff) == 0x1b &&
          gate_rec[5] == 0x33333333 && gate_rec[6] == 0x22222222 && gate_rec[7] == 0x11111111 &&
          gate_rec[8] == ur.gate.e0 - 12 && (gate_rec[9] & 0xffff) == 0x23,
          "inner stack: eip, cs, 3 copied parameters, esp, ss");
    check(ur.gate.cs_after == 0x1b && ur.gate.ss_after == 0x23 && ur.gate.ds_after == 0x23 &&
          ur.gate.eax == 0x600df00d && ur.gate.e0 == ur.gate.e1, "lret $12 back to ring 3");
    printf("ring 3 int $0x80 frame: cs 0x%04x ss 0x%04x IF|IOPL %p, %s\n", f_cs, f_ss,
           f_eflags & IF_IOPL,
           f_where == KSTACK_TOP ? "on TSS.esp0" : "WRONG STACK");
    check(f_cs == 0x1b && f_ss == 0x23 && f_where == KSTACK_TOP, "system call frame");
    print_event("int $0x41", &ev[0], &ur.int41, 0x2d7);
    print_event("int3", &ev[1], &ur.int3, 0x2d7);
    print_event("into", &ev[2], &ur.into1, 0xa03);
    check(nev == 3 && ev[0].vector == 0x41 && ev[1].vector == 3 && ev[2].vector == 4 &&
          ev[0].if_inside && !ev[1].if_inside && ur.nev_into0 == 0 && ur.into0.efl == 0x203,
          "ring 3 software interrupts through DPL-3 gates");
    check_eq("rdtsc faults only with CR4.TSD", ur.tsc_faults, 1);
    printf("ring 3 faults: %u\n", nfaults[3]);
    check_eq("every ring-3 probe faulted", nfaults[3], 19);

    /* ------------------------------------------------------------ ring 3, IOPL 3 */
    putln("-- ring 3, IOPL 3");
    nfaults[3] = 0;
    v = run_user_eflags((uint32_t)user_b, USTACK_TOP, 0x3202);
    cli();
    check_eq("user B exit value", v, 0xb);
    printf("user B eflags: entry %p; IF|IOPL after cli %p, sti %p\n",
           ur.b_entry, ur.b_cli & IF_IOPL, ur.b_sti & IF_IOPL);
    printf("user B eflags: popf 0 %p, popf 0x202 %p, iret 0x3 %p\n",
           ur.b_popf0, ur.b_popf1, ur.b_iret);
    check(ur.b_entry == 0x3202 && (ur.b_cli & IF_IOPL) == 0x3000 && (ur.b_sti & IF_IOPL) == 0x3200,
          "cli/sti at CPL 3 IOPL 3");
    check(ur.b_popf0 == 0x3002 && ur.b_popf1 == 0x3202 && ur.b_iret == 0x3003,
          "popf/iret at CPL 3 IOPL 3 change IF, never IOPL");
    check(ur.b_cmos_b == 0x8002 && ur.b_scratch == 0x3c, "in/out at ring 3 with IOPL 3");
    printf("user B eflags IF|IOPL after the kernel set IOPL 0: %p\n", ur.b_iopl0 & IF_IOPL);
    check((ur.b_iopl0 & IF_IOPL) == 0x200 && nfaults[3] == 2, "hlt faults at IOPL 3, cli faults again at IOPL 0");

    /* ------------------------------------------------------------ lgdt / lidt */
    putln("-- lgdt/lidt: odd addresses, short limits, odd values");
    memcpy(gcopy + 3, gdt, GDT_ENTRIES * 8);
    d.limit = GDT_ENTRIES * 8 - 1;
    d.base = (uint32_t)gcopy + 3;
    lgdt(&d);
    {   /* modify the live copy after the lgdt: 0x50 now points at dseg_alt */
        uint64_t desc = make_desc((uint32_t)dseg_alt, 0xfff, 0xf3, GDT_F_DB);
        memcpy(gcopy + 3 + 0x50, &desc, 8);
    }
    reload_segments();
    struct dtr got;
    sgdt(&got);
    load_fs(0x50);
    __asm__ volatile("movl %%fs:4, %0" : "=r"(v) :: "memory");
    load_fs(0x10);
    printf("gdt copy at an odd address: sgdt base %s limit 0x%04x, 0x50 reads %p\n",
           got.base == (uint32_t)gcopy + 3 ? "= copy" : "WRONG", got.limit, v);
    check(got.base == (uint32_t)gcopy + 3 && got.limit == 0x5f && v == dseg_alt[1],
          "segment loads use the new GDT, written after the lgdt");
    memset(&ur.g_gdtr, 0, sizeof ur.g_gdtr);
    w = run_user_eflags((uint32_t)user_g, USTACK_TOP, 0x202);
    cli();
    printf("ring 3 with the moved GDT: sgdt base %s, 0x53 reads %p, exit %u\n",
           ur.g_gdtr.base == (uint32_t)gcopy + 3 ? "= copy" : "WRONG", ur.g_read, w);
    check(ur.g_gdtr.base == (uint32_t)gcopy + 3 && ur.g_read == dseg_alt[0] && w == 9,
          "ring-3 round trip through the moved GDT");
    lgdt(&gdt_ptr);
    reload_segments();

    d.limit = 0x27;
    d.base = (uint32_t)gdt;
    lgdt(&d);
    PROBE("mov fs, 0x30 (limit 0x27)", "movw %%cx, %%fs", "c"(0x30));
    struct selres s30, s20;
    sel_probe(0x30, &s30);
    sel_probe(0x20, &s20);
    lgdt(&gdt_ptr);
    printf("gdt limit 0x27: lar 0x30 zf %u, lar 0x20 zf %u\n", s30.lar_ok, s20.lar_ok);
    check(!s30.lar_ok && s20.lar_ok, "the GDT limit bounds selectors");

    memcpy(icopy + 1, idt, 0x42 * 8);
    d.limit = 0x42 * 8 - 1;
    d.base = (uint32_t)icopy + 1;
    lidt(&d);
    {   /* modify the live copy after the lidt */
        uint64_t g = make_gate(isr_stub_table[0x42], SEL_KCODE, 0xe, 0);
        memcpy(icopy + 1 + 0x40 * 8, &g, 8);
        g = make_gate(isr_stub_table[0x43], SEL_KCODE, 0xf, 0);
        memcpy(icopy + 1 + 0x41 * 8, &g, 8);
    }
    sidt(&got);
    nev = 0;
    __asm__ volatile("int $0x40\n\tint $0x41" ::: "memory");
    PROBE("int $0x42 (limit 0x20f)", "int $0x42", NOIN);
    lidt(&kidtr);
    printf("idt copy at an odd address: sidt base %s limit 0x%04x; int 0x40 -> vector 0x%02x, "
           "int 0x41 -> vector 0x%02x\n",
           got.base == (uint32_t)icopy + 1 ? "= copy" : "WRONG", got.limit, ev[0].vector,
           ev[1].vector);
    check(got.limit == 0x20f && nev == 2 && ev[0].vector == 0x42 && ev[1].vector == 0x43,
          "interrupts use the new IDT, written after the lidt");

    struct dtr g1, i1, g2, i2;
    static struct dtr odd1 = { 0xffff, 0xfffff001 }, odd2 = { 0x1234, 0x89abcdef };
    __asm__ volatile("lgdt %4\n\t"
                     "sgdt %0\n\t"
                     "lidt %4\n\t"
                     "sidt %1\n\t"
                     "lgdtw %5\n\t"
                     "sgdt %2\n\t"
                     "lidtw %5\n\t"
                     "sidt %3\n\t"
                     "lgdt %6\n\t"
                     "lidt %7"
                     : "=m"(g1), "=m"(i1), "=m"(g2), "=m"(i2)
                     : "m"(odd1), "m"(odd2), "m"(gdt_ptr), "m"(kidtr) : "memory");
    printf("lgdt/lidt {0xffff, 0xfffff001} -> sgdt %p/0x%04x sidt %p/0x%04x\n",
           g1.base, g1.limit, i1.base, i1.limit);
    printf("o16 lgdt/lidt {0x1234, 0x89abcdef} -> sgdt %p/0x%04x sidt %p/0x%04x\n",
           g2.base, g2.limit, i2.base, i2.limit);
    check(g1.base == 0xfffff001 && g1.limit == 0xffff && i1.base == 0xfffff001 && i1.limit == 0xffff,
          "odd gdtr/idtr values read back");
    check(g2.base == 0x00abcdef && g2.limit == 0x1234 && i2.base == 0x00abcdef && i2.limit == 0x1234,
          "16-bit operand size loads a 24-bit base");
    sgdt(&g1);
    sidt(&i1);
    check(g1.base == kgdtr.base && g1.limit == kgdtr.limit && i1.base == kidtr.base &&
          i1.limit == kidtr.limit, "gdtr and idtr restored");

    /* ------------------------------------------------------------ ltr */
    putln("-- ltr: a second TSS");
    struct selres t48a, t48b, t28;
    sel_probe(SEL_TSS2, &t48a);
    ltr(SEL_TSS2);
    v = str();
    sel_probe(SEL_TSS2, &t48b);
    sel_probe(SEL_TSS, &t28);
    printf("ltr 0x48: str 0x%04x, lar 0x48 %p -> %p, lar 0x28 %p\n", v, t48a.lar & 0x00f0ff00,
           t48b.lar & 0x00f0ff00, t28.lar & 0x00f0ff00);
    check(v == SEL_TSS2 && (t48a.lar & 0xff00) == 0x8900 && (t48b.lar & 0xff00) == 0x8b00 &&
          (t28.lar & 0xff00) == 0x8b00, "ltr sets the busy bit, the old TSS stays busy");
    f_where = 0;
    w = run_user_eflags((uint32_t)user_t, USTACK_TOP, 0x202);
    cli();
    printf("ring 3 int $0x80 frame with TR 0x48: %s\n",
           f_where == ALT_TOP ? "on TSS2.esp0" : f_where == KSTACK_TOP ? "WRONG (old TSS)" : "WRONG");
    check(f_where == ALT_TOP && w == 7, "stack switch through the new TSS");
    PROBE("ltr 0x28 (busy)", "ltr %%cx", "c"(SEL_TSS));
    tss_init(KSTACK_TOP);
    printf("back: str 0x%04x\n", str());
    check_eq("str after tss_init", str(), SEL_TSS);

    /* ------------------------------------------------------------ computation */
    putln("-- computation: recursion, indirect calls, jump tables, computed goto, string ops");
    struct digest kd;
    compute_digest(&kd);
    print_digest("ring 0:", &kd);
    x = 0;
    for (uint32_t i = 1; i <= 100; i++)
        x += (i * i) ^ i;
    check(kd.fib == 2584 && kd.interp == x, "fib(18) = 2584, bytecode = plain loop");
    check(digest_eq(&kd, &ur.dig), "ring 3 computed the same digest");

    /* ------------------------------------------------------------ timer */
    putln("-- timer: PIT channel 0 at 1 kHz, IRQ0 remapped to vector 0x20");
    pic_remap();
    outb(0x43, 0x34);
    outb(0x40, 1193 & 0xff);
    outb(0x40, 1193 >> 8);
    outb(0x21, 0xfe);
    printf("IMR master 0x%02x slave 0x%02x\n", inb(0x21), inb(0xa1));
    uint32_t spins = 0;
    sti();
    while (ticks < 3)
        spins++;
    cli();
    check(ticks >= 3 && ticks_r0 >= 3, "at least 3 ticks while spinning at ring 0 with IF=1");
    check(spins > 0, "the spin loop ran");
    v = ticks;
    do
        __asm__ volatile("sti\n\thlt\n\t.globl after_hlt\nafter_hlt:\n\tcli" ::: "memory");
    while (ticks == v);
    check(last_tick_eip == (uint32_t)after_hlt, "hlt idled until a tick (saved eip after the hlt)");
    v = ticks_r3;
    w = run_user_eflags((uint32_t)user_c, USTACK_TOP, 0x202);
    cli();
    check(w == 0xc && ticks_r3 - v >= 4, "at least 4 ticks taken at ring 3");
    check(ticks_bad == 0, "every tick frame on the right stack with the right selectors");
    check(ur.c_spins > 0 && digest_eq(&ur.c_dig, &kd), "ring-3 digest with the timer running");
    struct digest td;
    v = ticks;
    sti();
    do
        compute_digest(&td);
    while (ticks - v < 2);
    cli();
    check(digest_eq(&td, &kd), "ring-0 digest with the timer running");
    outb(0x21, 0xff);
    check(ticks_bad == 0, "no bad tick frames");

    /* ------------------------------------------------------------ final state */
    putln("-- final state");
    sgdt(&g1);
    sidt(&i1);
    printf("cs 0x%04x ds 0x%04x ss 0x%04x tr 0x%04x ldtr 0x%04x cr0 %p eflags & ~arith %p\n",
           read_cs(), read_ds(), read_ss(), str(), sldt(), read_cr0(), read_eflags() & ~ARITH);
    check(g1.base == 0x101000 && i1.base == 0x101800 && read_cr0() == cr0, "tables and cr0 intact");
    lldt(0);
    check_eq("sldt after lldt 0", sldt(), 0);
    done();
}

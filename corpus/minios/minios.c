/*
 * minios -- a tiny preemptive operating system, paging off: three ring-3
 * tasks, round-robin scheduling on the 1 kHz PIT tick, system calls
 * through int 0x80 and a DPL-3 call gate.
 *
 * Kernel (ring 0):
 *  - GDT: extra ring-3 code/data pair 0x30/0x38 with base 0x200000 and
 *    byte-granular limit 0xffff (task 2), a DPL-3 call gate 0x40 ->
 *    0x08:gate_ticks (0 parameters); TSS via tss_init; IDT gate 0x80 with
 *    DPL 3 (interrupt gate: IF=0 in the kernel).
 *  - 8259A pair remapped to 0x20/0x28, PIT channel 0 mode 2 at 1000 Hz.
 *  - Each task has its own user stack and 4 KiB kernel stack.  A task
 *    switch saves the interrupt frame the common stub built (struct regs,
 *    ring-3 layout, copied with a kernel-mode "rep movsd"), copies the next
 *    task's saved frame over it, and points TSS.esp0 at the next task's
 *    kernel stack before the iret.  Every system call checks that its frame
 *    sits exactly at the top of the caller's kernel stack (SDM vol 3 6.12.1:
 *    the stack switch uses TSS.SS0:ESP0).
 *  - The run queue is a ring of task ids guarded by pushfd/cli/popfd
 *    critical sections (also used at ring 0 with IF=1 while setting up).
 *  - When every live task sleeps ("sleep until tick N") the kernel waits in
 *    the system call with "test at IF=0; sti; hlt; cli".  Elsewhere it waits
 *    by spinning with IF=1 (no hlt).
 *  - Call gate "get ticks": entered at CPL 0 on TSS.esp0 - 16 with the
 *    caller's CS/SS (RPL 3) on the stack, IF still 1 (the timer may hit
 *    ring 0 there), returns with lret (SDM vol 3 5.8.5-5.8.6).
 *  - str/sldt/sgdt/smsw and lar/lsl/verr/verw of each task's selectors
 *    are printed once at ring 0.
 *
 * Tasks (ring 3):
 *  0 (flat C): spins 4 ticks at ring 3 first (so at least one preemption
 *    is certain), CRC32 (bitwise, reflected 0xedb88320) of 16 KiB and of
 *    "123456789", a sieve of Eratosthenes below 8192.
 *  1 (flat C): fib(24) by recursion through a function-pointer table, a
 *    byte-code interpreter whose dense switch gcc compiles to a jump table,
 *    string reversal.
 *  2 (assembly, copied to 0x200000, CS/DS/SS based there, FS/GS null):
 *    repne scasb / rep movsb / repe cmpsb with a based ES, string reversal,
 *    an indirect-jump table and an indirect-call recursion through tables
 *    of segment offsets, registers/selectors kept across preemption, lsl/lar
 *    of its own selectors at ring 3.
 * All three sleep ~40 ticks (measured with the call gate), yield, and exit.
 *
 * Determinism: tasks never print directly.  Their write() calls append to
 * per-task kernel buffers that are printed in task-id order after every
 * task has exited.  No tick count is printed, only "at least N" checks.
 */
#include "lib.h"

#define NTASK 3
#define SYS_EXIT  0
#define SYS_WRITE 1
#define SYS_YIELD 2
#define SYS_GETID 3
#define SYS_SLEEP 4

#define SEL_T2CODE 0x33         /* GDT index 6, RPL 3 */
#define SEL_T2DATA 0x3b         /* GDT index 7, RPL 3 */
#define SEL_GATE   0x43         /* GDT index 8, RPL 3 */
#define T2_BASE    0x200000u
#define T2_LIMIT   0xffffu
#define T2_ESP     0x10000u

#define QUANTUM 2               /* ticks */
#define OUTBUF  1024
#define SLEEP_TICKS 40

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define PIT_CH0 0x40
#define PIT_CMD 0x43
#define RELOAD 1193

enum { T_DEAD, T_READY, T_SLEEP };

struct task {
    struct regs ctx;            /* saved ring-3 frame */
    uint32_t state;
    uint32_t wake;
    uint32_t kstack_top;
    uint32_t exit_code;
    uint32_t nsys;
    uint32_t bad_write;
    uint32_t outlen;
    char out[OUTBUF + 1];
};

extern char gate_ticks[];
extern char t2_image[], t2_image_end[];

volatile uint32_t ticks;
volatile uint32_t gate_calls, gate_bad_stack, gate_bad_cs;

static struct task tasks[NTASK];
static uint8_t kstacks[NTASK][4096] __attribute__((aligned(16)));
static uint8_t ustack0[8192] __attribute__((aligned(16)));
static uint8_t ustack1[8192] __attribute__((aligned(16)));

static int cur = -1;
static uint32_t slice = QUANTUM, nalive;
static uint32_t idle_hlts, nswitch, npreempt, frame_bad, cs_bad_if;
static uint32_t ticks_ring0, ticks_ring3;

/* ------------------------------------------------------------ critical sections */
static inline uint32_t irq_save(void)
{
    uint32_t f;
    __asm__ volatile("pushfl; popl %0; cli" : "=r"(f) :: "memory");
    return f;
}

static inline void irq_restore(uint32_t f)
{
    __asm__ volatile("pushl %0; popfl" :: "r"(f) : "memory", "cc");
}

/* ------------------------------------------------------------ run queue */
#define RQ_SIZE 8
static int rq[RQ_SIZE];
static uint32_t rq_head, rq_tail;

static void rq_push(int id)
{
    uint32_t f = irq_save();
    if (read_eflags() & EFL_IF)
        cs_bad_if++;
    rq[rq_tail++ % RQ_SIZE] = id;
    irq_restore(f);
}

static int rq_pop(void)
{
    uint32_t f = irq_save();
    int id = -1;
    if (read_eflags() & EFL_IF)
        cs_bad_if++;
    if (rq_head != rq_tail)
        id = rq[rq_head++ % RQ_SIZE];
    irq_restore(f);
    return id;
}

static int rq_empty(void)
{
    uint32_t f = irq_save();
    int e = rq_head == rq_tail;
    irq_restore(f);
    return e;
}

/* ------------------------------------------------------------ context copy */
static void ctx_copy(void *dst, const void *src)
{
    uint32_t d0, d1, d2;
    __asm__ volatile("cld; rep movsl"
                     : "=&D"(d0), "=&S"(d1), "=&c"(d2)
                     : "0"(dst), "1"(src), "2"(sizeof(struct regs) / 4)
                     : "memory");
}

static void save_current(struct regs *r)
{
    ctx_copy(&tasks[cur].ctx, r);
}

/* r: a ring-3 frame whose task has been saved (or is dead/asleep).
 * Load the next runnable task into it; idle with hlt while every live task
 * sleeps; leave to kmain when none is left. */
static void schedule(struct regs *r)
{
    for (;;) {
        int next = rq_pop();
        if (next >= 0) {
            ctx_copy(r, &tasks[next].ctx);
            tss.esp0 = tasks[next].kstack_top;
            if (next != cur)
                nswitch++;
            cur = next;
            slice = QUANTUM;
            return;
        }
        if (!nalive) {
            cur = -1;
            user_return(0);
        }
        idle_hlts++;
        __asm__ volatile("sti; hlt; cli" ::: "memory");
    }
}

static void wake_sleepers(void)
{
    for (int i = 0; i < NTASK; i++)
        if (tasks[i].state == T_SLEEP && ticks >= tasks[i].wake) {
            tasks[i].state = T_READY;
            rq_push(i);
        }
}

/* ------------------------------------------------------------ interrupts */
static void on_timer(struct regs *r)
{
    ticks++;
    outb(PIC1_CMD, 0x20);
    wake_sleepers();
    if ((r->cs & 3) == 0) {
        ticks_ring0++;          /* kernel, gate or idle: never switch */
        return;
    }
    ticks_ring3++;
    if (--slice)
        return;
    slice = QUANTUM;
    if (rq_empty())
        return;
    npreempt++;
    save_current(r);
    rq_push(cur);
    schedule(r);
}

static void on_spurious(struct regs *r)
{
    (void)r;
}

static int seg_base_limit(uint32_t sel, uint32_t *base, uint32_t *limit)
{
    if ((sel & ~3u) == 0 || (sel & 4) || (sel >> 3) >= GDT_ENTRIES)
        return 0;
    uint64_t d = gdt[sel >> 3];
    uint32_t lo = (uint32_t)d, hi = (uint32_t)(d >> 32);
    *base = (lo >> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000);
    uint32_t lim = (lo & 0xffff) | (hi & 0xf0000);
    if (hi & (1u << 23))
        lim = (lim << 12) | 0xfff;
    *limit = lim;
    return 1;
}

static uint32_t do_write(struct task *t, struct regs *r)
{
    uint32_t base, limit, off = r->ebx, len = r->ecx;
    if (!seg_base_limit(r->ds, &base, &limit) || len > OUTBUF - t->outlen ||
        (len && (off > limit || len - 1 > limit - off))) {
        t->bad_write++;
        return (uint32_t)-1;
    }
    memcpy(t->out + t->outlen, (const void *)(base + off), len);
    t->outlen += len;
    t->out[t->outlen] = 0;
    return len;
}

static void on_syscall(struct regs *r)
{
    if ((r->cs & 3) != 3 || cur < 0) {
        printf("FAIL: int 0x80 from cs 0x%04x\n", r->cs);
        check_failures++;
        done();
    }
    struct task *t = &tasks[cur];
    t->nsys++;
    if ((uint32_t)(r + 1) != t->kstack_top)
        frame_bad++;
    switch (r->eax) {
    case SYS_WRITE:
        r->eax = do_write(t, r);
        return;
    case SYS_GETID:
        r->eax = (uint32_t)cur;
        return;
    case SYS_YIELD:
        r->eax = 0;
        save_current(r);
        rq_push(cur);
        schedule(r);
        return;
    case SYS_SLEEP:
        r->eax = 0;
        if (ticks >= r->ebx)
            return;
        t->state = T_SLEEP;
        t->wake = r->ebx;
        save_current(r);
        schedule(r);
        return;
    case SYS_EXIT:
        t->state = T_DEAD;
        t->exit_code = r->ebx;
        nalive--;
        schedule(r);
        return;
    default:
        r->eax = (uint32_t)-1;
        return;
    }
}

/* ------------------------------------------------------------ shared computations */
/* (called at ring 3 by the tasks and at ring 0 by the kernel's checks) */
static uint32_t crc32(const uint8_t *p, uint32_t n)
{
    uint32_t c = 0xffffffff;
    for (uint32_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320 & -(c & 1));
    }
    return ~c;
}

static void fill(uint8_t *buf, uint32_t n)
{
    uint32_t x = 0x2545f491;
    for (uint32_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        buf[i] = (uint8_t)(x >> 24);
    }
}

#define SIEVE_N 8192
static uint32_t sieve(uint8_t *comp, uint32_t n, uint32_t *largest, uint32_t *sum)
{
    uint32_t count = 0;
    memset(comp, 0, n);
    *largest = *sum = 0;
    for (uint32_t i = 2; i < n; i++) {
        if (comp[i])
            continue;
        count++;
        *largest = i;
        *sum += i;
        for (uint32_t j = i * i; j < n; j += i)
            comp[j] = 1;
    }
    return count;
}

typedef uint32_t (*fn_t)(uint32_t);
static uint32_t f_leaf(uint32_t n);
static uint32_t f_fib(uint32_t n);
fn_t fib_table[2] = { f_leaf, f_fib };   /* not const: no devirtualisation */

static uint32_t f_leaf(uint32_t n)
{
    return n;
}

static uint32_t f_fib(uint32_t n)
{
    return fib_table[n - 1 >= 2](n - 1) + fib_table[n - 2 >= 2](n - 2);
}

static uint32_t fib(uint32_t n)
{
    return fib_table[n >= 2](n);
}

/* byte-code: op a b c; registers r0..r7 */
enum { OP_HALT, OP_LDI, OP_ADD, OP_MUL, OP_DEC, OP_JNZ, OP_MOV, OP_XOR, OP_ROL, OP_SUB };

static const uint8_t vm_prog[] = {
    OP_LDI, 0, 12, 0,           /* r0 = 12 (counter) */
    OP_LDI, 1, 1, 0,            /* r1 = 1 (factorial) */
    OP_LDI, 2, 0, 0,            /* r2 = 0 (sum of squares) */
    OP_LDI, 4, 0x5a, 0,         /* r4 = hash */
    /* loop at 16 */
    OP_MOV, 3, 0, 0,            /* r3 = r0 */
    OP_MUL, 3, 0, 0,            /* r3 *= r0 */
    OP_ADD, 2, 3, 0,            /* r2 += r3 */
    OP_MUL, 1, 0, 0,            /* r1 *= r0 */
    OP_XOR, 4, 1, 0,            /* r4 ^= r1 */
    OP_ROL, 4, 7, 0,            /* r4 = rol(r4, 7) */
    OP_SUB, 4, 2, 0,            /* r4 -= r2 */
    OP_DEC, 0, 0, 0,            /* r0-- */
    OP_JNZ, 0, 16, 0,           /* if r0 goto 16 */
    OP_HALT, 0, 0, 0,
};

static uint32_t vm_run(const uint8_t *prog, uint32_t *reg)
{
    uint32_t pc = 0, steps = 0;
    for (;;) {
        const uint8_t *in = prog + pc;
        uint32_t a = in[1] & 7, b = in[2];
        pc += 4;
        steps++;
        switch (in[0]) {
        case OP_HALT: return steps;
        case OP_LDI: reg[a] = b; break;
        case OP_ADD: reg[a] += reg[b & 7]; break;
        case OP_MUL: reg[a] *= reg[b & 7]; break;
        case OP_DEC: reg[a]--; break;
        case OP_JNZ: if (reg[a]) pc = b; break;
        case OP_MOV: reg[a] = reg[b & 7]; break;
        case OP_XOR: reg[a] ^= reg[b & 7]; break;
        case OP_ROL: reg[a] = (reg[a] << (b & 31)) | (reg[a] >> ((32 - b) & 31)); break;
        case OP_SUB: reg[a] -= reg[b & 7]; break;
        default: return 0xffffffff;
        }
    }
}

static void reverse(char *s, uint32_t n)
{
    for (uint32_t i = 0, j = n ? n - 1 : 0; i < j; i++, j--) {
        char c = s[i];
        s[i] = s[j];
        s[j] = c;
    }
}

static uint32_t rol32(uint32_t x, int k)
{
    return (x << k) | (x >> (32 - k));
}

/* C model of task 2's jump-table loop */
static uint32_t t2_model(void)
{
    uint32_t acc = 0x12345678;
    for (uint32_t i = 0; i < 100; i++) {
        switch (i & 7) {
        case 0: acc = acc * 33 + i; break;
        case 1: acc ^= acc >> 7; break;
        case 2: acc = rol32(acc, 5); break;
        case 3: acc += 0x9e3779b9; break;
        case 4: acc = ~acc; break;
        case 5: acc += i * 8; break;
        case 6: acc -= acc << 3; break;
        case 7: acc = __builtin_bswap32(acc); break;
        }
    }
    return acc;
}

/* ------------------------------------------------------------ ring-3 side */
static inline uint32_t sys(uint32_t nr, uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b) : "memory");
    return r;
}

static inline uint32_t u_ticks(void)
{
    uint32_t t;
    __asm__ volatile("lcall $0x43, $0" : "=a"(t) :: "memory");
    return t;
}

static void u_exit(uint32_t v) __attribute__((noreturn));
static void u_exit(uint32_t v)
{
    sys(SYS_EXIT, v, 0);
    __asm__ volatile("ud2");
    __builtin_unreachable();
}

struct line {
    uint32_t n;
    char b[120];
};

static void l_s(struct line *l, const char *s)
{
    while (*s && l->n < sizeof l->b)
        l->b[l->n++] = *s++;
}

static void l_hex(struct line *l, uint32_t v)
{
    l_s(l, "0x");
    for (int i = 7; i >= 0; i--)
        if (l->n < sizeof l->b)
            l->b[l->n++] = "0123456789abcdef"[(v >> (i * 4)) & 15];
}

static void l_dec(struct line *l, uint32_t v)
{
    char t[12];
    int k = 0;
    do {
        t[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k && l->n < sizeof l->b)
        l->b[l->n++] = t[--k];
}

static void l_out(struct line *l)
{
    l_s(l, "\n");
    sys(SYS_WRITE, (uint32_t)l->b, l->n);
    l->n = 0;
}

static void u_sleep_check(struct line *l, const char *who)
{
    uint32_t target = u_ticks() + SLEEP_TICKS;
    sys(SYS_SLEEP, target, 0);
    uint32_t now = u_ticks();
    l_s(l, who);
    l_s(l, ": gate ticks after sleep_until(gate ticks + 40) >= target: ");
    l_s(l, now >= target ? "yes" : "NO");
    l_out(l);
}

#define T0_N 16384
static uint8_t t0_buf[T0_N];
static uint8_t t0_comp[SIEVE_N];

static void task0_main(void)
{
    struct line l = { 0, { 0 } };
    l_s(&l, "task0: id ");
    l_dec(&l, sys(SYS_GETID, 0, 0));
    l_s(&l, ", flat segments");
    l_out(&l);

    /* spin at ring 3 (reading the kernel's tick counter: no paging, flat
     * segments) for 4 ticks: the 2nd ring-3 tick ends the quantum while
     * tasks 1 and 2 are ready, so at least one preemption is certain */
    uint32_t t_spin = ticks;
    while (ticks - t_spin < 4)
        __asm__ volatile("pause" ::: "memory");
    l_s(&l, "task0: spun 4 ticks at ring 3");
    l_out(&l);

    fill(t0_buf, T0_N);
    uint32_t crc = crc32(t0_buf, T0_N);
    l_s(&l, "task0: crc32 of 16 KiB = ");
    l_hex(&l, crc);
    l_out(&l);
    l_s(&l, "task0: crc32(\"123456789\") = ");
    l_hex(&l, crc32((const uint8_t *)"123456789", 9));
    l_out(&l);
    sys(SYS_YIELD, 0, 0);

    uint32_t largest, sum;
    uint32_t count = sieve(t0_comp, SIEVE_N, &largest, &sum);
    l_s(&l, "task0: primes below 8192: ");
    l_dec(&l, count);
    l_s(&l, ", largest ");
    l_dec(&l, largest);
    l_s(&l, ", sum ");
    l_dec(&l, sum);
    l_out(&l);
    sys(SYS_YIELD, 0, 0);

    u_sleep_check(&l, "task0");
    l_s(&l, "task0: exit");
    l_out(&l);
    u_exit(crc);
}

static void task1_main(void)
{
    struct line l = { 0, { 0 } };
    l_s(&l, "task1: id ");
    l_dec(&l, sys(SYS_GETID, 0, 0));
    l_s(&l, ", flat segments");
    l_out(&l);

    uint32_t f = fib(24);
    l_s(&l, "task1: fib(24) through a function table = ");
    l_dec(&l, f);
    l_out(&l);
    sys(SYS_YIELD, 0, 0);

    uint32_t reg[8] = { 0 };
    uint32_t steps = vm_run(vm_prog, reg);
    l_s(&l, "task1: byte-code: ");
    l_dec(&l, steps);
    l_s(&l, " steps, 12! = ");
    l_dec(&l, reg[1]);
    l_s(&l, ", sum of squares = ");
    l_dec(&l, reg[2]);
    l_s(&l, ", hash ");
    l_hex(&l, reg[4]);
    l_out(&l);

    char s[] = "a tiny preemptive os at ring 3";
    reverse(s, strlen(s));
    l_s(&l, "task1: reversed '");
    l_s(&l, s);
    l_s(&l, "'");
    l_out(&l);
    sys(SYS_YIELD, 0, 0);

    u_sleep_check(&l, "task1");
    l_s(&l, "task1: exit");
    l_out(&l);
    u_exit(f ^ reg[4]);
}

/* ------------------------------------------------------------ ring-0 probes */
static uint32_t k_lar(uint32_t sel, int *ok)
{
    uint32_t v = 0;
    uint8_t z;
    __asm__ volatile("lar %2, %0; setz %1" : "+r"(v), "=q"(z) : "r"(sel) : "cc");
    *ok = z;
    return v;
}

static uint32_t k_lsl(uint32_t sel, int *ok)
{
    uint32_t v = 0;
    uint8_t z;
    __asm__ volatile("lsl %2, %0; setz %1" : "+r"(v), "=q"(z) : "r"(sel) : "cc");
    *ok = z;
    return v;
}

static int k_verr(uint32_t sel)
{
    uint8_t z;
    __asm__ volatile("verr %w1; setz %0" : "=q"(z) : "r"(sel) : "cc");
    return z;
}

static int k_verw(uint32_t sel)
{
    uint8_t z;
    __asm__ volatile("verw %w1; setz %0" : "=q"(z) : "r"(sel) : "cc");
    return z;
}

static void show_sel(const char *what, uint32_t sel)
{
    int lar_ok, lsl_ok;
    uint32_t lar = k_lar(sel, &lar_ok), lsl = k_lsl(sel, &lsl_ok);
    printf("%s 0x%04x: lar ", what, sel);
    if (lar_ok)
        printf("0x%08x", lar & 0x00f0fe00);
    else
        printf("fails     ");
    printf(" lsl ");
    if (lsl_ok)
        printf("0x%08x", lsl);
    else
        printf("fails     ");
    printf(" verr %d verw %d\n", k_verr(sel), k_verw(sel));
}

static void init_task(int id, uint32_t eip, uint32_t cs, uint32_t esp, uint32_t ss,
                      uint32_t ds, uint32_t fsgs)
{
    struct task *t = &tasks[id];
    memset(t, 0, sizeof *t);
    user_frame(&t->ctx, eip, cs, esp, ss, ds, fsgs);
    t->kstack_top = (uint32_t)kstacks[id] + sizeof kstacks[id];
    t->state = T_READY;
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    (void)mbi;
    putln("minios: 3 ring-3 tasks, PIT preemption, int 0x80 and call-gate system calls");

    /* ---- descriptor tables */
    idt_init();
    gdt_set(SEL_T2CODE >> 3, T2_BASE, T2_LIMIT, 0xfb, GDT_F_DB);
    gdt_set(SEL_T2DATA >> 3, T2_BASE, T2_LIMIT, 0xf3, GDT_F_DB);
    gdt_set_gate(SEL_GATE >> 3, SEL_KCODE, (uint32_t)gate_ticks, 0xc, 3, 0);
    tss_init((uint32_t)kstacks[0] + sizeof kstacks[0]);
    idt_set_gate(0x80, isr_stub_table[0x80], SEL_KCODE, 0xe, 3);
    set_handler(0x80, on_syscall);
    set_handler(0x20, on_timer);
    set_handler(0x27, on_spurious);
    set_handler(0x2f, on_spurious);

    /* ---- what ring 0 sees of the machine, once */
    struct dtr g;
    sgdt(&g);
    uint32_t msw;
    __asm__ volatile("smsw %0" : "=r"(msw));
    printf("str 0x%04x sldt 0x%04x sgdt limit 0x%04x base %p smsw 0x%04x\n",
           str(), sldt(), g.limit, g.base, msw & 0xffff);
    check(str() == SEL_TSS && sldt() == 0 && g.limit == 0x5f && g.base == (uint32_t)gdt,
          "str/sldt/sgdt at ring 0");
    static const struct { const char *name; uint32_t cs, ss; } sels[NTASK] = {
        { "task0", SEL_UCODE, SEL_UDATA },
        { "task1", SEL_UCODE, SEL_UDATA },
        { "task2", SEL_T2CODE, SEL_T2DATA },
    };
    for (int i = 0; i < NTASK; i++) {
        char buf[16];
        memcpy(buf, sels[i].name, 5);
        memcpy(buf + 5, " cs", 4);
        show_sel(buf, sels[i].cs);
        memcpy(buf + 5, " ss", 4);
        show_sel(buf, sels[i].ss);
    }
    show_sel("gate    ", SEL_GATE);
    int ok1, ok2;
    check(k_lsl(SEL_T2CODE, &ok1) == T2_LIMIT && ok1 &&
          (k_lar(SEL_T2DATA, &ok2) & 0x00f0fe00) == 0x0040f200 && ok2,
          "task 2 segments: byte-granular limit 0xffff, 32-bit, DPL 3");

    /* ---- load task 2's image at its segment base */
    memset((void *)T2_BASE, 0, T2_LIMIT + 1);
    {
        uint32_t n = ((uint32_t)(t2_image_end - t2_image) + 3) / 4, d0, d1, d2;
        __asm__ volatile("cld; rep movsl"
                         : "=&D"(d0), "=&S"(d1), "=&c"(d2)
                         : "0"(T2_BASE), "1"(t2_image), "2"(n) : "memory");
    }
    check(memcmp((void *)T2_BASE, t2_image, (uint32_t)(t2_image_end - t2_image)) == 0,
          "task 2 image copied to 0x200000 (rep movsd)");

    /* ---- PIC + PIT */
    outb(PIC1_CMD, 0x11);
    outb(PIC2_CMD, 0x11);
    outb(PIC1_DATA, 0x20);
    outb(PIC2_DATA, 0x28);
    outb(PIC1_DATA, 0x04);
    outb(PIC2_DATA, 0x02);
    outb(PIC1_DATA, 0x01);
    outb(PIC2_DATA, 0x01);
    outb(PIC1_DATA, 0xfe);              /* IRQ0 only */
    outb(PIC2_DATA, 0xff);
    outb(PIT_CMD, 0x34);
    outb(PIT_CH0, RELOAD & 0xff);
    outb(PIT_CH0, RELOAD >> 8);
    printf("PIC remapped to 0x20/0x28, IMR 0x%02x/0x%02x; PIT ch0 mode 2 at 1000 Hz\n",
           inb(PIC1_DATA), inb(PIC2_DATA));

    /* ---- timer alive: spin with IF=1, no hlt */
    sti();
    while (ticks < 3)
        __asm__ volatile("pause" ::: "memory");
    check(ticks >= 3, "at least 3 ticks while spinning with IF=1 at ring 0");

    /* ---- tasks and run queue (critical sections entered with IF=1) */
    init_task(0, (uint32_t)task0_main, SEL_UCODE, (uint32_t)ustack0 + sizeof ustack0 - 16,
              SEL_UDATA, SEL_UDATA, SEL_UDATA);
    init_task(1, (uint32_t)task1_main, SEL_UCODE, (uint32_t)ustack1 + sizeof ustack1 - 16,
              SEL_UDATA, SEL_UDATA, SEL_UDATA);
    init_task(2, 0, SEL_T2CODE, T2_ESP, SEL_T2DATA, SEL_T2DATA, 0);
    nalive = NTASK;
    for (int i = 0; i < NTASK; i++)
        rq_push(i);
    check((read_eflags() & EFL_IF) && cs_bad_if == 0,
          "pushfd/cli/popfd: IF=0 inside, IF=1 again after");

    cli();
    int first = rq_pop();
    struct regs *frame = (struct regs *)(tasks[first].kstack_top - sizeof(struct regs));
    ctx_copy(frame, &tasks[first].ctx);
    tss.esp0 = tasks[first].kstack_top;
    cur = first;
    slice = QUANTUM;
    putln("starting tasks");
    run_frame(frame);

    /* ---- every task has exited */
    check_eq("back at ring 0", read_cs(), SEL_KCODE);
    check((read_eflags() & EFL_IF) == 0, "IF=0 after the last exit");
    for (int i = 0; i < NTASK; i++)
        printf("task%d: %u system calls, exit code 0x%08x, %u bad writes\n",
               i, tasks[i].nsys, tasks[i].exit_code, tasks[i].bad_write);
    printf("call gate: %u calls\n", gate_calls);

    /* ring-0 recomputation of the task results */
    static uint8_t kbuf[T0_N];
    fill(kbuf, T0_N);
    check_eq("task0 exit code = crc32 at ring 0", tasks[0].exit_code, crc32(kbuf, T0_N));
    check_eq("crc32 check value", crc32((const uint8_t *)"123456789", 9), 0xcbf43926);
    uint32_t largest, sum;
    static uint8_t kcomp[SIEVE_N];
    check(sieve(kcomp, SIEVE_N, &largest, &sum) == 1028 && largest == 8191,
          "sieve at ring 0: 1028 primes below 8192, largest 8191");
    uint32_t reg[8] = { 0 };
    vm_run(vm_prog, reg);
    check_eq("task1 exit code = fib(24) ^ hash at ring 0", tasks[1].exit_code, fib(24) ^ reg[4]);
    check(fib(24) == 46368 && reg[1] == 479001600 && reg[2] == 650, "fib(24), 12!, sum of squares");
    check_eq("task2 exit code = jump-table model", tasks[2].exit_code, t2_model());

    check(gate_calls == 2 * NTASK, "2 call-gate calls per task");
    check(gate_bad_stack == 0, "call gate ran on TSS.esp0 - 16 of the calling task");
    check(gate_bad_cs == 0, "call gate saw caller CS/SS with RPL 3");
    check(frame_bad == 0, "every int 0x80 frame at the top of its task's kernel stack");
    check(cs_bad_if == 0, "run queue only touched with IF=0");
    check(idle_hlts >= 1, "idle hlt while every live task slept");
    check(nswitch >= NTASK, "context switches happened");
    check(npreempt >= 1, "the timer preempted a ring-3 task");
    check(ticks >= SLEEP_TICKS, "at least 40 ticks elapsed");
    int all_dead = 1;
    for (int i = 0; i < NTASK; i++)
        if (tasks[i].state != T_DEAD)
            all_dead = 0;
    check(all_dead && nalive == 0 && rq_empty(), "all tasks exited, run queue empty");

    /* ---- output of each task, in task-id order */
    for (int i = 0; i < NTASK; i++) {
        printf("-- task%d output (%u bytes)\n", i, tasks[i].outlen);
        puts(tasks[i].out);
    }

    /* ---- ticks still flow after the tasks: spin with IF=1, no hlt */
    uint32_t t0 = ticks;
    sti();
    while (ticks - t0 < 5)
        __asm__ volatile("pause" ::: "memory");
    cli();
    check(ticks - t0 >= 5, "5 more ticks spinning with IF=1 at ring 0");
    check(ticks_ring0 >= 1 && ticks_ring3 + ticks_ring0 == ticks, "tick accounting");
    pic_mask_all();
    done();
}

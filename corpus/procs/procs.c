/*
 * procs -- a multi-address-space kernel: three ring-3 processes, each with
 * its own page directory, preempted by the 1 kHz PIT tick.
 *
 * Kernel (ring 0):
 *  - Paging (CR0.PG, CR0.WP): two page tables map 0-8 MiB identity,
 *    supervisor only (page 0 absent), shared by every page directory: the
 *    kernel's own (used before and after the processes) and one per
 *    process.  Each process directory adds one user page table for
 *    0x40000000-0x403fffff: code, data, work, read-only and stack pages at
 *    the same virtual addresses in every process, backed by that process's
 *    own frames (layout in procs.S).
 *  - 8259A pair remapped to 0x20/0x28, PIT channel 0 mode 2 at 1000 Hz,
 *    round-robin with a 2-tick quantum.  A switch saves the interrupt frame
 *    the common stub built (ring-3 layout), copies the next process's saved
 *    frame over it, loads that process's CR3 and points TSS.esp0 at its
 *    kernel stack before the iret.  Every system call checks that its frame
 *    sits at the top of the caller's kernel stack and that CR3 is the
 *    caller's directory.
 *  - int 0x80 (DPL-3 interrupt gate): exit, write (appends to a per-process
 *    buffer in kernel memory), yield, getpid, ticks, sum (the kernel reads
 *    user memory, which may take a demand fault at ring 0).
 *  - #PF: heap pages (0x40100000, 8 pages) are mapped lazily to zeroed pool
 *    frames, also when the kernel itself touches them in a system call; a
 *    ring-3 store to the read-only page is reported and the page made
 *    writable (the store is restarted); a ring-3 read of a supervisor page
 *    is reported and the process resumes at the address in EDX.  The
 *    kernel's reports go into the faulting process's buffer.
 *
 * Processes (ring 3, procs.S):
 *  p0: spins 4 ticks at ring 3 (so at least one preemption is certain),
 *      sieve of Eratosthenes below 8192, the read-only page store;
 *  p1: demand-paged heap: pages 0-5 written, page 6 read by the kernel
 *      first (#PF at ring 0), page 7 first touched in its middle; checksum;
 *  p2: crc32 of 8 KiB of LCG bytes and of "123456789", fib(25) by
 *      recursion, a ring-3 read of kernel memory.
 *  Each also stores a pid-dependent word at 0x40010008, yields, and reads
 *  its own value back.
 *
 * Determinism: processes never print directly; their buffers are printed
 * in process order once every process has exited.  Counts that depend on
 * where the ticks land (CR3 switches, preemptions, ticks) appear only in
 * "at least N" checks.
 */
#include "lib.h"

#define NPROC 3
#define SYS_EXIT   0
#define SYS_WRITE  1
#define SYS_YIELD  2
#define SYS_GETPID 3
#define SYS_TICKS  4
#define SYS_SUM    5


#define UVA        0x40000000u
#define UDATA      0x40010000u
#define UBIG       0x40011000u
#define URO        0x40020000u
#define UHEAP      0x40100000u
#define USTACK     0x403fe000u
#define UTOP       0x40400000u
#define UCODE_PAGES  2
#define UBIG_PAGES   2
#define USTACK_PAGES 2
#define HEAP_PAGES   8
#define POOL         8

#define QUANTUM 2
#define OUTBUF  1024

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define PIT_CH0 0x40
#define PIT_CMD 0x43
#define RELOAD 1193

extern char uimg[], uimg_end[], p0_main[], p1_main[], p2_main[];

#define PAGE __attribute__((aligned(4096)))
static uint32_t pd_k[1024] PAGE;                /* the kernel's own directory */
static uint32_t pt_k[2][1024] PAGE;             /* 0-8 MiB identity, supervisor */
static uint32_t pd_p[NPROC][1024] PAGE;         /* one directory per process */
static uint32_t pt_u[NPROC][1024] PAGE;         /* 0x40000000.. per process */
static uint8_t f_code[NPROC][UCODE_PAGES][4096] PAGE;
static uint8_t f_data[NPROC][4096] PAGE;
static uint8_t f_big[NPROC][UBIG_PAGES][4096] PAGE;
static uint8_t f_ro[NPROC][4096] PAGE;
static uint8_t f_stack[NPROC][USTACK_PAGES][4096] PAGE;
static uint8_t pool[POOL][4096] PAGE;
static uint8_t kstacks[NPROC][4096] __attribute__((aligned(16)));

struct proc {
    struct regs ctx;
    int alive;
    uint32_t exit_code;
    uint32_t nwrite, nyield, ndemand, nro, nprot;
    uint32_t frame_bad, cr3_bad, bad_write;
    uint32_t outlen;
    char out[OUTBUF + 1];
};

static struct proc procs[NPROC];
static int cur = -1;
static uint32_t slice, nalive, npool;
static uint32_t ncr3, nswitch, npreempt;
static volatile uint32_t ticks;
static uint32_t ticks_ring0, ticks_ring3;
static int pool_owner[POOL];

static uint32_t kstack_top(int i)
{
    return (uint32_t)kstacks[i] + sizeof kstacks[i];
}

/* ------------------------------------------------------------ per-process log */
static void b_s(struct proc *p, const char *s)
{
    while (*s && p->outlen < OUTBUF)
        p->out[p->outlen++] = *s++;
    p->out[p->outlen] = 0;
}

static void b_hex(struct proc *p, uint32_t v)
{
    char t[11];
    t[0] = '0';
    t[1] = 'x';
    for (int i = 0; i < 8; i++)
        t[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 15];
    t[10] = 0;
    b_s(p, t);
}

static void b_dec(struct proc *p, uint32_t v)
{
    char t[12];
    int k = 11;
    t[k] = 0;
    do {
        t[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    b_s(p, t + k);
}

/* ------------------------------------------------------------ run queue */
#define RQ_SIZE 8
static int rq[RQ_SIZE];
static uint32_t rq_head, rq_tail;

static void rq_push(int id)
{
    rq[rq_tail++ % RQ_SIZE] = id;
}

static int rq_pop(void)
{
    return rq_head == rq_tail ? -1 : rq[rq_head++ % RQ_SIZE];
}

static void ctx_copy(void *dst, const void *src)
{
    uint32_t d0, d1, d2;
    __asm__ volatile("cld; rep movsl"
                     : "=&D"(d0), "=&S"(d1), "=&c"(d2)
                     : "0"(dst), "1"(src), "2"(sizeof(struct regs) / 4)
                     : "memory");
}

/* r: a ring-3 frame whose process has been saved (or has exited).  Load
 * the next process into it: its frame, its CR3, its TSS.esp0.  With no
 * process left, go back to kmain on the kernel's own directory. */
static void schedule(struct regs *r)
{
    int next = rq_pop();
    if (next < 0) {
        if (nalive) {
            printf("FAIL: run queue empty with %u processes alive\n", nalive);
            check_failures++;
            done();
        }
        cur = -1;
        write_cr3((uint32_t)pd_k);
        user_return(0);
    }
    ctx_copy(r, &procs[next].ctx);
    uint32_t cr3 = (uint32_t)pd_p[next];
    if (read_cr3() != cr3) {
        write_cr3(cr3);
        ncr3++;
    }
    tss.esp0 = kstack_top(next);
    if (next != cur)
        nswitch++;
    cur = next;
    slice = QUANTUM;
}

/* ------------------------------------------------------------ interrupts */
static void on_timer(struct regs *r)
{
    ticks++;
    outb(PIC1_CMD, 0x20);
    if ((r->cs & 3) == 0) {
        ticks_ring0++;
        return;
    }
    ticks_ring3++;
    if (--slice)
        return;
    slice = QUANTUM;
    if (rq_head == rq_tail)
        return;
    npreempt++;
    ctx_copy(&procs[cur].ctx, r);
    rq_push(cur);
    schedule(r);
}

static void on_spurious(struct regs *r)
{
    (void)r;
}

static void on_pf(struct regs *r)
{
    uint32_t cr2 = read_cr2();
    struct proc *p = cur >= 0 ? &procs[cur] : NULL;
    int ring = r->cs & 3;

    if (p && cr2 >= UHEAP && cr2 < UHEAP + HEAP_PAGES * 4096 && !(r->error & PG_P) &&
        npool < POOL) {
        uint8_t *f = pool[npool];
        memset(f, 0, 4096);
        pt_u[cur][PTI(cr2)] = (uint32_t)f | PG_P | PG_RW | PG_US;
        invlpg(cr2);
        b_s(p, "  kernel: demand #PF at ring ");
        b_dec(p, (uint32_t)ring);
        b_s(p, ", err ");
        b_dec(p, r->error);
        b_s(p, ", cr2 ");
        b_hex(p, cr2);
        b_s(p, " -> pool frame ");
        b_dec(p, npool);
        b_s(p, "\n");
        pool_owner[npool++] = cur;
        p->ndemand++;
        return;                         /* restart the faulting instruction */
    }
    if (p && ring == 3 && (cr2 & ~0xfffu) == URO && r->error == (PG_P | PG_RW | PG_US) &&
        !(pt_u[cur][PTI(URO)] & PG_RW)) {
        pt_u[cur][PTI(URO)] |= PG_RW;
        invlpg(URO);
        b_s(p, "  kernel: #PF err 7, cr2 ");
        b_hex(p, cr2);
        b_s(p, ", eip ");
        b_hex(p, r->eip);
        b_s(p, ": store to the read-only page, made it writable\n");
        p->nro++;
        return;
    }
    if (p && ring == 3 && cr2 < 0x00800000 && (r->error & (PG_P | PG_US)) == (PG_P | PG_US)) {
        b_s(p, "  kernel: #PF err ");
        b_dec(p, r->error);
        b_s(p, ", cr2 ");
        b_hex(p, cr2);
        b_s(p, ", eip ");
        b_hex(p, r->eip);
        b_s(p, ": supervisor page, resuming at edx ");
        b_hex(p, r->edx);
        b_s(p, "\n");
        r->eip = r->edx;
        p->nprot++;
        return;
    }
    printf("FAIL: unexpected #PF cr2 %p err 0x%x eip %p cs 0x%x process %d\n", cr2, r->error,
           r->eip, r->cs, cur);
    check_failures++;
    done();
}

static int user_range(uint32_t a, uint32_t n)
{
    return a >= UVA && a < UTOP && n <= UTOP - a;
}

static void on_syscall(struct regs *r)
{
    if ((r->cs & 3) != 3 || cur < 0) {
        printf("FAIL: int 0x80 from cs 0x%04x\n", r->cs);
        check_failures++;
        done();
    }
    struct proc *p = &procs[cur];
    if ((uint32_t)(r + 1) != kstack_top(cur))
        p->frame_bad++;
    if (read_cr3() != (uint32_t)pd_p[cur])
        p->cr3_bad++;
    switch (r->eax) {
    case SYS_WRITE:
        p->nwrite++;
        if (!user_range(r->ebx, r->ecx) || r->ecx > OUTBUF - p->outlen) {
            p->bad_write++;
            r->eax = (uint32_t)-1;
            return;
        }
        memcpy(p->out + p->outlen, (const void *)r->ebx, r->ecx);
        p->outlen += r->ecx;
        p->out[p->outlen] = 0;
        r->eax = r->ecx;
        return;
    case SYS_GETPID:
        r->eax = (uint32_t)cur;
        return;
    case SYS_TICKS:
        r->eax = ticks;
        return;
    case SYS_SUM: {
        uint32_t s = 0;
        if (!user_range(r->ebx, r->ecx) || (r->ebx & 3)) {
            r->eax = (uint32_t)-1;
            return;
        }
        for (uint32_t i = 0; i < r->ecx / 4; i++)
            s += ((volatile uint32_t *)r->ebx)[i];
        r->eax = s;
        return;
    }
    case SYS_YIELD:
        p->nyield++;
        r->eax = 0;
        ctx_copy(&p->ctx, r);
        rq_push(cur);
        schedule(r);
        return;
    case SYS_EXIT:
        p->alive = 0;
        p->exit_code = r->ebx;
        nalive--;
        schedule(r);
        return;
    default:
        r->eax = (uint32_t)-1;
        return;
    }
}

/* ------------------------------------------------------------ ring-0 models */
static uint32_t crc32(const uint8_t *b, uint32_t n)
{
    uint32_t c = 0xffffffff;
    for (uint32_t i = 0; i < n; i++) {
        c ^= b[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320 & -(c & 1));
    }
    return ~c;
}

static uint32_t fib(uint32_t n)
{
    uint32_t a = 0, b = 1;
    while (n--) {
        uint32_t t = a + b;
        a = b;
        b = t;
    }
    return a;
}

static uint32_t heap_word(uint32_t page, uint32_t j)
{
    return ((page << 16) | j) * 0x9e3779b1u;
}

static uint32_t rol32(uint32_t x, int k)
{
    return (x << k) | (x >> (32 - k));
}

static void init_proc(int i, uint32_t entry)
{
    struct proc *p = &procs[i];
    memset(p, 0, sizeof *p);
    user_frame(&p->ctx, UVA + entry, SEL_UCODE, UTOP, SEL_UDATA, SEL_UDATA, SEL_UDATA);
    p->alive = 1;

    /* address space: shared kernel tables + the process's own page table */
    for (int k = 0; k < 1024; k++)
        pd_p[i][k] = 0;
    pd_p[i][0] = (uint32_t)pt_k[0] | PG_P | PG_RW;
    pd_p[i][1] = (uint32_t)pt_k[1] | PG_P | PG_RW;
    pd_p[i][UVA >> 22] = (uint32_t)pt_u[i] | PG_P | PG_RW | PG_US;
    for (int k = 0; k < 1024; k++)
        pt_u[i][k] = 0;
    for (int k = 0; k < UCODE_PAGES; k++)
        pt_u[i][PTI(UVA) + k] = (uint32_t)f_code[i][k] | PG_P | PG_US;
    pt_u[i][PTI(UDATA)] = (uint32_t)f_data[i] | PG_P | PG_RW | PG_US;
    for (int k = 0; k < UBIG_PAGES; k++)
        pt_u[i][PTI(UBIG) + k] = (uint32_t)f_big[i][k] | PG_P | PG_RW | PG_US;
    pt_u[i][PTI(URO)] = (uint32_t)f_ro[i] | PG_P | PG_US;
    for (int k = 0; k < USTACK_PAGES; k++)
        pt_u[i][PTI(USTACK) + k] = (uint32_t)f_stack[i][k] | PG_P | PG_RW | PG_US;

    /* contents: the program image, a marker, the read-only words */
    memset(f_code[i], 0, sizeof f_code[i]);
    memcpy(f_code[i], uimg, (uint32_t)(uimg_end - uimg));
    memset(f_data[i], 0, 4096);
    ((uint32_t *)f_data[i])[0] = 0xda7a0000u | (uint32_t)i * 0x111u;
    memset(f_ro[i], 0, 4096);
    ((uint32_t *)f_ro[i])[0] = 0x0ad00000u | (uint32_t)i;
    ((uint32_t *)f_ro[i])[1] = 0xfeed0000u | (uint32_t)i;
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    (void)mbi;
    putln("procs: 3 ring-3 processes, one page directory each, PIT preemption, int 0x80");

    idt_init();
    tss_init(kstack_top(0));
    idt_set_gate(0x80, isr_stub_table[0x80], SEL_KCODE, 0xe, 3);
    set_handler(0x80, on_syscall);
    set_handler(0x20, on_timer);
    set_handler(0x27, on_spurious);
    set_handler(0x2f, on_spurious);
    set_handler(14, on_pf);

    uint32_t isize = (uint32_t)(uimg_end - uimg);
    check(isize <= UCODE_PAGES * 4096, "user image fits its code pages");

    /* ---- kernel tables: 0-8 MiB identity, supervisor, page 0 absent */
    pt_k[0][0] = 0;
    map_identity((uint32_t *)pt_k, 1, 2047, PG_P | PG_RW);
    pd_k[0] = (uint32_t)pt_k[0] | PG_P | PG_RW;
    pd_k[1] = (uint32_t)pt_k[1] | PG_P | PG_RW;
    init_proc(0, (uint32_t)(p0_main - uimg));
    init_proc(1, (uint32_t)(p1_main - uimg));
    init_proc(2, (uint32_t)(p2_main - uimg));

    write_cr3((uint32_t)pd_k);
    write_cr0(read_cr0() | CR0_PG | CR0_WP);
    printf("paging on: cr0 & 0x80010001 = %p, kernel image %p..%p below 8 MiB: %s\n",
           read_cr0() & 0x80010001, (uint32_t)_kernel_start, (uint32_t)_kernel_end,
           (uint32_t)_kernel_end <= 0x00800000 ? "yes" : "no");
    check((uint32_t)_kernel_end <= 0x00800000, "kernel below 8 MiB");

    /* ---- ring 0 visits every address space once */
    for (int i = 0; i < NPROC; i++) {
        write_cr3((uint32_t)pd_p[i]);
        uint32_t m = *(volatile uint32_t *)UDATA, w = *(volatile uint32_t *)URO;
        uint8_t c0 = *(volatile uint8_t *)UVA;
        printf("cr3 = pd of p%d: 0x40010000 -> %p, 0x40020000 -> %p, code byte 0x%02x\n", i, m,
               w, c0);
        checkf(m == (0xda7a0000u | (uint32_t)i * 0x111u) && w == (0x0ad00000u | (uint32_t)i) &&
               c0 == (uint8_t)uimg[0], "p%d's frames behind the shared virtual addresses", i);
    }
    write_cr3((uint32_t)pd_k);

    /* ---- PIC + PIT */
    outb(PIC1_CMD, 0x11);
    outb(PIC2_CMD, 0x11);
    outb(PIC1_DATA, 0x20);
    outb(PIC2_DATA, 0x28);
    outb(PIC1_DATA, 0x04);
    outb(PIC2_DATA, 0x02);
    outb(PIC1_DATA, 0x01);
    outb(PIC2_DATA, 0x01);
    outb(PIC1_DATA, 0xfe);
    outb(PIC2_DATA, 0xff);
    outb(PIT_CMD, 0x34);
    outb(PIT_CH0, RELOAD & 0xff);
    outb(PIT_CH0, RELOAD >> 8);
    printf("PIC remapped to 0x20/0x28, IMR 0x%02x/0x%02x; PIT ch0 mode 2 at 1000 Hz\n",
           inb(PIC1_DATA), inb(PIC2_DATA));
    sti();
    while (ticks < 3)
        __asm__ volatile("pause" ::: "memory");
    cli();
    check(ticks >= 3, "at least 3 ticks while spinning with IF=1 at ring 0");

    /* ---- start the processes */
    nalive = NPROC;
    for (int i = 0; i < NPROC; i++)
        rq_push(i);
    int first = rq_pop();
    struct regs *frame = (struct regs *)(kstack_top(first) - sizeof(struct regs));
    ctx_copy(frame, &procs[first].ctx);
    write_cr3((uint32_t)pd_p[first]);
    tss.esp0 = kstack_top(first);
    cur = first;
    slice = QUANTUM;
    putln("starting processes");
    run_frame(frame);

    /* ---- every process has exited */
    check_eq("back at ring 0", read_cs(), SEL_KCODE);
    check((read_eflags() & EFL_IF) == 0, "IF=0 after the last exit");
    check_eq("kernel page directory loaded again", read_cr3(), (uint32_t)pd_k);
    for (int i = 0; i < NPROC; i++)
        printf("p%d: exit code 0x%08x, %u writes, %u yields, %u demand faults, "
               "%u read-only faults, %u protection faults\n",
               i, procs[i].exit_code, procs[i].nwrite, procs[i].nyield, procs[i].ndemand,
               procs[i].nro, procs[i].nprot);

    /* ring-0 models of the results */
    static uint8_t comp[8192];
    uint32_t count = 0, sum = 0, largest = 0;
    memset(comp, 0, sizeof comp);
    for (uint32_t i = 2; i < 8192; i++) {
        if (comp[i])
            continue;
        count++;
        sum += i;
        largest = i;
        for (uint32_t j = i * i; j < 8192; j += i)
            comp[j] = 1;
    }
    check(count == 1028 && largest == 8191 && sum == 3908641, "sieve model: 1028 primes below 8192");
    check_eq("p0 exit code = prime sum ^ stored word", procs[0].exit_code, sum ^ 0x0dd0c0deu);
    check(memcmp(f_big[0], comp, 8192) == 0, "p0's work pages hold its sieve");
    uint32_t h = 0;
    for (uint32_t pg = 0; pg < 6; pg++)
        for (uint32_t j = 0; j < 1024; j++)
            h = rol32(h, 5) ^ heap_word(pg, j);
    check_eq("p1 exit code = heap checksum model", procs[1].exit_code, h);
    static uint8_t lcg[8192];
    uint32_t x = 0x2545f491;
    for (int i = 0; i < 8192; i++) {
        x = x * 1664525u + 1013904223u;
        lcg[i] = (uint8_t)(x >> 24);
    }
    check(memcmp(f_big[2], lcg, 8192) == 0, "p2's work pages hold its LCG bytes");
    check_eq("p2 exit code = crc32 ^ fib(25) model", procs[2].exit_code,
             crc32(lcg, 8192) ^ fib(25));
    check_eq("crc32 check value", crc32((const uint8_t *)"123456789", 9), 0xcbf43926);

    /* page tables and frames after the run */
    check(procs[0].nro == 1 && procs[1].nro == 0 && procs[2].nro == 0,
          "one read-only fault, in p0");
    check_eq("p0 read-only PTE now writable, accessed, dirty", pt_u[0][PTI(URO)] & 0xfff,
             PG_P | PG_RW | PG_US | PG_A | PG_D);
    check_eq("p0 read-only page word 1", ((uint32_t *)f_ro[0])[1], 0x0dd0c0de);
    check(((uint32_t *)f_ro[1])[1] == 0xfeed0001 && ((uint32_t *)f_ro[2])[1] == 0xfeed0002 &&
          !(pt_u[1][PTI(URO)] & PG_RW) && !(pt_u[2][PTI(URO)] & PG_RW),
          "p1/p2 read-only pages untouched and still read-only");
    check(procs[0].ndemand == 0 && procs[1].ndemand == HEAP_PAGES && procs[2].ndemand == 0 &&
          npool == HEAP_PAGES, "8 demand faults, all in p1");
    int pool_ok = 1, ad_ok = 1;
    for (uint32_t pg = 0; pg < POOL; pg++) {
        uint32_t pte = pt_u[1][PTI(UHEAP) + pg];
        if (pool_owner[pg] != 1 || (pte & ~0xfffu) != (uint32_t)pool[pg])
            pool_ok = 0;
        uint32_t want = PG_P | PG_RW | PG_US | PG_A | (pg == 6 ? 0 : PG_D);
        if ((pte & 0xfff) != want)
            ad_ok = 0;
        for (uint32_t j = 0; j < 1024; j++) {
            uint32_t w = ((uint32_t *)pool[pg])[j];
            uint32_t e = pg < 6 ? heap_word(pg, j) : (pg == 7 && j == 0x200) ? 0x77777777 : 0;
            if (w != e)
                pool_ok = 0;
        }
    }
    check(pool_ok, "p1 heap page k in pool frame k, contents as written");
    check(ad_ok, "p1 heap PTEs: A set, D set except on the page only read");
    check(pt_u[0][PTI(UHEAP)] == 0 && pt_u[2][PTI(UHEAP)] == 0, "no heap in p0 and p2");
    check(procs[2].nprot == 1 && procs[0].nprot == 0 && procs[1].nprot == 0,
          "one ring-3 read of kernel memory, in p2");
    int scratch_ok = 1, bad = 0;
    for (int i = 0; i < NPROC; i++) {
        if (((uint32_t *)f_data[i])[2] != (0xa5000000u | (uint32_t)i * 0x01110111u))
            scratch_ok = 0;
        bad += procs[i].frame_bad + procs[i].cr3_bad + procs[i].bad_write;
    }
    check(scratch_ok, "each data frame holds its own process's scratch word");
    check(bad == 0, "every int 0x80 frame at the top of its kernel stack, CR3 its own");
    check(ncr3 >= 2, "at least 2 CR3 switches");
    check(nswitch >= 2, "at least 2 process switches");
    check(npreempt >= 1, "the timer preempted a ring-3 process at least once");
    int all_dead = 1;
    for (int i = 0; i < NPROC; i++)
        if (procs[i].alive)
            all_dead = 0;
    check(all_dead && nalive == 0 && rq_head == rq_tail, "all processes exited, run queue empty");

    for (int i = 0; i < NPROC; i++) {
        printf("-- p%d output (%u bytes)\n", i, procs[i].outlen);
        puts(procs[i].out);
    }

    uint32_t t0 = ticks;
    sti();
    while (ticks - t0 < 5)
        __asm__ volatile("pause" ::: "memory");
    cli();
    check(ticks - t0 >= 5, "5 more ticks spinning with IF=1 at ring 0");
    check(ticks_ring0 >= 1 && ticks_ring3 >= 2 && ticks_ring0 + ticks_ring3 == ticks,
          "tick accounting");
    pic_mask_all();
    done();
}

/*
 * vmstress -- a guest that works its page tables hard, in the places a
 * shadow-paging monitor likes to keep for itself.
 *
 * Address space A (pd_a), 32-bit paging with CR4.PSE, CR0.WP=1:
 *   0x00000000  4 KiB identity (page 0 absent), user-accessible
 *   0x00400000  4 MiB page, identity
 *   0x00800000  page table pt_w: the remap window 0x00800000, a code frame
 *               mapped read-only at 0x00801000 and writable at 0x00802000,
 *               kernel demand pages 0x00810000-0x00817fff (+0x0081f000),
 *               user demand pages 0x00900000-0x00907fff
 *   0xc0000000  4 MiB page -> 16 MiB (supervisor alias of 0xe0000000)
 *   0xe0000000  4 MiB page -> 16 MiB, user-accessible
 *   0xe0400000  16 4 KiB pages over scrambled frames
 *   0xe0800000  no page table: demand faults there create one
 *   0xe0c00000  swapped between a page table and a 4 MiB page (-> 24 MiB)
 *   0xff800000  page table pt_top: data pages 0xff800000.., code page
 *               0xff801000, demand page 0xffbfe000, data page 0xffbff000
 *   0xffc00000  PDE 1023 points at the directory itself: the page tables
 *               appear at 0xffc00000, the directory at 0xfffff000
 * Address space B (pd_b) is A with other frames at 0x00800000, 0xe0000000
 * (4 MiB page -> 20 MiB) and 0xff800000, and its own recursive entry.
 *
 * Probes: reads and writes through 4 MiB pages and their alias, A/D bits
 * of 4 MiB PDEs; patterns over scrambled 4 KiB pages, REP MOVSD across
 * them; the directory and page tables read (and written) through the
 * recursive entry, a split read from 0xffbffffe into the page-table window,
 * a page mapped, aliased and unmapped by PTE stores through 0xffffe000;
 * code run at 0xff801000; one virtual page remapped to 50 frames in turn
 * (invlpg, PTE stores through the recursive map, CR3 reloads); code
 * rewritten through a writable alias (with and without invlpg, through the
 * frame's identity address, through a 4 MiB alias) and a store to the
 * read-only code alias (#PF err 3); kernel demand faults (data, REP STOSD
 * across pages, a split read over two absent pages, a code fetch, a fault
 * that needs a new page table, one in the top 4 MiB, one in B); 200 CR3
 * loads alternating A and B; a PDE swapped between a page table and a
 * 4 MiB page; ring-3 demand faults and protection faults; the PIT ticking
 * while code runs at 0xff801000 and 0xe0001000 and CR3 alternates, each
 * tick handler checking that the recursive map shows its own directory.
 * Every value printed is architecturally defined; tick counts only appear
 * in "at least N" checks.
 */
#include "lib.h"

#define CR4_PSE 0x10

#define V(a)  (*(volatile uint32_t *)(uint32_t)(a))
#define B8(a) (*(volatile uint8_t *)(uint32_t)(a))
#define PTE_VA(v) (0xffc00000u + ((uint32_t)(v) >> 12) * 4)
#define PDE_VA(v) (0xfffff000u + ((uint32_t)(v) >> 22) * 4)

#define P16 0x01000000u
#define P20 0x01400000u
#define P24 0x01800000u

#define W_REMAP 0x00800000u
#define W_EXEC  0x00801000u
#define W_ALIAS 0x00802000u
#define KD_LO   0x00810000u
#define KD_HI   0x00818000u
#define KD_CODE 0x00817000u
#define KD_B    0x0081f000u
#define UD_LO   0x00900000u
#define UD_HI   0x00908000u
#define HI4M    0xe0000000u
#define HI4M_AL 0xc0000000u
#define HISCR   0xe0400000u
#define HIDEM   0xe0800000u
#define HISW    0xe0c00000u
#define TOP0    0xff800000u
#define TOPCODE 0xff801000u
#define TOPNEW  0xff805000u
#define TOPDEM  0xffbfe000u
#define TOPLAST 0xffbff000u

#define PAGE __attribute__((aligned(4096)))
static uint32_t pd_a[1024] PAGE, pd_b[1024] PAGE;
static uint32_t pt_id[1024] PAGE;
static uint32_t pt_w[1024] PAGE, pt_w_b[1024] PAGE;
static uint32_t pt_top[1024] PAGE, pt_top_b[1024] PAGE;
static uint32_t pt_e[1024] PAGE, pt_sw[1024] PAGE;
#define NRF 50
static uint32_t rf[NRF][1024] PAGE;
#define NEF 16
static uint32_t ef[NEF][1024] PAGE;
static uint32_t topf[5][1024] PAGE;    /* A 0xff800000, code, 0xffbff000, B 0xff800000, new */
static uint32_t wf_b[1024] PAGE;        /* B's 0x00800000 */
static uint32_t swf[1024] PAGE;         /* 0xe0c00000 as a 4 KiB page */
static uint8_t smcf[4096] PAGE;         /* code frame behind 0x00801000 / 0x00802000 */
#define NPOOL 24
static uint32_t pool[NPOOL][1024] PAGE;
static uint8_t ustack[4096] PAGE;
static uint8_t kstack[4096] PAGE;

extern uint32_t probe_read(uint32_t addr);
extern void probe_write(uint32_t addr, uint32_t v);
extern char probe_read_insn[], probe_read_end[], probe_write_insn[], probe_write_end[];

typedef uint32_t (*fn0_t)(void);
typedef uint32_t (*fn1_t)(uint32_t);

static uint32_t perm(uint32_t k)
{
    return (k * 7 + 3) % NEF;
}

/* ------------------------------------------------------------ #PF */
static uint32_t npool, ndemand, nprobe;
static uint32_t probe_cr2, probe_err, probe_ring;

static int in_kernel_demand(uint32_t a)
{
    return (a >= KD_LO && a < KD_HI) || (a & ~0xfffu) == KD_B ||
           (a >= HIDEM && a < HIDEM + 0x4000) || (a & ~0xfffu) == TOPDEM;
}

static uint32_t alloc_frame(void)
{
    if (npool >= NPOOL) {
        printf("FAIL: frame pool exhausted\n");
        check_failures++;
        done();
    }
    return (uint32_t)pool[npool++];
}

static void on_pf(struct regs *r)
{
    uint32_t cr2 = read_cr2();
    int ring = r->cs & 3;
    if (r->eip == (uint32_t)probe_read_insn || r->eip == (uint32_t)probe_write_insn) {
        probe_cr2 = cr2;
        probe_err = r->error;
        probe_ring = ring;
        nprobe++;
        r->eip = r->eip == (uint32_t)probe_read_insn ? (uint32_t)probe_read_end
                                                     : (uint32_t)probe_write_end;
        return;
    }
    int user_ok = ring == 3 && cr2 >= UD_LO && cr2 < UD_HI;
    int kern_ok = ring == 0 && in_kernel_demand(cr2);
    if (!(r->error & PG_P) && (user_ok || kern_ok)) {
        /* everything through the recursive entry of the current directory */
        int newpt = 0;
        if (!(V(PDE_VA(cr2)) & PG_P)) {
            uint32_t t = alloc_frame();
            memset((void *)t, 0, 4096);
            V(PDE_VA(cr2)) = t | PG_P | PG_RW | PG_US;
            invlpg(0xffc00000u + PDI(cr2) * 4096);
            newpt = 1;
        }
        uint32_t idx = npool, f = alloc_frame();
        uint32_t *w = (uint32_t *)f;
        if ((cr2 & ~0xfffu) == KD_CODE) {
            memset(w, 0xcc, 4096);
            ((uint8_t *)w)[0] = 0xb8;               /* mov $0x600d, %eax; ret */
            ((uint8_t *)w)[1] = 0x0d;
            ((uint8_t *)w)[2] = 0x60;
            ((uint8_t *)w)[3] = 0;
            ((uint8_t *)w)[4] = 0;
            ((uint8_t *)w)[5] = 0xc3;
        } else {
            for (uint32_t i = 0; i < 1024; i++)
                w[i] = 0xd0000000u | (idx << 16) | i;
        }
        V(PTE_VA(cr2)) = f | PG_P | PG_RW | (user_ok ? PG_US : 0);
        ndemand++;
        printf("  #PF demand: cr2 %p err %u%s -> pool frame %u%s\n", cr2, r->error,
               ring ? " (ring 3)" : "", idx, newpt ? " (new page table first)" : "");
        return;
    }
    printf("FAIL: unexpected #PF cr2 %p err 0x%x eip %p cs 0x%x\n", cr2, r->error, r->eip,
           r->cs);
    check_failures++;
    done();
}

static int expect_probe(uint32_t n0, uint32_t err, uint32_t cr2)
{
    return nprobe == n0 + 1 && probe_err == err && probe_cr2 == cr2;
}

/* ------------------------------------------------------------ ring 3 */
static struct {
    uint32_t r0, w1, hi, sup, sup_err, sup_cr2, supw_err, supw_cr2, sum;
} u;

static void user_main(void)
{
    u.r0 = V(UD_LO);
    V(UD_LO + 0x1004) = 0x75757575;
    u.w1 = V(UD_LO + 0x1004);
    for (uint32_t i = 0; i < 3 * 1024; i++)
        V(UD_LO + 0x2000 + i * 4) = i ^ 0x3c3c3c3c;
    uint32_t s = 0;
    for (uint32_t i = 0; i < 3 * 1024; i++)
        s += V(UD_LO + 0x2000 + i * 4);
    u.sum = s;
    u.hi = V(HI4M);
    u.sup = probe_read(TOP0);
    u.sup_err = probe_err;
    u.sup_cr2 = probe_cr2;
    probe_write(HI4M_AL + 0x40, 1);
    u.supw_err = probe_err;
    u.supw_cr2 = probe_cr2;
    __asm__ volatile("int $0x80" ::: "memory");
}

static void on_syscall(struct regs *r)
{
    (void)r;
    user_return(0);
}

/* ------------------------------------------------------------ timer */
static volatile uint32_t ticks, tick_bad, tick_b;

static void on_timer(struct regs *r)
{
    (void)r;
    ticks++;
    outb(0x20, 0x20);
    uint32_t cr3 = read_cr3();
    int b = cr3 == (uint32_t)pd_b;
    if ((V(0xfffffffc) & ~0xfffu) != cr3 || (V(PDE_VA(HI4M)) & ~0xfffu) != (b ? P20 : P16))
        tick_bad++;
    tick_b += b;
}

static void on_spurious(struct regs *r)
{
    (void)r;
}

/* ------------------------------------------------------------ code emission */
static void emit_imm(uint32_t va, uint32_t imm)   /* mov $imm, %eax; ret */
{
    B8(va) = 0xb8;
    V(va + 1) = imm;
    B8(va + 5) = 0xc3;
}

static uint32_t rep_movsd(uint32_t dst, uint32_t src, uint32_t n)
{
    uint32_t d0, d1, d2;
    __asm__ volatile("cld; rep movsl" : "=&D"(d0), "=&S"(d1), "=&c"(d2)
                     : "0"(dst), "1"(src), "2"(n) : "memory");
    return d0;
}

static void rep_stosd(uint32_t dst, uint32_t v, uint32_t n)
{
    uint32_t d0, d1;
    __asm__ volatile("cld; rep stosl" : "=&D"(d0), "=&c"(d1) : "0"(dst), "1"(n), "a"(v)
                     : "memory");
}

/* ------------------------------------------------------------ setup */
static void build_tables(void)
{
    map_identity(pt_id, 1, 1023, PG_P | PG_RW | PG_US);
    pd_a[0] = (uint32_t)pt_id | PG_P | PG_RW | PG_US;
    pd_a[1] = 0x00400000u | PG_PS | PG_P | PG_RW | PG_US;
    pd_a[2] = (uint32_t)pt_w | PG_P | PG_RW | PG_US;
    pd_a[PDI(HI4M_AL)] = P16 | PG_PS | PG_P | PG_RW;
    pd_a[PDI(HI4M)] = P16 | PG_PS | PG_P | PG_RW | PG_US;
    pd_a[PDI(HISCR)] = (uint32_t)pt_e | PG_P | PG_RW;
    pd_a[PDI(HISW)] = (uint32_t)pt_sw | PG_P | PG_RW;
    pd_a[PDI(TOP0)] = (uint32_t)pt_top | PG_P | PG_RW;
    pd_a[1023] = (uint32_t)pd_a | PG_P | PG_RW;

    pt_w[PTI(W_REMAP)] = (uint32_t)rf[0] | PG_P | PG_RW;
    pt_w[PTI(W_EXEC)] = (uint32_t)smcf | PG_P;           /* read-only */
    pt_w[PTI(W_ALIAS)] = (uint32_t)smcf | PG_P | PG_RW;
    for (uint32_t k = 0; k < NEF; k++)
        pt_e[k] = (uint32_t)ef[perm(k)] | PG_P | PG_RW;
    for (uint32_t i = 0; i < 1024; i++)
        swf[i] = 0x5f000000u | i;
    pt_sw[0] = (uint32_t)swf | PG_P | PG_RW;
    pt_top[PTI(TOP0)] = (uint32_t)topf[0] | PG_P | PG_RW;
    pt_top[PTI(TOPCODE)] = (uint32_t)topf[1] | PG_P | PG_RW;
    pt_top[PTI(TOPLAST)] = (uint32_t)topf[2] | PG_P | PG_RW;

    for (int i = 0; i < 1024; i++) {
        pd_b[i] = pd_a[i];
        pt_w_b[i] = pt_w[i];
        pt_top_b[i] = pt_top[i];
        wf_b[i] = 0xbbb00000u | (uint32_t)i;
        topf[3][i] = 0xbf800000u | (uint32_t)i;
    }
    pd_b[2] = (uint32_t)pt_w_b | PG_P | PG_RW | PG_US;
    pd_b[PDI(HI4M)] = P20 | PG_PS | PG_P | PG_RW | PG_US;
    pd_b[PDI(TOP0)] = (uint32_t)pt_top_b | PG_P | PG_RW;
    pd_b[1023] = (uint32_t)pd_b | PG_P | PG_RW;
    pt_w_b[PTI(W_REMAP)] = (uint32_t)wf_b | PG_P | PG_RW;
    pt_top_b[PTI(TOP0)] = (uint32_t)topf[3] | PG_P | PG_RW;
}

/* ------------------------------------------------------------ sections */
static void sec_4m(void)
{
    putln("-- 4 MiB pages (CR4.PSE)");
    pd_a[PDI(HI4M)] &= ~(PG_A | PG_D);
    pd_a[PDI(HI4M_AL)] &= ~(PG_A | PG_D);
    write_cr3(read_cr3());
    for (uint32_t k = 0; k < 64; k++)
        V(HI4M + k * 0x10000) = 0xe4e40000u ^ (k * 0x01010101u);
    uint32_t bad = 0;
    for (uint32_t k = 0; k < 64; k++)
        if (V(HI4M_AL + k * 0x10000) != (0xe4e40000u ^ (k * 0x01010101u)))
            bad++;
    printf("64 words stored at 0xe0000000 + k * 64 KiB, read through 0xc0000000: %u mismatches\n",
           bad);
    check(bad == 0, "two 4 MiB PDEs, one 4 MiB frame");
    printf("PDE[0x380] (written) flags 0x%03x, PDE[0x300] (read) flags 0x%03x\n",
           pd_a[PDI(HI4M)] & 0xfff, pd_a[PDI(HI4M_AL)] & 0xfff);
    check((pd_a[PDI(HI4M)] & 0xfff) == (PG_PS | PG_D | PG_A | PG_US | PG_RW | PG_P) &&
          (pd_a[PDI(HI4M_AL)] & 0xfff) == (PG_PS | PG_A | PG_RW | PG_P),
          "A/D in 4 MiB PDEs: store sets D, load only A");
    V(0x007ffff8) = 0x4e4e4e4e;
    check(V(0x007ffff8) == 0x4e4e4e4e && (pd_a[1] & (PG_PS | PG_D)) == (PG_PS | PG_D),
          "identity 4 MiB page at 4 MiB usable, D set");
}

static void sec_high(void)
{
    putln("-- high range 0xe0400000: 16 scrambled 4 KiB pages");
    for (uint32_t k = 0; k < NEF; k++)
        for (uint32_t i = 0; i < 1024; i++)
            V(HISCR + k * 4096 + i * 4) = (HISCR + k * 4096 + i * 4) ^ 0x5a5a5a5au;
    uint32_t bad = 0, sum = 0;
    for (uint32_t k = 0; k < NEF; k++)
        for (uint32_t i = 0; i < 1024; i++) {
            if (ef[perm(k)][i] != ((HISCR + k * 4096 + i * 4) ^ 0x5a5a5a5au))
                bad++;
            sum += V(HISCR + k * 4096 + i * 4) * (i + 1);
        }
    printf("page k -> frame (7k + 3) mod 16: %u mismatches, weighted sum %p\n", bad, sum);
    check(bad == 0, "each 4 KiB page landed in its frame");
    for (uint32_t i = 0; i < 3072; i++)
        V(HI4M + 0x100000 + i * 4) = i * 0x9e3779b9u;
    uint32_t end = rep_movsd(HISCR + 0x1800, HI4M + 0x100000, 3072);
    check(end == HISCR + 0x1800 + 12288 &&
          memcmp((void *)(HISCR + 0x1800), (void *)(HI4M + 0x100000), 12288) == 0 &&
          ef[perm(4)][0x1ff] == ((0x4000 - 0x1800) / 4 + 0x1ff) * 0x9e3779b9u,
          "rep movsd 12 KiB from a 4 MiB page over 4 scrambled 4 KiB pages");
}

static void sec_top(void)
{
    putln("-- top 4 MiB: recursive directory, 0xff800000.., 0xffbff000");
    uint32_t self = V(0xfffffffc);
    printf("0xfffffffc (PDE 1023 seen through itself): frame %s pd_a, P/RW 0x%x\n",
           (self & ~0xfffu) == (uint32_t)pd_a ? "==" : "!=", self & 3);
    check((self & ~0xfffu) == (uint32_t)pd_a && (self & 3) == 3, "recursive PDE reads itself");
    printf("PDE[0x380] via 0xfffffe00 = %p, PDE[0x381] via 0xfffffe04 = frame %s pt_e\n",
           V(PDE_VA(HI4M)), (V(PDE_VA(HISCR)) & ~0xfffu) == (uint32_t)pt_e ? "==" : "!=");
    check(V(PDE_VA(HI4M)) == (P16 | 0xe7) && memcmp((void *)0xfffff000u, pd_a, 4096) == 0,
          "directory through 0xfffff000 equals pd_a");
    int ok = 1;
    for (uint32_t k = 0; k < NEF; k++)
        if (V(PTE_VA(HISCR + k * 4096)) != pt_e[k])
            ok = 0;
    check(ok && memcmp((void *)0xffffe000u, pt_top, 4096) == 0 &&
          memcmp((void *)0xffc00000u, pt_id, 4096) == 0,
          "page tables through 0xffc00000 (pt_id), 0xffc00000+0x381000 (pt_e), 0xffffe000 (pt_top)");

    uint32_t bad = 0;
    for (uint32_t i = 0; i < 1024; i++)
        V(TOP0 + i * 4) = 0xaf800000u | i;
    for (uint32_t i = 0; i < 1024; i++) {
        if (topf[0][i] != (0xaf800000u | i))
            bad++;
        topf[2][i] = 0xafbff000u ^ (i * 0x10001u);
    }
    for (uint32_t i = 0; i < 1024; i++)
        if (V(TOPLAST + i * 4) != (0xafbff000u ^ (i * 0x10001u)))
            bad++;
    printf("0xff800000 page stored / frame read, 0xffbff000 frame stored / page read: %u "
           "mismatches\n", bad);
    check(bad == 0, "data pages at 0xff800000 and 0xffbff000");
    topf[2][1023] = 0xbeef1234u;
    uint32_t split;
    __asm__ volatile("movl 0xffbffffe, %0" : "=r"(split) :: "memory");
    printf("split read at 0xffbffffe (data page | PTE of page 0 at 0xffc00000) = %p\n", split);
    check_eq("split read into the page-table window", split, 0x0000beef);

    V(PTE_VA(TOPNEW)) = (uint32_t)topf[4] | PG_P | PG_RW;   /* 0xffffe014 */
    for (uint32_t i = 0; i < 1024; i++)
        V(TOPNEW + i * 4) = ~i;
    ok = 1;
    for (uint32_t i = 0; i < 1024; i++)
        if (topf[4][i] != ~i)
            ok = 0;
    printf("PTE for 0xff805000 stored through %p: pt_top[5] frame %s, flags 0x%03x\n",
           PTE_VA(TOPNEW), (pt_top[5] & ~0xfffu) == (uint32_t)topf[4] ? "ok" : "wrong",
           pt_top[5] & 0xfff);
    check(ok && pt_top[5] == ((uint32_t)topf[4] | PG_P | PG_RW | PG_A | PG_D),
          "page mapped by a PTE store through the recursive map");
    V(PTE_VA(TOPNEW)) = (uint32_t)topf[2] | PG_P | PG_RW;
    invlpg(TOPNEW);
    uint32_t al = V(TOPNEW + 0xffc);
    V(PTE_VA(TOPNEW)) = 0;
    invlpg(TOPNEW);
    uint32_t n0 = nprobe;
    uint32_t gone = probe_read(TOPNEW + 0x10);
    printf("remapped to the 0xffbff000 frame: word 0xffc = %p; unmapped: read -> %p, #PF err %u "
           "cr2 %p\n", al, gone, probe_err, probe_cr2);
    check(al == 0xbeef1234u && gone == 0xdeadf00d && expect_probe(n0, 0, TOPNEW + 0x10),
          "alias, then not present, after PTE stores + invlpg");

    emit_imm(TOPCODE, 0x0ff80100);
    uint32_t c1 = ((fn0_t)TOPCODE)();
    emit_imm(TOPCODE, 0x0ff80200);
    uint32_t c2 = ((fn0_t)TOPCODE)();
    printf("code at 0xff801000: %p, rewritten in place: %p\n", c1, c2);
    check(c1 == 0x0ff80100 && c2 == 0x0ff80200, "code runs at 0xff801000, rewritten in place");
}

static void sec_remap(void)
{
    putln("-- PTE remap loop: 0x00800000 over 50 frames");
    for (uint32_t k = 0; k < NRF; k++)
        for (uint32_t i = 0; i < 1024; i++)
            rf[k][i] = 0x50000000u | (k << 16) | i;
    uint32_t bad = 0, sum = 0;
    for (uint32_t k = 0; k < NRF; k++) {
        pt_w[PTI(W_REMAP)] = (uint32_t)rf[k] | PG_P | PG_RW;
        invlpg(W_REMAP);
        uint32_t a = V(W_REMAP), b = V(W_REMAP + 0xffc);
        if (a != (0x50000000u | (k << 16)) || b != (0x50000000u | (k << 16) | 1023))
            bad++;
        sum += a ^ b;
        V(W_REMAP + 4) = 0xab000000u | k;
    }
    printf("pass 1, PTE store + invlpg: %u mismatches, xor-sum %p\n", bad, sum);
    check(bad == 0, "50 remaps with invlpg");
    bad = 0;
    for (int k = NRF - 1; k >= 0; k--) {
        V(PTE_VA(W_REMAP)) = (uint32_t)rf[k] | PG_P | PG_RW;   /* 0xffc02000 */
        invlpg(W_REMAP);
        if (V(W_REMAP + 4) != (0xab000000u | (uint32_t)k))
            bad++;
    }
    printf("pass 2, reverse order, PTE stored through 0xffc02000 + invlpg: %u mismatches\n", bad);
    check(bad == 0, "50 remaps through the recursive map, earlier stores found");
    bad = 0;
    for (uint32_t k = 0; k < 10; k++) {
        pt_w[PTI(W_REMAP)] = (uint32_t)rf[k * 5] | PG_P | PG_RW;
        write_cr3(read_cr3());
        if (V(W_REMAP + 8) != (0x50000000u | ((k * 5) << 16) | 2))
            bad++;
    }
    printf("pass 3, PTE store + CR3 reload, 10 frames: %u mismatches\n", bad);
    check(bad == 0, "remaps with CR3 reload");
    bad = 0;
    for (uint32_t k = 0; k < NRF; k++)
        if (rf[k][1] != (0xab000000u | k))
            bad++;
    check(bad == 0, "every frame got its pass-1 store");
    pt_w[PTI(W_REMAP)] = (uint32_t)rf[0] | PG_P | PG_RW;
    invlpg(W_REMAP);
}

static void sec_smc(void)
{
    putln("-- code rewritten through an alias");
    emit_imm(W_ALIAS, 0x1000);
    fn0_t f = (fn0_t)W_EXEC;
    uint32_t s = 0;
    for (int i = 0; i < 100; i++)
        s += f();
    printf("stored via 0x00802000, called 100 times via 0x00801000: sum %p\n", s);
    check_eq("hot code through the read-only alias", s, 100 * 0x1000);
    for (uint32_t i = 1; i <= 5; i++) {
        uint32_t imm = 0x1000 + i * 0x1111;
        V(W_ALIAS + 1) = imm;
        if (i < 5)
            invlpg(W_EXEC);
        uint32_t r = f();
        printf("imm %p stored at 0x00802001%s: call 0x00801000 -> %p\n", imm,
               i < 5 ? ", invlpg 0x00801000" : " (no invlpg)", r);
        checkf(r == imm, "new immediate %u seen", i);
    }
    /* mov 4(%esp), %eax; imul $k, %eax, %eax; add $c, %eax; ret */
    static const uint8_t seq[] = { 0x8b, 0x44, 0x24, 0x04, 0x69, 0xc0, 0, 0, 0, 0,
                                   0x05, 0, 0, 0, 0, 0xc3 };
    for (uint32_t i = 0; i < sizeof seq; i++)
        B8(W_ALIAS + i) = seq[i];
    V(W_ALIAS + 6) = 13;
    V(W_ALIAS + 11) = 0x100;
    fn1_t g = (fn1_t)W_EXEC;
    uint32_t r1 = g(7);
    V((uint32_t)smcf + 11) = 0x200;        /* through the frame's identity address */
    uint32_t r2 = g(7);
    printf("new sequence: g(7) = %u; add imm changed via the identity address %p: g(7) = %u\n",
           r1, (uint32_t)smcf, r2);
    check(r1 == 7 * 13 + 0x100 && r2 == 7 * 13 + 0x200, "whole sequence, third alias");
    uint32_t n0 = nprobe;
    probe_write(W_EXEC + 6, 99);
    printf("store to the read-only alias 0x00801006: #PF err %u cr2 %p\n", probe_err, probe_cr2);
    check(expect_probe(n0, 3, W_EXEC + 6) && g(7) == 7 * 13 + 0x200,
          "read-only code alias: #PF err 3, code unchanged");
    uint32_t bad = 0;
    for (uint32_t j = 0; j < 16; j++) {
        V(W_ALIAS + 6) = j + 1;
        if (g(3) != 3 * (j + 1) + 0x200)
            bad++;
    }
    printf("16 more multiplier stores via 0x00802006, no invlpg, each followed by a call: %u "
           "wrong\n", bad);
    check(bad == 0, "every store seen by the next call");

    for (uint32_t i = 0; i < 3; i++) {
        emit_imm(HI4M_AL + 0x1000, 0xe0010000u + i);
        uint32_t r = ((fn0_t)(HI4M + 0x1000))();
        printf("stored via 0xc0001000 (4 MiB alias), call 0xe0001000 -> %p\n", r);
        checkf(r == 0xe0010000u + i, "4 MiB alias code %u", i);
    }
}

static void sec_kdemand(void)
{
    putln("-- demand paging at ring 0");
    uint32_t d0 = V(KD_LO + 4);
    printf("read 0x00810004 -> %p\n", d0);
    V(KD_LO + 0x1008) = 0xdeadbeef;
    printf("store 0x00811008, read back %p\n", V(KD_LO + 0x1008));
    rep_stosd(KD_LO + 0x2800, 0x57057057, 0x800);
    uint32_t bad = 0;
    for (uint32_t i = 0; i < 0x800; i++)
        if (V(KD_LO + 0x2800 + i * 4) != 0x57057057)
            bad++;
    check(bad == 0 && V(KD_LO + 0x27fc) == (V(KD_LO + 0x2000) | 0x1ff) &&
          (V(KD_LO + 0x4800) & 0xf000ffff) == 0xd0000200,
          "rep stosd over three absent pages");
    uint32_t split = V(KD_LO + 0x5ffe);
    printf("split read 0x00815ffe over two absent pages -> %p\n", split);
    uint32_t rc = ((fn0_t)KD_CODE)();
    printf("call 0x00817000 -> %p\n", rc);
    uint32_t h0 = V(HIDEM + 0x10);
    V(HIDEM + 0x1020) = 0x12345678;
    printf("read 0xe0800010 -> %p, PDE[0x382] present %u, store 0xe0801020 read back %p\n", h0,
           pd_a[PDI(HIDEM)] & PG_P, V(HIDEM + 0x1020));
    V(TOPDEM + 0x100) = 0xcafe0100;
    printf("store 0xffbfe100, read back %p, pt_top[0x3fe] present %u\n", V(TOPDEM + 0x100),
           pt_top[0x3fe] & PG_P);
    check((d0 & 0xf000ffff) == 0xd0000001 && V(KD_LO + 0x1008) == 0xdeadbeef &&
          rc == 0x600d && (h0 & 0xf000ffff) == 0xd0000004 && V(HIDEM + 0x1020) == 0x12345678 &&
          (pd_a[PDI(HIDEM)] & PG_P) && V(TOPDEM + 0x100) == 0xcafe0100,
          "demand-mapped data, code, new page table, top 4 MiB");
    printf("%u demand faults so far\n", ndemand);
}

static void sec_cr3(void)
{
    putln("-- CR3 switches between pd_a and pd_b");
    write_cr3((uint32_t)pd_b);
    for (uint32_t k = 0; k < 64; k++)
        V(HI4M + 0x200000 + k * 4) = 0xb0000000u | k;
    write_cr3((uint32_t)pd_a);
    for (uint32_t k = 0; k < 64; k++)
        V(HI4M + 0x200000 + k * 4) = 0xa0000000u | k;
    uint32_t bad = 0;
    for (uint32_t i = 0; i < 200; i++) {
        int b = i & 1;
        write_cr3(b ? (uint32_t)pd_b : (uint32_t)pd_a);
        uint32_t k = i % 64;
        if (V(HI4M + 0x200000 + k * 4) != ((b ? 0xb0000000u : 0xa0000000u) | k))
            bad++;
        if (V(TOP0) != (b ? topf[3][0] : topf[0][0]))
            bad++;
        if ((V(PDE_VA(HI4M)) & ~0xfffu) != (b ? P20 : P16))
            bad++;
        if ((V(0xfffffffc) & ~0xfffu) != (b ? (uint32_t)pd_b : (uint32_t)pd_a))
            bad++;
        if (V(W_REMAP) != (b ? wf_b[0] : rf[0][0]))
            bad++;
        V(HI4M + 0x200100 + k * 4) = i;
    }
    write_cr3((uint32_t)pd_a);
    printf("200 CR3 loads alternating pd_a / pd_b, 5 reads each: %u mismatches\n", bad);
    check(bad == 0, "each directory shows its own frames, PDEs and recursive entry");
    uint32_t bad_a = 0, bad_b = 0;
    for (uint32_t k = 0; k < 64; k++) {
        uint32_t la = 0, lb = 0;
        for (uint32_t i = k; i < 200; i += 64)
            *((i & 1) ? &lb : &la) = i;
        if (V(HI4M_AL + 0x200100 + k * 4) != la)
            bad_a++;
        write_cr3((uint32_t)pd_b);
        if (V(HI4M + 0x200100 + k * 4) != lb)
            bad_b++;
        write_cr3((uint32_t)pd_a);
    }
    check(bad_a == 0 && bad_b == 0, "stores under each CR3 landed in that space's 4 MiB frame");

    write_cr3((uint32_t)pd_b);
    uint32_t vb = V(KD_B + 0x10);
    write_cr3((uint32_t)pd_a);
    uint32_t va = V(KD_B + 0x10);
    printf("0x0081f010 demand-faulted in pd_b -> %p, then in pd_a -> %p\n", vb, va);
    check((pt_w_b[PTI(KD_B)] & PG_P) && (pt_w[PTI(KD_B)] & PG_P) &&
          (pt_w_b[PTI(KD_B)] & ~0xfffu) != (pt_w[PTI(KD_B)] & ~0xfffu) && va != vb,
          "one virtual page, a fault in each space, two frames (recursive map of each)");
}

static void sec_swap(void)
{
    putln("-- PDE 0x383 swapped: page table <-> 4 MiB page");
    uint32_t a0 = V(HISW + 8);
    V(PDE_VA(HISW)) = P24 | PG_PS | PG_P | PG_RW;
    invlpg(HISW);
    V(HISW + 8) = 0x24242424;
    V(HISW + 0x3ff000) = 0x24ffffff;
    uint32_t a1 = V(HISW + 8);
    V(PDE_VA(HISW)) = (uint32_t)pt_sw | PG_P | PG_RW;
    invlpg(HISW);
    uint32_t a2 = V(HISW + 8);
    V(PDE_VA(HISW)) = P24 | PG_PS | PG_P | PG_RW;
    write_cr3(read_cr3());
    uint32_t a3 = V(HISW + 8), a4 = V(HISW + 0x3ff000);
    V(PDE_VA(HISW)) = (uint32_t)pt_sw | PG_P | PG_RW;
    write_cr3(read_cr3());
    uint32_t a5 = V(HISW + 8);
    printf("0xe0c00008: 4 KiB %p, 4 MiB %p, 4 KiB (invlpg) %p, 4 MiB (cr3) %p [+0x3ff000 %p], "
           "4 KiB %p\n", a0, a1, a2, a3, a4, a5);
    check(a0 == 0x5f000002 && a1 == 0x24242424 && a2 == 0x5f000002 && a3 == 0x24242424 &&
          a4 == 0x24ffffff && a5 == 0x5f000002, "PDE swaps take effect after invlpg / CR3 load");
}

static void sec_user(void)
{
    putln("-- demand paging and protection at ring 3");
    uint32_t n0 = nprobe;
    run_user((uint32_t)user_main, (uint32_t)ustack + sizeof ustack);
    printf("ring 3: read 0x00900000 -> %p, 0x00901004 -> %p, sum over 3 pages %p, 0xe0000000 -> "
           "%p\n", u.r0, u.w1, u.sum, u.hi);
    printf("ring 3: read 0xff800000 -> %p (#PF err %u cr2 %p), store 0xc0000040 #PF err %u cr2 "
           "%p\n", u.sup, u.sup_err, u.sup_cr2, u.supw_err, u.supw_cr2);
    uint32_t s = 0;
    for (uint32_t i = 0; i < 3 * 1024; i++)
        s += i ^ 0x3c3c3c3c;
    check((u.r0 & 0xf000ffff) == 0xd0000000 && u.w1 == 0x75757575 && u.sum == s &&
          u.hi == 0xe4e40000, "user demand pages and the user 4 MiB page");
    check(u.sup == 0xdeadf00d && u.sup_err == 5 && u.sup_cr2 == TOP0 && u.supw_err == 7 &&
          u.supw_cr2 == HI4M_AL + 0x40 && nprobe == n0 + 2,
          "supervisor 4 KiB page and 4 MiB page refused at ring 3");
    int ok = 1;
    for (uint32_t p = 0; p < 5; p++) {
        uint32_t pte = pt_w[PTI(UD_LO) + p];
        uint32_t want = PG_P | PG_RW | PG_US | PG_A | (p == 0 ? 0 : PG_D);
        if ((pte & 0xfff) != want)
            ok = 0;
    }
    check(ok && !(pt_w[PTI(UD_LO) + 5] & PG_P), "user PTEs: U/S set, D only where stored");
}

static void sec_timer(void)
{
    putln("-- PIT at 1 kHz while code runs at 0xff801000 / 0xe0001000 and CR3 alternates");
    set_handler(0x20, on_timer);
    set_handler(0x27, on_spurious);
    set_handler(0x2f, on_spurious);
    outb(0x20, 0x11);
    outb(0xa0, 0x11);
    outb(0x21, 0x20);
    outb(0xa1, 0x28);
    outb(0x21, 0x04);
    outb(0xa1, 0x02);
    outb(0x21, 0x01);
    outb(0xa1, 0x01);
    outb(0x21, 0xfe);
    outb(0xa1, 0xff);
    outb(0x43, 0x34);
    outb(0x40, 1193 & 0xff);
    outb(0x40, 1193 >> 8);
    emit_imm(TOPCODE, 0x70c0de);
    uint32_t n = 0, s1 = 0, s2 = 0;
    sti();
    while (ticks < 20) {
        int b = n & 1;
        write_cr3(b ? (uint32_t)pd_b : (uint32_t)pd_a);
        s1 += ((fn0_t)TOPCODE)();
        if (!b)
            s2 += ((fn0_t)(HI4M + 0x1000))();
        n++;
    }
    cli();
    write_cr3((uint32_t)pd_a);
    pic_mask_all();
    check(ticks >= 20, "at least 20 ticks");
    check(s1 == n * 0x70c0de && s2 == ((n + 1) / 2) * 0xe0010002u,
          "code in the top 4 MiB (both spaces) and at 0xe0001000 (pd_a) kept running");
    check(tick_bad == 0, "every tick handler saw its own directory through the recursive map");
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    (void)mbi;
    putln("vmstress: demand faults, CR3 switches, code via aliases, PTE remaps, 4 MiB pages, "
          "top 4 MiB");
    idt_init();
    tss_init((uint32_t)kstack + sizeof kstack);
    set_handler(14, on_pf);
    idt_set_gate(0x80, isr_stub_table[0x80], SEL_KCODE, 0xe, 3);
    set_handler(0x80, on_syscall);

    build_tables();
    write_cr3((uint32_t)pd_a);
    write_cr4(read_cr4() | CR4_PSE);
    write_cr0(read_cr0() | CR0_PG | CR0_WP);
    printf("paging on: cr0 & 0x80010001 = %p, cr4 & 0x10 = 0x%x, kernel ends below 4 MiB: %s\n",
           read_cr0() & 0x80010001, read_cr4() & 0x10,
           (uint32_t)_kernel_end <= 0x00400000 ? "yes" : "no");
    check((uint32_t)_kernel_end <= 0x00400000, "kernel image and tables below 4 MiB");

    sec_4m();
    sec_high();
    sec_top();
    sec_remap();
    sec_smc();
    sec_kdemand();
    sec_cr3();
    sec_swap();
    sec_user();
    sec_timer();

    printf("%u demand faults, %u pool frames, %u probe faults\n", ndemand, npool, nprobe);
    check(ndemand == 18 && npool == 19, "18 demand faults, one of them with a new page table");
    done();
}

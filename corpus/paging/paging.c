/*
 * paging -- 32-bit two-level paging as a guest OS uses it; every result
 * printed is architecturally guaranteed (SDM vol 3 ch. 4 "Paging").
 *
 * Probes:
 *  - 4 KiB pages (page directory -> page table) and 4 MiB pages
 *    (CR4.PSE, PDE.PS; 4.3), mixed in one address space, plus a recursive
 *    PDE (the page directory mapped as a page table at 0xffc00000) through
 *    which the guest edits its own PTEs.
 *  - Aliases: one frame at two virtual addresses, a 4 MiB page seen at two
 *    addresses; a store through one is visible through the other.
 *  - CR3 switch between two address spaces mapping one virtual address to
 *    different frames; MOV to CR3 flushes non-global TLB entries (4.10.4.1).
 *  - INVLPG after a PTE change, also when the PTE was changed through the
 *    recursive mapping; INVLPG and toggling CR4.PGE also flush global
 *    entries (4.10.4.1).  Stale entries are never printed: whether one is
 *    used is not architecturally defined.
 *  - Accessed / dirty bits in PTEs and in a 4 MiB PDE, A in a PDE that
 *    references a page table (4.8): read sets A, write sets D, also when
 *    the TLB already holds a clean entry.
 *  - #PF error codes and CR2 (4.7): demand paging of data pages, of a page
 *    written by REP MOVSB half-way through the copy, of a split 4-byte read
 *    whose second page is absent, of a code page (CALL into an absent page:
 *    the fault is on the fetch, err 0 since I/D is reported only with
 *    PAE+NXE or SMEP); a read-only PTE and a read-only PDE written at ring 0
 *    with CR0.WP=1 (err 3) and CR0.WP=0 (succeeds, 4.6.1); a reserved bit
 *    (bit 21 of a 4 MiB PDE: err RSVD; P not compared, see paging.S); a not-present PTE whose other
 *    bits are all ones (err 0); ring-3 accesses to supervisor PTEs / PDEs,
 *    read-only PTE / PDE, absent pages (err 4/5/6/7).
 * A shadow-paging monitor must reproduce all of this from the guest's own
 * tables: combined PDE/PTE rights, A/D write-back, TLB flush semantics.
 */
#include "lib.h"

#define CR4_PSE 0x10
#define CR4_PGE 0x80

#define V(a) (*(volatile uint32_t *)(a))
#define PTE_VIA_SELF(v) (0xffc00000u + ((uint32_t)(v) >> 12) * 4)
#define PDE_VIA_SELF(v) (0xfffff000u + ((uint32_t)(v) >> 22) * 4)

struct probe {
    uint32_t start, end;
    const char *name;
    uint32_t error, cr2, mask;
};
extern struct probe probe_table[];
extern void k_wp_probes(void), k_misc_probes(void);
extern char user_probes[];
extern uint32_t u_ro_value;

#define PAGE __attribute__((aligned(4096)))
static volatile uint32_t pd_a[1024] PAGE, pd_b[1024] PAGE;
static volatile uint32_t pt_id[1024] PAGE;      /* 0x00000000: identity, 4 KiB pages */
static volatile uint32_t pt_t[1024] PAGE;       /* 0x00800000 in pd_a */
static volatile uint32_t pt_t_b[1024] PAGE;     /* 0x00800000 in pd_b */
static volatile uint32_t pt_s[1024] PAGE;       /* 0x00c00000: PDE supervisor, PTE user */
static volatile uint32_t pt_r[1024] PAGE;       /* 0x01400000: PDE read-only, PTE writable */
#define NF 12
static uint8_t fr[NF][4096] PAGE;      /* test frames */
#define NDEMAND 8
static uint8_t dfr[NDEMAND][4096] PAGE;        /* demand-paging pool */
static uint8_t ustack[4096] PAGE;
static uint8_t kstack[4096] PAGE;

#define F(n) ((uint32_t)fr[n])

#define DEMAND_LO 0x00810000u
#define DEMAND_HI 0x00818000u
#define CODE_PAGE 0x00816000u
static int ndemand, cur;

static void on_pf(struct regs *r)
{
    uint32_t cr2 = read_cr2();
    if (cr2 >= DEMAND_LO && cr2 < DEMAND_HI && !(r->error & PG_P) && !(r->cs & 3) &&
        !(pt_t[PTI(cr2)] & PG_P) && ndemand < NDEMAND) {
        uint32_t page = (cr2 - DEMAND_LO) >> 12;
        uint32_t frame;
        if ((cr2 & ~0xfffu) == CODE_PAGE) {
            frame = F(9);               /* prepared by kmain: a tiny function */
            printf("  #PF demand: cr2 %p err %u eip%scr2 -> code frame\n", cr2, r->error,
                   r->eip == cr2 ? "=" : "!=");
        } else {
            uint32_t *w = (uint32_t *)dfr[ndemand];
            for (int i = 0; i < 1024; i++)
                w[i] = 0xd0000000u | (page << 16) | (uint32_t)i;
            frame = (uint32_t)w;
            printf("  #PF demand: cr2 %p err %u -> pool frame %d\n", cr2, r->error, ndemand);
        }
        pt_t[PTI(cr2)] = frame | PG_P | PG_RW;
        ndemand++;
        return;                         /* restart the faulting instruction */
    }
    struct probe *p = &probe_table[cur];
    if (!p->start || r->eip != p->start) {
        printf("FAIL: unexpected #PF cr2 %p err 0x%x eip %p\n", cr2, r->error, r->eip);
        check_failures++;
        done();
    }
    uint32_t err = r->error & p->mask;
    int ok = err == p->error && cr2 == p->cr2;
    printf("%s %-24s #PF err %u%s cr2 %p%s\n", ok ? "ok:  " : "FAIL:", p->name, err,
           p->mask & 1 ? "" : " (P not compared)", cr2, (r->cs & 3) ? " (ring 3)" : "");
    if (!ok) {
        printf("       expected err %u cr2 %p\n", p->error, p->cr2);
        check_failures++;
    }
    r->eip = p->end;
    cur++;
}

static void on_syscall(struct regs *r)
{
    (void)r;
    user_return(0);
}

static void flags3(const char *what, uint32_t e)
{
    printf("%s 0x%03x", what, e & 0xfff);
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    (void)mbi;
    putln("paging: 4 KiB / 4 MiB pages, TLB, A/D bits, #PF");
    idt_init();
    tss_init((uint32_t)kstack + sizeof kstack);
    set_handler(14, on_pf);
    idt_set_gate(0x80, isr_stub_table[0x80], SEL_KCODE, 0xe, 3);
    set_handler(0x80, on_syscall);

    for (int n = 0; n < NF; n++)
        for (int i = 0; i < 1024; i++)
            ((uint32_t *)fr[n])[i] = 0xf0000000u | (n << 16) | i;

    /* 0-4 MiB identity, user-accessible so ring 3 can run the kernel image;
     * page 0 absent */
    map_identity(pt_id, 1, 1023, PG_P | PG_RW | PG_US);
    pd_a[0] = (uint32_t)pt_id | PG_P | PG_RW | PG_US;
    pd_a[1] = 0x01000000 | PG_PS | PG_P | PG_RW;        /* 4 MiB: V 4M -> P 16M */
    pd_a[2] = (uint32_t)pt_t | PG_P | PG_RW | PG_US;
    pd_a[3] = (uint32_t)pt_s | PG_P | PG_RW;            /* supervisor PDE */
    pd_a[4] = 0x01000000 | PG_PS | PG_P | PG_RW;        /* 4 MiB identity at 16M */
    pd_a[5] = (uint32_t)pt_r | PG_P | PG_US;            /* read-only PDE */
    pd_a[6] = 0x01800000 | (1u << 21) | PG_PS | PG_P;   /* reserved bit 21 */
    pd_a[1023] = (uint32_t)pd_a | PG_P | PG_RW;         /* recursive */
    pt_t[PTI(0x00800000)] = F(0) | PG_P | PG_RW;
    pt_t[PTI(0x00801000)] = F(0) | PG_P | PG_RW;        /* alias of F0 */
    pt_t[PTI(0x00802000)] = F(2) | PG_P | PG_RW;
    pt_t[PTI(0x00803000)] = F(4) | PG_P | PG_RW;
    pt_t[PTI(0x00804000)] = F(5) | PG_P;                /* read-only, supervisor */
    pt_t[PTI(0x00805000)] = F(6) | PG_P | PG_RW;        /* supervisor */
    pt_t[PTI(0x00806000)] = F(7) | PG_P | PG_US;        /* user read-only */
    pt_t[PTI(0x00807000)] = F(8) | PG_P | PG_RW | PG_US;/* user read/write */
    pt_t[PTI(0x00809000)] = 0xfffffffe;                 /* not present, junk */
    pt_s[0] = F(10) | PG_P | PG_RW | PG_US;
    pt_r[0] = F(11) | PG_P | PG_RW | PG_US;
    for (int i = 0; i < 1024; i++) {
        pd_b[i] = pd_a[i];
        pt_t_b[i] = pt_t[i];
    }
    pd_b[2] = (uint32_t)pt_t_b | PG_P | PG_RW | PG_US;
    pd_b[1023] = (uint32_t)pd_b | PG_P | PG_RW;
    pt_t_b[PTI(0x00800000)] = F(1) | PG_P | PG_RW;

    write_cr3((uint32_t)pd_a);
    write_cr4(read_cr4() | CR4_PSE);
    write_cr0(read_cr0() | CR0_PG | CR0_WP);
    printf("paging on: cr0 & 0x80010001 = %p, cr3 = pd_a: %s\n",
           read_cr0() & 0x80010001, read_cr3() == (uint32_t)pd_a ? "yes" : "no");

    putln("-- aliases");
    V(0x00800000) = 0x11111111;
    V(0x00801004) = 0x22222222;
    printf("write 0x00800000 = 0x11111111, read 0x00801000 -> %p\n", V(0x00801000));
    printf("write 0x00801004 = 0x22222222, read 0x00800004 -> %p\n", V(0x00800004));
    check(V(0x00801000) == 0x11111111 && V(0x00800004) == 0x22222222 &&
          V(F(0)) == 0x11111111 && V(F(0) + 4) == 0x22222222,
          "two PTEs, one frame (also seen at its identity address)");
    pd_a[1] &= ~(PG_A | PG_D);
    invlpg(0x00400000);
    flags3("4 MiB PDE[1] flags", pd_a[1]);
    (void)V(0x00401234);
    flags3(", after read", pd_a[1]);
    V(0x00401234) = 0xcafe4444;
    flags3(", after write", pd_a[1]);
    putc('\n');
    printf("write 0x00401234 (4 MiB page) = 0xcafe4444, read 0x01001234 -> %p\n", V(0x01001234));
    check_eq("4 MiB page alias", V(0x01001234), 0xcafe4444);
    check_eq("4 MiB PDE A/D", pd_a[1] & 0xfff, PG_PS | PG_D | PG_A | PG_RW | PG_P);

    putln("-- CR3 switch");
    uint32_t a1 = V(0x00800000);
    write_cr3((uint32_t)pd_b);
    uint32_t b1 = V(0x00800000);
    V(0x00800008) = 0xbbbbbbbb;
    write_cr3((uint32_t)pd_a);
    uint32_t a2 = V(0x00800000), a3 = V(0x00800008);
    printf("0x00800000 in pd_a %p, in pd_b %p, in pd_a again %p\n", a1, b1, a2);
    printf("0x00800008 written in pd_b: frame 1 %p, frame 0 via pd_a %p\n", V(F(1) + 8), a3);
    check(a1 == 0x11111111 && b1 == 0xf0010000 && a2 == a1 && V(F(1) + 8) == 0xbbbbbbbb &&
          a3 == 0xf0000002, "each address space sees its own frame");

    putln("-- TLB invalidation");
    uint32_t t0 = V(0x00802000);
    pt_t[PTI(0x00802000)] = F(3) | PG_P | PG_RW;
    invlpg(0x00802000);
    uint32_t t1 = V(0x00802000);
    V(PTE_VIA_SELF(0x00802000)) = F(2) | PG_P | PG_RW;
    invlpg(0x00802000);
    uint32_t t2 = V(0x00802000);
    pt_t[PTI(0x00802000)] = F(3) | PG_P | PG_RW;
    write_cr3(read_cr3());
    uint32_t t3 = V(0x00802000);
    printf("0x00802000: frame 2 %p; PTE -> frame 3 + invlpg %p;\n", t0, t1);
    printf("  PTE -> frame 2 via 0xffc00000 + invlpg %p; PTE -> frame 3 + mov cr3 %p\n", t2, t3);
    check(t0 == 0xf0020000 && t1 == 0xf0030000 && t2 == 0xf0020000 && t3 == 0xf0030000,
          "invlpg / recursive PTE write / cr3 reload use the new PTE");
    printf("PDE[2] via 0xfffff008 %s pd_a[2], PTE via 0xffc02008 %s pt_t[2]\n",
           (V(PDE_VIA_SELF(0x00800000)) & ~0xfffu) == (pd_a[2] & ~0xfffu) ? "==" : "!=",
           V(PTE_VIA_SELF(0x00802000)) == pt_t[2] ? "==" : "!=");
    check((V(PDE_VIA_SELF(0x00800000)) & ~0xfffu) == ((uint32_t)pt_t) &&
          V(PTE_VIA_SELF(0x00802000)) == pt_t[2], "recursive mapping reads the tables");

    putln("-- accessed / dirty");
    volatile uint32_t *pte = &pt_t[PTI(0x00803000)];
    *pte &= ~(PG_A | PG_D);
    invlpg(0x00803000);
    flags3("PTE flags", *pte);
    (void)V(0x00803000);
    flags3(", after read", *pte);
    (void)V(0x00803004);
    flags3(", read again", *pte);
    V(0x00803000) = 1;
    flags3(", after write", *pte);
    putc('\n');
    uint32_t ad1 = *pte;
    *pte &= ~PG_D;
    invlpg(0x00803000);
    (void)V(0x00803000);
    flags3("D cleared: after read", *pte);
    uint32_t ad2 = *pte;
    V(0x00803000) = 2;              /* the TLB now holds a clean entry */
    flags3(", after write", *pte);
    putc('\n');
    check(ad1 == (F(4) | 0x063) && ad2 == (F(4) | 0x023) && *pte == (F(4) | 0x063),
          "read sets A, write sets D");
    pd_a[2] &= ~PG_A;
    write_cr3(read_cr3());
    uint32_t pde_before = pd_a[2] & PG_A;
    (void)V(0x00803000);
    printf("PDE[2].A: cleared %u, after an access through it %u\n", pde_before >> 5,
           (pd_a[2] & PG_A) >> 5);
    check(!pde_before && (pd_a[2] & PG_A), "walk sets A in the PDE");

    putln("-- write protection");
    k_wp_probes();
    write_cr0(read_cr0() & ~CR0_WP);
    V(0x00804000) = 0x0b0b0b0b;
    V(0x01400010) = 0x0c0c0c0c;
    write_cr0(read_cr0() | CR0_WP);
    printf("CR0.WP=0: ring-0 writes to read-only PTE / PDE land: %p %p\n", V(F(5)),
           V(F(11) + 0x10));
    check(V(F(5)) == 0x0b0b0b0b && V(F(11) + 0x10) == 0x0c0c0c0c, "WP=0 ignores R/W at ring 0");
    flags3("read-only PTE after the write", pt_t[PTI(0x00804000)]);
    putc('\n');
    check_eq("D set on the read-only page by the WP=0 write", pt_t[PTI(0x00804000)] & 0xfff,
             PG_P | PG_A | PG_D);

    putln("-- reserved bit, junk in a not-present PTE");
    k_misc_probes();

    putln("-- demand paging");
    uint32_t d0 = V(0x00810004);
    printf("read 0x00810004 -> %p\n", d0);
    V(0x00811008) = 0xdeadbeef;
    printf("write 0x00811008 -> frame word %p\n", V((uint32_t)dfr[1] + 8));
    static uint8_t src[0x1800];
    for (int i = 0; i < (int)sizeof src; i++)
        src[i] = (uint8_t)(i * 7 + 3);
    {
        void *d = (void *)0x00812800;
        const void *s = src;
        uint32_t n = sizeof src;
        __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) :: "memory");
    }
    check(memcmp((void *)0x00812800, src, sizeof src) == 0, "rep movsb completed across 2 demand faults");
    (void)V(0x00814000);
    uint32_t split = V(0x00814ffe);
    printf("split read 0x00814ffe -> %p\n", split);
    check(d0 == 0xd0000001 && V((uint32_t)dfr[1] + 8) == 0xdeadbeef && split == 0x0000d004,
          "demand-paged data (split read: 0xd004 from page 4, 0x0000 from page 5)");
    /* code page: "mov $0x600d, %eax; ret", mapped on the fetch fault */
    ((uint8_t *)fr[9])[0] = 0xb8;
    V(F(9) + 1) = 0x0000600d;
    ((uint8_t *)fr[9])[5] = 0xc3;
    uint32_t (*fn)(void) = (uint32_t (*)(void))CODE_PAGE;
    uint32_t rv = fn();
    printf("call 0x00816000 -> %p\n", rv);
    check_eq("code page demand-mapped on the fetch fault", rv, 0x600d);
    printf("%d demand faults\n", ndemand);

    putln("-- global pages (CR4.PGE)");
    write_cr4(read_cr4() | CR4_PGE);
    pt_t[PTI(0x00808000)] = F(2) | PG_P | PG_RW | PG_G;
    invlpg(0x00808000);
    uint32_t g0 = V(0x00808000);
    pt_t[PTI(0x00808000)] = F(3) | PG_P | PG_RW | PG_G;
    invlpg(0x00808000);
    uint32_t g1 = V(0x00808000);
    pt_t[PTI(0x00808000)] = F(2) | PG_P | PG_RW | PG_G;
    write_cr4(read_cr4() & ~CR4_PGE);
    write_cr4(read_cr4() | CR4_PGE);
    uint32_t g2 = V(0x00808000);
    printf("global 0x00808000: %p; PTE -> frame 3 + invlpg %p; -> frame 2 + PGE toggle %p\n",
           g0, g1, g2);
    check(g0 == 0xf0020000 && g1 == 0xf0030000 && g2 == 0xf0020000,
          "invlpg and CR4.PGE toggle flush global entries");

    putln("-- ring 3");
    run_user((uint32_t)user_probes, (uint32_t)ustack + sizeof ustack);
    printf("user read of its read-only page %p, write to its r/w page -> %p\n", u_ro_value,
           V(F(8) + 0x20));
    check(u_ro_value == 0xf0070004 && V(F(8) + 0x20) == 0x75757575, "user pages usable");

    uint32_t n = 0;
    for (struct probe *p = probe_table; p->start; p++)
        n++;
    check_eq("every #PF probe faulted once", cur, n);
    done();
}

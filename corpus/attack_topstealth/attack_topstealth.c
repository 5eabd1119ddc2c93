/*
 * attack_topstealth -- the guest maps the 4 MiB a monitor occupies *without
 * flushing anything* and reads first.  SDM vol 3A 4.10.4.3: a paging-
 * structure entry changed from not present to present needs no invalidation
 * (no TLB or paging-structure cache entry is ever made from a not-present
 * entry), so the very next access uses the new mapping.
 *
 *   PDE 1023 <- a page table of RAM frames (filled with a pattern through
 *   the identity map); ring 0 reads 0xffc02000, 0xffc40000, 0xffec0000
 *   (the monitor's virtual-CPU page, lookup table and translation cache by
 *   default) -- the guest's pattern, nothing else; the same after INVLPG;
 *   then the same game at PDE 1022 (0xff800000), where a monitor that
 *   moved out of 0xffc00000 would be, with a 4 MiB page; then ring 3 reads
 *   at PDE 1021 (0xff400000).
 */
#include "attack.h"

static uint32_t pd[1024] PAGE;
static uint32_t pt0[1024] PAGE;
static uint32_t pt_top[1024] PAGE;

#define FRAMES 0x04000000u
#define PAT(lin) (((lin) >> 12) * 0x00010001u ^ 0x3c000000u)

static void fill(uint32_t phys, uint32_t lin)
{
    for (uint32_t off = 0; off < 0x400000; off += 0x1000)
        V32(phys + off) = PAT(lin + off);
}

static const uint32_t offs[] = {0x2000, 0x3000, 0x10000, 0x40000, 0xc0000, 0x2c0000, 0x3ff000};

static void reads(uint32_t base, const char *when)
{
    printf("  %s:", when);
    uint32_t bad = 0;
    for (int i = 0; i < 7; i++) {
        uint32_t before = nfaults;
        uint32_t v = try_read32(base + offs[i]);
        if (nfaults != before)
            printf(" #PF");
        else
            printf(" %p", v);
        bad += v != PAT(base + offs[i]);
    }
    printf("\n");
    checkf(!bad, "%p..: the guest's own memory (%s)", base, when);
}

static uint32_t u_vals[7], u_faults;
static void user_reads(void)
{
    uint32_t before = nfaults;
    for (int i = 0; i < 7; i++)
        u_vals[i] = try_read32(0xff400000 + offs[i]);
    u_faults = nfaults - before;
    user_exit();
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    (void)mbi;
    putln("attack_topstealth: map the monitor's 4 MiB without a flush, read first");
    attack_init();
    identity_map(pd, pt0);
    paging_on(pd);
    for (int i = 0; i < 1024; i++)
        pt_top[i] = (FRAMES + ((uint32_t)i << 12)) | PG_P | PG_RW | PG_US;
    fill(FRAMES, 0xffc00000);
    fill(FRAMES + 0x400000, 0xff800000);
    fill(FRAMES + 0x800000, 0xff400000);

    putln("-- PDE 1023 (0xffc00000) written, nothing flushed");
    pd[1023] = (uint32_t)pt_top | PG_P | PG_RW | PG_US;
    reads(0xffc00000, "ring 0 reads");
    for (int i = 0; i < 7; i++)
        invlpg(0xffc00000 + offs[i]);
    reads(0xffc00000, "after invlpg");
    V32(0xffc00000) = PAT(0xffc00000);
    reads(0xffc00000, "after a write");

    putln("-- PDE 1022 (0xff800000), a 4 MiB page, nothing flushed");
    pd[1022] = (FRAMES + 0x400000) | PG_PS | PG_P | PG_RW | PG_US;
    reads(0xff800000, "ring 0 reads");
    invlpg(0xff802000);
    reads(0xff800000, "after invlpg");

    putln("-- PDE 1021 (0xff400000), nothing flushed, ring 3 reads");
    pd[1021] = (FRAMES + 0x800000) | PG_PS | PG_P | PG_RW | PG_US;
    ring3(user_reads);
    uint32_t bad = 0;
    for (int i = 0; i < 7; i++)
        bad += u_vals[i] != PAT(0xff400000 + offs[i]);
    printf("  ring 3: %u faults, %u wrong\n", u_faults, bad);
    check(!bad && !u_faults, "ring 3 sees the guest's own memory");
    reads(0xff400000, "ring 0 reads");
    done();
}

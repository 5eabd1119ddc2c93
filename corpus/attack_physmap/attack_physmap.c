/*
 * attack_physmap -- map the physical memory right above guest RAM through
 * the guest's own page tables (128 MiB of RAM: physical 0x08000000-0x083fffff
 * is where a monitor keeps its 4 MiB) and reach for it.
 *
 * Everything the processor decides before it touches that memory must be
 * exactly the bare machine's (SDM vol 3A 4.6, 4.7): a not-present PTE or
 * PDE naming it, a supervisor page read at ring 3, a read-only page written
 * at ring 3 and at ring 0 with CR0.WP=1, a 4 MiB page naming it read at
 * ring 3 -- all #PF with the architectural error code, caught, and the walk
 * sets accessed bits in the guest's own entries as usual.
 *
 * Touching the memory itself ends the run on the bare machine (status 12;
 * qemu reads 0xff bytes / ignores writes): one final probe per run,
 * final=NAME on the command line:
 *   r0read   ring 0 reads physical 0x08003000 through a 4 KiB PTE (default)
 *   r0write  ring 0 writes physical 0x08003000
 *   r3read   ring 3 reads physical 0x08002000 through a user PTE
 *   big      ring 0 reads physical 0x08000000 through a 4 MiB page
 *   ptwalk   a PDE whose page table is physical 0x08001000 (the walk itself
 *            reads outside RAM)
 *   cr3      CR3 = 0x08000000: the page directory itself outside RAM
 */
#include "attack.h"

static uint32_t pd[1024] PAGE;
static uint32_t pt0[1024] PAGE;
static uint32_t pt_hi[1024] PAGE;       /* 0x40000000: pages of physical 0x08000000.. */

#define LIN 0x40000000u                 /* PDE 256 -> pt_hi */
#define BIG 0x40400000u                 /* PDE 257: 4 MiB page at physical 0x08000000 */
#define NP_PT 0x40800000u               /* PDE 258: not present, "page table" 0x08001000 */
#define PHYS 0x08000000u

static void probes(void)
{
    PROBE("read  page 0 (not present)", try_read32(LIN));
    PROBE("write page 0 (not present)", try_write32(LIN + 4, 1));
    PROBE("read  page 1 (supervisor)", try_read32(LIN + 0x1000));
    PROBE("write page 1 (supervisor)", try_write32(LIN + 0x1004, 1));
    PROBE("write page 2 (user, read-only)", try_write32(LIN + 0x2008, 1));
    PROBE("read  4 MiB page (supervisor)", try_read32(BIG + 0x3000));
    PROBE("write 4 MiB page (supervisor)", try_write32(BIG + 0x3000, 1));
    PROBE("read  under a not-present PDE", try_read32(NP_PT + 0x10));
    PROBE("call  page 0 (not present)", try_call(LIN));
    PROBE("call  page 1 (supervisor)", try_call(LIN + 0x1000));
}

static void user_probes(void)
{
    probes();
    user_exit();
}

static void kernel_probes(void)
{
    PROBE("read  page 0 (not present)", try_read32(LIN));
    PROBE("write page 0 (not present)", try_write32(LIN + 4, 1));
    PROBE("write page 2 (read-only, CR0.WP=1)", try_write32(LIN + 0x2008, 1));
    PROBE("write 4 MiB page 5 (read-only)", try_write32(BIG + 0x400000 + 0x3000, 1));
    PROBE("read  under a not-present PDE", try_read32(NP_PT + 0x10));
    PROBE("call  page 0 (not present)", try_call(LIN));
}

static void flags_line(const char *what, uint32_t e)
{
    printf("  %-28s flags 0x%03x\n", what, e & 0xfff);
}

/* ------------------------------------------------------------ final probes */
static uint32_t value;

static void final_r0read(void)
{
    pt_hi[3] = (PHYS + 0x3000) | PG_P | PG_RW;
    invlpg(LIN + 0x3000);
    value = V32(LIN + 0x3000);
    printf("read %p\n", value);
}

static void final_r0write(void)
{
    pt_hi[3] = (PHYS + 0x3000) | PG_P | PG_RW;
    invlpg(LIN + 0x3000);
    V32(LIN + 0x3000) = 0x0b0b0b0b;
    printf("wrote, read back %p\n", V32(LIN + 0x3000));
}

static void user_read2(void)
{
    value = V32(LIN + 0x2000);
    user_exit();
}

static void final_r3read(void)
{
    ring3(user_read2);
    printf("ring 3 read %p\n", value);
}

static void final_big(void)
{
    pd[257] |= PG_US;
    invlpg(BIG);
    printf("read %p\n", V32(BIG + 0x2000));
}

static void final_ptwalk(void)
{
    pd[258] = (PHYS + 0x1000) | PG_P | PG_RW | PG_US;
    invlpg(NP_PT);
    printf("read %p\n", V32(NP_PT + 0x10));
}

static void final_cr3(void)
{
    write_cr3(PHYS);
    putln("CR3 = 0x08000000 and still running");
}

#define ENDS "bare machine: status 12, memory outside guest RAM; qemu: 0xff bytes, writes ignored"
static const struct final_probe finals[] = {
    {"r0read", "ring 0 reads physical 0x08003000 through a 4 KiB page", ENDS, final_r0read},
    {"r0write", "ring 0 writes physical 0x08003000", ENDS, final_r0write},
    {"r3read", "ring 3 reads physical 0x08002000 (user page)", ENDS, final_r3read},
    {"big", "ring 0 reads physical 0x08002000 through a 4 MiB page", ENDS, final_big},
    {"ptwalk", "a PDE names physical 0x08001000 as its page table", ENDS, final_ptwalk},
    {"cr3", "CR3 = 0x08000000", ENDS, final_cr3},
};

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    putln("attack_physmap: the physical memory above guest RAM through the guest's page tables");
    attack_init();
    identity_map(pd, pt0);
    pd[256] = (uint32_t)pt_hi | PG_P | PG_RW | PG_US;
    pt_hi[0] = PHYS | PG_RW | PG_US;                            /* not present */
    pt_hi[1] = (PHYS + 0x1000) | PG_P | PG_RW;                  /* supervisor */
    pt_hi[2] = (PHYS + 0x2000) | PG_P | PG_US;                  /* user, read-only */
    pd[257] = PHYS | PG_PS | PG_P | PG_RW;                      /* 4 MiB, supervisor */
    pd[258] = (PHYS + 0x1000) | PG_RW | PG_US;                  /* not present */
    pd[259] = PHYS | PG_PS | PG_P | PG_US;                      /* 4 MiB, read-only */
    paging_on(pd);
    printf("paging on: 0x%08x -> physical %p.. (4 KiB pages), 0x%08x -> %p (4 MiB)\n",
           LIN, PHYS, BIG, PHYS);

    putln("-- ring 3");
    ring3(user_probes);
    flush();
    putln("-- ring 0");
    kernel_probes();
    flush();
    putln("-- accessed bits the walks set in the guest's entries");
    flags_line("PDE 256 (page table)", pd[256]);
    flags_line("PTE 1 (supervisor)", pt_hi[1]);
    flags_line("PTE 2 (read-only)", pt_hi[2]);
    flags_line("PDE 257 (4 MiB, supervisor)", pd[257]);
    flags_line("PDE 259 (4 MiB, read-only)", pd[259]);
    printf("%u faults caught\n", nfaults);

    final_probe(mbi, finals, sizeof finals / sizeof finals[0]);
    putln("the guest is still running");
    exit(0);
}

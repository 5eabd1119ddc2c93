/*
 * attack_topmap -- the guest maps the top 4 MiB (0xffc00000-0xffffffff,
 * where a monitor sits by default) as its own RAM and uses it: the linear
 * address space is all the guest's (SDM vol 3A 4.3), so it must see only
 * its own memory there, at ring 0 and ring 3, for data, code and its
 * descriptor tables.
 *
 *   PDE 1023 -> a page table of 1024 RAM frames (physical 0x04000000..),
 *   MOV CR3; write patterns at every 4 KiB page, read them back up there and
 *   through the identity map; ring 3 reads them and writes new ones; code
 *   copied to 0xffec0100, 0xffc03100 and 0xfffffff0 called at ring 0 and 3;
 *   GDT and IDT copied to 0xffc10000 / 0xffc00000 and loaded (LGDT, LIDT,
 *   every segment register reloaded, an INT3, system calls from ring 3,
 *   SGDT/SIDT at ring 3 and the GDT read through that base); then the
 *   4 MiB below are mapped one after the other (PDEs 1022..1016, 4 MiB
 *   pages), each written and read at its first and last word.
 *
 * Final probes (final=NAME; both end as the guest says, on every machine):
 *   unmap  unmap everything above 0x80000000 again; a read up there: #PF
 *   fill   map every 4 MiB slot above RAM (PDEs 32..1023, 4 MiB pages onto
 *          RAM), then write and read at the base of each
 */
#include "attack.h"

static uint32_t pd[1024] PAGE;
static uint32_t pt0[1024] PAGE;
static uint32_t pt_top[1024] PAGE;

#define TOP_FRAMES 0x04000000u          /* physical RAM behind the top 4 MiB */
#define PHYS_OF(lin) (TOP_FRAMES + ((lin) - TOP4M))
#define PAT(lin) (((lin) >> 12) * 0x00010001u ^ 0x5a000000u)

/* mov $0x600dXXXX, %eax; ret (XXXX patched per copy) */
static const uint8_t fn_bytes[6] = {0xb8, 0x00, 0x00, 0x0d, 0x60, 0xc3};

static const uint32_t exec_at[] = {0xffec0100, 0xffc03100, 0xfffffff0};
static uint32_t u_sum, u_bad, u_exec[3], u_gdt_ok;
static struct dtr u_gdtr, u_idtr;

static void put_fn(uint32_t at, uint32_t tag)
{
    memcpy((void *)at, fn_bytes, sizeof fn_bytes);
    *(volatile uint16_t *)(at + 1) = (uint16_t)tag;
}

static void user_patterns(void)
{
    u_sum = u_bad = 0;
    for (uint32_t lin = TOP4M; lin; lin += 0x1000) {
        uint32_t v = V32(lin);
        u_sum += v;
        if (v != PAT(lin))
            u_bad++;
        V32(lin + 8) = ~PAT(lin);
        if (lin == 0xfffff000)
            break;
    }
    V32(0xfffffffc) = 0x3ffffffc;
    for (int i = 0; i < 3; i++)
        u_exec[i] = try_call(exec_at[i]);
    user_exit();
}

static void user_tables(void)
{
    sgdt(&u_gdtr);
    sidt(&u_idtr);
    u_gdt_ok = !memcmp((void *)u_gdtr.base, gdt, sizeof gdt);
    user_exit();
}

static void reload_segments(void)
{
    __asm__ volatile("ljmp $0x08, $1f\n1:\n"
                     "movw $0x10, %%ax\n movw %%ax, %%ds\n movw %%ax, %%es\n"
                     "movw %%ax, %%fs\n movw %%ax, %%gs\n movw %%ax, %%ss\n" ::: "eax", "memory");
}

/* ------------------------------------------------------------ final probes */
static void final_unmap(void)
{
    for (int i = 512; i < 1024; i++)
        pd[i] = 0;
    write_cr3((uint32_t)pd);
    PROBE("read 0xffc02000 (unmapped again)", try_read32(0xffc02000));
    PROBE("read 0xff802000 (unmapped again)", try_read32(0xff802000));
    flush();
}

static void final_fill(void)
{
    for (uint32_t i = RAM_TOP >> 22; i < 1024; i++)
        pd[i] = ((i & 31) << 22) | PG_PS | PG_P | PG_RW | PG_US;
    write_cr3((uint32_t)pd);
    uint32_t bad = 0;
    for (uint32_t i = RAM_TOP >> 22; i < 1024; i++) {
        uint32_t lin = i << 22;
        uint32_t keep = V32(lin + 0x3ff000);
        V32(lin + 0x3ff000) = lin;
        if (V32(((i & 31) << 22) + 0x3ff000) != lin)
            bad++;
        V32(lin + 0x3ff000) = keep;
    }
    printf("every 4 MiB above RAM mapped: %u slots written and read, %u wrong\n",
           1024 - (RAM_TOP >> 22), bad);
}

static const struct final_probe finals[] = {
    {"unmap", "the top unmapped again", "a #PF on every machine", final_unmap},
    {"fill", "every 4 MiB slot above RAM mapped", "the guest goes on", final_fill},
};

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    putln("attack_topmap: the guest maps the top 4 MiB as its own RAM");
    attack_init();
    identity_map(pd, pt0);
    paging_on(pd);
    for (int i = 0; i < 1024; i++)
        pt_top[i] = (TOP_FRAMES + ((uint32_t)i << 12)) | PG_P | PG_RW | PG_US;
    /* fill the frames with a different pattern first, through the identity map */
    for (uint32_t p = TOP_FRAMES; p < TOP_FRAMES + 0x400000; p += 4)
        V32(p) = 0xdddddddd;
    pd[1023] = (uint32_t)pt_top | PG_P | PG_RW | PG_US;
    write_cr3((uint32_t)pd);
    printf("PDE 1023 -> RAM at %p; read 0xffc02000 = %p, 0xffec0000 = %p\n", TOP_FRAMES,
           V32(0xffc02000), V32(0xffec0000));

    uint32_t bad = 0, sum = 0;
    for (uint32_t lin = TOP4M;; lin += 0x1000) {
        V32(lin) = PAT(lin);
        if (lin == 0xfffff000)
            break;
    }
    for (uint32_t lin = TOP4M;; lin += 0x1000) {
        uint32_t v = V32(lin);
        sum += v;
        if (v != PAT(lin) || V32(PHYS_OF(lin)) != PAT(lin))
            bad++;
        if (lin == 0xfffff000)
            break;
    }
    printf("ring 0: 1024 pages written and read back: sum %p, %u wrong\n", sum, bad);
    static const uint32_t show[] = {0xffc00000, 0xffc01000, 0xffc02000, 0xffc03000, 0xffc10000,
                                    0xffc40000, 0xffdc0000, 0xffe40000, 0xffec0000,
                                    0xfffff000};
    for (int i = 0; i < 10; i++)
        printf("  %p = %p (physical %p = %p)\n", show[i], V32(show[i]), PHYS_OF(show[i]),
               V32(PHYS_OF(show[i])));

    for (int i = 0; i < 3; i++)
        put_fn(exec_at[i], 0x1000 + i);
    for (int i = 0; i < 3; i++)
        PROBE("ring 0 calls code up there", try_call(exec_at[i]));
    flush();
    ring3(user_patterns);
    bad = 0;
    for (uint32_t lin = TOP4M;; lin += 0x1000) {
        if (V32(PHYS_OF(lin) + 8) != ~PAT(lin))
            bad++;
        if (lin == 0xfffff000)
            break;
    }
    printf("ring 3: read sum %p, %u wrong; wrote 1024 words: %u wrong; last word %p\n",
           u_sum, u_bad, bad, V32(PHYS_OF(0xfffffffc)));
    printf("ring 3 calls code up there: %p %p %p\n", u_exec[0], u_exec[1], u_exec[2]);

    putln("-- GDT at 0xffc10000, IDT at 0xffc00000");
    memcpy((void *)0xffc10000, gdt, sizeof gdt);
    memcpy((void *)0xffc00000, idt, sizeof idt);
    struct dtr g = {sizeof gdt - 1, 0xffc10000}, d = {sizeof idt - 1, 0xffc00000};
    lgdt(&g);
    lidt(&d);
    reload_segments();
    PROBE("int3 through the IDT up there", try_int3());
    flush();
    ring3(user_tables);
    printf("ring 3: sgdt %p/0x%04x sidt %p/0x%04x; GDT read through sgdt %s\n", u_gdtr.base,
           u_gdtr.limit, u_idtr.base, u_idtr.limit, u_gdt_ok ? "is the guest's" : "differs");
    struct dtr idtr = {sizeof idt - 1, (uint32_t)idt};
    lgdt(&gdt_ptr);
    lidt(&idtr);
    reload_segments();

    putln("-- PDEs 1022 down to 1016 mapped one after the other (4 MiB pages)");
    for (uint32_t i = 1022; i >= 1016; i--) {
        uint32_t phys = 0x04400000u + (1022 - i) * 0x400000u;
        pd[i] = phys | PG_PS | PG_P | PG_RW | PG_US;
        write_cr3((uint32_t)pd);
        uint32_t lin = i << 22;
        V32(lin) = lin ^ 1;
        V32(lin + 0x2000) = lin ^ 2;
        V32(lin + 0x3ffffc) = lin ^ 3;
        printf("  %p: %p %p %p, physical %p: %p\n", lin, V32(lin), V32(lin + 0x2000),
               V32(lin + 0x3ffffc), phys, V32(phys + 0x2000));
    }
    bad = 0;
    for (uint32_t lin = TOP4M;; lin += 0x1000) {
        if (V32(lin) != PAT(lin) && lin != 0xffc00000 && lin != 0xffc10000 && lin != 0xffec0000 &&
            lin != 0xffc03000)
            bad++;
        if (lin == 0xfffff000)
            break;
    }
    printf("the top 4 MiB still the guest's: %u wrong\n", bad);
    final_probe(mbi, finals, sizeof finals / sizeof finals[0]);
    printf("%u faults caught\n", nfaults);
    exit(0);
}

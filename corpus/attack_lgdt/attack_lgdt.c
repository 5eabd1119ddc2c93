/*
 * attack_lgdt -- descriptor tables based in the top 4 MiB (where a monitor
 * keeps its shadow GDT/LDT, virtual-CPU page and translation cache), with
 * paging on and that range unmapped by the guest.
 *
 *  - LGDT/LIDT take any base (no memory is read): SGDT/SIDT show it back;
 *    the guest restores its tables before using them.
 *    (An LDT based up there: attack_ldttop.)
 *
 * Final probes (final=NAME; each ends the run on every machine with a triple
 * fault: the bare machine stops with status 4, qemu -no-reboot exits 0):
 *   idt   LIDT base 0xffc00000, then INT3 at ring 0 (the default)
 *   gdt   LGDT base 0xffc10000, then MOV DS: #PF, whose delivery cannot load
 *         CS from the GDT: #PF, #DF, shutdown
 *   idt3  LIDT base 0xffc00000, then INT $0x80 at ring 3
 */
#include "attack.h"

static uint32_t pd[1024] PAGE;
static uint32_t pt0[1024] PAGE;

/* ------------------------------------------------------------ final probes */
static void final_gdt(void)
{
    struct dtr top = {0xffff, 0xffc10000};
    lgdt(&top);
    load_ds(SEL_KDATA);
    putln("still running");
}

static void final_idt(void)
{
    struct dtr top = {0x7ff, 0xffc00000};
    lidt(&top);
    __asm__ volatile("int3");
    putln("still running");
}

static void user_int80(void)
{
    __asm__ volatile("int $0x80");
    for (;;)
        ;
}

static void final_idt3(void)
{
    struct dtr top = {0x7ff, 0xffc00000};
    lidt(&top);
    ring3(user_int80);
    putln("still running");
}

#define ENDS "#PF, #DF, triple fault: bare machine status 4, qemu -no-reboot exits 0"
static const struct final_probe finals[] = {
    {"idt", "IDT base 0xffc00000 (unmapped), then int3", ENDS, final_idt},
    {"gdt", "GDT base 0xffc10000 (unmapped), then mov ds", ENDS, final_gdt},
    {"idt3", "IDT base 0xffc00000 (unmapped), then int $0x80 at ring 3", ENDS, final_idt3},
};

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    putln("attack_lgdt: descriptor tables based in the top 4 MiB (paging on, range unmapped)");
    attack_init();
    identity_map(pd, pt0);
    paging_on(pd);

    putln("-- lgdt / lidt with a base up there, sgdt / sidt, back");
    static const uint32_t bases[] = {0xffc10000, 0xffc02000, 0xffec0000, 0xfffffff0};
    for (int i = 0; i < 4; i++) {
        struct dtr t = {0x5f, bases[i]}, g, d;
        lgdt(&t);
        sgdt(&g);
        lgdt(&gdt_ptr);
        t.limit = 0x7ff;
        struct dtr idtr = {0x7ff, (uint32_t)idt};
        lidt(&t);
        sidt(&d);
        lidt(&idtr);
        printf("lgdt %p -> sgdt %p/0x%04x; lidt %p -> sidt %p/0x%04x\n", bases[i], g.base,
               g.limit, bases[i], d.base, d.limit);
    }
    final_probe(mbi, finals, sizeof finals / sizeof finals[0]);
    exit(0);
}

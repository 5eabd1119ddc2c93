/*
 * attack_ldttop -- an LDT based in the top 4 MiB (where a monitor keeps its
 * shadow LDT, shadow GDT and translation cache), with paging on and that
 * range unmapped by the guest.
 *
 * LLDT reads only the GDT (the LDT descriptor); every later use of an LDT
 * selector reads the (unmapped) LDT: a segment load, LAR, LSL, VERR, a far
 * call, at ring 0 and at ring 3, must raise #PF at the descriptor's address
 * (an implicit supervisor access: error code 0 even at ring 3, SDM vol 3A
 * 4.7).  LDTs at 0xffc20000, 0xffc10000 and 0xffec0000.
 */
#include "attack.h"

static uint32_t pd[1024] PAGE;
static uint32_t pt0[1024] PAGE;
#define SEL_LDT 0x30

static void ldt_probes(void)
{
    PROBE("ds <- 0x04/0x07 (LDT entry 0)", try_load_ds((read_cs() & 3) | 4));
    PROBE("fs <- 0x0c/0x0f, fs:0", try_read_fs((read_cs() & 3) | 0xc, 0));
    PROBE("pop es 0x14/0x17", try_pop_es((read_cs() & 3) | 0x14));
    PROBE("lar 0x1c/0x1f", try_lar((read_cs() & 3) | 0x1c));
    PROBE("lsl 0x24/0x27", try_lsl((read_cs() & 3) | 0x24));
    PROBE("verr 0x2c/0x2f", try_verr((read_cs() & 3) | 0x2c));
    PROBE("lcall 0x34/0x37:0", try_lcall((read_cs() & 3) | 0x34, 0));
}

static void user_ldt_probes(void)
{
    ldt_probes();
    user_exit();
}

static void ldt_at(uint32_t base)
{
    gdt_set(SEL_LDT >> 3, base, 0xffff, ACC_LDT, 0);
    lldt(SEL_LDT);
    printf("-- LDT at %p (limit 0xffff), sldt 0x%04x\n", base, sldt());
    ldt_probes();
    flush();
    ring3(user_ldt_probes);
    flush();
    lldt(0);
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    (void)mbi;
    putln("attack_ldttop: an LDT based in the top 4 MiB (paging on, range unmapped)");
    attack_init();
    identity_map(pd, pt0);
    paging_on(pd);
    ldt_at(0xffc20000);
    ldt_at(0xffc10000);
    ldt_at(0xffec0000);
    printf("%u faults caught\n", nfaults);
    exit(0);
}

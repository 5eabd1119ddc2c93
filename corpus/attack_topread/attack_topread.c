/*
 * attack_topread -- ring 0 reads the top 4 MiB of the linear address space
 * (0xffc00000-0xffffffff: where a VMware-style monitor keeps its virtual-CPU
 * page, shadow descriptor tables, lookup table and translation cache) while
 * the guest has it unmapped.
 *
 * With paging on and an identity map of guest RAM only, each read, locked
 * exchange (its read comes first: error code 0), string copy from there,
 * push from memory, and read through a segment based up there must raise
 * #PF (SDM vol 3A 4.7) -- the guest must learn nothing of what a monitor
 * keeps there.  A read starting just below the range faults at 0xffc00000.
 *
 * Final probes (final=NAME):
 *   r0read  paging off, ring 0 reads 0xffc02000: the bare machine stops with
 *           status 12 (memory outside guest RAM), qemu reads zeros (default)
 *   r3gdt   paging on, ring 3 reads 0xffc10000 (an offset inside the guest's
 *           GDT limit, in the range a monitor keeps its shadow GDT): #PF
 *           err 4 on every machine, caught
 */
#include "attack.h"

static uint32_t pd[1024] PAGE;
static uint32_t pt0[1024] PAGE;
static uint32_t pt_below[1024] PAGE;    /* 0xffbff000: one RAM page just below the range */
static uint8_t below_frame[4096] PAGE;
static uint32_t buf[4];

#define SEL_TOP0 0x30   /* DPL 0 data, base 0xffc00000, limit 4 MiB - 1 */
#define SEL_WRAP0 0x38  /* DPL 0 data, base 0x80000000, 4 GiB: offset 0x7fc02000 wraps up */

static void probes(void)
{
    PROBE("read  0xffc00000 (page directory)", try_read32(0xffc00000));
    PROBE("read  0xffc02000 (virtual CPU)", try_read32(0xffc02000));
    PROBE("read  0xffc02010 (sgdt image)", try_read32(0xffc02010));
    PROBE("read  0xffc02800 (trap TSS)", try_read32(0xffc02800));
    PROBE("read  0xffc03000 (code page)", try_read32(0xffc03000));
    PROBE("read  0xffc10000 (shadow GDT)", try_read32(0xffc10000));
    PROBE("read  0xffc20000 (shadow LDT)", try_read32(0xffc20000));
    PROBE("read  0xffc40000 (lookup L1)", try_read32(0xffc40000));
    PROBE("read  0xffc80000 (lookup miss L2)", try_read32(0xffc80000));
    PROBE("read  0xffcc0000 (lookup L2)", try_read32(0xffcc0000));
    PROBE("read  0xffdc0000 (RAM page tables)", try_read32(0xffdc0000));
    PROBE("read  0xffe40000 (shadow pool)", try_read32(0xffe40000));
    PROBE("read  0xffec0000 (translations)", try_read32(0xffec0000));
    PROBE("read  0xfffffffc (last word)", try_read32(0xfffffffc));
    PROBE("read  0xffbffffe (split into range)", try_read32(0xffbffffe));
    PROBE("xchg  0xffc02000", try_xchg32(0xffc02000, 0x44444444));
    PROBE("xchg  0xffec0000", try_xchg32(0xffec0000, 0x44444444));
    PROBE("movs  from 0xffc02000 (ecx left)", try_movs_from(0xffc02000, buf, 4));
    PROBE("movs  from 0xffbffff8 (ecx left)", try_movs_from(0xffbffff8, buf, 4));
    PROBE("push  (0xffc02000)", try_push_mem(0xffc02000));
    PROBE("fs(base 0xffc00000):0x2000", try_read_fs(SEL_TOP0, 0x2000));
    PROBE("fs(base 0xffc00000):0x2c0000", try_read_fs(SEL_TOP0, 0x2c0000));
    PROBE("fs(base 0x80000000):0x7fc02000", try_read_fs(SEL_WRAP0, 0x7fc02000));
}

/* ------------------------------------------------------------ final probes */
static void final_r0read(void)
{
    paging_off();
    uint32_t b = nfaults, v = try_read32(0xffc02000);
    printf("ring 0 read 0xffc02000: %s%p\n", nfaults != b ? "fault " : "", v);
}

static uint32_t user_value;
static void user_read_gdt(void)
{
    user_value = try_read32(0xffc10000);
    user_exit();
}

static void final_r3gdt(void)
{
    ring3(user_read_gdt);
    PROBE("(ring 3) read 0xffc10000", user_value);
    notes[nnotes - 1].faulted = user_value == FAULTED;
    flush();
}

static const struct final_probe finals[] = {
    {"r0read", "paging off, ring 0 reads 0xffc02000",
     "bare machine: status 12, memory outside guest RAM; qemu reads zeros", final_r0read},
    {"r3gdt", "paging on, ring 3 reads 0xffc10000", "a #PF on every machine", final_r3gdt},
};

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    putln("attack_topread: ring 0 reads the top 4 MiB");
    attack_init();
    gdt_set(SEL_TOP0 >> 3, TOP4M, 0x3ff, ACC_DATA_R0, GDT_F_32);
    gdt_set(SEL_WRAP0 >> 3, 0x80000000u, 0xfffff, ACC_DATA_R0, GDT_F_32);
    identity_map(pd, pt0);
    pd[1022] = (uint32_t)pt_below | PG_P | PG_RW | PG_US;
    pt_below[1023] = (uint32_t)below_frame | PG_P | PG_RW | PG_US;
    for (int i = 0; i < 1024; i++)
        ((uint32_t *)below_frame)[i] = 0xb0b00000u | i;
    paging_on(pd);
    printf("paging on: RAM identity-mapped, 0xffbff000 mapped, 0xffc00000-0xffffffff unmapped\n");
    probes();
    flush();
    printf("buf after the faulting copies: %p %p %p %p\n", buf[0], buf[1], buf[2], buf[3]);
    printf("%u faults caught\n", nfaults);
    final_probe(mbi, finals, sizeof finals / sizeof finals[0]);
    putln("the guest is still running");
    exit(0);
}

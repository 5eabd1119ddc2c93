/*
 * attack_toprange -- reach for the top 4 MiB of the linear address space
 * (0xffc00000-0xffffffff), where a VMware-style monitor keeps its page
 * tables, virtual-CPU page, shadow descriptor tables, lookup table and
 * translation cache, from ring 0 and from ring 3.
 *
 * With paging on and an identity map of guest RAM only (128 MiB), every
 * address up there is unmapped: each write, string copy and call
 * (instruction fetch) from ring 0, and each read, write, locked exchange,
 * string copy, push from memory and call from ring 3, also through a
 * segment whose base lies up there, must raise #PF with the architectural
 * error code (SDM vol 3A 4.7: P=0, W/R, U/S) and CR2; an access that starts
 * in a mapped page just below and runs into the range faults with CR2 at
 * the range's first byte.  The guest catches each fault and goes on.
 * (Reads from ring 0: attack_topread.)
 *
 * With paging off the range is physical memory the PC does not have: the
 * bare machine stops (status 12), qemu reads 0xff bytes or zeros and
 * ignores writes.  That is the final probe (one per run, chosen by
 * final=NAME on the command line):
 *   r0write ring 0 writes 0xffc02000 (default)
 *   r3read  ring 3 reads 0xffc02000          r3write ring 3 writes it
 *   r0exec  ring 0 calls 0xffec0000          r0pd    ring 0 reads 0xffc00000
 */
#include "attack.h"

static uint32_t pd[1024] PAGE;
static uint32_t pt0[1024] PAGE;
static uint32_t pt_below[1024] PAGE;    /* 0xffbff000: one RAM page just below the range */
static uint8_t below_frame[4096] PAGE;
static uint32_t buf[4];
static const uint32_t src4[4] = {0x5a5a0001, 0x5a5a0002, 0x5a5a0003, 0x5a5a0004};

#define SEL_TOP0 0x30   /* DPL 0 data, base 0xffc00000, limit 4 MiB - 1 */
#define SEL_TOP3 0x3b   /* DPL 3 data, same */
#define SEL_WRAP3 0x43  /* DPL 3 data, base 0x80000000, 4 GiB: offset 0x7fc02000 wraps up */

/* what a monitor could confuse with its own accesses: writes and fetches (ring 0),
 * everything (ring 3); ring-0 reads: attack_topread */
static void probes(int ring)
{
    if (ring) {
        PROBE("read  0xffc00000 (page directory)", try_read32(0xffc00000));
        PROBE("read  0xffc01000 (its page table)", try_read32(0xffc01000));
        PROBE("read  0xffc02000 (virtual CPU)", try_read32(0xffc02000));
        PROBE("read  0xffc02010 (sgdt image)", try_read32(0xffc02010));
        PROBE("read  0xffc02800 (trap TSS)", try_read32(0xffc02800));
        PROBE("read  0xffc03000 (code page)", try_read32(0xffc03000));
        PROBE("read  0xffc10100 (shadow GDT)", try_read32(0xffc10100));
        PROBE("read  0xffc20100 (shadow LDT)", try_read32(0xffc20100));
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
    }
    PROBE("write 0xffc02000", try_write32(0xffc02000, 0x11111111));
    PROBE("write 0xffc10108", try_write32(0xffc10108, 0x0000ffff));
    PROBE("write 0xffc40000", try_write32(0xffc40000, 0x22222222));
    PROBE("write 0xffec0000", try_write32(0xffec0000, 0xcccccccc));
    PROBE("write 0xffbffffe (split into range)", try_write32(0xffbffffe, 0x33333333));
    PROBE("movs  to 0xffec0000 (ecx left)", try_movs_to(0xffec0000, src4, 4));
    PROBE("call  0xffec0000", try_call(0xffec0000));
    PROBE("call  0xffc03000", try_call(0xffc03000));
    PROBE("call  0xffbffffe (runs into range)", try_call(0xffbffffe));
}

static void seg_probes(int ring)
{
    if (ring) {
        PROBE("fs(base 0xffc00000):0x2000", try_read_fs(SEL_TOP3, 0x2000));
        PROBE("fs(base 0xffc00000):0x2c0000", try_read_fs(SEL_TOP3, 0x2c0000));
        PROBE("fs(base 0x80000000):0x7fc02000", try_read_fs(SEL_WRAP3, 0x7fc02000));
    }
    PROBE("fs(base 0xffc00000):0x2000 write", try_write_fs(ring ? SEL_TOP3 : SEL_TOP0, 0x2000));
}

static void user_probes(void)
{
    probes(3);
    seg_probes(3);
    user_exit();
}

/* ------------------------------------------------------------ final probes */
static void show(const char *what, uint32_t before, uint32_t v)
{
    if (nfaults != before)
        printf("%s: %s\n", what, vec_name(last_fault.vec));
    else
        printf("%s: %p\n", what, v);
}

static void final_r0write(void)
{
    paging_off();
    uint32_t b = nfaults;
    try_write32(0xffc02000, 0x77777777);
    show("ring 0 wrote 0xffc02000, read back", b, try_read32(0xffc02000));
}

static uint32_t user_value;
static void user_read(void)
{
    user_value = try_read32(0xffc02000);
    user_exit();
}

static void user_write(void)
{
    try_write32(0xffc02000, 0x77777777);
    user_value = try_read32(0xffc02000);
    user_exit();
}

static void final_r3read(void)
{
    paging_off();
    uint32_t b = nfaults;
    ring3(user_read);
    show("ring 3 read 0xffc02000", b, user_value);
}

static void final_r3write(void)
{
    paging_off();
    uint32_t b = nfaults;
    ring3(user_write);
    show("ring 3 wrote 0xffc02000, read back", b, user_value);
}

static void final_r0exec(void)
{
    paging_off();
    uint32_t b = nfaults;
    show("ring 0 call 0xffec0000", b, try_call(0xffec0000));
}

static void final_r0pd(void)
{
    paging_off();
    uint32_t b = nfaults;
    show("ring 0 read 0xffc00000", b, try_read32(0xffc00000));
}

#define ENDS "bare machine: status 12, memory outside guest RAM; qemu: 0xff bytes, writes ignored"
static const struct final_probe finals[] = {
    {"r0write", "paging off, ring 0 writes 0xffc02000", ENDS, final_r0write},
    {"r3read", "paging off, ring 3 reads 0xffc02000", ENDS, final_r3read},
    {"r3write", "paging off, ring 3 writes 0xffc02000", ENDS, final_r3write},
    {"r0exec", "paging off, ring 0 calls 0xffec0000", ENDS, final_r0exec},
    {"r0pd", "paging off, ring 0 reads 0xffc00000", ENDS, final_r0pd},
};

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    putln("attack_toprange: the top 4 MiB from ring 0 and ring 3");
    attack_init();
    gdt_set(SEL_TOP0 >> 3, TOP4M, 0x3ff, ACC_DATA_R0, GDT_F_32);
    gdt_set(SEL_TOP3 >> 3, TOP4M, 0x3ff, ACC_DATA_R3, GDT_F_32);
    gdt_set(SEL_WRAP3 >> 3, 0x80000000u, 0xfffff, ACC_DATA_R3, GDT_F_32);

    identity_map(pd, pt0);
    /* one RAM page at 0xffbff000, just below the range (the range itself stays unmapped) */
    pd[1022] = (uint32_t)pt_below | PG_P | PG_RW | PG_US;
    pt_below[1023] = (uint32_t)below_frame | PG_P | PG_RW | PG_US;
    for (int i = 0; i < 1024; i++)
        ((uint32_t *)below_frame)[i] = 0xb0b00000u | i;
    /* "call 0xffbffffe": two bytes of code before the range (jmp .+0 would stay): nops */
    below_frame[4094] = 0x90;
    below_frame[4095] = 0x90;
    paging_on(pd);
    printf("paging on: RAM identity-mapped, 0xffbff000 mapped, 0xffc00000-0xffffffff unmapped\n");

    putln("-- ring 0");
    probes(0);
    seg_probes(0);
    flush();
    printf("buf after the faulting copies: %p %p %p %p\n", buf[0], buf[1], buf[2], buf[3]);
    printf("0xffbffffc after the split write: %p\n", V32(0xffbffffc));

    putln("-- ring 3");
    ring3(user_probes);
    flush();
    printf("buf after the faulting copies: %p %p %p %p\n", buf[0], buf[1], buf[2], buf[3]);
    printf("0xffbffffc after the split write: %p\n", V32(0xffbffffc));
    printf("%u faults caught\n", nfaults);

    final_probe(mbi, finals, sizeof finals / sizeof finals[0]);
    putln("the guest is still running");
    exit(0);
}

/*
 * attack_gdtshadow -- descriptor tables a monitor must not let the processor
 * act on by itself (a DPL-3 task gate, a DPL-3 available TSS: ring 3 could
 * switch tasks), and what ring 3 sees once the guest has one.
 *
 * The guest adds a DPL-3 task gate to its GDT, then at ring 3: SGDT (the
 * guest's own GDT: SDM vol 2 SGDT), reads its GDT through that base, LAR of
 * the task gate, and calls through a DPL-3 call gate to ring-3 code.  With a
 * 64 KiB GDT whose selector 0xfff8 is a DPL-3 code segment based elsewhere,
 * the call gate must still lead where the guest's gate says (0x1b:fn_a),
 * not to 0xfff8.  The guest's own view must not change in any way.
 *
 * Ring 3 reads the GDT through the base SGDT shows when that base is the
 * guest's table; with final=read on the command line it reads through
 * whatever base it sees.
 */
#include "attack.h"

static uint32_t pd[1024] PAGE;
static uint32_t pt0[1024] PAGE;
static uint64_t big_gdt[8192] __attribute__((aligned(4096)));

#define SEL_GATE  0x38      /* DPL-3 call gate -> 0x1b:fn_a */
#define SEL_TASKG 0x40      /* DPL-3 task gate -> TSS 0x28 */

extern char fn_a[], fn_b[];
__asm__(".text\n"
        "fn_a: movl $0xaaaa0001, %eax\n lret\n"
        "fn_b: movl $0xbbbb0002, %eax\n lret\n");

static struct dtr u_gdtr;
static uint64_t u_gdt_copy[12];
static uint32_t u_copy_faulted, u_expect_base, u_read_anyway;

static void user_look(void)
{
    sgdt(&u_gdtr);
    PROBE("lar 0x43 (task gate)", try_lar(SEL_TASKG | 3));
    PROBE("lcall 0x3b:0 (call gate -> fn_a)", try_lcall(SEL_GATE | 3, 0));
    /* read the GDT through the base SGDT showed (a base that is not the guest's own
     * table is read only when asked: final=read) */
    uint32_t before = nfaults;
    if (u_gdtr.base == u_expect_base || u_read_anyway) {
        for (int i = 0; i < 12; i++) {
            uint32_t lo = try_read32(u_gdtr.base + 8 * i);
            uint32_t hi = try_read32(u_gdtr.base + 8 * i + 4);
            u_gdt_copy[i] = ((uint64_t)hi << 32) | lo;
        }
    }
    u_copy_faulted = nfaults - before;
    user_exit();
}

static void look(const char *when, const uint64_t *table)
{
    memset(u_gdt_copy, 0, sizeof u_gdt_copy);
    u_expect_base = (uint32_t)table;
    ring3(user_look);
    printf("ring 3 (%s): sgdt %p/0x%04x, %u faults reading the GDT through it\n", when,
           u_gdtr.base, u_gdtr.limit, u_copy_faulted);
    check(u_gdtr.base == (uint32_t)table, "sgdt at ring 3 shows the guest's GDT");
    check(!memcmp(u_gdt_copy, table, sizeof u_gdt_copy), "the GDT read through it is the guest's");
    flush();
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    putln("attack_gdtshadow: ring 3 and a GDT the processor must not act on alone");
    attack_init();
    gdt_set_gate(SEL_GATE >> 3, SEL_UCODE, (uint32_t)fn_a, 0xc, 3, 0);
    identity_map(pd, pt0);
    paging_on(pd);

    look("plain GDT", gdt);
    gdt_set_gate(SEL_TASKG >> 3, SEL_TSS, 0, 0x5, 3, 0);
    u_read_anyway = 0;
    for (const char *c = mbi->flags & 4 ? (const char *)mbi->cmdline : ""; *c; c++)
        if (!memcmp(c, "final=read", 10))
            u_read_anyway = 1;
    look("DPL 3 task gate in the GDT", gdt);

    putln("-- a 64 KiB GDT with the task gate; 0xfff8 a DPL 3 code segment based at fn_b - fn_a");
    memcpy(big_gdt, gdt, sizeof gdt);
    big_gdt[0xfff8 >> 3] = make_desc((uint32_t)fn_b - (uint32_t)fn_a, 0xfffff, ACC_CODE_R3 | 1,
                                     GDT_F_32);
    struct dtr big = {0xffff, (uint32_t)big_gdt};
    lgdt(&big);
    look("64 KiB GDT", big_gdt);
    lgdt(&gdt_ptr);
    printf("%u faults caught\n", nfaults);
    done();
}

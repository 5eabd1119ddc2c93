/*
 * attack_remap -- run kernel code at one linear address, then change what
 * that address maps (the guest's own page tables) and run it again.  Code is
 * fetched through the current translation (SDM vol 3A 4.10: after INVLPG or
 * a MOV to CR3 the new PTE is used), so a binary translator must not run a
 * translation made from the old frame.
 *
 *   0x00c00000 -> frame A, call; PTE -> frame B, INVLPG, call; PTE -> A,
 *   MOV CR3, call; a second page directory mapping it to B: switch CR3 back
 *   and forth; patch A and B through an alias and call each again; then the
 *   same linear address run at ring 3 with each mapping.
 */
#include "attack.h"

static uint32_t pd[1024] PAGE, pd2[1024] PAGE;
static uint32_t pt0[1024] PAGE;
static uint32_t pt_alias[1024] PAGE;    /* 0x40000000: supervisor alias of 0-4 MiB */
static uint32_t pt_code[1024] PAGE, pt_code2[1024] PAGE;  /* 0x00c00000 */

#define ALIAS(a)  (0x40000000u + (uint32_t)(a))
#define REMAP 0x00c00000u

extern char page_a[], page_b[];
__asm__(".text\n"
        ".balign 4096\n"
        "page_a: movl $0xaaaa0000, %eax\n ret\n"
        ".balign 4096\n"
        "page_b: movl $0xbbbb0000, %eax\n ret\n"
        ".balign 4096\n");

typedef uint32_t (*fn_t)(void);
static uint32_t call(uint32_t addr)
{
    return ((fn_t)addr)();
}

static void step(const char *what, uint32_t got, uint32_t want)
{
    printf("%-58s %p\n", what, got);
    if (got != want) {
        printf("FAIL: expected %p\n", want);
        check_failures++;
    }
}

static uint32_t u_ret;
static void user_run(void)
{
    u_ret = call(REMAP);
    user_exit();
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic;
    (void)mbi;
    putln("attack_remap: one linear code address, its mapping changed under it");
    attack_init();
    identity_map(pd, pt0);
    for (int i = 0; i < 1024; i++)
        pt_alias[i] = ((uint32_t)i << 12) | PG_P | PG_RW;
    pd[256] = (uint32_t)pt_alias | PG_P | PG_RW | PG_US;
    pd[3] = (uint32_t)pt_code | PG_P | PG_RW | PG_US;
    pt_code[0] = (uint32_t)page_a | PG_P | PG_RW | PG_US;
    for (int i = 0; i < 1024; i++)
        pd2[i] = pd[i];
    pd2[3] = (uint32_t)pt_code2 | PG_P | PG_RW | PG_US;
    pt_code2[0] = (uint32_t)page_b | PG_P | PG_RW | PG_US;
    paging_on(pd);

    step("0x00c00000 -> frame A", call(REMAP), 0xaaaa0000);
    pt_code[0] = (uint32_t)page_b | PG_P | PG_RW | PG_US;
    invlpg(REMAP);
    step("PTE -> frame B, invlpg", call(REMAP), 0xbbbb0000);
    pt_code[0] = (uint32_t)page_a | PG_P | PG_RW | PG_US;
    write_cr3(read_cr3());
    step("PTE -> frame A, mov cr3", call(REMAP), 0xaaaa0000);
    write_cr3((uint32_t)pd2);
    step("CR3 = second directory (frame B)", call(REMAP), 0xbbbb0000);
    write_cr3((uint32_t)pd);
    step("CR3 = first directory (frame A)", call(REMAP), 0xaaaa0000);
    V32(ALIAS(page_a) + 1) = 0xaaaa1111;
    step("frame A patched through the alias", call(REMAP), 0xaaaa1111);
    write_cr3((uint32_t)pd2);
    V32(ALIAS(page_b) + 1) = 0xbbbb1111;
    step("frame B patched through the alias (second directory)", call(REMAP), 0xbbbb1111);
    write_cr3((uint32_t)pd);

    ring3(user_run);
    step("ring 3 runs 0x00c00000 (frame A)", u_ret, 0xaaaa1111);
    write_cr3((uint32_t)pd2);
    ring3(user_run);
    step("ring 3 runs 0x00c00000 (second directory: frame B)", u_ret, 0xbbbb1111);
    write_cr3((uint32_t)pd);
    step("ring 0 runs it (frame A)", call(REMAP), 0xaaaa1111);
    printf("%u faults caught\n", nfaults);
    done();
}

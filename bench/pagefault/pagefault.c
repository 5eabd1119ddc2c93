/* pagefault -- demand paging: touch every page of a 64-page window (each touch a
 * #PF whose handler maps the page), read them back, unmap them all (PTE cleared,
 * invlpg), again.  Under the monitor: true faults reflected to the guest, hidden
 * faults filling the shadow, traced page-table writes. */
#include "bench.h"

#define ROUNDS 120u
#define PAGES 64u
#define WINDOW 0x02000000u              /* 32 MiB: linear, not identity-mapped */
#define FRAMES 0x01400000u              /* 20 MiB: the physical frames behind it */
#define PD ((uint32_t *)0x00400000)
#define WPT ((uint32_t *)0x00410000)    /* the window's page table */

static volatile uint32_t faults;

static void on_pf(struct regs *r)
{
    uint32_t va = read_cr2();
    if ((va & ~0x3fffffu) != WINDOW || (r->error & 1)) {
        printf("unexpected #PF at 0x%08x err 0x%x eip 0x%08x\n", va, r->error, r->eip);
        exit(0x7e);
    }
    uint32_t k = (va - WINDOW) >> 12;
    WPT[k] = (FRAMES + (k << 12)) | PTE_P | PTE_W;
    faults++;
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    idt_init();
    set_handler(14, on_pf);
    memset(WPT, 0, 4096);
    bench_paging_on(PD, 16);
    PD[WINDOW >> 22] = (uint32_t)WPT | PTE_P | PTE_W;
    uint32_t s = 0;
    for (uint32_t r = 0; r < ROUNDS; r++) {
        for (uint32_t k = 0; k < PAGES; k++)
            *(volatile uint32_t *)(WINDOW + (k << 12) + (r & 1023) * 4) = r * PAGES + k;
        for (uint32_t k = 0; k < PAGES; k++)
            s = s * 33 + *(volatile uint32_t *)(WINDOW + (k << 12) + (r & 1023) * 4);
        for (uint32_t k = 0; k < PAGES; k++) {
            WPT[k] = 0;
            invlpg(WINDOW + (k << 12));
        }
    }
    check_eq("page faults taken", faults, ROUNDS * PAGES);
    bench_done("pagefault", s ^ faults);
}

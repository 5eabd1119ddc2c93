/* ptemod -- a kernel rewriting one PTE in a loop (point a window page at the next
 * of 8 frames, invlpg, read through it): the store pattern VMware's adaptive
 * binary translation was built for.  Under the monitor the page table is traced:
 * the store faults until it is retranslated into a callout. */
#include "bench.h"

#define ITERS 60000u
#define WINDOW 0x02000000u
#define FRAMES 0x01400000u
#define PD ((uint32_t *)0x00400000)
#define WPT ((uint32_t *)0x00410000)

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    idt_init();
    for (uint32_t f = 0; f < 8; f++)
        *(volatile uint32_t *)(FRAMES + (f << 12)) = 0x1000193u * (f + 1);
    memset(WPT, 0, 4096);
    bench_paging_on(PD, 16);
    PD[WINDOW >> 22] = (uint32_t)WPT | PTE_P | PTE_W;
    volatile uint32_t *pte = &WPT[0];
    uint32_t s = 0, direct = 0;
    for (uint32_t i = 0; i < ITERS; i++) {
        *pte = (FRAMES + ((i & 7) << 12)) | PTE_P | PTE_W;
        invlpg(WINDOW);
        s = s * 31 + *(volatile uint32_t *)WINDOW;
        direct = direct * 31 + 0x1000193u * ((i & 7) + 1);
    }
    check_eq("every read saw the frame just mapped", s, direct);
    bench_done("ptemod", s);
}

/* ctxswitch -- CR3 switches between four address spaces that share the kernel's
 * page tables and map one window page to a different frame each; read through
 * the window after each switch.  Under the monitor: one shadow root per guest CR3
 * (kept, LRU), every mov to CR3 a callout. */
#include "bench.h"

#define ITERS 50000u
#define SPACES 4u
#define WINDOW 0x02000000u
#define FRAMES 0x01400000u
#define PDS 0x00400000u                 /* 4 page directories, then the shared tables */

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    idt_init();
    uint32_t *pd[SPACES];
    for (uint32_t a = 0; a < SPACES; a++) {
        pd[a] = (uint32_t *)(PDS + 0x100000u * a);
        bench_paging_on(pd[a], 16);
        uint32_t *wpt = pd[a] + 1024 * 8;   /* past its 4 identity tables */
        memset(wpt, 0, 4096);
        wpt[0] = (FRAMES + (a << 12)) | PTE_P | PTE_W;
        pd[a][WINDOW >> 22] = (uint32_t)wpt | PTE_P | PTE_W;
    }
    write_cr3((uint32_t)pd[0]);
    for (uint32_t a = 0; a < SPACES; a++) {         /* through each space's own window */
        write_cr3((uint32_t)pd[a]);
        *(volatile uint32_t *)WINDOW = 0x9e3779b9u * (a + 1);
    }
    uint32_t s = 0, direct = 0;
    for (uint32_t i = 0; i < ITERS; i++) {
        uint32_t a = (i ^ (i >> 2)) & (SPACES - 1);
        write_cr3((uint32_t)pd[a]);
        s = s * 31 + *(volatile uint32_t *)WINDOW;
        direct = direct * 31 + 0x9e3779b9u * (a + 1);
    }
    check_eq("every read saw its own space's frame", s, direct);
    bench_done("ctxswitch", s);
}

/*
 * pcunix/kernel/kalloc.c -- the physical page allocator: a free list of
 * 4-KiB pages between the end of the kernel and the top of RAM (from the
 * multiboot mem_upper), addressed through the kernel's direct map.
 */
#include "defs.h"
#include "mmu.h"

struct run { struct run *next; };
static struct run *freelist;
static uint32_t nfree;

static void push_page(void *v)
{
    struct run *r = v;
    r->next = freelist;
    freelist = r;
    nfree++;
}

void kfree(void *v)
{
    if ((uint32_t)v % PGSIZE || V2P(v) >= memtop)
        panic("kfree %x", (uint32_t)v);
    memset(v, 0x5A, PGSIZE);            /* stale data shows up, not hides */
    push_page(v);
}

void kinit(uint32_t start_pa, uint32_t end_pa)
{
    for (uint32_t pa = PGROUNDUP(start_pa); pa + PGSIZE <= end_pa; pa += PGSIZE)
        push_page(P2V(pa));
}

/* one zeroed page, or 0 */
void *kalloc(void)
{
    struct run *r = freelist;
    if (!r)
        return 0;
    freelist = r->next;
    nfree--;
    memset(r, 0, PGSIZE);
    return r;
}

uint32_t kfree_pages(void)
{
    return nfree;
}

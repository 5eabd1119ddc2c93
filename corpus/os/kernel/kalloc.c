/*
 * corpus/os/kernel/kalloc.c -- physical memory: a free list of 4 KiB pages,
 * handed out by kernel virtual address (the direct map).  Single CPU,
 * interrupts off in the kernel: no lock.
 */
#include "defs.h"

struct run {
    struct run *next;
};

static struct run *freelist;
static uint32_t nfree;

/* Add the pages of [start_va, end_va) to the free list. */
void kinit(uint32_t start_va, uint32_t end_va)
{
    for (uint32_t va = PGROUNDUP(start_va); va + PGSIZE <= end_va; va += PGSIZE)
        kfree((void *)va);
}

void kfree(void *page)
{
    struct run *r = page;
    if ((uint32_t)page % PGSIZE || (uint32_t)page < KERNLINK)
        panic("kfree 0x%x", (uint32_t)page);
    r->next = freelist;
    freelist = r;
    nfree++;
}

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

/*
 * corpus/os/kernel/vm.c -- page tables (IA-32 32-bit paging with 4 KiB
 * pages, SDM vol. 3A 4.3): the kernel's direct map, the device pages, and
 * the user half of each process's address space.
 *
 * Every page directory shares the kernel's page tables for PDEs 768..1023
 * (they are all created here at boot, before the first process), so the
 * kernel half is the same in every address space and a switch of CR3
 * changes only the user half.
 */
#include "defs.h"
#include "proc.h"
#include "x86.h"

static pde_t *kpgdir;
static uint32_t phys_top;               /* end of the direct map (RAM and firmware tables) */

/* The PTE for va, creating its page table if `alloc`; 0 if absent. */
static pte_t *walk(pde_t *pgdir, uint32_t va, int alloc)
{
    pde_t *pde = &pgdir[PDX(va)];
    pte_t *pt;
    if (*pde & PTE_P) {
        pt = P2V(PTE_ADDR(*pde));
    } else {
        if (!alloc || !(pt = kalloc()))
            return 0;
        /* The PTEs decide; the directory entry allows everything of its half. */
        *pde = V2P(pt) | PTE_P | PTE_W | (va < KERNBASE ? PTE_U : 0);
    }
    return &pt[PTX(va)];
}

static int map(pde_t *pgdir, uint32_t va, uint32_t pa, uint32_t size, uint32_t perm)
{
    for (uint32_t off = 0; off < size; off += PGSIZE) {
        pte_t *pte = walk(pgdir, va + off, 1);
        if (!pte)
            return -1;
        *pte = (pa + off) | perm | PTE_P;
    }
    return 0;
}

/* Map all RAM at KERNBASE and create the page table of the device region,
 * then switch to it: the boot page directory (entry.S) is done with. */
void kvm_init(uint32_t map_top, uint32_t ram_top)
{
    if (ram_top < 0x800000)
        panic("%u KiB of memory is too little (8 MiB needed)", ram_top / 1024);
    phys_top = PGROUNDUP(map_top);
    if (!(kpgdir = kalloc()) || map(kpgdir, KERNBASE, 0, phys_top, PTE_W) < 0
        || !walk(kpgdir, DEVSPACE, 1))
        panic("kvm_init: out of memory");
    kvm_switch();
}

void kvm_switch(void)
{
    lcr3(V2P(kpgdir));
}

/* A device's register page, mapped at its own physical address, uncached
 * (PCD | PWT) and kernel-only.  Boot time only: every later page directory
 * copies the kernel's PDEs. */
void *kvm_map_device(uint32_t pa)
{
    if (pa < KERNBASE + PHYS_LIMIT || pa >= 0xFFC00000 || pa % 16)
        panic("device registers at 0x%x: outside the device region", pa);
    if (map(kpgdir, PGROUNDDOWN(pa), PGROUNDDOWN(pa), PGSIZE, PTE_W | PTE_PCD | PTE_PWT) < 0)
        panic("kvm_map_device: out of memory");
    __asm__ volatile("invlpg (%0)" :: "r"(pa) : "memory");
    return (void *)pa;
}

/* Physical memory [pa, pa+len) seen through the direct map, or 0. */
void *phys_map(uint32_t pa, uint32_t len)
{
    if (pa + len < pa || pa + len > phys_top)
        return 0;
    return P2V(pa);
}

pde_t *uvm_create(void)
{
    pde_t *pgdir = kalloc();
    if (pgdir)
        memcpy(&pgdir[PDX(KERNBASE)], &kpgdir[PDX(KERNBASE)],
               (1024 - PDX(KERNBASE)) * sizeof(pde_t));
    return pgdir;
}

/* Give [start, end) fresh zeroed pages with `perm` (PTE_U | maybe PTE_W);
 * pages already mapped are kept (two ELF segments may share one). */
int uvm_alloc(pde_t *pgdir, uint32_t start, uint32_t end, uint32_t perm)
{
    for (uint32_t va = PGROUNDDOWN(start); va < end; va += PGSIZE) {
        pte_t *pte = walk(pgdir, va, 1);
        if (!pte)
            return -1;
        if (*pte & PTE_P) {
            *pte |= perm;
            continue;
        }
        void *page = kalloc();
        if (!page)
            return -1;
        *pte = V2P(page) | perm | PTE_P;
    }
    return 0;
}

/* Free the pages of [start, end) (both page-aligned). */
void uvm_dealloc(pde_t *pgdir, uint32_t start, uint32_t end)
{
    for (uint32_t va = start; va < end; va += PGSIZE) {
        pte_t *pte = walk(pgdir, va, 0);
        if (pte && (*pte & PTE_P)) {
            kfree(P2V(PTE_ADDR(*pte)));
            *pte = 0;
        }
    }
}

/* The user half of pgdir copied page by page (fork), or 0. */
pde_t *uvm_copy(pde_t *pgdir)
{
    pde_t *copy = uvm_create();
    if (!copy)
        return 0;
    for (uint32_t i = 0; i < PDX(KERNBASE); i++) {
        if (!(pgdir[i] & PTE_P))
            continue;
        pte_t *pt = P2V(PTE_ADDR(pgdir[i]));
        for (uint32_t j = 0; j < 1024; j++) {
            if (!(pt[j] & PTE_P))
                continue;
            uint32_t va = (i << 22) | (j << 12);
            void *page = kalloc();
            pte_t *pte = page ? walk(copy, va, 1) : 0;
            if (!pte) {
                if (page)
                    kfree(page);
                uvm_free(copy);
                return 0;
            }
            memcpy(page, P2V(PTE_ADDR(pt[j])), PGSIZE);
            *pte = V2P(page) | (pt[j] & (PTE_W | PTE_U)) | PTE_P;
        }
    }
    return copy;
}

/* Free the user pages, the user page tables and the directory itself. */
void uvm_free(pde_t *pgdir)
{
    for (uint32_t i = 0; i < PDX(KERNBASE); i++) {
        if (!(pgdir[i] & PTE_P))
            continue;
        pte_t *pt = P2V(PTE_ADDR(pgdir[i]));
        for (uint32_t j = 0; j < 1024; j++)
            if (pt[j] & PTE_P)
                kfree(P2V(PTE_ADDR(pt[j])));
        kfree(pt);
    }
    kfree(pgdir);
}

/* Run p: its kernel stack for traps from ring 3, its address space. */
void uvm_switch(struct proc *p)
{
    tss_set_kstack((uint32_t)p->kstack + KSTACKSIZE);
    lcr3(V2P(p->pgdir));
}

/* Kernel address of the user byte at va, if ring 3 may access it (and
 * write it, if `write`); else 0. */
void *uvm_lookup(pde_t *pgdir, uint32_t va, int write)
{
    if (va >= KERNBASE)
        return 0;
    pte_t *pte = walk(pgdir, va, 0);
    uint32_t need = PTE_P | PTE_U | (write ? PTE_W : 0);
    if (!pte || (*pte & need) != need)
        return 0;
    return (char *)P2V(PTE_ADDR(*pte)) + (va & (PGSIZE - 1));
}

/* Copy into another address space (exec builds the new stack this way). */
int copyout(pde_t *pgdir, uint32_t va, const void *src, uint32_t n)
{
    const char *s = src;
    while (n) {
        char *dst = uvm_lookup(pgdir, va, 1);
        if (!dst)
            return -1;
        uint32_t k = PGSIZE - (va & (PGSIZE - 1));
        if (k > n)
            k = n;
        memcpy(dst, s, k);
        s += k, va += k, n -= k;
    }
    return 0;
}

/* May the running process's system call read (or write) [va, va+n)?
 * The kernel then accesses it directly: the process's page directory is
 * the one loaded. */
int user_range_ok(uint32_t va, uint32_t n, int write)
{
    if (va + n < va || va + n > KERNBASE)
        return 0;
    for (uint32_t p = PGROUNDDOWN(va); p < va + n; p += PGSIZE)
        if (!uvm_lookup(curproc->pgdir, p, write))
            return 0;
    return 1;
}

/* Length of the user string at s if it is readable and shorter than max,
 * else -1. */
int user_string_ok(const char *s, uint32_t max)
{
    uint32_t va = (uint32_t)s;
    for (uint32_t i = 0; i < max; i++) {
        if (i == 0 || ((va + i) & (PGSIZE - 1)) == 0)
            if (!uvm_lookup(curproc->pgdir, va + i, 0))
                return -1;
        if (s[i] == 0)
            return (int)i;
    }
    return -1;
}

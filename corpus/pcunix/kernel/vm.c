/*
 * pcunix/kernel/vm.c -- page tables (SDM vol. 3A 4.3, 32-bit paging with
 * 4-KiB pages).
 *
 * The kernel page directory maps physical memory at KERNBASE with global
 * pages (CR4.PGE), kernel text and rodata read-only (CR0.WP holds the
 * kernel to that too), and device registers 1:1, uncached.  Every process
 * has its own page directory: the same kernel half (its page tables are
 * shared, built once at boot) and its own user half below KERNBASE.
 */
#include "defs.h"
#include "mmu.h"
#include "x86.h"

extern char etext[];
static uint32_t *kpgdir;
uint32_t memtop;                        /* end of usable RAM (physical) */
uint32_t direct_end;                    /* end of the physical range mapped at KERNBASE */

/* the PTE for va, making its page table if asked */
static uint32_t *walkpgdir(uint32_t *pgdir, uint32_t va, int create, uint32_t pde_flags)
{
    uint32_t *pde = &pgdir[PDX(va)];
    if (!(*pde & PTE_P)) {
        if (!create)
            return 0;
        uint32_t *pt = kalloc();
        if (!pt)
            return 0;
        *pde = V2P(pt) | PTE_P | PTE_W | pde_flags;
    }
    return &((uint32_t *)P2V(PTE_ADDR(*pde)))[PTX(va)];
}

void kvminit(uint32_t direct_map_end)
{
    kpgdir = kalloc();
    if (!kpgdir)
        panic("kvminit: no memory");
    for (uint32_t pa = 0; pa < direct_map_end; pa += PGSIZE) {
        uint32_t va = KERNBASE + pa;
        uint32_t *pte = walkpgdir(kpgdir, va, 1, 0);
        if (!pte)
            panic("kvminit: no memory");
        int text = va >= KERNLINK && va < (uint32_t)etext;
        *pte = pa | PTE_P | PTE_G | (text ? 0 : PTE_W);
    }
    direct_end = direct_map_end;
    lcr3(V2P(kpgdir));
    lcr4(rcr4() | CR4_PGE);
}

/* a device's register page, mapped 1:1 above DEVSPACE (before any process
 * exists: process page directories copy the kernel half when made) */
void map_mmio(uint32_t pa)
{
    if (pa < DEVSPACE)
        panic("device registers at %x, below %x", pa, DEVSPACE);
    uint32_t *pte = walkpgdir(kpgdir, PGROUNDDOWN(pa), 1, 0);
    if (!pte)
        panic("map_mmio: no memory");
    *pte = PGROUNDDOWN(pa) | PTE_P | PTE_W | PTE_PCD | PTE_PWT | PTE_G;
    asm volatile("invlpg (%0)" :: "r"(pa) : "memory");
}

uint32_t *setupuvm(void)
{
    uint32_t *pgdir = kalloc();
    if (pgdir)
        memcpy(&pgdir[PDX(KERNBASE)], &kpgdir[PDX(KERNBASE)], (1024 - PDX(KERNBASE)) * 4);
    return pgdir;
}

/* user pages for [va, va+len), zeroed; an existing page gains W if asked */
int allocuvm(uint32_t *pgdir, uint32_t va, uint32_t len, int writable)
{
    if (va < USERBASE || va + len < va || va + len > USTACKTOP)
        return -1;
    for (uint32_t a = PGROUNDDOWN(va); a < va + len; a += PGSIZE) {
        uint32_t *pte = walkpgdir(pgdir, a, 1, PTE_U);
        if (!pte)
            return -1;
        if (!(*pte & PTE_P)) {
            void *page = kalloc();
            if (!page)
                return -1;
            *pte = V2P(page) | PTE_P | PTE_U;
        }
        if (writable)
            *pte |= PTE_W;
    }
    return 0;
}

void freeuvm(uint32_t *pgdir)
{
    for (uint32_t i = 0; i < PDX(KERNBASE); i++) {
        if (!(pgdir[i] & PTE_P))
            continue;
        uint32_t *pt = P2V(PTE_ADDR(pgdir[i]));
        for (int j = 0; j < 1024; j++)
            if (pt[j] & PTE_P)
                kfree(P2V(PTE_ADDR(pt[j])));
        kfree(pt);
    }
    kfree(pgdir);
}

void switchuvm(struct proc *p)
{
    tss_set_esp0((uint32_t)p->kstack + PGSIZE);
    lcr3(V2P(p->pgdir));
}

void switchkvm(void)
{
    lcr3(V2P(kpgdir));
}

/* the kernel address of user address va in pgdir, if mapped for ring 3 */
static uint8_t *uva2ka(uint32_t *pgdir, uint32_t va, int write)
{
    if (va >= KERNBASE)
        return 0;
    uint32_t *pte = walkpgdir(pgdir, va, 0, 0);
    uint32_t need = PTE_P | PTE_U | (write ? PTE_W : 0);
    if (!pte || (*pte & need) != need)
        return 0;
    return (uint8_t *)P2V(PTE_ADDR(*pte)) + (va & (PGSIZE - 1));
}

static int copy(uint32_t *pgdir, uint32_t va, uint8_t *k, uint32_t n, int to_user)
{
    while (n) {
        uint8_t *p = uva2ka(pgdir, va, to_user);
        if (!p)
            return -1;
        uint32_t chunk = PGSIZE - (va & (PGSIZE - 1));
        if (chunk > n)
            chunk = n;
        if (to_user)
            memcpy(p, k, chunk);
        else
            memcpy(k, p, chunk);
        va += chunk, k += chunk, n -= chunk;
    }
    return 0;
}

int copyout(uint32_t *pgdir, uint32_t va, const void *src, uint32_t n)
{
    return copy(pgdir, va, (uint8_t *)src, n, 1);
}

int copyin(uint32_t *pgdir, void *dst, uint32_t va, uint32_t n)
{
    return copy(pgdir, va, dst, n, 0);
}

/* a NUL-terminated user string into dst[max]: its length, or -1 */
int fetchstr(uint32_t *pgdir, uint32_t va, char *dst, int max)
{
    for (int i = 0; i < max; i++) {
        uint8_t *p = uva2ka(pgdir, va + i, 0);
        if (!p)
            return -1;
        dst[i] = (char)*p;
        if (!*p)
            return i;
    }
    return -1;
}

/* n bytes of file ino from off into pgdir's pages at va (allocated by
 * allocuvm; read-only ones too: this is how text gets there) */
int loaduvm(uint32_t *pgdir, uint32_t va, int ino, uint32_t off, uint32_t n)
{
    while (n) {
        uint32_t *pte = walkpgdir(pgdir, va, 0, 0);
        if (!pte || !(*pte & PTE_P))
            return -1;
        uint32_t chunk = PGSIZE - (va & (PGSIZE - 1));
        if (chunk > n)
            chunk = n;
        uint8_t *k = (uint8_t *)P2V(PTE_ADDR(*pte)) + (va & (PGSIZE - 1));
        if (fs_read(ino, off, k, chunk) != (int)chunk)
            return -1;
        va += chunk, off += chunk, n -= chunk;
    }
    return 0;
}

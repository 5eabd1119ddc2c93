/* mm.c -- physical frames, kernel heap, and process address spaces.
 *
 * All of RAM is mapped at KBASE (4 MiB pages, supervisor only) in every page
 * directory, as Linux's direct map.  User space is [0, USER_TOP): a sorted list
 * of areas (vma) and two-level page tables filled on demand from page faults:
 * zero-filled anonymous pages, and copy-on-write after fork (PTE_COW marks a
 * page read-only because it is shared, not because its area is).
 *
 * Frames are zeroed by the guest itself when allocated: the stores also drop
 * whatever translated code the emulated CPU kept for the frame's old contents
 * (the host's writes into guest RAM do not), so a program image the host
 * reads into fresh frames never runs stale code.
 */
#include "kernel.h"

static u8 *used;        /* one byte per frame: 0 free, else a reference count (max 255) */
static u32 nframes, hint, nfree;
static u32 kernel_pd[1024] __attribute__((aligned(4096)));

u32 frames_free(void) { return nfree; }
u32 frames_total(void) { return nframes; }

static u32 frame_take(u32 count)
{
    for (u32 pass = 0; pass < 2; pass++) {
        for (u32 i = pass ? 0 : hint; i + count <= nframes; i++) {
            u32 j = 0;
            while (j < count && !used[i + j])
                j++;
            if (j == count) {
                for (j = 0; j < count; j++)
                    used[i + j] = 1;
                hint = i + count;
                nfree -= count;
                return i * PAGE;
            }
            i += j;
        }
    }
    return 0;
}

u32 frame_alloc(void)
{
    u32 p = frame_take(1);
    if (p)
        memset(P2V(p), 0, PAGE);
    return p;
}

static void frame_ref(u32 phys)
{
    u32 i = phys / PAGE;
    if (used[i] == 255)
        panic("linuxk: frame 0x%x: too many references\n", phys);
    used[i]++;
}

static u32 frame_refs(u32 phys) { return used[phys / PAGE]; }

void frame_put(u32 phys)
{
    u32 i = phys / PAGE;
    if (!used[i])
        panic("linuxk: frame 0x%x freed twice\n", phys);
    if (!--used[i]) {
        nfree++;
        if (i < hint)
            hint = i;
    }
}

void mm_init(u32 ram, u32 kernel_end)
{
    nframes = ram / PAGE;
    if (nframes > (0x3FC00000u / PAGE))
        nframes = 0x3FC00000u / PAGE;   /* the direct map stops below the top 4 MiB */
    /* the direct map of all RAM, 4 MiB pages, supervisor only */
    for (u32 i = 0; i < (nframes * PAGE + 0x3FFFFF) / 0x400000; i++)
        kernel_pd[768 + i] = (i * 0x400000) | PTE_P | PTE_W | PTE_PS;
    load_cr3(V2P(kernel_pd));
    used = P2V(PGUP(kernel_end));
    u32 first_free = PGUP(V2P(used) + nframes);
    memset(used, 1, nframes);
    for (u32 i = first_free / PAGE; i < nframes; i++)
        used[i] = 0;
    nfree = nframes - first_free / PAGE;
    hint = first_free / PAGE;
}

/* ---- kernel heap: power-of-two classes from 16 to 2048 bytes, whole frames above */
struct chunk { struct chunk *next; };
static struct chunk *classes[8];

void *kalloc(u32 size)
{
    u32 need = size + 8;
    if (need > 2048) {
        u32 n = (need + PAGE - 1) / PAGE;
        u32 p = frame_take(n);
        if (!p)
            return NULL;
        u32 *h = P2V(p);
        h[0] = 0x80000000u | n;
        return h + 2;
    }
    int c = 0;
    while ((16u << c) < need)
        c++;
    if (!classes[c]) {
        u32 p = frame_take(1);
        if (!p)
            return NULL;
        u8 *page = P2V(p);
        for (u32 off = 0; off + (16u << c) <= PAGE; off += 16u << c) {
            struct chunk *ch = (struct chunk *)(page + off);
            ch->next = classes[c];
            classes[c] = ch;
        }
    }
    struct chunk *ch = classes[c];
    classes[c] = ch->next;
    u32 *h = (u32 *)ch;
    h[0] = c;
    memset(h + 2, 0, size);
    return h + 2;
}

void kfree(void *p)
{
    if (!p)
        return;
    u32 *h = (u32 *)p - 2;
    if (h[0] & 0x80000000u) {
        u32 n = h[0] & 0xFFFF, phys = V2P(h);
        for (u32 i = 0; i < n; i++)
            frame_put(phys + i * PAGE);
        return;
    }
    struct chunk *ch = (struct chunk *)h;
    ch->next = classes[h[0]];
    classes[h[0]] = ch;
}

/* ---- page tables */
static u32 *pte_of(u32 *pd, u32 va, int create)
{
    u32 *pde = &pd[va >> 22];
    if (!(*pde & PTE_P)) {
        if (!create)
            return NULL;
        u32 pt = frame_alloc();
        if (!pt)
            return NULL;
        *pde = pt | PTE_P | PTE_W | PTE_U;
    }
    u32 *pt = P2V(*pde & ~0xFFFu);
    return &pt[(va >> 12) & 1023];
}

struct mm *mm_new(void)
{
    struct mm *mm = kalloc(sizeof *mm);
    u32 pd = frame_alloc();
    if (!mm || !pd)
        panic("linuxk: out of memory for an address space\n");
    mm->pd = P2V(pd);
    memcpy(mm->pd + 768, kernel_pd + 768, 256 * 4);
    mm->refs = 1;
    return mm;
}

struct mm *mm_current_or_null;

void mm_switch(struct mm *mm)
{
    load_cr3(V2P(mm ? mm->pd : kernel_pd));
}

struct vma *vma_find(struct mm *mm, u32 addr)
{
    for (struct vma *v = mm->vmas; v; v = v->next)
        if (addr >= v->start && addr < v->end)
            return v;
    return NULL;
}

static void pte_drop(struct mm *mm, u32 start, u32 end)
{
    for (u32 va = start; va < end; va += PAGE) {
        if (!(mm->pd[va >> 22] & PTE_P)) {
            va = (va | 0x3FFFFF) - PAGE + 1;
            continue;
        }
        u32 *pte = pte_of(mm->pd, va, 0);
        if (pte && (*pte & PTE_P)) {
            frame_put(*pte & ~0xFFFu);
            *pte = 0;
            invlpg(va);
        }
    }
}

void mm_put(struct mm *mm)
{
    if (--mm->refs)
        return;
    for (struct vma *v = mm->vmas, *n; v; v = n) {
        n = v->next;
        pte_drop(mm, v->start, v->end);
        kfree(v);
    }
    for (int i = 0; i < 768; i++)
        if (mm->pd[i] & PTE_P)
            frame_put(mm->pd[i] & ~0xFFFu);
    frame_put(V2P(mm->pd));
    kfree(mm);
}

struct mm *mm_fork(struct mm *mm)
{
    struct mm *c = mm_new();
    c->brk_start = mm->brk_start;
    c->brk = mm->brk;
    struct vma **tail = &c->vmas;
    for (struct vma *v = mm->vmas; v; v = v->next) {
        struct vma *n = kalloc(sizeof *n);
        *n = *v;
        n->next = NULL;
        *tail = n;
        tail = &n->next;
        for (u32 va = v->start; va < v->end; va += PAGE) {
            if (!(mm->pd[va >> 22] & PTE_P)) {
                va = (va | 0x3FFFFF) - PAGE + 1;
                continue;
            }
            u32 *pte = pte_of(mm->pd, va, 0);
            if (!pte || !(*pte & PTE_P))
                continue;
            if (*pte & (PTE_W | PTE_COW))
                *pte = (*pte & ~PTE_W) | PTE_COW;
            frame_ref(*pte & ~0xFFFu);
            *pte_of(c->pd, va, 1) = *pte;
        }
    }
    load_cr3(V2P(cur->mm->pd));     /* the parent's pages are read-only now */
    return c;
}

/* Resolve a fault at addr in mm: demand-zero, copy-on-write; -EFAULT if the
 * access is not allowed by the area (or there is none). */
int mm_fault(struct mm *mm, u32 addr, int write)
{
    struct vma *v = vma_find(mm, addr);
    if (!v)
        return -EFAULT;
    if (write ? !(v->prot & PROT_WRITE) : !(v->prot & (PROT_READ | PROT_EXEC | PROT_WRITE)))
        return -EFAULT;
    u32 va = PGDOWN(addr);
    u32 *pte = pte_of(mm->pd, va, 1);
    if (!pte)
        return -ENOMEM;
    if (!(*pte & PTE_P)) {
        u32 f = frame_alloc();
        if (!f)
            return -ENOMEM;
        *pte = f | PTE_P | PTE_U | ((v->prot & PROT_WRITE) ? PTE_W : 0);
        return 0;
    }
    if (write && !(*pte & PTE_W)) {
        u32 old = *pte & ~0xFFFu;
        if (frame_refs(old) == 1) {
            *pte = (*pte | PTE_W) & ~PTE_COW;
        } else {
            u32 f = frame_alloc();
            if (!f)
                return -ENOMEM;
            memcpy(P2V(f), P2V(old), PAGE);
            frame_put(old);
            *pte = f | PTE_P | PTE_U | PTE_W;
        }
        invlpg(va);
    }
    return 0;
}

int user_phys(u32 va, int write, u32 *phys)
{
    if (va >= USER_TOP)
        return -EFAULT;
    struct mm *mm = cur->mm;
    u32 *pte = pte_of(mm->pd, va, 0);
    if (!pte || !(*pte & PTE_P) || (write && !(*pte & PTE_W))) {
        int e = mm_fault(mm, va, write);
        if (e < 0)
            return e;
        pte = pte_of(mm->pd, va, 0);
    } else if (!vma_find(mm, va)) {
        return -EFAULT;
    }
    *phys = (*pte & ~0xFFFu) | (va & 0xFFF);
    return 0;
}

int user_ok(u32 addr, u32 len, int write)
{
    if (!len)
        return 0;
    if (addr >= USER_TOP || len > USER_TOP - addr)
        return -EFAULT;
    u32 phys;
    for (u32 va = PGDOWN(addr); va < addr + len; va += PAGE)
        if (user_phys(va < addr ? addr : va, write, &phys) < 0)
            return -EFAULT;
    return 0;
}

int copy_from_user(void *dst, u32 src, u32 n)
{
    if (user_ok(src, n, 0) < 0)
        return -EFAULT;
    memcpy(dst, (void *)src, n);
    return 0;
}

int copy_to_user(u32 dst, const void *src, u32 n)
{
    if (user_ok(dst, n, 1) < 0)
        return -EFAULT;
    memcpy((void *)dst, src, n);
    return 0;
}

int clear_user(u32 dst, u32 n)
{
    if (user_ok(dst, n, 1) < 0)
        return -EFAULT;
    memset((void *)dst, 0, n);
    return 0;
}

/* length of the string copied, -EFAULT, or -ENAMETOOLONG when max bytes hold no NUL */
int strncpy_from_user(char *dst, u32 src, u32 max)
{
    for (u32 i = 0; i < max; i++) {
        if (i == 0 || ((src + i) & (PAGE - 1)) == 0)
            if (user_ok(src + i, 1, 0) < 0)
                return -EFAULT;
        dst[i] = *(char *)(src + i);
        if (!dst[i])
            return i;
    }
    return -ENAMETOOLONG;
}

/* ---- areas */
static void vma_insert(struct mm *mm, struct vma *n)
{
    struct vma **p = &mm->vmas;
    while (*p && (*p)->start < n->start)
        p = &(*p)->next;
    n->next = *p;
    *p = n;
    /* merge with equal neighbours (brk growth, adjacent anonymous maps) */
    for (struct vma *v = mm->vmas; v && v->next;) {
        struct vma *w = v->next;
        if (v->end == w->start && v->prot == w->prot && v->flags == w->flags) {
            v->end = w->end;
            v->next = w->next;
            kfree(w);
        } else {
            v = w;
        }
    }
}

int vma_unmap(struct mm *mm, u32 start, u32 end)
{
    struct vma **p = &mm->vmas;
    while (*p) {
        struct vma *v = *p;
        if (v->end <= start || v->start >= end) {
            p = &v->next;
            continue;
        }
        u32 s = v->start > start ? v->start : start, e = v->end < end ? v->end : end;
        pte_drop(mm, s, e);
        if (s == v->start && e == v->end) {
            *p = v->next;
            kfree(v);
            continue;
        }
        if (s == v->start) {
            v->start = e;
        } else if (e == v->end) {
            v->end = s;
        } else {
            struct vma *t = kalloc(sizeof *t);
            *t = *v;
            t->start = e;
            v->end = s;
            v->next = t;
        }
        p = &v->next;
    }
    return 0;
}

int vma_map(struct mm *mm, u32 start, u32 end, u32 prot, u32 flags)
{
    vma_unmap(mm, start, end);
    struct vma *n = kalloc(sizeof *n);
    if (!n)
        return -ENOMEM;
    n->start = start;
    n->end = end;
    n->prot = prot;
    n->flags = flags;
    vma_insert(mm, n);
    return 0;
}

static void pte_protect(struct mm *mm, u32 start, u32 end, u32 prot)
{
    for (u32 va = start; va < end; va += PAGE) {
        u32 *pte = pte_of(mm->pd, va, 0);
        if (!pte || !(*pte & PTE_P))
            continue;
        u32 f = *pte & ~0xFFFu;
        if (!(prot & PROT_WRITE))
            *pte &= ~PTE_W;
        else if (frame_refs(f) == 1)
            *pte = (*pte | PTE_W) & ~PTE_COW;
        else
            *pte = (*pte & ~PTE_W) | PTE_COW;
        invlpg(va);
    }
}

int vma_protect(struct mm *mm, u32 start, u32 end, u32 prot)
{
    for (u32 a = start; a < end;) {
        struct vma *v = vma_find(mm, a);
        if (!v)
            return -ENOMEM;
        u32 e = v->end < end ? v->end : end;
        if (v->prot != prot) {
            u32 flags = v->flags;
            /* split off [a, e) with the new protection */
            struct vma tmp = *v;
            struct vma **p = &mm->vmas;
            while (*p != v)
                p = &(*p)->next;
            *p = v->next;
            kfree(v);
            if (tmp.start < a) {
                struct vma *l = kalloc(sizeof *l);
                *l = tmp; l->end = a; vma_insert(mm, l);
            }
            if (tmp.end > e) {
                struct vma *r = kalloc(sizeof *r);
                *r = tmp; r->start = e; vma_insert(mm, r);
            }
            struct vma *m = kalloc(sizeof *m);
            m->start = a; m->end = e; m->prot = prot; m->flags = flags;
            vma_insert(mm, m);
            pte_protect(mm, a, e, prot);
        }
        a = e;
    }
    return 0;
}

/* lowest free gap of len bytes at or above hint (MMAP_BASE by default) */
u32 vma_gap(struct mm *mm, u32 len, u32 hint_addr)
{
    u32 a = hint_addr && hint_addr >= 0x10000 ? PGUP(hint_addr) : MMAP_BASE;
    for (;;) {
        if (a + len < a || a + len > USER_TOP - STACK_SIZE)
            return hint_addr ? vma_gap(mm, len, 0) : 0;
        struct vma *clash = NULL;
        for (struct vma *v = mm->vmas; v; v = v->next)
            if (v->start < a + len && a < v->end) {
                clash = v;
                break;
            }
        if (!clash)
            return a;
        a = clash->end;
    }
}

/* ---- system calls */
s32 sys_brk(u32 addr)
{
    struct mm *mm = cur->mm;
    if (addr < mm->brk_start)
        return mm->brk;
    u32 old = PGUP(mm->brk), new = PGUP(addr);
    if (new > old) {
        for (struct vma *v = mm->vmas; v; v = v->next)
            if (v->start < new && old < v->end && !(v->start == mm->brk_start && v->end == old))
                if (v->end > old)
                    return mm->brk;
        if (vma_map(mm, old, new, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS) < 0)
            return mm->brk;
    } else if (new < old) {
        vma_unmap(mm, new, old);
    }
    mm->brk = addr;
    return addr;
}

s32 sys_mmap(u32 addr, u32 len, u32 prot, u32 flags, s32 fd, u64 off)
{
    struct mm *mm = cur->mm;
    struct file *f = NULL;
    if (!len)
        return -EINVAL;
    if (!(flags & MAP_ANONYMOUS)) {
        f = fd_file(fd);
        if (!f)
            return -EBADF;
        if (f->type != F_HOST && f->type != F_ZERO)
            return -ENODEV;
        if ((flags & MAP_SHARED) && (prot & PROT_WRITE) && (f->flags & O_ACCMODE) == O_RDONLY)
            return -EACCES;
    }
    len = PGUP(len);
    if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
        if (addr & (PAGE - 1))
            return -EINVAL;
        if (addr >= USER_TOP || len > USER_TOP - addr)
            return -ENOMEM;
        if (flags & MAP_FIXED_NOREPLACE)
            for (struct vma *v = mm->vmas; v; v = v->next)
                if (v->start < addr + len && addr < v->end)
                    return -EEXIST;
    } else {
        addr = vma_gap(mm, len, addr);
        if (!addr)
            return -ENOMEM;
    }
    if (vma_map(mm, addr, addr + len, prot, flags & (MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS)) < 0)
        return -ENOMEM;
    if (f && f->type == F_HOST) {
        /* file contents are read in at once (private copy; writes never reach the host) */
        struct vma *v = vma_find(mm, addr);
        u32 save = v->prot;
        v->prot |= PROT_WRITE | PROT_READ;
        u32 phys;
        for (u32 va = addr; va < addr + len; va += PAGE) {
            if (user_phys(va, 1, &phys) < 0)
                break;
            s32 n = file_kread(f, P2V(phys), PAGE, off + (va - addr));
            if (n < (s32)PAGE)
                break;
        }
        v->prot = save;
        pte_protect(mm, addr, addr + len, save);
    }
    return addr;
}

s32 sys_munmap(u32 addr, u32 len)
{
    if (addr & (PAGE - 1) || !len || addr >= USER_TOP)
        return -EINVAL;
    vma_unmap(cur->mm, addr, PGUP(addr + len));
    return 0;
}

s32 sys_mprotect(u32 addr, u32 len, u32 prot)
{
    if (addr & (PAGE - 1))
        return -EINVAL;
    return vma_protect(cur->mm, addr, PGUP(addr + len), prot);
}

#define MREMAP_MAYMOVE 1
#define MREMAP_FIXED 2
s32 sys_mremap(u32 old, u32 oldlen, u32 newlen, u32 flags, u32 newaddr)
{
    struct mm *mm = cur->mm;
    (void)newaddr;
    if (old & (PAGE - 1) || !newlen || (flags & MREMAP_FIXED))
        return -EINVAL;
    oldlen = PGUP(oldlen);
    newlen = PGUP(newlen);
    struct vma *v = vma_find(mm, old);
    if (!v || old + oldlen > v->end)
        return -EFAULT;
    if (newlen <= oldlen) {
        vma_unmap(mm, old + newlen, old + oldlen);
        return old;
    }
    int free_after = old + newlen <= USER_TOP - STACK_SIZE;
    for (struct vma *w = mm->vmas; w && free_after; w = w->next)
        if (w != v && w->start < old + newlen && old + oldlen < w->end)
            free_after = 0;
    if (free_after && v->end == old + oldlen) {
        struct vma *n = kalloc(sizeof *n);
        *n = *v;
        n->start = old + oldlen;
        n->end = old + newlen;
        vma_insert(mm, n);
        return old;
    }
    if (!(flags & MREMAP_MAYMOVE))
        return -ENOMEM;
    u32 to = vma_gap(mm, newlen, 0);
    if (!to)
        return -ENOMEM;
    vma_map(mm, to, to + newlen, v->prot, v->flags);
    for (u32 off = 0; off < oldlen; off += PAGE) {
        u32 *src = pte_of(mm->pd, old + off, 0);
        if (src && (*src & PTE_P)) {
            *pte_of(mm->pd, to + off, 1) = *src;
            *src = 0;
            invlpg(old + off);
        }
    }
    vma_unmap(mm, old, old + oldlen);
    return to;
}

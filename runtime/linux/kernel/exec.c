/* exec.c -- execve: load a static i386 ELF executable (ET_EXEC, or a static PIE
 * at PIE_BASE) from the host file system into a fresh address space, build the
 * initial stack the i386 ABI specifies (argc, argv, envp, auxv), and enter it.
 * "#!" scripts run their interpreter.  Program segments are read in at once,
 * straight into the new frames (a few requests to the host per program).
 */
#include "kernel.h"

#define ARGBUF (256u * 1024)
#define MAXARGS 8192
#define PT_LOAD 1
#define PT_INTERP 3
#define PT_PHDR 6

struct ehdr { u8 ident[16]; u16 type, machine; u32 version, entry, phoff, shoff, flags;
              u16 ehsize, phentsize, phnum, shentsize, shnum, shstrndx; };
struct phdr { u32 type, offset, vaddr, paddr, filesz, memsz, flags, align; };

u32 host_uid, host_gid;

static s32 load_segment(struct mm *mm, struct file *f, struct phdr *ph, u32 base, u32 *mapped)
{
    u32 start = base + ph->vaddr, end = start + ph->memsz;
    if (end < start || end > USER_TOP - STACK_SIZE || ph->filesz > ph->memsz)
        return -ENOEXEC;
    u32 vs = PGDOWN(start), ve = PGUP(end);
    if (vs < *mapped)
        vs = *mapped;
    if (vs < ve && vma_map(mm, vs, ve, PROT_READ | PROT_WRITE, MAP_PRIVATE) < 0)
        return -ENOMEM;
    if (ve > *mapped)
        *mapped = ve;
    /* the file bytes [offset, offset + filesz) at start, in runs of pages per request */
    u32 va = start, fend = start + ph->filesz;
    while (va < fend) {
        struct hostreq *r = host_begin(H_PREAD);
        r->a[0] = f->host;
        r->a[1] = ph->offset + (va - start);
        u32 want = 0;
        while (va + want < fend && r->nseg < HOST_SEGS) {
            u32 a = va + want;
            if (mm_fault(mm, a, 1) < 0)
                return -ENOMEM;
            u32 *pd = mm->pd, *pt = P2V(pd[a >> 22] & ~0xFFFu);
            u32 phys = (pt[(a >> 12) & 1023] & ~0xFFFu) | (a & 0xFFF);
            u32 n = PAGE - (a & 0xFFF);
            if (n > fend - a)
                n = fend - a;
            r->seg[r->nseg].phys = phys;
            r->seg[r->nseg].len = n;
            r->nseg++;
            want += n;
        }
        s32 got = host_go(r);
        if (got < (s32)want)
            return got < 0 ? got : -EIO;
        va += want;
    }
    return 0;
}

/* copy [kbuf, kbuf + len) to user address ua of mm (not the current one) */
static int mm_write(struct mm *mm, u32 ua, const u8 *kbuf, u32 len)
{
    while (len) {
        if (mm_fault(mm, ua, 1) < 0)
            return -ENOMEM;
        u32 *pt = P2V(mm->pd[ua >> 22] & ~0xFFFu);
        u8 *dst = (u8 *)P2V(pt[(ua >> 12) & 1023] & ~0xFFFu) + (ua & 0xFFF);
        u32 n = PAGE - (ua & 0xFFF);
        if (n > len)
            n = len;
        memcpy(dst, kbuf, n);
        ua += n, kbuf += n, len -= n;
    }
    return 0;
}

static s32 build_stack(struct mm *mm, char *const *argv, int argc, char *const *envp, int envc,
                       const char *execfn, u32 *auxv, int nauxv, u32 *sp_out, u32 random_at)
{
    u32 strings = 0;
    for (int i = 0; i < argc; i++)
        strings += strlen(argv[i]) + 1;
    for (int i = 0; i < envc; i++)
        strings += strlen(envp[i]) + 1;
    strings += strlen(execfn) + 1 + 16 + 8;
    u32 ptrs = (1 + argc + 1 + envc + 1 + nauxv) * 4;
    u32 total = PGUP(strings + ptrs + 64);
    if (total > 1u << 20)
        return -E2BIG;
    u8 *img = kalloc(total);
    if (!img)
        return -ENOMEM;
    u32 top = USER_TOP, bottom = USER_TOP - total;
    u32 at = total;
#define PUSH_STR(s) ({ u32 _n = strlen(s) + 1; at -= _n; memcpy(img + at, s, _n); bottom + at; })
    at -= 4;                                   /* a NULL word at the very top, as Linux */
    u32 execfn_at = PUSH_STR(execfn);
    u32 *envs = kalloc(4 * (envc + 1)), *args = kalloc(4 * (argc + 1));
    for (int i = envc - 1; i >= 0; i--)
        envs[i] = PUSH_STR(envp[i]);
    for (int i = argc - 1; i >= 0; i--)
        args[i] = PUSH_STR(argv[i]);
    u32 platform_at = PUSH_STR("i686");
    at &= ~15u;
    at -= 16;
    u32 random_addr = bottom + at;
    struct hostreq *r = host_begin(H_RANDOM);
    host_seg(r, img + at, 16);
    host_go(r);
    for (int i = 0; i < nauxv; i += 2) {
        if (auxv[i] == 25)
            auxv[i + 1] = random_addr;
        if (auxv[i] == 31)
            auxv[i + 1] = execfn_at;
        if (auxv[i] == 15)
            auxv[i + 1] = platform_at;
    }
    (void)random_at;
    u32 words = 1 + argc + 1 + envc + 1 + nauxv;
    at = (at - words * 4) & ~15u;
    u32 *w = (u32 *)(img + at);
    *w++ = argc;
    for (int i = 0; i < argc; i++)
        *w++ = args[i];
    *w++ = 0;
    for (int i = 0; i < envc; i++)
        *w++ = envs[i];
    *w++ = 0;
    for (int i = 0; i < nauxv; i++)
        *w++ = auxv[i];
    kfree(envs);
    kfree(args);
    int e = mm_write(mm, bottom, img, total);
    kfree(img);
    if (e < 0)
        return e;
    *sp_out = bottom + at;
    (void)top;
    return 0;
}

static s32 exec_file(const char *abs, char *const *argv, int argc, char *const *envp, int envc,
                     struct regs *tf, int depth)
{
    struct file *f;
    s32 e = path_open(abs, O_RDONLY, &f);
    if (e < 0)
        return e;
    if (f->type != F_HOST) {
        file_put(f);
        return f->type == F_DIR ? -EACCES : -EACCES;
    }
    struct kstat st;
    if (file_stat(f, &st) < 0 || !(st.mode & 0111) || (st.mode & 0170000) != 0100000) {
        file_put(f);
        return -EACCES;
    }
    static u8 head[4096];
    s32 n = file_kread(f, head, sizeof head, 0);
    if (n >= 2 && head[0] == '#' && head[1] == '!') {
        file_put(f);
        if (depth > 4)
            return -ELOOP;
        /* #!interpreter [one argument] */
        char line[256];
        int i = 2, j = 0;
        while (i < n && (head[i] == ' ' || head[i] == '\t'))
            i++;
        while (i < n && head[i] != '\n' && j < 255)
            line[j++] = head[i++];
        line[j] = 0;
        while (j && (line[j - 1] == ' ' || line[j - 1] == '\t' || line[j - 1] == '\r'))
            line[--j] = 0;
        char *interp = line, *arg = NULL;
        for (char *c = line; *c; c++)
            if (*c == ' ' || *c == '\t') {
                *c++ = 0;
                while (*c == ' ' || *c == '\t')
                    c++;
                if (*c)
                    arg = c;
                break;
            }
        if (!*interp)
            return -ENOEXEC;
        char **nargv = kalloc(4 * (argc + 3));
        int k = 0;
        nargv[k++] = interp;
        if (arg)
            nargv[k++] = arg;
        nargv[k++] = (char *)abs;
        for (int a = 1; a < argc; a++)
            nargv[k++] = argv[a];
        char iabs[1024];
        e = path_absolute(interp, iabs, AT_FDCWD);
        if (e >= 0)
            e = exec_file(iabs, nargv, k, envp, envc, tf, depth + 1);
        kfree(nargv);
        return e;
    }
    struct ehdr *eh = (struct ehdr *)head;
    if (n < (s32)sizeof *eh || memcmp(eh->ident, "\x7f" "ELF", 4) || eh->ident[4] != 1
        || eh->machine != 3 || (eh->type != 2 && eh->type != 3) || eh->phentsize != 32
        || eh->phoff + eh->phnum * 32u > (u32)n) {
        file_put(f);
        return -ENOEXEC;
    }
    struct phdr *ph = (struct phdr *)(head + eh->phoff);
    for (int i = 0; i < eh->phnum; i++)
        if (ph[i].type == PT_INTERP) {
            kprintf("linuxk: %s is dynamically linked: only static programs run\n", abs);
            file_put(f);
            return -ENOEXEC;
        }
    u32 base = eh->type == 3 ? PIE_BASE : 0;
    struct mm *mm = mm_new();
    u32 mapped = 0, brk = 0, phdr_addr = 0, first = 1;
    for (int i = 0; i < eh->phnum; i++) {
        if (ph[i].type == PT_PHDR)
            phdr_addr = base + ph[i].vaddr;
        if (ph[i].type != PT_LOAD || !ph[i].memsz)
            continue;
        if (first && !phdr_addr)
            phdr_addr = base + ph[i].vaddr - ph[i].offset + eh->phoff;
        first = 0;
        e = load_segment(mm, f, &ph[i], base, &mapped);
        if (e < 0) {
            mm_put(mm);
            file_put(f);
            return e;
        }
        if (PGUP(base + ph[i].vaddr + ph[i].memsz) > brk)
            brk = PGUP(base + ph[i].vaddr + ph[i].memsz);
    }
    /* final protections of the segments */
    for (int i = 0; i < eh->phnum; i++) {
        if (ph[i].type != PT_LOAD || !ph[i].memsz)
            continue;
        u32 prot = (ph[i].flags & 4 ? PROT_READ : 0) | (ph[i].flags & 2 ? PROT_WRITE : 0)
                   | (ph[i].flags & 1 ? PROT_EXEC : 0);
        u32 s = PGDOWN(base + ph[i].vaddr), t = PGUP(base + ph[i].vaddr + ph[i].memsz);
        struct vma *v = vma_find(mm, s);
        if (v && (v->prot | prot) != v->prot)
            prot |= v->prot & ~(u32)PROT_WRITE;
        struct mm *save = cur->mm;
        cur->mm = mm;   /* vma_protect works on mm, frames through the direct map */
        vma_protect(mm, s, t, prot);
        cur->mm = save;
    }
    file_put(f);
    mm->brk_start = mm->brk = brk;
    vma_map(mm, USER_TOP - STACK_SIZE, USER_TOP, PROT_READ | PROT_WRITE, MAP_PRIVATE | VMA_STACK);
    u32 auxv[] = {3, phdr_addr, 4, 32, 5, eh->phnum, 6, PAGE, 7, 0, 8, 0, 9, base + eh->entry,
                  11, host_uid, 12, host_uid, 13, host_gid, 14, host_gid, 16, hwcap, 17, 100,
                  15, 0, 23, 0, 25, 0, 26, 0, 31, 0, 0, 0};
    u32 sp;
    e = build_stack(mm, argv, argc, envp, envc, abs, auxv, sizeof auxv / 4, &sp, 0);
    if (e < 0) {
        mm_put(mm);
        return e;
    }
    /* the point of no return */
    struct mm *old = cur->mm;
    cur->mm = mm;
    mm_switch(mm);
    if (old)
        mm_put(old);
    for (int i = 0; i < NFD; i++)
        if (cur->fd[i] && cur->cloexec[i]) {
            file_put(cur->fd[i]);
            cur->fd[i] = NULL;
            cur->cloexec[i] = 0;
        }
    for (int i = 1; i < NSIG; i++)
        if (cur->sa[i].handler != 1)
            cur->sa[i].handler = 0;
    cur->altstack[0] = cur->altstack[1] = cur->altstack[2] = 0;
    memset(cur->tls, 0, sizeof cur->tls);
    load_tls(cur);
    int len = strlen(abs);
    if (len > 255)
        len = 255;
    memcpy(cur->exe, abs, len);
    cur->exe[len] = 0;
    memset(cur->fpu, 0, 512);
    *(u16 *)cur->fpu = 0x37f;
    *(u32 *)(cur->fpu + 24) = 0x1f80;
    __asm__ volatile("fxrstor (%0)" :: "r"(cur->fpu) : "memory");
    if (cur->vfork_parent) {
        cur->vfork_done = 1;
        wakeup(cur);
        cur->vfork_parent = NULL;
    }
    memset(tf, 0, sizeof *tf);
    tf->eip = base + eh->entry;
    tf->esp = sp;
    tf->cs = UCODE;
    tf->ss = tf->ds = tf->es = UDATA;
    tf->eflags = 0x202;
    load_tls(cur);
    return 0;
}

s32 do_execve(const char *path, char *const *argv, int argc, char *const *envp, int envc,
              struct regs *tf)
{
    char abs[1024];
    s32 e = path_absolute(path, abs, AT_FDCWD);
    if (e < 0)
        return e;
    return exec_file(abs, argv, argc, envp, envc, tf, 0);
}

static int copy_strings(u32 uvec, char **out, int max, char **pool, char *end)
{
    int n = 0;
    if (!uvec)
        return 0;
    for (;;) {
        u32 p;
        if (copy_from_user(&p, uvec + 4 * n, 4) < 0)
            return -EFAULT;
        if (!p)
            return n;
        if (n >= max)
            return -E2BIG;
        int len = strncpy_from_user(*pool, p, end - *pool);
        if (len < 0)
            return len == -ENAMETOOLONG ? -E2BIG : len;
        out[n++] = *pool;
        *pool += len + 1;
    }
}

s32 sys_execve(u32 upath, u32 uargv, u32 uenvp, struct regs *tf)
{
    char *buf = kalloc(ARGBUF);
    char **argv = kalloc(4 * MAXARGS), **envp = kalloc(4 * MAXARGS);
    if (!buf || !argv || !envp) {
        kfree(buf); kfree(argv); kfree(envp);
        return -ENOMEM;
    }
    char *pool = buf, *end = buf + ARGBUF;
    s32 e = strncpy_from_user(pool, upath, 1024);
    char *path = pool;
    int argc = 0, envc = 0;
    if (e >= 0) {
        pool += e + 1;
        argc = copy_strings(uargv, argv, MAXARGS, &pool, end);
        e = argc;
    }
    if (e >= 0) {
        envc = copy_strings(uenvp, envp, MAXARGS, &pool, end);
        e = envc;
    }
    if (e >= 0 && !*path)
        e = -ENOENT;
    if (e >= 0)
        e = do_execve(path, argv, argc, envp, envc, tf);
    kfree(buf);
    kfree(argv);
    kfree(envp);
    return e;
}

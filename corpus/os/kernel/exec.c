/*
 * corpus/os/kernel/exec.c -- replace the running process's program with
 * an ELF32 i386 executable from the disk.
 *
 * The new address space is built completely beside the old one; only when
 * everything has been loaded does the process switch to it, so a failed
 * exec returns an error to a program that is still intact.  PT_LOAD
 * segments go where they ask to be (p_vaddr, at or above USERMIN and
 * below the user stack), text pages read-only, data and bss writable.
 *
 * The initial user stack, from USTACKTOP down (what user/crt0.S expects):
 *
 *     argument strings
 *     argv[argc] = 0, argv[argc-1] ... argv[0]
 *     argv                   <- esp + 4
 *     argc                   <- esp
 */
#include "../include/errno.h"
#include "defs.h"
#include "elf.h"
#include "proc.h"

#define MAXPHNUM 16

static int check_header(const struct elfhdr *eh)
{
    if (eh->magic != ELF_MAGIC || eh->class != ELFCLASS32 || eh->data != ELFDATA2LSB
        || eh->type != ET_EXEC || eh->machine != EM_386
        || eh->phentsize != sizeof(struct proghdr) || eh->phnum == 0 || eh->phnum > MAXPHNUM)
        return -ENOEXEC;
    return 0;
}

/* Copy segment ph of file ino into pgdir (its pages already allocated). */
static int load_segment(pde_t *pgdir, int ino, const struct proghdr *ph)
{
    for (uint32_t done = 0; done < ph->filesz;) {
        uint32_t va = ph->vaddr + done;
        uint32_t k = PGSIZE - (va & (PGSIZE - 1));
        if (k > ph->filesz - done)
            k = ph->filesz - done;
        /* The kernel fills the page through the direct map, so read-only
         * text pages can be loaded too. */
        void *kva = uvm_lookup(pgdir, va, 0);
        if (!kva || fs_read(ino, kva, ph->offset + done, k) != (int)k)
            return -ENOEXEC;
        done += k;
    }
    return 0;
}

/* Build argc, argv and the strings on the new stack; the new esp, or 0. */
static uint32_t push_args(pde_t *pgdir, char *const argv[], int argc)
{
    uint32_t sp = USTACKTOP, uargv[MAXARG + 1];
    for (int i = argc - 1; i >= 0; i--) {
        uint32_t len = strlen(argv[i]) + 1;
        sp -= len;
        if (copyout(pgdir, sp, argv[i], len) < 0)
            return 0;
        uargv[i] = sp;
    }
    uargv[argc] = 0;
    sp &= ~3u;
    sp -= (uint32_t)(argc + 1) * 4;
    if (copyout(pgdir, sp, uargv, (uint32_t)(argc + 1) * 4) < 0)
        return 0;
    uint32_t frame[2] = { (uint32_t)argc, sp };
    sp -= sizeof frame;
    if (copyout(pgdir, sp, frame, sizeof frame) < 0)
        return 0;
    return sp;
}

int exec(const char *path, char *const argv[])
{
    if (path[0] == '/')
        path++;
    int ino = fs_lookup(path);
    if (ino < 0)
        return ino;
    int argc = 0;
    uint32_t arglen = 0;
    for (; argv[argc]; argc++) {
        if (argc >= MAXARG)
            return -E2BIG;
        arglen += strlen(argv[argc]) + 1;
    }
    if (arglen > MAXARGLEN)
        return -E2BIG;

    struct elfhdr eh;
    if (fs_read(ino, &eh, 0, sizeof eh) != sizeof eh || check_header(&eh) < 0)
        return -ENOEXEC;
    pde_t *pgdir = uvm_create();
    if (!pgdir)
        return -ENOMEM;
    int err = -ENOEXEC;
    uint32_t image_end = USERMIN;
    for (int i = 0; i < eh.phnum; i++) {
        struct proghdr ph;
        if (fs_read(ino, &ph, eh.phoff + i * sizeof ph, sizeof ph) != sizeof ph)
            goto bad;
        if (ph.type != PT_LOAD || ph.memsz == 0)
            continue;
        uint32_t end = ph.vaddr + ph.memsz;
        if (ph.filesz > ph.memsz || ph.vaddr < USERMIN || end < ph.vaddr
            || end > USTACKTOP - USTACKSIZE - PGSIZE)
            goto bad;
        if (uvm_alloc(pgdir, ph.vaddr, end, PTE_U | ((ph.flags & PF_W) ? PTE_W : 0)) < 0) {
            err = -ENOMEM;
            goto bad;
        }
        if (load_segment(pgdir, ino, &ph) < 0)
            goto bad;
        if (end > image_end)
            image_end = end;
    }
    if (eh.entry < USERMIN || eh.entry >= image_end)
        goto bad;
    err = -ENOMEM;
    if (uvm_alloc(pgdir, USTACKTOP - USTACKSIZE, USTACKTOP, PTE_U | PTE_W) < 0)
        goto bad;
    uint32_t sp = push_args(pgdir, argv, argc);
    if (!sp)
        goto bad;

    /* Commit: from here on the old program is gone. */
    pde_t *old = curproc->pgdir;
    curproc->pgdir = pgdir;
    curproc->image_end = curproc->brk = PGROUNDUP(image_end);
    curproc->tf->eip = eh.entry;
    curproc->tf->esp = sp;
    strlcpy(curproc->name, path, sizeof curproc->name);
    uvm_switch(curproc);
    uvm_free(old);
    return 0;

bad:
    uvm_free(pgdir);
    return err;
}

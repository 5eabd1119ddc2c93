/*
 * pcunix/kernel/exec.c -- spawn(): a new process running an ELF program
 * from pcfs, in its own address space (System V ABI i386 supplement: the
 * ELF32 header and program headers; only PT_LOAD segments matter).
 *
 * The user stack, USTACKPAGES pages under USTACKTOP, starts as
 *   esp -> argc, argv, then argv[0..argc-1], NULL, then the strings,
 * which user/usys.S's _start hands to main(argc, argv).
 */
#include "defs.h"
#include "mmu.h"

struct elfhdr {
    uint8_t ident[16];                  /* 0x7F 'E' 'L' 'F', class 1 (32), data 1 (LE) */
    uint16_t type, machine;             /* 2 ET_EXEC, 3 EM_386 */
    uint32_t version, entry, phoff, shoff, flags;
    uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};

struct proghdr {
    uint32_t type, offset, vaddr, paddr, filesz, memsz, flags, align;
};

#define PT_LOAD 1
#define PF_W    2

int nspawned;

static int load(uint32_t *pgdir, int ino, uint32_t *entry)
{
    struct elfhdr eh;
    if (fs_read(ino, 0, &eh, sizeof eh) != sizeof eh || memcmp(eh.ident, "\177ELF\1\1", 6) ||
        eh.type != 2 || eh.machine != 3 || eh.phentsize != sizeof(struct proghdr) || eh.entry >= USTACKTOP)
        return -1;
    for (int i = 0; i < eh.phnum; i++) {
        struct proghdr ph;
        if (fs_read(ino, eh.phoff + i * sizeof ph, &ph, sizeof ph) != sizeof ph)
            return -1;
        if (ph.type != PT_LOAD || !ph.memsz)
            continue;
        if (ph.filesz > ph.memsz || allocuvm(pgdir, ph.vaddr, ph.memsz, ph.flags & PF_W) < 0 ||
            loaduvm(pgdir, ph.vaddr, ino, ph.offset, ph.filesz) < 0)
            return -1;
    }
    *entry = eh.entry;
    return 0;
}

/* lay out argc, argv and the strings at the top of the new stack */
static int push_args(uint32_t *pgdir, char *const argv[], int argc, uint32_t *esp)
{
    uint32_t sp = USTACKTOP, uargv[MAXARG + 1];
    for (int i = argc - 1; i >= 0; i--) {
        uint32_t n = strlen(argv[i]) + 1;
        sp = (sp - n) & ~3u;
        if (copyout(pgdir, sp, argv[i], n) < 0)
            return -1;
        uargv[i] = sp;
    }
    uargv[argc] = 0;
    sp -= (argc + 1) * 4;
    if (copyout(pgdir, sp, uargv, (argc + 1) * 4) < 0)
        return -1;
    uint32_t head[2] = { (uint32_t)argc, sp };
    sp -= sizeof head;
    if (copyout(pgdir, sp, head, sizeof head) < 0)
        return -1;
    *esp = sp;
    return 0;
}

int spawn(const char *name, char *const argv[], int argc)
{
    int ino = fs_lookup(name);
    if (ino < 0 || argc < 1 || argc > MAXARG)
        return -1;
    struct proc *p = allocproc();
    if (!p)
        return -1;
    uint32_t entry, esp;
    if (!(p->pgdir = setupuvm()) || load(p->pgdir, ino, &entry) < 0 ||
        allocuvm(p->pgdir, USTACKTOP - USTACKPAGES * PGSIZE, USTACKPAGES * PGSIZE, 1) < 0 ||
        push_args(p->pgdir, argv, argc, &esp) < 0) {
        freeproc(p);
        return -1;
    }
    strncpy_z(p->name, name, sizeof p->name);
    p->parent = curproc;
    for (int fd = 0; fd < 3; fd++)
        p->ofile[fd].type = FD_CONSOLE;

    struct trapframe *tf = p->tf;
    tf->cs = SEL(SEG_UCODE, DPL_USER);
    tf->ds = tf->es = tf->fs = tf->gs = tf->ss = SEL(SEG_UDATA, DPL_USER);
    tf->eflags = FL_IF | 0x2;           /* bit 1 is reserved, always 1 */
    tf->esp = esp;
    tf->eip = entry;
    p->state = RUNNABLE;
    nspawned++;
    return p->pid;
}

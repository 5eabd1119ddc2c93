/*
 * fault WHAT -- do something a user process may not, and be killed by the
 * kernel: "null" reads address 0 (not mapped), "kernel" writes the kernel
 * (mapped, supervisor only), "text" writes its own text at 0x400000
 * (mapped read-only), "cli" executes a privileged instruction (#GP at CPL 3
 * with IOPL 0).
 */
#include "user.h"

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    /* asm, not C: the compiler may turn a C null dereference into ud2 */
    if (!strcmp(what, "null"))
        asm volatile("movl 0x0, %%eax" ::: "eax", "memory");
    else if (!strcmp(what, "kernel"))
        asm volatile("movl $1, 0xc0100000" ::: "memory");
    else if (!strcmp(what, "text"))
        asm volatile("movl $1, 0x00400000" ::: "memory");
    else if (!strcmp(what, "cli"))
        asm volatile("cli");
    else
        printf("usage: fault null|kernel|text|cli\n");
    printf("fault: %s: survived\n", what);
    return 1;
}

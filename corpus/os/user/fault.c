/*
 * corpus/os/user/fault.c -- misbehave, to see the kernel contain it:
 *   fault          write through a null pointer (page not mapped)
 *   fault text     write into the program's own code (read-only page)
 *   fault kernel   read kernel memory (supervisor page)
 *   fault io       execute `in` at ring 3 (general protection)
 * The kernel kills the process and says why; the shell goes on.
 */
#include "ulib.h"

int main(int argc, char *argv[])
{
    const char *what = argc > 1 ? argv[1] : "null";
    if (strcmp(what, "null") == 0)
        *(volatile int *)0 = 1;
    else if (strcmp(what, "text") == 0)
        *(volatile uint8_t *)0x400000 = 0xC3;   /* _start: the first text byte */
    else if (strcmp(what, "kernel") == 0)
        return *(volatile int *)0xC0100000;
    else if (strcmp(what, "io") == 0)
        __asm__ volatile("inb $0x60, %%al" ::: "eax");
    else
        fprintf(2, "usage: fault [null|text|kernel|io]\n");
    return 2;
}

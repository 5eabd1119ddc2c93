/*
 * hello -- smallest guest: serial output, multiboot hand-off, exit.
 *
 * Probes: the multiboot v1 boot protocol (EAX = 0x2BADB002, EBX -> info
 * with mem_lower/mem_upper when flags bit 0 is set; Multiboot spec 3.2/3.3),
 * polled 16550 output on COM1, and exit through isa-debug-exit (0xf4).
 * With qemu -m 128 the values are fixed (639 KiB and 129920 KiB; the
 * top 128 KiB of RAM are reserved by the SeaBIOS e820 map).
 */
#include "lib.h"

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    putln("Hello from btvmm guest");
    printf("magic %p\n", magic);
    check_eq("multiboot magic", magic, MULTIBOOT_BOOTLOADER_MAGIC);
    if (mbi->flags & 1) {
        printf("mem_lower %u KiB\n", mbi->mem_lower);
        printf("mem_upper %u KiB\n", mbi->mem_upper);
    } else {
        putln("no memory info");
    }
    check(mbi->flags & 1, "memory info present");
    done();
}

/*
 * mbinfo -- what the loader passed: the multiboot command line and every
 * module (its string and up to 32 bytes of its content, as text), so that
 * `bt run --cmdline S --module FILE` can be checked end to end against
 * qemu-system-i386 -append S -initrd FILE (Multiboot 0.6.96, 3.3: flags
 * bit 2 cmdline, bit 3 mods_count/mods_addr; each module: start, end,
 * string, reserved).
 */
#include "lib.h"

struct mb_module { uint32_t start, end, string, reserved; };

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    check_eq("multiboot magic", magic, MULTIBOOT_BOOTLOADER_MAGIC);
    /* the loader's command line starts with the kernel's path, which depends on where
     * the corpus is checked out: print the path's last component and the rest as is */
    const char *cmdline = (mbi->flags & 4) ? (const char *)mbi->cmdline : "(none)";
    const char *tail = cmdline;
    for (const char *c = cmdline; *c && *c != ' '; c++)
        if (*c == '/')
            tail = c + 1;
    printf("cmdline: %s\n", tail);
    uint32_t n = (mbi->flags & 8) ? mbi->mods_count : 0;
    printf("modules: %u\n", n);
    struct mb_module *m = (struct mb_module *)mbi->mods_addr;
    for (uint32_t i = 0; i < n; i++) {
        printf("module %u: %u bytes, string \"%s\", text \"", i, m[i].end - m[i].start,
               m[i].string ? (const char *)m[i].string : "");
        for (uint32_t a = m[i].start; a < m[i].end && a < m[i].start + 32; a++) {
            char c = *(const char *)a;
            putc(c >= 0x20 && c < 0x7f ? c : '.');
        }
        putln("\"");
    }
    done();
}

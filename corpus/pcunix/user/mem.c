/* mem -- the memory size the boot loader reported (multiboot mem_lower/mem_upper). */
#include "user.h"

int main(void)
{
    struct meminfo mi;
    if (meminfo(&mi) < 0)
        return 1;
    printf("mem: %u KiB total (%u MiB): lower %u KiB, upper %u KiB\n",
           mi.total_kib, mi.total_kib / 1024, mi.lower_kib, mi.upper_kib);
    return 0;
}

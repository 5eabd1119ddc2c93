/*
 * pcunix/kernel/main.c -- start-up: from the multiboot hand-off to the
 * first process, the shell.
 *
 * Multiboot 0.6.96, 3.3: EAX = 0x2BADB002, EBX = the physical address of
 * the information structure: flags (bit 0: mem_lower/mem_upper in KiB, bit
 * 2: cmdline, a physical pointer to a C string) and the fields they vouch
 * for.  Both lie in low memory, which the boot page directory maps.
 *
 * Command-line words: "script" (a scripted run, console.c), "acpi" (skip
 * the MP tables and read the ACPI MADT).
 */
#include "defs.h"
#include "mmu.h"
#include "x86.h"

#define MULTIBOOT_MAGIC 0x2BADB002
#define MB_MEM      0x1
#define MB_CMDLINE  0x4
#define BOOTMAP_END 0x400000            /* what the boot page directory maps */

struct multiboot_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
};

extern char kernel_end[];
extern uint32_t mb_mem_lower, mb_mem_upper, free_pages_at_init;
static char cmdline[128];

static int has_word(const char *word)
{
    size_t n = strlen(word);
    for (const char *p = cmdline; *p;) {
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        if ((size_t)(p - w) == n && !strncmp(w, word, n))
            return 1;
    }
    return 0;
}

static void read_multiboot(uint32_t magic, uint32_t info_pa)
{
    if (magic != MULTIBOOT_MAGIC)
        panic("not started by a multiboot loader (EAX 0x%x)", magic);
    if (info_pa + sizeof(struct multiboot_info) > BOOTMAP_END)
        panic("multiboot info at 0x%x, out of reach", info_pa);
    const struct multiboot_info *mb = P2V(info_pa);
    if (!(mb->flags & MB_MEM))
        panic("multiboot: no memory size");
    mb_mem_lower = mb->mem_lower;
    mb_mem_upper = mb->mem_upper;
    if ((mb->flags & MB_CMDLINE) && mb->cmdline < BOOTMAP_END)
        strncpy_z(cmdline, P2V(mb->cmdline), sizeof cmdline);
}

/*
 * The MP tables first (what xv6 reads), the ACPI MADT where they are absent
 * or "acpi" is asked for.  With both, the MADT's processor count is shown
 * beside the MP table's: the two need not agree, as the MP table predates
 * multi-core packages and a BIOS may list one processor entry per package
 * (SeaBIOS does) where the MADT lists every logical processor.  The kernel
 * runs on the boot processor only, so nothing else depends on the count.
 */
static void find_platform(void)
{
    int madt_cpus = -1;
    if (!has_word("acpi") && mp_init() == 0) {
        struct platform mp = platform;
        if (acpi_init() == 0)
            madt_cpus = platform.ncpu;
        platform = mp;
    } else if (acpi_init() < 0) {
        panic("neither MP nor ACPI tables: no APIC to run on");
    }
    kprintf("%s: %d CPU%s, boot CPU APIC id %d, local APIC at 0x%x\n", platform.source,
            platform.ncpu, platform.ncpu == 1 ? "" : "s", platform.bsp_apicid < 0 ? 0 : platform.bsp_apicid,
            platform.lapic_pa);
    if (madt_cpus >= 0)
        kprintf("ACPI MADT: %d processor%s enabled, the MP table %d\n", madt_cpus,
                madt_cpus == 1 ? "" : "s", platform.ncpu);
}

void kmain(uint32_t magic, uint32_t info_pa)
{
    uart_init();
    read_multiboot(magic, info_pa);
    /* not the command line itself: loaders put the kernel's path in front */
    kprintf("pcunix: booting%s%s\n", has_word("script") ? " (script)" : "", has_word("acpi") ? " (acpi)" : "");
    kprintf("memory: %u KiB (lower %u KiB, upper %u KiB)\n",
            mb_mem_lower + mb_mem_upper, mb_mem_lower, mb_mem_upper);

    seginit();
    idtinit();
    memtop = 0x100000 + mb_mem_upper * 1024;
    if (memtop > MAXPHYS)
        memtop = MAXPHYS;
    uint32_t direct = (memtop + 0x3FFFFF) & ~0x3FFFFFu;     /* ACPI tables sit just above memtop */
    if (direct > MAXPHYS)
        direct = MAXPHYS;
    kinit(V2P(kernel_end), BOOTMAP_END);        /* page tables come from here */
    kvminit(direct);
    kinit(BOOTMAP_END, memtop);

    find_platform();
    pic_disable();
    if (platform.imcr) {
        imcr_apic_mode();
        kprintf("imcr: PIC mode -> symmetric I/O mode\n");
    }
    lapic_init();
    ioapic_init();
    ioapic_show(0);                     /* the PIT: unused, the LAPIC timer ticks */
    console_init(has_word("script"));
    ioapic_route(IRQ_COM1, T_IRQ0 + IRQ_COM1);
    uart_enable_rx();
    ioapic_route(IRQ_KBD, T_IRQ0 + IRQ_KBD);
    kbd_init();
    ioapic_route(IRQ_IDE, T_IRQ0 + IRQ_IDE);

    binit();
    if (ide_init() < 0)
        panic("no ATA disk on the primary channel");
    if (fs_init() < 0)
        panic("disk 0 holds no pcfs");

    char *argv[] = { "sh", 0 };
    if (spawn("sh", argv, 1) != 1)
        panic("cannot start sh");
    free_pages_at_init = kfree_pages();
    scheduler();
}

/*
 * corpus/os/kernel/main.c -- kmain: bring the machine up in dependency
 * order, then become the scheduler.
 *
 * Everything printed here is a fact about the standard PC (what the tables
 * say, what was programmed), never an address that differs between
 * firmwares, so the boot log is the same on any correct PC.
 */
#include "defs.h"
#include "platform.h"
#include "trap.h"
#include "x86.h"

int autorun;
int prefer_acpi;
struct platform platform;

extern char kernel_end[];               /* kernel.ld */

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002
#define MBI_MEM     (1u << 0)           /* mem_lower/mem_upper valid */
#define MBI_CMDLINE (1u << 2)           /* cmdline valid */
#define MBI_MMAP    (1u << 6)           /* mmap_length/mmap_addr valid */

struct multiboot_info {                 /* Multiboot 0.6.96, 3.3 (the part we read) */
    uint32_t flags;
    uint32_t mem_lower;                 /* KiB below 1 MiB */
    uint32_t mem_upper;                 /* KiB above 1 MiB, up to the first hole */
    uint32_t boot_device;
    uint32_t cmdline;                   /* physical address of a C string */
    uint32_t mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr;    /* the BIOS's e820 map */
};

struct multiboot_mmap {                 /* one entry; `size` excludes itself */
    uint32_t size;
    uint64_t base, length;
    uint32_t type;                      /* 1 RAM, 2 reserved, 3 ACPI, 4 NVS */
} __attribute__((packed));

static uint32_t mem_upper_kib;          /* usable RAM from 1 MiB: for kalloc */
static uint32_t map_top;                /* end of everything in the e820 map: the direct map */

/* True if `word` is one of the blank-separated words of `s`.  QEMU and
 * GRUB put the kernel's own path first; any position counts. */
static int has_word(const char *s, const char *word)
{
    uint32_t n = strlen(word);
    while (*s) {
        while (*s == ' ')
            s++;
        const char *w = s;
        while (*s && *s != ' ')
            s++;
        if ((uint32_t)(s - w) == n && strncmp(w, word, n) == 0)
            return 1;
    }
    return 0;
}

/* Below the boot map's 4 MiB (all a multiboot loader may use, in practice). */
static const void *boot_ptr(uint32_t pa, uint32_t len)
{
    return pa + len > pa && pa + len <= 0x400000 ? P2V(pa) : 0;
}

/* Read what we need from the boot information while it is still intact:
 * it may lie right after the kernel, in memory kinit() is about to hand
 * out.  The boot page table maps only the first 4 MiB. */
static void read_bootinfo(uint32_t magic, uint32_t mbi_pa)
{
    const struct multiboot_info *mbi = boot_ptr(mbi_pa, sizeof *mbi);
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC || !mbi)
        panic("not started by a multiboot loader (eax 0x%x)", magic);
    if (!(mbi->flags & MBI_MEM))
        panic("multiboot: no memory size");
    mem_upper_kib = mbi->mem_upper;
    const char *cmdline = (mbi->flags & MBI_CMDLINE) ? boot_ptr(mbi->cmdline, 256) : 0;
    if (cmdline) {
        char line[256];
        strlcpy(line, cmdline, sizeof line);
        autorun = has_word(line, "autorun");
        prefer_acpi = has_word(line, "acpi");
    }
    /* The firmware's tables may lie in reserved memory above mem_upper
     * (SeaBIOS puts ACPI there): the direct map covers every e820 range
     * below PHYS_LIMIT, kalloc only the usable RAM. */
    map_top = 0x100000 + mem_upper_kib * 1024;
    const uint8_t *mm = (mbi->flags & MBI_MMAP) ? boot_ptr(mbi->mmap_addr, mbi->mmap_length) : 0;
    for (uint32_t off = 0; mm && off + sizeof(struct multiboot_mmap) <= mbi->mmap_length;) {
        const struct multiboot_mmap *e = (const void *)(mm + off);
        uint64_t end = e->base + e->length;
        if (e->base < PHYS_LIMIT && end > map_top)
            map_top = end > PHYS_LIMIT ? PHYS_LIMIT : (uint32_t)end;
        off += e->size + 4;
    }
}

/* The local APIC, I/O APIC and legacy PICs, as the tables describe them. */
static void interrupts_init(void)
{
    uint32_t a, b, c, d;
    cpuid(1, &a, &b, &c, &d);
    if (!(d & (1u << 9)))               /* CPUID.01H:EDX.APIC */
        panic("this CPU has no local APIC");
    int found = prefer_acpi ? acpi_find(&platform) == 0 || mp_find(&platform) == 0
                            : mp_find(&platform) == 0 || acpi_find(&platform) == 0;
    if (!found)
        panic("no MP or ACPI tables: cannot find the local APIC and I/O APIC");
    const struct irq_route *com1 = &platform.isa[IRQ_COM1], *ide = &platform.isa[IRQ_IDE];
    cprintf("%s: %d processor%s, local APIC at 0x%x, I/O APIC %u at 0x%x%s\n", platform.source,
            platform.ncpu, platform.ncpu == 1 ? "" : "s", platform.lapic_pa,
            platform.ioapic_id, platform.ioapic_pa, platform.imcr ? ", IMCR" : "");
    cprintf("%s: ISA IRQ %d -> I/O APIC pin %d%s, IRQ %d -> pin %d%s\n", platform.source,
            IRQ_COM1, com1->pin, com1->level ? " (level)" : "",
            IRQ_IDE, ide->pin, ide->level ? " (level)" : "");
    pic_disable(platform.imcr);
    lapic_init(platform.lapic_pa);
    int pins = ioapic_init(platform.ioapic_pa, platform.ioapic_id);
    uint32_t cpu = lapic_id();
    ioapic_route(IRQ_COM1, T_COM1, cpu);
    ioapic_route(IRQ_IDE, T_IDE, cpu);
    cprintf("lapic %u: timer vector %d, periodic, divide by %d, count %u\n",
            cpu, T_TIMER, TIMER_DIVIDE, TIMER_COUNT);
    cprintf("ioapic: %d pins; IRQ %d -> vector %d, IRQ %d -> vector %d; 8259s masked\n",
            pins, IRQ_COM1, T_COM1, IRQ_IDE, T_IDE);
    uart_enable_rx();                   /* after the route: its first edge counts */
    lapic_timer_start();
}

void kmain(uint32_t magic, uint32_t mbi_pa)
{
    uart_init();
    read_bootinfo(magic, mbi_pa);
    /* The size in MiB, rounded up: the e820 map's reserved top differs
     * between firmwares by a few KiB. */
    cprintf("btos: higher-half kernel at 0x%x, %u MiB of memory%s%s\n", KERNLINK,
            (mem_upper_kib + 1024 + 1023) / 1024, autorun ? ", autorun" : "",
            prefer_acpi ? ", acpi" : "");
    gdt_init();
    uint32_t phys_top = 0x100000 + mem_upper_kib * 1024;
    if (phys_top > PHYS_LIMIT)
        phys_top = PHYS_LIMIT;
    if (map_top < phys_top)
        map_top = phys_top;
    kinit((uint32_t)kernel_end, (uint32_t)P2V(0x400000));   /* what the boot map reaches */
    kvm_init(map_top, phys_top);        /* the full direct map; boot map dropped */
    kinit((uint32_t)P2V(0x400000), (uint32_t)P2V(phys_top));
    idt_init();
    interrupts_init();
    ide_init();
    userinit();                         /* process 1: mounts the disk, runs sh */
    scheduler();
}

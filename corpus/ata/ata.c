/*
 * ata -- the IDE/ATA PIO controller of the primary channel (0x1f0-0x1f7,
 * 0x3f6, IRQ 14), with a disk image as master and no slave.
 *
 * Boot with the image built by the corpus build (build/ata-disk.img: 1 MiB,
 * every sector starts with "sector N" and is filled with a pattern of N):
 *   qemu-system-i386 ... -drive file=build/ata-disk.img,format=raw,if=ide,index=0,snapshot=on
 *   bt run corpus/build/ata.elf --disk corpus/build/ata-disk.img
 * Without a disk the guest prints that the channel is empty and exits 0.
 *
 * Probes (ATA/ATAPI-6): the registers after power-on, IDENTIFY DEVICE
 * (every word printed), READ SECTORS in LBA28 and CHS, several sectors
 * per command with one INTRQ per sector (seen in the slave 8259's IRR, which
 * a status read clears and an alternate-status read does not), rep insw
 * and rep insl, READ SECTORS EXT (LBA48), SET MULTIPLE + READ MULTIPLE,
 * WRITE SECTORS (rep outsw) read back, errors (a sector past the end, an
 * unknown command: ERR with ABRT), nIEN, the absent slave, and the ATA
 * signature after a software reset.
 */
#include "lib.h"

#define DATA 0x1f0
#define ERROR 0x1f1
#define NSECT 0x1f2
#define LBA0 0x1f3
#define LBA1 0x1f4
#define LBA2 0x1f5
#define DEVSEL 0x1f6
#define CMD 0x1f7
#define CTRL 0x3f6

static uint8_t buf[16 * 512];
static uint16_t ident[256];

static void pic_init(void)
{
    /* both 8259s initialized, all lines masked: IRR still shows the requests */
    outb(0x20, 0x11); outb(0xa0, 0x11);
    outb(0x21, 0x20); outb(0xa1, 0x28);
    outb(0x21, 0x04); outb(0xa1, 0x02);
    outb(0x21, 0x01); outb(0xa1, 0x01);
    pic_mask_all();
    outb(0x4d1, 0x40); /* ELCR: IRQ14 level triggered, so IRR follows INTRQ */
    outb(0xa0, 0x0a); /* OCW3: reads of 0xa0 return IRR */
}

static int irq14(void) { return (inb(0xa0) >> 6) & 1; }

static void regs(const char *what)
{
    printf("%s: status %x alt %x error %x nsect %x lba %x %x %x dev %x\n", what,
           inb(CTRL), inb(CTRL), inb(ERROR), inb(NSECT), inb(LBA0), inb(LBA1), inb(LBA2),
           inb(DEVSEL));
}

static uint32_t sum(const uint8_t *p, int n)
{
    uint32_t s = 0;
    for (int i = 0; i < n; i++)
        s = s * 31 + p[i];
    return s;
}

static void show_sector(const uint8_t *p)
{
    char name[17];
    for (int i = 0; i < 16; i++)
        name[i] = p[i] >= 32 && p[i] < 127 ? p[i] : '.';
    name[16] = 0;
    printf("  [%s] sum %x\n", name, sum(p, 512));
}

static void lba28(uint32_t lba, int n, uint8_t cmd)
{
    outb(DEVSEL, 0xe0 | ((lba >> 24) & 0x0f));
    outb(NSECT, n);
    outb(LBA0, lba);
    outb(LBA1, lba >> 8);
    outb(LBA2, lba >> 16);
    outb(CMD, cmd);
}

static void insw(void *p, int words) { __asm__ volatile("rep insw" : "+D"(p), "+c"(words) : "d"(DATA) : "memory"); }
static void insl(void *p, int dwords) { __asm__ volatile("rep insl" : "+D"(p), "+c"(dwords) : "d"(DATA) : "memory"); }
static void outsw(const void *p, int words) { __asm__ volatile("rep outsw" : "+S"(p), "+c"(words) : "d"(DATA) : "memory"); }

/* BSY polled on the alternate status (the drive may take time: qemu reads asynchronously) */
static int wait_ready(void)
{
    int st;
    for (int i = 0; i < 10000000; i++)
        if (!((st = inb(CTRL)) & 0x80))
            return st;
    putln("timeout: BSY stays set");
    exit(2);
}

/* one DRQ block: INTRQ before, status (clears it), the data, INTRQ after */
static void read_block(uint8_t *p, int sectors, int dwords)
{
    wait_ready();
    int before = irq14();
    int alt = inb(CTRL);
    int still = irq14();
    int st = inb(CMD);
    int after = irq14();
    printf("  irq %d/%d/%d alt %x status %x\n", before, still, after, alt, st);
    if (dwords)
        insl(p, 128 * sectors);
    else
        insw(p, 256 * sectors);
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    (void)magic; (void)mbi;
    pic_init();
    outb(DEVSEL, 0xa0);
    if (inb(CMD) == 0 && inb(CTRL) == 0) {
        outb(LBA0, 0x55);
        if (inb(LBA0) != 0x55) {
            putln("primary channel: no drives");
            done();
        }
    }
    /* a software reset first: what a firmware did to the registers is undone */
    outb(CTRL, 0x04);
    outb(CTRL, 0x00);
    wait_ready();
    regs("after the first reset");

    /* IDENTIFY DEVICE */
    outb(DEVSEL, 0xa0);
    outb(CMD, 0xec);
    read_block((uint8_t *)ident, 1, 0);
    regs("after identify");
    for (int i = 0; i < 256; i += 8) {
        printf("w%3d:", i);
        for (int j = i; j < i + 8; j++)
            printf(" %04x", ident[j]);
        printf("\n");
    }
    uint32_t total = ident[60] | (uint32_t)ident[61] << 16;
    printf("lba28 sectors %u, chs %u/%u/%u\n", total, ident[1], ident[3], ident[6]);

    /* READ SECTORS, LBA28, four sectors, rep insw */
    lba28(0, 4, 0x20);
    for (int s = 0; s < 4; s++) {
        read_block(buf + 512 * s, 1, 0);
        show_sector(buf + 512 * s);
    }
    regs("after read 0-3");
    printf("  irq after the last sector %d\n", irq14());

    /* READ SECTORS, rep insl, 256 sectors asked with count 0 at LBA 1000: read 3 */
    lba28(1000, 3, 0x20);
    for (int s = 0; s < 3; s++) {
        read_block(buf, 1, 1);
        show_sector(buf);
    }

    /* CHS: cylinder 1, head 2, sector 5 -> LBA (1 * 16 + 2) * 63 + 4 = 1138 */
    outb(DEVSEL, 0xa0 | 2);
    outb(NSECT, 1);
    outb(LBA0, 5);
    outb(LBA1, 1);
    outb(LBA2, 0);
    outb(CMD, 0x20);
    read_block(buf, 1, 0);
    show_sector(buf);
    regs("after chs read");

    /* READ SECTORS EXT (LBA48): LBA 2047, one sector (HOB bytes written first) */
    outb(DEVSEL, 0xe0);
    outb(NSECT, 0); outb(LBA0, 0); outb(LBA1, 0); outb(LBA2, 0);
    outb(NSECT, 1); outb(LBA0, 0xff); outb(LBA1, 0x07); outb(LBA2, 0);
    outb(CMD, 0x24);
    read_block(buf, 1, 0);
    show_sector(buf);
    outb(CTRL, 0x80);
    printf("  hob: nsect %x lba %x %x %x\n", inb(NSECT), inb(LBA0), inb(LBA1), inb(LBA2));
    outb(CTRL, 0x00);

    /* SET MULTIPLE 4, READ MULTIPLE of 6 sectors: blocks of 4 and 2 */
    outb(NSECT, 4);
    outb(CMD, 0xc6);
    wait_ready();
    int irq = irq14();
    printf("set multiple: irq %d status %x\n", irq, inb(CMD));
    lba28(10, 6, 0xc4);
    read_block(buf, 4, 0);
    read_block(buf + 4 * 512, 2, 0);
    for (int s = 0; s < 6; s++)
        show_sector(buf + 512 * s);
    regs("after read multiple");

    /* WRITE SECTORS at LBA 20, two sectors, then read them back */
    for (int i = 0; i < 1024; i++)
        buf[i] = (uint8_t)(i * 3 + 1);
    lba28(20, 2, 0x30);
    int alt = wait_ready();
    printf("write: alt %x irq %d\n", alt, irq14());
    outsw(buf, 256);
    wait_ready();
    irq = irq14();
    printf("  after sector 1: irq %d status %x\n", irq, inb(CMD));
    outsw(buf + 512, 256);
    wait_ready();
    irq = irq14();
    printf("  after sector 2: irq %d status %x\n", irq, inb(CMD));
    regs("after write");
    lba28(20, 2, 0x20);
    read_block(buf + 2048, 1, 0);
    read_block(buf + 2560, 1, 0);
    check(memcmp(buf, buf + 2048, 1024) == 0, "sectors 20-21 read back as written");

    /* errors: past the end, an unknown command */
    lba28(total - 1, 2, 0x20);
    read_block(buf, 1, 0);
    show_sector(buf);
    wait_ready();
    printf("past the end: irq %d ", irq14());
    regs("");
    outb(CMD, 0x00);
    wait_ready();
    printf("nop: irq %d ", irq14());
    regs("");
    inb(CMD);

    /* nIEN: no INTRQ */
    outb(CTRL, 0x02);
    lba28(7, 1, 0x20);
    printf("nIEN read: alt %x irq %d\n", wait_ready(), irq14());
    insw(buf, 256);
    show_sector(buf);
    outb(CTRL, 0x00);

    /* data without DRQ reads 0 */
    printf("data without DRQ: %x\n", inw(DATA));

    /* the absent slave */
    outb(DEVSEL, 0xb0);
    printf("slave: status %x alt %x\n", inb(CMD), inb(CTRL));
    outb(CMD, 0xec);
    irq = irq14();
    printf("slave identify: irq %d status %x\n", irq, inb(CTRL));
    outb(DEVSEL, 0xa0);

    /* software reset: the ATA signature */
    lba28(300, 5, 0x40); /* READ VERIFY moves the address registers */
    wait_ready();
    printf("verify: irq %d ", irq14());
    regs("");
    outb(CTRL, 0x04);
    wait_ready();
    printf("in reset: alt %x\n", inb(CTRL));
    outb(CTRL, 0x00);
    wait_ready();
    regs("after reset");

    /* the whole disk, 8 sectors per command, one rep insw per sector */
    uint32_t all = 0;
    for (uint32_t lba = 0; lba < total; lba += 8) {
        lba28(lba, 8, 0x20);
        for (int s = 0; s < 8; s++) {
            wait_ready();
            inb(CMD);
            insw(buf, 256);
            all = all * 17 + sum(buf, 512);
        }
    }
    printf("whole disk: %u sectors, sum %x\n", total, all);
    done();
}

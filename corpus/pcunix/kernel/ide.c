/*
 * pcunix/kernel/ide.c -- the disk: an ATA device 0 on the primary channel
 * (command block 0x1F0-0x1F7, control block 0x3F6, ISA IRQ 14), PIO,
 * interrupt-driven.
 *
 * ATA/ATAPI-6 (ANSI INCITS 361-2002):
 *   7.x   registers: 0x1F0 data (16 bits), 0x1F1 error, 0x1F2 sector count,
 *         0x1F3-0x1F5 LBA 7:0, 15:8, 23:16, 0x1F6 device (bit 6 LBA, bit 4
 *         DEV, bits 3:0 LBA 27:24), 0x1F7 status / command; 0x3F6 alternate
 *         status / device control (bit 1 nIEN).
 *   8.15  IDENTIFY DEVICE (0xEC): one 256-word block; word 49 bit 9 LBA
 *         supported, words 61:60 the number of LBA28 sectors.
 *   8.27  READ SECTORS (0x20): LBA28, count sectors (0 = 256).
 *   9.5   PIO data-in: for each sector the device clears BSY, sets DRQ and
 *         asserts INTRQ; reading the status register clears INTRQ; the
 *         host then reads 256 words.
 * Reading the status register (not the alternate one) in the interrupt
 * handler acknowledges the device's interrupt.
 */
#include "defs.h"
#include "x86.h"

#define ATA_DATA    0x1F0
#define ATA_ERROR   0x1F1
#define ATA_COUNT   0x1F2
#define ATA_LBA0    0x1F3
#define ATA_LBA1    0x1F4
#define ATA_LBA2    0x1F5
#define ATA_DEVICE  0x1F6
#define ATA_STATUS  0x1F7
#define ATA_COMMAND 0x1F7
#define ATA_CONTROL 0x3F6
#define ATA_ALTSTATUS 0x3F6

#define ST_BSY  0x80
#define ST_DRDY 0x40
#define ST_DF   0x20
#define ST_DRQ  0x08
#define ST_ERR  0x01

#define DEV_LBA 0x40
#define DEV_OBS 0xA0            /* bits 7 and 5: obsolete, set by convention */

#define CMD_IDENTIFY     0xEC
#define CMD_READ_SECTORS 0x20

#define SECTOR 512
#define SECTORS_PER_BLOCK (PCFS_BLOCK / SECTOR)

/* the one command in flight */
static struct {
    int busy;                   /* a command is in flight */
    uint8_t *data;              /* where the next sector goes */
    int left;                   /* sectors still to come */
    int done, error;            /* set by ide_intr; sleep() is a compiler barrier */
} cmd;

static uint16_t identify[256];
static uint32_t disk_sectors;

/* 400 ns after a device-register write before status is valid (ATA-6
 * 9.7): four reads of the alternate status register take that long */
static void delay400(void)
{
    for (int i = 0; i < 4; i++)
        (void)inb(ATA_ALTSTATUS);
}

static int wait_ready(void)
{
    for (int i = 0; i < 1000000; i++) {
        uint8_t s = inb(ATA_ALTSTATUS);
        if (!(s & ST_BSY))
            return (s & (ST_DF | ST_ERR)) ? -1 : (s & ST_DRDY) ? 0 : -1;
    }
    return -1;
}

/* issue a PIO data-in command and sleep until its last sector is in */
static int pio_in(uint8_t command, uint32_t lba, int count, void *dst)
{
    while (cmd.busy)
        sleep(&cmd);
    cmd.busy = 1;
    cmd.data = dst;
    cmd.left = count;
    cmd.done = cmd.error = 0;

    outb(ATA_DEVICE, DEV_OBS | DEV_LBA | ((lba >> 24) & 0x0F));
    delay400();
    if (wait_ready() < 0) {
        cmd.busy = 0;
        wakeup(&cmd);
        return -1;
    }
    outb(ATA_COUNT, (uint8_t)count);
    outb(ATA_LBA0, (uint8_t)lba);
    outb(ATA_LBA1, (uint8_t)(lba >> 8));
    outb(ATA_LBA2, (uint8_t)(lba >> 16));
    outb(ATA_COMMAND, command);
    while (!cmd.done)
        sleep(&cmd.done);
    int err = cmd.error;
    cmd.busy = 0;
    wakeup(&cmd);
    return err ? -1 : 0;
}

/* IRQ 14: one sector is ready (or the command failed) */
void ide_intr(void)
{
    uint8_t s = inb(ATA_STATUS);        /* acknowledges INTRQ */
    if (!cmd.busy || cmd.done)
        return;                         /* not ours to take */
    if (s & (ST_ERR | ST_DF)) {
        kprintf("ide: status 0x%x error 0x%x\n", s, inb(ATA_ERROR));
        cmd.error = 1;
    } else if (s & ST_DRQ) {
        insw(ATA_DATA, cmd.data, SECTOR / 2);
        cmd.data += SECTOR;
        if (--cmd.left > 0)
            return;
    } else {
        return;                         /* DRQ not yet up: the next IRQ will come */
    }
    cmd.done = 1;
    wakeup(&cmd.done);
}

int ide_init(void)
{
    outb(ATA_DEVICE, DEV_OBS);          /* device 0 */
    delay400();
    if (inb(ATA_STATUS) == 0xFF)        /* floating bus: no device */
        return -1;
    outb(ATA_CONTROL, 0x00);            /* nIEN = 0: the device may interrupt */
    (void)inb(ATA_STATUS);              /* drop an interrupt the BIOS left pending */

    if (pio_in(CMD_IDENTIFY, 0, 1, identify) < 0)
        return -1;
    if (!(identify[49] & (1 << 9)))
        panic("ide: disk 0 has no LBA");
    disk_sectors = identify[60] | (uint32_t)identify[61] << 16;
    kprintf("ide: disk 0: ATA, LBA28, %u sectors (%u KiB)\n", disk_sectors, disk_sectors / 2);
    return 0;
}

/* read one file-system block (READ SECTORS, two sectors) */
int ide_read(struct buf *b)
{
    uint32_t lba = b->blockno * SECTORS_PER_BLOCK;
    if (lba + SECTORS_PER_BLOCK > disk_sectors)
        return -1;
    return pio_in(CMD_READ_SECTORS, lba, SECTORS_PER_BLOCK, b->data);
}

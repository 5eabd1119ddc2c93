/*
 * corpus/os/kernel/ide.c -- the disk: the master device on the primary
 * ATA channel, programmed I/O with interrupts (ATA/ATAPI-6, T13/1410D:
 * 6.4 "PIO data-in command protocol", 8.15 IDENTIFY DEVICE, 8.27 READ
 * SECTORS).
 *
 * Command block registers at 0x1F0-0x1F7, control block at 0x3F6; the
 * channel's INTRQ is ISA IRQ 14 (the I/O APIC routes it; main.c):
 *   0x1F0 data (16-bit)        0x1F1 error (read)
 *   0x1F2 sector count         0x1F3-0x1F5 LBA bits 0-7, 8-15, 16-23
 *   0x1F6 device: bit 6 LBA, bit 4 DEV (0 = master), bits 0-3 LBA 24-27
 *   0x1F7 status (read; reading it clears INTRQ) / command (write)
 *   0x3F6 alternate status (read; leaves INTRQ alone) /
 *         device control (write; bit 1 nIEN = 0 enables INTRQ)
 *
 * One command at a time.  The caller issues it and sleeps; for every
 * sector the device raises INTRQ with DRQ set and ide_intr reads the 256
 * data words into the caller's (kernel) buffer; after the last one the
 * caller is woken.  A command that gets no interrupt for IDE_TIMEOUT
 * ticks is a panic, not a hang.
 */
#include "../include/errno.h"
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
#define ATA_ALTSTATUS 0x3F6
#define ATA_CONTROL 0x3F6

#define ST_ERR  0x01
#define ST_DRQ  0x08
#define ST_DF   0x20
#define ST_DRDY 0x40
#define ST_BSY  0x80

#define DEV_LBA 0x40
#define DEV_OBS 0xA0                    /* bits 7 and 5: "obsolete", set by convention */

#define CMD_READ_SECTORS 0x20
#define CMD_IDENTIFY     0xEC

#define IDE_TIMEOUT 500                 /* ticks without the interrupt */

static struct {
    int busy;                           /* a command is outstanding */
    int finished;
    uint8_t command;
    uint32_t lba, count, done;          /* sectors asked for, sectors read */
    uint8_t *buf;
    uint8_t status, error;              /* on failure */
    uint32_t started;                   /* ticks when issued */
} req;

static uint32_t disk_sectors;           /* from IDENTIFY */
static uint32_t spurious;

/* ATA 400 ns rule: the status is valid four alternate-status reads after
 * selecting a device (each I/O read takes at least 100 ns on ISA). */
static void delay400(void)
{
    for (int i = 0; i < 4; i++)
        (void)inb(ATA_ALTSTATUS);
}

static uint8_t wait_not_busy(void)
{
    uint8_t st = inb(ATA_ALTSTATUS);
    for (int i = 0; i < 1000000 && (st & ST_BSY); i++)
        st = inb(ATA_ALTSTATUS);
    return st;
}

/* Boot: is there a device 0 at all?  Floating bus (0xFF) means no
 * controller, 0 no device; either is fatal for a system on a disk. */
void ide_init(void)
{
    outb(ATA_CONTROL, 0x00);            /* nIEN = 0: interrupts on; no reset */
    outb(ATA_DEVICE, DEV_OBS | DEV_LBA);
    delay400();
    uint8_t st = wait_not_busy();
    if (st == 0xFF)
        panic("ide: no ATA controller at 0x1f0 (status 0xff)");
    if (st == 0x00)
        panic("ide: no disk on the primary channel (status 0)");
}

/* Issue one PIO data-in command and sleep until it is done; 0 or -EIO. */
static int ide_command(uint8_t command, uint32_t lba, uint32_t count, void *buf)
{
    while (req.busy)
        sleep(&req);
    req.busy = 1;
    req.finished = 0;
    req.command = command;
    req.lba = lba;
    req.count = count;
    req.done = 0;
    req.buf = buf;
    req.status = req.error = 0;
    req.started = ticks;

    uint8_t st = wait_not_busy();
    if (st & ST_BSY)
        panic("ide: device stays busy (status %x)", st);
    outb(ATA_DEVICE, DEV_OBS | DEV_LBA | ((lba >> 24) & 0x0F));
    delay400();
    outb(ATA_COUNT, (uint8_t)count);    /* 0 would mean 256: we never ask for that */
    outb(ATA_LBA0, (uint8_t)lba);
    outb(ATA_LBA1, (uint8_t)(lba >> 8));
    outb(ATA_LBA2, (uint8_t)(lba >> 16));
    outb(ATA_COMMAND, command);

    while (!req.finished)
        sleep(&req);
    int err = req.status & (ST_ERR | ST_DF);
    if (err)
        cprintf("ide: command %x at sector %u failed: status %x, error %x\n",
                command, lba, req.status, req.error);
    req.busy = 0;
    wakeup(&req);
    return err ? -EIO : 0;
}

/* IRQ 14.  Reading the status register acknowledges the interrupt. */
void ide_intr(void)
{
    uint8_t st = inb(ATA_STATUS);
    if (!req.busy || req.finished) {
        spurious++;
        return;
    }
    if ((st & (ST_ERR | ST_DF)) || !(st & ST_DRQ)) {
        req.status = st;
        req.error = inb(ATA_ERROR);
        if (!(st & (ST_ERR | ST_DF)))
            req.status |= ST_ERR;       /* an interrupt without data: a failure too */
    } else {
        insw(ATA_DATA, req.buf + req.done * SECTOR_BYTES, SECTOR_BYTES / 2);
        if (++req.done < req.count)
            return;                     /* the next sector interrupts again */
    }
    req.finished = 1;
    wakeup(&req);
}

/* From timer_tick: a command must not wait for an interrupt forever. */
void ide_check_timeout(void)
{
    if (req.busy && !req.finished && ticks - req.started > IDE_TIMEOUT)
        panic("ide: no interrupt (IRQ 14) for command %x after %u ticks, status %x",
              req.command, IDE_TIMEOUT, inb(ATA_ALTSTATUS));
}

/* IDENTIFY DEVICE: the words we need are 0 (bit 15: 0 for an ATA
 * device), 49 (bit 9: LBA supported) and 60-61 (LBA28 sector count). */
uint32_t ide_identify(void)
{
    uint16_t *id = kalloc();
    if (!id)
        panic("ide_identify: out of memory");
    if (ide_command(CMD_IDENTIFY, 0, 1, id) < 0)
        panic("ide: IDENTIFY DEVICE failed: not an ATA disk");
    if (id[0] & 0x8000)
        panic("ide: the primary master is not an ATA disk (word 0 = %x)", id[0]);
    if (!(id[49] & (1u << 9)))
        panic("ide: the disk does not support LBA addressing");
    disk_sectors = (uint32_t)id[60] | (uint32_t)id[61] << 16;
    kfree(id);
    cprintf("ide0: ATA disk, %u sectors (%u KiB), LBA28 PIO on IRQ 14\n",
            disk_sectors, disk_sectors / 2);
    return disk_sectors;
}

/* READ SECTORS (LBA28) into a kernel buffer: count sectors, 1..IDE_MAXSECT. */
int ide_read(uint32_t lba, uint32_t count, void *dst)
{
    if (count == 0 || count > IDE_MAXSECT || lba + count > disk_sectors || lba + count > (1u << 28))
        return -EIO;
    return ide_command(CMD_READ_SECTORS, lba, count, dst);
}

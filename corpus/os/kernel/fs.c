/*
 * corpus/os/kernel/fs.c -- btfs, the read-only file system on the IDE
 * disk (format: btfs.h).  The superblock and the whole directory are read
 * once, at mount; file data is read from the disk on every read(), a page
 * (IDE_MAXSECT sectors) per command, through a bounce page: the IDE
 * interrupt may arrive while another address space is loaded, so the
 * device writes only kernel memory.
 */
#include "../include/errno.h"
#include "btfs.h"
#include "defs.h"

static struct btfs_super sb;
static struct btfs_dirent dir[BTFS_MAXFILES];

static int valid_name(const char *name)
{
    for (int i = 0; i < BTFS_NAMELEN; i++)
        if (name[i] == 0)
            return i > 0;
    return 0;
}

void fs_mount(void)
{
    uint32_t disk = ide_identify();
    uint8_t *buf = kalloc();
    if (!buf)
        panic("fs_mount: out of memory");
    if (ide_read(0, 1, buf) < 0)
        panic("btfs: cannot read the superblock");
    memcpy(&sb, buf, sizeof sb);
    if (sb.magic != BTFS_MAGIC || sb.version != BTFS_VERSION)
        panic("btfs: no btfs version %d on the disk (magic %x, version %u)",
              BTFS_VERSION, sb.magic, sb.version);
    uint32_t dir_bytes = sb.nfiles * sizeof(struct btfs_dirent);
    if (sb.nfiles > BTFS_MAXFILES || sb.dir_lba != 1
        || sb.dir_sectors * SECTOR_BYTES < dir_bytes || sb.dir_sectors > IDE_MAXSECT
        || sb.total_sectors > disk)
        panic("btfs: bad superblock (%u files, directory %u+%u, %u of %u sectors)",
              sb.nfiles, sb.dir_lba, sb.dir_sectors, sb.total_sectors, disk);
    if (sb.dir_sectors && ide_read(sb.dir_lba, sb.dir_sectors, buf) < 0)
        panic("btfs: cannot read the directory");
    memcpy(dir, buf, dir_bytes);
    kfree(buf);
    for (uint32_t i = 0; i < sb.nfiles; i++) {
        uint32_t sectors = (dir[i].size + SECTOR_BYTES - 1) / SECTOR_BYTES;
        if (!valid_name(dir[i].name) || dir[i].lba < sb.dir_lba + sb.dir_sectors
            || dir[i].lba + sectors > sb.total_sectors || dir[i].lba + sectors < dir[i].lba)
            panic("btfs: bad directory entry %u", i);
    }
    cprintf("btfs: %u files in %u sectors\n", sb.nfiles, sb.total_sectors);
}

int fs_nfiles(void)
{
    return (int)sb.nfiles;
}

int fs_lookup(const char *name)
{
    if (strlen(name) >= BTFS_NAMELEN)
        return -ENAMETOOLONG;
    for (uint32_t i = 0; i < sb.nfiles; i++)
        if (strcmp(dir[i].name, name) == 0)
            return (int)i;
    return -ENOENT;
}

uint32_t fs_size(int ino)
{
    return dir[ino].size;
}

void fs_dirent(int ino, struct dirent *de)
{
    memset(de, 0, sizeof *de);
    strlcpy(de->name, dir[ino].name, sizeof de->name);
    de->ino = (uint32_t)ino;
    de->size = dir[ino].size;
}

/* Up to n bytes of file ino from offset off into dst (kernel memory, or
 * user memory of the running process, already checked); the byte count,
 * 0 at the end of the file, or -EIO. */
int fs_read(int ino, void *dst, uint32_t off, uint32_t n)
{
    const struct btfs_dirent *de = &dir[ino];
    if (off >= de->size)
        return 0;
    if (n > de->size - off)
        n = de->size - off;
    uint8_t *page = kalloc();
    if (!page)
        return -ENOMEM;
    uint32_t done = 0;
    while (done < n) {
        uint32_t pos = off + done;
        uint32_t first = pos / SECTOR_BYTES, skip = pos % SECTOR_BYTES;
        uint32_t last = (off + n - 1) / SECTOR_BYTES;
        uint32_t count = last - first + 1;
        if (count > IDE_MAXSECT)
            count = IDE_MAXSECT;
        if (ide_read(de->lba + first, count, page) < 0) {
            kfree(page);
            return -EIO;
        }
        uint32_t k = count * SECTOR_BYTES - skip;
        if (k > n - done)
            k = n - done;
        memcpy((uint8_t *)dst + done, page + skip, k);
        done += k;
    }
    kfree(page);
    return (int)done;
}

/*
 * pcunix/kernel/fs.c -- pcfs (include/pcfs.h): a superblock, a flat
 * directory, and each file contiguous on disk.  The directory is read once
 * at mount; file data goes through the block cache.  Read-only.
 */
#include "defs.h"

static struct pcfs_super super;
static struct pcfs_dirent dir[MAXFILES];
static int nfiles;

int fs_init(void)
{
    struct buf *b = bread(0);
    if (!b)
        return -1;
    memcpy(&super, b->data, sizeof super);
    brelse(b);
    if (super.magic != PCFS_MAGIC || super.version != PCFS_VERSION)
        return -1;
    nfiles = super.nfiles < MAXFILES ? (int)super.nfiles : MAXFILES;
    for (int i = 0; i < nfiles; i++) {
        if (i % PCFS_DIRENTS_PER_BLOCK == 0) {
            if (!(b = bread(super.dir_start + i / PCFS_DIRENTS_PER_BLOCK)))
                return -1;
        }
        memcpy(&dir[i], b->data + (i % PCFS_DIRENTS_PER_BLOCK) * sizeof dir[0], sizeof dir[0]);
        dir[i].name[PCFS_NAMELEN - 1] = 0;
        if (i % PCFS_DIRENTS_PER_BLOCK == PCFS_DIRENTS_PER_BLOCK - 1 || i == nfiles - 1)
            brelse(b);
    }
    char label[sizeof super.label + 1];
    strncpy_z(label, super.label, sizeof label);
    kprintf("pcfs: \"%s\", %u blocks, %d files\n", label, super.nblocks, nfiles);
    return 0;
}

int fs_lookup(const char *name)
{
    for (int i = 0; i < nfiles; i++)
        if (!strncmp(dir[i].name, name, PCFS_NAMELEN))
            return i;
    return -1;
}

int fs_stat(int ino, struct stat *st)
{
    if (ino < 0 || ino >= nfiles)
        return -1;
    strncpy_z(st->name, dir[ino].name, sizeof st->name);
    st->size = dir[ino].size;
    return 0;
}

/* up to n bytes of file ino from off into dst (kernel memory) */
int fs_read(int ino, uint32_t off, void *dst, uint32_t n)
{
    if (ino < 0 || ino >= nfiles)
        return -1;
    if (off >= dir[ino].size)
        return 0;
    if (n > dir[ino].size - off)
        n = dir[ino].size - off;
    uint32_t done = 0;
    while (done < n) {
        uint32_t pos = off + done;
        struct buf *b = bread(dir[ino].start + pos / PCFS_BLOCK);
        if (!b)
            return -1;
        uint32_t chunk = PCFS_BLOCK - pos % PCFS_BLOCK;
        if (chunk > n - done)
            chunk = n - done;
        memcpy((uint8_t *)dst + done, b->data + pos % PCFS_BLOCK, chunk);
        brelse(b);
        done += chunk;
    }
    return (int)done;
}

/*
 * corpus/os/kernel/btfs.h -- the on-disk format of btfs, the read-only
 * file system of btos (written by corpus/os/mkfs.py).
 *
 * 512-byte sectors, little-endian, addressed by LBA:
 *
 *   sector 0                     superblock
 *   sectors 1 .. dir_sectors     directory: nfiles entries of 32 bytes,
 *                                sorted by name
 *   then                         file contents, each file contiguous and
 *                                starting on a sector boundary
 *   up to total_sectors          zeros (the image has a fixed size, so
 *                                that the disk size does not depend on
 *                                the size of the programs on it)
 */
#ifndef BTOS_BTFS_H
#define BTOS_BTFS_H

#include <stdint.h>

#define BTFS_MAGIC   0x53465442u        /* "BTFS" */
#define BTFS_VERSION 1
#define SECTOR_SIZE  512
#define BTFS_NAMELEN 24                 /* NUL-terminated, so 23 characters */
#define BTFS_MAXFILES 64

struct btfs_super {
    uint32_t magic;
    uint32_t version;
    uint32_t nfiles;
    uint32_t dir_lba;                   /* 1 */
    uint32_t dir_sectors;
    uint32_t total_sectors;             /* the size of the image */
};

struct btfs_dirent {
    char name[BTFS_NAMELEN];
    uint32_t lba;                       /* first sector */
    uint32_t size;                      /* bytes */
};

#endif

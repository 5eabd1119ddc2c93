/*
 * pcunix/include/pcfs.h -- the on-disk format of pcfs, pcunix's file system
 * (written by mkfs.py, read by kernel/fs.c).  All fields little-endian.
 *
 *   block 0            superblock
 *   blocks 1..ndir     directory: PCFS_DIRENTS_PER_BLOCK entries per block
 *   then               file data, each file contiguous from its first block
 *
 * A block is 1 KiB: two 512-byte sectors, LBA = 2 * block.
 */
#ifndef PCUNIX_PCFS_H
#define PCUNIX_PCFS_H

#include <stdint.h>

#define PCFS_BLOCK      1024
#define PCFS_MAGIC      0x53464350u     /* "PCFS" */
#define PCFS_VERSION    1
#define PCFS_NAMELEN    24

struct pcfs_super {
    uint32_t magic;
    uint32_t version;
    uint32_t nblocks;                   /* blocks in the image */
    uint32_t nfiles;                    /* directory entries in use */
    uint32_t dir_start;                 /* first directory block (1) */
    uint32_t dir_blocks;
    char label[16];
};

struct pcfs_dirent {
    char name[PCFS_NAMELEN];            /* NUL-padded */
    uint32_t start;                     /* first block */
    uint32_t size;                      /* bytes */
};

#define PCFS_DIRENTS_PER_BLOCK (PCFS_BLOCK / sizeof(struct pcfs_dirent))

#endif

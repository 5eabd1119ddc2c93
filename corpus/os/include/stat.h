/*
 * corpus/os/include/stat.h -- what fstat() and read() on a directory give
 * to user programs.
 */
#ifndef BTOS_STAT_H
#define BTOS_STAT_H

#include <stdint.h>

#define T_FILE 1                /* a regular file on the disk */
#define T_DIR  2                /* the root directory */
#define T_DEV  3                /* the console */

struct stat {
    uint32_t type;              /* T_FILE, T_DIR or T_DEV */
    uint32_t ino;               /* index in the directory (files), 0 otherwise */
    uint32_t size;              /* bytes (files), entries * sizeof dirent (dir) */
};

#define DIRNAMESIZE 24

/* read() on the directory returns whole records of this form, one per file. */
struct dirent {
    char name[DIRNAMESIZE];     /* NUL-terminated */
    uint32_t ino;
    uint32_t size;
};

/* open() flags: only reading is possible on this file system. */
#define O_RDONLY 0
#define O_WRONLY 1
#define O_RDWR   2
#define O_ACCMODE 3

#endif

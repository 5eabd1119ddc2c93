/*
 * corpus/os/kernel/file.h -- an open file: what a file descriptor points at.
 */
#ifndef BTOS_FILE_H
#define BTOS_FILE_H

#include <stdint.h>

enum filetype { FD_NONE, FD_CONSOLE, FD_FILE, FD_DIR };

struct file {
    enum filetype type;
    int ref;                    /* descriptors (in all processes) sharing it */
    int ino;                    /* FD_FILE: index in the directory */
    uint32_t off;               /* FD_FILE, FD_DIR: the read offset */
};

#endif

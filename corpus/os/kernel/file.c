/*
 * corpus/os/kernel/file.c -- open files: the console, the files of the
 * disk and its one directory.  A descriptor table entry points to a
 * struct file; fork() shares them (with their offsets), as in Unix.
 *
 * Names: "name" or "/name" is a file; "/", "." and "" the directory.
 * Everything on the disk is read-only: opening for writing is -EROFS.
 * Reading the directory gives whole struct dirent records (stat.h).
 */
#include "../include/errno.h"
#include "defs.h"
#include "file.h"

static struct file files[NFILE];
static struct file console = { FD_CONSOLE, 1, 0, 0 };   /* never freed */

static struct file *file_alloc(enum filetype type, int ino)
{
    for (struct file *f = files; f < &files[NFILE]; f++) {
        if (f->ref == 0) {
            f->type = type;
            f->ref = 1;
            f->ino = ino;
            f->off = 0;
            return f;
        }
    }
    return 0;
}

struct file *file_open(const char *path, int flags, int *err)
{
    if ((flags & O_ACCMODE) != O_RDONLY) {
        *err = -EROFS;
        return 0;
    }
    if (path[0] == '/')
        path++;
    int ino = 0;
    enum filetype type = FD_DIR;
    if (strcmp(path, "") != 0 && strcmp(path, ".") != 0) {
        if ((ino = fs_lookup(path)) < 0) {
            *err = ino;
            return 0;
        }
        type = FD_FILE;
    }
    struct file *f = file_alloc(type, ino);
    if (!f)
        *err = -ENFILE;
    return f;
}

struct file *file_console(void)
{
    return file_dup(&console);
}

struct file *file_dup(struct file *f)
{
    f->ref++;
    return f;
}

void file_close(struct file *f)
{
    if (--f->ref < 0)
        panic("file_close: reference count below zero");
    if (f->ref == 0)
        f->type = FD_NONE;
}

int file_read(struct file *f, char *dst, int n)
{
    switch (f->type) {
    case FD_CONSOLE:
        return console_read(dst, n);
    case FD_FILE: {
        int k = fs_read(f->ino, dst, f->off, (uint32_t)n);
        if (k > 0)
            f->off += (uint32_t)k;
        return k;
    }
    case FD_DIR: {
        int count = 0;
        struct dirent de;
        while (n - count >= (int)sizeof de && (int)(f->off / sizeof de) < fs_nfiles()) {
            fs_dirent((int)(f->off / sizeof de), &de);
            memcpy(dst + count, &de, sizeof de);
            count += sizeof de;
            f->off += sizeof de;
        }
        if (count == 0 && n > 0 && (int)(f->off / sizeof de) < fs_nfiles())
            return -EINVAL;             /* too small for one record */
        return count;
    }
    default:
        return -EBADF;
    }
}

int file_write(struct file *f, const char *src, int n)
{
    if (f->type == FD_CONSOLE)
        return console_write(src, n);
    return -EBADF;                      /* opened read-only */
}

int file_stat(struct file *f, struct stat *st)
{
    memset(st, 0, sizeof *st);
    switch (f->type) {
    case FD_CONSOLE:
        st->type = T_DEV;
        break;
    case FD_FILE:
        st->type = T_FILE;
        st->ino = (uint32_t)f->ino;
        st->size = fs_size(f->ino);
        break;
    case FD_DIR:
        st->type = T_DIR;
        st->size = (uint32_t)fs_nfiles() * sizeof(struct dirent);
        break;
    default:
        return -EBADF;
    }
    return 0;
}

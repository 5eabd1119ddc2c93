/*
 * corpus/os/user/ulib.h -- what a btos program can call: the system calls
 * (usys.S; negative results are -errno, include/errno.h) and a small C
 * library (ulib.c, ../lib).
 */
#ifndef BTOS_ULIB_H
#define BTOS_ULIB_H

#include <stdint.h>
#include "../include/errno.h"
#include "../include/stat.h"
#include "../lib/str.h"

/* system calls */
int fork(void);
void exit(int status) __attribute__((noreturn));
int wait(int *status);
int read(int fd, void *buf, int n);
int write(int fd, const void *buf, int n);
int open(const char *path, int flags);
int close(int fd);
int exec(const char *path, char *const argv[]);
void *sbrk(int n);                      /* the old break, or (void *)-errno */
int getpid(void);
int sleep(int ticks);
int kill(int pid);
int fstat(int fd, struct stat *st);
void poweroff(int code) __attribute__((noreturn));

/* library */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fprintf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int atoi(const char *s);                /* decimal, an optional '-'; -1 if not a number */
const char *strerror(int err);          /* err > 0: ENOENT ... */

#endif

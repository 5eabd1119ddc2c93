/* pcunix/user/user.h -- what user programs can call. */
#ifndef PCUNIX_USER_H
#define PCUNIX_USER_H

#include "../include/syscall.h"

#define NULL ((void *)0)

/* system calls (usys.S) */
void exit(int status) __attribute__((noreturn));
int write(int fd, const void *buf, unsigned n);
int read(int fd, void *buf, unsigned n);
int open(const char *name);
int close(int fd);
int spawn(const char *name, char *const argv[]);
int wait(int pid, int *status, int nohang);
int readdir(int index, struct stat *st);
int meminfo(struct meminfo *mi);
void halt(int code) __attribute__((noreturn));
int getpid(void);

/* ulib.c */
unsigned strlen(const char *s);
int strcmp(const char *a, const char *b);
int atoi(const char *s);
void printf(const char *fmt, ...);

#endif

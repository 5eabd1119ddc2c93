/*
 * corpus/os/include/errno.h -- error numbers: system calls return -E...
 * The values are Linux's (asm-generic/errno-base.h), so that they read the
 * same to anyone who knows one Unix.
 */
#ifndef BTOS_ERRNO_H
#define BTOS_ERRNO_H

#define ENOENT        2         /* no such file */
#define ESRCH         3         /* no such process */
#define EIO           5         /* disk error */
#define E2BIG         7         /* argument list too long */
#define ENOEXEC       8         /* not an i386 ELF executable */
#define EBADF         9         /* bad file descriptor */
#define ECHILD       10         /* no children to wait for */
#define ENOMEM       12         /* out of memory */
#define EFAULT       14         /* bad user address */
#define EISDIR       21         /* is a directory */
#define EINVAL       22         /* invalid argument */
#define ENFILE       23         /* open file table full */
#define EMFILE       24         /* too many open files in this process */
#define EROFS        30         /* the file system is read-only */
#define ENAMETOOLONG 36         /* name too long */
#define ENOSYS       38         /* no such system call */

#endif

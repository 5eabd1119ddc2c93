/*
 * corpus/os/user/ulib.c -- printf over write(), atoi, strerror.
 *
 * printf buffers one call's output and writes it with a single write(),
 * so a line printed by one process is never split by another's.
 */
#include <stdarg.h>
#include "../lib/fmt.h"
#include "ulib.h"

struct outbuf {
    int fd, len, total;
    char buf[256];
};

static void flush(struct outbuf *o)
{
    if (o->len)
        write(o->fd, o->buf, o->len);
    o->len = 0;
}

static void put(int c, void *arg)
{
    struct outbuf *o = arg;
    if (o->len == (int)sizeof o->buf)
        flush(o);
    o->buf[o->len++] = (char)c;
    o->total++;
}

static int vfprintf(int fd, const char *fmt, va_list ap)
{
    struct outbuf o = { fd, 0, 0, { 0 } };
    vformat(put, &o, fmt, ap);
    flush(&o);
    return o.total;
}

int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(1, fmt, ap);
    va_end(ap);
    return n;
}

int fprintf(int fd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(fd, fmt, ap);
    va_end(ap);
    return n;
}

int atoi(const char *s)
{
    int neg = 0, v = 0;
    if (*s == '-')
        neg = 1, s++;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 100000000)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return neg ? -v : v;
}

static const char *const messages[] = {
    [ENOENT] = "no such file",
    [ESRCH] = "no such process",
    [EIO] = "I/O error",
    [E2BIG] = "argument list too long",
    [ENOEXEC] = "not an executable",
    [EBADF] = "bad file descriptor",
    [ECHILD] = "no child processes",
    [ENOMEM] = "out of memory",
    [EFAULT] = "bad address",
    [EISDIR] = "is a directory",
    [EINVAL] = "invalid argument",
    [ENFILE] = "too many open files in the system",
    [EMFILE] = "too many open files",
    [EROFS] = "read-only file system",
    [ENAMETOOLONG] = "name too long",
    [ENOSYS] = "no such system call",
};

const char *strerror(int err)
{
    if (err > 0 && err < (int)(sizeof messages / sizeof messages[0]) && messages[err])
        return messages[err];
    return "unknown error";
}

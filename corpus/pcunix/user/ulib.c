/*
 * pcunix/user/ulib.c -- string helpers and printf for user programs.
 * printf formats into a buffer and writes it with one system call, so a
 * line is never split by another process's output.
 */
#include <stdarg.h>
#include "user.h"

unsigned strlen(const char *s)
{
    unsigned n = 0;
    while (s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

int atoi(const char *s)
{
    int v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + *s++ - '0';
    return v;
}

struct out { char buf[256]; unsigned len; };

static void put(struct out *o, char c)
{
    if (o->len == sizeof o->buf) {
        write(1, o->buf, o->len);
        o->len = 0;
    }
    o->buf[o->len++] = c;
}

static void put_num(struct out *o, unsigned v, unsigned base, int width, char pad)
{
    char d[12];
    int n = 0;
    do {
        d[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (width-- > n)
        put(o, pad);
    while (n)
        put(o, d[--n]);
}

/* %d %u %x %s %c, a width, '0' padding, '-' to left-align strings */
void printf(const char *fmt, ...)
{
    struct out o;
    va_list ap;
    o.len = 0;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            put(&o, *fmt);
            continue;
        }
        int left = 0, width = 0;
        char pad = ' ';
        if (*++fmt == '-')
            left = 1, fmt++;
        if (*fmt == '0')
            pad = '0', fmt++;
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + *fmt++ - '0';
        switch (*fmt) {
        case 'd': {
            int v = va_arg(ap, int);
            if (v < 0)
                put(&o, '-'), v = -v;
            put_num(&o, (unsigned)v, 10, width, pad);
            break;
        }
        case 'u': put_num(&o, va_arg(ap, unsigned), 10, width, pad); break;
        case 'x': put_num(&o, va_arg(ap, unsigned), 16, width, pad); break;
        case 'c': put(&o, (char)va_arg(ap, int)); break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            int n = (int)strlen(s);
            for (; !left && width > n; width--)
                put(&o, ' ');
            while (*s)
                put(&o, *s++);
            for (; left && width > n; width--)
                put(&o, ' ');
            break;
        }
        default: put(&o, *fmt); break;
        }
    }
    va_end(ap);
    if (o.len)
        write(1, o.buf, o.len);
}

/* lib.c -- freestanding helpers: memory and string functions, formatted messages. */
#include "kernel.h"
#include <stdarg.h>

void *memset(void *d, int c, size_t n)
{
    void *r = d;
    u32 v = (u8)c * 0x01010101u, q = n >> 2, b = n & 3;
    __asm__ volatile("rep stosl" : "+D"(d), "+c"(q) : "a"(v) : "memory");
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(b) : "a"(v) : "memory");
    return r;
}

void *memcpy(void *d, const void *s, size_t n)
{
    void *r = d;
    u32 q = n >> 2, b = n & 3;
    __asm__ volatile("rep movsl" : "+D"(d), "+S"(s), "+c"(q) :: "memory");
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(b) :: "memory");
    return r;
}

void *memmove(void *d, const void *s, size_t n)
{
    u8 *dd = d;
    const u8 *ss = s;
    if (dd <= ss || dd >= ss + n)
        return memcpy(d, s, n);
    while (n--)
        dd[n] = ss[n];
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const u8 *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (u8)*a - (u8)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return (u8)*a - (u8)*b;
        if (!*a)
            return 0;
    }
    return 0;
}

char *strcpy(char *d, const char *s)
{
    char *r = d;
    while ((*d++ = *s++))
        ;
    return r;
}

struct out { char *buf; int size, len; };

static void put(struct out *o, char c)
{
    if (o->len < o->size - 1)
        o->buf[o->len] = c;
    o->len++;
}

static void vformat(struct out *o, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            put(o, *fmt);
            continue;
        }
        fmt++;
        int width = 0, zero = 0;
        if (*fmt == '0')
            zero = 1, fmt++;
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        char tmp[16];
        int n = 0;
        u32 v;
        switch (*fmt) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            for (; s && *s; s++)
                put(o, *s);
            continue;
        }
        case 'c':
            put(o, (char)va_arg(ap, int));
            continue;
        case 'd': {
            s32 d = va_arg(ap, s32);
            if (d < 0)
                put(o, '-'), d = -d;
            v = (u32)d;
            do tmp[n++] = '0' + v % 10; while (v /= 10);
            break;
        }
        case 'u':
            v = va_arg(ap, u32);
            do tmp[n++] = '0' + v % 10; while (v /= 10);
            break;
        case 'x':
            v = va_arg(ap, u32);
            do tmp[n++] = "0123456789abcdef"[v & 15]; while (v >>= 4);
            break;
        default:
            put(o, *fmt);
            continue;
        }
        while (n < width)
            tmp[n++] = zero ? '0' : ' ';
        while (n)
            put(o, tmp[--n]);
    }
}

int ksnprintf(char *buf, int size, const char *fmt, ...)
{
    struct out o = {buf, size, 0};
    va_list ap;
    va_start(ap, fmt);
    vformat(&o, fmt, ap);
    va_end(ap);
    buf[o.len < size ? o.len : size - 1] = 0;
    return o.len;
}

static void vlog(const char *fmt, va_list ap)
{
    static char buf[512];
    struct out o = {buf, sizeof buf, 0};
    vformat(&o, fmt, ap);
    int n = o.len < (int)sizeof buf ? o.len : (int)sizeof buf - 1;
    struct hostreq *r = host_begin(H_LOG);
    host_seg(r, buf, n);
    host_go(r);
}

void kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

void panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
    struct hostreq *r = host_begin(H_EXIT);
    r->a[0] = 0x7f00;           /* reported as a kernel panic */
    r->a[1] = 1;
    host_go(r);
    for (;;)
        outb(0xf4, 0x7f);
}

/* 64-bit division, which gcc calls out of line on i386 (libgcc is not linked) */
u64 __udivmoddi4(u64 n, u64 d, u64 *rem)
{
    u64 q = 0, r = 0;
    for (int i = 63; i >= 0; i--) {
        r = r << 1 | ((n >> i) & 1);
        if (r >= d) {
            r -= d;
            q |= 1ull << i;
        }
    }
    if (rem)
        *rem = r;
    return q;
}
u64 __udivdi3(u64 n, u64 d) { return __udivmoddi4(n, d, NULL); }
u64 __umoddi3(u64 n, u64 d) { u64 r; __udivmoddi4(n, d, &r); return r; }
s64 __divdi3(s64 n, s64 d)
{
    int neg = (n < 0) ^ (d < 0);
    u64 q = __udivdi3(n < 0 ? -(u64)n : (u64)n, d < 0 ? -(u64)d : (u64)d);
    return neg ? -(s64)q : (s64)q;
}

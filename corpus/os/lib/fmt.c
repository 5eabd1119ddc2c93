/*
 * corpus/os/lib/fmt.c -- printf formatting (see fmt.h).  32-bit division
 * only: the kernel is linked without libgcc.
 */
#include <stdint.h>
#include "fmt.h"

static void pad(putch_fn put, void *arg, int n, char c)
{
    while (n-- > 0)
        put(c, arg);
}

/* One converted field: `body` (len bytes, a sign already in front), padded
 * to `width` with spaces, or zeros after the sign when zero-padding. */
static void field(putch_fn put, void *arg, const char *body, int len,
                  int width, int left, int zero)
{
    int fill = width - len;
    if (left) {
        for (int i = 0; i < len; i++)
            put(body[i], arg);
        pad(put, arg, fill, ' ');
        return;
    }
    if (zero && len && body[0] == '-') {
        put('-', arg);
        body++, len--;
        pad(put, arg, fill, '0');
    } else {
        pad(put, arg, fill, zero ? '0' : ' ');
    }
    for (int i = 0; i < len; i++)
        put(body[i], arg);
}

static int utoa(char *buf, uint32_t v, uint32_t base)
{
    char tmp[12];
    int n = 0, len = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n)
        buf[len++] = tmp[--n];
    return len;
}

void vformat(putch_fn put, void *arg, const char *fmt, va_list ap)
{
    char buf[16];
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            put(*fmt, arg);
            continue;
        }
        int left = 0, zero = 0, width = 0, len;
        for (fmt++; *fmt == '-' || *fmt == '0'; fmt++)
            *fmt == '-' ? (left = 1) : (zero = 1);
        for (; *fmt >= '0' && *fmt <= '9'; fmt++)
            width = width * 10 + (*fmt - '0');
        while (*fmt == 'l')
            fmt++;
        switch (*fmt) {
        case 'd':
        case 'i': {
            int v = va_arg(ap, int);
            len = 0;
            if (v < 0)
                buf[len++] = '-';
            len += utoa(buf + len, v < 0 ? -(uint32_t)v : (uint32_t)v, 10);
            field(put, arg, buf, len, width, left, zero);
            break;
        }
        case 'u':
            len = utoa(buf, va_arg(ap, uint32_t), 10);
            field(put, arg, buf, len, width, left, zero);
            break;
        case 'x':
            len = utoa(buf, va_arg(ap, uint32_t), 16);
            field(put, arg, buf, len, width, left, zero);
            break;
        case 'p':
            buf[0] = '0', buf[1] = 'x';
            len = 2 + utoa(buf + 2, va_arg(ap, uint32_t), 16);
            field(put, arg, buf, len, width, left, 0);
            break;
        case 'c':
            buf[0] = (char)va_arg(ap, int);
            field(put, arg, buf, 1, width, left, 0);
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            len = 0;
            while (s[len])
                len++;
            field(put, arg, s, len, width, left, 0);
            break;
        }
        case '%':
            put('%', arg);
            break;
        case 0:
            return;
        default:                        /* unknown: print it as it is */
            put('%', arg);
            put(*fmt, arg);
            break;
        }
    }
}

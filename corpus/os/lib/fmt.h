/*
 * corpus/os/lib/fmt.h -- the printf engine shared by the kernel's cprintf
 * and the user library's printf: %d %i %u %x %p %s %c %%, the flags '-'
 * and '0', a field width and an 'l' modifier that is accepted and ignored
 * (int and long are both 32 bits).  Output goes character by character
 * to a callback, so callers decide on buffering.
 */
#ifndef BTOS_FMT_H
#define BTOS_FMT_H

#include <stdarg.h>

typedef void (*putch_fn)(int c, void *arg);

void vformat(putch_fn put, void *arg, const char *fmt, va_list ap);

#endif

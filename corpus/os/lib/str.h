/*
 * corpus/os/lib/str.h -- memory and string functions, compiled into both
 * the kernel and the user library (gcc may emit calls to memcpy/memset
 * even in freestanding code).
 */
#ifndef BTOS_STR_H
#define BTOS_STR_H

#include <stdint.h>

void *memset(void *dst, int c, uint32_t n);
void *memcpy(void *dst, const void *src, uint32_t n);
void *memmove(void *dst, const void *src, uint32_t n);
int memcmp(const void *a, const void *b, uint32_t n);
uint32_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, uint32_t n);
/* copy at most n-1 characters and always NUL-terminate (n > 0) */
void strlcpy(char *dst, const char *src, uint32_t n);
char *strchr(const char *s, int c);

#endif

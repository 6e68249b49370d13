// The C string and memory functions. The host build uses its libc; the kernel
// has its own in kernel/string.cpp (the compiler also emits calls to memset
// and memcpy on its own, so they must exist under these names).
#pragma once

#include "kernel/types.h"

#if MM_HOST
#include <string.h>
#else
extern "C" {
void *memset(void *dst, int c, size_t n);
void *memcpy(void *__restrict dst, const void *__restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
}
#endif

// The portable implementations behind the kernel's C names (kernel/string.cpp).
// The host builds them too, under these names, so that tests can compare
// them with libc.
namespace kstring {
void *memset(void *dst, int c, size_t n);
void *memcpy(void *__restrict dst, const void *__restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
}  // namespace kstring

// Linux's strscpy: copies at most size-1 bytes and always terminates (for
// size > 0). Returns the length copied, or -E2BIG when src did not fit.
long strscpy(char *dst, const char *src, size_t size);

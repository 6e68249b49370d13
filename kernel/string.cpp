// The kernel's C memory and string functions, and strscpy for both targets.
//
// The portable implementations live in namespace kstring and are built on the
// host too, so that the host tests can hold them to libc; only the kernel
// exports them under the C names (which the compiler also calls on its own).
// memcpy, memset and their kin use word-sized accesses once the pointers
// allow aligned ones: RISC-V may trap or crawl on misaligned words.
#include "kernel/string.h"

#include "kernel/errno.h"

// GCC turns a loop that copies or stores bytes into a call to memcpy or
// memset: inside memcpy and memset themselves, that would recurse forever.
#define __no_loop_patterns __attribute__((optimize("no-tree-loop-distribute-patterns")))

namespace kstring {

namespace {

// A word that may alias any object, as the bytes it stands for may.
using word_t = unsigned long __attribute__((may_alias));
constexpr uintptr_t WORD_MASK = sizeof(word_t) - 1;

}  // namespace

__no_loop_patterns void *memset(void *dst, int c, size_t n) {
  auto *d = static_cast<unsigned char *>(dst);
  const auto byte = static_cast<unsigned char>(c);
  for (; n && (reinterpret_cast<uintptr_t>(d) & WORD_MASK); n--) *d++ = byte;
  const word_t pattern = static_cast<word_t>(-1) / 0xff * byte;  // byte in every lane
  for (; n >= sizeof(word_t); n -= sizeof(word_t), d += sizeof(word_t))
    *reinterpret_cast<word_t *>(d) = pattern;
  for (; n; n--) *d++ = byte;
  return dst;
}

__no_loop_patterns void *memcpy(void *__restrict dst, const void *__restrict src, size_t n) {
  auto *d = static_cast<unsigned char *>(dst);
  auto *s = static_cast<const unsigned char *>(src);
  // Words only help when both pointers reach alignment at the same time.
  if (((reinterpret_cast<uintptr_t>(d) ^ reinterpret_cast<uintptr_t>(s)) & WORD_MASK) == 0) {
    for (; n && (reinterpret_cast<uintptr_t>(d) & WORD_MASK); n--) *d++ = *s++;
    for (; n >= sizeof(word_t); n -= sizeof(word_t), d += sizeof(word_t), s += sizeof(word_t))
      *reinterpret_cast<word_t *>(d) = *reinterpret_cast<const word_t *>(s);
  }
  for (; n; n--) *d++ = *s++;
  return dst;
}

// Copies forwards when dst is below src and backwards otherwise, so that each
// byte is read before an overlapping destination overwrites it.
__no_loop_patterns void *memmove(void *dst, const void *src, size_t n) {
  auto *d = static_cast<unsigned char *>(dst);
  auto *s = static_cast<const unsigned char *>(src);
  if (reinterpret_cast<uintptr_t>(d) <= reinterpret_cast<uintptr_t>(s)) {
    for (size_t i = 0; i < n; i++) d[i] = s[i];
  } else {
    for (size_t i = n; i; i--) d[i - 1] = s[i - 1];
  }
  return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
  auto *p = static_cast<const unsigned char *>(a);
  auto *q = static_cast<const unsigned char *>(b);
  for (size_t i = 0; i < n; i++)
    if (p[i] != q[i]) return p[i] < q[i] ? -1 : 1;
  return 0;
}

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

size_t strnlen(const char *s, size_t max) {
  size_t n = 0;
  while (n < max && s[n]) n++;
  return n;
}

// Characters compare as unsigned char, as C requires.
int strcmp(const char *a, const char *b) {
  for (;; a++, b++) {
    auto x = static_cast<unsigned char>(*a), y = static_cast<unsigned char>(*b);
    if (x != y) return x < y ? -1 : 1;
    if (!x) return 0;
  }
}

int strncmp(const char *a, const char *b, size_t n) {
  for (; n; n--, a++, b++) {
    auto x = static_cast<unsigned char>(*a), y = static_cast<unsigned char>(*b);
    if (x != y) return x < y ? -1 : 1;
    if (!x) return 0;
  }
  return 0;
}

// Finds c (converted to char) in s; the terminator itself is found for c == 0.
char *strchr(const char *s, int c) {
  const char ch = static_cast<char>(c);
  for (;; s++) {
    if (*s == ch) return const_cast<char *>(s);
    if (!*s) return nullptr;
  }
}

}  // namespace kstring

#if !MM_HOST
extern "C" {

__no_loop_patterns void *memset(void *dst, int c, size_t n) { return kstring::memset(dst, c, n); }
__no_loop_patterns void *memcpy(void *__restrict dst, const void *__restrict src, size_t n) {
  return kstring::memcpy(dst, src, n);
}
__no_loop_patterns void *memmove(void *dst, const void *src, size_t n) {
  return kstring::memmove(dst, src, n);
}
int memcmp(const void *a, const void *b, size_t n) { return kstring::memcmp(a, b, n); }
size_t strlen(const char *s) { return kstring::strlen(s); }
size_t strnlen(const char *s, size_t max) { return kstring::strnlen(s, max); }
int strcmp(const char *a, const char *b) { return kstring::strcmp(a, b); }
int strncmp(const char *a, const char *b, size_t n) { return kstring::strncmp(a, b, n); }
char *strchr(const char *s, int c) { return kstring::strchr(s, c); }

}  // extern "C"
#endif

// Needs dst with room for size bytes, and src terminated or at least size
// bytes long: no more than size bytes of it are read. Returns -E2BIG, with dst
// holding the truncated, terminated copy, when src does not fit; -E2BIG with
// dst untouched when size is 0 or beyond INT_MAX (surely a caller's bug, as in
// Linux).
long strscpy(char *dst, const char *src, size_t size) {
  if (size == 0 || size > static_cast<size_t>(__INT_MAX__)) return -E2BIG;
  for (size_t i = 0; i < size; i++) {
    dst[i] = src[i];
    if (!src[i]) return static_cast<long>(i);
  }
  dst[size - 1] = '\0';
  return -E2BIG;
}

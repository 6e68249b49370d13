// Basic kernel types, shared by the kernel and the host build of the same sources.
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

using u8 = uint8_t;
using u16 = uint16_t;
using u32 = uint32_t;
using u64 = uint64_t;
using s8 = int8_t;
using s16 = int16_t;
using s32 = int32_t;
using s64 = int64_t;

// Physical addresses are integers, never pointers: reaching the memory behind
// one takes an explicit phys_to_virt() through the arch interface.
using phys_addr_t = u64;
using pfn_t = u64;
constexpr phys_addr_t PHYS_ADDR_MAX = ~phys_addr_t(0);

constexpr unsigned PAGE_SHIFT = 12;
constexpr u64 PAGE_SIZE = u64(1) << PAGE_SHIFT;
constexpr u64 PAGE_MASK = ~(PAGE_SIZE - 1);

constexpr u64 SZ_4K = 0x1000, SZ_64K = 0x10000, SZ_1M = 0x100000, SZ_2M = 0x200000;
constexpr u64 SZ_16M = 0x1000000, SZ_128M = 0x8000000, SZ_1G = 0x40000000;
constexpr u64 SZ_4G = 0x100000000;

template <class T, size_t N>
constexpr size_t ARRAY_SIZE(const T (&)[N]) { return N; }

constexpr u64 ALIGN_DOWN(u64 x, u64 a) { return x & ~(a - 1); }
constexpr u64 ALIGN_UP(u64 x, u64 a) { return (x + a - 1) & ~(a - 1); }
constexpr bool IS_ALIGNED(u64 x, u64 a) { return (x & (a - 1)) == 0; }
constexpr bool is_power_of_2(u64 x) { return x != 0 && (x & (x - 1)) == 0; }

constexpr pfn_t PHYS_PFN(phys_addr_t pa) { return pa >> PAGE_SHIFT; }
constexpr phys_addr_t PFN_PHYS(pfn_t pfn) { return pfn << PAGE_SHIFT; }
constexpr pfn_t PFN_UP(phys_addr_t pa) { return (pa + PAGE_SIZE - 1) >> PAGE_SHIFT; }
constexpr pfn_t PFN_DOWN(phys_addr_t pa) { return pa >> PAGE_SHIFT; }

// The freestanding toolchain ships no <concepts>; this is all we need of it.
template <class T, class U>
concept same_as = __is_same(T, U);

// A single, untorn load or store that the compiler neither drops, repeats nor
// merges (Linux's READ_ONCE/WRITE_ONCE): for data written under one lock and
// read without it. In the kernel a plain instruction through volatile, where
// GCC 12 turns a relaxed __atomic_store_n into an atomic swap on RISC-V. On
// the host a relaxed atomic (a plain mov on x86 too), so that
// ThreadSanitizer sees these intended races as atomic accesses.
#ifdef MM_HOST
template <class T>
inline T READ_ONCE(const T &x) {
  T v;
  __atomic_load(&x, &v, __ATOMIC_RELAXED);
  return v;
}
template <class T, class V>
inline void WRITE_ONCE(T &x, V v) {
  T t = T(v);
  __atomic_store(&x, &t, __ATOMIC_RELAXED);
}
#else
template <class T>
inline T READ_ONCE(const T &x) { return *static_cast<const volatile T *>(&x); }
template <class T, class V>
inline void WRITE_ONCE(T &x, V v) { *static_cast<volatile T *>(&x) = T(v); }
#endif

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define __printf(a, b) __attribute__((format(printf, a, b)))
#define __noreturn [[noreturn]]

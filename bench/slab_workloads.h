// The kmalloc benchmark workload, as bench/page_alloc_workloads.h is for the
// page allocator: the kernel's `bench` monitor command (kernel/bench_cmds.cpp)
// counts it in RISC-V instructions per pair, and the host benchmark
// (bench/slab_bench.cpp) makes the same calls with the same flags and sizes
// them by the same cache, through the harness it shares with malloc.
//
// A pair is one kmalloc(size, BENCH_GFP) and the kfree of the result.
// Invariant: after finish, every object the workload took is free again;
// the cache may hold more free slabs than before (kmalloc_bench_cache names
// the cache to shrink when that matters).
//
// Freestanding: the kernel includes this, so no C++ standard library here.
#pragma once

#include "bench/page_alloc_workloads.h"  // BENCH_GFP
#include "mm/slab.h"

// The cache a workload's requests go to (BENCH_GFP names no zone, so the
// ordinary kmalloc caches).
inline kmem_cache *kmalloc_bench_cache(slab_allocator &sa, size_t size) {
  return sa.kmalloc_caches[KMALLOC_NORMAL][kmalloc_index(size)];
}

struct kmalloc_pair_bench {
  slab_allocator *sa;
  size_t size;
  unsigned long failures;  // allocations that returned nullptr
};

// One kmalloc and its kfree. Returns false when the allocation failed.
inline bool kmalloc_pair_step(kmalloc_pair_bench &b) {
  void *p = kmalloc(*b.sa, b.size, BENCH_GFP);
  if (unlikely(!p)) {
    b.failures++;
    return false;
  }
  kfree(*b.sa, p);
  return true;
}

// One warm-up pair: the first allocation on a CPU takes a slab from the
// node (perhaps a new slab), which is not the steady state that is
// measured. Returns false if even that pair failed.
inline bool kmalloc_pair_start(kmalloc_pair_bench &b, slab_allocator &sa, size_t size) {
  b.sa = &sa;
  b.size = size;
  b.failures = 0;
  return kmalloc_pair_step(b);
}

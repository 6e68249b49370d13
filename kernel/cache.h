// Cache-line sizes and alignment (Linux's include/linux/cache.h): data that
// different CPUs write goes on lines of its own, so that one CPU's writes do
// not take the line away from another (false sharing).
#pragma once

// 64-byte lines on riscv (the Zicbom block size of every core we run on) and
// on the hosts the tests run on.
constexpr unsigned L1_CACHE_SHIFT = 6;
constexpr unsigned L1_CACHE_BYTES = 1u << L1_CACHE_SHIFT;
constexpr unsigned SMP_CACHE_BYTES = L1_CACHE_BYTES;
// Nodes share no cache here beyond the L1 line (no vSMP-style internode
// lines), so internode alignment is the L1 line, as on Linux's riscv.
constexpr unsigned INTERNODE_CACHE_BYTES = L1_CACHE_BYTES;

#define ____cacheline_aligned_in_smp alignas(SMP_CACHE_BYTES)
#define ____cacheline_internodealigned_in_smp alignas(INTERNODE_CACHE_BYTES)

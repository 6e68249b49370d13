// The page allocator's benchmark workloads, one definition for both places
// that measure them: the host benchmark (bench/page_alloc_bench.cpp, ns per
// pair with Google Benchmark) and the kernel's `bench` monitor command
// (kernel/bench_cmds.cpp, RISC-V instructions per pair), so that both run the
// very same calls.
//
// A "pair" is one allocation and one free. Each workload is started (outside
// the measurement), stepped one pair at a time, and finished. Invariant: after
// finish, every page the workload took is free again and the tunables it
// changed (pcp_disabled) are back: the allocator is as it was found, up to
// the order of its free lists and what its per-CPU lists hold.
//
// Freestanding: the kernel includes this, so no C++ standard library here.
#pragma once

#include "mm/page_alloc.h"

// What the workloads ask for. __GFP_NOWARN: a failure is counted by the
// workload and reported once, not warned about on every step.
constexpr gfp_t BENCH_GFP = GFP_KERNEL | __GFP_NOWARN;

// ---- pairs of one order ------------------------------------------------------------

struct pair_bench {
  mem_system *ms;
  unsigned order;
  bool saved_pcp_disabled;
  unsigned long failures;  // allocations that returned nullptr
};

// One allocation and its free. Returns false when the allocation failed.
// Always inlined, so that the loop that counts it is the same wherever the
// compiler would otherwise decide differently.
__attribute__((always_inline)) inline bool pair_bench_step(pair_bench &b) {
  mem_system &ms = *b.ms;
  page *p = alloc_pages(ms, BENCH_GFP, b.order);
  if (unlikely(!p)) {
    b.failures++;
    return false;
  }
  __free_pages(ms, p, b.order);
  return true;
}

// The same pair for order 0 through the constant forms, alloc_page and
// __free_page, as a caller asking for one page of constant flags writes
// them: their fast paths are inlined here with the request's checks folded
// (mm/page_alloc_fast.h). pair_bench_step with order 0 is the same pair
// through the out-of-line entry points a runtime order takes.
__attribute__((always_inline)) inline bool pair_bench_step_order0(pair_bench &b) {
  mem_system &ms = *b.ms;
  page *p = alloc_page(ms, BENCH_GFP);
  if (unlikely(!p)) {
    b.failures++;
    return false;
  }
  __free_page(ms, p);
  return true;
}

// Prepares pairs of `order`. With no_pcp the per-CPU lists are drained and
// turned off, so that every pair goes to the buddy lists. One warm-up pair
// fills the per-CPU list (a first refill of `batch` pages is not the steady
// state that is measured). Returns false if even that pair failed; the
// workload must still be finished.
inline bool pair_bench_start(pair_bench &b, mem_system &ms, unsigned order, bool no_pcp) {
  b.ms = &ms;
  b.order = order;
  b.saved_pcp_disabled = ms.pcp_disabled;
  b.failures = 0;
  if (no_pcp) {
    drain_all_pages(ms);
    ms.pcp_disabled = true;
  }
  return pair_bench_step(b);
}

inline void pair_bench_finish(pair_bench &b) { b.ms->pcp_disabled = b.saved_pcp_disabled; }

// ---- churn of random orders ---------------------------------------------------------

// Live blocks in the pool. Orders 0..10 average about 186 pages, so the
// pool holds ~12000 pages (~47 MiB): a fifth of the host's 256 MiB, a tenth
// of the kernel's 512 MiB, leaving order-10 blocks to be found.
constexpr unsigned CHURN_BLOCKS = 64;
constexpr u64 CHURN_SEED = 0x9e3779b97f4a7c15ull;
static_assert(is_power_of_2(CHURN_BLOCKS), "the slot is taken from the low bits");

struct churn_bench {
  mem_system *ms;
  page *block[CHURN_BLOCKS];  // nullptr where an allocation failed
  u8 order[CHURN_BLOCKS];
  u64 rng;                 // xorshift64 state, never 0
  unsigned long failures;  // allocations that returned nullptr
};

// Marsaglia's xorshift64: a handful of instructions, so that the generator
// costs little next to the pair it drives, and the same on both targets.
inline u64 churn_random(churn_bench &b) {
  u64 x = b.rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  b.rng = x;
  return x;
}

// Replaces the block in slot i with a new one of a random order.
__attribute__((always_inline)) inline void churn_refill(churn_bench &b, unsigned i, unsigned order) {
  b.block[i] = alloc_pages(*b.ms, BENCH_GFP, order);
  b.order[i] = u8(order);
  if (unlikely(!b.block[i])) b.failures++;
}

// One pair: frees a random live block and allocates one of a random order in
// its place. Always inlined, as pair_bench_step.
__attribute__((always_inline)) inline void churn_bench_step(churn_bench &b) {
  u64 r = churn_random(b);
  unsigned i = unsigned(r) & (CHURN_BLOCKS - 1);
  unsigned order = unsigned(r >> 32) % NR_PAGE_ORDERS;
  if (likely(b.block[i])) __free_pages(*b.ms, b.block[i], b.order[i]);
  churn_refill(b, i, order);
}

// Fills the pool from a fixed seed, so that every run makes the same requests.
inline void churn_bench_start(churn_bench &b, mem_system &ms) {
  b.ms = &ms;
  b.rng = CHURN_SEED;
  b.failures = 0;
  for (unsigned i = 0; i < CHURN_BLOCKS; i++)
    churn_refill(b, i, unsigned(churn_random(b) >> 32) % NR_PAGE_ORDERS);
}

inline void churn_bench_finish(churn_bench &b) {
  for (unsigned i = 0; i < CHURN_BLOCKS; i++) {
    if (b.block[i]) __free_pages(*b.ms, b.block[i], b.order[i]);
    b.block[i] = nullptr;
  }
}

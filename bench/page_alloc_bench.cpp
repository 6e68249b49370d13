// Host benchmark of the page allocator: ns per alloc+free pair, with Google
// Benchmark, over a 256 MiB single-zone machine built by the same
// mem_system_init the kernel runs (proptest/mm_fixture.h). The workloads are
// bench/page_alloc_workloads.h, shared with the kernel's `bench` command.
//
// Timings are figures, never a pass/fail test: meson builds this but does
// not register it as a test. docs/benchmarks.md explains the numbers.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/page_alloc_workloads.h"
#include "proptest/mm_fixture.h"

namespace {

// The machine every benchmark runs on, built once: one zone, one node, the
// benchmark's thread as CPU 0 (host threads are CPUs, and this one never
// sets its number, so it is 0).
mm_fixture &bench_machine() {
  static mm_fixture *f = [] {
    auto *m = new mm_fixture;
    if (int err = build_single_zone(*m, 256 * SZ_1M)) {
      std::fprintf(stderr, "page_alloc_bench: cannot build the 256 MiB machine: error %d\n", err);
      std::exit(1);
    }
    return m;
  }();
  return *f;
}

// Pages the allocator holds free, on the buddy and per-CPU lists together:
// a workload that leaks or double-frees changes it.
unsigned long free_and_pcp(const mem_system &ms) {
  return nr_free_pages(ms) + nr_free_pcp_pages(ms);
}

// After a workload: the allocator must be consistent and hold as many free
// pages as before, or the timings are of a broken allocator.
void check_after(benchmark::State &state, const mm_fixture &f, unsigned long free_before) {
  std::string report = f.check();
  if (!report.empty()) {
    state.SkipWithError(("allocator inconsistent after the workload: " + report).c_str());
    return;
  }
  unsigned long free_after = free_and_pcp(*f.ms);
  if (free_after != free_before)
    state.SkipWithError(("free pages changed: " + std::to_string(free_before) + " before, " +
                         std::to_string(free_after) + " after")
                            .c_str());
}

// Pairs of one order, one pair per iteration; constant_order0: through
// alloc_page / __free_page (pair_bench_step_order0).
void run_pairs(benchmark::State &state, unsigned order, bool no_pcp, bool constant_order0 = false) {
  mm_fixture &f = bench_machine();
  unsigned long free_before = free_and_pcp(*f.ms);
  pair_bench b;
  if (!pair_bench_start(b, *f.ms, order, no_pcp)) {
    pair_bench_finish(b);
    state.SkipWithError("the warm-up allocation failed");
    return;
  }
  if (constant_order0)
    for (auto _ : state) benchmark::DoNotOptimize(pair_bench_step_order0(b));
  else
    for (auto _ : state) benchmark::DoNotOptimize(pair_bench_step(b));
  pair_bench_finish(b);
  state.SetItemsProcessed(state.iterations());
  if (b.failures) {
    state.SkipWithError(("allocations failed: " + std::to_string(b.failures)).c_str());
    return;
  }
  check_after(state, f, free_before);
}

// An order-0 pair through the per-CPU lists: the fast path the issue aims at,
// called as alloc_page(GFP_KERNEL) / __free_page are, with constants.
void BM_Order0PairPcp(benchmark::State &state) { run_pairs(state, 0, false, true); }
// The same pair with the order as a variable: the out-of-line entry points.
void BM_Order0PairPcpVar(benchmark::State &state) { run_pairs(state, 0, false); }
// An order-0 pair straight to the buddy lists: split from the largest free
// block on allocation, merged back all the way on free.
void BM_Order0PairNoPcp(benchmark::State &state) { run_pairs(state, 0, true); }
// Order 3 is the highest order the per-CPU lists keep.
void BM_Order3Pair(benchmark::State &state) { run_pairs(state, 3, false); }
// Order 9 (2 MiB, a huge page) always goes to the buddy lists.
void BM_Order9Pair(benchmark::State &state) { run_pairs(state, 9, false); }

// Free a random block of the pool and allocate one of a random order 0..10.
void BM_RandomOrderChurn(benchmark::State &state) {
  mm_fixture &f = bench_machine();
  unsigned long free_before = free_and_pcp(*f.ms);
  static churn_bench b;  // 64 slots: keep it off the benchmark's stack
  churn_bench_start(b, *f.ms);
  for (auto _ : state) churn_bench_step(b);
  churn_bench_finish(b);
  state.SetItemsProcessed(state.iterations());
  // A failure is not an error (the pool can fragment the zone), but it
  // changes what was measured: say how often (a "failed" column appears).
  if (b.failures) state.counters["failed"] = double(b.failures);
  check_after(state, f, free_before);
}

BENCHMARK(BM_Order0PairPcp);
BENCHMARK(BM_Order0PairPcpVar);
BENCHMARK(BM_Order0PairNoPcp);
BENCHMARK(BM_Order3Pair);
BENCHMARK(BM_Order9Pair);
BENCHMARK(BM_RandomOrderChurn);

}  // namespace

BENCHMARK_MAIN();

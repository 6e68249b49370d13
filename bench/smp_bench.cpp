// Host benchmark of the allocators under several CPUs at once (issue 6):
// order-0 page pairs and kmalloc(64)/kfree pairs with 1, 2 and 4 threads,
// each thread its own CPU (host_set_cpu), over one shared 256 MiB machine
// with four CPUs, and how much of their time the threads spend waiting for
// the zone lock (and, for kmalloc, the slab node's list_lock).
//
// It links host_mm_lockstat, the mm sources built with CONFIG_LOCK_STAT
// (kernel/spinlock.h): every spinlock_t counts its contended acquisitions
// and the time spent waiting for it. Figures only, never a test.
//
// Counters (Google Benchmark sums them over threads; only thread 0 sets them):
//   items_per_second  pairs per second of all threads together (wall clock)
//   zone_wait         time spent waiting for the zone lock / time of all threads
//   zone_contended    contended acquisitions / acquisitions of the zone lock
//   list_wait         kmalloc: the same share for kmalloc-64's list_lock
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "mm/slab.h"
#include "proptest/mm_fixture.h"

#ifndef CONFIG_LOCK_STAT
#error "smp_bench needs the CONFIG_LOCK_STAT build of mm (bench/meson.build)"
#endif

namespace {

constexpr unsigned BENCH_CPUS = 4;
constexpr gfp_t BENCH_GFP = GFP_KERNEL | __GFP_NOWARN;

struct smp_machine {
  mm_fixture mm;
  slab_allocator sa;
  zone *z;           // the only zone
  kmem_cache *k64;   // kmalloc-64
};

// Built once: one node, one zone (DMA32) of 256 MiB, four CPUs.
smp_machine &machine() {
  static smp_machine *m = [] {
    auto *s = new smp_machine;
    int err = s->mm.build({{0x80000000, 256 * SZ_1M, 0}}, layout_with_limits(0, PFN_4G, PFN_MAX, BENCH_CPUS));
    if (!err) err = slab_allocator_init(&s->sa, *s->mm.ms, 0, 0x5eed);
    if (err) {
      std::fprintf(stderr, "smp_bench: cannot build the machine: error %d\n", err);
      std::exit(1);
    }
    for_each_online_pgdat(*s->mm.ms, pgdat) for_each_zone_of(pgdat, zz) if (managed_zone(zz)) s->z = zz;
    s->k64 = s->sa.kmalloc_caches[KMALLOC_NORMAL][kmalloc_index(64)];
    return s;
  }();
  return *m;
}

// Free pages when nothing is held: buddy and per-CPU lists, after giving
// back kmalloc-64's slabs.
unsigned long free_at_rest(smp_machine &m) {
  kmem_cache_shrink(m.k64);
  drain_all_pages(*m.mm.ms);
  return nr_free_pages(*m.mm.ms);
}

void reset_stats(spinlock_t &l) { l.stats = lock_stats{}; }

// What thread 0 does around the timed loop: the lock statistics, and the
// wall-clock window in lock_stat_clock ticks from before the loop to after
// it. Google Benchmark holds every thread at the loop's start until all are
// there and lets none leave before all are done, so every wait of every
// thread falls in the window, and all threads' time is threads x window
// (a little more than they ran: the share is, if anything, low).
class lock_share {
 public:
  explicit lock_share(benchmark::State &state, smp_machine &m) : state_(state), m_(m) {
    if (state_.thread_index() != 0) return;
    reset_stats(m_.z->lock);
    for (kmem_cache_node &n : m_.k64->node) reset_stats(n.list_lock);
    start_ = lock_stat_clock();
  }
  void finish() {
    if (state_.thread_index() != 0) return;
    double all = double(lock_stat_clock() - start_) * state_.threads();
    const lock_stats &zs = m_.z->lock.stats;
    state_.counters["zone_wait"] = double(zs.waittime_total) / all;
    state_.counters["zone_contended"] = zs.acquisitions ? double(zs.contentions) / double(zs.acquisitions) : 0;
    if (wants_list_) state_.counters["list_wait"] = double(m_.k64->node[0].list_lock.stats.waittime_total) / all;
  }
  void report_list_lock() { wants_list_ = true; }

 private:
  benchmark::State &state_;
  smp_machine &m_;
  u64 start_ = 0;
  bool wants_list_ = false;
};

// After the loop, thread 0: the allocator must be consistent and hold every
// page it held before, or the figures are of a broken allocator.
void check_after(benchmark::State &state, smp_machine &m, unsigned long free_before) {
  if (state.thread_index() != 0) return;
  std::string report = m.mm.check();
  unsigned long free_after = free_at_rest(m);
  if (!report.empty()) state.SkipWithError(("allocator inconsistent: " + report).c_str());
  else if (free_after != free_before)
    state.SkipWithError(("free pages changed: " + std::to_string(free_before) + " before, " +
                         std::to_string(free_after) + " after").c_str());
}

// Order-0 pairs; with no_pcp every request takes the zone lock.
void run_page_pairs(benchmark::State &state, bool no_pcp) {
  smp_machine &m = machine();
  mem_system &ms = *m.mm.ms;
  host_set_cpu(unsigned(state.thread_index()));
  unsigned long free_before = 0;
  if (state.thread_index() == 0) {
    free_before = free_at_rest(m);
    ms.pcp_disabled = no_pcp;
  }
  lock_share share(state, m);
  unsigned long failures = 0;
  for (auto _ : state) {
    page *p = alloc_pages(ms, BENCH_GFP, 0);
    if (unlikely(!p)) {
      failures++;
      continue;
    }
    __free_pages(ms, p, 0);
  }
  share.finish();
  state.SetItemsProcessed(state.iterations());
  if (failures) state.counters["failed"] = double(failures);
  if (state.thread_index() == 0) ms.pcp_disabled = false;
  check_after(state, m, free_before);
}

void BM_Order0PairThreads(benchmark::State &state) { run_page_pairs(state, false); }
void BM_Order0PairNoPcpThreads(benchmark::State &state) { run_page_pairs(state, true); }

// kmalloc(64) and kfree pairs: the CPU's own slab, which takes slabs from and
// gives them back to the node's lists under list_lock, which get their
// pages from the zone.
void BM_Kmalloc64PairThreads(benchmark::State &state) {
  smp_machine &m = machine();
  host_set_cpu(unsigned(state.thread_index()));
  unsigned long free_before = state.thread_index() == 0 ? free_at_rest(m) : 0;
  lock_share share(state, m);
  share.report_list_lock();
  unsigned long failures = 0;
  for (auto _ : state) {
    void *p = kmalloc(m.sa, 64, BENCH_GFP);
    if (unlikely(!p)) {
      failures++;
      continue;
    }
    benchmark::DoNotOptimize(p);
    kfree(m.sa, p);
  }
  share.finish();
  state.SetItemsProcessed(state.iterations());
  if (failures) state.counters["failed"] = double(failures);
  check_after(state, m, free_before);
}

// Wall-clock time: items_per_second is then the throughput of all threads
// together, which is what scaling is about.
BENCHMARK(BM_Order0PairThreads)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();
BENCHMARK(BM_Order0PairNoPcpThreads)->Threads(1)->Threads(2)->UseRealTime();
// Four threads on a two-core host queue on one ticket lock: whenever the
// thread holding the next ticket is descheduled, the others spin out their
// time slices (a kernel spins with preemption off, on CPUs it does not
// share), and a pair can take milliseconds. A fixed count and three runs
// keep that case to seconds.
BENCHMARK(BM_Order0PairNoPcpThreads)->Threads(4)->Iterations(1000)->Repetitions(3)->UseRealTime();
BENCHMARK(BM_Kmalloc64PairThreads)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

// The per-CPU counter deltas under real threads as CPUs (run under
// ThreadSanitizer too, proptest_tsan): random updates on every CPU at once,
// each thread's own delta checked after every update, folds from each
// CPU's own thread and snapshots read from another thread meanwhile.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "kernel/spinlock.h"
#include "mm/vmstat.h"
#include "proptest/mm_fixture.h"

namespace {

struct cpu_reset {
  ~cpu_reset() { host_set_cpu(0); }
};

// After any random sequence of updates on any CPUs, the total plus every
// CPU's delta is the exact count (each update counted once, none lost),
// every delta stayed within its threshold all along, and once every CPU
// has folded (refresh_cpu_vm_stats on its own thread) the total alone is
// exact and every delta is 0. The node counters likewise.
RC_GTEST_PROP(VmstatThreads, FoldingKeepsTheExactSum, ()) {
  const unsigned cpus = *rc::gen::inRange(2u, 5u);
  const unsigned ops = *rc::gen::inRange(100u, 3000u);
  const unsigned seed = *rc::gen::arbitrary<unsigned>();
  cpu_reset reset;
  mm_fixture f;
  RC_ASSERT(build_single_zone(f, 64 * SZ_1M, cpus) == 0);
  mem_system &ms = *f.ms;
  zone *z = first_managed_zone(ms);
  pglist_data *pgdat = z->zone_pgdat;
  long zone_before[NR_VM_ZONE_STAT_ITEMS], node_before[NR_VM_NODE_STAT_ITEMS];
  for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++)
    zone_before[i] = z->vm_stat[i] + zone_page_state_diffs(z, zone_stat_item(i));
  for (unsigned i = 0; i < NR_VM_NODE_STAT_ITEMS; i++)
    node_before[i] = node_page_state_snapshot(pgdat, node_stat_item(i));

  std::atomic<long> zone_added[NR_VM_ZONE_STAT_ITEMS] = {}, node_added[NR_VM_NODE_STAT_ITEMS] = {};
  std::atomic<int> out_of_range{0};
  std::atomic<unsigned> running{cpus};
  auto worker = [&](unsigned cpu) {
    host_set_cpu(cpu);
    std::mt19937 rng(seed * 131 + cpu);
    long mine_zone[NR_VM_ZONE_STAT_ITEMS] = {}, mine_node[NR_VM_NODE_STAT_ITEMS] = {};
    for (unsigned n = 0; n < ops; n++) {
      const unsigned r = rng() % 100;
      // Mostly single pages, sometimes a block, rarely far past the threshold.
      long delta = r < 70 ? 1 : r < 90 ? long(1) << (rng() % 4) : long(rng() % 1000);
      if (rng() % 2) delta = -delta;
      if (r < 40) {
        const auto item = zone_stat_item(rng() % NR_VM_ZONE_STAT_ITEMS);
        mod_zone_page_state(z, item, delta);
        mine_zone[item] += delta;
      } else if (r < 70) {
        // As the buddy paths do: under the zone lock, interrupts masked.
        spin_lock_irqsave_guard g(z->lock);
        __mod_zone_page_state(z, NR_FREE_PAGES, delta);
        mine_zone[NR_FREE_PAGES] += delta;
      } else if (r < 97) {
        const auto item = node_stat_item(rng() % NR_VM_NODE_STAT_ITEMS);
        mod_node_page_state(pgdat, item, delta);
        mine_node[item] += delta;
      } else {
        refresh_cpu_vm_stats(ms);
      }
      const per_cpu_zonestat &pcz = z->per_cpu_zonestats[cpu];
      for (s8 d : pcz.vm_stat_diff)
        if (d > pcz.stat_threshold || d < -pcz.stat_threshold) out_of_range++;
      const per_cpu_nodestat &pcn = pgdat->per_cpu_nodestats[cpu];
      for (s8 d : pcn.vm_node_stat_diff)
        if (d > pcn.stat_threshold || d < -pcn.stat_threshold) out_of_range++;
    }
    for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++) zone_added[i] += mine_zone[i];
    for (unsigned i = 0; i < NR_VM_NODE_STAT_ITEMS; i++) node_added[i] += mine_node[i];
    running--;
  };
  std::vector<std::thread> threads;
  host_release_cpu();  // the workers are CPUs 0..cpus-1
  for (unsigned c = 0; c < cpus; c++) threads.emplace_back(worker, c);
  // Meanwhile, snapshots from a thread that is no CPU (as a report reads).
  long reads = 0;
  while (running.load() > 0) {
    for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++) reads += zone_page_state_snapshot(z, zone_stat_item(i));
    reads += node_page_state_snapshot(pgdat, NR_SLAB_RECLAIMABLE);
    std::this_thread::yield();
  }
  for (std::thread &t : threads) t.join();
  RC_ASSERT(out_of_range.load() == 0);
  for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++)
    RC_ASSERT(z->vm_stat[i] + zone_page_state_diffs(z, zone_stat_item(i)) == zone_before[i] + zone_added[i].load());
  for (unsigned i = 0; i < NR_VM_NODE_STAT_ITEMS; i++)
    RC_ASSERT(node_page_state_snapshot(pgdat, node_stat_item(i)) == std::max(0l, node_before[i] + node_added[i].load()));

  // Every CPU folds its own deltas: the totals alone are exact.
  threads.clear();
  for (unsigned c = 0; c < cpus; c++)
    threads.emplace_back([&, c] {
      host_set_cpu(c);
      refresh_cpu_vm_stats(ms);
    });
  for (std::thread &t : threads) t.join();
  host_set_cpu(0);
  for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++) {
    RC_ASSERT(z->vm_stat[i] == zone_before[i] + zone_added[i].load());
    for (const per_cpu_zonestat &pcz : z->per_cpu_zonestats) RC_ASSERT(pcz.vm_stat_diff[i] == 0);
  }
  for (unsigned i = 0; i < NR_VM_NODE_STAT_ITEMS; i++)
    RC_ASSERT(pgdat->vm_stat[i] == node_before[i] + node_added[i].load());
  RC_TAG(reads != 0);  // keeps the reads from being optimised out

  // Undone on CPU 0, the machine passes its checker again.
  for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++) mod_zone_page_state(z, zone_stat_item(i), -zone_added[i].load());
  for (unsigned i = 0; i < NR_VM_NODE_STAT_ITEMS; i++) mod_node_page_state(pgdat, node_stat_item(i), -node_added[i].load());
  RC_ASSERT(f.check() == std::string());
}

// Two live threads cannot run as the same CPU: the second claim fails and
// changes nothing; once the first thread ends, its number is free.
TEST(VmstatThreads, TwoThreadsNeverShareACpu) {
  cpu_reset reset;
  host_release_cpu();
  std::atomic<int> stage{0};
  std::thread holder([&] {
    host_set_cpu(3);
    stage = 1;
    while (stage.load() != 2) std::this_thread::yield();
  });
  while (stage.load() != 1) std::this_thread::yield();
  EXPECT_FALSE(host_try_set_cpu(3));
  EXPECT_FALSE(host_try_set_cpu(3 + NR_CPUS)) << "the same per-CPU slot";
  EXPECT_TRUE(host_try_set_cpu(4));
  EXPECT_EQ(smp_processor_id(), 4u);
  stage = 2;
  holder.join();
  EXPECT_TRUE(host_try_set_cpu(3));
  EXPECT_EQ(smp_processor_id(), 3u);
  host_release_cpu();
}

}  // namespace

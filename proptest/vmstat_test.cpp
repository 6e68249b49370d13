// Per-CPU vmstat (mm/vmstat.h): the threshold formula, the drift-mark rule,
// the watermark check with and without the snapshot, folding, zoneinfo's
// pagesets, the checker's findings on damaged counters, and the layout of
// struct zone. The threaded folding property is in vmstat_threads_test.cpp.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <iterator>
#include <string>

#include "mm/vmstat.h"
#include "proptest/check_damage.h"
#include "proptest/mm_fixture.h"
#include "mm/page_report.h"
#include "proptest/report_helpers.h"

namespace {

using damage::expect_finds;

struct cpu_reset {
  ~cpu_reset() { host_set_cpu(0); }
};

// ---------------------------------------------------------------- thresholds

// calculate_normal_threshold is the reference's formula for every CPU count
// and for zone sizes at and around each power of two of 128 MiB units.
TEST(VmstatThreshold, NormalThresholdFollowsTheFormula) {
  for (unsigned cpus = 1; cpus <= 256; cpus++)
    for (unsigned shift = 0; shift < 40; shift++)
      for (long off : {-1l, 0l, 1l}) {
        const long pages = (1l << shift) + off;
        if (pages < 0) continue;
        ASSERT_EQ(calculate_normal_threshold(static_cast<unsigned long>(pages), cpus),
                  reference_normal_threshold(static_cast<unsigned long>(pages), cpus))
            << cpus << " CPUs, " << pages << " pages";
      }
  // Points worked by hand: 1 CPU and 64 MiB; 4 CPUs and 512 MiB (fls 3,
  // fls(4) = 3); 8 CPUs and 16 GiB (fls 4, fls(128) = 8); the cap.
  EXPECT_EQ(calculate_normal_threshold(16384, 1), 2);
  EXPECT_EQ(calculate_normal_threshold(131072, 4), 24);
  EXPECT_EQ(calculate_normal_threshold(4194304, 8), 72);
  EXPECT_EQ(calculate_normal_threshold(1ul << 28, 64), 125);
}

// Linux's rule: high + threshold * CPUs when that drift exceeds low - min,
// else no mark.
RC_GTEST_PROP(VmstatThreshold, DriftMarkRule, ()) {
  const int t = *rc::gen::inRange(0, MAX_STAT_THRESHOLD + 1);
  const unsigned cpus = *rc::gen::inRange(1u, 65u);
  // The gap at, or one either side of, the drift as often as anywhere else:
  // "exceeds" is strict.
  const unsigned long drift = static_cast<unsigned long>(t) * cpus;
  const unsigned long gap = *rc::gen::oneOf(rc::gen::inRange(0ul, 5000ul),
                                            rc::gen::element(drift, drift + 1, drift ? drift - 1 : 0));
  const unsigned long min = *rc::gen::inRange(0ul, 100000ul);
  const unsigned long low = min + gap;
  const unsigned long high = low + (low - min);
  const unsigned long mark = percpu_drift_mark_for(min, low, high, t, cpus);
  if (static_cast<unsigned long>(t) * cpus > low - min) RC_ASSERT(mark == high + static_cast<unsigned long>(t) * cpus);
  else RC_ASSERT(mark == 0ul);
}

// On built machines every zone's and node's thresholds and every zone's
// drift mark are set as the rules say, for 1 to 8 CPUs; a small zone with
// many CPUs gets a drift mark, a large one with few does not.
TEST(VmstatThreshold, SetOnEveryZoneAndNode) {
  bool saw_mark = false, saw_none = false;
  for (unsigned cpus : {1u, 2u, 3u, 4u, 8u})
    for (u64 size : {u64(8) * SZ_1M, u64(64) * SZ_1M, u64(512) * SZ_1M}) {
      SCOPED_TRACE(std::to_string(cpus) + " CPUs, " + std::to_string(size >> 20) + " MiB");
      mm_fixture f;
      ASSERT_EQ(build_single_zone(f, size, cpus), 0);
      for_each_online_pgdat(*f.ms, pgdat) {
        int node_want = 0;
        for_each_zone_of(pgdat, z) {
          const int want = populated_zone(z) ? reference_normal_threshold(z->managed_pages, cpus) : 0;
          if (want > node_want) node_want = want;
          for (const per_cpu_zonestat &pcz : z->per_cpu_zonestats) EXPECT_EQ(pcz.stat_threshold, want) << z->name;
          const unsigned long drift = static_cast<unsigned long>(want) * cpus;
          const unsigned long gap = low_wmark_pages(z) - min_wmark_pages(z);
          EXPECT_EQ(z->percpu_drift_mark, populated_zone(z) && drift > gap ? high_wmark_pages(z) + drift : 0ul)
              << z->name;
          if (populated_zone(z)) (z->percpu_drift_mark ? saw_mark : saw_none) = true;
        }
        for (const per_cpu_nodestat &pcn : pgdat->per_cpu_nodestats) EXPECT_EQ(pcn.stat_threshold, node_want);
      }
      EXPECT_EQ(f.check(), "");
    }
  EXPECT_TRUE(saw_mark) << "no layout had a drift mark: the rule's other side went untested";
  EXPECT_TRUE(saw_none);
}

// ---------------------------------------------------------------- the drift mark

// A zone of its own for the watermark model: watermarks, no reserves, and
// counters set directly (order-0 checks read nothing else).
struct model_zone {
  zone z{};
  unsigned cpus;
  int t;
  model_zone(unsigned long min, unsigned long low, unsigned long high, unsigned c, int threshold)
      : cpus(c), t(threshold) {
    z._watermark[WMARK_MIN] = min;
    z._watermark[WMARK_LOW] = low;
    z._watermark[WMARK_HIGH] = high;
    z.managed_pages = 1;  // populated, for nothing here reads it
    for (per_cpu_zonestat &pcz : z.per_cpu_zonestats) pcz.stat_threshold = s8(threshold);
    z.percpu_drift_mark = percpu_drift_mark_for(min, low, high, threshold, cpus);
  }
  // exact free pages, spread as a total and a delta per online CPU.
  void set(long exact, const std::vector<int> &deltas) {
    long sum = 0;
    for (unsigned c = 0; c < NR_CPUS; c++) {
      int d = c < cpus ? deltas[c] : 0;
      z.per_cpu_zonestats[c].vm_stat_diff[NR_FREE_PAGES] = s8(d);
      sum += d;
    }
    z.vm_stat[NR_FREE_PAGES] = exact - sum;
  }
};

// The safe check agrees with the exact count whenever the total is below
// the drift mark; the plain check reads the total, and where it disagrees
// with the exact count, the exact count is within threshold * CPUs of the
// mark. With a drift mark, whatever the deltas, a safe check at low that
// passes means the exact count is at least low; and with no drift mark (the drift is within
// low - min), a plain check at low that passes still means the exact count
// is above min: Linux's reason for the rule.
RC_GTEST_PROP(VmstatDrift, SafeCheckReadsTheSnapshotBelowTheMark, ()) {
  const unsigned cpus = *rc::gen::inRange(1u, NR_CPUS + 1);
  const int t = *rc::gen::inRange(1, MAX_STAT_THRESHOLD + 1);
  const unsigned long min = *rc::gen::inRange(0ul, 2000ul);
  const unsigned long low = min + *rc::gen::inRange(0ul, 1000ul);
  const unsigned long high = low + (low - min);
  model_zone m(min, low, high, cpus, t);
  const long drift = long(t) * cpus;
  std::vector<int> deltas;
  for (unsigned c = 0; c < cpus; c++) deltas.push_back(*rc::gen::inRange(-t, t + 1));
  long exact = *rc::gen::inRange(long(min) - drift, long(high) + 2 * drift + 2);
  long sum = 0;
  for (int d : deltas) sum += d;
  if (exact < 0) exact = 0;
  RC_PRE(exact - sum >= 0);  // a total below 0 is clamped: not this model's case
  m.set(exact, deltas);
  RC_ASSERT(zone_page_state_snapshot(&m.z, NR_FREE_PAGES) == exact);
  const long total = zone_page_state(&m.z, NR_FREE_PAGES);
  RC_CLASSIFY(m.z.percpu_drift_mark != 0, "drift mark set");
  RC_CLASSIFY(total != exact, "total off");
  for (unsigned long mark : {min, low, high}) {
    const bool safe = zone_watermark_ok_safe(&m.z, 0, mark, 0);
    const bool plain = zone_watermark_ok(&m.z, 0, mark, 0, 0);
    RC_ASSERT(plain == (total > long(mark)));
    if (m.z.percpu_drift_mark && total < long(m.z.percpu_drift_mark)) RC_ASSERT(safe == (exact > long(mark)));
    else RC_ASSERT(safe == plain);
    if (plain != (exact > long(mark))) RC_ASSERT(std::abs(exact - long(mark)) <= drift);
  }
  if (m.z.percpu_drift_mark && zone_watermark_ok_safe(&m.z, 0, low, 0)) RC_ASSERT(exact >= long(low));
  if (!m.z.percpu_drift_mark && zone_watermark_ok(&m.z, 0, low, 0, 0)) RC_ASSERT(exact > long(min));
}

// ---------------------------------------------------------------- folding

// A delta past the threshold goes to the total at once and the delta
// restarts at 0; within it, only the delta moves. A fold of another CPU
// moves its deltas into the totals and changes no sum.
// Linux's readers never give a negative count. A counter can sum below 0 for
// a moment (one CPU's frees folded, another's allocations still in its
// delta): zone_page_state, the snapshots and global_node_page_state read
// 0 then, and the exact value as soon as it is positive again.
TEST(VmstatReaders, NeverBelowZero) {
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 16 * SZ_1M, 2), 0);
  drain_all_pages(*f.ms);
  zone *z = first_managed_zone(*f.ms);
  pglist_data *n = f.ms->node_data[0];
  const long zone_saved = z->vm_stat[NR_ZONE_ALLOCATED], node_saved = n->vm_stat[NR_SLAB_RECLAIMABLE];
  const s8 zone_delta = z->per_cpu_zonestats[1].vm_stat_diff[NR_ZONE_ALLOCATED];
  const s8 node_delta = n->per_cpu_nodestats[1].vm_node_stat_diff[NR_SLAB_RECLAIMABLE];
  const long zone_pcp = zone_page_state_pcp(z, NR_ZONE_ALLOCATED);
  for (long total : {-5l, -1l, 0l, 1l, 5l}) {
    SCOPED_TRACE("total " + std::to_string(total));
    const long want = total < 0 ? 0 : total;
    z->vm_stat[NR_ZONE_ALLOCATED] = total - zone_pcp;
    z->per_cpu_zonestats[1].vm_stat_diff[NR_ZONE_ALLOCATED] = 0;
    EXPECT_EQ(zone_page_state(z, NR_ZONE_ALLOCATED), want);
    // The same total with 3 of it still in CPU 1's delta: only the snapshot sees it.
    z->vm_stat[NR_ZONE_ALLOCATED] = total - zone_pcp - 3;
    z->per_cpu_zonestats[1].vm_stat_diff[NR_ZONE_ALLOCATED] = 3;
    EXPECT_EQ(zone_page_state_snapshot(z, NR_ZONE_ALLOCATED), want);
    EXPECT_EQ(zone_page_state_sum(z, NR_ZONE_ALLOCATED), total) << "the checker's sum is not clamped";

    n->per_cpu_nodestats[1].vm_node_stat_diff[NR_SLAB_RECLAIMABLE] = 0;
    n->vm_stat[NR_SLAB_RECLAIMABLE] = total;
    EXPECT_EQ(global_node_page_state(*f.ms, NR_SLAB_RECLAIMABLE), static_cast<unsigned long>(want));
    n->vm_stat[NR_SLAB_RECLAIMABLE] = total + 3;
    n->per_cpu_nodestats[1].vm_node_stat_diff[NR_SLAB_RECLAIMABLE] = -3;
    EXPECT_EQ(node_page_state_snapshot(n, NR_SLAB_RECLAIMABLE), want);
    EXPECT_EQ(global_node_page_state_snapshot(*f.ms, NR_SLAB_RECLAIMABLE), static_cast<unsigned long>(want));
  }
  z->vm_stat[NR_ZONE_ALLOCATED] = zone_saved;
  z->per_cpu_zonestats[1].vm_stat_diff[NR_ZONE_ALLOCATED] = zone_delta;
  n->vm_stat[NR_SLAB_RECLAIMABLE] = node_saved;
  n->per_cpu_nodestats[1].vm_node_stat_diff[NR_SLAB_RECLAIMABLE] = node_delta;
  EXPECT_EQ(f.check(), "");
}

TEST(VmstatFold, ThresholdFoldsAndCpuFold) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 4), 0);
  zone *z = first_managed_zone(*f.ms);
  pglist_data *pgdat = z->zone_pgdat;
  const int t = z->per_cpu_zonestats[0].stat_threshold;
  ASSERT_EQ(t, 2 * 3 * 1);  // fls(4) = 3, 64 MiB is under 128 MiB
  for (unsigned cpu = 0; cpu < 4; cpu++) {
    host_set_cpu(cpu);
    refresh_cpu_vm_stats(*f.ms);
  }
  host_set_cpu(2);
  const long total = z->vm_stat[NR_ZONE_ALLOCATED];
  const long sum = zone_page_state_sum(z, NR_ZONE_ALLOCATED);
  const long node_total = pgdat->vm_stat[NR_SLAB_RECLAIMABLE];
  for (int i = 1; i <= t; i++) {
    mod_zone_page_state(z, NR_ZONE_ALLOCATED, 1);
    EXPECT_EQ(z->per_cpu_zonestats[2].vm_stat_diff[NR_ZONE_ALLOCATED], i);
    EXPECT_EQ(z->vm_stat[NR_ZONE_ALLOCATED], total);
  }
  mod_zone_page_state(z, NR_ZONE_ALLOCATED, 1);  // t + 1: past it
  EXPECT_EQ(z->per_cpu_zonestats[2].vm_stat_diff[NR_ZONE_ALLOCATED], 0);
  EXPECT_EQ(z->vm_stat[NR_ZONE_ALLOCATED], total + t + 1);
  mod_zone_page_state(z, NR_ZONE_ALLOCATED, -(t + 1) - 1000);  // far past, the other way
  EXPECT_EQ(z->per_cpu_zonestats[2].vm_stat_diff[NR_ZONE_ALLOCATED], 0);
  EXPECT_EQ(z->vm_stat[NR_ZONE_ALLOCATED], total - 1000);
  mod_zone_page_state(z, NR_ZONE_ALLOCATED, 1000);
  EXPECT_EQ(z->vm_stat[NR_ZONE_ALLOCATED], total);
  mod_zone_page_state(z, NR_ZONE_ALLOCATED, -t);  // exactly at it: kept
  mod_node_page_state(pgdat, NR_SLAB_RECLAIMABLE, 1);
  EXPECT_EQ(z->per_cpu_zonestats[2].vm_stat_diff[NR_ZONE_ALLOCATED], -t);
  EXPECT_EQ(z->vm_stat[NR_ZONE_ALLOCATED], total);
  EXPECT_EQ(zone_page_state_sum(z, NR_ZONE_ALLOCATED), sum - t);
  EXPECT_EQ(pgdat->per_cpu_nodestats[2].vm_node_stat_diff[NR_SLAB_RECLAIMABLE], 1);
  // CPU 0 folds CPU 2, which runs nothing meanwhile.
  host_set_cpu(0);
  EXPECT_EQ(cpu_vm_stats_fold(*f.ms, 2), 2);
  EXPECT_EQ(z->per_cpu_zonestats[2].vm_stat_diff[NR_ZONE_ALLOCATED], 0);
  EXPECT_EQ(z->vm_stat[NR_ZONE_ALLOCATED], total - t);
  EXPECT_EQ(zone_page_state_sum(z, NR_ZONE_ALLOCATED), sum - t);
  EXPECT_EQ(pgdat->vm_stat[NR_SLAB_RECLAIMABLE], node_total + 1);
  EXPECT_EQ(cpu_vm_stats_fold(*f.ms, 2), 0) << "nothing left to fold";
  // And CPU 2 folds itself.
  host_set_cpu(2);
  mod_zone_page_state(z, NR_ZONE_ALLOCATED, t);
  mod_node_page_state(pgdat, NR_SLAB_RECLAIMABLE, -1);
  EXPECT_EQ(refresh_cpu_vm_stats(*f.ms), 2);
  EXPECT_EQ(z->vm_stat[NR_ZONE_ALLOCATED], total);
  EXPECT_EQ(zone_page_state_sum(z, NR_ZONE_ALLOCATED), sum);
  EXPECT_EQ(pgdat->vm_stat[NR_SLAB_RECLAIMABLE], node_total);
  EXPECT_EQ(f.check(), "");
}

// cpu_vm_stats_fold(cpu) folds that CPU's deltas and no other's, for every
// CPU number (odd ones too).
TEST(VmstatFold, CpuFoldTakesThatCpuOnly) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 4), 0);
  zone *z = first_managed_zone(*f.ms);
  for (unsigned cpu = 0; cpu < 4; cpu++) {
    host_set_cpu(cpu);
    refresh_cpu_vm_stats(*f.ms);
    mod_zone_page_state(z, NR_ZONE_ALLOCATED, long(cpu) + 1);  // under the threshold (6)
  }
  const long total = z->vm_stat[NR_ZONE_ALLOCATED];
  host_set_cpu(0);
  for (unsigned cpu : {3u, 1u}) {
    EXPECT_EQ(cpu_vm_stats_fold(*f.ms, cpu), 1) << cpu;
    EXPECT_EQ(z->per_cpu_zonestats[cpu].vm_stat_diff[NR_ZONE_ALLOCATED], 0) << cpu;
  }
  EXPECT_EQ(z->vm_stat[NR_ZONE_ALLOCATED], total + 4 + 2);
  EXPECT_EQ(z->per_cpu_zonestats[0].vm_stat_diff[NR_ZONE_ALLOCATED], 1);
  EXPECT_EQ(z->per_cpu_zonestats[2].vm_stat_diff[NR_ZONE_ALLOCATED], 3);
  for (unsigned cpu : {0u, 2u}) EXPECT_EQ(cpu_vm_stats_fold(*f.ms, cpu), 1) << cpu;
  EXPECT_EQ(z->vm_stat[NR_ZONE_ALLOCATED], total + 10);
  z->vm_stat[NR_ZONE_ALLOCATED] = total;  // the deltas were made up: take them back
  EXPECT_EQ(f.check(), "");
}

// A fold moves every delta that is not 0, whatever its value: with every
// zone counter's delta at +1 (then -1) on a CPU, one fold of that CPU moves
// them all, each total by that one, and counts them all.
TEST(VmstatFold, EveryNonZeroDeltaMoves) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 4), 0);
  zone *z = first_managed_zone(*f.ms);
  for (unsigned cpu = 0; cpu < 4; cpu++) cpu_vm_stats_fold(*f.ms, cpu);
  long saved[NR_VM_ZONE_STAT_ITEMS];
  std::copy(std::begin(z->vm_stat), std::end(z->vm_stat), saved);
  for (s8 d : {s8(1), s8(-1)}) {
    SCOPED_TRACE("every delta " + std::to_string(d));
    for (s8 &diff : z->per_cpu_zonestats[3].vm_stat_diff) diff = d;
    EXPECT_EQ(cpu_vm_stats_fold(*f.ms, 3), int(NR_VM_ZONE_STAT_ITEMS));
    for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++) {
      EXPECT_EQ(z->per_cpu_zonestats[3].vm_stat_diff[i], 0) << i;
      EXPECT_EQ(z->vm_stat[i], saved[i] + d) << i;
    }
    std::copy(std::begin(saved), std::end(saved), z->vm_stat);  // the deltas were made up: take them back
  }
  EXPECT_EQ(f.check(), "");
}

// Allocating and freeing on a CPU leaves NR_FREE_PAGES' total off from the
// lists by that CPU's delta only; draining the CPU's pages folds it, and
// the total alone is exact again.
TEST(VmstatFold, DrainLocalPagesFolds) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 2), 0);
  zone *z = first_managed_zone(*f.ms);
  f.ms->pcp_disabled = true;  // every page through the buddy lists
  refresh_cpu_vm_stats(*f.ms);  // CPU 0's deltas from the setup
  host_set_cpu(1);
  std::vector<page *> held;
  for (int i = 0; i < 37; i++) held.push_back(alloc_pages(*f.ms, GFP_KERNEL, i % 3));
  for (size_t i = 0; i < held.size(); i += 2) __free_pages(*f.ms, held[i], unsigned(i % 3));
  EXPECT_EQ(f.check(), "");
  bool off = false;
  for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++) off |= z->per_cpu_zonestats[1].vm_stat_diff[i] != 0;
  EXPECT_TRUE(off) << "this workload leaves some delta on CPU 1";
  drain_local_pages(*f.ms);
  for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++) {
    EXPECT_EQ(z->per_cpu_zonestats[1].vm_stat_diff[i], 0) << i;
    EXPECT_EQ(zone_page_state(z, zone_stat_item(i)), zone_page_state_snapshot(z, zone_stat_item(i))) << i;
  }
  for (size_t i = 1; i < held.size(); i += 2) __free_pages(*f.ms, held[i], unsigned(i % 3));
  EXPECT_EQ(f.check(), "");
}

// ---------------------------------------------------------------- zoneinfo

// Each populated zone's zoneinfo has Linux's pagesets block: per online CPU
// its count, high and batch, then the CPU's vm stats threshold.
TEST(VmstatReport, ZoneinfoShowsPagesetsAndThreshold) {
  mm_fixture f;
  ASSERT_EQ(build_two_nodes(f), 0);
  const mem_system &ms = *f.ms;
  const std::string text = reportt::capture(show_zoneinfo, ms);
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) {
    if (!populated_zone(z)) continue;
    std::string want = "\n  pagesets";
    for (unsigned c = 0; c < ms.nr_cpus; c++)
      want += "\n    cpu: " + std::to_string(c) + "\n              count: " + std::to_string(z->pcp[c].count) +
              "\n              high:  " + std::to_string(z->pcp[c].high) +
              "\n              batch: " + std::to_string(z->pcp[c].batch) + "\n  vm stats threshold: " +
              std::to_string(reference_normal_threshold(z->managed_pages, ms.nr_cpus));
    want += "\n  node_unreclaimable:";
    const std::string head = "Node " + std::to_string(pgdat->node_id) + ", zone " +
                             std::string(8 - std::string(z->name).size(), ' ') + z->name;
    const size_t at = text.find(head);
    ASSERT_NE(at, std::string::npos) << head;
    EXPECT_NE(text.find(want, at), std::string::npos) << want << "\nin\n" << text;
    EXPECT_NE(reference_normal_threshold(z->managed_pages, ms.nr_cpus), 0);
  }
}

// ---------------------------------------------------------------- the checker

struct VmstatCheck : ::testing::Test {
  mm_fixture f;
  zone *z = nullptr;
  int t = 0;
  void SetUp() override {
    ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 2), 0);
    z = first_managed_zone(*f.ms);
    t = z->per_cpu_zonestats[1].stat_threshold;
    ASSERT_EQ(f.check(), "");
  }
  void TearDown() override { EXPECT_EQ(f.check(), "") << "after the repair"; }
  std::string where() const { return "node 0 zone " + std::string(z->name) + ": "; }
};

// A delta past the threshold, with the total making the sum right: only the
// delta's range is wrong.
TEST_F(VmstatCheck, FindsDeltaBeyondThreshold) {
  s8 &d = z->per_cpu_zonestats[1].vm_stat_diff[NR_FREE_PAGES];
  const s8 old = d;
  d = s8(t + 1);
  z->vm_stat[NR_FREE_PAGES] -= t + 1 - old;
  expect_finds(f.check(), {where() + "CPU 1's vm_stat_diff[0] is " + std::to_string(t + 1) + ", beyond its threshold " +
                           std::to_string(t)});
  z->vm_stat[NR_FREE_PAGES] += t + 1 - old;
  d = old;
}

// A total off by a page with the deltas within range: the sum is wrong.
TEST_F(VmstatCheck, FindsWrongTotal) {
  const long exact = zone_page_state_snapshot(z, NR_FREE_PAGES);
  z->vm_stat[NR_FREE_PAGES] += 1;
  expect_finds(f.check(), {where() + "NR_FREE_PAGES is " + std::to_string(exact + 1)});
  z->vm_stat[NR_FREE_PAGES] -= 1;
}

// A delta that holds a page the total does not: the sum is wrong, though
// each part alone looks fine.
TEST_F(VmstatCheck, FindsWrongDelta) {
  const long exact = zone_page_state_snapshot(z, NR_ZONE_ALLOCATED);
  s8 &d = z->per_cpu_zonestats[0].vm_stat_diff[NR_ZONE_ALLOCATED];
  const s8 old = d;
  d = s8(old > 0 ? old - 1 : old + 1);
  expect_finds(f.check(), {where() + "NR_ZONE_ALLOCATED is " + std::to_string(exact + (d - old))});
  d = old;
}

TEST_F(VmstatCheck, FindsWrongDriftMark) {
  const unsigned long mark = z->percpu_drift_mark;
  z->percpu_drift_mark = high_wmark_pages(z) + 1;
  expect_finds(f.check(), {where() + "percpu_drift_mark is " + std::to_string(high_wmark_pages(z) + 1) +
                           " but the watermarks and 2 CPUs at threshold " + std::to_string(t) + " give " +
                           std::to_string(mark)});
  z->percpu_drift_mark = mark;
}

TEST_F(VmstatCheck, FindsWrongThreshold) {
  s8 &th = z->per_cpu_zonestats[1].stat_threshold;
  s8 &d = z->per_cpu_zonestats[1].vm_stat_diff[NR_FREE_PAGES];
  const s8 old = d;
  z->vm_stat[NR_FREE_PAGES] += old;  // a delta of 0 stays within any threshold
  d = 0;
  th = s8(t + 1);
  expect_finds(f.check(), {where() + "CPU 1's vm stats threshold is " + std::to_string(t + 1) +
                           " but calculate_normal_threshold gives " + std::to_string(t)});
  th = s8(t);
  d = old;
  z->vm_stat[NR_FREE_PAGES] -= old;
}

TEST_F(VmstatCheck, FindsNodeDeltaBeyondThreshold) {
  pglist_data *pgdat = z->zone_pgdat;
  s8 &d = pgdat->per_cpu_nodestats[0].vm_node_stat_diff[NR_SLAB_UNRECLAIMABLE];
  const s8 old = d;
  d = s8(-t - 1);
  expect_finds(f.check(), {"node 0: CPU 0's vm_node_stat_diff[1] is " + std::to_string(-t - 1) +
                           ", beyond its threshold " + std::to_string(t)});
  d = old;
}

// A delta of exactly its threshold either way is within range; one past
// it is named. Every CPU's deltas are read, the table's first and last, and
// every item, the first and the last; a zone's and a node's alike (the total
// moves with the delta, so that only the delta's range is in question).
TEST_F(VmstatCheck, DeltaAtThresholdIsWithin) {
  pglist_data *pgdat = z->zone_pgdat;
  // Delta d at exactly the threshold, then one past it; `name` is how the
  // report names it.
  auto probe = [&](s8 &d, long &total, const std::string &name, int sign) {
    SCOPED_TRACE(name + " sign " + std::to_string(sign));
    const s8 old = d;
    d = s8(sign * t);
    total -= d - old;
    EXPECT_EQ(f.check(), "");
    d = s8(sign * (t + 1));
    total -= sign;
    expect_finds(f.check(), {name + " is " + std::to_string(sign * (t + 1)) + ", beyond its threshold " +
                             std::to_string(t)});
    total += d - old;
    d = old;
  };
  for (unsigned cpu : {0u, NR_CPUS - 1})
    for (int sign : {1, -1}) {
      const std::string on = "CPU " + std::to_string(cpu) + "'s ";
      for (unsigned i : {0u, unsigned(NR_VM_ZONE_STAT_ITEMS) - 1})
        probe(z->per_cpu_zonestats[cpu].vm_stat_diff[i], z->vm_stat[i],
              where() + on + "vm_stat_diff[" + std::to_string(i) + "]", sign);
      for (unsigned i : {0u, unsigned(NR_VM_NODE_STAT_ITEMS) - 1})
        probe(pgdat->per_cpu_nodestats[cpu].vm_node_stat_diff[i], pgdat->vm_stat[i],
              "node 0: " + on + "vm_node_stat_diff[" + std::to_string(i) + "]", sign);
    }
}

// Every CPU's threshold is compared, the table's first and last, a zone's
// with calculate_normal_threshold and a node's with its largest zone's.
TEST_F(VmstatCheck, FindsWrongThresholdOnEveryCpu) {
  pglist_data *pgdat = z->zone_pgdat;
  for (unsigned cpu : {0u, NR_CPUS - 1}) {
    s8 &th = z->per_cpu_zonestats[cpu].stat_threshold;
    th = s8(t + 1);
    expect_finds(f.check(), {where() + "CPU " + std::to_string(cpu) + "'s vm stats threshold is " +
                             std::to_string(t + 1) + " but calculate_normal_threshold gives " + std::to_string(t)});
    th = s8(t);
    s8 &nth = pgdat->per_cpu_nodestats[cpu].stat_threshold;
    nth = s8(t - 1);
    expect_finds(f.check(), {"node 0: CPU " + std::to_string(cpu) + "'s vm stats threshold is " +
                             std::to_string(t - 1) + " but its largest zone's is " + std::to_string(t)});
    nth = s8(t);
  }
}

// ---------------------------------------------------------------- layout

// What mmzone.h's static_asserts say, as a reader can check it at run time:
// the read-mostly fields, the free areas with the lock, compaction with the
// drift mark, and the counters never share a cache line, nor do two CPUs'
// pagesets or deltas.
TEST(VmstatLayout, ZoneGroupsOnLinesOfTheirOwn) {
  auto line = [](size_t off) { return off / SMP_CACHE_BYTES; };
  const size_t groups[][2] = {
      {offsetof(zone, _watermark), offsetof(zone, pageblock_base) + sizeof(uintptr_t) - 1},
      {offsetof(zone, free_area), offsetof(zone, lock) + sizeof(spinlock_t) - 1},
      {offsetof(zone, percpu_drift_mark), offsetof(zone, compact_order_failed) + sizeof(int) - 1},
      {offsetof(zone, vm_stat), offsetof(zone, vm_stat) + sizeof(zone::vm_stat) - 1},
      {offsetof(zone, per_cpu_zonestats), offsetof(zone, per_cpu_zonestats) + sizeof(zone::per_cpu_zonestats) - 1},
      {offsetof(zone, pcp), offsetof(zone, pcp) + sizeof(zone::pcp) - 1},
  };
  for (size_t g = 1; g < std::size(groups); g++) EXPECT_LT(line(groups[g - 1][1]), line(groups[g][0])) << "group " << g;
  EXPECT_EQ(alignof(zone), size_t(SMP_CACHE_BYTES));
  for (unsigned c = 1; c < NR_CPUS; c++) {
    EXPECT_LT(line(offsetof(zone, pcp) + c * sizeof(per_cpu_pages) - 1), line(offsetof(zone, pcp) + c * sizeof(per_cpu_pages)));
    EXPECT_EQ((offsetof(zone, per_cpu_zonestats) + c * sizeof(per_cpu_zonestat)) % SMP_CACHE_BYTES, 0u);
  }
  EXPECT_LT(offsetof(zone, vm_stat) + sizeof(zone::vm_stat), 2048u) << "fast_watermark_ok's load of the total";
  EXPECT_LE(offsetof(zone, per_cpu_zonestats) + sizeof(per_cpu_zonestat), 2048u) << "the deltas' loads";
}

}  // namespace

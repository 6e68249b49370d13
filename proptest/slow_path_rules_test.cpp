// The slow path's rounds (mm/page_alloc.cpp's __alloc_pages_slowpath), each
// rule with the count Linux's gives, read from allocstall (one per round of
// direct reclaim): how long should_reclaim_retry goes on while the exact
// free count passes min, what reclaim's progress resets, when a
// __GFP_NOFAIL request warns, and the drain a request that cannot sleep
// makes before it fails.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernel/printk.h"
#include "mm/page_alloc.h"
#include "mm/page_alloc_internal.h"
#include "mm/vmscan.h"
#include "mm/vmstat.h"
#include "proptest/mm_fixture.h"
#include "proptest/slab_fixture.h"

namespace {

using slabt::count_of;
using slabt::cpu_reset;
using slabt::read_log;

constexpr int MAX_RECLAIM_RETRIES = 16;  // Linux's

int one_cpu(mm_fixture &f) { return build_single_zone(f, 64 * SZ_1M, 1); }
int two_cpus(mm_fixture &f) { return build_single_zone(f, 64 * SZ_1M, 2); }

// A machine (64 MiB on one CPU unless `build` says otherwise) whose every
// page the test holds, on CPU 0, down to the reserve that `gfp` may not
// use. z is its first zone.
struct full_machine {
  cpu_reset reset;
  mm_fixture f;
  mem_system *ms = nullptr;
  zone *z = nullptr;
  std::vector<page *> held;

  explicit full_machine(gfp_t gfp, int (*build)(mm_fixture &) = one_cpu) {
    EXPECT_EQ(build(f), 0);
    ms = f.ms.get();
    z = first_managed_zone(*ms);
    host_set_cpu(0);
    take_all(gfp);
  }
  ~full_machine() { give_back(); }
  void take_all(gfp_t gfp) {
    while (page *p = alloc_pages(*ms, gfp | __GFP_NOWARN, 0)) held.push_back(p);
  }
  void give_back() {
    for (page *p : held) __free_pages(*ms, p, 0);
    held.clear();
  }
  // Direct reclaims of every classzone (GFP_KERNEL's is Normal).
  unsigned long stalls() const {
    unsigned long n = 0;
    for (int i = ALLOCSTALL_DMA; i <= ALLOCSTALL_MOVABLE; i++) n += vm_event(*ms, vm_event_item(i));
    return n;
  }
};

// A shrinker with nothing to give that says it freed one object a call
// (progress that was not made) in the first `lie_rounds` rounds of direct
// reclaim after it was made.
struct claiming_shrinker {
  shrinker s = {};
  full_machine *m;
  unsigned long lie_rounds, made_at;
  claiming_shrinker(full_machine &machine, unsigned long lies)
      : m(&machine), lie_rounds(lies), made_at(machine.stalls()) {
    s.count_objects = [](shrinker *, shrink_control *) -> unsigned long { return 1000; };
    s.scan_objects = [](shrinker *sh, shrink_control *) -> unsigned long {
      auto *r = static_cast<claiming_shrinker *>(sh->private_data);
      return r->m->stalls() - r->made_at <= r->lie_rounds ? 1 : 0;
    };
    s.private_data = this;
    register_shrinker(*m->ms, &s);
  }
  ~claiming_shrinker() { unregister_shrinker(*m->ms, &s); }
};

// should_reclaim_retry reads the exact free count: while it passes min, an
// order-0 request goes on through MAX_RECLAIM_RETRIES rounds without
// progress and gives up on the next (17 rounds of direct reclaim), though
// every allocation attempt, which reads the folded total, fails. A round
// with progress starts the count again.
TEST(SlowPathRules, ReclaimRetriesWhileTheExactCountPassesMin) {
  full_machine m(GFP_KERNEL | __GFP_NORETRY);
  per_cpu_zonestat &pcz = m.z->per_cpu_zonestats[0];
  const s8 threshold = pcz.stat_threshold;
  // Free pages whose count stays in this CPU's delta: the total lags.
  pcz.stat_threshold = 100;
  m.ms->pcp_disabled = true;
  drain_all_pages(*m.ms);
  refresh_cpu_vm_stats(*m.ms);
  const unsigned long min = min_wmark_pages(m.z);
  ASSERT_LE(zone_page_state(m.z, NR_FREE_PAGES), long(min));
  while (zone_page_state_snapshot(m.z, NR_FREE_PAGES) <= long(min) + 4) {
    __free_pages(*m.ms, m.held.back(), 0);
    m.held.pop_back();
  }
  ASSERT_LE(zone_page_state(m.z, NR_FREE_PAGES), long(min)) << "the delta was folded";
  for (unsigned long lies : {0ul, 5ul}) {
    SCOPED_TRACE(std::to_string(lies) + " rounds with progress");
    claiming_shrinker claim(m, lies);
    const unsigned long stalls = m.stalls();
    EXPECT_EQ(alloc_pages(*m.ms, GFP_KERNEL | __GFP_NOWARN, 0), nullptr);
    EXPECT_EQ(m.stalls() - stalls, lies + MAX_RECLAIM_RETRIES + 1);
    // __GFP_NORETRY gives up after one round whatever the count says.
    EXPECT_EQ(alloc_pages(*m.ms, GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN, 0), nullptr);
    EXPECT_EQ(m.stalls() - stalls, lies + MAX_RECLAIM_RETRIES + 2);
  }
  // Without the lag the count fails min too: one round.
  refresh_cpu_vm_stats(*m.ms);
  pcz.stat_threshold = threshold;
  m.take_all(GFP_KERNEL | __GFP_NORETRY);
  refresh_cpu_vm_stats(*m.ms);
  const unsigned long stalls = m.stalls();
  EXPECT_EQ(alloc_pages(*m.ms, GFP_KERNEL | __GFP_NOWARN, 0), nullptr);
  EXPECT_EQ(m.stalls() - stalls, 1ul);
  m.ms->pcp_disabled = false;
  m.give_back();
  EXPECT_EQ(m.f.check(), "");
}

// A shrinker holding pages of the machine's that it gives back at its first
// scan once direct reclaim has run `rounds` times since it was armed (with
// kswapd_only, at kswapd's first scan after that: direct reclaim scans with
// the request's flags, kswapd with GFP_KERNEL).
struct releasing_shrinker {
  shrinker s = {};
  full_machine *m;
  std::vector<page *> pages;
  unsigned long armed_at = 0, rounds = 0;
  bool kswapd_only = false;
  explicit releasing_shrinker(full_machine &machine) : m(&machine) {
    s.count_objects = [](shrinker *sh, shrink_control *) -> unsigned long {
      return static_cast<releasing_shrinker *>(sh->private_data)->pages.size();
    };
    s.scan_objects = [](shrinker *sh, shrink_control *sc) -> unsigned long {
      auto *r = static_cast<releasing_shrinker *>(sh->private_data);
      if ((r->kswapd_only && (sc->gfp_mask & __GFP_NOFAIL)) || r->m->stalls() - r->armed_at < r->rounds) return 0;
      const unsigned long n = r->pages.size();
      for (page *p : r->pages) __free_pages(*r->m->ms, p, 0);
      r->pages.clear();
      return n;
    };
    s.private_data = this;
    register_shrinker(*m->ms, &s);
  }
  ~releasing_shrinker() { unregister_shrinker(*m->ms, &s); }
  // 512 pages: more than min, so that the next attempt passes.
  void arm(unsigned long after_rounds, bool by_kswapd) {
    armed_at = m->stalls();
    rounds = after_rounds;
    kswapd_only = by_kswapd;
    for (int i = 0; i < 512; i++) {
      pages.push_back(m->held.back());
      m->held.pop_back();
    }
  }
};

// __GFP_NOFAIL never gives up: each failing round reclaims, tries the min
// reserve, runs kswapd and goes round again. It warns in its first failing
// round and every thousandth after (1, 1001, ...): a caller stuck there is
// reported without flooding the log.
TEST(SlowPathRules, NofailWarnsOnItsFirstRoundAndEveryThousandth) {
  full_machine m(GFP_ATOMIC);  // below the part of min a __GFP_NOFAIL round may use
  releasing_shrinker release(m);
  for (auto [rounds, warnings] : {std::pair{1ul, 1u}, {3ul, 1u}, {1000ul, 1u}, {1001ul, 2u}}) {
    SCOPED_TRACE(std::to_string(rounds) + " failing rounds");
    release.arm(rounds, true);
    const unsigned long stalls = m.stalls();
    log_buf_clear();
    page *p = alloc_pages(*m.ms, GFP_KERNEL | __GFP_NOFAIL, 0);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(m.stalls() - stalls, rounds);
    EXPECT_EQ(count_of(read_log(), "__GFP_NOFAIL allocation keeps failing"), warnings) << read_log().substr(0, 2000);
    m.held.push_back(p);
    m.take_all(GFP_ATOMIC);
  }
  EXPECT_EQ(m.f.check(), "");
}

// A request that cannot sleep does no reclaim: it drains every CPU's lists
// and tries once more before it fails, so pages parked on another CPU's
// list serve it.
TEST(SlowPathRules, NonBlockingRequestDrainsEveryCpusLists) {
  full_machine m(GFP_NOWAIT, two_cpus);
  drain_all_pages(*m.ms);
  m.take_all(GFP_NOWAIT);
  // CPU 1 frees to its own list, up to just below its high mark; CPU 0's
  // request can reach those pages only through the drain.
  host_set_cpu(1);
  for (int i = 0; i < m.z->pcp[1].high - 1; i++) {
    __free_pages(*m.ms, m.held.back(), 0);
    m.held.pop_back();
  }
  ASSERT_GT(m.z->pcp[1].count, 0);
  host_set_cpu(0);
  const unsigned long stalls = m.stalls();
  page *p = alloc_pages(*m.ms, GFP_NOWAIT | __GFP_NOWARN, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(m.z->pcp[1].count, 0);
  EXPECT_EQ(m.stalls(), stalls) << "it reclaimed";
  m.held.push_back(p);
  m.give_back();
  EXPECT_EQ(m.f.check(), "");
}

// The slow path wakes kswapd (or, for a request that cannot compact itself,
// kcompactd) on the nodes of the zones it may use, those up to its
// classzone: a DMA32 request on a machine whose node 1 has only Normal
// leaves node 1 alone.
TEST(SlowPathRules, WakesOnlyTheNodesOfZonesUpToTheClasszone) {
  const gfp_t dma32 = GFP_NOWAIT | __GFP_DMA32;
  full_machine m(dma32, build_two_nodes);
  pglist_data *n0 = m.ms->node_data[0], *n1 = m.ms->node_data[1];
  n0->kswapd_wanted = n1->kswapd_wanted = false;
  n0->kcompactd_wanted = n1->kcompactd_wanted = 0;
  if (page *p = alloc_pages(*m.ms, dma32 | __GFP_NOWARN, 2)) __free_pages(*m.ms, p, 2);
  EXPECT_TRUE(n0->kswapd_wanted);
  EXPECT_FALSE(n1->kswapd_wanted);
  EXPECT_EQ(n1->kcompactd_wanted, 0);
  n0->kswapd_wanted = false;
  m.give_back();
  EXPECT_EQ(m.f.check(), "");
}

// should_reclaim_retry looks only at the zones the request may use: a DMA32
// request on an exhausted DMA32 zone gives up after one round, however much
// Normal has free.
TEST(SlowPathRules, ReclaimRetryLooksOnlyAtUsableZones) {
  const gfp_t dma32 = GFP_KERNEL | __GFP_DMA32 | __GFP_NOWARN;
  full_machine m(dma32 | __GFP_NORETRY, build_across_4g);
  refresh_cpu_vm_stats(*m.ms);
  const unsigned long stalls = m.stalls();
  EXPECT_EQ(alloc_pages(*m.ms, dma32, 0), nullptr);
  EXPECT_EQ(m.stalls() - stalls, 1ul);
  m.give_back();
  EXPECT_EQ(m.f.check(), "");
}

// ALLOC_NOFRAGMENT (take no part of another type's pageblock) is for a
// Normal zone with DMA32 below it on the same node: on a NUMA machine a
// node without DMA32 mixes types in its Normal zone at the first attempt,
// without a failed attempt first. Node 1 here has only Normal, and only
// order-0 MOVABLE blocks free.
TEST(SlowPathRules, NodeWithoutDma32TakesNoNofragmentDetour) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_two_nodes(f), 0);
  mem_system &ms = *f.ms;
  host_set_cpu(2);
  zone *normal1 = &ms.node_data[1]->node_zones[ZONE_NORMAL];
  std::vector<page *> held;
  while (page *p = alloc_pages_node(ms, 1, GFP_KERNEL | __GFP_MOVABLE | __GFP_THISNODE | __GFP_NOWARN, 0))
    held.push_back(p);
  std::vector<page *> kept;
  for (page *p : held) {
    if (page_to_pfn(ms, p) & 1) __free_pages(ms, p, 0);
    else kept.push_back(p);
  }
  drain_all_pages(ms);
  const unsigned long fails = zone_events(normal1, PGALLOC_FAIL);
  page *p = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(page_to_nid(p), 1);
  EXPECT_EQ(zone_events(normal1, PGALLOC_FAIL), fails) << "a first attempt without fallback failed";
  kept.push_back(p);
  for (page *q : kept) __free_pages(ms, q, 0);
  host_set_cpu(0);
  EXPECT_EQ(f.check(), "");
}

// should_compact_retry, Linux's rule: after a compaction that succeeded
// but whose block went elsewhere, retry at the same priority up to 16 times
// (4 for a costly order, above order 3); after one that failed, retry once
// at each harder priority with the count afresh, down to sync-full (sync-light
// for a costly order). Order 0 never compacts.
TEST(SlowPathRules, CompactRetryCountsSuccessesThenRaisesThePriority) {
  for (unsigned order : {1u, 3u, 4u, 9u}) {
    SCOPED_TRACE(order);
    const bool costly = order > PAGE_ALLOC_COSTLY_ORDER;
    compact_priority prio = DEF_COMPACT_PRIORITY;
    int retries = 0, rounds = 0;
    while (should_compact_retry(order, COMPACT_SUCCESS, &prio, &retries) && prio == DEF_COMPACT_PRIORITY) {
      rounds++;
      ASSERT_EQ(retries, rounds);
    }
    EXPECT_EQ(rounds, costly ? MAX_COMPACT_RETRIES / 4 : MAX_COMPACT_RETRIES);
    // The successes used up, the priority went one harder with the count
    // afresh, or (costly, already at its floor) the answer was no.
    EXPECT_EQ(prio, costly ? DEF_COMPACT_PRIORITY : COMPACT_PRIO_SYNC_FULL);
    EXPECT_EQ(retries, costly ? MAX_COMPACT_RETRIES / 4 + 1 : 0);

    for (compact_result failed : {COMPACT_COMPLETE, COMPACT_PARTIAL_SKIPPED, COMPACT_DEFERRED}) {
      prio = INIT_COMPACT_PRIORITY, retries = 5;
      EXPECT_TRUE(should_compact_retry(order, failed, &prio, &retries));
      EXPECT_EQ(prio, COMPACT_PRIO_SYNC_LIGHT);
      EXPECT_EQ(retries, 0);
      EXPECT_EQ(should_compact_retry(order, failed, &prio, &retries), !costly);
      EXPECT_EQ(prio, costly ? COMPACT_PRIO_SYNC_LIGHT : COMPACT_PRIO_SYNC_FULL);
      EXPECT_FALSE(should_compact_retry(order, failed, &prio, &retries));
      EXPECT_EQ(prio, costly ? COMPACT_PRIO_SYNC_LIGHT : COMPACT_PRIO_SYNC_FULL);
    }
  }
  compact_priority prio = INIT_COMPACT_PRIORITY;
  int retries = 0;
  EXPECT_FALSE(should_compact_retry(0, COMPACT_SUCCESS, &prio, &retries));
  EXPECT_FALSE(should_compact_retry(0, COMPACT_COMPLETE, &prio, &retries));
  EXPECT_EQ(prio, INIT_COMPACT_PRIORITY);
  EXPECT_EQ(retries, 0);
}

// Each direct reclaim counts one allocstall, by the request's highest
// zone; flags that ask for two zones at once (no caller of the allocator
// gets this far with them) count none, and touch no other counter.
TEST(SlowPathRules, AllocstallCountsByTheHighestZone) {
  full_machine m(GFP_KERNEL | __GFP_NORETRY);
  const std::vector<unsigned long> before(m.ms->vm_events, m.ms->vm_events + NR_VM_EVENT_ITEMS);
  try_to_free_pages(*m.ms, GFP_KERNEL | __GFP_DMA32, 0, 0);
  try_to_free_pages(*m.ms, GFP_KERNEL, 0, 0);
  try_to_free_pages(*m.ms, GFP_HIGHUSER_MOVABLE, 0, 0);
  try_to_free_pages(*m.ms, GFP_KERNEL | __GFP_DMA | __GFP_DMA32, 0, 0);
  std::vector<unsigned long> want = before;
  want[ALLOCSTALL_DMA32]++;
  want[ALLOCSTALL_NORMAL]++;
  want[ALLOCSTALL_MOVABLE]++;
  EXPECT_EQ(std::vector<unsigned long>(m.ms->vm_events, m.ms->vm_events + NR_VM_EVENT_ITEMS), want);
  m.give_back();
  EXPECT_EQ(m.f.check(), "");
}

// Pages that direct reclaim frees serve the request at once, the attempt
// right after reclaim: one round, and every page accounted for.
TEST(SlowPathRules, WhatDirectReclaimFreesServesTheRequest) {
  full_machine m(GFP_ATOMIC);
  releasing_shrinker release(m);
  release.arm(0, false);
  const long free_before = zone_page_state_snapshot(m.z, NR_FREE_PAGES) + zone_page_state(m.z, NR_PCP_PAGES);
  const unsigned long stalls = m.stalls();
  page *p = alloc_pages(*m.ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(m.stalls() - stalls, 1ul);
  drain_all_pages(*m.ms);
  // 512 freed, one of them handed out: nothing else was taken.
  EXPECT_EQ(zone_page_state_snapshot(m.z, NR_FREE_PAGES), free_before + 511);
  m.held.push_back(p);
  m.give_back();
  EXPECT_EQ(m.f.check(), "");
}

}  // namespace

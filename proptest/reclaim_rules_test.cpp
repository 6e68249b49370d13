// Reclaim's rules (mm/vmscan.cpp) one at a time, as a Linux reader relies on
// them: what shrink_slab asks each shrinker for and how (batches, the
// nr_scanned a scan starts with), the priority rounds of direct reclaim and
// kswapd (each shrinker counted once a round, and no round once the goal is
// met), when kswapd runs at all and what it reports freed, the order
// wakeup_kswapd keeps, and which zones pgdat_balanced looks at. Direct reclaim's SWAP_CLUSTER_MAX and the
// zone index kswapd keeps are in compaction_edges_test.cpp.
#include <gtest/gtest.h>

#include <vector>

#include "proptest/compaction_rules_fixture.h"

namespace {

using namespace compaction_rules;

// A shrinker with a fixed number of objects (a cache that refills) that
// frees what it is asked for, or with `stop` nothing (SHRINK_STOP), and
// records its calls: how often it was counted, and each scan's nr_to_scan
// and the nr_scanned it found on entry. It leaves nr_scanned alone, which
// Linux reads as "looked at every object asked for".
struct counting_shrinker {
  shrinker s = {};
  mem_system *ms;
  unsigned long objects;
  bool stop;
  unsigned long counts = 0;
  std::vector<unsigned long> asked;
  std::vector<unsigned long> scanned_on_entry;

  counting_shrinker(mem_system &m, unsigned long n, long batch, bool stop_every_scan = false)
      : ms(&m), objects(n), stop(stop_every_scan) {
    s.count_objects = count;
    s.scan_objects = scan;
    s.batch = batch;
    s.private_data = this;
    register_shrinker(m, &s);
  }
  ~counting_shrinker() { unregister_shrinker(*ms, &s); }
  static counting_shrinker *of(shrinker *s) { return static_cast<counting_shrinker *>(s->private_data); }
  static unsigned long count(shrinker *s, shrink_control *) {
    of(s)->counts++;
    return of(s)->objects;
  }
  static unsigned long scan(shrinker *s, shrink_control *sc) {
    counting_shrinker *r = of(s);
    r->asked.push_back(sc->nr_to_scan);
    r->scanned_on_entry.push_back(sc->nr_scanned);
    return r->stop ? SHRINK_STOP : sc->nr_to_scan;
  }
};

// Watermarks that put the machine's zone far below high.
int high_min_free_kbytes(const machine &m) { return int(free_pages(m.z) * 2 * (PAGE_SIZE >> 10)); }

// shrink_slab asks every shrinker for all of its objects, in batches of its
// own size (a batch of 1 is one object a call; 0 is SHRINK_BATCH, 128), and
// returns what they freed; a shrinker with nothing (SHRINK_EMPTY) is counted
// and never asked. As Linux's do_shrink_slab, each scan starts with
// nr_scanned = nr_to_scan, the default a shrinker that counts nothing keeps.
TEST(ReclaimRules, ShrinkSlabAsksForEveryObjectInBatches) {
  machine m;
  ASSERT_TRUE(list_empty(&m.ms->shrinkers));
  counting_shrinker big(*m.ms, 301, 0), single(*m.ms, 5, 1), empty(*m.ms, SHRINK_EMPTY, 0);
  EXPECT_EQ(shrink_slab(*m.ms, GFP_KERNEL, 0), 301ul + 5);
  EXPECT_EQ(big.asked, (std::vector<unsigned long>{128, 128, 45}));
  EXPECT_EQ(single.asked, std::vector<unsigned long>(5, 1));
  EXPECT_EQ(big.scanned_on_entry, big.asked);
  EXPECT_EQ(single.scanned_on_entry, single.asked);
  EXPECT_EQ(empty.counts, 1ul);
  EXPECT_TRUE(empty.asked.empty());
  EXPECT_EQ(m.check(), "");
}

// Direct reclaim (Linux's do_try_to_free_pages) calls the shrinkers once a
// priority from 12 down to 0 and stops before the next priority once it has
// SWAP_CLUSTER_MAX (32). A shrinker of 1000 objects that stops every scan is
// counted 13 times and asked (1000 >> p) * 2 at p = 9..1 (nothing above 9),
// all at 0, each capped at a batch; one whose first priority brings exactly
// 32 in two batches of 16 is counted once.
TEST(ReclaimRules, DirectReclaimCountsEachShrinkerOncePerPriority) {
  machine m;
  {
    counting_shrinker s(*m.ms, 1000, 0, true);
    EXPECT_EQ(try_to_free_pages(*m.ms, GFP_KERNEL, 0, 0), 0ul);
    EXPECT_EQ(s.counts, 13ul);
    EXPECT_EQ(s.asked, (std::vector<unsigned long>{2, 6, 14, 30, 62, 124, 128, 128, 128, 128}));
  }
  {
    counting_shrinker s(*m.ms, 1ul << 20, 16);
    EXPECT_EQ(try_to_free_pages(*m.ms, GFP_KERNEL, 0, 0), 32ul);
    EXPECT_EQ(s.asked, (std::vector<unsigned long>{16, 16}));
    EXPECT_EQ(s.counts, 1ul);
  }
  EXPECT_EQ(m.check(), "");
}

// kswapd runs only when woken, and checks the node before each priority's
// round (Linux's balance_pgdat): woken for a node that is balanced again by
// the time it runs, it counts no shrinker; unbalanced throughout, it makes
// one round a priority from 12 to 0 (13 counts); and once it has run, a node
// still below its watermarks gets nothing until the next wake-up.
TEST(ReclaimRules, KswapdRunsOnlyWhenWokenAndRoundsOncePerPriority) {
  machine m;
  pglist_data *pgdat = m.ms->node_data[0];
  kswapd_run(*m.ms);  // the machine's own wake-ups first
  counting_shrinker s(*m.ms, 1000, 0, true);
  const int high_kb = high_min_free_kbytes(m);
  {
    min_free_kbytes_scope high(*m.ms, high_kb);
    wakeup_kswapd(m.z, GFP_KERNEL, 0, ZONE_DMA32);
    ASSERT_TRUE(pgdat->kswapd_wanted);
  }
  EXPECT_EQ(kswapd_run(*m.ms), 0ul);
  EXPECT_EQ(s.counts, 0ul);
  EXPECT_FALSE(pgdat->kswapd_wanted);
  {
    min_free_kbytes_scope high(*m.ms, high_kb);
    EXPECT_EQ(kswapd_run(*m.ms), 0ul);
    EXPECT_EQ(s.counts, 0ul);
    wakeup_kswapd(m.z, GFP_KERNEL, 0, ZONE_DMA32);
    EXPECT_EQ(kswapd_run(*m.ms), 0ul);
    EXPECT_EQ(s.counts, 13ul);
    EXPECT_EQ(s.asked.size(), 10u);
    EXPECT_EQ(kswapd_run(*m.ms), 0ul);
    EXPECT_EQ(s.counts, 13ul);
  }
  EXPECT_EQ(m.check(), "");
}

// A shrinker of the test owner's pages: frees up to nr_to_scan of them a
// call (to the per-CPU list, where kswapd's drain finds them).
unsigned long owner_pages_count(shrinker *s, shrink_control *) {
  return static_cast<machine *>(s->private_data)->owner->pages.size();
}
unsigned long owner_pages_scan(shrinker *s, shrink_control *sc) {
  machine &m = *static_cast<machine *>(s->private_data);
  unsigned long n = 0;
  for (; n < sc->nr_to_scan && !m.owner->pages.empty(); n++) m.owner->release(*m.owner->pages.begin());
  return n;
}

// kswapd_run returns the pages it freed, the growth of the node's free
// pages, also when the node had none at all: every page taken (with the
// watermarks at 0 for the filling), then kswapd woken with the owner's
// pages to shrink. It stops once the node is balanced.
TEST(ReclaimRules, KswapdCountsWhatItFreesFromANodeWithNoFreePage) {
  machine m;
  pglist_data *pgdat = m.ms->node_data[0];
  kswapd_run(*m.ms);
  unsigned long saved[NR_WMARK];
  for (int i = 0; i < NR_WMARK; i++) saved[i] = m.z->_watermark[i], m.z->_watermark[i] = 0;
  while (m.owner->alloc()) {
  }
  for (int i = 0; i < NR_WMARK; i++) m.z->_watermark[i] = saved[i];
  ASSERT_EQ(free_pages(m.z), 0ul);
  ASSERT_EQ(nr_free_pcp_pages(*m.ms), 0ul);
  shrinker s = {};
  s.count_objects = owner_pages_count;
  s.scan_objects = owner_pages_scan;
  s.private_data = &m;
  register_shrinker(*m.ms, &s);
  wakeup_kswapd(m.z, GFP_KERNEL, 0, ZONE_DMA32);
  ASSERT_TRUE(pgdat->kswapd_wanted);
  const unsigned long freed = kswapd_run(*m.ms);
  EXPECT_GT(freed, 0ul);
  EXPECT_EQ(freed, free_pages(m.z));
  EXPECT_TRUE(pgdat_balanced(pgdat, 0, ZONE_DMA32));
  unregister_shrinker(*m.ms, &s);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// wakeup_kswapd keeps the largest order any waker asked for since kswapd
// last ran (Linux's kswapd_order only grows until kswapd takes it), and
// kswapd takes it when it runs.
TEST(ReclaimRules, WakeupKswapdKeepsTheLargestOrder) {
  machine m;
  pglist_data *pgdat = m.ms->node_data[0];
  kswapd_run(*m.ms);
  ASSERT_EQ(pgdat->kswapd_order, 0);
  {
    min_free_kbytes_scope high(*m.ms, high_min_free_kbytes(m));
    wakeup_kswapd(m.z, GFP_KERNEL, 3, ZONE_DMA32);
    wakeup_kswapd(m.z, GFP_KERNEL, 0, ZONE_DMA32);
    wakeup_kswapd(m.z, GFP_KERNEL, 2, ZONE_DMA32);
    EXPECT_EQ(pgdat->kswapd_order, 3);
    kswapd_run(*m.ms);
    EXPECT_EQ(pgdat->kswapd_order, 0);
  }
  EXPECT_EQ(m.check(), "");
}

// pgdat_balanced (Linux's): a node is balanced for a request whose highest
// zone is classzone when one managed zone up to classzone is above its high
// watermark (plus its lowmem_reserve for classzone), whatever the zones
// above; a node with no managed zone up to classzone needs no balancing.
// Three zones, each put below high (a high watermark of twice its pages) or
// above it (0) in turn.
TEST(ReclaimRules, PgdatBalancedLooksAtTheZonesUpToTheClasszone) {
  slabt::cpu_reset reset;
  {
    mm_fixture f;
    ASSERT_EQ(build_three_zones(f), 0);
    pglist_data *pgdat = f.ms->node_data[0];
    zone *zones = pgdat->node_zones;
    const int idx[] = {ZONE_DMA, ZONE_DMA32, ZONE_NORMAL};
    unsigned long saved[3];
    for (int i = 0; i < 3; i++) {
      ASSERT_TRUE(managed_zone(&zones[idx[i]])) << i;
      saved[i] = zones[idx[i]]._watermark[WMARK_HIGH];
    }
    struct {
      bool above[3];
      bool balanced_for[3];  // classzone DMA, DMA32, Normal
    } cases[] = {
        {{true, false, false}, {true, true, true}},
        {{false, true, false}, {false, true, true}},
        {{false, false, true}, {false, false, true}},
        {{false, false, false}, {false, false, false}},
    };
    for (const auto &c : cases) {
      for (int i = 0; i < 3; i++) {
        zone *z = &zones[idx[i]];
        z->_watermark[WMARK_HIGH] = c.above[i] ? 0 : 2 * z->managed_pages;
      }
      for (int k = 0; k < 3; k++)
        EXPECT_EQ(pgdat_balanced(pgdat, 0, idx[k]), c.balanced_for[k])
            << "above " << c.above[0] << c.above[1] << c.above[2] << ", classzone " << idx[k];
      // Zones above Normal have no pages: the answer is Normal's.
      EXPECT_EQ(pgdat_balanced(pgdat, 0, ZONE_MOVABLE), c.balanced_for[2]);
    }
    for (int i = 0; i < 3; i++) zones[idx[i]]._watermark[WMARK_HIGH] = saved[i];
    EXPECT_EQ(f.check(), "");
  }
  {
    // One zone, DMA32: a DMA request's node has nothing to balance.
    mm_fixture f;
    ASSERT_EQ(build_single_zone(f), 0);
    pglist_data *pgdat = f.ms->node_data[0];
    zone *z = &pgdat->node_zones[ZONE_DMA32];
    const unsigned long saved = z->_watermark[WMARK_HIGH];
    z->_watermark[WMARK_HIGH] = 2 * z->managed_pages;
    EXPECT_TRUE(pgdat_balanced(pgdat, 0, ZONE_DMA));
    EXPECT_FALSE(pgdat_balanced(pgdat, 0, ZONE_DMA32));
    z->_watermark[WMARK_HIGH] = saved;
    EXPECT_TRUE(pgdat_balanced(pgdat, 0, ZONE_DMA32));
  }
}

}  // namespace

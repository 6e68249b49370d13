// Compaction and reclaim at their edges: the rules a Linux reader relies on
// that the broader tests in compaction_rules_test.cpp and
// compaction_paths_test.cpp pass by (where the scanners meet and what the
// next pass starts from, how the migration scanner walks free and compound
// blocks, the free scanner at the watermark, the priorities of direct
// compaction, the deferral a successful allocation resets, the score of a
// zone with nothing free, direct reclaim's SWAP_CLUSTER_MAX, kswapd's
// priorities, the fallback stealing rule). Migration, isolation and
// contiguous allocations are in migration_edges_test.cpp. The machine and
// the test owner are compaction_rules_fixture.h's.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "proptest/compaction_rules_fixture.h"

namespace {

using namespace compaction_rules;

void set_skip(zone *z, unsigned long pfn) { set_pfnblock_flags_mask(z, pfn, 1ul << PB_migrate_skip, 1ul << PB_migrate_skip); }

// ---- where the scanners meet -----------------------------------------------------------------

// The free scanner starts at the zone's last pageblock, and the scanners
// meet when the migration scanner reaches it: the migration scanner never
// takes pages from there, whether the pass is over the whole zone or
// starts from cached positions that lie outside the zone. With movable
// pages in the last pageblock only, compaction finds nothing to move.
TEST(CompactionEdges, MigrationScannerStopsBelowTheFreeScannersFirstPageblock) {
  for (bool whole : {true, false}) {
    machine m;
    m.fragment();
    const unsigned last = m.nr_blocks() - 1;
    std::vector<page *> pinned;
    for (unsigned i = 0; i < last; i++) {
      std::vector<page *> v = pin_block(m, i);
      pinned.insert(pinned.end(), v.begin(), v.end());
    }
    ASSERT_GT(m.owned_in(m.block(last), zone_end_pfn(m.z)), 0ul);
    ASSERT_EQ(m.owned_in(m.start(), m.block(last)), 0ul);
    m.z->compact_cached_migrate_pfn = 0;  // outside the zone: from its ends
    m.z->compact_cached_free_pfn = 0;
    compact_control cc = m.cc(-1, MIGRATE_SYNC);
    cc.ignore_skip_hint = true;
    cc.whole_zone = whole;
    EXPECT_EQ(compact_zone(&cc), COMPACT_COMPLETE) << whole;
    EXPECT_EQ(m.owner->isolate_calls, 0ul) << whole;
    EXPECT_TRUE(m.owner->moved.empty()) << whole;
    EXPECT_EQ(cc.nr_migrated, 0ul) << whole;
    unpin_block(m, pinned);
    m.release_all();
    EXPECT_EQ(m.check(), "");
  }
}

// A pass that started from cached positions and whose scanners met
// (COMPACT_PARTIAL_SKIPPED) sets both cached positions back to the zone's
// ends (Linux's reset_cached_positions): the next pass covers the whole
// zone and, finding nothing either, ends COMPACT_COMPLETE.
TEST(CompactionEdges, ScannersMetResetsBothCachedPositions) {
  machine m;
  m.fragment();
  const unsigned long last = pageblock_start_pfn(zone_end_pfn(m.z) - 1);
  m.z->compact_cached_migrate_pfn = m.block(m.nr_blocks() / 2);
  m.z->compact_cached_free_pfn = m.block(m.nr_blocks() - 2);
  // No UNMOVABLE pageblock: async compaction for an UNMOVABLE request finds
  // no source, and its scanners meet.
  compact_control c1 = m.cc(9, MIGRATE_ASYNC, MIGRATE_UNMOVABLE);
  c1.direct_compaction = true;
  EXPECT_EQ(compact_zone(&c1), COMPACT_PARTIAL_SKIPPED);
  EXPECT_EQ(m.z->compact_cached_migrate_pfn, m.start());
  EXPECT_EQ(m.z->compact_cached_free_pfn, last);
  compact_control c2 = m.cc(9, MIGRATE_ASYNC, MIGRATE_UNMOVABLE);
  c2.direct_compaction = true;
  EXPECT_EQ(compact_zone(&c2), COMPACT_COMPLETE);
  EXPECT_EQ(c2.total_migrate_scanned, 0ul);  // no pageblock of the request's kind anywhere
  EXPECT_TRUE(m.owner->moved.empty());
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// ---- the migration scanner's walk ------------------------------------------------------------

// The migration scanner passes over a free block and a compound page at
// once: it looks at the head only (their order is read without a lock and
// is only a hint), so compact_migrate_scanned counts one page for each,
// and one for every other page it walks. Every movable page is isolated,
// the one right after the compound page too. The pageblock, in order:
// 16 pages in use, an order-4 compound page, a movable page, 31 pages in
// use, a free order-6 block, then 384 pages in use of which two movable;
// among the first 16, a free order-1 block at 2.
TEST(CompactionEdges, MigrationScannerPassesOverFreeAndCompoundBlocksAtOnce) {
  machine m;
  const unsigned long b = m.block(6);
  take_range(m, b, pageblock_nr_pages);
  // The compound page: give back its 16 pages, then allocate order-4
  // compound pages until the allocator hands out that block.
  EXPECT_EQ(free_contig_range(*m.ms, b + 16, 16), 0ul);
  EXPECT_EQ(free_contig_range(*m.ms, b + 64, 64), 0ul);
  EXPECT_EQ(free_contig_range(*m.ms, b + 2, 2), 0ul);
  drain_all_pages(*m.ms);
  std::vector<page *> others;
  page *comp = nullptr;
  for (int i = 0; i < 4096 && !comp; i++) {
    page *p = alloc_pages(*m.ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_COMP | __GFP_NOWARN, 4);
    ASSERT_NE(p, nullptr);
    if (page_to_pfn(*m.ms, p) == b + 16) comp = p;
    else others.push_back(p);
  }
  for (page *p : others) __free_pages(*m.ms, p, 4);
  ASSERT_NE(comp, nullptr);
  ASSERT_TRUE(PageHead(comp));
  const page *fb = m.pg(b + 64);
  ASSERT_TRUE(PageBuddy(fb) && fb->private_ == 6);
  ASSERT_TRUE(PageBuddy(m.pg(b + 2)) && m.pg(b + 2)->private_ == 1);
  for (unsigned long pfn : {b + 32, b + 200, b + 300}) m.owner->adopt(m.pg(pfn));

  compact_control cc = compact_control_for(*m.ms, m.z, -1, MIGRATE_SYNC);
  INIT_LIST_HEAD(&cc.migratepages);
  INIT_LIST_HEAD(&cc.freepages);
  EXPECT_EQ(isolate_migratepages_block(&cc, b, b + pageblock_nr_pages), b + pageblock_nr_pages);
  EXPECT_EQ(cc.total_migrate_scanned, pageblock_nr_pages - 1 - 15 - 63);
  EXPECT_EQ(cc.nr_migratepages, 3u);
  std::set<unsigned long> isolated;
  list_for_each(pos, &cc.migratepages) isolated.insert(page_to_pfn(*m.ms, list_entry(pos, page, lru)));
  EXPECT_EQ(isolated, (std::set<unsigned long>{b + 32, b + 200, b + 300}));
  putback_movable_pages(*m.ms, &cc.migratepages);

  // A free block of the largest order: one look for its 1024 pages.
  unsigned long big = 0;
  for (unsigned long pfn = m.start(); pfn < zone_end_pfn(m.z) && !big; pfn += pageblock_nr_pages)
    if (PageBuddy(m.pg(pfn)) && m.pg(pfn)->private_ == MAX_PAGE_ORDER) big = pfn;
  ASSERT_NE(big, 0ul);
  compact_control c2 = compact_control_for(*m.ms, m.z, -1, MIGRATE_SYNC);
  INIT_LIST_HEAD(&c2.migratepages);
  INIT_LIST_HEAD(&c2.freepages);
  EXPECT_EQ(isolate_migratepages_block(&c2, big, big + (1ul << MAX_PAGE_ORDER)), big + (1ul << MAX_PAGE_ORDER));
  EXPECT_EQ(c2.total_migrate_scanned, 1ul);

  __free_pages(*m.ms, comp, 4);
  for (unsigned long pfn = b; pfn < b + pageblock_nr_pages; pfn++) {
    if (pfn == b + 2 || pfn == b + 3) continue;
    if (pfn >= b + 16 && pfn < b + 32) continue;
    if (pfn >= b + 64 && pfn < b + 128) continue;
    if (pfn == b + 32 || pfn == b + 200 || pfn == b + 300) continue;
    __free_pages(*m.ms, m.pg(pfn), 0);
  }
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// An order read while the page changes hands can be anything: the scanner
// skips ahead only by an order a block can have (1..MAX_PAGE_ORDER), and
// otherwise goes on page by page. A head or free page with a torn order
// (0, or beyond MAX_PAGE_ORDER) in the middle of plain pages in use: the
// scanner walks every page of the range and returns its end.
TEST(CompactionEdges, MigrationScannerIgnoresAnImpossibleOrder) {
  machine m;
  const unsigned long b = m.block(6);
  take_range(m, b, 64);
  page *p = m.pg(b + 8);
  for (bool buddy : {false, true}) {
    for (unsigned long torn : {0ul, unsigned(MAX_PAGE_ORDER) + 1ul, 40ul}) {
      const unsigned long flags = p->flags, priv = p->private_;
      const unsigned order1 = p[1].compound_order;
      if (buddy) {
        set_page_flag(p, PG_buddy);
        p->private_ = torn;
      } else {
        set_page_flag(p, PG_head);
        p[1].compound_order = unsigned(torn);
      }
      compact_control cc = compact_control_for(*m.ms, m.z, -1, MIGRATE_SYNC);
      INIT_LIST_HEAD(&cc.migratepages);
      INIT_LIST_HEAD(&cc.freepages);
      EXPECT_EQ(isolate_migratepages_block(&cc, b, b + 64), b + 64) << buddy << " " << torn;
      EXPECT_EQ(cc.total_migrate_scanned, 64ul) << buddy << " " << torn;
      p->flags = flags;
      p->private_ = priv;
      p[1].compound_order = order1;
    }
  }
  EXPECT_EQ(free_contig_range(*m.ms, b, 64), 0ul);
  EXPECT_EQ(m.check(), "");
}

// A free scanner stopped by the min watermark (Linux: __isolate_free_page
// fails) ends the compaction with COMPACT_CONTENDED (migrate_pages'
// -ENOMEM) after one batch, marks no pageblock to skip (they were not
// found empty), and gives every target back: none held, the scanned pages
// counted once. (Order -1: compaction_suitable would refuse an order this
// close to the watermark.)
TEST(CompactionEdges, FreeScannerAtTheWatermarkEndsContendedWithoutHints) {
  machine m;
  m.fragment();
  const unsigned b = m.first_clean_block();
  drain_all_pages(*m.ms);
  const unsigned long free = free_pages(m.z);
  // About ten targets (a few more as migrated pages come back), then the
  // watermark: fewer than one batch.
  m.z->_watermark[WMARK_MIN] = free - 11;
  m.z->compact_cached_migrate_pfn = m.block(b);
  m.z->compact_cached_free_pfn = pageblock_start_pfn(zone_end_pfn(m.z) - 1);
  compact_control cc = m.cc(-1, MIGRATE_SYNC_LIGHT);
  cc.alloc_flags = 0;
  EXPECT_EQ(compact_zone(&cc), COMPACT_CONTENDED);
  EXPECT_GE(cc.nr_migrated, 10ul);
  EXPECT_LT(cc.nr_migrated, COMPACT_CLUSTER_MAX);
  EXPECT_EQ(m.owner->isolations, COMPACT_CLUSTER_MAX);
  EXPECT_EQ(cc.nr_freepages, 0u);
  EXPECT_LE(cc.total_free_scanned, m.z->spanned_pages);
  EXPECT_GE(cc.total_free_scanned, 10ul);
  for (unsigned i = 0; i < m.nr_blocks(); i++) EXPECT_FALSE(skip_bit(m.z, m.block(i))) << i;
  drain_all_pages(*m.ms);
  EXPECT_EQ(free_pages(m.z), free);
  init_per_zone_wmark_min(*m.ms);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// The free scanner takes targets only from pageblocks above the migration
// scanner's and passes by pageblocks with a skip hint: with the migration
// scanner starting three pageblocks below the top and every pageblock above
// it hinted, there is no target, and no page moves (down or anywhere).
TEST(CompactionEdges, FreeScannerStaysAboveTheMigrationScannerAndPassesHints) {
  machine m;
  m.fragment();
  const unsigned mb = m.nr_blocks() - 4;
  ASSERT_GT(m.owned_in(m.block(mb), m.block(mb + 1)), 0ul);
  for (unsigned i = mb + 1; i < m.nr_blocks(); i++) set_skip(m.z, m.block(i));
  m.z->compact_cached_migrate_pfn = m.block(mb);
  m.z->compact_cached_free_pfn = pageblock_start_pfn(zone_end_pfn(m.z) - 1);
  compact_control cc = m.cc(9, MIGRATE_SYNC_LIGHT);
  const compact_result r = compact_zone(&cc);
  EXPECT_TRUE(r == COMPACT_PARTIAL_SKIPPED || r == COMPACT_CONTENDED) << r;
  EXPECT_GT(m.owner->isolations, 0ul);  // the migration scanner found pages
  EXPECT_TRUE(m.owner->moved.empty());
  EXPECT_EQ(cc.total_free_scanned, 0ul);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// A pageblock where the free scanner finds no free page gets a skip hint
// (Linux: a full pageblock is not worth scanning again until the hints
// are reset). Every page of the zone held, the odd ones of the lower half
// given back: the top pageblock is full, and the first the free scanner
// looks at.
TEST(CompactionEdges, FreeScannerHintsAFullPageblock) {
  machine m;
  while (m.owner->alloc()) {
  }
  const unsigned long half = m.block(m.nr_blocks() / 2);
  std::vector<page *> odd;
  for (page *p : m.owner->pages)
    if ((m.owner->pfn(p) & 1) && m.owner->pfn(p) < half) odd.push_back(p);
  for (page *p : odd) m.owner->release(p);
  drain_all_pages(*m.ms);
  m.pin_blocks_above(0);
  const unsigned long top = pageblock_start_pfn(zone_end_pfn(m.z) - 1);
  for (unsigned long pfn = top; pfn < zone_end_pfn(m.z); pfn++) ASSERT_FALSE(PageBuddy(m.pg(pfn))) << pfn;
  ASSERT_FALSE(skip_bit(m.z, top));
  compact_control cc = m.cc(9, MIGRATE_SYNC_LIGHT);
  compact_zone(&cc);
  EXPECT_FALSE(m.owner->moved.empty());
  EXPECT_TRUE(skip_bit(m.z, top));
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// compact_zone passes by a zone with no memory (COMPACT_SKIPPED, nothing
// scanned), and compact_memory (order -1) compacts a zone whatever
// compaction_suitable says (that is for allocations): with free memory two
// pages above min, compaction_suitable's min + 2 refuses, and
// compact_memory still moves the few pages it has targets for.
TEST(CompactionEdges, CompactMemoryIgnoresSuitabilityAndEmptyZones) {
  machine m;
  zone *empty = &m.ms->node_data[0]->node_zones[ZONE_NORMAL];
  ASSERT_FALSE(populated_zone(empty));
  compact_control ce = compact_control_for(*m.ms, empty, -1, MIGRATE_SYNC);
  ce.whole_zone = true;
  EXPECT_EQ(compact_zone(&ce), COMPACT_SKIPPED);
  EXPECT_EQ(ce.total_migrate_scanned, 0ul);
  m.fragment();
  drain_all_pages(*m.ms);
  // Order -1 asks for the gap of order 0: two pages above min.
  m.z->_watermark[WMARK_MIN] = free_pages(m.z) - 3;
  EXPECT_TRUE(compaction_suitable(*m.ms, m.z, -1, ZONE_DMA32));
  m.z->_watermark[WMARK_MIN] = free_pages(m.z) - 2;
  ASSERT_FALSE(compaction_suitable(*m.ms, m.z, -1, ZONE_DMA32));
  // An id that names no node with memory compacts nothing, and reads
  // nothing outside the node table.
  for (int nid : {-1, 1, int(MAX_NUMNODES)}) compact_node(*m.ms, nid);
  EXPECT_TRUE(m.owner->moved.empty());
  compact_node(*m.ms, 0);
  EXPECT_GE(m.owner->moved.size(), 1u);
  EXPECT_LT(m.owner->moved.size(), COMPACT_CLUSTER_MAX);
  init_per_zone_wmark_min(*m.ms);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// Targets taken for migrations that fail go back to the free scanner's
// list and, when compaction ends, to the allocator: with every movable
// page refused by its owner, nothing moves, no target is left held, and
// the zone's free pages are what they were.
TEST(CompactionEdges, CompactZoneGivesBackTheTargetsOfRefusedMigrations) {
  machine m;
  m.fragment();
  for (page *p : m.owner->pages) m.owner->refuse.insert(m.owner->pfn(p));
  drain_all_pages(*m.ms);
  const unsigned long free = free_pages(m.z);
  compact_control cc = m.cc(-1, MIGRATE_SYNC_LIGHT);
  cc.whole_zone = true;
  cc.ignore_skip_hint = true;
  EXPECT_EQ(compact_zone(&cc), COMPACT_COMPLETE);
  EXPECT_EQ(cc.nr_migrated, 0ul);
  EXPECT_GT(m.owner->migrate_calls, 0ul);
  EXPECT_EQ(cc.nr_freepages, 0u);
  drain_all_pages(*m.ms);
  EXPECT_EQ(free_pages(m.z), free);
  m.owner->refuse.clear();
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// ---- direct compaction's priority and deferral --------------------------------------------------

// MIN_COMPACT_PRIORITY, the last try, ignores the skip hints (and sets
// none): with every pageblock hinted it still empties one for the order-9
// request. The hints stay as they were.
TEST(CompactionEdges, MinPriorityIgnoresSkipHints) {
  machine m;
  m.fragment();
  for (unsigned i = 0; i < m.nr_blocks(); i++) set_skip(m.z, m.block(i));
  ASSERT_FALSE(m.z->compact_blockskip_flush);  // nothing resets them first
  alloc_context ac = m.ac(MIGRATE_MOVABLE);
  EXPECT_EQ(try_to_compact_pages(*m.ms, GFP_KERNEL, 9, ALLOC_WMARK_MIN, ac, MIN_COMPACT_PRIORITY), COMPACT_SUCCESS);
  EXPECT_GE(m.owner->moved.size(), pageblock_nr_pages / 2);
  for (unsigned i = 0; i < m.nr_blocks(); i++) EXPECT_TRUE(skip_bit(m.z, m.block(i))) << i;
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// After direct compaction, the allocation's outcome decides the deferral
// (Linux's compaction_defer_reset(zone, order, true) on a page): a page
// clears the zone's deferral (considered and shift to 0, the failed order
// above the one just served) and counts compact_stall and
// compact_success; no page counts compact_fail and defers nothing more;
// a skipped compaction counts nothing.
TEST(CompactionEdges, AllocationSuccessAfterCompactionResetsTheDeferral) {
  machine m;
  zone *z = m.z;
  for (int i = 0; i < 3; i++) defer_compaction(z, 4);
  EXPECT_TRUE(compaction_deferred(z, 4));
  ASSERT_EQ(z->compact_defer_shift, 3u);
  ASSERT_EQ(z->compact_considered, 1u);
  ASSERT_EQ(z->compact_order_failed, 4);
  const unsigned long stall = vm_event(*m.ms, COMPACTSTALL), ok = vm_event(*m.ms, COMPACTSUCCESS),
                      fail = vm_event(*m.ms, COMPACTFAIL);
  compaction_alloc_result(*m.ms, nullptr, 4, COMPACT_COMPLETE);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL) - stall, 1ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTFAIL) - fail, 1ul);
  EXPECT_EQ(z->compact_defer_shift, 3u);
  EXPECT_EQ(z->compact_considered, 1u);
  EXPECT_EQ(z->compact_order_failed, 4);
  page *p = alloc_pages(*m.ms, GFP_KERNEL | __GFP_MOVABLE, 4);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(page_zone(*m.ms, p), z);
  compaction_alloc_result(*m.ms, p, 4, COMPACT_SKIPPED);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL) - stall, 1ul);
  EXPECT_EQ(z->compact_defer_shift, 3u);
  compaction_alloc_result(*m.ms, p, 4, COMPACT_SUCCESS);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL) - stall, 2ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSUCCESS) - ok, 1ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTFAIL) - fail, 1ul);
  EXPECT_EQ(z->compact_defer_shift, 0u);
  EXPECT_EQ(z->compact_considered, 0u);
  EXPECT_EQ(z->compact_order_failed, 5);
  EXPECT_FALSE(compaction_deferred(z, 4));
  __free_pages(*m.ms, p, 4);
  EXPECT_EQ(m.check(), "");
}

// ---- proactive compaction -------------------------------------------------------------------

// A zone with no free page scores 0 (Linux's extfrag_for_order: nothing
// free, nothing fragmented), not 100 nor anything between: proactive
// compaction has nothing to do there.
TEST(CompactionEdges, FragmentationScoreOfAZoneWithNothingFreeIsZero) {
  machine m;
  drain_all_pages(*m.ms);
  m.ms->pcp_disabled = true;
  for (unsigned long &w : m.z->_watermark) w = 0;
  for (int o = int(MAX_PAGE_ORDER); o >= 0; o--)
    while (page *p = alloc_pages(*m.ms, GFP_NOWAIT | __GFP_NOWARN, unsigned(o))) m.pins.push_back({p, unsigned(o)});
  m.ms->pcp_disabled = false;
  ASSERT_EQ(free_pages(m.z), 0ul);
  EXPECT_EQ(fragmentation_score_zone(m.z), 0u);
  EXPECT_EQ(fragmentation_score_node(m.ms->node_data[0]), 0u);
  // One order-0 page free: all of the free memory is unusable at order 9.
  __free_pages(*m.ms, m.pins.back().first, m.pins.back().second);
  ASSERT_EQ(m.pins.back().second, 0u);
  m.pins.pop_back();
  drain_all_pages(*m.ms);
  EXPECT_EQ(fragmentation_score_zone(m.z), 100u);
  m.unpin();
  init_per_zone_wmark_min(*m.ms);
  EXPECT_EQ(m.check(), "");
}

// ---- direct reclaim -----------------------------------------------------------------------------

// A shrinker whose count stays `objects` (a cache that refills) and that
// frees what it is asked for, recording each request.
struct freeing_shrinker {
  shrinker s = {};
  mem_system *ms;
  unsigned long objects;
  std::vector<unsigned long> asked;
  static unsigned long count(shrinker *s, shrink_control *) {
    return static_cast<freeing_shrinker *>(s->private_data)->objects;
  }
  static unsigned long scan(shrinker *s, shrink_control *sc) {
    static_cast<freeing_shrinker *>(s->private_data)->asked.push_back(sc->nr_to_scan);
    return sc->nr_to_scan;
  }
  freeing_shrinker(mem_system &m, unsigned long n, long batch) : ms(&m), objects(n) {
    s.count_objects = count;
    s.scan_objects = scan;
    s.batch = batch;
    s.private_data = this;
    register_shrinker(m, &s);
  }
  ~freeing_shrinker() { unregister_shrinker(*ms, &s); }
};

// Direct reclaim wants SWAP_CLUSTER_MAX (32) objects and stops at the
// batch that brings it there, counting what the earlier priorities freed.
// A shrinker is asked for (count >> priority) * 4 / DEFAULT_SEEKS (2) a
// priority, in batches: 2^20 objects in batches of 16 give exactly 32 in
// two calls at priority 12; 2^13 objects give 4, 8 and 16 at priorities
// 12 to 10 (28), and the first batch of 16 at priority 9 passes 32.
TEST(CompactionEdges, DirectReclaimStopsAtSwapClusterMax) {
  machine m;
  ASSERT_TRUE(list_empty(&m.ms->shrinkers));
  {
    freeing_shrinker s(*m.ms, 1ul << 20, 16);
    EXPECT_EQ(try_to_free_pages(*m.ms, GFP_KERNEL, 0, 0), 32ul);
    EXPECT_EQ(s.asked, (std::vector<unsigned long>{16, 16}));
  }
  {
    freeing_shrinker s(*m.ms, 1ul << 13, 16);
    EXPECT_EQ(try_to_free_pages(*m.ms, GFP_KERNEL, 0, 0), 4ul + 8 + 16 + 16);
    EXPECT_EQ(s.asked, (std::vector<unsigned long>{4, 8, 16, 16}));
  }
  EXPECT_EQ(m.check(), "");
}

// At priority 0 (the last resort) a shrinker is asked for all of its
// objects, however many it has: 2^62 objects must not overflow the scan
// target to nothing. The shrinker stops every scan (SHRINK_STOP), so each
// priority asks it once: 13 times from 12 to 0.
TEST(CompactionEdges, PriorityZeroAsksForEveryObject) {
  machine m;
  ASSERT_TRUE(list_empty(&m.ms->shrinkers));
  struct stopping {
    shrinker s = {};
    std::vector<unsigned long> asked;
    unsigned long objects = 1ul << 62;
  } st;
  st.s.count_objects = [](shrinker *s, shrink_control *) { return static_cast<stopping *>(s->private_data)->objects; };
  st.s.scan_objects = [](shrinker *s, shrink_control *sc) {
    static_cast<stopping *>(s->private_data)->asked.push_back(sc->nr_to_scan);
    return SHRINK_STOP;
  };
  st.s.private_data = &st;
  register_shrinker(*m.ms, &st.s);
  EXPECT_EQ(try_to_free_pages(*m.ms, GFP_KERNEL, 0, 0), 0ul);
  EXPECT_EQ(st.asked, std::vector<unsigned long>(13, 128));
  unregister_shrinker(*m.ms, &st.s);
  // One object: nothing at priorities 12..1 ((1 >> p) * 2 = 0), that one at 0.
  freeing_shrinker one(*m.ms, 1, 0);
  EXPECT_EQ(try_to_free_pages(*m.ms, GFP_KERNEL, 0, 0), 1ul);
  EXPECT_EQ(one.asked, std::vector<unsigned long>{1});
}

// Direct compaction's priority decides its mode and its start (Linux's
// compact_zone_order): COMPACT_PRIO_ASYNC compacts asynchronously for an
// allocation, from MOVABLE pageblocks only for a MOVABLE request, and goes
// on from the cached positions; COMPACT_PRIO_SYNC_LIGHT takes from other
// ordinary types too. The second clean pageblock is made UNMOVABLE and the
// cached migration position put there (the first, below it, is MOVABLE).
TEST(CompactionEdges, DirectCompactionPriorityDecidesModeAndStart) {
  for (compact_priority prio : {COMPACT_PRIO_ASYNC, COMPACT_PRIO_SYNC_LIGHT}) {
    machine m;
    m.fragment();
    unsigned b = m.first_clean_block() + 1;
    while (!m.clean(b)) b++;
    set_type(m.z, m.block(b), MIGRATE_UNMOVABLE);
    m.z->compact_cached_migrate_pfn = m.block(b);
    alloc_context ac = m.ac(MIGRATE_MOVABLE);
    EXPECT_EQ(try_to_compact_pages(*m.ms, GFP_KERNEL, 9, ALLOC_WMARK_MIN, ac, prio), COMPACT_SUCCESS) << prio;
    ASSERT_FALSE(m.owner->moved.empty());
    for (auto [src, dst] : m.owner->moved) {
      EXPECT_GE(src, m.block(b)) << prio;  // from the cached position on
      if (prio == COMPACT_PRIO_ASYNC) {
        EXPECT_EQ(type_of(m.z, src), MIGRATE_MOVABLE) << prio;
      }
    }
    if (prio == COMPACT_PRIO_SYNC_LIGHT) {
      EXPECT_EQ(pageblock_start_pfn(m.owner->moved.begin()->first), m.block(b));  // the UNMOVABLE one first
    }
    set_type(m.z, m.block(b), MIGRATE_MOVABLE);
    m.release_all();
    EXPECT_EQ(m.check(), "");
  }
}

// kswapd balances for the highest zone index any waker asked for since it
// last ran (Linux's wakeup_kswapd keeps the larger), and goes through every
// priority down to 0 while the node stays unbalanced: a shrinker of 3
// objects is asked for (3 >> 1) * 2 = 2 at priority 1 and for all 3 at
// priority 0 (nothing at 12..2).
TEST(CompactionEdges, KswapdKeepsTheHighestZoneAndReachesPriorityZero) {
  machine m;
  pglist_data *pgdat = m.ms->node_data[0];
  kswapd_run(*m.ms);  // the machine's own wake-ups first
  ASSERT_TRUE(list_empty(&m.ms->shrinkers));
  freeing_shrinker s(*m.ms, 3, 0);
  {
    min_free_kbytes_scope high(*m.ms, int(free_pages(m.z) * 2 * (PAGE_SIZE >> 10)));
    wakeup_kswapd(m.z, GFP_KERNEL, 0, ZONE_NORMAL);
    ASSERT_TRUE(pgdat->kswapd_wanted);
    wakeup_kswapd(m.z, GFP_KERNEL, 0, ZONE_DMA32);
    EXPECT_EQ(pgdat->kswapd_highest_zoneidx, ZONE_NORMAL);
    // The shrinker frees no memory: no progress, 0 pages.
    EXPECT_EQ(kswapd_run(*m.ms), 0ul);
    EXPECT_EQ(s.asked, (std::vector<unsigned long>{2, 3}));
    EXPECT_FALSE(pgdat->kswapd_wanted);
  }
  EXPECT_EQ(m.check(), "");
}

// ---- fallbacks --------------------------------------------------------------------------------

// can_steal_fallback (Linux's): a request may claim the pageblock of a
// fallback block of half a pageblock's order or more (order 4 of 9 here),
// and an UNMOVABLE or RECLAIMABLE request at any order; a smaller MOVABLE
// request may not. An UNMOVABLE pageblock with a free order-4 and a free
// order-3 block, nothing else of that type free.
TEST(CompactionEdges, FallbackMayStealFromHalfAPageblockOrForUnmovable) {
  machine m;
  const unsigned long b = m.block(6);
  take_range(m, b, pageblock_nr_pages);
  set_type(m.z, b, MIGRATE_UNMOVABLE);
  EXPECT_EQ(free_contig_range(*m.ms, b + 16, 16), 0ul);
  EXPECT_EQ(free_contig_range(*m.ms, b + 40, 8), 0ul);
  drain_all_pages(*m.ms);
  ASSERT_TRUE(PageBuddy(m.pg(b + 16)) && m.pg(b + 16)->private_ == 4);
  ASSERT_TRUE(PageBuddy(m.pg(b + 40)) && m.pg(b + 40)->private_ == 3);
  bool can_steal = false;
  {
    spin_lock_irqsave_guard g(m.z->lock);
    ASSERT_TRUE(list_empty(&m.z->free_area[4].free_list[MIGRATE_RECLAIMABLE]));
    EXPECT_EQ(find_suitable_fallback(m.z, 4, MIGRATE_MOVABLE, &can_steal), MIGRATE_UNMOVABLE);
    EXPECT_TRUE(can_steal);
    can_steal = true;
    EXPECT_EQ(find_suitable_fallback(m.z, 3, MIGRATE_MOVABLE, &can_steal), MIGRATE_UNMOVABLE);
    EXPECT_FALSE(can_steal);
    // UNMOVABLE and RECLAIMABLE requests falling back to MOVABLE at order 0.
    ASSERT_FALSE(list_empty(&m.z->free_area[MAX_PAGE_ORDER].free_list[MIGRATE_MOVABLE]));
  }
  {
    // An order-0 MOVABLE free block: one page of a pair given back.
    take_range(m, m.block(8), 2);
    EXPECT_EQ(free_contig_range(*m.ms, m.block(8) + 1, 1), 0ul);
    drain_all_pages(*m.ms);
    spin_lock_irqsave_guard g(m.z->lock);
    ASSERT_FALSE(list_empty(&m.z->free_area[0].free_list[MIGRATE_MOVABLE]));
    for (int mt : {MIGRATE_UNMOVABLE, MIGRATE_RECLAIMABLE}) {
      can_steal = false;
      EXPECT_NE(find_suitable_fallback(m.z, 0, mt, &can_steal), -1) << mt;
      EXPECT_TRUE(can_steal) << mt;
    }
  }
  EXPECT_EQ(free_contig_range(*m.ms, m.block(8), 1), 0ul);
  for (unsigned long pfn = b; pfn < b + pageblock_nr_pages; pfn++)
    if ((pfn < b + 16 || pfn >= b + 32) && (pfn < b + 40 || pfn >= b + 48)) __free_pages(*m.ms, m.pg(pfn), 0);
  drain_all_pages(*m.ms);
  set_type(m.z, b, MIGRATE_MOVABLE);
  EXPECT_EQ(m.check(), "");
}


// compact_zone owns every field of its control but the caller's
// (compaction.h): a control whose last run ran out of targets (the zone at
// its min watermark) compacts to the end when used again once memory is
// there, rather than stopping after its first batch of migrations.
TEST(CompactionEdges, AReusedControlIsNoLongerOutOfTargets) {
  machine m;
  m.fragment();
  compact_control cc = m.full_pass_cc();
  m.z->_watermark[WMARK_MIN] = free_pages(m.z);
  EXPECT_EQ(compact_zone(&cc), COMPACT_CONTENDED);
  EXPECT_TRUE(m.owner->moved.empty());
  init_per_zone_wmark_min(*m.ms);
  cc.whole_zone = true;
  EXPECT_EQ(compact_zone(&cc), COMPACT_COMPLETE);
  EXPECT_GT(cc.nr_migrated, COMPACT_CLUSTER_MAX);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// compact_zone owns its counters: a compact_control used twice reports the
// second run alone (what it scanned and migrated), as the vm events do.
TEST(CompactionEdges, AReusedControlCountsEachRunAfresh) {
  machine m;
  m.fragment();
  compact_control cc = m.full_pass_cc();
  compact_zone(&cc);
  ASSERT_GT(cc.nr_migrated, 0ul);
  for (page *p : std::vector<page *>(m.owner->pages.begin(), m.owner->pages.end()))
    if (m.owner->pfn(p) & 1) m.owner->release(p);
  drain_all_pages(*m.ms);
  const unsigned long scanned = vm_event(*m.ms, COMPACTMIGRATE_SCANNED), free_scanned = vm_event(*m.ms, COMPACTFREE_SCANNED),
                      migrated = vm_event(*m.ms, PGMIGRATE_SUCCESS);
  compact_zone(&cc);
  EXPECT_EQ(cc.total_migrate_scanned, vm_event(*m.ms, COMPACTMIGRATE_SCANNED) - scanned);
  EXPECT_EQ(cc.total_free_scanned, vm_event(*m.ms, COMPACTFREE_SCANNED) - free_scanned);
  EXPECT_EQ(cc.nr_migrated, vm_event(*m.ms, PGMIGRATE_SUCCESS) - migrated);
  EXPECT_LE(cc.total_migrate_scanned, m.z->spanned_pages);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

}  // namespace

// A zone whose last pageblock holds one page: cached positions outside the
// zone start the free scanner at that pageblock (pageblock_start_pfn of
// the last pfn), a compaction from both ends is a whole-zone one, and the
// reset when the scanners meet puts the free scanner's position there too.
TEST(CompactionEdges, FreeScannerStartsInAOnePageLastPageblock) {
  slabt::cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(f.build({{0x80000000, 8 * SZ_1M + PAGE_SIZE, 0}}, layout_with_limits(0, PFN_4G, PFN_MAX, 1)), 0);
  zone *z = &f.ms->node_data[0]->node_zones[ZONE_DMA32];
  ASSERT_EQ(zone_end_pfn(z) % pageblock_nr_pages, 1u);
  z->compact_cached_migrate_pfn = 0;
  z->compact_cached_free_pfn = 0;
  compact_control cc = compact_control_for(*f.ms, z, -1, MIGRATE_SYNC);
  cc.whole_zone = false;
  compact_zone(&cc);
  EXPECT_TRUE(cc.whole_zone);
  // The scanners met: the next pass starts from the ends again, the free
  // scanner from the one-page pageblock (Linux's reset_cached_zone_pfns).
  EXPECT_EQ(z->compact_cached_migrate_pfn, z->zone_start_pfn);
  EXPECT_EQ(z->compact_cached_free_pfn, zone_end_pfn(z) - 1);
  EXPECT_EQ(f.check(), "");
}

// ---- survivors of the mutation campaign: scanners, positions, deferral --------------------------

namespace {

using namespace compaction_rules;

void set_skip_hint(zone *z, unsigned long pfn) {
  set_pfnblock_flags_mask(z, pfn, 1ul << PB_migrate_skip, 1ul << PB_migrate_skip);
}
bool has_free_page(const machine &m, unsigned b) {
  for (unsigned long pfn = m.block(b); pfn < m.block(b) + pageblock_nr_pages; pfn++)
    if (PageBuddy(m.pg(pfn))) return true;
  return false;
}
int pcp_count(const zone *z, unsigned cpu) { return __atomic_load_n(&z->pcp[cpu].count, __ATOMIC_RELAXED); }
// A fragmented zone whose min watermark is 11 pages below its free count
// (the free scanner soon runs out of targets), with the scanners' cached
// positions at its first clean pageblock and its last pageblock.
void fragment_with_min_watermark_near_free(machine &m) {
  m.fragment();
  const unsigned b = m.first_clean_block();
  drain_all_pages(*m.ms);
  m.z->_watermark[WMARK_MIN] = free_pages(m.z) - 11;
  m.z->compact_cached_migrate_pfn = m.block(b);
  m.z->compact_cached_free_pfn = pageblock_start_pfn(zone_end_pfn(m.z) - 1);
}

// compact_control_for's control is for a movable GFP_KERNEL request
// (compaction.h), whatever the caller sets afterwards.
TEST(CompactionSurvivors, ControlForIsForAMovableRequest) {
  machine m;
  for (int order : {-1, 2, 9}) {
    compact_control cc = compact_control_for(*m.ms, m.z, order, MIGRATE_SYNC_LIGHT);
    EXPECT_EQ(cc.migratetype, MIGRATE_MOVABLE) << order;
    EXPECT_EQ(cc.order, order);
    EXPECT_EQ(cc.z, m.z);
  }
}

// wakeup_kcompactd keeps the largest order and the lowest zone index any
// waker asked for since kcompactd last ran (Linux's wakeup_kcompactd).
TEST(CompactionSurvivors, KcompactdWakeKeepsTheLowestZoneAndTheLargestOrder) {
  machine m;
  pglist_data *pgdat = m.ms->node_data[0];
  m.ms->compaction_proactiveness = 0;
  wakeup_kcompactd(pgdat, 2, ZONE_DMA32);
  wakeup_kcompactd(pgdat, 1, ZONE_NORMAL);
  EXPECT_EQ(pgdat->kcompactd_highest_zoneidx, int(ZONE_DMA32));
  EXPECT_EQ(pgdat->kcompactd_max_order, 2);
  wakeup_kcompactd(pgdat, 3, ZONE_DMA);
  EXPECT_EQ(pgdat->kcompactd_highest_zoneidx, int(ZONE_DMA));
  EXPECT_EQ(pgdat->kcompactd_max_order, 3);
  kcompactd_run_node(*m.ms, pgdat, 0);
  // A new round after the run: the first waker's index, not the minimum of
  // the old round's.
  wakeup_kcompactd(pgdat, 1, ZONE_DMA32);
  EXPECT_EQ(pgdat->kcompactd_highest_zoneidx, int(ZONE_DMA32));
  EXPECT_EQ(m.check(), "");
}

// kcompactd considers every populated zone from the lowest up to the
// wanted classzone and none above it (compaction_deferred counts each
// consideration once deferral is armed), and leaves a zone that can serve
// the order at min alone: no compaction there, and so no reset of its
// failed order either (Linux's kcompactd_do_work).
TEST(CompactionSurvivors, KcompactdConsidersTheZonesUpToTheWantedOne) {
  slabt::cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_three_zones(f), 0);
  mem_system &ms = *f.ms;
  ms.compaction_proactiveness = 0;
  pglist_data *pgdat = ms.node_data[0];
  for (int i = ZONE_DMA; i <= ZONE_NORMAL; i++) {
    zone *z = &pgdat->node_zones[i];
    ASSERT_TRUE(populated_zone(z)) << i;
    ASSERT_TRUE(zone_watermark_ok(z, 2, min_wmark_pages(z), ZONE_DMA32, 0)) << i;
    z->compact_order_failed = 0;  // armed: every consideration counts
    z->compact_considered = 0;
    z->compact_defer_shift = 0;
  }
  const unsigned long scanned = vm_event(ms, KCOMPACTD_MIGRATE_SCANNED);
  wakeup_kcompactd(pgdat, 2, ZONE_DMA32);
  kcompactd_run_node(ms, pgdat, 0);
  EXPECT_EQ(pgdat->node_zones[ZONE_DMA].compact_considered, 1u);
  EXPECT_EQ(pgdat->node_zones[ZONE_DMA32].compact_considered, 1u);
  EXPECT_EQ(pgdat->node_zones[ZONE_NORMAL].compact_considered, 0u);
  for (int i = ZONE_DMA; i <= ZONE_NORMAL; i++) EXPECT_EQ(pgdat->node_zones[i].compact_order_failed, 0) << i;
  EXPECT_EQ(vm_event(ms, KCOMPACTD_MIGRATE_SCANNED), scanned);
  EXPECT_EQ(f.check(), "");
}

// kcompactd defers a zone only after a pass that found nothing (the
// scanners met: COMPACT_COMPLETE or COMPACT_PARTIAL_SKIPPED); a pass cut
// short by the free scanner at the min watermark (COMPACT_CONTENDED)
// defers nothing. Order 1, free memory five pages above min: enough for
// compaction_suitable's gap (min + 4), and targets for a few pages only.
TEST(CompactionSurvivors, KcompactdDoesNotDeferAContendedPass) {
  machine m;
  m.fragment();
  pglist_data *pgdat = m.ms->node_data[0];
  m.ms->compaction_proactiveness = 0;
  drain_all_pages(*m.ms);
  m.z->_watermark[WMARK_MIN] = free_pages(m.z) - 5;
  ASSERT_FALSE(zone_watermark_ok(m.z, 1, min_wmark_pages(m.z), ZONE_DMA32, 0));
  ASSERT_TRUE(compaction_suitable(*m.ms, m.z, 1, ZONE_DMA32));
  const int failed = m.z->compact_order_failed;
  const unsigned long scanned = vm_event(*m.ms, KCOMPACTD_MIGRATE_SCANNED);
  wakeup_kcompactd(pgdat, 1, ZONE_DMA32);
  kcompactd_run_node(*m.ms, pgdat, 0);
  EXPECT_GT(vm_event(*m.ms, KCOMPACTD_MIGRATE_SCANNED), scanned);  // it compacted
  EXPECT_FALSE(m.owner->moved.empty());
  EXPECT_EQ(m.z->compact_defer_shift, 0u);
  EXPECT_EQ(m.z->compact_order_failed, failed);
  init_per_zone_wmark_min(*m.ms);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// Proactive compaction goes on while the zone's score is above the low
// mark (Linux's __compact_finished: score > wmark_low): at the mark it
// does nothing, one below it it compacts.
TEST(CompactionSurvivors, ProactiveCompactionStopsAtTheLowMark) {
  machine m;
  m.fragment();
  drain_all_pages(*m.ms);
  const unsigned score = fragmentation_score_zone(m.z);
  ASSERT_GE(score, 10u);
  m.ms->compaction_proactiveness = int(100 - score);
  ASSERT_EQ(fragmentation_score_wmark(*m.ms, true), score);
  proactive_compact_node(*m.ms, m.ms->node_data[0]);
  EXPECT_TRUE(m.owner->moved.empty());
  m.ms->compaction_proactiveness = int(100 - score + 1);
  proactive_compact_node(*m.ms, m.ms->node_data[0]);
  EXPECT_FALSE(m.owner->moved.empty());
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// The whole-zone passes, compact_memory's (compact_node) and proactive
// compaction's, ignore the skip hints; compact_memory also starts from the
// zone's ends whatever the cached positions say.
TEST(CompactionSurvivors, FullPassesIgnoreSkipHintsAndCachedPositions) {
  for (bool proactive : {false, true}) {
    machine m;
    m.fragment();
    for (unsigned i = 0; i < m.nr_blocks(); i++) set_skip_hint(m.z, m.block(i));
    const unsigned b = m.first_clean_block();
    ASSERT_LT(b + 2, m.nr_blocks());
    if (!proactive) {
      m.z->compact_cached_migrate_pfn = m.block(b + 2);
      m.z->compact_cached_free_pfn = m.block(b + 3);
      compact_node(*m.ms, 0);
    } else {
      m.ms->compaction_proactiveness = 100;
      proactive_compact_node(*m.ms, m.ms->node_data[0]);
    }
    bool from_first = false;
    for (auto [src, dst] : m.owner->moved) from_first |= pageblock_start_pfn(src) == m.block(b);
    EXPECT_TRUE(from_first) << proactive;
    m.release_all();
    EXPECT_EQ(m.check(), "");
  }
}

// compact_memory drains every CPU's lists first, so that the pages held
// there merge before the zones are compacted.
TEST(CompactionSurvivors, CompactMemoryDrainsEveryCpu) {
  slabt::cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 2), 0);
  zone *z = &f.ms->node_data[0]->node_zones[ZONE_DMA32];
  host_set_cpu(1);
  std::vector<page *> v;
  for (int i = 0; i < 8; i++) v.push_back(alloc_pages(*f.ms, GFP_KERNEL, 0));
  for (page *p : v) __free_pages(*f.ms, p, 0);
  ASSERT_GT(pcp_count(z, 1), 0);
  host_set_cpu(0);
  compact_memory(*f.ms);
  EXPECT_EQ(pcp_count(z, 1), 0);
  EXPECT_EQ(f.check(), "");
}

// The migration scanner never takes from the free scanner's pageblock,
// also when it reaches it by passing over pageblocks it may not take from
// (here every one below is hinted): nothing isolated, nothing moved.
TEST(CompactionSurvivors, MigrationScannerPassingHintsStopsBelowTheFreeScanner) {
  machine m;
  m.fragment();
  const unsigned last = m.nr_blocks() - 1;
  ASSERT_GT(m.owned_in(m.block(last), zone_end_pfn(m.z)), 0ul);
  for (unsigned i = 0; i < last; i++) set_skip_hint(m.z, m.block(i));
  compact_control cc = m.cc(-1, MIGRATE_SYNC);
  cc.whole_zone = true;
  EXPECT_EQ(compact_zone(&cc), COMPACT_COMPLETE);
  EXPECT_EQ(m.owner->isolate_calls, 0ul);
  EXPECT_TRUE(m.owner->moved.empty());
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// A pageblock with more movable pages than one batch is compacted to its
// end, batch after batch, by a pass that keeps the skip hints: the
// migration scanner hints a pageblock only when a scan of it reached its
// end having isolated nothing (Linux's isolate_migratepages_block), not
// when its last batch reached the end. And the free
// scanner hints only a pageblock where it found no free page: one it
// stopped in, its free pages still there, keeps no hint.
TEST(CompactionSurvivors, HintsOnlyForPageblocksFoundEmpty) {
  machine m;
  m.fragment();
  const unsigned b = m.first_clean_block();
  ASSERT_GT(m.owned_in(m.block(b), m.block(b + 1)), 2 * COMPACT_CLUSTER_MAX);
  // One page fewer than a whole number of batches: the last batch of the
  // pageblock reaches its end having isolated pages.
  m.owner->release(m.pg(m.block(b)));
  drain_all_pages(*m.ms);
  ASSERT_NE(m.owned_in(m.block(b), m.block(b + 1)) % COMPACT_CLUSTER_MAX, 0ul);
  m.z->compact_cached_migrate_pfn = m.block(b);
  m.z->compact_cached_free_pfn = pageblock_start_pfn(zone_end_pfn(m.z) - 1);
  compact_control cc = m.cc(9, MIGRATE_SYNC_LIGHT);
  EXPECT_EQ(compact_zone(&cc), COMPACT_SUCCESS);
  EXPECT_EQ(m.owned_in(m.block(b), m.block(b + 1)), 0ul);
  EXPECT_FALSE(skip_bit(m.z, m.block(b)));
  for (unsigned i = 0; i < m.nr_blocks(); i++)
    if (m.block(i) >= cc.free_pfn && has_free_page(m, i)) {
      EXPECT_FALSE(skip_bit(m.z, m.block(i))) << i;
    }
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// A zone that already passes the request's watermark with a block of the
// order needs no compaction: COMPACT_SUCCESS at once, before
// compaction_suitable is asked (here it would refuse: free memory is below
// low + 2 << 9), as in Linux's compact_zone.
TEST(CompactionSurvivors, ZoneAtTheWatermarkSucceedsBeforeSuitability) {
  machine m;
  drain_all_pages(*m.ms);
  const unsigned long free = free_pages(m.z);
  m.z->_watermark[WMARK_MIN] = free - 600;
  m.z->_watermark[WMARK_LOW] = free - 10;
  ASSERT_FALSE(compaction_suitable(*m.ms, m.z, 9, ZONE_DMA32));
  compact_control cc = m.cc(9, MIGRATE_SYNC_LIGHT);
  EXPECT_EQ(compact_zone(&cc), COMPACT_SUCCESS);
  EXPECT_EQ(cc.total_migrate_scanned, 0ul);
  init_per_zone_wmark_min(*m.ms);
  EXPECT_EQ(m.check(), "");
}

// At the min watermark the free scanner takes nothing: compact_isolated
// counts the pages the migration scanner isolated and the targets the
// migrations used, no more (a batch that ran out of targets leaves none
// held).
TEST(CompactionSurvivors, CompactIsolatedAtTheWatermarkCountsOnlyWhatWasTaken) {
  machine m;
  fragment_with_min_watermark_near_free(m);
  const unsigned long isolated = vm_event(*m.ms, COMPACTISOLATED);
  compact_control cc = m.cc(-1, MIGRATE_SYNC_LIGHT);
  cc.alloc_flags = 0;
  EXPECT_EQ(compact_zone(&cc), COMPACT_CONTENDED);
  EXPECT_EQ(vm_event(*m.ms, COMPACTISOLATED) - isolated, m.owner->isolations + cc.nr_migrated);
  init_per_zone_wmark_min(*m.ms);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// Targets of refused migrations go back on the free scanner's list and
// serve the next migrations: the free scanner never holds more than one
// batch beyond the targets used. Every fourth movable page refused.
TEST(CompactionSurvivors, RefusedMigrationsTargetsAreUsedAgain) {
  machine m;
  m.fragment();
  unsigned n = 0;
  for (page *p : m.owner->pages)
    if (n++ % 4 == 0) m.owner->refuse.insert(m.owner->pfn(p));
  const unsigned long isolated = vm_event(*m.ms, COMPACTISOLATED);
  compact_control cc = m.full_pass_cc();
  EXPECT_EQ(compact_zone(&cc), COMPACT_COMPLETE);  // not out of targets
  ASSERT_GT(cc.nr_migrated, 4 * COMPACT_CLUSTER_MAX);
  const unsigned long free_isolated = vm_event(*m.ms, COMPACTISOLATED) - isolated - m.owner->isolations;
  EXPECT_GE(free_isolated, cc.nr_migrated);
  EXPECT_LE(free_isolated, cc.nr_migrated + COMPACT_CLUSTER_MAX);
  m.owner->refuse.clear();
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// A pass from the cached positions is a whole-zone one only when both lie
// at the zone's ends: a cached free position below the top makes the pass
// partial (COMPACT_PARTIAL_SKIPPED when the scanners meet).
TEST(CompactionSurvivors, CachedFreePositionInTheZoneIsKept) {
  machine m;
  m.fragment();
  m.z->compact_cached_migrate_pfn = m.start();
  m.z->compact_cached_free_pfn = m.block(m.nr_blocks() / 2);
  compact_control cc = m.cc(9, MIGRATE_ASYNC, MIGRATE_UNMOVABLE);
  cc.direct_compaction = true;
  EXPECT_EQ(compact_zone(&cc), COMPACT_PARTIAL_SKIPPED);
  EXPECT_FALSE(cc.whole_zone);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// The cached free position only moves down within a cycle: a whole-zone
// pass, whose free scanner starts at the top, leaves a lower cached
// position where it was (Linux updates it only to a lower pfn).
TEST(CompactionSurvivors, WholeZonePassDoesNotRaiseTheCachedFreePosition) {
  machine m;
  m.fragment();
  const unsigned b = m.first_clean_block();
  const unsigned long low = m.block(b + 2);
  m.z->compact_cached_free_pfn = low;
  m.z->compact_cached_migrate_pfn = m.start();
  compact_control cc = m.cc(9, MIGRATE_SYNC_LIGHT);
  cc.whole_zone = true;
  EXPECT_EQ(compact_zone(&cc), COMPACT_SUCCESS);
  ASSERT_GT(cc.free_pfn, low);
  EXPECT_EQ(m.z->compact_cached_free_pfn, low);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// Compaction drains this CPU's lists after it migrated pages and its
// migration scanner left their order-aligned block (Linux's compact_zone),
// not before: pages a caller left on the lists, which would complete a
// free pageblock, do not end an order-9 compaction that has migrated
// nothing yet. The pass starts at a pageblock with nothing movable.
TEST(CompactionSurvivors, NoDrainBeforeTheFirstMigration) {
  machine m;
  m.fragment();
  unsigned b = m.first_clean_block();
  while (b + 3 < m.nr_blocks() && !(m.clean(b) && m.clean(b + 1) && m.clean(b + 2))) b++;
  ASSERT_TRUE(m.clean(b) && m.clean(b + 1) && m.clean(b + 2));
  std::vector<page *> pinned = pin_block(m, b);
  std::vector<page *> x;
  for (page *p : m.owner->pages)
    if (pageblock_start_pfn(m.owner->pfn(p)) == m.block(b + 1)) x.push_back(p);
  for (page *p : x) m.owner->release(p);  // to this CPU's list, part of them
  ASSERT_GT(pcp_count(m.z, 0), 0);
  ASSERT_FALSE(zone_watermark_ok(m.z, 9, min_wmark_pages(m.z), ZONE_DMA32, 0));
  m.z->compact_cached_migrate_pfn = m.block(b);
  m.z->compact_cached_free_pfn = pageblock_start_pfn(zone_end_pfn(m.z) - 1);
  compact_control cc = m.cc(9, MIGRATE_SYNC_LIGHT);
  cc.ignore_skip_hint = true;
  EXPECT_EQ(compact_zone(&cc), COMPACT_SUCCESS);
  EXPECT_GT(cc.nr_migrated, 0ul);
  unpin_block(m, pinned);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// Once the migration scanner leaves a pageblock it migrated from, an
// order-9 compaction drains and finds the pageblock free: it stops there,
// whether that pageblock is an even or an odd one, and takes nothing from
// the next.
TEST(CompactionSurvivors, StopsAtTheFirstEmptiedPageblockEvenOrOdd) {
  for (unsigned parity : {0u, 1u}) {
    machine m;
    m.fragment();
    unsigned b = m.first_clean_block();
    while (b + 1 < m.nr_blocks() && (((m.block(b) >> pageblock_order) & 1) != parity || !m.clean(b) || !m.clean(b + 1))) b++;
    ASSERT_LT(b + 1, m.nr_blocks());
    // The pageblock's last batch reaches its end (one page fewer than a
    // whole number of batches): its migrated pages are still on this
    // CPU's list when the scanner leaves it.
    m.owner->release(m.pg(m.block(b)));
    drain_all_pages(*m.ms);
    const unsigned long next = m.owned_in(m.block(b + 1), m.block(b + 2));
    m.z->compact_cached_migrate_pfn = m.block(b);
    m.z->compact_cached_free_pfn = pageblock_start_pfn(zone_end_pfn(m.z) - 1);
    compact_control cc = m.cc(9, MIGRATE_SYNC_LIGHT);
    cc.ignore_skip_hint = true;
    EXPECT_EQ(compact_zone(&cc), COMPACT_SUCCESS) << parity;
    EXPECT_EQ(m.owned_in(m.block(b), m.block(b + 1)), 0ul) << parity;
    EXPECT_EQ(m.owned_in(m.block(b + 1), m.block(b + 2)), next) << parity;
    for (auto [src, dst] : m.owner->moved) EXPECT_EQ(pageblock_start_pfn(src), m.block(b)) << parity;
    m.release_all();
    EXPECT_EQ(m.check(), "");
  }
}

// A compaction cut short (out of targets at the min watermark) leaves no
// page it freed on this CPU's lists: they are drained, so that they merge.
TEST(CompactionSurvivors, CompactZoneLeavesNothingOnTheCpuLists) {
  machine m;
  fragment_with_min_watermark_near_free(m);
  compact_control cc = m.cc(-1, MIGRATE_SYNC_LIGHT);
  cc.alloc_flags = 0;
  EXPECT_EQ(compact_zone(&cc), COMPACT_CONTENDED);
  EXPECT_GT(cc.nr_migrated, 0ul);
  EXPECT_EQ(pcp_count(m.z, 0), 0);
  init_per_zone_wmark_min(*m.ms);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}


// Direct compaction returns the best result over the zones it tried (the
// order of compact_result), for the zones the request may use only; a
// synchronous pass defers a zone only when its scanners met, not when the
// zone was skipped. Two zones (Normal first in the zonelist, then DMA32),
// order 9, both made to fail the request's (high) watermark; Normal's
// compaction is held by another CPU, so that async compaction there ends
// COMPACT_CONTENDED at once.
TEST(CompactionSurvivors, DirectCompactionResultIsTheBestOfTheAllowedZones) {
  slabt::cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_across_4g(f), 0);
  mem_system &ms = *f.ms;
  pglist_data *pgdat = ms.node_data[0];
  zone *normal = &pgdat->node_zones[ZONE_NORMAL], *dma32 = &pgdat->node_zones[ZONE_DMA32];
  ASSERT_EQ(pgdat->zonelist[0], normal);
  ASSERT_EQ(pgdat->zonelist[1], dma32);
  ASSERT_EQ(pgdat->zonelist[2], nullptr);
  for (zone *z : {normal, dma32}) {
    z->_watermark[WMARK_HIGH] = 1ul << 40;
    ASSERT_TRUE(compaction_suitable(ms, z, 9, ZONE_NORMAL));
  }
  const alloc_context any{pgdat, ZONE_NORMAL, false, MIGRATE_MOVABLE};
  const alloc_context low{pgdat, ZONE_DMA32, false, MIGRATE_MOVABLE};
  std::atomic<int> state{0};
  std::thread holder([&] {
    host_set_cpu(1);
    spin_lock(&normal->compact_lock);
    state = 1;
    // Until the test is done with it (2 s at most, for a compaction that
    // would wait).
    const auto t0 = std::chrono::steady_clock::now();
    while (state.load() != 2 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2)) std::this_thread::yield();
    spin_unlock(&normal->compact_lock);
  });
  while (state.load() != 1) std::this_thread::yield();
  // Normal contended, DMA32 deferred: contended.
  defer_compaction(dma32, 9);
  EXPECT_EQ(try_to_compact_pages(ms, GFP_KERNEL, 9, ALLOC_WMARK_HIGH, any, COMPACT_PRIO_ASYNC), COMPACT_CONTENDED);
  // Normal contended, DMA32 skipped (compaction_suitable refuses): contended.
  compaction_defer_reset(dma32, 9, true);
  dma32->_watermark[WMARK_MIN] = dma32->_watermark[WMARK_LOW] = 1ul << 40;
  EXPECT_EQ(try_to_compact_pages(ms, GFP_KERNEL, 9, ALLOC_WMARK_HIGH, any, COMPACT_PRIO_ASYNC), COMPACT_CONTENDED);
  // A DMA32 request leaves Normal alone: skipped.
  EXPECT_EQ(try_to_compact_pages(ms, GFP_KERNEL, 9, ALLOC_WMARK_HIGH, low, COMPACT_PRIO_ASYNC), COMPACT_SKIPPED);
  state = 2;
  holder.join();
  // Both skipped by a synchronous pass: neither deferred.
  normal->_watermark[WMARK_MIN] = normal->_watermark[WMARK_LOW] = 1ul << 40;
  EXPECT_EQ(try_to_compact_pages(ms, GFP_KERNEL, 9, ALLOC_WMARK_HIGH, any, COMPACT_PRIO_SYNC_LIGHT), COMPACT_SKIPPED);
  for (zone *z : {normal, dma32}) {
    EXPECT_EQ(z->compact_defer_shift, 0u) << z->name;
    EXPECT_EQ(z->compact_considered, 0u) << z->name;
  }
  init_per_zone_wmark_min(ms);
  EXPECT_EQ(f.check(), "");
}

// Direct compaction checks a zone's watermark with the request's lowmem
// reserve (its highest_zoneidx): DMA32 with free memory within Normal's
// reserve over min is not "already good" for a Normal request, and too
// low for compaction_suitable: skipped, not a success.
TEST(CompactionSurvivors, DirectCompactionCountsTheRequestsLowmemReserve) {
  slabt::cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_across_4g(f), 0);
  mem_system &ms = *f.ms;
  pglist_data *pgdat = ms.node_data[0];
  zone *normal = &pgdat->node_zones[ZONE_NORMAL], *dma32 = &pgdat->node_zones[ZONE_DMA32];
  normal->_watermark[WMARK_MIN] = normal->_watermark[WMARK_LOW] = normal->_watermark[WMARK_HIGH] = 1ul << 40;
  drain_all_pages(ms);
  const long reserve = dma32->lowmem_reserve[ZONE_NORMAL];
  ASSERT_GE(reserve, 8);
  const unsigned long free = (unsigned long)zone_page_state(dma32, NR_FREE_PAGES);
  dma32->_watermark[WMARK_MIN] = free - 1 - (unsigned long)reserve / 2;
  ASSERT_TRUE(zone_watermark_ok(dma32, 1, min_wmark_pages(dma32), ZONE_DMA32, 0));
  ASSERT_FALSE(zone_watermark_ok(dma32, 1, min_wmark_pages(dma32), ZONE_NORMAL, 0));
  const alloc_context any{pgdat, ZONE_NORMAL, false, MIGRATE_MOVABLE};
  EXPECT_EQ(try_to_compact_pages(ms, GFP_KERNEL, 1, ALLOC_WMARK_MIN, any, COMPACT_PRIO_ASYNC), COMPACT_SKIPPED);
  init_per_zone_wmark_min(ms);
  EXPECT_EQ(f.check(), "");
}

// Direct compaction works for the request: its migratetype (async takes
// only from pageblocks of that type: an UNMOVABLE request on a zone with
// none scans nothing) and its watermark (alloc_flags: a zone that passes
// min but not the request's high mark is compacted). And it ends when a
// block the request could take exists: of its own type, or a fallback it
// may steal; a small free block in an UNMOVABLE pageblock is neither for a
// movable order-1 request (Linux's __compact_finished).
TEST(CompactionSurvivors, DirectCompactionUsesTheRequestsTypeAndMark) {
  machine m;
  m.fragment();
  const unsigned long scanned = vm_event(*m.ms, COMPACTMIGRATE_SCANNED);
  try_to_compact_pages(*m.ms, GFP_KERNEL, 9, ALLOC_WMARK_MIN, m.ac(MIGRATE_UNMOVABLE), COMPACT_PRIO_ASYNC);
  EXPECT_EQ(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);
  EXPECT_TRUE(m.owner->moved.empty());

  unsigned u = m.nr_blocks() - 2;
  while (u > 0 && !m.clean(u)) u--;
  ASSERT_TRUE(m.clean(u));
  set_type(m.z, m.block(u), MIGRATE_UNMOVABLE);
  page *even = nullptr;
  for (unsigned long pfn = m.block(u); pfn < m.block(u + 1) && !even; pfn += 2)
    if (m.owner->pages.count(m.pg(pfn)) && PageBuddy(m.pg(pfn + 1))) even = m.pg(pfn);
  ASSERT_NE(even, nullptr);
  m.owner->release(even);
  drain_all_pages(*m.ms);
  ASSERT_FALSE(list_empty(&m.z->free_area[1].free_list[MIGRATE_UNMOVABLE]));
  for (unsigned o = 1; o < NR_PAGE_ORDERS; o++) ASSERT_TRUE(list_empty(&m.z->free_area[o].free_list[MIGRATE_MOVABLE])) << o;
  m.z->_watermark[WMARK_HIGH] = 1ul << 40;
  ASSERT_TRUE(zone_watermark_ok(m.z, 1, min_wmark_pages(m.z), ZONE_DMA32, 0));
  EXPECT_EQ(try_to_compact_pages(*m.ms, GFP_KERNEL, 1, ALLOC_WMARK_HIGH, m.ac(MIGRATE_MOVABLE), COMPACT_PRIO_SYNC_LIGHT),
            COMPACT_SUCCESS);
  EXPECT_FALSE(m.owner->moved.empty());
  init_per_zone_wmark_min(*m.ms);
  set_type(m.z, m.block(u), MIGRATE_MOVABLE);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// MIN_COMPACT_PRIORITY compacts the whole zone from its ends, whatever the
// cached positions: the first clean pageblock, below the cached migration
// position, is the one emptied.
TEST(CompactionSurvivors, MinPriorityStartsFromTheZonesEnds) {
  machine m;
  m.fragment();
  const unsigned b = m.first_clean_block();
  m.z->compact_cached_migrate_pfn = m.block(b + 2);
  EXPECT_EQ(try_to_compact_pages(*m.ms, GFP_KERNEL, 9, ALLOC_WMARK_MIN, m.ac(MIGRATE_MOVABLE), MIN_COMPACT_PRIORITY),
            COMPACT_SUCCESS);
  EXPECT_EQ(m.owned_in(m.block(b), m.block(b + 1)), 0ul);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// One compaction of a zone at a time: async compaction of a zone another
// CPU compacts ends COMPACT_CONTENDED at once; sync compaction waits for
// it and then compacts.
TEST(CompactionSurvivors, AsyncCompactionDoesNotWaitSyncDoes) {
  slabt::cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 2), 0);
  zone *z = &f.ms->node_data[0]->node_zones[ZONE_DMA32];
  for (migrate_mode mode : {MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT}) {
    std::atomic<int> state{0};
    std::thread holder([&] {
      host_set_cpu(1);
      spin_lock(&z->compact_lock);
      state = 1;
      const auto t0 = std::chrono::steady_clock::now();
      // Async: until the compaction returned (or 300 ms, for a broken one
      // that waits); sync: 50 ms, then the waiter goes on.
      const auto hold = std::chrono::milliseconds(mode == MIGRATE_ASYNC ? 300 : 50);
      while (state.load() != 2 && std::chrono::steady_clock::now() - t0 < hold) std::this_thread::yield();
      spin_unlock(&z->compact_lock);
    });
    while (state.load() != 1) std::this_thread::yield();
    compact_control cc = compact_control_for(*f.ms, z, -1, mode);
    cc.ignore_skip_hint = true;
    cc.whole_zone = true;
    const compact_result r = compact_zone(&cc);
    state = 2;
    holder.join();
    if (mode == MIGRATE_ASYNC) {
      EXPECT_EQ(r, COMPACT_CONTENDED);
      EXPECT_EQ(cc.total_migrate_scanned, 0ul);
    } else {
      EXPECT_EQ(r, COMPACT_COMPLETE);
      EXPECT_GT(cc.total_migrate_scanned, 0ul);
    }
  }
  EXPECT_EQ(f.check(), "");
}

// Resetting a zone's skip hints touches that zone's pageblocks only: with
// DMA32 exactly 16 pageblocks (one word of the node's bitmap), Normal's
// first pageblock keeps its hint.
TEST(CompactionSurvivors, ResetOfSkipHintsStaysInTheZone) {
  slabt::cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_with_highmem(f), 0);
  pglist_data *pgdat = f.ms->node_data[0];
  zone *dma32 = &pgdat->node_zones[ZONE_DMA32], *normal = &pgdat->node_zones[ZONE_NORMAL];
  ASSERT_EQ(dma32->spanned_pages, 16 * pageblock_nr_pages);
  ASSERT_EQ(zone_end_pfn(dma32), normal->zone_start_pfn);
  set_skip_hint(normal, normal->zone_start_pfn);
  set_skip_hint(dma32, dma32->zone_start_pfn);
  dma32->compact_blockskip_flush = true;
  compact_control cc = compact_control_for(*f.ms, dma32, -1, MIGRATE_SYNC);
  cc.whole_zone = true;
  cc.ignore_skip_hint = true;  // (sets none either)
  compact_zone(&cc);
  EXPECT_FALSE(skip_bit(dma32, dma32->zone_start_pfn));
  EXPECT_TRUE(skip_bit(normal, normal->zone_start_pfn));
  set_pfnblock_flags_mask(normal, normal->zone_start_pfn, 0, 1ul << PB_migrate_skip);
  EXPECT_EQ(f.check(), "");
}

// A zone of one pageblock is compacted (its scanners meet at once:
// COMPACT_COMPLETE); a zone smaller than a pageblock is skipped.
TEST(CompactionSurvivors, ZoneOfOnePageblockIsCompactedASmallerOneSkipped) {
  for (unsigned long pages : {pageblock_nr_pages, pageblock_nr_pages / 2}) {
    slabt::cpu_reset reset;
    mm_fixture f;
    const unsigned long base = 0x80000000ul >> PAGE_SHIFT;
    ASSERT_EQ(f.build({{0x80000000, 16 * SZ_1M, 0}}, layout_with_limits(base + pages, PFN_4G, PFN_MAX, 1)), 0);
    zone *dma = &f.ms->node_data[0]->node_zones[ZONE_DMA];
    ASSERT_EQ(dma->spanned_pages, pages);
    ASSERT_TRUE(managed_zone(dma));
    compact_control cc = compact_control_for(*f.ms, dma, -1, MIGRATE_SYNC);
    cc.whole_zone = true;
    EXPECT_EQ(compact_zone(&cc), pages == pageblock_nr_pages ? COMPACT_COMPLETE : COMPACT_SKIPPED) << pages;
    EXPECT_EQ(f.check(), "");
  }
}

// A whole-zone pass and a pass from reset positions cover the same pages:
// in a zone whose last pageblock holds one page, both start the free
// scanner at that pageblock, so the migration scanner walks every full
// pageblock below it.
TEST(CompactionSurvivors, WholeZonePassCoversTheLastFullPageblock) {
  slabt::cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(f.build({{0x80000000, 8 * SZ_1M + PAGE_SIZE, 0}}, layout_with_limits(0, PFN_4G, PFN_MAX, 1)), 0);
  zone *z = &f.ms->node_data[0]->node_zones[ZONE_DMA32];
  ASSERT_EQ(zone_end_pfn(z) % pageblock_nr_pages, 1u);
  unsigned long scanned[2];
  for (bool whole : {false, true}) {
    z->compact_cached_migrate_pfn = 0;
    z->compact_cached_free_pfn = 0;
    compact_control cc = compact_control_for(*f.ms, z, -1, MIGRATE_SYNC);
    cc.ignore_skip_hint = true;
    cc.whole_zone = whole;
    EXPECT_EQ(compact_zone(&cc), COMPACT_COMPLETE);
    scanned[whole] = cc.total_migrate_scanned;
  }
  EXPECT_GT(scanned[0], 0ul);
  EXPECT_EQ(scanned[1], scanned[0]);
  EXPECT_EQ(f.check(), "");
}

// The free scanner takes targets only from pageblocks wholly in the zone:
// with DMA ending in the middle of a pageblock whose upper half is DMA32's
// free memory, and no other free page in DMA above its movable pages,
// compaction of DMA moves nothing, and nothing into DMA32.
TEST(CompactionSurvivors, FreeScannerStaysInItsZoneAtASharedPageblock) {
  slabt::cpu_reset reset;
  mm_fixture f;
  const unsigned long base = 0x80000000ul >> PAGE_SHIFT;
  const unsigned long dma_end = base + 4 * pageblock_nr_pages + pageblock_nr_pages / 2;
  ASSERT_EQ(f.build({{0x80000000, 16 * SZ_1M, 0}}, layout_with_limits(dma_end, PFN_4G, PFN_MAX, 1)), 0);
  mem_system &ms = *f.ms;
  zone *dma = &ms.node_data[0]->node_zones[ZONE_DMA];
  ASSERT_EQ(zone_end_pfn(dma), dma_end);
  for (int w = 0; w < NR_WMARK; w++) dma->_watermark[w] = 0;
  test_owner owner(ms);
  // Every page of DMA taken; the even ones of its first pageblock made
  // movable, the odd ones given back, and the second pageblock given back
  // whole (a free pageblock is no target: it is what compaction makes).
  std::vector<page *> pins;
  ms.pcp_disabled = true;
  while (page *p = alloc_pages(ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_DMA | __GFP_NOWARN, 0)) pins.push_back(p);
  ms.pcp_disabled = false;
  ASSERT_EQ(zone_page_state_snapshot(dma, NR_FREE_PAGES), 0);
  std::vector<page *> keep;
  for (page *p : pins) {
    const unsigned long pfn = page_to_pfn(ms, p);
    if (pfn >= base + 2 * pageblock_nr_pages) keep.push_back(p);
    else if (pfn >= base + pageblock_nr_pages || (pfn & 1)) __free_pages(ms, p, 0);
    else owner.adopt(p);
  }
  drain_all_pages(ms);
  compact_control cc = compact_control_for(ms, dma, -1, MIGRATE_SYNC);
  cc.ignore_skip_hint = true;
  cc.whole_zone = true;
  compact_zone(&cc);
  for (auto [src, dst] : owner.moved) EXPECT_LT(dst, dma_end) << src;
  EXPECT_TRUE(owner.moved.empty());
  std::vector<page *> all(owner.pages.begin(), owner.pages.end());
  for (page *p : all) owner.release(p);
  for (page *p : keep) __free_pages(ms, p, 0);
  drain_all_pages(ms);
  init_per_zone_wmark_min(ms);
  EXPECT_EQ(f.check(), "");
}

// The migration scanner passes over a compound page of any order it can
// have (1..MAX_PAGE_ORDER) at once, looking at its head only. A head
// (faked, as in MigrationScannerIgnoresAnImpossibleOrder) at b + 8 among
// plain pages in use.
TEST(CompactionSurvivors, MigrationScannerSkipsCompoundPagesOfEveryOrder) {
  machine m;
  const unsigned long b = m.block(6);
  take_range(m, b, 64);
  page *p = m.pg(b + 8);
  for (unsigned order : {1u, 2u, 5u, unsigned(MAX_PAGE_ORDER)}) {
    const unsigned long flags = p->flags;
    const unsigned order1 = p[1].compound_order;
    set_page_flag(p, PG_head);
    p[1].compound_order = order;
    compact_control cc = compact_control_for(*m.ms, m.z, -1, MIGRATE_SYNC);
    INIT_LIST_HEAD(&cc.migratepages);
    INIT_LIST_HEAD(&cc.freepages);
    const unsigned long after = b + 8 + (1ul << order);
    const unsigned long end = after > b + 64 ? after : b + 64;
    EXPECT_EQ(isolate_migratepages_block(&cc, b, b + 64), end) << order;
    EXPECT_EQ(cc.total_migrate_scanned, after >= b + 64 ? 9ul : 64ul - ((1ul << order) - 1)) << order;
    p->flags = flags;
    p[1].compound_order = order1;
  }
  EXPECT_EQ(free_contig_range(*m.ms, b, 64), 0ul);
  EXPECT_EQ(m.check(), "");
}

// alloc_contig_range takes a wholly free range whatever its buddy blocks:
// here an order-0 block followed by an order-2 one ([x + 3, x + 8) with
// x, x + 1, x + 2 in use; the rest of the first 16 pages movable, so that
// the pageblock can be isolated).
TEST(CompactionSurvivors, AllocContigRangeOfGrowingFreeBlocks) {
  machine m;
  const unsigned long x = m.block(6);
  take_range(m, x, 16);
  for (unsigned long pfn = x; pfn < x + 16; pfn++)
    if (pfn < x + 3 || pfn >= x + 8) m.owner->adopt(m.pg(pfn));
  EXPECT_EQ(free_contig_range(*m.ms, x + 3, 5), 0ul);
  drain_all_pages(*m.ms);
  ASSERT_TRUE(PageBuddy(m.pg(x + 3)) && m.pg(x + 3)->private_ == 0);
  ASSERT_TRUE(PageBuddy(m.pg(x + 4)) && m.pg(x + 4)->private_ == 2);
  EXPECT_EQ(alloc_contig_range(*m.ms, x + 3, x + 8, GFP_KERNEL), 0);
  EXPECT_EQ(free_contig_range(*m.ms, x + 3, 5), 0ul);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// The free scanner takes a free block only if the zone keeps more than
// its min watermark after it (Linux's __isolate_free_page: min + the
// block's pages), and stops at the first it cannot take; every page it
// looks at counts once in compact_free_scanned, a free block it takes
// once. Free memory two pages above min, the free scanner starting at a
// clean pageblock T (even pages in use, odd ones free), every migration
// refused (so the one target goes back and forth and nothing is freed):
// the order-0 block at T + 1 is taken, the one at T + 3 is not, four pages
// looked at. With T + 0 freed too (an order-1 block at T), nothing is
// taken.
TEST(CompactionSurvivors, FreeScannerAtTheWatermarkTakesWhatKeepsItAboveMin) {
  for (bool order1 : {false, true}) {
    machine m;
    m.fragment();
    const unsigned b = m.first_clean_block();
    unsigned t = m.nr_blocks() - 1;
    while (t > b + 1 && !m.clean(t)) t--;
    ASSERT_GT(t, b + 1);
    if (order1) m.owner->release(m.pg(m.block(t)));
    for (page *p : m.owner->pages) m.owner->refuse.insert(m.owner->pfn(p));
    drain_all_pages(*m.ms);
    ASSERT_TRUE(PageBuddy(m.pg(m.block(t) + 1)) || PageBuddy(m.pg(m.block(t))));
    const unsigned long isolated = vm_event(*m.ms, COMPACTISOLATED);
    // Every change of the free count straight into the total the watermark
    // test reads (no per-CPU drift).
    const s8 threshold = m.z->per_cpu_zonestats[0].stat_threshold;
    m.z->per_cpu_zonestats[0].stat_threshold = 0;
    refresh_cpu_vm_stats(*m.ms);
    ASSERT_EQ(zone_page_state(m.z, NR_FREE_PAGES), zone_page_state_snapshot(m.z, NR_FREE_PAGES));
    m.z->_watermark[WMARK_MIN] = (unsigned long)zone_page_state(m.z, NR_FREE_PAGES) - 2;
    m.z->compact_cached_migrate_pfn = m.block(b);
    m.z->compact_cached_free_pfn = m.block(t);
    compact_control cc = m.cc(-1, MIGRATE_SYNC_LIGHT);
    cc.alloc_flags = 0;
    compact_zone(&cc);
    m.z->per_cpu_zonestats[0].stat_threshold = threshold;
    EXPECT_EQ(cc.nr_migrated, 0ul);
    EXPECT_EQ(vm_event(*m.ms, COMPACTISOLATED) - isolated - m.owner->isolations, order1 ? 0ul : 1ul);
    if (!order1) {
      EXPECT_EQ(cc.total_free_scanned, 4ul);
    }
    init_per_zone_wmark_min(*m.ms);
    m.owner->refuse.clear();
    m.release_all();
    EXPECT_EQ(m.check(), "");
  }
}


// The free scanner's watermark test counts no lowmem reserve (Linux's
// __isolate_free_page asks zone_watermark_ok for classzone 0): in DMA,
// whose reserve against DMA32 allocations is above 0, with free memory two
// pages above min, one target is taken and one page moves. DMA: its first
// pageblock's even pages movable, the odd ones free; its third pageblock's
// odd pages free (the targets); everything else in it held.
TEST(CompactionSurvivors, FreeScannerCountsNoLowmemReserve) {
  slabt::cpu_reset reset;
  mm_fixture f;
  const unsigned long base = 0x80000000ul >> PAGE_SHIFT;
  ASSERT_EQ(f.build({{0x80000000, 16 * SZ_1M, 0}}, layout_with_limits(base + 4 * pageblock_nr_pages, PFN_4G, PFN_MAX, 1)), 0);
  mem_system &ms = *f.ms;
  zone *dma = &ms.node_data[0]->node_zones[ZONE_DMA];
  ASSERT_GE(dma->lowmem_reserve[ZONE_DMA32], 2);
  for (int w = 0; w < NR_WMARK; w++) dma->_watermark[w] = 0;
  test_owner owner(ms);
  std::vector<page *> pins;
  ms.pcp_disabled = true;
  while (page *p = alloc_pages(ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_DMA | __GFP_NOWARN, 0)) pins.push_back(p);
  ms.pcp_disabled = false;
  std::vector<page *> keep;
  for (page *p : pins) {
    const unsigned long pfn = page_to_pfn(ms, p);
    const unsigned long blk = (pfn - base) >> pageblock_order;
    if ((blk == 0 || blk == 2) && (pfn & 1)) __free_pages(ms, p, 0);
    else if (blk == 0) owner.adopt(p);
    else keep.push_back(p);
  }
  drain_all_pages(ms);
  const s8 threshold = dma->per_cpu_zonestats[0].stat_threshold;
  dma->per_cpu_zonestats[0].stat_threshold = 0;
  refresh_cpu_vm_stats(ms);
  dma->_watermark[WMARK_MIN] = (unsigned long)zone_page_state(dma, NR_FREE_PAGES) - 2;
  compact_control cc = compact_control_for(ms, dma, -1, MIGRATE_SYNC_LIGHT);
  cc.ignore_skip_hint = true;
  cc.whole_zone = true;
  EXPECT_EQ(compact_zone(&cc), COMPACT_CONTENDED);
  dma->per_cpu_zonestats[0].stat_threshold = threshold;
  EXPECT_EQ(cc.nr_migrated, 1ul);
  std::vector<page *> all(owner.pages.begin(), owner.pages.end());
  for (page *p : all) owner.release(p);
  for (page *p : keep) __free_pages(ms, p, 0);
  drain_all_pages(ms);
  init_per_zone_wmark_min(ms);
  EXPECT_EQ(f.check(), "");
}

}  // namespace

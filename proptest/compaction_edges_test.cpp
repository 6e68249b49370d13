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

// Compaction's rules one at a time, each with the exact value Linux's rule
// gives: compaction_suitable, compact_zone's results, which pageblocks the
// two scanners take, skip hints and cached positions, deferral. The machine
// and the test owner are in proptest/compaction_rules_fixture.h; the slow
// path, kcompactd, migration and isolation are in compaction_paths_test.cpp.
#include <gtest/gtest.h>

#include "proptest/compaction_rules_fixture.h"

namespace {

using namespace compaction_rules;

// ---- compaction_suitable ----------------------------------------------------------------

// compaction_suitable's watermark (Linux 4.13+): min plus compact_gap
// (2 << order) over order-0 pages for orders up to PAGE_ALLOC_COSTLY_ORDER,
// low plus the gap for costly orders; __zone_watermark_ok's "free > mark",
// with highest_zoneidx's lowmem_reserve and no other's. The watermark not
// used is set so that using it would flip the answer.
TEST(CompactionRules, SuitableWatermarkIsMinOrLowPlusCompactGapExactly) {
  machine m;
  m.fragment();
  const unsigned long free = free_pages(m.z);
  for (int order : {1, 3, 4, 9}) {
    const unsigned long gap = 2ul << order;
    const bool costly = order > int(PAGE_ALLOC_COSTLY_ORDER);
    unsigned long &used = m.z->_watermark[costly ? WMARK_LOW : WMARK_MIN];
    unsigned long &other = m.z->_watermark[costly ? WMARK_MIN : WMARK_LOW];
    // The index rule must not decide the costly orders here.
    m.ms->extfrag_threshold = -1;
    other = costly ? 0 : free;
    used = free - gap - 1;  // free == mark + gap + 1
    EXPECT_TRUE(compaction_suitable(*m.ms, m.z, order, ZONE_DMA32)) << order;
    used = free - gap;  // free == mark + gap: one page short
    EXPECT_FALSE(compaction_suitable(*m.ms, m.z, order, ZONE_DMA32)) << order;
    other = costly ? free : 0;
    used = free - gap - 1;
    EXPECT_TRUE(compaction_suitable(*m.ms, m.z, order, ZONE_DMA32)) << order;
    // The classzone's reserve counts, no other's.
    used = free - gap - 1 - 100;
    m.z->lowmem_reserve[ZONE_NORMAL] = 101;
    EXPECT_TRUE(compaction_suitable(*m.ms, m.z, order, ZONE_DMA32)) << order;
    EXPECT_FALSE(compaction_suitable(*m.ms, m.z, order, ZONE_NORMAL)) << order;
    m.z->lowmem_reserve[ZONE_NORMAL] = 100;
    EXPECT_TRUE(compaction_suitable(*m.ms, m.z, order, ZONE_NORMAL)) << order;
    m.z->lowmem_reserve[ZONE_NORMAL] = 0;
  }
  m.ms->extfrag_threshold = 500;
  // Never the high watermark.
  m.z->_watermark[WMARK_LOW] = 0;
  m.z->_watermark[WMARK_MIN] = 0;
  m.z->_watermark[WMARK_HIGH] = free;
  EXPECT_TRUE(compaction_suitable(*m.ms, m.z, 1, ZONE_DMA32));
}

// Costly orders: fragmentation_index 0..extfrag_threshold means lack of
// memory (not suitable); above it, or -1000 (a block exists), suitable.
TEST(CompactionRules, SuitableFragindexAgainstExtfragThreshold) {
  machine m;
  EXPECT_EQ(m.ms->extfrag_threshold, 500);
  m.fragment();
  const int fi9 = fragmentation_index(m.z, 9);
  ASSERT_GT(fi9, 500);
  EXPECT_TRUE(compaction_suitable(*m.ms, m.z, 9, ZONE_DMA32));
  m.ms->extfrag_threshold = fi9;
  EXPECT_FALSE(compaction_suitable(*m.ms, m.z, 9, ZONE_DMA32));
  m.ms->extfrag_threshold = fi9 - 1;
  EXPECT_TRUE(compaction_suitable(*m.ms, m.z, 9, ZONE_DMA32));
  // PAGE_ALLOC_COSTLY_ORDER and below never look at the index.
  m.ms->extfrag_threshold = 1000;
  EXPECT_TRUE(compaction_suitable(*m.ms, m.z, int(PAGE_ALLOC_COSTLY_ORDER), ZONE_DMA32));
  EXPECT_FALSE(compaction_suitable(*m.ms, m.z, int(PAGE_ALLOC_COSTLY_ORDER) + 1, ZONE_DMA32));
  m.ms->extfrag_threshold = 500;

  // Only order-8 blocks free: the index says "too little memory" (<= 500).
  m.release_all();
  machine n;
  std::vector<page *> eights;
  {
    // Low watermarks so that what the allocator keeps back is a few pages,
    // which atomic order-0 pins then take.
    min_free_kbytes_scope tiny(*n.ms, 16);
    while (page *p = alloc_pages(*n.ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_NOWARN | __GFP_NORETRY, 8))
      eights.push_back(p);
    n.ms->pcp_disabled = true;
    while (page *p = alloc_pages(*n.ms, GFP_ATOMIC | __GFP_NOWARN, 0)) n.pins.push_back({p, 0});
    n.ms->pcp_disabled = false;
  }
  for (page *&p : eights)
    if (page_to_pfn(*n.ms, p) & (1ul << 8)) {
      __free_pages(*n.ms, p, 8);
      p = nullptr;
    }
  const int low_fi = fragmentation_index(n.z, 9);
  ASSERT_GE(low_fi, 0);
  ASSERT_LE(low_fi, 500);
  EXPECT_FALSE(compaction_suitable(*n.ms, n.z, 9, ZONE_DMA32));
  n.ms->extfrag_threshold = low_fi - 1;
  EXPECT_TRUE(compaction_suitable(*n.ms, n.z, 9, ZONE_DMA32));
  n.ms->extfrag_threshold = 500;
  // A block of the order exists: -1000, suitable whatever the threshold.
  EXPECT_EQ(fragmentation_index(n.z, 8), -1000);
  n.ms->extfrag_threshold = 1000;
  EXPECT_TRUE(compaction_suitable(*n.ms, n.z, 8, ZONE_DMA32));
  for (page *p : eights)
    if (p) __free_pages(*n.ms, p, 8);
  n.unpin();
  EXPECT_EQ(n.check(), "");
}

// ---- compact_zone's results -------------------------------------------------------------

TEST(CompactionRules, CompactZoneSuccessAtOnceWhenTheWatermarkHolds) {
  machine m;
  const unsigned long scanned = vm_event(*m.ms, COMPACTMIGRATE_SCANNED);
  compact_control cc = m.cc(9, MIGRATE_SYNC_LIGHT);
  EXPECT_EQ(compact_zone(&cc), COMPACT_SUCCESS);
  EXPECT_EQ(cc.total_migrate_scanned, 0ul);
  EXPECT_EQ(cc.total_free_scanned, 0ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);
}

TEST(CompactionRules, CompactZoneSkippedWhenNotSuitable) {
  machine m;
  m.fragment();
  m.ms->extfrag_threshold = 1000;
  compact_control cc = m.cc(9, MIGRATE_SYNC_LIGHT);
  cc.direct_compaction = true;
  EXPECT_EQ(compact_zone(&cc), COMPACT_SKIPPED);
  EXPECT_EQ(cc.total_migrate_scanned, 0ul);
  EXPECT_EQ(m.owner->isolations, 0ul);
  m.ms->extfrag_threshold = 500;
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// A direct compaction for an order-9 block stops at the first pageblock it
// empties: it moves exactly that pageblock's movable pages, to MOVABLE
// pageblocks above it, and counts them exactly.
TEST(CompactionRules, CompactZoneSuccessStopsAtTheFirstBlock) {
  machine m;
  m.fragment();
  const unsigned b = m.first_clean_block();
  ASSERT_LT(b, m.nr_blocks() / 2);
  for (unsigned i = 0; i < b; i++) set_pfnblock_flags_mask(m.z, m.block(i), 1ul << PB_migrate_skip, 1ul << PB_migrate_skip);
  const unsigned long in_block = m.owned_in(m.block(b), m.block(b + 1));
  ASSERT_EQ(in_block, pageblock_nr_pages / 2);
  const unsigned long free_before = free_pages(m.z);
  const unsigned long ev_iso = vm_event(*m.ms, COMPACTISOLATED), ev_ok = vm_event(*m.ms, PGMIGRATE_SUCCESS),
                      ev_fail = vm_event(*m.ms, PGMIGRATE_FAIL), ev_ms = vm_event(*m.ms, COMPACTMIGRATE_SCANNED),
                      ev_fs = vm_event(*m.ms, COMPACTFREE_SCANNED), ev_k = vm_event(*m.ms, KCOMPACTD_MIGRATE_SCANNED);
  compact_control cc = m.cc(9, MIGRATE_SYNC_LIGHT);
  cc.direct_compaction = true;
  EXPECT_EQ(compact_zone(&cc), COMPACT_SUCCESS);
  EXPECT_EQ(cc.nr_freepages, 0u);  // the targets left over went back
  EXPECT_EQ(cc.nr_migrated, in_block);
  EXPECT_EQ(m.owner->moved.size(), in_block);
  for (auto [src, dst] : m.owner->moved) {
    EXPECT_EQ(pageblock_start_pfn(src), m.block(b));
    EXPECT_GT(dst, m.block(b + 1));
    EXPECT_EQ(type_of(m.z, dst), MIGRATE_MOVABLE);
  }
  const page *head = m.pg(m.block(b));
  EXPECT_TRUE(PageBuddy(head) && head->private_ >= pageblock_order);
  // Where the scanners stopped is cached for the next one.
  EXPECT_EQ(cc.migrate_pfn, m.block(b + 1));
  EXPECT_EQ(m.z->compact_cached_migrate_pfn, m.block(b + 1));
  EXPECT_EQ(m.z->compact_cached_free_pfn, pageblock_start_pfn(cc.free_pfn));
  // Counters: both scanners' isolations, each migration, the scans.
  EXPECT_EQ(vm_event(*m.ms, PGMIGRATE_SUCCESS) - ev_ok, in_block);
  EXPECT_EQ(vm_event(*m.ms, PGMIGRATE_FAIL) - ev_fail, 0ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTISOLATED) - ev_iso, 2 * in_block);
  EXPECT_EQ(vm_event(*m.ms, COMPACTMIGRATE_SCANNED) - ev_ms, cc.total_migrate_scanned);
  EXPECT_EQ(vm_event(*m.ms, COMPACTFREE_SCANNED) - ev_fs, cc.total_free_scanned);
  EXPECT_GE(cc.total_migrate_scanned, pageblock_nr_pages / 2);
  EXPECT_GE(cc.total_free_scanned, in_block);
  EXPECT_EQ(vm_event(*m.ms, KCOMPACTD_MIGRATE_SCANNED), ev_k);
  // Every page moved took one target; the targets left over went back.
  drain_all_pages(*m.ms);
  EXPECT_EQ(free_pages(m.z), free_before);
  EXPECT_EQ(m.check(), "");
  m.release_all();
}

// Order -1 (compact_memory) runs until the scanners meet: COMPLETE, far
// more moved than for one block, and afterwards at most the meeting
// pageblocks hold both free and movable pages.
TEST(CompactionRules, CompactMemoryRunsUntilTheScannersMeet) {
  machine m;
  m.fragment();
  const unsigned long owned = m.owner->pages.size();
  // Every pageblock hinted: ignore_skip_hint scans them all the same.
  for (unsigned i = 0; i < m.nr_blocks(); i++)
    set_pfnblock_flags_mask(m.z, m.block(i), 1ul << PB_migrate_skip, 1ul << PB_migrate_skip);
  compact_control cc = m.full_pass_cc();
  EXPECT_EQ(compact_zone(&cc), COMPACT_COMPLETE);
  EXPECT_GT(cc.nr_migrated, owned / 3);
  EXPECT_EQ(m.owner->pages.size(), owned);
  unsigned mixed = 0;
  for (unsigned i = 0; i < m.nr_blocks(); i++) {
    bool has_free = false;
    for (unsigned long pfn = m.block(i); pfn < m.block(i + 1); pfn++) has_free |= PageBuddy(m.pg(pfn));
    mixed += has_free && m.owned_in(m.block(i), m.block(i + 1)) > 0;
  }
  EXPECT_LE(mixed, 2u);
  // The positions start from the ends again.
  EXPECT_EQ(m.z->compact_cached_migrate_pfn, m.start());
  EXPECT_EQ(m.z->compact_cached_free_pfn, pageblock_start_pfn(zone_end_pfn(m.z) - 1));
  EXPECT_EQ(m.check(), "");
  m.release_all();
}

// ---- which pages and pageblocks the scanners take -------------------------------------------

// Types for blocks 0..3 of a fragmented zone: UNMOVABLE, RECLAIMABLE,
// HIGHATOMIC, ISOLATE; the rest stay MOVABLE.
void type_blocks(machine &m, unsigned first) {
  set_type(m.z, m.block(first), MIGRATE_UNMOVABLE);
  set_type(m.z, m.block(first + 1), MIGRATE_RECLAIMABLE);
  set_type(m.z, m.block(first + 2), MIGRATE_HIGHATOMIC);
  m.z->nr_reserved_highatomic += pageblock_nr_pages;
  ASSERT_EQ(set_migratetype_isolate(*m.ms, m.pg(m.block(first + 3))), 0);
}
void untype_blocks(machine &m, unsigned first) {
  undo_isolate_page_range(*m.ms, m.block(first + 3), m.block(first + 4));
  set_type(m.z, m.block(first + 2), MIGRATE_MOVABLE);
  m.z->nr_reserved_highatomic -= pageblock_nr_pages;
}

std::set<int> source_types(machine &m) {
  std::set<int> t;
  for (auto [src, dst] : m.owner->moved) t.insert(type_of(m.z, src));
  return t;
}

TEST(CompactionRules, AsyncDirectMovableTakesOnlyMovablePageblocks) {
  machine m;
  m.fragment();
  const unsigned b = m.first_clean_block();
  type_blocks(m, b);
  compact_control cc = m.cc(9, MIGRATE_ASYNC);
  cc.direct_compaction = true;
  EXPECT_EQ(compact_zone(&cc), COMPACT_SUCCESS);
  EXPECT_EQ(source_types(m), std::set<int>{MIGRATE_MOVABLE});
  for (auto [src, dst] : m.owner->moved) EXPECT_GE(src, m.block(b + 4));
  untype_blocks(m, b);
  EXPECT_EQ(m.check(), "");
  m.release_all();
}

// Sync direct compaction for a MOVABLE request takes the UNMOVABLE
// pageblock below the MOVABLE ones too, and the block it frees there
// serves the request (a pageblock-sized fallback).
TEST(CompactionRules, SyncDirectMovableTakesOtherTypes) {
  machine m;
  m.fragment();
  const unsigned b = m.first_clean_block();
  type_blocks(m, b);
  compact_control cc = m.cc(9, MIGRATE_SYNC_LIGHT);
  cc.direct_compaction = true;
  EXPECT_EQ(compact_zone(&cc), COMPACT_SUCCESS);
  EXPECT_EQ(source_types(m), std::set<int>{MIGRATE_UNMOVABLE});
  EXPECT_EQ(m.owner->moved.size(), pageblock_nr_pages / 2);
  untype_blocks(m, b);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// A request below pageblock order still finishes the pageblock it started:
// an order-4 block appears after the first batch, yet the whole pageblock's
// movable pages move.
TEST(CompactionRules, CompactZoneFinishesThePageblock) {
  machine m;
  m.fragment();
  const unsigned b = m.first_clean_block();
  for (unsigned i = 0; i < b; i++) set_pfnblock_flags_mask(m.z, m.block(i), 1ul << PB_migrate_skip, 1ul << PB_migrate_skip);
  compact_control cc = m.cc(4, MIGRATE_SYNC_LIGHT);
  cc.direct_compaction = true;
  EXPECT_EQ(compact_zone(&cc), COMPACT_SUCCESS);
  EXPECT_EQ(cc.nr_migrated, pageblock_nr_pages / 2);
  EXPECT_EQ(cc.migrate_pfn, m.block(b + 1));
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

TEST(CompactionRules, AsyncDirectUnmovableTakesOnlyUnmovablePageblocks) {
  machine m;
  m.fragment();
  const unsigned b = m.first_clean_block();
  type_blocks(m, b);
  const unsigned long in_block = m.owned_in(m.block(b), m.block(b + 1));
  compact_control cc = m.cc(9, MIGRATE_ASYNC, MIGRATE_UNMOVABLE);
  cc.direct_compaction = true;
  EXPECT_EQ(compact_zone(&cc), COMPACT_SUCCESS);
  EXPECT_EQ(source_types(m), std::set<int>{MIGRATE_UNMOVABLE});
  EXPECT_EQ(m.owner->moved.size(), in_block);
  untype_blocks(m, b);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// Sync (and order -1) takes from every ordinary type, never from ISOLATE or
// HIGHATOMIC pageblocks; the free scanner's targets are in MOVABLE
// pageblocks only.
TEST(CompactionRules, SyncTakesOrdinaryTypesNeverIsolateOrHighatomic) {
  machine m;
  m.fragment();
  const unsigned b = m.first_clean_block();
  type_blocks(m, b);
  // Two UNMOVABLE pageblocks at the top: the free scanner passes them.
  const unsigned top = m.nr_blocks() - 2;
  set_type(m.z, m.block(top), MIGRATE_UNMOVABLE);
  compact_control cc = m.full_pass_cc();
  EXPECT_EQ(compact_zone(&cc), COMPACT_COMPLETE);
  EXPECT_EQ(source_types(m), (std::set<int>{MIGRATE_UNMOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE}));
  for (auto [src, dst] : m.owner->moved) {
    EXPECT_NE(pageblock_start_pfn(src), m.block(b + 2));
    EXPECT_NE(pageblock_start_pfn(src), m.block(b + 3));
    EXPECT_EQ(type_of(m.z, dst), MIGRATE_MOVABLE) << dst;
    EXPECT_NE(pageblock_start_pfn(dst), m.block(top));
  }
  // The HIGHATOMIC and ISOLATE pageblocks kept every page.
  EXPECT_EQ(m.owned_in(m.block(b + 2), m.block(b + 4)), pageblock_nr_pages);
  set_type(m.z, m.block(top), MIGRATE_MOVABLE);
  untype_blocks(m, b);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// The free scanner never breaks up a free block of a pageblock or more.
TEST(CompactionRules, FreeScannerKeepsWholeFreePageblocks) {
  machine m;
  m.fragment();
  // Empty the top clean pageblock: one free order >= 9 block.
  unsigned top = m.nr_blocks() - 1;
  while (m.owned_in(m.block(top), m.block(top + 1)) != pageblock_nr_pages / 2) top--;
  std::vector<page *> there;
  for (page *p : m.owner->pages)
    if (pageblock_start_pfn(m.owner->pfn(p)) == m.block(top)) there.push_back(p);
  for (page *p : there) m.owner->release(p);
  drain_all_pages(*m.ms);
  ASSERT_TRUE(PageBuddy(m.pg(m.block(top))) && m.pg(m.block(top))->private_ >= pageblock_order);
  compact_control cc = m.full_pass_cc();
  EXPECT_EQ(compact_zone(&cc), COMPACT_COMPLETE);
  EXPECT_GT(cc.nr_migrated, 0ul);
  for (auto [src, dst] : m.owner->moved) EXPECT_NE(pageblock_start_pfn(dst), m.block(top));
  EXPECT_TRUE(PageBuddy(m.pg(pageblock_start_pfn(m.block(top)) & ~((1ul << m.pg(m.block(top))->private_) - 1))) ||
              PageBuddy(m.pg(m.block(top))));
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// The free scanner keeps the zone above min + 1 << order (order 0 here):
// free == min + 1 gives no target, free == min + 2 gives one.
TEST(CompactionRules, FreeScannerStopsAtTheMinWatermark) {
  machine m;
  m.fragment();
  const unsigned b = m.first_clean_block();
  for (unsigned i = 0; i < b; i++) set_pfnblock_flags_mask(m.z, m.block(i), 1ul << PB_migrate_skip, 1ul << PB_migrate_skip);
  const unsigned long free = free_pages(m.z);
  m.z->_watermark[WMARK_MIN] = free - 1;
  compact_control cc = m.cc(9, MIGRATE_SYNC_LIGHT);
  cc.alloc_flags = 0;
  cc.no_set_skip_hint = true;
  compact_result r = compact_zone(&cc);
  EXPECT_NE(r, COMPACT_SUCCESS);
  EXPECT_EQ(cc.nr_migrated, 0ul);
  EXPECT_EQ(free_pages(m.z), free);
  m.z->_watermark[WMARK_MIN] = free - 2;
  m.z->compact_cached_migrate_pfn = m.block(b);
  m.z->compact_cached_free_pfn = pageblock_start_pfn(zone_end_pfn(m.z) - 1);
  compact_control cc2 = m.cc(9, MIGRATE_SYNC_LIGHT);
  cc2.alloc_flags = 0;
  cc2.no_set_skip_hint = true;
  compact_zone(&cc2);
  EXPECT_GE(cc2.nr_migrated, 1ul);
  init_per_zone_wmark_min(*m.ms);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// ---- skip hints and cached positions ------------------------------------------------------------

// The three variants, each on its own machine. The pageblocks below the
// second clean one are made unmovable: the migration scanner finds nothing
// there and takes the clean one.
void skip_variant(int variant) {
  machine m;
  m.fragment();
  unsigned c = 1;
  while (!m.clean(c)) c++;
  std::vector<page *> pinned;
  for (unsigned i = 0; i < c; i++) {
    std::vector<page *> v = pin_block(m, i);
    pinned.insert(pinned.end(), v.begin(), v.end());
  }
  compact_control cc = m.cc(9, MIGRATE_SYNC_LIGHT);
  cc.direct_compaction = true;
  cc.whole_zone = true;
  cc.no_set_skip_hint = variant == 1;
  cc.ignore_skip_hint = variant == 2;
  EXPECT_EQ(compact_zone(&cc), COMPACT_SUCCESS) << variant;
  for (unsigned i = 0; i < c; i++) EXPECT_EQ(skip_bit(m.z, m.block(i)), variant == 0) << variant << " " << i;
  // Block c too: its 256 pages went in batches of 32, and the scanner's last
  // call in it, from the pfn after the last one to its end, isolated
  // nothing (Linux marks such a block as well: its pages are gone).
  EXPECT_EQ(skip_bit(m.z, m.block(c)), variant == 0) << variant;
  EXPECT_FALSE(skip_bit(m.z, m.block(c + 1))) << variant;
  EXPECT_EQ(m.owner->moved.size(), pageblock_nr_pages / 2) << variant;
  for (auto [src, dst] : m.owner->moved) EXPECT_EQ(pageblock_start_pfn(src), m.block(c)) << variant;
  if (variant == 0) {
    // Movable again: the hints make the next compaction pass them by.
    unpin_block(m, pinned);
    pinned.clear();
    page *blk = alloc_pages(*m.ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_NOWARN, 9);
    ASSERT_NE(blk, nullptr);
    m.pins.push_back({blk, 9});
    m.owner->moved.clear();
    compact_control c2 = m.cc(9, MIGRATE_SYNC_LIGHT);
    c2.direct_compaction = true;
    c2.whole_zone = true;
    EXPECT_EQ(compact_zone(&c2), COMPACT_SUCCESS);
    EXPECT_FALSE(m.owner->moved.empty());
    for (auto [src, dst] : m.owner->moved) EXPECT_GT(src, m.block(c));
    // ignore_skip_hint: the hinted pageblocks are scanned; the first one's
    // pages move.
    page *blk2 = alloc_pages(*m.ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_NOWARN, 9);
    ASSERT_NE(blk2, nullptr);
    m.pins.push_back({blk2, 9});
    m.owner->moved.clear();
    compact_control c3 = m.cc(9, MIGRATE_SYNC_LIGHT);
    c3.direct_compaction = true;
    c3.whole_zone = true;
    c3.ignore_skip_hint = true;
    compact_zone(&c3);
    ASSERT_FALSE(m.owner->moved.empty());
    EXPECT_EQ(pageblock_start_pfn(m.owner->moved.begin()->first), m.block(0));
  }
  for (page *p : pinned) __free_pages(*m.ms, p, 0);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}
TEST(CompactionRules, SkipHintSetAndPassedBy) { skip_variant(0); }
TEST(CompactionRules, SkipHintNotSetWithNoSetSkipHint) { skip_variant(1); }
TEST(CompactionRules, SkipHintNotSetWithIgnoreSkipHint) { skip_variant(2); }

// A direct compaction whose scanners met flags the hints stale; the next
// compaction clears them all first. kswapd balancing for order > 0 does the
// same, and wakes kcompactd for that order.
TEST(CompactionRules, SkipHintsClearedAfterACompletedPassAndAfterKswapd) {
  machine m;
  m.fragment();
  const unsigned long hinted = m.block(m.nr_blocks() / 2);
  set_pfnblock_flags_mask(m.z, hinted, 1ul << PB_migrate_skip, 1ul << PB_migrate_skip);
  // No UNMOVABLE pageblock: async direct compaction for UNMOVABLE finds no
  // source at all, and its scanners meet.
  compact_control cc = m.cc(9, MIGRATE_ASYNC, MIGRATE_UNMOVABLE);
  cc.direct_compaction = true;
  EXPECT_EQ(compact_zone(&cc), COMPACT_COMPLETE);
  EXPECT_TRUE(m.z->compact_blockskip_flush);
  EXPECT_TRUE(skip_bit(m.z, hinted));
  compact_control c2 = m.cc(9, MIGRATE_ASYNC, MIGRATE_UNMOVABLE);
  c2.direct_compaction = true;
  compact_zone(&c2);
  EXPECT_FALSE(skip_bit(m.z, hinted));
  EXPECT_TRUE(m.z->compact_blockskip_flush);  // it met again
  m.z->compact_blockskip_flush = false;

  // kswapd for an order-1 wake it cannot balance (no shrinker frees).
  set_pfnblock_flags_mask(m.z, hinted, 1ul << PB_migrate_skip, 1ul << PB_migrate_skip);
  pglist_data *pgdat = m.ms->node_data[0];
  kswapd_run(*m.ms);  // the wake-ups of the machine's filling first
  pgdat->kcompactd_wanted = 0;
  m.z->compact_blockskip_flush = false;
  wakeup_kswapd(m.z, GFP_KERNEL, 1, ZONE_DMA32);
  ASSERT_TRUE(pgdat->kswapd_wanted);
  EXPECT_EQ(pgdat->kcompactd_wanted, 0);
  kswapd_run(*m.ms);
  EXPECT_TRUE(m.z->compact_blockskip_flush);
  EXPECT_EQ(pgdat->kcompactd_wanted, 1);
  EXPECT_EQ(pgdat->kcompactd_max_order, 1);
  EXPECT_EQ(pgdat->kcompactd_highest_zoneidx, ZONE_DMA32);
  compact_control c4 = m.cc(9, MIGRATE_ASYNC, MIGRATE_UNMOVABLE);
  compact_zone(&c4);
  EXPECT_FALSE(skip_bit(m.z, hinted));
  // kswapd woken for order 0: nothing flagged, no kcompactd.
  pgdat->kcompactd_wanted = 0;
  m.z->compact_blockskip_flush = false;
  wakeup_kswapd(m.z, GFP_KERNEL, 0, ZONE_DMA32);
  {
    min_free_kbytes_scope high(*m.ms, int(free_pages(m.z) * 2 * (PAGE_SIZE >> 10)));
    wakeup_kswapd(m.z, GFP_KERNEL, 0, ZONE_DMA32);
    kswapd_run(*m.ms);
  }
  EXPECT_FALSE(m.z->compact_blockskip_flush);
  EXPECT_EQ(pgdat->kcompactd_wanted, 0);
  // A compaction that is no allocation's (kcompactd, compact_memory) whose
  // scanners met does not flag them.
  compact_control c3 = m.cc(-1, MIGRATE_SYNC);
  c3.whole_zone = true;
  EXPECT_EQ(compact_zone(&c3), COMPACT_COMPLETE);
  EXPECT_FALSE(m.z->compact_blockskip_flush);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// Resetting the skip hints takes the flag down with them (Linux's
// __reset_isolation_suitable): the hints a pass sets after a reset hold
// until something flags them stale again, so one reset per stale mark, not
// one per compaction.
TEST(CompactionRules, SkipHintResetClearsTheFlush) {
  machine m;
  m.fragment();
  const unsigned long hinted = m.block(m.nr_blocks() / 2);
  // A direct compaction whose scanners meet flags the hints stale.
  compact_control c1 = m.cc(9, MIGRATE_ASYNC, MIGRATE_UNMOVABLE);
  c1.direct_compaction = true;
  ASSERT_EQ(compact_zone(&c1), COMPACT_COMPLETE);
  ASSERT_TRUE(m.z->compact_blockskip_flush);
  set_pfnblock_flags_mask(m.z, hinted, 1ul << PB_migrate_skip, 1ul << PB_migrate_skip);
  // The next compaction (no allocation's: it never flags on its own) resets
  // them, and with them the flag.
  compact_control c2 = m.cc(9, MIGRATE_ASYNC, MIGRATE_UNMOVABLE);
  compact_zone(&c2);
  EXPECT_FALSE(skip_bit(m.z, hinted));
  EXPECT_FALSE(m.z->compact_blockskip_flush);
  // A hint set after that reset is passed by, not reset, by the compaction
  // after it.
  set_pfnblock_flags_mask(m.z, hinted, 1ul << PB_migrate_skip, 1ul << PB_migrate_skip);
  compact_control c3 = m.cc(9, MIGRATE_ASYNC, MIGRATE_UNMOVABLE);
  compact_zone(&c3);
  EXPECT_TRUE(skip_bit(m.z, hinted));
  EXPECT_FALSE(m.z->compact_blockskip_flush);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// A compaction not over the whole zone goes on from the cached positions;
// whole_zone starts from the zone's ends.
TEST(CompactionRules, CachedPositionsAndWholeZone) {
  for (bool whole : {false, true}) {
    machine m;
    m.fragment();
    const unsigned b = m.first_clean_block();
    const unsigned long cached = m.block(b + 4);
    ASSERT_EQ(m.owned_in(m.block(b), m.block(b + 1)), pageblock_nr_pages / 2);
    m.z->compact_cached_migrate_pfn = cached;
    m.z->compact_cached_free_pfn = 0;  // never set: only this one goes back to the zone's end
    compact_control cc = m.cc(9, MIGRATE_SYNC_LIGHT);
    cc.direct_compaction = true;
    cc.whole_zone = whole;
    cc.ignore_skip_hint = true;
    EXPECT_EQ(compact_zone(&cc), COMPACT_SUCCESS);
    ASSERT_FALSE(m.owner->moved.empty());
    const unsigned long lowest = m.owner->moved.begin()->first;
    if (whole) {
      EXPECT_EQ(pageblock_start_pfn(lowest), m.block(b));
      EXPECT_EQ(m.z->compact_cached_migrate_pfn, cached);  // only ever moves up
    } else {
      EXPECT_GE(lowest, cached);
      EXPECT_EQ(m.z->compact_cached_migrate_pfn, cc.migrate_pfn);
      EXPECT_GT(cc.migrate_pfn, cached);
    }
    m.release_all();
    EXPECT_EQ(m.check(), "");
  }
}

// ---- deferral -----------------------------------------------------------------------------

TEST(CompactionRules, DeferralCountsExactly) {
  machine m;
  zone *z = m.z;
  EXPECT_EQ(z->compact_order_failed, int(MAX_PAGE_ORDER) + 1);
  EXPECT_FALSE(compaction_deferred(z, 5));
  for (unsigned defers = 1; defers <= 8; defers++) {
    defer_compaction(z, 5);
    const unsigned shift = defers < 6 ? defers : 6;
    EXPECT_EQ(z->compact_defer_shift, shift);
    EXPECT_EQ(z->compact_order_failed, 5);
    EXPECT_EQ(z->compact_considered, 0u);
    // Below the failed order: never deferred, nothing counted.
    EXPECT_FALSE(compaction_deferred(z, 4));
    EXPECT_EQ(z->compact_considered, 0u);
    for (unsigned i = 1; i < (1u << shift); i++) EXPECT_TRUE(compaction_deferred(z, 5)) << defers << " " << i;
    EXPECT_FALSE(compaction_deferred(z, 6));
    EXPECT_EQ(z->compact_considered, 1u << shift);
    EXPECT_FALSE(compaction_deferred(z, 5));
  }
  defer_compaction(z, 7);  // a higher order keeps the lowest failed one
  EXPECT_EQ(z->compact_order_failed, 5);
  compaction_defer_reset(z, 5, false);
  EXPECT_EQ(z->compact_order_failed, 6);
  EXPECT_EQ(z->compact_defer_shift, 6u);
  compaction_defer_reset(z, 3, false);
  EXPECT_EQ(z->compact_order_failed, 6);
  compaction_defer_reset(z, 6, true);
  EXPECT_EQ(z->compact_order_failed, 7);
  EXPECT_EQ(z->compact_defer_shift, 0u);
  EXPECT_EQ(z->compact_considered, 0u);
}

// try_to_compact_pages: a deferred zone is passed by (COMPACT_DEFERRED)
// unless at MIN_COMPACT_PRIORITY; a sync pass that found nothing defers,
// an async one does not; success resets the failed order.
TEST(CompactionRules, TryToCompactPagesDeferral) {
  machine m;
  m.fragment();
  alloc_context ac = m.ac(MIGRATE_MOVABLE);
  for (page *p : m.owner->pages) m.owner->refuse.insert(m.owner->pfn(p));
  const unsigned long free = free_pages(m.z);
  EXPECT_EQ(try_to_compact_pages(*m.ms, GFP_KERNEL, 9, ALLOC_WMARK_MIN, ac, COMPACT_PRIO_ASYNC), COMPACT_COMPLETE);
  // Nothing moved: the targets the refused migrations gave back went back.
  drain_all_pages(*m.ms);
  EXPECT_EQ(free_pages(m.z), free);
  EXPECT_EQ(m.owner->moved.size(), 0u);
  EXPECT_EQ(m.z->compact_defer_shift, 0u);
  EXPECT_EQ(m.z->compact_order_failed, int(MAX_PAGE_ORDER) + 1);
  EXPECT_EQ(try_to_compact_pages(*m.ms, GFP_KERNEL, 9, ALLOC_WMARK_MIN, ac, COMPACT_PRIO_SYNC_LIGHT), COMPACT_COMPLETE);
  EXPECT_EQ(m.z->compact_defer_shift, 1u);
  EXPECT_EQ(m.z->compact_order_failed, 9);
  const unsigned long scanned = vm_event(*m.ms, COMPACTMIGRATE_SCANNED);
  EXPECT_EQ(try_to_compact_pages(*m.ms, GFP_KERNEL, 9, ALLOC_WMARK_MIN, ac, COMPACT_PRIO_SYNC_LIGHT), COMPACT_DEFERRED);
  EXPECT_EQ(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);
  EXPECT_EQ(m.z->compact_considered, 1u);
  EXPECT_EQ(try_to_compact_pages(*m.ms, GFP_KERNEL, 0, ALLOC_WMARK_MIN, ac, MIN_COMPACT_PRIORITY), COMPACT_SKIPPED);
  m.owner->refuse.clear();
  defer_compaction(m.z, 9);  // shift 2: deferred for the next 3 considerations
  EXPECT_EQ(try_to_compact_pages(*m.ms, GFP_KERNEL, 9, ALLOC_WMARK_MIN, ac, MIN_COMPACT_PRIORITY), COMPACT_SUCCESS);
  EXPECT_GT(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);
  EXPECT_EQ(m.z->compact_order_failed, 10);
  EXPECT_EQ(m.z->compact_defer_shift, 2u);  // only an allocation's success resets the shift
  EXPECT_EQ(m.z->compact_considered, 0u);   // MIN_COMPACT_PRIORITY does not even ask
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// ---- contiguous allocations ---------------------------------------------------------------

// A range may end at its zone's last page: where the next zone begins at
// once, and at the end of memory (whose last pageblock holds the boot
// allocations here: busy, but a valid range).
TEST(CompactionRules, AllocContigRangeUpToTheZonesEnd) {
  slabt::cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_three_zones(f), 0);
  mem_system &ms = *f.ms;
  for (int idx : {ZONE_DMA, ZONE_DMA32}) {
    const unsigned long end = zone_end_pfn(&ms.node_data[0]->node_zones[idx]);
    ASSERT_NE(pfn_to_page(ms, end), nullptr) << "the next zone begins at once";
    EXPECT_EQ(alloc_contig_range(ms, end - 4, end, GFP_KERNEL), 0) << idx;
    for (unsigned long pfn = end - 4; pfn < end; pfn++) EXPECT_EQ(page_ref_count(pfn_to_page(ms, pfn)), 1) << pfn;
    EXPECT_EQ(free_contig_range(ms, end - 4, 4), 0ul);
  }
  const unsigned long end = zone_end_pfn(&ms.node_data[0]->node_zones[ZONE_NORMAL]);
  ASSERT_EQ(pfn_to_page(ms, end), nullptr) << "the end of memory";
  const int err = alloc_contig_range(ms, end - 4, end, GFP_KERNEL);
  EXPECT_NE(err, -EINVAL);
  if (err == 0) {
    EXPECT_EQ(free_contig_range(ms, end - 4, 4), 0ul);
  }
  EXPECT_EQ(f.check(), "");
}

// alloc_contig_range migrates a page of the range that will not move yet
// again, a few rounds: if it moves on the last attempt it makes, the range
// is free then and is taken; if it never does, -EBUSY and nothing taken.
TEST(CompactionRules, AllocContigRangeSucceedsOnItsLastMigrationAttempt) {
  machine m;
  const unsigned long s = m.block(5), e = s + 16, pfn = s + 3;
  ASSERT_EQ(alloc_contig_range(*m.ms, pfn, pfn + 1, GFP_KERNEL), 0);
  page *q = m.pg(pfn);
  m.owner->adopt(q);
  m.owner->refuse_times[pfn] = ~0ul;
  unsigned long calls = m.owner->migrate_calls;
  EXPECT_EQ(alloc_contig_range(*m.ms, s, e, GFP_KERNEL), -EBUSY);
  const unsigned long attempts = m.owner->migrate_calls - calls;
  EXPECT_GT(attempts, 1ul) << "a page that will not move yet is tried again";
  EXPECT_TRUE(m.owner->pages.count(q) && PageMovable(q) && !PageIsolated(q));
  EXPECT_EQ(page_ref_count(q), 1);
  EXPECT_EQ(type_of(m.z, s), MIGRATE_MOVABLE);
  EXPECT_EQ(m.check(), "");
  m.owner->refuse_times[pfn] = attempts - 1;
  calls = m.owner->migrate_calls;
  EXPECT_EQ(alloc_contig_range(*m.ms, s, e, GFP_KERNEL), 0);
  EXPECT_EQ(m.owner->migrate_calls - calls, attempts);
  EXPECT_EQ(m.owner->moved.count(pfn), 1u);
  for (unsigned long i = s; i < e; i++) EXPECT_EQ(page_ref_count(m.pg(i)), 1) << i;
  EXPECT_EQ(m.check(), "");
  EXPECT_EQ(free_contig_range(*m.ms, s, e - s), 0ul);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// alloc_contig_pages takes the first range (from the zone's start, at
// multiples of the size) that can be had: a page in use just past a range
// does not stand in its way, and a zone's last range counts too (DMA32's
// here, whose end is not memory's: the boot allocations lie at the top).
TEST(CompactionRules, AllocContigPagesTakesTheFirstRangeThatCanBeHad) {
  slabt::cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_three_zones(f), 0);
  mem_system &ms = *f.ms;
  const zone *z = &ms.node_data[0]->node_zones[ZONE_DMA32];
  const gfp_t gfp = GFP_KERNEL | __GFP_DMA32;
  const unsigned long nr = pageblock_nr_pages;
  page *p = alloc_contig_pages(ms, nr, gfp, 0);
  ASSERT_NE(p, nullptr);
  const unsigned long first = page_to_pfn(ms, p);
  EXPECT_EQ(first, z->zone_start_pfn) << "a fresh zone's first pageblock";
  EXPECT_EQ(free_contig_range(ms, first, nr), 0ul);
  std::vector<unsigned long> pins = {first + nr};
  ASSERT_EQ(alloc_contig_range(ms, first + nr, first + nr + 1, GFP_KERNEL), 0);
  p = alloc_contig_pages(ms, nr, gfp, 0);
  EXPECT_EQ(p, pfn_to_page(ms, first));
  if (p) {
    EXPECT_EQ(free_contig_range(ms, page_to_pfn(ms, p), nr), 0ul);
  }
  // A page in use, not movable, in every pageblock of the zone but the last.
  const unsigned long last = pageblock_start_pfn(zone_end_pfn(z) - 1);
  for (unsigned long b = z->zone_start_pfn; b < last; b += nr) {
    if (b == first + nr) continue;
    ASSERT_EQ(alloc_contig_range(ms, b + 7, b + 8, GFP_KERNEL), 0) << b;
    pins.push_back(b + 7);
  }
  p = alloc_contig_pages(ms, nr, gfp, 0);
  EXPECT_EQ(p, pfn_to_page(ms, last));
  if (p) {
    EXPECT_EQ(free_contig_range(ms, page_to_pfn(ms, p), nr), 0ul);
  }
  for (unsigned long pin : pins) EXPECT_EQ(free_contig_range(ms, pin, 1), 0ul);
  EXPECT_EQ(f.check(), "");
}

// The zones are tried in the zonelist's order, each from its own first
// page: a GFP_KERNEL request's single page is Normal's first, a DMA32
// request's DMA32's first.
TEST(CompactionRules, AllocContigPagesStartsAtTheHighestZonesStart) {
  slabt::cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_three_zones(f), 0);
  mem_system &ms = *f.ms;
  for (auto [gfp, idx] : {std::pair{GFP_KERNEL, ZONE_NORMAL}, std::pair{GFP_KERNEL | __GFP_DMA32, ZONE_DMA32}}) {
    const zone *z = &ms.node_data[0]->node_zones[idx];
    page *p = alloc_contig_pages(ms, 1, gfp, 0);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(page_zonenum(p), idx);
    EXPECT_EQ(page_to_pfn(ms, p), z->zone_start_pfn) << idx;
    EXPECT_EQ(free_contig_range(ms, page_to_pfn(ms, p), 1), 0ul);
  }
  EXPECT_EQ(f.check(), "");
}

// A range with a reserved page or a page in use that cannot move is not
// even tried (trying isolates its pageblocks, which drains every CPU's
// lists): when every range has one, alloc_contig_pages fails and the pages
// parked on the per-CPU lists stay there.
TEST(CompactionRules, AllocContigPagesTriesNoRangeWithAPageThatCannotMove) {
  slabt::cpu_reset reset;
  mm_fixture f;
  const phys_addr_t base = 0x80000000ul;
  const unsigned long nr = pageblock_nr_pages;
  // Reserved ("firmware") pages open pageblock 8; the rest of it is free.
  ASSERT_EQ(f.build({{base, 64 * SZ_1M, 0}}, layout_with_limits(0, PFN_4G, PFN_MAX, 1),
                    {{base + 8 * (nr << PAGE_SHIFT), 16 * PAGE_SIZE}}),
            0);
  mem_system &ms = *f.ms;
  const zone *z = first_managed_zone(ms);
  const unsigned long reserved_block = (base >> PAGE_SHIFT) + 8 * nr;
  ASSERT_TRUE(PageReserved(pfn_to_page(ms, reserved_block)));
  ASSERT_FALSE(PageReserved(pfn_to_page(ms, reserved_block + 16)));
  std::vector<unsigned long> pins;
  for (unsigned long b = z->zone_start_pfn; b < zone_end_pfn(z); b += nr) {
    if (b == reserved_block) continue;
    // (-EBUSY: the pageblock holds boot allocations already.)
    const int err = alloc_contig_range(ms, b + 100, b + 101, GFP_KERNEL);
    ASSERT_TRUE(err == 0 || err == -EBUSY) << b;
    if (!err) pins.push_back(b + 100);
  }
  ASSERT_GT(pins.size(), 1u);
  page *q = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(q, nullptr);
  __free_pages(ms, q, 0);
  const unsigned long parked = nr_free_pcp_pages(ms);
  ASSERT_GT(parked, 0ul);
  EXPECT_EQ(alloc_contig_pages(ms, nr, GFP_KERNEL | __GFP_NOWARN, 0), nullptr);
  EXPECT_EQ(nr_free_pcp_pages(ms), parked) << "a range was tried";
  for (unsigned long pin : pins) EXPECT_EQ(free_contig_range(ms, pin, 1), 0ul);
  EXPECT_EQ(f.check(), "");
}

// A page that another party isolated for migration counts as movable: it
// will be movable or free again soon. Here its owner let go of it, and the
// other party puts it back (freeing it) while alloc_contig_range migrates
// the range's other page: the range is had.
TEST(CompactionRules, AllocContigPagesCountsAnIsolatedPageAsMovable) {
  machine m;
  const unsigned long nr = 16;
  page *p = alloc_contig_pages(*m.ms, nr, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  const unsigned long first = page_to_pfn(*m.ms, p);
  EXPECT_EQ(free_contig_range(*m.ms, first, nr), 0ul);
  for (unsigned long pfn : {first + 3, first + 5}) {
    ASSERT_EQ(alloc_contig_range(*m.ms, pfn, pfn + 1, GFP_KERNEL), 0);
    m.owner->adopt(m.pg(pfn));
  }
  page *a = m.pg(first + 3);
  ASSERT_TRUE(isolate_movable_page(*m.ms, a, MIGRATE_SYNC));
  m.owner->release(a);
  ASSERT_TRUE(PageIsolated(a) && !PageMovable(a));
  ASSERT_EQ(page_ref_count(a), 1);
  bool put_back = false;
  m.owner->on_migrate = [&] {
    if (put_back) return;
    put_back = true;
    list_head l;
    INIT_LIST_HEAD(&l);
    list_add(&a->lru, &l);
    putback_movable_pages(*m.ms, &l);
  };
  p = alloc_contig_pages(*m.ms, nr, GFP_KERNEL | __GFP_NOWARN, 0);
  m.owner->on_migrate = nullptr;
  EXPECT_TRUE(put_back);
  EXPECT_EQ(p, m.pg(first));
  if (p) {
    EXPECT_EQ(free_contig_range(*m.ms, page_to_pfn(*m.ms, p), nr), 0ul);
  }
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// NUMA_NO_NODE means the running CPU's node, read through its per-CPU slot
// as everywhere (kernel/cpumask.h: per-CPU indexes are masked with
// NR_CPUS - 1): the node the page allocator prefers for that CPU too.
TEST(CompactionRules, ContiguousAllocationLocalNodeIsThePageAllocators) {
  slabt::cpu_reset reset;
  mm_fixture f;
  mem_layout l = layout_with_limits(0, PFN_4G, PFN_MAX, 2);
  l.cpu_to_node[0] = 0;
  l.cpu_to_node[1] = 1;
  ASSERT_EQ(f.build({{SZ_4G - 16 * SZ_1M, 32 * SZ_1M, 0}, {SZ_4G + 16 * SZ_1M, 32 * SZ_1M, 1}}, l), 0);
  mem_system &ms = *f.ms;
  for (unsigned cpu : {0u, 1u, NR_CPUS, NR_CPUS + 1}) {
    host_set_cpu(cpu);
    page *q = alloc_pages(ms, GFP_KERNEL, 0);
    page *p = alloc_contig_pages(ms, 16, GFP_KERNEL, NUMA_NO_NODE);
    ASSERT_NE(q, nullptr);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(page_to_nid(p), ms.cpu_to_node[cpu & (NR_CPUS - 1)]) << cpu;
    EXPECT_EQ(page_to_nid(p), page_to_nid(q)) << cpu;
    __free_pages(ms, q, 0);
    EXPECT_EQ(free_contig_range(ms, page_to_pfn(ms, p), 16), 0ul);
  }
  host_set_cpu(0);
  EXPECT_EQ(f.check(), "");
}

}  // namespace

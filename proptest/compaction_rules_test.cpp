// Compaction's rules one at a time, each with the exact value Linux's rule
// gives (mm/compaction.h, mm/migrate.h, mm/page_isolation.h, the slow path
// and kswapd/kcompactd). Deterministic: one machine (64 MiB, one zone, one
// CPU), a test owner of movable pages that records every isolation and
// migration, and a "fragmented" state built the same way every time: every
// page of the zone held by the owner, then every odd pfn freed, so the
// zone's free memory is all order-0 blocks between movable pages.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "kernel/errno.h"
#include "mm/compaction.h"
#include "mm/page_alloc_internal.h"
#include "mm/page_isolation.h"
#include "mm/page_report.h"
#include "mm/vmscan.h"
#include "proptest/mm_fixture.h"
#include "proptest/slab_fixture.h"
#include "proptest/vmalloc_fixture.h"

namespace {

// ---- a test owner of movable pages ---------------------------------------------------

struct test_owner;
test_owner *g_owner;  // the ops' callbacks have no context of their own

bool owner_isolate(page *p, migrate_mode);
int owner_migrate(page *dst, page *src, migrate_mode);
void owner_putback(page *p);

// Holds movable order-0 pages with one reference each; migrate_page moves
// the page's identity (index) to dst. What it saw is recorded.
struct test_owner {
  movable_operations ops = {owner_isolate, owner_migrate, owner_putback};
  mem_system *ms = nullptr;
  std::set<page *> pages;
  std::map<unsigned long, unsigned long> moved;  // source pfn -> target pfn
  std::set<unsigned long> refuse;                 // source pfns whose migrate_page says -EAGAIN
  unsigned long isolations = 0, putbacks = 0, migrate_calls = 0, isolate_calls = 0;

  explicit test_owner(mem_system &m) : ms(&m) {
    g_owner = this;
    EXPECT_EQ(register_movable_ops(m, &ops), 0);
  }
  ~test_owner() {
    unregister_movable_ops(*ms, &ops);
    if (g_owner == this) g_owner = nullptr;
  }
  unsigned long pfn(const page *p) const { return page_to_pfn(*ms, p); }
  // A new movable page, or nullptr when the allocator says no.
  page *alloc() {
    page *p = alloc_pages(*ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_NOWARN | __GFP_NORETRY, 0);
    if (p) adopt(p);
    return p;
  }
  void adopt(page *p) {
    p->index = pfn(p);
    __SetPageMovable(p, &ops);
    pages.insert(p);
  }
  // As an owner frees: not movable any more, then its reference goes.
  void release(page *p) {
    __ClearPageMovable(p);
    pages.erase(p);
    __free_pages(*ms, p, 0);
  }
};

bool owner_isolate(page *p, migrate_mode) {
  g_owner->isolate_calls++;
  if (!PageMovable(p) || PageIsolated(p)) return false;
  get_page(p);
  set_page_flag(p, PG_isolated);
  g_owner->isolations++;
  return true;
}

int owner_migrate(page *dst, page *src, migrate_mode) {
  test_owner &o = *g_owner;
  o.migrate_calls++;
  if (!PageMovable(src) || o.refuse.count(o.pfn(src))) return -EAGAIN;
  dst->index = src->index;
  __SetPageMovable(dst, &o.ops);
  __ClearPageMovable(src);
  clear_page_flag(src, PG_isolated);
  o.pages.erase(src);
  o.pages.insert(dst);
  o.moved[o.pfn(src)] = o.pfn(dst);
  return 0;
}

void owner_putback(page *p) {
  clear_page_flag(p, PG_isolated);
  g_owner->putbacks++;
}

// ---- the machine ----------------------------------------------------------------------

unsigned long free_pages(const zone *z) { return (unsigned long)zone_page_state(z, NR_FREE_PAGES); }
int type_of(const zone *z, unsigned long pfn) { return get_pfnblock_migratetype(z, pfn); }
bool skip_bit(const zone *z, unsigned long pfn) {
  return get_pfnblock_flags_mask(z, pfn, 1ul << PB_migrate_skip) != 0;
}
// Gives pfn's pageblock the type mt, its free blocks moving along.
void set_type(zone *z, unsigned long pfn, int mt) {
  spin_lock_irqsave_guard g(z->lock);
  move_freepages_block(z, pfn, get_pfnblock_migratetype(z, pfn), mt);
}

struct machine {
  slabt::cpu_reset reset;
  mm_fixture f;
  mem_system *ms = nullptr;
  zone *z = nullptr;
  std::unique_ptr<test_owner> owner;
  std::vector<std::pair<page *, unsigned>> pins;  // unmovable blocks the test holds

  machine() {
    EXPECT_EQ(build_single_zone(f, 64 * SZ_1M, 1), 0);
    ms = f.ms.get();
    z = &ms->node_data[0]->node_zones[ZONE_DMA32];
    owner = std::make_unique<test_owner>(*ms);
  }
  ~machine() {
    owner.reset();
    g_owner = nullptr;
  }
  unsigned long start() const { return z->zone_start_pfn; }
  unsigned long block(unsigned i) const { return z->zone_start_pfn + i * pageblock_nr_pages; }
  unsigned nr_blocks() const { return unsigned(z->spanned_pages >> pageblock_order); }
  page *pg(unsigned long pfn) const { return pfn_to_page(*ms, pfn); }
  // The checker's report, cut short (a broken rule can make it long).
  std::string check() const { return f.check().substr(0, 600); }

  // Every page of the zone to the owner, every odd pfn back: the free
  // memory is order-0 blocks only (what the allocator could not hand out
  // below its min watermark is pinned, unmovable, at order 1 or more).
  void fragment() {
    while (owner->alloc()) {
    }
    std::vector<page *> odd;
    for (page *p : owner->pages)
      if (owner->pfn(p) & 1) odd.push_back(p);
    for (page *p : odd) owner->release(p);
    drain_all_pages(*ms);
    pin_blocks_above(0);
  }
  // Takes every free block of order > k as unmovable pins (the buddy lists
  // only: no per-CPU list refill takes more than asked).
  void pin_blocks_above(unsigned k) {
    ms->pcp_disabled = true;
    for (unsigned o = MAX_PAGE_ORDER; o > k; o--)
      while (z->free_area[o].nr_free) {
        page *p = alloc_pages(*ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_NOWARN | __GFP_NORETRY, o);
        if (!p) break;
        pins.push_back({p, o});
      }
    ms->pcp_disabled = false;
  }
  // The owner's pages in [lo, hi).
  unsigned long owned_in(unsigned long lo, unsigned long hi) const {
    unsigned long n = 0;
    for (page *p : owner->pages) n += owner->pfn(p) >= lo && owner->pfn(p) < hi;
    return n;
  }
  bool clean(unsigned b) const {
    for (unsigned long pfn = block(b); pfn < block(b) + pageblock_nr_pages; pfn++) {
      const page *p = pfn_to_page(*ms, pfn);
      if (PageBuddy(p)) pfn += (1ul << p->private_) - 1;
      else if (!owner->pages.count(const_cast<page *>(p))) return false;
    }
    return type_of(z, block(b)) == MIGRATE_MOVABLE;
  }
  // The first pageblock wholly of owner pages and free pages (no pin, no
  // reserved page): compaction for an order-9 block can empty it.
  unsigned first_clean_block() const {
    for (unsigned b = 0; b < nr_blocks(); b++) {
      bool clean = true;
      for (unsigned long pfn = block(b); pfn < block(b) + pageblock_nr_pages && clean; pfn++) {
        const page *p = pfn_to_page(*ms, pfn);
        clean = PageBuddy(p) || owner->pages.count(const_cast<page *>(p));
        if (PageBuddy(p)) pfn += (1ul << p->private_) - 1;
      }
      if (clean) return b;
    }
    return ~0u;
  }
  compact_control cc(int order, migrate_mode mode, int mt = MIGRATE_MOVABLE) {
    compact_control c = {};
    c.ms = ms;
    c.z = z;
    c.order = order;
    c.mode = mode;
    c.migratetype = mt;
    c.gfp_mask = GFP_KERNEL;
    c.alloc_flags = ALLOC_WMARK_MIN;
    c.highest_zoneidx = ZONE_DMA32;
    return c;
  }
  void unpin() {
    for (auto [p, o] : pins) __free_pages(*ms, p, o);
    pins.clear();
  }
  // Every owner page back, every pin freed: the checker sees the start again.
  void release_all() {
    std::vector<page *> all(owner->pages.begin(), owner->pages.end());
    for (page *p : all) owner->release(p);
    unpin();
    drain_all_pages(*ms);
  }
  alloc_context ac(int mt) { return alloc_context{ms->node_data[0], ZONE_DMA32, false, mt}; }
};

// A shrinker that frees nothing and records when it was asked.
struct recording_shrinker {
  shrinker s = {};
  mem_system *ms;
  std::vector<unsigned long> stalls_at_call;  // COMPACTSTALL when each scan came
  static unsigned long count(shrinker *, shrink_control *) { return 1000; }
  static unsigned long scan(shrinker *s, shrink_control *) {
    auto *r = static_cast<recording_shrinker *>(s->private_data);
    r->stalls_at_call.push_back(vm_event(*r->ms, COMPACTSTALL));
    return 0;
  }
  explicit recording_shrinker(mem_system &m) : ms(&m) {
    s.count_objects = count;
    s.scan_objects = scan;
    s.private_data = this;
    register_shrinker(m, &s);
  }
  ~recording_shrinker() { unregister_shrinker(*ms, &s); }
};

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
  compact_control cc = m.cc(-1, MIGRATE_SYNC);
  cc.ignore_skip_hint = true;
  cc.whole_zone = true;
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
  compact_control cc = m.cc(-1, MIGRATE_SYNC);
  cc.ignore_skip_hint = true;
  cc.whole_zone = true;
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
  compact_control cc = m.cc(-1, MIGRATE_SYNC);
  cc.ignore_skip_hint = true;
  cc.whole_zone = true;
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

// Make block b's owner pages unmovable pins (the migration scanner finds
// nothing there) and back.
std::vector<page *> pin_block(machine &m, unsigned b) {
  std::vector<page *> v;
  for (page *p : m.owner->pages)
    if (pageblock_start_pfn(m.owner->pfn(p)) == m.block(b)) v.push_back(p);
  for (page *p : v) {
    __ClearPageMovable(p);
    m.owner->pages.erase(p);
  }
  return v;
}
void unpin_block(machine &m, const std::vector<page *> &v) {
  for (page *p : v) m.owner->adopt(p);
}

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

// ---- the slow path -----------------------------------------------------------------------

// Lower half UNMOVABLE: async direct compaction for a GFP_KERNEL request
// has sources there and targets in the MOVABLE upper half.
void unmovable_lower_half(machine &m) {
  for (unsigned i = 0; i < m.nr_blocks() / 2; i++) set_type(m.z, m.block(i), MIGRATE_UNMOVABLE);
}

TEST(CompactionRules, CostlyKernelRequestCompactsBeforeAnyShrinker) {
  machine m;
  m.fragment();
  unmovable_lower_half(m);
  recording_shrinker rec(*m.ms);
  const unsigned long stall = vm_event(*m.ms, COMPACTSTALL), ok = vm_event(*m.ms, COMPACTSUCCESS),
                      fail = vm_event(*m.ms, COMPACTFAIL);
  page *p = alloc_pages(*m.ms, GFP_KERNEL, 4);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(rec.stalls_at_call.empty());
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL) - stall, 1ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSUCCESS) - ok, 1ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTFAIL), fail);
  EXPECT_FALSE(m.owner->moved.empty());
  for (auto [src, dst] : m.owner->moved) EXPECT_EQ(type_of(m.z, src), MIGRATE_UNMOVABLE);
  __free_pages(*m.ms, p, 4);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

TEST(CompactionRules, CostlyNoretryFailsWithoutReclaimWhenSkipped) {
  machine m;
  m.fragment();
  m.ms->extfrag_threshold = 1000;  // compaction_suitable says no
  recording_shrinker rec(*m.ms);
  const unsigned long stall = vm_event(*m.ms, COMPACTSTALL), fail = vm_event(*m.ms, COMPACTFAIL);
  EXPECT_EQ(alloc_pages(*m.ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_NORETRY | __GFP_NOWARN, 5), nullptr);
  EXPECT_TRUE(rec.stalls_at_call.empty());
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL), stall);  // skipped: nothing counted
  EXPECT_EQ(vm_event(*m.ms, COMPACTFAIL), fail);
  EXPECT_EQ(m.owner->isolations, 0ul);
  // Without __GFP_NORETRY it goes on to reclaim.
  EXPECT_EQ(alloc_pages(*m.ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_NOWARN, 5), nullptr);
  EXPECT_FALSE(rec.stalls_at_call.empty());
  m.ms->extfrag_threshold = 500;
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// Compaction that runs and fails: stall + fail.
TEST(CompactionRules, DirectCompactionThatFailsCountsStallAndFail) {
  machine m;
  m.fragment();
  for (page *p : m.owner->pages) m.owner->refuse.insert(m.owner->pfn(p));
  const unsigned long stall = vm_event(*m.ms, COMPACTSTALL), ok = vm_event(*m.ms, COMPACTSUCCESS),
                      fail = vm_event(*m.ms, COMPACTFAIL);
  EXPECT_EQ(alloc_pages(*m.ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_NORETRY | __GFP_NOWARN, 5), nullptr);
  // Async before reclaim (fails), then once more after it (fails): two stalls.
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL) - stall, 2ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTFAIL) - fail, 2ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSUCCESS), ok);
  m.owner->refuse.clear();
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

TEST(CompactionRules, Order1MovableCompactsOnlyAfterReclaim) {
  machine m;
  m.fragment();
  recording_shrinker rec(*m.ms);
  const unsigned long stall = vm_event(*m.ms, COMPACTSTALL), ok = vm_event(*m.ms, COMPACTSUCCESS);
  page *p = alloc_pages(*m.ms, GFP_KERNEL | __GFP_MOVABLE, 1);
  ASSERT_NE(p, nullptr);
  ASSERT_FALSE(rec.stalls_at_call.empty());
  EXPECT_EQ(rec.stalls_at_call.front(), stall);  // reclaim came first
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL) - stall, 1ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSUCCESS) - ok, 1ul);
  __free_pages(*m.ms, p, 1);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// No direct reclaim, no direct compaction: kswapd is woken for the order,
// and kswapd hands the order to kcompactd, which compacts.
TEST(CompactionRules, AtomicNeverCompactsButKcompactdDoes) {
  machine m;
  m.fragment();
  pglist_data *pgdat = m.ms->node_data[0];
  const unsigned long stall = vm_event(*m.ms, COMPACTSTALL), wake = vm_event(*m.ms, KCOMPACTD_WAKE);
  EXPECT_EQ(alloc_pages(*m.ms, GFP_ATOMIC | __GFP_NOWARN, 4), nullptr);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL), stall);
  EXPECT_EQ(m.owner->isolations, 0ul);
  EXPECT_TRUE(pgdat->kswapd_wanted);
  EXPECT_EQ(pgdat->kswapd_order, 4);
  kswapd_run(*m.ms);
  EXPECT_EQ(pgdat->kcompactd_wanted, 1);
  EXPECT_EQ(pgdat->kcompactd_max_order, 4);
  m.ms->compaction_proactiveness = 0;  // only the wake-up's work
  const unsigned long ms0 = vm_event(*m.ms, COMPACTMIGRATE_SCANNED), fs0 = vm_event(*m.ms, COMPACTFREE_SCANNED),
                      kms0 = vm_event(*m.ms, KCOMPACTD_MIGRATE_SCANNED), kfs0 = vm_event(*m.ms, KCOMPACTD_FREE_SCANNED);
  kcompactd_run_node(*m.ms, pgdat, 0);
  EXPECT_EQ(vm_event(*m.ms, KCOMPACTD_WAKE) - wake, 1ul);
  EXPECT_EQ(pgdat->kcompactd_wanted, 0);
  EXPECT_EQ(pgdat->kcompactd_max_order, 0);
  EXPECT_GT(vm_event(*m.ms, KCOMPACTD_MIGRATE_SCANNED), kms0);
  EXPECT_EQ(vm_event(*m.ms, KCOMPACTD_MIGRATE_SCANNED) - kms0, vm_event(*m.ms, COMPACTMIGRATE_SCANNED) - ms0);
  EXPECT_EQ(vm_event(*m.ms, KCOMPACTD_FREE_SCANNED) - kfs0, vm_event(*m.ms, COMPACTFREE_SCANNED) - fs0);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL), stall);
  page *p = alloc_pages(*m.ms, GFP_ATOMIC | __GFP_NOWARN, 4);
  EXPECT_NE(p, nullptr);
  if (p) __free_pages(*m.ms, p, 4);
  // Not wanted: a second run does no work.
  kcompactd_run_node(*m.ms, pgdat, 0);
  EXPECT_EQ(vm_event(*m.ms, KCOMPACTD_WAKE) - wake, 1ul);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// kcompactd's compaction defers like direct compaction's: a pass that
// found nothing defers the order, a deferred order is not compacted (the
// wake-up still counts), a success resets the failed order.
TEST(CompactionRules, KcompactdDefers) {
  machine m;
  m.fragment();
  pglist_data *pgdat = m.ms->node_data[0];
  m.ms->compaction_proactiveness = 0;
  for (page *p : m.owner->pages) m.owner->refuse.insert(m.owner->pfn(p));
  const unsigned long wake = vm_event(*m.ms, KCOMPACTD_WAKE);
  wakeup_kcompactd(pgdat, 9, ZONE_DMA32);
  kcompactd_run_node(*m.ms, pgdat, 0);
  EXPECT_EQ(m.z->compact_defer_shift, 1u);
  EXPECT_EQ(m.z->compact_order_failed, 9);
  const unsigned long scanned = vm_event(*m.ms, COMPACTMIGRATE_SCANNED);
  wakeup_kcompactd(pgdat, 9, ZONE_DMA32);
  kcompactd_run_node(*m.ms, pgdat, 0);
  EXPECT_EQ(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);  // deferred
  EXPECT_EQ(vm_event(*m.ms, KCOMPACTD_WAKE) - wake, 2ul);
  m.owner->refuse.clear();
  // The failed pass left every pageblock hinted (each one's last scan
  // isolated nothing); kswapd's balancing would flag them stale.
  m.z->compact_blockskip_flush = true;
  wakeup_kcompactd(pgdat, 9, ZONE_DMA32);  // the 2nd consideration: due again
  kcompactd_run_node(*m.ms, pgdat, 0);
  EXPECT_GT(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);
  EXPECT_EQ(m.z->compact_order_failed, 10);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// wakeup_kswapd on a node balanced for the order: kcompactd directly, for
// a caller that cannot compact itself only.
TEST(CompactionRules, BalancedWakeGoesToKcompactdForNonBlockingCallers) {
  machine m;
  pglist_data *pgdat = m.ms->node_data[0];
  wakeup_kswapd(m.z, GFP_KERNEL, 3, ZONE_DMA32);
  EXPECT_EQ(pgdat->kcompactd_wanted, 0);
  EXPECT_FALSE(pgdat->kswapd_wanted);
  wakeup_kswapd(m.z, GFP_ATOMIC, 3, ZONE_DMA32);
  EXPECT_EQ(pgdat->kcompactd_wanted, 1);
  EXPECT_EQ(pgdat->kcompactd_max_order, 3);
  EXPECT_FALSE(pgdat->kswapd_wanted);
  wakeup_kcompactd(pgdat, 2, ZONE_DMA32);  // a lower order keeps the higher
  EXPECT_EQ(pgdat->kcompactd_max_order, 3);
  pgdat->kcompactd_wanted = 0;
  wakeup_kcompactd(pgdat, 0, ZONE_DMA32);  // order 0 is no work of kcompactd's
  EXPECT_EQ(pgdat->kcompactd_wanted, 0);
}

// ---- proactive compaction ------------------------------------------------------------------

TEST(CompactionRules, ProactiveWatermarks) {
  machine m;
  EXPECT_EQ(m.ms->compaction_proactiveness, 20);
  const std::pair<int, std::pair<unsigned, unsigned>> cases[] = {
      {20, {80, 90}}, {100, {5, 15}}, {95, {5, 15}}, {91, {9, 19}}, {0, {100, 100}}, {1, {99, 100}}, {50, {50, 60}}};
  for (auto [p, want] : cases) {
    m.ms->compaction_proactiveness = p;
    EXPECT_EQ(fragmentation_score_wmark(*m.ms, true), want.first) << p;
    EXPECT_EQ(fragmentation_score_wmark(*m.ms, false), want.second) << p;
  }
}

// The zone's score is the unusable index at pageblock order in percent;
// the node's weighs each zone by present pages over node_present_pages + 1.
TEST(CompactionRules, FragmentationScores) {
  machine m;
  pglist_data *pgdat = m.ms->node_data[0];
  m.fragment();
  EXPECT_EQ(fragmentation_score_zone(m.z), 100u);  // no free pageblock at all
  EXPECT_EQ(fragmentation_score_node(pgdat), 100 * m.z->present_pages / (pgdat->node_present_pages + 1));
  EXPECT_EQ(fragmentation_score_node(pgdat), 99u);
  // One pageblock of owner pages freed: 512 of the free pages are usable.
  unsigned c = 0;
  while (!m.clean(c)) c++;
  std::vector<page *> v;
  for (page *p : m.owner->pages)
    if (pageblock_start_pfn(m.owner->pfn(p)) == m.block(c)) v.push_back(p);
  for (page *p : v) m.owner->release(p);
  drain_all_pages(*m.ms);
  const unsigned long free = free_pages(m.z);
  EXPECT_EQ(fragmentation_score_zone(m.z), (free - pageblock_nr_pages) * 100 / free);
  m.release_all();
}

TEST(CompactionRules, ProactiveCompactionDueEveryIntervalAndOffAtZero) {
  machine m;
  m.fragment();
  pglist_data *pgdat = m.ms->node_data[0];
  ASSERT_GT(fragmentation_score_node(pgdat), 90u);
  m.ms->compaction_proactiveness = 0;
  const unsigned long scanned = vm_event(*m.ms, COMPACTMIGRATE_SCANNED), wake = vm_event(*m.ms, KCOMPACTD_WAKE);
  kcompactd_run_node(*m.ms, pgdat, 1000);
  EXPECT_EQ(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);
  EXPECT_EQ(pgdat->proactive_next, 1000 + HPAGE_FRAG_CHECK_INTERVAL_MSEC);
  m.ms->compaction_proactiveness = 20;
  kcompactd_run_node(*m.ms, pgdat, 1499);
  EXPECT_EQ(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);
  EXPECT_EQ(pgdat->proactive_next, 1500ul);
  const unsigned long kms = vm_event(*m.ms, KCOMPACTD_MIGRATE_SCANNED);
  kcompactd_run_node(*m.ms, pgdat, 1500);
  EXPECT_GT(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);
  EXPECT_EQ(vm_event(*m.ms, KCOMPACTD_MIGRATE_SCANNED) - kms, vm_event(*m.ms, COMPACTMIGRATE_SCANNED) - scanned);
  EXPECT_EQ(vm_event(*m.ms, KCOMPACTD_WAKE), wake);  // proactive work is no wake-up
  EXPECT_EQ(pgdat->proactive_next, 2000ul);
  // It stopped once the zone's score was at the low mark or below, not
  // before (unless its scanners met).
  const unsigned score = fragmentation_score_zone(m.z);
  EXPECT_LE(score, 80u);
  EXPECT_GT(score, 60u);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// A node below the high mark is left alone.
TEST(CompactionRules, ProactiveCompactionNotBelowHighMark) {
  machine m;
  m.fragment();
  pglist_data *pgdat = m.ms->node_data[0];
  const unsigned score = fragmentation_score_node(pgdat);
  m.ms->compaction_proactiveness = 100 - int(score) + 10;  // high == score
  ASSERT_EQ(fragmentation_score_wmark(*m.ms, false), score);
  const unsigned long scanned = vm_event(*m.ms, COMPACTMIGRATE_SCANNED);
  kcompactd_run_node(*m.ms, pgdat, 0);
  EXPECT_EQ(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);
  m.ms->compaction_proactiveness = 100 - int(score) + 11;  // high == score - 1
  kcompactd_run_node(*m.ms, pgdat, HPAGE_FRAG_CHECK_INTERVAL_MSEC);
  EXPECT_GT(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);
  m.release_all();
}

// ---- migration --------------------------------------------------------------------------

page *new_page_any(page *, void *priv) { return alloc_pages(*static_cast<mem_system *>(priv), GFP_KERNEL | __GFP_MOVABLE, 0); }
page *new_page_none(page *, void *) { return nullptr; }
void put_page_back(page *p, void *priv) { __free_pages(*static_cast<mem_system *>(priv), p, 0); }

TEST(CompactionRules, MigratePagesReturnsTheNumberNotMigrated) {
  machine m;
  page *a = m.owner->alloc(), *b = m.owner->alloc(), *c = m.owner->alloc();
  ASSERT_TRUE(a && b && c);
  list_head l;
  INIT_LIST_HEAD(&l);
  for (page *p : {a, b, c}) {
    ASSERT_TRUE(isolate_movable_page(*m.ms, p, MIGRATE_SYNC));
    EXPECT_EQ(page_ref_count(p), 2);
    list_add_tail(&p->lru, &l);
  }
  m.owner->refuse.insert(m.owner->pfn(b));
  const unsigned long ok = vm_event(*m.ms, PGMIGRATE_SUCCESS), fail = vm_event(*m.ms, PGMIGRATE_FAIL);
  unsigned succeeded = 99;
  EXPECT_EQ(migrate_pages(*m.ms, &l, new_page_any, put_page_back, m.ms, MIGRATE_ASYNC, MR_COMPACTION, &succeeded), 1);
  EXPECT_EQ(succeeded, 2u);
  EXPECT_EQ(m.owner->migrate_calls, 2u + 3u);  // b tried in each of the 3 async passes
  EXPECT_EQ(vm_event(*m.ms, PGMIGRATE_SUCCESS) - ok, 2ul);
  EXPECT_EQ(vm_event(*m.ms, PGMIGRATE_FAIL) - fail, 1ul);
  // b stays on the list, isolated, with both references.
  ASSERT_EQ(l.next, &b->lru);
  ASSERT_EQ(b->lru.next, &l);
  EXPECT_TRUE(PageIsolated(b));
  EXPECT_EQ(page_ref_count(b), 2);
  // a and c went (c's target may be a's freed frame).
  EXPECT_EQ(m.owner->moved.size(), 2u);
  EXPECT_EQ(m.owner->moved.count(m.owner->pfn(a)) + m.owner->moved.count(m.owner->pfn(c)), 2u);
  EXPECT_EQ(m.owner->pages.size(), 3u);
  const unsigned long bad = m.ms->bad_pages;
  putback_movable_pages(*m.ms, &l);
  EXPECT_EQ(m.ms->bad_pages, bad);  // the isolator's reference is not the last
  EXPECT_TRUE(list_empty(&l));
  EXPECT_FALSE(PageIsolated(b));
  EXPECT_TRUE(PageMovable(b));
  EXPECT_EQ(page_ref_count(b), 1);
  EXPECT_EQ(m.owner->putbacks, 1u);
  EXPECT_EQ(m.check(), "");
  // No target at all: every page fails at once (-ENOMEM stops the passes).
  m.owner->refuse.clear();
  ASSERT_TRUE(isolate_movable_page(*m.ms, b, MIGRATE_SYNC));
  list_add_tail(&b->lru, &l);
  const unsigned long calls = m.owner->migrate_calls;
  EXPECT_EQ(migrate_pages(*m.ms, &l, new_page_none, put_page_back, m.ms, MIGRATE_SYNC, MR_COMPACTION, nullptr), 1);
  EXPECT_EQ(m.owner->migrate_calls, calls);
  putback_movable_pages(*m.ms, &l);
  // Freed by its owner while isolated: not handed to migrate_page, put
  // back and freed by the putback.
  ASSERT_TRUE(isolate_movable_page(*m.ms, b, MIGRATE_SYNC));
  list_add_tail(&b->lru, &l);
  m.owner->release(b);
  EXPECT_EQ(page_ref_count(b), 1);
  const unsigned long calls2 = m.owner->migrate_calls;
  EXPECT_EQ(migrate_pages(*m.ms, &l, new_page_any, put_page_back, m.ms, MIGRATE_SYNC, MR_COMPACTION, nullptr), 1);
  EXPECT_EQ(m.owner->migrate_calls, calls2);
  putback_movable_pages(*m.ms, &l);
  EXPECT_EQ(page_ref_count(b), 0);
  EXPECT_EQ(m.ms->bad_pages, bad);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

TEST(CompactionRules, IsolateMovablePageRefusals) {
  machine m;
  page *plain = alloc_pages(*m.ms, GFP_KERNEL, 0);
  EXPECT_FALSE(isolate_movable_page(*m.ms, plain, MIGRATE_SYNC));
  EXPECT_EQ(page_ref_count(plain), 1);
  page *p = m.owner->alloc();
  ASSERT_TRUE(isolate_movable_page(*m.ms, p, MIGRATE_SYNC));
  EXPECT_FALSE(isolate_movable_page(*m.ms, p, MIGRATE_SYNC));  // already isolated
  EXPECT_EQ(page_ref_count(p), 2);
  EXPECT_EQ(m.owner->isolations, 1u);
  list_head l;
  INIT_LIST_HEAD(&l);
  list_add(&p->lru, &l);
  putback_movable_pages(*m.ms, &l);
  // Movable, but its mapping is no registered owner: its ops never run.
  movable_operations stranger = m.owner->ops;
  __SetPageMovable(plain, &stranger);
  EXPECT_EQ(page_movable_ops(*m.ms, plain), nullptr);
  EXPECT_FALSE(isolate_movable_page(*m.ms, plain, MIGRATE_SYNC));
  EXPECT_EQ(m.owner->isolations, 1u);
  EXPECT_EQ(page_ref_count(plain), 1);
  __ClearPageMovable(plain);
  plain->mapping = nullptr;
  __free_pages(*m.ms, plain, 0);
  // The owner's page, no longer movable (mapping stays the owner's): its
  // isolate_page is not asked.
  page *q = m.owner->alloc();
  __ClearPageMovable(q);
  const unsigned long calls = m.owner->isolate_calls;
  EXPECT_FALSE(isolate_movable_page(*m.ms, q, MIGRATE_SYNC));
  EXPECT_EQ(m.owner->isolate_calls, calls);
  __SetPageMovable(q, &m.owner->ops);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

TEST(CompactionRules, RegisterMovableOpsFillsUpAndDedups) {
  machine m;  // the owner holds one slot
  std::vector<movable_operations> more(mem_system::MAX_MOVABLE_OPS);
  unsigned registered = 0;
  for (auto &o : more) {
    int err = register_movable_ops(*m.ms, &o);
    if (err) {
      EXPECT_EQ(err, -ENOSPC);
      break;
    }
    registered++;
  }
  EXPECT_EQ(registered, mem_system::MAX_MOVABLE_OPS - 1);
  EXPECT_EQ(register_movable_ops(*m.ms, &more[0]), 0);  // already there: no second slot needed
  EXPECT_EQ(register_movable_ops(*m.ms, &m.owner->ops), 0);
  unregister_movable_ops(*m.ms, &more[0]);
  EXPECT_EQ(register_movable_ops(*m.ms, &more.back()), 0);  // the freed slot
  EXPECT_EQ(register_movable_ops(*m.ms, &more[0]), -ENOSPC);
  for (auto &o : more) unregister_movable_ops(*m.ms, &o);
}

// Movable vmalloc: migration keeps the bytes and frees the old frame; a
// page its owner vfree()d after the isolation is not migrated but freed by
// the putback; the checker stays clean throughout.
TEST(CompactionRules, VmallocMigrationAndFreeAfterIsolate) {
  slabt::cpu_reset reset;
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.slab.mm.ms;
  void *v = vmalloc_movable(*f.vs, 2 * PAGE_SIZE);
  ASSERT_NE(v, nullptr);
  const uintptr_t va = reinterpret_cast<uintptr_t>(v);
  std::vector<unsigned char> pattern(2 * PAGE_SIZE);
  for (size_t i = 0; i < pattern.size(); i++) pattern[i] = (unsigned char)(i * 7 + 3);
  ASSERT_TRUE(f.vwrite(va, pattern.data(), pattern.size()));
  page *old = vmalloc_to_page(*f.vs, v);
  ASSERT_TRUE(PageMovable(old));
  list_head l;
  INIT_LIST_HEAD(&l);
  ASSERT_TRUE(isolate_movable_page(ms, old, MIGRATE_SYNC));
  list_add_tail(&old->lru, &l);
  EXPECT_EQ(f.check(), "");
  unsigned done = 0;
  EXPECT_EQ(migrate_pages(ms, &l, new_page_any, put_page_back, &ms, MIGRATE_SYNC, MR_COMPACTION, &done), 0);
  EXPECT_EQ(done, 1u);
  page *now = vmalloc_to_page(*f.vs, v);
  EXPECT_NE(now, old);
  EXPECT_TRUE(PageMovable(now));
  EXPECT_EQ(now->index, va);
  EXPECT_EQ(page_ref_count(old), 0);
  EXPECT_FALSE(PageMovable(old));
  EXPECT_EQ(f.vs->migrating, 0u);
  std::vector<unsigned char> back(pattern.size());
  ASSERT_TRUE(f.vread(va, back.data(), back.size()));
  EXPECT_EQ(back, pattern);
  EXPECT_EQ(f.check(), "");

  // Isolated, then freed by its owner: the isolator's reference keeps it.
  page *second = vmalloc_to_page(*f.vs, reinterpret_cast<char *>(v) + PAGE_SIZE);
  ASSERT_TRUE(isolate_movable_page(ms, second, MIGRATE_SYNC));
  list_add_tail(&second->lru, &l);
  vfree(*f.vs, v);
  EXPECT_EQ(page_ref_count(second), 1);
  EXPECT_FALSE(PageMovable(second));
  EXPECT_TRUE(PageIsolated(second));
  EXPECT_EQ(f.check(), "");
  const unsigned long fail = vm_event(ms, PGMIGRATE_FAIL), ok = vm_event(ms, PGMIGRATE_SUCCESS);
  EXPECT_EQ(migrate_pages(ms, &l, new_page_any, put_page_back, &ms, MIGRATE_SYNC, MR_COMPACTION, &done), 1);
  EXPECT_EQ(done, 0u);
  EXPECT_EQ(vm_event(ms, PGMIGRATE_FAIL) - fail, 1ul);
  EXPECT_EQ(vm_event(ms, PGMIGRATE_SUCCESS), ok);
  const unsigned long bad = ms.bad_pages;
  putback_movable_pages(ms, &l);
  EXPECT_EQ(page_ref_count(second), 0);
  EXPECT_FALSE(PageIsolated(second));
  EXPECT_EQ(ms.bad_pages, bad);
  EXPECT_EQ(f.check(), "");
}

// ---- the free path ------------------------------------------------------------------------

TEST(CompactionRules, FreeingMovableOrIsolatedPagesIsABadPage) {
  machine m;
  page *p = m.owner->alloc();
  const unsigned long bad = m.ms->bad_pages;
  drain_all_pages(*m.ms);
  const unsigned long free = free_pages(m.z);
  __free_pages(*m.ms, p, 0);  // still PG_movable
  EXPECT_EQ(m.ms->bad_pages, bad + 1);
  EXPECT_EQ(page_ref_count(p), 1);
  EXPECT_TRUE(PageMovable(p));
  drain_all_pages(*m.ms);
  EXPECT_EQ(free_pages(m.z), free);
  // Isolated, the owner lets go properly; the isolator's last reference must
  // not find it still isolated.
  ASSERT_TRUE(isolate_movable_page(*m.ms, p, MIGRATE_SYNC));
  __ClearPageMovable(p);
  m.owner->pages.erase(p);
  __free_pages(*m.ms, p, 0);
  EXPECT_EQ(m.ms->bad_pages, bad + 1);
  EXPECT_EQ(page_ref_count(p), 1);
  __free_pages(*m.ms, p, 0);
  EXPECT_EQ(m.ms->bad_pages, bad + 2);
  EXPECT_EQ(page_ref_count(p), 1);
  EXPECT_TRUE(PageIsolated(p));
  // Putback ends it properly and frees it.
  list_head l;
  INIT_LIST_HEAD(&l);
  list_add(&p->lru, &l);
  putback_movable_pages(*m.ms, &l);
  EXPECT_EQ(page_ref_count(p), 0);
  EXPECT_EQ(m.ms->bad_pages, bad + 2);
  drain_all_pages(*m.ms);
  EXPECT_EQ(free_pages(m.z), free + 1);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// ---- page isolation and alloc_contig_range ----------------------------------------------------

TEST(CompactionRules, IsolationFailsOnUnmovableAndRestoresTypes) {
  machine m;
  const unsigned long first = m.block(4);
  const int types[] = {MIGRATE_UNMOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE};
  // A movable page in each of the first two (a wholly free pageblock
  // merges with a wholly free buddy pageblock and takes its type, as in
  // Linux), one page in use in the last, not movable.
  for (int i = 0; i < 2; i++) {
    const unsigned long pfn = first + i * pageblock_nr_pages + 3;
    ASSERT_EQ(alloc_contig_range(*m.ms, pfn, pfn + 1, GFP_KERNEL), 0);
    m.owner->adopt(m.pg(pfn));
  }
  const unsigned long pin_pfn = first + 2 * pageblock_nr_pages + 17;
  ASSERT_EQ(alloc_contig_range(*m.ms, pin_pfn, pin_pfn + 1, GFP_KERNEL), 0);
  for (int i = 0; i < 3; i++) set_type(m.z, first + i * pageblock_nr_pages, types[i]);
  page *pin = m.pg(pin_pfn);
  EXPECT_EQ(page_ref_count(pin), 1);
  const unsigned long end = first + 3 * pageblock_nr_pages;
  EXPECT_EQ(start_isolate_page_range(*m.ms, first, end), -EBUSY);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(type_of(m.z, first + i * pageblock_nr_pages), types[i]) << i;
    EXPECT_EQ(isolated_pageblock_saved_type(m.z, first + i * pageblock_nr_pages), 0) << i;
  }
  EXPECT_EQ(m.check(), "");
  // Movable, it no longer stands in the way.
  m.owner->adopt(pin);
  EXPECT_EQ(start_isolate_page_range(*m.ms, first, end), 0);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(type_of(m.z, first + i * pageblock_nr_pages), MIGRATE_ISOLATE) << i;
    EXPECT_EQ(isolated_pageblock_saved_type(m.z, first + i * pageblock_nr_pages), types[i]) << i;
  }
  EXPECT_EQ(m.check(), "");
  undo_isolate_page_range(*m.ms, first, end);
  for (int i = 0; i < 3; i++) EXPECT_EQ(type_of(m.z, first + i * pageblock_nr_pages), types[i]) << i;
  // HIGHATOMIC: busy, and nothing changes.
  set_type(m.z, first, MIGRATE_HIGHATOMIC);
  m.z->nr_reserved_highatomic += pageblock_nr_pages;
  EXPECT_EQ(start_isolate_page_range(*m.ms, first, end), -EBUSY);
  EXPECT_EQ(type_of(m.z, first), MIGRATE_HIGHATOMIC);
  for (int i = 1; i < 3; i++) EXPECT_EQ(type_of(m.z, first + i * pageblock_nr_pages), types[i]) << i;
  set_type(m.z, first, MIGRATE_MOVABLE);
  m.z->nr_reserved_highatomic -= pageblock_nr_pages;
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

TEST(CompactionRules, AllocContigRangeInvalidRanges) {
  slabt::cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_three_zones(f), 0);
  mem_system &ms = *f.ms;
  const zone *dma = &ms.node_data[0]->node_zones[ZONE_DMA];
  const unsigned long edge = zone_end_pfn(dma);
  EXPECT_EQ(alloc_contig_range(ms, edge - 4, edge - 4, GFP_KERNEL), -EINVAL);  // empty
  EXPECT_EQ(alloc_contig_range(ms, edge - 4, edge - 8, GFP_KERNEL), -EINVAL);  // backwards
  EXPECT_EQ(alloc_contig_range(ms, edge - 4, edge + 4, GFP_KERNEL), -EINVAL);  // across zones
  const unsigned long last = zone_end_pfn(&ms.node_data[0]->node_zones[ZONE_NORMAL]);
  EXPECT_EQ(alloc_contig_range(ms, last - 2, last + 2, GFP_KERNEL), -EINVAL);  // past memory
  EXPECT_EQ(alloc_contig_range(ms, 1, 3, GFP_KERNEL), -EINVAL);                // before it
  EXPECT_EQ(f.check(), "");
}

// The range's pages are the caller's; the rest of the first and last free
// blocks goes back free; types come back; free_contig_range undoes it.
TEST(CompactionRules, AllocContigRangeTakesExactlyTheRange) {
  machine m;
  drain_all_pages(*m.ms);
  const unsigned long free = free_pages(m.z);
  const unsigned long s = m.block(6) + 5, e = m.block(7) + 9;  // across a pageblock edge
  ASSERT_EQ(alloc_contig_range(*m.ms, s, e, GFP_KERNEL), 0);
  drain_all_pages(*m.ms);
  EXPECT_EQ(free_pages(m.z), free - (e - s));
  for (unsigned long pfn = s; pfn < e; pfn++) {
    EXPECT_EQ(page_ref_count(m.pg(pfn)), 1) << pfn;
    EXPECT_FALSE(PageBuddy(m.pg(pfn))) << pfn;
  }
  EXPECT_EQ(type_of(m.z, m.block(6)), MIGRATE_MOVABLE);
  EXPECT_EQ(type_of(m.z, m.block(7)), MIGRATE_MOVABLE);
  EXPECT_EQ(m.check(), "");
  EXPECT_EQ(free_contig_range(*m.ms, s, e - s), 0ul);
  drain_all_pages(*m.ms);
  EXPECT_EQ(free_pages(m.z), free);
  // Movable pages in the range move out; an unmovable one makes it -EBUSY
  // with nothing taken.
  m.fragment();
  drain_all_pages(*m.ms);
  const unsigned b = m.first_clean_block();
  const unsigned long fr = free_pages(m.z);
  const unsigned long owned = m.owned_in(m.block(b), m.block(b + 1));
  ASSERT_EQ(alloc_contig_range(*m.ms, m.block(b), m.block(b + 1), GFP_KERNEL), 0);
  EXPECT_EQ(m.owner->moved.size(), owned);
  for (auto [src, dst] : m.owner->moved) EXPECT_NE(pageblock_start_pfn(dst), m.block(b));
  drain_all_pages(*m.ms);
  // The range's free pages and as many targets for its movable ones.
  EXPECT_EQ(free_pages(m.z), fr - pageblock_nr_pages);
  EXPECT_EQ(m.check(), "");
  EXPECT_EQ(free_contig_range(*m.ms, m.block(b), pageblock_nr_pages), 0ul);
  std::vector<page *> pinned = pin_block(m, b + 1);
  const unsigned long isolations = m.owner->isolations;
  EXPECT_EQ(alloc_contig_range(*m.ms, m.block(b + 1), m.block(b + 2), GFP_KERNEL), -EBUSY);
  EXPECT_EQ(m.owner->isolations, isolations);
  EXPECT_EQ(type_of(m.z, m.block(b + 1)), MIGRATE_MOVABLE);
  for (page *p : pinned) EXPECT_EQ(page_ref_count(p), 1);
  unpin_block(m, pinned);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

}  // namespace

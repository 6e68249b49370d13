// The highatomic reserve: pageblocks that a high-order atomic request
// reserves for its kind when it had to go below the low watermark, which
// only such requests use, up to 1% of the zone plus a pageblock, and which
// reclaim gives back when it fails.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <string>
#include <vector>

#include "mm/page_alloc.h"
#include "mm/page_alloc_internal.h"
#include "mm/vmscan.h"
#include "mm/watermark.h"
#include "proptest/mm_fixture.h"
#include "proptest/slab_fixture.h"

namespace {

using slabt::cpu_reset;

template <class T>
rc::Gen<T> uniform(T min, T max) {
  return rc::gen::inRange<T>(min, max);
}

zone *the_zone(const mm_fixture &f) { return &f.ms->node_data[0]->node_zones[ZONE_DMA32]; }

int type_of(const zone *z, unsigned long pfn) { return get_pfnblock_migratetype(z, pfn); }

// Puts the zone's low watermark above its free pages (every request goes to
// the slow path) and min at 9/10 of them (atomic requests, which may go to
// 3/8 of min, still succeed there; others fail).
struct slow_path_scope : min_free_kbytes_scope {
  explicit slow_path_scope(mem_system &m, const zone *z)
      : min_free_kbytes_scope(m, int(zone_page_state_snapshot(z, NR_FREE_PAGES) * 9 / 10 * long(PAGE_SIZE >> 10))) {}
};

unsigned long cap_of(const zone *z) { return z->managed_pages / 100 + pageblock_nr_pages; }

unsigned long highatomic_blocks(const zone *z) {
  unsigned long n = 0;
  for (unsigned long b = z->zone_start_pfn; b < zone_end_pfn(z); b += pageblock_nr_pages)
    n += type_of(z, b) == MIGRATE_HIGHATOMIC;
  return n;
}

// A high-order GFP_ATOMIC request that the slow path served reserves its
// pageblock; freed, the block goes back to the reserve's own lists (not to a
// per-CPU list), where ordinary requests do not find it and the next such
// request does, first.
TEST(Highatomic, SlowPathAtomicReservesItsPageblock) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 1), 0);
  mem_system &ms = *f.ms;
  zone *z = the_zone(f);
  // In the fast path nothing is reserved.
  page *fast = alloc_pages(ms, GFP_ATOMIC, 2);
  ASSERT_NE(fast, nullptr);
  EXPECT_EQ(z->nr_reserved_highatomic, 0ul);
  __free_pages(ms, fast, 2);

  page *p;
  {
    slow_path_scope slow(ms, z);
    p = alloc_pages(ms, GFP_ATOMIC, 2);
  }
  ASSERT_NE(p, nullptr);
  const unsigned long pfn = page_to_pfn(ms, p), block = pageblock_start_pfn(pfn);
  EXPECT_EQ(type_of(z, pfn), MIGRATE_HIGHATOMIC);
  EXPECT_EQ(z->nr_reserved_highatomic, pageblock_nr_pages);
  EXPECT_EQ(f.check(), "");

  const long pcp_before = zone_page_state_snapshot(z, NR_PCP_PAGES);
  __free_pages(ms, p, 2);
  EXPECT_EQ(zone_page_state_snapshot(z, NR_PCP_PAGES), pcp_before);
  drain_all_pages(ms);
  // Its free pages merged up to the whole pageblock, and no further.
  const page *head = pfn_to_page(ms, block);
  EXPECT_TRUE(PageBuddy(head) && head->private_ == pageblock_order);
  EXPECT_FALSE(list_empty(&z->free_area[pageblock_order].free_list[MIGRATE_HIGHATOMIC]));

  // Ordinary requests of the pageblock's size take other pageblocks.
  std::vector<page *> ordinary;
  for (int i = 0; i < 8; i++) {
    page *q = alloc_pages(ms, GFP_KERNEL, pageblock_order);
    ASSERT_NE(q, nullptr);
    EXPECT_NE(page_to_pfn(ms, q), block);
    ordinary.push_back(q);
  }
  // The next high-order atomic request in the slow path takes the reserve
  // first. (Orders up to PAGE_ALLOC_COSTLY_ORDER try their per-CPU list
  // before, as in Linux: a free block of the very order and type there is
  // as good.)
  page *again;
  {
    slow_path_scope slow(ms, z);
    again = alloc_pages(ms, GFP_ATOMIC, PAGE_ALLOC_COSTLY_ORDER + 1);
  }
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(pageblock_start_pfn(page_to_pfn(ms, again)), block);
  EXPECT_EQ(z->nr_reserved_highatomic, pageblock_nr_pages);
  __free_pages(ms, again, PAGE_ALLOC_COSTLY_ORDER + 1);
  for (page *q : ordinary) __free_pages(ms, q, pageblock_order);
  EXPECT_EQ(f.check(), "");
}

// Whatever the request, the reserve grows only for a high-order one with
// __GFP_HIGH that cannot block (ALLOC_HIGHATOMIC), and only by its block's
// pageblock(s).
RC_GTEST_PROP(Highatomic, OnlyHighOrderAtomicRequestsReserve, ()) {
  cpu_reset reset;
  mm_fixture f;
  RC_ASSERT(build_single_zone(f, 64 * SZ_1M, 1) == 0);
  mem_system &ms = *f.ms;
  zone *z = the_zone(f);
  const gfp_t gfp = *rc::gen::element(GFP_ATOMIC, GFP_KERNEL, GFP_NOWAIT, GFP_KERNEL | __GFP_HIGH,
                                      GFP_ATOMIC | __GFP_NOMEMALLOC, GFP_ATOMIC | __GFP_RECLAIMABLE,
                                      GFP_HIGHUSER_MOVABLE | __GFP_HIGH) |
                    __GFP_NOWARN;
  const unsigned order = *uniform(0u, NR_PAGE_ORDERS);
  page *p;
  {
    slow_path_scope slow(ms, z);
    p = alloc_pages(ms, gfp, order);
  }
  const bool atomic_high = order > 0 && (gfp & __GFP_HIGH) && !(gfp & __GFP_DIRECT_RECLAIM) &&
                           !(gfp & __GFP_NOMEMALLOC);
  RC_TAG(atomic_high ? "high-order atomic" : "other");
  if (!atomic_high || !p) {
    RC_ASSERT(z->nr_reserved_highatomic == 0ul);
  } else {
    RC_ASSERT(z->nr_reserved_highatomic == std::max(pageblock_nr_pages, 1ul << order));
    RC_ASSERT(type_of(z, page_to_pfn(ms, p)) == int(MIGRATE_HIGHATOMIC));
  }
  RC_ASSERT(f.check() == std::string());
}

// The reserve stops growing once it reaches 1% of the zone plus a pageblock:
// a reservation is made only below that, so the last one may cross it. At
// 203 and 204 MiB, 1% of the zone lies just below and just above a
// pageblock: two pageblocks, then three.
TEST(Highatomic, ReserveStopsAtItsCap) {
  cpu_reset reset;
  for (u64 mib : {64, 203, 204, 256}) {
    SCOPED_TRACE(std::to_string(mib) + " MiB");
    mm_fixture f;
    ASSERT_EQ(build_single_zone(f, mib * SZ_1M, 1), 0);
    mem_system &ms = *f.ms;
    zone *z = the_zone(f);
    const unsigned long cap = cap_of(z);
    std::vector<page *> held;
    slow_path_scope slow(ms, z);
    for (int i = 0; i < 8; i++) {
      const unsigned long before = z->nr_reserved_highatomic;
      page *p = alloc_pages(ms, GFP_ATOMIC | __GFP_NOWARN, pageblock_order);
      ASSERT_NE(p, nullptr);
      held.push_back(p);
      const unsigned long after = z->nr_reserved_highatomic;
      EXPECT_EQ(after, before < cap ? before + pageblock_nr_pages : before);
    }
    EXPECT_EQ(z->nr_reserved_highatomic, (cap + pageblock_nr_pages - 1) / pageblock_nr_pages * pageblock_nr_pages);
    EXPECT_EQ(f.check(), "");
    for (page *p : held) __free_pages(ms, p, pageblock_order);
  }
}

// An order-10 block reserves both its pageblocks at once.
TEST(Highatomic, MaxOrderBlockReservesTwoPageblocks) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 256 * SZ_1M, 1), 0);
  mem_system &ms = *f.ms;
  zone *z = the_zone(f);
  page *p;
  {
    slow_path_scope slow(ms, z);
    p = alloc_pages(ms, GFP_ATOMIC, MAX_PAGE_ORDER);
  }
  ASSERT_NE(p, nullptr);
  const unsigned long pfn = page_to_pfn(ms, p);
  EXPECT_EQ(z->nr_reserved_highatomic, 1ul << MAX_PAGE_ORDER);
  EXPECT_EQ(type_of(z, pfn), MIGRATE_HIGHATOMIC);
  EXPECT_EQ(type_of(z, pfn + pageblock_nr_pages), MIGRATE_HIGHATOMIC);
  __free_pages(ms, p, MAX_PAGE_ORDER);  // back a pageblock at a time, merged again
  const page *head = pfn_to_page(ms, pfn);
  EXPECT_TRUE(PageBuddy(head) && head->private_ == MAX_PAGE_ORDER);
  EXPECT_EQ(f.check(), "");
  // Given back, both pageblocks go at once (more than one pageblock was
  // reserved, so without force too), and the block stays whole.
  alloc_context ac = {ms.node_data[0], ZONE_NORMAL, false, MIGRATE_MOVABLE};
  EXPECT_TRUE(unreserve_highatomic_pageblock(ac, false));
  EXPECT_EQ(z->nr_reserved_highatomic, 0ul);
  EXPECT_EQ(type_of(z, pfn), MIGRATE_MOVABLE);
  EXPECT_EQ(type_of(z, pfn + pageblock_nr_pages), MIGRATE_MOVABLE);
  EXPECT_TRUE(PageBuddy(head) && head->private_ == MAX_PAGE_ORDER);
  EXPECT_EQ(f.check(), "");
}

// Reserves `n` pageblocks with order-9 atomic requests in the slow path
// (each takes a whole pageblock, so the next one reserves another): the
// pageblocks, still allocated.
std::vector<page *> reserve_pageblocks(mem_system &ms, zone *z, int n) {
  std::vector<page *> held;
  slow_path_scope slow(ms, z);
  for (int i = 0; i < n; i++) held.push_back(alloc_pages(ms, GFP_ATOMIC, pageblock_order));
  return held;
}

// Giving the reserve back: one pageblock at a time, to the requester's type
// with its free pages; without force a zone keeps its last pageblock.
TEST(Highatomic, UnreserveKeepsTheLastUnlessForced) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 256 * SZ_1M, 1), 0);
  mem_system &ms = *f.ms;
  zone *z = the_zone(f);
  std::vector<page *> blocks = reserve_pageblocks(ms, z, 2);
  ASSERT_EQ(z->nr_reserved_highatomic, 2 * pageblock_nr_pages);
  alloc_context ac = {ms.node_data[0], ZONE_NORMAL, false, MIGRATE_RECLAIMABLE};
  // Only a free page of the reserve can be found, and so given back.
  EXPECT_FALSE(unreserve_highatomic_pageblock(ac, true));
  __free_pages(ms, blocks[1], pageblock_order);
  const long free = zone_page_state_snapshot(z, NR_FREE_PAGES);
  EXPECT_TRUE(unreserve_highatomic_pageblock(ac, false));
  EXPECT_EQ(z->nr_reserved_highatomic, pageblock_nr_pages);
  EXPECT_EQ(highatomic_blocks(z), 1ul);
  EXPECT_EQ(type_of(z, page_to_pfn(ms, blocks[1])), MIGRATE_RECLAIMABLE);
  EXPECT_FALSE(list_empty(&z->free_area[pageblock_order].free_list[MIGRATE_RECLAIMABLE]));
  EXPECT_EQ(zone_page_state_snapshot(z, NR_FREE_PAGES), free);  // only the lists changed
  __free_pages(ms, blocks[0], pageblock_order);
  EXPECT_FALSE(unreserve_highatomic_pageblock(ac, false));  // the last one stays
  EXPECT_EQ(z->nr_reserved_highatomic, pageblock_nr_pages);
  EXPECT_TRUE(unreserve_highatomic_pageblock(ac, true));
  EXPECT_EQ(z->nr_reserved_highatomic, 0ul);
  EXPECT_FALSE(unreserve_highatomic_pageblock(ac, true));
  EXPECT_EQ(f.check(), "");
}

// The reserve goes back from whatever free block it still has, a single
// free page included.
TEST(Highatomic, UnreserveFindsASingleFreePage) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 1), 0);
  mem_system &ms = *f.ms;
  zone *z = the_zone(f);
  std::vector<page *> held = reserve_pageblocks(ms, z, 1);
  ASSERT_EQ(z->nr_reserved_highatomic, pageblock_nr_pages);
  const unsigned long start = page_to_pfn(ms, held[0]);
  ASSERT_EQ(type_of(z, start), MIGRATE_HIGHATOMIC);
  alloc_context ac = {ms.node_data[0], ZONE_NORMAL, false, MIGRATE_MOVABLE};
  {
    spin_lock_irqsave_guard g(z->lock);
    __free_one_page(z, start + 1, 0, MIGRATE_HIGHATOMIC);  // its buddy (start) in use
  }
  EXPECT_TRUE(unreserve_highatomic_pageblock(ac, true));
  EXPECT_EQ(z->nr_reserved_highatomic, 0ul);
  EXPECT_EQ(type_of(z, start), MIGRATE_MOVABLE);
  {
    spin_lock_irqsave_guard g(z->lock);
    page *one = pfn_to_page(ms, start + 1);
    EXPECT_TRUE(PageBuddy(one) && one->private_ == 0);
    del_from_free_list(z, one, 0, type_of(z, start));
  }
  __free_pages(ms, held[0], pageblock_order);
  EXPECT_EQ(f.check(), "");
}

// Only the zones a request may use give their reserve back: a DMA32
// request leaves Normal's alone.
TEST(Highatomic, UnreserveOnlyFromZonesTheRequestMayUse) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_three_zones(f), 0);
  mem_system &ms = *f.ms;
  ms.pcp_disabled = true;
  zone *normal = &ms.node_data[0]->node_zones[ZONE_NORMAL];
  page *p = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(page_zonenum(p), ZONE_NORMAL);
  reserve_highatomic_pageblock(normal, p, 0);
  ASSERT_EQ(normal->nr_reserved_highatomic, pageblock_nr_pages);
  __free_pages(ms, p, 0);
  alloc_context dma32 = {ms.node_data[0], ZONE_DMA32, false, MIGRATE_MOVABLE};
  EXPECT_FALSE(unreserve_highatomic_pageblock(dma32, true));
  EXPECT_EQ(normal->nr_reserved_highatomic, pageblock_nr_pages);
  alloc_context any = {ms.node_data[0], ZONE_NORMAL, false, MIGRATE_MOVABLE};
  EXPECT_TRUE(unreserve_highatomic_pageblock(any, true));
  EXPECT_EQ(normal->nr_reserved_highatomic, 0ul);
  EXPECT_EQ(f.check(), "");
}

// When nothing else is left, a request that cannot block may take from the
// reserve, at any order: failing it now is worse than failing a high-order
// atomic request later. A request that can block never does, not even with
// __GFP_HIGH.
TEST(Highatomic, OnlyNonBlockingRequestsFallBackToTheReserve) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 1), 0);
  mem_system &ms = *f.ms;
  zone *z = the_zone(f);
  std::vector<page *> got = reserve_pageblocks(ms, z, 1);
  ASSERT_EQ(z->nr_reserved_highatomic, pageblock_nr_pages);
  __free_pages(ms, got[0], pageblock_order);
  got.clear();
  min_free_kbytes_scope low(ms, 128);
  auto take_all = [&](gfp_t gfp) {
    unsigned long from_reserve = 0;
    while (page *p = alloc_pages(ms, gfp | __GFP_NOWARN, 0)) {
      from_reserve += type_of(z, page_to_pfn(ms, p)) == MIGRATE_HIGHATOMIC;
      got.push_back(p);
    }
    return from_reserve;
  };
  EXPECT_EQ(take_all(GFP_KERNEL | __GFP_NORETRY), 0ul);
  // __GFP_HIGH that can block may count the reserve towards the watermark
  // but not take its pages: at the end each attempt passes the check, finds
  // nothing and counts a PGALLOC_FAIL (the slow path's first try, its
  // retry, and the two around direct reclaim).
  EXPECT_EQ(take_all(GFP_KERNEL | __GFP_HIGH | __GFP_NORETRY), 0ul);
  const unsigned long fails = zone_events(z, PGALLOC_FAIL);
  EXPECT_EQ(alloc_pages(ms, GFP_KERNEL | __GFP_HIGH | __GFP_NORETRY | __GFP_NOWARN, 0), nullptr);
  EXPECT_EQ(zone_events(z, PGALLOC_FAIL) - fails, 4ul);
  EXPECT_EQ(z->nr_reserved_highatomic, pageblock_nr_pages);
  EXPECT_GT(take_all(GFP_ATOMIC), 0ul) << "GFP_ATOMIC failed with the reserve's pages free";
  for (page *p : got) __free_pages(ms, p, 0);
  EXPECT_EQ(f.check(), "");
}

// A reserved pageblock still partly in use goes back with its free blocks
// to the requester's type.
TEST(Highatomic, UnreserveGivesThePageblockToTheRequestersType) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 1), 0);
  mem_system &ms = *f.ms;
  zone *z = the_zone(f);
  page *p;
  {
    slow_path_scope slow(ms, z);
    p = alloc_pages(ms, GFP_ATOMIC, 2);
  }
  ASSERT_NE(p, nullptr);
  drain_all_pages(ms);
  const unsigned long block = pageblock_start_pfn(page_to_pfn(ms, p));
  ASSERT_EQ(type_of(z, block), MIGRATE_HIGHATOMIC);
  alloc_context ac = {ms.node_data[0], ZONE_NORMAL, false, MIGRATE_RECLAIMABLE};
  EXPECT_TRUE(unreserve_highatomic_pageblock(ac, true));
  EXPECT_EQ(type_of(z, block), MIGRATE_RECLAIMABLE);
  EXPECT_EQ(z->nr_reserved_highatomic, 0ul);
  unsigned long on_reclaimable = 0;
  for (unsigned o = 0; o < pageblock_order; o++)
    list_for_each(e, &z->free_area[o].free_list[MIGRATE_RECLAIMABLE]) on_reclaimable++;
  EXPECT_GT(on_reclaimable, 0ul);  // the pageblock's free blocks, split around p
  EXPECT_EQ(f.check(), "");
  __free_pages(ms, p, 2);
  EXPECT_EQ(f.check(), "");
}

// A shrinker that says it freed whatever it was asked to, and gives back no
// page: reclaim that makes progress without helping.
struct busy_shrinker {
  shrinker s{};
  busy_shrinker() {
    s.count_objects = [](shrinker *, shrink_control *) -> unsigned long { return 1000; };
    s.scan_objects = [](shrinker *, shrink_control *sc) { return sc->nr_to_scan; };
    INIT_LIST_HEAD(&s.list);
  }
};

// When reclaim made progress but the allocation still fails, one reserved
// pageblock goes back, but never a zone's last; __GFP_NORETRY requests,
// which get that one round only, show it. A request that may retry takes
// the last one too before it fails.
TEST(Highatomic, DirectReclaimGivesBackAllButTheLast) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 256 * SZ_1M, 1), 0);
  mem_system &ms = *f.ms;
  ms.pcp_disabled = true;
  zone *z = the_zone(f);
  // Three reserved pageblocks; the middle one stays in use for now, so that
  // none of the free ones merges with another (two reserved buddies would
  // go back together, as one order-10 block).
  std::vector<page *> blocks = reserve_pageblocks(ms, z, 3);
  __free_pages(ms, blocks[0], pageblock_order);
  __free_pages(ms, blocks[2], pageblock_order);
  const gfp_t noretry = GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN;
  // Down to min with the reserve counted as used: no reclaim progress, so
  // nothing is given back.
  std::vector<page *> held;
  while (page *p = alloc_pages(ms, noretry, 0)) held.push_back(p);
  ASSERT_EQ(z->nr_reserved_highatomic, 3 * pageblock_nr_pages);
  // With progress, each failure gives one back and is served by it, until
  // the last, which is in use.
  busy_shrinker busy;
  register_shrinker(ms, &busy.s);
  while (page *p = alloc_pages(ms, noretry, 0)) held.push_back(p);
  EXPECT_EQ(z->nr_reserved_highatomic, pageblock_nr_pages);
  // Freed, it is still kept back from __GFP_NORETRY, whose requests fill
  // what it added to the free pages (the reserve was subtracted from them
  // all along) and then fail.
  __free_pages(ms, blocks[1], pageblock_order);
  while (page *p = alloc_pages(ms, noretry, 0)) held.push_back(p);
  EXPECT_EQ(z->nr_reserved_highatomic, pageblock_nr_pages);
  page *last = alloc_pages(ms, GFP_KERNEL | __GFP_NOWARN, 0);
  EXPECT_NE(last, nullptr);
  EXPECT_EQ(z->nr_reserved_highatomic, 0ul);
  if (last) held.push_back(last);
  unregister_shrinker(ms, &busy.s);
  for (page *q : held) __free_pages(ms, q, 0);
  EXPECT_EQ(f.check(), "");
}

// The fast path counts the reserve as used too: with free pages above the
// low watermark only by the reserve, an ordinary request does not take the
// page waiting on its per-CPU list there, but goes on to the slow path,
// which wakes kswapd.
TEST(Highatomic, FastPathCountsTheReserveAsUsed) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 1), 0);
  mem_system &ms = *f.ms;
  zone *z = the_zone(f);
  for (page *p : reserve_pageblocks(ms, z, 1)) __free_pages(ms, p, pageblock_order);
  std::vector<page *> held;
  // Every one of these passes the fast path's check (kswapd stays asleep).
  // (The total, zone_page_state: what the fast path's check reads.)
  auto usable = [&] { return zone_page_state(z, NR_FREE_PAGES) - long(z->nr_reserved_highatomic); };
  while (usable() > long(low_wmark_pages(z))) held.push_back(alloc_pages(ms, GFP_KERNEL, 0));
  ASSERT_GT(zone_page_state(z, NR_FREE_PAGES), long(low_wmark_pages(z)));
  ASSERT_GT(z->pcp[0].count, 0);
  pglist_data *pgdat = ms.node_data[0];
  pgdat->kswapd_wanted = false;  // woken by the reservations' requests
  page *p = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(pgdat->kswapd_wanted);
  held.push_back(p);
  for (page *q : held) __free_pages(ms, q, 0);
  EXPECT_EQ(f.check(), "");
}

// Under pressure the reserve goes: ordinary requests never take its pages
// while it stands, and before one fails for want of memory the whole
// reserve has been given back to them, pageblock by pageblock.
TEST(Highatomic, PressureGivesTheReserveBack) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 256 * SZ_1M, 1), 0);
  mem_system &ms = *f.ms;
  zone *z = the_zone(f);
  for (page *p : reserve_pageblocks(ms, z, 3)) __free_pages(ms, p, pageblock_order);
  ASSERT_EQ(z->nr_reserved_highatomic, 3 * pageblock_nr_pages);
  std::vector<unsigned long> reserved;
  for (unsigned long b = z->zone_start_pfn; b < zone_end_pfn(z); b += pageblock_nr_pages)
    if (type_of(z, b) == MIGRATE_HIGHATOMIC) reserved.push_back(b);
  std::vector<page *> held;
  unsigned long from_former_reserve = 0;
  while (page *p = alloc_pages(ms, GFP_KERNEL | __GFP_NOWARN, 0)) {
    const unsigned long pfn = page_to_pfn(ms, p);
    EXPECT_NE(type_of(z, pfn), MIGRATE_HIGHATOMIC);
    for (unsigned long b : reserved) from_former_reserve += pageblock_start_pfn(pfn) == b;
    held.push_back(p);
  }
  EXPECT_EQ(z->nr_reserved_highatomic, 0ul);
  EXPECT_EQ(highatomic_blocks(z), 0ul);
  // The pages given back went to the requests that needed them.
  EXPECT_GT(from_former_reserve, 0ul);
  EXPECT_EQ(f.check(), "");
  for (page *p : held) __free_pages(ms, p, 0);
  EXPECT_EQ(f.check(), "");
}

// Random requests of every kind, below and above the low watermark, and
// frees: the reserve grows only through high-order atomic requests, by a
// reservation made below its cap, shrinks only for requests that may
// reclaim, and is gone after pressure.
RC_GTEST_PROP(Highatomic, ReserveGrowsOnlyForItsRequestsAndGoesUnderPressure, ()) {
  cpu_reset reset;
  mm_fixture f;
  RC_ASSERT(build_single_zone(f, 64 * SZ_1M, 1) == 0);
  mem_system &ms = *f.ms;
  zone *z = the_zone(f);
  const unsigned long cap = cap_of(z);
  struct op {
    int kind;  // 0 alloc, 1 free, 2 alloc in the slow path
    gfp_t gfp;
    unsigned order, victim;
  };
  const auto ops = *rc::gen::container<std::vector<op>>(rc::gen::build<op>(
      rc::gen::set(&op::kind, rc::gen::weightedElement<int>({{3, 0}, {2, 1}, {2, 2}})),
      rc::gen::set(&op::gfp, rc::gen::element(GFP_ATOMIC, GFP_KERNEL, GFP_NOWAIT, GFP_HIGHUSER_MOVABLE,
                                              GFP_KERNEL | __GFP_RECLAIMABLE)),
      rc::gen::set(&op::order, rc::gen::weightedOneOf<unsigned>(
                                   {{3, rc::gen::just(0u)}, {3, uniform(1u, 4u)}, {1, uniform(4u, NR_PAGE_ORDERS)}})),
      rc::gen::set(&op::victim, uniform(0u, 1000u))));
  std::vector<std::pair<page *, unsigned>> held;
  for (const op &o : ops) {
    const unsigned long before = z->nr_reserved_highatomic;
    if (o.kind == 1) {
      if (held.empty()) continue;
      size_t i = o.victim % held.size();
      __free_pages(ms, held[i].first, held[i].second);
      held.erase(held.begin() + long(i));
    } else {
      page *p;
      if (o.kind == 2) {
        slow_path_scope slow(ms, z);
        p = alloc_pages(ms, o.gfp | __GFP_NOWARN, o.order);
      } else {
        p = alloc_pages(ms, o.gfp | __GFP_NOWARN, o.order);
      }
      if (p) held.push_back({p, o.order});
    }
    const unsigned long after = z->nr_reserved_highatomic;
    if (after > before) {
      RC_ASSERT(o.kind != 1 && o.order > 0 && o.gfp == GFP_ATOMIC);
      RC_ASSERT(before < cap);
    }
    if (after < before) RC_ASSERT(o.kind != 1 && (o.gfp & __GFP_DIRECT_RECLAIM));
    RC_ASSERT(f.check() == std::string());
  }
  for (auto [p, order] : held) __free_pages(ms, p, order);
  held.clear();
  RC_CLASSIFY(z->nr_reserved_highatomic > 0, "reserved");
  while (page *p = alloc_pages(ms, GFP_KERNEL | __GFP_NOWARN, 0)) held.push_back({p, 0});
  RC_ASSERT(z->nr_reserved_highatomic == 0ul);
  for (auto [p, order] : held) __free_pages(ms, p, order);
  RC_ASSERT(f.check() == std::string());
}

}  // namespace

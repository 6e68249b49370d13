// Grouping by mobility beyond the step-by-step model (mobility_model_test.cpp):
// the GFP flag table, the highatomic reserve, a machine without grouping,
// ALLOC_NOFRAGMENT between zones and nodes, page isolation's errors, and
// what grouping buys against fragmentation.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kernel/errno.h"
#include "mm/page_alloc.h"
#include "mm/page_alloc_internal.h"
#include "mm/page_isolation.h"
#include "proptest/mm_fixture.h"
#include "proptest/slab_fixture.h"

namespace {

using slabt::cpu_reset;

template <class T>
rc::Gen<T> uniform(T min, T max) {
  return rc::gen::inRange<T>(min, max);
}

std::vector<zone *> zones_of(const mem_system &ms) {
  std::vector<zone *> out;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) if (managed_zone(z)) out.push_back(z);
  return out;
}

// One zone of `mib` MiB at 2 GiB (DMA32 only), its grouping as asked.
int pageblock_type_of(const mem_system &ms, const page *p) {
  return get_pfnblock_migratetype(page_zone(ms, p), page_to_pfn(ms, p));
}

// ---- the GFP table ----------------------------------------------------------------------

// gfp_migratetype follows Linux's table: __GFP_MOVABLE gives MOVABLE,
// __GFP_RECLAIMABLE RECLAIMABLE, neither UNMOVABLE, both a caller bug; a
// machine without grouping files every valid request as UNMOVABLE; and the
// fast path's route for the flags carries that type (and no list at all
// for a caller bug).
RC_GTEST_PROP(Mobility, GfpMigratetypeFollowsTheFlagTable, ()) {
  const gfp_t gfp = *uniform<gfp_t>(0, __GFP_BITS_MASK + 1);
  const bool movable = gfp & __GFP_MOVABLE, reclaimable = gfp & __GFP_RECLAIMABLE;
  const int want = movable && reclaimable ? MIGRATE_TYPE_INVALID
                   : movable              ? int(MIGRATE_MOVABLE)
                   : reclaimable          ? int(MIGRATE_RECLAIMABLE)
                                          : int(MIGRATE_UNMOVABLE);
  RC_ASSERT(gfp_migratetype(gfp) == want);
  const bool grouping = *rc::gen::arbitrary<bool>();
  mm_fixture f;
  const mobility_grouping g = grouping ? mobility_grouping::by_size : mobility_grouping::off;
  RC_ASSERT(build_single_zone(f, 12 * SZ_1M, 1, g) == 0);
  const int filed = grouping || want == MIGRATE_TYPE_INVALID ? want : int(MIGRATE_UNMOVABLE);
  RC_ASSERT(gfp_to_migratetype(*f.ms, gfp) == filed);
  const pcp_route &r = f.ms->alloc_route[gfp & GFP_ROUTE_MASK][0];
  if (want == MIGRATE_TYPE_INVALID) RC_ASSERT(r.pcp == nullptr);
  if (r.pcp) RC_ASSERT(r.migratetype == filed);
}

// On a fresh machine, a request's pages come from a pageblock of its own
// type: the first request of a type steals a whole free block for it.
RC_GTEST_PROP(Mobility, FirstPagesOfATypeComeFromItsPageblocks, ()) {
  cpu_reset reset;
  mm_fixture f;
  RC_ASSERT(build_single_zone(f, 64 * SZ_1M, 1) == 0);
  f.ms->pcp_disabled = *rc::gen::arbitrary<bool>();
  const auto requests = *rc::gen::container<std::vector<std::pair<gfp_t, unsigned>>>(
      rc::gen::pair(rc::gen::element(GFP_KERNEL, GFP_KERNEL | __GFP_RECLAIMABLE, GFP_HIGHUSER_MOVABLE, GFP_ATOMIC,
                                     GFP_NOWAIT | __GFP_RECLAIMABLE),
                    uniform(0u, NR_PAGE_ORDERS)));
  RC_PRE(requests.size() <= 12);  // far from full: nothing has to fall back without stealing
  for (auto [gfp, order] : requests) {
    page *p = alloc_pages(*f.ms, gfp, order);
    RC_ASSERT(p != nullptr);
    RC_ASSERT(pageblock_type_of(*f.ms, p) == gfp_migratetype(gfp));
  }
  RC_ASSERT(f.check() == std::string());
}

// Without grouping by mobility every pageblock of an ordinary type is
// UNMOVABLE, whatever type a caller asks for (the highatomic reserve given
// back to a MOVABLE request, say); the reserve's own type still holds.
TEST(Mobility, WithoutGroupingOrdinaryTypesAreUnmovable) {
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 1, mobility_grouping::off), 0);
  zone *z = first_managed_zone(*f.ms);
  const unsigned long pfn = pageblock_start_pfn(z->zone_start_pfn) + 4 * pageblock_nr_pages;
  spin_lock_irqsave_guard g(z->lock);
  for (int mt : {MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE}) {
    set_pageblock_migratetype(z, pfn, mt);
    EXPECT_EQ(get_pfnblock_migratetype(z, pfn), int(MIGRATE_UNMOVABLE)) << mt;
  }
  set_pageblock_migratetype(z, pfn, MIGRATE_HIGHATOMIC);
  EXPECT_EQ(get_pfnblock_migratetype(z, pfn), int(MIGRATE_HIGHATOMIC));
  set_pageblock_migratetype(z, pfn, MIGRATE_UNMOVABLE);
}

// Both mobility bits at once fail, whatever __GFP_NOWARN says, and change
// nothing.
TEST(Mobility, BothMobilityBitsAreRefused) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 32 * SZ_1M, 1), 0);
  const long free = zone_page_state_snapshot(zones_of(*f.ms)[0], NR_FREE_PAGES);
  log_buf_clear();
  EXPECT_EQ(alloc_pages(*f.ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_RECLAIMABLE | __GFP_NOWARN, 0), nullptr);
  EXPECT_EQ(alloc_pages_node(*f.ms, 0, GFP_ATOMIC | __GFP_MOVABLE | __GFP_RECLAIMABLE, 3), nullptr);
  EXPECT_NE(slabt::read_log().find("both __GFP_MOVABLE and __GFP_RECLAIMABLE"), std::string::npos);
  EXPECT_EQ(zone_page_state_snapshot(zones_of(*f.ms)[0], NR_FREE_PAGES), free);
  EXPECT_EQ(f.check(), "");
}

// ---- a machine without grouping -------------------------------------------------------------

// Linux turns grouping off below pageblock_nr_pages * MIGRATE_TYPES pages
// (10 MiB): and then every pageblock is UNMOVABLE from boot.
TEST(Mobility, GroupingIsOffBelowAPageblockOfEveryType) {
  for (u64 mib : {4, 8, 10, 11, 12, 64}) {
    SCOPED_TRACE(std::to_string(mib) + " MiB");
    mm_fixture f;
    ASSERT_EQ(build_single_zone(f, mib * SZ_1M, 1), 0);
    const mem_system &ms = *f.ms;
    EXPECT_EQ(ms.page_group_by_mobility_disabled, ms.vm_total_pages < pageblock_nr_pages * MIGRATE_TYPES);
    EXPECT_EQ(ms.vm_total_pages, ms.totalram_pages);
    EXPECT_EQ(ms.page_group_by_mobility_disabled, mib <= 10);
    const zone *z = zones_of(ms)[0];
    for (unsigned long b = pageblock_start_pfn(z->zone_start_pfn); b < zone_end_pfn(z); b += pageblock_nr_pages)
      EXPECT_EQ(get_pfnblock_migratetype(z, std::max(b, z->zone_start_pfn)),
                ms.page_group_by_mobility_disabled ? MIGRATE_UNMOVABLE : MIGRATE_MOVABLE);
    EXPECT_EQ(f.check(), "");
  }
}

// The threshold is exact: a pageblock of every type, and grouping is on.
TEST(Mobility, GroupingThresholdIsExact) {
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 32 * SZ_1M, 1), 0);
  mem_system &ms = *f.ms;
  const unsigned long real = ms.vm_total_pages, threshold = pageblock_nr_pages * MIGRATE_TYPES;
  init_mobility_grouping(ms, threshold, false);
  EXPECT_FALSE(ms.page_group_by_mobility_disabled);
  init_mobility_grouping(ms, threshold - 1, false);
  EXPECT_TRUE(ms.page_group_by_mobility_disabled);
  init_mobility_grouping(ms, real, false);  // as it was (all MOVABLE again)
  EXPECT_FALSE(ms.page_group_by_mobility_disabled);
  EXPECT_EQ(f.check(), "");
}

// A block of more than a pageblock taken by another type changes the type
// of every pageblock it covers (Linux's change_pageblock_range), not only
// the one the request's pages come from.
TEST(Mobility, ClaimOfALargerBlockRetypesEveryPageblockInIt) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 1), 0);
  f.ms->pcp_disabled = true;
  zone *z = zones_of(*f.ms)[0];
  for (unsigned o = 0; o < NR_PAGE_ORDERS; o++)
    ASSERT_TRUE(list_empty(&z->free_area[o].free_list[MIGRATE_UNMOVABLE]) &&
                list_empty(&z->free_area[o].free_list[MIGRATE_RECLAIMABLE]))
        << "a fresh zone's free blocks are all movable (order " << o << ")";
  page *p = alloc_pages(*f.ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  const unsigned long block = page_to_pfn(*f.ms, p) & ~((1ul << MAX_PAGE_ORDER) - 1);
  for (unsigned long pb = block; pb < block + (1ul << MAX_PAGE_ORDER); pb += pageblock_nr_pages)
    EXPECT_EQ(get_pfnblock_migratetype(z, pb), MIGRATE_UNMOVABLE) << pb - block;
  __free_pages(*f.ms, p, 0);
  EXPECT_EQ(f.check(), "");
}

// A request that finds a block of another type claims its pageblock when
// at least half the pageblock is free (Linux's free_pages + alike_pages >=
// pageblock_nr_pages / 2; no page in use counts as alike for a movable
// request). An UNMOVABLE pageblock with free blocks whose buddies are in
// use, and a movable order-4 request: exactly half free (one order-8 block)
// is claimed, one page short (orders 7 down to 0, 255 pages) is not.
TEST(Mobility, HalfAPageblockFreeIsClaimedOnePageLessIsNot) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 1), 0);
  f.ms->pcp_disabled = true;
  zone *z = zones_of(*f.ms)[0];
  // Frees the pieces (offset, order) of a pageblock held whole, asks, says
  // whether the pageblock became MOVABLE, and puts everything back.
  auto claimed = [&](const std::vector<std::pair<unsigned long, unsigned>> &pieces) {
    page *block = alloc_pages(*f.ms, GFP_HIGHUSER_MOVABLE, pageblock_order);
    EXPECT_NE(block, nullptr);
    if (!block) return false;
    const unsigned long start = page_to_pfn(*f.ms, block);
    bool movable;
    {
      spin_lock_irqsave_guard g(z->lock);
      set_pageblock_migratetype(z, start, MIGRATE_UNMOVABLE);
      for (auto [off, k] : pieces) __free_one_page(z, start + off, k, MIGRATE_UNMOVABLE);
      page *got = __rmqueue_fallback(z, 4, MIGRATE_MOVABLE, 0);
      EXPECT_NE(got, nullptr);
      const int mt = get_pfnblock_migratetype(z, start);
      movable = mt == MIGRATE_MOVABLE;
      // Not claimed, the pages come from the largest block found; claimed,
      // from the smallest movable block, which may be elsewhere.
      if (!movable) {
        EXPECT_EQ(got, pfn_to_page(*f.ms, start + pieces[0].first));
      }
      if (got) __free_one_page(z, page_to_pfn(*f.ms, got), 4, get_pfnblock_migratetype(z, page_to_pfn(*f.ms, got)));
      for (auto [off, k] : pieces) {
        page *p = pfn_to_page(*f.ms, start + off);
        EXPECT_TRUE(PageBuddy(p) && p->private_ == k) << off;
        del_from_free_list(z, p, k, mt);
      }
      set_pageblock_migratetype(z, start, MIGRATE_MOVABLE);
    }
    __free_pages(*f.ms, block, pageblock_order);
    return movable;
  };
  EXPECT_TRUE(claimed({{0, pageblock_order - 1}}));
  // Order k at the start of what is left after the order k+1 piece and its
  // buddy: 0 (7), 256 (6), 384 (5), ... 508 (0).
  std::vector<std::pair<unsigned long, unsigned>> short_of_half;
  for (int k = 7, at = 0; k >= 0; k--) {
    short_of_half.push_back({unsigned(at), unsigned(k)});
    at += 2 << k;
  }
  EXPECT_FALSE(claimed(short_of_half));
  EXPECT_EQ(f.check(), "");
}

// A movable request that may not claim the pageblock (the block it found is
// small) takes the smallest block of another type, not the largest: its
// pages could move out again, so it does the least harm where it lands. A
// RECLAIMABLE pageblock with free blocks of orders 1 and 3 only, an order-0
// movable request: the order-1 block is split, the order-3 one stays whole.
TEST(Mobility, MovableThatCannotClaimTakesTheSmallestBlock) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 1), 0);
  f.ms->pcp_disabled = true;
  zone *z = zones_of(*f.ms)[0];
  page *block = alloc_pages(*f.ms, GFP_HIGHUSER_MOVABLE, pageblock_order);
  ASSERT_NE(block, nullptr);
  const unsigned long start = page_to_pfn(*f.ms, block);
  {
    spin_lock_irqsave_guard g(z->lock);
    set_pageblock_migratetype(z, start, MIGRATE_RECLAIMABLE);
    __free_one_page(z, start + 2, 1, MIGRATE_RECLAIMABLE);  // its buddy (start, order 1) in use
    __free_one_page(z, start + 8, 3, MIGRATE_RECLAIMABLE);  // its buddy (start, order 3) in use
    page *got = __rmqueue_fallback(z, 0, MIGRATE_MOVABLE, 0);
    EXPECT_EQ(got, pfn_to_page(*f.ms, start + 2));
    EXPECT_EQ(get_pfnblock_migratetype(z, start), MIGRATE_RECLAIMABLE) << "not claimed";
    page *big = pfn_to_page(*f.ms, start + 8), *rest = pfn_to_page(*f.ms, start + 3);
    EXPECT_TRUE(PageBuddy(big) && big->private_ == 3);
    EXPECT_TRUE(PageBuddy(rest) && rest->private_ == 0) << "the rest of the order-1 block";
    if (got == pfn_to_page(*f.ms, start + 2)) {
      __free_one_page(z, start + 2, 0, MIGRATE_RECLAIMABLE);  // merges with the rest again
      del_from_free_list(z, got, 1, MIGRATE_RECLAIMABLE);
      del_from_free_list(z, big, 3, MIGRATE_RECLAIMABLE);
    }
    set_pageblock_migratetype(z, start, MIGRATE_MOVABLE);
  }
  __free_pages(*f.ms, block, pageblock_order);
  EXPECT_EQ(f.check(), "");
}

// Without grouping, a pageblock asked to become MOVABLE stays UNMOVABLE,
// and its free blocks stay on the UNMOVABLE lists with it (the type it
// really has), never on the MOVABLE ones.
TEST(Mobility, WithoutGroupingMovedFreeBlocksFollowTheRealType) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 1, mobility_grouping::off), 0);
  f.ms->pcp_disabled = true;
  zone *z = zones_of(*f.ms)[0];
  page *block = alloc_pages(*f.ms, GFP_KERNEL, pageblock_order);
  ASSERT_NE(block, nullptr);
  const unsigned long start = page_to_pfn(*f.ms, block);
  page *piece = pfn_to_page(*f.ms, start + 8);
  auto on_list = [&](int mt) {
    list_for_each(e, &z->free_area[3].free_list[mt]) if (e == &piece->lru) return true;
    return false;
  };
  {
    spin_lock_irqsave_guard g(z->lock);
    __free_one_page(z, start + 8, 3, MIGRATE_UNMOVABLE);
    EXPECT_TRUE(move_freepages_block(z, start, MIGRATE_UNMOVABLE, MIGRATE_MOVABLE));
    EXPECT_EQ(get_pfnblock_migratetype(z, start), MIGRATE_UNMOVABLE);
    EXPECT_TRUE(on_list(MIGRATE_UNMOVABLE));
    EXPECT_FALSE(on_list(MIGRATE_MOVABLE));
    del_from_free_list(z, piece, 3, on_list(MIGRATE_MOVABLE) ? MIGRATE_MOVABLE : MIGRATE_UNMOVABLE);
  }
  __free_pages(*f.ms, block, pageblock_order);
  EXPECT_EQ(f.check(), "");
}

// A pageblock that the zone covers only in part never changes type, and
// none of its free blocks moves.
TEST(Mobility, PartialPageblockNeverMoves) {
  mm_fixture f;
  ASSERT_EQ(f.build({{0x80000000ul + SZ_1M, 32 * SZ_1M, 0}}, layout_with_limits(0, PFN_4G, PFN_MAX, 1)), 0);
  zone *z = zones_of(*f.ms)[0];
  ASSERT_FALSE(pageblock_aligned(z->zone_start_pfn));
  spin_lock_irqsave_guard g(z->lock);
  EXPECT_FALSE(move_freepages_block(z, z->zone_start_pfn, MIGRATE_MOVABLE, MIGRATE_UNMOVABLE));
  EXPECT_EQ(get_pfnblock_migratetype(z, z->zone_start_pfn), MIGRATE_MOVABLE);
  EXPECT_TRUE(list_empty(&z->free_area[0].free_list[MIGRATE_UNMOVABLE]));
}

// A block larger than a pageblock goes back a pageblock at a time, each
// piece to its own pageblock's type, and they merge as the types allow (here
// the first takes the second's type).
TEST(Mobility, LargeBlockFreedAPageblockAtATime) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 32 * SZ_1M, 1), 0);
  mem_system &ms = *f.ms;
  zone *z = zones_of(ms)[0];
  page *p = alloc_pages(ms, GFP_KERNEL, MAX_PAGE_ORDER);
  ASSERT_NE(p, nullptr);
  const unsigned long pfn = page_to_pfn(ms, p);
  {
    spin_lock_irqsave_guard g(z->lock);
    set_pageblock_migratetype(z, pfn + pageblock_nr_pages, MIGRATE_RECLAIMABLE);
  }
  __free_pages(ms, p, MAX_PAGE_ORDER);
  EXPECT_EQ(get_pfnblock_migratetype(z, pfn), MIGRATE_RECLAIMABLE);
  EXPECT_FALSE(list_empty(&z->free_area[MAX_PAGE_ORDER].free_list[MIGRATE_RECLAIMABLE]));
  EXPECT_EQ(f.check(), "");
}

// The fast path takes a high-order block from its per-CPU list only when the
// buddy lists could serve the order too (Linux's zone_watermark_fast): with
// only single free pages there, the request goes on to the slow path (which
// wakes kswapd, drains the lists, and is served from what they held).
TEST(Mobility, FastPathNeedsABuddyBlockOfTheOrder) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 32 * SZ_1M, 1), 0);
  mem_system &ms = *f.ms;
  zone *z = zones_of(ms)[0];
  std::vector<page *> pairs, fill;
  for (int i = 0; i < 4; i++) pairs.push_back(alloc_pages(ms, GFP_KERNEL, 1));
  {
    // Everything else, with no watermark to stop short of it.
    min_free_kbytes_scope none(ms, 1);
    while (page *p = alloc_pages(ms, GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN, 0)) fill.push_back(p);
  }
  std::vector<page *> kept;
  for (page *p : fill) {
    if (page_to_pfn(ms, p) % 2) __free_pages(ms, p, 0);  // single free pages, none next to another
    else kept.push_back(p);
  }
  for (page *p : pairs) __free_pages(ms, p, 1);  // to this CPU's list
  ASSERT_GT(z->pcp[0].count, 0);
  ASSERT_FALSE(zone_has_suitable_block(z, 1, 0));
  ASSERT_GT(zone_page_state_snapshot(z, NR_FREE_PAGES), long(high_wmark_pages(z)));
  pglist_data *pgdat = ms.node_data[0];
  pgdat->kswapd_wanted = false;
  page *p = alloc_pages(ms, GFP_KERNEL, 1);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(pgdat->kswapd_wanted);
  __free_pages(ms, p, 1);
  for (page *q : kept) __free_pages(ms, q, 0);
  EXPECT_EQ(f.check(), "");
}

// Without grouping, mobility changes nothing: the same requests with their
// mobility bits and without them get the very same pages, and no pageblock
// ever becomes MOVABLE or RECLAIMABLE. On a machine below the threshold and
// on a large one with grouping forced off.
RC_GTEST_PROP(Mobility, WithoutGroupingEveryRequestIsOneType, ()) {
  cpu_reset reset;
  const bool small = *rc::gen::arbitrary<bool>();
  struct op {
    bool alloc;
    gfp_t mobility;
    unsigned order;
    unsigned victim;
  };
  const auto ops = *rc::gen::container<std::vector<op>>(rc::gen::build<op>(
      rc::gen::set(&op::alloc, rc::gen::weightedElement<bool>({{3, true}, {1, false}})),
      rc::gen::set(&op::mobility, rc::gen::element(gfp_t(0), __GFP_MOVABLE, __GFP_RECLAIMABLE)),
      rc::gen::set(&op::order, rc::gen::weightedOneOf<unsigned>({{4, rc::gen::just(0u)}, {1, uniform(1u, 8u)}})),
      rc::gen::set(&op::victim, uniform(0u, 1000u))));
  // Runs the ops on a fresh machine, with or without their mobility bits;
  // returns the pfn each allocation got (~0 for a failure).
  auto run = [&](bool with_mobility) {
    mm_fixture f;
    const mobility_grouping g = small ? mobility_grouping::by_size : mobility_grouping::off;
    RC_ASSERT(build_single_zone(f, (small ? 8 : 48) * SZ_1M, 1, g) == 0);
    RC_ASSERT(f.ms->page_group_by_mobility_disabled);
    std::vector<unsigned long> got;
    std::vector<std::pair<page *, unsigned>> held;
    for (const op &o : ops) {
      if (o.alloc) {
        page *p = alloc_pages(*f.ms, GFP_KERNEL | __GFP_NOWARN | (with_mobility ? o.mobility : 0), o.order);
        got.push_back(p ? page_to_pfn(*f.ms, p) : ~0ul);
        if (p) held.push_back({p, o.order});
      } else if (!held.empty()) {
        size_t i = o.victim % held.size();
        __free_pages(*f.ms, held[i].first, held[i].second);
        held.erase(held.begin() + long(i));
      }
    }
    const zone *z = zones_of(*f.ms)[0];
    for (unsigned long b = pageblock_start_pfn(z->zone_start_pfn); b < zone_end_pfn(z); b += pageblock_nr_pages)
      RC_ASSERT(get_pfnblock_migratetype(z, std::max(b, z->zone_start_pfn)) == int(MIGRATE_UNMOVABLE));
    for (const per_cpu_pages &pcp : z->pcp)
      for (unsigned order = 0; order < NR_PCP_ORDERS; order++) {
        RC_ASSERT(list_empty(&pcp.lists[order_to_pindex(MIGRATE_MOVABLE, order)]));
        RC_ASSERT(list_empty(&pcp.lists[order_to_pindex(MIGRATE_RECLAIMABLE, order)]));
      }
    RC_ASSERT(f.check() == std::string());
    return got;
  };
  RC_ASSERT(run(true) == run(false));
}

// ---- what grouping buys ------------------------------------------------------------------------

struct fragmentation_result {
  unsigned long pageblocks;  // pageblocks of the zone
  unsigned long clean;       // of those, holding no unmovable page (in use or reserved)
  unsigned long free_pages;  // after the movable pages went
};

// Interleaves unmovable and movable order-0 allocations as `pattern` says
// (true: unmovable), frees every movable one, and counts the pageblocks
// left without an unmovable page: those that a movable user (or compaction)
// could empty again.
fragmentation_result fragment(mobility_grouping g, const std::vector<bool> &pattern) {
  mm_fixture f;
  if (build_single_zone(f, 32 * SZ_1M, 1, g) != 0) return {};
  mem_system &ms = *f.ms;
  std::vector<page *> unmovable, movable;
  for (bool u : pattern) {
    page *p = alloc_pages(ms, u ? GFP_KERNEL | __GFP_NOWARN : GFP_HIGHUSER_MOVABLE | __GFP_NOWARN, 0);
    if (p) (u ? unmovable : movable).push_back(p);
  }
  for (page *p : movable) __free_pages(ms, p, 0);
  drain_all_pages(ms);
  const zone *z = zones_of(ms)[0];
  std::set<unsigned long> dirty;
  for (page *p : unmovable) dirty.insert(pageblock_start_pfn(page_to_pfn(ms, p)));
  for (unsigned long pfn = z->zone_start_pfn; pfn < zone_end_pfn(z); pfn++)
    if (PageReserved(pfn_to_page(ms, pfn))) dirty.insert(pageblock_start_pfn(pfn));
  fragmentation_result r;
  r.pageblocks = nr_pageblocks_spanned(z->zone_start_pfn, zone_end_pfn(z));
  r.clean = r.pageblocks - dirty.size();
  r.free_pages = nr_free_pages(ms);
  return r;
}

// With grouping, the pageblocks free of unmovable pages are (to two) as
// many as the free memory could fill; forced off on the same machine and
// the same requests, the same bound fails: the unmovable pages are strewn
// over every pageblock the movable ones passed through.
RC_GTEST_PROP(Mobility, GroupingKeepsUnmovablePagesTogether, ()) {
  cpu_reset reset;
  const unsigned nr_unmovable = *uniform(100u, 1500u), nr_movable = *uniform(2500u, 5000u);
  std::vector<bool> pattern(nr_unmovable, true);
  pattern.resize(nr_unmovable + nr_movable, false);
  std::mt19937 shuffle(*rc::gen::arbitrary<unsigned>());
  std::shuffle(pattern.begin(), pattern.end(), shuffle);
  const fragmentation_result grouped = fragment(mobility_grouping::by_size, pattern);
  const fragmentation_result plain = fragment(mobility_grouping::off, pattern);
  const long bound = long(grouped.free_pages / pageblock_nr_pages) - 2;
  RC_TAG(grouped.clean, plain.clean);
  RC_ASSERT(long(grouped.clean) >= bound);
  RC_ASSERT(long(plain.clean) < long(plain.free_pages / pageblock_nr_pages) - 2);
}

// The figures behind the property, for one fixed pattern: one unmovable
// page in five, 5000 pages in all, on 32 MiB.
TEST(Mobility, FragmentationFigures) {
  cpu_reset reset;
  std::vector<bool> pattern;
  for (unsigned i = 0; i < 5000; i++) pattern.push_back(i % 5 == 0);
  const fragmentation_result grouped = fragment(mobility_grouping::by_size, pattern);
  const fragmentation_result plain = fragment(mobility_grouping::off, pattern);
  std::printf("# fragmentation, 1000 unmovable and 4000 movable pages interleaved on 32 MiB (%lu pageblocks), "
              "movable freed:\n#   grouping on: %lu pageblocks without an unmovable page, %lu free pages (%lu "
              "pageblocks' worth)\n#   grouping off: %lu pageblocks without an unmovable page, %lu free pages\n",
              grouped.pageblocks, grouped.clean, grouped.free_pages, grouped.free_pages / pageblock_nr_pages,
              plain.clean, plain.free_pages);
  EXPECT_GE(long(grouped.clean), long(grouped.free_pages / pageblock_nr_pages) - 2);
  EXPECT_LT(long(plain.clean), long(plain.free_pages / pageblock_nr_pages) - 2);
}

// ---- ALLOC_NOFRAGMENT ----------------------------------------------------------------------------

// Fills the zone with movable pages, then frees every eighth: the zone stays
// above its watermarks, but has no free block bigger than a page and no
// unmovable one at all.
std::vector<page *> fragment_zone(mem_system &ms, zone *z) {
  std::vector<page *> held;
  // Movable and held to the zone's node; DMA32|MOVABLE keeps to DMA32
  // (HIGHMEM with DMA32 would be a contradiction).
  const gfp_t gfp = (z->idx == ZONE_DMA32 ? GFP_USER | __GFP_MOVABLE | __GFP_DMA32 : GFP_HIGHUSER_MOVABLE) |
                    __GFP_THISNODE | __GFP_NOWARN;
  const int nid = z->zone_pgdat->node_id;
  for (;;) {
    page *p = alloc_pages_node(ms, nid, gfp, 0);
    if (!p) break;
    if (page_zone(ms, p) != z) {
      __free_pages(ms, p, 0);
      break;
    }
    held.push_back(p);
  }
  std::vector<page *> kept;
  for (page *p : held) {
    if (page_to_pfn(ms, p) % 8 == 0) __free_pages(ms, p, 0);
    else kept.push_back(p);
  }
  return kept;
}

// A Normal request that would have to mix types in Normal takes a whole
// pageblock of DMA32 first; when DMA32 cannot give one either, it mixes in
// Normal after all (and claims the pageblock it used).
TEST(NoFragment, NormalTriesDma32BeforeMixing) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_across_4g(f), 0);
  mem_system &ms = *f.ms;
  ms.pcp_disabled = true;
  zone *normal = &ms.node_data[0]->node_zones[ZONE_NORMAL];
  zone *dma32 = &ms.node_data[0]->node_zones[ZONE_DMA32];
  std::vector<page *> held = fragment_zone(ms, normal);
  ASSERT_GT(zone_page_state_snapshot(normal, NR_FREE_PAGES), long(high_wmark_pages(normal)));

  page *p = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(page_zone(ms, p), dma32);
  EXPECT_EQ(pageblock_type_of(ms, p), MIGRATE_UNMOVABLE);
  for (unsigned long b = normal->zone_start_pfn; b < zone_end_pfn(normal); b += pageblock_nr_pages)
    EXPECT_EQ(get_pfnblock_migratetype(normal, b), MIGRATE_MOVABLE);
  __free_pages(ms, p, 0);

  std::vector<page *> more = fragment_zone(ms, dma32);
  page *q = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(page_zone(ms, q), normal);
  EXPECT_EQ(pageblock_type_of(ms, q), MIGRATE_UNMOVABLE);  // 448 pages in use, none movable: claimed
  EXPECT_EQ(f.check(), "");
  __free_pages(ms, q, 0);
  for (page *x : held) __free_pages(ms, x, 0);
  for (page *x : more) __free_pages(ms, x, 0);
  EXPECT_EQ(f.check(), "");
}

// On one node Linux assumes DMA32 is there whenever Normal is, and sets
// ALLOC_NOFRAGMENT even where it is not: a Normal request that would mix
// types goes to the next zone down, here ZONE_DMA, first.
TEST(NoFragment, OneNodeWithoutDma32TriesTheZoneBelow) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(f.build({{SZ_1M, 31 * SZ_1M, 0}}, layout_with_limits(PFN_16M, PFN_16M, PFN_MAX, 1)), 0);
  mem_system &ms = *f.ms;
  ms.pcp_disabled = true;
  zone *normal = &ms.node_data[0]->node_zones[ZONE_NORMAL];
  ASSERT_FALSE(populated_zone(&ms.node_data[0]->node_zones[ZONE_DMA32]));
  std::vector<page *> held = fragment_zone(ms, normal);
  page *p = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(page_zonenum(p), ZONE_DMA);
  __free_pages(ms, p, 0);
  for (page *x : held) __free_pages(ms, x, 0);
  EXPECT_EQ(f.check(), "");
}

// Locality comes first: a request whose node would have to mix types does
// so rather than go to another node.
TEST(NoFragment, MixesOnItsNodeBeforeGoingToAnother) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_two_nodes(f), 0);
  mem_system &ms = *f.ms;
  ms.pcp_disabled = true;
  std::vector<page *> a = fragment_zone(ms, &ms.node_data[0]->node_zones[ZONE_NORMAL]);
  std::vector<page *> b = fragment_zone(ms, &ms.node_data[0]->node_zones[ZONE_DMA32]);
  page *p = alloc_pages_node(ms, 0, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(page_to_nid(p), 0);
  EXPECT_EQ(f.check(), "");
  __free_pages(ms, p, 0);
  for (page *x : a) __free_pages(ms, x, 0);
  for (page *x : b) __free_pages(ms, x, 0);
}

// ---- page isolation ------------------------------------------------------------------------------

// Bad requests are refused, and change nothing.
TEST(Isolation, RefusesWhatItCannotDo) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(f.build({{0x80000000ul + SZ_1M, 32 * SZ_1M, 0}}, layout_with_limits(0, PFN_4G, PFN_MAX, 1)), 0);
  mem_system &ms = *f.ms;
  zone *z = zones_of(ms)[0];
  const std::string clean = f.check();
  ASSERT_EQ(clean, "");
  // The first pageblock is partial: the zone starts 1 MiB into it.
  EXPECT_EQ(set_migratetype_isolate(ms, pfn_to_page(ms, z->zone_start_pfn)), -EINVAL);
  // A page in use: nothing here can move it away.
  page *p = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  const long free = zone_page_state_snapshot(z, NR_FREE_PAGES);
  EXPECT_EQ(set_migratetype_isolate(ms, p), -EBUSY);
  EXPECT_EQ(pageblock_type_of(ms, p), MIGRATE_UNMOVABLE);
  EXPECT_EQ(zone_page_state_snapshot(z, NR_FREE_PAGES), free);
  // Not isolated, or to a type that is not an ordinary one.
  EXPECT_EQ(unset_migratetype_isolate(ms, p, MIGRATE_MOVABLE), -EINVAL);
  unsigned long b = pageblock_start_pfn(z->zone_start_pfn) + 4 * pageblock_nr_pages;
  page *blk = pfn_to_page(ms, b);
  ASSERT_EQ(set_migratetype_isolate(ms, blk), 0);
  EXPECT_EQ(set_migratetype_isolate(ms, blk), -EBUSY);
  EXPECT_EQ(unset_migratetype_isolate(ms, blk, MIGRATE_HIGHATOMIC), -EINVAL);
  EXPECT_EQ(unset_migratetype_isolate(ms, blk, MIGRATE_ISOLATE), -EINVAL);
  EXPECT_EQ(test_pages_isolated(ms, b, b + pageblock_nr_pages), 0);
  EXPECT_EQ(test_pages_isolated(ms, b, b + 2 * pageblock_nr_pages), -EBUSY);
  EXPECT_EQ(test_pages_isolated(ms, page_to_pfn(ms, p), page_to_pfn(ms, p) + 1), -EBUSY);
  // Isolated pages are not free for the watermarks.
  EXPECT_EQ(zone_page_state_snapshot(z, NR_FREE_PAGES), free - long(pageblock_nr_pages));
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(unset_migratetype_isolate(ms, blk, MIGRATE_MOVABLE), 0);
  EXPECT_EQ(zone_page_state_snapshot(z, NR_FREE_PAGES), free);
  __free_pages(ms, p, 0);
  EXPECT_EQ(f.check(), "");
}

// A page in use anywhere in the pageblock makes it busy, the last page too.
TEST(Isolation, PageInUseAtTheEndOfThePageblock) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 32 * SZ_1M, 1), 0);
  mem_system &ms = *f.ms;
  ms.pcp_disabled = true;
  page *big = alloc_pages(ms, GFP_KERNEL, pageblock_order);
  ASSERT_NE(big, nullptr);
  const unsigned long b = page_to_pfn(ms, big);
  __free_pages(ms, big, pageblock_order);
  // Take the whole pageblock as single pages, then give back all but its last.
  std::vector<page *> pages;
  for (unsigned long i = 0; i < pageblock_nr_pages; i++) pages.push_back(alloc_pages(ms, GFP_KERNEL, 0));
  page *last = nullptr;
  for (page *p : pages) {
    if (page_to_pfn(ms, p) == b + pageblock_nr_pages - 1) last = p;
    else __free_pages(ms, p, 0);
  }
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(set_migratetype_isolate(ms, last), -EBUSY);
  __free_pages(ms, last, 0);
  EXPECT_EQ(f.check(), "");
}

// test_pages_isolated over ranges: empty, past the zone's end, and from
// inside a free block of an isolated pageblock.
TEST(Isolation, TestPagesIsolatedRanges) {
  mm_fixture f;
  // The zone ends half way into its last pageblock.
  ASSERT_EQ(f.build({{0x80000000ul, 32 * SZ_1M + SZ_1M, 0}}, layout_with_limits(0, PFN_4G, PFN_MAX, 1)), 0);
  mem_system &ms = *f.ms;
  zone *z = zones_of(ms)[0];
  const unsigned long b = pageblock_start_pfn(z->zone_start_pfn) + 4 * pageblock_nr_pages;
  ASSERT_EQ(set_migratetype_isolate(ms, pfn_to_page(ms, b)), 0);
  EXPECT_EQ(test_pages_isolated(ms, b, b), -EBUSY);
  EXPECT_EQ(test_pages_isolated(ms, b + 100, b + 200), 0);  // inside the pageblock's one free block
  EXPECT_EQ(test_pages_isolated(ms, zone_end_pfn(z) - 8, zone_end_pfn(z) + 8), -EBUSY);
  EXPECT_EQ(unset_migratetype_isolate(ms, pfn_to_page(ms, b), MIGRATE_MOVABLE), 0);
  EXPECT_EQ(f.check(), "");
}

// Pages parked on per-CPU lists do not keep a pageblock from isolation (the
// lists are drained first), and none of its pages is handed out while it is
// isolated, through the per-CPU lists or the buddy lists.
TEST(Isolation, IsolatedPageblockHandsNothingOut) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 32 * SZ_1M, 1), 0);
  mem_system &ms = *f.ms;
  page *p = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  unsigned long b = pageblock_start_pfn(page_to_pfn(ms, p));
  __free_pages(ms, p, 0);  // to this CPU's list, with a batch of its neighbours
  ASSERT_GT(nr_free_pcp_pages(ms), 0ul);
  ASSERT_EQ(set_migratetype_isolate(ms, p), 0);
  EXPECT_EQ(f.check(), "");
  std::vector<page *> held;
  while (page *q = alloc_pages(ms, GFP_KERNEL | __GFP_NOWARN, 0)) {
    EXPECT_NE(pageblock_start_pfn(page_to_pfn(ms, q)), b);
    held.push_back(q);
  }
  EXPECT_EQ(test_pages_isolated(ms, b, b + pageblock_nr_pages), 0);
  EXPECT_EQ(f.check(), "");
  for (page *q : held) __free_pages(ms, q, 0);
  EXPECT_EQ(unset_migratetype_isolate(ms, p, MIGRATE_MOVABLE), 0);
  EXPECT_EQ(f.check(), "");
}

}  // namespace

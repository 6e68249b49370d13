// The checker's rules for grouping by mobility against damage, one class at
// a time: a free block on another type's list, a pageblock retyped under its
// free blocks, a type that is none, the highatomic count and cap, a per-CPU
// page in an isolated pageblock, isolated pages counted free, buddies of two
// ordinary types left unmerged (and the one exception that is allowed), a
// lost bitmap. Each test breaks one thing, asserts the report names it,
// repairs it, and asserts the report is empty again (in TearDown).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "mm/check.h"
#include "mm/page_alloc.h"
#include "mm/page_alloc_internal.h"
#include "proptest/check_damage.h"
#include "proptest/mm_fixture.h"

namespace {

using damage::expect_finds;
using damage::hex;

// Sets a pageblock's type bits directly, as damage would: nothing moves.
void poke_type(zone *z, unsigned long pfn, unsigned long value) {
  set_pfnblock_flags_mask(z, pfn, value, MIGRATETYPE_MASK);
}

// DMA32 and Normal populated on node 0, grouping on, per-CPU lists off (so
// that every free page is on a buddy list unless a test puts it elsewhere).
struct CheckDamageMobility : ::testing::Test {
  mm_fixture f;
  zone *z = nullptr;

  void SetUp() override {
    ASSERT_EQ(build_across_4g(f), 0);
    f.ms->pcp_disabled = true;
    z = &f.ms->node_data[0]->node_zones[ZONE_DMA32];
    ASSERT_EQ(f.check(), "");
  }
  void TearDown() override { EXPECT_EQ(f.check(), "") << "after the repair"; }

  std::string where() const { return "node 0 zone DMA32: "; }
  unsigned long pfn(const page *p) const { return page_to_pfn(*f.ms, p); }
  // The first free block on mt's list of order `order`.
  page *first_free(unsigned order, int mt) const {
    const list_head *l = &z->free_area[order].free_list[mt];
    return list_empty(l) ? nullptr : list_first_entry(l, page, lru);
  }
};

// A free block moved to another type's list, its pageblock unchanged.
TEST_F(CheckDamageMobility, BlockOnAnotherTypesList) {
  page *p = first_free(MAX_PAGE_ORDER, MIGRATE_MOVABLE);
  ASSERT_NE(p, nullptr);
  list_move(&p->lru, &z->free_area[MAX_PAGE_ORDER].free_list[MIGRATE_UNMOVABLE]);
  expect_finds(f.check(), {where() + "free_area[10].free_list[Unmovable]: pfn " + hex(pfn(p)) +
                           " (order 10) is in a pageblock of type Movable"});
  list_move(&p->lru, &z->free_area[MAX_PAGE_ORDER].free_list[MIGRATE_MOVABLE]);
}

// A pageblock given a type without its free blocks moving along; and one
// given a value that is no migrate type at all.
TEST_F(CheckDamageMobility, PageblockRetypedUnderItsFreeBlocks) {
  page *p = first_free(MAX_PAGE_ORDER, MIGRATE_MOVABLE);
  ASSERT_NE(p, nullptr);
  const unsigned long second = pfn(p) + pageblock_nr_pages;
  poke_type(z, second, MIGRATE_RECLAIMABLE);
  expect_finds(f.check(), {"free_list[Movable]: pfn " + hex(pfn(p)) + " (order 10) is in a pageblock of type Reclaimable"});
  poke_type(z, second, 6);
  expect_finds(f.check(), {where() + "pageblock at pfn " + hex(second) + " has type 6, not a migrate type",
                           "is in a pageblock of type (invalid)"});
  // MIGRATE_TYPES itself is the first value that is no type (and has no name).
  poke_type(z, second, MIGRATE_TYPES);
  expect_finds(f.check(), {where() + "pageblock at pfn " + hex(second) + " has type " + std::to_string(MIGRATE_TYPES) +
                               ", not a migrate type",
                           "free_list[Movable]: pfn " + hex(pfn(p)) + " (order 10) is in a pageblock of type (invalid)"});
  poke_type(z, second, MIGRATE_MOVABLE);
}

// The type of every pageblock under a free block is checked, wherever the
// block lies and whatever its order: a MAX_PAGE_ORDER block with more
// memory above it (its second pageblock), and a block of an order inside
// one pageblock.
TEST_F(CheckDamageMobility, TypesUnderBlocksBelowTheZoneEnd) {
  const unsigned long end = zone_end_pfn(z);
  page *low = nullptr;
  list_for_each(e, &z->free_area[MAX_PAGE_ORDER].free_list[MIGRATE_MOVABLE]) {
    page *p = list_entry(e, page, lru);
    if (!low || pfn(p) < pfn(low)) low = p;
  }
  ASSERT_NE(low, nullptr);
  ASSERT_LT(pfn(low) + (1ul << MAX_PAGE_ORDER), end);
  const unsigned long second = pfn(low) + pageblock_nr_pages;
  poke_type(z, second, MIGRATE_RECLAIMABLE);
  expect_finds(f.check(), {where() + "free_area[10].free_list[Movable]: pfn " + hex(pfn(low)) +
                           " (order 10) is in a pageblock of type Reclaimable"});
  poke_type(z, second, MIGRATE_MOVABLE);

  // An order-0 allocation splits a block: free blocks of every order below.
  page *taken = alloc_pages(*f.ms, GFP_KERNEL | __GFP_DMA32, 0);
  ASSERT_NE(taken, nullptr);
  ASSERT_EQ(page_zone(*f.ms, taken), z);
  page *mid = nullptr;
  int mt = 0;
  for (; mt < int(MIGRATE_PCPTYPES) && !mid; mt++) mid = first_free(5, mt);
  mt--;
  ASSERT_NE(mid, nullptr);
  ASSERT_LT(pfn(mid) + 32, end);
  const int other = mt == MIGRATE_RECLAIMABLE ? MIGRATE_UNMOVABLE : MIGRATE_RECLAIMABLE;
  poke_type(z, pfn(mid), unsigned(other));
  expect_finds(f.check(), {where() + "free_area[5].free_list[" + migratetype_names[mt] + "]: pfn " + hex(pfn(mid)) +
                           " (order 5) is in a pageblock of type " + migratetype_names[other]});
  poke_type(z, pfn(mid), unsigned(mt));
  __free_pages(*f.ms, taken, 0);
}

// An isolated pageblock goes back to the type it saved, which must be an
// ordinary one (a HighAtomic reserve is never isolated); a pageblock not
// isolated keeps no saved type.
TEST_F(CheckDamageMobility, SavedTypeOfAnIsolatedPageblock) {
  page *p = first_free(MAX_PAGE_ORDER, MIGRATE_MOVABLE);
  ASSERT_NE(p, nullptr);
  const unsigned long b = pfn(p);
  set_pfnblock_flags_mask(z, b, MIGRATE_HIGHATOMIC << PB_isolate_saved, PB_ISOLATE_SAVED_MASK);
  expect_finds(f.check(), {where() + "pageblock at pfn " + hex(b) + " is Movable but keeps a saved type " +
                           std::to_string(MIGRATE_HIGHATOMIC) + " (an isolation not undone)"});
  poke_type(z, b, MIGRATE_ISOLATE);
  expect_finds(f.check(), {where() + "isolated pageblock at pfn " + hex(b) + " would go back to type " +
                           std::to_string(MIGRATE_HIGHATOMIC) + ", not an ordinary one"});
  poke_type(z, b, MIGRATE_MOVABLE);
  set_pfnblock_flags_mask(z, b, 0, PB_ISOLATE_SAVED_MASK);
}

// The highatomic count against the HIGHATOMIC pageblocks, both ways.
TEST_F(CheckDamageMobility, HighatomicCountAndPageblocksDisagree) {
  page *p = alloc_pages(*f.ms, GFP_KERNEL | __GFP_DMA32, pageblock_order);
  ASSERT_NE(p, nullptr);
  const int was = get_pfnblock_migratetype(z, pfn(p));
  poke_type(z, pfn(p), MIGRATE_HIGHATOMIC);
  expect_finds(f.check(), {where() + "nr_reserved_highatomic is 0, but 1 HighAtomic pageblocks hold 512 pages"});
  z->nr_reserved_highatomic = pageblock_nr_pages;
  EXPECT_EQ(f.check(), "");  // consistent again: a reserved pageblock in use
  z->nr_reserved_highatomic = 0;
  poke_type(z, pfn(p), was);
  __free_pages(*f.ms, p, pageblock_order);
}

// A reserve past 1% of the zone plus a pageblock by a whole order-10 block
// cannot come from reservations, which stop at the cap.
TEST_F(CheckDamageMobility, ReservePastItsCap) {
  std::vector<std::pair<page *, int>> held;
  const unsigned long cap = z->managed_pages / 100 + pageblock_nr_pages;
  while (z->nr_reserved_highatomic < cap + (1ul << MAX_PAGE_ORDER)) {
    page *p = alloc_pages(*f.ms, GFP_KERNEL | __GFP_DMA32 | __GFP_NOWARN, pageblock_order);
    ASSERT_NE(p, nullptr);
    held.push_back({p, get_pfnblock_migratetype(z, pfn(p))});
    poke_type(z, pfn(p), MIGRATE_HIGHATOMIC);
    z->nr_reserved_highatomic += pageblock_nr_pages;
  }
  expect_finds(f.check(), {where() + "nr_reserved_highatomic is " + std::to_string(z->nr_reserved_highatomic) +
                           ", past its cap " + std::to_string(cap)});
  // Exactly a whole order-10 block past it is already too far.
  const unsigned long counted = z->nr_reserved_highatomic;
  z->nr_reserved_highatomic = cap + (1ul << MAX_PAGE_ORDER);
  expect_finds(f.check(), {"nr_reserved_highatomic is " + std::to_string(cap + 1024) + ", past its cap"});
  z->nr_reserved_highatomic = counted;
  for (auto [p, mt] : held) {
    poke_type(z, pfn(p), mt);
    __free_pages(*f.ms, p, pageblock_order);
  }
  z->nr_reserved_highatomic = 0;
}

// A page on a per-CPU list whose pageblock is isolated (isolation drains
// them first: none may stay).
TEST_F(CheckDamageMobility, PerCpuPageInIsolatedPageblock) {
  f.ms->pcp_disabled = false;
  page *p = alloc_pages(*f.ms, GFP_KERNEL | __GFP_DMA32, 0);
  ASSERT_NE(p, nullptr);
  __free_pages(*f.ms, p, 0);
  ASSERT_TRUE(PagePcp(p));
  const int was = get_pfnblock_migratetype(z, pfn(p));
  poke_type(z, pfn(p), MIGRATE_ISOLATE);
  expect_finds(f.check(), {"pcp.lists[0]: pfn " + hex(pfn(p)) + " is in an isolated pageblock"});
  poke_type(z, pfn(p), was);
  drain_all_pages(*f.ms);
}

// Free pages moved to the isolated lists while NR_FREE_PAGES still counts
// them: isolated pages are not free for the watermarks.
TEST_F(CheckDamageMobility, IsolatedPagesCountedFree) {
  page *p = first_free(MAX_PAGE_ORDER, MIGRATE_MOVABLE);
  ASSERT_NE(p, nullptr);
  const unsigned long b = pfn(p);
  for (unsigned long blk : {b, b + pageblock_nr_pages}) poke_type(z, blk, MIGRATE_ISOLATE);
  list_move(&p->lru, &z->free_area[MAX_PAGE_ORDER].free_list[MIGRATE_ISOLATE]);
  expect_finds(f.check(), {where() + "NR_FREE_PAGES is " + std::to_string(zone_page_state_snapshot(z, NR_FREE_PAGES)) +
                           " but the free lists hold " +
                           std::to_string(zone_page_state_snapshot(z, NR_FREE_PAGES) - 1024) + " pages (and 1024 isolated ones)"});
  list_move(&p->lru, &z->free_area[MAX_PAGE_ORDER].free_list[MIGRATE_MOVABLE]);
  for (unsigned long blk : {b, b + pageblock_nr_pages}) poke_type(z, blk, MIGRATE_MOVABLE);
}

// Two free order-9 buddies of different ordinary types must have merged;
// with one of them highatomic (and counted), they rightly stay apart.
TEST_F(CheckDamageMobility, BuddiesOfOrdinaryTypesMerge) {
  page *p = first_free(MAX_PAGE_ORDER, MIGRATE_MOVABLE);
  ASSERT_NE(p, nullptr);
  const unsigned long b = pfn(p), second = b + pageblock_nr_pages;
  {
    spin_lock_irqsave_guard g(z->lock);
    del_from_free_list(z, p, MAX_PAGE_ORDER, MIGRATE_MOVABLE);
    add_to_free_list(z, p, pageblock_order, MIGRATE_MOVABLE);
    poke_type(z, second, MIGRATE_UNMOVABLE);
    add_to_free_list(z, pfn_to_page(*f.ms, second), pageblock_order, MIGRATE_UNMOVABLE);
  }
  expect_finds(f.check(), {where() + "free blocks at pfn " + hex(b) + " and its buddy " + hex(second) +
                           " are both free at order 9 (not merged)"});
  {
    spin_lock_irqsave_guard g(z->lock);
    del_from_free_list(z, pfn_to_page(*f.ms, second), pageblock_order, MIGRATE_UNMOVABLE);
    poke_type(z, second, MIGRATE_HIGHATOMIC);
    add_to_free_list(z, pfn_to_page(*f.ms, second), pageblock_order, MIGRATE_HIGHATOMIC);
    z->nr_reserved_highatomic = pageblock_nr_pages;
  }
  EXPECT_EQ(f.check(), "");
  {
    spin_lock_irqsave_guard g(z->lock);
    del_from_free_list(z, pfn_to_page(*f.ms, second), pageblock_order, MIGRATE_HIGHATOMIC);
    del_from_free_list(z, p, pageblock_order, MIGRATE_MOVABLE);
    poke_type(z, second, MIGRATE_MOVABLE);
    z->nr_reserved_highatomic = 0;
    add_to_free_list(z, p, MAX_PAGE_ORDER, MIGRATE_MOVABLE);
  }
}

// Without grouping no pageblock is MOVABLE or RECLAIMABLE.
TEST_F(CheckDamageMobility, OrdinaryTypesWithoutGrouping) {
  page *p = alloc_pages(*f.ms, GFP_KERNEL | __GFP_DMA32 | __GFP_RECLAIMABLE, pageblock_order);
  ASSERT_NE(p, nullptr);
  f.ms->page_group_by_mobility_disabled = true;
  expect_finds(f.check(), {"is Movable, but mobility grouping is off", "is Reclaimable, but mobility grouping is off"});
  f.ms->page_group_by_mobility_disabled = false;
  __free_pages(*f.ms, p, pageblock_order);
}

// The bitmap lost, or its base pointing at the wrong struct page.
TEST_F(CheckDamageMobility, BitmapLostOrMisplaced) {
  unsigned long *flags = z->pageblock_flags;
  z->pageblock_flags = nullptr;
  expect_finds(f.check(), {where() + "no pageblock bitmap"});
  z->pageblock_flags = flags;
  z->pageblock_base += sizeof(page);
  expect_finds(f.check(), {where() + "pageblock_base is "});
  // A wrong base does not stop the checks that read the bitmap by pfn: a
  // free block on another type's list is still named.
  page *p = first_free(MAX_PAGE_ORDER, MIGRATE_MOVABLE);
  ASSERT_NE(p, nullptr);
  list_move(&p->lru, &z->free_area[MAX_PAGE_ORDER].free_list[MIGRATE_UNMOVABLE]);
  expect_finds(f.check(), {where() + "pageblock_base is ", where() + "free_area[10].free_list[Unmovable]: pfn " +
                                                               hex(pfn(p)) + " (order 10) is in a pageblock of type Movable"});
  list_move(&p->lru, &z->free_area[MAX_PAGE_ORDER].free_list[MIGRATE_MOVABLE]);
  z->pageblock_base -= sizeof(page);
}

// The bit above the saved type is no flag at all: set, it is damage.
TEST_F(CheckDamageMobility, UnusedBitSet) {
  const unsigned long b = pageblock_start_pfn(z->zone_start_pfn) + pageblock_nr_pages;
  ASSERT_LT(b, zone_end_pfn(z));
  set_pfnblock_flags_mask(z, b, 1ul << PB_unused, 1ul << PB_unused);
  expect_finds(f.check(), {where() + "pageblock at pfn " + hex(b) + " has the unused bit set"});
  set_pfnblock_flags_mask(z, b, 0, 1ul << PB_unused);
}

// The cap is 1% of the zone's managed pages plus a pageblock, and one
// reservation (up to an order-10 block) made just below it may pass it: in
// a zone of 51300 to 51812 managed pages the cap is 1025 to 1030, so 1024
// reserved pages may take another 1024, and 2048 is no damage (a cap from
// managed / 101, 1020 to 1024, would call it one).
TEST(CheckDamageMobilityEdges, ReserveOneReservationPastItsCap) {
  mm_fixture f;
  zone *z = nullptr;
  // About 201 MiB, less what the boot takes: the first size that lands there.
  for (u64 mib = 200; mib <= 210 && !z; mib++) {
    ASSERT_EQ(build_single_zone(f, mib * SZ_1M), 0);
    zone *first = first_managed_zone(*f.ms);
    if (first->managed_pages >= 51300 && first->managed_pages <= 51812) z = first;
  }
  ASSERT_NE(z, nullptr) << "no size from 200 to 210 MiB gives 51300 to 51812 managed pages";
  f.ms->pcp_disabled = true;
  drain_all_pages(*f.ms);
  std::vector<std::pair<page *, int>> held;
  while (z->nr_reserved_highatomic < 2048) {
    page *p = alloc_pages(*f.ms, GFP_KERNEL | __GFP_NOWARN, pageblock_order);
    ASSERT_NE(p, nullptr);
    const unsigned long pfn = page_to_pfn(*f.ms, p);
    held.push_back({p, get_pfnblock_migratetype(z, pfn)});
    poke_type(z, pfn, MIGRATE_HIGHATOMIC);
    z->nr_reserved_highatomic += pageblock_nr_pages;
  }
  EXPECT_EQ(f.check(), "");
  // One more pageblock is a reservation made at or past the cap.
  z->nr_reserved_highatomic += pageblock_nr_pages;
  expect_finds(f.check(), {"nr_reserved_highatomic is 2560, past its cap " +
                           std::to_string(z->managed_pages / 100 + pageblock_nr_pages)});
  z->nr_reserved_highatomic -= pageblock_nr_pages;
  for (auto [p, mt] : held) {
    poke_type(z, page_to_pfn(*f.ms, p), mt);
    __free_pages(*f.ms, p, pageblock_order);
  }
  z->nr_reserved_highatomic = 0;
  EXPECT_EQ(f.check(), "");
}

// A partial pageblock (the zone starts inside it) can never be reserved.
TEST(CheckDamageMobilityEdges, PartialPageblockReserved) {
  mm_fixture f;
  ASSERT_EQ(build_three_zones(f), 0);
  zone *dma = &f.ms->node_data[0]->node_zones[ZONE_DMA];
  ASSERT_NE(dma->zone_start_pfn % pageblock_nr_pages, 0ul);
  poke_type(dma, dma->zone_start_pfn, MIGRATE_HIGHATOMIC);
  dma->nr_reserved_highatomic = pageblock_nr_pages;
  expect_finds(f.check(), {"node 0 zone DMA: pageblock at pfn " + hex(pageblock_start_pfn(dma->zone_start_pfn)) +
                           " is HighAtomic but not wholly in the zone"});
  poke_type(dma, dma->zone_start_pfn, MIGRATE_MOVABLE);
  dma->nr_reserved_highatomic = 0;
  EXPECT_EQ(f.check(), "");
}

// A zone ending inside a pageblock: that last pageblock can never be
// reserved either.
TEST(CheckDamageMobilityEdges, PartialLastPageblockReserved) {
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 65 * SZ_1M), 0);
  zone *z = first_managed_zone(*f.ms);
  const unsigned long end = zone_end_pfn(z), last = pageblock_start_pfn(end - 1);
  ASSERT_NE(end % pageblock_nr_pages, 0ul);
  const int was = get_pfnblock_migratetype(z, last);
  poke_type(z, last, MIGRATE_HIGHATOMIC);
  z->nr_reserved_highatomic = pageblock_nr_pages;
  expect_finds(f.check(), {"pageblock at pfn " + hex(last) + " is HighAtomic but not wholly in the zone"});
  poke_type(z, last, was);
  z->nr_reserved_highatomic = 0;
  EXPECT_EQ(f.check(), "");
}

// The zone's first pageblock, when the zone starts on a pageblock boundary,
// may be reserved like any other: made HighAtomic with every free block in
// it (and in its order-10 buddy half) moved to the HighAtomic lists and
// counted, the zone is consistent.
TEST(CheckDamageMobilityEdges, FirstWholePageblockReserved) {
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f), 0);
  f.ms->pcp_disabled = true;
  drain_all_pages(*f.ms);
  zone *z = first_managed_zone(*f.ms);
  const unsigned long start = z->zone_start_pfn, span = 1ul << MAX_PAGE_ORDER;
  ASSERT_EQ(start % span, 0ul);
  auto move_free_blocks = [&](int to) {
    spin_lock_irqsave_guard g(z->lock);
    for (unsigned o = 0; o < NR_PAGE_ORDERS; o++)
      for (int mt = 0; mt < int(MIGRATE_TYPES); mt++) {
        if (mt == to) continue;
        std::vector<page *> in_range;
        list_for_each(e, &z->free_area[o].free_list[mt]) {
          page *p = list_entry(e, page, lru);
          unsigned long pfn = page_to_pfn(*f.ms, p);
          if (pfn >= start && pfn < start + span) in_range.push_back(p);
        }
        for (page *p : in_range) list_move(&p->lru, &z->free_area[o].free_list[to]);
      }
  };
  for (unsigned long b = start; b < start + span; b += pageblock_nr_pages) {
    ASSERT_EQ(get_pfnblock_migratetype(z, b), int(MIGRATE_MOVABLE));
    poke_type(z, b, MIGRATE_HIGHATOMIC);
  }
  move_free_blocks(MIGRATE_HIGHATOMIC);
  z->nr_reserved_highatomic = span;
  EXPECT_EQ(f.check(), "");
  for (unsigned long b = start; b < start + span; b += pageblock_nr_pages) poke_type(z, b, MIGRATE_MOVABLE);
  move_free_blocks(MIGRATE_MOVABLE);
  z->nr_reserved_highatomic = 0;
  EXPECT_EQ(f.check(), "");
}

// mm.check=1 names an allocation out of an isolated pageblock at once.
TEST_F(CheckDamageMobility, PerCallCheckSeesAnIsolatedHandOut) {
  f.ms->check_calls = true;
  // With the lists off, an order-0 movable request takes the first block of
  // the smallest order on the MOVABLE lists.
  page *next = nullptr;
  for (unsigned o = 0; o < NR_PAGE_ORDERS && !next; o++) next = first_free(o, MIGRATE_MOVABLE);
  ASSERT_NE(next, nullptr);
  const int was = get_pfnblock_migratetype(z, pfn(next));
  poke_type(z, pfn(next), MIGRATE_ISOLATE);
  const unsigned long before = f.ms->check_violations;
  page *p = alloc_pages(*f.ms, GFP_USER | __GFP_MOVABLE | __GFP_DMA32, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(pageblock_start_pfn(pfn(p)), pageblock_start_pfn(pfn(next)));
  EXPECT_GT(f.ms->check_violations, before);
  poke_type(z, pfn(next), was);
  f.ms->check_calls = false;
  __free_pages(*f.ms, p, 0);
}


// Without a bitmap the types of free blocks cannot be read: a pair of free
// buddies of pageblock order left unmerged is still named (as if of
// mergeable types), and an allocation in the zone is no reason to read the
// missing bitmap either.
TEST_F(CheckDamageMobility, BitmapLostWithUnmergedBuddiesAndAnAllocation) {
  page *p = first_free(MAX_PAGE_ORDER, MIGRATE_MOVABLE);
  ASSERT_NE(p, nullptr);
  const unsigned long lo = pfn(p), hi = lo + pageblock_nr_pages;
  {
    spin_lock_irqsave_guard g(z->lock);
    del_from_free_list(z, p, MAX_PAGE_ORDER, MIGRATE_MOVABLE);
    add_to_free_list(z, p + pageblock_nr_pages, pageblock_order, MIGRATE_MOVABLE);
    add_to_free_list(z, p, pageblock_order, MIGRATE_MOVABLE);
  }
  const std::string unmerged = where() + "free blocks at pfn " + hex(lo) + " and its buddy " + hex(hi) +
                               " are both free at order " + std::to_string(pageblock_order) + " (not merged)";
  EXPECT_EQ(f.check(), "1 violations:\n" + unmerged + "\n");
  unsigned long *flags = z->pageblock_flags;
  z->pageblock_flags = nullptr;
  EXPECT_EQ(f.check(), "2 violations:\n" + where() + "no pageblock bitmap\n" + unmerged + "\n");
  z->pageblock_flags = flags;
  {
    spin_lock_irqsave_guard g(z->lock);
    del_from_free_list(z, p, pageblock_order, MIGRATE_MOVABLE);
    del_from_free_list(z, p + pageblock_nr_pages, pageblock_order, MIGRATE_MOVABLE);
    add_to_free_list(z, p, MAX_PAGE_ORDER, MIGRATE_MOVABLE);
  }
  page *a = alloc_pages(*f.ms, GFP_KERNEL | __GFP_DMA32, 0);
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(page_zone(*f.ms, a), z);
  z->pageblock_flags = nullptr;
  EXPECT_EQ(f.check(), "1 violations:\n" + where() + "no pageblock bitmap\n");
  z->pageblock_flags = flags;
  __free_pages(*f.ms, a, 0);
}

}  // namespace

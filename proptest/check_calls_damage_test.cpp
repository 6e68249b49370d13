// mm.check=1's per-call checks (mm/check_calls.cpp) called on states that
// are damaged in exactly one way each: a returned block that is misaligned,
// runs past its zone, lies in a zone the gfp does not allow, records another
// order or still carries a free, slab or reserved mark or a wrong refcount;
// two free buddies left unmerged (and the pageblock types that may keep them
// apart); a contiguous range that is not what alloc_contig_pages promises;
// an object from somewhere else. Each call must name the damage, and say
// nothing about an undamaged state.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "mm/check.h"
#include "mm/compaction.h"
#include "mm/page_alloc_internal.h"
#include "mm/slab_internal.h"
#include "proptest/check_damage.h"
#include "proptest/vmalloc_fixture.h"

namespace {

struct CheckCallsDamage : ::testing::Test {
  vmalloc_fixture f;
  mem_system &ms() { return *f.slab.mm.ms; }
  void SetUp() override { ASSERT_EQ(f.build(layout_kind::across_4g), 0); }

  zone *zone_of(zone_type t) { return &ms().node_data[0]->node_zones[t]; }
  unsigned long pfn(const page *p) { return page_to_pfn(ms(), p); }
  page *page_at(unsigned long pfn) { return pfn_to_page(ms(), pfn); }

  // What one per-call check printed; *n: the violations it counted.
  template <class F> std::string run(unsigned long *n, F &&call) {
    const unsigned long before = ms().check_violations;
    log_buf_clear();
    call();
    *n = ms().check_violations - before;
    return slabt::read_log();
  }
  // A page of Normal just freed on CPU 0, onto its per-CPU list; nullptr
  // if it did not go there.
  page *freed_to_pcp() {
    page *p = alloc_pages(ms(), GFP_KERNEL, 0);
    if (!p || page_zone(ms(), p) != zone_of(ZONE_NORMAL)) return nullptr;
    __free_pages(ms(), p, 0);
    return PagePcp(p) ? p : nullptr;
  }
  std::string alloc_call(const page *p, unsigned order, gfp_t gfp, unsigned long *n) {
    return run(n, [&] { check_alloc_call(ms(), p, order, gfp, 0); });
  }
  // A new cache of 48-byte objects and two objects of it, from one slab
  // (*slab); nullptr if that fails.
  kmem_cache *cache_with_two(const char *name, void **a, void **b, page **slab) {
    kmem_cache *c = kmem_cache_create(*f.slab.sa, name, 48, 0, 0, nullptr);
    if (!c) return nullptr;
    *a = kmem_cache_alloc(c, GFP_KERNEL);
    *b = kmem_cache_alloc(c, GFP_KERNEL);
    *slab = *a ? addr_to_slab(ms(), *a) : nullptr;
    return *b && *slab && addr_to_slab(ms(), *b) == *slab ? c : nullptr;
  }
};

std::string fmt(const char *f, unsigned long a, unsigned long b = 0, unsigned long c = 0) {
  char buf[256];
  snprintf(buf, sizeof(buf), f, a, b, c);
  return buf;
}

// ---- the block alloc_pages returned --------------------------------------------------------

// A healthy block of each order passes; each thing that can be wrong with
// one page of it is named with that page, first and last page alike.
TEST_F(CheckCallsDamage, ReturnedBlockPages) {
  page *p = alloc_pages(ms(), GFP_KERNEL, 2);
  ASSERT_NE(p, nullptr);
  unsigned long n;
  EXPECT_EQ(alloc_call(p, 2, GFP_KERNEL, &n), "");
  EXPECT_EQ(n, 0ul);
  const unsigned long at = pfn(p);
  for (unsigned i : {0u, 3u}) {
    for (pageflags flag : {PG_buddy, PG_pcp, PG_slab, PG_reserved}) {
      SCOPED_TRACE("page " + std::to_string(i) + " flag " + std::to_string(flag));
      set_page_flag(p + i, flag);
      const std::string log = alloc_call(p, 2, GFP_KERNEL, &n);
      EXPECT_EQ(n, 1ul) << log;
      EXPECT_NE(log.find(fmt("alloc: pfn %#lx of the returned block is still free, slab or reserved (flags %#lx)",
                             at + i, p[i].flags)),
                std::string::npos)
          << log;
      clear_page_flag(p + i, flag);
    }
  }
  set_page_count(p, 2);
  std::string log = alloc_call(p, 2, GFP_KERNEL, &n);
  EXPECT_EQ(n, 1ul) << log;
  EXPECT_NE(log.find(fmt("alloc: pfn %#lx has refcount 2, not 1", at)), std::string::npos) << log;
  set_page_count(p, 1);
  set_page_count(p + 3, 1);
  log = alloc_call(p, 2, GFP_KERNEL, &n);
  EXPECT_EQ(n, 1ul) << log;
  EXPECT_NE(log.find(fmt("alloc: pfn %#lx has refcount 1, not 0", at + 3)), std::string::npos) << log;
  set_page_count(p + 3, 0);
  p->alloc_order = 3;
  log = alloc_call(p, 2, GFP_KERNEL, &n);
  EXPECT_NE(log.find("alloc: head records order 3, not 2"), std::string::npos) << log;
  p->alloc_order = 2;
  EXPECT_EQ(alloc_call(p, 2, GFP_KERNEL, &n), "");
  __free_pages(ms(), p, 2);
}

// The block's place: aligned to its order, inside its zone (up to its last
// page, no further), in a zone the gfp allows.
TEST_F(CheckCallsDamage, ReturnedBlockPlace) {
  unsigned long n;
  page *p = alloc_pages(ms(), GFP_KERNEL, 1);
  ASSERT_NE(p, nullptr);
  std::string log = alloc_call(p + 1, 1, GFP_KERNEL, &n);
  EXPECT_NE(log.find(fmt("alloc: pfn %#lx is not aligned to its order 1", pfn(p) + 1)), std::string::npos) << log;
  __free_pages(ms(), p, 1);

  // DMA32 ends at 4 GiB: blocks at its first and last pages are inside it,
  // one page more is not. Only the place is looked at here.
  zone *z = zone_of(ZONE_DMA32);
  const unsigned long start = z->zone_start_pfn, end = zone_end_pfn(z);
  for (unsigned order : {1u, 3u}) {
    log = alloc_call(page_at(start), order, GFP_KERNEL, &n);
    EXPECT_EQ(log.find("runs past"), std::string::npos) << log;
    log = alloc_call(page_at(end - (1ul << order)), order, GFP_KERNEL, &n);
    EXPECT_EQ(log.find("runs past"), std::string::npos) << log;
    log = alloc_call(page_at(end - (1ul << order) + 1), order, GFP_KERNEL, &n);
    EXPECT_NE(log.find(fmt("alloc: block %#lx order %lu runs past zone DMA32", end - (1ul << order) + 1, order)),
              std::string::npos)
        << log;
  }

  // Zones: DMA32 allows DMA32 and below, GFP_KERNEL Normal and below.
  page *normal = alloc_pages(ms(), GFP_KERNEL, 0);
  page *low = alloc_pages(ms(), GFP_KERNEL | __GFP_DMA32, 0);
  ASSERT_TRUE(normal && low);
  ASSERT_EQ(page_zone(ms(), normal), zone_of(ZONE_NORMAL));
  ASSERT_EQ(page_zone(ms(), low), z);
  EXPECT_EQ(alloc_call(low, 0, GFP_KERNEL | __GFP_DMA32, &n), "");
  EXPECT_EQ(alloc_call(low, 0, GFP_KERNEL, &n), "");
  log = alloc_call(normal, 0, GFP_KERNEL | __GFP_DMA32, &n);
  EXPECT_EQ(n, 1ul) << log;
  EXPECT_NE(log.find(fmt("alloc: gfp %#lx allows zones up to 1, but pfn %#lx is in zone Normal",
                         GFP_KERNEL | __GFP_DMA32, pfn(normal))),
            std::string::npos)
      << log;
  __free_pages(ms(), normal, 0);
  __free_pages(ms(), low, 0);
  EXPECT_EQ(f.check(), "");
}

// __GFP_THISNODE without a node (NUMA_NO_NODE) holds the block to none.
TEST_F(CheckCallsDamage, ThisNodeWithoutANode) {
  page *p = alloc_pages(ms(), GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  unsigned long n;
  EXPECT_EQ(run(&n, [&] { check_alloc_call(ms(), p, 0, GFP_KERNEL | __GFP_THISNODE, NUMA_NO_NODE); }), "");
  EXPECT_EQ(n, 0ul);
  __free_pages(ms(), p, 0);
}

// ---- coalescing after a free ---------------------------------------------------------------

// Splits the free MAX_PAGE_ORDER block at head into its two halves, both
// left free on their lists (as a free that forgot to merge would), with the
// given pageblock types; returns the upper half.
page *split_unmerged(zone *z, page *head, int low_mt, int high_mt) {
  const unsigned o = MAX_PAGE_ORDER - 1;
  page *high = head + (1ul << o);
  const unsigned long head_pfn = z->zone_start_pfn + (head - z->zone_mem_map);
  list_del(&head->lru);
  z->free_area[MAX_PAGE_ORDER].nr_free--;
  set_pfnblock_flags_mask(z, head_pfn, unsigned(low_mt), MIGRATETYPE_MASK);
  set_pfnblock_flags_mask(z, head_pfn + (1ul << o), unsigned(high_mt), MIGRATETYPE_MASK);
  head->private_ = o;
  list_add(&head->lru, &z->free_area[o].free_list[low_mt]);
  set_page_flag(high, PG_buddy);
  high->private_ = o;
  list_add(&high->lru, &z->free_area[o].free_list[high_mt]);
  z->free_area[o].nr_free += 2;
  return high;
}

// Undoes split_unmerged.
void merge_back(zone *z, page *head, page *high, int mt) {
  const unsigned o = MAX_PAGE_ORDER - 1;
  const unsigned long head_pfn = z->zone_start_pfn + (head - z->zone_mem_map);
  list_del(&head->lru);
  list_del(&high->lru);
  z->free_area[o].nr_free -= 2;
  clear_page_flag(high, PG_buddy);
  high->private_ = 0;
  head->private_ = MAX_PAGE_ORDER;
  set_pfnblock_flags_mask(z, head_pfn, unsigned(mt), MIGRATETYPE_MASK);
  set_pfnblock_flags_mask(z, head_pfn + (1ul << o), unsigned(mt), MIGRATETYPE_MASK);
  list_add(&head->lru, &z->free_area[MAX_PAGE_ORDER].free_list[mt]);
  z->free_area[MAX_PAGE_ORDER].nr_free++;
}

// Two free buddies of one order are named after a free of either, unless
// their pageblocks are of different types one of which (HighAtomic,
// Isolate) keeps its pages apart. A healthy MAX_PAGE_ORDER block has no
// buddy to merge with.
TEST_F(CheckCallsDamage, UnmergedBuddies) {
  zone *z = zone_of(ZONE_DMA32);
  const list_head *l = &z->free_area[MAX_PAGE_ORDER].free_list[MIGRATE_MOVABLE];
  ASSERT_FALSE(list_empty(l));
  page *head = list_first_entry(l, page, lru);
  const unsigned long hp = pfn(head), o = MAX_PAGE_ORDER - 1, bp = hp + (1ul << o);
  unsigned long n;
  EXPECT_EQ(run(&n, [&] { check_free_call(ms(), hp); }), "");
  EXPECT_EQ(run(&n, [&] { check_free_call(ms(), hp + 5); }), "");

  struct types {
    int low, high;
    bool merge;
  };
  for (types t : {types{MIGRATE_MOVABLE, MIGRATE_MOVABLE, true}, types{MIGRATE_MOVABLE, MIGRATE_UNMOVABLE, true},
                  types{MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE, true}, types{MIGRATE_MOVABLE, MIGRATE_HIGHATOMIC, false},
                  types{MIGRATE_HIGHATOMIC, MIGRATE_MOVABLE, false}, types{MIGRATE_ISOLATE, MIGRATE_MOVABLE, false},
                  types{MIGRATE_HIGHATOMIC, MIGRATE_HIGHATOMIC, true}}) {
    SCOPED_TRACE(std::string(migratetype_names[t.low]) + " + " + migratetype_names[t.high]);
    page *high = split_unmerged(z, head, t.low, t.high);
    const unsigned long isolated = t.low == MIGRATE_ISOLATE ? 1ul << o : 0;
    z->vm_stat[NR_FREE_PAGES] -= long(isolated);  // isolated pages are not counted free
    for (unsigned long freed : {hp, bp + 7}) {
      const std::string log = run(&n, [&] { check_free_call(ms(), freed); });
      const unsigned long a = freed == hp ? hp : bp, b = freed == hp ? bp : hp;
      if (t.merge) {
        EXPECT_EQ(n, 1ul) << log;
        EXPECT_NE(log.find(fmt("zone DMA32: free blocks at pfn %#lx and its buddy %#lx, both order %lu, did not merge",
                               a, b, o)),
                  std::string::npos)
            << log;
      } else {
        EXPECT_EQ(log, "");
      }
    }
    z->vm_stat[NR_FREE_PAGES] += long(isolated);
    merge_back(z, head, high, MIGRATE_MOVABLE);
  }
  // A buddy free at another order is no pair.
  page *high = split_unmerged(z, head, MIGRATE_MOVABLE, MIGRATE_MOVABLE);
  high->private_ = o - 1;
  list_move(&high->lru, &z->free_area[o - 1].free_list[MIGRATE_MOVABLE]);
  z->free_area[o].nr_free--;
  z->free_area[o - 1].nr_free++;
  z->vm_stat[NR_FREE_PAGES] -= long(1ul << (o - 1));
  EXPECT_EQ(run(&n, [&] { check_free_call(ms(), hp); }), "");
  z->vm_stat[NR_FREE_PAGES] += long(1ul << (o - 1));
  high->private_ = o;
  list_move(&high->lru, &z->free_area[o].free_list[MIGRATE_MOVABLE]);
  z->free_area[o].nr_free++;
  z->free_area[o - 1].nr_free--;
  merge_back(z, head, high, MIGRATE_MOVABLE);
  EXPECT_EQ(f.check(), "");
}

// A block's buddy is looked for in its own zone only: where DMA32 ends
// half-way through a MAX_PAGE_ORDER block, its last free block (order
// MAX_PAGE_ORDER - 1) has its buddy position in Normal, whose first free
// block has that order too. They are no pair.
TEST(CheckCallsZones, BuddyAcrossTheZoneEndIsNoPair) {
  mm_fixture f;
  constexpr unsigned long base = 0x80000000ul >> PAGE_SHIFT, half = 1ul << (MAX_PAGE_ORDER - 1);
  ASSERT_EQ(f.build({{0x80000000, 128 * SZ_1M, 0}}, layout_with_limits(0, base + 33 * half, PFN_MAX)), 0);
  mem_system &ms = *f.ms;
  const zone *dma32 = &ms.node_data[0]->node_zones[ZONE_DMA32];
  const unsigned long end = zone_end_pfn(dma32);
  ASSERT_EQ(end, base + 33 * half);
  const page *last = pfn_to_page(ms, end - half), *next = pfn_to_page(ms, end);
  ASSERT_TRUE(PageBuddy(last) && PageBuddy(next));
  ASSERT_EQ(last->private_, MAX_PAGE_ORDER - 1);
  ASSERT_EQ(next->private_, MAX_PAGE_ORDER - 1);
  log_buf_clear();
  check_free_call(ms, end - half);
  check_free_call(ms, end);
  EXPECT_EQ(ms.check_violations, 0ul);
  EXPECT_EQ(slabt::read_log(), "");
  EXPECT_EQ(f.check(), "");
}

// ---- this CPU's per-CPU list ----------------------------------------------------------------

// This CPU's per-CPU list is left alone while its lock is held (an
// interrupted holder may be mid-update): nothing is said, and the lock stays
// its holder's. Once the lock is free, a count off by one is named.
TEST_F(CheckCallsDamage, BusyPcpListIsSkipped) {
  per_cpu_pages &pcp = zone_of(ZONE_NORMAL)->pcp[0];
  page *p = freed_to_pcp();
  ASSERT_NE(p, nullptr);
  const unsigned long at = pfn(p);
  page *q = alloc_pages(ms(), GFP_KERNEL, 0);
  ASSERT_NE(q, nullptr);
  ASSERT_EQ(page_zone(ms(), q), zone_of(ZONE_NORMAL));
  pcp.count += 1;
  unsigned long n;
  spin_lock(&pcp.lock);
  EXPECT_EQ(run(&n, [&] { check_free_call(ms(), at); }), "");
  EXPECT_TRUE(spin_is_locked(&pcp.lock));
  spin_unlock(&pcp.lock);
  const std::string log = run(&n, [&] { check_free_call(ms(), at); });
  const std::string want = "zone Normal: CPU 0's pcp count is " + std::to_string(pcp.count) + ", its lists hold " +
                           std::to_string(pcp.count - 1) + " pages";
  EXPECT_EQ(n, 1ul) << log;
  EXPECT_NE(log.find(want), std::string::npos) << log;
  // The same after an allocation from the zone.
  EXPECT_NE(alloc_call(q, 0, GFP_KERNEL, &n).find(want), std::string::npos);
  EXPECT_EQ(n, 1ul);
  pcp.count -= 1;
  __free_pages(ms(), q, 0);
  EXPECT_EQ(f.check(), "");
}

// A per-CPU list that loops without coming back to its head is walked only
// so far: the check ends, and counts that list one entry past the zone's
// pages, more than any real list can hold.
TEST_F(CheckCallsDamage, LoopingPcpListIsCutOff) {
  per_cpu_pages &pcp = zone_of(ZONE_NORMAL)->pcp[0];
  page *p = freed_to_pcp();
  ASSERT_NE(p, nullptr);
  const unsigned long at = pfn(p);
  long others = 0;
  unsigned holding = NR_PCP_LISTS;
  for (unsigned i = 0; i < NR_PCP_LISTS; i++) {
    long len = 0;
    list_for_each(e, &pcp.lists[i]) {
      if (e == &p->lru) holding = i;
      len++;
    }
    if (holding != i) others += len << (i / MIGRATE_PCPTYPES);
  }
  ASSERT_LT(holding, NR_PCP_LISTS);
  list_head *next = p->lru.next;
  p->lru.next = &p->lru;
  unsigned long n;
  const std::string log = run(&n, [&] { check_free_call(ms(), at); });
  p->lru.next = next;
  EXPECT_EQ(n, 1ul) << log;
  EXPECT_NE(log.find("zone Normal: CPU 0's pcp count is " + std::to_string(pcp.count) + ", its lists hold " +
                     std::to_string(others + long(zone_of(ZONE_NORMAL)->spanned_pages) + 1) + " pages"),
            std::string::npos)
      << log;
  EXPECT_EQ(f.check(), "");
}

// ---- the range alloc_contig_pages returned -------------------------------------------------

// A range that leaves its zone (or starts where there is no page) is named;
// a range in a zone the gfp does not allow is named; a range of the zone
// the gfp names passes.
TEST_F(CheckCallsDamage, ContigRangePlace) {
  unsigned long n;
  const unsigned long boundary = zone_end_pfn(zone_of(ZONE_DMA32));
  std::string log = run(&n, [&] { check_contig_call(ms(), boundary - 8, 16, GFP_KERNEL); });
  EXPECT_EQ(n, 1ul) << log;
  EXPECT_NE(log.find(fmt("contig: [%#lx, +%lu) is not in one zone", boundary - 8, 16)), std::string::npos) << log;
  log = run(&n, [&] { check_contig_call(ms(), 0, 1, GFP_KERNEL); });
  EXPECT_NE(log.find("contig: [0, +1) is not in one zone"), std::string::npos) << log;
  // Up to the zone's last page is in it; one page further is not (only the
  // place is looked at here).
  log = run(&n, [&] { check_contig_call(ms(), boundary - 16, 16, GFP_KERNEL); });
  EXPECT_EQ(log.find("is not in one zone"), std::string::npos) << log;
  log = run(&n, [&] { check_contig_call(ms(), boundary - 15, 16, GFP_KERNEL); });
  EXPECT_NE(log.find(fmt("contig: [%#lx, +%lu) is not in one zone", boundary - 15, 16)), std::string::npos) << log;

  page *c = alloc_contig_pages(ms(), 16, GFP_KERNEL | __GFP_DMA32, 0);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(page_zone(ms(), c), zone_of(ZONE_DMA32));
  EXPECT_EQ(run(&n, [&] { check_contig_call(ms(), pfn(c), 16, GFP_KERNEL | __GFP_DMA32); }), "");
  EXPECT_EQ(free_contig_range(ms(), pfn(c), 16), 0ul);
  c = alloc_contig_pages(ms(), 16, GFP_KERNEL, 0);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(page_zone(ms(), c), zone_of(ZONE_NORMAL));
  EXPECT_EQ(run(&n, [&] { check_contig_call(ms(), pfn(c), 16, GFP_KERNEL); }), "");
  log = run(&n, [&] { check_contig_call(ms(), pfn(c), 16, GFP_KERNEL | __GFP_DMA32); });
  EXPECT_EQ(n, 1ul) << log;
  EXPECT_NE(log.find(fmt("contig: gfp %#lx allows zones up to 1, but the range is in zone Normal",
                         GFP_KERNEL | __GFP_DMA32)),
            std::string::npos)
      << log;
  EXPECT_EQ(free_contig_range(ms(), pfn(c), 16), 0ul);
  EXPECT_EQ(f.check(), "");
}

// Every page of the range must be a plain order-0 page with one reference:
// each mark or count that says otherwise, on its first or last page, is
// named (the first such page only). A pageblock of the range left isolated
// is named; the pageblock after the range is not the range's.
TEST_F(CheckCallsDamage, ContigRangePages) {
  const unsigned long nr = 2 * pageblock_nr_pages;
  page *c = alloc_contig_pages(ms(), nr, GFP_KERNEL, 0);
  ASSERT_NE(c, nullptr);
  const unsigned long first = pfn(c);
  ASSERT_EQ(first % pageblock_nr_pages, 0ul);
  unsigned long n;
  auto call = [&] { return run(&n, [&] { check_contig_call(ms(), first, nr, GFP_KERNEL); }); };
  EXPECT_EQ(call(), "");
  for (unsigned long i : {0ul, nr - 1}) {
    page *q = c + i;
    const std::string want = fmt("contig: pfn %#lx is not an order-0 page with one reference", first + i);
    for (pageflags flag : {PG_buddy, PG_pcp, PG_slab, PG_reserved, PG_movable, PG_isolated}) {
      SCOPED_TRACE("page " + std::to_string(i) + " flag " + std::to_string(flag));
      set_page_flag(q, flag);
      const std::string log = call();
      EXPECT_EQ(n, 1ul) << log;
      EXPECT_NE(log.find(want), std::string::npos) << log;
      clear_page_flag(q, flag);
    }
    set_page_count(q, 2);
    std::string log = call();
    EXPECT_NE(log.find(want + fmt(" (flags %#lx, refcount 2)", q->flags)), std::string::npos) << log;
    set_page_count(q, 1);
    q->alloc_order = 1;
    log = call();
    EXPECT_NE(log.find(want), std::string::npos) << log;
    q->alloc_order = 0;
  }
  // Two bad pages: the first is named, once.
  set_page_flag(c + 3, PG_slab);
  set_page_flag(c + 5, PG_slab);
  std::string log = call();
  EXPECT_EQ(n, 1ul) << log;
  EXPECT_NE(log.find(fmt("contig: pfn %#lx is not", first + 3)), std::string::npos) << log;
  clear_page_flag(c + 3, PG_slab);
  clear_page_flag(c + 5, PG_slab);

  zone *z = page_zone(ms(), c);
  for (unsigned long b : {first, first + pageblock_nr_pages}) {
    const int mt = get_pfnblock_migratetype(z, b);
    set_pfnblock_flags_mask(z, b, MIGRATE_ISOLATE, MIGRATETYPE_MASK);
    log = call();
    EXPECT_EQ(n, 1ul) << log;
    EXPECT_NE(log.find(fmt("contig: pageblock %#lx is still isolated", b)), std::string::npos) << log;
    set_pfnblock_flags_mask(z, b, unsigned(mt), MIGRATETYPE_MASK);
  }
  const unsigned long after = first + nr;
  if (zone_spans_pfn(z, after)) {
    const int mt = get_pfnblock_migratetype(z, after);
    set_pfnblock_flags_mask(z, after, MIGRATE_ISOLATE, MIGRATETYPE_MASK);
    EXPECT_EQ(call(), "");
    set_pfnblock_flags_mask(z, after, unsigned(mt), MIGRATETYPE_MASK);
  }
  EXPECT_EQ(free_contig_range(ms(), first, nr), 0ul);
  EXPECT_EQ(f.check(), "");
}

// ---- the object kmem_cache_alloc returned --------------------------------------------------

// An object that is not one of the cache's (another cache's, or no slab's
// at all) is named, and the check says so.
TEST_F(CheckCallsDamage, SlabObjectFromElsewhere) {
  slab_allocator &sa = *f.slab.sa;
  kmem_cache *a = kmem_cache_create(sa, "cc-a", 48, 0, 0, nullptr);
  kmem_cache *b = kmem_cache_create(sa, "cc-b", 48, 0, 0, nullptr);
  ASSERT_TRUE(a && b);
  void *x = kmem_cache_alloc(a, GFP_KERNEL);
  ASSERT_NE(x, nullptr);
  unsigned long n;
  bool ok = false;
  EXPECT_EQ(run(&n, [&] { ok = check_slab_alloc_call(a, x); }), "");
  EXPECT_TRUE(ok);
  std::string log = run(&n, [&] { ok = check_slab_alloc_call(b, x); });
  EXPECT_FALSE(ok);
  EXPECT_EQ(n, 1ul);
  EXPECT_NE(log.find("cc-b: object " + damage::ptr(x) + " is not in one of the cache's slabs"), std::string::npos)
      << log;
  page *pg = alloc_pages(ms(), GFP_KERNEL, 0);
  ASSERT_NE(pg, nullptr);
  void *plain = page_address(ms(), pg);
  log = run(&n, [&] { ok = check_slab_alloc_call(a, plain); });
  EXPECT_FALSE(ok);
  EXPECT_NE(log.find("cc-a: object " + damage::ptr(plain) + " is not in one of the cache's slabs"),
            std::string::npos)
      << log;
  __free_pages(ms(), pg, 0);
  kmem_cache_free(a, x);
  EXPECT_EQ(kmem_cache_destroy(a), 0);
  EXPECT_EQ(kmem_cache_destroy(b), 0);
}

// The walk of this CPU's own slab's freelist goes past its first entry
// (object 0 of the slab here) to the object handed out.
TEST_F(CheckCallsDamage, SlabHandOutDeepInTheFreelist) {
  void *a, *b;
  page *slab;
  kmem_cache *c = cache_with_two("cc-deep", &a, &b, &slab);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(slab_obj_index(ms(), c, slab, a), 0);
  kmem_cache_free(c, b);
  kmem_cache_free(c, a);  // the freelist: a (object 0), then b
  ASSERT_EQ(slab->freelist, a);
  unsigned long n;
  const std::string log = run(&n, [&] { check_slab_alloc_call(c, b); });
  EXPECT_NE(log.find("cc-deep: object " + damage::ptr(b) + " handed out while still on CPU 0's slab's freelist"),
            std::string::npos)
      << log;
  kmem_cache_shrink(c);
  EXPECT_EQ(kmem_cache_destroy(c), 0);
}

// The walk of this CPU's slab's freelist follows only links to objects of
// the slab: a link that leaves the slab ends it, even when what it leads to
// links back to the object handed out (a stray pointer is no freelist
// entry); and a freelist that loops ends it too, with nothing to report.
TEST_F(CheckCallsDamage, SlabFreelistWalkStaysInTheSlab) {
  void *x, *a;
  page *slab;
  kmem_cache *c = cache_with_two("cc-walk", &x, &a, &slab);
  ASSERT_NE(c, nullptr);
  kmem_cache_free(c, a);
  ASSERT_EQ(slab->freelist, a);
  unsigned long n;
  EXPECT_EQ(run(&n, [&] { EXPECT_TRUE(check_slab_alloc_call(c, x)); }), "");
  unsigned long *link = freelist_slot(c, a);
  const unsigned long saved = *link;
  alignas(16) unsigned char outside[64] = {};
  ASSERT_LT(slab_obj_index(ms(), c, slab, outside), 0);
  *freelist_slot(c, outside) = freelist_encode(c, outside, x);
  *link = freelist_encode(c, a, outside);
  EXPECT_EQ(run(&n, [&] { EXPECT_TRUE(check_slab_alloc_call(c, x)); }), "");
  EXPECT_EQ(n, 0ul);
  *link = freelist_encode(c, a, a);
  EXPECT_EQ(run(&n, [&] { EXPECT_TRUE(check_slab_alloc_call(c, x)); }), "");
  EXPECT_EQ(n, 0ul);
  *link = saved;
  kmem_cache_free(c, x);
  kmem_cache_shrink(c);
  EXPECT_EQ(kmem_cache_destroy(c), 0);
}

// After vmalloc: an address that is no busy area is named, and a busy
// area's pages are checked. After vfree: a range another area has taken
// since is that area's business.
TEST_F(CheckCallsDamage, VmallocAndVfreeCalls) {
  unsigned long n;
  void *v = vmalloc(*f.vs, 2 * PAGE_SIZE);
  ASSERT_NE(v, nullptr);
  const uintptr_t at = reinterpret_cast<uintptr_t>(v);
  EXPECT_EQ(run(&n, [&] { check_vmalloc_call(*f.vs, v); }), "");
  void *nowhere = reinterpret_cast<void *>(f.vs->space.end - 8 * PAGE_SIZE);
  std::string log = run(&n, [&] { check_vmalloc_call(*f.vs, nowhere); });
  EXPECT_NE(log.find("vmalloc: " + damage::ptr(nowhere) + " is not a busy area"), std::string::npos) << log;
  pt_walk_result w{};
  ASSERT_TRUE(pgtable_walk(f.pt, at + PAGE_SIZE, &w));
  ASSERT_EQ(pgtable_unmap(&f.pt, at + PAGE_SIZE, PAGE_SIZE, f.vs->pt_ops), 0);
  log = run(&n, [&] { check_vmalloc_call(*f.vs, v); });
  EXPECT_NE(log.find("vmalloc: page 1 of area " + fmt("%#lx", at) + " is not mapped"), std::string::npos) << log;
  ASSERT_EQ(pgtable_map(&f.pt, at + PAGE_SIZE, w.pa, PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_GLOBAL, 0, f.vs->pt_ops),
            0);
  vfree(*f.vs, v);
  vm_unmap_aliases(*f.vs);  // the lazily freed range is purged, free for the next area
  void *again = vmalloc(*f.vs, 2 * PAGE_SIZE);
  ASSERT_EQ(again, v);  // the same range, taken again
  EXPECT_EQ(run(&n, [&] { check_vfree_call(*f.vs, at, at + 2 * PAGE_SIZE); }), "");
  vfree(*f.vs, again);
  EXPECT_EQ(f.check(), "");
}

}  // namespace

// The constant-request fast paths (mm/page_alloc_fast.h): alloc_pages /
// alloc_page / __free_pages / __free_page called with constant flags and
// order inline the fast path with the request's checks folded. They must
// give what the runtime entry points give, and still meet every tunable and
// every check the general paths make.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "mm/page_alloc_internal.h"
#include "proptest/mm_fixture.h"

namespace {

// The flags the equivalence runs over: zone modifiers, mobility, the flags
// the fast path leaves to the general one, and contradictory ones.
constexpr gfp_t const_gfps[] = {
    GFP_KERNEL,
    GFP_KERNEL | __GFP_NOWARN,
    GFP_KERNEL | __GFP_DMA,
    GFP_KERNEL | __GFP_DMA32,
    GFP_KERNEL | __GFP_HIGHMEM,
    GFP_KERNEL | __GFP_MOVABLE,
    GFP_HIGHUSER_MOVABLE,
    GFP_KERNEL | __GFP_RECLAIMABLE,
    GFP_KERNEL | __GFP_DMA32 | __GFP_MOVABLE,
    GFP_KERNEL | __GFP_ZERO,
    GFP_KERNEL | __GFP_COMP,
    GFP_KERNEL | __GFP_THISNODE,
    GFP_ATOMIC,
    GFP_NOWAIT,
    GFP_KERNEL | __GFP_DMA | __GFP_DMA32,          // contradictory zones
    GFP_KERNEL | __GFP_DMA32 | __GFP_HIGHMEM,      // contradictory zones
    GFP_KERNEL | __GFP_MOVABLE | __GFP_RECLAIMABLE,  // contradictory mobility
};
constexpr unsigned const_orders[] = {0, 1, 2, 3, 4, 9, MAX_PAGE_ORDER + 1};
constexpr size_t NR_GFPS = sizeof(const_gfps) / sizeof(const_gfps[0]);
constexpr size_t NR_ORDERS = sizeof(const_orders) / sizeof(const_orders[0]);

// Each (gfp, order) pair as its own function, so that both are constants
// at the call of the wrappers.
template <size_t G, size_t O>
page *alloc_const(mem_system &ms) {
  return alloc_pages(ms, const_gfps[G], const_orders[O]);
}
template <size_t O>
void free_const(mem_system &ms, page *p) {
  __free_pages(ms, p, const_orders[O]);
}

using alloc_fn = page *(*)(mem_system &);
using free_fn = void (*)(mem_system &, page *);

template <size_t G, size_t... O>
constexpr std::array<alloc_fn, NR_ORDERS> alloc_row(std::index_sequence<O...>) {
  return {&alloc_const<G, O>...};
}
template <size_t... G>
constexpr std::array<std::array<alloc_fn, NR_ORDERS>, NR_GFPS> alloc_table(std::index_sequence<G...>) {
  return {alloc_row<G>(std::make_index_sequence<NR_ORDERS>())...};
}
template <size_t... O>
constexpr std::array<free_fn, NR_ORDERS> free_table(std::index_sequence<O...>) {
  return {&free_const<O>...};
}
constexpr auto const_alloc = alloc_table(std::make_index_sequence<NR_GFPS>());
constexpr auto const_free = free_table(std::make_index_sequence<NR_ORDERS>());

// What a call left behind: the block and every count it may have moved.
// The zone's events counted on the buddy paths: every CPU's share, without
// the per-CPU lists' own (pcp.pgalloc, pcp.pgfree).
unsigned long buddy_events(const zone &z, zone_event_item item) {
  unsigned long n = 0;
  for (const per_cpu_zonestat &pcz : z.per_cpu_zonestats) n += pcz.vm_events[item];
  return n;
}

struct machine_state {
  long pfn = -1;  // -1: nullptr
  std::vector<long> counts;
  bool operator==(const machine_state &) const = default;
};

// events: with bad_pages and the zones' events.
machine_state snapshot(const mem_system &ms, const page *p, bool events = true) {
  machine_state s;
  if (p) s.pfn = long(page_to_pfn(ms, p));
  if (events) s.counts.push_back(long(ms.bad_pages));
  for_each_online_pgdat(ms, pgdat) {
    s.counts.push_back(pgdat->kswapd_wanted);
    for_each_zone_of(pgdat, z) {
      s.counts.push_back(zone_page_state(z, NR_FREE_PAGES));
      if (events)
        for (int e = 0; e < NR_ZONE_EVENTS; e++) s.counts.push_back(long(buddy_events(*z, zone_event_item(e))));
      for (const per_cpu_pages &pcp : z->pcp) {
        s.counts.push_back(pcp.count);
        s.counts.push_back(long(pcp.pgalloc));
        s.counts.push_back(long(pcp.pgfree));
        for (const list_head &l : pcp.lists) {
          long n = 0;
          for (const list_head *e = l.next; e != &l; e = e->next) n++;
          s.counts.push_back(n);
        }
      }
    }
  }
  return s;
}

// A machine in a chosen state: built, then `fill` order-2 blocks taken
// (some memory gone, perhaps below a watermark), on a chosen CPU.
struct run_setup {
  layout_kind layout;
  unsigned cpu;
  bool pcp_disabled;
  unsigned fill;
};

// Runs one allocation and its free through the constant forms or the
// runtime ones on a freshly built machine; returns the state after each.
std::pair<machine_state, machine_state> run_pair(const run_setup &su, size_t g, size_t o, bool constant) {
  mm_fixture f;
  RC_ASSERT(build_layout(f, su.layout) == 0);
  mem_system &ms = *f.ms;
  host_set_cpu(su.cpu % ms.nr_cpus);
  for (unsigned i = 0; i < su.fill; i++) alloc_pages(ms, GFP_NOWAIT | __GFP_NOWARN, 2);  // runtime: kept
  // Lists of every type warm for the order: a fast path that picked the
  // wrong list would find pages on it.
  for (gfp_t warm : {gfp_t(GFP_KERNEL), gfp_t(GFP_KERNEL | __GFP_MOVABLE), gfp_t(GFP_KERNEL | __GFP_RECLAIMABLE),
                     const_gfps[g] & ~(__GFP_ZERO | __GFP_COMP)})
    if (page *w = alloc_pages_var(ms, warm | __GFP_NOWARN, const_orders[o])) __free_pages_var(ms, w, const_orders[o]);
  ms.pcp_disabled = su.pcp_disabled;
  page *p = constant ? const_alloc[g][o](ms) : alloc_pages_var(ms, const_gfps[g], const_orders[o]);
  machine_state after_alloc = snapshot(ms, p);
  if (p) {
    if (constant) const_free[o](ms, p);
    else __free_pages_var(ms, p, const_orders[o]);
  }
  machine_state after_free = snapshot(ms, nullptr);
  RC_ASSERT(f.check() == "");
  host_set_cpu(0);
  return {after_alloc, after_free};
}

}  // namespace

// The test code is built at -O1: constants passed to an always-inline
// wrapper are still constants there, so the wrappers below take their
// constant branch (the same mechanism as theirs).
__attribute__((always_inline)) inline bool folds_here(gfp_t gfp) { return __builtin_constant_p(gfp); }
TEST(PageAllocFast, ConstantsFoldInTheseTests) { EXPECT_TRUE(folds_here(GFP_KERNEL)); }

// A constant request and the same request at run time give the same block
// and leave the same counts (zone, per-CPU lists of each type and order,
// events, kswapd's wake-up, bad pages), alloc and free, for every flag set
// and order, on every layout, with the per-CPU lists on or off.
RC_GTEST_PROP(PageAllocFast, ConstantCallMatchesRuntimeCall, ()) {
  run_setup su;
  su.layout = *rc::gen::elementOf(std::vector<layout_kind>(std::begin(all_layouts), std::end(all_layouts)));
  su.cpu = *rc::gen::inRange(0u, 4u);
  su.pcp_disabled = *rc::gen::weightedElement<bool>({{1, true}, {4, false}});
  su.fill = *rc::gen::element(0u, 10u, 3000u, 4000u);
  const size_t g = *rc::gen::inRange<size_t>(0, NR_GFPS);
  const size_t o = *rc::gen::inRange<size_t>(0, NR_ORDERS);
  auto c = run_pair(su, g, o, true);
  auto r = run_pair(su, g, o, false);
  RC_ASSERT(c.first == r.first);
  RC_ASSERT(c.second == r.second);
}

namespace {

struct PageAllocFastMachine : ::testing::Test {
  mm_fixture f;
  mem_system &ms() { return *f.ms; }
  void SetUp() override {
    host_set_cpu(0);
    ASSERT_EQ(build_single_zone(f), 0);
    // Fill this CPU's list, so that a fast path has something to take.
    __free_page(ms(), alloc_page(ms(), GFP_KERNEL));
  }
  void TearDown() override { host_set_cpu(0); }
  per_cpu_pages &pcp() { return ms().node_data[0]->node_zones[ZONE_DMA32].pcp[0]; }
  zone &dma32() { return ms().node_data[0]->node_zones[ZONE_DMA32]; }
  unsigned long free_pages() { return nr_free_pages(ms()) + nr_free_pcp_pages(ms()); }
};

}  // namespace

// Each tunable alone turns the fast paths off: the word the fast paths
// test is exactly pcp_disabled and check_calls, whoever writes them.
TEST_F(PageAllocFastMachine, GeneralPathsOnlyIsTheTwoTunables) {
  EXPECT_EQ(ms().general_paths_only, 0);
  ms().pcp_disabled = true;
  EXPECT_NE(ms().general_paths_only, 0);
  EXPECT_TRUE(free_fast_paths_off(ms()));
  ms().pcp_disabled = false;
  ms().check_calls = true;
  EXPECT_NE(ms().general_paths_only, 0);
  EXPECT_TRUE(fast_paths_off(ms()));
  ms().check_calls = false;
  EXPECT_FALSE(fast_paths_off(ms()));
  ms().fail_page_alloc.attr.probability = 1;
  EXPECT_TRUE(fast_paths_off(ms()));
  EXPECT_FALSE(free_fast_paths_off(ms()));  // fault injection fails allocations only
  ms().fail_page_alloc.attr.probability = 0;
}

// With the per-CPU lists off, the constant forms leave them alone: the
// page comes from and goes back to the buddy lists.
TEST_F(PageAllocFastMachine, PcpDisabledIsMetByTheConstantForms) {
  ms().pcp_disabled = true;
  const per_cpu_pages before = pcp();
  const unsigned long pgalloc = zone_events(&dma32(), PGALLOC), buddy_allocs = buddy_events(dma32(), PGALLOC);
  page *p = alloc_page(ms(), GFP_KERNEL);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(pcp().count, before.count);
  EXPECT_EQ(pcp().pgalloc, before.pgalloc);
  EXPECT_EQ(buddy_events(dma32(), PGALLOC), buddy_allocs + 1);
  EXPECT_EQ(zone_events(&dma32(), PGALLOC), pgalloc + 1);
  const unsigned long buddy_frees = buddy_events(dma32(), PGFREE);
  __free_page(ms(), p);
  EXPECT_EQ(pcp().count, before.count);
  EXPECT_EQ(pcp().pgfree, before.pgfree);
  EXPECT_EQ(buddy_events(dma32(), PGFREE), buddy_frees + 1);
  ms().pcp_disabled = false;
  EXPECT_EQ(f.check(), "");
}

// fail_page_alloc at probability 100 fails the constant call too, and
// counts the failure.
TEST_F(PageAllocFastMachine, FaultInjectionFailsTheConstantCall) {
  fault_attr a;
  a.probability = 100;
  a.times = -1;
  a.verbose = 0;
  ms().fail_page_alloc.attr = a;
  ms().fail_page_alloc.min_order = 0;
  ms().fail_page_alloc.ignore_gfp_reclaim = false;
  EXPECT_EQ(alloc_page(ms(), GFP_KERNEL | __GFP_NOWARN), nullptr);
  EXPECT_EQ(alloc_pages(ms(), GFP_KERNEL | __GFP_NOWARN, 2), nullptr);
  EXPECT_EQ(ms().fail_page_alloc.attr.nr_failures, 2ul);
  ms().fail_page_alloc.attr.probability = 0;
  page *p = alloc_page(ms(), GFP_KERNEL);
  EXPECT_NE(p, nullptr);
  __free_page(ms(), p);
}

// mm.check=1 sees every constant call: with a zone counter off by one, the
// per-call checks of both the allocation and the free report it.
TEST_F(PageAllocFastMachine, CheckCallsSeesTheConstantCalls) {
  ms().check_calls = true;
  dma32().vm_stat[NR_FREE_PAGES] += 1;
  page *p = alloc_page(ms(), GFP_KERNEL);
  ASSERT_NE(p, nullptr);
  const unsigned long after_alloc = ms().check_violations;
  EXPECT_GT(after_alloc, 0ul);
  __free_page(ms(), p);
  EXPECT_GT(ms().check_violations, after_alloc);
  dma32().vm_stat[NR_FREE_PAGES] -= 1;
  ms().check_calls = false;
  EXPECT_EQ(f.check(), "");
}

// The constant path's watermark: a zone whose free pages (less the
// highatomic reserve) are exactly its low watermark plus the request's
// classzone reserve is refused (the general path then wakes kswapd); one
// page more is served from the list without waking it. The classzone is
// the request's: GFP_KERNEL's ZONE_NORMAL, __GFP_DMA32's ZONE_DMA32.
RC_GTEST_PROP(PageAllocFast, WatermarkRefusesAtLowPlusReserve, ()) {
  mm_fixture f;
  host_set_cpu(0);
  RC_ASSERT(build_single_zone(f) == 0);
  mem_system &ms = *f.ms;
  zone *z = &ms.node_data[0]->node_zones[ZONE_DMA32];
  __free_page(ms, alloc_page(ms, GFP_KERNEL));  // the list has pages now
  const bool dma32_request = *rc::gen::arbitrary<bool>();
  const bool above = *rc::gen::arbitrary<bool>();
  const long free = zone_page_state(z, NR_FREE_PAGES);
  const long highatomic = *rc::gen::inRange(0l, 3l) * 7;
  const long reserve = *rc::gen::inRange(0l, free / 2);
  const long other_reserve = *rc::gen::inRange(0l, free / 4);
  const int cz = dma32_request ? ZONE_DMA32 : ZONE_NORMAL;
  const int other = dma32_request ? ZONE_NORMAL : ZONE_DMA32;
  const unsigned long saved_low = z->_watermark[WMARK_LOW], saved_high = z->_watermark[WMARK_HIGH];
  const long saved_reserve[2] = {z->lowmem_reserve[cz], z->lowmem_reserve[other]};
  z->nr_reserved_highatomic = highatomic;
  z->lowmem_reserve[cz] = reserve;
  z->lowmem_reserve[other] = other_reserve;  // must not count
  z->_watermark[WMARK_LOW] = (unsigned long)(free - highatomic - reserve - (above ? 1 : 0));
  // High at low too, so that a zone at its low mark is not balanced and a
  // general path's wake-up shows.
  z->_watermark[WMARK_HIGH] = z->_watermark[WMARK_LOW];
  ms.node_data[0]->kswapd_wanted = false;
  const unsigned long pcp_allocs = z->pcp[0].pgalloc;
  // The constant call folds the classzone; the run-time one reads the route's.
  const bool constant = *rc::gen::arbitrary<bool>();
  page *p = constant ? (dma32_request ? alloc_page(ms, GFP_KERNEL | __GFP_DMA32) : alloc_page(ms, GFP_KERNEL))
                     : alloc_pages_var(ms, dma32_request ? GFP_KERNEL | __GFP_DMA32 : GFP_KERNEL, 0);
  const bool woke = ms.node_data[0]->kswapd_wanted;
  z->nr_reserved_highatomic = 0;
  z->lowmem_reserve[cz] = saved_reserve[0];
  z->lowmem_reserve[other] = saved_reserve[1];
  z->_watermark[WMARK_LOW] = saved_low;
  z->_watermark[WMARK_HIGH] = saved_high;
  RC_ASSERT(p != nullptr);
  RC_ASSERT(woke == !above);
  if (above) RC_ASSERT(z->pcp[0].pgalloc == pcp_allocs + 1);
  __free_page(ms, p);
  ms.node_data[0]->kswapd_wanted = false;
  RC_ASSERT(f.check() == "");
}

// The fast paths serve what they may: a small ordinary block from a list
// that has one, in a zone above its watermark, constant request or not; and
// they hand everything else to the general path. Both give the same
// answers (ConstantCallMatchesRuntimeCall), so only the host's count of
// what the fast paths served tells a fast path from one that never serves.
TEST_F(PageAllocFastMachine, FastPathsServeSmallOrdinaryRequests) {
  auto served = [] { return host_fast_path_served; };
  for (unsigned order = 0; order <= PAGE_ALLOC_COSTLY_ORDER; order++) {
    SCOPED_TRACE("order " + std::to_string(order));
    for (bool constant : {true, false}) {
      // A block of the order on this CPU's list first.
      page *warm = alloc_pages_var(ms(), GFP_KERNEL, order);
      ASSERT_NE(warm, nullptr);
      fast_path_counts before = served();
      __free_pages_var(ms(), warm, order);
      EXPECT_EQ(served().frees, before.frees + 1) << "an ordinary free goes to the list";
      before = served();
      page *p = nullptr;
      if (constant) {
        switch (order) {
          case 0: p = alloc_pages(ms(), GFP_KERNEL, 0); break;
          case 1: p = alloc_pages(ms(), GFP_KERNEL, 1); break;
          case 2: p = alloc_pages(ms(), GFP_KERNEL, 2); break;
          default: p = alloc_pages(ms(), GFP_KERNEL, 3); break;
        }
      } else {
        p = alloc_pages_var(ms(), GFP_KERNEL, order);
      }
      EXPECT_EQ(p, warm) << "the newest block on the list";
      EXPECT_EQ(served().allocs, before.allocs + 1);
      // Flags the fast path leaves alone, and a zone at its low mark: the
      // general path serves, from the same list.
      for (gfp_t gfp : {GFP_KERNEL | __GFP_ZERO, GFP_KERNEL | __GFP_COMP, GFP_KERNEL | __GFP_THISNODE}) {
        __free_pages_var(ms(), p, order);
        before = served();
        p = alloc_pages_var(ms(), gfp, order);
        EXPECT_EQ(p, warm) << "gfp " << gfp;
        EXPECT_EQ(served().allocs, before.allocs) << "gfp " << gfp;
        if (gfp & __GFP_COMP) {
          // A compound head (order > 0) is no ordinary free either.
          before = served();
          __free_pages_var(ms(), p, order);
          EXPECT_EQ(served().frees, before.frees + (order == 0 ? 1 : 0));
          p = alloc_pages_var(ms(), GFP_KERNEL, order);
          ASSERT_NE(p, nullptr);
          warm = p;
        }
      }
      __free_pages_var(ms(), p, order);
      const unsigned long low = dma32()._watermark[WMARK_LOW];
      dma32()._watermark[WMARK_LOW] = (unsigned long)zone_page_state(&dma32(), NR_FREE_PAGES);
      before = served();
      p = alloc_pages_var(ms(), GFP_KERNEL | __GFP_NOWARN, order);
      dma32()._watermark[WMARK_LOW] = low;
      EXPECT_NE(p, nullptr);
      EXPECT_EQ(served().allocs, before.allocs) << "at the low mark";
      __free_pages_var(ms(), p, order);
    }
  }
  // Above the costly order: the buddy lists, both ways.
  fast_path_counts before = served();
  page *big = alloc_pages(ms(), GFP_KERNEL, PAGE_ALLOC_COSTLY_ORDER + 1);
  ASSERT_NE(big, nullptr);
  __free_pages(ms(), big, PAGE_ALLOC_COSTLY_ORDER + 1);
  EXPECT_EQ(served().allocs, before.allocs);
  EXPECT_EQ(served().frees, before.frees);
  ms().node_data[0]->kswapd_wanted = false;
  EXPECT_EQ(f.check(), "");
}

// The fast path's watermark check is Linux's zone_watermark_fast: a quicker
// way to the answer zone_watermark_ok gives at the low mark for a request
// without reserves (alloc_flags 0). Order 0 counts pages only; a higher
// order also leaves out its own pages but the first and needs a free block
// of that order or more of an ordinary type, a highatomic block not being
// one. Compared at and around each order's boundary, on the zone as built
// and with every free pageblock highatomic (pages free, no ordinary block).
TEST_F(PageAllocFastMachine, WatermarkCheckIsZoneWatermarkOkAtLow) {
  zone *z = &dma32();
  const unsigned long saved_low = z->_watermark[WMARK_LOW];
  long saved_reserve[MAX_NR_ZONES];
  std::copy(std::begin(z->lowmem_reserve), std::end(z->lowmem_reserve), saved_reserve);
  auto compare_all = [&](const char *state) {
    const long free = zone_page_state(z, NR_FREE_PAGES);
    for (unsigned order = 0; order <= MAX_PAGE_ORDER; order++)
      for (long highatomic : {0l, 7l})
        for (int cz : {int(ZONE_DMA32), int(ZONE_NORMAL)})
          for (long reserve : {0l, 5l})
            for (long d = -2; d <= 2; d++) {
              const long low = free - highatomic - reserve - ((1l << order) - 1) + d;
              if (low < 0) continue;
              z->nr_reserved_highatomic = (unsigned long)highatomic;
              z->lowmem_reserve[cz] = reserve;
              z->_watermark[WMARK_LOW] = (unsigned long)low;
              EXPECT_EQ(fast_watermark_ok(z, order, cz), zone_watermark_ok(z, order, low_wmark_pages(z), cz, 0))
                  << state << ": order " << order << ", highatomic " << highatomic << ", classzone " << cz
                  << ", reserve " << reserve << ", " << d << " from the boundary";
              z->lowmem_reserve[cz] = saved_reserve[cz];
            }
    z->nr_reserved_highatomic = 0;
    z->_watermark[WMARK_LOW] = saved_low;
  };
  compare_all("as built");
  std::vector<std::pair<unsigned long, int>> moved;
  {
    spin_lock_irqsave_guard g(z->lock);
    for (unsigned long pfn = pageblock_start_pfn(z->zone_start_pfn); pfn < zone_end_pfn(z); pfn += pageblock_nr_pages) {
      if (!zone_spans_pageblock(z, pfn)) continue;
      const int mt = get_pfnblock_migratetype(z, pfn);
      if (mt < MIGRATE_PCPTYPES && move_freepages_block(z, pfn, mt, MIGRATE_HIGHATOMIC)) moved.push_back({pfn, mt});
    }
  }
  ASSERT_GT(zone_page_state(z, NR_FREE_PAGES), 0);
  ASSERT_FALSE(zone_has_suitable_block(z, 0, 0));
  compare_all("every free pageblock highatomic");
  {
    spin_lock_irqsave_guard g(z->lock);
    for (auto [pfn, mt] : moved) ASSERT_TRUE(move_freepages_block(z, pfn, MIGRATE_HIGHATOMIC, mt));
  }
  EXPECT_EQ(f.check(), "");
}

namespace {

template <gfp_t G, unsigned O>
page *alloc_constant(mem_system &ms) {
  return alloc_pages(ms, G, O);
}

// The first block on this CPU's list of the zone for migrate type mt and
// order, or nullptr.
page *list_first(per_cpu_pages &pcp, int mt, unsigned order) {
  list_head *l = &pcp.lists[order_to_pindex(mt, order)];
  return list_empty(l) ? nullptr : list_first_entry(l, page, lru);
}

}  // namespace

// A constant request takes its block from the per-CPU list of its own
// migrate type (Linux's rmqueue_pcplist, with gfp_migratetype's list):
// with grouping by mobility on and a block on every type's list, a movable
// or reclaimable request does not get the unmovable list's block, nor an
// unmovable one another type's.
TEST_F(PageAllocFastMachine, ConstantRequestsTakeFromTheirTypesList) {
  ASSERT_FALSE(ms().page_group_by_mobility_disabled);
  const gfp_t by_type[MIGRATE_PCPTYPES] = {GFP_KERNEL, GFP_KERNEL | __GFP_MOVABLE, GFP_KERNEL | __GFP_RECLAIMABLE};
  static_assert(MIGRATE_UNMOVABLE == 0 && MIGRATE_MOVABLE == 1 && MIGRATE_RECLAIMABLE == 2);
  struct request {
    const char *name;
    int mt;
    unsigned order;
    page *(*alloc)(mem_system &);
  };
  const request requests[] = {
      {"GFP_KERNEL", MIGRATE_UNMOVABLE, 0, alloc_constant<GFP_KERNEL, 0>},
      {"GFP_KERNEL | __GFP_MOVABLE", MIGRATE_MOVABLE, 0, alloc_constant<GFP_KERNEL | __GFP_MOVABLE, 0>},
      {"GFP_HIGHUSER_MOVABLE", MIGRATE_MOVABLE, 0, alloc_constant<GFP_HIGHUSER_MOVABLE, 0>},
      {"GFP_KERNEL | __GFP_RECLAIMABLE", MIGRATE_RECLAIMABLE, 0, alloc_constant<GFP_KERNEL | __GFP_RECLAIMABLE, 0>},
      {"GFP_KERNEL order 2", MIGRATE_UNMOVABLE, 2, alloc_constant<GFP_KERNEL, 2>},
      {"GFP_KERNEL | __GFP_MOVABLE order 2", MIGRATE_MOVABLE, 2, alloc_constant<GFP_KERNEL | __GFP_MOVABLE, 2>},
      {"GFP_KERNEL | __GFP_RECLAIMABLE order 2", MIGRATE_RECLAIMABLE, 2,
       alloc_constant<GFP_KERNEL | __GFP_RECLAIMABLE, 2>},
  };
  for (const request &r : requests) {
    SCOPED_TRACE(r.name);
    // A block of the order on each type's list, through the run-time forms.
    for (gfp_t gfp : by_type) __free_pages_var(ms(), alloc_pages_var(ms(), gfp, r.order), r.order);
    for (int mt = 0; mt < MIGRATE_PCPTYPES; mt++) ASSERT_NE(list_first(pcp(), mt, r.order), nullptr) << "type " << mt;
    page *expected = list_first(pcp(), r.mt, r.order);
    const fast_path_counts before = host_fast_path_served;
    page *p = r.alloc(ms());
    EXPECT_EQ(p, expected);
    EXPECT_EQ(host_fast_path_served.allocs, before.allocs + 1);
    __free_pages_var(ms(), p, r.order);
  }
  EXPECT_EQ(f.check(), "");
}

// The watermark of a constant request is its own classzone's: GFP_KERNEL's
// is ZONE_NORMAL, whose lowmem_reserve on DMA32 keeps the zone's last pages
// from it, while a __GFP_DMA32 request, classzone DMA32, may take them.
TEST_F(PageAllocFastMachine, ConstantRequestMeetsItsClasszonesReserve) {
  zone *z = &dma32();
  const unsigned long saved_low = z->_watermark[WMARK_LOW], saved_high = z->_watermark[WMARK_HIGH];
  const long saved_normal = z->lowmem_reserve[ZONE_NORMAL], saved_dma = z->lowmem_reserve[ZONE_DMA],
             saved_dma32 = z->lowmem_reserve[ZONE_DMA32];
  // Two blocks on the list: the first request's general path may take one.
  page *warm[2] = {alloc_pages_var(ms(), GFP_KERNEL, 0), alloc_pages_var(ms(), GFP_KERNEL, 0)};
  for (page *w : warm) __free_pages_var(ms(), w, 0);
  const long free = zone_page_state(z, NR_FREE_PAGES);
  z->lowmem_reserve[ZONE_DMA] = 0;
  z->lowmem_reserve[ZONE_DMA32] = 0;
  z->lowmem_reserve[ZONE_NORMAL] = 100;
  z->_watermark[WMARK_LOW] = z->_watermark[WMARK_HIGH] = (unsigned long)(free - 100);  // at low plus Normal's reserve
  fast_path_counts before = host_fast_path_served;
  page *normal = alloc_page(ms(), GFP_KERNEL | __GFP_NOWARN);
  EXPECT_EQ(host_fast_path_served.allocs, before.allocs) << "GFP_KERNEL is at its mark";
  before = host_fast_path_served;
  page *dma32_page = alloc_page(ms(), GFP_KERNEL | __GFP_DMA32 | __GFP_NOWARN);
  EXPECT_EQ(host_fast_path_served.allocs, before.allocs + 1) << "__GFP_DMA32 is above its mark";
  z->_watermark[WMARK_LOW] = saved_low;
  z->_watermark[WMARK_HIGH] = saved_high;
  z->lowmem_reserve[ZONE_NORMAL] = saved_normal;
  z->lowmem_reserve[ZONE_DMA] = saved_dma;
  z->lowmem_reserve[ZONE_DMA32] = saved_dma32;
  ASSERT_NE(normal, nullptr);
  ASSERT_NE(dma32_page, nullptr);
  __free_page(ms(), normal);
  __free_page(ms(), dma32_page);
  ms().node_data[0]->kswapd_wanted = false;
  EXPECT_EQ(f.check(), "");
}

namespace {

// A bad free through __free_page: reported once, and nothing else changes.
struct bad_free_case {
  const char *name;
  unsigned alloc_order;
  gfp_t gfp;
  // Damages the allocation at p (or picks the page to free); returns the
  // page handed to __free_page.
  page *(*damage)(page *p);
  void (*repair)(page *p);
};

page *same(page *p) { return p; }
void nothing(page *) {}

const bad_free_case bad_frees[] = {
    {"null", 0, GFP_KERNEL, [](page *) -> page * { return nullptr; }, nothing},
    {"reserved", 0, GFP_KERNEL, [](page *p) { set_page_flag(p, PG_reserved); return p; },
     [](page *p) { clear_page_flag(p, PG_reserved); }},
    {"slab", 0, GFP_KERNEL, [](page *p) { set_page_flag(p, PG_slab); return p; },
     [](page *p) { clear_page_flag(p, PG_slab); }},
    {"movable", 0, GFP_KERNEL, [](page *p) { set_page_flag(p, PG_movable); return p; },
     [](page *p) { clear_page_flag(p, PG_movable); }},
    {"isolated", 0, GFP_KERNEL, [](page *p) { set_page_flag(p, PG_isolated); return p; },
     [](page *p) { clear_page_flag(p, PG_isolated); }},
    {"large_kmalloc", 0, GFP_KERNEL, [](page *p) { set_page_flag(p, PG_large_kmalloc); return p; },
     [](page *p) { clear_page_flag(p, PG_large_kmalloc); }},
    {"mapcount", 0, GFP_KERNEL, [](page *p) { p->_mapcount = 0; return p; }, [](page *p) { p->_mapcount = -1; }},
    {"wrong order", 1, GFP_KERNEL, same, nothing},
    {"tail page", 1, GFP_KERNEL | __GFP_COMP, [](page *p) { return p + 1; }, nothing},
    {"middle page", 1, GFP_KERNEL, [](page *p) { return p + 1; }, nothing},
};

}  // namespace

// Every bad free the general path catches is caught through __free_page
// too: reported (bad_pages), the page left as it was, the free lists and
// counts untouched, and the checker clean once the page is freed properly.
TEST_F(PageAllocFastMachine, BadFreesThroughFreePageAreReported) {
  for (const bad_free_case &c : bad_frees) {
    SCOPED_TRACE(c.name);
    page *p = alloc_pages_var(ms(), c.gfp, c.alloc_order);
    ASSERT_NE(p, nullptr);
    page *victim = c.damage(p);
    const unsigned long bad = ms().bad_pages, free = free_pages();
    const machine_state before = snapshot(ms(), nullptr, false);
    const int ref = victim ? page_ref_count(victim) : 0;
    const unsigned long flags = victim ? victim->flags : 0;
    __free_page(ms(), victim);
    EXPECT_EQ(ms().bad_pages, bad + 1);
    EXPECT_EQ(free_pages(), free);
    EXPECT_TRUE(snapshot(ms(), nullptr, false) == before);
    if (victim) {
      EXPECT_EQ(page_ref_count(victim), ref);
      EXPECT_EQ(victim->flags, flags);
    }
    c.repair(p);
    __free_pages_var(ms(), p, c.alloc_order);
    EXPECT_EQ(f.check(), "");
  }
  // A double free: the second is reported and changes nothing.
  page *p = alloc_page(ms(), GFP_KERNEL);
  __free_page(ms(), p);
  const unsigned long bad = ms().bad_pages, free = free_pages();
  const machine_state before = snapshot(ms(), nullptr, false);
  __free_page(ms(), p);
  EXPECT_EQ(ms().bad_pages, bad + 1);
  EXPECT_EQ(free_pages(), free);
  EXPECT_TRUE(snapshot(ms(), nullptr, false) == before);
  EXPECT_EQ(f.check(), "");
}

// The free path reads the pageblock's type on every free: a page of a
// highatomic pageblock goes back to the reserve's own lists, not to a
// per-CPU list, through the constant form too.
TEST_F(PageAllocFastMachine, FreeReadsThePageblockType) {
  page *p = alloc_page(ms(), GFP_KERNEL);
  ASSERT_NE(p, nullptr);
  zone *z = &dma32();
  const unsigned long pfn = page_to_pfn(ms(), p);
  const int saved = get_pfnblock_migratetype(z, pfn);
  {
    spin_lock_irqsave_guard g(z->lock);
    ASSERT_TRUE(move_freepages_block(z, pfn, saved, MIGRATE_HIGHATOMIC));
  }
  EXPECT_EQ(get_pageblock_migratetype(z, p), MIGRATE_HIGHATOMIC);
  const int count = pcp().count;
  const unsigned long pgfree = pcp().pgfree;
  __free_page(ms(), p);
  EXPECT_EQ(pcp().count, count);
  EXPECT_EQ(pcp().pgfree, pgfree);
  EXPECT_FALSE(PagePcp(p));
  {
    spin_lock_irqsave_guard g(z->lock);
    EXPECT_NE(free_block_holding(z, pfn), nullptr);
    ASSERT_TRUE(move_freepages_block(z, pfn, MIGRATE_HIGHATOMIC, saved));
  }
  EXPECT_EQ(f.check(), "");
}

// An empty per-CPU list is refilled with a batch scaled to the order:
// max(batch >> order, 2) blocks for orders 1 to 3 (Linux's rule since 5.13),
// the whole batch for order 0; the request takes one, the rest wait on the
// list, and the next request of the order takes one of them. Zones of 64 MiB
// (batch 3) and 128 MiB (batch 7) cover both sides of the floor of 2.
TEST(PageAllocPcp, RefillIsTheBatchScaledToTheOrder) {
  for (unsigned long mib : {64ul, 128ul}) {
    SCOPED_TRACE(std::to_string(mib) + " MiB");
    host_set_cpu(0);
    mm_fixture f;
    ASSERT_EQ(build_single_zone(f, mib * SZ_1M, 1), 0);
    zone &z = f.ms->node_data[0]->node_zones[ZONE_DMA32];
    per_cpu_pages &pcp = z.pcp[0];
    const long batch = pcp.batch;
    ASSERT_EQ(batch, mib == 64 ? 3 : 7);
    // Both the fast path and the general one (which mm.check=1 forces).
    for (unsigned step = 0; step < 2 * (PAGE_ALLOC_COSTLY_ORDER + 1); step++) {
      f.ms->check_calls = step > PAGE_ALLOC_COSTLY_ORDER;
      const unsigned order = step % (PAGE_ALLOC_COSTLY_ORDER + 1);
      SCOPED_TRACE(f.ms->check_calls ? "general path" : "fast path");
      drain_all_pages(*f.ms);
      ASSERT_EQ(pcp.count, 0);
      page *p = alloc_pages(*f.ms, GFP_KERNEL, order);
      ASSERT_NE(p, nullptr);
      long blocks = order ? std::max(batch >> order, 2l) : batch;
      EXPECT_EQ(pcp.count, (blocks - 1) << order) << "order " << order;
      // A list with blocks on it serves without a refill.
      page *q = alloc_pages(*f.ms, GFP_KERNEL, order);
      ASSERT_NE(q, nullptr);
      EXPECT_EQ(pcp.count, (blocks - 2) << order) << "order " << order;
      __free_pages(*f.ms, q, order);
      __free_pages(*f.ms, p, order);
    }
    EXPECT_EQ(f.check(), "");
  }
}

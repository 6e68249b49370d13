// Properties of the watermarks (mm/watermark) written from the formulas of
// mm-reference.md, not from the implementation: min_free_kbytes by the
// int_sqrt rule, per-zone min/low/high, lowmem_reserve, the per-CPU batch
// and high, gfp_to_alloc_flags and the watermark check as pure functions
// over hand-built zones, with hand-worked examples beside each. Then how the
// allocator behaves at the marks on the host fixtures: GFP_KERNEL stops at
// min + lowmem_reserve[classzone] and falls back zone by zone, GFP_ATOMIC
// goes further but not below its reduced min, kswapd is woken at low and
// stops at high, and only callers that may sleep reclaim directly.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "kernel/printk.h"
#include "mm/page_alloc.h"
#include "mm/vmscan.h"
#include "mm/watermark.h"
#include "proptest/mm_fixture.h"

namespace {

// rc::gen::inRange narrows its range with the test size; choices here must
// span their whole range from the first case.
template <class T>
rc::Gen<T> uniform(T min, T max) {
  return rc::gen::resize(rc::kNominalSize, rc::gen::inRange<T>(min, max));
}

// Sizes spread over many magnitudes: 0..2^bits with a random bit length.
rc::Gen<unsigned long> gen_size(unsigned bits) {
  return rc::gen::mapcat(uniform(0u, bits + 1), [](unsigned b) {
    return b == 0 ? rc::gen::just(0ul) : uniform(1ul << (b - 1), 1ul << b);
  });
}

struct cpu_reset {
  ~cpu_reset() { host_set_cpu(0); }
};

using zone_sizes = std::array<unsigned long, MAX_NR_ZONES>;

// A mem_system built by hand, with only what the watermark arithmetic reads:
// nodes, zone indexes and managed sizes, the tunables at Linux's defaults.
struct hand_system {
  std::unique_ptr<mem_system> ms = std::make_unique<mem_system>();
  std::vector<std::unique_ptr<pglist_data>> nodes;

  explicit hand_system(const std::vector<zone_sizes> &managed) {
    const int ratios[MAX_NR_ZONES] = {256, 256, 32, 0, 0};
    ms->watermark_scale_factor = 10;
    for (int i = 0; i < int(MAX_NR_ZONES); i++) ms->lowmem_reserve_ratio[i] = ratios[i];
    ms->nr_cpus = 1;
    INIT_LIST_HEAD(&ms->shrinkers);
    for (size_t nid = 0; nid < managed.size(); nid++) {
      auto n = std::make_unique<pglist_data>();
      n->node_id = int(nid);
      n->ms = ms.get();
      n->nr_cpus = nid == 0 ? 1 : 0;
      for (int i = 0; i < int(MAX_NR_ZONES); i++) {
        zone &z = n->node_zones[i];
        z.idx = zone_type(i);
        z.name = zone_names[i];
        z.zone_pgdat = n.get();
        z.managed_pages = z.present_pages = z.spanned_pages = managed[nid][i];
        for (free_area &fa : z.free_area)
          for (list_head &l : fa.free_list) INIT_LIST_HEAD(&l);
        for (per_cpu_pages &pcp : z.pcp)
          for (list_head &l : pcp.lists) INIT_LIST_HEAD(&l);
      }
      ms->node_data[nid] = n.get();
      nodes.push_back(std::move(n));
    }
  }
  zone &z(int nid, int idx) { return nodes[nid]->node_zones[idx]; }
};

// ------------------------------------------------------------ the formulas

unsigned long model_int_sqrt(unsigned long x) {
  auto r = static_cast<unsigned long>(std::sqrt(static_cast<long double>(x)));
  while (static_cast<unsigned __int128>(r) * r > x) r--;
  while (static_cast<unsigned __int128>(r + 1) * (r + 1) <= x) r++;
  return r;
}

bool is_lowmem(int idx) { return idx != ZONE_HIGHMEM && idx != ZONE_MOVABLE; }

// min_free_kbytes = clamp(int_sqrt(lowmem_kbytes * 16), 128, 262144), where
// lowmem is every zone up to Normal.
int model_min_free_kbytes(const std::vector<zone_sizes> &managed) {
  unsigned long pages = 0;
  for (const zone_sizes &n : managed)
    for (int i = 0; i <= ZONE_NORMAL; i++) pages += n[i];
  unsigned long kb = model_int_sqrt(pages * 4 * 16);
  return int(std::clamp(kb, 128ul, 262144ul));
}

struct marks {
  unsigned long min, low, high, promo;
  bool operator==(const marks &) const = default;
};

std::ostream &operator<<(std::ostream &os, const marks &m) {
  return os << "{min " << m.min << ", low " << m.low << ", high " << m.high << ", promo " << m.promo
            << "}";
}

// Linux's __setup_per_zone_wmarks for one zone. Highmem and Movable get a
// small fixed min (managed/1024 within 32..128) and count not in lowmem.
marks model_marks(unsigned long pages_min, unsigned long lowmem_pages, unsigned long managed,
                  int idx, int scale_factor) {
  unsigned long tmp = static_cast<unsigned long>(static_cast<unsigned __int128>(pages_min) *
                                                 managed / lowmem_pages);
  unsigned long min = is_lowmem(idx) ? tmp : std::clamp(managed / 1024, 32ul, 128ul);
  unsigned long delta =
      std::max(tmp / 4, static_cast<unsigned long>(static_cast<unsigned __int128>(managed) *
                                                   unsigned(scale_factor) / 10000));
  return {min, min + delta, min + 2 * delta, min + 3 * delta};
}

marks marks_of(const zone &z) {
  return {z._watermark[WMARK_MIN], z._watermark[WMARK_LOW], z._watermark[WMARK_HIGH],
          z._watermark[WMARK_PROMO]};
}

// lowmem_reserve[j] of zone i, j > i: managed(i+1..j) / ratio[i]; 0 where
// the ratio is 0 or zone i is empty, and for j <= i.
long model_lowmem_reserve(const zone_sizes &managed, const int *ratio, int i, int j) {
  if (j <= i || ratio[i] == 0 || managed[i] == 0) return 0;
  unsigned long upper = 0;
  for (int k = i + 1; k <= j; k++) upper += managed[k];
  return long(upper / unsigned(ratio[i]));
}

unsigned long rounddown_pow2(unsigned long x) { return x ? 1ul << (63 - __builtin_clzl(x)) : 0; }

// zone_batchsize: min(managed / 1024, 256) / 4, at least 1, then
// rounddown_pow_of_two(batch + batch / 2) - 1 (so tiny zones get 0).
int model_batch(unsigned long managed) {
  unsigned long b = std::min(managed / 1024, 256ul) / 4;
  if (b < 1) b = 1;
  return int(rounddown_pow2(b + b / 2) - 1);
}

// zone_highsize with percpu_pagelist_high_fraction 0.
int model_high(unsigned long low, int batch, unsigned cpus) {
  return int(std::max(low / cpus, 4ul * unsigned(batch)));
}

// __zone_watermark_ok exactly as mm-reference.md states it.
// nr_free[o][t]: the blocks of order o on the lists of migrate type t.
using free_counts = unsigned long[NR_PAGE_ORDERS][MIGRATE_TYPES];

bool model_watermark_ok(unsigned long highatomic, const long *lowmem_reserve,
                        const free_counts &nr_free, unsigned order, unsigned long mark,
                        int classzone, unsigned flags, long free) {
  free -= (1l << order) - 1;
  if (!(flags & ALLOC_RESERVES)) free -= long(highatomic);
  long min = long(mark);
  if (flags & ALLOC_MIN_RESERVE) {
    min -= min / 2;
    if (flags & ALLOC_NON_BLOCK) min -= min / 4;
  }
  if (flags & ALLOC_OOM) min -= min / 2;
  if (free <= min + lowmem_reserve[classzone]) return false;
  if (order == 0) return true;
  // A block of the order, of a type the request may take: the ordinary
  // ones; the highatomic reserve's only for ALLOC_HIGHATOMIC or ALLOC_OOM;
  // an isolated one never.
  for (unsigned o = order; o < NR_PAGE_ORDERS; o++) {
    if (nr_free[o][MIGRATE_UNMOVABLE] || nr_free[o][MIGRATE_MOVABLE] || nr_free[o][MIGRATE_RECLAIMABLE]) return true;
    if ((flags & (ALLOC_HIGHATOMIC | ALLOC_OOM)) && nr_free[o][MIGRATE_HIGHATOMIC]) return true;
  }
  return false;
}

void count_free_blocks(const zone *z, free_counts &nr_free) {
  for (unsigned o = 0; o < NR_PAGE_ORDERS; o++)
    for (unsigned t = 0; t < MIGRATE_TYPES; t++) {
      nr_free[o][t] = 0;
      list_for_each(e, &z->free_area[o].free_list[t]) nr_free[o][t]++;
    }
}

bool zone_ok(const zone *z, unsigned order, unsigned long mark, int classzone, unsigned flags) {
  free_counts nr_free;
  count_free_blocks(z, nr_free);
  return model_watermark_ok(z->nr_reserved_highatomic, z->lowmem_reserve, nr_free, order, mark,
                            classzone, flags, zone_page_state(z, NR_FREE_PAGES));
}

// gfp_to_alloc_flags as mm-reference.md states it.
unsigned model_alloc_flags(gfp_t gfp, unsigned order) {
  unsigned f = ALLOC_WMARK_MIN;
  if (gfp & __GFP_HIGH) f |= ALLOC_MIN_RESERVE;
  if (gfp & __GFP_KSWAPD_RECLAIM) f |= ALLOC_KSWAPD;
  if (!(gfp & __GFP_DIRECT_RECLAIM) && !(gfp & __GFP_NOMEMALLOC)) {
    f |= ALLOC_NON_BLOCK;
    if (order > 0 && (f & ALLOC_MIN_RESERVE)) f |= ALLOC_HIGHATOMIC;
  }
  return f;
}

// ------------------------------------------------------------ pure functions

// int_sqrt is the floor of the square root, over the whole 64-bit range.
RC_GTEST_PROP(WatermarkFormula, IntSqrtIsFloorOfSquareRoot, ()) {
  const unsigned bits = *uniform(0u, 65u);
  const unsigned long x = bits == 0    ? 0
                          : bits == 64 ? *rc::gen::arbitrary<unsigned long>() | (1ul << 63)
                                       : *uniform(1ul << (bits - 1), 1ul << bits);
  const unsigned long r = int_sqrt(x);
  RC_ASSERT(static_cast<unsigned __int128>(r) * r <= x);
  RC_ASSERT(static_cast<unsigned __int128>(r + 1) * (r + 1) > x);
}

TEST(WatermarkFormula, IntSqrtHandWorked) {
  EXPECT_EQ(int_sqrt(0), 0ul);
  EXPECT_EQ(int_sqrt(1), 1ul);
  EXPECT_EQ(int_sqrt(2), 1ul);
  EXPECT_EQ(int_sqrt(3), 1ul);
  EXPECT_EQ(int_sqrt(4), 2ul);
  EXPECT_EQ(int_sqrt(1048575), 1023ul);
  EXPECT_EQ(int_sqrt(1048576), 1024ul);
  EXPECT_EQ(int_sqrt(2097152), 1448ul);  // 1448^2 = 2096704, 1449^2 = 2099601
  EXPECT_EQ(int_sqrt(~0ul), 4294967295ul);
}

// min_free_kbytes follows the int_sqrt rule over the managed pages of the
// zones up to Normal on every node (HighMem and Movable do not count), and
// a value set by the user wins.
RC_GTEST_PROP(WatermarkFormula, MinFreeKbytesFromLowmem, ()) {
  const int nr_nodes = *uniform(1, 3);
  std::vector<zone_sizes> managed(size_t(nr_nodes), zone_sizes{});
  for (zone_sizes &n : managed)
    for (unsigned long &m : n) m = *gen_size(36 - 2);
  hand_system hs(managed);
  calculate_min_free_kbytes(*hs.ms);
  RC_ASSERT(hs.ms->min_free_kbytes == model_min_free_kbytes(managed));
  const int user = *uniform(1, 1 << 20);
  hs.ms->user_min_free_kbytes = user;
  calculate_min_free_kbytes(*hs.ms);
  RC_ASSERT(hs.ms->min_free_kbytes == user);
}

// Worked by hand: lowmem_kbytes * 16, its square root, the clamp.
TEST(WatermarkFormula, MinFreeKbytesHandWorked) {
  struct example {
    zone_sizes managed;
    int kbytes;
  } examples[] = {
      {{0, 16384, 0, 0, 0}, 1024},            // 64 MiB: sqrt(65536 * 16)
      {{0, 32768, 0, 0, 0}, 1448},            // 128 MiB: sqrt(2097152)
      {{0, 262144, 0, 0, 0}, 4096},           // 1 GiB
      {{0, 524288, 524288, 0, 0}, 8192},      // 4 GiB over DMA32 and Normal
      {{4096, 12288, 0, 999999, 777}, 1024},  // HighMem and Movable do not count
      {{0, 256, 0, 0, 0}, 128},               // 1 MiB: sqrt(16384) = 128
      {{0, 100, 0, 0, 0}, 128},               // clamped up
      {{0, 255, 0, 0, 0}, 128},               // sqrt(16320) = 127, clamped up to 128
      {{0, 32760, 0, 0, 0}, 1447},            // sqrt(2096640): one page short of 1448^2 / 64
      {{0, 32761, 0, 0, 0}, 1448},            // sqrt(2096704) = 1448 exactly
      {{0, 0, 1ul << 36, 0, 0}, 262144},      // 256 TiB: clamped down
      {{0, 0, (1ul << 30) - 1, 0, 0}, 262143},  // sqrt(2^36 - 64): just under the cap
      {{0, 0, 1073750017, 0, 0}, 262144},     // sqrt = 262145, clamped down by one
  };
  for (const example &e : examples) {
    hand_system hs({e.managed});
    calculate_min_free_kbytes(*hs.ms);
    EXPECT_EQ(hs.ms->min_free_kbytes, e.kbytes) << e.managed[1];
  }
  hand_system two({{0, 8192, 0, 0, 0}, {0, 0, 8192, 0, 0}});
  calculate_min_free_kbytes(*two.ms);
  EXPECT_EQ(two.ms->min_free_kbytes, 1024);  // both nodes' lowmem counts
}

// Per-zone min/low/high/promo for random multi-zone, multi-node sizes,
// min_free_kbytes and watermark_scale_factor follow Linux's formula.
RC_GTEST_PROP(WatermarkFormula, PerZoneMarks, ()) {
  const int nr_nodes = *uniform(1, 3);
  std::vector<zone_sizes> managed(size_t(nr_nodes), zone_sizes{});
  // HighMem and Movable's fixed min is managed / 1024 within 32..128: sizes
  // at those edges (31 to 33 and 127 to 129 KiB-pages) come often.
  const auto at_small_min_edges = rc::gen::map(
      rc::gen::pair(rc::gen::element(31ul, 32ul, 33ul, 127ul, 128ul, 129ul), rc::gen::inRange(0ul, 1024ul)),
      [](std::pair<unsigned long, unsigned long> e) { return e.first * 1024 + e.second; });
  for (zone_sizes &n : managed)
    for (int i = 0; i < int(MAX_NR_ZONES); i++)
      n[i] = is_lowmem(i) ? *gen_size(26) : *rc::gen::oneOf(gen_size(26), at_small_min_edges);
  managed[0][ZONE_DMA32] += *uniform(1ul, 1ul << 20);  // some lowmem to share min over
  hand_system hs(managed);
  hs.ms->min_free_kbytes = *uniform(128, 262145);
  hs.ms->watermark_scale_factor =
      *rc::gen::weightedOneOf<int>({{3, rc::gen::just(10)}, {1, uniform(1, 3001)}});
  setup_per_zone_wmarks(*hs.ms);
  unsigned long pages_min = unsigned(hs.ms->min_free_kbytes) / 4;
  unsigned long lowmem = 0;
  for (const zone_sizes &n : managed)
    for (int i = 0; i < int(MAX_NR_ZONES); i++)
      if (is_lowmem(i)) lowmem += n[i];
  for (int nid = 0; nid < nr_nodes; nid++)
    for (int i = 0; i < int(MAX_NR_ZONES); i++) {
      // Empty zones too: Linux computes every zone's marks.
      RC_ASSERT(marks_of(hs.z(nid, i)) ==
                model_marks(pages_min, lowmem, managed[nid][i], i, hs.ms->watermark_scale_factor));
    }
}

// Worked by hand, including the brief's example: 16384 managed pages with
// min_free_kbytes 512 give pages_min 128, so min 128, delta max(32, 16) = 32.
TEST(WatermarkFormula, PerZoneMarksHandWorked) {
  {
    hand_system hs({{0, 16384, 0, 0, 0}});
    hs.ms->min_free_kbytes = 512;
    setup_per_zone_wmarks(*hs.ms);
    EXPECT_EQ(marks_of(hs.z(0, ZONE_DMA32)), (marks{128, 160, 192, 224}));
  }
  {
    // 128 pages shared 3:1; deltas are min/4 (the scale factor gives less).
    hand_system hs({{0, 12288, 4096, 0, 0}});
    hs.ms->min_free_kbytes = 512;
    setup_per_zone_wmarks(*hs.ms);
    EXPECT_EQ(marks_of(hs.z(0, ZONE_DMA32)), (marks{96, 120, 144, 168}));
    EXPECT_EQ(marks_of(hs.z(0, ZONE_NORMAL)), (marks{32, 40, 48, 56}));
  }
  {
    // A large zone: managed * 10 / 10000 = 1000 beats min / 4 = 250.
    hand_system hs({{0, 0, 1000000, 0, 0}});
    hs.ms->min_free_kbytes = 4000;
    setup_per_zone_wmarks(*hs.ms);
    EXPECT_EQ(marks_of(hs.z(0, ZONE_NORMAL)), (marks{1000, 2000, 3000, 4000}));
    hs.ms->watermark_scale_factor = 100;  // 1%: delta 10000
    setup_per_zone_wmarks(*hs.ms);
    EXPECT_EQ(marks_of(hs.z(0, ZONE_NORMAL)), (marks{1000, 11000, 21000, 31000}));
  }
  {
    // HighMem keeps a small min of its own (50000 / 1024 = 48) and takes no
    // share of pages_min; its delta is still max(tmp / 4, managed * 0.1%).
    hand_system hs({{0, 100000, 0, 50000, 0}});
    hs.ms->min_free_kbytes = 400;
    setup_per_zone_wmarks(*hs.ms);
    EXPECT_EQ(marks_of(hs.z(0, ZONE_DMA32)), (marks{100, 200, 300, 400}));
    EXPECT_EQ(marks_of(hs.z(0, ZONE_HIGHMEM)), (marks{48, 98, 148, 198}));
  }
  {
    // Movable is capped like HighMem, and does not dilute lowmem's min.
    hand_system hs({{0, 0, 100000, 0, 10000}});
    hs.ms->min_free_kbytes = 400;
    setup_per_zone_wmarks(*hs.ms);
    EXPECT_EQ(marks_of(hs.z(0, ZONE_NORMAL)), (marks{100, 200, 300, 400}));
    // tmp = 100 * 10000 / 100000 = 10; min = clamp(9, 32, 128) = 32; delta 10.
    EXPECT_EQ(marks_of(hs.z(0, ZONE_MOVABLE)), (marks{32, 42, 52, 62}));
  }
}

// HighMem and Movable's min is managed / 1024 (not / 1023), clamped to
// 32..128 only outside that range: 49104 pages give 47 and 130048 give 127;
// each keeps its own delta, max(tmp / 4, managed * 0.1%).
TEST(WatermarkFormula, SmallMinZonesHandWorked) {
  hand_system hs({{0, 100000, 0, 49104, 130048}});
  hs.ms->min_free_kbytes = 400;  // pages_min 100, all of it DMA32's
  setup_per_zone_wmarks(*hs.ms);
  EXPECT_EQ(marks_of(hs.z(0, ZONE_DMA32)), (marks{100, 200, 300, 400}));
  // tmp = 100 * 49104 / 100000 = 49: delta max(12, 49).
  EXPECT_EQ(marks_of(hs.z(0, ZONE_HIGHMEM)), (marks{47, 96, 145, 194}));
  // tmp = 130: delta max(32, 130).
  EXPECT_EQ(marks_of(hs.z(0, ZONE_MOVABLE)), (marks{127, 257, 387, 517}));
}

// Linux computes the marks of every zone, empty ones included: an empty
// lowmem zone's share and delta are 0, while an empty HighMem or Movable
// zone keeps the smallest min, 32 (its zoneinfo shows min, low and high 32).
// A machine with no lowmem at all (only Movable) gives no zone a share.
TEST(WatermarkFormula, EmptyZonesAndNoLowmem) {
  {
    hand_system hs({{0, 16384, 0, 0, 0}});
    hs.ms->min_free_kbytes = 512;
    setup_per_zone_wmarks(*hs.ms);
    EXPECT_EQ(marks_of(hs.z(0, ZONE_DMA32)), (marks{128, 160, 192, 224}));
    for (int i : {ZONE_DMA, ZONE_NORMAL}) EXPECT_EQ(marks_of(hs.z(0, i)), (marks{0, 0, 0, 0})) << i;
    for (int i : {ZONE_HIGHMEM, ZONE_MOVABLE}) EXPECT_EQ(marks_of(hs.z(0, i)), (marks{32, 32, 32, 32})) << i;
  }
  {
    hand_system hs({{0, 0, 0, 0, 100000}});
    calculate_min_free_kbytes(*hs.ms);
    EXPECT_EQ(hs.ms->min_free_kbytes, 128);
    setup_per_zone_wmarks(*hs.ms);
    // min 100000 / 1024 = 97; delta 100000 * 10 / 10000 = 100.
    EXPECT_EQ(marks_of(hs.z(0, ZONE_MOVABLE)), (marks{97, 197, 297, 397}));
    for (int i : {ZONE_DMA, ZONE_DMA32, ZONE_NORMAL}) EXPECT_EQ(marks_of(hs.z(0, i)), (marks{0, 0, 0, 0})) << i;
    EXPECT_EQ(marks_of(hs.z(0, ZONE_HIGHMEM)), (marks{32, 32, 32, 32}));
  }
}

// lowmem_reserve of every zone, for random sizes and ratios (0 included).
RC_GTEST_PROP(WatermarkFormula, LowmemReserve, ()) {
  const int nr_nodes = *uniform(1, 3);
  std::vector<zone_sizes> managed(size_t(nr_nodes), zone_sizes{});
  for (zone_sizes &n : managed)
    for (unsigned long &m : n) m = *gen_size(30);
  hand_system hs(managed);
  int ratio[MAX_NR_ZONES];
  for (int &r : ratio)
    r = *rc::gen::weightedOneOf<int>({{1, rc::gen::just(0)}, {4, uniform(1, 5000)}});
  std::copy(ratio, ratio + MAX_NR_ZONES, hs.ms->lowmem_reserve_ratio);
  setup_per_zone_lowmem_reserve(*hs.ms);
  for (int nid = 0; nid < nr_nodes; nid++)
    for (int i = 0; i < int(MAX_NR_ZONES); i++)
      for (int j = 0; j < int(MAX_NR_ZONES); j++)
        RC_ASSERT(hs.z(nid, i).lowmem_reserve[j] ==
                  model_lowmem_reserve(managed[nid], ratio, i, j));
}

// As mem_system_init leaves a machine: vm.lowmem_reserve_ratio at Linux's
// default "256 256 32 0 0" (DMA and DMA32 keep 1/256 of what lies above
// them, Normal 1/32), and every zone's lowmem_reserve from it; the other
// tunables at Linux's defaults too.
TEST(WatermarkFormula, InitReservesWithLinuxsDefaultRatios) {
  mm_fixture f;
  ASSERT_EQ(build_three_zones(f), 0);
  const int linux_ratio[MAX_NR_ZONES] = {256, 256, 32, 0, 0};
  EXPECT_EQ(std::vector<int>(f.ms->lowmem_reserve_ratio, f.ms->lowmem_reserve_ratio + MAX_NR_ZONES),
            std::vector<int>(linux_ratio, linux_ratio + MAX_NR_ZONES));
  // The other vm sysctls' defaults, as Linux boots with them.
  EXPECT_EQ(f.ms->watermark_scale_factor, 10);
  EXPECT_EQ(f.ms->compaction_proactiveness, 20);
  EXPECT_EQ(f.ms->extfrag_threshold, 500);
  const pglist_data *n = f.ms->node_data[0];
  zone_sizes managed{};
  for (int i = 0; i < int(MAX_NR_ZONES); i++) managed[i] = n->node_zones[i].managed_pages;
  ASSERT_GT(managed[ZONE_DMA] * managed[ZONE_DMA32] * managed[ZONE_NORMAL], 0u);
  for (int i = 0; i < int(MAX_NR_ZONES); i++)
    for (int j = 0; j < int(MAX_NR_ZONES); j++)
      EXPECT_EQ(n->node_zones[i].lowmem_reserve[j], model_lowmem_reserve(managed, linux_ratio, i, j)) << i << " " << j;
}

// The brief's three-zone case by hand: DMA 3840, DMA32 4096, Normal 8192
// pages with ratios 256/256/32.
TEST(WatermarkFormula, LowmemReserveHandWorked) {
  hand_system hs({{3840, 4096, 8192, 0, 0}});
  setup_per_zone_lowmem_reserve(*hs.ms);
  const long dma[] = {0, 16, 48, 48, 48};   // 4096/256, (4096+8192)/256
  const long dma32[] = {0, 0, 32, 32, 32};  // 8192/256
  for (int j = 0; j < int(MAX_NR_ZONES); j++) {
    EXPECT_EQ(hs.z(0, ZONE_DMA).lowmem_reserve[j], dma[j]) << j;
    EXPECT_EQ(hs.z(0, ZONE_DMA32).lowmem_reserve[j], dma32[j]) << j;
    EXPECT_EQ(hs.z(0, ZONE_NORMAL).lowmem_reserve[j], 0) << j;  // nothing above it
  }
  // The divisions round down: a page short of a multiple of the ratio.
  hand_system odd({{1000, 4095, 8191, 0, 0}});
  setup_per_zone_lowmem_reserve(*odd.ms);
  const long odd_dma[] = {0, 15, 47, 47, 47};   // 4095/256, 12286/256
  const long odd_dma32[] = {0, 0, 31, 31, 31};  // 8191/256
  for (int j = 0; j < int(MAX_NR_ZONES); j++) {
    EXPECT_EQ(odd.z(0, ZONE_DMA).lowmem_reserve[j], odd_dma[j]) << j;
    EXPECT_EQ(odd.z(0, ZONE_DMA32).lowmem_reserve[j], odd_dma32[j]) << j;
  }
}

// The reserves are recomputed whole whatever the fields held (a tunable
// changed, or a node's pglist_data not zeroed): a zone keeps nothing back
// from requests of its own class or a lower one.
TEST(WatermarkFormula, LowmemReserveRecomputedWhole) {
  const zone_sizes managed = {3840, 4096, 8192, 1000, 2000};
  hand_system hs({managed});
  for (int i = 0; i < int(MAX_NR_ZONES); i++)
    for (long &r : hs.z(0, i).lowmem_reserve) r = 12345;
  setup_per_zone_lowmem_reserve(*hs.ms);
  for (int i = 0; i < int(MAX_NR_ZONES); i++)
    for (int j = 0; j < int(MAX_NR_ZONES); j++)
      EXPECT_EQ(hs.z(0, i).lowmem_reserve[j], model_lowmem_reserve(managed, hs.ms->lowmem_reserve_ratio, i, j))
          << i << " " << j;
}

// zone_batchsize and zone_highsize follow Linux's static rules.
RC_GTEST_PROP(WatermarkFormula, BatchAndHigh, ()) {
  hand_system hs({{0, 0, *gen_size(34), 0, 0}});
  zone &z = hs.z(0, ZONE_NORMAL);
  RC_ASSERT(zone_batchsize(&z) == model_batch(z.managed_pages));
  z._watermark[WMARK_LOW] = *gen_size(30);
  const int batch = *uniform(1, 64);
  const unsigned cpus = *uniform(1u, NR_CPUS + 1);
  RC_ASSERT(zone_highsize(&z, batch, cpus) == model_high(z._watermark[WMARK_LOW], batch, cpus));
}

// The brief's examples: batch 7 for a 128 MiB zone, 31 for 512 MiB, 63 from
// 1 GiB up; a zone under 8 MiB gets 0 (the per-CPU lists then use 1).
TEST(WatermarkFormula, BatchHandWorked) {
  const std::pair<unsigned long, int> examples[] = {
      {32768, 7}, {131072, 31}, {262144, 63}, {1ul << 22, 63}, {8192, 1}, {2047, 0}, {0, 0},
      {45056, 15}};  // 44 / 4 = 11: rounddown_pow_of_two(11 + 5) - 1
  for (auto [managed, batch] : examples) {
    hand_system hs({{0, managed, 0, 0, 0}});
    EXPECT_EQ(zone_batchsize(&hs.z(0, ZONE_DMA32)), batch) << managed;
  }
  hand_system hs({{0, 32768, 0, 0, 0}});
  zone &z = hs.z(0, ZONE_DMA32);
  z._watermark[WMARK_LOW] = 1000;
  EXPECT_EQ(zone_highsize(&z, 7, 1), 1000);
  EXPECT_EQ(zone_highsize(&z, 7, 0), 1000);  // no CPU to share with: as one
  EXPECT_EQ(zone_highsize(&z, 7, 4), 250);
  EXPECT_EQ(zone_highsize(&z, 7, 100), 28);  // never below 4 * batch
  z._watermark[WMARK_LOW] = 25;
  EXPECT_EQ(zone_highsize(&z, 7, 1), 28);  // 25 is below 4 * 7
  z._watermark[WMARK_LOW] = 30;
  EXPECT_EQ(zone_highsize(&z, 7, 1), 30);  // 30 is not
  // No CPUs counts as one (the caller passes every online CPU for a
  // CPU-less node; 0 must not divide).
  z._watermark[WMARK_LOW] = 1000;
  EXPECT_EQ(zone_highsize(&z, 7, 0), 1000);
}

// The watermark check as a pure function of a hand-filled zone: random
// marks, orders, classzones, reserves, free counts and free blocks of every
// migrate type.
RC_GTEST_PROP(WatermarkCheck, MatchesFormula, ()) {
  hand_system hs({{0, 0, 100000, 0, 0}});
  zone &z = hs.z(0, ZONE_NORMAL);
  std::vector<page> blocks(NR_PAGE_ORDERS * 2);
  for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) {
    unsigned n = *rc::gen::weightedElement<unsigned>({{3, 0}, {1, 1}, {1, 2}});
    for (unsigned k = 0; k < n; k++)
      list_add(&blocks[o * 2 + k].lru, &z.free_area[o].free_list[*uniform(0, int(MIGRATE_TYPES))]);
    z.free_area[o].nr_free = n;
  }
  for (int j = 0; j < int(MAX_NR_ZONES); j++)
    z.lowmem_reserve[j] =
        *rc::gen::weightedOneOf<long>({{1, rc::gen::just(0l)}, {1, uniform(0l, 3000l)}});
  z.nr_reserved_highatomic =
      *rc::gen::weightedOneOf<unsigned long>({{2, rc::gen::just(0ul)}, {1, uniform(0ul, 500ul)}});
  const unsigned order = *uniform(0u, NR_PAGE_ORDERS);
  const unsigned long mark = *uniform(0ul, 5000ul);
  const int classzone = *uniform(0, int(MAX_NR_ZONES));
  unsigned flags = *rc::gen::element(unsigned(ALLOC_WMARK_MIN), unsigned(ALLOC_WMARK_LOW),
                                     unsigned(ALLOC_WMARK_HIGH));
  for (unsigned bit : {unsigned(ALLOC_MIN_RESERVE), unsigned(ALLOC_NON_BLOCK), unsigned(ALLOC_OOM),
                       unsigned(ALLOC_HIGHATOMIC), unsigned(ALLOC_KSWAPD)})
    if (*rc::gen::arbitrary<bool>()) flags |= bit;
  const long free = *uniform(-100l, 10000l);
  free_counts nr_free;
  count_free_blocks(&z, nr_free);
  const bool expect = model_watermark_ok(z.nr_reserved_highatomic, z.lowmem_reserve, nr_free, order,
                                         mark, classzone, flags, free);
  RC_ASSERT(__zone_watermark_ok(&z, order, mark, classzone, flags, free) == expect);
  z.vm_stat[NR_FREE_PAGES] = free;
  RC_ASSERT(zone_watermark_ok(&z, order, mark, classzone, flags) == expect);
}

// Worked by hand with mark 128: plain 129 passes and 128 fails; __GFP_HIGH
// (ALLOC_MIN_RESERVE) halves min to 64; non-blocking on top takes a further
// quarter, 48; non-blocking alone changes nothing; OOM halves again.
TEST(WatermarkCheck, HandWorked) {
  hand_system hs({{0, 0, 100000, 0, 0}});
  zone *z = &hs.z(0, ZONE_NORMAL);
  auto ok = [&](long free, unsigned flags, unsigned order = 0, int cz = ZONE_NORMAL) {
    return __zone_watermark_ok(z, order, 128, cz, flags, free);
  };
  EXPECT_TRUE(ok(129, 0));
  EXPECT_FALSE(ok(128, 0));
  EXPECT_TRUE(ok(65, ALLOC_MIN_RESERVE));
  EXPECT_FALSE(ok(64, ALLOC_MIN_RESERVE));
  EXPECT_TRUE(ok(49, ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK));
  EXPECT_FALSE(ok(48, ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK));
  EXPECT_TRUE(ok(129, ALLOC_NON_BLOCK));
  EXPECT_FALSE(ok(128, ALLOC_NON_BLOCK));
  EXPECT_TRUE(ok(65, ALLOC_OOM));
  EXPECT_FALSE(ok(64, ALLOC_OOM));
  EXPECT_FALSE(ok(-5, ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK | ALLOC_OOM));

  // Order 2: its own 3 further pages are not free for the check, and a
  // block of order >= 2 must exist.
  EXPECT_FALSE(ok(132, 0, 2));  // 132 - 3 = 129 > 128, but no block at all
  std::vector<page> blocks(2);
  list_add(&blocks[0].lru, &z->free_area[5].free_list[MIGRATE_UNMOVABLE]);
  z->free_area[5].nr_free = 1;
  EXPECT_TRUE(ok(132, 0, 2));
  EXPECT_FALSE(ok(131, 0, 2));
  EXPECT_FALSE(ok(1000, 0, 6));  // only an order-5 block
  EXPECT_TRUE(ok(1000, 0, 5));

  // lowmem_reserve of the request's classzone is added to min.
  z->lowmem_reserve[ZONE_MOVABLE] = 50;
  EXPECT_TRUE(ok(129, 0, 0, ZONE_NORMAL));
  EXPECT_FALSE(ok(178, 0, 0, ZONE_MOVABLE));
  EXPECT_TRUE(ok(179, 0, 0, ZONE_MOVABLE));
  EXPECT_TRUE(ok(65 + 50, ALLOC_MIN_RESERVE, 0, ZONE_MOVABLE));

  // The highatomic reserve is not free for callers without reserves.
  z->nr_reserved_highatomic = 10;
  EXPECT_TRUE(ok(139, 0));
  EXPECT_FALSE(ok(138, 0));
  EXPECT_TRUE(ok(129, ALLOC_NON_BLOCK));
  EXPECT_TRUE(ok(129, ALLOC_HIGHATOMIC));
  EXPECT_FALSE(ok(128, ALLOC_HIGHATOMIC));
}

// gfp_to_alloc_flags for the GFP types, worked by hand.
TEST(WatermarkCheck, GfpToAllocFlagsHandWorked) {
  EXPECT_EQ(gfp_to_alloc_flags(GFP_KERNEL, 0), unsigned(ALLOC_WMARK_MIN | ALLOC_KSWAPD));
  EXPECT_EQ(gfp_to_alloc_flags(GFP_KERNEL, 3), unsigned(ALLOC_WMARK_MIN | ALLOC_KSWAPD));
  EXPECT_EQ(gfp_to_alloc_flags(GFP_ATOMIC, 0),
            unsigned(ALLOC_WMARK_MIN | ALLOC_MIN_RESERVE | ALLOC_KSWAPD | ALLOC_NON_BLOCK));
  EXPECT_EQ(gfp_to_alloc_flags(GFP_ATOMIC, 1),  // any order above 0 may use the highatomic reserve
            unsigned(ALLOC_WMARK_MIN | ALLOC_MIN_RESERVE | ALLOC_KSWAPD | ALLOC_NON_BLOCK |
                     ALLOC_HIGHATOMIC));
  EXPECT_EQ(gfp_to_alloc_flags(GFP_ATOMIC, 2),
            unsigned(ALLOC_WMARK_MIN | ALLOC_MIN_RESERVE | ALLOC_KSWAPD | ALLOC_NON_BLOCK |
                     ALLOC_HIGHATOMIC));
  EXPECT_EQ(gfp_to_alloc_flags(GFP_NOWAIT, 0),
            unsigned(ALLOC_WMARK_MIN | ALLOC_KSWAPD | ALLOC_NON_BLOCK));
  EXPECT_EQ(gfp_to_alloc_flags(GFP_NOWAIT, 1),
            unsigned(ALLOC_WMARK_MIN | ALLOC_KSWAPD | ALLOC_NON_BLOCK));
  EXPECT_EQ(gfp_to_alloc_flags(GFP_NOIO, 0), unsigned(ALLOC_WMARK_MIN | ALLOC_KSWAPD));
  EXPECT_EQ(gfp_to_alloc_flags(GFP_KERNEL | __GFP_HIGH, 0),
            unsigned(ALLOC_WMARK_MIN | ALLOC_MIN_RESERVE | ALLOC_KSWAPD));
  EXPECT_EQ(gfp_to_alloc_flags(GFP_ATOMIC | __GFP_NOMEMALLOC, 1),
            unsigned(ALLOC_WMARK_MIN | ALLOC_MIN_RESERVE | ALLOC_KSWAPD));
  EXPECT_EQ(gfp_to_alloc_flags(0, 0), unsigned(ALLOC_WMARK_MIN | ALLOC_NON_BLOCK));
}

// gfp_to_alloc_flags for any flags and order.
RC_GTEST_PROP(WatermarkCheck, GfpToAllocFlags, ()) {
  const gfp_t gfp = *rc::gen::arbitrary<gfp_t>() & __GFP_BITS_MASK;
  const unsigned order = *uniform(0u, NR_PAGE_ORDERS);
  RC_ASSERT(gfp_to_alloc_flags(gfp, order) == model_alloc_flags(gfp, order));
}

// ------------------------------------------------------------ on the fixtures


std::vector<zone *> managed_zones(const mem_system &ms) {
  std::vector<zone *> out;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) if (managed_zone(z)) out.push_back(z);
  return out;
}

long pcp_pages_of(const zone *z) {
  long n = 0;
  for (const per_cpu_pages &pcp : z->pcp) n += pcp.count;
  return n;
}

// Checks a built mem_system against the formulas, from its own managed
// counts: min_free_kbytes (unless set), every zone's marks and
// lowmem_reserve, every CPU's batch and high, and totalreserve_pages.
void expect_formulas_hold(const mem_system &ms, int user_min_free_kbytes) {
  std::vector<zone_sizes> managed;
  unsigned cpus_of[MAX_NUMNODES] = {};
  for (unsigned c = 0; c < ms.nr_cpus; c++) cpus_of[ms.cpu_to_node[c]]++;
  for_each_online_pgdat(ms, pgdat) {
    zone_sizes n{};
    for (int i = 0; i < int(MAX_NR_ZONES); i++) n[i] = pgdat->node_zones[i].managed_pages;
    managed.push_back(n);
  }
  EXPECT_EQ(ms.min_free_kbytes,
            user_min_free_kbytes ? user_min_free_kbytes : model_min_free_kbytes(managed));
  unsigned long lowmem = 0;
  for (const zone_sizes &n : managed)
    for (int i = 0; i < int(MAX_NR_ZONES); i++)
      if (is_lowmem(i)) lowmem += n[i];
  unsigned long totalreserve = 0;
  size_t k = 0;
  for_each_online_pgdat(ms, pgdat) {
    const zone_sizes &n = managed[k++];
    for_each_zone_of(pgdat, z) {
      SCOPED_TRACE(std::string("node ") + std::to_string(pgdat->node_id) + " " + z->name);
      if (!managed_zone(z)) continue;
      EXPECT_EQ(marks_of(*z), model_marks(unsigned(ms.min_free_kbytes) / 4, lowmem,
                                          z->managed_pages, z->idx, ms.watermark_scale_factor));
      long max_reserve = 0;
      for (int j = 0; j < int(MAX_NR_ZONES); j++) {
        long r = model_lowmem_reserve(n, ms.lowmem_reserve_ratio, z->idx, j);
        EXPECT_EQ(z->lowmem_reserve[j], r) << j;
        max_reserve = std::max(max_reserve, r);
      }
      totalreserve += std::min(z->managed_pages, high_wmark_pages(z) + unsigned(max_reserve));
      int batch = std::max(1, model_batch(z->managed_pages));
      // Linux splits high over the node's CPUs, or over every online CPU
      // when the node has none.
      unsigned split = cpus_of[pgdat->node_id] ? cpus_of[pgdat->node_id] : ms.nr_cpus;
      for (unsigned c = 0; c < ms.nr_cpus; c++) {
        EXPECT_EQ(z->pcp[c].batch, batch) << "cpu " << c;
        EXPECT_EQ(z->pcp[c].high, model_high(low_wmark_pages(z), batch, split)) << "cpu " << c;
      }
    }
  }
  EXPECT_EQ(ms.totalreserve_pages, totalreserve);
}

// Every fixture layout, as mem_system_init builds it, satisfies the formulas.
TEST(WatermarkFixture, LayoutsFollowFormulas) {
  for (layout_kind k : all_layouts) {
    SCOPED_TRACE(int(k));
    mm_fixture f;
    ASSERT_EQ(build_layout(f, k), 0);
    expect_formulas_hold(*f.ms, 0);
  }
  // min_free_kbytes from the command line replaces the int_sqrt rule.
  mm_fixture f;
  mem_layout l = layout_with_limits(PFN_16M, (32 * SZ_1M) >> PAGE_SHIFT, PFN_MAX);
  l.min_free_kbytes = 3000;
  ASSERT_EQ(f.build({{SZ_1M, 63 * SZ_1M, 0}}, l), 0);
  expect_formulas_hold(*f.ms, 3000);
}

// The brief's batch examples on real zones: 7 for 128 MiB, 31 for 512 MiB,
// 63 for 1 GiB, whatever the boot allocations took.
TEST(WatermarkFixture, BatchOfRealZones) {
  const std::pair<u64, int> sizes[] = {{128 * SZ_1M, 7}, {512 * SZ_1M, 31}, {SZ_1G, 63}};
  for (auto [size, batch] : sizes) {
    mm_fixture f;
    ASSERT_EQ(build_single_zone(f, size), 0);
    zone *z = managed_zones(*f.ms).front();
    EXPECT_EQ(z->pcp[0].batch, batch) << size;
    EXPECT_EQ(z->pcp[1].batch, batch) << size;
    expect_formulas_hold(*f.ms, 0);
  }
}

// A node without CPUs splits its pcp high over every online CPU (Linux's
// zone_highsize), not over none.
TEST(WatermarkFixture, PcpHighOnCpulessNode) {
  mm_fixture f;
  mem_layout l = layout_with_limits(0, PFN_4G, PFN_MAX, 2);
  ASSERT_EQ(f.build({{SZ_4G - 16 * SZ_1M, 32 * SZ_1M, 0}, {SZ_4G + 16 * SZ_1M, 32 * SZ_1M, 1}}, l),
            0);
  expect_formulas_hold(*f.ms, 0);
}

// Allocates order-0 pages with gfp on the current CPU until one fails.
size_t alloc_until_failure(mem_system &ms, gfp_t gfp, std::vector<page *> &out) {
  size_t n = 0;
  while (page *p = alloc_pages(ms, gfp | __GFP_NOWARN, 0)) {
    out.push_back(p);
    n++;
  }
  return n;
}

// The reduced minimum for a request: min - min/2 with __GFP_HIGH, and a
// further quarter when it cannot block.
long reduced_min(long min, bool high, bool non_block) {
  if (high) {
    min -= min / 2;
    if (non_block) min -= min / 4;
  }
  return min;
}

// Where an allocation loop that a watermark check ended leaves a zone: the
// check reads the total, so the exact count (the per-CPU lists drained)
// ends within the CPUs' drift of the mark (exactly at it before the
// counters had per-CPU deltas).
void expect_stopped_at(const mem_system &ms, const zone *z, long mark) {
  const long exact = zone_page_state_snapshot(z, NR_FREE_PAGES);
  EXPECT_LE(exact, mark + vmstat_drift(ms, z)) << z->name << " mark " << mark;
  EXPECT_GE(exact, mark - vmstat_drift(ms, z)) << z->name << " mark " << mark;
  EXPECT_LE(zone_page_state(z, NR_FREE_PAGES), mark) << z->name << ": the check's own count is at or below the mark";
}

// One zone: GFP_KERNEL takes it down to min (after draining the per-CPU
// lists before failing), GFP_NOWAIT gets nothing more, __GFP_HIGH to half
// of min, and GFP_ATOMIC dips further but never below its reduced minimum
// (each within the per-CPU counters' drift). Freeing everything restores
// the zone.
TEST(WatermarkBehaviour, KernelStopsAtMinAtomicAtReducedMin) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f), 0);
  mem_system &ms = *f.ms;
  zone *z = managed_zones(ms).front();
  const long min = long(min_wmark_pages(z));
  const long initial = zone_page_state_snapshot(z, NR_FREE_PAGES);
  ASSERT_GT(min, 16);
  std::vector<page *> held;

  const long drift = vmstat_drift(ms, z);
  size_t got = alloc_until_failure(ms, GFP_KERNEL, held);
  EXPECT_EQ(long(got), initial - zone_page_state_snapshot(z, NR_FREE_PAGES));
  expect_stopped_at(ms, z, min);
  EXPECT_EQ(pcp_pages_of(z), 0);

  EXPECT_EQ(alloc_until_failure(ms, GFP_NOWAIT, held), 0u);
  EXPECT_EQ(alloc_until_failure(ms, GFP_KERNEL | __GFP_DIRECT_RECLAIM, held), 0u);

  const long half = reduced_min(min, true, false);
  const long before_high = zone_page_state_snapshot(z, NR_FREE_PAGES);
  got = alloc_until_failure(ms, GFP_KERNEL | __GFP_HIGH, held);
  EXPECT_EQ(long(got), before_high - zone_page_state_snapshot(z, NR_FREE_PAGES));
  expect_stopped_at(ms, z, half);
  EXPECT_EQ(pcp_pages_of(z), 0);

  const long atomic_min = reduced_min(min, true, true);
  got = alloc_until_failure(ms, GFP_ATOMIC, held);
  EXPECT_GT(got, 0u);
  // Without a drain pages may wait on the per-CPU lists; they are still free.
  EXPECT_LE(zone_page_state_snapshot(z, NR_FREE_PAGES), atomic_min + drift);
  EXPECT_GE(zone_page_state_snapshot(z, NR_FREE_PAGES) + pcp_pages_of(z), atomic_min - drift);
  drain_all_pages(ms);
  alloc_until_failure(ms, GFP_ATOMIC, held);
  drain_all_pages(ms);
  EXPECT_GE(zone_page_state_snapshot(z, NR_FREE_PAGES), atomic_min - drift);
  EXPECT_LE(zone_page_state_snapshot(z, NR_FREE_PAGES), atomic_min + 1 + drift);

  for (page *p : held) __free_pages(ms, p, 0);
  drain_all_pages(ms);
  EXPECT_EQ(zone_page_state_snapshot(z, NR_FREE_PAGES), initial);
  EXPECT_EQ(f.check(), "");
}

// Three zones: a Normal-class GFP_KERNEL request falls back to DMA32 and DMA
// but leaves each at its min + lowmem_reserve[NORMAL] (within the per-CPU
// counters' drift); a DMA32
// request then takes DMA32 down to its own min and DMA to min +
// lowmem_reserve[DMA32], without touching Normal; a DMA request takes DMA
// down to its min.
TEST(WatermarkBehaviour, ZoneFallbackRespectsLowmemReserve) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_three_zones(f), 0);
  mem_system &ms = *f.ms;
  pglist_data *pgdat = NODE_DATA(ms, 0);
  zone *dma = &pgdat->node_zones[ZONE_DMA], *dma32 = &pgdat->node_zones[ZONE_DMA32],
       *normal = &pgdat->node_zones[ZONE_NORMAL];
  ASSERT_TRUE(managed_zone(dma) && managed_zone(dma32) && managed_zone(normal));
  auto free_of = [](zone *z) { return zone_page_state_snapshot(z, NR_FREE_PAGES); };
  auto mark = [](zone *z, int classzone) {
    return long(min_wmark_pages(z)) + z->lowmem_reserve[classzone];
  };
  ASSERT_GT(dma->lowmem_reserve[ZONE_NORMAL], dma->lowmem_reserve[ZONE_DMA32]);
  ASSERT_GT(dma32->lowmem_reserve[ZONE_NORMAL], 0);
  std::vector<page *> held;
  const long start[3] = {free_of(dma), free_of(dma32), free_of(normal)};
  for (int i = 0; i < 3; i++) ASSERT_GT(start[i], mark(&pgdat->node_zones[i], ZONE_NORMAL));

  alloc_until_failure(ms, GFP_KERNEL, held);
  expect_stopped_at(ms, normal, mark(normal, ZONE_NORMAL));
  expect_stopped_at(ms, dma32, mark(dma32, ZONE_NORMAL));
  expect_stopped_at(ms, dma, mark(dma, ZONE_NORMAL));

  const long normal_after = free_of(normal);
  alloc_until_failure(ms, GFP_KERNEL | GFP_DMA32, held);
  EXPECT_EQ(free_of(normal), normal_after);
  expect_stopped_at(ms, dma32, mark(dma32, ZONE_DMA32));
  expect_stopped_at(ms, dma, mark(dma, ZONE_DMA32));

  const long dma32_after = free_of(dma32);
  alloc_until_failure(ms, GFP_KERNEL | GFP_DMA, held);
  EXPECT_EQ(free_of(normal), normal_after);
  EXPECT_EQ(free_of(dma32), dma32_after);
  expect_stopped_at(ms, dma, long(min_wmark_pages(dma)));
  for (zone *z : {dma, dma32, normal}) EXPECT_EQ(pcp_pages_of(z), 0) << z->name;

  long total = 0;
  for (int i = 0; i < 3; i++) total += start[i] - free_of(&pgdat->node_zones[i]);
  EXPECT_EQ(long(held.size()), total);
  for (page *p : held) __free_pages(ms, p, 0);
  drain_all_pages(ms);
  for (int i = 0; i < 3; i++) EXPECT_EQ(free_of(&pgdat->node_zones[i]), start[i]);
  EXPECT_EQ(f.check(), "");
}

// kswapd is woken by the first allocation whose fast path finds the zone at
// or below its low watermark, and not before; requests without
// __GFP_KSWAPD_RECLAIM never wake it.
TEST(WatermarkBehaviour, KswapdWokenAtLow) {
  cpu_reset reset;
  for (gfp_t gfp : {GFP_KERNEL, GFP_NOWAIT, GFP_ATOMIC}) {
    SCOPED_TRACE(gfp);
    mm_fixture f;
    ASSERT_EQ(build_single_zone(f), 0);
    mem_system &ms = *f.ms;
    pglist_data *pgdat = NODE_DATA(ms, 0);
    zone *z = managed_zones(ms).front();
    ASSERT_FALSE(pgdat->kswapd_wanted);
    std::vector<page *> held;
    bool woken = false;
    for (int i = 0; i < 100000 && !woken; i++) {
      bool above_low = zone_ok(z, 0, low_wmark_pages(z), ZONE_NORMAL, 0);
      page *p = alloc_pages(ms, gfp | __GFP_NOWARN, 0);
      ASSERT_NE(p, nullptr);
      held.push_back(p);
      if (above_low) {
        ASSERT_FALSE(pgdat->kswapd_wanted) << "after " << held.size() << " pages";
      } else {
        EXPECT_TRUE(pgdat->kswapd_wanted);
        EXPECT_EQ(pgdat->kswapd_highest_zoneidx, int(ZONE_NORMAL));
        woken = true;
      }
    }
    EXPECT_TRUE(woken);
    for (page *p : held) __free_pages(ms, p, 0);
  }
  // Without __GFP_KSWAPD_RECLAIM: down to min, and kswapd sleeps on.
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f), 0);
  mem_system &ms = *f.ms;
  zone *z = managed_zones(ms).front();
  std::vector<page *> held;
  alloc_until_failure(ms, GFP_KERNEL & ~__GFP_KSWAPD_RECLAIM, held);
  expect_stopped_at(ms, z, long(min_wmark_pages(z)));
  EXPECT_FALSE(NODE_DATA(ms, 0)->kswapd_wanted);
  for (page *p : held) __free_pages(ms, p, 0);
}

// A shrinker holding pages the test allocated earlier: it frees up to
// nr_to_scan of them per call and records the zone's state at each call.
struct page_cache_shrinker {
  shrinker s{};
  mem_system *ms;
  zone *z;
  std::vector<page *> pages;
  struct call {
    unsigned long nr_to_scan;
    long free_at_entry;
    bool balanced_at_entry;
  };
  std::vector<call> calls;
  unsigned long freed = 0;

  page_cache_shrinker(mem_system &m, zone *zz, long batch) : ms(&m), z(zz) {
    s.count_objects = count;
    s.scan_objects = scan;
    s.batch = batch;
    s.private_data = this;
    INIT_LIST_HEAD(&s.list);
  }
  bool balanced() const { return zone_ok(z, 0, high_wmark_pages(z), ZONE_NORMAL, 0); }
  static unsigned long count(shrinker *s, shrink_control *) {
    auto *self = static_cast<page_cache_shrinker *>(s->private_data);
    return self->pages.empty() ? SHRINK_EMPTY : self->pages.size();
  }
  static unsigned long scan(shrinker *s, shrink_control *sc) {
    auto *self = static_cast<page_cache_shrinker *>(s->private_data);
    self->calls.push_back(
        {sc->nr_to_scan, zone_page_state_snapshot(self->z, NR_FREE_PAGES), self->balanced()});
    unsigned long n = 0;
    while (n < sc->nr_to_scan && !self->pages.empty()) {
      __free_pages(*self->ms, self->pages.back(), 0);
      self->pages.pop_back();
      n++;
    }
    sc->nr_scanned = n;
    self->freed += n;
    return n;
  }
};

// kswapd_run, once woken, calls the shrinkers while the zone is not above
// its high watermark and stops as soon as it is: the zone ends balanced, no
// shrinker call starts on a balanced zone, each asks for at most the
// shrinker's batch, and the pages it reports freed are the shrinker's. A
// second run, or a run nobody asked for, calls nothing.
TEST(WatermarkBehaviour, KswapdReclaimsToHighAndStops) {
  cpu_reset reset;
  for (bool pcp_disabled : {true, false}) {
    SCOPED_TRACE(pcp_disabled ? "per-CPU lists disabled" : "per-CPU lists on");
    mm_fixture f;
    ASSERT_EQ(build_single_zone(f), 0);
    mem_system &ms = *f.ms;
    ms.pcp_disabled = pcp_disabled;
    pglist_data *pgdat = NODE_DATA(ms, 0);
    zone *z = managed_zones(ms).front();
    page_cache_shrinker cache(ms, z, 8);

    // Below low, but nobody asked (no __GFP_KSWAPD_RECLAIM): nothing runs.
    alloc_until_failure(ms, GFP_KERNEL & ~__GFP_KSWAPD_RECLAIM, cache.pages);
    register_shrinker(ms, &cache.s);
    ASSERT_FALSE(pgdat->kswapd_wanted);
    ASSERT_FALSE(cache.balanced());
    EXPECT_EQ(kswapd_run(ms), 0ul);
    EXPECT_TRUE(cache.calls.empty());

    // A request that may wake kswapd does.
    EXPECT_EQ(alloc_pages(ms, GFP_NOWAIT, 0), nullptr);
    ASSERT_TRUE(pgdat->kswapd_wanted);
    const size_t cached = cache.pages.size();

    unsigned long freed = kswapd_run(ms);
    EXPECT_TRUE(cache.balanced()) << "free " << zone_page_state_snapshot(z, NR_FREE_PAGES) << " high "
                                  << high_wmark_pages(z);
    EXPECT_TRUE(pgdat_balanced(pgdat, 0, ZONE_NORMAL));
    ASSERT_FALSE(cache.calls.empty());
    for (size_t i = 0; i < cache.calls.size(); i++) {
      EXPECT_FALSE(cache.calls[i].balanced_at_entry)
          << "call " << i << " of " << cache.calls.size();
      EXPECT_GE(cache.calls[i].nr_to_scan, 1ul);
      EXPECT_LE(cache.calls[i].nr_to_scan, 8ul);
    }
    EXPECT_EQ(freed, cache.freed);
    EXPECT_EQ(cached - cache.pages.size(), cache.freed);
    EXPECT_GT(cache.pages.size(), 0u) << "kswapd emptied the cache instead of stopping at high";
    EXPECT_FALSE(pgdat->kswapd_wanted);

    // Balanced: another run does nothing.
    size_t calls = cache.calls.size();
    EXPECT_EQ(kswapd_run(ms), 0ul);
    EXPECT_EQ(cache.calls.size(), calls);

    unregister_shrinker(ms, &cache.s);
    for (page *p : cache.pages) __free_pages(ms, p, 0);
    drain_all_pages(ms);
    EXPECT_EQ(f.check(), "");
  }
}

// Direct reclaim runs only for callers that may sleep: at min, GFP_NOWAIT
// fails and GFP_ATOMIC dips into the reserve without calling any shrinker,
// while GFP_KERNEL reclaims through the shrinker and succeeds.
TEST(WatermarkBehaviour, DirectReclaimOnlyWhenAllowed) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f), 0);
  mem_system &ms = *f.ms;
  zone *z = managed_zones(ms).front();
  page_cache_shrinker cache(ms, z, 16);
  alloc_until_failure(ms, GFP_KERNEL, cache.pages);
  expect_stopped_at(ms, z, long(min_wmark_pages(z)));
  register_shrinker(ms, &cache.s);

  EXPECT_EQ(alloc_pages(ms, GFP_NOWAIT, 0), nullptr);
  EXPECT_TRUE(cache.calls.empty());
  page *atomic = alloc_pages(ms, GFP_ATOMIC, 0);
  EXPECT_NE(atomic, nullptr);
  EXPECT_TRUE(cache.calls.empty());
  page *kernel = alloc_pages(ms, GFP_KERNEL, 0);
  EXPECT_NE(kernel, nullptr);
  EXPECT_FALSE(cache.calls.empty());
  EXPECT_GT(cache.freed, 0u);

  unregister_shrinker(ms, &cache.s);
  if (atomic) __free_pages(ms, atomic, 0);
  if (kernel) __free_pages(ms, kernel, 0);
  for (page *p : cache.pages) __free_pages(ms, p, 0);
  drain_all_pages(ms);
  EXPECT_EQ(f.check(), "");
}

}  // namespace

// The fallback rules of grouping by mobility against a model, step by step
// (proptest/mobility_model.h): on one zone with the per-CPU lists off, so
// that every request and every free meets the buddy lists, each allocation
// must take a block the rules allow and leave the pageblocks and free lists
// the model predicts; each free must merge as the model does; isolating and
// giving back pageblocks must succeed, fail and merge as predicted.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "mm/page_alloc.h"
#include "mm/page_isolation.h"
#include "proptest/mm_fixture.h"
#include "proptest/mobility_model.h"
#include "proptest/model_case.h"

namespace {

template <class T>
rc::Gen<T> uniform(T min, T max) {
  return rc::gen::inRange<T>(min, max);
}

// The zone the model runs on: 24 MiB (12 pageblocks) of DMA32, starting on a
// pageblock boundary or 1 MiB past one (so that its first and last
// pageblocks are partial, which never change type).
enum class zone_start { aligned, unaligned };

int build_model_zone(mm_fixture &f, zone_start s) {
  phys_addr_t base = 0x80000000ul + (s == zone_start::unaligned ? SZ_1M : 0);
  int err = f.build({{base, 24 * SZ_1M, 0}}, layout_with_limits(0, PFN_4G, PFN_MAX, 1));
  if (err == 0) f.ms->pcp_disabled = true;
  return err;
}

zone *model_zone(const mm_fixture &f) { return &f.ms->node_data[0]->node_zones[ZONE_DMA32]; }

struct model_state {
  zone_start start;
  unsigned nr_pageblocks;
  std::vector<int> handles;  // ids of allocations that may be live
  int next_id = 0;
};

struct model_sut {
  mm_fixture f;
  mobility_model m;
  std::map<int, std::pair<page *, unsigned>> live;  // id -> block, order
  std::map<mobility_model::path, unsigned long> paths;  // allocations by how they were served
  unsigned long isolations = 0;
};

using mobility_cmd = rc::state::Command<model_state, model_sut>;

// After every step: the model's types, lists and free count, and the checker.
void check_step(model_sut &s) {
  const std::string diff = s.m.differences(model_zone(s.f));
  if (!diff.empty()) RC_FAIL("allocator and model differ:\n" + diff);
  RC_ASSERT(s.f.check() == std::string());
}

// alloc flags as gfp_to_alloc_flags gives them for the slow path.
unsigned slow_path_flags(gfp_t gfp, unsigned order) {
  unsigned f = ALLOC_WMARK_MIN;
  if (gfp & __GFP_HIGH) f |= ALLOC_MIN_RESERVE;
  if (!(gfp & __GFP_DIRECT_RECLAIM) && !(gfp & __GFP_NOMEMALLOC)) {
    f |= ALLOC_NON_BLOCK;
    if (order > 0 && (f & ALLOC_MIN_RESERVE)) f |= ALLOC_HIGHATOMIC;
  }
  return f;
}

// `count` allocations of one request. The model says whether each must
// succeed (the low watermark with no reserves, else min with the request's)
// and checks the block the allocator chose.
struct Alloc : mobility_cmd {
  int first_id, count;
  gfp_t gfp;
  unsigned order;

  explicit Alloc(const model_state &m)
      : first_id(m.next_id),
        count(*rc::gen::weightedOneOf<int>({{6, rc::gen::just(1)}, {3, uniform(2, 40)}, {1, uniform(40, 400)}})),
        // No high-order request with __GFP_HIGH that cannot block: the
        // highatomic reserve has properties of its own (mobility_test.cpp).
        gfp(*rc::gen::element(GFP_KERNEL, GFP_KERNEL | __GFP_RECLAIMABLE, GFP_HIGHUSER_MOVABLE,
                              GFP_KERNEL | __GFP_MOVABLE, GFP_NOWAIT, GFP_NOWAIT | __GFP_RECLAIMABLE,
                              GFP_NOWAIT | __GFP_MOVABLE, GFP_KERNEL | __GFP_NORETRY) |
            __GFP_NOWARN),
        order(*rc::gen::weightedOneOf<unsigned>({{8, rc::gen::just(0u)},
                                                 {4, uniform(1u, PAGE_ALLOC_COSTLY_ORDER + 1)},
                                                 {3, uniform(PAGE_ALLOC_COSTLY_ORDER + 1, pageblock_order)},
                                                 {1, uniform(pageblock_order, NR_PAGE_ORDERS)}})) {}
  Alloc(int first_id_, int count_, gfp_t gfp_, unsigned order_)
      : first_id(first_id_), count(count_), gfp(gfp_), order(order_) {}

  void apply(model_state &m) const override {
    for (int i = 0; i < count; i++) m.handles.push_back(first_id + i);
    m.next_id = first_id + count;
  }

  void run(const model_state &, model_sut &s) const override {
    mem_system &ms = *s.f.ms;
    const zone *z = model_zone(s.f);
    const int mt = gfp_to_migratetype(ms, gfp);
    for (int i = 0; i < count; i++) {
      unsigned flags = ALLOC_WMARK_LOW;
      const long total = zone_page_state(z, NR_FREE_PAGES);
      bool ok = s.m.watermark_ok(order, long(low_wmark_pages(z)), 0, 0, 0, total);
      if (!ok) {
        flags = slow_path_flags(gfp, order);
        ok = s.m.watermark_ok(order, long(min_wmark_pages(z)), 0, flags, 0, total);
      }
      page *p = alloc_pages(ms, gfp, order);
      if (!ok) {
        RC_ASSERT(p == nullptr);
        continue;
      }
      RC_ASSERT(p != nullptr);
      unsigned long pfn = page_to_pfn(ms, p);
      std::string why;
      if (!s.m.allocate(pfn, order, mt, flags, &why)) RC_FAIL("allocation " + std::to_string(first_id + i) + ": " + why);
      s.paths[s.m.last]++;
      s.m.held[pfn] = order;
      s.live[first_id + i] = {p, order};
    }
    check_step(s);
  }
  void show(std::ostream &os) const override {
    os << "Alloc{/*first_id*/" << first_id << ", /*count*/" << count << ", " << modelcase::gfp_expr(gfp)
       << ", /*order*/" << order << "}";
  }
};

struct Free : mobility_cmd {
  int id;
  explicit Free(const model_state &m) : id(*rc::gen::elementOf(m.handles)) {}
  explicit Free(int id_) : id(id_) {}
  void checkPreconditions(const model_state &m) const override {
    RC_PRE(std::find(m.handles.begin(), m.handles.end(), id) != m.handles.end());
  }
  void apply(model_state &m) const override { m.handles.erase(std::find(m.handles.begin(), m.handles.end(), id)); }
  void run(const model_state &, model_sut &s) const override {
    auto it = s.live.find(id);
    if (it == s.live.end()) return;  // that allocation failed
    auto [p, order] = it->second;
    unsigned long pfn = page_to_pfn(*s.f.ms, p);
    __free_pages(*s.f.ms, p, order);
    s.live.erase(it);
    s.m.held.erase(pfn);
    s.m.release(pfn, order);
    check_step(s);
  }
  void show(std::ostream &os) const override { os << "Free{/*id*/" << id << "}"; }
};

// Isolates a pageblock (by index in the zone), or gives one back to a type.
struct Isolate : mobility_cmd {
  unsigned block;
  bool undo;
  int mt;  // for undo
  explicit Isolate(const model_state &m)
      : block(*uniform(0u, m.nr_pageblocks)),
        undo(*rc::gen::arbitrary<bool>()),
        mt(*rc::gen::element(int(MIGRATE_UNMOVABLE), int(MIGRATE_MOVABLE), int(MIGRATE_RECLAIMABLE),
                             int(MIGRATE_HIGHATOMIC))) {}
  Isolate(unsigned block_, bool undo_, int mt_) : block(block_), undo(undo_), mt(mt_) {}
  void run(const model_state &, model_sut &s) const override {
    zone *z = model_zone(s.f);
    unsigned long b = pageblock_start_pfn(z->zone_start_pfn) + (block << pageblock_order);
    page *p = pfn_to_page(*s.f.ms, b < z->zone_start_pfn ? z->zone_start_pfn : b);
    int want = undo ? s.m.unisolate(b, mt) : s.m.isolate(b);
    int got = undo ? unset_migratetype_isolate(*s.f.ms, p, mt) : set_migratetype_isolate(*s.f.ms, p);
    RC_ASSERT(got == want);
    if (!undo && got == 0) s.isolations++;
    check_step(s);
  }
  void show(std::ostream &os) const override {
    os << "Isolate{/*block*/" << block << ", /*undo*/" << (undo ? "true" : "false") << ", " << mt << "}";
  }
};

using mobility_cmds = rc::state::Commands<mobility_cmd>;

struct mobility_case {
  zone_start start;
  mobility_cmds cmds;
};

void showValue(const mobility_case &c, std::ostream &os) {
  modelcase::show_case(os, "MOBILITY_REGRESSION",
                       c.start == zone_start::aligned ? "zone_start::aligned" : "zone_start::unaligned", c.cmds);
}

unsigned pageblocks_of(zone_start s) {
  mm_fixture f;
  if (build_model_zone(f, s) != 0) return 1;
  const zone *z = model_zone(f);
  return unsigned(nr_pageblocks_spanned(z->zone_start_pfn, zone_end_pfn(z)));
}

rc::Gen<mobility_case> gen_mobility_case() {
  return rc::gen::mapcat(rc::gen::element(zone_start::aligned, zone_start::unaligned), [](zone_start s) {
    return rc::gen::map(
        rc::gen::resize(80, rc::state::gen::commands(model_state{s, pageblocks_of(s), {}, 0},
                                                     rc::state::gen::execOneOfWithArgs<Alloc, Alloc, Alloc, Free,
                                                                                       Free, Isolate>())),
        [s](mobility_cmds cmds) { return mobility_case{s, std::move(cmds)}; });
  });
}

// Runs a case from a fresh zone, whose pageblocks are all MOVABLE; at the
// end everything is freed and every isolated pageblock given back, and the
// zone must be what it was: MOVABLE blocks or blocks stolen since, merged.
void run_mobility_case(const mobility_case &c) {
  model_sut s;
  RC_ASSERT(build_model_zone(s.f, c.start) == 0);
  zone *z = model_zone(s.f);
  s.m = mobility_model::of(z, !s.f.ms->page_group_by_mobility_disabled);
  for (int t : s.m.types) RC_ASSERT(t == MIGRATE_MOVABLE);
  const long free_at_start = s.m.free_pages();
  check_step(s);
  rc::state::runAll(c.cmds, model_state{c.start, unsigned(s.m.types.size()), {}, 0}, s);
  using path = mobility_model::path;
  RC_CLASSIFY(s.paths[path::stole_pageblocks] > 0, "stole whole pageblocks");
  RC_CLASSIFY(s.paths[path::claimed_pageblock] > 0, "claimed a pageblock");
  RC_CLASSIFY(s.paths[path::stole_block] > 0, "stole one block");
  RC_CLASSIFY(s.isolations > 0, "isolated a pageblock");

  for (auto &[id, b] : s.live) {
    unsigned long pfn = page_to_pfn(*s.f.ms, b.first);
    __free_pages(*s.f.ms, b.first, b.second);
    s.m.held.erase(pfn);
    s.m.release(pfn, b.second);
  }
  for (size_t i = 0; i < s.m.types.size(); i++) {
    unsigned long b = pageblock_start_pfn(z->zone_start_pfn) + (i << pageblock_order);
    if (s.m.types[i] != MIGRATE_ISOLATE) continue;
    RC_ASSERT(unset_migratetype_isolate(*s.f.ms, pfn_to_page(*s.f.ms, b), MIGRATE_MOVABLE) == 0);
    RC_ASSERT(s.m.unisolate(b, MIGRATE_MOVABLE) == 0);
  }
  check_step(s);
  RC_ASSERT(s.m.free_pages() == free_at_start);
  for (int t : s.m.types) RC_ASSERT(t < MIGRATE_PCPTYPES);
}

}  // namespace

MODEL_CASE_SHOW_TYPE(mobility_case, "proptest/regressions/mobility.inc");

// Every allocation takes a block the fallback rules allow and changes the
// pageblock types they say; frees merge as they say; isolation too.
RC_GTEST_PROP(MobilityModel, FallbackRulesStepByStep, ()) { run_mobility_case(*gen_mobility_case()); }

#define MOBILITY_REGRESSION(name, start, ...)                                                            \
  TEST(MobilityModelRegression, name) {                                                                  \
    modelcase::expect_holds(                                                                             \
        [] { run_mobility_case(mobility_case{start, modelcase::commands_of<mobility_cmd>(__VA_ARGS__)}); }); \
  }
#include "proptest/regressions/mobility.inc"

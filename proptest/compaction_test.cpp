// Properties of compaction and contiguous allocations (mm/compaction.h,
// mm/page_contig.cpp) over the host page allocator, slab and vmalloc:
//  - random sequences of movable and ordinary vmalloc, kmalloc and page
//    allocations and frees, interleaved with compact_zone (every order and
//    mode), compact_memory and alloc_contig_pages, checked after every step:
//    the checkers clean, every live allocation's bytes intact (vmalloc
//    areas read through the simulated MMU), nothing unmovable moved;
//  - alloc_contig_pages either hands out an aligned, contiguous run of
//    order-0 pages of one zone or fails having changed nothing, beyond
//    MAX_PAGE_ORDER too, and fails where every candidate range is pinned;
//  - compaction of a zone fragmented by movable memory makes an order-9
//    allocation possible that was not before.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "kernel/errno.h"
#include "kernel/numa.h"
#include "mm/compaction.h"
#include "mm/page_isolation.h"
#include "mm/watermark.h"
#include "proptest/compaction_fixture.h"
#include "proptest/vmalloc_fixture.h"

namespace {

using namespace slabt;
using compaction_test::uniform;
using compaction_test::vptr;

unsigned long pages_of(unsigned long bytes) { return (bytes + PAGE_SIZE - 1) / PAGE_SIZE; }

// Every 8-byte word of an allocation differs from every other of it and
// from other allocations' (tag), so a lost copy, a page moved into another
// page's place, or a stale frame all read back wrong.
u64 word_at(u32 tag, size_t word) { return (u64(tag) << 32) ^ u64(word) ^ 0x9e3779b9ul; }

std::vector<u64> pattern(u32 tag, size_t bytes) {
  std::vector<u64> buf(bytes / 8);
  for (size_t w = 0; w < buf.size(); w++) buf[w] = word_at(tag, w);
  return buf;
}

void fill_direct(void *p, u32 tag, size_t bytes) {
  std::vector<u64> buf = pattern(tag, bytes);
  memcpy(p, buf.data(), buf.size() * 8);
}

bool holds_direct(const void *p, u32 tag, size_t bytes) {
  std::vector<u64> buf = pattern(tag, bytes);
  return memcmp(p, buf.data(), buf.size() * 8) == 0;
}

// Pageblock types of every zone, in order: what a failed contiguous
// allocation must leave as it was.
std::vector<int> pageblock_types(const mem_system &ms) {
  std::vector<int> out;
  for_each_online_pgdat(ms, pgdat) {
    for (const zone *z = pgdat->node_zones; z < pgdat->node_zones + MAX_NR_ZONES; z++) {
      if (!z->spanned_pages) continue;
      for (unsigned long b = pageblock_start_pfn(z->zone_start_pfn); b < zone_end_pfn(z); b += pageblock_nr_pages)
        out.push_back(get_pfnblock_migratetype(z, b < z->zone_start_pfn ? z->zone_start_pfn : b));
    }
  }
  return out;
}

unsigned long free_total(const mem_system &ms) { return nr_free_pages(ms) + nr_free_pcp_pages(ms); }

std::vector<zone *> populated_zones(mem_system &ms) {
  std::vector<zone *> out;
  for_each_online_pgdat(ms, pgdat) {
    for (zone *z = pgdat->node_zones; z < pgdat->node_zones + MAX_NR_ZONES; z++)
      if (populated_zone(z)) out.push_back(z);
  }
  return out;
}

// ================================================================ sequences

enum class opk { valloc_movable, valloc, kmalloc, alloc_pages, free, compact_zone, compact_memory, contig, free_ballast };
const char *const opk_names[] = {"valloc_movable", "valloc", "kmalloc", "alloc_pages",
                                 "free",           "compact_zone", "compact_memory", "contig", "free_ballast"};

// One step. valloc*: a = bytes, b = 1 for __vmalloc(GFP_KERNEL | __GFP_MOVABLE)
// rather than vmalloc_movable; kmalloc: a = bytes; alloc_pages: a = order;
// free: a picks the live allocation; compact_zone: a picks the zone, b is
// the order + 1 (0: the whole zone, as compact_memory), c the mode (0..2)
// and bit 2 whole_zone, bit 3 ignore_skip_hint; contig: a = pages, b = 1 to
// keep the range (else it is freed at once); free_ballast: a picks one of
// the pageblocks of ballast taken at the start, of which half is freed
// (free memory opens up above the test's allocations).
struct op {
  opk k;
  unsigned a, b, c;
};

void showValue(const op &o, std::ostream &os) {
  os << "{" << opk_names[int(o.k)] << ", " << o.a << ", " << o.b << ", " << o.c << "}";
}

rc::Gen<op> gen_op() {
  auto mk = [](opk k) {
    return [k](unsigned a, unsigned b, unsigned c) { return op{k, a, b, c}; };
  };
  auto bytes = rc::gen::weightedOneOf<unsigned>({{3, uniform(1u, unsigned(PAGE_SIZE))},
                                                 {3, uniform(unsigned(PAGE_SIZE), 16u * unsigned(PAGE_SIZE))},
                                                 {1, uniform(16u * unsigned(PAGE_SIZE), 96u * unsigned(PAGE_SIZE))}});
  auto any = uniform(0u, 1u << 20);
  return rc::gen::weightedOneOf<op>({
      {6, rc::gen::apply(mk(opk::valloc_movable), bytes, uniform(0u, 1u), rc::gen::just(0u))},
      {2, rc::gen::apply(mk(opk::valloc), bytes, rc::gen::just(0u), rc::gen::just(0u))},
      {2, rc::gen::apply(mk(opk::kmalloc), uniform(8u, 3u * unsigned(PAGE_SIZE)), rc::gen::just(0u), rc::gen::just(0u))},
      {2, rc::gen::apply(mk(opk::alloc_pages), uniform(0u, 3u), rc::gen::just(0u), rc::gen::just(0u))},
      {6, rc::gen::apply(mk(opk::free), any, rc::gen::just(0u), rc::gen::just(0u))},
      {3, rc::gen::apply(mk(opk::compact_zone), any, uniform(0u, 11u), uniform(0u, 15u))},
      {1, rc::gen::apply(mk(opk::compact_memory), rc::gen::just(0u), rc::gen::just(0u), rc::gen::just(0u))},
      {2, rc::gen::apply(mk(opk::contig),
                         rc::gen::weightedOneOf<unsigned>({{3, uniform(1u, 64u)}, {2, uniform(64u, 1024u)},
                                                          {2, uniform(1025u, 3000u)}, {1, uniform(3000u, 9000u)}}),
                         uniform(0u, 1u), rc::gen::just(0u))},
      {2, rc::gen::apply(mk(opk::free_ballast), any, rc::gen::just(0u), rc::gen::just(0u))},
  });
}

struct comp_case {
  layout_kind layout;
  std::vector<op> ops;
};

void showValue(const comp_case &c, std::ostream &os) {
  os << "layout " << layout_name(c.layout) << ", " << c.ops.size() << " steps:\n";
  for (const op &o : c.ops) {
    showValue(o, os);
    os << "\n";
  }
}

enum class kind { vm_movable, vm_plain, kmalloc_obj, pages, contig };

struct item {
  kind k;
  uintptr_t addr;  // vmalloc address, kmalloc pointer, or page_address of the first page
  size_t bytes;
  unsigned order;  // pages: the order; contig: unused
  unsigned long nr, pfn;  // contig: the range
  u32 tag;
  std::vector<unsigned long> pfns;  // vm_plain: the frames, which never move
};

// Live memory stays a fraction of the smallest zone so that allocations
// succeed and movable ones find MOVABLE pageblocks.
constexpr unsigned long MAX_LIVE_PAGES = 900;

struct comp_sut {
  vmalloc_fixture f;
  std::vector<page *> pins;                              // see proptest/compaction_fixture.h
  std::map<unsigned long, std::vector<page *>> ballast;  // by pageblock
  std::vector<item> live;
  u32 next_tag = 1;
  unsigned long live_pages = 0;
  unsigned long migrated = 0, contig_ok = 0, contig_failed = 0, contig_big = 0, compactions = 0;

  mem_system &ms() { return *f.slab.mm.ms; }
};

// Whether an allocation reads back its pattern: vmalloc areas through the
// MMU, the rest through the direct map.
bool item_holds(comp_sut &s, const item &it) {
  if (it.k == kind::vm_movable || it.k == kind::vm_plain) {
    std::vector<u64> buf(it.bytes / 8);
    if (!s.f.vread(it.addr, buf.data(), it.bytes)) return false;
    return buf == pattern(it.tag, it.bytes);
  }
  return holds_direct(vptr(it.addr), it.tag, it.bytes);
}

// The frames of everything that must never move: ordinary vmalloc frames
// through the table, the pfns of pages and kmalloc objects, with a hash of
// their contents.
std::vector<unsigned long> unmovable_frames(comp_sut &s) {
  std::vector<unsigned long> out;
  for (const item &it : s.live) {
    if (it.k == kind::vm_plain)
      for (unsigned long i = 0; i < it.pfns.size(); i++)
        out.push_back(vmalloc_to_pfn(*s.f.vs, vptr(it.addr + i * PAGE_SIZE)));
    else if (it.k != kind::vm_movable)
      out.push_back(page_to_pfn(s.ms(), virt_to_page(s.ms(), vptr(it.addr))));
  }
  return out;
}

// What holds after every step: the checkers clean; every live allocation
// holds its pattern; ordinary vmalloc frames are where they were mapped at
// first and are not movable; movable ones are.
void check_step(comp_sut &s) {
  RC_ASSERT(s.f.check() == std::string());
  for (const item &it : s.live) {
    RC_ASSERT(item_holds(s, it));
    if (it.k == kind::vm_plain) {
      for (unsigned long i = 0; i < it.pfns.size(); i++) {
        RC_ASSERT(vmalloc_to_pfn(*s.f.vs, vptr(it.addr + i * PAGE_SIZE)) == it.pfns[i]);
        RC_ASSERT(!PageMovable(pfn_to_page(s.ms(), it.pfns[i])));
      }
    } else if (it.k == kind::vm_movable) {
      for (unsigned long i = 0; i < pages_of(it.bytes); i++)
        RC_ASSERT(PageMovable(vmalloc_to_page(*s.f.vs, vptr(it.addr + i * PAGE_SIZE))));
    }
  }
}

void add_vmalloc(comp_sut &s, const op &o, bool movable) {
  unsigned long n = pages_of(o.a);
  if (s.live_pages + n > MAX_LIVE_PAGES) return;
  void *v = movable ? (o.b ? __vmalloc(*s.f.vs, o.a, GFP_KERNEL | __GFP_MOVABLE) : vmalloc_movable(*s.f.vs, o.a))
                    : vmalloc(*s.f.vs, o.a);
  RC_ASSERT(uptr(v) != 0u);
  item it{movable ? kind::vm_movable : kind::vm_plain, uptr(v), n * PAGE_SIZE, 0, 0, 0, s.next_tag++, {}};
  std::vector<u64> buf = pattern(it.tag, it.bytes);
  RC_ASSERT(s.f.vwrite(it.addr, buf.data(), it.bytes));
  const bool grouping = !s.ms().page_group_by_mobility_disabled;
  for (unsigned long i = 0; i < n; i++) {
    unsigned long pfn = vmalloc_to_pfn(*s.f.vs, vptr(it.addr + i * PAGE_SIZE));
    page *p = pfn_to_page(s.ms(), pfn);
    RC_ASSERT(uptr(p) != 0u);
    if (movable) {
      // Memory is plentiful here: a movable request never needs to fall
      // back to another type's pageblock.
      RC_ASSERT(PageMovable(p));
      if (grouping) RC_ASSERT(get_pfnblock_migratetype(page_zone(s.ms(), p), pfn) == int(MIGRATE_MOVABLE));
    } else {
      RC_ASSERT(!PageMovable(p));
      it.pfns.push_back(pfn);
    }
  }
  s.live_pages += n;
  s.live.push_back(std::move(it));
}

void free_item(comp_sut &s, const item &it) {
  switch (it.k) {
    case kind::vm_movable:
    case kind::vm_plain: vfree(*s.f.vs, vptr(it.addr)); break;
    case kind::kmalloc_obj: kfree(*s.f.slab.sa, vptr(it.addr)); break;
    case kind::pages: __free_pages(s.ms(), virt_to_page(s.ms(), vptr(it.addr)), it.order); break;
    case kind::contig: RC_ASSERT(free_contig_range(s.ms(), it.pfn, it.nr) == 0ul); break;
  }
}

// alloc_contig_pages: success is an aligned run of nr order-0 pages with
// one reference each, in one zone, which the free count lost exactly;
// failure changed nothing (pageblock types, free pages; the caller checks
// the rest).
void do_contig(comp_sut &s, const op &o) {
  mem_system &ms = s.ms();
  const unsigned long nr = o.a;
  const std::vector<int> types = pageblock_types(ms);
  const unsigned long free_before = free_total(ms);
  const std::vector<unsigned long> pinned = unmovable_frames(s);
  page *p = alloc_contig_pages(ms, nr, GFP_KERNEL | __GFP_NOWARN, NUMA_NO_NODE);
  RC_ASSERT(unmovable_frames(s) == pinned);
  if (!p) {
    // (On success a migration target may have claimed a pageblock of
    // another type, as any movable allocation may.)
    RC_ASSERT(pageblock_types(ms) == types);
    RC_ASSERT(free_total(ms) == free_before);
    s.contig_failed++;
    return;
  }
  unsigned long align = 1;
  while (align < nr) align <<= 1;
  const unsigned long pfn = page_to_pfn(ms, p);
  RC_ASSERT(pfn % align == 0ul);
  const zone *z = page_zone(ms, p);
  for (unsigned long i = 0; i < nr; i++) {
    page *q = pfn_to_page(ms, pfn + i);
    RC_ASSERT(uptr(q) != 0u);
    RC_ASSERT(uptr(page_zone(ms, q)) == uptr(z));
    RC_ASSERT(page_ref_count(q) == 1);
    RC_ASSERT(q->alloc_order == 0u);
    RC_ASSERT(!PageBuddy(q) && !PageMovable(q) && !PageIsolated(q));
  }
  RC_ASSERT(free_total(ms) + nr == free_before);
  s.contig_ok++;
  if (nr > (1ul << MAX_PAGE_ORDER)) s.contig_big++;
  item it{kind::contig, uptr(page_address(ms, p)), nr * PAGE_SIZE, 0, nr, pfn, s.next_tag++, {}};
  fill_direct(vptr(it.addr), it.tag, it.bytes);
  if (o.b && s.live_pages + nr <= 2 * MAX_LIVE_PAGES) {
    s.live_pages += nr;
    s.live.push_back(std::move(it));
  } else {
    check_step(s);
    free_item(s, it);
  }
}

void do_compact_zone(comp_sut &s, const op &o) {
  std::vector<zone *> zones = populated_zones(s.ms());
  compact_control cc = compact_control_for(s.ms(), zones[o.a % zones.size()], int(o.b) - 1, migrate_mode(o.c % 3));
  cc.alloc_flags = ALLOC_WMARK_LOW;
  cc.highest_zoneidx = int(MAX_NR_ZONES) - 1;
  cc.whole_zone = o.c & 4;
  cc.ignore_skip_hint = o.c & 8;
  compact_zone(&cc);
  RC_ASSERT(cc.nr_freepages == 0u);
  RC_ASSERT(cc.nr_migratepages == 0u);
}

void run_step(comp_sut &s, const op &o) {
  mem_system &ms = s.ms();
  switch (o.k) {
    case opk::valloc_movable: add_vmalloc(s, o, true); break;
    case opk::valloc: add_vmalloc(s, o, false); break;
    case opk::kmalloc: {
      if (s.live_pages + pages_of(o.a) > MAX_LIVE_PAGES) return;
      void *p = kmalloc(*s.f.slab.sa, o.a, GFP_KERNEL);
      RC_ASSERT(uptr(p) != 0u);
      item it{kind::kmalloc_obj, uptr(p), o.a & ~7u, 0, 0, 0, s.next_tag++, {}};
      fill_direct(p, it.tag, it.bytes);
      s.live_pages += pages_of(o.a);
      s.live.push_back(std::move(it));
      break;
    }
    case opk::alloc_pages: {
      if (s.live_pages + (1ul << o.a) > MAX_LIVE_PAGES) return;
      page *p = alloc_pages(ms, GFP_KERNEL, o.a);
      RC_ASSERT(uptr(p) != 0u);
      RC_ASSERT(!PageMovable(p));
      item it{kind::pages, uptr(page_address(ms, p)), PAGE_SIZE << o.a, o.a, 0, 0, s.next_tag++, {}};
      fill_direct(vptr(it.addr), it.tag, it.bytes);
      s.live_pages += 1ul << o.a;
      s.live.push_back(std::move(it));
      break;
    }
    case opk::free: {
      if (s.live.empty()) return;
      size_t at = o.a % s.live.size();
      item it = std::move(s.live[at]);
      s.live.erase(s.live.begin() + long(at));
      RC_ASSERT(item_holds(s, it));
      s.live_pages -= it.k == kind::contig ? it.nr : it.k == kind::pages ? 1ul << it.order : pages_of(it.bytes);
      free_item(s, it);
      break;
    }
    case opk::compact_zone:
    case opk::compact_memory: {
      const unsigned long before = vm_event(ms, PGMIGRATE_SUCCESS);
      const std::vector<unsigned long> pinned = unmovable_frames(s);
      if (o.k == opk::compact_memory) compact_memory(ms);
      else do_compact_zone(s, o);
      RC_ASSERT(unmovable_frames(s) == pinned);
      s.migrated += vm_event(ms, PGMIGRATE_SUCCESS) - before;
      s.compactions++;
      break;
    }
    case opk::contig: {
      const unsigned long before = vm_event(ms, PGMIGRATE_SUCCESS);
      do_contig(s, o);
      s.migrated += vm_event(ms, PGMIGRATE_SUCCESS) - before;
      break;
    }
    case opk::free_ballast: {
      // Half of what is left of one pageblock's ballast (every other page).
      if (s.ballast.empty()) return;
      auto block = s.ballast.begin();
      std::advance(block, long(o.a % s.ballast.size()));
      std::vector<page *> &pages = block->second;
      std::vector<page *> kept;
      for (size_t i = 0; i < pages.size(); i++) {
        if (i % 2 == 0) __free_pages(ms, pages[i], 0);
        else kept.push_back(pages[i]);
      }
      pages = std::move(kept);
      if (pages.empty()) s.ballast.erase(block);
      break;
    }
  }
  check_step(s);
}

struct comp_stats {
  unsigned long migrated, contig_ok, contig_big;
};

// The machine of a case: the tainted pageblocks pinned, and a third of
// each node's free memory taken as ballast.
void build_sut(comp_sut &s, layout_kind layout, bool build = true) {
  if (build) RC_ASSERT(s.f.build(layout) == 0);
  s.pins = compaction_test::pin_tainted_pageblocks(s.ms());
  for (page *p : compaction_test::take_ballast(s.ms(), 1, 3))
    s.ballast[pageblock_start_pfn(page_to_pfn(s.ms(), p))].push_back(p);
  RC_ASSERT(s.f.check() == std::string());
}

void release_sut(comp_sut &s) {
  for (auto &[b, pages] : s.ballast)
    for (page *p : pages) __free_pages(s.ms(), p, 0);
  for (page *p : s.pins) __free_pages(s.ms(), p, 0);
  s.ballast.clear();
  s.pins.clear();
}

comp_stats run_comp_case(const comp_case &c) {
  comp_sut s;
  RC_ASSERT(s.f.build(c.layout) == 0);
  // The resting state to come back to (the first vfree gives vmalloc's
  // built-in node away, so it is taken after one).
  vfree(*s.f.vs, vmalloc(*s.f.vs, 1));
  const unsigned long at_rest = settle(s.f.slab).free_and_pcp;
  log_buf_clear();
  build_sut(s, c.layout, false);
  for (const op &o : c.ops) run_step(s, o);
  RC_CLASSIFY(s.migrated == 0, "no page migrated");
  RC_CLASSIFY(s.migrated > 0 && s.migrated < 50, "1-49 pages migrated");
  RC_CLASSIFY(s.migrated >= 50, "50+ pages migrated");
  RC_CLASSIFY(s.contig_ok > 0, "a contiguous allocation succeeded");
  RC_CLASSIFY(s.contig_big > 0, "one beyond MAX_PAGE_ORDER succeeded");
  RC_CLASSIFY(s.contig_failed > 0, "a contiguous allocation failed");
  for (const item &it : s.live) {
    RC_ASSERT(item_holds(s, it));
    free_item(s, it);
  }
  s.live.clear();
  release_sut(s);
  RC_ASSERT(s.f.vs->movable_pages == 0ul);
  RC_ASSERT(s.f.vs->migrating == 0u);
  RC_ASSERT(s.f.check() == std::string());
  // Nothing leaked (a reference left behind by a putback, say) and nothing
  // was reported.
  RC_ASSERT(settle(s.f.slab).free_and_pcp == at_rest);
  RC_ASSERT(read_log().find("BUG") == std::string::npos);
  return {s.migrated, s.contig_ok, s.contig_big};
}

rc::Gen<comp_case> gen_comp_case() {
  return rc::gen::apply([](layout_kind l, std::vector<op> ops) { return comp_case{l, std::move(ops)}; },
                        rc::gen::elementOf(std::vector<layout_kind>(std::begin(all_layouts), std::end(all_layouts))),
                        rc::gen::resize(60, rc::gen::container<std::vector<op>>(gen_op())));
}

// Random steps on a random layout; see check_step and do_contig.
RC_GTEST_PROP(CompactionSequences, BytesStayAndNothingUnmovableMoves, ()) { run_comp_case(*gen_comp_case()); }

// A sequence that certainly migrates: movable areas with holes between
// them, then compact_memory and a contiguous allocation beyond
// MAX_PAGE_ORDER.
TEST(CompactionSequences, ChosenMigrates) {
  comp_case c{layout_kind::single_zone, {}};
  for (unsigned i = 0; i < 60; i++) {
    if (i == 40)
      for (unsigned b = 0; b < 4; b++) c.ops.push_back({opk::free_ballast, b, 0, 0});
    c.ops.push_back({opk::valloc_movable, unsigned(PAGE_SIZE) * (1 + i % 5), i % 2, 0});
    if (i % 3 == 0) c.ops.push_back({opk::alloc_pages, i % 4, 0, 0});
    if (i % 2) c.ops.push_back({opk::free, i * 7, 0, 0});
  }
  c.ops.push_back({opk::compact_memory, 0, 0, 0});
  c.ops.push_back({opk::contig, 2048, 1, 0});
  c.ops.push_back({opk::compact_zone, 0, 10, 2 | 4 | 8});
  try {
    comp_stats st = run_comp_case(c);
    EXPECT_GT(st.migrated, 20ul);
    EXPECT_EQ(st.contig_ok, 1ul);
    EXPECT_EQ(st.contig_big, 1ul);
  } catch (const rc::detail::CaseResult &r) {
    FAIL() << r.description;
  }
}

// ============================================================ alloc_contig

// Takes every free page of the machine as unmovable single pages (the
// watermarks lowered to nothing for the while).
std::vector<page *> take_every_free_page(mem_system &ms) {
  drain_all_pages(ms);
  min_free_kbytes_scope low(ms, 1);
  std::vector<page *> held;
  for (gfp_t zone_mod : {__GFP_DMA, __GFP_DMA32, gfp_t(0)})
    while (page *p = alloc_pages(ms, GFP_ATOMIC | __GFP_NOWARN | zone_mod, 0)) held.push_back(p);
  return held;
}

// Everything a failure must leave as it was.
struct machine_state {
  std::vector<int> types;
  unsigned long free;
  bool operator==(const machine_state &) const = default;
};
machine_state state_of(const mem_system &ms) { return {pageblock_types(ms), free_total(ms)}; }

// With one unmovable page pinned in every aligned window of the size asked
// for (the rest of memory free, movable areas among it), no contiguous
// allocation of that size exists: alloc_contig_pages fails, and so does
// alloc_contig_range over a range of several pageblocks whose last holds
// the pinned page (the first ones were isolated before the last refused);
// both leave every pageblock's type, the free pages, the areas' bytes and
// the checkers as they were. Sizes up to beyond MAX_PAGE_ORDER.
TEST(CompactionContig, FailsWhenEveryRangeIsPinnedAndChangesNothing) {
  for (unsigned long nr : {3ul, 100ul, 512ul, 1500ul, 4096ul}) {
    SCOPED_TRACE("nr " + std::to_string(nr));
    vmalloc_fixture f;
    ASSERT_EQ(f.build(layout_kind::single_zone), 0);
    mem_system &ms = *f.slab.mm.ms;
    unsigned long align = 1;
    while (align < nr) align <<= 1;
    std::vector<page *> held = take_every_free_page(ms);
    std::vector<page *> pinned;
    std::set<unsigned long> windows;
    for (page *p : held) {
      if (windows.insert(page_to_pfn(ms, p) / align).second) pinned.push_back(p);
      else __free_pages(ms, p, 0);
    }
    drain_all_pages(ms);
    // Movable areas in the free memory between the pins, which a failed
    // attempt may have moved and must leave intact.
    std::vector<std::pair<uintptr_t, u32>> areas;
    for (u32 t = 1; t <= 40; t++) {
      void *v = vmalloc_movable(*f.vs, 3 * PAGE_SIZE);
      ASSERT_NE(v, nullptr);
      std::vector<u64> buf = pattern(t, 3 * PAGE_SIZE);
      ASSERT_TRUE(f.vwrite(uptr(v), buf.data(), 3 * PAGE_SIZE));
      areas.push_back({uptr(v), t});
    }
    ASSERT_EQ(f.check(), "");
    const machine_state before = state_of(ms);
    EXPECT_EQ(alloc_contig_pages(ms, nr, GFP_KERNEL | __GFP_NOWARN, NUMA_NO_NODE), nullptr);
    EXPECT_TRUE(state_of(ms) == before);
    EXPECT_EQ(f.check(), "");
    // A range of three pageblocks ending at a pinned page's pageblock.
    unsigned long last = page_to_pfn(ms, pinned.back());
    const zone *z = page_zone(ms, pinned.back());
    if (pageblock_start_pfn(last) >= z->zone_start_pfn + 2 * pageblock_nr_pages) {
      unsigned long start = pageblock_start_pfn(last) - 2 * pageblock_nr_pages;
      EXPECT_EQ(alloc_contig_range(ms, start, last + 1, GFP_KERNEL), -EBUSY);
      EXPECT_TRUE(state_of(ms) == before);
      EXPECT_EQ(f.check(), "");
    }
    for (auto [a, t] : areas) {
      std::vector<u64> buf(3 * PAGE_SIZE / 8);
      ASSERT_TRUE(f.vread(a, buf.data(), 3 * PAGE_SIZE));
      EXPECT_TRUE(buf == pattern(t, 3 * PAGE_SIZE));
      vfree(*f.vs, vptr(a));
    }
    for (page *p : pinned) __free_pages(ms, p, 0);
    EXPECT_EQ(f.check(), "");
  }
}

// Contiguous allocations of any size (past MAX_PAGE_ORDER too) over memory
// holding movable areas, unmovable pages and ordinary areas: each either
// succeeds as do_contig says or changes nothing, and the areas keep their
// bytes; with the movable memory small, sizes up to 2048 pages succeed.
RC_GTEST_PROP(CompactionContig, SucceedsWholeOrChangesNothing, ()) {
  comp_case c{*rc::gen::element(layout_kind::single_zone, layout_kind::two_nodes, layout_kind::three_zones), {}};
  const unsigned nr_areas = *uniform(0u, 40u);
  for (unsigned i = 0; i < nr_areas; i++) {
    c.ops.push_back({*rc::gen::element(opk::valloc_movable, opk::valloc_movable, opk::valloc, opk::alloc_pages),
                     *uniform(1u, 8u * unsigned(PAGE_SIZE)), 0, 0});
    if (c.ops.back().k == opk::alloc_pages) c.ops.back().a %= 4;
  }
  const unsigned nr = *rc::gen::weightedOneOf<unsigned>({{2, uniform(1u, 1024u)}, {2, uniform(1025u, 2048u)}});
  c.ops.push_back({opk::contig, nr, 1, 0});
  comp_sut s;
  build_sut(s, c.layout);
  for (const op &o : c.ops) run_step(s, o);
  // Few pages are in use anywhere: a 64 MiB zone (or the 32 MiB node)
  // always has an aligned range of 2048 pages free or movable.
  RC_ASSERT(s.contig_ok == 1ul);
  RC_CLASSIFY(nr > (1u << MAX_PAGE_ORDER), "beyond MAX_PAGE_ORDER");
  for (const item &it : s.live) free_item(s, it);
  release_sut(s);
  RC_ASSERT(s.f.check() == std::string());
}

// ======================================================= order 9 after compaction

// A zone filled with movable areas of 1 to 16 pages, then about half of
// them freed at random: thousands of pages are free but no block of order
// 9 is, so an order-9 request that may not compact fails. After compaction
// (compact_memory, or compact_zone for order 9 in a synchronous mode) the
// same request succeeds, and the remaining areas hold their bytes.
RC_GTEST_PROP(CompactionFragmented, Order9AfterCompaction, ()) {
  const unsigned keep_pct = *uniform(30u, 70u);
  const unsigned how = *uniform(0u, 2u);
  vmalloc_fixture f;
  RC_ASSERT(f.build(layout_kind::single_zone) == 0);
  mem_system &ms = *f.slab.mm.ms;
  zone *z = populated_zones(ms).front();
  auto has_big_block = [&] {
    drain_all_pages(ms);
    for (unsigned o = 9; o <= MAX_PAGE_ORDER; o++)
      if (z->free_area[o].nr_free) return true;
    return false;
  };
  std::vector<std::pair<uintptr_t, unsigned>> areas;
  u32 tag = 1;
  while (has_big_block()) {
    unsigned n = *uniform(1u, 16u);
    void *v = __vmalloc(*f.vs, n * PAGE_SIZE, GFP_KERNEL | __GFP_MOVABLE | __GFP_NOWARN);
    RC_ASSERT(uptr(v) != 0u);
    areas.push_back({uptr(v), n});
    std::vector<u64> buf = pattern(tag++, n * PAGE_SIZE);
    RC_ASSERT(f.vwrite(uptr(v), buf.data(), n * PAGE_SIZE));
  }
  std::vector<std::pair<uintptr_t, unsigned>> kept;
  std::vector<u32> kept_tags;
  for (size_t i = 0; i < areas.size(); i++) {
    if (*uniform(0u, 99u) < keep_pct) {
      kept.push_back(areas[i]);
      kept_tags.push_back(u32(i + 1));
    } else {
      vfree(*f.vs, vptr(areas[i].first));
    }
  }
  RC_PRE(!has_big_block());
  RC_ASSERT(uptr(alloc_pages(ms, GFP_NOWAIT | __GFP_MOVABLE | __GFP_NOWARN, 9)) == 0u);
  RC_ASSERT(f.check() == std::string());
  if (how == 0) {
    compact_memory(ms);
  } else {
    compact_control cc = compact_control_for(ms, z, 9, how == 1 ? MIGRATE_SYNC_LIGHT : MIGRATE_SYNC);
    cc.alloc_flags = ALLOC_WMARK_MIN;
    cc.highest_zoneidx = int(MAX_NR_ZONES) - 1;
    cc.whole_zone = true;
    compact_result r = compact_zone(&cc);
    RC_ASSERT(r == COMPACT_SUCCESS || r == COMPACT_COMPLETE);
  }
  RC_ASSERT(f.check() == std::string());
  page *big = alloc_pages(ms, GFP_NOWAIT | __GFP_MOVABLE | __GFP_NOWARN, 9);
  RC_ASSERT(uptr(big) != 0u);
  __free_pages(ms, big, 9);
  for (size_t i = 0; i < kept.size(); i++) {
    std::vector<u64> buf(kept[i].second * PAGE_SIZE / 8);
    RC_ASSERT(f.vread(kept[i].first, buf.data(), kept[i].second * PAGE_SIZE));
    RC_ASSERT(buf == pattern(kept_tags[i], kept[i].second * PAGE_SIZE));
    vfree(*f.vs, vptr(kept[i].first));
  }
  RC_ASSERT(f.check() == std::string());
}

}  // namespace

// Properties of mm/check: the page allocator's checker passes every state the
// allocator can reach, and catches each kind of damage. Each damage property
// builds a layout, churns it with random allocations and frees so that the
// lists are not trivial, damages ONE thing (chosen by RapidCheck), asserts
// that the report names the zone, the pfn and what disagrees, then repairs
// the damage and asserts that the report is empty again.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdio>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "mm/check.h"
#include "proptest/mm_fixture.h"

namespace {

// rc::gen::inRange narrows its range with the test size; choices here must
// span their whole range from the first case.
template <class T>
rc::Gen<T> uniform(T min, T max) {
  return rc::gen::resize(rc::kNominalSize, rc::gen::inRange<T>(min, max + 1));
}

std::string hex(unsigned long v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%lx", v);
  return buf;
}

std::string where(const zone *z) {
  return "node " + std::to_string(z->zone_pgdat->node_id) + " zone " + zone_names[z->idx] + ":";
}

unsigned long pfn_in(const zone *z, const page *p) {
  return z->zone_start_pfn + (p - z->zone_mem_map);
}

// Fails the property unless every string of `want` is in the report (and the
// report is not empty).
void expect_report(const std::string &report, const std::vector<std::string> &want) {
  if (report.empty()) RC_FAIL("the checker found nothing");
  for (char ch : report)
    if ((ch < ' ' || ch > '~') && ch != '\n') RC_FAIL("unprintable byte in:\n" + report);
  for (const std::string &s : want)
    if (report.find(s) == std::string::npos) RC_FAIL("expected \"" + s + "\" in:\n" + report);
}

void expect_clean(const mm_fixture &f) {
  std::string report = f.check();
  if (!report.empty()) RC_FAIL("unexpected violations:\n" + report);
}

// ---- layouts ----------------------------------------------------------------------

constexpr int NR_LAYOUTS = 5;

// Single zone, three zones, across 4 GiB, two nodes, and one node whose RAM
// has a hole and a reserved "kernel image" (pages the zone spans but does not
// manage).
int build_layout(mm_fixture &f, int which) {
  switch (which) {
    case 0: return build_single_zone(f);
    case 1: return build_three_zones(f);
    case 2: return build_across_4g(f);
    case 3: return build_two_nodes(f);
    default:
      return f.build({{0x80000000, 24 * SZ_1M, 0}, {0x80000000 + 40 * SZ_1M, 24 * SZ_1M, 0}},
                     layout_with_limits(0, PFN_4G, PFN_MAX), {{0x80200000, 3 * SZ_1M}});
  }
}

const char *layout_name(int which) {
  constexpr const char *names[NR_LAYOUTS] = {"single zone", "three zones", "across 4 GiB",
                                             "two nodes", "hole and reservation"};
  return names[which];
}

// ---- churn --------------------------------------------------------------------------

struct held_block {
  page *p;
  unsigned order;
};

struct op {
  bool alloc;
  unsigned order;
  unsigned gfp;  // index into churn_gfp
  unsigned cpu;
  unsigned victim;
};

constexpr gfp_t churn_gfp[] = {
    GFP_KERNEL | __GFP_NOWARN,
    GFP_KERNEL | __GFP_COMP | __GFP_NOWARN,
    GFP_DMA32 | __GFP_NOWARN,
    GFP_KERNEL | __GFP_DMA | __GFP_NOWARN,
    GFP_ATOMIC | __GFP_COMP | __GFP_NOWARN,
    GFP_HIGHUSER_MOVABLE | __GFP_NOWARN,
    GFP_NOWAIT,
};

rc::Gen<op> gen_op() {
  return rc::gen::build<op>(
      rc::gen::set(&op::alloc, rc::gen::weightedElement<bool>({{3, true}, {2, false}})),
      rc::gen::set(&op::order,
                   rc::gen::weightedElement<unsigned>(
                       {{8, 0}, {4, 1}, {3, 2}, {3, 3}, {2, 4}, {1, 5}, {1, 7}, {1, 9}, {1, 10}})),
      rc::gen::set(&op::gfp, uniform<unsigned>(0, std::size(churn_gfp) - 1)),
      rc::gen::set(&op::cpu, uniform<unsigned>(0, NR_CPUS - 1)),
      rc::gen::set(&op::victim, rc::gen::arbitrary<unsigned>()));
}

void apply(mm_fixture &f, std::vector<held_block> &held, const op &o) {
  host_set_cpu(o.cpu % f.ms->nr_cpus);
  if (o.alloc) {
    if (page *p = alloc_pages(*f.ms, churn_gfp[o.gfp], o.order)) held.push_back({p, o.order});
  } else if (!held.empty()) {
    size_t i = o.victim % held.size();
    __free_pages(*f.ms, held[i].p, held[i].order);
    held[i] = held.back();
    held.pop_back();
  }
  host_set_cpu(0);
}

// Builds a random layout and churns it; the state must check clean.
std::vector<held_block> churned(mm_fixture &f) {
  const int which = *uniform(0, NR_LAYOUTS - 1);
  RC_TAG(layout_name(which));
  RC_ASSERT(build_layout(f, which) == 0);
  std::vector<held_block> held;
  for (const op &o : *rc::gen::container<std::vector<op>>(gen_op())) apply(f, held, o);
  expect_clean(f);
  return held;
}

// ---- finding things to damage -------------------------------------------------------

std::vector<zone *> populated_zones(mm_fixture &f) {
  std::vector<zone *> zones;
  for_each_online_pgdat(*f.ms, pgdat) {
    for_each_zone_of(pgdat, z) {
      if (z->spanned_pages) zones.push_back(z);
    }
  }
  return zones;
}

zone *pick_zone(mm_fixture &f) {
  std::vector<zone *> zones = populated_zones(f);
  return zones[*uniform<size_t>(0, zones.size() - 1)];
}

zone *zone_of(mm_fixture &f, const page *p) {
  for (zone *z : populated_zones(f))
    if (p >= z->zone_mem_map && p < z->zone_mem_map + z->spanned_pages) return z;
  return nullptr;
}

// A free block on a list: cpu -1 for the buddy lists.
struct listed {
  zone *z;
  int cpu;
  unsigned order;
  page *p;
  list_head *head;
};

std::vector<listed> listed_blocks(mm_fixture &f, bool buddy, bool pcp) {
  std::vector<listed> out;
  for (zone *z : populated_zones(f)) {
    if (buddy)
      for (unsigned k = 0; k < NR_PAGE_ORDERS; k++)
        for (list_head &l : z->free_area[k].free_list)
          list_for_each(e, &l) out.push_back({z, -1, k, list_entry(e, page, lru), &l});
    if (pcp)
      for (unsigned cpu = 0; cpu < f.ms->nr_cpus; cpu++)
        for (unsigned i = 0; i < NR_PCP_LISTS; i++)
          list_for_each(e, &z->pcp[cpu].lists[i])
              out.push_back({z, int(cpu), i / MIGRATE_PCPTYPES, list_entry(e, page, lru), &z->pcp[cpu].lists[i]});
  }
  return out;
}

template <class T>
T pick(const std::vector<T> &v) {
  RC_PRE(!v.empty());
  return v[*uniform<size_t>(0, v.size() - 1)];
}

// An allocated block of at least min_order pages (compound or not, as asked),
// allocated now if the churn left none.
held_block allocated_block(mm_fixture &f, std::vector<held_block> &held, unsigned min_order,
                           bool compound) {
  std::vector<held_block> fit;
  for (const held_block &b : held)
    if (b.order >= min_order && PageHead(b.p) == compound) fit.push_back(b);
  if (fit.empty()) {
    const unsigned order = *uniform<unsigned>(min_order, 5);
    page *p = alloc_pages(*f.ms, GFP_KERNEL | __GFP_NOWARN | (compound ? __GFP_COMP : 0), order);
    RC_PRE(p != nullptr);
    held.push_back({p, order});
    fit.push_back(held.back());
  }
  return pick(fit);
}

// ---- the state, for "the checker changes nothing" -----------------------------------

// Every node's pglist_data and mem_map, with the lock words cleared (taking
// and dropping a ticket lock moves its counters).
std::string snapshot(const mem_system &ms) {
  std::string s(reinterpret_cast<const char *>(&ms), sizeof(ms));
  for (pglist_data *pgdat : ms.node_data) {
    if (!pgdat) continue;
    // Byte for byte (padding too), then without the locks.
    std::string node(reinterpret_cast<const char *>(pgdat), sizeof(*pgdat));
    auto *copy = reinterpret_cast<pglist_data *>(node.data());
    for (zone &z : copy->node_zones) {
      z.lock = {};
      for (per_cpu_pages &pcp : z.pcp) pcp.lock = {};
    }
    s += node;
    s.append(reinterpret_cast<const char *>(pgdat->node_mem_map),
             pgdat->node_spanned_pages * sizeof(page));
  }
  return s;
}

// ---- check_fail ---------------------------------------------------------------------

// Lines are appended with a newline each and the count matches the calls.
TEST(CheckReport, AppendsLines) {
  char buf[128];
  check_report r = make_check_report(buf, sizeof(buf));
  check_fail(r, "first %d", 1);
  check_fail(r, "second %s", "two");
  EXPECT_STREQ(buf, "first 1\nsecond two\n");
  EXPECT_EQ(r.len, std::strlen(buf));
  EXPECT_EQ(r.violations, 2u);
}

// A full buffer cuts the text, stays terminated, and keeps counting.
TEST(CheckReport, FullBufferKeepsCounting) {
  char buf[16];
  std::memset(buf, 'x', sizeof(buf));
  check_report r = make_check_report(buf, sizeof(buf));
  for (int i = 0; i < 100; i++) check_fail(r, "violation number %d", i);
  EXPECT_EQ(r.violations, 100u);
  EXPECT_EQ(std::strlen(buf), sizeof(buf) - 1);
  EXPECT_EQ(r.len, sizeof(buf) - 1);
  EXPECT_EQ(std::string(buf), std::string("violation numbe"));
}

// A line cut by the end of the buffer keeps what fits, down to a single
// character, and gets no newline; after that nothing is added; nothing is
// ever written past r.size.
TEST(CheckReport, CutToTheLastByte) {
  char area[24];
  std::memset(area, 'x', sizeof(area));
  check_report r = make_check_report(area, 9);
  check_fail(r, "abcdef");  // 7 bytes with its newline: 2 left
  EXPECT_STREQ(area, "abcdef\n");
  check_fail(r, "%s", "XYZ");  // one character and the terminator
  EXPECT_STREQ(area, "abcdef\nX");
  EXPECT_EQ(r.len, 8u);
  check_fail(r, "more");
  EXPECT_STREQ(area, "abcdef\nX");
  EXPECT_EQ(r.len, 8u);
  EXPECT_EQ(r.violations, 3u);
  EXPECT_EQ(std::string(area + 9, sizeof(area) - 9), std::string(sizeof(area) - 9, 'x'));
}

// A line that fits with its newline and the terminator exactly gets its
// newline.
TEST(CheckReport, LineThatFitsExactly) {
  char buf[8];
  check_report r = make_check_report(buf, sizeof(buf));
  check_fail(r, "abcdef");
  EXPECT_STREQ(buf, "abcdef\n");
  EXPECT_EQ(r.len, 7u);
}

// A fresh report's text is the empty string, whatever the buffer held: a
// caller may print it before any violation.
TEST(CheckReport, EmptyBeforeAnyViolation) {
  char buf[8];
  std::memset(buf, 'x', sizeof(buf));
  check_report r = make_check_report(buf, sizeof(buf));
  EXPECT_STREQ(buf, "");
  EXPECT_EQ(r.len, 0u);
  EXPECT_EQ(r.violations, 0u);
}

// A report without a buffer only counts.
TEST(CheckReport, NoBuffer) {
  check_report r = make_check_report(nullptr, 0);
  check_fail(r, "lost %d", 1);
  EXPECT_EQ(r.violations, 1u);
  EXPECT_EQ(r.len, 0u);
}

// ---- clean states -------------------------------------------------------------------

// A freshly built mem_system of every layout passes.
TEST(CheckPageAlloc, FreshLayoutsPass) {
  for (int which = 0; which < NR_LAYOUTS; which++) {
    mm_fixture f;
    ASSERT_EQ(build_layout(f, which), 0) << layout_name(which);
    EXPECT_EQ(f.check(), "") << layout_name(which);
  }
}

// 64 MiB cut into DMA32, Normal, HighMem and Movable, 16 MiB each (host
// only: riscv64 has neither HighMem nor Movable memory).
int build_highmem_movable(mm_fixture &f) {
  constexpr unsigned long base = 0x80000000 >> PAGE_SHIFT, step = SZ_16M >> PAGE_SHIFT;
  mem_layout l = layout_with_limits(0, base + step, base + 2 * step);
  l.max_zone_pfn[ZONE_HIGHMEM] = base + 3 * step;
  l.max_zone_pfn[ZONE_MOVABLE] = PFN_MAX;
  return f.build({{0x80000000, 64 * SZ_1M, 0}}, l);
}

// A fresh layout with HighMem and Movable memory passes too. It pins the
// checker's copy of Linux's rule (__setup_per_zone_wmarks since 6.5):
// ZONE_MOVABLE stays out of lowmem_pages and its min is capped like
// HighMem's, clamp(managed / 1024, 32, 128).
TEST(CheckPageAlloc, FreshHighmemMovableLayoutPasses) {
  mm_fixture f;
  ASSERT_EQ(build_highmem_movable(f), 0);
  EXPECT_EQ(f.check(), "");
}

// Linux caps a highmem or movable zone's min watermark at 128 pages
// (clamp(managed / 1024, SWAP_CLUSTER_MAX, 128)): a Movable zone whose
// managed / 1024 is 129, just past the cap, has min 128, and the layout
// passes.
TEST(CheckPageAlloc, LargeMovableZoneMinIsCapped) {
  mm_fixture f;
  constexpr unsigned long base = 0x80000000 >> PAGE_SHIFT, step = SZ_16M >> PAGE_SHIFT;
  mem_layout l = layout_with_limits(0, base + step, base + 2 * step);
  l.max_zone_pfn[ZONE_HIGHMEM] = base + 3 * step;
  l.max_zone_pfn[ZONE_MOVABLE] = PFN_MAX;
  ASSERT_EQ(f.build({{0x80000000, 575 * SZ_1M, 0}}, l), 0);
  const zone *movable = &f.ms->node_data[0]->node_zones[ZONE_MOVABLE];
  ASSERT_EQ(movable->managed_pages / 1024, 129u) << movable->managed_pages;
  EXPECT_EQ(min_wmark_pages(movable), 128u);
  EXPECT_EQ(f.check(), "");
}

// The checker passes after every step of a random sequence of allocations and
// frees, with or without the per-CPU lists, and after freeing everything.
RC_GTEST_PROP(CheckPageAlloc, ChurnKeepsPassing, ()) {
  mm_fixture f;
  const int which = *uniform(0, NR_LAYOUTS - 1);
  RC_TAG(layout_name(which));
  RC_ASSERT(build_layout(f, which) == 0);
  f.ms->pcp_disabled = *rc::gen::weightedElement<bool>({{1, true}, {3, false}});
  std::vector<held_block> held;
  for (const op &o : *rc::gen::container<std::vector<op>>(gen_op())) {
    apply(f, held, o);
    expect_clean(f);
  }
  for (const held_block &b : held) __free_pages(*f.ms, b.p, b.order);
  expect_clean(f);
}

// The checker changes nothing it looks at, on a damaged state too, and
// leaves every lock free.
RC_GTEST_PROP(CheckPageAlloc, ChangesNothing, ()) {
  mm_fixture f;
  churned(f);
  zone *z = pick_zone(f);
  z->free_area[*uniform<unsigned>(0, MAX_PAGE_ORDER)].nr_free += 1;
  const std::string before = snapshot(*f.ms);
  RC_ASSERT(!f.check().empty());
  RC_ASSERT(snapshot(*f.ms) == before);
  for (zone *zz : populated_zones(f)) {
    RC_ASSERT(!spin_is_locked(&zz->lock));
    for (const per_cpu_pages &pcp : zz->pcp) RC_ASSERT(!spin_is_locked(&pcp.lock));
  }
}

// ---- damage to the lists ------------------------------------------------------------

// A free_area count that disagrees with its list is named with both values.
RC_GTEST_PROP(CheckPageAlloc, FindsWrongNrFree, ()) {
  mm_fixture f;
  churned(f);
  zone *z = pick_zone(f);
  const unsigned k = *uniform<unsigned>(0, MAX_PAGE_ORDER);
  const unsigned long real = z->free_area[k].nr_free;
  const unsigned long wrong = real ? real + *rc::gen::element<long>(-1, 1, 7) : 1;
  z->free_area[k].nr_free = wrong;
  expect_report(f.check(), {where(z) + " free_area[" + std::to_string(k) + "].nr_free is " +
                            std::to_string(wrong) + " but its lists hold " + std::to_string(real)});
  z->free_area[k].nr_free = real;
  expect_clean(f);
}

// A listed block without its list's flag (PG_buddy or PG_pcp) is named.
RC_GTEST_PROP(CheckPageAlloc, FindsListedBlockWithoutFlag, ()) {
  mm_fixture f;
  churned(f);
  const listed b = pick(listed_blocks(f, true, true));
  const pageflags fl = b.cpu < 0 ? PG_buddy : PG_pcp;
  clear_page_flag(b.p, fl);
  expect_report(f.check(), {where(b.z), "pfn " + hex(pfn_in(b.z, b.p)) + " is listed but not " +
                                            (b.cpu < 0 ? "PG_buddy" : "PG_pcp")});
  set_page_flag(b.p, fl);
  expect_clean(f);
}

// A listed block whose private_ holds another order is named with both orders.
RC_GTEST_PROP(CheckPageAlloc, FindsWrongOrder, ()) {
  mm_fixture f;
  churned(f);
  const listed b = pick(listed_blocks(f, true, true));
  const unsigned long wrong =
      *rc::gen::distinctFrom(uniform<unsigned long>(0, MAX_PAGE_ORDER + 2), (unsigned long)b.order);
  b.p->private_ = wrong;
  expect_report(f.check(), {where(b.z), "pfn " + hex(pfn_in(b.z, b.p)) + " has order " +
                                            std::to_string(wrong) + " in private_, not " +
                                            std::to_string(b.order)});
  b.p->private_ = b.order;
  expect_clean(f);
}

// A page linked onto a second list (without leaving the first) breaks the
// first list's back links at that page.
RC_GTEST_PROP(CheckPageAlloc, FindsPageOnTwoLists, ()) {
  mm_fixture f;
  churned(f);
  const listed b = pick(listed_blocks(f, true, true));
  std::vector<list_head *> others;
  for (unsigned k = 0; k < NR_PAGE_ORDERS; k++)
    for (list_head &l : b.z->free_area[k].free_list) others.push_back(&l);
  for (unsigned cpu = 0; cpu < f.ms->nr_cpus; cpu++)
    for (list_head &l : b.z->pcp[cpu].lists) others.push_back(&l);
  std::erase(others, b.head);
  list_head *second = pick(others);
  const list_head saved = b.p->lru;
  list_head *old_first = second->next;
  list_add(&b.p->lru, second);
  expect_report(f.check(), {where(b.z), "pfn " + hex(pfn_in(b.z, b.p)) + " (entry"});
  second->next = old_first;
  old_first->prev = second;
  b.p->lru = saved;
  expect_clean(f);
}

// A list whose next pointer leads out of the zone's pages is reported, and
// the walk stops there instead of following it.
RC_GTEST_PROP(CheckPageAlloc, FindsStrayPointer, ()) {
  mm_fixture f;
  churned(f);
  const listed b = pick(listed_blocks(f, true, true));
  std::vector<list_head *> strays = {
      reinterpret_cast<list_head *>(uintptr_t(0x1000)),
      reinterpret_cast<list_head *>(&b.z->vm_stat[0]),
      reinterpret_cast<list_head *>(reinterpret_cast<char *>(&b.p[1].lru) + 8)};
  for (zone *z : populated_zones(f))
    if (z != b.z) strays.push_back(&z->zone_mem_map[0].lru);  // a page of another zone
  list_head *saved = b.p->lru.next;
  b.p->lru.next = pick(strays);
  expect_report(f.check(), {where(b.z), "not a page of this zone"});
  b.p->lru.next = saved;
  expect_clean(f);
}

// A list closed into a cycle that skips its head is reported, and the walk ends.
RC_GTEST_PROP(CheckPageAlloc, FindsCycleWithoutHead, ()) {
  mm_fixture f;
  churned(f);
  std::vector<listed> lasts;  // last entries of lists with at least two
  for (const listed &b : listed_blocks(f, true, true))
    if (b.head->prev == &b.p->lru && b.head->next != &b.p->lru) lasts.push_back(b);
  const listed b = pick(lasts);
  unsigned long length = 0;
  list_for_each(e, b.head) length++;
  list_head *first = b.head->next;
  b.p->lru.next = first;
  // The walk meets the first entry again after `length` entries.
  expect_report(f.check(),
                {where(b.z), "pfn " + hex(pfn_in(b.z, list_entry(first, page, lru))) + " (entry " +
                                 std::to_string(length) + ") does not link back"});
  b.p->lru.next = b.head;
  expect_clean(f);
}

// ---- damage to the blocks ---------------------------------------------------------

// An allocated block put straight on the free list next to its free buddy,
// with everything else consistent, is reported as unmerged buddies and as
// nothing else.
RC_GTEST_PROP(CheckPageAlloc, FindsUnmergedBuddies, ()) {
  mm_fixture f;
  std::vector<held_block> held = churned(f);
  // A fresh split above the per-CPU orders leaves the other half free.
  page *p = nullptr;
  zone *z = nullptr;
  unsigned k = 0;
  unsigned long pfn = 0, buddy_pfn = 0;
  for (int tries = 0; tries < 16 && !p; tries++) {
    k = *uniform<unsigned>(NR_PCP_ORDERS, MAX_PAGE_ORDER - 1);
    page *q = alloc_pages(*f.ms, GFP_KERNEL | __GFP_NOWARN, k);
    if (!q) continue;
    zone *qz = zone_of(f, q);
    RC_ASSERT(qz != nullptr);
    pfn = pfn_in(qz, q);
    buddy_pfn = pfn ^ (1ul << k);
    if (zone_spans_pfn(qz, buddy_pfn) && zone_spans_pfn(qz, buddy_pfn + (1ul << k) - 1)) {
      page *bp = qz->zone_mem_map + (buddy_pfn - qz->zone_start_pfn);
      if (PageBuddy(bp) && bp->private_ == k) p = q, z = qz;
    }
    if (!p) held.push_back({q, k});
  }
  RC_PRE(p != nullptr);
  // "Free" it without merging, keeping every count right.
  set_page_count(p, 0);
  p->alloc_order = 0;
  set_page_flag(p, PG_buddy);
  p->private_ = k;
  list_add(&p->lru, &z->free_area[k].free_list[get_pfnblock_migratetype(z, page_to_pfn(*f.ms, p))]);
  z->free_area[k].nr_free++;
  z->vm_stat[NR_FREE_PAGES] += 1l << k;
  z->vm_stat[NR_ZONE_ALLOCATED] += -(1l << k);
  const std::string report = f.check();
  expect_report(report, {where(z), "free blocks at pfn " + hex(pfn < buddy_pfn ? pfn : buddy_pfn) +
                                       " and its buddy " + hex(pfn < buddy_pfn ? buddy_pfn : pfn) +
                                       " are both free at order " + std::to_string(k)});
  RC_ASSERT(report.rfind("1 violations:", 0) == 0);
  // Back to allocated, and then freed properly.
  list_del(&p->lru);
  z->free_area[k].nr_free--;
  z->vm_stat[NR_FREE_PAGES] += -(1l << k);
  z->vm_stat[NR_ZONE_ALLOCATED] += 1l << k;
  clear_page_flag(p, PG_buddy);
  set_page_count(p, 1);
  p->alloc_order = u8(k);
  expect_clean(f);
  __free_pages(*f.ms, p, k);
  expect_clean(f);
}

// A free block's head appearing inside another free block is an overlap.
RC_GTEST_PROP(CheckPageAlloc, FindsOverlappingFreeBlocks, ()) {
  mm_fixture f;
  churned(f);
  std::vector<listed> big;
  for (const listed &b : listed_blocks(f, true, true))
    if (b.order > 0) big.push_back(b);
  const listed b = pick(big);
  page *t = b.p + *uniform<unsigned long>(1, (1ul << b.order) - 1);
  const unsigned long saved_private = t->private_;
  set_page_flag(t, PG_buddy);
  t->private_ = 0;
  expect_report(
      f.check(),
      {where(b.z), "pfn " + hex(pfn_in(b.z, t)) + " heads a free block (order 0) inside the ",
       "block at pfn " + hex(pfn_in(b.z, b.p))});
  clear_page_flag(t, PG_buddy);
  t->private_ = saved_private;
  expect_clean(f);
}

// A page inside an allocation with a reference of its own is named with its head.
RC_GTEST_PROP(CheckPageAlloc, FindsTailWithRefcount, ()) {
  mm_fixture f;
  std::vector<held_block> held = churned(f);
  const held_block b = allocated_block(f, held, 1, *rc::gen::arbitrary<bool>());
  zone *z = zone_of(f, b.p);
  RC_ASSERT(z != nullptr);
  page *t = b.p + *uniform<unsigned long>(1, (1ul << b.order) - 1);
  set_page_count(t, 1);
  expect_report(f.check(),
                {where(z), "pfn " + hex(pfn_in(z, t)) + " in the allocated block at pfn " +
                               hex(pfn_in(z, b.p)) + " (order " + std::to_string(b.order) +
                               ") has refcount 1"});
  set_page_count(t, 0);
  expect_clean(f);
}

// A compound tail that does not point at its head is named.
RC_GTEST_PROP(CheckPageAlloc, FindsBrokenCompoundTail, ()) {
  mm_fixture f;
  std::vector<held_block> held = churned(f);
  const held_block b = allocated_block(f, held, 1, true);
  zone *z = zone_of(f, b.p);
  RC_ASSERT(z != nullptr);
  page *t = b.p + *uniform<unsigned long>(1, (1ul << b.order) - 1);
  const unsigned long saved = t->compound_head;
  t->compound_head =
      *rc::gen::element(saved & ~1ul, saved + sizeof(page), reinterpret_cast<unsigned long>(t) | 1);
  expect_report(f.check(),
                {where(z), "compound tail pfn " + hex(pfn_in(z, t)) + " has compound_head"});
  t->compound_head = saved;
  expect_clean(f);
}

// An allocation whose head lost its reference is leaked: its pages are
// named as nobody's, and the allocated count disagrees.
RC_GTEST_PROP(CheckPageAlloc, FindsLeakedPages, ()) {
  mm_fixture f;
  std::vector<held_block> held = churned(f);
  const held_block b = allocated_block(f, held, 0, false);
  zone *z = zone_of(f, b.p);
  RC_ASSERT(z != nullptr);
  const int ref = page_ref_count(b.p);
  set_page_count(b.p, 0);
  expect_report(f.check(), {where(z), hex(pfn_in(z, b.p)), "neither free, allocated nor reserved",
                            "NR_ZONE_ALLOCATED is"});
  set_page_count(b.p, ref);
  expect_clean(f);
}

// A page carrying another zone or node in its flags is named.
RC_GTEST_PROP(CheckPageAlloc, FindsWrongPageLinks, ()) {
  mm_fixture f;
  churned(f);
  zone *z = pick_zone(f);
  page *p = z->zone_mem_map + *uniform<unsigned long>(0, z->spanned_pages - 1);
  const auto zt = zone_type(*rc::gen::distinctFrom(uniform<int>(0, MAX_NR_ZONES - 1), int(z->idx)));
  const int nid = *uniform<int>(0, MAX_NUMNODES - 1);
  set_page_links(p, zt, nid);
  expect_report(f.check(),
                {where(z), "pfn " + hex(pfn_in(z, p)) + " carries zone " + std::to_string(int(zt)) +
                               " node " + std::to_string(nid)});
  set_page_links(p, z->idx, z->zone_pgdat->node_id);
  expect_clean(f);
}

// A zone whose span leaves its node is reported, and its pages are not read
// through the bad span.
RC_GTEST_PROP(CheckPageAlloc, FindsZoneOutsideItsNode, ()) {
  mm_fixture f;
  churned(f);
  zone *z = pick_zone(f);
  const unsigned long saved = z->spanned_pages;
  z->spanned_pages += z->zone_pgdat->node_spanned_pages * *uniform<unsigned long>(1, 1000);
  expect_report(f.check(), {where(z) + " span " + hex(z->zone_start_pfn) + "+" +
                            hex(z->spanned_pages) + " is outside the node's"});
  z->spanned_pages = saved;
  expect_clean(f);
}

// ---- damage to counters and tunables -----------------------------------------------

// Each zone counter that disagrees with the pages is named.
RC_GTEST_PROP(CheckPageAlloc, FindsWrongVmStat, ()) {
  mm_fixture f;
  churned(f);
  zone *z = pick_zone(f);
  const auto item = zone_stat_item(*uniform<int>(0, NR_VM_ZONE_STAT_ITEMS - 1));
  const long delta = *rc::gen::element<long>(-1, 1, 512);
  const char *names[] = {"NR_FREE_PAGES is ", "NR_ZONE_ALLOCATED is ", "NR_PCP_PAGES is "};
  const long wrong = zone_page_state_snapshot(z, item) + delta;
  z->vm_stat[item] += delta;
  expect_report(f.check(), {where(z) + " " + names[item] + std::to_string(wrong)});
  z->vm_stat[item] += -delta;
  expect_clean(f);
}

// A per-CPU count off by one is named with its CPU.
RC_GTEST_PROP(CheckPageAlloc, FindsWrongPcpCount, ()) {
  mm_fixture f;
  churned(f);
  zone *z = pick_zone(f);
  const unsigned cpu = *uniform<unsigned>(0, f.ms->nr_cpus - 1);
  const int delta = *rc::gen::element(-1, 1);
  z->pcp[cpu].count += delta;
  expect_report(f.check(), {where(z) + " cpu " + std::to_string(cpu) + " pcp.count is " +
                            std::to_string(z->pcp[cpu].count)});
  z->pcp[cpu].count -= delta;
  expect_clean(f);
}

// A watermark that does not follow Linux's formula is named.
RC_GTEST_PROP(CheckPageAlloc, FindsWrongWatermark, ()) {
  mm_fixture f;
  churned(f);
  std::vector<zone *> managed;
  for (zone *z : populated_zones(f))
    if (z->managed_pages) managed.push_back(z);
  zone *z = pick(managed);
  const unsigned i = *uniform<unsigned>(0, NR_WMARK - 1);
  const char *names[] = {"min", "low", "high", "promo"};
  const unsigned long saved = z->_watermark[i];
  z->_watermark[i] = saved ? saved + *rc::gen::element<long>(-1, 1, 100) : 1;
  expect_report(f.check(),
                {where(z) + " watermark " + names[i] + " is " + std::to_string(z->_watermark[i])});
  z->_watermark[i] = saved;
  expect_clean(f);
}

// A lowmem_reserve entry that does not follow the ratio rule is named.
RC_GTEST_PROP(CheckPageAlloc, FindsWrongLowmemReserve, ()) {
  mm_fixture f;
  churned(f);
  zone *z = pick_zone(f);
  const unsigned j = *uniform<unsigned>(0, MAX_NR_ZONES - 1);
  const long saved = z->lowmem_reserve[j];
  z->lowmem_reserve[j] = saved + *rc::gen::element<long>(-1, 1, 1000);
  expect_report(f.check(), {where(z) + " lowmem_reserve[" + std::to_string(j) + "] is " +
                            std::to_string(z->lowmem_reserve[j])});
  z->lowmem_reserve[j] = saved;
  expect_clean(f);
}

// managed_pages that disagrees with the pages is caught by the page
// accounting and by the machine's total.
RC_GTEST_PROP(CheckPageAlloc, FindsWrongManagedPages, ()) {
  mm_fixture f;
  churned(f);
  zone *z = pick_zone(f);
  RC_PRE(z->managed_pages > 0);
  z->managed_pages -= 1;
  expect_report(f.check(), {where(z), "but managed_pages is " + std::to_string(z->managed_pages),
                            "totalram_pages is "});
  z->managed_pages += 1;
  expect_clean(f);
}

// Several independent damages are all reported: the checker never stops at
// the first, and a small buffer still counts them all.
RC_GTEST_PROP(CheckPageAlloc, ReportsEveryViolation, ()) {
  mm_fixture f;
  churned(f);
  std::vector<zone *> zones = populated_zones(f);
  for (zone *z : zones) z->free_area[MAX_PAGE_ORDER].nr_free += 3;
  f.ms->totalram_pages += 1;
  const std::string report = f.check();
  for (zone *z : zones) expect_report(report, {where(z) + " free_area[10].nr_free is "});
  expect_report(report, {"totalram_pages is "});
  check_report big = make_check_report(nullptr, 0);
  const unsigned n = check_page_alloc(*f.ms, big);
  RC_ASSERT(n == zones.size() + 1);
  char tiny[8];
  check_report small = make_check_report(tiny, sizeof(tiny));
  RC_ASSERT(check_page_alloc(*f.ms, small) == n);
  RC_ASSERT(small.violations == n);
  RC_ASSERT(std::strlen(tiny) < sizeof(tiny));
}

}  // namespace

// The reports that show fragmentation (mm/frag_report.cpp): /proc/
// pagetypeinfo against the free lists and the pageblock bitmap, in Linux's
// exact widths; debugfs's extfrag/unusable_index and extfrag_index against
// their formulas worked out here from buddyinfo.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "mm/page_alloc.h"
#include "mm/page_isolation.h"
#include "mm/page_report.h"
#include "proptest/mm_fixture.h"
#include "proptest/report_helpers.h"
#include "proptest/slab_fixture.h"

namespace {

using namespace reportt;

// A random workload on a random layout, with some pageblocks isolated:
// every migrate type's lists have something on them.
void churn(mm_fixture &f) {
  RC_ASSERT(build_layout(f, *gen_layout()) == 0);
  std::vector<held_block> held;
  run_ops(f, *rc::gen::container<std::vector<mm_op>>(gen_op()), held);
  for_each_online_pgdat(*f.ms, pgdat) for_each_zone_of(pgdat, z) {
    if (!managed_zone(z) || !*rc::gen::weightedElement<bool>({{3, false}, {1, true}})) continue;
    for (unsigned long b = pageblock_start_pfn(z->zone_start_pfn) + pageblock_nr_pages; b + pageblock_nr_pages <= zone_end_pfn(z);
         b += pageblock_nr_pages)
      if (set_migratetype_isolate(*f.ms, pfn_to_page(*f.ms, b)) == 0) break;
  }
}

template <class... A>
std::string fmt(const char *format, A... args) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), format, args...);
  return buf;
}

// pagetypeinfo as Linux's seq_printf calls would print it for this
// machine, from the lists and the bitmap directly.
std::string expected_pagetypeinfo(const mem_system &ms) {
  std::string out;
  for_each_online_pgdat(ms, pgdat) {
    out += fmt("Page block order: %u\n", pageblock_order) + fmt("Pages per block:  %lu\n", pageblock_nr_pages) + "\n";
    out += fmt("%-43s ", "Free pages count per migrate type at order");
    for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) out += fmt("%6u ", o);
    out += "\n";
    for_each_zone_of(pgdat, z) {
      if (!populated_zone(z)) continue;
      for (int t = 0; t < int(MIGRATE_TYPES); t++) {
        out += fmt("Node %4d, zone %8s, type %12s ", pgdat->node_id, z->name, migratetype_names[t]);
        for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) {
          unsigned long n = 0;
          list_for_each(e, &z->free_area[o].free_list[t]) n++;
          out += fmt("%6lu ", n);
        }
        out += "\n";
      }
    }
    out += fmt("\n%-23s", "Number of blocks type ");
    for (const char *name : migratetype_names) out += fmt("%12s ", name);
    out += "\n";
    for_each_zone_of(pgdat, z) {
      if (!populated_zone(z)) continue;
      unsigned long count[MIGRATE_TYPES] = {};
      for (unsigned long pfn = z->zone_start_pfn; pfn < zone_end_pfn(z); pfn += pageblock_nr_pages)
        count[get_pfnblock_migratetype(z, pfn)]++;
      out += fmt("Node %d, zone %8s ", pgdat->node_id, z->name);
      for (unsigned long n : count) out += fmt("%12lu ", n);
      out += "\n";
    }
  }
  return out;
}

// The report is exactly that; and its per-type counts add up, order by
// order, to buddyinfo's.
RC_GTEST_PROP(FragReport, PagetypeinfoMatchesListsAndBitmap, ()) {
  slabt::cpu_reset reset;
  mm_fixture f;
  churn(f);
  const std::string text = capture(show_pagetypeinfo, *f.ms);
  RC_ASSERT(text == expected_pagetypeinfo(*f.ms));
  std::string why;
  std::vector<unsigned long> per_order_sums;  // every populated zone, in order
  static const std::regex row(R"(^Node +\d+, zone +\S+, type +\S+ ((?: *\d+ ){11})$)");
  std::vector<std::vector<unsigned long>> rows;
  for (const std::string &l : split_lines(text, &why)) {
    std::smatch m;
    if (!std::regex_match(l, m, row)) continue;
    std::vector<unsigned long> counts;
    std::string fields = m[1];
    for (size_t at = 0; at < fields.size();) {
      size_t end = fields.find(' ', fields.find_first_not_of(' ', at));
      counts.push_back(std::stoul(fields.substr(at, end - at)));
      at = end + 1;
    }
    rows.push_back(counts);
  }
  RC_ASSERT(why == "");
  std::vector<std::string> buddy = split_lines(capture(show_buddyinfo, *f.ms), &why);
  RC_ASSERT(rows.size() == buddy.size() * MIGRATE_TYPES);
  for (size_t zi = 0; zi < buddy.size(); zi++) {
    auto b = parse_buddy_line(buddy[zi], &why);
    RC_ASSERT(b.has_value());
    for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) {
      unsigned long sum = 0;
      for (unsigned t = 0; t < MIGRATE_TYPES; t++) sum += rows[zi * MIGRATE_TYPES + t][o];
      RC_ASSERT(sum == b->nr_free[o]);
    }
  }
  RC_ASSERT(f.check() == std::string());
}

// Linux's two indices from a zone's free block counts, in thousandths.
int unusable(const std::vector<unsigned long> &nr_free, unsigned order) {
  unsigned long free = 0, suitable = 0;
  for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) {
    free += nr_free[o] << o;
    if (o >= order) suitable += nr_free[o] << (o - order);
  }
  return free == 0 ? 1000 : int((free - (suitable << order)) * 1000 / free);
}
int extfrag(const std::vector<unsigned long> &nr_free, unsigned order) {
  unsigned long free = 0, blocks = 0, suitable = 0;
  for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) {
    free += nr_free[o] << o;
    blocks += nr_free[o];
    if (o >= order) suitable += nr_free[o] << (o - order);
  }
  if (blocks == 0) return 0;
  if (suitable) return -1000;
  return int(1000 - (1000 + free * 1000 / (1ul << order)) / blocks);
}

// Both debugfs files are the formulas over buddyinfo's counts, printed as
// Linux prints them ("%d.%03d " and "%2d.%03d ").
RC_GTEST_PROP(FragReport, IndicesFollowTheirFormulasOverBuddyinfo, ()) {
  slabt::cpu_reset reset;
  mm_fixture f;
  churn(f);
  std::string why, want_unusable, want_extfrag;
  for (const std::string &l : split_lines(capture(show_buddyinfo, *f.ms), &why)) {
    auto b = parse_buddy_line(l, &why);
    RC_ASSERT(b.has_value());
    want_unusable += fmt("Node %d, zone %8s ", b->nid, b->zone.c_str());
    want_extfrag += fmt("Node %d, zone %8s ", b->nid, b->zone.c_str());
    for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) {
      int u = unusable(b->nr_free, o), e = extfrag(b->nr_free, o);
      want_unusable += fmt("%d.%03d ", u / 1000, u % 1000);
      want_extfrag += fmt("%2d.%03d ", e / 1000, e % 1000);
    }
    want_unusable += "\n";
    want_extfrag += "\n";
  }
  RC_ASSERT(capture(show_unusable_index, *f.ms) == want_unusable);
  RC_ASSERT(capture(show_extfrag_index, *f.ms) == want_extfrag);
  for_each_online_pgdat(*f.ms, pgdat) for_each_zone_of(pgdat, z) if (populated_zone(z)) {
    std::vector<unsigned long> nr(NR_PAGE_ORDERS);
    for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) nr[o] = z->free_area[o].nr_free;
    for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) RC_ASSERT(fragmentation_index(z, o) == extfrag(nr, o));
  }
}

// A zone filled by hand: the numbers worked out on paper.
struct hand_zone {
  std::unique_ptr<mem_system> ms = std::make_unique<mem_system>();
  std::unique_ptr<pglist_data> pgdat = std::make_unique<pglist_data>();
  zone *z = &pgdat->node_zones[ZONE_DMA32];
  hand_zone() {
    ms->node_data[0] = pgdat.get();
    pgdat->ms = ms.get();
    for (zone &zz : pgdat->node_zones) {
      zz.zone_pgdat = pgdat.get();
      zz.name = zone_names[&zz - pgdat->node_zones];
      for (free_area &a : zz.free_area)
        for (list_head &l : a.free_list) INIT_LIST_HEAD(&l);
    }
    z->present_pages = z->managed_pages = 1;
  }
};

// 4 blocks of order 0, 2 of order 1, 1 of order 3: 16 pages in 7 blocks.
//   unusable(1) = (16 - 6*2)/16 = 0.250; (2) = (16 - 2*4)/16 = 0.500;
//   (3) = (16 - 8)/16 = 0.500; (4..10) = 16/16 = 1.000;
//   extfrag(o) = 1 - (1 + 16/2^o)/7 from order 4, in truncated thousandths:
//   1 - 2000/7 = 0.715 at 4, 1 - 1500/7 = 0.786 at 5, ..., 0.855 at 10;
//   -1 below 4, where a block is there.
TEST(FragReport, HandWorkedIndices) {
  hand_zone h;
  h.z->free_area[0].nr_free = 4;
  h.z->free_area[1].nr_free = 2;
  h.z->free_area[3].nr_free = 1;
  EXPECT_EQ(capture(show_unusable_index, *h.ms),
            "Node 0, zone    DMA32 0.000 0.250 0.500 0.500 1.000 1.000 1.000 1.000 1.000 1.000 1.000 \n");
  EXPECT_EQ(capture(show_extfrag_index, *h.ms),
            "Node 0, zone    DMA32 -1.000 -1.000 -1.000 -1.000  0.715  0.786  0.822  0.840  0.849  0.853  0.855 \n");
  // Nothing free: all of it (nothing) unusable, and no fragmentation.
  for (free_area &a : h.z->free_area) a.nr_free = 0;
  EXPECT_EQ(capture(show_unusable_index, *h.ms),
            "Node 0, zone    DMA32 1.000 1.000 1.000 1.000 1.000 1.000 1.000 1.000 1.000 1.000 1.000 \n");
  EXPECT_EQ(capture(show_extfrag_index, *h.ms),
            "Node 0, zone    DMA32  0.000  0.000  0.000  0.000  0.000  0.000  0.000  0.000  0.000  0.000  0.000 \n");
}

// One free block of a pageblock, nothing else: asked for order 10, the
// index is 1 - (1 + 512/1024)/1 = -0.5, which Linux prints as " 0.-500"
// (its integer part 0, its remainder -500); and pagetypeinfo counts the
// pageblocks a step at a time from the zone's first pfn, so a zone from pfn
// 256 to 1100 shows two of the three it touches.
TEST(FragReport, LinuxQuirksKept) {
  hand_zone h;
  h.z->free_area[pageblock_order].nr_free = 1;
  EXPECT_EQ(capture(show_extfrag_index, *h.ms),
            "Node 0, zone    DMA32 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000  0.-500 \n");
  unsigned long bitmap = 0;
  h.z->pageblock_flags = &bitmap;
  h.z->zone_start_pfn = 256;
  h.z->spanned_pages = 1100 - 256;
  unsigned long count[MIGRATE_TYPES];
  count_pageblock_types(h.z, count);
  EXPECT_EQ(count[MIGRATE_UNMOVABLE], 2ul);
}

// Two more zones worked on paper. 2000 single pages: extfrag(o) = 1 -
// (1 + 2000/2^o)/2000, which reaches 0.999 at order 10 (1 - 2953/2000 in
// truncated thousandths), printed as such. One single page: 1 - (1 + 1/2^o),
// that is -1/2^o from order 1: " 0.-500" ... " 0.-01", then 0 at order 10.
TEST(FragReport, HandWorkedNearTheEnds) {
  hand_zone h;
  h.z->free_area[0].nr_free = 2000;
  EXPECT_EQ(capture(show_extfrag_index, *h.ms),
            "Node 0, zone    DMA32 -1.000  0.500  0.750  0.875  0.937  0.969  0.984  0.992  0.996  0.998  0.999 \n");
  EXPECT_EQ(capture(show_unusable_index, *h.ms),
            "Node 0, zone    DMA32 0.000 1.000 1.000 1.000 1.000 1.000 1.000 1.000 1.000 1.000 1.000 \n");
  h.z->free_area[0].nr_free = 1;
  EXPECT_EQ(capture(show_extfrag_index, *h.ms),
            "Node 0, zone    DMA32 -1.000  0.-500  0.-250  0.-125  0.-62  0.-31  0.-15  0.-07  0.-03  0.-01  0.000 \n");
}

// count_pageblock_types counts the pageblocks of each migrate type and
// writes exactly its MIGRATE_TYPES counts: a pageblock whose bits name no
// type (5 to 7) is counted nowhere, and nothing past the array changes.
TEST(FragReport, BlockCountsIgnoreBitsNoTypeHas) {
  hand_zone h;
  // Pageblock i's bits are byte i of the bitmap: 5, Movable, 7, Reclaimable, 6, Movable.
  unsigned long bitmap = 0x01'06'02'07'01'05ul;
  h.z->pageblock_flags = &bitmap;
  h.z->zone_start_pfn = 0;
  h.z->spanned_pages = 6 * pageblock_nr_pages;
  struct {
    unsigned long count[MIGRATE_TYPES];
    unsigned long after[4];
  } out;
  std::fill(std::begin(out.count), std::end(out.count), 99ul);
  std::fill(std::begin(out.after), std::end(out.after), 0x5a5aul);
  count_pageblock_types(h.z, out.count);
  EXPECT_EQ(out.count[MIGRATE_UNMOVABLE], 0ul);
  EXPECT_EQ(out.count[MIGRATE_MOVABLE], 2ul);
  EXPECT_EQ(out.count[MIGRATE_RECLAIMABLE], 1ul);
  EXPECT_EQ(out.count[MIGRATE_HIGHATOMIC], 0ul);
  EXPECT_EQ(out.count[MIGRATE_ISOLATE], 0ul);
  for (unsigned long a : out.after) EXPECT_EQ(a, 0x5a5aul);
}

// A list of 100000 blocks or more prints as ">100000": Linux stops
// counting there.
TEST(FragReport, PagetypeinfoCapsLongLists) {
  hand_zone h;
  std::vector<page> pages(100001);
  unsigned long bitmap = 0;
  h.z->pageblock_flags = &bitmap;
  for (page &p : pages) list_add(&p.lru, &h.z->free_area[2].free_list[MIGRATE_MOVABLE]);
  const std::string text = capture(show_pagetypeinfo, *h.ms);
  EXPECT_NE(text.find("Node    0, zone    DMA32, type      Movable      0      0 >100000      0 "), std::string::npos)
      << text;
}

}  // namespace

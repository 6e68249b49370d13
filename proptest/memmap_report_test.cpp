// The `memmap` picture (mm/memmap_report.cpp) against a model of the same
// machine read from the free lists (not from PageBuddy, which the report
// reads), after random workloads with isolated pageblocks, and for blocks of
// known types: a free pageblock, an allocated one, an isolated one, a
// highatomic one; then the legend, the buddyinfo line and bad selections.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "kernel/errno.h"
#include "mm/memmap_report.h"
#include "mm/page_alloc.h"
#include "mm/page_isolation.h"
#include "mm/page_report.h"
#include "proptest/mm_fixture.h"
#include "proptest/report_helpers.h"

namespace {

using namespace reportt;

std::string memmap(const mem_system &ms, int nid = -1, const char *zone = nullptr, bool color = false,
                   int *err = nullptr) {
  std::string text;
  seq_out out = string_out(text);
  int e = show_memmap(ms, out, nid, zone, color);
  if (err) *err = e;
  return text;
}

// The colour picture without its escapes, each checked to be a type's
// colour or the reset: it must be the plain picture character for character.
std::string without_colours(const std::string &col) {
  std::string plain = col;
  for (size_t at; (at = plain.find('\033')) != std::string::npos;) {
    const size_t end = plain.find('m', at);
    if (end == std::string::npos) return "(an escape without its end) " + col;
    const std::string code = plain.substr(at, end + 1 - at);
    EXPECT_TRUE(code == "\033[0m" || code == "\033[31m" || code == "\033[32m" || code == "\033[33m" ||
                code == "\033[35m" || code == "\033[34m")
        << code.substr(1);
    plain.erase(at, end + 1 - at);
  }
  return plain;
}

// The picture as the free lists say it should be: header, rows, legend,
// buddyinfo line, for every populated zone.
std::string expected_memmap(const mem_system &ms) {
  std::string out;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) {
    if (!populated_zone(z)) continue;
    std::map<unsigned long, bool> is_free;
    for (unsigned o = 0; o < NR_PAGE_ORDERS; o++)
      for (int t = 0; t < int(MIGRATE_TYPES); t++) list_for_each(e, &z->free_area[o].free_list[t]) {
          unsigned long head = page_to_pfn(ms, list_entry(e, page, lru));
          for (unsigned long i = 0; i < (1ul << o); i++) is_free[head + i] = true;
        }
    unsigned long cell = z->spanned_pages < 64 * pageblock_nr_pages ? 64 : pageblock_nr_pages;
    char buf[200];
    snprintf(buf, sizeof(buf), "Node %d, zone %8s pfn %#lx-%#lx, %lu pages a cell\n", pgdat->node_id, z->name,
             z->zone_start_pfn, zone_end_pfn(z), cell);
    out += buf;
    const char *chars[] = {"Uu_", "Mm.", "Rr,", "Hh^", "Ii~"};
    for (unsigned long row = z->zone_start_pfn / (64 * cell) * (64 * cell); row < zone_end_pfn(z); row += 64 * cell) {
      snprintf(buf, sizeof(buf), "  %#10lx ", row);
      out += buf;
      for (unsigned long c = row; c < row + 64 * cell; c += cell) {
        unsigned long present = 0, nfree = 0;
        int mt = -1;
        for (unsigned long pfn = std::max(c, z->zone_start_pfn); pfn < std::min(c + cell, zone_end_pfn(z)); pfn++) {
          if (!pfn_valid(ms, pfn)) continue;
          if (mt < 0) mt = get_pfnblock_migratetype(z, pfn);
          present++;
          nfree += is_free.count(pfn);
        }
        out += present == 0 ? ' ' : chars[mt][nfree == 0 ? 0 : nfree < present ? 1 : 2];
      }
      out += "\n";
    }
    out += "  full: U Unmovable, M Movable, R Reclaimable, H HighAtomic, I Isolate; lower case: partly free; "
           "free: _ U, . M, , R, ^ H, ~ I; blank: no memory\n";
    std::string bi;
    seq_out bo = string_out(bi);
    show_buddyinfo_zone(pgdat->node_id, z, bo);
    out += bi;
  }
  return out;
}

RC_GTEST_PROP(MemmapReport, PictureMatchesTheFreeLists, ()) {
  mm_fixture f;
  RC_ASSERT(build_layout(f, *gen_layout()) == 0);
  std::vector<held_block> held;
  run_ops(f, *rc::gen::container<std::vector<mm_op>>(gen_op()), held);
  for_each_online_pgdat(*f.ms, pgdat) for_each_zone_of(pgdat, z) {
    if (!managed_zone(z) || !*rc::gen::arbitrary<bool>()) continue;
    for (unsigned long b = pageblock_start_pfn(z->zone_start_pfn) + pageblock_nr_pages; b + pageblock_nr_pages <= zone_end_pfn(z);
         b += pageblock_nr_pages)
      if (set_migratetype_isolate(*f.ms, pfn_to_page(*f.ms, b)) == 0) break;
  }
  if (*rc::gen::arbitrary<bool>()) drain_all_pages(*f.ms);
  int err = 1;
  RC_ASSERT(memmap(*f.ms, -1, nullptr, false, &err) == expected_memmap(*f.ms));
  RC_ASSERT(err == 0);
}

// The row of the picture and the column of pfn's cell, in the single zone.
char cell_of(const std::string &pic, const zone *z, unsigned long pfn) {
  unsigned long cell = memmap_cell_pages(z), row_pages = cell * MEMMAP_ROW_CELLS;
  char prefix[40];
  snprintf(prefix, sizeof(prefix), "  %#10lx ", pfn / row_pages * row_pages);
  size_t at = pic.find(prefix);
  if (at == std::string::npos) return '!';
  return pic[at + strlen(prefix) + (pfn % row_pages) / cell];
}

TEST(MemmapReport, BlocksOfKnownTypes) {
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 128 * SZ_1M), 0);
  mem_system &ms = *f.ms;
  zone *z = first_managed_zone(ms);
  ASSERT_EQ(memmap_cell_pages(z), pageblock_nr_pages);
  page *mov = alloc_pages(ms, GFP_KERNEL | __GFP_MOVABLE, pageblock_order);
  page *unmov = alloc_pages(ms, GFP_KERNEL, pageblock_order);
  page *half = alloc_pages(ms, GFP_KERNEL | __GFP_MOVABLE, pageblock_order - 1);
  ASSERT_TRUE(mov && unmov && half);
  drain_all_pages(ms);
  // A free pageblock to isolate, and the one after the half-used block.
  unsigned long iso = 0;
  for (unsigned long b = zone_end_pfn(z) - pageblock_nr_pages; b > z->zone_start_pfn; b -= pageblock_nr_pages)
    if (b != page_to_pfn(ms, mov) && b != page_to_pfn(ms, unmov) && b != pageblock_start_pfn(page_to_pfn(ms, half)) &&
        set_migratetype_isolate(ms, pfn_to_page(ms, b)) == 0) {
      iso = b;
      break;
    }
  ASSERT_NE(iso, 0ul);
  std::string pic = memmap(ms);
  EXPECT_EQ(cell_of(pic, z, page_to_pfn(ms, mov)), 'M') << pic;
  EXPECT_EQ(cell_of(pic, z, page_to_pfn(ms, unmov)), 'U') << pic;
  EXPECT_EQ(cell_of(pic, z, page_to_pfn(ms, half)), 'm') << pic;
  EXPECT_EQ(cell_of(pic, z, iso), '~') << pic;
  // A free block of the largest order: its pageblocks show free.
  const list_head *top = &z->free_area[MAX_PAGE_ORDER].free_list[MIGRATE_MOVABLE];
  ASSERT_FALSE(list_empty(top));
  unsigned long free_pb = page_to_pfn(ms, list_entry(top->next, page, lru));
  EXPECT_EQ(cell_of(pic, z, free_pb), '.') << pic;
  EXPECT_EQ(cell_of(pic, z, free_pb + pageblock_nr_pages), '.') << pic;
  // A highatomic pageblock shows its type (the bitmap alone is changed, and
  // put back before the checker runs).
  set_pageblock_migratetype(z, free_pb, MIGRATE_HIGHATOMIC);
  std::string hi = memmap(ms);
  EXPECT_EQ(cell_of(hi, z, free_pb), '^') << hi;
  set_pageblock_migratetype(z, free_pb, MIGRATE_MOVABLE);
  // Legend and buddyinfo line come last, the buddyinfo line is buddyinfo's.
  std::string bi = capture(show_buddyinfo, ms);
  ASSERT_GE(pic.size(), bi.size());
  EXPECT_EQ(pic.substr(pic.size() - bi.size()), bi);
  EXPECT_NE(pic.find("\n  full: U Unmovable, M Movable"), std::string::npos);
  // Colour: the same characters with escapes around them, reset at row end.
  std::string col = memmap(ms, 0, z->name, true);
  EXPECT_NE(col.find("\033[32m"), std::string::npos);
  EXPECT_NE(col.find("\033[31mU"), std::string::npos) << col;
  EXPECT_NE(col.find("\033[34m~"), std::string::npos) << col;
  EXPECT_NE(col.find("\033[0m\n"), std::string::npos);
  EXPECT_EQ(pic.find('\033'), std::string::npos);
  EXPECT_EQ(without_colours(col), memmap(ms, 0, z->name, false));
  ASSERT_EQ(unset_migratetype_isolate(ms, pfn_to_page(ms, iso), MIGRATE_MOVABLE), 0);
  __free_pages(ms, mov, pageblock_order);
  __free_pages(ms, unmov, pageblock_order);
  __free_pages(ms, half, pageblock_order - 1);
  EXPECT_EQ(f.check(), "");
}

// The character of a cell, for every type: upper case full, lower case
// partly free, punctuation free, blank with no memory; bits that name no
// migrate type (or no type at all) give '?', never a guess.
TEST(MemmapReport, CellCharacters) {
  const char *chars[] = {"Uu_", "Mm.", "Rr,", "Hh^", "Ii~"};
  static_assert(MIGRATE_TYPES == 5, "a row of chars per type");
  for (int mt = 0; mt < int(MIGRATE_TYPES); mt++) {
    EXPECT_EQ(memmap_cell_char(mt, 0, 64), chars[mt][0]) << mt;
    EXPECT_EQ(memmap_cell_char(mt, 1, 64), chars[mt][1]) << mt;
    EXPECT_EQ(memmap_cell_char(mt, 63, 64), chars[mt][1]) << mt;
    EXPECT_EQ(memmap_cell_char(mt, 64, 64), chars[mt][2]) << mt;
    EXPECT_EQ(memmap_cell_char(mt, 0, 0), ' ') << mt;
  }
  for (int mt : {-1, -2, 5, 6, 7, 100}) {
    EXPECT_EQ(memmap_cell_char(mt, 0, 1), '?') << mt;
    EXPECT_EQ(memmap_cell_char(mt, 1, 1), '?') << mt;
    EXPECT_EQ(memmap_cell_char(mt, 0, 0), ' ') << mt;
  }
}

// A pageblock whose bits name no migrate type shows '?', and in colour it
// gets none of the types' colours (the bitmap alone is changed, and put
// back before the checker runs).
TEST(MemmapReport, BitsNoTypeHasShowUncoloured) {
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 128 * SZ_1M), 0);
  zone *z = first_managed_zone(*f.ms);
  const unsigned long b = pageblock_start_pfn(z->zone_start_pfn) + 3 * pageblock_nr_pages;
  const int was = get_pfnblock_migratetype(z, b);
  for (unsigned long bits : {5ul, 7ul}) {
    SCOPED_TRACE("bits " + std::to_string(bits));
    set_pfnblock_flags_mask(z, b, bits, MIGRATETYPE_MASK);
    const std::string pic = memmap(*f.ms), col = memmap(*f.ms, -1, nullptr, true);
    EXPECT_EQ(cell_of(pic, z, b), '?') << pic;
    EXPECT_EQ(without_colours(col), pic);
    // The colour in effect at the '?' is the one of the cell before it: no
    // escape was put out for it.
    const size_t q = col.find('?');
    ASSERT_NE(q, std::string::npos);
    ASSERT_GE(q, 5u);
    EXPECT_NE(col[q - 5], '\033') << col.substr(q - 5, 6).substr(1);
  }
  set_pfnblock_flags_mask(z, b, unsigned(was), MIGRATETYPE_MASK);
  EXPECT_EQ(f.check(), "");
}

// Zones that start and end inside rows, next to each other (DMA ends at 24
// MiB, DMA32 at 48 MiB): each zone's picture has only its own pages, the
// cells past its end blank like those before its start.
TEST(MemmapReport, ZonesEndingInsideARowDrawOnlyTheirPages) {
  mm_fixture f;
  ASSERT_EQ(f.build({{SZ_1M, 63 * SZ_1M, 0}},
                    layout_with_limits((24 * SZ_1M) >> PAGE_SHIFT, (48 * SZ_1M) >> PAGE_SHIFT, PFN_MAX)),
            0);
  const std::string pic = memmap(*f.ms);
  EXPECT_EQ(pic, expected_memmap(*f.ms));
  zone *dma = &f.ms->node_data[0]->node_zones[ZONE_DMA];
  ASSERT_TRUE(populated_zone(dma));
  const unsigned long cell = memmap_cell_pages(dma), row = cell * MEMMAP_ROW_CELLS;
  ASSERT_NE(zone_end_pfn(dma) % row, 0ul) << "the zone ends inside a row";
  const std::string dma_pic = memmap(*f.ms, 0, dma->name);
  EXPECT_EQ(cell_of(dma_pic, dma, zone_end_pfn(dma)), ' ') << dma_pic;
  EXPECT_EQ(without_colours(memmap(*f.ms, -1, nullptr, true)), pic);
}

// Memory from physical address 0, its first page reserved: pfn 0 is a page
// like any other, in use, and its cell is not drawn as free.
TEST(MemmapReport, PageFrameZeroIsAPageLikeAnyOther) {
  mm_fixture f;
  ASSERT_EQ(f.build({{0, 32 * SZ_1M, 0}}, layout_with_limits(0, PFN_4G, PFN_MAX), {{0, PAGE_SIZE}}), 0);
  zone *z = first_managed_zone(*f.ms);
  ASSERT_EQ(z->zone_start_pfn, 0ul);
  const std::string pic = memmap(*f.ms);
  EXPECT_EQ(pic, expected_memmap(*f.ms));
  const char first = cell_of(pic, z, 0);
  EXPECT_TRUE(first == 'U' || first == 'u' || first == 'M' || first == 'm') << pic;
  EXPECT_EQ(f.check(), "");
}

TEST(MemmapReport, SmallZonesUseSmallCellsAndBadSelectionsPrintNothing) {
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 16 * SZ_1M), 0);
  zone *z = first_managed_zone(*f.ms);
  EXPECT_EQ(memmap_cell_pages(z), 64ul);
  int err = 0;
  EXPECT_EQ(memmap(*f.ms, 1, nullptr, false, &err), "");
  EXPECT_EQ(err, -ENXIO);
  EXPECT_EQ(memmap(*f.ms, int(MAX_NUMNODES), nullptr, false, &err), "");
  EXPECT_EQ(err, -ENXIO);
  EXPECT_EQ(memmap(*f.ms, 0, "Bogus", false, &err), "");
  EXPECT_EQ(err, -ENOENT);
  EXPECT_NE(memmap(*f.ms, 0, z->name, false, &err), "");
  EXPECT_EQ(err, 0);
}

// A zone that starts inside a row: the cells before it hold no memory and
// no type, print blank, and get no colour.
TEST(MemmapReport, CellsOfNoMemoryAreBlankAndUncoloured) {
  mm_fixture f;
  ASSERT_EQ(f.build({{0x80000000ul + SZ_1M, 32 * SZ_1M, 0}}, layout_with_limits(0, PFN_4G, PFN_MAX, 1)), 0);
  zone *z = first_managed_zone(*f.ms);
  const std::string pic = memmap(*f.ms), col = memmap(*f.ms, -1, nullptr, true);
  EXPECT_EQ(pic, expected_memmap(*f.ms));
  const size_t row = pic.find("\n  ") + 1, first = row + 13;  // "  %#10lx " before the cells
  ASSERT_NE(row, 0u);
  const unsigned long blank = (z->zone_start_pfn % (MEMMAP_ROW_CELLS * memmap_cell_pages(z))) / memmap_cell_pages(z);
  ASSERT_GT(blank, 0ul);
  EXPECT_EQ(pic.substr(first, blank), std::string(blank, ' ')) << pic;
  EXPECT_EQ(without_colours(col), pic);
}

}  // namespace

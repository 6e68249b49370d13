// The page allocator's checker against damage the random properties of
// check_test.cpp rarely or never produce: zone and node geometry, per-CPU
// settings, empty zones, allocated blocks, and list pointers that lead to
// list heads or nowhere. Each test starts from a state the checker passes,
// breaks one thing, asserts the report names it, repairs it, and asserts the
// report is empty again (in TearDown).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "mm/check.h"
#include "proptest/check_damage.h"
#include "proptest/mm_fixture.h"

namespace {

using damage::expect_finds;
using damage::hex;
using damage::ptr;

// DMA32 and Normal populated on node 0, the other zones empty.
struct CheckDamagePageAlloc : ::testing::Test {
  mm_fixture f;

  void SetUp() override {
    ASSERT_EQ(build_across_4g(f), 0);
    ASSERT_EQ(f.check(), "");
  }
  void TearDown() override { EXPECT_EQ(f.check(), "") << "after the repair"; }

  pglist_data *node(int nid = 0) const { return f.ms->node_data[nid]; }
  zone *zone_of(zone_type t, int nid = 0) const { return &node(nid)->node_zones[t]; }
  std::string where(const zone *z) const {
    return "node " + std::to_string(z->zone_pgdat->node_id) + " zone " + zone_names[z->idx] + ": ";
  }
  unsigned long pfn(const page *p) const { return page_to_pfn(*f.ms, p); }
  // The highest order with a list of at least n blocks on zone z's buddy
  // lists, and that list's type (mt).
  int order_with(const zone *z, unsigned long n, int *mt) const {
    for (int k = MAX_PAGE_ORDER; k >= 0; k--)
      for (int t = 0; t < int(MIGRATE_TYPES); t++) {
        unsigned long len = 0;
        list_for_each(e, &z->free_area[k].free_list[t]) len++;
        if (len >= n) {
          *mt = t;
          return k;
        }
      }
    return -1;
  }
};

TEST_F(CheckDamagePageAlloc, ZoneFields) {
  zone *z = zone_of(ZONE_NORMAL);
  const std::string at = where(z);
  const char *name = z->name;
  z->name = "Bogus";
  expect_finds(f.check(), {at + "name is \"Bogus\""});
  z->name = nullptr;
  expect_finds(f.check(), {at + "name is \"(null)\""});
  z->name = name;

  const unsigned long managed = z->managed_pages, present = z->present_pages;
  z->managed_pages = present + 1;
  expect_finds(f.check(), {at + "managed_pages " + std::to_string(present + 1) + " is above present_pages " +
                           std::to_string(present)});
  z->managed_pages = managed;
  z->present_pages = z->spanned_pages + 1;
  expect_finds(f.check(), {at + "present_pages " + std::to_string(z->spanned_pages + 1) + " is above spanned_pages",
                           "node 0: node_present_pages is " + std::to_string(node()->node_present_pages) +
                               " but its zones hold"});
  z->present_pages = present;

  page *map = z->zone_mem_map;
  z->zone_mem_map = map + 1;
  expect_finds(f.check(), {at + "zone_mem_map is " + ptr(map + 1)});
  z->zone_mem_map = map;

  const unsigned long limit = f.ms->max_zone_pfn[ZONE_NORMAL];
  f.ms->max_zone_pfn[ZONE_NORMAL] = z->zone_start_pfn + z->spanned_pages - 1;
  expect_finds(f.check(), {at + "span " + hex(z->zone_start_pfn) + "-" + hex(z->zone_start_pfn + z->spanned_pages) +
                           " is outside the zone limits"});
  f.ms->max_zone_pfn[ZONE_NORMAL] = limit;

  node()->node_present_pages++;
  expect_finds(f.check(), {"node 0: node_present_pages is " + std::to_string(node()->node_present_pages)});
  node()->node_present_pages--;
}

// Zones of a node are in pfn order and do not overlap.
TEST_F(CheckDamagePageAlloc, ZoneBelowThePrevious) {
  zone *low = zone_of(ZONE_DMA32), *z = zone_of(ZONE_NORMAL);
  const unsigned long low_end = low->zone_start_pfn + low->spanned_pages;
  ASSERT_EQ(z->zone_start_pfn, low_end);
  z->zone_start_pfn--;
  z->spanned_pages++;
  z->zone_mem_map--;
  expect_finds(f.check(), {where(z) + "starts at pfn " + hex(low_end - 1) + ", below the end " + hex(low_end) +
                           " of zone DMA32"});
  z->zone_start_pfn++;
  z->spanned_pages--;
  z->zone_mem_map++;
}

TEST_F(CheckDamagePageAlloc, NodeWithoutMemMap) {
  page *map = node()->node_mem_map;
  node()->node_mem_map = nullptr;
  expect_finds(f.check(), {"node 0: spans " + std::to_string(node()->node_spanned_pages) + " pages but has no mem_map"});
  node()->node_mem_map = map;
}

// pfn_to_page's table: an entry whose mem_map or span is not its node's is
// named, and so is one left empty (pfn_to_page still finds the page, by
// the slow search).
TEST_F(CheckDamagePageAlloc, SectionTable) {
  const unsigned long pfn = node()->node_start_pfn + 5;
  const unsigned sec = unsigned(pfn >> PFN_SECTION_SHIFT);
  const mem_section saved = f.ms->mem_sections[sec];
  ASSERT_NE(saved.nr_pfns, 0u);
  EXPECT_EQ(saved.start_pfn, node()->node_start_pfn);
  f.ms->mem_sections[sec].mem_map += sizeof(page);
  expect_finds(f.check(), {"section " + std::to_string(sec) + ": pfn_to_page's entry covers " + hex(saved.start_pfn)});
  f.ms->mem_sections[sec].mem_map = saved.mem_map;
  f.ms->mem_sections[sec].nr_pfns++;
  expect_finds(f.check(), {"section " + std::to_string(sec) + ": pfn_to_page's entry covers"});
  f.ms->mem_sections[sec] = mem_section{0, 0, 0};
  expect_finds(f.check(), {"section " + std::to_string(sec) + ": pfn_to_page's entry covers 0x0-0x0 with mem_map 0x0"});
  EXPECT_EQ(pfn_to_page(*f.ms, pfn), node()->node_mem_map + 5) << "an empty entry sends pfn_to_page to the search";
  f.ms->mem_sections[sec] = saved;
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(pfn_to_page(*f.ms, pfn), node()->node_mem_map + 5);
  EXPECT_EQ(pfn_to_page(*f.ms, node()->node_start_pfn - 1), nullptr) << "below the node, in its section";
  // Past the table (64 GiB and up), and the highest pfn there is: no page,
  // and no read past the table.
  for (unsigned long far : {(unsigned long)NR_MEM_SECTIONS << PFN_SECTION_SHIFT, ~0ul >> PAGE_SHIFT, ~0ul}) {
    EXPECT_EQ(pfn_to_page_table(*f.ms, far), nullptr) << hex(far);
    EXPECT_EQ(pfn_to_page(*f.ms, far), nullptr) << hex(far);
  }
}

TEST_F(CheckDamagePageAlloc, NodeSpansOverlap) {
  ASSERT_EQ(build_two_nodes(f), 0);
  ASSERT_EQ(f.check(), "");
  const unsigned long start = node(1)->node_start_pfn;
  node(1)->node_start_pfn = node(0)->node_start_pfn;
  expect_finds(f.check(), {"node 0 span " + hex(node(0)->node_start_pfn), "overlaps node 1 span"});
  node(1)->node_start_pfn = start;
}

TEST_F(CheckDamagePageAlloc, NrCpusOutOfRange) {
  const unsigned cpus = f.ms->nr_cpus;
  for (unsigned bad : {0u, unsigned(NR_CPUS) + 1}) {
    f.ms->nr_cpus = bad;
    expect_finds(f.check(), {"nr_cpus is " + std::to_string(bad) + ", not 1.." + std::to_string(NR_CPUS)});
  }
  f.ms->nr_cpus = cpus;
}

TEST_F(CheckDamagePageAlloc, PerCpuSettings) {
  zone *z = zone_of(ZONE_DMA32);
  per_cpu_pages &pcp = z->pcp[1];
  const int high = pcp.high;
  pcp.high = pcp.batch - 1;
  expect_finds(f.check(), {where(z) + "cpu 1 pcp.high " + std::to_string(pcp.high) + " is below pcp.batch"});
  pcp.high = high;
  z->nr_reserved_highatomic = 3;
  expect_finds(f.check(), {where(z) + "nr_reserved_highatomic is 3, but 0 HighAtomic pageblocks hold 0 pages"});
  z->nr_reserved_highatomic = 0;
}

// A zone without pages must hold nothing anywhere.
TEST_F(CheckDamagePageAlloc, EmptyZoneHoldsSomething) {
  zone *z = zone_of(ZONE_HIGHMEM);
  ASSERT_EQ(z->spanned_pages, 0u);
  const std::string at = where(z);
  z->free_area[3].nr_free = 1;
  expect_finds(f.check(), {at + "free_area[3].nr_free is 1 in a zone without pages"});
  z->free_area[3].nr_free = 0;
  z->vm_stat[NR_ZONE_ALLOCATED] = 2;
  expect_finds(f.check(), {at + "vm_stat[" + std::to_string(int(NR_ZONE_ALLOCATED)) + "] is 2 in a zone without pages"});
  z->vm_stat[NR_ZONE_ALLOCATED] = 0;
  z->pcp[0].count = 4;
  expect_finds(f.check(), {at + "cpu 0 pcp.count is 4 in a zone without pages"});
  z->pcp[0].count = 0;
}

TEST_F(CheckDamagePageAlloc, FreePageWithOwnerFlag) {
  zone *z = zone_of(ZONE_DMA32);
  int mt;
  const int k = order_with(z, 1, &mt);
  ASSERT_GE(k, 0);
  page *p = list_entry(z->free_area[k].free_list[mt].next, page, lru);
  set_page_flag(p, PG_slab);
  expect_finds(f.check(), {where(z) + "free pfn " + hex(pfn(p)) + " also has flags"});
  clear_page_flag(p, PG_slab);
}

// Damage to an allocated block: its order, its compound marks, a reserved
// page inside it, a negative refcount.
TEST_F(CheckDamagePageAlloc, AllocatedBlock) {
  mem_system &ms = *f.ms;
  // c first: the first block taken from a fresh pageblock starts it, and
  // p must not be aligned to every order.
  page *c = alloc_pages(ms, GFP_KERNEL | __GFP_COMP | __GFP_NOWARN, 2);
  page *p = alloc_pages(ms, GFP_KERNEL | __GFP_NOWARN, 2);
  page *single = alloc_pages(ms, GFP_KERNEL | __GFP_NOWARN, 0);
  ASSERT_TRUE(p && c && single);
  ASSERT_EQ(f.check(), "");
  const std::string at = where(page_zone(ms, p));

  p->alloc_order = MAX_PAGE_ORDER + 1;
  expect_finds(f.check(), {at + "allocated pfn " + hex(pfn(p)) + " has alloc_order " +
                           std::to_string(MAX_PAGE_ORDER + 1) + ", above " + std::to_string(MAX_PAGE_ORDER)});
  // An order the block's pfn is not aligned to.
  unsigned misaligned = 1;
  while (misaligned < MAX_PAGE_ORDER && pfn(p) % (1ul << misaligned) == 0) misaligned++;
  p->alloc_order = misaligned;
  expect_finds(f.check(), {at + "allocation at pfn " + hex(pfn(p)) + " is not aligned to its order " +
                           std::to_string(misaligned)});
  p->alloc_order = 2;

  set_page_flag(&p[2], PG_reserved);
  expect_finds(f.check(), {at + "pfn " + hex(pfn(p) + 2) + " in the allocation at pfn " + hex(pfn(p)) +
                           " is PG_reserved"});
  clear_page_flag(&p[2], PG_reserved);

  set_page_flag(single, PG_head);
  expect_finds(f.check(), {"pfn " + hex(pfn(single)) + " is PG_head but its allocation has order 0"});
  clear_page_flag(single, PG_head);

  const auto order = c[1].compound_order;
  c[1].compound_order = 1;
  expect_finds(f.check(), {"compound head pfn " + hex(pfn(c)) + ": compound_order is 1 but alloc_order is 2"});
  c[1].compound_order = order;

  const int ref = single->_refcount;
  single->_refcount = -1;
  expect_finds(f.check(), {"pfn " + hex(pfn(single)) + " has refcount -1"});
  single->_refcount = ref;

  ASSERT_EQ(f.check(), "");
  __free_pages(ms, p, 2);
  __free_pages(ms, c, 2);
  __free_pages(ms, single, 0);
}

// A buddy list pointer that leads to a list head or to foreign memory is
// described as such; one whose target does not link back is named.
TEST_F(CheckDamagePageAlloc, StrayListPointers) {
  zone *z = zone_of(ZONE_DMA32);
  int mt;
  const int k = order_with(z, 2, &mt);
  ASSERT_GE(k, 0);
  list_head *head = &z->free_area[k].free_list[mt];
  list_head *first = head->next, *second = first->next;
  const std::string list =
      where(z) + "free_area[" + std::to_string(k) + "].free_list[" + migratetype_names[mt] + "]: ";

  const int other = k == 0 ? 1 : 0;
  first->next = &z->free_area[other].free_list[MIGRATE_RECLAIMABLE];
  expect_finds(f.check(), {list + "entry 1 is the head of free_area[" + std::to_string(other) +
                           "].free_list[Reclaimable], not a page of this zone"});
  first->next = &z->pcp[1].lists[2];
  expect_finds(f.check(), {list + "entry 1 is the head of cpu 1 pcp.lists[2], not a page of this zone"});
  list_head *nowhere = reinterpret_cast<list_head *>(0x1230);
  first->next = nowhere;
  expect_finds(f.check(), {list + "entry 1 is " + ptr(nowhere) + ", not a page of this zone"});
  first->next = second;

  list_head *prev = second->prev;
  second->prev = head;
  const page *sp = list_entry(second, page, lru);
  expect_finds(f.check(), {list + "pfn " + hex(pfn(sp)) + " (entry 1) does not link back to the entry before it"});
  second->prev = prev;
}

// A page marked PG_pcp that no per-CPU list holds is found twice over: by
// its links and by the count of flagged pages.
TEST_F(CheckDamagePageAlloc, PcpFlagOffTheLists) {
  mem_system &ms = *f.ms;
  page *p = alloc_pages(ms, GFP_KERNEL | __GFP_NOWARN, 0);
  ASSERT_NE(p, nullptr);
  const int ref = p->_refcount;
  const unsigned long priv = p->private_;
  p->_refcount = 0;
  p->private_ = 0;
  set_page_flag(p, PG_pcp);
  const std::string at = where(page_zone(ms, p));
  expect_finds(f.check(), {at + "pfn " + hex(pfn(p)) + " is PG_pcp but not linked into a per-CPU list of order 0",
                           "pages are PG_pcp but"});
  clear_page_flag(p, PG_pcp);
  p->_refcount = ref;
  p->private_ = priv;
  ASSERT_EQ(f.check(), "");
  __free_pages(ms, p, 0);
}

}  // namespace

// The page allocator's checker against damage the random properties of
// check_test.cpp rarely or never produce: zone and node geometry, per-CPU
// settings, empty zones, allocated blocks, and list pointers that lead to
// list heads or nowhere. Each test starts from a state the checker passes,
// breaks one thing, asserts the report names it, repairs it, and asserts the
// report is empty again (in TearDown).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "mm/check.h"
#include "mm/page_alloc_internal.h"
#include "mm/watermark.h"
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
  // How the list walk names a buddy list.
  std::string list_name(const zone *z, int k, int mt) const {
    return where(z) + "free_area[" + std::to_string(k) + "].free_list[" + migratetype_names[mt] + "]";
  }
  // The first block on the list of the highest order with n blocks or more
  // (its order in *k, its type in *mt).
  page *first_block(const zone *z, unsigned long n, int *k, int *mt) const {
    *k = order_with(z, n, mt);
    return *k < 0 ? nullptr : list_first_entry(&z->free_area[*k].free_list[*mt], page, lru);
  }
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

// Memory from physical address 0: the first zone starts at pfn 0, which
// no zone before it ends above, and section 0's entry is checked like any
// other.
TEST(CheckDamagePageAllocFromZero, FirstZoneAndSectionAtPfnZero) {
  mm_fixture f;
  ASSERT_EQ(f.build({{0, 32 * SZ_1M, 0}}, layout_with_limits(PFN_16M, PFN_4G, PFN_MAX)), 0);
  const pglist_data *pgdat = f.ms->node_data[0];
  ASSERT_EQ(pgdat->node_zones[ZONE_DMA].zone_start_pfn, 0u);
  ASSERT_GT(pgdat->node_zones[ZONE_DMA].spanned_pages, 0u);
  EXPECT_EQ(f.check(), "");
  const mem_section saved = f.ms->mem_sections[0];
  ASSERT_EQ(saved.start_pfn, 0u);
  ASSERT_NE(saved.nr_pfns, 0u);
  f.ms->mem_sections[0].nr_pfns++;
  EXPECT_EQ(f.check(), "1 violations:\nsection 0: pfn_to_page's entry covers 0x0-" + hex(saved.nr_pfns + 1) +
                           " with mem_map " + hex(saved.mem_map) + ", its node 0x0-" + hex(saved.nr_pfns) + " with " +
                           hex(saved.mem_map) + "\n");
  f.ms->mem_sections[0] = saved;
  EXPECT_EQ(f.check(), "");
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
  pcp.high = pcp.batch;  // as low as high may go
  EXPECT_EQ(f.check(), "");
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
  // A wrong threshold is named once, as a threshold: it counts no pages.
  z->per_cpu_zonestats[1].stat_threshold = 3;
  EXPECT_EQ(f.check(), "1 violations:\n" + at + "CPU 1's vm stats threshold is 3 but calculate_normal_threshold gives 0\n");
  z->per_cpu_zonestats[1].stat_threshold = 0;
  z->nr_reserved_highatomic = pageblock_nr_pages;
  expect_finds(f.check(), {at + "nr_reserved_highatomic is " + std::to_string(pageblock_nr_pages) +
                           " in a zone without pages"});
  z->nr_reserved_highatomic = 0;
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

  // Read as a single page: the rest of the block belongs to nobody, and the
  // counts no longer add up; nothing else.
  p->alloc_order = MAX_PAGE_ORDER + 1;
  const std::string report = f.check();
  EXPECT_EQ(report.substr(0, report.find("NR_ZONE_ALLOCATED")),
            "4 violations:\n" + at + "allocated pfn " + hex(pfn(p)) + " has alloc_order " +
                std::to_string(MAX_PAGE_ORDER + 1) + ", above " + std::to_string(MAX_PAGE_ORDER) + "\n" + at + "pfns " +
                hex(pfn(p) + 1) + "-" + hex(pfn(p) + 3) + " (3 pages) are neither free, allocated nor reserved\n" + at);
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


// A list pointer that leads to the head of any CPU's per-CPU list, CPU 0's
// included, is named as that head.
TEST_F(CheckDamagePageAlloc, StrayPointerToEachCpusPcpHead) {
  zone *z = zone_of(ZONE_DMA32);
  int k, mt;
  ASSERT_NE(first_block(z, 2, &k, &mt), nullptr);
  list_head *first = z->free_area[k].free_list[mt].next, *second = first->next;
  const std::string list = list_name(z, k, mt) + ": ";
  for (unsigned cpu = 0; cpu < f.ms->nr_cpus; cpu++)
    for (unsigned i : {0u, NR_PCP_LISTS - 1}) {
      first->next = &z->pcp[cpu].lists[i];
      expect_finds(f.check(), {list + "entry 1 is the head of cpu " + std::to_string(cpu) + " pcp.lists[" +
                               std::to_string(i) + "], not a page of this zone"});
    }
  // A CPU that is not online has no list in use: its head is just an address.
  ASSERT_LT(f.ms->nr_cpus, NR_CPUS);
  first->next = &z->pcp[f.ms->nr_cpus].lists[0];
  expect_finds(f.check(), {list + "entry 1 is " + ptr(first->next) + ", not a page of this zone"});
  // The free lists' heads, of the first and last order and type.
  for (unsigned o : {0u, MAX_PAGE_ORDER})
    for (unsigned t : {0u, unsigned(MIGRATE_TYPES) - 1}) {
      first->next = &z->free_area[o].free_list[t];
      expect_finds(f.check(), {list + "entry 1 is the head of free_area[" + std::to_string(o) + "].free_list[" +
                               migratetype_names[t] + "], not a page of this zone"});
    }
  // Just past an order's lists (its nr_free) is no list head: an address.
  for (unsigned o : {0u, MAX_PAGE_ORDER}) {
    first->next = z->free_area[o].free_list + MIGRATE_TYPES;
    expect_finds(f.check(), {list + "entry 1 is " + ptr(first->next) + ", not a page of this zone"});
  }
  // A page of another zone.
  zone *normal = zone_of(ZONE_NORMAL);
  first->next = &normal->zone_mem_map[5].lru;
  expect_finds(f.check(), {list + "entry 1 is pfn " + hex(normal->zone_start_pfn + 5) + " of node 0, not a page of this zone"});
  first->next = second;
}

// A broken list is named where it breaks, once: nothing is counted from a
// walk that did not close (its nr_free, the zone's counters). The same for
// a per-CPU list.
TEST_F(CheckDamagePageAlloc, BrokenListIsNamedOnce) {
  zone *z = zone_of(ZONE_DMA32);
  int k, mt;
  ASSERT_NE(first_block(z, 2, &k, &mt), nullptr);
  list_head *first = z->free_area[k].free_list[mt].next, *second = first->next;
  list_head *nowhere = reinterpret_cast<list_head *>(0x1230);
  // The break, and the two pages on either side of it, which lost a link.
  auto named_once = [&](const zone *zz, const std::string &broken, list_head *a, list_head *b, const char *kind) {
    const std::string at = where(zz);
    const std::string what = std::string(" is PG_") + kind + " but not linked into a " +
                             (kind[0] == 'b' ? "free_area" : "per-CPU") + " list of order ";
    const page *pa = list_entry(a, page, lru), *pb = list_entry(b, page, lru);
    if (pfn(pb) < pfn(pa)) std::swap(pa, pb);  // named in pfn order
    EXPECT_EQ(f.check(), "3 violations:\n" + broken + "\n" + at + "pfn " + hex(pfn(pa)) + what +
                             std::to_string(pa->private_) + "\n" + at + "pfn " + hex(pfn(pb)) + what +
                             std::to_string(pb->private_) + "\n");
  };
  const std::string list = list_name(z, k, mt);
  first->next = nowhere;
  named_once(z, list + ": entry 1 is " + ptr(nowhere) + ", not a page of this zone", first, second, "buddy");
  first->next = second;
  second->prev = first->prev;  // the head
  named_once(z, list + ": pfn " + hex(pfn(list_entry(second, page, lru))) +
                    " (entry 1) does not link back to the entry before it",
             first, second, "buddy");
  second->prev = first;

  mem_system &ms = *f.ms;
  std::vector<page *> held;
  for (int i = 0; i < 3; i++) held.push_back(alloc_pages(ms, GFP_KERNEL, 0));
  for (page *p : held) {
    ASSERT_NE(p, nullptr);
    __free_pages(ms, p, 0);
    ASSERT_TRUE(PagePcp(p));
  }
  const zone *pz = page_zone(ms, held[2]);
  ASSERT_EQ(held[2]->lru.prev, &pz->pcp[0].lists[0]);  // the newest on CPU 0's first list
  list_head *pfirst = &held[2]->lru, *psecond = pfirst->next;
  pfirst->next = nowhere;
  named_once(pz, where(pz) + "cpu 0 pcp.lists[0]: entry 1 is " + ptr(nowhere) + ", not a page of this zone", pfirst,
             psecond, "pcp");
  pfirst->next = psecond;
}

// A CPU that is not online keeps nothing on its per-CPU lists: a page put
// there is no per-CPU list's page, and its count no per-CPU count.
TEST_F(CheckDamagePageAlloc, PageOnAnOfflineCpusList) {
  mem_system &ms = *f.ms;
  page *p = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  zone *z = page_zone(ms, p);
  per_cpu_pages &off = z->pcp[ms.nr_cpus];
  ASSERT_TRUE(list_empty(&off.lists[0]));
  const int ref = page_ref_count(p);
  set_page_count(p, 0);
  set_page_flag(p, PG_pcp);
  p->private_ = 0;
  list_add(&p->lru, &off.lists[0]);
  off.count = 1;
  expect_finds(f.check(), {where(z) + "pfn " + hex(pfn(p)) + " is PG_pcp but not linked into a per-CPU list of order 0",
                           where(z) + "1 pages are PG_pcp but 0 of them are on the per-CPU lists"});
  off.count = 0;
  list_del(&p->lru);
  clear_page_flag(p, PG_pcp);
  set_page_count(p, ref);
  __free_pages(ms, p, 0);
}

// A per-CPU count of 0 with pages on the lists is named (0 is a count like
// any other); a batch below 1 is named.
TEST_F(CheckDamagePageAlloc, PcpCountZeroAndBatch) {
  mem_system &ms = *f.ms;
  page *p = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  __free_pages(ms, p, 0);
  zone *z = page_zone(ms, p);
  per_cpu_pages &pcp = z->pcp[0];
  const int count = pcp.count;
  ASSERT_GT(count, 0);
  pcp.count = 0;
  expect_finds(f.check(), {where(z) + "cpu 0 pcp.count is 0 but its lists hold " + std::to_string(count) + " pages"});
  pcp.count = count;
  const int batch = pcp.batch;
  pcp.batch = 0;
  expect_finds(f.check(), {where(z) + "cpu 0 pcp.batch is 0, below 1"});
  pcp.batch = 1;
  EXPECT_EQ(f.check(), "");
  pcp.batch = batch;
}

// A free block must be aligned to its order and carry no allocation order;
// a PG_buddy block of the highest order off its list is named too.
TEST_F(CheckDamagePageAlloc, FreeBlockShape) {
  zone *z = zone_of(ZONE_DMA32);
  int k, mt;
  page *b = first_block(z, 1, &k, &mt);
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(k, int(MAX_PAGE_ORDER));
  b->alloc_order = 2;
  expect_finds(f.check(), {where(z) + "free pfn " + hex(pfn(b)) + " has alloc_order 2"});
  b->alloc_order = 0;
  // An allocated page at an odd pfn, marked a free block of order 1.
  mem_system &ms = *f.ms;
  page *pages[2] = {alloc_pages(ms, GFP_KERNEL, 0), alloc_pages(ms, GFP_KERNEL, 0)};
  ASSERT_TRUE(pages[0] && pages[1]);
  page *odd = pfn(pages[0]) % 2 ? pages[0] : pages[1];
  ASSERT_EQ(pfn(odd) % 2, 1ul);
  set_page_count(odd, 0);
  set_page_flag(odd, PG_buddy);
  odd->private_ = 1;
  expect_finds(f.check(), {where(page_zone(ms, odd)) + "free block at pfn " + hex(pfn(odd)) +
                           " is not aligned to its order 1"});
  clear_page_flag(odd, PG_buddy);
  odd->private_ = 0;
  set_page_count(odd, 1);
  for (page *q : pages) __free_pages(ms, q, 0);
  list_del(&b->lru);
  z->free_area[k].nr_free--;
  expect_finds(f.check(), {where(z) + "pfn " + hex(pfn(b)) + " is PG_buddy but not linked into a free_area list of order " +
                               std::to_string(k),
                           " pages are PG_buddy but "});
  list_add(&b->lru, &z->free_area[k].free_list[mt]);
  z->free_area[k].nr_free++;
}

// A movable page is an order-0 allocation and nothing else.
TEST_F(CheckDamagePageAlloc, MovableMarksOnOtherAllocations) {
  mem_system &ms = *f.ms;
  page *four = alloc_pages(ms, GFP_KERNEL, 2);
  page *one = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_TRUE(four && one);
  const std::string at = where(page_zone(ms, four));
  set_page_flag(four, PG_isolated);
  expect_finds(f.check(), {at + "pfn " + hex(pfn(four)) + " is isolated but an allocation of order 2"});
  clear_page_flag(four, PG_isolated);
  set_page_flag(one, PG_isolated);
  for (pageflags other : {PG_slab, PG_head, PG_large_kmalloc}) {
    set_page_flag(one, other);
    const char *what = other == PG_slab ? "a slab" : other == PG_head ? "a compound head" : "a large kmalloc";
    expect_finds(f.check(), {where(page_zone(ms, one)) + "pfn " + hex(pfn(one)) + " is isolated and also " + what});
    clear_page_flag(one, other);
  }
  clear_page_flag(one, PG_isolated);
  EXPECT_EQ(f.check(), "");
  __free_pages(ms, four, 2);
  __free_pages(ms, one, 0);
}

// The pages after a free block's head carry nothing of an owner: no flag,
// no allocation order, no compound tail mark. The pages after an allocation's
// head are no heads themselves, and an order-1 compound allocation's tail
// points at its head.
TEST_F(CheckDamagePageAlloc, MarksInsideBlocks) {
  zone *z = zone_of(ZONE_DMA32);
  int k, mt;
  page *b = first_block(z, 1, &k, &mt);
  ASSERT_NE(b, nullptr);
  page *t = b + 3;
  const std::string in = where(z) + "pfn " + hex(pfn(t)) + " in the free block at pfn " + hex(pfn(b));
  set_page_flag(t, PG_slab);
  expect_finds(f.check(), {in + " has flags slab"});
  clear_page_flag(t, PG_slab);
  t->alloc_order = 1;
  expect_finds(f.check(), {in + " has alloc_order 1"});
  t->alloc_order = 0;
  t->compound_head = reinterpret_cast<uintptr_t>(b) | 1;
  expect_finds(f.check(), {in + " still has compound_head " + hex(t->compound_head)});
  t->compound_head = 0;

  mem_system &ms = *f.ms;
  page *four = alloc_pages(ms, GFP_KERNEL, 2);
  page *pair = alloc_pages(ms, GFP_KERNEL | __GFP_COMP, 1);
  ASSERT_TRUE(four && pair);
  set_page_flag(four + 1, PG_head);
  expect_finds(f.check(), {where(page_zone(ms, four)) + "pfn " + hex(pfn(four) + 1) + " in the allocation at pfn " +
                           hex(pfn(four)) + " is PG_head"});
  clear_page_flag(four + 1, PG_head);
  const unsigned long head = pair[1].compound_head;
  pair[1].compound_head = head + sizeof(page);
  expect_finds(f.check(), {where(page_zone(ms, pair)) + "compound tail pfn " + hex(pfn(pair) + 1) + " has compound_head " +
                           hex(head + sizeof(page))});
  pair[1].compound_head = head;
  EXPECT_EQ(f.check(), "");
  __free_pages(ms, four, 2);
  __free_pages(ms, pair, 1);
}

// A run of pages nobody owns at the very end of a zone is named too; a page
// marked reserved beyond the zone's reserved count is named with the count.
TEST_F(CheckDamagePageAlloc, UnownedAtTheZoneEndAndReservedCount) {
  zone *z = zone_of(ZONE_DMA32);
  const unsigned long end = zone_end_pfn(z);
  page *last = z->zone_mem_map + (end - (1ul << MAX_PAGE_ORDER) - z->zone_start_pfn);
  ASSERT_TRUE(PageBuddy(last));
  ASSERT_EQ(last->private_, MAX_PAGE_ORDER);
  clear_page_flag(last, PG_buddy);
  expect_finds(f.check(), {where(z) + "pfns " + hex(end - (1ul << MAX_PAGE_ORDER)) + "-" + hex(end - 1) + " (" +
                           std::to_string(1ul << MAX_PAGE_ORDER) + " pages) are neither free, allocated nor reserved"});
  set_page_flag(last, PG_buddy);

  mem_system &ms = *f.ms;
  page *p = alloc_pages(ms, GFP_KERNEL | __GFP_DMA32, 0);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(page_zone(ms, p), z);
  const unsigned long reserved = z->spanned_pages - z->managed_pages;
  set_page_flag(p, PG_reserved);
  expect_finds(f.check(), {where(z) + std::to_string(reserved + 1) + " pages are PG_reserved, but spanned_pages " +
                           std::to_string(z->spanned_pages) + " - managed_pages " + std::to_string(z->managed_pages) +
                           " is " + std::to_string(reserved)});
  clear_page_flag(p, PG_reserved);
  __free_pages(ms, p, 0);
}

// Watermarks in any other order than min <= low <= high <= promo are named
// as such (besides the formula they break).
TEST_F(CheckDamagePageAlloc, WatermarksOutOfOrder) {
  zone *z = zone_of(ZONE_DMA32);
  unsigned long *wm = z->_watermark;
  const unsigned long high = wm[WMARK_HIGH];
  wm[WMARK_HIGH] = wm[WMARK_LOW] - 1;
  expect_finds(f.check(), {where(z) + "watermarks out of order: min " + std::to_string(wm[WMARK_MIN]) + " low " +
                           std::to_string(wm[WMARK_LOW]) + " high " + std::to_string(wm[WMARK_HIGH]) + " promo " +
                           std::to_string(wm[WMARK_PROMO])});
  wm[WMARK_HIGH] = high;
}

// The head's prev must be the last entry.
TEST_F(CheckDamagePageAlloc, HeadPrevNotTheLastEntry) {
  zone *z = zone_of(ZONE_DMA32);
  int k, mt;
  ASSERT_NE(first_block(z, 2, &k, &mt), nullptr);
  list_head *head = &z->free_area[k].free_list[mt], *last = head->prev;
  head->prev = head->next;
  expect_finds(f.check(), {list_name(z, k, mt) + ": the head's prev is not the last entry"});
  head->prev = last;
}

// A page inside a free block, buddy or per-CPU, with a reference is named
// with the kind of block it is in.
TEST_F(CheckDamagePageAlloc, ReferenceInsideAFreeBlock) {
  zone *z = zone_of(ZONE_DMA32);
  int k, mt;
  page *b = first_block(z, 1, &k, &mt);
  ASSERT_NE(b, nullptr);
  ASSERT_GE(k, 1);
  set_page_count(b + 1, 1);
  expect_finds(f.check(), {where(z) + "pfn " + hex(pfn(b) + 1) + " in the free block at pfn " + hex(pfn(b)) +
                           " (order " + std::to_string(k) + ") has refcount 1"});
  set_page_count(b + 1, 0);

  page *p = alloc_pages(*f.ms, GFP_KERNEL, 1);
  ASSERT_NE(p, nullptr);
  __free_pages(*f.ms, p, 1);
  ASSERT_TRUE(PagePcp(p));
  set_page_count(p + 1, 1);
  expect_finds(f.check(), {where(page_zone(*f.ms, p)) + "pfn " + hex(pfn(p) + 1) + " in the per-CPU free block at pfn " +
                           hex(pfn(p)) + " (order 1) has refcount 1"});
  set_page_count(p + 1, 0);
}

// A listed page without any flag is named as such ("flags none").
TEST_F(CheckDamagePageAlloc, ListedPageWithoutFlags) {
  zone *z = zone_of(ZONE_DMA32);
  int k, mt;
  page *b = first_block(z, 1, &k, &mt);
  ASSERT_NE(b, nullptr);
  const u64 flags = b->flags;
  b->flags &= ~PAGEFLAGS_MASK;
  expect_finds(f.check(), {list_name(z, k, mt) + ": pfn " + hex(pfn(b)) + " is listed but not PG_buddy (flags none)"});
  b->flags = flags;
}

// A negative per-CPU count is named as such (and NR_PCP_PAGES, the counts'
// sum, with it), not compared with the pages on its lists: no number of
// pages could match it.
TEST_F(CheckDamagePageAlloc, NegativePcpCount) {
  zone *z = zone_of(ZONE_DMA32);
  per_cpu_pages &pcp = z->pcp[1];
  for (const list_head &l : pcp.lists) ASSERT_TRUE(list_empty(&l));
  ASSERT_EQ(pcp.count, 0);
  pcp.count = -1;
  EXPECT_EQ(f.check(), "2 violations:\n" + where(z) + "cpu 1 pcp.count is -1\n" + where(z) +
                           "NR_PCP_PAGES is -1 but the per-CPU counts add up to 0\n");
  pcp.count = 0;
}

// A free page's order is bounded by the lists it may be on: MAX_PAGE_ORDER
// on the buddy lists, the last per-CPU order on the per-CPU lists.
TEST_F(CheckDamagePageAlloc, FreeOrderAboveItsLists) {
  zone *z = zone_of(ZONE_DMA32);
  int k, mt;
  page *b = first_block(z, 1, &k, &mt);
  ASSERT_NE(b, nullptr);
  // The block is read as a single page: the rest of it belongs to nobody.
  b->private_ = MAX_PAGE_ORDER + 1;
  const std::string bad = std::to_string(MAX_PAGE_ORDER + 1);
  EXPECT_EQ(f.check(), "3 violations:\n" + list_name(z, k, mt) + ": pfn " + hex(pfn(b)) + " has order " + bad +
                           " in private_, not " + std::to_string(k) + "\n" + where(z) + "free pfn " + hex(pfn(b)) +
                           " has order " + bad + ", above " + std::to_string(MAX_PAGE_ORDER) + "\n" + where(z) +
                           "pfns " + hex(pfn(b) + 1) + "-" + hex(pfn(b) + (1ul << k) - 1) + " (" +
                           std::to_string((1ul << k) - 1) + " pages) are neither free, allocated nor reserved\n");
  b->private_ = unsigned(k);

  page *p = alloc_pages(*f.ms, GFP_KERNEL | __GFP_NOWARN, 0);
  ASSERT_NE(p, nullptr);
  __free_pages(*f.ms, p, 0);
  ASSERT_TRUE(PagePcp(p));
  ASSERT_EQ(f.check(), "");
  p->private_ = NR_PCP_ORDERS;
  const std::string at = where(page_zone(*f.ms, p));
  ASSERT_EQ(p->lru.prev, &page_zone(*f.ms, p)->pcp[0].lists[0]);
  EXPECT_EQ(f.check(), "2 violations:\n" + at + "cpu 0 pcp.lists[0]: pfn " + hex(pfn(p)) + " has order " +
                           std::to_string(NR_PCP_ORDERS) + " in private_, not 0\n" + at + "free pfn " + hex(pfn(p)) +
                           " has order " + std::to_string(NR_PCP_ORDERS) + ", above " +
                           std::to_string(NR_PCP_ORDERS - 1) + "\n");
  p->private_ = 0;
}

// Pages nobody owns (an allocation whose reference is gone) are named: one
// page as a page, a run of them as a range with its length.
TEST_F(CheckDamagePageAlloc, PagesNobodyOwns) {
  mem_system &ms = *f.ms;
  page *single = alloc_pages(ms, GFP_KERNEL | __GFP_NOWARN, 0);
  page *four = alloc_pages(ms, GFP_KERNEL | __GFP_NOWARN, 2);
  ASSERT_TRUE(single && four);
  ASSERT_EQ(f.check(), "");
  set_page_count(single, 0);
  expect_finds(f.check(), {where(page_zone(ms, single)) + "pfn " + hex(pfn(single)) +
                           " is neither free, allocated nor reserved"});
  set_page_count(single, 1);
  set_page_count(four, 0);
  expect_finds(f.check(), {where(page_zone(ms, four)) + "pfns " + hex(pfn(four)) + "-" + hex(pfn(four) + 3) +
                           " (4 pages) are neither free, allocated nor reserved"});
  set_page_count(four, 1);
  ASSERT_EQ(f.check(), "");
  __free_pages(ms, single, 0);
  __free_pages(ms, four, 2);
}

// A zone's idx must be its place in its node.
TEST_F(CheckDamagePageAlloc, ZoneIdx) {
  zone *z = zone_of(ZONE_NORMAL);
  z->idx = ZONE_DMA32;
  expect_finds(f.check(), {"node 0 zone Normal: idx is " + std::to_string(int(ZONE_DMA32))});
  z->idx = ZONE_NORMAL;
}

// A free block whose order takes it past its zone's end is named, and the
// types of its pageblocks are read inside the zone only (the ones beyond
// belong to the next zone, or to nobody). DMA32 ends half-way through a
// MAX_PAGE_ORDER block here, so its last free block has order
// MAX_PAGE_ORDER - 1; it is moved to the MAX_PAGE_ORDER list of its type.
TEST_F(CheckDamagePageAlloc, FreeBlockPastTheZoneEnd) {
  constexpr unsigned long base = 0x80000000ul >> PAGE_SHIFT, half = 1ul << (MAX_PAGE_ORDER - 1);
  ASSERT_EQ(f.build({{0x80000000, 128 * SZ_1M, 0}}, layout_with_limits(0, base + 32 * half + half, PFN_MAX)), 0);
  ASSERT_EQ(f.check(), "");
  zone *z = zone_of(ZONE_DMA32);
  const unsigned long end = zone_end_pfn(z);
  ASSERT_EQ(end, base + 33 * half);
  page *last = z->zone_mem_map + (end - half - z->zone_start_pfn);
  ASSERT_TRUE(PageBuddy(last));
  ASSERT_EQ(last->private_, MAX_PAGE_ORDER - 1);
  // A type neither the zone's other pageblocks nor empty bitmap bits have.
  const int mt = get_pfnblock_migratetype(z, end - half);
  set_pfnblock_flags_mask(z, end - half, MIGRATE_RECLAIMABLE, MIGRATETYPE_MASK);
  list_del(&last->lru);
  z->free_area[MAX_PAGE_ORDER - 1].nr_free--;
  list_add(&last->lru, &z->free_area[MAX_PAGE_ORDER].free_list[MIGRATE_RECLAIMABLE]);
  z->free_area[MAX_PAGE_ORDER].nr_free++;
  last->private_ = MAX_PAGE_ORDER;
  const std::string report = f.check();
  expect_finds(report, {where(z) + "free block at pfn " + hex(end - half) + " of order " +
                        std::to_string(MAX_PAGE_ORDER) + " runs past the zone end " + hex(end)});
  EXPECT_EQ(report.find("is in a pageblock of type"), std::string::npos) << report;
  list_del(&last->lru);
  z->free_area[MAX_PAGE_ORDER].nr_free--;
  list_add(&last->lru, &z->free_area[MAX_PAGE_ORDER - 1].free_list[mt]);
  z->free_area[MAX_PAGE_ORDER - 1].nr_free++;
  last->private_ = MAX_PAGE_ORDER - 1;
  set_pfnblock_flags_mask(z, end - half, unsigned(mt), MIGRATETYPE_MASK);
}

// With nr_cpus out of range the checker reports that, and reads the
// per-CPU thresholds as of one CPU: on a one-CPU machine nothing else is
// wrong.
TEST_F(CheckDamagePageAlloc, NoCpusOnAOneCpuMachine) {
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 1), 0);
  ASSERT_EQ(f.check(), "");
  f.ms->nr_cpus = 0;
  EXPECT_EQ(f.check(), "1 violations:\nnr_cpus is 0, not 1.." + std::to_string(NR_CPUS) + "\n");
  f.ms->nr_cpus = 1;
}


// A pointer to the page just past a zone (the first page of the next zone)
// is no page of this zone; an address just past the free areas or just past
// a CPU's per-CPU lists is no list head.
TEST_F(CheckDamagePageAlloc, StrayPointersJustPastTheirArrays) {
  zone *z = zone_of(ZONE_DMA32), *normal = zone_of(ZONE_NORMAL);
  ASSERT_EQ(normal->zone_start_pfn, zone_end_pfn(z));
  int k, mt;
  ASSERT_NE(first_block(z, 2, &k, &mt), nullptr);
  list_head *first = z->free_area[k].free_list[mt].next, *second = first->next;
  const std::string list = list_name(z, k, mt) + ": entry 1 is ";
  first->next = &normal->zone_mem_map[0].lru;
  expect_finds(f.check(), {list + "pfn " + hex(normal->zone_start_pfn) + " of node 0, not a page of this zone"});
  first->next = reinterpret_cast<list_head *>(z->free_area + NR_PAGE_ORDERS);
  expect_finds(f.check(), {list + ptr(first->next) + ", not a page of this zone"});
  first->next = z->pcp[0].lists + NR_PCP_LISTS;
  expect_finds(f.check(), {list + ptr(first->next) + ", not a page of this zone"});
  first->next = second;
}

// A node without a mem_map has no pages: no address is one of its pages,
// not even one that would be if its mem_map were at address 0.
TEST_F(CheckDamagePageAlloc, StrayPointerWithANodeWithoutMemMap) {
  ASSERT_EQ(build_two_nodes(f), 0);
  ASSERT_EQ(f.check(), "");
  zone *z = zone_of(ZONE_DMA32);
  int k, mt;
  ASSERT_NE(first_block(z, 2, &k, &mt), nullptr);
  list_head *first = z->free_area[k].free_list[mt].next, *second = first->next;
  page *map = node(1)->node_mem_map;
  node(1)->node_mem_map = nullptr;
  first->next = reinterpret_cast<list_head *>(3 * sizeof(page) + __builtin_offsetof(page, lru));
  const std::string report = f.check();
  expect_finds(report, {"node 1: spans " + std::to_string(node(1)->node_spanned_pages) + " pages but has no mem_map",
                        list_name(z, k, mt) + ": entry 1 is " + ptr(first->next) + ", not a page of this zone"});
  EXPECT_EQ(report.find("of node 1"), std::string::npos) << report;
  first->next = second;
  node(1)->node_mem_map = map;
}

// A per-CPU page is linked into a list of its own order: one moved to a
// list of the next order, or an order-1 page to a list of order 0 (the
// lists next to its own order's), is named.
TEST_F(CheckDamagePageAlloc, PcpPageOnTheNeighbouringOrdersList) {
  mem_system &ms = *f.ms;
  page *one = alloc_pages(ms, GFP_KERNEL, 0), *two = alloc_pages(ms, GFP_KERNEL, 1);
  ASSERT_TRUE(one && two);
  __free_pages(ms, one, 0);
  __free_pages(ms, two, 1);
  zone *z = page_zone(ms, one);
  ASSERT_EQ(page_zone(ms, two), z);
  per_cpu_pages &pcp = z->pcp[0];
  ASSERT_TRUE(PagePcp(one) && PagePcp(two));
  ASSERT_EQ(one->lru.prev, &pcp.lists[order_to_pindex(MIGRATE_UNMOVABLE, 0)]);
  ASSERT_EQ(two->lru.prev, &pcp.lists[order_to_pindex(MIGRATE_UNMOVABLE, 1)]);
  ASSERT_EQ(f.check(), "");
  const std::string at = where(z);
  const int count = pcp.count;
  auto lists_hold = [&](long pages) {
    return at + "cpu 0 pcp.count is " + std::to_string(count) + " but its lists hold " + std::to_string(pages) + " pages";
  };
  // The order-0 page on order 1's first list.
  list_move(&one->lru, &pcp.lists[order_to_pindex(0, 1)]);
  expect_finds(f.check(), {at + "cpu 0 pcp.lists[3]: pfn " + hex(pfn(one)) + " has order 0 in private_, not 1",
                           lists_hold(count + 1),
                           at + "pfn " + hex(pfn(one)) + " is PG_pcp but not linked into a per-CPU list of order 0"});
  list_move(&one->lru, &pcp.lists[order_to_pindex(MIGRATE_UNMOVABLE, 0)]);
  // The order-1 page on order 0's last list.
  list_move(&two->lru, &pcp.lists[order_to_pindex(MIGRATE_PCPTYPES - 1, 0)]);
  expect_finds(f.check(), {at + "cpu 0 pcp.lists[2]: pfn " + hex(pfn(two)) + " has order 1 in private_, not 0",
                           lists_hold(count - 1),
                           at + "pfn " + hex(pfn(two)) + " is PG_pcp but not linked into a per-CPU list of order 1"});
  list_move(&two->lru, &pcp.lists[order_to_pindex(MIGRATE_UNMOVABLE, 1)]);
}

// With every CPU online, a page on the last CPU's per-CPU list is on a
// list of its order like any other.
TEST(CheckDamagePageAllocAllCpus, PageOnTheLastCpusList) {
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, NR_CPUS), 0);
  mem_system &ms = *f.ms;
  page *p = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  __free_pages(ms, p, 0);
  zone *z = page_zone(ms, p);
  ASSERT_TRUE(PagePcp(p));
  ASSERT_EQ(p->lru.prev, &z->pcp[0].lists[0]);
  list_move(&p->lru, &z->pcp[NR_CPUS - 1].lists[0]);
  z->pcp[0].count--;
  z->pcp[NR_CPUS - 1].count++;
  EXPECT_EQ(f.check(), "");
  list_move(&p->lru, &z->pcp[0].lists[0]);
  z->pcp[0].count++;
  z->pcp[NR_CPUS - 1].count--;
  EXPECT_EQ(f.check(), "");
}

// Allocations at the end of a zone whose end is not aligned (DMA32 ends
// half-way through a MAX_PAGE_ORDER block, as in FreeBlockPastTheZoneEnd):
// one whose order takes it past the end is named, and the page past the
// end (the next zone's) is never read as its compound tail.
struct CheckDamageZoneEnd : CheckDamagePageAlloc {
  static constexpr unsigned long base = 0x80000000ul >> PAGE_SHIFT, half = 1ul << (MAX_PAGE_ORDER - 1);
  zone *z = nullptr;
  unsigned long end = 0;
  page *last = nullptr;  // the zone's last free block, of order MAX_PAGE_ORDER - 1
  int mt = 0;
  void SetUp() override {
    ASSERT_EQ(f.build({{0x80000000, 128 * SZ_1M, 0}}, layout_with_limits(0, base + 32 * half + half, PFN_MAX)), 0);
    ASSERT_EQ(f.check(), "");
    z = zone_of(ZONE_DMA32);
    end = zone_end_pfn(z);
    ASSERT_EQ(end, base + 33 * half);
    last = z->zone_mem_map + (end - half - z->zone_start_pfn);
    ASSERT_TRUE(PageBuddy(last));
    ASSERT_EQ(last->private_, MAX_PAGE_ORDER - 1);
    mt = get_pfnblock_migratetype(z, end - half);
  }
  page *at(unsigned long p) const { return z->zone_mem_map + (p - z->zone_start_pfn); }
  // The last block split so that its last two pages are out of the free
  // lists (refcount 0, owned by nobody yet), accounted as allocated.
  void carve_last_two() {
    spin_lock_irqsave_guard g(z->lock);
    del_from_free_list(z, last, MAX_PAGE_ORDER - 1, mt);
    for (unsigned k = MAX_PAGE_ORDER - 2, off = 0; k >= 1; off += 1u << k, k--)
      add_to_free_list(z, at(end - half + off), k, mt);
    __mod_zone_page_state(z, NR_ZONE_ALLOCATED, 2);
  }
  void uncarve() {
    spin_lock_irqsave_guard g(z->lock);
    __mod_zone_page_state(z, NR_ZONE_ALLOCATED, -2);
    for (unsigned k = MAX_PAGE_ORDER - 2, off = 0; k >= 1; off += 1u << k, k--)
      del_from_free_list(z, at(end - half + off), k, mt);
    add_to_free_list(z, last, MAX_PAGE_ORDER - 1, mt);
  }
};

TEST_F(CheckDamageZoneEnd, AllocationPastTheZoneEnd) {
  {
    spin_lock_irqsave_guard g(z->lock);
    del_from_free_list(z, last, MAX_PAGE_ORDER - 1, mt);
  }
  set_page_count(last, 1);
  last->alloc_order = MAX_PAGE_ORDER;  // aligned, but past the end
  expect_finds(f.check(), {where(z) + "allocation at pfn " + hex(end - half) + " of order " +
                           std::to_string(MAX_PAGE_ORDER) + " runs past the zone end " + hex(end)});
  last->alloc_order = 0;
  set_page_count(last, 0);
  spin_lock_irqsave_guard g(z->lock);
  add_to_free_list(z, last, MAX_PAGE_ORDER - 1, mt);
}

TEST_F(CheckDamageZoneEnd, CompoundAllocationAtTheZoneEnd) {
  carve_last_two();
  // An order-1 compound allocation of the last two pages.
  page *h = at(end - 2);
  set_page_count(h, 1);
  h->alloc_order = 1;
  set_page_flag(h, PG_head);
  h[1].compound_head = reinterpret_cast<uintptr_t>(h) | 1;
  h[1].compound_order = 1;
  EXPECT_EQ(f.check(), "");
  h[1].compound_order = 0;
  EXPECT_EQ(f.check(), "1 violations:\n" + where(z) + "compound head pfn " + hex(end - 2) +
                           ": compound_order is 0 but alloc_order is 1\n");
  h[1].compound_order = 1;
  h[1].compound_head = 0;
  clear_page_flag(h, PG_head);
  h->alloc_order = 0;
  // The last page alone as the head of an order-1 compound allocation: its
  // tail would be the next zone's first page, which is not read.
  page *t = at(end - 1), *next = t + 1;
  ASSERT_EQ(pfn(next), zone_of(ZONE_NORMAL)->zone_start_pfn);
  ASSERT_NE(next->compound_order, 1);
  set_page_count(t, 1);
  t->alloc_order = 1;
  set_page_flag(t, PG_head);
  const std::string report = f.check();
  expect_finds(report, {where(z) + "allocation at pfn " + hex(end - 1) + " is not aligned to its order 1",
                        where(z) + "allocation at pfn " + hex(end - 1) + " of order 1 runs past the zone end " + hex(end)});
  EXPECT_EQ(report.find("compound_order"), std::string::npos) << report;
  clear_page_flag(t, PG_head);
  t->alloc_order = 0;
  set_page_count(t, 0);
  set_page_count(h, 0);
  uncarve();
}


// A zone with nothing free (every block handed out) passes: no free page
// is no wrong count of free pages.
TEST_F(CheckDamagePageAlloc, ZoneWithNothingFree) {
  zone *z = zone_of(ZONE_DMA32);
  struct taken {
    page *p;
    unsigned order;
    int mt;
  };
  std::vector<taken> all;
  {
    spin_lock_irqsave_guard g(z->lock);
    for (unsigned k = 0; k < NR_PAGE_ORDERS; k++)
      for (int t = 0; t < int(MIGRATE_TYPES); t++)
        while (!list_empty(&z->free_area[k].free_list[t])) {
          page *p = list_first_entry(&z->free_area[k].free_list[t], page, lru);
          del_from_free_list(z, p, k, t);
          set_page_count(p, 1);
          p->alloc_order = u8(k);
          __mod_zone_page_state(z, NR_ZONE_ALLOCATED, long(1) << k);
          all.push_back({p, k, t});
        }
  }
  ASSERT_FALSE(all.empty());
  for (const per_cpu_pages &pcp : z->pcp) ASSERT_EQ(pcp.count, 0);
  EXPECT_EQ(zone_page_state_snapshot(z, NR_FREE_PAGES), 0);
  EXPECT_EQ(f.check(), "");
  spin_lock_irqsave_guard g(z->lock);
  for (const taken &t : all) {
    set_page_count(t.p, 0);
    t.p->alloc_order = 0;
    __mod_zone_page_state(z, NR_ZONE_ALLOCATED, -(long(1) << t.order));
    add_to_free_list(z, t.p, t.order, t.mt);
  }
}

// calculate_totalreserve_pages, for tests that change a tunable and redo
// only the part of init_per_zone_wmark_min that follows from it.
unsigned long totalreserve_of(const mem_system &ms) {
  unsigned long total = 0;
  for (int nid = 0; nid < int(MAX_NUMNODES); nid++)
    if (const pglist_data *pgdat = ms.node_data[nid])
      for (const zone &z : pgdat->node_zones) {
        long max = 0;
        for (long r : z.lowmem_reserve) max = r > max ? r : max;
        unsigned long r = unsigned(max) + high_wmark_pages(&z);
        total += r < z.managed_pages ? r : z.managed_pages;
      }
  return total;
}

// min_free_kbytes 0 (sysctl allows it) gives lowmem zones a min watermark
// of 0: the checker's formula agrees with setup_per_zone_wmarks there.
TEST_F(CheckDamagePageAlloc, MinFreeKbytesZero) {
  mem_system &ms = *f.ms;
  const int saved = ms.min_free_kbytes;
  ms.min_free_kbytes = 0;
  setup_per_zone_wmarks(ms);
  ms.totalreserve_pages = totalreserve_of(ms);
  EXPECT_EQ(min_wmark_pages(zone_of(ZONE_DMA32)), 0u);
  EXPECT_EQ(f.check(), "");
  ms.min_free_kbytes = saved;
  setup_per_zone_wmarks(ms);
  ms.totalreserve_pages = totalreserve_of(ms);
}

// A lowmem_reserve_ratio of 1 keeps back every page of the zones above.
TEST_F(CheckDamagePageAlloc, LowmemReserveRatioOne) {
  mem_system &ms = *f.ms;
  const int saved = ms.lowmem_reserve_ratio[ZONE_DMA32];
  ms.lowmem_reserve_ratio[ZONE_DMA32] = 1;
  setup_per_zone_lowmem_reserve(ms);
  ms.totalreserve_pages = totalreserve_of(ms);
  EXPECT_EQ(zone_of(ZONE_DMA32)->lowmem_reserve[ZONE_NORMAL], long(zone_of(ZONE_NORMAL)->managed_pages));
  EXPECT_EQ(f.check(), "");
  ms.lowmem_reserve_ratio[ZONE_DMA32] = saved;
  setup_per_zone_lowmem_reserve(ms);
  ms.totalreserve_pages = totalreserve_of(ms);
}

// totalreserve_pages takes a zone's largest lowmem_reserve, wherever it is.
TEST_F(CheckDamagePageAlloc, TotalreserveTakesTheLargestReserve) {
  zone *z = zone_of(ZONE_DMA32);
  const unsigned long total = f.ms->totalreserve_pages;
  const long saved = z->lowmem_reserve[ZONE_NORMAL];
  ASSERT_EQ(z->lowmem_reserve[MAX_NR_ZONES - 1], saved);
  ASSERT_LT(saved + 1000 + long(high_wmark_pages(z)), long(z->managed_pages));
  z->lowmem_reserve[ZONE_NORMAL] = saved + 1000;
  expect_finds(f.check(), {"totalreserve_pages is " + std::to_string(total) +
                           " but the zones' high watermarks and reserves make " + std::to_string(total + 1000)});
  z->lowmem_reserve[ZONE_NORMAL] = saved;
}

// A zone without pages: the first order's nr_free and the first counter
// are checked like the others.
TEST_F(CheckDamagePageAlloc, EmptyZoneFirstEntries) {
  zone *z = zone_of(ZONE_HIGHMEM);
  ASSERT_EQ(z->spanned_pages, 0u);
  z->free_area[0].nr_free = 1;
  expect_finds(f.check(), {where(z) + "free_area[0].nr_free is 1 in a zone without pages"});
  z->free_area[0].nr_free = 0;
  z->vm_stat[NR_FREE_PAGES] = 2;
  expect_finds(f.check(), {where(z) + "vm_stat[" + std::to_string(int(NR_FREE_PAGES)) + "] is 2 in a zone without pages"});
  z->vm_stat[NR_FREE_PAGES] = 0;
}

// A zone's zone_pgdat must be its own node.
TEST_F(CheckDamagePageAlloc, ZonePgdatOfAnotherNode) {
  ASSERT_EQ(build_two_nodes(f), 0);
  ASSERT_EQ(f.check(), "");
  zone *z = zone_of(ZONE_NORMAL, 1);
  z->zone_pgdat = node(0);
  expect_finds(f.check(), {"node 1 zone Normal: zone_pgdat does not point at its node"});
  z->zone_pgdat = node(1);
}

// The watermarks follow managed_pages, whatever it is: one managed page
// left gives other watermarks than the zone has.
TEST_F(CheckDamagePageAlloc, WatermarksOfOneManagedPage) {
  zone *z = zone_of(ZONE_DMA32);
  const unsigned long managed = z->managed_pages;
  z->managed_pages = 1;
  expect_finds(f.check(), {where(z) + "watermark min is " + std::to_string(min_wmark_pages(z)) +
                           " but min_free_kbytes " + std::to_string(f.ms->min_free_kbytes) + " and 1 managed pages give"});
  z->managed_pages = managed;
}


// With min_free_kbytes 0 the gaps between the watermarks are the scale
// factor's share of the zone alone, down to a factor of 1 and of 0.
TEST(CheckDamagePageAllocScale, SmallScaleFactorsWithoutMinFreeKbytes) {
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f), 0);
  mem_system &ms = *f.ms;
  const zone *z = &ms.node_data[0]->node_zones[ZONE_DMA32];
  ASSERT_GE(z->managed_pages, 10000u);
  const int kbytes = ms.min_free_kbytes, factor = ms.watermark_scale_factor;
  ms.min_free_kbytes = 0;
  for (int scale : {1, 0}) {
    ms.watermark_scale_factor = scale;
    setup_per_zone_wmarks(ms);
    ms.totalreserve_pages = totalreserve_of(ms);
    EXPECT_EQ(low_wmark_pages(z) - min_wmark_pages(z), z->managed_pages * unsigned(scale) / 10000) << scale;
    EXPECT_EQ(f.check(), "") << scale;
  }
  ms.min_free_kbytes = kbytes;
  ms.watermark_scale_factor = factor;
  setup_per_zone_wmarks(ms);
  ms.totalreserve_pages = totalreserve_of(ms);
  EXPECT_EQ(f.check(), "");
}

}  // namespace

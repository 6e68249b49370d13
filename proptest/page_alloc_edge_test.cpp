// Edges of the page allocator: mem_system_init refuses a machine description
// it cannot serve, with a message naming what is wrong (a kernel booted on a
// bad device tree must stop with a reason, not run on a broken zone layout);
// bad frees are reported and change nothing; the calls without a mem_system
// act on the system instance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "kernel/errno.h"
#include "kernel/printk.h"
#include "mm/page_alloc.h"
#include "mm/page_alloc_internal.h"
#include "mm/vmscan.h"
#include "proptest/mm_fixture.h"

namespace {

std::string read_log() {
  static char buf[16 * 1024];
  size_t n = log_buf_copy(buf, sizeof(buf));
  return std::string(buf, n);
}

// Builds f over `ranges` and `l`; returns the error and what was logged.
std::pair<int, std::string> build_logged(mm_fixture &f, const std::vector<ram_range> &ranges, const mem_layout &l,
                                         const std::vector<std::pair<phys_addr_t, u64>> &reserve = {}) {
  log_buf_clear();
  int err = f.build(ranges, l, reserve);
  return {err, read_log()};
}

const std::vector<ram_range> small_ram = {{0x80000000, 16 * SZ_1M, 0}};

TEST(PageAllocEdge, RefusesCpuCountOutOfRange) {
  for (unsigned cpus : {0u, unsigned(NR_CPUS) + 1}) {
    mm_fixture f;
    auto [err, log] = build_logged(f, small_ram, layout_with_limits(0, PFN_4G, PFN_MAX, cpus));
    EXPECT_EQ(err, -EINVAL) << cpus;
    EXPECT_NE(log.find("mem_system_init: " + std::to_string(cpus) + " CPUs (1.." + std::to_string(NR_CPUS) +
                       " supported)"),
              std::string::npos)
        << log;
  }
}

// Zone limits must not go down: a zone that ends below the one before it
// would have a negative span.
TEST(PageAllocEdge, RefusesZonesOutOfOrder) {
  for (int z = 1; z < int(MAX_NR_ZONES); z++) {
    mm_fixture f;
    mem_layout l = layout_with_limits(PFN_16M, PFN_4G, PFN_MAX);
    l.max_zone_pfn[z] = l.max_zone_pfn[z - 1] - 1;
    for (int above = z + 1; above < int(MAX_NR_ZONES); above++) l.max_zone_pfn[above] = PFN_MAX;
    auto [err, log] = build_logged(f, small_ram, l);
    EXPECT_EQ(err, -EINVAL) << zone_names[z];
    EXPECT_NE(log.find(std::string("zone ") + zone_names[z] + " ends below zone " + zone_names[z - 1]),
              std::string::npos)
        << log;
  }
}

TEST(PageAllocEdge, RefusesCpuOnUnknownNode) {
  for (unsigned cpu : {0u, 1u})
    for (int nid : {-1, int(MAX_NUMNODES)}) {
      mm_fixture f;
      mem_layout l = layout_with_limits(0, PFN_4G, PFN_MAX, 2);
      l.cpu_to_node[cpu] = nid;
      auto [err, log] = build_logged(f, small_ram, l);
      EXPECT_EQ(err, -EINVAL) << nid;
      EXPECT_NE(log.find("CPU " + std::to_string(cpu) + " on node " + std::to_string(nid)), std::string::npos) << log;
    }
}

// A distance table as Linux's parser takes one: a node is 10 from itself,
// every other node farther (0 asks for the default). 11 to another node
// and 10 to itself pass; 10 or 9 to another node, or 11 to itself, are
// refused, each with its line.
TEST(PageAllocEdge, RefusesADistanceTableLinuxWouldNot) {
  struct bad_case {
    unsigned a, b;
    u8 d;
    const char *why;
  };
  for (bad_case c : {bad_case{0, 1, 10, "another node is farther than 10"},
                     bad_case{1, 0, 9, "another node is farther than 10"},
                     bad_case{1, 1, 11, "a node is 10 from itself"}}) {
    mm_fixture f;
    mem_layout l = layout_with_limits(0, PFN_4G, PFN_MAX, 2);
    l.node_distance[c.a][c.b] = c.d;
    auto [err, log] = build_logged(f, small_ram, l);
    EXPECT_EQ(err, -EINVAL) << c.a << " " << c.b;
    EXPECT_NE(log.find("mem_system_init: distance " + std::to_string(c.d) + " from node " + std::to_string(c.a) +
                       " to node " + std::to_string(c.b) + " (" + c.why + ")"),
              std::string::npos)
        << log;
  }
  mm_fixture f;
  mem_layout l = layout_with_limits(0, PFN_4G, PFN_MAX, 2);
  l.node_distance[0][1] = 11;
  l.node_distance[1][1] = LOCAL_DISTANCE;
  EXPECT_EQ(build_logged(f, small_ram, l).first, 0);
}

// Memory above the last zone's limit would have no zone to go to.
TEST(PageAllocEdge, RefusesMemoryAboveLastZone) {
  mm_fixture f;
  const unsigned long end_pfn = (0x80000000 + 16 * SZ_1M) >> PAGE_SHIFT;
  mem_layout l = layout_with_limits(0, end_pfn - 1, end_pfn - 1);
  auto [err, log] = build_logged(f, small_ram, l);
  EXPECT_EQ(err, -EINVAL);
  char want[96];
  snprintf(want, sizeof(want), "node 0's memory ends above the last zone (pfn %#lx)", end_pfn);
  EXPECT_NE(log.find(want), std::string::npos) << log;
  // Ending exactly at the limit is fine.
  EXPECT_EQ(build_logged(f, small_ram, layout_with_limits(0, end_pfn, end_pfn)).first, 0);
}

// A memblock range too small to hold a whole page (here one that starts
// and ends inside pages, 4 KiB long) gives its node no memory: the node
// stays offline.
TEST(PageAllocEdge, RangeWithoutAWholePageMakesNoNode) {
  mm_fixture f;
  host_physmem_reset();
  ASSERT_EQ(host_physmem_add(0x80000000, 32 * SZ_1M), 0);
  memblock_init(*f.mb);
  ASSERT_EQ(memblock_add_node(*f.mb, 0x80000000, 16 * SZ_1M, 0, MEMBLOCK_NONE), 0);
  ASSERT_EQ(memblock_add_node(*f.mb, 0x81000000 + 0x800, PAGE_SIZE, 1, MEMBLOCK_NONE), 0);
  mem_layout l = layout_with_limits(0, PFN_4G, PFN_MAX, 2);
  l.cpu_to_node[1] = 1;
  ASSERT_EQ(mem_system_init(f.ms.get(), *f.mb, l), 0);
  system_mem = f.ms.get();
  EXPECT_EQ(f.ms->node_data[1], nullptr);
  EXPECT_EQ(f.ms->nr_online_nodes, 1u);
  EXPECT_EQ(f.check(), "");
}

TEST(PageAllocEdge, RefusesNoMemory) {
  mm_fixture f;
  auto [err, log] = build_logged(f, {}, layout_with_limits(0, PFN_4G, PFN_MAX));
  EXPECT_EQ(err, -EINVAL);
  EXPECT_NE(log.find("mem_system_init: no memory"), std::string::npos) << log;
}

// A node's mem_map covers its whole span: two nodes whose memory
// interleaves would give the pfns between two struct pages each.
TEST(PageAllocEdge, RefusesInterleavedNodes) {
  mm_fixture f;
  mem_layout l = layout_with_limits(0, PFN_4G, PFN_MAX, 2);
  l.cpu_to_node[1] = 1;
  auto [err, log] =
      build_logged(f, {{0x80000000, 16 * SZ_1M, 0}, {0x81000000, 16 * SZ_1M, 1}, {0x82000000, 16 * SZ_1M, 0}}, l);
  EXPECT_EQ(err, -EINVAL);
  EXPECT_NE(log.find("mem_system_init: node 0's memory (pfn 0x80000-0x83000) overlaps node 1's (pfn 0x81000-0x82000)"),
            std::string::npos)
      << log;
  // Side by side they are fine.
  auto [ok, log2] = build_logged(f, {{0x80000000, 16 * SZ_1M, 0}, {0x81000000, 16 * SZ_1M, 1}}, l);
  EXPECT_EQ(ok, 0) << log2;
  EXPECT_EQ(f.check(), "");
}

// A node whose every byte is reserved has no room for its own mem_map.
TEST(PageAllocEdge, RefusesNodeWithoutRoomForMemMap) {
  mm_fixture f;
  auto [err, log] = build_logged(f, small_ram, layout_with_limits(0, PFN_4G, PFN_MAX), {{0x80000000, 16 * SZ_1M}});
  EXPECT_EQ(err, -ENOMEM);
  const std::string pages = std::to_string((16 * SZ_1M) >> PAGE_SHIFT);
  EXPECT_NE(log.find("no memory for node 0's mem_map (" + pages + " pages)"), std::string::npos) << log;
}

// Room for the node's pglist_data but not its mem_map, then for both but not
// its pageblock bitmaps: each is refused with -ENOMEM and its own line.
TEST(PageAllocEdge, RefusesNodeWithoutRoomForItsTables) {
  const u64 ram = 16 * SZ_1M;
  const u64 pgdat_bytes = ALIGN_UP(sizeof(pglist_data), PAGE_SIZE);
  const u64 map_bytes = ALIGN_UP((ram >> PAGE_SHIFT) * sizeof(page), PAGE_SIZE);
  struct room_case {
    u64 free;
    const char *line;
  };
  for (room_case c : {room_case{pgdat_bytes, "no memory for node 0's mem_map"},
                      room_case{pgdat_bytes + map_bytes, "no memory for node 0's pageblock bitmaps (8 bytes)"}}) {
    mm_fixture f;
    auto [err, log] = build_logged(f, small_ram, layout_with_limits(0, PFN_4G, PFN_MAX), {{0x80000000, ram - c.free}});
    EXPECT_EQ(err, -ENOMEM) << c.line;
    EXPECT_NE(log.find(c.line), std::string::npos) << log;
  }
}

unsigned long free_total(const mem_system &ms) { return nr_free_pages(ms) + nr_free_pcp_pages(ms); }

// RAM is not zeroed at boot: mem_system_init clears what it takes for
// itself (node data, mem_maps, the pageblock bitmaps). Built on RAM full of
// 0xff, the machine is what it is on zeroed RAM: the checker finds nothing,
// and every pageblock holds its boot type and no other bit.
TEST(PageAllocEdge, BootsOnDirtyRam) {
  mm_fixture f;
  const ram_range r{0x80000000, 64 * SZ_1M, 0};  // 32 pageblocks: the bitmap's last byte is a pageblock's
  host_physmem_reset();
  ASSERT_EQ(host_physmem_add(r.base, r.size), 0);
  memset(phys_to_virt(r.base), 0xff, r.size);
  memblock_init(*f.mb);
  ASSERT_EQ(memblock_add_node(*f.mb, r.base, r.size, r.nid, MEMBLOCK_NONE), 0);
  ASSERT_EQ(mem_system_init(f.ms.get(), *f.mb, layout_with_limits(0, PFN_4G, PFN_MAX)), 0);
  system_mem = f.ms.get();
  EXPECT_EQ(f.check(), "");
  const zone *z = first_managed_zone(*f.ms);
  ASSERT_NE(z, nullptr);
  ASSERT_EQ(nr_pageblocks_spanned(z->zone_start_pfn, zone_end_pfn(z)) % (BITS_PER_LONG / NR_PAGEBLOCK_BITS), 0ul);
  for (unsigned long b = z->zone_start_pfn; b < zone_end_pfn(z); b += pageblock_nr_pages)
    EXPECT_EQ(get_pfnblock_flags_mask(z, b, (1ul << NR_PAGEBLOCK_BITS) - 1), static_cast<unsigned long>(MIGRATE_MOVABLE))
        << "pfn " << b;
}

// Physical address 0 means "no memory" to memblock's allocator and to the
// callers of page_to_phys: where RAM starts at 0, pfn 0 stays reserved and
// in use, never on a free list.
TEST(PageAllocEdge, PfnZeroStaysReserved) {
  mm_fixture f;
  ASSERT_EQ(f.build({{0, 64 * SZ_1M, 0}}, layout_with_limits(PFN_16M, (32 * SZ_1M) >> PAGE_SHIFT, PFN_MAX)), 0);
  const page *p0 = pfn_to_page(*f.ms, 0);
  EXPECT_TRUE(PageReserved(p0));
  EXPECT_EQ(page_ref_count(p0), 1);
  // Only pfn 0: the next page is free like the rest of the zone.
  const page *p1 = pfn_to_page(*f.ms, 1);
  EXPECT_FALSE(PageReserved(p1));
  EXPECT_EQ(page_ref_count(p1), 0);
  EXPECT_EQ(f.ms->node_data[0]->node_zones[ZONE_DMA].managed_pages, PFN_16M - 1);
  EXPECT_EQ(f.check(), "");
}

// Zone 0 has no lower boundary: on every node it starts at the node's own
// memory, here two nodes both wholly below the DMA limit.
TEST(PageAllocEdge, TwoNodesInZoneZero) {
  mm_fixture f;
  mem_layout l = layout_with_limits(PFN_4G, PFN_4G, PFN_MAX, 2);
  l.cpu_to_node[1] = 1;
  ASSERT_EQ(f.build({{0x80000000, 16 * SZ_1M, 0}, {0x81000000, 16 * SZ_1M, 1}}, l), 0);
  for (unsigned long nid : {0ul, 1ul}) {
    const zone *dma = &f.ms->node_data[nid]->node_zones[ZONE_DMA];
    EXPECT_EQ(dma->zone_start_pfn, 0x80000ul + nid * 0x1000) << nid;
    EXPECT_EQ(dma->spanned_pages, 0x1000ul) << nid;
    EXPECT_EQ(dma->present_pages, 0x1000ul) << nid;
  }
  EXPECT_EQ(f.check(), "");
}

// mem_system_init owns the whole mem_system: what it held before (a
// kernel's is static and zero, a host test's may be anything) does not
// matter. Built over 0xa5 bytes, the machine is the one built over zeros.
TEST(PageAllocEdge, BootsOnADirtyMemSystem) {
  mm_fixture clean;
  ASSERT_EQ(build_two_nodes(clean), 0);
  const std::vector<ram_range> ram = clean.ram;
  const mem_layout layout = clean.layout;
  const unsigned long free = free_total(*clean.ms);
  mm_fixture f;
  host_physmem_reset();
  memblock_init(*f.mb);
  for (const ram_range &r : ram) {
    ASSERT_EQ(host_physmem_add(r.base, r.size), 0);
    ASSERT_EQ(memblock_add_node(*f.mb, r.base, r.size, r.nid, MEMBLOCK_NONE), 0);
  }
  memset(static_cast<void *>(f.ms.get()), 0xa5, sizeof(mem_system));
  ASSERT_EQ(mem_system_init(f.ms.get(), *f.mb, layout), 0);
  system_mem = f.ms.get();
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(free_total(*f.ms), free);
  EXPECT_EQ(f.ms->bad_pages, 0ul);
  EXPECT_FALSE(spin_is_locked(&f.ms->shrinker_lock));
  // Its shrinker list is empty and usable: a reclaim finds nothing to call.
  EXPECT_EQ(try_to_free_pages(*f.ms, GFP_KERNEL, 0, 0), 0ul);
  page *p = alloc_pages(*f.ms, GFP_KERNEL, 3);
  ASSERT_NE(p, nullptr);
  __free_pages(*f.ms, p, 3);
  EXPECT_EQ(f.check(), "");
}

// A zone with no pages has no span either, wherever its limits fall: start
// 0, as Linux leaves an empty zone, and no mem_map. DMA32 here is empty with
// both of its limits inside the node's memory.
TEST(PageAllocEdge, EmptyZoneHasNoSpan) {
  mm_fixture f;
  const unsigned long mid = (0x80000000ul + 8 * SZ_1M) >> PAGE_SHIFT;
  ASSERT_EQ(f.build(small_ram, layout_with_limits(mid, mid, PFN_MAX)), 0);
  const pglist_data *pgdat = f.ms->node_data[0];
  EXPECT_EQ(pgdat->node_zones[ZONE_DMA].zone_start_pfn, 0x80000ul);
  EXPECT_EQ(pgdat->node_zones[ZONE_NORMAL].zone_start_pfn, mid);
  for (zone_type idx : {ZONE_DMA32, ZONE_HIGHMEM, ZONE_MOVABLE}) {
    const zone &z = pgdat->node_zones[idx];
    EXPECT_EQ(z.zone_start_pfn, 0ul) << z.name;
    EXPECT_EQ(z.spanned_pages, 0ul) << z.name;
    EXPECT_EQ(z.zone_mem_map, nullptr) << z.name;
  }
  EXPECT_EQ(f.check(), "");
}

// A free the allocator cannot honour is reported in Linux's format with its
// reason, counted, and leaves every free list and counter as it was.
TEST(PageAllocEdge, BadFreesAreReportedAndIgnored) {
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f), 0);
  mem_system &ms = *f.ms;
  page *p = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  const unsigned long addr = reinterpret_cast<unsigned long>(page_address(ms, p));
  const struct {
    const char *reason;
    void (*call)(mem_system &, page *, unsigned long);
  } bad[] = {
      {"__free_pages of a NULL page", [](mem_system &m, page *, unsigned long) { __free_pages(m, nullptr, 0); }},
      {"order too large", [](mem_system &m, page *q, unsigned long) { __free_pages(m, q, MAX_PAGE_ORDER + 1); }},
      {"free_pages: address not page aligned", [](mem_system &m, page *, unsigned long a) { free_pages(m, a + 8, 0); }},
  };
  for (const auto &b : bad) {
    const unsigned long free_before = free_total(ms), bad_before = ms.bad_pages;
    const int ref = page_ref_count(p);
    log_buf_clear();
    b.call(ms, p, addr);
    const std::string log = read_log();
    EXPECT_NE(log.find("BUG: Bad page state"), std::string::npos) << b.reason << "\n" << log;
    EXPECT_NE(log.find(std::string("page dumped because: ") + b.reason), std::string::npos) << log;
    EXPECT_EQ(ms.bad_pages, bad_before + 1) << b.reason;
    EXPECT_EQ(free_total(ms), free_before) << b.reason;
    EXPECT_EQ(page_ref_count(p), ref) << b.reason;
    EXPECT_EQ(f.check(), "") << b.reason;
  }
  // A NULL page has no pfn: the report says 0.
  log_buf_clear();
  __free_pages(ms, nullptr, 0);
  EXPECT_NE(read_log().find("BUG: Bad page state in process swapper/0  pfn:00000\n"), std::string::npos) << read_log();
  __free_pages(ms, p, 0);
  EXPECT_EQ(f.check(), "");
}

// Each thing wrong with a freed page has its own reason in the report, the
// first that applies in Linux's order of checks: a block that is already
// free (on a per-CPU list or the buddy lists) says so rather than that its
// refcount is 0, and a tail page of a compound block says it is a tail.
TEST(PageAllocEdge, EachBadFreeNamesItsReason) {
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f), 0);
  mem_system &ms = *f.ms;
  page *small = alloc_pages(ms, GFP_KERNEL, 0);
  page *large = alloc_pages(ms, GFP_KERNEL, 5);
  page *comp = alloc_pages(ms, GFP_KERNEL | __GFP_COMP, 2);
  page *plain = alloc_pages(ms, GFP_KERNEL, 2);
  ASSERT_TRUE(small && large && comp && plain);
  auto expect_reason = [&](const char *reason, page *p, unsigned order) {
    const unsigned long bad_before = ms.bad_pages, free_before = free_total(ms);
    log_buf_clear();
    __free_pages(ms, p, order);
    const std::string log = read_log();
    const size_t because = log.find("page dumped because: ");
    ASSERT_NE(because, std::string::npos) << reason << "\n" << log;
    EXPECT_NE(log.substr(because, log.find('\n', because) - because).find(reason), std::string::npos) << log;
    EXPECT_EQ(ms.bad_pages, bad_before + 1) << reason;
    EXPECT_EQ(free_total(ms), free_before) << reason;
  };
  expect_reason("freeing a tail page of a compound page", comp + 1, 0);
  expect_reason("refcount is 0", plain + 1, 0);
  expect_reason("freed with another order", plain, 1);
  plain->_mapcount = 0;
  expect_reason("nonzero mapcount", plain, 2);
  plain->_mapcount = -1;
  for (auto [flag, reason] : {std::pair{PG_reserved, "flag(s) set: reserved"}, std::pair{PG_slab, "flag(s) set: slab"}}) {
    set_page_flag(plain, flag);
    expect_reason(reason, plain, 2);
    clear_page_flag(plain, flag);
  }
  __free_pages(ms, small, 0);
  ASSERT_TRUE(PagePcp(small));
  expect_reason("page is already free", small, 0);
  __free_pages(ms, large, 5);
  ASSERT_TRUE(PageBuddy(large));
  expect_reason("page is already free", large, 5);
  __free_pages(ms, comp, 2);
  __free_pages(ms, plain, 2);
  EXPECT_EQ(ms.bad_pages, 8ul);
  EXPECT_EQ(f.check(), "");
}

// The forms without a mem_system use system_mem: their pages are its pages,
// zeroing holds, and freeing them all gives every page back.
TEST(PageAllocEdge, SystemInstanceForms) {
  mm_fixture f;
  ASSERT_EQ(build_two_nodes(f), 0);
  ASSERT_EQ(system_mem, f.ms.get());
  mem_system &ms = *f.ms;
  const unsigned long before = free_total(ms);

  page *p = alloc_pages(GFP_KERNEL, 2);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(pfn_to_page(ms, page_to_pfn(ms, p)), p);
  page *n1 = alloc_pages_node(1, GFP_KERNEL | __GFP_THISNODE, 0);
  ASSERT_NE(n1, nullptr);
  EXPECT_EQ(page_to_nid(n1), 1);
  const unsigned long a = __get_free_pages(GFP_KERNEL, 1);
  ASSERT_NE(a, 0ul);
  EXPECT_NE(pfn_to_page(ms, PHYS_PFN(virt_to_phys(reinterpret_cast<const void *>(a)))), nullptr);
  const unsigned long z = get_zeroed_page(GFP_KERNEL);
  ASSERT_NE(z, 0ul);
  const u8 *bytes = reinterpret_cast<const u8 *>(z);
  for (unsigned i = 0; i < PAGE_SIZE; i++) ASSERT_EQ(bytes[i], 0) << i;
  page *one = alloc_page(GFP_KERNEL);
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(pfn_to_page(ms, page_to_pfn(ms, one)), one);
  EXPECT_EQ(free_total(ms), before - 4 - 1 - 2 - 1 - 1);
  EXPECT_EQ(f.check(), "");
  __free_page(one);

  __free_pages(p, 2);
  __free_pages(n1, 0);
  free_pages(a, 1);
  free_pages(z, 0);
  free_pages(0, 0);
  EXPECT_EQ(ms.bad_pages, 0ul);
  EXPECT_EQ(free_total(ms), before);
  EXPECT_EQ(f.check(), "");
}

}  // namespace

// A HighMem page has no permanent kernel address: page_address gives
// nullptr for it (Linux's, without a kmap), and the direct-map address for
// a page of any lower zone.
TEST(PageAllocEdge, HighMemPagesHaveNoAddress) {
  mm_fixture f;
  ASSERT_EQ(build_with_highmem(f), 0);
  mem_system &ms = *f.ms;
  page *high = alloc_pages(ms, GFP_HIGHUSER, 0), *low = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_TRUE(high && low);
  ASSERT_EQ(page_zonenum(high), ZONE_HIGHMEM);
  ASSERT_NE(page_zonenum(low), ZONE_HIGHMEM);
  EXPECT_EQ(page_address(ms, high), nullptr);
  EXPECT_EQ(page_address(ms, low), phys_to_virt(page_to_phys(ms, low)));
  __free_pages(ms, high, 0);
  __free_pages(ms, low, 0);
  EXPECT_EQ(f.check(), "");
}

// __GFP_NOFAIL below the min watermark: where an ordinary request fails
// after its retries, a __GFP_NOFAIL one is served from the min reserve
// (Linux's ALLOC_MIN_RESERVE for it), with no warning.
TEST(PageAllocEdge, NofailIsServedFromTheMinReserve) {
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, 1), 0);
  mem_system &ms = *f.ms;
  std::vector<page *> held;
  while (page *p = alloc_pages(ms, GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN, 0)) held.push_back(p);
  EXPECT_EQ(alloc_pages(ms, GFP_KERNEL | __GFP_NOWARN, 0), nullptr);
  log_buf_clear();
  page *p = alloc_pages(ms, GFP_KERNEL | __GFP_NOFAIL, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(read_log().find("allocation"), std::string::npos) << read_log();
  held.push_back(p);
  for (page *q : held) __free_pages(ms, q, 0);
  EXPECT_EQ(f.check(), "");
}

// pfn_to_page's section table (mm/mmzone.h) serves every pfn of a section
// that one node alone meets, from wherever in the section the node starts
// to wherever it ends, and no pfn outside the node; a section two nodes
// share is left to the search. Node 0 ends exactly at a section boundary,
// node 1 starts and ends inside the next section, nodes 2 and 3 share one.
TEST(PageAllocEdge, SectionTableServesEachSectionOneNodeMeets) {
  mm_fixture f;
  mem_layout l = layout_with_limits(0, PFN_4G, PFN_MAX, 4);
  for (unsigned c = 0; c < 4; c++) l.cpu_to_node[c] = int(c);
  ASSERT_EQ(f.build({{0x84000000, 64 * SZ_1M, 0},
                     {0x8c000000, 32 * SZ_1M, 1},
                     {0x90000000, 16 * SZ_1M, 2},
                     {0x92000000, 16 * SZ_1M, 3}},
                    l),
            0);
  const mem_system &ms = *f.ms;
  ASSERT_EQ(0x88000000ul >> (PFN_SECTION_SHIFT + PAGE_SHIFT), 17ul);
  for (int nid = 0; nid < 4; nid++) {
    const pglist_data *pgdat = ms.node_data[nid];
    ASSERT_NE(pgdat, nullptr);
    const bool shared = nid >= 2;
    for (unsigned long pfn = pgdat->node_start_pfn; pfn < pgdat_end_pfn(pgdat); pfn++) {
      const page *want = pgdat->node_mem_map + (pfn - pgdat->node_start_pfn);
      ASSERT_EQ(pfn_to_page(ms, pfn), want) << "pfn " << pfn;
      ASSERT_EQ(pfn_to_page_table(ms, pfn), shared ? nullptr : want) << "pfn " << pfn;
    }
  }
  // The holes around node 1, and between nodes 2 and 3.
  for (unsigned long pfn : {0x8bffful, 0x8e000ul, 0x8ffffUL, 0x91000ul, 0x91fffUL, 0x93000ul}) {
    EXPECT_EQ(pfn_to_page_table(ms, pfn), nullptr) << "pfn " << pfn;
    EXPECT_EQ(pfn_to_page(ms, pfn), nullptr) << "pfn " << pfn;
  }
  EXPECT_EQ(f.check(), "");
}

// A failed request is reported as Linux's warn_alloc prints it: the task,
// the reason, the order and the mode in hex and by name; __GFP_NOWARN
// keeps it quiet.
TEST(PageAllocEdge, FailureWarningIsLinuxsLine) {
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f), 0);
  log_buf_clear();
  EXPECT_EQ(alloc_pages(*f.ms, GFP_KERNEL, MAX_PAGE_ORDER + 1), nullptr);
  char want[160];
  snprintf(want, sizeof(want),
           "swapper/0: page allocation failure: order too large: order:%u, mode:%#x(GFP_KERNEL), nodemask=(null)\n",
           MAX_PAGE_ORDER + 1, GFP_KERNEL);
  EXPECT_NE(read_log().find(want), std::string::npos) << read_log();
  log_buf_clear();
  EXPECT_EQ(alloc_pages(*f.ms, GFP_KERNEL | __GFP_NOWARN, MAX_PAGE_ORDER + 1), nullptr);
  EXPECT_EQ(read_log(), "");
}

// MemAvailable as Linux's si_mem_available computes it (no page cache here):
// free pages less totalreserve_pages, plus reclaimable slab less the
// smaller of half of it and the sum of the low watermarks, and never below
// zero. Across both sides of the half-slab/low-watermark edge, and with
// less free memory than the reserve.
TEST(PageAllocEdge, MemAvailableIsLinuxsFormula) {
  mm_fixture f;
  ASSERT_EQ(build_two_nodes(f), 0);
  mem_system &ms = *f.ms;
  long low = 0;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) low += long(low_wmark_pages(z));
  ASSERT_GT(low, 0);
  auto model = [&](long reclaimable) {
    long avail = long(nr_free_pages(ms)) - long(ms.totalreserve_pages) + reclaimable -
                 std::min(reclaimable / 2, low);
    return avail < 0 ? 0ul : static_cast<unsigned long>(avail);
  };
  pglist_data *node1 = ms.node_data[1];
  long set = 0;
  for (long r : {0l, 7l, 2 * low - 2, 2 * low - 1, 2 * low, 2 * low + 1, 5 * low / 2, 5 * low}) {
    mod_node_page_state(node1, NR_SLAB_RECLAIMABLE, r - set);
    set = r;
    EXPECT_EQ(si_mem_available(ms), model(r)) << "reclaimable " << r << ", low " << low;
  }
  // Less free than the reserve: the sum goes below zero and reads 0, until
  // enough reclaimable slab lifts it.
  std::vector<page *> held;
  while (long(nr_free_pages(ms)) >= long(ms.totalreserve_pages) / 2)
    if (page *p = alloc_pages(ms, GFP_KERNEL | __GFP_HIGH | __GFP_NOWARN | __GFP_NORETRY, 0)) held.push_back(p);
    else break;
  ASSERT_LT(long(nr_free_pages(ms)), long(ms.totalreserve_pages));
  mod_node_page_state(node1, NR_SLAB_RECLAIMABLE, -set);
  EXPECT_EQ(si_mem_available(ms), 0ul);
  const long gap = long(ms.totalreserve_pages) - long(nr_free_pages(ms));
  ASSERT_LE(gap + 1, low);
  mod_node_page_state(node1, NR_SLAB_RECLAIMABLE, 2 * gap - 2);  // adds gap - 1: one page short, still 0
  EXPECT_EQ(si_mem_available(ms), 0ul);
  mod_node_page_state(node1, NR_SLAB_RECLAIMABLE, 4);  // adds gap + 1: one page
  EXPECT_EQ(si_mem_available(ms), 1ul);
  EXPECT_EQ(si_mem_available(ms), model(2 * gap + 2));
  mod_node_page_state(node1, NR_SLAB_RECLAIMABLE, -(2 * gap + 2));
  for (page *p : held) __free_pages(ms, p, 0);
  EXPECT_EQ(f.check(), "");
}

// The pageblock arithmetic: a pfn is aligned exactly at a multiple of
// pageblock_nr_pages, and a range touches every pageblock it has a page
// in, partial ones included, and none when it is empty.
TEST(PageAllocEdge, PageblockArithmetic) {
  const unsigned long nr = pageblock_nr_pages, base = 0x80000;
  for (unsigned long off : {0ul, 1ul, 2ul, nr / 2, nr - 1, nr, nr + 1, 2 * nr})
    EXPECT_EQ(pageblock_aligned(base + off), off % nr == 0) << "offset " << off;
  EXPECT_EQ(nr_pageblocks_spanned(base, base), 0ul);
  EXPECT_EQ(nr_pageblocks_spanned(base + 1, base + 1), 0ul);
  EXPECT_EQ(nr_pageblocks_spanned(base + 5, base + 3), 0ul);
  EXPECT_EQ(nr_pageblocks_spanned(base, base + 1), 1ul);
  EXPECT_EQ(nr_pageblocks_spanned(base, base + nr), 1ul);
  EXPECT_EQ(nr_pageblocks_spanned(base, base + nr + 1), 2ul);
  EXPECT_EQ(nr_pageblocks_spanned(base + nr - 1, base + nr + 1), 2ul);
  EXPECT_EQ(nr_pageblocks_spanned(base + 1, base + 3 * nr - 1), 3ul);
}

// A zone that ends one page short of a pageblock's end does not span that
// pageblock: it keeps its type as a whole, and move_freepages_block refuses
// it (Linux's move_freepages_block checks both ends against the zone), while
// the whole pageblock before it moves.
TEST(PageAllocEdge, PageblockOnePageShortOfTheZoneEndIsPartial) {
  mm_fixture f;
  ASSERT_EQ(f.build({{0x80000000, 64 * SZ_1M - PAGE_SIZE, 0}}, layout_with_limits(0, PFN_4G, PFN_MAX)), 0);
  zone *z = first_managed_zone(*f.ms);
  ASSERT_NE(z, nullptr);
  const unsigned long last = pageblock_start_pfn(zone_end_pfn(z) - 1);
  ASSERT_EQ(zone_end_pfn(z), last + pageblock_nr_pages - 1);
  EXPECT_FALSE(zone_spans_pageblock(z, last));
  EXPECT_TRUE(zone_spans_pageblock(z, last - pageblock_nr_pages));
  const int mt = get_pfnblock_migratetype(z, last), before = get_pfnblock_migratetype(z, last - pageblock_nr_pages);
  const int other = mt == MIGRATE_UNMOVABLE ? MIGRATE_MOVABLE : MIGRATE_UNMOVABLE;
  {
    spin_lock_irqsave_guard g(z->lock);
    EXPECT_FALSE(move_freepages_block(z, last, mt, other));
    EXPECT_TRUE(move_freepages_block(z, last - pageblock_nr_pages, before, other));
    EXPECT_TRUE(move_freepages_block(z, last - pageblock_nr_pages, other, before));
  }
  EXPECT_EQ(get_pfnblock_migratetype(z, last), mt);
  EXPECT_EQ(f.check(), "");
}

// fail_page_alloc and failslab at probability 1 fail about one call in a
// hundred (Linux's percent): some of 2000 calls, far from all, each counted.
TEST(PageAllocEdge, FaultInjectionAtOnePercentFailsSomeCalls) {
  fail_page_alloc_attr pa;
  pa.attr.probability = 1;
  pa.attr.times = -1;
  pa.attr.verbose = 0;
  pa.min_order = 0;
  pa.ignore_gfp_reclaim = false;
  failslab_attr sa;
  sa.attr.probability = 1;
  sa.attr.times = -1;
  sa.attr.verbose = 0;
  sa.ignore_gfp_reclaim = false;
  unsigned long page_fails = 0, slab_fails = 0;
  for (int i = 0; i < 2000; i++) {
    page_fails += should_fail_alloc_page(pa, GFP_KERNEL, 0);
    slab_fails += should_failslab(sa, GFP_KERNEL, 64);
  }
  EXPECT_GT(page_fails, 0ul);
  EXPECT_LT(page_fails, 100ul);
  EXPECT_EQ(pa.attr.nr_failures, page_fails);
  EXPECT_GT(slab_fails, 0ul);
  EXPECT_LT(slab_fails, 100ul);
  EXPECT_EQ(sa.attr.nr_failures, slab_fails);
}

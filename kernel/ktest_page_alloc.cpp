// In-kernel tests of the page allocator on the machine's real mem_map.
#include <asm/sections.h>

#include "arch/arch.h"
#include "kernel/boot.h"
#include "kernel/ktest.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "mm/check.h"
#include "mm/page_alloc.h"
#include "mm/watermark.h"

namespace {

mem_system &ms() { return *system_mem; }

// The free-area state of every zone, for "nothing changed" comparisons.
struct free_snapshot {
  unsigned long nr_free[MAX_NUMNODES][MAX_NR_ZONES][NR_PAGE_ORDERS];
  long free_pages[MAX_NUMNODES][MAX_NR_ZONES];
};

void take_snapshot(free_snapshot &s) {
  memset(&s, 0, sizeof(s));
  for_each_online_pgdat(ms(), pgdat) for_each_zone_of(pgdat, z) {
    for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) s.nr_free[pgdat->node_id][z->idx][o] = z->free_area[o].nr_free;
    s.free_pages[pgdat->node_id][z->idx] = zone_page_state_snapshot(z, NR_FREE_PAGES);
  }
}

// A zone's highatomic pageblocks keep their free blocks apart from their
// buddies: for a zone that has some now, only its free page count is
// compared, so that a test whose high-order atomic requests reserved
// pageblocks can still see that everything came back.
void forget_blocks_of_reserving_zones(free_snapshot &s) {
  for_each_online_pgdat(ms(), pgdat) for_each_zone_of(pgdat, z) if (z->nr_reserved_highatomic) {
    for (unsigned long &n : s.nr_free[pgdat->node_id][z->idx]) n = 0;
  }
}

bool same_snapshot(const free_snapshot &a, const free_snapshot &b) { return memcmp(&a, &b, sizeof(a)) == 0; }

free_snapshot before_snap, after_snap;

void expect_checker_clean(ktest *t) {
  static char buf[2048];
  check_report r = make_check_report(buf, sizeof(buf));
  if (check_page_alloc(ms(), r)) ktest_fail(t, __FILE__, __LINE__, "checker: %s", buf);
}

void zones_match_the_machine(ktest *t) {
  unsigned long managed = 0;
  bool dma32 = false;
  for_each_online_pgdat(ms(), pgdat) for_each_zone_of(pgdat, z) {
    managed += z->managed_pages;
    KTEST_EXPECT_LE(t, z->managed_pages, z->present_pages);
    KTEST_EXPECT_LE(t, z->present_pages, z->spanned_pages);
    if (!populated_zone(z)) continue;
    if (z->idx == ZONE_DMA32) {
      dma32 = true;
      KTEST_EXPECT_LE(t, zone_end_pfn(z), PFN_DOWN(SZ_4G));
    }
    if (z->idx == ZONE_NORMAL) KTEST_EXPECT_GE(t, z->zone_start_pfn, PFN_DOWN(SZ_4G));
    KTEST_EXPECT_TRUE(t, z->idx == ZONE_DMA32 || z->idx == ZONE_NORMAL);
  }
  KTEST_EXPECT_TRUE(t, dma32);
  KTEST_EXPECT_EQ(t, managed, ms().totalram_pages);
  // Normal exists exactly when memory reaches above 4 GiB.
  bool high_memory = memblock_end_of_DRAM(boot_memblock) > SZ_4G;
  bool normal = false;
  for_each_online_pgdat(ms(), pgdat) normal |= populated_zone(&pgdat->node_zones[ZONE_NORMAL]);
  KTEST_EXPECT_EQ(t, normal, high_memory);
}

void watermarks_follow_linux(ktest *t) {
  unsigned long lowmem = 0;
  for_each_online_pgdat(ms(), pgdat) for (int i = 0; i <= ZONE_NORMAL; i++) lowmem += pgdat->node_zones[i].managed_pages;
  unsigned long kb = int_sqrt(lowmem * 4 * 16);
  kb = kb < 128 ? 128 : kb > 262144 ? 262144 : kb;
  KTEST_EXPECT_EQ(t, unsigned(ms().min_free_kbytes), kb);
  unsigned long pages_min = kb / 4;
  for_each_online_pgdat(ms(), pgdat) for_each_zone_of(pgdat, z) {
    if (!managed_zone(z)) continue;
    unsigned long min = pages_min * z->managed_pages / lowmem;
    unsigned long delta = min / 4, scaled = z->managed_pages * 10 / 10000;
    if (scaled > delta) delta = scaled;
    KTEST_EXPECT_EQ(t, min_wmark_pages(z), min);
    KTEST_EXPECT_EQ(t, low_wmark_pages(z), min + delta);
    KTEST_EXPECT_EQ(t, high_wmark_pages(z), min + 2 * delta);
    // lowmem_reserve: DMA32 keeps managed(Normal)/256 from Normal-class requests.
    if (z->idx == ZONE_DMA32)
      KTEST_EXPECT_EQ(t, unsigned(z->lowmem_reserve[ZONE_NORMAL]), pgdat->node_zones[ZONE_NORMAL].managed_pages / 256);
  }
}

void pcp_batch_and_high(ktest *t) {
  for_each_online_pgdat(ms(), pgdat) for_each_zone_of(pgdat, z) {
    if (!managed_zone(z)) continue;
    unsigned long k = z->managed_pages >> 10;
    // Linux's worked examples: 7 for a 128 MiB zone, 31 for 512 MiB, 63 from 1 GiB.
    int want = k >= 256 ? 63 : (k >= 120 && k < 132) ? 31 : (k >= 24 && k < 36) ? 7 : -1;
    if (want > 0) KTEST_EXPECT_EQ(t, z->pcp[0].batch, want);
    KTEST_EXPECT_GE(t, z->pcp[0].high, 4 * z->pcp[0].batch);
  }
}

void every_order_round_trips(ktest *t) {
  drain_all_pages(ms());
  take_snapshot(before_snap);
  for (unsigned order = 0; order <= MAX_PAGE_ORDER; order++) {
    page *p = alloc_pages(ms(), GFP_KERNEL, order);
    KTEST_ASSERT_TRUE(t, p != nullptr);
    unsigned long pfn = page_to_pfn(ms(), p);
    KTEST_EXPECT_EQ(t, pfn & ((1ul << order) - 1), 0u);
    KTEST_EXPECT_EQ(t, page_ref_count(p), 1);
    zone *z = page_zone(ms(), p);
    KTEST_EXPECT_TRUE(t, zone_spans_pfn(z, pfn) && zone_spans_pfn(z, pfn + (1ul << order) - 1));
    // The memory is there: first and last byte writable through the direct map.
    u8 *va = static_cast<u8 *>(page_address(ms(), p));
    va[0] = 0x5a;
    va[(PAGE_SIZE << order) - 1] = 0xa5;
    KTEST_EXPECT_EQ(t, va[0] + va[(PAGE_SIZE << order) - 1], 0xff);
    __free_pages(ms(), p, order);
  }
  drain_all_pages(ms());
  take_snapshot(after_snap);
  KTEST_EXPECT_TRUE(t, same_snapshot(before_snap, after_snap));
}

void dma32_stays_below_4g(ktest *t) {
  page *pages[32];
  for (unsigned i = 0; i < 32; i++) {
    pages[i] = alloc_pages(ms(), GFP_KERNEL | __GFP_DMA32, i % 5);
    KTEST_ASSERT_TRUE(t, pages[i] != nullptr);
    KTEST_EXPECT_LT(t, page_to_phys(ms(), pages[i]) + (PAGE_SIZE << (i % 5)), SZ_4G + 1);
  }
  for (unsigned i = 0; i < 32; i++) __free_pages(ms(), pages[i], i % 5);
  // Without the modifier the highest zone comes first.
  page *p = alloc_pages(ms(), GFP_KERNEL, 0);
  KTEST_ASSERT_TRUE(t, p != nullptr);
  bool has_normal = populated_zone(&NODE_DATA(ms(), page_to_nid(p))->node_zones[ZONE_NORMAL]);
  KTEST_EXPECT_EQ(t, page_zonenum(p), has_normal ? ZONE_NORMAL : ZONE_DMA32);
  __free_pages(ms(), p, 0);
}

void zeroed_pages_read_zero(ktest *t) {
  page *p = alloc_pages(ms(), GFP_KERNEL, 1);
  KTEST_ASSERT_TRUE(t, p != nullptr);
  memset(page_address(ms(), p), 0xaa, 2 * PAGE_SIZE);
  __free_pages(ms(), p, 1);
  p = alloc_pages(ms(), GFP_KERNEL | __GFP_ZERO, 1);  // likely the same frames, from the per-CPU list
  KTEST_ASSERT_TRUE(t, p != nullptr);
  const u64 *w = static_cast<const u64 *>(page_address(ms(), p));
  u64 any = 0;
  for (size_t i = 0; i < 2 * PAGE_SIZE / 8; i++) any |= w[i];
  KTEST_EXPECT_EQ(t, any, 0u);
  __free_pages(ms(), p, 1);
  unsigned long addr = get_zeroed_page(ms(), GFP_KERNEL);
  KTEST_ASSERT_TRUE(t, addr != 0);
  KTEST_EXPECT_EQ(t, *reinterpret_cast<u64 *>(addr), 0u);
  free_pages(ms(), addr, 0);
}

void compound_pages_link_tails(ktest *t) {
  page *head = alloc_pages(ms(), GFP_KERNEL | __GFP_COMP, 3);
  KTEST_ASSERT_TRUE(t, head != nullptr);
  KTEST_EXPECT_TRUE(t, PageHead(head));
  KTEST_EXPECT_EQ(t, compound_order(head), 3u);
  for (int i = 1; i < 8; i++) {
    KTEST_EXPECT_TRUE(t, PageTail(&head[i]));
    KTEST_EXPECT_EQ(t, compound_head(&head[i]), head);
  }
  __free_pages(ms(), head, 3);
  KTEST_EXPECT_FALSE(t, PageTail(&head[1]));
}

void bad_frees_change_nothing(ktest *t) {
  drain_all_pages(ms());
  page *p = alloc_pages(ms(), GFP_KERNEL, 2);
  KTEST_ASSERT_TRUE(t, p != nullptr);
  drain_all_pages(ms());
  take_snapshot(before_snap);
  unsigned long bad = ms().bad_pages;
  __free_pages(ms(), p, 1);                                               // wrong order
  __free_pages(ms(), p + 1, 0);                                           // a middle page
  __free_pages(ms(), pfn_to_page(ms(), PFN_DOWN(kernel_load_pa)), 0);     // the kernel image
  p->_mapcount = 0;
  __free_pages(ms(), p, 2);                                               // still mapped
  p->_mapcount = -1;
  free_pages(ms(), reinterpret_cast<unsigned long>(phys_to_virt(SZ_1M)), 0);  // not RAM
  take_snapshot(after_snap);
  KTEST_EXPECT_EQ(t, ms().bad_pages, bad + 5);
  KTEST_EXPECT_TRUE(t, same_snapshot(before_snap, after_snap));
  __free_pages(ms(), p, 2);  // the right free still works
  __free_pages(ms(), p, 2);  // and a second one is caught
  KTEST_EXPECT_EQ(t, ms().bad_pages, bad + 6);
  expect_checker_clean(t);
}

void invalid_requests_fail(ktest *t) {
  KTEST_EXPECT_TRUE(t, alloc_pages(ms(), GFP_KERNEL | __GFP_NOWARN, MAX_PAGE_ORDER + 1) == nullptr);
  KTEST_EXPECT_TRUE(t, alloc_pages(ms(), GFP_KERNEL | __GFP_DMA | __GFP_DMA32, 0) == nullptr);
}

// Chains allocated blocks through their own first two words (next, order),
// so that no array is needed however many there are.
struct page_chain {
  u64 *head = nullptr;
  unsigned long pages = 0;
  void push(page *p, unsigned order) {
    u64 *va = static_cast<u64 *>(page_address(ms(), p));
    va[0] = reinterpret_cast<u64>(head);
    va[1] = order;
    head = va;
    pages += 1ul << order;
  }
  void free_all() {
    while (head) {
      u64 *next = reinterpret_cast<u64 *>(head[0]);
      free_pages(ms(), reinterpret_cast<unsigned long>(head), unsigned(head[1]));
      head = next;
    }
    pages = 0;
  }
  // Takes blocks of every order, largest first, until none can be had.
  unsigned long fill(gfp_t gfp) {
    unsigned long before = pages;
    for (int order = MAX_PAGE_ORDER; order >= 0; order--)
      while (page *p = alloc_pages(ms(), gfp | __GFP_NOWARN, unsigned(order))) push(p, unsigned(order));
    return pages - before;
  }
};

void exhaustion_respects_watermarks(ktest *t) {
  drain_all_pages(ms());
  take_snapshot(before_snap);
  page_chain chain;
  KTEST_EXPECT_TRUE(t, chain.fill(GFP_KERNEL) > 0);
  // GFP_KERNEL stopped at min (+ the reserve against Normal-class requests):
  // no zone could pass that check any more.
  for_each_online_pgdat(ms(), pgdat) for_each_zone_of(pgdat, z) {
    if (!managed_zone(z)) continue;
    KTEST_EXPECT_FALSE(t, zone_watermark_ok(z, 0, min_wmark_pages(z), ZONE_NORMAL, ALLOC_WMARK_MIN));
  }
  // GFP_ATOMIC may go further, into the reserve below min (and its
  // high-order requests reserve pageblocks for themselves on the way).
  KTEST_EXPECT_TRUE(t, chain.fill(GFP_ATOMIC) > 0);
  for_each_online_pgdat(ms(), pgdat) for_each_zone_of(pgdat, z) {
    if (!managed_zone(z)) continue;
    // ...but not below 3/8 of min (half, then a quarter of that half), less
    // the one batch a per-CPU refill may take after the check passed, and
    // less the drift of the total the check reads (threshold * CPUs).
    long min = long(min_wmark_pages(z));
    min -= min / 2;
    min -= min / 4;
    const long drift = long(z->per_cpu_zonestats[0].stat_threshold) * long(num_online_cpus());
    KTEST_EXPECT_GE(t, zone_page_state_snapshot(z, NR_FREE_PAGES), min - long(z->pcp[0].batch) - drift);
  }
  chain.free_all();
  drain_all_pages(ms());
  take_snapshot(after_snap);
  forget_blocks_of_reserving_zones(before_snap);
  forget_blocks_of_reserving_zones(after_snap);
  KTEST_EXPECT_TRUE(t, same_snapshot(before_snap, after_snap));
  expect_checker_clean(t);
}

}  // namespace

KTEST_SUITE(page_alloc, KTEST_CASE(zones_match_the_machine), KTEST_CASE(watermarks_follow_linux),
            KTEST_CASE(pcp_batch_and_high), KTEST_CASE(every_order_round_trips),
            KTEST_CASE(dma32_stays_below_4g), KTEST_CASE(zeroed_pages_read_zero),
            KTEST_CASE(compound_pages_link_tails), KTEST_CASE(bad_frees_change_nothing),
            KTEST_CASE(invalid_requests_fail), KTEST_CASE(exhaustion_respects_watermarks));

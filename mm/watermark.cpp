// Watermarks and lowmem_reserve, as Linux computes them (see mm/watermark.h
// for the formulas), and the watermark check itself.
#include "mm/watermark.h"

#include "kernel/printk.h"
#include "mm/page_alloc_internal.h"

unsigned gfp_to_alloc_flags(gfp_t gfp, unsigned order) {
  unsigned flags = ALLOC_WMARK_MIN;
  if (gfp & __GFP_HIGH) flags |= ALLOC_MIN_RESERVE;
  if (gfp & __GFP_KSWAPD_RECLAIM) flags |= ALLOC_KSWAPD;
  if (!(gfp & __GFP_DIRECT_RECLAIM) && !(gfp & __GFP_NOMEMALLOC)) {
    // Callers that cannot reclaim get a little more of the reserve, and a
    // high-order GFP_ATOMIC may use the highatomic reserve.
    flags |= ALLOC_NON_BLOCK;
    if (order > 0 && (flags & ALLOC_MIN_RESERVE)) flags |= ALLOC_HIGHATOMIC;
  }
  return flags;
}

bool __zone_watermark_ok(const zone *z, unsigned order, unsigned long mark, int highest_zoneidx,
                         unsigned alloc_flags, long free_pages) {
  long min = long(mark);
  // The request's own pages are not free for the check: all but the first.
  free_pages -= (1l << order) - 1;
  if (!(alloc_flags & ALLOC_RESERVES)) free_pages -= long(READ_ONCE(z->nr_reserved_highatomic));
  if (alloc_flags & ALLOC_RESERVES) {
    if (alloc_flags & ALLOC_MIN_RESERVE) {
      min -= min / 2;
      if (alloc_flags & ALLOC_NON_BLOCK) min -= min / 4;
    }
    if (alloc_flags & ALLOC_OOM) min -= min / 2;
  }
  if (free_pages <= min + z->lowmem_reserve[highest_zoneidx]) return false;
  if (order == 0) return true;
  // Enough pages in total is not enough: one block of the order must exist,
  // and of a type the request may take.
  return zone_has_suitable_block(z, order, alloc_flags);
}

bool zone_watermark_ok(const zone *z, unsigned order, unsigned long mark, int highest_zoneidx,
                       unsigned alloc_flags) {
  return __zone_watermark_ok(z, order, mark, highest_zoneidx, alloc_flags,
                             zone_page_state(z, NR_FREE_PAGES));
}

// Linux's zone_watermark_ok_safe: while the total of free pages is below
// the drift mark, the CPUs' deltas could make a zone look above a watermark
// it is below (or the reverse), so the check reads the snapshot.
bool zone_watermark_ok_safe(const zone *z, unsigned order, unsigned long mark, int highest_zoneidx) {
  long free_pages = zone_page_state(z, NR_FREE_PAGES);
  unsigned long drift_mark = READ_ONCE(z->percpu_drift_mark);
  if (drift_mark && free_pages < long(drift_mark)) free_pages = zone_page_state_snapshot(z, NR_FREE_PAGES);
  return __zone_watermark_ok(z, order, mark, highest_zoneidx, 0, free_pages);
}

unsigned long int_sqrt(unsigned long x) {
  // Digit-by-digit square root in base 4: exact floor(sqrt(x)). 0 and 1
  // need no case of their own: the loop gives them back.
  unsigned long root = 0, bit = 1ul << 62;
  while (bit > x) bit >>= 2;
  while (bit) {
    if (x >= root + bit) {
      x -= root + bit;
      root = (root >> 1) + bit;
    } else {
      root >>= 1;
    }
    bit >>= 2;
  }
  return root;
}

static bool is_highmem_idx(int idx) { return idx == ZONE_HIGHMEM; }
// Zones whose pages the kernel's own reserves never need (Linux 6.5+ treats
// ZONE_MOVABLE like highmem here).
static bool small_min_zone(int idx) { return is_highmem_idx(idx) || idx == ZONE_MOVABLE; }

void calculate_min_free_kbytes(mem_system &ms) {
  if (ms.user_min_free_kbytes > 0) {
    ms.min_free_kbytes = ms.user_min_free_kbytes;
    return;
  }
  unsigned long lowmem_pages = 0;
  for_each_online_pgdat(ms, pgdat)
    for (int i = 0; i <= ZONE_NORMAL; i++) lowmem_pages += pgdat->node_zones[i].managed_pages;
  unsigned long lowmem_kbytes = lowmem_pages * (PAGE_SIZE >> 10);
  unsigned long kb = int_sqrt(lowmem_kbytes * 16);
  if (kb < 128) kb = 128;
  if (kb > 262144) kb = 262144;
  ms.min_free_kbytes = int(kb);
}

// x * n / d without overflowing x * n (Linux's mult_frac).
static unsigned long mult_frac(unsigned long x, unsigned long n, unsigned long d) {
  return (x / d) * n + ((x % d) * n) / d;
}

void setup_per_zone_wmarks(mem_system &ms) {
  unsigned long pages_min = unsigned(ms.min_free_kbytes) >> (PAGE_SHIFT - 10);
  unsigned long lowmem_pages = 0;
  for_each_online_pgdat(ms, pgdat)
    for_each_zone_of(pgdat, z) if (!small_min_zone(z->idx)) lowmem_pages += z->managed_pages;

  for_each_online_pgdat(ms, pgdat) {
    for_each_zone_of(pgdat, z) {
      unsigned long managed = z->managed_pages;
      // Without any lowmem (only HighMem or Movable) no zone has a share.
      unsigned long tmp = lowmem_pages ? u64(pages_min) * managed / lowmem_pages : 0;
      unsigned long min = tmp;
      if (small_min_zone(z->idx)) {
        // __GFP_HIGH and reclaim's own allocations do not come from here:
        // a small reserve is enough (32 even for an empty zone, whose
        // zoneinfo shows min = low = high = 32 in Linux too).
        min = managed / 1024;
        if (min < 32) min = 32;
        if (min > 128) min = 128;
      }
      unsigned long delta = tmp >> 2;
      unsigned long scaled = mult_frac(managed, unsigned(ms.watermark_scale_factor), 10000);
      if (scaled > delta) delta = scaled;
      z->_watermark[WMARK_MIN] = min;
      z->_watermark[WMARK_LOW] = min + delta;
      z->_watermark[WMARK_HIGH] = min + 2 * delta;
      z->_watermark[WMARK_PROMO] = min + 3 * delta;
    }
  }
  // The drift mark follows the watermarks (and the thresholds the CPUs).
  refresh_zone_stat_thresholds(ms);
}

void setup_per_zone_lowmem_reserve(mem_system &ms) {
  for_each_online_pgdat(ms, pgdat) {
    for (int i = 0; i < int(MAX_NR_ZONES); i++) {
      zone *z = &pgdat->node_zones[i];
      int ratio = ms.lowmem_reserve_ratio[i];
      bool clear = ratio == 0 || z->managed_pages == 0;
      unsigned long upper = 0;
      for (int j = 0; j <= i; j++) z->lowmem_reserve[j] = 0;
      for (int j = i + 1; j < int(MAX_NR_ZONES); j++) {
        upper += pgdat->node_zones[j].managed_pages;
        z->lowmem_reserve[j] = clear ? 0 : long(upper / unsigned(ratio));
      }
    }
  }
}

// x > 0: zone_batchsize's argument is at least 1.
static unsigned long rounddown_pow_of_two(unsigned long x) { return 1ul << (63 - __builtin_clzl(x)); }

int zone_batchsize(const zone *z) {
  unsigned long batch = z->managed_pages >> 10;
  if (batch > SZ_1M / PAGE_SIZE) batch = SZ_1M / PAGE_SIZE;
  batch /= 4;  // multiplied back below
  if (batch < 1) batch = 1;
  // One less than a power of two, so that batches do not line up with
  // cache colours.
  return int(rounddown_pow_of_two(batch + batch / 2) - 1);
}

int zone_highsize(const zone *z, int batch, unsigned cpus_of_node) {
  unsigned long high = low_wmark_pages(z) / (cpus_of_node ? cpus_of_node : 1);
  if (high < unsigned(batch) * 4) high = unsigned(batch) * 4;
  return int(high);
}

static void calculate_totalreserve_pages(mem_system &ms) {
  unsigned long total = 0;
  for_each_online_pgdat(ms, pgdat) {
    for_each_zone_of(pgdat, z) {
      long max = 0;
      for (long r : z->lowmem_reserve)
        if (r > max) max = r;
      unsigned long reserve = unsigned(max) + high_wmark_pages(z);
      if (reserve > z->managed_pages) reserve = z->managed_pages;
      total += reserve;
    }
  }
  ms.totalreserve_pages = total;
}

void init_per_zone_wmark_min(mem_system &ms) {
  calculate_min_free_kbytes(ms);
  setup_per_zone_wmarks(ms);
  setup_per_zone_lowmem_reserve(ms);
  calculate_totalreserve_pages(ms);
  for_each_online_pgdat(ms, pgdat) {
    for_each_zone_of(pgdat, z) {
      int batch = zone_batchsize(z);
      if (batch < 1) batch = 1;
      // A node without CPUs splits its high over all of them, as Linux does.
      int high = zone_highsize(z, batch, pgdat->nr_cpus ? pgdat->nr_cpus : ms.nr_cpus);
      for (per_cpu_pages &pcp : z->pcp) {
        spin_lock_guard g(pcp.lock);
        pcp.batch = batch;
        pcp.high = high;
      }
    }
  }
}

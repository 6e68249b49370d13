// Watermarks, lowmem_reserve and the watermark check, computed exactly as
// Linux does (mm/page_alloc.c: calculate_min_free_kbytes,
// __setup_per_zone_wmarks, setup_per_zone_lowmem_reserve, __zone_watermark_ok).
//
//   min_free_kbytes = clamp(int_sqrt(lowmem_kbytes * 16), 128, 262144)
//   per zone: min = pages_min * managed / lowmem_pages (HighMem, Movable: clamp(managed/1024, 32, 128),
//             and lowmem_pages leaves them out)
//             delta = max(min / 4, managed * watermark_scale_factor / 10000)
//             low = min + delta, high = min + 2 * delta, promo = min + 3 * delta
//   lowmem_reserve[j] of zone i (j > i) = managed(i+1..j) / ratio[i]
#pragma once

#include "mm/gfp.h"
#include "mm/mmzone.h"

// Allocation flags: which watermark to check and which reserves to use.
enum : unsigned {
  ALLOC_WMARK_MIN = WMARK_MIN,
  ALLOC_WMARK_LOW = WMARK_LOW,
  ALLOC_WMARK_HIGH = WMARK_HIGH,
  ALLOC_NO_WATERMARKS = 0x04,  // ignore watermarks (Linux's; nothing here grants it)
  ALLOC_WMARK_MASK = ALLOC_NO_WATERMARKS - 1,
  ALLOC_OOM = 0x08,            // an OOM victim: half of the remaining reserve
  ALLOC_NON_BLOCK = 0x10,      // cannot reclaim: a further quarter with MIN_RESERVE
  ALLOC_MIN_RESERVE = 0x20,    // __GFP_HIGH: half of the min reserve
  ALLOC_NOFRAGMENT = 0x100,    // steal only whole pageblocks (try a lower zone first)
  ALLOC_HIGHATOMIC = 0x200,    // may use the highatomic reserve
  ALLOC_KSWAPD = 0x800,        // wake kswapd when below low
  ALLOC_RESERVES = ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_HIGHATOMIC | ALLOC_OOM,
};

// Linux's gfp_to_alloc_flags: the slow path's flags for a request.
unsigned gfp_to_alloc_flags(gfp_t gfp, unsigned order);

// The watermark check, with free_pages as the zone's free count. Returns true
// when the zone can give 2^order pages to a request of class highest_zoneidx
// without going below mark (as reduced by the reserves alloc_flags allows)
// plus lowmem_reserve[highest_zoneidx], and a free block of at least that
// order exists that the request may take. The highatomic reserve is not free
// for requests without ALLOC_RESERVES, nor are its blocks suitable for
// high-order requests without ALLOC_HIGHATOMIC or ALLOC_OOM.
bool __zone_watermark_ok(const zone *z, unsigned order, unsigned long mark, int highest_zoneidx,
                         unsigned alloc_flags, long free_pages);
bool zone_watermark_ok(const zone *z, unsigned order, unsigned long mark, int highest_zoneidx,
                       unsigned alloc_flags);
// The same without reserves, on the exact count (zone_page_state_snapshot)
// whenever the total is below percpu_drift_mark: for decisions that the
// CPUs' deltas must not fool (kswapd's pgdat_balanced, as in Linux).
bool zone_watermark_ok_safe(const zone *z, unsigned order, unsigned long mark, int highest_zoneidx);

unsigned long int_sqrt(unsigned long x);
// Sets ms.min_free_kbytes from the managed lowmem (unless the user set it).
void calculate_min_free_kbytes(mem_system &ms);
// Also sets the vmstat thresholds and percpu_drift_mark (mm/vmstat.h),
// which follow the watermarks.
void setup_per_zone_wmarks(mem_system &ms);
void setup_per_zone_lowmem_reserve(mem_system &ms);
// Linux's zone_batchsize and zone_highsize (static rule) for the per-CPU lists.
int zone_batchsize(const zone *z);
// cpus_of_node 0 counts as one.
int zone_highsize(const zone *z, int batch, unsigned cpus_of_node);
// Recomputes everything above and the per-CPU batch/high of every zone, and
// totalreserve_pages; called after init and when a tunable changes.
void init_per_zone_wmark_min(mem_system &ms);

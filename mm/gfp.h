// GFP ("get free pages") flags, with Linux's names and meanings, in three
// tiers: the zone modifiers (where the memory may come from), the action
// modifiers (how hard to try, what the caller can tolerate), and the types,
// the combinations callers actually use.
#pragma once

#include "kernel/types.h"
#include "mm/zone_type.h"

using gfp_t = u32;

// ---- zone modifiers: the highest zone the allocation may use ----------------
constexpr gfp_t __GFP_DMA = 0x01;      // ZONE_DMA (and nothing above)
constexpr gfp_t __GFP_HIGHMEM = 0x02;  // may use ZONE_HIGHMEM
constexpr gfp_t __GFP_DMA32 = 0x04;    // ZONE_DMA32 or below: 32-bit device addressable
constexpr gfp_t __GFP_MOVABLE = 0x08;  // the page can be migrated (with HIGHMEM: ZONE_MOVABLE)
constexpr gfp_t GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE;

// ---- mobility: how the memory could be given back, which picks the migrate type
// of the pageblocks it comes from (mm/mmzone.h). __GFP_MOVABLE above doubles as
// "can be migrated"; __GFP_RECLAIMABLE says a shrinker can free it (slab caches
// with SLAB_RECLAIM_ACCOUNT). Neither: unmovable. Both at once is a caller bug.
constexpr gfp_t __GFP_RECLAIMABLE = 0x10;
constexpr gfp_t GFP_MOVABLE_MASK = __GFP_RECLAIMABLE | __GFP_MOVABLE;
constexpr unsigned GFP_MOVABLE_SHIFT = 3;  // (gfp & GFP_MOVABLE_MASK) >> shift is the migrate type

// ---- action modifiers ---------------------------------------------------------
// Watermarks and reserves.
constexpr gfp_t __GFP_HIGH = 0x20;       // important: may use half of the min reserve
constexpr gfp_t __GFP_MEMALLOC = 0x20000;    // may use all reserves (not granted here)
constexpr gfp_t __GFP_NOMEMALLOC = 0x80000;  // never use the emergency reserves
// Reclaim.
constexpr gfp_t __GFP_IO = 0x40;                // may start I/O
constexpr gfp_t __GFP_FS = 0x80;                // may call into a filesystem
constexpr gfp_t __GFP_DIRECT_RECLAIM = 0x400;   // may sleep and reclaim in this context
constexpr gfp_t __GFP_KSWAPD_RECLAIM = 0x800;   // may wake kswapd at the low watermark
constexpr gfp_t __GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM;
// How hard to try.
constexpr gfp_t __GFP_RETRY_MAYFAIL = 0x4000;  // retry while reclaim makes progress, then fail
constexpr gfp_t __GFP_NOFAIL = 0x8000;         // never fail: retry for ever
constexpr gfp_t __GFP_NORETRY = 0x10000;       // one light attempt at reclaim, then fail
// What to do with the memory.
constexpr gfp_t __GFP_NOWARN = 0x2000;   // no warning on failure
constexpr gfp_t __GFP_ZERO = 0x100;      // return zeroed memory
constexpr gfp_t __GFP_COMP = 0x40000;    // a compound page (head + tails) for order > 0
constexpr gfp_t __GFP_HARDWALL = 0x100000;  // keep to the cpuset (no cpusets here: accepted)
constexpr gfp_t __GFP_THISNODE = 0x200000;  // only the asked node, no fallback
constexpr gfp_t __GFP_ACCOUNT = 0x400000;   // charge to the memory cgroup (none here: accepted)

constexpr gfp_t __GFP_BITS_MASK = 0x7fffff;

// ---- types ----------------------------------------------------------------------
// GFP_ATOMIC: cannot sleep (interrupts, spinlocks held); may dip below min.
constexpr gfp_t GFP_ATOMIC = __GFP_HIGH | __GFP_KSWAPD_RECLAIM;
// GFP_KERNEL: ordinary kernel allocations; may sleep and reclaim.
constexpr gfp_t GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS;
// GFP_NOWAIT: must not sleep, but is not important enough for the reserves.
constexpr gfp_t GFP_NOWAIT = __GFP_KSWAPD_RECLAIM | __GFP_NOWARN;
// GFP_NOIO / GFP_NOFS: may reclaim, but not by starting I/O / filesystem work.
constexpr gfp_t GFP_NOIO = __GFP_RECLAIM;
constexpr gfp_t GFP_NOFS = __GFP_RECLAIM | __GFP_IO;
// GFP_USER: memory for user space that the kernel also reaches directly.
constexpr gfp_t GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL;
// GFP_DMA / GFP_DMA32: zone restrictions for devices; combine with GFP_KERNEL.
constexpr gfp_t GFP_DMA = __GFP_DMA;
constexpr gfp_t GFP_DMA32 = __GFP_DMA32;
// GFP_HIGHUSER(_MOVABLE): user pages the kernel need not map permanently.
constexpr gfp_t GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM;
constexpr gfp_t GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE;

constexpr bool gfpflags_allow_blocking(gfp_t gfp) { return gfp & __GFP_DIRECT_RECLAIM; }

// The migrate type a request's pages come from (Linux's gfp_migratetype):
// MIGRATE_MOVABLE for __GFP_MOVABLE, MIGRATE_RECLAIMABLE for
// __GFP_RECLAIMABLE, MIGRATE_UNMOVABLE for neither; both together give
// MIGRATE_TYPE_INVALID, and the allocation fails with a warning (Linux only
// warns under CONFIG_DEBUG_VM, then misfiles the request). A machine that
// groups nothing by mobility (mem_system::page_group_by_mobility_disabled)
// files every request as MIGRATE_UNMOVABLE instead: see gfp_to_migratetype.
constexpr int MIGRATE_TYPE_INVALID = -1;
constexpr int gfp_migratetype(gfp_t gfp) {
  static_assert((__GFP_MOVABLE >> GFP_MOVABLE_SHIFT) == 1 && (__GFP_RECLAIMABLE >> GFP_MOVABLE_SHIFT) == 2,
                "the mobility bits shifted down are MIGRATE_MOVABLE and MIGRATE_RECLAIMABLE");
  if ((gfp & GFP_MOVABLE_MASK) == GFP_MOVABLE_MASK) return MIGRATE_TYPE_INVALID;
  return int((gfp & GFP_MOVABLE_MASK) >> GFP_MOVABLE_SHIFT);
}

// The highest zone a request may use (its "classzone"), following Linux's
// GFP_ZONE_TABLE: DMA -> ZONE_DMA, DMA32 -> ZONE_DMA32, HIGHMEM -> ZONE_HIGHMEM,
// MOVABLE alone -> ZONE_NORMAL, MOVABLE|HIGHMEM -> ZONE_MOVABLE, none ->
// ZONE_NORMAL (DMA32|MOVABLE -> ZONE_DMA32, DMA|MOVABLE -> ZONE_DMA).
// Combining DMA with DMA32 or HIGHMEM, or DMA32 with HIGHMEM, is a caller bug:
// ZONE_INVALID, and the allocation fails with a warning.
constexpr zone_type gfp_zone(gfp_t gfp) {
  gfp_t z = gfp & GFP_ZONEMASK;
  bool dma = z & __GFP_DMA, dma32 = z & __GFP_DMA32, high = z & __GFP_HIGHMEM, mov = z & __GFP_MOVABLE;
  if ((dma && (dma32 || high)) || (dma32 && high)) return ZONE_INVALID;
  if (dma) return ZONE_DMA;
  if (dma32) return ZONE_DMA32;
  if (high) return mov ? ZONE_MOVABLE : ZONE_HIGHMEM;
  return ZONE_NORMAL;
}

// Writes the flags' names ("GFP_KERNEL|__GFP_ZERO") into buf; returns its length.
int format_gfp(char *buf, size_t size, gfp_t gfp);
// Parses Linux's flag names joined by '|' ("GFP_KERNEL|__GFP_ZERO"), case
// and all, into *out (or-ed in). Returns nullptr, or the first name it does
// not know (it ends at the next '|' or the string's end); *out is then
// unchanged. An empty name ("a||b", "") is unknown.
const char *parse_gfp(const char *s, gfp_t *out);

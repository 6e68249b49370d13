// Pageblocks: the unit in which pages are grouped by mobility (Linux's
// include/linux/pageblock-flags.h). A pageblock is 2^pageblock_order pages,
// naturally aligned in pfn: 2 MiB, a huge page, on riscv64. Each carries
// NR_PAGEBLOCK_BITS bits in its zone's pageblock_flags bitmap (not in struct
// page, which stays 64 bytes): its migrate type (mm/mmzone.h) in the low
// three, PB_migrate_skip, kept for compaction's scanners, and the type to
// restore after an isolation. Eight bits (Linux has four: it loses the type
// on isolation, or since 6.16 keeps isolation in a bit of its own): a GiB
// holds 512 pageblocks, 512 bytes of bitmap.
#pragma once

#include "kernel/types.h"

constexpr unsigned pageblock_order = 9;
constexpr unsigned long pageblock_nr_pages = 1ul << pageblock_order;

constexpr unsigned PB_migratetype_bits = 3;
enum pageblock_bits : unsigned {
  PB_migrate,
  PB_migrate_end = PB_migrate + PB_migratetype_bits - 1,
  PB_migrate_skip,  // compaction's hint to pass this pageblock by (mm/compaction.h)
  // While the pageblock is MIGRATE_ISOLATE: the type it had before, which
  // undoing the isolation gives back (Linux 6.16 keeps the type for the
  // same reason, with isolation as a bit of its own).
  PB_isolate_saved,
  PB_isolate_saved_end = PB_isolate_saved + PB_migratetype_bits - 1,
  PB_unused,
  NR_PAGEBLOCK_BITS,
};
constexpr unsigned long PB_ISOLATE_SAVED_MASK = ((1ul << PB_migratetype_bits) - 1) << PB_isolate_saved;
constexpr unsigned long MIGRATETYPE_MASK = (1ul << PB_migratetype_bits) - 1;
constexpr unsigned BITS_PER_LONG = 64;
static_assert(BITS_PER_LONG % NR_PAGEBLOCK_BITS == 0, "a pageblock's bits never straddle two words");

constexpr unsigned long pageblock_start_pfn(unsigned long pfn) { return pfn & ~(pageblock_nr_pages - 1); }
constexpr unsigned long pageblock_end_pfn(unsigned long pfn) { return pageblock_start_pfn(pfn) + pageblock_nr_pages; }
constexpr bool pageblock_aligned(unsigned long pfn) { return (pfn & (pageblock_nr_pages - 1)) == 0; }

// Pageblocks that [start_pfn, end_pfn) touches, partial ones included.
constexpr unsigned long nr_pageblocks_spanned(unsigned long start_pfn, unsigned long end_pfn) {
  return end_pfn <= start_pfn ? 0 : (pageblock_end_pfn(end_pfn - 1) - pageblock_start_pfn(start_pfn)) >> pageblock_order;
}
// Bytes of bitmap for that many pageblocks, in whole words (Linux's usemap_size).
constexpr unsigned long pageblock_flags_bytes(unsigned long nr_pageblocks) {
  return (nr_pageblocks * NR_PAGEBLOCK_BITS + BITS_PER_LONG - 1) / BITS_PER_LONG * sizeof(unsigned long);
}

// The checker's part for grouping by mobility (mm/check.h): the pageblock
// bitmap of a zone and the highatomic reserve. The free lists' types are
// checked where the lists are walked (check_page_alloc.cpp).
#include "kernel/printk.h"
#include "mm/check.h"
#include "mm/check_internal.h"
#include "mm/mmzone.h"

bool check_zone_pageblocks(const mem_system &ms, const zone *z, int nid, check_report &r) {
  const char *name = zone_names[z->idx];
  if (!z->spanned_pages) {
    if (z->nr_reserved_highatomic)
      check_fail(r, "node %d zone %s: nr_reserved_highatomic is %lu in a zone without pages", nid, name,
                 z->nr_reserved_highatomic);
    return false;
  }
  if (!z->pageblock_flags) {
    check_fail(r, "node %d zone %s: no pageblock bitmap", nid, name);
    return false;
  }
  uintptr_t base = reinterpret_cast<uintptr_t>(z->zone_mem_map) -
                   (z->zone_start_pfn - pageblock_start_pfn(z->zone_start_pfn)) * sizeof(page);
  // A wrong base misleads the free path's lookups by page address; the
  // checker's own go by pfn, so the bitmap can still be checked.
  if (z->pageblock_base != base)
    check_fail(r, "node %d zone %s: pageblock_base is %#lx, but the zone's mem_map puts it at %#lx", nid, name,
               static_cast<unsigned long>(z->pageblock_base), static_cast<unsigned long>(base));
  unsigned long highatomic = 0, end = zone_end_pfn(z);
  for (unsigned long b = pageblock_start_pfn(z->zone_start_pfn); b < end; b += pageblock_nr_pages) {
    unsigned long pfn = b < z->zone_start_pfn ? z->zone_start_pfn : b;
    int mt = get_pfnblock_migratetype(z, pfn);
    if (mt >= int(MIGRATE_TYPES)) {
      check_fail(r, "node %d zone %s: pageblock at pfn 0x%lx has type %d, not a migrate type", nid, name, b, mt);
      continue;
    }
    if (ms.page_group_by_mobility_disabled && (mt == MIGRATE_MOVABLE || mt == MIGRATE_RECLAIMABLE))
      check_fail(r, "node %d zone %s: pageblock at pfn 0x%lx is %s, but mobility grouping is off", nid, name, b,
                 migratetype_names[mt]);
    int saved = int(get_pfnblock_flags_mask(z, pfn, PB_ISOLATE_SAVED_MASK) >> PB_isolate_saved);
    if (mt == MIGRATE_ISOLATE && !migratetype_is_mergeable(saved))
      check_fail(r, "node %d zone %s: isolated pageblock at pfn 0x%lx would go back to type %d, not an ordinary one",
                 nid, name, b, saved);
    else if (mt != MIGRATE_ISOLATE && saved)
      check_fail(r, "node %d zone %s: pageblock at pfn 0x%lx is %s but keeps a saved type %d (an isolation not undone)",
                 nid, name, b, migratetype_names[mt], saved);
    if (get_pfnblock_flags_mask(z, pfn, 1ul << PB_unused))
      check_fail(r, "node %d zone %s: pageblock at pfn 0x%lx has the unused bit set", nid, name, b);
    if (mt != MIGRATE_HIGHATOMIC) continue;
    if (b < z->zone_start_pfn || b + pageblock_nr_pages > end)
      check_fail(r, "node %d zone %s: pageblock at pfn 0x%lx is HighAtomic but not wholly in the zone", nid, name, b);
    highatomic++;
  }
  if (highatomic * pageblock_nr_pages != z->nr_reserved_highatomic)
    check_fail(r, "node %d zone %s: nr_reserved_highatomic is %lu, but %lu HighAtomic pageblocks hold %lu pages",
               nid, name, z->nr_reserved_highatomic, highatomic, highatomic * pageblock_nr_pages);
  // A reservation is made only below the cap, so the reserve exceeds it by
  // less than one reservation (a pageblock, or an order-10 block).
  unsigned long cap = z->managed_pages / 100 + pageblock_nr_pages;
  if (z->nr_reserved_highatomic >= cap + (1ul << MAX_PAGE_ORDER))
    check_fail(r, "node %d zone %s: nr_reserved_highatomic is %lu, past its cap %lu (1%% + a pageblock) by a "
               "whole order-%u block", nid, name, z->nr_reserved_highatomic, cap, MAX_PAGE_ORDER);
  return true;
}

// Grouping pages by mobility and the highatomic reserve (Linux's
// mm/page_alloc.c as of 6.10: __rmqueue_fallback, steal_suitable_fallback,
// reserve_highatomic_pageblock, unreserve_highatomic_pageblock), written
// fresh. The invariants are in mm/mmzone.h; docs/page_alloc.md has a worked
// example.
//
// Basic algorithm:
//  1. Every pageblock has a migrate type, and its free blocks sit on that
//     type's lists. A request takes from its own type's lists first.
//  2. When those are empty it falls back to the other ordinary types, in
//     fallbacks[] order, taking the LARGEST free block it finds (from
//     MAX_PAGE_ORDER down): one steal then serves many later requests, and
//     the mixing of types stays in few pageblocks. A MOVABLE request that may
//     not claim the pageblock takes the smallest block instead: its pages
//     could move out again, so it does the least harm where it lands.
//  3. The request claims the pageblock (its type and all its free blocks)
//     when the block it found is a pageblock or more, or when
//     can_steal_fallback allows and at least half of the pageblock is free or
//     in use by pages of a compatible kind; otherwise it takes only the block
//     it found, and the rest of that block stays with the pageblock's type.
//  4. With ALLOC_NOFRAGMENT (the first attempt of a Normal-zone request on a
//     machine with DMA32 below it) only whole pageblocks may be stolen:
//     get_page_from_freelist tries the lower zone before mixing types here.
//  5. A high-order atomic request that had to dip below the low watermark
//     reserves its pageblock as MIGRATE_HIGHATOMIC, up to 1% of the zone plus
//     a pageblock; only such requests take from it (and atomic ones that
//     found nothing else). Reclaim that fails gives the reserve back,
//     pageblock by pageblock.
#include "kernel/printk.h"
#include "mm/page_alloc.h"
#include "mm/page_alloc_internal.h"

const char *const migratetype_names[MIGRATE_TYPES] = {"Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate"};

// ---- pageblock bits ---------------------------------------------------------------------

void set_pfnblock_flags_mask(zone *z, unsigned long pfn, unsigned long flags, unsigned long mask) {
  unsigned long bitidx = pfn_to_bitidx(z, pfn);
  unsigned long *word = &z->pageblock_flags[bitidx / BITS_PER_LONG];
  unsigned shift = bitidx % BITS_PER_LONG;
  mask <<= shift;
  flags = (flags << shift) & mask;
  unsigned long old = __atomic_load_n(word, __ATOMIC_RELAXED);
  while (!__atomic_compare_exchange_n(word, &old, (old & ~mask) | flags, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
}

void set_pageblock_migratetype(zone *z, unsigned long pfn, int mt) {
  if (mt < MIGRATE_PCPTYPES && z->zone_pgdat->ms->page_group_by_mobility_disabled) mt = MIGRATE_UNMOVABLE;
  set_pfnblock_flags_mask(z, pfn, unsigned(mt), MIGRATETYPE_MASK);
}

void change_pageblock_range(zone *z, unsigned long pfn, unsigned order, int mt) {
  unsigned long end = pfn + (1ul << (order > pageblock_order ? order : pageblock_order));
  for (unsigned long b = pageblock_start_pfn(pfn); b < end; b += pageblock_nr_pages) set_pageblock_migratetype(z, b, mt);
}

// ---- moving a pageblock's free blocks ----------------------------------------------------

// If the pageblock at start lies inside a free block larger than a pageblock
// (two merged pageblocks of one type), breaks that block into pageblocks, so
// that the pageblock can change type alone.
static void split_large_free_block(zone *z, unsigned long start) {
  page *p = free_block_holding(z, start, pageblock_order + 1);
  if (!p) return;
  unsigned long head = zone_page_to_pfn(z, p);
  unsigned o = unsigned(p->private_);
  int mt = get_pfnblock_migratetype(z, head);
  del_from_free_list(z, p, o, mt);
  for (unsigned long b = head; b < head + (1ul << o); b += pageblock_nr_pages)
    add_to_free_list(z, zone_pfn_to_page(z, b), pageblock_order, mt);
}

bool move_freepages_block(zone *z, unsigned long pfn, int old_mt, int new_mt) {
  if (!zone_spans_pageblock(z, pfn)) return false;
  unsigned long start = pageblock_start_pfn(pfn), end = start + pageblock_nr_pages;
  split_large_free_block(z, start);
  // The type the pageblock really gets (without grouping, every ordinary
  // type is MIGRATE_UNMOVABLE): its free blocks go to that type's lists.
  set_pageblock_migratetype(z, start, new_mt);
  new_mt = get_pfnblock_migratetype(z, start);
  for (unsigned long pos = start; pos < end;) {
    page *p = zone_pfn_to_page(z, pos);
    if (!PageBuddy(p)) {
      pos++;
      continue;
    }
    unsigned order = unsigned(p->private_);
    move_to_free_list(z, p, order, old_mt, new_mt);
    pos += 1ul << order;
  }
  // A pageblock that is one free block may now merge with its buddy (Linux
  // leaves the two apart until one of them is freed again): so merging is
  // always complete, and the buddy lists hold the largest blocks they can.
  page *head = zone_pfn_to_page(z, start);
  if (PageBuddy(head) && head->private_ == pageblock_order) {
    del_from_free_list(z, head, pageblock_order, new_mt);
    __free_one_page(z, start, pageblock_order, new_mt);
  }
  return true;
}

// Free pages in the pageblock at start (which lies wholly in the zone).
static long pageblock_free_pages(zone *z, unsigned long start) {
  long free = 0;
  for (unsigned long pos = start; pos < start + pageblock_nr_pages;) {
    const page *p = zone_pfn_to_page(z, pos);
    if (PageBuddy(p)) {
      free += 1l << p->private_;
      pos += 1ul << p->private_;
    } else {
      pos++;
    }
  }
  return free;
}

// ---- fallback and stealing ---------------------------------------------------------------

// The types a request falls back to, in order, when its own lists are empty.
static constexpr int fallbacks[MIGRATE_PCPTYPES][MIGRATE_PCPTYPES - 1] = {
    /* UNMOVABLE */ {MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE},
    /* MOVABLE */ {MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE},
    /* RECLAIMABLE */ {MIGRATE_UNMOVABLE, MIGRATE_MOVABLE},
};

// Whether a request of start_mt that found a free block of `order` may try to
// claim its whole pageblock. A block of half a pageblock or more is worth
// claiming for anyone; unmovable and reclaimable requests always try, since
// the harm of mixing is theirs to avoid; a small movable request never does.
// (Linux also lets a machine without grouping claim anything: here such a
// machine has only MIGRATE_UNMOVABLE pageblocks and never falls back.)
static bool can_steal_fallback(unsigned order, int start_mt) {
  if (order >= pageblock_order / 2) return true;
  return start_mt == MIGRATE_RECLAIMABLE || start_mt == MIGRATE_UNMOVABLE;
}

// The first fallback type of mt with a free block of `order`, or -1; sets
// can_steal for it.
int find_suitable_fallback(const zone *z, unsigned order, int mt, bool *can_steal) {
  const free_area &area = z->free_area[order];
  if (!area.nr_free) return -1;
  for (int fallback_mt : fallbacks[mt]) {
    if (list_empty(&area.free_list[fallback_mt])) continue;
    *can_steal = can_steal_fallback(order, mt);
    return fallback_mt;
  }
  return -1;
}

// Takes the block p of current_order, found on another type's list, for a
// request of `order` and start_type, and claims its pageblock if the rules
// allow (whole_block: can_steal_fallback said to try). Returns the block
// split down to `order`.
static page *steal_suitable_fallback(zone *z, page *p, unsigned current_order, unsigned order, int start_type,
                                     bool whole_block) {
  unsigned long pfn = zone_page_to_pfn(z, p);
  int block_type = get_pfnblock_migratetype(z, pfn);
  // A block of a pageblock or more: all of its pageblocks change type.
  if (current_order >= pageblock_order) {
    del_from_free_list(z, p, current_order, block_type);
    change_pageblock_range(z, pfn, current_order, start_type);
    expand(z, pfn, order, current_order, start_type);
    return p;
  }
  if (whole_block && zone_spans_pageblock(z, pfn)) {
    long free_pages = pageblock_free_pages(z, pageblock_start_pfn(pfn));
    // Pages in use that suit the request. Linux counts, for a MOVABLE
    // request, the movable pages in use (on an LRU or with movable
    // operations): there are none here yet. For an UNMOVABLE or RECLAIMABLE
    // request in a MOVABLE pageblock, every page in use that is not movable
    // counts, so all of them; between UNMOVABLE and RECLAIMABLE, which
    // cannot be told apart, none.
    long alike_pages = start_type != MIGRATE_MOVABLE && block_type == MIGRATE_MOVABLE
                           ? long(pageblock_nr_pages) - free_pages
                           : 0;
    if (free_pages + alike_pages >= long(pageblock_nr_pages / 2)) {
      move_freepages_block(z, pfn, block_type, start_type);
      return __rmqueue_smallest(z, order, start_type);
    }
  }
  // Only the block found; what is left of it stays with its pageblock's type.
  del_from_free_list(z, p, current_order, block_type);
  expand(z, pfn, order, current_order, block_type);
  return p;
}

page *__rmqueue_fallback(zone *z, unsigned order, int start_mt, unsigned alloc_flags) {
  // ALLOC_NOFRAGMENT: steal nothing smaller than a pageblock, so that types
  // do not mix inside one; the caller retries without it.
  int min_order = int(order);
  if (order < pageblock_order && (alloc_flags & ALLOC_NOFRAGMENT)) min_order = pageblock_order;
  bool can_steal = false;
  int fallback_mt = -1;
  int current_order;
  for (current_order = MAX_PAGE_ORDER; current_order >= min_order; current_order--) {
    fallback_mt = find_suitable_fallback(z, unsigned(current_order), start_mt, &can_steal);
    if (fallback_mt < 0) continue;
    // A movable request that cannot claim the pageblock splits the smallest
    // block instead of the largest: its pages could be moved out again.
    if (!can_steal && start_mt == MIGRATE_MOVABLE && current_order > int(order)) {
      for (current_order = int(order); current_order < int(NR_PAGE_ORDERS); current_order++) {
        fallback_mt = find_suitable_fallback(z, unsigned(current_order), start_mt, &can_steal);
        if (fallback_mt >= 0) break;
      }
    }
    page *p = get_page_from_free_area(z, unsigned(current_order), fallback_mt);
    return steal_suitable_fallback(z, p, unsigned(current_order), order, start_mt, can_steal);
  }
  return nullptr;
}

// ---- the highatomic reserve ----------------------------------------------------------------

void reserve_highatomic_pageblock(zone *z, page *p, unsigned order) {
  // At most 1% of the zone, plus one pageblock so that a small zone can have
  // one. The check before the lock is racy but harmless: it is repeated.
  unsigned long max_managed = z->managed_pages / 100 + pageblock_nr_pages;
  if (READ_ONCE(z->nr_reserved_highatomic) >= max_managed) return;
  spin_lock_irqsave_guard g(z->lock);
  if (z->nr_reserved_highatomic >= max_managed) return;
  unsigned long pfn = zone_page_to_pfn(z, p);
  int mt = get_pfnblock_migratetype(z, pfn);
  // Only ordinary pageblocks: not one already reserved, nor an isolated one.
  if (!migratetype_is_mergeable(mt)) return;
  if (order < pageblock_order) {
    if (!move_freepages_block(z, pfn, mt, MIGRATE_HIGHATOMIC)) return;
    add_locked(z->nr_reserved_highatomic, pageblock_nr_pages);
  } else {
    // The allocation covers its pageblocks: no free page to move.
    change_pageblock_range(z, pfn, order, MIGRATE_HIGHATOMIC);
    add_locked(z->nr_reserved_highatomic, 1ul << order);
  }
}

bool unreserve_highatomic_pageblock(const alloc_context &ac, bool force) {
  for (zone **zp = ac.pgdat->zonelist; *zp; zp++) {
    zone *z = *zp;
    if (!zone_allowed(ac, z)) continue;
    // Keep one pageblock unless the pressure is really high.
    if (!force && READ_ONCE(z->nr_reserved_highatomic) <= pageblock_nr_pages) continue;
    spin_lock_irqsave_guard g(z->lock);
    for (unsigned order = 0; order < NR_PAGE_ORDERS; order++) {
      page *p = get_page_from_free_area(z, order, MIGRATE_HIGHATOMIC);
      if (!p) continue;
      unsigned long pfn = zone_page_to_pfn(z, p);
      unsigned long pages;
      // Straight to the requester's type, not through the stealing rules:
      // the requester is the one that needs the pages.
      if (order < pageblock_order) {
        move_freepages_block(z, pfn, MIGRATE_HIGHATOMIC, ac.migratetype);
        pages = pageblock_nr_pages;
      } else {
        // A whole free pageblock or two: freed again under the new type, so
        // that it merges with its buddy where it may.
        del_from_free_list(z, p, order, MIGRATE_HIGHATOMIC);
        change_pageblock_range(z, pfn, order, ac.migratetype);
        __free_one_page(z, pfn, order, get_pfnblock_migratetype(z, pfn));
        pages = 1ul << order;
      }
      add_locked(z->nr_reserved_highatomic, -long(pages));
      return true;
    }
  }
  return false;
}

// ---- boot ----------------------------------------------------------------------------------

void init_mobility_grouping(mem_system &ms, unsigned long vm_total_pages, bool force_off) {
  ms.vm_total_pages = vm_total_pages;
  // Fewer pages than a pageblock of every type: grouping cannot keep types
  // apart, and would only scatter pages over half-used pageblocks.
  ms.page_group_by_mobility_disabled = force_off || vm_total_pages < pageblock_nr_pages * MIGRATE_TYPES;
  int mt = ms.page_group_by_mobility_disabled ? MIGRATE_UNMOVABLE : MIGRATE_MOVABLE;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) {
    if (!z->spanned_pages) continue;
    for (unsigned long pfn = pageblock_start_pfn(z->zone_start_pfn); pfn < zone_end_pfn(z); pfn += pageblock_nr_pages)
      set_pfnblock_flags_mask(z, pfn < z->zone_start_pfn ? z->zone_start_pfn : pfn, unsigned(mt), MIGRATETYPE_MASK);
  }
}

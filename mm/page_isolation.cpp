// Page isolation: see mm/page_isolation.h.
#include "mm/page_isolation.h"

#include "kernel/errno.h"
#include "mm/page_alloc.h"
#include "mm/page_alloc_internal.h"

// Whether any page of the pageblock at start could not be made free: in
// use and not movable (mm/migrate.h), reserved, or on a per-CPU list.
// Movable pages (isolated for migration or not) can be moved out of the
// way. Needs the zone lock; movable state is the owners' and only read.
static bool pageblock_has_unmovable_pages(zone *z, unsigned long start) {
  if (free_block_holding(z, start, pageblock_order + 1)) return false;  // one free block larger than it
  for (unsigned long pos = start; pos < start + pageblock_nr_pages;) {
    const page *p = zone_pfn_to_page(z, pos);
    if (PageBuddy(p)) {
      pos += 1ul << p->private_;
      continue;
    }
    unsigned long flags = READ_ONCE(p->flags);
    bool movable = (flags & ((1ul << PG_movable) | (1ul << PG_isolated))) && !(flags & (1ul << PG_reserved)) &&
                   page_ref_count(p) > 0;
    if (!movable) return true;
    pos++;
  }
  return false;
}

int set_migratetype_isolate(mem_system &ms, page *p) {
  zone *z = page_zone(ms, p);
  unsigned long pfn = page_to_pfn(ms, p);
  if (!zone_spans_pageblock(z, pfn)) return -EINVAL;
  // Pages parked on per-CPU lists go back to the buddy lists first; a page
  // that reached one meanwhile, like a page in use, makes the pageblock
  // busy. Once the type is ISOLATE, with every page on its lists, no page of
  // it can be handed out (no request takes from those lists), so none can be
  // freed to a per-CPU list either.
  drain_all_pages(ms);
  return isolate_pageblock_drained(z, pfn);
}

int isolate_pageblock_drained(zone *z, unsigned long pfn) {
  if (!zone_spans_pageblock(z, pfn)) return -EINVAL;
  spin_lock_irqsave_guard g(z->lock);
  int mt = get_pfnblock_migratetype(z, pfn);
  if (!migratetype_is_mergeable(mt)) return -EBUSY;
  if (pageblock_has_unmovable_pages(z, pageblock_start_pfn(pfn))) return -EBUSY;
  set_pfnblock_flags_mask(z, pfn, static_cast<unsigned long>(mt) << PB_isolate_saved, PB_ISOLATE_SAVED_MASK);
  move_freepages_block(z, pfn, mt, MIGRATE_ISOLATE);
  return 0;
}

int isolated_pageblock_saved_type(const zone *z, unsigned long pfn) {
  return int(get_pfnblock_flags_mask(z, pfn, PB_ISOLATE_SAVED_MASK) >> PB_isolate_saved);
}

int start_isolate_page_range(mem_system &ms, unsigned long start_pfn, unsigned long end_pfn) {
  page *first = start_pfn < end_pfn ? pfn_to_page(ms, start_pfn) : nullptr;
  if (!first) return -EINVAL;
  zone *z = page_zone(ms, first);
  start_pfn = pageblock_start_pfn(start_pfn);
  if (!zone_spans_pageblock(z, start_pfn) || !zone_spans_pageblock(z, end_pfn - 1)) return -EINVAL;
  drain_all_pages(ms);
  for (unsigned long pfn = start_pfn; pfn < end_pfn; pfn += pageblock_nr_pages) {
    if (int err = isolate_pageblock_drained(z, pfn)) {
      undo_isolate_page_range(ms, start_pfn, pfn);
      return err;
    }
  }
  return 0;
}

void undo_isolate_page_range(mem_system &ms, unsigned long start_pfn, unsigned long end_pfn) {
  start_pfn = pageblock_start_pfn(start_pfn);
  if (start_pfn >= end_pfn) return;
  zone *z = page_zone(ms, pfn_to_page(ms, start_pfn));
  for (unsigned long pfn = start_pfn; pfn < end_pfn; pfn += pageblock_nr_pages) {
    int saved;
    {
      spin_lock_irqsave_guard g(z->lock);
      saved = isolated_pageblock_saved_type(z, pfn);
    }
    unset_migratetype_isolate(ms, zone_pfn_to_page(z, pfn), saved);
  }
}

int unset_migratetype_isolate(mem_system &ms, page *p, int migratetype) {
  zone *z = page_zone(ms, p);
  unsigned long pfn = page_to_pfn(ms, p);
  if (!migratetype_is_mergeable(migratetype)) return -EINVAL;
  spin_lock_irqsave_guard g(z->lock);
  if (get_pfnblock_migratetype(z, pfn) != MIGRATE_ISOLATE) return -EINVAL;
  // While isolated, the pageblock's free block stopped merging at its edge;
  // the move merges it with a free buddy of an ordinary type again.
  move_freepages_block(z, pfn, MIGRATE_ISOLATE, migratetype);
  set_pfnblock_flags_mask(z, pfn, 0, PB_ISOLATE_SAVED_MASK);
  return 0;
}

int test_pages_isolated(mem_system &ms, unsigned long start_pfn, unsigned long end_pfn) {
  page *first = pfn_to_page(ms, start_pfn);
  if (!first || start_pfn >= end_pfn) return -EBUSY;
  zone *z = page_zone(ms, first);
  if (!zone_spans_pfn(z, end_pfn - 1)) return -EBUSY;
  spin_lock_irqsave_guard g(z->lock);
  for (unsigned long b = start_pfn; b < end_pfn; b = pageblock_end_pfn(b))
    if (get_pfnblock_migratetype(z, b) != MIGRATE_ISOLATE) return -EBUSY;
  // Walk the free blocks from the start of the first one that holds start_pfn.
  const page *first_block = free_block_holding(z, start_pfn);
  unsigned long pos = first_block ? zone_page_to_pfn(z, first_block) : start_pfn;
  while (pos < end_pfn) {
    const page *p = zone_pfn_to_page(z, pos);
    if (!PageBuddy(p)) return -EBUSY;
    pos += 1ul << p->private_;
  }
  return 0;
}

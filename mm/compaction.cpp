// Compaction: the two scanners, compact_zone, direct compaction, kcompactd
// and proactive compaction. See mm/compaction.h for the algorithm.
#include "mm/compaction.h"

#include "arch/arch.h"
#include "kernel/errno.h"
#include "mm/check.h"
#include "mm/kasan.h"
#include "mm/page_alloc.h"
#include "mm/page_alloc_internal.h"
#include "mm/page_report.h"
#include "mm/watermark.h"

const char *const compact_result_names[] = {
    "not_suitable_zone", "skipped", "deferred", "no_suitable_page", "continue",
    "complete",          "partial_skipped", "contended", "success",
};

// ---- pageblock hints ------------------------------------------------------------------

static bool isolation_suitable(const compact_control *cc, unsigned long pfn) {
  return cc->ignore_skip_hint || !get_pfnblock_flags_mask(cc->z, pfn, 1ul << PB_migrate_skip);
}

static void set_pageblock_skip(compact_control *cc, unsigned long pfn) {
  if (cc->no_set_skip_hint || cc->ignore_skip_hint) return;
  set_pfnblock_flags_mask(cc->z, pfn, 1ul << PB_migrate_skip, 1ul << PB_migrate_skip);
}

// Clears every skip hint of the zone (Linux's __reset_isolation_suitable).
static void reset_isolation_suitable(zone *z) {
  for (unsigned long pfn = pageblock_start_pfn(z->zone_start_pfn); pfn < zone_end_pfn(z); pfn += pageblock_nr_pages)
    set_pfnblock_flags_mask(z, pfn < z->zone_start_pfn ? z->zone_start_pfn : pfn, 0, 1ul << PB_migrate_skip);
  __atomic_store_n(&z->compact_blockskip_flush, false, __ATOMIC_RELAXED);
}

static void reset_cached_positions(zone *z) {
  z->compact_cached_migrate_pfn = z->zone_start_pfn;
  z->compact_cached_free_pfn = pageblock_start_pfn(zone_end_pfn(z) - 1);
}

// The pageblock [start, end) clipped to the zone, or false when it does not
// lie wholly in it (a partial pageblock at the zone's edge is left alone).
static bool pageblock_in_zone(const zone *z, unsigned long start) {
  return start >= z->zone_start_pfn && start + pageblock_nr_pages <= zone_end_pfn(z);
}

// ---- the free scanner -----------------------------------------------------------------

// Takes the free block at p (of `order`, on mt's lists) for compaction, if
// the zone keeps its min watermark without it (Linux's __isolate_free_page);
// the alloc_contig range takes its isolated blocks unconditionally. Splits it
// into order-0 pages with one reference each on cc->freepages (or on list).
// Needs the zone lock. Returns the pages taken.
static unsigned long take_free_block(compact_control *cc, page *p, unsigned order, int mt, list_head *list) {
  zone *z = cc->z;
  if (mt != MIGRATE_ISOLATE) {
    unsigned long mark = min_wmark_pages(z) + (1ul << order);
    if (!__zone_watermark_ok(z, 0, mark, 0, 0, zone_page_state(z, NR_FREE_PAGES))) return 0;
  }
  del_from_free_list(z, p, order, mt);
  // Allocated from here on, as by the allocator: writable for a checker of
  // memory accesses (free pages are poisoned, mm/kasan.h).
  kasan_unpoison_pages(z, p, order);
  unsigned long n = 1ul << order;
  for (unsigned long i = 0; i < n; i++) {
    page *q = p + i;
    q->alloc_order = 0;
    set_page_count(q, 1);
    list_add_tail(&q->lru, list);
  }
  __mod_zone_page_state(z, NR_ZONE_ALLOCATED, long(n));
  return n;
}

// Takes the free pages of [start, end), at most `want` (0: all, for the
// alloc_contig range, which must be wholly free: strict). Needs no lock;
// takes the zone lock. Returns the pages taken; with strict, 0 unless it
// took the whole range.
static unsigned long isolate_freepages_block(compact_control *cc, unsigned long start, unsigned long end,
                                             list_head *list, unsigned long want, bool strict,
                                             bool *at_watermark = nullptr) {
  zone *z = cc->z;
  unsigned long taken = 0, scanned = 0;
  spin_lock_irqsave_guard g(z->lock);
  unsigned long pfn = start;
  if (strict) {
    // The first block may begin below start: it is taken whole, and the
    // caller gives back what lies outside the range. Everything is checked
    // before anything is taken, so a failure takes nothing.
    if (page *head = free_block_holding(z, start)) pfn = zone_page_to_pfn(z, head);
    for (unsigned long pos = pfn; pos < end;) {
      const page *p = zone_pfn_to_page(z, pos);
      if (!PageBuddy(p) || get_pfnblock_migratetype(z, pos) != MIGRATE_ISOLATE) return 0;
      pos += 1ul << p->private_;
    }
  }
  while (pfn < end) {
    page *p = zone_pfn_to_page(z, pfn);
    scanned++;
    if (!PageBuddy(p)) {
      pfn++;
      continue;
    }
    unsigned order = unsigned(p->private_);
    unsigned long n = take_free_block(cc, p, order, get_pfnblock_migratetype(z, pfn), list);
    if (!n) {  // the zone is at its min watermark: no more targets anywhere
      if (at_watermark) *at_watermark = true;
      break;
    }
    taken += n;
    pfn += n;
    if (want && taken >= want) break;
  }
  cc->total_free_scanned += scanned;
  return taken;
}

unsigned long isolate_freepages_range(compact_control *cc, unsigned long start, unsigned long end, list_head *list) {
  return isolate_freepages_block(cc, start, end, list, 0, true);
}

// Whether the free scanner may take targets from the pageblock at pfn.
static bool suitable_migration_target(compact_control *cc, unsigned long pfn) {
  zone *z = cc->z;
  // A free block of a pageblock or more is what compaction wants to make:
  // never break one up for targets.
  page *p = zone_pfn_to_page(z, pfn);
  if (PageBuddy(p) && READ_ONCE(p->private_) >= pageblock_order) return false;
  return get_pfnblock_migratetype(z, pfn) == MIGRATE_MOVABLE;
}

static bool compact_scanners_met(const compact_control *cc) {
  return (cc->free_pfn >> pageblock_order) <= (cc->migrate_pfn >> pageblock_order);
}

// Refills cc->freepages from the pageblocks below cc->free_pfn, down to the
// migration scanner's pageblock, until it holds as many pages as there are
// pages to migrate. Called (by compaction_alloc) only with cc->freepages
// empty while pages wait for migration, so there is room at the start.
static void isolate_freepages(compact_control *cc) {
  zone *z = cc->z;
  unsigned long low = pageblock_end_pfn(cc->migrate_pfn);
  unsigned long block = cc->free_pfn;
  for (; block >= low && block >= z->zone_start_pfn; block -= pageblock_nr_pages) {
    if (!pageblock_in_zone(z, block) || !isolation_suitable(cc, block) || !suitable_migration_target(cc, block))
      continue;
    bool at_watermark = false;
    unsigned long n = isolate_freepages_block(cc, block, block + pageblock_nr_pages, &cc->freepages,
                                              cc->nr_migratepages - cc->nr_freepages, false, &at_watermark);
    cc->nr_freepages += unsigned(n);
    count_vm_events(*cc->ms, COMPACTISOLATED, n);
    // Stopped by the watermark, not by an empty pageblock: no hint, and no
    // point in looking further down.
    if (at_watermark) break;
    if (!n) set_pageblock_skip(cc, block);
    // Stopped inside the pageblock: the rest of it serves the next refill.
    if (cc->nr_freepages >= cc->nr_migratepages) break;
  }
  cc->free_pfn = block;
}

// migrate_pages' get_new_page: a target from the free scanner.
static page *compaction_alloc(page *, void *priv) {
  auto *cc = static_cast<compact_control *>(priv);
  if (list_empty(&cc->freepages)) {
    isolate_freepages(cc);
    if (list_empty(&cc->freepages)) {
      cc->out_of_targets = true;
      return nullptr;
    }
  }
  page *p = list_first_entry(&cc->freepages, page, lru);
  list_del(&p->lru);
  cc->nr_freepages--;
  return p;
}

// migrate_pages' put_new_page: an unused target goes back to the list.
static void compaction_free(page *p, void *priv) {
  auto *cc = static_cast<compact_control *>(priv);
  list_add(&p->lru, &cc->freepages);
  cc->nr_freepages++;
}

// Gives every target still held back to the allocator.
static void release_freepages(mem_system &ms, list_head *l) {
  while (!list_empty(l)) {
    page *p = list_first_entry(l, page, lru);
    list_del(&p->lru);
    __free_pages(ms, p, 0);
  }
}

// ---- the migration scanner --------------------------------------------------------------

// Isolates the movable pages of [low, end), up to COMPACT_CLUSTER_MAX in
// all. Reads pages it does not own without a lock, as Linux does: a free
// block's order or a compound page's is only a hint to skip ahead, and a
// movable page's owner checks everything under its own lock. Returns the
// pfn to go on from.
unsigned long isolate_migratepages_block(compact_control *cc, unsigned long low, unsigned long end) {
  zone *z = cc->z;
  unsigned long pfn = low;
  for (; pfn < end && cc->nr_migratepages < COMPACT_CLUSTER_MAX; pfn++) {
    page *p = zone_pfn_to_page(z, pfn);
    cc->total_migrate_scanned++;
    unsigned long flags = READ_ONCE(p->flags);
    if (flags & (1ul << PG_buddy)) {
      unsigned long order = READ_ONCE(p->private_);
      if (order > 0 && order <= MAX_PAGE_ORDER) pfn += (1ul << order) - 1;
      continue;
    }
    if (flags & (1ul << PG_head)) {
      unsigned order = READ_ONCE(p[1].compound_order);
      if (order > 0 && order <= MAX_PAGE_ORDER) pfn += (1ul << order) - 1;
      continue;
    }
    // Not movable, or isolated already: isolate_movable_page says no.
    if (!isolate_movable_page(*cc->ms, p, cc->mode)) continue;
    list_add_tail(&p->lru, &cc->migratepages);
    cc->nr_migratepages++;
    count_vm_events(*cc->ms, COMPACTISOLATED, 1);
  }
  return pfn;
}

// Whether the migration scanner takes from the pageblock at pfn: async
// compaction for an allocation only from pageblocks of the request's kind
// (MOVABLE ones for a movable request), sync from every ordinary type;
// never from isolated or highatomic pageblocks, unless it is the
// alloc_contig range's own (isolated) scan.
static bool suitable_migration_source(const compact_control *cc, unsigned long pfn) {
  int mt = get_pfnblock_migratetype(cc->z, pfn);
  if (cc->alloc_contig) return true;
  if (!migratetype_is_mergeable(mt)) return false;
  if (cc->mode != MIGRATE_ASYNC || !cc->direct_compaction) return true;
  if (cc->migratetype == MIGRATE_MOVABLE) return mt == MIGRATE_MOVABLE;
  return mt == cc->migratetype;
}

enum isolate_migrate_t { ISOLATE_NONE, ISOLATE_SUCCESS };

// Isolates movable pages from the next pageblock above cc->migrate_pfn
// that the migration scanner may take from, below the free scanner.
static isolate_migrate_t isolate_migratepages(compact_control *cc) {
  zone *z = cc->z;
  unsigned long low = cc->migrate_pfn;
  for (; low < cc->free_pfn; low = pageblock_end_pfn(low)) {
    unsigned long block = pageblock_start_pfn(low);
    // free_pfn is always a pageblock's start (the free scanner steps down
    // a pageblock at a time from one), so the pageblock below it ends at it
    // at the latest: no clipping (nor in Linux).
    unsigned long end = pageblock_end_pfn(low);
    if (!pageblock_in_zone(z, block) || !isolation_suitable(cc, block) || !suitable_migration_source(cc, block))
      continue;
    unsigned long next = isolate_migratepages_block(cc, low, end);
    if (!cc->nr_migratepages && next >= end) set_pageblock_skip(cc, block);
    // One pageblock a call, as Linux: a pageblock that gave nothing (its
    // last pages may just have been migrated) goes back to compact_zone,
    // whose finish test then sees the pageblock boundary.
    cc->migrate_pfn = next;
    return cc->nr_migratepages ? ISOLATE_SUCCESS : ISOLATE_NONE;
  }
  cc->migrate_pfn = low;
  return ISOLATE_NONE;
}

// ---- finishing ------------------------------------------------------------------------

static bool is_via_compact_memory(int order) { return order == -1; }

// Whether z now has a free block of cc->order or more that the request
// could take: of its own type, or of a fallback type it would claim the
// pageblock of (Linux's __compact_finished).
static bool suitable_block_exists(compact_control *cc) {
  zone *z = cc->z;
  spin_lock_irqsave_guard g(z->lock);
  for (unsigned o = unsigned(cc->order); o < NR_PAGE_ORDERS; o++) {
    const free_area &area = z->free_area[o];
    if (!list_empty(&area.free_list[cc->migratetype])) return true;
    bool can_steal = false;
    if (find_suitable_fallback(z, o, cc->migratetype, &can_steal) != -1 && can_steal) return true;
  }
  return false;
}

static compact_result __compact_finished(compact_control *cc) {
  zone *z = cc->z;
  if (compact_scanners_met(cc)) {
    reset_cached_positions(z);
    // The next compaction starts a fresh pass: its hints are stale then.
    if (cc->direct_compaction) __atomic_store_n(&z->compact_blockskip_flush, true, __ATOMIC_RELAXED);
    return cc->whole_zone ? COMPACT_COMPLETE : COMPACT_PARTIAL_SKIPPED;
  }
  if (cc->proactive_compaction) {
    unsigned score = fragmentation_score_zone(z);
    return score > fragmentation_score_wmark(*cc->ms, true) ? COMPACT_CONTINUE : COMPACT_SUCCESS;
  }
  if (is_via_compact_memory(cc->order)) return COMPACT_CONTINUE;
  // Finish the pageblock: a half-compacted one invites fallbacks later.
  if (!pageblock_aligned(cc->migrate_pfn)) return COMPACT_CONTINUE;
  return suitable_block_exists(cc) ? COMPACT_SUCCESS : COMPACT_CONTINUE;
}

// ---- suitability and deferral ---------------------------------------------------------------

bool compaction_suitable(const mem_system &ms, const zone *z, int order, int highest_zoneidx) {
  // Targets come from order-0 free pages above min (take_free_block's
  // rule), and compaction needs room for twice the block (compact_gap); a
  // costly order asks for low instead, to better its chances (Linux 4.13+).
  unsigned long base = order > int(PAGE_ALLOC_COSTLY_ORDER) ? low_wmark_pages(z) : min_wmark_pages(z);
  unsigned long mark = base + (2ul << (order < 0 ? 0 : order));
  if (!__zone_watermark_ok(z, 0, mark, highest_zoneidx, 0, zone_page_state(z, NR_FREE_PAGES))) return false;
  if (order > int(PAGE_ALLOC_COSTLY_ORDER)) {
    int fragindex = fragmentation_index(z, unsigned(order));
    // 0..threshold: the request fails for want of memory, not of order.
    if (fragindex >= 0 && fragindex <= ms.extfrag_threshold) return false;
  }
  return true;
}

constexpr unsigned COMPACT_MAX_DEFER_SHIFT = 6;

void defer_compaction(zone *z, int order) {
  z->compact_considered = 0;
  if (z->compact_defer_shift < COMPACT_MAX_DEFER_SHIFT) z->compact_defer_shift++;
  if (order < z->compact_order_failed) z->compact_order_failed = order;
}

bool compaction_deferred(zone *z, int order) {
  if (order < z->compact_order_failed) return false;
  unsigned long limit = 1ul << z->compact_defer_shift;
  if (++z->compact_considered >= limit) {
    z->compact_considered = unsigned(limit);
    return false;
  }
  return true;
}

void compaction_defer_reset(zone *z, int order, bool alloc_success) {
  if (alloc_success) {
    z->compact_considered = 0;
    z->compact_defer_shift = 0;
  }
  if (order >= z->compact_order_failed) z->compact_order_failed = order + 1;
}

compact_control compact_control_for(mem_system &ms, zone *z, int order, migrate_mode mode) {
  compact_control cc = {};
  cc.ms = &ms;
  cc.z = z;
  cc.order = order;
  cc.mode = mode;
  cc.migratetype = MIGRATE_MOVABLE;
  return cc;
}

// ---- compact_zone --------------------------------------------------------------------------

compact_result compact_zone(compact_control *cc) {
  zone *z = cc->z;
  mem_system &ms = *cc->ms;
  INIT_LIST_HEAD(&cc->freepages);
  INIT_LIST_HEAD(&cc->migratepages);
  cc->nr_freepages = cc->nr_migratepages = 0;
  cc->total_migrate_scanned = cc->total_free_scanned = cc->nr_migrated = 0;
  cc->out_of_targets = false;
  if (!managed_zone(z) || z->spanned_pages < pageblock_nr_pages) return COMPACT_SKIPPED;

  if (!is_via_compact_memory(cc->order) && !cc->proactive_compaction) {
    unsigned long mark = z->_watermark[cc->alloc_flags & ALLOC_WMARK_MASK];
    if (zone_watermark_ok(z, unsigned(cc->order), mark, cc->highest_zoneidx, cc->alloc_flags))
      return COMPACT_SUCCESS;
    if (!compaction_suitable(ms, z, cc->order, cc->highest_zoneidx)) return COMPACT_SKIPPED;
  }
  // One compaction of a zone at a time: the cached positions and the free
  // scanner's targets would collide. Async callers do not wait.
  if (cc->mode == MIGRATE_ASYNC) {
    if (!spin_trylock(&z->compact_lock)) return COMPACT_CONTENDED;
  } else {
    spin_lock(&z->compact_lock);
  }
  if (__atomic_load_n(&z->compact_blockskip_flush, __ATOMIC_RELAXED)) reset_isolation_suitable(z);
  unsigned long start = z->zone_start_pfn, end = zone_end_pfn(z);
  // Each scanner's position on its own, as Linux: one out of the zone
  // (never set yet) does not throw away the other.
  if (z->compact_cached_migrate_pfn < start || z->compact_cached_migrate_pfn >= end)
    z->compact_cached_migrate_pfn = start;
  if (z->compact_cached_free_pfn < start || z->compact_cached_free_pfn >= end)
    z->compact_cached_free_pfn = pageblock_start_pfn(end - 1);
  if (cc->whole_zone) {
    cc->migrate_pfn = start;
    cc->free_pfn = pageblock_start_pfn(end - 1);
  } else {
    cc->migrate_pfn = z->compact_cached_migrate_pfn;
    cc->free_pfn = z->compact_cached_free_pfn;
    cc->whole_zone = cc->migrate_pfn == start && cc->free_pfn == pageblock_start_pfn(end - 1);
  }

  compact_result ret;
  unsigned long last_migrated_pfn = 0;
  while ((ret = __compact_finished(cc)) == COMPACT_CONTINUE) {
    unsigned long iteration_start = cc->migrate_pfn;
    if (isolate_migratepages(cc) == ISOLATE_SUCCESS) {
      last_migrated_pfn = iteration_start;
      unsigned succeeded = 0;
      int err = migrate_pages(ms, &cc->migratepages, compaction_alloc, compaction_free, cc, cc->mode,
                              MR_COMPACTION, &succeeded);
      cc->nr_migrated += succeeded;
      cc->nr_migratepages = 0;
      // What did not move goes back to its owner. Out of targets before the
      // scanners met (the zone is at its min watermark): stop, as Linux
      // does on -ENOMEM, rather than isolate the same pages again.
      if (err) putback_movable_pages(ms, &cc->migratepages);
      if (cc->out_of_targets && !compact_scanners_met(cc)) {
        ret = COMPACT_CONTENDED;
        break;
      }
    }
    // Pages freed by migration wait on this CPU's lists; once the migration
    // scanner has left their order-aligned block, drain them so that they
    // merge and the finish test sees the block (Linux does the same).
    if (last_migrated_pfn &&
        (cc->order <= 0 || last_migrated_pfn < (cc->migrate_pfn & ~((1ul << cc->order) - 1)))) {
      drain_local_pages(ms);
      last_migrated_pfn = 0;
    }
  }
  if (ret == COMPACT_NO_SUITABLE_PAGE) ret = COMPACT_CONTINUE;
  release_freepages(ms, &cc->freepages);
  cc->nr_freepages = 0;
  drain_local_pages(ms);
  // Where the next compaction goes on from (the scanners met: from the ends).
  if (ret != COMPACT_COMPLETE && ret != COMPACT_PARTIAL_SKIPPED && !cc->alloc_contig) {
    if (cc->migrate_pfn > z->compact_cached_migrate_pfn) z->compact_cached_migrate_pfn = cc->migrate_pfn;
    if (cc->free_pfn < z->compact_cached_free_pfn && cc->free_pfn >= start)
      z->compact_cached_free_pfn = pageblock_start_pfn(cc->free_pfn);
  }
  spin_unlock(&z->compact_lock);
  if (unlikely(ms.check_calls)) check_compact_call(ms, z);
  count_vm_events(ms, COMPACTMIGRATE_SCANNED, cc->total_migrate_scanned);
  count_vm_events(ms, COMPACTFREE_SCANNED, cc->total_free_scanned);
  if (cc->kcompactd) {
    count_vm_events(ms, KCOMPACTD_MIGRATE_SCANNED, cc->total_migrate_scanned);
    count_vm_events(ms, KCOMPACTD_FREE_SCANNED, cc->total_free_scanned);
  }
  return ret;
}

// ---- direct compaction ----------------------------------------------------------------------

compact_result try_to_compact_pages(mem_system &ms, gfp_t, unsigned order, unsigned alloc_flags,
                                    const alloc_context &ac, compact_priority prio) {
  if (order == 0) return COMPACT_SKIPPED;
  compact_result rc = COMPACT_SKIPPED;
  bool any = false;
  for (zone **zp = ac.pgdat->zonelist; *zp; zp++) {
    zone *z = *zp;
    if (!zone_allowed(ac, z)) continue;
    any = true;
    if (prio > MIN_COMPACT_PRIORITY && compaction_deferred(z, int(order))) {
      if (rc < COMPACT_DEFERRED) rc = COMPACT_DEFERRED;
      continue;
    }
    compact_control cc =
        compact_control_for(ms, z, int(order), prio == COMPACT_PRIO_ASYNC ? MIGRATE_ASYNC : MIGRATE_SYNC_LIGHT);
    cc.migratetype = ac.migratetype;
    cc.alloc_flags = alloc_flags;
    cc.highest_zoneidx = ac.highest_zoneidx;
    cc.ignore_skip_hint = prio == MIN_COMPACT_PRIORITY;
    cc.whole_zone = prio == MIN_COMPACT_PRIORITY;
    cc.direct_compaction = true;
    compact_result status = compact_zone(&cc);
    if (status > rc) rc = status;
    if (status == COMPACT_SUCCESS) {
      // Whether the allocation then succeeds decides the deferral
      // (compaction_alloc_result); here it only must not stay deferred.
      compaction_defer_reset(z, int(order), false);
      break;
    }
    // A synchronous pass that found nothing: do not try this order here
    // again for a while.
    if (prio != COMPACT_PRIO_ASYNC && (status == COMPACT_COMPLETE || status == COMPACT_PARTIAL_SKIPPED))
      defer_compaction(z, int(order));
  }
  return any ? rc : COMPACT_NOT_SUITABLE_ZONE;
}

void compaction_alloc_result(mem_system &ms, page *p, unsigned order, compact_result result) {
  if (result == COMPACT_SKIPPED || result == COMPACT_NOT_SUITABLE_ZONE) return;
  count_vm_events(ms, COMPACTSTALL, 1);
  if (p) {
    compaction_defer_reset(page_zone(ms, p), int(order), true);
    count_vm_events(ms, COMPACTSUCCESS, 1);
  } else {
    count_vm_events(ms, COMPACTFAIL, 1);
  }
}

// ---- compact_memory -------------------------------------------------------------------------

void compact_node(mem_system &ms, int nid) {
  // No such node, or one without memory: nothing to compact.
  if (nid < 0 || nid >= int(MAX_NUMNODES) || !ms.node_data[nid]) return;
  pglist_data *pgdat = ms.node_data[nid];
  for_each_zone_of(pgdat, z) {
    if (!populated_zone(z)) continue;
    compact_control cc = compact_control_for(ms, z, -1, MIGRATE_SYNC);
    cc.ignore_skip_hint = true;
    cc.whole_zone = true;
    compact_zone(&cc);
  }
}

void compact_memory(mem_system &ms) {
  drain_all_pages(ms);
  for_each_online_pgdat(ms, pgdat) compact_node(ms, pgdat->node_id);
}

// ---- proactive compaction and kcompactd -------------------------------------------------------

unsigned fragmentation_score_zone(const zone *z) {
  contig_page_info info;
  fill_contig_page_info(z, pageblock_order, &info);
  if (!info.free_pages) return 0;
  return unsigned(unusable_free_index(pageblock_order, info) / 10);
}

// Each zone's score weighted by its share of the node, rounded down on its
// own, over node_present_pages + 1 (Linux's fragmentation_score_zone_weighted):
// a node of one fragmented zone scores 99, not 100.
unsigned fragmentation_score_node(const pglist_data *pgdat) {
  unsigned score = 0;
  for (const zone *z = pgdat->node_zones; z < pgdat->node_zones + MAX_NR_ZONES; z++) {
    if (!populated_zone(z)) continue;
    score += unsigned(z->present_pages * fragmentation_score_zone(z) / (pgdat->node_present_pages + 1));
  }
  return score;
}

unsigned fragmentation_score_wmark(const mem_system &ms, bool low) {
  int l = 100 - ms.compaction_proactiveness;
  unsigned wmark_low = unsigned(l < 5 ? 5 : l);
  unsigned high = wmark_low + 10;
  return low ? wmark_low : (high > 100 ? 100 : high);
}

static bool should_proactive_compact_node(const mem_system &ms, const pglist_data *pgdat) {
  if (!ms.compaction_proactiveness) return false;
  return fragmentation_score_node(pgdat) > fragmentation_score_wmark(ms, false);
}

void proactive_compact_node(mem_system &ms, pglist_data *pgdat) {
  for_each_zone_of(pgdat, z) {
    if (!populated_zone(z)) continue;
    compact_control cc = compact_control_for(ms, z, -1, MIGRATE_SYNC_LIGHT);
    cc.ignore_skip_hint = true;
    cc.proactive_compaction = true;
    cc.kcompactd = true;
    compact_zone(&cc);
  }
}

void wakeup_kcompactd(pglist_data *pgdat, int order, int highest_zoneidx) {
  if (order <= 0) return;
  if (READ_ONCE(pgdat->kcompactd_max_order) < order) WRITE_ONCE(pgdat->kcompactd_max_order, order);
  if (READ_ONCE(pgdat->kcompactd_highest_zoneidx) > highest_zoneidx || !READ_ONCE(pgdat->kcompactd_wanted))
    WRITE_ONCE(pgdat->kcompactd_highest_zoneidx, highest_zoneidx);
  __atomic_store_n(&pgdat->kcompactd_wanted, 1, __ATOMIC_RELEASE);
}

// kcompactd's work for a wake-up (Linux's kcompactd_do_work): async
// compaction of every zone up to the wanted classzone that is suitable,
// not deferred and not already able to serve the order.
static void kcompactd_do_work(mem_system &ms, pglist_data *pgdat) {
  int order = READ_ONCE(pgdat->kcompactd_max_order);
  int highest = READ_ONCE(pgdat->kcompactd_highest_zoneidx);
  count_vm_events(ms, KCOMPACTD_WAKE, 1);
  for (int zi = 0; zi <= highest && zi < int(MAX_NR_ZONES); zi++) {
    zone *z = &pgdat->node_zones[zi];
    if (!populated_zone(z) || compaction_deferred(z, order)) continue;
    if (zone_watermark_ok(z, unsigned(order), min_wmark_pages(z), highest, 0)) continue;
    if (!compaction_suitable(ms, z, order, highest)) continue;
    compact_control cc = compact_control_for(ms, z, order, MIGRATE_SYNC_LIGHT);
    cc.alloc_flags = ALLOC_WMARK_MIN;
    cc.highest_zoneidx = highest;
    cc.kcompactd = true;
    compact_result status = compact_zone(&cc);
    if (status == COMPACT_SUCCESS) compaction_defer_reset(z, order, false);
    else if (status == COMPACT_PARTIAL_SKIPPED || status == COMPACT_COMPLETE) defer_compaction(z, order);
  }
  WRITE_ONCE(pgdat->kcompactd_max_order, 0);
  WRITE_ONCE(pgdat->kcompactd_highest_zoneidx, int(MAX_NR_ZONES) - 1);
}

void kcompactd_run_node(mem_system &ms, pglist_data *pgdat, unsigned long now_ms) {
  bool wanted = __atomic_exchange_n(&pgdat->kcompactd_wanted, 0, __ATOMIC_ACQ_REL);
  if (wanted) kcompactd_do_work(ms, pgdat);
  if (now_ms < pgdat->proactive_next) return;
  pgdat->proactive_next = now_ms + HPAGE_FRAG_CHECK_INTERVAL_MSEC;
  if (should_proactive_compact_node(ms, pgdat)) proactive_compact_node(ms, pgdat);
}

void kcompactd_run(mem_system &ms, unsigned long now_ms) {
  for_each_online_pgdat(ms, pgdat) kcompactd_run_node(ms, pgdat, now_ms);
}

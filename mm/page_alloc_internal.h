// What the page allocator's own files share, and nothing outside mm/ needs:
// the buddy lists by migrate type (page_alloc.cpp), grouping by mobility and
// the highatomic reserve (mobility.cpp), page isolation (page_isolation.cpp).
#pragma once

#include "mm/compaction.h"
#include "mm/mmzone.h"
#include "mm/page.h"
#include "mm/watermark.h"

// The struct page of a pfn the zone spans.
inline page *zone_pfn_to_page(zone *z, unsigned long pfn) { return z->zone_mem_map + (pfn - z->zone_start_pfn); }
inline unsigned long zone_page_to_pfn(const zone *z, const page *p) {
  return z->zone_start_pfn + static_cast<unsigned long>(p - z->zone_mem_map);
}

// Whether the pageblock holding pfn lies wholly in the zone: only such a
// pageblock can change type as a whole (a partial one at a zone edge keeps
// its type, as in Linux's move_freepages_block).
inline bool zone_spans_pageblock(const zone *z, unsigned long pfn) {
  unsigned long start = pageblock_start_pfn(pfn);
  return zone_spans_pfn(z, start) && zone_spans_pfn(z, start + pageblock_nr_pages - 1);
}

// ---- the buddy lists (all of these need the zone lock) ---------------------------------
//
// A free block is on free_area[order].free_list[mt] with mt its pageblock's
// type. The lists count their blocks in nr_free, and NR_FREE_PAGES counts
// the pages of every list but MIGRATE_ISOLATE's (account_freepages). As in
// Linux 6.10, the __ forms leave NR_FREE_PAGES alone, for the paths that
// move many blocks and account their net change once (splitting in
// page_del_and_expand, merging in __free_one_page); every other move uses
// the accounting forms. Either way the count is right whenever the lock is
// released.

inline void account_freepages(zone *z, long nr_pages, int mt) {
  if (mt != MIGRATE_ISOLATE) __mod_zone_page_state(z, NR_FREE_PAGES, nr_pages);
}

// At the head: a block freed or split off is the next one handed out (no
// caller needs Linux's to-tail placement).
inline void __add_to_free_list(zone *z, page *p, unsigned order, int mt) {
  set_page_flag(p, PG_buddy);
  p->private_ = order;
  list_add(&p->lru, &z->free_area[order].free_list[mt]);
  add_locked(z->free_area[order].nr_free, 1);
}

inline void add_to_free_list(zone *z, page *p, unsigned order, int mt) {
  __add_to_free_list(z, p, order, mt);
  account_freepages(z, long(1) << order, mt);
}

inline void __del_from_free_list(zone *z, page *p, unsigned order) {
  list_del(&p->lru);
  clear_page_flag(p, PG_buddy);
  p->private_ = 0;
  add_locked(z->free_area[order].nr_free, -1);
}

inline void del_from_free_list(zone *z, page *p, unsigned order, int mt) {
  __del_from_free_list(z, p, order);
  account_freepages(z, -(long(1) << order), mt);
}

// To the tail of another type's list, as Linux moves blocks between types.
inline void move_to_free_list(zone *z, page *p, unsigned order, int old_mt, int new_mt) {
  list_move_tail(&p->lru, &z->free_area[order].free_list[new_mt]);
  account_freepages(z, -(long(1) << order), old_mt);
  account_freepages(z, long(1) << order, new_mt);
}

inline page *get_page_from_free_area(zone *z, unsigned order, int mt) {
  list_head *l = &z->free_area[order].free_list[mt];
  return list_empty(l) ? nullptr : list_first_entry(l, page, lru);
}

// The first page of the free block, of min_order or more, that holds pfn;
// nullptr when pfn is in no such block (in use, on a per-CPU list, or in a
// smaller free block). Needs the zone lock.
inline page *free_block_holding(zone *z, unsigned long pfn, unsigned min_order = 0) {
  for (unsigned o = min_order; o < NR_PAGE_ORDERS; o++) {
    unsigned long head = pfn & ~((1ul << o) - 1);
    if (!zone_spans_pfn(z, head)) return nullptr;  // nor will a larger block's head
    page *p = zone_pfn_to_page(z, head);
    if (PageBuddy(p) && p->private_ == o) return p;
  }
  return nullptr;
}

// Splits the free block of order `high` at pfn (already off its list) down
// to order `low`: the upper half at each step goes on mt's list. Returns the
// pages it put there, unaccounted.
inline unsigned long __expand(zone *z, unsigned long pfn, unsigned low, unsigned high, int mt) {
  unsigned long added = 0;
  while (high > low) {
    high--;
    __add_to_free_list(z, zone_pfn_to_page(z, pfn + (1ul << high)), high, mt);
    added += 1ul << high;
  }
  return added;
}

inline void expand(zone *z, unsigned long pfn, unsigned low, unsigned high, int mt) {
  account_freepages(z, long(__expand(z, pfn, low, high, mt)), mt);
}

// Takes the free block p of order `high` off mt's list and splits it down to
// `low`, accounting only the 2^low pages that leave (Linux's
// page_del_and_expand).
inline void page_del_and_expand(zone *z, page *p, unsigned long pfn, unsigned low, unsigned high, int mt) {
  __del_from_free_list(z, p, high);
  long nr_pages = (long(1) << high) - long(__expand(z, pfn, low, high, mt));
  account_freepages(z, -nr_pages, mt);
}

// Takes the smallest free block of at least `order` from mt's lists and
// splits it. Returns its first page (refcount still 0), or nullptr.
page *__rmqueue_smallest(zone *z, unsigned order, int mt);

// Puts the free block [pfn, pfn + 2^order) on mt's lists, merging it with its
// free buddies. mt is the type of pfn's pageblock, read under the zone lock.
void __free_one_page(zone *z, unsigned long pfn, unsigned order, int mt);

// ---- mobility (mm/mobility.cpp; the zone lock for all of these) --------------------------

// Gives every pageblock of [pfn, pfn + 2^order) the type mt (order >=
// pageblock_order: a block that covers whole pageblocks).
void change_pageblock_range(zone *z, unsigned long pfn, unsigned order, int mt);
// Moves every free block of pfn's pageblock from old_mt's lists to new_mt's
// and gives the pageblock that type. A free block larger than a pageblock
// that covers it is split into pageblocks first; a wholly free pageblock is
// merged with its buddy afterwards, where the merging rules allow. Returns
// false (and changes nothing) when the pageblock is not wholly in the zone:
// as in Linux 6.10, no caller needs the number of pages moved.
bool move_freepages_block(zone *z, unsigned long pfn, int old_mt, int new_mt);
// Linux's __rmqueue_fallback (6.10): a block of another type for a request
// of start_mt whose own lists are empty, stealing its pageblock when the
// rules allow. Returns the block (split to `order`), or nullptr.
page *__rmqueue_fallback(zone *z, unsigned order, int start_mt, unsigned alloc_flags);

// The first fallback type of mt with a free block of exactly `order` on z,
// or -1; sets *can_steal to whether a request of mt would claim its
// pageblock. Lockless reads: callers want a hint (compaction's finish test).
int find_suitable_fallback(const zone *z, unsigned order, int mt, bool *can_steal);

// ---- the allocation context --------------------------------------------------------------

struct alloc_context {
  pglist_data *pgdat;  // the preferred node
  int highest_zoneidx;
  bool thisnode;
  int migratetype;
};

// Whether a zone of the preferred node's zonelist serves the request: at
// most its highest zone, and on its node only with __GFP_THISNODE.
inline bool zone_allowed(const alloc_context &ac, const zone *z) {
  return z->idx <= ac.highest_zoneidx && (!ac.thisnode || z->zone_pgdat == ac.pgdat);
}

// After a successful high-order ALLOC_HIGHATOMIC allocation: makes the
// block's pageblock (or pageblocks) MIGRATE_HIGHATOMIC while the zone's
// reserve is below its cap. Takes the zone lock.
void reserve_highatomic_pageblock(zone *z, page *p, unsigned order);
// Gives one highatomic pageblock of a zone the request may use back to the
// request's type; unless force, a zone keeps its last pageblock. Returns
// whether it gave one back. Takes the zone locks.
bool unreserve_highatomic_pageblock(const alloc_context &ac, bool force);

// Whether the zone's lists hold a block of at least `order` that a request
// with these alloc flags may take: of an ordinary type, or highatomic with
// ALLOC_HIGHATOMIC or ALLOC_OOM (never an isolated one). Lockless: a
// snapshot, as in Linux's __zone_watermark_ok.
inline bool zone_has_suitable_block(const zone *z, unsigned order, unsigned alloc_flags) {
  for (unsigned o = order; o < NR_PAGE_ORDERS; o++) {
    const free_area &area = z->free_area[o];
    if (!READ_ONCE(area.nr_free)) continue;
    for (int mt = 0; mt < MIGRATE_PCPTYPES; mt++)
      if (!list_empty(&area.free_list[mt])) return true;
    if ((alloc_flags & (ALLOC_HIGHATOMIC | ALLOC_OOM)) && !list_empty(&area.free_list[MIGRATE_HIGHATOMIC]))
      return true;
  }
  return false;
}

// Decides page_group_by_mobility_disabled from vm_total_pages, the pages the
// buddy lists are about to get (or the layout's wish), and gives every
// pageblock its boot type: MIGRATE_MOVABLE, as in Linux, or MIGRATE_UNMOVABLE
// without grouping, so that such a machine has one type from the start.
void init_mobility_grouping(mem_system &ms, unsigned long vm_total_pages, bool force_off);

// ---- the rest ----------------------------------------------------------------------------

// The node nid falls back to when it has no memory of its own (itself if it has).
int nearest_memory_node(const mem_system &ms, int nid);

// Reports a page in a bad state ("BUG: Bad page state") and counts it.
// p may be nullptr for a pfn that no zone spans.
void bad_page(mem_system &ms, const page *p, unsigned long pfn, const char *reason);

// Linux's should_compact_retry, the slow path's rule after direct
// compaction: another round is worth it while compaction succeeds without
// the allocation following (another CPU took the block), up to
// MAX_COMPACT_RETRIES, a quarter of that for costly orders; when it fails or
// withdraws, try once more at each higher priority, down to
// MIN_COMPACT_PRIORITY (MIN_COMPACT_COSTLY_PRIORITY for costly orders),
// starting the count afresh. Updates *prio and *retries.
constexpr int MAX_COMPACT_RETRIES = 16;
bool should_compact_retry(unsigned order, compact_result result, compact_priority *prio, int *retries);

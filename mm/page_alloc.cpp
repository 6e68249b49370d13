// The buddy allocator, its per-CPU lists and the allocation paths. See
// mm/page_alloc.h for the algorithm; invariants are listed in mm/mmzone.h and
// checked by mm/check_page_alloc.cpp. Grouping by mobility (the fallback
// between migrate types, the highatomic reserve) is in mm/mobility.cpp.
#include "mm/page_alloc.h"

#include "kernel/printk.h"
#include "kernel/string.h"
#include "mm/check.h"
#include "mm/compaction.h"
#include "mm/kasan.h"
#include "mm/page_alloc_internal.h"
#include "mm/vmscan.h"
#include "mm/watermark.h"

constexpr int MAX_RECLAIM_RETRIES = 16;

// ---- conversions ---------------------------------------------------------------------

int nearest_memory_node(const mem_system &ms, int nid) {
  if (nid >= 0 && nid < int(MAX_NUMNODES) && ms.node_data[nid]) return nid;
  int best = -1;
  for (int n = 0; n < int(MAX_NUMNODES); n++) {
    if (!ms.node_data[n]) continue;
    if (best < 0 || (nid >= 0 && nid < int(MAX_NUMNODES) &&
                     ms.node_distance[nid][n] < ms.node_distance[nid][best]))
      best = n;
  }
  return best;
}

mem_section mem_section_of(const mem_system &ms, unsigned sec) {
  const unsigned long first = (unsigned long)sec << PFN_SECTION_SHIFT, end = first + (1ul << PFN_SECTION_SHIFT);
  mem_section m = {0, 0, 0};
  unsigned meets = 0;
  for_each_online_pgdat(ms, pgdat) {
    unsigned long s = pgdat->node_start_pfn > first ? pgdat->node_start_pfn : first;
    unsigned long e = pgdat_end_pfn(pgdat) < end ? pgdat_end_pfn(pgdat) : end;
    if (s >= e) continue;
    meets++;
    m = {reinterpret_cast<uintptr_t>(pgdat->node_mem_map) - (pgdat->node_start_pfn << PAGE_STRUCT_SHIFT), s, e - s};
  }
  return meets == 1 ? m : mem_section{0, 0, 0};
}

page *pfn_to_page_search(const mem_system &ms, unsigned long pfn) {
  for (const pglist_data *pgdat : ms.node_data)
    if (pgdat && pfn >= pgdat->node_start_pfn && pfn < pgdat_end_pfn(pgdat))
      return pgdat->node_mem_map + (pfn - pgdat->node_start_pfn);
  return nullptr;
}

bool pfn_valid(const mem_system &ms, unsigned long pfn) { return pfn_to_page(ms, pfn) != nullptr; }

unsigned long page_to_pfn(const mem_system &ms, const page *p) {
  const pglist_data *pgdat = ms.node_data[page_to_nid(p)];
  return pgdat->node_start_pfn + static_cast<unsigned long>(p - pgdat->node_mem_map);
}

zone *page_zone(const mem_system &ms, const page *p) {
  return &ms.node_data[page_to_nid(p)]->node_zones[page_zonenum(p)];
}

void *page_address(const mem_system &ms, const page *p) {
  if (PageHighMem(p)) return nullptr;
  return phys_to_virt(page_to_phys(ms, p));
}

page *virt_to_page(const mem_system &ms, const void *addr) {
  return pfn_to_page(ms, PHYS_PFN(virt_to_phys(addr)));
}

page *pfn_to_page(unsigned long pfn) { return pfn_to_page(*system_mem, pfn); }
unsigned long page_to_pfn(const page *p) { return page_to_pfn(*system_mem, p); }
void *page_address(const page *p) { return page_address(*system_mem, p); }
page *virt_to_page(const void *addr) { return virt_to_page(*system_mem, addr); }

// ---- buddy lists ------------------------------------------------------------------------

// Whether buddy is the first page of a free block of `order`. The zone lock
// is held, but buddy may be another CPU's page whose owner is changing its
// flags: they are read with one whole-word load (private_ only once PG_buddy
// says the page is the zone's).
static inline bool page_is_buddy(const page *buddy, unsigned order) {
  return (READ_ONCE(buddy->flags) & (u64(1) << PG_buddy)) && buddy->private_ == order;
}

// Basic algorithm:
//  1. the buddy of the block at pfn of order k is the block at pfn ^ 2^k;
//  2. while that buddy lies in the zone and is itself a free block of order
//     k, take it off its list and continue with the merged block (which
//     starts at the lower of the two pfns) at order k + 1;
//  3. from pageblock_order up the two blocks lie in different pageblocks:
//     they merge only if their types are the same or both ordinary, and then
//     the buddy's pageblock takes the freed block's type, so that the merged
//     block is of one type (Linux 6.10's rule; a HIGHATOMIC or ISOLATE
//     pageblock keeps its free pages to itself);
//  4. put the final block on its type's list.
// NR_FREE_PAGES grows by the freed block once, up front: a merge moves
// pages between lists without changing how many are free (both types
// ordinary, or both the same), as in Linux 6.10.
void __free_one_page(zone *z, unsigned long pfn, unsigned order, int mt) {
  account_freepages(z, long(1) << order, mt);
  while (order < MAX_PAGE_ORDER) {
    unsigned long buddy_pfn = pfn ^ (1ul << order);
    if (!zone_spans_pfn(z, buddy_pfn)) break;
    page *buddy = zone_pfn_to_page(z, buddy_pfn);
    if (!page_is_buddy(buddy, order)) break;
    int buddy_mt = mt;
    if (order >= pageblock_order) {
      buddy_mt = get_pfnblock_migratetype(z, buddy_pfn);
      if (buddy_mt != mt && (!migratetype_is_mergeable(mt) || !migratetype_is_mergeable(buddy_mt))) break;
    }
    __del_from_free_list(z, buddy, order);
    if (buddy_mt != mt) change_pageblock_range(z, buddy_pfn, order, mt);
    pfn &= buddy_pfn;
    order++;
  }
  __add_to_free_list(z, zone_pfn_to_page(z, pfn), order, mt);
}

page *__rmqueue_smallest(zone *z, unsigned order, int mt) {
  for (unsigned o = order; o < NR_PAGE_ORDERS; o++) {
    page *p = get_page_from_free_area(z, o, mt);
    if (!p) continue;
    page_del_and_expand(z, p, zone_page_to_pfn(z, p), order, o, mt);
    return p;
  }
  return nullptr;
}

// A block of `order` for a request of migrate type mt: from its own lists,
// else from another type's (mm/mobility.cpp). Needs the zone lock.
static page *__rmqueue(zone *z, unsigned order, int mt, unsigned alloc_flags) {
  page *p = __rmqueue_smallest(z, order, mt);
  if (unlikely(!p)) p = __rmqueue_fallback(z, order, mt, alloc_flags);
  return p;
}

// ---- per-CPU lists -----------------------------------------------------------------------

// Gives up to `count` pages from the pcp back to the buddy lists, oldest
// first, taking the lists in turn. Each goes to the lists of its
// pageblock's type as it is now (which may have changed since the page was
// filed). Needs the pcp lock.
__attribute__((noinline, cold)) static void free_pcppages_bulk(zone *z, int count, per_cpu_pages *pcp) {
  spin_lock_irqsave_guard g(z->lock);
  unsigned pindex = 0;
  while (count > 0 && pcp->count > 0) {
    for (unsigned tries = 0; list_empty(&pcp->lists[pindex]) && tries < NR_PCP_LISTS; tries++)
      pindex = (pindex + 1) % NR_PCP_LISTS;
    unsigned order = pindex / MIGRATE_PCPTYPES;
    page *p = list_last_entry(&pcp->lists[pindex], page, lru);
    pcp_del(pcp, p, order);
    count -= 1 << order;
    unsigned long pfn = zone_page_to_pfn(z, p);
    __free_one_page(z, pfn, order, get_pfnblock_migratetype(z, pfn));
    pindex = (pindex + 1) % NR_PCP_LISTS;
  }
}

// Moves up to `count` blocks of `order` for a request of type mt from the
// buddy lists to the pcp's list for them.
__attribute__((noinline)) static void rmqueue_bulk(zone *z, unsigned order, int count, per_cpu_pages *pcp, int mt,
                                                   unsigned alloc_flags) {
  unsigned pindex = order_to_pindex(mt, order);
  spin_lock_irqsave_guard g(z->lock);
  for (int i = 0; i < count; i++) {
    page *p = __rmqueue(z, order, mt, alloc_flags);
    if (!p) break;
    pcp_add(pcp, p, pindex, order, true, p->flags);
  }
}

// This CPU's list for the zone.
static inline per_cpu_pages *this_cpu_pcp(const mem_system &ms, const zone *z) {
  return ms.free_route[zone_id(z)][this_cpu_slot()];
}

// Takes a block of `order` for a request of type mt from the buddy lists,
// counting it as allocated. A high-order atomic request (ALLOC_HIGHATOMIC)
// tries the highatomic reserve first; a request that cannot block, and has
// found nothing else, may use it too: failing now is worse than failing a
// high-order atomic request later.
static page *rmqueue_buddy(zone *z, unsigned order, int mt, unsigned alloc_flags) {
  spin_lock_irqsave_guard g(z->lock);
  page *p = nullptr;
  if (alloc_flags & ALLOC_HIGHATOMIC) p = __rmqueue_smallest(z, order, MIGRATE_HIGHATOMIC);
  if (!p) p = __rmqueue(z, order, mt, alloc_flags);
  if (!p && (alloc_flags & (ALLOC_OOM | ALLOC_NON_BLOCK))) p = __rmqueue_smallest(z, order, MIGRATE_HIGHATOMIC);
  if (p) {
    per_cpu_zonestat *pcz = this_cpu_zonestat(z);
    __mod_zonestat(z, pcz, NR_ZONE_ALLOCATED, long(1) << order);
    __count_zonestat_event(pcz, PGALLOC, 1ul << order);
  }
  return p;
}

// Takes a block of `order` for a request of type mt from this CPU's list of
// the zone, refilling the list with a batch from the buddy lists when it is
// empty. The block comes back counted as allocated. Returns nullptr when the
// refill found nothing, or the list is locked (this CPU was interrupted
// holding it, or another CPU is draining it): the caller goes to the buddy
// lists then.
static page *rmqueue_pcplist(const mem_system &ms, zone *z, unsigned order, int mt, unsigned alloc_flags) {
  per_cpu_pages *pcp = this_cpu_pcp(ms, z);
  if (unlikely(!spin_trylock(&pcp->lock))) return nullptr;
  unsigned pindex = order_to_pindex(mt, order);
  if (unlikely(list_empty(&pcp->lists[pindex]))) {
    int batch = pcp->batch;
    if (order) batch = (batch >> order) > 2 ? batch >> order : 2;
    rmqueue_bulk(z, order, batch, pcp, mt, alloc_flags);
  }
  page *p = pcp_take_locked(pcp, pindex, order);
  spin_unlock(&pcp->lock);
  return p;
}

// Gives a block straight to the buddy lists, counting it as freed. A block
// larger than a pageblock goes back a pageblock at a time, each to its own
// type's lists (they merge again where the types allow).
static void free_one_page(zone *z, page *p, unsigned order) {
  spin_lock_irqsave_guard g(z->lock);
  per_cpu_zonestat *pcz = this_cpu_zonestat(z);
  __mod_zonestat(z, pcz, NR_ZONE_ALLOCATED, -(long(1) << order));
  __count_zonestat_event(pcz, PGFREE, 1ul << order);
  unsigned long pfn = zone_page_to_pfn(z, p), end = pfn + (1ul << order);
  unsigned piece = order > pageblock_order ? pageblock_order : order;
  for (; pfn < end; pfn += 1ul << piece) __free_one_page(z, pfn, piece, get_pfnblock_migratetype(z, pfn));
}

__attribute__((noinline, cold)) void drain_pcp_excess(per_cpu_pages *pcp) {
  spin_lock_guard g(pcp->lock);
  if (pcp->count >= pcp->high) free_pcppages_bulk(pcp->owner, pcp->batch, pcp);
}

// Frees a small block through this CPU's list of the zone, the list of its
// pageblock's type. A page of the highatomic reserve goes back to the
// reserve's own lists instead (Linux parks it on the MOVABLE per-CPU list,
// where an ordinary request may take it before it drains back); so would a
// page of an isolated pageblock, though none can be freed (isolation takes
// only pageblocks whose every page is free).
static void free_unref_page(const mem_system &ms, zone *z, page *p, unsigned order) {
  per_cpu_pages *pcp = this_cpu_pcp(ms, z);
  if (unlikely(!spin_trylock(&pcp->lock))) {
    free_one_page(z, p, order);
    return;
  }
  int mt = get_pageblock_migratetype(z, p);
  if (unlikely(mt >= MIGRATE_PCPTYPES)) {
    spin_unlock(&pcp->lock);
    free_one_page(z, p, order);
    return;
  }
  bool over_high = pcp_put_locked(pcp, p, order, mt, p->flags);
  spin_unlock(&pcp->lock);
  if (unlikely(over_high)) drain_pcp_excess(pcp);
}

static void drain_pages_zone(zone *z, per_cpu_pages *pcp) {
  spin_lock_guard g(pcp->lock);
  if (pcp->count) free_pcppages_bulk(z, pcp->count, pcp);
}

// Also folds this CPU's counter deltas: a CPU that gives back its pages is
// going quiet (Linux folds them when a CPU goes offline).
void drain_local_pages(mem_system &ms) {
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) if (managed_zone(z)) drain_pages_zone(z, this_cpu_pcp(ms, z));
  refresh_cpu_vm_stats(ms);
}

void drain_remote_node_pages(mem_system &ms) {
  const int nid = ms.cpu_to_node[this_cpu_slot()];
  for_each_online_pgdat(ms, pgdat) {
    if (pgdat->node_id == nid) continue;
    for_each_zone_of(pgdat, z) {
      per_cpu_pages *pcp = this_cpu_pcp(ms, z);
      if (managed_zone(z) && READ_ONCE(pcp->count)) drain_pages_zone(z, pcp);
    }
  }
}

void drain_all_pages(mem_system &ms) {
  for_each_online_pgdat(ms, pgdat)
    for_each_zone_of(pgdat, z) if (managed_zone(z)) for (unsigned c = 0; c < ms.nr_cpus; c++)
      drain_pages_zone(z, &z->pcp[c]);
}

// ---- allocation ----------------------------------------------------------------------

static bool use_pcp(const mem_system &ms, unsigned order) {
  return order <= PAGE_ALLOC_COSTLY_ORDER && !ms.pcp_disabled;
}

// Takes a block for a request of type mt from the zone: through the per-CPU
// list for small orders, else (or when that finds nothing) from the buddy
// lists. Counts it as allocated.
static page *rmqueue(mem_system &ms, zone *z, unsigned order, int mt, unsigned alloc_flags) {
  if (use_pcp(ms, order))
    if (page *p = rmqueue_pcplist(ms, z, order, mt, alloc_flags)) return p;
  return rmqueue_buddy(z, order, mt, alloc_flags);
}

static void prep_compound_page(page *head, unsigned order) {
  set_page_flag(head, PG_head);
  for (unsigned long i = 1; i < (1ul << order); i++) head[i].compound_head = reinterpret_cast<unsigned long>(head) | 1;
  head[1].compound_order = u8(order);
}

// A free page already has mapcount -1, no mapping and index 0 (the free path
// sees to that), so only the reference and the order need setting.
static inline void prep_new_page(mem_system &ms, page *p, unsigned order, gfp_t gfp) {
  p->alloc_order = u8(order);
  set_page_count(p, 1);
  if ((gfp & __GFP_COMP) && order > 0) prep_compound_page(p, order);
  if (gfp & __GFP_ZERO) {
    // Highmem has no permanent mapping; the arch's direct map still reaches it
    // on the host, the only place a highmem zone exists.
    memset(phys_to_virt(page_to_phys(ms, p)), 0, PAGE_SIZE << order);
  }
}

// Linux's alloc_flags_nofragment: a request whose first zone is Normal, with
// DMA32 below it, first takes no pageblock of another type smaller than a
// whole one (ALLOC_NOFRAGMENT), and so tries DMA32 before it mixes types in
// Normal. On a NUMA machine a node without DMA32 gets no such flag.
static unsigned alloc_flags_nofragment(const mem_system &ms, const zone *z) {
  if (!z || z->idx != ZONE_NORMAL) return 0;
  if (ms.nr_online_nodes > 1 && !populated_zone(&z->zone_pgdat->node_zones[ZONE_DMA32])) return 0;
  return ALLOC_NOFRAGMENT;
}

static page *get_page_from_freelist(mem_system &ms, gfp_t gfp, unsigned order, unsigned alloc_flags,
                                    const alloc_context &ac) {
retry:
  zone *preferred = nullptr;
  for (zone **zp = ac.pgdat->zonelist; *zp; zp++) {
    zone *z = *zp;
    if (!zone_allowed(ac, z)) continue;
    if (!preferred) preferred = z;
    // Locality matters more than fragmentation: before going to another
    // node, mix types on this one.
    if ((alloc_flags & ALLOC_NOFRAGMENT) && z->zone_pgdat != preferred->zone_pgdat) {
      alloc_flags &= ~ALLOC_NOFRAGMENT;
      goto retry;
    }
    // Every request here has a watermark: nothing grants ALLOC_NO_WATERMARKS
    // (__GFP_MEMALLOC is not honoured, and there is no OOM killer).
    unsigned long mark = z->_watermark[alloc_flags & ALLOC_WMARK_MASK];
    if (!zone_watermark_ok(z, order, mark, ac.highest_zoneidx, alloc_flags)) continue;
    if (page *p = rmqueue(ms, z, order, ac.migratetype, alloc_flags)) {
      kasan_unpoison_pages(z, p, order);
      prep_new_page(ms, p, order, gfp);
      if (unlikely(alloc_flags & ALLOC_HIGHATOMIC)) reserve_highatomic_pageblock(z, p, order);
      return p;
    }
    count_zone_vm_events(z, PGALLOC_FAIL, 1);
  }
  // Every zone would have had to mix types: mix them after all.
  if (alloc_flags & ALLOC_NOFRAGMENT) {
    alloc_flags &= ~ALLOC_NOFRAGMENT;
    goto retry;
  }
  return nullptr;
}

static void wake_all_kswapds(const alloc_context &ac, gfp_t gfp, unsigned order) {
  for (zone **zp = ac.pgdat->zonelist; *zp; zp++)
    if ((*zp)->idx <= ac.highest_zoneidx) wakeup_kswapd(*zp, gfp, order, ac.highest_zoneidx);
}

static void warn_alloc(gfp_t gfp, unsigned order, const char *what) {
  if (gfp & __GFP_NOWARN) return;
  char mode[128];
  format_gfp(mode, sizeof(mode), gfp);
  pr_warn("swapper/%u: %s: order:%u, mode:%#x(%s), nodemask=(null)\n", smp_processor_id(), what, order,
          gfp, mode);
}

// Linux's __alloc_pages_direct_reclaim: reclaim, then retry; if that fails,
// pages may be parked on per-CPU lists or in the highatomic reserve: after
// reclaim that made progress, give one reserved pageblock back (keeping the
// last), drain, and retry once more. (Linux drains only after progress; with
// no LRU to reclaim from here, progress is rare, and the drain is what can
// still help.) Sets *progress to the pages reclaim freed.
static page *__alloc_pages_direct_reclaim(mem_system &ms, gfp_t gfp, unsigned order, unsigned alloc_flags,
                                          const alloc_context &ac, unsigned long *progress) {
  *progress = try_to_free_pages(ms, gfp, order, ac.pgdat->node_id);
  if (page *p = get_page_from_freelist(ms, gfp, order, alloc_flags, ac)) return p;
  if (*progress) unreserve_highatomic_pageblock(ac, false);
  drain_all_pages(ms);
  return get_page_from_freelist(ms, gfp, order, alloc_flags, ac);
}

// Linux's __alloc_pages_direct_compact: compaction at prio, then a retry.
static page *__alloc_pages_direct_compact(mem_system &ms, gfp_t gfp, unsigned order, unsigned alloc_flags,
                                          const alloc_context &ac, compact_priority prio, compact_result *result) {
  *result = try_to_compact_pages(ms, gfp, order, alloc_flags, ac, prio);
  page *p = nullptr;
  if (*result != COMPACT_SKIPPED && *result != COMPACT_NOT_SUITABLE_ZONE)
    p = get_page_from_freelist(ms, gfp, order, alloc_flags, ac);
  compaction_alloc_result(ms, p, order, *result);
  return p;
}

bool should_compact_retry(unsigned order, compact_result result, compact_priority *prio, int *retries) {
  if (order == 0) return false;
  if (result == COMPACT_SUCCESS) {
    ++*retries;
    int max_retries = order > PAGE_ALLOC_COSTLY_ORDER ? MAX_COMPACT_RETRIES / 4 : MAX_COMPACT_RETRIES;
    if (*retries <= max_retries) return true;
  }
  compact_priority min_priority = order > PAGE_ALLOC_COSTLY_ORDER ? MIN_COMPACT_COSTLY_PRIORITY : MIN_COMPACT_PRIORITY;
  if (*prio > min_priority) {
    *prio = compact_priority(*prio - 1);
    *retries = 0;
    return true;
  }
  return false;
}

// Linux's should_reclaim_retry: whether another round of reclaim is worth it.
// Rounds without progress (and every round of a costly order, whose blocks
// reclaim may not have freed) count, up to MAX_RECLAIM_RETRIES; while some
// zone would pass its min watermark with the free pages and what reclaim
// could still free (nothing outside the shrinkers here), go on. Before
// giving up, give back a highatomic pageblock, even the last, and go on if
// there was one.
static bool should_reclaim_retry(unsigned order, const alloc_context &ac, unsigned alloc_flags,
                                 unsigned long progress, int *no_progress_loops) {
  if (progress && order <= PAGE_ALLOC_COSTLY_ORDER) *no_progress_loops = 0;
  else ++*no_progress_loops;
  if (*no_progress_loops <= MAX_RECLAIM_RETRIES) {
    for (zone **zp = ac.pgdat->zonelist; *zp; zp++) {
      const zone *z = *zp;
      if (!zone_allowed(ac, z)) continue;
      // The exact count, as Linux reads it here: giving up is no decision
      // to take on a total that the CPUs' deltas may be off by.
      if (__zone_watermark_ok(z, order, min_wmark_pages(z), ac.highest_zoneidx, alloc_flags,
                              zone_page_state_snapshot(z, NR_FREE_PAGES)))
        return true;
    }
  }
  return unreserve_highatomic_pageblock(ac, true);
}

// Basic algorithm of the slow path (Linux's __alloc_pages_slowpath):
//  1. wake kswapd, then retry against min as reduced by the caller's reserves
//     (a high-order atomic request may use the highatomic reserve, and
//     reserves a pageblock for it when it succeeds);
//  2. a caller that cannot sleep drains the per-CPU lists, retries, and
//     fails there;
//  3. a costly order, or a high order that is not movable, first tries
//     direct compaction (async) before any reclaim; a costly __GFP_NORETRY
//     request that compaction skipped or deferred gives up there;
//  4. direct reclaim (the shrinkers), retry, then drain and retry; then
//     direct compaction for any order above 0, at the current priority;
//  5. __GFP_NORETRY and costly orders without __GFP_RETRY_MAYFAIL give up
//     after one round; others go on while should_reclaim_retry or
//     should_compact_retry says so;
//  6. __GFP_NOFAIL never gives up.
__attribute__((noinline, cold)) static page *__alloc_pages_slowpath(mem_system &ms, gfp_t gfp,
                                                                   unsigned order, const alloc_context &ac) {
  unsigned alloc_flags = gfp_to_alloc_flags(gfp, order);
  bool can_reclaim = gfpflags_allow_blocking(gfp);
  bool can_compact = can_reclaim && order > 0;
  bool costly_order = order > PAGE_ALLOC_COSTLY_ORDER;
  int no_progress_loops = 0, compaction_retries = 0;
  compact_priority compact_prio = DEF_COMPACT_PRIORITY;
  compact_result compact_res = COMPACT_SKIPPED;
  unsigned long nofail_rounds = 0;
  if (alloc_flags & ALLOC_KSWAPD) wake_all_kswapds(ac, gfp, order);
  if (page *p = get_page_from_freelist(ms, gfp, order, alloc_flags, ac)) return p;
  // Compaction before reclaim for what reclaim alone rarely helps: costly
  // orders, and high orders that could not fall back to movable blocks.
  if (can_compact && (costly_order || ac.migratetype != MIGRATE_MOVABLE)) {
    if (page *p = __alloc_pages_direct_compact(ms, gfp, order, alloc_flags, ac, INIT_COMPACT_PRIORITY, &compact_res))
      return p;
    if (costly_order && (gfp & __GFP_NORETRY)) {
      if (compact_res == COMPACT_SKIPPED || compact_res == COMPACT_DEFERRED) goto nopage;
      compact_prio = INIT_COMPACT_PRIORITY;  // the caller wants it cheap: stay async
    }
  }
  for (;;) {
    if (alloc_flags & ALLOC_KSWAPD) wake_all_kswapds(ac, gfp, order);
    if (page *p = get_page_from_freelist(ms, gfp, order, alloc_flags, ac)) return p;
    if (can_reclaim) {
      unsigned long progress;
      if (page *p = __alloc_pages_direct_reclaim(ms, gfp, order, alloc_flags, ac, &progress)) return p;
      if (can_compact)
        if (page *p = __alloc_pages_direct_compact(ms, gfp, order, alloc_flags, ac, compact_prio, &compact_res))
          return p;
      bool give_up = (gfp & __GFP_NORETRY) || (costly_order && !(gfp & __GFP_RETRY_MAYFAIL));
      if (!give_up && should_reclaim_retry(order, ac, alloc_flags, progress, &no_progress_loops)) continue;
      if (!give_up && can_compact && should_compact_retry(order, compact_res, &compact_prio, &compaction_retries))
        continue;
    } else {
      drain_all_pages(ms);
      if (page *p = get_page_from_freelist(ms, gfp, order, alloc_flags, ac)) return p;
    }
    if (!(gfp & __GFP_NOFAIL)) break;
    // __GFP_NOFAIL: a little of the min reserve, then keep trying.
    if (page *p = get_page_from_freelist(ms, gfp, order, alloc_flags | ALLOC_MIN_RESERVE, ac)) return p;
    if (++nofail_rounds % 1000 == 1) warn_alloc(gfp & ~__GFP_NOWARN, order, "__GFP_NOFAIL allocation keeps failing");
    kswapd_run(ms);
  }
nopage:
  warn_alloc(gfp, order, "page allocation failure");
  return nullptr;
}

// Never inlined into the fast path, which must stay free of register saves.
__attribute__((noinline)) page *__alloc_pages(mem_system &ms, gfp_t gfp, unsigned order, int preferred_nid) {
  if (order > MAX_PAGE_ORDER) {
    warn_alloc(gfp, order, "page allocation failure: order too large");
    return nullptr;
  }
  int classzone = gfp_zone(gfp);
  if (classzone == ZONE_INVALID) {
    // A caller bug; Linux BUG()s. Fail the allocation and say why.
    warn_alloc(gfp & ~__GFP_NOWARN, order, "page allocation failure: contradictory zone modifiers");
    return nullptr;
  }
  int migratetype = gfp_to_migratetype(ms, gfp);
  if (migratetype == MIGRATE_TYPE_INVALID) {
    // Also a caller bug (Linux warns under CONFIG_DEBUG_VM, then takes from
    // the highatomic reserve): fail it, and say why.
    warn_alloc(gfp & ~__GFP_NOWARN, order, "page allocation failure: both __GFP_MOVABLE and __GFP_RECLAIMABLE");
    return nullptr;
  }
  if (should_fail_alloc_page(ms.fail_page_alloc, gfp, order) ||
      (ms.should_fail_alloc_page && !(gfp & __GFP_NOFAIL) && ms.should_fail_alloc_page(ms.fail_alloc_ctx, gfp, order))) {
    warn_alloc(gfp, order, "page allocation failure: fault injected");
    return nullptr;
  }
  int nid = nearest_memory_node(ms, preferred_nid);
  alloc_context ac = {ms.node_data[nid], classzone, (gfp & __GFP_THISNODE) != 0, migratetype};
  // The first attempt: the low watermark, and no fragmenting of Normal while
  // DMA32 could serve (Linux adds ALLOC_NOFRAGMENT here only).
  const zone *preferred = ms.node_data[nid]->preferred_zone[classzone];
  page *p = get_page_from_freelist(ms, gfp, order, ALLOC_WMARK_LOW | alloc_flags_nofragment(ms, preferred), ac);
  if (!p) p = __alloc_pages_slowpath(ms, gfp, order, ac);
  if (unlikely(ms.check_calls) && p) check_alloc_call(ms, p, order, gfp, nid);
  return p;
}

// The fast path (mm/page_alloc_fast.h) out of line: every miss is a tail
// call to __alloc_pages. Nor does it set up a frame: a fault in it shows in
// a backtrace through the trap's epc and ra.
__attribute__((optimize("omit-frame-pointer"))) page *alloc_pages_var(mem_system &ms, gfp_t gfp, unsigned order) {
  return alloc_pages_fastpath(ms, gfp, order);
}

page *alloc_pages_node(mem_system &ms, int nid, gfp_t gfp, unsigned order) {
  if (nid == NUMA_NO_NODE) return alloc_pages_var(ms, gfp, order);
  return __alloc_pages(ms, gfp, order, nid);
}

unsigned long __get_free_pages(mem_system &ms, gfp_t gfp, unsigned order) {
  page *p = alloc_pages_var(ms, gfp & ~__GFP_HIGHMEM, order);
  return p ? reinterpret_cast<unsigned long>(page_address(ms, p)) : 0;
}

unsigned long get_zeroed_page(mem_system &ms, gfp_t gfp) { return __get_free_pages(ms, gfp | __GFP_ZERO, 0); }

page *alloc_pages_node(int nid, gfp_t gfp, unsigned order) { return alloc_pages_node(*system_mem, nid, gfp, order); }
unsigned long __get_free_pages(gfp_t gfp, unsigned order) { return __get_free_pages(*system_mem, gfp, order); }
unsigned long get_zeroed_page(gfp_t gfp) { return get_zeroed_page(*system_mem, gfp); }

#ifdef MM_HOST
fast_path_counts host_fast_path_served;
void fast_path_served_alloc(const zone *z, const page *p, unsigned order) {
  __atomic_fetch_add(&host_fast_path_served.allocs, 1, __ATOMIC_RELAXED);
  kasan_unpoison_pages(z, p, order);
}
void fast_path_served_free(const zone *z, const page *p, unsigned order) {
  __atomic_fetch_add(&host_fast_path_served.frees, 1, __ATOMIC_RELAXED);
  kasan_poison_pages(z, p, order);
}
#endif

// ---- freeing -------------------------------------------------------------------------

// Why freeing this block would be a bug, or nullptr when it is fine.
static const char *free_page_problem(const page *p, unsigned order) {
  if (PageBuddy(p) || PagePcp(p)) return "page is already free";
  if (PageTail(p)) return "freeing a tail page of a compound page";
  if (page_ref_count(p) <= 0) return "refcount is 0: not the first page of an allocation, or already freed";
  if (PageReserved(p)) return "PAGE_FLAGS_CHECK_AT_FREE flag(s) set: reserved";
  if (PageSlab(p)) return "PAGE_FLAGS_CHECK_AT_FREE flag(s) set: slab";
  if (PageLargeKmalloc(p)) return "PAGE_FLAGS_CHECK_AT_FREE flag(s) set: large_kmalloc (free it with kfree)";
  // A movable page has two holders while isolated (its owner and the
  // isolator), and either may drop its reference first; the last one must
  // find the page neither movable nor isolated.
  if (page_ref_count(p) == 1 && PageMovable(p))
    return "PAGE_FLAGS_CHECK_AT_FREE flag(s) set: movable (its owner must __ClearPageMovable first)";
  if (page_ref_count(p) == 1 && PageIsolated(p)) return "PAGE_FLAGS_CHECK_AT_FREE flag(s) set: isolated for migration";
  if (p->alloc_order != order) return "freed with another order than it was allocated with";
  if (p->_mapcount != -1) return "nonzero mapcount";
  return nullptr;
}

static void free_the_page(mem_system &ms, page *p, unsigned order) {
  zone *z = page_zone(ms, p);
  if (PageHead(p)) {
    clear_page_flag(p, PG_head);
    for (unsigned long i = 1; i < (1ul << order); i++) p[i].compound_head = 0;
    p[1].compound_order = 0;
  }
  reset_freed_page(p, order);
  kasan_poison_pages(z, p, order);
  if (use_pcp(ms, order)) free_unref_page(ms, z, p, order);
  else free_one_page(z, p, order);
}

__attribute__((noinline)) void free_pages_general(mem_system &ms, page *p, unsigned order) {
  if (!p) {
    bad_page(ms, nullptr, 0, "__free_pages of a NULL page");
    return;
  }
  if (order > MAX_PAGE_ORDER) {
    bad_page(ms, p, page_to_pfn(ms, p), "order too large");
    return;
  }
  if (const char *problem = free_page_problem(p, order)) {
    bad_page(ms, p, page_to_pfn(ms, p), problem);
    return;
  }
  // Only the last reference frees.
  if (__atomic_sub_fetch(&p->_refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
  unsigned long pfn = page_to_pfn(ms, p);
  free_the_page(ms, p, order);
  if (unlikely(ms.check_calls)) check_free_call(ms, pfn);
}

// The fast path (mm/page_alloc_fast.h) out of line, as alloc_pages_var.
__attribute__((optimize("omit-frame-pointer"))) void __free_pages_var(mem_system &ms, page *p, unsigned order) {
  free_pages_fastpath(ms, p, order);
}

void put_page(mem_system &ms, page *p) {
  page *head = compound_head(p);
  __free_pages_var(ms, head, head->alloc_order);
}

void free_pages(mem_system &ms, unsigned long addr, unsigned order) {
  if (addr == 0) return;
  unsigned long pfn = PHYS_PFN(virt_to_phys(reinterpret_cast<const void *>(addr)));
  page *p = pfn_to_page(ms, pfn);
  if (!p) {
    bad_page(ms, nullptr, pfn, "free_pages: address outside every zone");
    return;
  }
  if (addr & ~PAGE_MASK) {
    bad_page(ms, p, pfn, "free_pages: address not page aligned");
    return;
  }
  __free_pages_var(ms, p, order);
}

void free_pages(unsigned long addr, unsigned order) { free_pages(*system_mem, addr, order); }

// ---- totals -----------------------------------------------------------------------------

unsigned long nr_free_pages(const mem_system &ms) {
  unsigned long n = 0;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) n += static_cast<unsigned long>(zone_page_state_snapshot(z, NR_FREE_PAGES));
  return n;
}

unsigned long nr_free_pcp_pages(const mem_system &ms) {
  unsigned long n = 0;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) n += static_cast<unsigned long>(zone_page_state(z, NR_PCP_PAGES));
  return n;
}

// Linux's si_mem_available, with no page cache yet: free pages less what the
// kernel keeps back, plus the part of reclaimable slab that reclaim could
// give back without going below the low watermarks.
unsigned long si_mem_available(const mem_system &ms) {
  long wmark_low = 0;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) wmark_low += long(low_wmark_pages(z));
  long available = long(nr_free_pages(ms)) - long(ms.totalreserve_pages);
  long reclaimable = long(global_node_page_state_snapshot(ms, NR_SLAB_RECLAIMABLE));
  available += reclaimable - (reclaimable / 2 < wmark_low ? reclaimable / 2 : wmark_low);
  return available < 0 ? 0 : static_cast<unsigned long>(available);
}

// The page allocator's fast paths (Linux's rmqueue_pcplist and the common
// case of free_unref_page): this CPU's per-CPU list of the request's first
// zone, reached with one load through mem_system's route tables. Included
// by mm/page_alloc.h; not an API of its own.
//
// One body, two ways in:
//  - alloc_pages_var / __free_pages_var (page_alloc.cpp), out of line, for
//    a gfp or order known only at run time;
//  - the alloc_pages / __free_pages wrappers of mm/page_alloc.h, which
//    inline the body into the caller when gfp and order are compile-time
//    constants. The request's own checks then fold away: the route's index
//    and the classzone are constants, so is the list's index for an
//    unmovable request, the order tests and the __GFP_ZERO / __GFP_COMP /
//    __GFP_THISNODE test vanish, and a request the fast path never serves
//    (too high an order, a flag it leaves to the general path) compiles to
//    the general path's call alone.
// What depends on the machine is still tested on every call, constant or
// not: the route (no zone, contradictory flags), the tunables that send
// every request to the general paths (fast_paths_off), the watermark, the
// list's lock, and on free every check of the page and its pageblock's type.
// Every miss goes to the general path (__alloc_pages, free_pages_general),
// which starts over and makes every check itself.
#pragma once

#include "arch/arch.h"
#include "mm/kasan.h"
#include "mm/mmzone.h"
#include "mm/page.h"
#include "mm/page_alloc_internal.h"

// ---- what a served request still does --------------------------------------------
// KASAN's poisoning. The host's test objects are built once, without the
// sanitizer, and linked both with host_mm and with host_mm_asan
// (proptest/meson.build): the host's hooks, out of line, ask the library
// they are linked with to poison, and also count what the fast paths
// served, since a fast path that always hands on to the general path gives
// the same answers, only slower, and nothing else would tell. The kernel's
// hooks are empty and inline.
#ifdef MM_HOST
struct fast_path_counts {
  unsigned long allocs, frees;  // relaxed atomic increments
};
extern fast_path_counts host_fast_path_served;
void fast_path_served_alloc(const zone *z, const page *p, unsigned order);
void fast_path_served_free(const zone *z, const page *p, unsigned order);
#else
inline void fast_path_served_alloc(const zone *z, const page *p, unsigned order) { kasan_unpoison_pages(z, p, order); }
inline void fast_path_served_free(const zone *z, const page *p, unsigned order) { kasan_poison_pages(z, p, order); }
#endif

// ---- the general paths the fast ones fall back to (page_alloc.cpp) ----------------
page *__alloc_pages(mem_system &ms, gfp_t gfp, unsigned order, int preferred_nid);
// Every check of a free, the bad-page report, the refcount drop, mm.check.
void free_pages_general(mem_system &ms, page *p, unsigned order);
// Gives back `batch` pages once the list has reached its high mark.
void drain_pcp_excess(per_cpu_pages *pcp);

// Whether a tunable sends every free to the general path: pcp_disabled or
// mm.check (check_calls), one load of the word they share.
inline bool free_fast_paths_off(const mem_system &ms) { return READ_ONCE(ms.general_paths_only) != 0; }
// The same for allocations, which fault injection (fail_page_alloc with a
// non-zero probability) sends there too.
inline bool fast_paths_off(const mem_system &ms) {
  return (READ_ONCE(ms.general_paths_only) | READ_ONCE(ms.fail_page_alloc.attr.probability)) != 0;
}

// The fast path's watermark check (Linux's zone_watermark_fast): the low
// watermark plus the classzone's lowmem_reserve over the free pages less
// the highatomic reserve, and for order > 0 a block of that order of an
// ordinary type on the buddy lists.
inline bool fast_watermark_ok(const zone *z, unsigned order, long classzone) {
  long mark = long(low_wmark_pages(z)) + z->lowmem_reserve[classzone];
  long free = READ_ONCE(z->vm_stat[NR_FREE_PAGES]) - long(READ_ONCE(z->nr_reserved_highatomic));
  if (likely(order == 0)) return free > mark;
  if (free - ((1l << order) - 1) <= mark) return false;
  return zone_has_suitable_block(z, order, 0);
}

// ---- the per-CPU lists (all under the list's lock) -----------------------------------

// The pcp's counters change only under its lock (add_locked): no atomic
// arithmetic on the fast path. flags: the page's flags as its owner last
// set them (only the owner changes them; the free path has them at hand).
inline void pcp_add(per_cpu_pages *pcp, page *p, unsigned long pindex, unsigned order, bool tail, unsigned long flags) {
  list_head *head = &pcp->lists[pindex];
  // The head's address formed once: GCC otherwise folds part of it into the
  // load of head->next and forms it again for the stores, two instructions
  // more on every free.
  asm("" : "+r"(head));
  WRITE_ONCE(p->flags, flags | 1ul << PG_pcp);
  p->private_ = order;
  if (tail) list_add_tail(&p->lru, head);
  else list_add(&p->lru, head);
  add_locked(pcp->count, 1 << order);
}

// private_ keeps its stale order: it means something only while PG_pcp or
// PG_buddy is set. The entry is unlinked without poisoning: the caller owns
// the page from here and overwrites lru or leaves it unused.
inline void pcp_del(per_cpu_pages *pcp, page *p, unsigned order) {
  __list_del(p->lru.prev, p->lru.next);
  clear_page_flag(p, PG_pcp);
  add_locked(pcp->count, -(1 << order));
}

// Takes the first block off the pcp's list pindex (of `order`), counting it
// as allocated; nullptr when that list is empty.
inline page *pcp_take_locked(per_cpu_pages *pcp, unsigned pindex, unsigned order) {
  list_head *list = &pcp->lists[pindex];
  list_head *first = READ_ONCE(list->next);  // list_empty's load, used again
  if (unlikely(first == list)) return nullptr;
  page *p = list_entry(first, page, lru);
  // pcp_del, knowing that the first entry's prev is the list itself.
  __list_del(list, first->next);
  clear_page_flag(p, PG_pcp);
  add_locked(pcp->count, -(1 << order));
  add_locked(pcp->pgalloc, 1ul << order);
  return p;
}

// Puts a freed block on the pcp's list for its pageblock's type mt, counting
// it as freed; returns whether the pcp has reached its high mark.
inline bool pcp_put_locked(per_cpu_pages *pcp, page *p, unsigned order, int mt, unsigned long flags) {
  pcp_add(pcp, p, order_to_pindex(mt, order), order, false, flags);
  add_locked(pcp->pgfree, 1ul << order);
  return pcp->count >= pcp->high;
}

// What a free page must look like to its next owner (prep_new_page relies
// on it). The caller has checked that alloc_order is `order`: for a
// constant order 0 it is already right.
inline void reset_freed_page(page *p, unsigned order) {
  if (order != 0) p->alloc_order = 0;
  p->mapping = nullptr;
  p->index = 0;
}

// ---- the fast paths ------------------------------------------------------------------

// Flags the fast paths leave to the general path.
constexpr gfp_t ALLOC_FAST_EXCLUDED = __GFP_ZERO | __GFP_COMP | __GFP_THISNODE;

// Flags that make a free wrong, or not an ordinary one.
constexpr unsigned long FREE_FAST_MASK = (1ul << PG_reserved) | (1ul << PG_buddy) | (1ul << PG_pcp) |
                                         (1ul << PG_head) | (1ul << PG_slab) | (1ul << PG_poisoned) |
                                         (1ul << PG_large_kmalloc) | (1ul << PG_movable) | (1ul << PG_isolated);

// Whether the request's route may lead to lists: not for a constant request
// whose zone or mobility flags contradict each other (a caller bug the
// general path reports), which then compiles to the general path alone. At
// run time the route's nullptr says it.
__attribute__((always_inline)) inline bool route_may_exist(gfp_t gfp) {
  return !__builtin_constant_p(gfp) || (gfp_zone(gfp) != ZONE_INVALID && gfp_migratetype(gfp) != MIGRATE_TYPE_INVALID);
}
// The route's migrate type, which for a constant request without mobility
// flags is MIGRATE_UNMOVABLE whatever the machine (gfp_to_migratetype).
__attribute__((always_inline)) inline int route_migratetype(const pcp_route &route, gfp_t gfp) {
  if (__builtin_constant_p(gfp) && gfp_migratetype(gfp) == MIGRATE_UNMOVABLE) return MIGRATE_UNMOVABLE;
  return route.migratetype;
}
// The route's classzone: gfp_zone() of its flags, folded for a constant request.
__attribute__((always_inline)) inline long route_classzone(const pcp_route &route, gfp_t gfp) {
  if (__builtin_constant_p(gfp)) return gfp_zone(gfp);
  return route.classzone;
}

// A small order with no special treatment, from the first zone the request
// may use (the route also gives its migrate type), if that zone is above
// its low watermark and this CPU's list for the type and order has a
// block; else the general path, which starts by trying the same zone.
// Calls nothing else: out of line, every miss is a tail call, so it saves no
// registers; it masks no interrupts (the list's lock is a trylock, see
// per_cpu_pages).
__attribute__((always_inline)) inline page *alloc_pages_fastpath(mem_system &ms, gfp_t gfp, unsigned order) {
  const unsigned cpu = this_cpu_slot();
  const pcp_route &route = ms.alloc_route[gfp & GFP_ROUTE_MASK][cpu];
  per_cpu_pages *pcp = route.pcp;
  if (likely(route_may_exist(gfp) && pcp != nullptr && order <= PAGE_ALLOC_COSTLY_ORDER &&
             !(gfp & ALLOC_FAST_EXCLUDED) && !fast_paths_off(ms)) &&
      likely(fast_watermark_ok(pcp->owner, order, route_classzone(route, gfp))) && likely(spin_trylock(&pcp->lock))) {
    page *p = pcp_take_locked(pcp, order_to_pindex(route_migratetype(route, gfp), order), order);
    spin_unlock(&pcp->lock);
    if (likely(p != nullptr)) {
      fast_path_served_alloc(pcp->owner, p, order);
      // A free page's alloc_order is 0 (reset_freed_page; the checker
      // verifies it): a constant order 0 leaves it.
      if (order != 0) p->alloc_order = u8(order);
      set_page_count(p, 1);
      return p;
    }
  }
  return __alloc_pages(ms, gfp, order, ms.cpu_to_node[cpu]);
}

// The last reference to an ordinary small block, with nothing wrong about
// it, goes straight to this CPU's list of its zone for its pageblock's type
// (read on every free, as Linux does). Anything else, a highatomic or
// isolated pageblock's page included, goes to the general path, which
// checks it all again and reports what is wrong. Calls nothing else, as the
// allocation's fast path.
__attribute__((always_inline)) inline void free_pages_fastpath(mem_system &ms, page *p, unsigned order) {
  // Only the page's owner, the caller, changes its flags: read them once.
  unsigned long flags;
  if (likely(p != nullptr && order <= PAGE_ALLOC_COSTLY_ORDER && !free_fast_paths_off(ms) && p->_refcount == 1 &&
             p->_mapcount == -1 && !((flags = p->flags) & FREE_FAST_MASK) && p->alloc_order == order)) {
    per_cpu_pages *pcp = ms.free_route[page_zoneid(p)][this_cpu_slot()];
    if (likely(pcp != nullptr) && likely(spin_trylock(&pcp->lock))) {
      int mt = get_pageblock_migratetype(pcp->owner, p);
      if (likely(mt < MIGRATE_PCPTYPES)) {
        set_page_count(p, 0);
        reset_freed_page(p, order);
        fast_path_served_free(pcp->owner, p, order);
        bool over_high = pcp_put_locked(pcp, p, order, mt, flags);
        spin_unlock(&pcp->lock);
        if (unlikely(over_high)) drain_pcp_excess(pcp);
        return;
      }
      spin_unlock(&pcp->lock);
    }
  }
  free_pages_general(ms, p, order);
}

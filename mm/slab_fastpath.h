// The slab allocator's fast paths, inline in every entry point
// (kmem_cache_alloc/free, kmalloc/kfree): an object off, or onto, the
// freelist of a slab this CPU owns, inside local_lock_irqsave, with plain
// loads and stores. Everything else goes out of line to mm/slab_alloc.cpp.
//
// What each fast path checks, and why it stays (docs/benchmarks.md has what
// each costs in instructions):
//   alloc: the link it follows names a free object of the same slab (a
//          corrupted link is reported and not followed, never handed out);
//   free:  the pointer is an object's start (a multiply, exact), and the
//          object is held and not already freed by another CPU (a double
//          free of any object, not only the last one, is refused).
#pragma once

#include "mm/slab_internal.h"

// Flags the fast path leaves to the general path: zone or mobility bits a
// cache ignores with a warning.
constexpr gfp_t SLAB_GENERAL_GFP = __GFP_HIGHMEM | __GFP_MOVABLE;

// ---- out of line (mm/slab_alloc.cpp) -----------------------------------------------
// The fast paths call nothing but these, and only as tail calls, so that
// they need no stack frame.
// Reports a corrupted link at obj and abandons the rest of the freelist.
void freelist_corrupted(kmem_cache *s, page *slab, u64 *onlist, void *obj, void *next);
// The same for the fast path, which holds local_lock_irqsave (flags): drops
// it and returns obj (zeroed for __GFP_ZERO).
void *freelist_corrupted_unlock(kmem_cache *s, page *slab, void *obj, void *next, unsigned long flags, gfp_t gfp);
// kmem_cache_alloc when the fast path cannot serve: odd flags, fault
// injection, another node (nid), debug caches, __GFP_ZERO, mm.check=1, or
// a CPU whose slab has no free object.
void *slab_alloc_general(kmem_cache *s, gfp_t gfp, int nid);
// kfree of what the fast path cannot place: a pfn outside pfn_to_page's
// table, a large kmalloc, anything bad.
void kfree_general(slab_allocator &sa, const void *p);
// A free into a slab this CPU does not own, or of a debug cache's object.
void slab_free_slowpath(kmem_cache *s, page *slab, void *obj, unsigned long i, const char *caller);
[[gnu::cold]] void slab_free_bad_pointer(kmem_cache *s, void *obj, const char *caller);
[[gnu::cold]] void report_double_free(kmem_cache *s, void *obj, const char *caller);

// ---- the freelist ---------------------------------------------------------------------
// Each function needs the freelist's owner: the CPU the slab is frozen to
// (inside local_lock_irqsave), or the holder of the node's list_lock for an
// unfrozen slab.

// Basic algorithm of taking the first free object of a slab (its freelist is
// not empty):
//  1. the head is the slab's raw freelist pointer (kept in struct page, out
//     of reach of stray writes to objects), checked when it became the head;
//  2. the object's bits say it is held;
//  3. the link stored in it is decoded and checked: nullptr (then the slab
//     must have no other free object), or an object of this slab, at an
//     object boundary, marked on the freelist. A link that fails leaves the
//     freelist as it was and returns false with *next_out the bad link, for
//     the caller to report.
[[gnu::always_inline]] inline bool freelist_take(kmem_cache *s, page *slab, void *obj, void **next_out) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(obj), base = addr & ~s->slab_mask;
  u64 *maps = slab_bitmaps_at(s, slab, base);
  const unsigned words = bitmap_words(s);
  const unsigned long i = slab_offset_index(s, addr & s->slab_mask);
  const u64 bit = u64(1) << (i % 64);
  maps[words + i / 64] &= ~bit;
  WRITE_ONCE(maps[i / 64], maps[i / 64] | bit);  // other CPUs read it
  slab->inuse++;
  void *next = freelist_decode(s, obj, *freelist_slot(s, obj));
  *next_out = next;
  const uintptr_t n = reinterpret_cast<uintptr_t>(next);
  if (__builtin_expect(next != nullptr, 1)) {
    const long ni = (n & ~s->slab_mask) == base ? slab_offset_to_index(s, n & s->slab_mask) : -1;
    if (__builtin_expect(ni < 0 || !(maps[words + ni / 64] & (u64(1) << (ni % 64))), 0)) return false;
  } else if (__builtin_expect(slab->inuse != s->objects, 0)) {
    return false;
  }
  slab->freelist = next;
  return true;
}

// freelist_take for the slow paths: a bad link is reported at once.
inline void *freelist_pop(kmem_cache *s, page *slab) {
  void *obj = slab->freelist, *next;
  if (!freelist_take(s, slab, obj, &next))
    freelist_corrupted(s, slab, slab_bitmaps(*s->sa->ms, s, slab) + bitmap_words(s), obj, next);
  return obj;
}

// Puts object i (whose `allocated` bit the caller has just cleared) at the
// head of the freelist.
[[gnu::always_inline]] inline void freelist_push(kmem_cache *s, page *slab, u64 *maps, void *obj, unsigned long i) {
  *freelist_slot(s, obj) = freelist_encode(s, obj, slab->freelist);
  slab->freelist = obj;
  maps[bitmap_words(s) + i / 64] |= u64(1) << (i % 64);
  slab->inuse--;
}

// Frees object i onto the freelist of a slab this CPU owns, if a caller
// holds it (its `allocated` bit set, no other CPU's free pending). Returns
// false, changing nothing, for a double free.
[[gnu::always_inline]] inline bool freelist_free_owned(kmem_cache *s, page *slab, u64 *maps, void *obj,
                                                    unsigned long i) {
  const u64 bit = u64(1) << (i % 64), held = maps[i / 64];
  if (__builtin_expect(!(held & bit) || (READ_ONCE(maps[2 * bitmap_words(s) + i / 64]) & bit), 0)) return false;
  WRITE_ONCE(maps[i / 64], held & ~bit);
  freelist_push(s, slab, maps, obj, i);
  return true;
}

// ---- the fast paths ---------------------------------------------------------------------

// What sends an allocation to slab_alloc_general: flags the fast path does
// not take, a debug cache, fault injection, mm.check=1.
[[gnu::always_inline]] inline bool slab_alloc_needs_general(const kmem_cache *s, gfp_t gfp) {
  const slab_allocator &sa = *s->sa;
  return (gfp & SLAB_GENERAL_GFP) | (s->flags & SLAB_DEBUG_FLAGS) | sa.failslab.attr.probability | sa.ms->check_calls;
}

// The fast path of kmem_cache_alloc: inside local_lock_irqsave, the first
// object of this CPU's slab. Anything else is slab_alloc_general's.
[[gnu::always_inline]] inline void *slab_alloc_fast(kmem_cache *s, gfp_t gfp) {
  if (__builtin_expect(slab_alloc_needs_general(s, gfp), 0)) return slab_alloc_general(s, gfp, NUMA_NO_NODE);
  unsigned long flags = local_lock_irqsave();
  page *slab = s->cpu_slab[smp_processor_id() & (NR_CPUS - 1)].slab;
  void *obj = slab ? slab->freelist : nullptr;
  if (__builtin_expect(!obj, 0)) {
    local_unlock_irqrestore(flags);
    return slab_alloc_general(s, gfp, NUMA_NO_NODE);
  }
  void *next;
  if (__builtin_expect(!freelist_take(s, slab, obj, &next), 0))
    return freelist_corrupted_unlock(s, slab, obj, next, flags, gfp);
  local_unlock_irqrestore(flags);
  if (gfp & __GFP_ZERO) return memset(obj, 0, s->object_size);  // a tail call: memset returns obj
  return obj;
}

// The fast path of kmem_cache_free once obj's slab page is known: its index
// from its offset (a pointer that is not an object's start is refused),
// then, inside local_lock_irqsave, back onto the freelist of a slab this
// CPU owns. Anything else is slab_free_slowpath's.
[[gnu::always_inline]] inline void slab_free_fast(kmem_cache *s, page *slab, void *obj, const char *caller) {
  const uintptr_t off = reinterpret_cast<uintptr_t>(obj) & s->slab_mask;
  const unsigned long i = slab_offset_index(s, off);
  if (__builtin_expect(i * s->size != off || i >= s->objects, 0)) return slab_free_bad_pointer(s, obj, caller);
  if (__builtin_expect(s->flags & SLAB_DEBUG_FLAGS, 0)) return slab_free_slowpath(s, slab, obj, i, caller);
  unsigned long flags = local_lock_irqsave();
  const unsigned cpu = smp_processor_id() & (NR_CPUS - 1);
  if (__builtin_expect(READ_ONCE(slab->slab_frozen) != cpu + 1, 0)) {
    local_unlock_irqrestore(flags);
    return slab_free_slowpath(s, slab, obj, i, caller);
  }
  bool ok = freelist_free_owned(s, slab, slab_bitmaps_at(s, slab, reinterpret_cast<uintptr_t>(obj) - off), obj, i);
  local_unlock_irqrestore(flags);
  if (__builtin_expect(!ok, 0)) return report_double_free(s, obj, caller);
}

// The slab page holding addr, from the direct map's struct page: the page
// itself or its compound head. nullptr when addr is in no slab.
// With `search` false, a pfn that pfn_to_page's table does not cover gives
// nullptr too (the fast path's callers then take their general path).
[[gnu::always_inline]] inline page *virt_to_slab(const mem_system &ms, const void *addr, bool search = true) {
  if (__builtin_expect(!virt_addr_valid(addr), 0)) return nullptr;
  const unsigned long pfn = PHYS_PFN(virt_to_phys(addr));
  page *p = search ? pfn_to_page(ms, pfn) : pfn_to_page_table(ms, pfn);
  if (__builtin_expect(!p, 0)) return nullptr;
  const unsigned long flags = READ_ONCE(p->flags);
  if (__builtin_expect(flags & (u64(1) << PG_slab), 1)) return p;
  // A buddy or per-CPU page's lru.next overlays compound_head: not a tail.
  // Nor is a slab's head page asked for its compound head: that word is
  // slab_list, which other CPUs relink.
  if (flags & (u64(1) << PG_buddy | u64(1) << PG_pcp)) return nullptr;
  p = compound_head(p);
  return PageSlab(p) ? p : nullptr;
}

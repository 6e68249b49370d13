// What mm/slab*.cpp and the checker share: where a slab's objects and
// bitmaps are, the hardened freelist link, and the debug hooks.
#pragma once

#include "mm/page_alloc.h"
#include "mm/slab.h"

// ---- a slab's memory --------------------------------------------------------------
inline u8 *slab_base(const mem_system &ms, const page *slab) { return static_cast<u8 *>(page_address(ms, slab)); }
inline unsigned slab_bytes(const kmem_cache *s) { return unsigned(PAGE_SIZE) << s->order; }
inline void *slab_object(const mem_system &ms, const kmem_cache *s, const page *slab, unsigned i) {
  return slab_base(ms, slab) + size_t(i) * s->size;
}
inline unsigned bitmap_words(const kmem_cache *s) { return s->bitmap_words; }
constexpr unsigned NR_SLAB_BITMAPS = 3;  // allocated, onlist, remote

// The `allocated`, `onlist` and `remote` bitmaps, one after the other: at
// bitmap_offset in the slab, or in the first tail page's mapping, index and
// private words (slabs of at most 64 objects and order >= 1; those words are
// unused in tail pages).
inline u64 *slab_bitmaps(const mem_system &ms, const kmem_cache *s, const page *slab) {
  if (s->bitmap_offset == 0) return const_cast<u64 *>(reinterpret_cast<const u64 *>(&slab[1].mapping));
  return reinterpret_cast<u64 *>(slab_base(ms, slab) + s->bitmap_offset);
}
// The same from the slab's address, without its struct page (the fast paths).
inline u64 *slab_bitmaps_at(const kmem_cache *s, const page *slab, uintptr_t base) {
  if (s->bitmap_offset == 0) return const_cast<u64 *>(reinterpret_cast<const u64 *>(&slab[1].mapping));
  return reinterpret_cast<u64 *>(base + s->bitmap_offset);
}
inline u64 *allocated_map(const mem_system &ms, const kmem_cache *s, const page *slab) {
  return slab_bitmaps(ms, s, slab);
}
inline u64 *onlist_map(const mem_system &ms, const kmem_cache *s, const page *slab) {
  return slab_bitmaps(ms, s, slab) + bitmap_words(s);
}
inline u64 *remote_map(const mem_system &ms, const kmem_cache *s, const page *slab) {
  return slab_bitmaps(ms, s, slab) + 2 * bitmap_words(s);
}
inline bool test_bit(const u64 *map, unsigned i) {
  return __atomic_load_n(&map[i / 64], __ATOMIC_RELAXED) & (u64(1) << (i % 64));
}

// offset / size as a multiply and a shift (Linux's reciprocal_divide in
// obj_to_index): with M = 2^45 / size + 1, (offset * M) >> 45 is exact for
// every offset * size < 2^45, and a slab is at most 4 MiB of objects of at
// most 2 MiB. The product stays below 2^64: offset < 2^22, M <= 2^42.
constexpr unsigned SLAB_RECIPROCAL_SHIFT = 45;
inline unsigned long slab_reciprocal(unsigned size) { return (1ul << SLAB_RECIPROCAL_SHIFT) / size + 1; }
inline unsigned long slab_offset_index(const kmem_cache *s, unsigned long offset) {
  return (offset * s->reciprocal_size) >> SLAB_RECIPROCAL_SHIFT;
}

// The slab page holding addr: nullptr when addr is not inside a slab (not in
// the direct map, no struct page, not PG_slab).
page *addr_to_slab(const mem_system &ms, const void *addr);
// The index of the object at offset `off` into its slab, or -1 when that is
// not exactly the start of one of the slab's objects.
inline long slab_offset_to_index(const kmem_cache *s, unsigned long off) {
  unsigned long i = slab_offset_index(s, off);
  return i * s->size == off && i < s->objects ? long(i) : -1;
}
// The same for addr, which may lie anywhere: -1 outside the slab.
inline long slab_obj_index(const mem_system &ms, const kmem_cache *s, const page *slab, const void *addr) {
  unsigned long off = reinterpret_cast<uintptr_t>(addr) - reinterpret_cast<uintptr_t>(slab_base(ms, slab));
  return off > s->slab_mask ? -1 : slab_offset_to_index(s, off);
}

// ---- the hardened freelist link ---------------------------------------------------
// Stored as next ^ secret ^ the slot's address turned half over, so that
// neither a stray write of a plausible pointer nor a leaked stored value is a
// usable link (Linux's CONFIG_SLAB_FREELIST_HARDENED). Linux byte-swaps the
// address (swab) to put its varying low bits over the pointer's constant high
// ones; a rotation by 32 does the same in three instructions, where RV64GC
// has no byte swap and pays a libgcc call of some thirty.
inline unsigned long freelist_mix(const void *slot) {
  unsigned long a = reinterpret_cast<unsigned long>(slot);
  return (a << 32) | (a >> 32);
}
inline unsigned long freelist_encode(const kmem_cache *s, const void *slot, const void *next) {
  return reinterpret_cast<unsigned long>(next) ^ s->random ^ freelist_mix(slot);
}
inline void *freelist_decode(const kmem_cache *s, const void *slot, unsigned long stored) {
  return reinterpret_cast<void *>(stored ^ s->random ^ freelist_mix(slot));
}
inline unsigned long *freelist_slot(const kmem_cache *s, void *obj) {
  return reinterpret_cast<unsigned long *>(static_cast<u8 *>(obj) + s->offset);
}

// ---- node lists -------------------------------------------------------------------
// Which list an unfrozen slab's state calls for.
inline list_head *list_for(kmem_cache_node *n, const page *slab) {
  return slab->inuse == 0 ? &n->free : slab->freelist ? &n->partial : &n->full;
}
// Counts the slab in (delta +1) or out of (-1) the counter of the list its
// state calls for. Needs the list_lock; the counters are read without it
// (the shrinker's count, the quick look before taking the lock): add_locked.
inline void count_slab(kmem_cache_node *n, const page *slab, long delta) {
  if (slab->inuse == 0) add_locked(n->nr_free, delta);
  else if (slab->freelist) add_locked(n->nr_partial, delta);
  else add_locked(n->nr_full, delta);
}

// ---- between the files ------------------------------------------------------------
// Gives back every slab CPU `cpu` owns of s. The caller is that CPU inside
// local_lock_irqsave, or a stop_machine. Returns the pages given back to the
// page allocator.
unsigned long flush_cpu_slabs(kmem_cache *s, unsigned cpu);
// Gives back the slabs on s's nodes' free lists (kmem_cache_shrink's second
// half). Returns pages freed.
unsigned long discard_free_slabs(kmem_cache *s);
// Returns an unfrozen slab page of s with every object free to the page
// allocator. The slab must be off every list.
void discard_slab(kmem_cache *s, page *slab);
// A kmalloc cache: naturally aligned for power-of-two sizes. nullptr on failure.
kmem_cache *create_kmalloc_cache(slab_allocator &sa, const char *name, unsigned size, slab_flags_t flags);
// Creates sa's kmalloc caches. 0 or -ENOMEM.
int create_kmalloc_caches(slab_allocator &sa);

// ---- debugging (mm/slab_debug.cpp) ----------------------------------------------
// Prints Linux's "BUG <cache> (Not tainted): <what>" report with the object's
// address (s may be nullptr: a pointer kfree could not place); counts it in
// sa.errors, and in sa.bad_frees when `refused` (the operation was not done).
void slab_err(slab_allocator &sa, const kmem_cache *s, const void *obj, bool refused, const char *fmt, ...)
    __printf(5, 6);
// Fresh object state: poison (SLAB_POISON) and inactive red zone.
void init_object_free(const kmem_cache *s, void *obj);
// Checks a free object about to be handed out: poison intact (else reports a
// use after free and repoisons nothing; the object is handed out anyway).
void check_object_on_alloc(kmem_cache *s, void *obj);
// Red zone of an allocated object: set active on allocation.
void set_redzone_active(const kmem_cache *s, void *obj);
// Checks the red zone of an object being freed; reports a write past its end
// and restores it. Returns false if it had to report.
bool check_redzone_on_free(kmem_cache *s, void *obj);

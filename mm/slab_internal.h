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
inline unsigned bitmap_words(const kmem_cache *s) { return (s->objects + 63) / 64; }

// The `allocated` bitmap, then the `onlist` bitmap: at bitmap_offset in the
// slab, or in the first tail page's mapping/index/private words (slabs of at
// most 64 objects and order >= 1; those words are unused in tail pages).
inline u64 *slab_bitmaps(const mem_system &ms, const kmem_cache *s, const page *slab) {
  if (s->bitmap_offset == 0) return const_cast<u64 *>(reinterpret_cast<const u64 *>(&slab[1].mapping));
  return reinterpret_cast<u64 *>(slab_base(ms, slab) + s->bitmap_offset);
}
inline u64 *allocated_map(const mem_system &ms, const kmem_cache *s, const page *slab) {
  return slab_bitmaps(ms, s, slab);
}
inline u64 *onlist_map(const mem_system &ms, const kmem_cache *s, const page *slab) {
  return slab_bitmaps(ms, s, slab) + bitmap_words(s);
}
inline bool test_bit(const u64 *map, unsigned i) {
  return __atomic_load_n(&map[i / 64], __ATOMIC_RELAXED) & (u64(1) << (i % 64));
}

// The slab page holding addr, and the object's index in it: nullptr when addr
// is not inside a slab (not in the direct map, no struct page, not PG_slab).
page *addr_to_slab(const mem_system &ms, const void *addr);
// The index of the object starting at addr, or -1 when addr is not exactly
// at the start of one of the slab's objects.
long slab_obj_index(const mem_system &ms, const kmem_cache *s, const page *slab, const void *addr);

// ---- the hardened freelist link ---------------------------------------------------
// Stored as next ^ secret ^ byte-swapped address of the slot, so that neither
// a stray write of a plausible pointer nor a leaked stored value is a usable
// link (Linux's CONFIG_SLAB_FREELIST_HARDENED).
inline unsigned long freelist_encode(const kmem_cache *s, const void *slot, const void *next) {
  return reinterpret_cast<unsigned long>(next) ^ s->random ^
         __builtin_bswap64(reinterpret_cast<unsigned long>(slot));
}
inline void *freelist_decode(const kmem_cache *s, const void *slot, unsigned long stored) {
  return reinterpret_cast<void *>(stored ^ s->random ^ __builtin_bswap64(reinterpret_cast<unsigned long>(slot)));
}
inline unsigned long *freelist_slot(const kmem_cache *s, void *obj) {
  return reinterpret_cast<unsigned long *>(static_cast<u8 *>(obj) + s->offset);
}

// ---- between the files ------------------------------------------------------------
// kmem_cache_free with the caller's name in reports (kfree uses it).
void slab_free_checked(kmem_cache *s, void *obj, const char *caller);
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

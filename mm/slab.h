// The slab allocator: caches of equal-sized objects carved out of pages from
// the page allocator, and kmalloc on top of them (Linux's mm/slab_common.c
// and the per-CPU slabs of its SLUB allocator, written fresh).
//
// Basic algorithm:
//  1. A cache hands out objects of one size. Its memory is slabs: blocks of
//     2^order pages from the page allocator (compound for order > 0), each
//     cut into `objects` slots of `size` bytes from the slab's start. A slab
//     is a buddy block, so it is aligned to its size: an object's slab and
//     index follow from its address with a mask and a multiply.
//  2. Each CPU owns slabs of each cache ("frozen" to it, kmem_cache_cpu):
//     the one it allocates from (`slab`) and a few more (`partial`). Only
//     that CPU changes an owned slab's freelist and bitmaps, inside
//     local_lock_irqsave, so allocating and freeing its objects takes no
//     lock and no atomic instruction, and dirties no other CPU's lines.
//  3. Per node, slabs no CPU owns sit on three lists under the node's
//     list_lock: full (nothing on the freelist), partial, and free (every
//     object on it). A CPU whose slabs are exhausted takes a partial slab,
//     then a free one, then a new slab; an exhausted slab goes back to the
//     node. A free into a node's full slab makes the freeing CPU its owner
//     (up to cpu_partial_slabs). Up to `min_partial` free slabs are kept per
//     node; more go back to the page allocator, as do all of them on
//     kmem_cache_shrink and when reclaim calls the slab shrinker.
//  4. A free into a slab another CPU owns sets the object's bit in the slab's
//     `remote` bitmap (an atomic OR) and flags the slab; the owner takes such
//     objects back onto its freelist when it runs out (Linux's remote frees
//     to a frozen slab, with a bitmap where SLUB has a second freelist). The
//     free is announced in slab_inflight while it looks at the slab, and an
//     unfreeze waits for announced frees: so none is missed, and none
//     touches a slab its owner may have freed.
//  5. A slab's free objects form a singly linked freelist through the
//     objects themselves. Each link is stored hardened (xor'ed with a secret
//     of the cache and with the address it is stored at), and every link is
//     checked before it is followed: it must name an object of the same slab
//     that is marked as on the freelist.
//  6. Bitmaps per slab record each object's state: `allocated` (held by a
//     caller: set by allocation, cleared when the free is taken back),
//     `onlist` (on the slab's freelist) and `remote` (freed by another CPU,
//     not yet taken back). So a free of anything that is not a held object
//     (a double free, a pointer into the middle of one) is caught by a bit,
//     without trusting anything stored in object memory.
//  7. Another CPU's owned slabs are changed only under stop_machine, which
//     holds every other CPU outside local_lock_irqsave: shrinking, destroying
//     a cache, the checker and slabinfo.
//
// Invariants (checked by mm/check_slab):
//   - every slab page has PG_slab, slab_cache = its cache; its objects are
//     physically contiguous (one compound allocation);
//   - freelist length = objects - inuse; each freelist object has `onlist`
//     set and `allocated` and `remote` clear; inuse = (objects with
//     `allocated` set) + lost (objects abandoned after a corrupted freelist
//     link); `remote` bits are a subset of `allocated` ones;
//   - a slab is frozen (slab_frozen = cpu + 1) iff it is its CPU's `slab` or
//     on its CPU's partial list; an unfrozen slab has no `remote` bit, is on
//     the free list iff inuse == 0, on the full list iff its freelist is
//     empty, otherwise on the partial list; the node's counters equal its
//     lists' lengths, and nr_slabs / total_objects count its frozen slabs too;
//   - with every CPU held (stop_machine), no slab has a remote free in flight;
//   - free objects (SLAB_POISON) hold poison.
//
// kmalloc: caches kmalloc-8 .. kmalloc-8k (with 96 and 192), DMA32 twins
// (dma32-kmalloc-*) for __GFP_DMA32 and dma-kmalloc-* for __GFP_DMA where
// those zones have memory; larger sizes are compound pages from the page
// allocator marked PG_large_kmalloc. kfree tells them apart by the page.
//
// Every function takes the slab_allocator it works on; the forms without one
// use the kernel's instance (system_slab).
#pragma once

#include "kernel/list.h"
#include "kernel/spinlock.h"
#include "kernel/types.h"
#include "mm/gfp.h"
#include "mm/mmzone.h"
#include "mm/vmscan.h"

using slab_flags_t = unsigned;

// ---- cache flags (Linux's values where it has them) -------------------------------
constexpr slab_flags_t SLAB_RED_ZONE = 0x400;           // guard bytes after each object, checked on free
constexpr slab_flags_t SLAB_POISON = 0x800;             // fill free objects with POISON_FREE, check on reuse
constexpr slab_flags_t SLAB_HWCACHE_ALIGN = 0x2000;     // align objects to cache lines
constexpr slab_flags_t SLAB_CACHE_DMA = 0x4000;         // slabs from ZONE_DMA
constexpr slab_flags_t SLAB_CACHE_DMA32 = 0x8000;       // slabs from ZONE_DMA32 or below
constexpr slab_flags_t SLAB_PANIC = 0x40000;            // panic if kmem_cache_create fails
constexpr slab_flags_t SLAB_RECLAIM_ACCOUNT = 0x20000;  // counted as SReclaimable
constexpr slab_flags_t SLAB_KMALLOC = 0x100000;         // one of kmalloc's caches (set internally)
constexpr slab_flags_t SLAB_DEBUG_FLAGS = SLAB_RED_ZONE | SLAB_POISON;
constexpr slab_flags_t SLAB_CREATE_MASK = SLAB_DEBUG_FLAGS | SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA |
                                          SLAB_CACHE_DMA32 | SLAB_PANIC | SLAB_RECLAIM_ACCOUNT;

// Linux's poison bytes.
constexpr u8 POISON_FREE = 0x6b;      // a free object's bytes
constexpr u8 POISON_END = 0xa5;       // its last byte
constexpr u8 SLUB_RED_INACTIVE = 0xbb;  // red zone of a free object
constexpr u8 SLUB_RED_ACTIVE = 0xcc;    // red zone of an allocated object

constexpr unsigned KMALLOC_MIN_SIZE = 8;
constexpr unsigned KMALLOC_SHIFT_HIGH = 13;  // largest kmalloc cache: 8 KiB
constexpr size_t KMALLOC_MAX_CACHE_SIZE = size_t(1) << KMALLOC_SHIFT_HIGH;
constexpr size_t KMALLOC_MAX_SIZE = PAGE_SIZE << MAX_PAGE_ORDER;  // 4 MiB
constexpr unsigned SLAB_MAX_ORDER = MAX_PAGE_ORDER;
// The largest object kmem_cache_create takes: half the largest slab, so that
// a slab holds at least two.
constexpr unsigned long KMEM_CACHE_MAX_OBJECT = (PAGE_SIZE << SLAB_MAX_ORDER) / 2;
constexpr unsigned NR_KMALLOC_SIZES = 13;  // 8 16 32 64 96 128 192 256 512 1k 2k 4k 8k
// The kmalloc caches of each kind: ordinary, DMA32 and DMA twins for the
// zone modifiers, and reclaimable ones ("kmalloc-rcl-", SLAB_RECLAIM_ACCOUNT,
// whose slabs come from RECLAIMABLE pageblocks) for __GFP_RECLAIMABLE.
enum kmalloc_cache_type { KMALLOC_NORMAL, KMALLOC_DMA32, KMALLOC_DMA, KMALLOC_RECLAIM, NR_KMALLOC_TYPES };

struct kmem_cache;
struct slab_allocator;

// One CPU's slabs of one cache, changed only by that CPU inside
// local_lock_irqsave, or by a stop_machine. A line of its own: the fast path
// writes nothing else that another CPU reads.
struct alignas(64) kmem_cache_cpu {
  page *slab;            // frozen to this CPU, allocations come from it; or nullptr
  list_head partial;     // more frozen slabs of this CPU, linked by slab_list
  unsigned nr_partial;   // on `partial`
};

// One node's slabs of one cache.
struct alignas(64) kmem_cache_node {
  spinlock_t list_lock;
  list_head full, partial, free;               // slabs no CPU owns
  unsigned long nr_full, nr_partial, nr_free;  // slabs on each list
  unsigned long nr_slabs;                      // all of the node's slabs, frozen ones too (atomic)
  unsigned long total_objects;                 // objects of those (atomic)
};

struct kmem_cache {
  // Read-mostly, fixed at creation; the fast paths read the first line.
  unsigned size;          // stride between objects: object, red zone, outside free pointer
  unsigned objects;       // per slab
  unsigned long slab_mask;     // slab bytes - 1: an object's offset in its slab is addr & slab_mask
  unsigned long reciprocal_size;  // 2^SLAB_RECIPROCAL_SHIFT / size + 1: offset / size by a multiply
  unsigned long random;   // freelist hardening secret
  unsigned offset;        // where a free object keeps its freelist link
  slab_flags_t flags;
  unsigned object_size;   // what the creator asked for
  unsigned bitmap_offset; // bytes from the slab start to its bitmaps; 0: in the first tail page
  unsigned bitmap_words;  // words of each bitmap: (objects + 63) / 64
  slab_allocator *sa;
  char name[32];
  unsigned align;
  unsigned red_zone;      // bytes of red zone after object_size (0: none)
  unsigned order;         // slab size: 2^order pages
  unsigned cpu_partial_slabs;  // owned slabs a CPU keeps besides its current one
  unsigned min_partial;        // free slabs kept per node
  gfp_t allocflags;            // zone flags for the slab pages
  void (*ctor)(void *);
  list_head list;              // on slab_allocator::caches
  unsigned long corrupted;     // freelist links found corrupted
  unsigned long lost_objects;  // objects abandoned behind corrupted links

  kmem_cache_cpu cpu_slab[NR_CPUS];
  kmem_cache_node node[MAX_NUMNODES];
};

// One slab allocator over one mem_system. The kernel owns one; host tests
// build as many as they like.
struct slab_allocator {
  mem_system *ms;
  spinlock_t slab_mutex;   // the cache list (Linux's slab_mutex)
  list_head caches;
  kmem_cache kmem_cache_boot;  // the cache of kmem_cache structs itself
  kmem_cache *kmalloc_caches[NR_KMALLOC_TYPES][NR_KMALLOC_SIZES];
  slab_flags_t debug_flags;    // added to every cache (Linux's slab_debug=)
  unsigned long secret_seed;
  shrinker slab_shrinker;
  unsigned long errors;        // reports of every kind
  unsigned long bad_frees;     // of those, frees that were refused
  unsigned long large_pages;   // pages held by large kmallocs
  failslab_attr failslab;      // fault injection (mm/fault_inject.h); reset by slab_allocator_init
};

// Sets up sa over ms: the boot cache, the kmalloc caches of every type whose
// zone has memory, and the shrinker. debug_flags (SLAB_RED_ZONE, SLAB_POISON)
// apply to every cache. Returns 0, or -ENOMEM (sa unusable).
int slab_allocator_init(slab_allocator *sa, mem_system &ms, slab_flags_t debug_flags, unsigned long secret);
// Gives every slab back and forgets every cache; reports caches with live
// objects (which keep their slabs). Host tests use it between runs.
void slab_allocator_destroy(slab_allocator *sa);

extern slab_allocator *system_slab;

// ---- caches ---------------------------------------------------------------------
// Returns the new cache, or nullptr (with a message) for a bad name, size 0,
// a size or alignment beyond what a slab can hold, an alignment that is not a
// power of two, unknown flags, or no memory; SLAB_PANIC turns failure into a
// panic.
kmem_cache *kmem_cache_create(slab_allocator &sa, const char *name, unsigned size, unsigned align,
                              slab_flags_t flags, void (*ctor)(void *));
// Returns an object (zeroed for zalloc, through ctor otherwise when the cache
// has one), or nullptr when no slab page can be had.
void *kmem_cache_alloc(kmem_cache *s, gfp_t gfp);
void *kmem_cache_zalloc(kmem_cache *s, gfp_t gfp);
void *kmem_cache_alloc_node(kmem_cache *s, gfp_t gfp, int nid);
// Returns an object to its cache. An address that is not a held object of s
// is reported and ignored.
void kmem_cache_free(kmem_cache *s, void *obj);
// Gives every CPU's slabs of s back to their nodes (stopping the machine:
// they are the other CPUs' to change), then its free slabs to the page
// allocator. Returns the pages freed. Call it outside local_lock_irqsave,
// holding no lock a CPU may spin for with interrupts masked (slab_mutex
// and shrinker_lock are fine: their waiters spin with interrupts on, so the
// stop parks them).
unsigned long kmem_cache_shrink(kmem_cache *s);
// Frees the cache if it has no live objects; otherwise reports them (Linux's
// BUG report naming the first, then the addresses of up to 8), keeps the
// cache and returns -EBUSY. 0 on success.
int kmem_cache_destroy(kmem_cache *s);

// ---- kmalloc ------------------------------------------------------------------
void *kmalloc(slab_allocator &sa, size_t size, gfp_t gfp);
void *kmalloc_node(slab_allocator &sa, size_t size, gfp_t gfp, int nid);
inline void *kzalloc(slab_allocator &sa, size_t size, gfp_t gfp) { return kmalloc(sa, size, gfp | __GFP_ZERO); }
// n * size, or nullptr (with a warning) when that overflows.
void *kmalloc_array(slab_allocator &sa, size_t n, size_t size, gfp_t gfp);
inline void *kcalloc(slab_allocator &sa, size_t n, size_t size, gfp_t gfp) {
  return kmalloc_array(sa, n, size, gfp | __GFP_ZERO);
}
// Resizes p keeping its contents (up to the smaller size). krealloc(nullptr)
// is kmalloc; size 0 frees p and returns ZERO_SIZE_PTR. On failure p is
// untouched and nullptr is returned.
void *krealloc(slab_allocator &sa, const void *p, size_t size, gfp_t gfp);
// nullptr and ZERO_SIZE_PTR are no-ops; anything that is not the start of a
// live kmalloc object is reported (Linux's "invalid free") and ignored.
void kfree(slab_allocator &sa, const void *p);
// kfree after zeroing the whole allocation.
void kfree_sensitive(slab_allocator &sa, const void *p);
// The usable size of a kmalloc object (>= what was asked); 0 for nullptr and
// for anything that is not a live object.
size_t ksize(slab_allocator &sa, const void *p);

// kmalloc(0) returns this: not NULL, but faults on access (Linux's value).
inline void *const ZERO_SIZE_PTR = reinterpret_cast<void *>(16);
inline bool ZERO_OR_NULL_PTR(const void *p) { return reinterpret_cast<uintptr_t>(p) <= 16; }

void *kmalloc(size_t size, gfp_t gfp);
void *kzalloc(size_t size, gfp_t gfp);
void *kmalloc_array(size_t n, size_t size, gfp_t gfp);
void *kcalloc(size_t n, size_t size, gfp_t gfp);
void *krealloc(const void *p, size_t size, gfp_t gfp);
void kfree(const void *p);
void kfree_sensitive(const void *p);
size_t ksize(const void *p);

// ---- totals ---------------------------------------------------------------------
struct slab_totals {
  unsigned long reclaimable_pages, unreclaimable_pages;
};
slab_totals slab_pages(const slab_allocator &sa);

// Index of the kmalloc cache for size (1..KMALLOC_MAX_CACHE_SIZE).
unsigned kmalloc_index(size_t size);
extern const unsigned kmalloc_sizes[NR_KMALLOC_SIZES];

// Slab caches: creation and layout, the entry points, shrinking and
// destruction, the shrinker. See mm/slab.h for the algorithm and the
// invariants; mm/slab_alloc.cpp has the allocation and free paths, and
// mm/kmalloc.cpp builds kmalloc on top.
#include "mm/slab.h"

#include "kernel/errno.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "mm/check.h"
#include "mm/slab_fastpath.h"
#include "mm/vmscan.h"

slab_allocator *system_slab;

// ---- layout ---------------------------------------------------------------------------

constexpr unsigned CACHE_LINE_SIZE = 64;
constexpr unsigned SLAB_MIN_ALIGN = 8;
constexpr unsigned SLAB_MIN_OBJECTS = 4;  // fewer only when the objects are huge

static unsigned round_up(unsigned x, unsigned a) { return (x + a - 1) / a * a; }

// Linux's calculate_alignment: cache-line alignment for objects of more than
// half a line, halved for smaller ones; at least 8 bytes.
static unsigned calculate_alignment(slab_flags_t flags, unsigned align, unsigned size) {
  if (flags & SLAB_HWCACHE_ALIGN) {
    unsigned ralign = CACHE_LINE_SIZE;
    while (size <= ralign / 2 && ralign > SLAB_MIN_ALIGN) ralign /= 2;
    if (ralign > align) align = ralign;
  }
  return align < SLAB_MIN_ALIGN ? SLAB_MIN_ALIGN : align;
}

// Objects of `size` that a slab of `order` holds, with its three bitmaps; sets
// *bitmap_offset (0: in the first tail page).
static unsigned objects_per_slab(unsigned size, unsigned order, unsigned *bitmap_offset) {
  unsigned long bytes = PAGE_SIZE << order;
  unsigned long n = bytes / size;
  if (order > 0 && n <= 64) {
    *bitmap_offset = 0;
    return unsigned(n);
  }
  while (n > 0 && n * size + NR_SLAB_BITMAPS * 8 * ((n + 63) / 64) > bytes) n--;
  *bitmap_offset = unsigned(round_up(unsigned(n * size), 8));
  return unsigned(n);
}

// Basic algorithm: the smallest order that holds at least SLAB_MIN_OBJECTS
// (or any, from order 3 on) and wastes at most a sixteenth of the slab
// (Linux's first try); failing that, the order that wastes least.
// Some order always holds an object: valid_cache_args takes at most
// KMEM_CACHE_MAX_OBJECT bytes and alignments up to KMALLOC_MAX_CACHE_SIZE,
// so a stride (with red zone and outside free pointer) fits the largest slab.
static_assert(KMEM_CACHE_MAX_OBJECT + 2 * SLAB_MIN_ALIGN + KMALLOC_MAX_CACHE_SIZE <= PAGE_SIZE << SLAB_MAX_ORDER,
              "the largest object must fit the largest slab");
static void calculate_order(kmem_cache *s) {
  unsigned best_order = 0, best_objects = 0, best_offset = 0;
  unsigned long best_waste = ~0ul;
  for (unsigned order = 0; order <= SLAB_MAX_ORDER; order++) {
    // A slab is aligned to its size (a buddy block): it must be to `align` too.
    if ((PAGE_SIZE << order) < s->align) continue;
    unsigned offset;
    unsigned n = objects_per_slab(s->size, order, &offset);
    if (n == 0) continue;
    unsigned long bytes = PAGE_SIZE << order;
    unsigned long waste = bytes - n * s->size;
    if ((n >= SLAB_MIN_OBJECTS || order >= PAGE_ALLOC_COSTLY_ORDER) && waste * 16 <= bytes) {
      best_order = order, best_objects = n, best_offset = offset;
      break;
    }
    if (waste * 8 / bytes < best_waste) best_order = order, best_objects = n, best_offset = offset, best_waste = waste * 8 / bytes;
  }
  s->order = best_order;
  s->objects = best_objects;
  s->bitmap_offset = best_offset;
}

// Where each part of an object slot goes:
//   [0, object_size)              the object
//   [object_size, +red_zone)      red zone (SLAB_RED_ZONE): at least 8 bytes
//   offset                        the freelist link: inside the object, in
//                                 its middle (so a small overflow of the
//                                 previous object misses it), unless poison
//                                 or a constructor must keep the object's
//                                 bytes, then after the red zone
//   size                          the stride, rounded up to align
static void calculate_sizes(kmem_cache *s) {
  unsigned size = round_up(s->object_size, SLAB_MIN_ALIGN);
  s->red_zone = 0;
  if (s->flags & SLAB_RED_ZONE) {
    s->red_zone = size - s->object_size + SLAB_MIN_ALIGN;
    size += SLAB_MIN_ALIGN;
  }
  if ((s->flags & SLAB_POISON) || s->ctor) {
    s->offset = size;
    size += sizeof(void *);
  } else {
    s->offset = (s->object_size / 2) & ~unsigned(sizeof(void *) - 1);
  }
  s->size = round_up(size, s->align);
  calculate_order(s);
  s->slab_mask = (PAGE_SIZE << s->order) - 1;
  s->bitmap_words = (s->objects + 63) / 64;
  s->reciprocal_size = slab_reciprocal(s->size);
  // Linux's slub_set_cpu_partial: free objects a CPU may keep in its
  // partial slabs by size, as slabs holding twice that many, at least one.
  unsigned cpu_partial = s->size >= PAGE_SIZE ? 2 : s->size >= 1024 ? 6 : s->size >= 256 ? 13 : 30;
  s->cpu_partial_slabs = (cpu_partial * 2 + s->objects - 1) / s->objects;
  // Linux: half the log2 of the size, between 5 and 10 slabs.
  unsigned ilog = 31 - unsigned(__builtin_clz(s->size));
  s->min_partial = ilog / 2 < 5 ? 5 : ilog / 2 > 10 ? 10 : ilog / 2;
}

static unsigned long next_secret(slab_allocator &sa) {
  // splitmix64: distinct, well-mixed secrets from one seed.
  // Atomic: caches are created concurrently, outside slab_mutex.
  unsigned long z = __atomic_add_fetch(&sa.secret_seed, 0x9e3779b97f4a7c15ul, __ATOMIC_RELAXED);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ul;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebul;
  return z ^ (z >> 31);
}

// Sets up s, whose size and alignment are within valid_cache_args's limits.
static void cache_init(slab_allocator &sa, kmem_cache *s, const char *name, unsigned size, unsigned align,
                       slab_flags_t flags, void (*ctor)(void *)) {
  // In place: a kmem_cache is a few KiB, too big for a temporary on a kernel stack.
  memset(static_cast<void *>(s), 0, sizeof(*s));
  strscpy(s->name, name, sizeof(s->name));
  s->object_size = size;
  s->flags = flags | (sa.debug_flags & SLAB_DEBUG_FLAGS);
  // Poison would destroy what the constructor built (Linux drops it too).
  if (ctor) s->flags &= ~SLAB_POISON;
  s->ctor = ctor;
  s->align = calculate_alignment(flags, align, size);
  s->sa = &sa;
  s->random = next_secret(sa);
  s->allocflags = (flags & SLAB_CACHE_DMA) ? __GFP_DMA : (flags & SLAB_CACHE_DMA32) ? __GFP_DMA32 : 0;
  // A reclaimable cache's slabs group with other reclaimable memory.
  if (flags & SLAB_RECLAIM_ACCOUNT) s->allocflags |= __GFP_RECLAIMABLE;
  calculate_sizes(s);
  for (kmem_cache_cpu &c : s->cpu_slab) INIT_LIST_HEAD(&c.partial);
  for (kmem_cache_node &n : s->node) {
    spin_lock_init(&n.list_lock);
    INIT_LIST_HEAD(&n.full);
    INIT_LIST_HEAD(&n.partial);
    INIT_LIST_HEAD(&n.free);
  }
}

// ---- the entry points --------------------------------------------------------------------

void *kmem_cache_alloc(kmem_cache *s, gfp_t gfp) { return slab_alloc_fast(s, gfp); }
void *kmem_cache_zalloc(kmem_cache *s, gfp_t gfp) { return slab_alloc_fast(s, gfp | __GFP_ZERO); }
void *kmem_cache_alloc_node(kmem_cache *s, gfp_t gfp, int nid) { return slab_alloc_general(s, gfp, nid); }

// kmem_cache_free of what the fast path could not place: a pfn outside
// pfn_to_page's table, or a bad pointer.
[[gnu::noinline]] static void kmem_cache_free_general(kmem_cache *s, void *obj) {
  page *slab = virt_to_slab(*s->sa->ms, obj);
  if (!slab) return slab_err(*s->sa, s, obj, true, "kmem_cache_free: object is not in a slab page");
  if (slab->slab_cache != s)
    return slab_err(*s->sa, s, obj, true, "kmem_cache_free: wrong slab cache: the object belongs to %s",
                    slab->slab_cache->name);
  slab_free_fast(s, slab, obj, "kmem_cache_free");
}

void kmem_cache_free(kmem_cache *s, void *obj) {
  if (!obj) return;
  page *slab = virt_to_slab(*s->sa->ms, obj, false);
  if (__builtin_expect(slab && slab->slab_cache == s, 1)) return slab_free_fast(s, slab, obj, "kmem_cache_free");
  return kmem_cache_free_general(s, obj);
}

// ---- shrinking and destruction ------------------------------------------------------------

struct flush_request {
  kmem_cache *s;        // one cache, or every cache of sa when nullptr
  slab_allocator *sa;
  unsigned long freed;  // pages given back
};

// Runs under stop_machine: every CPU's slabs of the cache(s) go back to
// their nodes.
static void flush_all_cpus(void *arg) {
  flush_request *r = static_cast<flush_request *>(arg);
  auto flush = [r](kmem_cache *s) {
    for (unsigned cpu = 0; cpu < NR_CPUS; cpu++) r->freed += flush_cpu_slabs(s, cpu);
  };
  if (r->s) return flush(r->s);
  list_for_each(e, &r->sa->caches) flush(list_entry(e, kmem_cache, list));
}

unsigned long discard_free_slabs(kmem_cache *s) {
  unsigned long freed = 0;
  for (kmem_cache_node &n : s->node) {
    list_head discard;
    INIT_LIST_HEAD(&discard);
    {
      spin_lock_irqsave_guard g(n.list_lock);
      while (!list_empty(&n.free)) list_move(n.free.next, &discard);
      add_locked(n.nr_free, -long(n.nr_free));
    }
    while (!list_empty(&discard)) {
      page *slab = list_first_entry(&discard, page, slab_list);
      list_del(&slab->slab_list);
      discard_slab(s, slab);
      freed += 1ul << s->order;
    }
  }
  return freed;
}

// Linux's flush_all then __kmem_cache_do_shrink: every CPU's slabs back to
// the nodes (stop_machine: they are other CPUs' to change), then the free
// ones to the page allocator. Returns pages freed.
unsigned long kmem_cache_shrink(kmem_cache *s) {
  flush_request r = {s, s->sa, 0};
  stop_machine(flush_all_cpus, &r);
  return r.freed + discard_free_slabs(s);
}

// Objects held by callers (not free, not lost). Every slab is on a node list.
static unsigned long live_objects(kmem_cache *s) {
  unsigned long live = 0;
  for (kmem_cache_node &n : s->node) {
    spin_lock_irqsave_guard g(n.list_lock);
    for (list_head *l : (list_head *[]){&n.partial, &n.full}) {
      list_for_each(e, l) {
        page *slab = list_entry(e, page, slab_list);
        live += slab->inuse - slab->lost;
      }
    }
  }
  return live;
}

// The first object of s still held by a caller, or nullptr.
static void *first_live_object(kmem_cache *s) {
  mem_system &ms = *s->sa->ms;
  for (kmem_cache_node &n : s->node) {
    spin_lock_irqsave_guard g(n.list_lock);
    for (list_head *l : (list_head *[]){&n.partial, &n.full}) {
      list_for_each(e, l) {
        page *slab = list_entry(e, page, slab_list);
        for (unsigned i = 0; i < s->objects; i++)
          if (test_bit(allocated_map(ms, s, slab), i)) return slab_object(ms, s, slab, i);
      }
    }
  }
  return nullptr;
}

// Linux's report: a BUG naming the cache and the first live object, then up
// to a few more addresses.
static void report_live_objects(kmem_cache *s, unsigned long live) {
  mem_system &ms = *s->sa->ms;
  slab_err(*s->sa, s, first_live_object(s), false,
           "Objects remaining in %s on __kmem_cache_shutdown(): Slab cache still has objects when called from kmem_cache_destroy: %lu live",
           s->name, live);
  unsigned shown = 0;
  for (kmem_cache_node &n : s->node) {
    spin_lock_irqsave_guard g(n.list_lock);
    for (list_head *l : (list_head *[]){&n.partial, &n.full}) {
      list_for_each(e, l) {
        page *slab = list_entry(e, page, slab_list);
        for (unsigned i = 0; i < s->objects && shown < 8; i++)
          if (test_bit(allocated_map(ms, s, slab), i)) {
            pr_err("  object %p still allocated\n", slab_object(ms, s, slab, i));
            shown++;
          }
      }
    }
  }
}

// Gives back the slabs that hold nothing but objects abandoned behind a
// corrupted link (nothing references those objects any more). Needs no live
// object in s.
static void discard_abandoned_slabs(kmem_cache *s) {
  for (kmem_cache_node &n : s->node) {
    list_head discard;
    INIT_LIST_HEAD(&discard);
    {
      spin_lock_irqsave_guard g(n.list_lock);
      for (list_head *l : (list_head *[]){&n.partial, &n.full}) {
        list_for_each_safe(e, tmp, l) {
          page *slab = list_entry(e, page, slab_list);
          if (slab->inuse != slab->lost) continue;
          count_slab(&n, slab, -1);
          list_move(&slab->slab_list, &discard);
        }
      }
    }
    list_for_each_safe(e, tmp, &discard) {
      page *slab = list_entry(e, page, slab_list);
      list_del(&slab->slab_list);
      discard_slab(s, slab);
    }
  }
}

int kmem_cache_destroy(kmem_cache *s) {
  if (!s) return 0;
  slab_allocator &sa = *s->sa;
  kmem_cache_shrink(s);
  unsigned long live = live_objects(s);
  if (live) {
    report_live_objects(s, live);
    return -EBUSY;
  }
  {
    spin_lock_guard g(sa.slab_mutex);
    list_del(&s->list);
  }
  discard_abandoned_slabs(s);
  if (s != &sa.kmem_cache_boot) kmem_cache_free(&sa.kmem_cache_boot, s);
  return 0;
}

// ---- creation ---------------------------------------------------------------------------

static bool valid_cache_args(const char *name, unsigned size, unsigned align, slab_flags_t flags) {
  if (!name || !*name) return pr_err("kmem_cache_create: no name\n"), false;
  if (size == 0 || size > KMEM_CACHE_MAX_OBJECT)
    return pr_err("kmem_cache_create(%s): size %u out of range (1..%lu)\n", name, size,
                  KMEM_CACHE_MAX_OBJECT), false;
  if (align & (align - 1)) return pr_err("kmem_cache_create(%s): alignment %u is not a power of two\n", name, align), false;
  if (align > KMALLOC_MAX_CACHE_SIZE)
    return pr_err("kmem_cache_create(%s): alignment %u above %zu\n", name, align, KMALLOC_MAX_CACHE_SIZE), false;
  if (flags & ~SLAB_CREATE_MASK)
    return pr_err("kmem_cache_create(%s): unknown flags %#x\n", name, flags & ~SLAB_CREATE_MASK), false;
  if ((flags & SLAB_CACHE_DMA) && (flags & SLAB_CACHE_DMA32))
    return pr_err("kmem_cache_create(%s): SLAB_CACHE_DMA and SLAB_CACHE_DMA32 together\n", name), false;
  return true;
}

static kmem_cache *create_cache(slab_allocator &sa, const char *name, unsigned size, unsigned align,
                                slab_flags_t flags, void (*ctor)(void *)) {
  if (!valid_cache_args(name, size, align, flags & ~SLAB_KMALLOC)) return nullptr;
  kmem_cache *s = static_cast<kmem_cache *>(kmem_cache_alloc(&sa.kmem_cache_boot, GFP_KERNEL));
  if (!s) return nullptr;
  cache_init(sa, s, name, size, align, flags, ctor);
  spin_lock_guard g(sa.slab_mutex);
  list_add_tail(&s->list, &sa.caches);
  return s;
}

kmem_cache *kmem_cache_create(slab_allocator &sa, const char *name, unsigned size, unsigned align,
                              slab_flags_t flags, void (*ctor)(void *)) {
  kmem_cache *s = create_cache(sa, name, size, align, flags & ~SLAB_KMALLOC, ctor);
  if (!s && (flags & SLAB_PANIC)) panic("kmem_cache_create: failed to create slab '%s'", name ? name : "(null)");
  return s;
}

kmem_cache *create_kmalloc_cache(slab_allocator &sa, const char *name, unsigned size, slab_flags_t flags) {
  // Power-of-two sizes are naturally aligned (Linux guarantees it).
  unsigned align = (size & (size - 1)) == 0 ? size : SLAB_MIN_ALIGN;
  return create_cache(sa, name, size, align, flags | SLAB_KMALLOC, nullptr);
}

// ---- the shrinker ---------------------------------------------------------------------------

static unsigned long slab_count_objects(shrinker *sh, shrink_control *) {
  slab_allocator &sa = *static_cast<slab_allocator *>(sh->private_data);
  unsigned long pages = 0;
  spin_lock_guard g(sa.slab_mutex);
  list_for_each(e, &sa.caches) {
    kmem_cache *s = list_entry(e, kmem_cache, list);
    for (const kmem_cache_node &n : s->node) {
      unsigned long free = __atomic_load_n(&n.nr_free, __ATOMIC_RELAXED);
      long frozen = long(__atomic_load_n(&n.nr_slabs, __ATOMIC_RELAXED)) - long(free) -
                    long(__atomic_load_n(&n.nr_partial, __ATOMIC_RELAXED)) -
                    long(__atomic_load_n(&n.nr_full, __ATOMIC_RELAXED));
      // A CPU's slabs may hold free ones: a page each, as a guess.
      pages += (free << s->order) + (frozen > 0 ? (unsigned long)frozen : 0);
    }
  }
  return pages ? pages : SHRINK_EMPTY;
}

// Gives every CPU's slabs of every cache back to the nodes (one
// stop_machine for all), then frees caches' free slabs until nr_to_scan
// pages are freed or every cache is done.
static unsigned long slab_scan_objects(shrinker *sh, shrink_control *sc) {
  slab_allocator &sa = *static_cast<slab_allocator *>(sh->private_data);
  spin_lock_guard g(sa.slab_mutex);
  flush_request r = {nullptr, &sa, 0};
  stop_machine(flush_all_cpus, &r);
  unsigned long freed = r.freed;
  list_for_each(e, &sa.caches) {
    if (freed >= sc->nr_to_scan) break;
    freed += discard_free_slabs(list_entry(e, kmem_cache, list));
  }
  sc->nr_scanned = freed;
  return freed;
}

// ---- the allocator ----------------------------------------------------------------------------

int slab_allocator_init(slab_allocator *sap, mem_system &ms, slab_flags_t debug_flags, unsigned long secret) {
  slab_allocator &sa = *sap;
  sa.ms = &ms;
  spin_lock_init(&sa.slab_mutex);
  INIT_LIST_HEAD(&sa.caches);
  sa.debug_flags = debug_flags & SLAB_DEBUG_FLAGS;
  sa.secret_seed = secret;
  sa.errors = 0;
  sa.bad_frees = 0;
  sa.large_pages = 0;
  sa.failslab = failslab_attr{};
  for (auto &row : sa.kmalloc_caches)
    for (kmem_cache *&c : row) c = nullptr;
  cache_init(sa, &sa.kmem_cache_boot, "kmem_cache", sizeof(kmem_cache), alignof(kmem_cache), SLAB_HWCACHE_ALIGN,
             nullptr);
  list_add(&sa.kmem_cache_boot.list, &sa.caches);
  if (int err = create_kmalloc_caches(sa)) return err;
  sa.slab_shrinker = shrinker{};
  sa.slab_shrinker.count_objects = slab_count_objects;
  sa.slab_shrinker.scan_objects = slab_scan_objects;
  sa.slab_shrinker.private_data = &sa;
  register_shrinker(ms, &sa.slab_shrinker);
  return 0;
}

void slab_allocator_destroy(slab_allocator *sap) {
  slab_allocator &sa = *sap;
  unregister_shrinker(*sa.ms, &sa.slab_shrinker);
  // kmalloc serves no more; its caches go with the others below, each
  // destroyed (or reported) once.
  for (auto &row : sa.kmalloc_caches)
    for (kmem_cache *&c : row) c = nullptr;
  while (!list_empty(&sa.caches)) {
    kmem_cache *s = list_last_entry(&sa.caches, kmem_cache, list);
    if (s == &sa.kmem_cache_boot) break;
    if (kmem_cache_destroy(s) != 0) {
      spin_lock_guard g(sa.slab_mutex);
      list_del(&s->list);  // leaked on purpose: its objects are live
    }
  }
  kmem_cache_shrink(&sa.kmem_cache_boot);
}

// Slab caches: creation and layout, slabs, the per-CPU arrays, allocation and
// freeing, shrinking and destruction. See mm/slab.h for the algorithm and the
// invariants; mm/kmalloc.cpp builds kmalloc on top.
#include "mm/slab.h"

#include "kernel/errno.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "mm/check.h"
#include "mm/slab_internal.h"
#include "mm/vmscan.h"

slab_allocator *system_slab;

// ---- layout ---------------------------------------------------------------------------

constexpr unsigned CACHE_LINE_SIZE = 64;
constexpr unsigned SLAB_MIN_ALIGN = 8;
constexpr unsigned SLAB_MAX_ORDER = MAX_PAGE_ORDER;
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

// Objects of `size` that a slab of `order` holds, with its two bitmaps; sets
// *bitmap_offset (0: in the first tail page).
static unsigned objects_per_slab(unsigned size, unsigned order, unsigned *bitmap_offset) {
  unsigned long bytes = PAGE_SIZE << order;
  unsigned long n = bytes / size;
  if (order > 0 && n <= 64) {
    *bitmap_offset = 0;
    return unsigned(n);
  }
  while (n > 0 && n * size + 16 * ((n + 63) / 64) > bytes) n--;
  *bitmap_offset = unsigned(round_up(unsigned(n * size), 8));
  return unsigned(n);
}

// Basic algorithm: the smallest order that holds at least SLAB_MIN_OBJECTS
// (or any, from order 3 on) and wastes at most a sixteenth of the slab
// (Linux's first try); failing that, the order that wastes least.
static bool calculate_order(kmem_cache *s) {
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
  if (best_objects == 0) return false;
  s->order = best_order;
  s->objects = best_objects;
  s->bitmap_offset = best_offset;
  return true;
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
static bool calculate_sizes(kmem_cache *s) {
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
  if (!calculate_order(s)) return false;
  // Linux SLAB's array sizes, capped at what kmem_cache_cpu holds.
  s->limit = s->size > PAGE_SIZE ? 8 : s->size > 1024 ? 16 : s->size > 256 ? 24 : SLAB_ARRAY_MAX;
  s->batchcount = (s->limit + 1) / 2;
  // Linux: half the log2 of the size, between 5 and 10 slabs.
  unsigned ilog = 31 - unsigned(__builtin_clz(s->size));
  s->min_partial = ilog / 2 < 5 ? 5 : ilog / 2 > 10 ? 10 : ilog / 2;
  return true;
}

static unsigned long next_secret(slab_allocator &sa) {
  // splitmix64: distinct, well-mixed secrets from one seed.
  // Atomic: caches are created concurrently, outside slab_mutex.
  unsigned long z = __atomic_add_fetch(&sa.secret_seed, 0x9e3779b97f4a7c15ul, __ATOMIC_RELAXED);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ul;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebul;
  return z ^ (z >> 31);
}

static int cache_init(slab_allocator &sa, kmem_cache *s, const char *name, unsigned size, unsigned align,
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
  if (!calculate_sizes(s)) return -EINVAL;
  for (kmem_cache_cpu &c : s->cpu_slab) spin_lock_init(&c.lock);
  for (kmem_cache_node &n : s->node) {
    spin_lock_init(&n.list_lock);
    INIT_LIST_HEAD(&n.full);
    INIT_LIST_HEAD(&n.partial);
    INIT_LIST_HEAD(&n.free);
  }
  return 0;
}

// ---- slab lookup ----------------------------------------------------------------------

page *addr_to_slab(const mem_system &ms, const void *addr) {
  if (!virt_addr_valid(addr)) return nullptr;
  page *p = pfn_to_page(ms, PHYS_PFN(virt_to_phys(addr)));
  if (!p || PageBuddy(p) || PagePcp(p)) return nullptr;
  // Not compound_head() of a slab's head page: its compound_head word is
  // slab_list, which other CPUs relink under the node's list_lock.
  if (PageSlab(p)) return p;
  p = compound_head(p);
  return PageSlab(p) ? p : nullptr;
}

long slab_obj_index(const mem_system &ms, const kmem_cache *s, const page *slab, const void *addr) {
  unsigned long off = reinterpret_cast<uintptr_t>(addr) - reinterpret_cast<uintptr_t>(slab_base(ms, slab));
  if (off % s->size || off / s->size >= s->objects) return -1;
  return long(off / s->size);
}

// ---- slabs ------------------------------------------------------------------------------

static kmem_cache_node *slab_node(kmem_cache *s, const page *slab) { return &s->node[page_to_nid(slab)]; }

static node_stat_item slab_stat(const kmem_cache *s) {
  return (s->flags & SLAB_RECLAIM_ACCOUNT) ? NR_SLAB_RECLAIMABLE : NR_SLAB_UNRECLAIMABLE;
}

// Moves the slab to the list its state calls for. Needs the node's list_lock.
static void relist_slab(kmem_cache_node *n, page *slab) {
  list_del(&slab->slab_list);
  list_head *to = slab->inuse == 0 ? &n->free : slab->freelist ? &n->partial : &n->full;
  list_add(&slab->slab_list, to);
}

// The counters are read without the lock (take_from_other_nodes, the
// shrinker's count): add_locked.
static void count_slab(kmem_cache_node *n, const page *slab, long delta) {
  if (slab->inuse == 0) add_locked(n->nr_free, delta);
  else if (slab->freelist) add_locked(n->nr_partial, delta);
  else add_locked(n->nr_full, delta);
}

// Takes a new slab from the page allocator, on node nid if it can, with every
// object free. Called without locks (it may reclaim). nullptr on failure.
static page *allocate_slab(kmem_cache *s, gfp_t gfp, int nid) {
  mem_system &ms = *s->sa->ms;
  // Zone and mobility are the cache's, whatever the caller asked: a cache's
  // slabs are one kind of memory (Linux would let a caller's
  // __GFP_RECLAIMABLE through; kmalloc picks a kmalloc-rcl cache for it).
  gfp_t flags = (gfp & ~(GFP_ZONEMASK | GFP_MOVABLE_MASK | __GFP_ZERO | __GFP_COMP)) | s->allocflags | __GFP_NOWARN;
  if (s->order) flags |= __GFP_COMP;
  page *slab = alloc_pages_node(ms, nid, flags, s->order);
  if (!slab) {
    if (!(gfp & __GFP_NOWARN))
      pr_warn("SLUB: Unable to allocate memory on node %d, gfp=%#x\n  cache: %s, object size: %u, buffer size: %u, order: %u\n",
              nid, gfp, s->name, s->object_size, s->size, s->order);
    return nullptr;
  }
  set_page_flag(slab, PG_slab);
  slab->slab_cache = s;
  slab->inuse = 0;
  slab->lost = 0;
  u8 *base = slab_base(ms, slab);
  u64 *alloc = allocated_map(ms, s, slab), *onlist = onlist_map(ms, s, slab);
  for (unsigned w = 0; w < bitmap_words(s); w++) {
    alloc[w] = 0;
    unsigned left = s->objects - w * 64;
    onlist[w] = left >= 64 ? ~u64(0) : (u64(1) << left) - 1;
  }
  // Link the objects in address order, constructing and poisoning each.
  for (unsigned i = 0; i < s->objects; i++) {
    void *obj = base + size_t(i) * s->size;
    if (s->ctor) s->ctor(obj);
    init_object_free(s, obj);
    void *next = i + 1 < s->objects ? base + size_t(i + 1) * s->size : nullptr;
    *freelist_slot(s, obj) = freelist_encode(s, obj, next);
  }
  slab->freelist = base;
  node_page_state_add(ms.node_data[page_to_nid(slab)], slab_stat(s), long(1) << s->order);
  return slab;
}

// Gives an empty slab back to the page allocator. The slab must be off every list.
static void discard_slab(kmem_cache *s, page *slab) {
  mem_system &ms = *s->sa->ms;
  node_page_state_add(ms.node_data[page_to_nid(slab)], slab_stat(s), -(long(1) << s->order));
  if (s->bitmap_offset == 0) {
    slab[1].mapping = nullptr;
    slab[1].index = 0;
    slab[1].private_ = 0;
  }
  clear_page_flag(slab, PG_slab);
  slab->slab_cache = nullptr;
  slab->freelist = nullptr;
  slab->inuse = 0;
  slab->lost = 0;
  __free_pages(ms, slab, s->order);
}

// Basic algorithm of taking one object off a slab's freelist (list_lock held):
//  1. the head is the slab's raw freelist pointer (kept in struct page, out
//     of reach of stray writes to objects);
//  2. the link stored in it is decoded and checked: nullptr, or an object of
//     this slab, at an object boundary, marked on the freelist;
//  3. a link that fails is reported and not followed: the rest of the
//     freelist is abandoned (counted as lost, never handed out again).
static void *slab_pop_locked(kmem_cache *s, kmem_cache_node *n, page *slab) {
  mem_system &ms = *s->sa->ms;
  void *obj = slab->freelist;
  long i = slab_obj_index(ms, s, slab, obj);
  u64 *onlist = onlist_map(ms, s, slab);
  count_slab(n, slab, -1);
  onlist[i / 64] &= ~(u64(1) << (i % 64));
  slab->inuse++;
  void *next = freelist_decode(s, obj, *freelist_slot(s, obj));
  long ni = next ? slab_obj_index(ms, s, slab, next) : 0;
  bool bad_link = next && (ni < 0 || !test_bit(onlist, unsigned(ni)));
  // A link forged to skip free objects (or to end the list) is caught when
  // the list ends while the bitmap still has objects on it.
  bool ends_early = !next && slab->inuse < s->objects;
  if (bad_link || ends_early) {
    unsigned lost = s->objects - slab->inuse;
    if (bad_link)
      slab_err(*s->sa, s, obj, false, "Freelist link corrupted: free object's link decodes to %p, not a free object of this slab; %u free objects of the slab abandoned",
               next, lost);
    else
      slab_err(*s->sa, s, obj, false, "Freelist link corrupted: the freelist ends with %u free objects not reached; they are abandoned",
               lost);
    for (unsigned w = 0; w < bitmap_words(s); w++) onlist[w] = 0;
    slab->inuse += lost;
    slab->lost += lost;
    s->corrupted++;
    s->lost_objects += lost;
    next = nullptr;
  }
  slab->freelist = next;
  count_slab(n, slab, +1);
  relist_slab(n, slab);
  return obj;
}

// Puts an object back on its slab's freelist (list_lock held). Returns true
// when the slab became empty and more than min_partial free slabs are kept:
// the caller then discards it, outside the lock.
static bool slab_push_locked(kmem_cache *s, kmem_cache_node *n, page *slab, void *obj) {
  mem_system &ms = *s->sa->ms;
  long i = slab_obj_index(ms, s, slab, obj);
  count_slab(n, slab, -1);
  *freelist_slot(s, obj) = freelist_encode(s, obj, slab->freelist);
  slab->freelist = obj;
  onlist_map(ms, s, slab)[i / 64] |= u64(1) << (i % 64);
  slab->inuse--;
  if (slab->inuse == 0 && n->nr_free >= s->min_partial) {
    list_del(&slab->slab_list);
    n->total_objects -= s->objects;
    return true;
  }
  count_slab(n, slab, +1);
  relist_slab(n, slab);
  return false;
}

// The first slab with a free object on node n: partial ones first.
static page *slab_with_free_object(kmem_cache_node *n) {
  if (!list_empty(&n->partial)) return list_first_entry(&n->partial, page, slab_list);
  if (!list_empty(&n->free)) return list_first_entry(&n->free, page, slab_list);
  return nullptr;
}

// Takes up to `want` objects from node nid's slabs into out[]; returns how
// many. Needs no lock (takes the list_lock).
static unsigned take_from_node(kmem_cache *s, int nid, void **out, unsigned want) {
  kmem_cache_node *n = &s->node[nid];
  spin_lock_irqsave_guard g(n->list_lock);
  unsigned got = 0;
  while (got < want) {
    page *slab = slab_with_free_object(n);
    if (!slab) break;
    while (got < want && slab->freelist) out[got++] = slab_pop_locked(s, n, slab);
  }
  return got;
}

// Gives objects back to their slabs, each under its node's list_lock,
// discarding slabs that became surplus.
static unsigned long return_to_slabs(kmem_cache *s, void *const *objs, unsigned count) {
  mem_system &ms = *s->sa->ms;
  unsigned long freed = 0;
  for (unsigned k = 0; k < count; k++) {
    page *slab = addr_to_slab(ms, objs[k]);
    kmem_cache_node *n = slab_node(s, slab);
    bool discard;
    {
      spin_lock_irqsave_guard g(n->list_lock);
      discard = slab_push_locked(s, n, slab, objs[k]);
    }
    if (discard) {
      discard_slab(s, slab);
      freed += 1ul << s->order;
    }
  }
  return freed;
}

// Takes up to `want` objects from the slabs of nodes other than nid, nearest
// first (Linux's get_any_partial): a CPU whose node has no memory in the
// cache's zone is served from the slabs that the page allocator placed
// elsewhere, instead of a new slab for every refill.
static unsigned take_from_other_nodes(kmem_cache *s, int nid, void **out, unsigned want) {
  const mem_system &ms = *s->sa->ms;
  bool tried[MAX_NUMNODES] = {};
  tried[nid] = true;
  unsigned got = 0;
  for (unsigned round = 1; round < MAX_NUMNODES && got < want; round++) {
    int best = -1;
    for (int n = 0; n < int(MAX_NUMNODES); n++)
      if (!tried[n] && ms.node_data[n] && (best < 0 || ms.node_distance[nid][n] < ms.node_distance[nid][best])) best = n;
    if (best < 0) break;
    tried[best] = true;
    if (__atomic_load_n(&s->node[best].nr_partial, __ATOMIC_RELAXED) + __atomic_load_n(&s->node[best].nr_free, __ATOMIC_RELAXED))
      got += take_from_node(s, best, out + got, want - got);
  }
  return got;
}

// Takes up to `want` objects from node nid's slabs, then from other nodes'.
static unsigned take_objects(kmem_cache *s, int nid, void **out, unsigned want) {
  unsigned got = take_from_node(s, nid, out, want);
  if (got < want) got += take_from_other_nodes(s, nid, out + got, want - got);
  return got;
}

// A new slab, put on its node's lists with its first object taken for the
// caller: so the slab that was just paid for is the one used. nullptr if no
// slab page can be had. Called without locks.
static void *alloc_from_new_slab(kmem_cache *s, gfp_t gfp, int nid) {
  page *slab = allocate_slab(s, gfp, nid);
  if (!slab) return nullptr;
  kmem_cache_node *n = slab_node(s, slab);
  spin_lock_irqsave_guard g(n->list_lock);
  list_add(&slab->slab_list, &n->free);
  add_locked(n->nr_free, 1);
  n->total_objects += s->objects;
  return slab_pop_locked(s, n, slab);
}

// One object for a request on node nid: its slabs, other nodes' slabs, or a
// new slab. nullptr if no slab page can be had.
static void *alloc_from_node(kmem_cache *s, gfp_t gfp, int nid) {
  void *obj;
  if (take_objects(s, nid, &obj, 1)) return obj;
  return alloc_from_new_slab(s, gfp, nid);
}

// ---- the per-CPU arrays -----------------------------------------------------------------

static kmem_cache_cpu *this_cpu_array(kmem_cache *s) { return &s->cpu_slab[smp_processor_id() & (NR_CPUS - 1)]; }

static int local_node(const kmem_cache *s) { return s->sa->ms->cpu_to_node[smp_processor_id() & (NR_CPUS - 1)]; }

// Empties c (its lock held) back into the slabs. Returns the pages of the
// slabs that this gave back to the page allocator.
static unsigned long drain_array_locked(kmem_cache *s, kmem_cache_cpu *c) {
  unsigned long freed = return_to_slabs(s, c->entry, c->avail);
  WRITE_ONCE(c->avail, 0);
  return freed;
}

// Marks obj as held by a caller and prepares it: poison and red zone checks,
// zeroing or nothing (constructed objects stay as the constructor left them).
static void *post_alloc(kmem_cache *s, void *obj, gfp_t gfp) {
  mem_system &ms = *s->sa->ms;
  page *slab = addr_to_slab(ms, obj);
  long i = slab_obj_index(ms, s, slab, obj);
  u64 was = __atomic_fetch_or(&allocated_map(ms, s, slab)[i / 64], u64(1) << (i % 64), __ATOMIC_RELAXED);
  if (unlikely(ms.check_calls)) check_slab_alloc_call(s, obj, was & (u64(1) << (i % 64)));
  if (s->flags & SLAB_POISON) check_object_on_alloc(s, obj);
  if (s->flags & SLAB_RED_ZONE) set_redzone_active(s, obj);
  if (gfp & __GFP_ZERO) memset(obj, 0, s->object_size);
  return obj;
}

// Basic algorithm of kmem_cache_alloc:
//  1. this CPU's array: pop an object (trylock; if the lock is held, go to 3);
//  2. an empty array is refilled with batchcount objects from the local
//     node's slabs, then other nodes' (nearest first); when there are none,
//     the lock is dropped and a new slab is allocated (which may reclaim,
//     and reclaim may shrink this cache), its first object taken at once;
//  3. requests for a particular node, and a CPU that finds its array locked,
//     take one object straight from the node's slabs.
static void *slab_alloc(kmem_cache *s, gfp_t gfp, int nid) {
  if (gfp & (__GFP_HIGHMEM | __GFP_MOVABLE)) {
    pr_warn("slab %s: unexpected gfp %#x: __GFP_HIGHMEM/__GFP_MOVABLE ignored\n", s->name, gfp);
    gfp &= ~(__GFP_HIGHMEM | __GFP_MOVABLE);
  }
  // As in Linux, never the cache of caches: failing it would only test
  // kmem_cache_create's one failure path over and over.
  if (s != &s->sa->kmem_cache_boot && should_failslab(s->sa->failslab, gfp, s->object_size)) return nullptr;
  int local = local_node(s);
  if (nid != NUMA_NO_NODE && nid != local) {
    if (nid < 0 || nid >= int(MAX_NUMNODES) || !s->sa->ms->node_data[nid]) nid = local;
    void *obj = alloc_from_node(s, gfp, nid);
    return obj ? post_alloc(s, obj, gfp) : nullptr;
  }
  kmem_cache_cpu *c = this_cpu_array(s);
  void *obj = nullptr;
  if (spin_trylock(&c->lock)) {
    if (c->avail == 0) WRITE_ONCE(c->avail, take_objects(s, local, c->entry, s->batchcount));
    if (c->avail) {
      obj = c->entry[c->avail - 1];
      WRITE_ONCE(c->avail, c->avail - 1);
    }
    spin_unlock(&c->lock);
    // No free object anywhere: a new slab, with no lock held.
    if (!obj) obj = alloc_from_new_slab(s, gfp, local);
  } else {
    obj = alloc_from_node(s, gfp, local);
  }
  return obj ? post_alloc(s, obj, gfp) : nullptr;
}

void *kmem_cache_alloc(kmem_cache *s, gfp_t gfp) { return slab_alloc(s, gfp, NUMA_NO_NODE); }
void *kmem_cache_zalloc(kmem_cache *s, gfp_t gfp) { return slab_alloc(s, gfp | __GFP_ZERO, NUMA_NO_NODE); }
void *kmem_cache_alloc_node(kmem_cache *s, gfp_t gfp, int nid) { return slab_alloc(s, gfp, nid); }

// Checks that obj is an object of s that a caller holds, and takes it back
// from the caller (clears its `allocated` bit). Reports and returns false for
// anything else, changing nothing.
static bool take_back_object(kmem_cache *s, const void *obj, const char *caller) {
  mem_system &ms = *s->sa->ms;
  page *slab = addr_to_slab(ms, obj);
  if (!slab) {
    slab_err(*s->sa, s, obj, true, "%s: object is not in a slab page", caller);
    return false;
  }
  if (slab->slab_cache != s) {
    slab_err(*s->sa, s, obj, true, "%s: wrong slab cache: the object belongs to %s", caller, slab->slab_cache->name);
    return false;
  }
  long i = slab_obj_index(ms, s, slab, obj);
  if (i < 0) {
    slab_err(*s->sa, s, obj, true, "%s: pointer is not the start of an object (offset %lu into a slot of %u bytes)",
             caller, (reinterpret_cast<uintptr_t>(obj) - reinterpret_cast<uintptr_t>(slab_base(ms, slab))) % s->size,
             s->size);
    return false;
  }
  u64 bit = u64(1) << (i % 64);
  u64 old = __atomic_fetch_and(&allocated_map(ms, s, slab)[i / 64], ~bit, __ATOMIC_ACQ_REL);
  if (!(old & bit)) {
    slab_err(*s->sa, s, obj, true, "%s: object already free (double free, or never allocated)", caller);
    return false;
  }
  return true;
}

// Basic algorithm of kmem_cache_free:
//  1. the object is taken back from the caller (a bad pointer stops here);
//  2. its red zone is checked and its bytes poisoned (debug caches);
//  3. it goes on this CPU's array; a full array first gives batchcount of its
//     oldest objects back to their slabs. If the array is locked, the object
//     goes straight back to its slab.
static void slab_free(kmem_cache *s, void *obj, const char *caller) {
  if (!take_back_object(s, obj, caller)) return;
  if (s->flags & SLAB_RED_ZONE) check_redzone_on_free(s, obj);
  init_object_free(s, obj);
  kmem_cache_cpu *c = this_cpu_array(s);
  if (!spin_trylock(&c->lock)) {
    return_to_slabs(s, &obj, 1);
    return;
  }
  if (c->avail >= s->limit) {
    unsigned n = s->batchcount;
    return_to_slabs(s, c->entry, n);
    memmove(c->entry, c->entry + n, (c->avail - n) * sizeof(void *));
    WRITE_ONCE(c->avail, c->avail - n);
  }
  c->entry[c->avail] = obj;
  WRITE_ONCE(c->avail, c->avail + 1);
  spin_unlock(&c->lock);
}

void kmem_cache_free(kmem_cache *s, void *obj) {
  if (!obj) return;
  slab_free(s, obj, "kmem_cache_free");
}

void slab_free_checked(kmem_cache *s, void *obj, const char *caller) { slab_free(s, obj, caller); }

// ---- shrinking and destruction ------------------------------------------------------------

// Empties every CPU's array of s and gives back its free slabs. Returns pages freed.
unsigned long kmem_cache_shrink(kmem_cache *s) {
  unsigned long freed = 0;
  for (kmem_cache_cpu &c : s->cpu_slab) {
    spin_lock_guard g(c.lock);
    freed += drain_array_locked(s, &c);
  }
  for (kmem_cache_node &n : s->node) {
    list_head discard;
    INIT_LIST_HEAD(&discard);
    {
      spin_lock_irqsave_guard g(n.list_lock);
      while (!list_empty(&n.free)) {
        page *slab = list_first_entry(&n.free, page, slab_list);
        list_del(&slab->slab_list);
        list_add(&slab->slab_list, &discard);
        add_locked(n.nr_free, -1);
        n.total_objects -= s->objects;
      }
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

// Objects held by callers (not free, not in arrays, not lost).
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
          n.total_objects -= s->objects;
          list_del(&slab->slab_list);
          list_add(&slab->slab_list, &discard);
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
  if (size == 0 || size > (PAGE_SIZE << SLAB_MAX_ORDER) / 2)
    return pr_err("kmem_cache_create(%s): size %u out of range (1..%lu)\n", name, size,
                  (PAGE_SIZE << SLAB_MAX_ORDER) / 2), false;
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
  if (cache_init(sa, s, name, size, align, flags, ctor)) {
    pr_err("kmem_cache_create(%s): size %u with alignment %u does not fit a slab\n", name, size, align);
    kmem_cache_free(&sa.kmem_cache_boot, s);
    return nullptr;
  }
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
    for (const kmem_cache_node &n : s->node) pages += __atomic_load_n(&n.nr_free, __ATOMIC_RELAXED) << s->order;
    for (const kmem_cache_cpu &c : s->cpu_slab) pages += __atomic_load_n(&c.avail, __ATOMIC_RELAXED) ? 1 : 0;
  }
  return pages ? pages : SHRINK_EMPTY;
}

// Shrinks caches (emptying their arrays, freeing their free slabs) until
// nr_to_scan pages are freed or every cache is done.
static unsigned long slab_scan_objects(shrinker *sh, shrink_control *sc) {
  slab_allocator &sa = *static_cast<slab_allocator *>(sh->private_data);
  unsigned long freed = 0;
  spin_lock_guard g(sa.slab_mutex);
  list_for_each(e, &sa.caches) {
    if (freed >= sc->nr_to_scan) break;
    freed += kmem_cache_shrink(list_entry(e, kmem_cache, list));
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
  if (cache_init(sa, &sa.kmem_cache_boot, "kmem_cache", sizeof(kmem_cache), alignof(kmem_cache),
                 SLAB_HWCACHE_ALIGN, nullptr))
    return -ENOMEM;
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
  for (auto &row : sa.kmalloc_caches)
    for (kmem_cache *&c : row)
      if (c && kmem_cache_destroy(c) == 0) c = nullptr;
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

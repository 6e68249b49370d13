// The slab allocator's allocation and free paths: slab pages, the freelist,
// per-CPU ("frozen") slabs, remote frees and flushing. See mm/slab.h for the
// algorithm and the invariants; mm/slab.cpp creates and destroys caches.
//
// Who may change what:
//   - a frozen slab's freelist, inuse and `allocated`/`onlist` bits: the CPU
//     it is frozen to, inside local_lock_irqsave (or a stop_machine);
//   - its `remote` bits and slab_remote: any CPU, with atomic OR; taken back
//     by the owner with atomic exchange; slab_inflight: any CPU's remote
//     free, around its look at slab_frozen (an unfreeze waits for it to
//     drop to 0);
//   - an unfrozen slab's everything, and slab_frozen: the node's list_lock;
//   - a kmem_cache_cpu: its CPU inside local_lock_irqsave (or a stop_machine).
// Every path runs inside local_lock_irqsave except the page allocator's call
// for a new slab (which may reclaim, and reclaim may stop the machine), so a
// stop_machine sees every slab at rest.
#include "kernel/printk.h"
#include "kernel/string.h"
#include "mm/check.h"
#include "mm/slab_fastpath.h"

static inline unsigned this_cpu() { return smp_processor_id() & (NR_CPUS - 1); }

static kmem_cache_node *slab_node(kmem_cache *s, const page *slab) { return &s->node[page_to_nid(slab)]; }

static node_stat_item slab_stat(const kmem_cache *s) {
  return (s->flags & SLAB_RECLAIM_ACCOUNT) ? NR_SLAB_RECLAIMABLE : NR_SLAB_UNRECLAIMABLE;
}

page *addr_to_slab(const mem_system &ms, const void *addr) { return virt_to_slab(ms, addr); }

// ---- slab pages ---------------------------------------------------------------------

// A new slab head's fields: cache and freelist, counts, owner. The page
// allocator leaves them as the page's last owner did.
static void reset_slab_page(page *slab, kmem_cache *s, void *freelist) {
  slab->slab_cache = s;
  slab->freelist = freelist;
  slab->inuse = 0;
  slab->lost = 0;
  slab->slab_frozen = 0;
  slab->slab_inflight = 0;
  slab->slab_remote = 0;
}

// Takes a new slab from the page allocator, on node nid if it can, with every
// object free, unfrozen and on no list. Called outside local_lock_irqsave (it
// may reclaim). nullptr on failure.
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
  u8 *base = slab_base(ms, slab);
  reset_slab_page(slab, s, base);
  u64 *maps = slab_bitmaps(ms, s, slab);
  const unsigned words = bitmap_words(s);
  for (unsigned w = 0; w < words; w++) {
    unsigned left = s->objects - w * 64;
    maps[w] = 0;
    maps[words + w] = left >= 64 ? ~u64(0) : (u64(1) << left) - 1;
    maps[2 * words + w] = 0;
  }
  // Link the objects in address order, constructing and poisoning each.
  for (unsigned i = 0; i < s->objects; i++) {
    void *obj = base + size_t(i) * s->size;
    if (s->ctor) s->ctor(obj);
    init_object_free(s, obj);
    void *next = i + 1 < s->objects ? base + size_t(i + 1) * s->size : nullptr;
    *freelist_slot(s, obj) = freelist_encode(s, obj, next);
  }
  kmem_cache_node *n = slab_node(s, slab);
  __atomic_fetch_add(&n->nr_slabs, 1ul, __ATOMIC_RELAXED);
  __atomic_fetch_add(&n->total_objects, (unsigned long)s->objects, __ATOMIC_RELAXED);
  mod_node_page_state(ms.node_data[page_to_nid(slab)], slab_stat(s), long(1) << s->order);
  return slab;
}

void discard_slab(kmem_cache *s, page *slab) {
  mem_system &ms = *s->sa->ms;
  kmem_cache_node *n = slab_node(s, slab);
  __atomic_fetch_sub(&n->nr_slabs, 1ul, __ATOMIC_RELAXED);
  __atomic_fetch_sub(&n->total_objects, (unsigned long)s->objects, __ATOMIC_RELAXED);
  mod_node_page_state(ms.node_data[page_to_nid(slab)], slab_stat(s), -(long(1) << s->order));
  // Of the bitmaps in the first tail page only `onlist` (index) can be
  // set: a slab given back holds no object, so `allocated` (mapping) and
  // `remote` (private_) are 0, as a free page's fields must be. Nothing
  // else to clear: the page allocator clears the head's mapping and index
  // (slab_cache, freelist) and sets its private_ (inuse, lost) on a free,
  // and an unfrozen slab has no owner, remote flag or free in flight left.
  if (s->bitmap_offset == 0) slab[1].index = 0;
  clear_page_flag(slab, PG_slab);
  __free_pages(ms, slab, s->order);
}

// ---- the freelist -------------------------------------------------------------------
// Each function here needs the freelist's owner: the CPU the slab is frozen
// to, or the holder of the node's list_lock for an unfrozen slab.

// A link that fails its check is reported and not followed: the rest of the
// freelist is abandoned (counted as lost, never handed out again).
void freelist_corrupted(kmem_cache *s, page *slab, u64 *onlist, void *obj, void *next) {
  unsigned lost = s->objects - slab->inuse;
  if (next)
    slab_err(*s->sa, s, obj, false, "Freelist link corrupted: free object's link decodes to %p, not a free object of this slab; %u free objects of the slab abandoned",
             next, lost);
  else
    slab_err(*s->sa, s, obj, false, "Freelist link corrupted: the freelist ends with %u free objects not reached; they are abandoned",
             lost);
  for (unsigned w = 0; w < bitmap_words(s); w++) onlist[w] = 0;
  slab->inuse += lost;
  slab->lost += lost;
  __atomic_fetch_add(&s->corrupted, 1ul, __ATOMIC_RELAXED);
  __atomic_fetch_add(&s->lost_objects, (unsigned long)lost, __ATOMIC_RELAXED);
  slab->freelist = nullptr;
}

// Takes back the objects other CPUs freed into the slab.
static void collect_remote(kmem_cache *s, page *slab) {
  const mem_system &ms = *s->sa->ms;
  // Cleared first: a free that sets a bit after the sweep below flags again.
  __atomic_store_n(&slab->slab_remote, u16(0), __ATOMIC_SEQ_CST);
  u8 *base = slab_base(ms, slab);
  u64 *maps = slab_bitmaps(ms, s, slab);
  const unsigned words = bitmap_words(s);
  for (unsigned w = 0; w < words; w++) {
    u64 bits = __atomic_exchange_n(&maps[2 * words + w], u64(0), __ATOMIC_ACQ_REL);
    while (bits) {
      const unsigned long i = w * 64 + unsigned(__builtin_ctzll(bits));
      const u64 bit = u64(1) << (i % 64);
      bits &= bits - 1;
      void *obj = base + i * s->size;
      // Freed here meanwhile (the remote free saw it held, then lost the
      // race): the second free is the bad one, and it is dropped.
      if (!(maps[w] & bit)) {
        slab_err(*s->sa, s, obj, true, "kfree: object already free (double free, or never allocated)");
        continue;
      }
      WRITE_ONCE(maps[w], maps[w] & ~bit);
      freelist_push(s, slab, maps, obj, i);
    }
  }
}

// ---- node lists -----------------------------------------------------------------------

// Puts an unfrozen slab that is on no list on the list its state calls for,
// or takes it off for discarding when it is free and the node keeps enough
// free slabs. Needs the list_lock; returns true when the caller must
// discard_slab it after dropping the lock.
static bool list_or_discard_locked(kmem_cache *s, kmem_cache_node *n, page *slab) {
  if (slab->inuse == 0 && n->nr_free >= s->min_partial) return true;
  list_add(&slab->slab_list, list_for(n, slab));
  count_slab(n, slab, +1);
  return false;
}

// Makes an unlisted slab CPU cpu's. slab_frozen is what a remote free reads
// to decide between the remote bitmap and the list_lock.
static void freeze_slab(page *slab, unsigned cpu) {
  __atomic_store_n(&slab->slab_frozen, u8(cpu + 1), __ATOMIC_SEQ_CST);
}

// Gives a frozen slab (on no list) back to its node: frozen no more, remote
// frees taken back, onto the list its state calls for, or to the page
// allocator. Returns the pages given back.
static unsigned long unfreeze_slab(kmem_cache *s, page *slab) {
  kmem_cache_node *n = slab_node(s, slab);
  bool discard;
  {
    spin_lock_irqsave_guard g(n->list_lock);
    __atomic_store_n(&slab->slab_frozen, u8(0), __ATOMIC_SEQ_CST);
    // Remote frees that saw the slab frozen finish publishing first (a few
    // instructions, inside their CPUs' sections); later ones see it
    // unfrozen and wait for this lock. So every remote bit is taken back
    // below, and no remote free touches the slab once it may be discarded.
    while (__atomic_load_n(&slab->slab_inflight, __ATOMIC_SEQ_CST)) cpu_relax();
    if (__atomic_load_n(&slab->slab_remote, __ATOMIC_ACQUIRE)) collect_remote(s, slab);
    discard = list_or_discard_locked(s, n, slab);
  }
  if (!discard) return 0;
  discard_slab(s, slab);
  return 1ul << s->order;
}

// Whether node n has a slab with a free object, read without the lock: a
// quick look that spares an empty node's lock.
static bool node_has_free_object(const kmem_cache_node *n) {
  return __atomic_load_n(&n->nr_partial, __ATOMIC_RELAXED) | __atomic_load_n(&n->nr_free, __ATOMIC_RELAXED);
}

// Takes node n's first slab with a free object (partial slabs first) off
// its list; nullptr if it has none. Needs the list_lock.
static page *take_node_slab_locked(kmem_cache_node *n) {
  list_head *from = !list_empty(&n->partial) ? &n->partial : !list_empty(&n->free) ? &n->free : nullptr;
  if (!from) return nullptr;
  page *slab = list_first_entry(from, page, slab_list);
  count_slab(n, slab, -1);
  list_del(&slab->slab_list);
  return slab;
}

// A slab of node nid with a free object, frozen to cpu, or nullptr.
static page *get_node_slab(kmem_cache *s, int nid, unsigned cpu) {
  kmem_cache_node *n = &s->node[nid];
  if (!node_has_free_object(n)) return nullptr;
  spin_lock_irqsave_guard g(n->list_lock);
  page *slab = take_node_slab_locked(n);
  if (slab) freeze_slab(slab, cpu);
  return slab;
}

// The nearest node with memory not yet tried (marked tried now), or -1.
static int next_nearest_node(const mem_system &ms, int nid, bool *tried) {
  int best = -1;
  for (int n = 0; n < int(MAX_NUMNODES); n++)
    if (!tried[n] && ms.node_data[n] && (best < 0 || ms.node_distance[nid][n] < ms.node_distance[nid][best])) best = n;
  if (best >= 0) tried[best] = true;
  return best;
}

// The same from other nodes, nearest first (Linux's get_any_partial): a CPU
// whose node has no memory in the cache's zone is served from the slabs the
// page allocator placed elsewhere, instead of a new slab for every refill.
static page *get_any_node_slab(kmem_cache *s, int nid, unsigned cpu) {
  bool tried[MAX_NUMNODES] = {};
  tried[nid] = true;
  for (int n; (n = next_nearest_node(*s->sa->ms, nid, tried)) >= 0;)
    if (page *slab = get_node_slab(s, n, cpu)) return slab;
  return nullptr;
}

// ---- per-CPU slabs --------------------------------------------------------------------

static int cpu_node(const kmem_cache *s, unsigned cpu) { return s->sa->ms->cpu_to_node[cpu]; }

// Adds a frozen slab to c's partial list, first giving the oldest back to
// its node when the list is full.
static void add_cpu_partial(kmem_cache *s, kmem_cache_cpu *c, page *slab) {
  if (c->nr_partial >= s->cpu_partial_slabs && c->nr_partial) {
    page *oldest = list_last_entry(&c->partial, page, slab_list);
    list_del(&oldest->slab_list);
    c->nr_partial--;
    unfreeze_slab(s, oldest);
  }
  list_add(&slab->slab_list, &c->partial);
  c->nr_partial++;
}

unsigned long flush_cpu_slabs(kmem_cache *s, unsigned cpu) {
  kmem_cache_cpu *c = &s->cpu_slab[cpu];
  unsigned long freed = 0;
  if (page *slab = c->slab) {
    c->slab = nullptr;
    freed += unfreeze_slab(s, slab);
  }
  while (!list_empty(&c->partial)) {
    page *slab = list_first_entry(&c->partial, page, slab_list);
    list_del(&slab->slab_list);
    c->nr_partial--;
    freed += unfreeze_slab(s, slab);
  }
  return freed;
}

// ---- allocation ---------------------------------------------------------------------

// Basic algorithm when the CPU's slab has no free object (inside
// local_lock_irqsave, which it may drop and take again: *flags):
//  1. objects other CPUs freed into the slab are taken back;
//  2. otherwise the slab goes back to its node, and the next of the CPU's
//     own partial slabs with a free object (after taking back its remote
//     frees) becomes the CPU's slab;
//  3. otherwise a slab of the local node, then of the others, nearest first;
//  4. otherwise a new slab, allocated outside the section: the page
//     allocator may reclaim, and reclaim may stop the machine.
static void *alloc_slow(kmem_cache *s, unsigned cpu, gfp_t gfp, unsigned long *flags) {
  kmem_cache_cpu *c = &s->cpu_slab[cpu];
  for (;;) {
    if (page *slab = c->slab) {
      if (__atomic_load_n(&slab->slab_remote, __ATOMIC_RELAXED)) collect_remote(s, slab);
      if (slab->freelist) return freelist_pop(s, slab);
      c->slab = nullptr;
      unfreeze_slab(s, slab);
    }
    while (!c->slab && !list_empty(&c->partial)) {
      page *slab = list_first_entry(&c->partial, page, slab_list);
      list_del(&slab->slab_list);
      c->nr_partial--;
      if (__atomic_load_n(&slab->slab_remote, __ATOMIC_RELAXED)) collect_remote(s, slab);
      if (slab->freelist) c->slab = slab;
      else unfreeze_slab(s, slab);
    }
    if (c->slab) continue;
    const int nid = cpu_node(s, cpu);
    c->slab = get_node_slab(s, nid, cpu);
    if (!c->slab) c->slab = get_any_node_slab(s, nid, cpu);
    if (c->slab) continue;
    local_unlock_irqrestore(*flags);
    page *fresh = allocate_slab(s, gfp, nid);
    *flags = local_lock_irqsave();
    if (!fresh) return c->slab && c->slab->freelist ? freelist_pop(s, c->slab) : nullptr;
    freeze_slab(fresh, cpu);
    // An interrupt's allocation may have given the CPU a slab meanwhile.
    if (c->slab) add_cpu_partial(s, c, fresh);
    else c->slab = fresh;
  }
}

// An object of one of node nid's unfrozen slabs (partial ones first), which
// stay with the node; nullptr if it has none. Inside local_lock_irqsave.
static void *pop_from_node(kmem_cache *s, int nid) {
  kmem_cache_node *n = &s->node[nid];
  if (!node_has_free_object(n)) return nullptr;
  spin_lock_irqsave_guard g(n->list_lock);
  page *slab = take_node_slab_locked(n);
  if (!slab) return nullptr;
  void *obj = freelist_pop(s, slab);
  list_add(&slab->slab_list, list_for(n, slab));
  count_slab(n, slab, +1);
  return obj;
}

// A request for another node: an object of that node's slabs no CPU owns,
// then of other nodes' (nearest first), then of a new slab, which stays
// with its node. nullptr if no slab page can be had.
static void *alloc_from_node(kmem_cache *s, gfp_t gfp, int nid) {
  unsigned long flags = local_lock_irqsave();
  void *obj = pop_from_node(s, nid);
  bool tried[MAX_NUMNODES] = {};
  tried[nid] = true;
  for (int n; !obj && (n = next_nearest_node(*s->sa->ms, nid, tried)) >= 0;) obj = pop_from_node(s, n);
  local_unlock_irqrestore(flags);
  if (obj) return obj;
  page *fresh = allocate_slab(s, gfp, nid);
  if (!fresh) return nullptr;
  // On another node when nid had no memory for it: that node's lists.
  kmem_cache_node *home = slab_node(s, fresh);
  flags = local_lock_irqsave();
  {
    spin_lock_irqsave_guard g(home->list_lock);
    obj = freelist_pop(s, fresh);
    list_add(&fresh->slab_list, list_for(home, fresh));
    count_slab(home, fresh, +1);
  }
  local_unlock_irqrestore(flags);
  return obj;
}

// Marks obj as handed out for debugging and the caller: poison and red zone
// checks, zeroing (constructed objects stay as the constructor left them),
// and mm.check=1's look at the object.
static void *post_alloc(kmem_cache *s, void *obj, gfp_t gfp) {
  if (s->flags & SLAB_POISON) check_object_on_alloc(s, obj);
  if (s->flags & SLAB_RED_ZONE) set_redzone_active(s, obj);
  if (gfp & __GFP_ZERO) memset(obj, 0, s->object_size);
  if (s->sa->ms->check_calls) check_slab_alloc_call(s, obj);
  return obj;
}

void *freelist_corrupted_unlock(kmem_cache *s, page *slab, void *obj, void *next, unsigned long flags, gfp_t gfp) {
  freelist_corrupted(s, slab, slab_bitmaps(*s->sa->ms, s, slab) + bitmap_words(s), obj, next);
  local_unlock_irqrestore(flags);
  return gfp & __GFP_ZERO ? memset(obj, 0, s->object_size) : obj;
}

// Basic algorithm of the general path of kmem_cache_alloc:
//  1. flags a cache ignores are dropped with a warning, and fault injection
//     may fail the request (never for the cache of caches: failing it would
//     only test kmem_cache_create's one failure path over and over);
//  2. a request for another node takes an object of that node's slabs;
//  3. otherwise, inside local_lock_irqsave, the CPU's slab, or alloc_slow;
//  4. debug checks, zeroing and mm.check=1 on the object.
void *slab_alloc_general(kmem_cache *s, gfp_t gfp, int nid) {
  if (gfp & SLAB_GENERAL_GFP) {
    pr_warn("slab %s: unexpected gfp %#x: __GFP_HIGHMEM/__GFP_MOVABLE ignored\n", s->name, gfp);
    gfp &= ~SLAB_GENERAL_GFP;
  }
  if (s != &s->sa->kmem_cache_boot && should_failslab(s->sa->failslab, gfp, s->object_size)) return nullptr;
  void *obj;
  if (nid != NUMA_NO_NODE && nid != cpu_node(s, this_cpu()) && nid >= 0 && nid < int(MAX_NUMNODES) &&
      s->sa->ms->node_data[nid]) {
    obj = alloc_from_node(s, gfp, nid);
  } else {
    unsigned long flags = local_lock_irqsave();
    const unsigned cpu = this_cpu();
    page *slab = s->cpu_slab[cpu].slab;
    obj = slab && slab->freelist ? freelist_pop(s, slab) : alloc_slow(s, cpu, gfp, &flags);
    local_unlock_irqrestore(flags);
  }
  return obj ? post_alloc(s, obj, gfp) : nullptr;
}

// ---- freeing ------------------------------------------------------------------------

void report_double_free(kmem_cache *s, void *obj, const char *caller) {
  slab_err(*s->sa, s, obj, true, "%s: object already free (double free, or never allocated)", caller);
}

// Object i of an unfrozen slab, under its node's list_lock: checked, pushed,
// and the slab relisted, made this CPU's (a free into a full slab, when the
// CPU has room: its next frees there need no lock), or discarded. Returns
// false for a double free (nothing changed), and sets *discard.
static bool free_to_node_locked(kmem_cache *s, kmem_cache_node *n, page *slab, u64 *maps, void *obj,
                                unsigned long i, unsigned cpu, bool *discard) {
  const unsigned words = bitmap_words(s);
  const u64 bit = u64(1) << (i % 64);
  if (!(maps[i / 64] & bit) || (READ_ONCE(maps[2 * words + i / 64]) & bit)) return false;
  count_slab(n, slab, -1);
  list_del(&slab->slab_list);
  const bool was_full = !slab->freelist;
  WRITE_ONCE(maps[i / 64], maps[i / 64] & ~bit);
  freelist_push(s, slab, maps, obj, i);
  if (__atomic_load_n(&slab->slab_remote, __ATOMIC_SEQ_CST)) collect_remote(s, slab);
  kmem_cache_cpu *c = &s->cpu_slab[cpu];
  // free_to_other has made room on the CPU's partial list for a full slab.
  if (was_full && slab->inuse) {
    freeze_slab(slab, cpu);
    list_add(&slab->slab_list, &c->partial);
    c->nr_partial++;
    *discard = false;
  } else {
    *discard = list_or_discard_locked(s, n, slab);
  }
  return true;
}

// Basic algorithm of a free into a slab this CPU does not own (inside
// local_lock_irqsave):
//  1. announce the free (slab_inflight), then look at slab_frozen: frozen
//     to another CPU, set the object's `remote` bit (refused if it is not
//     held or already set), flag the slab and withdraw the announcement,
//     the last access to the slab: once the bit is set its owner may take
//     it back and free the slab. An unfreeze waits for announced frees, so
//     none is left behind;
//  2. unfrozen: withdraw, and under the node's list_lock (frozen since?
//     back to 1) onto the freelist.
// Returns false for a double free (nothing changed).
static bool free_to_other(kmem_cache *s, page *slab, u64 *maps, void *obj, unsigned long i, unsigned cpu) {
  const unsigned words = bitmap_words(s);
  const u64 bit = u64(1) << (i % 64);
  kmem_cache_node *n = slab_node(s, slab);
  for (;;) {
    __atomic_add_fetch(&slab->slab_inflight, 1u, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&slab->slab_frozen, __ATOMIC_SEQ_CST)) {
      bool ok = (READ_ONCE(maps[i / 64]) & bit) &&
                !(__atomic_fetch_or(&maps[2 * words + i / 64], bit, __ATOMIC_SEQ_CST) & bit);
      if (ok) __atomic_store_n(&slab->slab_remote, u16(1), __ATOMIC_RELEASE);
      __atomic_sub_fetch(&slab->slab_inflight, 1u, __ATOMIC_RELEASE);
      return ok;
    }
    __atomic_sub_fetch(&slab->slab_inflight, 1u, __ATOMIC_RELEASE);
    // A free into a full slab makes it ours if the CPU has room: when it
    // has none, the oldest partial slab goes back first, outside this
    // node's lock (it may be of this node), and the free starts over.
    kmem_cache_cpu *c = &s->cpu_slab[cpu];
    bool ok = false, discard = false, make_room = false;
    {
      spin_lock_irqsave_guard g(n->list_lock);
      if (__atomic_load_n(&slab->slab_frozen, __ATOMIC_SEQ_CST)) continue;
      make_room = !slab->freelist && c->nr_partial && c->nr_partial >= s->cpu_partial_slabs;
      if (!make_room) ok = free_to_node_locked(s, n, slab, maps, obj, i, cpu, &discard);
    }
    if (make_room) {
      page *oldest = list_last_entry(&c->partial, page, slab_list);
      list_del(&oldest->slab_list);
      c->nr_partial--;
      unfreeze_slab(s, oldest);
      continue;
    }
    if (discard) discard_slab(s, slab);
    return ok;
  }
}

// Red zone, then poison, of a debug cache's object that is about to be
// freed; only for an object a caller holds (a double free leaves the
// object's bytes alone).
[[gnu::cold, gnu::noinline]] static bool debug_free(kmem_cache *s, const u64 *maps, void *obj, unsigned long i) {
  const u64 bit = u64(1) << (i % 64);
  if (!(READ_ONCE(maps[i / 64]) & bit) ||
      (READ_ONCE(maps[2 * bitmap_words(s) + i / 64]) & bit))
    return false;
  if (s->flags & SLAB_RED_ZONE) check_redzone_on_free(s, obj);
  init_object_free(s, obj);
  return true;
}

[[gnu::cold, gnu::noinline]] void slab_free_bad_pointer(kmem_cache *s, void *obj, const char *caller) {
  slab_err(*s->sa, s, obj, true, "%s: pointer is not the start of an object (offset %lu into a slot of %u bytes)",
           caller, (reinterpret_cast<uintptr_t>(obj) & s->slab_mask) % s->size, s->size);
}

// What the fast path leaves: debug caches (red zone checked and bytes
// poisoned first, for an object a caller holds), and slabs this CPU does
// not own (free_to_other).
void slab_free_slowpath(kmem_cache *s, page *slab, void *obj, unsigned long i, const char *caller) {
  u64 *maps = slab_bitmaps_at(s, slab, reinterpret_cast<uintptr_t>(obj) & ~s->slab_mask);
  if ((s->flags & SLAB_DEBUG_FLAGS) && !debug_free(s, maps, obj, i)) return report_double_free(s, obj, caller);
  unsigned long flags = local_lock_irqsave();
  const unsigned cpu = this_cpu();
  bool ok = READ_ONCE(slab->slab_frozen) == cpu + 1 ? freelist_free_owned(s, slab, maps, obj, i)
                                         : free_to_other(s, slab, maps, obj, i, cpu);
  local_unlock_irqrestore(flags);
  if (!ok) report_double_free(s, obj, caller);
}

// The slab allocator's invariants (listed in mm/slab.h), checked cache by
// cache with every other CPU held by stop_machine (so that their slabs are
// at rest and may be read), slab_mutex held (taken before: a CPU parked
// while holding it would never give it up), and each node's list_lock.
// Every violation is described; nothing is changed. A list is followed only
// while each entry links back to the one before it, and a list cut there is
// named once: nothing is compared with what its walk counted.
#include "kernel/printk.h"
#include "kernel/spinlock.h"
#include "mm/check.h"
#include "mm/slab_internal.h"

namespace {

constexpr unsigned MAX_CHECKED_OBJECTS = 4096;  // per slab: the visited bitmap's size
constexpr unsigned MAX_CPU_PARTIAL = 64;        // cpu_partial_slabs' bound (Linux's, in objects, is far lower)

struct cache_check {
  const mem_system &ms;
  check_report &r;
  const kmem_cache *s;
  unsigned long frozen[MAX_NUMNODES];  // slabs frozen to some CPU, by node
  unsigned long pages = 0;             // in this cache's slabs
  bool cpu_lists_intact = true;        // so frozen[] counts every CPU's slabs
  bool lists_intact = true;            // so pages counts every slab
};

// Calls visit on each entry of the list at head while every entry links
// back to the one before it; returns whether the walk came back to the head,
// with the entries visited in *n. The first entry a walk meets twice is
// reached the second time from another entry than its prev, so a cycle
// that misses the head is cut there, with each entry visited once: the walk
// needs no bound.
template <typename F>
bool walk_list(const list_head *head, unsigned long *n, F visit) {
  *n = 0;
  for (const list_head *prev = head, *e = head->next;; prev = e, e = e->next) {
    if (e->prev != prev) return false;
    if (e == head) return true;
    ++*n;
    visit(e);
  }
}

__printf(2, 3) void cfail(cache_check &c, const char *fmt, ...) {
  char msg[224];
  va_list ap;
  va_start(ap, fmt);
  vscnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  check_fail(c.r, "slab %s: %s", c.s->name, msg);
}

unsigned popcount_map(const u64 *map, unsigned words) {
  unsigned n = 0;
  for (unsigned w = 0; w < words; w++) n += unsigned(__builtin_popcountll(__atomic_load_n(&map[w], __ATOMIC_RELAXED)));
  return n;
}

bool poison_intact(const kmem_cache *s, const void *obj) {
  const u8 *p = static_cast<const u8 *>(obj);
  for (unsigned i = 0; i + 1 < s->object_size; i++)
    if (p[i] != POISON_FREE) return false;
  return p[s->object_size - 1] == POISON_END;
}

void check_geometry(cache_check &c) {
  const kmem_cache *s = c.s;
  unsigned long bytes = PAGE_SIZE << s->order;
  if (s->objects == 0 || s->objects > MAX_CHECKED_OBJECTS)
    cfail(c, "%u objects per slab (1..%u)", s->objects, MAX_CHECKED_OBJECTS);
  if (s->align == 0 || (s->align & (s->align - 1)) || s->size % s->align)
    cfail(c, "size %u is not a multiple of a power-of-two alignment %u", s->size, s->align);
  if (s->size < s->object_size + s->red_zone || s->offset + sizeof(void *) > s->size)
    cfail(c, "slot of %u bytes cannot hold object %u + red zone %u and the link at %u", s->size, s->object_size,
          s->red_zone, s->offset);
  if (size_t(s->objects) * s->size > bytes)
    cfail(c, "%u objects of %u bytes overflow a slab of %lu", s->objects, s->size, bytes);
  if (s->bitmap_offset == 0 ? (s->order == 0 || s->objects > 64)
                            : (s->bitmap_offset < size_t(s->objects) * s->size ||
                               s->bitmap_offset + NR_SLAB_BITMAPS * 8ul * bitmap_words(s) > bytes))
    cfail(c, "bitmaps at offset %u do not fit beside %u objects", s->bitmap_offset, s->objects);
  if (s->bitmap_words != (s->objects + 63) / 64)
    cfail(c, "bitmap_words %u for %u objects", s->bitmap_words, s->objects);
  if (s->slab_mask != bytes - 1 || s->reciprocal_size != slab_reciprocal(s->size))
    cfail(c, "slab mask %#lx / reciprocal %#lx do not match %lu-byte slabs of %u-byte objects", s->slab_mask,
          s->reciprocal_size, bytes, s->size);
  if (s->cpu_partial_slabs == 0 || s->cpu_partial_slabs > MAX_CPU_PARTIAL)
    cfail(c, "cpu_partial_slabs %u out of range (1..%u)", s->cpu_partial_slabs, MAX_CPU_PARTIAL);
}

// Walks the slab's freelist; returns its length.
unsigned check_freelist(cache_check &c, const page *slab) {
  const kmem_cache *s = c.s;
  u64 visited[MAX_CHECKED_OBJECTS / 64] = {};
  const u64 *alloc = allocated_map(c.ms, s, slab), *onlist = onlist_map(c.ms, s, slab),
            *remote = remote_map(c.ms, s, slab);
  unsigned n = 0;
  for (const void *obj = slab->freelist; obj; n++) {
    long i = slab_obj_index(c.ms, s, slab, obj);
    if (i < 0 || unsigned(i) >= MAX_CHECKED_OBJECTS) {
      cfail(c, "slab %p: freelist entry %u (%p) is not an object of the slab", slab_base(c.ms, slab), n, obj);
      break;
    }
    if (visited[i / 64] & (u64(1) << (i % 64))) {
      cfail(c, "slab %p: freelist loops back to object %p", slab_base(c.ms, slab), obj);
      break;
    }
    visited[i / 64] |= u64(1) << (i % 64);
    if (!test_bit(onlist, unsigned(i))) cfail(c, "free object %p is not marked on the freelist", obj);
    if (test_bit(alloc, unsigned(i))) cfail(c, "free object %p is marked allocated", obj);
    if (test_bit(remote, unsigned(i))) cfail(c, "free object %p is marked freed by another CPU", obj);
    if ((s->flags & SLAB_POISON) && !poison_intact(s, obj))
      cfail(c, "free object %p has its poison overwritten", obj);
    obj = freelist_decode(s, obj, *freelist_slot(s, const_cast<void *>(obj)));
  }
  return n;
}

enum class slab_list_kind { full, partial, free, cpu };
constexpr const char *slab_list_names[] = {"full", "partial", "free"};  // a node's lists, by kind

// Remote bits that are not also allocated ones (each is a free of an
// object nobody held); returns how many remote bits are set.
unsigned check_remote_bits(cache_check &c, const page *slab, const void *base) {
  const kmem_cache *s = c.s;
  const u64 *alloc = allocated_map(c.ms, s, slab), *remote = remote_map(c.ms, s, slab);
  unsigned n = 0;
  for (unsigned w = 0; w < bitmap_words(s); w++) {
    u64 stray = remote[w] & ~alloc[w];
    if (stray)
      cfail(c, "slab %p: object %u is marked freed by another CPU but not allocated", base,
            w * 64 + unsigned(__builtin_ctzll(stray)));
    n += unsigned(__builtin_popcountll(remote[w]));
  }
  return n;
}

// One slab: on node nid's list `kind`, or (kind cpu) frozen to CPU `cpu`.
void check_slab_page(cache_check &c, const page *slab, int nid, slab_list_kind kind, unsigned cpu = 0) {
  const kmem_cache *s = c.s;
  const void *base = page_address(c.ms, slab);
  if (!PageSlab(slab) || slab->slab_cache != s) {
    cfail(c, "page of slab %p is not PG_slab of this cache", base);
    return;
  }
  if (kind != slab_list_kind::cpu && page_to_nid(slab) != nid)
    cfail(c, "slab %p of node %d is on node %d's lists", base, page_to_nid(slab), nid);
  if (page_ref_count(slab) != 1 || slab->alloc_order != s->order || (s->order > 0 && !PageHead(slab)))
    cfail(c, "slab %p is not one allocation of order %u (refcount %d, alloc_order %u)", base, s->order,
          page_ref_count(slab), slab->alloc_order);
  c.pages += 1ul << s->order;
  unsigned free = check_freelist(c, slab);
  unsigned onlist = popcount_map(onlist_map(c.ms, s, slab), bitmap_words(s));
  unsigned held = popcount_map(allocated_map(c.ms, s, slab), bitmap_words(s));
  unsigned remote = check_remote_bits(c, slab, base);
  if (slab->inuse > s->objects || free != s->objects - slab->inuse)
    cfail(c, "slab %p: %u objects on the freelist, but inuse is %u of %u", base, free, slab->inuse, s->objects);
  if (onlist != free) cfail(c, "slab %p: %u objects marked on the freelist, %u on it", base, onlist, free);
  if (held + slab->lost != slab->inuse)
    cfail(c, "slab %p: inuse %u but %u allocated + %u lost", base, slab->inuse, held, slab->lost);
  if (slab->slab_inflight)
    cfail(c, "slab %p: %u remote frees in flight with every CPU held", base, unsigned(slab->slab_inflight));
  if (kind == slab_list_kind::cpu) {
    if (slab->slab_frozen != cpu + 1)
      cfail(c, "slab %p is CPU %u's but frozen to %d", base, cpu, int(slab->slab_frozen) - 1);
    if (page_to_nid(slab) < int(MAX_NUMNODES)) c.frozen[page_to_nid(slab)]++;
    return;
  }
  if (slab->slab_frozen)
    cfail(c, "slab %p is on node %d's lists but frozen to CPU %d", base, nid, int(slab->slab_frozen) - 1);
  if (remote) cfail(c, "slab %p is on node %d's lists with %u objects freed by another CPU not taken back", base, nid, remote);
  bool ok = kind == slab_list_kind::free      ? slab->inuse == 0
            : kind == slab_list_kind::full    ? slab->inuse > 0 && !slab->freelist
                                              : slab->inuse > 0 && slab->freelist;
  if (!ok)
    cfail(c, "slab %p (inuse %u, freelist %s) is on the %s list", base, slab->inuse,
          slab->freelist ? "non-empty" : "empty", slab_list_names[int(kind)]);
}

// Every CPU's slabs: its current one and its partial list.
void check_cpu_slabs(cache_check &c) {
  const kmem_cache *s = c.s;
  for (unsigned cpu = 0; cpu < NR_CPUS; cpu++) {
    const kmem_cache_cpu &k = s->cpu_slab[cpu];
    if (k.slab) check_slab_page(c, k.slab, 0, slab_list_kind::cpu, cpu);
    unsigned long n;
    bool closed = walk_list(&k.partial, &n, [&](const list_head *e) {
      const page *slab = list_entry(const_cast<list_head *>(e), page, slab_list);
      if (slab == k.slab) cfail(c, "cpu %u: its current slab is on its partial list too", cpu);
      check_slab_page(c, slab, 0, slab_list_kind::cpu, cpu);
    });
    if (!closed) {
      cfail(c, "cpu %u: the partial list breaks after %lu slabs: the next entry does not link back", cpu, n);
      c.cpu_lists_intact = c.lists_intact = false;
    } else if (n != k.nr_partial) {
      cfail(c, "cpu %u: nr_partial %u, its partial list holds %lu", cpu, k.nr_partial, n);
    }
    if (k.nr_partial > s->cpu_partial_slabs)
      cfail(c, "cpu %u keeps %u partial slabs, above cpu_partial_slabs %u", cpu, k.nr_partial, s->cpu_partial_slabs);
  }
}

void check_node(cache_check &c, int nid, const kmem_cache_node &n) {
  unsigned long counts[3];
  const list_head *lists[3] = {&n.full, &n.partial, &n.free};
  bool closed = true;
  for (int k = 0; k < 3; k++) {
    if (!walk_list(lists[k], &counts[k], [&](const list_head *e) {
          check_slab_page(c, list_entry(const_cast<list_head *>(e), page, slab_list), nid, slab_list_kind(k));
        })) {
      cfail(c, "node %d: the %s list breaks after %lu slabs: the next entry does not link back", nid, slab_list_names[k],
            counts[k]);
      closed = c.lists_intact = false;
    }
  }
  if (n.total_objects != n.nr_slabs * c.s->objects)
    cfail(c, "node %d: total_objects %lu for %lu slabs of %u", nid, n.total_objects, n.nr_slabs, c.s->objects);
  if (!closed || !c.cpu_lists_intact) return;
  if (counts[0] != n.nr_full || counts[1] != n.nr_partial || counts[2] != n.nr_free)
    cfail(c, "node %d: counters full/partial/free %lu/%lu/%lu, lists hold %lu/%lu/%lu", nid, n.nr_full,
          n.nr_partial, n.nr_free, counts[0], counts[1], counts[2]);
  unsigned long slabs = counts[0] + counts[1] + counts[2] + c.frozen[nid];
  if (n.nr_slabs != slabs)
    cfail(c, "node %d: nr_slabs %lu, but its lists hold %lu and CPUs own %lu", nid, n.nr_slabs,
          counts[0] + counts[1] + counts[2], c.frozen[nid]);
  if (counts[2] > c.s->min_partial)
    cfail(c, "node %d keeps %lu free slabs, above min_partial %u", nid, counts[2], c.s->min_partial);
}

struct slab_check {
  const slab_allocator &sa;
  check_report &r;
  unsigned long pages[2];  // unreclaimable, reclaimable
  bool lists_intact;       // so pages counts every slab
};

// Checks one cache under its node locks (the other CPUs held) and adds the
// pages its slabs hold.
void check_cache(slab_check &k, kmem_cache *s) {
  const slab_allocator &sa = k.sa;
  cache_check c{*sa.ms, k.r, s, {}};
  if (s->sa != &sa) cfail(c, "cache belongs to another slab allocator");
  check_geometry(c);
  unsigned long flags[MAX_NUMNODES];
  for (unsigned nid = 0; nid < MAX_NUMNODES; nid++) flags[nid] = spin_lock_irqsave(&s->node[nid].list_lock);
  check_cpu_slabs(c);
  for (unsigned nid = 0; nid < MAX_NUMNODES; nid++) check_node(c, int(nid), s->node[nid]);
  for (unsigned nid = MAX_NUMNODES; nid-- > 0;) spin_unlock_irqrestore(&s->node[nid].list_lock, flags[nid]);
  k.pages[(s->flags & SLAB_RECLAIM_ACCOUNT) ? 1 : 0] += c.pages;
  if (!c.lists_intact) k.lists_intact = false;
}

void check_caches(void *arg) {
  slab_check &k = *static_cast<slab_check *>(arg);
  unsigned long n;
  if (!walk_list(&k.sa.caches, &n, [&](const list_head *e) {
        check_cache(k, list_entry(const_cast<list_head *>(e), kmem_cache, list));
      })) {
    check_fail(k.r, "slab: the cache list breaks after %lu caches: the next entry does not link back", n);
    k.lists_intact = false;
  }
}

}  // namespace

unsigned check_slab(const slab_allocator &sa, check_report &r) {
  unsigned before = r.violations;
  slab_allocator &msa = const_cast<slab_allocator &>(sa);  // for the locks only
  slab_check k{sa, r, {}, true};
  {
    spin_lock_guard g(msa.slab_mutex);
    stop_machine(check_caches, &k);
  }
  unsigned long *pages = k.pages;
  // Large kmallocs count as unreclaimable slab, as in Linux.
  pages[0] += __atomic_load_n(&sa.large_pages, __ATOMIC_RELAXED);
  unsigned long stat[2] = {global_node_page_state_snapshot(*sa.ms, NR_SLAB_UNRECLAIMABLE),
                           global_node_page_state_snapshot(*sa.ms, NR_SLAB_RECLAIMABLE)};
  if (k.lists_intact && (stat[0] != pages[0] || stat[1] != pages[1]))
    check_fail(r, "slab: NR_SLAB_UNRECLAIMABLE/NR_SLAB_RECLAIMABLE are %lu/%lu pages, the caches and large kmallocs hold %lu/%lu",
               stat[0], stat[1], pages[0], pages[1]);
  return r.violations - before;
}

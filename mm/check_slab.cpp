// The slab allocator's invariants (listed in mm/slab.h), checked cache by
// cache with the cache's locks held (slab_mutex, then every CPU's array,
// then each node's list_lock: the allocator's own order). Every violation is
// described; nothing is changed.
#include "kernel/printk.h"
#include "kernel/spinlock.h"
#include "mm/check.h"
#include "mm/slab_internal.h"

namespace {

constexpr unsigned MAX_CHECKED_OBJECTS = 4096;  // per slab: the visited bitmap's size
constexpr unsigned MAX_ARRAY_OBJECTS = NR_CPUS * SLAB_ARRAY_MAX;

struct cache_check {
  const mem_system &ms;
  check_report &r;
  const kmem_cache *s;
  const void *arrays[MAX_ARRAY_OBJECTS];  // every object in a per-CPU array
  const page *array_slabs[MAX_ARRAY_OBJECTS];
  unsigned nr_array = 0;
  unsigned long pages = 0;  // in this cache's slabs
};

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
                               s->bitmap_offset + 16ul * bitmap_words(s) > bytes))
    cfail(c, "bitmaps at offset %u do not fit beside %u objects", s->bitmap_offset, s->objects);
  if (s->limit > SLAB_ARRAY_MAX || s->batchcount == 0 || s->batchcount > s->limit)
    cfail(c, "array limit %u / batchcount %u out of range", s->limit, s->batchcount);
}

// Collects and checks the objects in every CPU's array.
void check_arrays(cache_check &c) {
  const kmem_cache *s = c.s;
  for (unsigned cpu = 0; cpu < NR_CPUS; cpu++) {
    const kmem_cache_cpu &a = s->cpu_slab[cpu];
    if (a.avail > s->limit) cfail(c, "cpu %u array holds %u objects, above its limit %u", cpu, a.avail, s->limit);
    for (unsigned k = 0; k < a.avail && k < SLAB_ARRAY_MAX; k++) {
      const void *obj = a.entry[k];
      const page *slab = addr_to_slab(c.ms, obj);
      if (!slab || slab->slab_cache != s) {
        cfail(c, "cpu %u array entry %u (%p) is not an object of this cache", cpu, k, obj);
        continue;
      }
      long i = slab_obj_index(c.ms, s, slab, obj);
      if (i < 0) {
        cfail(c, "cpu %u array entry %u (%p) is not at an object boundary", cpu, k, obj);
        continue;
      }
      if (test_bit(allocated_map(c.ms, s, slab), unsigned(i)))
        cfail(c, "object %p is in cpu %u's array and marked allocated", obj, cpu);
      if (test_bit(onlist_map(c.ms, s, slab), unsigned(i)))
        cfail(c, "object %p is in cpu %u's array and marked on its slab's freelist", obj, cpu);
      if ((s->flags & SLAB_POISON) && !poison_intact(s, obj))
        cfail(c, "free object %p in cpu %u's array has its poison overwritten", obj, cpu);
      for (unsigned j = 0; j < c.nr_array; j++)
        if (c.arrays[j] == obj) cfail(c, "object %p is in the per-CPU arrays twice", obj);
      if (c.nr_array < MAX_ARRAY_OBJECTS) {
        c.arrays[c.nr_array] = obj;
        c.array_slabs[c.nr_array++] = slab;
      }
    }
  }
}

// Walks the slab's freelist; returns its length.
unsigned check_freelist(cache_check &c, const page *slab) {
  const kmem_cache *s = c.s;
  u64 visited[MAX_CHECKED_OBJECTS / 64] = {};
  const u64 *alloc = allocated_map(c.ms, s, slab), *onlist = onlist_map(c.ms, s, slab);
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
    if ((s->flags & SLAB_POISON) && !poison_intact(s, obj))
      cfail(c, "free object %p has its poison overwritten", obj);
    obj = freelist_decode(s, obj, *freelist_slot(s, const_cast<void *>(obj)));
  }
  return n;
}

enum class slab_list_kind { full, partial, free };

void check_slab_page(cache_check &c, const page *slab, int nid, slab_list_kind kind) {
  const kmem_cache *s = c.s;
  const void *base = page_address(c.ms, slab);
  if (!PageSlab(slab) || slab->slab_cache != s) {
    cfail(c, "page of slab %p is not PG_slab of this cache", base);
    return;
  }
  if (page_to_nid(slab) != nid) cfail(c, "slab %p of node %d is on node %d's lists", base, page_to_nid(slab), nid);
  if (page_ref_count(slab) != 1 || slab->alloc_order != s->order || (s->order > 0 && !PageHead(slab)))
    cfail(c, "slab %p is not one allocation of order %u (refcount %d, alloc_order %u)", base, s->order,
          page_ref_count(slab), slab->alloc_order);
  c.pages += 1ul << s->order;
  unsigned free = check_freelist(c, slab);
  unsigned onlist = popcount_map(onlist_map(c.ms, s, slab), bitmap_words(s));
  unsigned held = popcount_map(allocated_map(c.ms, s, slab), bitmap_words(s));
  unsigned in_arrays = 0;
  for (unsigned j = 0; j < c.nr_array; j++) in_arrays += c.array_slabs[j] == slab;
  if (slab->inuse > s->objects || free != s->objects - slab->inuse)
    cfail(c, "slab %p: %u objects on the freelist, but inuse is %u of %u", base, free, slab->inuse, s->objects);
  if (onlist != free) cfail(c, "slab %p: %u objects marked on the freelist, %u on it", base, onlist, free);
  if (held + in_arrays + slab->lost != slab->inuse)
    cfail(c, "slab %p: inuse %u but %u allocated + %u in arrays + %u lost", base, slab->inuse, held, in_arrays,
          slab->lost);
  bool ok = kind == slab_list_kind::free      ? slab->inuse == 0
            : kind == slab_list_kind::full    ? slab->inuse > 0 && !slab->freelist
                                              : slab->inuse > 0 && slab->freelist;
  static const char *const names[] = {"full", "partial", "free"};
  if (!ok)
    cfail(c, "slab %p (inuse %u, freelist %s) is on the %s list", base, slab->inuse,
          slab->freelist ? "non-empty" : "empty", names[int(kind)]);
}

void check_node(cache_check &c, int nid, const kmem_cache_node &n) {
  unsigned long limit = c.ms.totalram_pages + 1;  // no list can be longer: a cycle stops here
  unsigned long counts[3] = {};
  const list_head *lists[3] = {&n.full, &n.partial, &n.free};
  for (int k = 0; k < 3; k++) {
    for (const list_head *e = lists[k]->next; e != lists[k]; e = e->next) {
      if (++counts[k] > limit) {
        cfail(c, "node %d: a slab list does not come back to its head", nid);
        break;
      }
      check_slab_page(c, list_entry(const_cast<list_head *>(e), page, slab_list), nid, slab_list_kind(k));
    }
  }
  if (counts[0] != n.nr_full || counts[1] != n.nr_partial || counts[2] != n.nr_free)
    cfail(c, "node %d: counters full/partial/free %lu/%lu/%lu, lists hold %lu/%lu/%lu", nid, n.nr_full,
          n.nr_partial, n.nr_free, counts[0], counts[1], counts[2]);
  if (n.total_objects != (counts[0] + counts[1] + counts[2]) * c.s->objects)
    cfail(c, "node %d: total_objects %lu for %lu slabs of %u", nid, n.total_objects,
          counts[0] + counts[1] + counts[2], c.s->objects);
  if (counts[2] > c.s->min_partial)
    cfail(c, "node %d keeps %lu free slabs, above min_partial %u", nid, counts[2], c.s->min_partial);
}

// Checks one cache under its locks; returns the pages its slabs hold.
unsigned long check_cache(const slab_allocator &sa, check_report &r, kmem_cache *s) {
  cache_check c{*sa.ms, r, s, {}, {}, 0, 0};
  if (s->sa != &sa) cfail(c, "cache belongs to another slab allocator");
  check_geometry(c);
  for (kmem_cache_cpu &a : s->cpu_slab) spin_lock(&a.lock);
  unsigned long flags[MAX_NUMNODES];
  for (unsigned nid = 0; nid < MAX_NUMNODES; nid++) flags[nid] = spin_lock_irqsave(&s->node[nid].list_lock);
  check_arrays(c);
  for (unsigned nid = 0; nid < MAX_NUMNODES; nid++) check_node(c, int(nid), s->node[nid]);
  for (unsigned nid = MAX_NUMNODES; nid-- > 0;) spin_unlock_irqrestore(&s->node[nid].list_lock, flags[nid]);
  for (kmem_cache_cpu &a : s->cpu_slab) spin_unlock(&a.lock);
  return c.pages;
}

}  // namespace

unsigned check_slab(const slab_allocator &sa, check_report &r) {
  unsigned before = r.violations;
  slab_allocator &msa = const_cast<slab_allocator &>(sa);  // for the locks only
  unsigned long pages[2] = {};  // unreclaimable, reclaimable
  {
    spin_lock_guard g(msa.slab_mutex);
    unsigned long limit = 100000, n = 0;
    list_for_each(e, &msa.caches) {
      if (++n > limit) {
        check_fail(r, "slab: the cache list does not come back to its head");
        break;
      }
      kmem_cache *s = list_entry(e, kmem_cache, list);
      pages[(s->flags & SLAB_RECLAIM_ACCOUNT) ? 1 : 0] += check_cache(sa, r, s);
    }
  }
  // Large kmallocs count as unreclaimable slab, as in Linux.
  pages[0] += __atomic_load_n(&sa.large_pages, __ATOMIC_RELAXED);
  unsigned long stat[2] = {global_node_page_state(*sa.ms, NR_SLAB_UNRECLAIMABLE),
                           global_node_page_state(*sa.ms, NR_SLAB_RECLAIMABLE)};
  if (stat[0] != pages[0] || stat[1] != pages[1])
    check_fail(r, "slab: NR_SLAB_UNRECLAIMABLE/NR_SLAB_RECLAIMABLE are %lu/%lu pages, the caches and large kmallocs hold %lu/%lu",
               stat[0], stat[1], pages[0], pages[1]);
  return r.violations - before;
}

// kmalloc and friends over the slab caches (Linux's mm/slab_common.c). Sizes
// up to KMALLOC_MAX_CACHE_SIZE come from the kmalloc-<size> cache of the
// request's zone type; larger ones are compound pages straight from the page
// allocator, marked PG_large_kmalloc so that kfree recognises them.
#include "kernel/errno.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "mm/slab_fastpath.h"

constexpr unsigned kmalloc_sizes[NR_KMALLOC_SIZES] = {8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192};

// The smallest cache for each 8 bytes of size (Linux's kmalloc_size_index,
// over every cache size): one load, where a count of leading zeros is a
// libgcc call on RV64GC.
struct kmalloc_size_table {
  u8 index[KMALLOC_MAX_CACHE_SIZE / 8];
  constexpr kmalloc_size_table() : index() {
    unsigned i = 0;
    for (unsigned k = 0; k < KMALLOC_MAX_CACHE_SIZE / 8; k++) {
      while (kmalloc_sizes[i] < (k + 1) * 8) i++;
      index[k] = u8(i);
    }
  }
};
static constexpr kmalloc_size_table kmalloc_size_index{};

unsigned kmalloc_index(size_t size) { return kmalloc_size_index.index[(size - 1) / 8]; }

// Linux's names: "dma-kmalloc-64", "kmalloc-rcl-64" (the DMA32 twins are ours).
static const char *const kmalloc_type_prefix[NR_KMALLOC_TYPES] = {"", "dma32-", "dma-", ""};
static const char *const kmalloc_type_infix[NR_KMALLOC_TYPES] = {"", "", "", "rcl-"};

static bool zone_has_memory(const mem_system &ms, zone_type idx) {
  for_each_online_pgdat(ms, pgdat) if (managed_zone(&pgdat->node_zones[idx])) return true;
  return false;
}

// Caches of a type exist only where its zone has memory: a DMA32 request on
// a machine without memory below 4 GiB fails like the page allocator would.
int create_kmalloc_caches(slab_allocator &sa) {
  const mem_system &ms = *sa.ms;
  bool want[NR_KMALLOC_TYPES] = {true, zone_has_memory(ms, ZONE_DMA32) || zone_has_memory(ms, ZONE_DMA),
                                 zone_has_memory(ms, ZONE_DMA), true};
  const slab_flags_t flags[NR_KMALLOC_TYPES] = {0, SLAB_CACHE_DMA32, SLAB_CACHE_DMA, SLAB_RECLAIM_ACCOUNT};
  for (unsigned t = 0; t < NR_KMALLOC_TYPES; t++) {
    if (!want[t]) continue;
    for (unsigned i = 0; i < NR_KMALLOC_SIZES; i++) {
      char name[32];
      unsigned size = kmalloc_sizes[i];
      if (size >= 1024)
        scnprintf(name, sizeof(name), "%skmalloc-%s%uk", kmalloc_type_prefix[t], kmalloc_type_infix[t], size / 1024);
      else
        scnprintf(name, sizeof(name), "%skmalloc-%s%u", kmalloc_type_prefix[t], kmalloc_type_infix[t], size);
      sa.kmalloc_caches[t][i] = create_kmalloc_cache(sa, name, size, flags[t]);
      if (!sa.kmalloc_caches[t][i]) return -ENOMEM;
    }
  }
  return 0;
}

// Which kind of cache serves the flags: the zone first (a DMA32 request
// that is also reclaimable gets DMA32 memory), then mobility.
static kmalloc_cache_type kmalloc_type(gfp_t gfp) {
  if (gfp & __GFP_DMA) return KMALLOC_DMA;
  if (gfp & __GFP_DMA32) return KMALLOC_DMA32;
  if (gfp & __GFP_RECLAIMABLE) return KMALLOC_RECLAIM;
  return KMALLOC_NORMAL;
}

static void kmalloc_warn(gfp_t gfp, size_t size, const char *why) {
  if (gfp & __GFP_NOWARN) return;
  pr_warn("kmalloc: %zu bytes, gfp %#x: %s\n", size, gfp, why);
}

static unsigned get_order(size_t size) {
  unsigned order = 0;
  while ((PAGE_SIZE << order) < size) order++;
  return order;
}

static void *kmalloc_large(slab_allocator &sa, size_t size, gfp_t gfp, int nid) {
  // Checked before get_order, whose shift would overflow for huge sizes.
  if (size > KMALLOC_MAX_SIZE) {
    kmalloc_warn(gfp, size, "larger than KMALLOC_MAX_SIZE (4 MiB)");
    return nullptr;
  }
  unsigned order = get_order(size);
  mem_system &ms = *sa.ms;
  page *p = alloc_pages_node(ms, nid, (gfp & ~(__GFP_HIGHMEM | __GFP_MOVABLE)) | __GFP_COMP, order);
  if (!p) return nullptr;  // the page allocator has warned
  set_page_flag(p, PG_large_kmalloc);
  __atomic_fetch_add(&sa.large_pages, 1ul << order, __ATOMIC_RELAXED);
  mod_node_page_state(ms.node_data[page_to_nid(p)], NR_SLAB_UNRECLAIMABLE, long(1) << order);
  return page_address(ms, p);
}

void *kmalloc_node(slab_allocator &sa, size_t size, gfp_t gfp, int nid) {
  if (size == 0) return ZERO_SIZE_PTR;
  if (gfp_zone(gfp) == ZONE_INVALID) {
    kmalloc_warn(gfp & ~__GFP_NOWARN, size, "contradictory zone modifiers");
    return nullptr;
  }
  if (size > KMALLOC_MAX_CACHE_SIZE) return kmalloc_large(sa, size, gfp, nid);
  kmem_cache *s = sa.kmalloc_caches[kmalloc_type(gfp)][kmalloc_index(size)];
  if (!s) {
    kmalloc_warn(gfp, size, "no memory in the zone the flags ask for");
    return nullptr;
  }
  return kmem_cache_alloc_node(s, gfp, nid);
}

// The fast path: a size a cache serves, flags that name no zone and no
// mobility (an ordinary kmalloc cache); everything else is kmalloc_node's.
void *kmalloc(slab_allocator &sa, size_t size, gfp_t gfp) {
  if (__builtin_expect(size - 1 < KMALLOC_MAX_CACHE_SIZE && !(gfp & (GFP_ZONEMASK | GFP_MOVABLE_MASK)), 1))
    return slab_alloc_fast(sa.kmalloc_caches[KMALLOC_NORMAL][kmalloc_size_index.index[(size - 1) / 8]], gfp);
  return kmalloc_node(sa, size, gfp, NUMA_NO_NODE);
}

void *kmalloc_array(slab_allocator &sa, size_t n, size_t size, gfp_t gfp) {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    kmalloc_warn(gfp, size, "kmalloc_array: n * size overflows");
    return nullptr;
  }
  return kmalloc(sa, bytes, gfp);
}

// What p is, for kfree and ksize.
struct kmalloc_object {
  kmem_cache *cache;   // a slab object of this cache,
  page *slab;          // in this slab
  page *large;         // or a large kmalloc
};

// Finds what p belongs to; reports (as `caller`) and returns {} when it is
// neither a slab object's page nor the start of a large kmalloc.
static kmalloc_object find_object(slab_allocator &sa, const void *p, const char *caller, bool report) {
  mem_system &ms = *sa.ms;
  page *pg = virt_addr_valid(p) ? pfn_to_page(ms, PHYS_PFN(virt_to_phys(p))) : nullptr;
  if (pg && !PageBuddy(pg) && !PagePcp(pg)) {
    // As addr_to_slab: a slab's head page is not asked for its compound head.
    page *head = PageSlab(pg) ? pg : compound_head(pg);
    if (PageSlab(head)) return {head->slab_cache, head, nullptr};
    if (PageLargeKmalloc(head)) {
      if (p == page_address(ms, head)) return {nullptr, nullptr, head};
      if (report) slab_err(sa, nullptr, p, true, "%s: pointer is inside a large kmalloc, not at its start", caller);
      return {};
    }
  }
  if (report)
    slab_err(sa, nullptr, p, true, "%s: pointer is not a kmalloc object (%s)", caller,
             !virt_addr_valid(p) ? "outside the direct map"
             : !pg              ? "no struct page"
             : PageBuddy(pg) || PagePcp(pg) ? "a free page"
                                            : "a page-allocator page");
  return {};
}

void kfree_general(slab_allocator &sa, const void *p) {
  kmalloc_object o = find_object(sa, p, "kfree", true);
  if (o.cache) {
    slab_free_fast(o.cache, o.slab, const_cast<void *>(p), "kfree");
  } else if (o.large) {
    mem_system &ms = *sa.ms;
    unsigned order = o.large->alloc_order;
    clear_page_flag(o.large, PG_large_kmalloc);
    __atomic_fetch_sub(&sa.large_pages, 1ul << order, __ATOMIC_RELAXED);
    mod_node_page_state(ms.node_data[page_to_nid(o.large)], NR_SLAB_UNRECLAIMABLE, -(long(1) << order));
    __free_pages(ms, o.large, order);
  }
}

// The fast path: a slab object whose pfn pfn_to_page's table covers.
void kfree(slab_allocator &sa, const void *p) {
  if (ZERO_OR_NULL_PTR(p)) return;
  if (page *slab = virt_to_slab(*sa.ms, p, false); __builtin_expect(slab != nullptr, 1))
    return slab_free_fast(slab->slab_cache, slab, const_cast<void *>(p), "kfree");
  return kfree_general(sa, p);
}

// A held slab object's usable size; 0 for anything else (an object freed
// by another CPU and not yet taken back is not held).
static size_t object_ksize(slab_allocator &sa, const kmem_cache *s, const page *slab, const void *p) {
  long i = slab_obj_index(*sa.ms, s, slab, p);
  if (i < 0 || !test_bit(allocated_map(*sa.ms, s, slab), unsigned(i)) || test_bit(remote_map(*sa.ms, s, slab), unsigned(i)))
    return 0;
  return s->object_size;
}

size_t ksize(slab_allocator &sa, const void *p) {
  if (ZERO_OR_NULL_PTR(p)) return 0;
  kmalloc_object o = find_object(sa, p, "ksize", false);
  if (o.cache) return object_ksize(sa, o.cache, o.slab, p);
  if (o.large) return PAGE_SIZE << o.large->alloc_order;
  return 0;
}

void kfree_sensitive(slab_allocator &sa, const void *p) {
  size_t n = ksize(sa, p);
  // Volatile stores: the zeroing must not be dropped as a dead store.
  volatile u8 *b = static_cast<volatile u8 *>(const_cast<void *>(p));
  for (size_t i = 0; i < n; i++) b[i] = 0;
  kfree(sa, p);
}

// Whether p's memory lies in a zone the flags allow.
static bool zone_allows(slab_allocator &sa, const void *p, gfp_t gfp) {
  page *pg = pfn_to_page(*sa.ms, PHYS_PFN(virt_to_phys(p)));
  return int(page_zonenum(pg)) <= int(gfp_zone(gfp));
}

// Basic algorithm: reuse p when it is already big enough and in a zone the
// new flags allow; otherwise allocate, copy what fits, and free p. With
// __GFP_ZERO only a new allocation is zeroed (Linux: bytes beyond the old
// request are zero only if the object was allocated zeroed).
void *krealloc(slab_allocator &sa, const void *p, size_t size, gfp_t gfp) {
  if (ZERO_OR_NULL_PTR(p)) return kmalloc(sa, size, gfp);
  if (size == 0) {
    kfree(sa, p);
    return ZERO_SIZE_PTR;
  }
  size_t ks = ksize(sa, p);
  if (ks == 0) {
    find_object(sa, p, "krealloc", true);  // reports what p is
    if (addr_to_slab(*sa.ms, p)) slab_err(sa, nullptr, p, true, "krealloc: object is not allocated");
    return nullptr;
  }
  if (ks >= size && zone_allows(sa, p, gfp)) return const_cast<void *>(p);
  void *q = kmalloc(sa, size, gfp);
  if (!q) return nullptr;
  memcpy(q, p, ks < size ? ks : size);
  kfree(sa, p);
  return q;
}

slab_totals slab_pages(const slab_allocator &sa) {
  return {global_node_page_state_snapshot(*sa.ms, NR_SLAB_RECLAIMABLE), global_node_page_state_snapshot(*sa.ms, NR_SLAB_UNRECLAIMABLE)};
}

void *kmalloc(size_t size, gfp_t gfp) { return kmalloc(*system_slab, size, gfp); }
void *kzalloc(size_t size, gfp_t gfp) { return kzalloc(*system_slab, size, gfp); }
void *kmalloc_array(size_t n, size_t size, gfp_t gfp) { return kmalloc_array(*system_slab, n, size, gfp); }
void *kcalloc(size_t n, size_t size, gfp_t gfp) { return kcalloc(*system_slab, n, size, gfp); }
void *krealloc(const void *p, size_t size, gfp_t gfp) { return krealloc(*system_slab, p, size, gfp); }
void kfree(const void *p) { kfree(*system_slab, p); }
void kfree_sensitive(const void *p) { kfree_sensitive(*system_slab, p); }
size_t ksize(const void *p) { return ksize(*system_slab, p); }

// mm.check=1's checks after every allocator call (mm/check.h). The whole
// checkers are linear in memory and need the allocators quiet, so after each
// call this checks what the call touched, under the locks that keep it
// still, and what holds at every instant: the returned block or object, the
// coalescing around a freed block, the zone's free counters against its
// lists' counts, this CPU's per-CPU list count, a vmalloc area's mapping and
// the emptiness of a freed range. Each finding is printed ("mm.check: ...")
// and counted in mem_system::check_violations.
#include "kernel/printk.h"
#include "kernel/spinlock.h"
#include "mm/check.h"
#include "mm/page_alloc.h"
#include "mm/page_alloc_internal.h"
#include "mm/slab_internal.h"
#include "mm/vmalloc.h"

namespace {

// One call's findings: formatted into a small buffer, then printed at once.
struct call_report {
  const mem_system &ms;
  const char *call;
  char buf[384];
  check_report r;
  call_report(const mem_system &m, const char *c) : ms(m), call(c), r(make_check_report(buf, sizeof(buf))) {}
  ~call_report() {
    if (!r.violations) return;
    __atomic_fetch_add(&const_cast<mem_system &>(ms).check_violations, r.violations, __ATOMIC_RELAXED);
    pr_err("mm.check: %u violations after %s:\n%s", r.violations, call, buf);
  }
};

// Entries of a list, counted up to limit + 1 (a corrupted list must not
// hang the check, and a count past limit says the walk was cut).
unsigned long bounded_length(const list_head *head, unsigned long limit) {
  unsigned long n = 0;
  for (const list_head *e = head->next; e != head && n <= limit; e = e->next) n++;
  return n;
}

// Needs z->lock. Counts pages on this zone's buddy lists by their counters,
// less the isolated ones (on lists that are rarely long).
void check_zone_counters_locked(check_report &r, const zone *z) {
  long listed = 0;
  for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) {
    listed += long(z->free_area[o].nr_free) << o;
    listed -= long(bounded_length(&z->free_area[o].free_list[MIGRATE_ISOLATE], z->spanned_pages)) << o;
  }
  // Total plus deltas (the snapshot, unclamped): exact under the lock, which every change and fold of
  // NR_FREE_PAGES holds.
  long counted = zone_page_state_sum(z, NR_FREE_PAGES);
  if (listed != counted)
    check_fail(r, "zone %s: NR_FREE_PAGES %ld, but the free areas count %ld pages outside isolated pageblocks",
               z->name, counted, listed);
}

// This CPU's list of z: count against what its lists hold (skipped when its
// lock is busy: an interrupted holder may be mid-update). No list holds more
// entries than the zone has pages.
void check_this_pcp(check_report &r, zone *z) {
  per_cpu_pages *pcp = &z->pcp[smp_processor_id() & (NR_CPUS - 1)];
  if (!spin_trylock(&pcp->lock)) return;
  long held = 0;
  for (unsigned i = 0; i < NR_PCP_LISTS; i++)
    held += long(bounded_length(&pcp->lists[i], z->spanned_pages)) << (i / MIGRATE_PCPTYPES);
  long count = pcp->count;
  spin_unlock(&pcp->lock);
  if (held != count) check_fail(r, "zone %s: CPU %u's pcp count is %ld, its lists hold %ld pages", z->name,
                                smp_processor_id(), count, held);
}

// Needs z->lock. The free block that now holds pfn may not have a free buddy
// of its own order: that pair should have merged.
void check_coalesced_locked(check_report &r, zone *z, unsigned long pfn) {
  const page *h = free_block_holding(z, pfn);
  if (!h) return;
  unsigned long head = zone_page_to_pfn(z, h);
  unsigned long o = h->private_;
  if (o == MAX_PAGE_ORDER) return;
  unsigned long buddy = head ^ (1ul << o);
  if (!zone_spans_pfn(z, buddy)) return;
  const page *b = zone_pfn_to_page(z, buddy);
  if (!PageBuddy(b) || b->private_ != o) return;
  // Across pageblocks, a highatomic or isolated one keeps to itself.
  int mt = get_pfnblock_migratetype(z, head), buddy_mt = get_pfnblock_migratetype(z, buddy);
  if (o >= pageblock_order && mt != buddy_mt && (!migratetype_is_mergeable(mt) || !migratetype_is_mergeable(buddy_mt)))
    return;
  check_fail(r, "zone %s: free blocks at pfn %#lx and its buddy %#lx, both order %lu, did not merge", z->name, head,
             buddy, o);
}

}  // namespace

void check_alloc_call(const mem_system &ms, const page *p, unsigned order, gfp_t gfp, int preferred_nid) {
  call_report cr(ms, "alloc_pages");
  check_report &r = cr.r;
  unsigned long pfn = page_to_pfn(ms, p);
  zone *z = page_zone(ms, p);
  if (pfn & ((1ul << order) - 1)) check_fail(r, "alloc: pfn %#lx is not aligned to its order %u", pfn, order);
  if (!zone_spans_pfn(z, pfn + (1ul << order) - 1))
    check_fail(r, "alloc: block %#lx order %u runs past zone %s", pfn, order, z->name);
  int classzone = gfp_zone(gfp);
  if (classzone != ZONE_INVALID && int(z->idx) > classzone)
    check_fail(r, "alloc: gfp %#x allows zones up to %d, but pfn %#lx is in zone %s", gfp, classzone, pfn, z->name);
  if ((gfp & __GFP_THISNODE) && preferred_nid >= 0 && ms.node_data[preferred_nid] &&
      page_to_nid(p) != preferred_nid)
    check_fail(r, "alloc: __GFP_THISNODE for node %d, but pfn %#lx is on node %d", preferred_nid, pfn,
               page_to_nid(p));
  if (p->alloc_order != order) check_fail(r, "alloc: head records order %u, not %u", p->alloc_order, order);
  if (get_pfnblock_migratetype(z, pfn) == MIGRATE_ISOLATE)
    check_fail(r, "alloc: pfn %#lx comes from an isolated pageblock", pfn);
  for (unsigned long i = 0; i < (1ul << order); i++) {
    const page *q = p + i;
    if (PageBuddy(q) || PagePcp(q) || PageSlab(q) || PageReserved(q))
      check_fail(r, "alloc: pfn %#lx of the returned block is still free, slab or reserved (flags %#lx)", pfn + i,
                 q->flags);
    int want = i == 0 ? 1 : 0;
    if (page_ref_count(q) != want)
      check_fail(r, "alloc: pfn %#lx has refcount %d, not %d", pfn + i, page_ref_count(q), want);
  }
  {
    spin_lock_irqsave_guard g(z->lock);
    check_zone_counters_locked(r, z);
  }
  check_this_pcp(r, z);
}

void check_free_call(const mem_system &ms, unsigned long pfn) {
  const page *p = pfn_to_page(ms, pfn);
  if (!p) return;
  call_report cr(ms, "__free_pages");
  zone *z = page_zone(ms, p);
  {
    spin_lock_irqsave_guard g(z->lock);
    check_zone_counters_locked(cr.r, z);
    check_coalesced_locked(cr.r, z, pfn);
  }
  check_this_pcp(cr.r, z);
}

void check_contig_call(const mem_system &ms, unsigned long pfn, unsigned long nr_pages, gfp_t gfp) {
  call_report cr(ms, "alloc_contig_pages");
  check_report &r = cr.r;
  const page *first = pfn_to_page(ms, pfn);
  zone *z = first ? page_zone(ms, first) : nullptr;
  if (!z || !zone_spans_pfn(z, pfn + nr_pages - 1)) {
    check_fail(r, "contig: [%#lx, +%lu) is not in one zone", pfn, nr_pages);
    return;
  }
  int classzone = gfp_zone(gfp);
  if (classzone != ZONE_INVALID && int(z->idx) > classzone)
    check_fail(r, "contig: gfp %#x allows zones up to %d, but the range is in zone %s", gfp, classzone, z->name);
  for (unsigned long i = 0; i < nr_pages; i++) {
    const page *q = first + i;
    if (PageBuddy(q) || PagePcp(q) || PageSlab(q) || PageReserved(q) || PageMovable(q) || PageIsolated(q) ||
        page_ref_count(q) != 1 || q->alloc_order != 0) {
      check_fail(r, "contig: pfn %#lx is not an order-0 page with one reference (flags %#lx, refcount %d)", pfn + i,
                 q->flags, page_ref_count(q));
      break;
    }
  }
  spin_lock_irqsave_guard g(z->lock);
  for (unsigned long b = pageblock_start_pfn(pfn); b < pfn + nr_pages; b += pageblock_nr_pages)
    if (get_pfnblock_migratetype(z, b) == MIGRATE_ISOLATE) {
      check_fail(r, "contig: pageblock %#lx is still isolated", b);
      break;
    }
  check_zone_counters_locked(r, z);
}

void check_compact_call(const mem_system &ms, zone *z) {
  call_report cr(ms, "compact_zone");
  spin_lock_irqsave_guard g(z->lock);
  check_zone_counters_locked(cr.r, z);
}

bool check_slab_alloc_call(kmem_cache *s, const void *obj) {
  call_report cr(*s->sa->ms, "kmem_cache_alloc");
  check_report &r = cr.r;
  const mem_system &ms = *s->sa->ms;
  page *slab = addr_to_slab(ms, obj);
  if (!slab || slab->slab_cache != s) {
    check_fail(r, "%s: object %p is not in one of the cache's slabs", s->name, obj);
    return false;
  }
  long i = slab_obj_index(ms, s, slab, obj);
  if (i < 0) {
    check_fail(r, "%s: object %p is not at the start of a slot", s->name, obj);
    return false;
  }
  if (!test_bit(allocated_map(ms, s, slab), unsigned(i)))
    check_fail(r, "%s: object %p handed out but not marked held", s->name, obj);
  if (test_bit(onlist_map(ms, s, slab), unsigned(i)))
    check_fail(r, "%s: object %p handed out while on its slab's freelist", s->name, obj);
  if (test_bit(remote_map(ms, s, slab), unsigned(i)))
    check_fail(r, "%s: object %p handed out while freed by another CPU", s->name, obj);
  // This CPU's own slab holds still inside the section: its freelist must
  // not lead to the object.
  unsigned long flags = local_lock_irqsave();
  if (READ_ONCE(slab->slab_frozen) == (smp_processor_id() & (NR_CPUS - 1)) + 1) {
    unsigned n = 0;
    for (const void *f = slab->freelist; f && n <= s->objects; n++) {
      if (f == obj) {
        check_fail(r, "%s: object %p handed out while still on CPU %u's slab's freelist", s->name, obj,
                   smp_processor_id());
        break;
      }
      if (slab_obj_index(ms, s, slab, f) < 0) break;  // a bad link: the checker's to report
      f = freelist_decode(s, f, *freelist_slot(s, const_cast<void *>(f)));
    }
  }
  local_unlock_irqrestore(flags);
  return r.violations == 0;
}

void check_vmalloc_call(vmalloc_system &vs, const void *addr) {
  call_report cr(*vs.ms, "vmalloc");
  spin_lock_irqsave_guard g(vs.lock);
  spin_lock_guard gp(vs.pt_lock);
  vmap_area *va = vmap_find_busy_at(&vs.space, reinterpret_cast<uintptr_t>(addr));
  if (!va) check_fail(cr.r, "vmalloc: %p is not a busy area", addr);
  else check_vmalloc_area_locked(vs, va, cr.r);
}

void check_vfree_call(vmalloc_system &vs, uintptr_t start, uintptr_t end) {
  call_report cr(*vs.ms, "vfree");
  spin_lock_irqsave_guard g(vs.lock);
  spin_lock_guard gp(vs.pt_lock);
  for (uintptr_t at = start; at < end; at += PAGE_SIZE) {
    // Another CPU may have taken the range already; then it is its business.
    if (vmap_find_busy(&vs.space, at)) return;
    if (pgtable_walk(*vs.pt, at, nullptr)) {
      check_fail(cr.r, "vfree: %#lx of the freed area %#lx-%#lx is still mapped", at, start, end);
      return;
    }
  }
}

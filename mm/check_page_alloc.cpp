// check_page_alloc: verifies every invariant of mm/mmzone.h and mm/page.h
// over a whole mem_system, and describes each violation it finds.
//
// Basic algorithm, per zone, in time linear in the zone's pages and with no
// memory of its own (a bitmap for 5 GiB does not fit on a kernel stack):
//  1. Walk every buddy and per-CPU list. A pointer is only followed once it
//     is known to be a struct page of this zone (or the list's own head), and
//     every entry must link back to the one before it. So when all walks
//     close, the lists are disjoint cycles: no page is on two lists, and no
//     walk can run away into foreign memory or loop.
//  2. Scan the zone's struct pages in pfn order. A PG_buddy or PG_pcp page,
//     or an unreserved page with a reference, opens a block of 2^order
//     pages; until the block ends every page must be a plain part of it.
//     Blocks are naturally aligned, so two blocks overlap only if one holds
//     the other's first page: the scan sees every overlap. A page that
//     neither opens nor sits in a block must be PG_reserved.
//  3. Compare what the lists hold with what the pages say (every PG_buddy
//     page is on a list, since the lists are disjoint and all their entries
//     PG_buddy), and both with the counters, the watermark formulas and
//     lowmem_reserve.
// Messages start with "node N zone NAME:" and give pfns in hex.
#include "kernel/list.h"
#include "kernel/printk.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "mm/check.h"
#include "mm/check_internal.h"
#include "mm/mmzone.h"
#include "mm/page.h"
#include "mm/migrate.h"
#include "mm/page_alloc.h"

namespace {

constexpr unsigned long SWAP_CLUSTER_MAX = 32;  // floor of a highmem zone's min watermark
constexpr const char *wmark_names[NR_WMARK] = {"min", "low", "high", "promo"};

constexpr u64 flag_bit(pageflags f) { return u64(1) << f; }
// What a free page may carry besides PG_buddy / PG_pcp: PG_highmem describes
// the memory, not its owner.
constexpr u64 FREE_PAGE_FLAGS = flag_bit(PG_buddy) | flag_bit(PG_pcp) | flag_bit(PG_highmem);

// The zones that __setup_per_zone_wmarks gives a small capped min and leaves
// out of lowmem_pages: highmem, and ZONE_MOVABLE too in current Linux (its
// pages cannot serve the kernel's own allocations).
bool highmem_for_wmarks(unsigned idx) { return idx == ZONE_HIGHMEM || idx == ZONE_MOVABLE; }

enum class block_kind { none, buddy, pcp, allocated };

// The block that the page scan is inside of.
struct block {
  block_kind kind = block_kind::none;
  unsigned long head_pfn = 0, end_pfn = 0;  // end clipped to the zone
  unsigned long order = 0;
  const page *head = nullptr;
  bool compound = false;
};

const char *block_name(block_kind k) {
  switch (k) {
    case block_kind::buddy: return "free";
    case block_kind::pcp: return "per-CPU free";
    case block_kind::allocated: return "allocated";
    default: return "?";
  }
}

// One zone under examination, with what the lists and pages have shown.
struct zone_check {
  const mem_system &ms;
  check_report &r;
  int nid;
  unsigned idx;
  zone *z;
  page *base;  // struct page of start, derived from the node's mem_map
  unsigned long start, end;
  unsigned nr_cpus;

  bool lists_intact = true;                // every list walk came back to its head
  unsigned long listed_buddy = 0;          // pages in blocks on the buddy lists
  unsigned long listed_isolated = 0;       // of those, on the MIGRATE_ISOLATE lists
  bool pageblocks_ok = false;              // pageblock_flags can be read for every pfn of the span
  unsigned long listed_buddy_flagged = 0;  // entries that are PG_buddy
  unsigned long listed_pcp = 0;            // pages in blocks on the per-CPU lists
  unsigned long listed_pcp_flagged = 0;
  unsigned long pcp_counts = 0;     // sum of the per-CPU count fields
  unsigned long flagged_buddy = 0;  // PG_buddy pages in the span
  unsigned long flagged_pcp = 0;
  unsigned long allocated = 0;  // pages in allocated blocks
  unsigned long reserved = 0;   // PG_reserved pages in the span
};

__printf(2, 3) void zfail(zone_check &c, const char *fmt, ...) {
  char msg[224];
  va_list ap;
  va_start(ap, fmt);
  vscnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  check_fail(c.r, "node %d zone %s: %s", c.nid, zone_names[c.idx], msg);
}

// The PG_* names of a page's flags, for messages ("none" without any).
struct flag_text {
  char s[96];
  explicit flag_text(u64 flags) {
    if (flags & PAGEFLAGS_MASK)
      format_page_flags(s, sizeof(s), flags & PAGEFLAGS_MASK);
    else
      scnprintf(s, sizeof(s), "none");
  }
};

unsigned long pfn_of(const zone_check &c, const page *p) { return c.start + (p - c.base); }

// The page of `pages` (n of them) whose lru is e, or nullptr. Works on the
// address alone, so e may point anywhere.
const page *page_in(const page *pages, unsigned long n, const void *e) {
  uintptr_t a = reinterpret_cast<uintptr_t>(e) - __builtin_offsetof(page, lru);
  uintptr_t b = reinterpret_cast<uintptr_t>(pages);
  if (!pages || a < b) return nullptr;
  uintptr_t off = a - b;
  if (off % sizeof(page) != 0 || off / sizeof(page) >= n) return nullptr;
  return pages + off / sizeof(page);
}

const page *zone_page_of_lru(const zone_check &c, const list_head *e) {
  return page_in(c.base, c.end - c.start, e);
}

// Names what a stray list pointer points at: another list head of the zone
// (a page moved between lists without being unlinked leads there), a page of
// some node, or just an address.
void describe_pointer(const zone_check &c, const list_head *e, char *buf, size_t size) {
  for (unsigned k = 0; k < NR_PAGE_ORDERS; k++)
    for (unsigned t = 0; t < MIGRATE_TYPES; t++)
      if (e == &c.z->free_area[k].free_list[t]) {
        scnprintf(buf, size, "the head of free_area[%u].free_list[%s]", k, migratetype_names[t]);
        return;
      }
  for (unsigned cpu = 0; cpu < c.nr_cpus; cpu++)
    for (unsigned i = 0; i < NR_PCP_LISTS; i++)
      if (e == &c.z->pcp[cpu].lists[i]) {
        scnprintf(buf, size, "the head of cpu %u pcp.lists[%u]", cpu, i);
        return;
      }
  for_each_online_pgdat(c.ms, pgdat) {
    const page *p = page_in(pgdat->node_mem_map, pgdat->node_spanned_pages, e);
    if (p) {
      scnprintf(buf, size, "pfn 0x%lx of node %d",
                pgdat->node_start_pfn + (p - pgdat->node_mem_map), pgdat->node_id);
      return;
    }
  }
  scnprintf(buf, size, "%p", static_cast<const void *>(e));
}

// ---- 1. the lists -------------------------------------------------------------------

struct walk_result {
  unsigned long entries = 0;
  unsigned long flagged = 0;  // entries that carry the list's flag
  bool intact = true;
};

// The free block of `order` at pfn is on the list of type mt: every
// pageblock it covers must be of that type.
void check_block_type(zone_check &c, const char *name, unsigned long pfn, unsigned order, int mt) {
  if (!c.pageblocks_ok) return;
  unsigned long end = pfn + (1ul << order) < c.end ? pfn + (1ul << order) : c.end;
  for (unsigned long b = pfn; b < end; b = pageblock_end_pfn(b)) {
    int block_mt = get_pfnblock_migratetype(c.z, b);
    if (block_mt != mt)
      zfail(c, "%s: pfn 0x%lx (order %u) is in a pageblock of type %s", name, pfn, order,
            block_mt < int(MIGRATE_TYPES) ? migratetype_names[block_mt] : "(invalid)");
  }
}

// Walks one of this zone's lists, whose entries are PG_buddy (or PG_pcp)
// pages with private_ == order; a buddy list's blocks lie in pageblocks of
// its type mt, a per-CPU list's (mt < 0) in no isolated one. Stops at the
// first entry it cannot trust.
walk_result walk_list(zone_check &c, const list_head *head, bool pcp, unsigned order, int mt,
                      const char *name) {
  walk_result w;
  const list_head *prev = head;
  // No entry is met twice: the first one met again would not link back to
  // the entry before it. So the walk ends within the zone's pages.
  for (const list_head *e = head->next; e != head; prev = e, e = e->next) {
    const page *p = zone_page_of_lru(c, e);
    if (!p) {
      char where[64];
      describe_pointer(c, e, where, sizeof(where));
      zfail(c, "%s: entry %lu is %s, not a page of this zone", name, w.entries, where);
      w.intact = false;
      break;
    }
    unsigned long pfn = pfn_of(c, p);
    if (e->prev != prev) {
      zfail(c, "%s: pfn 0x%lx (entry %lu) does not link back to the entry before it", name, pfn,
            w.entries);
      w.intact = false;
      break;
    }
    w.entries++;
    if (pcp ? PagePcp(p) : PageBuddy(p))
      w.flagged++;
    else
      zfail(c, "%s: pfn 0x%lx is listed but not PG_%s (flags %s)", name, pfn, pcp ? "pcp" : "buddy",
            flag_text(p->flags).s);
    if (p->private_ != order)
      zfail(c, "%s: pfn 0x%lx has order %lu in private_, not %u", name, pfn, p->private_, order);
    if (!pcp) check_block_type(c, name, pfn, order, mt);
    else if (c.pageblocks_ok && get_pfnblock_migratetype(c.z, pfn) == MIGRATE_ISOLATE)
      zfail(c, "%s: pfn 0x%lx is in an isolated pageblock", name, pfn);
  }
  if (w.intact && head->prev != prev) zfail(c, "%s: the head's prev is not the last entry", name);
  return w;
}

void walk_buddy_lists(zone_check &c) {
  for (unsigned k = 0; k < NR_PAGE_ORDERS; k++) {
    const free_area &area = c.z->free_area[k];
    unsigned long entries = 0;
    bool intact = true;
    for (int t = 0; t < int(MIGRATE_TYPES); t++) {
      char name[48];
      scnprintf(name, sizeof(name), "free_area[%u].free_list[%s]", k, migratetype_names[t]);
      walk_result w = walk_list(c, &area.free_list[t], false, k, t, name);
      intact &= w.intact;
      entries += w.entries;
      c.listed_buddy += w.entries << k;
      if (t == MIGRATE_ISOLATE) c.listed_isolated += w.entries << k;
      c.listed_buddy_flagged += w.flagged;
    }
    c.lists_intact &= intact;
    if (intact && entries != area.nr_free)
      zfail(c, "free_area[%u].nr_free is %lu but its lists hold %lu", k, area.nr_free, entries);
  }
}

void walk_pcp_lists(zone_check &c) {
  for (unsigned cpu = 0; cpu < c.nr_cpus; cpu++) {
    const per_cpu_pages &pcp = c.z->pcp[cpu];
    unsigned long pages = 0;
    bool intact = true;
    for (unsigned i = 0; i < NR_PCP_LISTS; i++) {
      unsigned o = i / MIGRATE_PCPTYPES;
      char name[32];
      scnprintf(name, sizeof(name), "cpu %u pcp.lists[%u]", cpu, i);
      walk_result w = walk_list(c, &pcp.lists[i], true, o, -1, name);
      intact &= w.intact;
      pages += w.entries << o;
      c.listed_pcp_flagged += w.flagged;
    }
    c.lists_intact &= intact;
    c.listed_pcp += pages;
    if (pcp.count < 0)
      zfail(c, "cpu %u pcp.count is %d", cpu, pcp.count);
    else
      c.pcp_counts += unsigned(pcp.count);
    if (intact && pcp.count >= 0 && unsigned(pcp.count) != pages)
      zfail(c, "cpu %u pcp.count is %d but its lists hold %lu pages", cpu, pcp.count, pages);
    if (pcp.batch < 1) zfail(c, "cpu %u pcp.batch is %d, below 1", cpu, pcp.batch);
    if (!c.ms.pcp_disabled && pcp.high < pcp.batch)
      zfail(c, "cpu %u pcp.high %d is below pcp.batch %d", cpu, pcp.high, pcp.batch);
  }
}

// ---- 2. the pages ---------------------------------------------------------------------

// True when e sits between neighbours that are pages of this zone or one of
// `heads`, and both neighbours point back at it.
bool linked_locally(const zone_check &c, const list_head *e, const list_head *const *heads,
                    unsigned nr_heads) {
  auto known = [&](const list_head *n) {
    if (zone_page_of_lru(c, n)) return true;
    for (unsigned i = 0; i < nr_heads; i++)
      if (n == heads[i]) return true;
    return false;
  };
  return known(e->next) && known(e->prev) && e->next->prev == e && e->prev->next == e;
}

// Names the free pages that are not on any list (their count is compared
// after the scan, which also catches unlisted pages that link to each other).
void check_free_links(zone_check &c, const page *p, unsigned long pfn) {
  const list_head *heads[NR_CPUS * MIGRATE_PCPTYPES + MIGRATE_TYPES];
  unsigned n = 0;
  unsigned long order = p->private_;
  if (PageBuddy(p)) {
    if (order > MAX_PAGE_ORDER) return;  // reported with the block
    for (const list_head &h : c.z->free_area[order].free_list) heads[n++] = &h;
  } else {
    if (order >= NR_PCP_ORDERS) return;
    for (unsigned cpu = 0; cpu < c.nr_cpus; cpu++)
      for (int mt = 0; mt < MIGRATE_PCPTYPES; mt++) heads[n++] = &c.z->pcp[cpu].lists[order_to_pindex(mt, unsigned(order))];
  }
  if (!linked_locally(c, &p->lru, heads, n))
    zfail(c, "pfn 0x%lx is PG_%s but not linked into a %s list of order %lu", pfn,
          PageBuddy(p) ? "buddy" : "pcp", PageBuddy(p) ? "free_area" : "per-CPU", order);
}

// A free block's buddy of the same order must not be free on the buddy lists
// too: freeing merges them, except across pageblocks of different types one
// of which is HIGHATOMIC or ISOLATE. Reported from the lower block of the pair.
void check_merged(zone_check &c, unsigned long pfn, unsigned long order) {
  if (order >= MAX_PAGE_ORDER) return;
  unsigned long buddy_pfn = pfn ^ (1ul << order);
  if (buddy_pfn < pfn || buddy_pfn + (1ul << order) > c.end) return;
  const page *bp = c.base + (buddy_pfn - c.start);
  if (!PageBuddy(bp) || bp->private_ != order) return;
  if (order >= pageblock_order && c.pageblocks_ok) {
    int mt = get_pfnblock_migratetype(c.z, pfn), buddy_mt = get_pfnblock_migratetype(c.z, buddy_pfn);
    if (mt != buddy_mt && (!migratetype_is_mergeable(mt) || !migratetype_is_mergeable(buddy_mt))) return;
  }
  zfail(c, "free blocks at pfn 0x%lx and its buddy 0x%lx are both free at order %lu (not merged)", pfn,
        buddy_pfn, order);
}

void open_free_block(zone_check &c, block &b, const page *p, unsigned long pfn) {
  bool buddy = PageBuddy(p);
  unsigned long max_order = buddy ? MAX_PAGE_ORDER : NR_PCP_ORDERS - 1;
  unsigned long order = p->private_;
  if (buddy && PagePcp(p)) zfail(c, "pfn 0x%lx is both PG_buddy and PG_pcp", pfn);
  if (u64 extra = p->flags & PAGEFLAGS_MASK & ~FREE_PAGE_FLAGS)
    zfail(c, "free pfn 0x%lx also has flags %s", pfn, flag_text(extra).s);
  if (int ref = page_ref_count(p)) zfail(c, "free pfn 0x%lx has refcount %d", pfn, ref);
  if (int map = page_mapcount(p)) zfail(c, "free pfn 0x%lx has mapcount %d", pfn, map);
  // The allocation fast path leaves an order-0 page's alloc_order as it finds it.
  if (p->alloc_order) zfail(c, "free pfn 0x%lx has alloc_order %u", pfn, p->alloc_order);
  if (order > max_order) {
    zfail(c, "free pfn 0x%lx has order %lu, above %lu", pfn, order, max_order);
    order = 0;
  } else {
    if (!IS_ALIGNED(pfn, 1ul << order))
      zfail(c, "free block at pfn 0x%lx is not aligned to its order %lu", pfn, order);
    if (pfn + (1ul << order) > c.end)
      zfail(c, "free block at pfn 0x%lx of order %lu runs past the zone end 0x%lx", pfn, order,
            c.end);
    else if (buddy && IS_ALIGNED(pfn, 1ul << order))
      check_merged(c, pfn, order);
  }
  unsigned long end = pfn + (1ul << order);
  b = {
      buddy ? block_kind::buddy : block_kind::pcp, pfn, end < c.end ? end : c.end, order, p, false};
}

// A movable page (mm/migrate.h): an order-0 allocation of a registered
// owner; one that is also isolated has the isolator's reference besides the
// owner's.
void check_movable(zone_check &c, const page *p, unsigned long pfn, unsigned long order) {
  bool movable = PageMovable(p), isolated = PageIsolated(p);
  if (!movable && !isolated) return;
  if (order != 0) zfail(c, "pfn 0x%lx is %s but an allocation of order %lu", pfn, movable ? "movable" : "isolated", order);
  if (PageSlab(p) || PageHead(p) || PageLargeKmalloc(p))
    zfail(c, "pfn 0x%lx is %s and also %s", pfn, movable ? "movable" : "isolated",
          PageSlab(p) ? "a slab" : PageHead(p) ? "a compound head" : "a large kmalloc");
  if (movable && !page_movable_ops(c.ms, p))
    zfail(c, "movable pfn 0x%lx has mapping %p, which is no registered movable_operations", pfn, p->mapping);
  if (movable && isolated && page_ref_count(p) < 2)
    zfail(c, "movable pfn 0x%lx is isolated with refcount %d: the isolator's reference is missing", pfn,
          page_ref_count(p));
  // Not isolated, the owner's is the only reference: one left behind by an
  // isolation would keep the page from ever being freed.
  if (movable && !isolated && page_ref_count(p) != 1)
    zfail(c, "movable pfn 0x%lx is not isolated but has refcount %d, not its owner's 1", pfn, page_ref_count(p));
}

void open_allocation(zone_check &c, block &b, const page *p, unsigned long pfn) {
  unsigned long order = p->alloc_order;
  if (order > MAX_PAGE_ORDER) {
    zfail(c, "allocated pfn 0x%lx has alloc_order %lu, above %u", pfn, order, MAX_PAGE_ORDER);
    order = 0;
  } else {
    if (!IS_ALIGNED(pfn, 1ul << order))
      zfail(c, "allocation at pfn 0x%lx is not aligned to its order %lu", pfn, order);
    if (pfn + (1ul << order) > c.end)
      zfail(c, "allocation at pfn 0x%lx of order %lu runs past the zone end 0x%lx", pfn, order,
            c.end);
  }
  bool compound = PageHead(p);
  if (compound && order == 0)
    zfail(c, "pfn 0x%lx is PG_head but its allocation has order 0", pfn);
  else if (compound && pfn + 1 < c.end && p[1].compound_order != order)
    zfail(c, "compound head pfn 0x%lx: compound_order is %u but alloc_order is %lu", pfn,
          p[1].compound_order, order);
  check_movable(c, p, pfn, order);
  // An isolated pageblock hands nothing out: what is allocated there was
  // before the isolation, and could only be isolated because it is movable.
  if (c.pageblocks_ok && get_pfnblock_migratetype(c.z, pfn) == MIGRATE_ISOLATE && !(p->flags & (flag_bit(PG_movable) | flag_bit(PG_isolated))))
    zfail(c, "pfn 0x%lx (order %lu) is allocated, not movable, in an isolated pageblock", pfn, order);
  c.allocated += 1ul << order;
  unsigned long end = pfn + (1ul << order);
  b = {block_kind::allocated, pfn, end < c.end ? end : c.end, order, p, compound && order > 0};
}

// A page after the first of block b: a plain part of it, owned by nobody else.
void check_block_page(zone_check &c, const block &b, const page *p, unsigned long pfn) {
  const char *what = block_name(b.kind);
  if (PageBuddy(p) || PagePcp(p)) {
    zfail(c,
          "pfn 0x%lx heads a free block (order %lu) inside the %s block at pfn 0x%lx (order %lu)",
          pfn, p->private_, what, b.head_pfn, b.order);
    return;
  }
  if (int ref = page_ref_count(p))
    zfail(c, "pfn 0x%lx in the %s block at pfn 0x%lx (order %lu) has refcount %d", pfn, what,
          b.head_pfn, b.order, ref);
  if (b.kind != block_kind::allocated) {
    if (u64 extra = p->flags & PAGEFLAGS_MASK & ~FREE_PAGE_FLAGS)
      zfail(c, "pfn 0x%lx in the free block at pfn 0x%lx has flags %s", pfn, b.head_pfn,
            flag_text(extra).s);
    if (p->alloc_order)
      zfail(c, "pfn 0x%lx in the free block at pfn 0x%lx has alloc_order %u", pfn, b.head_pfn, p->alloc_order);
    // A stale tail mark would make compound_head() of a later allocation
    // redirect to a page it no longer belongs to.
    if (PageTail(p))
      zfail(c, "pfn 0x%lx in the free block at pfn 0x%lx still has compound_head 0x%lx", pfn,
            b.head_pfn, p->compound_head);
    return;
  }
  if (PageReserved(p))
    zfail(c, "pfn 0x%lx in the allocation at pfn 0x%lx is PG_reserved", pfn, b.head_pfn);
  if (PageHead(p)) zfail(c, "pfn 0x%lx in the allocation at pfn 0x%lx is PG_head", pfn, b.head_pfn);
  unsigned long want = reinterpret_cast<uintptr_t>(b.head) | 1;
  if (b.compound && p->compound_head != want)
    zfail(c, "compound tail pfn 0x%lx has compound_head 0x%lx, not 0x%lx (head pfn 0x%lx | 1)", pfn,
          p->compound_head, want, b.head_pfn);
}

void report_unowned(zone_check &c, unsigned long first, unsigned long n) {
  if (n == 1)
    zfail(c, "pfn 0x%lx is neither free, allocated nor reserved", first);
  else
    zfail(c, "pfns 0x%lx-0x%lx (%lu pages) are neither free, allocated nor reserved", first,
          first + n - 1, n);
}

void scan_pages(zone_check &c) {
  block b;
  unsigned long unowned_first = 0, unowned = 0;  // the current run of pages nobody owns
  for (unsigned long pfn = c.start; pfn < c.end; pfn++) {
    const page *p = c.base + (pfn - c.start);
    if (page_zonenum(p) != zone_type(c.idx) || page_to_nid(p) != c.nid)
      zfail(c, "pfn 0x%lx carries zone %d node %d", pfn, int(page_zonenum(p)), page_to_nid(p));
    if (PageBuddy(p)) c.flagged_buddy++;
    if (PagePcp(p)) c.flagged_pcp++;
    if (PageBuddy(p) || PagePcp(p)) check_free_links(c, p, pfn);
    if (PageReserved(p)) c.reserved++;

    bool owned = true;
    if (pfn < b.end_pfn) {
      check_block_page(c, b, p, pfn);
    } else if (PageBuddy(p) || PagePcp(p)) {
      open_free_block(c, b, p, pfn);
    } else if (PageReserved(p)) {
      // not the page allocator's
    } else if (int ref = page_ref_count(p); ref > 0) {
      open_allocation(c, b, p, pfn);
    } else if (ref < 0) {
      zfail(c, "pfn 0x%lx has refcount %d", pfn, ref);
    } else {
      owned = false;
    }
    if (!owned && unowned++ == 0) unowned_first = pfn;
    if (owned && unowned) {
      report_unowned(c, unowned_first, unowned);
      unowned = 0;
    }
  }
  if (unowned) report_unowned(c, unowned_first, unowned);
}

// ---- 3. counters, watermarks, reserves ----------------------------------------------

void check_counters(zone_check &c) {
  const zone *z = c.z;
  // Total plus every delta (unclamped snapshots): exact, with every pcp and zone lock held.
  long allocated = zone_page_state_sum(z, NR_ZONE_ALLOCATED);
  if (allocated < 0 || static_cast<unsigned long>(allocated) != c.allocated)
    zfail(c, "NR_ZONE_ALLOCATED is %ld but allocated blocks hold %lu pages", allocated,
          c.allocated);
  long pcp = zone_page_state_sum(z, NR_PCP_PAGES);
  if (pcp < 0 || static_cast<unsigned long>(pcp) != c.pcp_counts)
    zfail(c, "NR_PCP_PAGES is %ld but the per-CPU counts add up to %lu", pcp, c.pcp_counts);
  if (c.reserved + z->managed_pages != z->spanned_pages)
    zfail(c, "%lu pages are PG_reserved, but spanned_pages %lu - managed_pages %lu is %ld",
          c.reserved, z->spanned_pages, z->managed_pages,
          long(z->spanned_pages) - long(z->managed_pages));
  // What follows counts list entries: with a broken list it would only
  // repeat, less clearly, what the walk already said.
  if (!c.lists_intact) return;
  long nr_free = zone_page_state_sum(z, NR_FREE_PAGES);
  if (nr_free < 0 || static_cast<unsigned long>(nr_free) != c.listed_buddy - c.listed_isolated)
    zfail(c, "NR_FREE_PAGES is %ld but the free lists hold %lu pages (and %lu isolated ones)", nr_free,
          c.listed_buddy - c.listed_isolated, c.listed_isolated);
  if (c.flagged_buddy != c.listed_buddy_flagged)
    zfail(c, "%lu pages are PG_buddy but %lu of them are on the free lists", c.flagged_buddy,
          c.listed_buddy_flagged);
  if (c.flagged_pcp != c.listed_pcp_flagged)
    zfail(c, "%lu pages are PG_pcp but %lu of them are on the per-CPU lists", c.flagged_pcp,
          c.listed_pcp_flagged);
  unsigned long sum = c.listed_buddy + c.listed_pcp + c.allocated;
  if (sum != z->managed_pages)
    zfail(c, "free %lu + per-CPU %lu + allocated %lu = %lu pages, but managed_pages is %lu",
          c.listed_buddy, c.listed_pcp, c.allocated, sum, z->managed_pages);
}

// Linux's __setup_per_zone_wmarks, recomputed for one zone.
void check_watermarks(zone_check &c, unsigned long lowmem_pages) {
  const unsigned long *wm = c.z->_watermark;
  if (wm[WMARK_MIN] > wm[WMARK_LOW] || wm[WMARK_LOW] > wm[WMARK_HIGH] ||
      wm[WMARK_HIGH] > wm[WMARK_PROMO])
    zfail(c, "watermarks out of order: min %lu low %lu high %lu promo %lu", wm[WMARK_MIN],
          wm[WMARK_LOW], wm[WMARK_HIGH], wm[WMARK_PROMO]);
  // A zone without managed pages never passes a watermark check anyway.
  unsigned long managed = c.z->managed_pages;
  if (managed == 0) return;
  int min_free_kbytes = c.ms.min_free_kbytes;
  unsigned long pages_min =
      min_free_kbytes > 0 ? static_cast<unsigned long>(min_free_kbytes) >> (PAGE_SHIFT - 10) : 0;
  u64 share = lowmem_pages ? u64(pages_min) * managed / lowmem_pages : 0;
  unsigned long min = share;
  if (highmem_for_wmarks(c.idx)) {
    min = managed / 1024;
    min = min < SWAP_CLUSTER_MAX ? SWAP_CLUSTER_MAX : min > 128 ? 128 : min;
  }
  unsigned long scale =
      c.ms.watermark_scale_factor > 0 ? static_cast<unsigned long>(c.ms.watermark_scale_factor) : 0;
  unsigned long scaled = managed / 10000 * scale + managed % 10000 * scale / 10000;  // mult_frac
  unsigned long delta = share / 4 > scaled ? share / 4 : scaled;
  unsigned long want[NR_WMARK] = {min, min + delta, min + 2 * delta, min + 3 * delta};
  for (unsigned i = 0; i < NR_WMARK; i++)
    if (wm[i] != want[i])
      zfail(c, "watermark %s is %lu but min_free_kbytes %d and %lu managed pages give %lu",
            wmark_names[i], wm[i], min_free_kbytes, managed, want[i]);
}

// Linux's setup_per_zone_lowmem_reserve: what zone idx keeps back from
// requests that could have used a higher zone j.
void check_lowmem_reserve(zone_check &c, const pglist_data *pgdat) {
  int ratio = c.ms.lowmem_reserve_ratio[c.idx];
  bool clear = ratio <= 0 || c.z->managed_pages == 0;
  unsigned long above = 0;
  for (unsigned j = 0; j < MAX_NR_ZONES; j++) {
    long want = 0;
    if (j > c.idx) {
      above += pgdat->node_zones[j].managed_pages;
      want = clear ? 0 : long(above / unsigned(ratio));
    }
    if (c.z->lowmem_reserve[j] != want)
      zfail(c, "lowmem_reserve[%u] is %ld but should be %ld", j, c.z->lowmem_reserve[j], want);
  }
}

// Linux's calculate_totalreserve_pages, for zone idx.
unsigned long reserve_of(const zone *z, unsigned idx) {
  long max = 0;
  for (unsigned j = idx; j < MAX_NR_ZONES; j++)
    if (z->lowmem_reserve[j] > max) max = z->lowmem_reserve[j];
  unsigned long r = static_cast<unsigned long>(max) + high_wmark_pages(z);
  return r < z->managed_pages ? r : z->managed_pages;
}

// The order documented in kernel/spinlock.h: a pcp lock may be held while the
// zone lock is taken, never the reverse. No allocator path holds two pcp
// locks, so taking them all in cpu order cannot deadlock with one.
struct zone_locks {
  zone *z;
  unsigned nr_cpus;
  unsigned long flags[NR_CPUS + 1];
  zone_locks(zone *zz, unsigned n) : z(zz), nr_cpus(n) {
    for (unsigned cpu = 0; cpu < nr_cpus; cpu++) flags[cpu] = spin_lock_irqsave(&z->pcp[cpu].lock);
    flags[nr_cpus] = spin_lock_irqsave(&z->lock);
  }
  ~zone_locks() {
    spin_unlock_irqrestore(&z->lock, flags[nr_cpus]);
    for (unsigned cpu = nr_cpus; cpu-- > 0;) spin_unlock_irqrestore(&z->pcp[cpu].lock, flags[cpu]);
  }
  zone_locks(const zone_locks &) = delete;
  zone_locks &operator=(const zone_locks &) = delete;
};

// A zone without pages has nothing on its lists (which need not even be
// initialised, as in Linux) and nothing in its counters.
void check_empty_zone(zone_check &c) {
  for (unsigned k = 0; k < NR_PAGE_ORDERS; k++)
    if (c.z->free_area[k].nr_free)
      zfail(c, "free_area[%u].nr_free is %lu in a zone without pages", k,
            c.z->free_area[k].nr_free);
  for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++)
    if (long v = zone_page_state_sum(c.z, zone_stat_item(i)))
      zfail(c, "vm_stat[%u] is %ld in a zone without pages", i, v);
  for (unsigned cpu = 0; cpu < c.nr_cpus; cpu++)
    if (c.z->pcp[cpu].count)
      zfail(c, "cpu %u pcp.count is %d in a zone without pages", cpu, c.z->pcp[cpu].count);
}

// ---- nodes and zone geometry ----------------------------------------------------------

struct totals {
  unsigned long lowmem_pages = 0;  // managed pages of the zones that count as lowmem
  unsigned long managed = 0;
  unsigned long reserve = 0;
};

// Zone geometry; returns true when the zone's pages may be read through the
// node's mem_map.
bool check_zone_geometry(zone_check &c, const pglist_data *pgdat, unsigned long zone_floor,
                         unsigned long prev_end, unsigned prev_idx) {
  const zone *z = c.z;
  if (z->zone_pgdat != pgdat) zfail(c, "zone_pgdat does not point at its node");
  if (z->idx != zone_type(c.idx)) zfail(c, "idx is %d", int(z->idx));
  if (!z->name || strcmp(z->name, zone_names[c.idx]) != 0)
    zfail(c, "name is \"%s\"", z->name ? z->name : "(null)");
  if (z->managed_pages > z->present_pages)
    zfail(c, "managed_pages %lu is above present_pages %lu", z->managed_pages, z->present_pages);
  if (z->present_pages > z->spanned_pages)
    zfail(c, "present_pages %lu is above spanned_pages %lu", z->present_pages, z->spanned_pages);
  if (z->spanned_pages == 0) return false;

  unsigned long start = z->zone_start_pfn, node_end = pgdat_end_pfn(pgdat);
  if (start < pgdat->node_start_pfn || start > node_end || z->spanned_pages > node_end - start) {
    zfail(c, "span 0x%lx+0x%lx is outside the node's 0x%lx-0x%lx", start, z->spanned_pages,
          pgdat->node_start_pfn, node_end);
    return false;
  }
  unsigned long end = start + z->spanned_pages;
  if (start < zone_floor || end > c.ms.max_zone_pfn[c.idx])
    zfail(c, "span 0x%lx-0x%lx is outside the zone limits 0x%lx-0x%lx", start, end, zone_floor,
          c.ms.max_zone_pfn[c.idx]);
  if (start < prev_end)
    zfail(c, "starts at pfn 0x%lx, below the end 0x%lx of zone %s", start, prev_end,
          zone_names[prev_idx]);
  if (!pgdat->node_mem_map) return false;  // reported with the node
  page *want = pgdat->node_mem_map + (start - pgdat->node_start_pfn);
  if (z->zone_mem_map != want)
    zfail(c, "zone_mem_map is %p but the node's mem_map puts pfn 0x%lx at %p",
          static_cast<void *>(z->zone_mem_map), start, static_cast<void *>(want));
  c.base = want;
  c.start = start;
  c.end = end;
  return true;
}

void check_zone(zone_check &c, const pglist_data *pgdat, bool pages_ok, totals &t) {
  t.managed += c.z->managed_pages;
  zone_locks locks(c.z, c.nr_cpus);
  c.pageblocks_ok = check_zone_pageblocks(c.ms, c.z, c.nid, c.r) && pages_ok;
  if (pages_ok) {
    walk_buddy_lists(c);
    walk_pcp_lists(c);
    scan_pages(c);
    check_counters(c);
  } else if (c.z->spanned_pages == 0) {
    check_empty_zone(c);
  }
  check_watermarks(c, t.lowmem_pages);
  check_zone_vmstat(c.ms, c.z, c.nid, c.r);
  check_lowmem_reserve(c, pgdat);
  t.reserve += reserve_of(c.z, c.idx);
}

// Pages of the node's span that no zone holds (holes at zone boundaries)
// belong to nobody: they must be PG_reserved.
void check_zoneless_pages(check_report &r, const pglist_data *pgdat, unsigned long from,
                          unsigned long to) {
  for (unsigned long pfn = from; pfn < to; pfn++) {
    const page *p = pgdat->node_mem_map + (pfn - pgdat->node_start_pfn);
    if (!PageReserved(p) || PageBuddy(p) || PagePcp(p))
      check_fail(r, "node %d: pfn 0x%lx lies in no zone but has flags %s", pgdat->node_id, pfn,
                 flag_text(p->flags).s);
  }
}

void check_node(const mem_system &ms, check_report &r, int nid, pglist_data *pgdat,
                unsigned nr_cpus, totals &t) {
  if (pgdat->node_id != nid) check_fail(r, "node %d: node_id is %d", nid, pgdat->node_id);
  if (pgdat->ms != &ms) check_fail(r, "node %d: ms does not point at its mem_system", nid);
  if (pgdat->node_spanned_pages && !pgdat->node_mem_map)
    check_fail(r, "node %d: spans %lu pages but has no mem_map", nid, pgdat->node_spanned_pages);

  unsigned long zone_floor = 0, prev_end = 0, present = 0;
  unsigned prev_idx = 0;
  unsigned long cursor = pgdat->node_start_pfn;  // the node's pages below it are checked
  for (unsigned i = 0; i < MAX_NR_ZONES; i++) {
    zone *z = &pgdat->node_zones[i];
    zone_check c{ms, r, nid, i, z, nullptr, 0, 0, nr_cpus};
    present += z->present_pages;
    bool pages_ok = check_zone_geometry(c, pgdat, zone_floor, prev_end, prev_idx);
    if (pages_ok) {
      if (c.start > cursor) check_zoneless_pages(r, pgdat, cursor, c.start);
      if (c.end > cursor) cursor = c.end;
      prev_end = c.end;
      prev_idx = i;
    }
    check_zone(c, pgdat, pages_ok, t);
    if (ms.max_zone_pfn[i] > zone_floor) zone_floor = ms.max_zone_pfn[i];
  }
  if (pgdat->node_mem_map && cursor < pgdat_end_pfn(pgdat))
    check_zoneless_pages(r, pgdat, cursor, pgdat_end_pfn(pgdat));
  check_node_vmstat(ms, pgdat, r);
  if (present != pgdat->node_present_pages)
    check_fail(r, "node %d: node_present_pages is %lu but its zones hold %lu", nid,
               pgdat->node_present_pages, present);
}

void check_node_spans(const mem_system &ms, check_report &r) {
  bool any = false;
  for (unsigned i = 0; i < MAX_NUMNODES; i++) {
    const pglist_data *a = ms.node_data[i];
    if (!a) continue;
    any = true;
    for (unsigned j = i + 1; j < MAX_NUMNODES; j++) {
      const pglist_data *b = ms.node_data[j];
      if (!b || !a->node_spanned_pages || !b->node_spanned_pages) continue;
      if (a->node_start_pfn < pgdat_end_pfn(b) && b->node_start_pfn < pgdat_end_pfn(a))
        check_fail(r, "node %u span 0x%lx-0x%lx overlaps node %u span 0x%lx-0x%lx", i,
                   a->node_start_pfn, pgdat_end_pfn(a), j, b->node_start_pfn, pgdat_end_pfn(b));
    }
  }
  if (!any) check_fail(r, "no node has memory");
  // pfn_to_page's table: each entry is the span and mem_map of the one node
  // that meets its section, or empty (the slow search) when none or several
  // do. An empty entry where one node meets the section would still answer
  // right, only slowly: it is reported all the same.
  for (unsigned sec = 0; sec < NR_MEM_SECTIONS; sec++) {
    const mem_section &got = ms.mem_sections[sec];
    const mem_section want = mem_section_of(ms, sec);
    if (got.mem_map != want.mem_map || got.start_pfn != want.start_pfn || got.nr_pfns != want.nr_pfns)
      check_fail(r, "section %u: pfn_to_page's entry covers 0x%lx-0x%lx with mem_map 0x%lx, its node 0x%lx-0x%lx with 0x%lx",
                 sec, got.start_pfn, got.start_pfn + got.nr_pfns, (unsigned long)got.mem_map, want.start_pfn,
                 want.start_pfn + want.nr_pfns, (unsigned long)want.mem_map);
  }
}

}  // namespace

// Needs ms to be quiet (no other CPU allocating or freeing) and no zone or
// pcp lock held by the caller: it takes them all. Returns the violations it
// added to r; changes nothing else.
unsigned check_page_alloc(const mem_system &ms, check_report &r) {
  unsigned before = r.violations;
  unsigned nr_cpus = ms.nr_cpus;
  if (nr_cpus == 0 || nr_cpus > NR_CPUS) {
    check_fail(r, "nr_cpus is %u, not 1..%u", nr_cpus, NR_CPUS);
    nr_cpus = nr_cpus ? NR_CPUS : 0;
  }
  check_node_spans(ms, r);

  totals t;
  for_each_online_pgdat(ms, pgdat) {
    for (unsigned i = 0; i < MAX_NR_ZONES; i++)
      if (!highmem_for_wmarks(i)) t.lowmem_pages += pgdat->node_zones[i].managed_pages;
  }
  for (int nid = 0; nid < int(MAX_NUMNODES); nid++)
    if (pglist_data *pgdat = ms.node_data[nid]) check_node(ms, r, nid, pgdat, nr_cpus, t);

  if (ms.totalram_pages != t.managed)
    check_fail(r, "totalram_pages is %lu but the zones manage %lu", ms.totalram_pages, t.managed);
  if (ms.totalreserve_pages != t.reserve)
    check_fail(r, "totalreserve_pages is %lu but the zones' high watermarks and reserves make %lu",
               ms.totalreserve_pages, t.reserve);
  return r.violations - before;
}

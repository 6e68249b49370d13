// Contiguous allocations beyond the buddy allocator's largest order
// (Linux's alloc_contig_range and alloc_contig_pages, the ground CMA and
// gigantic pages stand on). See mm/compaction.h for the interface.
//
// Basic algorithm of alloc_contig_range(start, end):
//  1. isolate every pageblock the range touches (MIGRATE_ISOLATE, each
//     remembering its type): nothing in them is handed out from now on, and
//     pages freed there stay on the isolated lists; a pageblock with a page
//     that is neither free nor movable makes it fail here;
//  2. migrate the movable pages of [start, end) to frames outside (the
//     isolated pageblocks cannot provide any), a few rounds, until the range
//     is wholly free on the isolated lists (test_pages_isolated);
//  3. take the free blocks that cover the range as order-0 pages, give back
//     the parts of the first and last block that lie outside it;
//  4. undo the isolation: each pageblock gets its type back, and what is
//     still free in it goes back to the ordinary lists.
// A failure at 1 or 2 undoes the isolation and takes nothing.
#include "kernel/errno.h"
#include "kernel/numa.h"
#include "kernel/printk.h"
#include "mm/check.h"
#include "mm/compaction.h"
#include "mm/page_alloc.h"
#include "mm/page_alloc_internal.h"
#include "mm/page_isolation.h"

namespace {

struct migration_target {
  mem_system *ms;
  int nid;
  gfp_t gfp;
};

// A frame for a page leaving the range: movable (it will be movable again),
// from anywhere the allocator likes, which cannot be inside the isolated
// range.
page *alloc_migration_target(page *, void *priv) {
  auto *t = static_cast<migration_target *>(priv);
  return alloc_pages_node(*t->ms, t->nid, t->gfp, 0);
}

void free_migration_target(page *p, void *priv) { __free_pages(*static_cast<migration_target *>(priv)->ms, p, 0); }

constexpr int CONTIG_MIGRATE_TRIES = 5;

// Step 2: moves the movable pages of [start, end) out. 0 once the range is
// wholly free on the isolated lists, -EBUSY if it still is not after the
// last round.
int migrate_range_out(compact_control *cc, unsigned long start, unsigned long end, gfp_t gfp) {
  mem_system &ms = *cc->ms;
  migration_target target = {&ms, cc->z->zone_pgdat->node_id,
                             (gfp & (__GFP_RECLAIM | __GFP_IO | __GFP_FS)) | __GFP_MOVABLE | __GFP_NOWARN};
  for (int round = 0; round < CONTIG_MIGRATE_TRIES; round++) {
    // Pages of the range freed to per-CPU lists before the isolation have
    // gone back with start_isolate_page_range's drain; pages migrated out
    // now go straight to the isolated lists.
    if (test_pages_isolated(ms, start, end) == 0) return 0;
    for (unsigned long pfn = start; pfn < end;) {
      pfn = isolate_migratepages_block(cc, pfn, end);
      if (!cc->nr_migratepages) continue;
      migrate_pages(ms, &cc->migratepages, alloc_migration_target, free_migration_target, &target, MIGRATE_SYNC,
                    MR_CONTIG_RANGE, nullptr);
      putback_movable_pages(ms, &cc->migratepages);
      cc->nr_migratepages = 0;
    }
    drain_all_pages(ms);
  }
  return test_pages_isolated(ms, start, end) == 0 ? 0 : -EBUSY;
}

}  // namespace

int alloc_contig_range(mem_system &ms, unsigned long start, unsigned long end, gfp_t gfp) {
  page *first = start < end ? pfn_to_page(ms, start) : nullptr;
  if (!first || !pfn_to_page(ms, end - 1)) return -EINVAL;
  zone *z = page_zone(ms, first);
  if (!zone_spans_pfn(z, end - 1)) return -EINVAL;
  unsigned long outer_start = pageblock_start_pfn(start), outer_end = pageblock_end_pfn(end - 1);
  if (int err = start_isolate_page_range(ms, outer_start, outer_end)) return err;

  compact_control cc = compact_control_for(ms, z, -1, MIGRATE_SYNC);
  cc.ignore_skip_hint = true;
  cc.no_set_skip_hint = true;
  cc.alloc_contig = true;
  INIT_LIST_HEAD(&cc.migratepages);
  INIT_LIST_HEAD(&cc.freepages);
  int err = migrate_range_out(&cc, start, end, gfp);
  list_head taken;
  INIT_LIST_HEAD(&taken);
  if (!err && !isolate_freepages_range(&cc, start, end, &taken)) err = -EBUSY;
  count_vm_events(ms, COMPACTMIGRATE_SCANNED, cc.total_migrate_scanned);
  if (!err) {
    // The first and last free blocks may reach outside the range: those
    // pages go back (to the isolated lists, which the undo below merges).
    list_head *pos = taken.next;
    while (pos != &taken) {
      page *p = list_entry(pos, page, lru);
      pos = pos->next;
      unsigned long pfn = page_to_pfn(ms, p);
      list_del(&p->lru);
      if (pfn < start || pfn >= end) __free_pages(ms, p, 0);
    }
  }
  undo_isolate_page_range(ms, outer_start, outer_end);
  return err;
}

// Whether [pfn, pfn + nr) (in z) is worth trying: no page of it reserved
// or in use without being movable (a racy look; alloc_contig_range decides
// under the locks, and refuses a range whose pageblocks reach outside z).
static bool pfn_range_valid_contig(zone *z, unsigned long pfn, unsigned long nr) {
  for (unsigned long i = pfn; i < pfn + nr; i++) {
    const page *p = zone_pfn_to_page(z, i);
    unsigned long flags = READ_ONCE(p->flags);
    if (flags & (1ul << PG_reserved)) return false;
    if (flags & ((1ul << PG_movable) | (1ul << PG_isolated))) continue;
    // In use and not movable (free and per-CPU pages have no reference).
    if (page_ref_count(p) > 0 || PageTail(p)) return false;
  }
  return true;
}

page *alloc_contig_pages(mem_system &ms, unsigned long nr_pages, gfp_t gfp, int nid) {
  int classzone = gfp_zone(gfp);
  if (nr_pages == 0 || classzone == ZONE_INVALID) {
    if (!(gfp & __GFP_NOWARN)) pr_warn("alloc_contig_pages: %s\n", nr_pages ? "contradictory zone modifiers" : "0 pages");
    return nullptr;
  }
  unsigned long align = 1;
  while (align < nr_pages) align <<= 1;
  if (nid == NUMA_NO_NODE) nid = ms.cpu_to_node[this_cpu_slot()];  // as the page allocator's local node
  nid = nearest_memory_node(ms, nid);
  pglist_data *pgdat = ms.node_data[nid];
  for (zone **zp = pgdat->zonelist; *zp; zp++) {
    zone *z = *zp;
    if (z->idx > classzone || ((gfp & __GFP_THISNODE) && z->zone_pgdat != pgdat)) continue;
    unsigned long pfn = (z->zone_start_pfn + align - 1) & ~(align - 1);
    for (; pfn + nr_pages <= zone_end_pfn(z) && pfn + nr_pages > pfn; pfn += align) {
      if (!pfn_range_valid_contig(z, pfn, nr_pages)) continue;
      if (alloc_contig_range(ms, pfn, pfn + nr_pages, gfp) == 0) {
        if (unlikely(ms.check_calls)) check_contig_call(ms, pfn, nr_pages, gfp);
        return zone_pfn_to_page(z, pfn);
      }
    }
  }
  if (!(gfp & __GFP_NOWARN)) pr_warn("alloc_contig_pages: no range of %lu pages on node %d\n", nr_pages, nid);
  return nullptr;
}

unsigned long free_contig_range(mem_system &ms, unsigned long pfn, unsigned long nr_pages) {
  unsigned long bad = 0;
  for (unsigned long i = 0; i < nr_pages; i++) {
    page *p = pfn_to_page(ms, pfn + i);
    if (!p || page_ref_count(p) != 1 || p->alloc_order != 0) {
      bad_page(ms, p, pfn + i, "free_contig_range: not a page of a contiguous allocation");
      bad++;
      continue;
    }
    __free_pages(ms, p, 0);
  }
  return bad;
}

// Compaction (Linux's mm/compaction.c, written fresh): moving movable pages
// out of the way so that free pages come together into large blocks, and
// the contiguous allocations built on the same machinery.
//
// Basic algorithm of compact_zone, two scanners over one zone:
//
//   zone_start_pfn                                         zone_end_pfn
//   |  migrate_pfn -->                           <-- free_pfn         |
//   [MM.M..MM|.M.M....|........|.MMM....|...F..F.|FF..F...|..FFFF..]
//             pageblock
//
//  1. the migration scanner walks up from the zone's start a pageblock at
//     a time and isolates movable pages (M) (isolate_migratepages_block);
//  2. the free scanner walks down from the zone's end and takes free pages
//     (F) as targets (isolate_freepages_block), split to order 0;
//  3. migrate_pages moves each isolated page into a target; the freed
//     sources merge into larger blocks low in the zone;
//  4. it ends when the scanners meet (COMPACT_COMPLETE) or, for an
//     allocation of `order`, when a free block of that order of a type the
//     request could use exists (__compact_finished: COMPACT_SUCCESS).
// Pageblocks where a scanner found nothing get PB_migrate_skip, which the
// next compaction passes by, until a pass over the whole zone has ended;
// the scanners' positions are cached in the zone so the next one goes on.
//
// Which pages move: only movable pages (mm/migrate.h: PG_movable with a
// registered owner); unmovable, reclaimable, slab, page-table and
// reserved pages are never touched. The migration scanner takes only from
// MOVABLE pageblocks in async mode (in sync mode from any ordinary type),
// the free scanner only from MOVABLE pageblocks; neither from isolated or
// highatomic ones (except alloc_contig_range's own, which is isolated).
//
// Invariants the checker relies on: isolated free pages are allocated
// (refcount 1, order 0) while a compaction holds them; every page compaction
// isolates is given back, migrated or put back, before compact_zone returns.
#pragma once

#include "kernel/list.h"
#include "mm/gfp.h"
#include "mm/migrate.h"
#include "mm/mmzone.h"

enum compact_result {
  COMPACT_NOT_SUITABLE_ZONE,  // for try_to_compact_pages: no zone was worth it
  COMPACT_SKIPPED,            // not enough free memory for compaction to help
  COMPACT_DEFERRED,           // failed recently at this order: not tried
  COMPACT_NO_SUITABLE_PAGE,
  COMPACT_CONTINUE,
  COMPACT_COMPLETE,           // the scanners met over the whole zone
  COMPACT_PARTIAL_SKIPPED,    // they met, but the pass started partway (cached positions)
  COMPACT_CONTENDED,          // out of target pages, or a lock was busy (async)
  COMPACT_SUCCESS,            // a suitable block exists now
};
extern const char *const compact_result_names[];

// How hard direct compaction tries (Linux's compact_priority): lower is
// harder.
enum compact_priority {
  COMPACT_PRIO_SYNC_FULL,
  MIN_COMPACT_PRIORITY = COMPACT_PRIO_SYNC_FULL,
  COMPACT_PRIO_SYNC_LIGHT,
  MIN_COMPACT_COSTLY_PRIORITY = COMPACT_PRIO_SYNC_LIGHT,
  DEF_COMPACT_PRIORITY = COMPACT_PRIO_SYNC_LIGHT,
  COMPACT_PRIO_ASYNC,
  INIT_COMPACT_PRIORITY = COMPACT_PRIO_ASYNC,
};

constexpr unsigned COMPACT_CLUSTER_MAX = 32;  // pages isolated per round (Linux's SWAP_CLUSTER_MAX)

struct compact_control {
  mem_system *ms;
  zone *z;
  list_head freepages;     // targets, order-0 pages with one reference
  list_head migratepages;  // isolated movable pages
  unsigned nr_freepages;
  unsigned nr_migratepages;
  unsigned long free_pfn;     // the free scanner's next pageblock starts below this
  unsigned long migrate_pfn;  // the migration scanner's next pfn
  unsigned long total_migrate_scanned;
  unsigned long total_free_scanned;
  unsigned long nr_migrated;
  int order;                // -1: the whole zone (compact_memory)
  int migratetype;          // of the request compaction is for
  unsigned alloc_flags;
  int highest_zoneidx;
  migrate_mode mode;
  bool ignore_skip_hint;    // scan pageblocks with PB_migrate_skip too
  bool no_set_skip_hint;    // and set none
  bool whole_zone;          // from the zone's ends, not the cached positions
  bool direct_compaction;   // an allocation waits for it
  bool proactive_compaction;
  bool alloc_contig;        // alloc_contig_range: the range is isolated and is what we scan
  bool kcompactd;           // count kcompactd's events
  bool out_of_targets;      // the free scanner found nothing more (set by compact_zone's scan)
};

// A compact_control for z with what every caller sets: ms, z, order and
// mode, for a movable GFP_KERNEL request; the rest zero. Callers change
// what differs (a direct compaction its request's flags, alloc_contig its
// own) before compact_zone.
compact_control compact_control_for(mem_system &ms, zone *z, int order, migrate_mode mode);

// Whether compaction could help an allocation of `order` in z: the zone
// would pass its min watermark (low for costly orders) plus 2 << order
// (compact_gap) over order-0 pages, counting highest_zoneidx's
// lowmem_reserve; and, for costly orders, the failure would be
// fragmentation, not lack of memory (fragmentation_index above
// extfrag_threshold, or a block exists).
bool compaction_suitable(const mem_system &ms, const zone *z, int order, int highest_zoneidx);

// Compacts cc->z as cc says. The caller sets ms, z, order, mode,
// migratetype, alloc_flags, highest_zoneidx and the flags; the
// rest is compact_zone's. Every page it isolates is given back before it
// returns.
compact_result compact_zone(compact_control *cc);

// Direct compaction for an allocation (mm/page_alloc.cpp's slow path):
// compacts each zone of the request's zonelist that is suitable and not
// deferred, until one would pass the watermark at `order`. Returns the
// best result over the zones. gfp is Linux's argument; its __GFP_IO and
// __GFP_FS rules have no filesystem to guard here.
struct alloc_context;
compact_result try_to_compact_pages(mem_system &ms, gfp_t gfp, unsigned order, unsigned alloc_flags,
                                    const alloc_context &ac, compact_priority prio);
// After the allocation attempt that direct compaction was for: unless
// compaction was skipped, counts compact_stall and compact_success or
// compact_fail, and on success resets the deferral of the page's zone.
void compaction_alloc_result(mem_system &ms, page *p, unsigned order, compact_result result);

// Deferred compaction (Linux's defer_compaction / compaction_deferred).
void defer_compaction(zone *z, int order);
bool compaction_deferred(zone *z, int order);
void compaction_defer_reset(zone *z, int order, bool alloc_success);

// /proc/sys/vm/compact_memory: every zone of every node, in full (order
// -1, sync, ignoring skip hints). compact_node is the same for one node
// (nothing for an id that names no node with memory).
void compact_node(mem_system &ms, int nid);
void compact_memory(mem_system &ms);

// kcompactd: kswapd wakes it after balancing a node for a high-order
// request; kcompactd_run_node (from the idle loop, on a CPU of the node,
// like kswapd) compacts the node's zones for that order (async), and every
// HPAGE_FRAG_CHECK_INTERVAL_MSEC checks whether proactive compaction is
// due. now_ms is the caller's clock.
void wakeup_kcompactd(pglist_data *pgdat, int order, int highest_zoneidx);
void kcompactd_run_node(mem_system &ms, pglist_data *pgdat, unsigned long now_ms);
void kcompactd_run(mem_system &ms, unsigned long now_ms);
constexpr unsigned long HPAGE_FRAG_CHECK_INTERVAL_MSEC = 500;

// Proactive compaction (Linux 5.9+): a node's fragmentation score is the
// unusable index at pageblock order (0..100) of each zone, weighted by the
// zone's share of the node's present pages. Proactive compaction starts
// when the score passes the high mark, min(low + 10, 100), and stops once
// it is below the low mark, max(100 - compaction_proactiveness, 5).
// Proactiveness 0 turns it off.
unsigned fragmentation_score_zone(const zone *z);
unsigned fragmentation_score_node(const pglist_data *pgdat);
unsigned fragmentation_score_wmark(const mem_system &ms, bool low);
// One proactive compaction of the node (what kcompactd does when due).
void proactive_compact_node(mem_system &ms, pglist_data *pgdat);

// ---- contiguous allocations (mm/page_contig.cpp) ---------------------------------
// Linux's alloc_contig_range: makes [start, end) (pfns of one zone) the
// caller's, as order-0 pages with one reference each (free them with
// free_contig_range). Isolates every pageblock the range touches
// (start_isolate_page_range), migrates the movable pages out of it, waits
// for it to be free, and takes it. 0; -EINVAL (a bad range); -EBUSY (an
// unmovable page in the way, or migration did not finish) or -ENOMEM;
// on failure every pageblock keeps the type it had and nothing is taken.
int alloc_contig_range(mem_system &ms, unsigned long start, unsigned long end, gfp_t gfp);
// nr_pages contiguous pages of the zones gfp allows on node nid (or the
// current CPU's node with NUMA_NO_NODE), starting at a multiple of nr_pages
// rounded up to a power of two; nullptr when no such range could be had
// (nothing changed then). Any size the zone can hold, beyond
// MAX_PAGE_ORDER too.
page *alloc_contig_pages(mem_system &ms, unsigned long nr_pages, gfp_t gfp, int nid);
// Frees nr_pages order-0 pages from pfn (each must hold exactly its one
// reference). Returns the pages that could not be freed (reported as bad).
unsigned long free_contig_range(mem_system &ms, unsigned long pfn, unsigned long nr_pages);

// ---- shared by compaction.cpp and page_contig.cpp ----------------------------------
// The migration scanner over [low, end): isolates movable pages onto
// cc->migratepages, up to COMPACT_CLUSTER_MAX. Returns the pfn to go on from.
unsigned long isolate_migratepages_block(compact_control *cc, unsigned long low, unsigned long end);
// Takes every free page of [start, end) of cc->z as order-0 pages with one
// reference each onto list; the free block holding start may begin below
// it and the last may reach beyond end (taken whole: the caller gives those
// pages back). Returns the pages taken, or 0 (and takes nothing) unless
// the whole range was free.
unsigned long isolate_freepages_range(compact_control *cc, unsigned long start, unsigned long end, list_head *list);

// Reclaim: shrinkers give memory back under pressure. Two callers, as Linux:
//  - kswapd: woken when an allocation finds a zone below its low watermark;
//    kswapd_run() (from the idle loop, deferred work, or a test) asks the
//    shrinkers for more and more (Linux's reclaim priorities 12..0) until the
//    node is balanced again (pgdat_balanced: as Linux, one eligible zone
//    above its high watermark), checking before every batch, or until
//    nothing more can be freed;
//  - direct reclaim: an allocation that may sleep (__GFP_DIRECT_RECLAIM)
//    calls the shrinkers itself before giving up.
#pragma once

#include "kernel/list.h"
#include "mm/gfp.h"
#include "mm/mmzone.h"

constexpr unsigned long SHRINK_STOP = ~0ul;
constexpr unsigned long SHRINK_EMPTY = (~0ul) - 1;

struct shrink_control {
  gfp_t gfp_mask;
  int nid;
  unsigned long nr_to_scan;  // objects to try to free
  unsigned long nr_scanned;  // objects looked at (set by scan_objects)
};

struct shrinker {
  // How many objects could be freed (0 or SHRINK_EMPTY: nothing to do).
  unsigned long (*count_objects)(shrinker *s, shrink_control *sc);
  // Frees up to sc->nr_to_scan objects; returns how many, or SHRINK_STOP.
  unsigned long (*scan_objects)(shrinker *s, shrink_control *sc);
  long batch;  // objects per scan_objects call (0: 128)
  void *private_data;
  list_head list;
};

void register_shrinker(mem_system &ms, shrinker *s);
void unregister_shrinker(mem_system &ms, shrinker *s);

// Calls every shrinker once over its whole count. Returns the objects freed.
unsigned long shrink_slab(mem_system &ms, gfp_t gfp, int nid);

// Marks the node's kswapd as needed (allocation below low watermark).
void wakeup_kswapd(zone *z, gfp_t gfp, unsigned order, int highest_zoneidx);
// Runs kswapd's balancing for every node that asked. Returns the pages freed.
unsigned long kswapd_run(mem_system &ms);
// The same for one node (the kernel runs each node's on a CPU of that node).
unsigned long kswapd_run_node(mem_system &ms, pglist_data *pgdat);
// As Linux: true when one populated zone up to classzone of the node is above
// high (or the node has none).
bool pgdat_balanced(const pglist_data *pgdat, unsigned order, int highest_zoneidx);
// Direct reclaim for an allocation. Returns the pages it freed (progress).
unsigned long try_to_free_pages(mem_system &ms, gfp_t gfp, unsigned order, int nid);

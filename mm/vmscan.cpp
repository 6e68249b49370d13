// Reclaim through shrinkers: kswapd's balancing and direct reclaim.
// Lock order: shrinker_lock, then whatever the shrinkers take (zone locks).
#include "mm/vmscan.h"

#include "mm/compaction.h"

#include "mm/page_alloc.h"
#include "mm/watermark.h"

constexpr long SHRINK_BATCH = 128;

void register_shrinker(mem_system &ms, shrinker *s) {
  spin_lock_guard g(ms.shrinker_lock);
  list_add_tail(&s->list, &ms.shrinkers);
}

void unregister_shrinker(mem_system &ms, shrinker *s) {
  spin_lock_guard g(ms.shrinker_lock);
  list_del_init(&s->list);
}

// Linux's reclaim priorities: at priority p a shrinker is asked for
// (count >> p) * 4 / DEFAULT_SEEKS objects; at 0, for all of them.
constexpr int DEF_PRIORITY = 12;
constexpr unsigned long DEFAULT_SEEKS = 2;
constexpr unsigned long SWAP_CLUSTER_MAX = 32;

// Asks every shrinker for its share at this priority, a batch at a time,
// and stops as soon as stop() says enough. Returns the objects freed.
template <class Stop>
static unsigned long shrink_slab_at(mem_system &ms, gfp_t gfp, int nid, int priority, Stop &&stop) {
  unsigned long freed = 0;
  spin_lock_guard g(ms.shrinker_lock);
  list_for_each(pos, &ms.shrinkers) {
    shrinker *s = list_entry(pos, shrinker, list);
    shrink_control sc = {gfp, nid, 0, 0};
    unsigned long count = s->count_objects(s, &sc);
    if (count == 0 || count == SHRINK_EMPTY) continue;
    // At most count for p >= 1 (DEFAULT_SEEKS is 2; a product that wraps is
    // only smaller): Linux's clamp of the target to twice the count never bites.
    unsigned long total = priority == 0 ? count : (count >> priority) * 4 / DEFAULT_SEEKS;
    unsigned long batch = s->batch > 0 ? static_cast<unsigned long>(s->batch) : SHRINK_BATCH;
    while (total > 0) {
      if (stop(freed)) return freed;
      sc.nr_to_scan = total < batch ? total : batch;
      sc.nr_scanned = sc.nr_to_scan;
      unsigned long ret = s->scan_objects(s, &sc);
      if (ret == SHRINK_STOP) break;
      freed += ret;
      total -= sc.nr_to_scan;
    }
  }
  return freed;
}

unsigned long shrink_slab(mem_system &ms, gfp_t gfp, int nid) {
  return shrink_slab_at(ms, gfp, nid, 0, [](unsigned long) { return false; });
}

// As Linux: a node is balanced when any zone it could serve the request
// from is above its high watermark (or it has no such zone).
bool pgdat_balanced(const pglist_data *pgdat, unsigned order, int highest_zoneidx) {
  bool any = false;
  for (int i = 0; i <= highest_zoneidx && i < int(MAX_NR_ZONES); i++) {
    const zone *z = &pgdat->node_zones[i];
    if (!managed_zone(z)) continue;
    any = true;
    // Safe: near the watermarks the total may be off by the CPUs' deltas.
    if (zone_watermark_ok_safe(z, order, high_wmark_pages(z), highest_zoneidx)) return true;
  }
  return !any;
}

void wakeup_kswapd(zone *z, gfp_t gfp, unsigned order, int highest_zoneidx) {
  pglist_data *pgdat = z->zone_pgdat;
  if (pgdat_balanced(pgdat, order, highest_zoneidx)) {
    // Balanced, yet this request fell below low: memory may be there but
    // too fragmented for its order. A caller that cannot compact itself
    // leaves that to kcompactd, which checks whether compaction would help
    // (Linux does the same).
    if (!(gfp & __GFP_DIRECT_RECLAIM)) wakeup_kcompactd(pgdat, int(order), highest_zoneidx);
    return;
  }
  if (!pgdat->kswapd_wanted || highest_zoneidx > pgdat->kswapd_highest_zoneidx)
    pgdat->kswapd_highest_zoneidx = highest_zoneidx;
  if (int(order) > READ_ONCE(pgdat->kswapd_order)) WRITE_ONCE(pgdat->kswapd_order, int(order));
  __atomic_store_n(&pgdat->kswapd_wanted, true, __ATOMIC_RELEASE);
}

static unsigned long node_free_pages(const pglist_data *pgdat) {
  unsigned long n = 0;
  for (const zone &z : pgdat->node_zones) n += static_cast<unsigned long>(zone_page_state_snapshot(&z, NR_FREE_PAGES));
  return n;
}

// Basic algorithm (Linux's balance_pgdat): from the lowest reclaim priority
// upwards, ask the shrinkers for a little more each round, checking before
// every batch whether the node is balanced again; stop there, or after
// priority 0 (every object asked for).
unsigned long kswapd_run_node(mem_system &ms, pglist_data *pgdat) {
  if (!__atomic_load_n(&pgdat->kswapd_wanted, __ATOMIC_ACQUIRE)) return 0;
  unsigned long before = node_free_pages(pgdat);
  int classzone = pgdat->kswapd_highest_zoneidx;
  auto balanced = [&](unsigned long) { return pgdat_balanced(pgdat, 0, classzone); };
  for (int priority = DEF_PRIORITY; priority >= 0; priority--) {
    drain_all_pages(ms);  // pages on per-CPU lists do not count as free
    if (balanced(0)) break;
    shrink_slab_at(ms, GFP_KERNEL, pgdat->node_id, priority, balanced);
  }
  __atomic_store_n(&pgdat->kswapd_wanted, false, __ATOMIC_RELEASE);
  // Balanced for order 0: what a high-order request needs beyond that is
  // compaction's. As kswapd goes to sleep, the skip hints are stale (Linux's
  // kswapd_try_to_sleep resets them), and kcompactd takes over.
  int order = __atomic_exchange_n(&pgdat->kswapd_order, 0, __ATOMIC_ACQ_REL);
  if (order > 0) {
    for_each_zone_of(pgdat, z) __atomic_store_n(&z->compact_blockskip_flush, true, __ATOMIC_RELAXED);
    wakeup_kcompactd(pgdat, order, classzone);
  }
  unsigned long after = node_free_pages(pgdat);
  return after > before ? after - before : 0;
}

unsigned long kswapd_run(mem_system &ms) {
  unsigned long total = 0;
  for_each_online_pgdat(ms, pgdat) total += kswapd_run_node(ms, pgdat);
  return total;
}

// Direct reclaim asks for SWAP_CLUSTER_MAX objects, raising the priority
// until it has them. Returns the objects freed (its progress).
unsigned long try_to_free_pages(mem_system &ms, gfp_t gfp, unsigned, int nid) {
  // Linux counts a direct reclaim by the zone the request may go up to. The
  // slow path never gets here with contradictory zone modifiers; another
  // caller's are counted nowhere rather than outside the table.
  const int classzone = gfp_zone(gfp);
  if (classzone != ZONE_INVALID) count_vm_events(ms, vm_event_item(int(ALLOCSTALL_DMA) + classzone), 1);
  unsigned long freed = 0;
  for (int priority = DEF_PRIORITY; priority >= 0 && freed < SWAP_CLUSTER_MAX; priority--)
    freed += shrink_slab_at(ms, gfp, nid, priority,
                            [&](unsigned long now) { return freed + now >= SWAP_CLUSTER_MAX; });
  return freed;
}

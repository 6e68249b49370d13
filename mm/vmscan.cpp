// Reclaim through shrinkers: kswapd's balancing and direct reclaim.
// Lock order: shrinker_lock, then whatever the shrinkers take (zone locks).
#include "mm/vmscan.h"

#include "mm/page_alloc.h"
#include "mm/watermark.h"

constexpr long SHRINK_BATCH = 128;
constexpr int KSWAPD_MAX_ROUNDS = 16;

void register_shrinker(mem_system &ms, shrinker *s) {
  spin_lock_guard g(ms.shrinker_lock);
  list_add_tail(&s->list, &ms.shrinkers);
}

void unregister_shrinker(mem_system &ms, shrinker *s) {
  spin_lock_guard g(ms.shrinker_lock);
  list_del_init(&s->list);
}

unsigned long shrink_slab(mem_system &ms, gfp_t gfp, int nid) {
  unsigned long freed = 0;
  spin_lock_guard g(ms.shrinker_lock);
  list_for_each(pos, &ms.shrinkers) {
    shrinker *s = list_entry(pos, shrinker, list);
    shrink_control sc = {gfp, nid, 0, 0};
    unsigned long count = s->count_objects(s, &sc);
    if (count == 0 || count == SHRINK_EMPTY) continue;
    unsigned long batch = s->batch > 0 ? unsigned(s->batch) : SHRINK_BATCH;
    while (count > 0) {
      sc.nr_to_scan = count < batch ? count : batch;
      sc.nr_scanned = sc.nr_to_scan;
      unsigned long ret = s->scan_objects(s, &sc);
      if (ret == SHRINK_STOP) break;
      freed += ret;
      count -= sc.nr_to_scan;
    }
  }
  return freed;
}

// As Linux: a node is balanced when any zone it could serve the request
// from is above its high watermark (or it has no such zone).
bool pgdat_balanced(const pglist_data *pgdat, unsigned order, int highest_zoneidx) {
  bool any = false;
  for (int i = 0; i <= highest_zoneidx && i < int(MAX_NR_ZONES); i++) {
    const zone *z = &pgdat->node_zones[i];
    if (!managed_zone(z)) continue;
    any = true;
    if (zone_watermark_ok(z, order, high_wmark_pages(z), highest_zoneidx, 0)) return true;
  }
  return !any;
}

void wakeup_kswapd(zone *z, gfp_t, unsigned order, int highest_zoneidx) {
  pglist_data *pgdat = z->zone_pgdat;
  if (pgdat_balanced(pgdat, order, highest_zoneidx)) return;
  if (!pgdat->kswapd_wanted || highest_zoneidx > pgdat->kswapd_highest_zoneidx)
    pgdat->kswapd_highest_zoneidx = highest_zoneidx;
  __atomic_store_n(&pgdat->kswapd_wanted, true, __ATOMIC_RELEASE);
}

static unsigned long node_free_pages(const pglist_data *pgdat) {
  unsigned long n = 0;
  for (const zone &z : pgdat->node_zones) n += static_cast<unsigned long>(zone_page_state(&z, NR_FREE_PAGES));
  return n;
}

unsigned long kswapd_run(mem_system &ms) {
  unsigned long total = 0;
  for_each_online_pgdat(ms, pgdat) {
    if (!__atomic_load_n(&pgdat->kswapd_wanted, __ATOMIC_ACQUIRE)) continue;
    unsigned long before = node_free_pages(pgdat);
    int classzone = pgdat->kswapd_highest_zoneidx;
    for (int round = 0; round < KSWAPD_MAX_ROUNDS; round++) {
      drain_all_pages(ms);
      if (pgdat_balanced(pgdat, 0, classzone)) break;
      if (shrink_slab(ms, GFP_KERNEL, pgdat->node_id) == 0) break;  // nothing more to give
    }
    __atomic_store_n(&pgdat->kswapd_wanted, false, __ATOMIC_RELEASE);
    unsigned long after = node_free_pages(pgdat);
    if (after > before) total += after - before;
  }
  return total;
}

unsigned long try_to_free_pages(mem_system &ms, gfp_t gfp, unsigned, int nid) {
  return shrink_slab(ms, gfp, nid);
}

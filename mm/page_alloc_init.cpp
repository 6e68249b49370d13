// Building a mem_system at boot (or in a host test) from memblock: nodes,
// zones, mem_maps, then every free memblock range into the buddy lists
// (Linux's free_area_init and memblock_free_all).
#include "kernel/errno.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "mm/kasan.h"
#include "mm/memblock.h"
#include "mm/page_alloc.h"
#include "mm/page_alloc_internal.h"
#include "mm/watermark.h"

mem_system *system_mem;

static int validate_layout(const mem_layout &l) {
  if (l.nr_cpus < 1 || l.nr_cpus > NR_CPUS) {
    pr_err("mem_system_init: %u CPUs (1..%u supported)\n", l.nr_cpus, NR_CPUS);
    return -EINVAL;
  }
  for (int z = 1; z < int(MAX_NR_ZONES); z++)
    if (l.max_zone_pfn[z] < l.max_zone_pfn[z - 1]) {
      pr_err("mem_system_init: zone %s ends below zone %s\n", zone_names[z], zone_names[z - 1]);
      return -EINVAL;
    }
  for (unsigned c = 0; c < l.nr_cpus; c++)
    if (l.cpu_to_node[c] < 0 || l.cpu_to_node[c] >= int(MAX_NUMNODES)) {
      pr_err("mem_system_init: CPU %u on node %d\n", c, l.cpu_to_node[c]);
      return -EINVAL;
    }
  // Linux's rule for a distance table (of_numa_parse_distance_map_v1): a
  // node is LOCAL_DISTANCE from itself and farther from every other node;
  // 0 asks for the default.
  for (unsigned a = 0; a < MAX_NUMNODES; a++)
    for (unsigned b = 0; b < MAX_NUMNODES; b++) {
      const unsigned d = l.node_distance[a][b];
      if (d && (a == b ? d != LOCAL_DISTANCE : d <= LOCAL_DISTANCE)) {
        pr_err("mem_system_init: distance %u from node %u to node %u (%s)\n", d, a, b,
               a == b ? "a node is 10 from itself" : "another node is farther than 10");
        return -EINVAL;
      }
    }
  return 0;
}

// Allocates zeroed boot memory, on the node if it can: whole pages, or
// (small) words at word alignment.
static void *boot_alloc(memblock &mb, u64 size, int nid, phys_addr_t align = PAGE_SIZE) {
  phys_addr_t pa = memblock_phys_alloc_try_nid(mb, ALIGN_UP(size, align), align, nid);
  if (!pa) return nullptr;
  void *va = phys_to_virt(pa);
  memset(va, 0, size);
  return va;
}

static void init_zone(mem_system &ms, pglist_data *pgdat, zone_type idx, const memblock &mb) {
  zone *z = &pgdat->node_zones[idx];
  unsigned long lo = idx == 0 ? 0 : ms.max_zone_pfn[idx - 1];
  unsigned long hi = ms.max_zone_pfn[idx];
  unsigned long start = pgdat->node_start_pfn > lo ? pgdat->node_start_pfn : lo;
  unsigned long end = pgdat_end_pfn(pgdat) < hi ? pgdat_end_pfn(pgdat) : hi;
  z->idx = idx;
  z->name = zone_names[idx];
  z->zone_pgdat = pgdat;
  spin_lock_init(&z->lock);
  spin_lock_init(&z->compact_lock);
  z->compact_order_failed = int(MAX_PAGE_ORDER) + 1;  // nothing deferred yet
  for (free_area &fa : z->free_area) {
    for (list_head &l : fa.free_list) INIT_LIST_HEAD(&l);
    fa.nr_free = 0;
  }
  for (per_cpu_pages &pcp : z->pcp) {
    spin_lock_init(&pcp.lock);
    pcp.owner = z;
    for (list_head &l : pcp.lists) INIT_LIST_HEAD(&l);
    // batch and high come from init_per_zone_wmark_min, before any allocation.
  }
  if (start >= end) return;  // an empty zone: no pages, no span
  z->zone_start_pfn = start;
  z->spanned_pages = end - start;
  z->zone_mem_map = pgdat->node_mem_map + (start - pgdat->node_start_pfn);
  // Another node's memory lies outside this node's span (mem_system_init
  // refuses overlaps), so the clipping below drops it.
  for_each_mem_range(mb, [&](phys_addr_t base, phys_addr_t limit, int) {
    unsigned long s = PFN_UP(base), e = PFN_DOWN(limit);
    if (s < start) s = start;
    if (e > end) e = end;
    if (s < e) z->present_pages += e - s;
  });
  // Every page starts reserved and in use; memblock_free_all frees the rest.
  for (unsigned long pfn = start; pfn < end; pfn++) {
    page *p = z->zone_mem_map + (pfn - start);
    set_page_links(p, idx, pgdat->node_id);
    set_page_flag(p, PG_reserved);
    if (idx == ZONE_HIGHMEM) set_page_flag(p, PG_highmem);
    p->_mapcount = -1;
    set_page_count(p, 1);
  }
}

static int init_node(mem_system &ms, memblock &mb, int nid, unsigned long start, unsigned long end) {
  auto *pgdat = static_cast<pglist_data *>(boot_alloc(mb, sizeof(pglist_data), nid));
  auto *map = static_cast<page *>(boot_alloc(mb, (end - start) * sizeof(page), nid));
  if (!pgdat || !map) {
    pr_err("mem_system_init: no memory for node %d's mem_map (%lu pages)\n", nid, end - start);
    return -ENOMEM;
  }
  pgdat->node_id = nid;
  pgdat->node_start_pfn = start;
  pgdat->node_spanned_pages = end - start;
  pgdat->node_mem_map = map;
  pgdat->ms = &ms;
  ms.node_data[nid] = pgdat;
  return 0;
}

// Each node's pageblock bitmaps, one allocation for all its zones (Linux's
// setup_usemap), and where each zone's pageblock 0 would have its struct page.
static int init_pageblock_flags(memblock &mb, pglist_data *pgdat) {
  unsigned long bytes[MAX_NR_ZONES], total = 0;
  for (int i = 0; i < int(MAX_NR_ZONES); i++) {
    const zone *z = &pgdat->node_zones[i];
    bytes[i] = pageblock_flags_bytes(nr_pageblocks_spanned(z->zone_start_pfn, zone_end_pfn(z)));
    total += bytes[i];
  }
  // An online node has memory, so some zone spans it: total > 0.
  auto *map = static_cast<char *>(boot_alloc(mb, total, pgdat->node_id, sizeof(unsigned long)));
  if (!map) {
    pr_err("mem_system_init: no memory for node %d's pageblock bitmaps (%lu bytes)\n", pgdat->node_id, total);
    return -ENOMEM;
  }
  for (int i = 0; i < int(MAX_NR_ZONES); i++) {
    zone *z = &pgdat->node_zones[i];
    if (!bytes[i]) continue;
    z->pageblock_flags = reinterpret_cast<unsigned long *>(map);
    z->pageblock_base = reinterpret_cast<uintptr_t>(z->zone_mem_map) -
                        (z->zone_start_pfn - pageblock_start_pfn(z->zone_start_pfn)) * sizeof(page);
    map += bytes[i];
  }
  return 0;
}

// Frees [start, end) of one zone into the buddy lists in the largest
// naturally aligned blocks, each to its pageblock's type.
static void free_range_to_zone(zone *z, unsigned long start, unsigned long end) {
  for (unsigned long pfn = start; pfn < end;) {
    unsigned order = pfn ? unsigned(__builtin_ctzl(pfn)) : MAX_PAGE_ORDER;
    if (order > MAX_PAGE_ORDER) order = MAX_PAGE_ORDER;
    while ((1ul << order) > end - pfn) order--;
    for (unsigned long i = 0; i < (1ul << order); i++) {
      page *p = z->zone_mem_map + (pfn + i - z->zone_start_pfn);
      clear_page_flag(p, PG_reserved);
      set_page_count(p, 0);
    }
    z->managed_pages += 1ul << order;
    kasan_poison_pages(z, zone_pfn_to_page(z, pfn), order);
    __free_one_page(z, pfn, order, get_pfnblock_migratetype(z, pfn));
    pfn += 1ul << order;
  }
}

// Calls fn(zone, start, end) for every range of free memblock memory, cut
// at zone boundaries: what memblock_free_all gives the buddy lists.
template <class Fn>
static void for_each_free_zone_range(mem_system &ms, const memblock &mb, Fn &&fn) {
  for_each_free_mem_range(mb, NUMA_NO_NODE, [&](phys_addr_t base, phys_addr_t limit, int nid) {
    unsigned long s = PFN_UP(base), e = PFN_DOWN(limit);
    if (s == 0) s = 1;  // pfn 0 stays reserved, like memblock's first page
    // No whole page: nothing to free, and the range's node may have no
    // pglist_data (none of its memory made a page).
    if (s >= e) return;
    pglist_data *pgdat = ms.node_data[nid];
    for_each_zone_of(pgdat, z) {
      unsigned long zs = s > z->zone_start_pfn ? s : z->zone_start_pfn;
      unsigned long ze = e < zone_end_pfn(z) ? e : zone_end_pfn(z);
      if (zs < ze) fn(z, zs, ze);
    }
  });
}

static void memblock_free_all(mem_system &ms, const memblock &mb) {
  for_each_free_zone_range(ms, mb, [](zone *z, unsigned long s, unsigned long e) { free_range_to_zone(z, s, e); });
}

// Linux's find_next_best_node: the local node first, then the nearest node
// with memory not used yet. Ties between equal distances go, in this order,
// to a node above `local` rather than below ("prefer the next node"), to a
// node without CPUs, to the node that headed a distance group in fewer
// zonelists built so far (node_load, which spreads the first fallback of
// equidistant nodes round-robin), and to the lowest id. As in Linux, the
// first two tie-breaks are added to the distance itself, so a node below at
// distance d weighs the same as one above at d + 1.
static int find_next_best_node(const mem_system &ms, int local, bool used[], const unsigned node_load[]) {
  if (!used[local]) {
    used[local] = true;
    return local;
  }
  int best = -1;
  unsigned long min_val = ~0ul;
  for (int n = 0; n < int(MAX_NUMNODES); n++) {
    if (!ms.node_data[n] || used[n]) continue;
    unsigned long val = ms.node_distance[local][n] + (n < local);
    for (unsigned c = 0; c < ms.nr_cpus; c++)
      if (ms.cpu_to_node[c] == n) {
        val += 1;  // PENALTY_FOR_NODE_WITH_CPUS
        break;
      }
    val = val * MAX_NUMNODES + node_load[n];
    if (val < min_val) min_val = val, best = n;
  }
  if (best >= 0) used[best] = true;
  return best;
}

// Own node's zones high to low, then the other nodes' in find_next_best_node's
// order. node_load carries over from the nodes built before (Linux's static
// node_load[], cleared once per build_all_zonelists).
static void build_zonelists(mem_system &ms, pglist_data *pgdat, unsigned node_load[]) {
  bool used[MAX_NUMNODES] = {};
  const int local = pgdat->node_id;
  int prev = local, node;
  size_t n = 0;
  while ((node = find_next_best_node(ms, local, used, node_load)) >= 0) {
    // The first node of each new distance group carries a load, so that the
    // next zonelist with an equal choice picks another.
    if (ms.node_distance[local][node] != ms.node_distance[local][prev]) node_load[node]++;
    prev = node;
    for (int z = int(MAX_NR_ZONES) - 1; z >= 0; z--) {
      zone *zz = &ms.node_data[node]->node_zones[z];
      if (managed_zone(zz)) pgdat->zonelist[n++] = zz;
    }
  }
  pgdat->zonelist[n] = nullptr;
  for (int classzone = 0; classzone < int(MAX_NR_ZONES); classzone++) {
    pgdat->preferred_zone[classzone] = nullptr;
    for (zone **zp = pgdat->zonelist; *zp; zp++)
      if ((*zp)->idx <= classzone) {
        pgdat->preferred_zone[classzone] = *zp;
        break;
      }
  }
}

unsigned zonelist_node_order(const pglist_data *pgdat, int order[MAX_NUMNODES]) {
  unsigned n = 0;
  // A node's zones are consecutive in the list.
  for (zone *const *z = pgdat->zonelist; *z; z++)
    if (n == 0 || order[n - 1] != (*z)->zone_pgdat->node_id) order[n++] = (*z)->zone_pgdat->node_id;
  return n;
}

// Each CPU's routes to its per-CPU lists: for allocation, the preferred zone
// of every combination of zone flags on the CPU's node; for freeing, every
// zone. CPUs the layout does not have use CPU 0's lists.
static void build_pcp_routes(mem_system &ms) {
  for (unsigned c = 0; c < NR_CPUS; c++) {
    unsigned lists = c < ms.nr_cpus ? c : 0;
    const pglist_data *local = ms.node_data[ms.cpu_to_node[lists]];
    for (gfp_t route_flags = 0; route_flags <= GFP_ROUTE_MASK; route_flags++) {
      zone_type classzone = gfp_zone(route_flags);
      int mt = gfp_to_migratetype(ms, route_flags);
      zone *z = classzone == ZONE_INVALID || mt == MIGRATE_TYPE_INVALID ? nullptr : local->preferred_zone[classzone];
      ms.alloc_route[route_flags][c] = {z ? &z->pcp[lists] : nullptr, classzone, mt};
    }
    for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) ms.free_route[zone_id(z)][c] = &z->pcp[lists];
  }
}

// pfn_to_page's table (mm/mmzone.h).
static void build_section_table(mem_system &ms) {
  for (unsigned sec = 0; sec < NR_MEM_SECTIONS; sec++) ms.mem_sections[sec] = mem_section_of(ms, sec);
}

int mem_system_init(mem_system *msp, memblock &mb, const mem_layout &layout) {
  mem_system &ms = *msp;
  if (int err = validate_layout(layout)) return err;
  // In place: mem_system is several KiB, too big for a temporary on a boot stack.
  memset(static_cast<void *>(&ms), 0, sizeof(ms));
  ms.fail_page_alloc = fail_page_alloc_attr{};  // Linux's defaults, not zeros
  ms.nr_cpus = layout.nr_cpus;
  // A CPU the layout does not have is taken for CPU 0 (build_pcp_routes), on its node.
  for (unsigned c = 0; c < NR_CPUS; c++) ms.cpu_to_node[c] = layout.cpu_to_node[c < layout.nr_cpus ? c : 0];
  for (int z = 0; z < int(MAX_NR_ZONES); z++) ms.max_zone_pfn[z] = layout.max_zone_pfn[z];
  for (unsigned a = 0; a < MAX_NUMNODES; a++)
    for (unsigned b = 0; b < MAX_NUMNODES; b++)
      ms.node_distance[a][b] = layout.node_distance[a][b] ? layout.node_distance[a][b]
                               : a == b                    ? LOCAL_DISTANCE
                                                           : REMOTE_DISTANCE;
  ms.user_min_free_kbytes = layout.min_free_kbytes;
  ms.watermark_scale_factor = 10;
  ms.compaction_proactiveness = 20;
  ms.extfrag_threshold = 500;
  const int ratios[MAX_NR_ZONES] = {256, 256, 32, 0, 0};
  for (int z = 0; z < int(MAX_NR_ZONES); z++) ms.lowmem_reserve_ratio[z] = ratios[z];
  spin_lock_init(&ms.shrinker_lock);
  INIT_LIST_HEAD(&ms.shrinkers);

  // Each node spans from its lowest to its highest memory.
  unsigned long node_start[MAX_NUMNODES], node_end[MAX_NUMNODES];
  for (unsigned n = 0; n < MAX_NUMNODES; n++) node_start[n] = ~0ul, node_end[n] = 0;
  for_each_mem_range(mb, [&](phys_addr_t base, phys_addr_t limit, int nid) {
    unsigned long s = PFN_UP(base), e = PFN_DOWN(limit);
    if (s >= e) return;
    if (s < node_start[nid]) node_start[nid] = s;
    if (e > node_end[nid]) node_end[nid] = e;
  });
  // A node's mem_map covers its whole span, so two spans must not overlap
  // (a pfn between would have two struct pages).
  for (int a = 0; a < int(MAX_NUMNODES); a++)
    for (int b = a + 1; b < int(MAX_NUMNODES); b++)
      if (node_end[a] && node_end[b] && node_start[a] < node_end[b] && node_start[b] < node_end[a]) {
        pr_err("mem_system_init: node %d's memory (pfn %#lx-%#lx) overlaps node %d's (pfn %#lx-%#lx)\n", a,
               node_start[a], node_end[a], b, node_start[b], node_end[b]);
        return -EINVAL;
      }
  bool any = false;
  for (int nid = 0; nid < int(MAX_NUMNODES); nid++) {
    if (node_end[nid] == 0) continue;
    if (node_end[nid] > ms.max_zone_pfn[MAX_NR_ZONES - 1]) {
      pr_err("mem_system_init: node %d's memory ends above the last zone (pfn %#lx)\n", nid, node_end[nid]);
      return -EINVAL;
    }
    if (int err = init_node(ms, mb, nid, node_start[nid], node_end[nid])) return err;
    any = true;
  }
  if (!any) {
    pr_err("mem_system_init: no memory\n");
    return -EINVAL;
  }
  build_section_table(ms);
  // Zones after every node's boot allocations, so that what those took is
  // reserved in memblock and stays PG_reserved.
  for_each_online_pgdat(ms, pgdat) {
    for (int z = 0; z < int(MAX_NR_ZONES); z++) init_zone(ms, pgdat, zone_type(z), mb);
    pgdat->node_present_pages = 0;
    for_each_zone_of(pgdat, z) pgdat->node_present_pages += z->present_pages;
    if (int err = init_pageblock_flags(mb, pgdat)) return err;
    ms.nr_online_nodes++;
  }
  // Whether to group by mobility depends on how much memory the buddy lists
  // will get; every pageblock has its type before the first page is freed.
  unsigned long vm_total_pages = 0;
  for_each_free_zone_range(ms, mb, [&](zone *, unsigned long s, unsigned long e) { vm_total_pages += e - s; });
  init_mobility_grouping(ms, vm_total_pages, layout.grouping == mobility_grouping::off);
  memblock_free_all(ms, mb);
  unsigned node_load[MAX_NUMNODES] = {};
  for_each_online_pgdat(ms, pgdat) {
    build_zonelists(ms, pgdat, node_load);
    for_each_zone_of(pgdat, z) ms.totalram_pages += z->managed_pages;
  }
  // CPUs on nodes without memory allocate from the nearest node that has some.
  for (unsigned c = 0; c < ms.nr_cpus; c++) {
    ms.cpu_to_node[c] = nearest_memory_node(ms, ms.cpu_to_node[c]);
    ms.node_data[ms.cpu_to_node[c]]->nr_cpus++;
  }
  build_pcp_routes(ms);
  init_per_zone_wmark_min(ms);
  return 0;
}

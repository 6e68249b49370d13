// /proc/buddyinfo, /proc/zoneinfo, /proc/meminfo and /proc/vmstat for the page allocator.
//
// The text follows Linux 6.6 (mm/vmstat.c, fs/proc/meminfo.c) to the space,
// so that scripts written for Linux parse it: 6.6 is the last kernel whose
// pagesets show count/high/batch only, which is what our static pcp rule has
// (6.7 added high_min/high_max with auto-tuning). Lines for subsystems we do
// not have are left out rather than faked, except where "none" is the truth
// (no swap, no page cache: 0 kB); each omission is marked where it would go.
//
// Every zone's numbers are copied under its lock and printed afterwards, so a
// line is consistent and no console output happens with a zone lock held.
//
// Counters are printed exact: the snapshot (total plus every CPU's delta,
// mm/vmstat.h), where Linux prints the totals alone and so may be off by up
// to the threshold per CPU. Scripts and the tests compare these reports
// with what they allocated, and a reader cannot fold other CPUs' deltas
// (Linux's vm.stat_refresh runs work on every CPU for that), while the
// snapshot is a few loads per counter.
#include "mm/page_report.h"

#include "kernel/spinlock.h"
#include "mm/mmzone.h"
#include "mm/page_alloc.h"
#include "mm/vmalloc.h"

// Linux's /proc/vmstat names, for the zone counters we keep (the first is
// Linux's own; the others are ours, named in its style).
static const char *const zone_stat_names[NR_VM_ZONE_STAT_ITEMS] = {
    "nr_free_pages",
    "nr_zone_allocated",
    "nr_pcp_pages",
};
static_assert(NR_VM_ZONE_STAT_ITEMS == 3, "name every zone_stat_item in zone_stat_names");

// Counters are printed as Linux's zone_page_state reads them: never below 0.
static unsigned long stat_pages(long v) { return v < 0 ? 0 : static_cast<unsigned long>(v); }

// ---- buddyinfo ------------------------------------------------------------------------

void show_buddyinfo_zone(int nid, zone *z, seq_out &out) {
  unsigned long nr_free[NR_PAGE_ORDERS];
  {
    spin_lock_irqsave_guard g(z->lock);
    for (unsigned order = 0; order < NR_PAGE_ORDERS; order++) nr_free[order] = z->free_area[order].nr_free;
  }
  seq_printf(out, "Node %d, zone %8s ", nid, z->name);
  for (unsigned long n : nr_free) seq_printf(out, "%6lu ", n);
  seq_puts(out, "\n");
}

void show_buddyinfo(const mem_system &ms, seq_out &out) {
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) {
    if (!populated_zone(z)) continue;  // Linux lists populated zones only
    show_buddyinfo_zone(pgdat->node_id, z, out);
  }
}

// ---- zoneinfo -------------------------------------------------------------------------

static void zoneinfo_show_pagesets(const mem_system &ms, const zone *z, seq_out &out) {
  seq_puts(out, "\n  pagesets");
  for (unsigned cpu = 0; cpu < ms.nr_cpus; cpu++) {
    const per_cpu_pages *pcp = &z->pcp[cpu];
    // Read without the pcp lock, as Linux does: each value is a snapshot, and
    // taking another CPU's pcp lock here could wait on that CPU for nothing.
    seq_printf(out,
               "\n    cpu: %u"
               "\n              count: %d"
               "\n              high:  %d"
               "\n              batch: %d",
               cpu, __atomic_load_n(&pcp->count, __ATOMIC_RELAXED),
               __atomic_load_n(&pcp->high, __ATOMIC_RELAXED),
               __atomic_load_n(&pcp->batch, __ATOMIC_RELAXED));
    seq_printf(out, "\n  vm stats threshold: %d",
               int(__atomic_load_n(&z->per_cpu_zonestats[cpu].stat_threshold, __ATOMIC_RELAXED)));
  }
}

static void zoneinfo_show_zone(const mem_system &ms, const pglist_data *pgdat, zone *z,
                               seq_out &out) {
  long stat[NR_VM_ZONE_STAT_ITEMS];
  {
    spin_lock_irqsave_guard g(z->lock);
    for (int i = 0; i < int(NR_VM_ZONE_STAT_ITEMS); i++)
      stat[i] = zone_page_state_snapshot(z, zone_stat_item(i));
  }
  // Linux prints the node's own counters ("per-node stats") under its first
  // populated zone; they come with the node counters of later issues.
  seq_printf(out, "Node %d, zone %8s", pgdat->node_id, z->name);
  // boost is 0: there is no watermark boosting (no fragmentation events);
  // cma is 0: no CMA area. Linux prints both whatever its configuration.
  seq_printf(out,
             "\n  pages free     %lu"
             "\n        boost    %lu"
             "\n        min      %lu"
             "\n        low      %lu"
             "\n        high     %lu",
             stat_pages(stat[NR_FREE_PAGES]), 0ul, min_wmark_pages(z), low_wmark_pages(z),
             high_wmark_pages(z));
  seq_printf(out,
             "\n        promo    %lu"
             "\n        spanned  %lu"
             "\n        present  %lu"
             "\n        managed  %lu"
             "\n        cma      %lu",
             z->_watermark[WMARK_PROMO], z->spanned_pages, z->present_pages, z->managed_pages, 0ul);
  seq_printf(out, "\n        protection: (%ld", z->lowmem_reserve[0]);
  for (int i = 1; i < int(MAX_NR_ZONES); i++) seq_printf(out, ", %ld", z->lowmem_reserve[i]);
  seq_puts(out, ")");
  if (!populated_zone(z)) {  // as Linux: nothing else is useful for an empty zone
    seq_puts(out, "\n");
    return;
  }
  for (int i = 0; i < int(NR_VM_ZONE_STAT_ITEMS); i++)
    seq_printf(out, "\n      %-12s %lu", zone_stat_names[i], stat_pages(stat[i]));
  // The NUMA event counters (numa_hit, ...) go here when they are kept.
  zoneinfo_show_pagesets(ms, z, out);
  // node_unreclaimable is 0: kswapd never gives a node up here.
  seq_printf(out,
             "\n  node_unreclaimable:  %u"
             "\n  start_pfn:           %lu\n",
             0u, z->zone_start_pfn);
}

void show_zoneinfo(const mem_system &ms, seq_out &out) {
  // Every zone, populated or not: lowmem_reserve (protection) concerns them
  // all, and Linux shows them all for that reason.
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) zoneinfo_show_zone(ms, pgdat, z, out);
}

// ---- meminfo --------------------------------------------------------------------------

// Linux's show_val_kb: a 16-column label, then kB right-aligned in 8 columns.
static void show_val_kb(seq_out &out, const char *label, unsigned long pages) {
  seq_printf(out, "%s%8lu kB\n", label, pages << (PAGE_SHIFT - 10));
}

void show_meminfo(const mem_system &ms, seq_out &out, const vmalloc_system *vs) {
  unsigned long totalhigh = 0, freehigh = 0;
  bool highmem = false;
  for_each_online_pgdat(ms, pgdat) {
    zone *z = &pgdat->node_zones[ZONE_HIGHMEM];
    if (!populated_zone(z)) continue;
    highmem = true;
    totalhigh += z->managed_pages;
    freehigh += stat_pages(zone_page_state_snapshot(z, NR_FREE_PAGES));
  }
  unsigned long totalram = ms.totalram_pages;
  // Pages on the per-CPU lists are not free here, as in Linux (NR_FREE_PAGES).
  unsigned long freeram = nr_free_pages(ms);

  show_val_kb(out, "MemTotal:       ", totalram);
  show_val_kb(out, "MemFree:        ", freeram);
  show_val_kb(out, "MemAvailable:   ", si_mem_available(ms));
  // No page cache, LRU lists or mlock yet: these are truly 0.
  show_val_kb(out, "Buffers:        ", 0);
  show_val_kb(out, "Cached:         ", 0);
  show_val_kb(out, "SwapCached:     ", 0);
  show_val_kb(out, "Active:         ", 0);
  show_val_kb(out, "Inactive:       ", 0);
  show_val_kb(out, "Active(anon):   ", 0);
  show_val_kb(out, "Inactive(anon): ", 0);
  show_val_kb(out, "Active(file):   ", 0);
  show_val_kb(out, "Inactive(file): ", 0);
  show_val_kb(out, "Unevictable:    ", 0);
  show_val_kb(out, "Mlocked:        ", 0);
  // Linux prints these in every CONFIG_HIGHMEM kernel; a riscv64 kernel has
  // none, so they appear only when a (host) layout gives HighMem memory.
  if (highmem) {
    show_val_kb(out, "HighTotal:      ", totalhigh);
    show_val_kb(out, "HighFree:       ", freehigh);
    show_val_kb(out, "LowTotal:       ", totalram - totalhigh);
    show_val_kb(out, "LowFree:        ", freeram - freehigh);
  }
  show_val_kb(out, "SwapTotal:      ", 0);  // no swap
  show_val_kb(out, "SwapFree:       ", 0);
  show_val_kb(out, "Dirty:          ", 0);
  show_val_kb(out, "Writeback:      ", 0);
  show_val_kb(out, "AnonPages:      ", 0);
  show_val_kb(out, "Mapped:         ", 0);
  show_val_kb(out, "Shmem:          ", 0);
  // KReclaimable is reclaimable slab plus other reclaimable kernel memory
  // (none here).
  unsigned long sreclaimable = global_node_page_state_snapshot(ms, NR_SLAB_RECLAIMABLE);
  unsigned long sunreclaim = global_node_page_state_snapshot(ms, NR_SLAB_UNRECLAIMABLE);
  show_val_kb(out, "KReclaimable:   ", sreclaimable);
  show_val_kb(out, "Slab:           ", sreclaimable + sunreclaim);
  show_val_kb(out, "SReclaimable:   ", sreclaimable);
  show_val_kb(out, "SUnreclaim:     ", sunreclaim);
  // KernelStack, PageTables, SecPageTables: when those pages are counted.
  show_val_kb(out, "NFS_Unstable:   ", 0);  // Linux prints a constant 0 since 5.8
  show_val_kb(out, "Bounce:         ", 0);
  show_val_kb(out, "WritebackTmp:   ", 0);
  // CommitLimit, Committed_AS: with user address spaces (overcommit accounting).
  if (vs) {
    show_val_kb(out, "VmallocTotal:   ", vmalloc_total_pages(*vs));
    show_val_kb(out, "VmallocUsed:    ", vmalloc_used_pages(*vs));
    // Linux stopped computing the largest free chunk in 5.3 (the walk was
    // too costly for /proc/meminfo readers) and prints a constant 0.
    show_val_kb(out, "VmallocChunk:   ", 0);
  }
  // Percpu, HardwareCorrupted, DirectMap*: when those are counted.
}

// ---- vmstat ---------------------------------------------------------------------------

// Linux's vmstat_text names of the counters we keep, each list in the
// enum's order (which is Linux's order within its part of the file).
static const char *const node_stat_names[NR_VM_NODE_STAT_ITEMS] = {
    "nr_slab_reclaimable_b",  // printed in pages, as Linux prints its _b counters
    "nr_slab_unreclaimable_b",
};
static_assert(NR_VM_NODE_STAT_ITEMS == 2, "name every node_stat_item in node_stat_names");
// TEXTS_FOR_ZONES("pgalloc"): one per kind of zone the kernel has.
static const char *const pgalloc_names[MAX_NR_ZONES] = {
    "pgalloc_dma", "pgalloc_dma32", "pgalloc_normal", "pgalloc_high", "pgalloc_movable",
};
static const char *const vm_event_names[NR_VM_EVENT_ITEMS] = {
    "allocstall_dma", "allocstall_dma32", "allocstall_normal", "allocstall_high", "allocstall_movable",
    "pgmigrate_success",
    "pgmigrate_fail",
    "compact_migrate_scanned",
    "compact_free_scanned",
    "compact_isolated",
    "compact_stall",
    "compact_fail",
    "compact_success",
    "compact_daemon_wake",
    "compact_daemon_migrate_scanned",
    "compact_daemon_free_scanned",
};
static_assert(NR_VM_EVENT_ITEMS == 16, "name every vm_event_item in vm_event_names");

// Linux's /proc/vmstat parts in its order: zone counters, node counters,
// then the events (pgalloc and allocstall per kind of zone, pgfree,
// migration, compaction). Every value is summed over every zone or node; Linux's
// parts we do not keep (numa_*, nr_dirty_threshold, pgpgin, ...) are left
// out. Counters are read without locks, as Linux reads them.
void show_vmstat(const mem_system &ms, seq_out &out) {
  long zone_stat[NR_VM_ZONE_STAT_ITEMS] = {};
  unsigned long pgalloc[MAX_NR_ZONES] = {}, pgfree = 0;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) {
    for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++) zone_stat[i] += zone_page_state_snapshot(z, zone_stat_item(i));
    pgalloc[z->idx] += zone_events(z, PGALLOC);
    pgfree += zone_events(z, PGFREE);
  }
  for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++)
    seq_printf(out, "%s %lu\n", zone_stat_names[i], stat_pages(zone_stat[i]));
  for (unsigned i = 0; i < NR_VM_NODE_STAT_ITEMS; i++)
    seq_printf(out, "%s %lu\n", node_stat_names[i], global_node_page_state_snapshot(ms, node_stat_item(i)));
  for (unsigned i = 0; i < MAX_NR_ZONES; i++) seq_printf(out, "%s %lu\n", pgalloc_names[i], pgalloc[i]);
  auto show_events = [&](unsigned from, unsigned to) {
    for (unsigned i = from; i < to; i++) seq_printf(out, "%s %lu\n", vm_event_names[i], vm_event(ms, vm_event_item(i)));
  };
  show_events(ALLOCSTALL_DMA, ALLOCSTALL_MOVABLE + 1);
  seq_printf(out, "pgfree %lu\n", pgfree);
  show_events(PGMIGRATE_SUCCESS, NR_VM_EVENT_ITEMS);
}

// The reports that show fragmentation, in Linux's formats (mm/vmstat.c,
// 6.6): /proc/pagetypeinfo, and debugfs's extfrag/unusable_index and
// extfrag/extfrag_index. As Linux, each node's report is printed on its own
// (pagetypeinfo's header lines come once per node), for populated zones
// only, each zone read under its lock.
#include "kernel/spinlock.h"
#include "mm/mmzone.h"
#include "mm/page_report.h"

// ---- pagetypeinfo ---------------------------------------------------------------------

// Linux stops counting a list here: the count is for a human, and the zone
// lock is held meanwhile. A count that reached it prints as ">100000".
constexpr unsigned long PAGETYPEINFO_FREECOUNT_CAP = 100000;

static void pagetypeinfo_showfree(pglist_data *pgdat, seq_out &out) {
  seq_printf(out, "%-43s ", "Free pages count per migrate type at order");
  for (unsigned order = 0; order < NR_PAGE_ORDERS; order++) seq_printf(out, "%6u ", order);
  seq_puts(out, "\n");
  for_each_zone_of(pgdat, z) {
    if (!populated_zone(z)) continue;
    unsigned long count[MIGRATE_TYPES][NR_PAGE_ORDERS];
    {
      spin_lock_irqsave_guard g(z->lock);
      for (unsigned mt = 0; mt < MIGRATE_TYPES; mt++)
        for (unsigned order = 0; order < NR_PAGE_ORDERS; order++) {
          unsigned long n = 0;
          const list_head *head = &z->free_area[order].free_list[mt];
          for (const list_head *e = head->next; e != head && n < PAGETYPEINFO_FREECOUNT_CAP; e = e->next) n++;
          count[mt][order] = n;
        }
    }
    for (unsigned mt = 0; mt < MIGRATE_TYPES; mt++) {
      seq_printf(out, "Node %4d, zone %8s, type %12s ", pgdat->node_id, z->name, migratetype_names[mt]);
      for (unsigned long n : count[mt]) seq_printf(out, "%s%6lu ", n >= PAGETYPEINFO_FREECOUNT_CAP ? ">" : "", n);
      seq_puts(out, "\n");
    }
  }
}

void count_pageblock_types(const zone *z, unsigned long count[MIGRATE_TYPES]) {
  for (unsigned mt = 0; mt < MIGRATE_TYPES; mt++) count[mt] = 0;
  // Linux's walk, which steps a pageblock at a time from the zone's first
  // pfn: a zone that starts inside a pageblock and ends inside another may
  // leave its last one uncounted, and the report says the same.
  for (unsigned long pfn = z->zone_start_pfn; pfn < zone_end_pfn(z); pfn += pageblock_nr_pages) {
    int mt = get_pfnblock_migratetype(z, pfn);
    if (mt < int(MIGRATE_TYPES)) count[mt]++;
  }
}

static void pagetypeinfo_showblockcount(pglist_data *pgdat, seq_out &out) {
  seq_printf(out, "\n%-23s", "Number of blocks type ");
  for (const char *name : migratetype_names) seq_printf(out, "%12s ", name);
  seq_puts(out, "\n");
  for_each_zone_of(pgdat, z) {
    if (!populated_zone(z)) continue;
    unsigned long count[MIGRATE_TYPES];
    {
      spin_lock_irqsave_guard g(z->lock);
      count_pageblock_types(z, count);
    }
    seq_printf(out, "Node %d, zone %8s ", pgdat->node_id, z->name);
    for (unsigned long n : count) seq_printf(out, "%12lu ", n);
    seq_puts(out, "\n");
  }
  // "Number of mixed blocks" follows in Linux only with CONFIG_PAGE_OWNER,
  // which records who allocated each page: not kept here.
}

void show_pagetypeinfo(const mem_system &ms, seq_out &out) {
  for_each_online_pgdat(ms, pgdat) {
    seq_printf(out, "Page block order: %u\n", pageblock_order);
    seq_printf(out, "Pages per block:  %lu\n", pageblock_nr_pages);
    seq_puts(out, "\n");
    pagetypeinfo_showfree(pgdat, out);
    pagetypeinfo_showblockcount(pgdat, out);
  }
}

// ---- extfrag ----------------------------------------------------------------------------

void fill_contig_page_info(const zone *z, unsigned suitable_order, contig_page_info *info) {
  *info = {};
  for (unsigned order = 0; order < NR_PAGE_ORDERS; order++) {
    // Lockless, as Linux: the numbers are for a report or a heuristic.
    unsigned long blocks = READ_ONCE(z->free_area[order].nr_free);
    info->free_blocks_total += blocks;
    info->free_pages += blocks << order;
    if (order >= suitable_order) info->free_blocks_suitable += blocks << (order - suitable_order);
  }
}

int unusable_free_index(unsigned order, const contig_page_info &info) {
  // No free memory at all: all of it (none) is unusable.
  if (info.free_pages == 0) return 1000;
  return int((info.free_pages - (info.free_blocks_suitable << order)) * 1000 / info.free_pages);
}

int __fragmentation_index(unsigned order, const contig_page_info &info) {
  if (order > MAX_PAGE_ORDER || !info.free_blocks_total) return 0;
  // The index says why a request would fail; it would not.
  if (info.free_blocks_suitable) return -1000;
  unsigned long requested = 1ul << order;
  return int(1000 - (1000 + info.free_pages * 1000 / requested) / info.free_blocks_total);
}

int fragmentation_index(const zone *z, unsigned order) {
  contig_page_info info;
  fill_contig_page_info(z, order, &info);
  return __fragmentation_index(order, info);
}

// Prints one index per order for each populated zone of each node, as
// "%d.%03d" of thousandths; fmt gives the integer part's width.
static void show_index(const mem_system &ms, seq_out &out, int (*index)(unsigned, const contig_page_info &),
                       const char *fmt) {
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) {
    if (!populated_zone(z)) continue;
    int idx[NR_PAGE_ORDERS];
    {
      spin_lock_irqsave_guard g(z->lock);
      for (unsigned order = 0; order < NR_PAGE_ORDERS; order++) {
        contig_page_info info;
        fill_contig_page_info(z, order, &info);
        idx[order] = index(order, info);
      }
    }
    seq_printf(out, "Node %d, zone %8s ", pgdat->node_id, z->name);
    // As Linux prints it: -1000 as "-1.000", and a negative index above -1000
    // (one block, of a pageblock, with the next order asked) as "0.-500".
    for (int i : idx) seq_printf(out, fmt, i / 1000, i % 1000);
    seq_puts(out, "\n");
  }
}

void show_unusable_index(const mem_system &ms, seq_out &out) { show_index(ms, out, unusable_free_index, "%d.%03d "); }

void show_extfrag_index(const mem_system &ms, seq_out &out) { show_index(ms, out, __fragmentation_index, "%2d.%03d "); }

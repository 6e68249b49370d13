// Nodes and zones: how physical memory is organised for the page allocator
// (Linux's include/linux/mmzone.h, written fresh).
//
//   mem_system     one machine's memory: its nodes, the zone boundary table,
//                  the tunables (min_free_kbytes, ...) and the shrinkers. The
//                  kernel owns one; host tests build as many as they like.
//   pglist_data    a NUMA node: its mem_map (a struct page per frame from
//                  node_start_pfn) and its zones.
//   zone           a range of the node's frames with its own free lists,
//                  watermarks, lowmem_reserve, per-CPU lists and counters.
//
// Invariants (checked by mm/check):
//   - a free block of order k sits on free_area[k] of its zone, is 2^k-aligned
//     in pfn, lies inside the zone, and has PG_buddy and private_ == k on its
//     first page only; its buddy of the same order is never free too (merging
//     is complete), unless the two lie in pageblocks of different types and
//     one of those types is HIGHATOMIC or ISOLATE (which never merge across);
//   - the list a free block sits on, free_list[t], is that of the migrate
//     type t of every pageblock the block covers (no exception, not even
//     transiently: stealing, reserving and isolating move the free blocks
//     of a pageblock together with its type, as Linux 6.10+ does);
//   - free_area[k].nr_free equals the length of its lists of every type;
//   - counters are kept as Linux's vmstat keeps them (mm/vmstat.h): an
//     atomic total in vm_stat[] plus a signed per-CPU delta in
//     per_cpu_zonestats[cpu].vm_stat_diff[] (per_cpu_nodestats for a node),
//     so only their sum, zone_page_state_snapshot(), is exact; the total
//     alone (zone_page_state) lags it by at most stat_threshold per CPU;
//   - the snapshot of NR_FREE_PAGES equals the pages on the buddy lists of
//     every type but ISOLATE (pages on per-CPU lists are not free for the
//     watermarks, as in Linux, nor are isolated ones), and each pcp.count
//     equals the pages on its lists;
//   - every per-CPU delta lies within [-stat_threshold, stat_threshold], and
//     stat_threshold is calculate_normal_threshold(zone) on every CPU (a
//     node's is the largest of its populated zones');
//   - percpu_drift_mark is high + threshold * online CPUs when that drift
//     exceeds low - min, and 0 otherwise;
//   - no per-CPU list holds a page of an ISOLATE pageblock, and no page of
//     one is ever handed out;
//   - nr_reserved_highatomic = HIGHATOMIC pageblocks * pageblock_nr_pages;
//   - managed_pages = free + isolated + per-CPU + allocated pages of the zone.
#pragma once

#include "kernel/cache.h"
#include "kernel/cpumask.h"
#include "kernel/list.h"
#include "kernel/numa.h"
#include "kernel/spinlock.h"
#include "kernel/types.h"
#include "mm/fault_inject.h"
#include "mm/gfp.h"
#include "mm/page.h"
#include "mm/pageblock_flags.h"
#include "mm/zone_type.h"

constexpr unsigned MAX_PAGE_ORDER = 10;  // 4 MiB blocks with 4 KiB pages
constexpr unsigned NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1;
constexpr unsigned PAGE_ALLOC_COSTLY_ORDER = 3;
constexpr unsigned NR_PCP_ORDERS = PAGE_ALLOC_COSTLY_ORDER + 1;  // orders kept on per-CPU lists

// Migrate types (Linux's enum migratetype, with memory isolation and without
// CMA): how the pages of a pageblock can be given back. Requests of one type
// take from pageblocks of that type and fall back to others only when those
// are empty (mm/page_alloc.h), so that unmovable pages stay together and
// movable ones leave whole pageblocks free when they go.
enum migratetype : int {
  MIGRATE_UNMOVABLE,    // kernel memory that stays where it is
  MIGRATE_MOVABLE,      // could be migrated (user pages in Linux; every pageblock at boot)
  MIGRATE_RECLAIMABLE,  // a shrinker can free it (SLAB_RECLAIM_ACCOUNT slabs)
  MIGRATE_PCPTYPES,     // the types above have per-CPU lists
  MIGRATE_HIGHATOMIC = MIGRATE_PCPTYPES,  // reserved for high-order atomic requests
  MIGRATE_ISOLATE,      // taken out of use (page isolation): never handed out
  MIGRATE_TYPES,
};
static_assert(MIGRATE_TYPES <= (1 << PB_migratetype_bits), "a migrate type fits its pageblock bits");
extern const char *const migratetype_names[MIGRATE_TYPES];  // "Unmovable", ... as /proc/pagetypeinfo

// Types whose free blocks may merge with a buddy of another type (Linux's
// migratetype_is_mergeable): a HIGHATOMIC or ISOLATE pageblock keeps its
// free pages to itself, so its accounting stays right.
constexpr bool migratetype_is_mergeable(int mt) { return mt < MIGRATE_PCPTYPES; }

// The per-CPU lists: one per type of the first three and order up to
// PAGE_ALLOC_COSTLY_ORDER, at this index (Linux's order_to_pindex).
constexpr unsigned NR_PCP_LISTS = MIGRATE_PCPTYPES * NR_PCP_ORDERS;
constexpr unsigned order_to_pindex(int migratetype, unsigned order) {
  return MIGRATE_PCPTYPES * order + unsigned(migratetype);
}

enum zone_watermarks { WMARK_MIN, WMARK_LOW, WMARK_HIGH, WMARK_PROMO, NR_WMARK };

// Per-zone counters (Linux's vm_stat items and vm events that matter here),
// kept as a total plus per-CPU deltas (mm/vmstat.h). NR_FREE_PAGES changes
// only under the zone lock; the buddy paths' share of the other two likewise;
// the per-CPU lists' share is per_cpu_pages::count, ::pgalloc and ::pgfree
// (under the pcp lock), so that the allocation fast path does no atomic
// arithmetic. Read them with zone_page_state() (the total, as the allocator
// decides) or zone_page_state_snapshot() (exact), which add the parts up.
enum zone_stat_item {
  NR_FREE_PAGES,      // pages on the buddy lists
  NR_ZONE_ALLOCATED,  // pages handed out and not yet freed
  NR_PCP_PAGES,       // pages on the per-CPU lists of every CPU
  NR_VM_ZONE_STAT_ITEMS,
};
// Per-node counters (Linux's node_stat_item, in pages): memory that is not
// the page allocator's own but that reports and MemAvailable need.
enum node_stat_item {
  NR_SLAB_RECLAIMABLE,    // slab pages of SLAB_RECLAIM_ACCOUNT caches
  NR_SLAB_UNRECLAIMABLE,  // other slab pages
  NR_VM_NODE_STAT_ITEMS,
};

enum zone_event_item {
  PGALLOC,         // successful allocations (pages)
  PGFREE,          // frees (pages)
  PGALLOC_FAIL,    // attempts that passed this zone's watermark and found no block
  PGBAD,           // bad-page reports about this zone's pages
  NR_ZONE_EVENTS,
};

// Machine-wide events of /proc/vmstat that are not per zone (Linux's
// vm_event_item: direct reclaim, compaction and migration), atomic adds in
// mem_system::vm_events.
enum vm_event_item {
  ALLOCSTALL_DMA,              // direct reclaims, by the request's highest zone (ALLOCSTALL_DMA + zone)
  ALLOCSTALL_DMA32,
  ALLOCSTALL_NORMAL,
  ALLOCSTALL_HIGHMEM,
  ALLOCSTALL_MOVABLE,
  PGMIGRATE_SUCCESS,           // pages migrated
  PGMIGRATE_FAIL,              // pages that could not be
  COMPACTMIGRATE_SCANNED,      // pages the migration scanner looked at
  COMPACTFREE_SCANNED,         // pages the free scanner looked at
  COMPACTISOLATED,             // pages isolated by either scanner
  COMPACTSTALL,                // direct compactions (an allocation waited for one)
  COMPACTFAIL,                 // ... after which the allocation still failed
  COMPACTSUCCESS,              // ... after which it succeeded
  KCOMPACTD_WAKE,              // kcompactd runs
  KCOMPACTD_MIGRATE_SCANNED,   // the migration scanner's pages in kcompactd
  KCOMPACTD_FREE_SCANNED,      // the free scanner's pages in kcompactd
  NR_VM_EVENT_ITEMS,
};

struct free_area {
  list_head free_list[MIGRATE_TYPES];  // by the migrate type of the blocks' pageblocks
  unsigned long nr_free;  // blocks (not pages) on the lists of every type; add_locked, read locklessly
};

struct zone;

// One CPU's cache of free pages for one zone. Batches move between it and the
// buddy lists under the zone lock. Its own CPU takes its lock with a trylock
// and, if that fails (an interrupt came in while the CPU held it, or a drain
// from another CPU holds it), goes to the buddy lists instead, as Linux 6.x
// does; so interrupts stay enabled on the fast path. Drains spin on it.
struct ____cacheline_aligned_in_smp per_cpu_pages {
  tas_spinlock_t lock;
  int count;   // pages on all lists
  int high;    // above this, free back `batch` pages
  int batch;   // pages moved at a time
  unsigned long pgalloc;  // pages allocated from these lists (this CPU's share of PGALLOC)
  unsigned long pgfree;   // pages freed to them (this CPU's share of PGFREE)
  zone *owner;            // the zone these pages belong to
  // At order_to_pindex(type, order). A page is filed under the type it was
  // asked for or, when freed, its pageblock's type then; that pageblock may
  // change type meanwhile, and the buddy lists it drains to are those of
  // its pageblock's type at the time of the drain.
  list_head lists[NR_PCP_LISTS];
};

// One CPU's share of a zone's counters (Linux's per_cpu_zonestat): the
// deltas not yet folded into zone::vm_stat, and the zone events counted on
// the buddy paths. Written only by its own CPU with interrupts masked (plain
// stores, read by others with relaxed loads), on a line of its own.
struct ____cacheline_aligned_in_smp per_cpu_zonestat {
  s8 vm_stat_diff[NR_VM_ZONE_STAT_ITEMS];
  s8 stat_threshold;  // fold the delta into the total once it would pass this
  unsigned long vm_events[NR_ZONE_EVENTS];  // summed on read, never folded (Linux's vm_event_states)
};
// The same for a node's counters (Linux's per_cpu_nodestat).
struct ____cacheline_aligned_in_smp per_cpu_nodestat {
  s8 stat_threshold;
  s8 vm_node_stat_diff[NR_VM_NODE_STAT_ITEMS];
};

struct pglist_data;

// Laid out as Linux's (ZONE_PADDING): the read-mostly fields that every
// allocation reads, the free lists with the lock that the buddy paths
// write, compaction's and vmstat's fields, then the counters every CPU
// folds into, each group starting on a cache line of its own so that
// writes to one do not evict another from other CPUs' caches. Linux's
// per-CPU areas (the pagesets and the counters' deltas) are here too, at
// the end, each CPU's on its own lines.
struct ____cacheline_internodealigned_in_smp zone {
  // ---- read-mostly: the fast path's watermark check reads these ----
  unsigned long _watermark[NR_WMARK];
  // Pages in MIGRATE_HIGHATOMIC pageblocks (a multiple of pageblock_nr_pages);
  // changed under lock, read locklessly by watermark checks.
  unsigned long nr_reserved_highatomic;
  long lowmem_reserve[MAX_NR_ZONES];
  pglist_data *zone_pgdat;
  page *zone_mem_map;  // struct page of zone_start_pfn
  unsigned long zone_start_pfn;
  unsigned long spanned_pages;  // zone_end_pfn - zone_start_pfn, holes included
  unsigned long present_pages;  // memory in the span
  unsigned long managed_pages;  // given to the page allocator
  const char *name;
  zone_type idx;
  // NR_PAGEBLOCK_BITS per pageblock, from the pageblock holding zone_start_pfn
  // on (mm/pageblock_flags.h); pageblock_base is the address the struct page
  // of that pageblock's first pfn would have, so that a page's pageblock is
  // (page address - pageblock_base) >> (log2(sizeof(page)) + pageblock_order)
  // with no pfn computed.
  unsigned long *pageblock_flags;
  uintptr_t pageblock_base;

  // ---- written by the buddy paths, under lock ----
  ____cacheline_aligned_in_smp ::free_area free_area[NR_PAGE_ORDERS];
  spinlock_t lock;

  // ---- compaction and vmstat ----
  // While the total of free pages is below this, watermark checks that
  // must not be fooled by the per-CPU drift read the snapshot instead
  // (Linux's percpu_drift_mark; 0 when the drift cannot matter, mm/vmstat.h).
  ____cacheline_aligned_in_smp unsigned long percpu_drift_mark;
  // Compaction (mm/compaction.h), under compact_lock: one compaction of a
  // zone at a time; where the last one's scanners stopped, so that the next
  // goes on from there; and whether a pass over the whole zone has ended,
  // so that the PB_migrate_skip hints are cleared before the next one
  // (Linux clears them when kswapd goes to sleep).
  spinlock_t compact_lock;
  unsigned long compact_cached_migrate_pfn;
  unsigned long compact_cached_free_pfn;
  bool compact_blockskip_flush;
  // Deferred compaction (Linux's defer_compaction): after a failure at
  // compact_order_failed or above, skip the next 1 << compact_defer_shift
  // attempts.
  unsigned compact_considered;
  unsigned compact_defer_shift;
  int compact_order_failed;

  // ---- statistics: the totals the CPUs fold their deltas into ----
  ____cacheline_aligned_in_smp long vm_stat[NR_VM_ZONE_STAT_ITEMS];  // atomic updates

  // ---- per CPU (Linux's per-CPU areas), each CPU's on lines of its own ----
  // The counters' deltas first: the buddy paths reach them with one
  // instruction's offset from the zone (static_assert below).
  per_cpu_zonestat per_cpu_zonestats[NR_CPUS];
  per_cpu_pages pcp[NR_CPUS];
};

// The groups above on lines of their own, and the fast path's loads within
// reach of one RISC-V load's 12-bit offset from the zone.
static_assert(alignof(zone) == INTERNODE_CACHE_BYTES && sizeof(per_cpu_pages) % SMP_CACHE_BYTES == 0 &&
                  sizeof(per_cpu_zonestat) == SMP_CACHE_BYTES && sizeof(per_cpu_nodestat) == SMP_CACHE_BYTES,
              "the per-CPU parts of a zone start and end on cache lines");
static_assert(offsetof(zone, pageblock_base) + sizeof(uintptr_t) <= offsetof(zone, free_area) &&
                  offsetof(zone, free_area) % SMP_CACHE_BYTES == 0,
              "the free areas start on a line after the read-mostly fields");
static_assert(offsetof(zone, lock) + sizeof(spinlock_t) <= offsetof(zone, percpu_drift_mark) &&
                  offsetof(zone, percpu_drift_mark) % SMP_CACHE_BYTES == 0,
              "compaction and the drift mark start on a line after the lock");
static_assert(offsetof(zone, compact_order_failed) + sizeof(int) <= offsetof(zone, vm_stat) &&
                  offsetof(zone, vm_stat) % SMP_CACHE_BYTES == 0,
              "the counters start on a line of their own");
static_assert(offsetof(zone, vm_stat) + sizeof(zone::vm_stat) <= offsetof(zone, per_cpu_zonestats) &&
                  offsetof(zone, per_cpu_zonestats) % SMP_CACHE_BYTES == 0 &&
                  offsetof(zone, pcp) % SMP_CACHE_BYTES == 0,
              "the per-CPU parts start on lines after the counters");
static_assert(offsetof(zone, vm_stat) + sizeof(zone::vm_stat) <= 2048 && offsetof(zone, lowmem_reserve) < 2048,
              "fast_watermark_ok's loads reach their fields with one instruction");
static_assert(offsetof(zone, per_cpu_zonestats) + sizeof(per_cpu_zonestat) <= 2048,
              "a CPU's deltas are its line's address plus an offset of one instruction");


inline bool populated_zone(const zone *z) { return z->present_pages != 0; }
inline bool managed_zone(const zone *z) { return z->managed_pages != 0; }
inline unsigned long zone_end_pfn(const zone *z) { return z->zone_start_pfn + z->spanned_pages; }
inline bool zone_spans_pfn(const zone *z, unsigned long pfn) {
  return pfn >= z->zone_start_pfn && pfn < zone_end_pfn(z);
}
inline unsigned long min_wmark_pages(const zone *z) { return z->_watermark[WMARK_MIN]; }
inline unsigned long low_wmark_pages(const zone *z) { return z->_watermark[WMARK_LOW]; }
inline unsigned long high_wmark_pages(const zone *z) { return z->_watermark[WMARK_HIGH]; }
// ---- pageblock types -------------------------------------------------------------
// Bit index of pfn's pageblock in z->pageblock_flags (pfn in the zone's span).
inline unsigned long pfn_to_bitidx(const zone *z, unsigned long pfn) {
  return ((pfn - pageblock_start_pfn(z->zone_start_pfn)) >> pageblock_order) * NR_PAGEBLOCK_BITS;
}
// The bits of mask of the pageblock whose bits start at bitidx.
inline unsigned long pageblock_bits(const zone *z, unsigned long bitidx, unsigned long mask) {
  unsigned long word = __atomic_load_n(&z->pageblock_flags[bitidx / BITS_PER_LONG], __ATOMIC_RELAXED);
  return (word >> (bitidx % BITS_PER_LONG)) & mask;
}
inline unsigned long get_pfnblock_flags_mask(const zone *z, unsigned long pfn, unsigned long mask) {
  return pageblock_bits(z, pfn_to_bitidx(z, pfn), mask);
}
// The migrate type of pfn's pageblock. Changed only under the zone lock;
// read without it by the free path (under its pcp lock, see page_alloc.cpp).
inline int get_pfnblock_migratetype(const zone *z, unsigned long pfn) {
  return int(get_pfnblock_flags_mask(z, pfn, MIGRATETYPE_MASK));
}
// The same for a page of z, from its address alone (no pfn needed): every
// free reads it. A pageblock's bits are a byte of the bitmap, the block's
// own byte of its word on a little-endian machine, so one byte load reads
// them (single-copy atomic, as the word's relaxed load is).
inline int get_pageblock_migratetype(const zone *z, const page *p) {
  static_assert(NR_PAGEBLOCK_BITS == 8 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
                "pageblock i's bits are byte i of the bitmap");
  unsigned long block = (reinterpret_cast<uintptr_t>(p) - z->pageblock_base) >> (PAGE_STRUCT_SHIFT + pageblock_order);
  const u8 *bits = reinterpret_cast<const u8 *>(z->pageblock_flags) + block;
  return int(__atomic_load_n(bits, __ATOMIC_RELAXED) & MIGRATETYPE_MASK);
}
// Sets the bits of mask in pfn's pageblock to flags. Other pageblocks of the
// word may change at once (compaction's skip bits need no zone lock), so
// the word is swapped atomically.
void set_pfnblock_flags_mask(zone *z, unsigned long pfn, unsigned long flags, unsigned long mask);
// Sets the type of pfn's pageblock. Needs the zone lock, and the caller moves
// the pageblock's free blocks to the new type's lists (move_freepages_block).
// On a machine without mobility grouping the ordinary types all become
// MIGRATE_UNMOVABLE, as in Linux.
void set_pageblock_migratetype(zone *z, unsigned long pfn, int migratetype);

// For counters only ever changed under one lock: a plain add that racing
// readers may still load safely.
template <class T, class D>
inline void add_locked(T &counter, D delta) {
  WRITE_ONCE(counter, counter + delta);
}

struct mem_system;

struct pglist_data {
  zone node_zones[MAX_NR_ZONES];
  int node_id;
  unsigned long node_start_pfn;
  unsigned long node_spanned_pages;
  unsigned long node_present_pages;
  page *node_mem_map;  // struct page of node_start_pfn
  mem_system *ms;
  // Zonelist: every populated zone this node falls back to, in order
  // (own zones high to low, then other nodes by distance, ties broken as
  // Linux's find_next_best_node does; zonelist_node_order lists the nodes).
  zone *zonelist[MAX_NUMNODES * MAX_NR_ZONES + 1];
  // For each classzone, the first zonelist entry it may use: the fast path
  // tries only that one.
  zone *preferred_zone[MAX_NR_ZONES];
  bool kswapd_wanted;     // an allocation fell below the low watermark
  int kswapd_highest_zoneidx;
  int kswapd_order;       // the highest order asked for since kswapd last ran
  unsigned nr_cpus;       // CPUs of this node (for pcp high)
  // Counters (mm/vmstat.h): the totals, on a line of their own, and each
  // CPU's deltas.
  ____cacheline_aligned_in_smp long vm_stat[NR_VM_NODE_STAT_ITEMS];  // atomic updates
  per_cpu_nodestat per_cpu_nodestats[NR_CPUS];
  // kcompactd (mm/compaction.h): woken by kswapd after balancing the node
  // for a high-order request; run like kswapd, from the idle loop.
  int kcompactd_wanted;   // an int: RV64 has no byte-sized atomic exchange
  int kcompactd_max_order;
  int kcompactd_highest_zoneidx;
  unsigned long proactive_next;  // kcompactd_run's clock value for the next proactive check
};

inline unsigned long pgdat_end_pfn(const pglist_data *n) { return n->node_start_pfn + n->node_spanned_pages; }

struct shrinker;

// How a CPU's fast paths reach their per-CPU lists with a single load each,
// without looking up node, zonelist and zone (mem_system::alloc_route and
// free_route, built by mem_system_init). Indexed by CPU last, so that the
// index is a couple of shifts. CPUs beyond mem_system::nr_cpus get CPU 0's
// lists (which are locked, so sharing them is only slower).
struct pcp_route {
  per_cpu_pages *pcp;  // nullptr: no zone to use, or contradictory zone or mobility flags
  int classzone;       // gfp_zone() of the flags that lead here
  int migratetype;     // gfp_to_migratetype() of them: which lists
};
// The flags that pick a route: the zone modifiers and the mobility bits.
constexpr gfp_t GFP_ROUTE_MASK = GFP_ZONEMASK | GFP_MOVABLE_MASK;
constexpr unsigned NR_ZONEIDS = 1u << (ZONES_SHIFT + NODES_SHIFT);  // values of page_zoneid()

// pfn_to_page's table: for each section of physical memory (Linux's
// SPARSEMEM sections, 128 MiB as on riscv) that one node's span meets, the
// pfns of the section in that span and the node's mem_map less its first
// pfn, as Linux encodes section_mem_map: a pfn's struct page is a load and
// an add away, with one compare for the span.
constexpr unsigned PFN_SECTION_SHIFT = 27 - PAGE_SHIFT;
constexpr unsigned NR_MEM_SECTIONS = 512;  // physical addresses below 64 GiB
struct mem_section {
  uintptr_t mem_map;       // node_mem_map - node_start_pfn, as an address
  unsigned long start_pfn;  // the section's pfns in the node: [start_pfn, start_pfn + nr_pfns)
  unsigned long nr_pfns;    // 0: no node, or several (pfn_to_page searches)
};

// One machine's physical memory. Filled by mem_system_init (mm/page_alloc.h).
struct mem_system {
  pglist_data *node_data[MAX_NUMNODES];  // nullptr for nodes without memory
  u8 node_distance[MAX_NUMNODES][MAX_NUMNODES];
  int cpu_to_node[NR_CPUS];
  unsigned nr_cpus;
  // The tunables that send every request down the general paths, sharing
  // one word that the fast paths test with a single load
  // (free_fast_paths_off in mm/page_alloc_fast.h): a union, so that the word
  // is right whoever sets either field, however.
  union {
    __extension__ struct {
      bool pcp_disabled;  // every allocation goes to the buddy lists (a tunable)
      // mm.check=1: check after every allocator call (mm/check.h). Findings
      // are counted in check_violations.
      bool check_calls;
    };
    u16 general_paths_only;  // nonzero: one of the above is set
  };
  // Fault injection (mm/fault_inject.h): Linux's fail_page_alloc, set from
  // the command line or a test, which every request meets (a non-zero
  // probability sends them all to the general path: fast_paths_off); and a
  // test's own hook, which fails exactly the calls it picks, asked by the
  // general path (__alloc_pages) only: set pcp_disabled as well to make
  // every small request take that path. __GFP_NOFAIL requests never fail.
  fail_page_alloc_attr fail_page_alloc;
  bool (*should_fail_alloc_page)(void *ctx, gfp_t gfp, unsigned order);
  void *fail_alloc_ctx;

  // Too little memory to group pages by mobility (fewer pages than
  // pageblock_nr_pages * MIGRATE_TYPES, as Linux decides in
  // build_all_zonelists, or mem_layout asked for it): every request and
  // every pageblock is MIGRATE_UNMOVABLE.
  bool page_group_by_mobility_disabled;
  unsigned nr_online_nodes;  // nodes with memory
  unsigned long max_zone_pfn[MAX_NR_ZONES];  // the zone boundary table (exclusive ends)
  // For allocation, by gfp & GFP_ROUTE_MASK: the lists of the first zone that
  // gfp_zone(gfp) may use on the CPU's node (the zonelist's preferred zone),
  // and the migrate type of the request.
  pcp_route alloc_route[GFP_ROUTE_MASK + 1][NR_CPUS];
  // For freeing, by page_zoneid(): every zone's list.
  per_cpu_pages *free_route[NR_ZONEIDS][NR_CPUS];

  // Tunables, with Linux's defaults.
  int min_free_kbytes;           // from the int_sqrt rule unless user_min_free_kbytes
  int user_min_free_kbytes;      // 0: not set on the command line
  int watermark_scale_factor;    // 10: 0.1% of the zone between watermarks
  int lowmem_reserve_ratio[MAX_NR_ZONES];

  unsigned long totalram_pages;      // managed pages of every zone
  unsigned long vm_total_pages;      // what build_all_zonelists weighs for mobility grouping
  unsigned long totalreserve_pages;  // what MemAvailable keeps back

  spinlock_t shrinker_lock;
  list_head shrinkers;
  unsigned long bad_pages;  // Bad page state reports

  unsigned long check_violations;  // what mm.check=1 (check_calls) found

  // Compaction and migration (mm/compaction.h, mm/migrate.h): the tunables
  // of /proc/sys/vm, Linux's defaults; the machine-wide events; and the
  // owners whose pages are movable (a page's mapping is trusted only if it
  // is one of these).
  int compaction_proactiveness;  // 20
  int extfrag_threshold;         // 500
  unsigned long vm_events[NR_VM_EVENT_ITEMS];
  static constexpr unsigned MAX_MOVABLE_OPS = 8;
  const struct movable_operations *movable_ops[MAX_MOVABLE_OPS];

  // pfn_to_page's table. Set once nodes are; never changes. Last: the
  // fields the fast paths use keep offsets a RISC-V load reaches in one
  // instruction (under 2 KiB).
  mem_section mem_sections[NR_MEM_SECTIONS];
};

static_assert(__builtin_offsetof(mem_system, general_paths_only) == __builtin_offsetof(mem_system, pcp_disabled) &&
                  __builtin_offsetof(mem_system, check_calls) == __builtin_offsetof(mem_system, pcp_disabled) + 1 &&
                  sizeof(mem_system::general_paths_only) == 2,
              "general_paths_only is exactly pcp_disabled and check_calls");
static_assert(__builtin_offsetof(mem_system, fail_page_alloc.attr.probability) < 2048 &&
                  __builtin_offsetof(mem_system, alloc_route[__GFP_MOVABLE][0]) < 2048,
              "the fast paths' fields of mem_system, and the routes of unmovable and movable requests, are one load away (a 12-bit offset)");

// The index of a zone in mem_system::free_route (what page_zoneid() gives
// for its pages).
inline unsigned zone_id(const zone *z) { return unsigned(z->idx) << NODES_SHIFT | unsigned(z->zone_pgdat->node_id); }

inline pglist_data *NODE_DATA(const mem_system &ms, int nid) { return ms.node_data[nid]; }

// The migrate type a request of these flags allocates from on ms: Linux's
// gfp_migratetype, with the machine's page_group_by_mobility_disabled.
inline int gfp_to_migratetype(const mem_system &ms, gfp_t gfp) {
  int mt = gfp_migratetype(gfp);
  return mt != MIGRATE_TYPE_INVALID && ms.page_group_by_mobility_disabled ? int(MIGRATE_UNMOVABLE) : mt;
}

inline void count_vm_events(mem_system &ms, vm_event_item item, unsigned long n) {
  if (n) __atomic_fetch_add(&ms.vm_events[item], n, __ATOMIC_RELAXED);
}
inline unsigned long vm_event(const mem_system &ms, vm_event_item item) {
  return __atomic_load_n(&ms.vm_events[item], __ATOMIC_RELAXED);
}

#define for_each_online_pgdat(ms, pgdat)                                   \
  for (int __nid = 0; __nid < int(MAX_NUMNODES); __nid++)                  \
    if (pglist_data *pgdat = (ms).node_data[__nid]; pgdat != nullptr)

#define for_each_zone_of(pgdat, z) \
  for (zone *z = (pgdat)->node_zones; z < (pgdat)->node_zones + MAX_NR_ZONES; z++)

// The counters' API (Linux has it in linux/vmstat.h, which mm.h includes).
#include "mm/vmstat.h"

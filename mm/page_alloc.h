// The page allocator: Linux's buddy allocator with per-CPU lists, watermarks
// and zone fallback (mm/page_alloc.c), written fresh.
//
// Basic algorithm:
//  1. Free memory of each zone is kept as blocks of 2^order pages (order
//     0..MAX_PAGE_ORDER), each naturally aligned, on free_area[order].
//  2. Allocating order k takes the smallest free block of order >= k and
//     splits it, putting the unused halves back on the lower lists.
//  3. Freeing a block merges it with its buddy (the block whose pfn differs
//     in bit `order`) as long as that buddy is free and of the same order.
//  4. Each free list is split by migrate type (mm/mmzone.h): a request takes
//     from its type's lists (gfp_migratetype) and falls back to other types,
//     stealing whole pageblocks when it may, only when its own are empty
//     (mm/mobility.cpp); high-order atomic requests keep a small reserve of
//     pageblocks for themselves.
//  5. Orders up to PAGE_ALLOC_COSTLY_ORDER go through a per-CPU list of the
//     type first, refilled from and drained to the buddy lists `batch` pages
//     at a time.
//  6. A request walks its zonelist (own node's zones from gfp_zone() down,
//     then other nodes by distance) and takes from the first zone that passes
//     the watermark check: first against the low watermark (and without
//     mixing types in Normal while DMA32 has room); then, after waking
//     kswapd, against min as reduced by the request's reserves; then after
//     direct reclaim, draining the per-CPU lists and giving back the
//     highatomic reserve.
//
// Every function takes the mem_system it works on; the forms without one
// use the kernel's instance (system_mem), as Linux callers expect.
#pragma once

#include "arch/arch.h"
#include "mm/gfp.h"
#include "mm/mmzone.h"
#include "mm/page.h"
#include "mm/page_alloc_fast.h"

struct memblock;

// Grouping pages by mobility: as Linux decides it from the machine's size,
// or off whatever the size (tests compare the two on one machine).
enum class mobility_grouping { by_size, off };

// What the machine (or a host test) decides about its memory.
struct mem_layout {
  unsigned long max_zone_pfn[MAX_NR_ZONES];  // exclusive end pfn of each zone (0: empty)
  u8 node_distance[MAX_NUMNODES][MAX_NUMNODES];  // 0: LOCAL/REMOTE_DISTANCE defaults
  int cpu_to_node[NR_CPUS];   // the first nr_cpus are read; any other CPU runs as CPU 0
  unsigned nr_cpus;          // 1..NR_CPUS
  int min_free_kbytes;       // 0: Linux's int_sqrt rule
  mobility_grouping grouping = mobility_grouping::by_size;
};

// Builds ms over memblock's memory: a pglist_data and mem_map per node (taken
// from memblock), zones cut by max_zone_pfn, every free memblock range given
// to the buddy lists (memblock_free_all) and everything else PG_reserved, then
// watermarks, lowmem_reserve and per-CPU lists. memblock must not be used for
// allocation afterwards.
// Returns 0, -EINVAL for a layout that makes no sense (no memory, zone limits
// not ascending, a cpu on a node out of range), or -ENOMEM if memblock cannot
// hold the mem_maps; ms is unusable on failure.
int mem_system_init(mem_system *ms, memblock &mb, const mem_layout &layout);

// The nodes of pgdat's zonelist, each once, in fallback order (Linux's
// node_order[], which boot reports as "Fallback order for Node N: ...").
// Returns how many it wrote to order[].
unsigned zonelist_node_order(const pglist_data *pgdat, int order[MAX_NUMNODES]);

// The kernel's instance (set by the boot code; host tests may point it at theirs).
extern mem_system *system_mem;

// ---- pfn, page and address conversions ------------------------------------------
// Returns nullptr for a pfn that no node spans.
page *pfn_to_page_search(const mem_system &ms, unsigned long pfn);
// What mem_system::mem_sections holds for section `sec`: the span of the one
// node that meets it, or nothing.
mem_section mem_section_of(const mem_system &ms, unsigned sec);
// pfn_to_page from the table alone: nullptr when the table does not cover
// pfn (no node, or a section several nodes share).
inline page *pfn_to_page_table(const mem_system &ms, unsigned long pfn) {
  const unsigned long section = pfn >> PFN_SECTION_SHIFT;
  if (__builtin_expect(section >= NR_MEM_SECTIONS, 0)) return nullptr;
  const mem_section &m = ms.mem_sections[section];
  if (__builtin_expect(pfn - m.start_pfn >= m.nr_pfns, 0)) return nullptr;  // wraps below start: one compare
  return reinterpret_cast<page *>(m.mem_map + (pfn << PAGE_STRUCT_SHIFT));
}
inline page *pfn_to_page(const mem_system &ms, unsigned long pfn) {
  page *p = pfn_to_page_table(ms, pfn);
  return __builtin_expect(p != nullptr, 1) ? p : pfn_to_page_search(ms, pfn);
}
unsigned long page_to_pfn(const mem_system &ms, const page *p);
zone *page_zone(const mem_system &ms, const page *p);
inline phys_addr_t page_to_phys(const mem_system &ms, const page *p) { return PFN_PHYS(page_to_pfn(ms, p)); }
// The direct-map address of the page; nullptr for highmem pages.
void *page_address(const mem_system &ms, const page *p);
page *virt_to_page(const mem_system &ms, const void *addr);
bool pfn_valid(const mem_system &ms, unsigned long pfn);

page *pfn_to_page(unsigned long pfn);
unsigned long page_to_pfn(const page *p);
void *page_address(const page *p);
page *virt_to_page(const void *addr);

// ---- allocation --------------------------------------------------------------------
// Returns the first page of 2^order contiguous, naturally aligned frames from a
// zone the flags allow, with refcount 1, or nullptr (with a warning unless
// __GFP_NOWARN). An order > MAX_PAGE_ORDER, contradictory zone flags, or
// both __GFP_MOVABLE and __GFP_RECLAIMABLE fail (with a warning whatever
// __GFP_NOWARN says: they are caller bugs).
page *__alloc_pages(mem_system &ms, gfp_t gfp, unsigned order, int preferred_nid);
// alloc_pages from the current CPU's node. With gfp and order constant at
// the call, the fast path is inlined and its request checks fold away
// (mm/page_alloc_fast.h); otherwise alloc_pages_var, the same path out of
// line, is called. The two give the same results.
page *alloc_pages_var(mem_system &ms, gfp_t gfp, unsigned order);
__attribute__((always_inline)) inline page *alloc_pages(mem_system &ms, gfp_t gfp, unsigned order) {
  if (__builtin_constant_p(gfp) && __builtin_constant_p(order)) return alloc_pages_fastpath(ms, gfp, order);
  return alloc_pages_var(ms, gfp, order);
}
__attribute__((always_inline)) inline page *alloc_page(mem_system &ms, gfp_t gfp) { return alloc_pages(ms, gfp, 0); }
page *alloc_pages_node(mem_system &ms, int nid, gfp_t gfp, unsigned order);
// Direct-map address of the allocation, or 0. __GFP_HIGHMEM is ignored here.
unsigned long __get_free_pages(mem_system &ms, gfp_t gfp, unsigned order);
unsigned long get_zeroed_page(mem_system &ms, gfp_t gfp);

__attribute__((always_inline)) inline page *alloc_pages(gfp_t gfp, unsigned order) {
  return alloc_pages(*system_mem, gfp, order);
}
page *alloc_pages_node(int nid, gfp_t gfp, unsigned order);
__attribute__((always_inline)) inline page *alloc_page(gfp_t gfp) { return alloc_pages(gfp, 0); }
unsigned long __get_free_pages(gfp_t gfp, unsigned order);
unsigned long get_zeroed_page(gfp_t gfp);
inline unsigned long __get_free_page(gfp_t gfp) { return __get_free_pages(gfp, 0); }

// ---- freeing ----------------------------------------------------------------------
// Drops a reference; the last one frees the block. A page that is already
// free, reserved, a slab page, mapped, of another order than allocated, or not
// the head of its allocation is reported ("BUG: Bad page state"), counted in
// ms.bad_pages and left alone: the free lists stay consistent.
// With order constant at the call, the fast path is inlined (as for
// alloc_pages); otherwise __free_pages_var, the same path out of line.
void __free_pages_var(mem_system &ms, page *p, unsigned order);
__attribute__((always_inline)) inline void __free_pages(mem_system &ms, page *p, unsigned order) {
  if (__builtin_constant_p(order)) free_pages_fastpath(ms, p, order);
  else __free_pages_var(ms, p, order);
}
__attribute__((always_inline)) inline void __free_page(mem_system &ms, page *p) { __free_pages(ms, p, 0); }
void free_pages(mem_system &ms, unsigned long addr, unsigned order);  // addr 0 is a no-op
void put_page(mem_system &ms, page *p);

__attribute__((always_inline)) inline void __free_pages(page *p, unsigned order) { __free_pages(*system_mem, p, order); }
void free_pages(unsigned long addr, unsigned order);
inline void free_page(unsigned long addr) { free_pages(addr, 0); }
__attribute__((always_inline)) inline void __free_page(page *p) { __free_pages(p, 0); }

// ---- per-CPU lists ----------------------------------------------------------------
// Gives this CPU's (or every CPU's) per-CPU pages of every zone back to the
// buddy lists.
void drain_local_pages(mem_system &ms);
void drain_all_pages(mem_system &ms);
// Gives this CPU's per-CPU pages of other nodes' zones back to their buddy
// lists (Linux's vmstat work does so for pages freed to a remote node, so
// they do not sit away from their node): each CPU's periodic work, once a
// second.
void drain_remote_node_pages(mem_system &ms);

// ---- totals -------------------------------------------------------------------------
// Exact (the snapshots, mm/vmstat.h): the reports print these.
unsigned long nr_free_pages(const mem_system &ms);       // on buddy lists
unsigned long nr_free_pcp_pages(const mem_system &ms);   // on per-CPU lists
unsigned long si_mem_available(const mem_system &ms);    // MemAvailable, in pages

// mm/check: the invariant checker, one for the kernel and the host tests.
// It never stops at the first problem: it describes every violation it finds
// in a check_report and returns how many there were. It never throws and
// never changes what it checks (callers that need a quiet allocator hold
// off other CPUs; the checker takes the zone locks itself).
#pragma once

#include "kernel/types.h"

struct mem_system;
struct slab_allocator;
struct page_table;
struct page;
struct kmem_cache;
struct vmalloc_system;
struct zone;

struct check_report {
  char *buf;         // the descriptions, one per line, NUL-terminated
  size_t size;
  size_t len;
  unsigned violations;
};

inline check_report make_check_report(char *buf, size_t size) {
  if (size) buf[0] = '\0';
  return {buf, size, 0, 0};
}
// Records one violation (the text is cut when the buffer is full, the count is not).
void check_fail(check_report &r, const char *fmt, ...) __printf(2, 3);

// The page allocator: free lists, buddies, counters, per-CPU lists,
// watermarks and the accounting of every page of every zone.
unsigned check_page_alloc(const mem_system &ms, check_report &r);
// The slab allocator: every cache's slabs, freelists, bitmaps, per-CPU
// arrays and counters, and the slab page counts against the node counters
// (which assumes one slab allocator per mem_system, as in the kernel).
unsigned check_slab(const slab_allocator &sa, check_report &r);
// A kernel page table, entry by entry: no W+X leaf, no user-accessible leaf,
// nothing mapped in the user half, no reserved or misaligned encoding, A
// (and D when writable) on every leaf, no stale bits in invalid entries. The
// caller keeps the table still (holds its lock).
unsigned check_pgtable(const page_table &pt, check_report &r);

// mm.check=1 (mem_system::check_calls): after every allocator call, what
// that call touched and what holds at every instant (mm/check_calls.cpp).
// Safe with other CPUs allocating; each finding is printed and counted in
// mem_system::check_violations. The whole checkers above run at the end of
// every ktest case and suite.
void check_alloc_call(const mem_system &ms, const page *p, unsigned order, u32 gfp, int preferred_nid);
void check_free_call(const mem_system &ms, unsigned long pfn);
// The object just handed out: a proper object of s, marked held and on no
// freelist, not freed by another CPU, and (on this CPU's own slab) not
// reachable from the freelist. Returns false when it is not.
bool check_slab_alloc_call(kmem_cache *s, const void *obj);
void check_vmalloc_call(vmalloc_system &vs, const void *addr);
// The range alloc_contig_pages returned: order-0 pages with one reference
// each, in one zone gfp allows, its pageblocks no longer isolated.
void check_contig_call(const mem_system &ms, unsigned long pfn, unsigned long nr_pages, u32 gfp);
// After compact_zone: the zone's free counters against its lists.
void check_compact_call(const mem_system &ms, zone *z);
void check_vfree_call(vmalloc_system &vs, uintptr_t start, uintptr_t end);

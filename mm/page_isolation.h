// Page isolation (Linux's mm/page_isolation.c): taking a pageblock out of use,
// so that nothing is allocated from it while its pages are examined or moved
// away (compaction's alloc_contig_range, memory offlining).
//
// An isolated pageblock has type MIGRATE_ISOLATE. Its free pages sit on the
// ISOLATE lists, which no request takes from, and are not counted in
// NR_FREE_PAGES; a page of it that is freed goes straight there, never to a
// per-CPU list; and its free blocks do not merge with blocks of other
// pageblocks. Undoing it gives the pageblock a type again and merges what
// the isolation kept apart.
#pragma once

#include "mm/mmzone.h"

// Isolates the pageblock holding p, remembering its type (PB_isolate_saved).
// Needs every page of it free or movable (mm/migrate.h): a page in use that
// is not movable (or on a per-CPU list after the drain this does first)
// cannot be moved out of the way. Returns 0; -EBUSY when such a page is
// there, the pageblock is already isolated or holds the highatomic reserve
// (whose accounting isolation would break); -EINVAL when the pageblock is
// not wholly in one zone. Nothing changes on failure.
int set_migratetype_isolate(mem_system &ms, page *p);
// The same without the drain, for a caller that drained once for many.
int isolate_pageblock_drained(zone *z, unsigned long pfn);
// The type an isolated pageblock had before (zone lock).
int isolated_pageblock_saved_type(const zone *z, unsigned long pfn);

// Isolates every pageblock that [start_pfn, end_pfn) touches (one zone's).
// 0; -EINVAL (no such range in one zone) or -EBUSY, with every pageblock
// as it was.
int start_isolate_page_range(mem_system &ms, unsigned long start_pfn, unsigned long end_pfn);
// Gives every isolated pageblock of the range the type it had before.
void undo_isolate_page_range(mem_system &ms, unsigned long start_pfn, unsigned long end_pfn);

// Gives the isolated pageblock holding p the type migratetype (an ordinary
// one) and its free pages back to the allocator. Returns 0, or -EINVAL when
// the pageblock is not isolated or the type is not ordinary.
int unset_migratetype_isolate(mem_system &ms, page *p, int migratetype);

// 0 when every page of [start_pfn, end_pfn) is free on an isolated
// pageblock's lists (what alloc_contig_range waits for), -EBUSY otherwise,
// a range not wholly in one zone included (the walk holds one zone's lock).
int test_pages_isolated(mem_system &ms, unsigned long start_pfn, unsigned long end_pfn);

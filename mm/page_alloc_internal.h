// What the page allocator's own files share, and nothing outside mm/ needs.
#pragma once

#include "mm/mmzone.h"
#include "mm/page.h"

// The struct page of a pfn the zone spans.
inline page *zone_pfn_to_page(zone *z, unsigned long pfn) { return z->zone_mem_map + (pfn - z->zone_start_pfn); }
inline unsigned long zone_page_to_pfn(const zone *z, const page *p) {
  return z->zone_start_pfn + static_cast<unsigned long>(p - z->zone_mem_map);
}

// Puts the free block [pfn, pfn + 2^order) on the zone's buddy lists, merging
// it with its free buddies. Needs the zone lock (or a zone nobody else sees).
void __free_one_page(zone *z, unsigned long pfn, unsigned order);

// The node nid falls back to when it has no memory of its own (itself if it has).
int nearest_memory_node(const mem_system &ms, int nid);

// Reports a page in a bad state ("BUG: Bad page state") and counts it.
// p may be nullptr for a pfn that no zone spans.
void bad_page(mem_system &ms, const page *p, unsigned long pfn, const char *reason);

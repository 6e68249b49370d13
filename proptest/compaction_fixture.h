// What the compaction tests share: making the machine's free memory the
// kind compaction works on, and two small helpers.
//
// The boot allocations (memblock, top-down) leave reserved pages in the
// highest pageblock of a node, whose free rest is MOVABLE. The allocator
// hands out the smallest free blocks first, so movable allocations on a
// fresh machine land exactly there, where no contiguous allocation can
// ever succeed (the pageblock cannot be isolated), and at the top of the
// zone, where compaction (which moves pages up) has nothing to do. The
// helpers below take those pages away first and can keep the top of memory
// allocated, so that the tests' movable memory lies in clean pageblocks
// with free memory above it.
#pragma once

#include <rapidcheck.h>

#include <set>
#include <vector>

#include "mm/page_alloc.h"

namespace compaction_test {

// A choice over the whole of [min, max] from the first case on
// (rc::gen::inRange narrows its range with the test size).
template <class T>
rc::Gen<T> uniform(T min, T max) {
  return rc::gen::resize(rc::kNominalSize, rc::gen::inRange<T>(min, max));
}

inline void *vptr(uintptr_t a) { return reinterpret_cast<void *>(a); }

// The pageblocks (their first pfn) of every populated zone that hold a
// reserved page.
inline std::set<unsigned long> tainted_pageblocks(const mem_system &ms) {
  std::set<unsigned long> out;
  for_each_online_pgdat(ms, pgdat) {
    for (const zone *z = pgdat->node_zones; z < pgdat->node_zones + MAX_NR_ZONES; z++) {
      if (!populated_zone(z)) continue;
      for (unsigned long pfn = z->zone_start_pfn; pfn < zone_end_pfn(z); pfn++)
        if (PageReserved(z->zone_mem_map + (pfn - z->zone_start_pfn))) out.insert(pageblock_start_pfn(pfn));
    }
  }
  return out;
}

// Allocates (unmovable, order 0) every free page of the tainted pageblocks
// and returns them; the pages taken meanwhile from elsewhere are given
// back. Per-CPU lists are drained first and after.
inline std::vector<page *> pin_tainted_pageblocks(mem_system &ms) {
  const std::set<unsigned long> tainted = tainted_pageblocks(ms);
  auto free_left = [&] {
    drain_all_pages(ms);
    unsigned long n = 0;
    for (unsigned long b : tainted) {
      const page *first = pfn_to_page(ms, b);
      if (!first) continue;
      const zone *z = page_zone(ms, first);
      for (unsigned long pfn = b; pfn < b + pageblock_nr_pages && pfn < zone_end_pfn(z); pfn++)
        if (PageBuddy(z->zone_mem_map + (pfn - z->zone_start_pfn))) n++;
    }
    return n;
  };
  std::vector<page *> kept, other;
  for (unsigned round = 0; round < 64 && free_left(); round++) {
    for (unsigned i = 0; i < 256; i++) {
      page *p = alloc_pages(ms, GFP_NOWAIT | __GFP_MOVABLE | __GFP_NOWARN, 0);
      if (!p) break;
      (tainted.count(pageblock_start_pfn(page_to_pfn(ms, p))) ? kept : other).push_back(p);
    }
  }
  for (page *p : other) __free_pages(ms, p, 0);
  drain_all_pages(ms);
  return kept;
}

// Allocates single pages (movable type, not movable pages) on each node
// until num/den of its free pages are taken: ballast, which on a fresh
// machine sits at the top of memory (the free lists hand out the highest
// blocks first), so that what is allocated next lies below memory the tests
// can open up by freeing it. Compaction takes its targets only from
// pageblocks that are partly in use (a wholly free one is what it wants to
// make), so a test frees ballast a part of a pageblock at a time. Returns
// the pages.
inline std::vector<page *> take_ballast(mem_system &ms, unsigned num, unsigned den) {
  std::vector<page *> out;
  drain_all_pages(ms);
  for_each_online_pgdat(ms, pgdat) {
    auto node_free = [&] {
      unsigned long n = 0;
      for (zone *z = pgdat->node_zones; z < pgdat->node_zones + MAX_NR_ZONES; z++)
        if (populated_zone(z)) n += zone_page_state_snapshot(z, NR_FREE_PAGES);
      return n;
    };
    const unsigned long keep = node_free() - node_free() * num / den;
    while (node_free() > keep) {
      page *p = alloc_pages_node(ms, pgdat->node_id, GFP_NOWAIT | __GFP_MOVABLE | __GFP_THISNODE | __GFP_NOWARN, 0);
      if (!p) break;
      out.push_back(p);
    }
  }
  return out;
}

}  // namespace compaction_test

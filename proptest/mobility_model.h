// A model of one zone's grouping by mobility, for proptest/mobility_test.cpp:
// the free blocks (pfn -> order), the held ones, and each pageblock's
// migrate type. The allocator keeps a free block on the list of its
// pageblock's type, so the model keeps no lists: a block's list is its
// pageblock's type, and comparing the allocator's lists with that checks
// the invariant too.
//
// For an allocation the model cannot know which block of a list the
// allocator takes (the list's head); it is given the allocator's choice and
// says whether the rules allowed it, then applies what they do with it.
// Everything else (merging, stealing, claiming pageblocks, isolation) it
// predicts outright.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kernel/errno.h"
#include "mm/gfp.h"
#include "mm/mmzone.h"
#include "mm/watermark.h"

struct mobility_model {
  unsigned long start = 0, end = 0;             // the zone's span
  std::map<unsigned long, unsigned> free;       // free block pfn -> order
  std::map<unsigned long, unsigned> held;       // allocated block pfn -> order
  std::vector<int> types;                       // per pageblock, from pageblock_start_pfn(start)
  bool grouping = true;                         // !page_group_by_mobility_disabled
  // How the last allocation was served, for the tests' statistics.
  enum class path { own_type, highatomic, stole_block, claimed_pageblock, stole_pageblocks } last = path::own_type;

  // The zone as it is now (free blocks from its lists, types from its bitmap).
  static mobility_model of(const zone *z, bool grouping) {
    mobility_model m;
    m.start = z->zone_start_pfn;
    m.end = zone_end_pfn(z);
    m.grouping = grouping;
    for (unsigned long b = pageblock_start_pfn(m.start); b < m.end; b += pageblock_nr_pages)
      m.types.push_back(get_pfnblock_migratetype(z, b < m.start ? m.start : b));
    for (unsigned o = 0; o < NR_PAGE_ORDERS; o++)
      for (const list_head &l : z->free_area[o].free_list)
        for (const list_head *e = l.next; e != &l; e = e->next)
          m.free[z->zone_start_pfn + (container_of(const_cast<list_head *>(e), page, lru) - z->zone_mem_map)] = o;
    return m;
  }

  // ---- pageblocks ------------------------------------------------------------------------
  size_t block_index(unsigned long pfn) const { return (pfn - pageblock_start_pfn(start)) >> pageblock_order; }
  int type(unsigned long pfn) const { return types[block_index(pfn)]; }
  void set_type(unsigned long pfn, int mt) {
    if (!grouping && mt < MIGRATE_PCPTYPES) mt = MIGRATE_UNMOVABLE;
    types[block_index(pfn)] = mt;
  }
  void set_range_type(unsigned long pfn, unsigned order, int mt) {
    unsigned long n = order > pageblock_order ? 1ul << (order - pageblock_order) : 1;
    for (unsigned long i = 0; i < n; i++) set_type(pfn + i * pageblock_nr_pages, mt);
  }
  bool whole_pageblock(unsigned long pfn) const {
    unsigned long b = pageblock_start_pfn(pfn);
    return b >= start && b + pageblock_nr_pages <= end;
  }
  bool in_zone(unsigned long pfn) const { return pfn >= start && pfn < end; }

  // ---- free memory -----------------------------------------------------------------------
  // Free pages outside isolated pageblocks: NR_FREE_PAGES.
  long free_pages() const {
    long n = 0;
    for (auto [pfn, o] : free)
      if (type(pfn) != MIGRATE_ISOLATE) n += 1l << o;
    return n;
  }
  std::vector<unsigned long> blocks(int mt, unsigned order) const {
    std::vector<unsigned long> out;
    for (auto [pfn, o] : free)
      if (o == order && type(pfn) == mt) out.push_back(pfn);
    return out;
  }
  bool has_block(int mt, unsigned order) const {
    for (auto [pfn, o] : free)
      if (o == order && type(pfn) == mt) return true;
    return false;
  }
  long pageblock_free_pages(unsigned long b) const {
    long n = 0;
    for (auto it = free.lower_bound(b); it != free.end() && it->first < b + pageblock_nr_pages; ++it)
      n += 1l << it->second;
    return n;
  }

  // The watermark check (Linux's __zone_watermark_ok) on the model's counts.
  // free_count is what the allocator's check reads: the zone's total
  // (zone_page_state), which may be off from the model's exact free_pages()
  // by the per-CPU counters' drift; check() holds the snapshot to the model.
  bool watermark_ok(unsigned order, long mark, long lowmem_reserve, unsigned alloc_flags,
                    unsigned long reserved_highatomic, long free_count) const {
    long f = free_count - ((1l << order) - 1);
    if (!(alloc_flags & ALLOC_RESERVES)) f -= long(reserved_highatomic);
    long min = mark;
    if (alloc_flags & ALLOC_MIN_RESERVE) {
      min -= min / 2;
      if (alloc_flags & ALLOC_NON_BLOCK) min -= min / 4;
    }
    if (alloc_flags & ALLOC_OOM) min -= min / 2;
    if (f <= min + lowmem_reserve) return false;
    if (order == 0) return true;
    for (unsigned o = order; o < NR_PAGE_ORDERS; o++) {
      for (int mt = 0; mt < MIGRATE_PCPTYPES; mt++)
        if (has_block(mt, o)) return true;
      if ((alloc_flags & (ALLOC_HIGHATOMIC | ALLOC_OOM)) && has_block(MIGRATE_HIGHATOMIC, o)) return true;
    }
    return false;
  }

  // ---- allocation ---------------------------------------------------------------------------
  // Splits the free block of order `high` at pfn (already taken) down to `low`.
  void expand(unsigned long pfn, unsigned low, unsigned high) {
    while (high > low) {
      high--;
      free[pfn + (1ul << high)] = high;
    }
  }
  bool take(unsigned long pfn, unsigned order, std::string *why) {
    auto it = free.find(pfn);
    if (it == free.end() || it->second != order) {
      *why = "pfn " + std::to_string(pfn) + " is not a free block of order " + std::to_string(order);
      return false;
    }
    free.erase(it);
    return true;
  }
  static bool member(const std::vector<unsigned long> &v, unsigned long pfn) {
    for (unsigned long x : v)
      if (x == pfn) return true;
    return false;
  }

  // The first type in mt's fallback order with a block of `order`, or -1;
  // whether the request may try to claim its pageblock.
  int find_fallback(unsigned order, int mt, bool *can_steal) const {
    static const int fallbacks[MIGRATE_PCPTYPES][2] = {{MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE},
                                                       {MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE},
                                                       {MIGRATE_UNMOVABLE, MIGRATE_MOVABLE}};
    for (int f : fallbacks[mt])
      if (has_block(f, order)) {
        *can_steal = order >= pageblock_order / 2 || mt != MIGRATE_MOVABLE;
        return f;
      }
    return -1;
  }

  // The allocator gave pfn p for a request of `order` and type mt, taken
  // from the buddy lists with these alloc flags (Linux's rmqueue_buddy): is
  // that a block the rules allow, and what changes? Applies the change;
  // false (with why) when p breaks a rule.
  bool allocate(unsigned long p, unsigned order, int mt, unsigned alloc_flags, std::string *why) {
    auto own = [&](int t, unsigned o) { return has_block(t, o); };
    // 1. The highatomic reserve first, for ALLOC_HIGHATOMIC.
    if (alloc_flags & ALLOC_HIGHATOMIC)
      for (unsigned o = order; o < NR_PAGE_ORDERS; o++)
        if (own(MIGRATE_HIGHATOMIC, o)) return smallest(p, order, o, MIGRATE_HIGHATOMIC, why);
    // 2. Its own type.
    for (unsigned o = order; o < NR_PAGE_ORDERS; o++)
      if (own(mt, o)) return smallest(p, order, o, mt, why);
    // 3. Another type, largest block first.
    int min_order = order < pageblock_order && (alloc_flags & ALLOC_NOFRAGMENT) ? int(pageblock_order) : int(order);
    for (int co = MAX_PAGE_ORDER; co >= min_order; co--) {
      bool can_steal = false;
      int fmt = find_fallback(unsigned(co), mt, &can_steal);
      if (fmt < 0) continue;
      if (!can_steal && mt == MIGRATE_MOVABLE && co > int(order))
        for (co = int(order);; co++)
          if ((fmt = find_fallback(unsigned(co), mt, &can_steal)) >= 0) break;
      return steal(p, order, unsigned(co), mt, fmt, can_steal, why);
    }
    // 4. A request that cannot block takes the reserve rather than fail.
    if (alloc_flags & (ALLOC_OOM | ALLOC_NON_BLOCK))
      for (unsigned o = order; o < NR_PAGE_ORDERS; o++)
        if (own(MIGRATE_HIGHATOMIC, o)) return smallest(p, order, o, MIGRATE_HIGHATOMIC, why);
    *why = "the model has no block for the request";
    return false;
  }

  bool smallest(unsigned long p, unsigned order, unsigned o, int mt, std::string *why) {
    last = mt == MIGRATE_HIGHATOMIC ? path::highatomic : path::own_type;
    if (!member(blocks(mt, o), p)) {
      *why = "pfn " + std::to_string(p) + " is not a " + migratetype_names[mt] + " block of order " +
             std::to_string(o) + ", the smallest the request could take";
      return false;
    }
    free.erase(p);
    expand(p, order, o);
    return true;
  }

  bool steal(unsigned long p, unsigned order, unsigned co, int mt, int fmt, bool can_steal, std::string *why) {
    std::vector<unsigned long> found = blocks(fmt, co);
    if (co >= pageblock_order) {
      // A pageblock or more changes type whole.
      if (!member(found, p)) {
        *why = "pfn " + std::to_string(p) + " is not the " + migratetype_names[fmt] + " block of order " +
               std::to_string(co) + " to steal whole";
        return false;
      }
      free.erase(p);
      set_range_type(p, co, mt);
      expand(p, order, co);
      last = path::stole_pageblocks;
      return true;
    }
    unsigned long b = pageblock_start_pfn(p);
    bool found_here = false;
    for (unsigned long f : found) found_here |= pageblock_start_pfn(f) == b;
    if (!found_here) {
      *why = "pfn " + std::to_string(p) + " is in no pageblock with a " + migratetype_names[fmt] + " block of order " +
             std::to_string(co);
      return false;
    }
    if (can_steal && whole_pageblock(b)) {
      long free_pages = pageblock_free_pages(b);
      long alike = mt != MIGRATE_MOVABLE && fmt == MIGRATE_MOVABLE ? long(pageblock_nr_pages) - free_pages : 0;
      if (free_pages + alike >= long(pageblock_nr_pages / 2)) {
        // Claimed: the smallest free block of the pageblock serves.
        set_type(b, mt);
        unsigned best = NR_PAGE_ORDERS;
        for (auto it = free.lower_bound(b); it != free.end() && it->first < b + pageblock_nr_pages; ++it)
          if (it->second >= order && it->second < best) best = it->second;
        auto it = free.find(p);
        if (it == free.end() || it->second != best) {
          *why = "pageblock " + std::to_string(b) + " was claimed, but pfn " + std::to_string(p) +
                 " is not one of its smallest free blocks (order " + std::to_string(best) + ")";
          return false;
        }
        free.erase(it);
        expand(p, order, best);
        last = path::claimed_pageblock;
        return true;
      }
    }
    // Only the block found; the rest stays of its pageblock's type.
    if (!member(found, p)) {
      *why = "pfn " + std::to_string(p) + " is not a " + migratetype_names[fmt] + " block of order " +
             std::to_string(co) + " (the pageblock was not to be claimed)";
      return false;
    }
    free.erase(p);
    expand(p, order, co);
    last = path::stole_block;
    return true;
  }

  // ---- freeing --------------------------------------------------------------------------------
  void free_piece(unsigned long pfn, unsigned order) {
    int mt = type(pfn);
    while (order < MAX_PAGE_ORDER) {
      unsigned long buddy = pfn ^ (1ul << order);
      auto it = free.find(buddy);
      if (!in_zone(buddy) || it == free.end() || it->second != order) break;
      if (order >= pageblock_order) {
        int bmt = type(buddy);
        if (bmt != mt && (bmt >= MIGRATE_PCPTYPES || mt >= MIGRATE_PCPTYPES)) break;
        if (bmt != mt) set_range_type(buddy, order, mt);
      }
      free.erase(it);
      pfn &= buddy;
      order++;
    }
    free[pfn] = order;
  }
  // A block bigger than a pageblock goes back a pageblock at a time.
  void release(unsigned long pfn, unsigned order) {
    unsigned piece = order > pageblock_order ? pageblock_order : order;
    for (unsigned long p = pfn; p < pfn + (1ul << order); p += 1ul << piece) free_piece(p, piece);
  }

  // ---- isolation -------------------------------------------------------------------------------
  // The free block larger than a pageblock that covers pfn's pageblock, if any.
  std::map<unsigned long, unsigned>::iterator large_block_over(unsigned long b) {
    for (unsigned o = pageblock_order + 1; o < NR_PAGE_ORDERS; o++) {
      auto it = free.find(b & ~((1ul << o) - 1));
      if (it != free.end() && it->second == o) return it;
    }
    return free.end();
  }
  void split_large(unsigned long b) {
    auto it = large_block_over(b);
    if (it == free.end()) return;
    unsigned long head = it->first;
    unsigned o = it->second;
    free.erase(it);
    for (unsigned long p = head; p < head + (1ul << o); p += pageblock_nr_pages) free[p] = pageblock_order;
  }
  int isolate(unsigned long b) {
    b = pageblock_start_pfn(b);
    if (!whole_pageblock(b)) return -EINVAL;
    if (type(b) >= MIGRATE_PCPTYPES) return -EBUSY;
    if (large_block_over(b) == free.end() && pageblock_free_pages(b) != long(pageblock_nr_pages)) return -EBUSY;
    split_large(b);
    set_type(b, MIGRATE_ISOLATE);
    remerge(b);
    return 0;
  }
  // A pageblock that is one free block merges with its buddy after a move.
  void remerge(unsigned long b) {
    auto it = free.find(b);
    if (it == free.end() || it->second != pageblock_order) return;
    free.erase(it);
    free_piece(b, pageblock_order);
  }
  int unisolate(unsigned long b, int mt) {
    b = pageblock_start_pfn(b);
    if (mt >= MIGRATE_PCPTYPES || !in_zone(b < start ? start : b) || type(b) != MIGRATE_ISOLATE) return -EINVAL;
    split_large(b);
    set_type(b, mt);
    remerge(b);
    return 0;
  }

  // ---- comparison ------------------------------------------------------------------------------
  // "" when the zone's pageblock types, lists and free count are the model's.
  std::string differences(const zone *z) const {
    std::string out;
    for (size_t i = 0; i < types.size(); i++) {
      unsigned long b = pageblock_start_pfn(start) + (i << pageblock_order);
      int t = get_pfnblock_migratetype(z, b < start ? start : b);
      if (t != types[i])
        out += "pageblock " + std::to_string(b) + " is " + std::to_string(t) + ", the model says " +
               std::to_string(types[i]) + "\n";
    }
    for (unsigned o = 0; o < NR_PAGE_ORDERS; o++)
      for (int t = 0; t < int(MIGRATE_TYPES); t++) {
        std::vector<unsigned long> listed;
        const list_head *head = &z->free_area[o].free_list[t];
        for (const list_head *e = head->next; e != head; e = e->next)
          listed.push_back(z->zone_start_pfn + (container_of(const_cast<list_head *>(e), page, lru) - z->zone_mem_map));
        std::sort(listed.begin(), listed.end());
        if (listed != blocks(t, o))
          out += std::string("free_list[") + migratetype_names[t] + "] of order " + std::to_string(o) +
                 " holds " + std::to_string(listed.size()) + " blocks, the model " +
                 std::to_string(blocks(t, o).size()) + "\n";
      }
    if (zone_page_state_snapshot(z, NR_FREE_PAGES) != free_pages())
      out += "NR_FREE_PAGES is " + std::to_string(zone_page_state_snapshot(z, NR_FREE_PAGES)) + ", the model " +
             std::to_string(free_pages()) + "\n";
    return out;
  }
};

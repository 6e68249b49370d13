// What compaction_rules_test.cpp and compaction_paths_test.cpp share: a
// deterministic machine (64 MiB, one zone, one CPU), a test owner of
// movable pages that records every isolation and migration, and a
// "fragmented" state built the same way every time: every page of the zone
// held by the owner, then every odd pfn freed, so the zone's free memory is
// all order-0 blocks between movable pages.
#pragma once

#include <gtest/gtest.h>
#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>
#include "kernel/errno.h"
#include "mm/compaction.h"
#include "mm/page_alloc_internal.h"
#include "mm/page_isolation.h"
#include "mm/page_report.h"
#include "mm/vmscan.h"
#include "proptest/mm_fixture.h"
#include "proptest/slab_fixture.h"
#include "proptest/vmalloc_fixture.h"

namespace compaction_rules {

// ---- a test owner of movable pages ---------------------------------------------------

struct test_owner;
inline test_owner *g_owner;  // the ops' callbacks have no context of their own

inline bool owner_isolate(page *p, migrate_mode);
inline int owner_migrate(page *dst, page *src, migrate_mode);
inline void owner_putback(page *p);

// Holds movable order-0 pages with one reference each; migrate_page moves
// the page's identity (index) to dst. What it saw is recorded.
struct test_owner {
  movable_operations ops = {owner_isolate, owner_migrate, owner_putback};
  mem_system *ms = nullptr;
  std::set<page *> pages;
  std::map<unsigned long, unsigned long> moved;  // source pfn -> target pfn
  std::set<unsigned long> refuse;                 // source pfns whose migrate_page says -EAGAIN
  std::map<unsigned long, unsigned long> refuse_times;  // ... only this many more times
  std::function<void()> on_migrate;               // runs first in every migrate_page (another party acting)
  unsigned long isolations = 0, putbacks = 0, migrate_calls = 0, isolate_calls = 0;
  std::set<int> isolate_modes;  // the migrate_mode of every isolate call

  explicit test_owner(mem_system &m) : ms(&m) {
    g_owner = this;
    EXPECT_EQ(register_movable_ops(m, &ops), 0);
  }
  ~test_owner() {
    unregister_movable_ops(*ms, &ops);
    if (g_owner == this) g_owner = nullptr;
  }
  unsigned long pfn(const page *p) const { return page_to_pfn(*ms, p); }
  // A new movable page, or nullptr when the allocator says no.
  page *alloc() {
    page *p = alloc_pages(*ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_NOWARN | __GFP_NORETRY, 0);
    if (p) adopt(p);
    return p;
  }
  void adopt(page *p) {
    p->index = pfn(p);
    __SetPageMovable(p, &ops);
    pages.insert(p);
  }
  // As an owner frees: not movable any more, then its reference goes.
  void release(page *p) {
    __ClearPageMovable(p);
    pages.erase(p);
    __free_pages(*ms, p, 0);
  }
};

inline bool owner_isolate(page *p, migrate_mode mode) {
  g_owner->isolate_calls++;
  g_owner->isolate_modes.insert(mode);
  if (!PageMovable(p) || PageIsolated(p)) return false;
  get_page(p);
  set_page_flag(p, PG_isolated);
  g_owner->isolations++;
  return true;
}

inline int owner_migrate(page *dst, page *src, migrate_mode) {
  test_owner &o = *g_owner;
  o.migrate_calls++;
  if (o.on_migrate) o.on_migrate();
  if (!PageMovable(src) || o.refuse.count(o.pfn(src))) return -EAGAIN;
  if (auto it = o.refuse_times.find(o.pfn(src)); it != o.refuse_times.end() && it->second) {
    it->second--;
    return -EAGAIN;
  }
  dst->index = src->index;
  __SetPageMovable(dst, &o.ops);
  __ClearPageMovable(src);
  clear_page_flag(src, PG_isolated);
  o.pages.erase(src);
  o.pages.insert(dst);
  o.moved[o.pfn(src)] = o.pfn(dst);
  return 0;
}

inline void owner_putback(page *p) {
  clear_page_flag(p, PG_isolated);
  g_owner->putbacks++;
}

// ---- the machine ----------------------------------------------------------------------

inline unsigned long free_pages(const zone *z) { return (unsigned long)zone_page_state_snapshot(z, NR_FREE_PAGES); }
inline int type_of(const zone *z, unsigned long pfn) { return get_pfnblock_migratetype(z, pfn); }
inline bool skip_bit(const zone *z, unsigned long pfn) {
  return get_pfnblock_flags_mask(z, pfn, 1ul << PB_migrate_skip) != 0;
}
// Gives pfn's pageblock the type mt, its free blocks moving along.
inline void set_type(zone *z, unsigned long pfn, int mt) {
  spin_lock_irqsave_guard g(z->lock);
  move_freepages_block(z, pfn, get_pfnblock_migratetype(z, pfn), mt);
}

struct machine {
  slabt::cpu_reset reset;
  mm_fixture f;
  mem_system *ms = nullptr;
  zone *z = nullptr;
  std::unique_ptr<test_owner> owner;
  std::vector<std::pair<page *, unsigned>> pins;  // unmovable blocks the test holds
  unsigned long free_at_start = 0;

  machine() {
    EXPECT_EQ(build_single_zone(f, 64 * SZ_1M, 1), 0);
    ms = f.ms.get();
    z = &ms->node_data[0]->node_zones[ZONE_DMA32];
    owner = std::make_unique<test_owner>(*ms);
    drain_all_pages(*ms);
    free_at_start = zone_page_state_snapshot(z, NR_FREE_PAGES);
  }
  ~machine() {
    owner.reset();
    g_owner = nullptr;
  }
  unsigned long start() const { return z->zone_start_pfn; }
  unsigned long block(unsigned i) const { return z->zone_start_pfn + i * pageblock_nr_pages; }
  unsigned nr_blocks() const { return unsigned(z->spanned_pages >> pageblock_order); }
  page *pg(unsigned long pfn) const { return pfn_to_page(*ms, pfn); }
  // The checker's report, cut short (a broken rule can make it long).
  std::string check() const { return f.check().substr(0, 600); }

  // Every page of the zone to the owner, every odd pfn back: the free
  // memory is order-0 blocks only (what the allocator could not hand out
  // below its min watermark is pinned, unmovable, at order 1 or more).
  void fragment() {
    while (owner->alloc()) {
    }
    std::vector<page *> odd;
    for (page *p : owner->pages)
      if (owner->pfn(p) & 1) odd.push_back(p);
    for (page *p : odd) owner->release(p);
    drain_all_pages(*ms);
    pin_blocks_above(0);
  }
  // Takes every free block of order > k as unmovable pins (the buddy lists
  // only: no per-CPU list refill takes more than asked).
  void pin_blocks_above(unsigned k) {
    ms->pcp_disabled = true;
    for (unsigned o = MAX_PAGE_ORDER; o > k; o--)
      while (z->free_area[o].nr_free) {
        page *p = alloc_pages(*ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_NOWARN | __GFP_NORETRY, o);
        if (!p) break;
        pins.push_back({p, o});
      }
    ms->pcp_disabled = false;
  }
  // The owner's pages in [lo, hi).
  unsigned long owned_in(unsigned long lo, unsigned long hi) const {
    unsigned long n = 0;
    for (page *p : owner->pages) n += owner->pfn(p) >= lo && owner->pfn(p) < hi;
    return n;
  }
  bool clean(unsigned b) const {
    for (unsigned long pfn = block(b); pfn < block(b) + pageblock_nr_pages; pfn++) {
      const page *p = pfn_to_page(*ms, pfn);
      if (PageBuddy(p)) pfn += (1ul << p->private_) - 1;
      else if (!owner->pages.count(const_cast<page *>(p))) return false;
    }
    return type_of(z, block(b)) == MIGRATE_MOVABLE;
  }
  // The first pageblock wholly of owner pages and free pages (no pin, no
  // reserved page): compaction for an order-9 block can empty it.
  unsigned first_clean_block() const {
    for (unsigned b = 0; b < nr_blocks(); b++) {
      bool clean = true;
      for (unsigned long pfn = block(b); pfn < block(b) + pageblock_nr_pages && clean; pfn++) {
        const page *p = pfn_to_page(*ms, pfn);
        clean = PageBuddy(p) || owner->pages.count(const_cast<page *>(p));
        if (PageBuddy(p)) pfn += (1ul << p->private_) - 1;
      }
      if (clean) return b;
    }
    return ~0u;
  }
  // compact_memory's control for the zone: the whole zone, sync, every
  // skip hint ignored.
  compact_control full_pass_cc() {
    compact_control c = cc(-1, MIGRATE_SYNC);
    c.ignore_skip_hint = true;
    c.whole_zone = true;
    return c;
  }
  compact_control cc(int order, migrate_mode mode, int mt = MIGRATE_MOVABLE) {
    compact_control c = compact_control_for(*ms, z, order, mode);
    c.migratetype = mt;
    c.alloc_flags = ALLOC_WMARK_MIN;
    c.highest_zoneidx = ZONE_DMA32;
    return c;
  }
  void unpin() {
    for (auto [p, o] : pins) __free_pages(*ms, p, o);
    pins.clear();
  }
  // Every owner page back, every pin freed: the checker sees the start again.
  void release_all() {
    std::vector<page *> all(owner->pages.begin(), owner->pages.end());
    for (page *p : all) owner->release(p);
    unpin();
    drain_all_pages(*ms);
    // What an allocation path took and neither handed out nor gave back
    // (a page compaction caught, then dropped) is missing here.
    EXPECT_EQ(zone_page_state_snapshot(z, NR_FREE_PAGES), free_at_start) << "pages lost by the allocator";
  }
  alloc_context ac(int mt) { return alloc_context{ms->node_data[0], ZONE_DMA32, false, mt}; }
};

// A shrinker that frees nothing and records when it was asked.
struct recording_shrinker {
  shrinker s = {};
  mem_system *ms;
  std::vector<unsigned long> stalls_at_call;  // COMPACTSTALL when each scan came
  static unsigned long count(shrinker *, shrink_control *) { return 1000; }
  static unsigned long scan(shrinker *s, shrink_control *) {
    auto *r = static_cast<recording_shrinker *>(s->private_data);
    r->stalls_at_call.push_back(vm_event(*r->ms, COMPACTSTALL));
    return 0;
  }
  explicit recording_shrinker(mem_system &m) : ms(&m) {
    s.count_objects = count;
    s.scan_objects = scan;
    s.private_data = this;
    register_shrinker(m, &s);
  }
  ~recording_shrinker() { unregister_shrinker(*ms, &s); }
};

// Takes pfn..pfn+n (free, in one zone) for the test as order-0 pages.
inline void take_range(machine &m, unsigned long pfn, unsigned long n) {
  ASSERT_EQ(alloc_contig_range(*m.ms, pfn, pfn + n, GFP_KERNEL), 0);
}

// Make block b's owner pages unmovable pins (the migration scanner finds
// nothing there) and back.
inline std::vector<page *> pin_block(machine &m, unsigned b) {
  std::vector<page *> v;
  for (page *p : m.owner->pages)
    if (pageblock_start_pfn(m.owner->pfn(p)) == m.block(b)) v.push_back(p);
  for (page *p : v) {
    __ClearPageMovable(p);
    m.owner->pages.erase(p);
  }
  return v;
}
inline void unpin_block(machine &m, const std::vector<page *> &v) {
  for (page *p : v) m.owner->adopt(p);
}

}  // namespace compaction_rules

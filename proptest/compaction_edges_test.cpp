// Compaction, reclaim, migration and isolation at their edges: the rules a
// Linux reader relies on that the broader tests in compaction_rules_test.cpp
// and compaction_paths_test.cpp pass by (where the scanners meet and what
// the next pass starts from, MIN_COMPACT_PRIORITY's skip hints, the deferral
// a successful allocation resets, the score of a zone with nothing free,
// direct reclaim's SWAP_CLUSTER_MAX, the owner's checks under its lock, the
// migrating CPU's own entry, the TLB after a migration, isolation's
// errors). The machine and the test owner are compaction_rules_fixture.h's.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "arch/host/tlb.h"
#include "proptest/compaction_rules_fixture.h"

namespace {

using namespace compaction_rules;

void set_skip(zone *z, unsigned long pfn) { set_pfnblock_flags_mask(z, pfn, 1ul << PB_migrate_skip, 1ul << PB_migrate_skip); }

// ---- where the scanners meet -----------------------------------------------------------------

// The free scanner starts at the zone's last pageblock, and the scanners
// meet when the migration scanner reaches it: the migration scanner never
// takes pages from there, whether the pass is over the whole zone or
// starts from cached positions that lie outside the zone. With movable
// pages in the last pageblock only, compaction finds nothing to move.
TEST(CompactionEdges, MigrationScannerStopsBelowTheFreeScannersFirstPageblock) {
  for (bool whole : {true, false}) {
    machine m;
    m.fragment();
    const unsigned last = m.nr_blocks() - 1;
    std::vector<page *> pinned;
    for (unsigned i = 0; i < last; i++) {
      std::vector<page *> v = pin_block(m, i);
      pinned.insert(pinned.end(), v.begin(), v.end());
    }
    ASSERT_GT(m.owned_in(m.block(last), zone_end_pfn(m.z)), 0ul);
    ASSERT_EQ(m.owned_in(m.start(), m.block(last)), 0ul);
    m.z->compact_cached_migrate_pfn = 0;  // outside the zone: from its ends
    m.z->compact_cached_free_pfn = 0;
    compact_control cc = m.cc(-1, MIGRATE_SYNC);
    cc.ignore_skip_hint = true;
    cc.whole_zone = whole;
    EXPECT_EQ(compact_zone(&cc), COMPACT_COMPLETE) << whole;
    EXPECT_EQ(m.owner->isolate_calls, 0ul) << whole;
    EXPECT_TRUE(m.owner->moved.empty()) << whole;
    EXPECT_EQ(cc.nr_migrated, 0ul) << whole;
    unpin_block(m, pinned);
    m.release_all();
    EXPECT_EQ(m.check(), "");
  }
}

// A pass that started from cached positions and whose scanners met
// (COMPACT_PARTIAL_SKIPPED) sets both cached positions back to the zone's
// ends (Linux's reset_cached_positions): the next pass covers the whole
// zone and, finding nothing either, ends COMPACT_COMPLETE.
TEST(CompactionEdges, ScannersMetResetsBothCachedPositions) {
  machine m;
  m.fragment();
  const unsigned long last = pageblock_start_pfn(zone_end_pfn(m.z) - 1);
  m.z->compact_cached_migrate_pfn = m.block(m.nr_blocks() / 2);
  m.z->compact_cached_free_pfn = m.block(m.nr_blocks() - 2);
  // No UNMOVABLE pageblock: async compaction for an UNMOVABLE request finds
  // no source, and its scanners meet.
  compact_control c1 = m.cc(9, MIGRATE_ASYNC, MIGRATE_UNMOVABLE);
  c1.direct_compaction = true;
  EXPECT_EQ(compact_zone(&c1), COMPACT_PARTIAL_SKIPPED);
  EXPECT_EQ(m.z->compact_cached_migrate_pfn, m.start());
  EXPECT_EQ(m.z->compact_cached_free_pfn, last);
  compact_control c2 = m.cc(9, MIGRATE_ASYNC, MIGRATE_UNMOVABLE);
  c2.direct_compaction = true;
  EXPECT_EQ(compact_zone(&c2), COMPACT_COMPLETE);
  EXPECT_EQ(c2.total_migrate_scanned, 0ul);  // no pageblock of the request's kind anywhere
  EXPECT_TRUE(m.owner->moved.empty());
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// ---- direct compaction's priority and deferral --------------------------------------------------

// MIN_COMPACT_PRIORITY, the last try, ignores the skip hints (and sets
// none): with every pageblock hinted it still empties one for the order-9
// request. The hints stay as they were.
TEST(CompactionEdges, MinPriorityIgnoresSkipHints) {
  machine m;
  m.fragment();
  for (unsigned i = 0; i < m.nr_blocks(); i++) set_skip(m.z, m.block(i));
  ASSERT_FALSE(m.z->compact_blockskip_flush);  // nothing resets them first
  alloc_context ac = m.ac(MIGRATE_MOVABLE);
  EXPECT_EQ(try_to_compact_pages(*m.ms, GFP_KERNEL, 9, ALLOC_WMARK_MIN, ac, MIN_COMPACT_PRIORITY), COMPACT_SUCCESS);
  EXPECT_GE(m.owner->moved.size(), pageblock_nr_pages / 2);
  for (unsigned i = 0; i < m.nr_blocks(); i++) EXPECT_TRUE(skip_bit(m.z, m.block(i))) << i;
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// After direct compaction, the allocation's outcome decides the deferral
// (Linux's compaction_defer_reset(zone, order, true) on a page): a page
// clears the zone's deferral (considered and shift to 0, the failed order
// above the one just served) and counts compact_stall and
// compact_success; no page counts compact_fail and defers nothing more;
// a skipped compaction counts nothing.
TEST(CompactionEdges, AllocationSuccessAfterCompactionResetsTheDeferral) {
  machine m;
  zone *z = m.z;
  for (int i = 0; i < 3; i++) defer_compaction(z, 4);
  EXPECT_TRUE(compaction_deferred(z, 4));
  ASSERT_EQ(z->compact_defer_shift, 3u);
  ASSERT_EQ(z->compact_considered, 1u);
  ASSERT_EQ(z->compact_order_failed, 4);
  const unsigned long stall = vm_event(*m.ms, COMPACTSTALL), ok = vm_event(*m.ms, COMPACTSUCCESS),
                      fail = vm_event(*m.ms, COMPACTFAIL);
  compaction_alloc_result(*m.ms, nullptr, 4, COMPACT_COMPLETE);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL) - stall, 1ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTFAIL) - fail, 1ul);
  EXPECT_EQ(z->compact_defer_shift, 3u);
  EXPECT_EQ(z->compact_considered, 1u);
  EXPECT_EQ(z->compact_order_failed, 4);
  page *p = alloc_pages(*m.ms, GFP_KERNEL | __GFP_MOVABLE, 4);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(page_zone(*m.ms, p), z);
  compaction_alloc_result(*m.ms, p, 4, COMPACT_SKIPPED);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL) - stall, 1ul);
  EXPECT_EQ(z->compact_defer_shift, 3u);
  compaction_alloc_result(*m.ms, p, 4, COMPACT_SUCCESS);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL) - stall, 2ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSUCCESS) - ok, 1ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTFAIL) - fail, 1ul);
  EXPECT_EQ(z->compact_defer_shift, 0u);
  EXPECT_EQ(z->compact_considered, 0u);
  EXPECT_EQ(z->compact_order_failed, 5);
  EXPECT_FALSE(compaction_deferred(z, 4));
  __free_pages(*m.ms, p, 4);
  EXPECT_EQ(m.check(), "");
}

// ---- proactive compaction -------------------------------------------------------------------

// A zone with no free page scores 0 (Linux's extfrag_for_order: nothing
// free, nothing fragmented), not 100 nor anything between: proactive
// compaction has nothing to do there.
TEST(CompactionEdges, FragmentationScoreOfAZoneWithNothingFreeIsZero) {
  machine m;
  drain_all_pages(*m.ms);
  m.ms->pcp_disabled = true;
  for (unsigned long &w : m.z->_watermark) w = 0;
  for (int o = int(MAX_PAGE_ORDER); o >= 0; o--)
    while (page *p = alloc_pages(*m.ms, GFP_NOWAIT | __GFP_NOWARN, unsigned(o))) m.pins.push_back({p, unsigned(o)});
  m.ms->pcp_disabled = false;
  ASSERT_EQ(free_pages(m.z), 0ul);
  EXPECT_EQ(fragmentation_score_zone(m.z), 0u);
  EXPECT_EQ(fragmentation_score_node(m.ms->node_data[0]), 0u);
  // One order-0 page free: all of the free memory is unusable at order 9.
  __free_pages(*m.ms, m.pins.back().first, m.pins.back().second);
  ASSERT_EQ(m.pins.back().second, 0u);
  m.pins.pop_back();
  drain_all_pages(*m.ms);
  EXPECT_EQ(fragmentation_score_zone(m.z), 100u);
  m.unpin();
  init_per_zone_wmark_min(*m.ms);
  EXPECT_EQ(m.check(), "");
}

// ---- direct reclaim -----------------------------------------------------------------------------

// A shrinker whose count stays `objects` (a cache that refills) and that
// frees what it is asked for, recording each request.
struct freeing_shrinker {
  shrinker s = {};
  mem_system *ms;
  unsigned long objects;
  std::vector<unsigned long> asked;
  static unsigned long count(shrinker *s, shrink_control *) {
    return static_cast<freeing_shrinker *>(s->private_data)->objects;
  }
  static unsigned long scan(shrinker *s, shrink_control *sc) {
    static_cast<freeing_shrinker *>(s->private_data)->asked.push_back(sc->nr_to_scan);
    return sc->nr_to_scan;
  }
  freeing_shrinker(mem_system &m, unsigned long n, long batch) : ms(&m), objects(n) {
    s.count_objects = count;
    s.scan_objects = scan;
    s.batch = batch;
    s.private_data = this;
    register_shrinker(m, &s);
  }
  ~freeing_shrinker() { unregister_shrinker(*ms, &s); }
};

// Direct reclaim wants SWAP_CLUSTER_MAX (32) objects and stops at the
// batch that brings it there, counting what the earlier priorities freed.
// A shrinker is asked for (count >> priority) * 4 / DEFAULT_SEEKS (2) a
// priority, in batches: 2^20 objects in batches of 16 give exactly 32 in
// two calls at priority 12; 2^13 objects give 4, 8 and 16 at priorities
// 12 to 10 (28), and the first batch of 16 at priority 9 passes 32.
TEST(CompactionEdges, DirectReclaimStopsAtSwapClusterMax) {
  machine m;
  ASSERT_TRUE(list_empty(&m.ms->shrinkers));
  {
    freeing_shrinker s(*m.ms, 1ul << 20, 16);
    EXPECT_EQ(try_to_free_pages(*m.ms, GFP_KERNEL, 0, 0), 32ul);
    EXPECT_EQ(s.asked, (std::vector<unsigned long>{16, 16}));
  }
  {
    freeing_shrinker s(*m.ms, 1ul << 13, 16);
    EXPECT_EQ(try_to_free_pages(*m.ms, GFP_KERNEL, 0, 0), 4ul + 8 + 16 + 16);
    EXPECT_EQ(s.asked, (std::vector<unsigned long>{4, 8, 16, 16}));
  }
  EXPECT_EQ(m.check(), "");
}

// At priority 0 (the last resort) a shrinker is asked for all of its
// objects, however many it has: 2^62 objects must not overflow the scan
// target to nothing. The shrinker stops every scan (SHRINK_STOP), so each
// priority asks it once: 13 times from 12 to 0.
TEST(CompactionEdges, PriorityZeroAsksForEveryObject) {
  machine m;
  ASSERT_TRUE(list_empty(&m.ms->shrinkers));
  struct stopping {
    shrinker s = {};
    std::vector<unsigned long> asked;
    unsigned long objects = 1ul << 62;
  } st;
  st.s.count_objects = [](shrinker *s, shrink_control *) { return static_cast<stopping *>(s->private_data)->objects; };
  st.s.scan_objects = [](shrinker *s, shrink_control *sc) {
    static_cast<stopping *>(s->private_data)->asked.push_back(sc->nr_to_scan);
    return SHRINK_STOP;
  };
  st.s.private_data = &st;
  register_shrinker(*m.ms, &st.s);
  EXPECT_EQ(try_to_free_pages(*m.ms, GFP_KERNEL, 0, 0), 0ul);
  EXPECT_EQ(st.asked, std::vector<unsigned long>(13, 128));
  unregister_shrinker(*m.ms, &st.s);
}

// ---- alloc_contig_range and isolation ------------------------------------------------------------

// alloc_contig_range moves a range's movable pages out in one pass when
// every migration succeeds: each page of the range is looked at once
// (compact_migrate_scanned grows by the range's length, as Linux's one
// isolate_migratepages_range over it), not again in later rounds.
TEST(CompactionEdges, AllocContigRangeScansOnceWhenEverythingMoves) {
  machine m;
  const unsigned long start = m.block(4), end = start + 64;
  ASSERT_EQ(alloc_contig_range(*m.ms, start, end, GFP_KERNEL), 0);
  for (unsigned long pfn = start; pfn < end; pfn++) m.owner->adopt(m.pg(pfn));
  const unsigned long scanned = vm_event(*m.ms, COMPACTMIGRATE_SCANNED);
  ASSERT_EQ(alloc_contig_range(*m.ms, start, end, GFP_KERNEL), 0);
  EXPECT_EQ(vm_event(*m.ms, COMPACTMIGRATE_SCANNED) - scanned, end - start);
  EXPECT_EQ(m.owner->moved.size(), end - start);
  for (auto [src, dst] : m.owner->moved) EXPECT_TRUE(dst < start || dst >= end) << dst;
  EXPECT_EQ(free_contig_range(*m.ms, start, end - start), 0ul);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// isolate_pageblock_drained (the isolation of one pageblock, for a caller
// that drained once for many) refuses a pfn whose pageblock is not wholly
// in the zone with -EINVAL, and changes nothing.
TEST(CompactionEdges, IsolatePageblockOutsideTheZoneIsEinval) {
  machine m;
  const unsigned long end = zone_end_pfn(m.z);
  EXPECT_EQ(isolate_pageblock_drained(m.z, end), -EINVAL);
  EXPECT_EQ(isolate_pageblock_drained(m.z, end + pageblock_nr_pages), -EINVAL);
  EXPECT_EQ(isolate_pageblock_drained(m.z, m.start() - 1), -EINVAL);
  for (unsigned i = 0; i < m.nr_blocks(); i++) EXPECT_NE(type_of(m.z, m.block(i)), MIGRATE_ISOLATE) << i;
  // A pageblock of the zone is isolated, and given back.
  const unsigned long b = m.block(3);
  const int was = type_of(m.z, b);
  drain_all_pages(*m.ms);
  EXPECT_EQ(isolate_pageblock_drained(m.z, b + 5), 0);
  EXPECT_EQ(type_of(m.z, b), MIGRATE_ISOLATE);
  undo_isolate_page_range(*m.ms, b, b + pageblock_nr_pages);
  EXPECT_EQ(type_of(m.z, b), was);
  EXPECT_EQ(m.check(), "");
}

// ---- movable vmalloc: the owner's side ----------------------------------------------------------

struct vmalloc_machine {
  slabt::cpu_reset reset;
  vmalloc_fixture f;
  mem_system *ms = nullptr;
  uintptr_t va = 0;
  vmalloc_machine() {
    EXPECT_EQ(f.build(layout_kind::single_zone), 0);
    ms = f.slab.mm.ms.get();
    va = reinterpret_cast<uintptr_t>(vmalloc_movable(*f.vs, 2 * PAGE_SIZE));
    EXPECT_NE(va, 0u);
  }
  page *frame(uintptr_t a) const { return vmalloc_to_page(*f.vs, reinterpret_cast<void *>(a)); }
  pte_t *slot(uintptr_t a) const { return pgtable_leaf_slot(f.pt, a); }
};

// The owner checks under its own lock what isolate_movable_page checked
// without it (two isolators can both pass that look): a page already
// isolated, or no longer movable, is refused, and its reference count
// stays.
TEST(CompactionEdges, VmallocOwnerRefusesAnIsolatedPageUnderItsLock) {
  vmalloc_machine vm;
  page *p = vm.frame(vm.va);
  ASSERT_TRUE(PageMovable(p));
  const movable_operations &ops = vm.f.vs->mops;
  ASSERT_TRUE(ops.isolate_page(p, MIGRATE_SYNC));
  EXPECT_TRUE(PageIsolated(p));
  EXPECT_EQ(page_ref_count(p), 2);
  EXPECT_FALSE(ops.isolate_page(p, MIGRATE_SYNC));  // the second isolator
  EXPECT_EQ(page_ref_count(p), 2);
  list_head l;
  INIT_LIST_HEAD(&l);
  list_add(&p->lru, &l);
  putback_movable_pages(*vm.ms, &l);
  EXPECT_FALSE(PageIsolated(p));
  EXPECT_EQ(page_ref_count(p), 1);
  EXPECT_EQ(vm.f.check(), "");
}

// vmalloc_movable_slot names the slot only while it holds a valid leaf for
// the page: a migration entry for that very frame (the page is being
// moved) is no leaf, and gives nullptr.
TEST(CompactionEdges, VmallocMovableSlotNotForAMigrationEntry) {
  vmalloc_machine vm;
  vmalloc_system &vs = *vm.f.vs;
  page *p = vm.frame(vm.va);
  pte_t *slot = vm.slot(vm.va);
  ASSERT_NE(slot, nullptr);
  {
    spin_lock_guard g(vs.pt_lock);
    EXPECT_EQ(vmalloc_movable_slot(vs, p), slot);
    const pte_t leaf = *slot;
    *slot = make_migration_entry(page_to_phys(*vm.ms, p), smp_processor_id());
    EXPECT_EQ(vmalloc_movable_slot(vs, p), nullptr);
    *slot = leaf;
    EXPECT_EQ(vmalloc_movable_slot(vs, p), slot);
  }
  EXPECT_EQ(vm.f.check(), "");
}

// Nor for an index in the range with no table under it.
TEST(CompactionEdges, VmallocMovableSlotNotWithoutATable) {
  vmalloc_machine vm;
  vmalloc_system &vs = *vm.f.vs;
  page *p = vm.frame(vm.va);
  const uintptr_t far = vs.space.end - PAGE_SIZE;
  ASSERT_EQ(pgtable_leaf_slot(vm.f.pt, far), nullptr);
  {
    spin_lock_guard g(vs.pt_lock);
    const unsigned long index = p->index;
    p->index = far;
    EXPECT_EQ(vmalloc_movable_slot(vs, p), nullptr);
    p->index = index;
    EXPECT_EQ(vmalloc_movable_slot(vs, p), vm.slot(vm.va));
  }
  EXPECT_EQ(vm.f.check(), "");
}

// A fault on a page whose migration entry names the faulting CPU itself
// must not wait (the migration could never end: Linux's own-CPU case);
// another CPU's entry is waited out. A helper ends the "migration" after a
// while either way, so that a wait that should not happen shows as a
// return of true, not as a hang.
TEST(CompactionEdges, MigrationEntryWaitNeverWaitsForItsOwnCpu) {
  vmalloc_machine vm;
  pte_t *slot = vm.slot(vm.va);
  ASSERT_NE(slot, nullptr);
  const pte_t leaf = *slot;
  const phys_addr_t pa = page_to_phys(*vm.ms, vm.frame(vm.va));
  for (bool own : {true, false}) {
    const unsigned cpu = own ? smp_processor_id() : (smp_processor_id() + 1) & 0xff;
    __atomic_store_n(slot, make_migration_entry(pa, cpu), __ATOMIC_RELEASE);
    std::thread migrator([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      __atomic_store_n(slot, leaf, __ATOMIC_RELEASE);
    });
    const bool waited = migration_entry_wait(vm.f.pt, vm.va + 8);
    migrator.join();
    EXPECT_EQ(waited, !own) << own;
  }
  EXPECT_EQ(*slot, leaf);
  EXPECT_EQ(vm.f.check(), "");
}

// After migrate_page the page's translation is the new frame's on every
// CPU, the migrating one included, whatever a TLB cached while the
// migration entry was live. The simulated TLB caches valid translations
// only; a fill by an access in flight can come after the shootdown's flush
// (host_tlb_shootdown waits for it to end, not to start), which this test
// makes certain by filling the old translation when the shootdown
// completes. A write through the address then reaches the new frame.
uintptr_t g_stale_va;
phys_addr_t g_stale_pa;
void fill_stale(uintptr_t start, size_t size) {
  if (g_stale_va >= start && g_stale_va < start + size) host_tlb_fill(g_stale_va, g_stale_pa);
}

TEST(CompactionEdges, VmallocMigrationLeavesNoStaleTranslation) {
  vmalloc_machine vm;
  page *old = vm.frame(vm.va);
  std::vector<unsigned char> pattern(PAGE_SIZE, 0x5a);
  ASSERT_TRUE(vm.f.vwrite(vm.va, pattern.data(), pattern.size()));
  ASSERT_TRUE(isolate_movable_page(*vm.ms, old, MIGRATE_SYNC));
  list_head l;
  INIT_LIST_HEAD(&l);
  list_add(&old->lru, &l);
  g_stale_va = vm.va;
  g_stale_pa = page_to_phys(*vm.ms, old);
  host_shootdown_observer = fill_stale;
  unsigned done = 0;
  const int left = migrate_pages(
      *vm.ms, &l, [](page *, void *priv) { return alloc_pages(*static_cast<mem_system *>(priv), GFP_KERNEL | __GFP_MOVABLE, 0); },
      [](page *p, void *priv) { __free_pages(*static_cast<mem_system *>(priv), p, 0); }, vm.ms, MIGRATE_SYNC, MR_COMPACTION,
      &done);
  host_shootdown_observer = nullptr;
  EXPECT_EQ(left, 0);
  EXPECT_EQ(done, 1u);
  page *now = vm.frame(vm.va);
  ASSERT_NE(now, old);
  EXPECT_EQ(vm.f.check(), "");
  std::vector<unsigned char> fresh(PAGE_SIZE, 0xc3);
  ASSERT_TRUE(vm.f.vwrite(vm.va, fresh.data(), fresh.size()));
  EXPECT_EQ(memcmp(page_address(*vm.ms, now), fresh.data(), PAGE_SIZE), 0);
  host_tlb_flush(0, 0);
}

}  // namespace

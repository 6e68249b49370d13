// Who compacts and what moves, each rule with the exact value Linux's rule
// gives: the slow path's order of compaction and reclaim, kswapd and
// kcompactd, proactive compaction, migrate_pages and the movable-page
// interface, the free path's checks, page isolation and alloc_contig_range.
// The machine and the test owner are in proptest/compaction_rules_fixture.h.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "proptest/compaction_rules_fixture.h"

namespace {

using namespace compaction_rules;

// ---- the slow path -----------------------------------------------------------------------

// Lower half UNMOVABLE: async direct compaction for a GFP_KERNEL request
// has sources there and targets in the MOVABLE upper half.
void unmovable_lower_half(machine &m) {
  for (unsigned i = 0; i < m.nr_blocks() / 2; i++) set_type(m.z, m.block(i), MIGRATE_UNMOVABLE);
}

TEST(CompactionRules, CostlyKernelRequestCompactsBeforeAnyShrinker) {
  machine m;
  m.fragment();
  unmovable_lower_half(m);
  recording_shrinker rec(*m.ms);
  const unsigned long stall = vm_event(*m.ms, COMPACTSTALL), ok = vm_event(*m.ms, COMPACTSUCCESS),
                      fail = vm_event(*m.ms, COMPACTFAIL);
  page *p = alloc_pages(*m.ms, GFP_KERNEL, 4);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(rec.stalls_at_call.empty());
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL) - stall, 1ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSUCCESS) - ok, 1ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTFAIL), fail);
  EXPECT_FALSE(m.owner->moved.empty());
  for (auto [src, dst] : m.owner->moved) EXPECT_EQ(type_of(m.z, src), MIGRATE_UNMOVABLE);
  __free_pages(*m.ms, p, 4);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

TEST(CompactionRules, CostlyNoretryFailsWithoutReclaimWhenSkipped) {
  machine m;
  m.fragment();
  m.ms->extfrag_threshold = 1000;  // compaction_suitable says no
  recording_shrinker rec(*m.ms);
  const unsigned long stall = vm_event(*m.ms, COMPACTSTALL), fail = vm_event(*m.ms, COMPACTFAIL);
  EXPECT_EQ(alloc_pages(*m.ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_NORETRY | __GFP_NOWARN, 5), nullptr);
  EXPECT_TRUE(rec.stalls_at_call.empty());
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL), stall);  // skipped: nothing counted
  EXPECT_EQ(vm_event(*m.ms, COMPACTFAIL), fail);
  EXPECT_EQ(m.owner->isolations, 0ul);
  // Without __GFP_NORETRY it goes on to reclaim.
  EXPECT_EQ(alloc_pages(*m.ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_NOWARN, 5), nullptr);
  EXPECT_FALSE(rec.stalls_at_call.empty());
  m.ms->extfrag_threshold = 500;
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// Compaction that runs and fails: stall + fail.
TEST(CompactionRules, DirectCompactionThatFailsCountsStallAndFail) {
  machine m;
  m.fragment();
  for (page *p : m.owner->pages) m.owner->refuse.insert(m.owner->pfn(p));
  const unsigned long stall = vm_event(*m.ms, COMPACTSTALL), ok = vm_event(*m.ms, COMPACTSUCCESS),
                      fail = vm_event(*m.ms, COMPACTFAIL);
  EXPECT_EQ(alloc_pages(*m.ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_NORETRY | __GFP_NOWARN, 5), nullptr);
  // Async before reclaim (fails), then once more after it (fails): two
  // stalls, both async (a costly __GFP_NORETRY caller wants it cheap).
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL) - stall, 2ul);
  EXPECT_EQ(m.owner->isolate_modes, std::set<int>{MIGRATE_ASYNC});
  EXPECT_EQ(vm_event(*m.ms, COMPACTFAIL) - fail, 2ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSUCCESS), ok);
  m.owner->refuse.clear();
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// Up to PAGE_ALLOC_COSTLY_ORDER (3) a movable request is not costly.
TEST(CompactionRules, MovableUpToCostlyOrderCompactsOnlyAfterReclaim) {
  for (unsigned order : {1u, unsigned(PAGE_ALLOC_COSTLY_ORDER)}) {
    SCOPED_TRACE("order " + std::to_string(order));
    machine m;
    m.fragment();
    recording_shrinker rec(*m.ms);
    const unsigned long stall = vm_event(*m.ms, COMPACTSTALL), ok = vm_event(*m.ms, COMPACTSUCCESS);
    page *p = alloc_pages(*m.ms, GFP_KERNEL | __GFP_MOVABLE, order);
    ASSERT_NE(p, nullptr);
    ASSERT_FALSE(rec.stalls_at_call.empty());
    EXPECT_EQ(rec.stalls_at_call.front(), stall);  // reclaim came first
    EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL) - stall, 1ul);
    EXPECT_EQ(vm_event(*m.ms, COMPACTSUCCESS) - ok, 1ul);
    __free_pages(*m.ms, p, order);
    m.release_all();
    EXPECT_EQ(m.check(), "");
  }
}

// should_compact_retry: direct compaction that fails at the default
// priority (sync light, which heeds the pageblock skip hints) is tried again
// at the highest, which ignores them; without that retry a request the
// hints hide every source and target from would fail.
TEST(CompactionRules, FailedCompactionRetriesAtAHigherPriority) {
  machine m;
  m.fragment();
  for (unsigned i = 0; i < m.nr_blocks(); i++)
    set_pfnblock_flags_mask(m.z, m.block(i), 1ul << PB_migrate_skip, 1ul << PB_migrate_skip);
  const unsigned long stall = vm_event(*m.ms, COMPACTSTALL), ok = vm_event(*m.ms, COMPACTSUCCESS),
                      fail = vm_event(*m.ms, COMPACTFAIL);
  page *p = alloc_pages(*m.ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_NOWARN, 1);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL) - stall, 2ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTFAIL) - fail, 1ul);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSUCCESS) - ok, 1ul);
  EXPECT_FALSE(m.owner->moved.empty());
  __free_pages(*m.ms, p, 1);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// A request compaction cannot serve at any priority ends: sync light,
// then once at the highest (sync full), and no round beyond it; for orders
// up to PAGE_ALLOC_COSTLY_ORDER, the last included.
TEST(CompactionRules, CompactionRetriesStopAtTheHighestPriority) {
  for (unsigned order : {1u, unsigned(PAGE_ALLOC_COSTLY_ORDER)}) {
    SCOPED_TRACE("order " + std::to_string(order));
    machine m;
    m.fragment();
    for (page *p : m.owner->pages) m.owner->refuse.insert(m.owner->pfn(p));
    const unsigned long stall = vm_event(*m.ms, COMPACTSTALL), fail = vm_event(*m.ms, COMPACTFAIL);
    EXPECT_EQ(alloc_pages(*m.ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_NOWARN, order), nullptr);
    EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL) - stall, 2ul);
    EXPECT_EQ(vm_event(*m.ms, COMPACTFAIL) - fail, 2ul);
    m.owner->refuse.clear();
    m.release_all();
    EXPECT_EQ(m.check(), "");
  }
}

// An order-0 request never compacts: a free page is a whole order-0 block,
// so no move of pages can make one. It fails after reclaim alone.
TEST(CompactionRules, Order0NeverCompacts) {
  machine m;
  m.fragment();
  while (page *p = alloc_pages(*m.ms, GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY, 0)) m.pins.push_back({p, 0});
  recording_shrinker rec(*m.ms);
  const unsigned long stall = vm_event(*m.ms, COMPACTSTALL);
  EXPECT_EQ(alloc_pages(*m.ms, GFP_KERNEL | __GFP_MOVABLE | __GFP_NOWARN, 0), nullptr);
  EXPECT_FALSE(rec.stalls_at_call.empty());
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL), stall);
  EXPECT_EQ(m.owner->isolate_calls, 0ul);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// No direct reclaim, no direct compaction: kswapd is woken for the order,
// and kswapd hands the order to kcompactd, which compacts.
TEST(CompactionRules, AtomicNeverCompactsButKcompactdDoes) {
  machine m;
  m.fragment();
  pglist_data *pgdat = m.ms->node_data[0];
  const unsigned long stall = vm_event(*m.ms, COMPACTSTALL), wake = vm_event(*m.ms, KCOMPACTD_WAKE);
  EXPECT_EQ(alloc_pages(*m.ms, GFP_ATOMIC | __GFP_NOWARN, 4), nullptr);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL), stall);
  EXPECT_EQ(m.owner->isolations, 0ul);
  EXPECT_TRUE(pgdat->kswapd_wanted);
  EXPECT_EQ(pgdat->kswapd_order, 4);
  kswapd_run(*m.ms);
  EXPECT_EQ(pgdat->kcompactd_wanted, 1);
  EXPECT_EQ(pgdat->kcompactd_max_order, 4);
  m.ms->compaction_proactiveness = 0;  // only the wake-up's work
  const unsigned long ms0 = vm_event(*m.ms, COMPACTMIGRATE_SCANNED), fs0 = vm_event(*m.ms, COMPACTFREE_SCANNED),
                      kms0 = vm_event(*m.ms, KCOMPACTD_MIGRATE_SCANNED), kfs0 = vm_event(*m.ms, KCOMPACTD_FREE_SCANNED);
  kcompactd_run_node(*m.ms, pgdat, 0);
  EXPECT_EQ(vm_event(*m.ms, KCOMPACTD_WAKE) - wake, 1ul);
  EXPECT_EQ(pgdat->kcompactd_wanted, 0);
  EXPECT_EQ(pgdat->kcompactd_max_order, 0);
  // The wake-up's classzone is spent too: back to the highest zone.
  EXPECT_EQ(pgdat->kcompactd_highest_zoneidx, int(MAX_NR_ZONES) - 1);
  EXPECT_GT(vm_event(*m.ms, KCOMPACTD_MIGRATE_SCANNED), kms0);
  EXPECT_EQ(vm_event(*m.ms, KCOMPACTD_MIGRATE_SCANNED) - kms0, vm_event(*m.ms, COMPACTMIGRATE_SCANNED) - ms0);
  EXPECT_EQ(vm_event(*m.ms, KCOMPACTD_FREE_SCANNED) - kfs0, vm_event(*m.ms, COMPACTFREE_SCANNED) - fs0);
  EXPECT_EQ(vm_event(*m.ms, COMPACTSTALL), stall);
  page *p = alloc_pages(*m.ms, GFP_ATOMIC | __GFP_NOWARN, 4);
  EXPECT_NE(p, nullptr);
  if (p) __free_pages(*m.ms, p, 4);
  // Not wanted: a second run does no work.
  kcompactd_run_node(*m.ms, pgdat, 0);
  EXPECT_EQ(vm_event(*m.ms, KCOMPACTD_WAKE) - wake, 1ul);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// kcompactd's compaction defers like direct compaction's: a pass that
// found nothing defers the order, a deferred order is not compacted (the
// wake-up still counts), a success resets the failed order.
TEST(CompactionRules, KcompactdDefers) {
  machine m;
  m.fragment();
  pglist_data *pgdat = m.ms->node_data[0];
  m.ms->compaction_proactiveness = 0;
  for (page *p : m.owner->pages) m.owner->refuse.insert(m.owner->pfn(p));
  const unsigned long wake = vm_event(*m.ms, KCOMPACTD_WAKE);
  wakeup_kcompactd(pgdat, 9, ZONE_DMA32);
  kcompactd_run_node(*m.ms, pgdat, 0);
  EXPECT_EQ(m.z->compact_defer_shift, 1u);
  EXPECT_EQ(m.z->compact_order_failed, 9);
  const unsigned long scanned = vm_event(*m.ms, COMPACTMIGRATE_SCANNED);
  wakeup_kcompactd(pgdat, 9, ZONE_DMA32);
  kcompactd_run_node(*m.ms, pgdat, 0);
  EXPECT_EQ(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);  // deferred
  EXPECT_EQ(vm_event(*m.ms, KCOMPACTD_WAKE) - wake, 2ul);
  m.owner->refuse.clear();
  // The failed pass left every pageblock hinted (each one's last scan
  // isolated nothing); kswapd's balancing would flag them stale.
  m.z->compact_blockskip_flush = true;
  wakeup_kcompactd(pgdat, 9, ZONE_DMA32);  // the 2nd consideration: due again
  kcompactd_run_node(*m.ms, pgdat, 0);
  EXPECT_GT(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);
  EXPECT_EQ(m.z->compact_order_failed, 10);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// wakeup_kswapd on a node balanced for the order: kcompactd directly, for
// a caller that cannot compact itself only.
TEST(CompactionRules, BalancedWakeGoesToKcompactdForNonBlockingCallers) {
  machine m;
  pglist_data *pgdat = m.ms->node_data[0];
  wakeup_kswapd(m.z, GFP_KERNEL, 3, ZONE_DMA32);
  EXPECT_EQ(pgdat->kcompactd_wanted, 0);
  EXPECT_FALSE(pgdat->kswapd_wanted);
  wakeup_kswapd(m.z, GFP_ATOMIC, 3, ZONE_DMA32);
  EXPECT_EQ(pgdat->kcompactd_wanted, 1);
  EXPECT_EQ(pgdat->kcompactd_max_order, 3);
  EXPECT_FALSE(pgdat->kswapd_wanted);
  wakeup_kcompactd(pgdat, 2, ZONE_DMA32);  // a lower order keeps the higher
  EXPECT_EQ(pgdat->kcompactd_max_order, 3);
  pgdat->kcompactd_wanted = 0;
  wakeup_kcompactd(pgdat, 0, ZONE_DMA32);  // order 0 is no work of kcompactd's
  EXPECT_EQ(pgdat->kcompactd_wanted, 0);
}

// ---- proactive compaction ------------------------------------------------------------------

TEST(CompactionRules, ProactiveWatermarks) {
  machine m;
  EXPECT_EQ(m.ms->compaction_proactiveness, 20);
  const std::pair<int, std::pair<unsigned, unsigned>> cases[] = {
      {20, {80, 90}}, {100, {5, 15}}, {96, {5, 15}}, {95, {5, 15}}, {91, {9, 19}},
      {0, {100, 100}}, {1, {99, 100}}, {9, {91, 100}}, {50, {50, 60}}};
  for (auto [p, want] : cases) {
    m.ms->compaction_proactiveness = p;
    EXPECT_EQ(fragmentation_score_wmark(*m.ms, true), want.first) << p;
    EXPECT_EQ(fragmentation_score_wmark(*m.ms, false), want.second) << p;
  }
}

// The zone's score is the unusable index at pageblock order in percent;
// the node's weighs each zone by present pages over node_present_pages + 1.
TEST(CompactionRules, FragmentationScores) {
  machine m;
  pglist_data *pgdat = m.ms->node_data[0];
  m.fragment();
  EXPECT_EQ(fragmentation_score_zone(m.z), 100u);  // no free pageblock at all
  EXPECT_EQ(fragmentation_score_node(pgdat), 100 * m.z->present_pages / (pgdat->node_present_pages + 1));
  EXPECT_EQ(fragmentation_score_node(pgdat), 99u);
  // One pageblock of owner pages freed: 512 of the free pages are usable.
  unsigned c = 0;
  while (!m.clean(c)) c++;
  std::vector<page *> v;
  for (page *p : m.owner->pages)
    if (pageblock_start_pfn(m.owner->pfn(p)) == m.block(c)) v.push_back(p);
  for (page *p : v) m.owner->release(p);
  drain_all_pages(*m.ms);
  const unsigned long free = free_pages(m.z);
  EXPECT_EQ(fragmentation_score_zone(m.z), (free - pageblock_nr_pages) * 100 / free);
  m.release_all();
}

TEST(CompactionRules, ProactiveCompactionDueEveryIntervalAndOffAtZero) {
  machine m;
  m.fragment();
  pglist_data *pgdat = m.ms->node_data[0];
  ASSERT_GT(fragmentation_score_node(pgdat), 90u);
  m.ms->compaction_proactiveness = 0;
  const unsigned long scanned = vm_event(*m.ms, COMPACTMIGRATE_SCANNED), wake = vm_event(*m.ms, KCOMPACTD_WAKE);
  kcompactd_run_node(*m.ms, pgdat, 1000);
  EXPECT_EQ(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);
  EXPECT_EQ(pgdat->proactive_next, 1000 + HPAGE_FRAG_CHECK_INTERVAL_MSEC);
  m.ms->compaction_proactiveness = 20;
  kcompactd_run_node(*m.ms, pgdat, 1499);
  EXPECT_EQ(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);
  EXPECT_EQ(pgdat->proactive_next, 1500ul);
  const unsigned long kms = vm_event(*m.ms, KCOMPACTD_MIGRATE_SCANNED);
  kcompactd_run_node(*m.ms, pgdat, 1500);
  EXPECT_GT(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);
  EXPECT_EQ(vm_event(*m.ms, KCOMPACTD_MIGRATE_SCANNED) - kms, vm_event(*m.ms, COMPACTMIGRATE_SCANNED) - scanned);
  EXPECT_EQ(vm_event(*m.ms, KCOMPACTD_WAKE), wake);  // proactive work is no wake-up
  EXPECT_EQ(pgdat->proactive_next, 2000ul);
  // It stopped once the zone's score was at the low mark or below, not
  // before (unless its scanners met).
  const unsigned score = fragmentation_score_zone(m.z);
  EXPECT_LE(score, 80u);
  EXPECT_GT(score, 60u);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// A node below the high mark is left alone.
TEST(CompactionRules, ProactiveCompactionNotBelowHighMark) {
  machine m;
  m.fragment();
  pglist_data *pgdat = m.ms->node_data[0];
  const unsigned score = fragmentation_score_node(pgdat);
  m.ms->compaction_proactiveness = 100 - int(score) + 10;  // high == score
  ASSERT_EQ(fragmentation_score_wmark(*m.ms, false), score);
  const unsigned long scanned = vm_event(*m.ms, COMPACTMIGRATE_SCANNED);
  kcompactd_run_node(*m.ms, pgdat, 0);
  EXPECT_EQ(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);
  m.ms->compaction_proactiveness = 100 - int(score) + 11;  // high == score - 1
  kcompactd_run_node(*m.ms, pgdat, HPAGE_FRAG_CHECK_INTERVAL_MSEC);
  EXPECT_GT(vm_event(*m.ms, COMPACTMIGRATE_SCANNED), scanned);
  m.release_all();
}

// ---- migration --------------------------------------------------------------------------

page *new_page_any(page *, void *priv) { return alloc_pages(*static_cast<mem_system *>(priv), GFP_KERNEL | __GFP_MOVABLE, 0); }
page *new_page_none(page *, void *) { return nullptr; }
void put_page_back(page *p, void *priv) { __free_pages(*static_cast<mem_system *>(priv), p, 0); }

TEST(CompactionRules, MigratePagesReturnsTheNumberNotMigrated) {
  machine m;
  page *a = m.owner->alloc(), *b = m.owner->alloc(), *c = m.owner->alloc();
  ASSERT_TRUE(a && b && c);
  list_head l;
  INIT_LIST_HEAD(&l);
  for (page *p : {a, b, c}) {
    ASSERT_TRUE(isolate_movable_page(*m.ms, p, MIGRATE_SYNC));
    EXPECT_EQ(page_ref_count(p), 2);
    list_add_tail(&p->lru, &l);
  }
  m.owner->refuse.insert(m.owner->pfn(b));
  const unsigned long ok = vm_event(*m.ms, PGMIGRATE_SUCCESS), fail = vm_event(*m.ms, PGMIGRATE_FAIL);
  unsigned succeeded = 99;
  EXPECT_EQ(migrate_pages(*m.ms, &l, new_page_any, put_page_back, m.ms, MIGRATE_ASYNC, MR_COMPACTION, &succeeded), 1);
  EXPECT_EQ(succeeded, 2u);
  EXPECT_EQ(m.owner->migrate_calls, 2u + 3u);  // b tried in each of the 3 async passes
  EXPECT_EQ(vm_event(*m.ms, PGMIGRATE_SUCCESS) - ok, 2ul);
  EXPECT_EQ(vm_event(*m.ms, PGMIGRATE_FAIL) - fail, 1ul);
  // b stays on the list, isolated, with both references.
  ASSERT_EQ(l.next, &b->lru);
  ASSERT_EQ(b->lru.next, &l);
  EXPECT_TRUE(PageIsolated(b));
  EXPECT_EQ(page_ref_count(b), 2);
  // a and c went (c's target may be a's freed frame).
  EXPECT_EQ(m.owner->moved.size(), 2u);
  EXPECT_EQ(m.owner->moved.count(m.owner->pfn(a)) + m.owner->moved.count(m.owner->pfn(c)), 2u);
  EXPECT_EQ(m.owner->pages.size(), 3u);
  const unsigned long bad = m.ms->bad_pages;
  putback_movable_pages(*m.ms, &l);
  EXPECT_EQ(m.ms->bad_pages, bad);  // the isolator's reference is not the last
  EXPECT_TRUE(list_empty(&l));
  EXPECT_FALSE(PageIsolated(b));
  EXPECT_TRUE(PageMovable(b));
  EXPECT_EQ(page_ref_count(b), 1);
  EXPECT_EQ(m.owner->putbacks, 1u);
  EXPECT_EQ(m.check(), "");
  // No target at all: every page fails at once (-ENOMEM stops the passes).
  m.owner->refuse.clear();
  ASSERT_TRUE(isolate_movable_page(*m.ms, b, MIGRATE_SYNC));
  list_add_tail(&b->lru, &l);
  const unsigned long calls = m.owner->migrate_calls;
  EXPECT_EQ(migrate_pages(*m.ms, &l, new_page_none, put_page_back, m.ms, MIGRATE_SYNC, MR_COMPACTION, nullptr), 1);
  EXPECT_EQ(m.owner->migrate_calls, calls);
  putback_movable_pages(*m.ms, &l);
  // Freed by its owner while isolated: not handed to migrate_page, put
  // back and freed by the putback.
  ASSERT_TRUE(isolate_movable_page(*m.ms, b, MIGRATE_SYNC));
  list_add_tail(&b->lru, &l);
  m.owner->release(b);
  EXPECT_EQ(page_ref_count(b), 1);
  const unsigned long calls2 = m.owner->migrate_calls;
  EXPECT_EQ(migrate_pages(*m.ms, &l, new_page_any, put_page_back, m.ms, MIGRATE_SYNC, MR_COMPACTION, nullptr), 1);
  EXPECT_EQ(m.owner->migrate_calls, calls2);
  putback_movable_pages(*m.ms, &l);
  EXPECT_EQ(page_ref_count(b), 0);
  EXPECT_EQ(m.ms->bad_pages, bad);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

TEST(CompactionRules, IsolateMovablePageRefusals) {
  machine m;
  page *plain = alloc_pages(*m.ms, GFP_KERNEL, 0);
  EXPECT_FALSE(isolate_movable_page(*m.ms, plain, MIGRATE_SYNC));
  EXPECT_EQ(page_ref_count(plain), 1);
  page *p = m.owner->alloc();
  ASSERT_TRUE(isolate_movable_page(*m.ms, p, MIGRATE_SYNC));
  EXPECT_FALSE(isolate_movable_page(*m.ms, p, MIGRATE_SYNC));  // already isolated
  EXPECT_EQ(page_ref_count(p), 2);
  EXPECT_EQ(m.owner->isolations, 1u);
  list_head l;
  INIT_LIST_HEAD(&l);
  list_add(&p->lru, &l);
  putback_movable_pages(*m.ms, &l);
  // Movable, but its mapping is no registered owner: its ops never run.
  movable_operations stranger = m.owner->ops;
  __SetPageMovable(plain, &stranger);
  EXPECT_EQ(page_movable_ops(*m.ms, plain), nullptr);
  EXPECT_FALSE(isolate_movable_page(*m.ms, plain, MIGRATE_SYNC));
  EXPECT_EQ(m.owner->isolations, 1u);
  EXPECT_EQ(page_ref_count(plain), 1);
  __ClearPageMovable(plain);
  plain->mapping = nullptr;
  __free_pages(*m.ms, plain, 0);
  // The owner's page, no longer movable (mapping stays the owner's): its
  // isolate_page is not asked.
  page *q = m.owner->alloc();
  __ClearPageMovable(q);
  const unsigned long calls = m.owner->isolate_calls;
  EXPECT_FALSE(isolate_movable_page(*m.ms, q, MIGRATE_SYNC));
  EXPECT_EQ(m.owner->isolate_calls, calls);
  __SetPageMovable(q, &m.owner->ops);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

TEST(CompactionRules, RegisterMovableOpsFillsUpAndDedups) {
  machine m;  // the owner holds one slot
  std::vector<movable_operations> more(mem_system::MAX_MOVABLE_OPS);
  unsigned registered = 0;
  for (auto &o : more) {
    int err = register_movable_ops(*m.ms, &o);
    if (err) {
      EXPECT_EQ(err, -ENOSPC);
      break;
    }
    registered++;
  }
  EXPECT_EQ(registered, mem_system::MAX_MOVABLE_OPS - 1);
  EXPECT_EQ(register_movable_ops(*m.ms, &more[0]), 0);  // already there: no second slot needed
  EXPECT_EQ(register_movable_ops(*m.ms, &m.owner->ops), 0);
  unregister_movable_ops(*m.ms, &more[0]);
  EXPECT_EQ(register_movable_ops(*m.ms, &more.back()), 0);  // the freed slot
  EXPECT_EQ(register_movable_ops(*m.ms, &more[0]), -ENOSPC);
  for (auto &o : more) unregister_movable_ops(*m.ms, &o);
}

// Movable vmalloc: migration keeps the bytes and frees the old frame; a
// page its owner vfree()d after the isolation is not migrated but freed by
// the putback; the checker stays clean throughout.
TEST(CompactionRules, VmallocMigrationAndFreeAfterIsolate) {
  slabt::cpu_reset reset;
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.slab.mm.ms;
  void *v = vmalloc_movable(*f.vs, 2 * PAGE_SIZE);
  ASSERT_NE(v, nullptr);
  const uintptr_t va = reinterpret_cast<uintptr_t>(v);
  std::vector<unsigned char> pattern(2 * PAGE_SIZE);
  for (size_t i = 0; i < pattern.size(); i++) pattern[i] = (unsigned char)(i * 7 + 3);
  ASSERT_TRUE(f.vwrite(va, pattern.data(), pattern.size()));
  page *old = vmalloc_to_page(*f.vs, v);
  ASSERT_TRUE(PageMovable(old));
  list_head l;
  INIT_LIST_HEAD(&l);
  ASSERT_TRUE(isolate_movable_page(ms, old, MIGRATE_SYNC));
  list_add_tail(&old->lru, &l);
  EXPECT_EQ(f.check(), "");
  unsigned done = 0;
  EXPECT_EQ(migrate_pages(ms, &l, new_page_any, put_page_back, &ms, MIGRATE_SYNC, MR_COMPACTION, &done), 0);
  EXPECT_EQ(done, 1u);
  page *now = vmalloc_to_page(*f.vs, v);
  EXPECT_NE(now, old);
  EXPECT_TRUE(PageMovable(now));
  EXPECT_EQ(now->index, va);
  EXPECT_EQ(page_ref_count(old), 0);
  EXPECT_FALSE(PageMovable(old));
  EXPECT_EQ(f.vs->migrating, 0u);
  std::vector<unsigned char> back(pattern.size());
  ASSERT_TRUE(f.vread(va, back.data(), back.size()));
  EXPECT_EQ(back, pattern);
  EXPECT_EQ(f.check(), "");

  // Isolated, then freed by its owner: the isolator's reference keeps it.
  page *second = vmalloc_to_page(*f.vs, reinterpret_cast<char *>(v) + PAGE_SIZE);
  ASSERT_TRUE(isolate_movable_page(ms, second, MIGRATE_SYNC));
  list_add_tail(&second->lru, &l);
  vfree(*f.vs, v);
  EXPECT_EQ(page_ref_count(second), 1);
  EXPECT_FALSE(PageMovable(second));
  EXPECT_TRUE(PageIsolated(second));
  EXPECT_EQ(f.check(), "");
  const unsigned long fail = vm_event(ms, PGMIGRATE_FAIL), ok = vm_event(ms, PGMIGRATE_SUCCESS);
  EXPECT_EQ(migrate_pages(ms, &l, new_page_any, put_page_back, &ms, MIGRATE_SYNC, MR_COMPACTION, &done), 1);
  EXPECT_EQ(done, 0u);
  EXPECT_EQ(vm_event(ms, PGMIGRATE_FAIL) - fail, 1ul);
  EXPECT_EQ(vm_event(ms, PGMIGRATE_SUCCESS), ok);
  const unsigned long bad = ms.bad_pages;
  putback_movable_pages(ms, &l);
  EXPECT_EQ(page_ref_count(second), 0);
  EXPECT_FALSE(PageIsolated(second));
  EXPECT_EQ(ms.bad_pages, bad);
  EXPECT_EQ(f.check(), "");
}

// vfree of a movable area waits for a migration of one of its pages to end
// before it unmaps anything (a migration entry is no leaf to unmap, and the
// frame is the migrator's until then): a vfree started on another CPU while
// the migration's shootdown is done but its new leaf not yet written has
// taken the area from lookups but not returned; once the migration ends it
// frees the new frame, and the old one goes back to the migrator. The
// migrating page is the area's first, then its last.
void vfree_during_migration(unsigned migrating) {
  SCOPED_TRACE(testing::Message() << "page " << migrating << " migrating");
  slabt::cpu_reset reset;
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.slab.mm.ms;
  static vmalloc_fixture *fp;
  static void *v;
  static std::atomic<bool> done, detached, done_during_migration;
  static std::atomic<unsigned> calls;
  static std::thread *freer;
  fp = &f;
  v = vmalloc_movable(*f.vs, 3 * PAGE_SIZE);
  ASSERT_NE(v, nullptr);
  const uintptr_t va = reinterpret_cast<uintptr_t>(v);
  page *old = vmalloc_to_page(*f.vs, static_cast<char *>(v) + migrating * PAGE_SIZE);
  list_head l;
  INIT_LIST_HEAD(&l);
  ASSERT_TRUE(isolate_movable_page(ms, old, MIGRATE_SYNC));
  list_add_tail(&old->lru, &l);
  done = detached = done_during_migration = false;
  calls = 0;
  std::thread t;
  freer = &t;
  host_shootdown_observer = [](uintptr_t, size_t) {
    if (calls++) return;
    *freer = std::thread([] {
      host_set_cpu(1);
      vfree(*fp->vs, v);
      done = true;
    });
    // Wait until the vfree has taken the area (so it is running), then give
    // it a while to finish: it must not, while the migration entry is there.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!detached && std::chrono::steady_clock::now() < give_up) {
      {
        spin_lock_irqsave_guard g(fp->vs->lock);
        vmap_area *a = vmap_find_busy_at(&fp->vs->space, reinterpret_cast<uintptr_t>(v));
        detached = !a || !a->vm;
      }
      std::this_thread::yield();
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    while (!done && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    done_during_migration = done.load();
  };
  unsigned moved = 0;
  const int left = migrate_pages(ms, &l, new_page_any, put_page_back, &ms, MIGRATE_SYNC, MR_COMPACTION, &moved);
  host_shootdown_observer = nullptr;
  if (t.joinable()) t.join();
  EXPECT_EQ(left, 0);
  EXPECT_EQ(moved, 1u);
  EXPECT_TRUE(detached.load()) << "the vfree never started";
  EXPECT_FALSE(done_during_migration.load()) << "vfree returned while a page of its area was migrating";
  EXPECT_TRUE(done.load());
  EXPECT_EQ(page_ref_count(old), 0);
  EXPECT_FALSE(PageMovable(old));
  EXPECT_EQ(f.vs->migrating, 0u);
  EXPECT_EQ(f.vs->movable_pages, 0ul);
  for (unsigned i = 0; i < 3; i++) EXPECT_FALSE(pgtable_walk(f.pt, va + i * PAGE_SIZE, nullptr)) << i;
  EXPECT_EQ(f.check(), "");
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(f.check(), "");
}

TEST(CompactionRules, VfreeWaitsForAMigrationOfItsArea) {
  vfree_during_migration(0);
  vfree_during_migration(2);
}

// ---- the free path ------------------------------------------------------------------------

TEST(CompactionRules, FreeingMovableOrIsolatedPagesIsABadPage) {
  machine m;
  page *p = m.owner->alloc();
  const unsigned long bad = m.ms->bad_pages;
  drain_all_pages(*m.ms);
  const unsigned long free = free_pages(m.z);
  __free_pages(*m.ms, p, 0);  // still PG_movable
  EXPECT_EQ(m.ms->bad_pages, bad + 1);
  EXPECT_EQ(page_ref_count(p), 1);
  EXPECT_TRUE(PageMovable(p));
  drain_all_pages(*m.ms);
  EXPECT_EQ(free_pages(m.z), free);
  // Isolated, the owner lets go properly; the isolator's last reference must
  // not find it still isolated.
  ASSERT_TRUE(isolate_movable_page(*m.ms, p, MIGRATE_SYNC));
  __ClearPageMovable(p);
  m.owner->pages.erase(p);
  __free_pages(*m.ms, p, 0);
  EXPECT_EQ(m.ms->bad_pages, bad + 1);
  EXPECT_EQ(page_ref_count(p), 1);
  __free_pages(*m.ms, p, 0);
  EXPECT_EQ(m.ms->bad_pages, bad + 2);
  EXPECT_EQ(page_ref_count(p), 1);
  EXPECT_TRUE(PageIsolated(p));
  // Putback ends it properly and frees it.
  list_head l;
  INIT_LIST_HEAD(&l);
  list_add(&p->lru, &l);
  putback_movable_pages(*m.ms, &l);
  EXPECT_EQ(page_ref_count(p), 0);
  EXPECT_EQ(m.ms->bad_pages, bad + 2);
  drain_all_pages(*m.ms);
  EXPECT_EQ(free_pages(m.z), free + 1);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// ---- page isolation and alloc_contig_range ----------------------------------------------------

TEST(CompactionRules, IsolationFailsOnUnmovableAndRestoresTypes) {
  machine m;
  const unsigned long first = m.block(4);
  const int types[] = {MIGRATE_UNMOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE};
  // A movable page in each of the first two (a wholly free pageblock
  // merges with a wholly free buddy pageblock and takes its type, as in
  // Linux), one page in use in the last, not movable.
  for (int i = 0; i < 2; i++) {
    const unsigned long pfn = first + i * pageblock_nr_pages + 3;
    ASSERT_EQ(alloc_contig_range(*m.ms, pfn, pfn + 1, GFP_KERNEL), 0);
    m.owner->adopt(m.pg(pfn));
  }
  const unsigned long pin_pfn = first + 2 * pageblock_nr_pages + 17;
  ASSERT_EQ(alloc_contig_range(*m.ms, pin_pfn, pin_pfn + 1, GFP_KERNEL), 0);
  for (int i = 0; i < 3; i++) set_type(m.z, first + i * pageblock_nr_pages, types[i]);
  page *pin = m.pg(pin_pfn);
  EXPECT_EQ(page_ref_count(pin), 1);
  const unsigned long end = first + 3 * pageblock_nr_pages;
  EXPECT_EQ(start_isolate_page_range(*m.ms, first, end), -EBUSY);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(type_of(m.z, first + i * pageblock_nr_pages), types[i]) << i;
    EXPECT_EQ(isolated_pageblock_saved_type(m.z, first + i * pageblock_nr_pages), 0) << i;
  }
  EXPECT_EQ(m.check(), "");
  // Movable, it no longer stands in the way.
  m.owner->adopt(pin);
  EXPECT_EQ(start_isolate_page_range(*m.ms, first, end), 0);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(type_of(m.z, first + i * pageblock_nr_pages), MIGRATE_ISOLATE) << i;
    EXPECT_EQ(isolated_pageblock_saved_type(m.z, first + i * pageblock_nr_pages), types[i]) << i;
  }
  EXPECT_EQ(m.check(), "");
  undo_isolate_page_range(*m.ms, first, end);
  for (int i = 0; i < 3; i++) EXPECT_EQ(type_of(m.z, first + i * pageblock_nr_pages), types[i]) << i;
  // HIGHATOMIC: busy, and nothing changes.
  set_type(m.z, first, MIGRATE_HIGHATOMIC);
  m.z->nr_reserved_highatomic += pageblock_nr_pages;
  EXPECT_EQ(start_isolate_page_range(*m.ms, first, end), -EBUSY);
  EXPECT_EQ(type_of(m.z, first), MIGRATE_HIGHATOMIC);
  for (int i = 1; i < 3; i++) EXPECT_EQ(type_of(m.z, first + i * pageblock_nr_pages), types[i]) << i;
  set_type(m.z, first, MIGRATE_MOVABLE);
  m.z->nr_reserved_highatomic -= pageblock_nr_pages;
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

TEST(CompactionRules, AllocContigRangeInvalidRanges) {
  slabt::cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_three_zones(f), 0);
  mem_system &ms = *f.ms;
  const zone *dma = &ms.node_data[0]->node_zones[ZONE_DMA];
  const unsigned long edge = zone_end_pfn(dma);
  EXPECT_EQ(alloc_contig_range(ms, edge - 4, edge - 4, GFP_KERNEL), -EINVAL);  // empty
  EXPECT_EQ(alloc_contig_range(ms, edge - 4, edge - 8, GFP_KERNEL), -EINVAL);  // backwards
  EXPECT_EQ(alloc_contig_range(ms, edge - 4, edge + 4, GFP_KERNEL), -EINVAL);  // across zones
  const unsigned long last = zone_end_pfn(&ms.node_data[0]->node_zones[ZONE_NORMAL]);
  EXPECT_EQ(alloc_contig_range(ms, last - 2, last + 2, GFP_KERNEL), -EINVAL);  // past memory
  EXPECT_EQ(alloc_contig_range(ms, 1, 3, GFP_KERNEL), -EINVAL);                // before it
  EXPECT_EQ(f.check(), "");
}

// Bad requests to the contiguous allocator get an error (a warning unless
// __GFP_NOWARN) and change nothing: no pages (0), contradictory zone
// modifiers, more than any zone holds; free_contig_range of pages that are
// not a contiguous allocation's reports each as a bad page and frees none.
TEST(CompactionRules, ContiguousAllocatorBadInput) {
  machine m;
  drain_all_pages(*m.ms);
  const unsigned long free_before = nr_free_pages(*m.ms) + nr_free_pcp_pages(*m.ms);
  const unsigned long bad_before = m.ms->bad_pages;
  log_buf_clear();
  EXPECT_EQ(alloc_contig_pages(*m.ms, 0, GFP_KERNEL | __GFP_NOWARN, NUMA_NO_NODE), nullptr);
  EXPECT_EQ(alloc_contig_pages(*m.ms, 16, GFP_KERNEL | __GFP_DMA | __GFP_DMA32 | __GFP_NOWARN, NUMA_NO_NODE), nullptr);
  EXPECT_EQ(slabt::read_log(), "") << "__GFP_NOWARN";
  EXPECT_EQ(alloc_contig_pages(*m.ms, 0, GFP_KERNEL, NUMA_NO_NODE), nullptr);
  EXPECT_NE(slabt::read_log().find("alloc_contig_pages: 0 pages"), std::string::npos) << slabt::read_log();
  EXPECT_EQ(alloc_contig_pages(*m.ms, m.z->spanned_pages + 1, GFP_KERNEL | __GFP_NOWARN, 0), nullptr);
  // A zone a request may not use is not searched: DMA only, on a machine
  // whose one zone is DMA32.
  EXPECT_EQ(alloc_contig_pages(*m.ms, 16, GFP_KERNEL | __GFP_DMA | __GFP_NOWARN, 0), nullptr);
  EXPECT_EQ(nr_free_pages(*m.ms) + nr_free_pcp_pages(*m.ms), free_before);
  // A page held twice is not freed; held once it is; free, it is a bad
  // page again and nothing changes.
  page *p = alloc_pages(*m.ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  get_page(p);
  const unsigned long pfn = page_to_pfn(*m.ms, p);
  EXPECT_EQ(free_contig_range(*m.ms, pfn, 1), 1ul);
  EXPECT_EQ(page_ref_count(p), 2);
  EXPECT_EQ(m.ms->bad_pages, bad_before + 1);
  __free_pages(*m.ms, p, 0);
  EXPECT_EQ(free_contig_range(*m.ms, pfn, 1), 0ul);
  drain_all_pages(*m.ms);
  EXPECT_EQ(nr_free_pages(*m.ms) + nr_free_pcp_pages(*m.ms), free_before);
  EXPECT_EQ(free_contig_range(*m.ms, pfn, 1), 1ul);
  EXPECT_EQ(m.ms->bad_pages, bad_before + 2);
  EXPECT_EQ(nr_free_pages(*m.ms) + nr_free_pcp_pages(*m.ms), free_before);
  EXPECT_EQ(m.check(), "");
}

// Which node a contiguous allocation comes from: the one asked for, else
// (NUMA_NO_NODE) the CPU's, and for a node without memory the nearest one;
// another node only when the first has no room, and never with
// __GFP_THISNODE.
TEST(CompactionRules, ContiguousAllocationNodes) {
  slabt::cpu_reset reset;
  mm_fixture f;
  mem_layout l = layout_with_limits(0, PFN_4G, PFN_MAX, 3);
  l.cpu_to_node[0] = 0;
  l.cpu_to_node[1] = 1;
  l.cpu_to_node[2] = 2;  // node 2 has no memory
  ASSERT_EQ(f.build({{SZ_4G - 16 * SZ_1M, 32 * SZ_1M, 0}, {SZ_4G + 16 * SZ_1M, 32 * SZ_1M, 1}}, l), 0);
  mem_system &ms = *f.ms;
  auto node_of = [&](int nid, gfp_t gfp) {
    page *p = alloc_contig_pages(ms, 16, gfp | __GFP_NOWARN, nid);
    if (!p) return -1;
    const int got = page_to_nid(p);
    EXPECT_EQ(free_contig_range(ms, page_to_pfn(ms, p), 16), 0ul);
    return got;
  };
  EXPECT_EQ(node_of(1, GFP_KERNEL), 1);
  EXPECT_EQ(node_of(0, GFP_KERNEL), 0);
  host_set_cpu(1);
  EXPECT_EQ(node_of(NUMA_NO_NODE, GFP_KERNEL), 1);
  host_set_cpu(2);
  EXPECT_EQ(node_of(NUMA_NO_NODE, GFP_KERNEL), 0) << "node 2 has no memory: the nearest, node 0 (the lower id)";
  EXPECT_EQ(node_of(2, GFP_KERNEL), 0);
  host_set_cpu(0);
  // Node 1 full of unmovable pages: another node serves, unless the
  // request says __GFP_THISNODE.
  std::vector<page *> held;
  while (page *p = alloc_pages_node(ms, 1, GFP_KERNEL | __GFP_THISNODE | __GFP_NOWARN, 0)) held.push_back(p);
  EXPECT_EQ(node_of(1, GFP_KERNEL), 0);
  EXPECT_EQ(node_of(1, GFP_KERNEL | __GFP_THISNODE), -1);
  for (page *p : held) __free_pages(ms, p, 0);
  EXPECT_EQ(node_of(1, GFP_KERNEL | __GFP_THISNODE), 1);
  EXPECT_EQ(f.check(), "");
}

// kcompactd_run runs every node's kcompactd: a wake-up on each node is
// taken, and the wake counted once per node.
TEST(CompactionRules, KcompactdRunCoversEveryNode) {
  slabt::cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_two_nodes(f), 0);
  mem_system &ms = *f.ms;
  const unsigned long wakes = vm_event(ms, KCOMPACTD_WAKE);
  unsigned nodes = 0;
  for_each_online_pgdat(ms, pgdat) {
    wakeup_kcompactd(pgdat, 9, int(MAX_NR_ZONES) - 1);
    nodes++;
  }
  ASSERT_EQ(nodes, 2u);
  kcompactd_run(ms, 0);
  EXPECT_EQ(vm_event(ms, KCOMPACTD_WAKE), wakes + nodes);
  for_each_online_pgdat(ms, pgdat) {
    EXPECT_EQ(__atomic_load_n(&pgdat->kcompactd_wanted, __ATOMIC_RELAXED), 0);
  }
  EXPECT_EQ(f.check(), "");
}

// The range's pages are the caller's; the rest of the first and last free
// blocks goes back free; types come back; free_contig_range undoes it.
TEST(CompactionRules, AllocContigRangeTakesExactlyTheRange) {
  machine m;
  drain_all_pages(*m.ms);
  const unsigned long free = free_pages(m.z);
  const unsigned long s = m.block(6) + 5, e = m.block(7) + 9;  // across a pageblock edge
  ASSERT_EQ(alloc_contig_range(*m.ms, s, e, GFP_KERNEL), 0);
  drain_all_pages(*m.ms);
  EXPECT_EQ(free_pages(m.z), free - (e - s));
  for (unsigned long pfn = s; pfn < e; pfn++) {
    EXPECT_EQ(page_ref_count(m.pg(pfn)), 1) << pfn;
    EXPECT_FALSE(PageBuddy(m.pg(pfn))) << pfn;
  }
  EXPECT_EQ(type_of(m.z, m.block(6)), MIGRATE_MOVABLE);
  EXPECT_EQ(type_of(m.z, m.block(7)), MIGRATE_MOVABLE);
  EXPECT_EQ(m.check(), "");
  EXPECT_EQ(free_contig_range(*m.ms, s, e - s), 0ul);
  drain_all_pages(*m.ms);
  EXPECT_EQ(free_pages(m.z), free);
  // Movable pages in the range move out; an unmovable one makes it -EBUSY
  // with nothing taken.
  m.fragment();
  drain_all_pages(*m.ms);
  const unsigned b = m.first_clean_block();
  const unsigned long fr = free_pages(m.z);
  const unsigned long owned = m.owned_in(m.block(b), m.block(b + 1));
  ASSERT_EQ(alloc_contig_range(*m.ms, m.block(b), m.block(b + 1), GFP_KERNEL), 0);
  EXPECT_EQ(m.owner->moved.size(), owned);
  for (auto [src, dst] : m.owner->moved) EXPECT_NE(pageblock_start_pfn(dst), m.block(b));
  drain_all_pages(*m.ms);
  // The range's free pages and as many targets for its movable ones.
  EXPECT_EQ(free_pages(m.z), fr - pageblock_nr_pages);
  EXPECT_EQ(m.check(), "");
  EXPECT_EQ(free_contig_range(*m.ms, m.block(b), pageblock_nr_pages), 0ul);
  std::vector<page *> pinned = pin_block(m, b + 1);
  const unsigned long isolations = m.owner->isolations;
  EXPECT_EQ(alloc_contig_range(*m.ms, m.block(b + 1), m.block(b + 2), GFP_KERNEL), -EBUSY);
  EXPECT_EQ(m.owner->isolations, isolations);
  EXPECT_EQ(type_of(m.z, m.block(b + 1)), MIGRATE_MOVABLE);
  for (page *p : pinned) EXPECT_EQ(page_ref_count(p), 1);
  unpin_block(m, pinned);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

}  // namespace

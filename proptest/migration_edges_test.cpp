// Migration, isolation and contiguous allocations at their edges (the
// companion of compaction_edges_test.cpp): migrate_pages' passes, what
// alloc_contig_range and alloc_contig_pages try and leave behind,
// isolation's errors, the pageblocks a range touches and what stands in
// their way, test_pages_isolated's walk, and movable vmalloc: the owner's
// checks under its lock, the migrating CPU's own entry, waiting out
// another's, the TLB after a migration. The machine and the test owner are
// compaction_rules_fixture.h's.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "arch/host/tlb.h"
#include "proptest/compaction_rules_fixture.h"

namespace {

using namespace compaction_rules;

// ---- migrate_pages' passes ----------------------------------------------------------------------

// An owner whose migrate_page always says -EBUSY (not -EAGAIN); counts
// its calls.
unsigned long g_busy_calls;
int busy_migrate(page *, page *, migrate_mode) {
  g_busy_calls++;
  return -EBUSY;
}
page *g_no_target_for;
page *new_page_except(page *src, void *priv) {
  return src == g_no_target_for ? nullptr : alloc_pages(*static_cast<mem_system *>(priv), GFP_KERNEL | __GFP_MOVABLE, 0);
}
void free_target(page *p, void *priv) { __free_pages(*static_cast<mem_system *>(priv), p, 0); }

// migrate_pages retries only a page whose owner said -EAGAIN (it may move
// on the next pass) and stops every pass at -ENOMEM (no target for one:
// none for the others): an -EBUSY page is tried once, whatever the mode;
// a refused page before a page without a target is tried once too.
TEST(MigrationEdges, MigratePagesRetriesOnlyEagainAndStopsAtEnomem) {
  machine m;
  movable_operations busy_ops = {owner_isolate, busy_migrate, owner_putback};
  ASSERT_EQ(register_movable_ops(*m.ms, &busy_ops), 0);
  page *x = m.owner->alloc();
  ASSERT_NE(x, nullptr);
  __SetPageMovable(x, &busy_ops);
  list_head l;
  INIT_LIST_HEAD(&l);
  g_no_target_for = nullptr;
  for (migrate_mode mode : {MIGRATE_ASYNC, MIGRATE_SYNC}) {
    ASSERT_TRUE(isolate_movable_page(*m.ms, x, mode));
    list_add_tail(&x->lru, &l);
    g_busy_calls = 0;
    EXPECT_EQ(migrate_pages(*m.ms, &l, new_page_except, free_target, m.ms, mode, MR_COMPACTION, nullptr), 1);
    EXPECT_EQ(g_busy_calls, 1ul) << mode;
    putback_movable_pages(*m.ms, &l);
  }
  __SetPageMovable(x, &m.owner->ops);
  // a refused (-EAGAIN), then c with no target (-ENOMEM): one pass.
  page *a = m.owner->alloc(), *c = m.owner->alloc();
  ASSERT_TRUE(a && c);
  m.owner->refuse.insert(m.owner->pfn(a));
  for (page *p : {a, c}) {
    ASSERT_TRUE(isolate_movable_page(*m.ms, p, MIGRATE_ASYNC));
    list_add_tail(&p->lru, &l);
  }
  const unsigned long calls = m.owner->migrate_calls;
  g_no_target_for = c;
  EXPECT_EQ(migrate_pages(*m.ms, &l, new_page_except, free_target, m.ms, MIGRATE_ASYNC, MR_COMPACTION, nullptr), 2);
  EXPECT_EQ(m.owner->migrate_calls - calls, 1ul);
  putback_movable_pages(*m.ms, &l);
  m.owner->refuse.clear();
  unregister_movable_ops(*m.ms, &busy_ops);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// A page whose owner let go of it after the isolation fails at once (its
// owner's -EAGAIN for a page no longer movable: nothing to retry), and
// migrate_pages goes on with the next page (as Linux, which gives up on
// every page only at -ENOMEM): the second page moves, the first stays on
// the list for the putback, which frees it.
TEST(MigrationEdges, MigratePagesGoesOnPastAPageItsOwnerFreed) {
  machine m;
  page *a = m.owner->alloc(), *b = m.owner->alloc();
  ASSERT_TRUE(a && b);
  list_head l;
  INIT_LIST_HEAD(&l);
  for (page *p : {a, b}) {
    ASSERT_TRUE(isolate_movable_page(*m.ms, p, MIGRATE_SYNC));
    list_add_tail(&p->lru, &l);
  }
  m.owner->release(a);
  const unsigned long b_pfn = m.owner->pfn(b);
  g_no_target_for = nullptr;
  unsigned done = 0;
  EXPECT_EQ(migrate_pages(*m.ms, &l, new_page_except, free_target, m.ms, MIGRATE_SYNC, MR_COMPACTION, &done), 1);
  EXPECT_EQ(done, 1u);
  EXPECT_EQ(m.owner->moved.count(b_pfn), 1u);
  ASSERT_FALSE(list_empty(&l));
  EXPECT_EQ(list_first_entry(&l, page, lru), a);
  putback_movable_pages(*m.ms, &l);
  EXPECT_EQ(page_ref_count(a), 0);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// ---- alloc_contig_range and isolation ------------------------------------------------------------

// alloc_contig_range moves a range's movable pages out in one pass when
// every migration succeeds: each page of the range is looked at once
// (compact_migrate_scanned grows by the range's length, as Linux's one
// isolate_migratepages_range over it), not again in later rounds.
TEST(MigrationEdges, AllocContigRangeScansOnceWhenEverythingMoves) {
  machine m;
  const unsigned long start = m.block(4), end = start + 64;
  ASSERT_EQ(alloc_contig_range(*m.ms, start, end, GFP_KERNEL), 0);
  // Its scan found nothing to move there, and leaves no skip hint for
  // compaction (Linux's no_set_skip_hint for alloc_contig_range).
  for (unsigned b = 0; b < m.nr_blocks(); b++) EXPECT_FALSE(skip_bit(m.z, m.block(b))) << b;
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
TEST(MigrationEdges, IsolatePageblockOutsideTheZoneIsEinval) {
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

// ---- alloc_contig_range and alloc_contig_pages, more --------------------------------------------

// A range whose movable page never moves (its owner refuses every time):
// alloc_contig_range tries CONTIG_MIGRATE_TRIES (5) rounds of synchronous
// migration (10 passes each), then fails with -EBUSY and leaves everything
// as it was: the page back with its owner, not isolated, one reference;
// every target it took given back; the pageblock's type restored.
TEST(MigrationEdges, AllocContigRangeGivesUpAfterItsRoundsAndRestores) {
  machine m;
  const unsigned long start = m.block(4), end = start + 32;
  take_range(m, start, end - start);
  for (unsigned long pfn = start; pfn < end; pfn++) m.owner->adopt(m.pg(pfn));
  page *stuck = m.pg(start + 7);
  m.owner->refuse.insert(start + 7);
  drain_all_pages(*m.ms);
  const unsigned long free = free_pages(m.z) + nr_free_pcp_pages(*m.ms);
  const int type = type_of(m.z, start);
  EXPECT_EQ(alloc_contig_range(*m.ms, start, end, GFP_KERNEL), -EBUSY);
  EXPECT_EQ(m.owner->migrate_calls, (end - start - 1) + 5ul * 10);
  EXPECT_FALSE(PageIsolated(stuck));
  EXPECT_TRUE(PageMovable(stuck));
  EXPECT_EQ(page_ref_count(stuck), 1);
  EXPECT_EQ(type_of(m.z, start), type);
  drain_all_pages(*m.ms);
  // The pages that moved left their frames free; the stuck one's targets came back.
  EXPECT_EQ(free_pages(m.z) + nr_free_pcp_pages(*m.ms), free);
  m.owner->refuse.clear();
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// alloc_contig_pages of one page tries every pfn (an alignment of 1) in
// turn. The first pageblock is made unusable (a page in use there, not
// movable), and the next one's first page is movable but never moves: the
// page after it is the one.
TEST(MigrationEdges, AllocContigPagesOfOnePageTriesEveryPfn) {
  machine m;
  const unsigned long next = m.block(1);
  take_range(m, m.start(), 1);
  take_range(m, next, 1);
  m.owner->adopt(m.pg(next));
  m.owner->refuse.insert(next);
  page *p = alloc_contig_pages(*m.ms, 1, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(page_to_pfn(*m.ms, p), next + 1);
  EXPECT_EQ(free_contig_range(*m.ms, next + 1, 1), 0ul);
  EXPECT_EQ(free_contig_range(*m.ms, m.start(), 1), 0ul);
  m.owner->refuse.clear();
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// Movable pages do not make a range unfit for alloc_contig_pages: they are
// moved out. On a fragmented zone every range holds some, and a 256-page
// allocation still succeeds, by migration.
TEST(MigrationEdges, AllocContigPagesMovesMovablePagesOut) {
  machine m;
  m.fragment();
  page *p = alloc_contig_pages(*m.ms, 256, GFP_KERNEL | __GFP_NOWARN, 0);
  ASSERT_NE(p, nullptr);
  const unsigned long pfn = page_to_pfn(*m.ms, p);
  EXPECT_EQ(pfn % 256, 0ul);
  EXPECT_FALSE(m.owner->moved.empty());
  for (auto [src, dst] : m.owner->moved) {
    EXPECT_TRUE(src >= pfn && src < pfn + 256) << src;
    EXPECT_TRUE(dst < pfn || dst >= pfn + 256) << dst;
  }
  EXPECT_EQ(free_contig_range(*m.ms, pfn, 256), 0ul);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// alloc_contig_pages takes from the node asked for, or with NUMA_NO_NODE
// from the current CPU's node: on two nodes of one zone each, CPUs 0-1 on
// node 0 and 2-3 on node 1.
TEST(MigrationEdges, AllocContigPagesOnTheNodeAskedFor) {
  slabt::cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_two_nodes(f), 0);
  mem_system &ms = *f.ms;
  auto nid_of = [&](int nid) {
    page *p = alloc_contig_pages(ms, 64, GFP_KERNEL, nid);
    if (!p) return -1;
    const int got = page_to_nid(p);
    EXPECT_EQ(free_contig_range(ms, page_to_pfn(ms, p), 64), 0ul);
    return got;
  };
  EXPECT_EQ(nid_of(1), 1);
  EXPECT_EQ(nid_of(0), 0);
  EXPECT_EQ(nid_of(NUMA_NO_NODE), 0);
  host_set_cpu(2);
  EXPECT_EQ(nid_of(NUMA_NO_NODE), 1);
  EXPECT_EQ(nid_of(0), 0);
  host_set_cpu(0);
  EXPECT_EQ(f.check(), "");
}

// The contiguous allocator's reports: a request no range can serve warns
// (Linux's alloc_contig_pages failure is silent, this one names the size
// and node) unless __GFP_NOWARN; free_contig_range reports each page that
// is not one of a contiguous allocation by its own pfn.
TEST(MigrationEdges, ContiguousAllocatorReportsNameTheRequestAndThePage) {
  machine m;
  const unsigned long too_many = m.z->spanned_pages + 1;
  log_buf_clear();
  EXPECT_EQ(alloc_contig_pages(*m.ms, 0, GFP_KERNEL, 0), nullptr);
  EXPECT_NE(slabt::read_log().find("alloc_contig_pages: 0 pages"), std::string::npos);
  log_buf_clear();
  EXPECT_EQ(alloc_contig_pages(*m.ms, too_many, GFP_KERNEL | __GFP_NOWARN, 0), nullptr);
  EXPECT_EQ(slabt::read_log().find("alloc_contig_pages"), std::string::npos);
  EXPECT_EQ(alloc_contig_pages(*m.ms, too_many, GFP_KERNEL, 0), nullptr);
  EXPECT_NE(slabt::read_log().find("alloc_contig_pages: no range of " + std::to_string(too_many) + " pages on node 0"),
            std::string::npos);
  // Three pages, the last two free already: two bad pages, at their pfns.
  const unsigned long b = m.block(5);
  take_range(m, b, 1);
  log_buf_clear();
  const unsigned long bad = m.ms->bad_pages;
  EXPECT_EQ(free_contig_range(*m.ms, b, 3), 2ul);
  EXPECT_EQ(m.ms->bad_pages, bad + 2);
  char want[64];
  for (unsigned long pfn : {b + 1, b + 2}) {
    snprintf(want, sizeof(want), "pfn:%05lx\n", pfn);
    EXPECT_NE(slabt::read_log().find(want), std::string::npos) << want;
  }
  drain_all_pages(*m.ms);
  EXPECT_EQ(m.check(), "");
}

// alloc_contig_pages is first fit from the zone's start, at the size's
// alignment: on a fresh machine a pageblock's worth is the zone's first
// pageblock.
TEST(MigrationEdges, AllocContigPagesIsFirstFitFromTheZoneStart) {
  machine m;
  page *p = alloc_contig_pages(*m.ms, pageblock_nr_pages, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(page_to_pfn(*m.ms, p), m.start());
  EXPECT_EQ(free_contig_range(*m.ms, m.start(), pageblock_nr_pages), 0ul);
  EXPECT_EQ(m.check(), "");
}

// The isolated free blocks of the range are the caller's whatever the
// zone's watermarks (they are not counted as free while isolated): a free
// range is taken with the zone below its min watermark.
TEST(MigrationEdges, AllocContigRangeIgnoresTheWatermarks) {
  machine m;
  const unsigned long start = m.block(5);
  m.z->_watermark[WMARK_MIN] = free_pages(m.z) + 1000;
  EXPECT_EQ(alloc_contig_range(*m.ms, start, start + 64, GFP_KERNEL), 0);
  init_per_zone_wmark_min(*m.ms);
  EXPECT_EQ(free_contig_range(*m.ms, start, 64), 0ul);
  EXPECT_EQ(m.check(), "");
}

// start_isolate_page_range refuses an empty range, or one beyond memory,
// with -EINVAL.
TEST(MigrationEdges, StartIsolateOfAnEmptyOrMissingRangeIsEinval) {
  machine m;
  const unsigned long beyond = zone_end_pfn(m.z) + 64 * pageblock_nr_pages;
  EXPECT_EQ(start_isolate_page_range(*m.ms, m.block(3), m.block(3)), -EINVAL);
  EXPECT_EQ(start_isolate_page_range(*m.ms, beyond, beyond + pageblock_nr_pages), -EINVAL);
  for (unsigned i = 0; i < m.nr_blocks(); i++) EXPECT_NE(type_of(m.z, m.block(i)), MIGRATE_ISOLATE) << i;
  // A range that runs past the zone's end is refused before anything is
  // touched: the per-CPU lists keep their pages.
  __free_page(*m.ms, alloc_page(*m.ms, GFP_KERNEL));
  const unsigned long pcp_pages = nr_free_pcp_pages(*m.ms);
  ASSERT_GT(pcp_pages, 0u);
  EXPECT_EQ(start_isolate_page_range(*m.ms, m.block(m.nr_blocks() - 1), zone_end_pfn(m.z) + 1), -EINVAL);
  EXPECT_EQ(nr_free_pcp_pages(*m.ms), pcp_pages);
  for (unsigned i = 0; i < m.nr_blocks(); i++) EXPECT_NE(type_of(m.z, m.block(i)), MIGRATE_ISOLATE) << i;
  EXPECT_EQ(m.check(), "");
}

// A page of a pageblock that its zone only partly spans (DMA from 1 MiB,
// in a 2 MiB pageblock) cannot be isolated: -EINVAL, before the per-CPU
// lists are drained.
TEST(MigrationEdges, IsolateOfAPartlySpannedPageblockIsEinvalAndDrainsNothing) {
  slabt::cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_three_zones(f), 0);
  mem_system &ms = *f.ms;
  const zone *dma = &ms.node_data[0]->node_zones[ZONE_DMA];
  ASSERT_NE(dma->zone_start_pfn % pageblock_nr_pages, 0u);
  __free_page(ms, alloc_page(ms, GFP_KERNEL));
  const unsigned long pcp_pages = nr_free_pcp_pages(ms);
  ASSERT_GT(pcp_pages, 0u);
  EXPECT_EQ(set_migratetype_isolate(ms, pfn_to_page(ms, dma->zone_start_pfn)), -EINVAL);
  EXPECT_EQ(nr_free_pcp_pages(ms), pcp_pages);
  EXPECT_EQ(get_pfnblock_migratetype(dma, dma->zone_start_pfn) == MIGRATE_ISOLATE, false);
  EXPECT_EQ(f.check(), "");
}

// undo_isolate_page_range of an empty range does nothing, wherever it is.
TEST(MigrationEdges, UndoIsolateOfAnEmptyRangeDoesNothing) {
  machine m;
  const unsigned long beyond = zone_end_pfn(m.z) + 64 * pageblock_nr_pages;
  undo_isolate_page_range(*m.ms, beyond, beyond);
  undo_isolate_page_range(*m.ms, m.block(3), m.block(3));
  EXPECT_EQ(m.check(), "");
}

// start_isolate_page_range isolates every pageblock the range touches (as
// Linux, which aligns both ends to pageblocks): a range from late in one
// pageblock to early in the next isolates both, though no page of the
// second lies a pageblock's length after the start, and undo of the same
// range gives both their types back. An undo ends at its end: the
// pageblock right after it, isolated by another range, stays isolated.
// A page freed to a per-CPU list in the range is no obstacle: the lists
// are drained first.
TEST(MigrationEdges, IsolateAndUndoCoverEveryPageblockTheRangeTouches) {
  machine m;
  const unsigned long b0 = m.block(4), b1 = m.block(5), b2 = m.block(6);
  const int t0 = type_of(m.z, b0), t1 = type_of(m.z, b1), t2 = type_of(m.z, b2);
  take_range(m, b0 + 3, 1);
  __free_page(*m.ms, m.pg(b0 + 3));
  ASSERT_TRUE(PagePcp(m.pg(b0 + 3)));
  const unsigned long start = b1 - 8, end = b1 + 4;
  EXPECT_EQ(start_isolate_page_range(*m.ms, start, end), 0);
  EXPECT_EQ(type_of(m.z, b0), MIGRATE_ISOLATE);
  EXPECT_EQ(type_of(m.z, b1), MIGRATE_ISOLATE);
  EXPECT_EQ(type_of(m.z, b2), t2);
  EXPECT_EQ(m.check(), "");
  undo_isolate_page_range(*m.ms, start, end);
  EXPECT_EQ(type_of(m.z, b0), t0);
  EXPECT_EQ(type_of(m.z, b1), t1);
  ASSERT_EQ(start_isolate_page_range(*m.ms, b2, b2 + 1), 0);
  ASSERT_EQ(start_isolate_page_range(*m.ms, b0, b2), 0);
  undo_isolate_page_range(*m.ms, b0, b2);
  EXPECT_EQ(type_of(m.z, b1), t1);
  EXPECT_EQ(type_of(m.z, b2), MIGRATE_ISOLATE);
  undo_isolate_page_range(*m.ms, b2, b2 + 1);
  EXPECT_EQ(type_of(m.z, b2), t2);
  EXPECT_EQ(m.check(), "");
}

// What makes a page an obstacle to its pageblock's isolation (Linux's
// has_unmovable_pages): a page isolated for migration whose owner let go
// of it meanwhile (PG_isolated without PG_movable; the isolator's putback
// frees it) is none; a reserved page is one, movable or not; and so is a
// page whose last reference is gone, whatever its flags said when read
// (it is on its way to a free list, a per-CPU one past the drain).
TEST(MigrationEdges, IsolationObstaclesFreedIsolatedReservedUnreferenced) {
  machine m;
  const unsigned long b = m.block(4);
  take_range(m, b + 10, 1);
  page *p = m.pg(b + 10);
  m.owner->adopt(p);
  ASSERT_TRUE(isolate_movable_page(*m.ms, p, MIGRATE_SYNC));
  m.owner->release(p);
  ASSERT_TRUE(PageIsolated(p) && !PageMovable(p) && page_ref_count(p) == 1);
  EXPECT_EQ(start_isolate_page_range(*m.ms, b, b + 1), 0);
  undo_isolate_page_range(*m.ms, b, b + 1);
  list_head l;
  INIT_LIST_HEAD(&l);
  list_add(&p->lru, &l);
  putback_movable_pages(*m.ms, &l);
  EXPECT_EQ(page_ref_count(p), 0);

  take_range(m, b + 20, 1);
  page *q = m.pg(b + 20);
  m.owner->adopt(q);
  set_page_flag(q, PG_reserved);
  EXPECT_EQ(start_isolate_page_range(*m.ms, b, b + 1), -EBUSY);
  clear_page_flag(q, PG_reserved);
  set_page_count(q, 0);
  EXPECT_EQ(start_isolate_page_range(*m.ms, b, b + 1), -EBUSY);
  set_page_count(q, 1);
  EXPECT_NE(type_of(m.z, b), MIGRATE_ISOLATE);
  EXPECT_EQ(start_isolate_page_range(*m.ms, b, b + 1), 0);
  undo_isolate_page_range(*m.ms, b, b + 1);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// test_pages_isolated walks the range's free blocks one by one: a free page
// right before a page in use does not carry the walk past that one ([x,
// x + 2) with x free and x + 1 held is -EBUSY, [x, x + 1) is fine).
TEST(MigrationEdges, TestPagesIsolatedWalksEveryFreeBlock) {
  machine m;
  const unsigned long x = m.block(4);
  take_range(m, x, 2);
  m.owner->adopt(m.pg(x));
  m.owner->adopt(m.pg(x + 1));
  ASSERT_EQ(start_isolate_page_range(*m.ms, x, x + 1), 0);
  m.owner->release(m.pg(x));
  ASSERT_TRUE(PageBuddy(m.pg(x)));
  EXPECT_EQ(test_pages_isolated(*m.ms, x, x + 2), -EBUSY);
  EXPECT_EQ(test_pages_isolated(*m.ms, x, x + 1), 0);
  undo_isolate_page_range(*m.ms, x, x + 1);
  m.release_all();
  EXPECT_EQ(m.check(), "");
}

// A range may end at its zone's end; one that runs on into the next zone
// is -EBUSY, even where the next zone's pageblock is isolated and free too
// (the walk holds one zone's lock). DMA's last pageblock and DMA32's first.
TEST(MigrationEdges, TestPagesIsolatedEndsAtTheZoneEnd) {
  slabt::cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_three_zones(f), 0);
  mem_system &ms = *f.ms;
  const zone *dma = &ms.node_data[0]->node_zones[ZONE_DMA];
  const unsigned long end = zone_end_pfn(dma), last = end - pageblock_nr_pages;
  ASSERT_EQ(start_isolate_page_range(ms, last, end), 0);
  ASSERT_EQ(start_isolate_page_range(ms, end, end + pageblock_nr_pages), 0);
  EXPECT_EQ(test_pages_isolated(ms, last, end), 0);
  EXPECT_EQ(test_pages_isolated(ms, last + 5, end), 0);
  EXPECT_EQ(test_pages_isolated(ms, end, end + pageblock_nr_pages), 0);
  EXPECT_EQ(test_pages_isolated(ms, last, end + 1), -EBUSY);
  undo_isolate_page_range(ms, last, end);
  undo_isolate_page_range(ms, end, end + pageblock_nr_pages);
  EXPECT_EQ(f.check(), "");
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
TEST(MigrationEdges, VmallocOwnerRefusesAnIsolatedPageUnderItsLock) {
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
// the page at the page's (page-aligned) index: a migration entry for that
// very frame (the page is being moved) is no leaf, and gives nullptr.
TEST(MigrationEdges, VmallocMovableSlotNotForAMigrationEntry) {
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
    // Nor for an index that is not a page's address in the range.
    const unsigned long index = p->index;
    p->index = index + 8;
    EXPECT_EQ(vmalloc_movable_slot(vs, p), nullptr);
    p->index = index;
  }
  EXPECT_EQ(vm.f.check(), "");
}

// Nor for an index in the range with no table under it.
TEST(MigrationEdges, VmallocMovableSlotNotWithoutATable) {
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

// Nor for an index outside the space, even where the table maps that
// address to the very frame: the kernel's table holds other mappings (the
// direct map), whose leaves vmalloc must never take over. The address just
// past the end, and the page just below the start.
TEST(MigrationEdges, VmallocMovableSlotNotOutsideTheSpace) {
  slabt::cpu_reset reset;
  vmalloc_fixture f;
  const uintptr_t start = VMALLOC_START_ADDR + SZ_16M, end = start + SZ_16M;
  ASSERT_EQ(f.build(layout_kind::single_zone, start, end), 0);
  vmalloc_system &vs = *f.vs;
  void *v = vmalloc_movable(vs, PAGE_SIZE);
  ASSERT_NE(v, nullptr);
  page *p = vmalloc_to_page(vs, v);
  for (uintptr_t outside : {end, start - PAGE_SIZE}) {
    ASSERT_EQ(pgtable_map(&f.pt, outside, page_to_phys(*vs.ms, p), PAGE_SIZE, PROT_READ | PROT_WRITE, 0, vs.pt_ops), 0);
    {
      spin_lock_guard g(vs.pt_lock);
      const unsigned long index = p->index;
      p->index = outside;
      EXPECT_EQ(vmalloc_movable_slot(vs, p), nullptr) << std::hex << outside;
      p->index = index;
      EXPECT_NE(vmalloc_movable_slot(vs, p), nullptr);
    }
    ASSERT_EQ(pgtable_unmap(&f.pt, outside, PAGE_SIZE, vs.pt_ops), 0);
  }
  vfree(vs, v);
  EXPECT_EQ(f.check(), "");
}

// wait_for_migration_entry returns what replaced the migration entry (what
// vfree and vmalloc_to_page go on with), and a slot's leaf at once when
// there is no migration.
TEST(MigrationEdges, WaitForMigrationEntryReturnsItsReplacement) {
  vmalloc_machine vm;
  pte_t *slot = vm.slot(vm.va);
  ASSERT_NE(slot, nullptr);
  const pte_t leaf = *slot;
  EXPECT_EQ(wait_for_migration_entry(slot), leaf);
  __atomic_store_n(slot, make_migration_entry(page_to_phys(*vm.ms, vm.frame(vm.va)), 1), __ATOMIC_RELEASE);
  std::thread migrator([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    __atomic_store_n(slot, leaf, __ATOMIC_RELEASE);
  });
  EXPECT_EQ(wait_for_migration_entry(slot), leaf);
  migrator.join();
  EXPECT_EQ(vm.f.check(), "");
}

// A fault on a page whose migration entry names the faulting CPU itself
// must not wait (the migration could never end: Linux's own-CPU case);
// another CPU's entry is waited out, to its end, and the page's cached
// translation dropped. A helper ends the "migration" after a while either
// way, so that a wait that should not happen shows as a return of true,
// not as a hang.
TEST(MigrationEdges, MigrationEntryWaitNeverWaitsForItsOwnCpu) {
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
    host_tlb_fill(vm.va, pa);  // what this hart may have cached for the page
    const bool waited = migration_entry_wait(vm.f.pt, vm.va + 8);
    const pte_t after = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    migrator.join();
    EXPECT_EQ(waited, !own) << own;
    if (!own) {
      // Waited until the migration ended, and dropped the page's cached
      // translation before the retry (RISC-V may cache the invalid entry).
      EXPECT_EQ(after, leaf);
      phys_addr_t cached;
      EXPECT_FALSE(host_tlb_lookup(vm.va, &cached));
    }
    host_tlb_flush(0, 0);
  }
  EXPECT_EQ(*slot, leaf);
  // A valid leaf is no migration: nothing to wait for, on any CPU; nor an
  // address with no table.
  host_set_cpu(1);
  EXPECT_FALSE(migration_entry_wait(vm.f.pt, vm.va));
  ASSERT_EQ(pgtable_leaf_slot(vm.f.pt, vm.f.vs->space.end - PAGE_SIZE), nullptr);
  EXPECT_FALSE(migration_entry_wait(vm.f.pt, vm.f.vs->space.end - PAGE_SIZE));
  host_set_cpu(0);
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

TEST(MigrationEdges, VmallocMigrationLeavesNoStaleTranslation) {
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

// ---- movable vmalloc, more ----------------------------------------------------------------------

// The owner's migrate_page for a page its area let go of after the
// isolation (vfree: not movable any more) says -EAGAIN and changes
// nothing: no migration entry, the target untouched.
TEST(MigrationEdges, VmallocMigratePageAfterVfreeIsEagain) {
  vmalloc_machine vm;
  page *p = vm.frame(vm.va);
  ASSERT_TRUE(isolate_movable_page(*vm.ms, p, MIGRATE_SYNC));
  vfree(*vm.f.vs, reinterpret_cast<void *>(vm.va));
  ASSERT_FALSE(PageMovable(p));
  page *dst = alloc_pages(*vm.ms, GFP_KERNEL | __GFP_MOVABLE, 0);
  ASSERT_NE(dst, nullptr);
  EXPECT_EQ(vm.f.vs->mops.migrate_page(dst, p, MIGRATE_SYNC), -EAGAIN);
  EXPECT_FALSE(PageMovable(dst));
  EXPECT_EQ(vm.f.vs->migrating, 0u);
  EXPECT_EQ(page_ref_count(dst), 1);
  __free_pages(*vm.ms, dst, 0);
  list_head l;
  INIT_LIST_HEAD(&l);
  list_add(&p->lru, &l);
  putback_movable_pages(*vm.ms, &l);
  EXPECT_EQ(page_ref_count(p), 0);
  EXPECT_EQ(vm.f.check(), "");
}

}  // namespace

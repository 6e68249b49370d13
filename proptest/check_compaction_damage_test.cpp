// The checker's rules for migration and isolation against damage, one at a
// time: migration entries whose old frame is wrong (free, not isolated, not
// movable, another page's) or that sit in an area that is not movable, the
// count of migrations in progress, movable areas' frames that are not
// movable or not theirs, an ordinary area's frame marked movable, movable
// pages with an owner that is not registered or an isolation without its
// reference, isolated pageblocks holding unmovable pages, a saved type left
// behind by an isolation, a malformed invalid entry. Each test breaks one
// thing, asserts the report names it, repairs it, and asserts the report is
// empty again (in TearDown).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mm/migrate.h"
#include "mm/page_alloc_internal.h"
#include "proptest/check_damage.h"
#include "proptest/vmalloc_fixture.h"

namespace {

using damage::expect_finds;
using damage::hex;

// A movable area of 4 pages and an ordinary one of 2, on the single-zone
// layout, per-CPU lists off (free pages are on buddy lists).
struct CheckDamageCompaction : ::testing::Test {
  vmalloc_fixture f;
  mem_system *ms = nullptr;
  uintptr_t mov = 0, plain = 0;

  void SetUp() override {
    ASSERT_EQ(f.build(layout_kind::single_zone), 0);
    ms = f.slab.mm.ms.get();
    mov = reinterpret_cast<uintptr_t>(vmalloc_movable(*f.vs, 4 * PAGE_SIZE));
    plain = reinterpret_cast<uintptr_t>(vmalloc(*f.vs, 2 * PAGE_SIZE));
    ASSERT_NE(mov, 0u);
    ASSERT_NE(plain, 0u);
    drain_all_pages(*ms);
    ms->pcp_disabled = true;
    host_tlb_flush(0, 0);  // nothing cached that a test's table edit would make stale
    ASSERT_EQ(f.check(), "");
  }
  void TearDown() override {
    host_tlb_flush(0, 0);
    EXPECT_EQ(f.check(), "") << "after the repair";
  }

  pte_t *slot(uintptr_t va) const { return pgtable_leaf_slot(f.pt, va); }
  page *frame(uintptr_t va) const { return vmalloc_to_page(*f.vs, reinterpret_cast<void *>(va)); }
  unsigned long pfn(const page *p) const { return page_to_pfn(*ms, p); }
  zone *zone_of(const page *p) const { return page_zone(*ms, p); }

  // Page i of the movable area half-way through a migration from `old`:
  // its leaf replaced by a migration entry, counted in progress. Returns the
  // leaf, for the repair.
  pte_t start_migration(unsigned i, const page *old) {
    pte_t leaf = *slot(mov + i * PAGE_SIZE);
    *slot(mov + i * PAGE_SIZE) = make_migration_entry(page_to_phys(*ms, old), 1);
    f.vs->migrating++;
    return leaf;
  }
  void end_migration(unsigned i, pte_t leaf) {
    *slot(mov + i * PAGE_SIZE) = leaf;
    f.vs->migrating--;
  }
  std::string migrating_from(unsigned i, const page *old) const {
    return "vmalloc: page " + std::to_string(i) + " of area " + hex(mov) + " is migrating from " +
           hex(page_to_phys(*ms, old)) + ", which is not an allocated, movable, isolated frame of this page";
  }
  // The isolator's side of a migration: PG_isolated and its reference.
  void isolate(page *p) {
    set_page_flag(p, PG_isolated);
    get_page(p);
  }
  void unisolate(page *p) {
    clear_page_flag(p, PG_isolated);
    set_page_count(p, page_ref_count(p) - 1);
  }
};

// A migration done right (the old frame isolated, the entry counted) is
// clean: the damage tests below each differ from it in one thing.
TEST_F(CheckDamageCompaction, MigrationInProgressIsClean) {
  page *old = frame(mov + PAGE_SIZE);
  isolate(old);
  pte_t leaf = start_migration(1, old);
  EXPECT_EQ(f.check(), "");
  end_migration(1, leaf);
  unisolate(old);
}

// The entry's old frame is free.
TEST_F(CheckDamageCompaction, MigrationEntryFromAFreeFrame) {
  page *p = alloc_pages(*ms, GFP_KERNEL | __GFP_MOVABLE, 0);
  ASSERT_NE(p, nullptr);
  __free_pages(*ms, p, 0);
  pte_t leaf = start_migration(0, p);
  expect_finds(f.check(), {migrating_from(0, p)});
  end_migration(0, leaf);
}

// The entry's old frame, isolated right, marked free (buddy or per-CPU):
// each mark alone is named.
TEST_F(CheckDamageCompaction, MigrationEntryFromAFrameMarkedFree) {
  page *old = frame(mov + PAGE_SIZE);
  isolate(old);
  pte_t leaf = start_migration(1, old);
  for (pageflags flag : {PG_buddy, PG_pcp}) {
    set_page_flag(old, flag);
    expect_finds(f.check(), {migrating_from(1, old)});
    clear_page_flag(old, flag);
  }
  end_migration(1, leaf);
  unisolate(old);
}

// The entry's old frame is the page's own, movable, but not isolated (no
// flag, one reference).
TEST_F(CheckDamageCompaction, MigrationEntryFromAFrameNotIsolated) {
  page *old = frame(mov);
  pte_t leaf = start_migration(0, old);
  expect_finds(f.check(), {migrating_from(0, old)});
  // Isolated in name only: the flag without the isolator's reference.
  set_page_flag(old, PG_isolated);
  expect_finds(f.check(), {migrating_from(0, old), "movable pfn " + hex(pfn(old)) +
                                                       " is isolated with refcount 1: the isolator's reference is missing"});
  clear_page_flag(old, PG_isolated);
  end_migration(0, leaf);
}

// The entry's old frame is isolated but no longer movable.
TEST_F(CheckDamageCompaction, MigrationEntryFromAFrameNotMovable) {
  page *old = frame(mov + 2 * PAGE_SIZE);
  isolate(old);
  clear_page_flag(old, PG_movable);
  pte_t leaf = start_migration(2, old);
  expect_finds(f.check(), {migrating_from(2, old)});
  end_migration(2, leaf);
  set_page_flag(old, PG_movable);
  unisolate(old);
}

// The entry's old frame is another page's of the same area (isolated and
// movable, but its index is not this page's address).
TEST_F(CheckDamageCompaction, MigrationEntryFromAnotherPagesFrame) {
  page *other = frame(mov + 3 * PAGE_SIZE);
  isolate(other);
  pte_t leaf = start_migration(1, other);
  expect_finds(f.check(), {migrating_from(1, other)});
  end_migration(1, leaf);
  unisolate(other);
}

// A migration entry in an ordinary area, whose frames never move.
TEST_F(CheckDamageCompaction, MigrationEntryInAnAreaNotMovable) {
  page *p = frame(plain);
  pte_t leaf = *slot(plain);
  *slot(plain) = make_migration_entry(page_to_phys(*ms, p), 0);
  f.vs->migrating++;
  expect_finds(f.check(), {"vmalloc: page 0 of area " + hex(plain) + " holds a migration entry (" +
                           hex(page_to_phys(*ms, p)) + "), but the area is not movable"});
  *slot(plain) = leaf;
  f.vs->migrating--;
}

// A migration entry outside every area's pages: in a movable area's guard
// page (its last page, one past its mapped ones), and where no area is.
TEST_F(CheckDamageCompaction, MigrationEntryOutsideTheAreas) {
  page *old = frame(mov);
  const uintptr_t guard = mov + 4 * PAGE_SIZE, nowhere = plain + 3 * PAGE_SIZE;
  ASSERT_EQ(vmap_find_busy(&f.vs->space, guard)->va_end, guard + PAGE_SIZE);
  ASSERT_EQ(vmap_find_busy(&f.vs->space, nowhere), nullptr);
  for (uintptr_t at : {guard, nowhere}) {
    pte_t *e = slot(at);
    ASSERT_NE(e, nullptr);
    ASSERT_EQ(*e, 0u);
    *e = make_migration_entry(page_to_phys(*ms, old), 1);
    f.vs->migrating++;
    expect_finds(f.check(), {"vmalloc: migration entry at " + hex(at) + " outside every area's pages"});
    *e = 0;
    f.vs->migrating--;
  }
}

// The count of migrations in progress against the entries in the table,
// both ways.
TEST_F(CheckDamageCompaction, MigratingCountWrong) {
  f.vs->migrating = 2;
  expect_finds(f.check(), {"vmalloc: 0 migration entries in the table, but 2 migrations in progress"});
  f.vs->migrating = 0;
  page *old = frame(mov);
  isolate(old);
  pte_t leaf = start_migration(0, old);
  f.vs->migrating = 0;
  expect_finds(f.check(), {"vmalloc: 1 migration entries in the table, but 0 migrations in progress"});
  f.vs->migrating = 1;
  end_migration(0, leaf);
  unisolate(old);
}

// A movable area's frame that is not movable, has another index, or another
// owner.
TEST_F(CheckDamageCompaction, MovableAreaFrameNotMovableOrNotItsOwn) {
  page *p = frame(mov + PAGE_SIZE);
  const std::string where = "vmalloc: page 1 of movable area " + hex(mov) + " maps " + hex(page_to_phys(*ms, p)) +
                            ", which is ";
  clear_page_flag(p, PG_movable);
  expect_finds(f.check(), {where + "not movable with owner"});
  set_page_flag(p, PG_movable);
  p->index += PAGE_SIZE;
  expect_finds(f.check(), {where + "movable with owner", hex(mov + 2 * PAGE_SIZE) + ", not movable and this area's"});
  p->index -= PAGE_SIZE;
  void *was = p->mapping;
  movable_operations other = f.vs->mops;
  ASSERT_EQ(register_movable_ops(*ms, &other), 0);
  p->mapping = &other;
  expect_finds(f.check(), {where + "movable with owner " + damage::ptr(&other)});
  p->mapping = was;
  unregister_movable_ops(*ms, &other);
}

// An ordinary area's frame marked movable (its owner the area's vm_struct,
// which is no movable_operations either).
TEST_F(CheckDamageCompaction, OrdinaryAreaFrameMarkedMovable) {
  page *p = frame(plain + PAGE_SIZE);
  set_page_flag(p, PG_movable);
  expect_finds(f.check(), {"vmalloc: page 1 of area " + hex(plain) + " maps " + hex(page_to_phys(*ms, p)),
                           "page 1, movable (mapped twice?)",
                           "movable pfn " + hex(pfn(p)) + " has mapping",
                           "which is no registered movable_operations"});
  clear_page_flag(p, PG_movable);
}

// A movable page whose owner was never registered (or went away).
TEST_F(CheckDamageCompaction, MovablePageWithUnregisteredMapping) {
  page *p = alloc_pages(*ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  movable_operations stranger = f.vs->mops;
  __SetPageMovable(p, &stranger);
  expect_finds(f.check(), {"movable pfn " + hex(pfn(p)) + " has mapping " + damage::ptr(&stranger) +
                           ", which is no registered movable_operations"});
  __ClearPageMovable(p);
  p->mapping = nullptr;
  __free_pages(*ms, p, 0);
}

// Isolated and movable with only the owner's reference.
TEST_F(CheckDamageCompaction, IsolatedMovablePageWithoutIsolatorsReference) {
  page *p = frame(mov + 3 * PAGE_SIZE);
  set_page_flag(p, PG_isolated);
  expect_finds(f.check(), {"movable pfn " + hex(pfn(p)) +
                           " is isolated with refcount 1: the isolator's reference is missing"});
  get_page(p);
  EXPECT_EQ(f.check(), "");  // with it, an isolation in progress
  unisolate(p);
}

// Movable, not isolated, with a reference besides the owner's (an isolator
// that ended the isolation but kept its reference: a leak).
TEST_F(CheckDamageCompaction, MovablePageWithAStrayReference) {
  page *p = frame(mov + 2 * PAGE_SIZE);
  get_page(p);
  expect_finds(f.check(), {"movable pfn " + hex(pfn(p)) + " is not isolated but has refcount 2, not its owner's 1"});
  __atomic_fetch_sub(&p->_refcount, 1, __ATOMIC_RELAXED);
  EXPECT_EQ(f.check(), "");
}

// An allocated page that is not movable inside an isolated pageblock
// (isolation refuses such pageblocks; nothing there is handed out).
TEST_F(CheckDamageCompaction, UnmovablePageInIsolatedPageblock) {
  page *p = alloc_pages(*ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  zone *z = zone_of(p);
  const unsigned long was = get_pfnblock_flags_mask(z, pfn(p), MIGRATETYPE_MASK | PB_ISOLATE_SAVED_MASK);
  set_pfnblock_flags_mask(z, pfn(p), MIGRATE_ISOLATE | (was & MIGRATETYPE_MASK) << PB_isolate_saved,
                          MIGRATETYPE_MASK | PB_ISOLATE_SAVED_MASK);
  expect_finds(f.check(), {"pfn " + hex(pfn(p)) + " (order 0) is allocated, not movable, in an isolated pageblock"});
  set_pfnblock_flags_mask(z, pfn(p), was, MIGRATETYPE_MASK | PB_ISOLATE_SAVED_MASK);
  __free_pages(*ms, p, 0);
}

// A pageblock that is not isolated but keeps a saved type (an isolation
// whose undo forgot to clear it).
TEST_F(CheckDamageCompaction, SavedTypeOnAPageblockNotIsolated) {
  page *p = frame(mov);
  zone *z = zone_of(p);
  const unsigned long b = pageblock_start_pfn(pfn(p));
  set_pfnblock_flags_mask(z, b, u64(MIGRATE_UNMOVABLE + 1) << PB_isolate_saved, PB_ISOLATE_SAVED_MASK);
  expect_finds(f.check(), {"pageblock at pfn " + hex(b) + " is Movable but keeps a saved type 1 (an isolation not undone)"});
  set_pfnblock_flags_mask(z, b, 0, PB_ISOLATE_SAVED_MASK);
}

// An invalid entry whose bits are neither zero nor a well-formed migration
// entry (a migration entry with a permission bit set).
TEST_F(CheckDamageCompaction, MalformedInvalidEntry) {
  page *old = frame(mov);
  isolate(old);
  pte_t leaf = start_migration(0, old);
  const pte_t bad = *slot(mov) | PTE_R;
  *slot(mov) = bad;
  expect_finds(f.check(), {"pgtable: " + hex(mov) + ": invalid entry holds bits " + hex(bad) + " at level 0"});
  end_migration(0, leaf);
  unisolate(old);
}

}  // namespace

// Smoke test while building compaction (replaced by compaction_test.cpp).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "mm/compaction.h"
#include "proptest/vmalloc_fixture.h"

namespace {

TEST(CompactionSmoke, MovesMovableAreasAndKeepsBytes) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.slab.mm.ms;
  std::mt19937 rng(1);
  struct area { uintptr_t a; unsigned seed; };
  std::vector<area> areas;
  std::vector<page *> pinned;
  for (int i = 0; i < 4000; i++) {
    if (rng() % 4 == 0) {
      page *p = alloc_pages(ms, GFP_KERNEL, 0);
      if (p) pinned.push_back(p);
    } else {
      void *v = vmalloc_movable(*f.vs, PAGE_SIZE);
      if (!v) break;
      unsigned s = rng();
      std::vector<unsigned> buf(PAGE_SIZE / 4, s);
      ASSERT_TRUE(f.vwrite(reinterpret_cast<uintptr_t>(v), buf.data(), PAGE_SIZE));
      areas.push_back({reinterpret_cast<uintptr_t>(v), s});
    }
  }
  std::vector<area> kept;
  for (auto &a : areas) {
    if (rng() % 2) vfree(*f.vs, reinterpret_cast<void *>(a.a));
    else kept.push_back(a);
  }
  ASSERT_EQ(f.check(), "");
  unsigned long before = vm_event(ms, PGMIGRATE_SUCCESS);
  compact_memory(ms);
  EXPECT_GT(vm_event(ms, PGMIGRATE_SUCCESS), before);
  EXPECT_EQ(f.check(), "");
  for (auto &a : kept) {
    std::vector<unsigned> buf(PAGE_SIZE / 4);
    ASSERT_TRUE(f.vread(a.a, buf.data(), PAGE_SIZE));
    for (unsigned w : buf) ASSERT_EQ(w, a.seed);
  }
  page *big = alloc_contig_pages(ms, 2048, GFP_KERNEL, NUMA_NO_NODE);
  EXPECT_EQ(f.check(), "");
  if (big) {
    EXPECT_EQ(free_contig_range(ms, page_to_pfn(ms, big), 2048), 0ul);
  }
  EXPECT_EQ(f.check(), "");
  for (auto &a : kept) vfree(*f.vs, reinterpret_cast<void *>(a.a));
  for (page *p : pinned) __free_pages(ms, p, 0);
  EXPECT_EQ(f.check(), "");
  printf("migrated %lu, scanned %lu/%lu, big %p\n", vm_event(ms, PGMIGRATE_SUCCESS), vm_event(ms, COMPACTMIGRATE_SCANNED),
         vm_event(ms, COMPACTFREE_SCANNED), (void *)big);
}

}  // namespace

// Edges of the slab allocator that the main properties do not reach: flags a
// slab cannot honour, a slab page the page allocator refuses, tearing an
// allocator down while a cache still has live objects, and destroying NULL.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mm/slab_internal.h"
#include "proptest/slab_fixture.h"

namespace {

using SlabEdge = one_cache_test<96>;

// Slab memory must stay in the direct map: __GFP_HIGHMEM and __GFP_MOVABLE
// are dropped with a warning naming the cache, and the object is served.
TEST_F(SlabEdge, HighmemAndMovableFlagsDropped) {
  for (gfp_t extra : {__GFP_HIGHMEM, __GFP_MOVABLE}) {
    log_buf_clear();
    void *obj = kmem_cache_alloc(s, GFP_KERNEL | extra);
    const std::string log = slabt::read_log();
    ASSERT_NE(obj, nullptr);
    EXPECT_NE(log.find("slab edge: unexpected gfp"), std::string::npos) << log;
    page *slab = addr_to_slab(*f.mm.ms, obj);
    ASSERT_NE(slab, nullptr);
    EXPECT_EQ(slab->slab_cache, s);
    EXPECT_FALSE(PageHighMem(slab));
    kmem_cache_free(s, obj);
  }
  EXPECT_EQ(f.check(), "");
}

bool fail_every_page(void *, gfp_t, unsigned) { return true; }

size_t caches_listed(const slab_allocator &sa) {
  size_t n = 0;
  list_for_each(e, &sa.caches) n++;
  return n;
}

// When no slab page can be had the allocation fails cleanly, with Linux's
// SLUB warning naming the cache unless __GFP_NOWARN; so does the creation
// of a cache once the cache of caches needs a new slab; nothing is left
// taken.
TEST_F(SlabEdge, SlabPageRefused) {
  mem_system &ms = *f.mm.ms;
  // At rest before and after: reclaim under the refusals may shrink caches.
  const slabt::page_state before = slabt::settle(f);
  ms.pcp_disabled = true;
  ms.should_fail_alloc_page = fail_every_page;
  log_buf_clear();
  EXPECT_EQ(kmem_cache_alloc(s, GFP_KERNEL), nullptr);
  std::string log = slabt::read_log();
  EXPECT_NE(log.find("SLUB: Unable to allocate memory on node"), std::string::npos) << log;
  EXPECT_NE(log.find("cache: edge, object size: 96"), std::string::npos) << log;
  log_buf_clear();
  EXPECT_EQ(kmem_cache_alloc(s, GFP_KERNEL | __GFP_NOWARN), nullptr);
  log = slabt::read_log();
  EXPECT_EQ(log.find("SLUB: Unable"), std::string::npos) << log;
  // kmem_cache_create, too, once the cache of caches has handed out what
  // its slabs held: NULL, and nothing listed.
  const size_t caches = caches_listed(*f.sa);
  std::vector<kmem_cache *> made;
  kmem_cache *more;
  log_buf_clear();
  while ((more = kmem_cache_create(*f.sa, "more", 40, 0, 0, nullptr)) && made.size() < 1000) made.push_back(more);
  EXPECT_EQ(more, nullptr);
  log = slabt::read_log();
  EXPECT_NE(log.find("cache: kmem_cache, object size"), std::string::npos) << log;
  EXPECT_EQ(caches_listed(*f.sa), caches + made.size());
  for (kmem_cache *c : made) EXPECT_EQ(kmem_cache_destroy(c), 0);
  ms.should_fail_alloc_page = nullptr;
  ms.pcp_disabled = false;
  kmem_cache_shrink(&f.sa->kmem_cache_boot);
  kmem_cache_shrink(s);
  EXPECT_EQ(slabt::settle(f), before);
  EXPECT_EQ(f.check(), "");
  void *obj = kmem_cache_alloc(s, GFP_KERNEL);
  EXPECT_NE(obj, nullptr);
  kmem_cache_free(s, obj);
  EXPECT_EQ(f.check(), "");
}

// Tearing the allocator down destroys every cache without live objects; a
// cache that still has some (a kmalloc cache too) is reported once with its
// objects, taken off the list, and keeps its slab, so that the live
// object's memory is never handed out again.
TEST_F(SlabEdge, DestroyKeepsCacheWithLiveObjects) {
  void *obj = kmem_cache_alloc(s, GFP_KERNEL);
  ASSERT_NE(obj, nullptr);
  page *slab = addr_to_slab(*f.mm.ms, obj);
  ASSERT_NE(slab, nullptr);
  void *k = kmalloc(*f.sa, 64, GFP_KERNEL);
  ASSERT_NE(k, nullptr);
  kmem_cache *k64 = addr_to_slab(*f.mm.ms, k)->slab_cache;
  log_buf_clear();
  slab_allocator_destroy(f.sa.get());
  const std::string log = slabt::read_log();
  EXPECT_NE(log.find("BUG edge (Not tainted): Objects remaining in edge"), std::string::npos) << log;
  EXPECT_NE(log.find("object " + slabt::addr_str(obj) + " still allocated"), std::string::npos) << log;
  // Each cache that keeps objects is reported once, as one
  // kmem_cache_destroy of it would.
  EXPECT_EQ(slabt::count_of(log, "BUG "), 2u) << log;
  EXPECT_EQ(slabt::count_of(log, "BUG kmalloc-64 (Not tainted): Objects remaining in kmalloc-64"), 1u) << log;
  bool listed = false;
  list_for_each(e, &f.sa->caches) listed |= list_entry(e, kmem_cache, list) == s || list_entry(e, kmem_cache, list) == k64;
  EXPECT_FALSE(listed);
  for (auto &row : f.sa->kmalloc_caches)
    for (kmem_cache *c : row) EXPECT_EQ(c, nullptr);
  EXPECT_TRUE(PageSlab(slab));
  EXPECT_EQ(page_ref_count(slab), 1);
  EXPECT_EQ(addr_to_slab(*f.mm.ms, obj), slab);
}

// kmem_cache_destroy(NULL) does nothing and succeeds, as in Linux.
TEST_F(SlabEdge, DestroyOfNullIsANoOp) {
  slabt::expect_no_report(f, [] { EXPECT_EQ(kmem_cache_destroy(nullptr), 0); });
}

// SLAB_PANIC marks a cache its creator cannot do without: a creation that
// fails panics, naming the cache (Linux's "Failed to create slab"), where
// without the flag it returns NULL; one that succeeds returns the cache.
TEST(SlabEdgeDeathTest, PanicFlagMakesAFailedCreationPanic) {
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  EXPECT_EQ(kmem_cache_create(*f.sa, "unwanted", 0, 0, 0, nullptr), nullptr);
  EXPECT_DEATH(kmem_cache_create(*f.sa, "wanted", 0, 0, SLAB_PANIC, nullptr), "failed to create slab 'wanted'");
  kmem_cache *s = kmem_cache_create(*f.sa, "needed", 64, 0, SLAB_PANIC, nullptr);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(kmem_cache_destroy(s), 0);
}

}  // namespace

// kmalloc's bad input and limits (mm/kmalloc): frees of anything that is not
// a live kmalloc object (inside one, on the stack, in the image, a page of
// the page allocator, a free page, twice, inside a large kmalloc), krealloc
// of such pointers, sizes and zone flags no allocation can satisfy, and
// memory running out. Each bad call must be reported the way Linux reports
// it, counted, and leave both allocators as they were and still serving.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "mm/slab_internal.h"
#include "proptest/slab_fixture.h"

namespace {

using namespace slabt;

// A physical address that no layout has as RAM (inside the host window).
constexpr phys_addr_t HOLE = 16 * SZ_1G;

// An object in the image, as a global would be.
u64 image_object[4];

struct layout_and_debug {
  layout_kind layout;
  slab_flags_t debug;
};

// Every layout, without and with debugging.
std::vector<layout_and_debug> every_setup() {
  std::vector<layout_and_debug> out;
  for (layout_kind k : all_layouts)
    for (slab_flags_t d : {slab_flags_t(0), SLAB_RED_ZONE | SLAB_POISON}) out.push_back({k, d});
  return out;
}

std::string setup_name(const layout_and_debug &s) {
  return std::string(layout_name(s.layout)) + (s.debug ? " with debug" : "");
}

// The kmalloc types whose caches exist, with the flags that select them.
std::vector<std::pair<kmalloc_cache_type, gfp_t>> types_of(const slab_allocator &sa) {
  std::vector<std::pair<kmalloc_cache_type, gfp_t>> out;
  const gfp_t flags[] = {0, GFP_DMA32, GFP_DMA, __GFP_RECLAIMABLE};
  for (unsigned t = 0; t < NR_KMALLOC_TYPES; t++)
    if (sa.kmalloc_caches[t][0]) out.push_back({kmalloc_cache_type(t), flags[t]});
  return out;
}

constexpr size_t CLASS_PROBES[] = {1, 8, 13, 64, 96, 100, 192, 256, 1000, 2048, 4096, 5000, 8192};

// kmalloc(0) and its relatives give ZERO_SIZE_PTR; freeing it or NULL, in
// every way, does nothing and says nothing.
TEST(KmallocBadInput, NullAndZeroSizeAreNoOps) {
  cpu_reset reset;
  for (layout_kind k : all_layouts) {
    SCOPED_TRACE(layout_name(k));
    slab_fixture f;
    ASSERT_EQ(f.build(k), 0);
    slab_allocator &sa = *f.sa;
    page_state initial = settle(f);
    expect_no_report(f, [&] {
      EXPECT_EQ(kmalloc(sa, 0, GFP_KERNEL), ZERO_SIZE_PTR);
      EXPECT_EQ(kzalloc(sa, 0, GFP_ATOMIC), ZERO_SIZE_PTR);
      EXPECT_EQ(kcalloc(sa, 0, 8, GFP_KERNEL), ZERO_SIZE_PTR);
      EXPECT_EQ(kcalloc(sa, 8, 0, GFP_KERNEL), ZERO_SIZE_PTR);
      EXPECT_EQ(kmalloc_array(sa, 0, 0, GFP_KERNEL), ZERO_SIZE_PTR);
      EXPECT_EQ(krealloc(sa, nullptr, 0, GFP_KERNEL), ZERO_SIZE_PTR);
      EXPECT_EQ(krealloc(sa, ZERO_SIZE_PTR, 0, GFP_KERNEL), ZERO_SIZE_PTR);
      EXPECT_EQ(ksize(sa, nullptr), 0u);
      EXPECT_EQ(ksize(sa, ZERO_SIZE_PTR), 0u);
      kfree(sa, nullptr);
      kfree(sa, ZERO_SIZE_PTR);
      kfree_sensitive(sa, nullptr);
      kfree_sensitive(sa, ZERO_SIZE_PTR);
      kmem_cache_free(sa.kmalloc_caches[0][3], nullptr);
    });
    // krealloc(p, 0) frees p and gives ZERO_SIZE_PTR.
    void *p = kmalloc(sa, 40, GFP_KERNEL);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(krealloc(sa, p, 0, GFP_KERNEL), ZERO_SIZE_PTR);
    EXPECT_EQ(ksize(sa, p), 0u);
    EXPECT_EQ(settle(f), initial);
    EXPECT_EQ(f.sa->errors, 0ul);
  }
}

// kfree of an address inside a live object (its second byte, its middle, its
// last usable byte) names the object's cache and is refused: the object stays
// allocated with its contents, and is freed normally afterwards.
TEST(KmallocBadInput, FreeInsideAnObject) {
  cpu_reset reset;
  for (const layout_and_debug &setup : every_setup()) {
    SCOPED_TRACE(setup_name(setup));
    slab_fixture f;
    ASSERT_EQ(f.build(setup.layout, setup.debug), 0);
    slab_allocator &sa = *f.sa;
    page_state initial = settle(f);
    for (auto [type, zone_gfp] : types_of(sa)) {
      for (size_t size : CLASS_PROBES) {
        SCOPED_TRACE(kmalloc_name(size, type));
        u8 *p = static_cast<u8 *>(kmalloc(sa, size, GFP_KERNEL | zone_gfp));
        ASSERT_NE(p, nullptr);
        size_t ks = ksize(sa, p);
        ASSERT_GE(ks, size);
        memset(p, 0x3c, ks);
        std::set<size_t> offsets = {1, ks / 2, ks - 1};
        offsets.erase(0);
        for (size_t off : offsets) {
          SCOPED_TRACE(off);
          expect_report(f, kmalloc_name(size, type), p + off, true, "not the start of an object",
                        [&] { kfree(sa, p + off); });
          expect_report(f, kmalloc_name(size, type), p + off, true, "not the start of an object",
                        [&] { kfree_sensitive(sa, p + off); });
          EXPECT_EQ(ksize(sa, p), ks);
          EXPECT_TRUE(bytes_are(p, ks, 0x3c));
        }
        expect_serving(
            f, [&] { return kmalloc(sa, size, GFP_KERNEL | zone_gfp); }, [&](void *q) { kfree(sa, q); }, size, 40,
            {p});
        kfree(sa, p);
        EXPECT_EQ(ksize(sa, p), 0u);
      }
    }
    EXPECT_EQ(settle(f), initial);
    EXPECT_EQ(f.check(), "");
  }
}

// kfree of addresses kmalloc never gave: on the stack, in the image, outside
// the direct map, in a physical hole, are reported as "kmalloc" and ignored.
TEST(KmallocBadInput, FreeOfAddressesOutsideSlabs) {
  cpu_reset reset;
  for (layout_kind k : all_layouts) {
    SCOPED_TRACE(layout_name(k));
    slab_fixture f;
    ASSERT_EQ(f.build(k), 0);
    slab_allocator &sa = *f.sa;
    page_state initial = settle(f);
    u64 on_stack[4] = {1, 2, 3, 4};
    const void *bad[] = {on_stack, &on_stack[1], image_object, reinterpret_cast<const u8 *>(image_object) + 3,
                         reinterpret_cast<void *>(0x1000), phys_to_virt(HOLE), phys_to_virt(HOLE + 64)};
    for (const void *p : bad) {
      SCOPED_TRACE(addr_str(p));
      expect_report(f, "kmalloc", p, true, "kfree: pointer is not a kmalloc object", [&] { kfree(sa, p); });
      EXPECT_EQ(ksize(sa, p), 0u);
    }
    EXPECT_EQ(on_stack[0] + on_stack[1] + on_stack[2] + on_stack[3], 10u);
    expect_serving(f, [&] { return kmalloc(sa, 64, GFP_KERNEL); }, [&](void *q) { kfree(sa, q); }, 64, 100);
    EXPECT_EQ(settle(f), initial);
  }
}

// kfree of memory from the page allocator (plain, compound, at its start or
// inside) is reported and refused: the pages stay allocated and intact. A
// page already freed is reported too.
TEST(KmallocBadInput, FreeOfPageAllocatorPages) {
  cpu_reset reset;
  for (layout_kind k : all_layouts) {
    SCOPED_TRACE(layout_name(k));
    slab_fixture f;
    ASSERT_EQ(f.build(k), 0);
    slab_allocator &sa = *f.sa;
    mem_system &ms = *f.mm.ms;
    page_state initial = settle(f);
    for (auto [order, gfp] : {std::pair{0u, GFP_KERNEL}, std::pair{2u, GFP_KERNEL}, std::pair{2u, GFP_KERNEL | __GFP_COMP}}) {
      SCOPED_TRACE(order);
      page *pg = alloc_pages(ms, gfp, order);
      ASSERT_NE(pg, nullptr);
      u8 *a = static_cast<u8 *>(page_address(ms, pg));
      memset(a, 0x5d, PAGE_SIZE << order);
      for (size_t off : {size_t(0), size_t(8), (PAGE_SIZE << order) - 8}) {
        expect_report(f, "kmalloc", a + off, true, "kfree: pointer is not a kmalloc object",
                      [&] { kfree(sa, a + off); });
        EXPECT_EQ(ksize(sa, a + off), 0u);
      }
      EXPECT_EQ(page_ref_count(pg), 1);
      EXPECT_FALSE(PageBuddy(pg) || PagePcp(pg));
      EXPECT_TRUE(bytes_are(a, PAGE_SIZE << order, 0x5d));
      __free_pages(ms, pg, order);
      // Now a free page (on a per-CPU list or merged into a free block);
      // one that heads its free block is named as free.
      expect_report(f, "kmalloc", a, true,
                    PageBuddy(pg) || PagePcp(pg) ? "kfree: pointer is not a kmalloc object (a free page)"
                                                 : "kfree: pointer is not a kmalloc object",
                    [&] { kfree(sa, a); });
    }
    EXPECT_EQ(ms.bad_pages, 0ul);
    expect_serving(f, [&] { return kmalloc(sa, 4096, GFP_KERNEL); }, [&](void *q) { kfree(sa, q); }, 4096, 30);
    EXPECT_EQ(settle(f), initial);
  }
}

// A second kfree of an object is reported (naming its cache) and refused,
// wherever the first free left it: on this CPU's slab, on a node's slab, or
// waiting for its CPU to take back another CPU's free (freed again by
// either). Afterwards the cache hands the object out
// at most once among many objects held together: it was not listed twice.
TEST(KmallocBadInput, DoubleFree) {
  cpu_reset reset;
  for (const layout_and_debug &setup : every_setup()) {
    SCOPED_TRACE(setup_name(setup));
    slab_fixture f;
    ASSERT_EQ(f.build(setup.layout, setup.debug), 0);
    slab_allocator &sa = *f.sa;
    mem_system &ms = *f.mm.ms;
    page_state initial = settle(f);
    for (auto [type, zone_gfp] : types_of(sa)) {
      for (size_t size : {8ul, 96ul, 192ul, 1000ul, 4096ul, 8192ul}) {
        for (freed_where where : every_freed_where) {
          SCOPED_TRACE(kmalloc_name(size, type) + " case " + std::to_string(int(where)));
          const gfp_t gfp = GFP_KERNEL | zone_gfp;
          kmem_cache *s = sa.kmalloc_caches[type][kmalloc_index(size)];
          host_set_cpu(0);
          u8 *p = static_cast<u8 *>(kmalloc(sa, size, gfp));
          ASSERT_NE(p, nullptr);
          std::vector<void *> spare;
          p = free_first(where, ms, s, p, [&] { return kmalloc(sa, size, gfp); }, [&](void *q) { kfree(sa, q); }, &spare);
          ASSERT_NE(p, nullptr);
          if (where == freed_where::slab_freelist) {
            page *slab = addr_to_slab(ms, p);
            ASSERT_NE(slab, nullptr);
            ASSERT_TRUE(test_bit(onlist_map(ms, s, slab), unsigned(slab_obj_index(ms, s, slab, p))))
                << "the setup should have put the object back on its slab";
          }
          if (where == freed_where::other_cpu || where == freed_where::remote_twice) host_set_cpu(1);
          expect_report(f, kmalloc_name(size, type), p, true, "already free", [&] { kfree(sa, p); });
          host_set_cpu(0);
          for (void *q : spare) kfree(sa, q);
          unsigned n = (2 + 2 * s->cpu_partial_slabs) * s->objects + 4;
          unsigned seen = expect_serving(
              f, [&] { return kmalloc(sa, size, gfp); }, [&](void *q) { kfree(sa, q); }, size, n, {}, p);
          EXPECT_LE(seen, 1u);
        }
      }
    }
    EXPECT_EQ(settle(f), initial);
  }
}

// A second kfree of a large kmalloc is reported and refused: the page
// allocator sees no bad page and its free lists are untouched.
TEST(KmallocBadInput, DoubleFreeOfLargeKmalloc) {
  cpu_reset reset;
  for (layout_kind k : all_layouts) {
    SCOPED_TRACE(layout_name(k));
    slab_fixture f;
    ASSERT_EQ(f.build(k), 0);
    slab_allocator &sa = *f.sa;
    page_state initial = settle(f);
    for (size_t size : {KMALLOC_MAX_CACHE_SIZE + 1, size_t(40000), size_t(SZ_1M)}) {
      SCOPED_TRACE(size);
      void *p = kmalloc(sa, size, GFP_KERNEL);
      ASSERT_NE(p, nullptr);
      kfree(sa, p);
      expect_report(f, "kmalloc", p, true, "kfree: pointer is not a kmalloc object", [&] { kfree(sa, p); });
      drain_all_pages(*f.mm.ms);
      expect_report(f, "kmalloc", p, true, "kfree: pointer is not a kmalloc object", [&] { kfree(sa, p); });
    }
    EXPECT_EQ(f.mm.ms->bad_pages, 0ul);
    expect_serving(f, [&] { return kmalloc(sa, 40000, GFP_KERNEL); }, [&](void *q) { kfree(sa, q); }, 40000, 8);
    EXPECT_EQ(settle(f), initial);
  }
}

// kfree of an address inside a large kmalloc (its second byte, a later page,
// its last byte) is reported and refused; the allocation stays whole.
TEST(KmallocBadInput, FreeInsideLargeKmalloc) {
  cpu_reset reset;
  for (layout_kind k : all_layouts) {
    SCOPED_TRACE(layout_name(k));
    slab_fixture f;
    ASSERT_EQ(f.build(k), 0);
    slab_allocator &sa = *f.sa;
    page_state initial = settle(f);
    for (size_t size : {KMALLOC_MAX_CACHE_SIZE + 1, size_t(40000)}) {
      u8 *p = static_cast<u8 *>(kmalloc(sa, size, GFP_KERNEL));
      ASSERT_NE(p, nullptr);
      size_t ks = ksize(sa, p);
      memset(p, 0x77, ks);
      for (size_t off : {size_t(1), PAGE_SIZE, PAGE_SIZE + 8, size - 1, ks - 1}) {
        SCOPED_TRACE(off);
        expect_report(f, "kmalloc", p + off, true, "inside a large kmalloc", [&] { kfree(sa, p + off); });
        EXPECT_EQ(ksize(sa, p), ks);
      }
      EXPECT_TRUE(bytes_are(p, ks, 0x77));
      EXPECT_TRUE(PageLargeKmalloc(virt_to_page(*f.mm.ms, p)));
      kfree(sa, p);
    }
    EXPECT_EQ(f.mm.ms->bad_pages, 0ul);
    EXPECT_EQ(settle(f), initial);
  }
}

// krealloc of something that is not a live object (inside one, already
// freed, on the stack, inside a large kmalloc) is reported and returns NULL;
// the real objects around it keep their contents.
TEST(KmallocBadInput, KreallocOfBadPointers) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::three_zones), 0);
  slab_allocator &sa = *f.sa;
  page_state initial = settle(f);
  u8 *p = static_cast<u8 *>(kmalloc(sa, 64, GFP_KERNEL));
  u8 *large = static_cast<u8 *>(kmalloc(sa, 30000, GFP_KERNEL));
  u8 *freed = static_cast<u8 *>(kmalloc(sa, 64, GFP_KERNEL));
  ASSERT_TRUE(p && large && freed);
  memset(p, 0x11, 64);
  memset(large, 0x22, 30000);
  kfree(sa, freed);
  u64 on_stack = 7;
  for (const void *bad : {static_cast<const void *>(p + 8), static_cast<const void *>(freed),
                          static_cast<const void *>(&on_stack), static_cast<const void *>(large + PAGE_SIZE)}) {
    SCOPED_TRACE(addr_str(bad));
    void *r = reinterpret_cast<void *>(1);
    expect_report(f, "kmalloc", bad, true, "krealloc", [&] { r = krealloc(sa, bad, 200, GFP_KERNEL); });
    EXPECT_EQ(r, nullptr);
  }
  EXPECT_TRUE(bytes_are(p, 64, 0x11));
  EXPECT_TRUE(bytes_are(large, 30000, 0x22));
  EXPECT_EQ(on_stack, 7u);
  kfree(sa, p);
  kfree(sa, large);
  EXPECT_EQ(settle(f), initial);
}

// ------------------------------------------------------------------ limits

// n * size overflowing fails with a warning (none with __GFP_NOWARN), not a
// BUG report, and allocates nothing.
TEST(KmallocLimits, ArrayOverflowFails) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  slab_allocator &sa = *f.sa;
  page_state initial = settle(f);
  const std::pair<size_t, size_t> overflowing[] = {
      {SIZE_MAX, 2}, {2, SIZE_MAX}, {SIZE_MAX / 2 + 1, 2}, {size_t(1) << 32, size_t(1) << 32}, {SIZE_MAX, SIZE_MAX}};
  for (auto [n, size] : overflowing) {
    for (bool calloc : {false, true}) {
      for (gfp_t nowarn : {gfp_t(0), __GFP_NOWARN}) {
        SCOPED_TRACE(std::to_string(n) + " x " + std::to_string(size) + (calloc ? " kcalloc" : " kmalloc_array"));
        log_buf_clear();
        void *p = calloc ? kcalloc(sa, n, size, GFP_KERNEL | nowarn) : kmalloc_array(sa, n, size, GFP_KERNEL | nowarn);
        std::string log = read_log();
        EXPECT_EQ(p, nullptr);
        if (nowarn) {
          EXPECT_EQ(log, "");
        }
        else EXPECT_NE(log.find("overflow"), std::string::npos) << log;
        EXPECT_EQ(log.find("BUG"), std::string::npos) << log;
      }
    }
  }
  EXPECT_EQ(sa.errors, 0ul);
  EXPECT_EQ(snapshot(*f.mm.ms), initial);
  EXPECT_EQ(f.check(), "");
}

// Runs call in a child process; true if it ends (with status 0) within the
// time limit. For calls that might never return.
bool finishes(const std::function<bool()> &call, int limit_ms = 1000) {
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) _exit(call() ? 0 : 1);
  int status = 0;
  for (int waited = 0; waited < limit_ms; waited += 10) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return false;
}

// A request above KMALLOC_MAX_SIZE fails with a warning and allocates
// nothing, whatever its size (up to SIZE_MAX); KMALLOC_MAX_SIZE itself is
// served. A failed krealloc leaves the object as it was.
TEST(KmallocLimits, AboveMaxSizeFails) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  slab_allocator &sa = *f.sa;
  page_state initial = settle(f);
  u8 *keep = static_cast<u8 *>(kmalloc(sa, 100, GFP_KERNEL));
  ASSERT_NE(keep, nullptr);
  memset(keep, 0x42, 100);
  const size_t too_big[] = {KMALLOC_MAX_SIZE + 1, 2 * KMALLOC_MAX_SIZE, size_t(1) << 40, size_t(1) << 62,
                            (size_t(1) << 63) + 1, SIZE_MAX - PAGE_SIZE, SIZE_MAX};
  for (size_t size : too_big) {
    SCOPED_TRACE(size);
    // In a child first: a size the allocator cannot handle must not hang it.
    bool ok = finishes([&] {
      log_buf_clear();
      bool all_null = kmalloc(sa, size, GFP_KERNEL) == nullptr && kzalloc(sa, size, GFP_ATOMIC) == nullptr &&
                      kmalloc_array(sa, 1, size, GFP_KERNEL) == nullptr && krealloc(sa, keep, size, GFP_KERNEL) == nullptr;
      return all_null && read_log().find("kmalloc") != std::string::npos;
    });
    EXPECT_TRUE(ok) << "kmalloc(" << size << ") hangs, crashes or does not fail with a warning";
    if (!ok) continue;
    log_buf_clear();
    EXPECT_EQ(kmalloc(sa, size, GFP_KERNEL), nullptr);
    EXPECT_EQ(kmalloc(sa, size, GFP_NOWAIT | __GFP_ZERO), nullptr);
    EXPECT_EQ(krealloc(sa, keep, size, GFP_KERNEL), nullptr);
    EXPECT_NE(read_log().find("kmalloc"), std::string::npos);
  }
  EXPECT_TRUE(bytes_are(keep, 100, 0x42));
  EXPECT_GE(ksize(sa, keep), 100u);
  EXPECT_EQ(sa.errors, 0ul);
  // The largest size that may be asked for is served (64 MiB of RAM here).
  void *max = kmalloc(sa, KMALLOC_MAX_SIZE, GFP_KERNEL);
  ASSERT_NE(max, nullptr);
  EXPECT_GE(ksize(sa, max), KMALLOC_MAX_SIZE);
  memset(max, 1, KMALLOC_MAX_SIZE);
  kfree(sa, max);
  kfree(sa, keep);
  EXPECT_EQ(settle(f), initial);
  EXPECT_EQ(f.check(), "");
}

// Contradictory zone modifiers fail with a warning for every size; GFP_DMA
// fails where there is no ZONE_DMA and lands in ZONE_DMA where there is.
TEST(KmallocLimits, ZoneFlags) {
  cpu_reset reset;
  for (layout_kind k : all_layouts) {
    SCOPED_TRACE(layout_name(k));
    slab_fixture f;
    ASSERT_EQ(f.build(k), 0);
    slab_allocator &sa = *f.sa;
    mem_system &ms = *f.mm.ms;
    page_state initial = settle(f);
    for (gfp_t bad : {__GFP_DMA | __GFP_DMA32, __GFP_DMA32 | __GFP_HIGHMEM, __GFP_DMA | __GFP_HIGHMEM}) {
      for (size_t size : {size_t(8), size_t(100), size_t(8192), size_t(20000)}) {
        SCOPED_TRACE(std::to_string(bad) + " " + std::to_string(size));
        log_buf_clear();
        EXPECT_EQ(kmalloc(sa, size, GFP_KERNEL | bad), nullptr);
        EXPECT_NE(read_log().find("kmalloc"), std::string::npos);
        EXPECT_EQ(kzalloc(sa, size, GFP_ATOMIC | bad), nullptr);
      }
    }
    EXPECT_EQ(snapshot(ms), initial);
    bool has_dma = false;
    for_each_online_pgdat(ms, pgdat) has_dma |= managed_zone(&pgdat->node_zones[ZONE_DMA]);
    for (size_t size : {size_t(8), size_t(100), size_t(8192), size_t(20000)}) {
      SCOPED_TRACE(size);
      void *p = kmalloc(sa, size, GFP_KERNEL | GFP_DMA | __GFP_NOWARN);
      if (!has_dma) {
        EXPECT_EQ(p, nullptr);
        // Without __GFP_NOWARN the failure is warned about: for a size a
        // cache would serve, that no cache of the zone exists.
        log_buf_clear();
        EXPECT_EQ(kmalloc(sa, size, GFP_KERNEL | GFP_DMA), nullptr);
        if (size <= KMALLOC_MAX_CACHE_SIZE) {
          EXPECT_NE(read_log().find("no memory in the zone the flags ask for"), std::string::npos) << read_log();
        }
        continue;
      }
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(page_zonenum(virt_to_page(ms, p)), ZONE_DMA);
      kfree(sa, p);
    }
    EXPECT_EQ(sa.errors, 0ul);
    EXPECT_EQ(settle(f), initial);
    EXPECT_EQ(f.check(), "");
  }
}

// When the page allocator has nothing left, kmalloc of every kind returns
// NULL (after handing out what its caches already had, each object whole and
// distinct), nothing is half-made and both checkers stay clean; once memory
// is back, everything is served again.
TEST(KmallocOom, FailedPageAllocationGivesNull) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  slab_allocator &sa = *f.sa;
  mem_system &ms = *f.mm.ms;
  page_state initial = settle(f);
  kmem_cache *cache = kmem_cache_create(sa, "oom-test", 300, 0, 0, nullptr);
  ASSERT_NE(cache, nullptr);
  // Partly used caches: a first object each, the rest free in arrays and slabs.
  void *first256 = kmalloc(sa, 256, GFP_KERNEL);
  void *first_cache = kmem_cache_alloc(cache, GFP_KERNEL);
  ASSERT_TRUE(first256 && first_cache);

  std::vector<std::pair<page *, unsigned>> filler;
  for (int order = MAX_PAGE_ORDER; order >= 0; order--)
    while (page *p = alloc_pages(ms, GFP_ATOMIC | __GFP_NOWARN, unsigned(order))) filler.push_back({p, unsigned(order)});
  ASSERT_FALSE(filler.empty());
  slab_totals slabs = slab_pages(sa);
  unsigned long large = sa.large_pages;

  for (gfp_t gfp : {GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT}) {
    for (size_t size : {size_t(8), size_t(64), size_t(96), size_t(1000), size_t(4096), size_t(8192), size_t(20000),
                        size_t(SZ_1M)}) {
      SCOPED_TRACE(std::to_string(gfp) + " " + std::to_string(size));
      EXPECT_EQ(kmalloc(sa, size, gfp | __GFP_NOWARN), nullptr);
      EXPECT_EQ(kzalloc(sa, size, gfp | __GFP_NOWARN), nullptr);
    }
  }
  // The partly used caches serve what they hold, then fail.
  for (int which = 0; which < 2; which++) {
    std::set<void *> got;
    for (;;) {
      void *p = which ? kmem_cache_alloc(cache, GFP_KERNEL | __GFP_NOWARN) : kmalloc(sa, 256, GFP_KERNEL | __GFP_NOWARN);
      if (!p) break;
      EXPECT_TRUE(got.insert(p).second);
      ASSERT_LT(got.size(), 1000u);
      memset(p, 0x99, which ? 300 : 256);
    }
    EXPECT_GT(got.size(), 0u);
    EXPECT_EQ(got.count(which ? first_cache : first256), 0u);
    for (void *p : got) {
      EXPECT_TRUE(bytes_are(p, which ? 300 : 256, 0x99));
      if (which) kmem_cache_free(cache, p);
      else kfree(sa, p);
    }
  }
  EXPECT_EQ(slab_pages(sa).unreclaimable_pages, slabs.unreclaimable_pages);
  EXPECT_EQ(slab_pages(sa).reclaimable_pages, slabs.reclaimable_pages);
  EXPECT_EQ(sa.large_pages, large);
  EXPECT_EQ(sa.errors, 0ul);
  EXPECT_EQ(f.check(), "");

  for (auto [p, order] : filler) __free_pages(ms, p, order);
  expect_serving(f, [&] { return kmalloc(sa, 1000, GFP_KERNEL); }, [&](void *q) { kfree(sa, q); }, 1000, 50);
  expect_serving(f, [&] { return kmalloc(sa, SZ_1M, GFP_KERNEL); }, [&](void *q) { kfree(sa, q); }, SZ_1M, 4);
  kfree(sa, first256);
  kmem_cache_free(cache, first_cache);
  EXPECT_EQ(kmem_cache_destroy(cache), 0);
  EXPECT_EQ(settle(f), initial);
  EXPECT_EQ(f.check(), "");
}

// ------------------------------------------------------------------ reports

// A report's object line prints the address once, as "Object 0x<16 hex
// digits>", like Linux's "Object 0x%p" with its unprefixed %p; the report
// is Linux's slab_bug block: a line of 77 '=', the BUG line, a line of 77
// '-', then the object line.
TEST(KmallocReport, ObjectLineShowsTheAddressOnce) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  void *p = kmalloc(*f.sa, 64, GFP_KERNEL);
  ASSERT_NE(p, nullptr);
  kfree(*f.sa, p);
  std::string log = expect_report(f, "kmalloc-64", p, true, "already free", [&] { kfree(*f.sa, p); });
  EXPECT_NE(log.find("Object " + addr_str(p) + " in cache kmalloc-64"), std::string::npos) << log;
  const std::string block = std::string(77, '=') + "\nBUG kmalloc-64 (Not tainted): kfree: object already free";
  const size_t at = log.find(block);
  ASSERT_NE(at, std::string::npos) << log;
  EXPECT_EQ(log.substr(log.find('\n', at + block.size()), 80), "\n" + std::string(77, '-') + "\nO") << log;
  u64 on_stack = 0;
  log = expect_report(f, "kmalloc", &on_stack, true, "not a kmalloc object", [&] { kfree(*f.sa, &on_stack); });
  EXPECT_NE(log.find("Object " + addr_str(&on_stack) + ":"), std::string::npos) << log;
}

// ------------------------------------------------------------------ krealloc

// krealloc keeps the object where it is when it is already large enough
// (its ksize) and in a zone the new flags allow, as Linux's does: the same
// pointer, contents kept; a larger size, or flags that want a lower zone
// than the object's, move it. Every kmalloc type on every layout.
TEST(KmallocKrealloc, InPlaceWhenLargeEnoughAndInAnAllowedZone) {
  cpu_reset reset;
  for (layout_kind k : all_layouts) {
    SCOPED_TRACE(layout_name(k));
    slab_fixture f;
    ASSERT_EQ(f.build(k), 0);
    slab_allocator &sa = *f.sa;
    mem_system &ms = *f.mm.ms;
    page_state initial = settle(f);
    for (auto [type, zone_flags] : types_of(sa)) {
      SCOPED_TRACE(type);
      const gfp_t gfp = GFP_KERNEL | zone_flags;
      u8 *p = static_cast<u8 *>(kmalloc(sa, 100, gfp));
      ASSERT_NE(p, nullptr);
      const size_t ks = ksize(sa, p);
      ASSERT_GE(ks, 100u);
      memset(p, 0x3c, ks);
      EXPECT_EQ(krealloc(sa, p, ks, gfp), p);
      EXPECT_EQ(krealloc(sa, p, 1, gfp), p);
      EXPECT_EQ(krealloc(sa, p, 100, gfp), p);
      EXPECT_TRUE(bytes_are(p, ks, 0x3c));
      u8 *q = static_cast<u8 *>(krealloc(sa, p, ks + 1, gfp));
      ASSERT_NE(q, nullptr);
      EXPECT_NE(q, p);
      EXPECT_TRUE(bytes_are(q, ks, 0x3c));
      kfree(sa, q);
    }
    // An object above ZONE_DMA32 asked again with GFP_DMA32 moves down.
    const unsigned dma32 = unsigned(gfp_zone(GFP_KERNEL | GFP_DMA32));
    u8 *p = static_cast<u8 *>(kmalloc(sa, 64, GFP_KERNEL));
    ASSERT_NE(p, nullptr);
    if (unsigned(page_zonenum(virt_to_page(ms, p))) > dma32 && sa.kmalloc_caches[KMALLOC_DMA32][0]) {
      memset(p, 0x7e, 64);
      u8 *q = static_cast<u8 *>(krealloc(sa, p, 32, GFP_KERNEL | GFP_DMA32));
      ASSERT_NE(q, nullptr);
      EXPECT_NE(q, p);
      EXPECT_LE(unsigned(page_zonenum(virt_to_page(ms, q))), dma32);
      EXPECT_TRUE(bytes_are(q, 32, 0x7e));
      p = q;
    }
    kfree(sa, p);
    EXPECT_EQ(sa.errors, 0ul);
    EXPECT_EQ(settle(f), initial);
    EXPECT_EQ(f.check(), "");
  }
}

// ------------------------------------------------------------------ setup

struct nth_failure {
  bool armed = false;
  unsigned nth = ~0u, calls = 0, failed = 0;
};
bool fail_nth(void *ctx, gfp_t, unsigned) {
  nth_failure &n = *static_cast<nth_failure *>(ctx);
  if (!n.armed) return false;
  const bool fail = n.calls++ == n.nth;
  n.failed += fail;
  return fail;
}

// slab_allocator_init with one page allocation failing (each in turn) is
// -ENOMEM: a kmalloc cache that could not be made is never left NULL behind
// a success. Succeeding, it makes the same caches as with nothing failing.
TEST(KmallocLimits, CachesThatCannotBeMadeAreEnomem) {
  cpu_reset reset;
  auto made = [](const slab_allocator &sa) {
    std::vector<bool> out;
    for (const auto &row : sa.kmalloc_caches)
      for (const kmem_cache *c : row) out.push_back(c != nullptr);
    return out;
  };
  std::vector<bool> want;
  unsigned calls = 0;
  {
    mm_fixture mm;
    ASSERT_EQ(build_layout(mm, layout_kind::three_zones), 0);
    nth_failure n;
    mm.ms->should_fail_alloc_page = fail_nth;
    mm.ms->fail_alloc_ctx = &n;
    auto sa = std::make_unique<slab_allocator>();
    n.armed = true;
    ASSERT_EQ(slab_allocator_init(sa.get(), *mm.ms, 0, 1), 0);
    n.armed = false;
    calls = n.calls;
    want = made(*sa);
    mm.ms->should_fail_alloc_page = nullptr;
    slab_allocator_destroy(sa.get());
  }
  ASSERT_GE(calls, 1u);
  unsigned enomem = 0;
  for (unsigned k = 0; k < calls; k++) {
    SCOPED_TRACE(testing::Message() << "failing allocation " << k << " of " << calls);
    mm_fixture mm;
    ASSERT_EQ(build_layout(mm, layout_kind::three_zones), 0);
    nth_failure n;
    n.nth = k;
    mm.ms->should_fail_alloc_page = fail_nth;
    mm.ms->fail_alloc_ctx = &n;
    auto sa = std::make_unique<slab_allocator>();
    n.armed = true;
    const int err = slab_allocator_init(sa.get(), *mm.ms, 0, 1);
    n.armed = false;
    mm.ms->should_fail_alloc_page = nullptr;
    EXPECT_EQ(n.failed, 1u);
    if (err == 0) {
      EXPECT_EQ(made(*sa), want);
      slab_allocator_destroy(sa.get());
    } else {
      EXPECT_EQ(err, -ENOMEM);
      enomem++;
    }
  }
  EXPECT_GT(enomem, 0u);
}

// ------------------------------------------------------------------ size classes

// Every size a cache serves goes to the smallest kmalloc cache that holds
// it (Linux's kmalloc_size_roundup): kmalloc_index names it, and ksize of
// an object kmalloc hands out is that cache's size, for each size from 1
// to KMALLOC_MAX_CACHE_SIZE.
TEST(KmallocSizes, SmallestCacheThatHoldsTheSize) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  slab_allocator &sa = *f.sa;
  unsigned wrong = 0;
  for (size_t n = 1; n <= KMALLOC_MAX_CACHE_SIZE && wrong < 5; n++) {
    const unsigned i = kmalloc_index(n);
    size_t want = 0;
    for (const kmem_cache *c : sa.kmalloc_caches[KMALLOC_NORMAL])
      if (c && c->object_size >= n && (!want || c->object_size < want)) want = c->object_size;
    const kmem_cache *c = i < NR_KMALLOC_SIZES ? sa.kmalloc_caches[KMALLOC_NORMAL][i] : nullptr;
    if (!c || c->object_size != want) {
      ADD_FAILURE() << "size " << n << ": index " << i << ", cache size " << (c ? c->object_size : 0) << ", not "
                    << want;
      wrong++;
    }
    if (n % 8 == 1 || n % 8 == 0) {
      void *p = kmalloc(sa, n, GFP_KERNEL);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(ksize(sa, p), want) << n;
      kfree(sa, p);
    }
  }
  EXPECT_EQ(sa.errors, 0ul);
}

}  // namespace

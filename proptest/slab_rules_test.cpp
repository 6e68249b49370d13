// The slab allocator's rules that a reader takes from Linux and that the
// random sequences do not pin: how a cache is sized (objects per slab and
// slab order, min_partial, cpu_partial), checked on every cache against a
// model written from the rules over a sweep of sizes, alignments and flags;
// the hardening secrets (the published splitmix64 sequence of the seed);
// kmem_cache_alloc_node placing the object on the node asked for, also
// when another CPU takes the node's last free object under its feet; and
// the slab shrinker's count.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "mm/slab_internal.h"
#include "proptest/slab_fixture.h"

namespace {

using namespace slabt;

// ============================================================ sizing

// A slab's shape: its order, the objects it holds, and where its bitmaps
// are (0: in the first tail page's struct page).
struct slab_shape {
  unsigned order, objects, bitmap_offset;
  bool operator==(const slab_shape &) const = default;
};

std::ostream &operator<<(std::ostream &os, const slab_shape &s) {
  return os << "{order " << s.order << ", objects " << s.objects << ", bitmap_offset " << s.bitmap_offset << "}";
}

// Three bitmaps (allocated, onlist, remote), a 64-bit word each per 64
// objects or part of it.
unsigned long bitmap_bytes(unsigned long objects) { return 3 * 8 * ((objects + 63) / 64); }

// The shape of a slab of `order` pages for a stride of `size`: bitmaps of at
// most 64 objects fit in the first tail page's struct page, so a slab of
// order >= 1 whose bytes hold at most 64 objects is all objects; otherwise
// the bitmaps follow the objects, and the slab holds as many objects as
// fit together with them.
slab_shape shape_at(unsigned size, unsigned order) {
  const unsigned long bytes = PAGE_SIZE << order;
  if (order > 0 && bytes / size <= 64) return {order, unsigned(bytes / size), 0};
  unsigned long n = 0;
  while ((n + 1) * size + bitmap_bytes(n + 1) <= bytes) n++;
  return {order, unsigned(n), unsigned(n * size)};
}

// The order rule (mm/slab.h; Linux's calculate_order with its first
// fraction): among the orders whose slab is at least the alignment (a slab
// is aligned to its size, so an object is aligned only then), the smallest
// whose slab holds at least 4 objects (any number from the costly order 3
// on) and leaves at most a sixteenth of it unused; if there is none, the
// smallest of those that leave the fewest eighths unused.
slab_shape expected_shape(unsigned size, unsigned align) {
  std::vector<slab_shape> usable;
  for (unsigned order = 0; order <= MAX_PAGE_ORDER; order++) {
    slab_shape sh = shape_at(size, order);
    if ((PAGE_SIZE << order) >= align && sh.objects > 0) usable.push_back(sh);
  }
  auto unused = [size](const slab_shape &sh) { return (PAGE_SIZE << sh.order) - sh.objects * size; };
  for (const slab_shape &sh : usable)
    if ((sh.objects >= 4 || sh.order >= 3) && unused(sh) * 16 <= PAGE_SIZE << sh.order) return sh;
  auto eighths = [&](const slab_shape &sh) { return unused(sh) * 8 / (PAGE_SIZE << sh.order); };
  return *std::min_element(usable.begin(), usable.end(),
                           [&](const slab_shape &a, const slab_shape &b) { return eighths(a) < eighths(b); });
}

// Linux's set_min_partial(s, ilog2(s->size) / 2): free slabs a node keeps,
// between MIN_PARTIAL (5) and MAX_PARTIAL (10).
unsigned expected_min_partial(unsigned size) {
  unsigned ilog2 = 0;
  while ((2ul << ilog2) <= size) ilog2++;
  return std::clamp(ilog2 / 2, 5u, 10u);
}

// Linux's set_cpu_partial by the stride, then slub_set_cpu_partial: the
// objects a CPU keeps in its partial slabs, as slabs assumed half full,
// rounded up.
unsigned expected_cpu_partial_slabs(unsigned size, unsigned objects) {
  unsigned nr_objects = size >= PAGE_SIZE ? 2 : size >= 1024 ? 6 : size >= 256 ? 13 : 30;
  return (nr_objects * 2 + objects - 1) / objects;
}

// Every sizing rule on cache s, whose stride is known to be right.
void expect_sized_by_the_rules(const kmem_cache *s) {
  SCOPED_TRACE(std::string(s->name) + ", stride " + std::to_string(s->size) + ", align " +
               std::to_string(s->align));
  const slab_shape want = expected_shape(s->size, s->align);
  EXPECT_EQ((slab_shape{s->order, s->objects, s->bitmap_offset}), want);
  // The bitmaps lie inside the slab, after the last object, or in the tail page.
  if (s->bitmap_offset) {
    EXPECT_LE(s->bitmap_offset + bitmap_bytes(s->objects), PAGE_SIZE << s->order);
  }
  EXPECT_EQ(s->bitmap_words, (s->objects + 63) / 64);
  EXPECT_EQ(s->slab_mask, (PAGE_SIZE << s->order) - 1);
  EXPECT_EQ(s->min_partial, expected_min_partial(s->size));
  EXPECT_EQ(s->cpu_partial_slabs, expected_cpu_partial_slabs(s->size, s->objects));
}

// An object slot by Linux's calculate_sizes: the object rounded up to 8
// bytes; 8 more of red zone (SLAB_RED_ZONE), which starts right after the
// object; the free pointer in the middle of the object (8-aligned, so that
// a small overflow of the object before misses it), or after the red zone
// when the object's bytes must stay as they are (poison, a constructor);
// the stride all that rounded up to the alignment.
struct slot {
  unsigned size, offset, red_zone;
  bool operator==(const slot &) const = default;
};

std::ostream &operator<<(std::ostream &os, const slot &s) {
  return os << "{stride " << s.size << ", free pointer at " << s.offset << ", red zone " << s.red_zone << "}";
}

slot expected_slot(unsigned object_size, slab_flags_t flags, bool ctor, unsigned align) {
  const unsigned rounded = (object_size + 7) / 8 * 8;
  slot out{rounded, object_size / 2 / 8 * 8, 0};
  if (flags & SLAB_RED_ZONE) {
    out.red_zone = rounded - object_size + 8;
    out.size += 8;
  }
  if ((flags & SLAB_POISON) || ctor) {
    out.offset = out.size;
    out.size += 8;
  }
  out.size = (out.size + align - 1) / align * align;
  return out;
}

void no_ctor_needed(void *) {}

// Creates the cache, checks its alignment and object slot, then every
// sizing rule, and destroys it.
void expect_cache_sized(slab_fixture &f, unsigned object_size, unsigned align, slab_flags_t flags, bool ctor) {
  SCOPED_TRACE("object " + std::to_string(object_size) + " align " + std::to_string(align) + " flags " +
               std::to_string(flags) + (ctor ? " ctor" : ""));
  kmem_cache *s = kmem_cache_create(*f.sa, "sized", object_size, align, flags, ctor ? no_ctor_needed : nullptr);
  ASSERT_NE(s, nullptr);
  const slab_flags_t effective = ctor ? flags & ~SLAB_POISON : flags;
  EXPECT_EQ(s->align, expected_cache_align(object_size, align, flags));
  EXPECT_EQ((slot{s->size, s->offset, s->red_zone}), expected_slot(object_size, effective, ctor, s->align));
  expect_sized_by_the_rules(s);
  EXPECT_EQ(kmem_cache_destroy(s), 0);
}

// Every cache the allocator makes for itself (kmem_cache and every kmalloc
// cache of every layout's types), with and without slab debugging.
TEST(SlabSizing, KmallocCachesFollowTheRules) {
  for (layout_kind k : all_layouts)
    for (slab_flags_t debug : {0u, SLAB_RED_ZONE | SLAB_POISON}) {
      SCOPED_TRACE(std::string(layout_name(k)) + (debug ? " with debugging" : ""));
      slab_fixture f;
      ASSERT_EQ(f.build(k, debug), 0);
      list_for_each(e, &f.sa->caches) expect_sized_by_the_rules(list_entry(e, kmem_cache, list));
    }
}

// Every object size up to 2 KiB and every 8th up to 16 KiB, plain and
// with each kind of extra (red zone, poison, a constructor, cache-line
// alignment, a large alignment).
TEST(SlabSizing, SweepOfSizesFollowsTheRules) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  for (unsigned size = 1; size <= 16384; size += size < 2048 ? 1 : 8) {
    expect_cache_sized(f, size, 0, 0, false);
    expect_cache_sized(f, size, 0, SLAB_RED_ZONE | SLAB_POISON, size % 3 == 0);
    expect_cache_sized(f, size, size % 2 ? 64 : 4096, SLAB_HWCACHE_ALIGN, false);
    // Cache-line alignment alone: halved for objects of half a line or less.
    if (size <= 64) expect_cache_sized(f, size, 0, SLAB_HWCACHE_ALIGN, false);
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_EQ(f.check(), "");
}

// Every KiB from 16 KiB to the largest object a cache takes, and that one
// with the most a slot can add to it (red zone, outside free pointer, the
// largest alignment): from some 270 KiB on no order leaves at most a
// sixteenth of its slab unused, and the order that leaves the fewest
// eighths is chosen, the smallest of equals.
TEST(SlabSizing, LargeObjectsFollowTheRules) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  for (unsigned size = 16384; size <= KMEM_CACHE_MAX_OBJECT; size += 1024) {
    expect_cache_sized(f, size, 0, 0, false);
    if (::testing::Test::HasFailure()) break;
  }
  expect_cache_sized(f, unsigned(KMEM_CACHE_MAX_OBJECT), 8192, SLAB_RED_ZONE | SLAB_POISON, true);
  expect_cache_sized(f, unsigned(KMEM_CACHE_MAX_OBJECT), 8192, SLAB_RED_ZONE | SLAB_POISON | SLAB_HWCACHE_ALIGN, false);
  EXPECT_EQ(f.check(), "");
}

// Random sizes up to the largest object a cache takes, with any flags and
// alignment.
RC_GTEST_PROP(SlabSizing, AnyCacheFollowsTheRules, ()) {
  cpu_reset reset;
  slab_fixture f;
  RC_ASSERT(f.build(layout_kind::single_zone) == 0);
  const unsigned size = *rc::gen::oneOf(rc::gen::inRange(1u, 16385u),
                                        rc::gen::inRange(1u, unsigned(KMEM_CACHE_MAX_OBJECT) + 1));
  const unsigned align = *rc::gen::element(0u, 8u, 16u, 64u, 512u, 4096u, 8192u);
  const unsigned pick = *rc::gen::inRange(0u, 8u);
  const slab_flags_t flags = (pick & 1 ? SLAB_RED_ZONE : 0) | (pick & 2 ? SLAB_POISON : 0) | (pick & 4 ? SLAB_HWCACHE_ALIGN : 0);
  const bool ctor = *rc::gen::arbitrary<bool>();
  expect_cache_sized(f, size, align, flags, ctor);
  RC_ASSERT(!::testing::Test::HasFailure());
}

// A node keeps min_partial free slabs for the next allocations and gives
// the rest back (Linux's discard of an empty slab when the node already
// has min_partial): once every object of min_partial + 3 slabs is freed
// and the CPU's slabs are back with the node, exactly min_partial slabs
// are left, all free, and kmem_cache_shrink gives those back.
TEST(SlabSizing, NodeKeepsMinPartialFreeSlabs) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  for (unsigned size : {64u, 4096u, 16384u, 65536u}) {
    kmem_cache *s = kmem_cache_create(*f.sa, "kept", size, 0, 0, nullptr);
    ASSERT_NE(s, nullptr);
    SCOPED_TRACE("size " + std::to_string(size) + ", min_partial " + std::to_string(s->min_partial));
    std::vector<void *> objs;
    for (unsigned i = 0; i < (s->min_partial + 3) * s->objects; i++) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
    for (void *p : objs) kmem_cache_free(s, p);
    flush_this_cpu(s);
    EXPECT_EQ(s->node[0].nr_free, s->min_partial);
    EXPECT_EQ(s->node[0].nr_slabs, s->min_partial);
    EXPECT_EQ(f.check(), "");
    EXPECT_EQ(kmem_cache_shrink(s), s->min_partial << s->order);
    EXPECT_EQ(kmem_cache_destroy(s), 0);
  }
}

// ============================================================ secrets

// Each cache's freelist secret is the next output of splitmix64 (Steele,
// Lea and Flood's generator, in Vigna's reference splitmix64.c) seeded with
// the allocator's secret: the first four outputs for seed 0 are the
// published ones, and the caches are created kmem_cache first, then the
// kmalloc caches from the smallest.
TEST(SlabSecret, SecretsAreTheSplitmix64SequenceOfTheSeed) {
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone, 0, 0), 0);
  const slab_allocator &sa = *f.sa;
  EXPECT_EQ(sa.kmem_cache_boot.random, 0xe220a8397b1dcdaful);
  EXPECT_EQ(sa.kmalloc_caches[KMALLOC_NORMAL][0]->random, 0x6e789e6aa1b965f4ul);
  EXPECT_EQ(sa.kmalloc_caches[KMALLOC_NORMAL][1]->random, 0x06c45d188009454ful);
  EXPECT_EQ(sa.kmalloc_caches[KMALLOC_NORMAL][2]->random, 0xf88bb8a8724c81ecul);
}

// ============================================================ nodes

// kmem_cache_alloc_node and kmalloc_node place the object on the node asked
// for (NUMA_NO_NODE: the CPU's own), whichever CPU asks, when that node has
// memory and no slab of the cache has a free object elsewhere (then, as
// Linux's get_any_partial, another node's may serve): a new slab comes
// from that node, and the next objects from it. two_nodes: CPUs 0 and 1
// are node 0's, 2 and 3 node 1's.
TEST(SlabNuma, AllocNodePlacesTheObjectOnThatNode) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::two_nodes), 0);
  slab_allocator &sa = *f.sa;
  const mem_system &ms = *f.mm.ms;
  const page_state initial = settle(f);
  for (unsigned cpu : {0u, 2u})
    for (int nid : {0, 1, NUMA_NO_NODE}) {
      SCOPED_TRACE("cpu " + std::to_string(cpu) + " node " + std::to_string(nid));
      const int want = nid == NUMA_NO_NODE ? ms.cpu_to_node[cpu] : nid;
      host_set_cpu(cpu);
      kmem_cache *s = kmem_cache_create(sa, "placed", 200, 0, 0, nullptr);
      ASSERT_NE(s, nullptr);
      std::vector<void *> got;
      for (int i = 0; i < 3; i++) {
        void *p = kmem_cache_alloc_node(s, GFP_KERNEL, nid);
        void *q = kmalloc_node(sa, 300, GFP_KERNEL, nid);
        ASSERT_NE(p, nullptr);
        ASSERT_NE(q, nullptr);
        EXPECT_EQ(page_to_nid(virt_to_page(ms, p)), want);
        EXPECT_EQ(page_to_nid(virt_to_page(ms, q)), want);
        got.push_back(p);
        got.push_back(q);
      }
      EXPECT_EQ(f.check(), "");
      for (void *p : got) kfree(sa, p);
      EXPECT_EQ(kmem_cache_destroy(s), 0);
      host_set_cpu(0);
      EXPECT_EQ(settle(f), initial);
    }
  EXPECT_EQ(sa.errors, 0ul);
}

// A node with no slab of the cache holding a free object is served from
// another node's partial slab before a new slab is made (Linux's
// get_any_partial, nearest node first): node 0's partial slab, which CPU 0
// left with one object held, serves node 1's CPU 2 until it is full, and
// kmem_cache_alloc_node for node 1 from CPU 0 alike; only then does node 1
// get a slab of its own.
TEST(SlabNuma, AnotherNodesPartialSlabServesBeforeANewSlab) {
  cpu_reset reset;
  for (bool alloc_node : {false, true}) {
    SCOPED_TRACE(alloc_node ? "kmem_cache_alloc_node(node 1) on cpu 0" : "kmem_cache_alloc on cpu 2");
    slab_fixture f;
    ASSERT_EQ(f.build(layout_kind::two_nodes), 0);
    const mem_system &ms = *f.mm.ms;
    ASSERT_EQ(ms.cpu_to_node[2], 1);
    kmem_cache *s = kmem_cache_create(*f.sa, "spread", 200, 0, 0, nullptr);
    ASSERT_NE(s, nullptr);
    host_set_cpu(0);
    void *first = kmem_cache_alloc(s, GFP_KERNEL);
    ASSERT_NE(first, nullptr);
    page *slab = addr_to_slab(ms, first);
    ASSERT_EQ(page_to_nid(slab), 0);
    flush_this_cpu(s);
    ASSERT_EQ(s->node[0].nr_partial, 1ul);
    host_set_cpu(alloc_node ? 0 : 2);
    auto alloc = [&] { return alloc_node ? kmem_cache_alloc_node(s, GFP_KERNEL, 1) : kmem_cache_alloc(s, GFP_KERNEL); };
    std::vector<void *> got;
    for (unsigned i = 1; i < s->objects; i++) {
      void *p = alloc();
      ASSERT_NE(p, nullptr);
      ASSERT_EQ(addr_to_slab(ms, p), slab) << "object " << i;
      got.push_back(p);
    }
    EXPECT_EQ(s->node[0].nr_slabs, 1ul);
    EXPECT_EQ(s->node[1].nr_slabs, 0ul);
    void *p = alloc();
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(page_to_nid(virt_to_page(ms, p)), 1);
    EXPECT_EQ(s->node[1].nr_slabs, 1ul);
    got.push_back(p);
    EXPECT_EQ(f.check(), "");
    host_set_cpu(0);
    for (void *q : got) kmem_cache_free(s, q);
    kmem_cache_free(s, first);
    EXPECT_EQ(kmem_cache_destroy(s), 0);
  }
}

// Waits until `waiters` more CPUs queue for lock, which the caller holds.
void wait_for_waiters(const spinlock_t &lock, u32 waiters) {
  const u32 queued = __atomic_load_n(&lock.owner, __ATOMIC_ACQUIRE) + 1 + waiters;
  while (__atomic_load_n(&lock.next, __ATOMIC_ACQUIRE) != queued) std::this_thread::yield();
}

// Two CPUs see node 1's last slab with a free object in the quick look
// that spares an empty node's lock, and queue for the lock while a third
// CPU holds it: the first takes the object (or the slab), the second
// finds the node empty under the lock and must go on to a new slab of
// node 1, not follow a slab that is no longer there. Both for a request
// for another node (kmem_cache_alloc_node from node 0's CPUs: objects of
// node 1's slabs) and for node 1's own CPUs refilling their slabs.
TEST(SlabNuma, NodeEmptiedWhileWaitingForItsLock) {
  cpu_reset reset;
  for (bool own_cpus : {false, true}) {
    SCOPED_TRACE(own_cpus ? "node 1's CPUs refill from node 1" : "node 0's CPUs ask for node 1");
    slab_fixture f;
    ASSERT_EQ(f.build(layout_kind::two_nodes), 0);
    const mem_system &ms = *f.mm.ms;
    kmem_cache *s = kmem_cache_create(*f.sa, "last", 512, 0, 0, nullptr);
    ASSERT_NE(s, nullptr);
    // Node 1 gets one slab with one free object, on its partial list.
    std::vector<void *> held;
    for (unsigned i = 0; i + 1 < s->objects; i++) held.push_back(kmem_cache_alloc_node(s, GFP_KERNEL, 1));
    for (void *p : held) ASSERT_TRUE(p && page_to_nid(virt_to_page(ms, p)) == 1);
    ASSERT_EQ(s->node[1].nr_partial, 1ul);
    ASSERT_EQ(s->node[1].nr_free + s->node[1].nr_full, 0ul);
    const unsigned cpus[2] = {own_cpus ? 2u : 0u, own_cpus ? 3u : 1u};
    host_set_cpu(own_cpus ? 1 : 3);  // the CPU holding the lock
    spinlock_t &lock = s->node[1].list_lock;
    spin_lock(&lock);
    void *got[2] = {};
    std::thread t0([&] {
      host_set_cpu(cpus[0]);
      got[0] = own_cpus ? kmem_cache_alloc(s, GFP_KERNEL) : kmem_cache_alloc_node(s, GFP_KERNEL, 1);
      host_release_cpu();
    });
    wait_for_waiters(lock, 1);
    std::thread t1([&] {
      host_set_cpu(cpus[1]);
      got[1] = own_cpus ? kmem_cache_alloc(s, GFP_KERNEL) : kmem_cache_alloc_node(s, GFP_KERNEL, 1);
      host_release_cpu();
    });
    wait_for_waiters(lock, 2);
    spin_unlock(&lock);
    t0.join();
    t1.join();
    host_set_cpu(0);
    ASSERT_NE(got[0], nullptr);
    ASSERT_NE(got[1], nullptr);
    EXPECT_NE(got[0], got[1]);
    for (void *p : got) EXPECT_EQ(page_to_nid(virt_to_page(ms, p)), 1);
    EXPECT_EQ(s->node[1].nr_slabs, 2ul) << "the second CPU took a new slab of node 1";
    EXPECT_EQ(f.sa->errors, 0ul);
    EXPECT_EQ(f.check(), "");
    for (void *p : got) held.push_back(p);
    for (void *p : held) kmem_cache_free(s, p);
    EXPECT_EQ(kmem_cache_destroy(s), 0);
    EXPECT_EQ(f.check(), "");
  }
}

// ============================================================ the shrinker

// The pages the slab shrinker's count says a scan could give back: each
// node's free slabs, and a page for each slab a CPU owns (it may hold free
// objects: a guess); SHRINK_EMPTY when there are none.
unsigned long expected_shrinker_count(const slab_allocator &sa) {
  unsigned long pages = 0;
  for (const list_head *e = sa.caches.next; e != &sa.caches; e = e->next) {
    const kmem_cache *s = list_entry(const_cast<list_head *>(e), kmem_cache, list);
    for (const kmem_cache_node &n : s->node)
      for (const list_head *l = n.free.next; l != &n.free; l = l->next) pages += 1ul << s->order;
    for (const kmem_cache_cpu &c : s->cpu_slab) {
      pages += c.slab != nullptr;
      for (const list_head *l = c.partial.next; l != &c.partial; l = l->next) pages++;
    }
  }
  return pages ? pages : SHRINK_EMPTY;
}

// The count, at rest (nothing), with free slabs on the nodes, with CPUs
// owning slabs of caches of several orders, and after a scan, which says
// how many pages it freed (its return and nr_scanned).
TEST(SlabShrinker, CountIsTheFreeSlabsAndTheCpusSlabs) {
  cpu_reset reset;
  for (layout_kind k : {layout_kind::single_zone, layout_kind::two_nodes}) {
    SCOPED_TRACE(layout_name(k));
    slab_fixture f;
    ASSERT_EQ(f.build(k), 0);
    slab_allocator &sa = *f.sa;
    shrinker *sh = &sa.slab_shrinker;
    shrink_control sc{GFP_KERNEL, 0, 0, 0};
    settle(f);
    EXPECT_EQ(sh->count_objects(sh, &sc), SHRINK_EMPTY);
    // One object: one CPU's slab of one cache, a page.
    void *one = kmalloc(sa, 64, GFP_KERNEL);
    ASSERT_NE(one, nullptr);
    EXPECT_EQ(sh->count_objects(sh, &sc), 1ul);
    kfree(sa, one);
    std::vector<std::pair<void *, unsigned>> held;
    for (unsigned cpu = 0; cpu < f.mm.ms->nr_cpus; cpu++) {
      host_set_cpu(cpu);
      for (size_t size : {64ul, 700ul, 3000ul, 8000ul})
        for (int i = 0; i < 40; i++) held.push_back({kmalloc(sa, size, GFP_KERNEL), cpu});
    }
    EXPECT_EQ(sh->count_objects(sh, &sc), expected_shrinker_count(sa));
    // Three objects in four back, a third of them from another CPU (slabs
    // partial, free, owned by the freeing CPUs); then the rest.
    for (int round = 0; round < 2; round++) {
      for (size_t i = 0; i < held.size(); i++) {
        if ((i % 4 == 0) != (round == 1)) continue;
        host_set_cpu(i % 3 ? held[i].second : (held[i].second + 1) % f.mm.ms->nr_cpus);
        kfree(sa, held[i].first);
      }
      host_set_cpu(0);
      const unsigned long count = sh->count_objects(sh, &sc);
      EXPECT_EQ(count, expected_shrinker_count(sa));
      EXPECT_NE(count, SHRINK_EMPTY);
    }
    // A scan reports what it gave back, as freed and as nr_scanned.
    sc.nr_to_scan = ~0ul;
    const slab_totals before = slab_pages(sa);
    const unsigned long freed = sh->scan_objects(sh, &sc);
    const slab_totals after = slab_pages(sa);
    EXPECT_GT(freed, 0ul);
    EXPECT_EQ(freed, before.reclaimable_pages + before.unreclaimable_pages - after.reclaimable_pages -
                         after.unreclaimable_pages);
    EXPECT_EQ(sc.nr_scanned, freed);
    EXPECT_EQ(sh->count_objects(sh, &sc), SHRINK_EMPTY);
    EXPECT_EQ(f.check(), "");
  }
}

// A scan gives the CPUs' slabs back to the nodes, then frees caches' free
// slabs cache by cache, oldest cache first, until nr_to_scan pages are
// freed: asked for exactly what the older of two caches holds free, it
// leaves the newer one's slabs alone; the next scan frees those.
TEST(SlabShrinker, ScanStopsOnceNrToScanPagesAreFreed) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  slab_allocator &sa = *f.sa;
  kmem_cache *older = kmem_cache_create(sa, "older", 1000, 0, 0, nullptr);
  kmem_cache *newer = kmem_cache_create(sa, "newer", 1000, 0, 0, nullptr);
  ASSERT_TRUE(older && newer);
  for (kmem_cache *s : {older, newer}) {
    ASSERT_LT(3u, s->min_partial) << "the nodes keep all three free slabs";
    std::vector<void *> objs;
    for (unsigned i = 0; i < 3 * s->objects; i++) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
    for (void *p : objs) kmem_cache_free(s, p);
  }
  settle(f);  // the kmalloc caches and the cache of caches hold no free slab
  shrinker *sh = &sa.slab_shrinker;
  shrink_control sc{GFP_KERNEL, 0, 3ul << older->order, 0};
  EXPECT_EQ(sh->scan_objects(sh, &sc), 3ul << older->order);
  EXPECT_EQ(sc.nr_scanned, 3ul << older->order);
  EXPECT_EQ(older->node[0].nr_slabs, 0ul);
  EXPECT_EQ(newer->node[0].nr_slabs, 3ul);
  EXPECT_EQ(newer->node[0].nr_free, 3ul);
  EXPECT_EQ(f.check(), "");
  sc.nr_to_scan = 1;
  EXPECT_EQ(sh->scan_objects(sh, &sc), 3ul << newer->order) << "a cache's free slabs go together";
  EXPECT_EQ(newer->node[0].nr_slabs, 0ul);
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(kmem_cache_destroy(newer), 0);
  EXPECT_EQ(kmem_cache_destroy(older), 0);
}

// ============================================================ CPUs' slabs

// A free into a slab on its node's partial list leaves the slab with the
// node; only a slab that was full becomes the freeing CPU's (Linux's
// __slab_free: put_cpu_partial only when the slab had no free object).
TEST(CpuSlabRules, FreeIntoANodePartialSlabLeavesItWithTheNode) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  kmem_cache *s = kmem_cache_create(*f.sa, "stays", 100, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  void *a = kmem_cache_alloc(s, GFP_KERNEL), *b = kmem_cache_alloc(s, GFP_KERNEL);
  ASSERT_TRUE(a && b);
  page *slab = addr_to_slab(*f.mm.ms, a);
  flush_this_cpu(s);
  ASSERT_EQ(s->node[0].nr_partial, 1ul);
  host_set_cpu(1);
  kmem_cache_free(s, a);
  EXPECT_EQ(slab->slab_frozen, 0u);
  EXPECT_EQ(s->cpu_slab[1].nr_partial, 0u);
  EXPECT_EQ(s->node[0].nr_partial, 1ul);
  EXPECT_EQ(f.check(), "");
  kmem_cache_free(s, b);
  host_set_cpu(0);
  EXPECT_EQ(kmem_cache_destroy(s), 0);
}

// A free into a full slab takes it onto the freeing CPU's partial list;
// once that list holds cpu_partial_slabs, its oldest slab goes back to the
// node's partial list first, so the list stays at the limit.
TEST(CpuSlabRules, FreeIntoAFullSlabStopsAtCpuPartialSlabs) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  kmem_cache *s = kmem_cache_create(*f.sa, "atlimit", 1000, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  const unsigned limit = s->cpu_partial_slabs;
  std::vector<void *> objs;
  for (unsigned i = 0; i < (limit + 1) * s->objects; i++) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
  flush_this_cpu(s);
  ASSERT_EQ(s->node[0].nr_full, limit + 1ul);
  for (unsigned k = 0; k <= limit; k++) {
    kmem_cache_free(s, objs[k * s->objects]);
    const bool to_cpu = k < limit;
    EXPECT_EQ(s->cpu_slab[0].nr_partial, to_cpu ? k + 1 : limit) << k;
    EXPECT_EQ(s->node[0].nr_partial, to_cpu ? 0ul : 1ul) << k;
  }
  EXPECT_EQ(f.check(), "");
  for (unsigned k = 0; k <= limit; k++) objs[k * s->objects] = nullptr;
  for (void *o : objs)
    if (o) kmem_cache_free(s, o);
  flush_this_cpu(s);
  EXPECT_EQ(kmem_cache_destroy(s), 0);
}

// What an interrupt's allocation does to an allocation that is waiting for
// a new slab page (outside its section): the page allocator's test hook
// runs on the same CPU in the middle of the outer allocation, takes an
// object (a new slab becomes the CPU's) and frees into full slabs, which
// fill the CPU's partial list. The outer allocation's new slab then joins
// that list, and the oldest partial slab goes back to the node so that the
// list stays at cpu_partial_slabs: the counts match the lists and every
// slab is owned exactly once.
struct nested_ctx {
  kmem_cache *s;
  std::vector<void *> *to_free;  // one object of each of some full slabs
  void *nested = nullptr;
  bool inside = false;
};

bool allocate_meanwhile(void *arg, gfp_t, unsigned) {
  nested_ctx &c = *static_cast<nested_ctx *>(arg);
  if (c.inside || c.nested) return false;
  c.inside = true;
  c.nested = kmem_cache_alloc(c.s, GFP_KERNEL);
  for (void *p : *c.to_free) kmem_cache_free(c.s, p);
  c.inside = false;
  return false;
}

TEST(CpuSlabRules, NewSlabArrivingWhenTheCpuHasOneJoinsItsPartialList) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.mm.ms;
  kmem_cache *s = kmem_cache_create(*f.sa, "meanwhile", 1000, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  const unsigned limit = s->cpu_partial_slabs;
  ASSERT_GE(limit, 2u);
  // CPU 0 fills limit + 1 slabs, all full on the node.
  std::vector<void *> objs;
  for (unsigned i = 0; i < (limit + 1) * s->objects; i++) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
  flush_this_cpu(s);
  ASSERT_EQ(s->node[0].nr_full, limit + 1ul);
  std::vector<void *> to_free;
  std::vector<page *> adopted;
  for (unsigned k = 0; k < limit; k++) {
    to_free.push_back(objs[k * s->objects]);
    adopted.push_back(addr_to_slab(ms, objs[k * s->objects]));
  }
  nested_ctx ctx{s, &to_free};
  host_set_cpu(1);
  ms.pcp_disabled = true;
  ms.should_fail_alloc_page = allocate_meanwhile;
  ms.fail_alloc_ctx = &ctx;
  void *outer = kmem_cache_alloc(s, GFP_KERNEL);
  ms.should_fail_alloc_page = nullptr;
  ms.pcp_disabled = false;
  ASSERT_NE(ctx.nested, nullptr);
  ASSERT_NE(outer, nullptr);
  page *nested_slab = addr_to_slab(ms, ctx.nested);
  EXPECT_EQ(s->cpu_slab[1].slab, nested_slab);
  EXPECT_EQ(addr_to_slab(ms, outer), nested_slab) << "the outer allocation takes the CPU's slab";
  EXPECT_EQ(s->cpu_slab[1].nr_partial, limit);
  unsigned listed = 0;
  list_for_each(e, &s->cpu_slab[1].partial) listed++;
  EXPECT_EQ(listed, limit);
  EXPECT_EQ(adopted.front()->slab_frozen, 0u) << "the oldest went back to the node";
  for (unsigned k = 1; k < limit; k++) EXPECT_EQ(adopted[k]->slab_frozen, 2u) << k;
  EXPECT_EQ(s->node[0].nr_slabs, limit + 3ul);
  EXPECT_EQ(f.check(), "");
  kmem_cache_free(s, outer);
  kmem_cache_free(s, ctx.nested);
  host_set_cpu(0);
  for (unsigned i = 0; i < objs.size(); i++)
    if (i % s->objects || i >= limit * s->objects) kmem_cache_free(s, objs[i]);
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(kmem_cache_destroy(s), 0);
  EXPECT_EQ(f.sa->errors, 0ul);
}

// A slab given back to the page allocator leaves its pages as a free page
// must be (prep_new_page relies on it: no mapping, index 0), also the
// first tail page whose mapping, index and private_ words held the bitmaps
// of a slab of at most 64 objects; and a discarded slab page is no slab.
TEST(SlabRules, DiscardedSlabPagesAreCleanFreePages) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  kmem_cache *s = kmem_cache_create(*f.sa, "tail-maps", 2000, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->bitmap_offset, 0u) << "bitmaps in the first tail page";
  std::vector<void *> objs;
  for (unsigned i = 0; i < s->objects; i++) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
  page *slab = addr_to_slab(*f.mm.ms, objs[0]);
  ASSERT_NE(slab, nullptr);
  for (void *p : objs) kmem_cache_free(s, p);
  EXPECT_EQ(kmem_cache_shrink(s), 1ul << s->order);
  EXPECT_FALSE(PageSlab(slab));
  for (unsigned i = 0; i < 1u << s->order; i++) {
    SCOPED_TRACE("page " + std::to_string(i));
    EXPECT_EQ(slab[i].mapping, nullptr);
    EXPECT_EQ(slab[i].index, 0ul);
  }
  EXPECT_EQ(slab[1].private_, 0ul);
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(kmem_cache_destroy(s), 0);
}

// ============================================================ debugging and hardening

// SLAB_RED_ZONE: the red zone after a held object reads SLUB_RED_ACTIVE,
// after a free one SLUB_RED_INACTIVE (never handed out yet, or freed), as
// Linux's init_object sets them.
TEST(SlabDebugRules, RedZoneSaysWhetherTheObjectIsHeld) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  kmem_cache *s = kmem_cache_create(*f.sa, "zoned", 40, 0, SLAB_RED_ZONE, nullptr);
  ASSERT_NE(s, nullptr);
  ASSERT_GE(s->red_zone, 8u);
  u8 *a = static_cast<u8 *>(kmem_cache_alloc(s, GFP_KERNEL));
  u8 *b = static_cast<u8 *>(kmem_cache_alloc(s, GFP_KERNEL));
  ASSERT_TRUE(a && b);
  page *slab = addr_to_slab(*f.mm.ms, a);
  u8 *never = slab_base(*f.mm.ms, slab) + size_t(s->objects - 1) * s->size;
  ASSERT_TRUE(never != a && never != b);
  EXPECT_TRUE(bytes_are(a + 40, s->red_zone, SLUB_RED_ACTIVE));
  EXPECT_TRUE(bytes_are(never + 40, s->red_zone, SLUB_RED_INACTIVE));
  kmem_cache_free(s, a);
  EXPECT_TRUE(bytes_are(a + 40, s->red_zone, SLUB_RED_INACTIVE));
  EXPECT_TRUE(bytes_are(b + 40, s->red_zone, SLUB_RED_ACTIVE));
  kmem_cache_free(s, b);
  EXPECT_EQ(f.sa->errors, 0ul);
  EXPECT_EQ(kmem_cache_destroy(s), 0);
}

// The hardened link is tied to the slot it is stored in (Linux mixes in
// the slot's address): a link copied from another free object's slot, a
// valid stored value there, is caught at the first allocation that would
// follow it, as a link that names no free object; and the allocation that
// reports it leaves the CPU's section (local_lock_irqrestore) like any.
TEST(SlabDebugRules, LinkCopiedFromAnotherSlotIsCaught) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  kmem_cache *s = kmem_cache_create(*f.sa, "victim", 48, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  void *first = kmem_cache_alloc(s, GFP_KERNEL);
  ASSERT_NE(first, nullptr);
  page *slab = addr_to_slab(*f.mm.ms, first);
  u8 *head = static_cast<u8 *>(slab->freelist);
  u8 *next = static_cast<u8 *>(freelist_decode(s, head, *freelist_slot(s, head)));
  ASSERT_NE(next, nullptr);
  ASSERT_NE(freelist_decode(s, next, *freelist_slot(s, next)), nullptr);
  *freelist_slot(s, head) = *freelist_slot(s, next);
  void *got = nullptr;
  expect_report(f, "victim", head, false, "Freelist link corrupted", [&] { got = kmem_cache_alloc(s, GFP_KERNEL); },
                {false, false});
  EXPECT_EQ(got, head);
  EXPECT_EQ(host::cpu_holds[0].busy, 0u) << "CPU 0 is still inside local_lock_irqsave";
  EXPECT_EQ(s->corrupted, 1ul);
  kmem_cache_free(s, got);
  kmem_cache_free(s, first);
  EXPECT_EQ(f.check(), "");
}

// ============================================================ more CPU slab rules

// A CPU whose slab runs out takes its own partial slabs before any node's
// (Linux's ___slab_alloc: the per-CPU partial list, then get_partial): here
// one whose every object CPU 0 freed itself, while the node has a partial
// slab CPU 1 left there.
TEST(CpuSlabRules, OwnPartialSlabServesBeforeTheNodes) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  const mem_system &ms = *f.mm.ms;
  kmem_cache *s = kmem_cache_create(*f.sa, "ownfirst", 64, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  std::vector<void *> first, second;
  for (unsigned i = 0; i < s->objects; i++) first.push_back(kmem_cache_alloc(s, GFP_KERNEL));
  for (unsigned i = 0; i < s->objects; i++) second.push_back(kmem_cache_alloc(s, GFP_KERNEL));
  page *adopted = addr_to_slab(ms, first[0]);
  ASSERT_EQ(s->cpu_slab[0].slab, addr_to_slab(ms, second[0])) << "the second slab is CPU 0's, exhausted";
  for (void *p : first) kmem_cache_free(s, p);
  ASSERT_EQ(adopted->slab_frozen, 1u) << "a free into a full slab made it CPU 0's";
  ASSERT_EQ(adopted->inuse, 0u);
  host_set_cpu(1);
  void *a = kmem_cache_alloc(s, GFP_KERNEL), *b = kmem_cache_alloc(s, GFP_KERNEL);
  page *nodes = addr_to_slab(ms, a);
  flush_this_cpu(s);
  host_set_cpu(0);
  ASSERT_EQ(s->node[0].nr_partial, 1ul);
  void *next = kmem_cache_alloc(s, GFP_KERNEL);
  EXPECT_EQ(addr_to_slab(ms, next), adopted);
  EXPECT_EQ(s->cpu_slab[0].slab, adopted);
  EXPECT_EQ(s->node[0].nr_partial, 1ul) << "the node's partial slab is still the node's";
  EXPECT_EQ(nodes->slab_frozen, 0u);
  EXPECT_EQ(f.check(), "");
  kmem_cache_free(s, next);
  kmem_cache_free(s, a);
  kmem_cache_free(s, b);
  for (void *p : second) kmem_cache_free(s, p);
  EXPECT_EQ(kmem_cache_destroy(s), 0);
  EXPECT_EQ(f.sa->errors, 0ul);
}

// A free into a node's partial slab leaves the freeing CPU's own partial
// slabs alone, even when its list is at cpu_partial_slabs: only a free into
// a full slab, which the CPU would take, makes room first.
TEST(CpuSlabRules, FreeIntoANodePartialSlabKeepsAFullCpuPartialList) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  const mem_system &ms = *f.mm.ms;
  kmem_cache *s = kmem_cache_create(*f.sa, "roomy", 64, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  const unsigned limit = s->cpu_partial_slabs;
  std::vector<void *> objs;
  for (unsigned i = 0; i < (limit + 1) * s->objects; i++) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
  flush_this_cpu(s);
  ASSERT_EQ(s->node[0].nr_full, limit + 1ul);
  std::vector<page *> adopted;
  for (unsigned k = 0; k < limit; k++) {
    adopted.push_back(addr_to_slab(ms, objs[k * s->objects]));
    kmem_cache_free(s, objs[k * s->objects]);
    objs[k * s->objects] = nullptr;
  }
  ASSERT_EQ(s->cpu_slab[0].nr_partial, limit);
  host_set_cpu(1);
  void *a = kmem_cache_alloc(s, GFP_KERNEL), *b = kmem_cache_alloc(s, GFP_KERNEL);
  flush_this_cpu(s);
  host_set_cpu(0);
  ASSERT_EQ(s->node[0].nr_partial, 1ul);
  kmem_cache_free(s, a);
  EXPECT_EQ(s->cpu_slab[0].nr_partial, limit);
  for (page *slab : adopted) EXPECT_EQ(slab->slab_frozen, 1u);
  EXPECT_EQ(s->node[0].nr_partial, 1ul);
  EXPECT_EQ(f.check(), "");
  kmem_cache_free(s, b);
  for (void *p : objs)
    if (p) kmem_cache_free(s, p);
  EXPECT_EQ(kmem_cache_destroy(s), 0);
  EXPECT_EQ(f.sa->errors, 0ul);
}

// The same interrupt as above with room on the CPU's partial list (none or
// one slab there): the outer allocation's new slab joins the list and no
// slab goes back to the node.
TEST(CpuSlabRules, NewSlabArrivingJoinsAPartialListWithRoom) {
  cpu_reset reset;
  for (unsigned adopt : {0u, 1u}) {
    SCOPED_TRACE(std::to_string(adopt) + " partial slabs");
    slab_fixture f;
    ASSERT_EQ(f.build(layout_kind::single_zone), 0);
    mem_system &ms = *f.mm.ms;
    kmem_cache *s = kmem_cache_create(*f.sa, "meanwhile", 1000, 0, 0, nullptr);
    ASSERT_NE(s, nullptr);
    ASSERT_GE(s->cpu_partial_slabs, 3u);
    std::vector<void *> objs;
    for (unsigned i = 0; i < s->objects; i++) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
    flush_this_cpu(s);
    std::vector<void *> to_free;
    if (adopt) to_free.push_back(objs[0]);
    page *full = addr_to_slab(ms, objs[0]);
    nested_ctx ctx{s, &to_free};
    host_set_cpu(1);
    ms.pcp_disabled = true;
    ms.should_fail_alloc_page = allocate_meanwhile;
    ms.fail_alloc_ctx = &ctx;
    void *outer = kmem_cache_alloc(s, GFP_KERNEL);
    ms.should_fail_alloc_page = nullptr;
    ms.pcp_disabled = false;
    ASSERT_NE(ctx.nested, nullptr);
    ASSERT_NE(outer, nullptr);
    page *nested_slab = addr_to_slab(ms, ctx.nested);
    EXPECT_EQ(s->cpu_slab[1].slab, nested_slab);
    EXPECT_EQ(addr_to_slab(ms, outer), nested_slab);
    EXPECT_EQ(s->cpu_slab[1].nr_partial, adopt + 1);
    EXPECT_EQ(full->slab_frozen, adopt ? 2u : 0u);
    EXPECT_EQ(s->node[0].nr_slabs, 3ul);
    EXPECT_EQ(f.check(), "");
    kmem_cache_free(s, outer);
    kmem_cache_free(s, ctx.nested);
    host_set_cpu(0);
    for (unsigned i = adopt; i < objs.size(); i++) kmem_cache_free(s, objs[i]);
    EXPECT_EQ(f.check(), "");
    EXPECT_EQ(kmem_cache_destroy(s), 0);
    EXPECT_EQ(f.sa->errors, 0ul);
  }
}

// An interrupt that only frees (into full slabs, which fill the CPU's
// partial list) leaves the CPU without a slab: the outer allocation's new
// slab becomes the CPU's slab, and the partial list keeps every slab the
// interrupt's frees gave it.
bool free_meanwhile(void *arg, gfp_t, unsigned) {
  nested_ctx &c = *static_cast<nested_ctx *>(arg);
  if (c.inside) return false;
  c.inside = true;
  for (void *p : *c.to_free) kmem_cache_free(c.s, p);
  c.to_free->clear();
  c.inside = false;
  return false;
}

TEST(CpuSlabRules, NewSlabAfterAnInterruptThatOnlyFreedIsTheCpusSlab) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.mm.ms;
  kmem_cache *s = kmem_cache_create(*f.sa, "meanwhile", 1000, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  const unsigned limit = s->cpu_partial_slabs;
  std::vector<void *> objs;
  for (unsigned i = 0; i < limit * s->objects; i++) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
  flush_this_cpu(s);
  ASSERT_EQ(s->node[0].nr_full, static_cast<unsigned long>(limit));
  std::vector<void *> to_free;
  std::vector<page *> adopted;
  for (unsigned k = 0; k < limit; k++) {
    to_free.push_back(objs[k * s->objects]);
    adopted.push_back(addr_to_slab(ms, objs[k * s->objects]));
  }
  nested_ctx ctx{s, &to_free};
  host_set_cpu(1);
  ms.pcp_disabled = true;
  ms.should_fail_alloc_page = free_meanwhile;
  ms.fail_alloc_ctx = &ctx;
  void *outer = kmem_cache_alloc(s, GFP_KERNEL);
  ms.should_fail_alloc_page = nullptr;
  ms.pcp_disabled = false;
  ASSERT_NE(outer, nullptr);
  ASSERT_TRUE(to_free.empty());
  page *fresh = addr_to_slab(ms, outer);
  EXPECT_EQ(s->cpu_slab[1].slab, fresh);
  EXPECT_EQ(s->cpu_slab[1].nr_partial, limit);
  for (unsigned k = 0; k < limit; k++) EXPECT_EQ(adopted[k]->slab_frozen, 2u) << k;
  EXPECT_EQ(f.check(), "");
  kmem_cache_free(s, outer);
  host_set_cpu(0);
  for (unsigned i = 0; i < objs.size(); i++)
    if (i % s->objects) kmem_cache_free(s, objs[i]);
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(kmem_cache_destroy(s), 0);
  EXPECT_EQ(f.sa->errors, 0ul);
}

// The interrupt gives the CPU a slab, and then the outer allocation's own
// page allocation fails: the outer allocation is served from the slab the
// interrupt left, not failed.
bool allocate_meanwhile_then_fail(void *arg, gfp_t, unsigned) {
  nested_ctx &c = *static_cast<nested_ctx *>(arg);
  if (c.inside) return false;
  if (!c.nested) {
    c.inside = true;
    c.nested = kmem_cache_alloc(c.s, GFP_KERNEL);
    c.inside = false;
  }
  return true;
}

TEST(CpuSlabRules, FailedNewSlabTakesTheSlabAnInterruptLeft) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.mm.ms;
  kmem_cache *s = kmem_cache_create(*f.sa, "meanwhile", 1000, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  std::vector<void *> none;
  nested_ctx ctx{s, &none};
  ms.pcp_disabled = true;
  ms.should_fail_alloc_page = allocate_meanwhile_then_fail;
  ms.fail_alloc_ctx = &ctx;
  void *outer = kmem_cache_alloc(s, GFP_KERNEL | __GFP_NOWARN);
  ms.should_fail_alloc_page = nullptr;
  ms.pcp_disabled = false;
  ASSERT_NE(ctx.nested, nullptr);
  ASSERT_NE(outer, nullptr);
  EXPECT_NE(outer, ctx.nested);
  EXPECT_EQ(addr_to_slab(ms, outer), addr_to_slab(ms, ctx.nested));
  EXPECT_EQ(f.check(), "");
  kmem_cache_free(s, outer);
  kmem_cache_free(s, ctx.nested);
  EXPECT_EQ(kmem_cache_destroy(s), 0);
  EXPECT_EQ(f.sa->errors, 0ul);
}

bool fail_every_page(void *, gfp_t, unsigned) { return true; }

// With no page to be had, an allocation fails with nullptr, for this CPU's
// node and for another alike, and warns as Linux's slab_out_of_memory does,
// naming the node and the flags the allocation was made with: those a cache
// ignores (__GFP_HIGHMEM) already dropped, with their own warning.
TEST(SlabNuma, NoPageFailsTheAllocation) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::two_nodes), 0);
  mem_system &ms = *f.mm.ms;
  kmem_cache *s = kmem_cache_create(*f.sa, "starved", 200, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  ms.pcp_disabled = true;
  ms.should_fail_alloc_page = fail_every_page;
  char gfp[32];
  snprintf(gfp, sizeof(gfp), "gfp=%#x\n", GFP_KERNEL);
  log_buf_clear();
  EXPECT_EQ(kmem_cache_alloc(s, GFP_KERNEL | __GFP_HIGHMEM), nullptr);
  std::string log = read_log();
  EXPECT_NE(log.find("__GFP_HIGHMEM/__GFP_MOVABLE ignored"), std::string::npos) << log;
  EXPECT_NE(log.find("SLUB: Unable to allocate memory on node 0, " + std::string(gfp)), std::string::npos) << log;
  log_buf_clear();
  EXPECT_EQ(kmem_cache_alloc_node(s, GFP_KERNEL, 1), nullptr);
  log = read_log();
  EXPECT_NE(log.find("SLUB: Unable to allocate memory on node 1, " + std::string(gfp)), std::string::npos) << log;
  log_buf_clear();
  EXPECT_EQ(kmem_cache_alloc_node(s, GFP_KERNEL | __GFP_NOWARN, 1), nullptr);
  EXPECT_EQ(read_log(), "");
  ms.should_fail_alloc_page = nullptr;
  ms.pcp_disabled = false;
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(kmem_cache_destroy(s), 0);
  EXPECT_EQ(f.sa->errors, 0ul);
}

// kmem_cache_alloc_node for the CPU's own node is kmem_cache_alloc (Linux's
// node_match): the object comes from the CPU's slab, the next after it as
// kmem_cache_alloc's; so does a node number that is no node.
TEST(SlabNuma, AllocNodeForTheLocalNodeUsesTheCpusSlab) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::two_nodes), 0);
  const mem_system &ms = *f.mm.ms;
  for (unsigned cpu : {0u, 2u}) {
    for (int nid : {ms.cpu_to_node[cpu], int(MAX_NUMNODES), -5}) {
      SCOPED_TRACE("cpu " + std::to_string(cpu) + " node " + std::to_string(nid));
      host_set_cpu(cpu);
      kmem_cache *s = kmem_cache_create(*f.sa, "local", 200, 0, 0, nullptr);
      ASSERT_NE(s, nullptr);
      void *p = kmem_cache_alloc_node(s, GFP_KERNEL, nid);
      ASSERT_NE(p, nullptr);
      page *slab = s->cpu_slab[cpu].slab;
      EXPECT_EQ(addr_to_slab(ms, p), slab);
      ASSERT_NE(slab, nullptr);
      EXPECT_EQ(slab->slab_frozen, cpu + 1);
      void *q = kmem_cache_alloc(s, GFP_KERNEL);
      EXPECT_EQ(addr_to_slab(ms, q), slab);
      EXPECT_EQ(f.check(), "");
      kmem_cache_free(s, p);
      kmem_cache_free(s, q);
      host_set_cpu(0);
      EXPECT_EQ(kmem_cache_destroy(s), 0);
    }
  }
  EXPECT_EQ(f.sa->errors, 0ul);
}

// A slab of more than 64 objects keeps each bitmap in several words:
// objects 63 and 64, either side of a word's end, are freed by their own
// bits, into a slab no CPU owns (with object 0 free) and into a debug
// cache's slab another CPU owns (with objects 0 and 127 freed by a third,
// not yet taken back), without a report.
TEST(SlabRules, ObjectsEitherSideOfABitmapWordAreFreed) {
  cpu_reset reset;
  for (slab_flags_t flags : {slab_flags_t(0), SLAB_RED_ZONE}) {
    SCOPED_TRACE(flags ? "red zone" : "plain");
    slab_fixture f;
    ASSERT_EQ(f.build(layout_kind::single_zone), 0);
    const mem_system &ms = *f.mm.ms;
    kmem_cache *s = kmem_cache_create(*f.sa, "wide", 8, 0, flags, nullptr);
    ASSERT_NE(s, nullptr);
    ASSERT_GE(s->objects, 130u);
    std::vector<void *> objs;
    for (unsigned i = 0; i < 130; i++) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
    page *slab = addr_to_slab(ms, objs[0]);
    for (unsigned i = 0; i < 130; i++) ASSERT_EQ(objs[i], slab_object(ms, s, slab, i));
    if (!flags) {
      flush_this_cpu(s);
      kmem_cache_free(s, objs[0]);
      flush_this_cpu(s);
      ASSERT_EQ(slab->slab_frozen, 0u);
    } else {
      host_set_cpu(1);
      kmem_cache_free(s, objs[0]);
      kmem_cache_free(s, objs[127]);
      host_set_cpu(0);
      objs[127] = nullptr;
    }
    objs[0] = nullptr;
    log_buf_clear();
    host_set_cpu(flags ? 0 : 1);
    kmem_cache_free(s, objs[63]);
    kmem_cache_free(s, objs[64]);
    host_set_cpu(0);
    EXPECT_EQ(read_log(), "");
    EXPECT_EQ(f.sa->errors, 0ul);
    objs[63] = objs[64] = nullptr;
    EXPECT_EQ(f.check(), "");
    for (void *p : objs)
      if (p) kmem_cache_free(s, p);
    EXPECT_EQ(kmem_cache_destroy(s), 0);
    EXPECT_EQ(f.sa->errors, 0ul);
  }
}

// Three nodes, node 2's nearest other node being node 0 (20) before node 1
// (30): a CPU of node 2 whose node has no slab of the cache is served from
// node 0's partial slab, not node 1's (Linux's get_any_partial, nearest
// first), and so is kmem_cache_alloc_node for node 2.
TEST(SlabNuma, NearestOtherNodeServesFirst) {
  cpu_reset reset;
  slab_fixture f;
  mem_layout l = layout_with_limits(0, PFN_4G, PFN_MAX, 3);
  const u8 dist[3][3] = {{10, 30, 20}, {30, 10, 30}, {20, 30, 10}};
  for (int a = 0; a < 3; a++) {
    l.cpu_to_node[a] = a;
    for (int b = 0; b < 3; b++) l.node_distance[a][b] = dist[a][b];
  }
  ASSERT_EQ(f.mm.build({{SZ_4G, 16 * SZ_1M, 0}, {SZ_4G + 16 * SZ_1M, 16 * SZ_1M, 1}, {SZ_4G + 32 * SZ_1M, 16 * SZ_1M, 2}},
                       l),
            0);
  ASSERT_EQ(slab_allocator_init(f.sa.get(), *f.mm.ms, 0, 1), 0);
  const mem_system &ms = *f.mm.ms;
  kmem_cache *s = kmem_cache_create(*f.sa, "near", 200, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  std::vector<void *> objs;
  // Each node's CPU takes a slab of its own node (while it owns it, no
  // other node's CPU can take it), then gives it back to its node.
  for (unsigned cpu : {0u, 1u}) {
    host_set_cpu(cpu);
    for (int i = 0; i < 2; i++) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
    EXPECT_EQ(page_to_nid(virt_to_page(ms, objs.back())), int(cpu));
  }
  for (unsigned cpu : {0u, 1u}) {
    host_set_cpu(cpu);
    flush_this_cpu(s);
  }
  ASSERT_EQ(s->node[0].nr_partial, 1ul);
  ASSERT_EQ(s->node[1].nr_partial, 1ul);
  host_set_cpu(2);
  void *p = kmem_cache_alloc(s, GFP_KERNEL);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(page_to_nid(virt_to_page(ms, p)), 0);
  EXPECT_EQ(s->node[1].nr_partial, 1ul);
  objs.push_back(p);
  flush_this_cpu(s);
  host_set_cpu(0);
  void *q = kmem_cache_alloc_node(s, GFP_KERNEL, 2);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(page_to_nid(virt_to_page(ms, q)), 0);
  objs.push_back(q);
  EXPECT_EQ(f.check(), "");
  for (void *o : objs) kmem_cache_free(s, o);
  EXPECT_EQ(kmem_cache_destroy(s), 0);
  EXPECT_EQ(f.sa->errors, 0ul);
  slab_allocator_destroy(f.sa.get());
}

// Objects another CPU freed into a slab before a corrupted link cost it
// its freelist are not abandoned with the freelist: they are taken back,
// so once every caller's object is freed the cache can be destroyed.
TEST(SlabDebugRules, CorruptedLinkKeepsOtherCpusFrees) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  kmem_cache *s = kmem_cache_create(*f.sa, "victim", 48, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  void *a = kmem_cache_alloc(s, GFP_KERNEL), *b = kmem_cache_alloc(s, GFP_KERNEL), *c = kmem_cache_alloc(s, GFP_KERNEL);
  ASSERT_TRUE(a && b && c);
  page *slab = addr_to_slab(*f.mm.ms, a);
  host_set_cpu(1);
  kmem_cache_free(s, b);
  host_set_cpu(0);
  u8 *head = static_cast<u8 *>(slab->freelist);
  *freelist_slot(s, head) = 0xdeadbeefcafef00dul;
  void *got = kmem_cache_alloc(s, GFP_KERNEL);
  EXPECT_EQ(got, head);
  EXPECT_EQ(s->corrupted, 1ul);
  EXPECT_EQ(f.check(), "");
  for (void *p : {a, c, got}) kmem_cache_free(s, p);
  EXPECT_EQ(kmem_cache_destroy(s), 0);
  EXPECT_EQ(f.sa->errors, 1ul);
}

}  // namespace

// Per-CPU slabs (mm/slab.h, mm/slab_alloc.cpp): which CPU owns which slab,
// remote frees into another CPU's slab and their taking back, the hand-over
// of slabs between the CPUs and the nodes, and stop_machine, which lets one
// CPU change the others' slabs (arch/host/cpu.cpp on the host).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "mm/slab_fastpath.h"
#include "proptest/slab_fixture.h"

namespace {

using namespace slabt;

u64 bit_of(const mem_system &ms, const kmem_cache *s, const page *slab, const u64 *map, const void *obj) {
  long i = slab_obj_index(ms, s, slab, obj);
  return map[i / 64] & (u64(1) << (i % 64));
}

unsigned long node_slabs_listed(const kmem_cache *s, int nid) {
  const kmem_cache_node &n = s->node[nid];
  return n.nr_full + n.nr_partial + n.nr_free;
}

using CpuSlab = one_cache_test<64>;

// Allocations and frees on a CPU's own slab leave the node's lists and
// counters alone (no lock, no shared line) and come back in LIFO order.
TEST_F(CpuSlab, OwnSlabServesWithoutTheNode) {
  void *first = kmem_cache_alloc(s, GFP_KERNEL);
  ASSERT_NE(first, nullptr);
  page *slab = s->cpu_slab[0].slab;
  ASSERT_EQ(addr_to_slab(*f.mm.ms, first), slab);
  EXPECT_EQ(slab->slab_frozen, 1u);
  const kmem_cache_node before = s->node[0];
  for (int i = 0; i < 1000; i++) {
    void *p = kmem_cache_alloc(s, GFP_KERNEL);
    ASSERT_EQ(addr_to_slab(*f.mm.ms, p), slab);
    kmem_cache_free(s, p);
    EXPECT_EQ(kmem_cache_alloc(s, GFP_KERNEL), p) << "the last freed object comes back first";
    kmem_cache_free(s, p);
  }
  EXPECT_EQ(s->node[0].nr_full, before.nr_full);
  EXPECT_EQ(s->node[0].nr_partial, before.nr_partial);
  EXPECT_EQ(s->node[0].nr_free, before.nr_free);
  EXPECT_EQ(s->node[0].nr_slabs, 1ul);
  EXPECT_EQ(node_slabs_listed(s, 0), 0ul) << "CPU 0's slab is on no node list";
  EXPECT_EQ(f.check(), "");
  kmem_cache_free(s, first);
  EXPECT_EQ(kmem_cache_destroy(s), 0);
}

// A free from CPU 1 into CPU 0's slab marks the object remote: it is not
// held any more (ksize 0, a second free is refused), but stays out of the
// freelist until CPU 0 runs out and takes it back; then it is handed out
// again. The checker is clean at every step.
TEST_F(CpuSlab, RemoteFreeIsTakenBackWhenTheOwnerRunsOut) {
  const mem_system &ms = *f.mm.ms;
  std::vector<void *> objs;
  objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
  page *slab = s->cpu_slab[0].slab;
  while (slab->freelist) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
  ASSERT_EQ(objs.size(), s->objects);
  void *victim = objs[5];
  host_set_cpu(1);
  kmem_cache_free(s, victim);
  host_set_cpu(0);
  EXPECT_TRUE(bit_of(ms, s, slab, remote_map(ms, s, slab), victim));
  EXPECT_TRUE(bit_of(ms, s, slab, allocated_map(ms, s, slab), victim)) << "the owner has not taken it back";
  EXPECT_EQ(slab->inuse, s->objects);
  EXPECT_NE(slab->slab_remote, 0u);
  EXPECT_EQ(ksize(*f.sa, victim), 0u);
  EXPECT_EQ(s->cpu_slab[1].slab, nullptr) << "CPU 1 took no slab for a free";
  EXPECT_EQ(f.check(), "");
  // CPU 0's slab is out of free objects: the next allocation takes the
  // remote free back and hands it out, from the same slab.
  void *again = kmem_cache_alloc(s, GFP_KERNEL);
  EXPECT_EQ(again, victim);
  EXPECT_EQ(s->cpu_slab[0].slab, slab);
  EXPECT_FALSE(bit_of(ms, s, slab, remote_map(ms, s, slab), victim));
  EXPECT_EQ(slab->slab_remote, 0u);
  EXPECT_EQ(f.check(), "");
  for (void *p : objs) kmem_cache_free(s, p);
  EXPECT_EQ(kmem_cache_destroy(s), 0);
}

// The owner takes back the remote frees of its current slab before it
// turns to its partial slabs (Linux's ___slab_alloc takes the frozen slab's
// freelist, where SLUB puts remote frees, before it deactivates it): with
// a partial slab waiting on CPU 0's list, the allocation after the current
// slab runs out is the object CPU 1 freed into it, and the slab stays CPU
// 0's.
TEST_F(CpuSlab, RemoteFreesOfTheCurrentSlabComeBeforePartialSlabs) {
  std::vector<void *> objs;
  for (unsigned i = 0; i < 2 * s->objects; i++) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
  page *older = addr_to_slab(*f.mm.ms, objs[0]);
  page *current = s->cpu_slab[0].slab;
  ASSERT_NE(older, current);
  ASSERT_EQ(addr_to_slab(*f.mm.ms, objs.back()), current);
  ASSERT_EQ(current->freelist, nullptr);
  // A free into the older, full slab makes it CPU 0's partial slab.
  kmem_cache_free(s, objs[0]);
  ASSERT_EQ(s->cpu_slab[0].nr_partial, 1u);
  ASSERT_EQ(older->slab_frozen, 1u);
  host_set_cpu(1);
  void *victim = objs[s->objects + 7];
  kmem_cache_free(s, victim);
  host_set_cpu(0);
  EXPECT_EQ(kmem_cache_alloc(s, GFP_KERNEL), victim);
  EXPECT_EQ(s->cpu_slab[0].slab, current);
  EXPECT_EQ(s->cpu_slab[0].nr_partial, 1u);
  EXPECT_EQ(kmem_cache_alloc(s, GFP_KERNEL), objs[0]) << "then the partial slab's";
  EXPECT_EQ(s->cpu_slab[0].slab, older);
  EXPECT_EQ(f.check(), "");
  for (void *p : objs) kmem_cache_free(s, p);
  EXPECT_EQ(kmem_cache_destroy(s), 0);
}

// When the owner gives its slab back (a shrink stops every CPU and flushes
// them), the remote frees are taken back on the way: the slab reaches its
// node with no remote bit and the right inuse.
TEST_F(CpuSlab, FlushTakesRemoteFreesBack) {
  const mem_system &ms = *f.mm.ms;
  std::vector<void *> objs;
  for (unsigned i = 0; i < 10; i++) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
  page *slab = s->cpu_slab[0].slab;
  host_set_cpu(2);
  for (unsigned i = 0; i < 4; i++) kmem_cache_free(s, objs[i]);
  host_set_cpu(0);
  EXPECT_EQ(slab->inuse, 10u);
  EXPECT_EQ(kmem_cache_shrink(s), 0ul) << "the slab still has held objects";
  EXPECT_EQ(s->cpu_slab[0].slab, nullptr);
  EXPECT_EQ(slab->slab_frozen, 0u);
  EXPECT_EQ(slab->inuse, 6u);
  for (unsigned w = 0; w < bitmap_words(s); w++) EXPECT_EQ(remote_map(ms, s, slab)[w], 0u);
  EXPECT_EQ(s->node[0].nr_partial, 1ul);
  EXPECT_EQ(f.check(), "");
  for (unsigned i = 4; i < 10; i++) kmem_cache_free(s, objs[i]);
  EXPECT_EQ(kmem_cache_destroy(s), 0);
}

// A free into a full slab no CPU owns makes it the freeing CPU's (on its
// partial list), so that its next frees there take no lock; past
// cpu_partial_slabs the oldest goes back to the node. The partial slabs
// serve once the current one runs out.
TEST_F(CpuSlab, FreeIntoAFullNodeSlabMakesItThisCpus) {
  std::vector<void *> objs;
  const unsigned slabs = s->cpu_partial_slabs + 3;
  for (unsigned i = 0; i < slabs * s->objects; i++) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
  flush_this_cpu(s);
  EXPECT_EQ(s->node[0].nr_full, slabs);
  host_set_cpu(3);
  std::vector<page *> order;
  for (unsigned k = 0; k < slabs; k++) {
    void *p = objs[k * s->objects];
    page *slab = addr_to_slab(*f.mm.ms, p);
    kmem_cache_free(s, p);
    EXPECT_EQ(slab->slab_frozen, 4u) << "slab " << k << " is CPU 3's after the free";
    order.push_back(slab);
    EXPECT_LE(s->cpu_slab[3].nr_partial, s->cpu_partial_slabs);
    EXPECT_EQ(f.check(), "");
  }
  // The oldest were given back to the node, as partial slabs.
  EXPECT_EQ(order.front()->slab_frozen, 0u);
  EXPECT_EQ(s->node[0].nr_partial, slabs - s->cpu_partial_slabs);
  // CPU 3 has no current slab: its first allocation takes a partial one
  // of its own, and gets the object just freed there.
  EXPECT_EQ(s->cpu_slab[3].slab, nullptr);
  void *p = kmem_cache_alloc(s, GFP_KERNEL);
  EXPECT_EQ(p, objs[(slabs - 1) * s->objects]);
  EXPECT_EQ(s->cpu_slab[3].slab, order.back());
  kmem_cache_free(s, p);
  host_set_cpu(0);
  for (unsigned k = 0; k < slabs; k++)
    for (unsigned i = 1; i < s->objects; i++) kmem_cache_free(s, objs[k * s->objects + i]);
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(kmem_cache_destroy(s), 0);
}

// The checker names a CPU keeping more partial slabs than its cache allows
// (objects of 1000 bytes: four to a slab, seven partial slabs allowed).
TEST(CpuSlabs, CheckerBoundsThePartialList) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  kmem_cache *s = kmem_cache_create(*f.sa, "big", 1000, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  ASSERT_GE(s->cpu_partial_slabs, 2u);
  std::vector<void *> objs;
  for (unsigned i = 0; i < 3 * s->objects; i++) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
  flush_this_cpu(s);
  kmem_cache_free(s, objs[0]);
  kmem_cache_free(s, objs[s->objects]);
  ASSERT_EQ(s->cpu_slab[0].nr_partial, 2u);
  ASSERT_EQ(f.check(), "");
  const unsigned cap = s->cpu_partial_slabs;
  s->cpu_partial_slabs = 1;
  std::string report = f.check();
  EXPECT_NE(report.find("cpu 0 keeps 2 partial slabs, above cpu_partial_slabs 1"), std::string::npos) << report;
  s->cpu_partial_slabs = cap;
  for (unsigned i = 1; i < 3 * s->objects; i++)
    if (i != s->objects) kmem_cache_free(s, objs[i]);
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(kmem_cache_destroy(s), 0);
}

// Objects allocated on every CPU and freed on others (every free remote)
// keep nothing alive: the cache is destroyed and every page comes back.
TEST(CpuSlabs, DestroyAfterRemoteFreesGivesEverythingBack) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::two_nodes), 0);
  const page_state initial = settle(f);
  kmem_cache *s = kmem_cache_create(*f.sa, "remote", 100, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  const unsigned cpus = f.mm.ms->nr_cpus;
  ASSERT_GE(cpus, 2u);
  std::vector<std::vector<void *>> made(cpus);
  for (unsigned cpu = 0; cpu < cpus; cpu++) {
    host_set_cpu(cpu);
    for (unsigned i = 0; i < 3 * s->objects; i++) made[cpu].push_back(kmem_cache_alloc(s, GFP_KERNEL));
  }
  for (unsigned cpu = 0; cpu < cpus; cpu++) {
    host_set_cpu((cpu + 1) % cpus);
    for (void *p : made[cpu]) kmem_cache_free(s, p);
  }
  host_set_cpu(0);
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(kmem_cache_destroy(s), 0);
  EXPECT_EQ(f.sa->errors, 0ul);
  EXPECT_EQ(settle(f), initial);
}

// Any sequence of allocations and frees on random CPUs, frees from any CPU,
// flushes of a CPU and shrinks: the checker holds after every step, every
// held object is intact and held (ksize), and afterwards nothing is left.
RC_GTEST_PROP(CpuSlabs, RandomOwnershipKeepsEveryRule, ()) {
  cpu_reset reset;
  slab_fixture f;
  RC_ASSERT(f.build(layout_kind::single_zone) == 0);
  kmem_cache *s = kmem_cache_create(*f.sa, "owners", *rc::gen::element(24u, 64u, 200u, 1000u), 0, 0, nullptr);
  RC_ASSERT(s != nullptr);
  const unsigned cpus = f.mm.ms->nr_cpus;
  std::vector<std::pair<u8 *, u8>> held;  // object, its stamp
  const int steps = *rc::gen::inRange(1, 300);
  for (int step = 0; step < steps; step++) {
    host_set_cpu(*rc::gen::inRange(0u, cpus));
    const int what = *rc::gen::inRange(0, 20);
    if (what < 9 || held.empty()) {
      u8 *p = static_cast<u8 *>(kmem_cache_alloc(s, GFP_KERNEL));
      RC_ASSERT(p != nullptr);
      const u8 stamp = u8(step);
      memset(p, stamp, s->object_size);
      held.push_back({p, stamp});
    } else if (what < 18) {
      size_t at = *rc::gen::inRange<size_t>(0, held.size());
      RC_ASSERT(bytes_are(held[at].first, s->object_size, held[at].second));
      kmem_cache_free(s, held[at].first);
      held.erase(held.begin() + long(at));
    } else if (what == 18) {
      flush_this_cpu(s);
    } else {
      kmem_cache_shrink(s);
    }
    host_set_cpu(0);
    RC_ASSERT(f.check() == std::string());
    for (auto &[p, stamp] : held) RC_ASSERT(ksize(*f.sa, p) == size_t(s->object_size));
  }
  for (auto &[p, stamp] : held) {
    RC_ASSERT(bytes_are(p, s->object_size, stamp));
    kmem_cache_free(s, p);
  }
  RC_ASSERT(f.sa->errors == 0ul);
  RC_ASSERT(kmem_cache_destroy(s) == 0);
}

// Producer and consumer: CPU 0 allocates, CPU 1 frees every object (each a
// remote free into CPU 0's slab, or a free into a slab CPU 0 gave back),
// while CPU 0's slabs run out and go back to the node under the consumer's
// feet. Nothing is reported, and at the end every page is back and the
// checker is clean.
TEST(CpuSlabsThreads, ProducerConsumerBalances) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  slab_allocator &sa = *f.sa;
  const page_state initial = settle(f);
  constexpr unsigned items = 200000, slots = 256;
  std::atomic<void *> ring[slots];
  for (auto &r : ring) r.store(nullptr);
  std::atomic<int> failed{0};
  host_release_cpu();  // the producer is CPU 0
  std::thread producer([&] {
    host_set_cpu(0);
    for (unsigned i = 0; i < items; i++) {
      void *p = kmalloc(sa, 16 + (i % 4) * 48, GFP_KERNEL);
      if (!p) failed++;
      while (ring[i % slots].load(std::memory_order_acquire)) std::this_thread::yield();
      ring[i % slots].store(p ? p : ZERO_SIZE_PTR, std::memory_order_release);
    }
  });
  std::thread consumer([&] {
    host_set_cpu(1);
    for (unsigned i = 0; i < items; i++) {
      void *p;
      while (!(p = ring[i % slots].load(std::memory_order_acquire))) std::this_thread::yield();
      ring[i % slots].store(nullptr, std::memory_order_release);
      kfree(sa, p);
    }
  });
  producer.join();
  consumer.join();
  host_set_cpu(0);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(sa.errors, 0ul);
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(settle(f), initial);
}

// stop_machine runs its function only while no other CPU is inside
// local_lock_irqsave, and a CPU that tries to enter meanwhile waits: threads
// as CPUs mark their sections, and the stopped function never sees a mark.
TEST(StopMachine, HoldsEveryOtherCpuOutsideItsSections) {
  cpu_reset reset;
  constexpr unsigned threads = 3;
  std::atomic<bool> stop{false};
  std::atomic<unsigned> inside[threads + 1] = {};
  std::atomic<unsigned long> sections{0};
  std::vector<std::thread> ts;
  for (unsigned cpu = 1; cpu <= threads; cpu++)
    ts.emplace_back([&, cpu] {
      host_set_cpu(cpu);
      while (!stop.load(std::memory_order_relaxed)) {
        unsigned long flags = local_lock_irqsave();
        inside[cpu].store(1, std::memory_order_relaxed);
        for (int spin = 0; spin < 50; spin++) cpu_relax();
        inside[cpu].store(0, std::memory_order_relaxed);
        local_unlock_irqrestore(flags);
        sections++;
      }
    });
  struct ctx {
    std::atomic<unsigned> *inside;
    unsigned seen;
  } c{inside, 0};
  host_set_cpu(0);
  while (sections.load() < 100 * threads) std::this_thread::yield();  // every thread is going
  const unsigned long before = sections.load();
  for (int round = 0; round < 300; round++)
    stop_machine(
        [](void *arg) {
          ctx &k = *static_cast<ctx *>(arg);
          for (unsigned cpu = 1; cpu <= threads; cpu++) k.seen += k.inside[cpu].load(std::memory_order_relaxed);
        },
        &c);
  stop = true;
  for (std::thread &t : ts) t.join();
  EXPECT_EQ(c.seen, 0u);
  EXPECT_GT(sections.load(), before) << "the CPUs went on between the stops";
}

}  // namespace

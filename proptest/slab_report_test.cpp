// Property tests for mm/slab_report (/proc/slabinfo): after a random
// workload of kmallocs and frees on several CPUs, every row is exactly the
// line Linux's format gives for numbers counted here independently (the
// objects the workload holds, the slabs found by walking the node lists),
// the caches come newest first, and printing changes nothing.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdio>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "mm/slab_report.h"
#include "proptest/slab_fixture.h"

namespace {

using namespace slabt;

std::string capture_slabinfo(slab_allocator &sa) {
  std::string text;
  seq_out out{[](void *ctx, const char *s, size_t len) { static_cast<std::string *>(ctx)->append(s, len); }, &text};
  show_slabinfo(sa, out);
  return text;
}

std::vector<std::string> lines_of(const std::string &text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(text.substr(start, nl - start));
  if (start != text.size()) out.push_back("(no newline) " + text.substr(start));
  return out;
}

const char *const HEADER[] = {
    "slabinfo - version: 2.1",
    "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> "
    "<batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>",
};

// Every cache, newest first: how Linux lists them.
std::vector<kmem_cache *> caches_newest_first(const slab_allocator &sa) {
  std::vector<kmem_cache *> out;
  for (const list_head *e = sa.caches.prev; e != &sa.caches; e = e->prev)
    out.push_back(list_entry(const_cast<list_head *>(e), kmem_cache, list));
  return out;
}

// The line Linux's cache_show prints for s, given the objects callers hold:
// slabs counted by walking the lists, objsize being the stride (s->size).
std::string expected_row(const kmem_cache *s, unsigned long held) {
  unsigned long slabs = 0, active_slabs = 0;
  auto count = [&](const page *slab) {
    slabs++;
    active_slabs += slab->inuse != 0;
  };
  for (const kmem_cache_cpu &c : s->cpu_slab) {
    if (c.slab) count(c.slab);
    for (list_head *e = c.partial.next; e != &c.partial; e = e->next) count(list_entry(e, page, slab_list));
  }
  for (const kmem_cache_node &n : s->node) {
    const list_head *lists[] = {&n.full, &n.partial, &n.free};
    for (const list_head *l : lists)
      for (list_head *e = l->next; e != l; e = e->next) count(list_entry(e, page, slab_list));
  }
  char buf[256];
  snprintf(buf, sizeof(buf), "%-17s %6lu %6lu %6u %4u %4d : tunables %4u %4u %4u : slabdata %6lu %6lu %6lu", s->name,
           held, slabs * s->objects, s->size, s->objects, 1 << s->order, 0u, 0u, 0u, active_slabs,
           slabs, 0ul);
  return buf;
}

struct held_object {
  void *p;
  kmem_cache *cache;  // nullptr: a large kmalloc (not in slabinfo)
};

struct report_op {
  bool free = false;
  unsigned victim = 0;
  size_t size = 8;
  gfp_t zone = 0;
  bool custom = false;  // from the test's own cache instead of kmalloc
  unsigned cpu = 0;
};

std::ostream &operator<<(std::ostream &os, const report_op &o) {
  if (o.free) return os << "free #" << o.victim << " on cpu " << o.cpu;
  if (o.custom) return os << "alloc custom on cpu " << o.cpu;
  return os << "kmalloc " << o.size << " zone 0x" << std::hex << o.zone << std::dec << " on cpu " << o.cpu;
}

rc::Gen<report_op> gen_report_op() {
  return rc::gen::apply(
      [](bool free, unsigned victim, size_t size, gfp_t zone, bool custom, unsigned cpu) {
        return report_op{free, victim, size, zone, custom, cpu};
      },
      rc::gen::weightedElement<bool>({{3, false}, {2, true}}), rc::gen::inRange(0u, 1000u),
      rc::gen::weightedOneOf<size_t>({{6, rc::gen::inRange<size_t>(1, KMALLOC_MAX_CACHE_SIZE + 1)},
                                      {1, rc::gen::inRange<size_t>(KMALLOC_MAX_CACHE_SIZE + 1, 5 * PAGE_SIZE)}}),
      rc::gen::element<gfp_t>(0, __GFP_DMA32, __GFP_DMA), rc::gen::weightedElement<bool>({{4, false}, {1, true}}),
      rc::gen::inRange(0u, 4u));
}

// Runs ops, keeping `held` and the count of objects held per cache.
void run_ops(slab_fixture &f, kmem_cache *custom, const std::vector<report_op> &ops, std::vector<held_object> &held,
             std::map<const kmem_cache *, unsigned long> &count) {
  slab_allocator &sa = *f.sa;
  for (const report_op &o : ops) {
    host_set_cpu(o.cpu % f.mm.ms->nr_cpus);
    if (o.free) {
      if (held.empty()) continue;
      size_t i = o.victim % held.size();
      if (held[i].cache == custom) kmem_cache_free(custom, held[i].p);
      else kfree(sa, held[i].p);
      if (held[i].cache) count[held[i].cache]--;
      held.erase(held.begin() + long(i));
      continue;
    }
    if (o.custom) {
      void *p = kmem_cache_alloc(custom, GFP_KERNEL);
      RC_ASSERT((p != nullptr));
      held.push_back({p, custom});
      count[custom]++;
      continue;
    }
    kmalloc_cache_type type = o.zone == __GFP_DMA ? KMALLOC_DMA : o.zone == __GFP_DMA32 ? KMALLOC_DMA32 : KMALLOC_NORMAL;
    kmem_cache *cache = o.size <= KMALLOC_MAX_CACHE_SIZE ? sa.kmalloc_caches[type][kmalloc_index(o.size)] : nullptr;
    if (o.size <= KMALLOC_MAX_CACHE_SIZE && !cache) continue;  // no memory in that zone on this layout
    void *p = kmalloc(sa, o.size, GFP_KERNEL | o.zone | __GFP_NOWARN);
    if (!p) continue;  // a small layout ran out: allowed, nothing to count
    held.push_back({p, cache});
    if (cache) count[cache]++;
  }
  host_set_cpu(0);
}

// Whether any lock the report takes is held.
bool any_slab_lock_held(const slab_allocator &sa) {
  if (spin_is_locked(&sa.slab_mutex)) return true;
  for (kmem_cache *s : caches_newest_first(sa)) {
    for (const kmem_cache_node &n : s->node)
      if (spin_is_locked(&n.list_lock)) return true;
  }
  return false;
}

}  // namespace

// The header is Linux's two lines; then one row per cache, newest first
// (so the test's own cache first and kmem_cache last), each exactly what
// Linux's "%-17s %6lu ..." format gives for: active_objs = the objects the
// workload holds (free objects of the CPUs' slabs, and remote frees not yet
// taken back, are not counted), num_objs = slabs x objects per slab, objsize = the stride,
// active_slabs = slabs with an object in use, num_slabs = every slab. The
// kmem_cache row counts one object per cache that was created.
RC_GTEST_PROP(ProcSlabinfo, RowsMatchHeldObjects, ()) {
  cpu_reset reset;
  slab_fixture f;
  layout_kind k = *rc::gen::elementOf(std::vector<layout_kind>(std::begin(all_layouts), std::end(all_layouts)));
  slab_flags_t debug = *rc::gen::element<slab_flags_t>(0, SLAB_RED_ZONE | SLAB_POISON);
  RC_ASSERT(f.build(k, debug) == 0);
  slab_allocator &sa = *f.sa;
  unsigned size = *rc::gen::inRange(1u, 3000u);
  kmem_cache *custom = kmem_cache_create(sa, "report_test", size, 0, SLAB_RECLAIM_ACCOUNT, nullptr);
  RC_ASSERT((custom != nullptr));
  std::vector<held_object> held;
  std::map<const kmem_cache *, unsigned long> count;
  run_ops(f, custom, *rc::gen::container<std::vector<report_op>>(gen_report_op()), held, count);

  std::vector<kmem_cache *> caches = caches_newest_first(sa);
  count[&sa.kmem_cache_boot] = caches.size() - 1;  // every cache but the boot cache is one of its objects
  std::vector<std::string> lines = lines_of(capture_slabinfo(sa));
  RC_ASSERT(lines.size() == 2 + caches.size());
  RC_ASSERT(lines[0] == HEADER[0]);
  RC_ASSERT(lines[1] == HEADER[1]);
  RC_ASSERT((caches.front() == custom));
  RC_ASSERT((caches.back() == &sa.kmem_cache_boot));
  for (size_t i = 0; i < caches.size(); i++) RC_ASSERT(lines[2 + i] == expected_row(caches[i], count[caches[i]]));
  RC_ASSERT(f.check() == "");

  for (const held_object &h : held) {
    if (h.cache == custom) kmem_cache_free(custom, h.p);
    else kfree(sa, h.p);
  }
  RC_ASSERT(kmem_cache_destroy(custom) == 0);
}

// Objects another CPU freed into CPU 0's slab are free though CPU 0 has not
// taken them back (they still count in its slab's inuse): active_objs drops
// at once, and again when CPU 0 frees objects itself, down to 0 when CPU 1
// frees all the rest.
TEST(ProcSlabinfo, RemotelyFreedObjectsAreNotActive) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  slab_allocator &sa = *f.sa;
  kmem_cache *s = kmem_cache_create(sa, "remote_test", 40, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  host_set_cpu(0);
  std::vector<void *> objs;
  for (unsigned i = 0; i < 100; i++) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
  page *slab = s->cpu_slab[0].slab;
  ASSERT_NE(slab, nullptr);
  const unsigned inuse = slab->inuse;
  host_set_cpu(1);
  for (unsigned i = 0; i < 7; i++) {
    ASSERT_EQ(addr_to_slab(*f.mm.ms, objs.back()), slab);
    kmem_cache_free(s, objs.back());
    objs.pop_back();
  }
  host_set_cpu(0);
  EXPECT_EQ(slab->inuse, inuse) << "CPU 0 has not taken them back yet";
  std::vector<std::string> lines = lines_of(capture_slabinfo(sa));
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[2], expected_row(s, 93));
  EXPECT_EQ(lines[2].substr(0, 25), "remote_test" + std::string(11, ' ') + "93 ");
  kmem_cache_free(s, objs.back());
  objs.pop_back();
  lines = lines_of(capture_slabinfo(sa));
  EXPECT_EQ(lines[2], expected_row(s, 92));
  // The rest freed by CPU 1 too: a slab whose every held object waits to
  // be taken back holds none.
  host_set_cpu(1);
  for (void *p : objs) kmem_cache_free(s, p);
  host_set_cpu(0);
  EXPECT_EQ(slab->inuse, inuse - 1) << "only CPU 0's own free is taken back";
  lines = lines_of(capture_slabinfo(sa));
  EXPECT_EQ(lines[2], expected_row(s, 0));
  EXPECT_EQ(kmem_cache_destroy(s), 0);
  EXPECT_EQ(f.check(), "");
}

// Every kind of slab in one row: a CPU's slab, a slab on a CPU's partial
// list, a node's partial and full slabs, and free slabs a node keeps. The
// held objects count wherever they are, free slabs count as slabs but not
// as active ones, and objects abandoned behind a corrupted freelist link
// are held by nobody.
TEST(ProcSlabinfo, EveryKindOfSlabIsCounted) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  slab_allocator &sa = *f.sa;
  const mem_system &ms = *f.mm.ms;
  kmem_cache *s = kmem_cache_create(sa, "kinds", 100, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  std::vector<void *> held;
  auto row = [&] {
    std::vector<std::string> lines = lines_of(capture_slabinfo(sa));
    return lines.size() > 2 ? lines[2] : std::string("(no row)");
  };
  // CPU 0: two full slabs on the node, its own slab with 5 objects held.
  for (unsigned i = 0; i < 2 * s->objects + 5; i++) held.push_back(kmem_cache_alloc(s, GFP_KERNEL));
  // A free into the first full slab makes it CPU 0's partial slab.
  page *first = addr_to_slab(ms, held[0]);
  kmem_cache_free(s, held[0]);
  held.erase(held.begin());
  ASSERT_EQ(first->slab_frozen, 1u);
  ASSERT_EQ(s->cpu_slab[0].nr_partial, 1u);
  EXPECT_EQ(row(), expected_row(s, held.size()));
  // CPU 1: a slab emptied and given back to the node, which keeps it free,
  // and one with an object held on the node's partial list.
  host_set_cpu(1);
  std::vector<void *> gone;
  for (unsigned i = 0; i < s->objects + 1; i++) gone.push_back(kmem_cache_alloc(s, GFP_KERNEL));
  held.push_back(gone.back());
  gone.pop_back();
  for (void *p : gone) kmem_cache_free(s, p);
  flush_this_cpu(s);
  host_set_cpu(0);
  ASSERT_EQ(s->node[0].nr_free, 1ul);
  ASSERT_EQ(s->node[0].nr_partial, 1ul);
  EXPECT_EQ(row(), expected_row(s, held.size()));
  // A corrupted link in CPU 0's slab: its free objects are lost.
  page *own = s->cpu_slab[0].slab;
  void *head = own->freelist;
  ASSERT_NE(head, nullptr);
  *freelist_slot(s, head) = 0xdeadbeefcafef00dul;
  void *got = kmem_cache_alloc(s, GFP_KERNEL);
  EXPECT_EQ(got, head);
  held.push_back(got);
  ASSERT_GT(own->lost, 0u);
  EXPECT_EQ(row(), expected_row(s, held.size()));
  EXPECT_EQ(f.check(), "");
  for (void *p : held) kmem_cache_free(s, p);
  EXPECT_EQ(kmem_cache_destroy(s), 0);
  EXPECT_EQ(sa.errors, 1ul);
}

// A name of 17 characters or more is printed whole, pushing the row right,
// as Linux's %-17s does; the cache list is read in batches, so more caches
// than one batch all appear, once each.
TEST(ProcSlabinfo, LongNamesAndManyCaches) {
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::three_zones), 0);  // DMA, DMA32 and Normal kmalloc caches: 40 rows
  slab_allocator &sa = *f.sa;
  kmem_cache *s = kmem_cache_create(sa, "a_rather_long_cache_name", 64, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  std::vector<kmem_cache *> caches = caches_newest_first(sa);
  ASSERT_GT(caches.size(), 32u);
  std::vector<std::string> lines = lines_of(capture_slabinfo(sa));
  ASSERT_EQ(lines.size(), 2 + caches.size());
  EXPECT_EQ(lines[2].substr(0, 32), "a_rather_long_cache_name      0 ");
  for (size_t i = 0; i < caches.size(); i++) {
    std::string name = caches[i]->name;
    EXPECT_EQ(lines[2 + i].substr(0, name.size() + 1), name + " ") << lines[2 + i];
  }
  EXPECT_EQ(kmem_cache_destroy(s), 0);
}

// Printing takes every lock it needs and gives each back: afterwards no
// slab lock is held, the page allocator's state is as before, and both
// checkers are clean.
RC_GTEST_PROP(ProcSlabinfo, ReportLeavesStateUnchanged, ()) {
  cpu_reset reset;
  slab_fixture f;
  layout_kind k = *rc::gen::elementOf(std::vector<layout_kind>(std::begin(all_layouts), std::end(all_layouts)));
  RC_ASSERT(f.build(k) == 0);
  kmem_cache *custom = kmem_cache_create(*f.sa, "report_test", 200, 0, 0, nullptr);
  RC_ASSERT((custom != nullptr));
  std::vector<held_object> held;
  std::map<const kmem_cache *, unsigned long> count;
  run_ops(f, custom, *rc::gen::container<std::vector<report_op>>(gen_report_op()), held, count);
  page_state before = snapshot(*f.mm.ms);
  std::string first = capture_slabinfo(*f.sa);
  RC_ASSERT(!any_slab_lock_held(*f.sa));
  RC_ASSERT(snapshot(*f.mm.ms) == before);
  RC_ASSERT(capture_slabinfo(*f.sa) == first);
  RC_ASSERT(f.check() == "");
}

// mm.check=1's per-call checks (mm/check_calls.cpp): silent on a healthy
// allocator under any workload, and loud when the state they look at is
// damaged.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <vector>

#include "mm/check.h"
#include "mm/compaction.h"
#include "mm/page_alloc_internal.h"
#include "mm/slab_internal.h"
#include "proptest/vmalloc_fixture.h"

using namespace slabt;

namespace {

struct checked_machine {
  vmalloc_fixture f;
  mem_system &ms() { return *f.slab.mm.ms; }
  int build(layout_kind k) {
    if (int err = f.build(k)) return err;
    ms().check_calls = true;
    return 0;
  }
};

}  // namespace

// Any mix of page, kmalloc and vmalloc calls on any layout, on two CPUs:
// the per-call checks find nothing, and the whole checkers agree.
RC_GTEST_PROP(CheckCalls, SilentOnAHealthyAllocator, ()) {
  const layout_kind layout =
      *rc::gen::elementOf(std::vector<layout_kind>(std::begin(all_layouts), std::end(all_layouts)));
  cpu_reset reset_cpu;
  checked_machine m;
  RC_ASSERT(m.build(layout) == 0);
  mem_system &ms = m.ms();
  slab_allocator &sa = *m.f.slab.sa;
  struct held {
    int kind;
    void *p;
    unsigned order;
  };
  std::vector<held> live;
  const int steps = *rc::gen::inRange(1, 60);
  for (int i = 0; i < steps; i++) {
    host_set_cpu(*rc::gen::inRange(0u, 2u));
    const int what = *rc::gen::inRange(0, 4);
    if (what == 3 && !live.empty()) {
      size_t k = *rc::gen::inRange<size_t>(0, live.size());
      held h = live[k];
      live.erase(live.begin() + long(k));
      if (h.kind == 0) __free_pages(ms, static_cast<page *>(h.p), h.order);
      else if (h.kind == 1) kfree(sa, h.p);
      else vfree(*m.f.vs, h.p);
    } else if (what == 0) {
      unsigned order = *rc::gen::inRange(0u, 5u);
      gfp_t gfp = *rc::gen::element<gfp_t>(gfp_t(GFP_KERNEL), gfp_t(GFP_KERNEL | __GFP_DMA32), gfp_t(GFP_ATOMIC),
                                           gfp_t(GFP_KERNEL | __GFP_COMP));
      if (page *p = alloc_pages(ms, gfp, order)) live.push_back({0, p, order});
    } else if (what == 1) {
      if (void *p = kmalloc(sa, *rc::gen::inRange<size_t>(1, 20000), GFP_KERNEL)) live.push_back({1, p, 0});
    } else {
      if (void *p = vmalloc(*m.f.vs, *rc::gen::inRange<unsigned long>(1, 40000))) live.push_back({2, p, 0});
    }
    RC_ASSERT(ms.check_violations == 0ul);
  }
  RC_ASSERT(m.f.check() == std::string());
  for (const held &h : live) {
    if (h.kind == 0) __free_pages(ms, static_cast<page *>(h.p), h.order);
    else if (h.kind == 1) kfree(sa, h.p);
    else vfree(*m.f.vs, h.p);
  }
  RC_ASSERT(ms.check_violations == 0ul);
}

// A zone whose free counter disagrees with its free areas is reported by
// the next allocation and the next free, with the zone's name.
TEST(CheckCalls, ZoneCounterDamageIsReported) {
  checked_machine m;
  ASSERT_EQ(m.build(layout_kind::single_zone), 0);
  mem_system &ms = m.ms();
  page *p = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ms.check_violations, 0ul);
  zone *z = page_zone(ms, p);
  z->vm_stat[NR_FREE_PAGES] += 5;
  log_buf_clear();
  page *q = alloc_pages(ms, GFP_KERNEL, 1);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(ms.check_violations, 1ul);
  __free_pages(ms, q, 1);
  EXPECT_EQ(ms.check_violations, 2ul);
  std::string log = read_log();
  EXPECT_NE(log.find("mm.check: 1 violations after alloc_pages:"), std::string::npos) << log;
  EXPECT_NE(log.find("NR_FREE_PAGES"), std::string::npos) << log;
  z->vm_stat[NR_FREE_PAGES] -= 5;
  __free_pages(ms, p, 0);
  EXPECT_EQ(ms.check_violations, 2ul);
}

// Compaction and contiguous allocations are checked after each call too:
// silent on a healthy machine, and a damaged free counter is reported by
// compact_zone (once per zone it compacts) and by alloc_contig_pages, each
// under its own name.
TEST(CheckCalls, CompactionAndContigCallsAreChecked) {
  checked_machine m;
  ASSERT_EQ(m.build(layout_kind::single_zone), 0);
  mem_system &ms = m.ms();
  compact_memory(ms);
  EXPECT_EQ(ms.check_violations, 0ul);
  page *c = alloc_contig_pages(ms, 16, GFP_KERNEL, 0);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(ms.check_violations, 0ul);
  EXPECT_EQ(free_contig_range(ms, page_to_pfn(ms, c), 16), 0ul);

  zone *z = page_zone(ms, c);
  z->vm_stat[NR_FREE_PAGES] += 5;
  log_buf_clear();
  compact_memory(ms);
  const unsigned long after_compact = ms.check_violations;
  EXPECT_GT(after_compact, 0ul);
  std::string log = read_log();
  EXPECT_NE(log.find("violations after compact_zone:"), std::string::npos) << log;
  log_buf_clear();
  c = alloc_contig_pages(ms, 16, GFP_KERNEL, 0);
  ASSERT_NE(c, nullptr);
  EXPECT_GT(ms.check_violations, after_compact);
  log = read_log();
  EXPECT_NE(log.find("violations after alloc_contig_pages:"), std::string::npos) << log;
  EXPECT_NE(log.find("NR_FREE_PAGES"), std::string::npos) << log;
  z->vm_stat[NR_FREE_PAGES] -= 5;
  const unsigned long before_free = ms.check_violations;
  EXPECT_EQ(free_contig_range(ms, page_to_pfn(ms, c), 16), 0ul);
  EXPECT_EQ(ms.check_violations, before_free);
  // Without mm.check=1 the same damage goes unseen by these calls.
  ms.check_calls = false;
  z->vm_stat[NR_FREE_PAGES] += 5;
  compact_memory(ms);
  c = alloc_contig_pages(ms, 16, GFP_KERNEL, 0);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(free_contig_range(ms, page_to_pfn(ms, c), 16), 0ul);
  EXPECT_EQ(ms.check_violations, before_free);
  z->vm_stat[NR_FREE_PAGES] -= 5;
  EXPECT_EQ(m.f.check(), std::string());
}

// A per-CPU list whose count is off (a free that skipped the count) is
// reported by the next call on that CPU.
TEST(CheckCalls, PcpCountDamageIsReported) {
  checked_machine m;
  ASSERT_EQ(m.build(layout_kind::single_zone), 0);
  mem_system &ms = m.ms();
  page *p = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  zone *z = page_zone(ms, p);
  z->pcp[0].count += 1;
  log_buf_clear();
  __free_pages(ms, p, 0);
  EXPECT_GE(ms.check_violations, 1ul);
  EXPECT_NE(read_log().find("pcp count"), std::string::npos);
  // Without mm.check=1 no call checks anything.
  ms.check_calls = false;
  const unsigned long found = ms.check_violations;
  for (gfp_t gfp : {GFP_KERNEL, GFP_KERNEL | __GFP_COMP}) {
    p = alloc_pages(ms, gfp, 4);
    ASSERT_NE(p, nullptr);
    __free_pages(ms, p, 4);
  }
  EXPECT_EQ(ms.check_violations, found);
  z->pcp[0].count -= 1;
}

// An object "handed out" that its slab says is free (on the CPU's slab's
// freelist, marked on it, not marked held) or that another CPU freed is a
// double hand-out; so is a pointer into an object.
TEST(CheckCalls, SlabDoubleHandOutIsReported) {
  checked_machine m;
  ASSERT_EQ(m.build(layout_kind::single_zone), 0);
  mem_system &ms = m.ms();
  slab_allocator &sa = *m.f.slab.sa;
  kmem_cache *c = kmem_cache_create(sa, "cc-test", 48, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  void *a = kmem_cache_alloc(c, GFP_KERNEL);
  void *b = kmem_cache_alloc(c, GFP_KERNEL);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(ms.check_violations, 0ul);
  EXPECT_TRUE(check_slab_alloc_call(c, a));
  EXPECT_EQ(ms.check_violations, 0ul);
  kmem_cache_free(c, b);  // b is on this CPU's slab's freelist now
  log_buf_clear();
  EXPECT_FALSE(check_slab_alloc_call(c, b));
  EXPECT_EQ(ms.check_violations, 3ul);  // not held, marked on the freelist, reachable from it
  EXPECT_NE(read_log().find("handed out while still on CPU 0's slab's freelist"), std::string::npos);
  EXPECT_NE(read_log().find("handed out but not marked held"), std::string::npos);
  EXPECT_NE(read_log().find("handed out while on its slab's freelist"), std::string::npos);
  EXPECT_FALSE(check_slab_alloc_call(c, static_cast<char *>(a) + 1));
  EXPECT_EQ(ms.check_violations, 4ul);
  // Freed by CPU 1 into CPU 0's slab: marked remote, still held.
  host_set_cpu(1);
  kmem_cache_free(c, a);
  host_set_cpu(0);
  log_buf_clear();
  EXPECT_FALSE(check_slab_alloc_call(c, a));
  EXPECT_NE(read_log().find("handed out while freed by another CPU"), std::string::npos);
  EXPECT_EQ(kmem_cache_destroy(c), 0);
}

// The walk of the CPU's own slab's freelist happens on every CPU, each
// knowing its own slab by slab_frozen == cpu + 1: an object freed back onto
// it and "handed out" again is reported as still on that CPU's freelist.
// An object on another CPU's slab's freelist is not walked for (that
// freelist is its owner's to change).
TEST(CheckCalls, SlabHandOutStillOnOwnFreelistOnEveryCpu) {
  cpu_reset reset_cpu;
  checked_machine m;
  ASSERT_EQ(m.build(layout_kind::two_nodes), 0);
  mem_system &ms = m.ms();
  ASSERT_GE(ms.nr_cpus, 4u);
  slab_allocator &sa = *m.f.slab.sa;
  kmem_cache *c = kmem_cache_create(sa, "cc-test", 48, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  std::vector<void *> freed(ms.nr_cpus);
  for (unsigned cpu = 0; cpu < ms.nr_cpus; cpu++) {
    SCOPED_TRACE("cpu " + std::to_string(cpu));
    host_set_cpu(cpu);
    void *b = kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT_NE(b, nullptr);
    kmem_cache_free(c, b);  // on this CPU's slab's freelist
    freed[cpu] = b;
    const std::string own = "handed out while still on CPU " + std::to_string(cpu) + "'s slab's freelist";
    const unsigned long before = ms.check_violations;
    log_buf_clear();
    EXPECT_FALSE(check_slab_alloc_call(c, b));
    EXPECT_EQ(ms.check_violations, before + 3);
    EXPECT_NE(read_log().find(own), std::string::npos) << read_log();
  }
  // CPU 0 looking at CPU 1's freed object: not held, on its slab's
  // freelist, but no walk of a freelist CPU 0 does not own.
  host_set_cpu(0);
  const unsigned long before = ms.check_violations;
  log_buf_clear();
  EXPECT_FALSE(check_slab_alloc_call(c, freed[1]));
  EXPECT_EQ(ms.check_violations, before + 2);
  EXPECT_EQ(read_log().find("still on CPU"), std::string::npos) << read_log();
  EXPECT_EQ(kmem_cache_destroy(c), 0);
}

// A range vfree left mapped is reported; a clean vfree is not.
TEST(CheckCalls, MappedAfterVfreeIsReported) {
  checked_machine m;
  ASSERT_EQ(m.build(layout_kind::single_zone), 0);
  mem_system &ms = m.ms();
  void *v = vmalloc(*m.f.vs, 3 * PAGE_SIZE);
  ASSERT_NE(v, nullptr);
  vfree(*m.f.vs, v);
  EXPECT_EQ(ms.check_violations, 0ul);
  // A mapping in the vmalloc range where no area is: what a vfree that
  // forgot to unmap leaves behind.
  page *frame = alloc_pages(ms, GFP_KERNEL, 0);
  uintptr_t at = uptr(v);
  {
    spin_lock_guard g(m.f.vs->pt_lock);
    ASSERT_EQ(pgtable_map(&m.f.pt, at, page_to_phys(ms, frame), PAGE_SIZE, PROT_READ | PROT_WRITE, 0, m.f.vs->pt_ops),
              0);
  }
  check_vfree_call(*m.f.vs, at, at + 3 * PAGE_SIZE);
  EXPECT_EQ(ms.check_violations, 1ul);
  EXPECT_NE(m.f.check(), "");
  {
    spin_lock_guard g(m.f.vs->pt_lock);
    ASSERT_EQ(pgtable_unmap(&m.f.pt, at, PAGE_SIZE, m.f.vs->pt_ops), 0);
  }
  __free_pages(ms, frame, 0);
}

namespace {

// The level-0 entry that maps va (the test's own walk, to damage it).
pte_t *leaf_entry(const page_table &pt, uintptr_t va) {
  phys_addr_t table = pt.root;
  for (unsigned level = SV39_LEVELS - 1; level > 0; level--) {
    pte_t e = pgtable_detail::table_ptr(table)[sv39_index(va, level)];
    if (!(e & PTE_V) || (e & PTE_LEAF_MASK)) return nullptr;
    table = pte_to_phys(e);
  }
  return &pgtable_detail::table_ptr(table)[sv39_index(va, 0)];
}

}  // namespace

// check_pgtable finds each thing a kernel table must never hold: a W+X
// leaf, a user-accessible leaf, a mapping in the user half, a reserved
// encoding; and nothing in a table that holds none of them.
TEST(CheckPgtable, KernelTableRules) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.slab.mm.ms;
  page *frame = alloc_pages(ms, GFP_KERNEL, 0);
  const phys_addr_t pa = page_to_phys(ms, frame);
  const uintptr_t va = VMALLOC_START_ADDR + 16 * PAGE_SIZE;
  ASSERT_EQ(pgtable_map(&f.pt, va, pa, PAGE_SIZE, PROT_READ | PROT_WRITE, 0, f.vs->pt_ops), 0);
  char buf[4096];
  auto run = [&] {
    check_report r = make_check_report(buf, sizeof(buf));
    return check_pgtable(f.pt, r);
  };
  EXPECT_EQ(run(), 0u) << buf;
  pte_t *e = leaf_entry(f.pt, va);
  ASSERT_NE(e, nullptr);
  const pte_t good = *e;
  *e = good | PTE_X;
  EXPECT_EQ(run(), 1u);
  EXPECT_NE(std::string(buf).find("writable and executable (W+X)"), std::string::npos) << buf;
  *e = good | PTE_U;
  EXPECT_EQ(run(), 1u);
  EXPECT_NE(std::string(buf).find("user-accessible"), std::string::npos) << buf;
  *e = (good & ~PTE_R) | PTE_W;  // W without R: reserved
  EXPECT_EQ(run(), 1u);
  EXPECT_NE(std::string(buf).find("reserved"), std::string::npos) << buf;
  *e = good;
  EXPECT_EQ(run(), 0u) << buf;
  // The user half.
  ASSERT_EQ(pgtable_map(&f.pt, 0x10000, pa, PAGE_SIZE, PROT_READ, 0, f.vs->pt_ops), 0);
  EXPECT_EQ(run(), 1u);
  EXPECT_NE(std::string(buf).find("user half"), std::string::npos) << buf;
  ASSERT_EQ(pgtable_unmap(&f.pt, 0x10000, PAGE_SIZE, f.vs->pt_ops), 0);
  ASSERT_EQ(pgtable_unmap(&f.pt, va, PAGE_SIZE, f.vs->pt_ops), 0);
  EXPECT_EQ(run(), 0u) << buf;
  __free_pages(ms, frame, 0);
}

// Each rule's exact line, with the leaf's size in KiB where the line gives
// it, for every way a leaf or a pointer entry can break it: the A/D rule in
// both halves (no A; writable without D) and not for a read-only leaf
// without D; every leaf bit on a pointer entry; the user half down to
// address 0 and up to its last page; and a table with no root.
TEST(CheckPgtable, EachRuleHasItsExactLine) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.slab.mm.ms;
  page *frame = alloc_pages(ms, GFP_KERNEL, 0);
  const phys_addr_t pa = page_to_phys(ms, frame);
  const uintptr_t va = VMALLOC_START_ADDR + 16 * PAGE_SIZE, ro = va + PAGE_SIZE;
  ASSERT_EQ(pgtable_map(&f.pt, va, pa, PAGE_SIZE, PROT_READ | PROT_WRITE, 0, f.vs->pt_ops), 0);
  ASSERT_EQ(pgtable_map(&f.pt, ro, pa, PAGE_SIZE, PROT_READ, 0, f.vs->pt_ops), 0);
  char buf[4096];
  auto run = [&] {
    check_report r = make_check_report(buf, sizeof(buf));
    return check_pgtable(f.pt, r);
  };
  auto expect_one = [&](const std::string &line) {
    EXPECT_EQ(run(), 1u) << buf;
    EXPECT_EQ(std::string(buf), line + "\n");
  };
  auto hex = [](unsigned long v) {  // as the checker prints both addresses and entries ("0x%lx")
    char s[32];
    snprintf(s, sizeof(s), "0x%lx", v);
    return std::string(s);
  };
  ASSERT_EQ(run(), 0u) << buf;
  pte_t *e = leaf_entry(f.pt, va), *r = leaf_entry(f.pt, ro);
  ASSERT_NE(e, nullptr);
  ASSERT_NE(r, nullptr);
  const pte_t good = *e, good_ro = *r;
  ASSERT_TRUE((good & PTE_A) && (good & PTE_D) && (good & PTE_W)) << hex(good);
  const std::string at = "pgtable: " + hex(va);
  *e = good | PTE_X;
  expect_one(at + " (4 KiB): leaf is writable and executable (W+X)");
  *e = good | PTE_U;
  expect_one(at + " (4 KiB): user-accessible leaf in the kernel table");
  *e = good & ~PTE_A;
  expect_one(at + ": leaf " + hex(good & ~PTE_A) + " lacks A (or D on a writable leaf)");
  *e = good & ~PTE_D;
  expect_one(at + ": leaf " + hex(good & ~PTE_D) + " lacks A (or D on a writable leaf)");
  *e = good;
  *r = good_ro & ~PTE_D;
  EXPECT_EQ(run(), 0u) << "a read-only leaf needs no D: " << buf;
  *r = good_ro & ~PTE_A;
  expect_one("pgtable: " + hex(ro) + ": leaf " + hex(good_ro & ~PTE_A) + " lacks A (or D on a writable leaf)");
  *r = good_ro;
  // The level-1 entry that points at the leaf's table.
  pte_t *pmd = nullptr;
  {
    phys_addr_t table = f.pt.root;
    pte_t *slot = &pgtable_detail::table_ptr(table)[sv39_index(va, 2)];
    table = pte_to_phys(*slot);
    pmd = &pgtable_detail::table_ptr(table)[sv39_index(va, 1)];
  }
  const pte_t pointer = *pmd;
  const uintptr_t pmd_va = va & ~(sv39_level_size(1) - 1);
  for (pte_t bit : {PTE_A, PTE_D, PTE_U, PTE_G}) {
    *pmd = pointer | bit;
    expect_one("pgtable: " + hex(pmd_va) + ": pointer entry " + hex(pointer | bit) + " at level 1 has leaf bits");
  }
  *pmd = pointer;
  ASSERT_EQ(run(), 0u) << buf;
  // The user half: every address below the hole, from 0 to its last page.
  for (uintptr_t user : {uintptr_t(0), (uintptr_t(1) << 38) - PAGE_SIZE}) {
    ASSERT_EQ(pgtable_map(&f.pt, user, pa, PAGE_SIZE, PROT_READ, 0, f.vs->pt_ops), 0);
    expect_one("pgtable: " + hex(user) + " (4 KiB): mapping in the user half of the kernel table");
    ASSERT_EQ(pgtable_unmap(&f.pt, user, PAGE_SIZE, f.vs->pt_ops), 0);
  }
  // Each call returns what it added to a report that already holds lines.
  check_report rep = make_check_report(buf, sizeof(buf));
  check_fail(rep, "earlier");
  *e = good | PTE_X;
  EXPECT_EQ(check_pgtable(f.pt, rep), 1u);
  *e = good;
  page_table none{};
  EXPECT_EQ(check_pgtable(none, rep), 1u);
  EXPECT_EQ(rep.violations, 3u);
  EXPECT_EQ(std::string(buf), "earlier\n" + at + " (4 KiB): leaf is writable and executable (W+X)\npgtable: no root table\n");
  ASSERT_EQ(pgtable_unmap(&f.pt, va, 2 * PAGE_SIZE, f.vs->pt_ops), 0);
  EXPECT_EQ(run(), 0u) << buf;
  __free_pages(ms, frame, 0);
}

// Each CPU's call checks that CPU's own per-CPU list: a count off on it is
// reported, with the CPU, by the next free on that CPU; one off on another
// CPU's list is not this call's to see (that list may be mid-update).
TEST(CheckCalls, EachCpuChecksItsOwnPcpList) {
  cpu_reset reset_cpu;
  checked_machine m;
  ASSERT_EQ(m.build(layout_kind::two_nodes), 0);
  mem_system &ms = m.ms();
  ASSERT_GE(ms.nr_cpus, 4u);
  for (unsigned cpu = 0; cpu < ms.nr_cpus; cpu++) {
    SCOPED_TRACE("cpu " + std::to_string(cpu));
    host_set_cpu(cpu);
    page *p = alloc_pages(ms, GFP_KERNEL, 0);
    ASSERT_NE(p, nullptr);
    zone *z = page_zone(ms, p);
    // Another CPU's list damaged: nothing to say.
    const unsigned other = cpu ^ 2;
    z->pcp[other].count += 1;
    __free_pages(ms, p, 0);
    EXPECT_EQ(ms.check_violations, 0ul);
    z->pcp[other].count -= 1;
    // This CPU's own.
    p = alloc_pages(ms, GFP_KERNEL, 0);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(page_zone(ms, p), z);
    z->pcp[cpu].count += 1;
    log_buf_clear();
    __free_pages(ms, p, 0);
    EXPECT_EQ(ms.check_violations, 1ul);
    const std::string want = std::string("zone ") + z->name + ": CPU " + std::to_string(cpu) + "'s pcp count is " +
                             std::to_string(z->pcp[cpu].count) + ", its lists hold " +
                             std::to_string(z->pcp[cpu].count - 1) + " pages";
    EXPECT_NE(read_log().find(want), std::string::npos) << read_log();
    z->pcp[cpu].count -= 1;
    ms.check_violations = 0;
  }
  EXPECT_EQ(m.f.check(), std::string());
}

// __GFP_THISNODE: a block from the requested node passes; one from another
// node is reported with both nodes. Without the flag any node may serve.
TEST(CheckCalls, ThisNodeIsChecked) {
  checked_machine m;
  ASSERT_EQ(m.build(layout_kind::two_nodes), 0);
  mem_system &ms = m.ms();
  for (int nid = 0; nid < 2; nid++) {
    page *p = alloc_pages_node(ms, nid, GFP_KERNEL | __GFP_THISNODE, 0);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(page_to_nid(p), nid);
    EXPECT_EQ(ms.check_violations, 0ul);
    __free_pages(ms, p, 0);
  }
  page *p = alloc_pages_node(ms, 1, GFP_KERNEL | __GFP_THISNODE, 0);
  ASSERT_NE(p, nullptr);
  check_alloc_call(ms, p, 0, GFP_KERNEL, 0);
  EXPECT_EQ(ms.check_violations, 0ul);
  log_buf_clear();
  check_alloc_call(ms, p, 0, GFP_KERNEL | __GFP_THISNODE, 0);
  EXPECT_EQ(ms.check_violations, 1ul);
  char want[96];
  snprintf(want, sizeof(want), "alloc: __GFP_THISNODE for node 0, but pfn %#lx is on node 1", page_to_pfn(ms, p));
  EXPECT_NE(read_log().find(want), std::string::npos) << read_log();
  ms.check_violations = 0;
  __free_pages(ms, p, 0);
  EXPECT_EQ(ms.check_violations, 0ul);
}

// A pfn without a struct page (a hole, or beyond memory) has nothing to
// check after a free: the call says nothing and touches nothing.
TEST(CheckCalls, FreeCallOfAPfnWithoutAPage) {
  checked_machine m;
  ASSERT_EQ(m.build(layout_kind::two_nodes), 0);
  mem_system &ms = m.ms();
  for (unsigned long pfn : {0ul, ms.node_data[0]->node_start_pfn - 1, PFN_MAX + 1}) {
    ASSERT_EQ(pfn_to_page(ms, pfn), nullptr);
    check_free_call(ms, pfn);
  }
  EXPECT_EQ(ms.check_violations, 0ul);
  EXPECT_EQ(m.f.check(), std::string());
}

// mm.check=1 sends every call down the general paths, which must keep the
// per-CPU lists' rules: a small free goes to this CPU's list, the list
// drains a batch when it reaches its high mark, and an allocation that
// fails is not checked (there is no block) and fails cleanly.
TEST(CheckCalls, GeneralPathsKeepThePcpRules) {
  checked_machine m;
  ASSERT_EQ(m.build(layout_kind::single_zone), 0);
  mem_system &ms = m.ms();
  host_set_cpu(0);
  zone *z = first_managed_zone(ms);
  per_cpu_pages &pcp = z->pcp[0];
  std::vector<page *> got;
  while (page *p = alloc_pages(ms, GFP_NOWAIT | __GFP_NOWARN, 0)) got.push_back(p);
  EXPECT_GT(got.size(), 1000u);
  EXPECT_EQ(ms.check_violations, 0ul) << "the failed allocation was checked";
  drain_all_pages(ms);
  int peak = 0;
  for (page *p : got) {
    __free_pages(ms, p, 0);
    peak = std::max(peak, pcp.count);
    ASSERT_LT(pcp.count, pcp.high) << "a free that reached high did not drain";
  }
  EXPECT_EQ(peak, pcp.high - 1) << "frees went to the buddy lists instead of this CPU's list";
  EXPECT_TRUE(PagePcp(got.back()));
  EXPECT_EQ(ms.check_violations, 0ul);
  EXPECT_EQ(m.f.check(), std::string());
}

// vmalloc's lazy purge (mm/vmalloc.h): freed ranges wait on the lazy tree
// until vmap_lazy_nr passes lazy_max_pages(), an allocation finds no room,
// or vm_unmap_aliases; one flush then covers them all. Deterministic cases
// for each trigger and for the report, the checker against damage to the
// purge list, and threads that check no range reaches a new owner before
// the flush that covers it. The random sequences of proptest/vmalloc_test.cpp
// model the same list step by step.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kernel/seq_out.h"
#include "proptest/check_damage.h"
#include "proptest/vmalloc_fixture.h"

namespace {

using damage::expect_finds;
using damage::hex;
using range = std::pair<uintptr_t, uintptr_t>;

void *vptr(uintptr_t a) { return reinterpret_cast<void *>(a); }
uintptr_t uaddr(const void *p) { return reinterpret_cast<uintptr_t>(p); }

unsigned long lazy_nr(const vmalloc_fixture &f) { return __atomic_load_n(&f.vs->vmap_lazy_nr, __ATOMIC_RELAXED); }

// A fixture over a small range [VMALLOC_START, + pages), warmed up (the
// first vfree moves the free range to a kmalloc'd node) and purged.
void build_small(vmalloc_fixture &f, unsigned long pages) {
  ASSERT_EQ(f.build(layout_kind::single_zone, VMALLOC_START_ADDR, VMALLOC_START_ADDR + pages * PAGE_SIZE), 0);
  vfree(*f.vs, vmalloc(*f.vs, 1));
  vm_unmap_aliases(*f.vs);
  ASSERT_EQ(lazy_nr(f), 0ul);
}

std::string vmallocinfo(vmalloc_system &vs) {
  std::string text;
  seq_out out{[](void *ctx, const char *str, size_t len) { static_cast<std::string *>(ctx)->append(str, len); },
              &text};
  show_vmallocinfo(vs, out);
  return text;
}

std::string unpurged_line(uintptr_t start, uintptr_t end) {
  char buf[96];
  snprintf(buf, sizeof(buf), "0x%016lx-0x%016lx %7lu unpurged vm_area", static_cast<unsigned long>(start),
           static_cast<unsigned long>(end), static_cast<unsigned long>(end - start));
  return buf;
}

std::vector<std::string> lines_of(const std::string &text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The last step of a purge a test began by hand (vmap_begin_purge, the
// first step, without the rest): the ranges free, their nodes back.
void finish_purge_by_hand(vmalloc_fixture &f) {
  vmap_area *unused = nullptr;
  {
    spin_lock_irqsave_guard g(f.vs->lock);
    f.vs->vmap_lazy_nr -= vmap_finish_purge(&f.vs->space, &unused);
  }
  while (unused) {
    vmap_area *va = unused;
    unused = va->left;
    kfree(*f.slab.sa, va);
  }
}

// Counts the shootdowns (flush_tlb_kernel_range) while it lives: the
// host's own counter also counts the local flushes of every map.
struct shootdown_counter {
  static std::atomic<unsigned long> n;
  static void observe(uintptr_t, size_t) { n++; }
  shootdown_counter() {
    n = 0;
    host_shootdown_observer = observe;
  }
  ~shootdown_counter() { host_shootdown_observer = nullptr; }
  unsigned long operator()() const { return n; }
};
std::atomic<unsigned long> shootdown_counter::n;

// ============================================================ the triggers

// fls(CPUs) * 32 MiB in pages, at most half the range.
TEST(VmallocLazyPurge, LazyMaxPagesFromCpusAndRange) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  const unsigned long unit = 32 * SZ_1M / PAGE_SIZE;
  const std::pair<unsigned, unsigned long> want[] = {{1, unit},     {2, 2 * unit}, {3, 2 * unit},
                                                     {4, 3 * unit}, {7, 3 * unit}, {8, 4 * unit}};
  for (auto [cpus, pages] : want) {
    f.slab.mm.ms->nr_cpus = cpus;
    EXPECT_EQ(lazy_max_pages(*f.vs), pages) << cpus << " CPUs";
  }
  vmalloc_fixture small;
  build_small(small, 100);
  EXPECT_EQ(lazy_max_pages(*small.vs), 50ul);
}

// Each vfree adds its range's pages, guard included, to vmap_lazy_nr and
// flushes nothing; no freed range is handed out again meanwhile; the vfree
// that takes the count past lazy_max_pages() flushes once, covering every
// waiting range, and frees them all.
TEST(VmallocLazyPurge, VfreeWaitsUntilPastLazyMaxPages) {
  vmalloc_fixture f;
  build_small(f, 256);
  const unsigned long max = lazy_max_pages(*f.vs);
  ASSERT_EQ(max, 128ul);
  shootdown_counter shootdowns;
  std::vector<uintptr_t> freed;
  unsigned long lazy = 0;
  while (lazy + 2 <= max) {
    void *p = vmalloc(*f.vs, PAGE_SIZE);
    ASSERT_NE(p, nullptr);
    for (uintptr_t a : freed) ASSERT_NE(uaddr(p), a) << "handed out again before its flush";
    u8 b = 1;
    ASSERT_TRUE(f.vwrite(uaddr(p), &b, 1));
    vfree(*f.vs, p);
    freed.push_back(uaddr(p));
    lazy += 2;
    ASSERT_EQ(lazy_nr(f), lazy);
    ASSERT_EQ(f.vs->space.nr_lazy, freed.size());
    ASSERT_EQ(shootdowns(), 0ul);
  }
  EXPECT_EQ(f.check(), "");
  void *last = vmalloc(*f.vs, PAGE_SIZE);
  ASSERT_NE(last, nullptr);
  vfree(*f.vs, last);
  EXPECT_EQ(lazy_nr(f), 0ul);
  EXPECT_EQ(f.vs->space.nr_lazy + f.vs->space.nr_purging, 0ul);
  EXPECT_EQ(f.vs->space.nr_free, 1ul);
  EXPECT_EQ(shootdowns(), 1ul) << "one flush for " << freed.size() + 1 << " vfrees";
  for (uintptr_t a : freed) {
    phys_addr_t pa;
    EXPECT_FALSE(host_tlb_lookup(a, &pa));
  }
  EXPECT_EQ(pgtable_count_tables(f.pt), 1ul) << "the emptied table pages went back after the flush";
  EXPECT_EQ(f.check(), "");
}

// An allocation that finds no room purges and tries once more: it gets the
// flushed range. With nothing waiting, it fails with no flush and no change.
TEST(VmallocLazyPurge, NoRoomPurgesAndRetriesOnce) {
  vmalloc_fixture f;
  build_small(f, 64);
  ASSERT_EQ(lazy_max_pages(*f.vs), 32ul);
  void *a = vmalloc(*f.vs, 30 * PAGE_SIZE);
  ASSERT_EQ(uaddr(a), VMALLOC_START_ADDR);
  vfree(*f.vs, a);
  ASSERT_EQ(lazy_nr(f), 31ul);  // not past 32: still waiting
  shootdown_counter shootdowns;
  void *b = vmalloc(*f.vs, 40 * PAGE_SIZE);  // 41 pages; 33 are free
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(uaddr(b), VMALLOC_START_ADDR) << "the purged range, merged with the free rest";
  EXPECT_EQ(lazy_nr(f), 0ul);
  EXPECT_EQ(shootdowns(), 1ul);
  EXPECT_EQ(f.check(), "");
  // No room, nothing to purge: NULL, and no shootdown.
  EXPECT_EQ(__vmalloc(*f.vs, 30 * PAGE_SIZE, GFP_KERNEL | __GFP_NOWARN), nullptr);
  EXPECT_EQ(shootdowns(), 1ul);
  EXPECT_EQ(f.vs->space.nr_busy, 1ul);
  EXPECT_EQ(f.check(), "");
  vfree(*f.vs, b);
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(f.vs->space.nr_free, 1ul);
}

// vm_unmap_aliases flushes every waiting range at once (vfree and vunmap
// alike) and empties the list; with nothing waiting it flushes nothing.
TEST(VmallocLazyPurge, VmUnmapAliasesEmptiesTheList) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  vfree(*f.vs, vmalloc(*f.vs, 1));
  vm_unmap_aliases(*f.vs);
  mem_system &ms = *f.slab.mm.ms;
  std::vector<uintptr_t> addrs;
  for (unsigned i = 0; i < 3; i++) {
    void *p = vmalloc(*f.vs, (i + 1) * PAGE_SIZE);
    ASSERT_NE(p, nullptr);
    u8 b = u8(i);
    ASSERT_TRUE(f.vwrite(uaddr(p), &b, 1));
    addrs.push_back(uaddr(p));
  }
  page *frame = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(frame, nullptr);
  void *m = vmap(*f.vs, &frame, 1, VM_MAP, PROT_READ);
  ASSERT_NE(m, nullptr);
  u8 b;
  ASSERT_TRUE(f.vread(uaddr(m), &b, 1));
  addrs.push_back(uaddr(m));
  for (unsigned i = 0; i < 3; i++) vfree(*f.vs, vptr(addrs[i]));
  vunmap(*f.vs, m);
  EXPECT_EQ(lazy_nr(f), 2ul + 3 + 4 + 2);
  EXPECT_EQ(f.vs->space.nr_lazy, 4ul);
  // Quirk of the lazy rule, as in Linux: the translations are still cached
  // (a use after free could follow them); the checker allows that only in
  // ranges waiting for the purge.
  phys_addr_t pa;
  EXPECT_TRUE(host_tlb_lookup(addrs[0], &pa));
  EXPECT_EQ(f.check(), "");
  shootdown_counter shootdowns;
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(shootdowns(), 1ul);
  EXPECT_EQ(lazy_nr(f), 0ul);
  EXPECT_EQ(f.vs->space.nr_lazy + f.vs->space.nr_purging, 0ul);
  for (uintptr_t a : addrs) EXPECT_FALSE(host_tlb_lookup(a, &pa));
  EXPECT_EQ(pgtable_count_tables(f.pt), 1ul);
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(shootdowns(), 1ul);
  EXPECT_EQ(page_ref_count(frame), 1);
  __free_pages(ms, frame, 0);
  EXPECT_EQ(f.check(), "");
}

// ============================================================== the report

// After the areas, one "unpurged vm_area" line per waiting range, in
// address order, in Linux's format (size counts the guard page), past the
// report's batch of 16; gone once purged.
TEST(VmallocInfo, UnpurgedLinesExactly) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  vfree(*f.vs, vmalloc(*f.vs, 1));
  vm_unmap_aliases(*f.vs);
  std::vector<uintptr_t> addrs;
  for (unsigned i = 0; i < 41; i++) {
    void *p = vmalloc(*f.vs, (i % 3 + 1) * PAGE_SIZE);
    ASSERT_NE(p, nullptr);
    addrs.push_back(uaddr(p));
  }
  // Free in an order unlike the addresses' (every even one, from the top).
  std::vector<std::string> unpurged;
  for (unsigned i = 0; i < 41; i += 2) unpurged.push_back(unpurged_line(addrs[i], addrs[i] + (i % 3 + 2) * PAGE_SIZE));
  for (int i = 40; i >= 0; i -= 2) vfree(*f.vs, vptr(addrs[unsigned(i)]));
  std::vector<std::string> got = lines_of(vmallocinfo(*f.vs));
  ASSERT_EQ(got.size(), 41u);
  for (unsigned i = 0; i < 20; i++) {
    char start[24];
    snprintf(start, sizeof(start), "0x%016lx-", static_cast<unsigned long>(addrs[2 * i + 1]));
    EXPECT_EQ(got[i].rfind(start, 0), 0u) << got[i];
    EXPECT_NE(got[i].find(" vmalloc"), std::string::npos) << got[i];
  }
  EXPECT_EQ(std::vector<std::string>(got.begin() + 20, got.end()), unpurged);
  vm_unmap_aliases(*f.vs);
  got = lines_of(vmallocinfo(*f.vs));
  EXPECT_EQ(got.size(), 20u);
  for (const std::string &l : got) EXPECT_EQ(l.find("unpurged"), std::string::npos) << l;
  for (unsigned i = 1; i < 41; i += 2) vfree(*f.vs, vptr(addrs[i]));
}

// Ranges a purge has taken (its flush under way) are listed too, merged in
// address order with those still waiting; the checker accepts that state.
TEST(VmallocInfo, PurgingRangesListedInAddressOrder) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  vfree(*f.vs, vmalloc(*f.vs, 1));
  vm_unmap_aliases(*f.vs);
  uintptr_t a[5];
  for (uintptr_t &x : a) {
    x = uaddr(vmalloc(*f.vs, PAGE_SIZE));
    ASSERT_NE(x, 0u);
  }
  vfree(*f.vs, vptr(a[0]));
  vfree(*f.vs, vptr(a[2]));
  vfree(*f.vs, vptr(a[4]));
  uintptr_t start, end;
  {
    // What __purge_vmap_area_lazy's first step does, without the rest.
    spin_lock_irqsave_guard g(f.vs->lock);
    ASSERT_TRUE(vmap_begin_purge(&f.vs->space, &start, &end));
  }
  EXPECT_EQ(start, a[0]);
  EXPECT_EQ(end, a[4] + 2 * PAGE_SIZE);
  EXPECT_FALSE(__purge_vmap_area_lazy(*f.vs)) << "a second purge does not start while one is under way";
  vfree(*f.vs, vptr(a[1]));
  EXPECT_EQ(f.vs->space.nr_purging, 3ul);
  EXPECT_EQ(f.vs->space.nr_lazy, 1ul);
  EXPECT_EQ(lazy_nr(f), 8ul);
  EXPECT_EQ(f.check(), "");
  std::vector<std::string> got = lines_of(vmallocinfo(*f.vs));
  ASSERT_EQ(got.size(), 5u);
  const unsigned waiting[] = {0, 1, 2, 4};  // a[3] is the one live area, listed first
  for (unsigned i = 0; i < 4; i++) EXPECT_EQ(got[1 + i], unpurged_line(a[waiting[i]], a[waiting[i]] + 2 * PAGE_SIZE));
  finish_purge_by_hand(f);
  EXPECT_EQ(lazy_nr(f), 2ul);
  EXPECT_EQ(f.check(), "");
  vfree(*f.vs, vptr(a[3]));
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(f.vs->space.nr_free, 1ul);
}

// While a purge's flush is under way (seen from host_shootdown_observer,
// once the shootdown is done and before the ranges are free), the ranges
// it took still count as waiting: for_each_lazy_range_locked lists them
// (the TLB check relies on it to allow their stale entries), and so do
// vmallocinfo's unpurged lines; after the purge, neither lists any.
TEST(VmallocLazyPurge, RangesListedWhileTheirFlushIsUnderWay) {
  static vmalloc_fixture *fp;
  static std::vector<range> seen;
  static std::vector<std::string> info;
  static unsigned calls;
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  vfree(*f.vs, vmalloc(*f.vs, 1));
  vm_unmap_aliases(*f.vs);
  std::vector<uintptr_t> addrs;
  for (unsigned i = 0; i < 6; i++) addrs.push_back(uaddr(vmalloc(*f.vs, (i + 1) * PAGE_SIZE)));
  std::vector<range> want;
  std::vector<std::string> unpurged;
  for (unsigned i : {0u, 2u, 3u, 5u}) {
    vfree(*f.vs, vptr(addrs[i]));
    want.push_back({addrs[i], addrs[i] + (i + 2) * PAGE_SIZE});
    unpurged.push_back(unpurged_line(addrs[i], addrs[i] + (i + 2) * PAGE_SIZE));
  }
  ASSERT_EQ(f.lazy_ranges(), want);
  fp = &f;
  calls = 0;
  host_shootdown_observer = [](uintptr_t, size_t) {
    if (calls++) return;
    seen = fp->lazy_ranges();
    info = lines_of(vmallocinfo(*fp->vs));
  };
  vm_unmap_aliases(*f.vs);
  host_shootdown_observer = nullptr;
  EXPECT_EQ(calls, 1u);
  EXPECT_EQ(seen, want);
  ASSERT_EQ(info.size(), 6u);
  EXPECT_EQ(std::vector<std::string>(info.begin() + 2, info.end()), unpurged);
  EXPECT_TRUE(f.lazy_ranges().empty());
  EXPECT_EQ(lines_of(vmallocinfo(*f.vs)).size(), 2u);
  EXPECT_EQ(f.check(), "");
  vfree(*f.vs, vptr(addrs[1]));
  vfree(*f.vs, vptr(addrs[4]));
  vm_unmap_aliases(*f.vs);
}

// Hundreds of ranges waiting (far more than the report's batch of 16, and
// from both the lazy and the purging tree): each listed exactly once, in
// address order, however the batches fall.
TEST(VmallocInfo, HundredsOfUnpurgedRanges) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  vfree(*f.vs, vmalloc(*f.vs, 1));
  vm_unmap_aliases(*f.vs);
  constexpr unsigned N = 400;
  std::vector<uintptr_t> addrs;
  for (unsigned i = 0; i < N; i++) {
    addrs.push_back(uaddr(vmalloc(*f.vs, PAGE_SIZE)));
    ASSERT_NE(addrs.back(), 0u);
  }
  // Every third range first (they go to the purging tree), then the rest but
  // one in seven (left live), from the top down.
  std::map<uintptr_t, std::string> unpurged;
  for (unsigned i = 0; i < N; i += 3) {
    vfree(*f.vs, vptr(addrs[i]));
    unpurged[addrs[i]] = unpurged_line(addrs[i], addrs[i] + 2 * PAGE_SIZE);
  }
  uintptr_t start, end;
  {
    spin_lock_irqsave_guard g(f.vs->lock);
    ASSERT_TRUE(vmap_begin_purge(&f.vs->space, &start, &end));
  }
  for (unsigned i = N; i-- > 0;) {
    if (i % 3 == 0 || i % 7 == 0) continue;
    vfree(*f.vs, vptr(addrs[i]));
    unpurged[addrs[i]] = unpurged_line(addrs[i], addrs[i] + 2 * PAGE_SIZE);
  }
  ASSERT_GT(f.vs->space.nr_lazy, 200ul);
  ASSERT_GT(f.vs->space.nr_purging, 100ul);
  std::vector<std::string> want;
  for (const auto &[a, line] : unpurged) want.push_back(line);
  std::vector<std::string> got = lines_of(vmallocinfo(*f.vs));
  const size_t live = N - unpurged.size();
  ASSERT_EQ(got.size(), live + unpurged.size());
  EXPECT_EQ(std::vector<std::string>(got.begin() + long(live), got.end()), want);
  finish_purge_by_hand(f);
  EXPECT_EQ(f.check(), "");
  for (unsigned i = 0; i < N; i++)
    if (i % 3 && i % 7 == 0) vfree(*f.vs, vptr(addrs[i]));
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(lines_of(vmallocinfo(*f.vs)).size(), 0u);
  EXPECT_EQ(f.check(), "");
}

// ================================================ the checker against damage

struct purge_damage : ::testing::Test {
  vmalloc_fixture f;
  uintptr_t live = 0, lazy = 0;  // a busy area of 2 pages, a waiting range of 3 + guard
  void SetUp() override {
    ASSERT_EQ(f.build(layout_kind::single_zone), 0);
    vfree(*f.vs, vmalloc(*f.vs, 1));
    vm_unmap_aliases(*f.vs);
    live = uaddr(vmalloc(*f.vs, 2 * PAGE_SIZE));
    lazy = uaddr(vmalloc(*f.vs, 3 * PAGE_SIZE));
    ASSERT_NE(live, 0u);
    ASSERT_NE(lazy, 0u);
    vfree(*f.vs, vptr(lazy));
    ASSERT_EQ(f.vs->space.nr_lazy, 1ul);
    ASSERT_EQ(f.check(), "") << "the undamaged state is clean";
  }
  void TearDown() override {
    ASSERT_EQ(f.check(), "") << "the damage was undone";
    vfree(*f.vs, vptr(live));
    vm_unmap_aliases(*f.vs);
  }
  vmap_area *lazy_node() { return f.vs->space.lazy_root; }
};

// A range both waiting for the purge and busy: the trees no longer tile.
TEST_F(purge_damage, RangeBothLazyAndBusy) {
  // A second node for the live area's range, a child of the lazy tree's
  // only node on the side its address puts it (live is below lazy).
  ASSERT_LT(live, lazy);
  vmap_area ghost = *vmap_find_busy_at(&f.vs->space, live);
  ghost.left = ghost.right = nullptr;
  ghost.vm = nullptr;
  ghost.prio = 0;
  lazy_node()->left = &ghost;
  f.vs->space.nr_lazy++;
  f.vs->vmap_lazy_nr += va_size(&ghost) / PAGE_SIZE;
  expect_finds(f.check(), {"vmap space: two ranges start at one address (a range in two trees?)"});
  lazy_node()->left = nullptr;
  f.vs->space.nr_lazy--;
  f.vs->vmap_lazy_nr -= va_size(&ghost) / PAGE_SIZE;
}

// vmap_lazy_nr that does not count the waiting ranges' pages.
TEST_F(purge_damage, WrongVmapLazyNr) {
  f.vs->vmap_lazy_nr++;
  expect_finds(f.check(), {"vmap_lazy_nr is 5, the ranges waiting for the purge hold 4 pages"});
  f.vs->vmap_lazy_nr--;
}

// The tree's own count off by one.
TEST_F(purge_damage, WrongNrLazy) {
  f.vs->space.nr_lazy++;
  expect_finds(f.check(), {"nr_lazy or nr_purging does not match the trees"});
  f.vs->space.nr_lazy--;
}

// A leaf mapped inside a range waiting for the purge.
TEST_F(purge_damage, MappedPageInsideWaitingRange) {
  mem_system &ms = *f.slab.mm.ms;
  page *p = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  const uintptr_t at = lazy + PAGE_SIZE;
  {
    spin_lock_guard g(f.vs->pt_lock);
    ASSERT_EQ(pgtable_map(&f.pt, at, page_to_phys(ms, p), PAGE_SIZE, PROT_READ | PROT_WRITE, 0, f.vs->pt_ops), 0);
  }
  expect_finds(f.check(), {hex(at) + " (4096 bytes) is mapped inside " + hex(lazy) + "-" + hex(lazy + 4 * PAGE_SIZE) +
                           ", freed and waiting for the purge"});
  {
    spin_lock_guard g(f.vs->pt_lock);
    ASSERT_EQ(pgtable_unmap(&f.pt, at, PAGE_SIZE, f.vs->pt_ops), 0);
  }
  __free_pages(ms, p, 0);
}

// A waiting range that still points at a vm_struct.
TEST_F(purge_damage, WaitingRangeWithVmStruct) {
  vm_struct fake{};
  lazy_node()->vm = &fake;
  expect_finds(f.check(), {"lazily freed range " + hex(lazy) + "-" + hex(lazy + 4 * PAGE_SIZE) + " still has a vm_struct"});
  lazy_node()->vm = nullptr;
}

// A page that is no table page on the list of table pages waiting for the
// flush.
TEST_F(purge_damage, NonTablePageOnLazyTables) {
  mem_system &ms = *f.slab.mm.ms;
  page *p = alloc_pages(ms, GFP_KERNEL | __GFP_ZERO, 0);
  ASSERT_NE(p, nullptr);
  const phys_addr_t saved = f.vs->lazy_tables;
  *static_cast<phys_addr_t *>(page_address(ms, p)) = saved;
  f.vs->lazy_tables = page_to_phys(ms, p);
  expect_finds(f.check(), {hex(page_to_phys(ms, p)) + " on the lazily freed table pages is not an allocated table page"});
  f.vs->lazy_tables = saved;
  __free_pages(ms, p, 0);
}

// ================================================================ threads

// The flushes the test has seen: every range a thread is about to free is
// recorded as not flushed, and each shootdown removes the recorded ranges it
// covers (host_shootdown_observer, called once the shootdown is complete).
struct flush_model {
  std::mutex lock;
  std::vector<range> unflushed;
  static flush_model *current;
  static void observe(uintptr_t start, size_t size) {
    flush_model &m = *current;
    std::lock_guard g(m.lock);
    const bool all = size == 0 || size == ~size_t(0) || start + size < start;
    std::erase_if(m.unflushed, [&](const range &r) { return all || (r.first >= start && r.second <= start + size); });
  }
  bool overlaps_unflushed(uintptr_t start, uintptr_t end) {
    std::lock_guard g(lock);
    for (const range &r : unflushed)
      if (r.first < end && start < r.second) return true;
    return false;
  }
  void add(uintptr_t start, uintptr_t end) {
    std::lock_guard g(lock);
    unflushed.emplace_back(start, end);
  }
};
flush_model *flush_model::current;

// CPUs 1 and 2 vmalloc, touch and vfree areas on a 4 MiB range (purges
// every few dozen pairs), CPU 0 calls vm_unmap_aliases now and then: no
// area is ever given a range some earlier area freed before a flush covered
// that range, no cached translation of a new area points anywhere but where
// the table does, and every area reads back what its owner wrote through
// the shared simulated MMU.
TEST(VmallocPurgeThreads, NoRangeReachesANewOwnerBeforeItsFlush) {
  slabt::cpu_reset reset;
  vmalloc_fixture f;
  build_small(f, 1024);
  flush_model model;
  flush_model::current = &model;
  host_shootdown_observer = flush_model::observe;
  std::atomic<int> handed_early{0}, stale{0}, corrupted{0}, failed{0}, running{2};
  auto worker = [&](unsigned cpu) {
    host_set_cpu(cpu);
    std::mt19937 rng(cpu * 104729 + 3);
    for (int i = 0; i < 300; i++) {
      unsigned n = 1 + rng() % 8;
      void *p = vmalloc(*f.vs, n * PAGE_SIZE);
      if (!p) {
        failed++;
        continue;
      }
      const uintptr_t a = uaddr(p), end = a + (n + 1) * PAGE_SIZE;
      if (model.overlaps_unflushed(a, end)) handed_early++;
      for (unsigned k = 0; k < n; k++) {
        phys_addr_t cached;
        pt_walk_result w;
        if (host_tlb_lookup(a + k * PAGE_SIZE, &cached) &&
            (!pgtable_walk(f.pt, a + k * PAGE_SIZE, &w) || (w.pa & PAGE_MASK) != (cached & PAGE_MASK)))
          stale++;
      }
      std::vector<u8> buf(n * PAGE_SIZE, u8(a >> 12) | 1), back(n * PAGE_SIZE);
      if (!f.vwrite(a, buf.data(), buf.size()) || !f.vread(a, back.data(), back.size()) || back != buf) corrupted++;
      model.add(a, end);
      vfree(*f.vs, p);
    }
    running--;
  };
  std::thread t1(worker, 1u), t2(worker, 2u);
  while (running > 0) {
    vm_unmap_aliases(*f.vs);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  t1.join();
  t2.join();
  vm_unmap_aliases(*f.vs);
  host_shootdown_observer = nullptr;
  flush_model::current = nullptr;
  EXPECT_EQ(handed_early, 0);
  EXPECT_EQ(stale, 0);
  EXPECT_EQ(corrupted, 0);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(model.unflushed.size(), 0u) << "every freed range was flushed";
  EXPECT_EQ(lazy_nr(f), 0ul);
  EXPECT_EQ(f.vs->space.nr_free, 1ul);
}

}  // namespace

// Properties of vmalloc (mm/vmalloc) over the host page allocator and slab:
// random sequences of every allocation form, vmap and the frees on every
// layout, checked after every step against a model (the live areas, their
// frames, permissions, guard pages and contents) through the simulated page
// table; vmalloc where kmalloc cannot (fragmented memory); injected page
// allocation failures; bad input; /proc/vmallocinfo and fault descriptions.
// The range allocator alone is in proptest/vmap_area_test.cpp.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kernel/numa.h"
#include "kernel/seq_out.h"
#include "mm/slab_report.h"
#include "mm/watermark.h"
#include "proptest/model_case.h"
#include "proptest/vmalloc_fixture.h"

namespace {

using namespace slabt;

// rc::gen::inRange narrows its range with the test size; choices here must
// span their whole range from the first case.
template <class T>
rc::Gen<T> uniform(T min, T max) {
  return rc::gen::resize(rc::kNominalSize, rc::gen::inRange<T>(min, max));
}

void *vptr(uintptr_t a) { return reinterpret_cast<void *>(a); }

unsigned long pages_of(unsigned long bytes) { return (bytes + PAGE_SIZE - 1) / PAGE_SIZE; }

unsigned nr_nodes(const mem_system &ms) {
  unsigned n = 0;
  for_each_online_pgdat(ms, pgdat) n++;
  return n;
}

// The first vfree gives the free range to a kmalloc'd node and the space's
// built-in first node is never used again, so the page allocator's resting
// state is taken after one vmalloc/vfree (and the purge that frees its range).
void warm_up(vmalloc_fixture &f) {
  vfree(*f.vs, vmalloc(*f.vs, 1));
  vm_unmap_aliases(*f.vs);
}

// A single-zone fixture over [VMALLOC_START_ADDR, + range bytes), warmed up.
void build_range(vmalloc_fixture &f, unsigned long range) {
  ASSERT_EQ(f.build(layout_kind::single_zone, VMALLOC_START_ADDR, VMALLOC_START_ADDR + range), 0);
  warm_up(f);
}

// What must come back when everything is freed: the free pages (buddy and
// per-CPU, after settling) and the page-table pages.
struct rest_state {
  unsigned long free_pages, tables;
  bool operator==(const rest_state &) const = default;
};
std::ostream &operator<<(std::ostream &os, const rest_state &r) {
  return os << "free " << r.free_pages << " tables " << r.tables;
}

// After a purge: ranges waiting for it hold vmap_area nodes and table pages.
rest_state at_rest(vmalloc_fixture &f) {
  vm_unmap_aliases(*f.vs);
  page_state s = settle(f.slab);
  return {s.free_and_pcp, pgtable_count_tables(f.pt)};
}

// The byte every byte of page i of an area holds.
u8 page_byte(u8 fill, unsigned i) { return u8(fill + 31 * i); }

u8 fill_of(int id) { return u8(id * 37 + 11) | 1; }

// Writes the area's pattern through the page table.
bool write_pattern(const vmalloc_fixture &f, uintptr_t addr, unsigned nr_pages, u8 fill) {
  std::vector<u8> buf(size_t(nr_pages) * PAGE_SIZE);
  for (unsigned i = 0; i < nr_pages; i++)
    memset(&buf[size_t(i) * PAGE_SIZE], page_byte(fill, i), PAGE_SIZE);
  return f.vwrite(addr, buf.data(), buf.size());
}

// Whether every byte of page i of the area is page_byte(fill, i) (or 0 when
// zero), read through the page table; full = every byte, else both ends.
bool pattern_holds(const vmalloc_fixture &f, uintptr_t addr, unsigned nr_pages, u8 fill, bool full,
                   bool zero = false) {
  for (unsigned i = 0; i < nr_pages; i++) {
    const u8 *p = static_cast<const u8 *>(f.translate(addr + uintptr_t(i) * PAGE_SIZE));
    if (!p) return false;
    u8 want = zero ? 0 : page_byte(fill, i);
    if (full) {
      if (!bytes_are(p, PAGE_SIZE, want)) return false;
    } else if (!bytes_are(p, 8, want) || !bytes_are(p + PAGE_SIZE - 8, 8, want)) {
      return false;
    }
  }
  return true;
}

// Whether nothing of [addr, addr + (nr_pages + 1) pages) translates.
bool unmapped(vmalloc_fixture &f, uintptr_t addr, unsigned nr_pages) {
  for (unsigned i = 0; i <= nr_pages; i++) {
    uintptr_t a = addr + uintptr_t(i) * PAGE_SIZE;
    if (pgtable_walk(f.pt, a, nullptr) || vmalloc_to_page(*f.vs, vptr(a))) return false;
  }
  return true;
}

// ======================================================= random sequences

enum class vapi {
  vmalloc,
  vzalloc,
  vmalloc_32,
  vmalloc_user,
  vmalloc_node,
  vmalloc_gfp,
  vmalloc_gfp_zero,
  vmap
};
const char *const vapi_names[] = {"vmalloc",
                                  "vzalloc",
                                  "vmalloc_32",
                                  "vmalloc_user",
                                  "vmalloc_node",
                                  "__vmalloc(GFP_KERNEL)",
                                  "__vmalloc(GFP_KERNEL|__GFP_ZERO)",
                                  "vmap"};

const char *const vapi_exprs[] = {"vapi::vmalloc",      "vapi::vzalloc",     "vapi::vmalloc_32",
                                  "vapi::vmalloc_user", "vapi::vmalloc_node", "vapi::vmalloc_gfp",
                                  "vapi::vmalloc_gfp_zero", "vapi::vmap"};

bool zeroed(vapi a) {
  return a == vapi::vzalloc || a == vapi::vmalloc_user || a == vapi::vmalloc_gfp_zero;
}

struct marea {
  bool mapped;  // a vmap area (the frames are the test's)
  unsigned nr_pages;
};

struct vm_model {
  unsigned nr_nodes;
  std::map<int, marea> areas;
  int next_id = 0;
  unsigned long live_pages = 0;

  std::vector<int> ids(bool mapped) const {
    std::vector<int> out;
    for (auto &[id, a] : areas)
      if (a.mapped == mapped) out.push_back(id);
    return out;
  }
};

// Live memory stays well inside every layout (32 MiB and up), so every
// valid request must succeed.
constexpr unsigned long MAX_LIVE_PAGES = 1536;

struct live_area {
  uintptr_t addr;
  unsigned nr_pages;
  vapi api;
  unsigned prot;              // what the leaves must have of R/W/X/U
  std::vector<page *> pages;  // vmap: the frames, in order
  u8 fill;
};

// The lazy purge's model: every range freed since the last shootdown that
// covered it, [start, end) with the guard page. The shootdown observer
// (arch/host/tlb.h) drops the ranges each shootdown covers.
struct vm_sut {
  vmalloc_fixture f;
  std::map<int, live_area> live;
  std::set<std::pair<uintptr_t, uintptr_t>> unflushed;
  static vm_sut *current;
  static void observe(uintptr_t start, size_t size) {
    const bool all = size == 0 || size == ~size_t(0) || start + size < start;
    std::erase_if(current->unflushed, [&](const std::pair<uintptr_t, uintptr_t> &r) {
      return all || (r.first >= start && r.second <= start + size);
    });
  }
  vm_sut() {
    current = this;
    host_shootdown_observer = observe;
  }
  ~vm_sut() {
    host_shootdown_observer = nullptr;
    current = nullptr;
  }
  // A new area [addr, end) must not be a range freed and not yet flushed.
  bool overlaps_unflushed(uintptr_t addr, uintptr_t end) const {
    for (auto [s, e] : unflushed)
      if (s < end && addr < e) return true;
    return false;
  }
};
vm_sut *vm_sut::current;

// What every step ends with: the three checkers clean and no bad free
// counted; for every live area, in address order: it and its guard page
// overlap no other area; each page translates at level 0 to a frame that is
// allocated, used by no other page of any area, the one vmalloc_to_page
// names (and for vmap the frame given), with R/W as asked, G, never X or U,
// in ZONE_DMA32 or below for vmalloc_32, and holding the area's pattern at
// both ends; the guard page translates to nothing; vmalloc's page count is
// the model's.
// The ranges waiting for the purge are exactly the model's unflushed ones,
// vmap_lazy_nr counts their pages, and no more than lazy_max_pages() wait
// after a step (a vfree past it purges).
void check_step(vm_sut &s) {
  RC_ASSERT(s.f.check() == std::string());
  std::vector<std::pair<uintptr_t, uintptr_t>> lazy = s.f.lazy_ranges();
  const std::set<std::pair<uintptr_t, uintptr_t>> waiting(lazy.begin(), lazy.end());
  RC_ASSERT(waiting == s.unflushed);
  unsigned long lazy_pages = 0;
  for (auto [b, e] : lazy) lazy_pages += (e - b) / PAGE_SIZE;
  RC_ASSERT(s.f.vs->vmap_lazy_nr == lazy_pages);
  RC_ASSERT(lazy_pages <= lazy_max_pages(*s.f.vs));
  RC_ASSERT(s.f.vs->errors == 0ul);
  mem_system &ms = *s.f.slab.mm.ms;
  std::map<uintptr_t, const live_area *> by_addr;
  unsigned long alloc_pages_total = 0;
  for (auto &[id, a] : s.live) {
    by_addr[a.addr] = &a;
    if (a.api != vapi::vmap) alloc_pages_total += a.nr_pages;
  }
  std::set<unsigned long> pfns;
  uintptr_t prev_end = 0;
  for (auto &[addr, ap] : by_addr) {
    const live_area &a = *ap;
    RC_ASSERT(addr >= prev_end);
    prev_end = addr + uintptr_t(a.nr_pages + 1) * PAGE_SIZE;
    RC_ASSERT(is_vmalloc_addr(*s.f.vs, vptr(addr)));
    RC_ASSERT(is_vmalloc_addr(*s.f.vs, vptr(prev_end - 1)));
    for (unsigned i = 0; i < a.nr_pages; i++) {
      uintptr_t va = addr + uintptr_t(i) * PAGE_SIZE;
      pt_walk_result w;
      RC_ASSERT(pgtable_walk(s.f.pt, va, &w));
      RC_ASSERT(w.level == 0u);
      unsigned long pfn = PHYS_PFN(w.pa);
      RC_ASSERT(pfns.insert(pfn).second);
      page *p = pfn_to_page(ms, pfn);
      RC_ASSERT(page_ref_count(p) >= 1);
      RC_ASSERT(uptr(vmalloc_to_page(*s.f.vs, vptr(va + (i % 8) * 512))) == uptr(p));
      RC_ASSERT(vmalloc_to_pfn(*s.f.vs, vptr(va)) == pfn);
      RC_ASSERT((w.prot & (PROT_READ | PROT_WRITE | PROT_EXEC | PROT_USER)) == a.prot);
      RC_ASSERT((w.prot & PROT_GLOBAL) != 0u);
      if (a.api == vapi::vmap) RC_ASSERT(uptr(p) == uptr(a.pages[i]));
      if (a.api == vapi::vmalloc_32) RC_ASSERT(int(page_zonenum(p)) <= int(ZONE_DMA32));
    }
    RC_ASSERT(pattern_holds(s.f, addr, a.nr_pages, a.fill, false));
    uintptr_t guard = addr + uintptr_t(a.nr_pages) * PAGE_SIZE;
    RC_ASSERT(!pgtable_walk(s.f.pt, guard, nullptr));
    RC_ASSERT(uptr(vmalloc_to_page(*s.f.vs, vptr(guard))) == 0u);
  }
  RC_ASSERT(s.f.vs->vmalloc_pages == alloc_pages_total);
  RC_ASSERT(vmalloc_used_pages(*s.f.vs) == alloc_pages_total);
  RC_ASSERT(s.f.vs->space.nr_busy == s.live.size());
}

using vm_cmd = rc::state::Command<vm_model, vm_sut>;

// Sizes from one byte to a little over 2 MiB, page multiples and their
// neighbours included.
rc::Gen<unsigned long> gen_size() {
  return rc::gen::weightedOneOf<unsigned long>({
      {3, uniform(1ul, PAGE_SIZE)},
      {2, uniform(PAGE_SIZE + 1, 64 * 1024ul)},
      {2, rc::gen::apply([](unsigned long n, unsigned long d) { return n * PAGE_SIZE + d; },
                         uniform(1ul, 65ul), rc::gen::element(0ul, 1ul, PAGE_SIZE - 1))},
      {1, uniform(64 * 1024ul, 512 * 1024ul)},
      {1, uniform(512 * 1024ul, 2 * SZ_1M + PAGE_SIZE)},
  });
}

// One vmalloc through any of its forms (vmalloc_node with any node id: one
// with memory, one without, one out of range, NUMA_NO_NODE).
struct Valloc : vm_cmd {
  int id;
  vapi api;
  unsigned long size;
  int nid;

  explicit Valloc(const vm_model &m)
      : id(m.next_id),
        api(*rc::gen::element(vapi::vmalloc, vapi::vzalloc, vapi::vmalloc_32, vapi::vmalloc_user,
                              vapi::vmalloc_node, vapi::vmalloc_gfp, vapi::vmalloc_gfp_zero)),
        size(*gen_size()),
        nid(api == vapi::vmalloc_node
                ? *rc::gen::weightedOneOf<int>(
                      {{4, uniform(0, int(m.nr_nodes))},
                       {1, rc::gen::element(NUMA_NO_NODE, 3, int(MAX_NUMNODES) + 1)}})
                : NUMA_NO_NODE) {}
  Valloc(int id_, vapi api_, unsigned long size_, int nid_) : id(id_), api(api_), size(size_), nid(nid_) {}

  void checkPreconditions(const vm_model &m) const override {
    RC_PRE(m.areas.count(id) == 0u);
    RC_PRE(m.live_pages + pages_of(size) <= MAX_LIVE_PAGES);
  }
  void apply(vm_model &m) const override {
    m.areas[id] = {false, unsigned(pages_of(size))};
    m.live_pages += pages_of(size);
    m.next_id = std::max(m.next_id, id + 1);
  }

  void run(const vm_model &, vm_sut &s) const override {
    vmalloc_system &vs = *s.f.vs;
    void *p = nullptr;
    switch (api) {
      case vapi::vmalloc: p = vmalloc(vs, size); break;
      case vapi::vzalloc: p = vzalloc(vs, size); break;
      case vapi::vmalloc_32: p = vmalloc_32(vs, size); break;
      case vapi::vmalloc_user: p = vmalloc_user(vs, size); break;
      case vapi::vmalloc_node: p = vmalloc_node(vs, size, nid); break;
      case vapi::vmalloc_gfp: p = __vmalloc(vs, size, GFP_KERNEL); break;
      case vapi::vmalloc_gfp_zero: p = __vmalloc(vs, size, GFP_KERNEL | __GFP_ZERO); break;
      case vapi::vmap: break;
    }
    RC_ASSERT(uptr(p) != 0u);
    RC_ASSERT(uptr(p) % PAGE_SIZE == 0u);
    RC_ASSERT(!s.overlaps_unflushed(uptr(p), uptr(p) + (pages_of(size) + 1) * PAGE_SIZE));
    live_area a{uptr(p), unsigned(pages_of(size)), api, PROT_READ | PROT_WRITE, {}, fill_of(id)};
    if (zeroed(api)) RC_ASSERT(pattern_holds(s.f, a.addr, a.nr_pages, 0, true, true));
    RC_ASSERT(write_pattern(s.f, a.addr, a.nr_pages, a.fill));
    s.live.emplace(id, std::move(a));
    check_step(s);
  }

  void show(std::ostream &os) const override {
    os << "Valloc{/*id*/" << id << ", " << vapi_exprs[int(api)] << ", /*size*/" << size << ", /*nid*/"
       << modelcase::nid_expr(nid) << "}";
  }
};

// vfree of a live vmalloc area: everything it had translates to nothing, and
// its content was intact to the last byte.
struct Vfree : vm_cmd {
  int id;
  explicit Vfree(const vm_model &m) : id(*rc::gen::elementOf(m.ids(false))) {}
  explicit Vfree(int id_) : id(id_) {}
  void checkPreconditions(const vm_model &m) const override {
    RC_PRE(m.areas.count(id) == 1u && !m.areas.at(id).mapped);
  }
  void apply(vm_model &m) const override {
    m.live_pages -= m.areas.at(id).nr_pages;
    m.areas.erase(id);
  }
  void run(const vm_model &, vm_sut &s) const override {
    live_area a = std::move(s.live.at(id));
    s.live.erase(id);
    RC_ASSERT(pattern_holds(s.f, a.addr, a.nr_pages, a.fill, true));
    s.unflushed.insert({a.addr, a.addr + uintptr_t(a.nr_pages + 1) * PAGE_SIZE});
    vfree(*s.f.vs, vptr(a.addr));
    RC_ASSERT(unmapped(s.f, a.addr, a.nr_pages));
    check_step(s);
  }
  void show(std::ostream &os) const override { os << "Vfree{/*id*/" << id << "}"; }
};

// vmap of `count` pages the test allocates and fills, read-only or
// read-write.
struct Vmap : vm_cmd {
  int id;
  unsigned count;
  unsigned prot;
  explicit Vmap(const vm_model &m)
      : id(m.next_id),
        count(*rc::gen::weightedOneOf<unsigned>({{4, uniform(1u, 9u)}, {1, uniform(9u, 65u)}})),
        prot(*rc::gen::element(unsigned(PROT_READ), unsigned(PROT_READ | PROT_WRITE))) {}
  Vmap(int id_, unsigned count_, unsigned prot_) : id(id_), count(count_), prot(prot_) {}
  void checkPreconditions(const vm_model &m) const override {
    RC_PRE(m.areas.count(id) == 0u);
    RC_PRE(m.live_pages + count <= MAX_LIVE_PAGES);
  }
  void apply(vm_model &m) const override {
    m.areas[id] = {true, count};
    m.live_pages += count;
    m.next_id = std::max(m.next_id, id + 1);
  }
  void run(const vm_model &, vm_sut &s) const override {
    mem_system &ms = *s.f.slab.mm.ms;
    live_area a{0, count, vapi::vmap, prot, {}, fill_of(id)};
    for (unsigned i = 0; i < count; i++) {
      page *p = alloc_pages(ms, GFP_KERNEL, 0);
      RC_ASSERT(uptr(p) != 0u);
      memset(page_address(ms, p), page_byte(a.fill, i), PAGE_SIZE);
      a.pages.push_back(p);
    }
    // The array vmap is given is a temporary, cleared and gone right after,
    // as callers may do (the area keeps no pointer into it).
    std::vector<page *> array = a.pages;
    void *v = vmap(*s.f.vs, array.data(), count, VM_MAP, prot);
    std::fill(array.begin(), array.end(), nullptr);
    array.clear();
    array.shrink_to_fit();
    RC_ASSERT(uptr(v) != 0u);
    RC_ASSERT(!s.overlaps_unflushed(uptr(v), uptr(v) + uintptr_t(count + 1) * PAGE_SIZE));
    a.addr = uptr(v);
    s.live.emplace(id, std::move(a));
    check_step(s);
  }
  void show(std::ostream &os) const override {
    os << "Vmap{/*id*/" << id << ", /*count*/" << count << ", "
       << (prot == PROT_READ ? "PROT_READ" : prot == (PROT_READ | PROT_WRITE) ? "PROT_READ | PROT_WRITE" : modelcase::hex(prot))
       << "}";
  }
};

// vunmap of a live vmap area: nothing of it translates any more; its frames
// are still the test's, with their content, and the test frees them.
struct Vunmap : vm_cmd {
  int id;
  explicit Vunmap(const vm_model &m) : id(*rc::gen::elementOf(m.ids(true))) {}
  explicit Vunmap(int id_) : id(id_) {}
  void checkPreconditions(const vm_model &m) const override {
    RC_PRE(m.areas.count(id) == 1u && m.areas.at(id).mapped);
  }
  void apply(vm_model &m) const override {
    m.live_pages -= m.areas.at(id).nr_pages;
    m.areas.erase(id);
  }
  void run(const vm_model &, vm_sut &s) const override {
    mem_system &ms = *s.f.slab.mm.ms;
    live_area a = std::move(s.live.at(id));
    s.live.erase(id);
    RC_ASSERT(pattern_holds(s.f, a.addr, a.nr_pages, a.fill, true));
    s.unflushed.insert({a.addr, a.addr + uintptr_t(a.nr_pages + 1) * PAGE_SIZE});
    vunmap(*s.f.vs, vptr(a.addr));
    RC_ASSERT(unmapped(s.f, a.addr, a.nr_pages));
    for (unsigned i = 0; i < a.nr_pages; i++) {
      RC_ASSERT(page_ref_count(a.pages[i]) == 1);
      RC_ASSERT(bytes_are(page_address(ms, a.pages[i]), PAGE_SIZE, page_byte(a.fill, i)));
      __free_pages(ms, a.pages[i], 0);
    }
    check_step(s);
  }
  void show(std::ostream &os) const override { os << "Vunmap{/*id*/" << id << "}"; }
};

// vm_unmap_aliases: one shootdown if anything waited, none otherwise; then
// nothing waits, and nothing of a freed range is cached any more.
struct VmUnmapAliases : vm_cmd {
  explicit VmUnmapAliases(const vm_model &) {}
  VmUnmapAliases() = default;
  void apply(vm_model &) const override {}
  void run(const vm_model &, vm_sut &s) const override {
    const bool waiting = !s.unflushed.empty();
    const unsigned long flushes = host::tlb_flushes;
    vm_unmap_aliases(*s.f.vs);
    RC_ASSERT(host::tlb_flushes - flushes == (waiting ? 1ul : 0ul));
    RC_ASSERT(s.unflushed.empty());
    RC_ASSERT(s.f.vs->space.nr_lazy + s.f.vs->space.nr_purging == 0ul);
    check_step(s);
  }
  void show(std::ostream &os) const override { os << "VmUnmapAliases{}"; }
};

using vm_cmds = rc::state::Commands<vm_cmd>;

// One case of a VmallocSequences property: the machine and what is done on
// it. It is the only value the property draws, so the counterexample is its
// listing.
struct vm_case {
  layout_kind layout;
  vm_cmds cmds;
};

void showValue(const vm_case &c, std::ostream &os) {
  modelcase::show_case(os, "VMALLOC_REGRESSION", std::string("layout_kind::") + layout_name(c.layout), c.cmds);
}

// The model a layout starts from, from a throwaway build of it (once per
// layout): the commands are drawn before the case's own machine exists.
vm_model initial_model(layout_kind layout) {
  static std::map<layout_kind, vm_model> known;
  if (!known.count(layout)) {
    mm_fixture f;
    if (build_layout(f, layout) != 0) return vm_model{1};
    known[layout] = vm_model{nr_nodes(*f.ms)};
  }
  return known.at(layout);
}

rc::Gen<vm_case> gen_vm_case(layout_kind layout) {
  return rc::gen::map(
      rc::gen::resize(80, rc::state::gen::commands(initial_model(layout),
                                                   rc::state::gen::execOneOfWithArgs<Valloc, Valloc, Valloc, Vfree,
                                                                                     Vfree, Vmap, Vunmap,
                                                                                     VmUnmapAliases>())),
      [layout](vm_cmds cmds) { return vm_case{layout, std::move(cmds)}; });
}

// Runs a case: after every step check_step holds; and when everything is
// freed, nothing was reported, vmalloc holds no page, and the page
// allocator's free pages and the page-table pages are back to the start
// (tables emptied by unmapping were given back). The properties and the
// kept regressions both run this.
void run_vm_case(const vm_case &c) {
  vm_sut s;
  RC_ASSERT(s.f.build(c.layout) == 0);
  warm_up(s.f);
  const rest_state initial = at_rest(s.f);
  RC_ASSERT(initial.tables == 1ul);
  log_buf_clear();
  vm_model m0{nr_nodes(*s.f.slab.mm.ms)};
  rc::state::runAll(c.cmds, m0, s);
  RC_CLASSIFY(c.cmds.size() >= 30, "30 steps or more");
  RC_CLASSIFY(s.live.size() >= 8, "8 areas or more live at the end");

  for (auto &[id, a] : s.live) {
    RC_ASSERT(pattern_holds(s.f, a.addr, a.nr_pages, a.fill, true));
    if (a.api == vapi::vmap) {
      vunmap(*s.f.vs, vptr(a.addr));
      for (page *p : a.pages) __free_pages(*s.f.slab.mm.ms, p, 0);
    } else {
      vfree(*s.f.vs, vptr(a.addr));
    }
    RC_ASSERT(unmapped(s.f, a.addr, a.nr_pages));
  }
  s.live.clear();
  vm_unmap_aliases(*s.f.vs);
  RC_ASSERT(s.unflushed.empty());
  RC_ASSERT(s.f.vs->vmap_lazy_nr == 0ul);
  std::string log = read_log();
  RC_ASSERT(log.find("vmalloc") == std::string::npos);
  RC_ASSERT(log.find("vmap") == std::string::npos);
  RC_ASSERT(log.find("vfree") == std::string::npos);
  RC_ASSERT(s.f.vs->vmalloc_pages == 0ul);
  RC_ASSERT(s.f.vs->errors == 0ul);
  RC_ASSERT(s.f.vs->space.nr_busy == 0ul);
  RC_ASSERT(s.f.vs->space.nr_free == 1ul);
  RC_ASSERT(at_rest(s.f) == initial);
  RC_ASSERT(s.f.check() == std::string());
}

// Random sequences of vmalloc in all its forms, vfree, vmap and vunmap on
// one layout.
void run_sequences(layout_kind layout) { run_vm_case(*gen_vm_case(layout)); }

}  // namespace

MODEL_CASE_SHOW_TYPE(vm_case, "proptest/regressions/vmalloc.inc");

namespace {

RC_GTEST_PROP(VmallocSequences, SingleZone, ()) { run_sequences(layout_kind::single_zone); }
RC_GTEST_PROP(VmallocSequences, ThreeZones, ()) { run_sequences(layout_kind::three_zones); }
RC_GTEST_PROP(VmallocSequences, Across4G, ()) { run_sequences(layout_kind::across_4g); }
RC_GTEST_PROP(VmallocSequences, TwoNodes, ()) { run_sequences(layout_kind::two_nodes); }

// Kept counterexamples and chosen sequences, each a TEST of its own.
#define VMALLOC_REGRESSION(name, layout, ...)                                                          \
  TEST(VmallocRegression, name) {                                                                    \
    modelcase::expect_holds(                                                                         \
        [] { run_vm_case(vm_case{layout, modelcase::commands_of<vm_cmd>(__VA_ARGS__)}); });          \
  }
#include "proptest/regressions/vmalloc.inc"

// ============================================= vmalloc where kmalloc fails

// Takes every free page of every zone as single pages: the watermarks are
// lowered to nothing for the while (min_free_kbytes 1), and each zone is
// asked for by a request of its own class so that no lowmem_reserve stands
// in the way. Returns the pages.
std::vector<page *> take_every_free_page(mem_system &ms) {
  drain_all_pages(ms);
  int saved = ms.user_min_free_kbytes;
  ms.user_min_free_kbytes = 1;
  init_per_zone_wmark_min(ms);
  std::vector<page *> held;
  for (gfp_t zone_mod : {__GFP_DMA, __GFP_DMA32, gfp_t(0)})
    while (page *p = alloc_pages(ms, GFP_ATOMIC | __GFP_NOWARN | zone_mod, 0)) held.push_back(p);
  ms.user_min_free_kbytes = saved;
  init_per_zone_wmark_min(ms);
  return held;
}

// How the test fragments memory: every page is taken, then given back
// except one page in each 16-page aligned block (so free runs of up to 15
// pages remain), or except every page with an even pfn (only single pages
// remain free).
enum class fragmentation { one_per_16, every_other };

std::vector<page *> fragment(mem_system &ms, fragmentation how) {
  std::vector<page *> held = take_every_free_page(ms);
  std::set<unsigned long> kept_blocks;
  std::vector<page *> kept;
  for (page *p : held) {
    unsigned long pfn = page_to_pfn(ms, p);
    bool keep =
        how == fragmentation::one_per_16 ? kept_blocks.insert(pfn >> 4).second : pfn % 2 == 0;
    if (keep)
      kept.push_back(p);
    else
      __free_pages(ms, p, 0);
  }
  drain_all_pages(ms);
  return kept;
}

// With physical memory fragmented on purpose (either way above, so no
// order-4 block can form while thousands of pages are free): an order-4 page
// allocation and a 64 KiB kmalloc (a large kmalloc, order 4) fail, while
// vmalloc(64 KiB) succeeds with 16 frames that are not physically
// contiguous, its content reads back, and freeing everything brings the
// allocator back.
TEST(VmallocFragmented, SucceedsWhereKmallocCannot) {
  for (fragmentation how : {fragmentation::one_per_16, fragmentation::every_other})
    for (layout_kind k : all_layouts) {
      SCOPED_TRACE(layout_name(k));
      SCOPED_TRACE(how == fragmentation::one_per_16 ? "one page kept per 16"
                                                    : "every other page kept");
      vmalloc_fixture f;
      ASSERT_EQ(f.build(k), 0);
      mem_system &ms = *f.slab.mm.ms;
      warm_up(f);
      const rest_state initial = at_rest(f);
      std::vector<page *> kept = fragment(ms, how);
      for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) {
        if (!managed_zone(z)) continue;
        for (unsigned o = 4; o < NR_PAGE_ORDERS; o++)
          ASSERT_EQ(z->free_area[o].nr_free, 0ul) << "order " << o;
        if (how == fragmentation::every_other) {
          for (unsigned o = 1; o < NR_PAGE_ORDERS; o++)
            ASSERT_EQ(z->free_area[o].nr_free, 0ul) << "order " << o;
        }
      }
      ASSERT_GT(nr_free_pages(ms), 1000ul) << "enough free single pages for GFP_KERNEL";
      EXPECT_EQ(f.check(), "");

      EXPECT_EQ(alloc_pages(ms, GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY, 4), nullptr);
      EXPECT_EQ(kmalloc(*f.slab.sa, 64 * 1024, GFP_KERNEL | __GFP_NOWARN), nullptr);
      void *v = vmalloc(*f.vs, 64 * 1024);
      ASSERT_NE(v, nullptr);
      std::vector<unsigned long> pfns;
      for (unsigned i = 0; i < 16; i++)
        pfns.push_back(vmalloc_to_pfn(*f.vs, static_cast<char *>(v) + i * PAGE_SIZE));
      EXPECT_EQ(std::set<unsigned long>(pfns.begin(), pfns.end()).size(), 16u);
      bool scattered = false;
      for (unsigned i = 0; i + 1 < 16; i++) scattered |= pfns[i + 1] != pfns[i] + 1;
      EXPECT_TRUE(scattered) << "16 physically contiguous frames in fragmented memory";
      EXPECT_TRUE(write_pattern(f, uptr(v), 16, 0x3b));
      EXPECT_TRUE(pattern_holds(f, uptr(v), 16, 0x3b, true));
      EXPECT_EQ(f.check(), "");

      vfree(*f.vs, v);
      for (page *p : kept) __free_pages(ms, p, 0);
      EXPECT_EQ(at_rest(f), initial);
      EXPECT_EQ(f.check(), "");
    }
}

// In the same fragmented memory, larger vmallocs need no contiguous memory
// either (Linux takes a page array bigger than a page from vmalloc itself,
// and its kmalloc falls back to order-0 slabs): 64 KiB, 132 KiB, 1, 2 and
// 8 MiB all succeed while many more single pages than that are free.
TEST(VmallocFragmented, LargeAreasNeedNoContiguousMemory) {
  for (fragmentation how : {fragmentation::one_per_16, fragmentation::every_other}) {
    SCOPED_TRACE(how == fragmentation::one_per_16 ? "one page kept per 16"
                                                  : "every other page kept");
    vmalloc_fixture f;
    ASSERT_EQ(f.build(layout_kind::single_zone), 0);
    mem_system &ms = *f.slab.mm.ms;
    warm_up(f);
    const rest_state initial = at_rest(f);
    std::vector<page *> kept = fragment(ms, how);
    for (unsigned long pages : {16ul, 33ul, 256ul, 512ul, 2048ul}) {
      SCOPED_TRACE(testing::Message() << pages << " pages");
      ASSERT_GT(nr_free_pages(ms), pages + 512) << "free single pages";
      log_buf_clear();
      void *v = vmalloc(*f.vs, pages * PAGE_SIZE);
      EXPECT_NE(v, nullptr) << read_log();
      EXPECT_EQ(f.check(), "");
      vfree(*f.vs, v);
    }
    for (page *p : kept) __free_pages(ms, p, 0);
    EXPECT_EQ(at_rest(f), initial);
  }
}

// ============================================================ fault injection

// Which page allocations fail while armed: the nth one, or those whose
// index is set in `subset`.
struct fail_plan {
  bool armed = false;
  bool use_subset = false;
  unsigned nth = 0;
  std::vector<bool> subset;
  unsigned calls = 0, failed = 0;
};

bool plan_says_fail(void *ctx, gfp_t, unsigned) {
  fail_plan &p = *static_cast<fail_plan *>(ctx);
  if (!p.armed) return false;
  unsigned i = p.calls++;
  bool fail = p.use_subset ? i < p.subset.size() && p.subset[i] : i == p.nth;
  p.failed += fail;
  return fail;
}

// The objects in use in every slab cache, from /proc/slabinfo.
unsigned long active_objects(slab_allocator &sa) {
  std::string text;
  seq_out out{[](void *ctx, const char *str, size_t len) {
                static_cast<std::string *>(ctx)->append(str, len);
              },
              &text};
  show_slabinfo(sa, out);
  std::istringstream in(text);
  std::string line;
  unsigned long total = 0;
  while (std::getline(in, line)) {
    if (line.rfind("slabinfo", 0) == 0 || line.rfind("#", 0) == 0) continue;
    std::istringstream fields(line);
    std::string name;
    unsigned long active = 0;
    fields >> name >> active;
    total += active;
  }
  return total;
}

// What a failed vmalloc must leave as it found: at rest, the free pages plus
// the slab pages (which slab page holds the range's nodes may change: a
// failed request frees the neighbour node and keeps its own), the objects
// in use, and the page-table pages.
struct held_state {
  unsigned long pages, objects, tables;
  bool operator==(const held_state &) const = default;
};
std::ostream &operator<<(std::ostream &os, const held_state &h) {
  return os << "free+slab pages " << h.pages << " objects " << h.objects << " tables " << h.tables;
}
held_state held_now(vmalloc_fixture &f) {
  vm_unmap_aliases(*f.vs);  // a failed request that had mapped pages leaves its range waiting
  page_state s = settle(f.slab);
  return {s.free_and_pcp + s.slab_reclaimable + s.slab_unreclaimable, active_objects(*f.slab.sa),
          pgtable_count_tables(f.pt)};
}

enum class fault_api { vmalloc, vzalloc, vmalloc_32, vmalloc_node, vmap };

struct fault_op {
  unsigned long size;
  fault_api api;
  bool use_subset;
  unsigned nth;
  std::vector<bool> subset;
  int free_pick;  // < 0: none; else frees a live area first
};

rc::Gen<fault_op> gen_fault_op() {
  return rc::gen::apply(
      [](unsigned long size, fault_api api, bool use_subset, unsigned nth, std::vector<bool> subset,
         int pick) { return fault_op{size, api, use_subset, nth, subset, pick}; },
      rc::gen::weightedOneOf<unsigned long>(
          {{3, uniform(1ul, 16 * PAGE_SIZE)}, {1, uniform(1ul, 256 * 1024ul)}}),
      rc::gen::weightedElement<fault_api>({{3, fault_api::vmalloc},
                                           {2, fault_api::vzalloc},
                                           {1, fault_api::vmalloc_32},
                                           {1, fault_api::vmalloc_node},
                                           {2, fault_api::vmap}}),
      rc::gen::arbitrary<bool>(),
      rc::gen::weightedOneOf<unsigned>({{3, uniform(0u, 8u)}, {2, uniform(0u, 80u)}}),
      rc::gen::container<std::vector<bool>>(
          *uniform<size_t>(1, 90), rc::gen::weightedElement<bool>({{6, false}, {1, true}})),
      rc::gen::weightedOneOf<int>({{2, rc::gen::just(-1)}, {1, uniform(0, 1000)}}));
}

// Page allocations failed on purpose (the nth of a vmalloc or vmap, or a
// random subset; per-CPU lists off so every request reaches the hook),
// whether the failure hits the metadata's slab pages, the frames or the
// page-table pages: a vmalloc/vmap that met a failure returns NULL (vmalloc
// with its warning) and leaves nothing behind (no object, frame or table
// page; f.check() clean, so nothing mapped outside the live areas); one that
// met none is fully valid (mapped in order to distinct allocated frames,
// vmap's own, guard unmapped, zeroed for vzalloc, content kept); at the end
// everything is given back.
RC_GTEST_PROP(VmallocFaultInjection, FailuresLeaveNothingBehind, ()) {
  const layout_kind layout =
      *rc::gen::elementOf(std::vector<layout_kind>(std::begin(all_layouts), std::end(all_layouts)));
  RC_TAG(layout_name(layout));
  vmalloc_fixture f;
  RC_ASSERT(f.build(layout) == 0);
  mem_system &ms = *f.slab.mm.ms;
  warm_up(f);
  drain_all_pages(ms);
  ms.pcp_disabled = true;
  fail_plan plan;
  ms.should_fail_alloc_page = plan_says_fail;
  ms.fail_alloc_ctx = &plan;
  const rest_state initial = at_rest(f);
  const auto ops =
      *rc::gen::container<std::vector<fault_op>>(*uniform<size_t>(4, 16), gen_fault_op());
  struct fault_area {
    unsigned nr_pages;
    u8 fill;
    std::vector<page *> frames;  // vmap: the test's
  };
  std::map<uintptr_t, fault_area> live;
  unsigned failures = 0, successes = 0, vmap_failures = 0;
  u8 fill = 1;

  for (const fault_op &o : ops) {
    if (o.free_pick >= 0 && !live.empty()) {
      auto it = std::next(live.begin(), long(unsigned(o.free_pick) % live.size()));
      const fault_area &a = it->second;
      RC_ASSERT(pattern_holds(f, it->first, a.nr_pages, a.fill, true));
      if (a.frames.empty()) {
        vfree(*f.vs, vptr(it->first));
      } else {
        vunmap(*f.vs, vptr(it->first));
        for (page *pg : a.frames) __free_pages(ms, pg, 0);
      }
      RC_ASSERT(unmapped(f, it->first, a.nr_pages));
      live.erase(it);
    }
    const unsigned n = unsigned(pages_of(o.size));
    std::vector<page *> frames;
    if (o.api == fault_api::vmap) {
      for (unsigned i = 0; i < n; i++) {
        frames.push_back(alloc_pages(ms, GFP_KERNEL, 0));
        RC_ASSERT(uptr(frames.back()) != 0u);
        memset(page_address(ms, frames.back()), page_byte(fill, i), PAGE_SIZE);
      }
    }
    const held_state before = held_now(f);
    plan = fail_plan{};
    plan.use_subset = o.use_subset;
    plan.nth = o.nth;
    plan.subset = o.subset;
    log_buf_clear();
    plan.armed = true;
    void *p = nullptr;
    switch (o.api) {
      case fault_api::vmalloc: p = vmalloc(*f.vs, o.size); break;
      case fault_api::vzalloc: p = vzalloc(*f.vs, o.size); break;
      case fault_api::vmalloc_32: p = vmalloc_32(*f.vs, o.size); break;
      case fault_api::vmalloc_node: p = vmalloc_node(*f.vs, o.size, int(nr_nodes(ms)) - 1); break;
      case fault_api::vmap: {
        std::vector<page *> array = frames;  // a temporary, as callers may pass
        p = vmap(*f.vs, array.data(), n, VM_MAP, PROT_READ | PROT_WRITE);
        break;
      }
    }
    plan.armed = false;
    std::string log = read_log();
    if (plan.failed) {
      RC_ASSERT(uptr(p) == 0u);
      if (o.api != fault_api::vmap) RC_ASSERT(log.find("vmalloc error: size") != std::string::npos);
      RC_ASSERT(held_now(f) == before);
      for (unsigned i = 0; i < n && o.api == fault_api::vmap; i++) {
        RC_ASSERT(page_ref_count(frames[i]) == 1);
        __free_pages(ms, frames[i], 0);
      }
      failures++;
      vmap_failures += o.api == fault_api::vmap;
    } else {
      RC_ASSERT(uptr(p) != 0u);
      RC_ASSERT(log.find("vmalloc error") == std::string::npos);
      std::set<unsigned long> pfns;
      for (unsigned i = 0; i < n; i++) {
        unsigned long pfn = vmalloc_to_pfn(*f.vs, vptr(uptr(p) + uintptr_t(i) * PAGE_SIZE));
        RC_ASSERT(pfn != 0ul);
        RC_ASSERT(pfns.insert(pfn).second);
        RC_ASSERT(page_ref_count(pfn_to_page(ms, pfn)) >= 1);
        if (o.api == fault_api::vmap) RC_ASSERT(pfn == page_to_pfn(ms, frames[i]));
      }
      RC_ASSERT(!pgtable_walk(f.pt, uptr(p) + uintptr_t(n) * PAGE_SIZE, nullptr));
      if (o.api == fault_api::vzalloc) RC_ASSERT(pattern_holds(f, uptr(p), n, 0, true, true));
      if (o.api == fault_api::vmap)
        RC_ASSERT(pattern_holds(f, uptr(p), n, fill, true));
      else
        RC_ASSERT(write_pattern(f, uptr(p), n, fill));
      live[uptr(p)] = {n, fill, frames};
      successes++;
    }
    fill = u8(fill + 2);
    RC_ASSERT(f.check() == std::string());
    for (auto &[a, fa] : live) RC_ASSERT(pattern_holds(f, a, fa.nr_pages, fa.fill, false));
  }
  RC_CLASSIFY(failures > 0, "a request failed");
  RC_CLASSIFY(vmap_failures > 0, "a vmap failed");
  RC_CLASSIFY(successes > 0, "a request succeeded");

  for (auto &[a, fa] : live) {
    RC_ASSERT(pattern_holds(f, a, fa.nr_pages, fa.fill, true));
    if (fa.frames.empty()) {
      vfree(*f.vs, vptr(a));
    } else {
      vunmap(*f.vs, vptr(a));
      for (page *pg : fa.frames) __free_pages(ms, pg, 0);
    }
  }
  RC_ASSERT(f.vs->space.nr_busy == 0ul);
  RC_ASSERT(at_rest(f) == initial);
  RC_ASSERT(f.check() == std::string());
}

// Each kind of page allocation vmalloc makes can fail on its own: failing
// exactly the k-th allocation of a 16-page vmalloc, for every k up to the
// number it makes when nothing fails, returns NULL and leaves nothing
// behind; one more than that succeeds.
TEST(VmallocFaultInjection, EveryAllocationOfOneVmalloc) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.slab.mm.ms;
  warm_up(f);
  drain_all_pages(ms);
  ms.pcp_disabled = true;
  fail_plan plan;
  ms.should_fail_alloc_page = plan_says_fail;
  ms.fail_alloc_ctx = &plan;
  const rest_state initial = at_rest(f);
  // How many page allocations one vmalloc makes from rest (slabs shrunk, so
  // its metadata needs new slab pages too).
  plan = fail_plan{};
  plan.nth = ~0u;
  plan.armed = true;
  void *p = vmalloc(*f.vs, 16 * PAGE_SIZE);
  plan.armed = false;
  ASSERT_NE(p, nullptr);
  const unsigned calls = plan.calls;
  EXPECT_GE(calls, 16u + 2u) << "16 frames and at least two table pages";
  vfree(*f.vs, p);
  ASSERT_EQ(at_rest(f), initial);
  for (unsigned k = 0; k < calls; k++) {
    SCOPED_TRACE(testing::Message() << "failing allocation " << k << " of " << calls);
    const held_state before = held_now(f);
    plan = fail_plan{};
    plan.nth = k;
    log_buf_clear();
    plan.armed = true;
    p = vmalloc(*f.vs, 16 * PAGE_SIZE);
    plan.armed = false;
    EXPECT_EQ(plan.failed, 1u);
    EXPECT_EQ(p, nullptr);
    EXPECT_NE(read_log().find("vmalloc error: size 65536, out of memory"), std::string::npos);
    EXPECT_EQ(held_now(f), before);
    EXPECT_EQ(f.check(), "");
    vfree(*f.vs, p);
  }
  EXPECT_EQ(at_rest(f), initial);
}

// A vmalloc whose area node cannot be allocated fails at once with the
// out-of-memory warning, as Linux's alloc_vmap_area returns -ENOMEM before
// its "overflow" path: no purge of the ranges waiting for one (they keep
// waiting, no shootdown), nothing taken. failslab picks the call: vmalloc's
// slab allocations are its vm_struct, then the area's node.
TEST(VmallocFaultInjection, NodeFailureDoesNotPurge) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  slab_allocator &sa = *f.slab.sa;
  warm_up(f);
  void *a = vmalloc(*f.vs, 2 * PAGE_SIZE), *b = vmalloc(*f.vs, PAGE_SIZE);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  vfree(*f.vs, a);
  const std::vector<std::pair<uintptr_t, uintptr_t>> waiting = f.lazy_ranges();
  ASSERT_EQ(waiting.size(), 1u);
  const page_state before = snapshot(*f.slab.mm.ms);
  const unsigned long objects = active_objects(sa);
  const unsigned long flushes = host::tlb_flushes;
  sa.failslab.attr.probability = 100;
  sa.failslab.attr.interval = 2;
  sa.failslab.attr.times = 1;
  sa.failslab.attr.verbose = 0;
  sa.failslab.ignore_gfp_reclaim = false;
  log_buf_clear();
  EXPECT_EQ(vmalloc(*f.vs, PAGE_SIZE), nullptr);
  sa.failslab.attr.probability = 0;
  EXPECT_EQ(sa.failslab.attr.nr_failures, 1ul);
  const std::string log = read_log();
  EXPECT_EQ(log.rfind("vmalloc error: size 4096, out of memory, mode:", 0), 0u) << log;
  EXPECT_EQ(count_of(log, "\n"), 1u) << log;
  EXPECT_EQ(f.lazy_ranges(), waiting) << "the waiting range was purged";
  EXPECT_EQ(host::tlb_flushes, flushes);
  EXPECT_EQ(snapshot(*f.slab.mm.ms), before);
  EXPECT_EQ(active_objects(sa), objects);
  EXPECT_EQ(f.check(), "");
  vfree(*f.vs, b);
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(f.check(), "");
}

// ================================================================ bad input

// A bad vfree/vunmap and what must follow: exactly one "Trying to vfree()
// bad address" report (vunmap: "Trying to vunmap() ...") naming the address
// and saying `why`, one error counted, the page allocator's state unchanged,
// the checkers clean.
void expect_bad_free(vmalloc_fixture &f, const char *fn, const void *addr, const std::string &why,
                     const std::function<void()> &call) {
  EXPECT_EQ(f.check(), "") << "before";
  page_state before = snapshot(*f.slab.mm.ms);
  unsigned long errors = f.vs->errors, busy = f.vs->space.nr_busy, used = vmalloc_used_pages(*f.vs);
  log_buf_clear();
  call();
  std::string log = read_log();
  EXPECT_EQ(count_of(log, std::string("Trying to ") + fn + "() bad address"), 1u) << log;
  EXPECT_NE(log.find(addr_str(addr)), std::string::npos) << addr_str(addr) << " in\n" << log;
  EXPECT_NE(log.find(why), std::string::npos) << log;
  EXPECT_EQ(f.vs->errors, errors + 1);
  EXPECT_EQ(f.vs->space.nr_busy, busy);
  EXPECT_EQ(vmalloc_used_pages(*f.vs), used);
  EXPECT_EQ(snapshot(*f.slab.mm.ms), before);
  EXPECT_EQ(f.check(), "") << "after";
}

// An area the bad-input tests keep and look at afterwards.
struct kept_area {
  uintptr_t addr;
  unsigned nr_pages;
  u8 fill;
  std::vector<unsigned long> pfns;
};

kept_area keep(vmalloc_fixture &f, void *p, unsigned nr_pages, u8 fill, bool write = true) {
  kept_area k{uptr(p), nr_pages, fill, {}};
  if (write) {
    EXPECT_TRUE(write_pattern(f, k.addr, nr_pages, fill));
  }
  for (unsigned i = 0; i < nr_pages; i++)
    k.pfns.push_back(vmalloc_to_pfn(*f.vs, vptr(k.addr + i * PAGE_SIZE)));
  return k;
}

// Still mapped to the same frames, with the same content, guard unmapped.
void expect_intact(vmalloc_fixture &f, const kept_area &k) {
  for (unsigned i = 0; i < k.nr_pages; i++)
    EXPECT_EQ(vmalloc_to_pfn(*f.vs, vptr(k.addr + i * PAGE_SIZE)), k.pfns[i]) << "page " << i;
  EXPECT_TRUE(pattern_holds(f, k.addr, k.nr_pages, k.fill, true));
  EXPECT_FALSE(pgtable_walk(f.pt, k.addr + k.nr_pages * PAGE_SIZE, nullptr));
}

// vmalloc_init owns the whole vmalloc_system: over one full of 0xa5 bytes
// (a kernel's is static and zero, a test's may be anything) it works as
// over zeros, locks included.
TEST(VmallocBadInput, InitOverADirtySystem) {
  vmalloc_fixture f;
  memset(static_cast<void *>(f.vs.get()), 0xa5, sizeof(vmalloc_system));
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  for (int round = 0; round < 2; round++) {
    void *p = vmalloc(*f.vs, 5 * PAGE_SIZE);
    ASSERT_NE(p, nullptr);
    vfree(*f.vs, p);
  }
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(f.vs->errors, 0ul);
  EXPECT_EQ(f.check(), "");
}

// vfree of anything but the start of a live vmalloc area (its middle, an
// unaligned address in it, its guard page, a free part of the range,
// addresses outside the range, a direct-map address, a vmap area), a second
// vfree of an area, and vunmap of a vmalloc area or of a freed vmap area are
// each reported and counted and change nothing: the areas stay mapped and
// intact. vfree(NULL) and vunmap(NULL) are silent no-ops.
TEST(VmallocBadInput, BadFreesAreReportedAndChangeNothing) {
  for (layout_kind lk : {layout_kind::single_zone, layout_kind::two_nodes}) {
    SCOPED_TRACE(layout_name(lk));
    vmalloc_fixture f;
    ASSERT_EQ(f.build(lk), 0);
    mem_system &ms = *f.slab.mm.ms;
    warm_up(f);
    void *a = vmalloc(*f.vs, 3 * PAGE_SIZE);
    void *gone = vmalloc(*f.vs, PAGE_SIZE);
    void *b = vmalloc(*f.vs, 5 * PAGE_SIZE + 1);
    ASSERT_TRUE(a && gone && b);
    std::vector<page *> frames;
    for (int i = 0; i < 2; i++) {
      frames.push_back(alloc_pages(ms, GFP_KERNEL, 0));
      memset(page_address(ms, frames.back()), 0x6d + 31 * i, PAGE_SIZE);
    }
    void *m = vmap(*f.vs, frames.data(), 2, VM_MAP, PROT_READ | PROT_WRITE);
    ASSERT_NE(m, nullptr);
    kept_area ka = keep(f, a, 3, 0x21), kb = keep(f, b, 6, 0x41), km = keep(f, m, 2, 0x6d, false);
    vfree(*f.vs, gone);
    uintptr_t ua = uptr(a);

    struct bad {
      const void *addr;
      const char *why;
    };
    for (bad x : {bad{vptr(ua + PAGE_SIZE), "not the start of its area"},
                  bad{vptr(ua + 1), "not the start of its area"},
                  bad{vptr(ua + 3 * PAGE_SIZE), "guard page"}, bad{gone, "no area there"},
                  bad{vptr(f.vs->space.end - PAGE_SIZE), "no area there"},
                  bad{vptr(f.vs->space.end), "not a vmalloc address"},
                  bad{vptr(f.vs->space.start - PAGE_SIZE), "not a vmalloc address"},
                  bad{vptr(0x1000), "not a vmalloc address"},
                  bad{page_address(ms, frames[0]), "not a vmalloc address"},
                  bad{m, "area was made by vmap"}}) {
      SCOPED_TRACE(addr_str(x.addr));
      expect_bad_free(f, "vfree", x.addr, x.why, [&] { vfree(*f.vs, x.addr); });
    }
    expect_bad_free(f, "vunmap", a, "area was made by vmalloc", [&] { vunmap(*f.vs, a); });
    expect_bad_free(f, "vunmap", vptr(uptr(m) + PAGE_SIZE), "not the start of its area",
                    [&] { vunmap(*f.vs, vptr(uptr(m) + PAGE_SIZE)); });
    expect_intact(f, ka);
    expect_intact(f, kb);
    expect_intact(f, km);

    // A second free of the same area.
    vfree(*f.vs, a);
    EXPECT_TRUE(unmapped(f, ua, 3));
    expect_bad_free(f, "vfree", a, "no area there", [&] { vfree(*f.vs, a); });
    vunmap(*f.vs, m);
    expect_bad_free(f, "vunmap", m, "no area there", [&] { vunmap(*f.vs, m); });
    for (page *p : frames) EXPECT_EQ(page_ref_count(p), 1);
    expect_intact(f, kb);

    page_state before = snapshot(ms);
    unsigned long errors = f.vs->errors;
    log_buf_clear();
    vfree(*f.vs, nullptr);
    vunmap(*f.vs, nullptr);
    EXPECT_EQ(read_log(), "");
    EXPECT_EQ(f.vs->errors, errors);
    EXPECT_EQ(snapshot(ms), before);

    vfree(*f.vs, b);
    for (page *p : frames) __free_pages(ms, p, 0);
    EXPECT_EQ(f.vs->errors, 14ul);
    EXPECT_EQ(f.check(), "");
  }
}

// Requests vmalloc refuses take nothing: size 0 and sizes the range cannot
// hold (with its guard page) return NULL with a warning; so do flags that
// cannot sleep (GFP_ATOMIC, GFP_NOWAIT, which has __GFP_NOWARN: still
// warned) and a non-power-of-two alignment. The largest size the range holds
// succeeds, and once the range is full a further vmalloc fails, taking
// nothing, until the area is freed.
TEST(VmallocBadInput, RefusedRequestsTakeNothing) {
  vmalloc_fixture f;
  constexpr unsigned long RANGE = 64 * PAGE_SIZE;
  ASSERT_NO_FATAL_FAILURE(build_range(f, RANGE));
  const rest_state initial = at_rest(f);
  struct refused {
    std::function<void *()> call;
    const char *what;
  };
  vmalloc_system &vs = *f.vs;
  std::vector<refused> cases = {
      {[&] { return vmalloc(vs, 0); }, "vmalloc error: size 0, size 0"},
      {[&] { return vzalloc(vs, 0); }, "vmalloc error: size 0, size 0"},
      {[&] { return vmalloc(vs, RANGE - PAGE_SIZE + 1); }, "larger than the vmalloc range"},
      {[&] { return vmalloc(vs, RANGE); }, "larger than the vmalloc range"},
      {[&] { return vmalloc_user(vs, ~0ul); }, "larger than the vmalloc range"},
      {[&] { return vmalloc(vs, ~0ul - PAGE_SIZE + 2); }, "larger than the vmalloc range"},
      {[&] { return __vmalloc(vs, PAGE_SIZE, GFP_ATOMIC); }, "cannot sleep"},
      {[&] { return __vmalloc(vs, PAGE_SIZE, GFP_NOWAIT); }, "cannot sleep"},
      {[&] { return __vmalloc(vs, 64 * 1024, GFP_ATOMIC | __GFP_ZERO); }, "cannot sleep"},
      {[&] {
         return __vmalloc_node(vs, PAGE_SIZE, 3 * PAGE_SIZE, GFP_KERNEL, NUMA_NO_NODE, nullptr);
       },
       "alignment not a power of two"},
  };
  for (size_t i = 0; i < cases.size(); i++) {
    SCOPED_TRACE(cases[i].what);
    SCOPED_TRACE(i);
    page_state before = snapshot(*f.slab.mm.ms);
    log_buf_clear();
    EXPECT_EQ(cases[i].call(), nullptr);
    std::string log = read_log();
    EXPECT_EQ(count_of(log, "vmalloc error"), 1u) << log;
    EXPECT_NE(log.find(cases[i].what), std::string::npos) << log;
    EXPECT_EQ(snapshot(*f.slab.mm.ms), before);
    EXPECT_EQ(f.vs->space.nr_busy, 0ul);
    EXPECT_EQ(f.check(), "");
  }
  // The whole range but the guard page.
  void *all = vmalloc(vs, RANGE - PAGE_SIZE);
  ASSERT_NE(all, nullptr);
  EXPECT_EQ(uptr(all), VMALLOC_START_ADDR);
  kept_area k = keep(f, all, 63, 0x55);
  page *pg = alloc_pages(*f.slab.mm.ms, GFP_KERNEL, 0);
  const held_state full = held_now(f);
  log_buf_clear();
  EXPECT_EQ(vmalloc(vs, 1), nullptr);
  EXPECT_NE(read_log().find("out of memory"), std::string::npos);
  EXPECT_EQ(held_now(f), full);
  EXPECT_EQ(vmap(vs, &pg, 1, VM_MAP, PROT_READ), nullptr);
  EXPECT_EQ(held_now(f), full);
  __free_pages(*f.slab.mm.ms, pg, 0);
  expect_intact(f, k);
  EXPECT_EQ(f.check(), "");
  vfree(vs, all);
  void *again = vmalloc(vs, 1);
  EXPECT_EQ(uptr(again), VMALLOC_START_ADDR);
  vfree(vs, again);
  EXPECT_EQ(at_rest(f), initial);
  EXPECT_EQ(f.vs->errors, 0ul);
}

// vmap with bad arguments returns NULL and takes nothing: no array, no
// pages, a NULL entry, W with X, no R, an unknown bit.
TEST(VmapBadInput, BadArgumentsReturnNull) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.slab.mm.ms;
  warm_up(f);
  page *good[3] = {alloc_pages(ms, GFP_KERNEL, 0), alloc_pages(ms, GFP_KERNEL, 0),
                   alloc_pages(ms, GFP_KERNEL, 0)};
  page *with_null[3] = {good[0], nullptr, good[2]};
  // One page more than the space holds with its guard page.
  const unsigned space_pages = unsigned((f.vs->space.end - f.vs->space.start) / PAGE_SIZE);
  std::vector<page *> too_many(space_pages, good[0]);
  struct bad {
    page **pages;
    unsigned count, prot;
    const char *what;
  };
  for (bad b : {bad{nullptr, 1, PROT_READ, "no array"}, bad{good, 0, PROT_READ, "count 0"},
                bad{with_null, 3, PROT_READ, "a NULL entry"},
                bad{good, 3, PROT_READ | PROT_WRITE | PROT_EXEC, "W and X"},
                bad{good, 3, PROT_WRITE, "W without R"}, bad{good, 3, 0, "no permission"},
                bad{good, 3, PROT_READ | PROT_USER, "PROT_USER"},
                bad{too_many.data(), space_pages, PROT_READ, "more than the space"}}) {
    SCOPED_TRACE(b.what);
    page_state before = snapshot(ms);
    log_buf_clear();
    EXPECT_EQ(vmap(*f.vs, b.pages, b.count, VM_MAP, b.prot), nullptr);
    char want[64];
    if (b.pages == with_null) snprintf(want, sizeof(want), "vmap: page 1 is NULL\n");
    else snprintf(want, sizeof(want), "vmap: bad arguments (%u pages, prot %#x)\n", b.count, b.prot);
    EXPECT_NE(read_log().find(want), std::string::npos) << read_log();
    EXPECT_EQ(snapshot(ms), before);
    EXPECT_EQ(f.vs->space.nr_busy, 0ul);
    EXPECT_EQ(f.check(), "");
  }
  // The same pages with good arguments: read-only and executable is allowed.
  void *v = vmap(*f.vs, good, 3, VM_MAP, PROT_READ | PROT_EXEC);
  ASSERT_NE(v, nullptr);
  pt_walk_result w;
  ASSERT_TRUE(pgtable_walk(f.pt, uptr(v), &w));
  EXPECT_EQ(w.prot & (PROT_READ | PROT_WRITE | PROT_EXEC), unsigned(PROT_READ | PROT_EXEC));
  EXPECT_EQ(f.check(), "");
  vunmap(*f.vs, v);
  for (page *p : good) __free_pages(ms, p, 0);
  EXPECT_EQ(f.check(), "");
}

// vmap of as many pages as the range has is refused as a bad argument (the
// area needs its guard page too, so it can never fit): the warning says
// so, and nothing is tried, so ranges waiting for the lazy purge stay
// waiting (no purge, no shootdown). One page fewer fits exactly.
TEST(VmapBadInput, MorePagesThanTheRangeHolds) {
  vmalloc_fixture f;
  constexpr unsigned RANGE = 8;
  ASSERT_NO_FATAL_FAILURE(build_range(f, RANGE * PAGE_SIZE));
  mem_system &ms = *f.slab.mm.ms;
  vfree(*f.vs, vmalloc(*f.vs, PAGE_SIZE));  // a range waiting for the purge
  ASSERT_EQ(f.vs->space.nr_lazy, 1ul);
  std::vector<page *> frames;
  for (unsigned i = 0; i < RANGE; i++) frames.push_back(alloc_pages(ms, GFP_KERNEL, 0));
  const unsigned long flushes = host::tlb_flushes;
  log_buf_clear();
  EXPECT_EQ(vmap(*f.vs, frames.data(), RANGE, VM_MAP, PROT_READ), nullptr);
  EXPECT_EQ(read_log(), "vmap: bad arguments (8 pages, prot 0x1)\n");
  EXPECT_EQ(f.vs->space.nr_lazy, 1ul) << "no purge for a request that can never fit";
  EXPECT_EQ(host::tlb_flushes, flushes);
  EXPECT_EQ(f.check(), "");
  void *v = vmap(*f.vs, frames.data(), RANGE - 1, VM_MAP, PROT_READ);
  ASSERT_NE(v, nullptr) << "the purge frees the waiting range; then RANGE - 1 pages and the guard fill it";
  EXPECT_EQ(uptr(v), VMALLOC_START_ADDR);
  EXPECT_EQ(f.check(), "");
  vunmap(*f.vs, v);
  for (page *p : frames) __free_pages(ms, p, 0);
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(f.check(), "");
}

// vmap keeps no pointer into the caller's array (Linux's vmap does not; the
// array is often temporary): after the array is overwritten and freed, the
// mapping, vmalloc_to_page, the checker and vunmap all still see the pages
// that were mapped.
TEST(VmapCallerArray, MayBeReusedAfterVmap) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.slab.mm.ms;
  warm_up(f);
  std::vector<page *> frames;
  for (int i = 0; i < 4; i++) frames.push_back(alloc_pages(ms, GFP_KERNEL, 0));
  page *other = alloc_pages(ms, GFP_KERNEL, 0);
  auto array = std::make_unique<page *[]>(4);
  for (int i = 0; i < 4; i++) array[i] = frames[i];
  void *v = vmap(*f.vs, array.get(), 4, VM_MAP, PROT_READ | PROT_WRITE);
  ASSERT_NE(v, nullptr);
  for (int i = 0; i < 4; i++) array[i] = other;  // the caller reuses its array
  for (int i = 0; i < 4; i++)
    EXPECT_EQ(vmalloc_to_page(*f.vs, static_cast<char *>(v) + i * PAGE_SIZE), frames[i]) << i;
  EXPECT_EQ(f.check(), "");
  array.reset();
  vunmap(*f.vs, v);
  EXPECT_EQ(f.check(), "");
  for (page *p : frames) __free_pages(ms, p, 0);
  __free_pages(ms, other, 0);
}

// ============================================================== vmallocinfo

// Call sites the reports name. Each is a function of its own that cannot
// tail-call (the barrier after the call), so the caller vmalloc records is a
// return address inside it.
#define CALL_SITE(name, call)                                                 \
  __attribute__((noinline)) void *name(vmalloc_system &vs, unsigned long n) { \
    void *p = call;                                                           \
    asm volatile("" ::: "memory");                                            \
    return p;                                                                 \
  }
CALL_SITE(site_vmalloc, vmalloc(vs, n))
CALL_SITE(site_vmalloc_user, vmalloc_user(vs, n))
CALL_SITE(site_vmalloc_node1, vmalloc_node(vs, n, 1))
CALL_SITE(site_vzalloc, vzalloc(vs, n))
CALL_SITE(site_vmalloc_movable, vmalloc_movable(vs, n))
#undef CALL_SITE
__attribute__((noinline)) void *site_vmap(vmalloc_system &vs, page **pages, unsigned n) {
  void *p = vmap(vs, pages, n, VM_MAP, PROT_READ);
  asm volatile("" ::: "memory");
  return p;
}

struct site {
  const void *fn;
  const char *name;
};
const site sites[] = {{reinterpret_cast<const void *>(&site_vmalloc), "site_vmalloc"},
                      {reinterpret_cast<const void *>(&site_vmalloc_user), "site_vmalloc_user"},
                      {reinterpret_cast<const void *>(&site_vmalloc_node1), "site_vmalloc_node1"},
                      {reinterpret_cast<const void *>(&site_vzalloc), "site_vzalloc"},
                      {reinterpret_cast<const void *>(&site_vmalloc_movable), "site_vmalloc_movable"},
                      {reinterpret_cast<const void *>(&site_vmap), "site_vmap"}};

// Names an address by the call site whose code it lies in (the nearest
// entry below it, within 512 bytes), "unknown" otherwise.
void name_site(const void *addr, char *buf, size_t size) {
  const site *best = nullptr;
  for (const site &s : sites)
    if (uptr(s.fn) <= uptr(addr) && uptr(addr) - uptr(s.fn) < 512 &&
        (!best || uptr(s.fn) > uptr(best->fn)))
      best = &s;
  snprintf(buf, size, "%s", best ? best->name : "unknown");
}

// A single-zone fixture, warmed up, whose callers are named by call site.
void build_named(vmalloc_fixture &f) {
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  warm_up(f);
  f.vs->symbolize = name_site;
}

std::string vmallocinfo(vmalloc_system &vs) {
  std::string text;
  seq_out out{[](void *ctx, const char *str, size_t len) {
                static_cast<std::string *>(ctx)->append(str, len);
              },
              &text};
  show_vmallocinfo(vs, out);
  return text;
}

struct info_area {
  uintptr_t addr;
  unsigned nr_pages;
  const char *site;
  bool vmap, user;
};

// The line an area must have, from what the test knows of it (the node of
// each frame read through vmalloc_to_page).
std::string expected_line(vmalloc_fixture &f, const info_area &a, const std::string &caller) {
  char buf[256];
  int n =
      snprintf(buf, sizeof(buf), "0x%016lx-0x%016lx %7lu %s", a.addr,
               a.addr + (a.nr_pages + 1) * PAGE_SIZE, (a.nr_pages + 1) * PAGE_SIZE, caller.c_str());
  std::string line(buf, size_t(n));
  if (a.vmap) return line + " vmap";
  line += " pages=" + std::to_string(a.nr_pages) + " vmalloc";
  if (a.user) line += " user";
  unsigned per_node[MAX_NUMNODES] = {};
  for (unsigned i = 0; i < a.nr_pages; i++)
    per_node[page_to_nid(vmalloc_to_page(*f.vs, vptr(a.addr + i * PAGE_SIZE)))]++;
  for (unsigned nid = 0; nid < MAX_NUMNODES; nid++)
    if (per_node[nid]) line += " N" + std::to_string(nid) + "=" + std::to_string(per_node[nid]);
  return line;
}

// /proc/vmallocinfo has one line per live area, in address order, each
// exactly "0xSTART-0xEND SIZE CALLER pages=N vmalloc [user] [N<nid>=<n>...]"
// (vmap areas: "... CALLER vmap"), SIZE counting the guard page and CALLER
// the function that called vmalloc; more areas than one batch (16) all
// appear exactly once, freed areas none; and vmalloc_used_pages is the sum
// of the pages= counts.
TEST(VmallocInfo, OneLinePerAreaInAddressOrder) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::two_nodes), 0);
  mem_system &ms = *f.slab.mm.ms;
  warm_up(f);
  f.vs->symbolize = name_site;
  std::vector<info_area> areas;
  std::vector<std::vector<page *>> vmap_frames;
  for (unsigned i = 0; i < 45; i++) {
    unsigned long size = (i % 5 + 1) * PAGE_SIZE - (i % 3) * 100;
    unsigned n = unsigned(pages_of(size));
    switch (i % 5) {
      case 0:
        areas.push_back({uptr(site_vmalloc(*f.vs, size)), n, "site_vmalloc", false, false});
        break;
      case 1:
        areas.push_back(
            {uptr(site_vmalloc_user(*f.vs, size)), n, "site_vmalloc_user", false, true});
        break;
      case 2:
        areas.push_back(
            {uptr(site_vmalloc_node1(*f.vs, size)), n, "site_vmalloc_node1", false, false});
        break;
      case 3:
        areas.push_back({uptr(site_vzalloc(*f.vs, size)), n, "site_vzalloc", false, false});
        break;
      case 4: {
        std::vector<page *> frames;
        for (unsigned j = 0; j < n; j++) frames.push_back(alloc_pages(ms, GFP_KERNEL, 0));
        areas.push_back({uptr(site_vmap(*f.vs, frames.data(), n)), n, "site_vmap", true, false});
        vmap_frames.push_back(std::move(frames));
        break;
      }
    }
    ASSERT_NE(areas.back().addr, 0u) << i;
  }
  // Free every third vmalloc area: their lines go, and each range is
  // listed after the areas as waiting for the purge (Linux's
  // show_purge_info), in address order.
  std::vector<info_area> live;
  std::map<uintptr_t, uintptr_t> waiting;
  for (size_t i = 0; i < areas.size(); i++) {
    if (!areas[i].vmap && i % 3 == 0) {
      vfree(*f.vs, vptr(areas[i].addr));
      waiting[areas[i].addr] = areas[i].addr + (areas[i].nr_pages + 1) * PAGE_SIZE;
    } else {
      live.push_back(areas[i]);
    }
  }
  ASSERT_GT(live.size(), 16u);
  std::sort(live.begin(), live.end(),
            [](const info_area &x, const info_area &y) { return x.addr < y.addr; });
  std::vector<std::string> want;
  unsigned long used = 0;
  bool node1 = false;
  for (const info_area &a : live) {
    want.push_back(expected_line(f, a, a.site));
    if (!a.vmap) used += a.nr_pages;
    node1 |= want.back().find(" N1=") != std::string::npos;
  }
  EXPECT_TRUE(node1) << "vmalloc_node(1) frames on node 1";
  for (auto [b, e] : waiting) {
    char line[96];
    snprintf(line, sizeof(line), "0x%016lx-0x%016lx %7lu unpurged vm_area", static_cast<unsigned long>(b),
             static_cast<unsigned long>(e), static_cast<unsigned long>(e - b));
    want.push_back(line);
  }
  std::string text = vmallocinfo(*f.vs);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  std::vector<std::string> got;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) got.push_back(line);
  EXPECT_EQ(got, want);
  unsigned long pages_sum = 0;
  for (const std::string &line : got) {
    size_t at = line.find(" pages=");
    if (at != std::string::npos) pages_sum += std::stoul(line.substr(at + 7));
  }
  EXPECT_EQ(pages_sum, used);
  EXPECT_EQ(vmalloc_used_pages(*f.vs), used);

  // Without a symbolizer the caller is the return address, as %p prints it
  // (after a purge: only the areas' lines are left).
  f.vs->symbolize = nullptr;
  vm_unmap_aliases(*f.vs);
  text = vmallocinfo(*f.vs);
  std::istringstream in2(text);
  size_t i = 0;
  for (std::string line; std::getline(in2, line); i++) {
    ASSERT_LT(i, live.size());
    const vm_struct *vm = vmap_find_busy_at(&f.vs->space, live[i].addr)->vm;
    char name[64];
    name_site(vm->caller, name, sizeof(name));
    EXPECT_STREQ(name, live[i].site) << "the recorded caller lies in the call site";
    EXPECT_EQ(line, expected_line(f, live[i], addr_str(vm->caller)));
  }
  EXPECT_EQ(i, live.size());

  for (const info_area &a : live) {
    if (a.vmap)
      vunmap(*f.vs, vptr(a.addr));
    else
      vfree(*f.vs, vptr(a.addr));
  }
  for (auto &frames : vmap_frames)
    for (page *p : frames) __free_pages(ms, p, 0);
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(vmallocinfo(*f.vs), "");
  EXPECT_EQ(vmalloc_used_pages(*f.vs), 0ul);
  EXPECT_EQ(vmalloc_total_pages(*f.vs), (VMALLOC_END_ADDR - VMALLOC_START_ADDR) / PAGE_SIZE);
  EXPECT_EQ(f.check(), "");
}

// vmalloc_init owns every field of the vmalloc_system: whatever the memory
// held before (not zeroed, or a system set up again), it starts with
// nothing counted (VmallocUsed 0, no lazy pages, no errors) and no
// symbolizer (vmallocinfo prints callers as addresses); the checker agrees
// with it through a vmalloc, a bad vfree, a vfree and the purge.
TEST(VmallocInit, DirtyMemoryStartsEmpty) {
  vmalloc_fixture f;
  memset(static_cast<void *>(f.vs.get()), 0xa5, sizeof(vmalloc_system));
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  EXPECT_EQ(vmalloc_used_pages(*f.vs), 0ul);
  EXPECT_EQ(f.vs->errors, 0ul);
  EXPECT_EQ(f.vs->vmap_lazy_nr, 0ul);
  EXPECT_EQ(f.vs->migrating, 0u);
  EXPECT_EQ(f.vs->movable_pages, 0ul);
  EXPECT_EQ(f.lazy_table_pages(), 0ul);
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(vmallocinfo(*f.vs), "");
  void *p = site_vmalloc(*f.vs, 3 * PAGE_SIZE);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(vmalloc_used_pages(*f.vs), 3ul);
  const vm_struct *vm = vmap_find_busy_at(&f.vs->space, uptr(p))->vm;
  EXPECT_EQ(vmallocinfo(*f.vs), expected_line(f, {uptr(p), 3, "", false, false}, addr_str(vm->caller)) + "\n");
  EXPECT_EQ(f.check(), "");
  log_buf_clear();
  vfree(*f.vs, static_cast<char *>(p) + PAGE_SIZE);
  EXPECT_EQ(f.vs->errors, 1ul);
  vfree(*f.vs, p);
  EXPECT_EQ(vmalloc_used_pages(*f.vs), 0ul);
  EXPECT_EQ(f.vs->vmap_lazy_nr, 4ul);
  EXPECT_EQ(f.check(), "");
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(f.vs->vmap_lazy_nr, 0ul);
  EXPECT_EQ(f.check(), "");
}

// vmalloc_init refuses a missing page table, an empty or reversed range and
// a range whose start or end is not page-aligned, with -EINVAL, writing
// nothing; the smallest good range (one page) is taken.
TEST(VmallocInit, BadRangesAreEinval) {
  vmalloc_fixture f;
  ASSERT_EQ(f.slab.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.slab.mm.ms;
  const uintptr_t s = VMALLOC_START_ADDR;
  const struct {
    bool table;
    uintptr_t start, end;
    const char *what;
  } bad[] = {{false, s, s + 16 * PAGE_SIZE, "no page table"},
             {true, s, s, "empty"},
             {true, s + PAGE_SIZE, s, "reversed"},
             {true, s + 8, s + 16 * PAGE_SIZE, "start not aligned"},
             {true, s, s + 16 * PAGE_SIZE - 8, "end not aligned"},
             {true, s + 1, s + 1 + 16 * PAGE_SIZE, "both off by one byte"}};
  std::vector<unsigned char> pattern(sizeof(vmalloc_system), 0xa5);
  for (const auto &b : bad) {
    SCOPED_TRACE(b.what);
    memcpy(static_cast<void *>(f.vs.get()), pattern.data(), pattern.size());
    EXPECT_EQ(vmalloc_init(f.vs.get(), ms, *f.slab.sa, b.table ? &f.pt : nullptr, b.start, b.end), -EINVAL);
    EXPECT_EQ(memcmp(static_cast<const void *>(f.vs.get()), pattern.data(), pattern.size()), 0) << "written";
  }
  memset(static_cast<void *>(f.vs.get()), 0, sizeof(vmalloc_system));
  ASSERT_EQ(vmalloc_init(f.vs.get(), ms, *f.slab.sa, &f.pt, s, s + PAGE_SIZE), 0);
  EXPECT_EQ(vmalloc_total_pages(*f.vs), 1ul);
  unregister_movable_ops(ms, &f.vs->mops);
}

// __vmalloc_node's align: the area starts at a multiple of it (the free
// space skipped to get there stays free for the next request), and an
// alignment below a page (0, 1, 8, half a page) means a page, as in
// Linux, where callers commonly pass 1.
TEST(VmallocAlign, AreasStartAtTheAlignment) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  warm_up(f);
  auto align_up_to = [](uintptr_t x, uintptr_t a) { return (x + a - 1) / a * a; };
  void *first = vmalloc(*f.vs, PAGE_SIZE);  // the next free page is not 64 KiB-aligned
  ASSERT_NE(first, nullptr);
  ASSERT_NE(uptr(first) + 2 * PAGE_SIZE, align_up_to(uptr(first) + 2 * PAGE_SIZE, SZ_64K));
  void *aligned = __vmalloc_node(*f.vs, 3 * PAGE_SIZE, SZ_64K, GFP_KERNEL, NUMA_NO_NODE, nullptr);
  ASSERT_NE(aligned, nullptr);
  EXPECT_EQ(uptr(aligned), align_up_to(uptr(first) + 2 * PAGE_SIZE, SZ_64K));
  void *gap = vmalloc(*f.vs, PAGE_SIZE);
  EXPECT_EQ(uptr(gap), uptr(first) + 2 * PAGE_SIZE) << "the space skipped for the alignment is still free";
  std::vector<void *> small;
  for (unsigned long align : {0ul, 1ul, 8ul, PAGE_SIZE / 2}) {
    SCOPED_TRACE(align);
    void *p = __vmalloc_node(*f.vs, 2 * PAGE_SIZE, align, GFP_KERNEL, NUMA_NO_NODE, nullptr);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(uptr(p) % PAGE_SIZE, 0u);
    EXPECT_TRUE(write_pattern(f, uptr(p), 2, 0x3c));
    EXPECT_TRUE(pattern_holds(f, uptr(p), 2, 0x3c, true));
    small.push_back(p);
  }
  EXPECT_EQ(f.check(), "");
  for (void *p : small) vfree(*f.vs, p);
  vfree(*f.vs, gap);
  vfree(*f.vs, aligned);
  vfree(*f.vs, first);
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(f.check(), "");
}

// __GFP_NOWARN silences the warnings of failures the caller may expect (a
// size of 0 or past the range, no memory) and nothing else: flags that
// cannot sleep and an alignment that is not a power of two are the
// caller's bug and warn anyway, their mode printed without __GFP_NOWARN.
// Each warning is one line, "vmalloc error: size N, WHY, mode:0xGFP".
TEST(VmallocBadInput, NowarnSilencesOnlyExpectedFailures) {
  vmalloc_fixture f;
  constexpr unsigned long RANGE = 16 * PAGE_SIZE;
  ASSERT_NO_FATAL_FAILURE(build_range(f, RANGE));
  auto line = [](unsigned long size, const char *why, gfp_t gfp) {
    char buf[160];
    snprintf(buf, sizeof(buf), "vmalloc error: size %lu, %s, mode:%#x\n", size, why, unsigned(gfp));
    return std::string(buf);
  };
  const gfp_t nowarn = GFP_KERNEL | __GFP_NOWARN;
  // Runs fn with every page allocation failing (fail_page_alloc, silent).
  mem_system &ms = *f.slab.mm.ms;
  auto failing_pages = [&](const std::function<void *()> &fn) {
    ms.fail_page_alloc.attr.probability = 100;
    ms.fail_page_alloc.attr.times = -1;
    ms.fail_page_alloc.attr.verbose = 0;
    ms.fail_page_alloc.min_order = 0;
    ms.fail_page_alloc.ignore_gfp_reclaim = false;
    void *p = fn();
    ms.fail_page_alloc.attr.probability = 0;
    return p;
  };
  struct call {
    std::function<void *()> fn;
    std::string warning;  // "" when silent
  };
  vmalloc_system &vs = *f.vs;
  const call calls[] = {
      {[&] { return __vmalloc(vs, 0, nowarn); }, ""},
      {[&] { return __vmalloc(vs, RANGE, nowarn); }, ""},
      {[&] { return failing_pages([&] { return __vmalloc(vs, PAGE_SIZE, nowarn); }); }, ""},
      {[&] { return __vmalloc(vs, 0, GFP_KERNEL); }, line(0, "size 0", GFP_KERNEL)},
      {[&] { return __vmalloc(vs, RANGE, GFP_KERNEL); }, line(RANGE, "larger than the vmalloc range", GFP_KERNEL)},
      {[&] { return failing_pages([&] { return __vmalloc(vs, PAGE_SIZE, GFP_KERNEL); }); },
       line(PAGE_SIZE, "out of memory", GFP_KERNEL)},
      {[&] { return __vmalloc(vs, PAGE_SIZE, GFP_ATOMIC | __GFP_NOWARN); },
       line(PAGE_SIZE, "flags that cannot sleep (vmalloc needs __GFP_DIRECT_RECLAIM)", GFP_ATOMIC)},
      {[&] { return __vmalloc_node(vs, PAGE_SIZE, 3 * PAGE_SIZE, nowarn, NUMA_NO_NODE, nullptr); },
       line(PAGE_SIZE, "alignment not a power of two", GFP_KERNEL)},
  };
  for (size_t i = 0; i < std::size(calls); i++) {
    SCOPED_TRACE(i);
    log_buf_clear();
    EXPECT_EQ(calls[i].fn(), nullptr);
    EXPECT_EQ(read_log(), calls[i].warning);
  }
  EXPECT_EQ(f.check(), "");
}

// A movable area's line says so after "vmalloc" (this kernel's word: Linux's
// vmalloc memory never moves), with the pages= and per-node counts of any
// area; its pages count in VmallocUsed like any vmalloc area's.
TEST(VmallocInfo, MovableAreaSaysSo) {
  vmalloc_fixture f;
  ASSERT_NO_FATAL_FAILURE(build_named(f));
  void *plain = site_vmalloc(*f.vs, 2 * PAGE_SIZE);
  void *mov = site_vmalloc_movable(*f.vs, 3 * PAGE_SIZE);
  ASSERT_NE(plain, nullptr);
  ASSERT_NE(mov, nullptr);
  char want_mov[160];
  snprintf(want_mov, sizeof(want_mov), "0x%016lx-0x%016lx %7lu site_vmalloc_movable pages=3 vmalloc movable N0=3",
           static_cast<unsigned long>(uptr(mov)), static_cast<unsigned long>(uptr(mov) + 4 * PAGE_SIZE), 4 * PAGE_SIZE);
  const std::string want = expected_line(f, {uptr(plain), 2, "site_vmalloc", false, false}, "site_vmalloc") + "\n" +
                           want_mov + "\n";
  EXPECT_EQ(vmallocinfo(*f.vs), want);
  EXPECT_EQ(vmalloc_used_pages(*f.vs), 5ul);
  EXPECT_EQ(f.vs->movable_pages, 3ul);
  vfree(*f.vs, mov);
  vfree(*f.vs, plain);
  EXPECT_EQ(vmalloc_used_pages(*f.vs), 0ul);
  EXPECT_EQ(f.vs->movable_pages, 0ul);
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(f.check(), "");
}

// ========================================================== vmalloc_describe

// What a fault report says of an address: in an area's guard page, "vmalloc
// guard page of area 0x<start> <caller>"; in its mapped pages, "vmalloc
// area 0x<start> of <caller>"; in a free part of the range, "vmalloc
// range outside any area"; and with the areas' lock held, that it did not
// look.
TEST(VmallocDescribe, NamesTheAreaAndItsGuardPage) {
  vmalloc_fixture f;
  ASSERT_NO_FATAL_FAILURE(build_named(f));
  void *a = site_vmalloc(*f.vs, 3 * PAGE_SIZE);
  void *b = site_vzalloc(*f.vs, PAGE_SIZE);
  void *c = site_vmalloc(*f.vs, PAGE_SIZE);
  ASSERT_TRUE(a && b && c);
  vfree(*f.vs, b);
  char buf[160], want[160];
  auto describe = [&](uintptr_t addr) {
    return std::string(vmalloc_describe(*f.vs, vptr(addr), buf, sizeof(buf)));
  };
  for (uintptr_t off : {0ul, 1ul, PAGE_SIZE, 3 * PAGE_SIZE - 1}) {
    snprintf(want, sizeof(want), "vmalloc area 0x%lx of site_vmalloc", uptr(a));
    EXPECT_EQ(describe(uptr(a) + off), want) << off;
  }
  for (uintptr_t off : {3 * PAGE_SIZE, 4 * PAGE_SIZE - 1}) {
    snprintf(want, sizeof(want), "vmalloc guard page of area 0x%lx site_vmalloc", uptr(a));
    EXPECT_EQ(describe(uptr(a) + off), want) << off;
  }
  snprintf(want, sizeof(want), "vmalloc guard page of area 0x%lx site_vmalloc", uptr(c));
  EXPECT_EQ(describe(uptr(c) + PAGE_SIZE + 8), want);
  EXPECT_EQ(describe(uptr(b)), "vmalloc range outside any area");
  EXPECT_EQ(describe(uptr(b) + PAGE_SIZE), "vmalloc range outside any area");
  EXPECT_EQ(describe(f.vs->space.end - 1), "vmalloc range outside any area");
  {
    spin_lock_irqsave_guard g(f.vs->lock);
    EXPECT_EQ(describe(uptr(a)), "vmalloc range (areas locked: not looked up)");
  }
  EXPECT_EQ(f.vs->errors, 0ul);
  vfree(*f.vs, a);
  vfree(*f.vs, c);
  EXPECT_EQ(describe(uptr(a)), "vmalloc range outside any area");
  EXPECT_EQ(f.check(), "");
}

// ================================================================== threads

// Two CPUs (threads, on two nodes) allocate and free at once: vmalloc,
// vzalloc and vmap of their own pages, each area filled with a pattern from
// its address and checked through the table before vfree/vunmap; meanwhile
// the main thread keeps reading /proc/vmallocinfo and describing addresses. No allocation fails,
// no content is lost, every vmallocinfo line is well formed, and at the end
// the checkers are clean and everything is given back.
TEST(VmallocThreads, ConcurrentCpus) {
  cpu_reset reset;
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::two_nodes), 0);
  mem_system &ms = *f.slab.mm.ms;
  warm_up(f);
  const rest_state initial = at_rest(f);
  // Two workers, CPUs 1 (node 0) and 2 (node 1): the host's spinlocks only
  // spin, so more threads than host cores would mostly wait for preempted
  // lock holders.
  const unsigned workers = 2;
  std::atomic<int> failed{0}, corrupted{0}, bad_lines{0}, running{int(workers)};
  std::atomic<long> areas{0}, reports{0};
  auto fill_for = [](uintptr_t a) { return u8(a >> 12) | 1; };
  auto worker = [&](unsigned cpu) {
    host_set_cpu(cpu);
    std::mt19937 rng(cpu * 7919 + 17);
    struct held {
      uintptr_t addr;
      unsigned nr_pages;
      std::vector<page *> frames;  // vmap
    };
    std::vector<held> mine;
    for (int i = 0; i < 400; i++) {
      // Halfway, wait for a report: on a loaded machine the reader thread
      // might otherwise not run until both workers are done, and the
      // reports would never see the areas change under them.
      if (i == 200)
        while (reports.load() == 0) std::this_thread::yield();
      unsigned r = rng() % 100;
      if (mine.empty() || (r < 55 && mine.size() < 24)) {
        unsigned n = 1 + rng() % 12;
        held h{0, n, {}};
        if (r % 4 == 3) {
          for (unsigned k = 0; k < n; k++) h.frames.push_back(alloc_pages(ms, GFP_KERNEL, 0));
          if (std::count(h.frames.begin(), h.frames.end(), nullptr)) {
            failed++;
            break;
          }
          h.addr = uptr(vmap(*f.vs, h.frames.data(), n, VM_MAP, PROT_READ | PROT_WRITE));
        } else {
          h.addr = uptr(r % 2 ? vzalloc(*f.vs, n * PAGE_SIZE - rng() % PAGE_SIZE)
                              : vmalloc(*f.vs, n * PAGE_SIZE));
        }
        if (!h.addr) {
          failed++;
          break;
        }
        if (!write_pattern(f, h.addr, n, fill_for(h.addr))) corrupted++;
        mine.push_back(std::move(h));
        areas++;
      } else {
        size_t at = rng() % mine.size();
        held h = std::move(mine[at]);
        mine.erase(mine.begin() + long(at));
        if (!pattern_holds(f, h.addr, h.nr_pages, fill_for(h.addr), true)) corrupted++;
        if (h.frames.empty()) {
          vfree(*f.vs, vptr(h.addr));
        } else {
          vunmap(*f.vs, vptr(h.addr));
          for (page *p : h.frames) __free_pages(ms, p, 0);
        }
      }
    }
    for (held &h : mine) {
      if (!pattern_holds(f, h.addr, h.nr_pages, fill_for(h.addr), true)) corrupted++;
      if (h.frames.empty()) {
        vfree(*f.vs, vptr(h.addr));
      } else {
        vunmap(*f.vs, vptr(h.addr));
        for (page *p : h.frames) __free_pages(ms, p, 0);
      }
    }
    running--;
  };
  std::vector<std::thread> threads;
  for (unsigned c = 1; c <= workers; c++) threads.emplace_back(worker, c);
  char buf[160];
  while (running > 0) {
    std::istringstream in(vmallocinfo(*f.vs));
    for (std::string line; std::getline(in, line);) {
      unsigned long start = 0, end = 0, size = 0;
      if (sscanf(line.c_str(), "0x%lx-0x%lx %lu", &start, &end, &size) != 3 ||
          end - start != size || !is_vmalloc_addr(*f.vs, vptr(start)) ||
          (line.find(" vmalloc") == std::string::npos && line.find(" vmap") == std::string::npos &&
           line.find(" unpurged vm_area") == std::string::npos))
        bad_lines++;
    }
    vmalloc_describe(*f.vs, vptr(f.vs->space.start + (reports % 64) * PAGE_SIZE), buf, sizeof(buf));
    reports++;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (std::thread &t : threads) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(corrupted, 0);
  EXPECT_EQ(bad_lines, 0);
  EXPECT_GT(areas, 200);
  EXPECT_GT(reports, 0);
  EXPECT_EQ(f.vs->errors, 0ul);
  EXPECT_EQ(f.vs->space.nr_busy, 0ul);
  EXPECT_EQ(vmalloc_used_pages(*f.vs), 0ul);
  host_set_cpu(0);
  EXPECT_EQ(at_rest(f), initial);
  EXPECT_EQ(f.check(), "");
}

// ==================================================================== smoke

// vmalloc of a few sizes maps distinct frames in order; content written
// through the table reads back; vfree gives everything back.
TEST(VmallocSmoke, AllocWriteFree) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  unsigned long free_before = nr_free_pages(*f.slab.mm.ms) + nr_free_pcp_pages(*f.slab.mm.ms);
  std::vector<std::pair<uintptr_t, size_t>> held;
  for (size_t size : {1ul, 4096ul, 4097ul, 65536ul, 1ul << 20}) {
    void *p = vmalloc(*f.vs, size);
    ASSERT_NE(p, nullptr) << size;
    std::vector<u8> pattern(size, u8(size * 7));
    ASSERT_TRUE(f.vwrite(uintptr_t(p), pattern.data(), size));
    held.push_back({uintptr_t(p), size});
  }
  EXPECT_EQ(f.check(), "");
  for (auto [a, size] : held) {
    std::vector<u8> back(size);
    ASSERT_TRUE(f.vread(a, back.data(), size));
    for (u8 b : back) ASSERT_EQ(b, u8(size * 7));
    vfree(*f.vs, reinterpret_cast<void *>(a));
  }
  vm_unmap_aliases(*f.vs);
  for (auto [a, size] : held) EXPECT_EQ(f.translate(a), nullptr);
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(f.vs->vmalloc_pages, 0ul);
  for (int k = 0; k < NR_KMALLOC_TYPES; k++)
    for (kmem_cache *c : f.slab.sa->kmalloc_caches[k])
      if (c) kmem_cache_shrink(c);
  drain_all_pages(*f.slab.mm.ms);
  EXPECT_EQ(nr_free_pages(*f.slab.mm.ms) + nr_free_pcp_pages(*f.slab.mm.ms), free_before)
      << "every page comes back: emptied tables are freed, and the space keeps its first node, so no slab "
         "holds a vmap_area";
}

// ============================================================ edges

std::string hex_of(unsigned long v) {
  char buf[24];
  snprintf(buf, sizeof(buf), "0x%lx", v);
  return buf;
}

// vmalloc_init leaves its three locks free whatever the memory held: over
// bytes that make each ticket lock look held (its next ticket is not the
// one being served), every lock can still be taken at once, and the system
// then serves as usual.
TEST(VmallocBadInput, InitLeavesEveryLockFree) {
  vmalloc_fixture f;
  auto *bytes = reinterpret_cast<unsigned char *>(f.vs.get());
  for (size_t i = 0; i < sizeof(vmalloc_system); i++) bytes[i] = u8(i * 37 + 11);
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  bool all_free = true;
  for (spinlock_t *l : {&f.vs->lock, &f.vs->pt_lock, &f.vs->vmap_purge_lock}) {
    const bool taken = spin_trylock(l);
    EXPECT_TRUE(taken) << "lock at offset " << (reinterpret_cast<char *>(l) - reinterpret_cast<char *>(f.vs.get()));
    if (taken) spin_unlock(l);
    all_free &= taken;
  }
  ASSERT_TRUE(all_free) << "a held lock would hang the rest";
  void *p = vmalloc(*f.vs, 3 * PAGE_SIZE);
  ASSERT_NE(p, nullptr);
  vfree(*f.vs, p);
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(f.check(), "");
}

// vmap of an array whose first entry is NULL is refused like one with a
// NULL entry further on (Linux's vmap_pages_range would fault on it).
TEST(VmapBadInput, FirstPageNull) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.slab.mm.ms;
  warm_up(f);
  page *pages[2] = {nullptr, alloc_pages(ms, GFP_KERNEL, 0)};
  const page_state before = snapshot(ms);
  log_buf_clear();
  EXPECT_EQ(vmap(*f.vs, pages, 2, VM_MAP, PROT_READ), nullptr);
  EXPECT_NE(read_log().find("vmap: page 0 is NULL\n"), std::string::npos) << read_log();
  EXPECT_EQ(snapshot(ms), before);
  EXPECT_EQ(f.vs->space.nr_busy, 0ul);
  EXPECT_EQ(f.check(), "");
  __free_pages(ms, pages[1], 0);
}

// vmap maps the caller's frames: whatever flags the caller passes, its area
// is neither VM_ALLOC nor VM_MOVABLE (compaction must not move frames vmalloc
// does not own), and its vunmap leaves the frames to the caller.
TEST(VmapBadInput, CallersFramesAreNeverMovable) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.slab.mm.ms;
  warm_up(f);
  page *pages[2] = {alloc_pages(ms, GFP_KERNEL, 0), alloc_pages(ms, GFP_KERNEL, 0)};
  ASSERT_NE(pages[0], nullptr);
  ASSERT_NE(pages[1], nullptr);
  void *v = vmap(*f.vs, pages, 2, VM_MAP | VM_ALLOC | VM_MOVABLE, PROT_READ | PROT_WRITE);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(f.vs->movable_pages, 0ul);
  EXPECT_EQ(f.check(), "");
  vunmap(*f.vs, v);
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(page_ref_count(pages[0]), 1);
  __free_pages(ms, pages[0], 0);
  __free_pages(ms, pages[1], 0);
  EXPECT_EQ(f.check(), "");
}

// A vmap that finds no room even after purging fails with Linux's warning
// and takes nothing: a range filled by one vmalloc.
TEST(VmapBadInput, NoRoomWarnsOutOfMemory) {
  vmalloc_fixture f;
  ASSERT_NO_FATAL_FAILURE(build_range(f, 8 * PAGE_SIZE));
  mem_system &ms = *f.slab.mm.ms;
  void *full = vmalloc(*f.vs, 7 * PAGE_SIZE);
  ASSERT_NE(full, nullptr);
  page *frame = alloc_pages(ms, GFP_KERNEL, 0);
  const page_state before = snapshot(ms);
  log_buf_clear();
  EXPECT_EQ(vmap(*f.vs, &frame, 1, VM_MAP, PROT_READ), nullptr);
  EXPECT_EQ(read_log(), "vmap: out of memory for 1 pages\n");
  EXPECT_EQ(snapshot(ms), before);
  EXPECT_EQ(page_ref_count(frame), 1);
  EXPECT_EQ(f.check(), "");
  vfree(*f.vs, full);
  __free_pages(ms, frame, 0);
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(f.check(), "");
}

// Lookups answer for the vmalloc range only: the kernel's table maps other
// things too (the direct map), and an address outside the range is no
// vmalloc page even where the table maps it (vmalloc_to_page NULL,
// vmalloc_to_pfn 0); inside the range an unmapped page (a guard page, a
// free part) gives NULL and pfn 0 as well.
TEST(VmallocLookups, OnlyMappedPagesOfTheRange) {
  vmalloc_fixture f;
  const uintptr_t start = VMALLOC_START_ADDR + SZ_16M, end = start + SZ_16M;
  ASSERT_EQ(f.build(layout_kind::single_zone, start, end), 0);
  vmalloc_system &vs = *f.vs;
  mem_system &ms = *f.slab.mm.ms;
  void *v = vmalloc(vs, PAGE_SIZE);
  ASSERT_NE(v, nullptr);
  page *frame = alloc_pages(ms, GFP_KERNEL, 0);
  for (uintptr_t outside : {end, start - PAGE_SIZE}) {
    SCOPED_TRACE(testing::Message() << std::hex << outside);
    ASSERT_EQ(pgtable_map(&f.pt, outside, page_to_phys(ms, frame), PAGE_SIZE, PROT_READ | PROT_WRITE, 0, vs.pt_ops), 0);
    ASSERT_TRUE(pgtable_walk(f.pt, outside, nullptr));
    EXPECT_EQ(vmalloc_to_page(vs, vptr(outside)), nullptr);
    EXPECT_EQ(vmalloc_to_pfn(vs, vptr(outside)), 0ul);
    ASSERT_EQ(pgtable_unmap(&f.pt, outside, PAGE_SIZE, vs.pt_ops), 0);
  }
  EXPECT_NE(vmalloc_to_pfn(vs, v), 0ul);
  EXPECT_EQ(vmalloc_to_page(vs, vptr(uptr(v) + PAGE_SIZE)), nullptr);
  EXPECT_EQ(vmalloc_to_pfn(vs, vptr(uptr(v) + PAGE_SIZE)), 0ul) << "the guard page";
  EXPECT_EQ(vmalloc_to_pfn(vs, vptr(end - PAGE_SIZE)), 0ul) << "a free part of the range";
  __free_pages(ms, frame, 0);
  vfree(vs, v);
  vm_unmap_aliases(vs);
  EXPECT_EQ(f.check(), "");
}

// Without a symbolizer a caller is named by its address, as %p prints it:
// in fault descriptions and in a bad vfree's report.
TEST(VmallocDescribe, CallerAsAnAddressWithoutSymbolizer) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  ASSERT_EQ(f.vs->symbolize, nullptr);
  const void *caller = reinterpret_cast<const void *>(0x5eed1230ul);
  void *v = __vmalloc_node(*f.vs, 2 * PAGE_SIZE, PAGE_SIZE, GFP_KERNEL, NUMA_NO_NODE, caller);
  ASSERT_NE(v, nullptr);
  char buf[160];
  EXPECT_EQ(std::string(vmalloc_describe(*f.vs, vptr(uptr(v) + PAGE_SIZE), buf, sizeof(buf))),
            "vmalloc area " + hex_of(uptr(v)) + " of " + addr_str(caller));
  EXPECT_EQ(std::string(vmalloc_describe(*f.vs, vptr(uptr(v) + 2 * PAGE_SIZE), buf, sizeof(buf))),
            "vmalloc guard page of area " + hex_of(uptr(v)) + " " + addr_str(caller));
  vfree(*f.vs, v);
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(f.check(), "");
}

// A bad vfree's report names its caller through the symbolizer (the
// kernel's kallsyms lookup), which is given the return address of the
// vfree call.
const void *symbolized_addr;
void name_everything(const void *addr, char *buf, size_t size) {
  symbolized_addr = addr;
  snprintf(buf, size, "the_named_caller+0x10/0x40");
}
__attribute__((noinline)) void bad_vfree_site(vmalloc_system &vs, const void *addr) {
  vfree(vs, addr);
  asm volatile("" ::: "memory");
}
TEST(VmallocBadInput, BadFreeNamesTheCaller) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  warm_up(f);
  f.vs->symbolize = name_everything;
  void *v = vmalloc(*f.vs, 2 * PAGE_SIZE);
  ASSERT_NE(v, nullptr);
  symbolized_addr = nullptr;
  log_buf_clear();
  bad_vfree_site(*f.vs, vptr(uptr(v) + PAGE_SIZE));
  const std::string log = read_log();
  EXPECT_NE(log.find("not the start of its area, called from the_named_caller+0x10/0x40\n"), std::string::npos)
      << log;
  EXPECT_GT(uptr(symbolized_addr), uptr(reinterpret_cast<const void *>(&bad_vfree_site)));
  EXPECT_LT(uptr(symbolized_addr), uptr(reinterpret_cast<const void *>(&bad_vfree_site)) + 512);
  EXPECT_EQ(f.vs->errors, 1ul);
  vfree(*f.vs, v);
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(f.check(), "");
}

// __purge_vmap_area_lazy (vmap_purge_lock held) says whether it found
// ranges to purge; the form of vm_unmap_aliases without a vmalloc_system
// purges the kernel's (system_vmalloc).
TEST(VmallocLazyPurge, PurgeSaysWhetherItPurgedAndTheKernelsForm) {
  vmalloc_fixture f;
  ASSERT_NO_FATAL_FAILURE(build_range(f, 64 * PAGE_SIZE));
  ASSERT_EQ(f.vs->vmap_lazy_nr, 0ul);
  {
    spin_lock_guard g(f.vs->vmap_purge_lock);
    EXPECT_FALSE(__purge_vmap_area_lazy(*f.vs));
  }
  vfree(*f.vs, vmalloc(*f.vs, PAGE_SIZE));
  ASSERT_EQ(f.vs->vmap_lazy_nr, 2ul);
  {
    spin_lock_guard g(f.vs->vmap_purge_lock);
    EXPECT_TRUE(__purge_vmap_area_lazy(*f.vs));
  }
  EXPECT_EQ(f.vs->vmap_lazy_nr, 0ul);
  vfree(*f.vs, vmalloc(*f.vs, 3 * PAGE_SIZE));
  ASSERT_EQ(f.vs->vmap_lazy_nr, 4ul);
  ASSERT_EQ(system_vmalloc, f.vs.get());
  vm_unmap_aliases();
  EXPECT_EQ(f.vs->vmap_lazy_nr, 0ul);
  EXPECT_EQ(f.vs->space.nr_lazy + f.vs->space.nr_purging, 0ul);
  EXPECT_EQ(f.check(), "");
}

// A vmalloc whose first frame cannot be had has mapped nothing: its range
// goes straight back to the free tree (no TLB entry can exist for it), not
// onto the lazy list to wait for a flush.
TEST(VmallocFaultInjection, NoFrameMappedNoLazyRange) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.slab.mm.ms;
  warm_up(f);
  // Metadata first, so that the request below needs pages for frames only.
  void *warm = vmalloc(*f.vs, PAGE_SIZE);
  ASSERT_NE(warm, nullptr);
  ASSERT_EQ(f.vs->space.nr_lazy, 0ul);
  drain_all_pages(ms);
  ms.pcp_disabled = true;  // every frame then comes through the failure hook
  fail_plan plan;
  plan.use_subset = true;
  plan.subset.assign(1000, true);
  ms.should_fail_alloc_page = plan_says_fail;
  ms.fail_alloc_ctx = &plan;
  plan.armed = true;
  void *p = vmalloc(*f.vs, 4 * PAGE_SIZE);
  plan.armed = false;
  ms.should_fail_alloc_page = nullptr;
  ms.pcp_disabled = false;
  EXPECT_EQ(p, nullptr);
  EXPECT_GE(plan.failed, 1u);
  EXPECT_EQ(f.vs->space.nr_lazy, 0ul);
  EXPECT_EQ(f.vs->vmap_lazy_nr, 0ul);
  EXPECT_EQ(f.lazy_ranges().size(), 0u);
  EXPECT_EQ(f.check(), "");
  vfree(*f.vs, warm);
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(f.check(), "");
}

// Each page allocation a vmap makes can fail on its own: its range here
// starts one page below a 2 MiB boundary, so its three pages need two
// level-0 tables, the second after the first page is mapped. Failing
// exactly the k-th returns NULL with the out-of-memory warning and leaves
// nothing mapped and nothing held; the caller's pages stay its own.
TEST(VmallocFaultInjection, EveryAllocationOfOneVmap) {
  vmalloc_fixture f;
  const uintptr_t start = VMALLOC_START_ADDR + SZ_2M - PAGE_SIZE;
  ASSERT_EQ(f.build(layout_kind::single_zone, start, start + SZ_16M), 0);
  mem_system &ms = *f.slab.mm.ms;
  warm_up(f);
  page *frames[3];
  for (page *&p : frames) p = alloc_pages(ms, GFP_KERNEL, 0);
  drain_all_pages(ms);
  ms.pcp_disabled = true;
  fail_plan plan;
  ms.should_fail_alloc_page = plan_says_fail;
  ms.fail_alloc_ctx = &plan;
  const rest_state initial = at_rest(f);
  plan.nth = ~0u;
  plan.armed = true;
  void *v = vmap(*f.vs, frames, 3, VM_MAP, PROT_READ | PROT_WRITE);
  plan.armed = false;
  ASSERT_EQ(uptr(v), start);
  const unsigned calls = plan.calls;
  EXPECT_GE(calls, 3u) << "a level-1 table and two level-0 tables";
  vunmap(*f.vs, v);
  ASSERT_EQ(at_rest(f), initial);
  for (unsigned k = 0; k < calls; k++) {
    SCOPED_TRACE(testing::Message() << "failing allocation " << k << " of " << calls);
    const held_state before = held_now(f);
    plan = fail_plan{};
    plan.nth = k;
    log_buf_clear();
    plan.armed = true;
    v = vmap(*f.vs, frames, 3, VM_MAP, PROT_READ | PROT_WRITE);
    plan.armed = false;
    EXPECT_EQ(plan.failed, 1u);
    EXPECT_EQ(v, nullptr);
    EXPECT_NE(read_log().find("vmap: out of memory for 3 pages"), std::string::npos) << read_log();
    for (uintptr_t a = start; a < start + 4 * PAGE_SIZE; a += PAGE_SIZE)
      EXPECT_FALSE(pgtable_walk(f.pt, a, nullptr)) << std::hex << a;
    EXPECT_EQ(held_now(f), before);
    EXPECT_EQ(f.check(), "");
    if (v) vunmap(*f.vs, v);
  }
  ms.should_fail_alloc_page = nullptr;
  ms.pcp_disabled = false;
  for (page *p : frames) {
    EXPECT_EQ(page_ref_count(p), 1);
    __free_pages(ms, p, 0);
  }
  vm_unmap_aliases(*f.vs);
  EXPECT_EQ(f.check(), "");
}

// The same for a movable vmalloc: a frame whose mapping failed (its table
// page could not be had) stops being movable before it goes back, so the
// page allocator takes it (no bad-page report) and nothing is left behind.
TEST(VmallocFaultInjection, EveryAllocationOfOneMovableVmalloc) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.slab.mm.ms;
  warm_up(f);
  drain_all_pages(ms);
  ms.pcp_disabled = true;
  fail_plan plan;
  ms.should_fail_alloc_page = plan_says_fail;
  ms.fail_alloc_ctx = &plan;
  const rest_state initial = at_rest(f);
  plan.nth = ~0u;
  plan.armed = true;
  void *p = vmalloc_movable(*f.vs, 20 * PAGE_SIZE);
  plan.armed = false;
  ASSERT_NE(p, nullptr);
  const unsigned calls = plan.calls;
  EXPECT_GE(calls, 20u + 2u) << "20 frames and at least two table pages";
  vfree(*f.vs, p);
  ASSERT_EQ(at_rest(f), initial);
  for (unsigned k = 0; k < calls; k++) {
    SCOPED_TRACE(testing::Message() << "failing allocation " << k << " of " << calls);
    const held_state before = held_now(f);
    plan = fail_plan{};
    plan.nth = k;
    plan.armed = true;
    p = vmalloc_movable(*f.vs, 20 * PAGE_SIZE);
    plan.armed = false;
    EXPECT_EQ(plan.failed, 1u);
    EXPECT_EQ(p, nullptr);
    EXPECT_EQ(ms.bad_pages, 0ul);
    EXPECT_EQ(held_now(f), before);
    EXPECT_EQ(f.vs->movable_pages, 0ul);
    EXPECT_EQ(f.check(), "");
    vfree(*f.vs, p);
  }
  ms.should_fail_alloc_page = nullptr;
  ms.pcp_disabled = false;
  EXPECT_EQ(at_rest(f), initial);
}

// mm.check=1 checks each new area and each freed range as the call returns
// and reports what it finds; with it off neither check runs. What they
// find here: a frame someone else mapped in an area's guard page, which is
// the page below the next area's start, and stays mapped in the range when
// the area is freed.
TEST(VmallocCheckCalls, NewAreaAndFreedRangeCheckedOnlyWhenAsked) {
  for (bool on : {false, true}) {
    SCOPED_TRACE(on ? "mm.check=1" : "mm.check=0");
    vmalloc_fixture f;
    ASSERT_EQ(f.build(layout_kind::single_zone), 0);
    mem_system &ms = *f.slab.mm.ms;
    vmalloc_system &vs = *f.vs;
    warm_up(f);
    ms.check_calls = on;
    void *a = vmalloc(vs, PAGE_SIZE);
    ASSERT_NE(a, nullptr);
    const uintptr_t guard = uptr(a) + PAGE_SIZE;
    page *stray = alloc_pages(ms, GFP_KERNEL, 0);
    {
      spin_lock_guard g(vs.pt_lock);
      ASSERT_EQ(pgtable_map(&f.pt, guard, page_to_phys(ms, stray), PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_GLOBAL, 0,
                            vs.pt_ops),
                0);
    }
    const unsigned long before = ms.check_violations;
    log_buf_clear();
    void *b = vmalloc(vs, PAGE_SIZE);
    ASSERT_EQ(uptr(b), guard + PAGE_SIZE);
    EXPECT_EQ(ms.check_violations, before + (on ? 1 : 0));
    EXPECT_EQ(read_log().find("the page below area " + hex_of(uptr(b)) + " is mapped") != std::string::npos, on)
        << read_log();
    log_buf_clear();
    vfree(vs, a);
    EXPECT_EQ(ms.check_violations, before + (on ? 2 : 0));
    EXPECT_EQ(read_log().find("of the freed area " + hex_of(uptr(a)) + "-") != std::string::npos, on) << read_log();
    {
      spin_lock_guard g(vs.pt_lock);
      ASSERT_EQ(pgtable_unmap(&f.pt, guard, PAGE_SIZE, vs.pt_ops), 0);
    }
    __free_pages(ms, stray, 0);
    vfree(vs, b);
    vm_unmap_aliases(vs);
    EXPECT_EQ(ms.check_violations, before + (on ? 2 : 0)) << "a clean vfree is not reported";
    ms.check_calls = false;
    EXPECT_EQ(f.check(), "");
  }
}

// A page of a movable area whose migration is under way holds a migration
// entry (as vmalloc_migrate_page writes it) until the move ends:
// vmalloc_to_page waits for it and gives the frame the page is then mapped
// to; a vfree of the area waits for it too, and meanwhile the area, taken
// from lookups, is described as being freed. The test plays the migrator:
// the entry, then the leaf back.
TEST(VmallocMigrationInFlight, LookupsAndVfreeWaitForTheMove) {
  cpu_reset reset;
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  vmalloc_system &vs = *f.vs;
  mem_system &ms = *f.slab.mm.ms;
  warm_up(f);
  const void *caller = reinterpret_cast<const void *>(0xca11e5ul);
  void *other = __vmalloc_node(vs, PAGE_SIZE, PAGE_SIZE, GFP_KERNEL, NUMA_NO_NODE, caller);
  void *v = vmalloc_movable(vs, 2 * PAGE_SIZE);
  ASSERT_TRUE(other && v);
  const uintptr_t a = uptr(v) + PAGE_SIZE;
  pte_t *slot = pgtable_leaf_slot(f.pt, a);
  ASSERT_NE(slot, nullptr);
  const pte_t leaf = *slot;
  page *frame = vmalloc_to_page(vs, vptr(a));
  ASSERT_NE(frame, nullptr);
  auto begin_move = [&] {
    spin_lock_guard g(vs.pt_lock);
    __atomic_store_n(slot, make_migration_entry(page_to_phys(ms, frame), 1), __ATOMIC_RELEASE);
  };
  auto end_move = [&] {
    spin_lock_guard g(vs.pt_lock);
    __atomic_store_n(slot, leaf, __ATOMIC_RELEASE);
  };
  begin_move();
  std::thread mover([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    end_move();
  });
  EXPECT_EQ(vmalloc_to_page(vs, vptr(a)), frame) << "the lookup did not wait for the move";
  mover.join();

  begin_move();
  std::atomic<bool> freed{false};
  std::thread freer([&] {
    host_set_cpu(1);
    vfree(vs, v);
    freed = true;
  });
  // Wait until the vfree has taken the area from lookups (it then waits for the move).
  bool detached = false;
  for (int i = 0; i < 5000 && !detached; i++) {
    {
      spin_lock_irqsave_guard g(vs.lock);
      vmap_area *va = vmap_find_busy_at(&vs.space, uptr(v));
      detached = va && !va->vm;
    }
    if (!detached) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(detached);
  EXPECT_FALSE(freed) << "vfree did not wait for the move";
  char buf[160];
  EXPECT_EQ(std::string(vmalloc_describe(vs, other, buf, sizeof(buf))),
            "vmalloc area " + hex_of(uptr(other)) + " of " + addr_str(caller));
  EXPECT_EQ(std::string(vmalloc_describe(vs, vptr(a), buf, sizeof(buf))),
            "vmalloc area " + hex_of(uptr(v)) + " of (being freed)");
  end_move();
  freer.join();
  EXPECT_TRUE(freed);
  EXPECT_FALSE(pgtable_walk(f.pt, a, nullptr));
  vfree(vs, other);
  vm_unmap_aliases(vs);
  EXPECT_EQ(f.vs->errors, 0ul);
  EXPECT_EQ(f.check(), "");
}

// vfree of a movable area some of whose frames a compactor has isolated:
// the others go back at once; each isolated one is left to its isolator
// (one reference, no longer movable, still isolated, with nothing of
// vfree's left in it: private_ as it was), and the isolator's putback frees it.
TEST(VmallocMovable, VfreeLeavesIsolatedFramesToTheIsolator) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  vmalloc_system &vs = *f.vs;
  mem_system &ms = *f.slab.mm.ms;
  warm_up(f);
  const rest_state initial = at_rest(f);
  void *v = vmalloc_movable(vs, 5 * PAGE_SIZE);
  ASSERT_NE(v, nullptr);
  page *fr[5];
  unsigned long priv[5];
  for (unsigned i = 0; i < 5; i++) {
    fr[i] = vmalloc_to_page(vs, vptr(uptr(v) + i * PAGE_SIZE));
    ASSERT_NE(fr[i], nullptr);
  }
  const unsigned isolated[] = {1, 2, 4};
  for (unsigned i : isolated) ASSERT_TRUE(vs.mops.isolate_page(fr[i], MIGRATE_SYNC)) << i;
  for (unsigned i = 0; i < 5; i++) priv[i] = fr[i]->private_;
  vfree(vs, v);
  for (unsigned i : {0u, 3u}) EXPECT_EQ(page_ref_count(fr[i]), 0) << i;
  list_head l;
  INIT_LIST_HEAD(&l);
  for (unsigned i : isolated) {
    SCOPED_TRACE(i);
    EXPECT_EQ(page_ref_count(fr[i]), 1);
    EXPECT_TRUE(PageIsolated(fr[i]));
    EXPECT_FALSE(PageMovable(fr[i]));
    EXPECT_EQ(fr[i]->private_, priv[i]);
    list_add_tail(&fr[i]->lru, &l);
  }
  putback_movable_pages(ms, &l);
  for (unsigned i : isolated) EXPECT_EQ(page_ref_count(fr[i]), 0) << i;
  EXPECT_EQ(ms.bad_pages, 0ul);
  EXPECT_EQ(at_rest(f), initial);
  EXPECT_EQ(f.check(), "");
}

}  // namespace

// A model of the whole of mm at once: page allocations, kmalloc (small and
// large), objects of kmem_caches and vmalloc areas interleaved on a machine
// small enough (4 MiB per zone) that the interesting paths are the common
// ones: zones below their watermarks, kswapd woken, direct reclaim through
// the slab shrinker, fallback from Normal to DMA32 (with a lowmem_reserve
// large enough to matter) and to the other node, and allocations that fail.
//
// The model is the set of handles the commands made and their kinds; the
// rules are checked against the machine after every command: the checkers
// clean, every zone above the lowest watermark any request may reach,
// successful allocations in the zones and nodes their gfp allows and leaving
// their zone above what their reserves allow, failed page allocations
// justified by every allowed zone's watermark, every allocation's bytes
// intact and no two allocations sharing a byte of memory; at the end,
// everything freed, drained and shrunk, every zone has its initial number
// of free pages again.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "mm/slab_internal.h"
#include "mm/vmscan.h"
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

// ------------------------------------------------------------ the machine

// DMA32 and Normal, 4 MiB each, across 4 GiB on node 0; with two_nodes a
// node 1 of 4 MiB Normal and two CPUs more.
enum class mixed_layout { one_node, two_nodes };

const char *mixed_layout_name(mixed_layout k) { return k == mixed_layout::one_node ? "one_node" : "two_nodes"; }

// Linux's ratio (256) keeps 4 pages of DMA32 from Normal requests here: a
// window no sequence would find. 8 keeps an eighth of Normal's size, so the
// reserve decides where many requests go.
constexpr int DMA32_RESERVE_RATIO = 8;

// The test's own caches: plain small objects, a reclaimable cache of
// cache-aligned ones, and a DMA32 cache of objects several to a page.
struct cache_spec {
  const char *name;
  unsigned size;
  slab_flags_t flags;
};
constexpr cache_spec test_caches[] = {{"mixed-48", 48, 0},
                                      {"mixed-600", 600, SLAB_HWCACHE_ALIGN | SLAB_RECLAIM_ACCOUNT},
                                      {"mixed-dma32-2000", 2000, SLAB_CACHE_DMA32}};
constexpr unsigned NR_TEST_CACHES = sizeof(test_caches) / sizeof(test_caches[0]);

struct mixed_fixture {
  vmalloc_fixture v;

  mem_system &ms() const { return *v.slab.mm.ms; }

  // The vmalloc fixture's build on this file's layouts, with the DMA32
  // reserve ratio set before anything is allocated (as a boot-time sysctl).
  int build(mixed_layout k) {
    constexpr u64 MiB4 = 4 * SZ_1M;
    std::vector<ram_range> ram{{SZ_4G - MiB4, 2 * MiB4, 0}};
    mem_layout l = layout_with_limits(0, PFN_4G, PFN_MAX, 2);
    if (k == mixed_layout::two_nodes) {
      ram.push_back({SZ_4G + 2 * MiB4, MiB4, 1});
      l.nr_cpus = 4;
      l.cpu_to_node[0] = l.cpu_to_node[1] = 0;
      l.cpu_to_node[2] = l.cpu_to_node[3] = 1;
    }
    if (int err = v.slab.mm.build(ram, l)) return err;
    ms().lowmem_reserve_ratio[ZONE_DMA32] = DMA32_RESERVE_RATIO;
    init_per_zone_wmark_min(ms());
    if (int err = slab_allocator_init(v.slab.sa.get(), ms(), 0, 0x5eed)) return err;
    system_slab = v.slab.sa.get();
    if (int err = vmalloc_init(v.vs.get(), ms(), *v.slab.sa, &v.pt, VMALLOC_START_ADDR, VMALLOC_END_ADDR)) return err;
    if (int err = pgtable_init(&v.pt, v.vs->pt_ops)) return err;
    host_tlb_flush(0, 0);  // nothing cached from an earlier case's table (as vmalloc_fixture::build)
    system_vmalloc = v.vs.get();
    return 0;
  }
};

// ------------------------------------------------------------ the rules

std::vector<zone *> managed_zones(const mem_system &ms) {
  std::vector<zone *> out;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) if (managed_zone(z)) out.push_back(z);
  return out;
}

long free_and_pcp(const zone *z) { return zone_page_state_snapshot(z, NR_FREE_PAGES) + zone_page_state_snapshot(z, NR_PCP_PAGES); }

// The min watermark as a request's reserves lower it (__GFP_HIGH: half;
// and a quarter of the rest when it cannot reclaim).
long reduced_min(const zone *z, gfp_t gfp) {
  long min = long(min_wmark_pages(z));
  bool high = gfp & __GFP_HIGH;
  bool non_block = !(gfp & __GFP_DIRECT_RECLAIM) && !(gfp & __GFP_NOMEMALLOC);
  if (high) {
    min -= min / 2;
    if (non_block) min -= min / 4;
  }
  return min;
}

// The lowest a zone's free pages may go: what GFP_ATOMIC may reach. No
// request here has more reserves (no __GFP_MEMALLOC, no __GFP_NOFAIL).
long zone_floor(const zone *z) { return reduced_min(z, GFP_ATOMIC); }

// Whether a request could have been served by z: above its reduced min
// plus the reserve z keeps from the request's class, with a block of the
// order on the lists of an ordinary migrate type, or of the highatomic
// reserve for a high-order atomic request (the reserve counts as used
// unless the request has reserves of its own).
bool zone_could_serve(const zone *z, gfp_t gfp, unsigned order, int classzone) {
  bool non_block = !(gfp & __GFP_DIRECT_RECLAIM) && !(gfp & __GFP_NOMEMALLOC);
  bool reserves = (gfp & __GFP_HIGH) || non_block;
  bool highatomic = order > 0 && (gfp & __GFP_HIGH) && non_block;
  long free = zone_page_state(z, NR_FREE_PAGES) - ((1l << order) - 1);
  if (!reserves) free -= long(z->nr_reserved_highatomic);
  if (free <= reduced_min(z, gfp) + z->lowmem_reserve[classzone]) return false;
  if (order == 0) return true;
  for (unsigned o = order; o < NR_PAGE_ORDERS; o++) {
    for (int mt = 0; mt < MIGRATE_PCPTYPES; mt++)
      if (!list_empty(&z->free_area[o].free_list[mt])) return true;
    if (highatomic && !list_empty(&z->free_area[o].free_list[MIGRATE_HIGHATOMIC])) return true;
  }
  return false;
}

// The zones a page request may be served from, on any node unless
// __GFP_THISNODE holds it to the preferred one.
std::vector<zone *> allowed_zones(const mem_system &ms, gfp_t gfp, int preferred_nid) {
  std::vector<zone *> out;
  int classzone = gfp_zone(gfp);
  for (zone *z : managed_zones(ms))
    if (int(z->idx) <= classzone && (!(gfp & __GFP_THISNODE) || z->zone_pgdat->node_id == preferred_nid))
      out.push_back(z);
  return out;
}

zone *zone_of_addr(const mem_system &ms, const void *addr) { return page_zone(ms, virt_to_page(ms, addr)); }

// ------------------------------------------------------------ the model

enum class hkind { pages, kmalloc, cache, vmalloc };

struct mixed_model {
  mixed_layout layout;
  unsigned nr_cpus, nr_nodes;
  std::map<int, hkind> handles;  // made and not freed (some may have failed)
  int next_id = 0;

  bool fresh(int first, int n) const {
    for (int id = first; id < first + n; id++)
      if (handles.count(id)) return false;
    return true;
  }
  std::vector<int> ids() const {
    std::vector<int> out;
    for (auto &[id, k] : handles) out.push_back(id);
    return out;
  }
  void add(int first, int n, hkind k) {
    for (int id = first; id < first + n; id++) handles[id] = k;
    next_id = std::max(next_id, first + n);
  }
};

// An allocation the machine gave: where its bytes are (direct-map ranges,
// one per frame for vmalloc), and what they hold.
struct live_alloc {
  hkind kind;
  gfp_t gfp;
  uintptr_t addr;  // the direct-map address; for vmalloc the area's
  size_t bytes;    // pages: PAGE_SIZE << order
  unsigned order;
  int cache;
  std::vector<unsigned long> pfns;  // vmalloc: the frame behind each page
  u8 fill;
};

struct mixed_sut {
  mixed_fixture f;
  kmem_cache *caches[NR_TEST_CACHES] = {};
  std::map<int, live_alloc> live;
  std::map<uintptr_t, std::pair<uintptr_t, int>> ranges;  // direct-map start -> end, id
  int failures = 0, fallbacks = 0, reclaimed = 0;
};

// Byte j of page i of an allocation; objects hold their fill throughout.
u8 page_byte(u8 fill, size_t i) { return u8(fill + 31 * i); }
u8 fill_of(int id) {
  u8 v = u8(id * 53 + 7) | 1;
  while (v == POISON_FREE || v == POISON_END || v == SLUB_RED_INACTIVE || v == SLUB_RED_ACTIVE) v += 2;
  return v;
}

// The direct-map ranges an allocation owns.
std::vector<std::pair<uintptr_t, uintptr_t>> ranges_of(const live_alloc &a) {
  std::vector<std::pair<uintptr_t, uintptr_t>> out;
  if (a.kind == hkind::vmalloc) {
    for (unsigned long pfn : a.pfns) {
      uintptr_t v = uptr(phys_to_virt(PFN_PHYS(pfn)));
      out.push_back({v, v + PAGE_SIZE});
    }
  } else {
    out.push_back({a.addr, a.addr + a.bytes});
  }
  return out;
}

// The bytes of page i of an allocation, through the direct map.
u8 *page_of(const live_alloc &a, size_t i) {
  if (a.kind == hkind::vmalloc) return static_cast<u8 *>(phys_to_virt(PFN_PHYS(a.pfns[i])));
  return reinterpret_cast<u8 *>(a.addr) + i * PAGE_SIZE;
}

bool page_backed(const live_alloc &a) {
  return a.kind == hkind::pages || a.kind == hkind::vmalloc || (a.kind == hkind::kmalloc && a.bytes > KMALLOC_MAX_CACHE_SIZE);
}

void fill(const live_alloc &a) {
  if (!page_backed(a)) {
    memset(reinterpret_cast<void *>(a.addr), a.fill, a.bytes);
    return;
  }
  for (size_t i = 0; i * PAGE_SIZE < a.bytes; i++)
    memset(page_of(a, i), page_byte(a.fill, i), std::min<size_t>(PAGE_SIZE, a.bytes - i * PAGE_SIZE));
}

// Whether the allocation's bytes are what was written: all of them, or
// (for page-backed ones, after every step) both ends of every page.
bool intact(const live_alloc &a, bool full) {
  if (!page_backed(a)) return bytes_are(reinterpret_cast<void *>(a.addr), a.bytes, a.fill);
  for (size_t i = 0; i * PAGE_SIZE < a.bytes; i++) {
    size_t n = std::min<size_t>(PAGE_SIZE, a.bytes - i * PAGE_SIZE);
    const u8 *p = page_of(a, i);
    u8 want = page_byte(a.fill, i);
    if (full ? !bytes_are(p, n, want) : !bytes_are(p, std::min<size_t>(n, 16), want) || !bytes_are(p + n - std::min<size_t>(n, 16), std::min<size_t>(n, 16), want))
      return false;
  }
  return true;
}

// Takes an allocation into the model of memory: none of its bytes may
// belong to another live allocation.
void add_live(mixed_sut &s, int id, const live_alloc &a) {
  for (auto [start, end] : ranges_of(a)) {
    auto next = s.ranges.lower_bound(start);
    if (next != s.ranges.end() && next->first < end)
      RC_FAIL("allocation " + std::to_string(id) + " overlaps live allocation " + std::to_string(next->second.second));
    if (next != s.ranges.begin() && std::prev(next)->second.first > start)
      RC_FAIL("allocation " + std::to_string(id) + " overlaps live allocation " +
              std::to_string(std::prev(next)->second.second));
    s.ranges[start] = {end, id};
  }
  fill(a);
  s.live[id] = a;
}

live_alloc drop_live(mixed_sut &s, int id) {
  live_alloc a = s.live.at(id);
  RC_ASSERT(intact(a, true));
  for (auto [start, end] : ranges_of(a)) s.ranges.erase(start);
  s.live.erase(id);
  return a;
}

// What every command ends with: the three checkers clean; every zone
// between the floor no request may go below (less the drift the per-CPU
// counters allow the total the checks read) and its size; every live
// allocation intact, and every vmalloc area still on its frames.
void check_step(mixed_sut &s) {
  RC_ASSERT(s.f.v.check() == std::string());
  for (zone *z : managed_zones(s.f.ms())) {
    RC_ASSERT(free_and_pcp(z) + vmstat_drift(s.f.ms(), z) >= zone_floor(z));
    RC_ASSERT(free_and_pcp(z) <= long(z->managed_pages));
  }
  for (auto &[id, a] : s.live) {
    if (!intact(a, false)) RC_FAIL("the bytes of allocation " + std::to_string(id) + " changed");
    if (a.kind == hkind::vmalloc)
      for (size_t i = 0; i < a.pfns.size(); i++)
        RC_ASSERT(uptr(s.f.v.translate(a.addr + i * PAGE_SIZE)) == uptr(phys_to_virt(PFN_PHYS(a.pfns[i]))));
  }
}

using mixed_cmd = rc::state::Command<mixed_model, mixed_sut>;

// Page requests: mostly ordinary kernel ones, atomic ones that may dig into
// the reserves, ones that cannot reclaim, some held to DMA32 or to a node.
rc::Gen<gfp_t> gen_gfp(bool page_request) {
  return rc::gen::apply(
      [page_request](gfp_t base, gfp_t zone, bool thisnode, bool nowarn) {
        gfp_t g = base | zone | (nowarn ? __GFP_NOWARN : 0);
        if (page_request && thisnode) g |= __GFP_THISNODE;
        return g;
      },
      rc::gen::weightedElement<gfp_t>({{4, GFP_KERNEL},
                                       {2, GFP_ATOMIC},
                                       {2, GFP_NOWAIT},
                                       {1, GFP_KERNEL | __GFP_NORETRY},
                                       {page_request ? 1u : 0u, GFP_HIGHUSER_MOVABLE}}),
      rc::gen::weightedElement<gfp_t>({{6, 0}, {3, __GFP_DMA32}}),
      rc::gen::weightedElement<bool>({{7, false}, {1, true}}), rc::gen::arbitrary<bool>());
}

// Many at once, so that a few commands reach the watermarks.
rc::Gen<int> gen_count(int most) {
  return rc::gen::weightedOneOf<int>({{5, rc::gen::just(1)}, {3, uniform(2, 17)}, {1, uniform(17, most + 1)}});
}

unsigned cpu_of(const mixed_model &m) { return *uniform(0u, m.nr_cpus); }

// `count` page blocks of one request through alloc_pages_node.
struct Pages : mixed_cmd {
  int first_id, count;
  gfp_t gfp;
  unsigned order;
  int nid;
  unsigned cpu;

  explicit Pages(const mixed_model &m)
      : first_id(m.next_id),
        count(*gen_count(128)),
        gfp(*gen_gfp(true)),
        order(*rc::gen::weightedOneOf<unsigned>({{6, rc::gen::just(0u)},
                                                 {3, uniform(1u, PAGE_ALLOC_COSTLY_ORDER + 1)},
                                                 {2, uniform(PAGE_ALLOC_COSTLY_ORDER + 1, 8u)},
                                                 {1, uniform(8u, MAX_PAGE_ORDER + 1)}})),
        nid(*rc::gen::weightedOneOf<int>({{2, rc::gen::just(NUMA_NO_NODE)}, {3, uniform(0, int(m.nr_nodes))}})),
        cpu(cpu_of(m)) {}
  Pages(int first_id_, int count_, gfp_t gfp_, unsigned order_, int nid_, unsigned cpu_)
      : first_id(first_id_), count(count_), gfp(gfp_), order(order_), nid(nid_), cpu(cpu_) {}

  void checkPreconditions(const mixed_model &m) const override { RC_PRE(m.fresh(first_id, count)); }
  void apply(mixed_model &m) const override { m.add(first_id, count, hkind::pages); }

  void run(const mixed_model &, mixed_sut &s) const override {
    mem_system &ms = s.f.ms();
    host_set_cpu(cpu);
    int classzone = gfp_zone(gfp);
    int preferred = nid == NUMA_NO_NODE ? ms.cpu_to_node[cpu] : nid;
    for (int i = 0; i < count; i++) {
      page *p = alloc_pages_node(ms, nid, gfp, order);
      std::vector<zone *> allowed = allowed_zones(ms, gfp, preferred);
      if (!p) {
        // Only when no allowed zone could have served it.
        for (zone *z : allowed)
          if (zone_could_serve(z, gfp, order, classzone))
            RC_FAIL(std::string("failed although zone ") + z->name + " of node " +
                    std::to_string(z->zone_pgdat->node_id) + " could serve it");
        s.failures++;
        continue;
      }
      zone *z = page_zone(ms, p);
      // In a zone the gfp allows, on the node __GFP_THISNODE asks for, and
      // leaving it above what the request's reserves allow, counting the
      // reserve it keeps from requests of higher classes.
      RC_ASSERT(std::find(allowed.begin(), allowed.end(), z) != allowed.end());
      RC_ASSERT(int(z->idx) <= classzone);
      if (gfp & __GFP_THISNODE) RC_ASSERT(z->zone_pgdat->node_id == preferred);
      RC_ASSERT(free_and_pcp(z) + vmstat_drift(ms, z) >= reduced_min(z, gfp) + z->lowmem_reserve[classzone]);
      if (z != allowed.back()) s.fallbacks++;
      live_alloc a{hkind::pages, gfp, uptr(page_address(ms, p)), PAGE_SIZE << order, order, -1, {}, fill_of(first_id + i)};
      add_live(s, first_id + i, a);
    }
    check_step(s);
  }

  void show(std::ostream &os) const override {
    os << "Pages{/*first_id*/" << first_id << ", /*count*/" << count << ", " << modelcase::gfp_expr(gfp)
       << ", /*order*/" << order << ", /*nid*/" << modelcase::nid_expr(nid) << ", /*cpu*/" << cpu << "}";
  }
};

// `count` kmalloc objects of one size: a slab class, or pages beyond 8 KiB.
struct Kmalloc : mixed_cmd {
  int first_id, count;
  size_t size;
  gfp_t gfp;
  unsigned cpu;

  explicit Kmalloc(const mixed_model &m)
      : first_id(m.next_id),
        count(*gen_count(256)),
        size(*rc::gen::weightedOneOf<size_t>({{4, uniform<size_t>(1, 257)},
                                              {3, uniform<size_t>(257, KMALLOC_MAX_CACHE_SIZE + 1)},
                                              {2, uniform<size_t>(KMALLOC_MAX_CACHE_SIZE + 1, 128 * 1024)}})),
        gfp(*gen_gfp(false)),
        cpu(cpu_of(m)) {}
  Kmalloc(int first_id_, int count_, size_t size_, gfp_t gfp_, unsigned cpu_)
      : first_id(first_id_), count(count_), size(size_), gfp(gfp_), cpu(cpu_) {}

  void checkPreconditions(const mixed_model &m) const override { RC_PRE(m.fresh(first_id, count)); }
  void apply(mixed_model &m) const override { m.add(first_id, count, hkind::kmalloc); }

  void run(const mixed_model &, mixed_sut &s) const override {
    mem_system &ms = s.f.ms();
    host_set_cpu(cpu);
    for (int i = 0; i < count; i++) {
      void *p = kmalloc(*s.f.v.slab.sa, size, gfp);
      if (!p) {
        s.failures++;
        continue;
      }
      RC_ASSERT(!ZERO_OR_NULL_PTR(p));
      if (gfp & __GFP_DMA32) RC_ASSERT(int(zone_of_addr(ms, p)->idx) <= int(ZONE_DMA32));
      RC_ASSERT(ksize(*s.f.v.slab.sa, p) >= size);
      live_alloc a{hkind::kmalloc, gfp, uptr(p), size, 0, -1, {}, fill_of(first_id + i)};
      add_live(s, first_id + i, a);
    }
    check_step(s);
  }

  void show(std::ostream &os) const override {
    os << "Kmalloc{/*first_id*/" << first_id << ", /*count*/" << count << ", /*size*/" << size << ", "
       << modelcase::gfp_expr(gfp) << ", /*cpu*/" << cpu << "}";
  }
};

// `count` objects of one of the test's caches.
struct CacheAlloc : mixed_cmd {
  int first_id, count;
  unsigned cache;
  gfp_t gfp;
  unsigned cpu;

  explicit CacheAlloc(const mixed_model &m)
      : first_id(m.next_id),
        count(*gen_count(512)),
        cache(*uniform(0u, NR_TEST_CACHES)),
        gfp(*rc::gen::element(GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT, GFP_KERNEL | __GFP_NORETRY)),
        cpu(cpu_of(m)) {}
  CacheAlloc(int first_id_, int count_, unsigned cache_, gfp_t gfp_, unsigned cpu_)
      : first_id(first_id_), count(count_), cache(cache_), gfp(gfp_), cpu(cpu_) {}

  void checkPreconditions(const mixed_model &m) const override {
    RC_PRE(m.fresh(first_id, count));
    RC_PRE(cache < NR_TEST_CACHES);
  }
  void apply(mixed_model &m) const override { m.add(first_id, count, hkind::cache); }

  void run(const mixed_model &, mixed_sut &s) const override {
    mem_system &ms = s.f.ms();
    host_set_cpu(cpu);
    const cache_spec &spec = test_caches[cache];
    for (int i = 0; i < count; i++) {
      void *p = kmem_cache_alloc(s.caches[cache], gfp);
      if (!p) {
        s.failures++;
        continue;
      }
      if (spec.flags & SLAB_CACHE_DMA32) RC_ASSERT(int(zone_of_addr(ms, p)->idx) <= int(ZONE_DMA32));
      RC_ASSERT(uptr(compound_head(virt_to_page(ms, p))->slab_cache) == uptr(s.caches[cache]));
      live_alloc a{hkind::cache, gfp, uptr(p), spec.size, 0, int(cache), {}, fill_of(first_id + i)};
      add_live(s, first_id + i, a);
    }
    check_step(s);
  }

  void show(std::ostream &os) const override {
    os << "CacheAlloc{/*first_id*/" << first_id << ", /*count*/" << count << ", /*cache*/" << cache << ", "
       << modelcase::gfp_expr(gfp) << ", /*cpu*/" << cpu << "}";
  }
};

enum class vkind { vmalloc, vzalloc, vmalloc_32, vmalloc_node };
const char *const vkind_exprs[] = {"vkind::vmalloc", "vkind::vzalloc", "vkind::vmalloc_32", "vkind::vmalloc_node"};

// One vmalloc area; on this machine a large one may well fail.
struct Vmalloc : mixed_cmd {
  int id;
  vkind api;
  unsigned long size;
  int nid;
  unsigned cpu;

  explicit Vmalloc(const mixed_model &m)
      : id(m.next_id),
        api(*rc::gen::element(vkind::vmalloc, vkind::vzalloc, vkind::vmalloc_32, vkind::vmalloc_node)),
        size(*rc::gen::weightedOneOf<unsigned long>({{3, uniform(1ul, 16 * 1024ul)},
                                                     {3, uniform(16 * 1024ul, 256 * 1024ul)},
                                                     {1, uniform(256 * 1024ul, 2 * SZ_1M)}})),
        nid(api == vkind::vmalloc_node ? *uniform(0, int(m.nr_nodes)) : NUMA_NO_NODE),
        cpu(cpu_of(m)) {}
  Vmalloc(int id_, vkind api_, unsigned long size_, int nid_, unsigned cpu_)
      : id(id_), api(api_), size(size_), nid(nid_), cpu(cpu_) {}

  void checkPreconditions(const mixed_model &m) const override { RC_PRE(m.fresh(id, 1)); }
  void apply(mixed_model &m) const override { m.add(id, 1, hkind::vmalloc); }

  void run(const mixed_model &, mixed_sut &s) const override {
    mem_system &ms = s.f.ms();
    vmalloc_system &vs = *s.f.v.vs;
    host_set_cpu(cpu);
    unsigned long pages_before = vs.vmalloc_pages, busy_before = vs.space.nr_busy;
    void *p = nullptr;
    switch (api) {
      case vkind::vmalloc: p = vmalloc(vs, size); break;
      case vkind::vzalloc: p = vzalloc(vs, size); break;
      case vkind::vmalloc_32: p = vmalloc_32(vs, size); break;
      case vkind::vmalloc_node: p = vmalloc_node(vs, size, nid); break;
    }
    if (!p) {
      // A failure takes nothing with it.
      RC_ASSERT(vs.vmalloc_pages == pages_before);
      RC_ASSERT(vs.space.nr_busy == busy_before);
      s.failures++;
      check_step(s);
      return;
    }
    unsigned long nr = (size + PAGE_SIZE - 1) / PAGE_SIZE;
    live_alloc a{hkind::vmalloc, GFP_KERNEL, uptr(p), nr * PAGE_SIZE, 0, -1, {}, fill_of(id)};
    for (unsigned long i = 0; i < nr; i++) {
      void *frame = s.f.v.translate(a.addr + i * PAGE_SIZE);
      RC_ASSERT(uptr(frame) != 0u);
      if (api == vkind::vzalloc) RC_ASSERT(bytes_are(frame, PAGE_SIZE, 0));
      if (api == vkind::vmalloc_32) RC_ASSERT(int(zone_of_addr(ms, frame)->idx) <= int(ZONE_DMA32));
      a.pfns.push_back(PHYS_PFN(virt_to_phys(frame)));
    }
    RC_ASSERT(uptr(s.f.v.translate(a.addr + nr * PAGE_SIZE)) == 0u);  // the guard page
    add_live(s, id, a);
    check_step(s);
  }

  void show(std::ostream &os) const override {
    os << "Vmalloc{/*id*/" << id << ", " << vkind_exprs[int(api)] << ", /*size*/" << size << ", /*nid*/"
       << modelcase::nid_expr(nid) << ", /*cpu*/" << cpu << "}";
  }
};

// Gives one allocation back the way its kind is freed, after checking every
// byte of it; a vmalloc area leaves nothing mapped in the table, its guard
// page included (the TLB may keep it until the lazy purge, which the
// checker allows for ranges waiting for it).
void free_one(mixed_sut &s, int id) {
  if (!s.live.count(id)) return;  // that allocation failed
  live_alloc a = drop_live(s, id);
  switch (a.kind) {
    case hkind::pages: __free_pages(s.f.ms(), virt_to_page(s.f.ms(), reinterpret_cast<void *>(a.addr)), a.order); break;
    case hkind::kmalloc: kfree(*s.f.v.slab.sa, reinterpret_cast<void *>(a.addr)); break;
    case hkind::cache: kmem_cache_free(s.caches[a.cache], reinterpret_cast<void *>(a.addr)); break;
    case hkind::vmalloc:
      vfree(*s.f.v.vs, reinterpret_cast<void *>(a.addr));
      for (size_t i = 0; i <= a.pfns.size(); i++) RC_ASSERT(!pgtable_walk(s.f.v.pt, a.addr + i * PAGE_SIZE, nullptr));
      break;
  }
}

struct Free : mixed_cmd {
  int id;
  unsigned cpu;

  explicit Free(const mixed_model &m) : id(*rc::gen::elementOf(m.ids())), cpu(cpu_of(m)) {}
  Free(int id_, unsigned cpu_) : id(id_), cpu(cpu_) {}

  void checkPreconditions(const mixed_model &m) const override { RC_PRE(m.handles.count(id) != 0u); }
  void apply(mixed_model &m) const override { m.handles.erase(id); }
  void run(const mixed_model &, mixed_sut &s) const override {
    host_set_cpu(cpu);
    free_one(s, id);
    check_step(s);
  }
  void show(std::ostream &os) const override { os << "Free{/*id*/" << id << ", /*cpu*/" << cpu << "}"; }
};

// Frees every `step`th handle from `offset` on, in id order: holes between
// allocations that stay, which is where fragmentation and partial slabs
// come from.
struct FreeEvery : mixed_cmd {
  unsigned step, offset, cpu;

  explicit FreeEvery(const mixed_model &m)
      : step(*uniform(2u, 5u)), offset(*uniform(0u, 2u)), cpu(cpu_of(m)) {}
  FreeEvery(unsigned step_, unsigned offset_, unsigned cpu_) : step(step_), offset(offset_), cpu(cpu_) {}

  std::vector<int> chosen(const mixed_model &m) const {
    std::vector<int> ids = m.ids(), out;
    for (size_t i = offset; i < ids.size(); i += step) out.push_back(ids[i]);
    return out;
  }
  void checkPreconditions(const mixed_model &) const override { RC_PRE(step > 0u); }
  void apply(mixed_model &m) const override {
    for (int id : chosen(m)) m.handles.erase(id);
  }
  void run(const mixed_model &m, mixed_sut &s) const override {
    host_set_cpu(cpu);
    for (int id : chosen(m)) free_one(s, id);
    check_step(s);
  }
  void show(std::ostream &os) const override {
    os << "FreeEvery{/*step*/" << step << ", /*offset*/" << offset << ", /*cpu*/" << cpu << "}";
  }
};

enum class reclaim_kind { kswapd, shrink_slab, drain_all, shrink_caches };
const char *const reclaim_exprs[] = {"reclaim_kind::kswapd", "reclaim_kind::shrink_slab", "reclaim_kind::drain_all",
                                     "reclaim_kind::shrink_caches"};

// What the kernel does between allocations: kswapd's balancing of the nodes
// that asked for it, a round of the shrinkers, draining the per-CPU lists,
// shrinking the test's caches. None may touch a live allocation.
struct Reclaim : mixed_cmd {
  reclaim_kind how;
  unsigned cpu;

  explicit Reclaim(const mixed_model &m)
      : how(*rc::gen::element(reclaim_kind::kswapd, reclaim_kind::shrink_slab, reclaim_kind::drain_all,
                              reclaim_kind::shrink_caches)),
        cpu(cpu_of(m)) {}
  Reclaim(reclaim_kind how_, unsigned cpu_) : how(how_), cpu(cpu_) {}

  void run(const mixed_model &, mixed_sut &s) const override {
    mem_system &ms = s.f.ms();
    host_set_cpu(cpu);
    long before = 0, after = 0;
    for (zone *z : managed_zones(ms)) before += free_and_pcp(z);
    switch (how) {
      case reclaim_kind::kswapd: kswapd_run(ms); break;
      case reclaim_kind::shrink_slab: shrink_slab(ms, GFP_KERNEL, ms.cpu_to_node[cpu]); break;
      case reclaim_kind::drain_all: drain_all_pages(ms); break;
      case reclaim_kind::shrink_caches:
        for (kmem_cache *c : s.caches) kmem_cache_shrink(c);
        break;
    }
    for (zone *z : managed_zones(ms)) after += free_and_pcp(z);
    // Reclaim gives memory back; it never takes any.
    RC_ASSERT(after >= before);
    if (after > before) s.reclaimed++;
    check_step(s);
  }
  void show(std::ostream &os) const override {
    os << "Reclaim{" << reclaim_exprs[int(how)] << ", /*cpu*/" << cpu << "}";
  }
};

// --------------------------------------------------------- a case, whole

using mixed_cmds = rc::state::Commands<mixed_cmd>;

// One case of the property: the machine and what is done on it. It is the
// only value the property draws, so the counterexample is its listing.
struct mixed_case {
  mixed_layout layout;
  mixed_cmds cmds;
};

void showValue(const mixed_case &c, std::ostream &os) {
  modelcase::show_case(os, "MIXED_REGRESSION", std::string("mixed_layout::") + mixed_layout_name(c.layout), c.cmds);
}

mixed_model initial_model(mixed_layout k) {
  return k == mixed_layout::one_node ? mixed_model{k, 2, 1, {}, 0} : mixed_model{k, 4, 2, {}, 0};
}

rc::Gen<mixed_case> gen_mixed_case() {
  return rc::gen::mapcat(rc::gen::element(mixed_layout::one_node, mixed_layout::two_nodes), [](mixed_layout k) {
    return rc::gen::map(
        rc::gen::resize(100, rc::state::gen::commands(
                                 initial_model(k),
                                 rc::state::gen::execOneOfWithArgs<Pages, Pages, Pages, Kmalloc, Kmalloc, CacheAlloc,
                                                                   CacheAlloc, Vmalloc, Vmalloc, Free, Free, Free,
                                                                   FreeEvery, Reclaim>())),
        [k](mixed_cmds cmds) { return mixed_case{k, std::move(cmds)}; });
  });
}

// Every zone's free pages at rest: lists drained, every cache shrunk.
std::map<zone *, long> free_at_rest(mixed_fixture &f) {
  settle(f.v.slab);
  std::map<zone *, long> out;
  for (zone *z : managed_zones(f.ms())) out[z] = free_and_pcp(z);
  return out;
}

// Runs a case: check_step after every command; then everything freed (each
// byte checked), the caches destroyed, lists drained and caches shrunk:
// every zone has the free pages it had before the first command, vmalloc
// holds nothing and the page table is back to its root.
void run_mixed_case(const mixed_case &c) {
  cpu_reset reset;
  mixed_sut s;
  RC_ASSERT(s.f.build(c.layout) == 0);
  mem_system &ms = s.f.ms();
  mixed_model m0 = initial_model(c.layout);
  unsigned nodes = 0;
  for_each_online_pgdat(ms, pgdat) nodes++;
  RC_ASSERT(ms.nr_cpus == m0.nr_cpus && nodes == m0.nr_nodes);
  const std::map<zone *, long> initial = free_at_rest(s.f);
  const unsigned long tables = pgtable_count_tables(s.f.v.pt);
  for (unsigned i = 0; i < NR_TEST_CACHES; i++) {
    s.caches[i] = kmem_cache_create(*s.f.v.slab.sa, test_caches[i].name, test_caches[i].size, 0,
                                    test_caches[i].flags, nullptr);
    RC_ASSERT(uptr(s.caches[i]) != 0u);
  }
  check_step(s);

  rc::state::runAll(c.cmds, m0, s);
  RC_CLASSIFY(s.failures > 0, "allocations failed");
  RC_CLASSIFY(s.fallbacks > 0, "zone or node fallback");
  RC_CLASSIFY(s.reclaimed > 0, "reclaim freed pages");

  host_set_cpu(0);
  std::vector<int> ids;
  for (auto &[id, a] : s.live) ids.push_back(id);
  for (int id : ids) free_one(s, id);
  RC_ASSERT(s.ranges.empty());
  for (kmem_cache *cache : s.caches) RC_ASSERT(kmem_cache_destroy(cache) == 0);
  check_step(s);
  RC_ASSERT(s.f.v.vs->vmalloc_pages == 0ul);
  RC_ASSERT(s.f.v.vs->space.nr_busy == 0ul);
  RC_ASSERT(pgtable_count_tables(s.f.v.pt) == tables);

  std::map<zone *, long> expected = initial;
  std::map<zone *, long> end = free_at_rest(s.f);
  // Everything free is one range again, held by the space's own node: no
  // vmap_area is left in a slab page to make a zone's count differ.
  RC_ASSERT(s.f.v.vs->space.nr_free == 1ul);
  RC_ASSERT(uptr(s.f.v.vs->space.free_root) == uptr(&s.f.v.vs->first));
  for (auto &[z, n] : expected)
    if (end.at(z) != n)
      RC_FAIL(std::string("zone ") + z->name + " of node " + std::to_string(z->zone_pgdat->node_id) + " has " +
              std::to_string(end.at(z)) + " free pages at rest, " + std::to_string(n) + " expected");
  RC_ASSERT(s.f.v.check() == std::string());
}

}  // namespace

MODEL_CASE_SHOW_TYPE(mixed_case, "proptest/regressions/mixed.inc");

namespace {

// Random interleavings of every kind of allocation, frees and reclaim on
// the small machine.
RC_GTEST_PROP(MixedModel, InterleavedAllocatorsKeepEveryRule, ()) {
  const mixed_case c = *gen_mixed_case();
  RC_TAG(mixed_layout_name(c.layout));
  run_mixed_case(c);
}

// Kept counterexamples and chosen sequences, each a TEST of its own.
#define MIXED_REGRESSION(name, layout, ...)                                                          \
  TEST(MixedModelRegression, name) {                                                                 \
    modelcase::expect_holds(                                                                         \
        [] { run_mixed_case(mixed_case{layout, modelcase::commands_of<mixed_cmd>(__VA_ARGS__)}); }); \
  }
#include "proptest/regressions/mixed.inc"

}  // namespace

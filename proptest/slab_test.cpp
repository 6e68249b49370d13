// Properties of the slab allocator and kmalloc (mm/slab, mm/kmalloc): random
// sequences of kmalloc and cache operations on every layout, with and without
// debugging, checked after every step against a simple model (the live
// objects, their sizes and fill bytes); then bad input to caches (double
// frees, wrong caches, red zones, poison, forged freelist links, destroying a
// busy cache, bad creation arguments), threads as CPUs, and the shrinker.
// kmalloc's own bad input is in proptest/kmalloc_test.cpp.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kernel/errno.h"
#include "mm/slab_internal.h"
#include "mm/vmscan.h"
#include "proptest/model_case.h"
#include "proptest/slab_fixture.h"

namespace {

using namespace slabt;

// rc::gen::inRange narrows its range with the test size; choices here must
// span their whole range from the first case.
template <class T>
rc::Gen<T> uniform(T min, T max) {
  return rc::gen::resize(rc::kNominalSize, rc::gen::inRange<T>(min, max));
}

// A constructor: fills the whole object with CTOR_BYTE (the size comes from
// the object's slab). Users give objects back in this state, as Linux asks.
constexpr u8 CTOR_BYTE = 0xc7;
void ctor_fill(void *obj) {
  page *slab = addr_to_slab(*system_mem, obj);
  memset(obj, CTOR_BYTE, slab->slab_cache->object_size);
}

bool has_zone(const mem_system &ms, zone_type idx) {
  for_each_online_pgdat(ms, pgdat) if (managed_zone(&pgdat->node_zones[idx])) return true;
  return false;
}

bool is_pow2(size_t n) { return n && !(n & (n - 1)); }

// ======================================================= random sequences

enum class kapi { kmalloc, kzalloc, kcalloc, kmalloc_array, krealloc_null, kmalloc_node };
const char *const kapi_names[] = {"kmalloc", "kzalloc", "kcalloc", "kmalloc_array", "krealloc(NULL)", "kmalloc_node"};
const char *const kapi_exprs[] = {"kapi::kmalloc",       "kapi::kzalloc",       "kapi::kcalloc",
                                  "kapi::kmalloc_array", "kapi::krealloc_null", "kapi::kmalloc_node"};

// Cache flags as the C++ expression of their names.
std::string slab_flags_expr(slab_flags_t flags) {
  static const std::pair<slab_flags_t, const char *> names[] = {
      {SLAB_HWCACHE_ALIGN, "SLAB_HWCACHE_ALIGN"}, {SLAB_POISON, "SLAB_POISON"},
      {SLAB_RED_ZONE, "SLAB_RED_ZONE"},           {SLAB_RECLAIM_ACCOUNT, "SLAB_RECLAIM_ACCOUNT"},
      {SLAB_CACHE_DMA32, "SLAB_CACHE_DMA32"}};
  std::string out;
  for (auto &[bit, name] : names)
    if (flags & bit) {
      out += (out.empty() ? "" : " | ") + std::string(name);
      flags &= ~bit;
    }
  if (flags) out += (out.empty() ? "" : " | ") + modelcase::hex(flags);
  return out.empty() ? "0" : out;
}

struct mobj {
  int cache;  // -1: a kmalloc object
  size_t size;
};

struct mcache {
  unsigned size, align;
  slab_flags_t flags;
  bool ctor;
};

struct slab_model {
  unsigned nr_cpus;
  bool has_dma;
  std::map<int, mobj> objs;
  std::map<int, mcache> caches;
  int next_id = 0;
  size_t bytes = 0;  // asked for by the live objects

  std::vector<int> ids(bool kmalloc_only) const {
    std::vector<int> out;
    for (auto &[id, o] : objs)
      if (!kmalloc_only || o.cache < 0) out.push_back(id);
    return out;
  }
  std::vector<int> cache_ids() const {
    std::vector<int> out;
    for (auto &[id, c] : caches) out.push_back(id);
    return out;
  }
  // Whether ids [first, first + n) are unused (they stay so when shrinking
  // drops the commands that made earlier ones).
  bool fresh(int first, int n) const {
    for (int id = first; id < first + n; id++)
      if (objs.count(id) || caches.count(id)) return false;
    return true;
  }
  bool cache_busy(int cid) const {
    for (auto &[id, o] : objs)
      if (o.cache == cid) return true;
    return false;
  }
};

// Live memory stays small: the properties are about bookkeeping, and every
// valid request must then succeed.
constexpr size_t MAX_LIVE_BYTES = 2 * SZ_1M;
constexpr size_t MAX_CACHES = 6;

enum class outcome { object, zero_size_ptr, null };

// What kmalloc must do with a request, from the rules alone.
outcome kmalloc_outcome(const slab_model &m, size_t size, gfp_t gfp) {
  if (size == 0) return outcome::zero_size_ptr;
  if (gfp_zone(gfp) == ZONE_INVALID || size > KMALLOC_MAX_SIZE) return outcome::null;
  if ((gfp & __GFP_DMA) && !m.has_dma) return outcome::null;
  return outcome::object;
}

// A live object as the test sees it.
struct live_obj {
  u8 *p;
  size_t size;   // asked for
  size_t bytes;  // filled and owned: ksize for kmalloc objects
  u8 fill;
  kmem_cache *cache;  // nullptr: a kmalloc object
  bool ctor;
  size_t align;       // the alignment it must have
  zone_type max_zone; // the highest zone it may be in
};

struct slab_sut {
  slab_fixture f;
  std::map<int, live_obj> live;
  std::map<int, kmem_cache *> caches;
  std::map<uintptr_t, std::pair<uintptr_t, int>> ranges;  // start -> end, id
  page_state initial;
  int reused_in_place = 0, shrinks = 0, busy_destroys = 0;
};

// An object's fill byte: never 0, nor a byte the allocator writes itself.
u8 fill_of(int id) {
  u8 v = u8(id * 37 + 11) | 1;
  while (v == POISON_FREE || v == POISON_END || v == SLUB_RED_INACTIVE || v == SLUB_RED_ACTIVE || v == CTOR_BYTE) v += 2;
  return v;
}

// Everything an object must be while it lives: aligned, in an allowed zone,
// on pages of one allocation that is its cache's slab (or a large kmalloc),
// physically contiguous, at least as big as asked, and holding its bytes.
void check_object(slab_sut &s, const live_obj &o) {
  mem_system &ms = *s.f.mm.ms;
  RC_ASSERT(uptr(o.p) % o.align == 0);
  RC_ASSERT(uptr(o.p) % 8 == 0);
  page *head = compound_head(virt_to_page(ms, o.p));
  RC_ASSERT(!PageBuddy(head) && !PagePcp(head));
  RC_ASSERT(int(page_zonenum(virt_to_page(ms, o.p))) <= int(o.max_zone));
  if (o.cache) {
    RC_ASSERT(PageSlab(head));
    RC_ASSERT(uptr(head->slab_cache) == uptr(o.cache));
  } else if (o.bytes > KMALLOC_MAX_CACHE_SIZE) {
    RC_ASSERT(PageLargeKmalloc(head));
  } else {
    RC_ASSERT(PageSlab(head));
    RC_ASSERT((head->slab_cache->flags & SLAB_KMALLOC) != 0u);
  }
  phys_addr_t base = virt_to_phys(o.p);
  size_t span = std::max<size_t>(o.bytes, 1);
  auto same_block = [&](size_t off) {
    RC_ASSERT(virt_to_phys(o.p + off) == base + off);
    RC_ASSERT(uptr(compound_head(virt_to_page(ms, o.p + off))) == uptr(head));
  };
  for (size_t off = PAGE_SIZE - (uptr(o.p) & (PAGE_SIZE - 1)); off < span; off += PAGE_SIZE) same_block(off);
  same_block(span - 1);
  RC_ASSERT(ksize(*s.f.sa, o.p) >= o.size);
  RC_ASSERT(bytes_are(o.p, o.bytes, o.fill));
}

// What every command ends with: both checkers clean, no report but the
// BUG report of each refused kmem_cache_destroy, and every live object intact.
void check_step(slab_sut &s) {
  RC_ASSERT(s.f.check() == std::string());
  RC_ASSERT(s.f.sa->errors == static_cast<unsigned long>(s.busy_destroys));
  for (auto &[id, o] : s.live) check_object(s, o);
}

// Takes a new object into the model of live ranges: it must overlap none.
void add_live(slab_sut &s, int id, const live_obj &o) {
  uintptr_t start = uptr(o.p), end = start + std::max<size_t>(o.bytes, 1);
  auto next = s.ranges.lower_bound(start);
  if (next != s.ranges.end()) RC_ASSERT(next->first >= end);
  if (next != s.ranges.begin()) RC_ASSERT(std::prev(next)->second.first <= start);
  s.ranges[start] = {end, id};
  s.live[id] = o;
}

void drop_live(slab_sut &s, int id) {
  s.ranges.erase(uptr(s.live.at(id).p));
  s.live.erase(id);
}

using slab_cmd = rc::state::Command<slab_model, slab_sut>;

rc::Gen<gfp_t> gen_gfp(bool has_dma, bool zone_mods) {
  return rc::gen::apply(
      [=](gfp_t base, bool zero, gfp_t zone) { return base | (zero ? __GFP_ZERO : 0) | (zone_mods ? zone : 0); },
      rc::gen::element(GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT), rc::gen::weightedElement<bool>({{2, false}, {1, true}}),
      rc::gen::weightedElement<gfp_t>({{6, 0}, {3, __GFP_DMA32}, {has_dma ? 3 : 1, __GFP_DMA}}));
}

// Sizes around every class boundary, anything up to a class, large ones,
// zero and one too large.
rc::Gen<size_t> gen_size() {
  std::vector<size_t> classes(std::begin(kmalloc_sizes), std::end(kmalloc_sizes));
  return rc::gen::weightedOneOf<size_t>({
      {1, rc::gen::just<size_t>(0)},
      {4, rc::gen::elementOf(classes)},
      {3, rc::gen::map(rc::gen::elementOf(classes), [](size_t c) { return c + 1; })},
      {3, rc::gen::map(rc::gen::elementOf(classes), [](size_t c) { return c - 1; })},
      {4, uniform<size_t>(1, 257)},
      {4, uniform<size_t>(1, KMALLOC_MAX_CACHE_SIZE + 1)},
      {2, uniform<size_t>(KMALLOC_MAX_CACHE_SIZE + 1, 64 * 1024)},
      {1, uniform<size_t>(64 * 1024, SZ_1M + 1)},
      {1, rc::gen::element<size_t>(KMALLOC_MAX_SIZE + 1, 3 * KMALLOC_MAX_SIZE)},
  });
}

rc::Gen<int> gen_count() {
  return rc::gen::weightedOneOf<int>({{6, rc::gen::just(1)}, {3, uniform(2, 17)}, {1, uniform(17, 65)}});
}

// `count` objects of one request through kmalloc, kzalloc, kcalloc,
// kmalloc_array, krealloc(NULL) or kmalloc_node (any node id: a node with
// memory, one without, one out of range; none is binding).
struct Kmalloc : slab_cmd {
  int first_id, count;
  kapi api;
  size_t n, size;  // n elements of size (n is 1 but for the array forms)
  gfp_t gfp;
  unsigned cpu;
  int nid;

  explicit Kmalloc(const slab_model &m)
      : first_id(m.next_id),
        count(*gen_count()),
        api(*rc::gen::weightedElement<kapi>({{6, kapi::kmalloc},
                                             {2, kapi::kzalloc},
                                             {1, kapi::kcalloc},
                                             {1, kapi::kmalloc_array},
                                             {1, kapi::krealloc_null},
                                             {1, kapi::kmalloc_node}})),
        n(api == kapi::kcalloc || api == kapi::kmalloc_array ? *uniform<size_t>(0, 9) : 1),
        size(n == 1 ? *gen_size() : *uniform<size_t>(0, 1200)),
        gfp(*gen_gfp(m.has_dma, true)),
        cpu(*uniform(0u, m.nr_cpus)),
        nid(api == kapi::kmalloc_node ? *rc::gen::element(NUMA_NO_NODE, 0, 1, 3, int(MAX_NUMNODES) + 1) : NUMA_NO_NODE) {}
  Kmalloc(int first_id_, int count_, kapi api_, size_t n_, size_t size_, gfp_t gfp_, unsigned cpu_, int nid_)
      : first_id(first_id_), count(count_), api(api_), n(n_), size(size_), gfp(gfp_), cpu(cpu_), nid(nid_) {}

  size_t total() const { return n * size; }
  bool zeroed() const { return api == kapi::kzalloc || api == kapi::kcalloc || (gfp & __GFP_ZERO); }
  outcome expect(const slab_model &m) const { return kmalloc_outcome(m, total(), gfp); }

  void checkPreconditions(const slab_model &m) const override {
    RC_PRE(m.fresh(first_id, count));
    if (expect(m) == outcome::object) RC_PRE(m.bytes + count * total() <= MAX_LIVE_BYTES);
  }
  void apply(slab_model &m) const override {
    if (expect(m) == outcome::object) {
      for (int i = 0; i < count; i++) m.objs[first_id + i] = {-1, total()};
      m.bytes += count * total();
    }
    m.next_id = std::max(m.next_id, first_id + count);
  }

  void run(const slab_model &m, slab_sut &s) const override {
    slab_allocator &sa = *s.f.sa;
    host_set_cpu(cpu);
    for (int i = 0; i < count; i++) {
      void *p = nullptr;
      switch (api) {
        case kapi::kmalloc: p = kmalloc(sa, size, gfp); break;
        case kapi::kzalloc: p = kzalloc(sa, size, gfp); break;
        case kapi::kcalloc: p = kcalloc(sa, n, size, gfp); break;
        case kapi::kmalloc_array: p = kmalloc_array(sa, n, size, gfp); break;
        case kapi::krealloc_null: p = krealloc(sa, nullptr, size, gfp); break;
        case kapi::kmalloc_node: p = kmalloc_node(sa, size, gfp, nid); break;
      }
      outcome want = expect(m);
      if (want == outcome::zero_size_ptr) RC_ASSERT(uptr(p) == uptr(ZERO_SIZE_PTR));
      if (want == outcome::null) RC_ASSERT(uptr(p) == 0u);
      if (want == outcome::object) {
        RC_ASSERT(!ZERO_OR_NULL_PTR(p));
        live_obj o{static_cast<u8 *>(p), total(), ksize(sa, p), fill_of(first_id + i), nullptr, false, 8, gfp_zone(gfp)};
        if (is_pow2(total())) o.align = total();
        RC_ASSERT(o.bytes >= total());
        if (zeroed()) RC_ASSERT(bytes_are(p, o.bytes, 0));
        memset(p, o.fill, o.bytes);
        add_live(s, first_id + i, o);
      }
    }
    check_step(s);
  }

  void show(std::ostream &os) const override {
    os << "Kmalloc{/*first_id*/" << first_id << ", /*count*/" << count << ", " << kapi_exprs[int(api)] << ", /*n*/"
       << n << ", /*size*/" << size << ", " << modelcase::gfp_expr(gfp) << ", /*cpu*/" << cpu << ", /*nid*/"
       << modelcase::nid_expr(nid) << "}";
  }
};

// krealloc of a kmalloc object to another size (0 frees it).
struct Krealloc : slab_cmd {
  int id;
  size_t size;
  gfp_t gfp;
  unsigned cpu;

  explicit Krealloc(const slab_model &m)
      : id(*rc::gen::elementOf(m.ids(true))),
        size(*gen_size()),
        gfp(*gen_gfp(m.has_dma, true)),
        cpu(*uniform(0u, m.nr_cpus)) {}
  Krealloc(int id_, size_t size_, gfp_t gfp_, unsigned cpu_) : id(id_), size(size_), gfp(gfp_), cpu(cpu_) {}

  outcome expect(const slab_model &m) const {
    if (size == 0) return outcome::zero_size_ptr;
    return kmalloc_outcome(m, size, gfp);
  }
  void checkPreconditions(const slab_model &m) const override {
    RC_PRE(m.objs.count(id) && m.objs.at(id).cache < 0);
    if (expect(m) == outcome::object) RC_PRE(m.bytes - m.objs.at(id).size + size <= MAX_LIVE_BYTES);
  }
  void apply(slab_model &m) const override {
    outcome o = expect(m);
    if (o == outcome::null) return;
    m.bytes -= m.objs.at(id).size;
    if (o == outcome::zero_size_ptr) {
      m.objs.erase(id);
    } else {
      m.objs[id].size = size;
      m.bytes += size;
    }
  }

  void run(const slab_model &m, slab_sut &s) const override {
    slab_allocator &sa = *s.f.sa;
    host_set_cpu(cpu);
    live_obj old = s.live.at(id);
    void *q = krealloc(sa, old.p, size, gfp);
    outcome want = expect(m);
    if (want == outcome::zero_size_ptr) {
      RC_ASSERT(uptr(q) == uptr(ZERO_SIZE_PTR));
      drop_live(s, id);
      RC_ASSERT(ksize(sa, old.p) == 0u);
    } else if (want == outcome::null) {
      RC_ASSERT(uptr(q) == 0u);  // and the old object is untouched: check_step
    } else {
      RC_ASSERT(!ZERO_OR_NULL_PTR(q));
      drop_live(s, id);
      if (q == old.p) s.reused_in_place++;
      else RC_ASSERT(ksize(sa, old.p) == 0u);
      live_obj o{static_cast<u8 *>(q), size, ksize(sa, q), u8(fill_of(id) ^ 0x5a), nullptr, false, 8, gfp_zone(gfp)};
      RC_ASSERT(o.bytes >= size);
      RC_ASSERT(bytes_are(q, std::min(old.bytes, size), old.fill));
      // A new object asked for zeroed is zero beyond what was copied.
      if (q != old.p && (gfp & __GFP_ZERO) && o.bytes > old.bytes)
        RC_ASSERT(bytes_are(static_cast<u8 *>(q) + old.bytes, o.bytes - old.bytes, 0));
      memset(q, o.fill, o.bytes);
      add_live(s, id, o);
    }
    check_step(s);
  }

  void show(std::ostream &os) const override {
    os << "Krealloc{/*id*/" << id << ", /*size*/" << size << ", " << modelcase::gfp_expr(gfp) << ", /*cpu*/" << cpu
       << "}";
  }
};

// kfree or kfree_sensitive of any object (cache objects included, as Linux
// allows); objects of a constructor's cache are given back constructed.
struct Kfree : slab_cmd {
  int id;
  bool sensitive;
  unsigned cpu;

  explicit Kfree(const slab_model &m)
      : id(*rc::gen::elementOf(m.ids(false))), sensitive(*rc::gen::arbitrary<bool>()), cpu(*uniform(0u, m.nr_cpus)) {}
  Kfree(int id_, bool sensitive_, unsigned cpu_) : id(id_), sensitive(sensitive_), cpu(cpu_) {}

  bool ctor(const slab_model &m) const {
    int c = m.objs.at(id).cache;
    return c >= 0 && m.caches.at(c).ctor;
  }
  void checkPreconditions(const slab_model &m) const override { RC_PRE(m.objs.count(id) != 0u); }
  void apply(slab_model &m) const override {
    m.bytes -= m.objs.at(id).size;
    m.objs.erase(id);
  }

  void run(const slab_model &m, slab_sut &s) const override {
    slab_allocator &sa = *s.f.sa;
    host_set_cpu(cpu);
    live_obj o = s.live.at(id);
    drop_live(s, id);
    bool zeroing = sensitive && !ctor(m);
    if (o.ctor) memset(o.p, CTOR_BYTE, o.size);
    page *head = compound_head(virt_to_page(*s.f.mm.ms, o.p));
    kmem_cache *c = PageSlab(head) ? head->slab_cache : nullptr;
    if (zeroing) kfree_sensitive(sa, o.p);
    else kfree(sa, o.p);
    RC_ASSERT(ksize(sa, o.p) == 0u);
    // A freed object stays on this CPU's slab; without poison its bytes
    // (but the freelist link's) show what kfree_sensitive left.
    if (zeroing && c && !(c->flags & SLAB_POISON)) {
      size_t link = c->offset;
      RC_ASSERT(bytes_are(o.p, std::min<size_t>(link, c->object_size), 0));
      if (link + sizeof(void *) < c->object_size)
        RC_ASSERT(bytes_are(o.p + link + sizeof(void *), c->object_size - link - sizeof(void *), 0));
    }
    check_step(s);
  }

  void show(std::ostream &os) const override {
    os << "Kfree{/*id*/" << id << ", /*sensitive*/" << (sensitive ? "true" : "false") << ", /*cpu*/" << cpu << "}";
  }
};

rc::Gen<unsigned> gen_cache_size() {
  return rc::gen::weightedOneOf<unsigned>({{3, uniform(1u, 65u)},
                                           {3, uniform(65u, 1025u)},
                                           {2, uniform(1025u, 9001u)},
                                           {2, rc::gen::element(8u, 64u, 96u, 192u, 4096u, 4095u, 8192u, 9000u)}});
}

// kmem_cache_create with a valid request: it must succeed.
struct CacheCreate : slab_cmd {
  int cid;
  unsigned size, align;
  slab_flags_t flags;
  bool ctor;

  explicit CacheCreate(const slab_model &m)
      : cid(m.next_id),
        size(*gen_cache_size()),
        align(*rc::gen::weightedOneOf<unsigned>(
            {{3, rc::gen::just(0u)}, {2, rc::gen::map(uniform(0u, 13u), [](unsigned k) { return 1u << k; })}})),
        flags(*rc::gen::apply(
            [](bool hw, bool poison, bool rz, bool reclaim, bool dma32) {
              return (hw ? SLAB_HWCACHE_ALIGN : 0) | (poison ? SLAB_POISON : 0) | (rz ? SLAB_RED_ZONE : 0) |
                     (reclaim ? SLAB_RECLAIM_ACCOUNT : 0) | (dma32 ? SLAB_CACHE_DMA32 : 0);
            },
            rc::gen::arbitrary<bool>(), rc::gen::arbitrary<bool>(), rc::gen::arbitrary<bool>(),
            rc::gen::arbitrary<bool>(), rc::gen::weightedElement<bool>({{3, false}, {1, true}}))),
        ctor(*rc::gen::weightedElement<bool>({{2, false}, {1, true}})) {}
  CacheCreate(int cid_, unsigned size_, unsigned align_, slab_flags_t flags_, bool ctor_)
      : cid(cid_), size(size_), align(align_), flags(flags_), ctor(ctor_) {}

  void checkPreconditions(const slab_model &m) const override {
    RC_PRE(m.fresh(cid, 1));
    RC_PRE(m.caches.size() < MAX_CACHES);
  }
  void apply(slab_model &m) const override {
    m.caches[cid] = {size, align, flags, ctor};
    m.next_id = std::max(m.next_id, cid + 1);
  }

  void run(const slab_model &, slab_sut &s) const override {
    std::string name = "test-" + std::to_string(cid);
    kmem_cache *c = kmem_cache_create(*s.f.sa, name.c_str(), size, align, flags, ctor ? ctor_fill : nullptr);
    RC_ASSERT(uptr(c) != 0u);
    RC_ASSERT(std::string(c->name) == name);
    RC_ASSERT(c->object_size == size);
    s.caches[cid] = c;
    check_step(s);
  }

  void show(std::ostream &os) const override {
    os << "CacheCreate{/*cid*/" << cid << ", /*size*/" << size << ", /*align*/" << align << ", "
       << slab_flags_expr(flags) << ", /*ctor*/" << (ctor ? "true" : "false") << "}";
  }
};

// `count` objects of a created cache.
struct CacheAlloc : slab_cmd {
  int first_id, count, cid;
  bool zalloc;
  gfp_t gfp;
  unsigned cpu;

  explicit CacheAlloc(const slab_model &m)
      : first_id(m.next_id),
        count(*gen_count()),
        cid(*rc::gen::elementOf(m.cache_ids())),
        zalloc(*rc::gen::weightedElement<bool>({{3, false}, {1, true}})),
        gfp(*gen_gfp(false, false)),
        cpu(*uniform(0u, m.nr_cpus)) {}
  CacheAlloc(int first_id_, int count_, int cid_, bool zalloc_, gfp_t gfp_, unsigned cpu_)
      : first_id(first_id_), count(count_), cid(cid_), zalloc(zalloc_), gfp(gfp_), cpu(cpu_) {}

  void checkPreconditions(const slab_model &m) const override {
    RC_PRE(m.fresh(first_id, count));
    RC_PRE(m.caches.count(cid) != 0u);
    RC_PRE(m.bytes + count * m.caches.at(cid).size <= MAX_LIVE_BYTES);
  }
  void apply(slab_model &m) const override {
    for (int i = 0; i < count; i++) m.objs[first_id + i] = {cid, m.caches.at(cid).size};
    m.bytes += count * m.caches.at(cid).size;
    m.next_id = std::max(m.next_id, first_id + count);
  }

  void run(const slab_model &m, slab_sut &s) const override {
    const mcache &mc = m.caches.at(cid);
    kmem_cache *c = s.caches.at(cid);
    host_set_cpu(cpu);
    for (int i = 0; i < count; i++) {
      void *p = zalloc ? kmem_cache_zalloc(c, gfp) : kmem_cache_alloc(c, gfp);
      RC_ASSERT(uptr(p) != 0u);
      live_obj o{static_cast<u8 *>(p), mc.size, mc.size, fill_of(first_id + i), c, mc.ctor,
                 expected_cache_align(mc.size, mc.align, mc.flags),
                 (mc.flags & SLAB_CACHE_DMA32) ? ZONE_DMA32 : ZONE_NORMAL};
      if (zalloc || (gfp & __GFP_ZERO)) RC_ASSERT(bytes_are(p, mc.size, 0));
      else if (mc.ctor) RC_ASSERT(bytes_are(p, mc.size, CTOR_BYTE));
      memset(p, o.fill, o.bytes);
      add_live(s, first_id + i, o);
    }
    check_step(s);
  }

  void show(std::ostream &os) const override {
    os << "CacheAlloc{/*first_id*/" << first_id << ", /*count*/" << count << ", /*cid*/" << cid << ", /*zalloc*/"
       << (zalloc ? "true" : "false") << ", " << modelcase::gfp_expr(gfp) << ", /*cpu*/" << cpu << "}";
  }
};

struct CacheFree : slab_cmd {
  int id;
  unsigned cpu;

  explicit CacheFree(const slab_model &m) : id(*rc::gen::elementOf(cache_objs(m))), cpu(*uniform(0u, m.nr_cpus)) {}
  CacheFree(int id_, unsigned cpu_) : id(id_), cpu(cpu_) {}

  static std::vector<int> cache_objs(const slab_model &m) {
    std::vector<int> out;
    for (auto &[id, o] : m.objs)
      if (o.cache >= 0) out.push_back(id);
    return out;
  }
  void checkPreconditions(const slab_model &m) const override {
    RC_PRE(m.objs.count(id) && m.objs.at(id).cache >= 0);
  }
  void apply(slab_model &m) const override {
    m.bytes -= m.objs.at(id).size;
    m.objs.erase(id);
  }

  void run(const slab_model &, slab_sut &s) const override {
    host_set_cpu(cpu);
    live_obj o = s.live.at(id);
    drop_live(s, id);
    if (o.ctor) memset(o.p, CTOR_BYTE, o.size);
    kmem_cache_free(o.cache, o.p);
    RC_ASSERT(ksize(*s.f.sa, o.p) == 0u);
    check_step(s);
  }

  void show(std::ostream &os) const override { os << "CacheFree{/*id*/" << id << ", /*cpu*/" << cpu << "}"; }
};

// kmem_cache_shrink of a created cache, a kmalloc cache or the cache of
// caches: no CPU owns a slab of it, no free slab left, and the pages it says
// it freed are the ones the slab counters lost.
struct CacheShrink : slab_cmd {
  int target;  // >= 0: a created cache; < 0: -1 - the index into the kmalloc caches (the last: kmem_cache)
  unsigned cpu;

  explicit CacheShrink(const slab_model &m)
      : target(*rc::gen::weightedOneOf<int>(
            {{m.caches.empty() ? 0 : 2, rc::gen::elementOf(m.cache_ids())},
             {3, rc::gen::map(uniform(0, int(NR_KMALLOC_TYPES * NR_KMALLOC_SIZES) + 1), [](int i) { return -1 - i; })}})),
        cpu(*uniform(0u, m.nr_cpus)) {}
  CacheShrink(int target_, unsigned cpu_) : target(target_), cpu(cpu_) {}

  void checkPreconditions(const slab_model &m) const override {
    if (target >= 0) RC_PRE(m.caches.count(target) != 0u);
  }
  void apply(slab_model &) const override {}

  void run(const slab_model &, slab_sut &s) const override {
    slab_allocator &sa = *s.f.sa;
    kmem_cache *c;
    if (target >= 0) {
      c = s.caches.at(target);
    } else {
      unsigned i = unsigned(-1 - target);
      c = i == NR_KMALLOC_TYPES * NR_KMALLOC_SIZES ? &sa.kmem_cache_boot
                                                   : sa.kmalloc_caches[i / NR_KMALLOC_SIZES][i % NR_KMALLOC_SIZES];
      if (!c) return;  // no memory in that zone
    }
    host_set_cpu(cpu);
    slab_totals before = slab_pages(sa);
    unsigned long freed = kmem_cache_shrink(c);
    slab_totals after = slab_pages(sa);
    for (const kmem_cache_cpu &a : c->cpu_slab) RC_ASSERT(a.slab == nullptr && a.nr_partial == 0u);
    for (const kmem_cache_node &n : c->node) RC_ASSERT(n.nr_free == 0ul);
    RC_ASSERT(before.reclaimable_pages + before.unreclaimable_pages -
                  (after.reclaimable_pages + after.unreclaimable_pages) ==
              freed);
    s.shrinks++;
    check_step(s);
  }

  void show(std::ostream &os) const override {
    os << "CacheShrink{/*target*/" << target << ", /*cpu*/" << cpu << "}";
  }
};

// kmem_cache_destroy: refused (-EBUSY, reported) while the cache has live
// objects, which stay intact; otherwise the cache is gone.
struct CacheDestroy : slab_cmd {
  int cid;
  unsigned cpu;

  explicit CacheDestroy(const slab_model &m) : cid(*rc::gen::elementOf(m.cache_ids())), cpu(*uniform(0u, m.nr_cpus)) {}
  CacheDestroy(int cid_, unsigned cpu_) : cid(cid_), cpu(cpu_) {}

  void checkPreconditions(const slab_model &m) const override { RC_PRE(m.caches.count(cid) != 0u); }
  void apply(slab_model &m) const override {
    if (!m.cache_busy(cid)) m.caches.erase(cid);
  }

  void run(const slab_model &m, slab_sut &s) const override {
    kmem_cache *c = s.caches.at(cid);
    std::string name = c->name;
    host_set_cpu(cpu);
    log_buf_clear();
    int r = kmem_cache_destroy(c);
    std::string log = read_log();
    bool listed = false;
    list_for_each(e, &s.f.sa->caches) listed |= list_entry(e, kmem_cache, list) == c;
    if (m.cache_busy(cid)) {
      RC_ASSERT(r == -EBUSY);
      RC_ASSERT(log.find(name) != std::string::npos);
      RC_ASSERT(log.find("still has objects") != std::string::npos);
      RC_ASSERT(listed);
      s.busy_destroys++;
    } else {
      RC_ASSERT(r == 0);
      RC_ASSERT(!listed);
      s.caches.erase(cid);
    }
    check_step(s);
  }

  void show(std::ostream &os) const override { os << "CacheDestroy{/*cid*/" << cid << ", /*cpu*/" << cpu << "}"; }
};

using slab_cmds = rc::state::Commands<slab_cmd>;

// One case of a SlabSequences property: the machine, the debug flags and
// freelist secret the allocator is built with, and what is done on it. It
// is the only value the property draws, so the counterexample is its listing.
struct slab_case {
  layout_kind layout;
  slab_flags_t debug;
  unsigned long secret;
  slab_cmds cmds;
};

void showValue(const slab_case &c, std::ostream &os) {
  modelcase::show_case(os, "SLAB_REGRESSION",
                       std::string("layout_kind::") + layout_name(c.layout) + ", " + slab_flags_expr(c.debug) +
                           ", /*secret*/" + modelcase::hex(c.secret),
                       c.cmds);
}

// The model a layout starts from, from a throwaway build of it (once per
// layout): the commands are drawn before the case's own machine exists.
slab_model initial_model(layout_kind layout) {
  static std::map<layout_kind, slab_model> known;
  if (!known.count(layout)) {
    mm_fixture f;
    if (build_layout(f, layout) != 0) return {1, false, {}, {}, 0, 0};
    known[layout] = slab_model{f.ms->nr_cpus, has_zone(*f.ms, ZONE_DMA), {}, {}, 0, 0};
  }
  return known.at(layout);
}

rc::Gen<slab_case> gen_slab_case(layout_kind layout) {
  return rc::gen::apply(
      [layout](slab_flags_t debug, unsigned long secret, slab_cmds cmds) {
        return slab_case{layout, debug, secret, std::move(cmds)};
      },
      rc::gen::element<slab_flags_t>(0, SLAB_RED_ZONE | SLAB_POISON, SLAB_RED_ZONE, SLAB_POISON),
      rc::gen::arbitrary<unsigned long>(),
      rc::gen::resize(60, rc::state::gen::commands(
                              initial_model(layout),
                              rc::state::gen::execOneOfWithArgs<Kmalloc, Kmalloc, Kmalloc, Krealloc, Kfree, Kfree,
                                                                CacheCreate, CacheAlloc, CacheAlloc, CacheFree,
                                                                CacheShrink, CacheDestroy>())));
}

// Runs a case: after every step the live objects are disjoint, aligned, in
// allowed zones, contiguous, big enough and intact, and both checkers are
// clean; freeing everything and shrinking brings back the page allocator's
// initial state and slab counts. The properties and the kept regressions
// both run this.
void run_slab_case(const slab_case &c) {
  cpu_reset reset;
  slab_sut s;
  RC_ASSERT(s.f.build(c.layout, c.debug, c.secret) == 0);
  mem_system &ms = *s.f.mm.ms;
  s.initial = settle(s.f);
  RC_ASSERT(s.f.check() == std::string());

  slab_model m0{ms.nr_cpus, has_zone(ms, ZONE_DMA), {}, {}, 0, 0};
  rc::state::runAll(c.cmds, m0, s);
  RC_CLASSIFY(!s.caches.empty(), "caches created");
  RC_CLASSIFY(s.reused_in_place > 0, "krealloc in place");
  RC_CLASSIFY(s.busy_destroys > 0, "busy destroy");

  host_set_cpu(0);
  for (auto &[id, o] : s.live) {
    RC_ASSERT(bytes_are(o.p, o.bytes, o.fill));
    if (o.ctor) memset(o.p, CTOR_BYTE, o.size);
    if (o.cache) kmem_cache_free(o.cache, o.p);
    else kfree(*s.f.sa, o.p);
  }
  s.live.clear();
  for (auto &[cid, cache] : s.caches) RC_ASSERT(kmem_cache_destroy(cache) == 0);
  s.caches.clear();
  page_state end = settle(s.f);
  RC_ASSERT(end == s.initial);
  RC_ASSERT(s.f.check() == std::string());
  RC_ASSERT(s.f.sa->errors == static_cast<unsigned long>(s.busy_destroys));
}

// Random sequences of every kmalloc and cache operation on one layout, on
// every CPU it has, with a random choice of debug flags.
void run_sequences(layout_kind layout) {
  const slab_case c = *gen_slab_case(layout);
  RC_TAG(c.debug);
  run_slab_case(c);
}

}  // namespace

MODEL_CASE_SHOW_TYPE(slab_case, "proptest/regressions/slab.inc");

namespace {

RC_GTEST_PROP(SlabSequences, SingleZone, ()) { run_sequences(layout_kind::single_zone); }
RC_GTEST_PROP(SlabSequences, ThreeZones, ()) { run_sequences(layout_kind::three_zones); }
RC_GTEST_PROP(SlabSequences, Across4G, ()) { run_sequences(layout_kind::across_4g); }
RC_GTEST_PROP(SlabSequences, TwoNodes, ()) { run_sequences(layout_kind::two_nodes); }

// Kept counterexamples and chosen sequences, each a TEST of its own.
#define SLAB_REGRESSION(name, layout, debug, secret, ...)                                                 \
  TEST(SlabRegression, name) {                                                                           \
    modelcase::expect_holds([] {                                                                         \
      run_slab_case(slab_case{layout, debug, secret, modelcase::commands_of<slab_cmd>(__VA_ARGS__)}); \
    });                                                                                                  \
  }
#include "proptest/regressions/slab.inc"

// ================================================================ bad input

// Every layout, without and with debugging.
struct setup {
  layout_kind layout;
  slab_flags_t debug;
};
std::vector<setup> every_setup() {
  std::vector<setup> out;
  for (layout_kind k : all_layouts)
    for (slab_flags_t d : {slab_flags_t(0), SLAB_RED_ZONE | SLAB_POISON}) out.push_back({k, d});
  return out;
}
std::string setup_name(const setup &s) { return std::string(layout_name(s.layout)) + (s.debug ? " with debug" : ""); }

bool listed(const slab_allocator &sa, const kmem_cache *c) {
  bool found = false;
  list_for_each(e, &sa.caches) found |= list_entry(e, kmem_cache, list) == c;
  return found;
}

// A second kmem_cache_free of an object, or a free of an object never
// handed out, is reported naming the cache and refused, wherever the object
// sits (this CPU's slab, a node's slab, freed from another CPU and not yet
// taken back, freed again by either CPU), for
// plain, debugging and constructed caches. The cache then hands the object
// out at most once among many objects held together.
TEST(SlabBadInput, DoubleCacheFree) {
  cpu_reset reset;
  for (const setup &su : every_setup()) {
    SCOPED_TRACE(setup_name(su));
    slab_fixture f;
    ASSERT_EQ(f.build(su.layout, su.debug), 0);
    mem_system &ms = *f.mm.ms;
    page_state initial = settle(f);
    for (auto [flags, ctor] : {std::pair<slab_flags_t, bool>{0, false}, {SLAB_HWCACHE_ALIGN, true},
                               {SLAB_POISON | SLAB_RED_ZONE | SLAB_RECLAIM_ACCOUNT, false}}) {
      kmem_cache *s = kmem_cache_create(*f.sa, "double", 200, 0, flags, ctor ? ctor_fill : nullptr);
      ASSERT_NE(s, nullptr);
      for (freed_where where : every_freed_where) {
        SCOPED_TRACE("flags " + std::to_string(flags) + " case " + std::to_string(int(where)));
        host_set_cpu(0);
        u8 *p = static_cast<u8 *>(kmem_cache_alloc(s, GFP_KERNEL));
        ASSERT_NE(p, nullptr);
        std::vector<void *> spare;
        p = free_first(where, ms, s, p, [&] { return kmem_cache_alloc(s, GFP_KERNEL); },
                       [&](void *q) { kmem_cache_free(s, q); }, &spare);
        ASSERT_NE(p, nullptr);
        if (where == freed_where::slab_freelist) {
          page *slab = addr_to_slab(ms, p);
          ASSERT_NE(slab, nullptr);
          ASSERT_TRUE(test_bit(onlist_map(ms, s, slab), unsigned(slab_obj_index(ms, s, slab, p))));
        }
        if (where == freed_where::other_cpu || where == freed_where::remote_twice) host_set_cpu(1);
        expect_report(f, "double", p, true, "already free", [&] { kmem_cache_free(s, p); });
        host_set_cpu(0);
        for (void *q : spare) {
          if (ctor) memset(q, CTOR_BYTE, 200);
          kmem_cache_free(s, q);
        }
        unsigned seen = expect_serving(
            f, [&] { return kmem_cache_alloc(s, GFP_KERNEL); },
            [&](void *q) {
              if (ctor) memset(q, CTOR_BYTE, 200);
              kmem_cache_free(s, q);
            },
            200, (2 + 2 * s->cpu_partial_slabs) * s->objects + 4, {}, p);
        EXPECT_LE(seen, 1u);
      }
      // An object its slab has never handed out.
      u8 *p = static_cast<u8 *>(kmem_cache_alloc(s, GFP_KERNEL));
      page *slab = addr_to_slab(ms, p);
      void *never = nullptr;
      for (unsigned i = 0; i < s->objects && !never; i++)
        if (test_bit(onlist_map(ms, s, slab), i)) never = slab_object(ms, s, slab, i);
      if (never) expect_report(f, "double", never, true, "already free", [&] { kmem_cache_free(s, never); });
      if (ctor) memset(p, CTOR_BYTE, 200);
      kmem_cache_free(s, p);
      EXPECT_EQ(kmem_cache_destroy(s), 0);
    }
    EXPECT_EQ(settle(f), initial);
  }
}

// kmem_cache_free to the wrong cache (another cache of the same size, a
// kmalloc cache, or the other way round), of a pointer inside an object, or
// of memory that is no slab at all, is reported naming the cache it was
// given to, and refused: the object stays allocated and intact.
TEST(SlabBadInput, FreeToWrongCache) {
  cpu_reset reset;
  for (const setup &su : every_setup()) {
    SCOPED_TRACE(setup_name(su));
    slab_fixture f;
    ASSERT_EQ(f.build(su.layout, su.debug), 0);
    slab_allocator &sa = *f.sa;
    page_state initial = settle(f);
    kmem_cache *a = kmem_cache_create(sa, "cache-a", 64, 0, 0, nullptr);
    kmem_cache *b = kmem_cache_create(sa, "cache-b", 64, 0, 0, nullptr);
    ASSERT_TRUE(a && b);
    kmem_cache *k64 = sa.kmalloc_caches[KMALLOC_NORMAL][kmalloc_index(64)];
    u8 *pa = static_cast<u8 *>(kmem_cache_alloc(a, GFP_KERNEL));
    u8 *pk = static_cast<u8 *>(kmalloc(sa, 64, GFP_KERNEL));
    ASSERT_TRUE(pa && pk);
    memset(pa, 0xa1, 64);
    memset(pk, 0xb2, 64);
    expect_report(f, "cache-b", pa, true, "wrong slab cache: the object belongs to cache-a",
                  [&] { kmem_cache_free(b, pa); });
    expect_report(f, "kmalloc-64", pa, true, "wrong slab cache: the object belongs to cache-a",
                  [&] { kmem_cache_free(k64, pa); });
    expect_report(f, "cache-a", pk, true, "wrong slab cache: the object belongs to kmalloc-64",
                  [&] { kmem_cache_free(a, pk); });
    expect_report(f, "cache-a", pa + 8, true, "not the start of an object", [&] { kmem_cache_free(a, pa + 8); });
    u64 on_stack = 0;
    expect_report(f, "cache-a", &on_stack, true, "not in a slab page", [&] { kmem_cache_free(a, &on_stack); });
    page *pg = alloc_pages(*f.mm.ms, GFP_KERNEL, 0);
    void *plain = page_address(*f.mm.ms, pg);
    expect_report(f, "cache-a", plain, true, "not in a slab page", [&] { kmem_cache_free(a, plain); });
    __free_pages(*f.mm.ms, pg, 0);
    EXPECT_TRUE(bytes_are(pa, 64, 0xa1));
    EXPECT_TRUE(bytes_are(pk, 64, 0xb2));
    EXPECT_EQ(ksize(sa, pa), 64u);
    EXPECT_EQ(ksize(sa, pk), 64u);
    expect_serving(f, [&] { return kmem_cache_alloc(b, GFP_KERNEL); }, [&](void *q) { kmem_cache_free(b, q); }, 64,
                   200, {pa, pk});
    expect_serving(f, [&] { return kmem_cache_alloc(a, GFP_KERNEL); }, [&](void *q) { kmem_cache_free(a, q); }, 64,
                   200, {pa, pk});
    kmem_cache_free(a, pa);
    kfree(sa, pk);
    EXPECT_EQ(kmem_cache_destroy(a), 0);
    EXPECT_EQ(kmem_cache_destroy(b), 0);
    EXPECT_EQ(f.mm.ms->bad_pages, 0ul);
    EXPECT_EQ(settle(f), initial);
  }
}

// With SLAB_RED_ZONE (for every cache through the allocator's debug flags,
// or for one cache), a write just past an object's end, or at the red
// zone's last byte, is reported when the object is freed ("Redzone
// overwritten", with the damaged byte's offset in the object and its value;
// not refused); the object is freed all the same, its red zone
// repaired, and it serves again without a report.
TEST(SlabDebug, RedZoneOverwritten) {
  cpu_reset reset;
  for (bool global : {true, false}) {
    SCOPED_TRACE(global ? "slab_debug=Z" : "SLAB_RED_ZONE cache");
    slab_fixture f;
    ASSERT_EQ(f.build(layout_kind::three_zones, global ? SLAB_RED_ZONE : 0), 0);
    slab_allocator &sa = *f.sa;
    page_state initial = settle(f);
    for (size_t size : {1ul, 8ul, 60ul, 64ul, 100ul, 1000ul, 4096ul, 8192ul}) {
      kmem_cache *own = global ? nullptr : kmem_cache_create(sa, "redzoned", unsigned(size), 0, SLAB_RED_ZONE, nullptr);
      kmem_cache *s = global ? sa.kmalloc_caches[KMALLOC_NORMAL][kmalloc_index(size)] : own;
      ASSERT_NE(s, nullptr);
      std::string name = global ? kmalloc_name(size) : "redzoned";
      auto alloc = [&] { return static_cast<u8 *>(global ? kmalloc(sa, size, GFP_KERNEL) : kmem_cache_alloc(s, GFP_KERNEL)); };
      auto release = [&](void *q) { global ? kfree(sa, q) : kmem_cache_free(s, q); };
      ASSERT_GE(s->red_zone, 1u);
      for (size_t past : {size_t(0), size_t(s->red_zone - 1)}) {
        SCOPED_TRACE(name + " byte " + std::to_string(past) + " past the end");
        u8 *p = alloc();
        ASSERT_NE(p, nullptr);
        size_t end = global ? ksize(sa, p) : size;
        memset(p, 0x4e, end);
        p[end + past] = 0;
        char what[64];
        snprintf(what, sizeof(what), "Redzone overwritten: byte at offset %zu is 0x00", end + past);
        expect_report(f, name, p, false, what, [&] { release(p); });
        EXPECT_EQ(ksize(sa, p), 0u) << "the object must be freed";
        log_buf_clear();
        u8 *again = alloc();
        EXPECT_EQ(again, p) << "the freed object comes back first from this CPU's slab";
        memset(again, 0x4f, end);
        release(again);
        EXPECT_EQ(read_log(), "");
        EXPECT_EQ(f.check(), "");
      }
      expect_serving(f, alloc, release, size, 3 * s->objects);
      if (own) {
        EXPECT_EQ(kmem_cache_destroy(own), 0);
      }
    }
    EXPECT_EQ(sa.bad_frees, 0ul);
    EXPECT_EQ(settle(f), initial);
  }
}

// With SLAB_POISON, a write into a freed object (on this CPU's slab, or on
// a node's) breaks the checker's poison invariant until the object
// is handed out again; then "Poison overwritten" is reported with the
// object's address and the damaged byte's offset and value (not refused),
// and the object serves normally after.
TEST(SlabDebug, PoisonOverwrittenAfterFree) {
  cpu_reset reset;
  for (bool global : {true, false}) {
    SCOPED_TRACE(global ? "slab_debug=P" : "SLAB_POISON cache");
    slab_fixture f;
    ASSERT_EQ(f.build(layout_kind::single_zone, global ? SLAB_POISON : 0), 0);
    slab_allocator &sa = *f.sa;
    page_state initial = settle(f);
    for (size_t size : {8ul, 100ul, 1000ul, 8192ul}) {
      kmem_cache *own = global ? nullptr : kmem_cache_create(sa, "poisoned", unsigned(size), 0, SLAB_POISON, nullptr);
      kmem_cache *s = global ? sa.kmalloc_caches[KMALLOC_NORMAL][kmalloc_index(size)] : own;
      ASSERT_NE(s, nullptr);
      std::string name = global ? kmalloc_name(size) : "poisoned";
      auto alloc = [&] { return static_cast<u8 *>(global ? kmalloc(sa, size, GFP_KERNEL) : kmem_cache_alloc(s, GFP_KERNEL)); };
      auto release = [&](void *q) { global ? kfree(sa, q) : kmem_cache_free(s, q); };
      for (bool on_slab : {false, true}) {
        for (size_t at : {size_t(0), size / 2, size - 2, size - 1}) {
          SCOPED_TRACE(name + (on_slab ? " on a node's slab" : " on this CPU's slab") + " byte " + std::to_string(at));
          u8 *p = alloc();
          ASSERT_NE(p, nullptr);
          release(p);
          if (on_slab) flush_this_cpu(s);
          p[at] = 0x00;  // the use after free
          std::string report = f.check();
          EXPECT_NE(report.find("poison"), std::string::npos) << "the checker sees it: " << report;
          std::vector<u8 *> got;
          // The report names the first damaged byte (the last one is
          // POISON_END's, the others POISON_FREE's).
          char what[64];
          snprintf(what, sizeof(what), "Poison overwritten: byte at offset %zu is 0x00", at);
          expect_report(
              f, name, p, false, what,
              [&] {
                for (unsigned i = 0; i < (4 + 2 * s->cpu_partial_slabs) * s->objects; i++) {
                  got.push_back(alloc());
                  if (got.back() == p) break;
                }
              },
              {false, false});
          ASSERT_EQ(got.back(), p) << "the object never came back";
          for (u8 *q : got) release(q);
          // Freed again, the object was poisoned afresh: no report this time.
          log_buf_clear();
          std::vector<u8 *> again;
          for (unsigned i = 0; i < (4 + 2 * s->cpu_partial_slabs) * s->objects; i++) {
            again.push_back(alloc());
            if (again.back() == p) break;
          }
          EXPECT_EQ(again.back(), p);
          EXPECT_EQ(read_log(), "");
          for (u8 *q : again) release(q);
          EXPECT_EQ(f.check(), "");
        }
      }
      if (own) {
        EXPECT_EQ(kmem_cache_destroy(own), 0);
      }
    }
    EXPECT_EQ(sa.bad_frees, 0ul);
    EXPECT_EQ(settle(f), initial);
  }
}

// How a free object's freelist link is forged.
enum class forgery { raw_stack, raw_allocated, encoded_allocated, encoded_other_cache, encoded_inside_free, garbage };
const char *const forgery_names[] = {"raw stack pointer", "raw pointer to an allocated object",
                                     "encoded pointer to an allocated object", "encoded pointer into another cache",
                                     "encoded pointer inside a free object", "garbage"};

// The slab's first free object (the next the cache hands out from it) after
// one allocation from a fresh cache: the slab is now CPU 0's, the rest of
// its objects on its freelist.
struct freelist_setup {
  kmem_cache *s;
  u8 *first;   // the allocated object
  page *slab;
  u8 *head;    // slab->freelist
};

freelist_setup fresh_slab(slab_fixture &f, const char *name, slab_flags_t flags) {
  freelist_setup r{};
  r.s = kmem_cache_create(*f.sa, name, 48, 0, flags, nullptr);
  if (!r.s) return r;
  r.first = static_cast<u8 *>(kmem_cache_alloc(r.s, GFP_KERNEL));
  r.slab = addr_to_slab(*f.mm.ms, r.first);
  r.head = r.slab ? static_cast<u8 *>(r.slab->freelist) : nullptr;
  return r;
}

// A forged freelist link in a free object on its slab is caught before it
// is followed: "Freelist link corrupted" is reported once (naming the cache
// and the object holding the link), the forged pointer is never handed out,
// the rest of that slab's freelist is abandoned and counted
// (kmem_cache::corrupted, lost_objects), both checkers are clean (the lost
// objects are accounted), and the cache goes on serving from new slabs.
TEST(SlabBadInput, CorruptedFreelistLink) {
  cpu_reset reset;
  for (const setup &su : every_setup()) {
    for (forgery kind : {forgery::raw_stack, forgery::raw_allocated, forgery::encoded_allocated,
                         forgery::encoded_other_cache, forgery::encoded_inside_free, forgery::garbage}) {
      SCOPED_TRACE(setup_name(su) + ": " + forgery_names[int(kind)]);
      slab_fixture f;
      ASSERT_EQ(f.build(su.layout, su.debug), 0);
      mem_system &ms = *f.mm.ms;
      freelist_setup fs = fresh_slab(f, "victim", 0);
      kmem_cache *s = fs.s;
      ASSERT_TRUE(s && fs.first && fs.slab && fs.head);
      long head_index = slab_obj_index(ms, s, fs.slab, fs.head);
      ASSERT_GE(head_index, 1);
      ASSERT_LT(unsigned(head_index) + 2, s->objects) << "the slab must have free objects after the head";
      u64 on_stack[2] = {};
      void *other = kmalloc(*f.sa, 48, GFP_KERNEL);
      const void *target = nullptr;
      unsigned long *slot = freelist_slot(s, fs.head);
      switch (kind) {
        case forgery::raw_stack: target = on_stack; *slot = uptr(target); break;
        case forgery::raw_allocated: target = fs.first; *slot = uptr(target); break;
        case forgery::encoded_allocated: target = fs.first; *slot = freelist_encode(s, fs.head, target); break;
        case forgery::encoded_other_cache: target = other; *slot = freelist_encode(s, fs.head, target); break;
        case forgery::encoded_inside_free:
          target = fs.head + s->size + 8;
          *slot = freelist_encode(s, fs.head, target);
          break;
        case forgery::garbage: *slot = 0xdeadbeefcafef00dul; break;
      }
      EXPECT_NE(f.check(), "") << "the checker sees the forged link";
      std::vector<void *> got;
      std::string log = expect_report(
          f, "victim", fs.head, false, "Freelist link corrupted: free object's link decodes to ",
          [&] {
            for (unsigned i = 0; i < 2 * s->objects + 2; i++) got.push_back(kmem_cache_alloc(s, GFP_KERNEL));
          },
          {false, false});
      std::set<void *> distinct(got.begin(), got.end());
      distinct.insert(fs.first);
      EXPECT_EQ(distinct.size(), got.size() + 1) << "an object was handed out twice";
      for (void *p : got) {
        ASSERT_NE(p, nullptr);
        if (target) {
          EXPECT_NE(p, target) << "the forged pointer was handed out";
        }
        page *slab = addr_to_slab(ms, p);
        ASSERT_NE(slab, nullptr);
        EXPECT_EQ(slab->slab_cache, s);
        EXPECT_GE(slab_obj_index(ms, s, slab, p), 0);
        memset(p, 0x61, 48);
      }
      EXPECT_EQ(s->corrupted, 1ul);
      EXPECT_EQ(s->lost_objects, s->objects - (unsigned(head_index) + 1));
      EXPECT_EQ(fs.slab->lost, s->objects - (unsigned(head_index) + 1));
      for (void *p : got) EXPECT_TRUE(bytes_are(p, 48, 0x61));
      for (void *p : got) kmem_cache_free(s, p);
      kmem_cache_free(s, fs.first);
      kfree(*f.sa, other);
      EXPECT_EQ(f.check(), "");
      expect_serving(f, [&] { return kmem_cache_alloc(s, GFP_KERNEL); }, [&](void *p) { kmem_cache_free(s, p); }, 48,
                     3 * s->objects);
      EXPECT_EQ(f.sa->errors, 1ul);
      EXPECT_EQ(f.sa->bad_frees, 0ul);
    }
  }
}

// A link forged with the secret to name a free object further down the same
// slab's freelist passes the link check (one that ends the list early does
// not: FreelistThatEndsEarlyIsReported); either way the objects it skips
// must not be lost to the counts: the checkers stay clean and the cache can
// still be emptied and destroyed.
TEST(SlabBadInput, ForgedLinkThatSkipsFreeObjects) {
  cpu_reset reset;
  for (bool end_early : {false, true}) {
    SCOPED_TRACE(end_early ? "encoded NULL" : "encoded pointer to a later free object");
    slab_fixture f;
    ASSERT_EQ(f.build(layout_kind::single_zone), 0);
    mem_system &ms = *f.mm.ms;
    freelist_setup fs = fresh_slab(f, "victim", 0);
    kmem_cache *s = fs.s;
    ASSERT_TRUE(s && fs.head);
    u8 *later = fs.head + 3 * s->size;
    ASSERT_TRUE(test_bit(onlist_map(ms, s, fs.slab), unsigned(slab_obj_index(ms, s, fs.slab, later))));
    *freelist_slot(s, fs.head) = freelist_encode(s, fs.head, end_early ? nullptr : later);
    std::vector<void *> got;
    for (unsigned i = 0; i < 2 * s->objects + 2; i++) got.push_back(kmem_cache_alloc(s, GFP_KERNEL));
    EXPECT_EQ(f.check(), "");
    for (void *p : got) kmem_cache_free(s, p);
    kmem_cache_free(s, fs.first);
    EXPECT_EQ(f.check(), "");
    EXPECT_EQ(kmem_cache_destroy(s), 0);
    EXPECT_EQ(f.check(), "");
  }
}

// A freelist that ends (an encoded NULL) while the slab still has free
// objects is reported as such, with how many it abandons, not as a link to
// a bad object; the object whose link it was is still handed out, and only
// the ones behind it are lost; kmem_cache_zalloc hands it out zeroed, the
// bad link included. Both the fast path and the general path (a debug
// cache) report it.
TEST(SlabBadInput, FreelistThatEndsEarlyIsReported) {
  cpu_reset reset;
  for (auto [flags, zero] : {std::pair<slab_flags_t, bool>{0, false}, {0, true}, {SLAB_POISON, false}, {SLAB_POISON, true}}) {
    SCOPED_TRACE(std::string(flags ? "debug cache" : "plain cache") + (zero ? ", zalloc" : ""));
    slab_fixture f;
    ASSERT_EQ(f.build(layout_kind::single_zone), 0);
    freelist_setup fs = fresh_slab(f, "victim", flags);
    kmem_cache *s = fs.s;
    ASSERT_TRUE(s && fs.head);
    ASSERT_EQ(fs.slab->inuse, 1u);
    ASSERT_GT(s->objects, 3u);
    *freelist_slot(s, fs.head) = freelist_encode(s, fs.head, nullptr);
    const unsigned lost = s->objects - 2;  // all but the first object and the head
    void *got = nullptr;
    std::string log = expect_report(
        f, "victim", fs.head, false,
        "Freelist link corrupted: the freelist ends with " + std::to_string(lost) +
            " free objects not reached; they are abandoned",
        [&] { got = zero ? kmem_cache_zalloc(s, GFP_KERNEL) : kmem_cache_alloc(s, GFP_KERNEL); }, {false, false});
    EXPECT_EQ(log.find("decodes to"), std::string::npos) << log;
    EXPECT_EQ(got, fs.head);
    if (zero) {
      EXPECT_TRUE(bytes_are(got, s->object_size, 0));
    }
    EXPECT_EQ(s->corrupted, 1ul);
    EXPECT_EQ(s->lost_objects, lost);
    EXPECT_EQ(fs.slab->lost, lost);
    EXPECT_EQ(fs.slab->inuse, s->objects);
    EXPECT_EQ(fs.slab->freelist, nullptr);
    kmem_cache_free(s, got);
    kmem_cache_free(s, fs.first);
    EXPECT_EQ(f.check(), "");
  }
}

// Destroying a cache whose only remaining objects are the ones abandoned
// behind a corrupted link leaves both checkers clean: the slab counters
// agree with the slabs that exist, and no page points at a freed cache.
TEST(SlabBadInput, DestroyAfterCorruptedLink) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  freelist_setup fs = fresh_slab(f, "victim", 0);
  ASSERT_TRUE(fs.s && fs.head);
  *freelist_slot(fs.s, fs.head) = 0x1234;
  std::vector<void *> got;
  log_buf_clear();
  for (unsigned i = 0; i < fs.s->objects; i++) got.push_back(kmem_cache_alloc(fs.s, GFP_KERNEL));
  EXPECT_NE(read_log().find("Freelist link corrupted"), std::string::npos);
  for (void *p : got) kmem_cache_free(fs.s, p);
  kmem_cache_free(fs.s, fs.first);
  ASSERT_EQ(f.check(), "");
  int r = kmem_cache_destroy(fs.s);
  EXPECT_TRUE(r == 0 || r == -EBUSY) << r;
  EXPECT_EQ(f.check(), "") << "kmem_cache_destroy returned " << r;
  if (r == 0) {
    EXPECT_FALSE(listed(*f.sa, fs.s));
    EXPECT_FALSE(PageSlab(fs.slab) && fs.slab->slab_cache == fs.s) << "a slab page still names the freed cache";
  }
}

// kmem_cache_destroy of a cache with live objects is refused with -EBUSY and
// a report of how many and which (the first 8); the cache stays listed, keeps its
// objects intact and keeps serving; once they are freed it is destroyed.
// Free objects on CPUs' slabs, or freed by one CPU into another's slab, do
// not keep a cache alive.
TEST(SlabBadInput, DestroyWithLiveObjects) {
  cpu_reset reset;
  for (const setup &su : every_setup()) {
    SCOPED_TRACE(setup_name(su));
    slab_fixture f;
    ASSERT_EQ(f.build(su.layout, su.debug), 0);
    slab_allocator &sa = *f.sa;
    page_state initial = settle(f);
    kmem_cache *s = kmem_cache_create(sa, "busy", 100, 0, 0, nullptr);
    ASSERT_NE(s, nullptr);
    std::set<const void *> live;
    for (unsigned cpu = 0; cpu < f.mm.ms->nr_cpus; cpu++) {
      host_set_cpu(cpu);
      for (int i = 0; i < 5; i++) {
        u8 *p = static_cast<u8 *>(kmem_cache_alloc(s, GFP_KERNEL));
        ASSERT_NE(p, nullptr);
        memset(p, 0x21, 100);
        live.insert(p);
      }
    }
    host_set_cpu(0);
    log_buf_clear();
    EXPECT_EQ(kmem_cache_destroy(s), -EBUSY);
    std::string log = read_log();
    EXPECT_NE(log.find("busy"), std::string::npos) << log;
    EXPECT_NE(log.find(std::to_string(live.size()) + " live"), std::string::npos) << log;
    // Then one line per live object, up to 8 of them: each a live object,
    // none twice.
    std::set<std::string> shown;
    for (size_t at = log.find("  object "); at != std::string::npos; at = log.find("  object ", at + 1)) {
      const std::string addr = log.substr(at + 9, 18);
      EXPECT_EQ(log.compare(at + 27, 17, " still allocated\n"), 0) << log;
      EXPECT_TRUE(std::any_of(live.begin(), live.end(), [&](const void *p) { return addr_str(p) == addr; })) << addr;
      EXPECT_TRUE(shown.insert(addr).second) << addr << " listed twice";
    }
    ASSERT_GT(live.size(), 8u);
    EXPECT_EQ(shown.size(), 8u) << log;
    EXPECT_TRUE(listed(sa, s));
    EXPECT_EQ(f.check(), "");
    for (const void *p : live) EXPECT_TRUE(bytes_are(p, 100, 0x21));
    expect_serving(f, [&] { return kmem_cache_alloc(s, GFP_KERNEL); }, [&](void *q) { kmem_cache_free(s, q); }, 100,
                   2 * s->objects, live);
    for (const void *p : live) kmem_cache_free(s, const_cast<void *>(p));
    // Freed objects on several CPUs' slabs are no obstacle.
    host_set_cpu(1);
    for (int i = 0; i < 3; i++) kmem_cache_free(s, kmem_cache_alloc(s, GFP_KERNEL));
    host_set_cpu(0);
    log_buf_clear();
    EXPECT_EQ(kmem_cache_destroy(s), 0);
    EXPECT_EQ(read_log(), "");
    EXPECT_FALSE(listed(sa, s));
    EXPECT_EQ(sa.bad_frees, 0ul);
    EXPECT_EQ(settle(f), initial);
  }
}

// kmem_cache_create with a bad argument returns NULL with an error message
// naming the cache, and changes nothing: no cache listed, no memory taken.
TEST(SlabBadInput, CreateWithBadArguments) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  slab_allocator &sa = *f.sa;
  page_state initial = settle(f);
  auto caches = [&] {
    size_t n = 0;
    list_for_each(e, &sa.caches) n++;
    return n;
  };
  const size_t before = caches();
  struct bad {
    const char *name;
    unsigned size, align;
    slab_flags_t flags;
  };
  const bad cases[] = {
      {nullptr, 64, 0, 0},
      {"", 64, 0, 0},
      {"size-zero", 0, 0, 0},
      {"align-3", 64, 3, 0},
      {"align-24", 64, 24, 0},
      {"align-100", 64, 100, 0},
      {"align-huge", 64, 1u << 20, 0},
      {"flag-bit0", 64, 0, 0x1},
      {"flag-high", 64, 0, 0x80000000u},
      {"flag-mixed", 64, 0, SLAB_POISON | 0x10},
      {"both-dma", 64, 0, SLAB_CACHE_DMA | SLAB_CACHE_DMA32},
      {"too-large", 64u << 20, 0, 0},
      {"too-large-by-one", unsigned(KMEM_CACHE_MAX_OBJECT) + 1, 0, 0},
      {"size-max", ~0u, 0, 0},
  };
  for (const bad &b : cases) {
    SCOPED_TRACE(b.name ? b.name : "(null)");
    log_buf_clear();
    kmem_cache *s = kmem_cache_create(sa, b.name, b.size, b.align, b.flags, ctor_fill);
    std::string log = read_log();
    EXPECT_EQ(s, nullptr);
    EXPECT_NE(log.find("kmem_cache_create"), std::string::npos) << log;
    if (b.name && *b.name) {
      EXPECT_NE(log.find(b.name), std::string::npos) << log;
    }
    EXPECT_EQ(caches(), before);
  }
  EXPECT_EQ(settle(f), initial);
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(sa.errors, 0ul);
  // The same calls with the argument fixed work.
  kmem_cache *ok = kmem_cache_create(sa, "fixed", 64, 32, SLAB_POISON, nullptr);
  ASSERT_NE(ok, nullptr);
  EXPECT_EQ(kmem_cache_destroy(ok), 0);
  // The largest object a cache takes is taken.
  kmem_cache *largest = kmem_cache_create(sa, "largest", unsigned(KMEM_CACHE_MAX_OBJECT), 0, 0, nullptr);
  ASSERT_NE(largest, nullptr);
  EXPECT_EQ(kmem_cache_destroy(largest), 0);
}

// Destroying a cache that still has objects is a bug of its user, reported
// as Linux does (a "BUG <cache> (Not tainted)" report with the object) and
// counted in slab_allocator::errors.
TEST(SlabReport, DestroyWithLiveObjectsIsABugReport) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  kmem_cache *s = kmem_cache_create(*f.sa, "busy", 100, 0, 0, nullptr);
  ASSERT_NE(s, nullptr);
  void *p = kmem_cache_alloc(s, GFP_KERNEL);
  ASSERT_NE(p, nullptr);
  int r = 0;
  expect_report(f, "busy", p, false, "still has objects", [&] { r = kmem_cache_destroy(s); });
  EXPECT_EQ(r, -EBUSY);
  kmem_cache_free(s, p);
  EXPECT_EQ(kmem_cache_destroy(s), 0);
}

// The report's object is the first object the cache still holds, as
// Linux's names the first object still in use: the slab's first object when
// it is held, otherwise the held one after it, never a free one.
TEST(SlabReport, DestroyReportNamesTheFirstLiveObject) {
  cpu_reset reset;
  for (unsigned keep : {0u, 1u, 5u}) {
    SCOPED_TRACE("object " + std::to_string(keep) + " held");
    slab_fixture f;
    ASSERT_EQ(f.build(layout_kind::single_zone), 0);
    kmem_cache *s = kmem_cache_create(*f.sa, "busy", 100, 0, 0, nullptr);
    ASSERT_NE(s, nullptr);
    std::vector<void *> objs;
    for (unsigned i = 0; i < 6; i++) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
    page *slab = addr_to_slab(*f.mm.ms, objs[0]);
    for (unsigned i = 0; i < 6; i++) {
      ASSERT_EQ(objs[i], slab_object(*f.mm.ms, s, slab, i)) << "a new slab hands out its objects in address order";
    }
    for (unsigned i = 0; i < 6; i++)
      if (i != keep) kmem_cache_free(s, objs[i]);
    int r = 0;
    std::string log =
        expect_report(f, "busy", objs[keep], false, "still has objects", [&] { r = kmem_cache_destroy(s); });
    EXPECT_EQ(r, -EBUSY);
    EXPECT_NE(log.find("Object " + addr_str(objs[keep]) + " in cache busy"), std::string::npos) << log;
    kmem_cache_free(s, objs[keep]);
    EXPECT_EQ(kmem_cache_destroy(s), 0);
  }
}

// ================================================================ NUMA

// A CPU whose node has no memory in the zone a cache needs (CPU 2 of
// two_nodes, whose node 1 has no DMA32) is served from the other node's
// slabs: objects are packed into slabs there as for a local CPU, and that
// node keeps no more free slabs than min_partial.
TEST(SlabNuma, RemoteZoneSlabsAreReused) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::two_nodes), 0);
  slab_allocator &sa = *f.sa;
  mem_system &ms = *f.mm.ms;
  page_state initial = settle(f);
  kmem_cache *dma32 = kmem_cache_create(sa, "dma32-objects", 64, 0, SLAB_CACHE_DMA32, nullptr);
  ASSERT_NE(dma32, nullptr);
  kmem_cache *k64 = sa.kmalloc_caches[KMALLOC_DMA32][kmalloc_index(64)];
  for (int how = 0; how < 3; how++) {
    SCOPED_TRACE(how == 0 ? "kmalloc(GFP_DMA32) on cpu 2" : how == 1 ? "SLAB_CACHE_DMA32 cache on cpu 2"
                                                                   : "kmem_cache_alloc_node(node 1) on cpu 0");
    kmem_cache *s = how == 0 ? k64 : dma32;
    host_set_cpu(how == 2 ? 0 : 2);
    slab_totals before = slab_pages(sa);
    std::vector<void *> got;
    const unsigned n = 40;  // fewer than a slab holds
    ASSERT_LT(n, s->objects);
    for (unsigned i = 0; i < n; i++) {
      void *p = how == 0   ? kmalloc(sa, 64, GFP_KERNEL | GFP_DMA32)
                : how == 1 ? kmem_cache_alloc(dma32, GFP_KERNEL)
                           : kmem_cache_alloc_node(dma32, GFP_KERNEL, 1);
      ASSERT_NE(p, nullptr);
      EXPECT_LE(page_zonenum(virt_to_page(ms, p)), ZONE_DMA32);
      got.push_back(p);
    }
    slab_totals after = slab_pages(sa);
    EXPECT_LE(after.unreclaimable_pages - before.unreclaimable_pages, 2ul << s->order)
        << n << " objects of a cache with " << s->objects << " per slab";
    EXPECT_EQ(f.check(), "");
    for (void *p : got) kmem_cache_free(s, p);
    EXPECT_EQ(f.check(), "");
  }
  host_set_cpu(0);
  EXPECT_EQ(kmem_cache_destroy(dma32), 0);
  EXPECT_EQ(settle(f), initial);
}

// ================================================================ the allocator

// slab_allocator_destroy after everything is freed gives every page back:
// the page allocator is exactly as before slab_allocator_init, no page
// counts as slab, and the slab shrinker is no longer registered.
TEST(SlabAllocator, DestroyGivesEverythingBack) {
  cpu_reset reset;
  for (layout_kind k : all_layouts) {
    SCOPED_TRACE(layout_name(k));
    mm_fixture mm;
    ASSERT_EQ(build_layout(mm, k), 0);
    drain_all_pages(*mm.ms);
    page_state before = snapshot(*mm.ms);
    auto sa = std::make_unique<slab_allocator>();
    ASSERT_EQ(slab_allocator_init(sa.get(), *mm.ms, SLAB_RED_ZONE | SLAB_POISON, 1), 0);
    kmem_cache *c = kmem_cache_create(*sa, "temporary", 700, 64, SLAB_RECLAIM_ACCOUNT, nullptr);
    ASSERT_NE(c, nullptr);
    std::vector<void *> objs;
    for (unsigned cpu = 0; cpu < mm.ms->nr_cpus; cpu++) {
      host_set_cpu(cpu);
      for (size_t size : {8ul, 100ul, 3000ul, 20000ul}) objs.push_back(kmalloc(*sa, size, GFP_KERNEL));
      objs.push_back(kmem_cache_alloc(c, GFP_KERNEL));
    }
    host_set_cpu(0);
    for (void *p : objs) kfree(*sa, p);
    auto registered = [&] {
      bool found = false;
      list_for_each(e, &mm.ms->shrinkers) found |= e == &sa->slab_shrinker.list;
      return found;
    };
    EXPECT_TRUE(registered());
    slab_allocator_destroy(sa.get());
    EXPECT_FALSE(registered()) << "reclaim would call the shrinker of a destroyed allocator";
    // The cache of caches, the one left, has nothing live now: destroying
    // it gives its slabs back and reports nothing (it is no object of its
    // own to free).
    EXPECT_EQ(kmem_cache_destroy(&sa->kmem_cache_boot), 0);
    EXPECT_EQ(sa->errors, 0ul);
    EXPECT_TRUE(list_empty(&sa->caches));
    drain_all_pages(*mm.ms);
    EXPECT_EQ(snapshot(*mm.ms), before);
    EXPECT_EQ(global_node_page_state_snapshot(*mm.ms, NR_SLAB_UNRECLAIMABLE), 0ul);
    EXPECT_EQ(global_node_page_state_snapshot(*mm.ms, NR_SLAB_RECLAIMABLE), 0ul);
    EXPECT_EQ(mm.check(), "");
  }
}

// slab_allocator_init sets every field it keeps, whatever the memory held
// before (a kernel may place the allocator in memory that is not zeroed):
// over bytes of 0xa5, with the cache list's lock left held, it makes the
// same caches with the same secrets as over zeroes, counts no error, no bad free and no large page, injects no fault,
// adds no debug flag, and every kmalloc cache pointer is a listed cache or
// nullptr (a type whose zone has no memory), which then serves as usual.
TEST(SlabAllocator, InitOverUsedMemory) {
  cpu_reset reset;
  for (layout_kind k : all_layouts) {
    SCOPED_TRACE(layout_name(k));
    mm_fixture mm;
    ASSERT_EQ(build_layout(mm, k), 0);
    std::vector<std::pair<std::string, unsigned long>> made[2];
    for (int used : {0, 1}) {
      auto sa = std::make_unique<slab_allocator>();
      memset(static_cast<void *>(sa.get()), used ? 0xa5 : 0, sizeof(slab_allocator));
      // Its last user left the cache list's lock held.
      if (used) spin_lock(&sa->slab_mutex);
      ASSERT_EQ(slab_allocator_init(sa.get(), *mm.ms, 0, 1), 0);
      list_for_each(e, &sa->caches) {
        const kmem_cache *c = list_entry(e, kmem_cache, list);
        made[used].push_back({c->name, c->random});
      }
      EXPECT_EQ(sa->errors, 0ul);
      EXPECT_EQ(sa->bad_frees, 0ul);
      EXPECT_EQ(sa->large_pages, 0ul);
      EXPECT_EQ(sa->failslab.attr.probability, 0u);
      for (auto &row : sa->kmalloc_caches)
        for (kmem_cache *c : row) {
          if (!c) continue;
          EXPECT_TRUE(listed(*sa, c));
          EXPECT_EQ(c->flags & SLAB_DEBUG_FLAGS, 0u) << c->name;
        }
      for (gfp_t zone : {gfp_t(0), __GFP_DMA32, __GFP_DMA, __GFP_RECLAIMABLE}) {
        const kmalloc_cache_type type = zone == __GFP_DMA32 ? KMALLOC_DMA32
                                        : zone == __GFP_DMA ? KMALLOC_DMA
                                        : zone == __GFP_RECLAIMABLE ? KMALLOC_RECLAIM
                                                                    : KMALLOC_NORMAL;
        kmem_cache *c = sa->kmalloc_caches[type][kmalloc_index(100)];
        void *p = kmalloc(*sa, 100, GFP_KERNEL | zone | __GFP_NOWARN);
        EXPECT_EQ(p != nullptr, c != nullptr) << zone;
        kfree(*sa, p);
      }
      void *large = kmalloc(*sa, 3 * PAGE_SIZE, GFP_KERNEL);
      ASSERT_NE(large, nullptr);
      EXPECT_EQ(sa->large_pages, 1ul << 2);
      kfree(*sa, large);
      EXPECT_EQ(sa->large_pages, 0ul);
      EXPECT_EQ(sa->errors, 0ul);
      slab_allocator_destroy(sa.get());
      EXPECT_EQ(mm.check(), "");
    }
    EXPECT_EQ(made[1], made[0]);
  }
}

// Without a page for the first slab, slab_allocator_init cannot make its
// caches: it returns -ENOMEM (slab.h), and says why.
bool no_page(void *, gfp_t, unsigned) { return true; }

TEST(SlabAllocator, InitWithoutPagesFails) {
  cpu_reset reset;
  mm_fixture mm;
  ASSERT_EQ(build_layout(mm, layout_kind::single_zone), 0);
  mm.ms->pcp_disabled = true;
  mm.ms->should_fail_alloc_page = no_page;
  auto sa = std::make_unique<slab_allocator>();
  log_buf_clear();
  EXPECT_EQ(slab_allocator_init(sa.get(), *mm.ms, 0, 1), -ENOMEM);
  EXPECT_NE(read_log().find("SLUB: Unable to allocate memory"), std::string::npos) << read_log();
  mm.ms->should_fail_alloc_page = nullptr;
  mm.ms->pcp_disabled = false;
}

// ================================================================ threads

// Three threads, each its own CPU on the two-node layout, kmalloc and kfree
// their own objects (and hand some to each other, and now and then create,
// use and destroy a cache of their own) while a fourth CPU keeps shrinking
// every kmalloc cache and calling the shrinker: no object is ever handed out
// twice or changed under its owner, and afterwards everything is consistent
// and back where it started.
TEST(SlabThreads, ConcurrentCpusWithShrinking) {
  cpu_reset reset;
  for (slab_flags_t debug : {slab_flags_t(0), SLAB_RED_ZONE | SLAB_POISON}) {
    SCOPED_TRACE(debug ? "debug" : "no debug");
    slab_fixture f;
    ASSERT_EQ(f.build(layout_kind::two_nodes, debug), 0);
    slab_allocator &sa = *f.sa;
    mem_system &ms = *f.mm.ms;
    page_state initial = settle(f);
    kmem_cache *shared = kmem_cache_create(sa, "shared", 120, 0, SLAB_HWCACHE_ALIGN, nullptr);
    ASSERT_NE(shared, nullptr);
    const unsigned workers = ms.nr_cpus - 1;
    std::atomic<int> corrupted{0}, failed{0}, running{int(workers)};
    std::atomic<long> allocations{0};
    std::mutex pool_lock;
    struct obj {
      u8 *p;
      size_t size;
      bool cached;
    };
    std::vector<obj> pool;  // objects handed from one CPU to another
    // An object holds its own address in its first word (when it has room)
    // and `fill` after it.
    auto stamp = [](const obj &o) {
      u8 fill = u8(uptr(o.p) >> 4) | 1;
      memset(o.p, fill, o.size);
      if (o.size >= 8) memcpy(o.p, &o.p, 8);
    };
    auto intact = [](const obj &o) {
      u8 fill = u8(uptr(o.p) >> 4) | 1;
      if (o.size < 8) return bytes_are(o.p, o.size, fill);
      u8 *self;
      memcpy(&self, o.p, 8);
      return self == o.p && bytes_are(o.p + 8, o.size - 8, fill);
    };
    auto release = [&](const obj &o) {
      if (!intact(o)) corrupted++;
      if (o.cached) kmem_cache_free(shared, o.p);
      else kfree(sa, o.p);
    };
    auto worker = [&](unsigned cpu) {
      host_set_cpu(cpu);
      std::mt19937 rng(cpu * 7919 + 17);
      std::vector<obj> mine;
      for (int i = 0; i < 30000; i++) {
        unsigned r = rng() % 100;
        if (mine.empty() || r < 55) {
          unsigned kind = rng() % 100;
          obj o{nullptr, 0, kind < 20};
          o.size = o.cached ? 120 : kind < 90 ? 1 + rng() % 512 : kind < 98 ? 1 + rng() % 8192 : 8193 + rng() % 40000;
          o.p = static_cast<u8 *>(o.cached ? kmem_cache_alloc(shared, GFP_KERNEL) : kmalloc(sa, o.size, GFP_KERNEL));
          if (!o.p) {
            failed++;
            continue;
          }
          stamp(o);
          mine.push_back(o);
          allocations++;
        } else if (r < 56 && i % 16 == 0) {
          // A short-lived cache of its own, made and destroyed while the
          // other CPUs allocate and the shrinker walks the cache list.
          std::string name = "private-" + std::to_string(cpu);
          unsigned size = 16 + rng() % 600;
          kmem_cache *own = kmem_cache_create(sa, name.c_str(), size, 0, 0, nullptr);
          if (!own) {
            failed++;
            continue;
          }
          std::vector<obj> objs;
          for (unsigned k = 0; k < 1 + rng() % 40; k++) {
            obj o{static_cast<u8 *>(kmem_cache_alloc(own, GFP_KERNEL)), size, false};
            if (!o.p) {
              failed++;
              break;
            }
            stamp(o);
            objs.push_back(o);
          }
          for (const obj &o : objs) {
            if (!intact(o)) corrupted++;
            kmem_cache_free(own, o.p);
          }
          if (kmem_cache_destroy(own) != 0) failed++;
        } else if (r < 95) {
          size_t k = rng() % mine.size();
          release(mine[k]);
          mine[k] = mine.back();
          mine.pop_back();
        } else {
          std::lock_guard<std::mutex> g(pool_lock);
          if (r < 98 || pool.empty()) {
            pool.push_back(mine.back());
            mine.pop_back();
          } else {
            obj o = pool.back();
            pool.pop_back();
            release(o);
          }
        }
      }
      for (const obj &o : mine) release(o);
      running--;
    };
    std::thread shrinker([&] {
      host_set_cpu(ms.nr_cpus - 1);
      for (unsigned round = 0; running.load() > 0; round++) {
        for (kmem_cache *c : kmalloc_caches(sa)) kmem_cache_shrink(c);
        kmem_cache_shrink(shared);
        if (round % 8 == 0) shrink_slab(ms, GFP_KERNEL, 0);
      }
    });
    std::vector<std::thread> threads;
    host_release_cpu();  // the workers are CPUs 0..workers-1
    for (unsigned c = 0; c < workers; c++) threads.emplace_back(worker, c);
    for (std::thread &t : threads) t.join();
    shrinker.join();
    for (const obj &o : pool) release(o);
    EXPECT_EQ(corrupted.load(), 0);
    EXPECT_EQ(failed.load(), 0);
    EXPECT_GT(allocations.load(), 30000);
    EXPECT_EQ(sa.errors, 0ul);
    EXPECT_EQ(f.check(), "");
    EXPECT_EQ(kmem_cache_destroy(shared), 0);
    EXPECT_EQ(settle(f), initial);
    EXPECT_EQ(f.check(), "");
  }
}

// ================================================================ shrinking

// Fills caches with slabs and frees everything, so that each keeps its
// allowed free slabs and the slabs its CPU owns.
std::vector<kmem_cache *> caches_with_free_slabs(slab_fixture &f) {
  std::vector<kmem_cache *> out;
  out.push_back(kmem_cache_create(*f.sa, "shrink-a", 512, 0, 0, nullptr));
  out.push_back(kmem_cache_create(*f.sa, "shrink-b", 1000, 0, SLAB_RECLAIM_ACCOUNT, nullptr));
  for (kmem_cache *s : out) {
    if (!s) return {};
    std::vector<void *> objs;
    for (unsigned i = 0; i < 12 * s->objects; i++) objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
    for (void *p : objs) kmem_cache_free(s, p);
  }
  return out;
}

unsigned long slab_total(const slab_allocator &sa) {
  slab_totals t = slab_pages(sa);
  return t.reclaimable_pages + t.unreclaimable_pages;
}

// kmem_cache_shrink returns exactly the pages it gave back, counting those of
// the CPUs' slabs that it freed; so does the slab shrinker,
// and direct reclaim's progress is the pages it freed.
TEST(SlabShrink, ReportsThePagesItFreed) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  mem_system &ms = *f.mm.ms;
  std::vector<kmem_cache *> caches = caches_with_free_slabs(f);
  ASSERT_FALSE(caches.empty());
  for (kmem_cache *s : caches) {
    SCOPED_TRACE(s->name);
    // Up to min_partial free slabs with the node, up to 1 + cpu_partial_slabs with CPU 0.
    EXPECT_GE(s->node[0].nr_free, 1ul);
    EXPECT_LE(s->node[0].nr_free, s->min_partial);
    EXPECT_NE(s->cpu_slab[0].slab, nullptr);  // empty, and CPU 0's: only a shrink gives it back
    unsigned long before = slab_total(*f.sa);
    unsigned long freed = kmem_cache_shrink(s);
    EXPECT_EQ(before - slab_total(*f.sa), freed);
  }
  for (kmem_cache *s : caches) EXPECT_EQ(kmem_cache_destroy(s), 0);
  caches = caches_with_free_slabs(f);
  ASSERT_FALSE(caches.empty());
  unsigned long before = slab_total(*f.sa);
  unsigned long progress = try_to_free_pages(ms, GFP_KERNEL, 0, 0);
  EXPECT_EQ(before - slab_total(*f.sa), progress);
  before = slab_total(*f.sa);
  unsigned long freed = shrink_slab(ms, GFP_KERNEL, 0);
  EXPECT_EQ(before - slab_total(*f.sa), freed);
  EXPECT_EQ(f.check(), "");
}

// Reclaim takes back the free slabs caches keep: direct reclaim
// (try_to_free_pages) frees slab pages into the page allocator and reports
// progress; shrink_slab, repeated until it finds nothing, leaves no free
// slab and no slab owned by a CPU, so that shrinking each cache by hand
// finds nothing more; live objects are left alone.
TEST(SlabShrinker, ReclaimGivesEmptySlabsBack) {
  cpu_reset reset;
  for (layout_kind k : {layout_kind::single_zone, layout_kind::two_nodes}) {
    SCOPED_TRACE(layout_name(k));
    slab_fixture f;
    ASSERT_EQ(f.build(k), 0);
    slab_allocator &sa = *f.sa;
    mem_system &ms = *f.mm.ms;
    page_state initial = settle(f);
    std::vector<kmem_cache *> caches = caches_with_free_slabs(f);
    ASSERT_FALSE(caches.empty());
    for (kmem_cache *s : caches) ASSERT_GT(s->node[0].nr_free, 0ul) << s->name;
    // Some live objects, which reclaim must leave alone.
    std::vector<void *> live;
    for (int i = 0; i < 30; i++) live.push_back(kmem_cache_alloc(caches[0], GFP_KERNEL));
    for (void *p : live) memset(p, 0x3a, 512);
    slab_totals before = slab_pages(sa);
    unsigned long free_before = nr_free_pages(ms) + nr_free_pcp_pages(ms);
    unsigned long progress = try_to_free_pages(ms, GFP_KERNEL, 0, 0);
    slab_totals after = slab_pages(sa);
    EXPECT_GT(progress, 0ul);
    unsigned long dropped =
        before.reclaimable_pages + before.unreclaimable_pages - after.reclaimable_pages - after.unreclaimable_pages;
    EXPECT_GT(dropped, 0ul);
    EXPECT_EQ(nr_free_pages(ms) + nr_free_pcp_pages(ms) - free_before, dropped);
    EXPECT_EQ(f.check(), "");
    for (int round = 0; round < 20 && shrink_slab(ms, GFP_KERNEL, 0) > 0; round++) {
    }
    EXPECT_EQ(shrink_slab(ms, GFP_KERNEL, 0), 0ul);
    list_for_each(e, &sa.caches) {
      kmem_cache *s = list_entry(e, kmem_cache, list);
      for (const kmem_cache_node &n : s->node) EXPECT_EQ(n.nr_free, 0ul) << s->name;
      for (const kmem_cache_cpu &a : s->cpu_slab) EXPECT_TRUE(!a.slab && !a.nr_partial) << s->name;
    }
    unsigned long rest = slab_total(sa);
    list_for_each(e, &sa.caches) EXPECT_EQ(kmem_cache_shrink(list_entry(e, kmem_cache, list)), 0ul);
    EXPECT_EQ(slab_total(sa), rest);
    EXPECT_LE(slab_pages(sa).reclaimable_pages, initial.slab_reclaimable);
    for (void *p : live) EXPECT_TRUE(bytes_are(p, 512, 0x3a));
    EXPECT_EQ(f.check(), "");
    for (void *p : live) kmem_cache_free(caches[0], p);
    for (kmem_cache *s : caches) EXPECT_EQ(kmem_cache_destroy(s), 0);
    EXPECT_EQ(settle(f), initial);
  }
}

// With memory used up, an allocation that may sleep gets its page through
// direct reclaim, which takes the free slabs caches keep; one that may not
// sleep fails and leaves them alone. Nothing deadlocks: the reclaim runs
// from inside the slab allocator's own slab allocation.
TEST(SlabShrinker, DirectReclaimFeedsAllocations) {
  cpu_reset reset;
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  slab_allocator &sa = *f.sa;
  mem_system &ms = *f.mm.ms;
  page_state initial = settle(f);
  std::vector<kmem_cache *> hoards = caches_with_free_slabs(f);
  ASSERT_FALSE(hoards.empty());
  unsigned long kept = 0;
  for (kmem_cache *s : hoards) kept += s->node[0].nr_free << s->order;
  ASSERT_GT(kept, 4ul);
  // Used up for everything that may not sleep (which never reclaims).
  std::vector<std::pair<page *, unsigned>> filler;
  for (int order = MAX_PAGE_ORDER; order >= 0; order--)
    while (page *p = alloc_pages(ms, GFP_NOWAIT | __GFP_NOWARN, unsigned(order))) filler.push_back({p, unsigned(order)});
  kmem_cache *k2k = sa.kmalloc_caches[KMALLOC_NORMAL][kmalloc_index(2048)];
  ASSERT_EQ(k2k->node[0].nr_partial + k2k->node[0].nr_free + k2k->node[0].nr_full, 0ul);
  EXPECT_EQ(kmalloc(sa, 2048, GFP_NOWAIT), nullptr);
  unsigned long still = 0;
  for (kmem_cache *s : hoards) still += s->node[0].nr_free << s->order;
  EXPECT_EQ(still, kept) << "an allocation that may not sleep reclaimed";
  void *p = kmalloc(sa, 2048, GFP_KERNEL | __GFP_NOWARN);
  EXPECT_NE(p, nullptr) << "direct reclaim should have found " << kept << " pages of free slabs";
  unsigned long after = 0;
  for (kmem_cache *s : hoards) after += s->node[0].nr_free << s->order;
  EXPECT_LT(after, kept);
  EXPECT_EQ(f.check(), "");
  kfree(sa, p);
  for (auto [pg, order] : filler) __free_pages(ms, pg, order);
  for (kmem_cache *s : hoards) EXPECT_EQ(kmem_cache_destroy(s), 0);
  EXPECT_EQ(settle(f), initial);
  EXPECT_EQ(f.check(), "");
}

// Every kmalloc size class and a few large sizes come back usable, and giving
// everything back leaves both allocators consistent.
TEST(SlabSmoke, KmallocEverySizeAndBack) {
  for (layout_kind k : all_layouts) {
    SCOPED_TRACE(layout_name(k));
    slab_fixture f;
    ASSERT_EQ(f.build(k), 0);
    EXPECT_EQ(f.check(), "");
    std::vector<std::pair<u8 *, size_t>> held;
    for (size_t size : {1ul, 8ul, 13ul, 64ul, 96ul, 100ul, 192ul, 256ul, 1000ul, 4096ul, 8192ul, 9000ul, 70000ul}) {
      for (int i = 0; i < 40; i++) {
        u8 *p = static_cast<u8 *>(kmalloc(*f.sa, size, GFP_KERNEL));
        ASSERT_NE(p, nullptr) << size;
        EXPECT_GE(ksize(*f.sa, p), size);
        memset(p, int(size & 0xff), size);
        held.push_back({p, size});
      }
    }
    EXPECT_EQ(f.check(), "");
    for (auto [p, size] : held) {
      for (size_t i = 0; i < size; i++) ASSERT_EQ(p[i], u8(size & 0xff)) << size;
      kfree(*f.sa, p);
    }
    EXPECT_EQ(f.check(), "");
    EXPECT_EQ(f.sa->errors, 0ul);
  }
}

}  // namespace

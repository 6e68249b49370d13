// A slab allocator over a host mm_fixture: the same slab_allocator_init the
// kernel runs, over one of the fixture layouts. One at a time per process,
// like mm_fixture. Below it, what the slab and kmalloc tests share: the page
// allocator's free-area state, the kernel log, and bringing the allocator to
// rest.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "arch/host/physmem.h"
#include "kernel/printk.h"
#include "mm/check.h"
#include "mm/page_alloc.h"
#include "mm/slab_internal.h"
#include "mm/vmalloc.h"
#include "proptest/mm_fixture.h"

struct slab_fixture {
  mm_fixture mm;
  std::unique_ptr<slab_allocator> sa = std::make_unique<slab_allocator>();

  // Builds the layout and the slab allocator; 0 or the first error.
  int build(layout_kind k, slab_flags_t debug_flags = 0, unsigned long secret = 0x5eed) {
    if (int err = build_layout(mm, k)) return err;
    int err = slab_allocator_init(sa.get(), *mm.ms, debug_flags, secret);
    if (err == 0) system_slab = sa.get();
    return err;
  }
  ~slab_fixture() {
    if (system_slab == sa.get()) system_slab = nullptr;
  }

  // Both checkers; "" when every invariant holds.
  std::string check() const {
    static char buf[1 << 16];
    check_report r = make_check_report(buf, sizeof(buf));
    unsigned n = check_page_alloc(*mm.ms, r);
    n += check_slab(*sa, r);
    return n ? std::to_string(n) + " violations:\n" + std::string(buf) : std::string();
  }
};

// One test cache, "edge", of Size bytes on the single-zone layout, running as
// CPU 0: the setting of the tests of one cache's edge cases.
template <unsigned Size>
struct one_cache_test : ::testing::Test {
  slab_fixture f;
  kmem_cache *s = nullptr;

  void SetUp() override {
    ASSERT_EQ(f.build(layout_kind::single_zone), 0);
    host_set_cpu(0);
    s = kmem_cache_create(*f.sa, "edge", Size, 8, 0, nullptr);
    ASSERT_NE(s, nullptr);
  }
  void TearDown() override { host_set_cpu(0); }
};

namespace slabt {

// Where a double free finds the object the first free gave back.
enum class freed_where {
  cpu_slab,           // freed on its CPU's own slab
  slab_freelist,      // on a node's slab, no CPU's
  other_cpu,          // freed on its CPU's slab, freed again from another CPU
  remote_then_owner,  // freed from another CPU (pending), freed again on its own
  remote_twice,       // freed from another CPU twice
};
constexpr freed_where every_freed_where[] = {freed_where::cpu_slab, freed_where::slab_freelist, freed_where::other_cpu,
                                             freed_where::remote_then_owner, freed_where::remote_twice};

inline void flush_this_cpu(kmem_cache *s);

// The first free of a double free, done as `where` says: p (allocated by
// CPU 0 from s, which `alloc` and `release` serve) is freed by CPU 0 or 1,
// and for slab_freelist its slab goes to the node, kept there by a held
// neighbour (when p is its slab's last object, a later object takes p's
// part). Returns the object freed (nullptr if an allocation failed); what
// is still held goes to *held, for the caller to free at the end. The
// calling thread is CPU 0 again on return.
template <class Alloc, class Release>
u8 *free_first(freed_where where, const mem_system &ms, kmem_cache *s, u8 *p, Alloc alloc, Release release,
               std::vector<void *> *held) {
  void *keeper = nullptr;
  while (where == freed_where::slab_freelist && !keeper) {
    keeper = alloc();
    if (!keeper) return nullptr;
    if (addr_to_slab(ms, keeper) != addr_to_slab(ms, p)) {
      held->push_back(p);
      p = static_cast<u8 *>(keeper);
      keeper = nullptr;
    }
  }
  if (keeper) held->push_back(keeper);
  host_set_cpu(where == freed_where::remote_then_owner || where == freed_where::remote_twice ? 1 : 0);
  release(p);
  host_set_cpu(0);
  if (where == freed_where::slab_freelist) flush_this_cpu(s);
  return p;
}


// Runs the calling thread as CPU 0 again when a test ends, however it ends.
struct cpu_reset {
  ~cpu_reset() { host_set_cpu(0); }
};

inline uintptr_t uptr(const void *p) { return reinterpret_cast<uintptr_t>(p); }

// This CPU gives its slabs of s back to the nodes (what a shrink does to
// every CPU), so that freed objects sit on slabs no CPU owns.
inline void flush_this_cpu(kmem_cache *s) {
  unsigned long flags = local_lock_irqsave();
  flush_cpu_slabs(s, smp_processor_id());
  local_unlock_irqrestore(flags);
}

// An address as the kernel's %p prints it.
inline std::string addr_str(const void *p) {
  char buf[32];
  snprintf(buf, sizeof(buf), "0x%016lx", static_cast<unsigned long>(uptr(p)));
  return buf;
}

inline std::string read_log() {
  static char buf[64 * 1024];
  size_t n = log_buf_copy(buf, sizeof(buf));
  return std::string(buf, n);
}

// One managed zone's free-area state: its buddy lists by order, its free and
// per-CPU page counts.
struct zone_state {
  int nid, idx;
  std::array<unsigned long, NR_PAGE_ORDERS> nr_free;
  long free_pages, pcp_pages;
  bool operator==(const zone_state &) const = default;
};

inline std::ostream &operator<<(std::ostream &os, const zone_state &s) {
  os << "node " << s.nid << " zone " << s.idx << ": free " << s.free_pages << " pcp " << s.pcp_pages
     << " nr_free";
  for (unsigned long n : s.nr_free) os << " " << n;
  return os;
}

// The page allocator's state as a whole, with the slab pages in meminfo terms.
struct page_state {
  std::vector<zone_state> zones;
  unsigned long free_and_pcp;
  unsigned long slab_reclaimable, slab_unreclaimable;
  bool operator==(const page_state &) const = default;
};

inline std::ostream &operator<<(std::ostream &os, const page_state &s) {
  for (const zone_state &z : s.zones) os << "[" << z << "] ";
  return os << "free+pcp " << s.free_and_pcp << " SReclaimable " << s.slab_reclaimable << " SUnreclaim "
            << s.slab_unreclaimable;
}

inline page_state snapshot(const mem_system &ms) {
  page_state s{};
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) {
    if (!managed_zone(z)) continue;
    zone_state zs{};
    zs.nid = pgdat->node_id;
    zs.idx = z->idx;
    for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) zs.nr_free[o] = z->free_area[o].nr_free;
    zs.free_pages = zone_page_state_snapshot(z, NR_FREE_PAGES);
    zs.pcp_pages = zone_page_state_snapshot(z, NR_PCP_PAGES);
    s.zones.push_back(zs);
  }
  s.free_and_pcp = nr_free_pages(ms) + nr_free_pcp_pages(ms);
  s.slab_reclaimable = global_node_page_state_snapshot(ms, NR_SLAB_RECLAIMABLE);
  s.slab_unreclaimable = global_node_page_state_snapshot(ms, NR_SLAB_UNRECLAIMABLE);
  return s;
}

// The same without the buddy lists' shape: the pages each zone has free and
// the slab pages, for comparing machines whose long-lived objects may have
// moved (a vmalloc free-space node that another CPU reallocated sits on that
// CPU's slab; its old slab went back, the page counts did not change).
inline page_state page_counts(page_state s) {
  for (zone_state &z : s.zones) z.nr_free = {};
  return s;
}

// Every kmalloc cache that exists (nullptr entries skipped).
inline std::vector<kmem_cache *> kmalloc_caches(const slab_allocator &sa) {
  std::vector<kmem_cache *> out;
  for (auto &row : sa.kmalloc_caches)
    for (kmem_cache *c : row)
      if (c) out.push_back(c);
  return out;
}

// Brings the allocators to rest: the vmalloc ranges waiting for the lazy
// purge purged (when a vmalloc fixture over this slab set system_vmalloc:
// they hold vmap_area nodes and table pages), every kmalloc cache and the
// cache of caches shrunk, every per-CPU page list drained. Returns the
// state then.
inline page_state settle(slab_fixture &f) {
  if (system_vmalloc && system_vmalloc->sa == &*f.sa) vm_unmap_aliases(*system_vmalloc);
  for (kmem_cache *c : kmalloc_caches(*f.sa)) kmem_cache_shrink(c);
  kmem_cache_shrink(&f.sa->kmem_cache_boot);
  drain_all_pages(*f.mm.ms);
  return snapshot(*f.mm.ms);
}

// Whether every byte of [p, p + n) is v.
inline bool bytes_are(const void *p, size_t n, u8 v) {
  const u8 *b = static_cast<const u8 *>(p);
  size_t i = 0;
  u64 word;
  memset(&word, v, sizeof(word));
  for (; i + sizeof(word) <= n; i += sizeof(word)) {
    u64 x;
    memcpy(&x, b + i, sizeof(x));
    if (x != word) return false;
  }
  for (; i < n; i++)
    if (b[i] != v) return false;
  return true;
}

// The name of the kmalloc cache that serves size (at most 8 KiB) for type t.
inline std::string kmalloc_name(size_t size, kmalloc_cache_type t = KMALLOC_NORMAL) {
  static const char *const prefix[] = {"", "dma32-", "dma-", ""};
  static const char *const infix[] = {"", "", "", "rcl-"};
  for (size_t c : {8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192})
    if (size <= c)
      return std::string(prefix[t]) + "kmalloc-" + infix[t] +
             (c >= 1024 ? std::to_string(c / 1024) + "k" : std::to_string(c));
  return "?";
}

// The alignment a cache must give: what was asked, at least 8, and with
// SLAB_HWCACHE_ALIGN a cache line, halved while the object fits in half.
inline size_t expected_cache_align(unsigned size, unsigned align, slab_flags_t flags) {
  size_t a = std::max(align, 8u);
  if (flags & SLAB_HWCACHE_ALIGN) {
    size_t line = 64;
    while (size <= line / 2 && line > 8) line /= 2;
    a = std::max(a, line);
  }
  return a;
}

inline size_t count_of(const std::string &hay, const std::string &needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) n++;
  return n;
}

// What expect_report may take for granted.
struct report_opts {
  bool same_pages = true;    // the page allocator's state is unchanged by the call
  bool clean_before = true;  // both checkers are clean before the call
};

// One bad call and what must follow it: exactly one report, Linux's
// "BUG <name> (Not tainted): " line saying `what`, with the address, and a
// "FIX <name>: operation refused" line exactly when `refused`; the error
// counted (and as a refused operation when `refused`); no bad page;
// both checkers clean before and after; and the page allocator's state
// unchanged. Returns the log.
inline std::string expect_report(slab_fixture &f, const std::string &name, const void *addr, bool refused,
                                 const std::string &what, const std::function<void()> &call,
                                 report_opts opts = {}) {
  if (opts.clean_before) {
    EXPECT_EQ(f.check(), "") << "before the bad call";
  }
  page_state before = snapshot(*f.mm.ms);
  unsigned long errors = f.sa->errors, bad_frees = f.sa->bad_frees, bad_pages = f.mm.ms->bad_pages;
  log_buf_clear();
  call();
  std::string log = read_log();
  EXPECT_EQ(count_of(log, "BUG "), 1u) << log;
  EXPECT_NE(log.find("BUG " + name + " (Not tainted): "), std::string::npos) << log;
  EXPECT_NE(log.find(what), std::string::npos) << log;
  EXPECT_NE(log.find(addr_str(addr)), std::string::npos) << addr_str(addr) << " in\n" << log;
  // Linux's closing "FIX <cache>: ..." line says what was done about it:
  // here, for a refused operation, that nothing was.
  EXPECT_EQ(log.find("FIX " + name + ": operation refused") != std::string::npos, refused) << log;
  EXPECT_EQ(f.sa->errors, errors + 1);
  EXPECT_EQ(f.sa->bad_frees, bad_frees + (refused ? 1 : 0));
  EXPECT_EQ(f.mm.ms->bad_pages, bad_pages);
  if (opts.same_pages) {
    EXPECT_EQ(snapshot(*f.mm.ms), before);
  }
  EXPECT_EQ(f.check(), "") << "after the bad call";
  return log;
}

// A call that must be silent: nothing logged, no error counted, no state change.
inline void expect_no_report(slab_fixture &f, const std::function<void()> &call) {
  page_state before = snapshot(*f.mm.ms);
  unsigned long errors = f.sa->errors, bad_frees = f.sa->bad_frees;
  log_buf_clear();
  call();
  EXPECT_EQ(read_log(), "");
  EXPECT_EQ(f.sa->errors, errors);
  EXPECT_EQ(f.sa->bad_frees, bad_frees);
  EXPECT_EQ(snapshot(*f.mm.ms), before);
  EXPECT_EQ(f.check(), "");
}

// The allocator still serves after bad input: n objects taken with alloc()
// and held together are distinct, none is one of `held` (objects someone
// still has), each keeps its own fill until release() gives it back.
// Returns how often `watch` was handed out (at most once at a time).
inline unsigned expect_serving(slab_fixture &f, const std::function<void *()> &alloc,
                               const std::function<void(void *)> &release, size_t bytes, unsigned n,
                               const std::set<const void *> &held = {}, const void *watch = nullptr) {
  std::vector<u8 *> got;
  std::set<const void *> seen;
  unsigned watched = 0;
  for (unsigned i = 0; i < n; i++) {
    u8 *p = static_cast<u8 *>(alloc());
    EXPECT_NE(p, nullptr);
    if (!p) break;
    EXPECT_TRUE(seen.insert(p).second) << addr_str(p) << " handed out twice";
    EXPECT_EQ(held.count(p), 0u) << addr_str(p) << " is still held";
    watched += p == watch;
    memset(p, int(i * 7 + 1), bytes);
    got.push_back(p);
  }
  for (size_t i = 0; i < got.size(); i++) {
    EXPECT_TRUE(bytes_are(got[i], bytes, u8(i * 7 + 1))) << addr_str(got[i]);
    release(got[i]);
  }
  EXPECT_EQ(f.check(), "");
  return watched;
}

}  // namespace slabt

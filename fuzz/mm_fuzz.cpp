// libFuzzer target for the three allocators together: the page allocator,
// slab/kmalloc and vmalloc, on a small host machine built afresh for every
// input. The bytes are a program of allocator calls; after each call the
// checkers of mm/check.h must find nothing, every live allocation must keep
// the bytes written into it, and at the end, with everything freed, the
// zones must hold as many free pages as they did after setup.
//
// Byte format (every byte string is a valid program; a read past the end
// yields 0, so a short input is a short program). Changing this format
// invalidates fuzz/corpus, so extend it only by using values not yet used.
//
//   byte 0  machine:  bits 0-1 layout (0: one zone, 12 MiB, enough to group
//                     pages by mobility; 1: DMA/DMA32/
//                     Normal in 6 MiB; 2: two nodes of 4 MiB; 3: one zone,
//                     6 MiB with reserved holes), bits 2-3 CPUs - 1,
//                     bits 4-5 min_free_kbytes (0: Linux's rule, 64, 256,
//                     1024), bit 6 pcp_disabled, bit 7 a 16 MiB vmalloc
//                     range instead of the kernel's
//   byte 1  slab and faults: bit 0 SLAB_RED_ZONE, bit 1 SLAB_POISON on every
//                     cache; bits 2-7 = n: when n > 0, every (n+1)-th page
//                     allocation from then on fails (fault injection), and
//                     every (n+1)-th slab allocation (failslab)
//   then operations, up to MAX_OPS: one opcode byte (taken modulo NR_OPS)
//   and a fixed number of argument bytes per opcode:
//     OP_ALLOC_PAGES     order, gfp, nid      alloc_pages / alloc_pages_node; nid's bits 3-4
//                                             add mobility: none, __GFP_MOVABLE,
//                                             __GFP_RECLAIMABLE, both (a caller bug)
//     OP_GET_FREE_PAGES  order, gfp           __get_free_pages
//     OP_KMALLOC         size(2), gfp, how    kmalloc/kzalloc/kmalloc_node/kmalloc_array
//     OP_KREALLOC        pick, size(2), gfp   krealloc of a live kmalloc (or NULL)
//     OP_CACHE_CREATE    size(2), align, flags
//     OP_CACHE_ALLOC     cache, gfp, how      kmem_cache_alloc/zalloc/alloc_node
//     OP_CACHE_DESTROY   cache                frees its objects, then destroys it
//     OP_VMALLOC         size(2), how, gfp    vmalloc/vzalloc/vmalloc_node/vmalloc_user/vmalloc_32/__vmalloc
//     OP_VMAP            count, prot          vmap of freshly allocated pages
//     OP_FREE            pick, how            the right free for the handle (how: alternative forms)
//     OP_SET_CPU         cpu                  host_set_cpu
//     OP_MAINT           what, arg            drains, shrinkers, kswapd, ksize/vmalloc_to_page
//                                             (arg >= 0xf0 there: vm_unmap_aliases)
//     OP_BAD_FREE        pick, how            a wrong free that mm/ must report and refuse
//     OP_MOBILITY        what, arg            isolate or give back a pageblock, send requests
//                                             to the slow path (or back), the fragmentation reports
//   size(2) is little-endian; its top two bits scale the rest (see
//   decode_kmalloc_size). gfp is one byte: bits 0-2 zone modifiers (one of
//   them contradictory), bits 3-4 the type (GFP_KERNEL, GFP_ATOMIC,
//   GFP_NOWAIT, GFP_KERNEL|__GFP_NORETRY), bit 5 __GFP_ZERO, bit 6 __GFP_COMP,
//   bit 7 clear adds __GFP_NOWARN. "pick" chooses a live handle modulo their
//   number; an operation with nothing to act on does nothing.
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "arch/host/physmem.h"
#include "kernel/errno.h"
#include "kernel/numa.h"
#include "kernel/printk.h"
#include "mm/check.h"
#include "mm/compaction.h"
#include "mm/page_alloc.h"
#include "mm/page_isolation.h"
#include "mm/page_report.h"
#include "mm/slab.h"
#include "mm/vmalloc.h"
#include "mm/vmscan.h"
#include "mm/watermark.h"
#include "proptest/vmalloc_fixture.h"

namespace {

// Bounds that keep one input well under a millisecond or so of work per
// operation, so libFuzzer stays fast.
constexpr unsigned MAX_OPS = 400;
constexpr size_t MAX_LIVE = 128;
constexpr unsigned MAX_CACHES = 4;
constexpr unsigned VMAP_MAX = 8;
// Allocations up to this size get their every byte patterned; larger ones
// (page blocks, large kmallocs, vmalloc areas) the start and end of each page,
// where page-granular overlaps must show.
constexpr size_t WHOLE_PATTERN_MAX = 8192;
constexpr size_t SPAN_BYTES = 64;

enum op_code : u8 {
  OP_ALLOC_PAGES,
  OP_GET_FREE_PAGES,
  OP_KMALLOC,
  OP_KREALLOC,
  OP_CACHE_CREATE,
  OP_CACHE_ALLOC,
  OP_CACHE_DESTROY,
  OP_VMALLOC,
  OP_VMAP,
  OP_FREE,
  OP_SET_CPU,
  OP_MAINT,
  OP_BAD_FREE,
  OP_MOBILITY,
  NR_OPS
};

struct byte_reader {
  const u8 *data;
  size_t size;
  size_t at = 0;

  bool empty() const { return at >= size; }
  u8 next() { return at < size ? data[at++] : 0; }
  u16 next16() {
    u16 lo = next();
    return u16(lo | (next() << 8));
  }
};

enum handle_kind : u8 { H_PAGES, H_FREE_PAGES, H_KMALLOC, H_CACHE_OBJ, H_VMALLOC, H_VMAP };

const char *const kind_names[] = {"pages", "get_free_pages", "kmalloc", "cache", "vmalloc", "vmap"};

struct handle {
  handle_kind kind;
  u8 tag;              // seeds the pattern, so neighbours differ
  unsigned order;      // H_PAGES, H_FREE_PAGES
  unsigned cache;      // H_CACHE_OBJ: slot in fuzz_run::caches
  size_t size;         // bytes the pattern covers
  void *addr;          // direct-map or vmalloc address
  page *pg;            // H_PAGES
  unsigned nr_frames;  // H_VMAP: the frames behind the mapping, ours to free
  page *frames[VMAP_MAX];
};

// The error counters mm/ keeps; a bad free must raise exactly the expected one.
struct error_counts {
  unsigned long bad_pages, slab_errors, slab_bad_frees, vmalloc_errors;
  bool operator==(const error_counts &) const = default;
};

u8 pattern_byte(u8 tag, size_t off) { return u8(tag * 0x2f + off * 0x0b + (off >> 8)); }

size_t decode_kmalloc_size(u16 v) {
  size_t s = v & 0x3fff;
  switch (v >> 14) {
    case 0: return s & 0xff;
    case 1: return s;
    case 2: return s << 4;
    default: return s << 9;  // up to 8 MiB: past KMALLOC_MAX_SIZE too
  }
}

gfp_t decode_gfp(u8 g) {
  static const gfp_t zone_mods[8] = {0,
                                     __GFP_DMA,
                                     __GFP_DMA32,
                                     __GFP_HIGHMEM,
                                     __GFP_MOVABLE,
                                     __GFP_HIGHMEM | __GFP_MOVABLE,
                                     __GFP_DMA32 | __GFP_MOVABLE,
                                     __GFP_DMA | __GFP_DMA32};
  // Never __GFP_NOFAIL: on a machine this small it would spin for ever.
  static const gfp_t types[4] = {GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT, GFP_KERNEL | __GFP_NORETRY};
  gfp_t gfp = zone_mods[g & 7] | types[(g >> 3) & 3];
  if (g & 0x20) gfp |= __GFP_ZERO;
  if (g & 0x40) gfp |= __GFP_COMP;
  if (!(g & 0x80)) gfp |= __GFP_NOWARN;
  return gfp;
}

unsigned decode_order(u8 b) { return (b & 0x80) ? b % (MAX_PAGE_ORDER + 2) : b & 3; }

int decode_nid(u8 b) {
  static const int nids[4] = {NUMA_NO_NODE, 0, 1, 5};
  return nids[b & 3];
}

void fuzz_ctor(void *obj) { *static_cast<u8 *>(obj) = 0x5a; }

bool fail_alloc_page(void *ctx, gfp_t, unsigned);

struct fuzz_run {
  vmalloc_fixture f;
  mem_system *ms = nullptr;
  slab_allocator *sa = nullptr;
  vmalloc_system *vs = nullptr;
  unsigned nr_cpus = 1;
  std::vector<handle> live;
  kmem_cache *caches[MAX_CACHES] = {};
  std::vector<std::string> oplog;
  std::vector<long> baseline_free;  // NR_FREE_PAGES per managed zone, at rest after setup
  unsigned fail_every = 0;
  unsigned long alloc_attempts = 0;
  u8 next_tag = 1;

  // ---- reporting ----------------------------------------------------------------------
  void note(const char *fmt, ...) __attribute__((format(printf, 2, 3))) {
    char line[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    oplog.emplace_back(line);
  }

  [[noreturn]] void die(const char *fmt, ...) __attribute__((format(printf, 2, 3))) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    fprintf(stderr, "mm_fuzz: %s\n--- operations (%zu):\n", what, oplog.size());
    for (size_t i = 0; i < oplog.size(); i++) fprintf(stderr, "%4zu %s\n", i, oplog[i].c_str());
    std::string report = f.check();
    fprintf(stderr, "--- checkers: %s\n", report.empty() ? "clean" : report.c_str());
    static char klog[16384];
    size_t n = log_buf_copy(klog, sizeof(klog));
    fprintf(stderr, "--- kernel log (last %zu bytes):\n%.*s\n", n, int(n), klog);
    abort();
  }

  error_counts counts() const {
    return {ms->bad_pages, sa->errors, sa->bad_frees, vs->errors};
  }

  // ---- setup ----------------------------------------------------------------------------
  void setup(byte_reader &r) {
    u8 m = r.next(), s = r.next();
    mem_layout l{};
    std::vector<ram_range> ram;
    std::vector<std::pair<phys_addr_t, u64>> reserve;
    nr_cpus = 1 + ((m >> 2) & 3);
    static const int min_free[4] = {0, 64, 256, 1024};
    switch (m & 3) {
      case 0:
        l = layout_with_limits(0, PFN_4G, PFN_MAX, nr_cpus);
        ram = {{0x80000000, 12 * SZ_1M, 0}};
        break;
      case 1:
        l = layout_with_limits((3 * SZ_1M) >> PAGE_SHIFT, (5 * SZ_1M) >> PAGE_SHIFT, PFN_MAX, nr_cpus);
        ram = {{SZ_1M, 6 * SZ_1M, 0}};
        break;
      case 2:
        l = layout_with_limits(0, PFN_4G, PFN_MAX, nr_cpus);
        for (unsigned cpu = 0; cpu < nr_cpus; cpu++) l.cpu_to_node[cpu] = int(cpu * 2 / nr_cpus);
        ram = {{SZ_4G - 2 * SZ_1M, 4 * SZ_1M, 0}, {SZ_4G + 4 * SZ_1M, 4 * SZ_1M, 1}};
        break;
      default:
        l = layout_with_limits(0, PFN_4G, PFN_MAX, nr_cpus);
        ram = {{0x80000000, 6 * SZ_1M, 0}};
        reserve = {{0x80000000 + 2 * SZ_1M, SZ_1M}, {0x80000000 + 4 * SZ_1M + PAGE_SIZE, 3 * PAGE_SIZE}};
        break;
    }
    l.min_free_kbytes = min_free[(m >> 4) & 3];
    note("setup layout %u cpus %u min_free_kbytes %d pcp_disabled %u small_vmalloc %u slab_debug %#x "
         "fail_every %u",
         m & 3, nr_cpus, l.min_free_kbytes, (m >> 6) & 1, m >> 7, s & 3, s >> 2);

    mm_fixture &mm = f.slab.mm;
    if (int err = mm.build(ram, l, reserve)) die("mem_system_init failed: %d", err);
    ms = mm.ms.get();
    sa = f.slab.sa.get();
    vs = f.vs.get();
    slab_flags_t debug = ((s & 1) ? SLAB_RED_ZONE : 0) | ((s & 2) ? SLAB_POISON : 0);
    if (int err = slab_allocator_init(sa, *ms, debug, 0x5eed)) die("slab_allocator_init failed: %d", err);
    system_slab = sa;
    uintptr_t vend = (m & 0x80) ? VMALLOC_START_ADDR + 16 * SZ_1M : VMALLOC_END_ADDR;
    if (int err = vmalloc_init(vs, *ms, *sa, &f.pt, VMALLOC_START_ADDR, vend)) die("vmalloc_init failed: %d", err);
    if (int err = pgtable_init(&f.pt, vs->pt_ops)) die("pgtable_init failed: %d", err);
    system_vmalloc = vs;
    ms->pcp_disabled = (m >> 6) & 1;

    // The vmap_space's built-in first node is replaced by a kmalloc'ed one
    // at the first allocation and never comes back: take that step now, so
    // the baseline is the state every later teardown returns to.
    vfree(*vs, vmalloc(*vs, 1));
    settle();
    for_each_online_pgdat(*ms, pgdat) for_each_zone_of(pgdat, z) if (managed_zone(z))
        baseline_free.push_back(zone_page_state_snapshot(z, NR_FREE_PAGES));
    check_clean("after setup");
    // Only now: setup itself must not meet injected failures.
    fail_every = s >> 2;
    if (fail_every) {
      ms->should_fail_alloc_page = fail_alloc_page;
      ms->fail_alloc_ctx = this;
      // failslab too, at the same rhythm, counted on its own calls.
      sa->failslab.attr.probability = 100;
      sa->failslab.attr.interval = fail_every + 1;
      sa->failslab.attr.times = -1;
      sa->failslab.attr.verbose = 0;
      sa->failslab.ignore_gfp_reclaim = false;
    }
  }

  // Brings the allocators to rest, as slab_fixture's settle does.
  void settle() {
    vm_unmap_aliases(*vs);  // ranges waiting for the purge hold vmap_area nodes and table pages
    for (auto &row : sa->kmalloc_caches)
      for (kmem_cache *c : row)
        if (c) kmem_cache_shrink(c);
    for (kmem_cache *c : caches)
      if (c) kmem_cache_shrink(c);
    kmem_cache_shrink(&sa->kmem_cache_boot);
    drain_all_pages(*ms);
  }

  void check_clean(const char *when) {
    std::string report = f.check();
    if (!report.empty()) die("checker found violations %s", when);
  }

  // ---- contents -------------------------------------------------------------------------
  bool is_virtual(const handle &h) const { return h.kind == H_VMALLOC || h.kind == H_VMAP; }

  void write_at(const handle &h, size_t off, const void *src, size_t n) {
    if (is_virtual(h)) {
      if (!f.vwrite(reinterpret_cast<uintptr_t>(h.addr) + off, src, n))
        die("%s %p: offset %zu is not mapped", kind_names[h.kind], h.addr, off);
    } else {
      memcpy(static_cast<u8 *>(h.addr) + off, src, n);
    }
  }
  void read_at(const handle &h, size_t off, void *dst, size_t n) {
    if (is_virtual(h)) {
      if (!f.vread(reinterpret_cast<uintptr_t>(h.addr) + off, dst, n))
        die("%s %p: offset %zu is not mapped", kind_names[h.kind], h.addr, off);
    } else {
      memcpy(dst, static_cast<const u8 *>(h.addr) + off, n);
    }
  }

  // Calls fn(offset, length) for the parts of an allocation of `size` bytes
  // that carry the pattern, cut to [0, limit): where they lie depends on the
  // size only, so a shrunk krealloc finds the bytes it kept where they were.
  template <class F> static void for_each_span(size_t size, size_t limit, F fn) {
    auto clipped = [&](size_t off, size_t n) {
      if (off >= limit) return;
      fn(off, off + n <= limit ? n : limit - off);
    };
    if (size <= WHOLE_PATTERN_MAX) {
      if (size) clipped(0, size);
      return;
    }
    for (size_t pg = 0; pg < size; pg += PAGE_SIZE) {
      size_t end = pg + PAGE_SIZE < size ? pg + PAGE_SIZE : size;
      size_t head = end - pg < SPAN_BYTES ? end - pg : SPAN_BYTES;
      clipped(pg, head);
      if (end - pg > 2 * SPAN_BYTES) clipped(end - SPAN_BYTES, SPAN_BYTES);
    }
  }

  void fill(const handle &h) {
    if (!h.addr) return;
    static u8 buf[WHOLE_PATTERN_MAX];
    for_each_span(h.size, h.size, [&](size_t off, size_t n) {
      for (size_t i = 0; i < n; i++) buf[i] = pattern_byte(h.tag, off + i);
      write_at(h, off, buf, n);
    });
  }

  // The pattern must be intact in [0, limit).
  void verify(const handle &h, size_t limit, const char *when) {
    if (!h.addr) return;
    static u8 buf[WHOLE_PATTERN_MAX];
    for_each_span(h.size, limit, [&](size_t off, size_t n) {
      read_at(h, off, buf, n);
      for (size_t i = 0; i < n; i++)
        if (buf[i] != pattern_byte(h.tag, off + i))
          die("%s %p (%zu bytes, tag %u) %s: byte %zu is %#x, wrote %#x (overlap or stray write)",
              kind_names[h.kind], h.addr, h.size, h.tag, when, off + i, buf[i], pattern_byte(h.tag, off + i));
    });
  }

  void verify_zero(const handle &h, const char *what) {
    if (!h.addr) return;
    static u8 buf[WHOLE_PATTERN_MAX];
    for_each_span(h.size, h.size, [&](size_t off, size_t n) {
      read_at(h, off, buf, n);
      for (size_t i = 0; i < n; i++)
        if (buf[i]) die("%s %p from %s: byte %zu is %#x, not zero", kind_names[h.kind], h.addr, what, off + i, buf[i]);
    });
  }

  // Takes a new allocation into the table: zero check, pattern.
  void adopt(handle h, bool zeroed, const char *what) {
    // Nothing comes from an isolated pageblock.
    page *first = is_virtual(h) ? vmalloc_to_page(*vs, h.addr) : virt_to_page(*ms, h.addr);
    if (first)
      for (auto [z, b] : isolated)
        if (page_zone(*ms, first) == z && pageblock_start_pfn(page_to_pfn(*ms, first)) == b)
          die("%s handed out pfn %#lx of an isolated pageblock", what, page_to_pfn(*ms, first));
    h.tag = next_tag++;
    if (!next_tag) next_tag = 1;
    if (zeroed) verify_zero(h, what);
    fill(h);
    live.push_back(h);
  }

  bool room() const { return live.size() < MAX_LIVE; }

  // The index of a live handle chosen by b, among those of `kind` (any kind
  // when kind is NR), or -1.
  long pick(u8 b, int kind = -1) const {
    size_t n = 0;
    for (const handle &h : live) n += kind < 0 || h.kind == kind;
    if (!n) return -1;
    size_t want = b % n;
    for (size_t i = 0; i < live.size(); i++)
      if (kind < 0 || live[i].kind == kind) {
        if (!want) return long(i);
        want--;
      }
    return -1;
  }

  void forget(size_t i) {
    live[i] = live.back();
    live.pop_back();
  }

  // ---- the right free for each kind ------------------------------------------------------
  void release(const handle &h, u8 how) {
    verify(h, h.size, "before its free");
    switch (h.kind) {
      case H_PAGES:
        if (how & 1) put_page(*ms, h.pg);
        else __free_pages(*ms, h.pg, h.order);
        break;
      case H_FREE_PAGES:
        if (how & 1) __free_pages(*ms, virt_to_page(*ms, h.addr), h.order);
        else free_pages(*ms, reinterpret_cast<unsigned long>(h.addr), h.order);
        break;
      case H_KMALLOC:
        if (how % 3 == 1) kfree_sensitive(*sa, h.addr);
        else if (how % 3 == 2) {
          if (krealloc(*sa, h.addr, 0, GFP_KERNEL) != ZERO_SIZE_PTR) die("krealloc(p, 0) did not return ZERO_SIZE_PTR");
        } else kfree(*sa, h.addr);
        break;
      case H_CACHE_OBJ:
        if (how & 1) kfree(*sa, h.addr);
        else kmem_cache_free(caches[h.cache], h.addr);
        break;
      case H_VMALLOC: vfree(*vs, h.addr); break;
      case H_VMAP:
        vunmap(*vs, h.addr);
        for (unsigned i = 0; i < h.nr_frames; i++) __free_pages(*ms, h.frames[i], 0);
        break;
    }
  }

  // ---- operations -------------------------------------------------------------------------
  void op_alloc_pages(byte_reader &r) {
    unsigned order = decode_order(r.next());
    gfp_t gfp = decode_gfp(r.next());
    u8 nb = r.next();
    static const gfp_t mobility[4] = {0, __GFP_MOVABLE, __GFP_RECLAIMABLE, __GFP_MOVABLE | __GFP_RECLAIMABLE};
    gfp |= mobility[(nb >> 3) & 3];
    if (!room()) return;
    page *p = (nb & 4) ? alloc_pages_node(*ms, decode_nid(nb), gfp, order) : alloc_pages(*ms, gfp, order);
    note("alloc_pages order %u gfp %#x nid %d -> pfn %#lx", order, gfp, (nb & 4) ? decode_nid(nb) : -2,
         p ? page_to_pfn(*ms, p) : 0ul);
    if (!p) return;
    handle h{};
    h.kind = H_PAGES;
    h.pg = p;
    h.order = order;
    h.addr = page_address(*ms, p);
    h.size = PAGE_SIZE << order;
    adopt(h, gfp & __GFP_ZERO, "alloc_pages(__GFP_ZERO)");
  }

  void op_get_free_pages(byte_reader &r) {
    unsigned order = decode_order(r.next());
    gfp_t gfp = decode_gfp(r.next());
    if (!room()) return;
    unsigned long addr = __get_free_pages(*ms, gfp, order);
    note("__get_free_pages order %u gfp %#x -> %#lx", order, gfp, addr);
    if (!addr) return;
    handle h{};
    h.kind = H_FREE_PAGES;
    h.order = order;
    h.addr = reinterpret_cast<void *>(addr);
    h.size = PAGE_SIZE << order;
    adopt(h, gfp & __GFP_ZERO, "__get_free_pages(__GFP_ZERO)");
  }

  void op_kmalloc(byte_reader &r) {
    size_t size = decode_kmalloc_size(r.next16());
    gfp_t gfp = decode_gfp(r.next());
    u8 how = r.next();
    if (!room()) return;
    void *p;
    size_t bytes = size;
    bool zeroed = gfp & __GFP_ZERO;
    switch (how & 3) {
      case 0: p = kmalloc(*sa, size, gfp); break;
      case 1:
        p = kzalloc(*sa, size, gfp);
        zeroed = true;
        break;
      case 2: p = kmalloc_node(*sa, size, gfp, decode_nid(how >> 2)); break;
      default: {
        // Counts that overflow size_t must fail cleanly.
        size_t n = (how >> 2) == 63 ? SIZE_MAX / 2 : 1 + ((how >> 2) & 7);
        p = kmalloc_array(*sa, n, size, gfp);
        if (__builtin_mul_overflow(n, size, &bytes)) {
          if (p) die("kmalloc_array(%zu, %zu) overflows but returned %p", n, size, p);
          note("kmalloc_array n %zu size %zu overflows -> NULL", n, size);
          return;
        }
        break;
      }
    }
    note("kmalloc(how %u) size %zu gfp %#x -> %p", how & 3, bytes, gfp, p);
    if (ZERO_OR_NULL_PTR(p)) return;
    if (bytes == 0) die("kmalloc of 0 bytes returned %p, not ZERO_SIZE_PTR", p);
    if (ksize(*sa, p) < bytes) die("ksize(%p) = %zu < %zu requested", p, ksize(*sa, p), bytes);
    handle h{};
    h.kind = H_KMALLOC;
    h.addr = p;
    h.size = bytes;
    adopt(h, zeroed, "kzalloc");
  }

  void op_krealloc(byte_reader &r) {
    u8 b = r.next();
    size_t size = decode_kmalloc_size(r.next16());
    gfp_t gfp = decode_gfp(r.next());
    long i = pick(b, H_KMALLOC);
    if (i < 0) {
      if (!room()) return;
      void *p = krealloc(*sa, nullptr, size, gfp);
      note("krealloc(NULL, %zu, %#x) -> %p", size, gfp, p);
      if (ZERO_OR_NULL_PTR(p)) return;
      handle h{};
      h.kind = H_KMALLOC;
      h.addr = p;
      h.size = size;
      adopt(h, gfp & __GFP_ZERO, "krealloc(NULL, __GFP_ZERO)");
      return;
    }
    handle &h = live[size_t(i)];
    verify(h, h.size, "before krealloc");
    void *q = krealloc(*sa, h.addr, size, gfp);
    note("krealloc(%p, %zu -> %zu, %#x) -> %p", h.addr, h.size, size, gfp, q);
    if (size == 0) {
      if (q != ZERO_SIZE_PTR) die("krealloc(p, 0) returned %p", q);
      forget(size_t(i));
      return;
    }
    if (!q) {
      verify(h, h.size, "after a failed krealloc");
      return;
    }
    size_t old_size = h.size;
    h.addr = q;
    verify(h, size < old_size ? size : old_size, "after krealloc");
    h.size = size;
    fill(h);
  }

  void op_cache_create(byte_reader &r) {
    u16 v = r.next16();
    u8 a = r.next(), fl = r.next();
    unsigned size = (v & 0x8000) ? (v & 0x7fff) : (v & 0x1ff);
    static const unsigned aligns[9] = {0, 8, 16, 32, 64, 128, 4096, 24, 16384};
    unsigned align = aligns[a % 9];
    slab_flags_t flags = 0;
    if (fl & 0x01) flags |= SLAB_RED_ZONE;
    if (fl & 0x02) flags |= SLAB_POISON;
    if (fl & 0x04) flags |= SLAB_HWCACHE_ALIGN;
    if (fl & 0x08) flags |= SLAB_CACHE_DMA;
    if (fl & 0x10) flags |= SLAB_CACHE_DMA32;
    if (fl & 0x20) flags |= SLAB_RECLAIM_ACCOUNT;
    if (fl & 0x80) flags |= 0x1;  // a flag kmem_cache_create does not know
    unsigned slot = 0;
    while (slot < MAX_CACHES && caches[slot]) slot++;
    if (slot == MAX_CACHES) return;
    char name[16];
    snprintf(name, sizeof(name), "fuzz-%u", slot);
    caches[slot] = kmem_cache_create(*sa, name, size, align, flags, (fl & 0x40) ? fuzz_ctor : nullptr);
    note("kmem_cache_create %s size %u align %u flags %#x ctor %u -> %p", name, size, align, flags,
         (fl >> 6) & 1, static_cast<void *>(caches[slot]));
  }

  long pick_cache(u8 b) const {
    unsigned n = 0;
    for (kmem_cache *c : caches) n += c != nullptr;
    if (!n) return -1;
    unsigned want = b % n;
    for (unsigned i = 0; i < MAX_CACHES; i++)
      if (caches[i] && !want--) return long(i);
    return -1;
  }

  void op_cache_alloc(byte_reader &r) {
    u8 b = r.next();
    gfp_t gfp = decode_gfp(r.next());
    u8 how = r.next();
    long c = pick_cache(b);
    if (c < 0 || !room()) return;
    kmem_cache *s = caches[c];
    void *p;
    bool zeroed = false;
    switch (how % 3) {
      case 0: p = kmem_cache_alloc(s, gfp); break;
      case 1:
        p = kmem_cache_zalloc(s, gfp);
        zeroed = true;
        break;
      default: p = kmem_cache_alloc_node(s, gfp, decode_nid(how >> 2)); break;
    }
    note("kmem_cache_alloc(how %u) %s gfp %#x -> %p", how % 3, s->name, gfp, p);
    if (!p) return;
    handle h{};
    h.kind = H_CACHE_OBJ;
    h.cache = unsigned(c);
    h.addr = p;
    h.size = s->object_size;
    adopt(h, zeroed, "kmem_cache_zalloc");
  }

  void op_cache_destroy(byte_reader &r) {
    long c = pick_cache(r.next());
    if (c < 0) return;
    for (size_t i = live.size(); i-- > 0;)
      if (live[i].kind == H_CACHE_OBJ && live[i].cache == unsigned(c)) {
        release(live[i], 0);
        forget(i);
      }
    note("kmem_cache_destroy %s", caches[c]->name);
    if (int err = kmem_cache_destroy(caches[c])) die("kmem_cache_destroy of an empty cache returned %d", err);
    caches[c] = nullptr;
  }

  void op_vmalloc(byte_reader &r) {
    u16 v = r.next16();
    u8 how = r.next();
    gfp_t gfp = decode_gfp(r.next());
    unsigned long size = (v & 0x8000) ? (v & 0x7fffu) * 64ul : (v & 0x7fffu);
    if (!room()) return;
    void *p;
    bool zeroed = false;
    switch (how % 6) {
      case 0: p = vmalloc(*vs, size); break;
      case 1:
        p = vzalloc(*vs, size);
        zeroed = true;
        break;
      case 2: p = vmalloc_node(*vs, size, decode_nid(how >> 3)); break;
      case 3:
        p = vmalloc_user(*vs, size);
        zeroed = true;
        break;
      case 4: p = vmalloc_32(*vs, size); break;
      default:
        p = __vmalloc(*vs, size, gfp);
        zeroed = gfp & __GFP_ZERO;
        break;
    }
    note("vmalloc(how %u) size %lu gfp %#x -> %p", how % 6, size, gfp, p);
    if (!p) return;
    handle h{};
    h.kind = H_VMALLOC;
    h.addr = p;
    h.size = size;
    adopt(h, zeroed, "vzalloc");
  }

  void op_vmap(byte_reader &r) {
    u8 c = r.next(), pr = r.next();
    if (!room()) return;
    handle h{};
    h.kind = H_VMAP;
    h.nr_frames = c == 0xff ? 0 : 1 + c % VMAP_MAX;
    for (unsigned i = 0; i < h.nr_frames; i++) {
      h.frames[i] = alloc_pages(*ms, GFP_KERNEL | __GFP_NOWARN, 0);
      if (!h.frames[i]) {
        while (i-- > 0) __free_pages(*ms, h.frames[i], 0);
        note("vmap: frame allocation failed");
        return;
      }
    }
    static const unsigned prots[4] = {PROT_READ | PROT_WRITE, PROT_READ, PROT_READ | PROT_WRITE | PROT_EXEC, 0};
    unsigned prot = prots[pr & 3];
    void *p = vmap(*vs, h.frames, h.nr_frames, VM_MAP, prot);
    note("vmap %u frames prot %#x -> %p", h.nr_frames, prot, p);
    if (!p) {
      for (unsigned i = 0; i < h.nr_frames; i++) __free_pages(*ms, h.frames[i], 0);
      return;
    }
    h.addr = p;
    h.size = size_t(h.nr_frames) * PAGE_SIZE;
    adopt(h, false, "vmap");
  }

  void op_free(byte_reader &r) {
    u8 b = r.next(), how = r.next();
    long i = pick(b);
    if (i < 0) return;
    const handle &h = live[size_t(i)];
    note("free(how %u) %s %p order %u size %zu", how, kind_names[h.kind], h.addr, h.order, h.size);
    release(h, how);
    forget(size_t(i));
  }

  void op_maint(byte_reader &r) {
    u8 what = r.next(), arg = r.next();
    switch (what % 8) {
      case 0: note("drain_local_pages"); drain_local_pages(*ms); break;
      case 1: note("drain_all_pages"); drain_all_pages(*ms); break;
      case 2: note("drain_remote_node_pages"); drain_remote_node_pages(*ms); break;
      case 3: {
        long c = pick_cache(arg);
        kmem_cache *s = c >= 0 ? caches[c] : sa->kmalloc_caches[0][arg % NR_KMALLOC_SIZES];
        note("kmem_cache_shrink %s", s->name);
        kmem_cache_shrink(s);
        break;
      }
      case 4:
        note("shrink_slab nid %d", arg & 1);
        shrink_slab(*ms, GFP_KERNEL, arg & 1);
        break;
      case 5: note("kswapd_run"); kswapd_run(*ms); break;
      case 6: {
        long i = pick(arg, H_KMALLOC);
        if (i < 0) return;
        const handle &h = live[size_t(i)];
        size_t ks = ksize(*sa, h.addr);
        note("ksize %p -> %zu", h.addr, ks);
        if (ks < h.size) die("ksize(%p) = %zu < %zu", h.addr, ks, h.size);
        break;
      }
      default: {
        if (arg >= 0xf0) {
          // The lazy purge's forced form: nothing waits afterwards.
          note("vm_unmap_aliases (%lu pages waiting)", vs->vmap_lazy_nr);
          vm_unmap_aliases(*vs);
          if (vs->vmap_lazy_nr || vs->space.nr_lazy) die("vm_unmap_aliases left %lu pages waiting", vs->vmap_lazy_nr);
          return;
        }
        long i = pick(arg, H_VMALLOC);
        if (i < 0) return;
        const handle &h = live[size_t(i)];
        page *pg = vmalloc_to_page(*vs, h.addr);
        note("vmalloc_to_page %p -> pfn %#lx", h.addr, pg ? page_to_pfn(*ms, pg) : 0ul);
        if (!pg) die("vmalloc_to_page(%p) of a live area is NULL", h.addr);
        break;
      }
    }
  }

  // One deliberately wrong free. mm/ must report it (exactly one count goes
  // up) and change nothing: the checkers run after it like after any call,
  // and the handle's pattern is checked again when it is really freed.
  void op_bad_free(byte_reader &r) {
    u8 b = r.next(), how = r.next();
    long i = pick(b);
    if (i < 0) return;
    handle h = live[size_t(i)];
    error_counts want = counts();
    const u8 *p8 = static_cast<const u8 *>(h.addr);
    auto free_properly = [&] {
      release(h, 0);
      forget(size_t(i));
    };
    const char *what = "";
    switch (h.kind) {
      case H_PAGES:
        if (how % 3 == 2) {
          what = "double __free_pages";
          free_properly();
          __free_pages(*ms, h.pg, h.order);
        } else if (how % 3 == 1 && h.order > 0) {
          what = "__free_pages of the second page";
          __free_pages(*ms, h.pg + 1, 0);
        } else {
          what = "__free_pages with the wrong order";
          __free_pages(*ms, h.pg, h.order == MAX_PAGE_ORDER ? h.order - 1 : h.order + 1);
        }
        want.bad_pages++;
        break;
      case H_FREE_PAGES:
        if (how % 3 == 0) {
          what = "free_pages of an unaligned address";
          free_pages(*ms, reinterpret_cast<unsigned long>(p8 + 1), h.order);
          want.bad_pages++;
        } else if (how % 3 == 1) {
          what = "double free_pages";
          free_properly();
          free_pages(*ms, reinterpret_cast<unsigned long>(h.addr), h.order);
          want.bad_pages++;
        } else {
          what = "kfree of page-allocator pages";
          kfree(*sa, h.addr);
          want.slab_errors++, want.slab_bad_frees++;
        }
        break;
      case H_KMALLOC:
        switch (how % 4) {
          case 0:
            what = "double kfree";
            free_properly();
            kfree(*sa, h.addr);
            want.slab_errors++, want.slab_bad_frees++;
            break;
          case 1:
            what = "kfree inside an object";
            kfree(*sa, p8 + 1);
            want.slab_errors++, want.slab_bad_frees++;
            break;
          case 2: {
            what = "krealloc of a freed object";
            free_properly();
            if (void *q = krealloc(*sa, h.addr, 64, GFP_KERNEL)) die("krealloc of a freed object returned %p", q);
            want.slab_errors++, want.slab_bad_frees++;
            break;
          }
          default:
            what = "free_pages of a kmalloc object";
            free_pages(*ms, reinterpret_cast<unsigned long>(h.addr), 0);
            want.bad_pages++;
            break;
        }
        break;
      case H_CACHE_OBJ:
        switch (how % 4) {
          case 0:
            what = "double kmem_cache_free";
            free_properly();
            kmem_cache_free(caches[h.cache], h.addr);
            want.slab_errors++, want.slab_bad_frees++;
            break;
          case 1: {
            what = "kmem_cache_free to another cache";
            kmem_cache *other = sa->kmalloc_caches[0][3];
            for (unsigned c = 0; c < MAX_CACHES; c++)
              if (caches[c] && c != h.cache) other = caches[c];
            kmem_cache_free(other, h.addr);
            want.slab_errors++, want.slab_bad_frees++;
            break;
          }
          case 2:
            what = "kmem_cache_free inside an object";
            kmem_cache_free(caches[h.cache], const_cast<u8 *>(p8 + 1));
            want.slab_errors++, want.slab_bad_frees++;
            break;
          default:
            what = "kmem_cache_destroy of a cache in use";
            if (int err = kmem_cache_destroy(caches[h.cache]); err != -EBUSY)
              die("kmem_cache_destroy of a busy cache returned %d", err);
            want.slab_errors++;
            break;
        }
        break;
      case H_VMALLOC:
        switch (how % 4) {
          case 0:
            what = "double vfree";
            free_properly();
            vfree(*vs, h.addr);
            want.vmalloc_errors++;
            break;
          case 1:
            what = "vfree a page into the area";
            vfree(*vs, p8 + PAGE_SIZE);
            want.vmalloc_errors++;
            break;
          case 2:
            what = "vunmap of a vmalloc area";
            vunmap(*vs, h.addr);
            want.vmalloc_errors++;
            break;
          default:
            what = "kfree of a vmalloc address";
            kfree(*sa, h.addr);
            want.slab_errors++, want.slab_bad_frees++;
            break;
        }
        break;
      case H_VMAP:
        if (how & 1) {
          what = "vfree of a vmap area";
          vfree(*vs, h.addr);
        } else {
          what = "double vunmap";
          free_properly();
          vunmap(*vs, h.addr);
        }
        want.vmalloc_errors++;
        break;
    }
    note("bad free: %s (%s %p order %u size %zu)", what, kind_names[h.kind], h.addr, h.order, h.size);
    error_counts got = counts();
    if (!(got == want))
      die("%s: counts bad_pages %lu slab errors %lu refused %lu vmalloc errors %lu, expected %lu %lu %lu %lu",
          what, got.bad_pages, got.slab_errors, got.slab_bad_frees, got.vmalloc_errors, want.bad_pages,
          want.slab_errors, want.slab_bad_frees, want.vmalloc_errors);
  }

  void run_op(byte_reader &r) {
    u8 op = r.next() % NR_OPS;
    error_counts before = counts();
    switch (op) {
      case OP_ALLOC_PAGES: op_alloc_pages(r); break;
      case OP_GET_FREE_PAGES: op_get_free_pages(r); break;
      case OP_KMALLOC: op_kmalloc(r); break;
      case OP_KREALLOC: op_krealloc(r); break;
      case OP_CACHE_CREATE: op_cache_create(r); break;
      case OP_CACHE_ALLOC: op_cache_alloc(r); break;
      case OP_CACHE_DESTROY: op_cache_destroy(r); break;
      case OP_VMALLOC: op_vmalloc(r); break;
      case OP_VMAP: op_vmap(r); break;
      case OP_FREE: op_free(r); break;
      case OP_SET_CPU: {
        unsigned cpu = r.next() % nr_cpus;
        note("set cpu %u", cpu);
        host_set_cpu(cpu);
        break;
      }
      case OP_MAINT: op_maint(r); break;
      case OP_BAD_FREE: op_bad_free(r); break;
      default: op_mobility(r); break;
    }
    // Only a bad free may be reported; it checks its own counts.
    if (op != OP_BAD_FREE && !(counts() == before))
      die("a valid operation raised an error count (bad_pages %lu -> %lu, slab errors %lu -> %lu, vmalloc "
          "errors %lu -> %lu)",
          before.bad_pages, ms->bad_pages, before.slab_errors, sa->errors, before.vmalloc_errors, vs->errors);
    check_clean("after the last operation");
  }

  // ---- grouping by mobility -------------------------------------------------------------
  std::vector<std::pair<zone *, unsigned long>> isolated;  // pageblocks OP_MOBILITY isolated
  bool slow_path = false;  // watermarks set so that every request goes to the slow path

  // Low watermarks above every zone's free pages, min at 9/10 of them in
  // the zone with the most free memory for its size (high-order atomic
  // requests then reserve pageblocks); or Linux's rule back.
  void set_slow_path(bool on) {
    slow_path = on;
    ms->user_min_free_kbytes = 0;
    if (on) {
      unsigned long lowmem = 0, best_free = 0, best_managed = 1;
      for_each_online_pgdat(*ms, pgdat) for_each_zone_of(pgdat, z) {
        if (!managed_zone(z) || z->idx > ZONE_NORMAL) continue;
        lowmem += z->managed_pages;
        unsigned long free = unsigned(zone_page_state_snapshot(z, NR_FREE_PAGES));
        if (free * best_managed > best_free * z->managed_pages) best_free = free, best_managed = z->managed_pages;
      }
      ms->user_min_free_kbytes = int(best_free * 9 / 10 * lowmem / best_managed * (PAGE_SIZE >> 10)) + 1;
    }
    init_per_zone_wmark_min(*ms);
  }

  // Whether every page of the pageblock at b is free on the isolated lists
  // or movable (isolation takes movable pages too; they stay until moved).
  bool isolated_block_ok(unsigned long b) {
    if (!test_pages_isolated(*ms, b, b + pageblock_nr_pages)) return true;
    for (unsigned long pfn = b; pfn < b + pageblock_nr_pages; pfn++) {
      page *p = pfn_to_page(*ms, pfn);
      if (PageBuddy(p)) {
        pfn += (1ul << p->private_) - 1;
        continue;
      }
      if (!PageMovable(p)) return false;
    }
    return true;
  }

  void op_mobility(byte_reader &r) {
    u8 what = r.next(), arg = r.next();
    switch (what % 6) {
      case 0: {
        std::vector<zone *> zones;
        for_each_online_pgdat(*ms, pgdat) for_each_zone_of(pgdat, z) if (managed_zone(z)) zones.push_back(z);
        zone *z = zones[arg % zones.size()];
        unsigned long n = nr_pageblocks_spanned(z->zone_start_pfn, zone_end_pfn(z));
        unsigned long b = pageblock_start_pfn(z->zone_start_pfn) + ((arg >> 2) % n) * pageblock_nr_pages;
        int err = set_migratetype_isolate(*ms, pfn_to_page(*ms, b < z->zone_start_pfn ? z->zone_start_pfn : b));
        note("set_migratetype_isolate %s pageblock %#lx -> %d", z->name, b, err);
        if (err == 0) isolated.push_back({z, b});
        else if (err != -EBUSY && err != -EINVAL) die("set_migratetype_isolate returned %d", err);
        break;
      }
      case 1: {
        if (isolated.empty()) return;
        size_t i = arg % isolated.size();
        int mt = (arg >> 4) & 3;  // 3: MIGRATE_HIGHATOMIC, which must be refused
        auto [z, b] = isolated[i];
        int err = unset_migratetype_isolate(*ms, pfn_to_page(*ms, b), mt);
        note("unset_migratetype_isolate %s pageblock %#lx to %s -> %d", z->name, b, migratetype_names[mt], err);
        if (mt == MIGRATE_HIGHATOMIC ? err != -EINVAL : err != 0) die("unset_migratetype_isolate returned %d", err);
        if (!err) isolated.erase(isolated.begin() + long(i));
        break;
      }
      case 2:
        note("watermarks %s", slow_path ? "back to Linux's rule" : "over the free pages");
        set_slow_path(!slow_path);
        break;
      default: {
        note("pagetypeinfo, extfrag");
        seq_out discard = {[](void *, const char *, size_t) {}, nullptr};
        show_pagetypeinfo(*ms, discard);
        show_unusable_index(*ms, discard);
        show_extfrag_index(*ms, discard);
        for (auto [z, b] : isolated)
          if (!isolated_block_ok(b)) die("isolated pageblock %#lx holds a page neither free nor movable", b);
        break;
      }
      case 4: {
        std::vector<zone *> zones;
        for_each_online_pgdat(*ms, pgdat) for_each_zone_of(pgdat, z) if (managed_zone(z)) zones.push_back(z);
        if (arg & 0x80) {
          note("compact_memory");
          compact_memory(*ms);
          break;
        }
        // arg: bit 0 the zone, bits 1-4 the order, bits 5-6 the mode.
        compact_control cc = compact_control_for(*ms, zones[(arg & 1) % zones.size()],
                                                 int(((arg >> 1) & 15) % NR_PAGE_ORDERS),
                                                 migrate_mode(((arg >> 5) & 3) % 3));
        cc.alloc_flags = ALLOC_WMARK_MIN;
        cc.highest_zoneidx = int(MAX_NR_ZONES) - 1;
        cc.direct_compaction = true;
        compact_result res = compact_zone(&cc);
        note("compact_zone %s order %d mode %d -> %s, %lu migrated", cc.z->name, cc.order, int(cc.mode),
             compact_result_names[res], cc.nr_migrated);
        break;
      }
      case 5: {
        unsigned long nr = 1 + (unsigned long)arg * 23;  // 1 .. 5866 pages, beyond MAX_PAGE_ORDER too
        page *p = alloc_contig_pages(*ms, nr, GFP_KERNEL | __GFP_NOWARN, NUMA_NO_NODE);
        note("alloc_contig_pages %lu -> %p", nr, static_cast<void *>(p));
        if (!p) break;
        unsigned long pfn = page_to_pfn(*ms, p), align = 1;
        while (align < nr) align <<= 1;
        if (pfn % align) die("alloc_contig_pages(%lu) at pfn %#lx, not aligned to %lu", nr, pfn, align);
        for (unsigned long i = 0; i < nr; i++) {
          page *q = pfn_to_page(*ms, pfn + i);
          if (!q || page_ref_count(q) != 1 || PageBuddy(q) || PagePcp(q))
            die("alloc_contig_pages(%lu): pfn %#lx is not an allocated page", nr, pfn + i);
        }
        check_clean("alloc_contig_pages");
        if (free_contig_range(*ms, pfn, nr)) die("free_contig_range(%#lx, %lu) found bad pages", pfn, nr);
        break;
      }
    }
  }

  // Frees everything still held; then every zone must be back where setup left it.
  void teardown() {
    ms->should_fail_alloc_page = nullptr;
    sa->failslab.attr.probability = 0;
    if (slow_path) set_slow_path(false);
    for (auto [z, b] : isolated)
      if (int err = unset_migratetype_isolate(*ms, pfn_to_page(*ms, b), MIGRATE_MOVABLE))
        die("teardown: unset_migratetype_isolate returned %d", err);
    isolated.clear();
    note("teardown: %zu handles", live.size());
    while (!live.empty()) {
      release(live.back(), 0);
      live.pop_back();
    }
    for (kmem_cache *&c : caches)
      if (c) {
        if (int err = kmem_cache_destroy(c)) die("teardown: kmem_cache_destroy(%s) returned %d", c->name, err);
        c = nullptr;
      }
    settle();
    check_clean("after teardown");
    // Compared zone by zone: every page allocated must have come back to
    // the zone it came from, except that the few objects that outlive a
    // run (the vmap_space's free-range node, kmalloc'ed) may now sit in a
    // slab of another zone; so a zone may differ by a page only when the
    // total does not.
    std::string zones;
    long total_now = 0, total_then = 0, worst = 0;
    size_t k = 0;
    for_each_online_pgdat(*ms, pgdat) for_each_zone_of(pgdat, z) {
      if (!managed_zone(z)) continue;
      long now = zone_page_state_snapshot(z, NR_FREE_PAGES);
      char line[96];
      snprintf(line, sizeof(line), " node %d %s %ld (after setup %ld)", pgdat->node_id, zone_names[z->idx], now,
               baseline_free[k]);
      zones += line;
      total_now += now, total_then += baseline_free[k];
      long diff = now > baseline_free[k] ? now - baseline_free[k] : baseline_free[k] - now;
      if (diff > worst) worst = diff;
      k++;
    }
    note("teardown: free pages%s", zones.c_str());
    if (total_now != total_then || worst > 1) die("leak: free pages after teardown:%s", zones.c_str());
    if (sa->large_pages) die("leak: %lu large kmalloc pages after teardown", sa->large_pages);
    if (vs->vmalloc_pages) die("leak: %lu vmalloc pages after teardown", vs->vmalloc_pages);
  }
};

bool fail_alloc_page(void *ctx, gfp_t, unsigned) {
  fuzz_run *run = static_cast<fuzz_run *>(ctx);
  return ++run->alloc_attempts % (run->fail_every + 1) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  host_set_cpu(0);
  log_buf_clear();
  byte_reader r{data, size};
  auto run = std::make_unique<fuzz_run>();
  run->setup(r);
  for (unsigned n = 0; n < MAX_OPS && !r.empty(); n++) run->run_op(r);
  run->teardown();
  // MM_FUZZ_TRACE=1 shows what an input does, e.g. when replaying a seed.
  static const bool trace = getenv("MM_FUZZ_TRACE") != nullptr;
  if (trace)
    for (size_t i = 0; i < run->oplog.size(); i++) fprintf(stderr, "%4zu %s\n", i, run->oplog[i].c_str());
  host_set_cpu(0);
  return 0;
}

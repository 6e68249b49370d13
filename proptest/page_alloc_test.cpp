// Properties of the page allocator (mm/page_alloc): random sequences of
// allocations and frees over the host fixtures (one zone, three zones with
// ZONE_DMA, DMA32/Normal across 4 GiB, two nodes), checked after every step by
// mm/check and by this file's own walk of the free lists against a simple
// model: the set of blocks the test holds. Where an allocation must come from
// is decided by Linux's rules as mm-reference.md states them (zonelist order,
// the low watermark on the fast path, min with the request's reserves after
// it), computed here from the zone counters, never asked of the allocator.
// Then the per-CPU list rules, zeroed pages, the conversions, impossible
// requests, every kind of bad free, and threads as CPUs.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <ostream>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kernel/printk.h"
#include "mm/page_alloc.h"
#include "proptest/mm_fixture.h"
#include "proptest/model_case.h"

namespace {

// rc::gen::inRange narrows its range with the test size; choices here must
// span their whole range from the first case.
template <class T>
rc::Gen<T> uniform(T min, T max) {
  return rc::gen::resize(rc::kNominalSize, rc::gen::inRange<T>(min, max));
}

// Pointers as numbers, which RapidCheck can print.
uintptr_t uptr(const void *p) { return reinterpret_cast<uintptr_t>(p); }

std::string strf(const char *fmt, ...) __printf(1, 2);
std::string strf(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

// ------------------------------------------------------------------ layouts

// Layouts: layout_kind, all_layouts, layout_name, build_layout (proptest/mm_fixture.h).

// A physical address that no layout above has as RAM.
constexpr phys_addr_t HOLE = 16 * SZ_1G;

// Runs the calling thread as CPU 0 again when a test ends, however it ends.
struct cpu_reset {
  ~cpu_reset() { host_set_cpu(0); }
};

// ------------------------------------------------------- reading the zones

std::vector<zone *> managed_zones(const mem_system &ms) {
  std::vector<zone *> out;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) if (managed_zone(z)) out.push_back(z);
  return out;
}

// The zone and node that span pfn, found from the node and zone fields alone.
zone *zone_of_pfn(const mem_system &ms, unsigned long pfn) {
  for_each_online_pgdat(ms, pgdat) {
    if (pfn < pgdat->node_start_pfn || pfn >= pgdat_end_pfn(pgdat)) continue;
    for_each_zone_of(pgdat, z) if (z->spanned_pages && zone_spans_pfn(z, pfn)) return z;
  }
  return nullptr;
}

// The pfn of a struct page, found from the mem_maps alone.
long pfn_of_page(const mem_system &ms, const page *p) {
  for_each_online_pgdat(ms, pgdat) {
    if (p >= pgdat->node_mem_map && p < pgdat->node_mem_map + pgdat->node_spanned_pages)
      return long(pgdat->node_start_pfn + (p - pgdat->node_mem_map));
  }
  return -1;
}

page *page_of_pfn(const mem_system &ms, unsigned long pfn) {
  zone *z = zone_of_pfn(ms, pfn);
  return z ? z->zone_mem_map + (pfn - z->zone_start_pfn) : nullptr;
}

long pcp_pages_of(const zone *z) {
  long n = 0;
  for (const per_cpu_pages &pcp : z->pcp) n += pcp.count;
  return n;
}

// What "the free-area state" of a zone is: its buddy lists by order, its
// counters and its per-CPU counts.
struct zone_snapshot {
  int nid, idx;
  std::array<unsigned long, NR_PAGE_ORDERS> nr_free;
  long free_pages, pcp_pages, allocated;
  std::array<int, NR_CPUS> pcp_count;
  bool operator==(const zone_snapshot &) const = default;
};

std::ostream &operator<<(std::ostream &os, const zone_snapshot &s) {
  os << "node " << s.nid << " " << zone_names[s.idx] << ": free " << s.free_pages << " pcp "
     << s.pcp_pages << " allocated " << s.allocated << " nr_free";
  for (unsigned long n : s.nr_free) os << " " << n;
  os << " pcp counts";
  for (int c : s.pcp_count) os << " " << c;
  return os;
}

std::vector<zone_snapshot> snapshot(const mem_system &ms) {
  std::vector<zone_snapshot> out;
  for (zone *z : managed_zones(ms)) {
    zone_snapshot s{};
    s.nid = z->zone_pgdat->node_id;
    s.idx = z->idx;
    for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) s.nr_free[o] = z->free_area[o].nr_free;
    s.free_pages = zone_page_state_snapshot(z, NR_FREE_PAGES);
    s.pcp_pages = zone_page_state_snapshot(z, NR_PCP_PAGES);
    s.allocated = zone_page_state_snapshot(z, NR_ZONE_ALLOCATED);
    for (unsigned c = 0; c < NR_CPUS; c++) s.pcp_count[c] = z->pcp[c].count;
    out.push_back(s);
  }
  return out;
}

// ------------------------------------------------------- the model of blocks

// A block the test holds: what it asked for and what it got.
struct held_block {
  int id;
  unsigned long pfn;
  unsigned order;
  gfp_t gfp;
  page *head;
  u8 fill;  // every byte of the block holds this while the test has it
};

bool is_compound(const held_block &b) { return (b.gfp & __GFP_COMP) && b.order > 0; }

void *block_address(const mem_system &ms, const held_block &b) { return page_address(ms, b.head); }

void fill_block(const mem_system &ms, const held_block &b) {
  memset(block_address(ms, b), b.fill, PAGE_SIZE << b.order);
}

bool block_holds(const void *addr, u64 bytes, u8 v) {
  const u8 *a = static_cast<const u8 *>(addr);
  u64 word;
  memset(&word, v, sizeof(word));
  for (u64 i = 0; i < bytes; i += sizeof(word)) {
    u64 x;
    memcpy(&x, a + i, sizeof(x));
    if (x != word) return false;
  }
  return true;
}

// ---------------------------------------------------- the independent checker

// Walks every zone's buddy and per-CPU lists and compares them with the
// blocks the test holds. Returns one line per problem found: free blocks
// aligned, inside their zone and marked as such; lists as long as their
// counts; no free block overlapping another or a held block; no two free
// buddies of one order in one zone (merging complete); every managed page
// free, on a per-CPU list or held. With full_scan, also every struct page of
// every zone: the non-reserved pages are exactly the managed ones, and only
// list heads carry PG_buddy / PG_pcp.
std::string verify(const mem_system &ms, const std::map<int, held_block> &held, bool full_scan) {
  std::string out;
  auto fail = [&](const std::string &s) {
    if (out.size() < 4000) out += s + "\n";
  };
  struct range {
    unsigned long start, end;
    const char *what;
  };
  std::vector<range> ranges;
  std::map<zone *, long> held_pages;
  for (const auto &[id, b] : held) {
    ranges.push_back({b.pfn, b.pfn + (1ul << b.order), "held"});
    if (zone *z = zone_of_pfn(ms, b.pfn)) held_pages[z] += 1l << b.order;
  }
  for_each_online_pgdat(ms, pgdat) {
    for_each_zone_of(pgdat, z) {
      if (!z->spanned_pages) {
        if (z->managed_pages) fail(strf("%s: managed pages but no span", z->name));
        continue;
      }
      const char *zn = z->name;
      int nid = pgdat->node_id;
      std::set<std::pair<unsigned long, unsigned>> free_blocks;
      long buddy_pages = 0, buddy_blocks = 0, pcp_pages = 0, pcp_blocks = 0;
      auto in_zone = [&](const page *p, unsigned long *pfn) {
        if (p < z->zone_mem_map || p >= z->zone_mem_map + z->spanned_pages) return false;
        *pfn = z->zone_start_pfn + static_cast<unsigned long>(p - z->zone_mem_map);
        return true;
      };
      for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) {
        unsigned long n = 0;
        for (const list_head &type_list : z->free_area[o].free_list)
        for (const list_head *head = &type_list, *pos = head->next; pos != head; pos = pos->next) {
          if (++n > z->spanned_pages + 1) {
            fail(strf("node %d %s: free_area[%u] list does not end", nid, zn, o));
            break;
          }
          const page *p = list_entry(const_cast<list_head *>(pos), page, lru);
          unsigned long pfn;
          if (!in_zone(p, &pfn)) {
            fail(strf("node %d %s: free_area[%u] holds a page outside the zone", nid, zn, o));
            break;
          }
          if (!IS_ALIGNED(pfn, 1ul << o)) fail(strf("free block %#lx order %u misaligned", pfn, o));
          if (pfn + (1ul << o) > zone_end_pfn(z))
            fail(strf("free block %#lx order %u ends past %s", pfn, o, zn));
          if (!PageBuddy(p) || PagePcp(p) || PageReserved(p) || p->private_ != o)
            fail(strf("free block %#lx order %u: flags %#lx private %lu", pfn, o, p->flags,
                      p->private_));
          if (page_ref_count(p) != 0)
            fail(strf("free block %#lx has refcount %d", pfn, page_ref_count(p)));
          free_blocks.insert({pfn, o});
          ranges.push_back({pfn, pfn + (1ul << o), "buddy"});
          buddy_pages += 1l << o;
          buddy_blocks++;
        }
        if (n != z->free_area[o].nr_free)
          fail(strf("node %d %s: free_area[%u].nr_free %lu, list holds %lu", nid, zn, o,
                    z->free_area[o].nr_free, n));
      }
      for (auto [pfn, o] : free_blocks) {
        unsigned long buddy = pfn ^ (1ul << o);
        if (o < MAX_PAGE_ORDER && free_blocks.count({buddy, o}) && pfn < buddy) {
          // Across pageblocks, a highatomic or isolated one keeps apart.
          int mt = get_pfnblock_migratetype(z, pfn), bmt = get_pfnblock_migratetype(z, buddy);
          if (o >= pageblock_order && mt != bmt && (mt >= MIGRATE_PCPTYPES || bmt >= MIGRATE_PCPTYPES)) continue;
          fail(strf("node %d %s: buddies %#lx and %#lx both free at order %u", nid, zn, pfn, buddy,
                    o));
        }
      }
      for (unsigned c = 0; c < NR_CPUS; c++) {
        const per_cpu_pages &pcp = z->pcp[c];
        long count = 0;
        for (unsigned i = 0; i < NR_PCP_LISTS; i++) {
          const unsigned o = i / MIGRATE_PCPTYPES;
          const list_head *head = &pcp.lists[i];
          unsigned long n = 0;
          for (const list_head *pos = head->next; pos != head; pos = pos->next) {
            if (++n > z->spanned_pages + 1) {
              fail(strf("node %d %s: cpu %u pcp list %u does not end", nid, zn, c, o));
              break;
            }
            const page *p = list_entry(const_cast<list_head *>(pos), page, lru);
            unsigned long pfn;
            if (!in_zone(p, &pfn)) {
              fail(
                  strf("node %d %s: cpu %u pcp list %u holds a page outside "
                       "the zone",
                       nid, zn, c, o));
              break;
            }
            if (!IS_ALIGNED(pfn, 1ul << o))
              fail(strf("pcp block %#lx order %u misaligned", pfn, o));
            if (!PagePcp(p) || PageBuddy(p) || PageReserved(p) || p->private_ != o)
              fail(strf("pcp block %#lx order %u: flags %#lx private %lu", pfn, o, p->flags,
                        p->private_));
            ranges.push_back({pfn, pfn + (1ul << o), "pcp"});
            count += 1l << o;
            pcp_blocks++;
          }
        }
        if (count != pcp.count)
          fail(strf("node %d %s: cpu %u pcp count %d, lists hold %ld", nid, zn, c, pcp.count,
                    count));
        if (c >= ms.nr_cpus && count)
          fail(strf("node %d %s: cpu %u is not a CPU but has pcp pages", nid, zn, c));
        pcp_pages += count;
      }
      long mine = held_pages.count(z) ? held_pages[z] : 0;
      if (zone_page_state_snapshot(z, NR_FREE_PAGES) != buddy_pages)
        fail(strf("node %d %s: NR_FREE_PAGES %ld, buddy lists hold %ld", nid, zn,
                  zone_page_state_snapshot(z, NR_FREE_PAGES), buddy_pages));
      if (zone_page_state_snapshot(z, NR_PCP_PAGES) != pcp_pages)
        fail(strf("node %d %s: NR_PCP_PAGES %ld, pcp lists hold %ld", nid, zn,
                  zone_page_state_snapshot(z, NR_PCP_PAGES), pcp_pages));
      if (zone_page_state_snapshot(z, NR_ZONE_ALLOCATED) != mine)
        fail(strf("node %d %s: NR_ZONE_ALLOCATED %ld, the test holds %ld", nid, zn,
                  zone_page_state_snapshot(z, NR_ZONE_ALLOCATED), mine));
      if (long(z->managed_pages) != buddy_pages + pcp_pages + mine)
        fail(strf("node %d %s: managed %lu != free %ld + pcp %ld + held %ld", nid, zn,
                  z->managed_pages, buddy_pages, pcp_pages, mine));
      if (full_scan) {
        long unreserved = 0, buddy_flagged = 0, pcp_flagged = 0;
        for (unsigned long i = 0; i < z->spanned_pages; i++) {
          const page *p = z->zone_mem_map + i;
          if (page_zonenum(p) != z->idx || page_to_nid(p) != nid)
            fail(strf("pfn %#lx: page links say node %d zone %d", z->zone_start_pfn + i,
                      page_to_nid(p), page_zonenum(p)));
          unreserved += !PageReserved(p);
          buddy_flagged += PageBuddy(p);
          pcp_flagged += PagePcp(p);
        }
        if (unreserved != long(z->managed_pages))
          fail(strf("node %d %s: %ld pages not reserved, %lu managed", nid, zn, unreserved,
                    z->managed_pages));
        if (buddy_flagged != buddy_blocks || pcp_flagged != pcp_blocks)
          fail(
              strf("node %d %s: %ld PG_buddy / %ld PG_pcp pages for %ld / %ld "
                   "list entries",
                   nid, zn, buddy_flagged, pcp_flagged, buddy_blocks, pcp_blocks));
      }
    }
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const range &a, const range &b) { return a.start < b.start; });
  for (size_t i = 1; i < ranges.size(); i++)
    if (ranges[i].start < ranges[i - 1].end)
      fail(strf("%s [%#lx, %#lx) overlaps %s [%#lx, %#lx)", ranges[i].what, ranges[i].start,
                ranges[i].end, ranges[i - 1].what, ranges[i - 1].start, ranges[i - 1].end));
  return out;
}

// ------------------------------------------------ Linux's rules, as a model

// __zone_watermark_ok as mm-reference.md states it, over counts given by the
// caller. check_blocks off skips the per-order test (for upper bounds).
bool model_watermark_ok(const zone *z, unsigned order, long mark, int classzone, bool min_reserve,
                        bool non_block, long free, bool check_blocks) {
  free -= (1l << order) - 1;
  if (!min_reserve && !non_block) free -= long(z->nr_reserved_highatomic);
  long min = mark;
  if (min_reserve) {
    min -= min / 2;
    if (non_block) min -= min / 4;
  }
  if (free <= min + z->lowmem_reserve[classzone]) return false;
  if (order == 0 || !check_blocks) return true;
  // A block of an ordinary type; a highatomic one only for a high-order
  // request that may use the reserve (ALLOC_HIGHATOMIC).
  bool highatomic = min_reserve && non_block;
  for (unsigned o = order; o < NR_PAGE_ORDERS; o++) {
    const free_area &a = z->free_area[o];
    for (int mt = 0; mt < MIGRATE_PCPTYPES; mt++)
      if (!list_empty(&a.free_list[mt])) return true;
    if (highatomic && !list_empty(&a.free_list[MIGRATE_HIGHATOMIC])) return true;
  }
  return false;
}

// Whether z can serve a request of type mt on this CPU without mixing
// types in a pageblock (what ALLOC_NOFRAGMENT allows): from the CPU's list,
// from mt's own free blocks, or by stealing a whole pageblock or more.
bool serves_without_fragmenting(const mem_system &ms, const zone *z, unsigned order, int mt, unsigned cpu) {
  if (order <= PAGE_ALLOC_COSTLY_ORDER && !ms.pcp_disabled &&
      !list_empty(&z->pcp[cpu].lists[order_to_pindex(mt, order)]))
    return true;
  for (unsigned o = order; o < NR_PAGE_ORDERS; o++) {
    if (!list_empty(&z->free_area[o].free_list[mt])) return true;
    if (o < pageblock_order) continue;
    for (int other = 0; other < MIGRATE_PCPTYPES; other++)
      if (other != mt && !list_empty(&z->free_area[o].free_list[other])) return true;
  }
  return false;
}

// Linux's alloc_flags_nofragment: whether the first attempt of a request
// whose first zone is `first` avoids mixing types.
bool nofragment_applies(const mem_system &ms, const zone *first) {
  if (!first || first->idx != ZONE_NORMAL) return false;
  unsigned nodes = 0;
  for (const pglist_data *n : ms.node_data) nodes += n != nullptr;
  return nodes == 1 || populated_zone(&first->zone_pgdat->node_zones[ZONE_DMA32]);
}

// The reserves the slow path grants (gfp_to_alloc_flags).
bool gfp_min_reserve(gfp_t gfp) { return gfp & __GFP_HIGH; }
bool gfp_non_block(gfp_t gfp) { return !(gfp & __GFP_DIRECT_RECLAIM) && !(gfp & __GFP_NOMEMALLOC); }

// The zones a request may use, in the order it must try them: the preferred
// node's zones from classzone down, then the other nodes nearest first; only
// the preferred node with __GFP_THISNODE. The layouts here have at most two
// nodes, so no tie arises (Linux's tie-breaks: proptest/zonelist_test.cpp).
std::vector<zone *> model_zonelist(const mem_system &ms, int nid, int classzone, bool thisnode) {
  std::vector<int> nodes;
  for (int n = 0; n < int(MAX_NUMNODES); n++)
    if (ms.node_data[n] && (!thisnode || n == nid)) nodes.push_back(n);
  std::stable_sort(nodes.begin(), nodes.end(), [&](int a, int b) {
    int da = a == nid ? -1 : ms.node_distance[nid][a];
    int db = b == nid ? -1 : ms.node_distance[nid][b];
    return da < db;
  });
  std::vector<zone *> out;
  for (int n : nodes)
    for (int i = std::min(classzone, int(MAX_NR_ZONES) - 1); i >= 0; i--) {
      zone *z = &ms.node_data[n]->node_zones[i];
      if (managed_zone(z)) out.push_back(z);
    }
  return out;
}

// ------------------------------------------------------- bad-page reports

std::string read_log() {
  static char buf[64 * 1024];
  size_t n = log_buf_copy(buf, sizeof(buf));
  return std::string(buf, n);
}

struct bad_page_report {
  bool found = false;
  bool has_page_lines = false;
  std::string process, page_line, flags_hex, flags_names, reason;
  long refcount = 0, mapcount = 0;
};

// Finds the report about pfn in the log: Linux's
//   BUG: Bad page state in process NAME  pfn:XXXXX
//   page: refcount:R mapcount:M mapping:P index:I pfn:0xX
//   flags: 0xF(names)
//   page dumped because: REASON
bad_page_report find_bad_page_report(const std::string &log, unsigned long pfn) {
  bad_page_report r;
  std::smatch m;
  std::regex bug("BUG: Bad page state in process (\\S+)  pfn:([0-9a-f]{5,})\n");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), bug); it != std::sregex_iterator();
       ++it) {
    if (std::stoul((*it)[2].str(), nullptr, 16) != pfn) continue;
    r.found = true;
    r.process = (*it)[1].str();
    std::string rest = log.substr(size_t(it->position() + it->length()));
    std::regex page_re(
        "^page: refcount:(-?[0-9]+) mapcount:(-?[0-9]+) mapping:\\S+ "
        "index:\\S+ pfn:0x([0-9a-f]+)"
        "\n[^\n]*flags: 0x([0-9a-f]+)\\(([^\n]*)\\)\n(?:[^\n]*\n)*?page dumped "
        "because: ([^\n]+)"
        "\n");
    if (std::regex_search(rest, m, page_re) && std::stoul(m[3].str(), nullptr, 16) == pfn) {
      r.has_page_lines = true;
      r.refcount = std::stol(m[1].str());
      r.mapcount = std::stol(m[2].str());
      r.flags_hex = m[4].str();
      r.flags_names = m[5].str();
      r.reason = m[6].str();
    }
    break;
  }
  return r;
}

std::string expected_bug_line(unsigned long pfn) { return strf("pfn:%05lx\n", pfn); }

// ------------------------------------------------------------ the stateful
// test

struct alloc_model {
  layout_kind layout;
  unsigned nr_cpus;
  std::vector<int> nodes;    // nodes with memory
  std::vector<int> handles;  // allocations the commands may still free (some may have failed)
  int next_id = 0;
};

struct alloc_sut {
  mm_fixture f;
  std::map<int, held_block> live;
  std::vector<std::pair<unsigned long, unsigned>> freed;  // blocks given back, for double frees
  std::vector<zone_snapshot> initial;
  unsigned long bad_frees = 0;  // bad frees the test did on purpose
  int allocs_ok = 0, allocs_failed = 0;
  int refused_by_watermarks = 0;  // valid requests that failed
  int fell_back = 0;              // served by a zone after the first of the zonelist
  int slow_path = 0;              // served although no zone passed the low watermark
};

// What every command ends with: mm/check and the independent checker agree
// that the allocator is consistent with the blocks the test holds, and the
// bad-page count is exactly the bad frees the test did.
void check_step(alloc_sut &s) {
  std::string report = s.f.check();
  RC_ASSERT(report == std::string());
  std::string mine = verify(*s.f.ms, s.live, true);
  RC_ASSERT(mine == std::string());
  RC_ASSERT(s.f.ms->bad_pages == s.bad_frees);
}

enum class alloc_api { alloc_pages, alloc_pages_node, get_free_pages };

rc::Gen<gfp_t> gen_gfp() {
  return rc::gen::apply(
      [](gfp_t base, gfp_t zonemod, bool zero, bool comp, bool nowarn, bool high, bool thisnode,
         bool retry, gfp_t mobility) {
        gfp_t g = base | zonemod;
        // A reclaimable request is not movable as well, unless it asks for the bug.
        if (mobility == __GFP_RECLAIMABLE) g &= ~__GFP_MOVABLE;
        g |= mobility;
        if (zero) g |= __GFP_ZERO;
        if (comp) g |= __GFP_COMP;
        if (nowarn) g |= __GFP_NOWARN;
        if (high) g |= __GFP_HIGH;
        if (thisnode) g |= __GFP_THISNODE;
        if (retry) g |= __GFP_NORETRY;
        return g;
      },
      rc::gen::element(GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT, GFP_NOIO, GFP_NOFS, GFP_USER,
                       GFP_HIGHUSER, GFP_HIGHUSER_MOVABLE, gfp_t(0)),
      rc::gen::weightedElement<gfp_t>({{10, 0},
                                       {3, __GFP_DMA32},
                                       {2, __GFP_DMA},
                                       {1, __GFP_MOVABLE},
                                       {1, __GFP_DMA | __GFP_DMA32},
                                       {1, __GFP_DMA32 | __GFP_HIGHMEM},
                                       {1, __GFP_DMA | __GFP_HIGHMEM}}),
      rc::gen::weightedElement<bool>({{2, false}, {1, true}}),
      rc::gen::weightedElement<bool>({{2, false}, {1, true}}),
      rc::gen::weightedElement<bool>({{1, false}, {3, true}}),
      rc::gen::weightedElement<bool>({{5, false}, {1, true}}),
      rc::gen::weightedElement<bool>({{5, false}, {1, true}}),
      rc::gen::weightedElement<bool>({{5, false}, {1, true}}),
      // Mobility: mostly what the base type says; reclaimable; and now
      // and then both bits, a caller bug.
      rc::gen::weightedElement<gfp_t>({{12, 0}, {3, __GFP_RECLAIMABLE}, {1, __GFP_MOVABLE | __GFP_RECLAIMABLE}}));
}

rc::Gen<unsigned> gen_order() {
  return rc::gen::weightedOneOf<unsigned>(
      {{8, rc::gen::just(0u)},
       {6, uniform(1u, PAGE_ALLOC_COSTLY_ORDER + 1)},
       {4, uniform(PAGE_ALLOC_COSTLY_ORDER + 1, NR_PAGE_ORDERS)},
       {1, uniform(NR_PAGE_ORDERS, NR_PAGE_ORDERS + 4)}});
}

using alloc_cmd = rc::state::Command<alloc_model, alloc_sut>;

// Allocates `count` times with one request, checking each result against
// the model of Linux's rules before keeping it.
struct Alloc : alloc_cmd {
  int first_id;
  int count;
  gfp_t gfp;
  unsigned order;
  alloc_api api;
  unsigned cpu;
  int nid;  // for alloc_pages_node; NUMA_NO_NODE means the CPU's node

  explicit Alloc(const alloc_model &m)
      : first_id(m.next_id),
        count(*rc::gen::weightedOneOf<int>(
            {{10, rc::gen::just(1)}, {4, uniform(2, 48)}, {1, uniform(100, 400)}})),
        gfp(*gen_gfp()),
        order(*gen_order()),
        api(*rc::gen::weightedElement<alloc_api>({{3, alloc_api::alloc_pages},
                                                  {3, alloc_api::alloc_pages_node},
                                                  {1, alloc_api::get_free_pages}})),
        cpu(*uniform(0u, m.nr_cpus)),
        nid(*rc::gen::weightedOneOf<int>(
            {{4, rc::gen::elementOf(m.nodes)}, {1, rc::gen::just(NUMA_NO_NODE)}})) {}
  Alloc(int first_id_, int count_, gfp_t gfp_, unsigned order_, alloc_api api_, unsigned cpu_, int nid_)
      : first_id(first_id_), count(count_), gfp(gfp_), order(order_), api(api_), cpu(cpu_), nid(nid_) {}

  void apply(alloc_model &m) const override {
    for (int i = 0; i < count; i++) m.handles.push_back(first_id + i);
    m.next_id = std::max(m.next_id, first_id + count);
  }

  void run(const alloc_model &, alloc_sut &s) const override {
    mem_system &ms = *s.f.ms;
    host_set_cpu(cpu);
    for (int i = 0; i < count; i++) {
      RC_ASSERT(s.live.count(first_id + i) == 0u);
      one(s, ms, first_id + i);
    }
    check_step(s);
  }

  void one(alloc_sut &s, mem_system &ms, int id) const {
    // The request as the allocator sees it: __get_free_pages drops
    // __GFP_HIGHMEM, because its result must have an address.
    gfp_t eff = api == alloc_api::get_free_pages ? gfp & ~__GFP_HIGHMEM : gfp;
    int classzone = gfp_zone(eff);
    int pref =
        api == alloc_api::alloc_pages_node && nid != NUMA_NO_NODE ? nid : ms.cpu_to_node[cpu];
    const int mt = gfp_to_migratetype(ms, eff);
    const bool caller_bug = classzone == ZONE_INVALID || mt == MIGRATE_TYPE_INVALID;
    bool impossible = caller_bug || order > MAX_PAGE_ORDER;
    std::vector<zone *> zl = impossible ? std::vector<zone *>{}
                                        : model_zonelist(ms, pref, classzone, eff & __GFP_THISNODE);

    // Before: which zone the fast path must take (the first to pass the low
    // watermark with no reserves; while the request is not to fragment
    // Normal, the first of its own node that can serve it without mixing
    // types), and what each zone had.
    zone *fast = nullptr;
    std::map<zone *, std::pair<long, long>> before;  // free, pcp
    std::map<zone *, unsigned long> pgalloc;
    auto low_ok = [&](zone *z) {
      return model_watermark_ok(z, order, long(low_wmark_pages(z)), classzone, false, false,
                                zone_page_state(z, NR_FREE_PAGES), true);
    };
    if (!zl.empty() && nofragment_applies(ms, zl.front()))
      for (zone *z : zl) {
        if (z->zone_pgdat != zl.front()->zone_pgdat) break;
        if (low_ok(z) && serves_without_fragmenting(ms, z, order, mt, cpu)) {
          fast = z;
          break;
        }
      }
    for (zone *z : zl) {
      long free = zone_page_state_snapshot(z, NR_FREE_PAGES);
      before[z] = {free, pcp_pages_of(z)};
      pgalloc[z] = zone_events(z, PGALLOC);
      if (!fast && low_ok(z)) fast = z;
    }
    std::vector<zone_snapshot> snap = impossible ? snapshot(ms) : std::vector<zone_snapshot>{};
    if (impossible) log_buf_clear();

    page *p = nullptr;
    switch (api) {
      case alloc_api::alloc_pages: p = alloc_pages(ms, gfp, order); break;
      case alloc_api::alloc_pages_node: p = alloc_pages_node(ms, nid, gfp, order); break;
      case alloc_api::get_free_pages: {
        unsigned long addr = __get_free_pages(ms, gfp, order);
        p = addr ? virt_to_page(ms, reinterpret_cast<void *>(addr)) : nullptr;
        if (addr) RC_ASSERT(uptr(page_address(ms, p)) == addr);
        break;
      }
    }

    if (impossible) {
      // Orders above MAX_PAGE_ORDER, contradictory zone modifiers and both
      // mobility bits fail without touching anything. A too large order is
      // reported unless __GFP_NOWARN (and first); the others are caller
      // bugs, reported always (Linux's VM_BUG_ON in gfp_zone ignores
      // __GFP_NOWARN too).
      RC_ASSERT(p == nullptr);
      RC_ASSERT(snapshot(ms) == snap);
      if (order > MAX_PAGE_ORDER) RC_ASSERT(read_log().empty() == bool(gfp & __GFP_NOWARN));
      else RC_ASSERT(caller_bug && !read_log().empty());
      s.allocs_failed++;
      return;
    }
    if (!p) {
      // A failure only when no allowed zone could pass the slow path's
      // check (min with the request's reserves, a block of the order),
      // even after the per-CPU lists were drained.
      RC_ASSERT(fast == nullptr);
      for (zone *z : zl)
        RC_ASSERT(!model_watermark_ok(z, order, long(min_wmark_pages(z)), classzone,
                                      gfp_min_reserve(eff), gfp_non_block(eff),
                                      zone_page_state(z, NR_FREE_PAGES), true));
      s.allocs_failed++;
      s.refused_by_watermarks++;
      return;
    }

    long pfnl = pfn_of_page(ms, p);
    RC_ASSERT(pfnl >= 0);
    unsigned long pfn = static_cast<unsigned long>(pfnl);
    RC_ASSERT(page_to_pfn(ms, p) == pfn);
    zone *z = zone_of_pfn(ms, pfn);
    RC_ASSERT(z != nullptr);
    RC_ASSERT(page_zone(ms, p) == z);
    // 2^order frames, naturally aligned, in one zone the request allows.
    RC_ASSERT(IS_ALIGNED(pfn, 1ul << order));
    RC_ASSERT(pfn + (1ul << order) <= zone_end_pfn(z));
    RC_ASSERT(int(z->idx) <= classzone);
    RC_ASSERT(pfn + (1ul << order) <= ms.max_zone_pfn[classzone]);
    RC_ASSERT(std::find(zl.begin(), zl.end(), z) != zl.end());
    // The fast path takes the first zone above its low watermark; a zone
    // further down is used only when none was, and then only above the
    // reduced min (counting what a drain could have added, and the drift
    // of the total the check reads from the exact count before).
    if (z != zl.front()) s.fell_back++;
    if (fast) {
      RC_ASSERT(z == fast);
    } else {
      s.slow_path++;
      RC_ASSERT(model_watermark_ok(z, order, long(min_wmark_pages(z)), classzone,
                                   gfp_min_reserve(eff), gfp_non_block(eff),
                                   before[z].first + before[z].second + vmstat_drift(ms, z), false));
    }
    RC_ASSERT(zone_events(z, PGALLOC) - pgalloc[z] == 1ul << order);

    // The block: head with one reference, the rest with none, none of it
    // free or reserved, unmapped, and no overlap with anything the test holds.
    RC_ASSERT(page_ref_count(p) == 1);
    RC_ASSERT(unsigned(p->alloc_order) == order);
    for (unsigned long i = 0; i < (1ul << order); i++) {
      const page *q = p + i;
      RC_ASSERT(!PageBuddy(q));
      RC_ASSERT(!PagePcp(q));
      RC_ASSERT(!PageReserved(q));
      RC_ASSERT(q->_mapcount == -1);
      if (i) RC_ASSERT(page_ref_count(q) == 0);
    }
    if ((gfp & __GFP_COMP) && order > 0) {
      RC_ASSERT(PageHead(p));
      RC_ASSERT(compound_order(p) == order);
      for (unsigned long i = 1; i < (1ul << order); i++) {
        RC_ASSERT(PageTail(p + i));
        RC_ASSERT(compound_head(p + i) == p);
      }
    } else {
      RC_ASSERT(!PageHead(p));
      RC_ASSERT(compound_order(p) == 0u);  // Linux's: 0 for any page but a compound head
    }
    for (const auto &[oid, b] : s.live)
      RC_ASSERT(pfn + (1ul << order) <= b.pfn || b.pfn + (1ul << b.order) <= pfn);
    void *addr = page_address(ms, p);
    RC_ASSERT(uptr(addr) == uptr(phys_to_virt(PFN_PHYS(pfn))));
    if (gfp & __GFP_ZERO) RC_ASSERT(block_holds(addr, PAGE_SIZE << order, 0));

    held_block b{id, pfn, order, gfp, p, u8(0x5a ^ (id * 37) ^ 0x80)};
    fill_block(ms, b);
    s.live[id] = b;
    s.allocs_ok++;
  }

  void show(std::ostream &os) const override {
    const char *apis[] = {"alloc_pages", "alloc_pages_node", "get_free_pages"};
    os << "Alloc{/*first_id*/" << first_id << ", /*count*/" << count << ", " << modelcase::gfp_expr(gfp)
       << ", /*order*/" << order << ", alloc_api::" << apis[int(api)] << ", /*cpu*/" << cpu
       << ", /*nid*/" << modelcase::nid_expr(nid) << "}";
  }
};

enum class free_api { free_pages_page, free_pages_addr, put_page };

// Gives a held block back, after checking nobody wrote into it.
struct Free : alloc_cmd {
  int id;
  free_api api;
  unsigned cpu;

  explicit Free(const alloc_model &m)
      : id(*rc::gen::elementOf(m.handles)),
        api(*rc::gen::element(free_api::free_pages_page, free_api::free_pages_addr,
                              free_api::put_page)),
        cpu(*uniform(0u, m.nr_cpus)) {}
  Free(int id_, free_api api_, unsigned cpu_) : id(id_), api(api_), cpu(cpu_) {}

  void checkPreconditions(const alloc_model &m) const override {
    RC_PRE(std::find(m.handles.begin(), m.handles.end(), id) != m.handles.end());
  }
  void apply(alloc_model &m) const override {
    m.handles.erase(std::find(m.handles.begin(), m.handles.end(), id));
  }

  void run(const alloc_model &, alloc_sut &s) const override {
    auto it = s.live.find(id);
    if (it == s.live.end()) return;  // that allocation failed
    mem_system &ms = *s.f.ms;
    held_block b = it->second;
    host_set_cpu(cpu);
    RC_ASSERT(block_holds(block_address(ms, b), PAGE_SIZE << b.order, b.fill));
    s.live.erase(it);
    if (api == free_api::put_page && (b.order == 0 || is_compound(b)))
      put_page(ms, b.head);
    else if (api == free_api::free_pages_addr)
      free_pages(ms, reinterpret_cast<unsigned long>(block_address(ms, b)), b.order);
    else
      __free_pages(ms, b.head, b.order);
    RC_ASSERT(!PageHead(b.head));
    s.freed.push_back({b.pfn, b.order});
    check_step(s);
  }

  void show(std::ostream &os) const override {
    const char *apis[] = {"free_pages_page", "free_pages_addr", "put_page"};
    os << "Free{/*id*/" << id << ", free_api::" << apis[int(api)] << ", /*cpu*/" << cpu << "}";
  }
};

// A second reference keeps a block: dropping it frees nothing.
struct ExtraRef : alloc_cmd {
  int id;
  explicit ExtraRef(const alloc_model &m) : id(*rc::gen::elementOf(m.handles)) {}
  explicit ExtraRef(int id_) : id(id_) {}
  void checkPreconditions(const alloc_model &m) const override {
    RC_PRE(std::find(m.handles.begin(), m.handles.end(), id) != m.handles.end());
  }
  void run(const alloc_model &, alloc_sut &s) const override {
    auto it = s.live.find(id);
    // Only where Linux drops a reference without freeing tail pages.
    if (it == s.live.end() || (it->second.order > 0 && !is_compound(it->second))) return;
    mem_system &ms = *s.f.ms;
    const held_block &b = it->second;
    std::vector<zone_snapshot> snap = snapshot(ms);
    get_page(b.head);
    RC_ASSERT(page_ref_count(b.head) == 2);
    __free_pages(ms, b.head, b.order);
    RC_ASSERT(page_ref_count(b.head) == 1);
    RC_ASSERT(snapshot(ms) == snap);
    check_step(s);
  }
  void show(std::ostream &os) const override { os << "ExtraRef{/*id*/" << id << "}"; }
};

enum class bad_kind {
  wrong_order,
  tail,
  mapcount,
  slab,
  reserved_flag,
  double_free,
  reserved_page,
  outside_ram,
};

// Frees something that must not be freed: the allocator reports it, counts
// it, changes nothing, and the block stays the caller's.
struct BadFree : alloc_cmd {
  bad_kind kind;
  int id;  // -1 when no block is involved
  unsigned param;
  u64 seed;

  explicit BadFree(const alloc_model &m)
      : kind(*rc::gen::element(bad_kind::wrong_order, bad_kind::tail, bad_kind::mapcount,
                               bad_kind::slab, bad_kind::reserved_flag, bad_kind::double_free,
                               bad_kind::reserved_page, bad_kind::outside_ram)),
        id(m.handles.empty() ? -1 : *rc::gen::elementOf(m.handles)),
        param(*uniform(0u, 1024u)),
        seed(*rc::gen::arbitrary<u64>()) {}
  BadFree(bad_kind kind_, int id_, unsigned param_, u64 seed_) : kind(kind_), id(id_), param(param_), seed(seed_) {}

  void checkPreconditions(const alloc_model &m) const override {
    if (id >= 0) RC_PRE(std::find(m.handles.begin(), m.handles.end(), id) != m.handles.end());
  }

  void run(const alloc_model &, alloc_sut &s) const override {
    mem_system &ms = *s.f.ms;
    const held_block *b = nullptr;
    if (auto it = s.live.find(id); it != s.live.end()) b = &it->second;
    unsigned long pfn = 0;
    unsigned order = 0;
    page *target = nullptr;
    unsigned long addr = 0;  // free_pages(addr) instead of a page
    // The struct pages whose bytes must not change.
    unsigned long watch_pfn = 0, watch_n = 0;
    switch (kind) {
      case bad_kind::wrong_order:
      case bad_kind::mapcount:
      case bad_kind::slab:
      case bad_kind::reserved_flag:
        if (!b) return;
        pfn = b->pfn;
        target = b->head;
        order = b->order;
        if (kind == bad_kind::wrong_order)
          order = (b->order + 1 + param % MAX_PAGE_ORDER) % NR_PAGE_ORDERS;
        watch_pfn = b->pfn;
        watch_n = 1ul << b->order;
        break;
      case bad_kind::tail:
        if (!b || b->order == 0) return;
        pfn = b->pfn + 1 + param % ((1ul << b->order) - 1);
        order = unsigned(__builtin_ctzl(pfn));
        order = std::min(order, b->order - 1);
        order = unsigned(param / 16) % (order + 1);
        target = b->head + (pfn - b->pfn);
        watch_pfn = b->pfn;
        watch_n = 1ul << b->order;
        break;
      case bad_kind::double_free: {
        // A block given back earlier that nothing the test holds overlaps:
        // it is free now, on some list or inside a larger free block.
        std::vector<std::pair<unsigned long, unsigned>> cands;
        for (auto [fp, fo] : s.freed) {
          bool overlaps = false;
          for (const auto &[oid, h] : s.live)
            overlaps |= fp < h.pfn + (1ul << h.order) && h.pfn < fp + (1ul << fo);
          if (!overlaps) cands.push_back({fp, fo});
        }
        if (cands.empty()) return;
        std::tie(pfn, order) = cands[seed % cands.size()];
        target = page_of_pfn(ms, pfn);
        watch_pfn = pfn;
        watch_n = 1ul << order;
        break;
      }
      case bad_kind::reserved_page: {
        std::vector<unsigned long> reserved;
        for (zone *z : managed_zones(ms))
          for (unsigned long i = 0; i < z->spanned_pages; i++)
            if (PageReserved(z->zone_mem_map + i)) reserved.push_back(z->zone_start_pfn + i);
        if (reserved.empty()) return;
        pfn = reserved[seed % reserved.size()];
        target = page_of_pfn(ms, pfn);
        watch_pfn = pfn;
        watch_n = 1;
        break;
      }
      case bad_kind::outside_ram:
        pfn = PHYS_PFN(HOLE) + seed % 4096;
        addr = reinterpret_cast<unsigned long>(phys_to_virt(PFN_PHYS(pfn)));
        break;
    }

    // Corrupt the page the way the case needs, and remember it so.
    if (kind == bad_kind::mapcount) target->_mapcount = int(param % 3);
    if (kind == bad_kind::slab) set_page_flag(target, PG_slab);
    if (kind == bad_kind::reserved_flag) set_page_flag(target, PG_reserved);
    std::vector<page> pages_before;
    if (watch_n) {
      page *first = page_of_pfn(ms, watch_pfn);
      pages_before.assign(first, first + watch_n);
    }
    std::vector<zone_snapshot> snap = snapshot(ms);
    std::string check_before = s.f.check();
    zone *z = zone_of_pfn(ms, pfn);
    unsigned long pgbad = z ? zone_events(z, PGBAD) : 0;
    log_buf_clear();

    if (addr)
      free_pages(ms, addr, order);
    else
      __free_pages(ms, target, order);

    std::string log = read_log();
    s.bad_frees++;
    RC_ASSERT(ms.bad_pages == s.bad_frees);
    RC_ASSERT(log.find("BUG: Bad page state in process ") != std::string::npos);
    RC_ASSERT(log.find(expected_bug_line(pfn)) != std::string::npos);
    if (z) {
      bad_page_report r = find_bad_page_report(log, pfn);
      if (!r.found || !r.has_page_lines) RC_FAIL("no full bad-page report in the log:\n" + log);
      RC_ASSERT(!r.reason.empty());
      RC_ASSERT(zone_events(z, PGBAD) == pgbad + 1);
    }
    RC_ASSERT(snapshot(ms) == snap);
    RC_ASSERT(s.f.check() == check_before);
    if (watch_n) {
      page *first = page_of_pfn(ms, watch_pfn);
      RC_ASSERT(memcmp(first, pages_before.data(), watch_n * sizeof(page)) == 0);
    }
    if (kind == bad_kind::mapcount) target->_mapcount = -1;
    if (kind == bad_kind::slab) clear_page_flag(target, PG_slab);
    if (kind == bad_kind::reserved_flag) clear_page_flag(target, PG_reserved);
    if (b) RC_ASSERT(block_holds(block_address(ms, *b), PAGE_SIZE << b->order, b->fill));
    check_step(s);
  }

  void show(std::ostream &os) const override {
    const char *kinds[] = {"wrong_order",   "tail",        "mapcount",      "slab",
                           "reserved_flag", "double_free", "reserved_page", "outside_ram"};
    os << "BadFree{bad_kind::" << kinds[int(kind)] << ", /*id*/" << id << ", /*param*/" << param
       << ", /*seed*/" << modelcase::hex(seed) << "}";
  }
};

// Empties the per-CPU lists: of every CPU, or of one.
struct Drain : alloc_cmd {
  bool all;
  unsigned cpu;
  explicit Drain(const alloc_model &m)
      : all(*rc::gen::arbitrary<bool>()), cpu(*uniform(0u, m.nr_cpus)) {}
  Drain(bool all_, unsigned cpu_) : all(all_), cpu(cpu_) {}
  void run(const alloc_model &, alloc_sut &s) const override {
    mem_system &ms = *s.f.ms;
    host_set_cpu(cpu);
    std::vector<zone_snapshot> before = snapshot(ms);
    if (all)
      drain_all_pages(ms);
    else
      drain_local_pages(ms);
    std::vector<zone_snapshot> after = snapshot(ms);
    RC_ASSERT(before.size() == after.size());
    for (size_t i = 0; i < after.size(); i++) {
      for (unsigned c = 0; c < NR_CPUS; c++) {
        if (all || c == cpu)
          RC_ASSERT(after[i].pcp_count[c] == 0);
        else
          RC_ASSERT(after[i].pcp_count[c] == before[i].pcp_count[c]);
      }
      long drained = before[i].pcp_pages - after[i].pcp_pages;
      RC_ASSERT(after[i].free_pages == before[i].free_pages + drained);
    }
    check_step(s);
  }
  void show(std::ostream &os) const override {
    os << "Drain{/*all*/" << (all ? "true" : "false") << ", /*cpu*/" << cpu << "}";
  }
};

using alloc_cmds = rc::state::Commands<alloc_cmd>;

// One case of the property: a layout and what is done on it. It is the only
// value the property draws, so RapidCheck's counterexample is its listing.
struct alloc_case {
  layout_kind layout;
  alloc_cmds cmds;
};

void showValue(const alloc_case &c, std::ostream &os) {
  modelcase::show_case(os, "PAGE_ALLOC_REGRESSION", std::string("layout_kind::") + layout_name(c.layout), c.cmds);
}

// The model a layout starts from, from a throwaway build of it (once per
// layout): the commands are drawn before the case's own machine exists.
alloc_model initial_model(layout_kind layout) {
  static std::map<layout_kind, alloc_model> known;
  if (!known.count(layout)) {
    mm_fixture f;
    if (build_layout(f, layout) != 0) return {layout, 1, {0}, {}, 0};
    alloc_model m{layout, f.ms->nr_cpus, {}, {}, 0};
    for_each_online_pgdat(*f.ms, pgdat) m.nodes.push_back(pgdat->node_id);
    known[layout] = m;
  }
  return known.at(layout);
}

rc::Gen<alloc_case> gen_alloc_case() {
  return rc::gen::mapcat(
      rc::gen::elementOf(std::vector<layout_kind>(std::begin(all_layouts), std::end(all_layouts))),
      [](layout_kind layout) {
        return rc::gen::map(
            rc::gen::resize(100, rc::state::gen::commands(
                                     initial_model(layout),
                                     rc::state::gen::execOneOfWithArgs<Alloc, Alloc, Alloc, Free, Free, ExtraRef,
                                                                       BadFree, Drain>())),
            [layout](alloc_cmds cmds) { return alloc_case{layout, std::move(cmds)}; });
      });
}

// Runs a case: after each step the checkers agree with the model, and
// freeing everything and draining brings back exactly the initial free-area
// state. The property and the kept regressions both run this.
void run_alloc_case(const alloc_case &c) {
  cpu_reset reset;
  alloc_sut s;
  RC_ASSERT(build_layout(s.f, c.layout) == 0);
  mem_system &ms = *s.f.ms;
  s.initial = snapshot(ms);
  RC_ASSERT(s.f.check() == std::string());
  RC_ASSERT(verify(ms, s.live, true) == std::string());
  for (const zone_snapshot &z : s.initial) RC_ASSERT(z.pcp_pages == 0 && z.allocated == 0);

  alloc_model m0{c.layout, ms.nr_cpus, {}, {}, 0};
  for_each_online_pgdat(ms, pgdat) m0.nodes.push_back(pgdat->node_id);
  rc::state::runAll(c.cmds, m0, s);
  RC_CLASSIFY(s.refused_by_watermarks > 0, "refused by watermarks");
  RC_CLASSIFY(s.fell_back > 0, "zone fallback");
  RC_CLASSIFY(s.slow_path > 0, "served below low");
  RC_CLASSIFY(s.bad_frees > 0, "bad frees");

  host_set_cpu(0);
  for (auto &[id, b] : s.live) {
    RC_ASSERT(block_holds(block_address(ms, b), PAGE_SIZE << b.order, b.fill));
    __free_pages(ms, b.head, b.order);
  }
  s.live.clear();
  drain_all_pages(ms);
  // Everything merged back, across pageblocks of every ordinary type. A
  // pageblock that a high-order atomic request reserved stays highatomic,
  // and its free block apart from its buddy: there only the counts agree.
  std::vector<zone_snapshot> now = snapshot(ms);
  for (zone *z : managed_zones(ms))
    if (z->nr_reserved_highatomic)
      for (std::vector<zone_snapshot> *v : {&now, &s.initial})
        for (zone_snapshot &zs : *v)
          if (zs.nid == z->zone_pgdat->node_id && zs.idx == z->idx) zs.nr_free = {};
  RC_ASSERT(now == s.initial);
  RC_ASSERT(s.f.check() == std::string());
  RC_ASSERT(verify(ms, s.live, true) == std::string());
  unsigned long total = 0;
  for (const zone_snapshot &z : s.initial) total += z.free_pages;
  RC_ASSERT(nr_free_pages(ms) == total);
  RC_ASSERT(nr_free_pcp_pages(ms) == 0ul);
}

}  // namespace

MODEL_CASE_SHOW_TYPE(alloc_case, "proptest/regressions/page_alloc.inc");

namespace {

// Random sequences of allocations (every GFP type and zone modifier, orders
// 0..MAX_PAGE_ORDER and beyond, on every CPU and node), frees, extra
// references, bad frees and drains, on every layout.
RC_GTEST_PROP(PageAlloc, RandomSequencesKeepEveryInvariant, ()) {
  const alloc_case c = *gen_alloc_case();
  RC_TAG(layout_name(c.layout));
  run_alloc_case(c);
}

// Kept counterexamples and chosen sequences, each a TEST of its own.
#define PAGE_ALLOC_REGRESSION(name, layout, ...)                                                     \
  TEST(PageAllocRegression, name) {                                                                  \
    modelcase::expect_holds(                                                                         \
        [] { run_alloc_case(alloc_case{layout, modelcase::commands_of<alloc_cmd>(__VA_ARGS__)}); }); \
  }
#include "proptest/regressions/page_alloc.inc"

// ------------------------------------------------------------ per-CPU lists

// Order-0 allocations and frees on random CPUs move pages between the
// per-CPU lists and the buddy lists by Linux's static rule: an empty list is
// refilled with `batch` pages; a free that brings the count to `high` or
// more gives `batch` back. With the lists disabled, every page goes straight
// to and from the buddy lists.
RC_GTEST_PROP(PageAllocPcp, BatchAndHighRules, ()) {
  cpu_reset reset;
  mm_fixture f;
  RC_ASSERT(build_single_zone(f) == 0);
  mem_system &ms = *f.ms;
  const bool disabled = *rc::gen::weightedElement<bool>({{4, false}, {1, true}});
  ms.pcp_disabled = disabled;
  zone *z = managed_zones(ms).front();
  RC_ASSERT(z->pcp[0].batch >= 1);
  struct burst {
    bool alloc;
    unsigned cpu;
    int n;
  };
  const auto bursts = *rc::gen::container<std::vector<burst>>(rc::gen::apply(
      [](bool a, unsigned c, int n) {
        return burst{a, c, n};
      },
      rc::gen::arbitrary<bool>(), uniform(0u, ms.nr_cpus), uniform(1, 2 * z->pcp[0].high + 8)));
  std::vector<page *> held;
  std::map<int, held_block> none;
  std::mt19937 pick(*rc::gen::arbitrary<unsigned>());
  for (const burst &b : bursts) {
    host_set_cpu(b.cpu);
    per_cpu_pages &pcp = z->pcp[b.cpu];
    for (int i = 0; i < b.n; i++) {
      int count = pcp.count;
      long free = zone_page_state_snapshot(z, NR_FREE_PAGES);
      bool empty = list_empty(&pcp.lists[0]);
      if (b.alloc) {
        // Stay far above the watermarks, where a refill always gets a batch.
        if (held.size() >= 8000) break;
        page *p = alloc_pages(ms, GFP_KERNEL, 0);
        RC_ASSERT(p != nullptr);
        held.push_back(p);
        if (disabled) {
          RC_ASSERT(pcp.count == 0);
          RC_ASSERT(zone_page_state_snapshot(z, NR_FREE_PAGES) == free - 1);
        } else if (empty) {
          RC_ASSERT(pcp.count == pcp.batch - 1);
          RC_ASSERT(zone_page_state_snapshot(z, NR_FREE_PAGES) == free - pcp.batch);
        } else {
          RC_ASSERT(pcp.count == count - 1);
          RC_ASSERT(zone_page_state_snapshot(z, NR_FREE_PAGES) == free);
        }
      } else {
        if (held.empty()) break;
        size_t k = pick() % held.size();
        page *p = held[k];
        held[k] = held.back();
        held.pop_back();
        __free_pages(ms, p, 0);
        if (disabled) {
          RC_ASSERT(pcp.count == 0);
          RC_ASSERT(zone_page_state_snapshot(z, NR_FREE_PAGES) == free + 1);
        } else if (count + 1 >= pcp.high) {
          RC_ASSERT(pcp.count == count + 1 - pcp.batch);
          RC_ASSERT(zone_page_state_snapshot(z, NR_FREE_PAGES) == free + pcp.batch);
        } else {
          RC_ASSERT(pcp.count == count + 1);
          RC_ASSERT(zone_page_state_snapshot(z, NR_FREE_PAGES) == free);
        }
      }
    }
  }
  std::map<int, held_block> model;
  for (size_t i = 0; i < held.size(); i++)
    model[int(i)] = {int(i), page_to_pfn(ms, held[i]), 0, GFP_KERNEL, held[i], 0};
  RC_ASSERT(verify(ms, model, true) == std::string());
  RC_ASSERT(f.check() == std::string());
  for (page *p : held) __free_pages(ms, p, 0);
  drain_all_pages(ms);
  RC_ASSERT(verify(ms, none, true) == std::string());
}

// ------------------------------------------------------------ zeroed pages

// Pages handed out with __GFP_ZERO, or by get_zeroed_page, read zero even
// when every page was filled with garbage before it was freed.
TEST(PageAlloc, ZeroedPagesReadZeroAfterGarbage) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 16 * SZ_1M), 0);
  mem_system &ms = *f.ms;
  std::vector<page *> pages;
  for (page *p; (p = alloc_pages(ms, GFP_ATOMIC | __GFP_NOWARN, 0)) != nullptr;) {
    memset(page_address(ms, p), 0xa7, PAGE_SIZE);
    pages.push_back(p);
  }
  ASSERT_GT(pages.size(), 1000u);
  for (page *p : pages) __free_pages(ms, p, 0);
  size_t n = pages.size();
  pages.clear();
  for (size_t i = 0; i + 1 < n; i++) {
    page *p = alloc_pages(ms, GFP_ATOMIC | __GFP_ZERO | __GFP_NOWARN, 0);
    if (!p) break;
    ASSERT_TRUE(block_holds(page_address(ms, p), PAGE_SIZE, 0)) << "pfn " << page_to_pfn(ms, p);
    pages.push_back(p);
  }
  EXPECT_GT(pages.size(), 1000u);
  for (page *p : pages) __free_pages(ms, p, 0);
  // Higher orders and the address interface too.
  for (unsigned order = 1; order <= 6; order++) {
    unsigned long a = __get_free_pages(ms, GFP_KERNEL, order);
    ASSERT_NE(a, 0u);
    memset(reinterpret_cast<void *>(a), 0x3c, PAGE_SIZE << order);
    free_pages(ms, a, order);
    a = __get_free_pages(ms, GFP_KERNEL | __GFP_ZERO, order);
    ASSERT_NE(a, 0u);
    EXPECT_TRUE(block_holds(reinterpret_cast<void *>(a), PAGE_SIZE << order, 0)) << order;
    free_pages(ms, a, order);
  }
  unsigned long a = __get_free_page(GFP_KERNEL);
  ASSERT_NE(a, 0u);
  memset(reinterpret_cast<void *>(a), 0xff, PAGE_SIZE);
  free_page(a);
  a = get_zeroed_page(ms, GFP_KERNEL);
  ASSERT_NE(a, 0u);
  EXPECT_TRUE(block_holds(reinterpret_cast<void *>(a), PAGE_SIZE, 0));
  free_pages(ms, a, 0);
  drain_all_pages(ms);
  std::map<int, held_block> none;
  EXPECT_EQ(verify(ms, none, true), "");
}

// ------------------------------------------------------------ conversions

// pfn_to_page, page_to_pfn, page_zone, page_address and virt_to_page agree
// with the mem_maps and the direct map for every pfn of every layout, the
// kernel-instance forms agree with the explicit ones, and a pfn outside
// every node has no page.
RC_GTEST_PROP(PageAlloc, ConversionsAgree, ()) {
  const layout_kind layout =
      *rc::gen::elementOf(std::vector<layout_kind>(std::begin(all_layouts), std::end(all_layouts)));
  mm_fixture f;
  RC_ASSERT(build_layout(f, layout) == 0);
  const mem_system &ms = *f.ms;
  RC_ASSERT(system_mem == f.ms.get());
  for (int k = 0; k < 64; k++) {
    const ram_range &r = *rc::gen::elementOf(f.ram);
    unsigned long pfn = PHYS_PFN(r.base) + *uniform(0ul, r.size / PAGE_SIZE);
    page *p = pfn_to_page(ms, pfn);
    RC_ASSERT(p != nullptr);
    RC_ASSERT(pfn_of_page(ms, p) == long(pfn));
    RC_ASSERT(page_to_pfn(ms, p) == pfn);
    RC_ASSERT(pfn_valid(ms, pfn));
    RC_ASSERT(page_to_nid(p) == r.nid);
    zone *z = zone_of_pfn(ms, pfn);
    RC_ASSERT(z != nullptr);
    RC_ASSERT(page_zone(ms, p) == z);
    RC_ASSERT(page_zonenum(p) == z->idx);
    RC_ASSERT(pfn < ms.max_zone_pfn[z->idx]);
    RC_ASSERT(z->idx == 0 || pfn >= ms.max_zone_pfn[z->idx - 1]);
    RC_ASSERT(page_to_phys(ms, p) == PFN_PHYS(pfn));
    void *va = page_address(ms, p);
    RC_ASSERT(uptr(va) == uptr(phys_to_virt(PFN_PHYS(pfn))));
    u64 off = *uniform<u64>(0, PAGE_SIZE);
    RC_ASSERT(virt_to_page(ms, static_cast<char *>(va) + off) == p);
    RC_ASSERT(pfn_to_page(pfn) == p);
    RC_ASSERT(page_to_pfn(p) == pfn);
    RC_ASSERT(uptr(page_address(p)) == uptr(va));
    RC_ASSERT(virt_to_page(static_cast<char *>(va) + off) == p);
  }
  unsigned long hole = PHYS_PFN(HOLE) + *uniform(0ul, 1ul << 20);
  RC_ASSERT(pfn_to_page(ms, hole) == nullptr);
  RC_ASSERT(!pfn_valid(ms, hole));
  RC_ASSERT(pfn_to_page(ms, 0) == nullptr);
}

// ------------------------------------------------------------ impossible
// requests

// Orders above MAX_PAGE_ORDER fail with a warning (none with __GFP_NOWARN),
// contradictory zone modifiers with a warning always, and both leave
// everything as it was; a DMA
// request on a machine without ZONE_DMA fails too, and nothing is ever taken
// from a zone above the request's class.
TEST(PageAlloc, ImpossibleRequestsFailCleanly) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f), 0);
  mem_system &ms = *f.ms;
  std::vector<zone_snapshot> before = snapshot(ms);
  const gfp_t bad_zones[] = {__GFP_DMA | __GFP_DMA32, __GFP_DMA32 | __GFP_HIGHMEM,
                             __GFP_DMA | __GFP_HIGHMEM};
  for (gfp_t zm : bad_zones) {
    for (gfp_t nowarn : {gfp_t(0), __GFP_NOWARN}) {
      log_buf_clear();
      EXPECT_EQ(alloc_pages(ms, GFP_KERNEL | zm | nowarn, 0), nullptr) << zm;
      // A caller bug: reported even with __GFP_NOWARN.
      EXPECT_FALSE(read_log().empty()) << "gfp " << (GFP_KERNEL | zm | nowarn);
    }
  }
  for (unsigned order : {NR_PAGE_ORDERS, NR_PAGE_ORDERS + 1, 31u, 63u, 64u, ~0u}) {
    for (gfp_t nowarn : {gfp_t(0), __GFP_NOWARN}) {
      log_buf_clear();
      EXPECT_EQ(alloc_pages(ms, GFP_KERNEL | nowarn, order), nullptr) << order;
      EXPECT_EQ(__get_free_pages(ms, GFP_ATOMIC | nowarn, order), 0ul) << order;
      EXPECT_EQ(read_log().empty(), nowarn != 0) << "order " << order;
    }
  }
  // No ZONE_DMA here: the request has no zone at all.
  EXPECT_EQ(alloc_pages(ms, GFP_KERNEL | GFP_DMA | __GFP_NOWARN, 0), nullptr);
  EXPECT_EQ(snapshot(ms), before);
  EXPECT_EQ(ms.bad_pages, 0ul);
  // free_pages(0) is a no-op, not a bad page.
  log_buf_clear();
  free_pages(ms, 0, 0);
  EXPECT_EQ(ms.bad_pages, 0ul);
  EXPECT_EQ(read_log(), "");
  EXPECT_EQ(snapshot(ms), before);
}

// ------------------------------------------------------------ bad pages

// One bad free, with everything the brief asks of it: the report names the
// pfn and dumps the page, ms.bad_pages and the zone's PGBAD count it, the
// free-area state, the checker's verdict and the struct pages involved are
// untouched.
struct bad_free_result {
  bad_page_report report;
  std::string log;
};

bad_free_result expect_bad_free(mm_fixture &f, unsigned long pfn, unsigned long watch_pfn,
                                unsigned long watch_n, const std::function<void()> &call) {
  mem_system &ms = *f.ms;
  std::vector<page> before;
  if (watch_n) {
    page *first = page_of_pfn(ms, watch_pfn);
    before.assign(first, first + watch_n);
  }
  std::vector<zone_snapshot> snap = snapshot(ms);
  std::string check_before = f.check();
  unsigned long bad = ms.bad_pages;
  zone *z = zone_of_pfn(ms, pfn);
  unsigned long pgbad = z ? zone_events(z, PGBAD) : 0;
  log_buf_clear();
  call();
  bad_free_result r;
  r.log = read_log();
  r.report = find_bad_page_report(r.log, pfn);
  EXPECT_EQ(ms.bad_pages, bad + 1);
  EXPECT_TRUE(r.report.found) << r.log;
  EXPECT_NE(r.log.find(expected_bug_line(pfn)), std::string::npos) << r.log;
  if (z) {
    EXPECT_TRUE(r.report.has_page_lines) << r.log;
    EXPECT_FALSE(r.report.reason.empty()) << r.log;
    EXPECT_EQ(zone_events(z, PGBAD), pgbad + 1);
  }
  EXPECT_EQ(snapshot(ms), snap);
  EXPECT_EQ(f.check(), check_before);
  if (watch_n) {
    page *first = page_of_pfn(ms, watch_pfn);
    EXPECT_EQ(memcmp(first, before.data(), watch_n * sizeof(page)), 0) << "pfn " << watch_pfn;
  }
  return r;
}

// After the bad frees, the allocator still serves and frees normally and,
// once everything is back, its free-area state is the initial one.
void expect_still_serving(mm_fixture &f, const std::vector<zone_snapshot> &initial) {
  mem_system &ms = *f.ms;
  std::vector<page *> got;
  for (unsigned order = 0; order <= MAX_PAGE_ORDER; order += 2) {
    page *p = alloc_pages(ms, GFP_KERNEL, order);
    ASSERT_NE(p, nullptr) << order;
    got.push_back(p);
  }
  for (size_t i = 0; i < got.size(); i++) __free_pages(ms, got[i], unsigned(2 * i));
  drain_all_pages(ms);
  EXPECT_EQ(snapshot(ms), initial);
  EXPECT_EQ(f.check(), "");
  std::map<int, held_block> none;
  EXPECT_EQ(verify(ms, none, true), "");
}

std::string flag_hex(const page *p) { return strf("%lx", p->flags); }

// Freeing a page twice is reported whether the first free left it on a
// per-CPU list, at the head of a buddy block, or merged inside one.
// Runs a test body on a fresh fixture of every layout, with the layout's
// initial free-area state, on CPU 0.
template <class F>
void on_every_layout(F &&body) {
  cpu_reset reset;
  for (layout_kind layout : all_layouts) {
    SCOPED_TRACE(layout_name(layout));
    mm_fixture f;
    ASSERT_EQ(build_layout(f, layout), 0);
    body(f, *f.ms, snapshot(*f.ms));
  }
}

TEST(PageAllocBadPage, DoubleFree) {
  on_every_layout([](mm_fixture &f, mem_system &ms, const std::vector<zone_snapshot> &initial) {
    unsigned long reports = 0;

    // On a per-CPU list.
    page *p = alloc_pages(ms, GFP_KERNEL, 0);
    ASSERT_NE(p, nullptr);
    unsigned long pfn = page_to_pfn(ms, p);
    __free_pages(ms, p, 0);
    ASSERT_TRUE(PagePcp(p));
    auto r = expect_bad_free(f, pfn, pfn, 1, [&] { __free_pages(ms, p, 0); });
    reports++;
    EXPECT_EQ(r.report.flags_hex, flag_hex(p));
    EXPECT_NE(r.report.flags_names.find("pcp"), std::string::npos) << r.log;

    // At the head of a free buddy block (order 4 never goes through a
    // per-CPU list), unless it merged at once.
    page *q = alloc_pages(ms, GFP_KERNEL, 4);
    ASSERT_NE(q, nullptr);
    page *q2 = alloc_pages(ms, GFP_KERNEL, 4);
    ASSERT_NE(q2, nullptr);
    unsigned long qpfn = page_to_pfn(ms, q);
    __free_pages(ms, q, 4);
    if (PageBuddy(q)) {
      auto r2 = expect_bad_free(f, qpfn, qpfn, 16, [&] { __free_pages(ms, q, 4); });
      reports++;
      EXPECT_NE(r2.report.flags_names.find("buddy"), std::string::npos) << r2.log;
    }
    __free_pages(ms, q2, 4);
    drain_all_pages(ms);
    EXPECT_EQ(snapshot(ms), initial);
    // Everything merged back: these pages sit inside larger free blocks now.
    expect_bad_free(f, pfn, pfn, 1, [&] { __free_pages(ms, p, 0); });
    expect_bad_free(f, qpfn + 2, qpfn, 16, [&] { __free_pages(ms, q + 2, 1); });
    expect_bad_free(f, qpfn, qpfn, 16, [&] {
      free_pages(ms, reinterpret_cast<unsigned long>(page_address(ms, q)), 4);
    });
    reports += 3;
    EXPECT_EQ(ms.bad_pages, reports);
    expect_still_serving(f, initial);
  });
}

// Freeing with another order than the allocation's is reported, for plain
// and compound blocks, smaller and larger; the right order then works.
TEST(PageAllocBadPage, WrongOrder) {
  on_every_layout([](mm_fixture &f, mem_system &ms, const std::vector<zone_snapshot> &initial) {
    for (gfp_t comp : {gfp_t(0), __GFP_COMP}) {
      page *p = alloc_pages(ms, GFP_KERNEL | comp, 2);
      ASSERT_NE(p, nullptr);
      unsigned long pfn = page_to_pfn(ms, p);
      memset(page_address(ms, p), 0x77, 4 * PAGE_SIZE);
      for (unsigned wrong : {0u, 1u, 3u, MAX_PAGE_ORDER}) {
        SCOPED_TRACE(wrong);
        expect_bad_free(f, pfn, pfn, 4, [&] { __free_pages(ms, p, wrong); });
      }
      EXPECT_TRUE(block_holds(page_address(ms, p), 4 * PAGE_SIZE, 0x77));
      EXPECT_EQ(page_ref_count(p), 1);
      __free_pages(ms, p, 2);
    }
    EXPECT_EQ(ms.bad_pages, 8ul);
    expect_still_serving(f, initial);
  });
}

// A PG_reserved page (here a page of the mem_map itself, which memblock gave
// out at boot, or a held page marked reserved) is never taken in.
TEST(PageAllocBadPage, ReservedPage) {
  on_every_layout([](mm_fixture &f, mem_system &ms, const std::vector<zone_snapshot> &initial) {
    page *reserved = nullptr;
    for (zone *z : managed_zones(ms))
      for (unsigned long i = 0; i < z->spanned_pages && !reserved; i++)
        if (PageReserved(z->zone_mem_map + i)) reserved = z->zone_mem_map + i;
    ASSERT_NE(reserved, nullptr);
    unsigned long pfn = page_to_pfn(ms, reserved);
    auto r = expect_bad_free(f, pfn, pfn, 1, [&] { __free_pages(ms, reserved, 0); });
    EXPECT_NE(r.report.flags_names.find("reserved"), std::string::npos) << r.log;
    EXPECT_EQ(r.report.flags_hex, flag_hex(reserved));
    EXPECT_TRUE(PageReserved(reserved));

    page *p = alloc_pages(ms, GFP_KERNEL, 1);
    ASSERT_NE(p, nullptr);
    set_page_flag(p, PG_reserved);
    unsigned long ppfn = page_to_pfn(ms, p);
    r = expect_bad_free(f, ppfn, ppfn, 2, [&] { __free_pages(ms, p, 1); });
    EXPECT_NE(r.report.flags_names.find("reserved"), std::string::npos) << r.log;
    clear_page_flag(p, PG_reserved);
    __free_pages(ms, p, 1);
    EXPECT_EQ(ms.bad_pages, 2ul);
    expect_still_serving(f, initial);
  });
}

// Freeing a page from the middle of an allocation, plain or compound, is
// reported; the allocation stays whole and is then freed normally.
TEST(PageAllocBadPage, TailOfAllocation) {
  on_every_layout([](mm_fixture &f, mem_system &ms, const std::vector<zone_snapshot> &initial) {
    for (gfp_t comp : {gfp_t(0), __GFP_COMP}) {
      page *p = alloc_pages(ms, GFP_KERNEL | comp, 3);
      ASSERT_NE(p, nullptr);
      unsigned long pfn = page_to_pfn(ms, p);
      expect_bad_free(f, pfn + 1, pfn, 8, [&] { __free_pages(ms, p + 1, 0); });
      expect_bad_free(f, pfn + 4, pfn, 8, [&] { __free_pages(ms, p + 4, 2); });
      expect_bad_free(f, pfn + 7, pfn, 8, [&] {
        free_pages(ms, reinterpret_cast<unsigned long>(page_address(ms, p + 7)), 0);
      });
      __free_pages(ms, p, 3);
    }
    EXPECT_EQ(ms.bad_pages, 6ul);
    expect_still_serving(f, initial);
  });
}

// A page still mapped (non-zero map count) or owned by the slab allocator is
// reported when freed; the report shows the map count and the page's flags
// word as Linux's %pGp does, 0x and hex even when it is 0 (a ZONE_DMA page
// of node 0 has no bit set at all).
TEST(PageAllocBadPage, MappedOrSlabPage) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_three_zones(f), 0);
  mem_system &ms = *f.ms;
  std::vector<zone_snapshot> initial = snapshot(ms);
  const std::pair<gfp_t, unsigned> cases[] = {
      {GFP_KERNEL, 0}, {GFP_KERNEL, 2}, {GFP_KERNEL | GFP_DMA, 0}};
  for (auto [gfp, order] : cases) {
    SCOPED_TRACE(strf("gfp %#x order %u", gfp, order));
    page *p = alloc_pages(ms, gfp, order);
    ASSERT_NE(p, nullptr);
    unsigned long pfn = page_to_pfn(ms, p);
    p->_mapcount = 0;
    auto r = expect_bad_free(f, pfn, pfn, 1ul << order, [&] { __free_pages(ms, p, order); });
    EXPECT_EQ(r.report.mapcount, 1) << r.log;
    EXPECT_EQ(r.report.flags_hex, flag_hex(p)) << r.log;
    p->_mapcount = 2;
    r = expect_bad_free(f, pfn, pfn, 1ul << order, [&] { put_page(ms, p); });
    EXPECT_EQ(r.report.mapcount, 3) << r.log;
    p->_mapcount = -1;
    set_page_flag(p, PG_slab);
    r = expect_bad_free(f, pfn, pfn, 1ul << order, [&] { __free_pages(ms, p, order); });
    EXPECT_NE(r.report.flags_names.find("slab"), std::string::npos) << r.log;
    EXPECT_EQ(r.report.flags_hex, flag_hex(p)) << r.log;
    clear_page_flag(p, PG_slab);
    __free_pages(ms, p, order);
  }
  EXPECT_EQ(ms.bad_pages, 9ul);
  expect_still_serving(f, initial);
}

// free_pages() of an address whose pfn no zone spans is reported with that
// pfn and touches nothing (the address is not even readable memory).
TEST(PageAllocBadPage, OutsideAnyZone) {
  on_every_layout([](mm_fixture &f, mem_system &ms, const std::vector<zone_snapshot> &initial) {
    for (unsigned order : {0u, 3u}) {
      unsigned long pfn = PHYS_PFN(HOLE) + 8 * order;
      auto addr = reinterpret_cast<unsigned long>(phys_to_virt(PFN_PHYS(pfn)));
      expect_bad_free(f, pfn, 0, 0, [&] { free_pages(ms, addr, order); });
    }
    EXPECT_EQ(ms.bad_pages, 2ul);
    expect_still_serving(f, initial);
  });
}

// ------------------------------------------------------------ threads as CPUs

// A single-zone machine on CPU 0, with that CPU's list of the zone.
struct cpu0_pcp {
  cpu_reset reset;
  mm_fixture f;
  zone *z = nullptr;
  per_cpu_pages *pcp = nullptr;
  int build() {
    if (int err = build_single_zone(f)) return err;
    z = managed_zones(*f.ms).at(0);
    pcp = &z->pcp[0];
    host_set_cpu(0);
    return 0;
  }
};

// A CPU whose list is locked (an interrupt arrived while the CPU held it, or
// another CPU is draining it) must neither wait nor touch the list: its
// allocations come from the buddy lists and its frees go back to them, fully
// counted, and the list is exactly as it was.
TEST(PageAllocPcp, LockedListFallsBackToBuddyLists) {
  cpu0_pcp m;
  ASSERT_EQ(m.build(), 0);
  mem_system &ms = *m.f.ms;
  zone *z = m.z;
  per_cpu_pages &pcp = *m.pcp;
  __free_pages(ms, alloc_pages(ms, GFP_KERNEL, 0), 0);  // fills the list with a batch
  ASSERT_GT(pcp.count, 0);
  const int listed = pcp.count;
  const long free_before = zone_page_state_snapshot(z, NR_FREE_PAGES);
  const long allocated_before = zone_page_state_snapshot(z, NR_ZONE_ALLOCATED);
  const unsigned long pgalloc_before = zone_events(z, PGALLOC), pgfree_before = zone_events(z, PGFREE);
  const page *first_listed = list_first_entry(&pcp.lists[0], page, lru);

  spin_lock(&pcp.lock);
  std::vector<std::pair<page *, unsigned>> got;
  for (unsigned order : {0u, 0u, 1u, 3u}) {  // 12 pages
    page *p = alloc_pages(ms, GFP_KERNEL, order);
    ASSERT_NE(p, nullptr) << "order " << order;
    got.push_back({p, order});
  }
  EXPECT_EQ(pcp.count, listed);
  EXPECT_EQ(list_first_entry(&pcp.lists[0], page, lru), first_listed);
  EXPECT_EQ(zone_page_state_snapshot(z, NR_FREE_PAGES), free_before - 12);
  EXPECT_EQ(zone_page_state_snapshot(z, NR_ZONE_ALLOCATED), allocated_before + 12);
  EXPECT_EQ(zone_events(z, PGALLOC), pgalloc_before + 12);
  for (auto [p, order] : got) {
    EXPECT_FALSE(PagePcp(p));
    __free_pages(ms, p, order);
  }
  EXPECT_EQ(pcp.count, listed);
  EXPECT_EQ(zone_page_state_snapshot(z, NR_FREE_PAGES), free_before);
  EXPECT_EQ(zone_page_state_snapshot(z, NR_ZONE_ALLOCATED), allocated_before);
  EXPECT_EQ(zone_events(z, PGFREE), pgfree_before + 12);
  EXPECT_TRUE(spin_is_locked(&pcp.lock));
  spin_unlock(&pcp.lock);
  EXPECT_EQ(ms.bad_pages, 0ul);
  EXPECT_EQ(m.f.check(), "");
}

// CPU numbers the layout does not have (beyond nr_cpus, even beyond NR_CPUS)
// use CPU 0's lists rather than memory outside the tables.
TEST(PageAllocPcp, UnknownCpuUsesCpuZerosLists) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f), 0);
  mem_system &ms = *f.ms;
  ASSERT_EQ(ms.nr_cpus, 2u);
  zone *z = managed_zones(ms).at(0);
  for (unsigned cpu : {2u, 7u, NR_CPUS, NR_CPUS + 3, ~0u}) {
    SCOPED_TRACE("cpu " + std::to_string(cpu));
    drain_all_pages(ms);
    host_set_cpu(cpu);
    page *p = alloc_pages(ms, GFP_KERNEL, 0);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(z->pcp[0].count, z->pcp[0].batch - 1) << "the refill went to CPU 0's list";
    EXPECT_EQ(z->pcp[1].count, 0);
    __free_pages(ms, p, 0);
    EXPECT_EQ(z->pcp[0].count, z->pcp[0].batch);
    host_set_cpu(0);
    EXPECT_EQ(f.check(), "");
  }
}

// A bulk free of part of a pcp takes its lists in turn, the oldest block of
// each, starting again from the first list on every call: no list is
// emptied while another keeps its old pages.
TEST(PageAllocPcp, BulkFreeTakesTheListsInTurn) {
  cpu0_pcp m;
  ASSERT_EQ(m.build(), 0);
  mem_system &ms = *m.f.ms;
  per_cpu_pages &pcp = *m.pcp;
  constexpr unsigned rounds = 4;
  // blocks[order][round], all MOVABLE: on a fresh machine every pageblock
  // is, so each goes back to its order's MOVABLE list.
  std::array<std::array<page *, rounds>, NR_PCP_ORDERS> blocks{};
  for (unsigned order = 0; order < NR_PCP_ORDERS; order++)
    for (page *&p : blocks[order]) {
      p = alloc_pages(ms, GFP_KERNEL | __GFP_MOVABLE, order);
      ASSERT_NE(p, nullptr);
    }
  drain_local_pages(ms);
  ASSERT_EQ(pcp.count, 0);
  const int high = pcp.high, batch = pcp.batch;
  pcp.high = 1 << 20;  // no free drains on its own
  for (unsigned r = 0; r < rounds; r++)
    for (unsigned order = 0; order < NR_PCP_ORDERS; order++) __free_pages(ms, blocks[order][r], order);
  ASSERT_EQ(pcp.count, int(rounds * ((1u << NR_PCP_ORDERS) - 1)));
  // Newest first, as the list holds them; each list keeps rounds [from, rounds).
  auto listed = [&](unsigned order) {
    std::vector<page *> got;
    list_head *head = &pcp.lists[order_to_pindex(MIGRATE_MOVABLE, order)];
    for (list_head *e = head->next; e != head; e = e->next) got.push_back(list_entry(e, page, lru));
    return got;
  };
  auto expect_lists = [&](const std::array<unsigned, NR_PCP_ORDERS> &from) {
    int count = 0;
    for (unsigned order = 0; order < NR_PCP_ORDERS; order++) {
      std::vector<page *> want;
      for (unsigned r = rounds; r-- > from[order];) want.push_back(blocks[order][r]);
      EXPECT_EQ(listed(order), want) << "order " << order;
      count += int(want.size()) << order;
    }
    EXPECT_EQ(pcp.count, count);
  };
  expect_lists({0, 0, 0, 0});
  // 15 pages: one block of each order, the oldest.
  pcp.batch = 15;
  pcp.high = pcp.count;
  drain_pcp_excess(&pcp);
  expect_lists({1, 1, 1, 1});
  // 3 pages: from the first list again, then the next; the count runs out
  // before the higher orders.
  pcp.batch = 3;
  pcp.high = pcp.count;
  drain_pcp_excess(&pcp);
  expect_lists({2, 2, 1, 1});
  // 4 pages: an order-0 block (3 left), an order-1 block (1 left), and an
  // order-2 block although only 1 page was left to give: a block goes
  // whole.
  pcp.batch = 4;
  pcp.high = pcp.count;
  drain_pcp_excess(&pcp);
  expect_lists({3, 3, 2, 1});
  pcp.high = high;
  pcp.batch = batch;
  drain_local_pages(ms);
  EXPECT_EQ(pcp.count, 0);
  EXPECT_EQ(m.f.check(), "");
}

TEST(PageAllocThreads, ConcurrentCpusLoseNothing) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_two_nodes(f), 0);
  mem_system &ms = *f.ms;
  std::vector<zone_snapshot> initial = snapshot(ms);
  std::atomic<int> errors{0};
  std::atomic<long> total_ok{0};
  auto worker = [&](unsigned cpu) {
    host_set_cpu(cpu);
    std::mt19937 rng(cpu * 7919 + 1);
    struct blk {
      page *p;
      unsigned order;
      u8 fill;
    };
    std::vector<blk> mine;
    for (int i = 0; i < 3000; i++) {
      if (mine.empty() || rng() % 5 < 3) {
        unsigned order = rng() % 4 == 0 ? rng() % 6 : 0;
        page *p = alloc_pages(ms, GFP_KERNEL | __GFP_NOWARN, order);
        if (!p) continue;
        u8 fill = u8(cpu * 16 + i % 16 + 1);
        memset(page_address(ms, p), fill, PAGE_SIZE << order);
        mine.push_back({p, order, fill});
        total_ok++;
      } else {
        size_t k = rng() % mine.size();
        blk b = mine[k];
        mine[k] = mine.back();
        mine.pop_back();
        if (!block_holds(page_address(ms, b.p), PAGE_SIZE << b.order, b.fill)) errors++;
        __free_pages(ms, b.p, b.order);
      }
      if (cpu == 0 && i % 97 == 0) drain_all_pages(ms);
    }
    for (blk &b : mine) {
      if (!block_holds(page_address(ms, b.p), PAGE_SIZE << b.order, b.fill)) errors++;
      __free_pages(ms, b.p, b.order);
    }
  };
  std::vector<std::thread> threads;
  host_release_cpu();  // the workers are CPUs 0..nr_cpus-1
  for (unsigned c = 0; c < ms.nr_cpus; c++) threads.emplace_back(worker, c);
  for (std::thread &t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(total_ok.load(), 1000);
  EXPECT_EQ(ms.bad_pages, 0ul);
  drain_all_pages(ms);
  EXPECT_EQ(snapshot(ms), initial);
  EXPECT_EQ(f.check(), "");
  std::map<int, held_block> none;
  EXPECT_EQ(verify(ms, none, true), "");
}

}  // namespace

namespace {

// drain_all_pages empties every CPU's lists of every zone, on a machine of
// NR_CPUS CPUs too (no list beyond them is touched: under UBSan an index
// past z->pcp would fail).
TEST(PageAllocPcp, DrainAllPagesEmptiesEveryCpusLists) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f, 64 * SZ_1M, NR_CPUS), 0);
  mem_system &ms = *f.ms;
  zone *z = managed_zones(ms).at(0);
  for (unsigned cpu = 0; cpu < NR_CPUS; cpu++) {
    host_set_cpu(cpu);
    __free_pages(ms, alloc_pages(ms, GFP_KERNEL, 0), 0);
    EXPECT_GT(z->pcp[cpu].count, 0) << "cpu " << cpu;
  }
  host_set_cpu(0);
  drain_all_pages(ms);
  for (unsigned cpu = 0; cpu < NR_CPUS; cpu++) EXPECT_EQ(z->pcp[cpu].count, 0) << "cpu " << cpu;
  EXPECT_EQ(nr_free_pcp_pages(ms), 0ul);
  EXPECT_EQ(f.check(), "");
}

// The turn passes from each list to the very next one, types before
// orders: with blocks on the UNMOVABLE and the MOVABLE order-0 lists
// (neighbours), a bulk free of two takes the oldest of each, not two of one.
TEST(PageAllocPcp, BulkFreeTurnGoesToTheNextList) {
  cpu0_pcp m;
  ASSERT_EQ(m.build(), 0);
  mem_system &ms = *m.f.ms;
  per_cpu_pages &pcp = *m.pcp;
  std::array<page *, 4> a{};
  for (page *&p : a) {
    p = alloc_pages(ms, GFP_KERNEL | __GFP_MOVABLE, 0);
    ASSERT_NE(p, nullptr);
  }
  drain_local_pages(ms);
  const int high = pcp.high, batch = pcp.batch;
  pcp.high = 1 << 20;
  // A free files a page by its pageblock's type at the time: the first two
  // as MOVABLE, the last two (after a retype) as UNMOVABLE.
  auto retype = [&](const page *p, int mt) {
    spin_lock_irqsave_guard g(m.z->lock);
    set_pageblock_migratetype(m.z, page_to_pfn(ms, p), mt);
  };
  const int was = get_pageblock_migratetype(m.z, a[0]);
  __free_pages(ms, a[0], 0);
  __free_pages(ms, a[1], 0);
  for (page *p : {a[2], a[3]}) {
    retype(p, MIGRATE_UNMOVABLE);
    __free_pages(ms, p, 0);
  }
  ASSERT_EQ(pcp.count, 4);
  ASSERT_EQ(order_to_pindex(MIGRATE_UNMOVABLE, 0) + 1, order_to_pindex(MIGRATE_MOVABLE, 0));
  pcp.batch = 2;
  pcp.high = pcp.count;
  drain_pcp_excess(&pcp);
  EXPECT_EQ(pcp.count, 2);
  EXPECT_FALSE(PagePcp(a[0])) << "the oldest MOVABLE block goes back";
  EXPECT_FALSE(PagePcp(a[2])) << "the oldest UNMOVABLE block goes back";
  EXPECT_TRUE(PagePcp(a[1]));
  EXPECT_TRUE(PagePcp(a[3]));
  pcp.high = high;
  pcp.batch = batch;
  drain_local_pages(ms);
  {
    spin_lock_irqsave_guard g(m.z->lock);
    ASSERT_TRUE(move_freepages_block(m.z, page_to_pfn(ms, a[0]), MIGRATE_UNMOVABLE, was));
  }
  EXPECT_EQ(m.f.check(), "");
}

// Each CPU's periodic work sends its per-CPU pages of other nodes home:
// drain_remote_node_pages empties this CPU's lists of remote zones only,
// leaving its own node's lists and every other CPU's alone.
TEST(PageAllocPcp, DrainRemoteNodePagesEmptiesOnlyThisCpusRemoteLists) {
  cpu_reset reset;
  mm_fixture f;
  ASSERT_EQ(build_two_nodes(f), 0);
  mem_system &ms = *f.ms;
  auto pcp_count = [&](int nid, unsigned cpu) {
    long n = 0;
    for_each_zone_of(NODE_DATA(ms, nid), z) n += z->pcp[cpu].count;
    return n;
  };
  // CPU 2 (node 1) frees pages of both nodes; so does CPU 0 (node 0).
  for (unsigned cpu : {2u, 0u}) {
    host_set_cpu(cpu);
    for (int nid : {0, 1}) {
      page *p[4];
      for (page *&q : p) ASSERT_NE(q = alloc_pages_node(ms, nid, GFP_KERNEL | __GFP_THISNODE, 0), nullptr);
      for (page *q : p) __free_pages(ms, q, 0);
    }
  }
  ASSERT_GT(pcp_count(0, 2), 0);
  ASSERT_GT(pcp_count(1, 2), 0);
  ASSERT_GT(pcp_count(1, 0), 0);
  const long own = pcp_count(1, 2), cpu0_remote = pcp_count(1, 0), cpu0_own = pcp_count(0, 0);
  const unsigned long total = nr_free_pages(ms) + nr_free_pcp_pages(ms);
  host_set_cpu(2);
  drain_remote_node_pages(ms);
  EXPECT_EQ(pcp_count(0, 2), 0);    // node 0's pages went home
  EXPECT_EQ(pcp_count(1, 2), own);  // its own node's stay
  EXPECT_EQ(pcp_count(1, 0), cpu0_remote);
  EXPECT_EQ(pcp_count(0, 0), cpu0_own);
  EXPECT_EQ(nr_free_pages(ms) + nr_free_pcp_pages(ms), total);
  EXPECT_EQ(f.check(), "");
}

}  // namespace

// Property tests for mm/memblock: random sequences of operations, each
// checked against a deliberately simple model that records, for every 1 KiB
// unit of a 512 KiB window, its node and flags (or "not memory") and whether
// it is reserved.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

// kernel/errno.h cannot be included after the C++ library, whose <cerrno>
// defines the same names as macros; on a Linux host they have Linux's values.
#include <cerrno>

#include "kernel/printk.h"
#include "mm/memblock.h"

namespace {

constexpr phys_addr_t UNIT = 1024;  // every range the model sees is a multiple of this
constexpr unsigned NUNITS = 512;
constexpr int NODES = 4;  // nodes the generators use

// rc::gen::inRange narrows its range with the test size (down to its first
// value at size 0); the choices here must span their range from the start.
template <class T>
rc::Gen<T> uniform(T min, T max) {
  return rc::gen::resize(rc::kNominalSize, rc::gen::inRange<T>(min, max));
}

// ---------------------------------------------------------------- the model

struct model {
  phys_addr_t base = 0;                                 // address of unit 0
  std::vector<int> nid = std::vector<int>(NUNITS, -1);  // -1: not memory
  std::vector<u32> flags = std::vector<u32>(NUNITS, 0);
  std::vector<bool> reserved = std::vector<bool>(NUNITS, false);
  bool bottom_up = false;

  phys_addr_t addr(unsigned u) const { return base + u * UNIT; }
  bool is_memory(unsigned u) const { return nid[u] >= 0; }
  bool is_free(unsigned u) const {
    return is_memory(u) && !(flags[u] & MEMBLOCK_NOMAP) && !reserved[u];
  }
};

// A region as the model sees it: a maximal run of units of one kind.
struct run {
  phys_addr_t base, end;
  int nid;
  u32 flags;
  bool operator==(const run &) const = default;
};

std::ostream &operator<<(std::ostream &os, const run &r) {
  return os << std::hex << "[0x" << r.base << "-0x" << r.end << ") nid " << std::dec << r.nid
            << " flags 0x" << std::hex << r.flags << std::dec;
}

std::vector<run> memory_runs(const model &m) {
  std::vector<run> runs;
  for (unsigned u = 0; u < NUNITS; u++) {
    if (!m.is_memory(u)) continue;
    if (!runs.empty() && runs.back().end == m.addr(u) && runs.back().nid == m.nid[u] &&
        runs.back().flags == m.flags[u])
      runs.back().end += UNIT;
    else
      runs.push_back({m.addr(u), m.addr(u) + UNIT, m.nid[u], m.flags[u]});
  }
  return runs;
}

std::vector<run> reserved_runs(const model &m) {
  std::vector<run> runs;
  for (unsigned u = 0; u < NUNITS; u++) {
    if (!m.reserved[u]) continue;
    if (!runs.empty() && runs.back().end == m.addr(u))
      runs.back().end += UNIT;
    else
      runs.push_back({m.addr(u), m.addr(u) + UNIT, NUMA_NO_NODE, MEMBLOCK_NONE});
  }
  return runs;
}

std::vector<run> regions_of(const memblock_type &t) {
  std::vector<run> runs;
  for (unsigned long i = 0; i < t.cnt; i++)
    runs.push_back({t.regions[i].base, t.regions[i].base + t.regions[i].size, t.regions[i].nid,
                    t.regions[i].flags});
  return runs;
}

// The address the allocator must return by its documented rule: the highest
// (lowest when bottom-up) multiple of align at or above max(start,
// PAGE_SIZE) whose whole range ends by `end` and is free memory of a single
// node (nid's, unless NUMA_NO_NODE). Brute force over every unit.
std::optional<phys_addr_t> model_fit(const model &m, unsigned units, phys_addr_t align,
                                     phys_addr_t start, phys_addr_t end, int nid) {
  if (start < PAGE_SIZE) start = PAGE_SIZE;
  std::optional<phys_addr_t> best;
  for (unsigned u = 0; u + units <= NUNITS; u++) {
    phys_addr_t a = m.addr(u);
    if (a % align || a < start || a + units * UNIT > end) continue;
    bool fits = true;
    for (unsigned i = u; i < u + units && fits; i++)
      fits = m.is_free(i) && m.nid[i] == m.nid[u] && (nid == NUMA_NO_NODE || m.nid[i] == nid);
    if (!fits) continue;
    if (m.bottom_up) return a;
    best = a;
  }
  return best;
}

// ------------------------------------------------------------ the operations

enum class op_kind {
  add,
  add_node,
  remove,
  reserve,
  phys_free,
  alloc,
  alloc_try_nid,
  set_bottom_up,
  query,
  bad
};
const char *const op_names[] = {"add",   "add_node",      "remove",        "reserve", "phys_free",
                                "alloc", "alloc_try_nid", "set_bottom_up", "query",   "bad"};

struct op {
  op_kind kind;
  unsigned u, n;  // the range, in units: [u, u+n)
  int nid;
  u32 flags;
  unsigned align_shift;
  int window;  // alloc: 0 whole (ANYWHERE), 1 whole (ACCESSIBLE), 2 [start_u, end_u)
  unsigned start_u, end_u;
  int variant;  // which bad call, for op_kind::bad
};

std::ostream &operator<<(std::ostream &os, const op &o) {
  return os << op_names[int(o.kind)] << "(u " << o.u << " n " << o.n << " nid " << o.nid
            << " flags " << o.flags << " align 1<<" << o.align_shift << " window " << o.window
            << " [" << o.start_u << "," << o.end_u << ") variant " << o.variant << ")";
}

// Ranges are mostly short, so that regions split, touch and merge often.
rc::Gen<op> gen_op(bool short_ranges) {
  return rc::gen::exec([short_ranges] {
    op o{};
    o.kind = *rc::gen::weightedElement<op_kind>({{3, op_kind::add},
                                                 {4, op_kind::add_node},
                                                 {2, op_kind::remove},
                                                 {4, op_kind::reserve},
                                                 {3, op_kind::phys_free},
                                                 {4, op_kind::alloc},
                                                 {2, op_kind::alloc_try_nid},
                                                 {1, op_kind::set_bottom_up},
                                                 {2, op_kind::query},
                                                 {1, op_kind::bad}});
    o.u = *uniform(0u, NUNITS);
    o.n = short_ranges
              ? *uniform(1u, 7u)
              : *rc::gen::weightedOneOf<unsigned>(
                    {{6, uniform(1u, 5u)}, {3, uniform(1u, 33u)}, {1, uniform(1u, NUNITS)}});
    if (o.n > NUNITS - o.u) o.n = NUNITS - o.u;
    o.nid = *uniform(0, NODES);
    o.flags = *rc::gen::weightedElement<u32>({{4, MEMBLOCK_NONE}, {1, MEMBLOCK_NOMAP}});
    o.align_shift = *uniform(0u, 21u);
    o.window = *uniform(0, 3);
    o.start_u = *uniform(0u, NUNITS);
    o.end_u = *uniform(o.start_u + 1, NUNITS + 1);
    o.variant = *uniform(0, 12);
    return o;
  });
}

bool same_type(const memblock_type &a, const memblock_type &b) {
  return a.cnt == b.cnt && a.total_size == b.total_size &&
         std::memcmp(a.regions, b.regions, a.cnt * sizeof(memblock_region)) == 0;
}

bool same_state(const memblock &a, const memblock &b) {
  return a.bottom_up == b.bottom_up && same_type(a.memory, b.memory) &&
         same_type(a.reserved, b.reserved);
}

// The invariants and every query, compared with the model.
void check_against_model(const memblock &mb, const model &m) {
  char report[2048];
  if (memblock_check(mb, report, sizeof(report)) != 0) RC_FAIL(report);
  RC_ASSERT(regions_of(mb.memory) == memory_runs(m));
  RC_ASSERT(regions_of(mb.reserved) == reserved_runs(m));

  phys_addr_t mem = 0, rsv = 0;
  for (unsigned u = 0; u < NUNITS; u++) {
    mem += m.is_memory(u) ? UNIT : 0;
    rsv += m.reserved[u] ? UNIT : 0;
    for (phys_addr_t a : {m.addr(u), m.addr(u) + UNIT / 2, m.addr(u) + UNIT - 1}) {
      RC_ASSERT(memblock_is_memory(mb, a) == m.is_memory(u));
      RC_ASSERT(memblock_is_reserved(mb, a) == bool(m.reserved[u]));
    }
  }
  RC_ASSERT(memblock_phys_mem_size(mb) == mem);
  RC_ASSERT(memblock_reserved_size(mb) == rsv);
  RC_ASSERT(!memblock_is_memory(mb, m.addr(NUNITS)));
  if (m.base) RC_ASSERT(!memblock_is_memory(mb, m.base - 1));

  std::vector<run> mem_runs = memory_runs(m);
  RC_ASSERT(memblock_start_of_DRAM(mb) == (mem_runs.empty() ? 0 : mem_runs.front().base));
  RC_ASSERT(memblock_end_of_DRAM(mb) == (mem_runs.empty() ? 0 : mem_runs.back().end));

  // Free ranges come in ascending order, are free memory of the node they
  // name, and cover every free unit: with reserved and NOMAP they tile memory.
  std::vector<bool> seen_free(NUNITS, false);
  phys_addr_t prev_end = 0;
  for_each_free_mem_range(mb, NUMA_NO_NODE, [&](phys_addr_t base, phys_addr_t end, int nid) {
    RC_ASSERT(base < end);
    RC_ASSERT(base >= prev_end);
    RC_ASSERT(base >= m.base);
    RC_ASSERT(end <= m.addr(NUNITS));
    RC_ASSERT((base - m.base) % UNIT == 0);
    RC_ASSERT((end - m.base) % UNIT == 0);
    prev_end = end;
    for (phys_addr_t a = base; a < end; a += UNIT) {
      unsigned u = unsigned((a - m.base) / UNIT);
      RC_ASSERT(m.is_free(u));
      RC_ASSERT(m.nid[u] == nid);
      seen_free[u] = true;
    }
  });
  for (unsigned u = 0; u < NUNITS; u++) {
    if (!m.is_memory(u)) continue;
    bool taken = m.reserved[u] || (m.flags[u] & MEMBLOCK_NOMAP);
    RC_ASSERT(seen_free[u] != taken);
  }

  // Asking for one node gives exactly that node's share of the free ranges.
  for (int nid = 0; nid < NODES; nid++) {
    std::vector<bool> node_free(NUNITS, false);
    for_each_free_mem_range(mb, nid, [&](phys_addr_t base, phys_addr_t end, int got) {
      RC_ASSERT(got == nid);
      for (phys_addr_t a = base; a < end; a += UNIT) node_free[(a - m.base) / UNIT] = true;
    });
    for (unsigned u = 0; u < NUNITS; u++)
      RC_ASSERT(node_free[u] == (m.is_free(u) && m.nid[u] == nid));
  }

  // The plain iterators walk the arrays in order.
  std::vector<run> walked;
  for_each_mem_range(mb, [&](phys_addr_t b, phys_addr_t e, int nid) {
    walked.push_back({b, e, nid, 0});
  });
  RC_ASSERT(walked.size() == mem_runs.size());
  for (size_t i = 0; i < walked.size(); i++) {
    RC_ASSERT(walked[i].base == mem_runs[i].base);
    RC_ASSERT(walked[i].end == mem_runs[i].end);
    RC_ASSERT(walked[i].nid == mem_runs[i].nid);
  }
  walked.clear();
  for_each_reserved_mem_range(mb, [&](phys_addr_t b, phys_addr_t e, int nid) {
    walked.push_back({b, e, nid, 0});
  });
  RC_ASSERT(walked == reserved_runs(m));
}

// Each bad call, with the value it must return; none may change anything.
long bad_call(memblock &mb, const model &m, const op &o, long *want) {
  phys_addr_t a = m.addr(o.u);
  phys_addr_t over = PHYS_ADDR_MAX - o.n * UNIT;  // a base whose range ends past PHYS_ADDR_MAX
  *want = -EINVAL;
  switch (o.variant) {
    case 0: return memblock_add(mb, a, 0);
    case 1: return memblock_add_node(mb, over, o.n * UNIT + 1, o.nid, 0);
    case 2: return memblock_add_node(mb, a, o.n * UNIT, o.nid % 2 ? -1 : int(MAX_NUMNODES), 0);
    case 3: return memblock_add_node(mb, a, o.n * UNIT, o.nid, o.nid % 2 ? 0x1 : 0x80000000);
    case 4: return memblock_remove(mb, o.nid % 2 ? a : PHYS_ADDR_MAX, o.nid % 2 ? 0 : 1);
    case 5: return memblock_reserve(mb, o.nid % 2 ? a : over, o.nid % 2 ? 0 : PHYS_ADDR_MAX);
    case 6: return memblock_phys_free(mb, o.nid % 2 ? a : over, o.nid % 2 ? 0 : o.n * UNIT + 1);
    case 7: return memblock_reserve(mb, PHYS_ADDR_MAX, PHYS_ADDR_MAX);
  }
  *want = 0;  // allocation failures return 0
  switch (o.variant) {
    case 8: return long(memblock_phys_alloc(mb, o.n * UNIT, o.nid % 2 ? 0 : 3 << o.align_shift));
    case 9:  // start above end (end is never 0, which would mean "anywhere")
      return long(
          memblock_phys_alloc_range(mb, o.n * UNIT, UNIT, m.addr(o.end_u), m.addr(o.start_u) + 1));
    case 10:
      return long(memblock_phys_alloc_try_nid(mb, o.n * UNIT, UNIT, int(MAX_NUMNODES) + o.nid));
    default: return long(memblock_phys_alloc(mb, 0, UNIT));
  }
}

// Applies o to both memblock and model, checks the result against what the
// model predicts and that a failed call changed nothing, then (with
// check_all) every query.
void step(memblock &mb, model &m, const op &o, bool check_all = true) {
  const memblock before = mb;
  phys_addr_t a = m.addr(o.u), size = o.n * UNIT;
  model next = m;
  bool ok = true;
  switch (o.kind) {
    case op_kind::add:
    case op_kind::add_node: {
      int nid = o.kind == op_kind::add ? 0 : o.nid;
      u32 flags = o.kind == op_kind::add ? MEMBLOCK_NONE : o.flags;
      for (unsigned u = o.u; u < o.u + o.n; u++)
        if (!next.is_memory(u)) next.nid[u] = nid, next.flags[u] = flags;
      ok = memory_runs(next).size() <= INIT_MEMBLOCK_REGIONS;
      int got = o.kind == op_kind::add ? memblock_add(mb, a, size)
                                       : memblock_add_node(mb, a, size, nid, flags);
      RC_ASSERT(got == (ok ? 0 : -ENOSPC));
      break;
    }
    case op_kind::remove: {
      for (unsigned u = o.u; u < o.u + o.n; u++) next.nid[u] = -1, next.flags[u] = 0;
      ok = memory_runs(next).size() <= INIT_MEMBLOCK_REGIONS;
      RC_ASSERT(memblock_remove(mb, a, size) == (ok ? 0 : -ENOSPC));
      break;
    }
    case op_kind::reserve:
    case op_kind::phys_free: {
      for (unsigned u = o.u; u < o.u + o.n; u++) next.reserved[u] = o.kind == op_kind::reserve;
      ok = reserved_runs(next).size() <= INIT_MEMBLOCK_REGIONS;
      int got = o.kind == op_kind::reserve ? memblock_reserve(mb, a, size)
                                           : memblock_phys_free(mb, a, size);
      RC_ASSERT(got == (ok ? 0 : -ENOSPC));
      break;
    }
    case op_kind::alloc:
    case op_kind::alloc_try_nid: {
      phys_addr_t align = phys_addr_t(1) << o.align_shift;
      phys_addr_t start = 0, end = MEMBLOCK_ALLOC_ANYWHERE, got;
      std::optional<phys_addr_t> want;
      if (o.kind == op_kind::alloc_try_nid) {
        int nid = o.variant % 3 == 0 ? NUMA_NO_NODE : o.nid;
        want = model_fit(m, o.n, align, start, end, nid);
        if (!want) want = model_fit(m, o.n, align, start, end, NUMA_NO_NODE);
        got = memblock_phys_alloc_try_nid(mb, size, align, nid);
      } else if (o.window == 2) {
        start = m.addr(o.start_u);
        end = m.addr(o.end_u);
        want = model_fit(m, o.n, align, start, end, NUMA_NO_NODE);
        got = memblock_phys_alloc_range(mb, size, align, start, end);
      } else {
        want = model_fit(m, o.n, align, start, end, NUMA_NO_NODE);
        got = o.window == 0
                  ? memblock_phys_alloc(mb, size, align)
                  : memblock_phys_alloc_range(mb, size, align, 0, MEMBLOCK_ALLOC_ACCESSIBLE);
      }
      if (want) {
        unsigned u0 = unsigned((*want - m.base) / UNIT);
        for (unsigned u = u0; u < u0 + o.n; u++) next.reserved[u] = true;
        // A fit is still refused when reserving it would overflow the array.
        if (reserved_runs(next).size() > INIT_MEMBLOCK_REGIONS) want.reset();
      }
      ok = want.has_value();
      RC_ASSERT(got == (ok ? *want : 0));
      if (ok) {
        RC_ASSERT(got % align == 0);
        RC_ASSERT(got >= start && got >= PAGE_SIZE);
        RC_ASSERT(got + size <= end);
        RC_ASSERT(memblock_is_region_memory(mb, got, size));
        for (phys_addr_t p = got; p < got + size; p += UNIT)
          RC_ASSERT(m.is_free(unsigned((p - m.base) / UNIT)));
      }
      break;
    }
    case op_kind::set_bottom_up:
      next.bottom_up = o.nid % 2;
      memblock_set_bottom_up(mb, next.bottom_up);
      RC_ASSERT(memblock_bottom_up(mb) == next.bottom_up);
      break;
    case op_kind::query: {
      // True exactly when the range lies in one region: one run of one kind.
      bool want = true;
      for (unsigned u = o.u; u < o.u + o.n; u++)
        want = want && m.is_memory(u) && m.nid[u] == m.nid[o.u] && m.flags[u] == m.flags[o.u];
      RC_ASSERT(memblock_is_region_memory(mb, a, size) == want);
      RC_ASSERT(!memblock_is_region_memory(mb, a, 0));
      break;
    }
    case op_kind::bad: {
      long want;
      long got = bad_call(mb, m, o, &want);
      RC_ASSERT(got == want);
      ok = false;
      break;
    }
  }
  if (ok)
    m = next;
  else
    RC_ASSERT(same_state(mb, before));
  if (check_all) check_against_model(mb, m);
}

// ---------------------------------------------------------------- properties

// Any sequence of calls keeps memblock equal to the model, with every
// invariant intact, every query right, and every allocation the highest (or
// lowest) fit that the model finds; failed calls change nothing.
RC_GTEST_PROP(Memblock, RandomOpsMatchModel, ()) {
  auto mb = std::make_unique<memblock>();
  memblock_init(*mb);
  model m;
  m.base = *rc::gen::element<phys_addr_t>(0, 0x80000000);
  const auto ops = *rc::gen::container<std::vector<op>>(gen_op(false));
  check_against_model(*mb, m);
  for (const op &o : ops) step(*mb, m, o);
}

// Starting from both arrays (nearly) full, short random calls fail with
// -ENOSPC exactly when their result would need more than
// INIT_MEMBLOCK_REGIONS regions, and then change nothing.
RC_GTEST_PROP(Memblock, FullArraysFailCleanly, ()) {
  auto mb = std::make_unique<memblock>();
  memblock_init(*mb);
  model m;
  m.base = 0x80000000;
  // 128 blocks of 4 units: 3 of memory on a random node, then a hole, and one
  // reserved range inside the memory. That is 128 regions in each array, less
  // the few blocks skipped, whose shapes let short calls split, grow, weld
  // two regions into one, or add one.
  const auto skips =
      rc::gen::weightedOneOf<size_t>({{3, rc::gen::just<size_t>(0)}, {1, uniform<size_t>(1, 4)}});
  const auto skip_mem = *rc::gen::container<std::vector<unsigned>>(*skips, uniform(0u, NUNITS / 4));
  const auto skip_rsv = *rc::gen::container<std::vector<unsigned>>(*skips, uniform(0u, NUNITS / 4));
  const auto shapes = *rc::gen::container<std::vector<int>>(NUNITS / 4, uniform(0, 4));
  const auto nids = *rc::gen::container<std::vector<int>>(NUNITS / 4, uniform(0, 2));
  for (unsigned k = 0; k < NUNITS / 4; k++) {
    bool skip = std::find(skip_mem.begin(), skip_mem.end(), k) != skip_mem.end();
    if (!skip) step(*mb, m, op{op_kind::add_node, 4 * k, 3, nids[k], 0, 0, 0, 0, 0, 0}, false);
    skip = std::find(skip_rsv.begin(), skip_rsv.end(), k) != skip_rsv.end();
    unsigned first = 4 * k + shapes[k] % 2, len = shapes[k] < 2 ? 1 : 3 - shapes[k] % 2;
    if (!skip) step(*mb, m, op{op_kind::reserve, first, len, 0, 0, 0, 0, 0, 0, 0}, false);
  }
  check_against_model(*mb, m);
  RC_ASSERT(mb->memory.cnt >= INIT_MEMBLOCK_REGIONS - 4);
  RC_ASSERT(mb->reserved.cnt >= INIT_MEMBLOCK_REGIONS - 4);
  const auto ops = *rc::gen::container<std::vector<op>>(gen_op(true));
  for (const op &o : ops) step(*mb, m, o);
}

// The capacity limits the result, not the steps to it: with the array full,
// a call that welds two regions may also add one; a split needs a free slot.
TEST(Memblock, CapacityLimitsTheResult) {
  auto mb = std::make_unique<memblock>();
  memblock_init(*mb);
  // Blocks of 3 pages and a hole; blocks 0 and 1 on node 0, the rest on 1.
  for (unsigned k = 0; k < INIT_MEMBLOCK_REGIONS; k++)
    ASSERT_EQ(memblock_add_node(*mb, 4 * k * PAGE_SIZE, 3 * PAGE_SIZE, k < 2 ? 0 : 1, 0), 0);
  const memblock full = *mb;
  {
    // A count past the array is one violation, and the regions the array
    // does hold are still checked (their sum matches: nothing more to say).
    auto damaged = std::make_unique<memblock>(full);
    damaged->memory.cnt = INIT_MEMBLOCK_REGIONS + 1;
    char report[256];
    EXPECT_EQ(memblock_check(*damaged, report, sizeof(report)), 1);
    EXPECT_STREQ(report, "memory.cnt 129 exceeds the capacity 128\n");
  }
  EXPECT_EQ(memblock_add_node(*mb, 4 * INIT_MEMBLOCK_REGIONS * PAGE_SIZE, PAGE_SIZE, 0, 0),
            -ENOSPC);
  EXPECT_EQ(memblock_remove(*mb, PAGE_SIZE, PAGE_SIZE), -ENOSPC);
  EXPECT_TRUE(same_state(*mb, full));
  // Holes 0 (welds blocks 0 and 1), 1 (grows block 1) and 2 (a new region).
  EXPECT_EQ(memblock_add_node(*mb, 3 * PAGE_SIZE, 9 * PAGE_SIZE, 0, 0), 0);
  EXPECT_EQ(mb->memory.cnt, INIT_MEMBLOCK_REGIONS);
  EXPECT_EQ(memblock_check(*mb, nullptr, 0), 0);
  EXPECT_EQ(memblock_phys_mem_size(*mb), (3 * INIT_MEMBLOCK_REGIONS + 3) * PAGE_SIZE);

  // The same for reserved, which is also where allocations go: reserve the
  // first page of every block.
  for (unsigned k = 0; k < INIT_MEMBLOCK_REGIONS; k++)
    ASSERT_EQ(memblock_reserve(*mb, 4 * k * PAGE_SIZE, PAGE_SIZE), 0);
  const memblock reserved_full = *mb;
  EXPECT_EQ(memblock_phys_free(*mb, 4 * PAGE_SIZE + 1, 1), -ENOSPC);
  EXPECT_EQ(memblock_reserve(*mb, 6 * PAGE_SIZE, 1), -ENOSPC);
  // The top fit, the last page of the last block, would be a 129th region.
  EXPECT_EQ(memblock_phys_alloc(*mb, PAGE_SIZE, PAGE_SIZE), 0u);
  EXPECT_TRUE(same_state(*mb, reserved_full));
  // Page 3 is memory since the weld, and touches the reservation at page 4.
  EXPECT_EQ(memblock_phys_alloc_range(*mb, PAGE_SIZE, PAGE_SIZE, 0, 4 * PAGE_SIZE), 3 * PAGE_SIZE);
  EXPECT_EQ(mb->reserved.cnt, INIT_MEMBLOCK_REGIONS);
  EXPECT_EQ(memblock_phys_free(*mb, 4 * PAGE_SIZE, PAGE_SIZE), 0);
  EXPECT_EQ(memblock_check(*mb, nullptr, 0), 0);
}

// With the array full, a call that adds a region below a weld must weld
// first: the order of the gaps is not the order of the steps, or the new
// region would push a 129th slot over whatever follows the array.
TEST(Memblock, FullArrayInsertsOnlyAfterWelding) {
  auto mb = std::make_unique<memblock>();
  memblock_init(*mb);
  // Pages [0,3) node 0, [4,7) node 2, [8,11) and [12,15) node 1, then blocks
  // of node 3 with holes between them up to the capacity.
  const int nids[] = {0, 2, 1, 1};
  for (unsigned k = 0; k < INIT_MEMBLOCK_REGIONS; k++)
    ASSERT_EQ(memblock_add_node(*mb, 4 * k * PAGE_SIZE, 3 * PAGE_SIZE, k < 4 ? nids[k] : 3, 0), 0);
  ASSERT_EQ(memblock_reserve(*mb, 4 * PAGE_SIZE, PAGE_SIZE), 0);
  const memblock before = *mb;
  // On node 1: page 3 is a new region (nodes 0 and 2 around it), page 7 grows
  // [8,11) down, page 11 welds [7,11) to [12,15).
  ASSERT_EQ(memblock_add_node(*mb, 3 * PAGE_SIZE, 9 * PAGE_SIZE, 1, 0), 0);
  EXPECT_EQ(mb->memory.cnt, INIT_MEMBLOCK_REGIONS);
  EXPECT_EQ(mb->memory.regions[1].base, 3 * PAGE_SIZE);
  EXPECT_EQ(mb->memory.regions[1].nid, 1);
  EXPECT_EQ(mb->memory.regions[3].base, 7 * PAGE_SIZE);
  EXPECT_EQ(mb->memory.regions[3].size, 8 * PAGE_SIZE);
  EXPECT_EQ(mb->memory.total_size, before.memory.total_size + 3 * PAGE_SIZE);
  EXPECT_EQ(memblock_check(*mb, nullptr, 0), 0);
  EXPECT_EQ(mb->reserved.cnt, 1u);
  EXPECT_EQ(mb->reserved.total_size, PAGE_SIZE);
  EXPECT_EQ(mb->reserved.regions[0].base, 4 * PAGE_SIZE);
  // Removing what lies above every region of a full array changes nothing
  // (and reads no slot past the array).
  const memblock full = *mb;
  EXPECT_EQ(memblock_remove(*mb, 4 * INIT_MEMBLOCK_REGIONS * PAGE_SIZE, PAGE_SIZE), 0);
  EXPECT_TRUE(same_state(*mb, full));
}

// A clean check writes an empty report over whatever the buffer held.
TEST(Memblock, CleanCheckEmptiesTheReport) {
  auto mb = std::make_unique<memblock>();
  memblock_init(*mb);
  ASSERT_EQ(memblock_add_node(*mb, 0x10000, 0x1000, 0, MEMBLOCK_NONE), 0);
  char report[64];
  memset(report, 'x', sizeof(report) - 1);
  report[sizeof(report) - 1] = '\0';
  EXPECT_EQ(memblock_check(*mb, report, sizeof(report)), 0);
  EXPECT_STREQ(report, "");
}

// memblock_check notices each kind of damage to a valid state.
RC_GTEST_PROP(Memblock, CheckFindsDamage, ()) {
  auto mb = std::make_unique<memblock>();
  memblock_init(*mb);
  model m;
  m.base = 0x80000000;
  const auto ops = *rc::gen::container<std::vector<op>>(gen_op(false));
  for (const op &o : ops) step(*mb, m, o);
  // Two regions below the model's window, so that there is something to damage.
  RC_ASSERT(memblock_add_node(*mb, 0x10000, UNIT, 1, MEMBLOCK_NONE) == 0);
  RC_ASSERT(memblock_add_node(*mb, 0x20000, UNIT, 2, MEMBLOCK_NOMAP) == 0);
  RC_ASSERT(memblock_reserve(*mb, 0x10000, UNIT) == 0);
  RC_ASSERT(memblock_reserve(*mb, 0x20000, UNIT) == 0);
  RC_ASSERT(memblock_check(*mb, nullptr, 0) == 0);
  const bool use_memory = *rc::gen::arbitrary<bool>();
  memblock_type &t = use_memory ? mb->memory : mb->reserved;
  const unsigned long i = *uniform<unsigned long>(0, t.cnt - 1);
  memblock_region &r = t.regions[i], &r1 = t.regions[i + 1];
  switch (*uniform(0, 7)) {
    case 0: std::swap(r, r1); break;                     // out of order
    case 1: r.size = r1.base + r1.size - r.base; break;  // overlap (sum also off)
    case 2: t.total_size -= r.size, r.size = 0; break;   // empty region
    case 3: t.total_size += UNIT; break;
    case 4: r.nid = use_memory ? int(MAX_NUMNODES) : 0; break;  // bad node
    case 5: r.flags = 0x8; break;                               // unknown flag
    case 6:  // two touching regions of one kind: not merged
      r1.base = r.base + r.size;
      r1.nid = r.nid;
      r1.flags = r.flags;
      t.total_size = 0;
      for (unsigned long j = 0; j < t.cnt; j++) t.total_size += t.regions[j].size;
      break;
  }
  char report[512];
  RC_ASSERT(memblock_check(*mb, report, sizeof(report)) > 0);
  RC_ASSERT(std::strlen(report) > 0);
  // A report too small for the text still counts every violation.
  RC_ASSERT(memblock_check(*mb, nullptr, 0) > 0);
}

// Each rule of memblock_check has its exact line, naming the region by its
// index (and the one before it where two are compared), and a report too
// small for the text keeps what fits and still counts every violation.
TEST(Memblock, CheckGivesEachDamageItsLine) {
  auto clean = std::make_unique<memblock>();
  memblock_init(*clean);
  ASSERT_EQ(memblock_add_node(*clean, 0x10000, 0x1000, 1, MEMBLOCK_NONE), 0);
  ASSERT_EQ(memblock_add_node(*clean, 0x20000, 0x1000, 2, MEMBLOCK_NOMAP), 0);
  ASSERT_EQ(memblock_reserve(*clean, 0x10000, 0x1000), 0);
  ASSERT_EQ(memblock_check(*clean, nullptr, 0), 0);
  struct damage_case {
    void (*damage)(memblock &);
    const char *line;
  };
  const damage_case cases[] = {
      {[](memblock &m) { m.memory.regions[0].size = 0, m.memory.total_size = 0x1000; }, "memory[0] at 0x10000 is empty\n"},
      {[](memblock &m) {
         m.memory.regions[1].size = PHYS_ADDR_MAX - 0x20000 + 1;
         m.memory.total_size = 0x1000 + m.memory.regions[1].size;
       },
       "memory[1] [0x20000+0xfffffffffffe0000] ends beyond PHYS_ADDR_MAX\n"},
      {[](memblock &m) { m.memory.regions[0].nid = -1; }, "memory[0] has bad node -1\n"},
      {[](memblock &m) { m.memory.regions[1].nid = int(MAX_NUMNODES); }, "memory[1] has bad node 8\n"},
      {[](memblock &m) { m.memory.regions[0].flags = 0x80; }, "memory[0] has unknown flags 0x80\n"},
      {[](memblock &m) { m.reserved.regions[0].nid = 0; }, "reserved[0] has node 0 and flags 0x0\n"},
      {[](memblock &m) { m.reserved.regions[0].flags = MEMBLOCK_NOMAP; }, "reserved[0] has node -1 and flags 0x4\n"},
      {[](memblock &m) { m.memory.regions[1].base = 0x10800; }, "memory[1] at 0x10800 is below the end 0x11000 of memory[0]\n"},
      {[](memblock &m) {
         m.memory.regions[1].base = 0x11000;
         m.memory.regions[1].nid = 1;
         m.memory.regions[1].flags = MEMBLOCK_NONE;
       },
       "memory[1] at 0x11000 is not merged with memory[0]\n"},
      {[](memblock &m) { m.memory.total_size += 0x1000; }, "memory.total_size 0x3000 but the regions add up to 0x2000\n"},
  };
  for (const damage_case &c : cases) {
    auto mb = std::make_unique<memblock>(*clean);
    c.damage(*mb);
    char report[256];
    EXPECT_EQ(memblock_check(*mb, report, sizeof(report)), 1) << c.line;
    EXPECT_STREQ(report, c.line);
  }
  // Two violations, and room for the first line and one more character.
  auto mb = std::make_unique<memblock>(*clean);
  mb->memory.regions[0].nid = -1;
  mb->memory.regions[1].nid = -2;
  const std::string first = "memory[0] has bad node -1\n", both = first + "memory[1] has bad node -2\n";
  char report[64];
  EXPECT_EQ(memblock_check(*mb, report, sizeof(report)), 2);
  EXPECT_EQ(report, both);
  EXPECT_EQ(memblock_check(*mb, report, first.size() + 2), 2);
  EXPECT_EQ(report, first + "m");
  // A report of size 0 is not written at all.
  char untouched = 'x';
  EXPECT_EQ(memblock_check(*mb, &untouched, 0), 2);
  EXPECT_EQ(untouched, 'x');
}

// Node ids run from 0 to MAX_NUMNODES - 1: memblock_add_node refuses
// MAX_NUMNODES and leaves the memory as it was; and memblock_init starts
// top-down whatever the struct held before.
TEST(Memblock, NodeIdsAndDirectionAfterInit) {
  auto mb = std::make_unique<memblock>();
  mb->bottom_up = true;
  memblock_init(*mb);
  EXPECT_FALSE(mb->bottom_up);
  EXPECT_EQ(memblock_add_node(*mb, 0x100000, 0x10000, int(MAX_NUMNODES), MEMBLOCK_NONE), -EINVAL);
  EXPECT_EQ(mb->memory.cnt, 0u);
  EXPECT_EQ(memblock_add_node(*mb, 0x100000, 0x10000, int(MAX_NUMNODES) - 1, MEMBLOCK_NONE), 0);
  EXPECT_EQ(memblock_phys_alloc(*mb, PAGE_SIZE, PAGE_SIZE), phys_addr_t(0x10f000));
}

// Ranges may reach PHYS_ADDR_MAX itself (their exclusive end), never beyond.
TEST(Memblock, TopOfAddressSpace) {
  auto mb = std::make_unique<memblock>();
  memblock_init(*mb);
  const phys_addr_t top = PHYS_ADDR_MAX - 4 * PAGE_SIZE;
  EXPECT_EQ(memblock_add(*mb, top, 4 * PAGE_SIZE + 1), -EINVAL);
  EXPECT_EQ(memblock_reserve(*mb, PHYS_ADDR_MAX, 1), -EINVAL);
  EXPECT_EQ(mb->memory.cnt, 0u);
  EXPECT_EQ(mb->reserved.cnt, 0u);
  ASSERT_EQ(memblock_add(*mb, top, 4 * PAGE_SIZE), 0);
  EXPECT_EQ(memblock_end_of_DRAM(*mb), PHYS_ADDR_MAX);
  EXPECT_TRUE(memblock_is_memory(*mb, PHYS_ADDR_MAX - 1));
  EXPECT_FALSE(memblock_is_memory(*mb, PHYS_ADDR_MAX));
  // The last whole page below PHYS_ADDR_MAX starts two pages below 2^64.
  EXPECT_EQ(memblock_phys_alloc(*mb, PAGE_SIZE, PAGE_SIZE), phys_addr_t(0) - 2 * PAGE_SIZE);
  EXPECT_EQ(memblock_phys_alloc(*mb, 1, 1), PHYS_ADDR_MAX - 1);
  // An alignment beyond the memory's own leaves nothing that fits.
  EXPECT_EQ(memblock_phys_alloc(*mb, PAGE_SIZE, phys_addr_t(1) << 63), 0u);
  EXPECT_EQ(memblock_check(*mb, nullptr, 0), 0);
  EXPECT_EQ(memblock_remove(*mb, 0, PHYS_ADDR_MAX), 0);
  EXPECT_EQ(memblock_phys_mem_size(*mb), 0u);
}

// The first page is never allocated, so 0 never names a successful allocation.
TEST(Memblock, FirstPageNeverAllocated) {
  auto mb = std::make_unique<memblock>();
  memblock_init(*mb);
  ASSERT_EQ(memblock_add(*mb, 0, 2 * PAGE_SIZE), 0);
  memblock_set_bottom_up(*mb, true);
  EXPECT_EQ(memblock_phys_alloc(*mb, 16, 16), PAGE_SIZE);
  EXPECT_EQ(memblock_phys_alloc(*mb, PAGE_SIZE, 1), 0u);
  EXPECT_EQ(memblock_phys_alloc_range(*mb, 16, 16, 0, PAGE_SIZE), 0u);
  EXPECT_FALSE(memblock_is_reserved(*mb, 0));
  EXPECT_EQ(memblock_reserved_size(*mb), 16u);
}

// Allocation calls that are caller bugs return 0, say so in the log, and
// change nothing; size 0 merely returns 0.
TEST(Memblock, BadAllocationsWarn) {
  auto mb = std::make_unique<memblock>();
  memblock_init(*mb);
  ASSERT_EQ(memblock_add(*mb, SZ_1G, SZ_1M), 0);
  const memblock before = *mb;
  auto warns = [](auto call) {
    char buf[512] = "";
    log_buf_clear();
    phys_addr_t got = call();
    log_buf_copy(buf, sizeof(buf) - 1);
    return got == 0 && std::strstr(buf, "memblock") != nullptr;
  };
  EXPECT_TRUE(warns([&] { return memblock_phys_alloc(*mb, PAGE_SIZE, 0); }));
  EXPECT_TRUE(warns([&] { return memblock_phys_alloc(*mb, PAGE_SIZE, 3 * PAGE_SIZE); }));
  EXPECT_TRUE(warns([&] { return memblock_phys_alloc_range(*mb, PAGE_SIZE, 1, SZ_1G, SZ_1G); }));
  EXPECT_TRUE(warns([&] { return memblock_phys_alloc_range(*mb, PAGE_SIZE, 1, SZ_4G, SZ_1G); }));
  EXPECT_TRUE(warns([&] { return memblock_phys_alloc_try_nid(*mb, PAGE_SIZE, 1, -2); }));
  EXPECT_TRUE(
      warns([&] { return memblock_phys_alloc_try_nid(*mb, PAGE_SIZE, 1, int(MAX_NUMNODES)); }));
  EXPECT_EQ(memblock_phys_alloc(*mb, 0, PAGE_SIZE), 0u);
  EXPECT_TRUE(same_state(*mb, before));
}

// try_nid takes the asked node's memory while it lasts, then any node's.
TEST(Memblock, TryNidPrefersNode) {
  auto mb = std::make_unique<memblock>();
  memblock_init(*mb);
  ASSERT_EQ(memblock_add_node(*mb, SZ_1G, SZ_1M, 0, MEMBLOCK_NONE), 0);
  ASSERT_EQ(memblock_add_node(*mb, SZ_1G + SZ_1M, SZ_1M, 1, MEMBLOCK_NONE), 0);
  ASSERT_EQ(memblock_add_node(*mb, SZ_1G + 2 * SZ_1M, SZ_1M, 2, MEMBLOCK_NOMAP), 0);
  EXPECT_EQ(mb->memory.cnt, 3u);
  EXPECT_EQ(memblock_phys_alloc_try_nid(*mb, SZ_1M / 2, PAGE_SIZE, 0), SZ_1G + SZ_1M / 2);
  EXPECT_EQ(memblock_phys_alloc_try_nid(*mb, SZ_1M / 2, PAGE_SIZE, 0), SZ_1G);
  // Node 0 is full: node 1 serves, from its top.
  EXPECT_EQ(memblock_phys_alloc_try_nid(*mb, SZ_1M / 2, PAGE_SIZE, 0), SZ_1G + SZ_1M + SZ_1M / 2);
  // Node 2 is NOMAP: never handed out, so this falls back as well.
  EXPECT_EQ(memblock_phys_alloc_try_nid(*mb, SZ_1M / 2, PAGE_SIZE, 2), SZ_1G + SZ_1M);
  EXPECT_EQ(memblock_phys_alloc_try_nid(*mb, PAGE_SIZE, PAGE_SIZE, NUMA_NO_NODE), 0u);
  EXPECT_TRUE(memblock_is_memory(*mb, SZ_1G + 2 * SZ_1M));
  EXPECT_EQ(memblock_reserved_size(*mb), 2 * SZ_1M);
}

// --------------------------------------------------------------- the dump

// The text memblock_dump printed, with any log-level markers removed.
std::string capture_dump(const memblock &mb) {
  log_buf_clear();
  memblock_dump(mb);
  static char buf[64 * 1024];
  size_t len = log_buf_copy(buf, sizeof(buf) - 1);
  std::string out;
  for (size_t i = 0; i < len; i++) {
    if (buf[i] == KERN_SOH[0] && i + 1 < len) {
      i++;
      continue;
    }
    out += buf[i];
  }
  return out;
}

// memblock_dump prints Linux's memblock=debug text: %pa as 0x and 16 digits,
// %#x as 0x even for zero, the node only for memory that has one.
TEST(Memblock, DumpMatchesLinuxFormat) {
  auto mb = std::make_unique<memblock>();
  memblock_init(*mb);
  ASSERT_EQ(memblock_add_node(*mb, 0x80000000, 0x8000000, 0, MEMBLOCK_NONE), 0);
  ASSERT_EQ(memblock_add_node(*mb, 0x88000000, 0x8000000, 1, MEMBLOCK_NOMAP), 0);
  ASSERT_EQ(memblock_reserve(*mb, 0x80000000, 0x200000), 0);
  ASSERT_EQ(memblock_reserve(*mb, 0x8fe00000, 0x1000), 0);
  const std::string want =
      "MEMBLOCK configuration:\n"
      " memory size = 0x0000000010000000 reserved size = 0x0000000000201000\n"
      " memory.cnt  = 0x2\n"
      " memory[0x0]\t[0x0000000080000000-0x0000000087ffffff], 0x0000000008000000 bytes on node 0 "
      "flags: 0x0\n"
      " memory[0x1]\t[0x0000000088000000-0x000000008fffffff], 0x0000000008000000 bytes on node 1 "
      "flags: 0x4\n"
      " reserved.cnt  = 0x2\n"
      " reserved[0x0]\t[0x0000000080000000-0x00000000801fffff], 0x0000000000200000 bytes flags: "
      "0x0\n"
      " reserved[0x1]\t[0x000000008fe00000-0x000000008fe00fff], 0x0000000000001000 bytes flags: "
      "0x0\n";
  EXPECT_EQ(capture_dump(*mb), want);
  memblock_init(*mb);
  EXPECT_EQ(capture_dump(*mb),
            "MEMBLOCK configuration:\n"
            " memory size = 0x0000000000000000 reserved size = 0x0000000000000000\n"
            " memory.cnt  = 0x0\n"
            " reserved.cnt  = 0x0\n");
}

// Reads a dump line strictly from left to right.
struct dump_cursor {
  std::string line;
  size_t pos = 0;

  bool lit(const std::string &text) {
    if (line.compare(pos, text.size(), text) != 0) return false;
    pos += text.size();
    return true;
  }
  // Lowercase hex digits: exactly `digits` of them, or at least one if 0.
  bool hex(u64 *value, size_t digits) {
    size_t n = 0;
    *value = 0;
    for (; pos + n < line.size(); n++) {
      char ch = line[pos + n];
      int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
      if (d < 0) break;
      *value = *value * 16 + unsigned(d);
    }
    pos += n;
    return digits ? n == digits : n > 0;
  }
  bool dec(u64 *value) {
    size_t n = 0;
    *value = 0;
    for (; pos + n < line.size() && line[pos + n] >= '0' && line[pos + n] <= '9'; n++)
      *value = *value * 10 + unsigned(line[pos + n] - '0');
    pos += n;
    return n > 0;
  }
  bool done() const { return pos == line.size(); }
};

// The dump of any state lists every region of both arrays, in order, in
// Linux's line format, and nothing else.
RC_GTEST_PROP(Memblock, DumpListsEveryRegion, ()) {
  auto mb = std::make_unique<memblock>();
  memblock_init(*mb);
  model m;
  m.base = 0x80000000;
  const auto ops = *rc::gen::container<std::vector<op>>(*uniform(0, 24), gen_op(false));
  for (const op &o : ops) step(*mb, m, o);

  std::vector<std::string> lines;
  std::string text = capture_dump(*mb);
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    RC_ASSERT(nl != std::string::npos);
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  RC_ASSERT(lines.size() == 4 + mb->memory.cnt + mb->reserved.cnt);
  RC_ASSERT(lines[0] == "MEMBLOCK configuration:");
  u64 mem_size, rsv_size;
  dump_cursor c{lines[1]};
  RC_ASSERT(c.lit(" memory size = 0x") && c.hex(&mem_size, 16) && c.lit(" reserved size = 0x") &&
            c.hex(&rsv_size, 16) && c.done());
  RC_ASSERT(mem_size == memblock_phys_mem_size(*mb));
  RC_ASSERT(rsv_size == memblock_reserved_size(*mb));
  size_t at = 2;
  for (const memblock_type *t : {&mb->memory, &mb->reserved}) {
    const std::string name = t == &mb->memory ? "memory" : "reserved";
    u64 cnt;
    c = dump_cursor{lines[at++]};
    RC_ASSERT(c.lit(" " + name + ".cnt  = 0x") && c.hex(&cnt, 0) && c.done());
    RC_ASSERT(cnt == t->cnt);
    for (unsigned long i = 0; i < t->cnt; i++) {
      const memblock_region &r = t->regions[i];
      u64 idx, base, last, size, flags, nid = ~u64(0);
      c = dump_cursor{lines[at++]};
      RC_ASSERT(c.lit(" " + name + "[0x") && c.hex(&idx, 0) && c.lit("]\t[0x") &&
                c.hex(&base, 16) && c.lit("-0x") && c.hex(&last, 16) && c.lit("], 0x") &&
                c.hex(&size, 16) && c.lit(" bytes"));
      if (c.lit(" on node ")) RC_ASSERT(c.dec(&nid));
      RC_ASSERT(c.lit(" flags: 0x") && c.hex(&flags, 0) && c.done());
      RC_ASSERT(idx == i);
      RC_ASSERT(base == r.base);
      RC_ASSERT(last == r.base + r.size - 1);  // Linux prints the inclusive end
      RC_ASSERT(size == r.size);
      // Only memory regions have a node to show.
      RC_ASSERT(nid == (name == "memory" ? u64(r.nid) : ~u64(0)));
      RC_ASSERT(flags == r.flags);
    }
  }
}

}  // namespace

// Properties of mm/pgtable: map, unmap, walk and the leaf iterator, over
// simulated physical memory. The model of a page table is just the list of
// ranges mapped; check_table() compares the real table with it and returns a
// description of every difference, so that assertions stay in the test frame.
#include "mm/pgtable.h"
#include "mm/pgtable_iter.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "arch/arch.h"
#include "arch/host/physmem.h"
#include "kernel/errno.h"

namespace {

constexpr phys_addr_t RAM_BASE = 0x80000000;
constexpr u64 RAM_SIZE = 64 * SZ_1M;
// Every byte 0xcf reads as a valid W+X leaf: a table page the code forgot to
// zero, or read after giving it back, shows up as a forbidden leaf.
constexpr u64 POISON = 0xcfcfcfcfcfcfcfcfull;
constexpr uintptr_t HIGH_HALF = 0xffffffc000000000ul;
constexpr uintptr_t TOP = ~uintptr_t(0);

std::string hex(u64 x) {
  char buf[24];
  snprintf(buf, sizeof(buf), "%#llx", static_cast<unsigned long long>(x));
  return buf;
}

void poison_page(phys_addr_t pa) {
  u64 *p = static_cast<u64 *>(phys_to_virt(pa));
  std::fill(p, p + PAGE_SIZE / 8, POISON);
}

// Table pages come from all of the simulated RAM. The pool knows which pages
// are out, so leaks and bad or double frees are visible; it can be told to
// fail after a number of allocations.
struct table_pool {
  std::vector<phys_addr_t> free_pages;  // a stack: a freed page is reused first
  std::set<phys_addr_t> in_use;
  long budget = -1;  // allocations left before failing; -1 for no limit
  std::vector<std::string> errors;
  std::vector<unsigned long> flushes_at_free;  // host::tlb_flushes when each page came back

  table_pool() {
    for (phys_addr_t pa = RAM_BASE + RAM_SIZE; pa > RAM_BASE;)
      free_pages.push_back(pa -= PAGE_SIZE);
  }
  static phys_addr_t alloc(void *ctx) {
    auto *pool = static_cast<table_pool *>(ctx);
    if (pool->budget == 0 || pool->free_pages.empty()) return 0;
    if (pool->budget > 0) pool->budget--;
    phys_addr_t pa = pool->free_pages.back();
    pool->free_pages.pop_back();
    pool->in_use.insert(pa);
    poison_page(pa);
    return pa;
  }
  static void free(void *ctx, phys_addr_t pa) {
    auto *pool = static_cast<table_pool *>(ctx);
    if (!pool->in_use.erase(pa)) {
      pool->errors.push_back("free of a page not allocated: " + hex(pa));
      return;
    }
    poison_page(pa);
    pool->free_pages.push_back(pa);
    pool->flushes_at_free.push_back(host::tlb_flushes);
  }
  pt_alloc_ops ops() { return {alloc, free, this}; }
};

// One fresh machine: RAM, a pool over it and an initialised table.
struct pt_env {
  table_pool pool;
  page_table pt{};
  int init_err;

  pt_env() {
    host_physmem_reset();
    init_err = host_physmem_add(RAM_BASE, RAM_SIZE);
    if (!init_err) init_err = pgtable_init(&pt, pool.ops());
  }
  pt_env(const pt_env &) = delete;
  int map(uintptr_t va, phys_addr_t pa, u64 size, unsigned prot, unsigned max_level) {
    return pgtable_map(&pt, va, pa, size, prot, max_level, pool.ops());
  }
  int unmap(uintptr_t va, u64 size) { return pgtable_unmap(&pt, va, size, pool.ops()); }
};

struct leaf {
  uintptr_t va;
  u64 size;
  pt_walk_result r;
  uintptr_t last() const { return va + (size - 1); }
};

std::vector<leaf> dump(const page_table &pt) {
  std::vector<leaf> out;
  pgtable_for_each_leaf(pt, [&](uintptr_t va, u64 size, const pt_walk_result &r) {
    out.push_back({va, size, r});
  });
  return out;
}

// The whole state a failed call must leave alone: the root and the bytes of
// every page the pool has out (which are exactly the table pages).
struct snapshot {
  phys_addr_t root;
  std::map<phys_addr_t, std::vector<u64>> pages;
  bool operator==(const snapshot &) const = default;
};

snapshot take_snapshot(const pt_env &e) {
  snapshot s{e.pt.root, {}};
  for (phys_addr_t pa : e.pool.in_use) {
    const u64 *p = static_cast<const u64 *>(phys_to_virt(pa));
    s.pages[pa] = std::vector<u64>(p, p + PAGE_SIZE / 8);
  }
  return s;
}

struct mapping {
  uintptr_t va;
  phys_addr_t pa;
  u64 size;
  unsigned prot;
  unsigned max_level;
  uintptr_t last() const { return va + (size - 1); }
};

using model = std::map<uintptr_t, mapping>;  // keyed by va; ranges never overlap

const mapping *model_find(const model &m, uintptr_t va) {
  auto it = m.upper_bound(va);
  if (it == m.begin()) return nullptr;
  --it;
  return va <= it->second.last() ? &it->second : nullptr;
}

// Removes [first, last] from the model, splitting the mappings it cuts.
void model_unmap(model &m, uintptr_t first, uintptr_t last) {
  model out;
  for (const auto &[va, mp] : m) {
    if (mp.last() < first || mp.va > last) {
      out[va] = mp;
      continue;
    }
    if (mp.va < first) {
      mapping left = mp;
      left.size = first - mp.va;
      out[left.va] = left;
    }
    if (mp.last() > last) {
      mapping right = mp;
      right.va = last + 1;
      right.pa = mp.pa + (right.va - mp.va);
      right.size = mp.last() - last;
      out[right.va] = right;
    }
  }
  m = out;
}

// Pages of a mapping whose translation is probed: all of them for a mapping
// of up to 64 MiB, otherwise both ends, both sides of every 2 MiB boundary
// and a spread of others.
std::vector<u64> probe_offsets(const mapping &m) {
  std::vector<u64> offs;
  const u64 pages = m.size / PAGE_SIZE;
  if (pages <= 16384) {
    for (u64 i = 0; i < pages; i++) offs.push_back(i * PAGE_SIZE);
    return offs;
  }
  for (u64 i = 0; i < 512; i++) {
    offs.push_back(i * PAGE_SIZE);
    offs.push_back(m.size - (i + 1) * PAGE_SIZE);
  }
  for (u64 off = ALIGN_UP(m.va, SZ_2M) - m.va; off < m.size; off += SZ_2M) {
    offs.push_back(off);
    if (off) offs.push_back(off - PAGE_SIZE);
  }
  u64 x = m.va ^ m.pa;
  for (int i = 0; i < 256; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    offs.push_back(((x >> 20) % pages) * PAGE_SIZE);
  }
  return offs;
}

// Compares the table with the model and the pool; returns every violation.
std::vector<std::string> check_table(const pt_env &e, const model &m) {
  std::vector<std::string> errs;
  auto err = [&](const std::string &s) {
    if (errs.size() < 20) errs.push_back(s);
  };
  const std::vector<leaf> leaves = dump(e.pt);
  std::map<uintptr_t, u64> covered;
  std::set<u64> l1_tables, l0_tables;

  for (size_t i = 0; i < leaves.size(); i++) {
    const leaf &l = leaves[i];
    const std::string at = "leaf " + hex(l.va) + ": ";
    if (i > 0 && leaves[i - 1].last() >= l.va) err(at + "not after the previous leaf");
    if (l.r.level > 2 || l.size != sv39_level_size(l.r.level))
      err(at + "size does not match level");
    if (!IS_ALIGNED(l.va, l.size) || !IS_ALIGNED(l.r.pa, l.size)) err(at + "misaligned");
    const pte_t need = PTE_V | PTE_A | PTE_R;
    if ((l.r.pte & need) != need) err(at + "lacks V, A or R");
    if ((l.r.pte & PTE_W) && (l.r.pte & PTE_X)) err(at + "writable and executable");
    if ((l.r.pte & PTE_W) && !(l.r.pte & PTE_D)) err(at + "writable without D");
    if (l.r.level < 2) l1_tables.insert(l.va >> 30);
    if (l.r.level < 1) l0_tables.insert(l.va >> 21);

    const mapping *mp = model_find(m, l.va);
    if (!mp || l.last() > mp->last()) {
      err(at + "outside every mapping");
      continue;
    }
    covered[mp->va] += l.size;
    if (l.r.pa != mp->pa + (l.va - mp->va)) err(at + "maps the wrong frame " + hex(l.r.pa));
    if (l.r.prot != mp->prot) err(at + "prot " + hex(l.r.prot) + " instead of " + hex(mp->prot));
    if (l.r.level > mp->max_level) err(at + "larger than max_level allows");
    // Never smaller than needed: the next larger block around it must not be
    // a candidate (wholly inside the mapping, va and pa aligned alike).
    if (l.r.level < mp->max_level) {
      const u64 big = sv39_level_size(l.r.level + 1);
      const uintptr_t first = ALIGN_DOWN(l.va, big);
      if (first >= mp->va && first + (big - 1) <= mp->last() &&
          IS_ALIGNED(mp->pa + (first - mp->va), big))
        err(at + "level " + std::to_string(l.r.level) + " where a larger leaf fits");
    }
  }

  for (const auto &[va, mp] : m) {
    if (covered[va] != mp.size) err("mapping " + hex(va) + " not wholly covered by leaves");
    for (u64 off : probe_offsets(mp)) {
      pt_walk_result r;
      if (!pgtable_walk(e.pt, va + off, &r)) {
        err("walk " + hex(va + off) + ": not mapped");
        continue;
      }
      if (r.pa != mp.pa + off || r.prot != mp.prot)
        err("walk " + hex(va + off) + ": gives " + hex(r.pa) + " prot " + hex(r.prot));
      auto it = std::upper_bound(leaves.begin(), leaves.end(), va + off,
                                 [](uintptr_t a, const leaf &l) { return a < l.va; });
      if (it == leaves.begin() || (--it)->r.pte != r.pte || it->r.level != r.level)
        err("walk " + hex(va + off) + ": disagrees with the leaf iterator");
    }
    // The pages just outside a mapping translate only if another mapping is there.
    const uintptr_t outside[] = {va - PAGE_SIZE, mp.last() + 1};
    for (uintptr_t o : outside)
      if (sv39_canonical(o) && !model_find(m, o) && pgtable_walk(e.pt, o, nullptr))
        err("walk " + hex(o) + ": translates outside every mapping");
  }

  // No table is empty: the only tables are the root, one per gigabyte holding
  // smaller leaves and one per 2 MiB holding 4 KiB leaves; and the pool has
  // out exactly these pages.
  const unsigned long tables = pgtable_count_tables(e.pt);
  if (tables != 1 + l1_tables.size() + l0_tables.size())
    err("tables: " + std::to_string(tables) + ", needed " +
        std::to_string(1 + l1_tables.size() + l0_tables.size()));
  if (tables != e.pool.in_use.size())
    err("pool has " + std::to_string(e.pool.in_use.size()) + " pages out for " +
        std::to_string(tables) + " tables");
  for (const std::string &s : e.pool.errors) err(s);
  return errs;
}

std::string join(const std::vector<std::string> &lines) {
  std::string s;
  for (const std::string &l : lines) s += l + "\n";
  return s;
}

// --- generators ---

struct region {
  uintptr_t first, last;
};

// Where mappings go: the user half and, in the kernel half, vmalloc, the
// direct map and the kernel image (which reaches the top of the address space).
const region REGIONS[] = {
    {0, USER_END - 1},
    {VMALLOC_START_ADDR, VMALLOC_END_ADDR - 1},
    {PAGE_OFFSET, DIRECT_MAP_END - 1},
    {KERNEL_VIRT_BASE, TOP},
};

u64 gen_count(u64 max) {
  return *rc::gen::oneOf(rc::gen::just<u64>(0), rc::gen::inRange<u64>(1, max + 1));
}

// A length built of gigapages, 2 MiB blocks and pages, each part often zero,
// so that sums land on every alignment.
u64 gen_span(u64 max_giga, u64 max_mega, u64 max_pages) {
  const u64 giga = max_giga ? gen_count(max_giga) : 0;
  return giga * SZ_1G + gen_count(max_mega) * SZ_2M + gen_count(max_pages) * PAGE_SIZE;
}

unsigned gen_prot() {
  unsigned prot = PROT_READ;
  prot |= *rc::gen::element(0u, unsigned(PROT_WRITE), unsigned(PROT_EXEC));
  if (*rc::gen::arbitrary<bool>()) prot |= PROT_USER;
  if (*rc::gen::arbitrary<bool>()) prot |= PROT_GLOBAL;
  return prot;
}

// A physical address for va: often congruent to it modulo 1 GiB or 2 MiB, so
// that huge leaves are possible, below 4 TiB.
phys_addr_t gen_pa(uintptr_t va) {
  const u64 rel = *rc::gen::weightedElement<u64>({{2, SZ_1G}, {1, SZ_2M}, {1, PAGE_SIZE}});
  const u64 base = *rc::gen::inRange<u64>(0, 4096) * SZ_1G;
  if (rel == PAGE_SIZE) return base + *rc::gen::inRange<u64>(0, SZ_1G / PAGE_SIZE) * PAGE_SIZE;
  return base + (va & (rel - 1));
}

// Up to max_count mappings laid out in increasing order in one region, with
// random gaps (often none) between them.
model gen_layout(size_t max_count) {
  const region rg = REGIONS[*rc::gen::inRange<size_t>(0, std::size(REGIONS))];
  const size_t count = *rc::gen::inRange<size_t>(1, max_count + 1);
  const u64 room = rg.last - rg.first;
  uintptr_t cursor = rg.first + gen_span(room / SZ_1G / 4, 511, 511);
  model m;
  for (size_t i = 0; i < count; i++) {
    const u64 gap = gen_span(1, 4, 16);
    if (gap > rg.last - cursor) break;
    const u64 align = *rc::gen::weightedElement<u64>({{1, PAGE_SIZE}, {1, SZ_2M}, {2, SZ_1G}});
    const uintptr_t va = ALIGN_UP(cursor + gap, align);
    if (va < cursor || va > rg.last) break;
    const unsigned max_level = *rc::gen::weightedElement<unsigned>({{1, 0}, {1, 1}, {2, 2}});
    const phys_addr_t pa = gen_pa(va);
    // 4 KiB leaves cost a table page per 2 MiB and a walk per page: where
    // nothing larger can be used, keep the mapping small.
    const bool huge_ok = max_level > 0 && IS_ALIGNED(va ^ pa, SZ_2M);
    u64 size = huge_ok ? gen_span(2, 3, 600) : gen_span(0, 2, 600);
    size = std::min(std::max(size, PAGE_SIZE), rg.last - va + 1);
    const mapping mp = {va, pa, size, gen_prot(), max_level};
    m[va] = mp;
    if (mp.last() == rg.last) break;
    cursor = mp.last() + 1;
  }
  if (m.empty()) {  // the first gap or alignment ran past the region
    const phys_addr_t pa = gen_pa(rg.first);
    m[rg.first] = {rg.first, pa, PAGE_SIZE, gen_prot(), 0};
  }
  return m;
}

// Maps every mapping of the model; returns the first error.
int map_all(pt_env &e, const model &m) {
  for (const auto &[va, mp] : m) {
    int err = e.map(va, mp.pa, mp.size, mp.prot, mp.max_level);
    if (err) return err;
  }
  return 0;
}

// --- map ---

// Every page of random non-overlapping mappings translates to its frame with
// its prot, through leaves as large as alignment and max_level allow; each map
// flushes the local TLB.
RC_GTEST_PROP(PgtableMap, MappingsTranslateWithLargestLeaves, ()) {
  pt_env e;
  RC_ASSERT(e.init_err == 0);
  const model m = gen_layout(6);
  const unsigned long flushes = host::tlb_flushes;
  RC_ASSERT(map_all(e, m) == 0);
  const unsigned long flushed = host::tlb_flushes - flushes;
  RC_ASSERT(flushed >= m.size());  // RISC-V may cache a not-valid entry
  RC_ASSERT(join(check_table(e, m)) == "");
}

// The first leaf of a mapping has the largest level whose size divides va and
// pa and fits in the size, up to max_level.
RC_GTEST_PROP(PgtableMap, FirstLeafLevelIsLargestPermitted, ()) {
  pt_env e;
  RC_ASSERT(e.init_err == 0);
  const region rg = REGIONS[*rc::gen::inRange<size_t>(0, std::size(REGIONS))];
  const uintptr_t va = rg.first + gen_span(1, 511, 511);
  const phys_addr_t pa = gen_pa(va);
  const u64 size = std::min(std::max(gen_span(2, 3, 3), PAGE_SIZE), rg.last - va + 1);
  const unsigned max_level = *rc::gen::inRange(0u, 3u);
  RC_ASSERT(e.map(va, pa, size, PROT_READ, max_level) == 0);

  unsigned want = 0;
  for (unsigned l = 1; l <= max_level; l++) {
    const u64 s = sv39_level_size(l);
    if (IS_ALIGNED(va, s) && IS_ALIGNED(pa, s) && size >= s) want = l;
  }
  pt_walk_result r;
  RC_ASSERT(pgtable_walk(e.pt, va, &r));
  RC_ASSERT(r.level == want);
  RC_ASSERT(r.pa == pa);
}

// A prot without PROT_READ, with both PROT_WRITE and PROT_EXEC, or with an
// unknown bit is refused and changes nothing.
RC_GTEST_PROP(PgtableMap, BadProtIsEinval, ()) {
  pt_env e;
  RC_ASSERT(e.init_err == 0);
  const auto any_prot = rc::gen::oneOf(rc::gen::inRange(0u, 32u), rc::gen::arbitrary<unsigned>());
  const unsigned prot = *rc::gen::suchThat(any_prot, [](unsigned p) {
    return !(p & PROT_READ) || ((p & PROT_WRITE) && (p & PROT_EXEC)) || (p >> 5);
  });
  const snapshot before = take_snapshot(e);
  RC_ASSERT(e.map(SZ_1G, SZ_1G, SZ_1G, prot, 2) == -EINVAL);
  RC_ASSERT(take_snapshot(e) == before);
  RC_ASSERT(dump(e.pt).empty());
}

// A mapping that overlaps an existing one fails with -EEXIST and leaves the
// tables and the pool exactly as they were.
RC_GTEST_PROP(PgtableMap, OverlapIsEexistAndChangesNothing, ()) {
  pt_env e;
  RC_ASSERT(e.init_err == 0);
  const model m = gen_layout(4);
  RC_ASSERT(map_all(e, m) == 0);

  // A range around a random page of a random mapping, kept in its half.
  const mapping &hit = std::next(m.begin(), *rc::gen::inRange<size_t>(0, m.size()))->second;
  const uintptr_t page = hit.va + *rc::gen::inRange<u64>(0, hit.size / PAGE_SIZE) * PAGE_SIZE;
  const uintptr_t half_first = page >= HIGH_HALF ? HIGH_HALF : 0;
  const uintptr_t half_last = page >= HIGH_HALF ? TOP : USER_END - 1;
  const u64 before_len = std::min(gen_span(2, 3, 16), page - half_first);
  const u64 after_len = std::min(gen_span(2, 3, 16), half_last - page - (PAGE_SIZE - 1));
  const uintptr_t va = page - before_len;
  const u64 size = before_len + PAGE_SIZE + after_len;

  const snapshot before = take_snapshot(e);
  RC_ASSERT(e.map(va, gen_pa(va), size, gen_prot(), *rc::gen::inRange(0u, 3u)) == -EEXIST);
  RC_ASSERT(take_snapshot(e) == before);
  RC_ASSERT(join(check_table(e, m)) == "");
}

// When the pool runs dry during a map (after 0 to 7 pages, or a random number
// more), the call fails with -ENOMEM, the tables are as before and every page
// it took is back; with enough pages the same call succeeds.
RC_GTEST_PROP(PgtableMap, EnomemChangesNothingAndLeaksNothing, ()) {
  pt_env e;
  RC_ASSERT(e.init_err == 0);
  model m = gen_layout(5);
  const mapping last = std::prev(m.end())->second;
  m.erase(last.va);
  RC_ASSERT(map_all(e, m) == 0);

  const snapshot before = take_snapshot(e);
  std::vector<long> budgets = {0, 1, 2, 3, 4, 5, 6, 7, *rc::gen::inRange<long>(8, 2048), -1};
  int err = -ENOMEM;
  for (size_t i = 0; err == -ENOMEM; i++) {
    RC_ASSERT(i < budgets.size());
    e.pool.budget = budgets[i];
    err = e.map(last.va, last.pa, last.size, last.prot, last.max_level);
    if (err == -ENOMEM) RC_ASSERT(take_snapshot(e) == before);
  }
  RC_ASSERT(err == 0);
  m[last.va] = last;
  RC_ASSERT(join(check_table(e, m)) == "");
}

// Misaligned, empty, non-canonical, half-crossing and wrapping ranges, frames
// beyond 56 bits and levels above 2 are refused and change nothing.
TEST(PgtableMap, BadArgumentsAreEinval) {
  pt_env e;
  ASSERT_EQ(e.init_err, 0);
  ASSERT_EQ(e.map(SZ_1G, SZ_1G, SZ_2M, PROT_READ, 1), 0);
  const snapshot before = take_snapshot(e);
  const struct {
    uintptr_t va;
    phys_addr_t pa;
    u64 size;
    unsigned max_level;
  } bad[] = {
      {SZ_4G + 8, 0, PAGE_SIZE, 0},  // va misaligned
      {SZ_4G, 0x800, PAGE_SIZE, 0},  // pa misaligned
      {SZ_4G, 0, PAGE_SIZE + 1, 0},  // size misaligned
      {SZ_4G, 0, 0, 0},              // empty
      {SZ_4G, 0, PAGE_SIZE, 3},      // no level 3 in Sv39
      {USER_END, 0, PAGE_SIZE, 0},   // first non-canonical page
      {0x0000800000000000ul, 0, PAGE_SIZE, 0},
      {HIGH_HALF - PAGE_SIZE, 0, PAGE_SIZE, 0},
      {USER_END - PAGE_SIZE, 0, 2 * PAGE_SIZE, 0},                         // runs off the low half
      {USER_END - PAGE_SIZE, 0, HIGH_HALF - USER_END + 2 * PAGE_SIZE, 0},  // crosses the hole
      {TOP - PAGE_SIZE + 1, 0, 2 * PAGE_SIZE, 0},                          // wraps past 2^64
      {TOP - PAGE_SIZE + 1, 0, PAGE_MASK, 0},  // wraps back into the same half
      {SZ_4G, u64(1) << 56, PAGE_SIZE, 0},     // frame beyond 56 bits
      {SZ_4G, (u64(1) << 56) - PAGE_SIZE, 2 * PAGE_SIZE, 0},
  };
  for (const auto &b : bad)
    EXPECT_EQ(e.map(b.va, b.pa, b.size, PROT_READ, b.max_level), -EINVAL) << hex(b.va);
  page_table none{};
  EXPECT_EQ(pgtable_map(nullptr, SZ_4G, 0, PAGE_SIZE, PROT_READ, 0, e.pool.ops()), -EINVAL);
  EXPECT_EQ(pgtable_map(&none, SZ_4G, 0, PAGE_SIZE, PROT_READ, 0, e.pool.ops()), -EINVAL);
  EXPECT_EQ(pgtable_unmap(&none, SZ_4G, PAGE_SIZE, e.pool.ops()), -EINVAL);
  EXPECT_TRUE(take_snapshot(e) == before);
  // The last frame below 2^56 is a frame like any other.
  EXPECT_EQ(e.map(SZ_4G, (u64(1) << 56) - PAGE_SIZE, PAGE_SIZE, PROT_READ, 0), 0);
  EXPECT_EQ(pgtable_unmap(&e.pt, SZ_4G, PAGE_SIZE, e.pool.ops()), 0);
}

// Table pages need both halves of pt_alloc_ops: a map may allocate tables
// and, on -ENOMEM, must give back those it took. Ops missing either half are
// a missing argument (-EINVAL) however little the call would need, and
// nothing is taken or mapped; an unmap without free_table changes nothing.
TEST(PgtableMap, OpsMissingAHalfAreEinval) {
  pt_env e;
  ASSERT_EQ(e.init_err, 0);
  const snapshot before = take_snapshot(e);
  const size_t pool_free = e.pool.free_pages.size();
  const pt_alloc_ops no_free = {table_pool::alloc, nullptr, &e.pool};
  const pt_alloc_ops no_alloc = {nullptr, table_pool::free, &e.pool};
  for (const pt_alloc_ops &ops : {no_free, no_alloc}) {
    EXPECT_EQ(pgtable_map(&e.pt, SZ_4G, SZ_1G, PAGE_SIZE, PROT_READ, 0, ops), -EINVAL);
    page_table pt{};
    EXPECT_EQ(pgtable_init(&pt, ops), -EINVAL);
    EXPECT_EQ(pt.root, 0u);
  }
  EXPECT_EQ(e.pool.free_pages.size(), pool_free);
  EXPECT_TRUE(take_snapshot(e) == before);
  EXPECT_FALSE(pgtable_walk(e.pt, SZ_4G, nullptr));
  // An unmap gives tables back, so it needs free_table: without it, -EINVAL
  // and the mapping stays.
  ASSERT_EQ(e.map(SZ_4G, SZ_1G, PAGE_SIZE, PROT_READ, 0), 0);
  const snapshot mapped = take_snapshot(e);
  EXPECT_EQ(pgtable_unmap(&e.pt, SZ_4G, PAGE_SIZE, no_free), -EINVAL);
  EXPECT_TRUE(take_snapshot(e) == mapped);
  EXPECT_TRUE(pgtable_walk(e.pt, SZ_4G, nullptr));
  EXPECT_EQ(e.unmap(SZ_4G, PAGE_SIZE), 0);
  EXPECT_FALSE(pgtable_walk(e.pt, SZ_4G, nullptr));
}

// Where a huge leaf would cover an existing empty lower table, the mapping
// goes into that table with smaller leaves instead of failing.
TEST(PgtableMap, HugeLeafOverEmptyTableUsesSmallerLeaves) {
  pt_env e;
  ASSERT_EQ(e.init_err, 0);
  const uintptr_t va = 3 * SZ_1G;
  const phys_addr_t l1 = table_pool::alloc(&e.pool);
  std::fill_n(static_cast<pte_t *>(phys_to_virt(l1)), PTRS_PER_TABLE, pte_t(0));
  static_cast<pte_t *>(phys_to_virt(e.pt.root))[sv39_index(va, 2)] = phys_to_pte(l1) | PTE_V;

  ASSERT_EQ(e.map(va, 5 * SZ_1G, SZ_1G, PROT_READ | PROT_WRITE, 2), 0);
  pt_walk_result r;
  for (u64 off = 0; off < SZ_1G; off += SZ_2M) {
    ASSERT_TRUE(pgtable_walk(e.pt, va + off + PAGE_SIZE, &r));
    EXPECT_EQ(r.level, 1u);
    EXPECT_EQ(r.pa, 5 * SZ_1G + off + PAGE_SIZE);
  }
  EXPECT_EQ(pgtable_count_tables(e.pt), 2u);
  EXPECT_EQ(dump(e.pt).size(), 512u);
}

// The last page and the last gigabyte of the address space can be mapped and
// unmapped (their end is 2^64, which does not fit in a uintptr_t).
TEST(PgtableMap, TopOfAddressSpace) {
  pt_env e;
  ASSERT_EQ(e.init_err, 0);
  const uintptr_t top_g = TOP - SZ_1G + 1;
  ASSERT_EQ(e.map(top_g, 7 * SZ_1G, SZ_1G, PROT_READ | PROT_EXEC, 2), 0);
  pt_walk_result r;
  ASSERT_TRUE(pgtable_walk(e.pt, TOP, &r));
  EXPECT_EQ(r.level, 2u);
  EXPECT_EQ(r.pa, 8 * SZ_1G - 1);
  EXPECT_EQ(e.map(TOP - PAGE_SIZE + 1, 0, PAGE_SIZE, PROT_READ, 0), -EEXIST);
  ASSERT_EQ(e.unmap(top_g, SZ_1G), 0);
  ASSERT_EQ(e.map(TOP - PAGE_SIZE + 1, 0, PAGE_SIZE, PROT_READ, 0), 0);
  ASSERT_TRUE(pgtable_walk(e.pt, TOP, &r));
  EXPECT_EQ(r.level, 0u);
  EXPECT_EQ(r.pa, PAGE_SIZE - 1);
  EXPECT_EQ(pgtable_count_tables(e.pt), 3u);
  ASSERT_EQ(e.unmap(HIGH_HALF, TOP - HIGH_HALF + 1), 0);
  EXPECT_EQ(pgtable_count_tables(e.pt), 1u);
  EXPECT_EQ(e.pool.in_use.size(), 1u);
}

// --- unmap ---

// Unmapping a range between leaf boundaries (holes allowed) removes exactly
// that range, flushes the TLB and then gives back emptied tables; once
// everything is unmapped only the root is left.
RC_GTEST_PROP(PgtableUnmap, RemovesExactlyTheRange, ()) {
  pt_env e;
  RC_ASSERT(e.init_err == 0);
  model m = gen_layout(6);
  RC_ASSERT(map_all(e, m) == 0);

  const unsigned rounds = *rc::gen::inRange(1u, 5u);
  for (unsigned round = 0; round < rounds; round++) {
    const std::vector<leaf> leaves = dump(e.pt);
    if (leaves.empty()) break;
    const size_t i = *rc::gen::inRange<size_t>(0, leaves.size());
    const size_t j = *rc::gen::inRange<size_t>(i, leaves.size());
    // Stretch the range into the holes around it, if any.
    const uintptr_t lo = i ? leaves[i - 1].last() + 1 : ALIGN_DOWN(leaves[i].va, SZ_1G);
    const uintptr_t hi =
        j + 1 < leaves.size() ? leaves[j + 1].va - 1 : leaves[j].last() | (SZ_1G - 1);
    const uintptr_t first =
        leaves[i].va - *rc::gen::inRange<u64>(0, (leaves[i].va - lo) / PAGE_SIZE + 1) * PAGE_SIZE;
    const uintptr_t last =
        leaves[j].last() +
        *rc::gen::inRange<u64>(0, (hi - leaves[j].last()) / PAGE_SIZE + 1) * PAGE_SIZE;

    const unsigned long flushes = host::tlb_flushes;
    e.pool.flushes_at_free.clear();
    RC_ASSERT(e.unmap(first, last - first + 1) == 0);
    const unsigned long flushes_after = host::tlb_flushes;
    RC_ASSERT(flushes_after > flushes);
    for (unsigned long f : e.pool.flushes_at_free) RC_ASSERT(f > flushes);
    model_unmap(m, first, last);
    RC_ASSERT(join(check_table(e, m)) == "");
    for (uintptr_t a : {first, last & PAGE_MASK}) RC_ASSERT(!pgtable_walk(e.pt, a, nullptr));
  }

  RC_ASSERT(e.unmap(0, USER_END) == 0);
  RC_ASSERT(e.unmap(HIGH_HALF, TOP - HIGH_HALF + 1) == 0);
  RC_ASSERT(dump(e.pt).empty());
  RC_ASSERT(pgtable_count_tables(e.pt) == 1ul);
  RC_ASSERT(e.pool.in_use == std::set<phys_addr_t>{e.pt.root});
  RC_ASSERT(e.pool.errors.empty());
}

// An unmap whose range begins or ends inside a huge leaf fails with -EINVAL
// and changes nothing.
RC_GTEST_PROP(PgtableUnmap, StraddlingHugeLeafIsEinval, ()) {
  pt_env e;
  RC_ASSERT(e.init_err == 0);
  const unsigned level = *rc::gen::inRange(1u, 3u);
  const u64 big = sv39_level_size(level);
  const region rg = REGIONS[*rc::gen::inRange<size_t>(0, std::size(REGIONS))];
  const uintptr_t va = rg.first + *rc::gen::inRange<u64>(0, 2) * big;
  const u64 size = std::min(*rc::gen::inRange<u64>(1, 3) * big, ALIGN_DOWN(rg.last - va + 1, big));
  RC_ASSERT(e.map(va, *rc::gen::inRange<u64>(1, 64) * big, size, PROT_READ, level) == 0);

  const uintptr_t huge = va + *rc::gen::inRange<u64>(0, size / big) * big;
  const u64 inside = *rc::gen::inRange<u64>(1, big / PAGE_SIZE) * PAGE_SIZE;
  const u64 extra = gen_span(1, 3, 3);
  uintptr_t first, last;
  if (*rc::gen::arbitrary<bool>()) {  // begins inside, ends anywhere after
    first = huge + inside;
    last = first + std::min(extra, rg.last - first - (PAGE_SIZE - 1)) + (PAGE_SIZE - 1);
  } else {  // ends inside, begins anywhere before
    last = huge + inside - 1;
    first = huge - std::min(extra, huge - rg.first);
  }
  const snapshot before = take_snapshot(e);
  RC_ASSERT(e.unmap(first, last - first + 1) == -EINVAL);
  RC_ASSERT(take_snapshot(e) == before);
}

// Holes are part of what an unmap may cover, at any level: a range that
// starts and ends inside holes too large for its alignment clears what lies
// between and nothing else.
TEST(PgtableUnmap, RangeEndingInLargeHolesIsFine) {
  pt_env e;
  ASSERT_EQ(e.init_err, 0);
  const uintptr_t va = SZ_1G + 2 * SZ_1M;  // under one table per level; its 2 MiB and 1 GiB neighbours are holes
  ASSERT_EQ(e.map(va, RAM_BASE, PAGE_SIZE, PROT_READ, 0), 0);
  // The level-1 entry of [1 GiB, 1 GiB + 2 MiB) and the root entry of
  // [2 GiB, 3 GiB) are empty: neither end is aligned to its hole.
  EXPECT_EQ(e.unmap(SZ_1G + 3 * PAGE_SIZE, PAGE_SIZE), 0);
  EXPECT_EQ(e.unmap(2 * SZ_1G + 5 * PAGE_SIZE, 2 * PAGE_SIZE), 0);
  EXPECT_TRUE(pgtable_walk(e.pt, va, nullptr));
  EXPECT_EQ(e.unmap(SZ_1G + 3 * PAGE_SIZE, SZ_1G), 0);
  EXPECT_FALSE(pgtable_walk(e.pt, va, nullptr));
  EXPECT_TRUE(e.pool.errors.empty());
}

// Misaligned, empty, non-canonical, half-crossing and wrapping ranges are
// refused by unmap and change nothing.
TEST(PgtableUnmap, BadArgumentsAreEinval) {
  pt_env e;
  ASSERT_EQ(e.init_err, 0);
  ASSERT_EQ(e.map(USER_END - SZ_2M, 0, SZ_2M, PROT_READ, 1), 0);
  ASSERT_EQ(e.map(HIGH_HALF, SZ_2M, SZ_2M, PROT_READ, 1), 0);
  ASSERT_EQ(e.map(TOP - SZ_2M + 1, 2 * SZ_2M, SZ_2M, PROT_READ, 1), 0);
  const snapshot before = take_snapshot(e);
  const unsigned long flushes = host::tlb_flushes;
  const struct {
    uintptr_t va;
    u64 size;
  } bad[] = {
      {USER_END - SZ_2M + 8, PAGE_SIZE},
      {USER_END - SZ_2M, 8},
      {USER_END - SZ_2M, 0},
      {USER_END - SZ_2M, SZ_2M + PAGE_SIZE},
      {USER_END - SZ_2M, HIGH_HALF - USER_END + 2 * SZ_2M},
      {0x0000800000000000ul, PAGE_SIZE},
      {TOP - SZ_2M + 1, 2 * SZ_2M},
      {TOP - PAGE_SIZE + 1, 2 * PAGE_SIZE},
      {TOP - PAGE_SIZE + 1, PAGE_MASK},
      {TOP - SZ_4G + 1, ~(SZ_1G - 1)},     // wraps back into the same half, from a hole to a hole
      {HIGH_HALF + PAGE_SIZE, PAGE_SIZE},  // inside a 2 MiB leaf
      {HIGH_HALF, PAGE_SIZE},
      {HIGH_HALF + PAGE_SIZE, SZ_2M},
  };
  for (const auto &b : bad) EXPECT_EQ(e.unmap(b.va, b.size), -EINVAL) << hex(b.va);
  EXPECT_EQ(host::tlb_flushes, flushes);
  EXPECT_TRUE(take_snapshot(e) == before);
}

// --- walk, iterator, whole tables ---

// A non-canonical address never translates, even when its low 39 bits are
// those of a mapped address.
RC_GTEST_PROP(PgtableWalk, NonCanonicalNeverTranslates, ()) {
  pt_env e;
  RC_ASSERT(e.init_err == 0);
  const model m = gen_layout(3);
  RC_ASSERT(map_all(e, m) == 0);
  const mapping &mp = std::next(m.begin(), *rc::gen::inRange<size_t>(0, m.size()))->second;
  const uintptr_t mapped = mp.va + *rc::gen::inRange<u64>(0, mp.size / PAGE_SIZE) * PAGE_SIZE;
  RC_ASSERT(pgtable_walk(e.pt, mapped, nullptr));
  // Flipping any of bits 39-63 leaves them unequal to bit 38.
  const uintptr_t va = mapped ^ (*rc::gen::inRange<u64>(1, u64(1) << 25) << 39);
  RC_ASSERT(!pgtable_walk(e.pt, va, nullptr));
}

// The leaf slot of a mapped page is found from its canonical address only:
// an alias that differs in bits 39-63 names no slot, as it names no page.
TEST(PgtableWalk, LeafSlotOfNonCanonicalAliasIsNull) {
  pt_env e;
  ASSERT_EQ(e.init_err, 0);
  const uintptr_t va = 5 * SZ_1G + 7 * PAGE_SIZE;
  ASSERT_EQ(e.map(va, RAM_BASE, PAGE_SIZE, PROT_READ, 0), 0);
  ASSERT_NE(pgtable_leaf_slot(e.pt, va), nullptr);
  for (unsigned bit = 39; bit < 64; bit++)
    EXPECT_EQ(pgtable_leaf_slot(e.pt, va ^ (uintptr_t(1) << bit)), nullptr) << "bit " << bit;
  const page_table none{};
  EXPECT_EQ(pgtable_leaf_slot(none, va), nullptr);
}

// Entries the MMU would fault on read as holes to walk and to the iterator:
// W without R, a pointer entry at level 0 and a misaligned superpage.
TEST(PgtableWalk, MalformedEntriesDoNotTranslate) {
  pt_env e;
  ASSERT_EQ(e.init_err, 0);
  ASSERT_EQ(e.map(SZ_1G, 0, SZ_2M, PROT_READ, 0), 0);
  ASSERT_EQ(e.map(SZ_4G, 0, SZ_2M, PROT_READ, 1), 0);
  pte_t *root = static_cast<pte_t *>(phys_to_virt(e.pt.root));
  ASSERT_TRUE(pte_table(root[1]) && pte_table(root[4]));
  pte_t *l1 = static_cast<pte_t *>(phys_to_virt(pte_to_phys(root[1])));
  ASSERT_TRUE(pte_table(l1[0]));
  pte_t *l0 = static_cast<pte_t *>(phys_to_virt(pte_to_phys(l1[0])));
  l0[0] = phys_to_pte(0) | PTE_V | PTE_W | PTE_A | PTE_D;          // W without R
  l0[1] = phys_to_pte(0) | PTE_V | PTE_W | PTE_X | PTE_A | PTE_D;  // W+X without R
  l0[2] = phys_to_pte(RAM_BASE) | PTE_V;                           // pointer at level 0
  root[2] = phys_to_pte(SZ_2M) | PTE_V | PTE_R | PTE_A;            // 1 GiB leaf at 2 MiB
  pte_t *l1b = static_cast<pte_t *>(phys_to_virt(pte_to_phys(root[4])));
  l1b[1] = phys_to_pte(PAGE_SIZE) | PTE_V | PTE_R | PTE_A;  // 2 MiB leaf at 4 KiB

  for (uintptr_t va : {SZ_1G, SZ_1G + PAGE_SIZE, SZ_1G + 2 * PAGE_SIZE, 2 * SZ_1G, SZ_4G + SZ_2M})
    EXPECT_FALSE(pgtable_walk(e.pt, va, nullptr)) << hex(va);
  EXPECT_TRUE(pgtable_walk(e.pt, SZ_1G + 3 * PAGE_SIZE, nullptr));
  for (const leaf &l : dump(e.pt)) {
    EXPECT_TRUE(pgtable_walk(e.pt, l.va, nullptr)) << hex(l.va);
    EXPECT_NE(l.va, 2 * SZ_1G);
    EXPECT_NE(l.va, SZ_4G + SZ_2M);
  }
  EXPECT_EQ(dump(e.pt).size(), 512u - 3 + 1);
}

// The iterator stops right after the callback returns false.
RC_GTEST_PROP(PgtableIter, StopsWhenCallbackReturnsFalse, ()) {
  pt_env e;
  RC_ASSERT(e.init_err == 0);
  const model m = gen_layout(4);
  RC_ASSERT(map_all(e, m) == 0);
  const std::vector<leaf> all = dump(e.pt);
  const size_t stop = *rc::gen::inRange<size_t>(0, all.size());
  std::vector<uintptr_t> seen;
  pgtable_for_each_leaf(e.pt, [&](uintptr_t va, u64, const pt_walk_result &) {
    seen.push_back(va);
    return seen.size() <= stop;
  });
  RC_ASSERT(seen.size() == stop + 1);
  for (size_t k = 0; k < seen.size(); k++) RC_ASSERT(seen[k] == all[k].va);
}

// pgtable_destroy gives every table page back, the root included.
RC_GTEST_PROP(PgtableTables, DestroyGivesBackEveryTable, ()) {
  pt_env e;
  RC_ASSERT(e.init_err == 0);
  const model m = gen_layout(6);
  RC_ASSERT(map_all(e, m) == 0);
  RC_ASSERT(pgtable_count_tables(e.pt) == e.pool.in_use.size());
  pgtable_destroy(&e.pt, e.pool.ops());
  RC_ASSERT(e.pt.root == 0ul);
  RC_ASSERT(e.pool.in_use.empty());
  RC_ASSERT(e.pool.errors.empty());
  RC_ASSERT(pgtable_count_tables(e.pt) == 0ul);
}

// Destroy reads each table's 512 entries and not a word more: the pool hands
// out pages downwards, so the word after a table is the first entry of the
// table allocated before it, here a pointer that must not be followed again.
TEST(PgtableTables, DestroyReadsOnlyTheTablesEntries) {
  pt_env e;
  ASSERT_EQ(e.init_err, 0);
  ASSERT_EQ(e.map(0, RAM_BASE, PAGE_SIZE, PROT_READ, 0), 0);  // entry 0 at every level
  ASSERT_EQ(e.pool.in_use.size(), 3u);
  pgtable_destroy(&e.pt, e.pool.ops());
  EXPECT_TRUE(e.pool.in_use.empty());
  EXPECT_EQ(e.pool.errors, std::vector<std::string>{});
}

// A second destroy, or one of no table at all, gives nothing back twice.
TEST(PgtableTables, DestroyOfNothingDoesNothing) {
  pt_env e;
  ASSERT_EQ(e.init_err, 0);
  pgtable_destroy(&e.pt, e.pool.ops());
  EXPECT_TRUE(e.pool.in_use.empty());
  pgtable_destroy(&e.pt, e.pool.ops());
  pgtable_destroy(nullptr, e.pool.ops());
  EXPECT_TRUE(e.pool.errors.empty());
  EXPECT_EQ(e.pt.root, 0ul);
  unsigned leaves = 0;
  pgtable_for_each_leaf(e.pt, [&](uintptr_t, u64, const pt_walk_result &) { return ++leaves != 0; });
  EXPECT_EQ(leaves, 0u);  // a table without a root has nothing to walk
}

// A walk reports exactly the permission bits the entry holds, for every
// combination (an execute-only leaf, which pgtable_map never makes, reads
// as PROT_EXEC alone).
TEST(PgtableTables, EntryBitsToProtExactly) {
  const std::pair<pte_t, unsigned> bits[] = {{PTE_R, PROT_READ}, {PTE_W, PROT_WRITE}, {PTE_X, PROT_EXEC},
                                             {PTE_U, PROT_USER}, {PTE_G, PROT_GLOBAL}};
  for (unsigned combo = 0; combo < 32; combo++) {
    pte_t pte = PTE_V | PTE_A | PTE_D;
    unsigned want = 0;
    for (unsigned k = 0; k < 5; k++)
      if (combo & (1u << k)) pte |= bits[k].first, want |= bits[k].second;
    EXPECT_EQ(pgtable_detail::pte_to_prot(pte), want) << combo;
  }
}

// pgtable_init fails with -ENOMEM when no page can be had, leaving pt alone.
TEST(PgtableTables, InitWithoutMemoryIsEnomem) {
  pt_env e;
  ASSERT_EQ(e.init_err, 0);
  page_table pt{};
  e.pool.budget = 0;
  EXPECT_EQ(pgtable_init(&pt, e.pool.ops()), -ENOMEM);
  EXPECT_EQ(pt.root, 0u);
  EXPECT_EQ(pgtable_init(nullptr, e.pool.ops()), -EINVAL);
}

}  // namespace

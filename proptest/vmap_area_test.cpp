// Properties of the vmalloc range allocator alone (mm/vmap_area): random
// reservations and releases over a small range, checked after every step
// against a model (a map of the busy ranges, the free gaps computed from it),
// with the nodes handed in and out counted one by one; and a long run of
// twenty thousand areas that must stay consistent.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "mm/vmap_area.h"

namespace {

// rc::gen::inRange narrows its range with the test size; choices here must
// span their whole range from the first case.
template <class T>
rc::Gen<T> uniform(T min, T max) {
  return rc::gen::resize(rc::kNominalSize, rc::gen::inRange<T>(min, max));
}

// Pointers as numbers: RapidCheck would try to print what they point to.
uintptr_t uptr(const void *p) { return reinterpret_cast<uintptr_t>(p); }

std::set<uintptr_t> addresses(const std::set<vmap_area *> &nodes) {
  std::set<uintptr_t> out;
  for (vmap_area *v : nodes) out.insert(uptr(v));
  return out;
}

// The checker's answer as a string ("" when clean).
std::string space_error(const vmap_space &vs) {
  const char *why = vmap_space_check(&vs);
  return why ? why : "";
}

uintptr_t align_up(uintptr_t x, unsigned long a) { return (x + a - 1) & ~(a - 1); }

// The model: the busy ranges by start; everything else in [start, end) is
// free, and each maximal free gap is one node of the free tree.
struct range_model {
  uintptr_t start, end;
  std::map<uintptr_t, uintptr_t> busy;  // start -> end

  std::vector<std::pair<uintptr_t, uintptr_t>> gaps() const {
    std::vector<std::pair<uintptr_t, uintptr_t>> out;
    uintptr_t at = start;
    for (auto [s, e] : busy) {
      if (s > at) out.push_back({at, s});
      at = e;
    }
    if (at < end) out.push_back({at, end});
    return out;
  }

  // Where the lowest-addressed fit of size at align lies: the gap and the
  // start, or false when no gap holds it.
  bool first_fit(unsigned long size, unsigned long align, std::pair<uintptr_t, uintptr_t> *gap,
                 uintptr_t *at) const {
    for (auto g : gaps()) {
      uintptr_t s = align_up(g.first, align);
      if (s >= g.first && s < g.second && g.second - s >= size) {
        *gap = g;
        *at = s;
        return true;
      }
    }
    return false;
  }

  // The busy range containing addr, or {0, 0}.
  std::pair<uintptr_t, uintptr_t> busy_at(uintptr_t addr) const {
    auto it = busy.upper_bound(addr);
    if (it == busy.begin()) return {0, 0};
    --it;
    if (addr >= it->second) return {0, 0};
    return {it->first, it->second};
  }
};

// The nodes: a fixed pool; each is either spare (the test holds it) or held
// by the space, never both.
struct node_pool {
  std::vector<vmap_area> nodes;
  std::vector<vmap_area *> spare;
  std::set<vmap_area *> held;

  explicit node_pool(size_t n) : nodes(n) {
    for (vmap_area &v : nodes) spare.push_back(&v);
  }
  vmap_area *take() {
    vmap_area *v = spare.back();
    spare.pop_back();
    return v;
  }
  bool owns(vmap_area *v) const { return v >= nodes.data() && v < nodes.data() + nodes.size(); }
};

// The ranges of one tree in address order, and the nodes holding them.
void collect(vmap_area *root, std::vector<std::pair<uintptr_t, uintptr_t>> *ranges,
             std::set<vmap_area *> *nodes) {
  vmap_for_each(root, [&](vmap_area *va) {
    ranges->push_back({va->va_start, va->va_end});
    nodes->insert(va);
  });
}

enum class op_kind { alloc, free };

struct op {
  op_kind kind;
  unsigned pages;                // alloc: the size in pages
  unsigned align_log;            // alloc: align = PAGE_SIZE << align_log (0..4: 4 KiB..64 KiB)
  bool give_split;               // alloc: whether a split node is handed in
  unsigned pick;                 // free: which busy area (modulo their number)
  std::vector<unsigned> probes;  // page offsets from start - 1 page for the lookups
};

rc::Gen<op> gen_op(unsigned range_pages) {
  return rc::gen::apply(
      [](op_kind k, unsigned pages, unsigned align_log, bool split, unsigned pick,
         std::vector<unsigned> probes) { return op{k, pages, align_log, split, pick, probes}; },
      rc::gen::weightedElement<op_kind>({{3, op_kind::alloc}, {2, op_kind::free}}),
      rc::gen::weightedOneOf<unsigned>(
          {{6, uniform(1u, 9u)}, {3, uniform(1u, 33u)}, {1, uniform(1u, range_pages + 2)}}),
      uniform(0u, 5u), rc::gen::weightedElement<bool>({{9, true}, {1, false}}), uniform(0u, 1000u),
      rc::gen::container<std::vector<unsigned>>(4, uniform(0u, range_pages + 3)));
}

// Random reservations (random size and power-of-two alignment, sometimes
// without a split node) and releases over 256 pages at a base that is not
// 64 KiB aligned: after every step the space's checker is clean, the busy and
// free ranges are the model's (a reservation takes the lowest-addressed fit,
// or nothing when none exists or a needed split node is missing), a node is
// consumed or handed back exactly when the model's gap count says one was
// needed or became unnecessary, the nodes in the trees are exactly those the
// space holds, and vmap_find_busy/vmap_find_busy_at answer as the model.
// The space's first node is never handed back: it waits unused when its gap
// is used up, the next free takes it, a merge keeps it, and once everything
// is free again it is the one free node.
RC_GTEST_PROP(VmapAreaModel, MatchesTheModel, ()) {
  constexpr unsigned RANGE_PAGES = 256;
  const uintptr_t base = 0x40000000ul + *uniform(1ul, 16ul) * PAGE_SIZE;
  range_model m{base, base + RANGE_PAGES * PAGE_SIZE, {}};
  node_pool pool(2 * RANGE_PAGES + 8);
  vmap_space space;
  vmap_area *first = pool.take();
  vmap_space_init(&space, m.start, m.end, first);
  pool.held.insert(first);
  std::map<uintptr_t, vmap_area *>
      busy_node;  // the test's record of which node holds each busy range
  const auto ops =
      *rc::gen::container<std::vector<op>>(*uniform<size_t>(20, 120), gen_op(RANGE_PAGES));
  unsigned allocs = 0, refused = 0, splits = 0, exact = 0, merges2 = 0, first_waited = 0, first_taken = 0;

  for (const op &o : ops) {
    if (o.kind == op_kind::alloc) {
      unsigned long size = o.pages * PAGE_SIZE, align = PAGE_SIZE << o.align_log;
      vmap_nodes nodes{pool.take(), o.give_split ? pool.take() : nullptr,
                       reinterpret_cast<vmap_area *>(1)};
      vmap_area *busy_in = nodes.busy, *split_in = nodes.split;
      std::pair<uintptr_t, uintptr_t> gap;
      uintptr_t at = 0;
      bool fit = m.first_fit(size, align, &gap, &at);
      vmap_area *gap_node = nullptr;
      {
        std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
        std::set<vmap_area *> free_nodes;
        collect(space.free_root, &ranges, &free_nodes);
        for (vmap_area *v : free_nodes)
          if (fit && v->va_start == gap.first) gap_node = v;
      }
      bool before = fit && at > gap.first, after = fit && at + size < gap.second;
      vmap_area *va = vmap_alloc_range(&space, size, align, nodes);
      if (!fit || (before && after && !split_in)) {
        RC_ASSERT(uptr(va) == 0u);
        RC_ASSERT(uptr(nodes.busy) == uptr(busy_in));
        RC_ASSERT(uptr(nodes.split) == uptr(split_in));
        RC_ASSERT(uptr(nodes.surplus) == 0u);
        refused++;
      } else {
        allocs++;
        RC_ASSERT(uptr(va) == uptr(busy_in));
        RC_ASSERT(va->va_start == at);
        RC_ASSERT(va->va_end == at + size);
        RC_ASSERT(uptr(va->vm) == 0u);
        pool.held.insert(va);
        m.busy[at] = at + size;
        busy_node[at] = va;
        // The split node is taken exactly when the gap was split in three.
        if (before && after) {
          RC_ASSERT(uptr(nodes.split) == 0u);
          pool.held.insert(split_in);
          splits++;
        } else {
          RC_ASSERT(uptr(nodes.split) == uptr(split_in));
        }
        // A node comes back exactly when the gap was used up, unless that
        // node is the space's first, which waits unused instead.
        if (!before && !after && gap_node == first) {
          RC_ASSERT(uptr(nodes.surplus) == 0u);
          RC_ASSERT(space.first_unused);
          exact++;
          first_waited++;
        } else if (!before && !after) {
          RC_ASSERT(uptr(nodes.surplus) == uptr(gap_node));
          RC_ASSERT(pool.held.count(nodes.surplus) == 1u);
          RC_ASSERT(uptr(nodes.surplus) != uptr(va));
          pool.held.erase(nodes.surplus);
          pool.spare.push_back(nodes.surplus);
          exact++;
        } else {
          RC_ASSERT(uptr(nodes.surplus) == 0u);
        }
      }
      if (!va) pool.spare.push_back(busy_in);
      if (split_in && nodes.split) pool.spare.push_back(split_in);
    } else {
      if (m.busy.empty()) continue;
      auto it = std::next(m.busy.begin(), long(o.pick % m.busy.size()));
      uintptr_t s = it->first, e = it->second;
      vmap_area *va = busy_node.at(s);
      bool prev_free = s > m.start && m.busy_at(s - PAGE_SIZE).second == 0;
      bool next_free = e < m.end && m.busy_at(e).second == 0;
      vmap_area *freed[3] = {nullptr, nullptr, nullptr};
      bool first_was_unused = space.first_unused;
      bool first_touches = !first_was_unused && (first->va_end == s || first->va_start == e);
      unsigned n = vmap_free_range(&space, va, freed);
      m.busy.erase(s);
      busy_node.erase(s);
      // One node per free neighbour becomes unnecessary: the merged range
      // needs one node, and the freed area's node is it or one of them. An
      // unused first node takes the place of the freed area's.
      RC_ASSERT(n == unsigned(prev_free) + unsigned(next_free) + unsigned(first_was_unused));
      RC_ASSERT(!space.first_unused);
      for (unsigned i = 0; i < n; i++) {
        RC_ASSERT(uptr(freed[i]) != 0u);
        RC_ASSERT(uptr(freed[i]) != uptr(first));
        RC_ASSERT(pool.held.count(freed[i]) == 1u);
        pool.held.erase(freed[i]);
        pool.spare.push_back(freed[i]);
      }
      for (unsigned i = 0; i < n; i++)
        for (unsigned j = i + 1; j < n; j++) RC_ASSERT(uptr(freed[i]) != uptr(freed[j]));
      merges2 += prev_free && next_free;
      first_taken += first_was_unused;
      // The merged range is held by first whenever first took part.
      if (first_was_unused || first_touches) RC_ASSERT(first->va_start <= s && e <= first->va_end);
    }

    RC_ASSERT(space_error(space) == std::string());
    std::vector<std::pair<uintptr_t, uintptr_t>> free_ranges, busy_ranges;
    std::set<vmap_area *> in_trees;
    collect(space.free_root, &free_ranges, &in_trees);
    collect(space.busy_root, &busy_ranges, &in_trees);
    RC_ASSERT(free_ranges == m.gaps());
    const std::vector<std::pair<uintptr_t, uintptr_t>> model_busy(m.busy.begin(), m.busy.end());
    RC_ASSERT(busy_ranges == model_busy);
    RC_ASSERT(space.nr_free == free_ranges.size());
    RC_ASSERT(space.nr_busy == busy_ranges.size());
    RC_ASSERT(in_trees.count(first) == (space.first_unused ? 0u : 1u));
    if (space.first_unused) in_trees.insert(first);
    RC_ASSERT(addresses(in_trees) == addresses(pool.held));
    if (m.busy.empty()) RC_ASSERT(uptr(space.free_root) == uptr(first));
    RC_ASSERT(pool.held.size() + pool.spare.size() == pool.nodes.size());
    for (vmap_area *v : in_trees) RC_ASSERT(pool.owns(v));
    for (auto [s, va] : busy_node) RC_ASSERT(va->va_start == s);
    for (unsigned p : o.probes) {
      uintptr_t addr = m.start - PAGE_SIZE + uintptr_t(p) * PAGE_SIZE + (p % 7) * 512;
      auto want = m.busy_at(addr);
      vmap_area *got = vmap_find_busy(&space, addr);
      if (want.second == 0) {
        RC_ASSERT(uptr(got) == 0u);
      } else {
        RC_ASSERT(uptr(got) != 0u);
        RC_ASSERT(uptr(got) == uptr(busy_node.at(want.first)));
      }
      vmap_area *at = vmap_find_busy_at(&space, addr);
      if (m.busy.count(addr))
        RC_ASSERT(uptr(at) == uptr(busy_node.at(addr)));
      else
        RC_ASSERT(uptr(at) == 0u);
    }
  }
  RC_CLASSIFY(refused > 0, "a request refused");
  RC_CLASSIFY(splits > 0, "a gap split in three");
  RC_CLASSIFY(exact > 0, "a gap used up");
  RC_CLASSIFY(merges2 > 0, "a free merging both neighbours");
  RC_CLASSIFY(first_waited > 0, "the first node's gap used up");
  RC_CLASSIFY(first_taken > 0, "a free taking the unused first node");
}

// Requests the range cannot serve change nothing: size 0, an alignment that
// is not a power of two, no busy node, more than the range.
TEST(VmapAreaBadInput, RefusedRequestsChangeNothing) {
  std::vector<vmap_area> nodes(4);
  vmap_space space;
  const uintptr_t base = 0x40000000ul + PAGE_SIZE;  // the next 128 KiB boundary is 31 pages on
  vmap_space_init(&space, base, base + 16 * PAGE_SIZE, &nodes[0]);
  struct request {
    unsigned long size, align;
    bool busy;
  };
  for (request r : {request{0, PAGE_SIZE, true}, request{PAGE_SIZE, 3 * PAGE_SIZE, true},
                    request{PAGE_SIZE, PAGE_SIZE, false}, request{17 * PAGE_SIZE, PAGE_SIZE, true},
                    request{PAGE_SIZE, 32 * PAGE_SIZE, true}}) {
    SCOPED_TRACE(testing::Message()
                 << "size " << r.size << " align " << r.align << " busy " << r.busy);
    vmap_nodes n{r.busy ? &nodes[1] : nullptr, &nodes[2], nullptr};
    EXPECT_EQ(vmap_alloc_range(&space, r.size, r.align, n), nullptr);
    EXPECT_EQ(n.split, &nodes[2]);
    EXPECT_EQ(n.surplus, nullptr);
    EXPECT_EQ(vmap_space_check(&space), nullptr);
    EXPECT_EQ(space.nr_busy, 0ul);
    EXPECT_EQ(space.nr_free, 1ul);
    EXPECT_EQ(space.free_root, &nodes[0]);
    EXPECT_EQ(nodes[0].va_start, base);
    EXPECT_EQ(nodes[0].va_end, base + 16 * PAGE_SIZE);
  }
}

// The checker knows where the space's first node must be: in the free tree,
// or marked unused when an allocation used up its gap, never both or neither.
TEST(VmapAreaChecker, FirstNodeInTheFreeTreeOrUnused) {
  std::vector<vmap_area> nodes(4);
  vmap_space space;
  const uintptr_t base = 0x40000000ul;
  vmap_space_init(&space, base, base + 4 * PAGE_SIZE, &nodes[0]);
  space.first_unused = true;
  EXPECT_STREQ(vmap_space_check(&space), "the space's first node is marked unused but is in the free tree");
  space.first_unused = false;
  vmap_nodes n{&nodes[1], &nodes[2], nullptr};
  ASSERT_EQ(vmap_alloc_range(&space, 4 * PAGE_SIZE, PAGE_SIZE, n), &nodes[1]);
  EXPECT_EQ(n.surplus, nullptr);
  EXPECT_TRUE(space.first_unused);
  EXPECT_EQ(vmap_space_check(&space), nullptr);
  space.first_unused = false;
  EXPECT_STREQ(vmap_space_check(&space), "the space's first node is neither in the free tree nor marked unused");
  space.first_unused = true;
  vmap_area *freed[3];
  ASSERT_EQ(vmap_free_range(&space, &nodes[1], freed), 1u);
  EXPECT_EQ(freed[0], &nodes[1]);
  EXPECT_EQ(space.free_root, &nodes[0]);
  EXPECT_EQ(vmap_space_check(&space), nullptr);
}

// The checker holds each of the four trees (free, busy, lazy, purging) to
// heap order: a child's priority above its parent's is reported, in any of
// them; and it asks nothing of a root's priority (a node's priority is a
// hash of its address, any u32: the largest one is a valid root).
// A space of 32 pages with ranges in all four trees: twelve one-page areas
// from the start, of which 1 and 3 purging, 5, 7 and 9 lazy, 8 free (a gap
// between lazy ranges, which does not merge with it), the other six busy;
// the free rest from page 12 on.
struct VmapAreaTrees : ::testing::Test {
  std::vector<vmap_area> nodes = std::vector<vmap_area>(32);
  vmap_space space;
  const uintptr_t base = 0x40000000ul;
  vmap_area *a[12] = {};
  void SetUp() override {
    size_t next = 1;
    vmap_space_init(&space, base, base + 32 * PAGE_SIZE, &nodes[0]);
    for (vmap_area *&va : a) {
      vmap_nodes n{&nodes[next], &nodes[next + 1], nullptr};
      next += 2;
      va = vmap_alloc_range(&space, PAGE_SIZE, PAGE_SIZE, n);
      ASSERT_NE(va, nullptr);
    }
    vmap_lazy_range(&space, a[1]);
    vmap_lazy_range(&space, a[3]);
    uintptr_t ps, pe;
    ASSERT_TRUE(vmap_begin_purge(&space, &ps, &pe));
    for (unsigned i : {5u, 7u, 9u}) vmap_lazy_range(&space, a[i]);
    vmap_area *freed[3];
    ASSERT_EQ(vmap_free_range(&space, a[8], freed), 0u);
    ASSERT_EQ(vmap_space_check(&space), nullptr);
    ASSERT_EQ(space.nr_free, 2ul);
    ASSERT_EQ(space.nr_busy, 6ul);
    ASSERT_EQ(space.nr_lazy, 3ul);
    ASSERT_EQ(space.nr_purging, 2ul);
  }
  // The checker names the damage fn does, and is clean once undo undoes it.
  template <class Damage, class Undo>
  void expect_named(const char *why, Damage damage, Undo undo) {
    damage();
    EXPECT_STREQ(vmap_space_check(&space), why);
    undo();
    EXPECT_EQ(vmap_space_check(&space), nullptr) << "undone";
  }
  vmap_area *free_node_at(unsigned page) {
    vmap_area *t = space.free_root;
    const uintptr_t at = base + page * PAGE_SIZE;
    while (t && t->va_start != at) t = at < t->va_start ? t->left : t->right;
    return t;
  }
};

// The checker holds each of the four trees (free, busy, lazy, purging) to
// heap order: a child's priority above its parent's is reported, in any of
// them; and it asks nothing of a root's priority (a node's priority is a
// hash of its address, any u32: the largest one is a valid root).
TEST_F(VmapAreaTrees, HeapOrderInEveryTree) {
  const struct {
    const char *name;
    vmap_area *root;
  } trees[] = {{"free", space.free_root},
               {"busy", space.busy_root},
               {"lazy", space.lazy_root},
               {"purging", space.purging_root}};
  for (const auto &t : trees) {
    SCOPED_TRACE(t.name);
    vmap_area *root = t.root;
    vmap_area *child = root->left ? root->left : root->right;
    ASSERT_NE(child, nullptr);
    const u32 root_prio = root->prio, child_prio = child->prio;
    root->prio = ~0u;
    EXPECT_EQ(vmap_space_check(&space), nullptr) << "the largest priority at a root";
    root->prio = 7;
    child->prio = 8;
    EXPECT_STREQ(vmap_space_check(&space), "a node breaks the heap order");
    root->prio = root_prio;
    child->prio = child_prio;
    EXPECT_EQ(vmap_space_check(&space), nullptr);
  }
}

// Each way a tree or the tiling can break is named: an empty range or one
// not page-aligned (in whichever tree), a free node's subtree_max_size off,
// a gap before a range, two free ranges that touch (not merged), and a
// range hidden inside one of another tree (the walk from range to range
// never reaches it).
TEST_F(VmapAreaTrees, DamageIsNamed) {
  vmap_area *gap = free_node_at(8), *tail = free_node_at(12);
  ASSERT_NE(gap, nullptr);
  ASSERT_NE(tail, nullptr);
  for (vmap_area *va : {a[10], a[7], a[3], gap}) {  // busy, lazy, purging, free
    SCOPED_TRACE((va->va_start - base) / PAGE_SIZE);
    const uintptr_t end = va->va_end;
    expect_named("a node out of order or empty", [&] { va->va_end = va->va_start; }, [&] { va->va_end = end; });
    expect_named("a range is not page-aligned", [&] { va->va_start += 8; }, [&] { va->va_start -= 8; });
    expect_named("a range is not page-aligned", [&] { va->va_start += 1; }, [&] { va->va_start -= 1; });
  }
  // A range that starts below the space, its end where it was.
  vmap_area *first = a[0];
  ASSERT_EQ(first->va_start, space.start);
  expect_named("a node out of order or empty", [&] { first->va_start -= PAGE_SIZE; },
               [&] { first->va_start += PAGE_SIZE; });
  expect_named("a free node's subtree_max_size is wrong", [&] { tail->subtree_max_size += PAGE_SIZE; },
               [&] { tail->subtree_max_size -= PAGE_SIZE; });
  // The free tail one page shorter at its start (its size kept right up
  // the tree): nothing starts at page 12.
  vmap_area *root = space.free_root;
  auto shrink_tail = [&](long by) {
    tail->va_start += by;
    tail->subtree_max_size -= by;
    if (root != tail) root->subtree_max_size -= by;
  };
  expect_named("a gap or an overlap between the free, busy and lazily freed ranges", [&] { shrink_tail(PAGE_SIZE); },
               [&] { shrink_tail(-long(PAGE_SIZE)); });
  // The free gap at page 8 grown over a[9..11] (lazy, busy, busy) to the
  // free tail: two free ranges touch.
  const unsigned long gap_max = gap->subtree_max_size;
  expect_named(
      "two free ranges touch (not merged)",
      [&] {
        gap->va_end = tail->va_start;
        gap->subtree_max_size = std::max(gap_max, 4 * PAGE_SIZE);
      },
      [&] {
        gap->va_end = gap->va_start + PAGE_SIZE;
        gap->subtree_max_size = gap_max;
      });
  // Busy a[6] grown over lazy a[7]: every walk step finds one range, but
  // a[7] is never reached.
  expect_named("a range lies inside another (the ranges overlap)", [&] { a[6]->va_end += PAGE_SIZE; },
               [&] { a[6]->va_end -= PAGE_SIZE; });
}

// Twenty thousand areas in a row, half of them freed (every other one), the
// holes refilled by first fit, aligned requests that no hole can hold (they
// go past the holes), and everything freed in random order: every answer is
// the one first fit gives, and at the end the checker is clean and the space
// is one free range again, every node back.
TEST(VmapAreaScale, TwentyThousandAreas) {
  constexpr unsigned N = 20000;
  const uintptr_t base = 0xffffffc600000000ul;
  const uintptr_t end = base + (uintptr_t(8) * N) * PAGE_SIZE;
  std::vector<vmap_area> nodes(3 * N);
  std::vector<vmap_area *> spare;
  for (size_t i = 1; i < nodes.size(); i++) spare.push_back(&nodes[i]);
  vmap_space space;
  vmap_space_init(&space, base, end, &nodes[0]);
  auto take = [&] {
    vmap_area *v = spare.back();
    spare.pop_back();
    return v;
  };
  auto alloc = [&](unsigned long size, unsigned long align) {
    vmap_nodes n{take(), take(), nullptr};
    vmap_area *va = vmap_alloc_range(&space, size, align, n);
    if (!va) spare.push_back(n.busy);
    if (n.split) spare.push_back(n.split);
    if (n.surplus) spare.push_back(n.surplus);
    return va;
  };
  auto release = [&](vmap_area *va) {
    vmap_area *freed[3];
    unsigned k = vmap_free_range(&space, va, freed);
    for (unsigned i = 0; i < k; i++) spare.push_back(freed[i]);
  };

  // One page each, back to back from the start.
  std::vector<vmap_area *> areas;
  for (unsigned i = 0; i < N; i++) {
    vmap_area *va = alloc(PAGE_SIZE, PAGE_SIZE);
    ASSERT_NE(va, nullptr);
    ASSERT_EQ(va->va_start, base + uintptr_t(i) * PAGE_SIZE);
    areas.push_back(va);
  }
  ASSERT_EQ(vmap_space_check(&space), nullptr);
  // Free the odd ones: one-page holes at odd page offsets (the last one
  // merges with the free rest of the space).
  for (unsigned i = 1; i < N; i += 2) release(areas[i]);
  ASSERT_EQ(vmap_space_check(&space), nullptr);
  ASSERT_EQ(space.nr_free, N / 2);
  // 64 KiB-aligned one-page requests fit no hole (every hole starts at an odd
  // page): they land after the last area, 16 pages apart.
  uintptr_t tail = align_up(base + uintptr_t(N) * PAGE_SIZE, SZ_64K);
  std::vector<vmap_area *> aligned;
  for (unsigned i = 0; i < N / 4; i++) {
    vmap_area *va = alloc(PAGE_SIZE, SZ_64K);
    ASSERT_NE(va, nullptr);
    ASSERT_EQ(va->va_start, tail + uintptr_t(i) * SZ_64K) << i;
    aligned.push_back(va);
  }
  // Unaligned one-page requests refill the holes from the lowest.
  for (unsigned i = 1; i < N; i += 2) {
    vmap_area *va = alloc(PAGE_SIZE, PAGE_SIZE);
    ASSERT_NE(va, nullptr);
    ASSERT_EQ(va->va_start, base + uintptr_t(i) * PAGE_SIZE) << i;
    areas[i] = va;
  }
  ASSERT_EQ(vmap_space_check(&space), nullptr);
  for (vmap_area *va : aligned) areas.push_back(va);
  std::shuffle(areas.begin(), areas.end(), std::mt19937(12345));
  for (vmap_area *va : areas) release(va);
  EXPECT_EQ(vmap_space_check(&space), nullptr);
  EXPECT_EQ(space.nr_busy, 0ul);
  ASSERT_EQ(space.nr_free, 1ul);
  EXPECT_EQ(space.free_root->va_start, base);
  EXPECT_EQ(space.free_root->va_end, end);
  EXPECT_EQ(space.free_root, &nodes[0]);
  EXPECT_EQ(spare.size(), nodes.size() - 1);
}

// A range moved to the lazy tree holds no vm_struct any more, whatever its
// owner had published in it while it was busy (the vmalloc checker's
// rule for ranges waiting for the purge); so does a newly reserved one.
TEST(VmapAreaLazy, LazyRangeHoldsNoVmStruct) {
  std::vector<vmap_area> nodes(4);
  vmap_space space;
  const uintptr_t base = 0x40000000ul;
  vmap_space_init(&space, base, base + 16 * PAGE_SIZE, &nodes[0]);
  vmap_nodes n{&nodes[1], &nodes[2], nullptr};
  nodes[1].vm = reinterpret_cast<vm_struct *>(0x1234);
  vmap_area *va = vmap_alloc_range(&space, 2 * PAGE_SIZE, PAGE_SIZE, n);
  ASSERT_EQ(va, &nodes[1]);
  EXPECT_EQ(va->vm, nullptr);
  va->vm = reinterpret_cast<vm_struct *>(0x5678);  // what the owner publishes
  vmap_lazy_range(&space, va);
  EXPECT_EQ(vmap_find_busy(&space, base), nullptr);
  vmap_area *lazy = vmap_find_lazy(&space, base + PAGE_SIZE);
  ASSERT_EQ(lazy, va);
  EXPECT_EQ(lazy->vm, nullptr);
  EXPECT_EQ(vmap_space_check(&space), nullptr);
}

}  // namespace

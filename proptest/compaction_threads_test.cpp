// Compaction under a running hart: one CPU reads and writes movable
// vmalloc memory through the simulated MMU (TLB, table walk, migration
// entries) while another compacts, moves ranges out for contiguous
// allocations, and allocates and frees to fragment memory. No access may
// see a stale frame (a missed TLB shootdown), a half-copied page (a copy
// racing a write) or lose a write (a copy taken before it). Runs under
// ThreadSanitizer too (suite *Threads, proptest_tsan).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "mm/compaction.h"
#include "mm/watermark.h"
#include "proptest/compaction_fixture.h"
#include "proptest/vmalloc_fixture.h"

namespace {

using namespace slabt;
using compaction_test::uniform;
using compaction_test::vptr;

constexpr size_t WORDS = PAGE_SIZE / 8;

// Page `id`'s value after its n-th write: the id in the high half (a read
// of another page's frame shows), the count in the low half. Every word of
// the page holds it.
u64 value_of(unsigned id, u32 n) { return (u64(id) << 32) | n; }

// What a read of one page found wrong, or "" when every word is `want`.
std::string page_fault(const u64 *buf, u64 want) {
  for (size_t w = 0; w < WORDS; w++)
    if (buf[w] != want) {
      char msg[160];
      snprintf(msg, sizeof(msg), "word %zu is %#lx, want %#lx (%s)", w, (unsigned long)buf[w], (unsigned long)want,
               buf[w] >> 32 != want >> 32 ? "another page's" : buf[w] < want ? "stale" : "from the future");
      return msg;
    }
  return "";
}

struct threads_case {
  unsigned nr_areas;     // the accessor's areas, 1..8 pages each
  unsigned accesses;     // the accessor's read-then-write steps
  unsigned seed;         // the compactor's and accessor's choices
};

// One case: see the file comment. Returns the pages migrated meanwhile.
unsigned long run_threads_case(const threads_case &c) {
  cpu_reset reset;
  host_set_cpu(0);
  vmalloc_fixture f;
  RC_ASSERT(f.build(layout_kind::single_zone) == 0);
  mem_system &ms = *f.slab.mm.ms;
  std::mt19937 rng(c.seed);
  // The accessor's areas go below ballast that is freed once they exist
  // (proptest/compaction_fixture.h), with fillers between them that are
  // freed too: compaction has free memory above them and holes between
  // them, and their pageblocks can be isolated.
  std::vector<page *> pins = compaction_test::pin_tainted_pageblocks(ms);
  std::vector<page *> ballast = compaction_test::take_ballast(ms, 2, 3);
  struct area {
    uintptr_t addr;
    unsigned nr_pages;
    unsigned first_id;  // of its first page
  };
  std::vector<area> areas;
  std::vector<uintptr_t> fillers;
  unsigned nr_pages_total = 0;
  for (unsigned i = 0; i < c.nr_areas; i++) {
    for (unsigned k = rng() % 4; k > 0; k--) fillers.push_back(uptr(vmalloc_movable(*f.vs, PAGE_SIZE * (1 + rng() % 8))));
    unsigned n = 1 + rng() % 8;
    void *v = vmalloc_movable(*f.vs, n * PAGE_SIZE);
    RC_ASSERT(uptr(v) != 0u);
    areas.push_back({uptr(v), n, nr_pages_total});
    nr_pages_total += n;
  }
  for (uintptr_t a : fillers) vfree(*f.vs, vptr(a));
  for (page *p : ballast) __free_pages(ms, p, 0);
  // Written counts per page: only the accessor writes them once it runs.
  std::vector<u32> written(nr_pages_total, 0);
  std::vector<uintptr_t> page_va(nr_pages_total);
  for (const area &a : areas)
    for (unsigned i = 0; i < a.nr_pages; i++) page_va[a.first_id + i] = a.addr + i * PAGE_SIZE;
  {
    std::vector<u64> buf(WORDS);
    for (unsigned id = 0; id < nr_pages_total; id++) {
      std::fill(buf.begin(), buf.end(), value_of(id, 0));
      RC_ASSERT(f.vwrite(page_va[id], buf.data(), PAGE_SIZE));
    }
  }
  RC_ASSERT(f.check() == std::string());
  const unsigned long migrated_before = vm_event(ms, PGMIGRATE_SUCCESS);

  std::atomic<bool> running{true};
  std::atomic<unsigned> rounds{0};
  std::string accessor_error;  // the accessor's first failure; read after join
  std::thread accessor([&] {
    host_set_cpu(1);
    std::mt19937 r(c.seed * 31 + 7);
    std::vector<u64> buf(WORDS * 8);
    for (unsigned i = 0; i < c.accesses && accessor_error.empty(); i++) {
      // Halfway, wait for the compactor to have done some rounds: on a
      // loaded machine it might otherwise run only after we are done.
      if (i == c.accesses / 2)
        while (rounds.load() < 4) std::this_thread::yield();
      const area &a = areas[r() % areas.size()];
      // Sometimes a whole area in one access (across several frames).
      bool whole = r() % 4 == 0;
      unsigned from = whole ? 0 : r() % a.nr_pages, count = whole ? a.nr_pages : 1;
      if (!f.vread(a.addr + from * PAGE_SIZE, buf.data(), count * PAGE_SIZE)) {
        accessor_error = "read of an area failed (unmapped)";
        break;
      }
      for (unsigned k = 0; k < count; k++) {
        unsigned id = a.first_id + from + k;
        std::string e = page_fault(&buf[k * WORDS], value_of(id, written[id]));
        if (!e.empty()) {
          accessor_error = "page " + std::to_string(id) + " after " + std::to_string(written[id]) + " writes: " + e;
          break;
        }
        written[id]++;
        std::fill(&buf[k * WORDS], &buf[(k + 1) * WORDS], value_of(id, written[id]));
      }
      if (accessor_error.empty() && !f.vwrite(a.addr + from * PAGE_SIZE, buf.data(), count * PAGE_SIZE))
        accessor_error = "write of an area failed (unmapped)";
    }
    running = false;
  });

  // The compactor, as CPU 0: compaction in every form, contiguous
  // allocations over the accessor's frames, and fragmentation of its own.
  std::vector<std::pair<uintptr_t, unsigned>> own;
  std::vector<page *> pinned;
  std::string compactor_error;
  auto own_holds = [&](uintptr_t addr, unsigned n) {
    std::vector<u64> buf(n * WORDS);
    if (!f.vread(addr, buf.data(), n * PAGE_SIZE)) return false;
    for (size_t w = 0; w < buf.size(); w++)
      if (buf[w] != (addr ^ w)) return false;
    return true;
  };
  while (running.load() && compactor_error.empty()) {
    switch (rng() % 6) {
      case 0: compact_memory(ms); break;
      case 1: {
        zone *z = populated_zone(&ms.node_data[0]->node_zones[ZONE_DMA32]) ? &ms.node_data[0]->node_zones[ZONE_DMA32]
                                                                            : &ms.node_data[0]->node_zones[ZONE_NORMAL];
        int order = int(rng() % 12) - 1;  // drawn before the mode, as the seed's sequence was
        compact_control cc = compact_control_for(ms, z, order, migrate_mode(rng() % 3));
        cc.alloc_flags = ALLOC_WMARK_LOW;
        cc.highest_zoneidx = int(MAX_NR_ZONES) - 1;
        cc.whole_zone = rng() % 2;
        cc.ignore_skip_hint = rng() % 2;
        compact_zone(&cc);
        break;
      }
      case 2:
      case 3: {
        // 16 pages around one of the accessor's frames, taken and given
        // back: the frame moves (unless the pageblock holds something
        // unmovable), under the accessor's hands.
        unsigned long pfn = vmalloc_to_pfn(*f.vs, vptr(page_va[rng() % nr_pages_total]));
        if (!pfn) {
          compactor_error = "an accessor page is unmapped";
          break;
        }
        unsigned long start = pfn & ~15ul;
        int err = alloc_contig_range(ms, start, start + 16, GFP_KERNEL);
        if (err == 0 && free_contig_range(ms, start, 16) != 0)
          compactor_error = "free_contig_range refused its own range";
        break;
      }
      case 4: {
        unsigned n = 1 + rng() % 6;
        void *v = vmalloc_movable(*f.vs, n * PAGE_SIZE);
        if (!v) break;
        std::vector<u64> buf(n * WORDS);
        for (size_t w = 0; w < buf.size(); w++) buf[w] = uptr(v) ^ w;
        if (!f.vwrite(uptr(v), buf.data(), n * PAGE_SIZE)) compactor_error = "own write failed";
        own.push_back({uptr(v), n});
        if (rng() % 3 == 0)
          if (page *p = alloc_pages(ms, GFP_KERNEL, rng() % 2)) pinned.push_back(p);
        break;
      }
      case 5: {
        if (own.empty()) break;
        size_t at = rng() % own.size();
        if (!own_holds(own[at].first, own[at].second)) compactor_error = "own area changed";
        vfree(*f.vs, vptr(own[at].first));
        own.erase(own.begin() + long(at));
        if (!pinned.empty() && rng() % 2) {
          page *p = pinned.back();
          pinned.pop_back();
          __free_pages(ms, p, p->alloc_order);
        }
        break;
      }
    }
    rounds++;
  }
  accessor.join();
  RC_ASSERT(accessor_error == std::string());
  RC_ASSERT(compactor_error == std::string());
  RC_ASSERT(f.check() == std::string());
  const unsigned long migrated = vm_event(ms, PGMIGRATE_SUCCESS) - migrated_before;

  // Every write survived, to the last.
  std::vector<u64> buf(WORDS);
  for (unsigned id = 0; id < nr_pages_total; id++) {
    RC_ASSERT(f.vread(page_va[id], buf.data(), PAGE_SIZE));
    RC_ASSERT(page_fault(buf.data(), value_of(id, written[id])) == std::string());
  }
  for (auto [a, n] : own) {
    RC_ASSERT(own_holds(a, n));
    vfree(*f.vs, vptr(a));
  }
  for (page *p : pinned) __free_pages(ms, p, p->alloc_order);
  for (page *p : pins) __free_pages(ms, p, 0);
  for (const area &a : areas) vfree(*f.vs, vptr(a.addr));
  RC_ASSERT(f.check() == std::string());
  return migrated;
}

// Random cases: areas, lengths of the run and the compactor's choices.
RC_GTEST_PROP(CompactionThreads, AccessesSeeNoStaleOrTornPage, ()) {
  threads_case c{*uniform(1u, 12u), *uniform(50u, 400u), *rc::gen::arbitrary<unsigned>()};
  unsigned long migrated = run_threads_case(c);
  RC_CLASSIFY(migrated == 0, "nothing migrated");
  RC_CLASSIFY(migrated > 0 && migrated < 100, "1-99 pages migrated");
  RC_CLASSIFY(migrated >= 100, "100+ pages migrated");
}

// One longer run, which must migrate (the contiguous allocations over the
// accessor's frames move them whatever the timing).
TEST(CompactionThreads, LongRunMigratesUnderTheAccessor) {
  try {
    EXPECT_GT(run_threads_case({8, 3000, 20261126}), 50ul);
  } catch (const rc::detail::CaseResult &r) {
    FAIL() << r.description;
  }
}

}  // namespace

// Host benchmark of fragmentation and compaction (issue 14): how many
// order-9 blocks (2 MiB, a huge page) a fragmented 512 MiB machine still
// gives, with mobility grouping off, with grouping and no compaction, and
// with grouping and compaction; and whether a 16 MiB alloc_contig_pages
// succeeds after the same churn. Figures, never a pass/fail test: meson
// builds it but does not register it; docs/benchmarks.md has the results.
//
// One run, for a seed and a mode:
//  1. a fresh machine: one node, one zone (DMA32) of 512 MiB, one CPU, with
//     the slab allocator and vmalloc over it (the proptest fixtures' setup,
//     without gtest);
//  2. fill: in random order, until the first allocation fails, unmovable
//     page allocations (order 0..2), kmalloc objects of assorted sizes
//     (16 B .. 8 KiB) and movable vmalloc areas (1..16 pages), a third each
//     by count unless --mix says otherwise -- every request __GFP_NOWARN |
//     __GFP_NORETRY: memory running out is the end of the phase, not an
//     error;
//  3. free a random half of everything allocated (exactly half, shuffled);
//     drain the per-CPU lists; the free pages now / 512 is the most order-9
//     blocks the free memory could hold (the "maximum");
//  4. allocate order-9 blocks until one fails, timing it and counting the
//     pages migrated meanwhile (pgmigrate_success).
// The seed decides everything; the same seed gives the same fill and frees
// in every mode whose phases 1-3 run alike (b and c below are identical up
// to phase 4: the benchmark checks that their free pages agree).
//
// Modes:
//  a  mobility grouping off (mem_layout::grouping = off): every pageblock is
//     UNMOVABLE, the page allocator places by address alone;
//  b  grouping on, compaction off for the order-9 requests: extfrag_threshold
//     = 1000 (Linux's sysctl maximum; the fragmentation index never exceeds
//     999, so compaction_suitable says no to every costly order), set before
//     phase 4 only, so that phases 1-3 are those of c;
//  c  grouping on, direct compaction in the allocator's slow path
//     (extfrag_threshold 500, Linux's default);
//  cm as c, with compact_memory (all of the zone, sync) before phase 4.
// The order-9 requests are GFP_KERNEL | __GFP_MOVABLE | __GFP_COMP |
// __GFP_NOWARN, with __GFP_NORETRY for the "thp" flavour (Linux's THP fault
// path with defrag=always and no madvise: async compaction only) and without
// it for "madv" (madvised THP, GFP_TRANSHUGE: async, then sync-light
// compaction after a reclaim round). One gfp for every mode.
//
//   build/bench/frag_bench [--seeds N] [--first-seed S] [--gfp thp|madv|both] [--mix U:S:M] [--verbose]
// --mix sets the fill's weights by count (1:1:1 by default).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "arch/host/tlb.h"
#include "mm/check.h"
#include "mm/compaction.h"
#include "mm/page_alloc_internal.h"
#include "mm/slab.h"
#include "mm/vmalloc.h"
#include "proptest/mm_fixture.h"

namespace {

constexpr u64 MACHINE_BYTES = 512 * SZ_1M;
constexpr unsigned HUGE_ORDER = 9;
constexpr unsigned long CONTIG_PAGES = 4096;  // 16 MiB

// The machine: mm_fixture with the slab allocator and vmalloc over it, as
// proptest/vmalloc_fixture.h builds them. Built anew for every run (the
// physical window is global: building one discards the last).
struct frag_machine {
  mm_fixture mm;
  std::unique_ptr<slab_allocator> sa = std::make_unique<slab_allocator>();
  page_table pt{};
  std::unique_ptr<vmalloc_system> vs = std::make_unique<vmalloc_system>();

  int build(mobility_grouping grouping) {
    if (int err = build_single_zone(mm, MACHINE_BYTES, 1, grouping)) return err;
    if (int err = slab_allocator_init(sa.get(), *mm.ms, 0, 0x5eed)) return err;
    system_slab = sa.get();
    if (int err = vmalloc_init(vs.get(), *mm.ms, *sa, &pt, VMALLOC_START_ADDR, VMALLOC_END_ADDR)) return err;
    if (int err = pgtable_init(&pt, vs->pt_ops)) return err;
    host_tlb_flush(0, 0);
    system_vmalloc = vs.get();
    return 0;
  }
  ~frag_machine() {
    if (system_vmalloc == vs.get()) system_vmalloc = nullptr;
    if (system_slab == sa.get()) system_slab = nullptr;
  }
  mem_system &ms() { return *mm.ms; }

  // Every checker; "" when every invariant holds.
  std::string check() const {
    static char buf[1 << 16];
    check_report r = make_check_report(buf, sizeof(buf));
    unsigned n = check_page_alloc(*mm.ms, r);
    n += check_slab(*sa, r);
    n += check_vmalloc(*vs, r);
    return n ? std::to_string(n) + " violations:\n" + std::string(buf) : std::string();
  }
};

enum class mode { a, b, c, cm };
const char *mode_name(mode m) {
  switch (m) {
    case mode::a: return "a";
    case mode::b: return "b";
    case mode::c: return "c";
    case mode::cm: return "cm";
  }
  return "?";
}

constexpr gfp_t FILL_GFP = GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY;
gfp_t huge_gfp(bool noretry) {
  return GFP_KERNEL | __GFP_MOVABLE | __GFP_COMP | __GFP_NOWARN | (noretry ? __GFP_NORETRY : 0);
}

// One allocation of the fill.
struct item {
  enum kind_t { pages, object, area } kind;
  void *p;
  unsigned order;  // of `pages`
};

// Where the pages are at the start of phase 4 (after the drain): what limits
// compaction. A pageblock is "clean" when every page of it is free or
// movable (compaction could empty it); a pinned page is any allocated page
// that is not movable (unmovable allocations, slab, page tables).
struct layout_stats {
  unsigned long free_pages = 0, movable_pages = 0, pinned_pages = 0;
  unsigned long blocks = 0, clean_blocks = 0, free_blocks = 0;  // free: wholly free
  unsigned long movable_blocks = 0, pinned_in_movable_blocks = 0;  // MOVABLE pageblocks with a pinned page
  unsigned long free_in_clean = 0, free_in_pinned = 0, free_in_pinned_movable = 0;
  // The most order-9 blocks compaction as built could make: a block it
  // empties is a clean one, and what it moves out goes to free pages of
  // MOVABLE pageblocks (its free scanner's only targets) that it keeps:
  // those of the other clean blocks and of pinned MOVABLE ones.
  unsigned long compactable() const { return (free_in_clean + free_in_pinned_movable) >> pageblock_order; }
};

layout_stats survey(mem_system &ms) {
  layout_stats s;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) {
    if (!managed_zone(z)) continue;
    unsigned long start = z->zone_start_pfn, end = zone_end_pfn(z);
    for (unsigned long block = start; block + pageblock_nr_pages <= end; block += pageblock_nr_pages) {
      unsigned long nfree = 0, nmov = 0, npin = 0;
      for (unsigned long pfn = block; pfn < block + pageblock_nr_pages;) {
        page *p = zone_pfn_to_page(z, pfn);
        if (PageBuddy(p)) {
          unsigned long n = 1ul << p->private_;
          nfree += n;
          pfn += n;
          continue;
        }
        if (PageMovable(p)) nmov++;
        else npin++;
        pfn++;
      }
      s.free_pages += nfree;
      s.movable_pages += nmov;
      s.pinned_pages += npin;
      s.blocks++;
      s.clean_blocks += npin == 0;
      s.free_blocks += nfree == pageblock_nr_pages;
      (npin ? s.free_in_pinned : s.free_in_clean) += nfree;
      if (get_pfnblock_migratetype(z, block) == MIGRATE_MOVABLE) {
        s.movable_blocks++;
        s.pinned_in_movable_blocks += npin != 0;
        if (npin) s.free_in_pinned_movable += nfree;
      }
    }
  }
  return s;
}

struct run_result {
  unsigned long fill_items = 0, fill_pages_unmovable = 0, fill_objects_bytes = 0, fill_pages_movable = 0;
  unsigned long fill_migrated = 0;  // pages migrated during phases 2-3 (order 1..2 direct compaction)
  unsigned long free_at_start = 0, max_blocks = 0, low_wmark = 0;
  layout_stats layout, after;  // at the start of phase 4; when it ends (the blocks still held)
  unsigned long blocks = 0;
  double compact_memory_s = 0, huge_s = 0;
  unsigned long compact_memory_migrated = 0, huge_migrated = 0;
  unsigned long stalls = 0, compact_success = 0, compact_fail = 0;
  // alloc_contig_pages (run_contig)
  bool contig_ok = false;
  double contig_s = 0;
  unsigned long contig_migrated = 0;
  std::string check;  // checker findings after the run ("" when clean)
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Phases 2 and 3 on m; returns what is still held.
// The fill's weights by count: unmovable page allocations, kmalloc
// objects, vmalloc areas (--mix U:S:M; 1:1:1 unless told).
unsigned mix[3] = {1, 1, 1};

std::vector<item> fill_and_free(frag_machine &m, std::mt19937_64 &rng, run_result &r) {
  static const unsigned sizes[] = {16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192};
  mem_system &ms = m.ms();
  std::vector<item> held;
  unsigned long migrated0 = vm_event(ms, PGMIGRATE_SUCCESS);
  for (;;) {
    item it{};
    unsigned long pick = rng() % (mix[0] + mix[1] + mix[2]);
    switch (pick < mix[0] ? 0 : pick < mix[0] + mix[1] ? 1 : 2) {
      case 0: {
        it.kind = item::pages;
        it.order = unsigned(rng() % 3);
        page *p = alloc_pages(ms, FILL_GFP, it.order);
        it.p = p;
        if (p) r.fill_pages_unmovable += 1ul << it.order;
        break;
      }
      case 1: {
        it.kind = item::object;
        unsigned size = sizes[rng() % std::size(sizes)];
        it.p = kmalloc(*m.sa, size, FILL_GFP);
        if (it.p) r.fill_objects_bytes += size;
        break;
      }
      default: {
        it.kind = item::area;
        unsigned long n = 1 + rng() % 16;
        it.p = __vmalloc(*m.vs, n * PAGE_SIZE, FILL_GFP | __GFP_MOVABLE);
        if (it.p) r.fill_pages_movable += n;
        break;
      }
    }
    if (!it.p) break;
    held.push_back(it);
  }
  r.fill_items = held.size();
  std::shuffle(held.begin(), held.end(), rng);
  size_t half = held.size() / 2;
  for (size_t i = 0; i < half; i++) {
    item &it = held[i];
    switch (it.kind) {
      case item::pages: __free_pages(ms, static_cast<page *>(it.p), it.order); break;
      case item::object: kfree(*m.sa, it.p); break;
      case item::area: vfree(*m.vs, it.p); break;
    }
  }
  held.erase(held.begin(), held.begin() + long(half));
  drain_all_pages(ms);
  r.fill_migrated = vm_event(ms, PGMIGRATE_SUCCESS) - migrated0;
  r.free_at_start = nr_free_pages(ms);
  r.max_blocks = r.free_at_start >> HUGE_ORDER;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) if (managed_zone(z)) r.low_wmark += low_wmark_pages(z);
  r.layout = survey(ms);
  return held;
}

void free_held(frag_machine &m, std::vector<item> &held) {
  for (item &it : held) {
    switch (it.kind) {
      case item::pages: __free_pages(m.ms(), static_cast<page *>(it.p), it.order); break;
      case item::object: kfree(*m.sa, it.p); break;
      case item::area: vfree(*m.vs, it.p); break;
    }
  }
  held.clear();
}

void build_or_die(frag_machine &m, mobility_grouping g) {
  if (int err = m.build(g)) {
    std::fprintf(stderr, "frag_bench: cannot build the 512 MiB machine: error %d\n", err);
    std::exit(1);
  }
}

// One run of the order-9 benchmark.
run_result run_huge(unsigned long seed, mode md, bool noretry) {
  run_result r;
  frag_machine m;
  build_or_die(m, md == mode::a ? mobility_grouping::off : mobility_grouping::by_size);
  mem_system &ms = m.ms();
  std::mt19937_64 rng(seed);
  std::vector<item> held = fill_and_free(m, rng, r);

  if (md == mode::b) ms.extfrag_threshold = 1000;
  if (md == mode::cm) {
    unsigned long mig0 = vm_event(ms, PGMIGRATE_SUCCESS);
    auto t0 = std::chrono::steady_clock::now();
    compact_memory(ms);
    r.compact_memory_s = seconds_since(t0);
    r.compact_memory_migrated = vm_event(ms, PGMIGRATE_SUCCESS) - mig0;
  }
  unsigned long mig0 = vm_event(ms, PGMIGRATE_SUCCESS), stall0 = vm_event(ms, COMPACTSTALL),
                succ0 = vm_event(ms, COMPACTSUCCESS), fail0 = vm_event(ms, COMPACTFAIL);
  std::vector<page *> blocks;
  gfp_t gfp = huge_gfp(noretry);
  auto t0 = std::chrono::steady_clock::now();
  while (page *p = alloc_pages(ms, gfp, HUGE_ORDER)) blocks.push_back(p);
  r.huge_s = seconds_since(t0);
  r.blocks = blocks.size();
  r.huge_migrated = vm_event(ms, PGMIGRATE_SUCCESS) - mig0;
  r.stalls = vm_event(ms, COMPACTSTALL) - stall0;
  r.compact_success = vm_event(ms, COMPACTSUCCESS) - succ0;
  r.compact_fail = vm_event(ms, COMPACTFAIL) - fail0;
  r.after = survey(ms);
  r.check = m.check();
  for (page *p : blocks) __free_pages(ms, p, HUGE_ORDER);
  free_held(m, held);
  if (r.check.empty()) r.check = m.check();
  return r;
}

// alloc_contig_pages of 16 MiB after the churn of mode c.
run_result run_contig(unsigned long seed) {
  run_result r;
  frag_machine m;
  build_or_die(m, mobility_grouping::by_size);
  mem_system &ms = m.ms();
  std::mt19937_64 rng(seed);
  std::vector<item> held = fill_and_free(m, rng, r);
  unsigned long mig0 = vm_event(ms, PGMIGRATE_SUCCESS);
  auto t0 = std::chrono::steady_clock::now();
  page *p = alloc_contig_pages(ms, CONTIG_PAGES, GFP_KERNEL | __GFP_NOWARN, NUMA_NO_NODE);
  r.contig_s = seconds_since(t0);
  r.contig_ok = p != nullptr;
  r.contig_migrated = vm_event(ms, PGMIGRATE_SUCCESS) - mig0;
  r.check = m.check();
  if (p && free_contig_range(ms, page_to_pfn(ms, p), CONTIG_PAGES) != 0) r.check += "free_contig_range failed\n";
  free_held(m, held);
  if (r.check.empty()) r.check = m.check();
  return r;
}

// min / median / max of xs, as one string with fmt for each.
template <class T>
std::string spread(std::vector<T> xs, const char *fmt) {
  std::sort(xs.begin(), xs.end());
  char a[32], b[32], c[32];
  std::snprintf(a, sizeof a, fmt, xs.front());
  std::snprintf(b, sizeof b, fmt, xs[xs.size() / 2]);
  std::snprintf(c, sizeof c, fmt, xs.back());
  return std::string(a) + " / " + b + " / " + c;
}

void usage() {
  std::fprintf(stderr, "usage: frag_bench [--seeds N] [--first-seed S] [--gfp thp|madv|both] [--mix U:S:M] [--verbose]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char **argv) {
  unsigned nseeds = 5;
  unsigned long first_seed = 1;
  bool thp = true, madv = true, verbose = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--seeds" && i + 1 < argc) nseeds = unsigned(std::strtoul(argv[++i], nullptr, 0));
    else if (a == "--first-seed" && i + 1 < argc) first_seed = std::strtoul(argv[++i], nullptr, 0);
    else if (a == "--gfp" && i + 1 < argc) {
      std::string g = argv[++i];
      thp = g == "thp" || g == "both";
      madv = g == "madv" || g == "both";
      if (!thp && !madv) usage();
    } else if (a == "--mix" && i + 1 < argc) {
      if (std::sscanf(argv[++i], "%u:%u:%u", &mix[0], &mix[1], &mix[2]) != 3 || mix[0] + mix[1] + mix[2] == 0)
        usage();
    } else if (a == "--verbose") verbose = true;
    else usage();
  }
  if (nseeds == 0) usage();
  auto t_all = std::chrono::steady_clock::now();
  std::printf("frag_bench: 512 MiB, one node, one zone, 1 CPU; seeds %lu..%lu; fill mix %u:%u:%u; "
              "min / median / max over the seeds\n",
              first_seed, first_seed + nseeds - 1, mix[0], mix[1], mix[2]);
  bool broken = false;

  for (int flavour = 0; flavour < 2; flavour++) {
    bool noretry = flavour == 0;
    if ((noretry && !thp) || (!noretry && !madv)) continue;
    std::printf("\n== order-9 blocks, gfp GFP_KERNEL|__GFP_MOVABLE|__GFP_COMP|__GFP_NOWARN%s (%s)\n",
                noretry ? "|__GFP_NORETRY" : "", noretry ? "thp: async compaction" : "madv: async, then sync-light");
    std::printf("%-4s | %-15s | %-15s | %-15s | %-15s | %-15s | %-18s | %-15s | %s\n", "mode", "blocks",
                "max (free/512)", "% of max", "bound", "% of bound", "ms per block", "migrated/block",
                "compact_memory: ms ; migrated");
    std::vector<unsigned long> b_blocks, a_blocks;
    std::vector<unsigned long> b_free;
    for (mode md : {mode::a, mode::b, mode::c, mode::cm}) {
      std::vector<unsigned long> blocks, maxb, bound;
      std::vector<double> pct, pct_bound, ms_per, mig_per, cm_ms, cm_mig;
      for (unsigned s = 0; s < nseeds; s++) {
        unsigned long seed = first_seed + s;
        run_result r = run_huge(seed, md, noretry);
        if (!r.check.empty()) {
          std::fprintf(stderr, "frag_bench: seed %lu mode %s: checker findings:\n%s\n", seed, mode_name(md),
                       r.check.c_str());
          broken = true;
        }
        if (md == mode::b) b_free.push_back(r.free_at_start);
        if (md == mode::c && r.free_at_start != b_free[s]) {
          std::fprintf(stderr, "frag_bench: seed %lu: modes b and c differ before phase 4 (%lu and %lu free)\n", seed,
                       b_free[s], r.free_at_start);
          broken = true;
        }
        blocks.push_back(r.blocks);
        maxb.push_back(r.max_blocks);
        pct.push_back(r.max_blocks ? 100.0 * double(r.blocks) / double(r.max_blocks) : 0);
        bound.push_back(r.layout.compactable());
        pct_bound.push_back(bound.back() ? 100.0 * double(r.blocks) / double(bound.back()) : 0);
        double per = r.blocks ? 1.0 / double(r.blocks) : 0;
        ms_per.push_back(1e3 * r.huge_s * per);
        mig_per.push_back(double(r.huge_migrated) * per);
        cm_ms.push_back(1e3 * r.compact_memory_s);
        cm_mig.push_back(double(r.compact_memory_migrated));
        if (verbose) {
          const layout_stats &l = r.layout;
          std::printf(
              "  seed %lu %-2s: fill %lu items (%lu unmovable pages, %lu KiB kmalloc, %lu movable pages), %lu migrated "
              "in fill; free %lu (low wmark %lu); blocks %lu clean %lu wholly free %lu, MOVABLE %lu of which %lu "
              "pinned; pages free %lu (in clean blocks %lu, in pinned %lu, in pinned MOVABLE %lu) movable %lu pinned "
              "%lu; bound %lu; got %lu in %.1f ms, %lu migrated, stalls %lu "
              "(success %lu fail %lu)\n",
              seed, mode_name(md), r.fill_items, r.fill_pages_unmovable, r.fill_objects_bytes >> 10,
              r.fill_pages_movable, r.fill_migrated, r.free_at_start, r.low_wmark, l.blocks, l.clean_blocks,
              l.free_blocks, l.movable_blocks, l.pinned_in_movable_blocks, l.free_pages, l.free_in_clean,
              l.free_in_pinned, l.free_in_pinned_movable, l.movable_pages, l.pinned_pages, l.compactable(), r.blocks, 1e3 * r.huge_s, r.huge_migrated, r.stalls, r.compact_success,
              r.compact_fail);
          // What phase 4 left: free pages that no order-9 block could take.
          if (md != mode::a)
            std::printf("    after: free %lu (in clean blocks %lu, in pinned MOVABLE %lu, in other pinned %lu)\n",
                        r.after.free_pages, r.after.free_in_clean, r.after.free_in_pinned_movable,
                        r.after.free_in_pinned - r.after.free_in_pinned_movable);
          std::fflush(stdout);
        }
      }
      // Mode a has no MOVABLE pageblock, so no compaction target: no bound.
      bool grouped = md != mode::a;
      std::printf("%-4s | %-15s | %-15s | %-15s | %-15s | %-15s | %-18s | %-15s | %s\n", mode_name(md),
                  spread(blocks, "%lu").c_str(), spread(maxb, "%lu").c_str(), spread(pct, "%.0f%%").c_str(),
                  grouped ? spread(bound, "%lu").c_str() : "-", grouped ? spread(pct_bound, "%.0f%%").c_str() : "-",
                  spread(ms_per, "%.2f").c_str(), spread(mig_per, "%.0f").c_str(),
                  md == mode::cm ? (spread(cm_ms, "%.0f") + " ; " + spread(cm_mig, "%.0f")).c_str() : "-");
      std::fflush(stdout);
    }
  }

  std::printf("\n== alloc_contig_pages(%lu pages = 16 MiB, GFP_KERNEL) after the churn of mode c\n", CONTIG_PAGES);
  std::vector<double> c_ms, c_mig;
  unsigned ok = 0;
  for (unsigned s = 0; s < nseeds; s++) {
    run_result r = run_contig(first_seed + s);
    if (!r.check.empty()) {
      std::fprintf(stderr, "frag_bench: contig seed %lu: checker findings:\n%s\n", first_seed + s, r.check.c_str());
      broken = true;
    }
    ok += r.contig_ok;
    c_ms.push_back(1e3 * r.contig_s);
    c_mig.push_back(double(r.contig_migrated));
    if (verbose) std::printf("  seed %lu: %s in %.1f ms, %lu migrated\n", first_seed + s, r.contig_ok ? "ok" : "FAILED",
                             1e3 * r.contig_s, r.contig_migrated);
  }
  std::printf("succeeded %u of %u; ms %s; pages migrated %s\n", ok, nseeds, spread(c_ms, "%.1f").c_str(),
              spread(c_mig, "%.0f").c_str());
  std::printf("\nfrag_bench: %.1f s in all\n", seconds_since(t_all));
  return broken ? 1 : 0;
}

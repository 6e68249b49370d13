// In-kernel tests of compaction on the kernel's own memory (issue 14):
// movable vmalloc frames moved behind the real MMU, read back through their
// vmalloc addresses, free pageblocks made out of fragmented ones, large
// contiguous ranges taken, and a page migrated while another hart reads and
// writes it (its accesses fault on the migration entry and wait in the trap
// handler: arch/riscv/trap.cpp).
#include <asm/traps.h>

#include "kernel/errno.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/spinlock.h"
#include "mm/check.h"
#include "mm/compaction.h"
#include "mm/page_alloc.h"
#include "mm/vmalloc.h"

#include <asm/mmu.h>

namespace {

vmalloc_system &vs() { return *system_vmalloc; }
mem_system &ms() { return *system_mem; }

constexpr unsigned WORDS = PAGE_SIZE / sizeof(u64);

u64 pattern(unsigned area, unsigned word) { return (u64(area) << 32 | word) * 0x9e3779b97f4a7c15ull + 1; }

// Free memory in whole pageblocks, counted over every zone (a free block of
// order 10 is two).
unsigned long free_pageblocks() {
  unsigned long n = 0;
  for_each_online_pgdat(ms(), pgdat) for_each_zone_of(pgdat, z) for (unsigned o = pageblock_order; o < NR_PAGE_ORDERS; o++)
    n += READ_ONCE(z->free_area[o].nr_free) << (o - pageblock_order);
  return n;
}

// Bad-page reports so far (each also printed): a free the allocator refused
// leaves a reference behind, which no checker can tell from an owner's.
unsigned long bad_page_reports() {
  unsigned long n = 0;
  for_each_online_pgdat(ms(), pgdat) for_each_zone_of(pgdat, z) n += zone_events(z, PGBAD);
  return n;
}

// Every whole-memory checker now, with the test's areas still held (the
// ktest runner checks again after the case, once they are gone).
void expect_checkers_clean(ktest *t, const char *when) {
  static char buf[1024];
  check_report r = make_check_report(buf, sizeof(buf));
  unsigned n = check_page_alloc(ms(), r) + check_vmalloc(vs(), r);
  {
    spin_lock_guard g(vs().pt_lock);
    n += check_pgtable(kernel_page_table, r);
  }
  if (n) ktest_fail(t, __FILE__, __LINE__, "%u violations %s:\n%s", n, when, buf);
}

// ---- fragmentation, compact_memory, large allocations ----------------------------------

// 4096 one-page movable areas fill eight pageblocks; every fourth step also
// takes an unmovable page (mobility grouping puts those in other
// pageblocks, so they pin nothing compaction may move, but their contents
// must come through untouched too).
constexpr unsigned NR_AREAS = 4096, UNMOVABLE_EVERY = 4;

struct fragmented {
  u64 *areas[NR_AREAS];
  unsigned long pfn_before[NR_AREAS];
  page *unmovable[NR_AREAS / UNMOVABLE_EVERY];
  unsigned nr_unmovable;
};
fragmented frag;  // static: far beyond a 16 KiB stack

bool area_intact(unsigned i) {
  for (unsigned w = 0; w < WORDS; w++)
    if (frag.areas[i][w] != pattern(i, w)) return false;
  return true;
}

bool unmovable_intact(unsigned i) {
  const u64 *p = static_cast<const u64 *>(page_address(frag.unmovable[i]));
  for (unsigned w = 0; w < WORDS; w++)
    if (p[w] != ~pattern(i, w)) return false;
  return true;
}

// Allocates the areas and unmovable pages, fills them, and frees every other
// area: eight half-empty movable pageblocks. False if memory ran out.
bool fragment_memory(ktest *t) {
  frag.nr_unmovable = 0;
  for (unsigned i = 0; i < NR_AREAS; i++) {
    frag.areas[i] = static_cast<u64 *>(vmalloc_movable(vs(), PAGE_SIZE));
    if (!frag.areas[i]) {
      ktest_fail(t, __FILE__, __LINE__, "vmalloc_movable failed after %u areas", i);
      return false;
    }
    for (unsigned w = 0; w < WORDS; w++) frag.areas[i][w] = pattern(i, w);
    if (i % UNMOVABLE_EVERY) continue;
    page *p = alloc_pages(GFP_KERNEL, 0);
    if (!p) {
      ktest_fail(t, __FILE__, __LINE__, "no unmovable page after %u", frag.nr_unmovable);
      return false;
    }
    unsigned u = frag.nr_unmovable++;
    frag.unmovable[u] = p;
    u64 *q = static_cast<u64 *>(page_address(p));
    for (unsigned w = 0; w < WORDS; w++) q[w] = ~pattern(u, w);
  }
  for (unsigned i = 1; i < NR_AREAS; i += 2) {
    vfree(vs(), frag.areas[i]);
    frag.areas[i] = nullptr;
  }
  return true;
}

void release_fragments() {
  for (u64 *&a : frag.areas) {
    if (a) vfree(vs(), a);
    a = nullptr;
  }
  for (unsigned u = 0; u < frag.nr_unmovable; u++) __free_pages(frag.unmovable[u], 0);
  frag.nr_unmovable = 0;
}

// After fragmenting memory and compacting it: every kept area reads back its
// pattern through its vmalloc address, some of them now live in other
// frames, pages were migrated, there are more free pageblocks than before,
// an order-9 allocation and a 2048-page contiguous range can be had, and
// the checkers find nothing.
void compact_memory_moves_areas_and_frees_pageblocks(ktest *t) {
  const unsigned long bad_before = bad_page_reports();
  if (!fragment_memory(t)) {
    release_fragments();
    return;
  }
  unsigned long moved_before = vm_event(ms(), PGMIGRATE_SUCCESS);
  for (unsigned i = 0; i < NR_AREAS; i += 2) frag.pfn_before[i] = page_to_pfn(ms(), vmalloc_to_page(vs(), frag.areas[i]));
  drain_all_pages(ms());  // the freed halves on the buddy lists, as compact_memory sees them
  unsigned long blocks_before = free_pageblocks();

  compact_memory(ms());

  unsigned long migrated = vm_event(ms(), PGMIGRATE_SUCCESS) - moved_before;
  unsigned long blocks_after = free_pageblocks();
  unsigned bad = 0, moved = 0;
  for (unsigned i = 0; i < NR_AREAS; i += 2) {
    bad += !area_intact(i);
    moved += page_to_pfn(ms(), vmalloc_to_page(vs(), frag.areas[i])) != frag.pfn_before[i];
  }
  KTEST_EXPECT_EQ(t, bad, 0u);
  for (unsigned u = 0; u < frag.nr_unmovable; u++) bad += !unmovable_intact(u);
  KTEST_EXPECT_EQ(t, bad, 0u);
  KTEST_EXPECT_GE(t, migrated, 1ul);
  KTEST_EXPECT_GE(t, moved, 1u);
  KTEST_EXPECT_GE(t, migrated, moved);
  KTEST_EXPECT_LT(t, blocks_before, blocks_after);
  expect_checkers_clean(t, "after compact_memory");
  pr_info("compaction: %lu pages migrated (%u of the test's areas), free pageblocks %lu -> %lu\n", migrated, moved,
          blocks_before, blocks_after);

  page *huge = alloc_pages(GFP_KERNEL | __GFP_NOWARN, pageblock_order);
  KTEST_EXPECT_TRUE(t, huge != nullptr);
  if (huge) __free_pages(huge, pageblock_order);

  // Contiguous beyond MAX_PAGE_ORDER's half: 2048 pages (8 MiB), each its
  // own order-0 page with one reference, at a 2048-page boundary; written
  // and read back through the direct map.
  constexpr unsigned long NR_CONTIG = 2048;
  page *first = alloc_contig_pages(ms(), NR_CONTIG, GFP_KERNEL, NUMA_NO_NODE);
  KTEST_EXPECT_TRUE(t, first != nullptr);
  if (first) {
    unsigned long pfn = page_to_pfn(ms(), first), not_ours = 0, wrong = 0;
    KTEST_EXPECT_EQ(t, pfn % NR_CONTIG, 0ul);
    for (unsigned long i = 0; i < NR_CONTIG; i++) {
      page *p = pfn_to_page(ms(), pfn + i);
      not_ours += !p || page_ref_count(p) != 1 || PageBuddy(p) || PagePcp(p);
      if (p) *static_cast<u64 *>(page_address(p)) = pattern(unsigned(i), 7);
    }
    for (unsigned long i = 0; i < NR_CONTIG; i++)
      wrong += *static_cast<u64 *>(page_address(pfn_to_page(ms(), pfn + i))) != pattern(unsigned(i), 7);
    KTEST_EXPECT_EQ(t, not_ours, 0ul);
    KTEST_EXPECT_EQ(t, wrong, 0ul);
    expect_checkers_clean(t, "holding the contiguous range");
    KTEST_EXPECT_EQ(t, free_contig_range(ms(), pfn, NR_CONTIG), 0ul);
  }
  release_fragments();
  KTEST_EXPECT_EQ(t, bad_page_reports(), bad_before);
}

// ---- migration under a concurrent accessor -----------------------------------------------

// The other hart's loop over one movable page: each round reads three words
// spread over the page, which must all hold the value it wrote last (a
// stale one means a write went to the old frame after the copy; unequal
// ones, a torn copy), then writes the next value to all three.
struct accessor {
  work_struct work;  // first: the work is the context
  volatile u64 *page;
  unsigned stop;
  unsigned long rounds, stale;
  u64 first_bad, expected_then;
};

void access_loop(work_struct *w) {
  accessor *a = reinterpret_cast<accessor *>(w);
  u64 seq = a->page[0];
  while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
    u64 x = a->page[0], y = a->page[WORDS / 2], z = a->page[WORDS - 1];
    if (x != seq || y != seq || z != seq) {
      if (!a->stale++) a->first_bad = x != seq ? x : y != seq ? y : z, a->expected_then = seq;
      seq = x;
    }
    seq++;
    a->page[0] = seq;
    a->page[WORDS / 2] = seq;
    a->page[WORDS - 1] = seq;
    a->rounds++;
  }
  __atomic_store_n(&a->page[1], seq, __ATOMIC_RELEASE);  // its last value, for the migrating side
}

page *new_movable_page(page *, void *) { return alloc_pages(GFP_KERNEL | __GFP_MOVABLE, 0); }
void put_unused_page(page *p, void *) { __free_pages(p, 0); }

unsigned other_cpu() {
  for_each_cpu(cpu, cpu_online_mask)
    if (cpu != smp_processor_id()) return cpu;
  return NR_CPUS;
}

// This CPU migrates one movable page again and again while another hart
// reads and writes it through its vmalloc address in a loop. That hart must
// never see a stale or torn value, and must have waited out a migration
// entry in its fault handler at least once and made a round of its loop
// (migration goes on, past MIN_MIGRATIONS, until both have happened: the
// other hart may start late, when this one is nearly done;
// MAX_MIGRATIONS is the failure bound).
void migration_waits_out_concurrent_access(ktest *t) {
  unsigned cpu = other_cpu();
  if (cpu == NR_CPUS) {
    ktest_skip(t, "needs a second CPU");
    return;
  }
  constexpr unsigned MIN_MIGRATIONS = 500, MAX_MIGRATIONS = 50000;
  u64 *area = static_cast<u64 *>(vmalloc_movable(vs(), PAGE_SIZE));
  KTEST_ASSERT_TRUE(t, area != nullptr);
  for (unsigned w = 0; w < WORDS; w++) area[w] = 1000;
  const unsigned long bad_before = bad_page_reports();
  static accessor acc;
  acc = accessor{{nullptr, access_loop, WORK_IDLE}, area, 0, 0, 0, 0, 0};
  const unsigned long waits_before = READ_ONCE(migration_fault_waits[cpu]);
  KTEST_ASSERT_TRUE(t, queue_work_on(cpu, &acc.work));

  unsigned migrations = 0, attempts = 0, not_isolated = 0, same_frame = 0;
  unsigned long waits = 0;
  while (attempts < MAX_MIGRATIONS && (migrations < MIN_MIGRATIONS || !waits || !READ_ONCE(acc.rounds))) {
    attempts++;
    // This CPU never touches the page through area while it migrates it:
    // the fault handler would refuse to wait for its own migration entry.
    page *p = vmalloc_to_page(vs(), area);
    const unsigned long pfn = p ? page_to_pfn(ms(), p) : 0;
    if (!p || !isolate_movable_page(ms(), p, MIGRATE_SYNC)) {
      not_isolated++;
      continue;
    }
    list_head l;
    INIT_LIST_HEAD(&l);
    list_add(&p->lru, &l);
    unsigned ok = 0;
    if (migrate_pages(ms(), &l, new_movable_page, put_unused_page, nullptr, MIGRATE_SYNC, MR_COMPACTION, &ok))
      putback_movable_pages(ms(), &l);
    migrations += ok;
    same_frame += ok && page_to_pfn(ms(), vmalloc_to_page(vs(), area)) == pfn;
    waits = READ_ONCE(migration_fault_waits[cpu]) - waits_before;
  }
  __atomic_store_n(&acc.stop, 1u, __ATOMIC_RELEASE);
  flush_work(&acc.work);

  KTEST_EXPECT_EQ(t, acc.stale, 0ul);
  if (acc.stale)
    pr_err("compaction: CPU%u read %#llx where it had written %#llx\n", cpu, (unsigned long long)acc.first_bad,
           (unsigned long long)acc.expected_then);
  KTEST_EXPECT_GE(t, migrations, MIN_MIGRATIONS);
  KTEST_EXPECT_GE(t, waits, 1ul);
  KTEST_EXPECT_EQ(t, not_isolated, 0u);
  KTEST_EXPECT_GE(t, acc.rounds, 1ul);
  // The last values, read here through the final frame.
  u64 last = __atomic_load_n(&area[1], __ATOMIC_ACQUIRE);
  KTEST_EXPECT_EQ(t, area[0], last);
  KTEST_EXPECT_EQ(t, area[WORDS - 1], last);
  KTEST_EXPECT_EQ(t, same_frame, 0u);  // each migration moved it to another frame
  expect_checkers_clean(t, "after the migrations");
  pr_info("compaction: %u migrations, CPU%u made %lu rounds and waited %lu times on a migration entry\n", migrations,
          cpu, acc.rounds, waits);
  vfree(vs(), area);
  KTEST_EXPECT_EQ(t, bad_page_reports(), bad_before);
}

// Whether this hart takes interrupts (sstatus.SIE), as local_irq_save saw it.
bool irqs_enabled() {
  unsigned long flags = local_irq_save();
  local_irq_restore(flags);
  return flags != 0;
}

// vmalloc's migrate_page masks interrupts while its migration entry is live
// and gives its caller back the state it had: this hart takes interrupts
// again after a migration, and after a migrate_page refused with -EAGAIN
// (the area freed after the isolation).
void migration_gives_interrupts_back(ktest *t) {
  KTEST_ASSERT_TRUE(t, irqs_enabled());
  void *area = vmalloc_movable(vs(), PAGE_SIZE);
  KTEST_ASSERT_TRUE(t, area != nullptr);
  list_head l;
  INIT_LIST_HEAD(&l);
  page *p = vmalloc_to_page(vs(), area);
  KTEST_ASSERT_TRUE(t, isolate_movable_page(ms(), p, MIGRATE_SYNC));
  list_add(&p->lru, &l);
  unsigned ok = 0;
  KTEST_EXPECT_EQ(t, migrate_pages(ms(), &l, new_movable_page, put_unused_page, nullptr, MIGRATE_SYNC, MR_COMPACTION, &ok), 0);
  KTEST_EXPECT_EQ(t, ok, 1u);
  KTEST_EXPECT_TRUE(t, irqs_enabled());

  p = vmalloc_to_page(vs(), area);
  KTEST_ASSERT_TRUE(t, isolate_movable_page(ms(), p, MIGRATE_SYNC));
  vfree(vs(), area);
  page *dst = new_movable_page(p, nullptr);
  KTEST_ASSERT_TRUE(t, dst != nullptr);
  KTEST_EXPECT_EQ(t, vs().mops.migrate_page(dst, p, MIGRATE_SYNC), -EAGAIN);
  KTEST_EXPECT_TRUE(t, irqs_enabled());
  put_unused_page(dst, nullptr);
  INIT_LIST_HEAD(&l);
  list_add(&p->lru, &l);
  putback_movable_pages(ms(), &l);
}

}  // namespace

KTEST_SUITE(compaction, KTEST_CASE(compact_memory_moves_areas_and_frees_pageblocks),
            KTEST_CASE(migration_waits_out_concurrent_access), KTEST_CASE(migration_gives_interrupts_back));

// The `bench` monitor command: the page allocator's benchmark workloads
// (bench/page_alloc_workloads.h, the very code the host benchmark times) and
// kmalloc/kfree pairs (bench/slab_workloads.h) run on the kernel's own
// allocators and counted in retired RISC-V instructions.
//
// rdinstret reads the instret counter, which OpenSBI lets S-mode read
// (it sets mcounteren). QEMU counts guest instructions into it only under
// -icount (scripts/run --icount); without, it returns host time-stamp
// ticks. So the command first counts a loop of known length and says
// whether the figures that follow are exact.
//
// Interrupts are masked while counting, and this CPU's tick is stopped for
// the whole command (without Sstc the firmware fields the timer in M-mode,
// whatever S-mode masks), so that no handler's instructions land in a count.
#include "bench/page_alloc_workloads.h"
#include "bench/slab_workloads.h"
#include "kernel/bench_vmalloc.h"
#include "kernel/cmdline.h"
#include "kernel/string.h"
#include "kernel/ktime.h"
#include "kernel/monitor.h"
#include "kernel/printk.h"
#include "mm/check.h"
#include "mm/migrate.h"
#include "mm/vmalloc.h"

constexpr unsigned long BENCH_DEFAULT_PAIRS = 10000;
constexpr unsigned long BENCH_MAX_PAIRS = 10000000;  // ~2.5 * 10^10 instructions in all: minutes

static inline u64 rdinstret() {
  u64 n;
  asm volatile("rdinstret %0" : "=r"(n)::"memory");
  return n;
}

// What reading the counter twice in a row adds: subtracted from every count.
static u64 rdinstret_overhead() {
  unsigned long flags = local_irq_save();
  u64 a = rdinstret();
  u64 b = rdinstret();
  local_irq_restore(flags);
  return b - a;
}

// Counts a loop whose length the code fixes (1 + 2 * n instructions) and
// returns whether the counter saw exactly that.
static bool instret_is_exact(u64 overhead) {
  constexpr u64 n = 1000;
  unsigned long flags = local_irq_save();
  u64 a, b;
  asm volatile(
      "rdinstret %0\n"
      "li t0, %2\n"
      "1: addi t0, t0, -1\n"
      "bnez t0, 1b\n"
      "rdinstret %1\n"
      : "=&r"(a), "=&r"(b)
      : "i"(n)
      : "t0", "memory");
  local_irq_restore(flags);
  return b - a - overhead == 1 + 2 * n;
}

// Prints one workload's line: count / pairs with one decimal, then a note.
static void print_per_pair(const char *name, u64 count, unsigned long pairs, const char *note) {
  u64 tenths = (count * 10 + pairs / 2) / pairs;
  printk("  %-20s %8lu.%lu%s\n", name, tenths / 10, tenths % 10, note);
}

// The instructions of `pairs` calls of step, interrupts masked.
template <class Step>
static u64 count_pairs(unsigned long pairs, u64 overhead, Step step) {
  unsigned long flags = local_irq_save();
  u64 start = rdinstret();
  for (unsigned long i = 0; i < pairs; i++) step();
  u64 count = rdinstret() - start - overhead;
  local_irq_restore(flags);
  return count;
}

// Prints a workload's line, or why it could not run. Returns 0, or 1 when
// it could not.
static int report_pairs(const char *name, bool started, unsigned long failures, u64 count,
                        unsigned long pairs) {
  if (!started || failures) {
    printk("  %-20s failed: %lu of the allocations returned nothing\n", name, failures);
    return 1;
  }
  print_per_pair(name, count, pairs, "");
  return 0;
}

// How a pair workload calls the allocator: with the order as a variable
// (the out-of-line entry points) or, for order 0, through the constant
// forms alloc_page / __free_page (the fast paths inlined).
enum class pair_call { runtime_order, constant_order0 };

// Counts `pairs` pairs of one order.
static int bench_pairs(mem_system &ms, const char *name, unsigned order, bool no_pcp,
                       unsigned long pairs, u64 overhead, pair_call call = pair_call::runtime_order) {
  pair_bench b;
  bool ok = pair_bench_start(b, ms, order, no_pcp);
  u64 count = 0;
  if (ok && call == pair_call::constant_order0)
    count = count_pairs(pairs, overhead, [&] { pair_bench_step_order0(b); });
  else if (ok)
    count = count_pairs(pairs, overhead, [&] { pair_bench_step(b); });
  pair_bench_finish(b);
  return report_pairs(name, ok, b.failures, count, pairs);
}

// The kmalloc sizes counted: 64 bytes is the figure; 16 and 256
// are other slab caches of one page, 4096 one whose slabs span several.
static const unsigned bench_kmalloc_sizes[] = {16, 64, 256, 4096};

// Counts `pairs` kmalloc/kfree pairs of one size.
static int bench_kmalloc(slab_allocator &sa, size_t size, unsigned long pairs, u64 overhead) {
  char name[24];
  scnprintf(name, sizeof(name), "Kmalloc%zuPair", size);
  kmalloc_pair_bench b;
  bool ok = kmalloc_pair_start(b, sa, size);
  u64 count = ok ? count_pairs(pairs, overhead, [&] { kmalloc_pair_step(b); }) : 0;
  return report_pairs(name, ok, b.failures, count, pairs);
}

static unsigned long free_and_pcp_pages(const mem_system &ms) {
  return nr_free_pages(ms) + nr_free_pcp_pages(ms);
}

// Every CPU's slabs and the free slabs of the caches the kmalloc workloads
// use, given back to the page allocator.
static void shrink_kmalloc_bench_caches(slab_allocator &sa) {
  for (unsigned size : bench_kmalloc_sizes) kmem_cache_shrink(kmalloc_bench_cache(sa, size));
}

// The kmalloc workloads. Their caches keep free slabs, some from before
// (the boot's) and some the workloads add: shrinking them before and after
// makes the free pages comparable, if what the first shrink gives back
// counts as free before. Returns the workloads' failures; adds that to
// *free_before.
static int bench_kmalloc_all(mem_system &ms, slab_allocator &sa, unsigned long pairs, u64 overhead,
                             unsigned long *free_before) {
  unsigned long unshrunk = free_and_pcp_pages(ms);
  shrink_kmalloc_bench_caches(sa);
  *free_before += free_and_pcp_pages(ms) - unshrunk;
  int failed = 0;
  for (unsigned size : bench_kmalloc_sizes) failed |= bench_kmalloc(sa, size, pairs, overhead);
  shrink_kmalloc_bench_caches(sa);
  return failed;
}

// What choosing a slot and an order costs in the churn, to tell apart from
// the allocator's share: the same generator steps, with nothing allocated.
static u64 churn_choice_count(churn_bench &b, unsigned long pairs, u64 overhead) {
  b.rng = CHURN_SEED;
  unsigned long flags = local_irq_save();
  u64 start = rdinstret();
  for (unsigned long i = 0; i < pairs; i++) {
    u64 r = churn_random(b);
    unsigned slot = unsigned(r) & (CHURN_BLOCKS - 1), order = unsigned(r >> 32) % NR_PAGE_ORDERS;
    asm volatile("" ::"r"(slot), "r"(order));  // used, as the workload uses them
  }
  u64 count = rdinstret() - start - overhead;
  local_irq_restore(flags);
  return count;
}

static int bench_churn(mem_system &ms, unsigned long pairs, u64 overhead) {
  static churn_bench b;  // 64 slots: off the monitor's stack
  churn_bench_start(b, ms);
  u64 count = count_pairs(pairs, overhead, [&] { churn_bench_step(b); });
  churn_bench_finish(b);
  u64 choice = churn_choice_count(b, pairs, overhead);
  u64 tenths = (choice * 10 + pairs / 2) / pairs;
  char note[96];
  scnprintf(note, sizeof(note), "  (%lu.%lu of it choosing slot and order; %lu allocations failed)",
            tenths / 10, tenths % 10, b.failures);
  print_per_pair("RandomOrderChurn", count, pairs, note);
  return 0;
}

// After the workloads: both allocators must be consistent and the page
// allocator hold the free pages it held before. Returns 0, or 1 after
// printing what differs.
static int bench_check_restored(const mem_system &ms, const slab_allocator &sa,
                                unsigned long free_before) {
  static char buf[2048];
  check_report r = make_check_report(buf, sizeof(buf));
  unsigned violations = check_page_alloc(ms, r) + check_slab(sa, r);
  unsigned long free_after = free_and_pcp_pages(ms);
  if (violations || free_after != free_before) {
    printk("bench: allocator NOT restored: %lu free pages before, %lu after; %u violations\n%s",
           free_before, free_after, violations, buf);
    return 1;
  }
  printk("bench: allocator restored: %lu free pages as before, per-CPU lists %s, checker clean\n",
         free_after, ms.pcp_disabled ? "off" : "on");
  return 0;
}

// One page of a movable vmalloc area migrated back and forth: isolation,
// a target from the page allocator, the migration entry, the TLB shootdown
// (SBI remote fence, whose M-mode instructions the counter includes), the
// copy of 4 KiB and the new leaf. Runs after the restored check: the area's
// bookkeeping may leave slab pages behind.
static page *bench_migration_target(page *, void *priv) {
  return alloc_pages(*static_cast<mem_system *>(priv), GFP_KERNEL | __GFP_MOVABLE, 0);
}
static void bench_migration_put(page *p, void *priv) { __free_pages(*static_cast<mem_system *>(priv), p, 0); }

static int bench_migrate(mem_system &ms, unsigned long pairs, u64 overhead) {
  if (!system_vmalloc) return 0;
  void *area = vmalloc_movable(*system_vmalloc, PAGE_SIZE);
  if (!area) return report_pairs("MigrateVmallocPage", false, 1, 0, pairs);
  unsigned long failures = 0;
  u64 count = count_pairs(pairs, overhead, [&] {
    page *p = vmalloc_to_page(*system_vmalloc, area);
    list_head l;
    INIT_LIST_HEAD(&l);
    if (!p || !isolate_movable_page(ms, p, MIGRATE_SYNC)) {
      failures++;
      return;
    }
    list_add(&p->lru, &l);
    if (migrate_pages(ms, &l, bench_migration_target, bench_migration_put, &ms, MIGRATE_SYNC, MR_COMPACTION,
                      nullptr)) {
      failures++;
      putback_movable_pages(ms, &l);
    }
  });
  vfree(*system_vmalloc, area);
  return report_pairs("MigrateVmallocPage", true, failures, count, pairs);
}

constexpr unsigned long BENCH_VMALLOC_DEFAULT_PAIRS = 1000;
constexpr unsigned long BENCH_VMALLOC_MAX_PAIRS = 1000000;

static int cmd_bench(int argc, char **argv) {
  u64 pairs = BENCH_DEFAULT_PAIRS;
  if (argc >= 2 && strcmp(argv[1], "vmalloc") == 0) {
    pairs = BENCH_VMALLOC_DEFAULT_PAIRS;
    if (argc > 3 || (argc == 3 && (parse_u64(argv[2], &pairs) || pairs == 0 || pairs > BENCH_VMALLOC_MAX_PAIRS))) {
      printk("usage: bench vmalloc [pairs per CPU]   (1 to %lu, default %lu)\n", BENCH_VMALLOC_MAX_PAIRS,
             BENCH_VMALLOC_DEFAULT_PAIRS);
      return 1;
    }
    return bench_vmalloc(pairs);
  }
  if (argc > 2 ||
      (argc == 2 && (parse_u64(argv[1], &pairs) || pairs == 0 || pairs > BENCH_MAX_PAIRS))) {
    printk("usage: bench [pairs]   (1 to %lu, default %lu)\n", BENCH_MAX_PAIRS,
           BENCH_DEFAULT_PAIRS);
    return 1;
  }
  mem_system *ms = system_mem;
  slab_allocator *sa = system_slab;
  if (!ms || !sa) {
    printk("bench: the allocators are not set up (no system_mem or system_slab)\n");
    return 1;
  }
  u64 overhead = rdinstret_overhead();
  bool exact = instret_is_exact(overhead);
  printk("bench: %lu alloc+free pairs per workload, RISC-V instructions per pair (rdinstret)\n",
         pairs);
  if (exact)
    printk("bench: counts are exact: a loop of known length counted right (QEMU -icount)\n");
  else
    printk(
        "bench: counts are NOT instructions: a loop of known length counted wrong; QEMU "
        "without -icount reports host ticks (use scripts/run --icount)\n");

  unsigned long free_before = free_and_pcp_pages(*ms);
  tick_stop();
  int failed = 0;
  printk("  %-20s %10s\n", "workload", exact ? "instr/pair" : "ticks/pair");
  failed |= bench_pairs(*ms, "Order0PairPcp", 0, false, pairs, overhead, pair_call::constant_order0);
  failed |= bench_pairs(*ms, "Order0PairPcpVar", 0, false, pairs, overhead);
  failed |= bench_pairs(*ms, "Order0PairNoPcp", 0, true, pairs, overhead);
  failed |= bench_pairs(*ms, "Order3Pair", 3, false, pairs, overhead);
  failed |= bench_pairs(*ms, "Order9Pair", 9, false, pairs, overhead);
  failed |= bench_churn(*ms, pairs, overhead);
  failed |= bench_kmalloc_all(*ms, *sa, pairs, overhead, &free_before);
  failed |= bench_check_restored(*ms, *sa, free_before);
  failed |= bench_migrate(*ms, pairs, overhead);
  tick_start();
  return failed;
}
MONITOR_COMMAND(
    bench_cmd, "bench", "[pairs] | vmalloc [pairs]",
    "page allocator and kmalloc workloads in instructions per alloc+free pair (exact: --icount); "
    "vmalloc: vmalloc/vfree pairs on every CPU, pairs/s and shootdowns",
    cmd_bench);

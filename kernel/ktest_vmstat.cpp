// In-kernel tests of the per-CPU counters (mm/vmstat.h) on the real harts:
// after allocation traffic on every CPU the snapshot of NR_FREE_PAGES is
// what the buddy lists hold, and each CPU's once-a-second periodic work
// folds its deltas into the totals. The second case needs a CPU besides
// this one.
#include "arch/arch.h"
#include "kernel/boot.h"
#include "kernel/ktest.h"
#include "kernel/ktest_mm.h"
#include "kernel/ktime.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/spinlock.h"
#include "mm/page_alloc.h"

namespace {

mem_system &ms() { return *system_mem; }

// Pages on a zone's buddy lists outside isolated pageblocks: what
// NR_FREE_PAGES counts. Needs the zone lock.
long buddy_pages_locked(const zone *z) {
  long n = 0;
  for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) {
    n += long(z->free_area[o].nr_free) << o;
    const list_head *iso = &z->free_area[o].free_list[MIGRATE_ISOLATE];
    for (const list_head *e = iso->next; e != iso; e = e->next) n -= 1l << o;
  }
  return n;
}

// Every zone's snapshot against its lists, each under its lock; and every
// CPU's deltas within its threshold. Returns the deltas that were not 0.
unsigned expect_snapshots_exact(ktest *t) {
  unsigned nonzero = 0;
  for_each_online_pgdat(ms(), pgdat) for_each_zone_of(pgdat, z) {
    if (!populated_zone(z)) continue;
    spin_lock_irqsave_guard g(z->lock);
    KTEST_EXPECT_EQ(t, zone_page_state_snapshot(z, NR_FREE_PAGES), buddy_pages_locked(z));
    for (const per_cpu_zonestat &pcz : z->per_cpu_zonestats)
      for (s8 d : pcz.vm_stat_diff) {
        KTEST_EXPECT_LE(t, d < 0 ? -d : d, int(pcz.stat_threshold));
        nonzero += d != 0;
      }
  }
  return nonzero;
}

// Allocation traffic on one CPU: blocks of orders 0..5 taken and half of
// them given back, through the per-CPU lists and the buddy lists; then,
// with the per-CPU lists off (the caller sets pcp_disabled), a few small
// blocks straight from the buddy lists, so that the CPU ends with deltas
// below the threshold rather than just folded.
struct traffic {
  page *held[48];
  page *small[6];
  unsigned done;
};

void make_traffic(void *arg) {
  traffic &tr = *static_cast<traffic *>(arg);
  for (unsigned i = 0; i < 48; i++) tr.held[i] = alloc_pages(GFP_KERNEL | __GFP_NOWARN, i % 6);
  for (unsigned i = 0; i < 48; i += 2)
    if (tr.held[i]) __free_pages(tr.held[i], i % 6);
  tr.done++;
}

void make_small_traffic(void *arg) {
  traffic &tr = *static_cast<traffic *>(arg);
  for (unsigned i = 0; i < 6; i++) tr.small[i] = alloc_pages(GFP_KERNEL | __GFP_NOWARN, i % 2);
  __free_pages(tr.small[0], 0);
  tr.small[0] = nullptr;
}

void free_traffic(void *arg) {
  traffic &tr = *static_cast<traffic *>(arg);
  for (unsigned i = 1; i < 48; i += 2)
    if (tr.held[i]) __free_pages(tr.held[i], i % 6);
  for (unsigned i = 1; i < 6; i++)
    if (tr.small[i]) __free_pages(tr.small[i], i % 2);
}

traffic per_cpu_traffic[NR_CPUS];

void snapshot_matches_buddy_after_traffic_on_every_cpu(ktest *t) {
  for_each_cpu(cpu, cpu_online_mask) {
    per_cpu_traffic[cpu] = {};
    KTEST_ASSERT_TRUE(t, run_on(cpu, make_traffic, &per_cpu_traffic[cpu]));
    KTEST_EXPECT_EQ(t, per_cpu_traffic[cpu].done, 1u);
    const bool pcp_disabled = ms().pcp_disabled;
    ms().pcp_disabled = true;
    KTEST_ASSERT_TRUE(t, run_on(cpu, make_small_traffic, &per_cpu_traffic[cpu]));
    ms().pcp_disabled = pcp_disabled;
  }
  // Some deltas are left (unless a tick folded every CPU's just then), and
  // the snapshot counts them.
  const unsigned nonzero = expect_snapshots_exact(t);
  printk(KERN_INFO "        # %s: %u per-CPU deltas not yet folded\n", t->name, nonzero);
  for_each_cpu(cpu, cpu_online_mask) KTEST_ASSERT_TRUE(t, run_on(cpu, free_traffic, &per_cpu_traffic[cpu]));
  drain_all_pages(ms());
  expect_snapshots_exact(t);
}

// ---- the tick's fold -------------------------------------------------------------------

struct one_page {
  page *p;
  zone *z;
};

void fold_here(void *) { refresh_cpu_vm_stats(ms()); }

// One page through the buddy lists (pcp_disabled is set by the caller):
// this CPU's deltas of NR_FREE_PAGES and NR_ZONE_ALLOCATED move by one.
void take_one_page(void *arg) {
  one_page &o = *static_cast<one_page *>(arg);
  o.p = alloc_pages(GFP_KERNEL, 0);
  o.z = o.p ? page_zone(ms(), o.p) : nullptr;
}

bool deltas_zero(const zone *z, unsigned cpu) {
  for (const s8 &d : z->per_cpu_zonestats[cpu].vm_stat_diff)
    if (__atomic_load_n(&d, __ATOMIC_RELAXED)) return false;
  return true;
}

// Another CPU's deltas, made non-zero by an allocation there, are folded
// by that CPU's periodic work, once a second (Linux's vmstat_update), with
// nothing else touching them; the snapshot does not change meanwhile. The
// time it took is printed, not judged (a loaded host delays the ticks);
// without the fold it never happens, and the case fails after 5 s.
void tick_folds_other_cpus_deltas(ktest *t) {
  unsigned other = NR_CPUS;
  for_each_cpu(cpu, cpu_online_mask) if (cpu != smp_processor_id() && other == NR_CPUS) other = cpu;
  if (other == NR_CPUS) return ktest_skip(t, "one CPU");
  one_page o{nullptr, nullptr};
  // The fold may land between the allocation and the look at its delta:
  // then try again (a second apart, that cannot happen three times).
  for (int tries = 0; tries < 3; tries++) {
    KTEST_ASSERT_TRUE(t, run_on(other, fold_here, nullptr));
    const bool pcp_disabled = ms().pcp_disabled;
    ms().pcp_disabled = true;
    KTEST_ASSERT_TRUE(t, run_on(other, take_one_page, &o));
    ms().pcp_disabled = pcp_disabled;
    KTEST_ASSERT_TRUE(t, o.p != nullptr);
    if (!deltas_zero(o.z, other)) break;
    __free_pages(o.p, 0);
    o.p = nullptr;
  }
  KTEST_ASSERT_TRUE(t, o.p != nullptr);
  KTEST_EXPECT_EQ(t, int(o.z->per_cpu_zonestats[other].vm_stat_diff[NR_FREE_PAGES]), -1);
  KTEST_EXPECT_EQ(t, int(o.z->per_cpu_zonestats[other].vm_stat_diff[NR_ZONE_ALLOCATED]), 1);
  // Read under the zone lock, which a fold holds: never half done.
  auto snapshot_locked = [](zone *z) {
    spin_lock_irqsave_guard g(z->lock);
    return zone_page_state_snapshot(z, NR_FREE_PAGES);
  };
  const long snapshot = snapshot_locked(o.z);
  const u64 start = ktime_get_ms();
  while (!deltas_zero(o.z, other) && ktime_get_ms() - start < 5000) cpu_relax();
  const u64 waited = ktime_get_ms() - start;
  printk(KERN_INFO "        # %s: CPU %u folded its deltas after %lu ms\n", t->name, other,
         static_cast<unsigned long>(waited));
  KTEST_EXPECT_TRUE(t, deltas_zero(o.z, other));
  KTEST_EXPECT_EQ(t, snapshot_locked(o.z), snapshot);
  __free_pages(o.p, 0);
}

}  // namespace

KTEST_SUITE(vmstat, KTEST_CASE(snapshot_matches_buddy_after_traffic_on_every_cpu),
            KTEST_CASE(tick_folds_other_cpus_deltas));

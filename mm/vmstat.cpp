// Thresholds and folding of the per-CPU counter deltas (see mm/vmstat.h).
#include "mm/vmstat.h"

#include "kernel/spinlock.h"

void refresh_zone_stat_thresholds(mem_system &ms) {
  const unsigned cpus = ms.nr_cpus;  // at least 1: mem_system_init refuses 0
  for_each_online_pgdat(ms, pgdat) {
    int node_threshold = 0;
    for_each_zone_of(pgdat, z) {
      // An empty zone is never updated: 0 keeps it exact, as Linux leaves it.
      int threshold = populated_zone(z) ? calculate_normal_threshold(z->managed_pages, cpus) : 0;
      for (per_cpu_zonestat &pcz : z->per_cpu_zonestats)
        WRITE_ONCE(pcz.stat_threshold, s8(threshold));
      if (threshold > node_threshold) node_threshold = threshold;
      WRITE_ONCE(z->percpu_drift_mark, populated_zone(z) ? percpu_drift_mark_for(min_wmark_pages(z), low_wmark_pages(z),
                                                                                 high_wmark_pages(z), threshold, cpus)
                                                         : 0ul);
    }
    for (per_cpu_nodestat &pcn : pgdat->per_cpu_nodestats)
      WRITE_ONCE(pcn.stat_threshold, s8(node_threshold));
  }
}

// Moves the deltas into their totals; returns how many were not 0.
template <size_t N>
static int fold_diffs(s8 (&diffs)[N], long (&totals)[N]) {
  int changes = 0;
  for (size_t i = 0; i < N; i++) {
    s8 d = diffs[i];
    if (!d) continue;
    WRITE_ONCE(diffs[i], s8(0));
    __atomic_fetch_add(&totals[i], long(d), __ATOMIC_RELAXED);
    changes++;
  }
  return changes;
}

// Moves the deltas of slot cpu into the totals. The zone's under its lock
// with interrupts masked: a checker that holds the lock then never sees a
// delta counted twice or not at all.
static int fold_cpu(mem_system &ms, unsigned cpu) {
  int changes = 0;
  for_each_online_pgdat(ms, pgdat) {
    for_each_zone_of(pgdat, z) {
      per_cpu_zonestat &pcz = z->per_cpu_zonestats[cpu];
      bool any = false;
      for (const s8 &d : pcz.vm_stat_diff) any |= READ_ONCE(d) != 0;
      if (!any) continue;
      spin_lock_irqsave_guard g(z->lock);
      changes += fold_diffs(pcz.vm_stat_diff, z->vm_stat);
    }
    per_cpu_nodestat &pcn = pgdat->per_cpu_nodestats[cpu];
    unsigned long flags = local_irq_save();
    changes += fold_diffs(pcn.vm_node_stat_diff, pgdat->vm_stat);
    local_irq_restore(flags);
  }
  return changes;
}

int refresh_cpu_vm_stats(mem_system &ms) { return fold_cpu(ms, this_cpu_slot()); }

int cpu_vm_stats_fold(mem_system &ms, unsigned cpu) { return fold_cpu(ms, cpu & (NR_CPUS - 1)); }

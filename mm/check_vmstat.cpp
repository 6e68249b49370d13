// The checker's part for the per-CPU counters (mm/vmstat.h): every delta
// within its threshold, each threshold what calculate_normal_threshold gives,
// and percpu_drift_mark per Linux's rule. That the snapshot of each counter
// equals what the lists hold is check_page_alloc's.
#include "mm/check_internal.h"
#include "mm/mmzone.h"

void check_zone_vmstat(const mem_system &ms, const zone *z, int nid, check_report &r) {
  const unsigned cpus = ms.nr_cpus ? ms.nr_cpus : 1;
  const int want = populated_zone(z) ? calculate_normal_threshold(z->managed_pages, cpus) : 0;
  for (unsigned cpu = 0; cpu < NR_CPUS; cpu++) {
    const per_cpu_zonestat &pcz = z->per_cpu_zonestats[cpu];
    const int threshold = READ_ONCE(pcz.stat_threshold);
    if (threshold != want)
      check_fail(r, "node %d zone %s: CPU %u's vm stats threshold is %d but calculate_normal_threshold gives %d",
                 nid, z->name, cpu, threshold, want);
    for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++) {
      const int d = READ_ONCE(pcz.vm_stat_diff[i]);
      if (d > threshold || d < -threshold)
        check_fail(r, "node %d zone %s: CPU %u's vm_stat_diff[%u] is %d, beyond its threshold %d", nid, z->name,
                   cpu, i, d, threshold);
    }
  }
  const unsigned long mark =
      populated_zone(z) ? percpu_drift_mark_for(min_wmark_pages(z), low_wmark_pages(z), high_wmark_pages(z), want, cpus)
                        : 0;
  if (z->percpu_drift_mark != mark)
    check_fail(r, "node %d zone %s: percpu_drift_mark is %lu but the watermarks and %u CPUs at threshold %d give %lu",
               nid, z->name, z->percpu_drift_mark, cpus, want, mark);
}

void check_node_vmstat(const mem_system &ms, const pglist_data *pgdat, check_report &r) {
  int want = 0;
  for (const zone &z : pgdat->node_zones) {
    int t = populated_zone(&z) ? calculate_normal_threshold(z.managed_pages, ms.nr_cpus ? ms.nr_cpus : 1) : 0;
    if (t > want) want = t;
  }
  for (unsigned cpu = 0; cpu < NR_CPUS; cpu++) {
    const per_cpu_nodestat &pcn = pgdat->per_cpu_nodestats[cpu];
    const int threshold = READ_ONCE(pcn.stat_threshold);
    if (threshold != want)
      check_fail(r, "node %d: CPU %u's vm stats threshold is %d but its largest zone's is %d", pgdat->node_id, cpu,
                 threshold, want);
    for (unsigned i = 0; i < NR_VM_NODE_STAT_ITEMS; i++) {
      const int d = READ_ONCE(pcn.vm_node_stat_diff[i]);
      if (d > threshold || d < -threshold)
        check_fail(r, "node %d: CPU %u's vm_node_stat_diff[%u] is %d, beyond its threshold %d", pgdat->node_id, cpu,
                   i, d, threshold);
    }
  }
}

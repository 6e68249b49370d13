// Zone and node counters as Linux's mm/vmstat.c keeps them: an atomic total
// per item (zone::vm_stat, pglist_data::vm_stat) plus a small signed delta
// per CPU (per_cpu_zonestat::vm_stat_diff, per_cpu_nodestat), so that an
// update is a plain add to a line only its own CPU writes.
//
//   __mod_zone_page_state   adds to this CPU's delta; once the delta would
//                           pass stat_threshold it goes into the total and
//                           the delta restarts at 0. The caller has masked
//                           interrupts (the zone lock taken with irqsave);
//                           mod_zone_page_state masks them itself.
//   refresh_cpu_vm_stats    folds this CPU's deltas into the totals: from
//                           each CPU's periodic work once a second, and when
//                           a CPU drains its pagesets.
//   zone_page_state         the total (what the allocator decides on), never
//                           below 0. Off by at most threshold * CPUs.
//   zone_page_state_snapshot  the total plus every CPU's delta: exact while
//                           the counter is still (under the zone lock, for
//                           NR_FREE_PAGES and the buddy paths' share of
//                           NR_ZONE_ALLOCATED, which change only under it).
//
// Invariants (checked by mm/check): every delta lies within
// [-stat_threshold, stat_threshold]; stat_threshold is
// calculate_normal_threshold(zone) on every CPU, a node's the largest of its
// populated zones'; percpu_drift_mark follows the rule below.
#pragma once

#include "arch/arch.h"
#include "mm/mmzone.h"

// This CPU's index in the per-CPU tables of mm/: the counters' deltas and
// the routes to the pagesets (mem_system::alloc_route, free_route). Masked
// rather than range-checked: a CPU number the layout does not know lands
// inside the tables, on CPU 0's routes.
inline unsigned this_cpu_slot() {
  static_assert((NR_CPUS & (NR_CPUS - 1)) == 0, "NR_CPUS is a power of two");
  return smp_processor_id() & (NR_CPUS - 1);
}

// Linux's fls: the 1-based position of the highest set bit, 0 for 0.
constexpr unsigned fls_long(unsigned long x) { return x ? 64u - unsigned(__builtin_clzl(x)) : 0u; }

// The largest delta a CPU keeps (Linux's limit: it fits an s8 with room).
constexpr int MAX_STAT_THRESHOLD = 125;

// Linux's calculate_normal_threshold: more CPUs and more memory allow more
// drift (the deltas' lines bounce less), within MAX_STAT_THRESHOLD:
//   2 * fls(online CPUs) * (1 + fls(managed pages in 128 MiB units)).
constexpr int calculate_normal_threshold(unsigned long managed_pages, unsigned online_cpus) {
  unsigned long mem = managed_pages >> (27 - PAGE_SHIFT);
  unsigned long t = 2ul * fls_long(online_cpus) * (1 + fls_long(mem));
  return t < unsigned(MAX_STAT_THRESHOLD) ? int(t) : MAX_STAT_THRESHOLD;
}

// Linux's rule for percpu_drift_mark: only when the CPUs' combined drift
// (threshold * CPUs) could hide more than the gap between the low and min
// watermarks is the snapshot worth reading, below high + that drift. 0
// otherwise: no check ever reads the snapshot for the drift then. (Linux
// leaves an earlier mark in place in that case; 0 keeps the rule a function
// of the watermarks.)
constexpr unsigned long percpu_drift_mark_for(unsigned long min, unsigned long low, unsigned long high,
                                              int threshold, unsigned online_cpus) {
  unsigned long max_drift = (unsigned long)online_cpus * unsigned(threshold);
  return max_drift > low - min ? high + max_drift : 0;
}

// Sets every CPU's stat_threshold of every zone and node and every zone's
// percpu_drift_mark (Linux's refresh_zone_stat_thresholds), for ms.nr_cpus
// online CPUs. Called whenever the watermarks are set (init_per_zone_wmark_min).
void refresh_zone_stat_thresholds(mem_system &ms);

// ---- updates -----------------------------------------------------------------------

// This CPU's share of z's counters. Interrupts masked while it is used.
inline per_cpu_zonestat *this_cpu_zonestat(zone *z) { return &z->per_cpu_zonestats[this_cpu_slot()]; }

// Adds delta to one CPU's delta diff of a counter whose total is *total,
// folding it there once it would pass threshold. The sum is kept in a long
// until stored, so a delta of any size is fine: one past the threshold goes
// straight to the total. Other CPUs read the delta (the snapshot): it is
// one store, never torn (WRITE_ONCE: a plain store on RISC-V, where a
// relaxed atomic store would be an atomic swap). The delta and threshold
// are read plainly: only this CPU writes the delta, and the threshold
// changes only when the thresholds are set.
inline void __mod_stat_diff(s8 &diff, s8 threshold, long *total, long delta) {
  long x = delta + diff;
  long t = threshold;
  if (unlikely(x > t || x < -t)) {
    __atomic_fetch_add(total, x, __ATOMIC_RELAXED);
    x = 0;
  }
  WRITE_ONCE(diff, s8(x));
}

// Adds delta to this CPU's share pcz of z's item (for a caller that updates
// several, finding its share once).
inline void __mod_zonestat(zone *z, per_cpu_zonestat *pcz, zone_stat_item item, long delta) {
  __mod_stat_diff(pcz->vm_stat_diff[item], pcz->stat_threshold, &z->vm_stat[item], delta);
}

// Interrupts masked (or the zone lock held with irqsave).
inline void __mod_zone_page_state(zone *z, zone_stat_item item, long delta) {
  __mod_zonestat(z, this_cpu_zonestat(z), item, delta);
}

inline void mod_zone_page_state(zone *z, zone_stat_item item, long delta) {
  unsigned long flags = local_irq_save();
  __mod_zone_page_state(z, item, delta);
  local_irq_restore(flags);
}

inline void __mod_node_page_state(pglist_data *pgdat, node_stat_item item, long delta) {
  per_cpu_nodestat *pcn = &pgdat->per_cpu_nodestats[this_cpu_slot()];
  __mod_stat_diff(pcn->vm_node_stat_diff[item], pcn->stat_threshold, &pgdat->vm_stat[item], delta);
}

inline void mod_node_page_state(pglist_data *pgdat, node_stat_item item, long delta) {
  unsigned long flags = local_irq_save();
  __mod_node_page_state(pgdat, item, delta);
  local_irq_restore(flags);
}

// Zone events go to this CPU's share only (Linux's vm_event_states: summed
// on read, never folded). Interrupts masked for the __ forms.
inline void __count_zonestat_event(per_cpu_zonestat *pcz, zone_event_item item, unsigned long n) {
  WRITE_ONCE(pcz->vm_events[item], READ_ONCE(pcz->vm_events[item]) + n);
}
inline void __count_zone_vm_events(zone *z, zone_event_item item, unsigned long n) {
  __count_zonestat_event(this_cpu_zonestat(z), item, n);
}
inline void count_zone_vm_events(zone *z, zone_event_item item, unsigned long n) {
  unsigned long flags = local_irq_save();
  __count_zone_vm_events(z, item, n);
  local_irq_restore(flags);
}

// Folds this CPU's deltas of every zone and node of ms into the totals
// (each zone's under its lock, so that a checker holding the lock sees the
// sum still). Returns how many deltas were not 0.
int refresh_cpu_vm_stats(mem_system &ms);
// The same for another CPU that runs nothing meanwhile (Linux's
// cpu_vm_stats_fold for a CPU gone offline; tests use it for a thread that
// has ended).
int cpu_vm_stats_fold(mem_system &ms, unsigned cpu);

// ---- reads -------------------------------------------------------------------------

// What the per-CPU lists keep of a zone counter themselves (their pages,
// and their allocations less their frees).
inline long zone_page_state_pcp(const zone *z, zone_stat_item item) {
  long v = 0;
  if (item == NR_PCP_PAGES)
    for (const per_cpu_pages &pcp : z->pcp) v += READ_ONCE(pcp.count);
  else if (item == NR_ZONE_ALLOCATED)
    for (const per_cpu_pages &pcp : z->pcp)
      v += long(READ_ONCE(pcp.pgalloc) - READ_ONCE(pcp.pgfree));
  return v;
}

// Every CPU's delta of the item, summed.
inline long zone_page_state_diffs(const zone *z, zone_stat_item item) {
  long v = 0;
  for (const per_cpu_zonestat &pcz : z->per_cpu_zonestats)
    v += READ_ONCE(pcz.vm_stat_diff[item]);
  return v;
}

// The total (with the pagesets' own share), never below 0, as Linux reads it.
inline long zone_page_state(const zone *z, zone_stat_item item) {
  long v = READ_ONCE(z->vm_stat[item]) + zone_page_state_pcp(z, item);
  return v < 0 ? 0 : v;
}

// The total plus every CPU's delta, below 0 too: for the checker, to which
// a negative count is a bug to report rather than to hide.
inline long zone_page_state_sum(const zone *z, zone_stat_item item) {
  return READ_ONCE(z->vm_stat[item]) + zone_page_state_diffs(z, item) +
         zone_page_state_pcp(z, item);
}

// The total plus every CPU's delta: exact while the counter is still.
inline long zone_page_state_snapshot(const zone *z, zone_stat_item item) {
  long v = zone_page_state_sum(z, item);
  return v < 0 ? 0 : v;
}

inline unsigned long zone_events(const zone *z, zone_event_item item) {
  unsigned long v = 0;
  for (const per_cpu_zonestat &pcz : z->per_cpu_zonestats) v += READ_ONCE(pcz.vm_events[item]);
  if (item == PGALLOC)
    for (const per_cpu_pages &pcp : z->pcp) v += READ_ONCE(pcp.pgalloc);
  else if (item == PGFREE)
    for (const per_cpu_pages &pcp : z->pcp) v += READ_ONCE(pcp.pgfree);
  return v;
}

inline long node_page_state_snapshot(const pglist_data *pgdat, node_stat_item item) {
  long v = READ_ONCE(pgdat->vm_stat[item]);
  for (const per_cpu_nodestat &pcn : pgdat->per_cpu_nodestats)
    v += READ_ONCE(pcn.vm_node_stat_diff[item]);
  return v < 0 ? 0 : v;
}

// The totals summed over every node, never below 0 (Linux's).
inline unsigned long global_node_page_state(const mem_system &ms, node_stat_item item) {
  long v = 0;
  for_each_online_pgdat(ms, pgdat) v += READ_ONCE(pgdat->vm_stat[item]);
  return v < 0 ? 0 : static_cast<unsigned long>(v);
}

// The same with every CPU's deltas: what the reports print (exact at rest).
inline unsigned long global_node_page_state_snapshot(const mem_system &ms, node_stat_item item) {
  unsigned long v = 0;
  for_each_online_pgdat(ms, pgdat) v += static_cast<unsigned long>(node_page_state_snapshot(pgdat, item));
  return v;
}

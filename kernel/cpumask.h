// CPU numbers and sets of them. CPUs are numbered densely from 0 (the boot
// CPU) to nr_cpu_ids - 1; the arch maps them to its own ids (RISC-V hart
// ids, which may have holes and need not start at 0).
#pragma once

#include "kernel/types.h"

constexpr unsigned NR_CPUS = 8;  // a power of two: per-CPU indexes are masked with NR_CPUS - 1

// A set of CPUs, one bit each. Updates that race with other CPUs go through
// the atomic helpers; a copy is a snapshot.
struct cpumask {
  u64 bits = 0;
};
static_assert(NR_CPUS <= 64, "a cpumask is one word");

inline bool cpumask_test_cpu(unsigned cpu, const cpumask &m) {
  return cpu < NR_CPUS && (__atomic_load_n(&m.bits, __ATOMIC_ACQUIRE) >> cpu & 1);
}
inline void cpumask_set_cpu(unsigned cpu, cpumask &m) { __atomic_fetch_or(&m.bits, u64(1) << cpu, __ATOMIC_RELEASE); }
inline void cpumask_clear_cpu(unsigned cpu, cpumask &m) {
  __atomic_fetch_and(&m.bits, ~(u64(1) << cpu), __ATOMIC_RELEASE);
}
inline unsigned cpumask_weight(const cpumask &m) {
  return unsigned(__builtin_popcountll(__atomic_load_n(&m.bits, __ATOMIC_ACQUIRE)));
}
inline cpumask cpumask_snapshot(const cpumask &m) { return {__atomic_load_n(&m.bits, __ATOMIC_ACQUIRE)}; }

// Each CPU of the set, lowest first (the set is read bit by bit: a CPU
// added or removed meanwhile may or may not be seen).
#define for_each_cpu(cpu, mask) \
  for (unsigned cpu = 0; cpu < NR_CPUS; cpu++) \
    if (cpumask_test_cpu(cpu, mask))

// `bench vmalloc [pairs]`: vmalloc/vfree pairs of 1, 4 and 64 pages on every
// online CPU at once (Linux's test_vmalloc fix_size_alloc_test, per CPU),
// timed by the wall clock (ktime) and counted in TLB shootdowns.
//
// Not in instructions: under QEMU -icount with more than one hart an SBI
// remote fence sometimes never completes, and the shootdowns are what this
// measures. So the figures are pairs per second of wall-clock time, all
// CPUs together, and remote TLB flushes (nr_remote_tlb_flushes: flushes
// that reached other harts) per 1000 pairs. Each pair writes one byte of
// its area, so every area is really translated by the CPU that made it.
//
// The timed span ends with vm_unmap_aliases: the ranges a run leaves on
// the lazy purge list are flushed inside it, so a run is charged for every
// shootdown its pairs cause.
#include "kernel/bench_vmalloc.h"

#include "kernel/ktime.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "mm/vmalloc.h"

namespace {

constexpr unsigned VBENCH_SIZES[] = {1, 4, 64};  // pages

struct vbench_cpu {
  work_struct work;  // first: the work is the context
  unsigned long pairs, failures;
};

struct vbench_run {
  unsigned long pages;
  unsigned long pairs;  // per CPU
  int go;               // 0 until every CPU is ready to start
  unsigned ready;
};

vbench_run run;
vbench_cpu cpus[NR_CPUS];

void vbench_work(work_struct *w) {
  vbench_cpu &c = *reinterpret_cast<vbench_cpu *>(w);
  __atomic_fetch_add(&run.ready, 1u, __ATOMIC_ACQ_REL);
  while (!__atomic_load_n(&run.go, __ATOMIC_ACQUIRE)) cpu_relax();
  for (unsigned long i = 0; i < run.pairs; i++) {
    u8 *p = static_cast<u8 *>(vmalloc(*system_vmalloc, run.pages * PAGE_SIZE));
    if (!p) {
      c.failures++;
      continue;
    }
    WRITE_ONCE(p[0], u8(i));
    vfree(*system_vmalloc, p);
    c.pairs++;
  }
}

// One size on every online CPU. Returns 0, or 1 when an allocation failed.
int vbench_size(unsigned pages, unsigned long pairs) {
  const unsigned me = smp_processor_id(), n = num_online_cpus();
  run.pages = pages;
  run.pairs = pairs;
  __atomic_store_n(&run.ready, 0u, __ATOMIC_RELAXED);
  __atomic_store_n(&run.go, 0, __ATOMIC_RELEASE);
  for_each_cpu(cpu, cpu_online_mask) {
    cpus[cpu] = {{nullptr, vbench_work, WORK_IDLE}, 0, 0};
    if (cpu != me) queue_work_on(cpu, &cpus[cpu].work);
  }
  // The others spin until go: this CPU starts the clock once all are there.
  while (__atomic_load_n(&run.ready, __ATOMIC_ACQUIRE) != n - 1) cpu_relax();
  const unsigned long flushes = __atomic_load_n(&nr_remote_tlb_flushes, __ATOMIC_RELAXED);
  const u64 start = ktime_get_ns();
  __atomic_store_n(&run.go, 1, __ATOMIC_RELEASE);
  __atomic_fetch_add(&run.ready, 1u, __ATOMIC_ACQ_REL);
  vbench_work(&cpus[me].work);
  for_each_cpu(cpu, cpu_online_mask)
    if (cpu != me) flush_work(&cpus[cpu].work);
  vm_unmap_aliases(*system_vmalloc);
  const u64 ns = ktime_get_ns() - start;
  const unsigned long shootdowns = __atomic_load_n(&nr_remote_tlb_flushes, __ATOMIC_RELAXED) - flushes;
  unsigned long done = 0, failures = 0;
  for_each_cpu(cpu, cpu_online_mask) {
    done += cpus[cpu].pairs;
    failures += cpus[cpu].failures;
  }
  if (failures) {
    printk("  %3u pages: failed: %lu of the vmallocs returned nothing\n", pages, failures);
    return 1;
  }
  const u64 per_sec = ns ? done * 1'000'000'000ull / ns : 0;
  const u64 per_1000 = done ? (shootdowns * 10000 + done / 2) / done : 0;  // tenths
  printk("  %3u pages %8lu %10lu %8lu.%03lu %12lu.%lu\n", pages, done, static_cast<unsigned long>(per_sec),
         static_cast<unsigned long>(ns / 1'000'000'000), static_cast<unsigned long>(ns / 1'000'000 % 1000),
         static_cast<unsigned long>(per_1000 / 10), static_cast<unsigned long>(per_1000 % 10));
  return 0;
}

}  // namespace

int bench_vmalloc(unsigned long pairs) {
  if (!system_vmalloc) {
    printk("bench vmalloc: no vmalloc (system_vmalloc is not set up)\n");
    return 1;
  }
  printk("bench vmalloc: %lu vmalloc+vfree pairs per CPU on %u CPUs at once, wall clock (ktime)\n", pairs,
         num_online_cpus());
  printk("  %9s %8s %10s %12s %15s\n", "size", "pairs", "pairs/s", "seconds", "shootdowns/1000");
  int failed = 0;
  for (unsigned pages : VBENCH_SIZES) failed |= vbench_size(pages, pairs);
  return failed;
}

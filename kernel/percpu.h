// Per-CPU areas: what each CPU keeps for itself. tp points at the running
// CPU's area from its first instruction of C on (entry.S), and sscratch holds
// the same address so that a trap can restore tp (trap_entry.S).
//
// Invariants:
//   - cpu_areas[c].cpu == c, and smp_processor_id() reads that first word;
//   - only CPU c changes its own area's fields, except the queues (other CPUs
//     push onto them atomically) and csd[] (owned by the CPU that sends).
#pragma once

#include "kernel/cpumask.h"
#include "kernel/smp.h"
#include "kernel/types.h"

struct percpu_area {
  unsigned cpu;             // first: smp_processor_id() is *tp
  unsigned long hartid;     // the firmware's id for this CPU
  uintptr_t stack_top;      // stack + THREAD_SIZE; secondaries: entry.S takes their sp from here
  // The lowest address of this CPU's stack (kernel/thread_stack.h), with the
  // unmapped guard page below it; nullptr while CPU 0 still runs on
  // boot_stack. trap_entry.S compares sp against it on every trap.
  void *stack;
  // trap_entry.S's own, while it checks sp: the interrupted t0 and sp.
  unsigned long trap_t0, trap_sp;
  // Cross-calls and work for this CPU, pushed by any CPU (lock-free lists).
  call_single_data *call_queue;
  work_struct *work_queue;
  // This CPU's requests to each other CPU (Linux's per-CPU cfd): one
  // outstanding call per target, reused once the target is done.
  call_single_data csd[NR_CPUS];
  // Interrupt statistics (the monitor's `cpus`).
  unsigned long nr_ipis;
  unsigned long nr_timer_irqs;
  unsigned long ticks;        // timer ticks seen
  unsigned long ticks_done;   // ticks whose periodic work the idle loop ran
};
static_assert(__builtin_offsetof(percpu_area, stack_top) == 16, "entry.S hard-codes PERCPU_STACK_TOP");
static_assert(__builtin_offsetof(percpu_area, stack) == 24 && __builtin_offsetof(percpu_area, trap_t0) == 32 &&
                  __builtin_offsetof(percpu_area, trap_sp) == 40,
              "trap_entry.S hard-codes PERCPU_STACK, PERCPU_TRAP_T0 and PERCPU_TRAP_SP");
static_assert(sizeof(percpu_area) == 352 && __builtin_offsetof(percpu_area, hartid) == 8 && NR_CPUS == 8,
              "entry.S hard-codes PERCPU_AREA_SIZE, PERCPU_HARTID and NR_CPUS_ASM");

extern "C" percpu_area cpu_areas[NR_CPUS];  // entry.S points the boot hart's tp at [0]

inline percpu_area &this_cpu_area() { return cpu_areas[smp_processor_id() & (NR_CPUS - 1)]; }

// SMP: which CPUs run, and how one CPU gets others to do something.
//
//   cpu_possible_mask   CPUs the device tree describes (boot hart first), up
//                       to NR_CPUS; cpu_online_mask: those running the kernel
//   smp_call_function_* run a short function on other CPUs, from their IPI
//                       handler (interrupts masked); `wait` waits until done
//   queue_work_on       run a function on a CPU in process context (its idle
//                       loop), interrupts enabled; flush_work waits for it
//
// A CPU that waits for another (a cross-call with wait, flush_work) keeps
// running the requests sent to itself meanwhile, so two CPUs waiting on each
// other make progress even with interrupts masked.
#pragma once

#include "arch/arch.h"
#include "kernel/cpumask.h"
#include "kernel/types.h"

extern cpumask cpu_possible_mask;
extern cpumask cpu_online_mask;
extern unsigned nr_cpu_ids;  // possible CPUs: 0 .. nr_cpu_ids - 1

inline unsigned num_online_cpus() { return cpumask_weight(cpu_online_mask); }
inline bool cpu_online(unsigned cpu) { return cpumask_test_cpu(cpu, cpu_online_mask); }

using smp_call_func_t = void (*)(void *info);

struct call_single_data {
  call_single_data *next;
  smp_call_func_t func;
  void *info;
  unsigned locked;  // set by the sender, cleared by the target once func returned
};

// Runs func(info) on cpu (which may be this one: then directly). Returns 0,
// or -ENXIO for a CPU that is not online.
int smp_call_function_single(unsigned cpu, smp_call_func_t func, void *info, bool wait);
// Runs func(info) on every online CPU of mask except this one.
void smp_call_function_many(const cpumask &mask, smp_call_func_t func, void *info, bool wait);
// Runs func(info) on every online CPU, this one included (last, directly).
void on_each_cpu(smp_call_func_t func, void *info, bool wait);

struct work_struct {
  work_struct *next;
  void (*func)(work_struct *w);
  unsigned state;  // WORK_IDLE, WORK_PENDING (queued) or WORK_RUNNING
};
constexpr unsigned WORK_IDLE = 0, WORK_PENDING = 1, WORK_RUNNING = 2;

// Queues w on cpu. Returns false if w is already queued or running (nothing
// changes), or if cpu is not online.
bool queue_work_on(unsigned cpu, work_struct *w);
// Waits until w is neither queued nor running.
void flush_work(work_struct *w);

// ---- for the boot code, the idle loops and the arch ------------------------
// Numbers the CPUs: the boot hart is CPU 0, the device tree's other enabled
// harts follow in tree order. Fills cpu_possible_mask and cpu_areas.
void smp_setup_cpu_ids(unsigned long boot_hart);
// Starts every possible secondary CPU, each on a stack of its own from
// alloc_thread_stack_node (kernel/thread_stack.h), and waits for it to come
// online.
void smp_init();
// Moves CPU 0 off the static boot_stack onto a vmalloc'd stack like the
// others' (vmalloc must be up) and runs fn there, never to return. Without
// memory for it, says so and runs fn on boot_stack.
[[noreturn]] void switch_boot_cpu_stack(void (*fn)());
// What the IPI handler runs: this CPU's queued cross-calls.
void handle_IPI();
// Runs this CPU's queued work and its periodic work (each timer tick's):
// kswapd and kcompactd for the nodes whose first online CPU this is, and
// once a second drain_remote_node_pages and refresh_cpu_vm_stats.
void run_pending_work();
// While non-zero, the periodic work leaves reclaim, compaction and pagesets alone
// (ktest holds it around cases that count pages exactly).
extern int background_reclaim_held;
// The idle loop of a secondary CPU: work when there is some, wfi otherwise.
[[noreturn]] void cpu_idle_loop();
// Stops every other CPU (panic): they mask interrupts and halt.
void smp_send_stop();
bool cpu_stopping();

// The node of a CPU: its hart's numa-node-id in the device tree.
int cpu_to_node(unsigned cpu);

// Arch hooks (arch/riscv/smp.cpp).
void arch_send_ipi_mask(const cpumask &mask);
// Starts cpu at secondary_entry; returns 0 or a negative error.
int arch_cpu_start(unsigned cpu);
// Unmasks this CPU's IPIs and timer interrupts and starts its tick.
void arch_cpu_enable_interrupts();
// Waits for an interrupt (wfi); returns at once if one is pending.
void arch_cpu_idle();
// Calls fn with sp = top and an empty frame chain (entry.S); fn must not return.
extern "C" [[noreturn]] void arch_call_on_stack(uintptr_t top, void (*fn)());

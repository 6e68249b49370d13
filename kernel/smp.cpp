// SMP: numbering the CPUs, starting the secondaries, cross-calls, per-CPU
// work and the idle loop (kernel/smp.h).
//
// Cross-calls and work travel on lock-free singly linked lists, one per
// target CPU: a sender pushes with a compare-and-swap, the target takes the
// whole list with one swap and runs it oldest first. Nothing here allocates.
#include "kernel/smp.h"

#include "kernel/boot.h"
#include "kernel/errno.h"
#include "kernel/ktime.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/spinlock.h"
#include "kernel/thread_stack.h"
#include "mm/compaction.h"
#include "mm/page_alloc.h"
#include "mm/vmscan.h"

cpumask cpu_possible_mask;
cpumask cpu_online_mask;
unsigned nr_cpu_ids = 1;
percpu_area cpu_areas[NR_CPUS];

static bool stop_requested;

// ---- lock-free lists -----------------------------------------------------------

template <class T>
static void llist_push(T *&head, T *node) {
  T *old = __atomic_load_n(&head, __ATOMIC_RELAXED);
  do node->next = old;
  while (!__atomic_compare_exchange_n(&head, &old, node, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

// Takes every node, oldest first.
template <class T>
static T *llist_take_all(T *&head) {
  T *newest = __atomic_exchange_n(&head, nullptr, __ATOMIC_ACQUIRE);
  T *oldest = nullptr;
  while (newest) {
    T *next = newest->next;
    newest->next = oldest;
    oldest = newest;
    newest = next;
  }
  return oldest;
}

// ---- CPU numbering and bring-up ---------------------------------------------------

void smp_setup_cpu_ids(unsigned long boot_hart) {
  unsigned n = 1;
  cpu_areas[0].cpu = 0;
  cpu_areas[0].hartid = boot_hart;
  for (u32 i = 0; i < boot_params.nr_cpus; i++) {
    const boot_cpu &c = boot_params.cpus[i];
    if (!c.enabled || c.hartid == boot_hart) continue;
    if (n == NR_CPUS) {
      pr_warn("smp: hart %lu and any after it ignored: at most %u CPUs\n", c.hartid, NR_CPUS);
      break;
    }
    cpu_areas[n].cpu = n;
    cpu_areas[n].hartid = c.hartid;
    n++;
  }
  for (unsigned c = 0; c < n; c++) cpumask_set_cpu(c, cpu_possible_mask);
  nr_cpu_ids = n;
  cpumask_set_cpu(0, cpu_online_mask);
}

int cpu_to_node(unsigned cpu) {
  for (u32 i = 0; i < boot_params.nr_cpus; i++)
    if (boot_params.cpus[i].hartid == cpu_areas[cpu].hartid) return int(boot_params.cpus[i].nid);
  return 0;
}

constexpr u64 CPU_UP_TIMEOUT_NS = 2'000'000'000;

extern "C" void secondary_start_kernel(unsigned long hartid) {
  percpu_area &me = this_cpu_area();
  arch_cpu_enable_interrupts();
  cpumask_set_cpu(me.cpu, cpu_online_mask);
  pr_info("smp: CPU%u (hart %lu) is up\n", me.cpu, hartid);
  cpu_idle_loop();
}

// Records stack as cpu's (trap_entry.S checks sp against it from here on).
static void set_cpu_stack(unsigned cpu, void *stack) {
  percpu_area &a = cpu_areas[cpu];
  a.stack_top = stack ? reinterpret_cast<uintptr_t>(stack) + THREAD_SIZE : 0;
  __atomic_store_n(&a.stack, stack, __ATOMIC_RELEASE);
}

void switch_boot_cpu_stack(void (*fn)()) {
  void *stack = alloc_thread_stack_node(cpu_to_node(0));
  if (!stack) {
    pr_err("smp: no memory for CPU0's stack: it stays on boot_stack, where an overflow goes unnoticed\n");
    fn();
  } else {
    set_cpu_stack(0, stack);
    arch_call_on_stack(cpu_areas[0].stack_top, fn);
  }
  panic("smp: the boot CPU's work returned");
}

static unsigned nodes_with_memory() {
  unsigned n = 0;
  if (system_mem)
    for_each_online_pgdat(*system_mem, pgdat) n++;
  return n ? n : 1;
}

void smp_init() {
  arch_cpu_enable_interrupts();  // the boot CPU serves cross-calls from here on
  for (unsigned cpu = 1; cpu < nr_cpu_ids; cpu++) {
    percpu_area &a = cpu_areas[cpu];
    void *stack = alloc_thread_stack_node(cpu_to_node(cpu));
    if (!stack) {
      pr_err("smp: no memory for CPU%u's stack; leaving hart %lu stopped\n", cpu, a.hartid);
      continue;
    }
    set_cpu_stack(cpu, stack);
    int err = arch_cpu_start(cpu);
    if (err) {
      set_cpu_stack(cpu, nullptr);
      free_thread_stack(stack);  // the firmware refused: the hart never runs
    }
    u64 deadline = ktime_get_ns() + CPU_UP_TIMEOUT_NS;
    while (!err && !cpu_online(cpu) && ktime_get_ns() < deadline) cpu_relax();
    if (!err && !cpu_online(cpu)) err = -ETIMEDOUT;
    if (err) {
      // A hart that started but never came up may still get there later and
      // run on its stack: that one is kept rather than given back.
      pr_err("smp: CPU%u (hart %lu) failed to come up: error %d\n", cpu, a.hartid, err);
      cpumask_clear_cpu(cpu, cpu_possible_mask);
    }
  }
  unsigned nodes = nodes_with_memory(), cpus = num_online_cpus();
  pr_info("smp: Brought up %u node%s, %u CPU%s\n", nodes, nodes > 1 ? "s" : "", cpus, cpus > 1 ? "s" : "");
}

// ---- cross-calls --------------------------------------------------------------------

static void flush_call_queue() {
  percpu_area &me = this_cpu_area();
  for (call_single_data *csd = llist_take_all(me.call_queue), *next; csd; csd = next) {
    next = csd->next;  // read before the release: the sender may reuse csd at once
    csd->func(csd->info);
    __atomic_store_n(&csd->locked, 0u, __ATOMIC_RELEASE);
  }
}

void handle_IPI() {
  this_cpu_area().nr_ipis++;
  if (__atomic_load_n(&stop_requested, __ATOMIC_ACQUIRE)) {
    cpumask_clear_cpu(smp_processor_id(), cpu_online_mask);
    local_irq_save();
    for (;;) arch_cpu_idle();
  }
  flush_call_queue();
}

// Spins until *flag is 0, running what others send this CPU meanwhile.
static void wait_for_zero(const unsigned *flag) {
  while (__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
    flush_call_queue();
    cpu_relax();
  }
}

void smp_call_function_many(const cpumask &mask, smp_call_func_t func, void *info, bool wait) {
  const unsigned self = smp_processor_id();
  percpu_area &me = cpu_areas[self];
  cpumask targets;
  for_each_cpu(cpu, mask) {
    if (cpu == self || !cpu_online(cpu)) continue;
    call_single_data &csd = me.csd[cpu];
    wait_for_zero(&csd.locked);  // the previous call to this CPU is done
    csd.func = func;
    csd.info = info;
    csd.locked = 1;
    llist_push(cpu_areas[cpu].call_queue, &csd);
    cpumask_set_cpu(cpu, targets);
  }
  if (!targets.bits) return;
  arch_send_ipi_mask(targets);
  if (wait)
    for_each_cpu(cpu, targets) wait_for_zero(&me.csd[cpu].locked);
}

int smp_call_function_single(unsigned cpu, smp_call_func_t func, void *info, bool wait) {
  if (cpu == smp_processor_id()) {
    unsigned long flags = local_irq_save();  // as if from the IPI handler
    func(info);
    local_irq_restore(flags);
    return 0;
  }
  if (cpu >= NR_CPUS || !cpu_online(cpu)) return -ENXIO;
  cpumask one;
  cpumask_set_cpu(cpu, one);
  smp_call_function_many(one, func, info, wait);
  return 0;
}

void on_each_cpu(smp_call_func_t func, void *info, bool wait) {
  smp_call_function_many(cpu_online_mask, func, info, wait);
  smp_call_function_single(smp_processor_id(), func, info, wait);
}

// ---- stop_machine ---------------------------------------------------------------------

namespace {
struct stop_state {
  unsigned parked;   // harts in park_cpu, not yet gone
  unsigned release;  // set when fn is done
};
unsigned stopper_busy;  // one stopper at a time
}  // namespace

// The IPI handler's half: interrupts are masked, so this hart is outside
// every local_lock_irqsave section until the stopper releases it.
static void park_cpu(void *info) {
  stop_state *st = static_cast<stop_state *>(info);
  __atomic_add_fetch(&st->parked, 1, __ATOMIC_ACQ_REL);
  while (!__atomic_load_n(&st->release, __ATOMIC_ACQUIRE)) cpu_relax();
  __atomic_sub_fetch(&st->parked, 1, __ATOMIC_RELEASE);
}

// Basic algorithm: take the stopper's flag (spinning with the call queue
// served, so that another stopper can park this hart meanwhile); send every
// other online hart park_cpu without waiting; wait until all are parked;
// run fn; release them and wait until they have left st, which lives on
// this stack.
void riscv_stop_machine(void (*fn)(void *), void *info) {
  unsigned long flags = local_irq_save();
  while (__atomic_exchange_n(&stopper_busy, 1u, __ATOMIC_ACQUIRE)) {
    flush_call_queue();
    cpu_relax();
  }
  stop_state st = {0, 0};
  cpumask others = cpumask_snapshot(cpu_online_mask);
  cpumask_clear_cpu(smp_processor_id(), others);
  unsigned n = cpumask_weight(others);
  if (n) smp_call_function_many(others, park_cpu, &st, false);
  while (__atomic_load_n(&st.parked, __ATOMIC_ACQUIRE) < n) {
    flush_call_queue();
    cpu_relax();
  }
  fn(info);
  __atomic_store_n(&st.release, 1u, __ATOMIC_RELEASE);
  const unsigned self = smp_processor_id();
  for_each_cpu(cpu, others) wait_for_zero(&cpu_areas[self].csd[cpu].locked);
  __atomic_store_n(&stopper_busy, 0u, __ATOMIC_RELEASE);
  local_irq_restore(flags);
}

void smp_send_stop() {
  __atomic_store_n(&stop_requested, true, __ATOMIC_RELEASE);
  cpumask others = cpumask_snapshot(cpu_online_mask);
  cpumask_clear_cpu(smp_processor_id(), others);
  if (others.bits) arch_send_ipi_mask(others);
}

bool cpu_stopping() { return __atomic_load_n(&stop_requested, __ATOMIC_ACQUIRE); }

// ---- work -----------------------------------------------------------------------------

bool queue_work_on(unsigned cpu, work_struct *w) {
  if (cpu >= NR_CPUS || !cpu_online(cpu)) return false;
  unsigned idle = WORK_IDLE;
  if (!__atomic_compare_exchange_n(&w->state, &idle, WORK_PENDING, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
    return false;
  llist_push(cpu_areas[cpu].work_queue, w);
  if (cpu != smp_processor_id()) {
    cpumask one;
    cpumask_set_cpu(cpu, one);
    arch_send_ipi_mask(one);  // wakes it from wfi
  }
  return true;
}

void flush_work(work_struct *w) {
  while (__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) != WORK_IDLE) {
    run_pending_work();  // w may be queued on this very CPU
    flush_call_queue();
    cpu_relax();
  }
}

int background_reclaim_held;

// Each node's kswapd runs on the node's first online CPU, as Linux binds
// kswapd to its node's CPUs; a node without CPUs is balanced by CPU 0.
static bool runs_kswapd_of(const mem_system &ms, unsigned cpu, int nid) {
  for_each_cpu(c, cpu_online_mask)
    if (ms.cpu_to_node[c] == nid) return c == cpu;
  return cpu == 0;
}

// What each CPU does once per tick: kswapd's balancing of the nodes it
// serves, then their kcompactd (after kswapd, which is what wakes it, as
// Linux's kswapd wakes kcompactd once a node is balanced; and the same CPU,
// as Linux binds both threads to the node's CPUs); once a second, its
// per-CPU pages of other nodes go home. ktest holds all of it off while a
// case runs (background_reclaim_held): cases count pages exactly. Not the
// once-a-second fold of this CPU's counter deltas (Linux's vmstat_update):
// it moves counts from a CPU's delta into the total and changes none.
static void periodic_work(unsigned long ticks) {
  static unsigned long last_drain[NR_CPUS], last_fold[NR_CPUS];
  if (!system_mem) return;
  const unsigned cpu = smp_processor_id();
  if (ticks - last_fold[cpu] >= HZ) {
    last_fold[cpu] = ticks;
    refresh_cpu_vm_stats(*system_mem);
  }
  if (__atomic_load_n(&background_reclaim_held, __ATOMIC_ACQUIRE)) return;
  for_each_online_pgdat(*system_mem, pgdat) {
    if (!runs_kswapd_of(*system_mem, cpu, pgdat->node_id)) continue;
    kswapd_run_node(*system_mem, pgdat);
    kcompactd_run_node(*system_mem, pgdat, ktime_get_ms());
  }
  if (ticks - last_drain[cpu] >= HZ) {
    last_drain[cpu] = ticks;
    drain_remote_node_pages(*system_mem);
  }
}

void run_pending_work() {
  percpu_area &me = this_cpu_area();
  for (work_struct *w = llist_take_all(me.work_queue), *next; w; w = next) {
    next = w->next;
    __atomic_store_n(&w->state, WORK_RUNNING, __ATOMIC_RELAXED);
    w->func(w);
    __atomic_store_n(&w->state, WORK_IDLE, __ATOMIC_RELEASE);
  }
  unsigned long ticks = __atomic_load_n(&me.ticks, __ATOMIC_RELAXED);
  if (ticks != me.ticks_done) {
    me.ticks_done = ticks;
    periodic_work(ticks);
  }
}

static bool work_waiting(const percpu_area &me) {
  return __atomic_load_n(&me.work_queue, __ATOMIC_RELAXED) || __atomic_load_n(&me.ticks, __ATOMIC_RELAXED) != me.ticks_done;
}

void cpu_idle_loop() {
  percpu_area &me = this_cpu_area();
  for (;;) {
    run_pending_work();
    // Interrupts masked between the check and wfi, so that work queued in
    // between is not slept through: a pending interrupt ends wfi even
    // masked, and is taken once they are unmasked.
    unsigned long flags = local_irq_save();
    if (!work_waiting(me)) arch_cpu_idle();
    local_irq_restore(flags);
  }
}

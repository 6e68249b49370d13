// Simulated CPUs' side of stop_machine (see arch/host/include/asm/arch.h).
//
// Basic algorithm of stop_machine on the host:
//  1. one stopper at a time (a mutex: stoppers are threads that may sleep);
//  2. mark every other CPU held;
//  3. membarrier: every running thread of this process passes a full
//     barrier, so a CPU that entered a section before step 2 has its busy
//     count visible now, and one that enters after will see held;
//  4. wait until no other CPU is busy: each is now outside its sections and
//     waits in local_lock_wait if it tries to enter one;
//  5. run fn, then release them.
// Without membarrier (an old or sandboxed host kernel) every entry fences
// instead: slower, equally correct.
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <mutex>

#include "arch/arch.h"

namespace host {
cpu_hold cpu_holds[HOST_NR_CPUS];
bool local_lock_needs_fence;
}  // namespace host

static std::mutex stopper;
static bool membarrier_ready;

static long membarrier(int cmd) { return syscall(__NR_membarrier, cmd, 0u, 0); }

// Called before any simulated CPU runs (arch/host/physmem.cpp reserves the
// window with it), so that no entry misses the decision.
void host_cpu_setup() {
  static bool done;
  if (done) return;
  done = true;
  membarrier_ready = membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
  host::local_lock_needs_fence = !membarrier_ready;
}

void host::local_lock_wait(cpu_hold &h) {
  for (;;) {
    __atomic_store_n(&h.busy, __atomic_load_n(&h.busy, __ATOMIC_RELAXED) - 1, __ATOMIC_RELEASE);
    for (unsigned spins = 0; __atomic_load_n(&h.held, __ATOMIC_ACQUIRE); spins++)
      if (spins > 64) sched_yield();
    __atomic_store_n(&h.busy, __atomic_load_n(&h.busy, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
    full_fence();  // the slow path can afford it
    if (!__atomic_load_n(&h.held, __ATOMIC_ACQUIRE)) return;
  }
}

void host::stop_machine(void (*fn)(void *), void *info) {
  std::lock_guard<std::mutex> g(stopper);
  const unsigned self = current_cpu & (HOST_NR_CPUS - 1);
  for (unsigned c = 0; c < HOST_NR_CPUS; c++)
    if (c != self) __atomic_store_n(&cpu_holds[c].held, 1u, __ATOMIC_SEQ_CST);
  if (membarrier_ready) membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
  for (unsigned c = 0; c < HOST_NR_CPUS; c++) {
    if (c == self) continue;
    // A busy CPU's thread may be descheduled mid-section: yield to it.
    for (unsigned spins = 0; __atomic_load_n(&cpu_holds[c].busy, __ATOMIC_ACQUIRE); spins++)
      if (spins > 64) sched_yield();
  }
  fn(info);
  for (unsigned c = 0; c < HOST_NR_CPUS; c++)
    if (c != self) __atomic_store_n(&cpu_holds[c].held, 0u, __ATOMIC_RELEASE);
}
#include "kernel/cpumask.h"
static_assert(host::HOST_NR_CPUS == NR_CPUS, "arch/host keeps its own copy of NR_CPUS");

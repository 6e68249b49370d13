// The out-of-line parts of kernel/spinlock.h: spin_bug's report, and the
// timed wait of CONFIG_LOCK_STAT.
#include "kernel/spinlock.h"

#include "kernel/printk.h"

#ifdef MM_HOST
#include <time.h>

#include <cstdio>
#include <cstdlib>
#else
#include "kernel/panic.h"
#endif

#ifdef CONFIG_DEBUG_SPINLOCK

static const char *spin_bug_msg(spin_bug_kind kind) {
  switch (kind) {
    case spin_bug_kind::recursion: return "recursion";
    case spin_bug_kind::already_unlocked: return "already unlocked";
    case spin_bug_kind::wrong_cpu: return "wrong CPU";
  }
  return "?";
}

#ifdef MM_HOST
static void spin_bug_abort(const spin_bug_report &r) {
  fputs(r.text, stderr);
  abort();
}

static spin_bug_hook_t spin_bug_hook = spin_bug_abort;

spin_bug_hook_t set_spin_bug_hook(spin_bug_hook_t hook) {
  return __atomic_exchange_n(&spin_bug_hook, hook ? hook : spin_bug_abort, __ATOMIC_ACQ_REL);
}
#endif

// Linux's words ("BUG: spinlock %s on CPU#%d"); with no tasks here, the
// owner is a CPU.
void spin_bug(spinlock_t *lock, spin_bug_kind kind) {
  int cpu = int(smp_processor_id());
  int owner = int(READ_ONCE(lock->owner_cpu1) - 1);
  char text[160];
  scnprintf(text, sizeof(text), "BUG: spinlock %s on CPU#%d\n lock: %p, .owner_cpu: %d\n", spin_bug_msg(kind), cpu,
            static_cast<void *>(lock), owner);
#ifdef MM_HOST
  __atomic_load_n(&spin_bug_hook, __ATOMIC_ACQUIRE)({lock, kind, cpu, owner, text});
#else
  pr_emerg("%s", text);
  // Spinning on it would hang this CPU silently: stop with a report instead.
  if (kind == spin_bug_kind::recursion) panic("spinlock recursion on CPU#%d", cpu);
  dump_stack();
#endif
}

#endif  // CONFIG_DEBUG_SPINLOCK

#ifdef CONFIG_LOCK_STAT

u64 lock_stat_clock() {
#if defined(__x86_64__)
  return __builtin_ia32_rdtsc();
#else
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return u64(ts.tv_sec) * 1000000000u + u64(ts.tv_nsec);
#endif
}

void spin_lock_contended(spinlock_t *l, u32 ticket) {
  u64 start = lock_stat_clock();
  do cpu_relax();
  while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != ticket);
  u64 waited = lock_stat_clock() - start;
  // The lock is ours now, and with it its statistics.
  l->stats.contentions++;
  l->stats.waittime_total += waited;
  if (waited > l->stats.waittime_max) l->stats.waittime_max = waited;
}

#endif  // CONFIG_LOCK_STAT

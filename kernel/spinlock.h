// Spinlocks: ticket locks (spinlock_t), so that waiters are served in arrival
// order, and test-and-set locks (tas_spinlock_t), cheaper to take but unfair,
// for locks that are almost never contended. Built on the compiler's __atomic
// builtins, which work on both targets; the host's "CPUs" are threads.
//
// The _irqsave variants also mask this CPU's interrupts, for data that an
// interrupt handler may touch. RAII guards release on every return path.
//
// ---- Lock ordering ------------------------------------------------------------
// Outermost first. A CPU holding a lock of this list may take only locks
// below it, never one above; locks of one kind are taken in the order given.
//
//   vmalloc_system::lock          the vmap areas (mm/vmalloc.cpp). Nothing is
//                                 allocated under it: vmap_area nodes are
//                                 kmalloc'ed before it is taken and kfree'd
//                                 after it is dropped. /proc/vmallocinfo and
//                                 the checker take pt_lock inside it.
//   vmalloc_system::pt_lock       the vmalloc part of the kernel page table.
//                                 Page-table pages are allocated with it held
//                                 (GFP_KERNEL, so possibly direct reclaim):
//                                 everything below may be taken inside it.
//                                 Unmapped frames and tables are freed, and
//                                 the TLBs flushed, after it is dropped.
//   mem_system::shrinker_lock     held while reclaim calls the shrinkers
//                                 (mm/vmscan.cpp), so the slab shrinker's
//                                 locks nest inside it.
//   slab_allocator::slab_mutex    the cache list; the shrinker and the
//                                 slabinfo/checker walks shrink or read
//                                 caches with it held.
//   stop_machine                  (arch.h) holds every other CPU outside its
//                                 local_lock_irqsave sections; called with
//                                 at most slab_mutex held, never inside a
//                                 section or a list_lock.
//   local_lock_irqsave            a CPU's own slabs (not a lock: interrupts
//                                 masked). Inside it: list_lock, and empty
//                                 slabs go back to the page allocator (pcp,
//                                 zone); never held while a new slab is
//                                 allocated (reclaim may stop the machine).
//   kmem_cache_node::list_lock    a node's slab lists; nodes in node order.
//                                 A leaf: surplus slabs are discarded after
//                                 it is dropped, and nothing is allocated
//                                 under it.
//   per_cpu_pages::lock           a CPU's page lists (tas); several only in
//                                 CPU order (drains, the checker).
//   zone::lock                    the buddy lists; taken inside a pcp lock to
//                                 refill or drain it. A leaf of mm/.
//   printk_lock                   the log and the consoles (kernel/printk.cpp),
//                                 innermost of all: reports are printed with
//                                 any of the above held. The CPU holding it
//                                 re-enters without taking it (nested printk).
//
// Cross-calls (kernel/smp.cpp) take no lock: a CPU waiting for another runs
// the calls sent to itself meanwhile, so waiting with any lock held cannot
// deadlock on a CPU that waits for this one.
//
// A lock held across an allocation that may reclaim (GFP_KERNEL) must sit
// above shrinker_lock, since reclaim takes it and what the shrinkers take:
// today pt_lock is the only one.
//
// ---- CONFIG_DEBUG_SPINLOCK ---------------------------------------------------------
// (set by the meson option debug_spinlock, on by default for the kernel and
// the host tests). A spinlock_t records the CPU that holds it, and
//   - taking a lock this CPU already holds (a certain deadlock) is reported
//     as "BUG: spinlock recursion on CPU#N";
//   - releasing a lock that is free, or that another CPU holds, is reported
//     as "BUG: spinlock already unlocked on CPU#N" / "BUG: spinlock wrong CPU
//     on CPU#N", and the lock is left as it was (a refused release never
//     frees another CPU's lock).
// Each report names the lock's address and its owner CPU and goes through
// spin_bug(): the kernel prints it (pr_emerg) and panics on recursion; the
// host calls a hook (set_spin_bug_hook) that tests replace to record
// reports. When such a hook returns from a recursion report, spin_lock
// returns without taking the lock: the caller still holds it once, and the
// lock is unchanged. A trylock is never a recursion (it fails, as it would
// against any holder).
//
// tas_spinlock_t is not checked: its lock and unlock are the per-CPU page
// lists' fast path, whose instruction count is the allocator's headline
// figure (docs/benchmarks.md), and its critical sections are short and local.
//
// ---- CONFIG_LOCK_STAT ----------------------------------------------------------------
// (host benchmarks only, bench/meson.build). Every spinlock_t counts its
// acquisitions and contended acquisitions and the time spent waiting
// (Linux's lock_stat, per lock instead of per class). Off, it costs nothing.
#pragma once

#include "arch/arch.h"
#include "kernel/types.h"

#if defined(CONFIG_LOCK_STAT) && !defined(MM_HOST)
#error "CONFIG_LOCK_STAT is for host benchmarks: the kernel has no clock for it yet"
#endif

#ifdef CONFIG_LOCK_STAT
// Updated by the lock's holder only, so plain counters suffice.
struct lock_stats {
  unsigned long acquisitions;  // every successful lock or trylock
  unsigned long contentions;   // lock calls that found the lock taken
  u64 waittime_total;          // lock_stat_clock() ticks spent waiting
  u64 waittime_max;
};
// The clock waits are timed with: the TSC on x86-64 hosts (cheap enough not
// to lengthen the critical section it ends), else a monotonic clock in ns.
u64 lock_stat_clock();
#endif

struct spinlock_t {
  u32 next = 0;   // the next ticket to hand out
  u32 owner = 0;  // the ticket being served
#ifdef CONFIG_DEBUG_SPINLOCK
  // The holder's CPU + 1; 0 while free, so that zeroed memory is a free
  // lock. 64 bits, so that no CPU number wraps to "free". Written by the
  // holder only.
  u64 owner_cpu1 = 0;
#endif
#ifdef CONFIG_LOCK_STAT
  lock_stats stats{};
#endif
};

inline bool spin_is_locked(const spinlock_t *l) {
  return __atomic_load_n(&l->next, __ATOMIC_RELAXED) != __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
}

// ---- debug checks (empty unless CONFIG_DEBUG_SPINLOCK) ----------------------------

#ifdef CONFIG_DEBUG_SPINLOCK
enum class spin_bug_kind : u8 { recursion, already_unlocked, wrong_cpu };

// Reports a misuse of lock by this CPU (see the top of this file). Returns
// only where the report is survivable: never for recursion in the kernel.
__attribute__((cold, noinline)) void spin_bug(spinlock_t *lock, spin_bug_kind kind);

#ifdef MM_HOST
struct spin_bug_report {
  const void *lock;
  spin_bug_kind kind;
  int cpu;           // the CPU that misused the lock
  int owner_cpu;     // the lock's holder then (-1: none)
  const char *text;  // the report as the kernel prints it, lines ending in '\n'
};
using spin_bug_hook_t = void (*)(const spin_bug_report &);
// Installs hook (nullptr: the default, which prints to stderr and aborts)
// and returns the previous one.
spin_bug_hook_t set_spin_bug_hook(spin_bug_hook_t hook);
#endif

// Only this CPU ever stores its own number in owner_cpu1, and it clears it
// before releasing: finding its number there means it holds the lock, and
// one load and compare per call is the whole cost of the checks.
inline u64 debug_spin_owner_value() { return u64(smp_processor_id()) + 1; }
inline bool debug_spin_lock_before(spinlock_t *l) {
  if (unlikely(READ_ONCE(l->owner_cpu1) == debug_spin_owner_value())) {
    spin_bug(l, spin_bug_kind::recursion);
    return false;
  }
  return true;
}
inline void debug_spin_lock_after(spinlock_t *l) { WRITE_ONCE(l->owner_cpu1, debug_spin_owner_value()); }
inline bool debug_spin_unlock(spinlock_t *l) {
  if (unlikely(READ_ONCE(l->owner_cpu1) != debug_spin_owner_value())) {
    // Held by a CPU that may not have stored its number yet, or free.
    spin_bug(l, spin_is_locked(l) ? spin_bug_kind::wrong_cpu : spin_bug_kind::already_unlocked);
    return false;
  }
  WRITE_ONCE(l->owner_cpu1, 0);
  return true;
}
#else
inline bool debug_spin_lock_before(spinlock_t *) { return true; }
inline void debug_spin_lock_after(spinlock_t *) {}
inline bool debug_spin_unlock(spinlock_t *) { return true; }
#endif

// ---- statistics (empty unless CONFIG_LOCK_STAT) ---------------------------------

#ifdef CONFIG_LOCK_STAT
// Waits for `ticket`, timing the wait; the lock's holder then records it.
void spin_lock_contended(spinlock_t *l, u32 ticket);
inline void lock_acquired(spinlock_t *l) { l->stats.acquisitions++; }
#else
inline void spin_lock_contended(spinlock_t *l, u32 ticket) {
  do cpu_relax();
  while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != ticket);
}
inline void lock_acquired(spinlock_t *) {}
#endif

// ---- spinlock_t --------------------------------------------------------------------

inline void spin_lock_init(spinlock_t *l) { *l = spinlock_t{}; }

inline void spin_lock(spinlock_t *l) {
  if (unlikely(!debug_spin_lock_before(l))) return;
  u32 ticket = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
  if (unlikely(__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != ticket)) spin_lock_contended(l, ticket);
  lock_acquired(l);
  debug_spin_lock_after(l);
}

// Takes the lock only if nobody holds or waits for it. Returns true if taken;
// a failed attempt leaves the lock untouched (it takes no ticket).
inline bool spin_trylock(spinlock_t *l) {
  // Acquire: this load, not the exchange on next, is what reads the last
  // holder's release, so it orders the critical section after that one.
  u32 owner = __atomic_load_n(&l->owner, __ATOMIC_ACQUIRE);
  u32 expected = owner;
  if (!__atomic_compare_exchange_n(&l->next, &expected, owner + 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
    return false;
  lock_acquired(l);
  debug_spin_lock_after(l);
  return true;
}

inline void spin_unlock(spinlock_t *l) {
  if (unlikely(!debug_spin_unlock(l))) return;
  __atomic_store_n(&l->owner, l->owner + 1, __ATOMIC_RELEASE);
}

// ---- tas_spinlock_t -----------------------------------------------------------------

// A test-and-set lock: taking a free one is a single atomic swap, releasing it
// a single store. Waiters are not served in order, so use it only where
// contention is rare: a CPU's own per-CPU page lists, which other CPUs touch
// only to drain them.
struct tas_spinlock_t {
  int locked = 0;
};

inline void spin_lock_init(tas_spinlock_t *l) { l->locked = 0; }

inline bool spin_trylock(tas_spinlock_t *l) {
#ifdef __riscv
  // The builtin's result is sign-extended again (sext.w) before the test,
  // though amoswap.w has done it: one instruction on each per-CPU fast path.
  long old;
  asm volatile("amoswap.w.aq %0, %2, %1" : "=r"(old), "+A"(l->locked) : "r"(1) : "memory");
  return old == 0;
#else
  return __atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE) == 0;
#endif
}

inline void spin_lock(tas_spinlock_t *l) {
  // Spin on a plain load, so that waiting does not keep the line busy with swaps.
  while (!spin_trylock(l))
    while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED)) cpu_relax();
}

inline void spin_unlock(tas_spinlock_t *l) {
#ifdef __riscv
  // A release-ordered swap is a release store on RISC-V (RVWMO): one
  // instruction where the builtin gives a fence and a swap.
  asm volatile("amoswap.w.rl zero, zero, %0" : "+A"(l->locked) : : "memory");
#else
  __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
#endif
}

inline bool spin_is_locked(const tas_spinlock_t *l) { return __atomic_load_n(&l->locked, __ATOMIC_RELAXED) != 0; }

// ---- both kinds ------------------------------------------------------------------------

template <class Lock>
inline unsigned long spin_lock_irqsave(Lock *l) {
  unsigned long flags = local_irq_save();
  spin_lock(l);
  return flags;
}

template <class Lock>
inline void spin_unlock_irqrestore(Lock *l, unsigned long flags) {
  spin_unlock(l);
  local_irq_restore(flags);
}

// Holds l for the guard's lifetime.
template <class Lock>
class spin_lock_guard {
 public:
  explicit spin_lock_guard(Lock &l) : lock_(l) { spin_lock(&lock_); }
  ~spin_lock_guard() { spin_unlock(&lock_); }
  spin_lock_guard(const spin_lock_guard &) = delete;
  spin_lock_guard &operator=(const spin_lock_guard &) = delete;

 private:
  Lock &lock_;
};

// Holds l with this CPU's interrupts masked for the guard's lifetime.
template <class Lock>
class spin_lock_irqsave_guard {
 public:
  explicit spin_lock_irqsave_guard(Lock &l) : lock_(l), flags_(spin_lock_irqsave(&l)) {}
  ~spin_lock_irqsave_guard() { spin_unlock_irqrestore(&lock_, flags_); }
  spin_lock_irqsave_guard(const spin_lock_irqsave_guard &) = delete;
  spin_lock_irqsave_guard &operator=(const spin_lock_irqsave_guard &) = delete;

 private:
  Lock &lock_;
  unsigned long flags_;
};

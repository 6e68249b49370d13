// Spinlocks: ticket locks (spinlock_t), so that waiters are served in arrival
// order, and test-and-set locks (tas_spinlock_t), cheaper to take but unfair,
// for locks that are almost never contended. Built on the compiler's __atomic
// builtins, which work on both targets; the host's "CPUs" are threads.
//
// Lock order, outermost first (take them in this order, never the reverse):
//   mem_system::shrinker_lock   (reclaim calls shrinkers with it held)
//   per_cpu_pages::lock         (all of them in CPU order, when several)
//   zone::lock                  (taken inside a pcp lock to refill or drain)
//
// The _irqsave variants also mask this CPU's interrupts, for data that an
// interrupt handler may touch. RAII guards release on every return path.
#pragma once

#include "arch/arch.h"
#include "kernel/types.h"

struct spinlock_t {
  u32 next = 0;   // the next ticket to hand out
  u32 owner = 0;  // the ticket being served
};

inline void spin_lock_init(spinlock_t *l) {
  l->next = 0;
  l->owner = 0;
}

inline void spin_lock(spinlock_t *l) {
  u32 ticket = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
  while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != ticket) cpu_relax();
}

// Takes the lock only if nobody holds or waits for it. Returns true if taken.
inline bool spin_trylock(spinlock_t *l) {
  u32 owner = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
  u32 expected = owner;
  return __atomic_compare_exchange_n(&l->next, &expected, owner + 1, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED);
}

inline void spin_unlock(spinlock_t *l) {
  __atomic_store_n(&l->owner, l->owner + 1, __ATOMIC_RELEASE);
}

inline bool spin_is_locked(const spinlock_t *l) {
  return __atomic_load_n(&l->next, __ATOMIC_RELAXED) != __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
}

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

// A test-and-set lock: taking a free one is a single atomic swap, releasing it
// a single store. Waiters are not served in order, so use it only where
// contention is rare: a CPU's own per-CPU page lists, which other CPUs touch
// only to drain them.
struct tas_spinlock_t {
  int locked = 0;
};

inline void spin_lock_init(tas_spinlock_t *l) { l->locked = 0; }

inline bool spin_trylock(tas_spinlock_t *l) {
  return __atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE) == 0;
}

inline void spin_lock(tas_spinlock_t *l) {
  // Spin on a plain load, so that waiting does not keep the line busy with swaps.
  while (!spin_trylock(l))
    while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED)) cpu_relax();
}

inline void spin_unlock(tas_spinlock_t *l) { __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE); }

inline bool spin_is_locked(const tas_spinlock_t *l) { return __atomic_load_n(&l->locked, __ATOMIC_RELAXED) != 0; }

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

// Spinlocks (kernel/spinlock.h): ticket order, mutual exclusion, trylock,
// the guards, and CONFIG_DEBUG_SPINLOCK's reports. Threads are CPUs
// (host_set_cpu); waiting for another thread is a yield loop on what it
// visibly did, never a sleep or a timeout, and nothing asserts how the
// threads were scheduled.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "arch/host/physmem.h"
#include "kernel/spinlock.h"

namespace {

struct cpu_reset {
  ~cpu_reset() { host_set_cpu(0); }
};

u32 next_of(const spinlock_t &l) { return __atomic_load_n(&l.next, __ATOMIC_ACQUIRE); }
u32 owner_of(const spinlock_t &l) { return __atomic_load_n(&l.owner, __ATOMIC_ACQUIRE); }

// Yields until cond() holds: only ever waits for another thread's progress.
template <class Cond>
void wait_until(Cond cond) {
  while (!cond()) std::this_thread::yield();
}

// ================================================================ ticket order

// Waiters on a ticket lock acquire it in the order they arrived (took their
// ticket), whichever CPUs they are: every arrival order of three CPUs.
TEST(SpinlockTicket, ServesWaitersInArrivalOrder) {
  cpu_reset reset;
  std::vector<unsigned> arrival = {1, 2, 3};
  do {
    SCOPED_TRACE(::testing::PrintToString(arrival));
    spinlock_t l;
    spin_lock_init(&l);
    std::vector<unsigned> served;  // written under l
    host_set_cpu(0);
    spin_lock(&l);
    std::vector<std::thread> waiters;
    for (unsigned cpu : arrival) {
      u32 tickets = next_of(l);
      waiters.emplace_back([&l, &served, cpu] {
        host_set_cpu(cpu);
        spin_lock(&l);
        served.push_back(cpu);
        spin_unlock(&l);
      });
      // Arrival is taking a ticket: the next waiter starts only after it.
      wait_until([&] { return next_of(l) == tickets + 1; });
    }
    spin_unlock(&l);
    for (std::thread &t : waiters) t.join();
    EXPECT_EQ(served, arrival);
    EXPECT_FALSE(spin_is_locked(&l));
    EXPECT_EQ(next_of(l), u32(arrival.size() + 1));
  } while (std::next_permutation(arrival.begin(), arrival.end()));
}

// ================================================================ mutual exclusion

// A plain counter incremented under the lock by several CPUs loses no
// increment, and no two CPUs are ever inside at once. Lock is taken through
// each entry point in turn (lock, trylock loop, both guards).
template <class Lock>
void expect_mutual_exclusion(unsigned cpus, unsigned rounds) {
  cpu_reset reset;
  Lock l;
  spin_lock_init(&l);
  unsigned long counter = 0;  // plain: only the lock protects it
  std::atomic<int> inside{0}, overlaps{0};
  auto critical = [&] {
    if (inside.fetch_add(1) != 0) overlaps++;
    counter++;
    inside.fetch_sub(1);
  };
  auto worker = [&](unsigned cpu) {
    host_set_cpu(cpu);
    for (unsigned i = 0; i < rounds; i++) {
      switch (i % 4) {
        case 0:
          spin_lock(&l);
          critical();
          spin_unlock(&l);
          break;
        case 1:
          while (!spin_trylock(&l)) cpu_relax();
          critical();
          spin_unlock(&l);
          break;
        case 2: {
          spin_lock_guard g(l);
          critical();
          break;
        }
        default: {
          spin_lock_irqsave_guard g(l);
          critical();
          break;
        }
      }
    }
  };
  std::vector<std::thread> threads;
  host_release_cpu();  // the workers are CPUs 0..cpus-1
  for (unsigned c = 0; c < cpus; c++) threads.emplace_back(worker, c);
  for (std::thread &t : threads) t.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(counter, static_cast<unsigned long>(cpus) * rounds);
  EXPECT_FALSE(spin_is_locked(&l));
}

TEST(SpinlockTicket, MutualExclusion) { expect_mutual_exclusion<spinlock_t>(3, 4000); }
TEST(SpinlockTas, MutualExclusion) { expect_mutual_exclusion<tas_spinlock_t>(3, 4000); }

// ================================================================ trylock

// A trylock succeeds only on a free lock, and a failed one takes no ticket:
// not while the lock is held, nor while a waiter is queued behind the holder.
TEST(SpinlockTicket, TrylockTakesOnlyAFreeLock) {
  cpu_reset reset;
  spinlock_t l;
  spin_lock_init(&l);
  host_set_cpu(0);
  ASSERT_TRUE(spin_trylock(&l));
  EXPECT_TRUE(spin_is_locked(&l));
  host_set_cpu(1);
  EXPECT_FALSE(spin_trylock(&l));
  EXPECT_EQ(next_of(l), 1u);
  EXPECT_EQ(owner_of(l), 0u);

  std::atomic<bool> waiter_done{false};
  std::thread waiter([&] {
    host_set_cpu(2);
    spin_lock(&l);
    spin_unlock(&l);
    waiter_done = true;
  });
  wait_until([&] { return next_of(l) == 2; });
  host_set_cpu(1);
  EXPECT_FALSE(spin_trylock(&l));
  EXPECT_EQ(next_of(l), 2u) << "a failed trylock took a ticket";
  host_set_cpu(0);
  spin_unlock(&l);
  waiter.join();
  EXPECT_TRUE(waiter_done.load());
  EXPECT_FALSE(spin_is_locked(&l));
  host_set_cpu(1);
  EXPECT_TRUE(spin_trylock(&l));
  spin_unlock(&l);
  EXPECT_FALSE(spin_is_locked(&l));
}

TEST(SpinlockTas, TrylockTakesOnlyAFreeLock) {
  tas_spinlock_t l;
  spin_lock_init(&l);
  ASSERT_TRUE(spin_trylock(&l));
  EXPECT_TRUE(spin_is_locked(&l));
  EXPECT_FALSE(spin_trylock(&l));
  EXPECT_TRUE(spin_is_locked(&l));
  spin_unlock(&l);
  EXPECT_FALSE(spin_is_locked(&l));
  EXPECT_TRUE(spin_trylock(&l));
  spin_unlock(&l);
}

// ================================================================ guards

}  // namespace

// A lock that only records what is done to it; found by the guards' calls
// to spin_lock/spin_unlock through argument-dependent lookup.
namespace spintest {
struct recording_lock {
  std::vector<std::string> *log;
  const char *name;
};
void spin_lock(recording_lock *l) { l->log->push_back(std::string("lock ") + l->name); }
void spin_unlock(recording_lock *l) { l->log->push_back(std::string("unlock ") + l->name); }
}  // namespace spintest

namespace {

// Each guard takes its lock once and gives it back once, on every way out of
// its scope, and nested guards release in reverse order.
TEST(SpinlockGuard, PairsOnEveryPath) {
  std::vector<std::string> log;
  spintest::recording_lock a{&log, "a"}, b{&log, "b"};
  auto early_return = [&](bool leave) {
    spin_lock_irqsave_guard ga(a);
    if (leave) return;
    spin_lock_guard gb(b);
    log.push_back("inside");
  };
  early_return(true);
  early_return(false);
  unsigned long flags = spin_lock_irqsave(&a);
  spin_unlock_irqrestore(&a, flags);
  std::vector<std::string> want = {"lock a", "unlock a", "lock a", "lock b", "inside", "unlock b", "unlock a",
                                   "lock a", "unlock a"};
  EXPECT_EQ(log, want);

  spinlock_t t;
  tas_spinlock_t s;
  spin_lock_init(&t);
  spin_lock_init(&s);
  {
    spin_lock_irqsave_guard gt(t);
    spin_lock_irqsave_guard gs(s);
    EXPECT_TRUE(spin_is_locked(&t));
    EXPECT_TRUE(spin_is_locked(&s));
  }
  EXPECT_FALSE(spin_is_locked(&t));
  EXPECT_FALSE(spin_is_locked(&s));
}

// ================================================================ CONFIG_DEBUG_SPINLOCK

#ifdef CONFIG_DEBUG_SPINLOCK

struct recorded_bug {
  const void *lock;
  spin_bug_kind kind;
  int cpu, owner_cpu;
  std::string text;
};

std::vector<recorded_bug> recorded;  // the tests below run on one thread

void record_bug(const spin_bug_report &r) { recorded.push_back({r.lock, r.kind, r.cpu, r.owner_cpu, r.text}); }

// Records reports instead of aborting, for one test.
struct bug_recorder {
  spin_bug_hook_t previous;
  bug_recorder() : previous(set_spin_bug_hook(record_bug)) { recorded.clear(); }
  ~bug_recorder() {
    set_spin_bug_hook(previous);
    host_set_cpu(0);
  }
};

// The ticket state and the owner: what a refused operation must leave alone.
struct lock_state {
  u32 next, owner;
  int owner_cpu;
  bool operator==(const lock_state &) const = default;
};
lock_state state_of(const spinlock_t &l) { return {next_of(l), owner_of(l), int(READ_ONCE(l.owner_cpu1) - 1)}; }
std::ostream &operator<<(std::ostream &os, const lock_state &s) {
  return os << "{next " << s.next << ", owner " << s.owner << ", owner_cpu " << s.owner_cpu << "}";
}

std::string lock_addr(const spinlock_t &l) {
  char buf[32];
  snprintf(buf, sizeof(buf), "0x%016lx", reinterpret_cast<unsigned long>(&l));
  return buf;
}

// The one report a bad call must have produced, in Linux's words.
void expect_one_report(const spinlock_t &l, spin_bug_kind kind, const char *words, int cpu, int owner) {
  ASSERT_EQ(recorded.size(), 1u);
  const recorded_bug &b = recorded[0];
  EXPECT_EQ(b.lock, &l);
  EXPECT_EQ(b.kind, kind);
  EXPECT_EQ(b.cpu, cpu);
  EXPECT_EQ(b.owner_cpu, owner);
  std::string first = std::string("BUG: spinlock ") + words + " on CPU#" + std::to_string(cpu) + "\n";
  EXPECT_EQ(b.text.rfind(first, 0), 0u) << b.text;
  EXPECT_NE(b.text.find("lock: " + lock_addr(l)), std::string::npos) << b.text;
  EXPECT_NE(b.text.find(".owner_cpu: " + std::to_string(owner)), std::string::npos) << b.text;
  recorded.clear();
}

// Taking a lock this CPU holds is reported, and returns without taking a
// ticket (the caller still holds the lock once); a trylock just fails.
TEST(SpinlockDebug, RecursionIsReportedAndTakesNothing) {
  bug_recorder rec;
  spinlock_t l;
  spin_lock_init(&l);
  host_set_cpu(3);
  spin_lock(&l);
  lock_state held = state_of(l);
  EXPECT_EQ(held, (lock_state{1, 0, 3}));
  spin_lock(&l);
  expect_one_report(l, spin_bug_kind::recursion, "recursion", 3, 3);
  EXPECT_EQ(state_of(l), held);
  unsigned long flags = spin_lock_irqsave(&l);
  expect_one_report(l, spin_bug_kind::recursion, "recursion", 3, 3);
  EXPECT_EQ(state_of(l), held);
  EXPECT_FALSE(spin_trylock(&l));
  EXPECT_TRUE(recorded.empty());
  spin_unlock_irqrestore(&l, flags);
  EXPECT_TRUE(recorded.empty());
  EXPECT_EQ(state_of(l), (lock_state{1, 1, -1}));
  spin_lock(&l);
  spin_unlock(&l);
  EXPECT_TRUE(recorded.empty());
}

// Releasing a lock that another CPU holds is reported and refused: the
// holder still holds it and releases it normally afterwards. Here the
// holder is a real second thread.
TEST(SpinlockDebug, UnlockByAnotherCpuIsRefused) {
  bug_recorder rec;
  spinlock_t l;
  spin_lock_init(&l);
  std::atomic<int> step{0};
  std::thread holder([&] {
    host_set_cpu(1);
    spin_lock(&l);
    step = 1;
    wait_until([&] { return step.load() == 2; });
    spin_unlock(&l);
  });
  wait_until([&] { return step.load() == 1; });
  lock_state held = state_of(l);
  EXPECT_EQ(held, (lock_state{1, 0, 1}));
  host_set_cpu(0);
  spin_unlock(&l);
  expect_one_report(l, spin_bug_kind::wrong_cpu, "wrong CPU", 0, 1);
  EXPECT_EQ(state_of(l), held);
  EXPECT_FALSE(spin_trylock(&l)) << "the refused unlock freed the lock";
  step = 2;
  holder.join();
  EXPECT_TRUE(recorded.empty());
  EXPECT_EQ(state_of(l), (lock_state{1, 1, -1}));
}

// Releasing a free lock is reported and changes nothing: the ticket being
// served does not run ahead of the tickets handed out.
TEST(SpinlockDebug, UnlockOfAFreeLockIsRefused) {
  bug_recorder rec;
  spinlock_t l;
  spin_lock_init(&l);
  host_set_cpu(2);
  spin_lock(&l);
  spin_unlock(&l);
  lock_state free_state = state_of(l);
  spin_unlock(&l);
  expect_one_report(l, spin_bug_kind::already_unlocked, "already unlocked", 2, -1);
  EXPECT_EQ(state_of(l), free_state);
  EXPECT_TRUE(spin_trylock(&l));
  spin_unlock(&l);
  EXPECT_TRUE(recorded.empty());
  EXPECT_FALSE(spin_is_locked(&l));
}

// A lock in zeroed memory (never through spin_lock_init) is a free lock for
// every CPU number, the largest included: each takes and releases it
// without a report.
TEST(SpinlockDebug, ZeroedLockIsFreeForEveryCpu) {
  bug_recorder rec;
  for (unsigned cpu : {0u, 7u, ~0u}) {
    SCOPED_TRACE("cpu " + std::to_string(cpu));
    alignas(spinlock_t) unsigned char mem[sizeof(spinlock_t)] = {};
    spinlock_t *l = reinterpret_cast<spinlock_t *>(mem);
    host_set_cpu(cpu);
    EXPECT_FALSE(spin_is_locked(l));
    spin_lock(l);
    EXPECT_EQ(state_of(*l), (lock_state{1, 0, int(cpu)}));
    spin_unlock(l);
    EXPECT_TRUE(recorded.empty());
    EXPECT_EQ(state_of(*l), (lock_state{1, 1, -1}));
  }
}

// Without a hook, a report stops the program, as a kernel panic would.
TEST(SpinlockDebug, DefaultHookAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  spinlock_t l;
  spin_lock_init(&l);
  EXPECT_DEATH(
      {
        host_set_cpu(0);
        spin_lock(&l);
        spin_lock(&l);
      },
      "BUG: spinlock recursion on CPU#0");
}

// Any sequence of lock, trylock and unlock calls by CPUs 0..3 on one thread
// (a lock call only where it would not block) matches a model that is just
// "which CPU holds the lock": each bad call makes exactly the report the
// model predicts and changes nothing; every good call does what it says.
RC_GTEST_PROP(SpinlockDebug, MatchesTheOwnerModel, ()) {
  bug_recorder rec;
  spinlock_t l;
  spin_lock_init(&l);
  int holder = -1;  // the model
  u32 tickets = 0;
  const auto ops = *rc::gen::container<std::vector<std::pair<unsigned, unsigned>>>(
      rc::gen::pair(rc::gen::inRange(0u, 3u), rc::gen::inRange(0u, 4u)));
  for (auto [op, cpu] : ops) {
    host_set_cpu(cpu);
    lock_state before = state_of(l);
    recorded.clear();
    if (op == 0 && (holder == -1 || holder == int(cpu))) {
      spin_lock(&l);
      if (holder == int(cpu)) {
        RC_ASSERT(recorded.size() == 1u);
        RC_ASSERT(recorded[0].kind == spin_bug_kind::recursion);
        RC_ASSERT(state_of(l) == before);
      } else {
        RC_ASSERT(recorded.empty());
        holder = int(cpu);
        tickets++;
      }
    } else if (op == 0 || op == 1) {
      bool got = spin_trylock(&l);
      RC_ASSERT(recorded.empty());
      RC_ASSERT(got == (holder == -1));
      if (got) holder = int(cpu), tickets++;
      else RC_ASSERT(state_of(l) == before);
    } else {
      spin_unlock(&l);
      if (holder == int(cpu)) {
        RC_ASSERT(recorded.empty());
        holder = -1;
      } else {
        RC_ASSERT(recorded.size() == 1u);
        RC_ASSERT(recorded[0].kind == (holder == -1 ? spin_bug_kind::already_unlocked : spin_bug_kind::wrong_cpu));
        RC_ASSERT(recorded[0].owner_cpu == holder);
        RC_ASSERT(state_of(l) == before);
      }
    }
    RC_ASSERT(state_of(l) == (lock_state{tickets, holder == -1 ? tickets : tickets - 1, holder}));
  }
}

#else

TEST(SpinlockDebug, Disabled) { GTEST_SKIP() << "built without CONFIG_DEBUG_SPINLOCK (meson option debug_spinlock)"; }

#endif

}  // namespace

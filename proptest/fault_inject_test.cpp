// Fault injection (mm/fault_inject.h): the decision's rules one by one, the
// boot syntax, the two injection points' filters, the caller filter, and
// the property the issue asks for: whatever fails, every caller inside mm/
// survives it, and once everything is freed the accounting is back where it
// started.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <asm/stacktrace.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mm/fault_inject.h"
#include "mm/vmalloc.h"
#include "proptest/vmalloc_fixture.h"

using namespace slabt;

// Callers for the caller filter: two distinct functions that make the same
// call, exported (-rdynamic) so host_function_range can find them.
extern "C" __attribute__((noinline)) bool fault_test_caller_a(fault_attr *a) {
  bool r = should_fail(*a, "test", 1);
  asm volatile("" ::: "memory");  // keeps the call from becoming a tail call
  return r;
}
extern "C" __attribute__((noinline)) bool fault_test_caller_b(fault_attr *a) {
  bool r = should_fail(*a, "test", 1);
  asm volatile("" ::: "memory");
  return r;
}
// A call made n frames below fault_test_deep_root, for the caller filter's
// depth: each level is one more frame between the root and should_fail.
extern "C" __attribute__((noinline)) bool fault_test_deep(fault_attr *a, unsigned n) {
  bool r = n ? fault_test_deep(a, n - 1) : should_fail(*a, "test", 1);
  asm volatile("" ::: "memory");
  return r;
}
extern "C" __attribute__((noinline)) bool fault_test_deep_root(fault_attr *a, unsigned n) {
  bool r = fault_test_deep(a, n);
  asm volatile("" ::: "memory");
  return r;
}

namespace {

fault_attr always() {
  fault_attr a;
  a.probability = 100;
  a.times = -1;
  a.verbose = 0;
  return a;
}

unsigned failures_in(fault_attr &a, unsigned calls, long size = 1) {
  unsigned n = 0;
  for (unsigned i = 0; i < calls; i++) n += should_fail(a, "test", size);
  return n;
}

}  // namespace

// Linux's defaults: probability 0, so nothing ever fails.
TEST(FaultInjectRules, DefaultsNeverFail) {
  fault_attr a;
  EXPECT_EQ(failures_in(a, 1000), 0u);
  fail_page_alloc_attr p;
  EXPECT_EQ(p.min_order, 1u);
  EXPECT_TRUE(p.ignore_gfp_reclaim);
  EXPECT_TRUE(p.ignore_gfp_highmem);
  EXPECT_EQ(p.attr.times, 1);
  EXPECT_EQ(p.attr.interval, 1ul);
}

// times is a budget: with probability 100 exactly `times` calls fail, then
// none; -1 never runs out. nr_failures counts them.
RC_GTEST_PROP(FaultInjectRules, TimesIsABudget, ()) {
  const long times = *rc::gen::inRange<long>(0, 50);
  const unsigned calls = *rc::gen::inRange<unsigned>(0, 120);
  fault_attr a = always();
  a.times = times;
  const unsigned got = failures_in(a, calls);
  RC_ASSERT(got == std::min<unsigned>(calls, unsigned(times)));
  RC_ASSERT(a.nr_failures == got);
  RC_ASSERT(a.times == times - long(got));
  fault_attr u = always();
  RC_ASSERT(failures_in(u, calls) == calls);
  RC_ASSERT(u.times == -1);
}

// interval k: exactly the k-th, 2k-th, ... calls fail.
RC_GTEST_PROP(FaultInjectRules, IntervalPicksEveryKth, ()) {
  const unsigned long k = *rc::gen::inRange<unsigned long>(1, 12);
  const unsigned calls = *rc::gen::inRange<unsigned>(0, 100);
  fault_attr a = always();
  a.interval = k;
  for (unsigned i = 1; i <= calls; i++) RC_ASSERT(should_fail(a, "test", 1) == (i % k == 0));
}

// space lets calls through while it exceeds their size, taking each size
// off; after that every call may fail.
RC_GTEST_PROP(FaultInjectRules, SpaceLetsBytesThroughFirst, ()) {
  const long space = *rc::gen::inRange<long>(0, 5000);
  const std::vector<long> sizes = *rc::gen::container<std::vector<long>>(rc::gen::inRange<long>(1, 600));
  fault_attr a = always();
  a.space = space;
  long left = space;
  for (long size : sizes) {
    bool expect = !(left > size);
    if (!expect) left -= size;
    RC_ASSERT(should_fail(a, "test", size) == expect);
    RC_ASSERT(a.space == left);
  }
}

// probability p fails about p percent of calls (a wide band: the claim is
// the rate, not a particular sequence), 0 never and 100 always.
TEST(FaultInjectRules, ProbabilityIsAPercentage) {
  for (unsigned long p : {0ul, 1ul, 10ul, 50ul, 90ul, 100ul}) {
    fault_attr a = always();
    a.probability = p;
    a.random_state = 0x1234567 + p;
    const unsigned got = failures_in(a, 20000);
    if (p == 0) EXPECT_EQ(got, 0u);
    else if (p == 100) EXPECT_EQ(got, 20000u);
    else {
      EXPECT_GT(got, 20000 * p / 100 * 8 / 10) << "probability " << p;
      EXPECT_LT(got, 20000 * p / 100 * 12 / 10 + 20) << "probability " << p;
    }
  }
}

// The caller filter: with a required range, only calls made from it fail;
// with a rejected range, calls made from it never fail.
TEST(FaultInjectRules, CallerFilter) {
  uintptr_t a_start, a_end, b_start, b_end;
  ASSERT_TRUE(host_function_range(reinterpret_cast<const void *>(&fault_test_caller_a), &a_start, &a_end));
  ASSERT_TRUE(host_function_range(reinterpret_cast<const void *>(&fault_test_caller_b), &b_start, &b_end));
  ASSERT_LT(a_start, a_end);

  fault_attr req = always();
  req.require_start = a_start;
  req.require_end = a_end;
  EXPECT_TRUE(fault_test_caller_a(&req));
  EXPECT_FALSE(fault_test_caller_b(&req));
  EXPECT_FALSE(should_fail(req, "test", 1));
  EXPECT_EQ(req.nr_failures, 1ul);

  fault_attr rej = always();
  rej.reject_start = b_start;
  rej.reject_end = b_end;
  EXPECT_TRUE(fault_test_caller_a(&rej));
  EXPECT_FALSE(fault_test_caller_b(&rej));
  EXPECT_TRUE(should_fail(rej, "test", 1));

  // A depth too small to reach the caller's frame: the requirement is not met.
  fault_attr shallow = req;
  shallow.stacktrace_depth = 0;
  EXPECT_FALSE(fault_test_caller_a(&shallow));
}

// A frame belongs to its call instruction, the byte before the return
// address (a call can be a function's last instruction, its return address
// then the next function's first byte): a range that ends at the return
// address holds the call, one that ends a byte before it does not, nor
// does one that starts at it.
TEST(FaultInjectRules, CallerFilterTakesTheCallNotTheReturnAddress) {
  uintptr_t a_start, a_end;
  ASSERT_TRUE(host_function_range(reinterpret_cast<const void *>(&fault_test_caller_a), &a_start, &a_end));
  // The return address of caller_a's call to should_fail, from the backtrace
  // of a verbose failure.
  fault_attr v = always();
  v.verbose = 2;
  log_buf_clear();
  ASSERT_TRUE(fault_test_caller_a(&v));
  uintptr_t ret = 0;
  std::istringstream in(read_log());
  for (std::string line; std::getline(in, line);) {
    unsigned long pc;
    if (sscanf(line.c_str(), " [<%lx>]", &pc) == 1 && pc > a_start && pc <= a_end) ret = pc;
  }
  ASSERT_NE(ret, 0u);
  const struct {
    uintptr_t start, end;
    bool holds_the_call;
  } ranges[] = {{ret - 1, ret, true}, {a_start, ret, true}, {ret - 8, ret - 1, false}, {ret, ret + 8, false}};
  for (const auto &r : ranges) {
    fault_attr req = always();
    req.require_start = r.start;
    req.require_end = r.end;
    EXPECT_EQ(fault_test_caller_a(&req), r.holds_the_call) << "require [ret" << long(r.start - ret) << ", ret"
                                                           << long(r.end - ret) << ")";
    fault_attr rej = always();
    rej.reject_start = r.start;
    rej.reject_end = r.end;
    EXPECT_EQ(fault_test_caller_a(&rej), !r.holds_the_call) << "reject [ret" << long(r.start - ret) << ", ret"
                                                            << long(r.end - ret) << ")";
  }
}

// stacktrace_depth is how many return addresses the caller filter looks
// at, up to 64 (the trace it saves; Linux caps it too): a required caller d
// frames up is found with depth d + 1 and not with depth d, for every d
// below 64, and never from further up, however deep the setting.
TEST(FaultInjectRules, CallerFilterDepth) {
  uintptr_t start, end;
  ASSERT_TRUE(host_function_range(reinterpret_cast<const void *>(&fault_test_deep_root), &start, &end));
  fault_attr a = always();
  a.require_start = start;
  a.require_end = end;
  // The root's frame at n = 0: the smallest depth that finds it, less one.
  a.stacktrace_depth = 0;
  while (a.stacktrace_depth < 20 && !fault_test_deep_root(&a, 0)) a.stacktrace_depth++;
  ASSERT_LT(a.stacktrace_depth, 20u) << "the root is a few frames above should_fail";
  ASSERT_GT(a.stacktrace_depth, 0u);
  const unsigned base = a.stacktrace_depth - 1;
  for (unsigned n = 0; base + n < 70; n++) {
    const unsigned d = base + n;  // the root's frame index
    SCOPED_TRACE(testing::Message() << "root " << d << " frames up");
    for (unsigned depth : {d, d + 1, 1000u}) {
      a.stacktrace_depth = depth;
      const bool found = d < std::min(depth, 64u);
      EXPECT_EQ(fault_test_deep_root(&a, n), found) << "depth " << depth;
    }
  }
}

// The report of an injected failure is Linux's fail_dump: two lines at
// KERN_NOTICE naming the point and its settings, times as the failure found
// it (before its own decrement), space as it is left; verbose 2 adds a
// backtrace through the failing call's caller; verbose 0, or a caller's
// nowarn (__GFP_NOWARN), prints nothing, though the call still fails.
TEST(FaultInjectReport, FailDumpExactly) {
  uintptr_t a_start, a_end;
  ASSERT_TRUE(host_function_range(reinterpret_cast<const void *>(&fault_test_caller_a), &a_start, &a_end));
  fault_attr a = always();
  a.verbose = 1;
  a.times = 3;
  a.space = 10;
  a.interval = 1;
  log_buf_clear();
  EXPECT_FALSE(should_fail(a, "fail_page_alloc", 4));  // space 10 covers 4: 6 left
  EXPECT_EQ(read_log(), "");
  EXPECT_TRUE(should_fail(a, "fail_page_alloc", 8));
  EXPECT_EQ(read_log(),
            "FAULT_INJECTION: forcing a failure.\n"
            "name fail_page_alloc, interval 1, probability 100, space 6, times 3\n");
  EXPECT_EQ(a.times, 2);

  fault_attr u = always();
  u.verbose = 1;
  u.interval = 2;
  u.probability = 100;
  log_buf_clear();
  EXPECT_FALSE(should_fail(u, "failslab", 64));
  EXPECT_TRUE(should_fail(u, "failslab", 64));
  EXPECT_EQ(read_log(),
            "FAULT_INJECTION: forcing a failure.\n"
            "name failslab, interval 2, probability 100, space 0, times -1\n");

  // Silent: verbose 0, or nowarn at any verbosity.
  for (unsigned verbose : {0u, 1u, 2u}) {
    fault_attr q = always();
    q.verbose = verbose;
    log_buf_clear();
    EXPECT_TRUE(should_fail(q, "test", 1, /*nowarn=*/true)) << verbose;
    if (verbose == 0) {
      EXPECT_TRUE(should_fail(q, "test", 1));
    }
    EXPECT_EQ(read_log(), "") << "verbose " << verbose;
    EXPECT_EQ(q.nr_failures, verbose == 0 ? 2ul : 1ul);
  }

  // verbose 2: the two lines, then a backtrace that passes through the caller.
  fault_attr v = always();
  v.verbose = 2;
  log_buf_clear();
  EXPECT_TRUE(fault_test_caller_a(&v));
  const std::string log = read_log();
  const std::string head =
      "FAULT_INJECTION: forcing a failure.\nname test, interval 1, probability 100, space 0, times -1\nCall Trace:\n";
  ASSERT_EQ(log.substr(0, head.size()), head) << log;
  bool through_caller = false;
  unsigned frames = 0;
  std::istringstream in(log.substr(head.size()));
  for (std::string line; std::getline(in, line); frames++) {
    unsigned long pc = 0;
    ASSERT_EQ(sscanf(line.c_str(), " [<%lx>]", &pc), 1) << line;
    through_caller |= pc > a_start && pc <= a_end;
  }
  EXPECT_GT(frames, 0u);
  EXPECT_TRUE(through_caller) << log;
  v.verbose = 1;
  log_buf_clear();
  EXPECT_TRUE(fault_test_caller_a(&v));
  EXPECT_EQ(read_log().find("Call Trace:"), std::string::npos);
}

// The decisions are those of xorshift64* (Vigna, "An experimental
// exploration of Marsaglia's xorshift generators, scrambled", 2016: shifts
// 12, 25, 27, multiplier 0x2545f4914f6cdd1d) from the seed, its output's
// high half reduced mod 100: a run's failures replay from its seed on any
// build. The model below is that published generator.
TEST(FaultInjectRules, DecisionsReplayFromTheSeed) {
  struct xorshift64star {
    u64 s;
    u64 next() {
      s ^= s >> 12;
      s ^= s << 25;
      s ^= s >> 27;
      return s * 0x2545f4914f6cdd1dULL;
    }
  };
  for (u64 seed : {0x853c49e6748fea9bULL, 1ULL, 0x123456789abcdefULL}) {
    for (unsigned long p : {1ul, 37ul, 50ul, 99ul}) {
      fault_attr a = always();
      a.probability = p;
      a.random_state = seed;
      xorshift64star model{seed};
      for (unsigned i = 0; i < 2000; i++) {
        const unsigned r = unsigned((model.next() >> 32) % 100);
        ASSERT_EQ(should_fail(a, "test", 1), r < p) << "seed " << seed << " probability " << p << " call " << i;
      }
    }
  }
}

// The boot syntax: four fields, interval >= 1, probability <= 100, space
// >= 0, times >= -1. Anything else is refused and changes nothing.
TEST(FaultInjectRules, BootSyntax) {
  fault_attr a;
  ASSERT_EQ(setup_fault_attr(a, "10,100,0,-1"), 0);
  EXPECT_EQ(a.interval, 10ul);
  EXPECT_EQ(a.probability, 100ul);
  EXPECT_EQ(a.space, 0);
  EXPECT_EQ(a.times, -1);
  ASSERT_EQ(setup_fault_attr(a, "1,5,4096,0x10"), 0);
  EXPECT_EQ(a.times, 16);
  EXPECT_EQ(a.space, 4096);
  // space and times are longs: LONG_MAX is the largest either takes.
  ASSERT_EQ(setup_fault_attr(a, "1,0,9223372036854775807,9223372036854775807"), 0);
  EXPECT_EQ(a.space, LONG_MAX);
  EXPECT_EQ(a.times, LONG_MAX);
  ASSERT_EQ(setup_fault_attr(a, "1,5,4096,0x10"), 0);
  const fault_attr kept = a;
  for (const char *bad : {"", "1", "1,2,3", "1,2,3,4,5", "0,10,0,1", "1,101,0,1", "1,10,-5,1", "1,10,0,-2",
                          "x,10,0,1", "1,,0,1", "1,10,0,", "1,10,0,1 ", "-1,10,0,1", "1,10,9223372036854775808,1",
                          "1,10,0,9223372036854775808", "1,10,0,-10", "1,10,0,-1x", "1,10,-1,1", "1,10,0,1-"}) {
    EXPECT_EQ(setup_fault_attr(a, bad), -EINVAL) << '"' << bad << '"';
    EXPECT_EQ(a.interval, kept.interval) << bad;
    EXPECT_EQ(a.probability, kept.probability) << bad;
    EXPECT_EQ(a.space, kept.space) << bad;
    EXPECT_EQ(a.times, kept.times) << bad;
  }
  EXPECT_EQ(setup_fault_attr(a, nullptr), -EINVAL);
}

// Random strings: either a valid four-field setting that reads back as
// written, or -EINVAL with nothing changed.
RC_GTEST_PROP(FaultInjectRules, BootSyntaxNeverHalfApplies, ()) {
  const std::string s = *rc::gen::container<std::string>(rc::gen::element('0', '1', '9', ',', '-', 'x', ' '));
  fault_attr a;
  a.interval = 7, a.probability = 3, a.space = 11, a.times = 5;
  if (setup_fault_attr(a, s.c_str()) == 0) {
    char back[96];
    snprintf(back, sizeof(back), "%lu,%lu,%ld,%ld", a.interval, a.probability, a.space, a.times);
    fault_attr b;
    RC_ASSERT(setup_fault_attr(b, back) == 0);
    RC_ASSERT(b.interval == a.interval && b.probability == a.probability && b.space == a.space &&
              b.times == a.times);
    RC_ASSERT(a.interval >= 1ul && a.probability <= 100ul && a.space >= 0 && a.times >= -1);
  } else {
    RC_ASSERT(a.interval == 7ul && a.probability == 3ul && a.space == 11 && a.times == 5);
  }
}

// The order of the steps is Linux's: probability 0 and times 0 end the
// decision before anything else, so neither space nor the interval's count
// moves then; interval 1 counts nothing, so switching to interval k later
// fails exactly every k-th call from the switch on.
TEST(FaultInjectRules, EarlyStepsTouchNothingLater) {
  for (int which : {0, 1}) {
    fault_attr a = always();
    if (which == 0) a.probability = 0;
    else a.times = 0;
    a.space = 10;
    a.interval = 3;
    const u64 seed = a.random_state;
    for (int i = 0; i < 6; i++) EXPECT_FALSE(should_fail(a, "test", 4)) << which;
    EXPECT_EQ(a.space, 10) << (which ? "times 0" : "probability 0") << ": no space taken";
    EXPECT_EQ(a.count, 0ul) << (which ? "times 0" : "probability 0") << ": no call counted";
    EXPECT_EQ(a.random_state, seed);
    EXPECT_EQ(a.nr_failures, 0ul);
  }
  fault_attr b = always();
  EXPECT_TRUE(should_fail(b, "test", 1));
  EXPECT_TRUE(should_fail(b, "test", 1));
  EXPECT_EQ(b.count, 0ul) << "interval 1 counts nothing";
  b.interval = 3;
  for (unsigned i = 1; i <= 9; i++) EXPECT_EQ(should_fail(b, "test", 1), i % 3 == 0) << "call " << i;
}

// space lets a call through only while it is larger than the call's size
// (Linux's "space > size"): a call of exactly the space left fails and
// takes nothing.
TEST(FaultInjectRules, SpaceEqualToTheSizeFails) {
  fault_attr a = always();
  a.space = 4;
  EXPECT_TRUE(should_fail(a, "test", 4));
  EXPECT_EQ(a.space, 4);
  EXPECT_FALSE(should_fail(a, "test", 3));
  EXPECT_EQ(a.space, 1);
  EXPECT_TRUE(should_fail(a, "test", 1));
  EXPECT_EQ(a.space, 1);
}

// stacktrace_depth d looks at exactly the d nearest return addresses: with
// a range that holds every address, depth 1 meets it (the nearest frame
// counts) and depth 0 never does, whatever deeper calls left on the stack.
TEST(FaultInjectRules, CallerFilterLooksAtExactlyDepthFrames) {
  for (bool reject : {false, true}) {
    SCOPED_TRACE(reject ? "reject" : "require");
    fault_attr a = always();
    (reject ? a.reject_start : a.require_start) = 1;
    (reject ? a.reject_end : a.require_end) = UINTPTR_MAX;
    for (unsigned round = 0; round < 3; round++) {
      for (unsigned depth : {64u, 1u, 0u, 2u, 0u, 64u, 1u}) {
        a.stacktrace_depth = depth;
        const bool met = depth > 0;
        EXPECT_EQ(fault_test_caller_a(&a), reject ? !met : met) << "depth " << depth;
      }
    }
  }
}

// times is a budget across CPUs too: however many threads race for the last
// failure (the caller filter's stack walk lies between the check of times
// and the taking of one, a wide window), exactly the budget fails, and
// times never becomes "unlimited". One thread gives a budget of 1 each time
// the last was spent, while the others call all along.
TEST(FaultInjectRules, TimesIsABudgetAcrossThreads) {
  constexpr unsigned budgets = 3000;
  fault_attr a = always();
  a.require_start = 1;
  a.require_end = UINTPTR_MAX;
  a.stacktrace_depth = 64;
  a.times = 0;
  std::atomic<bool> stop{false}, unlimited{false};
  std::atomic<unsigned> failures{0}, given{0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto worker = [&](bool giver) {
    while (!stop.load(std::memory_order_relaxed)) {
      if (giver) {
        const long t = __atomic_load_n(&a.times, __ATOMIC_RELAXED);
        if (t < 0) unlimited = true;
        if (t < 0 || (t == 0 && given.load() == budgets) || std::chrono::steady_clock::now() > deadline) {
          stop = true;
          break;
        }
        if (t == 0) {
          __atomic_store_n(&a.times, 1l, __ATOMIC_RELAXED);
          given++;
        }
      }
      if (should_fail(a, "test", 1)) failures++;
    }
  };
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < 3; t++) ts.emplace_back(worker, t == 0);
  for (std::thread &t : ts) t.join();
  const long left = a.times;
  EXPECT_FALSE(unlimited.load()) << "times became -1";
  EXPECT_TRUE(left == 0 || left == 1) << left;
  EXPECT_EQ(failures.load(), given.load() - unsigned(left == 1)) << given.load() << " budgets of 1";
  EXPECT_EQ(a.nr_failures, failures.load());
  EXPECT_GT(given.load(), 100u);
}

// A setting too long for the parser's buffer (leading zeros) is either read
// as written or refused with nothing changed: never "accepted" unapplied.
TEST(FaultInjectRules, LongSettingAppliedOrRefused) {
  fault_attr a;
  a.interval = 7, a.probability = 3, a.space = 11, a.times = 5;
  const std::string s = std::string(120, '0') + "2,50,4096,9";
  const int rc = setup_fault_attr(a, s.c_str());
  if (rc == 0) {
    EXPECT_EQ(a.interval, 2ul);
    EXPECT_EQ(a.probability, 50ul);
    EXPECT_EQ(a.space, 4096);
    EXPECT_EQ(a.times, 9);
  } else {
    EXPECT_EQ(rc, -EINVAL);
    EXPECT_TRUE(a.interval == 7ul && a.probability == 3ul && a.space == 11 && a.times == 5);
  }
  // Many fields: refused, whatever their number.
  std::string many = "1";
  for (unsigned i = 0; i < 40; i++) many += ",1";
  for (size_t n : {size_t(9), size_t(11), size_t(21), many.size()}) {
    const std::string t = many.substr(0, n);
    EXPECT_EQ(setup_fault_attr(a, t.c_str()), -EINVAL) << t;
    EXPECT_TRUE(a.interval == 7ul && a.probability == 3ul && a.space == 11 && a.times == 5) << t;
  }
}

// fail_page_alloc looks only at requests of min_order and up, never at
// __GFP_NOFAIL, and (by default) not at __GFP_HIGHMEM or reclaiming ones.
TEST(FaultInjectRules, FailPageAllocFilters) {
  fail_page_alloc_attr f;
  f.attr = always();
  EXPECT_FALSE(should_fail_alloc_page(f, GFP_ATOMIC, 0));  // below min_order 1
  EXPECT_TRUE(should_fail_alloc_page(f, GFP_ATOMIC, 1));
  EXPECT_FALSE(should_fail_alloc_page(f, GFP_KERNEL, 3));  // may reclaim
  EXPECT_FALSE(should_fail_alloc_page(f, GFP_ATOMIC | __GFP_HIGHMEM, 3));
  EXPECT_FALSE(should_fail_alloc_page(f, GFP_ATOMIC | __GFP_NOFAIL, 3));
  f.min_order = 0;
  f.ignore_gfp_reclaim = false;
  f.ignore_gfp_highmem = false;
  EXPECT_TRUE(should_fail_alloc_page(f, GFP_KERNEL, 0));
  EXPECT_TRUE(should_fail_alloc_page(f, GFP_HIGHUSER, 0));
  EXPECT_FALSE(should_fail_alloc_page(f, GFP_KERNEL | __GFP_NOFAIL, 0));
  // The size is in pages: space 8 lets an order-2 request through, not order 3.
  f.attr.space = 8;
  EXPECT_FALSE(should_fail_alloc_page(f, GFP_KERNEL, 2));
  EXPECT_TRUE(should_fail_alloc_page(f, GFP_KERNEL, 3));

  failslab_attr s;
  s.attr = always();
  EXPECT_FALSE(should_failslab(s, GFP_KERNEL, 64));
  EXPECT_TRUE(should_failslab(s, GFP_ATOMIC, 64));
  EXPECT_FALSE(should_failslab(s, GFP_ATOMIC | __GFP_NOFAIL, 64));
  s.ignore_gfp_reclaim = false;
  EXPECT_TRUE(should_failslab(s, GFP_KERNEL, 64));
}

namespace {

// A machine with vmalloc, warmed up so that first-use allocations (a
// kmalloc cache's first slab, the vmalloc range's first table pages) are
// part of the starting state, not of what a test leaks.
struct fi_machine {
  vmalloc_fixture f;
  mem_system &ms() { return *f.slab.mm.ms; }
  int build(layout_kind k) {
    if (int err = f.build(k)) return err;
    vfree(*f.vs, vmalloc(*f.vs, 1));
    kfree(*f.slab.sa, kmalloc(*f.slab.sa, 64, GFP_KERNEL));
    return 0;
  }
  page_state at_rest() { return settle(f.slab); }
};

}  // namespace

// On a whole machine: fail_page_alloc with times N fails exactly the first
// N eligible page allocations, each a clean NULL that takes nothing, and
// reports each in Linux's words; the per-CPU fast path is no way around it.
TEST(FaultInjectPages, TimesOnAMachine) {
  fi_machine m;
  ASSERT_EQ(m.build(layout_kind::single_zone), 0);
  mem_system &ms = m.ms();
  const page_state before = m.at_rest();
  ms.fail_page_alloc.attr = always();
  ms.fail_page_alloc.attr.times = 3;
  ms.fail_page_alloc.attr.verbose = 1;
  ms.fail_page_alloc.min_order = 0;
  ms.fail_page_alloc.ignore_gfp_reclaim = false;
  log_buf_clear();
  for (unsigned order = 0; order < 3; order++) EXPECT_EQ(alloc_pages(ms, GFP_KERNEL, order), nullptr);
  const std::string log = read_log();
  EXPECT_EQ(count_of(log, "FAULT_INJECTION: forcing a failure."), 3u) << log;
  EXPECT_EQ(count_of(log, "page allocation failure: fault injected"), 3u) << log;
  EXPECT_EQ(m.at_rest(), before);
  page *p = alloc_pages(ms, GFP_KERNEL, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ms.fail_page_alloc.attr.nr_failures, 3ul);
  EXPECT_EQ(ms.fail_page_alloc.attr.times, 0);
  __free_pages(ms, p, 0);
  EXPECT_EQ(m.f.check(), "");
}

// failslab fails kmalloc and kmem_cache_alloc (never the cache of caches),
// and a failed krealloc leaves the old object as it was.
TEST(FaultInjectSlab, KmallocAndCaches) {
  fi_machine m;
  ASSERT_EQ(m.build(layout_kind::single_zone), 0);
  slab_allocator &sa = *m.f.slab.sa;
  kmem_cache *c = kmem_cache_create(sa, "fi-test", 100, 0, 0, nullptr);
  ASSERT_NE(c, nullptr);
  char *old = static_cast<char *>(kmalloc(sa, 40, GFP_KERNEL));
  ASSERT_NE(old, nullptr);
  memset(old, 0x5a, 40);
  const page_state before = m.at_rest();
  sa.failslab.attr = always();
  sa.failslab.attr.verbose = 0;
  sa.failslab.ignore_gfp_reclaim = false;
  EXPECT_EQ(kmalloc(sa, 64, GFP_KERNEL), nullptr);
  EXPECT_EQ(kmem_cache_alloc(c, GFP_KERNEL), nullptr);
  EXPECT_EQ(krealloc(sa, old, 300, GFP_KERNEL), nullptr);
  EXPECT_TRUE(bytes_are(old, 40, 0x5a));
  kmem_cache *c2 = kmem_cache_create(sa, "fi-test2", 50, 0, 0, nullptr);  // the cache of caches is exempt
  EXPECT_NE(c2, nullptr);
  void *nofail = kmalloc(sa, 64, GFP_KERNEL | __GFP_NOFAIL);
  EXPECT_NE(nofail, nullptr);
  EXPECT_EQ(sa.failslab.attr.nr_failures, 3ul);
  sa.failslab.attr.probability = 0;
  kfree(sa, nofail);
  EXPECT_EQ(kmem_cache_destroy(c2), 0);
  EXPECT_EQ(m.at_rest(), before);
  kfree(sa, old);
  EXPECT_EQ(kmem_cache_destroy(c), 0);
  EXPECT_EQ(m.f.check(), "");
}

// The caller filter on a whole machine: required to be on __vmalloc_node's
// stack (where every vmalloc takes its frames), page allocations fail inside
// vmalloc and nowhere else.
TEST(FaultInjectPages, CallerFilterPicksVmalloc) {
  fi_machine m;
  ASSERT_EQ(m.build(layout_kind::single_zone), 0);
  mem_system &ms = m.ms();
  void *(*vm)(vmalloc_system &, unsigned long, unsigned long, gfp_t, int, const void *) = &__vmalloc_node;
  uintptr_t start, end;
  ASSERT_TRUE(host_function_range(reinterpret_cast<const void *>(vm), &start, &end));
  const page_state before = m.at_rest();
  ms.fail_page_alloc.attr = always();
  ms.fail_page_alloc.attr.verbose = 0;
  ms.fail_page_alloc.attr.require_start = start;
  ms.fail_page_alloc.attr.require_end = end;
  ms.fail_page_alloc.min_order = 0;
  ms.fail_page_alloc.ignore_gfp_reclaim = false;
  log_buf_clear();
  EXPECT_EQ(vmalloc(*m.f.vs, 4 * PAGE_SIZE), nullptr);
  EXPECT_NE(read_log().find("vmalloc error: size"), std::string::npos);
  page *p = alloc_pages(ms, GFP_KERNEL, 0);
  EXPECT_NE(p, nullptr);
  void *k = kmalloc(*m.f.slab.sa, 5000, GFP_KERNEL);
  EXPECT_NE(k, nullptr);
  const unsigned long failed = ms.fail_page_alloc.attr.nr_failures;
  EXPECT_GE(failed, 1ul);
  ms.fail_page_alloc.attr.probability = 0;
  __free_pages(ms, p, 0);
  kfree(*m.f.slab.sa, k);
  EXPECT_EQ(m.at_rest(), before);
  EXPECT_EQ(m.f.check(), "");
}

namespace {

enum class fi_kind { pages, kmalloc, krealloc, cache_create, cache_alloc, vmalloc, free_one };

struct fi_op {
  fi_kind kind;
  unsigned order;  // pages
  size_t size;     // kmalloc, krealloc, cache object size, vmalloc
  gfp_t gfp;
  unsigned pick;   // which live handle (krealloc, cache_alloc, free_one)
  unsigned cpu;
};

std::ostream &operator<<(std::ostream &os, const fi_op &o) {
  static const char *const names[] = {"pages", "kmalloc", "krealloc", "cache_create", "cache_alloc", "vmalloc",
                                      "free_one"};
  return os << names[int(o.kind)] << "(order " << o.order << ", size " << o.size << ", gfp " << std::hex
            << o.gfp << std::dec << ", pick " << o.pick << ", cpu " << o.cpu << ")";
}

rc::Gen<fi_op> gen_fi_op() {
  return rc::gen::construct<fi_op>(
      rc::gen::weightedElement<fi_kind>({{3, fi_kind::pages},
                                         {4, fi_kind::kmalloc},
                                         {1, fi_kind::krealloc},
                                         {1, fi_kind::cache_create},
                                         {3, fi_kind::cache_alloc},
                                         {2, fi_kind::vmalloc},
                                         {4, fi_kind::free_one}}),
      rc::gen::inRange(0u, 6u),
      rc::gen::weightedOneOf<size_t>({{4, rc::gen::inRange<size_t>(1, 512)},
                                      {2, rc::gen::inRange<size_t>(512, 9000)},
                                      {1, rc::gen::inRange<size_t>(9000, 40000)}}),
      rc::gen::element<gfp_t>(gfp_t(GFP_KERNEL), gfp_t(GFP_ATOMIC), gfp_t(GFP_NOWAIT), gfp_t(GFP_KERNEL | __GFP_DMA32),
                              gfp_t(GFP_KERNEL | __GFP_ZERO)),
      rc::gen::arbitrary<unsigned>(), rc::gen::inRange(0u, 2u));
}

rc::Gen<fault_attr> gen_attr() {
  return rc::gen::apply(
      [](unsigned long probability, unsigned long interval, long times, long space, u64 seed) {
        fault_attr a;
        a.probability = probability;
        a.interval = interval;
        a.times = times;
        a.space = space;
        a.verbose = 0;
        a.random_state = seed | 1;
        return a;
      },
      rc::gen::weightedOneOf<unsigned long>({{1, rc::gen::just(0ul)},
                                             {3, rc::gen::inRange(1ul, 101ul)},
                                             {1, rc::gen::just(100ul)}}),
      rc::gen::weightedOneOf<unsigned long>({{3, rc::gen::just(1ul)}, {2, rc::gen::inRange(2ul, 6ul)}}),
      rc::gen::weightedOneOf<long>({{2, rc::gen::just(-1l)}, {2, rc::gen::inRange(0l, 30l)}}),
      rc::gen::weightedOneOf<long>({{3, rc::gen::just(0l)}, {1, rc::gen::inRange(0l, 20000l)}}),
      rc::gen::arbitrary<u64>());
}

struct fi_handle {
  fi_kind kind;
  void *ptr;         // page * for pages, the object or area otherwise
  size_t size;       // bytes written with the pattern
  unsigned order;    // pages
  kmem_cache *cache; // cache_alloc
  u8 fill;
};

}  // namespace

// Any mix of failures from fail_page_alloc and failslab (random probability,
// interval, times and space for each, filters off), over a random mix of
// page, kmalloc, krealloc, cache and vmalloc calls on any layout: a failed
// call returns NULL and leaves its caller's state valid (the checkers are
// clean after every call, and every live allocation keeps its contents);
// once injection stops and everything is freed, the page allocator's
// accounting is exactly what it was at the start: no failure path leaks.
RC_GTEST_PROP(FaultInjectMachine, EveryCallerSurvivesAndNothingLeaks, ()) {
  const layout_kind layout =
      *rc::gen::elementOf(std::vector<layout_kind>(std::begin(all_layouts), std::end(all_layouts)));
  RC_TAG(layout_name(layout));
  cpu_reset reset_cpu;
  fi_machine m;
  RC_ASSERT(m.build(layout) == 0);
  mem_system &ms = m.ms();
  slab_allocator &sa = *m.f.slab.sa;
  const page_state initial = m.at_rest();
  ms.fail_page_alloc.attr = *gen_attr();
  ms.fail_page_alloc.min_order = 0;
  ms.fail_page_alloc.ignore_gfp_reclaim = false;
  ms.fail_page_alloc.ignore_gfp_highmem = false;
  sa.failslab.attr = *gen_attr();
  sa.failslab.ignore_gfp_reclaim = false;
  const auto ops = *rc::gen::container<std::vector<fi_op>>(*rc::gen::inRange<size_t>(4, 40), gen_fi_op());

  std::vector<fi_handle> live;
  std::vector<kmem_cache *> caches;
  unsigned failed_calls = 0;
  u8 fill = 1;
  auto write_fill = [&](fi_handle &h) {
    h.fill = fill;
    fill = u8(fill + 3) ? u8(fill + 3) : 1;
    if (h.kind == fi_kind::vmalloc) RC_ASSERT(m.f.vwrite(uptr(h.ptr), std::vector<u8>(h.size, h.fill).data(), h.size));
    else memset(h.kind == fi_kind::pages ? page_address(ms, static_cast<page *>(h.ptr)) : h.ptr, h.fill, h.size);
  };
  auto intact = [&](const fi_handle &h) {
    if (h.kind == fi_kind::vmalloc) {
      std::vector<u8> got(h.size);
      return m.f.vread(uptr(h.ptr), got.data(), h.size) && bytes_are(got.data(), h.size, h.fill);
    }
    return bytes_are(h.kind == fi_kind::pages ? page_address(ms, static_cast<page *>(h.ptr)) : h.ptr, h.size, h.fill);
  };
  auto release = [&](const fi_handle &h) {
    RC_ASSERT(intact(h));
    switch (h.kind) {
      case fi_kind::pages: __free_pages(ms, static_cast<page *>(h.ptr), h.order); break;
      case fi_kind::kmalloc: case fi_kind::krealloc: kfree(sa, h.ptr); break;
      case fi_kind::cache_alloc: kmem_cache_free(h.cache, h.ptr); break;
      case fi_kind::vmalloc: vfree(*m.f.vs, h.ptr); break;
      default: RC_FAIL("not a handle kind");
    }
  };

  for (const fi_op &o : ops) {
    host_set_cpu(o.cpu);
    fi_handle h{o.kind, nullptr, o.size, o.order, nullptr, 0};
    bool made = false, failed = false;
    switch (o.kind) {
      case fi_kind::pages: {
        page *p = alloc_pages(ms, o.gfp, o.order);
        h.ptr = p, h.size = PAGE_SIZE << o.order;
        made = p != nullptr, failed = p == nullptr;
        break;
      }
      case fi_kind::kmalloc:
        h.ptr = kmalloc(sa, o.size, o.gfp);
        made = h.ptr != nullptr, failed = h.ptr == nullptr;
        break;
      case fi_kind::krealloc: {
        if (live.empty()) break;
        fi_handle &old = live[o.pick % live.size()];
        if (old.kind != fi_kind::kmalloc && old.kind != fi_kind::krealloc) break;
        void *p = krealloc(sa, old.ptr, o.size, o.gfp & ~__GFP_ZERO);
        if (!p) {
          failed = true;
          RC_ASSERT(intact(old));  // untouched on failure
          break;
        }
        RC_ASSERT(bytes_are(p, std::min(old.size, o.size), old.fill));
        old.ptr = p, old.size = o.size;
        write_fill(old);
        break;
      }
      case fi_kind::cache_create: {
        if (caches.size() >= 3) break;
        char name[16];
        snprintf(name, sizeof(name), "fi-%zu", caches.size());
        kmem_cache *c = kmem_cache_create(sa, name, unsigned(o.size % 2048 + 1), 0, 0, nullptr);
        if (c) caches.push_back(c);
        else failed = true;
        break;
      }
      case fi_kind::cache_alloc: {
        if (caches.empty()) break;
        h.cache = caches[o.pick % caches.size()];
        h.ptr = kmem_cache_alloc(h.cache, o.gfp);
        h.size = h.cache->object_size;
        made = h.ptr != nullptr, failed = h.ptr == nullptr;
        break;
      }
      case fi_kind::vmalloc:
        h.ptr = __vmalloc(*m.f.vs, o.size, o.gfp & ~__GFP_DMA32);
        made = h.ptr != nullptr, failed = h.ptr == nullptr;
        break;
      case fi_kind::free_one:
        if (live.empty()) break;
        release(live[o.pick % live.size()]);
        live.erase(live.begin() + long(o.pick % live.size()));
        break;
    }
    if (made) {
      write_fill(h);
      live.push_back(h);
    }
    failed_calls += failed;
    RC_ASSERT(m.f.check() == std::string());
    for (const fi_handle &l : live) RC_ASSERT(intact(l));
  }
  RC_CLASSIFY(failed_calls > 0, "a call failed");
  RC_CLASSIFY(ms.fail_page_alloc.attr.nr_failures > 0, "a page allocation was failed");
  RC_CLASSIFY(sa.failslab.attr.nr_failures > 0, "a slab allocation was failed");

  ms.fail_page_alloc.attr.probability = 0;
  sa.failslab.attr.probability = 0;
  host_set_cpu(0);
  for (const fi_handle &l : live) release(l);
  for (kmem_cache *c : caches) RC_ASSERT(kmem_cache_destroy(c) == 0);
  RC_ASSERT(m.f.vs->space.nr_busy == 0ul);
  RC_ASSERT(page_counts(m.at_rest()) == page_counts(initial));
  RC_ASSERT(m.f.check() == std::string());
}

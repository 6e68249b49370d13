// ktest: in-kernel test suites for what only the booted machine can show
// (live page tables, traps, the device tree the firmware passed). Output is
// KTAP, the format of Linux's KUnit: a top-level plan of suites, each suite a
// subtest indented by four spaces with one `ok`/`not ok` line per case.
//
// A case receives a ktest* and reports with the KTEST_EXPECT_* macros (which
// record and go on) or KTEST_ASSERT_* (which record and return).
#pragma once

#include "kernel/types.h"

struct ktest {
  const char *suite;
  const char *name;
  int failures;
  const char *skip_reason;
};

void ktest_fail(ktest *t, const char *file, int line, const char *fmt, ...) __printf(4, 5);
void ktest_skip(ktest *t, const char *reason);

struct ktest_case {
  const char *name;
  void (*run)(ktest *t);
};

struct ktest_suite {
  const char *name;
  const ktest_case *cases;
  size_t nr_cases;
};

#define KTEST_CASE(fn) ktest_case{#fn, fn}

// Registers a suite; suites run in link order.
#define KTEST_SUITE(sname, ...)                                                          \
  static const ktest_case sname##_ktest_cases[] = {__VA_ARGS__};                         \
  __attribute__((used, section(".ktest_suites"))) static const ktest_suite sname##_ktest = \
      {#sname, sname##_ktest_cases, ARRAY_SIZE(sname##_ktest_cases)}

// Runs the suites named in the comma-separated filter (all when it is null or
// empty), printing KTAP. Returns the number of failed cases, or -1 if the
// filter names a suite that does not exist.
int ktest_run(const char *filter);
// Prints the registered suites and their cases.
void ktest_list();

#define KTEST_EXPECT_TRUE(t, cond)                                        \
  do {                                                                    \
    if (!(cond)) ktest_fail(t, __FILE__, __LINE__, "expected %s", #cond); \
  } while (0)
#define KTEST_EXPECT_FALSE(t, cond) KTEST_EXPECT_TRUE(t, !(cond))
#define KTEST_EXPECT_OP(t, a, op, b)                                                        \
  do {                                                                                      \
    auto __ka = (a);                                                                        \
    auto __kb = (b);                                                                        \
    if (!(__ka op __kb))                                                                    \
      ktest_fail(t, __FILE__, __LINE__, "expected %s %s %s, but %#llx vs %#llx", #a, #op, #b, \
                 (unsigned long long)__ka, (unsigned long long)__kb);                       \
  } while (0)
#define KTEST_EXPECT_EQ(t, a, b) KTEST_EXPECT_OP(t, a, ==, b)
#define KTEST_EXPECT_NE(t, a, b) KTEST_EXPECT_OP(t, a, !=, b)
#define KTEST_EXPECT_LT(t, a, b) KTEST_EXPECT_OP(t, a, <, b)
#define KTEST_EXPECT_LE(t, a, b) KTEST_EXPECT_OP(t, a, <=, b)
#define KTEST_EXPECT_GE(t, a, b) KTEST_EXPECT_OP(t, a, >=, b)
#define KTEST_EXPECT_STREQ(t, a, b)                                                            \
  do {                                                                                         \
    const char *__sa = (a), *__sb = (b);                                                       \
    if (strcmp(__sa, __sb) != 0)                                                               \
      ktest_fail(t, __FILE__, __LINE__, "expected %s == %s, but \"%s\" vs \"%s\"", #a, #b, __sa, \
                 __sb);                                                                        \
  } while (0)
#define KTEST_ASSERT_TRUE(t, cond)                                          \
  do {                                                                      \
    if (!(cond)) {                                                          \
      ktest_fail(t, __FILE__, __LINE__, "assertion %s failed", #cond);      \
      return;                                                               \
    }                                                                       \
  } while (0)

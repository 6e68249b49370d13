// The mutant runtime linked into a schema build of the host tests
// (scripts/mutate). MM_MUTANT=id makes MM_MUT(id) true; MM_MUTANT_TRACE=FILE
// records, for every mutant whose MM_MUT is evaluated, which tests reached
// it, and appends "id<TAB>Suite.Test" lines to FILE at exit.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <utility>

extern "C" {
long mm_mutant_active = -1;
unsigned char mm_mutant_tracing = 0;
void mm_mutant_reached(unsigned id);
}

namespace {

constexpr unsigned MAX_IDS = 1u << 16;
std::atomic<const void *> last_test[MAX_IDS];  // the test that last reached each id
std::mutex seen_lock;
std::set<std::pair<unsigned, std::string>> *seen;
const char *trace_path;

// The test under way, kept by a listener: UnitTest::current_test_info()
// takes gtest's mutex, and a traced run evaluates MM_MUT on every line of
// the hot paths, from every test thread at once.
std::atomic<const testing::TestInfo *> current_test;

struct current_test_listener : testing::EmptyTestEventListener {
  void OnTestStart(const testing::TestInfo &t) override { current_test.store(&t, std::memory_order_release); }
  void OnTestEnd(const testing::TestInfo &) override { current_test.store(nullptr, std::memory_order_release); }
};

struct mutant_runtime {
  mutant_runtime() {
    if (const char *e = std::getenv("MM_MUTANT")) mm_mutant_active = std::atol(e);
    if ((trace_path = std::getenv("MM_MUTANT_TRACE"))) {
      seen = new std::set<std::pair<unsigned, std::string>>;
      testing::UnitTest::GetInstance()->listeners().Append(new current_test_listener);
      mm_mutant_tracing = 1;
    }
  }
  ~mutant_runtime() {
    if (!trace_path) return;
    std::lock_guard<std::mutex> g(seen_lock);
    FILE *f = std::fopen(trace_path, "a");
    if (!f) return;
    for (const auto &[id, test] : *seen) std::fprintf(f, "%u\t%s\n", id, test.c_str());
    std::fclose(f);
  }
} runtime;

}  // namespace

void mm_mutant_reached(unsigned id) {
  const testing::TestInfo *t = current_test.load(std::memory_order_acquire);
  const void *key = t ? static_cast<const void *>(t) : &runtime;
  if (id >= MAX_IDS || last_test[id].load(std::memory_order_relaxed) == key) return;
  last_test[id].store(key, std::memory_order_relaxed);
  std::string name = t ? std::string(t->test_suite_name()) + "." + t->name() : std::string("-");
  std::lock_guard<std::mutex> g(seen_lock);
  seen->insert({id, name});
}

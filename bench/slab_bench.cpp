// Host benchmark of kmalloc against the C library allocators (issue 13):
// glibc's malloc, jemalloc and mimalloc, with objects of 16, 64, 256 and
// 4096 bytes, in three patterns:
//   BM_Pair              an allocation and its free; 1 and 2 threads
//   BM_Batch             64 allocations, then their 64 frees; 1 and 2 threads
//   BM_ProducerConsumer  thread 0 allocates, thread 1 frees what it is passed
//                        through a ring of pointers: every free is of an
//                        object another thread (for kmalloc: CPU) allocated
// Names read BM_<pattern>/<allocator>/<size>/real_time/threads:<n>.
// items_per_second is pairs (one allocation and one free) per second of all
// threads together on the wall clock, so that 2 threads against 1 is the
// scaling; scripts/bench runs the programs alternately and prints one table
// (scripts/bench_table.py).
//
// jemalloc and mimalloc replace malloc in any program that links them, so
// this one file is built three times (bench/meson.build):
//   slab_bench           kmalloc (this tree's mm/, a 256 MiB machine with 2
//                        CPUs; each thread is one CPU) and glibc's malloc
//   slab_bench_jemalloc  malloc and free, which are jemalloc's there
//   slab_bench_mimalloc  mi_malloc and mi_free
// Each program checks at start that its allocator is the one it will
// measure, says which (version and library) in its context, and refuses to
// run otherwise. Figures only, never a test.
#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#if defined(SLAB_BENCH_JEMALLOC)
#include <jemalloc/jemalloc.h>
#elif defined(SLAB_BENCH_MIMALLOC)
#include <mimalloc.h>
#else
#include <gnu/libc-version.h>

#include "bench/slab_workloads.h"
#include "mm/check.h"
#include "proptest/mm_fixture.h"
#endif

namespace {

// ---- the allocators ---------------------------------------------------------------
// Each is a type with a name for the benchmark names, alloc and release, and
// hooks around the timed loop (kmalloc's machine is checked after it).

// Which shared object defines `symbol` for this process, as the dynamic
// linker binds it: what a call to it from here runs.
std::string library_of(const char *symbol) {
  Dl_info info;
  void *f = dlsym(RTLD_DEFAULT, symbol);
  if (!f || !dladdr(f, &info) || !info.dli_fname) return "(not found)";
  return info.dli_fname;
}

// Stops the program when `symbol` does not come from the library named
// `library`: a binary linked in the wrong order must not report one
// allocator's figures under another's name.
void require_library(const char *symbol, const char *library) {
  std::string from = library_of(symbol);
  if (from.find(library) == std::string::npos) {
    std::fprintf(
        stderr,
        "slab_bench: %s comes from %s, not from %s: this binary would not measure what it says\n",
        symbol, from.c_str(), library);
    std::exit(1);
  }
}

// The hooks an allocator without a machine of its own leaves empty.
struct no_machine {
  static void attach(unsigned) {}
  static unsigned long at_rest(size_t) { return 0; }
  static std::string check(size_t, unsigned long) { return {}; }
};

// malloc and free, whichever library the dynamic linker bound them to.
struct c_malloc : no_machine {
  static void *alloc(size_t n) { return std::malloc(n); }
  static void release(void *p) { std::free(p); }
};

#if defined(SLAB_BENCH_JEMALLOC)

// Linked with -ljemalloc, malloc is jemalloc's (require_library checks that
// the dynamic linker agrees).
struct system_malloc : c_malloc {
  static constexpr const char *name = "jemalloc";
  static std::string describe() {
    require_library("malloc", "libjemalloc");
    const char *version = nullptr;
    size_t len = sizeof(version);
    if (mallctl("version", &version, &len, nullptr, 0) != 0 || !version) {
      std::fprintf(stderr, "slab_bench: jemalloc's mallctl(\"version\") failed\n");
      std::exit(1);
    }
    return std::string("jemalloc ") + version + ", malloc from " + library_of("malloc");
  }
};

#elif defined(SLAB_BENCH_MIMALLOC)

// mi_malloc and mi_free by name rather than through the override of malloc.
// Both reach the same code: Debian's libmimalloc exports malloc and free as
// aliases of mi_malloc and mi_free (`nm -D` shows the same addresses), either
// call goes through the PLT, and a build of this file on malloc/free timed
// the same. By name, though, the call cannot land in glibc whatever the
// link order, and it is mimalloc's general entry, the one malloc's callers
// get: not mi_malloc_small, which skips the size test and is only for
// callers that know their size is small.
struct system_malloc : no_machine {
  static constexpr const char *name = "mimalloc";
  static void *alloc(size_t n) { return mi_malloc(n); }
  static void release(void *p) { mi_free(p); }
  static std::string describe() {
    require_library("mi_malloc", "libmimalloc");
    int v = mi_version();
    std::string version =
        std::to_string(v / 100) + "." + std::to_string(v % 100 / 10) + "." + std::to_string(v % 10);
    return "mimalloc " + version + ", mi_malloc from " + library_of("mi_malloc") +
           " (malloc from " + library_of("malloc") + ")";
  }
};

#else

struct system_malloc : c_malloc {
  static constexpr const char *name = "glibc";
  static std::string describe() {
    require_library("malloc", "libc.so");
    return std::string("glibc ") + gnu_get_libc_version() + ", malloc from " + library_of("malloc");
  }
};

// Built once in main, before any benchmark: one node, one zone (DMA32) of
// 256 MiB, two CPUs, as smp_bench's machine but with only the CPUs used.
struct kmalloc_machine {
  mm_fixture mm;
  slab_allocator sa;
};
kmalloc_machine *machine;

// The calls of the kernel's kmalloc_pair_step (bench/slab_workloads.h), made
// here through the harness every allocator shares, so that the columns
// differ only in the allocator.
struct kmalloc_alloc {
  static constexpr const char *name = "kmalloc";
  static void *alloc(size_t n) { return kmalloc(machine->sa, n, BENCH_GFP); }
  static void release(void *p) { kfree(machine->sa, p); }
  // Thread n is CPU n: its own per-CPU slabs.
  static void attach(unsigned cpu) { host_set_cpu(cpu); }
  // Free pages with nothing held: every CPU's slabs and the cache's free
  // slabs given back, the per-CPU page lists drained.
  static unsigned long at_rest(size_t size) {
    kmem_cache_shrink(kmalloc_bench_cache(machine->sa, size));
    drain_all_pages(*machine->mm.ms);
    return nr_free_pages(*machine->mm.ms);
  }
  // Both allocators consistent and every page back, or the figures are of
  // a broken allocator. Returns what is wrong, or "".
  static std::string check(size_t size, unsigned long free_before) {
    static char buf[1 << 16];
    check_report r = make_check_report(buf, sizeof(buf));
    unsigned violations = check_slab(machine->sa, r);
    std::string report = violations ? std::to_string(violations) + " slab violations: " + buf : "";
    report += machine->mm.check();
    unsigned long free_after = at_rest(size);
    if (report.empty() && free_after != free_before)
      report = "free pages changed: " + std::to_string(free_before) + " before, " +
               std::to_string(free_after) + " after";
    return report;
  }
  static std::string describe() {
    machine = new kmalloc_machine;
    int err = machine->mm.build({{0x80000000, 256 * SZ_1M, 0}},
                                layout_with_limits(0, PFN_4G, PFN_MAX, 2));
    if (!err) err = slab_allocator_init(&machine->sa, *machine->mm.ms, 0, 0x5eed);
    if (err) {
      std::fprintf(stderr, "slab_bench: cannot build the kmalloc machine: error %d\n", err);
      std::exit(1);
    }
    return "this tree's mm/ on a 256 MiB host machine with 2 CPUs";
  }
};

#endif

// ---- the harness --------------------------------------------------------------------

// Around one thread's timed loop: the thread becomes its CPU; thread 0
// notes the free pages before and checks the machine after (Google
// Benchmark holds every thread at the loop's start and end until all are
// there, so no other thread allocates meanwhile). The size is the
// benchmark's argument.
template <class A>
class bench_thread {
 public:
  explicit bench_thread(benchmark::State &state) : state_(state), size_(size_t(state.range(0))) {
    A::attach(unsigned(state.thread_index()));
    if (state.thread_index() == 0) free_before_ = A::at_rest(size_);
  }
  void *alloc() {
    void *p = A::alloc(size_);
    if (!p) [[unlikely]]
      failures_++;
    return p;
  }
  void finish(unsigned long pairs) {
    state_.SetItemsProcessed(int64_t(pairs));
    // A failed allocation is not timed like a good one: show how many.
    if (failures_) state_.counters["failed"] = double(failures_);
    if (state_.thread_index() != 0) return;
    std::string report = A::check(size_, free_before_);
    if (!report.empty()) state_.SkipWithError(("allocator inconsistent: " + report).c_str());
  }

 private:
  benchmark::State &state_;
  size_t size_;
  unsigned long free_before_ = 0;
  unsigned long failures_ = 0;
};

template <class A>
void BM_Pair(benchmark::State &state) {
  bench_thread<A> t(state);
  for (auto _ : state) {
    void *p = t.alloc();
    // Without it the compiler may drop a malloc/free pair it can see whole.
    benchmark::DoNotOptimize(p);
    A::release(p);
  }
  t.finish(state.iterations());
}

constexpr unsigned BATCH = 64;

template <class A>
void BM_Batch(benchmark::State &state) {
  bench_thread<A> t(state);
  void *obj[BATCH];
  for (auto _ : state) {
    for (void *&p : obj) p = t.alloc();
    benchmark::DoNotOptimize(obj);
    for (void *p : obj) A::release(p);  // release(nullptr) does nothing
  }
  t.finish(state.iterations() * BATCH);
}

void spin_pause() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

// A single-producer single-consumer ring of pointers. Each side keeps the
// other's index as last seen and reads the shared one only when the ring
// looks full (empty): most pushes and pops then touch no line the other
// thread writes except the slot itself, so the ring costs little next to
// the allocator's own traffic between the two threads.
class pointer_ring {
 public:
  static constexpr unsigned SLOTS = 256;

  void reset() {
    head_.store(0, std::memory_order_relaxed);
    tail_.store(0, std::memory_order_relaxed);
    tail_seen_ = head_seen_ = 0;
  }
  void push(void *p) {
    unsigned h = head_.load(std::memory_order_relaxed);
    while (h - tail_seen_ == SLOTS)
      wait_for(tail_, tail_seen_, [&] { return h - tail_seen_ != SLOTS; });
    slot_[h % SLOTS] = p;
    head_.store(h + 1, std::memory_order_release);
  }
  void *pop() {
    unsigned t = tail_.load(std::memory_order_relaxed);
    while (head_seen_ == t) wait_for(head_, head_seen_, [&] { return head_seen_ != t; });
    void *p = slot_[t % SLOTS];
    tail_.store(t + 1, std::memory_order_release);
    return p;
  }

 private:
  // Rereads `index` into `seen` until `ready`. On a host with fewer free
  // cores than threads the other side may not be running: yield now and then.
  template <class Ready>
  static void wait_for(const std::atomic<unsigned> &index, unsigned &seen, Ready ready) {
    for (unsigned spins = 1;; spins++) {
      seen = index.load(std::memory_order_acquire);
      if (ready()) return;
      if (spins % 1024 == 0)
        std::this_thread::yield();
      else
        spin_pause();
    }
  }

  alignas(64) std::atomic<unsigned> head_{0};  // written by the producer
  unsigned tail_seen_ = 0;                     // the producer's copy of tail_
  alignas(64) std::atomic<unsigned> tail_{0};  // written by the consumer
  unsigned head_seen_ = 0;                     // the consumer's copy of head_
  alignas(64) void *slot_[SLOTS];
};

pointer_ring ring;

// Google Benchmark runs both threads for the same number of iterations, so
// the consumer takes exactly what the producer gives and the ring ends empty.
template <class A>
void BM_ProducerConsumer(benchmark::State &state) {
  bench_thread<A> t(state);
  if (state.thread_index() == 0) {
    ring.reset();  // before the loop's start, where the consumer waits
    // A nullptr is passed on too, so that the consumer takes as many.
    for (auto _ : state) ring.push(t.alloc());
    t.finish(state.iterations());
  } else {
    for (auto _ : state) A::release(ring.pop());
    t.finish(0);  // the producer counts the pairs
  }
}

constexpr int SIZES[] = {16, 64, 256, 4096};

template <class A>
void register_allocator() {
  std::string a = std::string("/") + A::name;
  for (int size : SIZES) {
    benchmark::RegisterBenchmark(("BM_Pair" + a).c_str(), BM_Pair<A>)
        ->Arg(size)
        ->Threads(1)
        ->Threads(2)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("BM_Batch" + a).c_str(), BM_Batch<A>)
        ->Arg(size)
        ->Threads(1)
        ->Threads(2)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("BM_ProducerConsumer" + a).c_str(), BM_ProducerConsumer<A>)
        ->Arg(size)
        ->Threads(2)
        ->UseRealTime();
  }
  // The JSON output carries it, so that scripts/bench_table.py can name
  // what each column measured.
  benchmark::AddCustomContext(A::name, A::describe());
}

}  // namespace

int main(int argc, char **argv) {
#if !defined(SLAB_BENCH_JEMALLOC) && !defined(SLAB_BENCH_MIMALLOC)
  register_allocator<kmalloc_alloc>();
#endif
  register_allocator<system_malloc>();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

// The page allocator, slab and vmalloc together under several CPUs, on the
// two-node layout (CPUs 0-1 on node 0, 2-3 on node 1):
//   - SmpStress: threads as CPUs allocate pages, kmalloc objects and vmalloc
//     areas at once and pass them to each other to free; afterwards every
//     counter is back where it started and every checker is clean;
//   - SmpInterleaving: a RapidCheck property that runs a generated command
//     sequence per CPU, interleaved on one thread by a generated schedule
//     (host_set_cpu between commands), against a model. RapidCheck has no
//     parallel state-machine testing, and this form is deterministic and
//     shrinks to a minimal schedule.
// Every object carries a stamp checked before it is freed, so that memory
// handed to two owners at once shows.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <atomic>
#include <mutex>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "proptest/vmalloc_fixture.h"

namespace {

using namespace slabt;

constexpr unsigned SMP_CPUS = 4;  // the two_nodes layout's

// ================================================================ items

enum class kind : u8 { pages, kmalloc, vmalloc };

// One allocation. size: the order for pages, bytes for kmalloc, pages for vmalloc.
struct item {
  kind k;
  unsigned size;
  uintptr_t addr;  // 0: the allocation failed
  u64 serial;      // the stamp
};

// The stamp: the serial in the first word, then a byte made from it.
void stamp(void *p, size_t n, u64 serial) {
  memset(p, int(serial % 251) | 1, n);
  if (n >= 8) memcpy(p, &serial, 8);
}

bool stamped(const void *p, size_t n, u64 serial) {
  if (n < 8) return bytes_are(p, n, u8(serial % 251) | 1);
  u64 first;
  memcpy(&first, p, 8);
  return first == serial && bytes_are(static_cast<const u8 *>(p) + 8, n - 8, u8(serial % 251) | 1);
}

// Stamps (or checks) every page of a vmalloc area through the page table,
// each with its own serial.
bool vmalloc_stamp(vmalloc_fixture &f, const item &it, bool check) {
  for (unsigned i = 0; i < it.size; i++) {
    void *p = f.translate(it.addr + uintptr_t(i) * PAGE_SIZE);
    if (!p) return false;
    if (!check) stamp(p, PAGE_SIZE, it.serial + i);
    else if (!stamped(p, PAGE_SIZE, it.serial + i)) return false;
  }
  return true;
}

constexpr gfp_t SMP_GFP = GFP_KERNEL | __GFP_NOWARN;

// Allocates and stamps an item on this CPU; addr stays 0 if that failed.
item make_item(vmalloc_fixture &f, kind k, unsigned size, u64 serial) {
  mem_system &ms = *f.slab.mm.ms;
  item it{k, size, 0, serial};
  switch (k) {
    case kind::pages:
      it.addr = __get_free_pages(ms, SMP_GFP, size);
      if (it.addr) stamp(reinterpret_cast<void *>(it.addr), PAGE_SIZE << size, serial);
      break;
    case kind::kmalloc:
      it.addr = reinterpret_cast<uintptr_t>(kmalloc(*f.slab.sa, size, SMP_GFP));
      if (it.addr) stamp(reinterpret_cast<void *>(it.addr), size, serial);
      break;
    case kind::vmalloc:
      it.addr = reinterpret_cast<uintptr_t>(vmalloc(*f.vs, size * PAGE_SIZE));
      if (it.addr && !vmalloc_stamp(f, it, false)) it.addr = 0;
      break;
  }
  return it;
}

bool intact(vmalloc_fixture &f, const item &it) {
  switch (it.k) {
    case kind::pages: return stamped(reinterpret_cast<void *>(it.addr), PAGE_SIZE << it.size, it.serial);
    case kind::kmalloc: return stamped(reinterpret_cast<void *>(it.addr), it.size, it.serial);
    case kind::vmalloc: return vmalloc_stamp(f, it, true);
  }
  return false;
}

// Frees the item on this CPU.
void free_item(vmalloc_fixture &f, const item &it) {
  switch (it.k) {
    case kind::pages: free_pages(*f.slab.mm.ms, it.addr, it.size); break;
    case kind::kmalloc: kfree(*f.slab.sa, reinterpret_cast<void *>(it.addr)); break;
    case kind::vmalloc: vfree(*f.vs, reinterpret_cast<void *>(it.addr)); break;
  }
}

// ================================================================ balance

// Everything that must be as it was once all items are freed, after
// settling (caches shrunk, per-CPU lists drained). Per node it is free
// pages plus slab pages: the slab objects that outlive the test (the vmap
// tree's last node, kmem_cache structs) may have been reallocated by a CPU
// of the other node, which moves their slab page there.
struct rest {
  std::vector<long> node_pages;  // per node: free pages of its zones + its slab pages
  unsigned long free_and_pcp, slab_reclaimable, slab_unreclaimable;
  unsigned long tables, busy_areas, free_areas, vmalloc_pages;
  bool operator==(const rest &) const = default;
};

std::ostream &operator<<(std::ostream &os, const rest &r) {
  os << "node pages";
  for (long n : r.node_pages) os << " " << n;
  return os << ", free+pcp " << r.free_and_pcp << " slab " << r.slab_reclaimable << "+" << r.slab_unreclaimable
            << " tables " << r.tables << " areas " << r.busy_areas << " busy " << r.free_areas << " free"
            << " vmalloc_pages " << r.vmalloc_pages;
}

rest at_rest(vmalloc_fixture &f) {
  page_state s = settle(f.slab);
  rest r{{}, s.free_and_pcp, s.slab_reclaimable, s.slab_unreclaimable, pgtable_count_tables(f.pt),
         f.vs->space.nr_busy, f.vs->space.nr_free, vmalloc_used_pages(*f.vs)};
  for_each_online_pgdat(*f.slab.mm.ms, pgdat) {
    long n = node_page_state_snapshot(pgdat, NR_SLAB_RECLAIMABLE) + node_page_state_snapshot(pgdat, NR_SLAB_UNRECLAIMABLE);
    for_each_zone_of(pgdat, z) n += zone_page_state_snapshot(z, NR_FREE_PAGES) + zone_page_state_snapshot(z, NR_PCP_PAGES);
    r.node_pages.push_back(n);
  }
  return r;
}

// A vmalloc fixture at rest: one vmalloc/vfree first, because the first
// vfree replaces the space's built-in node by a kmalloc'ed one for good.
int build_smp(vmalloc_fixture &f) {
  if (int err = f.build(layout_kind::two_nodes)) return err;
  vfree(*f.vs, vmalloc(*f.vs, 1));
  return 0;
}

struct cpu_reset {
  ~cpu_reset() { host_set_cpu(0); }
};

// ================================================================ threads

// Three CPUs (1 on node 0, 2 and 3 on node 1) allocate and free pages of
// orders 0-4, kmalloc objects of 8 bytes to 16 KiB (past the largest cache)
// and vmalloc areas of 1-8 pages, hand some to a shared pool from which any
// CPU frees them, and now and then drain every CPU's page lists or shrink a
// kmalloc cache under the others' feet. Nothing fails, no stamp is damaged,
// nothing is reported, and once everything is freed (CPU 0 frees what is
// left in the pool) every counter balances and the checkers are clean.
TEST(SmpStress, MixedAllocationsPassedBetweenCpusBalance) {
  cpu_reset reset;
  vmalloc_fixture f;
  ASSERT_EQ(build_smp(f), 0);
  mem_system &ms = *f.slab.mm.ms;
  slab_allocator &sa = *f.slab.sa;
  ASSERT_EQ(ms.nr_cpus, SMP_CPUS);
  const rest initial = at_rest(f);
  ASSERT_EQ(f.check(), "");

  constexpr unsigned workers = 3, ops = 4000, held_max = 32, pool_max = 48;
  std::atomic<int> corrupted{0}, failed{0};
  std::atomic<unsigned long> made{0}, pooled{0};
  std::atomic<u64> serials{1};
  std::mutex pool_lock;
  std::vector<item> pool;  // made on one CPU, freed on whichever takes it
  auto release = [&](const item &it) {
    if (!intact(f, it)) corrupted++;
    free_item(f, it);
  };
  auto worker = [&](unsigned cpu) {
    host_set_cpu(cpu);
    std::mt19937 rng(cpu * 7919 + 3);
    std::vector<item> mine;
    for (unsigned i = 0; i < ops; i++) {
      unsigned r = rng() % 100;
      if (mine.empty() || (r < 45 && mine.size() < held_max)) {
        unsigned what = rng() % 100;
        kind k = what < 35 ? kind::pages : what < 80 ? kind::kmalloc : kind::vmalloc;
        unsigned size = k == kind::pages     ? (rng() % 3 ? 0 : 1 + rng() % 4)
                        : k == kind::kmalloc ? (rng() % 10 ? 8 + rng() % 1017 : 1025 + rng() % 15360)
                                             : 1 + rng() % 8;
        item it = make_item(f, k, size, serials++);
        if (!it.addr) {
          failed++;
          continue;
        }
        mine.push_back(it);
        made++;
      } else if (r < 80) {
        size_t at = rng() % mine.size();
        release(mine[at]);
        mine[at] = mine.back();
        mine.pop_back();
      } else if (r < 97) {
        std::unique_lock<std::mutex> g(pool_lock);
        if (r < 90 && pool.size() < pool_max) {
          pool.push_back(mine.back());
          mine.pop_back();
          pooled++;
        } else if (!pool.empty()) {
          item it = pool.back();
          pool.pop_back();
          g.unlock();
          release(it);
        }
      } else if (cpu == 1) {
        drain_all_pages(ms);
      } else {
        kmem_cache_shrink(sa.kmalloc_caches[KMALLOC_NORMAL][kmalloc_index(64)]);
      }
    }
    for (const item &it : mine) release(it);
  };
  std::vector<std::thread> threads;
  for (unsigned c = 1; c <= workers; c++) threads.emplace_back(worker, c);
  for (std::thread &t : threads) t.join();
  host_set_cpu(0);
  for (const item &it : pool) release(it);

  EXPECT_EQ(corrupted.load(), 0);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(made.load(), workers * ops / 4);  // a third of the steps allocate even with the pool always full
  EXPECT_GT(pooled.load(), 0ul);
  EXPECT_EQ(sa.errors, 0ul);
  EXPECT_EQ(ms.bad_pages, 0ul);
  EXPECT_EQ(f.vs->errors, 0ul);
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(at_rest(f), initial);
  EXPECT_EQ(f.check(), "");
}

// ================================================================ interleaving

enum class op : u8 { alloc_pages, kmalloc, vmalloc, free_own, pass, take, drain_local, drain_all, shrink };

// One CPU's next step. arg picks the order / size / page count, pick which
// held (or pooled) item, modulo how many there are when it runs.
struct cpu_cmd {
  op o;
  unsigned arg, pick;
  cpu_cmd(op o_, unsigned arg_, unsigned pick_) : o(o_), arg(arg_), pick(pick_) {}
};

std::ostream &operator<<(std::ostream &os, const cpu_cmd &c) {
  static const char *const names[] = {"alloc_pages", "kmalloc", "vmalloc", "free_own", "pass",
                                      "take",        "drain_local", "drain_all", "shrink"};
  return os << names[int(c.o)] << "(" << c.arg << "," << c.pick << ")";
}

rc::Gen<cpu_cmd> gen_cmd() {
  return rc::gen::construct<cpu_cmd>(
      rc::gen::weightedElement<op>({{4, op::alloc_pages},
                                    {4, op::kmalloc},
                                    {2, op::vmalloc},
                                    {6, op::free_own},
                                    {3, op::pass},
                                    {3, op::take},
                                    {1, op::drain_local},
                                    {1, op::drain_all},
                                    {1, op::shrink}}),
      rc::gen::inRange(0u, 1000u), rc::gen::inRange(0u, 1000u));
}

// What the machine must agree with: who holds which item.
struct smp_model {
  std::vector<item> held[SMP_CPUS];
  std::vector<item> pool;
  u64 serial = 1;
  unsigned remote_frees = 0;  // takes of a kmalloc object whose slab another CPU owned

  template <class F>
  void for_each(F fn) const {
    for (const auto &v : held)
      for (const item &it : v) fn(it);
    for (const item &it : pool) fn(it);
  }
};

// Allocated pages that no slab, page table or vmalloc area accounts for:
// the page items, plus a constant.
long unexplained_pages(vmalloc_fixture &f) {
  const mem_system &ms = *f.slab.mm.ms;
  long allocated = 0;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) allocated += zone_page_state_snapshot(z, NR_ZONE_ALLOCATED);
  return allocated - long(global_node_page_state_snapshot(ms, NR_SLAB_RECLAIMABLE)) -
         long(global_node_page_state_snapshot(ms, NR_SLAB_UNRECLAIMABLE)) - long(pgtable_count_tables(f.pt)) -
         long(f.lazy_table_pages()) -
         long(vmalloc_used_pages(*f.vs));
}

// Runs one command on `cpu`. Returns "" or what went wrong.
std::string run_cmd(vmalloc_fixture &f, smp_model &m, unsigned cpu, const cpu_cmd &c) {
  mem_system &ms = *f.slab.mm.ms;
  std::vector<item> &mine = m.held[cpu];
  op o = c.o;
  // Bounded holdings: a CPU with many items frees one instead.
  if ((o == op::alloc_pages || o == op::kmalloc || o == op::vmalloc) && mine.size() >= 16) o = op::free_own;
  switch (o) {
    case op::alloc_pages:
    case op::kmalloc:
    case op::vmalloc: {
      kind k = o == op::alloc_pages ? kind::pages : o == op::kmalloc ? kind::kmalloc : kind::vmalloc;
      unsigned size = k == kind::pages ? c.arg % 5 : k == kind::kmalloc ? 1 + c.arg * 13 : 1 + c.arg % 6;
      item it = make_item(f, k, size, m.serial);
      m.serial += 8;
      if (!it.addr) return "allocation failed";
      // Plenty of memory on every node: pages come from this CPU's node.
      if (k == kind::pages && page_to_nid(virt_to_page(ms, reinterpret_cast<void *>(it.addr))) != ms.cpu_to_node[cpu])
        return "pages from a remote node";
      mine.push_back(it);
      return "";
    }
    case op::free_own:
    case op::take: {
      std::vector<item> &from = o == op::free_own ? mine : m.pool;
      if (from.empty()) return "";
      size_t at = c.pick % from.size();
      item it = from[at];
      from.erase(from.begin() + long(at));
      if (!intact(f, it)) return "stamp damaged";
      // A kmalloc object whose slab another CPU owns: a remote free, which
      // leaves the object marked in the slab's remote bitmap, held by
      // nobody, until its owner takes it back.
      const void *obj = reinterpret_cast<const void *>(it.addr);
      page *slab = it.k == kind::kmalloc ? addr_to_slab(ms, obj) : nullptr;
      const unsigned owner = slab ? READ_ONCE(slab->slab_frozen) : 0;
      free_item(f, it);
      if (owner && owner != cpu + 1) {
        m.remote_frees++;
        if (ksize(*f.slab.sa, obj) != 0) return "a remotely freed object is still held";
        if (READ_ONCE(slab->slab_frozen) == owner &&
            !test_bit(remote_map(ms, slab->slab_cache, slab), unsigned(slab_obj_index(ms, slab->slab_cache, slab, obj))))
          return "a remote free left no remote bit on a slab its owner still has";
      }
      return "";
    }
    case op::pass:
      if (!mine.empty()) {
        size_t at = c.pick % mine.size();
        m.pool.push_back(mine[at]);
        mine.erase(mine.begin() + long(at));
      }
      return "";
    case op::drain_local: drain_local_pages(ms); return "";
    case op::drain_all: drain_all_pages(ms); return "";
    case op::shrink:
      kmem_cache_shrink(f.slab.sa->kmalloc_caches[KMALLOC_NORMAL][c.arg % NR_KMALLOC_SIZES]);
      return "";
  }
  return "unknown command";
}

// The machine against the model between rounds.
void check_round(vmalloc_fixture &f, const smp_model &m, long base_unexplained, unsigned long base_busy) {
  std::string report = f.check();
  RC_LOG() << report;
  RC_ASSERT(report.empty());
  long page_pages = 0;
  unsigned long vm_pages = 0, vm_areas = 0;
  bool all_intact = true;
  m.for_each([&](const item &it) {
    all_intact = all_intact && intact(f, it);
    if (it.k == kind::pages) page_pages += long(1) << it.size;
    if (it.k == kind::vmalloc) vm_pages += it.size, vm_areas++;
  });
  RC_ASSERT(all_intact);
  RC_ASSERT(vmalloc_used_pages(*f.vs) == vm_pages);
  RC_ASSERT(f.vs->space.nr_busy == base_busy + vm_areas);
  RC_ASSERT(unexplained_pages(f) == base_unexplained + page_pages);
}

// Four CPUs' command sequences, interleaved as the schedule says (each entry
// runs that CPU's next command; the rest run round-robin at the end), keep
// the model every 8 steps: the checkers are clean, every held or pooled
// item keeps its stamp, vmalloc's page and area counts and the pages no one
// else accounts for match the items. Freeing everything restores the
// starting state exactly.
RC_GTEST_PROP(SmpInterleaving, CpusCommandsKeepTheModel, ()) {
  const auto cmds = *rc::gen::container<std::vector<std::vector<cpu_cmd>>>(
      SMP_CPUS, rc::gen::container<std::vector<cpu_cmd>>(gen_cmd()));
  const auto schedule = *rc::gen::container<std::vector<unsigned>>(rc::gen::inRange(0u, SMP_CPUS));
  cpu_reset reset;
  vmalloc_fixture f;
  RC_ASSERT(build_smp(f) == 0);
  const rest initial = at_rest(f);
  const long base_unexplained = unexplained_pages(f);
  const unsigned long base_busy = f.vs->space.nr_busy;
  smp_model m;
  size_t next[SMP_CPUS] = {};
  unsigned steps = 0;
  auto step = [&](unsigned cpu) {
    if (next[cpu] >= cmds[cpu].size()) return;
    host_set_cpu(cpu);
    std::string err = run_cmd(f, m, cpu, cmds[cpu][next[cpu]++]);
    RC_LOG() << "CPU " << cpu << ": " << err;
    RC_ASSERT(err.empty());
    if (++steps % 8 == 0) check_round(f, m, base_unexplained, base_busy);
  };
  for (unsigned cpu : schedule) step(cpu);
  for (bool more = true; more;) {
    more = false;
    for (unsigned cpu = 0; cpu < SMP_CPUS; cpu++) {
      more = more || next[cpu] < cmds[cpu].size();
      step(cpu);
    }
  }
  check_round(f, m, base_unexplained, base_busy);
  RC_CLASSIFY(m.remote_frees > 0, "a remote free into another CPU's slab");
  for (unsigned cpu = 0; cpu < SMP_CPUS; cpu++) {
    host_set_cpu(cpu);
    for (const item &it : m.held[cpu]) free_item(f, it);
  }
  host_set_cpu(0);
  for (const item &it : m.pool) free_item(f, it);
  RC_ASSERT(at_rest(f) == initial);
  RC_ASSERT(f.check().empty());
}

}  // namespace

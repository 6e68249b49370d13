// In-kernel SMP tests: every hart up with its own per-CPU area, cross-calls
// and work reaching each CPU, the allocators under load from all CPUs at
// once (objects freed on another CPU than the one that allocated them),
// remote TLB shootdown, and NUMA placement. On one CPU the cases that need
// two skip.
#include <asm/csr.h>
#include <asm/traps.h>

#include "arch/arch.h"
#include "kernel/boot.h"
#include "kernel/errno.h"
#include "kernel/ktest.h"
#include "kernel/ktest_mm.h"
#include "kernel/ktime.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "mm/check.h"
#include "mm/page_alloc.h"
#include "mm/slab.h"
#include "mm/vmalloc.h"

namespace {

mem_system &ms() { return *system_mem; }

unsigned first_other_cpu() {
  for_each_cpu(cpu, cpu_online_mask)
    if (cpu != smp_processor_id()) return cpu;
  return NR_CPUS;
}

// ---- the CPUs and their areas ------------------------------------------------------------

struct whoami {
  unsigned cpu;
  uintptr_t tp, sscratch;
  unsigned long hits;
};
whoami seen[NR_CPUS];

void record_whoami(void *) {
  unsigned cpu = smp_processor_id();
  uintptr_t tp;
  asm volatile("mv %0, tp" : "=r"(tp));
  whoami &w = seen[cpu & (NR_CPUS - 1)];
  w.cpu = cpu;
  w.tp = tp;
  w.sscratch = csr_read(sscratch);
  __atomic_fetch_add(&w.hits, 1, __ATOMIC_RELAXED);
}

// Every enabled hart of the device tree is a CPU, online, with distinct hart
// ids; on each, tp and sscratch point at its own area, whose first word is
// its number.
void every_hart_online_with_own_area(ktest *t) {
  unsigned enabled = 0;
  for (u32 i = 0; i < boot_params.nr_cpus; i++) enabled += boot_params.cpus[i].enabled;
  KTEST_EXPECT_EQ(t, nr_cpu_ids, enabled < NR_CPUS ? enabled : NR_CPUS);
  KTEST_EXPECT_EQ(t, num_online_cpus(), nr_cpu_ids);
  KTEST_EXPECT_EQ(t, cpu_areas[0].hartid, boot_hartid);
  memset(seen, 0, sizeof(seen));
  on_each_cpu(record_whoami, nullptr, true);
  for (unsigned cpu = 0; cpu < nr_cpu_ids; cpu++) {
    KTEST_EXPECT_EQ(t, seen[cpu].hits, 1ul);
    KTEST_EXPECT_EQ(t, seen[cpu].cpu, cpu);
    KTEST_EXPECT_EQ(t, seen[cpu].tp, reinterpret_cast<uintptr_t>(&cpu_areas[cpu]));
    KTEST_EXPECT_EQ(t, seen[cpu].sscratch, reinterpret_cast<uintptr_t>(&cpu_areas[cpu]));
    KTEST_EXPECT_EQ(t, cpu_areas[cpu].cpu, cpu);
    for (unsigned other = 0; other < cpu; other++) KTEST_EXPECT_NE(t, cpu_areas[other].hartid, cpu_areas[cpu].hartid);
  }
}

// ---- cross-calls and work ------------------------------------------------------------------

unsigned long calls_on[NR_CPUS];

void count_call(void *) { __atomic_fetch_add(&calls_on[smp_processor_id() & (NR_CPUS - 1)], 1, __ATOMIC_RELAXED); }

// Each way of calling reaches exactly the CPUs it names, once per call; an
// offline CPU is refused.
void cross_calls_reach_each_cpu_once(ktest *t) {
  constexpr unsigned ROUNDS = 50;
  memset(calls_on, 0, sizeof(calls_on));
  for (unsigned i = 0; i < ROUNDS; i++) on_each_cpu(count_call, nullptr, true);
  for (unsigned cpu = 0; cpu < nr_cpu_ids; cpu++) KTEST_EXPECT_EQ(t, calls_on[cpu], ROUNDS);

  memset(calls_on, 0, sizeof(calls_on));
  for (unsigned cpu = 0; cpu < nr_cpu_ids; cpu++) KTEST_EXPECT_EQ(t, smp_call_function_single(cpu, count_call, nullptr, true), 0);
  // Without waiting: the calls still all arrive (the next call to a CPU
  // waits for the previous one's slot).
  for (unsigned i = 0; i < ROUNDS; i++) smp_call_function_many(cpu_online_mask, count_call, nullptr, false);
  on_each_cpu(count_call, nullptr, true);  // ordered after the ones above, per target
  for (unsigned cpu = 0; cpu < nr_cpu_ids; cpu++)
    KTEST_EXPECT_EQ(t, calls_on[cpu], cpu == smp_processor_id() ? 2ul : ROUNDS + 2);
  KTEST_EXPECT_EQ(t, smp_call_function_single(nr_cpu_ids, count_call, nullptr, true), -ENXIO);
}

struct work_probe {
  work_struct work;
  unsigned ran_on;
  unsigned long runs;
};

void note_cpu(work_struct *w) {
  work_probe *p = reinterpret_cast<work_probe *>(w);
  p->ran_on = smp_processor_id();
  p->runs++;
}

// Work runs once, on the CPU it was queued on; queueing it again while it is
// pending changes nothing.
void work_runs_on_its_cpu(ktest *t) {
  for (unsigned cpu = 0; cpu < nr_cpu_ids; cpu++) {
    work_probe p{{nullptr, note_cpu, WORK_IDLE}, NR_CPUS, 0};
    KTEST_EXPECT_TRUE(t, queue_work_on(cpu, &p.work));
    bool again = queue_work_on(cpu, &p.work);  // may already have run on another CPU
    flush_work(&p.work);
    KTEST_EXPECT_EQ(t, p.ran_on, cpu);
    KTEST_EXPECT_EQ(t, p.runs, again ? 2ul : 1ul);
    KTEST_EXPECT_EQ(t, p.work.state, WORK_IDLE);
  }
  work_probe off{{nullptr, note_cpu, WORK_IDLE}, NR_CPUS, 0};
  KTEST_EXPECT_FALSE(t, queue_work_on(nr_cpu_ids, &off.work));
  KTEST_EXPECT_EQ(t, off.work.state, WORK_IDLE);
}

// ---- the allocators under load from every CPU ---------------------------------------

enum class item_kind : u8 { pages, kmalloc, vmalloc };

struct item {
  item_kind kind;
  u8 fill;
  u8 owner;  // the CPU that allocated it
  unsigned order;  // pages
  size_t size;     // bytes
  void *addr;
};

// Objects on their way from one CPU to another.
struct handoff_pool {
  spinlock_t lock;
  unsigned n;
  item items[32];
};

struct stress_cpu {
  work_struct work;  // first: the work is the context
  unsigned cpu;
  u32 rng;
  unsigned long ops, corrupted, failed, cross_frees;
};

handoff_pool pool;
stress_cpu stress[NR_CPUS];
// Operations over all CPUs together: a TLB shootdown (a lazy purge's, a
// migration's) waits for each other CPU, which QEMU runs as host threads;
// with 8 harts on 2 host cores a shootdown waits for host scheduling, so
// more CPUs get fewer operations each.
constexpr unsigned STRESS_TOTAL_OPS = 1600;
unsigned stress_ops() { return STRESS_TOTAL_OPS / nr_cpu_ids; }
constexpr unsigned LOCAL_MAX = 12;

u32 next_random(u32 &x) {
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

size_t item_bytes(const item &it) { return it.kind == item_kind::pages ? PAGE_SIZE << it.order : it.size; }

bool item_intact(const item &it) {
  const u8 *p = static_cast<const u8 *>(it.addr);
  for (size_t i = 0; i < item_bytes(it); i++)
    if (p[i] != it.fill) return false;
  return true;
}

bool item_alloc(stress_cpu &s, item &it) {
  u32 r = next_random(s.rng);
  it.owner = u8(s.cpu);
  it.fill = u8(s.cpu * 37 + s.ops) | 1;
  switch (r % 3) {
    case 0:
      it.kind = item_kind::pages;
      it.order = r % 16 == 0 ? 4 : (r >> 4) % 4;
      if (page *p = alloc_pages(GFP_KERNEL | __GFP_NOWARN, it.order)) it.addr = page_address(p);
      else it.addr = nullptr;
      break;
    case 1:
      it.kind = item_kind::kmalloc;
      it.size = r % 32 == 1 ? 9000 + (r >> 8) % 8000 : 1 + (r >> 8) % 2048;
      it.addr = kmalloc(it.size, GFP_KERNEL | __GFP_NOWARN);
      break;
    default:
      it.kind = item_kind::vmalloc;
      it.size = PAGE_SIZE * (1 + (r >> 4) % 5) - (r >> 8) % 64;
      it.addr = vmalloc(it.size);
      break;
  }
  if (!it.addr) return false;
  memset(it.addr, it.fill, item_bytes(it));
  return true;
}

void item_free(stress_cpu &s, const item &it) {
  if (!item_intact(it)) s.corrupted++;
  if (it.owner != s.cpu) s.cross_frees++;
  switch (it.kind) {
    case item_kind::pages: free_pages(reinterpret_cast<unsigned long>(it.addr), it.order); break;
    case item_kind::kmalloc: kfree(it.addr); break;
    case item_kind::vmalloc: vfree(it.addr); break;
  }
}

void stress_work(work_struct *w) {
  stress_cpu &s = *reinterpret_cast<stress_cpu *>(w);
  item mine[LOCAL_MAX];
  unsigned n = 0;
  for (unsigned op = 0, ops = stress_ops(); op < ops; op++, s.ops++) {
    u32 r = next_random(s.rng) % 100;
    if (n == 0 || (r < 50 && n < LOCAL_MAX)) {
      if (item_alloc(s, mine[n])) n++;
      else s.failed++;
    } else if (r < 80) {
      unsigned k = next_random(s.rng) % n;
      item_free(s, mine[k]);
      mine[k] = mine[--n];
    } else {
      spin_lock_guard<spinlock_t> g(pool.lock);
      if (r < 90 && pool.n < ARRAY_SIZE(pool.items)) {
        pool.items[pool.n++] = mine[--n];
      } else if (pool.n) {
        item it = pool.items[--pool.n];
        item_free(s, it);
      }
    }
  }
  while (n) item_free(s, mine[--n]);
}

// Every CPU allocates and frees pages of mixed orders, kmalloc objects and
// vmalloc areas at once, handing some to other CPUs to free. Nothing is
// corrupted or fails, and afterwards every page, slab and vmalloc counter is
// back where it started and the checkers find nothing.
void allocators_under_load_from_every_cpu(ktest *t) {
  // The vmap free tree always holds a node; after the first vfree it may be
  // a kmalloc'd one instead of the one built in. One cycle first, so that
  // the baseline already has that.
  vfree(vmalloc(PAGE_SIZE));
  const free_state before = settle();
  // Earlier suites provoke reports on purpose: only new ones count here.
  const unsigned long bad_pages = ms().bad_pages, slab_errors = system_slab->errors,
                      vmalloc_errors = system_vmalloc->errors;
  const unsigned long vmalloc_before = vmalloc_used_pages(*system_vmalloc);
  const unsigned long busy_before = system_vmalloc->space.nr_busy;
  spin_lock_init(&pool.lock);
  pool.n = 0;
  for (unsigned cpu = 0; cpu < nr_cpu_ids; cpu++) {
    stress[cpu] = {{nullptr, stress_work, WORK_IDLE}, cpu, 0x9e3779b9u * (cpu + 1), 0, 0, 0, 0};
    KTEST_EXPECT_TRUE(t, queue_work_on(cpu, &stress[cpu].work));
  }
  for (unsigned cpu = 0; cpu < nr_cpu_ids; cpu++) flush_work(&stress[cpu].work);
  stress_cpu &me = stress[smp_processor_id()];
  while (pool.n) item_free(me, pool.items[--pool.n]);

  unsigned long cross = 0;
  for (unsigned cpu = 0; cpu < nr_cpu_ids; cpu++) {
    const stress_cpu &s = stress[cpu];
    KTEST_EXPECT_EQ(t, s.ops, stress_ops());
    KTEST_EXPECT_EQ(t, s.corrupted, 0ul);
    KTEST_EXPECT_EQ(t, s.failed, 0ul);
    cross += s.cross_frees;
  }
  if (nr_cpu_ids > 1) KTEST_EXPECT_GE(t, cross, 1ul);
  KTEST_EXPECT_EQ(t, vmalloc_used_pages(*system_vmalloc), vmalloc_before);
  KTEST_EXPECT_EQ(t, system_vmalloc->space.nr_busy, busy_before);
  expect_same_free_state(t, before, settle());
  KTEST_EXPECT_EQ(t, ms().bad_pages, bad_pages);
  KTEST_EXPECT_EQ(t, system_slab->errors, slab_errors);
  KTEST_EXPECT_EQ(t, system_vmalloc->errors, vmalloc_errors);
  static char buf[1024];
  check_report r = make_check_report(buf, sizeof(buf));
  unsigned violations = check_page_alloc(ms(), r) + check_slab(*system_slab, r) + check_vmalloc(*system_vmalloc, r);
  if (violations) ktest_fail(t, __FILE__, __LINE__, "%u violations:\n%s", violations, buf);
}

// ---- per-CPU lists ---------------------------------------------------------------------------

void fill_own_pcp(void *) {
  page *held[8];
  for (page *&p : held) p = alloc_pages(GFP_KERNEL, 0);
  for (page *p : held)
    if (p) __free_pages(p, 0);
}

// drain_all_pages empties the lists of every CPU, not just its own.
void drain_all_pages_empties_every_cpu(ktest *t) {
  for (unsigned cpu = 0; cpu < nr_cpu_ids; cpu++) KTEST_EXPECT_TRUE(t, run_on(cpu, fill_own_pcp, nullptr));
  unsigned long cpus_with_pages = 0;
  for (unsigned cpu = 0; cpu < nr_cpu_ids; cpu++) {
    unsigned long held = 0;
    for_each_online_pgdat(ms(), pgdat) for_each_zone_of(pgdat, z) held += __atomic_load_n(&z->pcp[cpu].count, __ATOMIC_RELAXED);
    cpus_with_pages += held > 0;
  }
  KTEST_EXPECT_EQ(t, cpus_with_pages, nr_cpu_ids);
  drain_all_pages(ms());
  KTEST_EXPECT_EQ(t, nr_free_pcp_pages(ms()), 0ul);
}

// ---- per-CPU slabs -------------------------------------------------------------------------

struct remote_objects {
  kmem_cache *s;
  void *obj[32];
};

void alloc_here(void *arg) {
  remote_objects &r = *static_cast<remote_objects *>(arg);
  for (void *&o : r.obj) o = kmem_cache_alloc(r.s, GFP_KERNEL);
}

// Objects one CPU allocated and this one frees are remote frees: they wait
// in the other CPU's slab, not on its freelist, until a stop_machine (here
// the checker's, then kmem_cache_destroy's) holds that CPU and its slab goes
// back to the node with them; the cache is then empty and goes.
void slab_remote_frees_come_back(ktest *t) {
  unsigned other = first_other_cpu();
  if (other == NR_CPUS) return ktest_skip(t, "one CPU");
  const unsigned long errors = system_slab->errors;
  static remote_objects r;
  r.s = kmem_cache_create(*system_slab, "ktest_remote", 100, 0, 0, nullptr);
  KTEST_ASSERT_TRUE(t, r.s != nullptr);
  KTEST_ASSERT_TRUE(t, run_on(other, alloc_here, &r));
  page *slab = r.s->cpu_slab[other].slab;
  KTEST_ASSERT_TRUE(t, slab != nullptr);
  for (void *o : r.obj) KTEST_ASSERT_TRUE(t, o != nullptr);
  const unsigned inuse = slab->inuse;
  for (void *o : r.obj) kmem_cache_free(r.s, o);
  KTEST_EXPECT_EQ(t, slab->inuse, inuse);  // the owner has not taken them back
  KTEST_EXPECT_TRUE(t, __atomic_load_n(&slab->slab_remote, __ATOMIC_RELAXED) != 0);
  KTEST_EXPECT_TRUE(t, ksize(r.obj[0]) == 0);
  static char buf[1024];
  check_report rep = make_check_report(buf, sizeof(buf));
  if (check_slab(*system_slab, rep)) ktest_fail(t, __FILE__, __LINE__, "check_slab:\n%s", buf);
  KTEST_EXPECT_EQ(t, kmem_cache_destroy(r.s), 0);
  KTEST_EXPECT_EQ(t, system_slab->errors, errors);
}

// ---- remote TLB shootdown ------------------------------------------------------------------

struct remote_read {
  const void *addr;
  long ret;
  u64 val;
  u64 cause, badaddr;
};

void read_here(void *arg) {
  remote_read &r = *static_cast<remote_read *>(arg);
  r.ret = probe_read_u64(r.addr, &r.val);
  r.cause = this_cpu_probe_fault().cause;
  r.badaddr = this_cpu_probe_fault().badaddr;
}

// Another CPU reads a vmalloc page (so its TLB holds the translation);
// after vfree here and vm_unmap_aliases (the lazy purge's flush, which vfree
// alone may leave for later), the shootdown has reached it: its next read
// faults. Without the purge's flush the other CPU would still read the old
// frame through its TLB.
void remote_cpu_faults_after_vfree(ktest *t) {
  unsigned other = first_other_cpu();
  if (other == NR_CPUS) return ktest_skip(t, "one CPU");
  u64 *p = static_cast<u64 *>(vmalloc(PAGE_SIZE));
  KTEST_ASSERT_TRUE(t, p != nullptr);
  *p = 0x5eedfacecafef00dul;
  remote_read r{p, -1, 0, 0, 0};
  KTEST_EXPECT_EQ(t, smp_call_function_single(other, read_here, &r, true), 0);
  KTEST_EXPECT_EQ(t, r.ret, 0l);
  KTEST_EXPECT_EQ(t, r.val, 0x5eedfacecafef00dul);
  unsigned long flushes = __atomic_load_n(&nr_remote_tlb_flushes, __ATOMIC_RELAXED);
  u64 start = ktime_get_ns();
  vfree(p);
  vm_unmap_aliases();
  printk(KERN_INFO "        # %s: vfree and the purge's shootdown of %u other CPUs: %lu us\n", t->name,
         num_online_cpus() - 1, (ktime_get_ns() - start) / 1000);
  KTEST_EXPECT_GE(t, __atomic_load_n(&nr_remote_tlb_flushes, __ATOMIC_RELAXED), flushes + 1);
  r = {p, 0, 0, 0, 0};
  smp_call_function_single(other, read_here, &r, true);
  KTEST_EXPECT_EQ(t, r.ret, long(-EFAULT));
  KTEST_EXPECT_EQ(t, r.cause, u64(EXC_LOAD_PAGE_FAULT));
  KTEST_EXPECT_EQ(t, r.badaddr, reinterpret_cast<u64>(p));
}

// ---- NUMA --------------------------------------------------------------------------------------

struct node_probe {
  int nid;           // the CPU's node
  int first_nid;     // of a single page allocated there
  unsigned local_blocks;  // MAX_PAGE_ORDER blocks from the own node before the first foreign one
  int fallback_nid;  // the node of that first foreign block (-1: none)
  bool thisnode_ok;  // __GFP_THISNODE never gave another node's memory
};

// The 4 MiB blocks a probe holds: 16 GiB, more than any machine here.
constexpr unsigned MAX_BLOCKS = 4096;
page *probe_blocks[MAX_BLOCKS];

void probe_node(void *arg) {
  node_probe &n = *static_cast<node_probe *>(arg);
  n.nid = ms().cpu_to_node[smp_processor_id()];
  page *one = alloc_pages(GFP_KERNEL, 0);
  n.first_nid = one ? page_to_nid(one) : -1;
  if (one) __free_pages(one, 0);

  // Take the node's memory in 4 MiB blocks until a block comes from
  // elsewhere: the fallback, which must be the nearest node with memory.
  unsigned held = 0;
  n.local_blocks = 0;
  n.fallback_nid = -1;
  while (held < MAX_BLOCKS) {
    page *p = alloc_pages(GFP_KERNEL | __GFP_NOWARN, MAX_PAGE_ORDER);
    if (!p) break;
    probe_blocks[held++] = p;
    if (page_to_nid(p) != n.nid) {
      n.fallback_nid = page_to_nid(p);
      break;
    }
    n.local_blocks++;
  }
  page *own = alloc_pages_node(n.nid, GFP_KERNEL | __GFP_THISNODE | __GFP_NOWARN, MAX_PAGE_ORDER);
  n.thisnode_ok = !own || page_to_nid(own) == n.nid;
  if (own) __free_pages(own, MAX_PAGE_ORDER);
  while (held) __free_pages(probe_blocks[--held], MAX_PAGE_ORDER);
}

// The distance from nid to the nearest other node with memory.
unsigned nearest_other_distance(int nid) {
  unsigned best = ~0u;
  for_each_online_pgdat(ms(), pgdat)
    if (pgdat->node_id != nid && ms().node_distance[nid][pgdat->node_id] < best)
      best = ms().node_distance[nid][pgdat->node_id];
  return best;
}

// On a CPU of each node, allocations come from that node; when it runs
// short, from the nearest other node (the next in its zonelist); and never
// from another with __GFP_THISNODE.
void allocations_prefer_own_node_then_nearest(ktest *t) {
  int nodes = 0;
  for_each_online_pgdat(ms(), pgdat) nodes++;
  if (nodes < 2) return ktest_skip(t, "one node");
  const free_state before = settle();
  int tested = 0;
  for_each_online_pgdat(ms(), pgdat) {
    unsigned cpu = NR_CPUS;
    for_each_cpu(c, cpu_online_mask)
      if (cpu == NR_CPUS && ms().cpu_to_node[c] == pgdat->node_id) cpu = c;
    if (cpu == NR_CPUS) continue;
    node_probe n{};
    KTEST_EXPECT_TRUE(t, run_on(cpu, probe_node, &n));
    KTEST_EXPECT_EQ(t, n.nid, pgdat->node_id);
    KTEST_EXPECT_EQ(t, n.first_nid, n.nid);
    KTEST_EXPECT_GE(t, n.local_blocks, 1u);
    // Nearest, and among equally near nodes the zonelist's choice (Linux's
    // tie-breaks: fallback_reaches_nodes_nearest_first and the host tests).
    int order[MAX_NUMNODES];
    KTEST_ASSERT_TRUE(t, zonelist_node_order(pgdat, order) >= 2);
    KTEST_EXPECT_EQ(t, n.fallback_nid, order[1]);
    KTEST_ASSERT_TRUE(t, n.fallback_nid >= 0);
    KTEST_EXPECT_EQ(t, unsigned(ms().node_distance[n.nid][n.fallback_nid]), nearest_other_distance(n.nid));
    KTEST_EXPECT_TRUE(t, n.thisnode_ok);
    tested++;
  }
  KTEST_EXPECT_GE(t, tested, 2);
  expect_same_free_state(t, before, settle());
}

struct fallback_probe {
  int nid;                    // the CPU's node
  unsigned nr_nodes;          // nodes with memory: the probe stops once it has seen them all
  int reached[MAX_NUMNODES];  // nodes in the order their first block came
  unsigned nr_reached;
};

// Takes 4 MiB blocks until one has come from every node (or none is left),
// noting the order in which the nodes first gave one; then frees them all.
void probe_fallback_order(void *arg) {
  fallback_probe &f = *static_cast<fallback_probe *>(arg);
  f.nid = ms().cpu_to_node[smp_processor_id()];
  f.nr_reached = 0;
  unsigned held = 0;
  while (held < MAX_BLOCKS && f.nr_reached < f.nr_nodes) {
    page *p = alloc_pages(GFP_KERNEL | __GFP_NOWARN, MAX_PAGE_ORDER);
    if (!p) break;
    probe_blocks[held++] = p;
    bool known = false;
    for (unsigned i = 0; i < f.nr_reached; i++) known |= f.reached[i] == page_to_nid(p);
    if (!known) f.reached[f.nr_reached++] = page_to_nid(p);
  }
  while (held) __free_pages(probe_blocks[--held], MAX_PAGE_ORDER);
}

// As a node's memory runs out, a CPU there gets memory from the other
// nodes in its zonelist's order, and that order is by distance, nearest
// first: on a line of four nodes (10/20/30/40 apart) node 0 is served by
// node 1, then 2, then 3, and node 3 by 2, then 1, then 0. Run from the CPUs
// of the first and the last node.
void fallback_reaches_nodes_nearest_first(ktest *t) {
  unsigned nodes = 0;
  int first = -1, last = -1;
  for_each_online_pgdat(ms(), pgdat) {
    nodes++;
    bool has_cpu = false;
    for_each_cpu(c, cpu_online_mask) has_cpu |= ms().cpu_to_node[c] == pgdat->node_id;
    if (!has_cpu) continue;
    if (first < 0) first = pgdat->node_id;
    last = pgdat->node_id;
  }
  if (nodes < 2) return ktest_skip(t, "one node");
  const free_state before = settle();
  const int probed[] = {first, last};
  for (int nid : probed) {
    unsigned cpu = NR_CPUS;
    for_each_cpu(c, cpu_online_mask)
      if (cpu == NR_CPUS && ms().cpu_to_node[c] == nid) cpu = c;
    fallback_probe f{};
    f.nr_nodes = nodes;
    KTEST_ASSERT_TRUE(t, run_on(cpu, probe_fallback_order, &f));
    int want[MAX_NUMNODES];
    unsigned n = zonelist_node_order(ms().node_data[nid], want);
    KTEST_EXPECT_EQ(t, n, nodes);
    KTEST_EXPECT_EQ(t, f.nr_reached, n);
    for (unsigned i = 0; i < n && i < f.nr_reached; i++) KTEST_EXPECT_EQ(t, f.reached[i], want[i]);
    KTEST_EXPECT_EQ(t, f.reached[0], nid);
    for (unsigned i = 1; i < f.nr_reached; i++)
      KTEST_EXPECT_LE(t, ms().node_distance[nid][f.reached[i - 1]], ms().node_distance[nid][f.reached[i]]);
  }
  expect_same_free_state(t, before, settle());
}

}  // namespace

KTEST_SUITE(smp, KTEST_CASE(every_hart_online_with_own_area), KTEST_CASE(cross_calls_reach_each_cpu_once),
            KTEST_CASE(work_runs_on_its_cpu), KTEST_CASE(allocators_under_load_from_every_cpu),
            KTEST_CASE(drain_all_pages_empties_every_cpu), KTEST_CASE(slab_remote_frees_come_back),
            KTEST_CASE(remote_cpu_faults_after_vfree),
            KTEST_CASE(allocations_prefer_own_node_then_nearest), KTEST_CASE(fallback_reaches_nodes_nearest_first));

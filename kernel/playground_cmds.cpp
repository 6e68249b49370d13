// The monitor's allocation playground: `alloc`, `kmalloc`, `vmalloc` and
// `cache_alloc` (from a cache made with `cache`) take memory and keep it
// under a numbered handle until `free` or `reset`; `churn` runs a
// reproducible random mix of them on every online CPU; `handles` lists the
// live ones. The handle and cache tables are fixed arrays in the kernel's
// data, so nothing is allocated but what the user asks for; a full table is
// refused like any bad input. Every command checks all of its input before
// it changes anything.
// Locking: only the monitor's CPU touches the tables, except during `churn`,
// when each CPU works on its own slice of the handle table (the monitor
// waits for them all before it returns); ids are taken atomically.
#include "kernel/cmdline.h"
#include "kernel/monitor.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "mm/gfp.h"
#include "mm/mmzone.h"
#include "mm/page_alloc.h"
#include "mm/slab.h"
#include "mm/vmalloc.h"

namespace {

enum class kind : u8 { none, pages, kmalloc, vmalloc, cache };
constexpr const char *kind_names[] = {"none", "pages", "kmalloc", "vmalloc", "cache"};

struct handle {
  kind k;
  unsigned order;      // pages
  unsigned long size;  // kmalloc, vmalloc: bytes asked for; cache: the object size
  unsigned long id;    // what the user types; 0 for a free slot
  gfp_t gfp;
  page *pg;            // pages
  void *addr;          // kmalloc, vmalloc, cache
  kmem_cache *cache;   // cache
};

constexpr unsigned PLAYGROUND_HANDLES = 512;
handle handles[PLAYGROUND_HANDLES];
unsigned long next_id = 1;  // ids are never reused: an old one is "already freed"

constexpr unsigned long PLAYGROUND_VMALLOC_MAX = 256ul << 20;

// Caches made with `cache`, destroyed by `cache_destroy` or `reset`.
constexpr unsigned PLAYGROUND_CACHES = 8;
kmem_cache *caches[PLAYGROUND_CACHES];

// A slice [lo, hi) of the handle table: all of it for the commands, one per
// CPU for churn.
struct slots {
  unsigned lo, hi;
};
constexpr slots ALL_SLOTS = {0, PLAYGROUND_HANDLES};

handle *free_slot(slots r = ALL_SLOTS) {
  for (unsigned i = r.lo; i < r.hi; i++)
    if (handles[i].k == kind::none) return &handles[i];
  return nullptr;
}

unsigned nr_live(slots r = ALL_SLOTS) {
  unsigned n = 0;
  for (unsigned i = r.lo; i < r.hi; i++) n += handles[i].k != kind::none;
  return n;
}

// Where the memory of a page lives: zone, node and the pageblock's migrate type.
void describe_page(mem_system &ms, const page *p, unsigned long phys_offset) {
  const zone *z = page_zone(ms, p);
  printk("  pfn %#lx phys %#lx zone %s node %d migratetype %s\n", page_to_pfn(ms, p),
         page_to_phys(ms, p) + phys_offset, z->name, z->zone_pgdat->node_id,
         migratetype_names[get_pageblock_migratetype(z, p)]);
}

void describe(mem_system &ms, const handle &h, unsigned long free_before) {
  char flags[160];
  format_gfp(flags, sizeof(flags), h.gfp);
  switch (h.k) {
  case kind::pages:
    printk("handle %lu: pages order %u (%lu KiB) virt %p gfp %s\n", h.id, h.order, (PAGE_SIZE << h.order) >> 10,
           page_address(ms, h.pg), flags);
    describe_page(ms, h.pg, 0);
    break;
  case kind::kmalloc:
    printk("handle %lu: kmalloc %lu bytes (ksize %lu) virt %p gfp %s\n", h.id, h.size, ksize(*system_slab, h.addr),
           h.addr, flags);
    describe_page(ms, virt_to_page(ms, h.addr), reinterpret_cast<uintptr_t>(h.addr) & (PAGE_SIZE - 1));
    break;
  case kind::vmalloc:
    printk("handle %lu: vmalloc %lu bytes (%lu pages) virt %p gfp %s\n", h.id, h.size,
           (h.size + PAGE_SIZE - 1) / PAGE_SIZE, h.addr, flags);
    printk("  first page:");
    describe_page(ms, vmalloc_to_page(*system_vmalloc, h.addr), 0);
    break;
  case kind::cache:
    printk("handle %lu: cache %s object (%lu bytes, stride %u, slab order %u) virt %p gfp %s\n", h.id,
           h.cache->name, h.size, h.cache->size, h.cache->order, h.addr, flags);
    describe_page(ms, virt_to_page(ms, h.addr), reinterpret_cast<uintptr_t>(h.addr) & (PAGE_SIZE - 1));
    break;
  case kind::none:
    break;
  }
  printk("  free pages %lu -> %lu\n", free_before, nr_free_pages(ms));
}

void release(handle &h) {
  switch (h.k) {
  case kind::pages: __free_pages_var(*system_mem, h.pg, h.order); break;
  case kind::kmalloc: kfree(*system_slab, h.addr); break;
  case kind::vmalloc: vfree(*system_vmalloc, h.addr); break;
  case kind::cache: kmem_cache_free(h.cache, h.addr); break;
  case kind::none: break;
  }
  h = handle{};
}

// Takes the memory h describes (kind, order or size, gfp set); on success
// gives it the next id. Returns false with nothing taken.
bool take(handle &h) {
  switch (h.k) {
  case kind::pages: h.pg = alloc_pages_var(*system_mem, h.gfp, h.order); break;
  case kind::kmalloc: h.addr = kmalloc(*system_slab, h.size, h.gfp); break;
  case kind::vmalloc:
    h.addr = (h.gfp & __GFP_MOVABLE) ? vmalloc_movable(*system_vmalloc, h.size) : vmalloc(*system_vmalloc, h.size);
    break;
  case kind::cache: h.addr = kmem_cache_alloc(h.cache, h.gfp); break;
  case kind::none: break;
  }
  if (!h.pg && !h.addr) {
    h = handle{};
    return false;
  }
  h.id = __atomic_fetch_add(&next_id, 1ul, __ATOMIC_RELAXED);
  return true;
}

// The checks every command shares: the allocators are up, a slot is free.
handle *ready_slot(const char *cmd) {
  if (!system_mem || !system_slab || !system_vmalloc) {
    printk("%s: the allocators are not set up\n", cmd);
    return nullptr;
  }
  handle *h = free_slot();
  if (!h) printk("%s: the handle table is full (%u handles); `free` or `reset` some\n", cmd, PLAYGROUND_HANDLES);
  return h;
}

// Parses argv[first..] as GFP flags, GFP_KERNEL when none; false after saying why.
bool parse_gfp_args(const char *cmd, int argc, char **argv, int first, gfp_t *gfp) {
  *gfp = 0;
  for (int i = first; i < argc; i++)
    if (const char *bad = parse_gfp(argv[i], gfp)) {
      int len = 0;
      while (bad[len] && bad[len] != '|') len++;
      printk("%s: unknown GFP flag \"%.*s\" (Linux's names: GFP_KERNEL, __GFP_ZERO, ...)\n", cmd, len, bad);
      return false;
    }
  if (argc <= first) *gfp = GFP_KERNEL;
  if (gfp_zone(*gfp) == ZONE_INVALID || gfp_migratetype(*gfp) == MIGRATE_TYPE_INVALID) {
    printk("%s: contradictory GFP flags (two zone modifiers, or __GFP_MOVABLE with __GFP_RECLAIMABLE)\n", cmd);
    return false;
  }
  return true;
}

// Takes the memory of h (filled in by the caller) into a free slot, and
// reports it.
int commit(const char *cmd, const handle &h) {
  handle *slot = ready_slot(cmd);
  if (!slot) return 1;
  unsigned long before = nr_free_pages(*system_mem);
  *slot = h;
  if (!take(*slot)) {
    printk("%s: the allocation failed (no memory for it)\n", cmd);
    return 1;
  }
  describe(*system_mem, *slot, before);
  return 0;
}

int cmd_alloc(int argc, char **argv) {
  u64 order;
  if (argc < 2 || parse_u64(argv[1], &order)) {
    printk("alloc: usage: alloc ORDER [GFP...]\n");
    return 1;
  }
  if (order > MAX_PAGE_ORDER) {
    printk("alloc: order %llu is too large (at most %u)\n", (unsigned long long)order, MAX_PAGE_ORDER);
    return 1;
  }
  handle h{};
  h.k = kind::pages;
  h.order = unsigned(order);
  if (!parse_gfp_args("alloc", argc, argv, 2, &h.gfp)) return 1;
  return commit("alloc", h);
}

bool size_in_range(const char *cmd, u64 size, unsigned long max) {
  if (size != 0 && size <= max) return true;
  printk("%s: size %llu out of range (1 to %lu)\n", cmd, (unsigned long long)size, max);
  return false;
}

int cmd_kmalloc(int argc, char **argv) {
  u64 size;
  if (argc < 2 || parse_size(argv[1], &size)) {
    printk("kmalloc: usage: kmalloc SIZE [GFP...]\n");
    return 1;
  }
  if (!size_in_range("kmalloc", size, KMALLOC_MAX_SIZE)) return 1;
  handle h{};
  h.k = kind::kmalloc;
  h.size = size;
  if (!parse_gfp_args("kmalloc", argc, argv, 2, &h.gfp)) return 1;
  return commit("kmalloc", h);
}

int cmd_vmalloc(int argc, char **argv) {
  u64 size;
  if (argc < 2 || argc > 3 || parse_size(argv[1], &size) || (argc == 3 && strcmp(argv[2], "movable") != 0)) {
    printk("vmalloc: usage: vmalloc SIZE [movable]\n");
    return 1;
  }
  if (!size_in_range("vmalloc", size, PLAYGROUND_VMALLOC_MAX)) return 1;
  handle h{};
  h.k = kind::vmalloc;
  h.size = size;
  h.gfp = GFP_KERNEL | (argc == 3 ? __GFP_MOVABLE : 0);
  return commit("vmalloc", h);
}

// ---- caches of one's own (kmem_cache_create) ----------------------------------------------

constexpr struct {
  const char *name;
  slab_flags_t flag;
} cache_flag_names[] = {{"SLAB_HWCACHE_ALIGN", SLAB_HWCACHE_ALIGN}, {"SLAB_RED_ZONE", SLAB_RED_ZONE},
                        {"SLAB_POISON", SLAB_POISON},           {"SLAB_RECLAIM_ACCOUNT", SLAB_RECLAIM_ACCOUNT},
                        {"SLAB_CACHE_DMA", SLAB_CACHE_DMA},     {"SLAB_CACHE_DMA32", SLAB_CACHE_DMA32}};

kmem_cache **find_playground_cache(const char *name) {
  for (kmem_cache *&c : caches)
    if (c && strcmp(c->name, name) == 0) return &c;
  return nullptr;
}

// Any cache of the kernel's, the playground's own included.
bool cache_name_taken(const char *name) {
  spin_lock_guard g(system_slab->slab_mutex);
  list_for_each(e, &system_slab->caches) if (strcmp(list_entry(e, kmem_cache, list)->name, name) == 0) return true;
  return false;
}

// slabinfo and /proc lines are split at blanks: a name is one word of
// letters, digits, '-', '_' and '.'.
bool valid_cache_name(const char *name) {
  size_t len = strlen(name);
  if (len == 0 || len >= sizeof(kmem_cache::name)) return false;
  for (const char *c = name; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
          *c == '_' || *c == '.'))
      return false;
  return true;
}

int cmd_cache(int argc, char **argv) {
  u64 size;
  if (argc < 3 || parse_size(argv[2], &size)) {
    printk("cache: usage: cache NAME SIZE [SLAB_HWCACHE_ALIGN|SLAB_RED_ZONE|SLAB_POISON|...]\n");
    return 1;
  }
  if (!valid_cache_name(argv[1])) {
    printk("cache: bad name \"%s\" (1 to %zu of letters, digits, '-', '_', '.')\n", argv[1],
           sizeof(kmem_cache::name) - 1);
    return 1;
  }
  if (!size_in_range("cache", size, KMEM_CACHE_MAX_OBJECT)) return 1;
  slab_flags_t flags = 0;
  for (int i = 3; i < argc; i++) {
    bool known = false;
    for (const auto &f : cache_flag_names)
      if (strcmp(argv[i], f.name) == 0) flags |= f.flag, known = true;
    if (!known) {
      printk("cache: unknown flag \"%s\" (SLAB_HWCACHE_ALIGN, SLAB_RED_ZONE, SLAB_POISON, SLAB_RECLAIM_ACCOUNT, "
             "SLAB_CACHE_DMA, SLAB_CACHE_DMA32)\n", argv[i]);
      return 1;
    }
  }
  if ((flags & SLAB_CACHE_DMA) && (flags & SLAB_CACHE_DMA32)) {
    printk("cache: SLAB_CACHE_DMA and SLAB_CACHE_DMA32 together\n");
    return 1;
  }
  if (!system_slab) {
    printk("cache: the allocators are not set up\n");
    return 1;
  }
  if (cache_name_taken(argv[1])) {
    printk("cache: a cache named %s already exists\n", argv[1]);
    return 1;
  }
  kmem_cache **slot = nullptr;
  for (kmem_cache *&c : caches)
    if (!c && !slot) slot = &c;
  if (!slot) {
    printk("cache: the playground has %u caches already; `cache_destroy` one\n", PLAYGROUND_CACHES);
    return 1;
  }
  kmem_cache *c = kmem_cache_create(*system_slab, argv[1], unsigned(size), 0, flags, nullptr);
  if (!c) {
    printk("cache: kmem_cache_create failed (no memory for it)\n");
    return 1;
  }
  *slot = c;
  printk("cache %s: object %u bytes, stride %u, %u objects per slab of order %u\n", c->name, c->object_size,
         c->size, c->objects, c->order);
  return 0;
}

int cmd_cache_alloc(int argc, char **argv) {
  if (argc < 2) {
    printk("cache_alloc: usage: cache_alloc NAME [GFP...]\n");
    return 1;
  }
  kmem_cache **c = find_playground_cache(argv[1]);
  if (!c) {
    printk("cache_alloc: no playground cache named %s (make one with `cache NAME SIZE`)\n", argv[1]);
    return 1;
  }
  handle h{};
  h.k = kind::cache;
  h.cache = *c;
  h.size = (*c)->object_size;
  if (!parse_gfp_args("cache_alloc", argc, argv, 2, &h.gfp)) return 1;
  return commit("cache_alloc", h);
}

unsigned objects_under_handles(const kmem_cache *c) {
  unsigned n = 0;
  for (const handle &h : handles) n += h.k == kind::cache && h.cache == c;
  return n;
}

int cmd_cache_destroy(int argc, char **argv) {
  if (argc != 2) {
    printk("cache_destroy: usage: cache_destroy NAME\n");
    return 1;
  }
  kmem_cache **c = find_playground_cache(argv[1]);
  if (!c) {
    printk("cache_destroy: no playground cache named %s\n", argv[1]);
    return 1;
  }
  // Linux's kmem_cache_destroy warns and keeps a cache with live objects;
  // here the handles say so before anything is tried.
  if (unsigned n = objects_under_handles(*c)) {
    printk("cache_destroy: %s still has %u objects under handles; free them first\n", argv[1], n);
    return 1;
  }
  if (kmem_cache_destroy(*c)) return 1;  // it said why
  *c = nullptr;
  printk("cache_destroy: %s destroyed\n", argv[1]);
  return 0;
}

// ---- free, handles, reset ------------------------------------------------------------------

int cmd_free(int argc, char **argv) {
  u64 id;
  if (argc != 2 || parse_u64(argv[1], &id)) {
    printk("free: usage: free HANDLE\n");
    return 1;
  }
  for (handle &h : handles)
    if (h.k != kind::none && h.id == id) {
      unsigned long before = nr_free_pages(*system_mem);
      const char *what = kind_names[int(h.k)];
      release(h);
      printk("free: handle %llu (%s) freed; free pages %lu -> %lu\n", (unsigned long long)id, what, before,
             nr_free_pages(*system_mem));
      return 0;
    }
  if (id != 0 && id < next_id) printk("free: handle %llu is already freed\n", (unsigned long long)id);
  else printk("free: no handle %llu\n", (unsigned long long)id);
  return 1;
}

int cmd_handles(int, char **) {
  printk("handle  kind     order/size  virt\n");
  for (const handle &h : handles) {
    if (h.k == kind::none) continue;
    const void *virt = h.k == kind::pages ? page_address(*system_mem, h.pg) : h.addr;
    printk("%6lu  %-7s  %10lu  %p\n", h.id, kind_names[int(h.k)], h.k == kind::pages ? h.order : h.size, virt);
  }
  printk("%u live of %u\n", nr_live(), PLAYGROUND_HANDLES);
  return 0;
}

// Gives the empty slabs every cache keeps (min_partial per node, the
// CPUs' own) back to the page allocator, as writing to each of Linux's
// /sys/kernel/slab/*/shrink does; kmalloc's and vmalloc's vmap_area cache
// would otherwise keep the churn's footprint. Returns the pages freed.
unsigned long shrink_all_caches() {
  unsigned long pages = 0;
  spin_lock(&system_slab->slab_mutex);
  list_for_each(e, &system_slab->caches) pages += kmem_cache_shrink(list_entry(e, kmem_cache, list));
  spin_unlock(&system_slab->slab_mutex);
  return pages;
}

int cmd_reset(int, char **) {
  if (!system_mem || !system_slab || !system_vmalloc) {
    printk("reset: the allocators are not set up\n");
    return 1;
  }
  unsigned long before = nr_free_pages(*system_mem);
  unsigned n = 0, destroyed = 0;
  for (handle &h : handles)
    if (h.k != kind::none) release(h), n++;
  for (kmem_cache *&c : caches)
    if (c && kmem_cache_destroy(c) == 0) c = nullptr, destroyed++;
  // Ranges vfree left for the lazy purge hold vmap_area structs: purge them
  // first so that their slabs can go too.
  vm_unmap_aliases(*system_vmalloc);
  unsigned long shrunk = shrink_all_caches();
  printk("reset: %u handles freed, %u caches destroyed, %lu pages of empty slabs; free pages %lu -> %lu\n", n,
         destroyed, shrunk, before, nr_free_pages(*system_mem));
  return 0;
}

// xorshift64: the same seed gives the same workload on every boot.
u64 churn_next(u64 &s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

constexpr gfp_t churn_gfps[] = {GFP_KERNEL, GFP_KERNEL | __GFP_MOVABLE, GFP_KERNEL | __GFP_RECLAIMABLE, GFP_ATOMIC,
                                GFP_KERNEL | __GFP_DMA32, GFP_KERNEL | __GFP_ZERO};
constexpr u64 CHURN_MAX_OPS = 100000000;

// One CPU's share of a churn: its own random stream over its own slice of
// the handle table, so the CPUs never touch one handle and the workload of
// each is the same on every run with the same seed and CPU count.
struct churn_cpu {
  work_struct work;  // first: the work item is the whole struct
  slots mine;
  u64 steps, state;
  unsigned long done;  // steps taken, read by the monitor for progress
  unsigned long allocs, frees, failed;
};
churn_cpu churn_cpus[NR_CPUS];

// One random step: free one of the slice's live handles, or take a new one
// of a random kind, size, order and gfp.
void churn_step(churn_cpu &c) {
  unsigned live = nr_live(c.mine);
  u64 r = churn_next(c.state);
  if (live && (live == c.mine.hi - c.mine.lo || r % 5 < 2)) {
    unsigned k = unsigned((r >> 8) % live);
    for (unsigned i = c.mine.lo; i < c.mine.hi; i++)
      if (handles[i].k != kind::none && k-- == 0) {
        release(handles[i]);
        break;
      }
    c.frees++;
    return;
  }
  unsigned nr_caches = 0;
  kmem_cache *own[PLAYGROUND_CACHES];
  for (kmem_cache *k : caches)
    if (k) own[nr_caches++] = k;
  handle h{};
  u64 pick = (r >> 8) % 10;
  h.gfp = churn_gfps[(r >> 16) % ARRAY_SIZE(churn_gfps)] | __GFP_NOWARN;
  if (pick < 4) {
    h.k = kind::pages;
    h.order = unsigned((r >> 24) % 4 == 0 ? (r >> 32) % (MAX_PAGE_ORDER + 1) : (r >> 32) % 4);
  } else if (pick < 7 || (pick == 7 && !nr_caches)) {
    h.k = kind::kmalloc;
    h.size = 1 + (r >> 24) % ((r >> 40) % 8 == 0 ? 65536 : 2048);
    h.gfp &= ~__GFP_MOVABLE;  // slab memory is never movable: the slab would warn (and ignore it)
  } else if (pick == 7) {
    h.k = kind::cache;
    h.cache = own[(r >> 24) % nr_caches];
    h.size = h.cache->object_size;
    h.gfp &= ~GFP_ZONEMASK;  // a cache's zone is its own (SLAB_CACHE_DMA32)
  } else {
    h.k = kind::vmalloc;
    h.size = 1 + (r >> 24) % (256 << 10);
    h.gfp = GFP_KERNEL | ((r >> 48) & 1 ? __GFP_MOVABLE : 0);
  }
  handle *slot = free_slot(c.mine);
  *slot = h;
  if (take(*slot)) c.allocs++;
  else c.failed++;
}

void churn_run(churn_cpu &c) {
  for (u64 i = 0; i < c.steps; i++) {
    churn_step(c);
    __atomic_store_n(&c.done, i + 1, __ATOMIC_RELAXED);
  }
}

void churn_work(work_struct *w) { churn_run(*reinterpret_cast<churn_cpu *>(w)); }

unsigned long churn_done() {
  unsigned long done = 0;
  for_each_cpu(cpu, cpu_online_mask) done += __atomic_load_n(&churn_cpus[cpu].done, __ATOMIC_RELAXED);
  return done;
}

int cmd_churn(int argc, char **argv) {
  u64 n, seed = 1;
  if (argc < 2 || argc > 3 || parse_u64(argv[1], &n) || (argc == 3 && parse_u64(argv[2], &seed))) {
    printk("churn: usage: churn N [seed]\n");
    return 1;
  }
  if (n == 0 || n > CHURN_MAX_OPS) {
    printk("churn: N %llu out of range (1 to %llu)\n", (unsigned long long)n, (unsigned long long)CHURN_MAX_OPS);
    return 1;
  }
  if (!ready_slot("churn")) return 1;
  // Every online CPU takes an equal slice of the steps and of the table and
  // its own stream (seeded from seed and its rank); the monitor's CPU runs its
  // share here, the others in their idle loops.
  const unsigned me = smp_processor_id(), ncpus = num_online_cpus();
  unsigned rank = 0;
  u64 mixed = seed ? seed : 1;  // xorshift's one stuck state
  for_each_cpu(cpu, cpu_online_mask) {
    churn_cpu &c = churn_cpus[cpu];
    c = churn_cpu{};
    c.work = {nullptr, churn_work, WORK_IDLE};
    c.mine = {rank * PLAYGROUND_HANDLES / ncpus, (rank + 1) * PLAYGROUND_HANDLES / ncpus};
    c.steps = n / ncpus + (rank < n % ncpus);
    c.state = mixed ^ (0x9e3779b97f4a7c15ull * (rank + 1));
    if (!c.state) c.state = 1;
    rank++;
  }
  unsigned long before = nr_free_pages(*system_mem);
  for_each_cpu(cpu, cpu_online_mask)
    if (cpu != me) queue_work_on(cpu, &churn_cpus[cpu].work);
  u64 step = n >= 20000 ? n / 10 : 0, next_report = step;
  churn_cpu &mine = churn_cpus[me];
  for (u64 i = 0; i < mine.steps; i++) {
    churn_step(mine);
    __atomic_store_n(&mine.done, i + 1, __ATOMIC_RELAXED);
    if (step && churn_done() >= next_report && next_report < n) {
      printk("churn: %lu/%llu\n", churn_done(), (unsigned long long)n);
      next_report += step;
    }
  }
  unsigned long allocs = 0, frees = 0, failed = 0;
  for_each_cpu(cpu, cpu_online_mask) {
    if (cpu != me) flush_work(&churn_cpus[cpu].work);
    allocs += churn_cpus[cpu].allocs;
    frees += churn_cpus[cpu].frees;
    failed += churn_cpus[cpu].failed;
  }
  printk("churn: %llu steps (seed %llu) on %u CPUs: %lu allocations, %lu frees, %lu failed; %u handles live; "
         "free pages %lu -> %lu\n",
         (unsigned long long)n, (unsigned long long)seed, ncpus, allocs, frees, failed, nr_live(), before,
         nr_free_pages(*system_mem));
  return 0;
}

}  // namespace

MONITOR_COMMAND(alloc_cmd, "alloc", "ORDER [GFP...]", "take 2^ORDER pages (alloc_pages) under a new handle",
                cmd_alloc);
MONITOR_COMMAND(kmalloc_cmd, "kmalloc", "SIZE [GFP...]", "take SIZE bytes from kmalloc under a new handle",
                cmd_kmalloc);
MONITOR_COMMAND(vmalloc_cmd, "vmalloc", "SIZE [movable]", "take SIZE bytes from vmalloc under a new handle",
                cmd_vmalloc);
MONITOR_COMMAND(free_cmd, "free", "HANDLE", "give a handle's memory back (__free_pages, kfree or vfree)", cmd_free);
MONITOR_COMMAND(handles_cmd, "handles", "", "the playground's live handles", cmd_handles);
MONITOR_COMMAND(churn_cmd, "churn", "N [seed]",
                "N random allocations and frees of every kind on every CPU, reproducible by seed", cmd_churn);
MONITOR_COMMAND(cache_cmd, "cache", "NAME SIZE [SLAB_...]", "make a slab cache of SIZE-byte objects (kmem_cache_create)",
                cmd_cache);
MONITOR_COMMAND(cache_alloc_cmd, "cache_alloc", "NAME [GFP...]",
                "take an object of a `cache` cache under a new handle (kmem_cache_alloc)", cmd_cache_alloc);
MONITOR_COMMAND(cache_destroy_cmd, "cache_destroy", "NAME", "destroy a `cache` cache with no objects under handles",
                cmd_cache_destroy);
MONITOR_COMMAND(reset_cmd, "reset", "", "free every playground handle and cache, purge vmalloc's lazy ranges and shrink every slab cache", cmd_reset);
